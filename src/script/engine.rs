//! The Lua 5.1 state scripts run in, set up as Redis 7.0 sets up its own
//! (`scriptingInit`, `luaRegisterRedisAPI`): the base, table, string and
//! math libraries plus the bundled ones ([`super::lib`]), the `redis` table,
//! Redis's `pcall` and `math.random`, an error handler that records where a
//! script failed, and read-only globals.
//!
//! Stock Lua 5.1 has no read-only tables (Redis patches its Lua for them),
//! so the protection is built from metatables: the globals table itself
//! stays empty, reads fall through to a hidden table of the real globals
//! (whose own `__index` raises `Script attempted to access nonexistent
//! global variable`), writes raise `Attempt to modify a readonly table`, and
//! each library table is seen through a proxy of the same kind. `rawset` on
//! a protected table is refused too.
//!
//! Functions that can fail raise a Lua *table* `{err="CODE message"}` as
//! Redis does; a Rust callback cannot raise an arbitrary value, so each one
//! returns `(failed, value)` to a small C trampoline that raises the value.
//! Being a C function, the trampoline is also what Redis's error handler
//! expects to find between the script and the error.

use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value, Variadic, ffi};
use std::cell::Cell;
use std::os::raw::c_int;

/// Name of internal chunks: the error handler skips their frames.
const INTERNAL: &str = "=[forkv]";

/// Globals a script may see (Redis's allow lists); everything else a
/// library installs is dropped.
const ALLOWED: &[&str] = &[
    "string",
    "cjson",
    "bit",
    "cmsgpack",
    "math",
    "table",
    "struct",
    "redis",
    "xpcall",
    "tostring",
    "getfenv",
    "setmetatable",
    "next",
    "assert",
    "tonumber",
    "rawequal",
    "collectgarbage",
    "getmetatable",
    "rawset",
    "pcall",
    "coroutine",
    "type",
    "_G",
    "select",
    "unpack",
    "gcinfo",
    "pairs",
    "rawget",
    "loadstring",
    "ipairs",
    "_VERSION",
    "setfenv",
    "load",
    "error",
    "newproxy",
];

/// The Lua side of the sandbox: the error handler and the protection of
/// the globals. Run once with the debug library still present.
const SETUP: &str = r#"
local dbg, rawset_, setmetatable, type, tostring, error, pairs, next =
      debug, rawset, setmetatable, type, tostring, error, pairs, next
local internal, register = ...
local function handler(err)
  local lvl = 2
  local i = dbg.getinfo(lvl, 'nSl')
  if i and i.what == 'C' then
    lvl = 3
    i = dbg.getinfo(lvl, 'nSl')
  end
  if i and i.source == internal then
    i = dbg.getinfo(lvl + 1, 'nSl')
  end
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
local function readonly()
  error('Attempt to modify a readonly table', 2)
end
local function missing(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local function proxy(t)
  return setmetatable({}, {__index = t, __newindex = readonly, __metatable = false, __forkv_ro = true})
end
local G = _G
local real_redis = G.redis
local hidden = {}
for k, v in pairs(G) do
  if type(v) == 'table' and k ~= '_G' then v = proxy(v) end
  hidden[k] = v
end
hidden._G = G
while true do
  local k = next(G)
  if k == nil then break end
  rawset_(G, k, nil)
end
setmetatable(hidden, {__index = missing})
local gmeta = {__index = hidden, __newindex = readonly, __metatable = false, __forkv_ro = true}
setmetatable(G, gmeta)
local xpcall = xpcall
local function run(f) return xpcall(f, handler) end
local function run_fn(f, keys, args)
  return xpcall(function() return f(keys, args) end, handler)
end
-- What a library's code sees while FUNCTION LOAD runs it: only part of
-- the redis table, nothing else.
local lib
if register then
  local r = {register_function = register, log = real_redis.log,
    LOG_DEBUG = real_redis.LOG_DEBUG, LOG_VERBOSE = real_redis.LOG_VERBOSE,
    LOG_NOTICE = real_redis.LOG_NOTICE, LOG_WARNING = real_redis.LOG_WARNING,
    REDIS_VERSION = real_redis.REDIS_VERSION, REDIS_VERSION_NUM = real_redis.REDIS_VERSION_NUM}
  setmetatable(r, {__index = missing})
  lib = setmetatable({redis = proxy(r)}, {__index = missing})
end
return hidden, run, run_fn, gmeta, lib
"#;

/// `redis.call`-style trampoline: calls its Rust upvalue, which returns
/// `(failed, value...)`, and raises the value when `failed`.
unsafe extern "C-unwind" fn trampoline(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let n = ffi::lua_gettop(l);
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        ffi::lua_insert(l, 1);
        ffi::lua_call(l, n, ffi::LUA_MULTRET);
        let top = ffi::lua_gettop(l);
        if top >= 1 && ffi::lua_toboolean(l, 1) != 0 {
            ffi::lua_settop(l, 2);
            ffi::lua_error(l);
        }
        if top >= 1 {
            ffi::lua_remove(l, 1);
        }
        ffi::lua_gettop(l)
    }
}

