//! Eviction: keeping the dataset under `maxmemory`, the way Redis 7 does it.
//!
//! Every key carries 24 bits of access data in [`super::Entry::lru`]: under the
//! LRU and TTL/random policies the LRU clock (Unix seconds, 24 bits) of its
//! last access; under the LFU policies the minute of its last decrement (16
//! bits) and a logarithmic access counter (8 bits) that starts at
//! [`LFU_INIT_VAL`], grows ever more slowly with accesses (`lfu-log-factor`)
//! and loses one per `lfu-decay-time` minutes. Switching policy at runtime
//! reinterprets the bits as they are, as Redis does.
//!
//! Eviction is approximate, like Redis's: each round samples
//! `maxmemory-samples` keys of every database and keeps the 16 best
//! candidates seen so far in a pool (highest idle time, lowest frequency or
//! nearest deadline last), then deletes the best one that still exists. A
//! pass stops once it freed what was asked, or after a time bounded by
//! `maxmemory-eviction-tenacity` (then it reports [`EvictResult::Running`] and
//! the server keeps evicting between other work).
//!
//! The memory measure is a function the caller passes in, so the keyspace
//! stays free of I/O and tests can drive eviction with a fake one. Evicted
//! keys are recorded as [`KeyEvent::Evicted`] for the server to signal.

use super::{Db, KeyEvent, Keyspace, SmallBytes, xorshift};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Milliseconds per LRU clock tick.
pub const LRU_CLOCK_RESOLUTION: i64 = 1000;
/// Largest LRU clock value (the clock has 24 bits).
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// LFU counter of a new key: a few accesses' grace before it is a candidate.
pub const LFU_INIT_VAL: u32 = 5;
/// Candidates kept between eviction rounds.
const EVPOOL_SIZE: usize = 16;

/// `maxmemory` as the keyspace tables see it when they are about to grow
/// (0 = no limit). Process-wide, like the allocator's count it is compared
/// with.
static MEMORY_LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Sets the limit [`table_growth_fits`] checks against.
pub fn set_memory_limit(bytes: usize) {
    MEMORY_LIMIT.store(bytes, Ordering::Relaxed);
}

/// May a keyspace table allocate `more` bytes of buckets without pushing
/// used memory over `maxmemory`? (Redis's `overMaxmemoryAfterAlloc`; the
/// table grows anyway once it is crowded, see [`super::Dict::set_expand_check`].)
pub fn table_growth_fits(more: usize) -> bool {
    growth_fits(
        crate::alloc::used_memory(),
        more,
        MEMORY_LIMIT.load(Ordering::Relaxed),
    )
}

fn growth_fits(used: usize, more: usize, limit: usize) -> bool {
    limit == 0 || used.saturating_add(more) <= limit
}

/// The LRU clock at Unix time `now_ms`.
pub fn lru_clock_at(now_ms: i64) -> u32 {
    ((now_ms.max(0) / LRU_CLOCK_RESOLUTION) as u64 & LRU_CLOCK_MAX as u64) as u32
}

/// The LFU minute clock (16 bits) at Unix time `now_ms`.
pub fn lfu_minutes_at(now_ms: i64) -> u32 {
    ((now_ms.max(0) / 60_000) & 0xffff) as u32
}

/// Milliseconds since an access stamped `lru`, at LRU clock `clock` (the
/// clock wraps around once every 194 days). Redis's `estimateObjectIdleTime`.
pub fn idle_ms(lru: u32, clock: u32) -> u64 {
    let ticks = if clock >= lru {
        clock - lru
    } else {
        clock + (LRU_CLOCK_MAX - lru)
    };
    ticks as u64 * LRU_CLOCK_RESOLUTION as u64
}

/// The LFU counter of `lru` after the decay due at minute `now_min`, without
/// storing it (the stored value changes only on access). Redis's
/// `LFUDecrAndReturn`; a `decay_time` of 0 never decays.
pub fn lfu_decr_and_return(lru: u32, now_min: u32, decay_time: u32) -> u32 {
    let ldt = (lru >> 8) & 0xffff;
    let counter = lru & 0xff;
    if decay_time == 0 {
        return counter;
    }
    let elapsed = if now_min >= ldt {
        now_min - ldt
    } else {
        65535 - ldt + now_min
    };
    counter.saturating_sub(elapsed / decay_time)
}

