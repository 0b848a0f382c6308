//! Conversions between Lua values and replies, exactly as Redis 7.0 makes
//! them (`luaReplyToRedisReply`, `redisProtocolToLuaType`).

use crate::protocol::Reply;
use bytes::Bytes;
use mlua::{Lua, Table, Value};

/// Redis's Lua stack allows this many slots; converting a reply deeper
/// than that fails with `reached lua stack limit`, as in Redis.
const STACK_LIMIT: usize = 8000;

/// C's `%.17g` (how Redis turns a Lua number into a command argument).
pub fn format_g17(n: f64) -> String {
    c_format(c"%.17g", n)
}

/// A Lua number as a command argument: `%.17g`, which for integers below
/// 10^17 is their decimal form (the common case, without `snprintf`).
pub fn number_arg(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 && !(n == 0.0 && n.is_sign_negative()) {
        return (n as i64).to_string();
    }
    format_g17(n)
}

/// Lua 5.1's `tostring` of a number (`%.14g`).
pub fn lua_number_string(n: f64) -> String {
    c_format(c"%.14g", n)
}

fn c_format(fmt: &std::ffi::CStr, n: f64) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: the buffer's size is passed; the format takes one double.
    let len = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), n) };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// C's `(long long)` cast of a double on x86-64: out of range and NaN give
/// the minimum.
fn to_i64(n: f64) -> i64 {
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// An error reply from a script's text (Redis's `addReplyErrorFormat("-%s")`:
/// the code is the text up to the first space; newlines become spaces
/// when encoded).
pub fn error_text(text: String) -> Reply {
    Reply::Error(text)
}

/// Converts the value a script returned to its reply. `script_resp` is the
/// script's `redis.setresp` version, `caller_resp` the caller's protocol.
/// Tables are encoded directly for the caller (without recursion, so a
/// cyclic table ends, as in Redis, with `reached lua stack limit` at the
/// depth Redis's Lua stack allows).
pub fn to_reply(v: &Value, script_resp: u8, caller_resp: u8) -> Reply {
    match v {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) => {
            if script_resp == 2 {
                if *b { Reply::Int(1) } else { Reply::Nil }
            } else {
                Reply::Bool(*b)
            }
        }
        Value::Integer(i) => Reply::Int(*i),
        Value::Number(n) => Reply::Int(to_i64(*n)),
        Value::Table(t) => {
            let raw = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
            if let Value::String(_) = raw("err") {
                return error_text(err_message(t));
            }
            if let Some(ok) = string_of(&raw("ok")) {
                return Reply::Status(Bytes::from(one_line(ok)));
            }
            let mut e = Encoder {
                script_resp,
                v3: caller_resp >= 3,
                out: Vec::new(),
            };
            e.encode(v.clone());
            Reply::Raw(Bytes::from(e.out))
        }
        _ => Reply::Nil,
    }
}

fn err_message(t: &Table) -> String {
    match t.get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        Ok(Value::Integer(i)) => i.to_string(),
        Ok(Value::Number(n)) => lua_number_string(n),
        _ => String::new(),
    }
}

fn string_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// Replaces `\r` and `\n` with spaces (status lines and big numbers).
fn one_line(mut b: Vec<u8>) -> Vec<u8> {
    for c in b.iter_mut() {
        if *c == b'\r' || *c == b'\n' {
            *c = b' ';
        }
    }
    b
}

/// Writes a script's return value as RESP for the caller.
struct Encoder {
    script_resp: u8,
    v3: bool,
    out: Vec<u8>,
}

/// One step of the encoding: a value, with the Lua stack depth Redis's
/// recursion would be at.
struct Task(Value, usize);

impl Encoder {
    fn line(&mut self, prefix: u8, body: &[u8]) {
        self.out.push(prefix);
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\r\n");
    }

    fn len(&mut self, prefix: u8, n: usize) {
        self.line(prefix, n.to_string().as_bytes());
    }

    fn bulk(&mut self, b: &[u8]) {
        self.len(b'$', b.len());
        self.out.extend_from_slice(b);
        self.out.extend_from_slice(b"\r\n");
    }

    fn null(&mut self) {
        self.out
            .extend_from_slice(if self.v3 { b"_\r\n" } else { b"$-1\r\n" });
    }

