//! Client-side caching over real connections: invalidations in RESP3 and
//! through a REDIRECT client, NOLOOP, BCAST prefixes, OPTIN/OPTOUT with
//! CLIENT CACHING, flushes, expiry, the key-table limit, a broken
//! redirection, and what CLIENT INFO and INFO report.
//!
//! Each scenario runs against forkv and, when `redis-server` is installed,
//! against Redis as well: the transcripts (every reply and push each
//! connection read, in order) must be equal byte for byte, with client ids
//! masked where they appear. The expected forkv transcript is also written
//! out in each test, so the tests check something without Redis too.
//!
//! "Nothing was sent" is checked without sleeping: a PING on the connection
//! must answer +PONG first, since an invalidation queued before it would be
//! read before its reply.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// What the connections of one scenario read, one line per reply or push.
#[derive(Default)]
struct Log {
    lines: Vec<String>,
    ids: Vec<u64>,
}

impl Log {
    fn record(&mut self, who: &str, bytes: &[u8], mask: bool) {
        let mut s = escape(bytes);
        if mask {
            for id in &self.ids {
                s = s.replace(&format!(":{id}\\r\\n"), ":<id>\\r\\n");
            }
        }
        self.lines.push(format!("{who}: {s}"));
    }
}

/// A connection of a scenario, named in the transcript.
struct Conn {
    raw: RawConn,
    name: &'static str,
    id: u64,
}

impl Conn {
    fn open(s: &Server, name: &'static str, resp3: bool, log: &mut Log) -> Conn {
        let mut raw = s.raw_conn();
        if resp3 {
            let hello = cmd_str(&mut raw, &["HELLO", "3"]);
            assert_eq!(hello[0], b'%', "HELLO 3: {}", escape(&hello));
        }
        let id = parse_one(&cmd_str(&mut raw, &["CLIENT", "ID"]))
            .as_int()
            .expect("CLIENT ID") as u64;
        log.ids.push(id);
        Conn { raw, name, id }
    }

    /// Sends a command and records its reply.
    fn call(&mut self, log: &mut Log, args: &[&str]) -> Vec<u8> {
        let r = cmd_str(&mut self.raw, args);
        log.record(self.name, &r, false);
        r
    }

    /// Like [`Conn::call`], with client ids in the reply masked.
    fn call_ids(&mut self, log: &mut Log, args: &[&str]) -> Vec<u8> {
        let r = cmd_str(&mut self.raw, args);
        log.record(self.name, &r, true);
        r
    }

    /// Sends a command without reading its reply (pipelining).
    fn send(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        send(&mut self.raw, &args);
    }

    /// Reads and records one reply or push.
    fn read(&mut self, log: &mut Log) -> Vec<u8> {
        let r = read_reply(&mut self.raw);
        log.record(self.name, &r, false);
        r
    }

    /// Like [`Conn::read`], with client ids masked.
    fn read_ids(&mut self, log: &mut Log) -> Vec<u8> {
        let r = read_reply(&mut self.raw);
        log.record(self.name, &r, true);
        r
    }

    /// Asserts nothing is waiting: PING answers first.
    fn nothing(&mut self, log: &mut Log) {
        self.call(log, &["PING"]);
    }
}

/// Runs `scenario` on forkv, then on Redis when it is installed, and
/// requires the same transcript. Returns forkv's.
fn both(scenario: fn(&Server, &mut Log)) -> Vec<String> {
    let forkv = start(&[]);
    let mut ours = Log::default();
    scenario(&forkv, &mut ours);
    if let Some(redis) = start_redis(&["--enable-debug-command", "yes"]) {
        let mut theirs = Log::default();
        scenario(&redis, &mut theirs);
        assert_eq!(
            theirs.lines, ours.lines,
            "transcripts differ (left: redis, right: forkv)"
        );
    }
    ours.lines
}

/// One transcript line.
fn line(who: &str, bytes: &[u8]) -> String {
    format!("{who}: {}", escape(bytes))
}

/// The RESP3 invalidation push for `keys`.
fn inval(keys: &[&str]) -> Vec<u8> {
    let mut out = format!(">2\r\n$10\r\ninvalidate\r\n*{}\r\n", keys.len()).into_bytes();
    for k in keys {
        out.extend_from_slice(format!("${}\r\n{k}\r\n", k.len()).as_bytes());
    }
    out
}

