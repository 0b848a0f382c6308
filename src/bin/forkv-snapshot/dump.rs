//! `dump FILE [--format json|resp] [--db N] [--match PATTERN]`: stream a
//! snapshot's contents to stdout.
//!
//! The file is checked first (a damaged one is refused, pointing at
//! `salvage`), then decoded one block at a time, so memory stays at one
//! block's records however big the snapshot is.

use crate::input::Input;
use crate::{Failure, Outcome, resp, text};
use forkv::persist::format::{self, Record, ValueRef};
use forkv::util::glob::glob_match;
use std::ffi::OsString;
use std::io::{BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// `dump --help`.
pub const LONG_ABOUT: &str = "\
Stream the contents of a snapshot to stdout, one block at a time.

--format json (the default) writes one JSON object per line:
  {\"db\":0,\"key\":K,\"type\":\"string\",\"expire_ms\":1700000000000,\"value\":V}
expire_ms is the absolute deadline in Unix milliseconds, or null. Values by type:
  string  a byte string B
  list    [B, ...]            head first
  set     [B, ...]
  hash    [[field, value], ...]
  zset    [[member, score], ...]  ascending; score is a JSON number, or the
                                  string \"inf\" / \"-inf\"
Byte strings (keys, values, members, fields) are lossless: bytes that are
valid UTF-8 become a JSON string (control characters escaped as \\n, \\u0001,
...); any other bytes become {\"base64\":\"...\"} (standard alphabet, padded).

--format resp writes the RESP commands that recreate the data: SELECT when
the database changes, SET for strings, DEL then RPUSH/SADD/HSET/ZADD (in
chunks) for the other types, PEXPIREAT for deadlines. Load it with
  forkv-snapshot dump FILE --format resp | redis-cli --pipe
Keys whose deadline has passed are still written (and PEXPIREAT deletes
them again); `restore` skips them instead.

A damaged file is refused; use `salvage` to copy its intact blocks first.";

/// Output formats of `dump`.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// One JSON object per key, per line.
    Json,
    /// RESP commands, for `redis-cli --pipe`.
    Resp,
}

/// Arguments of `dump`.
#[derive(clap::Args)]
pub struct Args {
    /// Snapshot file to dump.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Only keys of this database.
    #[arg(long, value_name = "N")]
    db: Option<u32>,
    /// Only keys matching this glob pattern (Redis KEYS syntax: * ? [a-z] \x).
    #[arg(long = "match", value_name = "PATTERN")]
    pattern: Option<OsString>,
}

/// Streams the selected keys.
pub fn run(args: Args) -> Outcome {
    let input = Input::open(&args.file)?;
    let checked = input.check()?;
    let pattern = args.pattern.as_ref().map(|p| p.as_bytes());
    let wanted = |rec: &Record<'_>| {
        args.db.is_none_or(|db| db == rec.db)
            // Like Redis's KEYS, `*` alone means everything (the matcher
            // itself does not match `*` against an empty key).
            && pattern.is_none_or(|p| p == b"*" || glob_match(p, rec.key, false))
    };
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut line = Vec::new();
    let mut db = None;
    for block in &checked.blocks {
        let records = format::decode_records(block).map_err(|e| input.damaged(&e))?;
        for rec in records.iter().filter(|r| wanted(r)) {
            line.clear();
            match args.format {
                Format::Json => json_line(&mut line, rec),
                Format::Resp => resp_commands(&mut line, rec, &mut db),
            }
            out.write_all(&line).map_err(Failure::stdout)?;
        }
    }
    out.flush().map_err(Failure::stdout)
}

/// One record as a line of JSON (see [`LONG_ABOUT`]).
fn json_line(o: &mut Vec<u8>, rec: &Record<'_>) {
    o.extend_from_slice(format!("{{\"db\":{},\"key\":", rec.db).as_bytes());
    text::json_bytes(o, rec.key);
    o.extend_from_slice(b",\"type\":");
    text::json_str(o, format::type_name(rec.value.tag()));
    match rec.expire {
        Some(ms) => o.extend_from_slice(format!(",\"expire_ms\":{ms}").as_bytes()),
        None => o.extend_from_slice(b",\"expire_ms\":null"),
    }
    o.extend_from_slice(b",\"value\":");
    match &rec.value {
        ValueRef::Str(s) => text::json_bytes(o, s),
        ValueRef::List(items) | ValueRef::Set(items) => {
            o.push(b'[');
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    o.push(b',');
                }
                text::json_bytes(o, s);
            }
            o.push(b']');
        }
        ValueRef::Hash(pairs) => {
            o.push(b'[');
            for (i, (f, v)) in pairs.iter().enumerate() {
                o.extend_from_slice(if i > 0 { b",[" } else { b"[" });
                text::json_bytes(o, f);
                o.push(b',');
                text::json_bytes(o, v);
                o.push(b']');
            }
            o.push(b']');
        }
        ValueRef::ZSet(pairs) => {
            o.push(b'[');
            for (i, (m, s)) in pairs.iter().enumerate() {
                o.extend_from_slice(if i > 0 { b",[" } else { b"[" });
                text::json_bytes(o, m);
                o.push(b',');
                text::json_score(o, *s);
                o.push(b']');
            }
            o.push(b']');
        }
        ValueRef::Stream(st) => json_stream(o, st),
    }
    o.extend_from_slice(b"}\n");
}

