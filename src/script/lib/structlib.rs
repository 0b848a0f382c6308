//! `struct`: Roberto Ierusalimschy's binary packing library as Redis bundles
//! it (`struct.pack`, `struct.unpack`, `struct.size`), on the x86-64 sizes
//! Redis is built with (short 2, int 4, long and size_t 8, native little
//! endian, maximum alignment 8).

use mlua::{Lua, Value};

use super::{
    LibResult, MAX_C_STACK, arg_error, bulk, c_double_to_i64, check_bytes, check_number, error,
    lib_fn, new_module, opt_integer, to_number,
};

/// The largest integer size `i`/`I` accept.
const MAX_INT_SIZE: usize = 32;
/// The alignment `!` without a number stands for (the C `MAXALIGN`).
const MAX_ALIGN: usize = 8;

/// Registers the global `struct` table.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let t = new_module(lua, "struct")?;
    t.raw_set("pack", lib_fn(lua, pack)?)?;
    t.raw_set("unpack", lib_fn(lua, unpack)?)?;
    t.raw_set("size", lib_fn(lua, size)?)?;
    Ok(())
}

/// The format being read, with the options it has set so far.
struct Format<'a> {
    /// The format up to its first NUL byte (the C code reads a C string).
    fmt: &'a [u8],
    at: usize,
    little: bool,
    align: usize,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8]) -> Self {
        let end = fmt.iter().position(|&b| b == 0).unwrap_or(fmt.len());
        Format {
            fmt: &fmt[..end],
            at: 0,
            little: true,
            align: 1,
        }
    }

    fn next_opt(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// Reads a decimal count after an option, or returns `default`.
    fn number(&mut self, lua: &Lua, default: usize) -> LibResult<usize> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(&d) = self.fmt.get(self.at).filter(|d| d.is_ascii_digit()) {
            let d = i64::from(d - b'0');
            if a > i64::from(i32::MAX) / 10 || a * 10 > i64::from(i32::MAX) - d {
                return Err(error(lua, "integral size overflow"));
            }
            a = a * 10 + d;
            self.at += 1;
        }
        Ok(a as usize)
    }

    /// The size of option `opt`, reading its count if it takes one.
    fn opt_size(&mut self, lua: &Lua, opt: u8) -> LibResult<usize> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.number(lua, 1)?,
            b'i' | b'I' => {
                let sz = self.number(lua, 4)?;
                if sz > MAX_INT_SIZE {
                    return Err(error(
                        lua,
                        format!("integral size {sz} is larger than limit of {MAX_INT_SIZE}"),
                    ));
                }
                sz
            }
            _ => 0,
        })
    }

    /// Padding needed before an item of `size` bytes at offset `len`. The
    /// arithmetic is the C code's, wrapping included, since sizes such as
    /// `i3` are not powers of two.
    fn to_align(&self, len: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
    }

    /// Options that are not items: spaces, endianness and alignment.
    fn control(&mut self, lua: &Lua, opt: u8) -> LibResult<()> {
        match opt {
            b' ' => {}
            b'>' => self.little = false,
            b'<' => self.little = true,
            b'!' => {
                let a = self.number(lua, MAX_ALIGN)?;
                if !(a > 0 && a & (a - 1) == 0) {
                    return Err(error(lua, format!("alignment {a} is not a power of 2")));
                }
                self.align = a;
            }
            _ => {
                let mut msg = b"invalid format option '".to_vec();
                msg.push(opt);
                msg.push(b'\'');
                return Err(arg_error(lua, 1, msg));
            }
        }
        Ok(())
    }
}

/// A C cast of a double to an unsigned 64-bit integer as gcc emits it on
/// x86-64 (values from 2^63 go through a subtraction; beyond 2^64 give 0).
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if d >= TWO63 {
        (c_double_to_i64(d - TWO63) as u64) ^ (1 << 63)
    } else {
        c_double_to_i64(d) as u64
    }
}

