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
mod stream;
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

/// Opens the listening sockets, as Redis's `initServer`: TCP on `port`
/// (none for port 0), then the Unix socket; fails when one cannot be
/// opened or when there is none at all. Logs why.
fn open_listeners(st: &mut ServerState) -> Result<(), ()> {
    let c = &st.config;
    let (port, backlog) = (c.port, c.tcp_backlog);
    if port != 0 {
        let bind = c.bind.clone();
        if let Err(e) = st.listeners.rebind(&bind, port, backlog) {
            tracing::warn!("{e}");
            tracing::error!("Failed listening on port {port} (TCP), aborting.");
            return Err(());
        }
    }
    if !st.config.unixsocket.is_empty() {
        let name = st.config.unixsocket.clone();
        let path = st.config.dir.join(&name);
        let perm = st.config.unixsocketperm;
        if let Err(e) = st.listeners.open_unix(&path, &name, perm, backlog) {
            tracing::error!("Failed opening Unix socket: {e}");
            return Err(());
        }
    }
    if st.listeners.is_empty() {
        tracing::error!("Configured to not listen anywhere, exiting.");
        return Err(());
    }
    st.port = st.listeners.first_port().unwrap_or(0);
    Ok(())
}

/// Writes the process id to `pidfile` (relative to `dir`), best effort as
/// Redis does; returns the path to remove at shutdown.
fn create_pid_file(config: &Config) -> Option<std::path::PathBuf> {
    if config.pidfile.is_empty() {
        return None;
    }
    let path = config.dir.join(&config.pidfile);
    if let Err(e) = std::fs::write(&path, format!("{}\n", std::process::id())) {
        tracing::warn!("Failed to write the pid file {}: {e}", path.display());
        return None;
    }
    Some(path)
}

/// What the process leaves on disk while it runs: the pid file and the
/// Unix socket file. Removed when the server exits after having started.
fn remove_process_files(shared: &Shared, pid_file: Option<&std::path::Path>) {
    if let Some(p) = pid_file {
        tracing::info!("Removing the pid file.");
        let _ = std::fs::remove_file(p);
    }
    shared.state.borrow_mut().listeners.remove_unix_socket();
}

/// Loads the snapshot, if there is one, a step of
/// `loading-process-events-interval-bytes` at a time, letting the event
/// loop run between steps: clients already connect and get `-LOADING` for
/// commands not flagged loading-ok, INFO shows the progress, and SHUTDOWN
/// or a signal stops the server (without saving). Stale temp files of an
/// interrupted save are removed first.
async fn load_snapshot(shared: &Rc<Shared>) -> Result<(), String> {
    let (path, dir) = {
        let st = shared.state.borrow();
        (st.config.snapshot_path(), st.config.dir.clone())
    };
    persist::save::remove_stale_temp_files(&dir);
    let Some(map) = persist::load::open(&path)? else {
        return Ok(());
    };
    let now = crate::db::now_ms();
    let mut loading =
        persist::load::Loading::new(&map, now).map_err(|e| persist::load::damaged(&path, e))?;
    {
        let mut st = shared.state.borrow_mut();
        st.loading = true;
        st.persist.loading = persistence::LoadProgress {
            start_unix: now / 1000,
            total_bytes: map.len() as u64,
            loaded_bytes: 0,
        };
    }
    loop {
        let result = {
            let mut st = shared.state.borrow_mut();
            let st = &mut *st;
            let step = st.config.loading_process_events_interval_bytes.max(1) as usize;
            let delay = st.config.key_load_delay;
            // Loaded keys are not new keys (no `n` notifications).
            st.ks.log_new = false;
            let r = loading.step(&mut st.ks, step, delay);
            st.sync_keyspace_logging();
            st.persist.loading.loaded_bytes = loading.loaded_bytes();
            if !matches!(r, Ok(None)) {
                st.loading = false;
            }
            if let Ok(Some(stats)) = r {
                st.persist.last_load = stats;
                st.lastsave = stats.created_ms / 1000;
            }
            r
        };
        match result {
            Ok(None) => tokio::task::yield_now().await,
            Ok(Some(_)) => return Ok(()),
            Err(e) => return Err(persist::load::damaged(&path, e)),
        }
    }
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
    // Listen before loading, as Redis does: a port in use stops the server
    // at once, not after a long load, and clients connecting meanwhile are
    // told the dataset is loading.
    if open_listeners(&mut st).is_err() {
        return 1;
    }
    let pid_file = create_pid_file(&st.config);
    let shared = Rc::new(Shared {
        state: RefCell::new(st),
        shutdown: Notify::new(),
    });
    tokio::task::spawn_local(listen::supervise(shared.clone()));
    tokio::task::spawn_local(cron(shared.clone()));
    tokio::task::spawn_local(eviction::background(shared.clone()));
    let shutdown = wait_for_shutdown(&shared);
    tokio::pin!(shutdown);
    let code = tokio::select! {
        biased;
        code = &mut shutdown => Some(code),
        loaded = load_snapshot(&shared) => match loaded {
            Ok(()) => None,
            Err(e) => {
                tracing::error!("{e}");
                Some(1)
            }
        },
    };
    let code = match code {
        Some(code) => code,
        None => {
            let (port, unix) = {
                let st = shared.state.borrow();
                (st.port, st.config.unixsocket.clone())
            };
            tracing::info!(
                "forkv {} ready to accept connections, pid={}, port={}",
                env!("CARGO_PKG_VERSION"),
                std::process::id(),
                port
            );
            if !unix.is_empty() {
                tracing::info!("The server is now ready to accept connections at {unix}");
            }
            shutdown.await
        }
    };
    remove_process_files(&shared, pid_file.as_deref());
    if code == 0 {
        tracing::info!("forkv is now ready to exit, bye bye...");
    }
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
/// final save runs (when save points are set, and not while the snapshot
/// is still loading); if it fails the server keeps running, as Redis does.
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
        let mut st = shared.state.borrow_mut();
        if st.loading {
            tracing::info!("Received shutdown signal during loading, scheduling shutdown.");
        } else {
            tracing::info!("Received {sig} scheduling shutdown...");
        }
        if persistence::shutdown_save(&mut st, state::ShutdownMode::Default).is_ok() {
            break;
        }
        tracing::warn!(
            "{sig} received but errors trying to shut down the server, check the logs for more information"
        );
    }
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
        if st.loading {
            // As Redis while it loads: no expiry, rehashing, eviction or
            // saves, only the statistics.
            sample_ops(st);
            st.peak_memory = st.peak_memory.max(crate::alloc::used_memory());
            continue;
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
