//! The server's side of persistence: the background save's state, when
//! saves run (save points, BGSAVE SCHEDULE, retries), the foreground save,
//! MISCONF, and the snapshot lines of INFO persistence. The formats and the
//! fork child live in `persist`, which sees only the keyspace.

use super::state::{ServerState, ShutdownMode};
use crate::persist::{fork, load, save};
use std::time::Instant;

/// Seconds before a failed background save is retried by the save points
/// (Redis's CONFIG_BGSAVE_RETRY_DELAY).
const BGSAVE_RETRY_DELAY: i64 = 5;

/// Persistence state of the server.
pub struct Persistence {
    /// The running background save, if any.
    pub child: Option<fork::Child>,
    /// Status of the last background save.
    pub last_bgsave_ok: bool,
    /// Duration of the last background save in seconds (-1 = none yet).
    pub last_bgsave_time_sec: i64,
    /// Successful saves since start (`rdb_saves`).
    pub saves: u64,
    /// Copy-on-write bytes of the last background save.
    pub last_cow_size: u64,
    /// Duration of the last fork() in microseconds.
    pub latest_fork_usec: u64,
    /// Forks since start.
    pub total_forks: u64,
    /// BGSAVE SCHEDULE is waiting for the running save to end.
    pub scheduled: bool,
    /// Unix seconds of the last background save attempt.
    pub last_try_unix: i64,
    /// Keys loaded and skipped as expired by the startup load.
    pub last_load: load::LoadStats,
    /// Test hook (DEBUG FORK-FAIL): make the next fork fail.
    pub fail_next_fork: bool,
    /// Progress of the snapshot load under way (INFO `loading_*`).
    pub loading: LoadProgress,
}

/// How far the startup load is (INFO persistence shows it while
/// `loading:1`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadProgress {
    /// Unix seconds the load started.
    pub start_unix: i64,
    /// Size of the file.
    pub total_bytes: u64,
    /// Bytes of it loaded so far.
    pub loaded_bytes: u64,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            child: None,
            last_bgsave_ok: true,
            last_bgsave_time_sec: -1,
            saves: 0,
            last_cow_size: 0,
            latest_fork_usec: 0,
            total_forks: 0,
            scheduled: false,
            last_try_unix: 0,
            last_load: load::LoadStats::default(),
            fail_next_fork: false,
            loading: LoadProgress::default(),
        }
    }
}

fn now_unix() -> i64 {
    crate::db::now_ms() / 1000
}

fn set_resize_allowed(st: &mut ServerState, allowed: bool) {
    st.ks.set_child_active(!allowed);
}

/// Starts a background save. Errors are Redis-style reply texts.
pub fn bgsave(st: &mut ServerState) -> Result<(), String> {
    if st.persist.child.is_some() {
        return Err("ERR Background save already in progress".into());
    }
    let target = st.config.snapshot_path();
    let mut fds = st.listeners.fds();
    fds.extend(st.links.values().map(|l| l.fd));
    st.persist.last_try_unix = now_unix();
    let result = if std::mem::take(&mut st.persist.fail_next_fork) {
        Err("fork: Cannot allocate memory (simulated by DEBUG FORK-FAIL)".to_string())
    } else {
        fork::spawn(&st.ks, &target, &fds, st.ks.stats.dirty)
    };
    match result {
        Ok((child, took)) => {
            st.persist.latest_fork_usec = took.as_micros() as u64;
            st.persist.total_forks += 1;
            st.latency_sample("fork", st.persist.latest_fork_usec / 1000);
            tracing::info!(
                "Background saving started by pid {} (fork took {} us, {} keys)",
                child.pid,
                st.persist.latest_fork_usec,
                child.keys_total
            );
            st.persist.child = Some(child);
            set_resize_allowed(st, false);
            Ok(())
        }
        Err(e) => {
            st.persist.last_bgsave_ok = false;
            tracing::warn!("Can't save in background: {e}");
            Err(format!("ERR Background save failed: {e}"))
        }
    }
}

