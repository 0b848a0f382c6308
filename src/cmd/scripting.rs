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
    Row::new(&r::SCRIPT_KILL, script_kill),
    Row::new(&r::FCALL, fcall),
    Row::new(&r::FCALL_RO, fcall_ro),
    Row::new(&r::FUNCTION, super::container),
    Row::new(&r::FUNCTION_LOAD, function_load),
    Row::new(&r::FUNCTION_DELETE, function_delete),
    Row::new(&r::FUNCTION_FLUSH, function_flush),
    Row::new(&r::FUNCTION_LIST, function_list),
    Row::new(&r::FUNCTION_STATS, function_stats),
    Row::new(&r::FUNCTION_KILL, function_kill),
    Row::new(&r::FUNCTION_HELP, function_help),
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

const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";

/// SCRIPT KILL: one that comes while a script runs is answered from
/// inside the script (`script::busy`); a command only runs when no script
/// does.
pub fn script_kill(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Err(CmdError::msg(NOTBUSY))
}

/// FUNCTION KILL (see SCRIPT KILL).
pub fn function_kill(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Err(CmdError::msg(NOTBUSY))
}

fn fcall_generic(ctx: &mut Ctx, args: &[Bytes], ro: bool) -> CmdResult {
    feed_monitor(ctx, args);
    let Some(target) = ctx.srv.scripts.functions.target(&args[1]) else {
        return Err(CmdError::msg("ERR Function not found"));
    };
    let numkeys = crate::util::num::parse_i64(&args[2])
        .ok_or_else(|| CmdError::msg("ERR Bad number of keys provided"))?;
    let rest = &args[3..];
    if numkeys > rest.len() as i64 {
        return Err(CmdError::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::msg("ERR Number of keys can't be negative"));
    }
    let (keys, argv) = rest.split_at(numkeys as usize);
    Ok(script::run_target(
        ctx.srv, ctx.client, target, keys, argv, ctx.now, ro,
    ))
}

/// FCALL function numkeys [key ...] [arg ...]
pub fn fcall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    fcall_generic(ctx, args, false)
}

/// FCALL_RO function numkeys [key ...] [arg ...]
pub fn fcall_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    fcall_generic(ctx, args, true)
}

/// FUNCTION LOAD \[REPLACE\] code
pub fn function_load(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut replace = false;
    let mut pos = 2;
    while pos < args.len() - 1 {
        if super::is(&args[pos], "replace") {
            replace = true;
            pos += 1;
            continue;
        }
        return Err(CmdError::msg(format!(
            "ERR Unknown option given: {}",
            String::from_utf8_lossy(&args[pos])
        )));
    }
    if pos >= args.len() {
        return Err(CmdError::msg("ERR Function code is missing"));
    }
    let name = ctx
        .srv
        .scripts
        .functions
        .load(&args[pos], replace)
        .map_err(CmdError::msg)?;
    ctx.srv.ks.stats.dirty += 1;
    Ok(Reply::bulk_string(name))
}

/// FUNCTION DELETE library
pub fn function_delete(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if !ctx.srv.scripts.functions.delete(&args[2]) {
        return Err(CmdError::msg("ERR Library not found"));
    }
    ctx.srv.ks.stats.dirty += 1;
    Ok(Reply::Ok)
}

/// FUNCTION FLUSH [ASYNC|SYNC]
pub fn function_flush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match args.len() {
        2 => {}
        3 if super::is(&args[2], "sync") || super::is(&args[2], "async") => {}
        3 => {
            return Err(CmdError::msg(
                "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
            ));
        }
        _ => return Err(CmdError::subcommand_syntax(&args[1], &args[0])),
    }
    ctx.srv.scripts.functions.flush();
    ctx.srv.ks.stats.dirty += 1;
    Ok(Reply::Ok)
}

/// FUNCTION LIST \[LIBRARYNAME pattern\] \[WITHCODE\]
pub fn function_list(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if !with_code && super::is(a, "withcode") {
            with_code = true;
        } else if pattern.is_none() && super::is(a, "libraryname") {
            if i >= args.len() - 1 {
                return Err(CmdError::msg("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(&args[i]);
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let b = Reply::bulk_static;
    let mut out = Vec::new();
    for (name, lib) in &ctx.srv.scripts.functions.libs {
        if let Some(p) = pattern
            && !crate::util::glob::glob_match(p, name.as_bytes(), false)
        {
            continue;
        }
        let functions = lib
            .functions
            .iter()
            .map(|(fname, f)| {
                let flags = script::flags::NAMES
                    .iter()
                    .filter(|(_, bit)| f.flags & bit != 0)
                    .map(|(n, _)| Reply::status(n))
                    .collect();
                Reply::Map(vec![
                    (b("name"), Reply::bulk(fname.as_bytes())),
                    (
                        b("description"),
                        f.desc.clone().map_or(Reply::Nil, Reply::Bulk),
                    ),
                    (b("flags"), Reply::Set(flags)),
                ])
            })
            .collect();
        let mut entry = vec![
            (b("library_name"), Reply::bulk(name.as_bytes())),
            (b("engine"), b("LUA")),
            (b("functions"), Reply::Array(functions)),
        ];
        if with_code {
            entry.push((b("library_code"), Reply::Bulk(lib.code.clone())));
        }
        out.push(Reply::Map(entry));
    }
    Ok(Reply::Array(out))
}

/// FUNCTION STATS
pub fn function_stats(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let f = &ctx.srv.scripts.functions;
    let b = Reply::bulk_static;
    Ok(Reply::Map(vec![
        (b("running_script"), Reply::Nil),
        (
            b("engines"),
            Reply::Map(vec![(
                b("LUA"),
                Reply::Map(vec![
                    (b("libraries_count"), Reply::Int(f.libs.len() as i64)),
                    (b("functions_count"), Reply::Int(f.function_count() as i64)),
                ]),
            )]),
        ),
    ]))
}

/// FUNCTION HELP
pub fn function_help(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(help_reply(
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    ))
}
