//! The C libraries Redis bundles into its Lua scripting environment,
//! rewritten in Rust: `cjson`, `cmsgpack`, `bit` and `struct`. Each module
//! registers one global table and matches Redis 7.0.15's behaviour,
//! including its error texts.
//!
//! This file owns what the four share: how a Rust function becomes a Lua
//! function that raises errors the way a C library does (a plain string,
//! prefixed with the caller's position, as `luaL_error` makes it), and the
//! `lauxlib` argument checks with their exact messages.

use std::ffi::c_int;

use mlua::{Function, LightUserData, Lua, MultiValue, Value, ffi};

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

/// Registers every bundled library as a global table in `lua`.
pub fn register_all(lua: &mlua::Lua) -> mlua::Result<()> {
    cjson::register(lua)?;
    cmsgpack::register(lua)?;
    bit::register(lua)?;
    structlib::register(lua)?;
    Ok(())
}

/// How deep the Lua stack of one C function may grow (`LUAI_MAXCSTACK` in
/// Redis's Lua). The C libraries stop at this limit, some with their own
/// error text, so the Rust versions count the slots the C code would use.
pub(crate) const MAX_C_STACK: usize = 8000;

/// Why a library function failed.
pub(crate) enum Raise {
    /// An error the script sees as this string (already prefixed).
    Msg(Vec<u8>),
    /// A failure of the Lua state itself (memory), passed on as is.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Raise {
    fn from(e: mlua::Error) -> Self {
        Raise::Lua(e)
    }
}

pub(crate) type LibResult<T> = Result<T, Raise>;

/// The marker a Rust body returns in first position to ask the trampoline
/// to raise the second value; its address is unique to this crate.
static RAISE_MARK: u8 = 1;

/// The marker for "the results are in the table that follows, this many":
/// mlua needs a few stack slots of its own to return values, so a body that
/// returns as many values as the C function could (up to the C stack limit)
/// hands them over in a table for the trampoline to push.
static BULK_MARK: u8 = 2;

/// Results above this count travel in a table.
const BULK_OVER: usize = 64;

fn mark(m: &'static u8) -> *mut std::ffi::c_void {
    std::ptr::from_ref(m) as *mut std::ffi::c_void
}

/// Whether stack slot `idx` holds the light userdata `m`.
unsafe fn is_mark(state: *mut ffi::lua_State, idx: c_int, m: &'static u8) -> bool {
    unsafe {
        ffi::lua_type(state, idx) == ffi::LUA_TLIGHTUSERDATA
            && ffi::lua_touserdata(state, idx) == mark(m)
    }
}

/// The C function every library function is seen through. mlua raises a
/// Rust error as a userdata, but scripts expect the C libraries' plain
/// strings (they compare them, return them with `redis.error_reply`), so the
/// Rust body (upvalue 1) returns a marker and the message instead, and this
/// raises the message with `lua_error`. Being a C function itself also keeps
/// the call-stack shape of the C libraries: a body looks one level up for
/// the name it was called by and two levels up for the caller's position,
/// whether or not the script called it in tail position.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    // No Rust value with a destructor lives in this frame: both `lua_call`
    // and `lua_error` may jump over it.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        let nresults = ffi::lua_gettop(state);
        if nresults == 2 && is_mark(state, 1, &RAISE_MARK) {
            ffi::lua_error(state);
        }
        if nresults == 3 && is_mark(state, 1, &BULK_MARK) {
            let n = ffi::lua_tointeger(state, 3) as c_int;
            ffi::lua_settop(state, 2);
            ffi::lua_remove(state, 1);
            if ffi::lua_checkstack(state, n) == 0 {
                ffi::lua_pushstring(state, c"stack overflow (too many results)".as_ptr());
                ffi::lua_error(state);
            }
            for i in 1..=n {
                ffi::lua_rawgeti(state, 1, ffi::lua_Integer::from(i));
            }
            return n;
        }
        nresults
    }
}

/// The results of a body that may return thousands of values, already
/// stored in `table` at 1..=n (see `BULK_MARK`): collecting them in a Rust
/// vector would hold one mlua reference per string or table, and those live
/// on a stack as bounded as the C function's.
pub(crate) fn bulk(table: mlua::Table, n: usize) -> Vec<Value> {
    vec![
        Value::LightUserData(LightUserData(mark(&BULK_MARK))),
        Value::Table(table),
        Value::Integer(n as i64),
    ]
}

