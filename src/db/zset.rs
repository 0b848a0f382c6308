//! Sorted set values (Redis's t_zset): a compact packed form for small sets
//! and an order-statistic structure (ranks in O(log n)) past
//! `zset-max-listpack-entries` / `-value`.
//!
//! Two encodings, as in Redis:
//!
//! * **packed** (`OBJECT ENCODING` says `listpack`): every entry in one
//!   buffer, sorted by (score, member): `score (8 bytes LE) | length
//!   (LEB128) | member bytes`. Lookups and updates scan it linearly, which
//!   is fast for the ≤ 128 short entries it holds by default. Like Redis's
//!   listpack (which stores the score as text), it keeps `-0` as `0`.
//! * **skiplist**: a member → score [`Dict`] (O(1) `ZSCORE`, and `ZSCAN`'s
//!   cursor guarantee) plus Redis's skiplist with spans, so ranks, range
//!   starts and counts cost O(log n). Nodes live in an index arena (chunks
//!   of 1024, linked by `u32` indexes, no unsafe, no recursion); freed slots
//!   are reused and the arena is rebuilt once it is mostly empty.
//!
//! A set converts to the skiplist when an insert would pass either limit,
//! and back only when it is rebuilt whole (snapshot load, store commands),
//! exactly when Redis does.
//!
//! Ordering is (score, member bytes); scores are never NaN.

use super::EncodingLimits;
use super::dict::Dict;
use super::small::SmallBytes;
use std::fmt;

/// A score interval (`ZRANGEBYSCORE` min/max, `(` = exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    /// Lower bound.
    pub min: f64,
    /// Lower bound excluded.
    pub minex: bool,
    /// Upper bound.
    pub max: f64,
    /// Upper bound excluded.
    pub maxex: bool,
}

impl ScoreRange {
    /// True if `v` is above the lower bound.
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    /// True if `v` is below the upper bound.
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// True for intervals that can hold nothing.
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lexicographic interval (`-`, `+`, `[x`, `(x`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every string.
    NegInf,
    /// `+`: above every string.
    PosInf,
    /// `[x`.
    Incl(Vec<u8>),
    /// `(x`.
    Excl(Vec<u8>),
}

impl LexBound {
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }

    /// Redis's `sdscmplex` between two bounds.
    fn cmp_bound(&self, other: &LexBound) -> std::cmp::Ordering {
        use LexBound::*;
        use std::cmp::Ordering::*;
        match (self, other) {
            (NegInf, NegInf) | (PosInf, PosInf) => Equal,
            (NegInf, _) | (_, PosInf) => Less,
            (PosInf, _) | (_, NegInf) => Greater,
            (Incl(a) | Excl(a), Incl(b) | Excl(b)) => a.cmp(b),
        }
    }
}

/// A lexicographic interval (`ZRANGEBYLEX` min/max).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    /// Lower bound.
    pub min: LexBound,
    /// Upper bound.
    pub max: LexBound,
}

impl LexRange {
    /// True if `v` is above the lower bound.
    pub fn gte_min(&self, v: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(m) => v >= m.as_slice(),
            LexBound::Excl(m) => v > m.as_slice(),
        }
    }

    /// True if `v` is below the upper bound.
    pub fn lte_max(&self, v: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(m) => v <= m.as_slice(),
            LexBound::Excl(m) => v < m.as_slice(),
        }
    }

    /// True for intervals that can hold nothing.
    pub fn is_empty(&self) -> bool {
        match self.min.cmp_bound(&self.max) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => self.min.exclusive() || self.max.exclusive(),
            std::cmp::Ordering::Less => false,
        }
    }
}

// ---------------------------------------------------------------------------
// Packed encoding
// ---------------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(buf: &[u8], mut pos: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[pos];
        pos += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            return (n, pos);
        }
        shift += 7;
    }
}

/// True if (s1, m1) sorts before (s2, m2).
#[inline]
fn before(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> bool {
    s1 < s2 || (s1 == s2 && m1 < m2)
}

/// Sorted entries in one buffer.
#[derive(Clone, Default)]
struct Packed {
    buf: Vec<u8>,
    len: usize,
}

impl Packed {
    /// Score, member and the offset of the next entry, for the entry at `off`.
    #[inline]
    fn entry(&self, off: usize) -> (f64, &[u8], usize) {
        let mut s = [0u8; 8];
        s.copy_from_slice(&self.buf[off..off + 8]);
        let (n, p) = get_varint(&self.buf, off + 8);
        (f64::from_le_bytes(s), &self.buf[p..p + n], p + n)
    }

    fn iter(&self) -> PackedIter<'_> {
        PackedIter { p: self, off: 0 }
    }

    /// Offset and score of `member`.
    fn find(&self, member: &[u8]) -> Option<(usize, f64)> {
        let mut off = 0;
        while off < self.buf.len() {
            let (s, m, next) = self.entry(off);
            if m == member {
                return Some((off, s));
            }
            off = next;
        }
        None
    }

    /// Offset of the entry of ascending rank `r` (`buf.len()` when r == len).
    fn offset_of(&self, r: usize) -> usize {
        let mut off = 0;
        for _ in 0..r.min(self.len) {
            off = self.entry(off).2;
        }
        off
    }

    fn insert(&mut self, member: &[u8], score: f64) {
        // Redis's listpack stores scores as text: -0 comes back as 0.
        let score = if score == 0.0 { 0.0 } else { score };
        let mut off = 0;
        while off < self.buf.len() {
            let (s, m, next) = self.entry(off);
            if before(score, member, s, m) {
                break;
            }
            off = next;
        }
        let mut enc = Vec::with_capacity(member.len() + 10);
        enc.extend_from_slice(&score.to_le_bytes());
        put_varint(&mut enc, member.len());
        enc.extend_from_slice(member);
        let old = self.buf.len();
        self.buf.resize(old + enc.len(), 0);
        self.buf.copy_within(off..old, off + enc.len());
        self.buf[off..off + enc.len()].copy_from_slice(&enc);
        self.len += 1;
    }

    /// Removes the entries between two offsets, `n` of them.
    fn remove_bytes(&mut self, from: usize, to: usize, n: usize) {
        self.buf.drain(from..to);
        self.len -= n;
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    fn remove_at(&mut self, off: usize) {
        let next = self.entry(off).2;
        self.remove_bytes(off, next, 1);
    }
}

struct PackedIter<'a> {
    p: &'a Packed,
    off: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (&'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        if self.off >= self.p.buf.len() {
            return None;
        }
        let (s, m, next) = self.p.entry(self.off);
        self.off = next;
        Some((m, s))
    }
}

