//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET,
//! READONLY, READWRITE.

use super::{Ctx, arg_i64, is};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::server::client::ReplyMode;
use bytes::Bytes;

pub use crate::REDIS_COMPAT_VERSION;

/// PING [message]
pub fn ping(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        return Err(CmdError::arity("ping"));
    }
    if ctx.client.resp == 2 && ctx.client.is_pubsub() {
        // In RESP2 subscribe mode the answer looks like a message.
        let msg = args.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![
            Reply::bulk_static("pong"),
            Reply::Bulk(msg),
        ]));
    }
    match args.get(1) {
        None => Ok(Reply::status("PONG")),
        Some(m) => Ok(Reply::Bulk(m.clone())),
    }
}

/// ECHO message
pub fn echo(_: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Bulk(args[1].clone()))
}

/// Checks a user name and password against `requirepass` as Redis's
/// default user does: with no password every password is accepted.
fn check_credentials(ctx: &Ctx, user: &[u8], pass: &[u8]) -> bool {
    if user != b"default" {
        return false;
    }
    match &ctx.srv.config.requirepass {
        None => true,
        Some(p) => constant_time_eq(p, pass),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// AUTH [username] password
pub fn auth(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::syntax());
    }
    let (user, pass): (&[u8], &[u8]) = if args.len() == 2 {
        if ctx.srv.config.requirepass.is_none() {
            return Err(CmdError::auth_not_configured());
        }
        (b"default", &args[1])
    } else {
        (&args[1], &args[2])
    };
    if check_credentials(ctx, user, pass) {
        ctx.client.authenticated = true;
        Ok(Reply::Ok)
    } else {
        Err(CmdError::wrongpass())
    }
}

/// Checks a CLIENT SETNAME / HELLO SETNAME name: no spaces or newlines.
pub fn validate_name(name: &[u8]) -> Result<(), CmdError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::msg(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut ver = None;
    let mut next = 1;
    if args.len() >= 2 {
        let v = crate::util::num::parse_i64(&args[1]).ok_or_else(|| {
            CmdError::msg("ERR Protocol version is not an integer or out of range")
        })?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::noproto());
        }
        ver = Some(v as u8);
        next = 2;
    }
    let mut creds = None;
    let mut name = None;
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "auth") && more >= 2 {
            creds = Some((args[j + 1].clone(), args[j + 2].clone()));
            j += 3;
        } else if is(&args[j], "setname") && more >= 1 {
            validate_name(&args[j + 1])?;
            name = Some(args[j + 1].clone());
            j += 2;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[j])
            )));
        }
    }
    if let Some((u, p)) = creds {
        if !check_credentials(ctx, &u, &p) {
            return Err(CmdError::wrongpass());
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return Err(CmdError::msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(n) = name {
        ctx.client.name = if n.is_empty() { None } else { Some(n) };
    }
    if let Some(v) = ver {
        ctx.client.resp = v;
    }
    Ok(Reply::Map(vec![
        (Reply::bulk_static("server"), Reply::bulk_static("redis")),
        (
            Reply::bulk_static("version"),
            Reply::bulk_static(REDIS_COMPAT_VERSION),
        ),
        (
            Reply::bulk_static("proto"),
            Reply::Int(ctx.client.resp as i64),
        ),
        (Reply::bulk_static("id"), Reply::Int(ctx.client.id as i64)),
        (Reply::bulk_static("mode"), Reply::bulk_static("standalone")),
        (Reply::bulk_static("role"), Reply::bulk_static("master")),
        (Reply::bulk_static("modules"), Reply::Array(vec![])),
    ]))
}

/// SELECT index
pub fn select(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let id = arg_i64(&args[1])?;
    if id < i32::MIN as i64 || id > i32::MAX as i64 {
        return Err(CmdError::int_range());
    }
    if id < 0 || id >= ctx.srv.ks.db_count() as i64 {
        return Err(CmdError::db_out_of_range());
    }
    ctx.client.db = id as usize;
    Ok(Reply::Ok)
}

/// QUIT: replies OK, then the connection closes.
pub fn quit(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.client.close_after_reply = true;
    Ok(Reply::Ok)
}

/// RESET: back to a fresh connection's state.
pub fn reset(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    crate::server::monitor::stop(ctx.srv, ctx.client);
    crate::server::multi::discard(ctx.srv, ctx.client);
    let c = &mut *ctx.client;
    c.db = 0;
    c.resp = 2;
    c.name = None;
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    c.no_touch = false;
    c.readonly = false;
    c.authenticated = ctx.srv.config.requirepass.is_none();
    ctx.srv.tracking_disable(c);
    ctx.srv.forget_subscriptions(c);
    Ok(Reply::status("RESET"))
}

/// READONLY: accepted for cluster-aware clients (forkv is not a cluster).
pub fn readonly(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.client.readonly = true;
    Ok(Reply::Ok)
}

/// READWRITE: accepted for cluster-aware clients.
pub fn readwrite(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.client.readonly = false;
    Ok(Reply::Ok)
}
