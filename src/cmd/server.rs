//! Server commands: DBSIZE, FLUSHDB, FLUSHALL, TIME, LASTSAVE, SHUTDOWN
//! and CONFIG (DEBUG lives in `debug`).

use super::keys::help_reply;
use super::{Ctx, is};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::server::state::{CmdStats, ShutdownMode};
use bytes::Bytes;

/// DBSIZE
pub fn dbsize(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.srv.ks.len(ctx.client.db) as i64))
}

/// Parses the optional ASYNC|SYNC of FLUSHDB/FLUSHALL; true = async.
/// Without either, `lazyfree-lazy-user-flush` decides, as in Redis.
fn flush_mode(ctx: &Ctx, args: &[Bytes]) -> Result<bool, CmdError> {
    match args.len() {
        1 => Ok(ctx.srv.config.lazyfree_lazy_user_flush),
        2 if is(&args[1], "sync") => Ok(false),
        2 if is(&args[1], "async") => Ok(true),
        _ => Err(CmdError::syntax()),
    }
}

/// FLUSHDB [ASYNC|SYNC]
pub fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lazy = flush_mode(ctx, args)?;
    let db = ctx.client.db;
    ctx.srv.db_flushed(Some(ctx.client), Some(db));
    ctx.srv.ks.flush_db(db, lazy);
    Ok(Reply::Ok)
}

/// FLUSHALL [ASYNC|SYNC]. As in Redis, a running background save is
/// stopped and, with save points configured, the empty dataset is saved.
pub fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lazy = flush_mode(ctx, args)?;
    ctx.srv.db_flushed(Some(ctx.client), None);
    ctx.srv.ks.flush_all(lazy);
    crate::server::persistence::kill_child(ctx.srv);
    if !ctx.srv.config.save.is_empty() {
        let dirty = ctx.srv.ks.stats.dirty;
        let _ = crate::server::persistence::save_now(ctx.srv);
        // The flush itself still counts as a change, as in Redis.
        ctx.srv.ks.stats.dirty = dirty;
    }
    Ok(Reply::Ok)
}

/// SAVE
pub fn save(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    if ctx.srv.persist.child.is_some() {
        return Err(CmdError::msg("ERR Background save already in progress"));
    }
    crate::server::persistence::save_now(ctx.srv).map_err(CmdError::msg)?;
    Ok(Reply::Ok)
}

/// BGSAVE [SCHEDULE|CANCEL]
pub fn bgsave(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => {}
        2 if is(&args[1], "schedule") => {
            if ctx.srv.persist.child.is_some() {
                ctx.srv.persist.scheduled = true;
                return Ok(Reply::status("Background saving scheduled"));
            }
        }
        2 if is(&args[1], "cancel") => {
            return if crate::server::persistence::cancel(ctx.srv) {
                Ok(Reply::status("Background saving cancelled"))
            } else {
                Err(CmdError::msg(
                    "ERR Background saving is currently not in progress or scheduled",
                ))
            };
        }
        _ => return Err(CmdError::syntax()),
    }
    crate::server::persistence::bgsave(ctx.srv).map_err(CmdError::msg)?;
    Ok(Reply::status("Background saving started"))
}

/// TIME
pub fn time(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Reply::Array(vec![
        Reply::bulk_string(d.as_secs().to_string()),
        Reply::bulk_string(d.subsec_micros().to_string()),
    ]))
}

/// LASTSAVE
pub fn lastsave(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.srv.lastsave))
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]
pub fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut mode = ShutdownMode::Default;
    let (mut nosave, mut save, mut abort) = (false, false, false);
    for a in &args[1..] {
        if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "now") || is(a, "force") {
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::syntax());
        }
    }
    if (abort && args.len() != 2) || (nosave && save) {
        return Err(CmdError::syntax());
    }
    if abort {
        return Err(CmdError::msg("ERR No shutdown in progress."));
    }
    if nosave {
        mode = ShutdownMode::NoSave;
    } else if save {
        mode = ShutdownMode::Save;
    }
    if crate::server::persistence::shutdown_save(ctx.srv, mode).is_err() {
        return Err(CmdError::msg("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    ctx.srv.shutdown = Some(mode);
    ctx.client.close_after_reply = true;
    // Like Redis, a successful SHUTDOWN sends no reply: the connection closes.
    Ok(Reply::Raw(Bytes::new()))
}

/// CONFIG GET parameter [parameter ...]
pub fn config_get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pat in &args[2..] {
        for (k, v) in ctx.srv.config.get(pat) {
            if !pairs.iter().any(|(pk, _)| *pk == k) {
                pairs.push((k, v));
            }
        }
    }
    Ok(Reply::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Reply::bulk_string(k), Reply::bulk_string(v)))
            .collect(),
    ))
}

