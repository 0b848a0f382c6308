//! Request decoding: RESP multibulk arrays and inline commands, with
//! Redis's size guards and its exact protocol error texts.
//!
//! The decoder never trusts a length before checking it against the limits,
//! and never reserves memory because a client announced a size.

use bytes::{Bytes, BytesMut};

/// Longest inline request or `*`/`$` header line without a newline.
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest argument count Redis accepts in one request.
pub const MULTIBULK_MAX: i64 = i32::MAX as i64;
/// Argument count and bulk size allowed before authentication.
const UNAUTH_MULTIBULK_MAX: i64 = 10;
const UNAUTH_BULK_MAX: i64 = 16384;

/// Limits applied while decoding.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// True until the client has authenticated on a password-protected server.
    pub unauthenticated: bool,
}

/// A protocol violation: the reply is sent and the connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

fn perr(s: &str) -> ProtocolError {
    ProtocolError(s.to_string())
}

impl ProtocolError {
    /// The error line Redis sends, without `-` and CRLF.
    pub fn text(&self) -> String {
        format!("ERR Protocol error: {}", self.0)
    }
}

/// Result of trying to decode one request from the buffer front.
#[derive(Debug)]
pub enum Decoded {
    /// A complete request (possibly with zero arguments: an empty line).
    Request(Vec<Bytes>),
    /// More bytes are needed; `usize` is a lower bound on the buffer length
    /// at which trying again is worthwhile.
    Incomplete(usize),
}

/// Decodes the request at the front of `buf`, consuming its bytes when
/// complete. Stateless: an incomplete request is scanned again from its
/// start on the next call. Connections use a [`Decoder`], which is not.
pub fn decode(buf: &mut BytesMut, limits: Limits) -> Result<Decoded, ProtocolError> {
    Decoder::default().decode(buf, limits)
}

/// How far the scan of the incomplete request at the front of the buffer
/// got, kept across reads (Redis keeps `multibulklen`, `bulklen` and the
/// arguments so far in the client): each byte is examined once however
/// finely the request arrives. Nothing is consumed until the request is
/// complete, so the buffer still holds all of it (its length is the query
/// buffer's) and arguments stay slices of one frame.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The multibulk request in progress, once its `*<count>` line is read.
    request: Option<Progress>,
    /// Where the search for the current line's end resumes: bytes before
    /// it hold no line end.
    scan_from: usize,
}

#[derive(Debug)]
struct Progress {
    /// Arguments announced.
    count: usize,
    /// Offsets of the arguments complete so far.
    spans: Vec<(usize, usize)>,
    /// Where the next argument's `$` header starts.
    pos: usize,
    /// Length of the argument whose header has been read, if its body is
    /// still incomplete.
    bulk: Option<usize>,
}

impl Decoder {
    /// Decodes the request at the front of `buf`, consuming its bytes when
    /// complete. Between calls the caller may only append to `buf` (and
    /// must [`Decoder::reset`] if it drops what is there).
    pub fn decode(&mut self, buf: &mut BytesMut, limits: Limits) -> Result<Decoded, ProtocolError> {
        if self.request.is_some() {
            return self.resume(buf, limits);
        }
        match buf.first() {
            None => Ok(Decoded::Incomplete(1)),
            Some(b'*') => self.multibulk(buf, limits),
            Some(_) => self.inline(buf),
        }
    }

    /// Forgets any progress (the buffer was replaced).
    pub fn reset(&mut self) {
        *self = Decoder::default();
    }

    /// True while part of a request has been scanned.
    pub fn in_progress(&self) -> bool {
        self.request.is_some() || self.scan_from > 0
    }

    /// Finds the `\r` ending the line that starts at `from`, resuming a
    /// search an earlier call left unfinished.
    fn line_end(&mut self, buf: &[u8], from: usize) -> Option<usize> {
        let start = self.scan_from.max(from);
        match memchr(b'\r', &buf[start..]) {
            Some(i) => {
                self.scan_from = 0;
                Some(start + i)
            }
            None => {
                self.scan_from = buf.len();
                None
            }
        }
    }

    fn multibulk(&mut self, buf: &mut BytesMut, limits: Limits) -> Result<Decoded, ProtocolError> {
        let Some(nl) = self.line_end(buf, 1) else {
            if buf.len() > INLINE_MAX {
                return Err(perr("too big mbulk count string"));
            }
            return Ok(Decoded::Incomplete(buf.len() + 1));
        };
        if nl + 1 >= buf.len() {
            // Search again from the `\r` once the `\n` is there.
            self.scan_from = nl;
            return Ok(Decoded::Incomplete(nl + 2));
        }
        let count = match header_int(&buf[1..nl]) {
            Some(n) if n <= MULTIBULK_MAX => n,
            _ => return Err(perr("invalid multibulk length")),
        };
        if count > UNAUTH_MULTIBULK_MAX && limits.unauthenticated {
            return Err(perr("unauthenticated multibulk length"));
        }
        if count <= 0 {
            let _ = buf.split_to(nl + 2);
            return Ok(Decoded::Request(Vec::new()));
        }
        // Bounded by what has arrived, not by what the client announced.
        let spans = Vec::with_capacity((count as usize).min(1024));
        let p = Progress {
            count: count as usize,
            spans,
            pos: nl + 2,
            bulk: None,
        };
        self.finish(p, buf, limits)
    }

