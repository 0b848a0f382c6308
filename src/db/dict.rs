//! `Dict`: the keyspace hash table, with incremental growth.
//!
//! This is Redis's dict algorithm: two power-of-two tables of chained
//! buckets. When the table fills up a second, twice-as-large table is
//! allocated and buckets migrate a few at a time, on every write and from the
//! cron tick, so no single insert pays for moving millions of entries. Lookups
//! consult both tables while a migration is in flight.
//!
//! Keys are hashed with the process-keyed SipHash of [`crate::util::hash`]
//! (clients choose them, so the hash must resist collision flooding); the
//! prefetch path for pipelined batches computes the same hash ahead.
//!
//! `scan` uses Redis's reverse-binary cursor, which guarantees that an entry
//! present for the whole iteration is returned at least once even when the
//! table grows or shrinks between calls.

use super::buckets::Buckets;
use super::small::SmallBytes;

type Link<V> = Option<Box<Node<V>>>;

/// One key and its value; a single allocation per key.
pub struct Node<V> {
    next: Link<V>,
    /// The key.
    pub key: SmallBytes,
    /// The value stored under the key.
    pub value: V,
}

struct Table<V> {
    buckets: Buckets<Node<V>>,
    used: usize,
}

impl<V> Table<V> {
    fn empty() -> Self {
        Table {
            buckets: Buckets::new(),
            used: 0,
        }
    }
    fn with_size(n: usize) -> Self {
        Self::with_buckets(Buckets::zeroed(n, false))
    }
    fn with_buckets(buckets: Buckets<Node<V>>) -> Self {
        Table { buckets, used: 0 }
    }
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }
}

impl<V> Drop for Table<V> {
    // Unlink chains iteratively (a recursive drop of a long chain could
    // overflow the stack); `Buckets` then frees the array without visiting
    // each empty bucket again.
    fn drop(&mut self) {
        if self.used > 0 {
            for b in self.buckets.iter_mut() {
                let mut cur = b.take();
                while let Some(mut n) = cur {
                    cur = n.next.take();
                }
            }
        }
    }
}

/// A bucket array that is no longer used, being given back to the OS a
/// slice at a time: unmapping a large array at once stalls for milliseconds
/// (about 9 ms for 64 MB), so it is released in small chunks instead.
struct Retired<V> {
    buckets: Buckets<Node<V>>,
    /// Bytes from the start already released.
    released: usize,
}

/// Bytes of retired arrays released per write.
const RELEASE_PER_STEP: usize = 64 * 1024;
/// Arrays smaller than this are freed at once (cheap enough).
const RETIRE_MIN_BYTES: usize = 1 << 20;

/// Hints the CPU to bring `*p` into the cache; no effect on correctness.
#[inline(always)]
fn prefetch_read<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing architecturally;
    // `p` is a valid reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            p as *const T as *const i8,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Smallest non-empty table.
const INITIAL_SIZE: usize = 4;
/// While a fork child runs, grow only past this load factor (avoids copying
/// pages in the child's image), as Redis does.
const FORCE_RESIZE_RATIO: usize = 5;
/// Empty buckets visited per migrated bucket before a step gives up.
const EMPTY_VISITS: usize = 10;
/// Load factor, in thousandths, past which a table grows even when its
/// expand check says no (Redis's `HASHTABLE_MAX_LOAD_FACTOR`, 1.618).
const MAX_LOAD_PERMILLE: usize = 1618;

