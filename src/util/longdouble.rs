//! Arithmetic Redis does in C `long double` (80-bit on x86-64): INCRBYFLOAT
//! (printed with `%.17Lf` without trailing zeros) and blocking timeouts
//! (seconds times 1000, rounded up). Rust has no such type, so a few lines
//! of C (`longdouble.c`) do exactly what Redis does, `strtold` included.

/// Why an increment was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// An operand is not a valid float.
    NotFloat,
    /// The result would be NaN or infinite.
    NanOrInf,
}

unsafe extern "C" {
    fn forkv_incrbyfloat(
        cur: *const u8,
        curlen: usize,
        has_cur: i32,
        inc: *const u8,
        inclen: usize,
        out: *mut u8,
        outcap: usize,
        outlen: *mut usize,
    ) -> i32;
    fn forkv_timeout_ms(s: *const u8, len: usize, ms: *mut i64) -> i32;
}

/// `ceil(seconds * 1000)` of a timeout argument, computed in long double
/// as Redis 7.0 does (so `-0.001` gives 0 but `-0.0011` gives -1), with a
/// value out of `i64` range turned into `i64::MIN` like the C cast. None
/// when the argument is not a float by Redis's `string2ld`.
pub fn timeout_ms(arg: &[u8]) -> Option<i64> {
    let mut ms = 0i64;
    // SAFETY: the pointer and length come from a live slice; the C side
    // copies at most that many bytes and writes one i64 into `ms`.
    let rc = unsafe { forkv_timeout_ms(arg.as_ptr(), arg.len(), &mut ms) };
    (rc == 0).then_some(ms)
}

/// Adds `incr` to `cur` (absent = 0) and returns the new value's text.
pub fn incrbyfloat(cur: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; 5 * 1024];
    let mut len = 0usize;
    let c = cur.unwrap_or(b"");
    // SAFETY: all pointers come from live slices with their true lengths;
    // the C side writes at most `out.len()` bytes and sets `len`.
    let rc = unsafe {
        forkv_incrbyfloat(
            c.as_ptr(),
            c.len(),
            cur.is_some() as i32,
            incr.as_ptr(),
            incr.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut len,
        )
    };
    match rc {
        0 => {
            out.truncate(len);
            Ok(out)
        }
        2 => Err(Error::NanOrInf),
        _ => Err(Error::NotFloat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis() {
        assert_eq!(incrbyfloat(Some(b"10.5"), b"0.1").unwrap(), b"10.6");
        assert_eq!(incrbyfloat(None, b"0.1").unwrap(), b"0.1");
        assert_eq!(incrbyfloat(Some(b"5.0e3"), b"2.0e2").unwrap(), b"5200");
        assert_eq!(
            incrbyfloat(Some(b"abc"), b"1").unwrap_err(),
            Error::NotFloat
        );
        assert_eq!(incrbyfloat(None, b" 1").unwrap_err(), Error::NotFloat);
        assert_eq!(incrbyfloat(None, b"inf").unwrap_err(), Error::NanOrInf);
    }
}
