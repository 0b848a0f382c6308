//! Turning binary-safe bytes into text: JSON strings (with a lossless
//! fallback for bytes that are not UTF-8), printable quoted strings for
//! humans, scores, and UTC timestamps. Small enough not to need serde.

use crate::{Failure, Outcome};
use std::io::Write;

/// Appends `s` as a JSON string literal: `"` and `\` escaped, control
/// characters (and DEL) as `\n`, `\t`, ... or `\u00XX`, everything else
/// as UTF-8.
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Appends bytes as JSON, losslessly: a JSON string when they are valid
/// UTF-8, otherwise `{"base64":"..."}` (standard alphabet, padded).
pub fn json_bytes(out: &mut Vec<u8>, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => json_str(out, s),
        Err(_) => {
            out.extend_from_slice(b"{\"base64\":\"");
            base64(out, b);
            out.extend_from_slice(b"\"}");
        }
    }
}

/// Appends the standard, padded base64 encoding of `b`.
pub fn base64(out: &mut Vec<u8>, b: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | (x as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// A sorted-set score as text that both Redis (`ZADD`, via `strtod`) and
/// this tool's JSON accept back exactly: the shortest round-trip decimal,
/// and `inf` / `-inf` for the infinities.
pub fn score(s: f64) -> String {
    // `{:?}` is the shortest representation that parses back to the same
    // bits, and prints infinities as `inf` / `-inf`.
    format!("{s:?}")
}

/// Appends a score as a JSON value: a number, or the strings `"inf"` /
/// `"-inf"`, since JSON has no infinities.
pub fn json_score(out: &mut Vec<u8>, s: f64) {
    if s.is_finite() {
        out.extend_from_slice(score(s).as_bytes());
    } else {
        json_str(out, &score(s));
    }
}

/// Bytes as a double-quoted string for humans, escaped the way
/// `redis-cli` shows them (`\n`, `\xff`, ...).
pub fn printable(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS.mmm UTC`.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Days to civil date (Howard Hinnant's algorithm), valid for any i64
    // day count that the input can produce.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes a finished report to stdout.
pub fn print(s: &str) -> Outcome {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Failure::stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(b: &[u8]) -> String {
        let mut v = Vec::new();
        json_bytes(&mut v, b);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn json_escapes() {
        assert_eq!(
            json(b"a\"\\\n\x01\x7f\xc3\xa9"),
            r#""a\"\\\n\u0001\u007fé""#
        );
        assert_eq!(json(b"\xff\x00a"), r#"{"base64":"/wBh"}"#);
        assert_eq!(json(b"\xffa"), r#"{"base64":"/2E="}"#);
        assert_eq!(json(b"\xff"), r#"{"base64":"/w=="}"#);
    }

    #[test]
    fn times_and_scores() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(1_709_251_199_999), "2024-02-29 23:59:59.999 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59.999 UTC");
        // Extremes must not panic.
        let _ = utc(i64::MAX);
        let _ = utc(i64::MIN);
        assert_eq!(score(f64::NEG_INFINITY), "-inf");
        assert_eq!(score(1.5), "1.5");
        assert_eq!(score(1e300).parse::<f64>().unwrap(), 1e300);
    }
}
