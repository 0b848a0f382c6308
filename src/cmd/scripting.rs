//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (Redis's `eval.c`); the
//! engine and the `redis` table live in [`crate::script`].

use super::keys::help_reply;
use super::{Ctx, Row};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::script;
use bytes::Bytes;

use super::spec::redis as r;

/// The scripting rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    Row::new(&r::EVAL, eval),
    Row::new(&r::EVAL_RO, eval_ro),
    Row::new(&r::EVALSHA, evalsha),
    Row::new(&r::EVALSHA_RO, evalsha_ro),
    Row::new(&r::SCRIPT, super::container),
    Row::new(&r::SCRIPT_LOAD, script_load),
    Row::new(&r::SCRIPT_EXISTS, script_exists),
    Row::new(&r::SCRIPT_FLUSH, script_flush),
    Row::new(&r::SCRIPT_HELP, script_help),
];

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// The keys and arguments after `numkeys`, checked as Redis checks them.
fn split_keys(args: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), CmdError> {
    let numkeys = super::arg_i64(&args[2])?;
    let rest = &args[3..];
    if numkeys > rest.len() as i64 {
        return Err(CmdError::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::msg("ERR Number of keys can't be negative"));
    }
    Ok(rest.split_at(numkeys as usize))
}

/// Shows the EVAL to MONITOR before the commands its script runs, as Redis
/// does (the command is flagged not to be shown after it ran).
fn feed_monitor(ctx: &mut Ctx, args: &[Bytes]) {
    if !ctx.srv.monitors.is_empty() {
        crate::server::monitor::feed(ctx.srv, ctx.client, args);
    }
}

fn eval_generic(ctx: &mut Ctx, args: &[Bytes], ro: bool) -> CmdResult {
    feed_monitor(ctx, args);
    let (keys, argv) = split_keys(args)?;
    let sha = ctx.srv.scripts.create(&args[1]).map_err(CmdError::msg)?;
    Ok(script::run(
        ctx.srv, ctx.client, &sha, keys, argv, ctx.now, ro,
    ))
}

fn evalsha_generic(ctx: &mut Ctx, args: &[Bytes], ro: bool) -> CmdResult {
    feed_monitor(ctx, args);
    let Some(sha) = script::lower_sha(&args[1]) else {
        return Err(CmdError::msg(NOSCRIPT));
    };
    let (keys, argv) = split_keys(args)?;
    Ok(script::run(
        ctx.srv, ctx.client, &sha, keys, argv, ctx.now, ro,
    ))
}

/// EVAL script numkeys [key ...] [arg ...]
pub fn eval(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    eval_generic(ctx, args, false)
}

/// EVAL_RO script numkeys [key ...] [arg ...]
pub fn eval_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    eval_generic(ctx, args, true)
}

/// EVALSHA sha1 numkeys [key ...] [arg ...]
pub fn evalsha(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    evalsha_generic(ctx, args, false)
}

/// EVALSHA_RO sha1 numkeys [key ...] [arg ...]
pub fn evalsha_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    evalsha_generic(ctx, args, true)
}

/// SCRIPT LOAD script
pub fn script_load(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sha = ctx.srv.scripts.create(&args[2]).map_err(CmdError::msg)?;
    Ok(Reply::bulk(&sha))
}

/// SCRIPT EXISTS sha1 [sha1 ...]
pub fn script_exists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let s = &ctx.srv.scripts;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|a| Reply::Int(s.exists(a) as i64))
            .collect(),
    ))
}

/// SCRIPT FLUSH [ASYNC|SYNC]
pub fn script_flush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match args.len() {
        2 => {}
        3 if super::is(&args[2], "sync") || super::is(&args[2], "async") => {}
        _ => {
            return Err(CmdError::msg(
                "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
            ));
        }
    }
    ctx.srv.scripts.flush();
    Ok(Reply::Ok)
}

/// SCRIPT HELP
pub fn script_help(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(help_reply(
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    ))
}
