//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! After MULTI a client's commands are checked (lookup, arity, the gates of
//! `prepare`) and queued instead of run; a refused command marks the
//! transaction so that EXEC discards it (`EXECABORT`). EXEC runs the queue
//! through the normal execution path, one command after the other with no
//! other client in between, and answers with the array of their replies
//! (an error in one command does not undo the others). Blocking commands do
//! not block inside EXEC: they answer as if their timeout had passed.
//!
//! WATCH makes the next EXEC fail (null array) if a watched key changes
//! before it: any write to it, its deletion by expiry or eviction, or a
//! FLUSHDB/FLUSHALL emptying it (see `ServerState::key_modified`,
//! `ServerState::db_flushed` and `server::watch`).

use super::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::server::multi::{MultiState, discard, unwatch_all};
use crate::server::state::ServerState;
use bytes::Bytes;

/// EXEC's answer when a queued command was refused.
const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

/// True if `cmd` must be queued rather than run: the client is in MULTI
/// and the command is not one of those that act on the transaction itself.
pub fn queues(client: &Client, cmd: &Command) -> bool {
    use super::hooks::{ENDS_MULTI, NOT_QUEUED};
    client.multi.is_some() && !cmd.hooked(ENDS_MULTI | NOT_QUEUED)
}

/// Queues `args` in the client's transaction.
pub fn queue(client: &mut Client, cmd: &'static Command, args: &[Bytes]) -> Reply {
    let aborted = client.dirty_cas;
    if let Some(m) = client.multi.as_mut()
        && !aborted
        && !m.dirty_exec
    {
        // An already failed transaction keeps nothing, as Redis.
        m.flags |= cmd.flags;
        m.arg_bytes += args.iter().map(|a| a.len()).sum::<usize>();
        m.commands.push((cmd, args.to_vec()));
    }
    Reply::status("QUEUED")
}

/// A command was refused: inside MULTI the transaction can no longer run.
pub fn flag_error(client: &mut Client) {
    if let Some(m) = client.multi.as_mut() {
        m.dirty_exec = true;
    }
}

/// The reply to an EXEC that the gates refused (arity, MISCONF, ...): the
/// transaction is discarded and the reason given.
pub fn exec_refused(srv: &mut ServerState, client: &mut Client, e: &CmdError) -> String {
    discard(srv, client);
    let reason = e.0.strip_prefix("ERR ").unwrap_or(&e.0);
    format!("EXECABORT Transaction discarded because of: {reason}")
}

/// True if `key` is stored but its deadline has passed (not deleted yet).
fn logically_expired(srv: &ServerState, db: usize, key: &[u8], now: i64) -> bool {
    srv.ks.get_expire(db, key).is_some_and(|t| t <= now)
}

/// A watched key that was live at WATCH time has since expired, even if
/// nothing deleted it yet.
fn watched_key_expired(srv: &ServerState, client: &Client, now: i64) -> bool {
    client.watched.iter().any(|(db, key)| {
        !srv.watches.was_expired(client.id, *db, key) && logically_expired(srv, *db, key, now)
    })
}

/// MULTI
pub fn multi(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::msg("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(MultiState::default());
    Ok(Reply::Ok)
}

/// DISCARD
pub fn discard_cmd(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(CmdError::msg("ERR DISCARD without MULTI"));
    }
    discard(ctx.srv, ctx.client);
    Ok(Reply::Ok)
}

/// EXEC
pub fn exec(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let Some(m) = ctx.client.multi.as_ref() else {
        return Err(CmdError::msg("ERR EXEC without MULTI"));
    };
    let dirty_exec = m.dirty_exec;
    if watched_key_expired(ctx.srv, ctx.client, ctx.now) {
        ctx.client.dirty_cas = true;
    }
    if dirty_exec || ctx.client.dirty_cas {
        discard(ctx.srv, ctx.client);
        return if dirty_exec {
            Err(CmdError::msg(EXECABORT))
        } else {
            Ok(Reply::NilArray)
        };
    }
    unwatch_all(ctx.srv, ctx.client);
    let deny_blocking = std::mem::replace(&mut ctx.client.deny_blocking, true);
    let mut replies = Vec::new();
    // The queue stays in place while it runs (CLIENT LIST shows `multi=N`).
    let mut i = 0;
    while let Some((cmd, args)) = ctx
        .client
        .multi
        .as_ref()
        .and_then(|m| m.commands.get(i).cloned())
    {
        let r = super::call(ctx.srv, ctx.client, cmd, &args, ctx.now);
        replies.push(r.into_reply().unwrap_or(Reply::Nil));
        i += 1;
    }
    ctx.client.deny_blocking = deny_blocking;
    discard(ctx.srv, ctx.client);
    Ok(Reply::Array(replies))
}

/// WATCH key [key ...]
pub fn watch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::msg("ERR WATCH inside MULTI is not allowed"));
    }
    if ctx.client.dirty_cas {
        // EXEC will fail anyway: nothing more to watch.
        return Ok(Reply::Ok);
    }
    let db = ctx.client.db;
    for key in &args[1..] {
        if ctx.client.watched.iter().any(|(d, k)| *d == db && k == key) {
            continue;
        }
        let expired = logically_expired(ctx.srv, db, key, ctx.now);
        ctx.srv.watches.add(ctx.client.id, db, key.clone(), expired);
        ctx.client.watched.push((db, key.clone()));
    }
    Ok(Reply::Ok)
}

/// UNWATCH
pub fn unwatch(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    unwatch_all(ctx.srv, ctx.client);
    ctx.client.dirty_cas = false;
    Ok(Reply::Ok)
}