/// The RESP3 invalidation push after a flush.
const INVAL_ALL: &[u8] = b">2\r\n$10\r\ninvalidate\r\n_\r\n";

/// Polls `f` until it is true (10 s at most).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The value of `field` in an INFO reply.
fn info_field(reply: &[u8], field: &str) -> String {
    let text = String::from_utf8_lossy(reply);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .to_string()
}

#[test]
fn resp3_default_mode_invalidates_once_per_read() {
    let got = both(|s, log| {
        let mut a = Conn::open(s, "a", true, log);
        let mut w = Conn::open(s, "w", false, log);
        a.call(log, &["CLIENT", "TRACKING", "on"]);
        a.call(log, &["GET", "k"]);
        w.call(log, &["SET", "k", "1"]);
        a.read(log);
        // Forgotten after one invalidation, until read again.
        w.call(log, &["SET", "k", "2"]);
        a.nothing(log);
        a.call(log, &["MGET", "k", "x"]);
        w.call(log, &["MSET", "k", "3", "x", "4"]);
        a.read(log);
        a.read(log);
        // The client's own write: the invalidation follows the reply.
        a.call(log, &["GET", "k"]);
        a.call(log, &["SET", "k", "own"]);
        a.read(log);
        a.send(&["GET", "k"]);
        a.send(&["SET", "k", "5"]);
        a.send(&["PING"]);
        for _ in 0..4 {
            a.read(log);
        }
        // Keys of other read-only commands, and a read that failed.
        w.call(log, &["RPUSH", "list", "x"]);
        a.call(log, &["STRLEN", "list"]);
        a.call(log, &["EXISTS", "e1", "e2"]);
        w.call(log, &["DEL", "list"]);
        a.read(log);
        w.call(log, &["SET", "e2", "v"]);
        a.read(log);
        // Rejected before running: nothing remembered.
        a.call(log, &["GET"]);
        a.call(log, &["CLIENT", "TRACKING", "off"]);
        a.call(log, &["GET", "off"]);
        w.call(log, &["SET", "off", "1"]);
        a.nothing(log);
    });
    let wrongtype = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    let want = vec![
        line("a", b"+OK\r\n"),
        line("a", b"_\r\n"),
        line("w", b"+OK\r\n"),
        line("a", &inval(&["k"])),
        line("w", b"+OK\r\n"),
        line("a", b"+PONG\r\n"),
        line("a", b"*2\r\n$1\r\n2\r\n_\r\n"),
        line("w", b"+OK\r\n"),
        line("a", &inval(&["k"])),
        line("a", &inval(&["x"])),
        line("a", b"$1\r\n3\r\n"),
        line("a", b"+OK\r\n"),
        line("a", &inval(&["k"])),
        line("a", b"$3\r\nown\r\n"),
        line("a", b"+OK\r\n"),
        line("a", &inval(&["k"])),
        line("a", b"+PONG\r\n"),
        line("w", b":1\r\n"),
        line("a", wrongtype),
        line("a", b":0\r\n"),
        line("w", b":1\r\n"),
        line("a", &inval(&["list"])),
        line("w", b"+OK\r\n"),
        line("a", &inval(&["e2"])),
        line("a", b"-ERR wrong number of arguments for 'get' command\r\n"),
        line("a", b"+OK\r\n"),
        line("a", b"_\r\n"),
        line("w", b"+OK\r\n"),
        line("a", b"+PONG\r\n"),
    ];
    assert_eq!(got, want);
}

