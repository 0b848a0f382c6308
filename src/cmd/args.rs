//! Reading command arguments: the one place that turns argument bytes into
//! integers, doubles and timeouts with Redis's rules and error texts, and a
//! cursor ([`Args`]) for handlers that walk options left to right (in the
//! style of mini-redis's `Parse` and Dragonfly's `CmdArgParser`).
//!
//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP) read their timeout with [`timeout`]; WAIT and CLIENT
//! PAUSE, which take milliseconds, with [`ms_timeout_arg`].

use crate::error::CmdError;
use bytes::Bytes;
use std::time::Duration;

/// Case-insensitive comparison of an argument with an option name.
pub fn is(arg: &[u8], opt: &str) -> bool {
    arg.eq_ignore_ascii_case(opt.as_bytes())
}

/// An integer argument (Redis's `string2ll`).
pub fn arg_i64(b: &[u8]) -> Result<i64, CmdError> {
    crate::util::num::parse_i64(b).ok_or_else(CmdError::not_integer)
}

/// A double argument (Redis's `string2d`).
pub fn arg_f64(b: &[u8]) -> Result<f64, CmdError> {
    crate::util::num::parse_f64(b).ok_or_else(CmdError::not_float)
}

/// An integer argument of at least `min` (Redis's
/// `getRangeLongFromObjectOrReply` with a message): a parse failure and a
/// value below `min` both give `err()`.
pub fn at_least(b: &[u8], min: i64, err: impl FnOnce() -> CmdError) -> Result<i64, CmdError> {
    match crate::util::num::parse_i64(b) {
        Some(n) if n >= min => Ok(n),
        _ => Err(err()),
    }
}

/// A count for the random-sampling commands (SRANDMEMBER, HRANDFIELD,
/// ZRANDMEMBER): any i64 but i64::MIN, whose negation would overflow
/// (`getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`).
pub fn rand_count(b: &[u8]) -> Result<i64, CmdError> {
    match arg_i64(b)? {
        i64::MIN => Err(CmdError::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        )),
        v => Ok(v),
    }
}

const ERR_TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";

/// Timeouts this far out never fire (Redis's deadline is ~292 million
/// years away at most); treating them as "forever" keeps timer arithmetic
/// small.
const FOREVER_MS: i64 = 30 * 365 * 86_400_000;

/// A blocking timeout in seconds, as Redis 7.0's
/// `getTimeoutFromObjectOrReply`: `ceil(seconds * 1000)` ms computed in
/// long double, refused when negative. None waits forever: `0`, and
/// anything that rounds up to 0 ms such as `-0.001` (a hair above -1 ms in
/// long double) or `-0.0009`; `-0.0011` is negative. `inf` and values whose
/// milliseconds do not fit an i64 are negative too (the C cast gives
/// LLONG_MIN).
pub fn timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    match crate::util::longdouble::timeout_ms(arg) {
        None => Err(CmdError::timeout_not_float()),
        Some(ms) if ms < 0 => Err(CmdError::msg(ERR_TIMEOUT_NEGATIVE)),
        Some(ms) if ms == 0 || ms > FOREVER_MS => Ok(None),
        Some(ms) => Ok(Some(Duration::from_millis(ms as u64))),
    }
}

/// A timeout in milliseconds (WAIT, CLIENT PAUSE) as a Unix ms deadline;
/// 0 stays 0 (no deadline). Like Redis 7.0 the addition is not checked for
/// overflow (a huge timeout wraps into the past).
pub fn ms_timeout_arg(b: &[u8], now: i64) -> Result<i64, CmdError> {
    let t = crate::util::num::parse_i64(b)
        .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
    match t {
        t if t < 0 => Err(CmdError::msg(ERR_TIMEOUT_NEGATIVE)),
        0 => Ok(0),
        t => Ok(t.wrapping_add(now)),
    }
}

/// A cursor over a command's arguments. Reading past the end is a syntax
/// error, which is what Redis answers when an option lacks its value.
#[derive(Debug, Clone)]
pub struct Args<'a> {
    rest: &'a [Bytes],
}

impl<'a> Args<'a> {
    /// A cursor at the start of `args` (usually a slice after the name).
    pub fn new(args: &'a [Bytes]) -> Self {
        Args { rest: args }
    }

