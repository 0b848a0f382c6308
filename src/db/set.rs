//! Set values (Redis's t_set): integer sets, small packed sets, and a hash
//! table past `set-max-intset-entries` / `set-max-listpack-entries`.
//!
//! Three encodings, converted one way only (up), as in Redis:
//!
//! - `intset`: every member is an integer in Redis's canonical form
//!   (`string2ll`: no `+`, no leading zeros, no `-0`); kept sorted in the
//!   smallest of 16/32/64-bit widths that holds them all, binary searched.
//!   Used while there are at most `set-max-intset-entries` members.
//! - `listpack`: members as length-prefixed strings in one buffer
//!   ([`Packed`]), in insertion order, while there are at most
//!   `set-max-listpack-entries` members of at most `set-max-listpack-value`
//!   bytes. This is Redis 7.2's behaviour; Redis 7.0 has no listpack sets and
//!   goes straight from `intset` to `hashtable`.
//! - `hashtable`: a [`Dict`] of members (incremental rehashing, and
//!   `Dict::scan`'s cursor guarantee for SSCAN).
//!
//! Redis 7.2 also pre-converts on a size hint (SADD with more arguments than
//! a limit, SMOVE into a new key), which this module reproduces through
//! [`Set::new_for`] and [`Set::maybe_convert`].
//!
//! [`Set::iter`] (the snapshot writer's interface) yields `&[u8]`, which an
//! intset does not store: its decimal text is rendered on first use and
//! cached until the next change. Commands use [`Set::for_each`] and
//! [`Member`], which need no cache.
//!
//! This file also holds what hashes share with sets: [`Packed`] (the
//! listpack-like buffer), [`DictIter`] (a borrowing iterator over a `Dict`,
//! which only offers callbacks) and [`fair_random`] (Redis's fair random
//! entry, for SRANDMEMBER/SPOP/HRANDFIELD).

use super::EncodingLimits;
use super::dict::{Dict, Node};
use super::small::SmallBytes;
use crate::util::num::{fmt_i64, parse_i64};
use std::cell::OnceCell;
use std::fmt;

/// Redis's `LISTPACK_MAX_SAFETY_SIZE`: a packed value never grows past 1 GB.
pub const PACKED_MAX_BYTES: usize = 1 << 30;

// ---------------------------------------------------------------------------
// Packed: length-prefixed strings in one buffer
// ---------------------------------------------------------------------------

/// Byte strings packed back to back in one allocation, each preceded by its
/// length as a LEB128 varint (one byte up to 127). This is the idea of
/// Redis's listpack without its integer encodings: one allocation per small
/// collection, sequential scans, and a write that touches one buffer.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Packed {
    buf: Vec<u8>,
    count: u32,
}

fn put_len(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn len_size(mut n: usize) -> usize {
    let mut s = 1;
    while n >= 0x80 {
        n >>= 7;
        s += 1;
    }
    s
}

/// Decodes the length prefix at `off`: (payload length, payload start).
#[inline]
fn read_len(buf: &[u8], mut off: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[off];
        off += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return (n, off);
        }
        shift += 7;
    }
}

impl Packed {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes used by the encoding.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes owned.
    pub fn heap_size(&self) -> usize {
        self.buf.capacity()
    }

    /// The entry at byte offset `off` and the offset of the next entry.
    #[inline]
    pub fn entry(&self, off: usize) -> (&[u8], usize) {
        let (n, start) = read_len(&self.buf, off);
        (&self.buf[start..start + n], start + n)
    }

