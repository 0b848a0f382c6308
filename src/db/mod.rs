//! The keyspace: numbered databases of keys, their expiry deadlines, and
//! the statistics kept about them. Every read and write of a key goes through
//! here; nothing in this module does I/O, so it can be driven by tests,
//! fuzzers and the snapshot loader alike.
//!
//! Expiry deadlines are absolute Unix milliseconds kept in a second table
//! (only keys with a TTL pay for it). Keys expire lazily when touched, and
//! [`Keyspace::active_expire_cycle`] reclaims the ones nobody touches.
//! [`evict`] tracks key accesses and evicts keys to stay under `maxmemory`.

mod buckets;
pub mod dict;
pub mod evict;
pub mod hash;
pub mod list;
pub mod set;
pub mod stream;
pub mod value;
pub mod zset;

/// Keys and string values are [`crate::util::small::SmallBytes`].
pub use crate::util::small::{self as small, SmallBytes};
pub use dict::Dict;
pub use value::{StrEnc, Value};

/// Size thresholds at which collections leave their compact encoding
/// (Redis's `*-max-listpack-*` / `set-max-intset-entries` parameters).
#[derive(Clone, Copy, Debug)]
pub struct EncodingLimits {
    /// `list-max-listpack-size`: positive = entries, negative = -1..-5 for 4..64 KB.
    pub list_max_listpack_size: i32,
    /// `hash-max-listpack-entries`.
    pub hash_max_listpack_entries: u64,
    /// `hash-max-listpack-value`.
    pub hash_max_listpack_value: u64,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: u64,
    /// `set-max-listpack-entries`.
    pub set_max_listpack_entries: u64,
    /// `set-max-listpack-value`.
    pub set_max_listpack_value: u64,
    /// `zset-max-listpack-entries`.
    pub zset_max_listpack_entries: u64,
    /// `zset-max-listpack-value`.
    pub zset_max_listpack_value: u64,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits {
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
}

/// What the main table stores per key besides the key itself.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Access data, 24 bits as in Redis: the LRU clock of the last access,
    /// or under an LFU policy the minute of the last decay (16 bits) and
    /// the logarithmic access counter (8 bits). See [`evict`].
    pub lru: u32,
    /// How Redis would have encoded a string value (OBJECT ENCODING).
    pub enc: StrEnc,
}

impl Entry {
    /// An entry for `value` with access data `lru` (see
    /// [`Keyspace::initial_lru`] for a new key's).
    pub fn new(value: Value, lru: u32) -> Self {
        Entry {
            value,
            lru,
            enc: StrEnc::Auto,
        }
    }
}

/// One numbered database.
pub struct Db {
    /// Keys and values. Private: every write goes through [`Keyspace`],
    /// which keeps `expires`, statistics and events in step.
    main: Dict<Entry>,
    /// Deadlines (Unix ms) of keys that have one.
    expires: Dict<i64>,
    /// Where the active expiry cycle resumes in `expires`.
    expires_cursor: u64,
    /// Running estimate of the average remaining TTL in ms (INFO keyspace).
    pub avg_ttl: i64,
}

impl Default for Db {
    fn default() -> Self {
        let mut main = Dict::new();
        let mut expires = Dict::new();
        main.set_expand_check(evict::table_growth_fits);
        expires.set_expand_check(evict::table_growth_fits);
        Db {
            main,
            expires,
            expires_cursor: 0,
            avg_ttl: 0,
        }
    }
}

impl Db {
    /// Keys stored (expired ones not yet deleted included, as DBSIZE).
    pub fn len(&self) -> usize {
        self.main.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.main.is_empty()
    }

    /// Keys with a deadline.
    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// True if `key` is stored, whatever its deadline (no lookup side
    /// effects: no expiry, no LRU touch, no statistics).
    pub fn contains(&self, key: &[u8]) -> bool {
        self.main.get(key).is_some()
    }