    /// How many arguments are left.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// True when every argument has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The arguments not read yet.
    pub fn rest(&self) -> &'a [Bytes] {
        self.rest
    }

    /// The next argument, without consuming it.
    pub fn peek(&self) -> Option<&'a Bytes> {
        self.rest.first()
    }

    /// The next argument, or a syntax error when there is none.
    pub fn next_arg(&mut self) -> Result<&'a Bytes, CmdError> {
        let (first, rest) = self.rest.split_first().ok_or_else(CmdError::syntax)?;
        self.rest = rest;
        Ok(first)
    }

    /// The next `n` arguments, or a syntax error when fewer are left.
    pub fn take(&mut self, n: usize) -> Result<&'a [Bytes], CmdError> {
        if n > self.rest.len() {
            return Err(CmdError::syntax());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// Consumes the next argument if it is `opt` (any case).
    pub fn eat(&mut self, opt: &str) -> bool {
        match self.rest.split_first() {
            Some((first, rest)) if is(first, opt) => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    /// Redis's `!strcasecmp(opt, ...) && moreargs`: when the next argument
    /// is `opt` (any case) and a value follows it, consumes both and
    /// returns the value.
    pub fn option(&mut self, opt: &str) -> Option<&'a Bytes> {
        match self.rest {
            [name, value, rest @ ..] if is(name, opt) => {
                self.rest = rest;
                Some(value)
            }
            _ => None,
        }
    }

    /// The next argument as an integer.
    pub fn next_i64(&mut self) -> Result<i64, CmdError> {
        arg_i64(self.next_arg()?)
    }

    /// The next argument as a double.
    pub fn next_f64(&mut self) -> Result<f64, CmdError> {
        arg_f64(self.next_arg()?)
    }

    /// The next argument as a blocking timeout in seconds ([`timeout`]).
    pub fn next_timeout(&mut self) -> Result<Option<Duration>, CmdError> {
        timeout(self.next_arg()?)
    }

    /// A syntax error unless every argument has been read.
    pub fn finish(&self) -> Result<(), CmdError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CmdError::syntax())
        }
    }
}

/// The `numkeys key [key ...] FIRST|SECOND [COUNT count]` tail shared by
/// LMPOP/BLMPOP (`LEFT|RIGHT`) and ZMPOP/BZMPOP (`MIN|MAX`).
pub struct Mpop<'a> {
    /// The keys, in order.
    pub keys: &'a [Bytes],
    /// True for the second of the two directions (RIGHT, MAX).
    pub second: bool,
    /// COUNT, 1 when absent.
    pub count: u64,
}

