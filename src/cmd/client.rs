//! CLIENT subcommands: identity, listing, killing and per-connection modes.

use super::connection::validate_name;
use super::keys::help_reply;
use super::{Ctx, arg_i64, is};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::server::client::{Client, ReplyMode};
use bytes::Bytes;

/// CLIENT ID
pub fn id(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.client.id as i64))
}

/// CLIENT SETNAME name
pub fn setname(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    validate_name(&args[2])?;
    ctx.client.name = if args[2].is_empty() {
        None
    } else {
        Some(args[2].clone())
    };
    Ok(Reply::Ok)
}

/// CLIENT GETNAME
pub fn getname(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(match &ctx.client.name {
        Some(n) => Reply::Bulk(n.clone()),
        None => Reply::Nil,
    })
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value
pub fn setinfo(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (attr, val) = (&args[2], &args[3]);
    let name = if is(attr, "lib-name") {
        "lib-name"
    } else if is(attr, "lib-ver") {
        "lib-ver"
    } else {
        return Err(CmdError::msg(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    };
    if val.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::msg(format!(
            "ERR {name} cannot contain spaces, newlines or special characters."
        )));
    }
    let v = if val.is_empty() {
        None
    } else {
        Some(val.clone())
    };
    if name == "lib-name" {
        ctx.client.lib_name = v;
    } else {
        ctx.client.lib_ver = v;
    }
    Ok(Reply::Ok)
}

/// Runs `f` on every client, using the caller's own state for itself
/// (it is borrowed while its command runs).
fn for_each_client(ctx: &mut Ctx, mut f: impl FnMut(&Client)) {
    let me = ctx.client.id;
    let mut seen_me = false;
    for (id, c) in &ctx.srv.clients {
        if *id == me {
            seen_me = true;
            f(ctx.client);
        } else if let Ok(c) = c.try_borrow() {
            f(&c);
        }
    }
    if !seen_me {
        f(ctx.client);
    }
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]
pub fn list(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut only_none = false;
    if args.len() > 2 {
        if is(&args[2], "type") && args.len() == 4 {
            let t = &args[3];
            if is(t, "normal") {
            } else if is(t, "master") || is(t, "replica") || is(t, "slave") || is(t, "pubsub") {
                only_none = true;
            } else {
                return Err(CmdError::msg(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                )));
            }
        } else if is(&args[2], "id") && args.len() >= 4 {
            let mut v = Vec::new();
            for a in &args[3..] {
                match crate::util::num::parse_i64(a) {
                    Some(i) => v.push(i as u64),
                    None => return Err(CmdError::msg("ERR Invalid client ID")),
                }
            }
            ids = Some(v);
        } else {
            return Err(CmdError::syntax());
        }
    }
    let now = ctx.now;
    let mut out = String::new();
    if !only_none {
        for_each_client(ctx, |c| {
            if ids.as_ref().is_none_or(|v| v.contains(&c.id)) {
                out.push_str(&c.info_line(now));
                out.push('\n');
            }
        });
    }
    Ok(Reply::Verbatim("txt", Bytes::from(out)))
}

/// CLIENT INFO
pub fn info(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let mut s = ctx.client.info_line(ctx.now);
    s.push('\n');
    Ok(Reply::Verbatim("txt", Bytes::from(s)))
}

