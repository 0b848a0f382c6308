//! List values (Redis's t_list): a compact packed form for small lists and
//! a chunked form past `list-max-listpack-size`.
//!
//! Both forms are built from one block type, `Pack`: a single `Vec<u8>` of
//! length-prefixed entries (the role of Redis's listpack). Each entry is
//!
//! ```text
//! [len: LEB128 varint][bytes][len again: LEB128, bytes reversed]
//! ```
//!
//! so an entry of up to 127 bytes costs 2 bytes of overhead, and the block
//! can be walked from either end (the trailing length is read backwards,
//! like a listpack's `backlen`).
//!
//! * **Packed**: a small list is one `Pack` (one allocation for the whole
//!   list).
//! * **Chunked**: past the limit the list becomes a deque of `Pack` nodes,
//!   each kept under the same limit (Redis's quicklist). An index is found
//!   by skipping whole nodes by their counts from the nearer end, then
//!   walking inside one node, so `LINDEX`/`LSET`/`LRANGE` never walk the
//!   whole list; pushes and pops at either end touch one node.
//!
//! The list goes back to the packed form when what is left fits in one block
//! of half the limit (the hysteresis Redis 7.2 uses; a few nearly empty
//! blocks are merged for it). Full blocks are trimmed to their exact size,
//! so a large list costs what Redis's quicklist does. Redis 7.0, our
//! reference, reports every list as `quicklist` in `OBJECT ENCODING`, so the
//! form is invisible to clients; it only saves memory.
//!
//! `list-max-listpack-size`: a positive value caps entries per block (and
//! blocks stay under 8 KB, Redis's safety limit); -1..-5 cap a block at
//! 4/8/16/32/64 KB. An element larger than the limit gets a block of its own.

use super::EncodingLimits;
use super::small::SmallBytes;
use std::collections::VecDeque;

/// Redis's `SIZE_SAFETY_LIMIT`: blocks under a count limit stay under 8 KB.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Block byte limits for `list-max-listpack-size` -1..-5.
const SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (LEFT, index 0).
    Head,
    /// The tail (RIGHT, index -1).
    Tail,
}

/// The block limits derived from `list-max-listpack-size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    count: usize,
    bytes: usize,
}

impl Fill {
    /// Limits for a `list-max-listpack-size` value.
    pub fn new(list_max_listpack_size: i32) -> Fill {
        if list_max_listpack_size >= 0 {
            Fill {
                count: list_max_listpack_size as usize,
                bytes: SIZE_SAFETY_LIMIT,
            }
        } else {
            let level = (-(list_max_listpack_size as i64) - 1).min(4) as usize;
            Fill {
                count: usize::MAX,
                bytes: SIZE_LEVELS[level],
            }
        }
    }

    /// Limits from the configured encoding limits.
    pub fn from_limits(limits: &EncodingLimits) -> Fill {
        Fill::new(limits.list_max_listpack_size)
    }

    /// True when a block of `bytes` and `count` entries is over the limit.
    fn exceeds(self, bytes: usize, count: usize) -> bool {
        bytes > self.bytes || count > self.count
    }

    /// Half the limits: a chunked list this small goes back to packed.
    fn half(self) -> Fill {
        Fill {
            count: self.count / 2,
            bytes: self.bytes / 2,
        }
    }
}

impl Default for Fill {
    fn default() -> Self {
        Fill::new(-2)
    }
}

// ---------------------------------------------------------------------------
// Varints

/// Bytes taken by the LEB128 encoding of `n`.
#[inline]
fn varint_len(mut n: usize) -> usize {
    let mut k = 1;
    while n >= 0x80 {
        n >>= 7;
        k += 1;
    }
    k
}

/// LEB128 bytes of `n` into `out`; returns how many.
#[inline]
fn varint_encode(mut n: usize, out: &mut [u8; 10]) -> usize {
    let mut i = 0;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = b;
            return i + 1;
        }
        out[i] = b | 0x80;
        i += 1;
    }
}

/// Bytes an element of `len` bytes takes in a block.
#[inline]
fn entry_size(len: usize) -> usize {
    len + 2 * varint_len(len)
}

// ---------------------------------------------------------------------------
// Pack: one block of entries

/// One block of packed entries (a listpack's role).
#[derive(Clone, Default, Debug)]
struct Pack {
    buf: Vec<u8>,
    count: usize,
}

