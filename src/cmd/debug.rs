//! DEBUG: Redis's subcommands forkv implements (SLEEP, POPULATE, RELOAD,
//! SET-ACTIVE-EXPIRE, HELP) and forkv's own test hooks (EFFECTS,
//! FORK-FAIL, SPAWN-THREAD).
//!
//! Who may run DEBUG at all is decided before the handler, by
//! `enable-debug-command` (see `cmd::prepare`). Whatever the arguments, a
//! subcommand answers an error rather than abort: sizes are checked against
//! `proto-max-bulk-len` and the memory the process can still get, and
//! durations are bounded.

use super::keys::help_reply;
use super::{Ctx, is};
use crate::db::{SmallBytes, Value};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The longest DEBUG SLEEP: Redis sleeps as long as asked; an hour is
/// more than any test needs.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// The longest life of a DEBUG SPAWN-THREAD thread.
const MAX_THREAD_SECS: f64 = 60.0;

/// Bytes a DEBUG POPULATE key costs beyond its key and value bytes (entry,
/// table slot, allocator rounding), generously.
const POPULATE_OVERHEAD: u64 = 64;

/// Redis formats POPULATE's keys into a 128-byte buffer with `snprintf`:
/// longer keys are cut to 127 bytes.
const POPULATE_KEY_MAX: usize = 127;

/// DEBUG <subcommand> [args]
pub fn debug(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let n = args.len();
    if is(sub, "help") && n == 2 {
        Ok(help())
    } else if is(sub, "effects") {
        super::replay::debug_effects(ctx, args)
    } else if is(sub, "sleep") && n == 3 {
        if let Some(d) = sleep_duration(&args[2]) {
            // DEBUG SLEEP blocks the whole server on purpose, as in Redis.
            std::thread::sleep(d);
        }
        Ok(Reply::Ok)
    } else if is(sub, "populate") && (3..=5).contains(&n) {
        populate(ctx, args)
    } else if is(sub, "reload") {
        reload(ctx, &args[2..])
    } else if is(sub, "set-active-expire") && n == 3 {
        ctx.srv.active_expire_enabled = crate::util::num::c_atoi(&args[2]) != 0;
        Ok(Reply::Ok)
    } else if is(sub, "fork-fail") && n == 3 {
        // Test hook: the next background save fails as if fork() had.
        ctx.srv.persist.fail_next_fork = crate::util::num::c_atoi(&args[2]) != 0;
        Ok(Reply::Ok)
    } else if is(sub, "spawn-thread") && n == 3 {
        spawn_thread(&args[2])
    } else {
        Err(CmdError::subcommand_syntax(sub, b"debug"))
    }
}

/// DEBUG HELP: Redis's lines for the subcommands forkv implements, in
/// Redis's order, then forkv's own.
fn help() -> Reply {
    help_reply(
        "DEBUG",
        &[
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. These are not propagated to",
            "    replicas. Cluster slots are not respected so keys not belonging to the",
            "    current node can be created in cluster mode.",
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
            "    * MERGE: conflicting keys will be loaded from RDB.",
            "    * NOFLUSH: the existing database will not be removed before load, but",
            "      conflicting keys will generate an exception and kill the server.",
            "    * NOSAVE: the database will be loaded from an existing RDB file.",
            "    Examples:",
            "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
            "      the database.",
            "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
            "      existing RDB file.",
            "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
            "      file to the database.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "EFFECTS LOG <path>|OFF",
            "    (forkv) Record the write-effect stream to <path> as RESP commands, or stop.",
            "EFFECTS REPLAY <path>",
            "    (forkv) Run the commands of a recorded write-effect stream.",
            "FORK-FAIL <0|1>",
            "    (forkv) Make the next fork for a background save fail.",
            "SPAWN-THREAD <seconds>",
            "    (forkv) Start a thread that sleeps <seconds> (at most 60; one at a time).",
        ],
    )
}