#[test]
fn noloop_skips_the_clients_own_changes() {
    let got = both(|s, log| {
        let mut a = Conn::open(s, "a", true, log);
        let mut w = Conn::open(s, "w", false, log);
        a.call(log, &["CLIENT", "TRACKING", "on", "NOLOOP"]);
        a.call(log, &["GET", "k"]);
        a.call(log, &["SET", "k", "1"]);
        a.nothing(log);
        // The own write made the server forget the key for everyone.
        w.call(log, &["SET", "k", "2"]);
        a.nothing(log);
        a.call(log, &["GET", "k"]);
        w.call(log, &["SET", "k", "3"]);
        a.read(log);
    });
    let want = vec![
        line("a", b"+OK\r\n"),
        line("a", b"_\r\n"),
        line("a", b"+OK\r\n"),
        line("a", b"+PONG\r\n"),
        line("w", b"+OK\r\n"),
        line("a", b"+PONG\r\n"),
        line("a", b"$1\r\n2\r\n"),
        line("w", b"+OK\r\n"),
        line("a", &inval(&["k"])),
    ];
    assert_eq!(got, want);
}

#[test]
fn bcast_sends_matching_keys_in_one_batch_per_prefix() {
    let got = both(|s, log| {
        let mut a = Conn::open(s, "a", true, log);
        let mut b = Conn::open(s, "b", true, log);
        let mut w = Conn::open(s, "w", false, log);
        a.call(
            log,
            &[
                "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "PREFIX", "obj:",
            ],
        );
        b.call(log, &["CLIENT", "TRACKING", "on", "BCAST", "NOLOOP"]);
        w.call(
            log,
            &[
                "MSET", "user:2", "x", "obj:1", "x", "other", "x", "user:1", "x",
            ],
        );
        a.read(log);
        a.read(log);
        b.read(log);
        // Nothing was read, yet changes keep coming.
        w.call(log, &["DEL", "user:1"]);
        a.read(log);
        b.read(log);
        // NOLOOP: b's own changes go to the others only.
        b.send(&["SET", "user:3", "y"]);
        b.send(&["SET", "zz", "y"]);
        b.read(log);
        b.read(log);
        b.nothing(log);
        a.read(log);
        a.nothing(log);
        a.call(log, &["CLIENT", "TRACKINGINFO"]);
        // A bcast client's own change arrives after its reply.
        a.call(log, &["SET", "obj:2", "z"]);
        a.read(log);
        b.read(log);
    });
    let want = vec![
        line("a", b"+OK\r\n"),
        line("b", b"+OK\r\n"),
        line("w", b"+OK\r\n"),
        line("a", &inval(&["obj:1"])),
        line("a", &inval(&["user:1", "user:2"])),
        line("b", &inval(&["obj:1", "other", "user:1", "user:2"])),
        line("w", b":1\r\n"),
        line("a", &inval(&["user:1"])),
        line("b", &inval(&["user:1"])),
        line("b", b"+OK\r\n"),
        line("b", b"+OK\r\n"),
        line("b", b"+PONG\r\n"),
        line("a", &inval(&["user:3"])),
        line("a", b"+PONG\r\n"),
        line(
            "a",
            b"%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$5\r\nbcast\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*2\r\n$4\r\nobj:\r\n$5\r\nuser:\r\n",
        ),
        line("a", b"+OK\r\n"),
        line("a", &inval(&["obj:2"])),
        line("b", &inval(&["obj:2"])),
    ];
    assert_eq!(got, want);
}

