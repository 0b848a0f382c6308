//! A script that runs past `busy-reply-threshold` can still be stopped.
//!
//! Redis serves other clients from inside the script (answering `BUSY`)
//! so that they can send `SCRIPT KILL`, `FUNCTION KILL` or `SHUTDOWN
//! NOSAVE`. forkv does part of that, on its one thread: an instruction-count
//! hook (every 100,000 instructions, as Redis) looks, once the threshold has
//! passed, at what the other clients have sent without consuming it
//! (`MSG_PEEK`). A kill request at the head of a client's input is taken
//! from the socket and answered there and then, as Redis answers it: `OK`
//! and the script stops, or `UNKILLABLE` for a script that wrote, or
//! `BUSY` when it names the other kind of script. `SHUTDOWN NOSAVE` stops
//! any script and is left for its connection to run once the script has
//! ended. Other requests wait for the script to end instead of getting
//! `BUSY` (answering them from here could reorder replies of requests the
//! connection has already read). Only clients connected before the script
//! started are heard: new connections wait in the listen backlog until it
//! ends (Redis accepts them meanwhile), and so does a SIGTERM.

use crate::protocol::{Decoded, Limits, decode};
use crate::server::state::ServerState;
use bytes::{Bytes, BytesMut};

/// What a peeked request asks of a running script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// SCRIPT KILL (`eval` true) or FUNCTION KILL.
    Kill {
        /// SCRIPT KILL.
        eval: bool,
    },
    /// SHUTDOWN NOSAVE.
    Shutdown,
}

/// `UNKILLABLE` for a script that wrote.
pub const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
/// SCRIPT KILL while a function runs.
pub const SLOW_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
/// FUNCTION KILL while an EVAL script runs.
pub const SLOW_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

fn is(b: &Bytes, s: &str) -> bool {
    b.eq_ignore_ascii_case(s.as_bytes())
}

/// The request at the head of `data`, if it is one a busy script heeds,
/// with its length in bytes.
pub fn classify(data: &[u8]) -> Option<(Request, usize)> {
    let mut buf = BytesMut::from(data);
    let limits = Limits {
        max_bulk_len: 1 << 20,
        unauthenticated: false,
    };
    let Ok(Decoded::Request(args)) = decode(&mut buf, limits) else {
        return None;
    };
    let used = data.len() - buf.len();
    let r = match args.as_slice() {
        [a, b] if is(a, "script") && is(b, "kill") => Request::Kill { eval: true },
        [a, b] if is(a, "function") && is(b, "kill") => Request::Kill { eval: false },
        [a, b] if is(a, "shutdown") && is(b, "nosave") => Request::Shutdown,
        _ => return None,
    };
    Some((r, used))
}

/// Looks at every other client's pending input; the first request that
/// concerns the running script, with the client's socket and the
/// request's length.
pub fn peek_requests(srv: &ServerState, caller: u64) -> Option<(i32, Request, usize)> {
    let mut buf = [0u8; 128];
    for (&id, link) in &srv.links {
        if id == caller || link.fd < 0 {
            continue;
        }
        // SAFETY: reads into a local buffer of the given size; MSG_PEEK
        // leaves the bytes for the connection, MSG_DONTWAIT never blocks.
        let n = unsafe {
            libc::recv(
                link.fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            continue;
        }
        if let Some((r, used)) = classify(&buf[..n as usize]) {
            return Some((link.fd, r, used));
        }
    }
    None
}

/// Takes a request of `len` bytes (already seen with [`peek_requests`])
/// from socket `fd` and sends `reply` (a status or error line) in its
/// place.
pub fn answer(fd: i32, len: usize, reply: &str) {
    let mut buf = [0u8; 128];
    let mut out = Vec::with_capacity(reply.len() + 3);
    out.extend_from_slice(reply.as_bytes());
    out.extend_from_slice(b"\r\n");
    // SAFETY: reads at most `len` (<= 128, what was peeked) bytes into a
    // local buffer and writes a local buffer, without blocking; a short
    // write of a few bytes to an idle socket does not happen in practice
    // and would only cut this one reply.
    unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            len.min(buf.len()),
            libc::MSG_DONTWAIT,
        );
        libc::send(
            fd,
            out.as_ptr().cast(),
            out.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_requests_are_recognised_at_the_head_of_input() {
        assert_eq!(
            classify(b"*2\r\n$6\r\nscript\r\n$4\r\nKILL\r\n"),
            Some((Request::Kill { eval: true }, 26))
        );
        assert_eq!(
            classify(b"FUNCTION kill\r\nGET x\r\n"),
            Some((Request::Kill { eval: false }, 15))
        );
        assert_eq!(
            classify(b"shutdown NOSAVE\r\n"),
            Some((Request::Shutdown, 17))
        );
        assert_eq!(classify(b"GET x\r\nSCRIPT KILL\r\n"), None);
        assert_eq!(classify(b"*2\r\n$6\r\nscript\r\n$4\r\nKI"), None);
        assert_eq!(classify(b"SHUTDOWN\r\n"), None);
    }
}
