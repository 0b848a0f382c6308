//! Administration through real clients: CLIENT PAUSE/UNPAUSE (held
//! commands wait, in order), WAIT on a server without replicas, the slow
//! log, the latency monitor and MONITOR.
//!
//! Scenarios state the replies they expect and run against forkv and, when
//! `redis-server` is installed, against Redis 7.0 too. Timings are bounded
//! generously: only "not before the pause ends" is checked, with margin.

mod common;

use common::{
    RawConn, Resp, Server, escape, expect as is, info_value, line as r, on_forkv_and_redis,
    parse_one, read_reply, send,
};
use std::time::{Duration, Instant};

const ARGS: &[&str] = &["--enable-debug-command", "yes"];

fn on_both(scenario: impl Fn(&Server)) {
    on_forkv_and_redis(ARGS, scenario)
}

fn send_line(c: &mut RawConn, words: &str) {
    let args: Vec<&[u8]> = words.split_whitespace().map(|a| a.as_bytes()).collect();
    send(c, &args);
}

/// The CLIENT LIST line of the client named `name`.
fn client_line(c: &mut RawConn, name: &str) -> String {
    let list = String::from_utf8_lossy(&r(c, "CLIENT LIST")).into_owned();
    list.lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .unwrap_or_else(|| panic!("no client {name} in {list}"))
        .to_string()
}

fn named(s: &Server, name: &str) -> RawConn {
    let mut c = s.raw_conn();
    is(&mut c, &format!("CLIENT SETNAME {name}"), "+OK\r\n");
    c
}

// ---------------------------------------------------------------------------
// CLIENT PAUSE

#[test]
fn client_pause_write_holds_writes_until_unpause() {
    on_both(|s| {
        let mut admin = named(s, "admin");
        let mut w = named(s, "writer");
        let mut t = named(s, "tx");
        let mut obs = s.raw_conn();
        is(&mut w, "SET k 1", "+OK\r\n");
        is(&mut admin, "CLIENT PAUSE 60000 WRITE", "+OK\r\n");
        // Reads go on; a write waits, and so does what follows it.
        send_line(&mut w, "GET k");
        send_line(&mut w, "SET k 2");
        send_line(&mut w, "GET k");
        assert_eq!(read_reply(&mut w), b"$1\r\n1\r\n");
        is(&mut obs, "GET k", "$1\r\n1\r\n");
        // A write queued in a transaction waits before being queued.
        is(&mut t, "MULTI", "+OK\r\n");
        is(&mut t, "GET k", "+QUEUED\r\n");
        send_line(&mut t, "INCR n");
        let mut held = 0;
        for _ in 0..500 {
            held = info_value(&mut obs, "clients", "blocked_clients")
                .parse()
                .unwrap();
            if held == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(held, 2, "both writers are held");
        let wl = client_line(&mut obs, "writer");
        assert!(wl.contains(" flags=b ") && wl.contains(" cmd=set "), "{wl}");
        let tl = client_line(&mut obs, "tx");
        assert!(
            tl.contains(" flags=xb ") && tl.contains(" multi=1 "),
            "{tl}"
        );
        is(&mut obs, "GET k", "$1\r\n1\r\n");
        // The pausing client's own writes wait too; UNPAUSE is no write.
        is(&mut admin, "CLIENT UNPAUSE", "+OK\r\n");
        assert_eq!(read_reply(&mut w), b"+OK\r\n");
        assert_eq!(read_reply(&mut w), b"$1\r\n2\r\n");
        assert_eq!(read_reply(&mut t), b"+QUEUED\r\n");
        is(&mut t, "EXEC", "*2\r\n$1\r\n2\r\n:1\r\n");
        assert_eq!(info_value(&mut obs, "clients", "blocked_clients"), "0");
    });
}

/// Sends `words` on `c` and returns its reply with the time it took.
fn timed(c: &mut RawConn, words: &str) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let reply = r(c, words);
    (reply, started.elapsed())
}