// ---------------------------------------------------------------------------
// Skiplist
// ---------------------------------------------------------------------------

/// Levels per node at most (Redis's ZSKIPLIST_MAXLEVEL).
const MAX_LEVEL: usize = 32;
/// Offset of the header node; as a link it means "none".
const NIL: u32 = 0;
/// Header words of a node: score bits, back link | height << 32, member slot.
const HDR: usize = 3;
const SLAB_SHIFT: usize = 14;
/// Words per slab chunk (128 KB); a node never straddles two chunks.
const SLAB_CHUNK: usize = 1 << SLAB_SHIFT;
const SLAB_MASK: usize = SLAB_CHUNK - 1;
const MEM_SHIFT: usize = 12;
/// Member slots per chunk.
const MEM_CHUNK: usize = 1 << MEM_SHIFT;
const MEM_MASK: usize = MEM_CHUNK - 1;
/// The slab is rebuilt when more than this many words are free and they
/// are over half of it (amortized O(1) per removal).
const COMPACT_MIN_FREE: usize = 1 << 15;

/// Redis's skiplist (Pugh's, with spans for ranks, repeated scores ordered
/// by member, and back links at level 0).
///
/// Nodes are variable-size runs of `u64` words in a chunked slab, as Redis
/// allocates one block per node: `score | back, height | member slot |
/// levels...`, each level one word (`next | span << 32`). A descent reads
/// one cache line per node visited. Members live in a side array of slots
/// (read only for ties and replies). Freed runs are reused by height; no
/// unsafe code, no recursion, and chunked storage means growth never
/// copies the whole structure.
struct SkipList {
    slab: Vec<Vec<u64>>,
    /// Words used in the slab (free runs included).
    words: usize,
    /// Free node runs, by height - 1.
    free_nodes: Vec<Vec<u32>>,
    free_words: usize,
    members: Vec<Vec<SmallBytes>>,
    free_members: Vec<u32>,
    level: usize,
    len: usize,
    tail: u32,
    rng: u64,
}

/// One level of a node: the next node and how many elements that skips.
#[derive(Clone, Copy, Debug)]
struct Level {
    next: u32,
    /// Elements crossed by following `next` (to the end when `next` is NIL).
    span: u32,
}

impl SkipList {
    fn new(seed: u64) -> Self {
        let mut head = vec![0u64; HDR + MAX_LEVEL];
        head[1] = (MAX_LEVEL as u64) << 32;
        SkipList {
            words: head.len(),
            slab: vec![head],
            free_nodes: vec![Vec::new(); MAX_LEVEL],
            free_words: 0,
            members: vec![Vec::new()],
            free_members: Vec::new(),
            level: 1,
            len: 0,
            tail: NIL,
            rng: seed | 1,
        }
    }

    #[inline]
    fn w(&self, x: u32, k: usize) -> u64 {
        let x = x as usize;
        self.slab[x >> SLAB_SHIFT][(x & SLAB_MASK) + k]
    }

    #[inline]
    fn w_mut(&mut self, x: u32, k: usize) -> &mut u64 {
        let x = x as usize;
        &mut self.slab[x >> SLAB_SHIFT][(x & SLAB_MASK) + k]
    }

    #[inline]
    fn score(&self, x: u32) -> f64 {
        f64::from_bits(self.w(x, 0))
    }

    #[inline]
    fn back(&self, x: u32) -> u32 {
        self.w(x, 1) as u32
    }

    fn set_back(&mut self, x: u32, b: u32) {
        let v = self.w_mut(x, 1);
        *v = (*v & !0xFFFF_FFFF) | b as u64;
    }

    #[inline]
    fn height(&self, x: u32) -> usize {
        (self.w(x, 1) >> 32) as usize
    }

    #[inline]
    fn slot(&self, x: u32) -> usize {
        self.w(x, 2) as usize
    }

    #[inline]
    fn member(&self, x: u32) -> &[u8] {
        let s = self.slot(x);
        self.members[s >> MEM_SHIFT][s & MEM_MASK].as_slice()
    }

    #[inline]
    fn lv(&self, x: u32, i: usize) -> Level {
        let v = self.w(x, HDR + i);
        Level {
            next: v as u32,
            span: (v >> 32) as u32,
        }
    }

    #[inline]
    fn next(&self, x: u32, i: usize) -> u32 {
        self.w(x, HDR + i) as u32
    }

    #[inline]
    fn set_lv(&mut self, x: u32, i: usize, l: Level) {
        *self.w_mut(x, HDR + i) = l.next as u64 | (l.span as u64) << 32;
    }

    #[inline]
    fn set_span(&mut self, x: u32, i: usize, span: u32) {
        let next = self.next(x, i);
        self.set_lv(x, i, Level { next, span });
    }

    fn first(&self) -> u32 {
        self.next(NIL, 0)
    }

