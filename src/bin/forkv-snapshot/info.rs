//! `info FILE [--json]`: what a snapshot holds.
//!
//! Checks the file first, then decodes it one block at a time to count
//! keys per database and per type and to find the largest key and value.

use crate::input::Input;
use crate::{Outcome, text};
use forkv::persist::format::{self, Record};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `info`.
#[derive(clap::Args)]
pub struct Args {
    /// Snapshot file to describe.
    file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The value types, indexed by tag (streams are never written by version 1).
const TYPES: [u8; 5] = [
    format::tag::STRING,
    format::tag::LIST,
    format::tag::SET,
    format::tag::HASH,
    format::tag::ZSET,
];

/// Counts for one database.
#[derive(Default)]
struct DbStats {
    db: u32,
    keys: u64,
    expires: u64,
    types: [u64; TYPES.len()],
}

/// The biggest item seen so far of some kind.
#[derive(Default)]
struct Largest {
    size: usize,
    db: u32,
    key: Option<Vec<u8>>,
}

impl Largest {
    fn offer(&mut self, size: usize, rec: &Record<'_>) {
        if self.key.is_none() || size > self.size {
            *self = Largest {
                size,
                db: rec.db,
                key: Some(rec.key.to_vec()),
            };
        }
    }
}

/// Everything `info` reports, gathered in one pass.
#[derive(Default)]
struct Stats {
    dbs: Vec<DbStats>,
    key_bytes: u64,
    value_bytes: u64,
    largest_key: Largest,
    largest_value: Largest,
}

impl Stats {
    fn add(&mut self, rec: &Record<'_>) {
        let at = match self.dbs.binary_search_by_key(&rec.db, |d| d.db) {
            Ok(i) => i,
            Err(i) => {
                let fresh = DbStats {
                    db: rec.db,
                    ..DbStats::default()
                };
                self.dbs.insert(i, fresh);
                i
            }
        };
        let d = &mut self.dbs[at];
        d.keys += 1;
        d.expires += u64::from(rec.expire.is_some());
        // Decoded records only carry the five known types.
        if let Some(t) = d.types.get_mut(rec.value.tag() as usize) {
            *t += 1;
        }
        let value_size = rec.value.size();
        self.key_bytes += rec.key.len() as u64;
        self.value_bytes += value_size as u64;
        self.largest_key.offer(rec.key.len(), rec);
        self.largest_value.offer(value_size, rec);
    }

    fn keys(&self) -> u64 {
        self.dbs.iter().map(|d| d.keys).sum()
    }

    fn expires(&self) -> u64 {
        self.dbs.iter().map(|d| d.expires).sum()
    }

