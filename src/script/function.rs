//! FUNCTION libraries (Redis's `functions.c`, `function_lua.c`): their own
//! Lua state, loading a library (`#!lua name=...` and
//! `redis.register_function`), and the registry FCALL looks functions up
//! in.
//!
//! While a library's code runs at load time it sees only Redis's library
//! API (`redis.register_function`, `redis.log` and its levels, the version
//! fields); its functions, called later, see the full script environment
//! and get their keys and arguments as parameters.

use super::engine::{self, Engine};
use super::{Target, flags};
use bytes::Bytes;
use mlua::{Function, Lua, Value, Variadic};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// A registered function.
pub struct Func {
    /// Its description (`description=` of the named form).
    pub desc: Option<Bytes>,
    /// Its flags ([`flags`], never `EVAL_COMPAT`).
    pub flags: u32,
    /// The callback.
    pub callback: Function,
}

/// A loaded library.
pub struct Library {
    /// The whole code as given to FUNCTION LOAD.
    pub code: Bytes,
    /// Its functions by name.
    pub functions: BTreeMap<String, Func>,
}

/// The libraries and the Lua state they live in.
pub struct Functions {
    /// None only while a function runs.
    pub(super) engine: Option<Box<Engine>>,
    /// Libraries by name.
    pub libs: BTreeMap<String, Library>,
    /// Function name to library name.
    index: HashMap<String, String>,
    /// Memory of the state when a function last ran.
    pub(super) lua_mem: usize,
}

thread_local! {
    /// The functions a library registers while FUNCTION LOAD runs it.
    static LOADING: RefCell<Option<BTreeMap<String, Func>>> = const { RefCell::new(None) };
}

impl Default for Functions {
    fn default() -> Self {
        let engine =
            Engine::new(super::register_api, Some(register_fn)).expect("the Lua state starts");
        super::watch_busy(&engine.lua);
        let lua_mem = engine.lua.used_memory();
        Functions {
            engine: Some(Box::new(engine)),
            libs: BTreeMap::new(),
            index: HashMap::new(),
            lua_mem,
        }
    }
}

/// Library and function names: letters, digits and underscores.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

fn register_fn(lua: &Lua) -> mlua::Result<Function> {
    engine::raising(lua, lua.create_function(register_function)?)
}

fn string_arg(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(super::convert::lua_number_string(*i as f64).into_bytes()),
        Value::Number(n) => Some(super::convert::lua_number_string(*n).into_bytes()),
        _ => None,
    }
}

/// `redis.register_function(name, callback)` or
/// `redis.register_function{function_name=..., callback=..., flags=..., description=...}`.
fn register_function(lua: &Lua, args: Variadic<Value>) -> mlua::Result<(bool, Value)> {
    if LOADING.with(|l| l.borrow().is_none()) {
        return super::raise(
            lua,
            "redis.register_function can only be called on FUNCTION LOAD command",
        );
    }
    if args.is_empty() || args.len() > 2 {
        return super::raise(lua, "wrong number of arguments to redis.register_function");
    }
    let (name, desc, callback, fflags) = if args.len() == 1 {
        let Value::Table(t) = &args[0] else {
            return super::raise(
                lua,
                "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
            );
        };
        let (mut name, mut desc, mut callback, mut fflags) = (None, None, None, 0u32);
        for kv in t.pairs::<Value, Value>() {
            let (k, v) = kv?;
            let Some(key) = string_arg(&k) else {
                return super::raise(
                    lua,
                    "named argument key given to redis.register_function is not a string",
                );
            };
            let key = String::from_utf8_lossy(&key).to_ascii_lowercase();
            match key.as_str() {
                "function_name" => match string_arg(&v) {
                    Some(s) => name = Some(s),
                    None => {
                        return super::raise(
                            lua,
                            "function_name argument given to redis.register_function must be a string",
                        );
                    }
                },
                "description" => match string_arg(&v) {
                    Some(s) => desc = Some(Bytes::from(s)),
                    None => {
                        return super::raise(
                            lua,
                            "description argument given to redis.register_function must be a string",
                        );
                    }
                },
                "callback" => match v {
                    Value::Function(f) => callback = Some(f),
                    _ => {
                        return super::raise(
                            lua,
                            "callback argument given to redis.register_function must be a function",
                        );
                    }
                },
                "flags" => {
                    let Value::Table(ft) = v else {
                        return super::raise(
                            lua,
                            "flags argument to redis.register_function must be a table representing function flags",
                        );
                    };
                    for fv in ft.pairs::<Value, Value>() {
                        let (_, f) = fv?;
                        let Value::String(s) = f else {
                            return super::raise(lua, "unknown flag given");
                        };
                        let s = s.to_string_lossy();
                        match flags::NAMES
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(&s))
                        {
                            Some((_, bit)) => fflags |= bit,
                            None => return super::raise(lua, "unknown flag given"),
                        }
                    }
                }
                _ => {
                    return super::raise(lua, "unknown argument given to redis.register_function");
                }
            }
        }
        let Some(name) = name else {
            return super::raise(
                lua,
                "redis.register_function must get a function name argument",
            );
        };
        let Some(callback) = callback else {
            return super::raise(lua, "redis.register_function must get a callback argument");
        };
        (name, desc, callback, fflags)
    } else {
        let Some(name) = string_arg(&args[0]) else {
            return super::raise(
                lua,
                "first argument to redis.register_function must be a string",
            );
        };
        let Value::Function(f) = &args[1] else {
            return super::raise(
                lua,
                "second argument to redis.register_function must be a function",
            );
        };
        (name, None, f.clone(), 0)
    };
    if !valid_name(&name) {
        return super::raise(lua, BAD_NAME);
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    let dup = LOADING.with(|l| {
        let mut l = l.borrow_mut();
        let Some(map) = l.as_mut() else {
            return false;
        };
        if map.contains_key(&name) {
            return true;
        }
        map.insert(
            name,
            Func {
                desc,
                flags: fflags,
                callback,
            },
        );
        false
    });
    if dup {
        return super::raise(lua, "Function already exists in the library");
    }
    Ok((false, Value::Nil))
}

