//! Lua scripting on a running server: what the differential corpus
//! (tests/corpus/scripting*.txt) cannot show — the write-effect stream of a
//! script, MONITOR, WATCH, keyspace notifications, statistics, INFO, a
//! cyclic table, and the redis crate's `Script` helper.

mod common;

use common::{Resp, cmd_str, parse_reply};
use std::time::Duration;

fn q(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut r = redis::cmd(args[0]);
    for a in &args[1..] {
        r.arg(*a);
    }
    r.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> String {
    let text: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}:\n{text}"))
}

/// The commands recorded by `DEBUG EFFECTS LOG` while `f` ran.
fn effects_of(server: &common::Server, f: impl FnOnce(&mut redis::Connection)) -> Vec<String> {
    let path = server.dir.join("effects.resp");
    let mut c = server.client();
    q(&mut c, &["DEBUG", "EFFECTS", "LOG", path.to_str().unwrap()]);
    f(&mut c);
    q(&mut c, &["DEBUG", "EFFECTS", "LOG", "off"]);
    let data = std::fs::read(&path).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (r, used) = parse_reply(&data[pos..]).unwrap();
        pos += used;
        let Resp::Array(Some(items)) = r else {
            panic!("not a command: {r:?}")
        };
        let words: Vec<String> = items.iter().map(|a| a.as_str().unwrap()).collect();
        out.push(words.join(" "));
    }
    out
}

#[test]
fn a_scripts_writes_are_one_unit_of_the_effect_stream() {
    let server = common::start(&[]);
    let effects = effects_of(&server, |c| {
        q(
            c,
            &[
                "EVAL",
                "redis.call('incr', KEYS[1]) redis.call('set', KEYS[2], ARGV[1]) return 1",
                "2",
                "a",
                "b",
                "v",
            ],
        );
        q(c, &["EVAL", "return redis.call('set', 'one', 'x')", "0"]);
        q(c, &["EVAL", "return redis.call('get', 'one')", "0"]);
        q(c, &["EVAL", "redis.call('get', 'a') return 1", "0"]);
    });
    assert_eq!(
        effects,
        [
            "SELECT 0",
            "MULTI",
            "incr a",
            "set b v",
            "EXEC",
            "set one x"
        ],
        "{effects:?}"
    );
}

#[test]
fn script_commands_follow_the_eval_in_monitor_as_lua() {
    let server = common::start(&[]);
    let mut mon = server.raw_conn();
    assert_eq!(cmd_str(&mut mon, &["MONITOR"]), b"+OK\r\n");
    let mut c = server.raw_conn();
    cmd_str(
        &mut c,
        &["EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "k"],
    );
    mon.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let first = common::read_reply(&mut mon);
    let second = common::read_reply(&mut mon);
    let lines = format!(
        "{}{}",
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second)
    );
    let got: Vec<&str> = lines.lines().collect();
    assert!(got.len() >= 2, "{lines:?}");
    assert!(
        got[0].ends_with("\"EVAL\" \"return redis.call('set', KEYS[1], 'v')\" \"1\" \"k\""),
        "{got:?}"
    );
    assert!(got[1].ends_with("[0 lua] \"set\" \"k\" \"v\""), "{got:?}");
}

#[test]
fn scripts_count_in_commandstats_and_info() {
    let server = common::start(&[]);
    let mut c = server.client();
    assert_eq!(
        info_field(&mut c, "memory", "number_of_cached_scripts"),
        "0"
    );
    let lua_before: u64 = info_field(&mut c, "memory", "used_memory_lua")
        .parse()
        .unwrap();
    assert!(lua_before > 0);
    q(
        &mut c,
        &[
            "EVAL",
            "redis.call('set','a','1') redis.call('set','b','2') return redis.call('get','a')",
            "0",
        ],
    );
    q(&mut c, &["SCRIPT", "LOAD", "return 2"]);
    assert_eq!(
        info_field(&mut c, "memory", "number_of_cached_scripts"),
        "2"
    );
    let scripts: u64 = info_field(&mut c, "memory", "used_memory_scripts")
        .parse()
        .unwrap();
    assert!(scripts > 0);
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    let line = |name: &str| {
        stats
            .lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .unwrap_or_else(|| panic!("no {name}: {stats}"))
            .to_string()
    };
    assert!(line("set").starts_with("cmdstat_set:calls=2,"), "{stats}");
    assert!(line("get").starts_with("cmdstat_get:calls=1,"), "{stats}");
    assert!(line("eval").starts_with("cmdstat_eval:calls=1,"), "{stats}");
    // A script that allocates shows in used_memory_lua until collected.
    q(
        &mut c,
        &[
            "EVAL",
            "local t = {} for i = 1, 200000 do t[i] = i end return #t",
            "0",
        ],
    );
    let lua_after: u64 = info_field(&mut c, "memory", "used_memory_lua")
        .parse()
        .unwrap();
    assert!(
        lua_after > lua_before + 1_000_000,
        "{lua_before} -> {lua_after}"
    );
    q(&mut c, &["SCRIPT", "FLUSH"]);
    assert_eq!(
        info_field(&mut c, "memory", "number_of_cached_scripts"),
        "0"
    );
}