    fn types(&self) -> [u64; TYPES.len()] {
        let mut t = [0; TYPES.len()];
        for d in &self.dbs {
            for (sum, n) in t.iter_mut().zip(d.types) {
                *sum += n;
            }
        }
        t
    }
}

/// Prints the report for one file.
pub fn run(args: Args) -> Outcome {
    let input = Input::open(&args.file)?;
    let checked = input.check()?;
    let mut stats = Stats::default();
    for block in &checked.blocks {
        for rec in format::decode_records(block).map_err(|e| input.damaged(&e))? {
            stats.add(&rec);
        }
    }
    let h = &checked.header;
    let size = input.bytes().len();
    let blocks = checked.blocks.len();
    if args.json {
        let mut o = Vec::new();
        o.extend_from_slice(b"{\"file\":");
        text::json_str(&mut o, input.name());
        o.extend_from_slice(
            format!(
                ",\"file_size\":{size},\"format_version\":{},\"created_ms\":{},\"created\":",
                h.version, h.created_ms
            )
            .as_bytes(),
        );
        text::json_str(&mut o, &text::utc(h.created_ms));
        o.extend_from_slice(b",\"server_version\":");
        text::json_str(&mut o, &h.server_version);
        o.extend_from_slice(
            format!(
                ",\"blocks\":{blocks},\"keys\":{},\"expires\":{},\"types\":{},\"databases\":[",
                stats.keys(),
                stats.expires(),
                json_types(&stats.types())
            )
            .as_bytes(),
        );
        for (i, d) in stats.dbs.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            o.extend_from_slice(
                format!(
                    "{sep}{{\"db\":{},\"keys\":{},\"expires\":{},\"types\":{}}}",
                    d.db,
                    d.keys,
                    d.expires,
                    json_types(&d.types)
                )
                .as_bytes(),
            );
        }
        o.extend_from_slice(b"],\"key_size\":");
        json_size(&mut o, stats.key_bytes, &stats.largest_key);
        o.extend_from_slice(b",\"value_size\":");
        json_size(&mut o, stats.value_bytes, &stats.largest_value);
        o.extend_from_slice(b"}\n");
        return text::print(&String::from_utf8_lossy(&o));
    }
    let mut s = String::new();
    let _ = writeln!(s, "file:            {} ({size} bytes)", input.name());
    let _ = writeln!(s, "format version:  {}", h.version);
    let _ = writeln!(
        s,
        "created:         {} ({} ms)",
        text::utc(h.created_ms),
        h.created_ms
    );
    let _ = writeln!(s, "server version:  {}", h.server_version);
    let _ = writeln!(s, "blocks:          {blocks}");
    let _ = writeln!(
        s,
        "keys:            {} ({} with expiry)",
        stats.keys(),
        stats.expires()
    );
    let _ = writeln!(s, "types:          {}", text_types(&stats.types()));
    for d in &stats.dbs {
        let _ = writeln!(
            s,
            "db{}:{:width$}keys={} expires={}{}",
            d.db,
            "",
            d.keys,
            d.expires,
            text_types(&d.types),
            width = 14usize.saturating_sub(d.db.to_string().len()),
        );
    }
    let _ = writeln!(
        s,
        "key size:        {} bytes in all{}",
        stats.key_bytes,
        text_largest(&stats.largest_key)
    );
    let _ = writeln!(
        s,
        "value size:      {} bytes in all{}",
        stats.value_bytes,
        text_largest(&stats.largest_value)
    );
    text::print(&s)
}

/// ` string=3 list=1`: the non-zero type counts.
fn text_types(counts: &[u64; TYPES.len()]) -> String {
    let mut s = String::new();
    for (t, n) in TYPES.iter().zip(counts) {
        if *n > 0 {
            let _ = write!(s, " {}={n}", format::type_name(*t));
        }
    }
    s
}

fn text_largest(l: &Largest) -> String {
    match &l.key {
        Some(k) => format!(
            ", largest {} bytes: key {} in db {}",
            l.size,
            text::printable(k),
            l.db
        ),
        None => String::new(),
    }
}

/// `{"string":3,"list":1,...}` with every type, zeros included, so the
/// shape does not depend on the data.
fn json_types(counts: &[u64; TYPES.len()]) -> String {
    let fields: Vec<String> = TYPES
        .iter()
        .zip(counts)
        .map(|(t, n)| format!("\"{}\":{n}", format::type_name(*t)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// `{"total":N,"largest":N,"largest_key":...,"largest_db":N}`, with
/// nulls when the snapshot is empty.
fn json_size(o: &mut Vec<u8>, total: u64, l: &Largest) {
    o.extend_from_slice(format!("{{\"total\":{total},\"largest\":").as_bytes());
    match &l.key {
        Some(k) => {
            o.extend_from_slice(format!("{},\"largest_key\":", l.size).as_bytes());
            text::json_bytes(o, k);
            o.extend_from_slice(format!(",\"largest_db\":{}}}", l.db).as_bytes());
        }
        None => o.extend_from_slice(b"null,\"largest_key\":null,\"largest_db\":null}"),
    }
}
