//! The server: listening sockets, one task per connection, the periodic
//! cron tick and shutdown, all on one thread (a tokio current-thread
//! runtime with a `LocalSet`). Shared state lives in [`state::ServerState`]
//! behind one `RefCell`; a command borrows it, runs to completion, and
//! releases it before the task awaits again.

pub mod blocking;
pub mod client;
mod conn;
pub mod effects;
pub mod eviction;
pub mod latency;
pub mod listen;
pub mod monitor;
pub mod multi;
pub mod pause;
pub mod persistence;
pub mod pubsub;
pub mod signals;
pub mod slowlog;
pub mod state;
pub mod tracking;
pub mod watch;

use crate::config::Config;
use crate::persist;
use state::ServerState;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

/// What every task of the server shares.
pub struct Shared {
    /// The state commands operate on.
    pub state: RefCell<ServerState>,
    /// Woken when SHUTDOWN or a signal asks the server to stop.
    pub shutdown: Notify,
}

/// Applies configuration values that need more than being read on use.
pub fn apply_config(srv: &mut ServerState) {
    crate::log::set_level(srv.config.loglevel);
    srv.ks.limits = srv.config.encoding_limits();
    eviction::apply(&mut srv.ks, &srv.config);
    srv.sync_keyspace_logging();
}

/// File descriptors kept for things other than clients (listeners, logs,
/// snapshot files), as Redis's CONFIG_MIN_RESERVED_FDS.
const RESERVED_FDS: u64 = 32;

/// Raises RLIMIT_NOFILE so `maxclients` connections fit, as Redis does.
/// On failure returns how many clients the limit allows.
pub fn raise_fd_limit(maxclients: u32) -> Result<(), u64> {
    let want = maxclients as u64 + RESERVED_FDS;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur >= want {
        return Ok(());
    }
    // Ask for the full amount first, then for the hard limit.
    for target in [want, lim.rlim_max.min(want)] {
        let new = libc::rlimit {
            rlim_cur: target,
            rlim_max: target.max(lim.rlim_max),
        };
        // SAFETY: as above.
        if target > lim.rlim_cur && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            tracing::info!(
                "Increased maximum number of open files to {target} (it was originally set to {}).",
                lim.rlim_cur
            );
            if target >= want {
                return Ok(());
            }
            return Err(target.saturating_sub(RESERVED_FDS).max(1));
        }
    }
    Err(lim.rlim_cur.saturating_sub(RESERVED_FDS).max(1))
}

/// At startup: lowers maxclients when the limit cannot be raised enough.
fn adjust_open_files(config: &mut Config) {
    if let Err(clients) = raise_fd_limit(config.maxclients) {
        let want = config.maxclients as u64 + RESERVED_FDS;
        tracing::warn!(
            "You requested maxclients of {} requiring at least {want} max file descriptors. Server can't set maximum open files to {want}; maxclients has been reduced to {clients} to compensate for the low ulimit.",
            config.maxclients
        );
        config.maxclients = clients as u32;
    }
}

/// Runs the server until SHUTDOWN or SIGTERM/SIGINT. Returns the process
/// exit code.
pub fn run(mut config: Config, config_file: Option<String>) -> i32 {
    adjust_open_files(&mut config);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the event loop: {e}");
            return 1;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move { serve(config, config_file).await })
}

/// Process-level setup at start: which memory may use transparent huge
/// pages (see [`crate::alloc::setup_huge_pages`]), and a warning when
/// overcommit may make fork() fail, as Redis does.
fn prepare_process(config: &Config) {
    crate::alloc::setup_huge_pages(config.disable_thp);
    let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap_or_default();
    if overcommit.trim() != "1" && !overcommit.is_empty() {
        tracing::warn!(
            "WARNING Memory overcommit must be enabled! Without it, a background save may fail under low memory condition. To fix this issue add 'vm.overcommit_memory = 1' to /etc/sysctl.conf and then reboot or run the command 'sysctl vm.overcommit_memory=1' for this to take effect."
        );
    }
}

/// Removes stale temp files and loads the snapshot, before any client is
/// accepted (clients get "connection refused" while loading).
fn load_snapshot(st: &mut ServerState) -> Result<(), String> {
    persist::save::remove_stale_temp_files(&st.config.dir);
    let path = st.config.snapshot_path();
    st.loading = true;
    let result = persist::load::load(&path, &mut st.ks, crate::db::now_ms());
    st.loading = false;
    if let Some(stats) = result? {
        st.persist.last_load = stats;
        st.lastsave = stats.created_ms / 1000;
    }
    Ok(())
}

