//! Set values (Redis's t_set): integer sets, small packed sets, and a hash
//! table past `set-max-intset-entries` / `set-max-listpack-entries`.

use super::EncodingLimits;
use super::small::SmallBytes;

/// A set of distinct byte strings.
#[derive(Clone, Debug, Default)]
pub struct Set {
    members: Vec<SmallBytes>,
}

impl Set {
    /// Builds a set from snapshot members.
    pub fn from_members<'a>(
        members: impl IntoIterator<Item = &'a [u8]>,
        _limits: &EncodingLimits,
    ) -> Self {
        Set {
            members: members.into_iter().map(SmallBytes::new).collect(),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when empty (an empty set is never stored).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Members in storage order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.members.iter().map(|s| s.as_slice())
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    /// Heap bytes owned (memory accounting).
    pub fn heap_size(&self) -> usize {
        self.members.capacity() * 24 + self.members.iter().map(|s| s.heap_size()).sum::<usize>()
    }
}
