//! List values (Redis's t_list): a compact packed form for small lists and
//! a general form past `list-max-listpack-size`.

use super::EncodingLimits;
use super::small::SmallBytes;
use std::collections::VecDeque;

/// A list of byte strings.
#[derive(Clone, Debug, Default)]
pub struct List {
    items: VecDeque<SmallBytes>,
}

impl List {
    /// Builds a list from snapshot items, head first.
    pub fn from_items<'a>(
        items: impl IntoIterator<Item = &'a [u8]>,
        _limits: &EncodingLimits,
    ) -> Self {
        List {
            items: items.into_iter().map(SmallBytes::new).collect(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty (an empty list is never stored).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Elements head first (snapshot writer, dump).
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.items.iter().map(|s| s.as_slice())
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Heap bytes owned (memory accounting).
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<SmallBytes>()
            + self.items.iter().map(|s| s.heap_size()).sum::<usize>()
    }
}