/// One logarithmic increment of an LFU counter given a uniform `r` in
/// [0, 1]: the higher the counter, the less likely it grows. Saturates at 255.
fn lfu_log_incr(counter: u32, log_factor: u32, r: f64) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if r < p { counter + 1 } else { counter }
}

/// A `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// Least recently used among keys with a TTL.
    VolatileLru,
    /// Least frequently used among keys with a TTL.
    VolatileLfu,
    /// Any key with a TTL.
    VolatileRandom,
    /// The key with the nearest deadline.
    VolatileTtl,
    /// Least recently used among all keys.
    AllkeysLru,
    /// Least frequently used among all keys.
    AllkeysLfu,
    /// Any key.
    AllkeysRandom,
    /// Never evict; refuse commands that may grow memory instead.
    #[default]
    NoEviction,
}

impl Policy {
    /// The policy named `name` (lowercase, as `maxmemory-policy` stores it).
    pub fn from_name(name: &str) -> Option<Policy> {
        Some(match name {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            "noeviction" => Policy::NoEviction,
            _ => return None,
        })
    }

    /// True for the LFU policies (keys carry a counter, not a clock).
    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }

    /// True for the LRU policies.
    pub fn is_lru(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::AllkeysLru)
    }

    /// True when any key may be evicted, not only keys with a TTL.
    fn all_keys(self) -> bool {
        matches!(
            self,
            Policy::AllkeysLru | Policy::AllkeysLfu | Policy::AllkeysRandom
        )
    }

    /// True for the policies that rank candidates through the pool.
    fn uses_pool(self) -> bool {
        self.is_lru() || self.is_lfu() || self == Policy::VolatileTtl
    }
}

/// The eviction and access-tracking settings (from the configuration).
#[derive(Clone, Copy, Debug)]
pub struct EvictConfig {
    /// `maxmemory-policy`.
    pub policy: Policy,
    /// `maxmemory-samples`: keys sampled per database and round.
    pub samples: usize,
    /// `maxmemory-eviction-tenacity`: 0..=100, how long one pass may run.
    pub tenacity: u32,
    /// `lfu-log-factor`.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`, in minutes (0 = never decay).
    pub lfu_decay_time: u32,
}

impl Default for EvictConfig {
    fn default() -> Self {
        EvictConfig {
            policy: Policy::NoEviction,
            samples: 5,
            tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        }
    }
}

impl EvictConfig {
    /// How long one eviction pass may run: 50 µs per tenacity step up to 10,
    /// then 15% more per step, unbounded at 100 (Redis's
    /// `evictionTimeLimitUs`).
    fn time_limit(&self) -> Duration {
        let t = self.tenacity.min(100);
        let us = if t <= 10 {
            50 * t as u64
        } else if t < 100 {
            (500.0 * 1.15f64.powi(t as i32 - 10)) as u64
        } else {
            return Duration::MAX;
        };
        Duration::from_micros(us)
    }
}

/// The outcome of [`Keyspace::perform_evictions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictResult {
    /// Under the limit (or no limit).
    Ok,
    /// Still over the limit because the pass ran out of time; evicting
    /// continues in the background. Commands are not refused.
    Running,
    /// Over the limit and nothing may be evicted: commands that may grow
    /// memory are refused.
    Fail,
}

/// A key's access-data update, decided once per lookup.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Touch {
    /// Leave it (a snapshot child shares the pages: writing would copy them).
    Skip,
    /// Store this LRU clock.
    Lru(u32),
    /// Decay then increment the LFU counter, with `r` uniform in [0, 1].
    Lfu {
        minutes: u32,
        decay_time: u32,
        log_factor: u32,
        r: f64,
    },
}

impl Touch {
    /// Applies the update to an entry's access data (Redis's `updateLFU` or
    /// LRU stamp in `lookupKey`).
    pub(crate) fn apply(self, lru: &mut u32) {
        match self {
            Touch::Skip => {}
            Touch::Lru(clock) => *lru = clock,
            Touch::Lfu {
                minutes,
                decay_time,
                log_factor,
                r,
            } => {
                let counter = lfu_decr_and_return(*lru, minutes, decay_time);
                *lru = (minutes << 8) | lfu_log_incr(counter, log_factor, r);
            }
        }
    }
}