/// Makes a Lua function of a library body. The body gets the arguments as
/// passed (their count is the number of values: absent is not nil).
pub(crate) fn lib_fn<F>(lua: &Lua, body: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, Vec<Value>) -> LibResult<Vec<Value>> + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| {
        match body(lua, args.into_vec()) {
            Ok(v) if v.len() > BULK_OVER => {
                let n = v.len();
                let t = lua.create_table_with_capacity(n, 0)?;
                for (i, x) in v.into_iter().enumerate() {
                    t.raw_set(i + 1, x)?;
                }
                Ok(MultiValue::from_vec(vec![
                    Value::LightUserData(LightUserData(mark(&BULK_MARK))),
                    Value::Table(t),
                    Value::Integer(n as i64),
                ]))
            }
            Ok(v) => Ok(MultiValue::from_vec(v)),
            Err(Raise::Msg(m)) => Ok(MultiValue::from_vec(vec![
                Value::LightUserData(LightUserData(mark(&RAISE_MARK))),
                Value::String(lua.create_string(m)?),
            ])),
            // A Lua error met on the way (a metamethod's) stays the string
            // it was, as it would through the C code.
            Err(Raise::Lua(mlua::Error::RuntimeError(m))) => Ok(MultiValue::from_vec(vec![
                Value::LightUserData(LightUserData(mark(&RAISE_MARK))),
                Value::String(lua.create_string(m)?),
            ])),
            Err(Raise::Lua(e)) => Err(e),
        }
    })?;
    // SAFETY: the closure only moves the value pushed for it into the
    // upvalue of a new C closure, which is what exec_raw returns.
    unsafe {
        lua.exec_raw(inner, |state| {
            ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

/// `luaL_where(L, 1)` as seen from the C function: the position of the Lua
/// code that called the library ("user_script:1: "), or nothing when a C
/// function (pcall) called it.
fn where_prefix(lua: &Lua) -> Vec<u8> {
    lua.inspect_stack(2, |d| {
        let line = d.current_line()?;
        let src = d.source().short_src?.into_owned();
        Some(format!("{src}:{line}: ").into_bytes())
    })
    .flatten()
    .unwrap_or_default()
}

/// `luaL_error`: the message with the caller's position in front.
pub(crate) fn error(lua: &Lua, msg: impl AsRef<[u8]>) -> Raise {
    let mut m = where_prefix(lua);
    m.extend_from_slice(msg.as_ref());
    Raise::Msg(m)
}

/// `luaL_argerror`: "bad argument #N to 'name' (msg)", naming the function
/// the way the caller referred to it.
pub(crate) fn arg_error(lua: &Lua, narg: i32, extramsg: impl AsRef<[u8]>) -> Raise {
    let (name, what) = lua
        .inspect_stack(1, |d| {
            let n = d.names();
            (n.name.map(|s| s.into_owned()), n.name_what)
        })
        .unwrap_or((None, None));
    let name = name.unwrap_or_else(|| "?".into());
    let mut narg = narg;
    let mut msg = Vec::new();
    if what == Some("method") {
        narg -= 1;
        if narg == 0 {
            msg.extend_from_slice(format!("calling '{name}' on bad self (").as_bytes());
        }
    }
    if msg.is_empty() {
        msg.extend_from_slice(format!("bad argument #{narg} to '{name}' (").as_bytes());
    }
    msg.extend_from_slice(extramsg.as_ref());
    msg.push(b')');
    error(lua, msg)
}

/// `luaL_typename`, with "no value" for an argument that was not passed.
pub(crate) fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::LightUserData(_)) | Some(Value::UserData(_)) | Some(Value::Error(_)) => {
            "userdata"
        }
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// `luaL_typerror`.
pub(crate) fn type_error(lua: &Lua, args: &[Value], narg: usize, expected: &str) -> Raise {
    let got = type_name(args.get(narg - 1));
    arg_error(lua, narg as i32, format!("{expected} expected, got {got}"))
}

/// A Lua number as a double (mlua splits integral values off).
pub(crate) fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// `lua_tonumber`: numbers, and strings Lua can convert; 0 otherwise.
pub(crate) fn to_number(lua: &Lua, v: Option<&Value>) -> mlua::Result<Option<f64>> {
    match v {
        None => Ok(None),
        Some(v) => match as_number(v) {
            Some(n) => Ok(Some(n)),
            None if matches!(v, Value::String(_)) => lua.coerce_number(v.clone()),
            None => Ok(None),
        },
    }
}

/// `luaL_checknumber`.
pub(crate) fn check_number(lua: &Lua, args: &[Value], narg: usize) -> LibResult<f64> {
    match to_number(lua, args.get(narg - 1))? {
        Some(n) => Ok(n),
        None => Err(type_error(lua, args, narg, "number")),
    }
}

/// A C cast of a double to a 64-bit integer as x86-64 does it: values out
/// of range and NaN become the "integer indefinite" `i64::MIN` (Rust's `as`
/// saturates instead).
pub(crate) fn c_double_to_i64(d: f64) -> i64 {
    if d.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// `luaL_checkinteger` (a truncating cast of the number).
pub(crate) fn check_integer(lua: &Lua, args: &[Value], narg: usize) -> LibResult<i64> {
    Ok(c_double_to_i64(check_number(lua, args, narg)?))
}

/// `luaL_optinteger`: `def` when the argument is absent or nil.
pub(crate) fn opt_integer(lua: &Lua, args: &[Value], narg: usize, def: i64) -> LibResult<i64> {
    match args.get(narg - 1) {
        None | Some(Value::Nil) => Ok(def),
        Some(_) => check_integer(lua, args, narg),
    }
}

/// `luaL_checklstring`: strings, and numbers in Lua's own formatting.
pub(crate) fn check_bytes(lua: &Lua, args: &[Value], narg: usize) -> LibResult<mlua::LuaString> {
    let v = args.get(narg - 1);
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => match lua.coerce_string(v.clone())? {
            Some(s) => Ok(s),
            None => Err(type_error(lua, args, narg, "string")),
        },
        _ => Err(type_error(lua, args, narg, "string")),
    }
}

/// A new table set as global `name`, for a module's functions.
pub(crate) fn new_module(lua: &Lua, name: &str) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    lua.globals().raw_set(name, t.clone())?;
    Ok(t)
}

/// The harness for the captured cases in `testdata/`: each `NAME.expected`
/// holds Lua chunks and the raw RESP2 reply Redis 7.0.15 gave for
/// `EVAL <prelude.lua + chunk> 0` (see `testdata/capture.py`; the chunks
/// come from the hand-written `NAME.cases` and from `NAME_fuzz.cases`,
/// which `testdata/gen_fuzz.py` generates with a fixed seed). A test runs
/// the same text here and turns the result into a reply by Redis's rules,
/// so any difference in a value, a byte or an error text fails it.
#[cfg(test)]
pub(crate) mod testutil {
    use mlua::{Lua, Value};

    const PRELUDE: &str = include_str!("testdata/prelude.lua");

    fn unescape(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' && i + 1 < b.len() {
                match b[i + 1] {
                    b'\\' => out.push(b'\\'),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b'x' => {
                        let h = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                        out.push(u8::from_str_radix(h, 16).unwrap());
                        i += 4;
                        continue;
                    }
                    c => panic!("bad escape \\{}", c as char),
                }
                i += 2;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    /// Redis's conversion of a script's return value (luaReplyToRedisReply).
    fn reply(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::String(s) => {
                let b = s.as_bytes();
                out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                out.extend_from_slice(&b);
                out.extend_from_slice(b"\r\n");
            }
            Value::Boolean(true) => out.extend_from_slice(b":1\r\n"),
            Value::Integer(i) => out.extend_from_slice(format!(":{i}\r\n").as_bytes()),
            Value::Number(n) => {
                out.extend_from_slice(format!(":{}\r\n", super::c_double_to_i64(*n)).as_bytes())
            }
            Value::Table(t) => {
                if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                    out.push(b'-');
                    out.extend_from_slice(&e.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    return;
                }
                if let Ok(Value::String(e)) = t.raw_get::<Value>("ok") {
                    out.push(b'+');
                    out.extend_from_slice(&e.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    return;
                }
                let mut items = Vec::new();
                for i in 1.. {
                    let v: Value = t.raw_get(i).unwrap();
                    if v.is_nil() {
                        break;
                    }
                    items.push(v);
                }
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for v in &items {
                    reply(v, out);
                }
            }
            _ => out.extend_from_slice(b"$-1\r\n"),
        }
    }

    /// Runs every case of a `.expected` file, each in a new Lua state (the
    /// capture flushed Redis's scripting state between cases), and fails
    /// on any difference.
    pub(crate) fn run_expected(text: &str) -> usize {
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len().is_multiple_of(2) && !lines.is_empty());
        let mut failures = Vec::new();
        for pair in lines.chunks(2) {
            let chunk = unescape(pair[0]);
            let want = unescape(pair[1]);
            let lua = Lua::new();
            super::register_all(&lua).unwrap();
            let mut src = PRELUDE.as_bytes().to_vec();
            src.extend_from_slice(&chunk);
            let (got, matches) = match lua.load(&src).set_name("@user_script").eval::<Value>() {
                Ok(v) => {
                    let mut out = Vec::new();
                    reply(&v, &mut out);
                    let same = out == want;
                    (out, same)
                }
                // Redis appends the script's SHA1 and position to an error
                // that escapes the script; compare the message before them.
                Err(e) => {
                    let msg = match &e {
                        mlua::Error::RuntimeError(m) => m.clone(),
                        other => other.to_string(),
                    };
                    let msg = msg.split("\nstack traceback:").next().unwrap_or_default();
                    let out = format!("-ERR {msg} script: ").into_bytes();
                    let same = want.starts_with(&out);
                    (out, same)
                }
            };
            if !matches {
                failures.push(format!(
                    "case: {}\n want: {}\n  got: {}",
                    String::from_utf8_lossy(&chunk),
                    String::from_utf8_lossy(&want).escape_debug(),
                    String::from_utf8_lossy(&got).escape_debug()
                ));
            }
        }
        for f in &failures {
            eprintln!("{f}");
        }
        assert!(
            failures.is_empty(),
            "{} of {} cases differ",
            failures.len(),
            lines.len() / 2
        );
        lines.len() / 2
    }
}

#[cfg(test)]
mod tests {
    use mlua::Lua;

    /// Arbitrary bytes and formats through every entry point that parses
    /// input: whatever Redis would answer (the captured cases check that),
    /// nothing may panic or escape as a non-string error.
    #[test]
    fn arbitrary_input_raises_only_string_errors() {
        let lua = Lua::new();
        super::register_all(&lua).unwrap();
        let run = lua
            .load(
                r#"
                local data, fmt, n = ...
                -- Counting the results keeps pcall from returning many
                -- values, which trips an assertion of the debug build of
                -- Lua 5.1 (its pcall pushes one value past the results).
                local function count(...) return select('#', ...) end
                local calls = {
                  function() return count(cjson.decode(data)) end,
                  function() return count(cmsgpack.unpack(data)) end,
                  function() return count(cmsgpack.unpack_one(data, n % 7)) end,
                  function() return count(cmsgpack.unpack_limit(data, n % 5, n % 3)) end,
                  function() return count(struct.unpack(fmt, data, n % 4 + 1)) end,
                  function() return struct.pack(fmt, n, data, -n, n / 7, data) end,
                  function() return struct.size(fmt) end,
                  function() return cjson.encode({cmsgpack.unpack(data)}) end,
                  function() return cmsgpack.pack(cjson.decode(data)) end,
                  function() return bit.tohex(n, n % 20 - 10) end,
                }
                for _, f in ipairs(calls) do
                  local ok, err = pcall(f)
                  if not ok and type(err) ~= 'string' then
                    error('non-string error: ' .. tostring(err))
                  end
                end
                "#,
            )
            .into_function()
            .unwrap();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const INTERESTING: &[u8] = b"[]{}\",:\\u0123456789eE+-.tfnx \x00\x80\x90\x91\x81\xa1\xc0\xc2\xc3\xca\xcb\xcc\xcd\xce\xcf\xd0\xd3\xd9\xdc\xdd\xde\xdf\xff";
        const FMT: &[u8] = b"<>!bBhHlLTiIcsxfd 0123456789";
        for _ in 0..20000 {
            let len = (next() % 40) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 3 == 0 {
                        r as u8
                    } else {
                        INTERESTING[(r >> 8) as usize % INTERESTING.len()]
                    }
                })
                .collect();
            let flen = (next() % 8) as usize;
            let fmt: Vec<u8> = (0..flen)
                .map(|_| FMT[next() as usize % FMT.len()])
                .collect();
            let n = (next() % 2000) as i64 - 1000;
            let data = lua.create_string(&data).unwrap();
            let fmt = lua.create_string(&fmt).unwrap();
            run.call::<()>((data, fmt, n)).unwrap();
        }
    }
}