/// Saves in the foreground (SAVE, SHUTDOWN, FLUSHALL). Blocks the server.
pub fn save_now(st: &mut ServerState) -> Result<save::SaveStats, String> {
    let target = st.config.snapshot_path();
    let started = Instant::now();
    let result = save::save(&st.ks, &target, crate::db::now_ms(), &mut |_| {});
    match result {
        Ok(s) => {
            st.ks.stats.dirty = 0;
            st.lastsave = now_unix();
            st.persist.last_bgsave_ok = true;
            st.persist.saves += 1;
            tracing::info!(
                "DB saved on disk: {} keys, {} bytes, {:.3} seconds",
                s.keys,
                s.bytes,
                started.elapsed().as_secs_f64()
            );
            Ok(s)
        }
        Err(e) => {
            tracing::warn!("Failed saving the DB: {e}");
            Err(format!("ERR {e}"))
        }
    }
}

/// BGSAVE CANCEL: kills the running child (its temp file is removed when
/// it is reaped) and drops a scheduled save.
pub fn cancel(st: &mut ServerState) -> bool {
    let scheduled = std::mem::take(&mut st.persist.scheduled);
    match &mut st.persist.child {
        Some(c) => {
            c.cancelled = true;
            c.kill();
            tracing::info!("Background saving cancelled (pid {})", c.pid);
            true
        }
        None => scheduled,
    }
}

/// Stops a running child at shutdown, waiting for it to exit.
pub fn kill_child(st: &mut ServerState) {
    if let Some(mut c) = st.persist.child.take() {
        c.kill_and_wait();
        set_resize_allowed(st, true);
    }
}

/// The cron tick's part: reap the child, then start saves that are due.
pub fn cron(st: &mut ServerState) {
    if let Some(child) = &mut st.persist.child
        && let Some(outcome) = child.poll()
    {
        let child = st.persist.child.take().expect("child present");
        finished(st, child, outcome);
    }
    if st.persist.child.is_some() || st.loading {
        return;
    }
    if st.persist.scheduled {
        st.persist.scheduled = false;
        let _ = bgsave(st);
        return;
    }
    let now = now_unix();
    let retry_ok = st.persist.last_bgsave_ok || now - st.persist.last_try_unix > BGSAVE_RETRY_DELAY;
    let due =
        st.config.save.iter().find(|&&(secs, changes)| {
            st.ks.stats.dirty >= changes && now - st.lastsave > secs as i64
        });
    if let (Some(&(secs, changes)), true) = (due, retry_ok) {
        tracing::info!("{changes} changes in {secs} seconds. Saving...");
        let _ = bgsave(st);
    }
}

fn finished(st: &mut ServerState, child: fork::Child, outcome: fork::Outcome) {
    set_resize_allowed(st, true);
    let secs = child.started.elapsed().as_secs_f64();
    match outcome {
        fork::Outcome::Ok { keys, bytes, cow } => {
            st.ks.stats.dirty = st.ks.stats.dirty.saturating_sub(child.dirty_at_fork);
            st.lastsave = now_unix();
            st.persist.last_bgsave_ok = true;
            st.persist.saves += 1;
            st.persist.last_cow_size = cow;
            st.persist.last_bgsave_time_sec = secs.round() as i64;
            tracing::info!(
                "Background saving terminated with success: {keys} keys, {bytes} bytes, {secs:.3} seconds, {} MB of memory used by copy-on-write",
                cow / (1024 * 1024)
            );
        }
        fork::Outcome::Failed(why) => {
            let _ = std::fs::remove_file(&child.temp_path);
            st.persist.last_bgsave_time_sec = secs.round() as i64;
            if child.cancelled {
                tracing::info!("Background saving cancelled; previous snapshot kept");
            } else {
                st.persist.last_bgsave_ok = false;
                tracing::warn!("Background saving error: {why}; previous snapshot kept");
            }
        }
    }
}

/// True when writes must be refused with MISCONF (Redis's
/// `stop-writes-on-bgsave-error` with save points configured).
pub fn writes_refused(st: &ServerState) -> bool {
    st.config.stop_writes_on_bgsave_error
        && !st.config.save.is_empty()
        && !st.persist.last_bgsave_ok
}