    /// The key table, read-only (SCAN, the snapshot writer, prefetching,
    /// reads that must not touch LRU data). Writes go through [`Keyspace`].
    pub fn table(&self) -> &Dict<Entry> {
        &self.main
    }

    /// The deadline table, read-only.
    pub fn deadlines(&self) -> &Dict<i64> {
        &self.expires
    }

    /// Sizes the key table for `n` keys before a snapshot load.
    pub fn reserve_for_load(&mut self, n: usize) {
        self.main.reserve_for_load(n);
    }
}

/// Counters reported by INFO stats.
#[derive(Default, Debug, Clone)]
pub struct KeyspaceStats {
    /// Keys removed because their deadline passed.
    pub expired_keys: u64,
    /// Reads that found their key.
    pub keyspace_hits: u64,
    /// Reads that did not.
    pub keyspace_misses: u64,
    /// Writes since the last successful save (`rdb_changes_since_last_save`).
    pub dirty: u64,
    /// Times the active expiry cycle stopped because it ran out of time.
    pub expired_time_cap_reached_count: u64,
    /// Keys evicted to stay under `maxmemory`.
    pub evicted_keys: u64,
}

/// A deletion the keyspace made by itself, reported to the server so it can
/// notify subscribers and invalidate WATCHes and client caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyEvent {
    /// The key's deadline passed (lazy or active expiry).
    Expired(usize, bytes::Bytes),
    /// The key was evicted to stay under `maxmemory`.
    Evicted(usize, bytes::Bytes),
    /// The key was created (logged only while [`Keyspace::log_new`]).
    New(usize, bytes::Bytes),
    /// A read found no such key (logged only while [`Keyspace::log_misses`]).
    Miss(usize, bytes::Bytes),
}

/// All databases of the server.
pub struct Keyspace {
    /// Deletions made by expiry and eviction (and, when asked for, key
    /// creations and read misses) since the server last drained this list
    /// (after every command and every cron tick), in the order they happened.
    pub events: Vec<KeyEvent>,
    /// Log key creations in `events` (keyspace notifications of class `n`).
    pub log_new: bool,
    /// Log read misses in `events` (keyspace notifications of class `m`).
    pub log_misses: bool,
    /// The databases, indexed by number.
    pub dbs: Vec<Db>,
    /// Counters.
    pub stats: KeyspaceStats,
    /// Flushed tables still being freed a slice at a time.
    lazy_free: Vec<Db>,
    /// Collection encoding thresholds (from the configuration).
    pub limits: EncodingLimits,
    /// Eviction policy and access-tracking settings (from the configuration).
    pub evict: evict::EvictConfig,
    /// Eviction state kept between passes (the candidate pool).
    evictor: evict::Evictor,
    /// True while a snapshot child runs (see [`Keyspace::set_child_active`]).
    child_active: bool,
    rng: u64,
    /// Which db the active expiry cycle visits next.
    expire_db: usize,
}

/// Options for reads.
#[derive(Clone, Copy, Default)]
pub struct Lookup {
    /// Do not update the access time (CLIENT NO-TOUCH, TYPE, EXISTS ...).
    pub no_touch: bool,
}

impl Keyspace {
    /// `n` empty databases.
    pub fn new(n: usize) -> Self {
        let seed = (std::process::id() as u64) << 32 ^ now_ms() as u64;
        Keyspace {
            dbs: (0..n).map(|_| Db::default()).collect(),
            stats: KeyspaceStats::default(),
            lazy_free: Vec::new(),
            limits: EncodingLimits::default(),
            evict: evict::EvictConfig::default(),
            evictor: evict::Evictor::default(),
            child_active: false,
            rng: seed | 1,
            expire_db: 0,
            events: Vec::new(),
            log_new: false,
            log_misses: false,
        }
    }

    /// A pseudo-random number (xorshift64*), for sampling.
    pub fn rand(&mut self) -> u64 {
        xorshift(&mut self.rng)
    }