    /// Stores a member in a free slot.
    fn put_member(&mut self, m: SmallBytes) -> usize {
        if let Some(s) = self.free_members.pop() {
            let s = s as usize;
            self.members[s >> MEM_SHIFT][s & MEM_MASK] = m;
            return s;
        }
        if self.members.last().is_some_and(|c| c.len() == MEM_CHUNK) {
            self.members.push(Vec::with_capacity(MEM_CHUNK));
        }
        let ci = self.members.len() - 1;
        let s = ci * MEM_CHUNK + self.members[ci].len();
        self.members[ci].push(m);
        s
    }

    /// A new node of `height` levels (all NIL) for (score, member).
    fn alloc(&mut self, height: usize, score: f64, member: SmallBytes, back: u32) -> u32 {
        let slot = self.put_member(member);
        let size = HDR + height;
        let x = match self.free_nodes[height - 1].pop() {
            Some(x) => {
                self.free_words -= size;
                x
            }
            None => {
                if self
                    .slab
                    .last()
                    .is_some_and(|c| c.len() + size > SLAB_CHUNK)
                {
                    self.slab.push(Vec::with_capacity(SLAB_CHUNK));
                }
                let ci = self.slab.len() - 1;
                let used = self.slab[ci].len();
                let cap = self.slab[ci].capacity();
                if used + size > cap {
                    // Grow the first chunk by doubling, never past a chunk.
                    let want = (2 * cap).max(used + size).min(SLAB_CHUNK);
                    self.slab[ci].reserve_exact(want - used);
                }
                let x = ci * SLAB_CHUNK + used;
                self.slab[ci].resize(used + size, 0);
                self.words += size;
                x as u32
            }
        };
        *self.w_mut(x, 0) = score.to_bits();
        *self.w_mut(x, 1) = back as u64 | (height as u64) << 32;
        *self.w_mut(x, 2) = slot as u64;
        for i in 0..height {
            *self.w_mut(x, HDR + i) = 0;
        }
        x
    }