    /// Entries in order.
    pub fn iter(&self) -> PackedIter<'_> {
        PackedIter {
            buf: &self.buf,
            off: 0,
        }
    }

    /// Appends an entry.
    pub fn push(&mut self, s: &[u8]) {
        self.buf.reserve(len_size(s.len()) + s.len());
        put_len(&mut self.buf, s.len());
        self.buf.extend_from_slice(s);
        self.count += 1;
    }

    /// Byte offset of the first entry equal to `s` among entries 0, step,
    /// 2*step, ... (step 2 searches the fields of field/value pairs).
    pub fn find(&self, s: &[u8], step: usize) -> Option<usize> {
        let mut off = 0;
        let end = self.buf.len();
        while off < end {
            let (n, start) = read_len(&self.buf, off);
            if n == s.len() && &self.buf[start..start + n] == s {
                return Some(off);
            }
            off = start + n;
            for _ in 1..step {
                let (n, start) = read_len(&self.buf, off);
                off = start + n;
            }
        }
        None
    }

    /// Removes `n` consecutive entries starting at byte offset `off`.
    pub fn remove(&mut self, off: usize, n: usize) {
        let mut end = off;
        for _ in 0..n {
            end = self.entry(end).1;
        }
        self.buf.drain(off..end);
        self.count -= n as u32;
        if self.buf.capacity() > 64 && self.buf.capacity() > self.buf.len() * 2 {
            self.buf.shrink_to_fit();
        }
    }

    /// Replaces the entry at byte offset `off` with `s`.
    pub fn replace(&mut self, off: usize, s: &[u8]) {
        let (old, end) = self.entry(off);
        if old.len() == s.len() {
            let start = end - s.len();
            self.buf[start..end].copy_from_slice(s);
            return;
        }
        let mut enc = Vec::with_capacity(len_size(s.len()) + s.len());
        put_len(&mut enc, s.len());
        enc.extend_from_slice(s);
        self.buf.splice(off..end, enc);
    }

    /// Byte offsets of every `step`-th entry (random access for sampling).
    pub fn offsets(&self, step: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.len() / step.max(1));
        let mut off = 0;
        let mut i = 0;
        while off < self.buf.len() {
            if i % step == 0 {
                out.push(off);
            }
            off = self.entry(off).1;
            i += 1;
        }
        out
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.buf.shrink_to_fit();
    }
}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Iterator over the entries of a [`Packed`].
#[derive(Clone)]
pub struct PackedIter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.off >= self.buf.len() {
            return None;
        }
        let (n, start) = read_len(self.buf, self.off);
        self.off = start + n;
        Some(&self.buf[start..start + n])
    }
}

// ---------------------------------------------------------------------------
// DictIter: a borrowing iterator over a Dict
// ---------------------------------------------------------------------------

/// Buckets of a dict's smaller table (both tables are powers of two, so
/// this is the lowest set bit of the total); 0 for an unallocated dict.
/// `scan` of cursor `i < small_buckets` visits bucket `i` and, during a
/// migration, the buckets of the larger table that it expands into: so
/// cursors `0..small_buckets` in order visit every entry exactly once,
/// sequentially through memory (the reverse-binary cursor order of SCAN
/// jumps around and is several times slower on large tables).
fn small_buckets<V>(d: &Dict<V>) -> u64 {
    let total = d.buckets() as u64;
    if total == 0 {
        0
    } else {
        1 << total.trailing_zeros()
    }
}

/// Iterates a `Dict` with references that live as long as the borrow of the
/// dict (`Dict` itself only offers callbacks, whose references cannot
/// escape), one bucket at a time. This is the snapshot writer's path
/// (`Hash::iter`, `Set::iter`), so it must not copy or look keys up again.
pub struct DictIter<'a, V> {
    dict: &'a Dict<V>,
    bucket: u64,
    end: u64,
    nodes: Vec<*const Node<V>>,
    pos: usize,
}

impl<'a, V> DictIter<'a, V> {
    /// An iterator over `dict`.
    pub fn new(dict: &'a Dict<V>) -> Self {
        DictIter {
            dict,
            bucket: 0,
            end: if dict.is_empty() {
                0
            } else {
                small_buckets(dict)
            },
            nodes: Vec::new(),
            pos: 0,
        }
    }
}

impl<'a, V> Iterator for DictIter<'a, V> {
    type Item = &'a Node<V>;
    fn next(&mut self) -> Option<&'a Node<V>> {
        loop {
            if let Some(&p) = self.nodes.get(self.pos) {
                self.pos += 1;
                // SAFETY: `p` points to a node owned (boxed) by `self.dict`,
                // taken from a shared reference during `scan`. The dict is
                // borrowed shared for 'a and has no interior mutability, so
                // no node is moved, freed or written while 'a lasts.
                return Some(unsafe { &*p });
            }
            if self.bucket >= self.end {
                return None;
            }
            self.nodes.clear();
            self.pos = 0;
            let nodes = &mut self.nodes;
            self.dict
                .scan(self.bucket, |n| nodes.push(n as *const Node<V>));
            self.bucket += 1;
        }
    }
}