/// An incrementally rehashed hash table from byte-string keys to `V`.
pub struct Dict<V> {
    t: [Table<V>; 2],
    /// Next bucket of `t[0]` to migrate, when a migration is in progress.
    rehash_idx: Option<usize>,
    /// False while a fork child is writing a snapshot.
    resize_allowed: bool,
    /// Old bucket arrays still being released.
    retired: Vec<Retired<V>>,
    /// Asked before growing at a normal load factor: may the table take
    /// this many more bytes? (See [`Dict::set_expand_check`].)
    expand_check: Option<fn(usize) -> bool>,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Dict<V> {
    /// An empty table (allocates nothing until the first insert).
    pub fn new() -> Self {
        Dict {
            t: [Table::empty(), Table::empty()],
            rehash_idx: None,
            resize_allowed: true,
            retired: Vec::new(),
            expand_check: None,
        }
    }

    /// Installs `check`, asked with the size of the new bucket array before
    /// the table grows while it holds at most 1.618 entries per bucket. The keyspace uses it so that growing its tables does not
    /// push memory over `maxmemory` (which would evict keys to pay for
    /// empty buckets), as Redis's `dictExpandAllowed`; past that load
    /// factor the table grows anyway, so lookups stay fast.
    pub fn set_expand_check(&mut self, check: fn(usize) -> bool) {
        self.expand_check = Some(check);
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.t[0].used + self.t[1].used
    }

    /// True when there are no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total buckets across both tables (for memory accounting).
    pub fn buckets(&self) -> usize {
        self.t[0].buckets.len() + self.t[1].buckets.len()
    }

    /// True while entries are migrating to a new table.
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Allows or forbids growth at the normal load factor.
    pub fn set_resize_allowed(&mut self, allowed: bool) {
        self.resize_allowed = allowed;
    }

    /// The keyed hash every table shares ([`crate::util::hash`]): clients
    /// choose the keys, so it must resist collision flooding.
    #[inline]
    fn hash(&self, key: &[u8]) -> usize {
        crate::util::hash::hash_bytes(key) as usize
    }

    /// Looks a key up.
    pub fn get(&self, key: &[u8]) -> Option<&Node<V>> {
        if self.is_empty() {
            return None;
        }
        let h = self.hash(key);
        let tables = if self.is_rehashing() { 2 } else { 1 };
        for t in &self.t[..tables] {
            let mut cur = t.buckets[h & t.mask()].as_deref();
            while let Some(n) = cur {
                if n.key.as_slice() == key {
                    return Some(n);
                }
                cur = n.next.as_deref();
            }
        }
        None
    }

    /// Looks a key up for update.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Node<V>> {
        if self.is_empty() {
            return None;
        }
        let h = self.hash(key);
        let tables = if self.is_rehashing() { 2 } else { 1 };
        for t in &mut self.t[..tables] {
            let mask = t.mask();
            let mut cur = t.buckets[h & mask].as_deref_mut();
            while let Some(n) = cur {
                if n.key.as_slice() == key {
                    return Some(n);
                }
                cur = n.next.as_deref_mut();
            }
        }
        None
    }

    /// Inserts a key known to be absent (the caller has just looked it up).
    pub fn insert_new(&mut self, key: SmallBytes, value: V) -> &mut Node<V> {
        let h = self.hash(key.as_slice());
        self.insert_absent(h, key, value)
    }

    /// Links a new entry for a key known to be absent, whose hash is `h`.
    fn insert_absent(&mut self, h: usize, key: SmallBytes, value: V) -> &mut Node<V> {
        self.rehash_step();
        self.expand_if_needed();
        let t = &mut self.t[if self.rehash_idx.is_some() { 1 } else { 0 }];
        let idx = h & t.mask();
        let node = Box::new(Node {
            next: t.buckets[idx].take(),
            key,
            value,
        });
        t.used += 1;
        t.buckets[idx].insert(node)
    }

    /// Hashes `key` and asks the CPU to start fetching its bucket, so a
    /// later [`Dict::insert_hashed`] does not wait on that cache miss.
    /// Bulk inserts (snapshot loading) hash a window of keys ahead of the
    /// insert: the misses overlap instead of happening one after another.
    #[inline]
    pub fn prefetch(&self, key: &[u8]) -> usize {
        let h = self.hash(key);
        let t = &self.t[if self.is_rehashing() { 1 } else { 0 }];
        if !t.buckets.is_empty() {
            prefetch_read(&t.buckets[h & t.mask()]);
        }
        h
    }

