//! CLIENT subcommands: identity, listing, killing and per-connection modes.

use super::connection::validate_name;
use super::keys::help_reply;
use super::{Ctx, arg_i64, is};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::server::client::{Client, ReplyMode};
use crate::server::tracking::{TrackingOptions, check_prefixes};
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

/// A `TYPE` filter of CLIENT LIST and CLIENT KILL.
#[derive(Clone, Copy)]
enum ClientType {
    Normal,
    PubSub,
    /// master or replica: forkv has no such clients.
    Replication,
}

impl ClientType {
    fn parse(t: &[u8]) -> Result<ClientType, CmdError> {
        if is(t, "normal") {
            Ok(ClientType::Normal)
        } else if is(t, "pubsub") {
            Ok(ClientType::PubSub)
        } else if is(t, "master") || is(t, "replica") || is(t, "slave") {
            Ok(ClientType::Replication)
        } else {
            Err(CmdError::msg(format!(
                "ERR Unknown client type '{}'",
                String::from_utf8_lossy(t)
            )))
        }
    }

    fn matches(self, c: &Client) -> bool {
        match self {
            ClientType::Normal => !c.is_pubsub(),
            ClientType::PubSub => c.is_pubsub(),
            ClientType::Replication => false,
        }
    }
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]
pub fn list(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut ty = None;
    if args.len() > 2 {
        if is(&args[2], "type") && args.len() == 4 {
            ty = Some(ClientType::parse(&args[3])?);
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
    for_each_client(ctx, |c| {
        if ids.as_ref().is_none_or(|v| v.contains(&c.id))
            && ty.is_none_or(|t: ClientType| t.matches(c))
        {
            out.push_str(&c.info_line(now));
            out.push('\n');
        }
    });
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
    } else if let Some(link) = ctx.srv.links.get(&id) {
        link.kill();
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
    let mut ty = None;
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
            ty = Some(ClientType::parse(v)?);
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
    for_each_client(ctx, |c| {
        let ok = id.is_none_or(|x| x == c.id)
            && addr.as_ref().is_none_or(|a| *a == c.addr)
            && laddr.as_ref().is_none_or(|a| *a == c.laddr)
            && ty.is_none_or(|t: ClientType| t.matches(c))
            && !(skipme && c.id == me)
            && maxage.is_none_or(|m| (now - c.created_ms) / 1000 >= m);
        if ok {
            victims.push(c.id);
        }
    });
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

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN]
/// [OPTOUT] [NOLOOP]
pub fn tracking(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut o = TrackingOptions::default();
    let mut j = 3;
    while j < args.len() {
        let (a, more) = (&args[j], j + 1 < args.len());
        if is(a, "redirect") && more {
            j += 1;
            if o.redirect != 0 {
                return Err(CmdError::msg(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = arg_i64(&args[j])?;
            if id <= 0 || !ctx.srv.clients.contains_key(&(id as u64)) {
                return Err(CmdError::msg(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            o.redirect = id as u64;
        } else if is(a, "bcast") {
            o.bcast = true;
        } else if is(a, "optin") {
            o.optin = true;
        } else if is(a, "optout") {
            o.optout = true;
        } else if is(a, "noloop") {
            o.noloop = true;
        } else if is(a, "prefix") && more {
            j += 1;
            o.prefixes.push(args[j].clone());
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    if is(&args[2], "off") {
        ctx.srv.tracking_disable(ctx.client);
        return Ok(Reply::Ok);
    }
    if !is(&args[2], "on") {
        return Err(CmdError::syntax());
    }
    let cur = ctx.client.tracking.as_ref();
    let err = if !o.bcast && !o.prefixes.is_empty() {
        Some("ERR PREFIX option requires BCAST mode to be enabled")
    } else if cur.is_some_and(|t| t.bcast != o.bcast) {
        Some(
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        )
    } else if o.bcast && (o.optin || o.optout) {
        Some("ERR OPTIN and OPTOUT are not compatible with BCAST")
    } else if o.optin && o.optout {
        Some("ERR You can't specify both OPTIN mode and OPTOUT mode")
    } else if cur.is_some_and(|t| (o.optin && t.optout) || (o.optout && t.optin)) {
        Some(
            "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        )
    } else {
        None
    };
    if let Some(e) = err {
        return Err(CmdError::msg(e));
    }
    if o.bcast {
        check_prefixes(cur, &o.prefixes).map_err(CmdError::msg)?;
    }
    ctx.srv.tracking_enable(ctx.client, o);
    Ok(Reply::Ok)
}

/// CLIENT CACHING YES|NO
pub fn caching(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(t) = ctx.client.tracking.as_mut() else {
        return Err(CmdError::msg(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if is(&args[2], "yes") {
        if !t.optin {
            return Err(CmdError::msg(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(&args[2], "no") {
        if !t.optout {
            return Err(CmdError::msg(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::syntax());
    }
    t.caching = true;
    Ok(Reply::Ok)
}

/// The redirect id CLIENT GETREDIR and TRACKINGINFO show (-1 when off).
fn redirect_id(c: &Client) -> Reply {
    Reply::Int(c.tracking.as_ref().map_or(-1, |t| t.redirect as i64))
}

/// CLIENT GETREDIR
pub fn getredir(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(redirect_id(ctx.client))
}

/// CLIENT TRACKINGINFO
pub fn trackinginfo(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let t = ctx.client.tracking.as_ref();
    let mut flags = vec![if t.is_some() { "on" } else { "off" }];
    if let Some(t) = t {
        for (on, name) in [
            (t.bcast, "bcast"),
            (t.optin, "optin"),
            (t.optin && t.caching, "caching-yes"),
            (t.optout, "optout"),
            (t.optout && t.caching, "caching-no"),
            (t.noloop, "noloop"),
            (t.broken_redirect, "broken_redirect"),
        ] {
            if on {
                flags.push(name);
            }
        }
    }
    let prefixes = t.map_or_else(Vec::new, |t| t.prefixes.iter().cloned().collect());
    Ok(Reply::Map(vec![
        (
            Reply::bulk_static("flags"),
            Reply::Set(flags.into_iter().map(Reply::bulk_static).collect()),
        ),
        (Reply::bulk_static("redirect"), redirect_id(ctx.client)),
        (
            Reply::bulk_static("prefixes"),
            Reply::Array(prefixes.into_iter().map(Reply::Bulk).collect()),
        ),
    ]))
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
        if let Some(link) = ctx.srv.links.get(&id) {
            link.wake.notify_one();
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
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
        ],
    ))
}
