//! Lua scripting as Redis 7.0 runs it: EVAL and its family over one Lua 5.1
//! state that lives on the server's thread.
//!
//! - [`engine`]: the state, its sandbox (read-only globals, removed
//!   functions, Redis's `pcall` and `math.random`) and the error handler.
//! - [`convert`]: Lua values to replies and replies to Lua values, with
//!   Redis's rules for RESP2 and RESP3.
//! - [`lib`]: the bundled libraries (cjson, cmsgpack, bit, struct).
//! - this file: the script cache, the `redis` table, and running a script.
//!
//! While a script runs, its `redis.call`s go through the one command path
//! (`cmd::execute_as` with `Origin::Script`) on the server state the EVAL
//! handler was given: the handler takes the engine out of the state, leaves
//! a pointer to the state and the script's client for the `redis` table's
//! functions ([`RunCtx`]), runs the script, and puts the engine back. The
//! state is not touched through the handler's own reference meanwhile.

pub mod busy;
pub mod convert;
pub mod engine;
pub mod function;
pub mod lib;

use crate::cmd::{Origin, Outcome, ScriptGates};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::server::state::ServerState;
use bytes::Bytes;
use engine::Engine;
use mlua::{Function, Lua, Table, Value, Variadic};
use std::cell::Cell;
use std::collections::HashMap;

/// Shebang flags (`#!lua flags=...`).
pub mod flags {
    /// No shebang: Redis's compatibility mode (no flags apply).
    pub const EVAL_COMPAT: u32 = 1 << 0;
    /// `no-writes`.
    pub const NO_WRITES: u32 = 1 << 1;
    /// `allow-oom`.
    pub const ALLOW_OOM: u32 = 1 << 2;
    /// `allow-stale`.
    pub const ALLOW_STALE: u32 = 1 << 3;
    /// `no-cluster`.
    pub const NO_CLUSTER: u32 = 1 << 4;
    /// `allow-cross-slot-keys`.
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 5;

    /// Names as the shebang spells them.
    pub const NAMES: &[(&str, u32)] = &[
        ("no-writes", NO_WRITES),
        ("allow-oom", ALLOW_OOM),
        ("allow-stale", ALLOW_STALE),
        ("no-cluster", NO_CLUSTER),
        ("allow-cross-slot-keys", ALLOW_CROSS_SLOT),
    ];
}

/// A cached script.
pub struct Script {
    /// The source as given.
    pub body: Bytes,
    /// Shebang flags ([`flags`]).
    pub flags: u32,
    /// The compiled chunk.
    pub func: Function,
}

/// The script cache and the Lua state (`ServerState::scripts`).
pub struct Scripts {
    /// None only while a script runs (the handler holds it).
    engine: Option<Box<Engine>>,
    /// Scripts by lowercase hex SHA1.
    cache: HashMap<[u8; 40], Script, foldhash::fast::RandomState>,
    /// Bytes of cached bodies (INFO used_memory_scripts_eval).
    cache_mem: usize,
    /// The Lua memory when the engine was last put back (read by INFO
    /// while a script runs).
    lua_mem: usize,
    /// The client scripts run their commands as (None while one runs).
    client: Option<Box<Client>>,
    /// FUNCTION libraries and their Lua state.
    pub functions: function::Functions,
    /// Set by the fuzz harness: scripts get a memory limit and an
    /// instruction budget ([`fuzz_budget`]).
    #[cfg(feature = "fuzzing")]
    pub fuzz_limits: bool,
}

