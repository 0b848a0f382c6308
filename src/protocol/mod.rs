//! The wire protocol: decoding requests (RESP and inline) and encoding
//! replies as RESP2 or RESP3.

pub mod decode;
pub mod reply;

pub use decode::{Decoded, Limits, ProtocolError, decode, peek_first_keys};
pub use reply::{Output, Reply};
