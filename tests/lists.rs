//! Lists through the real server: every command's replies (RESP2 and RESP3),
//! encodings and snapshots, the keyspace commands on list values, and the
//! blocking commands with several real clients (FIFO fairness, wake-ups,
//! BLMOVE chains, timeouts, disconnects, keys deleted or retyped while a
//! client waits). Byte-level edge cases against real Redis live in
//! `tests/corpus/lists.txt`; a randomized comparison with Redis is here.

mod common;

use common::{
    RawConn, cmd, escape, expect as is, info_value as info_field, line as r, no_reply_within,
    read_reply, send, start, start_recorded,
};
use std::io::Write;
use std::time::{Duration, Instant};

/// Waits until INFO reports `n` blocked clients.
fn wait_blocked(c: &mut RawConn, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: usize = info_field(c, "clients", "blocked_clients").parse().unwrap();
        if got == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "blocked_clients stays {got}, want {n}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends a command without reading its reply.
fn send_line(c: &mut RawConn, line: &str) {
    let args: Vec<&[u8]> = line.split_whitespace().map(|a| a.as_bytes()).collect();
    send(c, &args);
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn arr(items: &[&str]) -> String {
    let mut out = format!("*{}\r\n", items.len());
    for i in items {
        out.push_str(&bulk(i));
    }
    out
}

fn server() -> (common::Recorded, RawConn) {
    let s = start_recorded();
    let c = s.raw_conn();
    (s, c)
}

// ---------------------------------------------------------------------------
// Commands

#[test]
fn pushes_and_pops() {
    let (_s, mut c) = server();
    is(&mut c, "LPUSH l a", ":1\r\n");
    is(&mut c, "LPUSH l b c", ":3\r\n");
    is(&mut c, "RPUSH l d e", ":5\r\n");
    is(&mut c, "LRANGE l 0 -1", &arr(&["c", "b", "a", "d", "e"]));
    is(&mut c, "LPUSHX nokey x", ":0\r\n");
    is(&mut c, "RPUSHX nokey x", ":0\r\n");
    is(&mut c, "EXISTS nokey", ":0\r\n");
    is(&mut c, "RPUSHX l f g", ":7\r\n");
    is(&mut c, "LPOP l", &bulk("c"));
    is(&mut c, "RPOP l", &bulk("g"));
    is(&mut c, "LPOP l 2", &arr(&["b", "a"]));
    is(&mut c, "RPOP l 2", &arr(&["f", "e"]));
    is(&mut c, "LPOP l 0", "*0\r\n");
    is(&mut c, "RPOP l 100", &arr(&["d"]));
    is(&mut c, "EXISTS l", ":0\r\n");
    is(&mut c, "LPOP l", "$-1\r\n");
    is(&mut c, "LPOP l 0", "*-1\r\n");
    is(&mut c, "RPOP l 3", "*-1\r\n");
    is(
        &mut c,
        "LPOP l -1",
        "-ERR value is out of range, must be positive\r\n",
    );
    is(
        &mut c,
        "LPOP l 1 2",
        "-ERR wrong number of arguments for 'lpop' command\r\n",
    );
    is(
        &mut c,
        "LPUSH l",
        "-ERR wrong number of arguments for 'lpush' command\r\n",
    );
    // Binary-safe elements.
    let got = cmd(&mut c, &[b"RPUSH", b"bin", b"\x00\r\n", b"", b"\xff"]);
    assert_eq!(got, b":3\r\n");
    assert_eq!(
        cmd(&mut c, &[b"LRANGE", b"bin", b"0", b"-1"]),
        b"*3\r\n$3\r\n\x00\r\n\r\n$0\r\n\r\n$1\r\n\xff\r\n"
    );
}

#[test]
fn reads_and_in_place_writes() {
    let (_s, mut c) = server();
    is(&mut c, "RPUSH r a b c d e", ":5\r\n");
    is(&mut c, "LLEN r", ":5\r\n");
    is(&mut c, "LLEN nokey", ":0\r\n");
    is(&mut c, "LINDEX r 0", &bulk("a"));
    is(&mut c, "LINDEX r -1", &bulk("e"));
    is(&mut c, "LINDEX r 5", "$-1\r\n");
    is(&mut c, "LINDEX r -6", "$-1\r\n");
    is(&mut c, "LINDEX nokey x", "$-1\r\n");
    is(
        &mut c,
        "LINDEX r x",
        "-ERR value is not an integer or out of range\r\n",
    );
    is(&mut c, "LRANGE r 1 -2", &arr(&["b", "c", "d"]));
    is(
        &mut c,
        "LRANGE r -100 100",
        &arr(&["a", "b", "c", "d", "e"]),
    );
    is(&mut c, "LRANGE r 3 1", "*0\r\n");
    is(&mut c, "LRANGE r 5 10", "*0\r\n");
    is(&mut c, "LRANGE nokey 0 -1", "*0\r\n");
    is(&mut c, "LSET r 1 B", "+OK\r\n");
    is(&mut c, "LSET r -1 E", "+OK\r\n");
    is(&mut c, "LSET r 5 x", "-ERR index out of range\r\n");
    is(&mut c, "LSET nokey 0 x", "-ERR no such key\r\n");
    is(&mut c, "LINSERT r BEFORE c X", ":6\r\n");
    is(&mut c, "LINSERT r AFTER c Y", ":7\r\n");
    is(&mut c, "LINSERT r AFTER zz Y", ":-1\r\n");
    is(&mut c, "LINSERT nokey AFTER a Y", ":0\r\n");
    is(&mut c, "LINSERT r UNDER a Y", "-ERR syntax error\r\n");
    is(
        &mut c,
        "LRANGE r 0 -1",
        &arr(&["a", "B", "X", "c", "Y", "d", "E"]),
    );
    is(&mut c, "RPUSH r a a", ":9\r\n");
    is(&mut c, "LREM r -1 a", ":1\r\n");
    is(&mut c, "LREM r 0 a", ":2\r\n");
    is(&mut c, "LREM r 0 nothing", ":0\r\n");
    is(&mut c, "LTRIM r 1 -2", "+OK\r\n");
    is(&mut c, "LRANGE r 0 -1", &arr(&["X", "c", "Y", "d"]));
    is(&mut c, "LTRIM r 10 20", "+OK\r\n");
    is(&mut c, "EXISTS r", ":0\r\n");
    is(&mut c, "LTRIM nokey 0 1", "+OK\r\n");
    is(&mut c, "RPUSH p a b c 1 2 3 c c", ":8\r\n");
    is(&mut c, "LPOS p c", ":2\r\n");
    is(&mut c, "LPOS p c RANK -1", ":7\r\n");
    is(&mut c, "LPOS p c RANK 2 COUNT 0", "*2\r\n:6\r\n:7\r\n");
    is(&mut c, "LPOS p c COUNT 0 MAXLEN 7", "*2\r\n:2\r\n:6\r\n");
    is(&mut c, "LPOS p zz", "$-1\r\n");
    is(&mut c, "LPOS p zz COUNT 1", "*0\r\n");
    is(
        &mut c,
        "LPOS p c RANK 0",
        "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n",
    );
    is(
        &mut c,
        "LPOS p c COUNT -1",
        "-ERR COUNT can't be negative\r\n",
    );
    is(
        &mut c,
        "LPOS p c MAXLEN -1",
        "-ERR MAXLEN can't be negative\r\n",
    );
}

#[test]
fn moves_and_multi_pops() {
    let (_s, mut c) = server();
    is(&mut c, "RPUSH a 1 2 3", ":3\r\n");
    is(&mut c, "RPOPLPUSH a b", &bulk("3"));
    is(&mut c, "LMOVE a b LEFT RIGHT", &bulk("1"));
    is(&mut c, "LMOVE a a LEFT RIGHT", &bulk("2"));
    is(&mut c, "LMOVE a b LEFT LEFT", &bulk("2"));
    is(&mut c, "EXISTS a", ":0\r\n");
    is(&mut c, "LRANGE b 0 -1", &arr(&["2", "3", "1"]));
    is(&mut c, "RPOPLPUSH a b", "$-1\r\n");
    is(&mut c, "LMOVE a b UP LEFT", "-ERR syntax error\r\n");
    // A one-element list rotated onto itself keeps its TTL.
    is(&mut c, "RPUSH one x", ":1\r\n");
    is(&mut c, "EXPIRE one 100", ":1\r\n");
    is(&mut c, "RPOPLPUSH one one", &bulk("x"));
    is(&mut c, "TTL one", ":100\r\n");
    is(
        &mut c,
        "LMPOP 2 nokey b LEFT COUNT 2",
        "*2\r\n$1\r\nb\r\n*2\r\n$1\r\n2\r\n$1\r\n3\r\n",
    );
    is(
        &mut c,
        "LMPOP 1 b RIGHT",
        "*2\r\n$1\r\nb\r\n*1\r\n$1\r\n1\r\n",
    );
    is(&mut c, "LMPOP 1 b RIGHT", "*-1\r\n");
    is(
        &mut c,
        "LMPOP 0 b RIGHT",
        "-ERR numkeys should be greater than 0\r\n",
    );
    is(&mut c, "LMPOP 2 b RIGHT", "-ERR syntax error\r\n");
    is(
        &mut c,
        "LMPOP 1 b RIGHT COUNT 0",
        "-ERR count should be greater than 0\r\n",
    );
}

#[test]
fn wrong_type_everywhere() {
    let (_s, mut c) = server();
    let wt = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    is(&mut c, "SET s v", "+OK\r\n");
    is(&mut c, "RPUSH l a", ":1\r\n");
    for line in [
        "LPUSH s x",
        "RPUSH s x",
        "LPUSHX s x",
        "RPUSHX s x",
        "LPOP s",
        "RPOP s 1",
        "LLEN s",
        "LRANGE s 0 -1",
        "LINDEX s 0",
        "LSET s 0 x",
        "LINSERT s BEFORE a b",
        "LREM s 0 a",
        "LTRIM s 0 1",
        "LPOS s a",
        "RPOPLPUSH s l",
        "RPOPLPUSH l s",
        "LMOVE l s LEFT LEFT",
        "LMPOP 2 nokey s LEFT",
        "BLPOP nokey s 0",
        "BRPOP s 0",
        "BRPOPLPUSH s l 0",
        "BLMOVE l s LEFT LEFT 0",
        "BLMPOP 0 1 s LEFT",
    ] {
        is(&mut c, line, wt);
    }
    // Nothing moved.
    is(&mut c, "LRANGE l 0 -1", &arr(&["a"]));
    is(&mut c, "GET s", &bulk("v"));
}

#[test]
fn resp3_shapes() {
    let (_s, mut c) = server();
    r(&mut c, "HELLO 3");
    for line in [
        "LPOP nokey",
        "LPOP nokey 2",
        "LINDEX nokey 0",
        "LPOS nokey a",
        "LMOVE nokey x LEFT LEFT",
        "RPOPLPUSH nokey x",
        "LMPOP 1 nokey LEFT",
        "BLPOP nokey 0.001",
        "BRPOP nokey 0.001",
        "BRPOPLPUSH nokey x 0.001",
        "BLMOVE nokey x LEFT RIGHT 0.001",
        "BLMPOP 0.001 1 nokey LEFT",
    ] {
        is(&mut c, line, "_\r\n");
    }
    is(&mut c, "LPOS nokey a COUNT 1", "*0\r\n");
    is(&mut c, "LRANGE nokey 0 -1", "*0\r\n");
    is(&mut c, "RPUSH l a b", ":2\r\n");
    is(&mut c, "LPOP l 0", "*0\r\n");
    is(&mut c, "BLPOP l 0", &arr(&["l", "a"]));
    is(
        &mut c,
        "LMPOP 1 l LEFT",
        "*2\r\n$1\r\nl\r\n*1\r\n$1\r\nb\r\n",
    );
    r(&mut c, "HELLO 2");
    for line in [
        "BLPOP nokey 0.001",
        "BRPOPLPUSH nokey x 0.001",
        "BLMOVE nokey x LEFT RIGHT 0.001",
        "BLMPOP 0.001 1 nokey LEFT",
    ] {
        is(&mut c, line, "*-1\r\n");
    }
}

#[test]
fn dirty_counts_like_redis() {
    let (_s, mut c) = server();
    let dirty = |c: &mut RawConn| -> u64 {
        info_field(c, "persistence", "rdb_changes_since_last_save")
            .parse()
            .unwrap()
    };
    let d0 = dirty(&mut c);
    r(&mut c, "RPUSH x a b c");
    assert_eq!(dirty(&mut c) - d0, 3);
    r(&mut c, "LPOP x 5");
    assert_eq!(
        dirty(&mut c) - d0,
        6,
        "three pops; the deletion is not counted"
    );
    r(&mut c, "RPUSH x a");
    r(&mut c, "LMOVE x y LEFT LEFT");
    assert_eq!(dirty(&mut c) - d0, 8, "LMOVE counts one");
    r(&mut c, "RPUSH t 1 2 3");
    r(&mut c, "LTRIM t 0 -1");
    assert_eq!(dirty(&mut c) - d0, 11, "LTRIM of nothing counts nothing");
    r(&mut c, "LTRIM t 5 9");
    assert_eq!(dirty(&mut c) - d0, 14);
}

// ---------------------------------------------------------------------------
// Encodings, memory layout, snapshots

#[test]
fn encoding_is_quicklist_as_in_redis_7_0_at_every_size() {
    let (_s, mut c) = server();
    for fill in ["-2", "4", "1", "0", "-1", "-5", "-9"] {
        is(
            &mut c,
            &format!("CONFIG SET list-max-listpack-size {fill}"),
            "+OK\r\n",
        );
        r(&mut c, "DEL e");
        // Grow past every threshold, then shrink back.
        let mut want: Vec<String> = Vec::new();
        for i in 0..300 {
            let v = format!("{i}-{}", "x".repeat(i % 97));
            is(&mut c, &format!("RPUSH e {v}"), &format!(":{}\r\n", i + 1));
            want.push(v);
            if i % 50 == 0 {
                is(&mut c, "OBJECT ENCODING e", "$9\r\nquicklist\r\n");
            }
        }
        is(&mut c, "OBJECT ENCODING e", "$9\r\nquicklist\r\n");
        let refs: Vec<&str> = want.iter().map(|s| s.as_str()).collect();
        is(&mut c, "LRANGE e 0 -1", &arr(&refs));
        is(&mut c, "LINDEX e 150", &bulk(&want[150]));
        is(&mut c, "LSET e 150 mid", "+OK\r\n");
        is(&mut c, "LINSERT e AFTER mid after-mid", ":301\r\n");
        is(&mut c, "LTRIM e 149 152", "+OK\r\n");
        is(
            &mut c,
            "LRANGE e 0 -1",
            &arr(&[&want[149], "mid", "after-mid", &want[151]]),
        );
        is(&mut c, "OBJECT ENCODING e", "$9\r\nquicklist\r\n");
    }
    is(&mut c, "CONFIG SET list-max-listpack-size -2", "+OK\r\n");
    is(
        &mut c,
        "CONFIG GET list-max-listpack-size",
        &arr(&["list-max-listpack-size", "-2"]),
    );
}

#[test]
fn large_list_random_access_is_fast() {
    let (_s, mut c) = server();
    // 1M elements in 1000 pipelined RPUSHes of 1000.
    let mut batch = Vec::new();
    for chunk in 0..1000 {
        let vals: Vec<String> = (0..1000).map(|i| (chunk * 1000 + i).to_string()).collect();
        let mut args: Vec<&[u8]> = vec![b"RPUSH", b"big"];
        args.extend(vals.iter().map(|v| v.as_bytes()));
        batch.extend(common::encode_command(&args));
    }
    c.write_all(&batch).unwrap();
    for chunk in 0..1000 {
        assert_eq!(
            read_reply(&mut c),
            format!(":{}\r\n", (chunk + 1) * 1000).as_bytes()
        );
    }
    let t = Instant::now();
    for i in 0..200 {
        let idx = 400_000 + i * 997;
        is(
            &mut c,
            &format!("LINDEX big {idx}"),
            &bulk(&idx.to_string()),
        );
    }
    let want: Vec<String> = (500_000..500_100).map(|i| i.to_string()).collect();
    let refs: Vec<&str> = want.iter().map(|s| s.as_str()).collect();
    for _ in 0..100 {
        is(&mut c, "LRANGE big 500000 500099", &arr(&refs));
    }
    is(&mut c, "LSET big 500000 changed", "+OK\r\n");
    is(&mut c, "LINDEX big -500000", &bulk("changed"));
    // A walk of the whole list per access would take minutes here.
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "random access took {:?}",
        t.elapsed()
    );
    is(&mut c, "LLEN big", ":1000000\r\n");
    is(&mut c, "LPOP big 3", &arr(&["0", "1", "2"]));
    is(&mut c, "RPOP big", &bulk("999999"));
}

/// Lists of every shape: small, past the packed limit, with big and binary
/// elements, with and without a TTL.
fn fill_lists(c: &mut RawConn) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut add = |c: &mut RawConn, key: &str, items: Vec<Vec<u8>>| {
        for chunk in items.chunks(500) {
            let mut args: Vec<&[u8]> = vec![b"RPUSH", key.as_bytes()];
            args.extend(chunk.iter().map(|v| v.as_slice()));
            cmd(c, &args);
        }
        out.push((key.to_string(), items));
    };
    add(
        c,
        "small",
        vec![b"a".to_vec(), b"".to_vec(), b"\x00\xff\r\n".to_vec()],
    );
    add(c, "ttl-small", vec![b"x".to_vec(), b"y".to_vec()]);
    add(
        c,
        "large",
        (0..20_000)
            .map(|i| format!("element-{i}").into_bytes())
            .collect(),
    );
    add(
        c,
        "ttl-large",
        (0..5000).map(|i| vec![(i % 251) as u8; i % 300]).collect(),
    );
    add(
        c,
        "huge-elements",
        vec![vec![b'h'; 100_000], vec![b'i'; 20_000], b"j".to_vec()],
    );
    r(c, "EXPIRE ttl-small 1000");
    r(c, "EXPIRE ttl-large 2000");
    r(c, "SET plain string");
    out
}

