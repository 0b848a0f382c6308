//! Hash values (Redis's t_hash): a compact packed form for small hashes and
//! a hash table past `hash-max-listpack-entries` / `-value`.
//!
//! - `listpack`: fields and values alternate in one [`Packed`] buffer, in
//!   insertion order (an update keeps the field's place, as Redis's listpack
//!   does, so small hashes list their fields in the same order as Redis).
//!   Used while there are at most `hash-max-listpack-entries` fields and no
//!   field or value is longer than `hash-max-listpack-value` bytes.
//! - `hashtable`: a [`Dict`] from field to value, with incremental rehashing
//!   and `Dict::scan`'s cursor guarantee for HSCAN.
//!
//! The conversion is one way, as in Redis: deleting fields never packs a
//! hash table again.

use super::EncodingLimits;
use super::dict::Dict;
use super::set::{
    DictIter, PACKED_MAX_BYTES, Packed, below, clone_dict, dict_overhead, fair_random,
};
use super::small::SmallBytes;
use std::fmt;

enum Repr {
    /// field, value, field, value, ...
    Packed(Packed),
    /// field -> value.
    Table(Box<Dict<SmallBytes>>),
}

/// A map of fields to values.
pub struct Hash {
    repr: Repr,
}

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

impl Clone for Hash {
    fn clone(&self) -> Self {
        Hash {
            repr: match &self.repr {
                Repr::Packed(p) => Repr::Packed(p.clone()),
                Repr::Table(d) => Repr::Table(Box::new(clone_dict(d))),
            },
        }
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hash")
            .field("encoding", &self.encoding())
            .field(
                "pairs",
                &self
                    .iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v)))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Hash {
    /// An empty hash in the packed encoding.
    pub fn new() -> Self {
        Hash {
            repr: Repr::Packed(Packed::new()),
        }
    }

    /// Builds a hash from snapshot pairs (a repeated field keeps its last
    /// value), in the encoding Redis would pick when loading them.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        limits: &EncodingLimits,
    ) -> Self {
        let pairs: Vec<(&[u8], &[u8])> = pairs.into_iter().collect();
        let max = limits.hash_max_listpack_value;
        let packed = pairs.len() as u64 <= limits.hash_max_listpack_entries
            && pairs
                .iter()
                .all(|(f, v)| f.len() as u64 <= max && v.len() as u64 <= max);
        let mut h = if packed {
            Hash::new()
        } else {
            let mut d = Dict::new();
            d.reserve(pairs.len());
            Hash {
                repr: Repr::Table(Box::new(d)),
            }
        };
        for (f, v) in pairs {
            h.set(f, v, limits);
        }
        h
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len() / 2,
            Repr::Table(d) => d.len(),
        }
    }

    /// True when empty (an empty hash is never stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (field, value) pairs in storage order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        enum It<'a> {
            P(super::set::PackedIter<'a>),
            D(DictIter<'a, SmallBytes>),
        }
        impl<'a> Iterator for It<'a> {
            type Item = (&'a [u8], &'a [u8]);
            fn next(&mut self) -> Option<Self::Item> {
                match self {
                    It::P(p) => {
                        let f = p.next()?;
                        Some((f, p.next()?))
                    }
                    It::D(d) => d.next().map(|n| (n.key.as_slice(), n.value.as_slice())),
                }
            }
        }
        match &self.repr {
            Repr::Packed(p) => It::P(p.iter()),
            Repr::Table(d) => It::D(DictIter::new(d)),
        }
    }

    /// Calls `f` with every (field, value), in storage order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match &self.repr {
            Repr::Packed(p) => {
                let mut it = p.iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    f(k, v);
                }
            }
            Repr::Table(d) => d.for_each(|n| f(n.key.as_slice(), n.value.as_slice())),
        }
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True for the hash table encoding (the only one HSCAN pages through).
    pub fn is_table(&self) -> bool {
        matches!(self.repr, Repr::Table(_))
    }

    /// Heap bytes owned (memory accounting).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.heap_size(),
            Repr::Table(d) => {
                let mut owned = 0;
                d.for_each(|n| owned += n.key.heap_size() + n.value.heap_size());
                std::mem::size_of::<Dict<SmallBytes>>() + dict_overhead(d) + owned
            }
        }
    }

    /// Allows or forbids the hash table to resize at its normal load factor
    /// (forbidden while a snapshot child shares the memory).
    pub fn set_resize_allowed(&mut self, allowed: bool) {
        if let Repr::Table(d) = &mut self.repr {
            d.set_resize_allowed(allowed);
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed(p) => {
                let off = p.find(field, 2)?;
                let next = p.entry(off).1;
                Some(p.entry(next).0)
            }
            Repr::Table(d) => d.get(field).map(|n| n.value.as_slice()),
        }
    }

    /// The value of `field` as a reply-ready string (shares large values).
    pub fn get_small(&self, field: &[u8]) -> Option<SmallBytes> {
        match &self.repr {
            Repr::Table(d) => d.get(field).map(|n| n.value.clone()),
            Repr::Packed(_) => self.get(field).map(SmallBytes::new),
        }
    }

    /// True if `field` exists.
    pub fn contains(&self, field: &[u8]) -> bool {
        match &self.repr {
            Repr::Packed(p) => p.find(field, 2).is_some(),
            Repr::Table(d) => d.get(field).is_some(),
        }
    }

    fn convert_to_table(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            let mut d = Dict::new();
            d.reserve(p.len() / 2);
            let mut it = p.iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                d.insert(SmallBytes::new(k), SmallBytes::new(v));
            }
            self.repr = Repr::Table(Box::new(d));
        }
    }

    /// Sets `field` to `value`; true if the field is new. Converts to a
    /// hash table first when the field or value is too long for the packed
    /// form, and after adding when there are too many fields (Redis's
    /// `hashTypeSet` with `hashTypeTryConversion`).
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: &EncodingLimits) -> bool {
        if let Repr::Packed(p) = &self.repr {
            let max = lim.hash_max_listpack_value;
            if field.len() as u64 > max
                || value.len() as u64 > max
                || p.byte_len() + field.len() + value.len() + 20 >= PACKED_MAX_BYTES
            {
                self.convert_to_table();
            }
        }
        match &mut self.repr {
            Repr::Packed(p) => {
                if let Some(off) = p.find(field, 2) {
                    let next = p.entry(off).1;
                    p.replace(next, value);
                    return false;
                }
                p.push(field);
                p.push(value);
                if (p.len() / 2) as u64 > lim.hash_max_listpack_entries {
                    self.convert_to_table();
                }
                true
            }
            Repr::Table(d) => match d.get_mut(field) {
                Some(n) => {
                    n.value = SmallBytes::new(value);
                    false
                }
                None => {
                    d.insert_new(SmallBytes::new(field), SmallBytes::new(value));
                    true
                }
            },
        }
    }

    /// Removes `field`; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => match p.find(field, 2) {
                Some(off) => {
                    p.remove(off, 2);
                    true
                }
                None => false,
            },
            Repr::Table(d) => {
                if d.remove(field).is_some() {
                    d.shrink_if_needed();
                    true
                } else {
                    false
                }
            }
        }
    }

    /// A random (field, value), or None when empty.
    pub fn random(&self, mut r: impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Packed(p) => {
                if p.is_empty() {
                    return None;
                }
                let i = below(r(), p.len() / 2);
                let mut it = p.iter().skip(2 * i);
                Some((it.next()?, it.next()?))
            }
            Repr::Table(d) => fair_random(d, r).map(|n| (n.key.as_slice(), n.value.as_slice())),
        }
    }

    /// A sampler for many random picks with repetition: O(1) per pick.
    pub fn sampler(&self) -> Sampler<'_> {
        match &self.repr {
            Repr::Packed(p) => Sampler::Packed(p, p.offsets(2)),
            Repr::Table(d) => Sampler::Table(d),
        }
    }

    /// All pairs, in storage order.
    pub fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.iter().collect()
    }

    /// Redis's HSCAN step: for a hash table, the pairs of the buckets at
    /// `cursor` and the next cursor; the packed form returns everything and
    /// cursor 0.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Table(d) => d.scan(cursor, |n| f(n.key.as_slice(), n.value.as_slice())),
            Repr::Packed(_) => {
                self.for_each(f);
                0
            }
        }
    }
}