async fn serve(config: Config, config_file: Option<String>) -> i32 {
    tracing::info!(
        "forkv {} starting, pid={}, Redis {} compatible",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        crate::REDIS_COMPAT_VERSION
    );
    prepare_process(&config);
    eviction::check_at_startup(&config);
    crate::util::clock::calibrate();
    let n = crate::cmd::table().cmds.len();
    let mut st = ServerState::new(config, n);
    st.config_file = config_file;
    if let Err(e) = load_snapshot(&mut st) {
        tracing::error!("{e}");
        return 1;
    }
    let (bind, port, backlog) = (
        st.config.bind.clone(),
        st.config.port,
        st.config.tcp_backlog,
    );
    if let Err(e) = st.listeners.rebind(&bind, port, backlog) {
        tracing::error!("{e}");
        return 1;
    }
    let Some(port) = st.listeners.first_port() else {
        tracing::error!("Failed listening on port {port} (tcp), aborting.");
        return 1;
    };
    st.port = port;
    let shared = Rc::new(Shared {
        state: RefCell::new(st),
        shutdown: Notify::new(),
    });
    tracing::info!(
        "forkv {} ready to accept connections, pid={}, port={}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        port
    );
    tokio::task::spawn_local(listen::supervise(shared.clone()));
    tokio::task::spawn_local(cron(shared.clone()));
    tokio::task::spawn_local(eviction::background(shared.clone()));
    let code = wait_for_shutdown(&shared).await;
    // The process ends next: freeing millions of entries one by one would
    // only delay the exit (seconds for a large keyspace), so the data is
    // left to the OS, as Redis does.
    let ks = std::mem::replace(
        &mut shared.state.borrow_mut().ks,
        crate::db::Keyspace::new(0),
    );
    std::mem::forget(ks);
    code
}

/// Runs until SHUTDOWN or a signal ends the server. On SIGTERM/SIGINT the
/// final save runs (when save points are set); if it fails the server keeps
/// running, as Redis does.
async fn wait_for_shutdown(shared: &Rc<Shared>) -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            tracing::warn!("cannot install signal handlers; only SHUTDOWN stops the server");
            shared.shutdown.notified().await;
            return 0;
        }
    };
    loop {
        let sig = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = shared.shutdown.notified() => {
                tracing::info!("User requested shutdown...");
                break;
            }
        };
        tracing::info!("Received {sig} scheduling shutdown...");
        let mut st = shared.state.borrow_mut();
        if persistence::shutdown_save(&mut st, state::ShutdownMode::Default).is_ok() {
            break;
        }
        tracing::warn!(
            "{sig} received but errors trying to shut down the server, check the logs for more information"
        );
    }
    tracing::info!("forkv is now ready to exit, bye bye...");
    0
}

/// The periodic tick: expiry, incremental rehashing, statistics.
async fn cron(shared: Rc<Shared>) {
    let mut hz = shared.state.borrow().config.hz.max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / hz as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut st = shared.state.borrow_mut();
        let st = &mut *st;
        if st.shutdown.is_some() {
            shared.shutdown.notify_one();
            return;
        }
        let period_us = 1_000_000 / hz as u64;
        let now = crate::db::now_ms();
        // While clients are paused the dataset stays still, expiry included.
        if st.active_expire_enabled && st.pause.mode(now).is_none() {
            // Redis's slow cycle: at most 25% of the tick period.
            let budget = Duration::from_micros(period_us / 4);
            let started = std::time::Instant::now();
            st.ks.active_expire_cycle(now, budget);
            st.latency_sample("expire-cycle", started.elapsed().as_millis() as u64);
        }
        st.perform_evictions();
        st.drain_keyspace_events(None);
        st.tracking_limit_keys(None);
        st.tracking_end_of_turn(None);
        persistence::cron(st);
        let no_child = st.persist.child.is_none();
        st.ks.cron(Duration::from_millis(1), no_child);
        sample_ops(st);
        let used = crate::alloc::used_memory();
        st.peak_memory = st.peak_memory.max(used);
        let new_hz = st.config.hz.max(1);
        if new_hz != hz {
            hz = new_hz;
            tick = tokio::time::interval(Duration::from_millis(1000 / hz as u64));
        }
    }
}

fn sample_ops(st: &mut ServerState) {
    let now = std::time::Instant::now();
    let s = &mut st.stats;
    if let Some(last) = s.ops_last_time {
        let dt = now.duration_since(last).as_millis() as u64;
        if dt < 100 {
            return;
        }
        let ops = s.total_commands_processed - s.ops_last_count;
        let idx = s.ops_sample_idx % s.ops_samples.len();
        s.ops_samples[idx] = ops * 1000 / dt.max(1);
        s.ops_sample_idx += 1;
    }
    s.ops_last_time = Some(now);
    s.ops_last_count = s.total_commands_processed;
}
