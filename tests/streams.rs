//! Streams on a running server: the write-effect stream of XADD and
//! XTRIM (concrete IDs, exact trims), the generic key commands on streams,
//! and IDs generated from the clock. Replies and errors are compared with
//! Redis byte for byte in tests/corpus/streams.txt; notifications in
//! tests/notifications.rs.

mod common;

use common::Server;
use std::path::{Path, PathBuf};

fn cmd(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut r = redis::cmd(args[0]);
    for a in &args[1..] {
        r.arg(*a);
    }
    r.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn text(v: redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8(b).unwrap(),
        redis::Value::SimpleString(s) => s,
        redis::Value::Int(n) => n.to_string(),
        other => panic!("not text: {other:?}"),
    }
}

fn int(v: redis::Value) -> i64 {
    match v {
        redis::Value::Int(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
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

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn xadd_and_xtrim_propagate_their_exact_effect() {
    let server = common::start(&["--enable-debug-command", "yes"]);
    let mut c = server.client();
    cmd(&mut c, &["CONFIG", "SET", "stream-node-max-entries", "3"]);
    let path = record(&server);
    let t0 = now_ms();
    let id = text(cmd(&mut c, &["XADD", "s", "*", "f", "v"]));
    let t1 = now_ms();
    let (ms, seq) = id.split_once('-').unwrap();
    let ms: u64 = ms.parse().unwrap();
    assert!((t0..=t1).contains(&ms), "{id} not within {t0}..{t1}");
    assert_eq!(seq, "0");
    // An ID whose millisecond part is past the clock is followed by its
    // increment.
    cmd(&mut c, &["XADD", "f", "99999999999999-5", "a", "1"]);
    assert_eq!(
        text(cmd(&mut c, &["XADD", "f", "*", "a", "2"])),
        "99999999999999-6"
    );
    assert_eq!(
        text(cmd(&mut c, &["XADD", "f", "99999999999999-*", "a", "3"])),
        "99999999999999-7"
    );
    for i in 1..=10 {
        cmd(&mut c, &["XADD", "t", &format!("{i}-0"), "f", "v"]);
    }
    // Nodes of 3: `~ 5` removes the first two nodes only.
    let added = text(cmd(
        &mut c,
        &[
            "XADD", "t", "MAXLEN", "~", "5", "LIMIT", "100", "11-*", "f", "v",
        ],
    ));
    assert_eq!(added, "11-0");
    assert_eq!(int(cmd(&mut c, &["XLEN", "t"])), 5);
    // Node 7..9 ends at 9-0, not below MINID 9.
    assert_eq!(int(cmd(&mut c, &["XTRIM", "t", "MINID", "~", "9"])), 0);
    assert_eq!(int(cmd(&mut c, &["XTRIM", "t", "MINID", "~", "10"])), 3);
    assert_eq!(int(cmd(&mut c, &["XTRIM", "t", "MINID", "~", "10"])), 0);
    assert_eq!(int(cmd(&mut c, &["XTRIM", "t", "MAXLEN", "1"])), 1);
    assert_eq!(int(cmd(&mut c, &["XDEL", "t", "11-0", "5-0"])), 1);
    cmd(&mut c, &["XSETID", "t", "20-0", "ENTRIESADDED", "30"]);
    let log = recorded(&server, &path);
    assert_eq!(log[0], v(&["SELECT", "0"]));
    assert_eq!(log[1], v(&["XADD", "s", &id, "f", "v"]));
    assert_eq!(log[2], v(&["XADD", "f", "99999999999999-5", "a", "1"]));
    assert_eq!(log[3], v(&["XADD", "f", "99999999999999-6", "a", "2"]));
    assert_eq!(log[4], v(&["XADD", "f", "99999999999999-7", "a", "3"]));
    assert_eq!(
        log[15],
        v(&["XADD", "t", "MAXLEN", "=", "5", "11-0", "f", "v"])
    );
    assert_eq!(log[16], v(&["XTRIM", "t", "MINID", "=", "10-0"]));
    assert_eq!(log[17], v(&["XTRIM", "t", "MAXLEN", "1"]));
    assert_eq!(log[18], v(&["XDEL", "t", "11-0", "5-0"]));
    assert_eq!(log[19], v(&["XSETID", "t", "20-0", "ENTRIESADDED", "30"]));
    assert_eq!(log.len(), 20, "{log:?}");

    // The stream replays into the same dataset.
    let fresh = common::start(&["--stream-node-max-entries", "3"]);
    let mut f = fresh.client();
    let n: i64 = redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("REPLAY")
        .arg(path.to_str().unwrap())
        .query(&mut f)
        .unwrap();
    assert_eq!(n, 20);
    let diff = common::dataset_diff(&common::dataset(&server), &common::dataset(&fresh), 100);
    assert!(diff.is_empty(), "replay differs:\n{}", diff.join("\n"));
}

#[test]
fn key_commands_treat_streams_as_values() {
    let server = common::start(&[]);
    let mut c = server.client();
    cmd(&mut c, &["XADD", "s", "1-1", "a", "1"]);
    cmd(&mut c, &["SET", "str", "x"]);
    assert_eq!(text(cmd(&mut c, &["TYPE", "s"])), "stream");
    assert_eq!(text(cmd(&mut c, &["OBJECT", "ENCODING", "s"])), "stream");
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("TYPE")
        .arg("stream")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["s"]);
    assert_eq!(int(cmd(&mut c, &["COPY", "s", "s2"])), 1);
    cmd(&mut c, &["XADD", "s2", "2-0", "b", "2"]);
    assert_eq!(int(cmd(&mut c, &["XLEN", "s"])), 1, "COPY shares nothing");
    assert_eq!(int(cmd(&mut c, &["XLEN", "s2"])), 2);
    cmd(&mut c, &["RENAME", "s2", "s3"]);
    assert_eq!(int(cmd(&mut c, &["MOVE", "s3", "1"])), 1);
    cmd(&mut c, &["SELECT", "1"]);
    assert_eq!(int(cmd(&mut c, &["XLEN", "s3"])), 2);
    cmd(&mut c, &["PEXPIRE", "s3", "20"]);
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(int(cmd(&mut c, &["XLEN", "s3"])), 0);
    assert_eq!(int(cmd(&mut c, &["EXISTS", "s3"])), 0);
    cmd(&mut c, &["SELECT", "0"]);
    assert_eq!(int(cmd(&mut c, &["DEL", "s"])), 1);
    // Deleting every entry keeps the (empty) stream, as Redis does.
    cmd(&mut c, &["XADD", "e", "1-0", "a", "1"]);
    assert_eq!(int(cmd(&mut c, &["XDEL", "e", "1-0"])), 1);
    assert_eq!(text(cmd(&mut c, &["TYPE", "e"])), "stream");
    let info: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(info.contains("db0:keys=2"), "{info}");
}

// ---------------------------------------------------------------------------
// XREAD BLOCK with several clients, on forkv and (when installed) Redis:
// the same script must give the same bytes on both.
// ---------------------------------------------------------------------------

use common::{RawConn, cmd_str, escape, read_reply, send};
use std::time::{Duration, Instant};

fn blocked_clients(c: &mut RawConn) -> usize {
    let info = cmd_str(c, &["INFO", "clients"]);
    let info = String::from_utf8_lossy(&info).to_string();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Sends `args` on a new connection and waits until the server counts it
/// as blocked.
fn block(server: &Server, ctl: &mut RawConn, args: &[&str]) -> RawConn {
    let before = blocked_clients(ctl);
    let mut b = server.raw_conn();
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    send(&mut b, &refs);
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked_clients(ctl) == before {
        assert!(Instant::now() < deadline, "{args:?} did not block");
        std::thread::sleep(Duration::from_millis(2));
    }
    b
}

/// The blocking script; returns a transcript of replies.
fn xread_block_script(server: &Server) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = server.raw_conn();
    let mut log = |what: &str, reply: Vec<u8>| out.push(format!("{what} => {}", escape(&reply)));
    cmd_str(&mut c, &["FLUSHALL"]);
    cmd_str(&mut c, &["XADD", "s", "5-0", "a", "1"]);

    // Three readers of `$` (resolved to 5-0 when they block) are all served
    // by one XADD, and none sees the entry that existed before.
    let mut readers: Vec<RawConn> = (0..3)
        .map(|_| {
            block(
                server,
                &mut c,
                &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
            )
        })
        .collect();
    // A reader of two streams is served with the one that got data only.
    let mut two = block(
        server,
        &mut c,
        &["XREAD", "BLOCK", "0", "STREAMS", "other", "s", "$", "$"],
    );
    log("xadd", cmd_str(&mut c, &["XADD", "s", "6-0", "b", "2"]));
    for r in readers.iter_mut() {
        log("reader", read_reply(r));
    }
    log("two", read_reply(&mut two));
    assert_eq!(blocked_clients(&mut c), 0);

    // COUNT applies to a served client; without COUNT it gets everything
    // added by a transaction.
    let mut counted = block(
        server,
        &mut c,
        &["XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "s", "6-0"],
    );
    let mut all = block(
        server,
        &mut c,
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
    );
    cmd_str(&mut c, &["MULTI"]);
    for id in ["7-0", "8-0", "9-0"] {
        cmd_str(&mut c, &["XADD", "s", id, "f", id]);
    }
    log("exec", cmd_str(&mut c, &["EXEC"]));
    log("counted", read_reply(&mut counted));
    log("all", read_reply(&mut all));

    // Deleting the key, or giving it another type, does not end the wait
    // (Redis 7.0); an XADD to the re-created stream does.
    let mut w = block(
        server,
        &mut c,
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
    );
    cmd_str(&mut c, &["DEL", "s"]);
    cmd_str(&mut c, &["LPUSH", "s", "x"]);
    cmd_str(&mut c, &["XTRIM", "nokey", "MAXLEN", "0"]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(blocked_clients(&mut c), 1, "still blocked");
    cmd_str(&mut c, &["DEL", "s"]);
    cmd_str(&mut c, &["XADD", "s", "3-0", "a", "0"]);
    cmd_str(&mut c, &["XADD", "s", "9-0", "a", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(blocked_clients(&mut c), 1, "9-0 is not past 9-0");
    cmd_str(&mut c, &["XADD", "s", "11-0", "a", "2"]);
    log("recreated", read_reply(&mut w));

    // XDEL and XTRIM do not serve anybody.
    let mut w = block(
        server,
        &mut c,
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
    );
    cmd_str(&mut c, &["XDEL", "s", "9-0"]);
    cmd_str(&mut c, &["XTRIM", "s", "MAXLEN", "0"]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(blocked_clients(&mut c), 1);
    cmd_str(&mut c, &["XADD", "s", "12-0", "a", "3"]);
    log("after trim", read_reply(&mut w));

    // Timeouts and disconnection end the wait.
    let t0 = Instant::now();
    let mut t = block(
        server,
        &mut c,
        &["XREAD", "BLOCK", "100", "STREAMS", "s", "$"],
    );
    log("timeout", read_reply(&mut t));
    assert!(t0.elapsed() >= Duration::from_millis(100));
    let gone = block(
        server,
        &mut c,
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
    );
    drop(gone);
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked_clients(&mut c) != 0 {
        assert!(Instant::now() < deadline, "a closed client stays blocked");
        std::thread::sleep(Duration::from_millis(2));
    }

    // RESP3: the served reply is a map.
    let mut r3 = server.raw_conn();
    cmd_str(&mut r3, &["HELLO", "3"]);
    let before = blocked_clients(&mut c);
    send(&mut r3, &[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
    while blocked_clients(&mut c) == before {
        std::thread::sleep(Duration::from_millis(2));
    }
    cmd_str(&mut c, &["XADD", "s", "13-0", "a", "4"]);
    log("resp3", read_reply(&mut r3));
    out
}

#[test]
fn xread_block_serves_waiters_as_redis_does() {
    let forkv = common::start(&[]);
    let ours = xread_block_script(&forkv);
    assert!(
        ours.iter().any(|l| l
            .starts_with("reader => *1\\r\\n*2\\r\\n$1\\r\\ns\\r\\n*1\\r\\n*2\\r\\n$3\\r\\n6-0")),
        "{}",
        ours.join("\n")
    );
    if let Some(redis) = common::start_redis(&[]) {
        let theirs = xread_block_script(&redis);
        assert_eq!(
            ours,
            theirs,
            "forkv:\n{}\nredis:\n{}",
            ours.join("\n"),
            theirs.join("\n")
        );
    }
}

/// XREADGROUP BLOCK: waiters in a group share new entries in arrival
/// order, and XGROUP DESTROY ends their wait with NOGROUP.
fn xreadgroup_block_script(server: &Server) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = server.raw_conn();
    let mut log = |what: &str, reply: Vec<u8>| out.push(format!("{what} => {}", escape(&reply)));
    cmd_str(&mut c, &["FLUSHALL"]);
    cmd_str(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut first = block(
        server,
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "a",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    let mut second = block(
        server,
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "b",
            "COUNT",
            "1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    // One entry: the first waiter gets it, the second waits on.
    cmd_str(&mut c, &["XADD", "s", "1-0", "f", "1"]);
    log("first", read_reply(&mut first));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(blocked_clients(&mut c), 1);
    cmd_str(&mut c, &["MULTI"]);
    cmd_str(&mut c, &["XADD", "s", "2-0", "f", "2"]);
    cmd_str(&mut c, &["XADD", "s", "3-0", "f", "3"]);
    cmd_str(&mut c, &["EXEC"]);
    log("second", read_reply(&mut second));
    log(
        "drain",
        cmd_str(
            &mut c,
            &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        ),
    );
    log("pending", cmd_str(&mut c, &["XPENDING", "s", "g"]));
    // The key deleted or of another type: still waiting.
    let mut w = block(
        server,
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "a",
            "NOACK",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    cmd_str(&mut c, &["XGROUP", "SETID", "s", "g", "$"]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(blocked_clients(&mut c), 1);
    cmd_str(&mut c, &["XADD", "s", "4-0", "f", "4"]);
    log("noack", read_reply(&mut w));
    log("pending", cmd_str(&mut c, &["XPENDING", "s", "g"]));
    let mut w = block(
        server,
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "a",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    log("destroy", cmd_str(&mut c, &["XGROUP", "DESTROY", "s", "g"]));
    log("destroyed", read_reply(&mut w));
    log(
        "nogroup",
        cmd_str(
            &mut c,
            &[
                "XREADGROUP",
                "GROUP",
                "g2",
                "a",
                "BLOCK",
                "50",
                "STREAMS",
                "s",
                ">",
            ],
        ),
    );
    cmd_str(&mut c, &["XGROUP", "CREATE", "s", "g2", "$"]);
    let mut t = block(
        server,
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g2",
            "a",
            "BLOCK",
            "50",
            "STREAMS",
            "s",
            ">",
        ],
    );
    log("timeout", read_reply(&mut t));
    out
}

#[test]
fn xreadgroup_block_serves_waiters_as_redis_does() {
    let forkv = common::start(&[]);
    let ours = xreadgroup_block_script(&forkv);
    assert!(ours[0].contains("1-0"), "{}", ours.join("\n"));
    if let Some(redis) = common::start_redis(&[]) {
        let theirs = xreadgroup_block_script(&redis);
        assert_eq!(
            ours,
            theirs,
            "forkv:\n{}\nredis:\n{}",
            ours.join("\n"),
            theirs.join("\n")
        );
    }
}

#[test]
fn xreadgroup_propagates_claims_and_group_ids() {
    let server = common::start(&[]);
    let mut c = server.client();
    cmd(&mut c, &["XADD", "s", "1-0", "f", "1"]);
    cmd(&mut c, &["XADD", "s", "2-0", "f", "2"]);
    cmd(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    let path = record(&server);
    let t0 = now_ms() as i64;
    cmd(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "a",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">",
        ],
    );
    cmd(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "b",
            "NOACK",
            "STREAMS",
            "s",
            ">",
        ],
    );
    // Reading history and finding nothing change nothing that propagates.
    cmd(
        &mut c,
        &["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", "0"],
    );
    cmd(
        &mut c,
        &["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"],
    );
    cmd(&mut c, &["XACK", "s", "g", "1-0"]);
    cmd(
        &mut c,
        &["XCLAIM", "s", "g", "c", "0", "1-0", "FORCE", "JUSTID"],
    );
    cmd(&mut c, &["XAUTOCLAIM", "s", "g", "d", "0", "0"]);
    let log = recorded(&server, &path);
    let log: Vec<Vec<String>> = log
        .into_iter()
        .filter(|c| c[0] != "MULTI" && c[0] != "EXEC")
        .collect();
    assert_eq!(log[0], v(&["SELECT", "0"]));
    let claim = &log[1];
    assert_eq!(&claim[..6], &v(&["XCLAIM", "s", "g", "a", "0", "1-0"])[..]);
    let t: i64 = claim[7].parse().unwrap();
    assert!(t >= t0, "{claim:?}");
    assert_eq!(
        &claim[8..],
        &v(&["RETRYCOUNT", "1", "FORCE", "JUSTID", "LASTID", "1-0"])[..]
    );
    assert_eq!(log[2], v(&["XGROUP", "CREATECONSUMER", "s", "g", "b"]));
    assert_eq!(
        log[3],
        v(&["XGROUP", "SETID", "s", "g", "2-0", "ENTRIESREAD", "2"])
    );
    assert_eq!(log[4], v(&["XACK", "s", "g", "1-0"]));
    assert_eq!(&log[5][..6], &v(&["XCLAIM", "s", "g", "c", "0", "1-0"])[..]);
    assert_eq!(&log[5][8..10], &v(&["RETRYCOUNT", "1"])[..]);
    assert_eq!(&log[6][..6], &v(&["XCLAIM", "s", "g", "d", "0", "1-0"])[..]);
    assert_eq!(&log[6][8..10], &v(&["RETRYCOUNT", "2"])[..]);
    assert_eq!(log.len(), 7, "{log:?}");
    let fresh = common::start(&[]);
    let mut f = fresh.client();
    cmd(&mut f, &["XADD", "s", "1-0", "f", "1"]);
    cmd(&mut f, &["XADD", "s", "2-0", "f", "2"]);
    cmd(&mut f, &["XGROUP", "CREATE", "s", "g", "0"]);
    let _: i64 = redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("REPLAY")
        .arg(path.to_str().unwrap())
        .query(&mut f)
        .unwrap();
    for conn in [&mut c, &mut f] {
        let p = cmd(conn, &["XPENDING", "s", "g"]);
        assert_eq!(
            format!("{p:?}"),
            "array([int(1), bulk-string('\"1-0\"'), bulk-string('\"1-0\"'), array([array([bulk-string('\"d\"'), bulk-string('\"1\"')])])])"
        );
    }
}

// ---------------------------------------------------------------------------
// Snapshots: DEBUG RELOAD keeps blocks, tombstones, groups and pending
// entries; forkv-snapshot dumps and restores streams.
// ---------------------------------------------------------------------------

fn build_stream(c: &mut RawConn) {
    for i in 1..=10 {
        cmd_str(c, &["XADD", "s", &format!("{i}-0"), "f", &i.to_string()]);
    }
    cmd_str(c, &["XDEL", "s", "2-0", "9-0"]);
    cmd_str(c, &["XGROUP", "CREATE", "s", "g", "0"]);
    cmd_str(c, &["XGROUP", "CREATE", "s", "h", "$", "ENTRIESREAD", "3"]);
    cmd_str(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "3",
            "STREAMS",
            "s",
            ">",
        ],
    );
    cmd_str(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ],
    );
    cmd_str(c, &["XGROUP", "CREATECONSUMER", "s", "h", "carol"]);
    cmd_str(c, &["XSETID", "s", "20-0", "ENTRIESADDED", "15"]);
    cmd_str(c, &["XADD", "empty", "1-0", "a", "1"]);
    cmd_str(c, &["XDEL", "empty", "1-0"]);
}

fn stream_state(c: &mut RawConn) -> Vec<String> {
    [
        &["XINFO", "STREAM", "s", "FULL"][..],
        &["XINFO", "STREAM", "s"],
        &["XINFO", "GROUPS", "s"],
        &["XPENDING", "s", "g"],
        &["XINFO", "STREAM", "empty"],
    ]
    .iter()
    .map(|args| escape(&cmd_str(c, args)))
    .collect()
}

#[test]
fn reload_keeps_blocks_groups_and_pending_entries() {
    let server = common::start(&["--stream-node-max-entries", "3"]);
    let mut c = server.raw_conn();
    build_stream(&mut c);
    let before = stream_state(&mut c);
    assert!(before[0].contains("alice"), "{}", before[0]);
    assert_eq!(cmd_str(&mut c, &["DEBUG", "RELOAD"]), b"+OK\r\n");
    assert_eq!(stream_state(&mut c), before);
    // The tombstone of 2-0 still counts in its block: `~ 7` removes the
    // first block (3 entries, 2 live) only.
    assert_eq!(
        cmd_str(&mut c, &["XTRIM", "s", "MAXLEN", "~", "5"]),
        b":2\r\n"
    );
    assert_eq!(cmd_str(&mut c, &["XLEN", "s"]), b":6\r\n");
}

#[test]
fn snapshot_tool_dumps_and_restores_streams() {
    let server = common::start(&["--stream-node-max-entries", "3"]);
    let mut c = server.raw_conn();
    build_stream(&mut c);
    let before = stream_state(&mut c);
    assert_eq!(cmd_str(&mut c, &["SAVE"]), b"+OK\r\n");
    let file = server.dir.join("dump.forkv");
    let tool = env!("CARGO_BIN_EXE_forkv-snapshot");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(tool)
            .args(args)
            .output()
            .expect("run forkv-snapshot");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let f = file.to_str().unwrap();
    let (code, _, err) = run(&["verify", f]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run(&["dump", f]);
    assert_eq!(code, Some(0), "{err}");
    let line = out.lines().find(|l| l.contains("\"key\":\"s\"")).unwrap();
    assert!(line.contains("\"type\":\"stream\""), "{line}");
    assert!(line.contains("\"tombstones\":2"), "{line}");
    assert!(line.contains("[\"3-0\",[\"f\",\"3\"]]"), "{line}");
    assert!(line.contains("\"entries_read\":3"), "{line}");

    let target = common::start(&["--stream-node-max-entries", "3"]);
    let to = target.addr();
    let (code, out, err) = run(&["restore", f, "--to", &to]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(err.contains("not carried over"), "{err}");
    assert!(err.contains("2 deleted entries"), "{err}");
    let mut t = target.raw_conn();
    let after = stream_state(&mut t);
    // Entries, counters, groups and pending entries agree; the block
    // layout (tombstones) and seen times do not carry over.
    for i in [2, 3] {
        assert_eq!(after[i], before[i]);
    }
    let range = |c: &mut RawConn| escape(&cmd_str(c, &["XRANGE", "s", "-", "+"]));
    assert_eq!(range(&mut t), range(&mut c));
    let pending = |c: &mut RawConn| {
        let r = cmd_str(c, &["XINFO", "STREAM", "s", "FULL"]);
        let s = escape(&r);
        s[s.find("pel-count").unwrap()..s.find("consumers").unwrap()].to_string()
    };
    assert_eq!(pending(&mut t), pending(&mut c));
    assert_eq!(cmd_str(&mut t, &["XLEN", "empty"]), b":0\r\n");
    assert_eq!(cmd_str(&mut t, &["TYPE", "empty"]), b"+stream\r\n");
}

/// Which stream commands end a WATCH (Redis's `signalModifiedKey`): XADD,
/// XDEL, XTRIM and XGROUP CREATE ... MKSTREAM do; the group commands and
/// XSETID do not.
fn watch_script(server: &Server) -> Vec<String> {
    let mut c = server.raw_conn();
    let mut other = server.raw_conn();
    cmd_str(&mut c, &["FLUSHALL"]);
    cmd_str(&mut c, &["XADD", "s", "1-0", "f", "1"]);
    cmd_str(&mut c, &["XADD", "s", "2-0", "f", "2"]);
    cmd_str(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    let steps: &[&[&str]] = &[
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "a",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">",
        ],
        &["XACK", "s", "g", "1-0"],
        &["XCLAIM", "s", "g", "b", "0", "2-0", "FORCE"],
        &["XAUTOCLAIM", "s", "g", "c", "0", "0"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "d"],
        &["XGROUP", "DELCONSUMER", "s", "g", "d"],
        &["XGROUP", "SETID", "s", "g", "0"],
        &["XGROUP", "CREATE", "s", "g2", "0"],
        &["XGROUP", "DESTROY", "s", "g2"],
        &["XSETID", "s", "10-0"],
        &["XGROUP", "CREATE", "s", "g3", "0", "MKSTREAM"],
        &["XGROUP", "CREATE", "new", "g", "0", "MKSTREAM"],
        &["XDEL", "s", "1-0"],
        &["XTRIM", "s", "MAXLEN", "0"],
        &["XADD", "s", "11-0", "f", "1"],
    ];
    let mut out = Vec::new();
    for step in steps {
        let key = if step.contains(&"new") { "new" } else { "s" };
        cmd_str(&mut c, &["WATCH", key]);
        let r = cmd_str(&mut other, step);
        cmd_str(&mut c, &["MULTI"]);
        cmd_str(&mut c, &["PING"]);
        let exec = cmd_str(&mut c, &["EXEC"]);
        out.push(format!(
            "{} => {} / EXEC {}",
            step.join(" "),
            escape(&r),
            escape(&exec)
        ));
    }
    out
}

#[test]
fn watch_ends_where_redis_signals_a_change() {
    let forkv = common::start(&[]);
    let ours = watch_script(&forkv);
    assert!(
        ours.iter().any(|l| l.ends_with("EXEC *-1\\r\\n")),
        "{}",
        ours.join("\n")
    );
    assert!(
        ours[0].ends_with("EXEC *1\\r\\n+PONG\\r\\n"),
        "{}",
        ours.join("\n")
    );
    if let Some(redis) = common::start_redis(&[]) {
        let theirs = watch_script(&redis);
        assert_eq!(
            ours,
            theirs,
            "forkv:\n{}\nredis:\n{}",
            ours.join("\n"),
            theirs.join("\n")
        );
    }
}