/// Redis's `pcall`: like Lua's, but an error table `{err=...}` (what
/// `redis.call` raises) is replaced by its message.
unsafe extern "C-unwind" fn redis_pcall(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        ffi::luaL_checkany(l, 1);
        let argc = ffi::lua_gettop(l);
        ffi::lua_pushboolean(l, 1);
        ffi::lua_insert(l, 1);
        if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
            ffi::lua_remove(l, 1);
            if ffi::lua_istable(l, -1) != 0 {
                ffi::lua_getfield(l, -1, c"err".as_ptr());
                if ffi::lua_isstring(l, -1) != 0 {
                    ffi::lua_replace(l, -2);
                }
            }
            ffi::lua_pushboolean(l, 0);
            ffi::lua_insert(l, 1);
        }
        ffi::lua_gettop(l)
    }
}

/// `rawset` that refuses the protected tables, as Redis's read-only tables
/// refuse it.
unsafe extern "C-unwind" fn guarded_rawset(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
        ffi::luaL_checkany(l, 2);
        ffi::luaL_checkany(l, 3);
        if ffi::lua_getmetatable(l, 1) != 0 {
            ffi::lua_getfield(l, -1, c"__forkv_ro".as_ptr());
            let ro = ffi::lua_toboolean(l, -1) != 0;
            ffi::lua_pop(l, 2);
            if ro {
                ffi::lua_pushstring(l, c"Attempt to modify a readonly table".as_ptr());
                ffi::lua_error(l);
            }
        }
        ffi::lua_settop(l, 3);
        ffi::lua_rawset(l, 1);
        1
    }
}

thread_local! {
    /// The state of Redis's `redisLrand48` (one per process, never reseeded
    /// between scripts, as in Redis 7.0).
    static RAND48: Cell<[u32; 3]> = const { Cell::new([0x330E, 0xABCD, 0x1234]) };
}

const RAND48_MAX: i32 = i32::MAX;

fn rand48_next() -> i32 {
    RAND48.with(|c| {
        let x = c.get();
        let v = (u64::from(x[2]) << 32) | (u64::from(x[1]) << 16) | u64::from(x[0]);
        let n = v.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & 0xFFFF_FFFF_FFFF;
        c.set([
            (n & 0xFFFF) as u32,
            ((n >> 16) & 0xFFFF) as u32,
            ((n >> 32) & 0xFFFF) as u32,
        ]);
        (n >> 17) as i32
    })
}

fn rand48_seed(seed: i32) {
    let s = seed as u32;
    RAND48.with(|c| c.set([0x330E, s & 0xFFFF, s >> 16]));
}

/// Redis's `math.random` (Lua's, over `redisLrand48`).
unsafe extern "C-unwind" fn math_random(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let r = f64::from(rand48_next() % RAND48_MAX) / f64::from(RAND48_MAX);
        match ffi::lua_gettop(l) {
            0 => ffi::lua_pushnumber(l, r),
            1 => {
                let u = ffi::luaL_checkinteger(l, 1) as c_int;
                if u < 1 {
                    ffi::luaL_argerror(l, 1, c"interval is empty".as_ptr());
                }
                ffi::lua_pushnumber(l, (r * f64::from(u)).floor() + 1.0);
            }
            2 => {
                let lo = ffi::luaL_checkinteger(l, 1) as c_int;
                let u = ffi::luaL_checkinteger(l, 2) as c_int;
                if lo > u {
                    ffi::luaL_argerror(l, 2, c"interval is empty".as_ptr());
                }
                let span = f64::from(u) - f64::from(lo) + 1.0;
                ffi::lua_pushnumber(l, (r * span).floor() + f64::from(lo));
            }
            _ => {
                ffi::luaL_error(l, c"wrong number of arguments".as_ptr());
            }
        }
        1
    }
}