#[test]
fn script_writes_invalidate_watch_and_notify() {
    let server = common::start(&[]);
    let mut c = server.client();
    q(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = server.raw_conn();
    cmd_str(&mut sub, &["SUBSCRIBE", "__keyspace@0__:w"]);

    let mut w = server.client();
    q(&mut w, &["WATCH", "w"]);
    q(&mut c, &["EVAL", "return redis.call('set', 'w', '1')", "0"]);
    q(&mut w, &["MULTI"]);
    q(&mut w, &["SET", "w", "2"]);
    let r = q(&mut w, &["EXEC"]);
    assert_eq!(r, redis::Value::Nil, "the script's write must abort EXEC");

    let note = common::read_reply(&mut sub);
    let text = String::from_utf8_lossy(&note);
    assert!(
        text.contains("__keyspace@0__:w") && text.contains("set"),
        "{text}"
    );
}

/// The raw bytes of the reply to `args` (read up to a PING's reply sent
/// after it: the reply is too deep for the test's parser).
fn raw_reply(server: &common::Server, args: &[&str]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = server.raw();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let parts: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let mut req = common::encode_command(&parts);
    req.extend_from_slice(&common::encode_command(&[b"PING"]));
    s.write_all(&req).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while !out.ends_with(b"+PONG\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed");
        out.extend_from_slice(&buf[..n]);
    }
    out.truncate(out.len() - 7);
    out
}

#[test]
fn a_cyclic_table_converts_as_deep_as_redis_goes() {
    let script = "local t = {} t[1] = t return t";
    let server = common::start(&[]);
    let mine = raw_reply(&server, &["EVAL", script, "0"]);
    let depth = mine.windows(4).filter(|w| w == b"*1\r\n").count();
    assert!(
        mine.ends_with(b"-ERR reached lua stack limit\r\n"),
        "{}",
        common::escape(&mine[mine.len().saturating_sub(80)..])
    );
    assert_eq!(depth, 7995);
    if let Some(redis) = common::start_redis(&[]) {
        let theirs = raw_reply(&redis, &["EVAL", script, "0"]);
        assert!(theirs == mine, "forkv and Redis differ");
    }
}

#[test]
fn scripts_run_inside_multi_and_errors_do_not_abort_it() {
    let server = common::start(&[]);
    let mut c = server.raw_conn();
    cmd_str(&mut c, &["MULTI"]);
    cmd_str(&mut c, &["EVAL", "return redis.call('incr', 'm')", "0"]);
    cmd_str(&mut c, &["EVAL", "return redis.call('nosuch')", "0"]);
    cmd_str(&mut c, &["EVAL", "return redis.call('incr', 'm')", "0"]);
    let r = cmd_str(&mut c, &["EXEC"]);
    let text = String::from_utf8_lossy(&r);
    assert!(text.starts_with("*3\r\n:1\r\n-ERR Unknown Redis command called from script script: "));
    assert!(text.ends_with(":2\r\n"), "{text}");
}

#[test]
fn redis_crate_script_helper_loads_and_runs() {
    let server = common::start(&[]);
    let mut c = server.client();
    let script = redis::Script::new(
        "redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1]) .. '!'",
    );
    // First run: EVALSHA fails with NOSCRIPT, the helper loads it.
    let v: String = script.key("rk").arg("hello").invoke(&mut c).unwrap();
    assert_eq!(v, "hello!");
    let v: String = script.key("rk").arg("again").invoke(&mut c).unwrap();
    assert_eq!(v, "again!");
    let exists: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(script.get_hash())
        .query(&mut c)
        .unwrap();
    assert_eq!(exists, [1]);
    let err = redis::Script::new("return redis.call('nosuch')")
        .invoke::<()>(&mut c)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Unknown Redis command called from script"),
        "{err}"
    );
}

#[test]
fn the_thread_count_stays_one_after_scripts() {
    let server = common::start(&[]);
    let mut c = server.client();
    for i in 0..50 {
        q(
            &mut c,
            &[
                "EVAL",
                "return redis.call('incr', KEYS[1])",
                "1",
                &format!("t{i}"),
            ],
        );
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(threads, "1");
}

#[test]
fn a_long_script_runs_to_its_end() {
    // No instruction budget outside the fuzz harness.
    let server = common::start(&[]);
    let mut c = server.client();
    let n: i64 = redis::cmd("EVAL")
        .arg("local n = 0 for i = 1, 3000000 do n = n + 1 end return n")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 3_000_000);
}