/// What a running script's `redis` functions need (see the module doc).
pub struct RunCtx {
    srv: *mut ServerState,
    client: *mut Client,
    /// The client that ran EVAL/FCALL (keys the script reads are tracked
    /// for it, as Redis does).
    caller: *const Client,
    /// The script's gates (read-only, wrote).
    pub gates: ScriptGates,
    /// RESP version of `redis.call` replies (`redis.setresp`).
    pub resp: u8,
    /// The time the script started (commands see one clock).
    pub now: i64,
    /// The script ends with an error already counted in the statistics.
    pub error_counted: bool,
    /// Set when a kill request stopped the script: where it was.
    pub killed: Option<(String, usize)>,
    /// When the script started, for `busy-reply-threshold`.
    started: std::time::Instant,
    /// `busy-reply-threshold` in ms (0: kill requests are not looked for).
    threshold: u64,
    /// The caller's client id.
    caller_id: u64,
    /// An EVAL script (not a function).
    eval: bool,
    /// The instruction hook was replaced and must be put back.
    rehook: bool,
}

thread_local! {
    /// The running script's context, if any (one thread runs scripts).
    static CURRENT: Cell<*mut RunCtx> = const { Cell::new(std::ptr::null_mut()) };
}

impl Default for Scripts {
    fn default() -> Self {
        let mut client = Client::new(0, "lua".into(), String::new(), -1, true, 0);
        client.deny_blocking = true;
        let engine = new_engine().expect("the Lua state starts");
        let lua_mem = engine.lua.used_memory();
        Scripts {
            engine: Some(Box::new(engine)),
            cache: HashMap::default(),
            cache_mem: 0,
            lua_mem,
            client: Some(Box::new(client)),
            functions: function::Functions::default(),
            #[cfg(feature = "fuzzing")]
            fuzz_limits: false,
        }
    }
}

impl Scripts {
    /// Memory used by the Lua state (INFO used_memory_lua).
    pub fn lua_memory(&self) -> usize {
        self.engine
            .as_ref()
            .map_or(self.lua_mem, |e| e.lua.used_memory())
    }

    /// Number of cached scripts.
    pub fn count(&self) -> usize {
        self.cache.len()
    }

    /// Memory of the cache (INFO used_memory_scripts_eval): bodies, keys
    /// and entries, as Redis counts it.
    pub fn cache_memory(&self) -> usize {
        if self.cache.is_empty() {
            return 0;
        }
        self.cache_mem + self.cache.len() * (40 + 48) + self.cache.capacity() * 8
    }

    /// True if `sha` (any case) is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        lower_sha(sha).is_some_and(|k| self.cache.contains_key(&k))
    }

    /// SCRIPT FLUSH: forgets every script and starts a fresh Lua state.
    pub fn flush(&mut self) {
        self.cache.clear();
        self.cache.shrink_to_fit();
        self.cache_mem = 0;
        if let Ok(e) = new_engine() {
            self.lua_mem = e.lua.used_memory();
            self.engine = Some(Box::new(e));
        }
    }

    /// Compiles and caches `body` (EVAL, SCRIPT LOAD); its SHA1. The error
    /// is Redis's reply text.
    pub fn create(&mut self, body: &Bytes) -> Result<[u8; 40], String> {
        let sha = sha1_hex(body);
        if self.cache.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, skip) = shebang(body)?;
        let Some(engine) = self.engine.as_ref() else {
            return Err("ERR scripting engine is busy".into());
        };
        // The shebang line is skipped but its line feed kept, so line
        // numbers stay the user's.
        let func = engine
            .lua
            .load(&body[skip..])
            .set_name("@user_script")
            .set_mode(mlua::chunk::ChunkMode::Text)
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                format!("ERR Error compiling script (new function): {msg}")
            })?;
        self.cache_mem += body.len();
        self.cache.insert(
            sha,
            Script {
                body: body.clone(),
                flags,
                func,
            },
        );
        Ok(sha)
    }

    /// The cached script `sha` (any case).
    pub fn get(&self, sha: &[u8]) -> Option<&Script> {
        lower_sha(sha).and_then(|k| self.cache.get(&k))
    }
}

fn new_engine() -> mlua::Result<Engine> {
    let e = Engine::new(register_api, None)?;
    watch_busy(&e.lua);
    Ok(e)
}