/// How long DEBUG SLEEP `arg` sleeps, computed as Redis does on x86-64:
/// `strtod` of the argument (text that is not a number is 0), times a
/// million, converted to a `long long` of microseconds, where NaN and
/// values out of range become `LLONG_MIN`; a negative time makes
/// `nanosleep` fail, so no sleep. At most [`MAX_SLEEP`].
pub fn sleep_duration(arg: &[u8]) -> Option<Duration> {
    let (secs, _, _) = crate::util::num::strtod(arg);
    let micros = secs * 1_000_000.0;
    // `as` saturates; C's conversion gives LLONG_MIN outside [-2^63, 2^63)
    // and for NaN.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let micros = if (-TWO_63..TWO_63).contains(&micros) {
        micros as i64
    } else {
        i64::MIN
    };
    (micros > 0).then(|| Duration::from_micros(micros as u64).min(MAX_SLEEP))
}

/// A count or size of DEBUG POPULATE (Redis's
/// `getPositiveLongFromObjectOrReply`: 0 allowed).
fn non_negative(arg: &[u8]) -> Result<u64, CmdError> {
    match crate::util::num::parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(CmdError::not_positive()),
    }
}

/// DEBUG POPULATE count [prefix] [size]: string keys `prefix:N` holding
/// `value:N` (padded with zero bytes or cut to `size` when given), skipping
/// keys that exist, as Redis does, including its 127-byte cut of the key.
/// Unlike Redis, a `size` over `proto-max-bulk-len`, or a population that
/// would take more than half the memory the process can still get, is
/// refused before anything is created.
fn populate(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let count = non_negative(&args[2])?;
    let size = match args.get(4) {
        Some(a) => non_negative(a)?,
        None => 0,
    };
    if size > ctx.srv.config.proto_max_bulk_len {
        return Err(CmdError::too_big());
    }
    // `%s` stops at a NUL byte.
    let prefix: &[u8] = match args.get(3) {
        Some(p) => &p[..p.iter().position(|&b| b == 0).unwrap_or(p.len())],
        None => b"key",
    };
    // Keys past the first `distinct` numbers are cut to ones made before:
    // they would only be found existing, so the loop stops there.
    let digits = POPULATE_KEY_MAX.saturating_sub(prefix.len() + 1);
    let distinct = match u32::try_from(digits)
        .ok()
        .and_then(|d| 10u64.checked_pow(d))
    {
        Some(room) => count.min(room),
        None => count,
    };
    let key_len = (prefix.len() + 21).min(POPULATE_KEY_MAX) as u64;
    let value_len = if size > 0 { size } else { 26 };
    let need = distinct.saturating_mul(key_len + value_len + POPULATE_OVERHEAD);
    let budget = crate::alloc::headroom().map(|h| h / 2);
    if let Some(budget) = budget
        && need > budget
    {
        return Err(CmdError::msg(format!(
            "ERR DEBUG POPULATE would take about {need} bytes, more than half the memory this process can still get ({} bytes)",
            budget * 2
        )));
    }
    let start = crate::alloc::used_memory() as u64;
    let db = ctx.client.db;
    let mut key = Vec::with_capacity(POPULATE_KEY_MAX + 1);
    for j in 0..distinct {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        key.truncate(POPULATE_KEY_MAX);
        if ctx.srv.ks.lookup_write(db, &key, ctx.now).is_some() {
            continue;
        }
        let mut val = format!("value:{j}").into_bytes();
        if size > 0 {
            val.resize(size as usize, 0);
        }
        ctx.srv.ks.set(
            db,
            &key,
            Value::Str(SmallBytes::from_vec(val)),
            false,
            ctx.now,
        );
        // The estimate may be low (small keys, table growth): stop before
        // the allocator fails.
        if let Some(budget) = budget
            && (j % 1024 == 1023 || size > 1 << 20)
            && (crate::alloc::used_memory() as u64).saturating_sub(start) > budget
        {
            return Err(CmdError::msg(format!(
                "ERR DEBUG POPULATE stopped after {} keys: it used more than half the memory this process could get",
                j + 1
            )));
        }
    }
    Ok(Reply::Ok)
}

