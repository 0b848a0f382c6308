//! The `forkv-snapshot` operator tool, run as a binary against snapshot
//! files written here with `forkv::persist::format::Writer`: verify, info,
//! dump (JSON and RESP through `redis-cli --pipe`), restore into forkv and
//! real Redis, and salvage of damaged files.
//!
//! Parts that need real Redis (`redis-server`, `redis-cli`) say that they
//! skipped when it is missing, unless `FORKV_REQUIRE_REDIS=1`.

mod common;

use common::Server;
use forkv::persist::format::{self, Record, ValueRef, Writer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CREATED_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;

// ------------------------------------------------------------------ data

/// An owned value, the test's model of what a snapshot holds.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, f64)>),
}

/// One key of the model.
#[derive(Clone, Debug)]
struct Key {
    db: u32,
    key: Vec<u8>,
    expire: Option<i64>,
    val: Val,
}

impl Key {
    fn new(db: u32, key: impl Into<Vec<u8>>, expire: Option<i64>, val: Val) -> Key {
        Key {
            db,
            key: key.into(),
            expire,
            val,
        }
    }

    fn record(&self) -> Record<'_> {
        fn strs(v: &[Vec<u8>]) -> Vec<&[u8]> {
            v.iter().map(Vec::as_slice).collect()
        }
        Record {
            db: self.db,
            expire: self.expire,
            key: &self.key,
            value: match &self.val {
                Val::Str(s) => ValueRef::Str(s),
                Val::List(v) => ValueRef::List(strs(v)),
                Val::Set(v) => ValueRef::Set(strs(v)),
                Val::Hash(v) => ValueRef::Hash(v.iter().map(|(f, x)| (&f[..], &x[..])).collect()),
                Val::ZSet(v) => ValueRef::ZSet(v.iter().map(|(m, s)| (&m[..], *s)).collect()),
            },
        }
    }

    fn live(&self, now: i64) -> bool {
        self.expire.is_none_or(|t| t > now)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn bytes_list(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}{i:04}").into_bytes())
        .collect()
}

/// Strings only (what the forkv server supports today): ~4600 keys in
/// databases 0, 1 and 5, interleaved so the database changes often, some
/// with a future deadline, some already expired, binary and UTF-8 keys.
fn strings_dataset(now: i64) -> Vec<Key> {
    let mut keys = Vec::new();
    for i in 0..4000 {
        let expire = match i % 50 {
            0 => Some(now - 10_000),
            n if n % 7 == 0 => Some(now + HOUR_MS + i as i64),
            _ => None,
        };
        let value = format!("value-{i}-").repeat(8).into_bytes();
        keys.push(Key::new(0, format!("s:{i:05}"), expire, Val::Str(value)));
        if i % 8 == 0 {
            let j = i / 8;
            let expire = (j % 10 == 3).then_some(now + 2 * HOUR_MS);
            let v = Val::Str(format!("db1-{j}").into_bytes());
            keys.push(Key::new(1, format!("d1:{j}"), expire, v));
        }
    }
    for j in 0..20 {
        keys.push(Key::new(
            5,
            format!("d5:{j}"),
            None,
            Val::Str(vec![b'x'; j]),
        ));
    }
    let binary = Val::Str(b"\x00\x01\xfe\xff\"\\\r\n".to_vec());
    keys.push(Key::new(0, &b"bin:\x00\xff\r\n"[..], None, binary));
    let utf8 = Val::Str("значение ✓".as_bytes().to_vec());
    keys.push(Key::new(0, "ключ:ü", Some(now + HOUR_MS), utf8));
    keys.push(Key::new(0, "empty", None, Val::Str(Vec::new())));
    keys
}