/// The lowercase form of a 40-character SHA1 (None for other lengths).
pub fn lower_sha(sha: &[u8]) -> Option<[u8; 40]> {
    let mut k = [0u8; 40];
    if sha.len() != 40 {
        return None;
    }
    for (d, s) in k.iter_mut().zip(sha) {
        *d = s.to_ascii_lowercase();
    }
    Some(k)
}

/// Hex SHA1 of `data`, lowercase.
pub fn sha1_hex(data: &[u8]) -> [u8; 40] {
    let digest = sha1_smol::Sha1::from(data).digest().bytes();
    let mut out = [0u8; 40];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in digest.iter().enumerate() {
        out[i * 2] = HEX[(b >> 4) as usize];
        out[i * 2 + 1] = HEX[(b & 15) as usize];
    }
    out
}

/// Parses a `#!lua ...` first line: the flags and the length of the line
/// (without its line feed). No shebang: compatibility mode.
pub fn shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((flags::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let parts = match crate::util::split::split_args(&body[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid engine in script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut f = 0;
    for p in &parts[1..] {
        let Some(list) = p.strip_prefix(b"flags=") else {
            return Err(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(p)
            ));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&b| b == b',') {
            match flags::NAMES.iter().find(|(n, _)| n.as_bytes() == name) {
                Some((_, bit)) => f |= bit,
                None => {
                    return Err(format!(
                        "ERR Unexpected flag in script shebang: {}",
                        String::from_utf8_lossy(name)
                    ));
                }
            }
        }
    }
    Ok((f, end))
}

/// Runs the cached script `sha` for `caller` with `keys` and `argv`:
/// the reply (Redis's `evalGenericCommand`). `ro`: EVAL_RO / EVALSHA_RO.
pub fn run(
    srv: &mut ServerState,
    caller: &mut Client,
    sha: &[u8; 40],
    keys: &[Bytes],
    argv: &[Bytes],
    now: i64,
    ro: bool,
) -> Reply {
    let Some(script) = srv.scripts.cache.get(sha) else {
        return Reply::Error("NOSCRIPT No matching script. Please use EVAL.".into());
    };
    let target = Target {
        func: script.func.clone(),
        flags: script.flags,
        name: std::str::from_utf8(sha).unwrap_or("").to_string(),
        eval: true,
    };
    run_target(srv, caller, target, keys, argv, now, ro)
}

/// What runs: a script (EVAL) or a library function (FCALL).
pub struct Target {
    /// The compiled script or the registered callback.
    pub func: Function,
    /// Its flags ([`flags`]).
    pub flags: u32,
    /// The name errors show (the SHA1 or the function's name).
    pub name: String,
    /// EVAL mode: KEYS and ARGV are globals; otherwise arguments.
    pub eval: bool,
}

/// Runs `target` for `caller` (Redis's `scriptPrepareForRun` then
/// `luaCallFunction`).
pub fn run_target(
    srv: &mut ServerState,
    caller: &mut Client,
    target: Target,
    keys: &[Bytes],
    argv: &[Bytes],
    now: i64,
    ro: bool,
) -> Reply {
    if let Err(e) = prepare(srv, target.flags, ro) {
        return Reply::Error(e);
    }
    #[cfg(feature = "fuzzing")]
    let limited = srv.scripts.fuzz_limits;
    let threshold = srv.config.busy_reply_threshold;
    #[cfg(not(feature = "fuzzing"))]
    let watched = threshold > 0;
    // The harness's budget hook takes the place of this one.
    #[cfg(feature = "fuzzing")]
    let watched = threshold > 0 && !limited;
    let engine_slot = if target.eval {
        srv.scripts.engine.take()
    } else {
        srv.scripts.functions.engine.take()
    };
    let (Some(engine), Some(mut client)) = (engine_slot, srv.scripts.client.take()) else {
        return Reply::Error("ERR scripting engine is busy".into());
    };
    client.db = caller.db;
    client.resp = 2;
    let sflags = target.flags;
    let compat = sflags & flags::EVAL_COMPAT != 0;
    let gates = ScriptGates {
        read_only: ro || (!compat && sflags & flags::NO_WRITES != 0),
        wrote: false,
        allow_oom: !compat && sflags & flags::ALLOW_OOM != 0,
    };
    let mut rc = RunCtx {
        srv: srv as *mut ServerState,
        client: &mut *client as *mut Client,
        caller: caller as *const Client,
        gates,
        resp: 2,
        now,
        error_counted: false,
        killed: None,
        started: std::time::Instant::now(),
        threshold: if watched { threshold } else { 0 },
        caller_id: caller.id,
        eval: target.eval,
        rehook: false,
    };
    #[cfg(feature = "fuzzing")]
    if limited {
        fuzz_budget(&engine.lua);
        rc.rehook = true;
    }
    let reply = call_script(&engine, &mut rc, &target, keys, argv, caller.resp);
    if rc.rehook {
        watch_busy(&engine.lua);
    }
    // `srv` is used again only now that the script and its pointers are done.
    srv.error_counted = rc.error_counted && reply.is_error();
    if target.eval {
        srv.scripts.lua_mem = engine.lua.used_memory();
        srv.scripts.engine = Some(engine);
    } else {
        srv.scripts.functions.lua_mem = engine.lua.used_memory();
        srv.scripts.functions.engine = Some(engine);
    }
    srv.scripts.client = Some(client);
    reply
}

/// Under the fuzz harnesses a script gets a memory limit and an
/// instruction budget (nothing interrupts a long script yet): past the
/// budget every instruction raises, so not even `pcall` keeps it going.
#[cfg(feature = "fuzzing")]
fn fuzz_budget(lua: &Lua) {
    use mlua::{HookTriggers, VmState};
    let _ = lua.set_memory_limit(32 << 20);
    let spent = std::rc::Rc::new(Cell::new(0u32));
    let _ = lua.set_hook(
        HookTriggers::new().every_nth_instruction(1000),
        move |lua, _| {
            spent.set(spent.get() + 1);
            if spent.get() < 1000 {
                return Ok(VmState::Continue);
            }
            let _ = lua.set_hook(HookTriggers::new().every_nth_instruction(1), |_, _| {
                Err(mlua::Error::runtime("fuzz budget spent"))
            });
            Err(mlua::Error::runtime("fuzz budget spent"))
        },
    );
}

/// Installs the instruction hook of a state (once, when it is created):
/// every 100,000 instructions of a script running past
/// `busy-reply-threshold`, it looks for a kill request from another client
/// ([`busy`]); a kill stops the script by raising at every instruction
/// from then on, so `pcall` cannot catch it for good.
pub(crate) fn watch_busy(lua: &Lua) {
    use mlua::{HookTriggers, VmState};
    let _ = lua.set_hook(
        HookTriggers::new().every_nth_instruction(100_000),
        move |lua, debug| {
            let Some(rc) = current(lua) else {
                return Ok(VmState::Continue);
            };
            if rc.threshold == 0
                || rc.started.elapsed() < std::time::Duration::from_millis(rc.threshold)
            {
                return Ok(VmState::Continue);
            }
            // SAFETY: see `current`; no command runs while the hook does.
            let srv = unsafe { &*rc.srv };
            let Some((fd, request, len)) = busy::peek_requests(srv, rc.caller_id) else {
                return Ok(VmState::Continue);
            };
            let kill = match request {
                busy::Request::Shutdown => true,
                busy::Request::Kill { eval: e } => {
                    let error = if e && !rc.eval {
                        Some(busy::SLOW_FUNCTION)
                    } else if !e && rc.eval {
                        Some(busy::SLOW_EVAL)
                    } else if rc.gates.wrote {
                        Some(busy::UNKILLABLE)
                    } else {
                        None
                    };
                    match error {
                        Some(text) => busy::answer(fd, len, &format!("-{text}")),
                        None => busy::answer(fd, len, "+OK"),
                    }
                    error.is_none()
                }
            };
            if !kill {
                return Ok(VmState::Continue);
            }
            let source = debug
                .source()
                .source
                .map(|s| s.into_owned())
                .unwrap_or_default();
            let line = debug.current_line().unwrap_or(0);
            rc.killed = Some((source, line));
            rc.rehook = true;
            let _ = lua.set_hook(HookTriggers::new().every_nth_instruction(1), |_, _| {
                Err(mlua::Error::runtime(
                    "Script killed by user with SCRIPT KILL...",
                ))
            });
            Err(mlua::Error::runtime(
                "Script killed by user with SCRIPT KILL...",
            ))
        },
    );
}

/// The checks a script with a shebang (or a function) passes before it
/// runs. Its flags make it a write command unless `no-writes`, and a
/// deny-oom one unless `allow-oom` or `no-writes`, so Redis's command
/// gates refuse it with their usual texts (MISCONF, OOM) before
/// `scriptPrepareForRun`, which refuses a write script from a `*_RO`
/// command.
fn prepare(srv: &mut ServerState, sflags: u32, ro: bool) -> Result<(), String> {
    if sflags & flags::EVAL_COMPAT != 0 {
        return Ok(());
    }
    let writes = sflags & flags::NO_WRITES == 0;
    if srv.config.maxmemory > 0
        && writes
        && sflags & flags::ALLOW_OOM == 0
        && srv.perform_evictions() == crate::db::evict::EvictResult::Fail
    {
        return Err(crate::error::CmdError::oom().0.into_owned());
    }
    if writes {
        if crate::server::persistence::writes_refused(srv) {
            return Err(crate::server::persistence::MISCONF.into());
        }
        if ro {
            return Err("ERR Can not execute a script with write flag using *_ro command.".into());
        }
    }
    Ok(())
}

fn call_script(
    engine: &Engine,
    rc: &mut RunCtx,
    target: &Target,
    keys: &[Bytes],
    argv: &[Bytes],
    caller_resp: u8,
) -> Reply {
    let lua = &engine.lua;
    let (k, a) = match (array(lua, keys), array(lua, argv)) {
        (Ok(k), Ok(a)) => (k, a),
        (Err(e), _) | (_, Err(e)) => return Reply::Error(format!("ERR {e}")),
    };
    CURRENT.with(|c| c.set(rc));
    let out = if target.eval {
        let set = engine
            .hidden
            .raw_set("KEYS", k)
            .and_then(|_| engine.hidden.raw_set("ARGV", a));
        set.and_then(|_| engine.runner.call::<(bool, Value)>(&target.func))
    } else {
        engine.fn_runner.call::<(bool, Value)>((&target.func, k, a))
    };
    CURRENT.with(|c| c.set(std::ptr::null_mut()));
    if let Some((source, line)) = rc.killed.take() {
        return Reply::Error(format!(
            "ERR Script killed by user with SCRIPT KILL... script: {}, on {source}:{line}.",
            target.name
        ));
    }
    let script_resp = rc.resp;
    match out {
        Ok((true, v)) => {
            rc.error_counted = counted(&v);
            convert::to_reply(&v, script_resp, caller_resp)
        }
        Ok((false, err)) => {
            rc.error_counted = counted(&err);
            error_reply(&err, &target.name)
        }
        Err(e) => Reply::Error(format!("ERR Error running script: {e}")),
    }
}

/// True for an error table a command's error became (its statistics were
/// counted when the command failed).
fn counted(v: &Value) -> bool {
    match v {
        Value::Table(t) => {
            matches!(t.raw_get::<Value>("err"), Ok(Value::String(_)))
                && matches!(
                    t.raw_get::<Value>("ignore_error_stats_update"),
                    Ok(Value::Boolean(true))
                )
        }
        _ => false,
    }
}

/// The reply for a script that failed with `err` (Redis's
/// `luaCallFunction` error branch).
fn error_reply(err: &Value, name: &str) -> Reply {
    let Value::Table(t) = err else {
        let msg = match err {
            Value::String(s) => s.to_string_lossy(),
            _ => "execution failure".into(),
        };
        let msg: String = msg.chars().take(100).collect();
        return Reply::Error(format!("ERR Error running script {name}, {msg}"));
    };
    let field = |k: &str| -> Option<String> {
        match t.get::<Value>(k).ok()? {
            Value::String(s) => Some(s.to_string_lossy()),
            Value::Integer(i) => Some(i.to_string()),
            Value::Number(n) => Some(convert::lua_number_string(n)),
            _ => None,
        }
    };
    let msg = field("err").unwrap_or_else(|| "ERR unknown error".into());
    let mut text = msg;
    if let (Some(line), Some(source)) = (field("line"), field("source")) {
        text.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    convert::error_text(text)
}

fn array(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, b) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(b)?)?;
    }
    Ok(t)
}

