//! SLOWLOG: reads and resets the slow log (`server::slowlog`).

use super::Ctx;
use super::keys::help_reply;
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use bytes::Bytes;

/// SLOWLOG GET [count]
pub fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(subcommand_error(&args[1]));
    }
    let log = &ctx.srv.slowlog;
    let mut count = 10usize;
    if args.len() == 3 {
        let err = || CmdError::msg("ERR count should be greater than or equal to -1");
        let n = crate::util::num::parse_i64(&args[2]).ok_or_else(err)?;
        count = match n {
            -1 => log.len(),
            n if n < -1 => return Err(err()),
            n => n as usize,
        };
    }
    Ok(Reply::Array(
        log.entries()
            .take(count)
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.unix_secs),
                    Reply::Int(e.micros as i64),
                    Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                    Reply::bulk(e.peer.as_bytes()),
                    Reply::Bulk(e.name.clone()),
                ])
            })
            .collect(),
    ))
}

/// SLOWLOG LEN
pub fn len(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.srv.slowlog.len() as i64))
}

/// SLOWLOG RESET
pub fn reset(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.srv.slowlog.clear();
    Ok(Reply::Ok)
}

/// SLOWLOG HELP
pub fn help(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(help_reply(
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    ))
}

/// Redis's reply to a subcommand given the wrong arguments
/// (`addReplySubcommandSyntaxError`).
pub fn subcommand_error(sub: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
        String::from_utf8_lossy(sub)
    ))
}