fn check_lists(c: &mut RawConn, lists: &[(String, Vec<Vec<u8>>)]) {
    for (key, items) in lists {
        let got = common::parse_one(&cmd(c, &[b"LRANGE", key.as_bytes(), b"0", b"-1"]));
        let got: Vec<Vec<u8>> = got
            .as_array()
            .unwrap_or_else(|| panic!("{key}: not an array"))
            .iter()
            .map(|e| e.as_bytes().unwrap().to_vec())
            .collect();
        assert_eq!(got.len(), items.len(), "{key}");
        assert!(got == *items, "{key}: contents differ");
        is(c, &format!("TYPE {key}"), "+list\r\n");
        is(c, &format!("OBJECT ENCODING {key}"), "$9\r\nquicklist\r\n");
    }
    let ttl: i64 = String::from_utf8(r(c, "TTL ttl-small"))
        .unwrap()
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!((990..=1000).contains(&ttl), "ttl-small {ttl}");
    let ttl: i64 = String::from_utf8(r(c, "TTL ttl-large"))
        .unwrap()
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!((1990..=2000).contains(&ttl), "ttl-large {ttl}");
    is(c, "TTL large", ":-1\r\n");
    is(c, "GET plain", &bulk("string"));
}

#[test]
fn debug_reload_keeps_lists() {
    let (_s, mut c) = server();
    let lists = fill_lists(&mut c);
    is(&mut c, "DEBUG RELOAD", "+OK\r\n");
    check_lists(&mut c, &lists);
    // Still fully usable after loading.
    is(&mut c, "LPUSH large head", ":20001\r\n");
    is(&mut c, "LINDEX large 10000", &bulk("element-9999"));
    is(&mut c, "LINSERT small AFTER a b", ":4\r\n");
}