/// A random entry of `d`, fairer than `Dict::random` (Redis's
/// `dictGetFairRandomKey`): picking a random bucket and then a random chain
/// position favours entries alone in their bucket, so this gathers about 15
/// entries from consecutive buckets starting at a random one (as Redis's
/// `dictGetSomeKeys`) and picks uniformly among them (reservoir sampling,
/// one pass).
pub fn fair_random<V>(d: &Dict<V>, mut r: impl FnMut() -> u64) -> Option<&Node<V>> {
    const WANT: usize = 15;
    if d.is_empty() {
        return None;
    }
    // Buckets of the smaller table (both sizes are powers of two): `scan`
    // of cursor i visits its bucket i and, while rehashing, that bucket's
    // expansions in the larger table.
    let small = small_buckets(d) as usize;
    let steps = small.min(WANT * 10);
    let start = r() as usize;
    let mut seen = 0usize;
    let mut chosen: Option<SmallBytes> = None;
    let mut x = r() | 1;
    for i in 0..steps {
        d.scan(start.wrapping_add(i) as u64 & (small as u64 - 1), |n| {
            seen += 1;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if below(x, seen) == 0 {
                chosen = Some(n.key.clone());
            }
        });
        if seen >= WANT {
            break;
        }
    }
    match chosen {
        Some(k) => d.get(k.as_slice()),
        None => d.random(r),
    }
}

/// Copies a dict (Dict itself is not `Clone`).
pub fn clone_dict<V: Clone>(d: &Dict<V>) -> Dict<V> {
    let mut out = Dict::new();
    out.reserve(d.len());
    d.for_each(|n| {
        out.insert_new(n.key.clone(), n.value.clone());
    });
    out
}

/// Heap bytes of a dict's buckets and nodes (not counting what the keys
/// and values own).
pub fn dict_overhead<V>(d: &Dict<V>) -> usize {
    // Each node is one allocation; allocators round small blocks up to 16.
    let node = std::mem::size_of::<Node<V>>().next_multiple_of(16);
    d.buckets() * std::mem::size_of::<usize>() + d.len() * node
}

// ---------------------------------------------------------------------------
// IntSet
// ---------------------------------------------------------------------------

/// Sorted distinct integers in the smallest width that holds them all
/// (Redis's intset). Widths only grow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntSet {
    /// Every member fits 16 bits.
    W16(Vec<i16>),
    /// Every member fits 32 bits.
    W32(Vec<i32>),
    /// 64-bit members.
    W64(Vec<i64>),
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::W16(Vec::new())
    }
}

fn width_of(v: i64) -> u8 {
    if v >= i16::MIN as i64 && v <= i16::MAX as i64 {
        2
    } else if v >= i32::MIN as i64 && v <= i32::MAX as i64 {
        4
    } else {
        8
    }
}

impl IntSet {
    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            IntSet::W16(v) => v.len(),
            IntSet::W32(v) => v.len(),
            IntSet::W64(v) => v.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn width(&self) -> u8 {
        match self {
            IntSet::W16(_) => 2,
            IntSet::W32(_) => 4,
            IntSet::W64(_) => 8,
        }
    }

    /// The member at sorted position `i`.
    pub fn get(&self, i: usize) -> i64 {
        match self {
            IntSet::W16(v) => v[i] as i64,
            IntSet::W32(v) => v[i] as i64,
            IntSet::W64(v) => v[i],
        }
    }

    /// Position of `x` (Ok) or where it would go (Err).
    fn search(&self, x: i64) -> Result<usize, usize> {
        if width_of(x) > self.width() {
            return Err(if x < 0 { 0 } else { self.len() });
        }
        match self {
            IntSet::W16(v) => v.binary_search(&(x as i16)),
            IntSet::W32(v) => v.binary_search(&(x as i32)),
            IntSet::W64(v) => v.binary_search(&x),
        }
    }

    /// True if `x` is a member.
    pub fn contains(&self, x: i64) -> bool {
        self.search(x).is_ok()
    }

