//! The wire protocol: decoding requests (RESP and inline), encoding
//! replies as RESP2 or RESP3, and encoding requests (for logged effects
//! and the snapshot tool's RESP output).

pub mod decode;
pub mod reply;

pub use decode::{Decoded, Decoder, Limits, ProtocolError, decode, peek_first_keys};
pub use reply::{Output, Reply};

/// Appends `argv` as a RESP request (an array of bulk strings).
pub fn encode_request(out: &mut Vec<u8>, argv: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}