/// A candidate for eviction; a higher `idle` is a better candidate.
struct Candidate {
    idle: u64,
    db: usize,
    key: SmallBytes,
}

/// Eviction state kept between passes.
#[derive(Default)]
pub(crate) struct Evictor {
    /// Best candidates so far, ascending by `idle`. Entries may name keys
    /// deleted since they were sampled (checked when picked).
    pool: Vec<Candidate>,
    /// Database the random policies visit next.
    next_db: usize,
    /// A pass ran out of time and the server keeps evicting in the background.
    running: bool,
    /// Since when memory has been over the limit without a pass getting it
    /// back under (INFO `current_eviction_exceeded_time`).
    exceeded_since: Option<Instant>,
    /// Microseconds spent over the limit in earlier episodes.
    exceeded_total_us: u64,
}

impl Evictor {
    /// Puts a sampled key into the pool if it beats the worst candidate
    /// there or the pool has room (Redis's `evictionPoolPopulate` insertion).
    fn offer(&mut self, idle: u64, db: usize, key: &SmallBytes) {
        let pool = &mut self.pool;
        let k = pool
            .iter()
            .position(|c| c.idle >= idle)
            .unwrap_or(pool.len());
        if k == 0 && pool.len() == EVPOOL_SIZE {
            return;
        }
        let c = Candidate {
            idle,
            db,
            key: key.clone(),
        };
        if pool.len() < EVPOOL_SIZE {
            pool.insert(k, c);
        } else {
            pool.remove(0);
            pool.insert(k - 1, c);
        }
    }

    fn record(&mut self, result: EvictResult) {
        match result {
            EvictResult::Running | EvictResult::Fail => {
                self.exceeded_since.get_or_insert_with(Instant::now);
            }
            EvictResult::Ok => {
                if let Some(t) = self.exceeded_since.take() {
                    self.exceeded_total_us += t.elapsed().as_micros() as u64;
                }
            }
        }
    }
}

/// How a policy ranks a key at one moment.
struct Scoring {
    policy: Policy,
    lru_clock: u32,
    minutes: u32,
    decay_time: u32,
}

impl Scoring {
    fn of_entry(&self, lru: u32) -> u64 {
        if self.policy.is_lfu() {
            255 - lfu_decr_and_return(lru, self.minutes, self.decay_time) as u64
        } else {
            idle_ms(lru, self.lru_clock)
        }
    }
}

/// Samples `db` and offers the keys to the pool.
fn populate(ev: &mut Evictor, db: usize, d: &Db, cfg: &EvictConfig, s: &Scoring, rng: &mut u64) {
    let n = cfg.samples;
    if cfg.policy.all_keys() {
        d.main.sample(
            n,
            || xorshift(rng),
            |e| ev.offer(s.of_entry(e.value.lru), db, &e.key),
        );
        return;
    }
    d.expires.sample(
        n,
        || xorshift(rng),
        |e| {
            let idle = if cfg.policy == Policy::VolatileTtl {
                // The nearer the deadline, the better.
                u64::MAX - e.value.max(0) as u64
            } else {
                match d.main.get(e.key.as_slice()) {
                    Some(m) => s.of_entry(m.value.lru),
                    None => return,
                }
            };
            ev.offer(idle, db, &e.key);
        },
    );
}

impl Keyspace {
    /// The access-data update for a lookup at `now` under the current policy.
    pub(crate) fn touch_at(&mut self, now: i64) -> Touch {
        if self.child_active {
            return Touch::Skip;
        }
        if self.evict.policy.is_lfu() {
            let r = (self.rand() >> 11) as f64 / (1u64 << 53) as f64;
            Touch::Lfu {
                minutes: lfu_minutes_at(now),
                decay_time: self.evict.lfu_decay_time,
                log_factor: self.evict.lfu_log_factor,
                r,
            }
        } else {
            Touch::Lru(lru_clock_at(now))
        }
    }

    /// Access data of a key created at `now`: the LRU clock, or under LFU
    /// the current minute and [`LFU_INIT_VAL`].
    pub fn initial_lru(&self, now: i64) -> u32 {
        if self.evict.policy.is_lfu() {
            (lfu_minutes_at(now) << 8) | LFU_INIT_VAL
        } else {
            lru_clock_at(now)
        }
    }

