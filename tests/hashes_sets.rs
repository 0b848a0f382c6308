//! Hashes and sets through the real server: every command's replies and
//! errors, encodings and their thresholds (CONFIG SET), HSCAN/SSCAN's
//! guarantee while a collection grows, random commands' distributions,
//! change counting, RESP3 shapes, generic key commands, and snapshot round
//! trips (DEBUG RELOAD, BGSAVE + restart) of small and large collections.

mod common;

use common::{Server, cmd, dirty, encoding, info_field, q, raw, raw_s, start, start_recorded, w};
use redis::Connection;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Adds members with one pipelined SADD per chunk.
fn sadd_many(c: &mut Connection, key: &str, members: impl IntoIterator<Item = String>) {
    let members: Vec<String> = members.into_iter().collect();
    let mut pipe = redis::pipe();
    for chunk in members.chunks(500) {
        pipe.cmd("SADD").arg(key).arg(chunk).ignore();
    }
    let _: () = pipe.query(c).unwrap();
}

fn hset_many(c: &mut Connection, key: &str, pairs: impl IntoIterator<Item = (String, String)>) {
    let pairs: Vec<(String, String)> = pairs.into_iter().collect();
    let mut pipe = redis::pipe();
    for chunk in pairs.chunks(500) {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(key);
        for (f, v) in chunk {
            cmd.arg(f).arg(v);
        }
        pipe.add_command(cmd).ignore();
    }
    let _: () = pipe.query(c).unwrap();
}

fn smembers(c: &mut Connection, key: &str) -> HashSet<Vec<u8>> {
    let v: Vec<Vec<u8>> = w(c, &format!("SMEMBERS {key}"));
    let n = v.len();
    let s: HashSet<Vec<u8>> = v.into_iter().collect();
    assert_eq!(s.len(), n, "SMEMBERS {key} repeated a member");
    s
}

fn hgetall(c: &mut Connection, key: &str) -> HashMap<Vec<u8>, Vec<u8>> {
    let v: Vec<Vec<u8>> = w(c, &format!("HGETALL {key}"));
    assert_eq!(v.len() % 2, 0);
    let n = v.len() / 2;
    let m: HashMap<Vec<u8>, Vec<u8>> = v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
    assert_eq!(m.len(), n, "HGETALL {key} repeated a field");
    m
}

// ---------------------------------------------------------------------------
// Hash commands
// ---------------------------------------------------------------------------