#[test]
fn client_pause_ends_at_its_deadline() {
    on_both(|s| {
        let mut admin = s.raw_conn();
        let mut w = s.raw_conn();
        is(&mut admin, "CLIENT PAUSE 400 WRITE", "+OK\r\n");
        let started = Instant::now();
        let (reply, _) = timed(&mut w, "SET k 1");
        assert_eq!(reply, b"+OK\r\n");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(10),
            "{waited:?}"
        );
        // A new pause keeps the stricter mode and the later end.
        is(&mut admin, "CLIENT PAUSE 600 WRITE", "+OK\r\n");
        is(&mut admin, "CLIENT PAUSE 50 ALL", "+OK\r\n");
        let started = Instant::now();
        is(&mut w, "GET k", "$1\r\n1\r\n");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(400), "{waited:?}");
        // Timeout 0 ends at once; bad arguments are refused.
        is(&mut admin, "CLIENT PAUSE 0 WRITE", "+OK\r\n");
        is(&mut w, "SET k 2", "+OK\r\n");
        is(
            &mut admin,
            "CLIENT PAUSE 10 READ",
            "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n",
        );
        is(
            &mut admin,
            "CLIENT PAUSE x",
            "-ERR timeout is not an integer or out of range\r\n",
        );
        is(
            &mut admin,
            "CLIENT PAUSE -5",
            "-ERR timeout is negative\r\n",
        );
    });
}

#[test]
fn client_pause_all_holds_every_command_even_unpause() {
    on_both(|s| {
        let mut admin = s.raw_conn();
        let mut a = s.raw_conn();
        let mut b = s.raw_conn();
        is(&mut admin, "CLIENT PAUSE 500 ALL", "+OK\r\n");
        let started = Instant::now();
        send_line(&mut a, "PING");
        send_line(&mut b, "CLIENT UNPAUSE");
        assert_eq!(read_reply(&mut a), b"+PONG\r\n");
        assert_eq!(read_reply(&mut b), b"+OK\r\n");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(400), "{waited:?}");
    });
}

#[test]
fn paused_pipelines_keep_their_order() {
    on_both(|s| {
        let mut admin = s.raw_conn();
        let mut w = s.raw_conn();
        is(&mut admin, "CLIENT PAUSE 300 WRITE", "+OK\r\n");
        let mut batch = Vec::new();
        for words in ["INCR c", "GET c", "INCR c", "GET c", "ECHO done"] {
            let args: Vec<&[u8]> = words.split_whitespace().map(|a| a.as_bytes()).collect();
            batch.extend(common::encode_command(&args));
        }
        std::io::Write::write_all(&mut w, &batch).unwrap();
        for want in [
            ":1\r\n",
            "$1\r\n1\r\n",
            ":2\r\n",
            "$1\r\n2\r\n",
            "$4\r\ndone\r\n",
        ] {
            assert_eq!(escape(&read_reply(&mut w)), escape(want.as_bytes()));
        }
    });
}

// ---------------------------------------------------------------------------
// WAIT

