//! `cjson`: Lua CJSON 2.1.0 (Mark Pulford) as Redis bundles it:
//! `encode`, `decode`, the configuration functions, `new`, `null`,
//! `_NAME` and `_VERSION`.
//!
//! Behaviour follows the C code, including its quirks: `/` is escaped,
//! numbers print with `%.14g`, an empty table is `{}`, a NUL byte ends the
//! JSON text, and numbers are read with `strtod` (so hexadecimal, `inf` and
//! `nan` are accepted while `decode_invalid_numbers` is on, as it is by
//! default). Encoding and decoding walk nested data with explicit stacks
//! and count the Lua stack slots the C code would use, so cyclic or deep
//! data ends in the C code's errors at the same depth.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{LightUserData, Lua, Table, Value};

use super::{
    LibResult, MAX_C_STACK, Raise, arg_error, as_number, check_bytes, check_integer, error, lib_fn,
    type_name,
};

/// The settings one module table's functions share (`cjson.new()` makes a
/// table with its own).
#[derive(Clone)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 off, 1 on, 2 encode as `null`.
    encode_invalid_numbers: i32,
    decode_invalid_numbers: bool,
    encode_keep_buffer: bool,
    precision: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            encode_keep_buffer: true,
            precision: 14,
        }
    }
}

type Shared = Rc<RefCell<Config>>;

/// Registers the global `cjson` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = module(lua)?;
    lua.globals().raw_set("cjson", t)
}

