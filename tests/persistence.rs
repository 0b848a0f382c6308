//! Snapshots through the real server: BGSAVE/SAVE round trips, one
//! consistent instant under concurrent writes, failure paths that must lose
//! nothing (fork failure, killed child, full disk, killed server), damaged
//! files refused at startup, the one-thread guard, and signals. Every fork
//! happens inside the spawned server process.

mod common;

use common::{Server, cmd, start};
use forkv::persist::format::{self, ValueRef};
use redis::Commands;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn info(server: &Server, section: &str) -> HashMap<String, String> {
    let mut c = server.client();
    let text: String = redis::cmd("INFO").arg(section).query(&mut c).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn field(server: &Server, section: &str, name: &str) -> String {
    info(server, section)
        .remove(name)
        .unwrap_or_else(|| panic!("no {name} in INFO {section}"))
}

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_bgsave_done(server: &Server) {
    wait_for("bgsave to finish", Duration::from_secs(60), || {
        field(server, "persistence", "rdb_bgsave_in_progress") == "0"
    });
}

fn snapshot(server: &Server) -> PathBuf {
    server.dir.join("dump.forkv")
}

/// One string key of a snapshot: db, deadline, key, value.
type Rec = (u32, Option<i64>, Vec<u8>, Vec<u8>);

/// All records of a snapshot file, decoded with the shared decoder.
fn read_snapshot(path: &Path) -> Vec<Rec> {
    let data = std::fs::read(path).unwrap();
    let checked = format::check(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for b in &checked.blocks {
        for r in format::decode_records(b).unwrap() {
            let ValueRef::Str(v) = r.value else {
                panic!("unexpected type")
            };
            out.push((r.db, r.expire, r.key.to_vec(), v.to_vec()));
        }
    }
    out
}

/// Key and string value of one `forkv-snapshot dump --format json` line
/// (the test's keys and values are plain ASCII without escapes).
fn json_key_value(line: &str) -> (Vec<u8>, Vec<u8>) {
    let field = |name: &str| {
        let start = line
            .find(&format!("\"{name}\":\""))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            + name.len()
            + 4;
        let end = start + line[start..].find('"').unwrap();
        line.as_bytes()[start..end].to_vec()
    };
    (field("key"), field("value"))
}

/// Starts forkv in `dir` (kept across restarts) with extra arguments.
fn start_in(dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    // The harness's own temp dir keeps the log; `dir` holds the data.
    start(&args)
}

/// `AnonHugePages` of the process, in KiB.
fn anon_huge_kib(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("AnonHugePages:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn only_the_loaded_bucket_array_uses_huge_pages() {
    let mode =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let splits_on_cow = (v.next().unwrap(), v.next().unwrap()) >= (5, 8);
    let server = start(&[]);
    let mut c = server.client();
    // 300,000 keys: a 4 MiB bucket array, about 30 MB of entries. Growing
    // while serving stays on small pages.
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(300_000)
        .query(&mut c)
        .unwrap();
    assert_eq!(anon_huge_kib(server.pid()), 0);
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    let dir = server.kill_keeping_dir();
    let server = start_in(&dir, &[]);
    let mut c = server.client();
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 300_000);
    let huge = anon_huge_kib(server.pid());
    if splits_on_cow && (mode.contains("[madvise]") || mode.contains("[always]")) {
        // The array sized by the loader, not the heap.
        assert!((2048..=4096).contains(&huge), "AnonHugePages {huge} kB");
    } else {
        assert_eq!(huge, 0, "no huge pages expected here");
    }
}

fn child_pids(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn kill(pid: u32, sig: &str) {
    assert!(
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn bgsave_round_trip_across_restart() {
    let server = start(&[]);
    let mut c = server.client();
    let _: () = c.set("plain", "v").unwrap();
    let _: () = c
        .set(b"bin\x00key".as_slice(), b"\x00\xff\r\n".as_slice())
        .unwrap();
    let _: () = c.set_ex("ttl", "t", 1000).unwrap();
    // Long enough to be in the snapshot even on a loaded machine, expired
    // by the time the server restarts.
    let gone_set = std::time::Instant::now();
    let _: () = redis::cmd("SET")
        .arg("gone")
        .arg("x")
        .arg("PX")
        .arg(3000)
        .query(&mut c)
        .unwrap();
    let big = vec![b'z'; 200_000];
    let _: () = c.set("big", &big).unwrap();
    let _: () = redis::cmd("SELECT").arg(5).query(&mut c).unwrap();
    let _: () = c.set("in5", "five").unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(50_000)
        .query(&mut c)
        .unwrap();
    let r: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(r, "Background saving started");
    wait_bgsave_done(&server);
    assert_eq!(
        field(&server, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    assert_eq!(field(&server, "persistence", "rdb_saves"), "1");
    // 0, or 1 if the 3 s key already expired (an expiry is a change).
    let changes: u64 = field(&server, "persistence", "rdb_changes_since_last_save")
        .parse()
        .unwrap();
    assert!(changes <= 1, "{changes}");
    assert_eq!(field(&server, "stats", "total_forks"), "1");
    assert!(
        field(&server, "stats", "latest_fork_usec")
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let recs = read_snapshot(&snapshot(&server));
    assert_eq!(recs.len(), 50_006);
    drop(c);
    std::thread::sleep(Duration::from_millis(3100).saturating_sub(gone_set.elapsed()));
    // Restart on the same directory: everything but the expired key is back.
    let dir = server.kill_keeping_dir();
    let server = start_in(&dir, &[]);
    let mut c = server.client();
    assert_eq!(c.get::<_, String>("plain").unwrap(), "v");
    assert_eq!(
        c.get::<_, Vec<u8>>(b"bin\x00key".as_slice()).unwrap(),
        b"\x00\xff\r\n"
    );
    let ttl: i64 = c.ttl("ttl").unwrap();
    assert!((990..=1000).contains(&ttl), "{ttl}");
    assert!(!c.exists::<_, bool>("gone").unwrap());
    assert_eq!(c.get::<_, Vec<u8>>("big").unwrap(), big);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 50_004);
    let _: () = redis::cmd("SELECT").arg(5).query(&mut c).unwrap();
    assert_eq!(c.get::<_, String>("in5").unwrap(), "five");
    let p = info(&server, "persistence");
    assert_eq!(p["rdb_last_load_keys_loaded"], "50005");
    assert_eq!(p["rdb_last_load_keys_expired"], "1");
    assert!(
        server
            .log()
            .contains("DB loaded from disk: 50005 keys loaded, 1 expired keys skipped"),
        "{}",
        server.log()
    );
}

#[test]
fn save_and_debug_reload() {
    let server = start(&[]);
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"SET", b"a", b"1"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"SAVE"]), b"+OK\r\n");
    assert!(snapshot(&server).exists());
    assert_eq!(cmd(&mut c, &[b"SET", b"b", b"2"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"DEBUG", b"RELOAD"]), b"+OK\r\n");
    assert_eq!(
        cmd(&mut c, &[b"MGET", b"a", b"b"]),
        b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
    let lastsave = String::from_utf8(cmd(&mut c, &[b"LASTSAVE"])).unwrap();
    let t: i64 = lastsave.trim_start_matches(':').trim().parse().unwrap();
    assert!((forkv::db::now_ms() / 1000 - t).abs() < 5);
    assert_eq!(
        cmd(&mut c, &[b"BGSAVE", b"nonsense"]),
        b"-ERR syntax error\r\n"
    );
    assert_eq!(
        cmd(&mut c, &[b"BGSAVE", b"CANCEL"]),
        &b"-ERR Background saving is currently not in progress or scheduled\r\n"[..]
    );
}

/// Writers keep `a:i == b:i` and `last == max(a:*)` with every MSET, and
/// bump counters; back-to-back BGSAVEs must each capture one instant.
#[test]
fn every_snapshot_is_one_consistent_instant() {
    let server = start(&[]);
    let mut setup = server.client();
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(200_000)
        .arg("filler")
        .query(&mut setup)
        .unwrap();
    let port = server.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
                let mut c = client.get_connection().unwrap();
                let mut v: u64 = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut p = redis::pipe();
                    for _ in 0..50 {
                        v += 1;
                        let i = (v * 7 + w) % 1000;
                        let val = format!("{w}:{v:012}");
                        p.cmd("MSET")
                            .arg(format!("a:{w}:{i}"))
                            .arg(&val)
                            .arg(format!("b:{w}:{i}"))
                            .arg(&val)
                            .arg(format!("last:{w}"))
                            .arg(&val)
                            .ignore();
                        p.cmd("INCR").arg(format!("count:{w}")).ignore();
                    }
                    let _: () = p.query(&mut c).unwrap();
                }
            })
        })
        .collect();
    // A third writer moves elements between collections of every type with
    // single commands, so each snapshot must show conserved totals.
    let mut prep = server.client();
    for i in 0..100 {
        let _: () = redis::cmd("RPUSH")
            .arg("list:a")
            .arg(i)
            .query(&mut prep)
            .unwrap();
        let _: () = redis::cmd("SADD")
            .arg("set:a")
            .arg(format!("m{i}"))
            .query(&mut prep)
            .unwrap();
    }
    let collections = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let mut c = client.get_connection().unwrap();
            let mut v: u64 = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut p = redis::pipe();
                for _ in 0..20 {
                    v += 1;
                    let (from, to) = if v.is_multiple_of(3) {
                        ("b", "a")
                    } else {
                        ("a", "b")
                    };
                    p.cmd("LMOVE")
                        .arg(format!("list:{from}"))
                        .arg(format!("list:{to}"))
                        .arg("LEFT")
                        .arg("RIGHT")
                        .ignore();
                    p.cmd("SMOVE")
                        .arg(format!("set:{from}"))
                        .arg(format!("set:{to}"))
                        .arg(format!("m{}", v % 100))
                        .ignore();
                    let i = v % 50;
                    p.cmd("HSET")
                        .arg("hash")
                        .arg(format!("x{i}"))
                        .arg(v)
                        .arg(format!("y{i}"))
                        .arg(v)
                        .ignore();
                    p.cmd("ZADD")
                        .arg("zset")
                        .arg(v)
                        .arg(format!("x{i}"))
                        .arg(v)
                        .arg(format!("y{i}"))
                        .ignore();
                }
                let _: () = p.query(&mut c).unwrap();
            }
        })
    };
    let mut c = server.client();
    let mut files = Vec::new();
    for n in 0..6 {
        let _: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
        wait_bgsave_done(&server);
        assert_eq!(
            field(&server, "persistence", "rdb_last_bgsave_status"),
            "ok"
        );
        let copy = server.dir.join(format!("snap-{n}.forkv"));
        std::fs::copy(snapshot(&server), &copy).unwrap();
        files.push(copy);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    collections.join().unwrap();
    // The key count at each fork, as logged by the parent.
    let log = server.log();
    let forked: Vec<u64> = log
        .lines()
        .filter_map(|l| l.split("Background saving started by pid ").nth(1))
        .map(|rest| {
            rest.split(", ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(forked.len(), 6, "{log}");
    let mut prev_last = [String::new(), String::new()];
    let tool = env!("CARGO_BIN_EXE_forkv-snapshot");
    for (n, f) in files.iter().enumerate() {
        // Each file goes through the operator's tool: verify, then dump.
        let v = Command::new(tool).arg("verify").arg(f).output().unwrap();
        assert!(
            v.status.success(),
            "verify {n}: {}",
            String::from_utf8_lossy(&v.stderr)
        );
        let out = Command::new(tool)
            .args(["dump", "--format", "json"])
            .arg(f)
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            text.lines().count() as u64,
            forked[n],
            "snapshot {n} holds the keys present at its fork"
        );
        let map: HashMap<Vec<u8>, Vec<u8>> = text
            .lines()
            .filter(|l| l.contains("\"type\":\"string\""))
            .map(json_key_value)
            .collect();
        check_collections(f, n);
        for (w, prev) in prev_last.iter_mut().enumerate() {
            let mut max_a = String::new();
            for i in 0..1000 {
                let a = map.get(format!("a:{w}:{i}").as_bytes());
                let b = map.get(format!("b:{w}:{i}").as_bytes());
                assert_eq!(a, b, "snapshot {n}: a:{w}:{i} and b:{w}:{i} differ");
                if let Some(a) = a {
                    max_a = max_a.max(String::from_utf8(a.clone()).unwrap());
                }
            }
            let last = map
                .get(format!("last:{w}").as_bytes())
                .map(|v| String::from_utf8(v.clone()).unwrap())
                .unwrap_or_default();
            assert_eq!(
                last, max_a,
                "snapshot {n}: last:{w} is not the newest write"
            );
            assert!(last >= *prev, "snapshots go forward in time");
            *prev = last;
        }
    }
}

/// The collection invariants of the consistency test, read with the shared
/// decoder: totals conserved by LMOVE/SMOVE, and the pairs written by one
/// HSET or ZADD equal.
fn check_collections(path: &Path, n: usize) {
    let data = std::fs::read(path).unwrap();
    let checked = format::check(&data).unwrap();
    let (mut list_total, mut set_total) = (0, 0);
    for b in &checked.blocks {
        for r in format::decode_records(b).unwrap() {
            match (r.key, r.value) {
                (b"list:a" | b"list:b", ValueRef::List(v)) => list_total += v.len(),
                (b"set:a" | b"set:b", ValueRef::Set(v)) => set_total += v.len(),
                (b"hash", ValueRef::Hash(pairs)) => {
                    let m: HashMap<&[u8], &[u8]> = pairs.into_iter().collect();
                    for i in 0..50 {
                        let x = m.get(format!("x{i}").as_bytes());
                        let y = m.get(format!("y{i}").as_bytes());
                        assert_eq!(x, y, "snapshot {n}: hash fields x{i} and y{i} differ");
                    }
                }
                (b"zset", ValueRef::ZSet(pairs)) => {
                    let m: HashMap<&[u8], f64> = pairs.into_iter().collect();
                    for i in 0..50 {
                        let x = m.get(format!("x{i}").as_bytes());
                        let y = m.get(format!("y{i}").as_bytes());
                        assert_eq!(x, y, "snapshot {n}: zset scores of x{i} and y{i} differ");
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        list_total, 100,
        "snapshot {n}: LMOVE lost or duplicated an element"
    );
    assert_eq!(
        set_total, 100,
        "snapshot {n}: SMOVE lost or duplicated a member"
    );
}

#[test]
fn fork_failure_keeps_serving_and_refuses_writes_until_a_save_succeeds() {
    let server = start(&["--save", "3600 1"]);
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"DEBUG", b"FORK-FAIL", b"1"]), b"+OK\r\n");
    let r = String::from_utf8(cmd(&mut c, &[b"BGSAVE"])).unwrap();
    assert!(r.starts_with("-ERR Background save failed: fork"), "{r}");
    assert_eq!(
        field(&server, "persistence", "rdb_last_bgsave_status"),
        "err"
    );
    let misconf = cmd(&mut c, &[b"SET", b"k", b"w"]);
    assert!(
        misconf.starts_with(b"-MISCONF Redis is configured to save RDB snapshots"),
        "{}",
        String::from_utf8_lossy(&misconf)
    );
    assert!(cmd(&mut c, &[b"PING"]).starts_with(b"-MISCONF"));
    assert_eq!(cmd(&mut c, &[b"GET", b"k"]), b"$1\r\nv\r\n", "reads go on");
    assert_eq!(cmd(&mut c, &[b"BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave_done(&server);
    assert_eq!(
        field(&server, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    assert_eq!(cmd(&mut c, &[b"SET", b"k", b"w"]), b"+OK\r\n");
}

#[test]
fn killed_child_loses_nothing() {
    let server = start(&[]);
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"SET", b"marker", b"first"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"SAVE"]), b"+OK\r\n");
    let before = std::fs::read(snapshot(&server)).unwrap();
    assert_eq!(
        cmd(&mut c, &[b"DEBUG", b"POPULATE", b"400000", b"k", b"1000"]),
        b"+OK\r\n"
    );
    assert_eq!(cmd(&mut c, &[b"BGSAVE"]), b"+Background saving started\r\n");
    let mut child = 0;
    wait_for("the save child", Duration::from_secs(5), || {
        child = child_pids(server.pid()).first().copied().unwrap_or(0);
        child != 0
    });
    // Let it write part of the temp file, then kill it.
    wait_for("a partial temp file", Duration::from_secs(10), || {
        std::fs::metadata(server.dir.join(format!("temp-{child}.forkv")))
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    });
    kill(child, "KILL");
    wait_bgsave_done(&server);
    assert_eq!(
        field(&server, "persistence", "rdb_last_bgsave_status"),
        "err"
    );
    assert!(
        !server.dir.join(format!("temp-{child}.forkv")).exists(),
        "temp file removed"
    );
    assert_eq!(
        std::fs::read(snapshot(&server)).unwrap(),
        before,
        "previous snapshot untouched"
    );
    assert_eq!(read_snapshot(&snapshot(&server)).len(), 1);
    // The next save succeeds.
    assert_eq!(cmd(&mut c, &[b"BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave_done(&server);
    assert_eq!(
        field(&server, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    assert_eq!(read_snapshot(&snapshot(&server)).len(), 400_001);
}

#[test]
fn bgsave_cancel_and_schedule() {
    let server = start(&[]);
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"SET", b"marker", b"first"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"SAVE"]), b"+OK\r\n");
    let before = std::fs::read(snapshot(&server)).unwrap();
    assert_eq!(
        cmd(&mut c, &[b"DEBUG", b"POPULATE", b"400000", b"k", b"1000"]),
        b"+OK\r\n"
    );
    assert_eq!(cmd(&mut c, &[b"BGSAVE"]), b"+Background saving started\r\n");
    assert_eq!(
        cmd(&mut c, &[b"BGSAVE"]),
        b"-ERR Background save already in progress\r\n"
    );
    assert_eq!(
        cmd(&mut c, &[b"BGSAVE", b"SCHEDULE"]),
        b"+Background saving scheduled\r\n"
    );
    assert_eq!(
        cmd(&mut c, &[b"BGSAVE", b"CANCEL"]),
        b"+Background saving cancelled\r\n"
    );
    wait_bgsave_done(&server);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        field(&server, "persistence", "rdb_bgsave_in_progress"),
        "0",
        "cancel also drops the scheduled save"
    );
    assert_eq!(
        field(&server, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    assert_eq!(std::fs::read(snapshot(&server)).unwrap(), before);
    let temps: Vec<_> = std::fs::read_dir(&server.dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
    // SCHEDULE runs after the current save.
    assert_eq!(cmd(&mut c, &[b"BGSAVE"]), b"+Background saving started\r\n");
    assert_eq!(
        cmd(&mut c, &[b"BGSAVE", b"SCHEDULE"]),
        b"+Background saving scheduled\r\n"
    );
    wait_for("two saves", Duration::from_secs(120), || {
        field(&server, "persistence", "rdb_saves") == "3"
    });
}

/// A 2 MB data directory for the full-disk test: a real tmpfs when this
/// process may mount one (root), otherwise a 2 MB file-size limit on the
/// server, which fails the same writes with EFBIG instead of ENOSPC.
struct SmallDisk {
    dir: PathBuf,
    mounted: bool,
}

impl SmallDisk {
    fn new() -> SmallDisk {
        let dir = common::unique_temp_dir("forkv-smalldisk");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        SmallDisk { dir, mounted }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.dir).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn full_disk_keeps_previous_snapshot() {
    let disk = SmallDisk::new();
    let data = disk.dir.clone();
    let port = common::free_port();
    let logdir = common::unique_temp_dir("forkv-smalldisk-log");
    let log = std::fs::File::create(logdir.join("server.log")).unwrap();
    let limit = if disk.mounted { "" } else { "ulimit -f 2048; " };
    eprintln!(
        "full disk simulated with {}",
        if disk.mounted {
            "a 2 MB tmpfs"
        } else {
            "RLIMIT_FSIZE"
        }
    );
    // `exec` makes the shell become the server, so the child is the server.
    let child = Command::new("bash")
        .arg("-c")
        .arg(format!("{limit}exec \"$0\" \"$@\""))
        .arg(common::forkv_bin())
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            data.to_str().unwrap(),
            "--save",
            "",
            "--enable-debug-command",
            "yes",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server {
        port,
        child,
        dir: logdir,
    };
    wait_for("server", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"DEBUG", b"POPULATE", b"1000"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave_done(&server);
    assert_eq!(
        field(&server, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    let before = std::fs::read(data.join("dump.forkv")).unwrap();
    assert_eq!(
        cmd(&mut c, &[b"DEBUG", b"POPULATE", b"100000", b"big", b"100"]),
        b"+OK\r\n"
    );
    assert_eq!(cmd(&mut c, &[b"BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave_done(&server);
    assert_eq!(
        field(&server, "persistence", "rdb_last_bgsave_status"),
        "err"
    );
    assert!(
        server.log().contains("Background saving error"),
        "{}",
        server.log()
    );
    assert_eq!(
        std::fs::read(data.join("dump.forkv")).unwrap(),
        before,
        "previous snapshot intact"
    );
    assert_eq!(read_snapshot(&data.join("dump.forkv")).len(), 1000);
    let temps = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
        .count();
    assert_eq!(temps, 0, "temp file removed");
    // Once the data fits again the next save succeeds.
    assert_eq!(cmd(&mut c, &[b"FLUSHALL"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"SET", b"small", b"1"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave_done(&server);
    assert_eq!(
        field(&server, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    assert_eq!(read_snapshot(&data.join("dump.forkv")).len(), 1);
    drop(server);
    drop(disk);
}

#[test]
fn kill_9_of_the_server_loads_last_complete_snapshot() {
    let server = start(&[]);
    let dir = server.dir.clone();
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"DEBUG", b"POPULATE", b"300000"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"SAVE"]), b"+OK\r\n");
    assert_eq!(
        cmd(&mut c, &[b"DEBUG", b"POPULATE", b"600000", b"more"]),
        b"+OK\r\n"
    );
    assert_eq!(cmd(&mut c, &[b"BGSAVE"]), b"+Background saving started\r\n");
    let pid = server.pid();
    let children = child_pids(pid);
    kill(pid, "KILL");
    for ch in children {
        kill(ch, "KILL");
    }
    std::thread::sleep(Duration::from_millis(200));
    // A stale temp file from the crash is removed at start.
    std::fs::write(dir.join("temp-99999.forkv"), b"partial").unwrap();
    let dir = server.kill_keeping_dir();
    let server = start_in(&dir, &[]);
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"DBSIZE"]), b":300000\r\n");
    assert!(!dir.join("temp-99999.forkv").exists());
    assert!(server.log().contains("Removed stale temp file"));
}

#[test]
fn damaged_snapshot_stops_startup_with_offset_and_block() {
    let server = start(&[]);
    let dir = server.dir.clone();
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"DEBUG", b"POPULATE", b"100000"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"SAVE"]), b"+OK\r\n");
    let path = snapshot(&server);
    let mut data = std::fs::read(&path).unwrap();
    let at = data.len() / 2;
    data[at] ^= 0x01;
    std::fs::write(&path, &data).unwrap();
    let out = Command::new(common::forkv_bin())
        .args([
            "--port",
            &common::free_port().to_string(),
            "--dir",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "must not start over a damaged file");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dump.forkv") && err.contains("byte offset") && err.contains("block"),
        "{err}"
    );
    assert!(
        err.contains("forkv-snapshot verify") && err.contains("salvage"),
        "{err}"
    );
    // Truncated too.
    std::fs::write(&path, &data[..data.len() / 3]).unwrap();
    let out = Command::new(common::forkv_bin())
        .args([
            "--port",
            &common::free_port().to_string(),
            "--dir",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
}

#[test]
fn refuses_to_fork_with_more_than_one_thread() {
    let server = start(&[]);
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(
        cmd(&mut c, &[b"DEBUG", b"SPAWN-THREAD", b"1.5"]),
        b"+OK\r\n"
    );
    let r = String::from_utf8(cmd(&mut c, &[b"BGSAVE"])).unwrap();
    assert!(r.contains("refusing to fork with 2 threads"), "{r}");
    assert!(!snapshot(&server).exists(), "nothing written");
    assert_eq!(field(&server, "stats", "total_forks"), "0");
    std::thread::sleep(Duration::from_millis(1700));
    assert_eq!(cmd(&mut c, &[b"BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave_done(&server);
    assert!(snapshot(&server).exists());
}

#[test]
fn sigterm_saves_when_save_points_are_set() {
    let mut server = start(&["--save", "3600 1"]);
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"SET", b"k", b"v"]), b"+OK\r\n");
    kill(server.pid(), "TERM");
    let status = server.child.wait().unwrap();
    assert!(status.success());
    let recs = read_snapshot(&snapshot(&server));
    assert_eq!(recs.len(), 1);
    assert!(server.log().contains("Saving the final snapshot"));
}

#[test]
fn save_points_trigger_background_saves_and_cow_is_reported() {
    let server = start(&["--save", "1 1"]);
    let mut c = server.raw_conn();
    assert_eq!(
        cmd(&mut c, &[b"DEBUG", b"POPULATE", b"1000000", b"k", b"32"]),
        b"+OK\r\n"
    );
    wait_for("an automatic save", Duration::from_secs(10), || {
        field(&server, "persistence", "rdb_bgsave_in_progress") == "1"
            || field(&server, "persistence", "rdb_saves") != "0"
    });
    // Write while the child runs so pages get copied.
    let mut saw_live = false;
    for i in 0..200 {
        cmd(
            &mut c,
            &[b"SET", format!("k:{}", i * 4999).as_bytes(), b"changed"],
        );
        let p = info(&server, "persistence");
        if p["rdb_bgsave_in_progress"] == "1" && p["current_save_keys_total"] != "0" {
            saw_live = true;
        }
    }
    wait_bgsave_done(&server);
    let p = info(&server, "persistence");
    assert_eq!(p["rdb_last_bgsave_status"], "ok");
    assert!(
        server.log().contains("changes in 1 seconds. Saving..."),
        "{}",
        server.log()
    );
    let _ = saw_live;
}

/// Inode of the server's side of the TCP connection whose peer is the local
/// address `peer_port`, from `/proc/<pid>/net/tcp` (ports are in hex).
fn server_socket_inode(pid: u32, server_port: u16, peer_port: u16) -> u64 {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap();
    let port_of = |addr: &str| u16::from_str_radix(addr.rsplit(':').next().unwrap(), 16).unwrap();
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| port_of(f[1]) == server_port && port_of(f[2]) == peer_port)
        .map(|f| f[9].parse().unwrap())
        .unwrap_or_else(|| panic!("no connection from port {peer_port} in\n{table}"))
}

/// The `socket:[inode]` descriptors a process holds.
fn socket_inodes(pid: u32) -> Vec<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// Inodes of the Unix sockets bound to `path` (the listener and the
/// server's ends of its connections), from `/proc/<pid>/net/unix`.
fn unix_socket_inodes(pid: u32, path: &std::path::Path) -> Vec<u64> {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/unix")).unwrap();
    let path = path.to_str().unwrap();
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 7 && f[7] == path)
        .map(|f| f[6].parse().unwrap())
        .collect()
}

/// The save child closes the listeners and every client socket, including
/// the one of the client that sent BGSAVE (whose state is in use while the
/// command runs): otherwise that connection stays half-open in CLOSE_WAIT
/// until the child exits, after the client has gone. The Unix socket and
/// its clients too.
#[test]
fn save_child_holds_no_client_socket() {
    let sock_dir = common::unique_temp_dir("forkv-sock");
    let sock = sock_dir.join("s.sock");
    let server = start(&["--unixsocket", sock.to_str().unwrap()]);
    let unix_client = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let mut setup = server.raw_conn();
    assert_eq!(
        cmd(
            &mut setup,
            &[b"DEBUG", b"POPULATE", b"400000", b"k", b"1000"]
        ),
        b"+OK\r\n"
    );
    let bystander = server.raw();
    let mut saver = server.raw();
    let port_of = |s: &std::net::TcpStream| s.local_addr().unwrap().port();
    let mut inodes = vec![
        server_socket_inode(server.pid(), server.port, port_of(&bystander)),
        server_socket_inode(server.pid(), server.port, port_of(&saver)),
        // The listener: remote port 0.
        server_socket_inode(server.pid(), server.port, 0),
    ];
    let unix = unix_socket_inodes(server.pid(), &sock);
    // The listener and the connection of `unix_client`.
    assert_eq!(unix.len(), 2, "{unix:?}");
    inodes.extend(unix);
    assert_eq!(
        cmd(&mut saver, &[b"BGSAVE"]),
        b"+Background saving started\r\n"
    );
    drop(saver);
    let mut child = 0;
    wait_for("the save child", Duration::from_secs(5), || {
        child = child_pids(server.pid()).first().copied().unwrap_or(0);
        child != 0
    });
    // Once the child writes, it is past closing what it inherited.
    wait_for("a partial temp file", Duration::from_secs(10), || {
        std::fs::metadata(server.dir.join(format!("temp-{child}.forkv")))
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    });
    let held = socket_inodes(child);
    assert!(
        child_pids(server.pid()).contains(&child),
        "the child must still be saving for the check to mean anything"
    );
    for inode in inodes {
        assert!(
            !held.contains(&inode),
            "the save child holds client socket {inode}: {held:?}"
        );
    }
    assert_eq!(
        cmd(&mut setup, &[b"BGSAVE", b"CANCEL"]),
        b"+Background saving cancelled\r\n"
    );
    drop(unix_client);
    let _ = std::fs::remove_dir_all(sock_dir);
}
