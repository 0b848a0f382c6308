//! `Reply`: what a command answers, and its encoding as RESP2 or RESP3.
//!
//! Handlers build a `Reply` without knowing the client's protocol; the
//! connection encodes it for the version the client chose with `HELLO`, the
//! way Redis maps RESP3 types down to RESP2 (maps become flat arrays, sets
//! arrays, doubles bulk strings, booleans integers).

use crate::util::small::SmallBytes;
use bytes::{BufMut, Bytes, BytesMut};

/// A reply to a command.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A status line (`+PONG`).
    Status(Bytes),
    /// An error line; the text starts with its code (`ERR ...`).
    Error(String),
    /// An integer.
    Int(i64),
    /// A bulk string.
    Bulk(Bytes),
    /// A bulk string copied from the keyspace (no allocation when short).
    Value(SmallBytes),
    /// The null bulk string (`$-1` / `_`).
    Nil,
    /// The null array (`*-1` / `_`).
    NilArray,
    /// An array.
    Array(Vec<Reply>),
    /// A map (RESP2: flat array of key, value, ...).
    Map(Vec<(Reply, Reply)>),
    /// A set (RESP2: array).
    Set(Vec<Reply>),
    /// A double (RESP2: bulk string).
    Double(f64),
    /// A boolean (RESP2: integer 1/0).
    Bool(bool),
    /// A verbatim string with its 3-letter format (RESP2: bulk string).
    Verbatim(&'static str, Bytes),
    /// An out-of-band push (RESP2: array).
    Push(Vec<Reply>),
    /// Bytes sent as they are (pre-encoded, protocol independent).
    Raw(Bytes),
    /// Several replies sent one after the other (SUBSCRIBE answers once
    /// per channel).
    Many(Vec<Reply>),
}

impl Reply {
    /// A status reply from a static string.
    pub fn status(s: &'static str) -> Reply {
        Reply::Status(Bytes::from_static(s.as_bytes()))
    }

    /// A status reply from an owned string.
    pub fn status_owned(s: String) -> Reply {
        Reply::Status(Bytes::from(s))
    }

    /// A bulk reply copied from a slice.
    pub fn bulk(s: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s))
    }

    /// A bulk reply from an owned string.
    pub fn bulk_string(s: String) -> Reply {
        Reply::Bulk(Bytes::from(s))
    }

    /// A bulk reply from a static string.
    pub fn bulk_static(s: &'static str) -> Reply {
        Reply::Bulk(Bytes::from_static(s.as_bytes()))
    }

    /// An array of bulk strings.
    pub fn bulk_array<I, B>(items: I) -> Reply
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        Reply::Array(items.into_iter().map(|b| Reply::bulk(b.as_ref())).collect())
    }

    /// True for out-of-band pushes, or several replies that are all pushes.
    pub fn is_push(&self) -> bool {
        match self {
            Reply::Push(_) => true,
            Reply::Many(items) => !items.is_empty() && items.iter().all(Reply::is_push),
            _ => false,
        }
    }

    /// True for error replies.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// Values at least this large are written as separate chunks instead of
/// being copied into the output buffer.
pub const ZERO_COPY_MIN: usize = 16 * 1024;

/// Output of a connection: small replies are copied into one buffer, large
/// bulk values are queued as shared chunks so they are never copied.
#[derive(Default)]
pub struct Output {
    chunks: Vec<Bytes>,
    buf: BytesMut,
    len: usize,
}

impl Output {
    /// Total bytes queued.
    pub fn len(&self) -> usize {
        self.len + self.buf.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in the buffer small replies are copied into (CLIENT LIST `obl`).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Allocated size of that buffer (CLIENT LIST `rbs`).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Chunks queued apart from that buffer: large values and sealed
    /// parts of it (CLIENT LIST `oll`).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    fn put(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn put_shared(&mut self, b: Bytes) {
        if b.len() < ZERO_COPY_MIN {
            self.buf.extend_from_slice(&b);
            return;
        }
        if !self.buf.is_empty() {
            let head = self.buf.split().freeze();
            self.len += head.len();
            self.chunks.push(head);
        }
        self.len += b.len();
        self.chunks.push(b);
    }

    fn put_int_line(&mut self, prefix: u8, v: i64) {
        let mut tmp = [0u8; 20];
        self.buf.put_u8(prefix);
        self.put(crate::util::num::fmt_i64(v, &mut tmp));
        self.put(b"\r\n");
    }

    fn put_bulk(&mut self, b: &[u8]) {
        self.put_int_line(b'$', b.len() as i64);
        self.put(b);
        self.put(b"\r\n");
    }

    /// Takes everything queued, as chunks for a vectored write.
    pub fn take(&mut self) -> Vec<Bytes> {
        let mut out = std::mem::take(&mut self.chunks);
        if !self.buf.is_empty() {
            out.push(self.buf.split().freeze());
        }
        self.len = 0;
        out
    }