/// Every type, big collections (several RPUSH/SADD/HSET/ZADD chunks),
/// deadlines on collections, plus [`strings_dataset`].
fn all_types_dataset(now: i64) -> Vec<Key> {
    let mut keys = strings_dataset(now);
    let zs = vec![
        (b"neg-inf".to_vec(), f64::NEG_INFINITY),
        (b"a".to_vec(), -2.5),
        (b"zero".to_vec(), 0.0),
        (b"tiny".to_vec(), 1e-7),
        (b"\xffbin".to_vec(), 3.0),
        (b"huge".to_vec(), 1e300),
        (b"inf".to_vec(), f64::INFINITY),
    ];
    let big_zset = (0..600)
        .map(|i| (format!("m{i:04}").into_bytes(), i as f64 / 4.0))
        .collect();
    let hash = vec![
        (b"f1".to_vec(), b"v1".to_vec()),
        (b"\x00field".to_vec(), b"\xffvalue".to_vec()),
        (b"empty".to_vec(), Vec::new()),
    ];
    let big_hash = (0..700)
        .map(|i| {
            (
                format!("f{i:04}").into_bytes(),
                format!("v{i}").into_bytes(),
            )
        })
        .collect();
    let small_list = vec![
        b"x".to_vec(),
        Vec::new(),
        b"\x00\xff".to_vec(),
        b"x".to_vec(),
    ];
    keys.extend([
        Key::new(0, "list:big", None, Val::List(bytes_list("e", 1300))),
        Key::new(0, "list:small", Some(now + HOUR_MS), Val::List(small_list)),
        Key::new(0, "list:gone", Some(now - 1), Val::List(bytes_list("g", 3))),
        Key::new(0, "set:a", None, Val::Set(bytes_list("m", 600))),
        Key::new(
            2,
            "set:b",
            Some(now + HOUR_MS),
            Val::Set(vec![b"\xfe".to_vec()]),
        ),
        Key::new(0, "hash:h", None, Val::Hash(hash)),
        Key::new(2, "hash:big", None, Val::Hash(big_hash)),
        Key::new(0, "zset:z", Some(now + 3 * HOUR_MS), Val::ZSet(zs)),
        Key::new(2, "zset:big", None, Val::ZSet(big_zset)),
        Key::new(1, "d1:after", None, Val::Str(b"last".to_vec())),
    ]);
    keys
}

/// Writes a snapshot of `keys` and returns its bytes.
fn write_snapshot(path: &Path, keys: &[Key]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), CREATED_MS, "forkv test 1.2.3").unwrap();
    for k in keys {
        w.record(&k.record()).unwrap();
    }
    let data = w.finish().unwrap();
    std::fs::write(path, &data).unwrap();
    data
}

/// A temp directory removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        Dir(common::unique_temp_dir("forkv-snapshot-tool"))
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ------------------------------------------------------------------ running the tool

fn tool_bin() -> &'static str {
    env!("CARGO_BIN_EXE_forkv-snapshot")
}