    /// Frees a node and returns its member.
    fn release(&mut self, x: u32) -> SmallBytes {
        let s = self.slot(x);
        let m = std::mem::replace(
            &mut self.members[s >> MEM_SHIFT][s & MEM_MASK],
            SmallBytes::new(b""),
        );
        self.free_members.push(s as u32);
        let h = self.height(x);
        self.free_nodes[h - 1].push(x);
        self.free_words += HDR + h;
        m
    }

    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            let r = (crate::util::rng::xorshift(&mut self.rng) >> 32) & 0xFFFF;
            // Redis: (random() & 0xFFFF) < 0.25 * 0xFFFF.
            if r < 0x4000 && level < MAX_LEVEL {
                level += 1;
            } else {
                return level;
            }
        }
    }

    #[inline]
    fn node_before(&self, x: u32, score: f64, member: &[u8]) -> bool {
        let s = self.score(x);
        s < score || (s == score && self.member(x) < member)
    }

    fn insert(&mut self, member: SmallBytes, score: f64) -> u32 {
        let mut update = [NIL; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = NIL;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let l = self.lv(x, i);
                if l.next == NIL || !self.node_before(l.next, score, member.as_slice()) {
                    break;
                }
                rank[i] += l.span as usize;
                x = l.next;
            }
            update[i] = x;
        }
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = NIL;
                self.set_span(NIL, i, self.len as u32);
            }
            self.level = level;
        }
        let xi = self.alloc(level, score, member, update[0]);
        for i in 0..level {
            let ul = self.lv(update[i], i);
            let crossed = (rank[0] - rank[i]) as u32;
            self.set_lv(
                xi,
                i,
                Level {
                    next: ul.next,
                    span: ul.span - crossed,
                },
            );
            self.set_lv(
                update[i],
                i,
                Level {
                    next: xi,
                    span: crossed + 1,
                },
            );
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            let l = self.lv(u, i);
            self.set_span(u, i, l.span + 1);
        }
        let nx = self.next(xi, 0);
        if nx != NIL {
            self.set_back(nx, xi);
        } else {
            self.tail = xi;
        }
        self.len += 1;
        xi
    }

    /// Unlinks `x`; `update[i]` is the last node before `x` at level i.
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.lv(u, i);
            if ul.next == x {
                let xl = self.lv(x, i);
                self.set_lv(
                    u,
                    i,
                    Level {
                        next: xl.next,
                        span: ul.span + xl.span - 1,
                    },
                );
            } else {
                self.set_span(u, i, ul.span - 1);
            }
        }
        let (nx, back) = (self.next(x, 0), self.back(x));
        if nx != NIL {
            self.set_back(nx, back);
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.next(NIL, self.level - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// For each level, the last node before (score, member).
    fn path(&self, score: f64, member: &[u8]) -> [u32; MAX_LEVEL] {
        let mut update = [NIL; MAX_LEVEL];
        let mut x = NIL;
        for i in (0..self.level).rev() {
            loop {
                let nx = self.next(x, i);
                if nx == NIL || !self.node_before(nx, score, member) {
                    break;
                }
                x = nx;
            }
            update[i] = x;
        }
        update
    }

    /// The node of (score, member) and the path to it.
    fn find(&self, score: f64, member: &[u8]) -> Option<(u32, [u32; MAX_LEVEL])> {
        let update = self.path(score, member);
        let x = self.next(update[0], 0);
        (x != NIL && self.score(x) == score && self.member(x) == member).then_some((x, update))
    }

    /// Deletes (score, member); returns the member's storage if it was there.
    fn delete(&mut self, score: f64, member: &[u8]) -> Option<SmallBytes> {
        let (x, update) = self.find(score, member)?;
        self.unlink(x, &update);
        Some(self.release(x))
    }

    /// Moves an element to a new score (Redis's `zslUpdateScore`).
    fn update_score(&mut self, cur: f64, member: &[u8], new: f64) {
        let Some((x, update)) = self.find(cur, member) else {
            return;
        };
        let back = self.back(x);
        let nx = self.next(x, 0);
        if (back == NIL || self.score(back) < new) && (nx == NIL || self.score(nx) > new) {
            *self.w_mut(x, 0) = new.to_bits();
            return;
        }
        self.unlink(x, &update);
        let m = self.release(x);
        self.insert(m, new);
    }

    /// 1-based rank of (score, member), 0 when absent.
    fn rank(&self, score: f64, member: &[u8]) -> usize {
        let mut rank = 0usize;
        let mut x = NIL;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lv(x, i);
                if l.next == NIL {
                    break;
                }
                let s = self.score(l.next);
                if s < score || (s == score && self.member(l.next) <= member) {
                    rank += l.span as usize;
                    x = l.next;
                } else {
                    break;
                }
            }
            if x != NIL && self.member(x) == member {
                return rank;
            }
        }
        0
    }

    /// The node of 1-based rank `rank` (NIL when out of range).
    fn by_rank(&self, rank: usize) -> u32 {
        if rank == 0 || rank > self.len {
            return NIL;
        }
        let mut traversed = 0usize;
        let mut x = NIL;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lv(x, i);
                if l.next == NIL || traversed + l.span as usize > rank {
                    break;
                }
                traversed += l.span as usize;
                x = l.next;
            }
            if traversed == rank {
                return x;
            }
        }
        NIL
    }

    /// How many leading elements satisfy `pred` (which must hold for a
    /// prefix of the order): the descent Redis's `zslFirstInRange` does.
    fn prefix_count(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut rank = 0usize;
        let mut x = NIL;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lv(x, i);
                if l.next == NIL || !pred(self.score(l.next), self.member(l.next)) {
                    break;
                }
                rank += l.span as usize;
                x = l.next;
            }
        }
        rank
    }

    /// Deletes 1-based ranks `start..=end`, handing each removed element to `f`.
    fn delete_rank_range(&mut self, start: usize, end: usize, mut f: impl FnMut(SmallBytes, f64)) {
        let mut update = [NIL; MAX_LEVEL];
        let mut traversed = 0usize;
        let mut x = NIL;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lv(x, i);
                if l.next == NIL || traversed + l.span as usize >= start {
                    break;
                }
                traversed += l.span as usize;
                x = l.next;
            }
            update[i] = x;
        }
        traversed += 1;
        let mut x = self.next(x, 0);
        while x != NIL && traversed <= end {
            let next = self.next(x, 0);
            self.unlink(x, &update);
            let score = self.score(x);
            let m = self.release(x);
            f(m, score);
            traversed += 1;
            x = next;
        }
    }

    /// Builds a list from elements already in ascending order, in O(n).
    fn from_sorted(items: impl Iterator<Item = (SmallBytes, f64)>, seed: u64) -> SkipList {
        let mut sl = SkipList::new(seed);
        let mut last = [NIL; MAX_LEVEL];
        let mut last_rank = [0usize; MAX_LEVEL];
        let mut n = 0usize;
        for (member, score) in items {
            n += 1;
            let lvl = sl.random_level();
            sl.level = sl.level.max(lvl);
            let xi = sl.alloc(lvl, score, member, last[0]);
            for i in 0..lvl {
                sl.set_lv(
                    last[i],
                    i,
                    Level {
                        next: xi,
                        span: (n - last_rank[i]) as u32,
                    },
                );
                last[i] = xi;
                last_rank[i] = n;
            }
            sl.tail = xi;
        }
        for i in 0..sl.level {
            sl.set_span(last[i], i, (n - last_rank[i]) as u32);
        }
        sl.len = n;
        sl
    }

    /// Rebuilds the slab when it is mostly free runs.
    fn maybe_compact(&mut self) {
        if self.free_words < COMPACT_MIN_FREE || self.free_words * 2 < self.words {
            return;
        }
        let mut items = Vec::with_capacity(self.len);
        let mut x = self.first();
        while x != NIL {
            let s = self.slot(x);
            let m = std::mem::replace(
                &mut self.members[s >> MEM_SHIFT][s & MEM_MASK],
                SmallBytes::new(b""),
            );
            items.push((m, self.score(x)));
            x = self.next(x, 0);
        }
        let seed = self.rng;
        *self = SkipList::from_sorted(items.into_iter(), seed);
    }

    fn heap_size(&self) -> usize {
        let mut total = self.slab.capacity() * std::mem::size_of::<Vec<u64>>()
            + self.members.capacity() * std::mem::size_of::<Vec<SmallBytes>>()
            + self.free_members.capacity() * 4
            + self
                .free_nodes
                .iter()
                .map(|v| v.capacity() * 4)
                .sum::<usize>();
        for c in &self.slab {
            total += c.capacity() * 8;
        }
        for c in &self.members {
            total += c.capacity() * std::mem::size_of::<SmallBytes>();
            total += c.iter().map(|m| m.heap_size()).sum::<usize>();
        }
        total
    }

    /// Checks links, back links, spans and order (tests and fuzzing).
    fn check(&self) -> Result<(), String> {
        let mut nodes = Vec::new();
        let mut x = self.first();
        let mut prev = NIL;
        while x != NIL {
            if self.back(x) != prev {
                return Err(format!("bad back link at position {}", nodes.len()));
            }
            if prev != NIL
                && !before(
                    self.score(prev),
                    self.member(prev),
                    self.score(x),
                    self.member(x),
                )
            {
                return Err(format!("out of order at position {}", nodes.len()));
            }
            if self.height(x) == 0 || self.height(x) > MAX_LEVEL {
                return Err(format!("bad height at position {}", nodes.len()));
            }
            nodes.push(x);
            prev = x;
            x = self.next(x, 0);
        }
        if nodes.len() != self.len {
            return Err(format!("len {} but {} nodes", self.len, nodes.len()));
        }
        if self.tail != prev {
            return Err("bad tail".into());
        }
        let pos: std::collections::HashMap<u32, usize> =
            nodes.iter().enumerate().map(|(i, &n)| (n, i + 1)).collect();
        for i in 0..self.level {
            let mut x = NIL;
            let mut rank = 0usize;
            loop {
                let l = self.lv(x, i);
                if l.next == NIL {
                    if l.span as usize != self.len - rank {
                        return Err(format!("level {i}: span to end {} at rank {rank}", l.span));
                    }
                    break;
                }
                let r = *pos.get(&l.next).ok_or("link to a free node")?;
                if r <= rank || r - rank != l.span as usize || self.height(l.next) <= i {
                    return Err(format!(
                        "level {i}: span {} from rank {rank} to {r}",
                        l.span
                    ));
                }
                rank = r;
                x = l.next;
            }
        }
        Ok(())
    }
}