    /// Prefetches the first entry of the chain `h` (prefetched by
    /// [`Dict::prefetch`] earlier) lands in: the key comparison of the
    /// insert reads it.
    #[inline]
    pub fn prefetch_chain(&self, h: usize) {
        let t = &self.t[if self.is_rehashing() { 1 } else { 0 }];
        if let Some(n) = t.buckets.get(h & t.mask()).and_then(|b| b.as_deref()) {
            prefetch_read(n);
        }
    }

    /// [`Dict::insert`] with the key's hash already computed by
    /// [`Dict::prefetch`].
    pub fn insert_hashed(&mut self, h: usize, key: SmallBytes, value: V) -> Option<V> {
        debug_assert_eq!(h, self.hash(key.as_slice()));
        if !self.is_empty() {
            let tables = if self.is_rehashing() { 2 } else { 1 };
            for t in &mut self.t[..tables] {
                let mask = t.mask();
                let mut cur = t.buckets[h & mask].as_deref_mut();
                while let Some(n) = cur {
                    if n.key == key {
                        return Some(std::mem::replace(&mut n.value, value));
                    }
                    cur = n.next.as_deref_mut();
                }
            }
        }
        self.insert_absent(h, key, value);
        None
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: SmallBytes, value: V) -> Option<V> {
        if let Some(n) = self.get_mut(key.as_slice()) {
            return Some(std::mem::replace(&mut n.value, value));
        }
        self.insert_new(key, value);
        None
    }