#[test]
fn wait_answers_zero_replicas() {
    on_both(|s| {
        let mut a = named(s, "waiter");
        let mut obs = s.raw_conn();
        is(&mut a, "WAIT 0 0", ":0\r\n");
        is(&mut a, "WAIT -3 100", ":0\r\n");
        let (reply, waited) = timed(&mut a, "WAIT 1 300");
        assert_eq!(reply, b":0\r\n");
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        is(&mut a, "WAIT 1 -1", "-ERR timeout is negative\r\n");
        is(
            &mut a,
            "WAIT one 0",
            "-ERR value is not an integer or out of range\r\n",
        );
        // Timeout 0 waits for ever: the client shows as blocked until killed.
        send_line(&mut a, "WAIT 1 0");
        let mut line = String::new();
        for _ in 0..500 {
            line = client_line(&mut obs, "waiter");
            if line.contains(" flags=b ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            line.contains(" flags=b ") && line.contains(" cmd=wait "),
            "{line}"
        );
        assert_eq!(info_value(&mut obs, "clients", "blocked_clients"), "1");
        let id = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("id="))
            .unwrap()
            .to_string();
        is(&mut obs, &format!("CLIENT KILL ID {id}"), ":1\r\n");
        for _ in 0..500 {
            if info_value(&mut obs, "clients", "blocked_clients") == "0" {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(info_value(&mut obs, "clients", "blocked_clients"), "0");
        let stats = String::from_utf8_lossy(&r(&mut obs, "INFO commandstats")).into_owned();
        // Every WAIT counts, the killed one included; two were errors.
        let wait = stats
            .lines()
            .find(|l| l.starts_with("cmdstat_wait:"))
            .unwrap_or_else(|| panic!("{stats}"));
        assert!(wait.starts_with("cmdstat_wait:calls=6,"), "{wait}");
        assert!(wait.ends_with(",failed_calls=2"), "{wait}");
    });
}

// ---------------------------------------------------------------------------
// SLOWLOG

/// SLOWLOG GET `n`: (id, arguments, client address, client name) per entry.
fn slowlog(c: &mut RawConn, n: i64) -> Vec<(i64, Vec<String>, String, String)> {
    let reply = parse_one(&r(c, &format!("SLOWLOG GET {n}")));
    reply
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            let f = e.as_array().expect("entry");
            assert_eq!(f.len(), 6);
            assert!(f[1].as_int().unwrap() > 1_600_000_000, "unix time");
            assert!(f[2].as_int().unwrap() >= 0, "duration");
            let args = f[3]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            (
                f[0].as_int().unwrap(),
                args,
                f[4].as_str().unwrap(),
                f[5].as_str().unwrap(),
            )
        })
        .collect()
}

fn args_of(entries: &[(i64, Vec<String>, String, String)]) -> Vec<String> {
    entries.iter().map(|e| e.1.join(" ")).collect()
}

#[test]
fn slowlog_records_commands_as_redis_does() {
    on_both(|s| {
        let mut c = s.raw_conn();
        is(&mut c, "CONFIG SET slowlog-log-slower-than 0", "+OK\r\n");
        is(&mut c, "SLOWLOG RESET", "+OK\r\n");
        // The RESET itself is logged once it has run.
        is(&mut c, "SLOWLOG LEN", ":1\r\n");
        is(&mut c, "CLIENT SETNAME logger", "+OK\r\n");
        is(&mut c, "SET k v", "+OK\r\n");
        let e = slowlog(&mut c, 2);
        assert_eq!(args_of(&e), ["SET k v", "CLIENT SETNAME logger"]);
        assert_eq!(e[0].3, "logger");
        assert!(e[0].2.starts_with("127.0.0.1:"), "{}", e[0].2);
        assert_eq!(e[0].0, e[1].0 + 1, "ids follow each other");
        // Long arguments and long commands are cut.
        let long = "x".repeat(200);
        is(&mut c, &format!("SET big {long}"), "+OK\r\n");
        let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let reply = r(&mut c, &format!("RPUSH list {}", many.join(" ")));
        assert_eq!(reply, b":40\r\n");
        let e = slowlog(&mut c, 3);
        assert_eq!(e[0].1.len(), 32);
        assert_eq!(e[0].1[30], "28");
        assert_eq!(e[0].1[31], "... (11 more arguments)");
        assert_eq!(e[1].1[2], format!("{}... (72 more bytes)", "x".repeat(128)));
        assert_eq!(e[2].1, ["SLOWLOG", "GET", "2"], "SLOWLOG GET is logged too");
        // Secrets are redacted; EXEC is not logged, its commands are.
        let _ = r(&mut c, "AUTH user pass");
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "INCR n", "+QUEUED\r\n");
        is(&mut c, "EXEC", "*1\r\n:1\r\n");
        let e = slowlog(&mut c, 3);
        assert_eq!(
            args_of(&e),
            ["INCR n", "MULTI", "AUTH (redacted) (redacted)"]
        );
        // The length limit applies from the next command on; -1 disables.
        is(&mut c, "CONFIG SET slowlog-max-len 2", "+OK\r\n");
        is(&mut c, "SLOWLOG LEN", ":2\r\n");
        assert_eq!(slowlog(&mut c, -1).len(), 2);
        is(&mut c, "CONFIG SET slowlog-log-slower-than -1", "+OK\r\n");
        is(&mut c, "SLOWLOG RESET", "+OK\r\n");
        is(&mut c, "SET k v", "+OK\r\n");
        is(&mut c, "SLOWLOG LEN", ":0\r\n");
        // A threshold only logs slower commands.
        is(
            &mut c,
            "CONFIG SET slowlog-log-slower-than 50000",
            "+OK\r\n",
        );
        is(&mut c, "SET k v", "+OK\r\n");
        is(&mut c, "DEBUG SLEEP 0.06", "+OK\r\n");
        let e = slowlog(&mut c, 10);
        assert_eq!(args_of(&e), ["DEBUG SLEEP 0.06"]);
        is(
            &mut c,
            "SLOWLOG GET -2",
            "-ERR count should be greater than or equal to -1\r\n",
        );
    });
}