/// The running script's context, or None outside a script.
fn current(_lua: &Lua) -> Option<&'static mut RunCtx> {
    let p = CURRENT.with(|c| c.get());
    // SAFETY: set by `call_script` for the duration of one script run to a
    // context that outlives it; the server state it points to is not used
    // through any other reference meanwhile (see the module doc), and
    // callbacks do not nest (`redis.call` cannot run a script).
    unsafe { p.as_mut() }
}

/// `{err="CODE message"}` as Redis's `luaPushErrorBuff` builds it: a
/// leading `-` means the text starts with its code, otherwise `ERR`.
pub fn err_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let (code, msg): (&[u8], &[u8]) = if let Some(rest) = text.strip_prefix(b"-") {
        match rest.iter().position(|&b| b == b' ') {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (b"ERR", rest),
        }
    } else {
        (b"ERR", text)
    };
    let mut msg = msg;
    while let [rest @ .., b'\r' | b'\n'] = msg {
        msg = rest;
    }
    while let [b'\r' | b'\n', rest @ ..] = msg {
        msg = rest;
    }
    let mut s = Vec::with_capacity(code.len() + 1 + msg.len());
    s.extend_from_slice(code);
    s.push(b' ');
    s.extend_from_slice(msg);
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(&s)?)?;
    Ok(t)
}

