//! Server behaviour through real clients: one thread, authentication,
//! limits, expiry, SCAN guarantees, CLIENT subcommands, configuration and
//! shutdown.

mod common;

use common::{Server, cmd, start, start_recorded};
use redis::{Commands, Value};
use std::collections::HashSet;
use std::io::Read;
use std::time::{Duration, Instant};

fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn info_field(server: &Server, section: &str, field: &str) -> String {
    let mut c = server.client();
    let info: String = redis::cmd("INFO").arg(section).query(&mut c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}:\n{info}"))
        .trim()
        .to_string()
}

#[test]
fn serves_many_clients_on_exactly_one_thread() {
    let server = start_recorded();
    let mut conns: Vec<_> = (0..200).map(|_| server.client()).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let _: () = c.set(format!("k{i}"), i).unwrap();
        let _: Value = redis::cmd("INFO").query(c).unwrap();
        let _: Value = redis::cmd("CONFIG").arg("GET").arg("*").query(c).unwrap();
        let _: Value = redis::cmd("KEYS").arg("*").query(c).unwrap();
        let _: Value = redis::cmd("DEBUG").arg("SLEEP").arg("0").query(c).unwrap();
    }
    drop(conns);
    let mut c = server.client();
    let _: Value = redis::cmd("FLUSHALL").arg("ASYNC").query(&mut c).unwrap();
    let _: Value = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg("20000")
        .query(&mut c)
        .unwrap();
    let _: Value = redis::cmd("FLUSHALL").arg("ASYNC").query(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        threads_of(server.pid()),
        1,
        "server must stay single-threaded"
    );
}

#[test]
fn resp3_through_the_redis_crate() {
    let server = start_recorded();
    let client =
        redis::Client::open(format!("redis://127.0.0.1:{}/?protocol=resp3", server.port)).unwrap();
    let mut c = client.get_connection().unwrap();
    let _: () = c.set("a", "1").unwrap();
    let v: Option<String> = c.get("missing").unwrap();
    assert_eq!(v, None);
    let raw: Value = redis::cmd("HELLO").arg(3).query(&mut c).unwrap();
    assert!(matches!(raw, Value::Map(_)), "{raw:?}");
    let cfg: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert!(matches!(cfg, Value::Map(ref m) if m.len() == 1), "{cfg:?}");
    // Raw bytes: RESP3 nulls and maps.
    let mut raw = server.raw_conn();
    assert!(cmd(&mut raw, &[b"HELLO", b"3"]).starts_with(b"%7\r\n"));
    assert_eq!(cmd(&mut raw, &[b"GET", b"missing"]), b"_\r\n");
    assert_eq!(
        cmd(&mut raw, &[b"HELLO", b"4"]),
        b"-NOPROTO unsupported protocol version\r\n"
    );
}

