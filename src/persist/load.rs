//! Loading a snapshot at startup: map the file, check every checksum
//! before trusting anything, then build the keyspace, dropping keys whose
//! deadline has passed. [`Loading`] does it in steps, so the server answers
//! clients (`-LOADING`) while a large file loads.

use super::format::{self, ValueRef};
use crate::db::hash::Hash;
use crate::db::list::List;
use crate::db::set::Set;
use crate::db::zset::ZSet;
use crate::db::{Entry, Keyspace, SmallBytes, Value};
use std::collections::VecDeque;
use std::path::Path;
use std::time::Instant;

/// Records decoded ahead of their insertion (see [`Loading`]).
const WINDOW: usize = 16;

/// A decoded key waiting for its prefetched bucket.
struct Pending {
    db: usize,
    h: usize,
    key: SmallBytes,
    entry: Entry,
    expire: Option<i64>,
}

fn insert_pending(ks: &mut Keyspace, window: &mut VecDeque<Pending>) {
    if let Some(p) = window.pop_front() {
        ks.insert_entry_hashed(p.db, p.h, p.key, p.entry, p.expire);
    }
}

/// Rebuilds a stream from its snapshot record.
pub fn stream_from(st: &crate::persist::format::StreamRef<'_>) -> crate::db::stream::Stream {
    use crate::db::stream::{Consumer, Group, Nack, Stream, StreamId};
    let id = |i: (u64, u64)| StreamId::new(i.0, i.1);
    let blocks = st.blocks.iter().map(|b| {
        b.iter()
            .map(|e| (id(e.id), e.deleted, e.items.clone()))
            .collect::<Vec<_>>()
    });
    let groups = st
        .groups
        .iter()
        .map(|g| {
            let mut group = Group::new(id(g.last_id), g.entries_read);
            for (name, seen) in &g.consumers {
                group.consumers.insert(
                    name.to_vec(),
                    Consumer {
                        seen_time: *seen,
                        pel: Default::default(),
                    },
                );
            }
            for (i, time, count, owner) in &g.pending {
                group.pel.insert(
                    id(*i),
                    Nack {
                        delivery_time: *time,
                        delivery_count: *count,
                        consumer: owner.to_vec(),
                    },
                );
            }
            (g.name.to_vec(), group)
        })
        .collect();
    Stream::restore(
        blocks,
        id(st.last_id),
        id(st.max_deleted_id),
        st.entries_added,
        groups,
    )
}

/// Redis never stores empty collections; a file that has one is damaged.
fn value_is_empty(v: &Value) -> bool {
    match v {
        Value::Str(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::ZSet(z) => z.is_empty(),
        // An empty stream is a valid value (XTRIM, XDEL keep the key).
        Value::Stream(_) => false,
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadStats {
    /// Keys inserted.
    pub loaded: u64,
    /// Keys skipped because they had expired.
    pub expired: u64,
    /// File size.
    pub bytes: u64,
    /// Creation time recorded in the file (Unix ms).
    pub created_ms: i64,
}

/// The error a damaged snapshot stops startup with.
pub fn damaged(path: &Path, what: impl std::fmt::Display) -> String {
    let p = path.display();
    format!(
        "Snapshot {p} cannot be loaded: {what}. Refusing to start over it. Inspect it with `forkv-snapshot verify {p}`; `forkv-snapshot salvage {p} -o NEWFILE` recovers every intact block."
    )
}

/// Maps the snapshot at `path` for loading; Ok(None) when there is none.
pub fn open(path: &Path) -> Result<Option<memmap2::Mmap>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("Cannot open snapshot {}: {e}", path.display())),
    };
    let len = file
        .metadata()
        .map_err(|e| format!("Cannot stat snapshot {}: {e}", path.display()))?
        .len();
    if len == 0 {
        return Err(damaged(path, "the file is empty"));
    }
    // SAFETY: the map is read-only and private to this process; the file is
    // ours (only forkv writes it, by atomic rename of a new file, so the
    // mapped file is never modified in place).
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| format!("Cannot map snapshot {}: {e}", path.display()))?;
    Ok(Some(map))
}

/// Loads `path` into `ks` (which should be empty) in one go. Returns
/// Ok(None) when the file does not exist. Any damage is an error naming the
/// file, the byte offset and the block.
pub fn load(path: &Path, ks: &mut Keyspace, now_ms: i64) -> Result<Option<LoadStats>, String> {
    let Some(map) = open(path)? else {
        return Ok(None);
    };
    load_bytes(&map, ks, now_ms)
        .map(Some)
        .map_err(|e| damaged(path, e))
}

/// Loads snapshot bytes into `ks` (which should be empty): checks the whole
/// file first, then inserts every live key. Errors describe the damage.
pub fn load_bytes(data: &[u8], ks: &mut Keyspace, now_ms: i64) -> Result<LoadStats, String> {
    let mut loading = Loading::new(data, now_ms)?;
    loop {
        if let Some(stats) = loading.step(ks, usize::MAX, 0)? {
            return Ok(stats);
        }
    }
}