/// DEBUG RELOAD [MERGE|NOFLUSH|NOSAVE ...]: save the snapshot (unless
/// NOSAVE), empty the keyspace, load the file back.
fn reload(ctx: &mut Ctx, opts: &[Bytes]) -> CmdResult {
    let mut save = true;
    for o in opts {
        if is(o, "nosave") {
            save = false;
        } else if is(o, "merge") {
            // Only changes how NOFLUSH treats conflicting keys.
        } else if is(o, "noflush") {
            return Err(CmdError::msg(
                "ERR DEBUG RELOAD NOFLUSH is not supported: the snapshot loads into an empty keyspace only",
            ));
        } else {
            return Err(CmdError::msg(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    // Not while the startup load runs: it would save a partial dataset.
    if ctx.srv.loading {
        return Err(CmdError::loading());
    }
    let path = ctx.srv.config.snapshot_path();
    if save {
        if ctx.srv.persist.child.is_some() {
            return Err(CmdError::msg("ERR Background save already in progress"));
        }
        crate::server::persistence::save_now(ctx.srv).map_err(CmdError::msg)?;
    } else if !path.is_file() {
        // Checked before anything is flushed.
        return Err(CmdError::msg(format!(
            "ERR Error trying to load the snapshot: {} does not exist",
            path.display()
        )));
    }
    ctx.srv.db_flushed(Some(ctx.client), None);
    ctx.srv.ks.flush_all(false);
    let now = ctx.now;
    // Loaded keys are not `new` keys (Redis's `dbAddRDBLoad`).
    ctx.srv.ks.log_new = false;
    let loaded = crate::persist::load::load(&path, &mut ctx.srv.ks, now);
    ctx.srv.sync_keyspace_logging();
    match loaded {
        Ok(Some(s)) => ctx.srv.persist.last_load = s,
        Ok(None) => {}
        Err(e) => {
            return Err(CmdError::msg(format!(
                "ERR Error trying to load the snapshot: {e}"
            )));
        }
    }
    Ok(Reply::Ok)
}

/// Set while a DEBUG SPAWN-THREAD thread lives.
static HELPER_THREAD: AtomicBool = AtomicBool::new(false);

/// DEBUG SPAWN-THREAD seconds: a test hook for the one-thread rule (a
/// background save must refuse to fork while another thread exists). The
/// thread only sleeps, at most [`MAX_THREAD_SECS`], and only one lives at a
/// time.
fn spawn_thread(arg: &[u8]) -> CmdResult {
    let secs = crate::util::num::parse_f64(arg).ok_or_else(CmdError::not_float)?;
    let d = Duration::from_secs_f64(secs.clamp(0.0, MAX_THREAD_SECS));
    if HELPER_THREAD.swap(true, Ordering::SeqCst) {
        return Err(CmdError::msg(
            "ERR a DEBUG SPAWN-THREAD thread is still running",
        ));
    }
    let spawned = std::thread::Builder::new()
        .name("debug-sleeper".into())
        .spawn(move || {
            std::thread::sleep(d);
            HELPER_THREAD.store(false, Ordering::SeqCst);
        });
    match spawned {
        Ok(_) => Ok(Reply::Ok),
        Err(e) => {
            HELPER_THREAD.store(false, Ordering::SeqCst);
            Err(CmdError::msg(format!("ERR cannot start a thread: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_is_redis_on_x86_64_but_bounded() {
        let ms = |s: &str| sleep_duration(s.as_bytes()).map(|d| d.as_millis());
        assert_eq!(ms("0"), None);
        assert_eq!(ms("0.01"), Some(10));
        assert_eq!(ms(" 0.1"), Some(100));
        assert_eq!(ms("0x10p-10"), Some(15));
        assert_eq!(ms("0.5abc"), Some(500));
        // Not a number: strtod gives 0.
        for none in [
            "abc", "", "-1", "-0.5", "nan", "-nan", "inf", "-inf", "1e300", "1e13",
        ] {
            assert_eq!(ms(none), None, "{none:?}");
        }
        assert_eq!(ms("9223372036854775807"), None);
        assert_eq!(ms("-9223372036854775808"), None);
        // In range for C but longer than an hour: an hour.
        assert_eq!(ms("1e9"), Some(3_600_000));
    }
}