unsafe extern "C-unwind" fn math_randomseed(l: *mut ffi::lua_State) -> c_int {
    unsafe {
        let s = ffi::luaL_checkinteger(l, 1) as i32;
        rand48_seed(s);
        0
    }
}

/// A Lua state set up for scripts.
pub struct Engine {
    /// The interpreter.
    pub lua: Lua,
    /// The real globals (KEYS and ARGV are set here).
    pub hidden: Table,
    /// `xpcall(f, handler)`: runs a script function, returning
    /// `(true, result)` or `(false, error table)`.
    pub runner: Function,
    /// The same for a function called with its keys and arguments.
    pub fn_runner: Function,
    /// The metatable of the globals (its `__index` is what scripts see).
    pub globals_meta: Table,
    /// What library code sees while FUNCTION LOAD runs it (function
    /// engines only).
    pub lib_api: Option<Table>,
    /// Lua's own `pcall` (scripts see Redis's).
    pub raw_pcall: Function,
}

/// Wraps a Rust function returning `(failed, values...)` in the
/// trampoline, so it can raise Lua values.
pub fn raising(lua: &Lua, f: Function) -> mlua::Result<Function> {
    // SAFETY: pushes one C closure over the function given as argument.
    unsafe {
        lua.exec_raw::<Function>(f, |state| {
            ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

impl Engine {
    /// Builds a fresh state; `api` installs the `redis` table's Rust
    /// functions (given the state, before the globals are locked).
    pub fn new(
        api: impl FnOnce(&Lua, &Table) -> mlua::Result<()>,
        register: Option<fn(&Lua) -> mlua::Result<Function>>,
    ) -> mlua::Result<Engine> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // SAFETY: the debug library is needed by the error handler only;
        // it is removed from what scripts can reach before any script runs.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::new()) };
        let g = lua.globals();
        super::lib::register_all(&lua)?;
        let raw_pcall: Function = g.raw_get("pcall")?;
        // SAFETY: plain C functions without upvalues.
        unsafe {
            g.raw_set("pcall", lua.create_c_function(redis_pcall)?)?;
            g.raw_set("rawset_guarded", lua.create_c_function(guarded_rawset)?)?;
            let math: Table = g.raw_get("math")?;
            math.raw_set("random", lua.create_c_function(math_random)?)?;
            math.raw_set("randomseed", lua.create_c_function(math_randomseed)?)?;
        }
        let redis = lua.create_table()?;
        api(&lua, &redis)?;
        g.raw_set("redis", redis)?;
        let keep: Vec<String> = g
            .pairs::<Value, Value>()
            .filter_map(|kv| kv.ok())
            .filter_map(|(k, _)| match k {
                Value::String(s) => Some(s.to_string_lossy()),
                _ => None,
            })
            .collect();
        for k in keep {
            if !ALLOWED.contains(&k.as_str()) && k != "debug" && k != "rawset_guarded" {
                g.raw_set(k, Value::Nil)?;
            }
        }
        // The guarded rawset replaces Lua's; the error handler keeps the
        // debug library, which scripts do not see.
        let guarded: Value = g.raw_get("rawset_guarded")?;
        g.raw_set("rawset_guarded", Value::Nil)?;
        let setup = lua.load(SETUP).set_name(INTERNAL).into_function()?;
        g.raw_set("rawset", guarded)?;
        let register = match register {
            Some(f) => Some(f(&lua)?),
            None => None,
        };
        let (hidden, runner, fn_runner, globals_meta, lib_api): (
            Table,
            Function,
            Function,
            Table,
            Option<Table>,
        ) = setup.call((INTERNAL, register))?;
        hidden.raw_set("debug", Value::Nil)?;
        Ok(Engine {
            lua,
            hidden,
            runner,
            fn_runner,
            globals_meta,
            lib_api,
            raw_pcall,
        })
    }
}

/// A function of the `redis` table that never raises.
pub fn plain<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, Variadic<Value>) -> mlua::Result<Value> + 'static,
{
    lua.create_function(f)
}
