//! `cmsgpack`: MessagePack for Lua (lua-cmsgpack 0.4.0 by Salvatore
//! Sanfilippo) as Redis bundles it: `pack`, `unpack`, `unpack_one`,
//! `unpack_limit`.
//!
//! The encoder follows the C code's choices byte for byte: integral numbers
//! use the smallest integer encoding, other numbers float 32 when the value
//! survives a round trip through a float, else float 64; a table is an array
//! when its keys are exactly 1..n, otherwise a map; tables nested 16 deep
//! are written as nil (which is how cycles end). The decoder knows the
//! formats the C code knows (no bin, ext or fixext) and counts the Lua stack
//! slots the C code would use, so that deep or long inputs fail with the
//! same messages instead of exhausting anything.

use mlua::{Lua, Table, Value};

use super::{
    LibResult, MAX_C_STACK, Raise, arg_error, as_number, bulk, c_double_to_i64, check_bytes,
    check_integer, error, lib_fn, new_module, opt_integer,
};

/// Tables nested this deep are encoded as nil.
const MAX_NESTING: usize = 16;

/// Registers the global `cmsgpack` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = new_module(lua, "cmsgpack")?;
    t.raw_set("pack", lib_fn(lua, pack)?)?;
    t.raw_set(
        "unpack",
        lib_fn(lua, |lua, a| unpack_full(lua, &a, 0, 0, a.len()))?,
    )?;
    t.raw_set("unpack_one", lib_fn(lua, unpack_one)?)?;
    t.raw_set("unpack_limit", lib_fn(lua, unpack_limit)?)?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(())
}

// ---- encoding ----

fn pack(lua: &Lua, args: Vec<Value>) -> LibResult<Vec<Value>> {
    let nargs = args.len();
    if nargs == 0 {
        return Err(arg_error(lua, 0, "MessagePack pack needs input."));
    }
    if 2 * nargs > MAX_C_STACK {
        return Err(arg_error(
            lua,
            0,
            "Too many arguments for MessagePack pack.",
        ));
    }
    let mut buf = Vec::new();
    for (i, v) in args.iter().enumerate() {
        // Stack: the arguments, the packed results so far, this argument.
        let top = nargs + i + 1;
        encode(lua, &mut buf, v, 0, top)?;
    }
    Ok(vec![Value::String(lua.create_string(&buf)?)])
}

/// `luaL_checkstack(L, n, what)` for a C function whose stack holds `top`.
fn check_stack(lua: &Lua, top: usize, n: usize, what: &str) -> LibResult<()> {
    if top + n > MAX_C_STACK {
        return Err(error(lua, format!("stack overflow ({what})")));
    }
    Ok(())
}

fn encode(lua: &Lua, buf: &mut Vec<u8>, v: &Value, level: usize, top: usize) -> LibResult<()> {
    match v {
        Value::String(s) => encode_bytes(buf, &s.as_bytes()),
        Value::Boolean(b) => buf.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => {
            let n = as_number(v).unwrap_or(0.0);
            // An int64 round trip, as the C macro tests it (NaN, infinities
            // and 2^63 fail it).
            if !n.is_infinite() && c_double_to_i64(n) as f64 == n {
                encode_int(buf, c_double_to_i64(n));
            } else {
                encode_double(buf, n);
            }
        }
        Value::Table(t) if level < MAX_NESTING => {
            if table_is_an_array(lua, t, top)? {
                let len = t.raw_len();
                encode_header(buf, len as u64, 0x90, 0xdc, 0xdd);
                check_stack(lua, top, 1, "in function mp_encode_lua_table_as_array")?;
                for j in 1..=len {
                    let item: Value = t.get(j)?;
                    encode(lua, buf, &item, level + 1, top + 1)?;
                }
            } else {
                check_stack(lua, top, 3, "in function mp_encode_lua_table_as_map")?;
                let mut len: u64 = 0;
                for pair in t.pairs::<Value, Value>() {
                    pair?;
                    len += 1;
                }
                encode_header(buf, len, 0x80, 0xde, 0xdf);
                for pair in t.pairs::<Value, Value>() {
                    let (k, val) = pair?;
                    // Stack: key, value, and a copy of the key being encoded.
                    encode(lua, buf, &k, level + 1, top + 3)?;
                    encode(lua, buf, &val, level + 1, top + 2)?;
                }
            }
        }
        _ => buf.push(0xc0),
    }
    Ok(())
}