#[test]
fn optin_and_optout_follow_client_caching() {
    let got = both(|s, log| {
        let mut a = Conn::open(s, "a", true, log);
        let mut o = Conn::open(s, "o", true, log);
        let mut w = Conn::open(s, "w", false, log);
        a.call(log, &["CLIENT", "TRACKING", "on", "OPTIN"]);
        a.call(log, &["GET", "k1"]);
        w.call(log, &["SET", "k1", "1"]);
        a.nothing(log);
        a.call(log, &["CLIENT", "CACHING", "yes"]);
        a.call(log, &["GET", "k1"]);
        w.call(log, &["SET", "k1", "2"]);
        a.read(log);
        // CACHING covers the next command only...
        a.call(log, &["CLIENT", "CACHING", "yes"]);
        a.call(log, &["PING"]);
        a.call(log, &["GET", "k1"]);
        w.call(log, &["SET", "k1", "3"]);
        a.nothing(log);
        // ...but other CLIENT subcommands do not use it up.
        a.call(log, &["CLIENT", "CACHING", "yes"]);
        a.call(log, &["CLIENT", "GETREDIR"]);
        a.call(log, &["GET", "k1"]);
        w.call(log, &["SET", "k1", "4"]);
        a.read(log);
        o.call(log, &["CLIENT", "TRACKING", "on", "OPTOUT"]);
        o.call(log, &["GET", "k2"]);
        o.call(log, &["CLIENT", "CACHING", "no"]);
        o.call(log, &["GET", "k3"]);
        w.call(log, &["MSET", "k2", "x", "k3", "x"]);
        o.read(log);
        o.nothing(log);
    });
    let want = vec![
        line("a", b"+OK\r\n"),
        line("a", b"_\r\n"),
        line("w", b"+OK\r\n"),
        line("a", b"+PONG\r\n"),
        line("a", b"+OK\r\n"),
        line("a", b"$1\r\n1\r\n"),
        line("w", b"+OK\r\n"),
        line("a", &inval(&["k1"])),
        line("a", b"+OK\r\n"),
        line("a", b"+PONG\r\n"),
        line("a", b"$1\r\n2\r\n"),
        line("w", b"+OK\r\n"),
        line("a", b"+PONG\r\n"),
        line("a", b"+OK\r\n"),
        line("a", b":0\r\n"),
        line("a", b"$1\r\n3\r\n"),
        line("w", b"+OK\r\n"),
        line("a", &inval(&["k1"])),
        line("o", b"+OK\r\n"),
        line("o", b"_\r\n"),
        line("o", b"+OK\r\n"),
        line("o", b"_\r\n"),
        line("w", b"+OK\r\n"),
        line("o", &inval(&["k2"])),
        line("o", b"+PONG\r\n"),
    ];
    assert_eq!(got, want);
}

#[test]
fn flush_sends_the_null_invalidation_to_every_tracking_client() {
    let got = both(|s, log| {
        let mut a = Conn::open(s, "a", true, log);
        let mut b = Conn::open(s, "b", true, log);
        let mut c = Conn::open(s, "c", false, log);
        let mut w = Conn::open(s, "w", false, log);
        a.call(log, &["CLIENT", "TRACKING", "on"]);
        b.call(log, &["CLIENT", "TRACKING", "on", "BCAST"]);
        // RESP2 without REDIRECT: accepted, nothing is ever sent.
        c.call(log, &["CLIENT", "TRACKING", "on"]);
        c.call(log, &["GET", "k"]);
        a.call(log, &["GET", "k"]);
        w.call(log, &["FLUSHALL"]);
        a.read(log);
        b.read(log);
        // The table was emptied: no invalidation for k any more.
        w.call(log, &["SET", "k", "1"]);
        b.read(log);
        a.nothing(log);
        a.call(log, &["FLUSHDB"]);
        a.read(log);
        b.read(log);
        c.nothing(log);
    });
    let want = vec![
        line("a", b"+OK\r\n"),
        line("b", b"+OK\r\n"),
        line("c", b"+OK\r\n"),
        line("c", b"$-1\r\n"),
        line("a", b"_\r\n"),
        line("w", b"+OK\r\n"),
        line("a", INVAL_ALL),
        line("b", INVAL_ALL),
        line("w", b"+OK\r\n"),
        line("b", &inval(&["k"])),
        line("a", b"+PONG\r\n"),
        line("a", b"+OK\r\n"),
        line("a", INVAL_ALL),
        line("b", INVAL_ALL),
        line("c", b"+PONG\r\n"),
    ];
    assert_eq!(got, want);
}