/// The library metadata line: `(engine, name, length of the line)`.
fn metadata(code: &[u8]) -> Result<(Vec<u8>, Vec<u8>, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let parts = match crate::util::split::split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(p[5..].to_vec());
            continue;
        }
        return Err(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(p)
        ));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    Ok((engine, name, end))
}

impl Functions {
    /// Memory of the functions' Lua state.
    pub fn lua_memory(&self) -> usize {
        self.engine
            .as_ref()
            .map_or(self.lua_mem, |e| e.lua.used_memory())
    }

    /// Number of functions.
    pub fn function_count(&self) -> usize {
        self.index.len()
    }

    /// Bytes of library code (INFO used_memory_functions).
    pub fn code_memory(&self) -> usize {
        self.libs.values().map(|l| l.code.len()).sum()
    }

    /// The function `name` for FCALL.
    pub fn target(&self, name: &[u8]) -> Option<Target> {
        let name = std::str::from_utf8(name).ok()?;
        let lib = self.index.get(name)?;
        let f = self.libs.get(lib)?.functions.get(name)?;
        Some(Target {
            func: f.callback.clone(),
            flags: f.flags,
            name: name.to_string(),
            eval: false,
        })
    }

    /// FUNCTION DELETE: false if there is no such library.
    pub fn delete(&mut self, name: &[u8]) -> bool {
        let Some(lib) = std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.libs.remove(n))
        else {
            return false;
        };
        for f in lib.functions.keys() {
            self.index.remove(f);
        }
        true
    }

    /// FUNCTION FLUSH.
    pub fn flush(&mut self) {
        self.libs.clear();
        self.index.clear();
        if let Some(e) = self.engine.as_ref() {
            let _ = e.lua.gc_collect();
        }
    }

    /// FUNCTION LOAD: the library's name, or Redis's error text.
    pub fn load(&mut self, code: &Bytes, replace: bool) -> Result<String, String> {
        let (engine_name, name, line_len) = metadata(code)?;
        if !valid_name(&name) {
            return Err(format!("ERR {BAD_NAME}"));
        }
        if !engine_name.eq_ignore_ascii_case(b"lua") {
            return Err(format!(
                "ERR Engine '{}' not found",
                String::from_utf8_lossy(&engine_name)
            ));
        }
        let name = String::from_utf8_lossy(&name).into_owned();
        if self.libs.contains_key(&name) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let Some(engine) = self.engine.as_ref() else {
            return Err("ERR scripting engine is busy".into());
        };
        let chunk = engine
            .lua
            .load(&code[line_len..])
            .set_name("@user_function")
            .set_mode(mlua::chunk::ChunkMode::Text)
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                format!("ERR Error compiling function: {msg}")
            })?;
        let functions = run_library(engine, &chunk)?;
        if functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        for f in functions.keys() {
            if self.index.get(f).is_some_and(|lib| *lib != name) {
                return Err(format!("ERR Function {f} already exists"));
            }
        }
        self.delete(name.as_bytes());
        for f in functions.keys() {
            self.index.insert(f.clone(), name.clone());
        }
        self.libs.insert(
            name.clone(),
            Library {
                code: code.clone(),
                functions,
            },
        );
        Ok(name)
    }
}

/// Runs a library's code with the library API as its globals; the
/// functions it registered.
fn run_library(engine: &Engine, chunk: &Function) -> Result<BTreeMap<String, Func>, String> {
    let lib_api = engine.lib_api.as_ref().ok_or("ERR no library API")?;
    let set_index = |v: Value| engine.globals_meta.raw_set("__index", v);
    set_index(Value::Table(lib_api.clone())).map_err(|e| format!("ERR {e}"))?;
    LOADING.with(|l| *l.borrow_mut() = Some(BTreeMap::new()));
    let out = engine.raw_pcall.call::<(bool, Value)>(chunk);
    let registered = LOADING.with(|l| l.borrow_mut().take()).unwrap_or_default();
    let _ = set_index(Value::Table(engine.hidden.clone()));
    match out {
        Ok((true, _)) => Ok(registered),
        Ok((false, err)) => {
            let msg = match &err {
                Value::String(s) => format!("ERR {}", s.to_string_lossy()),
                Value::Integer(i) => format!("ERR {i}"),
                Value::Number(n) => format!("ERR {}", super::convert::lua_number_string(*n)),
                Value::Table(t) => match t.get::<Value>("err") {
                    Ok(Value::String(s)) => s.to_string_lossy(),
                    _ => "ERR unknown error".into(),
                },
                _ => "ERR unknown error".into(),
            };
            Err(format!("ERR Error registering functions: {msg}"))
        }
        Err(e) => Err(format!("ERR Error registering functions: {e}")),
    }
}