    /// Deletes `key` if its deadline has passed; true if it did.
    pub fn expire_if_needed(&mut self, db: usize, key: &[u8], now: i64) -> bool {
        let d = &mut self.dbs[db];
        if d.expires.is_empty() {
            return false;
        }
        match d.expires.get(key) {
            Some(n) if n.value <= now => {
                d.expires.remove(key);
                d.main.remove(key);
                self.stats.expired_keys += 1;
                self.stats.dirty += 1;
                self.events
                    .push(KeyEvent::Expired(db, bytes::Bytes::copy_from_slice(key)));
                true
            }
            _ => false,
        }
    }

    /// Finds a live key for writing (no statistics, refreshes the access time).
    pub fn lookup_write(&mut self, db: usize, key: &[u8], now: i64) -> Option<&mut Entry> {
        self.expire_if_needed(db, key, now);
        let touch = self.touch_at(now);
        let n = self.dbs[db].main.get_mut(key)?;
        touch.apply(&mut n.value.lru);
        Some(&mut n.value)
    }

    /// Finds a live key for reading; counts a hit or a miss.
    pub fn lookup_read(
        &mut self,
        db: usize,
        key: &[u8],
        now: i64,
        opt: Lookup,
    ) -> Option<&mut Entry> {
        self.expire_if_needed(db, key, now);
        let touch = if opt.no_touch {
            evict::Touch::Skip
        } else {
            self.touch_at(now)
        };
        match self.dbs[db].main.get_mut(key) {
            Some(n) => {
                self.stats.keyspace_hits += 1;
                touch.apply(&mut n.value.lru);
                Some(&mut n.value)
            }
            None => {
                self.stats.keyspace_misses += 1;
                if self.log_misses {
                    self.events
                        .push(KeyEvent::Miss(db, bytes::Bytes::copy_from_slice(key)));
                }
                None
            }
        }
    }

    /// Finds a live key without touching statistics or access time.
    pub fn peek(&mut self, db: usize, key: &[u8], now: i64) -> Option<&Entry> {
        self.expire_if_needed(db, key, now);
        self.dbs[db].main.get(key).map(|n| &n.value)
    }

    /// True if `key` exists (and has not expired).
    pub fn exists(&mut self, db: usize, key: &[u8], now: i64) -> bool {
        self.peek(db, key, now).is_some()
    }

    /// Stores `value` under `key`, replacing any value. The TTL is cleared
    /// unless `keep_ttl`.
    pub fn set(&mut self, db: usize, key: &[u8], value: Value, keep_ttl: bool, now: i64) {
        self.expire_if_needed(db, key, now);
        let fresh = self.initial_lru(now);
        let keep_lfu = self.evict.policy.is_lfu();
        let d = &mut self.dbs[db];
        match d.main.get_mut(key) {
            Some(n) => {
                // Under LFU an overwrite keeps the key's counter (Redis's
                // dbSetValue); otherwise the new value is fresh.
                let lru = if keep_lfu { n.value.lru } else { fresh };
                n.value = Entry::new(value, lru);
                if !keep_ttl && !d.expires.is_empty() {
                    d.expires.remove(key);
                }
            }
            None => {
                d.main
                    .insert_new(SmallBytes::new(key), Entry::new(value, fresh));
                self.log_new_key(db, key);
            }
        }
        self.stats.dirty += 1;
    }

    fn log_new_key(&mut self, db: usize, key: &[u8]) {
        if self.log_new {
            self.events
                .push(KeyEvent::New(db, bytes::Bytes::copy_from_slice(key)));
        }
    }

    /// Inserts a whole entry (RENAME, MOVE, COPY, snapshot load).
    pub fn insert_entry(&mut self, db: usize, key: &[u8], entry: Entry, expire: Option<i64>) {
        if self.dbs[db]
            .main
            .insert(SmallBytes::new(key), entry)
            .is_none()
        {
            self.log_new_key(db, key);
        }
        self.set_loaded_expire(db, key, expire);
    }

