//! Writing the keyspace to a snapshot file: temp file, fsync, rename,
//! directory fsync. Used in the foreground by SAVE and SHUTDOWN, and by the
//! forked child for BGSAVE. Blocking `std::fs` on purpose: the foreground
//! callers block the server by definition, and the child has no event loop.

use super::format::{EntryRef, GroupRef, Record, StreamRef, ValueRef, Writer};
use crate::db::stream::{Stream, StreamId};
use crate::db::{Keyspace, Value};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What a save wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct SaveStats {
    /// Keys written.
    pub keys: u64,
    /// File size in bytes.
    pub bytes: u64,
}

/// Path of the temporary file a process with `pid` writes in `dir`.
pub fn temp_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("temp-{pid}.forkv"))
}

/// The server version written into snapshot headers.
pub fn server_version() -> String {
    format!("forkv {}", env!("CARGO_PKG_VERSION"))
}

/// A stream as the snapshot format holds it.
pub fn stream_ref(s: &Stream) -> StreamRef<'_> {
    let id = |i: StreamId| (i.ms, i.seq);
    StreamRef {
        last_id: id(s.last_id),
        first_id: id(s.first_id),
        max_deleted_id: id(s.max_deleted_entry_id),
        entries_added: s.entries_added,
        blocks: s
            .blocks()
            .map(|b| {
                b.map(|e| EntryRef {
                    id: id(e.id),
                    deleted: e.is_deleted(),
                    items: e.items().collect(),
                })
                .collect()
            })
            .collect(),
        groups: s
            .groups
            .iter()
            .map(|(name, g)| GroupRef {
                name,
                last_id: id(g.last_id),
                entries_read: g.entries_read,
                pending: g
                    .pel
                    .iter()
                    .map(|(i, n)| (id(*i), n.delivery_time, n.delivery_count, &n.consumer[..]))
                    .collect(),
                consumers: g
                    .consumers
                    .iter()
                    .map(|(n, c)| (&n[..], c.seen_time))
                    .collect(),
            })
            .collect(),
    }
}

/// Total keys in the keyspace.
pub fn total_keys(ks: &Keyspace) -> u64 {
    ks.dbs.iter().map(|d| d.len() as u64).sum()
}

/// Streams every key of `ks` into `w`, calling `progress(keys_done)` every
/// few thousand keys.
pub fn write_keyspace<W: Write>(
    ks: &Keyspace,
    w: &mut Writer<W>,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<()> {
    let mut err = None;
    let mut done = 0u64;
    for (dbi, db) in ks.dbs.iter().enumerate() {
        let has_expires = !db.deadlines().is_empty();
        db.table().for_each(|n| {
            if err.is_some() {
                return;
            }
            let expire = if has_expires {
                db.deadlines().get(n.key.as_slice()).map(|e| e.value)
            } else {
                None
            };
            let value = match &n.value.value {
                Value::Str(s) => ValueRef::Str(s.as_slice()),
                Value::List(l) => ValueRef::List(l.iter().collect()),
                Value::Hash(h) => ValueRef::Hash(h.iter().collect()),
                Value::Set(s) => ValueRef::Set(s.iter().collect()),
                Value::ZSet(z) => ValueRef::ZSet(z.iter().collect()),
                Value::Stream(s) => ValueRef::Stream(Box::new(stream_ref(s))),
            };
            let rec = Record {
                db: dbi as u32,
                expire,
                key: n.key.as_slice(),
                value,
            };
            if let Err(e) = w.record(&rec) {
                err = Some(e);
            }
            done += 1;
            if done.is_multiple_of(4096) {
                progress(done);
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    progress(done);
    Ok(())
}

/// Writes a complete snapshot of `ks` to `target` through a temp file in
/// the same directory, so `target` is replaced only by a complete, synced
/// file. The temp file is removed on failure.
pub fn save(
    ks: &Keyspace,
    target: &Path,
    created_ms: i64,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<SaveStats> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = temp_path(dir, std::process::id());
    let result = write_file(ks, &tmp, created_ms, progress).and_then(|stats| {
        std::fs::rename(&tmp, target)?;
        // The rename is durable only once the directory entry is on disk.
        File::open(dir)?.sync_all()?;
        Ok(stats)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_file(
    ks: &Keyspace,
    tmp: &Path,
    created_ms: i64,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<SaveStats> {
    let file = File::create(tmp)?;
    let buf = BufWriter::with_capacity(1 << 20, file);
    let mut w = Writer::new(buf, created_ms, &server_version())?;
    write_keyspace(ks, &mut w, progress)?;
    let keys = w.keys();
    let buf = w.finish()?;
    let file = buf.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let bytes = file.metadata()?.len();
    Ok(SaveStats { keys, bytes })
}

/// Removes `temp-*.forkv` files left in `dir` by a crashed save.
pub fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("temp-") && name.ends_with(".forkv") {
            match std::fs::remove_file(e.path()) {
                Ok(()) => tracing::info!("Removed stale temp file {}", e.path().display()),
                Err(err) => tracing::warn!(
                    "Cannot remove stale temp file {}: {err}",
                    e.path().display()
                ),
            }
        }
    }
}