/// Parses an [`Mpop`] tail from `args` (which starts at `numkeys`), with
/// Redis's errors and their precedence.
pub fn mpop<'a>(args: &'a [Bytes], directions: [&str; 2]) -> Result<Mpop<'a>, CmdError> {
    let mut a = Args::new(args);
    let numkeys = at_least(a.next_arg()?, 1, || {
        CmdError::msg("ERR numkeys should be greater than 0")
    })? as u64;
    // The keys and the direction must all be there.
    if numkeys >= a.remaining() as u64 {
        return Err(CmdError::syntax());
    }
    let keys = a.take(numkeys as usize)?;
    let second = match a.next_arg()? {
        d if is(d, directions[0]) => false,
        d if is(d, directions[1]) => true,
        _ => return Err(CmdError::syntax()),
    };
    let mut count = None;
    while !a.is_empty() {
        let value = match a.option("count") {
            Some(v) if count.is_none() => v,
            _ => return Err(CmdError::syntax()),
        };
        let n = at_least(value, 1, || {
            CmdError::msg("ERR count should be greater than 0")
        })?;
        count = Some(n as u64);
    }
    Ok(Mpop {
        keys,
        second,
        count: count.unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Result<u128, String> {
        match timeout(s.as_bytes()) {
            Ok(d) => Ok(d.map_or(0, |d| d.as_millis())),
            Err(e) => Err(e.0.into_owned()),
        }
    }

    const NOT_FLOAT: &str = "ERR timeout is not a float or out of range";

    #[test]
    fn timeouts_parse_like_redis_7_0() {
        // Checked against redis-server 7.0.15 (BZPOPMIN and BLPOP).
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("1"), Ok(1000));
        assert_eq!(ms("0.1"), Ok(100));
        assert_eq!(ms("0.25"), Ok(250));
        assert_eq!(ms("0.0001"), Ok(1));
        assert_eq!(ms("1e-10"), Ok(1));
        assert_eq!(ms("1e-400"), Ok(1));
        assert_eq!(ms(".5"), Ok(500));
        assert_eq!(ms("5."), Ok(5000));
        assert_eq!(ms("+2"), Ok(2000));
        assert_eq!(ms("-0"), Ok(0));
        assert_eq!(ms("-0.0009"), Ok(0));
        assert_eq!(ms("-0.001"), Ok(0));
        assert_eq!(ms("0x10"), Ok(16000));
        assert_eq!(ms("0x1p-1"), Ok(500));
        assert_eq!(ms("0x.8"), Ok(500));
        // Far deadlines wait forever, as Redis's never fire.
        assert_eq!(ms("1e12"), Ok(0));
        assert_eq!(ms("9223372036854775.807"), Ok(0));
        let long_hex = format!("0x1.{}", "0".repeat(4000));
        assert_eq!(ms(&long_hex), Ok(1000));
        for neg in [
            "-0.0011",
            "-0.0015",
            "-1",
            "inf",
            "-Infinity",
            "1e20",
            "1e400",
            "9223372036854775.808",
            "9223372036854776",
        ] {
            assert_eq!(ms(neg), Err(ERR_TIMEOUT_NEGATIVE.into()), "{neg:?}");
        }
        let huge_hex = format!("0x1{}", "0".repeat(5200));
        for bad in [
            "", " 1", "1 ", "abc", "nan", "-nan", "1e", "1e+", "e5", ".", "0xg", "1e5000",
            "1e-5000", "--1", "1,5", "1\0", &huge_hex,
        ] {
            assert_eq!(ms(bad), Err(NOT_FLOAT.into()), "{bad:?}");
        }
    }

    #[test]
    fn ms_timeouts() {
        assert_eq!(ms_timeout_arg(b"0", 100), Ok(0));
        assert_eq!(ms_timeout_arg(b"5", 100), Ok(105));
        assert_eq!(
            ms_timeout_arg(b"-1", 100).unwrap_err().0,
            ERR_TIMEOUT_NEGATIVE
        );
        assert_eq!(
            ms_timeout_arg(b"1.5", 100).unwrap_err().0,
            "ERR timeout is not an integer or out of range"
        );
    }

    #[test]
    fn cursor() {
        let v: Vec<Bytes> = ["5", "withscores", "2.5", "x"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        let mut a = Args::new(&v);
        assert_eq!(a.next_i64(), Ok(5));
        assert!(!a.eat("limit"));
        assert!(a.eat("WITHSCORES"));
        assert_eq!(a.clone().option("2.5"), Some(&v[3]));
        assert_eq!(a.clone().take(3), Err(CmdError::syntax()));
        assert_eq!(a.next_f64(), Ok(2.5));
        assert_eq!(a.remaining(), 1);
        assert_eq!(a.finish(), Err(CmdError::syntax()));
        assert_eq!(a.clone().option("x"), None, "an option without a value");
        assert_eq!(a.next_i64(), Err(CmdError::not_integer()));
        assert!(a.is_empty());
        assert_eq!(a.next_arg(), Err(CmdError::syntax()));
        assert_eq!(Args::new(&v).take(5), Err(CmdError::syntax()));
    }

    #[test]
    fn mpop_tails() {
        let parse = |s: &str| {
            let v: Vec<Bytes> = s.split(' ').map(|w| Bytes::from(w.to_string())).collect();
            mpop(&v, ["min", "max"])
                .map(|m| (m.keys.len(), m.second, m.count))
                .map_err(|e| e.0.into_owned())
        };
        assert_eq!(parse("2 a b MAX"), Ok((2, true, 1)));
        assert_eq!(parse("1 a min COUNT 5"), Ok((1, false, 5)));
        let numkeys = "ERR numkeys should be greater than 0";
        let count = "ERR count should be greater than 0";
        let syntax = "ERR syntax error";
        assert_eq!(parse("0 a min"), Err(numkeys.into()));
        assert_eq!(parse("x a min"), Err(numkeys.into()));
        assert_eq!(parse("2 a min"), Err(syntax.into()));
        assert_eq!(parse("9223372036854775807 a min"), Err(syntax.into()));
        assert_eq!(parse("1 a left"), Err(syntax.into()));
        assert_eq!(parse("1 a min count"), Err(syntax.into()));
        assert_eq!(parse("1 a min count 0"), Err(count.into()));
        assert_eq!(parse("1 a min count 1 count 2"), Err(syntax.into()));
    }
}