/// Iterates from a node in one direction.
struct SkipIter<'a> {
    sl: &'a SkipList,
    x: u32,
    rev: bool,
}

impl<'a> Iterator for SkipIter<'a> {
    type Item = (&'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        if self.x == NIL {
            return None;
        }
        let x = self.x;
        self.x = if self.rev {
            self.sl.back(x)
        } else {
            self.sl.next(x, 0)
        };
        Some((self.sl.member(x), self.sl.score(x)))
    }
}

/// The skiplist encoding: member → score, plus the ordered view.
struct Big {
    dict: Dict<f64>,
    sl: SkipList,
}

impl Big {
    fn insert(&mut self, member: &[u8], score: f64) {
        self.sl.insert(SmallBytes::new(member), score);
        self.dict.insert_new(SmallBytes::new(member), score);
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, score) = self.dict.remove(member)?;
        self.sl.delete(score, member);
        self.after_removals();
        Some(score)
    }

    fn after_removals(&mut self) {
        self.dict.shrink_if_needed();
        self.sl.maybe_compact();
    }

    fn from_sorted(items: Vec<(SmallBytes, f64)>, seed: u64) -> Big {
        let mut dict = Dict::new();
        dict.reserve(items.len());
        for (m, s) in &items {
            dict.insert_new(m.clone(), *s);
        }
        Big {
            dict,
            sl: SkipList::from_sorted(items.into_iter(), seed),
        }
    }
}

// ---------------------------------------------------------------------------
// ZSet
// ---------------------------------------------------------------------------

enum Repr {
    Packed(Packed),
    Big(Box<Big>),
}

/// Members with IEEE-754 double scores, ordered by (score, member).
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl Clone for ZSet {
    fn clone(&self) -> Self {
        match &self.repr {
            Repr::Packed(p) => ZSet {
                repr: Repr::Packed(p.clone()),
            },
            Repr::Big(b) => {
                let items = self.iter().map(|(m, s)| (SmallBytes::new(m), s)).collect();
                ZSet {
                    repr: Repr::Big(Box::new(Big::from_sorted(items, b.sl.rng))),
                }
            }
        }
    }
}

impl fmt::Debug for ZSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s)))
            .finish()
    }
}

/// Seeds for the skiplists' level generators.
fn seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    N.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
}

/// Ascending or descending iterator over a rank range.
pub struct RangeIter<'a> {
    inner: RangeInner<'a>,
}