/// The C rule: every key a positive number that fits an int, and the
/// largest equal to the count (so the keys are exactly 1..n; an empty table
/// is an empty array).
fn table_is_an_array(lua: &Lua, t: &Table, top: usize) -> LibResult<bool> {
    check_stack(lua, top, 2, "in function table_is_an_array")?;
    let mut count: i64 = 0;
    let mut max: i64 = 0;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let Some(n) = (match k {
            Value::Integer(_) | Value::Number(_) => as_number(&k),
            _ => None,
        }) else {
            return Ok(false);
        };
        if n <= 0.0 || n.is_infinite() || n.is_nan() || n.trunc() != n || n > i32::MAX as f64 {
            return Ok(false);
        }
        max = max.max(n as i64);
        count += 1;
    }
    Ok(max == count)
}

fn encode_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        // Like the C code, lengths past 32 bits are cut to their low bits.
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

fn encode_double(buf: &mut Vec<u8>, d: f64) {
    let f = d as f32;
    if f64::from(f) == d {
        buf.push(0xca);
        buf.extend_from_slice(&f.to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&d.to_be_bytes());
    }
}

fn encode_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            buf.push(n as u8);
        } else if n <= 0xff {
            buf.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

/// Array and map headers: fix form up to 15, then 16 and 32 bits.
fn encode_header(buf: &mut Vec<u8>, n: u64, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 0xffff {
        buf.push(b16);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(b32);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

// ---- decoding ----

fn unpack_one(lua: &Lua, a: Vec<Value>) -> LibResult<Vec<Value>> {
    let offset = opt_integer(lua, &a, 2, 0)?;
    unpack_full(lua, &a[..a.len().min(1)], 1, offset, 1)
}

fn unpack_limit(lua: &Lua, a: Vec<Value>) -> LibResult<Vec<Value>> {
    let limit = check_integer(lua, &a, 2)?;
    let offset = opt_integer(lua, &a, 3, 0)?;
    unpack_full(lua, &a[..1], limit, offset, 1)
}

/// Why decoding stopped early.
enum Stop {
    /// The input ended inside a value.
    Eof,
    /// A byte that starts no value the decoder knows.
    BadFormat,
    /// An error raised on the spot (stack limits, nil or NaN map keys).
    Raise(Raise),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Self {
        Stop::Raise(Raise::Lua(e))
    }
}

/// The shared body: decode up to `limit` values starting at byte `offset`
/// (both 0: everything, and no offset in the results). `base` is the
/// number of values the C function keeps on its stack before the results.
fn unpack_full(
    lua: &Lua,
    args: &[Value],
    limit: i64,
    offset: i64,
    base: usize,
) -> LibResult<Vec<Value>> {
    let decode_all = limit == 0 && offset == 0;
    let s = check_bytes(lua, args, 1)?;
    let data = s.as_bytes();
    let len = data.len();
    if offset < 0 || limit < 0 {
        // The C message prints the input length where it says limit.
        return Err(error(
            lua,
            format!(
                "Invalid request to unpack with offset of {} and limit of {}.",
                offset as i32, len as i32
            ),
        ));
    }
    if offset as u64 > len as u64 {
        return Err(error(
            lua,
            format!(
                "Start offset {} greater than input length {}.",
                offset as i32, len as i32
            ),
        ));
    }
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    let mut cur = Cursor {
        data: &data,
        pos: offset as usize,
    };
    // Results go straight into a Lua table (see `super::bulk`); slot 1 is
    // kept for the offset when one is returned.
    let results = lua.create_table()?;
    let holder = lua.create_table()?;
    let first = if decode_all { 1 } else { 2 };
    let mut count: usize = 0;
    while cur.left() > 0 && (count as i64) < limit {
        match decode_value(lua, &mut cur, base + count, &holder) {
            Ok(v) => {
                results.raw_set(first + count, v)?;
                count += 1;
            }
            Err(Stop::Eof) => return Err(error(lua, "Missing bytes in input.")),
            Err(Stop::BadFormat) => return Err(error(lua, "Bad data format in input.")),
            Err(Stop::Raise(r)) => return Err(r),
        }
    }
    if !decode_all {
        let next = if cur.left() == 0 {
            -1.0
        } else {
            cur.pos as f64
        };
        results.raw_set(1, next)?;
        count += 1;
    }
    Ok(bulk(results, count))
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes, consumed.
    fn take(&mut self, n: usize) -> Result<&[u8], Stop> {
        if self.left() < n {
            return Err(Stop::Eof);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// A container being filled; the table itself waits in the holder table
/// at index `depth` (one mlua reference per open container would run out
/// before the C code's limits do).
struct Open {
    remaining: u64,
    /// Arrays: the next index. Maps: unused.
    index: f64,
    is_map: bool,
    /// Maps: the key read, waiting for its value (kept in the holder's
    /// hash part under `-depth` while it waits).
    has_key: bool,
}

impl Open {
    /// Lua stack slots the C decoder holds for this container.
    fn slots(&self) -> usize {
        if self.is_map {
            1 + usize::from(self.has_key)
        } else {
            2
        }
    }
}

/// What one step of decoding produced.
enum Item {
    Value(Value),
    Container { is_map: bool, len: u64 },
}

/// Decodes one complete value. Iterative, so nesting is bounded by the
/// stack-slot count (as in C), not by the Rust stack.
fn decode_value(lua: &Lua, cur: &mut Cursor, base: usize, holder: &Table) -> Result<Value, Stop> {
    let mut open: Vec<Open> = Vec::new();
    // Slots held below the next value: `base` plus every open container's.
    let mut top = base;
    loop {
        if cur.left() == 0 {
            return Err(Stop::Eof);
        }
        if top + 1 > MAX_C_STACK {
            return Err(Stop::Raise(error(
                lua,
                "stack overflow (too many return values at once; \
                 use unpack_one or unpack_limit instead.)",
            )));
        }
        let mut value = match decode_item(lua, cur)? {
            Item::Value(v) => v,
            Item::Container { is_map, len } => {
                let table = lua.create_table()?;
                if !is_map && top + 2 > MAX_C_STACK {
                    return Err(Stop::Raise(error(
                        lua,
                        "stack overflow (in function mp_decode_to_lua_array)",
                    )));
                }
                if len == 0 {
                    Value::Table(table)
                } else {
                    let o = Open {
                        remaining: len,
                        index: 1.0,
                        is_map,
                        has_key: false,
                    };
                    top += o.slots();
                    open.push(o);
                    holder.raw_set(open.len(), table)?;
                    continue;
                }
            }
        };
        // Attach the finished value to its container, closing every
        // container it completes.
        loop {
            let depth = open.len() as i64;
            let Some(o) = open.last_mut() else {
                return Ok(value);
            };
            top -= o.slots();
            let table: Table = holder.raw_get(depth)?;
            if o.is_map {
                if !o.has_key {
                    holder.raw_set(-depth, value)?;
                    o.has_key = true;
                    top += o.slots();
                    break;
                }
                let k: Value = holder.raw_get(-depth)?;
                holder.raw_set(-depth, Value::Nil)?;
                o.has_key = false;
                // The C code's lua_settable fails on these keys, with the
                // messages of Lua's own table code (no position).
                match &k {
                    Value::Nil => {
                        return Err(Stop::Raise(Raise::Msg(b"table index is nil".to_vec())));
                    }
                    Value::Number(n) if n.is_nan() => {
                        return Err(Stop::Raise(Raise::Msg(b"table index is NaN".to_vec())));
                    }
                    _ => {}
                }
                table.raw_set(k, value)?;
            } else {
                table.raw_set(o.index, value)?;
                o.index += 1.0;
            }
            o.remaining -= 1;
            if o.remaining > 0 {
                top += o.slots();
                break;
            }
            open.pop();
            holder.raw_set(depth, Value::Nil)?;
            value = Value::Table(table);
        }
    }
}

/// Reads one scalar, or the header of an array or map.
fn decode_item(lua: &Lua, cur: &mut Cursor) -> Result<Item, Stop> {
    let b = cur.take(1)?[0];
    let num = |n: f64| Ok(Item::Value(Value::Number(n)));
    match b {
        0xcc => num(cur.be(1)? as f64),
        0xd0 => num(f64::from(cur.be(1)? as u8 as i8)),
        0xcd => num(cur.be(2)? as f64),
        0xd1 => num(f64::from(cur.be(2)? as u16 as i16)),
        0xce => num(cur.be(4)? as f64),
        0xd2 => num(f64::from(cur.be(4)? as u32 as i32)),
        // Pushed as a signed Lua integer: values from 2^63 wrap negative.
        0xcf => num(cur.be(8)? as i64 as f64),
        0xd3 => num(cur.be(8)? as i64 as f64),
        0xc0 => Ok(Item::Value(Value::Nil)),
        0xc3 => Ok(Item::Value(Value::Boolean(true))),
        0xc2 => Ok(Item::Value(Value::Boolean(false))),
        0xca => num(f64::from(f32::from_bits(cur.be(4)? as u32))),
        0xcb => num(f64::from_bits(cur.be(8)?)),
        0xd9..=0xdb => {
            let n = match b {
                0xd9 => 1,
                0xda => 2,
                _ => 4,
            };
            let len = cur.be(n)? as usize;
            let s = cur.take(len)?;
            Ok(Item::Value(Value::String(lua.create_string(s)?)))
        }
        0xdc => Ok(Item::Container {
            is_map: false,
            len: cur.be(2)?,
        }),
        0xdd => Ok(Item::Container {
            is_map: false,
            len: cur.be(4)?,
        }),
        0xde => Ok(Item::Container {
            is_map: true,
            len: cur.be(2)?,
        }),
        0xdf => Ok(Item::Container {
            is_map: true,
            len: cur.be(4)?,
        }),
        _ if b & 0x80 == 0 => num(f64::from(b)),
        _ if b & 0xe0 == 0xe0 => num(f64::from(b as i8)),
        _ if b & 0xe0 == 0xa0 => {
            let s = cur.take(usize::from(b & 0x1f))?;
            Ok(Item::Value(Value::String(lua.create_string(s)?)))
        }
        _ if b & 0xf0 == 0x90 => Ok(Item::Container {
            is_map: false,
            len: u64::from(b & 0xf),
        }),
        _ if b & 0xf0 == 0x80 => Ok(Item::Container {
            is_map: true,
            len: u64::from(b & 0xf),
        }),
        _ => Err(Stop::BadFormat),
    }
}

#[cfg(test)]
mod tests {
    /// Cases captured from Redis 7.0.15 (see testdata/capture.py).
    #[test]
    fn matches_redis() {
        let n = super::super::testutil::run_expected(include_str!("testdata/cmsgpack.expected"));
        assert!(n >= 60);
    }

    /// Random inputs from testdata/gen_fuzz.py, captured from Redis 7.0.15.
    #[test]
    fn matches_redis_on_generated_inputs() {
        super::super::testutil::run_expected(include_str!("testdata/cmsgpack_fuzz.expected"));
    }
}