#[test]
fn bgsave_and_restart_keep_lists() {
    let dir = common::unique_temp_dir("forkv-lists-data");
    let dir_s = dir.to_str().unwrap().to_string();
    let server = start(&["--dir", &dir_s]);
    let mut c = server.raw_conn();
    let lists = fill_lists(&mut c);
    is(&mut c, "BGSAVE", "+Background saving started\r\n");
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(&mut c, "persistence", "rdb_bgsave_in_progress") != "0"
        || info_field(&mut c, "persistence", "rdb_last_bgsave_status") != "ok"
    {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(c);
    drop(server);
    let server = start(&["--dir", &dir_s]);
    let mut c = server.raw_conn();
    check_lists(&mut c, &lists);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn key_commands_on_lists() {
    let (_s, mut c) = server();
    is(&mut c, "RPUSH g a b c", ":3\r\n");
    is(&mut c, "TYPE g", "+list\r\n");
    is(&mut c, "COPY g g2", ":1\r\n");
    is(&mut c, "RPUSH g2 d", ":4\r\n");
    is(&mut c, "LLEN g", ":3\r\n");
    is(&mut c, "RENAME g2 g3", "+OK\r\n");
    is(&mut c, "LRANGE g3 0 -1", &arr(&["a", "b", "c", "d"]));
    is(&mut c, "MOVE g3 1", ":1\r\n");
    is(&mut c, "SELECT 1", "+OK\r\n");
    is(&mut c, "LPOP g3", &bulk("a"));
    is(&mut c, "SELECT 0", "+OK\r\n");
    is(
        &mut c,
        "SCAN 0 TYPE list COUNT 100",
        "*2\r\n$1\r\n0\r\n*1\r\n$1\r\ng\r\n",
    );
    is(&mut c, "PEXPIRE g 50", ":1\r\n");
    std::thread::sleep(Duration::from_millis(120));
    is(&mut c, "LLEN g", ":0\r\n");
    is(&mut c, "LPUSHX g x", ":0\r\n");
    is(&mut c, "RPUSH d a", ":1\r\n");
    is(&mut c, "DEL d", ":1\r\n");
    is(&mut c, "TYPE d", "+none\r\n");
}

// ---------------------------------------------------------------------------
// Blocking

#[test]
fn blocked_clients_are_served_first_come_first_served() {
    let (s, mut w) = server();
    // Three real clients on their own threads block in a known order.
    let mut handles = Vec::new();
    for i in 0..3 {
        let mut conn = s.raw_conn();
        handles.push(std::thread::spawn(move || {
            let reply = r(&mut conn, "BLPOP k 0");
            (i, reply)
        }));
        wait_blocked(&mut w, i + 1);
    }
    is(&mut w, "RPUSH k 1 2 3", ":3\r\n");
    for h in handles {
        let (i, reply) = h.join().unwrap();
        assert_eq!(
            escape(&reply),
            escape(arr(&["k", &(i + 1).to_string()]).as_bytes())
        );
    }
    wait_blocked(&mut w, 0);
    is(&mut w, "EXISTS k", ":0\r\n");

    // One element per push: each goes to the longest waiter.
    let mut a = s.raw_conn();
    let mut b = s.raw_conn();
    send_line(&mut a, "BRPOP k other 0");
    wait_blocked(&mut w, 1);
    send_line(&mut b, "BLPOP other k 0");
    wait_blocked(&mut w, 2);
    is(&mut w, "LPUSH k first", ":1\r\n");
    assert_eq!(
        escape(&read_reply(&mut a)),
        escape(arr(&["k", "first"]).as_bytes())
    );
    no_reply_within(&mut b, Duration::from_millis(100));
    is(&mut w, "LPUSH other second", ":1\r\n");
    assert_eq!(
        escape(&read_reply(&mut b)),
        escape(arr(&["other", "second"]).as_bytes())
    );
    wait_blocked(&mut w, 0);
}

#[test]
fn pushes_in_a_pipeline_wake_the_waiter_before_the_next_command() {
    let (s, mut w) = server();
    let mut a = s.raw_conn();
    send_line(&mut a, "BLPOP k 0");
    wait_blocked(&mut w, 1);
    // RPUSH then LPOP in one write: the waiter is served between the two,
    // as Redis serves blocked clients after each command.
    let mut pipe = common::encode_command(&[b"RPUSH", b"k", b"x"]);
    pipe.extend(common::encode_command(&[b"LPOP", b"k"]));
    pipe.extend(common::encode_command(&[b"RPUSH", b"k", b"y", b"z"]));
    w.write_all(&pipe).unwrap();
    assert_eq!(read_reply(&mut w), b":1\r\n");
    assert_eq!(read_reply(&mut w), b"$-1\r\n");
    assert_eq!(read_reply(&mut w), b":2\r\n");
    assert_eq!(
        escape(&read_reply(&mut a)),
        escape(arr(&["k", "x"]).as_bytes())
    );
    // The blocked client's own pipelined commands run once it is served.
    let mut pipe = common::encode_command(&[b"BLPOP", b"q", b"0"]);
    pipe.extend(common::encode_command(&[b"LLEN", b"k"]));
    a.write_all(&pipe).unwrap();
    wait_blocked(&mut w, 1);
    no_reply_within(&mut a, Duration::from_millis(50));
    is(&mut w, "RPUSH q v", ":1\r\n");
    assert_eq!(
        escape(&read_reply(&mut a)),
        escape(arr(&["q", "v"]).as_bytes())
    );
    assert_eq!(read_reply(&mut a), b":2\r\n");
}

#[test]
fn blmove_chains_wake_every_link() {
    let (s, mut w) = server();
    let mut a = s.raw_conn();
    let mut b = s.raw_conn();
    let mut d = s.raw_conn();
    send_line(&mut a, "BLMOVE k1 k2 LEFT RIGHT 0");
    wait_blocked(&mut w, 1);
    send_line(&mut b, "BRPOPLPUSH k2 k3 0");
    wait_blocked(&mut w, 2);
    send_line(&mut d, "BLMPOP 0 2 nothing k3 LEFT COUNT 5");
    wait_blocked(&mut w, 3);
    is(&mut w, "RPUSH k1 v", ":1\r\n");
    assert_eq!(read_reply(&mut a), bulk("v").as_bytes());
    assert_eq!(read_reply(&mut b), bulk("v").as_bytes());
    assert_eq!(
        escape(&read_reply(&mut d)),
        escape(b"*2\r\n$2\r\nk3\r\n*1\r\n$1\r\nv\r\n")
    );
    wait_blocked(&mut w, 0);
    is(&mut w, "EXISTS k1 k2 k3", ":0\r\n");
}

#[test]
fn timeouts() {
    let (s, mut w) = server();
    let mut a = s.raw_conn();
    let t = Instant::now();
    is(&mut a, "BLPOP k 0.1", "*-1\r\n");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(95) && took < Duration::from_millis(1000),
        "{took:?}"
    );
    for line in [
        "BRPOP k 0.05",
        "BRPOPLPUSH k d 0.05",
        "BLMOVE k d RIGHT LEFT 0.05",
        "BLMPOP 0.05 1 k LEFT COUNT 2",
    ] {
        is(&mut a, line, "*-1\r\n");
    }
    r(&mut a, "HELLO 3");
    is(&mut a, "BLPOP k 0.05", "_\r\n");
    r(&mut a, "HELLO 2");
    wait_blocked(&mut w, 0);
    // 0 waits until served.
    send_line(&mut a, "BLPOP k 0");
    no_reply_within(&mut a, Duration::from_millis(300));
    is(&mut w, "RPUSH k late", ":1\r\n");
    assert_eq!(
        escape(&read_reply(&mut a)),
        escape(arr(&["k", "late"]).as_bytes())
    );
    // Errors, checked against Redis 7.0.15.
    is(
        &mut a,
        "BLPOP k abc",
        "-ERR timeout is not a float or out of range\r\n",
    );
    is(&mut a, "BLPOP k -1", "-ERR timeout is negative\r\n");
    is(&mut a, "BLPOP k inf", "-ERR timeout is negative\r\n");
    is(&mut a, "BLPOP k 1e20", "-ERR timeout is negative\r\n");
    is(&mut a, "BLPOP k 0.0001", "*-1\r\n");
}

/// Redis 7.0 turns a timeout into ceil(seconds * 1000) ms in long double
/// before it checks the sign, so -0.001 s (a hair above -1 ms) and
/// -0.0009 s round to 0 and wait forever, while -0.0011 s is negative.
#[test]
fn tiny_negative_timeouts_wait_forever_like_redis() {
    common::on_forkv_and_redis(&[], |s| {
        let mut w = s.raw_conn();
        let popped = "*2\r\n$1\r\nk\r\n$1\r\nv\r\n";
        let moved = "$1\r\nv\r\n";
        for (block, want) in [
            (&["BLPOP", "k", "-0.001"][..], popped),
            (&["BRPOP", "k", "-0.0009"], popped),
            (&["BLPOP", "k", "-0"], popped),
            (&["BLPOP", "k", "0x10"], popped),
            (&["BRPOPLPUSH", "k", "d", "-0.001"], moved),
            (&["BLMOVE", "k", "d", "LEFT", "RIGHT", "-0.001"], moved),
            (
                &["BLMPOP", "-0.001", "1", "k", "LEFT"],
                "*2\r\n$1\r\nk\r\n*1\r\n$1\r\nv\r\n",
            ),
        ] {
            let got = common::blocked_until_served(s, block, &mut w, "RPUSH k v");
            assert_eq!(escape(&got), escape(want.as_bytes()), "{block:?}");
            is(
                &mut w,
                "DEL d",
                if want == moved { ":1\r\n" } else { ":0\r\n" },
            );
        }
        common::assert_bad_timeouts(
            &mut w,
            &[
                &["BLPOP", "k", "T"],
                &["BRPOP", "k", "T"],
                &["BRPOPLPUSH", "k", "d", "T"],
                &["BLMOVE", "k", "d", "LEFT", "RIGHT", "T"],
                &["BLMPOP", "T", "1", "k", "LEFT"],
            ],
        );
        // Tiny positive timeouts round up to 1 ms.
        is(&mut w, "BLPOP k 0.0001", "*-1\r\n");
        is(&mut w, "BLPOP k 1e-10", "*-1\r\n");
    });
}

#[test]
fn disconnected_and_killed_waiters_are_forgotten() {
    let (s, mut w) = server();
    let mut a = s.raw_conn();
    send_line(&mut a, "BLPOP k 0");
    wait_blocked(&mut w, 1);
    drop(a);
    wait_blocked(&mut w, 0);
    is(&mut w, "RPUSH k kept", ":1\r\n");
    is(&mut w, "LRANGE k 0 -1", &arr(&["kept"]));
    is(&mut w, "DEL k", ":1\r\n");

    let mut b = s.raw_conn();
    is(&mut b, "CLIENT SETNAME waiter", "+OK\r\n");
    let id = String::from_utf8(r(&mut b, "CLIENT ID")).unwrap();
    let id = id.trim().trim_start_matches(':').to_string();
    send_line(&mut b, "BRPOP k 0");
    wait_blocked(&mut w, 1);
    is(&mut w, &format!("CLIENT KILL ID {id}"), ":1\r\n");
    wait_blocked(&mut w, 0);
    is(&mut w, "RPUSH k kept", ":1\r\n");
    is(&mut w, "LLEN k", ":1\r\n");
}

#[test]
fn keys_deleted_or_retyped_while_waiting() {
    let (s, mut w) = server();
    let mut a = s.raw_conn();
    // As Redis 7.0: a key that became a string does not serve (or fail) the
    // waiter; it keeps waiting until the key is a list again.
    send_line(&mut a, "BLPOP k 0");
    wait_blocked(&mut w, 1);
    is(&mut w, "SET k string", "+OK\r\n");
    no_reply_within(&mut a, Duration::from_millis(100));
    wait_blocked(&mut w, 1);
    is(&mut w, "DEL k", ":1\r\n");
    is(&mut w, "LPUSH k v", ":1\r\n");
    assert_eq!(
        escape(&read_reply(&mut a)),
        escape(arr(&["k", "v"]).as_bytes())
    );

    // Several keys: a retyped one is skipped, the pushed one serves.
    send_line(&mut a, "BLPOP k1 k2 0");
    wait_blocked(&mut w, 1);
    is(&mut w, "SET k1 string", "+OK\r\n");
    is(&mut w, "RPUSH k2 x", ":1\r\n");
    assert_eq!(
        escape(&read_reply(&mut a)),
        escape(arr(&["k2", "x"]).as_bytes())
    );

    // BLMOVE whose destination became a string: the waiter gets WRONGTYPE
    // and the element stays in the source.
    send_line(&mut a, "BLMOVE src dst LEFT RIGHT 0");
    wait_blocked(&mut w, 1);
    is(&mut w, "SET dst string", "+OK\r\n");
    is(&mut w, "RPUSH src e", ":1\r\n");
    assert_eq!(
        escape(&read_reply(&mut a)),
        escape(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
    );
    wait_blocked(&mut w, 0);
    is(&mut w, "LRANGE src 0 -1", &arr(&["e"]));

    // A list created by RENAME or MOVE serves waiters too.
    send_line(&mut a, "BLPOP target 0");
    wait_blocked(&mut w, 1);
    is(&mut w, "RPUSH tmp renamed", ":1\r\n");
    is(&mut w, "RENAME tmp target", "+OK\r\n");
    assert_eq!(
        escape(&read_reply(&mut a)),
        escape(arr(&["target", "renamed"]).as_bytes())
    );
}

#[test]
fn served_waiters_count_dirty_like_redis() {
    let (s, mut w) = server();
    let mut a = s.raw_conn();
    send_line(&mut a, "BLPOP k 0");
    wait_blocked(&mut w, 1);
    let before: u64 = info_field(&mut w, "persistence", "rdb_changes_since_last_save")
        .parse()
        .unwrap();
    is(&mut w, "RPUSH k v", ":1\r\n");
    read_reply(&mut a);
    let after: u64 = info_field(&mut w, "persistence", "rdb_changes_since_last_save")
        .parse()
        .unwrap();
    // Redis 7.0 counts the push but not the pop of a served BLPOP.
    assert_eq!(after - before, 1);
}

// ---------------------------------------------------------------------------
// Randomized comparison with real Redis

#[test]
fn random_commands_match_redis() {
    let Some(redis) = common::start_redis(&[]) else {
        eprintln!("random_commands_match_redis: skipped, redis-server not found");
        return;
    };
    let forkv = start_recorded();
    let mut a = redis.raw_conn();
    let mut b = forkv.raw_conn();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let keys = ["k1", "k2", "k3", "str"];
    let vals = [
        "a",
        "b",
        "",
        "1",
        "2",
        "longer-value-xxxxxxxxxxxxxxxxxxxxxxxxx",
    ];
    for (c, fill) in [(&mut a, "4"), (&mut b, "4")] {
        is(
            c,
            &format!("CONFIG SET list-max-listpack-size {fill}"),
            "+OK\r\n",
        );
        is(c, "SET str s", "+OK\r\n");
    }
    for step in 0..6000 {
        let k = keys[next(keys.len() as u64) as usize];
        let k2 = keys[next(keys.len() as u64) as usize];
        let v = vals[next(vals.len() as u64) as usize];
        let i = next(14) as i64 - 7;
        let j = next(14) as i64 - 7;
        let n = next(5);
        let end = ["LEFT", "RIGHT"][next(2) as usize];
        let end2 = ["LEFT", "RIGHT"][next(2) as usize];
        let line = match next(20) {
            0 | 1 => format!("RPUSH {k} {v} {v}x"),
            2 | 3 => format!("LPUSH {k} {v}"),
            4 => format!("LPUSHX {k} {v}"),
            5 => format!("LPOP {k} {n}"),
            6 => format!("RPOP {k}"),
            7 => format!("LRANGE {k} {i} {j}"),
            8 => format!("LINDEX {k} {i}"),
            9 => format!("LSET {k} {i} {v}"),
            10 => format!(
                "LINSERT {k} {} {v} {v}y",
                ["BEFORE", "AFTER"][next(2) as usize]
            ),
            11 => format!("LREM {k} {i} {v}"),
            12 => format!("LTRIM {k} {i} {j}"),
            13 => format!(
                "LPOS {k} {v} RANK {} COUNT {n} MAXLEN {}",
                [1, 2, -1, -2][next(4) as usize],
                next(6)
            ),
            14 => format!("LMOVE {k} {k2} {end} {end2}"),
            15 => format!("RPOPLPUSH {k} {k2}"),
            16 => format!("LMPOP 2 {k} {k2} {end} COUNT {}", n + 1),
            17 => format!("BLMPOP 0.001 2 {k} {k2} {end}"),
            18 => format!("BLPOP {k} {k2} 0.001"),
            _ => format!("LLEN {k}"),
        };
        let ra = r(&mut a, &line);
        let rb = r(&mut b, &line);
        assert_eq!(escape(&rb), escape(&ra), "step {step}: {line}");
    }
    for k in keys {
        let line = format!("LRANGE {k} 0 -1");
        assert_eq!(
            escape(&r(&mut b, &line)),
            escape(&r(&mut a, &line)),
            "{line}"
        );
    }
}