/// Where a [`Loading`] is.
enum Stage<'a> {
    /// Verifying checksums, before anything is trusted.
    Check(format::Checker<'a>),
    /// Inserting the records of `checked.blocks[next..]`, after the rest
    /// of the block before (`records`).
    Insert {
        checked: format::Checked<'a>,
        next: usize,
        records: std::vec::IntoIter<format::Record<'a>>,
        /// Bytes each of `records` stands for (its block's share).
        record_bytes: u64,
        lru: u32,
    },
    Done,
}

/// A snapshot load done in steps ([`Loading::step`]), so that the server
/// can answer clients (with `-LOADING`) between them, as Redis does while
/// it loads. The file is checked completely before the first key is
/// inserted.
pub struct Loading<'a> {
    data: &'a [u8],
    now_ms: i64,
    stage: Stage<'a>,
    stats: LoadStats,
    started: Instant,
    last_log: Instant,
    /// Keys are inserted WINDOW records after they are decoded: their
    /// bucket (and halfway, the chain head) is prefetched meanwhile, so the
    /// cache misses of many inserts overlap instead of stalling one by one.
    window: VecDeque<Pending>,
    /// Keys inserted since the last `key-load-delay` pause.
    since_delay: u64,
    /// Bytes of the file whose records were inserted (or skipped).
    loaded_bytes: u64,
}

impl<'a> Loading<'a> {
    /// Starts loading `data`; keys whose deadline is before `now_ms` are
    /// skipped. Fails at once on a bad header.
    pub fn new(data: &'a [u8], now_ms: i64) -> Result<Self, String> {
        let checker = format::Checker::new(data).map_err(|e| e.to_string())?;
        let now = Instant::now();
        Ok(Loading {
            data,
            now_ms,
            stage: Stage::Check(checker),
            stats: LoadStats {
                bytes: data.len() as u64,
                ..Default::default()
            },
            started: now,
            last_log: now,
            window: VecDeque::with_capacity(WINDOW),
            since_delay: 0,
            loaded_bytes: 0,
        })
    }

    /// Bytes of the file whose keys are in the keyspace (INFO's
    /// `loading_loaded_bytes`); the checksum pass before them counts 0.
    pub fn loaded_bytes(&self) -> u64 {
        match self.stage {
            Stage::Done => self.data.len() as u64,
            _ => self.loaded_bytes,
        }
    }

    /// Works through about `budget` bytes of the file, sleeping as
    /// `key-load-delay` says after each key (`key_delay`). Returns the
    /// statistics once every key is in `ks`.
    pub fn step(
        &mut self,
        ks: &mut Keyspace,
        budget: usize,
        key_delay: i32,
    ) -> Result<Option<LoadStats>, String> {
        if let Stage::Check(checker) = &mut self.stage {
            let Some(checked) = checker.step(budget).map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            self.start_inserting(checked, ks)?;
            // The checksums of a large file took this step's time.
            return Ok(None);
        }
        let Stage::Insert {
            checked,
            next,
            records,
            record_bytes,
            lru,
        } = &mut self.stage
        else {
            return Ok(Some(self.stats));
        };
        let total = checked.footer.keys.max(1);
        let budget = budget as u64;
        let mut done = 0u64;
        while done < budget {
            let Some(r) = records.next() else {
                // The block is done: on to the next one, if any.
                let Some(block) = checked.blocks.get(*next) else {
                    break;
                };
                *next += 1;
                self.loaded_bytes = block.offset;
                *records = format::decode_records(block)
                    .map_err(|e| e.to_string())?
                    .into_iter();
                *record_bytes = block.total_len() as u64 / u64::from(block.count.max(1));
                continue;
            };
            insert_record(ks, r, *lru, self.now_ms, &mut self.stats, &mut self.window)?;
            done += *record_bytes;
            self.loaded_bytes += *record_bytes;
            if key_delay != 0 {
                self.since_delay += 1;
                key_load_delay(key_delay, self.since_delay);
            }
            if self.last_log.elapsed().as_secs() >= 1 {
                self.last_log = Instant::now();
                let done = self.stats.loaded + self.stats.expired;
                tracing::info!(
                    "Loading snapshot: {done} of {total} keys ({:.0}%)",
                    done as f64 * 100.0 / total as f64
                );
            }
        }
        if records.len() > 0 || *next < checked.blocks.len() {
            return Ok(None);
        }
        while !self.window.is_empty() {
            insert_pending(ks, &mut self.window);
        }
        self.stage = Stage::Done;
        // Loading is not a change to save again.
        ks.stats.dirty = 0;
        tracing::info!(
            "DB loaded from disk: {} keys loaded, {} expired keys skipped, {} bytes, {:.3} seconds",
            self.stats.loaded,
            self.stats.expired,
            self.stats.bytes,
            self.started.elapsed().as_secs_f64()
        );
        Ok(Some(self.stats))
    }