/// `cjson.null`: a NULL light userdata, as in C.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// A module table with fresh settings.
fn module(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Shared = Rc::new(RefCell::new(Config::default()));
    let t = lua.create_table()?;
    let c = cfg.clone();
    // The base library's `next`, taken now so that scripts cannot swap it.
    let next: Option<mlua::Function> = lua.globals().raw_get("next")?;
    t.raw_set(
        "encode",
        lib_fn(lua, move |lua, a| {
            let next = match &next {
                Some(f) => f.clone(),
                None => lua.globals().raw_get("next")?,
            };
            encode(lua, &c, &next, &a)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set("decode", lib_fn(lua, move |lua, a| decode(lua, &c, &a))?)?;
    let c = cfg.clone();
    t.raw_set(
        "encode_sparse_array",
        lib_fn(lua, move |lua, a| {
            arg_init(lua, &a, 3)?;
            let mut c = c.borrow_mut();
            let mut convert = i32::from(c.sparse_convert);
            let r1 = enum_option(lua, &a, 1, &mut convert, &["off", "on"])?;
            c.sparse_convert = convert != 0;
            let r2 = int_option(lua, &a, 2, &mut c.sparse_ratio, 0, i32::MAX)?;
            let r3 = int_option(lua, &a, 3, &mut c.sparse_safe, 0, i32::MAX)?;
            Ok(vec![r1, r2, r3])
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_max_depth",
        lib_fn(lua, move |lua, a| {
            arg_init(lua, &a, 1)?;
            let v = int_option(
                lua,
                &a,
                1,
                &mut c.borrow_mut().encode_max_depth,
                1,
                i32::MAX,
            )?;
            Ok(vec![v])
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode_max_depth",
        lib_fn(lua, move |lua, a| {
            arg_init(lua, &a, 1)?;
            let v = int_option(
                lua,
                &a,
                1,
                &mut c.borrow_mut().decode_max_depth,
                1,
                i32::MAX,
            )?;
            Ok(vec![v])
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_number_precision",
        lib_fn(lua, move |lua, a| {
            arg_init(lua, &a, 1)?;
            let mut c = c.borrow_mut();
            let mut p = c.precision as i32;
            let v = int_option(lua, &a, 1, &mut p, 1, 14)?;
            c.precision = p as usize;
            Ok(vec![v])
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_keep_buffer",
        lib_fn(lua, move |lua, a| {
            // Buffer reuse is an allocation detail of the C code; only the
            // setting itself is kept.
            arg_init(lua, &a, 1)?;
            let mut c = c.borrow_mut();
            let mut v = i32::from(c.encode_keep_buffer);
            let r = enum_option(lua, &a, 1, &mut v, &["off", "on"])?;
            c.encode_keep_buffer = v != 0;
            Ok(vec![r])
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_invalid_numbers",
        lib_fn(lua, move |lua, a| {
            arg_init(lua, &a, 1)?;
            let mut c = c.borrow_mut();
            let r = enum_option(
                lua,
                &a,
                1,
                &mut c.encode_invalid_numbers,
                &["off", "on", "null"],
            )?;
            Ok(vec![r])
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode_invalid_numbers",
        lib_fn(lua, move |lua, a| {
            arg_init(lua, &a, 1)?;
            let mut c = c.borrow_mut();
            let mut v = i32::from(c.decode_invalid_numbers);
            let r = enum_option(lua, &a, 1, &mut v, &["off", "on"])?;
            c.decode_invalid_numbers = v != 0;
            Ok(vec![r])
        })?,
    )?;
    t.raw_set(
        "new",
        lib_fn(lua, |lua, _| Ok(vec![Value::Table(module(lua)?)]))?,
    )?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

// ---- configuration ----

/// At most `n` arguments; missing ones read as nil.
fn arg_init(lua: &Lua, a: &[Value], n: usize) -> LibResult<()> {
    if a.len() > n {
        return Err(arg_error(lua, n as i32 + 1, "found too many arguments"));
    }
    Ok(())
}

/// An integer setting: set it when the argument is given, return it.
fn int_option(
    lua: &Lua,
    a: &[Value],
    idx: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> LibResult<Value> {
    if !matches!(a.get(idx - 1), None | Some(Value::Nil)) {
        // luaL_checkinteger's result is stored in a C int.
        let v = check_integer(lua, a, idx)? as i32;
        if !(min <= v && v <= max) {
            // The C code names argument 1 whatever the position.
            return Err(arg_error(
                lua,
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = v;
    }
    Ok(Value::Integer(i64::from(*setting)))
}

/// An enumerated setting (`options[0]` is false, `options[1]` true): a
/// boolean or one of the names sets it; it is returned as a boolean when
/// it is off or on, else as its name.
fn enum_option(
    lua: &Lua,
    a: &[Value],
    idx: usize,
    setting: &mut i32,
    options: &[&str],
) -> LibResult<Value> {
    match a.get(idx - 1) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = i32::from(*b),
        Some(_) => {
            let s = check_bytes(lua, a, idx)?;
            let s = s.as_bytes();
            // lua_pushfstring's %s stops at a NUL byte.
            let name = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
            match options.iter().position(|o| o.as_bytes() == &s[..]) {
                Some(i) => *setting = i as i32,
                None => {
                    let mut msg = b"invalid option '".to_vec();
                    msg.extend_from_slice(name);
                    msg.push(b'\'');
                    return Err(arg_error(lua, idx as i32, msg));
                }
            }
        }
    }
    Ok(if *setting == 0 || *setting == 1 {
        Value::Boolean(*setting != 0)
    } else {
        Value::String(lua.create_string(options[*setting as usize])?)
    })
}

// ---- encoding ----

/// A table being written. The table itself waits in a Lua-side holder
/// table at index `depth`, and an object's current key in another: mlua
/// keeps each value Rust holds in a slot of a Lua stack that is as bounded
/// as the C function's, so the walk holds a fixed number of them however
/// deep or wide the data is.
struct Frame {
    /// Arrays: the next index and the length. Objects: `len` is -1.
    next: i64,
    len: i64,
    /// The C stack top while this table is on it.
    top: usize,
}

fn encode(lua: &Lua, cfg: &Shared, next: &mlua::Function, a: &[Value]) -> LibResult<Vec<Value>> {
    if a.len() != 1 {
        return Err(arg_error(lua, 1, "expected 1 argument"));
    }
    let cfg = cfg.borrow().clone();
    let tables = lua.create_table()?;
    let keys = lua.create_table()?;
    let mut out = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    // The innermost open table, also held here to save a lookup per item.
    let mut cur: Option<Table> = None;
    // The value to write next and the C stack top it sits at; the C
    // function's stack starts with its argument.
    let mut pending: Option<(Value, usize)> = Some((a[0].clone(), 1));
    loop {
        if let Some((v, top)) = pending.take() {
            let Some(t) = append_value(lua, &cfg, &mut out, v)? else {
                continue;
            };
            let depth = frames.len() as i32 + 1;
            // The C check: the depth setting, then room for a key, a value
            // and an error message on the stack.
            if depth > cfg.encode_max_depth || top + 3 > MAX_C_STACK {
                return Err(error(
                    lua,
                    format!("Cannot serialise, excessive nesting ({depth})"),
                ));
            }
            let len = array_length(lua, &cfg, &t)?;
            if len > 0 {
                out.push(b'[');
                frames.push(Frame {
                    next: 1,
                    len: i64::from(len),
                    top,
                });
            } else {
                out.push(b'{');
                frames.push(Frame {
                    next: 1,
                    len: -1,
                    top,
                });
            }
            tables.raw_set(depth, &t)?;
            keys.raw_set(depth, Value::Nil)?;
            cur = Some(t);
            continue;
        }
        let depth = frames.len() as i64;
        let Some(f) = frames.last_mut() else {
            break;
        };
        let Some(t) = cur.as_ref() else {
            break;
        };
        if f.len >= 0 {
            if f.next > f.len {
                out.push(b']');
                frames.pop();
                tables.raw_set(depth, Value::Nil)?;
                cur = tables.raw_get(depth - 1)?;
                continue;
            }
            if f.next > 1 {
                out.push(b',');
            }
            pending = Some((t.raw_get(f.next)?, f.top + 1));
            f.next += 1;
        } else {
            let key: Value = keys.raw_get(depth)?;
            let (k, v): (Value, Value) = next.call((t, key))?;
            if k.is_nil() {
                out.push(b'}');
                frames.pop();
                tables.raw_set(depth, Value::Nil)?;
                cur = tables.raw_get(depth - 1)?;
                continue;
            }
            if f.next > 1 {
                out.push(b',');
            }
            f.next += 1;
            match &k {
                Value::Integer(_) | Value::Number(_) => {
                    out.push(b'"');
                    append_number(lua, &cfg, &mut out, as_number(&k).unwrap_or(0.0))?;
                    out.extend_from_slice(b"\":");
                }
                Value::String(s) => {
                    append_string(&mut out, &s.as_bytes());
                    out.push(b':');
                }
                _ => {
                    return Err(error(
                        lua,
                        format!(
                            "Cannot serialise {}: table key must be a number or string",
                            type_name(Some(&k))
                        ),
                    ));
                }
            }
            keys.raw_set(depth, k)?;
            pending = Some((v, f.top + 2));
        }
    }
    Ok(vec![Value::String(lua.create_string(&out)?)])
}

/// Writes a value that is not a table; a table is handed back.
fn append_value(lua: &Lua, cfg: &Config, out: &mut Vec<u8>, v: Value) -> LibResult<Option<Table>> {
    match v {
        Value::String(s) => append_string(out, &s.as_bytes()),
        Value::Integer(_) | Value::Number(_) => {
            append_number(lua, cfg, out, as_number(&v).unwrap_or(0.0))?;
        }
        Value::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => return Ok(Some(t)),
        other => {
            return Err(error(
                lua,
                format!(
                    "Cannot serialise {}: type not supported",
                    type_name(Some(&other))
                ),
            ));
        }
    }
    Ok(None)
}

/// A C cast of a double to int as x86-64 does it (out of range: `i32::MIN`).
fn c_double_to_i32(d: f64) -> i32 {
    if d.is_nan() || d >= 2_147_483_648.0 || d <= -2_147_483_649.0 {
        i32::MIN
    } else {
        d as i32
    }
}

/// The array length the C code decides on: the largest key when every key
/// is a positive integer and the array is not too sparse; 0 or less means
/// "encode as an object". Keys past the range of a C int wrap the way the
/// C code's int conversion does, which also makes such tables objects.
fn array_length(lua: &Lua, cfg: &Config, t: &Table) -> LibResult<i32> {
    let mut max: i32 = 0;
    let mut items: i32 = 0;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let Some(k) = (match k {
            Value::Integer(_) | Value::Number(_) => as_number(&k),
            _ => None,
        }) else {
            return Ok(-1);
        };
        if k != 0.0 && k.floor() == k && k >= 1.0 {
            if k > f64::from(max) {
                max = c_double_to_i32(k);
            }
            items = items.wrapping_add(1);
            continue;
        }
        return Ok(-1);
    }
    if cfg.sparse_ratio > 0 && max > items.wrapping_mul(cfg.sparse_ratio) && max > cfg.sparse_safe {
        if !cfg.sparse_convert {
            return Err(error(
                lua,
                "Cannot serialise table: excessively sparse array",
            ));
        }
        return Ok(-1);
    }
    Ok(max)
}

/// The escape for each byte that needs one.
fn escape(b: u8) -> Option<&'static [u8]> {
    Some(match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'/' => b"\\/",
        0x08 => b"\\b",
        b'\t' => b"\\t",
        b'\n' => b"\\n",
        0x0c => b"\\f",
        b'\r' => b"\\r",
        0x7f => b"\\u007f",
        _ => return None,
    })
}

fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &b in s {
        if let Some(e) = escape(b) {
            out.extend_from_slice(e);
        } else if b < 0x20 {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 15)]);
        } else {
            out.push(b);
        }
    }
    out.push(b'"');
}

fn append_number(lua: &Lua, cfg: &Config, out: &mut Vec<u8>, n: f64) -> LibResult<()> {
    match cfg.encode_invalid_numbers {
        0 if !n.is_finite() => {
            return Err(error(
                lua,
                "Cannot serialise number: must not be NaN or Inf",
            ));
        }
        1 if n.is_nan() => {
            out.extend_from_slice(b"nan");
            return Ok(());
        }
        2 if !n.is_finite() => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        _ => {}
    }
    out.extend_from_slice(format_g(n, cfg.precision).as_bytes());
    Ok(())
}

/// `printf("%.<precision>g", n)`.
pub(crate) fn format_g(n: f64, precision: usize) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf".into() } else { "inf".into() };
    }
    let p = precision.max(1);
    // The exponent after rounding to p significant digits decides the style.
    let e_form = format!("{:.*e}", p - 1, n);
    let (mantissa, exp) = e_form.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    if exp < -4 || exp >= p as i32 {
        let m = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{n:.decimals$}")).to_string()
    }
}

/// `%g` drops trailing zeros of the fraction, and the point if none remain.
fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

// ---- decoding ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num,
    Bool,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Num => "T_NUMBER",
            Kind::Bool => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Kind,
    /// Where the token starts, or where the error is (0-based).
    index: usize,
    string: Vec<u8>,
    number: f64,
    boolean: bool,
    /// For `Kind::Error`: what was wrong.
    error: &'static str,
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    invalid_numbers: bool,
}

impl Parser<'_> {
    /// The byte at `i`; the C code reads a NUL-terminated string, so the
    /// end (and any NUL byte) reads as 0.
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn starts_with(&self, lit: &[u8]) -> bool {
        lit.iter()
            .enumerate()
            .all(|(i, &c)| self.at(self.pos + i) == c)
    }

    fn token(&self, kind: Kind, index: usize) -> Token {
        Token {
            kind,
            index,
            string: Vec::new(),
            number: 0.0,
            boolean: false,
            error: "",
        }
    }

    fn error_token(&self, what: &'static str) -> Token {
        let mut t = self.token(Kind::Error, self.pos);
        t.error = what;
        t
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let ch = self.at(self.pos);
        let single = match ch {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            0 => return self.token(Kind::End, start),
            _ => None,
        };
        if let Some(k) = single {
            self.pos += 1;
            return self.token(k, start);
        }
        let known = matches!(
            ch,
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'"' | b'+' | b'-'
        ) || ch.is_ascii_digit();
        if !known {
            return self.error_token("invalid token");
        }
        if ch == b'"' {
            return self.string_token();
        }
        if ch == b'-' || ch.is_ascii_digit() {
            if !self.invalid_numbers && self.is_invalid_number() {
                return self.error_token("invalid number");
            }
            return self.number_token();
        }
        if self.starts_with(b"true") {
            self.pos += 4;
            let mut t = self.token(Kind::Bool, start);
            t.boolean = true;
            return t;
        }
        if self.starts_with(b"false") {
            self.pos += 5;
            return self.token(Kind::Bool, start);
        }
        if self.starts_with(b"null") {
            self.pos += 4;
            return self.token(Kind::Null, start);
        }
        if self.invalid_numbers && self.is_invalid_number() {
            return self.number_token();
        }
        self.error_token("invalid token")
    }

    /// Forms `strtod` accepts that JSON does not: a leading `+`, hex,
    /// leading zeros, `inf` and `nan`.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let lower = |i: usize| self.at(p + i).to_ascii_lowercase();
        let word = [lower(0), lower(1), lower(2)];
        &word == b"inf" || &word == b"nan"
    }

    fn number_token(&mut self) -> Token {
        let start = self.pos;
        match strtod(self.data, start) {
            Some((n, end)) => {
                self.pos = end;
                let mut t = self.token(Kind::Num, start);
                t.number = n;
                t
            }
            None => self.error_token("invalid number"),
        }
    }

    fn string_token(&mut self) -> Token {
        let start = self.pos;
        self.pos += 1;
        let mut s = Vec::new();
        loop {
            let ch = self.at(self.pos);
            if ch == b'"' {
                break;
            }
            if ch == 0 {
                return self.error_token("unexpected end of string");
            }
            if ch != b'\\' {
                s.push(ch);
                self.pos += 1;
                continue;
            }
            let decoded = match self.at(self.pos + 1) {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b't' => b'\t',
                b'n' => b'\n',
                b'f' => 0x0c,
                b'r' => b'\r',
                b'u' => {
                    if !self.unicode_escape(&mut s) {
                        return self.error_token("invalid unicode escape code");
                    }
                    continue;
                }
                _ => return self.error_token("invalid escape code"),
            };
            s.push(decoded);
            self.pos += 2;
        }
        self.pos += 1;
        let mut t = self.token(Kind::Str, start);
        t.string = s;
        t
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0;
        for i in 0..4 {
            v = (v << 4) | char::from(self.at(at + i)).to_digit(16)?;
        }
        Some(v)
    }

    /// `\uXXXX` (or a surrogate pair of them) at `pos`, appended as UTF-8.
    fn unicode_escape(&mut self, s: &mut Vec<u8>) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            // Only a high surrogate followed by an escaped low one.
            if cp & 0x400 != 0 {
                return false;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let c = char::from_u32(cp).expect("no surrogates remain");
        let mut buf = [0u8; 4];
        s.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        self.pos += len;
        true
    }
}

/// glibc's `strtod` in the C locale at `data[start..]` (read as a C
/// string): the value and where it ends, or None when nothing converts.
fn strtod(data: &[u8], start: usize) -> Option<(f64, usize)> {
    let at = |i: usize| data.get(i).copied().unwrap_or(0);
    let mut p = start;
    while matches!(at(p), b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        p += 1;
    }
    let negative = at(p) == b'-';
    if matches!(at(p), b'+' | b'-') {
        p += 1;
    }
    let sign = |v: f64| if negative { -v } else { v };
    let word = |p: usize, w: &[u8]| {
        w.iter()
            .enumerate()
            .all(|(i, c)| at(p + i).to_ascii_lowercase() == *c)
    };
    if word(p, b"inf") {
        let end = if word(p, b"infinity") { p + 8 } else { p + 3 };
        return Some((sign(f64::INFINITY), end));
    }
    if word(p, b"nan") {
        let mut end = p + 3;
        if at(end) == b'(' {
            let mut q = end + 1;
            while at(q).is_ascii_alphanumeric() || at(q) == b'_' {
                q += 1;
            }
            if at(q) == b')' {
                end = q + 1;
            }
        }
        return Some((sign(f64::NAN), end));
    }
    if at(p) == b'0' && (at(p + 1) | 0x20) == b'x' {
        if let Some((v, end)) = hex_float(data, p + 2) {
            return Some((sign(v), end));
        }
        // "0x" without digits converts the 0 alone.
        return Some((sign(0.0), p + 1));
    }
    let digits_from = |mut q: usize| {
        while at(q).is_ascii_digit() {
            q += 1;
        }
        q
    };
    let int_end = digits_from(p);
    let mut end = int_end;
    let mut ndigits = int_end - p;
    if at(end) == b'.' {
        let frac_end = digits_from(end + 1);
        ndigits += frac_end - (end + 1);
        end = frac_end;
    }
    if ndigits == 0 {
        return None;
    }
    if matches!(at(end), b'e' | b'E') {
        let mut q = end + 1;
        if matches!(at(q), b'+' | b'-') {
            q += 1;
        }
        let exp_end = digits_from(q);
        if exp_end > q {
            end = exp_end;
        }
    }
    let text = std::str::from_utf8(&data[p..end]).ok()?;
    let v: f64 = text.parse().ok()?;
    Some((sign(v), end))
}

/// The part of a hexadecimal float after `0x`: digits, an optional point
/// and fraction, an optional binary exponent.
fn hex_float(data: &[u8], start: usize) -> Option<(f64, usize)> {
    let at = |i: usize| data.get(i).copied().unwrap_or(0);
    let mut p = start;
    let mut mant: u128 = 0;
    let mut exp: i64 = 0;
    let mut any = false;
    let mut sticky = false;
    let mut take = |c: u8, frac: bool, mant: &mut u128, exp: &mut i64| {
        let d = u128::from(char::from(c).to_digit(16).expect("hex digit"));
        if *mant >> 116 == 0 {
            *mant = (*mant << 4) | d;
            if frac {
                *exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !frac {
                *exp += 4;
            }
        }
    };
    while at(p).is_ascii_hexdigit() {
        take(at(p), false, &mut mant, &mut exp);
        any = true;
        p += 1;
    }
    if at(p) == b'.' {
        let mut q = p + 1;
        let mut frac_any = false;
        while at(q).is_ascii_hexdigit() {
            take(at(q), true, &mut mant, &mut exp);
            frac_any = true;
            q += 1;
        }
        if any || frac_any {
            p = q;
            any = true;
        }
    }
    if !any {
        return None;
    }
    if matches!(at(p), b'p' | b'P') {
        let mut q = p + 1;
        let neg = at(q) == b'-';
        if matches!(at(q), b'+' | b'-') {
            q += 1;
        }
        if at(q).is_ascii_digit() {
            let mut e: i64 = 0;
            while at(q).is_ascii_digit() {
                e = (e * 10 + i64::from(at(q) - b'0')).min(1 << 20);
                q += 1;
            }
            exp += if neg { -e } else { e };
            p = q;
        }
    }
    if sticky {
        mant |= 1;
    }
    // The mantissa converts with one rounding; scaling by a power of two is
    // exact unless the result leaves the normal range.
    let mut v = mant as f64;
    let mut e = exp.clamp(-2200, 2200) as i32;
    while e > 0 {
        let s = e.min(1000);
        v *= 2f64.powi(s);
        e -= s;
    }
    while e < 0 {
        let s = (-e).min(1000);
        v /= 2f64.powi(s);
        e += s;
    }
    Some((v, p))
}

/// A container being filled while decoding; the table itself waits in a
/// Lua-side holder table at index `depth` (see `Frame` for why).
enum Open {
    Object { key: Vec<u8> },
    Array { next: i64 },
}

impl Open {
    /// Lua stack slots the C parser holds while reading a value inside.
    fn slots(&self) -> usize {
        match self {
            Open::Object { .. } => 2,
            Open::Array { .. } => 1,
        }
    }
}

fn decode(lua: &Lua, cfg: &Shared, a: &[Value]) -> LibResult<Vec<Value>> {
    if a.len() != 1 {
        return Err(arg_error(lua, 1, "expected 1 argument"));
    }
    let cfg = cfg.borrow().clone();
    let s = check_bytes(lua, a, 1)?;
    let data = s.as_bytes();
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(error(lua, "JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut p = Parser {
        data: &data,
        pos: 0,
        invalid_numbers: cfg.decode_invalid_numbers,
    };
    let parse_error = |lua: &Lua, expected: &str, t: &Token| -> Raise {
        let found = if t.kind == Kind::Error {
            t.error
        } else {
            t.kind.name()
        };
        error(
            lua,
            format!(
                "Expected {expected} but found {found} at character {}",
                t.index + 1
            ),
        )
    };
    let tables = lua.create_table()?;
    let mut open: Vec<Open> = Vec::new();
    // The C function's stack holds its argument.
    let mut top: usize = 1;
    let mut tok = p.next_token();
    loop {
        // `tok` starts a value.
        let mut value = match tok.kind {
            Kind::Str => Value::String(lua.create_string(&tok.string)?),
            Kind::Num => Value::Number(tok.number),
            Kind::Bool => Value::Boolean(tok.boolean),
            Kind::Null => null(),
            Kind::ObjBegin | Kind::ArrBegin => {
                let is_obj = tok.kind == Kind::ObjBegin;
                let depth = open.len() + 1;
                let slots = if is_obj { 3 } else { 2 };
                if depth > cfg.decode_max_depth as usize || top + slots > MAX_C_STACK {
                    return Err(error(
                        lua,
                        format!(
                            "Found too many nested data structures ({depth}) at character {}",
                            p.pos
                        ),
                    ));
                }
                let table = lua.create_table()?;
                tok = p.next_token();
                let close = if is_obj { Kind::ObjEnd } else { Kind::ArrEnd };
                if tok.kind == close {
                    Value::Table(table)
                } else {
                    tables.raw_set(depth, table)?;
                    let o = if is_obj {
                        if tok.kind != Kind::Str {
                            return Err(parse_error(lua, "object key string", &tok));
                        }
                        let key = std::mem::take(&mut tok.string);
                        tok = p.next_token();
                        if tok.kind != Kind::Colon {
                            return Err(parse_error(lua, "colon", &tok));
                        }
                        tok = p.next_token();
                        Open::Object { key }
                    } else {
                        Open::Array { next: 1 }
                    };
                    top += o.slots();
                    open.push(o);
                    continue;
                }
            }
            _ => return Err(parse_error(lua, "value", &tok)),
        };
        // Store the finished value, closing the containers it completes.
        loop {
            let depth = open.len();
            let Some(o) = open.last_mut() else {
                tok = p.next_token();
                if tok.kind != Kind::End {
                    return Err(parse_error(lua, "the end", &tok));
                }
                return Ok(vec![value]);
            };
            match o {
                Open::Object { key } => {
                    let table: Table = tables.raw_get(depth)?;
                    table.raw_set(lua.create_string(&*key)?, value)?;
                    tok = p.next_token();
                    if tok.kind == Kind::Comma {
                        tok = p.next_token();
                        if tok.kind != Kind::Str {
                            return Err(parse_error(lua, "object key string", &tok));
                        }
                        *key = std::mem::take(&mut tok.string);
                        tok = p.next_token();
                        if tok.kind != Kind::Colon {
                            return Err(parse_error(lua, "colon", &tok));
                        }
                        tok = p.next_token();
                        break;
                    }
                    if tok.kind != Kind::ObjEnd {
                        return Err(parse_error(lua, "comma or object end", &tok));
                    }
                }
                Open::Array { next } => {
                    let table: Table = tables.raw_get(depth)?;
                    table.raw_set(*next, value)?;
                    *next += 1;
                    tok = p.next_token();
                    if tok.kind == Kind::Comma {
                        tok = p.next_token();
                        break;
                    }
                    if tok.kind != Kind::ArrEnd {
                        return Err(parse_error(lua, "comma or array end", &tok));
                    }
                }
            }
            let done = open.pop().expect("checked above");
            top -= done.slots();
            value = tables.raw_get(depth)?;
            tables.raw_set(depth, Value::Nil)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_g;

    /// Cases captured from Redis 7.0.15 (see testdata/capture.py).
    #[test]
    fn matches_redis() {
        let n = super::super::testutil::run_expected(include_str!("testdata/cjson.expected"));
        assert!(n >= 100);
    }

    /// Random inputs from testdata/gen_fuzz.py, captured from Redis 7.0.15.
    #[test]
    fn matches_redis_on_generated_inputs() {
        super::super::testutil::run_expected(include_str!("testdata/cjson_fuzz.expected"));
    }

    #[test]
    fn format_g_matches_printf() {
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e300, 14), "1e+300");
        assert_eq!(format_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(format_g(0.0001, 14), "0.0001");
        assert_eq!(format_g(0.00001, 14), "1e-05");
        assert_eq!(format_g(-0.0, 14), "-0");
        assert_eq!(format_g(100.0, 1), "1e+02");
    }
}