    /// [`Keyspace::insert_entry`] for a key whose hash came from
    /// [`Dict::prefetch`] (bulk loading).
    pub fn insert_entry_hashed(
        &mut self,
        db: usize,
        h: usize,
        key: SmallBytes,
        entry: Entry,
        expire: Option<i64>,
    ) {
        if expire.is_some() || !self.dbs[db].expires.is_empty() {
            self.set_loaded_expire(db, key.as_slice(), expire);
        }
        self.dbs[db].main.insert_hashed(h, key, entry);
    }

    fn set_loaded_expire(&mut self, db: usize, key: &[u8], expire: Option<i64>) {
        let d = &mut self.dbs[db];
        match expire {
            Some(t) => {
                d.expires.insert(SmallBytes::new(key), t);
            }
            None => {
                if !d.expires.is_empty() {
                    d.expires.remove(key);
                }
            }
        }
        self.stats.dirty += 1;
    }

    /// Deletes a key; true if it existed (and had not expired).
    pub fn delete(&mut self, db: usize, key: &[u8], now: i64) -> bool {
        if self.expire_if_needed(db, key, now) {
            return false;
        }
        self.remove(db, key).is_some()
    }

    /// Removes a key and returns its entry and deadline (no expiry check).
    pub fn remove(&mut self, db: usize, key: &[u8]) -> Option<(Entry, Option<i64>)> {
        let d = &mut self.dbs[db];
        let (_, entry) = d.main.remove(key)?;
        let ttl = if d.expires.is_empty() {
            None
        } else {
            d.expires.remove(key).map(|(_, t)| t)
        };
        self.stats.dirty += 1;
        Some((entry, ttl))
    }

    /// The deadline of a key, if it has one.
    pub fn get_expire(&self, db: usize, key: &[u8]) -> Option<i64> {
        let d = &self.dbs[db];
        if d.expires.is_empty() {
            return None;
        }
        d.expires.get(key).map(|n| n.value)
    }

    /// Sets the deadline of an existing key.
    pub fn set_expire(&mut self, db: usize, key: &[u8], when: i64) {
        let d = &mut self.dbs[db];
        match d.expires.get_mut(key) {
            Some(n) => n.value = when,
            None => {
                d.expires.insert_new(SmallBytes::new(key), when);
            }
        }
        self.stats.dirty += 1;
    }

    /// Removes the deadline of a key; true if it had one.
    pub fn persist(&mut self, db: usize, key: &[u8]) -> bool {
        let removed = self.dbs[db].expires.remove(key).is_some();
        if removed {
            self.stats.dirty += 1;
        }
        removed
    }

    /// Number of keys in a database (including expired ones not yet reclaimed, as Redis).
    pub fn len(&self, db: usize) -> usize {
        self.dbs[db].main.len()
    }

    /// Empties one database. The old tables are freed gradually by the cron
    /// tick when `lazy`, at once otherwise.
    pub fn flush_db(&mut self, db: usize, lazy: bool) -> usize {
        let d = std::mem::take(&mut self.dbs[db]);
        let n = d.main.len();
        self.stats.dirty += n as u64;
        if lazy && n > 1000 {
            self.lazy_free.push(d);
        }
        n
    }

    /// Empties every database.
    pub fn flush_all(&mut self, lazy: bool) -> usize {
        (0..self.dbs.len()).map(|i| self.flush_db(i, lazy)).sum()
    }

    /// Number of databases.
    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// A random live key of `db`.
    pub fn random_key(&mut self, db: usize, now: i64) -> Option<SmallBytes> {
        let mut tries = 0;
        loop {
            let mut rng = self.rng;
            let key = {
                let d = &self.dbs[db];
                let n = d.main.random(|| xorshift(&mut rng))?;
                n.key.clone()
            };
            self.rng = rng;
            tries += 1;
            let all_volatile = self.dbs[db].expires.len() == self.dbs[db].main.len();
            if self.expire_if_needed(db, key.as_slice(), now) {
                // As Redis: if every key is volatile, give up eventually
                // instead of spinning over keys that are all expired.
                if all_volatile && tries > 100 {
                    return Some(key);
                }
                continue;
            }
            return Some(key);
        }
    }