#[test]
fn requirepass_auth_and_hello_auth() {
    let server = start(&["--requirepass", "s3cret"]);
    let mut c = server.raw_conn();
    assert_eq!(
        cmd(&mut c, &[b"GET", b"k"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        cmd(&mut c, &[b"AUTH", b"wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(cmd(&mut c, &[b"AUTH", b"s3cret"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"GET", b"k"]), b"$-1\r\n");
    let mut h = server.raw_conn();
    assert!(cmd(&mut h, &[b"HELLO", b"3"]).starts_with(b"-NOAUTH HELLO must be called"));
    assert!(
        cmd(
            &mut h,
            &[
                b"HELLO", b"3", b"AUTH", b"default", b"s3cret", b"SETNAME", b"me"
            ]
        )
        .starts_with(b"%7")
    );
    assert_eq!(cmd(&mut h, &[b"CLIENT", b"GETNAME"]), b"$2\r\nme\r\n");
    // Unauthenticated clients may not send big requests.
    let mut u = server.raw_conn();
    let big = vec![b'x'; 20000];
    std::io::Write::write_all(&mut u, &common::encode_command(&[b"SET", b"k", &big])).unwrap();
    assert_eq!(
        common::read_reply(&mut u),
        b"-ERR Protocol error: unauthenticated bulk length\r\n"
    );
}

#[test]
fn auth_without_password_configured() {
    let server = start_recorded();
    let mut c = server.raw_conn();
    assert!(
        cmd(&mut c, &[b"AUTH", b"x"])
            .starts_with(b"-ERR AUTH <password> called without any password configured")
    );
    assert_eq!(cmd(&mut c, &[b"AUTH", b"default", b"anything"]), b"+OK\r\n");
}

#[test]
fn maxclients_refuses_with_redis_error() {
    let server = start(&["--maxclients", "3"]);
    let _a = server.raw_conn();
    let _b = server.raw_conn();
    let mut c = server.raw_conn();
    assert_eq!(cmd(&mut c, &[b"PING"]), b"+PONG\r\n");
    let mut d = server.raw();
    let mut buf = Vec::new();
    d.read_to_end(&mut buf).unwrap();
    assert_eq!(buf, b"-ERR max number of clients reached\r\n");
    assert_eq!(info_field_after_drop(&server, c), "1");
}

fn info_field_after_drop(server: &Server, c: common::RawConn) -> String {
    drop(c);
    std::thread::sleep(Duration::from_millis(100));
    info_field(server, "stats", "rejected_connections")
}

#[test]
fn idle_clients_time_out() {
    let server = start(&["--timeout", "1"]);
    let mut idle = server.raw();
    let started = Instant::now();
    let mut buf = [0u8; 8];
    let n = idle.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn untouched_keys_expire_actively_and_free_memory() {
    // Not recorded: the recorder's writes would slow the fill past the TTL.
    let server = start(&[]);
    let mut c = server.client();
    let before: u64 = info_field(&server, "memory", "used_memory")
        .parse()
        .unwrap();
    let mut pipe = redis::pipe();
    for i in 0..100_000 {
        pipe.cmd("SET")
            .arg(format!("key:{i}"))
            .arg("some-value-here")
            .arg("PX")
            .arg(3000)
            .ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let _: () = c.set("persistent", "1").unwrap();
    // On a loaded machine the first keys may expire before the fill ends.
    let n = redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap();
    assert!(n > 50_000, "{n} keys after the fill");
    let full: u64 = info_field(&server, "memory", "used_memory")
        .parse()
        .unwrap();
    assert!(
        full > before + 5_000_000,
        "100k keys should use memory: {before} -> {full}"
    );
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        if n == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "still {n} keys after 25 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The emptied table shrinks incrementally from the cron tick.
    loop {
        let after: u64 = info_field(&server, "memory", "used_memory")
            .parse()
            .unwrap();
        if after < before + (full - before) / 4 {
            break;
        }
        if Instant::now() >= deadline {
            let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
            let mem: String = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
            panic!("memory not reclaimed: {before} {full} {after}\n{clients}\n{mem}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(info_field(&server, "stats", "expired_keys"), "100000");
}

#[test]
fn lazy_expiry_and_ttl_family() {
    let server = start(&["--hz", "1"]);
    let mut c = server.raw_conn();
    assert_eq!(
        cmd(&mut c, &[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]),
        b"+OK\r\n"
    );
    assert_eq!(cmd(&mut c, &[b"SET", b"k", b"v", b"PX", b"50"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"DBSIZE"]), b":1\r\n");
    std::thread::sleep(Duration::from_millis(120));
    // Still counted until touched, as in Redis; then gone.
    assert_eq!(cmd(&mut c, &[b"DBSIZE"]), b":1\r\n");
    assert_eq!(cmd(&mut c, &[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(cmd(&mut c, &[b"DBSIZE"]), b":0\r\n");
    assert_eq!(
        cmd(&mut c, &[b"SET", b"k", b"v", b"EX", b"100"]),
        b"+OK\r\n"
    );
    assert_eq!(cmd(&mut c, &[b"TTL", b"k"]), b":100\r\n");
    assert_eq!(cmd(&mut c, &[b"EXPIRE", b"k", b"50", b"GT"]), b":0\r\n");
    assert_eq!(cmd(&mut c, &[b"EXPIRE", b"k", b"50", b"LT"]), b":1\r\n");
    assert_eq!(cmd(&mut c, &[b"PERSIST", b"k"]), b":1\r\n");
    assert_eq!(cmd(&mut c, &[b"TTL", b"k"]), b":-1\r\n");
    assert_eq!(cmd(&mut c, &[b"EXPIRE", b"k", b"-1"]), b":1\r\n");
    assert_eq!(cmd(&mut c, &[b"EXISTS", b"k"]), b":0\r\n");
}

#[test]
fn scan_returns_every_stable_key_while_the_table_grows() {
    let server = start_recorded();
    let mut c = server.client();
    let stable: HashSet<String> = (0..5000).map(|i| format!("stable:{i}")).collect();
    let mut pipe = redis::pipe();
    for k in &stable {
        pipe.set(k, 1).ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let mut seen = HashSet::new();
    let mut cursor: u64 = 0;
    let mut round = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(50)
            .query(&mut c)
            .unwrap();
        seen.extend(keys);
        // Grow the table between SCAN calls (forces rehashing).
        let mut pipe = redis::pipe();
        for j in 0..40 {
            pipe.set(format!("grow:{round}:{j}"), 1).ignore();
        }
        let _: () = pipe.query(&mut c).unwrap();
        round += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let missing: Vec<_> = stable.iter().filter(|k| !seen.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "SCAN missed {} keys, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // MATCH and TYPE filters.
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("stable:1?")
        .arg("COUNT")
        .arg(100_000)
        .arg("TYPE")
        .arg("string")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys.len(), 10);
}

#[test]
fn client_kill_reply_and_quit() {
    let server = start_recorded();
    let mut victim = server.raw_conn();
    assert_eq!(
        cmd(&mut victim, &[b"CLIENT", b"SETNAME", b"victim"]),
        b"+OK\r\n"
    );
    let id = String::from_utf8(cmd(&mut victim, &[b"CLIENT", b"ID"])).unwrap();
    let id = id.trim_start_matches(':').trim().to_string();
    let mut admin = server.raw_conn();
    let list = cmd(&mut admin, &[b"CLIENT", b"LIST"]);
    assert!(String::from_utf8_lossy(&list).contains("name=victim"));
    assert_eq!(
        cmd(&mut admin, &[b"CLIENT", b"KILL", b"ID", id.as_bytes()]),
        b":1\r\n"
    );
    let mut buf = [0u8; 8];
    assert_eq!(
        victim.stream.read(&mut buf).unwrap_or(0),
        0,
        "killed client is closed"
    );
    // CLIENT REPLY SKIP swallows its own reply and the next command's.
    let mut c = server.raw_conn();
    common::send(&mut c, &[b"CLIENT", b"REPLY", b"SKIP"]);
    common::send(&mut c, &[b"SET", b"a", b"1"]);
    assert_eq!(cmd(&mut c, &[b"GET", b"a"]), b"$1\r\n1\r\n");
    common::send(&mut c, &[b"CLIENT", b"REPLY", b"OFF"]);
    common::send(&mut c, &[b"SET", b"a", b"2"]);
    assert_eq!(cmd(&mut c, &[b"CLIENT", b"REPLY", b"ON"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"GET", b"a"]), b"$1\r\n2\r\n");
    assert_eq!(cmd(&mut c, &[b"QUIT"]), b"+OK\r\n");
    assert_eq!(c.stream.read(&mut buf).unwrap_or(0), 0, "QUIT closes");
}

#[test]
fn shutdown_exits_cleanly() {
    let mut server = start(&[]);
    let mut c = server.raw_conn();
    common::send(&mut c, &[b"SHUTDOWN", b"NOSAVE"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "server did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_exits_zero() {
    let mut server = start(&[]);
    unsafe_kill(server.pid(), "TERM");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(server.log().contains("SIGTERM"), "{}", server.log());
}

fn unsafe_kill(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn bad_config_stops_startup_with_file_and_line() {
    let dir = common::unique_temp_dir("forkv-conf");
    let path = dir.join("bad.conf");
    std::fs::write(&path, "port 7000\n# comment\nnosuchdirective yes\n").unwrap();
    let out = std::process::Command::new(common::forkv_bin())
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.conf") && err.contains("line 3") && err.contains("nosuchdirective"),
        "{err}"
    );
    std::fs::write(&path, "maxclients lots\n").unwrap();
    let out = std::process::Command::new(common::forkv_bin())
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1"), "{err}");
    let out = std::process::Command::new(common::forkv_bin())
        .args(["--port", "notaport"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn config_file_and_command_line_are_applied() {
    let dir = common::unique_temp_dir("forkv-conf");
    let path = dir.join("ok.conf");
    std::fs::write(&path, "databases 4\nmaxclients 123\n").unwrap();
    let server = common::start_with_config(&path, &["--timeout", "77"]);
    let mut c = server.raw_conn();
    assert_eq!(
        cmd(&mut c, &[b"CONFIG", b"GET", b"databases", b"maxclients", b"timeout"]),
        b"*6\r\n$9\r\ndatabases\r\n$1\r\n4\r\n$10\r\nmaxclients\r\n$3\r\n123\r\n$7\r\ntimeout\r\n$2\r\n77\r\n"
    );
    assert_eq!(
        cmd(&mut c, &[b"SELECT", b"4"]),
        b"-ERR DB index is out of range\r\n"
    );
    assert_eq!(
        cmd(
            &mut c,
            &[b"CONFIG", b"SET", b"timeout", b"0", b"maxclients", b"50"]
        ),
        b"+OK\r\n"
    );
    assert_eq!(
        cmd(&mut c, &[b"CONFIG", b"GET", b"maxc*"]),
        b"*2\r\n$10\r\nmaxclients\r\n$2\r\n50\r\n"
    );
}

#[test]
fn info_reports_redis_fields() {
    let server = start_recorded();
    let mut c = server.client();
    let _: () = c.set("a", 1).unwrap();
    let _: () = c.set_ex("b", 1, 100).unwrap();
    let _: Option<String> = c.get("nope").unwrap();
    let all: String = redis::cmd("INFO").arg("everything").query(&mut c).unwrap();
    for field in [
        "redis_version:7.",
        "loading:0",
        "role:master",
        "connected_clients:",
        "used_memory:",
        "used_memory_rss:",
        "used_memory_peak:",
        "maxmemory:0",
        "mem_fragmentation_ratio:",
        "rdb_changes_since_last_save:",
        "keyspace_hits:",
        "keyspace_misses:1",
        "used_cpu_sys:",
        "cmdstat_set:calls=1",
        "db0:keys=2,expires=1,avg_ttl=",
        "tcp_port:",
    ] {
        assert!(all.contains(field), "missing {field} in\n{all}");
    }
    let used: u64 = info_field(&server, "memory", "used_memory")
        .parse()
        .unwrap();
    let rss: u64 = info_field(&server, "memory", "used_memory_rss")
        .parse()
        .unwrap();
    assert!(used > 100_000 && rss > used / 2, "used={used} rss={rss}");
}

#[test]
fn debug_populate_and_flushall_async() {
    let server = start_recorded();
    let mut c = server.raw_conn();
    assert_eq!(
        cmd(&mut c, &[b"DEBUG", b"POPULATE", b"100000", b"p", b"16"]),
        b"+OK\r\n"
    );
    assert_eq!(cmd(&mut c, &[b"DBSIZE"]), b":100000\r\n");
    assert_eq!(cmd(&mut c, &[b"STRLEN", b"p:99"]), b":16\r\n");
    assert_eq!(
        cmd(&mut c, &[b"GETRANGE", b"p:7", b"0", b"6"]),
        b"$7\r\nvalue:7\r\n"
    );
    assert_eq!(cmd(&mut c, &[b"FLUSHALL", b"ASYNC"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"DBSIZE"]), b":0\r\n");
    assert_eq!(cmd(&mut c, &[b"GET", b"p:1"]), b"$-1\r\n");
}

#[test]
fn forkv_only_commands() {
    // Commands Redis 7.0 lacks (7.2's CLIENT SETINFO / NO-TOUCH) or answers
    // differently without cluster mode (READONLY / READWRITE).
    let server = start_recorded();
    let mut c = server.raw_conn();
    assert_eq!(
        cmd(&mut c, &[b"CLIENT", b"SETINFO", b"lib-name", b"mylib"]),
        b"+OK\r\n"
    );
    assert_eq!(
        cmd(&mut c, &[b"CLIENT", b"SETINFO", b"LIB-VER", b"1.2.3"]),
        b"+OK\r\n"
    );
    assert_eq!(
        cmd(&mut c, &[b"CLIENT", b"SETINFO", b"lib-name", b"bad name"]),
        &b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"[..]
    );
    assert_eq!(
        cmd(&mut c, &[b"CLIENT", b"SETINFO", b"foo", b"bar"]),
        b"-ERR Unrecognized option 'foo'\r\n"
    );
    let info = String::from_utf8(cmd(&mut c, &[b"CLIENT", b"INFO"])).unwrap();
    assert!(info.contains("lib-name=mylib lib-ver=1.2.3"), "{info}");
    assert_eq!(cmd(&mut c, &[b"READONLY"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"READWRITE"]), b"+OK\r\n");
    // NO-TOUCH: reads leave the idle time alone.
    assert_eq!(cmd(&mut c, &[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"CLIENT", b"NO-TOUCH", b"on"]), b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(cmd(&mut c, &[b"GET", b"k"]), b"$1\r\nv\r\n");
    let idle = String::from_utf8(cmd(&mut c, &[b"OBJECT", b"IDLETIME", b"k"])).unwrap();
    assert!(idle == ":2\r\n" || idle == ":3\r\n", "{idle}");
    assert_eq!(cmd(&mut c, &[b"CLIENT", b"NO-TOUCH", b"off"]), b"+OK\r\n");
    assert_eq!(cmd(&mut c, &[b"GET", b"k"]), b"$1\r\nv\r\n");
    assert_eq!(cmd(&mut c, &[b"OBJECT", b"IDLETIME", b"k"]), b":0\r\n");
    assert_eq!(
        cmd(&mut c, &[b"CLIENT", b"NO-TOUCH", b"maybe"]),
        b"-ERR syntax error\r\n"
    );
}

#[test]
fn maxclients_follows_the_open_files_limit() {
    // Under a 200-descriptor limit that cannot be raised, maxclients is
    // lowered at start (and logged), and CONFIG SET refuses to exceed it.
    let dir = common::unique_temp_dir("forkv-nofile");
    let port = common::free_port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = std::process::Command::new("bash")
        .arg("-c")
        .arg("ulimit -n 200 && exec \"$0\" \"$@\"")
        .arg(common::forkv_bin())
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            dir.to_str().unwrap(),
            "--save",
            "",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server { port, child, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "server did not start: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = server.raw_conn();
    assert_eq!(
        cmd(&mut c, &[b"CONFIG", b"GET", b"maxclients"]),
        b"*2\r\n$10\r\nmaxclients\r\n$3\r\n168\r\n"
    );
    assert!(
        server.log().contains("maxclients has been reduced to 168"),
        "{}",
        server.log()
    );
    assert_eq!(
        cmd(&mut c, &[b"CONFIG", b"SET", b"maxclients", b"100"]),
        b"+OK\r\n"
    );
    assert_eq!(
        cmd(&mut c, &[b"CONFIG", b"SET", b"maxclients", b"5000"]),
        &b"-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with 168\r\n"[..]
    );
}

/// The tables' hash is keyed at random per process (hash-flooding
/// resistance): the same inserts into two servers come back from KEYS,
/// SCAN and HKEYS in different orders. With a fixed seed (or an unkeyed
/// hash) the orders would be identical; with 500 keys in 512 buckets two
/// random keys give the same order with negligible probability.
#[test]
fn hash_order_differs_between_processes() {
    let orders = |s: &Server| {
        let mut c = s.client();
        let mut set = redis::pipe();
        // A hash table, not the packed form that keeps insertion order.
        set.cmd("CONFIG")
            .arg("SET")
            .arg("hash-max-listpack-entries")
            .arg(0)
            .ignore();
        for i in 0..500 {
            set.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
            set.cmd("HSET")
                .arg("h")
                .arg(format!("f{i}"))
                .arg(i)
                .ignore();
        }
        let () = set.query(&mut c).unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg("key:*").query(&mut c).unwrap();
        let (_, scanned): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(0)
            .arg("COUNT")
            .arg(50)
            .query(&mut c)
            .unwrap();
        let fields: Vec<String> = redis::cmd("HKEYS").arg("h").query(&mut c).unwrap();
        assert_eq!((keys.len(), fields.len()), (500, 500));
        let enc: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg("h")
            .query(&mut c)
            .unwrap();
        assert_eq!(enc, "hashtable");
        (keys, scanned, fields)
    };
    let a = orders(&start(&[]));
    let b = orders(&start(&[]));
    assert_ne!(a.0, b.0, "KEYS order");
    assert_ne!(a.1, b.1, "SCAN first page");
    assert_ne!(a.2, b.2, "HKEYS order");
    // The same set of keys, only laid out differently.
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    assert_eq!(sorted(&a.0), sorted(&b.0));
}