    fn error(&mut self, msg: &[u8]) {
        if msg.first() != Some(&b'-') {
            self.out.extend_from_slice(b"-ERR ");
        }
        self.out.extend(
            msg.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.out.extend_from_slice(b"\r\n");
    }

    fn double(&mut self, d: f64) {
        let s = if d.is_infinite() {
            if d > 0.0 {
                "inf".to_string()
            } else {
                "-inf".to_string()
            }
        } else {
            format_g17(d)
        };
        if self.v3 {
            self.line(b',', s.as_bytes());
        } else {
            self.bulk(s.as_bytes());
        }
    }

    fn encode(&mut self, v: Value) {
        let mut work = vec![Task(v, 2)];
        while let Some(Task(v, top)) = work.pop() {
            if top + 4 > STACK_LIMIT {
                self.error(b"reached lua stack limit");
                continue;
            }
            match v {
                Value::String(s) => self.bulk(&s.as_bytes()),
                Value::Boolean(b) => {
                    if self.script_resp == 2 && !b {
                        self.null();
                    } else if self.script_resp == 2 || !self.v3 {
                        self.line(b':', if b { b"1" } else { b"0" });
                    } else {
                        self.line(b'#', if b { b"t" } else { b"f" });
                    }
                }
                Value::Integer(i) => self.line(b':', i.to_string().as_bytes()),
                Value::Number(n) => self.line(b':', to_i64(n).to_string().as_bytes()),
                Value::Table(t) => self.table(&t, top, &mut work),
                _ => self.null(),
            }
        }
    }

    fn table(&mut self, t: &Table, top: usize, work: &mut Vec<Task>) {
        let raw = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
        if let Value::String(_) = raw("err") {
            let msg = err_message(t);
            self.error(format!("-{msg}").as_bytes());
            return;
        }
        if let Some(ok) = string_of(&raw("ok")) {
            self.line(b'+', &one_line(ok));
            return;
        }
        match raw("double") {
            Value::Number(n) => return self.double(n),
            Value::Integer(i) => return self.double(i as f64),
            _ => {}
        }
        if let Some(big) = string_of(&raw("big_number")) {
            let big = one_line(big);
            if self.v3 {
                self.line(b'(', &big);
            } else {
                self.bulk(&big);
            }
            return;
        }
        if let Value::Table(vt) = raw("verbatim_string") {
            let format = string_of(&vt.raw_get::<Value>("format").unwrap_or(Value::Nil));
            let string = string_of(&vt.raw_get::<Value>("string").unwrap_or(Value::Nil));
            if let (Some(f), Some(s)) = (format, string) {
                if self.v3 {
                    let mut f3 = [0u8; 3];
                    for (d, c) in f3.iter_mut().zip(f.iter()) {
                        *d = *c;
                    }
                    self.len(b'=', s.len() + 4);
                    self.out.extend_from_slice(&f3);
                    self.out.push(b':');
                    self.out.extend_from_slice(&s);
                    self.out.extend_from_slice(b"\r\n");
                } else {
                    self.bulk(&s);
                }
                return;
            }
        }
        if let Value::Table(m) = raw("map") {
            let pairs: Vec<(Value, Value)> =
                m.pairs::<Value, Value>().map_while(Result::ok).collect();
            if self.v3 {
                self.len(b'%', pairs.len());
            } else {
                self.len(b'*', pairs.len() * 2);
            }
            for (k, v) in pairs.into_iter().rev() {
                work.push(Task(v, top + 3));
                work.push(Task(k, top + 3));
            }
            return;
        }
        if let Value::Table(s) = raw("set") {
            let keys: Vec<Value> = s
                .pairs::<Value, Value>()
                .map_while(Result::ok)
                .map(|(k, _)| k)
                .collect();
            self.len(if self.v3 { b'~' } else { b'*' }, keys.len());
            for k in keys.into_iter().rev() {
                work.push(Task(k, top + 3));
            }
            return;
        }
        let mut items = Vec::new();
        loop {
            let v = t
                .raw_get::<Value>(items.len() as i64 + 1)
                .unwrap_or(Value::Nil);
            if v.is_nil() {
                break;
            }
            items.push(v);
        }
        self.len(b'*', items.len());
        for v in items.into_iter().rev() {
            work.push(Task(v, top + 1));
        }
    }
}

/// Converts a command's reply to the Lua value `redis.call` returns, for
/// the script's RESP version `resp`.
pub fn to_lua(lua: &Lua, r: &Reply, resp: u8) -> mlua::Result<Value> {
    let v3 = resp >= 3;
    Ok(match r {
        Reply::Ok => status(lua, b"OK")?,
        Reply::Status(s) => status(lua, s)?,
        Reply::Error(e) => {
            let mut text = Vec::with_capacity(e.len() + 1);
            text.push(b'-');
            text.extend_from_slice(e.as_bytes());
            Value::Table(super::err_table(lua, &text)?)
        }
        Reply::Int(i) => Value::Number(*i as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Value(v) => Value::String(lua.create_string(v.as_slice())?),
        Reply::Nil | Reply::NilArray => {
            if v3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => list(lua, items, resp)?,
        Reply::Set(items) => {
            if v3 {
                let inner = lua.create_table()?;
                for i in items {
                    let k = to_lua(lua, i, resp)?;
                    if !k.is_nil() {
                        inner.raw_set(k, true)?;
                    }
                }
                wrap(lua, "set", Value::Table(inner))?
            } else {
                list(lua, items, resp)?
            }
        }
        Reply::Map(pairs) => {
            if v3 {
                let inner = lua.create_table()?;
                for (k, v) in pairs {
                    let k = to_lua(lua, k, resp)?;
                    if !k.is_nil() {
                        inner.raw_set(k, to_lua(lua, v, resp)?)?;
                    }
                }
                wrap(lua, "map", Value::Table(inner))?
            } else {
                let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
                let mut j = 1;
                for (k, v) in pairs {
                    t.raw_set(j, to_lua(lua, k, resp)?)?;
                    t.raw_set(j + 1, to_lua(lua, v, resp)?)?;
                    j += 2;
                }
                Value::Table(t)
            }
        }
        Reply::Double(d) => {
            if v3 {
                wrap(lua, "double", Value::Number(*d))?
            } else {
                let s = crate::protocol::reply::format_double(*d);
                Value::String(lua.create_string(s)?)
            }
        }
        Reply::Bool(b) => {
            if v3 {
                Value::Boolean(*b)
            } else {
                Value::Number(if *b { 1.0 } else { 0.0 })
            }
        }
        Reply::Verbatim(fmt, b) => {
            if v3 {
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(b)?)?;
                inner.raw_set("format", *fmt)?;
                wrap(lua, "verbatim_string", Value::Table(inner))?
            } else {
                Value::String(lua.create_string(b)?)
            }
        }
        Reply::Raw(b) => {
            let mut pos = 0;
            parse_resp(lua, b, &mut pos)?.unwrap_or(Value::Nil)
        }
        Reply::Many(items) => match items.first() {
            Some(first) => to_lua(lua, first, resp)?,
            None => Value::Nil,
        },
    })
}

fn status(lua: &Lua, s: &[u8]) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("ok", lua.create_string(s)?)?;
    Ok(Value::Table(t))
}

fn wrap(lua: &Lua, field: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(field, v)?;
    Ok(Value::Table(t))
}

fn list(lua: &Lua, items: &[Reply], resp: u8) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        let v = to_lua(lua, item, resp)?;
        if !v.is_nil() {
            t.raw_set(i + 1, v)?;
        }
    }
    Ok(Value::Table(t))
}