// ---------------------------------------------------------------------------
// LATENCY

#[test]
fn latency_monitor_samples_slow_commands() {
    on_both(|s| {
        let mut c = s.raw_conn();
        is(&mut c, "LATENCY LATEST", "*0\r\n");
        is(&mut c, "CONFIG SET latency-monitor-threshold 10", "+OK\r\n");
        is(&mut c, "DEBUG SLEEP 0.03", "+OK\r\n");
        let latest = parse_one(&r(&mut c, "LATENCY LATEST"));
        let events = latest.as_array().unwrap();
        let command = events
            .iter()
            .map(|e| e.as_array().unwrap())
            .find(|e| e[0].as_str().as_deref() == Some("command"))
            .expect("a command event");
        assert!(command[2].as_int().unwrap() >= 30, "{command:?}");
        assert!(command[3].as_int().unwrap() >= 30, "{command:?}");
        let history = parse_one(&r(&mut c, "LATENCY HISTORY command"));
        let samples = history.as_array().unwrap();
        assert!(!samples.is_empty() && samples.len() <= 2, "{samples:?}");
        let graph = parse_one(&r(&mut c, "LATENCY GRAPH command"))
            .as_str()
            .unwrap();
        assert!(graph.starts_with("command - high "), "{graph}");
        assert!(graph.contains(&format!("{}\n", "-".repeat(80))), "{graph}");
        let doctor = parse_one(&r(&mut c, "LATENCY DOCTOR")).as_str().unwrap();
        assert!(doctor.contains("1. command: "), "{doctor}");
        is(&mut c, "LATENCY RESET nosuch", ":0\r\n");
        is(&mut c, "LATENCY RESET COMMAND", ":1\r\n");
        is(&mut c, "LATENCY HISTORY command", "*0\r\n");
        is(
            &mut c,
            "LATENCY GRAPH command",
            "-ERR No samples available for event 'command'\r\n",
        );
        // Fast enough commands leave no trace.
        is(&mut c, "SET k v", "+OK\r\n");
        let latest = parse_one(&r(&mut c, "LATENCY LATEST"));
        assert!(
            !format!("{latest:?}").contains("\"fast-command\""),
            "{latest:?}"
        );
    });
}

