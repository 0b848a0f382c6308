//! Replays the fuzzing regression corpus and the seed inputs through the
//! same harnesses the fuzz targets run (`forkv::fuzzing`), on the stable
//! toolchain, as part of `cargo test`.
//!
//! - `fuzz/corpus-regressions/<target>/`: every input a fuzzer found to
//!   crash, hang or break an invariant, kept after the fix.
//! - `fuzz/seeds/<target>/`: the starting corpus for each target.
//!
//! Snapshot seeds are generated here from `forkv::persist::format` so they
//! always match the current format; `cargo test --test fuzz_regressions --
//! --ignored write_snapshot_seeds` writes them to `fuzz/seeds/load_snapshot/`.

use forkv::fuzzing;
use forkv::persist::format::{
    self, DbCount, Record, ValueRef, Writer, encode_block_header, encode_footer_body,
    encode_header, encode_record,
};
use std::path::{Path, PathBuf};

// Same allocator as the fuzz targets: an allocation the harness does not
// allow aborts the test binary with a message naming its size.
#[global_allocator]
static ALLOC: fuzzing::CappedAlloc = fuzzing::CappedAlloc;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Runs `harness` on every file of the regression and seed folders of
/// `target`, naming the file that fails. Returns how many ran.
fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let mut n = 0;
    let mut failures = Vec::new();
    for kind in ["corpus-regressions", "seeds"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
            .collect();
        files.sort();
        for path in files {
            let data = std::fs::read(&path).unwrap();
            fuzzing::set_abort_note(&format!("while replaying {}", path.display()));
            let result = std::panic::catch_unwind(|| harness(&data));
            if result.is_err() {
                failures.push(path.display().to_string());
            }
            n += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} input(s) fail: {failures:#?}",
        failures.len()
    );
    n
}

#[test]
fn decode_requests_corpus() {
    let n = replay("decode_requests", fuzzing::decode_requests);
    assert!(n > 0, "no decode_requests inputs found");
}

#[test]
fn execute_commands_corpus() {
    let n = replay("execute_commands", fuzzing::execute_commands);
    assert!(n > 0, "no execute_commands inputs found");
}

#[test]
fn load_snapshot_corpus() {
    let n = replay("load_snapshot", fuzzing::load_snapshot);
    assert!(n > 0, "no load_snapshot inputs found");
}

fn rec<'a>(db: u32, expire: Option<i64>, key: &'a [u8], value: ValueRef<'a>) -> Record<'a> {
    Record {
        db,
        expire,
        key,
        value,
    }
}

