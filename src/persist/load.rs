//! Loading a snapshot at startup: map the file, check every checksum
//! before trusting anything, then build the keyspace, dropping keys whose
//! deadline has passed.

use super::format::{self, ValueRef};
use crate::db::hash::Hash;
use crate::db::list::List;
use crate::db::set::Set;
use crate::db::zset::ZSet;
use crate::db::{Entry, Keyspace, SmallBytes, Value};

/// Redis never stores empty collections; a file that has one is damaged.
/// Records decoded ahead of their insertion (see `load_bytes`).
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

fn value_is_empty(v: &Value) -> bool {
    match v {
        Value::Str(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::ZSet(z) => z.is_empty(),
    }
}
use std::collections::VecDeque;
use std::path::Path;
use std::time::Instant;

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

fn damaged(path: &Path, what: impl std::fmt::Display) -> String {
    let p = path.display();
    format!(
        "Snapshot {p} cannot be loaded: {what}. Refusing to start over it. Inspect it with `forkv-snapshot verify {p}`; `forkv-snapshot salvage {p} -o NEWFILE` recovers every intact block."
    )
}

/// Loads `path` into `ks` (which should be empty). Returns Ok(None) when
/// the file does not exist. Any damage is an error naming the file, the byte
/// offset and the block.
pub fn load(path: &Path, ks: &mut Keyspace, now_ms: i64) -> Result<Option<LoadStats>, String> {
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
    load_bytes(&map, ks, now_ms)
        .map(Some)
        .map_err(|e| damaged(path, e))
}

/// Loads snapshot bytes into `ks` (which should be empty): checks the whole
/// file first, then inserts every live key. Errors describe the damage.
pub fn load_bytes(data: &[u8], ks: &mut Keyspace, now_ms: i64) -> Result<LoadStats, String> {
    let started = Instant::now();
    let checked = format::check(data).map_err(|e| e.to_string())?;
    let mut stats = LoadStats {
        bytes: data.len() as u64,
        created_ms: checked.header.created_ms,
        ..Default::default()
    };
    for d in &checked.footer.dbs {
        if d.db as usize >= ks.dbs.len() {
            return Err(format!(
                "it has keys in database {} but only {} databases are configured (set `databases` higher)",
                d.db,
                ks.dbs.len()
            ));
        }
        ks.dbs[d.db as usize].reserve_for_load((d.keys as usize).min(data.len() / 5));
    }
    let total = checked.footer.keys.max(1);
    let mut last_log = Instant::now();
    let lru = ks.initial_lru(now_ms);
    // Keys are inserted WINDOW records after they are decoded: their bucket
    // (and halfway, the chain head) is prefetched meanwhile, so the cache
    // misses of many inserts overlap instead of stalling one by one.
    let mut window: VecDeque<Pending> = VecDeque::with_capacity(WINDOW);
    for block in &checked.blocks {
        let records = format::decode_records(block).map_err(|e| e.to_string())?;
        for r in records {
            let db = r.db as usize;
            if db >= ks.dbs.len() {
                return Err(format!("record in database {db} beyond the footer's list"));
            }
            if r.expire.is_some_and(|t| t <= now_ms) {
                stats.expired += 1;
                continue;
            }
            let limits = ks.limits;
            let value = match r.value {
                ValueRef::Str(s) => Value::Str(SmallBytes::new(s)),
                ValueRef::List(v) => Value::List(Box::new(List::from_items(v, &limits))),
                ValueRef::Hash(v) => Value::Hash(Box::new(Hash::from_pairs(v, &limits))),
                ValueRef::Set(v) => Value::Set(Box::new(Set::from_members(v, &limits))),
                ValueRef::ZSet(v) => Value::ZSet(Box::new(ZSet::from_pairs(v, &limits))),
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
                insert_pending(ks, &mut window);
            }
            stats.loaded += 1;
        }
        if last_log.elapsed().as_secs() >= 1 {
            last_log = Instant::now();
            let done = stats.loaded + stats.expired;
            tracing::info!(
                "Loading snapshot: {done} of {total} keys ({:.0}%)",
                done as f64 * 100.0 / total as f64
            );
        }
    }
    while !window.is_empty() {
        insert_pending(ks, &mut window);
    }
    // Loading is not a change to save again.
    ks.stats.dirty = 0;
    tracing::info!(
        "DB loaded from disk: {} keys loaded, {} expired keys skipped, {} bytes, {:.3} seconds",
        stats.loaded,
        stats.expired,
        stats.bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(stats)
}