    /// Continues the multibulk request in progress from where it stopped.
    fn resume(&mut self, buf: &mut BytesMut, limits: Limits) -> Result<Decoded, ProtocolError> {
        match self.request.take() {
            Some(p) => self.finish(p, buf, limits),
            None => Ok(Decoded::Incomplete(buf.len() + 1)),
        }
    }

    /// Scans `p` on; hands out the request when complete, or keeps `p` for
    /// the next call.
    #[inline(always)]
    fn finish(
        &mut self,
        mut p: Progress,
        buf: &mut BytesMut,
        limits: Limits,
    ) -> Result<Decoded, ProtocolError> {
        if let Some(need) = scan(&mut p, &mut self.scan_from, buf, limits)? {
            self.request = Some(p);
            return Ok(Decoded::Incomplete(need));
        }
        let frame = buf.split_to(p.pos).freeze();
        Ok(Decoded::Request(
            p.spans
                .into_iter()
                .map(|(s, e)| frame.slice(s..e))
                .collect(),
        ))
    }

    fn inline(&mut self, buf: &mut BytesMut) -> Result<Decoded, ProtocolError> {
        let start = self.scan_from;
        let Some(nl) = memchr(b'\n', &buf[start..]).map(|i| i + start) else {
            if buf.len() > INLINE_MAX {
                return Err(perr("too big inline request"));
            }
            self.scan_from = buf.len();
            return Ok(Decoded::Incomplete(buf.len() + 1));
        };
        self.scan_from = 0;
        decode_inline(buf, nl)
    }
}

/// Scans the arguments of `p` as far as `buf` allows. `None` when all have
/// arrived; otherwise the buffer length worth trying again at, with `p`
/// (and `scan_from`, for a header line cut short) saying where to resume.
/// Positions live in locals while scanning: this is the path of every
/// pipelined request.
#[inline(always)]
fn scan(
    p: &mut Progress,
    scan_from: &mut usize,
    buf: &[u8],
    limits: Limits,
) -> Result<Option<usize>, ProtocolError> {
    let mut pos = p.pos;
    let mut bulk = p.bulk.take();
    let count = p.count;
    while p.spans.len() < count {
        let len = match bulk.take() {
            Some(len) => len,
            None => {
                if pos >= buf.len() {
                    p.pos = pos;
                    return Ok(Some(pos + 1));
                }
                if buf[pos] != b'$' {
                    return Err(ProtocolError(format!(
                        "expected '$', got '{}'",
                        buf[pos] as char
                    )));
                }
                let from = (*scan_from).max(pos + 1);
                let Some(nl) = memchr(b'\r', &buf[from..]).map(|i| i + from) else {
                    if buf.len() - pos > INLINE_MAX {
                        return Err(perr("too big bulk count string"));
                    }
                    *scan_from = buf.len();
                    p.pos = pos;
                    return Ok(Some(buf.len() + 1));
                };
                if nl + 1 >= buf.len() {
                    // Search again from the `\r` once the `\n` is there.
                    *scan_from = nl;
                    p.pos = pos;
                    return Ok(Some(nl + 2));
                }
                *scan_from = 0;
                let len = match header_int(&buf[pos + 1..nl]) {
                    Some(n) if n >= 0 && n <= limits.max_bulk_len => n as usize,
                    _ => return Err(perr("invalid bulk length")),
                };
                if limits.unauthenticated && len as i64 > UNAUTH_BULK_MAX {
                    return Err(perr("unauthenticated bulk length"));
                }
                pos = nl + 2;
                len
            }
        };
        let end = pos + len;
        if end + 2 > buf.len() {
            p.pos = pos;
            p.bulk = Some(len);
            return Ok(Some(end + 2));
        }
        p.spans.push((pos, end));
        pos = end + 2;
    }
    p.pos = pos;
    Ok(None)
}

#[inline]
fn memchr(c: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == c)
}

/// Parses the integer of a `*` or `$` header line the way Redis's string2ll does.
/// Short unsigned lengths, nearly every header, are read directly.
#[inline(always)]
fn header_int(s: &[u8]) -> Option<i64> {
    if (1..=9).contains(&s.len()) && (s[0] != b'0' || s.len() == 1) {
        let mut v = 0i64;
        for &c in s {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return crate::util::num::parse_i64(s);
            }
            v = v * 10 + d as i64;
        }
        return Some(v);
    }
    crate::util::num::parse_i64(s)
}