/// Redis's MISCONF error text.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Lines of INFO persistence that belong to snapshots.
pub fn info_persistence(st: &ServerState, out: &mut Vec<(&'static str, String)>) {
    let p = &st.persist;
    let child = p.child.as_ref();
    out.push(("rdb_changes_since_last_save", st.ks.stats.dirty.to_string()));
    out.push((
        "rdb_bgsave_in_progress",
        (child.is_some() as u8).to_string(),
    ));
    out.push(("rdb_last_save_time", st.lastsave.to_string()));
    out.push((
        "rdb_last_bgsave_status",
        if p.last_bgsave_ok { "ok" } else { "err" }.to_string(),
    ));
    out.push((
        "rdb_last_bgsave_time_sec",
        p.last_bgsave_time_sec.to_string(),
    ));
    out.push((
        "rdb_current_bgsave_time_sec",
        child
            .map_or(-1, |c| c.started.elapsed().as_secs() as i64)
            .to_string(),
    ));
    out.push(("rdb_saves", p.saves.to_string()));
    out.push(("rdb_last_cow_size", p.last_cow_size.to_string()));
    out.push((
        "rdb_last_load_keys_expired",
        p.last_load.expired.to_string(),
    ));
    out.push(("rdb_last_load_keys_loaded", p.last_load.loaded.to_string()));
    out.push(("current_cow_size", child.map_or(0, |c| c.cow).to_string()));
    out.push((
        "current_save_keys_processed",
        child.map_or(0, |c| c.keys_done).to_string(),
    ));
    out.push((
        "current_save_keys_total",
        child.map_or(0, |c| c.keys_total).to_string(),
    ));
}

/// The `loading_*` lines INFO persistence adds while a snapshot loads, as
/// Redis computes them (`loading_rdb_used_mem` is for replicas: 0).
pub fn info_loading(st: &ServerState, out: &mut Vec<(&'static str, String)>) {
    if !st.loading {
        return;
    }
    let p = st.persist.loading;
    let (perc, remaining) = if p.total_bytes > 0 {
        (
            p.loaded_bytes as f64 / p.total_bytes as f64 * 100.0,
            p.total_bytes.saturating_sub(p.loaded_bytes),
        )
    } else {
        (0.0, 1)
    };
    let elapsed = (now_unix() - p.start_unix).max(0) as u64;
    // Redis shows a made-up 1 second until a second has passed.
    let eta = if elapsed == 0 {
        1
    } else {
        elapsed.saturating_mul(remaining) / (p.loaded_bytes + 1)
    };
    out.push(("loading_start_time", p.start_unix.to_string()));
    out.push(("loading_total_bytes", p.total_bytes.to_string()));
    out.push(("loading_rdb_used_mem", "0".to_string()));
    out.push(("loading_loaded_bytes", p.loaded_bytes.to_string()));
    out.push(("loading_loaded_perc", format!("{perc:.2}")));
    out.push(("loading_eta_seconds", eta.to_string()));
}

/// Before exiting: stop a background save and, unless NOSAVE, save in the
/// foreground when asked to (SAVE) or when save points are configured.
/// While the snapshot is still loading nothing is saved, whatever the
/// mode, as in Redis: the half-loaded dataset would replace the file.
pub fn shutdown_save(srv: &mut ServerState, mode: ShutdownMode) -> Result<(), String> {
    kill_child(srv);
    let mode = if srv.loading {
        ShutdownMode::NoSave
    } else {
        mode
    };
    let save = match mode {
        ShutdownMode::NoSave => false,
        ShutdownMode::Save => true,
        ShutdownMode::Default => !srv.config.save.is_empty(),
    };
    if save {
        tracing::info!("Saving the final snapshot before exiting.");
        save_now(srv).map_err(|e| {
            tracing::warn!("Error trying to save the DB, can't exit: {e}");
            e
        })?;
    }
    Ok(())
}