    /// Adds `x`; false if it was already there.
    pub fn insert(&mut self, x: i64) -> bool {
        let pos = match self.search(x) {
            Ok(_) => return false,
            Err(p) => p,
        };
        if width_of(x) > self.width() {
            self.upgrade(width_of(x));
        }
        match self {
            IntSet::W16(v) => v.insert(pos, x as i16),
            IntSet::W32(v) => v.insert(pos, x as i32),
            IntSet::W64(v) => v.insert(pos, x),
        }
        true
    }

    fn upgrade(&mut self, w: u8) {
        let all: Vec<i64> = self.iter().collect();
        *self = if w == 4 {
            IntSet::W32(all.into_iter().map(|x| x as i32).collect())
        } else {
            IntSet::W64(all)
        };
    }

    /// Removes `x`; false if it was not there.
    pub fn remove(&mut self, x: i64) -> bool {
        let Ok(pos) = self.search(x) else {
            return false;
        };
        match self {
            IntSet::W16(v) => {
                v.remove(pos);
            }
            IntSet::W32(v) => {
                v.remove(pos);
            }
            IntSet::W64(v) => {
                v.remove(pos);
            }
        }
        true
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Smallest member (0 when empty).
    pub fn min(&self) -> i64 {
        if self.is_empty() { 0 } else { self.get(0) }
    }

    /// Largest member (0 when empty).
    pub fn max(&self) -> i64 {
        if self.is_empty() {
            0
        } else {
            self.get(self.len() - 1)
        }
    }

    /// Heap bytes owned.
    pub fn heap_size(&self) -> usize {
        match self {
            IntSet::W16(v) => v.capacity() * 2,
            IntSet::W32(v) => v.capacity() * 4,
            IntSet::W64(v) => v.capacity() * 8,
        }
    }

    fn shrink_if_sparse(&mut self) {
        fn s<T>(v: &mut Vec<T>) {
            if v.capacity() > 8 && v.capacity() > v.len() * 2 {
                v.shrink_to_fit();
            }
        }
        match self {
            IntSet::W16(v) => s(v),
            IntSet::W32(v) => s(v),
            IntSet::W64(v) => s(v),
        }
    }
}

// ---------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------

/// A set member as stored: an intset integer or a byte string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    /// A member of an intset.
    Int(i64),
    /// A member of a listpack or hash table set.
    Str(&'a [u8]),
}

impl Member<'_> {
    /// Calls `f` with the member's bytes (integers are formatted on the stack).
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            Member::Int(i) => {
                let mut buf = [0u8; 20];
                f(fmt_i64(i, &mut buf))
            }
            Member::Str(s) => f(s),
        }
    }

    /// An owned copy of the member's bytes.
    pub fn to_small(&self) -> SmallBytes {
        self.with(SmallBytes::new)
    }

    /// An owned copy of the member's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.with(|b| b.to_vec())
    }
}

/// Number of decimal characters of `v` (Redis's `sdigits10`).
fn digits(v: i64) -> usize {
    let mut buf = [0u8; 20];
    fmt_i64(v, &mut buf).len()
}

/// `set-max-intset-entries`, capped as Redis does (`intsetMaxEntries`).
fn intset_max(lim: &EncodingLimits) -> usize {
    lim.set_max_intset_entries.min(1 << 30) as usize
}

// ---------------------------------------------------------------------------
// Set
// ---------------------------------------------------------------------------

enum Repr {
    /// Integer members; `text` caches their decimal form for [`Set::iter`].
    Int {
        set: IntSet,
        text: OnceCell<Box<Packed>>,
    },
    /// Small sets, insertion order.
    Packed(Packed),
    /// Everything else.
    Table(Box<Dict<()>>),
}

/// A set of distinct byte strings.
pub struct Set {
    repr: Repr,
}

impl Default for Set {
    fn default() -> Self {
        Set::new()
    }
}

impl Clone for Set {
    fn clone(&self) -> Self {
        Set {
            repr: match &self.repr {
                Repr::Int { set, .. } => Repr::Int {
                    set: set.clone(),
                    text: OnceCell::new(),
                },
                Repr::Packed(p) => Repr::Packed(p.clone()),
                Repr::Table(d) => Repr::Table(Box::new(clone_dict(d))),
            },
        }
    }
}

impl fmt::Debug for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut members = Vec::new();
        self.for_each(|m| members.push(m.with(|b| String::from_utf8_lossy(b).into_owned())));
        f.debug_struct("Set")
            .field("encoding", &self.encoding())
            .field("members", &members)
            .finish()
    }
}