#[test]
fn hash_commands_and_errors() {
    let server = start_recorded();
    let mut r = server.raw_conn();
    assert_eq!(raw_s(&mut r, "HSET h a 1 b 2"), ":2\r\n");
    assert_eq!(raw_s(&mut r, "HSET h a 1 c 3"), ":1\r\n");
    assert_eq!(raw_s(&mut r, "HMSET h d 4"), "+OK\r\n");
    assert_eq!(
        raw_s(&mut r, "HGETALL h"),
        "*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"
    );
    assert_eq!(
        raw_s(&mut r, "HMGET h a x d"),
        "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n4\r\n"
    );
    assert_eq!(raw_s(&mut r, "HSETNX h a 9"), ":0\r\n");
    assert_eq!(raw_s(&mut r, "HSETNX h e 5"), ":1\r\n");
    assert_eq!(raw_s(&mut r, "HLEN h"), ":5\r\n");
    assert_eq!(raw_s(&mut r, "HSTRLEN h e"), ":1\r\n");
    assert_eq!(raw_s(&mut r, "HEXISTS h e"), ":1\r\n");
    assert_eq!(raw_s(&mut r, "HDEL h a b x"), ":2\r\n");
    assert_eq!(
        raw_s(&mut r, "HKEYS h"),
        "*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"
    );
    assert_eq!(
        raw_s(&mut r, "HVALS h"),
        "*3\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n"
    );
    assert_eq!(raw_s(&mut r, "HDEL h c d e"), ":3\r\n");
    assert_eq!(raw_s(&mut r, "EXISTS h"), ":0\r\n");
    // Errors, in Redis's order of checks.
    assert_eq!(
        raw_s(&mut r, "HSET h a"),
        "-ERR wrong number of arguments for 'hset' command\r\n"
    );
    assert_eq!(
        raw_s(&mut r, "HMSET h a b c"),
        "-ERR wrong number of arguments for 'hmset' command\r\n"
    );
    assert_eq!(raw_s(&mut r, "SET s x"), "+OK\r\n");
    let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    for c in [
        "HSET s a b",
        "HGET s a",
        "HMGET s a",
        "HDEL s a",
        "HLEN s",
        "HKEYS s",
        "HGETALL s",
        "HINCRBY s a 1",
        "HINCRBYFLOAT s a 1",
        "HRANDFIELD s",
        "HRANDFIELD s 0",
        "HSCAN s 0",
        "HSETNX s a b",
        "HSTRLEN s a",
        "HEXISTS s a",
    ] {
        assert_eq!(raw_s(&mut r, c), wrong, "{c}");
    }
    // Argument errors come before the type check.
    assert_eq!(
        raw_s(&mut r, "HINCRBY s a x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        raw_s(&mut r, "HINCRBYFLOAT s a x"),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(raw_s(&mut r, "HSCAN s x"), "-ERR invalid cursor\r\n");
}

#[test]
fn hash_counters() {
    let server = start_recorded();
    let mut r = server.raw_conn();
    assert_eq!(raw_s(&mut r, "HINCRBY h n 5"), ":5\r\n");
    assert_eq!(raw_s(&mut r, "HINCRBY h n -7"), ":-2\r\n");
    assert_eq!(raw_s(&mut r, "HSET h max 9223372036854775807"), ":1\r\n");
    assert_eq!(
        raw_s(&mut r, "HINCRBY h max 1"),
        "-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(raw_s(&mut r, "HSET h s abc"), ":1\r\n");
    assert_eq!(
        raw_s(&mut r, "HINCRBY h s 1"),
        "-ERR hash value is not an integer\r\n"
    );
    assert_eq!(
        raw_s(&mut r, "HINCRBYFLOAT h s 1"),
        "-ERR hash value is not a float\r\n"
    );
    assert_eq!(raw_s(&mut r, "HINCRBYFLOAT h f 10.5"), "$4\r\n10.5\r\n");
    assert_eq!(raw_s(&mut r, "HINCRBYFLOAT h f 0.1"), "$4\r\n10.6\r\n");
    assert_eq!(
        raw_s(&mut r, "HINCRBYFLOAT h f inf"),
        "-ERR value is NaN or Infinity\r\n"
    );
    assert_eq!(raw_s(&mut r, "HSET h i inf"), ":1\r\n");
    assert_eq!(
        raw_s(&mut r, "HINCRBYFLOAT h i 1"),
        "-ERR increment would produce NaN or Infinity\r\n"
    );
    // A failed increment on a missing key creates nothing.
    assert_eq!(
        raw_s(&mut r, "HINCRBYFLOAT nokey f nan"),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(raw_s(&mut r, "EXISTS nokey"), ":0\r\n");
}

#[test]
fn hash_encoding_thresholds() {
    let server = start_recorded();
    let mut c = server.client();
    let _: i64 = w(&mut c, "HSET h f v");
    assert_eq!(encoding(&mut c, "h"), "listpack");
    // Exactly hash-max-listpack-value bytes stays packed; one more converts.
    let v64 = "x".repeat(64);
    let _: i64 = q(&mut c, &[b"HSET", b"h", b"g", v64.as_bytes()]);
    assert_eq!(encoding(&mut c, "h"), "listpack");
    let v65 = "x".repeat(65);
    let _: i64 = q(&mut c, &[b"HSET", b"h", v65.as_bytes(), b"v"]);
    assert_eq!(encoding(&mut c, "h"), "hashtable");
    // One way: removing the long field keeps the hash table.
    let _: i64 = q(&mut c, &[b"HDEL", b"h", v65.as_bytes()]);
    assert_eq!(encoding(&mut c, "h"), "hashtable");
    let _: i64 = q(&mut c, &[b"HINCRBY", b"hi", v65.as_bytes(), b"1"]);
    assert_eq!(encoding(&mut c, "hi"), "hashtable");

    // Entry count, with a lowered limit.
    let _: () = w(&mut c, "CONFIG SET hash-max-listpack-entries 4");
    hset_many(
        &mut c,
        "n",
        (0..4).map(|i| (format!("f{i}"), i.to_string())),
    );
    assert_eq!(encoding(&mut c, "n"), "listpack");
    let _: i64 = w(&mut c, "HSET n f0 again");
    assert_eq!(encoding(&mut c, "n"), "listpack");
    let _: i64 = w(&mut c, "HSET n f4 4");
    assert_eq!(encoding(&mut c, "n"), "hashtable");
    assert_eq!(hgetall(&mut c, "n").len(), 5);
    assert_eq!(w::<String>(&mut c, "HGET n f0"), "again");

    // Default limits: 512 entries packed, 513 not.
    let _: () = w(&mut c, "CONFIG SET hash-max-listpack-entries 512");
    hset_many(
        &mut c,
        "big",
        (0..512).map(|i| (format!("f{i}"), i.to_string())),
    );
    assert_eq!(encoding(&mut c, "big"), "listpack");
    let _: i64 = w(&mut c, "HSET big one more");
    assert_eq!(encoding(&mut c, "big"), "hashtable");
    let all = hgetall(&mut c, "big");
    assert_eq!(all.len(), 513);
    for i in 0..512 {
        assert_eq!(all[format!("f{i}").as_bytes()], i.to_string().as_bytes());
    }
    // Values of any size, binary-safe, in both encodings.
    let blob: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    let _: i64 = q(&mut c, &[b"HSET", b"big", b"\x00bin\r\n", &blob]);
    let got: Vec<u8> = q(&mut c, &[b"HGET", b"big", b"\x00bin\r\n"]);
    assert_eq!(got, blob);
    let _: i64 = q(&mut c, &[b"HSET", b"small", b"\x00\xff", b"\r\n"]);
    let got: Vec<u8> = q(&mut c, &[b"HGET", b"small", b"\x00\xff"]);
    assert_eq!(got, b"\r\n");
}

#[test]
fn hrandfield_shapes_and_distribution() {
    let server = start_recorded();
    let mut c = server.client();
    let mut r = server.raw_conn();
    hset_many(
        &mut c,
        "small",
        (0..10).map(|i| (format!("f{i}"), format!("v{i}"))),
    );
    hset_many(
        &mut c,
        "large",
        (0..1000).map(|i| (format!("f{i}"), format!("v{i}"))),
    );
    assert_eq!(encoding(&mut c, "small"), "listpack");
    assert_eq!(encoding(&mut c, "large"), "hashtable");
    for (key, n) in [("small", 10usize), ("large", 1000)] {
        // Positive counts: distinct fields, at most the hash's size.
        for count in [1, 3, n / 2, n - 1, n, n + 5] {
            let got: Vec<String> = w(&mut c, &format!("HRANDFIELD {key} {count}"));
            assert_eq!(got.len(), count.min(n), "{key} {count}");
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len());
            let pairs: Vec<String> = w(&mut c, &format!("HRANDFIELD {key} {count} WITHVALUES"));
            assert_eq!(pairs.len(), 2 * count.min(n));
            for p in pairs.chunks(2) {
                assert_eq!(p[1], p[0].replace('f', "v"));
            }
        }
        // Negative counts repeat fields; every field shows up about evenly.
        let picks = 200 * n;
        let got: Vec<String> = w(&mut c, &format!("HRANDFIELD {key} -{picks}"));
        assert_eq!(got.len(), picks);
        let mut hist: HashMap<String, usize> = HashMap::new();
        for f in got {
            *hist.entry(f).or_default() += 1;
        }
        assert_eq!(hist.len(), n, "{key}: every field is drawn");
        let (lo, hi) = (*hist.values().min().unwrap(), *hist.values().max().unwrap());
        // Bounds leave room for the bias of bucket-then-chain sampling (as
        // in Redis's dictGetFairRandomKey): a loose check for "not stuck".
        assert!(lo > 200 / 10 && hi < 200 * 5, "{key}: counts {lo}..{hi}");
        // One field without a count.
        let f: String = w(&mut c, &format!("HRANDFIELD {key}"));
        assert!(f.starts_with('f'));
    }
    // RESP2 flat, RESP3 nested pairs.
    assert_eq!(raw_s(&mut r, "HSET one f v"), ":1\r\n");
    assert_eq!(
        raw_s(&mut r, "HRANDFIELD one -2 WITHVALUES"),
        "*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    raw(&mut r, "HELLO 3");
    assert_eq!(
        raw_s(&mut r, "HRANDFIELD one -2 WITHVALUES"),
        "*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    assert_eq!(
        raw_s(&mut r, "HRANDFIELD one 5 WITHVALUES"),
        "*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    assert_eq!(raw_s(&mut r, "HGETALL one"), "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    assert_eq!(raw_s(&mut r, "HGETALL nokey"), "%0\r\n");
    assert_eq!(raw_s(&mut r, "HRANDFIELD nokey"), "_\r\n");
    // Absurd counts are refused instead of exhausting memory.
    assert_eq!(
        raw_s(&mut r, "HRANDFIELD one -9223372036854775807"),
        "-ERR value is out of range\r\n"
    );
    assert_eq!(
        raw_s(&mut r, "HRANDFIELD one 9223372036854775807"),
        "*1\r\n$1\r\nf\r\n"
    );
}

#[test]
fn hscan_returns_every_stable_field_while_the_hash_grows() {
    let server = start_recorded();
    let mut c = server.client();
    let stable: HashSet<String> = (0..3000).map(|i| format!("stable:{i}")).collect();
    hset_many(
        &mut c,
        "h",
        stable.iter().map(|f| (f.clone(), "v".to_string())),
    );
    assert_eq!(encoding(&mut c, "h"), "hashtable");
    let mut seen = HashSet::new();
    let mut cursor: u64 = 0;
    let mut round = 0;
    loop {
        let (next, items): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg("h")
            .arg(cursor)
            .arg("COUNT")
            .arg(40)
            .query(&mut c)
            .unwrap();
        assert_eq!(items.len() % 2, 0);
        for p in items.chunks(2) {
            seen.insert(p[0].clone());
        }
        // Grow (forcing rehashes) and remove unrelated fields between calls.
        hset_many(
            &mut c,
            "h",
            (0..30).map(|j| (format!("grow:{round}:{j}"), "g".to_string())),
        );
        if round % 3 == 0 {
            let _: i64 = w(&mut c, &format!("HDEL h grow:{round}:0 grow:{round}:1"));
        }
        round += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let missing: Vec<_> = stable.iter().filter(|f| !seen.contains(*f)).collect();
    assert!(missing.is_empty(), "HSCAN missed {} fields", missing.len());
    // MATCH filters fields; values come along.
    let (cur, items): (u64, Vec<String>) = redis::cmd("HSCAN")
        .arg("h")
        .arg(0)
        .arg("MATCH")
        .arg("stable:1?")
        .arg("COUNT")
        .arg(1_000_000)
        .query(&mut c)
        .unwrap();
    assert_eq!(cur, 0);
    assert_eq!(items.len(), 20);
    // A small hash answers everything at once, whatever the cursor.
    let _: i64 = w(&mut c, "HSET small a 1 b 2 c 3");
    let (cur, items): (u64, Vec<String>) = w(&mut c, "HSCAN small 777 COUNT 1");
    assert_eq!(cur, 0);
    assert_eq!(items, vec!["a", "1", "b", "2", "c", "3"]);
}

// ---------------------------------------------------------------------------
// Set commands
// ---------------------------------------------------------------------------

#[test]
fn set_commands_and_errors() {
    let server = start_recorded();
    let mut r = server.raw_conn();
    assert_eq!(raw_s(&mut r, "SADD s c a b a"), ":3\r\n");
    assert_eq!(raw_s(&mut r, "SCARD s"), ":3\r\n");
    assert_eq!(raw_s(&mut r, "SISMEMBER s a"), ":1\r\n");
    assert_eq!(
        raw_s(&mut r, "SMISMEMBER s a z c"),
        "*3\r\n:1\r\n:0\r\n:1\r\n"
    );
    // Small sets keep insertion order (listpack).
    assert_eq!(
        raw_s(&mut r, "SMEMBERS s"),
        "*3\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(raw_s(&mut r, "SREM s a z"), ":1\r\n");
    assert_eq!(raw_s(&mut r, "SREM s b c"), ":2\r\n");
    assert_eq!(raw_s(&mut r, "EXISTS s"), ":0\r\n");
    assert_eq!(raw_s(&mut r, "SMEMBERS s"), "*0\r\n");
    // Intsets are sorted.
    assert_eq!(raw_s(&mut r, "SADD i 30 -1 20 10"), ":4\r\n");
    assert_eq!(
        raw_s(&mut r, "SMEMBERS i"),
        "*4\r\n$2\r\n-1\r\n$2\r\n10\r\n$2\r\n20\r\n$2\r\n30\r\n"
    );
    // SMOVE
    assert_eq!(raw_s(&mut r, "SMOVE i j 10"), ":1\r\n");
    assert_eq!(raw_s(&mut r, "SMOVE i j 10"), ":0\r\n");
    assert_eq!(raw_s(&mut r, "SMOVE i i 20"), ":1\r\n");
    assert_eq!(raw_s(&mut r, "SMEMBERS j"), "*1\r\n$2\r\n10\r\n");
    assert_eq!(raw_s(&mut r, "SET str x"), "+OK\r\n");
    let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    for c in [
        "SADD str a",
        "SREM str a",
        "SCARD str",
        "SISMEMBER str a",
        "SMISMEMBER str a",
        "SMEMBERS str",
        "SRANDMEMBER str",
        "SRANDMEMBER str 0",
        "SPOP str",
        "SPOP str 0",
        "SMOVE str j 1",
        "SMOVE j str 10",
        "SINTER i str",
        "SINTER nokey str",
        "SINTERCARD 2 i str",
        "SINTERSTORE d i str",
        "SUNION nokey str",
        "SUNIONSTORE d str",
        "SDIFF nokey str",
        "SDIFFSTORE d i str",
        "SSCAN str 0",
    ] {
        assert_eq!(raw_s(&mut r, c), wrong, "{c}");
    }
    assert_eq!(raw_s(&mut r, "SMOVE nokey str 1"), ":0\r\n");
    assert_eq!(
        raw_s(&mut r, "SPOP i -1"),
        "-ERR value is out of range, must be positive\r\n"
    );
    assert_eq!(raw_s(&mut r, "SPOP i 1 2"), "-ERR syntax error\r\n");
    assert_eq!(
        raw_s(&mut r, "SRANDMEMBER i -9223372036854775808"),
        "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
    );
    assert_eq!(
        raw_s(&mut r, "SINTERCARD 0 i"),
        "-ERR numkeys should be greater than 0\r\n"
    );
    assert_eq!(
        raw_s(&mut r, "SINTERCARD 2 i"),
        "-ERR Number of keys can't be greater than number of args\r\n"
    );
    assert_eq!(
        raw_s(&mut r, "SINTERCARD 1 i LIMIT -1"),
        "-ERR LIMIT can't be negative\r\n"
    );
    // Binary-safe members.
    assert_eq!(
        cmd(&mut r, &[b"SADD", b"b", b"\x00\r\n\xff", b""]),
        b":2\r\n"
    );
    assert_eq!(
        cmd(&mut r, &[b"SISMEMBER", b"b", b"\x00\r\n\xff"]),
        b":1\r\n"
    );
    assert_eq!(cmd(&mut r, &[b"SISMEMBER", b"b", b""]), b":1\r\n");
    assert_eq!(
        cmd(&mut r, &[b"SMEMBERS", b"b"]),
        b"*2\r\n$4\r\n\x00\r\n\xff\r\n$0\r\n\r\n"
    );
}

#[test]
fn set_encoding_thresholds() {
    let server = start_recorded();
    let mut c = server.client();
    // intset -> hashtable past set-max-intset-entries.
    sadd_many(&mut c, "i", (0..512).map(|i| i.to_string()));
    assert_eq!(encoding(&mut c, "i"), "intset");
    let _: i64 = w(&mut c, "SADD i 512");
    assert_eq!(encoding(&mut c, "i"), "hashtable");
    // Non-canonical integers are strings.
    for (m, enc) in [
        ("01", "listpack"),
        ("+1", "listpack"),
        ("-0", "listpack"),
        (" 1", "listpack"),
        ("9223372036854775808", "listpack"),
        ("-9223372036854775808", "intset"),
        ("9223372036854775807", "intset"),
    ] {
        let _: i64 = q(&mut c, &[b"SADD", b"t", m.as_bytes()]);
        assert_eq!(encoding(&mut c, "t"), enc, "{m}");
        let _: i64 = w(&mut c, "DEL t");
    }
    // intset -> listpack (Redis 7.2) on a string member, keeping order.
    let _: i64 = w(&mut c, "SADD m 3 1 2");
    let _: i64 = w(&mut c, "SADD m x");
    assert_eq!(encoding(&mut c, "m"), "listpack");
    let v: Vec<String> = w(&mut c, "SMEMBERS m");
    assert_eq!(v, ["1", "2", "3", "x"]);
    let _: i64 = w(&mut c, "SADD m 0");
    let v: Vec<String> = w(&mut c, "SMEMBERS m");
    assert_eq!(v, ["1", "2", "3", "x", "0"]);
    // listpack -> hashtable past set-max-listpack-entries (128) or -value (64).
    sadd_many(&mut c, "l", (0..128).map(|i| format!("m{i}")));
    assert_eq!(encoding(&mut c, "l"), "listpack");
    let _: i64 = w(&mut c, "SADD l m0");
    assert_eq!(encoding(&mut c, "l"), "listpack");
    let _: i64 = w(&mut c, "SADD l m128");
    assert_eq!(encoding(&mut c, "l"), "hashtable");
    let _: i64 = q(&mut c, &[b"SADD", b"v", "y".repeat(64).as_bytes()]);
    assert_eq!(encoding(&mut c, "v"), "listpack");
    let _: i64 = q(&mut c, &[b"SADD", b"v", "y".repeat(65).as_bytes()]);
    assert_eq!(encoding(&mut c, "v"), "hashtable");
    // A big intset meeting a string goes straight to a hash table.
    sadd_many(&mut c, "bi", (0..200).map(|i| i.to_string()));
    let _: i64 = w(&mut c, "SADD bi x");
    assert_eq!(encoding(&mut c, "bi"), "hashtable");
    assert_eq!(smembers(&mut c, "bi").len(), 201);
    // One way: shrinking does not convert back.
    let _: i64 = w(&mut c, "SREM l m1 m2 m3 m4 m5 m6 m7 m8 m9 m10");
    assert_eq!(encoding(&mut c, "l"), "hashtable");
    // Configurable limits.
    let _: () = w(&mut c, "CONFIG SET set-max-listpack-entries 2");
    let _: () = w(&mut c, "CONFIG SET set-max-intset-entries 3");
    let _: i64 = w(&mut c, "SADD c1 a b");
    assert_eq!(encoding(&mut c, "c1"), "listpack");
    let _: i64 = w(&mut c, "SADD c1 c");
    assert_eq!(encoding(&mut c, "c1"), "hashtable");
    let _: i64 = w(&mut c, "SADD c2 1 2 3");
    assert_eq!(encoding(&mut c, "c2"), "intset");
    let _: i64 = w(&mut c, "SADD c2 4");
    assert_eq!(encoding(&mut c, "c2"), "hashtable");
    // Redis 7.2's size hint: more arguments than the limit convert up front.
    let _: i64 = w(&mut c, "SADD c3 a a a");
    assert_eq!(encoding(&mut c, "c3"), "hashtable");
    let _: () = w(&mut c, "CONFIG SET set-max-listpack-value 3");
    let _: i64 = w(&mut c, "SADD c4 abc");
    assert_eq!(encoding(&mut c, "c4"), "listpack");
    let _: i64 = w(&mut c, "SADD c5 abcd");
    assert_eq!(encoding(&mut c, "c5"), "hashtable");
    let v: Vec<String> = w(&mut c, "CONFIG GET set-max-listpack-*");
    assert_eq!(v.len(), 4);
    // Results of the algebra are built with the same rules.
    let _: () = w(&mut c, "CONFIG SET set-max-intset-entries 512");
    let _: () = w(&mut c, "CONFIG SET set-max-listpack-entries 128");
    let _: () = w(&mut c, "CONFIG SET set-max-listpack-value 64");
    let _: i64 = w(&mut c, "SADD u1 1 2");
    let _: i64 = w(&mut c, "SADD u2 a");
    let _: i64 = w(&mut c, "SUNIONSTORE u u1");
    assert_eq!(encoding(&mut c, "u"), "intset");
    let _: i64 = w(&mut c, "SUNIONSTORE u u1 u2");
    assert_eq!(encoding(&mut c, "u"), "listpack");
    // 119 + 2 members: a listpack again, though `l` itself is a hash table.
    let _: i64 = w(&mut c, "SUNIONSTORE u l u1");
    assert_eq!(encoding(&mut c, "u"), "listpack");
    let _: i64 = w(&mut c, "SUNIONSTORE u l u1 i");
    assert_eq!(encoding(&mut c, "u"), "hashtable");
}

/// Redis's rules for the algebra, on plain `HashSet`s.
#[test]
fn set_algebra_matches_a_model() {
    let server = start_recorded();
    let mut c = server.client();
    // A mix of encodings: hash tables, an intset, a listpack, a missing key.
    let a: HashSet<String> = (0..3000).map(|i| format!("m{}", i * 2)).collect();
    let b: HashSet<String> = (0..3000).map(|i| format!("m{}", i * 3)).collect();
    let i: HashSet<String> = (0..300).map(|i| (i * 5).to_string()).collect();
    let l: HashSet<String> = ["m0", "m6", "m12", "x", "30"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    sadd_many(&mut c, "a", a.iter().cloned());
    sadd_many(&mut c, "b", b.iter().cloned());
    sadd_many(&mut c, "i", i.iter().cloned());
    sadd_many(&mut c, "l", l.iter().cloned());
    sadd_many(&mut c, "ai", a.iter().cloned().chain(i.iter().cloned()));
    assert_eq!(encoding(&mut c, "a"), "hashtable");
    assert_eq!(encoding(&mut c, "i"), "intset");
    assert_eq!(encoding(&mut c, "l"), "listpack");
    let model: HashMap<&str, &HashSet<String>> =
        [("a", &a), ("b", &b), ("i", &i), ("l", &l)].into();
    let empty = HashSet::new();
    let get = |k: &str| -> HashSet<String> {
        match k {
            "ai" => a.union(&i).cloned().collect(),
            _ => (*model.get(k).unwrap_or(&&empty)).clone(),
        }
    };
    let combos: &[&[&str]] = &[
        &["a", "b"],
        &["b", "a"],
        &["a", "b", "l"],
        &["ai", "i"],
        &["i", "ai"],
        &["l", "a"],
        &["a", "nokey"],
        &["nokey", "a"],
        &["a", "a"],
        &["l", "i", "b"],
    ];
    for keys in combos {
        let sets: Vec<HashSet<String>> = keys.iter().map(|k| get(k)).collect();
        let inter: HashSet<String> = sets[1..].iter().fold(sets[0].clone(), |acc, s| {
            acc.intersection(s).cloned().collect()
        });
        let union: HashSet<String> = sets.iter().flatten().cloned().collect();
        let diff: HashSet<String> = sets[1..].iter().fold(sets[0].clone(), |acc, s| {
            acc.difference(s).cloned().collect()
        });
        let k = keys.join(" ");
        let got: Vec<String> = w(&mut c, &format!("SINTER {k}"));
        assert_eq!(got.len(), inter.len(), "SINTER {k}");
        assert_eq!(got.into_iter().collect::<HashSet<_>>(), inter, "SINTER {k}");
        let got: Vec<String> = w(&mut c, &format!("SUNION {k}"));
        assert_eq!(got.len(), union.len(), "SUNION {k}");
        assert_eq!(got.into_iter().collect::<HashSet<_>>(), union, "SUNION {k}");
        let got: Vec<String> = w(&mut c, &format!("SDIFF {k}"));
        assert_eq!(got.len(), diff.len(), "SDIFF {k}");
        assert_eq!(got.into_iter().collect::<HashSet<_>>(), diff, "SDIFF {k}");
        let n: usize = w(&mut c, &format!("SINTERCARD {} {k}", keys.len()));
        assert_eq!(n, inter.len());
        let n: usize = w(&mut c, &format!("SINTERCARD {} {k} LIMIT 7", keys.len()));
        assert_eq!(n, inter.len().min(7));
        for (op, want) in [
            ("SINTERSTORE", &inter),
            ("SUNIONSTORE", &union),
            ("SDIFFSTORE", &diff),
        ] {
            let n: usize = w(&mut c, &format!("{op} dst {k}"));
            assert_eq!(n, want.len(), "{op} {k}");
            let got: HashSet<String> = smembers(&mut c, "dst")
                .into_iter()
                .map(|m| String::from_utf8(m).unwrap())
                .collect();
            assert_eq!(&got, want, "{op} {k}");
            let exists: i64 = w(&mut c, "EXISTS dst");
            assert_eq!(exists, (n > 0) as i64);
        }
    }
    // A store may name one of its sources.
    let n: usize = w(&mut c, "SINTERSTORE a a b");
    assert_eq!(n, a.intersection(&b).count());
    let got = smembers(&mut c, "a");
    assert_eq!(got.len(), n);
}

#[test]
fn random_members_and_pops() {
    let server = start_recorded();
    let mut c = server.client();
    sadd_many(&mut c, "ints", (0..20).map(|i| i.to_string()));
    sadd_many(&mut c, "lp", (0..20).map(|i| format!("m{i}")));
    sadd_many(&mut c, "ht", (0..2000).map(|i| format!("m{i}")));
    assert_eq!(encoding(&mut c, "ints"), "intset");
    assert_eq!(encoding(&mut c, "lp"), "listpack");
    assert_eq!(encoding(&mut c, "ht"), "hashtable");
    for (key, n) in [("ints", 20usize), ("lp", 20), ("ht", 2000)] {
        // Distinct members for positive counts, all of them past the size.
        for count in [1, 2, n / 3, n / 2, n - 1, n, 10 * n] {
            let got: Vec<String> = w(&mut c, &format!("SRANDMEMBER {key} {count}"));
            assert_eq!(got.len(), count.min(n), "{key} {count}");
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len());
        }
        // Negative counts: about uniform.
        let picks = 300 * n;
        let got: Vec<String> = w(&mut c, &format!("SRANDMEMBER {key} -{picks}"));
        assert_eq!(got.len(), picks);
        let mut hist: HashMap<String, usize> = HashMap::new();
        for m in got {
            *hist.entry(m).or_default() += 1;
        }
        assert_eq!(hist.len(), n, "{key}: every member drawn");
        let (lo, hi) = (*hist.values().min().unwrap(), *hist.values().max().unwrap());
        assert!(lo > 300 / 4 && hi < 300 * 3, "{key}: counts {lo}..{hi}");
        // Single draws cover the set too.
        let mut seen = HashSet::new();
        let draws = (n * 20).min(4000);
        for _ in 0..draws {
            let m: String = w(&mut c, &format!("SRANDMEMBER {key}"));
            seen.insert(m);
        }
        let expected = n as f64 * (1.0 - (-(draws as f64) / n as f64).exp());
        assert!(
            seen.len() as f64 > expected * 0.9,
            "{key}: {} of {n}, expected about {expected}",
            seen.len()
        );
    }
    // SPOP drains each set exactly once, in pops of several sizes.
    for (key, n) in [("ints", 20usize), ("lp", 20), ("ht", 2000)] {
        let all = smembers(&mut c, key);
        let mut popped: Vec<Vec<u8>> = Vec::new();
        let mut step = 1;
        for round in 0.. {
            let before: usize = w(&mut c, &format!("SCARD {key}"));
            if before == 0 {
                assert_eq!(w::<i64>(&mut c, &format!("EXISTS {key}")), 0);
                break;
            }
            if round % 3 == 2 {
                let m: Vec<u8> = w(&mut c, &format!("SPOP {key}"));
                popped.push(m);
            } else {
                let got: Vec<Vec<u8>> = w(&mut c, &format!("SPOP {key} {step}"));
                assert_eq!(got.len(), step.min(before));
                popped.extend(got);
                step = step * 2 + 1;
            }
        }
        assert_eq!(popped.len(), n);
        assert_eq!(popped.into_iter().collect::<HashSet<_>>(), all);
    }
    // A large share popped at once from a hash table.
    sadd_many(&mut c, "big", (0..5000).map(|i| format!("m{i}")));
    let got: Vec<String> = w(&mut c, "SPOP big 4000");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 4000);
    let left = smembers(&mut c, "big");
    assert_eq!(left.len(), 1000);
    for m in &got {
        assert!(!left.contains(m.as_bytes()));
    }
    let got: Vec<String> = w(&mut c, "SPOP big 10");
    assert_eq!(got.len(), 10);
    let n: usize = w(&mut c, "SCARD big");
    assert_eq!(n, 990);
    // Absurd negative counts are refused, absurd positive ones are the set.
    let mut r = server.raw_conn();
    assert_eq!(
        raw_s(&mut r, "SRANDMEMBER big -9223372036854775807"),
        "-ERR value is out of range\r\n"
    );
    let got: Vec<String> = w(&mut c, "SRANDMEMBER big 9223372036854775807");
    assert_eq!(got.len(), 990);
}

#[test]
fn sscan_returns_every_stable_member_while_the_set_grows() {
    let server = start_recorded();
    let mut c = server.client();
    let stable: HashSet<String> = (0..4000).map(|i| format!("stable:{i}")).collect();
    sadd_many(&mut c, "s", stable.iter().cloned());
    let mut seen = HashSet::new();
    let mut cursor: u64 = 0;
    let mut round = 0;
    loop {
        let (next, items): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg("s")
            .arg(cursor)
            .arg("COUNT")
            .arg(25)
            .query(&mut c)
            .unwrap();
        seen.extend(items);
        sadd_many(&mut c, "s", (0..60).map(|j| format!("grow:{round}:{j}")));
        round += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let missing = stable.iter().filter(|m| !seen.contains(*m)).count();
    assert_eq!(missing, 0, "SSCAN missed members");
    // Shrinking between calls keeps the guarantee too.
    let _: i64 = redis::cmd("SREM")
        .arg("s")
        .arg(
            (0..round)
                .flat_map(|r| (0..60).map(move |j| format!("grow:{r}:{j}")))
                .collect::<Vec<_>>(),
        )
        .query(&mut c)
        .unwrap();
    let mut seen = HashSet::new();
    let mut cursor: u64 = 0;
    let mut extra = 0;
    loop {
        let (next, items): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg("s")
            .arg(cursor)
            .arg("COUNT")
            .arg(100)
            .query(&mut c)
            .unwrap();
        seen.extend(items);
        if extra < 2000 {
            let victims: Vec<String> = (extra..extra + 500).map(|i| format!("x{i}")).collect();
            sadd_many(&mut c, "s", victims.iter().cloned());
            let _: i64 = redis::cmd("SREM")
                .arg("s")
                .arg(&victims)
                .query(&mut c)
                .unwrap();
            extra += 500;
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(stable.iter().filter(|m| !seen.contains(*m)).count(), 0);
    // Intsets and listpacks answer everything with cursor 0, filtered.
    sadd_many(&mut c, "i", (0..100).map(|i| i.to_string()));
    let (cur, items): (u64, Vec<String>) = w(&mut c, "SSCAN i 99 COUNT 1 MATCH 1*");
    assert_eq!(cur, 0);
    let want: Vec<String> = (0..100)
        .map(|i: i32| i.to_string())
        .filter(|s| s.starts_with('1'))
        .collect();
    assert_eq!(items, want);
}

// ---------------------------------------------------------------------------
// Cross-cutting behaviour
// ---------------------------------------------------------------------------

#[test]
fn changes_are_counted_like_redis() {
    let server = start_recorded();
    let mut c = server.client();
    let mut check = |line: &str, want: u64| {
        let before = dirty(&server);
        let _: redis::Value = w(&mut c, line);
        assert_eq!(dirty(&server) - before, want, "{line}");
    };
    check("HSET h a 1 b 2", 2);
    check("HSET h a 1 b 2", 2);
    check("HSETNX h a 1", 0);
    check("HSETNX h z 1", 1);
    check("HDEL h a b nope", 2);
    check("HDEL nokey a", 0);
    check("HINCRBY h n 5", 1);
    check("HINCRBYFLOAT h n 1.5", 1);
    check("HDEL h z n", 2);
    check("SADD s 1 2 3", 3);
    check("SADD s 1 2", 0);
    check("SREM s 1 9", 1);
    check("SMOVE s t 2", 2);
    check("SMOVE s t 99", 0);
    check("SPOP s", 1);
    check("SADD p 1 2 3 4 5 6 7 8 9 10", 10);
    check("SPOP p 3", 3);
    check("SPOP p 100", 1);
    check("SINTERSTORE d t", 1);
    check("SINTERSTORE d t nokey", 1);
    check("SINTERSTORE d t nokey", 0);
    check("SUNIONSTORE d nokey", 0);
    check("SDIFFSTORE d t", 1);
    check("SCARD d", 0);
    check("SMEMBERS d", 0);
}

#[test]
fn generic_key_commands_on_hashes_and_sets() {
    let server = start_recorded();
    let mut c = server.client();
    hset_many(
        &mut c,
        "h",
        (0..600).map(|i| (format!("f{i}"), i.to_string())),
    );
    sadd_many(&mut c, "s", (0..600).map(|i| format!("m{i}")));
    let _: i64 = w(&mut c, "EXPIRE h 1000");
    assert_eq!(w::<String>(&mut c, "TYPE h"), "hash");
    assert_eq!(w::<String>(&mut c, "TYPE s"), "set");
    // COPY is deep: changing the copy leaves the original alone.
    let _: i64 = w(&mut c, "COPY h h2");
    let _: i64 = w(&mut c, "COPY s s2");
    let _: i64 = w(&mut c, "HSET h2 f0 changed");
    let _: i64 = w(&mut c, "SREM s2 m0");
    assert_eq!(w::<String>(&mut c, "HGET h f0"), "0");
    assert_eq!(w::<i64>(&mut c, "SISMEMBER s m0"), 1);
    assert_eq!(w::<i64>(&mut c, "SCARD s2"), 599);
    assert!(w::<i64>(&mut c, "TTL h2") > 990);
    // RENAME keeps the TTL, MOVE carries the value.
    let _: () = w(&mut c, "RENAME h hr");
    assert!(w::<i64>(&mut c, "TTL hr") > 990);
    assert_eq!(w::<i64>(&mut c, "HLEN hr"), 600);
    let _: i64 = w(&mut c, "MOVE s 3");
    let _: () = w(&mut c, "SELECT 3");
    assert_eq!(w::<i64>(&mut c, "SCARD s"), 600);
    let _: () = w(&mut c, "SELECT 0");
    // SCAN TYPE, DEL.
    let (_, keys): (u64, Vec<String>) = w(&mut c, "SCAN 0 TYPE hash COUNT 1000");
    assert_eq!(
        keys.into_iter().collect::<HashSet<_>>(),
        ["hr", "h2"].map(String::from).into()
    );
    assert_eq!(w::<i64>(&mut c, "DEL hr h2 s2"), 3);
    // Expired collections disappear for every command.
    let _: i64 = w(&mut c, "SADD e 1");
    let _: i64 = w(&mut c, "HSET eh a 1");
    let _: i64 = w(&mut c, "PEXPIRE e 1");
    let _: i64 = w(&mut c, "PEXPIRE eh 1");
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(w::<i64>(&mut c, "SCARD e"), 0);
    assert_eq!(w::<i64>(&mut c, "HLEN eh"), 0);
    assert_eq!(w::<i64>(&mut c, "SADD e 2"), 1);
    assert_eq!(w::<i64>(&mut c, "TTL e"), -1);
}

#[test]
fn resp3_shapes() {
    let server = start_recorded();
    let mut r = server.raw_conn();
    raw(&mut r, "HELLO 3");
    raw(&mut r, "SADD s 1 2");
    raw(&mut r, "HSET h f v");
    for (line, want) in [
        ("SMEMBERS s", "~2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
        ("SMEMBERS nokey", "~0\r\n"),
        ("SINTER s s", "~2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
        ("SUNION s", "~2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
        ("SDIFF s nokey", "~2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
        ("SRANDMEMBER s 5", "*2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
        ("SRANDMEMBER nokey", "_\r\n"),
        ("SRANDMEMBER nokey 1", "*0\r\n"),
        ("SPOP nokey", "_\r\n"),
        ("SPOP nokey 1", "~0\r\n"),
        ("SMISMEMBER s 1 3", "*2\r\n:1\r\n:0\r\n"),
        ("SSCAN s 0", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
        ("HGETALL h", "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        ("HMGET h f x", "*2\r\n$1\r\nv\r\n_\r\n"),
        ("HGET h x", "_\r\n"),
        ("HSCAN h 0", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        ("SPOP s 5", "~2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
    ] {
        assert_eq!(raw_s(&mut r, line), want, "{line}");
    }
}

// ---------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------

/// Fills db 0 with one collection of each encoding, some with TTLs; returns
/// the expected contents.
type Expected = (
    HashMap<String, HashMap<Vec<u8>, Vec<u8>>>,
    HashMap<String, HashSet<Vec<u8>>>,
);

fn fill(c: &mut Connection) -> Expected {
    let mut hashes = HashMap::new();
    let mut sets = HashMap::new();
    let small_h: Vec<(String, String)> =
        (0..5).map(|i| (format!("f{i}"), format!("v{i}"))).collect();
    let big_h: Vec<(String, String)> = (0..20_000)
        .map(|i| (format!("f{i}"), "v".repeat(i % 70)))
        .collect();
    hset_many(c, "hsmall", small_h.clone());
    hset_many(c, "hbig", big_h.clone());
    let _: i64 = q(c, &[b"HSET", b"hbin", b"\x00\xff", b"\r\n\x00"]);
    hashes.insert(
        "hsmall".into(),
        small_h
            .into_iter()
            .map(|(a, b)| (a.into_bytes(), b.into_bytes()))
            .collect(),
    );
    hashes.insert(
        "hbig".into(),
        big_h
            .into_iter()
            .map(|(a, b)| (a.into_bytes(), b.into_bytes()))
            .collect(),
    );
    hashes.insert(
        "hbin".into(),
        [(b"\x00\xff".to_vec(), b"\r\n\x00".to_vec())].into(),
    );
    let ints: Vec<String> = (0..300)
        .map(|i| (i * 1_000_000_007i64).to_string())
        .collect();
    let lp: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    let ht: Vec<String> = (0..30_000).map(|i| format!("member:{i}")).collect();
    sadd_many(c, "sint", ints.clone());
    sadd_many(c, "slp", lp.clone());
    sadd_many(c, "sht", ht.clone());
    let to_set = |v: Vec<String>| {
        v.into_iter()
            .map(String::into_bytes)
            .collect::<HashSet<_>>()
    };
    sets.insert("sint".into(), to_set(ints));
    sets.insert("slp".into(), to_set(lp));
    sets.insert("sht".into(), to_set(ht));
    let _: i64 = w(c, "EXPIRE hbig 5000");
    let _: i64 = w(c, "EXPIRE sint 5000");
    let _: i64 = w(c, "EXPIRE slp 5000");
    // Gone by the time the snapshot is read back.
    let _: i64 = w(c, "SADD sgone 1 2");
    let _: i64 = w(c, "HSET hgone a 1");
    let _: i64 = w(c, "PEXPIRE sgone 300");
    let _: i64 = w(c, "PEXPIRE hgone 300");
    (hashes, sets)
}

fn verify(c: &mut Connection, want: &Expected, expired_too: bool) {
    let (hashes, sets) = want;
    for (k, v) in hashes {
        assert_eq!(&hgetall(c, k), v, "{k}");
    }
    for (k, v) in sets {
        assert_eq!(&smembers(c, k), v, "{k}");
    }
    for (k, enc) in [
        ("hsmall", "listpack"),
        ("hbig", "hashtable"),
        ("sint", "intset"),
        ("slp", "listpack"),
        ("sht", "hashtable"),
    ] {
        assert_eq!(encoding(c, k), enc, "{k}");
    }
    for k in ["hbig", "sint", "slp"] {
        let ttl: i64 = w(c, &format!("TTL {k}"));
        assert!((4900..=5000).contains(&ttl), "{k}: {ttl}");
    }
    assert_eq!(w::<i64>(c, "TTL hsmall"), -1);
    if expired_too {
        assert_eq!(w::<i64>(c, "EXISTS sgone hgone"), 0);
    }
}

#[test]
fn debug_reload_round_trip() {
    let server = start_recorded();
    let mut c = server.client();
    let want = fill(&mut c);
    let _: () = w(&mut c, "DEBUG RELOAD");
    verify(&mut c, &want, false);
    // Still fully writable afterwards, with the same encodings' rules.
    let _: i64 = w(&mut c, "SADD sint x");
    assert_eq!(encoding(&mut c, "sint"), "hashtable");
    let _: i64 = w(&mut c, "HSET hsmall new 1");
    assert_eq!(encoding(&mut c, "hsmall"), "listpack");
}

fn wait_bgsave(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(server, "persistence", "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        info_field(server, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
}

#[test]
fn bgsave_and_restart_round_trip() {
    let data = common::unique_temp_dir("hashes-sets-data");
    let dir = data.to_str().unwrap().to_string();
    let server = start(&["--dir", &dir]);
    let mut c = server.client();
    let want = fill(&mut c);
    // Writes while the child saves go through the resize-restricted path.
    let _: String = w(&mut c, "BGSAVE");
    sadd_many(&mut c, "during", (0..5000).map(|i| format!("d{i}")));
    hset_many(
        &mut c,
        "hbig",
        (0..2000).map(|i| (format!("late{i}"), "x".into())),
    );
    wait_bgsave(&server);
    assert_eq!(w::<i64>(&mut c, "HLEN hbig"), 22_000);
    // The snapshot holds the instant of the fork.
    drop(c);
    std::thread::sleep(Duration::from_millis(400));
    drop(server);
    assert!(Path::new(&dir).join("dump.forkv").exists());
    let server = start(&["--dir", &dir]);
    let mut c = server.client();
    verify(&mut c, &want, true);
    assert_eq!(w::<i64>(&mut c, "EXISTS during"), 0);
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}