#[test]
fn latency_monitor_samples_the_fork_of_a_background_save() {
    on_both(|s| {
        let mut c = s.raw_conn();
        is(&mut c, "CONFIG SET latency-monitor-threshold 1", "+OK\r\n");
        is(&mut c, "DEBUG POPULATE 200000", "+OK\r\n");
        let _ = r(&mut c, "LATENCY RESET");
        let reply = r(&mut c, "BGSAVE");
        assert!(
            reply.starts_with(b"+Background saving started"),
            "{}",
            escape(&reply)
        );
        for _ in 0..1000 {
            if info_value(&mut c, "persistence", "rdb_bgsave_in_progress") == "0" {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let fork_ms: u64 = info_value(&mut c, "stats", "latest_fork_usec")
            .parse::<u64>()
            .unwrap()
            / 1000;
        eprintln!("fork took {fork_ms} ms");
        let history = parse_one(&r(&mut c, "LATENCY HISTORY fork"));
        let samples = history.as_array().unwrap();
        // The fork is sampled exactly when it took at least the threshold.
        if fork_ms >= 1 {
            assert_eq!(samples.len(), 1, "{fork_ms} ms: {samples:?}");
            let ms = samples[0].as_array().unwrap()[1].as_int().unwrap();
            assert_eq!(ms as u64, fork_ms);
        } else {
            assert!(samples.is_empty(), "{fork_ms} ms: {samples:?}");
        }
    });
}

// ---------------------------------------------------------------------------
// MONITOR

/// Reads MONITOR lines until one contains `last`; returns them without
/// the timestamp and the client's port.
fn monitor_lines(m: &mut RawConn, last: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let Resp::Simple(line) = parse_one(&read_reply(m)) else {
            panic!("monitor lines are simple strings");
        };
        let line = String::from_utf8(line).unwrap();
        // "<secs>.<usecs> [<db> 127.0.0.1:<port>] <args>"
        let (ts, rest) = line.split_once(' ').unwrap();
        let (secs, usecs) = ts.split_once('.').unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_600_000_000, "{line}");
        assert_eq!(usecs.len(), 6, "{line}");
        let (client, args) = rest.split_once("] ").unwrap();
        let (db, addr) = client.trim_start_matches('[').split_once(' ').unwrap();
        assert!(addr.starts_with("127.0.0.1:"), "{line}");
        let done = args.contains(last);
        out.push(format!("[{db}] {args}"));
        if done {
            return out;
        }
    }
}

#[test]
fn monitor_streams_other_clients_commands() {
    on_both(|s| {
        let mut m = s.raw_conn();
        let mut a = s.raw_conn();
        is(&mut m, "MONITOR", "+OK\r\n");
        is(&mut a, "SET k v", "+OK\r\n");
        let _ = r(&mut a, "CLIENT LIST");
        is(&mut a, "CONFIG SET maxclients 10000", "+OK\r\n");
        is(&mut a, "MULTI", "+OK\r\n");
        is(&mut a, "GET k", "+QUEUED\r\n");
        is(&mut a, "EXEC", "*1\r\n$1\r\nv\r\n");
        is(&mut a, "SELECT 2", "+OK\r\n");
        let bin = [b"SET".as_slice(), b"b\x00\"\\", "é\n".as_bytes()];
        assert_eq!(common::cmd(&mut a, &bin), b"+OK\r\n");
        let _ = r(&mut a, "AUTH secret");
        let _ = r(&mut a, "HELLO 2 AUTH default secret SETNAME x");
        // A blocking command shows when it runs, not again when it ends.
        is(&mut a, "BLPOP nolist 0.01", "*-1\r\n");
        is(&mut a, "ECHO last", "$4\r\nlast\r\n");
        let lines = monitor_lines(&mut m, "\"last\"");
        assert_eq!(
            lines,
            [
                "[0] \"SET\" \"k\" \"v\"",
                "[0] \"MULTI\"",
                "[0] \"GET\" \"k\"",
                "[0] \"EXEC\"",
                "[2] \"SELECT\" \"2\"",
                "[2] \"SET\" \"b\\x00\\\"\\\\\" \"\\xc3\\xa9\\n\"",
                "[2] \"AUTH\" \"(redacted)\"",
                "[2] \"HELLO\" \"2\" \"AUTH\" \"(redacted)\" \"(redacted)\" \"SETNAME\" \"x\"",
                "[2] \"BLPOP\" \"nolist\" \"0.01\"",
                "[2] \"ECHO\" \"last\"",
            ]
        );
        // The monitoring client: its own commands follow their replies,
        // keyspace commands are refused, CLIENT LIST flags it `O`.
        send_line(&mut m, "PING");
        assert_eq!(read_reply(&mut m), b"+PONG\r\n");
        assert_eq!(monitor_lines(&mut m, "PING"), ["[0] \"PING\""]);
        is(
            &mut m,
            "GET k",
            "-ERR Replica can't interact with the keyspace\r\n",
        );
        let list = String::from_utf8_lossy(&r(&mut a, "CLIENT LIST")).into_owned();
        assert!(list.contains(" flags=O "), "{list}");
        // RESET ends monitoring.
        is(&mut m, "RESET", "+RESET\r\n");
        is(&mut a, "SELECT 0", "+OK\r\n");
        is(&mut a, "SET k w", "+OK\r\n");
        is(&mut m, "GET k", "$1\r\nw\r\n");
    });
}