impl Set {
    /// An empty set in the `intset` encoding (Redis's `createIntsetObject`),
    /// which the first additions convert as needed.
    pub fn new() -> Self {
        Set {
            repr: Repr::Int {
                set: IntSet::default(),
                text: OnceCell::new(),
            },
        }
    }

    /// An empty set able to hold `first` and about `size_hint` members
    /// (Redis 7.2's `setTypeCreate`).
    pub fn new_for(first: &[u8], size_hint: usize, lim: &EncodingLimits) -> Self {
        if parse_i64(first).is_some() && size_hint <= intset_max(lim) {
            return Set::new();
        }
        if size_hint as u64 <= lim.set_max_listpack_entries {
            return Set {
                repr: Repr::Packed(Packed::new()),
            };
        }
        let mut d = Dict::new();
        d.reserve(size_hint);
        Set {
            repr: Repr::Table(Box::new(d)),
        }
    }

    /// Builds a set from snapshot members (duplicates are ignored), in the
    /// encoding Redis would pick when loading them.
    pub fn from_members<'a>(
        members: impl IntoIterator<Item = &'a [u8]>,
        limits: &EncodingLimits,
    ) -> Self {
        let members: Vec<&[u8]> = members.into_iter().collect();
        let n = members.len();
        let mut s = if n > intset_max(limits) {
            let mut d = Dict::new();
            d.reserve(n);
            Set {
                repr: Repr::Table(Box::new(d)),
            }
        } else if members.iter().all(|m| parse_i64(m).is_some()) {
            Set::new()
        } else if n as u64 <= limits.set_max_listpack_entries
            && members
                .iter()
                .all(|m| m.len() as u64 <= limits.set_max_listpack_value)
            && members.iter().map(|m| m.len() + 2).sum::<usize>() < PACKED_MAX_BYTES
        {
            Set {
                repr: Repr::Packed(Packed::new()),
            }
        } else {
            let mut d = Dict::new();
            d.reserve(n);
            Set {
                repr: Repr::Table(Box::new(d)),
            }
        };
        for m in members {
            s.add(m, limits);
        }
        s
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Int { set, .. } => set.len(),
            Repr::Packed(p) => p.len(),
            Repr::Table(d) => d.len(),
        }
    }

    /// True when empty (an empty set is never stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Members in storage order (ascending for intsets). Intset members are
    /// rendered as text once and cached until the next change; commands use
    /// [`Set::for_each`], which needs no cache.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        enum It<'a> {
            P(PackedIter<'a>),
            D(DictIter<'a, ()>),
        }
        impl<'a> Iterator for It<'a> {
            type Item = &'a [u8];
            fn next(&mut self) -> Option<&'a [u8]> {
                match self {
                    It::P(p) => p.next(),
                    It::D(d) => d.next().map(|n| n.key.as_slice()),
                }
            }
        }
        match &self.repr {
            Repr::Int { set, text } => It::P(
                text.get_or_init(|| {
                    let mut p = Packed::new();
                    for x in set.iter() {
                        let mut buf = [0u8; 20];
                        p.push(fmt_i64(x, &mut buf));
                    }
                    Box::new(p)
                })
                .iter(),
            ),
            Repr::Packed(p) => It::P(p.iter()),
            Repr::Table(d) => It::D(DictIter::new(d)),
        }
    }

    /// Calls `f` with every member, in storage order.
    pub fn for_each(&self, mut f: impl FnMut(Member)) {
        match &self.repr {
            Repr::Int { set, .. } => set.iter().for_each(|x| f(Member::Int(x))),
            Repr::Packed(p) => p.iter().for_each(|s| f(Member::Str(s))),
            Repr::Table(d) => d.for_each(|n| f(Member::Str(n.key.as_slice()))),
        }
    }

    /// Calls `f` with members in storage order (hash tables: bucket order)
    /// until it returns false.
    pub fn for_each_while(&self, mut f: impl FnMut(Member) -> bool) {
        match &self.repr {
            Repr::Int { set, .. } => {
                for x in set.iter() {
                    if !f(Member::Int(x)) {
                        return;
                    }
                }
            }
            Repr::Packed(p) => {
                for m in p.iter() {
                    if !f(Member::Str(m)) {
                        return;
                    }
                }
            }
            Repr::Table(d) => {
                let mut go = true;
                let mut cursor = 0;
                loop {
                    cursor = d.scan(cursor, |n| {
                        if go {
                            go = f(Member::Str(n.key.as_slice()));
                        }
                    });
                    if !go || cursor == 0 {
                        return;
                    }
                }
            }
        }
    }

    /// All members, in storage order.
    pub fn members(&self) -> Vec<Member<'_>> {
        match &self.repr {
            Repr::Int { set, .. } => set.iter().map(Member::Int).collect(),
            Repr::Packed(p) => p.iter().map(Member::Str).collect(),
            Repr::Table(d) => DictIter::new(d)
                .map(|n| Member::Str(n.key.as_slice()))
                .collect(),
        }
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Int { .. } => "intset",
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True for the hash table encoding (the only one SSCAN pages through).
    pub fn is_table(&self) -> bool {
        matches!(self.repr, Repr::Table(_))
    }

    /// Heap bytes owned (memory accounting).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Int { set, text } => set.heap_size() + text.get().map_or(0, |p| p.heap_size()),
            Repr::Packed(p) => p.heap_size(),
            Repr::Table(d) => {
                let mut keys = 0;
                d.for_each(|n| keys += n.key.heap_size());
                std::mem::size_of::<Dict<()>>() + dict_overhead(d) + keys
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

    /// True if `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.repr {
            Repr::Int { set, .. } => parse_i64(m).is_some_and(|x| set.contains(x)),
            Repr::Packed(p) => p.find(m, 1).is_some(),
            Repr::Table(d) => d.get(m).is_some(),
        }
    }

    /// True if `m` (possibly another set's member) is a member.
    pub fn contains_member(&self, m: &Member) -> bool {
        match (&self.repr, m) {
            (Repr::Int { set, .. }, Member::Int(x)) => set.contains(*x),
            _ => m.with(|b| self.contains(b)),
        }
    }

    /// Redis 7.2's `setTypeMaybeConvert`: converts to a hash table up front
    /// when about `size_hint` members are about to be added.
    pub fn maybe_convert(&mut self, size_hint: usize, lim: &EncodingLimits) {
        let convert = match &self.repr {
            Repr::Int { .. } => size_hint > intset_max(lim),
            Repr::Packed(_) => size_hint as u64 > lim.set_max_listpack_entries,
            Repr::Table(_) => false,
        };
        if convert {
            self.convert_to_table(size_hint);
        }
    }

    fn convert_to_table(&mut self, size_hint: usize) {
        let mut d: Dict<()> = Dict::new();
        d.reserve(size_hint.max(self.len()));
        self.for_each(|m| {
            d.insert_new(m.to_small(), ());
        });
        self.repr = Repr::Table(Box::new(d));
    }

    /// Adds `m`; false if it was already a member. Converts the encoding
    /// when a limit would be crossed (Redis 7.2's `setTypeAdd`).
    pub fn add(&mut self, m: &[u8], lim: &EncodingLimits) -> bool {
        match &mut self.repr {
            Repr::Table(d) => {
                if d.get(m).is_some() {
                    return false;
                }
                d.insert_new(SmallBytes::new(m), ());
                true
            }
            Repr::Packed(p) => {
                if p.find(m, 1).is_some() {
                    return false;
                }
                if (p.len() as u64) < lim.set_max_listpack_entries
                    && m.len() as u64 <= lim.set_max_listpack_value
                    && p.byte_len() + m.len() + 10 < PACKED_MAX_BYTES
                {
                    p.push(m);
                } else {
                    let n = p.len() + 1;
                    self.convert_to_table(n);
                    self.add(m, lim);
                }
                true
            }
            Repr::Int { set, text } => {
                if let Some(x) = parse_i64(m) {
                    if !set.insert(x) {
                        return false;
                    }
                    text.take();
                    if set.len() > intset_max(lim) {
                        self.convert_to_table(0);
                    }
                    return true;
                }
                let n = set.len();
                let maxlen = if n == 0 {
                    0
                } else {
                    digits(set.min()).max(digits(set.max()))
                };
                if (n as u64) < lim.set_max_listpack_entries
                    && m.len() as u64 <= lim.set_max_listpack_value
                    && maxlen as u64 <= lim.set_max_listpack_value
                {
                    let mut p = Packed::new();
                    for x in set.iter() {
                        let mut buf = [0u8; 20];
                        p.push(fmt_i64(x, &mut buf));
                    }
                    p.push(m);
                    self.repr = Repr::Packed(p);
                } else {
                    self.convert_to_table(n + 1);
                    self.add(m, lim);
                }
                true
            }
        }
    }

    /// Removes `m`; false if it was not a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Int { set, text } => match parse_i64(m) {
                Some(x) if set.remove(x) => {
                    text.take();
                    set.shrink_if_sparse();
                    true
                }
                _ => false,
            },
            Repr::Packed(p) => match p.find(m, 1) {
                Some(off) => {
                    p.remove(off, 1);
                    true
                }
                None => false,
            },
            Repr::Table(d) => {
                if d.remove(m).is_some() {
                    d.shrink_if_needed();
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Removes a member given as another set's [`Member`].
    pub fn remove_member(&mut self, m: &Member) -> bool {
        if let (Repr::Int { set, text }, Member::Int(x)) = (&mut self.repr, m) {
            let removed = set.remove(*x);
            if removed {
                text.take();
            }
            return removed;
        }
        m.with(|b| self.remove(b))
    }

    /// A uniformly chosen member (nearly uniform for hash tables, as in
    /// Redis), or None when empty. `r` supplies random numbers.
    pub fn random(&self, mut r: impl FnMut() -> u64) -> Option<Member<'_>> {
        if self.is_empty() {
            return None;
        }
        Some(match &self.repr {
            Repr::Int { set, .. } => Member::Int(set.get(below(r(), set.len()))),
            Repr::Packed(p) => {
                let i = below(r(), p.len());
                Member::Str(p.iter().nth(i).expect("index below len"))
            }
            Repr::Table(d) => Member::Str(fair_random(d, r)?.key.as_slice()),
        })
    }

    /// A sampler for many random picks with repetition: O(1) per pick for
    /// every encoding.
    pub fn sampler(&self) -> Sampler<'_> {
        match &self.repr {
            Repr::Int { set, .. } => Sampler::Int(set),
            Repr::Packed(p) => Sampler::Packed(p, p.offsets(1)),
            Repr::Table(d) => Sampler::Table(d),
        }
    }

    /// Redis's SSCAN step: for a hash table, the members of the buckets at
    /// `cursor` and the next cursor; other encodings return everything and
    /// cursor 0.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(Member)) -> u64 {
        match &self.repr {
            Repr::Table(d) => d.scan(cursor, |n| f(Member::Str(n.key.as_slice()))),
            _ => {
                self.for_each(f);
                0
            }
        }
    }
}