/// `(true, {err=...})`: what a raising function returns to its trampoline.
pub(crate) fn raise(lua: &Lua, text: &str) -> mlua::Result<(bool, Value)> {
    Ok((true, Value::Table(err_table(lua, text.as_bytes())?)))
}

/// The arguments of a `redis.call` as a command line (Redis's
/// `luaArgsToRedisArgv`), or the error text.
fn command_args(args: &Variadic<Value>) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for v in args.iter() {
        argv.push(match v {
            Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
            Value::Integer(i) => Bytes::from(convert::number_arg(*i as f64)),
            Value::Number(n) => Bytes::from(convert::number_arg(*n)),
            _ => return Err("Lua redis lib command arguments must be strings or integers"),
        });
    }
    Ok(argv)
}

/// `redis.call` / `redis.pcall`: runs the command; `(failed, reply)`.
fn redis_call(lua: &Lua, args: Variadic<Value>) -> mlua::Result<(bool, Value)> {
    let Some(rc) = current(lua) else {
        return raise(
            lua,
            "redis.call/pcall can only be called inside a script invocation",
        );
    };
    let argv = match command_args(&args) {
        Ok(a) => a,
        Err(e) => return raise(lua, e),
    };
    drop(args);
    // SAFETY: see `current`.
    let srv = unsafe { &mut *rc.srv };
    let client = unsafe { &mut *rc.client };
    let cmd = crate::cmd::resolve(&argv).ok();
    let rejected = cmd.map(|c| srv.cmd_stats[c.index].rejected_calls);
    let out = crate::cmd::execute_as(srv, client, &argv, rc.now, Origin::Script(rc.gates));
    if let Some(c) = cmd
        && c.has(crate::cmd::spec::flags::WRITE)
        && Some(srv.cmd_stats[c.index].rejected_calls) == rejected
    {
        rc.gates.wrote = true;
    }
    if let Some(c) = cmd
        && c.has(crate::cmd::spec::flags::READONLY)
        && !c.has(crate::cmd::spec::flags::PUBSUB)
    {
        // SAFETY: see `current`; the caller is not used through any other
        // reference while its script runs.
        let caller = unsafe { &*rc.caller };
        if caller.tracking.is_some() {
            let keys = c.keys(&argv);
            srv.tracking_remember_keys(caller, keys.iter().map(|k| &argv[k.pos]));
        }
    }
    let reply = match out {
        Outcome::Reply(r) => r,
        _ => Reply::Nil,
    };
    if let Reply::Error(e) = &reply {
        let mut text = Vec::with_capacity(e.len() + 1);
        text.push(b'-');
        text.extend_from_slice(e.as_bytes());
        let t = err_table(lua, &text)?;
        t.raw_set("ignore_error_stats_update", true)?;
        return Ok((true, Value::Table(t)));
    }
    Ok((false, convert::to_lua(lua, &reply, rc.resp)?))
}