    /// Removes a key, returning its key and value.
    pub fn remove(&mut self, key: &[u8]) -> Option<(SmallBytes, V)> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(key);
        let tables = if self.is_rehashing() { 2 } else { 1 };
        for t in &mut self.t[..tables] {
            let mask = t.mask();
            let mut link = &mut t.buckets[h & mask];
            loop {
                match link {
                    None => break,
                    Some(n) if n.key.as_slice() == key => {
                        let mut n = link.take().expect("matched Some");
                        *link = n.next.take();
                        t.used -= 1;
                        let Node { key, value, .. } = *n;
                        return Some((key, value));
                    }
                    Some(n) => link = &mut n.next,
                }
            }
        }
        None
    }

    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let size = self.t[0].buckets.len();
        if size == 0 {
            self.t[0] = Table::with_size(INITIAL_SIZE);
            return;
        }
        let used = self.t[0].used;
        if used >= size
            && (self.resize_allowed || used / size > FORCE_RESIZE_RATIO)
            && self.expand_allowed(used, size)
        {
            self.resize_to(used + 1);
        }
    }

    fn expand_allowed(&self, used: usize, size: usize) -> bool {
        let Some(check) = self.expand_check else {
            return true;
        };
        if used * 1000 > size * MAX_LOAD_PERMILLE {
            return true;
        }
        let new_size = (used + 1).next_power_of_two().max(INITIAL_SIZE);
        check(new_size * std::mem::size_of::<Link<V>>())
    }

    /// Shrinks a mostly empty table (called from the cron tick, like Redis's
    /// `htNeedsResize`). Returns true if a shrink started.
    pub fn shrink_if_needed(&mut self) -> bool {
        if self.is_rehashing() || !self.resize_allowed {
            return false;
        }
        let size = self.t[0].buckets.len();
        let used = self.t[0].used;
        if size > INITIAL_SIZE && used * 100 / size < 10 {
            self.resize_to(used.max(INITIAL_SIZE));
            return true;
        }
        false
    }

    fn resize_to(&mut self, min: usize) {
        let size = min.next_power_of_two().max(INITIAL_SIZE);
        if size == self.t[0].buckets.len() {
            return;
        }
        if self.t[0].used == 0 {
            let old = std::mem::replace(&mut self.t[0], Table::with_size(size));
            self.retire(old);
            return;
        }
        self.t[1] = Table::with_size(size);
        self.rehash_idx = Some(0);
    }

    /// Migrates one bucket (visiting at most a few empty ones) and releases
    /// a slice of a retired array.
    #[inline]
    pub fn rehash_step(&mut self) {
        if self.rehash_idx.is_some() {
            self.rehash(1);
        }
        if !self.retired.is_empty() {
            self.release_retired(RELEASE_PER_STEP);
        }
    }

    /// Parks an empty table's bucket array for gradual release.
    fn retire(&mut self, mut old: Table<V>) {
        debug_assert_eq!(old.used, 0);
        let mut buckets = std::mem::replace(&mut old.buckets, Buckets::new());
        // An empty table's links are all `None`.
        buckets.clear_empty();
        if buckets.bytes() >= RETIRE_MIN_BYTES {
            self.retired.push(Retired {
                buckets,
                released: 0,
            });
        }
    }

    /// Releases up to `budget` bytes of retired arrays; true if some remain.
    pub fn release_retired(&mut self, mut budget: usize) -> bool {
        while let Some(r) = self.retired.last_mut() {
            let total = r.buckets.bytes();
            while r.released < total && budget > 0 {
                let len = RELEASE_PER_STEP.min(total - r.released);
                r.buckets.release(r.released, len);
                r.released += len;
                budget = budget.saturating_sub(len);
            }
            if r.released < total {
                return true;
            }
            // Every page is released: dropping the array is now cheap.
            self.retired.pop();
        }
        false
    }

    /// Migrates up to `n` buckets; returns true if more remain.
    pub fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n * EMPTY_VISITS;
        let [t0, t1] = &mut self.t;
        let mask1 = t1.mask();
        for _ in 0..n {
            if t0.used == 0 {
                break;
            }
            while t0.buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut cur = t0.buckets[idx].take();
            while let Some(mut node) = cur {
                cur = node.next.take();
                let h = crate::util::hash::hash_bytes(node.key.as_slice()) as usize;
                let slot = &mut t1.buckets[h & mask1];
                node.next = slot.take();
                *slot = Some(node);
                t0.used -= 1;
                t1.used += 1;
            }
            idx += 1;
        }
        if t0.used == 0 {
            self.t.swap(0, 1);
            let old = std::mem::replace(&mut self.t[1], Table::empty());
            self.rehash_idx = None;
            self.retire(old);
            return false;
        }
        self.rehash_idx = Some(idx);
        true
    }

    /// Calls `f` on entries of the buckets at `cursor` and returns the next
    /// cursor (0 when the iteration is complete). Redis's `dictScan`.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&Node<V>)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor as usize;
        let emit = |t: &Table<V>, idx: usize, f: &mut dyn FnMut(&Node<V>)| {
            let mut cur = t.buckets[idx].as_deref();
            while let Some(n) = cur {
                f(n);
                cur = n.next.as_deref();
            }
        };
        if !self.is_rehashing() {
            let t0 = &self.t[0];
            let m0 = t0.mask();
            emit(t0, v & m0, &mut f);
            v |= !m0;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        } else {
            let (small, large) = if self.t[0].buckets.len() <= self.t[1].buckets.len() {
                (&self.t[0], &self.t[1])
            } else {
                (&self.t[1], &self.t[0])
            };
            let m0 = small.mask();
            let m1 = large.mask();
            emit(small, v & m0, &mut f);
            // Visit every bucket of the larger table that expands the
            // smaller table's bucket.
            loop {
                emit(large, v & m1, &mut f);
                v |= !m1;
                v = v.reverse_bits().wrapping_add(1).reverse_bits();
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v as u64
    }

    /// A random entry, or None when empty. `r` supplies random numbers.
    pub fn random(&self, mut r: impl FnMut() -> u64) -> Option<&Node<V>> {
        if self.is_empty() {
            return None;
        }
        // Pick a random non-empty bucket, then a random entry of its chain.
        let bucket = loop {
            let pick = r() as usize;
            let b = if let Some(ri) = self.rehash_idx {
                let s0 = self.t[0].buckets.len();
                let s1 = self.t[1].buckets.len();
                // Buckets of t0 below rehash_idx are empty.
                let i = ri + pick % (s0 + s1 - ri);
                if i >= s0 {
                    self.t[1].buckets[i - s0].as_deref()
                } else {
                    self.t[0].buckets[i].as_deref()
                }
            } else {
                self.t[0].buckets[pick & self.t[0].mask()].as_deref()
            };
            if let Some(b) = b {
                break b;
            }
        };
        let mut len = 0;
        let mut cur = Some(bucket);
        while let Some(n) = cur {
            len += 1;
            cur = n.next.as_deref();
        }
        let mut n = bucket;
        for _ in 0..(r() as usize % len) {
            n = n.next.as_deref().expect("within chain length");
        }
        Some(n)
    }

    /// Calls `f` on up to `count` entries taken from consecutive buckets
    /// starting at a random one, and returns how many it visited: Redis's
    /// `dictGetSomeKeys`, the cheap sample eviction draws its candidates
    /// from. Runs of empty buckets longer than `count` (at least 5) jump to
    /// another random place, and the walk gives up after `10 * count`
    /// buckets, so it may return fewer entries than asked.
    pub fn sample(
        &self,
        count: usize,
        mut r: impl FnMut() -> u64,
        mut f: impl FnMut(&Node<V>),
    ) -> usize {
        let count = count.min(self.len());
        if count == 0 {
            return 0;
        }
        let tables = if self.is_rehashing() { 2 } else { 1 };
        let rehash_idx = self.rehash_idx.unwrap_or(0);
        let max_mask = self.t[..tables]
            .iter()
            .map(|t| t.buckets.len().saturating_sub(1))
            .max()
            .unwrap_or(0);
        let mut i = r() as usize & max_mask;
        let (mut stored, mut empty_run) = (0, 0);
        for _ in 0..count * 10 {
            for j in 0..tables {
                // Buckets of t[0] below the migration cursor are empty.
                if j == 0 && tables == 2 && i < rehash_idx {
                    if i >= self.t[1].buckets.len() {
                        i = rehash_idx;
                    } else {
                        continue;
                    }
                }
                let Some(mut cur) = self.t[j].buckets.get(i).map(|b| b.as_deref()) else {
                    continue;
                };
                if cur.is_none() {
                    empty_run += 1;
                    if empty_run >= 5 && empty_run > count {
                        i = r() as usize & max_mask;
                        empty_run = 0;
                    }
                    continue;
                }
                empty_run = 0;
                while let Some(n) = cur {
                    f(n);
                    stored += 1;
                    if stored == count {
                        return stored;
                    }
                    cur = n.next.as_deref();
                }
            }
            i = (i + 1) & max_mask;
        }
        stored
    }

    /// Calls `f` on every entry, walking the bucket arrays in order (the
    /// snapshot writer's path: sequential through memory, no cursor logic).
    pub fn for_each(&self, mut f: impl FnMut(&Node<V>)) {
        for t in &self.t {
            if t.used == 0 {
                continue;
            }
            // Buckets are read in order (the hardware prefetcher follows);
            // the entries they point to are scattered, so the head entry of
            // a bucket a few steps ahead is fetched while this one is
            // visited (snapshots stream through memory instead of waiting
            // on one cache miss per key).
            const AHEAD: usize = 16;
            for (i, b) in t.buckets.iter().enumerate() {
                if let Some(n) = t.buckets.get(i + AHEAD).and_then(|l| l.as_deref()) {
                    prefetch_read(n);
                }
                let mut cur = b.as_deref();
                while let Some(n) = cur {
                    f(n);
                    cur = n.next.as_deref();
                }
            }
        }
    }

    /// Sizes an empty table for `n` entries up front, so filling it does not
    /// migrate entries through every intermediate size.
    pub fn reserve(&mut self, n: usize) {
        self.reserve_with(n, false);
    }

    /// [`Dict::reserve`] for the snapshot loader, before any key is
    /// inserted: the array may use huge pages (see `buckets.rs`).
    pub fn reserve_for_load(&mut self, n: usize) {
        self.reserve_with(n, true);
    }

    fn reserve_with(&mut self, n: usize, huge_ok: bool) {
        if self.is_empty() && !self.is_rehashing() && n > self.t[0].buckets.len() {
            let size = n.next_power_of_two().max(INITIAL_SIZE);
            self.t[0] = Table::with_buckets(Buckets::zeroed(size, huge_ok));
        }
    }

    /// Checks the table's structural invariants (for tests and fuzzing):
    /// counts match the chains, every entry sits in its hash's bucket, no key
    /// appears twice, and the migration cursor is consistent.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (ti, t) in self.t.iter().enumerate() {
            let mut n = 0;
            for (bi, b) in t.buckets.iter().enumerate() {
                if ti == 0 && self.rehash_idx.is_some_and(|r| bi < r) && b.is_some() {
                    return Err(format!("bucket {bi} below the rehash index is not empty"));
                }
                let mut cur = b.as_deref();
                while let Some(node) = cur {
                    n += 1;
                    if self.hash(node.key.as_slice()) & t.mask() != bi {
                        return Err(format!("key {:?} in the wrong bucket", node.key));
                    }
                    if !seen.insert(node.key.as_slice().to_vec()) {
                        return Err(format!("key {:?} stored twice", node.key));
                    }
                    cur = node.next.as_deref();
                }
            }
            if n != t.used {
                return Err(format!(
                    "table {ti} counts {} entries but holds {n}",
                    t.used
                ));
            }
        }
        if self.rehash_idx.is_none() && !self.t[1].buckets.is_empty() {
            return Err("second table allocated outside a migration".into());
        }
        Ok(())
    }

    /// Removes everything, returning the old contents as a separate `Dict`
    /// so the caller can free it gradually.
    pub fn take(&mut self) -> Dict<V> {
        let mut fresh = Dict::new();
        fresh.expand_check = self.expand_check;
        std::mem::replace(self, fresh)
    }

    /// Frees up to `budget` entries of a detached table; returns true when
    /// nothing is left. Used to free flushed databases without a long pause.
    pub fn free_some(&mut self, mut budget: usize) -> bool {
        for t in &mut self.t {
            while t.used > 0 && budget > 0 {
                // Walk from the end so truncation frees bucket memory too.
                match t.buckets.last_mut() {
                    Some(slot) => match slot.take() {
                        Some(mut n) => {
                            *slot = n.next.take();
                            t.used -= 1;
                            budget -= 1;
                        }
                        None => t.buckets.pop_empty(),
                    },
                    None => break,
                }
            }
        }
        if self.is_empty() {
            for i in 0..2 {
                let old = std::mem::replace(&mut self.t[i], Table::empty());
                self.retire(old);
            }
            return !self.release_retired(budget.max(RELEASE_PER_STEP) * 8);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn k(i: usize) -> SmallBytes {
        SmallBytes::new(format!("key:{i}").as_bytes())
    }

    #[test]
    fn expand_check_defers_growth_up_to_the_max_load_factor() {
        let fill = |check: fn(usize) -> bool, n: usize| {
            let mut d = Dict::new();
            d.set_expand_check(check);
            for i in 0..n {
                d.insert(k(i), i);
            }
            d.check_invariants().unwrap();
            d.buckets()
        };
        // 4 buckets, growth refused: the check before each insert sees at
        // most 6 entries (1.5 per bucket) until the 8th insert sees 7, past
        // 1.618 per bucket, and grows the table regardless.
        assert_eq!(fill(|_| false, 7), 4);
        assert!(fill(|_| false, 8) > 4);
        assert!(fill(|_| true, 6) > 4);
        // The check is asked about the new array: 8 buckets of one pointer.
        assert!(fill(|more| more == 8 * std::mem::size_of::<usize>(), 6) > 4);
    }

    #[test]
    fn sample_visits_existing_entries_even_while_rehashing() {
        let mut d = Dict::new();
        let mut r = 0x9e37_79b9_7f4a_7c15u64;
        let mut rng = move || crate::db::xorshift(&mut r);
        assert_eq!(d.sample(5, &mut rng, |_| panic!("empty")), 0);
        for i in 0..1000 {
            d.insert(k(i), i);
        }
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            if !d.is_rehashing() {
                // Grow once more so sampling runs across both tables.
                for i in 1000..1100 {
                    d.insert(k(i), i);
                }
            }
            let n = d.sample(5, &mut rng, |n| {
                assert_eq!(d.get(n.key.as_slice()).map(|m| m.value), Some(n.value));
                seen.insert(n.value);
            });
            // Like Redis's dictGetSomeKeys, a bounded walk may find fewer.
            assert!((1..=5).contains(&n), "{n} sampled");
            d.rehash(1);
        }
        // Samples come from everywhere in the table, not one corner.
        assert!(seen.len() > 900, "{} distinct entries sampled", seen.len());
        assert!(d.sample(50, &mut rng, |_| {}) >= 40);
        let mut small = Dict::new();
        small.insert(k(1), 1);
        small.insert(k(2), 2);
        assert_eq!(small.sample(5, &mut rng, |_| {}), 2);
    }

    #[test]
    fn insert_get_remove_across_growth() {
        let mut d = Dict::new();
        for i in 0..10_000 {
            assert!(d.insert(k(i), i).is_none());
            if i % 7 == 0 {
                assert_eq!(d.get(k(i / 2).as_slice()).map(|n| n.value), Some(i / 2));
            }
        }
        assert_eq!(d.len(), 10_000);
        d.check_invariants().unwrap();
        for i in (0..10_000).step_by(2) {
            assert_eq!(d.remove(k(i).as_slice()).map(|(_, v)| v), Some(i));
        }
        assert_eq!(d.len(), 5_000);
        for i in 0..10_000 {
            assert_eq!(d.get(k(i).as_slice()).is_some(), i % 2 == 1);
        }
        while d.shrink_if_needed() || d.rehash(100) {}
        for i in (1..10_000).step_by(2) {
            assert_eq!(d.get(k(i).as_slice()).map(|n| n.value), Some(i));
        }
    }

    #[test]
    fn scan_sees_every_stable_key_while_growing_and_shrinking() {
        let mut d = Dict::new();
        for i in 0..1000 {
            d.insert(k(i), ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = d.scan(cursor, |n| {
                seen.insert(n.key.as_slice().to_vec());
            });
            round += 1;
            // Grow a lot mid-scan, then delete the extra keys to force a shrink.
            if round < 50 {
                for j in 0..200 {
                    d.insert(k(100_000 + round * 1000 + j), ());
                }
            } else if round == 50 {
                for r in 1..50 {
                    for j in 0..200 {
                        d.remove(k(100_000 + r * 1000 + j).as_slice());
                    }
                }
                d.shrink_if_needed();
            }
            d.check_invariants().unwrap();
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(k(i).as_slice()), "missed key {i}");
        }
    }

    #[test]
    fn large_old_tables_are_released_gradually() {
        let mut d = Dict::new();
        for i in 0..300_000 {
            d.insert(k(i), i);
        }
        while d.rehash(1000) {}
        // The 2^18-bucket array (2 MB) left behind by the last growth is
        // parked, released a slice per write, and gone after enough writes.
        assert!(!d.retired.is_empty());
        for i in 0..2000 {
            d.insert(k(1_000_000 + i), i);
        }
        assert!(d.retired.is_empty());
        d.check_invariants().unwrap();
        assert_eq!(d.get(k(12345).as_slice()).map(|n| n.value), Some(12345));
    }

    #[test]
    fn random_and_free() {
        let mut d = Dict::new();
        for i in 0..100 {
            d.insert(k(i), i);
        }
        let mut x = 12345u64;
        let mut rng = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut hits = HashSet::new();
        for _ in 0..2000 {
            hits.insert(d.random(&mut rng).unwrap().value);
        }
        assert!(hits.len() > 90);
        let mut old = d.take();
        assert!(d.is_empty());
        while !old.free_some(7) {}
        assert!(old.is_empty());
    }
}