#[test]
fn expired_keys_are_invalidated() {
    let got = both(|s, log| {
        let mut a = Conn::open(s, "a", true, log);
        let mut b = Conn::open(s, "b", true, log);
        let mut w = Conn::open(s, "w", false, log);
        a.call(log, &["CLIENT", "TRACKING", "on"]);
        b.call(log, &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "t"]);
        // Active expiry (cron); PEXPIRE itself is a change.
        w.call(log, &["SET", "t1", "v"]);
        b.read(log);
        a.call(log, &["GET", "t1"]);
        w.call(log, &["PEXPIRE", "t1", "300"]);
        a.read(log);
        b.read(log);
        a.call(log, &["GET", "t1"]);
        a.read(log);
        b.read(log);
        // Lazy expiry by the tracking client's own read: after its reply.
        w.call(log, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        w.call(log, &["SET", "t2", "v", "PX", "1000"]);
        b.read(log);
        a.call(log, &["GET", "t2"]);
        std::thread::sleep(Duration::from_millis(1200));
        a.call(log, &["GET", "t2"]);
        a.read(log);
        b.read(log);
        // A blocking command that finds its key expired: the invalidation
        // leaves while the client waits.
        w.call(log, &["RPUSH", "tl", "x"]);
        b.read(log);
        a.call(log, &["LRANGE", "tl", "0", "-1"]);
        w.call(log, &["PEXPIRE", "tl", "1000"]);
        a.read(log);
        b.read(log);
        a.call(log, &["LLEN", "tl"]);
        std::thread::sleep(Duration::from_millis(1200));
        a.send(&["BLPOP", "tl", "0.2"]);
        a.read(log);
        a.read(log);
        b.read(log);
        w.call(log, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
        a.nothing(log);
    });
    let want = vec![
        line("a", b"+OK\r\n"),
        line("b", b"+OK\r\n"),
        line("w", b"+OK\r\n"),
        line("b", &inval(&["t1"])),
        line("a", b"$1\r\nv\r\n"),
        line("w", b":1\r\n"),
        line("a", &inval(&["t1"])),
        line("b", &inval(&["t1"])),
        line("a", b"$1\r\nv\r\n"),
        line("a", &inval(&["t1"])),
        line("b", &inval(&["t1"])),
        line("w", b"+OK\r\n"),
        line("w", b"+OK\r\n"),
        line("b", &inval(&["t2"])),
        line("a", b"$1\r\nv\r\n"),
        line("a", b"_\r\n"),
        line("a", &inval(&["t2"])),
        line("b", &inval(&["t2"])),
        line("w", b":1\r\n"),
        line("b", &inval(&["tl"])),
        line("a", b"*1\r\n$1\r\nx\r\n"),
        line("w", b":1\r\n"),
        line("a", &inval(&["tl"])),
        line("b", &inval(&["tl"])),
        line("a", b":1\r\n"),
        line("a", &inval(&["tl"])),
        line("a", b"_\r\n"),
        line("b", &inval(&["tl"])),
        line("w", b"+OK\r\n"),
        line("a", b"+PONG\r\n"),
    ];
    assert_eq!(got, want);
}

#[test]
fn redirect_to_a_resp3_client_and_broken_redirection() {
    let got = both(|s, log| {
        let mut r = Conn::open(s, "r", true, log);
        let mut t = Conn::open(s, "t", false, log);
        let mut t3 = Conn::open(s, "t3", true, log);
        let mut w = Conn::open(s, "w", false, log);
        let rid = r.id.to_string();
        t.call(log, &["CLIENT", "TRACKING", "on", "REDIRECT", &rid]);
        t.call_ids(log, &["CLIENT", "GETREDIR"]);
        t.call(log, &["GET", "k"]);
        w.call(log, &["SET", "k", "1"]);
        r.read(log);
        t.nothing(log);
        t3.call(log, &["CLIENT", "TRACKING", "on", "REDIRECT", &rid]);
        t3.call(log, &["MGET", "k1", "k2"]);
        t.call(log, &["GET", "k1"]);
        drop(r);
        eventually("the redirect client to go away", || {
            let list = cmd_str(&mut w.raw, &["CLIENT", "LIST", "ID", &rid]);
            list.ends_with(b"\r\n\r\n") && list.starts_with(b"$0")
        });
        w.call(log, &["MSET", "k1", "2", "k2", "2"]);
        // Once per invalidation, and only in RESP3.
        t3.read_ids(log);
        t3.read_ids(log);
        t3.call_ids(log, &["CLIENT", "TRACKINGINFO"]);
        let info = cmd_str(&mut t3.raw, &["CLIENT", "INFO"]);
        let info = String::from_utf8_lossy(&info).into_owned();
        assert!(info.contains(" flags=tR "), "{info}");
        assert!(info.contains(&format!(" redir={rid} ")), "{info}");
        t.nothing(log);
        t.call(log, &["CLIENT", "TRACKING", "on"]);
        t.call(log, &["CLIENT", "GETREDIR"]);
        t.call(log, &["CLIENT", "TRACKING", "on", "REDIRECT", &rid]);
    });
    let broken = b">2\r\n$21\r\ntracking-redir-broken\r\n:<id>\r\n";
    let want = vec![
        line("t", b"+OK\r\n"),
        line("t", b":<id>\r\n"),
        line("t", b"$-1\r\n"),
        line("w", b"+OK\r\n"),
        line("r", &inval(&["k"])),
        line("t", b"+PONG\r\n"),
        line("t3", b"+OK\r\n"),
        line("t3", b"*2\r\n_\r\n_\r\n"),
        line("t", b"$-1\r\n"),
        line("w", b"+OK\r\n"),
        line("t3", broken),
        line("t3", broken),
        line(
            "t3",
            b"%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$15\r\nbroken_redirect\r\n$8\r\nredirect\r\n:<id>\r\n$8\r\nprefixes\r\n*0\r\n",
        ),
        line("t", b"+PONG\r\n"),
        line("t", b"+OK\r\n"),
        line("t", b":0\r\n"),
        line(
            "t",
            b"-ERR The client ID you want redirect to does not exist\r\n",
        ),
    ];
    assert_eq!(got, want);
}

#[test]
fn writes_by_a_served_blocked_client_reach_the_writer() {
    // x's LPUSH serves b's BLMOVE inside x's turn; x tracks the destination.
    let got = both(|s, log| {
        let mut x = Conn::open(s, "x", true, log);
        let mut b = Conn::open(s, "b", false, log);
        let mut w = Conn::open(s, "w", false, log);
        x.call(log, &["CLIENT", "TRACKING", "on"]);
        x.call(log, &["LRANGE", "dst", "0", "-1"]);
        b.send(&["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]);
        eventually("the client to block", || {
            let info = cmd_str(&mut w.raw, &["INFO", "clients"]);
            info_field(&info, "blocked_clients") == "1"
        });
        x.call(log, &["LPUSH", "src", "v"]);
        x.read(log);
        b.read(log);
        x.nothing(log);
    });
    let want = vec![
        line("x", b"+OK\r\n"),
        line("x", b"*0\r\n"),
        line("x", b":1\r\n"),
        line("x", &inval(&["dst"])),
        line("b", b"$1\r\nv\r\n"),
        line("x", b"+PONG\r\n"),
    ];
    assert_eq!(got, want);
}

#[test]
fn overlapping_given_prefixes_are_refused_once() {
    // Redis 7.0 answers this error and then +OK (enabling tracking) when
    // the overlapping pair does not start with the first prefix given,
    // which leaves the client one reply behind; forkv answers once and
    // leaves tracking off, as for the other overlaps.
    let s = start(&[]);
    let mut log = Log::default();
    let mut a = Conn::open(&s, "a", false, &mut log);
    a.call(
        &mut log,
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "b", "PREFIX", "bc",
        ],
    );
    a.call(&mut log, &["CLIENT", "TRACKINGINFO"]);
    let want = vec![
        line(
            "a",
            b"-ERR Prefix 'b' overlaps with another provided prefix 'bc'. Prefixes for a single client must not overlap.\r\n",
        ),
        line(
            "a",
            b"*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n",
        ),
    ];
    assert_eq!(log.lines, want);
}

#[test]
fn table_limit_forgets_keys_with_an_invalidation() {
    // Which key is forgotten is random, so each server is checked alone.
    for s in std::iter::once(start(&[])).chain(start_redis(&[])) {
        let mut log = Log::default();
        let mut a = Conn::open(&s, "a", true, &mut log);
        a.call(&mut log, &["CONFIG", "SET", "tracking-table-max-keys", "1"]);
        a.call(&mut log, &["CLIENT", "TRACKING", "on"]);
        a.call(&mut log, &["GET", "k1"]);
        a.call(&mut log, &["GET", "k2"]);
        // Before the next command (or at the next cron tick) one goes.
        let push = a.read(&mut log);
        assert!(
            push == inval(&["k1"]) || push == inval(&["k2"]),
            "{}",
            escape(&push)
        );
        let info = a.call(&mut log, &["INFO", "stats"]);
        assert_eq!(info_field(&info, "tracking_total_keys"), "1");
        assert_eq!(info_field(&info, "tracking_total_items"), "1");
        a.nothing(&mut log);
        let r = a.call(&mut log, &["CONFIG", "GET", "tracking-table-max-keys"]);
        assert_eq!(
            r,
            b"%1\r\n$23\r\ntracking-table-max-keys\r\n$1\r\n1\r\n".to_vec()
        );
    }
}

#[test]
fn client_list_and_info_report_tracking() {
    for s in std::iter::once(start(&[])).chain(start_redis(&[])) {
        let mut log = Log::default();
        let mut a = Conn::open(&s, "a", false, &mut log);
        let mut b = Conn::open(&s, "b", false, &mut log);
        let mut w = Conn::open(&s, "w", false, &mut log);
        let info = |w: &mut Conn, section: &str, field: &str| {
            info_field(&cmd_str(&mut w.raw, &["INFO", section]), field)
        };
        let client_info = |c: &mut Conn| {
            String::from_utf8_lossy(&cmd_str(&mut c.raw, &["CLIENT", "INFO"])).into_owned()
        };
        assert!(client_info(&mut a).contains(" flags=N "));
        assert!(client_info(&mut a).contains(" redir=-1 "));
        a.call(
            &mut log,
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p"],
        );
        let ci = client_info(&mut a);
        assert!(
            ci.contains(" flags=tB ") && ci.contains(" redir=0 "),
            "{ci}"
        );
        let wid = w.id.to_string();
        b.call(&mut log, &["CLIENT", "TRACKING", "on", "REDIRECT", &wid]);
        let ci = client_info(&mut b);
        assert!(
            ci.contains(" flags=t ") && ci.contains(&format!(" redir={wid} ")),
            "{ci}"
        );
        b.call(&mut log, &["MGET", "x", "y"]);
        assert_eq!(info(&mut w, "clients", "tracking_clients"), "2");
        assert_eq!(info(&mut w, "stats", "tracking_total_keys"), "2");
        assert_eq!(info(&mut w, "stats", "tracking_total_items"), "2");
        assert_eq!(info(&mut w, "stats", "tracking_total_prefixes"), "1");
        a.call(&mut log, &["CLIENT", "TRACKING", "off"]);
        assert!(client_info(&mut a).contains(" flags=N "));
        assert_eq!(info(&mut w, "clients", "tracking_clients"), "1");
        assert_eq!(info(&mut w, "stats", "tracking_total_prefixes"), "0");
        drop(b);
        eventually("the tracking client to go away", || {
            info(&mut w, "clients", "tracking_clients") == "0"
        });
        // Its keys stay until they change, as in Redis.
        assert_eq!(info(&mut w, "stats", "tracking_total_keys"), "2");
        w.call(&mut log, &["SET", "x", "1"]);
        assert_eq!(info(&mut w, "stats", "tracking_total_keys"), "1");
    }
}

#[test]
fn resp2_redirect_to_a_client_subscribed_to_the_invalidate_channel() {
    let got = both(|s, log| {
        let mut sub = Conn::open(s, "s", false, log);
        let mut u = Conn::open(s, "u", false, log);
        let mut t = Conn::open(s, "t", false, log);
        let mut t2 = Conn::open(s, "t2", false, log);
        let mut t3 = Conn::open(s, "t3", true, log);
        let mut b = Conn::open(s, "b", false, log);
        let mut w = Conn::open(s, "w", false, log);
        let (sid, uid, t3id) = (sub.id.to_string(), u.id.to_string(), t3.id.to_string());
        sub.call(log, &["SUBSCRIBE", "__redis__:invalidate"]);
        t.call(log, &["CLIENT", "TRACKING", "on", "REDIRECT", &sid]);
        t.call(log, &["MGET", "k", "k2"]);
        w.call(log, &["MSET", "k", "1", "k2", "2"]);
        sub.read(log);
        sub.read(log);
        // The null after a flush is in the tracking client's protocol (a
        // RESP2 one here, so `$-1` even to a RESP3 target).
        t.call(log, &["FLUSHDB"]);
        sub.read(log);
        t2.call(log, &["CLIENT", "TRACKING", "on", "REDIRECT", &t3id]);
        t2.call(log, &["FLUSHALL"]);
        t3.read(log);
        sub.read(log);
        b.call(
            log,
            &["CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", &sid],
        );
        w.call(log, &["SET", "a", "1"]);
        sub.read(log);
        sub.nothing(log);
        // A RESP2 target that is not subscribed gets nothing (s hears
        // about k through b, whose BCAST covers every key).
        t.call(log, &["CLIENT", "TRACKING", "on", "REDIRECT", &uid]);
        t.call(log, &["GET", "k"]);
        w.call(log, &["SET", "k", "x"]);
        sub.read(log);
        u.nothing(log);
        sub.call(log, &["UNSUBSCRIBE"]);
        t.call(log, &["CLIENT", "TRACKING", "on", "REDIRECT", &sid]);
        t.call(log, &["GET", "k"]);
        w.call(log, &["SET", "k", "y"]);
        sub.nothing(log);
        let ci = String::from_utf8_lossy(&cmd_str(&mut t.raw, &["CLIENT", "INFO"])).into_owned();
        assert!(ci.contains(" flags=t "), "{ci}");
        assert!(ci.contains(&format!(" redir={sid} ")), "{ci}");
        let ci = String::from_utf8_lossy(&cmd_str(&mut w.raw, &["CLIENT", "LIST", "ID", &sid]))
            .into_owned();
        assert!(ci.contains(" flags=N ") && ci.contains(" sub=0 "), "{ci}");
    });
    let msg = |payload: &[u8]| {
        let mut m = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n".to_vec();
        m.extend_from_slice(payload);
        m
    };
    let want = vec![
        line(
            "s",
            b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
        ),
        line("t", b"+OK\r\n"),
        line("t", b"*2\r\n$-1\r\n$-1\r\n"),
        line("w", b"+OK\r\n"),
        line("s", &msg(b"*1\r\n$1\r\nk\r\n")),
        line("s", &msg(b"*1\r\n$2\r\nk2\r\n")),
        line("t", b"+OK\r\n"),
        line("s", &msg(b"$-1\r\n")),
        line("t2", b"+OK\r\n"),
        line("t2", b"+OK\r\n"),
        line("t3", b">2\r\n$10\r\ninvalidate\r\n$-1\r\n"),
        line("s", &msg(b"$-1\r\n")),
        line("b", b"+OK\r\n"),
        line("w", b"+OK\r\n"),
        line("s", &msg(b"*1\r\n$1\r\na\r\n")),
        line("s", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
        line("t", b"+OK\r\n"),
        line("t", b"$-1\r\n"),
        line("w", b"+OK\r\n"),
        line("s", &msg(b"*1\r\n$1\r\nk\r\n")),
        line("u", b"+PONG\r\n"),
        line(
            "s",
            b"*3\r\n$11\r\nunsubscribe\r\n$20\r\n__redis__:invalidate\r\n:0\r\n",
        ),
        line("t", b"+OK\r\n"),
        line("t", b"$1\r\nx\r\n"),
        line("w", b"+OK\r\n"),
        line("s", b"+PONG\r\n"),
    ];
    assert_eq!(got, want);
}

#[test]
fn a_resp2_redirect_target_never_gets_a_resp3_null() {
    // Redis sends RESP3's `_` inside the RESP2 message when a RESP3 client
    // flushes with its invalidations redirected to a RESP2 subscriber;
    // forkv sends `$-1`, which that connection can parse.
    let s = start(&[]);
    let mut log = Log::default();
    let mut sub = Conn::open(&s, "s", false, &mut log);
    let mut t3 = Conn::open(&s, "t3", true, &mut log);
    let sid = sub.id.to_string();
    sub.call(&mut log, &["SUBSCRIBE", "__redis__:invalidate"]);
    t3.call(&mut log, &["CLIENT", "TRACKING", "on", "REDIRECT", &sid]);
    t3.call(&mut log, &["FLUSHDB"]);
    sub.read(&mut log);
    let msg = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n";
    assert_eq!(log.lines.last(), Some(&line("s", msg)));
}