    /// Runs Redis's "slow" active expiry cycle until `deadline` (Instant):
    /// samples keys with a TTL and deletes the expired ones, moving on while
    /// more than 10% of a sample had expired. Returns keys expired.
    pub fn active_expire_cycle(&mut self, now: i64, budget: std::time::Duration) -> u64 {
        const SAMPLE: usize = 20;
        let start = std::time::Instant::now();
        let mut expired_total = 0;
        let ndb = self.dbs.len();
        for _ in 0..ndb {
            let db = self.expire_db;
            self.expire_db = (self.expire_db + 1) % ndb;
            loop {
                if self.dbs[db].expires.is_empty() {
                    break;
                }
                let mut sampled = 0;
                let mut candidates: Vec<SmallBytes> = Vec::new();
                let mut ttl_sum = 0i64;
                let mut ttl_n = 0i64;
                let d = &mut self.dbs[db];
                let mut buckets = 0;
                while sampled < SAMPLE && buckets < SAMPLE * 20 {
                    d.expires_cursor = d.expires.scan(d.expires_cursor, |n| {
                        sampled += 1;
                        if n.value <= now {
                            candidates.push(n.key.clone());
                        } else {
                            ttl_sum += n.value - now;
                            ttl_n += 1;
                        }
                    });
                    buckets += 1;
                    if d.expires_cursor == 0 {
                        break;
                    }
                }
                if ttl_n > 0 {
                    let avg = ttl_sum / ttl_n;
                    // Same smoothing as Redis: 2% of the new sample.
                    d.avg_ttl = if d.avg_ttl == 0 {
                        avg
                    } else {
                        (d.avg_ttl / 50) * 49 + avg / 50
                    };
                }
                let expired = candidates.len();
                for k in candidates {
                    if self.expire_if_needed(db, k.as_slice(), now) {
                        expired_total += 1;
                    }
                }
                if start.elapsed() >= budget {
                    self.stats.expired_time_cap_reached_count += 1;
                    return expired_total;
                }
                if sampled == 0 || expired * 10 <= sampled {
                    break;
                }
            }
        }
        expired_total
    }

    /// Cron housekeeping: incremental rehash, shrinking, and freeing flushed
    /// tables, each bounded by `budget`. `resize_allowed` is false while a
    /// snapshot child runs, so no page is touched needlessly.
    pub fn cron(&mut self, budget: std::time::Duration, resize_allowed: bool) {
        let start = std::time::Instant::now();
        self.child_active = !resize_allowed;
        for d in &mut self.dbs {
            d.main.set_resize_allowed(resize_allowed);
            d.expires.set_resize_allowed(resize_allowed);
            if d.avg_ttl != 0 && d.expires.is_empty() {
                d.avg_ttl = 0;
            }
        }
        if !resize_allowed {
            return;
        }
        for d in &mut self.dbs {
            d.main.shrink_if_needed();
            d.expires.shrink_if_needed();
            while (d.main.rehash(100) | d.expires.rehash(100)) && start.elapsed() < budget {}
            while (d.main.release_retired(1 << 20) | d.expires.release_retired(1 << 20))
                && start.elapsed() < budget
            {}
        }
        while let Some(d) = self.lazy_free.last_mut() {
            let done = d.main.free_some(10_000) & d.expires.free_some(10_000);
            if done {
                self.lazy_free.pop();
            }
            if start.elapsed() >= budget {
                break;
            }
        }
    }