#[test]
fn a_command_error_a_script_returns_counts_once() {
    let server = common::start(&[]);
    let mut c = server.client();
    q(&mut c, &["SET", "str", "v"]);
    for script in [
        "return redis.call('lpush', 'str', 'x')",
        "return redis.pcall('lpush', 'str', 'x')",
        "error('x')",
    ] {
        let r: redis::RedisResult<redis::Value> =
            redis::cmd("EVAL").arg(script).arg(0).query(&mut c);
        assert!(r.is_err(), "{script}");
    }
    assert_eq!(
        info_field(&mut c, "errorstats", "errorstat_WRONGTYPE"),
        "count=2"
    );
    assert_eq!(info_field(&mut c, "errorstats", "errorstat_ERR"), "count=1");
    assert_eq!(info_field(&mut c, "stats", "total_error_replies"), "3");
    let eval = info_field(&mut c, "commandstats", "cmdstat_eval");
    assert!(eval.ends_with("failed_calls=3"), "{eval}");
}

#[test]
fn keys_a_script_reads_are_tracked_for_its_caller() {
    let server = common::start(&[]);
    let mut t = server.raw_conn();
    cmd_str(&mut t, &["HELLO", "3"]);
    assert_eq!(cmd_str(&mut t, &["CLIENT", "TRACKING", "on"]), b"+OK\r\n");
    cmd_str(
        &mut t,
        &["EVAL", "return redis.call('get', KEYS[1])", "1", "tk"],
    );
    let mut w = server.client();
    q(&mut w, &["SET", "tk", "changed"]);
    t.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let push = common::read_reply(&mut t);
    let text = String::from_utf8_lossy(&push);
    assert!(
        text.starts_with(">2\r\n$10\r\ninvalidate\r\n") && text.contains("tk"),
        "{text}"
    );
}

#[test]
fn scripts_under_maxmemory_follow_their_flags() {
    let server = common::start(&[]);
    let mut c = server.raw_conn();
    cmd_str(&mut c, &["SET", "big", "some value"]);
    cmd_str(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    let oom = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    assert_eq!(cmd_str(&mut c, &["EVAL", "#!lua\nreturn 1", "0"]), oom);
    assert_eq!(
        cmd_str(&mut c, &["EVAL", "#!lua flags=no-writes\nreturn 1", "0"]),
        b":1\r\n"
    );
    // No shebang: refused at the script's first write.
    let r = cmd_str(&mut c, &["EVAL", "return redis.call('set', 'a', 'b')", "0"]);
    assert!(
        r.starts_with(b"-OOM command not allowed when used memory > 'maxmemory'. script: "),
        "{}",
        common::escape(&r)
    );
    assert_eq!(
        cmd_str(
            &mut c,
            &[
                "EVAL",
                "#!lua flags=allow-oom\nreturn redis.call('set', 'a', 'b')",
                "0"
            ]
        ),
        b"+OK\r\n"
    );
    cmd_str(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
}

/// Sends `args` on a new connection without waiting for the reply.
fn send_only(server: &common::Server, args: &[&str]) -> common::RawConn {
    let mut c = server.raw_conn();
    let parts: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    common::send(&mut c, &parts);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    c
}

/// `while true do end` past busy-reply-threshold: SCRIPT KILL from another
/// client stops it; a script that wrote is UNKILLABLE until SHUTDOWN
/// NOSAVE. Run on forkv and, for the texts, on Redis.
fn busy_script_kill(server: &common::Server) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut admin = server.raw_conn();
    cmd_str(
        &mut admin,
        &["CONFIG", "SET", "busy-reply-threshold", "100"],
    );
    let mut looping = send_only(server, &["EVAL", "while true do end", "0"]);
    std::thread::sleep(Duration::from_millis(400));
    let killed = cmd_str(&mut admin, &["SCRIPT", "KILL"]);
    let script = common::read_reply(&mut looping);
    assert_eq!(cmd_str(&mut admin, &["PING"]), b"+PONG\r\n");
    let mut writing = send_only(
        server,
        &["EVAL", "redis.call('set', 'w', '1') while true do end", "0"],
    );
    std::thread::sleep(Duration::from_millis(400));
    let unkillable = cmd_str(&mut admin, &["SCRIPT", "KILL"]);
    common::send(&mut admin, &[b"SHUTDOWN", b"NOSAVE"]);
    // The connection of the writing script closes with the server.
    let _ = common::try_read_reply(&mut writing);
    (killed, script, unkillable)
}

#[test]
fn a_busy_script_can_be_killed_by_another_client() {
    let mut server = common::start(&[]);
    let (killed, script, unkillable) = busy_script_kill(&server);
    assert_eq!(killed, b"+OK\r\n");
    let text = String::from_utf8_lossy(&script);
    assert!(
        text.starts_with("-ERR Script killed by user with SCRIPT KILL... script: ")
            && text.ends_with(", on @user_script:1.\r\n"),
        "{text}"
    );
    assert!(
        unkillable.starts_with(b"-UNKILLABLE Sorry the script already executed write commands"),
        "{}",
        common::escape(&unkillable)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.is_alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !server.is_alive(),
        "SHUTDOWN NOSAVE did not stop the server"
    );
    if let Some(mut redis) = common::start_redis(&[]) {
        let theirs = busy_script_kill(&redis);
        assert_eq!(theirs, (killed, script, unkillable));
        let _ = redis.is_alive();
    }
}