    /// Appends the encoding of `r` for protocol version `resp` (2 or 3).
    pub fn encode(&mut self, r: &Reply, resp: u8) {
        let v3 = resp >= 3;
        match r {
            Reply::Ok => self.put(b"+OK\r\n"),
            Reply::Status(s) => {
                self.put(b"+");
                self.put(s);
                self.put(b"\r\n");
            }
            Reply::Error(e) => {
                self.put(b"-");
                // Errors are one line: Redis replaces newlines with spaces.
                for &c in e.as_bytes() {
                    self.buf
                        .put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
                }
                self.put(b"\r\n");
            }
            Reply::Int(i) => self.put_int_line(b':', *i),
            Reply::Bulk(b) => {
                self.put_int_line(b'$', b.len() as i64);
                self.put_shared(b.clone());
                self.put(b"\r\n");
            }
            Reply::Value(v) => match v {
                SmallBytes::Shared(b) => {
                    self.put_int_line(b'$', b.len() as i64);
                    self.put_shared((**b).clone());
                    self.put(b"\r\n");
                }
                other => self.put_bulk(other.as_slice()),
            },
            Reply::Nil => self.put(if v3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => self.put(if v3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Array(items) => {
                self.put_int_line(b'*', items.len() as i64);
                for i in items {
                    self.encode(i, resp);
                }
            }
            Reply::Set(items) => {
                self.put_int_line(if v3 { b'~' } else { b'*' }, items.len() as i64);
                for i in items {
                    self.encode(i, resp);
                }
            }
            Reply::Push(items) => {
                self.put_int_line(if v3 { b'>' } else { b'*' }, items.len() as i64);
                for i in items {
                    self.encode(i, resp);
                }
            }
            Reply::Map(pairs) => {
                if v3 {
                    self.put_int_line(b'%', pairs.len() as i64);
                } else {
                    self.put_int_line(b'*', pairs.len() as i64 * 2);
                }
                for (k, v) in pairs {
                    self.encode(k, resp);
                    self.encode(v, resp);
                }
            }
            Reply::Double(d) => {
                let s = format_double(*d);
                if v3 {
                    self.put(b",");
                    self.put(s.as_bytes());
                    self.put(b"\r\n");
                } else {
                    self.put_bulk(s.as_bytes());
                }
            }
            Reply::Bool(b) => {
                if v3 {
                    self.put(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    self.put(if *b { b":1\r\n" } else { b":0\r\n" });
                }
            }
            Reply::Verbatim(fmt, b) => {
                if v3 {
                    self.put_int_line(b'=', b.len() as i64 + 4);
                    self.put(fmt.as_bytes());
                    self.put(b":");
                    self.put(b);
                    self.put(b"\r\n");
                } else {
                    self.put_bulk(b);
                }
            }
            Reply::Raw(b) => self.put_shared(b.clone()),
            Reply::Many(items) => {
                for i in items {
                    self.encode(i, resp);
                }
            }
        }
    }
}

/// Formats a double as Redis does in replies: `inf`, `-inf`, `nan`, integers
/// without a fraction, otherwise `%.17g`.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == 0.0 && d.is_sign_negative() {
        return "-0".into();
    }
    if d == d.trunc() && d.abs() < 1e17 {
        return format!("{}", d as i64);
    }
    format_g17(d)
}

/// C's `%.17g`.
pub fn format_g17(d: f64) -> String {
    let e = format!("{:.16e}", d);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..17).contains(&exp) {
        let decimals = (16 - exp).max(0) as usize;
        let s = format!("{:.*}", decimals, d);
        trim_fraction(&s)
    } else {
        let m = trim_fraction(mant);
        format!("{}e{}{:02}", m, if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

fn trim_fraction(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: Reply, v: u8) -> Vec<u8> {
        let mut o = Output::default();
        o.encode(&r, v);
        o.take().concat()
    }

    #[test]
    fn resp2_and_resp3() {
        let m = Reply::Map(vec![(Reply::bulk(b"a"), Reply::Int(1))]);
        assert_eq!(enc(m.clone(), 2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(m, 3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(Reply::Nil, 2), b"$-1\r\n");
        assert_eq!(enc(Reply::Nil, 3), b"_\r\n");
        assert_eq!(enc(Reply::Double(1.5), 3), b",1.5\r\n");
        assert_eq!(enc(Reply::Bool(true), 2), b":1\r\n");
        assert_eq!(enc(Reply::Error("ERR a\r\nb".into()), 2), b"-ERR a  b\r\n");
    }

    #[test]
    fn large_values_are_not_copied() {
        let big = Bytes::from(vec![7u8; ZERO_COPY_MIN * 2]);
        let mut o = Output::default();
        o.encode(&Reply::Bulk(big.clone()), 2);
        let chunks = o.take();
        assert!(chunks.iter().any(|c| c.as_ptr() == big.as_ptr()));
    }

    #[test]
    fn doubles() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e300), "1.0000000000000001e+300");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
    }
}