/// Random access into a set for repeated sampling (see [`Set::sampler`]).
pub enum Sampler<'a> {
    /// Index into the sorted integers.
    Int(&'a IntSet),
    /// Index into the entry offsets.
    Packed(&'a Packed, Vec<usize>),
    /// Dict sampling.
    Table(&'a Dict<()>),
}

impl Sampler<'_> {
    /// One random member.
    pub fn pick(&self, mut r: impl FnMut() -> u64) -> Member<'_> {
        match self {
            Sampler::Int(s) => Member::Int(s.get(below(r(), s.len()))),
            Sampler::Packed(p, offs) => Member::Str(p.entry(offs[below(r(), offs.len())]).0),
            Sampler::Table(d) => Member::Str(
                fair_random(d, r)
                    .expect("sampled sets are not empty")
                    .key
                    .as_slice(),
            ),
        }
    }
}

pub use crate::util::rng::below;

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> EncodingLimits {
        EncodingLimits::default()
    }

    #[test]
    fn packed_basics() {
        let mut p = Packed::new();
        let long = vec![b'x'; 300];
        p.push(b"a");
        p.push(&long);
        p.push(b"");
        p.push(b"bc");
        assert_eq!(p.len(), 4);
        let all: Vec<&[u8]> = p.iter().collect();
        assert_eq!(all, vec![&b"a"[..], &long[..], b"", b"bc"]);
        let off = p.find(&long, 1).unwrap();
        p.replace(off, b"zz");
        assert_eq!(p.iter().nth(1).unwrap(), b"zz");
        let off = p.find(b"zz", 1).unwrap();
        p.replace(off, &long);
        assert_eq!(p.iter().nth(1).unwrap(), &long[..]);
        // Step 2 searches only even entries.
        assert_eq!(p.find(&long, 2), None);
        assert!(p.find(b"", 2).is_some());
        let off = p.find(b"a", 1).unwrap();
        p.remove(off, 2);
        let all: Vec<&[u8]> = p.iter().collect();
        assert_eq!(all, vec![&b""[..], b"bc"]);
        assert_eq!(p.offsets(1).len(), 2);
    }

    #[test]
    fn intset_widths_and_order() {
        let mut s = IntSet::default();
        for x in [5, -3, 70000, 1, i64::MIN, i64::MAX, 0, 5] {
            s.insert(x);
        }
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![i64::MIN, -3, 0, 1, 5, 70000, i64::MAX]
        );
        assert!(matches!(s, IntSet::W64(_)));
        assert!(s.contains(70000) && !s.contains(2));
        assert!(s.remove(i64::MIN) && !s.remove(i64::MIN));
        let mut t = IntSet::default();
        t.insert(40000);
        assert!(matches!(t, IntSet::W32(_)));
        assert!(!t.contains(i64::MAX) && !t.contains(-40000));
    }

    #[test]
    fn encodings_convert_up() {
        let l = lim();
        let mut s = Set::new();
        for i in 0..512 {
            assert!(s.add(i.to_string().as_bytes(), &l));
        }
        assert_eq!(s.encoding(), "intset");
        assert!(s.add(b"512", &l));
        assert_eq!(s.encoding(), "hashtable");

        let mut s = Set::new();
        for i in 0..10 {
            s.add(i.to_string().as_bytes(), &l);
        }
        s.add(b"x", &l);
        assert_eq!(s.encoding(), "listpack");
        let m: Vec<&[u8]> = s.iter().collect();
        assert_eq!(m[0], b"0");
        assert_eq!(m[10], b"x");
        for i in 0..117 {
            s.add(format!("m{i}").as_bytes(), &l);
        }
        assert_eq!(s.len(), 128);
        assert_eq!(s.encoding(), "listpack");
        s.add(b"one more", &l);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 129);
        assert!(s.contains(b"x") && s.contains(b"5") && !s.contains(b"05"));
        assert_eq!(s.iter().count(), 129);

        let mut s = Set::new();
        s.add(b"1", &l);
        s.add(&[b'y'; 65], &l);
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn intset_iter_cache_follows_changes() {
        let l = lim();
        let mut s = Set::new();
        s.add(b"3", &l);
        s.add(b"1", &l);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![&b"1"[..], b"3"]);
        s.add(b"2", &l);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![&b"1"[..], b"2", b"3"]);
        s.remove(b"1");
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![&b"2"[..], b"3"]);
        let c = s.clone();
        assert_eq!(c.iter().count(), 2);
    }

    #[test]
    fn from_members_picks_encodings() {
        let l = lim();
        let ints: Vec<String> = (0..600).map(|i| i.to_string()).collect();
        let s = Set::from_members(ints.iter().map(|s| s.as_bytes()), &l);
        assert_eq!((s.encoding(), s.len()), ("hashtable", 600));
        let s = Set::from_members(ints[..10].iter().map(|s| s.as_bytes()), &l);
        assert_eq!((s.encoding(), s.len()), ("intset", 10));
        let s = Set::from_members([&b"a"[..], b"b", b"a"], &l);
        assert_eq!((s.encoding(), s.len()), ("listpack", 2));
    }

    #[test]
    fn small_values_stay_small() {
        assert!(std::mem::size_of::<Set>() <= 40);
        assert!(std::mem::size_of::<super::super::hash::Hash>() <= 32);
    }

    #[test]
    fn dict_iter_visits_each_once() {
        let mut d: Dict<()> = Dict::new();
        for i in 0..5000 {
            d.insert(SmallBytes::new(format!("k{i}").as_bytes()), ());
        }
        let mut seen = std::collections::HashSet::new();
        for n in DictIter::new(&d) {
            assert!(seen.insert(n.key.as_slice().to_vec()));
        }
        assert_eq!(seen.len(), 5000);
    }
}