/// Splits the inline request ending with the `\n` at `nl` into arguments.
fn decode_inline(buf: &mut BytesMut, nl: usize) -> Result<Decoded, ProtocolError> {
    let line = buf.split_to(nl + 1);
    let mut end = nl;
    if end > 0 && line[end - 1] == b'\r' {
        end -= 1;
    }
    match crate::util::split::split_args(&line[..end]) {
        Some(args) => Ok(Decoded::Request(
            args.into_iter().map(Bytes::from).collect(),
        )),
        None => Err(perr("unbalanced quotes in request")),
    }
}

/// Calls `f` with the second argument (the first key of most commands) of
/// each complete multibulk request at the start of `buf`, for at most `max`
/// requests. It only looks: it stops silently at anything incomplete or
/// unusual, which [`decode`] then handles (the caller uses the keys for
/// cache prefetching, never for execution).
pub fn peek_first_keys<'a>(buf: &'a [u8], max: usize, mut f: impl FnMut(&'a [u8])) {
    let mut pos = 0;
    for _ in 0..max {
        if buf.get(pos) != Some(&b'*') {
            return;
        }
        let Some((n, next)) = peek_int(buf, pos + 1) else {
            return;
        };
        pos = next;
        for i in 0..n.max(0) {
            if buf.get(pos) != Some(&b'$') {
                return;
            }
            let Some((len, start)) = peek_int(buf, pos + 1) else {
                return;
            };
            let Some(end) = usize::try_from(len).ok().and_then(|l| start.checked_add(l)) else {
                return;
            };
            if end.saturating_add(2) > buf.len() {
                return;
            }
            if i == 1 {
                f(&buf[start..end]);
            }
            pos = end + 2;
        }
    }
}

/// A decimal line `123\r\n` at `pos`: its value and the position after it.
fn peek_int(buf: &[u8], pos: usize) -> Option<(i64, usize)> {
    let rest = buf.get(pos..)?;
    let cr = rest.iter().take(21).position(|&b| b == b'\r')?;
    if rest.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    let v = crate::util::num::parse_i64(&rest[..cr])?;
    Some((v, pos + cr + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        unauthenticated: false,
    };

    fn one(input: &[u8]) -> Result<Decoded, ProtocolError> {
        let mut b = BytesMut::from(input);
        decode(&mut b, L)
    }

    fn args(d: Decoded) -> Vec<Vec<u8>> {
        match d {
            Decoded::Request(a) => a.into_iter().map(|b| b.to_vec()).collect(),
            Decoded::Incomplete(_) => panic!("incomplete"),
        }
    }

    #[test]
    fn multibulk_and_fragments() {
        let full = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(
            args(one(full).unwrap()),
            vec![b"GET".to_vec(), b"k".to_vec()]
        );
        for cut in 0..full.len() {
            assert!(
                matches!(one(&full[..cut]).unwrap(), Decoded::Incomplete(_)),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn pipelined() {
        let mut b = BytesMut::from(&b"PING\r\n*1\r\n$4\r\nPING\r\nECHO 'a b'\n"[..]);
        let mut n = 0;
        while let Decoded::Request(a) = decode(&mut b, L).unwrap() {
            assert!(!a.is_empty());
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn errors() {
        assert_eq!(one(b"*x\r\n").unwrap_err().0, "invalid multibulk length");
        assert_eq!(one(b"*1\r\n$-1\r\n").unwrap_err().0, "invalid bulk length");
        assert_eq!(one(b"*1\r\nx\r\n").unwrap_err().0, "expected '$', got 'x'");
        assert_eq!(
            one(b"SET \"a\r\n").unwrap_err().0,
            "unbalanced quotes in request"
        );
        assert_eq!(
            one(&vec![b'a'; INLINE_MAX + 1]).unwrap_err().0,
            "too big inline request"
        );
        let mut b = BytesMut::from(&b"*20\r\n"[..]);
        let unauth = Limits {
            unauthenticated: true,
            ..L
        };
        assert_eq!(
            decode(&mut b, unauth).unwrap_err().0,
            "unauthenticated multibulk length"
        );
        let small = Limits {
            max_bulk_len: 10,
            ..L
        };
        let mut b = BytesMut::from(&b"*1\r\n$11\r\n"[..]);
        assert_eq!(decode(&mut b, small).unwrap_err().0, "invalid bulk length");
    }

    #[test]
    fn peek_first_keys_reads_complete_requests_only() {
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$2\r\nbb\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$5\r\ncc";
        let mut keys = Vec::new();
        super::peek_first_keys(buf, 16, |k| keys.push(k.to_vec()));
        assert_eq!(keys, vec![b"a".to_vec(), b"bb".to_vec()]);
        let mut n = 0;
        super::peek_first_keys(buf, 1, |_| n += 1);
        assert_eq!(n, 1);
        for junk in [
            &b"PING\r\n"[..],
            b"*2\r\n$-1\r\n",
            b"*9999999999999999999999\r\n",
            b"*2\r\n$99999999999999999\r\nx",
        ] {
            super::peek_first_keys(junk, 16, |_| panic!("no key in {junk:?}"));
        }
    }
}
