//! Hash values (Redis's t_hash): a compact packed form for small hashes and
//! a hash table past `hash-max-listpack-entries` / `-value`.

use super::EncodingLimits;
use super::small::SmallBytes;

/// A map of fields to values.
#[derive(Clone, Debug, Default)]
pub struct Hash {
    pairs: Vec<(SmallBytes, SmallBytes)>,
}

impl Hash {
    /// Builds a hash from snapshot pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        _limits: &EncodingLimits,
    ) -> Self {
        Hash {
            pairs: pairs
                .into_iter()
                .map(|(f, v)| (SmallBytes::new(f), SmallBytes::new(v)))
                .collect(),
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when empty (an empty hash is never stored).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// (field, value) pairs in storage order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(f, v)| (f.as_slice(), v.as_slice()))
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    /// Heap bytes owned (memory accounting).
    pub fn heap_size(&self) -> usize {
        self.pairs.capacity() * 48
            + self
                .pairs
                .iter()
                .map(|(f, v)| f.heap_size() + v.heap_size())
                .sum::<usize>()
    }
}