#[test]
fn monitor_inside_exec_is_refused() {
    on_both(|s| {
        let mut c = s.raw_conn();
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "MONITOR", "+QUEUED\r\n");
        is(
            &mut c,
            "EXEC",
            "*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n",
        );
        is(&mut c, "PING", "+PONG\r\n");
    });
}

/// A field of a CLIENT LIST / CLIENT INFO line.
fn field(line: &str, key: &str) -> String {
    line.split(' ')
        .find_map(|f| f.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .to_string()
}

fn num(line: &str, key: &str) -> u64 {
    field(line, key)
        .parse()
        .unwrap_or_else(|_| panic!("{key} in {line}"))
}

fn client_info(c: &mut RawConn) -> String {
    let text = parse_one(&r(c, "CLIENT INFO"))
        .as_str()
        .expect("bulk string");
    text.trim_end().to_string()
}

/// CLIENT INFO describes the command that asks: its arguments (`argv-mem`),
/// the query buffer holding it (`qbuf`), its name as `parent|sub`; and the
/// connection's protocol and tracking redirect.
#[test]
fn client_info_fields_of_the_running_command() {
    on_both(|s| {
        let mut c = s.raw_conn();
        let line = client_info(&mut c);
        // `*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n` is 26 bytes.
        assert_eq!(num(&line, "qbuf"), 26, "{line}");
        assert_eq!(num(&line, "argv-mem"), 10, "{line}");
        assert_eq!(field(&line, "cmd"), "client|info");
        assert_eq!(field(&line, "events"), "r");
        assert_eq!(field(&line, "user"), "default");
        assert_eq!(field(&line, "redir"), "-1");
        assert_eq!(field(&line, "resp"), "2");
        assert_eq!(num(&line, "multi-mem"), 0);
        assert_eq!((num(&line, "oll"), num(&line, "omem")), (0, 0), "{line}");
        assert!(num(&line, "tot-mem") > num(&line, "qbuf") + num(&line, "qbuf-free"));
        r(&mut c, "HELLO 3");
        is(&mut c, "CLIENT TRACKING on", "+OK\r\n");
        let line = client_info(&mut c);
        assert_eq!(
            (field(&line, "redir"), field(&line, "resp")),
            ("0".into(), "3".into())
        );
    });
}

/// Other clients' lines: a blocked command keeps its arguments, a MULTI
/// queue has memory that grows with each command, and half a request waits
/// in the query buffer.
#[test]
fn client_list_fields_of_waiting_clients() {
    on_both(|s| {
        let mut admin = s.raw_conn();
        let mut blocked = named(s, "blk");
        send_line(&mut blocked, "BLPOP nolist 0");
        let mut line = String::new();
        common::wait_for("the client to block", Duration::from_secs(5), || {
            line = client_line(&mut admin, "blk");
            field(&line, "flags") == "b"
        });
        // BLPOP + nolist + 0.
        assert_eq!(num(&line, "argv-mem"), 12, "{line}");
        assert_eq!(field(&line, "cmd"), "blpop");

        let mut m = named(s, "m");
        is(&mut m, "MULTI", "+OK\r\n");
        assert_eq!(num(&client_line(&mut admin, "m"), "multi-mem"), 0);
        is(&mut m, "SET k vvvvvvvvvv", "+QUEUED\r\n");
        let one = num(&client_line(&mut admin, "m"), "multi-mem");
        assert!(one >= 14, "multi-mem {one} below the queued arguments");
        is(&mut m, "SET k2 v", "+QUEUED\r\n");
        let two = num(&client_line(&mut admin, "m"), "multi-mem");
        assert!(two > one, "multi-mem {one} then {two}");
        is(&mut m, "EXEC", "*2\r\n+OK\r\n+OK\r\n");
        assert_eq!(num(&client_line(&mut admin, "m"), "multi-mem"), 0);

        let mut part = named(s, "part");
        std::io::Write::write_all(&mut part, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc").unwrap();
        common::wait_for("the partial request", Duration::from_secs(5), || {
            num(&client_line(&mut admin, "part"), "qbuf") > 0
        });
        std::io::Write::write_all(&mut part, &[b'x'; 97]).unwrap();
        std::io::Write::write_all(&mut part, b"\r\n").unwrap();
        assert_eq!(read_reply(&mut part), b"+OK\r\n");
        assert_eq!(num(&client_line(&mut admin, "part"), "qbuf"), 0);
    });
}

/// A subscriber that stops reading while messages are published: its
/// output piles up in reply blocks (`oll`, `omem`, `tot-mem`) and it waits
/// to be written to (`events=rw`).
#[test]
fn client_list_output_of_a_subscriber_that_does_not_read() {
    on_both(|s| {
        let mut sub = named(s, "sub");
        is(
            &mut sub,
            "SUBSCRIBE ch",
            "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
        );
        let mut publisher = s.raw_conn();
        let payload = vec![b'x'; 10_000];
        // 10 MB: more than the kernel buffers, under the pubsub limits.
        for _ in 0..1000 {
            send(&mut publisher, &[b"PUBLISH", b"ch", &payload]);
        }
        for _ in 0..1000 {
            assert_eq!(read_reply(&mut publisher), b":1\r\n");
        }
        let line = client_line(&mut publisher, "sub");
        assert!(num(&line, "omem") > 0, "{line}");
        assert!(num(&line, "oll") > 0, "{line}");
        assert!(num(&line, "tot-mem") > num(&line, "omem"), "{line}");
        assert_eq!(field(&line, "events"), "rw", "{line}");
        drop(sub);
    });
}

/// Slow log entries keep copies of their arguments: a slice would pin the
/// read buffer the request arrived in (a megabyte here) for as long as the
/// entry lives.
#[test]
fn slow_log_entries_do_not_pin_read_buffers() {
    let server = common::start(&["--slowlog-log-slower-than", "0", "--slowlog-max-len", "16"]);
    let mut c = server.client();
    let used = |c: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("memory").query(c).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = used(&mut c);
    let value = vec![b'v'; 1 << 20];
    for i in 0..12 {
        // Each SET arrives in a read buffer of its own.
        let _: () = redis::cmd("SET")
            .arg(format!("big{i}"))
            .arg(&value)
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("FLUSHALL").arg("SYNC").query(&mut c).unwrap();
    let n: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut c).unwrap();
    assert_eq!(n, 16);
    let after = used(&mut c);
    assert!(
        after < before + 2_000_000,
        "{} bytes still held after the keys are gone (before {before})",
        after - before
    );
}