/// Random access into a hash for repeated sampling (see [`Hash::sampler`]).
pub enum Sampler<'a> {
    /// Offsets of the fields.
    Packed(&'a Packed, Vec<usize>),
    /// Dict sampling.
    Table(&'a Dict<SmallBytes>),
}

impl Sampler<'_> {
    /// One random pair (None when the hash is empty).
    pub fn pick(&self, r: impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        match self {
            Sampler::Packed(p, offs) => {
                let mut r = r;
                if offs.is_empty() {
                    return None;
                }
                let (k, next) = p.entry(offs[below(r(), offs.len())]);
                Some((k, p.entry(next).0))
            }
            Sampler::Table(d) => fair_random(d, r).map(|n| (n.key.as_slice(), n.value.as_slice())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_keeps_order_and_converts() {
        let l = EncodingLimits::default();
        let mut h = Hash::new();
        assert!(h.set(b"b", b"1", &l));
        assert!(h.set(b"a", b"2", &l));
        assert!(!h.set(b"b", b"a longer value", &l));
        assert_eq!(
            h.pairs(),
            vec![(&b"b"[..], &b"a longer value"[..]), (b"a", b"2")]
        );
        assert_eq!(h.get(b"a"), Some(&b"2"[..]));
        assert_eq!(h.get(b"2"), None);
        assert_eq!(h.encoding(), "listpack");
        assert!(h.remove(b"b") && !h.remove(b"b"));
        assert_eq!(h.len(), 1);
        for i in 0..512 {
            h.set(format!("f{i}").as_bytes(), b"v", &l);
        }
        assert_eq!((h.len(), h.encoding()), (513, "hashtable"));
        assert_eq!(h.get(b"a"), Some(&b"2"[..]));
        assert_eq!(h.iter().count(), 513);
        let c = h.clone();
        assert_eq!(c.get(b"f511"), Some(&b"v"[..]));

        let mut h = Hash::new();
        h.set(b"f", &[b'x'; 64], &l);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f", &[b'x'; 65], &l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f").map(|v| v.len()), Some(65));
    }

    #[test]
    fn from_pairs_dedupes() {
        let l = EncodingLimits::default();
        let h = Hash::from_pairs([(&b"a"[..], &b"1"[..]), (b"a", b"2")], &l);
        assert_eq!((h.len(), h.get(b"a")), (1, Some(&b"2"[..])));
    }
}