/// Marks a client killed and wakes its connection so it closes.
fn kill_client(ctx: &mut Ctx, id: u64) {
    if id == ctx.client.id {
        ctx.client.close_after_reply = true;
    } else if let Some(c) = ctx.srv.clients.get(&id)
        && let Ok(mut c) = c.try_borrow_mut()
    {
        c.killed = true;
        c.wake.notify_one();
    }
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [ADDR a] [LADDR a] [TYPE t] [USER u] [SKIPME yes/no] [MAXAGE s]
pub fn kill(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(&args[2]).into_owned();
        let mut found = None;
        for_each_client(ctx, |c| {
            if c.addr == addr {
                found = Some(c.id);
            }
        });
        return match found {
            Some(id) => {
                kill_client(ctx, id);
                Ok(Reply::Ok)
            }
            None => Err(CmdError::msg("ERR No such client")),
        };
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut skipme = true;
    let mut maxage = None;
    let mut no_match = false;
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(CmdError::syntax());
        }
        let (opt, v) = (&args[i], &args[i + 1]);
        if is(opt, "id") {
            match crate::util::num::parse_i64(v) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Err(CmdError::msg("ERR client-id should be greater than 0")),
            }
        } else if is(opt, "addr") {
            addr = Some(String::from_utf8_lossy(v).into_owned());
        } else if is(opt, "laddr") {
            laddr = Some(String::from_utf8_lossy(v).into_owned());
        } else if is(opt, "type") {
            if is(v, "normal") {
            } else if is(v, "master") || is(v, "replica") || is(v, "slave") || is(v, "pubsub") {
                no_match = true;
            } else {
                return Err(CmdError::msg(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(v)
                )));
            }
        } else if is(opt, "user") {
            if &v[..] != b"default" {
                return Err(CmdError::msg(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(v)
                )));
            }
        } else if is(opt, "skipme") {
            if is(v, "yes") {
                skipme = true;
            } else if is(v, "no") {
                skipme = false;
            } else {
                return Err(CmdError::syntax());
            }
        } else if is(opt, "maxage") {
            maxage = Some(arg_i64(v)?);
        } else {
            return Err(CmdError::syntax());
        }
        i += 2;
    }
    let me = ctx.client.id;
    let now = ctx.now;
    let mut victims = Vec::new();
    if !no_match {
        for_each_client(ctx, |c| {
            let ok = id.is_none_or(|x| x == c.id)
                && addr.as_ref().is_none_or(|a| *a == c.addr)
                && laddr.as_ref().is_none_or(|a| *a == c.laddr)
                && !(skipme && c.id == me)
                && maxage.is_none_or(|m| (now - c.created_ms) / 1000 >= m);
            if ok {
                victims.push(c.id);
            }
        });
    }
    for v in &victims {
        kill_client(ctx, *v);
    }
    Ok(Reply::Int(victims.len() as i64))
}

fn on_off(v: &[u8]) -> Result<bool, CmdError> {
    if is(v, "on") {
        Ok(true)
    } else if is(v, "off") {
        Ok(false)
    } else {
        Err(CmdError::syntax())
    }
}

/// CLIENT NO-EVICT on|off
pub fn no_evict(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.client.no_evict = on_off(&args[2])?;
    Ok(Reply::Ok)
}

/// CLIENT NO-TOUCH on|off
pub fn no_touch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.client.no_touch = on_off(&args[2])?;
    Ok(Reply::Ok)
}

/// CLIENT REPLY on|off|skip
pub fn reply(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let v = &args[2];
    if is(v, "on") {
        ctx.client.reply_mode = ReplyMode::On;
    } else if is(v, "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if is(v, "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(CmdError::syntax());
    }
    Ok(Reply::Ok)
}

/// CLIENT PAUSE timeout [WRITE|ALL]
pub fn pause(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    use crate::server::pause::PauseMode;
    if args.len() > 4 {
        return Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        )));
    }
    // Redis checks the mode before the timeout.
    let mode = match args.get(3) {
        None => PauseMode::All,
        Some(m) if is(m, "write") => PauseMode::Write,
        Some(m) if is(m, "all") => PauseMode::All,
        Some(_) => return Err(CmdError::msg("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let end = super::ms_timeout_arg(&args[2], ctx.now)?;
    ctx.srv.pause.start(mode, end, ctx.now);
    Ok(Reply::Ok)
}

/// CLIENT UNPAUSE: ends the pause and wakes the clients it held.
pub fn unpause(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    for id in ctx.srv.pause.stop() {
        if let Some(c) = ctx.srv.clients.get(&id)
            && let Ok(c) = c.try_borrow()
        {
            c.wake.notify_one();
        }
    }
    Ok(Reply::Ok)
}

/// CLIENT HELP
pub fn help(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(help_reply(
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
        ],
    ))
}