enum RangeInner<'a> {
    Fwd(PackedIter<'a>),
    Back(Vec<(&'a [u8], f64)>),
    Skip(SkipIter<'a>),
}

impl<'a> Iterator for RangeIter<'a> {
    type Item = (&'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            RangeInner::Fwd(it) => it.next(),
            RangeInner::Back(v) => v.pop(),
            RangeInner::Skip(it) => it.next(),
        }
    }
}

impl ZSet {
    /// An empty set in the packed encoding.
    pub fn new() -> Self {
        ZSet {
            repr: Repr::Packed(Packed::default()),
        }
    }

    /// An empty set in the skiplist encoding.
    pub fn new_skiplist() -> Self {
        ZSet {
            repr: Repr::Big(Box::new(Big {
                dict: Dict::new(),
                sl: SkipList::new(seed()),
            })),
        }
    }

    /// The empty set ZADD creates for a new key whose first member is
    /// `first_len` bytes long (Redis decides on that member alone).
    pub fn for_new_key(first_len: usize, limits: &EncodingLimits) -> Self {
        if limits.zset_max_listpack_entries == 0
            || first_len as u64 > limits.zset_max_listpack_value
        {
            ZSet::new_skiplist()
        } else {
            ZSet::new()
        }
    }

    /// Builds a set from elements in ascending (score, member) order with
    /// distinct members, in the encoding their size calls for (store
    /// commands, snapshot load).
    pub fn from_sorted(items: Vec<(SmallBytes, f64)>, limits: &EncodingLimits) -> Self {
        let max_len = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        if items.len() as u64 <= limits.zset_max_listpack_entries
            && max_len as u64 <= limits.zset_max_listpack_value
        {
            let mut p = Packed::default();
            let bytes: usize = items.iter().map(|(m, _)| m.len() + 10).sum();
            p.buf.reserve_exact(bytes);
            for (m, s) in &items {
                let s = if *s == 0.0 { 0.0 } else { *s };
                p.buf.extend_from_slice(&s.to_le_bytes());
                put_varint(&mut p.buf, m.len());
                p.buf.extend_from_slice(m.as_slice());
            }
            p.len = items.len();
            ZSet {
                repr: Repr::Packed(p),
            }
        } else {
            ZSet {
                repr: Repr::Big(Box::new(Big::from_sorted(items, seed()))),
            }
        }
    }

    /// Builds a sorted set from snapshot (member, score) pairs. Duplicate
    /// members keep their last score and NaN scores become 0, so a damaged
    /// file cannot break the structure.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a [u8], f64)>,
        limits: &EncodingLimits,
    ) -> Self {
        let mut items: Vec<(usize, &[u8], f64)> = pairs
            .into_iter()
            .enumerate()
            .map(|(i, (m, s))| (i, m, if s.is_nan() { 0.0 } else { s }))
            .collect();
        let sorted = items
            .windows(2)
            .all(|w| before(w[0].2, w[0].1, w[1].2, w[1].1))
            && {
                let mut seen = crate::util::hash::Set::with_capacity_and_hasher(
                    items.len(),
                    Default::default(),
                );
                items.iter().all(|e| seen.insert(e.1))
            };
        if !sorted {
            // Last occurrence of each member wins.
            items.sort_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)));
            items.dedup_by(|later, first| later.1 == first.1);
            items.sort_by(|a, b| {
                a.2.partial_cmp(&b.2)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.1.cmp(b.1))
            });
        }
        let v = items
            .into_iter()
            .map(|(_, m, s)| (SmallBytes::new(m), s))
            .collect();
        ZSet::from_sorted(v, limits)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len,
            Repr::Big(b) => b.sl.len,
        }
    }

    /// True when empty (an empty sorted set is never stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (member, score) in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        self.range(0, false)
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Big(_) => "skiplist",
        }
    }

    /// True in the skiplist encoding.
    pub fn is_skiplist(&self) -> bool {
        matches!(self.repr, Repr::Big(_))
    }

    /// Heap bytes owned (memory accounting).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.buf.capacity(),
            Repr::Big(b) => {
                let mut d = b.dict.buckets() * 8;
                // A dict node: next link, key, value, allocator header.
                d += b.dict.len() * (8 + std::mem::size_of::<SmallBytes>() + 8 + 16);
                b.dict.for_each(|n| d += n.key.heap_size());
                std::mem::size_of::<Big>() + d + b.sl.heap_size()
            }
        }
    }

    /// Length of the longest member.
    pub fn max_member_len(&self) -> usize {
        self.iter().map(|(m, _)| m.len()).max().unwrap_or(0)
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Packed(p) => p.find(member).map(|(_, s)| s),
            Repr::Big(b) => b.dict.get(member).map(|n| n.value),
        }
    }

    fn convert_to_skiplist(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            let items = p.iter().map(|(m, s)| (SmallBytes::new(m), s)).collect();
            self.repr = Repr::Big(Box::new(Big::from_sorted(items, seed())));
        }
    }

    /// Adds a member known to be absent, converting to the skiplist first
    /// when the packed form would pass a limit (as Redis's `zsetAdd`).
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &EncodingLimits) {
        if let Repr::Packed(p) = &self.repr
            && (p.len as u64 + 1 > limits.zset_max_listpack_entries
                || member.len() as u64 > limits.zset_max_listpack_value)
        {
            self.convert_to_skiplist();
        }
        match &mut self.repr {
            Repr::Packed(p) => p.insert(member, score),
            Repr::Big(b) => b.insert(member, score),
        }
    }

    /// Changes the score of a present member from `old` to `new`.
    pub fn set_score(&mut self, member: &[u8], old: f64, new: f64) {
        match &mut self.repr {
            Repr::Packed(p) => {
                if let Some((off, _)) = p.find(member) {
                    p.remove_at(off);
                    p.insert(member, new);
                }
            }
            Repr::Big(b) => {
                if let Some(n) = b.dict.get_mut(member) {
                    n.value = new;
                    b.sl.update_score(old, member, new);
                }
            }
        }
    }

    /// Removes `member`; returns its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Packed(p) => {
                let (off, s) = p.find(member)?;
                p.remove_at(off);
                Some(s)
            }
            Repr::Big(b) => b.remove(member),
        }
    }

    /// 0-based ascending rank and score of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Packed(p) => p
                .iter()
                .enumerate()
                .find(|(_, (m, _))| *m == member)
                .map(|(i, (_, s))| (i, s)),
            Repr::Big(b) => {
                let s = b.dict.get(member)?.value;
                let r = b.sl.rank(s, member);
                (r > 0).then(|| (r - 1, s))
            }
        }
    }

    /// The element of 0-based ascending rank `r`.
    pub fn get(&self, r: usize) -> Option<(&[u8], f64)> {
        if r >= self.len() {
            return None;
        }
        self.range(r, false).next()
    }

    /// Elements from ascending rank `start` on, upwards, or downwards to
    /// rank 0 when `rev`.
    pub fn range(&self, start: usize, rev: bool) -> RangeIter<'_> {
        let len = self.len();
        let inner = match &self.repr {
            Repr::Packed(p) => {
                if start >= len {
                    RangeInner::Back(Vec::new())
                } else if rev {
                    RangeInner::Back(p.iter().take(start + 1).collect())
                } else {
                    RangeInner::Fwd(PackedIter {
                        p,
                        off: p.offset_of(start),
                    })
                }
            }
            Repr::Big(b) => {
                let x = if start >= len {
                    NIL
                } else if start == 0 {
                    b.sl.first()
                } else if start == len - 1 {
                    b.sl.tail
                } else {
                    b.sl.by_rank(start + 1)
                };
                RangeInner::Skip(SkipIter { sl: &b.sl, x, rev })
            }
        };
        RangeIter { inner }
    }

    /// How many leading elements satisfy `pred` (monotone over the order).
    fn prefix_count(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.iter().take_while(|(m, s)| pred(*s, m)).count(),
            Repr::Big(b) => b.sl.prefix_count(pred),
        }
    }

    /// The ascending rank window `[lo, hi)` of the elements in `r`.
    pub fn score_window(&self, r: &ScoreRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let lo = self.prefix_count(|s, _| !r.gte_min(s));
        let hi = self.prefix_count(|s, _| r.lte_max(s));
        if hi > lo { (lo, hi) } else { (0, 0) }
    }

    /// The ascending rank window `[lo, hi)` of the elements in `r`, found
    /// the way Redis walks to it (from the low end, or from the high end for
    /// `rev`), which matters only when the members' scores differ.
    pub fn lex_window(&self, r: &LexRange, rev: bool) -> (usize, usize) {
        let len = self.len();
        if len == 0 || r.is_empty() {
            return (0, 0);
        }
        let (first, last) = match (self.get(0), self.get(len - 1)) {
            (Some(f), Some(l)) => (f.0, l.0),
            _ => return (0, 0),
        };
        if !r.gte_min(last) || !r.lte_max(first) {
            return (0, 0);
        }
        match &self.repr {
            Repr::Packed(p) => {
                let es: Vec<&[u8]> = p.iter().map(|(m, _)| m).collect();
                if !rev {
                    let Some(lo) = es.iter().position(|m| r.gte_min(m)) else {
                        return (0, 0);
                    };
                    let n = es[lo..].iter().take_while(|m| r.lte_max(m)).count();
                    (lo, lo + n)
                } else {
                    let Some(hi) = es.iter().rposition(|m| r.lte_max(m)) else {
                        return (0, 0);
                    };
                    let n = es[..=hi].iter().rev().take_while(|m| r.gte_min(m)).count();
                    (hi + 1 - n, hi + 1)
                }
            }
            Repr::Big(b) => {
                let lo = b.sl.prefix_count(|_, m| !r.gte_min(m));
                let hi = b.sl.prefix_count(|_, m| r.lte_max(m));
                if hi > lo { (lo, hi) } else { (0, 0) }
            }
        }
    }

    /// Removes ascending ranks `[lo, hi)`; returns how many were removed.
    pub fn remove_window(&mut self, lo: usize, hi: usize) -> usize {
        let hi = hi.min(self.len());
        if lo >= hi {
            return 0;
        }
        match &mut self.repr {
            Repr::Packed(p) => {
                let from = p.offset_of(lo);
                let mut to = from;
                for _ in lo..hi {
                    to = p.entry(to).2;
                }
                p.remove_bytes(from, to, hi - lo);
            }
            Repr::Big(b) => {
                let Big { dict, sl } = &mut **b;
                sl.delete_rank_range(lo + 1, hi, |m, _| {
                    dict.remove(m.as_slice());
                });
                b.after_removals();
            }
        }
        hi - lo
    }

    /// Removes and returns the lowest (or highest, `max`) element.
    pub fn pop(&mut self, max: bool) -> Option<(SmallBytes, f64)> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        match &mut self.repr {
            Repr::Packed(p) => {
                let off = if max { p.offset_of(len - 1) } else { 0 };
                let (s, m, _) = p.entry(off);
                let m = SmallBytes::new(m);
                p.remove_at(off);
                Some((m, s))
            }
            Repr::Big(b) => {
                let x = if max { b.sl.tail } else { b.sl.first() };
                let (m, s) = (SmallBytes::new(b.sl.member(x)), b.sl.score(x));
                b.remove(m.as_slice());
                Some((m, s))
            }
        }
    }

    /// One step of ZSCAN: calls `f` for the elements of the buckets at
    /// `cursor` and returns the next cursor. A packed set is returned whole
    /// (cursor 0), as Redis does.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Packed(p) => {
                for (m, s) in p.iter() {
                    f(m, s);
                }
                0
            }
            Repr::Big(b) => b.dict.scan(cursor, |n| f(n.key.as_slice(), n.value)),
        }
    }

    /// Checks the structure (tests and fuzzing).
    pub fn check_invariants(&self) -> Result<(), String> {
        match &self.repr {
            Repr::Packed(p) => {
                let v: Vec<_> = p.iter().collect();
                if v.len() != p.len {
                    return Err("packed length".into());
                }
                if v.windows(2)
                    .any(|w| !before(w[0].1, w[0].0, w[1].1, w[1].0))
                {
                    return Err("packed order".into());
                }
                Ok(())
            }
            Repr::Big(b) => {
                b.sl.check()?;
                if b.dict.len() != b.sl.len {
                    return Err("dict and skiplist sizes differ".into());
                }
                for (m, s) in self.iter() {
                    match b.dict.get(m) {
                        Some(n) if n.value == s => {}
                        _ => return Err("dict and skiplist disagree".into()),
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn limits(entries: u64, value: u64) -> EncodingLimits {
        EncodingLimits {
            zset_max_listpack_entries: entries,
            zset_max_listpack_value: value,
            ..EncodingLimits::default()
        }
    }

    /// A model: member -> score, and the sorted view.
    fn sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<_> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
        v
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn run_model(lim: EncodingLimits, ops: usize, keyspace: u64, seed: u64) {
        let mut rng = Rng(seed);
        let mut z = ZSet::new();
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        for step in 0..ops {
            let m = format!("m{}", rng.next() % keyspace).into_bytes();
            let s = ((rng.next() % 50) as f64) - 25.0;
            match rng.next() % 10 {
                0..=4 => match z.score(&m) {
                    Some(old) => {
                        z.set_score(&m, old, s);
                        model.insert(m, s);
                    }
                    None => {
                        z.insert(&m, s, &lim);
                        model.insert(m, s);
                    }
                },
                5 | 6 => {
                    assert_eq!(z.remove(&m), model.remove(&m));
                }
                7 => {
                    let v = sorted(&model);
                    if !v.is_empty() {
                        let lo = (rng.next() as usize) % v.len();
                        let hi = lo + (rng.next() as usize) % 4;
                        let n = z.remove_window(lo, hi);
                        assert_eq!(n, hi.min(v.len()) - lo);
                        for (m, _) in &v[lo..hi.min(v.len())] {
                            model.remove(m);
                        }
                    }
                }
                8 => {
                    let max = rng.next().is_multiple_of(2);
                    let v = sorted(&model);
                    let got = z.pop(max);
                    let want = if max { v.last() } else { v.first() };
                    assert_eq!(got.map(|(m, s)| (m.as_slice().to_vec(), s)), want.cloned());
                    if let Some((m, _)) = want {
                        model.remove(m);
                    }
                }
                _ => {
                    let v = sorted(&model);
                    if let Some((m, s)) = v.get((rng.next() as usize) % (v.len() + 1)) {
                        let r = v.iter().position(|e| &e.0 == m).unwrap();
                        assert_eq!(z.rank(m), Some((r, *s)));
                        let got: Vec<_> = z.range(r, true).map(|(m, s)| (m.to_vec(), s)).collect();
                        let want: Vec<_> = v[..=r].iter().rev().cloned().collect();
                        assert_eq!(got, want);
                    }
                }
            }
            if step % 97 == 0 {
                z.check_invariants().unwrap();
                let got: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
                assert_eq!(got, sorted(&model));
                let r = ScoreRange {
                    min: -5.0,
                    minex: step % 2 == 0,
                    max: 7.0,
                    maxex: step % 3 == 0,
                };
                let (lo, hi) = z.score_window(&r);
                let want: Vec<_> = sorted(&model)
                    .into_iter()
                    .filter(|(_, s)| r.gte_min(*s) && r.lte_max(*s))
                    .collect();
                assert_eq!(hi - lo, want.len());
                let got: Vec<_> = z
                    .range(lo, false)
                    .take(hi - lo)
                    .map(|(m, s)| (m.to_vec(), s))
                    .collect();
                assert_eq!(got, want);
            }
        }
        z.check_invariants().unwrap();
    }

    #[test]
    fn packed_matches_model() {
        run_model(limits(100_000, 64), 3000, 60, 7);
    }

    #[test]
    fn skiplist_matches_model() {
        run_model(limits(0, 64), 20_000, 500, 11);
        run_model(limits(8, 64), 20_000, 40, 13);
    }

    #[test]
    fn converts_at_the_limits() {
        let lim = limits(3, 4);
        let mut z = ZSet::new();
        for m in [&b"a"[..], b"b", b"c"] {
            z.insert(m, 1.0, &lim);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"d", 1.0, &lim);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::new();
        z.insert(b"abcde", 1.0, &lim);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(ZSet::for_new_key(5, &lim).encoding(), "skiplist");
        assert_eq!(ZSet::for_new_key(4, &lim).encoding(), "listpack");
    }

    #[test]
    fn ranks_on_a_large_set() {
        let n = 100_000usize;
        let items: Vec<_> = (0..n)
            .map(|i| (SmallBytes::new(format!("m{i:06}").as_bytes()), i as f64))
            .collect();
        let mut z = ZSet::from_sorted(items, &limits(128, 64));
        z.check_invariants().unwrap();
        for i in (0..n).step_by(997) {
            let m = format!("m{i:06}");
            assert_eq!(z.rank(m.as_bytes()), Some((i, i as f64)));
            assert_eq!(z.get(i).unwrap().0, m.as_bytes());
        }
        // Mass removal triggers a compaction; everything stays consistent.
        assert_eq!(z.remove_window(10, n - 10), n - 20);
        z.check_invariants().unwrap();
        assert_eq!(z.len(), 20);
        assert_eq!(z.rank(b"m099999"), Some((19, 99_999.0)));
    }

    #[test]
    fn lex_windows() {
        for enc in [128, 0] {
            let mut z = ZSet::new();
            for m in ["a", "b", "c", "d", "e"] {
                z.insert(m.as_bytes(), 0.0, &limits(enc, 64));
            }
            let r = |min: LexBound, max: LexBound| LexRange { min, max };
            use LexBound::*;
            assert_eq!(z.lex_window(&r(NegInf, PosInf), false), (0, 5));
            assert_eq!(
                z.lex_window(&r(Incl(b"b".to_vec()), Excl(b"d".to_vec())), false),
                (1, 3)
            );
            assert_eq!(
                z.lex_window(&r(Excl(b"b".to_vec()), Incl(b"d".to_vec())), true),
                (2, 4)
            );
            assert_eq!(z.lex_window(&r(PosInf, NegInf), false), (0, 0));
            assert_eq!(z.lex_window(&r(NegInf, NegInf), false), (0, 0));
            assert_eq!(
                z.lex_window(&r(Incl(b"c".to_vec()), Incl(b"c".to_vec())), false),
                (2, 3)
            );
            assert_eq!(
                z.lex_window(&r(Excl(b"c".to_vec()), Incl(b"c".to_vec())), false),
                (0, 0)
            );
            assert_eq!(z.lex_window(&r(Incl(b"x".to_vec()), PosInf), false), (0, 0));
        }
    }

    #[test]
    fn from_pairs_sorts_and_dedups() {
        let z = ZSet::from_pairs(
            vec![(&b"b"[..], 2.0), (b"a", 3.0), (b"b", 1.0), (b"c", f64::NAN)],
            &limits(128, 64),
        );
        let v: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(
            v,
            vec![
                (b"c".to_vec(), 0.0),
                (b"b".to_vec(), 1.0),
                (b"a".to_vec(), 3.0)
            ]
        );
        let z2 = ZSet::from_pairs(z.iter(), &limits(0, 64));
        assert_eq!(z2.encoding(), "skiplist");
        z2.check_invariants().unwrap();
        let c = z2.clone();
        assert_eq!(c.iter().count(), 3);
    }
}