    /// OBJECT FREQ: the decayed LFU counter of access data `lru` at `now`.
    pub fn lfu_freq(&self, lru: u32, now: i64) -> u32 {
        lfu_decr_and_return(lru, lfu_minutes_at(now), self.evict.lfu_decay_time)
    }

    /// Records whether a snapshot child is running: while it is, lookups
    /// leave access data alone and tables do not grow at the normal load
    /// factor, so no page is copied needlessly.
    pub fn set_child_active(&mut self, active: bool) {
        self.child_active = active;
        for d in &mut self.dbs {
            d.main.set_resize_allowed(!active);
            d.expires.set_resize_allowed(!active);
        }
    }

    /// Evicts keys until `used(self)` is at most `maxmemory` (0 = no limit),
    /// or the policy forbids it, or nothing is left to evict, or the pass
    /// ran out of time. Redis's `performEvictions`.
    pub fn perform_evictions(
        &mut self,
        maxmemory: usize,
        now: i64,
        used: &dyn Fn(&Keyspace) -> usize,
    ) -> EvictResult {
        let result = self.evict_to(maxmemory, now, used);
        self.evictor.record(result);
        result
    }

    fn evict_to(
        &mut self,
        maxmemory: usize,
        now: i64,
        used: &dyn Fn(&Keyspace) -> usize,
    ) -> EvictResult {
        let reported = used(self);
        if maxmemory == 0 || reported <= maxmemory {
            return EvictResult::Ok;
        }
        if self.evict.policy == Policy::NoEviction {
            return EvictResult::Fail;
        }
        let to_free = (reported - maxmemory) as i64;
        let limit = self.evict.time_limit();
        let start = Instant::now();
        let (mut freed, mut keys) = (0i64, 0u64);
        while freed < to_free {
            let Some((db, key)) = self.pick_victim(now) else {
                return EvictResult::Fail;
            };
            // Only the deletion counts, not the event recorded for it.
            let before = used(self) as i64;
            self.delete_evicted(db, key.as_slice());
            freed += before - used(self) as i64;
            self.stats.evicted_keys += 1;
            self.events.push(KeyEvent::Evicted(
                db,
                bytes::Bytes::copy_from_slice(key.as_slice()),
            ));
            keys += 1;
            if keys % 16 == 0 && start.elapsed() > limit {
                self.evictor.running = true;
                break;
            }
        }
        if self.evictor.running {
            EvictResult::Running
        } else {
            EvictResult::Ok
        }
    }

    /// Called by the server's background eviction once a pass no longer
    /// reports [`EvictResult::Running`].
    pub fn eviction_caught_up(&mut self) {
        self.evictor.running = false;
    }

    /// INFO `total_eviction_exceeded_time` and
    /// `current_eviction_exceeded_time`, in milliseconds.
    pub fn eviction_exceeded_ms(&self) -> (u64, u64) {
        let current = self
            .evictor
            .exceeded_since
            .map_or(0, |t| t.elapsed().as_micros() as u64);
        (
            (self.evictor.exceeded_total_us + current) / 1000,
            current / 1000,
        )
    }

    /// CONFIG RESETSTAT's part: evicted keys and time over the limit.
    pub fn reset_eviction_stats(&mut self) {
        self.stats.evicted_keys = 0;
        self.evictor.exceeded_total_us = 0;
        self.evictor.exceeded_since = None;
    }

    fn delete_evicted(&mut self, db: usize, key: &[u8]) {
        let d = &mut self.dbs[db];
        d.main.remove(key);
        if !d.expires.is_empty() {
            d.expires.remove(key);
        }
    }

    fn pick_victim(&mut self, now: i64) -> Option<(usize, SmallBytes)> {
        if self.evict.policy.uses_pool() {
            self.pick_from_pool(now)
        } else {
            self.pick_random()
        }
    }

