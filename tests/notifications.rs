//! Keyspace notifications compared with Redis 7.0. A subscriber on
//! `__key*@*__:*` records what each step of a script publishes; the same
//! script runs against forkv and a live redis-server, and the transcripts
//! (replies and notifications, step by step) must be equal.
//!
//! Scripts cover every command family, blocked clients served by a later
//! write, lazy and active expiry, EXPIRE in the past, the `n` (new key) and
//! `m` (key miss) classes, `K`-only and `E`-only settings, class filtering
//! and `notify-keyspace-events ""`. Each step ends with a PUBLISH on a
//! marker channel the subscriber also hears, so the notifications of a step
//! are attributed to it without timing guesses. A few transcripts are also
//! checked against fixed expectations, so forkv is tested even without a
//! redis-server.

mod common;

use common::{RawConn, Resp, Server, cmd, escape, parse_one, read_reply, send, start};
use std::time::{Duration, Instant};

/// One step of a script.
enum Step {
    /// A command as whitespace-separated words (`''` is an empty argument).
    Cmd(&'static str),
    /// A blocking command on a connection of its own; the script goes on
    /// once the server counts one more blocked client. Its reply is
    /// recorded at the end of the script.
    Block(&'static str),
    /// Sleeps this many milliseconds.
    Sleep(u64),
    /// Waits until the selected database is empty without touching its
    /// keys (DBSIZE), so active expiry is what empties it.
    AwaitEmpty,
}

use Step::{AwaitEmpty, Block, Cmd, Sleep};

/// Both servers take DEBUG (SET-ACTIVE-EXPIRE, POPULATE, RELOAD).
const ARGS: &[&str] = &["--enable-debug-command", "yes"];

/// The pattern the subscriber listens to.
const PATTERN: &str = "__key*@*__:*";

/// The marker channel that closes each step; it matches [`PATTERN`].
const MARKER: &str = "__key-step@0__:end";

fn words(line: &str) -> Vec<Vec<u8>> {
    line.split_whitespace()
        .map(|w| {
            if w == "''" {
                Vec::new()
            } else {
                w.as_bytes().to_vec()
            }
        })
        .collect()
}

fn run(c: &mut RawConn, line: &str) -> Vec<u8> {
    let args = words(line);
    let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    cmd(c, &refs)
}

/// Reads one pub/sub message: (channel, payload).
fn message(sub: &mut RawConn) -> (String, String) {
    let raw = read_reply(sub);
    let items = match parse_one(&raw) {
        Resp::Array(Some(items)) if items.len() == 4 => items,
        _ => panic!("not a pmessage: {}", escape(&raw)),
    };
    assert_eq!(items[0].as_str().as_deref(), Some("pmessage"));
    assert_eq!(items[1].as_str().as_deref(), Some(PATTERN));
    (items[2].as_str().unwrap(), items[3].as_str().unwrap())
}

fn blocked_clients(c: &mut RawConn) -> usize {
    let info = String::from_utf8(run(c, "INFO clients")).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("blocked_clients in INFO clients")
}

/// Runs `script` with `notify-keyspace-events` set to `flags` on a flushed
/// server and returns the transcript: one `> step` line with the reply per
/// step, each followed by the notifications it caused as `channel message`.
fn transcript(server: &Server, flags: &str, script: &[Step]) -> Vec<String> {
    let mut c = server.raw_conn();
    let mut sub = server.raw_conn();
    assert_eq!(run(&mut c, "FLUSHALL"), b"+OK\r\n");
    assert_eq!(run(&mut c, "DEBUG SET-ACTIVE-EXPIRE 1"), b"+OK\r\n");
    let set = cmd(
        &mut c,
        &[
            b"CONFIG",
            b"SET",
            b"notify-keyspace-events",
            flags.as_bytes(),
        ],
    );
    assert_eq!(set, b"+OK\r\n", "flags {flags:?}");
    send(&mut sub, &[b"PSUBSCRIBE", PATTERN.as_bytes()]);
    read_reply(&mut sub);
    let mut out = Vec::new();
    let mut blocked: Vec<(&str, RawConn)> = Vec::new();
    for step in script {
        match step {
            Cmd(line) => {
                let reply = run(&mut c, line);
                out.push(format!("> {line} => {}", escape(&reply)));
            }
            Block(line) => {
                let before = blocked_clients(&mut c);
                let mut b = server.raw_conn();
                let args = words(line);
                let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
                send(&mut b, &refs);
                let deadline = Instant::now() + Duration::from_secs(10);
                while blocked_clients(&mut c) == before {
                    assert!(Instant::now() < deadline, "{line} did not block");
                    std::thread::sleep(Duration::from_millis(2));
                }
                out.push(format!("& {line}"));
                blocked.push((line, b));
            }
            Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                continue;
            }
            AwaitEmpty => {
                let deadline = Instant::now() + Duration::from_secs(10);
                while run(&mut c, "DBSIZE") != b":0\r\n" {
                    assert!(Instant::now() < deadline, "the keys did not expire");
                    std::thread::sleep(Duration::from_millis(5));
                }
                out.push("~ expired by the active cycle".to_string());
            }
        }
        // Everything the step published reaches the subscriber before the
        // marker does.
        run(&mut c, &format!("PUBLISH {MARKER} step"));
        loop {
            let (ch, msg) = message(&mut sub);
            if ch == MARKER {
                break;
            }
            out.push(format!("    {ch} {msg}"));
        }
    }
    for (line, mut b) in blocked {
        out.push(format!("< {line} => {}", escape(&read_reply(&mut b))));
    }
    run(&mut c, "CONFIG SET notify-keyspace-events ''");
    out
}

/// Number of notifications in a transcript.
fn notifications(t: &[String]) -> usize {
    t.iter().filter(|l| l.starts_with("    ")).count()
}

/// Asserts that forkv and Redis give the same transcript for each
/// (flags, script) and returns forkv's. Without redis-server, returns
/// forkv's transcripts unchecked (callers check what they can).
fn compare(cases: &[(&str, &[Step])]) -> Vec<Vec<String>> {
    let forkv = start(ARGS);
    let redis = common::start_redis(ARGS);
    let mut all = Vec::new();
    for (flags, script) in cases {
        let ours = transcript(&forkv, flags, script);
        if let Some(redis) = &redis {
            let theirs = transcript(redis, flags, script);
            if ours != theirs {
                let first = ours
                    .iter()
                    .zip(&theirs)
                    .position(|(a, b)| a != b)
                    .unwrap_or(ours.len().min(theirs.len()));
                panic!(
                    "flags {flags:?}: transcripts differ from line {first}\n--- forkv ---\n{}\n--- redis ---\n{}",
                    ours.join("\n"),
                    theirs.join("\n")
                );
            }
        }
        all.push(ours);
    }
    all
}

const STRINGS: &[Step] = &[
    Cmd("SET k v"),
    Cmd("SET k v2 EX 100"),
    Cmd("SET k v3 KEEPTTL"),
    Cmd("SET k v4 XX PX 100000 GET"),
    Cmd("SET k v NX"),
    Cmd("SET nope v XX"),
    Cmd("SETNX k4 v"),
    Cmd("SETNX k4 v"),
    Cmd("SETEX k3 100 v"),
    Cmd("PSETEX k3 100000 v"),
    Cmd("GETSET k4 x"),
    Cmd("GETDEL k4"),
    Cmd("GETDEL k4"),
    Cmd("GETEX k EX 100"),
    Cmd("GETEX k PERSIST"),
    Cmd("GETEX k PERSIST"),
    Cmd("GETEX k"),
    Cmd("GETEX k PXAT 1"),
    Cmd("MSET a 1 b 2"),
    Cmd("MSETNX a 1 c 3"),
    Cmd("MSETNX c 1 d 3"),
    Cmd("INCR n"),
    Cmd("INCRBY n 2"),
    Cmd("DECR n"),
    Cmd("DECRBY n 2"),
    Cmd("INCR a"),
    Cmd("INCRBYFLOAT f 1.5"),
    Cmd("APPEND ap x"),
    Cmd("APPEND ap ''"),
    Cmd("SETRANGE sr 0 x"),
    Cmd("SETRANGE sr2 0 ''"),
    Cmd("SETRANGE sr 5 ''"),
    Cmd("SETRANGE sr 1 yz"),
    Cmd("GET missing"),
    Cmd("MGET a missing"),
    Cmd("STRLEN missing"),
    Cmd("LCS missing a"),
];

const KEYS: &[Step] = &[
    Cmd("MSET a 1 b 2 c 3 d 4 x 0"),
    Cmd("DEL a b missing"),
    Cmd("UNLINK c"),
    Cmd("RENAME d d2"),
    Cmd("RENAME d2 x"),
    Cmd("RENAMENX x x"),
    Cmd("SET y 1"),
    Cmd("RENAMENX x y"),
    Cmd("RENAMENX x d3"),
    Cmd("RENAME d3 d3"),
    Cmd("RENAME missing z"),
    Cmd("COPY d3 d4"),
    Cmd("COPY d3 d4"),
    Cmd("COPY d3 d4 REPLACE"),
    Cmd("COPY missing d5"),
    Cmd("COPY d3 d5 DB 1"),
    Cmd("MOVE d4 1"),
    Cmd("MOVE d3 1"),
    Cmd("EXPIRE d3 100"),
    Cmd("PEXPIRE d3 100000"),
    Cmd("EXPIRE d3 100 NX"),
    Cmd("EXPIRE d3 50 GT"),
    Cmd("EXPIRE d3 50 LT"),
    Cmd("EXPIREAT d3 4000000000 XX"),
    Cmd("EXPIRE missing 1"),
    Cmd("PERSIST d3"),
    Cmd("PERSIST d3"),
    Cmd("PERSIST y"),
    Cmd("EXISTS y missing"),
    Cmd("TYPE missing"),
    Cmd("TTL missing"),
    Cmd("TOUCH y missing"),
    Cmd("OBJECT ENCODING missing"),
    // An expiry time in the past deletes.
    Cmd("EXPIRE y -1"),
    Cmd("SET e v"),
    Cmd("PEXPIREAT e 1"),
    Cmd("SET e v"),
    Cmd("EXPIRE e 0 XX"),
    Cmd("SET e v EX 100"),
    Cmd("EXPIREAT e 1 LT"),
    Cmd("SELECT 1"),
    Cmd("SET k1 v"),
    Cmd("MOVE k1 0"),
    Cmd("SELECT 0"),
    Cmd("DEBUG POPULATE 2"),
    Cmd("FLUSHDB"),
    Cmd("SET k v"),
    Cmd("FLUSHALL"),
];

const LISTS: &[Step] = &[
    Cmd("LPUSH l a b c"),
    Cmd("RPUSH l d"),
    Cmd("LPUSHX l e"),
    Cmd("RPUSHX l f"),
    Cmd("LPUSHX nol e"),
    Cmd("LPOP l"),
    Cmd("RPOP l"),
    Cmd("LPOP l 2"),
    Cmd("LPOP l 0"),
    Cmd("LPOP nol"),
    Cmd("LSET l 0 z"),
    Cmd("LSET l 10 z"),
    Cmd("LINSERT l BEFORE z y"),
    Cmd("LINSERT l AFTER nope y"),
    Cmd("LREM l 1 y"),
    Cmd("LREM l 1 nope"),
    Cmd("LTRIM l 0 0"),
    Cmd("LTRIM l 1 0"),
    Cmd("LTRIM l 0 0"),
    Cmd("RPUSH l2 a b"),
    Cmd("RPOPLPUSH l2 l3"),
    Cmd("LMOVE l2 l3 LEFT RIGHT"),
    Cmd("LMOVE l3 l3 LEFT RIGHT"),
    Cmd("RPUSH one x"),
    Cmd("LMOVE one one RIGHT LEFT"),
    Cmd("LMOVE one two RIGHT LEFT"),
    Cmd("LMOVE nol l3 LEFT LEFT"),
    Cmd("LMPOP 2 nol l3 LEFT COUNT 5"),
    Cmd("RPUSH l5 a b"),
    Cmd("RPOP l5 5"),
    Cmd("RPUSH l6 a b a"),
    Cmd("LREM l6 0 a"),
    Cmd("LREM l6 0 b"),
    Cmd("LLEN nol"),
    Cmd("LRANGE nol 0 -1"),
    Cmd("BLPOP two 0"),
    // Blocked clients served by later writes notify as their plain forms.
    Block("BLPOP bl1 0"),
    Cmd("LPUSH bl1 a"),
    Block("BRPOP bl2 0"),
    Cmd("RPUSH bl2 a b"),
    Block("BLMOVE bl3 bl4 LEFT RIGHT 0"),
    Cmd("RPUSH bl3 x"),
    Block("BRPOPLPUSH bl5 bl6 0"),
    Cmd("RPUSH bl6 y"),
    Cmd("RPUSH bl5 x"),
    Block("BLMPOP 0 2 bl7 bl8 LEFT COUNT 5"),
    Cmd("RPUSH bl8 a b"),
    Block("BLPOP bl9 0"),
    Block("BLPOP bl9 0"),
    Cmd("RPUSH bl9 a b c"),
    Block("BLMOVE bl10 bl10 LEFT RIGHT 0"),
    Cmd("RPUSH bl10 a"),
];

const HASHES: &[Step] = &[
    Cmd("HSET h a 1 b 2"),
    Cmd("HSET h a 1"),
    Cmd("HMSET h c 3"),
    Cmd("HSETNX h d 4"),
    Cmd("HSETNX h d 4"),
    Cmd("HSETNX h2 d 4"),
    Cmd("HDEL h a x"),
    Cmd("HDEL h nope"),
    Cmd("HDEL missing a"),
    Cmd("HINCRBY h n 1"),
    Cmd("HINCRBY h2 n 0"),
    Cmd("HINCRBY h a x"),
    Cmd("HINCRBYFLOAT h f 1.5"),
    Cmd("HINCRBYFLOAT h3 f 0"),
    Cmd("HDEL h b c d n f"),
    Cmd("HGET missing a"),
    Cmd("HGETALL missing"),
    Cmd("HLEN missing"),
];

const SETS: &[Step] = &[
    Cmd("SADD s a b c"),
    Cmd("SADD s a"),
    Cmd("SREM s a x"),
    Cmd("SREM s x"),
    Cmd("SMOVE s s2 b"),
    Cmd("SMOVE s s2 c"),
    Cmd("SMOVE s2 s2 b"),
    Cmd("SMOVE s2 s2 x"),
    Cmd("SMOVE missing s2 b"),
    Cmd("SADD s4 b"),
    Cmd("SMOVE s2 s4 b"),
    Cmd("SADD s3 1"),
    Cmd("SPOP s3"),
    Cmd("SADD s3 1 2 3"),
    Cmd("SPOP s3 0"),
    Cmd("SPOP s3 5"),
    Cmd("SPOP s3"),
    Cmd("SPOP s3 1"),
    Cmd("SADD x1 a b"),
    Cmd("SADD x2 b c"),
    Cmd("SINTERSTORE d1 x1 x2"),
    Cmd("SUNIONSTORE d2 x1 x2"),
    Cmd("SDIFFSTORE d3 x1 x2"),
    Cmd("SINTERSTORE d3 x1 nosuch"),
    Cmd("SINTERSTORE d3 x1 nosuch"),
    Cmd("SUNIONSTORE d4 nosuch"),
    Cmd("SDIFFSTORE d2 x1 x1"),
    Cmd("SDIFFSTORE x1 x1 x2"),
    Cmd("SCARD nosuch"),
    Cmd("SISMEMBER nosuch a"),
    Cmd("SINTERCARD 2 x1 nosuch"),
];

const ZSETS: &[Step] = &[
    Cmd("ZADD z 1 a 2 b 3 c"),
    Cmd("ZADD z 1 a"),
    Cmd("ZADD z 5 a"),
    Cmd("ZADD z NX 5 a"),
    Cmd("ZADD z XX 1 nope"),
    Cmd("ZADD z GT 0 a"),
    Cmd("ZADD z XX CH 6 a"),
    Cmd("ZADD z INCR 1 a"),
    Cmd("ZINCRBY z 1 b"),
    Cmd("ZINCRBY z 0 b"),
    Cmd("ZINCRBY z2 1 a"),
    Cmd("ZREM z b x"),
    Cmd("ZREM z x"),
    Cmd("ZREMRANGEBYRANK z 0 0"),
    Cmd("ZREMRANGEBYSCORE z 0 0"),
    Cmd("ZADD zz 1 a 2 b 3 c"),
    Cmd("ZREMRANGEBYSCORE zz 1 1"),
    Cmd("ZREMRANGEBYLEX zz [b [b"),
    Cmd("ZREMRANGEBYRANK zz 0 -1"),
    Cmd("ZADD zp 1 a 2 b 3 c"),
    Cmd("ZPOPMIN zp"),
    Cmd("ZPOPMIN zp 0"),
    Cmd("ZPOPMAX zp 5"),
    Cmd("ZPOPMIN zp"),
    Cmd("ZADD zq 1 a 2 b"),
    Cmd("ZMPOP 2 nosuch zq MAX COUNT 3"),
    Cmd("ZADD z1 1 a 2 b"),
    Cmd("ZADD z2 2 b 3 c"),
    Cmd("ZUNIONSTORE zd 2 z1 z2"),
    Cmd("ZINTERSTORE zd 2 z1 z2"),
    Cmd("ZDIFFSTORE zd 2 z1 z2"),
    Cmd("ZINTERSTORE zd 2 z1 nosuch"),
    Cmd("ZINTERSTORE zd 2 z1 nosuch"),
    Cmd("ZRANGESTORE zr z1 0 -1"),
    Cmd("ZRANGESTORE zr z1 5 10"),
    Cmd("ZRANGESTORE zr nosuch 0 -1"),
    Cmd("ZADD zr 1 x"),
    Cmd("ZRANGESTORE zr nosuch 0 -1"),
    Cmd("ZSCORE nosuch a"),
    Cmd("ZRANGE nosuch 0 -1"),
    Cmd("ZUNION 2 z1 nosuch"),
    Block("BZPOPMIN bz1 0"),
    Cmd("ZADD bz1 1 a 2 b"),
    Block("BZPOPMAX bz2 0"),
    Cmd("ZADD bz2 1 a"),
    Block("BZMPOP 0 1 bz3 MAX COUNT 5"),
    Cmd("ZADD bz3 1 a 2 b"),
];

/// Keys whose deadline passed: lazily expired by reads and writes with
/// active expiry off, then by the active cycle once it is back on.
const EXPIRY: &[Step] = &[
    Cmd("DEBUG SET-ACTIVE-EXPIRE 0"),
    Cmd("SET r v PX 1"),
    Cmd("SET w v PX 1"),
    Cmd("SET l v PX 1"),
    Cmd("SET h v PX 1"),
    Cmd("SET d v PX 1"),
    Cmd("SET x v PX 1"),
    Cmd("SET src v PX 1"),
    Cmd("SET dst v PX 1"),
    Cmd("SET m v PX 1"),
    Cmd("SADD s a"),
    Sleep(20),
    Cmd("GET r"),
    Cmd("SET w v2"),
    Cmd("LPUSH l a"),
    Cmd("HSET h f v"),
    Cmd("DEL d"),
    Cmd("EXISTS x"),
    Cmd("RENAME src dst"),
    Cmd("SMOVE s dst a"),
    Cmd("SINTERSTORE m nosuch"),
    Cmd("DEBUG SET-ACTIVE-EXPIRE 1"),
    // One key at a time: the active cycle samples keys in hash order.
    Cmd("SELECT 1"),
    Cmd("SET a v"),
    Cmd("PEXPIRE a 30"),
    AwaitEmpty,
    Cmd("SET b v PX 30"),
    AwaitEmpty,
    Cmd("EXISTS a b"),
    Cmd("SELECT 0"),
];

#[test]
fn every_family_notifies_as_redis_does() {
    let cases: Vec<(&str, &[Step])> = [STRINGS, KEYS, LISTS, HASHES, SETS, ZSETS]
        .into_iter()
        .map(|s| ("KEA", s))
        .collect();
    for t in compare(&cases) {
        assert!(notifications(&t) > 20, "{}", t.join("\n"));
    }
}

#[test]
fn new_keys_and_key_misses_notify_as_redis_does() {
    let cases: Vec<(&str, &[Step])> = [STRINGS, KEYS, LISTS, HASHES, SETS, ZSETS]
        .into_iter()
        .map(|s| ("KEAnm", s))
        .collect();
    for t in compare(&cases) {
        assert!(t.iter().any(|l| l.ends_with(" new")), "{}", t.join("\n"));
        assert!(
            t.iter().any(|l| l.ends_with(" keymiss")),
            "{}",
            t.join("\n")
        );
    }
}

#[test]
fn expired_keys_notify_as_redis_does() {
    let all = compare(&[("KEAnm", EXPIRY), ("Ex", EXPIRY), ("Kgx", EXPIRY)]);
    let t = &all[1];
    let expired = t
        .iter()
        .filter(|l| l.starts_with("    __keyevent@") && l.contains(":expired "))
        .count();
    // r, w, l, h, d, x, src and dst lazily; a and b actively; the stale
    // destination of the empty SINTERSTORE is deleted, not expired.
    assert_eq!(expired, 10, "{}", t.join("\n"));
}

#[test]
fn keyspace_only_keyevent_only_and_class_filters() {
    let mixed: &[Step] = &[
        Cmd("SET k v EX 100"),
        Cmd("LPUSH l a"),
        Cmd("LPOP l"),
        Cmd("HSET h f v"),
        Cmd("SADD s m"),
        Cmd("ZADD z 1 m"),
        Cmd("EXPIRE k -1"),
        Cmd("GET k"),
        Cmd("DEL h s z"),
    ];
    let flags = [
        "KA", "EA", "Kl", "El", "Kh", "Ksz", "Eg", "E$", "K$n", "Em", "Kgm",
    ];
    let cases: Vec<(&str, &[Step])> = flags.iter().map(|f| (*f, mixed)).collect();
    for (t, f) in compare(&cases).iter().zip(flags) {
        assert!(notifications(t) > 0, "{f}: {}", t.join("\n"));
        let space = t.iter().any(|l| l.contains("__keyspace@"));
        let event = t.iter().any(|l| l.contains("__keyevent@"));
        assert_eq!(
            (space, event),
            (f.starts_with('K'), f.starts_with('E')),
            "{f}"
        );
    }
}

#[test]
fn notifications_off_send_nothing() {
    // No class, or no channel kind, publishes nothing.
    let flags = ["", "A", "KE", "nm"];
    let scripts = [STRINGS, KEYS, LISTS, SETS, ZSETS];
    let mut cases = Vec::new();
    for f in flags {
        for s in scripts {
            cases.push((f, s));
        }
    }
    for t in compare(&cases) {
        assert_eq!(notifications(&t), 0, "{}", t.join("\n"));
    }
}

#[test]
fn flags_read_back_as_redis_prints_them() {
    let forkv = start(ARGS);
    let redis = common::start_redis(ARGS);
    for (set, shown) in [
        ("KEA", "AKE"),
        ("Exg$m", "g$xEm"),
        ("gnd", "gdn"),
        ("AnK", "AK"),
        ("g$lshzxetdK", "AK"),
        ("Knx", "xnK"),
        ("KEAnm", "AKEm"),
        ("", ""),
    ] {
        for server in std::iter::once(&forkv).chain(redis.as_ref()) {
            let mut c = server.raw_conn();
            let r = cmd(
                &mut c,
                &[b"CONFIG", b"SET", b"notify-keyspace-events", set.as_bytes()],
            );
            assert_eq!(r, b"+OK\r\n");
            let got = run(&mut c, "CONFIG GET notify-keyspace-events");
            let want = format!(
                "*2\r\n$22\r\nnotify-keyspace-events\r\n${}\r\n{shown}\r\n",
                shown.len()
            );
            assert_eq!(escape(&got), escape(want.as_bytes()), "{set}");
        }
    }
}

/// Exact expectations, checked with or without a reference server.
#[test]
fn fixed_transcript() {
    let forkv = start(ARGS);
    let script: &[Step] = &[
        Cmd("SET a 1"),
        Cmd("RENAME a b"),
        Cmd("RPUSH l x"),
        Cmd("LMOVE l m LEFT RIGHT"),
        Cmd("EXPIRE b -1"),
        Cmd("GET b"),
    ];
    let t = transcript(&forkv, "KEAnm", script);
    let want = [
        "> SET a 1 => +OK\\r\\n",
        "    __keyspace@0__:a new",
        "    __keyevent@0__:new a",
        "    __keyspace@0__:a set",
        "    __keyevent@0__:set a",
        "> RENAME a b => +OK\\r\\n",
        "    __keyspace@0__:b new",
        "    __keyevent@0__:new b",
        "    __keyspace@0__:a rename_from",
        "    __keyevent@0__:rename_from a",
        "    __keyspace@0__:b rename_to",
        "    __keyevent@0__:rename_to b",
        "> RPUSH l x => :1\\r\\n",
        "    __keyspace@0__:l new",
        "    __keyevent@0__:new l",
        "    __keyspace@0__:l rpush",
        "    __keyevent@0__:rpush l",
        "> LMOVE l m LEFT RIGHT => $1\\r\\nx\\r\\n",
        "    __keyspace@0__:m new",
        "    __keyevent@0__:new m",
        "    __keyspace@0__:m rpush",
        "    __keyevent@0__:rpush m",
        "    __keyspace@0__:l lpop",
        "    __keyevent@0__:lpop l",
        "    __keyspace@0__:l del",
        "    __keyevent@0__:del l",
        "> EXPIRE b -1 => :1\\r\\n",
        "    __keyspace@0__:b del",
        "    __keyevent@0__:del b",
        "> GET b => $-1\\r\\n",
        "    __keyspace@0__:b keymiss",
        "    __keyevent@0__:keymiss b",
    ];
    assert_eq!(t, want, "{}", t.join("\n"));
}

/// The push messages a RESP3 client subscribed to key events receives when
/// its own LPUSH serves another client's BLPOP (the served pop's events are
/// produced while the writer is still running its command).
fn writer_hears_the_pop_it_served(server: &Server) -> Vec<String> {
    let mut a = server.raw_conn();
    let mut b = server.raw_conn();
    run(&mut a, "HELLO 3");
    assert_eq!(
        run(&mut a, "CONFIG SET notify-keyspace-events KEA"),
        b"+OK\r\n"
    );
    run(&mut a, "PSUBSCRIBE __keyevent@0__:*");
    send(&mut b, &[b"BLPOP", b"q", b"0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut probe = server.raw_conn();
    while blocked_clients(&mut probe) != 1 {
        assert!(Instant::now() < deadline, "BLPOP did not block");
        std::thread::sleep(Duration::from_millis(5));
    }
    send(&mut a, &[b"LPUSH", b"q", b"x"]);
    send(&mut a, &[b"PING", b"end"]);
    let mut pushes = Vec::new();
    loop {
        let raw = read_reply(&mut a);
        if raw == b"$3\r\nend\r\n" {
            break;
        }
        if raw.first() == Some(&b'>') {
            pushes.push(escape(&raw));
        }
    }
    assert_eq!(read_reply(&mut b), b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
    pushes
}

#[test]
fn a_writer_hears_the_events_of_the_clients_it_served() {
    let forkv = start(ARGS);
    let got = writer_hears_the_pop_it_served(&forkv);
    assert_eq!(got.len(), 3, "lpush, lpop and del: {got:?}");
    if let Some(redis) = common::start_redis(ARGS) {
        assert_eq!(got, writer_hears_the_pop_it_served(&redis));
    }
}

/// Stream writes: xadd (with xtrim when it trims), xdel, xtrim, xsetid,
/// and the generic events of keys holding streams.
const STREAMS: &[Step] = &[
    Cmd("XGROUP CREATE m g2 $ MKSTREAM"),
    Cmd("XADD s 1-0 a 1"),
    Cmd("XADD s 2-0 a 2"),
    Cmd("XADD s 3-0 a 3"),
    Cmd("XADD s MAXLEN 2 4-0 a 4"),
    Cmd("XADD s MAXLEN ~ 2 5-0 a 5"),
    Cmd("XADD s NOMKSTREAM 6-0 a 6"),
    Cmd("XADD n NOMKSTREAM 1-0 a 1"),
    Cmd("XADD s 1-0 a 1"),
    Cmd("XDEL s 2-0 3-0"),
    Cmd("XDEL s 99-0"),
    Cmd("XTRIM s MAXLEN 10"),
    Cmd("XTRIM s MINID 6"),
    Cmd("XSETID s 100-0"),
    Cmd("XSETID nokey 100-0"),
    Cmd("XLEN s"),
    Cmd("XRANGE s - +"),
    Cmd("XGROUP CREATE s g 0"),
    Cmd("XGROUP CREATE s g 0"),
    Cmd("XGROUP CREATE m g $ MKSTREAM"),
    Cmd("XGROUP CREATECONSUMER s g c1"),
    Cmd("XGROUP CREATECONSUMER s g c1"),
    Cmd("XREADGROUP GROUP g c2 STREAMS s >"),
    Cmd("XREADGROUP GROUP g c2 STREAMS s 0"),
    Cmd("XACK s g 6-0"),
    Cmd("XADD s 101-0 a 7"),
    Cmd("XREADGROUP GROUP g c3 NOACK STREAMS s >"),
    Cmd("XCLAIM s g c4 0 101-0 FORCE JUSTID"),
    Cmd("XAUTOCLAIM s g c5 0 0"),
    Cmd("XGROUP SETID s g 0"),
    Cmd("XGROUP DELCONSUMER s g c1"),
    Cmd("XGROUP DELCONSUMER s g nobody"),
    Cmd("XGROUP DESTROY s g"),
    Cmd("XGROUP DESTROY s g"),
    Block("XREAD BLOCK 0 STREAMS s $"),
    Block("XREADGROUP GROUP g2 c BLOCK 0 STREAMS m >"),
    Cmd("XADD s 102-0 a 8"),
    Cmd("XADD m 1-0 a 1"),
    Cmd("COPY s s2"),
    Cmd("RENAME s2 s3"),
    Cmd("EXPIRE s3 100"),
    Cmd("XDEL s 6-0"),
    Cmd("EXISTS s"),
    Cmd("DEL s s3"),
];

#[test]
fn streams_notify_as_redis_does() {
    for t in compare(&[("KEA", STREAMS), ("KEAnm", STREAMS)]) {
        assert!(notifications(&t) > 10, "{}", t.join("\n"));
    }
}