fn number_arg(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => crate::util::num::parse_f64(s.as_bytes().as_ref())
            .or_else(|| std::str::from_utf8(&s.as_bytes()).ok()?.trim().parse().ok()),
        _ => None,
    }
}

/// Installs the `redis` table's functions and constants.
pub(crate) fn register_api(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    let call = engine::raising(lua, lua.create_function(redis_call)?)?;
    redis.raw_set("call", call)?;
    let pcall = lua.create_function(|lua, args: Variadic<Value>| {
        let (_, v) = redis_call(lua, args)?;
        Ok(v)
    })?;
    redis.raw_set("pcall", pcall)?;

    let sha1hex = engine::raising(
        lua,
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return raise(lua, "wrong number of arguments");
            }
            let data: Vec<u8> = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(i) => convert::lua_number_string(*i as f64).into_bytes(),
                Value::Number(n) => convert::lua_number_string(*n).into_bytes(),
                _ => Vec::new(),
            };
            let hex = sha1_hex(&data);
            Ok((false, Value::String(lua.create_string(hex)?)))
        })?,
    )?;
    redis.raw_set("sha1hex", sha1hex)?;

    let single = |field: &'static str| {
        lua.create_function(move |lua, args: Variadic<Value>| {
            let Some(Value::String(s)) = args.first().filter(|_| args.len() == 1) else {
                return Ok(Value::Table(err_table(
                    lua,
                    b"wrong number or type of arguments",
                )?));
            };
            if field == "err" {
                let b = s.as_bytes();
                let mut text = Vec::with_capacity(b.len() + 1);
                if !b.starts_with(b"-") {
                    text.push(b'-');
                }
                text.extend_from_slice(&b);
                return Ok(Value::Table(err_table(lua, &text)?));
            }
            let t = lua.create_table()?;
            t.raw_set(field, s.clone())?;
            Ok(Value::Table(t))
        })
    };
    redis.raw_set("error_reply", single("err")?)?;
    redis.raw_set("status_reply", single("ok")?)?;

    let log = engine::raising(
        lua,
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() < 2 {
                return raise(lua, "redis.log() requires two arguments or more.");
            }
            let Some(level) = number_arg(args.first()) else {
                return raise(lua, "First argument must be a number (log level).");
            };
            let level = level as i64;
            if !(0..=3).contains(&level) {
                return raise(lua, "Invalid debug level.");
            }
            let mut msg = Vec::new();
            for (j, a) in args.iter().enumerate().skip(1) {
                let s: Vec<u8> = match a {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(i) => convert::lua_number_string(*i as f64).into_bytes(),
                    Value::Number(n) => convert::lua_number_string(*n).into_bytes(),
                    _ => continue,
                };
                if j != 1 {
                    msg.push(b' ');
                }
                msg.extend_from_slice(&s);
            }
            let text = String::from_utf8_lossy(&msg);
            match level {
                0 => tracing::debug!("{text}"),
                1 => tracing::debug!("{text}"),
                2 => tracing::info!("{text}"),
                _ => tracing::warn!("{text}"),
            }
            Ok((false, Value::Nil))
        })?,
    )?;
    redis.raw_set("log", log)?;
    redis.raw_set("LOG_DEBUG", 0)?;
    redis.raw_set("LOG_VERBOSE", 1)?;
    redis.raw_set("LOG_NOTICE", 2)?;
    redis.raw_set("LOG_WARNING", 3)?;

    let (major, minor, patch) = version_parts(crate::REDIS_COMPAT_VERSION);
    redis.raw_set("REDIS_VERSION_NUM", (major << 16) | (minor << 8) | patch)?;
    redis.raw_set("REDIS_VERSION", crate::REDIS_COMPAT_VERSION)?;

    let setresp = engine::raising(
        lua,
        lua.create_function(|lua, args: Variadic<Value>| {
            let Some(rc) = current(lua) else {
                return raise(
                    lua,
                    "redis.setresp can only be called inside a script invocation",
                );
            };
            if args.len() != 1 {
                return raise(lua, "redis.setresp() requires one argument.");
            }
            let v = number_arg(args.first()).unwrap_or(0.0) as i64;
            if v != 2 && v != 3 {
                return raise(lua, "RESP version must be 2 or 3.");
            }
            rc.resp = v as u8;
            // SAFETY: see `current`.
            unsafe { (*rc.client).resp = v as u8 };
            Ok((false, Value::Nil))
        })?,
    )?;
    redis.raw_set("setresp", setresp)?;

    let set_repl = engine::raising(
        lua,
        lua.create_function(|lua, args: Variadic<Value>| {
            if current(lua).is_none() {
                return raise(
                    lua,
                    "redis.set_repl can only be called inside a script invocation",
                );
            }
            if args.len() != 1 {
                return raise(lua, "redis.set_repl() requires two arguments.");
            }
            let v = number_arg(args.first()).unwrap_or(0.0) as i64;
            if v & !3 != 0 {
                return raise(
                    lua,
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            Ok((false, Value::Nil))
        })?,
    )?;
    redis.raw_set("set_repl", set_repl)?;
    redis.raw_set("REPL_NONE", 0)?;
    redis.raw_set("REPL_AOF", 1)?;
    redis.raw_set("REPL_SLAVE", 2)?;
    redis.raw_set("REPL_REPLICA", 2)?;
    redis.raw_set("REPL_ALL", 3)?;

    redis.raw_set(
        "replicate_commands",
        lua.create_function(|_, _: Variadic<Value>| Ok(true))?,
    )?;
    redis.raw_set(
        "breakpoint",
        lua.create_function(|_, _: Variadic<Value>| Ok(false))?,
    )?;
    redis.raw_set(
        "debug",
        lua.create_function(|_, _: Variadic<Value>| Ok(()))?,
    )?;

    let acl = engine::raising(
        lua,
        lua.create_function(|lua, args: Variadic<Value>| {
            if current(lua).is_none() {
                return raise(
                    lua,
                    "redis.acl_check_cmd can only be called inside a script invocation",
                );
            }
            let argv = match command_args(&args) {
                Ok(a) => a,
                Err(e) => return raise(lua, e),
            };
            match crate::cmd::resolve(&argv) {
                Ok(_) => Ok((false, Value::Boolean(true))),
                Err(_) => raise(lua, "Invalid command passed to redis.acl_check_cmd()"),
            }
        })?,
    )?;
    redis.raw_set("acl_check_cmd", acl)?;
    Ok(())
}

fn version_parts(v: &str) -> (i64, i64, i64) {
    let mut it = v.split('.').map(|p| p.parse::<i64>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}