    /// Refills the pool from every database and takes the best candidate
    /// that still exists; None when no database has an evictable key.
    fn pick_from_pool(&mut self, now: i64) -> Option<(usize, SmallBytes)> {
        let cfg = self.evict;
        let all = cfg.policy.all_keys();
        let s = Scoring {
            policy: cfg.policy,
            lru_clock: lru_clock_at(now),
            minutes: lfu_minutes_at(now),
            decay_time: cfg.lfu_decay_time,
        };
        loop {
            let mut total = 0;
            let mut rng = self.rng;
            for (i, d) in self.dbs.iter().enumerate() {
                let n = if all { d.main.len() } else { d.expires.len() };
                if n > 0 {
                    populate(&mut self.evictor, i, d, &cfg, &s, &mut rng);
                    total += n;
                }
            }
            self.rng = rng;
            if total == 0 {
                return None;
            }
            while let Some(c) = self.evictor.pool.pop() {
                let d = &self.dbs[c.db];
                let key = c.key.as_slice();
                let exists = if all {
                    d.main.get(key).is_some()
                } else {
                    d.expires.get(key).is_some()
                };
                if exists {
                    return Some((c.db, c.key));
                }
            }
        }
    }

    /// A random key (with a TTL, for volatile-random) of the next database
    /// that has one, visiting databases in turn.
    fn pick_random(&mut self) -> Option<(usize, SmallBytes)> {
        let all = self.evict.policy.all_keys();
        let n = self.dbs.len().max(1);
        for _ in 0..self.dbs.len() {
            self.evictor.next_db = self.evictor.next_db.wrapping_add(1);
            let j = self.evictor.next_db % n;
            let d = &self.dbs[j];
            let mut rng = self.rng;
            let key = if all {
                d.main.random(|| xorshift(&mut rng)).map(|e| e.key.clone())
            } else {
                d.expires
                    .random(|| xorshift(&mut rng))
                    .map(|e| e.key.clone())
            };
            self.rng = rng;
            if let Some(k) = key {
                return Some((j, k));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;

    const NOW: i64 = 1_700_000_000_000;

    fn ks_with(policy: Policy) -> Keyspace {
        let mut ks = Keyspace::new(2);
        ks.evict = EvictConfig {
            policy,
            tenacity: 100,
            ..EvictConfig::default()
        };
        ks
    }

    fn put(ks: &mut Keyspace, db: usize, key: &str, lru: u32) {
        ks.set(
            db,
            key.as_bytes(),
            Value::Str(SmallBytes::new(b"v")),
            false,
            NOW,
        );
        ks.lookup_write(db, key.as_bytes(), NOW)
            .expect("just set")
            .lru = lru;
    }

    /// A memory measure of 100 bytes per key.
    fn per_key(ks: &Keyspace) -> usize {
        ks.dbs.iter().map(|d| d.main.len()).sum::<usize>() * 100
    }

    fn keys(ks: &Keyspace, db: usize) -> Vec<String> {
        let mut v = Vec::new();
        ks.dbs[db]
            .main
            .for_each(|n| v.push(String::from_utf8_lossy(n.key.as_slice()).into_owned()));
        v.sort();
        v
    }

    #[test]
    fn clocks_and_idle_time() {
        assert_eq!(lru_clock_at(NOW), ((NOW / 1000) & 0xff_ffff) as u32);
        assert_eq!(idle_ms(100, 103), 3000);
        // The clock wrapped around since the access.
        assert_eq!(idle_ms(LRU_CLOCK_MAX - 1, 2), 3000);
        assert_eq!(lfu_minutes_at(NOW), ((NOW / 60_000) & 0xffff) as u32);
    }

    #[test]
    fn lfu_counter_decays_per_period_and_grows_logarithmically() {
        let at = |min: u32, c: u32| (min << 8) | c;
        assert_eq!(lfu_decr_and_return(at(10, 20), 10, 1), 20);
        assert_eq!(lfu_decr_and_return(at(10, 20), 13, 1), 17);
        assert_eq!(lfu_decr_and_return(at(10, 20), 13, 2), 19);
        assert_eq!(lfu_decr_and_return(at(10, 2), 100, 1), 0);
        assert_eq!(lfu_decr_and_return(at(10, 20), 1000, 0), 20, "0 = no decay");
        // The minute clock wrapped around.
        assert_eq!(lfu_decr_and_return(at(65530, 20), 4, 1), 11);
        // At or below the initial value every access counts.
        assert_eq!(lfu_log_incr(3, 10, 0.99), 4);
        assert_eq!(lfu_log_incr(5, 10, 0.99), 6);
        // Above it, with probability 1 / (1 + (c - 5) * factor).
        assert_eq!(lfu_log_incr(6, 10, 0.08), 7);
        assert_eq!(lfu_log_incr(6, 10, 0.10), 6);
        assert_eq!(lfu_log_incr(255, 0, 0.0), 255);
    }

    #[test]
    fn lfu_access_updates_the_counter_and_the_minute() {
        let mut ks = ks_with(Policy::AllkeysLfu);
        ks.set(0, b"k", Value::Str(SmallBytes::new(b"v")), false, NOW);
        let e = ks.peek(0, b"k", NOW).expect("set");
        assert_eq!(e.lru, (lfu_minutes_at(NOW) << 8) | LFU_INIT_VAL);
        ks.lookup_read(0, b"k", NOW, Default::default());
        let lru = ks.peek(0, b"k", NOW).expect("set").lru;
        assert_eq!(ks.lfu_freq(lru, NOW), 6, "the first access always counts");
        // Overwriting keeps the counter under LFU, as Redis's dbSetValue.
        ks.set(0, b"k", Value::Str(SmallBytes::new(b"w")), false, NOW);
        assert_eq!(ks.peek(0, b"k", NOW).expect("set").lru, lru);
        // Three minutes later three periods have passed.
        let later = NOW + 180_000;
        assert_eq!(ks.lfu_freq(lru, later), 3);
    }

    #[test]
    fn no_touch_while_a_child_runs() {
        let mut ks = ks_with(Policy::AllkeysLru);
        put(&mut ks, 0, "k", 7);
        ks.set_child_active(true);
        ks.lookup_read(0, b"k", NOW, Default::default());
        assert_eq!(ks.peek(0, b"k", NOW).expect("set").lru, 7);
        ks.set_child_active(false);
        ks.lookup_read(0, b"k", NOW, Default::default());
        assert_eq!(ks.peek(0, b"k", NOW).expect("set").lru, lru_clock_at(NOW));
    }

    #[test]
    fn noeviction_and_nothing_evictable_fail() {
        let mut ks = ks_with(Policy::NoEviction);
        put(&mut ks, 0, "a", 0);
        assert_eq!(ks.perform_evictions(0, NOW, &per_key), EvictResult::Ok);
        assert_eq!(ks.perform_evictions(100, NOW, &per_key), EvictResult::Ok);
        assert_eq!(ks.perform_evictions(50, NOW, &per_key), EvictResult::Fail);
        assert_eq!(ks.len(0), 1);
        // volatile-*: keys without a TTL are never candidates.
        for p in [
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
        ] {
            ks.evict.policy = p;
            assert_eq!(ks.perform_evictions(50, NOW, &per_key), EvictResult::Fail);
            assert_eq!(ks.len(0), 1);
        }
        assert_eq!(ks.stats.evicted_keys, 0);
    }

    #[test]
    fn allkeys_lru_evicts_the_idlest_keys_across_databases() {
        let mut ks = ks_with(Policy::AllkeysLru);
        ks.evict.samples = 10;
        let clock = lru_clock_at(NOW);
        for i in 0..10u32 {
            put(
                &mut ks,
                (i % 2) as usize,
                &format!("old{i}"),
                clock - 1000 - i,
            );
            put(&mut ks, (i % 2) as usize, &format!("new{i}"), clock - i);
        }
        // 20 keys; room for 10.
        assert_eq!(ks.perform_evictions(1000, NOW, &per_key), EvictResult::Ok);
        assert_eq!(ks.stats.evicted_keys, 10);
        let left: Vec<String> = keys(&ks, 0).into_iter().chain(keys(&ks, 1)).collect();
        assert!(left.iter().all(|k| k.starts_with("new")), "{left:?}");
        let events = std::mem::take(&mut ks.events);
        assert_eq!(events.len(), 10);
        assert!(
            events
                .iter()
                .all(|e| matches!(e, KeyEvent::Evicted(_, k) if k.starts_with(b"old")))
        );
        ks.check_invariants().unwrap();
    }

    #[test]
    fn volatile_policies_evict_only_keys_with_a_ttl() {
        for p in [
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
        ] {
            let mut ks = ks_with(p);
            for i in 0..20 {
                put(&mut ks, 0, &format!("p{i}"), 0);
                put(&mut ks, 0, &format!("v{i}"), 0);
                ks.set_expire(0, format!("v{i}").as_bytes(), NOW + 1000 + i);
            }
            // 40 keys, room for 30: ten keys with a TTL go.
            assert_eq!(ks.perform_evictions(3000, NOW, &per_key), EvictResult::Ok);
            assert_eq!(ks.len(0), 30, "{p:?}");
            assert_eq!(ks.dbs[0].expires.len(), 10, "{p:?}");
            // Room for 15: every key with a TTL goes, then nothing is left.
            assert_eq!(
                ks.perform_evictions(1500, NOW, &per_key),
                EvictResult::Fail,
                "{p:?}"
            );
            assert_eq!(ks.len(0), 20, "{p:?}");
            assert!(keys(&ks, 0).iter().all(|k| k.starts_with('p')), "{p:?}");
            ks.check_invariants().unwrap();
        }
    }

    #[test]
    fn volatile_ttl_evicts_the_nearest_deadlines_first() {
        let mut ks = ks_with(Policy::VolatileTtl);
        ks.evict.samples = 20;
        for i in 0..20 {
            put(&mut ks, 0, &format!("k{i:02}"), 0);
            ks.set_expire(0, format!("k{i:02}").as_bytes(), NOW + 1000 * (i + 1));
        }
        assert_eq!(ks.perform_evictions(1500, NOW, &per_key), EvictResult::Ok);
        let left = keys(&ks, 0);
        let want: Vec<String> = (5..20).map(|i| format!("k{i:02}")).collect();
        assert_eq!(left, want);
    }

    #[test]
    fn allkeys_lfu_keeps_frequently_used_keys() {
        let mut ks = ks_with(Policy::AllkeysLfu);
        ks.evict.samples = 10;
        let m = lfu_minutes_at(NOW);
        for i in 0..10 {
            put(&mut ks, 0, &format!("hot{i}"), (m << 8) | 30);
            put(&mut ks, 0, &format!("cold{i}"), (m << 8) | LFU_INIT_VAL);
        }
        assert_eq!(ks.perform_evictions(1000, NOW, &per_key), EvictResult::Ok);
        assert!(keys(&ks, 0).iter().all(|k| k.starts_with("hot")));
    }

    #[test]
    fn random_policies_evict_until_under_the_limit() {
        let mut ks = ks_with(Policy::AllkeysRandom);
        for i in 0..50 {
            put(&mut ks, i % 2, &format!("k{i}"), 0);
        }
        assert_eq!(ks.perform_evictions(2000, NOW, &per_key), EvictResult::Ok);
        assert_eq!(ks.len(0) + ks.len(1), 20);
        ks.check_invariants().unwrap();
    }

    #[test]
    fn pool_keeps_the_sixteen_best_in_order() {
        let mut ev = Evictor::default();
        let k = SmallBytes::new(b"k");
        for idle in [5u64, 1, 9, 3, 7] {
            ev.offer(idle, 0, &k);
        }
        let idles = |ev: &Evictor| ev.pool.iter().map(|c| c.idle).collect::<Vec<_>>();
        assert_eq!(idles(&ev), [1, 3, 5, 7, 9]);
        for idle in 100..111 {
            ev.offer(idle, 0, &k);
        }
        assert_eq!(ev.pool.len(), EVPOOL_SIZE);
        // Full: a worse key than the worst is ignored, a better one pushes
        // the worst out.
        ev.offer(0, 0, &k);
        assert_eq!(idles(&ev)[0], 1);
        ev.offer(50, 0, &k);
        assert_eq!(idles(&ev)[..5], [3, 5, 7, 9, 50]);
        ev.offer(500, 0, &k);
        assert_eq!(*idles(&ev).last().expect("full"), 500);
        assert_eq!(ev.pool.len(), EVPOOL_SIZE);
    }

    #[test]
    fn table_growth_within_the_limit() {
        assert!(growth_fits(1000, 1 << 40, 0), "no limit");
        assert!(growth_fits(1000, 24, 1024));
        assert!(!growth_fits(1000, 25, 1024));
        assert!(!growth_fits(usize::MAX, 1, usize::MAX - 1));
    }

    #[test]
    fn tenacity_time_limits() {
        let t = |n| {
            EvictConfig {
                tenacity: n,
                ..EvictConfig::default()
            }
            .time_limit()
        };
        assert_eq!(t(0), Duration::ZERO);
        assert_eq!(t(10), Duration::from_micros(500));
        assert_eq!(t(11), Duration::from_micros(575));
        assert_eq!(t(100), Duration::MAX);
    }
}