impl Pack {
    /// Reads the entry starting at `off`: (data start, data end, next entry).
    #[inline]
    fn entry_at(&self, off: usize) -> (usize, usize, usize) {
        let b = &self.buf;
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = off;
        loop {
            let byte = b[i];
            len |= ((byte & 0x7f) as usize) << shift;
            i += 1;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let end = i + len;
        (i, end, end + varint_len(len))
    }

    /// Reads the entry ending at `end`: (entry start, data start, data end).
    #[inline]
    fn entry_before(&self, end: usize) -> (usize, usize, usize) {
        let b = &self.buf;
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = end;
        loop {
            i -= 1;
            let byte = b[i];
            len |= ((byte & 0x7f) as usize) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let data_end = i;
        let data_start = data_end - len;
        (data_start - varint_len(len), data_start, data_end)
    }

    /// Byte offset where entry `k` starts (`k == count`: the end). Walks
    /// from the nearer end of the block.
    fn offset_of(&self, k: usize) -> usize {
        debug_assert!(k <= self.count);
        if k <= self.count / 2 {
            let mut off = 0;
            for _ in 0..k {
                off = self.entry_at(off).2;
            }
            off
        } else {
            let mut off = self.buf.len();
            for _ in k..self.count {
                off = self.entry_before(off).0;
            }
            off
        }
    }

    /// Entry `k`.
    fn get(&self, k: usize) -> &[u8] {
        let (s, e, _) = self.entry_at(self.offset_of(k));
        &self.buf[s..e]
    }

    /// Makes room for `extra` bytes, growing by at least a quarter so
    /// repeated pushes stay amortized O(1) without doubling the waste.
    fn reserve(&mut self, extra: usize) {
        let need = self.buf.len() + extra;
        if self.buf.capacity() < need {
            let target = need
                .max(self.buf.capacity() + self.buf.capacity() / 4)
                .max(16);
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    /// Appends an element.
    fn push_back(&mut self, v: &[u8]) {
        let mut hdr = [0u8; 10];
        let n = varint_encode(v.len(), &mut hdr);
        self.reserve(v.len() + 2 * n);
        self.buf.extend_from_slice(&hdr[..n]);
        self.buf.extend_from_slice(v);
        self.buf.extend(hdr[..n].iter().rev());
        self.count += 1;
    }

    /// Replaces bytes `from..to` with the entry for `v`.
    fn splice_entry(&mut self, from: usize, to: usize, v: &[u8]) {
        let mut hdr = [0u8; 10];
        let n = varint_encode(v.len(), &mut hdr);
        let new_len = v.len() + 2 * n;
        let old_len = to - from;
        if new_len > old_len {
            self.reserve(new_len - old_len);
        }
        let tail = self.buf.len() - to;
        if new_len != old_len {
            if new_len > old_len {
                self.buf.resize(self.buf.len() + new_len - old_len, 0);
            }
            self.buf.copy_within(to..to + tail, from + new_len);
            if new_len < old_len {
                self.buf.truncate(from + new_len + tail);
            }
        }
        let dst = &mut self.buf[from..from + new_len];
        dst[..n].copy_from_slice(&hdr[..n]);
        dst[n..n + v.len()].copy_from_slice(v);
        for (d, s) in dst[n + v.len()..].iter_mut().zip(hdr[..n].iter().rev()) {
            *d = *s;
        }
    }

    /// Inserts `v` so it becomes entry `k`.
    fn insert(&mut self, k: usize, v: &[u8]) {
        if k == self.count {
            return self.push_back(v);
        }
        let off = self.offset_of(k);
        self.splice_entry(off, off, v);
        self.count += 1;
    }

    /// Replaces entry `k` with `v`.
    fn replace(&mut self, k: usize, v: &[u8]) {
        let off = self.offset_of(k);
        let (_, _, next) = self.entry_at(off);
        self.splice_entry(off, next, v);
    }

    /// Removes and returns the first entry.
    fn pop_front(&mut self) -> Option<SmallBytes> {
        if self.count == 0 {
            return None;
        }
        let (s, e, next) = self.entry_at(0);
        let v = SmallBytes::new(&self.buf[s..e]);
        self.buf.drain(..next);
        self.count -= 1;
        Some(v)
    }

    /// Removes and returns the last entry.
    fn pop_back(&mut self) -> Option<SmallBytes> {
        if self.count == 0 {
            return None;
        }
        let (start, s, e) = self.entry_before(self.buf.len());
        let v = SmallBytes::new(&self.buf[s..e]);
        self.buf.truncate(start);
        self.count -= 1;
        Some(v)
    }

    /// Removes the first `k` entries.
    fn delete_front(&mut self, k: usize) {
        let off = self.offset_of(k);
        self.buf.drain(..off);
        self.count -= k;
    }

    /// Removes the last `k` entries.
    fn delete_back(&mut self, k: usize) {
        let off = self.offset_of(self.count - k);
        self.buf.truncate(off);
        self.count -= k;
    }

    /// Splits off entries `k..` into a new block.
    fn split_off(&mut self, k: usize) -> Pack {
        let off = self.offset_of(k);
        let tail = self.buf[off..].to_vec();
        self.buf.truncate(off);
        let n = self.count - k;
        self.count = k;
        self.shrink();
        Pack {
            buf: tail,
            count: n,
        }
    }

    /// Removes up to `limit` entries equal to `v`, scanning from `from`.
    /// Returns how many were removed.
    fn remove_matching(&mut self, v: &[u8], limit: usize, from: End) -> usize {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        match from {
            End::Head => {
                let mut off = 0;
                while off < self.buf.len() && ranges.len() < limit {
                    let (s, e, next) = self.entry_at(off);
                    if &self.buf[s..e] == v {
                        ranges.push((off, next));
                    }
                    off = next;
                }
            }
            End::Tail => {
                let mut end = self.buf.len();
                while end > 0 && ranges.len() < limit {
                    let (start, s, e) = self.entry_before(end);
                    if &self.buf[s..e] == v {
                        ranges.push((start, end));
                    }
                    end = start;
                }
                ranges.reverse();
            }
        }
        if ranges.is_empty() {
            return 0;
        }
        let len = self.buf.len();
        let mut w = ranges[0].0;
        let mut r = ranges[0].1;
        for &(s, e) in &ranges[1..] {
            self.buf.copy_within(r..s, w);
            w += s - r;
            r = e;
        }
        self.buf.copy_within(r..len, w);
        w += len - r;
        self.buf.truncate(w);
        self.count -= ranges.len();
        ranges.len()
    }

    /// Gives back unused capacity after the block shrank a lot.
    fn shrink(&mut self) {
        if self.buf.capacity() > 64 && self.buf.capacity() > 2 * self.buf.len() {
            self.buf.shrink_to(self.buf.len() + self.buf.len() / 4);
        }
    }

    /// Drops the growth slack of a block that is full. A copy rather than
    /// `shrink_to_fit`: allocators keep a block in place when it shrinks by
    /// less than half, so the slack would stay.
    fn seal(&mut self) {
        if self.buf.capacity() > self.buf.len() + self.buf.len() / 16 {
            let mut exact = Vec::with_capacity(self.buf.len());
            exact.extend_from_slice(&self.buf);
            self.buf = exact;
        }
    }

    /// Checks the block's structure against its count.
    fn check(&self) -> Result<(), String> {
        let mut off = 0;
        let mut n = 0;
        while off < self.buf.len() {
            let (s, e, next) = self.entry_at(off);
            if next > self.buf.len() {
                return Err(format!("entry at {off} overruns the block"));
            }
            let (start, s2, e2) = self.entry_before(next);
            if (start, s2, e2) != (off, s, e) {
                return Err(format!("entry at {off}: back length disagrees"));
            }
            off = next;
            n += 1;
        }
        if n != self.count {
            return Err(format!(
                "block holds {n} entries, count says {}",
                self.count
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// List

#[derive(Clone, Debug)]
enum Repr {
    /// A small list: one block.
    Packed(Pack),
    /// A large list: blocks in order, none empty.
    Chunked(VecDeque<Pack>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Packed(Pack::default())
    }
}

/// A list of byte strings.
#[derive(Clone, Debug, Default)]
pub struct List {
    repr: Repr,
    len: usize,
}

impl List {
    /// An empty list (commands never store one).
    pub fn new() -> Self {
        List::default()
    }

    /// Builds a list from snapshot items, head first.
    pub fn from_items<'a>(
        items: impl IntoIterator<Item = &'a [u8]>,
        limits: &EncodingLimits,
    ) -> Self {
        let fill = Fill::from_limits(limits);
        let mut l = List::new();
        for it in items {
            l.push(it, End::Tail, fill);
        }
        l
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty (an empty list is never stored).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Elements head first (snapshot writer, dump).
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// OBJECT ENCODING name. Redis 7.0 calls every list `quicklist`,
    /// whatever its size; see the module docs.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// True while the list is in its compact single-block form.
    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Packed(_))
    }

    /// Number of blocks (1 when packed).
    pub fn blocks(&self) -> usize {
        match &self.repr {
            Repr::Packed(_) => 1,
            Repr::Chunked(q) => q.len(),
        }
    }

    /// Heap bytes owned (memory accounting).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.buf.capacity(),
            Repr::Chunked(q) => {
                q.capacity() * std::mem::size_of::<Pack>()
                    + q.iter().map(|p| p.buf.capacity()).sum::<usize>()
            }
        }
    }

    fn node(&self, i: usize) -> &Pack {
        match &self.repr {
            Repr::Packed(p) => p,
            Repr::Chunked(q) => &q[i],
        }
    }

    /// The block holding element `idx` (< len) and its position there.
    fn locate(&self, idx: usize) -> (usize, usize) {
        match &self.repr {
            Repr::Packed(_) => (0, idx),
            Repr::Chunked(q) => {
                if idx < self.len / 2 {
                    let mut rest = idx;
                    for (i, n) in q.iter().enumerate() {
                        if rest < n.count {
                            return (i, rest);
                        }
                        rest -= n.count;
                    }
                } else {
                    let mut from_end = self.len - idx; // >= 1
                    for (i, n) in q.iter().enumerate().rev() {
                        if from_end <= n.count {
                            return (i, n.count - from_end);
                        }
                        from_end -= n.count;
                    }
                }
                unreachable!("list counts out of step with its blocks")
            }
        }
    }

    /// Element `idx` (0-based from the head), if in range.
    pub fn get(&self, idx: usize) -> Option<&[u8]> {
        if idx >= self.len {
            return None;
        }
        let (n, k) = self.locate(idx);
        Some(self.node(n).get(k))
    }

    /// Iterates head to tail starting at element `start`.
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        if start >= self.len {
            return Iter {
                list: self,
                node: 0,
                off: 0,
                remaining: 0,
            };
        }
        let (n, k) = self.locate(start);
        Iter {
            list: self,
            node: n,
            off: self.node(n).offset_of(k),
            remaining: self.len - start,
        }
    }

    /// Iterates towards the head starting at element `idx` (inclusive).
    pub fn iter_rev_from(&self, idx: usize) -> IterRev<'_> {
        if idx >= self.len {
            return IterRev {
                list: self,
                node: 0,
                end: 0,
                remaining: 0,
            };
        }
        let (n, k) = self.locate(idx);
        let p = self.node(n);
        let off = p.offset_of(k);
        IterRev {
            list: self,
            node: n,
            end: p.entry_at(off).2,
            remaining: idx + 1,
        }
    }

    /// Leaves the packed form if adding `add_count` elements of
    /// `add_bytes` encoded bytes would exceed the limit.
    fn grow_check(&mut self, add_bytes: usize, add_count: usize, fill: Fill) {
        if let Repr::Packed(p) = &mut self.repr
            && fill.exceeds(p.buf.len() + add_bytes, p.count + add_count)
        {
            let mut p = std::mem::take(p);
            let mut q = VecDeque::new();
            if p.count > 0 {
                p.seal();
                q.push_back(p);
            }
            self.repr = Repr::Chunked(q);
        }
    }

    /// Goes back to the packed form when what is left fits in half a block.
    fn shrink_check(&mut self, fill: Fill) {
        if let Repr::Chunked(q) = &mut self.repr {
            let half = fill.half();
            // A few blocks are merged when together they are small: pops
            // and LREM can leave several nearly empty blocks behind.
            if q.len() <= 8
                && self.len <= half.count
                && q.iter().map(|n| n.buf.len()).sum::<usize>() <= half.bytes
            {
                let mut p = q.pop_front().unwrap_or_default();
                for n in q.drain(..) {
                    p.buf.extend_from_slice(&n.buf);
                    p.count += n.count;
                }
                p.shrink();
                self.repr = Repr::Packed(p);
            }
        }
    }

    /// Pushes every element of `items` at `end` (LPUSH a b c leaves c first).
    pub fn push_all<'a>(
        &mut self,
        items: impl IntoIterator<Item = &'a [u8]> + Clone,
        end: End,
        fill: Fill,
    ) {
        let (bytes, count) = items
            .clone()
            .into_iter()
            .fold((0, 0), |(b, c), v| (b + entry_size(v.len()), c + 1));
        self.grow_check(bytes, count, fill);
        for v in items {
            self.push_unchecked(v, end, fill);
        }
    }

    /// Pushes one element at `end`.
    pub fn push(&mut self, v: &[u8], end: End, fill: Fill) {
        self.grow_check(entry_size(v.len()), 1, fill);
        self.push_unchecked(v, end, fill);
    }

    fn push_unchecked(&mut self, v: &[u8], end: End, fill: Fill) {
        let need = entry_size(v.len());
        match &mut self.repr {
            Repr::Packed(p) => match end {
                End::Tail => p.push_back(v),
                End::Head => p.insert(0, v),
            },
            Repr::Chunked(q) => {
                let node = match end {
                    End::Tail => q.back_mut(),
                    End::Head => q.front_mut(),
                };
                match node {
                    Some(n) if !fill.exceeds(n.buf.len() + need, n.count + 1) => match end {
                        End::Tail => n.push_back(v),
                        End::Head => n.insert(0, v),
                    },
                    full => {
                        // The block left behind is full: give back the
                        // slack its growth left.
                        if let Some(n) = full {
                            n.seal();
                        }
                        let mut n = Pack::default();
                        n.push_back(v);
                        match end {
                            End::Tail => q.push_back(n),
                            End::Head => q.push_front(n),
                        }
                    }
                }
            }
        }
        self.len += 1;
    }

    /// Removes and returns the element at `end`.
    pub fn pop(&mut self, end: End, fill: Fill) -> Option<SmallBytes> {
        let v = match &mut self.repr {
            Repr::Packed(p) => {
                let v = match end {
                    End::Head => p.pop_front(),
                    End::Tail => p.pop_back(),
                };
                p.shrink();
                v
            }
            Repr::Chunked(q) => {
                let n = match end {
                    End::Head => q.front_mut(),
                    End::Tail => q.back_mut(),
                }?;
                let v = match end {
                    End::Head => n.pop_front(),
                    End::Tail => n.pop_back(),
                };
                if n.count == 0 {
                    match end {
                        End::Head => q.pop_front(),
                        End::Tail => q.pop_back(),
                    };
                }
                v
            }
        }?;
        self.len -= 1;
        self.shrink_check(fill);
        Some(v)
    }

    /// Removes up to `n` elements at `end` and returns them in pop order
    /// (from the head: head first; from the tail: tail first).
    pub fn pop_many(&mut self, end: End, n: usize, fill: Fill) -> Vec<SmallBytes> {
        let n = n.min(self.len);
        if n == 0 {
            return Vec::new();
        }
        let out: Vec<SmallBytes> = match end {
            End::Head => self.iter().take(n).map(SmallBytes::new).collect(),
            End::Tail => self
                .iter_rev_from(self.len - 1)
                .take(n)
                .map(SmallBytes::new)
                .collect(),
        };
        match end {
            End::Head => self.trim(n, 0, fill),
            End::Tail => self.trim(0, n, fill),
        }
        out
    }

    /// Removes `front` elements from the head and `back` from the tail.
    pub fn trim(&mut self, front: usize, back: usize, fill: Fill) {
        let front = front.min(self.len);
        let back = back.min(self.len - front);
        match &mut self.repr {
            Repr::Packed(p) => {
                if front + back == p.count {
                    *p = Pack::default();
                } else {
                    if back > 0 {
                        p.delete_back(back);
                    }
                    if front > 0 {
                        p.delete_front(front);
                    }
                    p.shrink();
                }
            }
            Repr::Chunked(q) => {
                let mut rest = front;
                while rest > 0 {
                    let Some(n) = q.front_mut() else { break };
                    if n.count <= rest {
                        rest -= n.count;
                        q.pop_front();
                    } else {
                        n.delete_front(rest);
                        n.shrink();
                        rest = 0;
                    }
                }
                let mut rest = back;
                while rest > 0 {
                    let Some(n) = q.back_mut() else { break };
                    if n.count <= rest {
                        rest -= n.count;
                        q.pop_back();
                    } else {
                        n.delete_back(rest);
                        n.shrink();
                        rest = 0;
                    }
                }
            }
        }
        self.len -= front + back;
        self.shrink_check(fill);
    }

    /// Splits block `i` of a chunked list in halves while it is over the
    /// limit (a block always keeps at least one element).
    fn split_if_needed(q: &mut VecDeque<Pack>, i: usize, fill: Fill) {
        let n = &mut q[i];
        if n.count > 1 && fill.exceeds(n.buf.len(), n.count) {
            let tail = n.split_off(n.count / 2);
            q.insert(i + 1, tail);
            Self::split_if_needed(q, i + 1, fill);
            Self::split_if_needed(q, i, fill);
        }
    }

    /// Replaces element `idx` (< len) with `v`.
    pub fn set(&mut self, idx: usize, v: &[u8], fill: Fill) {
        assert!(idx < self.len, "LSET index checked by the caller");
        let (ni, k) = self.locate(idx);
        match &mut self.repr {
            Repr::Packed(p) => {
                p.replace(k, v);
                if fill.exceeds(p.buf.len(), p.count) {
                    let p = std::mem::take(p);
                    let mut q = VecDeque::from([p]);
                    Self::split_if_needed(&mut q, 0, fill);
                    self.repr = Repr::Chunked(q);
                }
            }
            Repr::Chunked(q) => {
                q[ni].replace(k, v);
                Self::split_if_needed(q, ni, fill);
            }
        }
        self.shrink_check(fill);
    }

    /// Inserts `v` so it becomes element `idx` (0..=len).
    pub fn insert(&mut self, idx: usize, v: &[u8], fill: Fill) {
        assert!(idx <= self.len, "insert position checked by the caller");
        if idx == 0 {
            return self.push(v, End::Head, fill);
        }
        if idx == self.len {
            return self.push(v, End::Tail, fill);
        }
        self.grow_check(entry_size(v.len()), 1, fill);
        let (ni, k) = self.locate(idx);
        match &mut self.repr {
            Repr::Packed(p) => p.insert(k, v),
            Repr::Chunked(q) => {
                q[ni].insert(k, v);
                Self::split_if_needed(q, ni, fill);
            }
        }
        self.len += 1;
    }

    /// Index of the first element equal to `v`, from the head.
    pub fn position(&self, v: &[u8]) -> Option<usize> {
        self.iter().position(|e| e == v)
    }

    /// Removes up to `limit` elements equal to `v` scanning from `from`
    /// (LREM). Returns how many were removed.
    pub fn remove_matching(&mut self, v: &[u8], limit: usize, from: End, fill: Fill) -> usize {
        let removed = match &mut self.repr {
            Repr::Packed(p) => {
                let r = p.remove_matching(v, limit, from);
                if r > 0 {
                    p.shrink();
                }
                r
            }
            Repr::Chunked(q) => {
                let mut removed = 0;
                let mut visit = |n: &mut Pack| {
                    if removed < limit {
                        let r = n.remove_matching(v, limit - removed, from);
                        if r > 0 {
                            n.shrink();
                        }
                        removed += r;
                    }
                };
                match from {
                    End::Head => q.iter_mut().for_each(&mut visit),
                    End::Tail => q.iter_mut().rev().for_each(&mut visit),
                }
                if removed > 0 {
                    q.retain(|n| n.count > 0);
                }
                removed
            }
        };
        self.len -= removed;
        if removed > 0 {
            self.shrink_check(fill);
        }
        removed
    }

    /// Checks the structure (tests and fuzzing).
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut total = 0;
        match &self.repr {
            Repr::Packed(p) => {
                p.check()?;
                total = p.count;
            }
            Repr::Chunked(q) => {
                for (i, n) in q.iter().enumerate() {
                    n.check().map_err(|e| format!("block {i}: {e}"))?;
                    if n.count == 0 {
                        return Err(format!("block {i} is empty"));
                    }
                    total += n.count;
                }
            }
        }
        if total != self.len {
            return Err(format!(
                "blocks hold {total} elements, len says {}",
                self.len
            ));
        }
        if self.iter().count() != self.len
            || (self.len > 0 && self.iter_rev_from(self.len - 1).count() != self.len)
        {
            return Err("iterators disagree with len".into());
        }
        Ok(())
    }
}

/// Head-to-tail iterator over a list's elements.
pub struct Iter<'a> {
    list: &'a List,
    node: usize,
    off: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            let p = self.list.node(self.node);
            if self.off >= p.buf.len() {
                self.node += 1;
                self.off = 0;
                continue;
            }
            let (s, e, next) = p.entry_at(self.off);
            self.off = next;
            self.remaining -= 1;
            return Some(&p.buf[s..e]);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Tail-to-head iterator over a list's elements.
pub struct IterRev<'a> {
    list: &'a List,
    node: usize,
    end: usize,
    remaining: usize,
}

