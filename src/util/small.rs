//! `SmallBytes`: the byte string the keyspace stores keys and string values in.
//!
//! Most keys and values are short, so up to 22 bytes live inline in the
//! 24-byte value itself (no allocation, no pointer to chase). Longer strings
//! get one exact-size heap allocation; very long ones are kept as shared
//! `Bytes` so a `GET` can hand them to the socket without copying.

use bytes::Bytes;
use std::fmt;

/// Longest string stored inline.
pub const INLINE_CAP: usize = 22;
/// Strings at least this long are stored as shared `Bytes` (zero-copy replies).
pub const SHARED_MIN: usize = 16 * 1024;

/// A compact, immutable-by-default byte string (24 bytes).
#[derive(Clone)]
pub enum SmallBytes {
    /// Up to [`INLINE_CAP`] bytes stored in place.
    Inline { len: u8, data: [u8; INLINE_CAP] },
    /// One exact-size heap allocation.
    Heap(Box<[u8]>),
    /// A large string shared with replies in flight.
    Shared(Box<Bytes>),
}

impl SmallBytes {
    /// Copies `s` into the most compact representation for its length.
    pub fn new(s: &[u8]) -> Self {
        if s.len() <= INLINE_CAP {
            let mut data = [0u8; INLINE_CAP];
            data[..s.len()].copy_from_slice(s);
            SmallBytes::Inline {
                len: s.len() as u8,
                data,
            }
        } else if s.len() < SHARED_MIN {
            SmallBytes::Heap(s.into())
        } else {
            SmallBytes::Shared(Box::new(Bytes::copy_from_slice(s)))
        }
    }

    /// Takes ownership of request bytes; large ones are kept without a copy
    /// only when they do not pin a bigger buffer.
    pub fn from_bytes(b: &Bytes) -> Self {
        if b.len() >= SHARED_MIN {
            // Copy once so the stored value does not keep the whole request
            // buffer alive; later GETs share this copy.
            SmallBytes::Shared(Box::new(Bytes::copy_from_slice(b)))
        } else {
            Self::new(b)
        }
    }

    /// Builds from an owned vector (used by APPEND, SETRANGE and friends).
    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE_CAP {
            Self::new(&v)
        } else if v.len() < SHARED_MIN {
            SmallBytes::Heap(v.into_boxed_slice())
        } else {
            SmallBytes::Shared(Box::new(Bytes::from(v)))
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, data } => &data[..*len as usize],
            SmallBytes::Heap(b) => b,
            SmallBytes::Shared(b) => b,
        }
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            SmallBytes::Inline { len, .. } => *len as usize,
            SmallBytes::Heap(b) => b.len(),
            SmallBytes::Shared(b) => b.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A `Bytes` for a reply: shares large values, copies small ones.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            SmallBytes::Shared(b) => (**b).clone(),
            other => Bytes::copy_from_slice(other.as_slice()),
        }
    }

    /// Heap bytes owned beyond the 24-byte value itself (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            SmallBytes::Inline { .. } => 0,
            SmallBytes::Heap(b) => b.len(),
            SmallBytes::Shared(b) => b.len() + std::mem::size_of::<Bytes>(),
        }
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl Eq for SmallBytes {}

impl PartialEq<[u8]> for SmallBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_24_bytes() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
    }

    #[test]
    fn representations_round_trip() {
        for n in [
            0,
            1,
            22,
            23,
            100,
            SHARED_MIN - 1,
            SHARED_MIN,
            SHARED_MIN * 2,
        ] {
            let v: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let a = SmallBytes::new(&v);
            let b = SmallBytes::from_vec(v.clone());
            let c = SmallBytes::from_bytes(&Bytes::from(v.clone()));
            for s in [&a, &b, &c] {
                assert_eq!(s.as_slice(), &v[..]);
                assert_eq!(s.len(), n);
                assert_eq!(&s.to_bytes()[..], &v[..]);
            }
            assert!(matches!(a, SmallBytes::Inline { .. }) == (n <= INLINE_CAP));
        }
    }
}