    /// After the checks: sizes the tables for the keys to come.
    fn start_inserting(
        &mut self,
        checked: format::Checked<'a>,
        ks: &mut Keyspace,
    ) -> Result<(), String> {
        for d in &checked.footer.dbs {
            if d.db as usize >= ks.dbs.len() {
                return Err(format!(
                    "it has keys in database {} but only {} databases are configured (set `databases` higher)",
                    d.db,
                    ks.dbs.len()
                ));
            }
            ks.dbs[d.db as usize].reserve_for_load((d.keys as usize).min(self.data.len() / 5));
        }
        self.stats.created_ms = checked.header.created_ms;
        let lru = ks.initial_lru(self.now_ms);
        self.stage = Stage::Insert {
            checked,
            next: 0,
            records: Vec::new().into_iter(),
            record_bytes: 0,
            lru,
        };
        Ok(())
    }
}

/// `key-load-delay` after a key, as Redis's `debugDelay`: `delay` > 0
/// sleeps that many microseconds; negative N sleeps 1 µs every N keys.
fn key_load_delay(delay: i32, keys: u64) {
    let us = if delay > 0 {
        delay as u64
    } else if keys.is_multiple_of(u64::from(delay.unsigned_abs())) {
        1
    } else {
        0
    };
    if us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}

/// Decodes one record's value and queues it for insertion (see
/// [`Loading::window`]); expired keys are counted and skipped.
fn insert_record(
    ks: &mut Keyspace,
    r: format::Record<'_>,
    lru: u32,
    now_ms: i64,
    stats: &mut LoadStats,
    window: &mut VecDeque<Pending>,
) -> Result<(), String> {
    let db = r.db as usize;
    if db >= ks.dbs.len() {
        return Err(format!("record in database {db} beyond the footer's list"));
    }
    if r.expire.is_some_and(|t| t <= now_ms) {
        stats.expired += 1;
        return Ok(());
    }
    let limits = ks.limits;
    let value = match r.value {
        ValueRef::Str(s) => Value::Str(SmallBytes::new(s)),
        ValueRef::List(v) => Value::List(Box::new(List::from_items(v, &limits))),
        ValueRef::Hash(v) => Value::Hash(Box::new(Hash::from_pairs(v, &limits))),
        ValueRef::Set(v) => Value::Set(Box::new(Set::from_members(v, &limits))),
        ValueRef::ZSet(v) => Value::ZSet(Box::new(ZSet::from_pairs(v, &limits))),
        ValueRef::Stream(st) => Value::Stream(Box::new(stream_from(&st))),
    };
    if value_is_empty(&value) {
        return Err(format!(
            "key {:?} holds an empty collection",
            String::from_utf8_lossy(r.key)
        ));
    }
    let h = ks.dbs[db].table().prefetch(r.key);
    window.push_back(Pending {
        db,
        h,
        key: SmallBytes::new(r.key),
        entry: Entry::new(value, lru),
        expire: r.expire,
    });
    if window.len() > WINDOW / 2 {
        let p = &window[window.len() - 1 - WINDOW / 2];
        ks.dbs[p.db].table().prefetch_chain(p.h);
    }
    if window.len() == WINDOW {
        insert_pending(ks, window);
    }
    stats.loaded += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(keys: u32) -> Vec<u8> {
        let mut w = format::Writer::new(Vec::new(), 1234, "test").unwrap();
        for i in 0..keys {
            let k = format!("key:{i}");
            let v = format!("value:{i}");
            w.record(&format::Record {
                db: i % 3,
                // Half the keys have a deadline, some already passed.
                expire: match (i % 2, i % 7) {
                    (0, 0) => Some(10),
                    (0, _) => Some(1 << 50),
                    _ => None,
                },
                key: k.as_bytes(),
                value: ValueRef::Str(v.as_bytes()),
            })
            .unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn loading_in_small_steps_gives_the_same_dataset() {
        let data = snapshot(20_000);
        let mut whole = Keyspace::new(16);
        let at_once = load_bytes(&data, &mut whole, 1000).unwrap();
        let mut ks = Keyspace::new(16);
        let mut loading = Loading::new(&data, 1000).unwrap();
        let mut steps = 0;
        let mut last = 0;
        let stats = loop {
            steps += 1;
            if let Some(s) = loading.step(&mut ks, 512, 0).unwrap() {
                break s;
            }
            assert!(loading.loaded_bytes() >= last);
            last = loading.loaded_bytes();
        };
        assert!(steps > 100, "{steps} steps");
        assert_eq!(loading.loaded_bytes(), data.len() as u64);
        assert_eq!(
            (stats.loaded, stats.expired, stats.created_ms),
            (at_once.loaded, at_once.expired, at_once.created_ms)
        );
        assert_eq!(stats.loaded + stats.expired, 20_000);
        assert!(stats.expired > 0);
        for db in 0..3 {
            assert_eq!(ks.len(db), whole.len(db), "db {db}");
        }
        assert_eq!(ks.stats.dirty, 0);
    }
}