/// Parses one RESP value of a pre-encoded reply into Lua (None when the
/// bytes end early).
fn parse_resp(lua: &Lua, b: &[u8], pos: &mut usize) -> mlua::Result<Option<Value>> {
    let Some(&kind) = b.get(*pos) else {
        return Ok(None);
    };
    let Some(end) = b[*pos..].windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = &b[*pos + 1..*pos + end];
    *pos += end + 2;
    let num = || crate::util::num::parse_i64(line).unwrap_or(0);
    Ok(Some(match kind {
        b'+' => status(lua, line)?,
        b'-' => {
            let mut text = Vec::with_capacity(line.len() + 1);
            text.push(b'-');
            text.extend_from_slice(line);
            Value::Table(super::err_table(lua, &text)?)
        }
        b':' => Value::Number(num() as f64),
        b'$' | b'=' => {
            let n = num();
            if n < 0 {
                return Ok(Some(Value::Boolean(false)));
            }
            let n = n as usize;
            let Some(data) = b.get(*pos..*pos + n) else {
                return Ok(None);
            };
            *pos += n + 2;
            if kind == b'=' && data.len() >= 4 {
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(&data[4..])?)?;
                inner.raw_set("format", lua.create_string(&data[..3])?)?;
                wrap(lua, "verbatim_string", Value::Table(inner))?
            } else {
                Value::String(lua.create_string(data)?)
            }
        }
        b'*' | b'>' | b'~' | b'%' => {
            let n = num();
            if n < 0 {
                return Ok(Some(Value::Boolean(false)));
            }
            let inner = lua.create_table()?;
            for i in 0..n {
                match kind {
                    b'%' => {
                        let k = parse_resp(lua, b, pos)?.unwrap_or(Value::Nil);
                        let v = parse_resp(lua, b, pos)?.unwrap_or(Value::Nil);
                        if !k.is_nil() {
                            inner.raw_set(k, v)?;
                        }
                    }
                    b'~' => {
                        let k = parse_resp(lua, b, pos)?.unwrap_or(Value::Nil);
                        if !k.is_nil() {
                            inner.raw_set(k, true)?;
                        }
                    }
                    _ => {
                        let v = parse_resp(lua, b, pos)?.unwrap_or(Value::Nil);
                        inner.raw_set(i + 1, v)?;
                    }
                }
            }
            match kind {
                b'%' => wrap(lua, "map", Value::Table(inner))?,
                b'~' => wrap(lua, "set", Value::Table(inner))?,
                _ => Value::Table(inner),
            }
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(line == b"t"),
        b',' => {
            let s = std::str::from_utf8(line).unwrap_or("0");
            let d = match s {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                _ => s.parse().unwrap_or(0.0),
            };
            wrap(lua, "double", Value::Number(d))?
        }
        b'(' => wrap(lua, "big_number", Value::String(lua.create_string(line)?))?,
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_arguments_print_as_c_does() {
        for n in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            100.0,
            2.5,
            1e16,
            99999999999999999.0,
            1e17,
            1.5e17,
            -1e17,
            1e300,
            0.1,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(number_arg(n), format_g17(n), "{n}");
        }
        assert_eq!(number_arg(123.0), "123");
        assert_eq!(number_arg(1e17), "1e+17");
    }
}