fn pack(lua: &Lua, mut args: Vec<Value>) -> LibResult<Vec<Value>> {
    let fmt_s = check_bytes(lua, &args, 1)?;
    // The C function pushes a nil right after its arguments, so the first
    // missing one is reported as nil rather than "no value".
    args.push(Value::Nil);
    let fmt_b = fmt_s.as_bytes();
    let mut f = Format::new(&fmt_b);
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    let mut total: usize = 0;
    while let Some(opt) = f.next_opt() {
        let mut size = f.opt_size(lua, opt)?;
        let pad = f.to_align(total, opt, size);
        total = total.wrapping_add(pad);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, &args, arg)?;
                arg += 1;
                let mut value = if n < 0.0 {
                    c_double_to_i64(n) as u64
                } else {
                    c_double_to_u64(n)
                };
                let mut buf = vec![0u8; size];
                // Bytes past the eighth are zero: the value is shifted out.
                let mut put = |slot: &mut u8| {
                    *slot = (value & 0xff) as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                };
                if f.little {
                    buf.iter_mut().for_each(&mut put);
                } else {
                    buf.iter_mut().rev().for_each(&mut put);
                }
                out.extend_from_slice(&buf);
            }
            b'x' => out.push(0),
            b'f' => {
                let v = check_number(lua, &args, arg)? as f32;
                arg += 1;
                if f.little {
                    out.extend_from_slice(&v.to_le_bytes());
                } else {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            b'd' => {
                let v = check_number(lua, &args, arg)?;
                arg += 1;
                if f.little {
                    out.extend_from_slice(&v.to_le_bytes());
                } else {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            b'c' | b's' => {
                let s = check_bytes(lua, &args, arg)?;
                arg += 1;
                let s = s.as_bytes();
                if size == 0 {
                    size = s.len();
                }
                // The C code reports the argument after the string.
                if s.len() < size {
                    return Err(arg_error(lua, arg as i32, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => f.control(lua, opt)?,
        }
        total = total.wrapping_add(size);
    }
    Ok(vec![Value::String(lua.create_string(&out)?)])
}

/// Reads an integer of `size` bytes; for sizes above 8 only the last eight
/// bytes read count and the sign mask is computed as x86-64 shifts (the
/// count modulo 64), as in Redis's build.
fn get_integer(b: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    let mut feed = |byte: &u8| l = (l << 8) | u64::from(*byte);
    if little {
        b[..size].iter().rev().for_each(&mut feed);
    } else {
        b[..size].iter().for_each(&mut feed);
    }
    if !signed {
        return l as f64;
    }
    let mask = u64::MAX.wrapping_shl(((size * 8) as u32).wrapping_sub(1));
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, args: Vec<Value>) -> LibResult<Vec<Value>> {
    let fmt_s = check_bytes(lua, &args, 1)?;
    let data_s = check_bytes(lua, &args, 2)?;
    let start = opt_integer(lua, &args, 3, 1)? as u64 as usize;
    if start == 0 {
        return Err(arg_error(lua, 3, "offset must be 1 or greater"));
    }
    let fmt_b = fmt_s.as_bytes();
    let data = data_s.as_bytes();
    let ld = data.len();
    let mut f = Format::new(&fmt_b);
    let mut pos = start - 1;
    let out = lua.create_table()?;
    let mut n: usize = 0;
    while let Some(opt) = f.next_opt() {
        let mut size = f.opt_size(lua, opt)?;
        pos = pos.wrapping_add(f.to_align(pos, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(arg_error(lua, 2, "data string too short"));
        }
        // The C function keeps its arguments and results on its stack.
        if args.len().max(1) + n + 2 > MAX_C_STACK {
            return Err(error(lua, "stack overflow (too many results)"));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                n += 1;
                out.raw_set(n, get_integer(&data[pos..], f.little, signed, size))?;
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().expect("4 bytes checked");
                let v = if f.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                n += 1;
                out.raw_set(n, f64::from(v))?;
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().expect("8 bytes checked");
                let v = if f.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                n += 1;
                out.raw_set(n, v)?;
            }
            b'c' => {
                if size == 0 {
                    // `c0` takes its length from the previous result.
                    let prev = match n {
                        0 => None,
                        _ => to_number(lua, Some(&out.raw_get::<Value>(n)?))?,
                    };
                    let Some(prev) = prev else {
                        return Err(error(lua, "format 'c0' needs a previous size"));
                    };
                    size = c_double_to_u64(prev) as usize;
                    out.raw_set(n, Value::Nil)?;
                    n -= 1;
                    if !(size <= ld && pos <= ld - size) {
                        return Err(arg_error(lua, 2, "data string too short"));
                    }
                }
                n += 1;
                out.raw_set(n, lua.create_string(&data[pos..pos + size])?)?;
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(error(lua, "unfinished string in data"));
                };
                size = len + 1;
                n += 1;
                out.raw_set(n, lua.create_string(&data[pos..pos + len])?)?;
            }
            _ => f.control(lua, opt)?,
        }
        pos = pos.wrapping_add(size);
    }
    n += 1;
    out.raw_set(n, pos.wrapping_add(1) as i64 as f64)?;
    Ok(bulk(out, n))
}

fn size(lua: &Lua, args: Vec<Value>) -> LibResult<Vec<Value>> {
    let fmt_s = check_bytes(lua, &args, 1)?;
    let fmt_b = fmt_s.as_bytes();
    let mut f = Format::new(&fmt_b);
    let mut pos: usize = 0;
    while let Some(opt) = f.next_opt() {
        let size = f.opt_size(lua, opt)?;
        pos = pos.wrapping_add(f.to_align(pos, opt, size));
        if opt == b's' {
            return Err(arg_error(lua, 1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(lua, 1, "option 'c0' has no fixed size"));
        }
        // Unknown letters and digits are skipped here, unlike in pack.
        if !opt.is_ascii_alphanumeric() {
            f.control(lua, opt)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(vec![Value::Number(pos as i64 as f64)])
}

#[cfg(test)]
mod tests {
    /// Cases captured from Redis 7.0.15 (see testdata/capture.py).
    #[test]
    fn matches_redis() {
        let n = super::super::testutil::run_expected(include_str!("testdata/structlib.expected"));
        assert!(n >= 60);
    }

    /// Random inputs from testdata/gen_fuzz.py, captured from Redis 7.0.15.
    #[test]
    fn matches_redis_on_generated_inputs() {
        super::super::testutil::run_expected(include_str!("testdata/structlib_fuzz.expected"));
    }
}