impl<'a> Iterator for IterRev<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            if self.end == 0 {
                self.node -= 1;
                self.end = self.list.node(self.node).buf.len();
                continue;
            }
            let p = self.list.node(self.node);
            let (start, s, e) = p.entry_before(self.end);
            self.end = start;
            self.remaining -= 1;
            return Some(&p.buf[s..e]);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for IterRev<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference model: a VecDeque of owned elements.
    struct Model {
        l: List,
        m: VecDeque<Vec<u8>>,
        fill: Fill,
    }

    impl Model {
        fn new(fill: i32) -> Self {
            Model {
                l: List::new(),
                m: VecDeque::new(),
                fill: Fill::new(fill),
            }
        }

        fn check(&self) {
            self.l.check_invariants().unwrap();
            assert_eq!(self.l.len(), self.m.len());
            let got: Vec<&[u8]> = self.l.iter().collect();
            let want: Vec<&[u8]> = self.m.iter().map(|v| v.as_slice()).collect();
            assert_eq!(got, want);
            if !self.m.is_empty() {
                let rev: Vec<&[u8]> = self.l.iter_rev_from(self.m.len() - 1).collect();
                let want_rev: Vec<&[u8]> = self.m.iter().rev().map(|v| v.as_slice()).collect();
                assert_eq!(rev, want_rev);
            }
            for (i, v) in self.m.iter().enumerate() {
                assert_eq!(self.l.get(i), Some(v.as_slice()), "index {i}");
            }
            assert_eq!(self.l.get(self.m.len()), None);
        }
    }

    fn val(i: u64, rng: &mut u64) -> Vec<u8> {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let len = match *rng % 10 {
            0 => 0,
            1 => 200 + (*rng % 300) as usize,
            2 => 5000 + (*rng % 5000) as usize,
            _ => (*rng % 20) as usize,
        };
        let mut v = format!("{i}:").into_bytes();
        v.resize(len.max(v.len()), b'x');
        v
    }

    #[test]
    fn varints_round_trip() {
        for n in [0usize, 1, 127, 128, 16383, 16384, 1 << 21, 1 << 30] {
            let mut p = Pack::default();
            let v = vec![7u8; n.min(70_000)];
            p.push_back(&v);
            p.push_back(b"z");
            p.check().unwrap();
            assert_eq!(p.get(0), &v[..]);
            assert_eq!(p.get(1), b"z");
            let mut hdr = [0; 10];
            assert_eq!(varint_encode(n, &mut hdr), varint_len(n));
        }
    }

    #[test]
    fn random_operations_match_a_model() {
        for fill in [-2, -1, -5, 1, 3, 128, 0] {
            let mut t = Model::new(fill);
            let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ fill as u64;
            for step in 0..4000u64 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let op = rng % 12;
                let f = t.fill;
                match op {
                    0..=2 => {
                        let v = val(step, &mut rng);
                        t.l.push(&v, End::Tail, f);
                        t.m.push_back(v);
                    }
                    3..=4 => {
                        let v = val(step, &mut rng);
                        t.l.push(&v, End::Head, f);
                        t.m.push_front(v);
                    }
                    5 => {
                        let a = t.l.pop(End::Head, f).map(|s| s.as_slice().to_vec());
                        assert_eq!(a, t.m.pop_front());
                    }
                    6 => {
                        let a = t.l.pop(End::Tail, f).map(|s| s.as_slice().to_vec());
                        assert_eq!(a, t.m.pop_back());
                    }
                    7 if !t.m.is_empty() => {
                        let i = (rng >> 8) as usize % t.m.len();
                        let v = val(step, &mut rng);
                        t.l.set(i, &v, f);
                        t.m[i] = v;
                    }
                    8 => {
                        let i = (rng >> 8) as usize % (t.m.len() + 1);
                        let v = val(step, &mut rng);
                        t.l.insert(i, &v, f);
                        t.m.insert(i, v);
                    }
                    9 if !t.m.is_empty() => {
                        let i = (rng >> 8) as usize % t.m.len();
                        let v = t.m[i].clone();
                        let limit = if rng & 1 == 0 { usize::MAX } else { 1 };
                        let from = if rng & 2 == 0 { End::Head } else { End::Tail };
                        let n = t.l.remove_matching(&v, limit, from, f);
                        let mut removed = 0;
                        if from == End::Head {
                            let mut j = 0;
                            while j < t.m.len() {
                                if removed < limit && t.m[j] == v {
                                    t.m.remove(j);
                                    removed += 1;
                                } else {
                                    j += 1;
                                }
                            }
                        } else {
                            let mut j = t.m.len();
                            while j > 0 {
                                j -= 1;
                                if removed < limit && t.m[j] == v {
                                    t.m.remove(j);
                                    removed += 1;
                                }
                            }
                        }
                        assert_eq!(n, removed);
                    }
                    10 => {
                        let k = (rng >> 8) as usize % 5;
                        let end = if rng & 1 == 0 { End::Head } else { End::Tail };
                        let got: Vec<Vec<u8>> =
                            t.l.pop_many(end, k, f)
                                .iter()
                                .map(|s| s.as_slice().to_vec())
                                .collect();
                        let mut want = Vec::new();
                        for _ in 0..k {
                            let x = match end {
                                End::Head => t.m.pop_front(),
                                End::Tail => t.m.pop_back(),
                            };
                            if let Some(x) = x {
                                want.push(x);
                            }
                        }
                        assert_eq!(got, want);
                    }
                    11 if step % 50 == 0 => {
                        let a = (rng >> 8) as usize % (t.m.len() + 1);
                        let b = (rng >> 20) as usize % (t.m.len() + 1 - a);
                        t.l.trim(a, b, f);
                        t.m.drain(..a);
                        let keep = t.m.len() - b;
                        t.m.truncate(keep);
                    }
                    _ => {}
                }
                if step % 97 == 0 {
                    t.check();
                }
            }
            t.check();
        }
    }

    #[test]
    fn converts_both_ways_with_hysteresis() {
        let fill = Fill::new(4);
        let mut l = List::new();
        for i in 0..4 {
            l.push(format!("{i}").as_bytes(), End::Tail, fill);
        }
        assert!(l.is_packed());
        l.push(b"4", End::Tail, fill);
        assert!(!l.is_packed());
        assert!(l.blocks() >= 2);
        // Still chunked until one block of at most half the limit is left.
        l.pop(End::Head, fill);
        l.pop(End::Head, fill);
        l.pop(End::Head, fill);
        assert_eq!(l.len(), 2);
        assert!(l.is_packed() == (l.blocks() == 1));
        l.pop(End::Head, fill);
        assert!(l.is_packed());
        l.check_invariants().unwrap();

        // Byte limit: -1 = 4 KB blocks.
        let fill = Fill::new(-1);
        let mut l = List::new();
        let big = vec![b'x'; 1000];
        for _ in 0..4 {
            l.push(&big, End::Tail, fill);
        }
        assert!(l.is_packed());
        l.push(&big, End::Tail, fill);
        assert!(!l.is_packed());
        l.trim(3, 0, fill);
        assert!(l.is_packed(), "2 KB left, half of 4 KB");
        l.check_invariants().unwrap();
    }

    #[test]
    fn large_list_index_access_is_fast() {
        let fill = Fill::default();
        let mut l = List::new();
        for i in 0..1_000_000u32 {
            l.push(&i.to_le_bytes(), End::Tail, fill);
        }
        assert!(l.blocks() > 100);
        let t = std::time::Instant::now();
        for i in (0..1_000_000u32).step_by(997) {
            assert_eq!(l.get(i as usize), Some(&i.to_le_bytes()[..]));
        }
        let mid: Vec<&[u8]> = l.iter_from(500_000).take(100).collect();
        assert_eq!(mid[99], &500_099u32.to_le_bytes()[..]);
        // ~1000 lookups; a whole-list walk each would take seconds.
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }
}
