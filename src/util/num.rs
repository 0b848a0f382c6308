//! Number parsing and formatting with Redis's exact rules.

/// Parses a decimal i64 the way Redis's `string2ll` does: optional `-`, no
/// `+`, no leading zeros (except "0"), no spaces, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Parses a u64 with the same rules (no sign).
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    if s.is_empty() || s.len() > 20 || !(b'1'..=b'9').contains(&s[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

/// Formats an i64 into a stack buffer; returns the digits.
pub fn fmt_i64(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// C's `strtod` on `s` up to its first NUL byte (C strings end there):
/// the value, the bytes consumed, and whether `errno` became `ERANGE`.
/// Redis reads doubles with it, so hex floats, `infinity` and the exact
/// rounding come for free.
pub fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    let mut stack = [0u8; 128];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if end < stack.len() {
        &mut stack[..end + 1]
    } else {
        heap.resize(end + 1, 0);
        &mut heap
    };
    buf[..end].copy_from_slice(&s[..end]);
    buf[end] = 0;
    let start = buf.as_ptr() as *const libc::c_char;
    let mut eptr: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; strtod reads
    // up to that NUL and stores into `eptr` a pointer inside `buf`, so the
    // offset is in bounds. errno is thread-local and only read right after.
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(start, &mut eptr);
        let erange = *libc::__errno_location() == libc::ERANGE;
        let used = eptr.offset_from(start).max(0) as usize;
        (v, used, erange)
    }
}

/// C's `atoi` as glibc computes it (`(int) strtol(s, NULL, 10)`): leading
/// white space, an optional sign, then digits up to the first other byte
/// (or NUL); no digits is 0; a value beyond `long` saturates, then the cast
/// keeps its low 32 bits. Redis parses a few DEBUG switches this way.
pub fn c_atoi(s: &[u8]) -> i32 {
    let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
    let mut i = s.iter().take_while(|&&b| c_space(b)).count();
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    for &b in s[i..].iter().take_while(|b| b.is_ascii_digit()) {
        let d = i64::from(b - b'0');
        v = match v.checked_mul(10).and_then(|x| {
            if neg {
                x.checked_sub(d)
            } else {
                x.checked_add(d)
            }
        }) {
            Some(x) => x,
            None if neg => i64::MIN,
            None => i64::MAX,
        };
        if v == i64::MIN || v == i64::MAX {
            break;
        }
    }
    v as i32
}

/// C's `isspace` in the "C" locale.
pub fn c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Redis's `string2d`: a whole argument as a double (scores, increments,
/// weights, config percentages). No NaN, no leading space, no trailing
/// bytes, no overflow (`1e400`) or underflow to zero (`1e-400`).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || c_space(s[0]) {
        return None;
    }
    let (v, used, erange) = strtod(s);
    if used != s.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_is_glibcs() {
        for (s, want) in [
            (&b"0"[..], 0),
            (b"1", 1),
            (b"-1", -1),
            (b"+7", 7),
            (b"  42abc", 42),
            (b"\t-3", -3),
            (b"abc", 0),
            (b"", 0),
            (b"-", 0),
            (b"00", 0),
            (b"0x10", 0),
            (b"1\x002", 1),
            (b"2147483648", i32::MIN),
            (b"4294967296", 0),
            (b"99999999999999999999", -1),
            (b"-99999999999999999999", 0),
        ] {
            assert_eq!(c_atoi(s), want, "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn i64_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1a",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
        let mut b = [0; 20];
        assert_eq!(fmt_i64(i64::MIN, &mut b), b"-9223372036854775808");
        assert_eq!(fmt_i64(0, &mut b), b"0");
    }

    #[test]
    fn doubles_parse_like_string2d() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"1e308"), Some(1e308));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"1x",
            b"1\x002",
        ] {
            assert_eq!(parse_f64(bad), None, "{:?}", bad);
        }
    }
}