/// CONFIG SET parameter value [parameter value ...]
///
/// All or nothing, as in Redis 7: every value is checked and set, then the
/// reactions that can fail run (rebinding the listeners, raising the open
/// files limit); if one fails, every old value comes back and the reactions
/// already run are undone.
pub fn config_set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() % 2 == 1 {
        return Err(CmdError::syntax());
    }
    let pairs: Vec<(&[u8], &[u8])> = args[2..]
        .chunks(2)
        .map(|p| (&p[0][..], &p[1][..]))
        .collect();
    let old = ctx.srv.config.clone();
    ctx.srv
        .config
        .set_as(&pairs, ctx.client.local)
        .map_err(CmdError::msg)?;
    // Each reaction once, in the order its parameters were given, named by
    // the first of them (Redis's deduplicated apply functions).
    let mut steps: Vec<(Reaction, &'static str)> = Vec::new();
    for (name, _) in &pairs {
        let Some(name) = crate::config::canonical_name(name) else {
            continue;
        };
        let r = match name {
            "port" | "bind" => Reaction::Listeners,
            "maxclients" => Reaction::Maxclients,
            _ => continue,
        };
        if !steps.iter().any(|(s, _)| *s == r) {
            steps.push((r, name));
        }
    }
    for (i, &(step, name)) in steps.iter().enumerate() {
        if let Err(reason) = react(ctx.srv, step, name, &old) {
            tracing::warn!(
                "Failed applying new configuration. Possibly related to new {name} setting. Restoring previous settings."
            );
            ctx.srv.config = old.clone();
            for &(done, name) in &steps[..i] {
                if let Err(e) = react(ctx.srv, done, name, &old) {
                    tracing::warn!("Failed to restore the previous {name} setting: {e}");
                }
            }
            return Err(CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            )));
        }
    }
    crate::server::apply_config(ctx.srv);
    if ctx.srv.config.maxmemory != old.maxmemory {
        ctx.srv.maxmemory_changed();
    }
    Ok(Reply::Ok)
}

/// A reaction to CONFIG SET that can fail.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reaction {
    /// Listen on the `bind` addresses at `port`.
    Listeners,
    /// Make room for `maxclients` descriptors.
    Maxclients,
}

/// Runs `step` for the current configuration; the error is Redis's reason.
/// `old` is the configuration before this CONFIG SET.
fn react(
    srv: &mut crate::server::state::ServerState,
    step: Reaction,
    name: &str,
    old: &crate::config::Config,
) -> Result<(), String> {
    match step {
        Reaction::Listeners => {
            let c = &srv.config;
            // Port 0 means no TCP listener, as in Redis.
            let bind = if c.port == 0 { &[][..] } else { &c.bind[..] };
            if let Err(e) = srv.listeners.rebind(bind, c.port, c.tcp_backlog) {
                tracing::warn!("{e}");
                return Err(if name == "port" {
                    "Unable to listen on this port. Check server logs.".to_string()
                } else {
                    "Failed to bind to specified addresses.".to_string()
                });
            }
            srv.port = srv.listeners.first_port().unwrap_or(c.port);
        }
        Reaction::Maxclients => {
            let want = srv.config.maxclients;
            if want > old.maxclients
                && let Err(max) = crate::server::raise_fd_limit(want)
            {
                return Err(format!(
                    "The operating system is not able to handle the specified number of clients, try with {max}"
                ));
            }
        }
    }
    Ok(())
}

/// CONFIG RESETSTAT
pub fn config_resetstat(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let srv = &mut *ctx.srv;
    srv.stats = Default::default();
    for s in srv.cmd_stats.iter_mut() {
        *s = CmdStats::default();
    }
    let ks = &mut srv.ks.stats;
    ks.expired_keys = 0;
    ks.keyspace_hits = 0;
    ks.keyspace_misses = 0;
    ks.expired_time_cap_reached_count = 0;
    srv.ks.reset_eviction_stats();
    srv.peak_memory = crate::alloc::used_memory();
    Ok(Reply::Ok)
}

/// CONFIG HELP
pub fn config_help(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(help_reply(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    ))
}
