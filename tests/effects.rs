//! The write-effect stream, recorded with `DEBUG EFFECTS LOG` on a real
//! server: the exact commands each kind of write emits (Redis 7.0's
//! rewriting rules), and a replay of the stream through the loader path
//! (`DEBUG EFFECTS REPLAY`) into a fresh server that must rebuild the same
//! dataset. The differential corpora are replayed the same way in
//! tests/differential.rs.

mod common;

use common::Server;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn cmd(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut r = redis::cmd(args[0]);
    for a in &args[1..] {
        r.arg(*a);
    }
    r.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn record(server: &Server) -> PathBuf {
    common::record_effects(server)
}

fn recorded(server: &Server, path: &Path) -> Vec<Vec<String>> {
    common::recorded_effects(server, path)
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Replays `path` into a fresh server and asserts both datasets agree.
fn replay_matches(original: &Server, path: &Path) {
    let fresh = common::start(&[]);
    let mut f = fresh.client();
    let n: i64 = redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("REPLAY")
        .arg(path.to_str().unwrap())
        .query(&mut f)
        .unwrap();
    assert!(n > 0, "nothing replayed");
    let diff = common::dataset_diff(&common::dataset(original), &common::dataset(&fresh), 1000);
    assert!(diff.is_empty(), "replay differs:\n{}", diff.join("\n"));
}

#[test]
fn writes_are_logged_with_deterministic_effects() {
    let server = common::start(&[]);
    let path = record(&server);
    let mut c = server.client();
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let t0 = now_ms();
    cmd(&mut c, &["SET", "a", "1", "EX", "100"]);
    cmd(&mut c, &["SETEX", "b", "100", "x"]);
    cmd(&mut c, &["EXPIRE", "a", "200", "GT"]);
    cmd(&mut c, &["INCRBYFLOAT", "f", "1.5"]);
    cmd(&mut c, &["HINCRBYFLOAT", "h", "x", "0.25"]);
    cmd(&mut c, &["SADD", "s", "m"]);
    cmd(&mut c, &["SPOP", "s"]);
    cmd(&mut c, &["GETDEL", "b"]);
    cmd(&mut c, &["SET", "g", "v"]);
    cmd(&mut c, &["GETEX", "g", "PX", "100000"]);
    cmd(&mut c, &["GETEX", "g", "PERSIST"]);
    cmd(&mut c, &["GETSET", "g", "w"]);
    // Nothing changed: nothing logged.
    cmd(&mut c, &["DEL", "nosuchkey"]);
    cmd(&mut c, &["GET", "a"]);
    cmd(&mut c, &["SETNX", "g", "z"]);
    // A transaction is one unit; SELECT is logged when the database changes.
    cmd(&mut c, &["MULTI"]);
    cmd(&mut c, &["INCR", "n"]);
    cmd(&mut c, &["SELECT", "3"]);
    cmd(&mut c, &["INCR", "n"]);
    cmd(&mut c, &["EXEC"]);
    cmd(&mut c, &["INCR", "n"]);
    let t1 = now_ms();
    let log = recorded(&server, &path);
    let ms = |i: usize, field: usize| -> i64 { log[i][field].parse().unwrap() };
    assert_eq!(log[0], v(&["SELECT", "0"]));
    assert_eq!(&log[1][..4], &v(&["SET", "a", "1", "PXAT"])[..]);
    assert!(
        (t0 + 100_000..=t1 + 100_000).contains(&ms(1, 4)),
        "{:?}",
        log[1]
    );
    assert_eq!(&log[2][..4], &v(&["SET", "b", "x", "PXAT"])[..]);
    assert_eq!(&log[3][..2], &v(&["PEXPIREAT", "a"])[..]);
    assert!((t0 + 200_000..=t1 + 200_000).contains(&ms(3, 2)));
    assert_eq!(log[3][3], "GT");
    assert_eq!(log[4], v(&["SET", "f", "1.5", "KEEPTTL"]));
    assert_eq!(log[5], v(&["HSET", "h", "x", "0.25"]));
    assert_eq!(log[6], v(&["SADD", "s", "m"]));
    assert_eq!(log[7], v(&["SREM", "s", "m"]));
    assert_eq!(log[8], v(&["DEL", "b"]));
    assert_eq!(log[9], v(&["SET", "g", "v"]));
    assert_eq!(&log[10][..2], &v(&["PEXPIREAT", "g"])[..]);
    assert_eq!(log[11], v(&["PERSIST", "g"]));
    assert_eq!(log[12], v(&["SET", "g", "w"]));
    assert_eq!(
        &log[13..],
        &[
            v(&["MULTI"]),
            v(&["INCR", "n"]),
            v(&["SELECT", "3"]),
            v(&["INCR", "n"]),
            v(&["EXEC"]),
            v(&["INCR", "n"]),
        ]
    );
    let path = record(&server);
    cmd(&mut c, &["SELECT", "0"]);
    cmd(&mut c, &["SET", "x", "1"]);
    assert_eq!(
        recorded(&server, &path),
        [v(&["SELECT", "0"]), v(&["SET", "x", "1"])],
        "a new recorder starts with SELECT"
    );
}

#[test]
fn blocking_pops_are_logged_as_plain_pops() {
    let server = common::start(&[]);
    let path = record(&server);
    let mut c = server.client();
    let mut waiters = Vec::new();
    for (i, args) in [
        vec!["BLPOP", "l1", "0"],
        vec!["BRPOPLPUSH", "l2", "dst", "0"],
        vec!["BLMOVE", "l3", "dst", "LEFT", "RIGHT", "0"],
        vec!["BZPOPMIN", "z1", "0"],
        vec!["BLMPOP", "0", "1", "l4", "RIGHT", "COUNT", "5"],
        vec!["BZMPOP", "0", "1", "z2", "MAX", "COUNT", "2"],
    ]
    .into_iter()
    .enumerate()
    {
        let mut w = server.client();
        waiters.push(std::thread::spawn(move || {
            let mut r = redis::cmd(args[0]);
            for a in &args[1..] {
                r.arg(*a);
            }
            let v: redis::Value = r.query(&mut w).unwrap();
            (i, v)
        }));
    }
    // Wait until all six are parked.
    for _ in 0..200 {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
        if info.contains("blocked_clients:6") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Served at once when they block...
    cmd(&mut c, &["RPUSH", "l1", "a", "b"]);
    cmd(&mut c, &["RPUSH", "l2", "a"]);
    cmd(&mut c, &["RPUSH", "l3", "a"]);
    cmd(&mut c, &["ZADD", "z1", "1", "a", "2", "b"]);
    cmd(&mut c, &["RPUSH", "l4", "a", "b"]);
    cmd(&mut c, &["ZADD", "z2", "1", "a", "2", "b", "3", "c"]);
    for w in waiters {
        w.join().unwrap();
    }
    // ... and when they find data.
    cmd(&mut c, &["BRPOP", "l1", "0"]);
    cmd(&mut c, &["LMPOP", "1", "dst", "LEFT", "COUNT", "10"]);
    cmd(&mut c, &["ZMPOP", "1", "z2", "MIN"]);
    let log = recorded(&server, &path);
    let want = [
        v(&["SELECT", "0"]),
        v(&["RPUSH", "l1", "a", "b"]),
        v(&["LPOP", "l1"]),
        v(&["RPUSH", "l2", "a"]),
        v(&["RPOPLPUSH", "l2", "dst"]),
        v(&["RPUSH", "l3", "a"]),
        v(&["LMOVE", "l3", "dst", "LEFT", "RIGHT"]),
        v(&["ZADD", "z1", "1", "a", "2", "b"]),
        v(&["ZPOPMIN", "z1"]),
        v(&["RPUSH", "l4", "a", "b"]),
        v(&["RPOP", "l4", "2"]),
        v(&["ZADD", "z2", "1", "a", "2", "b", "3", "c"]),
        v(&["ZPOPMAX", "z2", "2"]),
        v(&["RPOP", "l1"]),
        v(&["LPOP", "dst", "2"]),
        v(&["ZPOPMIN", "z2", "1"]),
    ];
    // Case of the command names of served pops is Redis's; compare upper.
    let log: Vec<Vec<String>> = log
        .into_iter()
        .map(|mut c| {
            c[0] = c[0].to_ascii_uppercase();
            c
        })
        .collect();
    assert_eq!(log, want);
    replay_matches(&server, &path);
}

#[test]
fn expiry_and_eviction_are_logged_as_deletions() {
    let server = common::start(&["--maxmemory-policy", "allkeys-random"]);
    let path = record(&server);
    let mut c = server.client();
    cmd(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    cmd(&mut c, &["SET", "lazy", "v", "PX", "50"]);
    cmd(&mut c, &["SET", "active", "v", "PX", "50"]);
    std::thread::sleep(Duration::from_millis(120));
    // A read deletes the expired key: the deletion is logged, the read not.
    cmd(&mut c, &["GET", "lazy"]);
    cmd(&mut c, &["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]);
    cmd(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    for _ in 0..100 {
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        if n == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Eviction: a limit below what is used evicts every key it can.
    for i in 0..200 {
        cmd(&mut c, &["SET", &format!("k{i}"), &"x".repeat(1000)]);
    }
    let used: String = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
    let used: u64 = used
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    cmd(
        &mut c,
        &["CONFIG", "SET", "maxmemory", &(used - 100_000).to_string()],
    );
    cmd(&mut c, &["SET", "trigger", "1"]);
    cmd(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    let log = recorded(&server, &path);
    let pos = |want: &[&str]| log.iter().position(|c| *c == v(want));
    let lazy = pos(&["DEL", "lazy"]).expect("lazy expiry logged as DEL");
    assert!(
        log[lazy - 1][0] == "SET" && log[lazy - 1][1] == "active",
        "the GET itself is not logged: {log:?}"
    );
    assert!(
        pos(&["UNLINK", "active"]).is_some(),
        "active expiry under lazyfree: UNLINK"
    );
    let evicted = log
        .iter()
        .filter(|c| c[0] == "DEL" && c[1].starts_with('k'))
        .count();
    assert!(evicted > 0, "eviction logged as DEL: {log:?}");
    let trigger = pos(&["SET", "trigger", "1"]).unwrap();
    assert!(
        log[..trigger].iter().any(|c| c[0] == "MULTI"),
        "evictions before a command are in its unit"
    );
    replay_matches(&server, &path);
}

#[test]
fn loader_replay_reports_bad_input_and_failed_commands() {
    let server = common::start(&[]);
    let mut c = server.client();
    let dir = &server.dir;
    let bad = dir.join("bad.resp");
    std::fs::write(&bad, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nNOPE\r\n").unwrap();
    let e = redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("REPLAY")
        .arg(bad.to_str().unwrap())
        .query::<i64>(&mut c)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("command 2 failed: ERR unknown command 'NOPE'"),
        "{e}"
    );
    let torn = dir.join("torn.resp");
    std::fs::write(&torn, b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*3\r\n$3\r\nSET").unwrap();
    let e = redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("REPLAY")
        .arg(torn.to_str().unwrap())
        .query::<i64>(&mut c)
        .unwrap_err();
    assert!(
        e.to_string().contains("truncated command after command 1"),
        "{e}"
    );
    // The loader is not a connection: AUTH does not gate it.
    cmd(&mut c, &["CONFIG", "SET", "requirepass", "pw"]);
    let good = dir.join("good.resp");
    std::fs::write(&good, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n").unwrap();
    let n: i64 = redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("REPLAY")
        .arg(good.to_str().unwrap())
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    let got: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(got, "v");
}