/// Builds a snapshot by hand with one block per group of records, so a
/// small file still has several blocks.
fn blocks_file(groups: &[Vec<Record<'_>>]) -> Vec<u8> {
    let mut out = encode_header(1_700_000_000_000, "7.0.0-fuzz");
    let mut dbs: Vec<DbCount> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let mut payload = Vec::new();
        for r in g {
            encode_record(&mut payload, r);
            match dbs.iter_mut().find(|d| d.db == r.db) {
                Some(d) => {
                    d.keys += 1;
                    d.expires += r.expire.is_some() as u64;
                }
                None => dbs.push(DbCount {
                    db: r.db,
                    keys: 1,
                    expires: r.expire.is_some() as u64,
                }),
            }
        }
        out.extend_from_slice(&encode_block_header(i as u64, &payload, g.len() as u32));
        out.extend_from_slice(&payload);
    }
    dbs.sort_by_key(|d| d.db);
    out.extend_from_slice(&encode_footer_body(groups.len() as u64, &dbs));
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Small valid snapshots (without the harness's mode byte).
fn snapshot_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds = Vec::new();

    let w = Writer::new(Vec::new(), 1_700_000_000_000, "7.0.0").unwrap();
    seeds.push(("empty", w.finish().unwrap()));

    let mut w = Writer::new(Vec::new(), 1_700_000_000_000, "7.0.0").unwrap();
    for (i, (k, v)) in [
        (&b"k"[..], &b"v"[..]),
        (b"counter", b"12345"),
        (b"", b"empty key"),
        (b"bin\x00\xff", b"\r\n\x00"),
    ]
    .into_iter()
    .enumerate()
    {
        w.record(&rec(
            (i % 3) as u32,
            if i % 2 == 0 {
                Some(1_800_000_000_000)
            } else {
                None
            },
            k,
            ValueRef::Str(v),
        ))
        .unwrap();
    }
    w.record(&rec(5, Some(1), b"expired", ValueRef::Str(b"x")))
        .unwrap();
    seeds.push(("strings-expiry", w.finish().unwrap()));

    let mut w = Writer::new(Vec::new(), 1_700_000_000_000, "7.0.0").unwrap();
    w.record(&rec(
        0,
        None,
        b"list",
        ValueRef::List(vec![b"a", b"", b"c"]),
    ))
    .unwrap();
    w.record(&rec(1, None, b"set", ValueRef::Set(vec![b"x", b"y"])))
        .unwrap();
    w.record(&rec(
        2,
        Some(1_800_000_000_000),
        b"hash",
        ValueRef::Hash(vec![(b"f", b"v"), (b"g", b"")]),
    ))
    .unwrap();
    w.record(&rec(
        3,
        None,
        b"zset",
        ValueRef::ZSet(vec![(b"m", 1.5), (b"n", f64::NEG_INFINITY), (b"o", -0.0)]),
    ))
    .unwrap();
    {
        use forkv::persist::format::{EntryRef, GroupRef, StreamRef};
        let entry = |ms, deleted| EntryRef {
            id: (ms, 0),
            deleted,
            items: vec![&b"f"[..], &b"v"[..]],
        };
        let st = StreamRef {
            last_id: (9, 0),
            first_id: (1, 0),
            max_deleted_id: (2, 0),
            entries_added: 4,
            blocks: vec![vec![entry(1, false), entry(2, true)], vec![entry(3, false)]],
            groups: vec![GroupRef {
                name: b"g",
                last_id: (3, 0),
                entries_read: -1,
                pending: vec![((1, 0), 1_700_000_000_000, 2, &b"c"[..])],
                consumers: vec![(&b"c"[..], 1_700_000_000_000), (&b"d"[..], 0)],
            }],
        };
        w.record(&rec(4, None, b"stream", ValueRef::Stream(Box::new(st))))
            .unwrap();
    }
    seeds.push(("all-types", w.finish().unwrap()));

    seeds.push((
        "three-blocks",
        blocks_file(&[
            vec![
                rec(0, None, b"a", ValueRef::Str(b"1")),
                rec(0, Some(1_800_000_000_000), b"b", ValueRef::Str(b"2")),
            ],
            vec![rec(1, None, b"c", ValueRef::Str(b"3"))],
            vec![
                rec(15, Some(1_600_000_000_000), b"d", ValueRef::Str(b"4")),
                rec(0, None, b"a", ValueRef::Str(b"dup")),
            ],
        ]),
    ));
    seeds
}

#[test]
fn snapshot_seeds_are_valid_and_load() {
    for (name, file) in snapshot_seeds() {
        let checked = format::check(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        for b in &checked.blocks {
            format::decode_records(b).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for mode in [0u8, 1, 0x05, 0xf9] {
            let mut input = vec![mode];
            input.extend_from_slice(&file);
            fuzzing::load_snapshot(&input);
        }
        // Every truncation and a sample of single-byte flips.
        for cut in 0..file.len() {
            let mut input = vec![1u8];
            input.extend_from_slice(&file[..cut]);
            fuzzing::load_snapshot(&input);
        }
        for i in 0..file.len() {
            for flip in [0x01u8, 0x80] {
                let mut input = vec![1u8];
                input.extend_from_slice(&file);
                input[1 + i] ^= flip;
                fuzzing::load_snapshot(&input);
            }
        }
    }
}

/// Writes the snapshot seeds (mode bytes 0 and 1) for the fuzzer.
#[test]
#[ignore]
fn write_snapshot_seeds() {
    let dir = fuzz_dir().join("seeds").join("load_snapshot");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, file) in snapshot_seeds() {
        for mode in [0u8, 1] {
            let mut input = vec![mode];
            input.extend_from_slice(&file);
            std::fs::write(dir.join(format!("{name}-mode{mode}")), input).unwrap();
        }
    }
}