fn json_id(o: &mut Vec<u8>, id: (u64, u64)) {
    text::json_str(o, &format!("{}-{}", id.0, id.1));
}

/// A stream as JSON: counters, live entries, the number of tombstones,
/// and the groups with their consumers and pending entries.
fn json_stream(o: &mut Vec<u8>, st: &forkv::persist::format::StreamRef<'_>) {
    o.extend_from_slice(b"{\"last_id\":");
    json_id(o, st.last_id);
    o.extend_from_slice(b",\"first_id\":");
    json_id(o, st.first_id);
    o.extend_from_slice(b",\"max_deleted_id\":");
    json_id(o, st.max_deleted_id);
    o.extend_from_slice(format!(",\"entries_added\":{}", st.entries_added).as_bytes());
    let tombstones = st.blocks.iter().flatten().filter(|e| e.deleted).count();
    o.extend_from_slice(format!(",\"blocks\":{}", st.blocks.len()).as_bytes());
    o.extend_from_slice(format!(",\"tombstones\":{tombstones}").as_bytes());
    o.extend_from_slice(b",\"entries\":[");
    for (i, e) in st.live().enumerate() {
        o.extend_from_slice(if i > 0 { b",[" } else { b"[" });
        json_id(o, e.id);
        o.extend_from_slice(b",[");
        for (j, item) in e.items.iter().enumerate() {
            if j > 0 {
                o.push(b',');
            }
            text::json_bytes(o, item);
        }
        o.extend_from_slice(b"]]");
    }
    o.extend_from_slice(b"],\"groups\":[");
    for (i, g) in st.groups.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"name\":");
        text::json_bytes(o, g.name);
        o.extend_from_slice(b",\"last_id\":");
        json_id(o, g.last_id);
        if g.entries_read < 0 {
            o.extend_from_slice(b",\"entries_read\":null");
        } else {
            o.extend_from_slice(format!(",\"entries_read\":{}", g.entries_read).as_bytes());
        }
        o.extend_from_slice(b",\"consumers\":[");
        for (j, (name, seen)) in g.consumers.iter().enumerate() {
            o.extend_from_slice(if j > 0 { b",[" } else { b"[" });
            text::json_bytes(o, name);
            o.extend_from_slice(format!(",{seen}]").as_bytes());
        }
        o.extend_from_slice(b"],\"pending\":[");
        for (j, (id, time, count, owner)) in g.pending.iter().enumerate() {
            o.extend_from_slice(if j > 0 { b",[" } else { b"[" });
            json_id(o, *id);
            o.push(b',');
            text::json_bytes(o, owner);
            o.extend_from_slice(format!(",{time},{count}]").as_bytes());
        }
        o.extend_from_slice(b"]}");
    }
    o.extend_from_slice(b"]}");
}

/// The commands that recreate one record, preceded by SELECT when the
/// database differs from the previous record's.
fn resp_commands(o: &mut Vec<u8>, rec: &Record<'_>, db: &mut Option<u32>) {
    if *db != Some(rec.db) {
        resp::command(o, &[b"SELECT", rec.db.to_string().as_bytes()]);
        *db = Some(rec.db);
    }
    match &rec.value {
        ValueRef::Str(v) => resp::command(o, &[b"SET", rec.key, v]),
        value => {
            // DEL first so loading twice does not append to the first copy.
            resp::command(o, &[b"DEL", rec.key]);
            resp::collection_commands(rec.key, value, &mut |args| resp::command(o, args));
        }
    }
    if let Some(ms) = rec.expire {
        resp::command(o, &[b"PEXPIREAT", rec.key, ms.to_string().as_bytes()]);
    }
}