    /// Checks every database's tables and that each deadline belongs to an
    /// existing key (for tests and fuzzing).
    pub fn check_invariants(&self) -> Result<(), String> {
        for (i, d) in self.dbs.iter().enumerate() {
            d.main
                .check_invariants()
                .map_err(|e| format!("db {i} keys: {e}"))?;
            d.expires
                .check_invariants()
                .map_err(|e| format!("db {i} expires: {e}"))?;
            let mut orphan = None;
            d.expires.for_each(|n| {
                if orphan.is_none() && d.main.get(n.key.as_slice()).is_none() {
                    orphan = Some(n.key.clone());
                }
            });
            if let Some(k) = orphan {
                return Err(format!("db {i}: deadline for missing key {k:?}"));
            }
            // Values: no empty collection is ever stored, and each keeps its
            // own structure consistent.
            let mut bad = None;
            d.main.for_each(|n| {
                if bad.is_some() {
                    return;
                }
                let r = match &n.value.value {
                    Value::Str(_) => Ok(()),
                    Value::List(l) if l.is_empty() => Err("empty list".to_string()),
                    Value::List(l) => l.check_invariants(),
                    Value::Hash(h) if h.is_empty() => Err("empty hash".to_string()),
                    Value::Set(s) if s.is_empty() => Err("empty set".to_string()),
                    Value::ZSet(z) if z.is_empty() => Err("empty sorted set".to_string()),
                    Value::ZSet(z) => z.check_invariants(),
                    Value::Stream(s) => s.check_invariants(),
                    Value::Hash(_) | Value::Set(_) => Ok(()),
                };
                if let Err(e) = r {
                    bad = Some(format!("db {i} key {:?}: {e}", n.key));
                }
            });
            if let Some(e) = bad {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Keys still waiting to be freed after an asynchronous flush.
    pub fn lazyfree_pending(&self) -> usize {
        self.lazy_free.iter().map(|d| d.main.len()).sum()
    }
}

/// Wall-clock Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The LRU clock now: Unix seconds, truncated to 24 bits.
pub fn lru_clock() -> u32 {
    evict::lru_clock_at(now_ms())
}

pub(crate) use crate::util::rng::xorshift;

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn str_value(s: &[u8]) -> Value {
        Value::Str(SmallBytes::new(s))
    }

    #[test]
    fn creations_and_misses_are_logged_only_when_asked() {
        let mut ks = Keyspace::new(2);
        let now = now_ms();
        ks.set(0, b"quiet", str_value(b"v"), false, now);
        assert!(ks.lookup_read(0, b"nope", now, Lookup::default()).is_none());
        assert!(ks.events.is_empty());

        ks.log_new = true;
        ks.log_misses = true;
        ks.set(0, b"a", str_value(b"1"), false, now);
        // Overwriting is not a creation.
        ks.set(0, b"a", str_value(b"2"), false, now);
        let (entry, ttl) = ks.remove(0, b"a").unwrap();
        ks.insert_entry(1, b"a", entry.clone(), ttl);
        ks.insert_entry(1, b"a", entry, ttl);
        assert!(ks.lookup_read(0, b"a", now, Lookup::default()).is_none());
        // Write lookups never count as misses.
        assert!(ks.lookup_write(0, b"b", now).is_none());
        assert_eq!(
            ks.events,
            vec![
                KeyEvent::New(0, Bytes::from_static(b"a")),
                KeyEvent::New(1, Bytes::from_static(b"a")),
                KeyEvent::Miss(0, Bytes::from_static(b"a")),
            ]
        );
    }

    #[test]
    fn an_expired_key_logs_expired_then_miss_then_new() {
        let mut ks = Keyspace::new(1);
        let now = now_ms();
        ks.set(0, b"k", str_value(b"v"), false, now);
        ks.set_expire(0, b"k", now - 1);
        ks.log_new = true;
        ks.log_misses = true;
        assert!(ks.lookup_read(0, b"k", now, Lookup::default()).is_none());
        ks.set(0, b"k", str_value(b"v"), false, now);
        let k = Bytes::from_static(b"k");
        assert_eq!(
            ks.events,
            vec![
                KeyEvent::Expired(0, k.clone()),
                KeyEvent::Miss(0, k.clone()),
                KeyEvent::New(0, k),
            ]
        );
    }
}
