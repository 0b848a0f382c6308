//! `bit`: LuaBitOp 1.0.2 (Mike Pall) as Redis bundles it. Every operation
//! works on 32-bit words and returns a signed 32-bit result as a Lua number.

use mlua::{Lua, Value};

use super::{LibResult, lib_fn, new_module, to_number, type_error};

/// Registers the global `bit` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = new_module(lua, "bit")?;
    t.raw_set("tobit", lib_fn(lua, |lua, a| ret(barg(lua, &a, 1)?))?)?;
    t.raw_set("bnot", lib_fn(lua, |lua, a| ret(!barg(lua, &a, 1)?))?)?;
    t.raw_set("band", fold(lua, |x, y| x & y)?)?;
    t.raw_set("bor", fold(lua, |x, y| x | y)?)?;
    t.raw_set("bxor", fold(lua, |x, y| x ^ y)?)?;
    t.raw_set("lshift", shift(lua, |b, n| b << n)?)?;
    t.raw_set("rshift", shift(lua, |b, n| b >> n)?)?;
    t.raw_set("arshift", shift(lua, |b, n| ((b as i32) >> n) as u32)?)?;
    t.raw_set("rol", shift(lua, |b, n| b.rotate_left(n))?)?;
    t.raw_set("ror", shift(lua, |b, n| b.rotate_right(n))?)?;
    t.raw_set(
        "bswap",
        lib_fn(lua, |lua, a| ret(barg(lua, &a, 1)?.swap_bytes()))?,
    )?;
    t.raw_set("tohex", lib_fn(lua, tohex)?)?;
    Ok(())
}

/// Converts argument `idx` (1-based) to a 32-bit word the way LuaBitOp
/// does: add 2^52+2^51 to the double and keep the low 32 bits of its
/// representation. That rounds to the nearest integer (ties to even) and
/// wraps modulo 2^32 for any number within ±2^51; beyond that the bits are
/// whatever the addition leaves, which this reproduces exactly. A value
/// that is not a number (nor a numeric string) is an error.
fn barg(lua: &Lua, args: &[Value], idx: usize) -> LibResult<u32> {
    let n = to_number(lua, args.get(idx - 1))?;
    let b = (n.unwrap_or(0.0) + 6_755_399_441_055_744.0).to_bits() as u32;
    // Like the C code, only a zero result is checked: a non-number always
    // converts to 0.
    if b == 0 && n.is_none() {
        return Err(type_error(lua, args, idx, "number"));
    }
    Ok(b)
}

fn ret(b: u32) -> LibResult<Vec<Value>> {
    Ok(vec![Value::Number(b as i32 as f64)])
}

/// band/bor/bxor: the first argument, then the others from the last one
/// down (the order decides which bad argument is reported).
fn fold(lua: &Lua, op: fn(u32, u32) -> u32) -> mlua::Result<mlua::Function> {
    lib_fn(lua, move |lua, a| {
        let mut b = barg(lua, &a, 1)?;
        for i in (2..=a.len()).rev() {
            b = op(b, barg(lua, &a, i)?);
        }
        ret(b)
    })
}

/// Shifts and rotations take the count modulo 32.
fn shift(lua: &Lua, op: fn(u32, u32) -> u32) -> mlua::Result<mlua::Function> {
    lib_fn(lua, move |lua, a| {
        let b = barg(lua, &a, 1)?;
        let n = barg(lua, &a, 2)? & 31;
        ret(op(b, n))
    })
}

/// `tohex(x [, n])`: the low |n| hex digits of x (8 by default, at most 8),
/// upper case when n is negative.
fn tohex(lua: &Lua, a: Vec<Value>) -> LibResult<Vec<Value>> {
    let mut b = barg(lua, &a, 1)?;
    // Widened so that -(-2^31) is positive (and clamped to 8), which is what
    // Redis's build does.
    let mut n = if a.len() < 2 {
        8
    } else {
        barg(lua, &a, 2)? as i32 as i64
    };
    let digits: &[u8; 16] = if n < 0 {
        n = -n;
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let len = n.min(8) as usize;
    let mut buf = vec![0u8; len];
    for slot in buf.iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(vec![Value::String(lua.create_string(&buf)?)])
}

#[cfg(test)]
mod tests {
    /// Cases captured from Redis 7.0.15 (see testdata/capture.py).
    #[test]
    fn matches_redis() {
        let n = super::super::testutil::run_expected(include_str!("testdata/bit.expected"));
        assert!(n >= 40);
    }

    /// Random inputs from testdata/gen_fuzz.py, captured from Redis 7.0.15.
    #[test]
    fn matches_redis_on_generated_inputs() {
        super::super::testutil::run_expected(include_str!("testdata/bit_fuzz.expected"));
    }
}