/// Runs the tool; returns (exit code, stdout, stderr).
fn tool(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(tool_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run forkv-snapshot");
    (
        out.status
            .code()
            .expect("exited by signal (panic or crash?)"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Asserts a failure: exit code, exactly one stderr line, containing all of `needles`.
fn assert_fails(r: &(i32, String, String), code: i32, needles: &[&str]) {
    let (c, out, err) = r;
    assert_eq!(*c, code, "stdout: {out}\nstderr: {err}");
    assert_eq!(err.lines().count(), 1, "one-line error expected: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

/// Parses the restore summary into (restored, existing, expired, errors).
fn summary(out: &str) -> (u64, u64, u64, u64) {
    let line = out
        .lines()
        .find(|l| l.starts_with("restored: "))
        .unwrap_or_else(|| panic!("no summary in {out}"));
    let n: Vec<u64> = line
        .split(", ")
        .map(|part| part.rsplit(": ").next().unwrap().parse().unwrap())
        .collect();
    (n[0], n[1], n[2], n[3])
}

/// Real Redis, or `None` (after saying so) when it is not installed.
fn redis(test: &str) -> Option<Server> {
    let s = common::start_redis(&[]);
    if s.is_none() {
        eprintln!("{test}: skipped: redis-server not installed");
    }
    s
}

/// `redis-cli`, or `None` (after saying so) when it is not installed.
fn redis_cli(test: &str) -> Option<PathBuf> {
    let found = common::find_in_path("redis-cli");
    match found {
        None if common::redis_required() => panic!("redis-cli required but not found"),
        None => eprintln!("{test}: skipped: redis-cli not installed"),
        Some(_) => {}
    }
    found
}

// ------------------------------------------------------------------ checking a server

fn query<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&[u8]]) -> T {
    let mut c = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con)
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(args[0])))
}

/// Checks that the server holds exactly the live keys of `keys` (values,
/// deadlines, and per-database counts).
fn assert_server_holds(server: &Server, keys: &[Key], now: i64) {
    let mut con = server.client();
    let dbs: BTreeSet<u32> = keys.iter().map(|k| k.db).collect();
    for db in dbs {
        let _: () = query(&mut con, &[b"SELECT", db.to_string().as_bytes()]);
        let live: Vec<&Key> = keys.iter().filter(|k| k.db == db && k.live(now)).collect();
        let size: usize = query(&mut con, &[b"DBSIZE"]);
        assert_eq!(size, live.len(), "DBSIZE of db {db}");
        for k in live {
            let what = format!("{} in db {db}", common::escape(&k.key));
            match &k.val {
                Val::Str(v) => {
                    let got: Vec<u8> = query(&mut con, &[b"GET", &k.key]);
                    assert_eq!(&got, v, "{what}");
                }
                Val::List(v) => {
                    let got: Vec<Vec<u8>> = query(&mut con, &[b"LRANGE", &k.key, b"0", b"-1"]);
                    assert_eq!(&got, v, "{what}");
                }
                Val::Set(v) => {
                    let got: BTreeSet<Vec<u8>> = query(&mut con, &[b"SMEMBERS", &k.key]);
                    assert_eq!(got, v.iter().cloned().collect(), "{what}");
                }
                Val::Hash(v) => {
                    let flat: Vec<Vec<u8>> = query(&mut con, &[b"HGETALL", &k.key]);
                    let got: BTreeSet<(Vec<u8>, Vec<u8>)> = flat
                        .chunks(2)
                        .map(|c| (c[0].clone(), c[1].clone()))
                        .collect();
                    assert_eq!(got, v.iter().cloned().collect(), "{what}");
                }
                Val::ZSet(v) => {
                    let flat: Vec<Vec<u8>> =
                        query(&mut con, &[b"ZRANGE", &k.key, b"0", b"-1", b"WITHSCORES"]);
                    let got: Vec<(Vec<u8>, f64)> = flat
                        .chunks(2)
                        .map(|c| {
                            let s = String::from_utf8_lossy(&c[1]).parse().unwrap();
                            (c[0].clone(), s)
                        })
                        .collect();
                    assert_eq!(&got, v, "{what}");
                }
            }
            let deadline: i64 = query(&mut con, &[b"PEXPIRETIME", &k.key]);
            assert_eq!(deadline, k.expire.unwrap_or(-1), "deadline of {what}");
        }
    }
}

/// Pipes `dump --format resp` of `file` into `redis-cli --pipe` against `server`.
fn dump_resp_pipe(cli: &Path, file: &Path, server: &Server) {
    let mut dump = Command::new(tool_bin())
        .args(["dump", p(file), "--format", "resp"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new(cli)
        .args(["-p", &server.port.to_string(), "--pipe"])
        .stdin(Stdio::from(dump.stdout.take().unwrap()))
        .output()
        .unwrap();
    assert!(dump.wait().unwrap().success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "redis-cli --pipe: {text}");
    assert!(text.contains("errors: 0"), "redis-cli --pipe: {text}");
}

// ------------------------------------------------------------------ help and verify

#[test]
fn help_for_every_subcommand() {
    for sub in ["verify", "info", "dump", "restore", "salvage"] {
        let (code, out, _) = tool(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub} --help");
        assert!(out.contains("Usage: forkv-snapshot"), "{sub}: {out}");
        assert!(out.contains("Exit status"), "{sub}: {out}");
    }
    let (_, out, _) = tool(&["dump", "--help"]);
    assert!(
        out.contains("base64"),
        "dump --help documents the binary scheme"
    );
    let (code, _, err) = tool(&[]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = tool(&["verify"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn verify_intact_file() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let keys = all_types_dataset(now_ms());
    let data = write_snapshot(&file, &keys);
    let checked = format::check(&data).unwrap();
    assert!(checked.blocks.len() >= 6, "want many blocks");

    let (code, out, err) = tool(&["verify", p(&file)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let want = format!(
        "OK: {} keys in 4 database(s), {} blocks, {} bytes",
        keys.len(),
        checked.blocks.len(),
        data.len()
    );
    assert!(out.contains(&want), "{out}\nwant {want}");

    // An empty snapshot is intact too.
    let empty = dir.path("empty.forkv");
    write_snapshot(&empty, &[]);
    let (code, out, _) = tool(&["verify", p(&empty)]);
    assert_eq!(code, 0);
    assert!(out.contains("OK: 0 keys"), "{out}");
}

#[test]
fn verify_names_offset_and_block_of_a_flipped_byte() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let mut data = write_snapshot(&file, &all_types_dataset(now_ms()));
    let block = format::check(&data).unwrap().blocks[3];
    let offset = block.offset as usize;
    data[offset + format::BLOCK_HEADER_LEN + 100] ^= 0x20;
    std::fs::write(&file, &data).unwrap();

    let r = tool(&["verify", p(&file)]);
    let at = format!("byte offset {offset} (block 3)");
    assert_fails(&r, 1, &["checksum mismatch", &at, "salvage"]);
    // dump, info and restore refuse it with the same message.
    for sub in [
        &["dump"][..],
        &["info"],
        &["restore", "--to", "127.0.0.1:1"],
    ] {
        let mut args = vec![sub[0], p(&file)];
        args.extend(&sub[1..]);
        let r = tool(&args);
        assert_fails(&r, 1, &[&at, "salvage"]);
        assert!(r.1.is_empty(), "{} wrote before refusing: {}", sub[0], r.1);
    }
}

#[test]
fn verify_reports_truncation_bad_magic_newer_version_and_io_errors() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let data = write_snapshot(&file, &strings_dataset(now_ms()));
    let blocks = format::check(&data).unwrap().blocks;
    let case = |name: &str, bytes: &[u8]| {
        let path = dir.path(name);
        std::fs::write(&path, bytes).unwrap();
        tool(&["verify", p(&path)])
    };

    let cut = blocks[2].offset as usize + 1000;
    let r = case("cut.forkv", &data[..cut]);
    assert_fails(&r, 1, &["truncated", "(block 2)", "salvage"]);
    let r = case("cut-footer.forkv", &data[..data.len() - 2]);
    assert_fails(&r, 1, &["truncated"]);
    let r = case("tiny.forkv", &data[..5]);
    assert_fails(&r, 1, &["truncated", "byte offset"]);
    let r = case("empty.forkv", b"");
    assert_fails(&r, 1, &["empty file"]);

    let mut bad = data.clone();
    bad[..8].copy_from_slice(b"REDIS001");
    let r = case("magic.forkv", &bad);
    assert_fails(&r, 1, &["not a forkv snapshot", "byte offset 0"]);
    assert!(!r.2.contains("salvage"), "{}", r.2);

    // A real newer file: the version is bumped and the header checksum
    // recomputed (a bumped version with a stale checksum is damage).
    let mut newer = data.clone();
    let next = forkv::persist::format::VERSION + 1;
    newer[8..12].copy_from_slice(&next.to_le_bytes());
    let hlen = u32::from_le_bytes([newer[12], newer[13], newer[14], newer[15]]) as usize;
    let crc = crc32fast::hash(&newer[..hlen - 4]);
    newer[hlen - 4..hlen].copy_from_slice(&crc.to_le_bytes());
    let r = case("newer.forkv", &newer);
    assert_fails(
        &r,
        1,
        &[&format!("version {next} is newer"), "byte offset 8"],
    );

    let missing = dir.path("missing.forkv");
    let r = tool(&["verify", p(&missing)]);
    assert_fails(&r, 2, &["missing.forkv", "No such file"]);
    let r = tool(&["verify", p(&dir.0)]);
    assert_fails(&r, 2, &["is a directory"]);

    // Arbitrary garbage never panics, whatever the subcommand.
    let mut junk: Vec<u8> = data[..3000].to_vec();
    for (i, b) in junk.iter_mut().enumerate().skip(60) {
        *b = (i * 7 + 3) as u8;
    }
    let path = dir.path("junk.forkv");
    std::fs::write(&path, &junk).unwrap();
    for sub in ["verify", "info", "dump"] {
        let r = tool(&[sub, p(&path)]);
        assert_eq!(r.0, 1, "{sub}: {}", r.2);
    }
}

// ------------------------------------------------------------------ info

#[test]
fn info_reports_counts_and_sizes() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let keys = all_types_dataset(now_ms());
    let data = write_snapshot(&file, &keys);
    let blocks = format::check(&data).unwrap().blocks.len();

    let (code, json, err) = tool(&["info", p(&file), "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json.lines().count(), 1);
    let expires = keys.iter().filter(|k| k.expire.is_some()).count();
    let db0 = keys.iter().filter(|k| k.db == 0).count();
    let db0_exp = keys
        .iter()
        .filter(|k| k.db == 0 && k.expire.is_some())
        .count();
    let db0_str = keys
        .iter()
        .filter(|k| k.db == 0 && matches!(k.val, Val::Str(_)))
        .count();
    let strings = keys.iter().filter(|k| matches!(k.val, Val::Str(_))).count();
    let key_bytes: usize = keys.iter().map(|k| k.key.len()).sum();
    let value_bytes: usize = keys.iter().map(|k| k.record().value.size()).sum();
    let big = keys.iter().max_by_key(|k| k.record().value.size()).unwrap();
    for want in [
        format!("\"file_size\":{}", data.len()),
        format!("\"format_version\":{}", forkv::persist::format::VERSION),
        format!("\"created_ms\":{CREATED_MS}"),
        "\"created\":\"2023-11-14 22:13:20.000 UTC\"".into(),
        "\"server_version\":\"forkv test 1.2.3\"".into(),
        format!("\"blocks\":{blocks}"),
        format!("\"keys\":{},\"expires\":{expires}", keys.len()),
        format!("\"types\":{{\"string\":{strings},\"list\":3,\"set\":2,\"hash\":2,\"zset\":2}}"),
        format!(
            "{{\"db\":0,\"keys\":{db0},\"expires\":{db0_exp},\"types\":{{\"string\":{db0_str},\"list\":3,\"set\":1,\"hash\":1,\"zset\":1}}}}"
        ),
        "{\"db\":2,\"keys\":3,\"expires\":1,".into(),
        "{\"db\":5,\"keys\":20,\"expires\":0,".into(),
        format!("\"key_size\":{{\"total\":{key_bytes},\"largest\":"),
        format!(
            "\"value_size\":{{\"total\":{value_bytes},\"largest\":{},\"largest_key\":\"{}\",\"largest_db\":{}}}",
            big.record().value.size(),
            String::from_utf8_lossy(&big.key),
            big.db
        ),
    ] {
        assert!(json.contains(&want), "info --json lacks {want}\n{json}");
    }

    let (code, text, _) = tool(&["info", p(&file)]);
    assert_eq!(code, 0);
    for want in [
        "created:         2023-11-14 22:13:20.000 UTC (1700000000000 ms)".to_string(),
        "server version:  forkv test 1.2.3".into(),
        format!("keys:            {} ({expires} with expiry)", keys.len()),
        format!("blocks:          {blocks}"),
        "db5:".into(),
        format!(
            "largest {} bytes: key \"{}\" in db {}",
            big.record().value.size(),
            String::from_utf8_lossy(&big.key),
            big.db
        ),
    ] {
        assert!(text.contains(&want), "info lacks {want}\n{text}");
    }
}

// ------------------------------------------------------------------ dump

#[test]
fn dump_json_lines_and_filters() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let now = now_ms();
    let keys = all_types_dataset(now);
    write_snapshot(&file, &keys);

    let (code, out, err) = tool(&["dump", p(&file)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), keys.len());
    let exp = |k: &str| {
        let k = keys.iter().find(|x| x.key == k.as_bytes()).unwrap();
        k.expire.unwrap()
    };
    for want in [
        r#"{"db":0,"key":{"base64":"YmluOgD/DQo="},"type":"string","expire_ms":null,"value":{"base64":"AAH+/yJcDQo="}}"#.to_string(),
        format!(r#"{{"db":0,"key":"ключ:ü","type":"string","expire_ms":{},"value":"значение ✓"}}"#, exp("ключ:ü")),
        r#"{"db":0,"key":"empty","type":"string","expire_ms":null,"value":""}"#.into(),
        format!(r#"{{"db":0,"key":"list:small","type":"list","expire_ms":{},"value":["x","",{{"base64":"AP8="}},"x"]}}"#, exp("list:small")),
        r#"{"db":0,"key":"hash:h","type":"hash","expire_ms":null,"value":[["f1","v1"],["\u0000field",{"base64":"/3ZhbHVl"}],["empty",""]]}"#.into(),
        format!(r#"{{"db":0,"key":"zset:z","type":"zset","expire_ms":{},"value":[["neg-inf","-inf"],["a",-2.5],["zero",0.0],["tiny",1e-7],[{{"base64":"/2Jpbg=="}},3.0],["huge",1e300],["inf","inf"]]}}"#, exp("zset:z")),
        r#"{"db":2,"key":"set:b","type":"set","expire_ms":"#.into(),
        r#"{"db":1,"key":"d1:after","type":"string","expire_ms":null,"value":"last"}"#.into(),
    ] {
        assert!(out.lines().any(|l| l.starts_with(&want)), "dump lacks {want}");
    }

    let (_, out, _) = tool(&["dump", p(&file), "--db", "1"]);
    let db1 = keys.iter().filter(|k| k.db == 1).count();
    assert_eq!(out.lines().count(), db1);
    assert!(out.lines().all(|l| l.starts_with(r#"{"db":1,"#)));

    let (_, out, _) = tool(&["dump", p(&file), "--match", "s:0001?"]);
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), 10, "{out}");
    assert!(got.iter().all(|l| l.contains(r#""key":"s:0001"#)));

    let (_, out, _) = tool(&["dump", p(&file), "--db", "2", "--match", "*big"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (_, out, _) = tool(&["dump", p(&file), "--match", "*"]);
    assert_eq!(out.lines().count(), keys.len());
    let (_, out, _) = tool(&["dump", p(&file), "--db", "7"]);
    assert!(out.is_empty());
}

#[test]
fn dump_resp_through_redis_cli_into_forkv() {
    let Some(cli) = redis_cli("dump_resp_through_redis_cli_into_forkv") else {
        return;
    };
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let now = now_ms();
    let keys = strings_dataset(now);
    write_snapshot(&file, &keys);
    let server = common::start(&[]);
    dump_resp_pipe(&cli, &file, &server);
    assert_server_holds(&server, &keys, now);
}

#[test]
fn dump_resp_through_redis_cli_into_redis() {
    let Some(cli) = redis_cli("dump_resp_through_redis_cli_into_redis") else {
        return;
    };
    let Some(server) = redis("dump_resp_through_redis_cli_into_redis") else {
        return;
    };
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let now = now_ms();
    let keys = all_types_dataset(now);
    write_snapshot(&file, &keys);
    dump_resp_pipe(&cli, &file, &server);
    assert_server_holds(&server, &keys, now);
    // Loading twice changes nothing: collections are replaced, not appended to.
    dump_resp_pipe(&cli, &file, &server);
    assert_server_holds(&server, &keys, now);
}

// ------------------------------------------------------------------ restore

/// Restores `keys` (in `file`) into `server` three times: over one
/// pre-existing key of each kind in `clash` (skipped), again (everything
/// skipped), and with --replace (everything written).
fn restore_three_ways(server: &Server, file: &Path, keys: &[Key], clash: &[&str], now: i64) {
    let live = keys.iter().filter(|k| k.live(now)).count() as u64;
    let expired = keys.len() as u64 - live;
    let mut con = server.client();
    for k in clash {
        let _: () = query(&mut con, &[b"SET", k.as_bytes(), b"other"]);
    }
    let to = server.addr();
    let restore = |extra: &[&str]| {
        let mut args = vec!["restore", p(file), "--to", &to];
        args.extend(extra);
        let (code, out, err) = tool(&args);
        assert_eq!(code, 0, "{out}\n{err}");
        summary(&out)
    };

    let n = clash.len() as u64;
    assert_eq!(restore(&[]), (live - n, n, expired, 0));
    for k in clash {
        let v: Vec<u8> = query(&mut con, &[b"GET", k.as_bytes()]);
        assert_eq!(v, b"other", "{k} was overwritten without --replace");
    }
    assert_eq!(restore(&[]), (0, live, expired, 0));
    assert_eq!(restore(&["--replace"]), (live, 0, expired, 0));
    assert_server_holds(server, keys, now);
}

#[test]
fn restore_strings_into_forkv() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let now = now_ms();
    let keys = strings_dataset(now);
    write_snapshot(&file, &keys);
    let server = common::start(&[]);
    restore_three_ways(&server, &file, &keys, &["s:00003"], now);
}

#[test]
fn restore_all_types_into_redis() {
    let Some(server) = redis("restore_all_types_into_redis") else {
        return;
    };
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let now = now_ms();
    let keys = all_types_dataset(now);
    write_snapshot(&file, &keys);
    restore_three_ways(&server, &file, &keys, &["s:00003", "set:a", "zset:z"], now);
}

#[test]
fn restore_one_db_with_a_password() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let now = now_ms();
    let keys = strings_dataset(now);
    write_snapshot(&file, &keys);
    let server = common::start(&["--requirepass", "sesame"]);
    let to = server.addr();
    let f = p(&file);

    let r = tool(&["restore", f, "--to", &to]);
    assert_fails(&r, 2, &["NOAUTH"]);
    let r = tool(&["restore", f, "--to", &to, "--password", "wrong"]);
    assert_fails(&r, 2, &["AUTH failed"]);

    let (code, out, err) = tool(&[
        "restore",
        f,
        "--to",
        &to,
        "--password",
        "sesame",
        "--db",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    let db1 = keys.iter().filter(|k| k.db == 1).count() as u64;
    assert_eq!(summary(&out), (db1, 0, 0, 0));
    let mut con = server.client();
    let _: () = query(&mut con, &[b"AUTH", b"sesame"]);
    let size: u64 = query(&mut con, &[b"DBSIZE"]);
    assert_eq!(size, 0, "db 0 untouched");
    let _: () = query(&mut con, &[b"SELECT", b"1"]);
    let size: u64 = query(&mut con, &[b"DBSIZE"]);
    assert_eq!(size, db1);
}

#[test]
fn restore_fails_on_server_errors_and_connection_failure() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let now = now_ms();
    // forkv has no lists yet: RPUSH is refused, which must fail the run.
    let keys = vec![
        Key::new(0, "a", None, Val::Str(b"1".to_vec())),
        Key::new(0, "l", None, Val::List(vec![b"x".to_vec()])),
        Key::new(0, "old", Some(now - 5), Val::Str(b"2".to_vec())),
    ];
    write_snapshot(&file, &keys);
    let server = common::start(&[]);
    let has_lists = {
        let mut c = server.raw_conn();
        !common::cmd_str(&mut c, &["RPUSH", "probe", "x"]).starts_with(b"-")
    };
    if !has_lists {
        let (code, out, err) = tool(&["restore", p(&file), "--to", &server.addr()]);
        assert_eq!(code, 1, "{out}\n{err}");
        assert_eq!(summary(&out), (1, 0, 1, 1));
        assert!(err.contains("key \"l\" (db 0)"), "{err}");
    }

    let port = common::free_port();
    let r = tool(&["restore", p(&file), "--to", &format!("127.0.0.1:{port}")]);
    assert_fails(&r, 2, &["cannot connect"]);
}

// ------------------------------------------------------------------ salvage

/// The (db, key) pairs of every record of each block of a valid file.
fn keys_by_block(data: &[u8]) -> Vec<Vec<(u32, Vec<u8>)>> {
    format::check(data)
        .unwrap()
        .blocks
        .iter()
        .map(|b| {
            format::decode_records(b)
                .unwrap()
                .iter()
                .map(|r| (r.db, r.key.to_vec()))
                .collect()
        })
        .collect()
}

/// Byte offsets of the blocks of a valid file.
fn block_offsets(data: &[u8]) -> Vec<usize> {
    let checked = format::check(data).unwrap();
    checked.blocks.iter().map(|b| b.offset as usize).collect()
}

/// Verifies `out` with the tool and returns its keys.
fn verified_keys(out: &Path) -> BTreeSet<(u32, Vec<u8>)> {
    let (code, text, err) = tool(&["verify", p(out)]);
    assert_eq!(code, 0, "salvaged file does not verify: {text}{err}");
    keys_by_block(&std::fs::read(out).unwrap())
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn salvage_recovers_every_block_but_the_damaged_one() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let out = dir.path("saved.forkv");
    let mut data = write_snapshot(&file, &all_types_dataset(now_ms()));
    let by_block = keys_by_block(&data);
    let offsets = block_offsets(&data);
    let (start, end) = (offsets[2], offsets[3]);
    data[start + 500] ^= 0x01;
    std::fs::write(&file, &data).unwrap();

    let (code, text, err) = tool(&["salvage", p(&file), "-o", p(&out)]);
    // Records were lost: exit 1, one line on stderr, OUT written.
    assert_eq!(code, 1, "{text}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("records were lost"), "{err}");
    let lost = by_block[2].len();
    assert!(
        text.contains(&format!(
            "lost block 2 ({lost} records by its header): bytes {start}..{end}: checksum mismatch"
        )),
        "{text}"
    );
    let total: usize = by_block.iter().map(|b| b.len()).sum();
    let want: BTreeSet<_> = by_block
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .flat_map(|(_, k)| k.iter().cloned())
        .collect();
    assert!(
        text.contains(&format!(
            "recovered {} of {total} records from {} of {} blocks into {}; LOST {lost} records (by the footer's count)",
            want.len(),
            by_block.len() - 1,
            by_block.len(),
            p(&out)
        )),
        "{text}"
    );
    assert_eq!(verified_keys(&out), want);
    let header = format::decode_header(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(header.created_ms, CREATED_MS);

    // Two damaged blocks side by side are one region naming both.
    data[offsets[3]] = b'X';
    std::fs::write(&file, &data).unwrap();
    let (code, text, _) = tool(&["salvage", p(&file), "-o", p(&out)]);
    assert_eq!(code, 1);
    let end = offsets[4];
    // Block 3's header is gone, so the records come from the footer only.
    let lost = by_block[2].len() + by_block[3].len();
    assert!(
        text.contains(&format!(
            "lost blocks 2..=3 (records unknown): bytes {start}..{end}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("LOST {lost} records (by the footer's count)")),
        "{text}"
    );
}

#[test]
fn salvage_of_a_sound_file_with_bytes_appended_loses_nothing() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let out = dir.path("saved.forkv");
    let data = write_snapshot(&file, &all_types_dataset(now_ms()));
    let by_block = keys_by_block(&data);
    let all: BTreeSet<_> = by_block.iter().flatten().cloned().collect();
    let len = data.len();
    // Plain junk, and junk that looks like the start of a block.
    for junk in [&b"garbagegarbage"[..], b"FBLK\x07\x00\x00\x00junk"] {
        let mut d = data.clone();
        d.extend_from_slice(junk);
        std::fs::write(&file, &d).unwrap();
        let _ = std::fs::remove_file(&out);
        // The file is damaged (verify says so) but no record is lost.
        let (code, _, err) = tool(&["verify", p(&file)]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("trailing bytes after the footer"), "{err}");
        let (code, text, err) = tool(&["salvage", p(&file), "-o", p(&out)]);
        assert_eq!(code, 0, "{text}{err}");
        assert!(err.is_empty(), "{err}");
        assert_eq!(
            text,
            format!(
                "nothing lost: bytes {len}..end of file: {} bytes after the footer, not part of the snapshot (ignored)\n\
                 recovered {} records from {} blocks into {}; nothing lost\n",
                junk.len(),
                all.len(),
                by_block.len(),
                p(&out)
            )
        );
        assert!(!text.contains("lost block"), "{text}");
        assert_eq!(verified_keys(&out), all);
    }

    // Damage in the middle as well: that block is lost, the tail ignored.
    let offsets = block_offsets(&data);
    let mut d = data.clone();
    d[offsets[1] + 100] ^= 0x40;
    d.extend_from_slice(b"junk");
    std::fs::write(&file, &d).unwrap();
    let (code, text, err) = tool(&["salvage", p(&file), "-o", p(&out)]);
    assert_eq!(code, 1, "{text}{err}");
    let n1 = by_block[1].len();
    assert!(
        text.contains(&format!(
            "lost block 1 ({n1} records by its header): bytes {}..{}",
            offsets[1], offsets[2]
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "nothing lost: bytes {len}..end of file: 4 bytes after the footer"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("LOST {n1} records (by the footer's count)")),
        "{text}"
    );
}

#[test]
fn salvage_survives_damaged_header_footer_and_truncation() {
    let dir = Dir::new();
    let file = dir.path("dump.forkv");
    let out = dir.path("saved.forkv");
    let data = write_snapshot(&file, &strings_dataset(now_ms()));
    let by_block = keys_by_block(&data);
    let all: BTreeSet<_> = by_block.iter().flatten().cloned().collect();
    let offsets = block_offsets(&data);
    let salvage = |bytes: &[u8]| {
        std::fs::write(&file, bytes).unwrap();
        let _ = std::fs::remove_file(&out);
        tool(&["salvage", p(&file), "-o", p(&out)])
    };

    // Intact: everything, nothing lost.
    let (code, text, _) = salvage(&data);
    assert_eq!(code, 0);
    assert!(text.contains("nothing lost"), "{text}");
    assert_eq!(verified_keys(&out), all);

    // Header damaged: every record, creation time unknown.
    let mut d = data.clone();
    d[18] ^= 0xff;
    let (code, text, _) = salvage(&d);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("header unreadable"), "{text}");
    assert!(text.contains("nothing lost: bytes 0.."), "{text}");
    assert!(text.ends_with("; nothing lost\n"), "{text}");
    assert_eq!(verified_keys(&out), all);

    // Footer damaged: every record, the footer reported.
    let mut d = data.clone();
    let n = d.len();
    d[n - 10] ^= 0x01;
    let (code, text, _) = salvage(&d);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("footer damaged (whole-file checksum"),
        "{text}"
    );
    assert!(text.ends_with("; nothing lost\n"), "{text}");
    assert_eq!(verified_keys(&out), all);

    // Cut inside the footer: every block was written before it.
    let footer_at = data.len() - 30;
    let (code, text, _) = salvage(&data[..footer_at]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("every block before it is intact"), "{text}");
    assert!(text.ends_with("; nothing lost\n"), "{text}");
    assert_eq!(verified_keys(&out), all);

    // Cut inside the last block: all but that block, whose header still
    // says how many records it had; how many blocks followed is unknown.
    let last = offsets.len() - 1;
    let (code, text, err) = salvage(&data[..offsets[last] + 50]);
    assert_eq!(code, 1, "{text}");
    assert!(err.contains("records were lost"), "{err}");
    assert!(
        text.contains(&format!(
            "lost block {last} ({} records by its header) and any blocks after it (no footer, so how many is unknown): bytes {}..end of file",
            by_block[last].len(),
            offsets[last]
        )),
        "{text}"
    );
    let want: BTreeSet<_> = by_block[..last].iter().flatten().cloned().collect();
    assert_eq!(verified_keys(&out), want);

    // Cut exactly between blocks: whether more followed is unknown.
    let (code, text, err) = salvage(&data[..offsets[last]]);
    assert_eq!(code, 1, "{text}");
    assert!(err.contains("records may have been lost"), "{err}");
    assert!(
        text.contains(&format!(
            "possibly lost: blocks from {last} on, if there were any: the file ends at byte {} without a footer",
            offsets[last]
        )),
        "{text}"
    );
    assert_eq!(verified_keys(&out), want);

    // Nothing usable: exit 1 and no output file.
    let (code, text, err) = salvage(&data[..40]);
    assert_eq!(code, 1, "{text}{err}");
    assert!(err.contains("nothing could be recovered"), "{err}");
    assert!(!out.exists());

    // OUT must not be the input.
    std::fs::write(&file, &data).unwrap();
    let r = tool(&["salvage", p(&file), "-o", p(&file)]);
    assert_fails(&r, 2, &["different file"]);
    assert_eq!(std::fs::read(&file).unwrap(), data);
}
