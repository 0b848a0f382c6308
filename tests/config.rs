//! CONFIG SET and CONFIG GET through the real server: all or nothing even
//! when applying a value fails, error texts byte for byte as Redis 7.0
//! writes them, moving the listening port at run time, and the full list of
//! parameters Redis 7.0 answers for.

mod common;

use common::{
    Server, cmd, cmd_str, escape, free_port, parse_one, redis_required, start, start_redis,
};
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::Duration;

/// Parameters forkv has and Redis 7.0 lacks (Redis 7.2 added them; forkv
/// acts on them).
const FORKV_ONLY: [&str; 2] = ["set-max-listpack-entries", "set-max-listpack-value"];

/// `CONFIG GET *` as a name -> value map.
fn all_params(s: &Server) -> BTreeMap<String, String> {
    let mut c = s.raw_conn();
    let reply = parse_one(&cmd_str(&mut c, &["CONFIG", "GET", "*"]));
    let items = reply.as_array().expect("array").to_vec();
    items
        .chunks(2)
        .map(|p| (p[0].as_str().unwrap(), p[1].as_str().unwrap()))
        .collect()
}

fn get1(s: &Server, port: u16, name: &str) -> String {
    let mut c = connect(port).unwrap_or_else(|e| panic!("connect {port}: {e}\n{}", s.log()));
    let reply = parse_one(&cmd_str(&mut c, &["CONFIG", "GET", name]));
    reply.as_array().expect("array")[1].as_str().unwrap()
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

/// Replies of forkv and, when installed, Redis to the same commands.
fn both(commands: &[&[&str]]) -> (Vec<Vec<u8>>, Option<Vec<Vec<u8>>>) {
    let run = |s: &Server| {
        let mut c = s.raw_conn();
        commands
            .iter()
            .map(|args| cmd_str(&mut c, args))
            .collect::<Vec<_>>()
    };
    let forkv = run(&start(&[]));
    let redis = start_redis(&[]).map(|r| run(&r));
    (forkv, redis)
}

#[test]
fn a_failed_apply_restores_every_value() {
    let s = start(&[]);
    let mut c = s.raw_conn();
    let reply = cmd_str(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "maxclients",
            "100000000",
            "maxmemory-policy",
            "allkeys-lru",
        ],
    );
    let want = "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with ";
    assert!(reply.starts_with(want.as_bytes()), "{}", escape(&reply));
    // Checked and set before the apply failed: both must be back.
    assert_eq!(get1(&s, s.port, "maxmemory-policy"), "noeviction");
    assert_eq!(get1(&s, s.port, "maxclients"), "10000");

    // A listener moved by an earlier parameter moves back too.
    let other = free_port();
    let other_s = other.to_string();
    let reply = cmd_str(
        &mut c,
        &["CONFIG", "SET", "port", &other_s, "maxclients", "100000000"],
    );
    assert!(
        reply.starts_with(b"-ERR CONFIG SET failed (possibly related to argument 'maxclients')")
    );
    assert_eq!(get1(&s, s.port, "port"), s.port.to_string());
    assert!(connect(other).is_err(), "the new port was closed again");
    assert_eq!(cmd_str(&mut c, &["PING"]), b"+PONG\r\n");
}

#[test]
fn the_same_apply_error_on_redis() {
    let (forkv, redis) = both(&[
        &[
            "CONFIG",
            "SET",
            "maxclients",
            "100000000",
            "maxmemory-policy",
            "allkeys-lru",
        ],
        &["CONFIG", "GET", "maxmemory-policy"],
    ]);
    assert_eq!(
        forkv[1],
        b"*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
    );
    if let Some(redis) = redis {
        for (f, r) in forkv.iter().zip(&redis) {
            assert_eq!(escape(f), escape(r));
        }
    } else {
        assert!(!redis_required());
    }
}

#[test]
fn error_texts_match_redis() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let cases: &[&[&str]] = &[
        &["CONFIG", "SET", "foo", "bar"],
        &["CONFIG", "SET", "maxmemory"],
        &["CONFIG", "SET", "maxmemory", "10", "maxmemory"],
        &["CONFIG", "SET", "maxmemory", "10", "MAXMEMORY", "20"],
        &[
            "CONFIG",
            "SET",
            "hash-max-ziplist-entries",
            "5",
            "hash-max-listpack-entries",
            "6",
        ],
        &["CONFIG", "SET", "databases", "4"],
        &["CONFIG", "SET", "maxmemory", "abc"],
        &["CONFIG", "SET", "maxmemory", "10", "foo", "bar"],
        &["CONFIG", "SET", "maxmemory", "abc", "databases", "3"],
        &["CONFIG", "SET", "databases", "3", "maxmemory", "abc"],
        &["CONFIG", "SET", "maxclients", "0"],
        &["CONFIG", "SET", "timeout", "-1"],
        &["CONFIG", "SET", "loglevel", "loud"],
        &["CONFIG", "SET", "dir", "/nonexistent"],
        &["CONFIG", "SET", "save", "1 2 3"],
        &["CONFIG", "SET", "port", "abc"],
        &["CONFIG", "SET", "port", "70000"],
        &["CONFIG", "SET", "port", &busy_port],
        &["CONFIG", "SET", "bind", "1.2.3.4.5"],
        &["CONFIG", "SET", "bind", "127.0.0.1 192.0.2.1"],
        &["CONFIG", "SET", "aclfile", "x"],
        &["CONFIG", "SET", "replicaof", "x"],
        &["CONFIG", "SET", "activedefrag", "maybe"],
        &["CONFIG", "SET", "activedefrag", "yes"],
        &["CONFIG", "SET", "maxmemory-clients", "101%"],
        &["CONFIG", "SET", "oom-score-adj-values", "1 2"],
        &["CONFIG", "SET", "oom-score-adj-values", "0 2001 0"],
        &["CONFIG", "SET", "appendfsync", "sometimes"],
        &["CONFIG", "SET", "proc-title-template", "{title}"],
        &["CONFIG", "SET", "proc-title-template", "x{title"],
        &["CONFIG", "SET", "proc-title-template", "{nope} {port}"],
        &["CONFIG", "SET", "proc-title-template", "{{x {title} {port}"],
        &["CONFIG", "GET", "proc-title-template"],
        &["CONFIG", "SET", "repl-backlog-size", "0"],
        &[
            "CONFIG",
            "SET",
            "slave-read-only",
            "no",
            "replica-read-only",
            "yes",
        ],
        &["CONFIG", "GET", "replica-read-only"],
        &["CONFIG", "SET", "shutdown-on-sigterm", "now nosave"],
        &["CONFIG", "GET", "shutdown-on-sigterm"],
        &[
            "CONFIG",
            "SET",
            "oom-score-adj-values",
            "01 +2 3",
            "maxmemory-clients",
            "5%",
        ],
        &["CONFIG", "GET", "oom-score-adj-values"],
        &["CONFIG", "GET", "maxmemory-clients"],
        &[
            "CONFIG",
            "SET",
            "appendfsync",
            "ALWAYS",
            "repl-backlog-size",
            "2mb",
        ],
        &["CONFIG", "GET", "appendfsync"],
        &["CONFIG", "GET", "repl-backlog-size"],
        &["PING"],
    ];
    let (forkv, redis) = both(cases);
    let at = |args: &[&str]| &forkv[cases.iter().position(|c| *c == args).unwrap()];
    assert_eq!(
        at(&["CONFIG", "SET", "foo", "bar"]),
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"
    );
    assert_eq!(
        at(&["CONFIG", "SET", "maxmemory", "10", "MAXMEMORY", "20"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'MAXMEMORY') - duplicate parameter\r\n"
    );
    assert_eq!(
        at(&["CONFIG", "SET", "databases", "4"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n"
    );
    assert_eq!(
        at(&["CONFIG", "SET", "port", &busy_port]),
        b"-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.\r\n"
    );
    assert_eq!(
        at(&["CONFIG", "SET", "bind", "1.2.3.4.5"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.\r\n"
    );
    match redis {
        Some(redis) => {
            for ((args, f), r) in cases.iter().zip(&forkv).zip(&redis) {
                assert_eq!(escape(f), escape(r), "{args:?}");
            }
        }
        None => assert!(!redis_required()),
    }
    drop(busy);
}

#[test]
fn port_moves_at_run_time() {
    let s = start(&[]);
    let mut c = s.raw_conn();
    let new = free_port();
    assert_eq!(
        cmd_str(&mut c, &["CONFIG", "SET", "port", &new.to_string()]),
        b"+OK\r\n"
    );
    // The connection that moved the port stays open.
    assert_eq!(cmd_str(&mut c, &["PING"]), b"+PONG\r\n");
    let mut moved = connect(new).unwrap_or_else(|e| panic!("new port: {e}\n{}", s.log()));
    assert_eq!(cmd(&mut moved, &[b"PING"]), b"+PONG\r\n");
    assert_eq!(get1(&s, new, "port"), new.to_string());
    let info = String::from_utf8_lossy(&cmd(&mut moved, &[b"INFO", b"server"])).into_owned();
    assert!(info.contains(&format!("tcp_port:{new}\r\n")), "{info}");
    let old = connect(s.port);
    assert!(old.is_err(), "the old port still accepts connections");

    // A busy port: refused, and the current listener keeps serving.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    assert_eq!(
        cmd_str(&mut c, &["CONFIG", "SET", "port", &busy_port.to_string()]),
        b"-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.\r\n"
    );
    assert_eq!(get1(&s, new, "port"), new.to_string());
    let mut again = connect(new).expect("the listener survives a failed move");
    assert_eq!(cmd(&mut again, &[b"PING"]), b"+PONG\r\n");

    // bind: a new address list on the same port, then back.
    assert_eq!(
        cmd_str(&mut c, &["CONFIG", "SET", "bind", "127.0.0.1"]),
        b"+OK\r\n"
    );
    let mut c2 = connect(new).expect("127.0.0.1 still listens");
    assert_eq!(cmd(&mut c2, &[b"PING"]), b"+PONG\r\n");
    assert_eq!(
        cmd_str(&mut c, &["CONFIG", "SET", "bind", "127.0.0.1 localhost"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.\r\n"
    );
    assert_eq!(get1(&s, new, "bind"), "127.0.0.1");
}

#[test]
fn config_get_lists_every_redis_parameter() {
    let forkv = all_params(&start(&[]));
    let Some(redis) = start_redis(&[]) else {
        assert!(!redis_required());
        return;
    };
    let redis = all_params(&redis);
    let missing: Vec<&String> = redis.keys().filter(|k| !forkv.contains_key(*k)).collect();
    assert!(missing.is_empty(), "forkv lacks {missing:?}");
    let extra: Vec<&String> = forkv.keys().filter(|k| !redis.contains_key(*k)).collect();
    assert_eq!(extra, FORKV_ONLY);
    // Defaults read the same, except where the setup or forkv differs.
    let differ = ["port", "dir", "dbfilename", "bind"];
    for (name, value) in &redis {
        if !differ.contains(&name.as_str()) {
            assert_eq!(&forkv[name], value, "{name}");
        }
    }
}

/// The parameters forkv acts on, as Redis does (each has its effect and
/// tests elsewhere), with their aliases. `daemonize`, `appendonly` and
/// `cluster-enabled` only take `no`, which is what they do.
const ACTS: &[&str] = &[
    "appendonly",
    "bind",
    "busy-reply-threshold",
    "client-output-buffer-limit",
    "client-query-buffer-limit",
    "cluster-enabled",
    "daemonize",
    "databases",
    "dbfilename",
    "dir",
    "disable-thp",
    "enable-debug-command",
    "enable-protected-configs",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "hz",
    "latency-monitor-threshold",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "lfu-decay-time",
    "lfu-log-factor",
    "list-max-listpack-size",
    "list-max-ziplist-size",
    "logfile",
    "loglevel",
    "lua-time-limit",
    "maxclients",
    "maxmemory",
    "maxmemory-eviction-tenacity",
    "maxmemory-policy",
    "maxmemory-samples",
    "notify-keyspace-events",
    "pidfile",
    "port",
    "protected-mode",
    "proto-max-bulk-len",
    "requirepass",
    "save",
    "set-max-intset-entries",
    "set-max-listpack-entries",
    "set-max-listpack-value",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "stop-writes-on-bgsave-error",
    "tcp-backlog",
    "tcp-keepalive",
    "timeout",
    "tracking-table-max-keys",
    "unixsocket",
    "unixsocketperm",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
];

/// Every parameter `CONFIG GET *` shows either acts (the list above) or is
/// one forkv documents as accepted and ignored; README.md's list of those
/// is exactly the code's.
#[test]
fn every_parameter_acts_or_is_documented_as_inert() {
    use std::collections::BTreeSet;
    let shown: BTreeSet<String> = all_params(&start(&[])).into_keys().collect();
    let acts: BTreeSet<String> = ACTS.iter().map(|s| s.to_string()).collect();
    let inert: BTreeSet<String> = forkv::config::inert_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let both: Vec<&String> = acts.intersection(&inert).collect();
    assert!(both.is_empty(), "both acting and inert: {both:?}");
    let listed: BTreeSet<String> = acts.union(&inert).cloned().collect();
    let unlisted: Vec<&String> = shown.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "parameters that neither act nor are documented as inert: {unlisted:?}"
    );
    let gone: Vec<&String> = listed.difference(&shown).collect();
    assert!(gone.is_empty(), "listed but not in CONFIG GET *: {gone:?}");

    let readme = include_str!("../README.md");
    let a = readme
        .find("<!-- inert:start -->")
        .expect("inert:start marker");
    let b = readme.find("<!-- inert:end -->").expect("inert:end marker");
    // Every `name` in the section that is a parameter; values such as `no`
    // are not.
    let documented: BTreeSet<String> = readme[a..b]
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| shown.contains(*t))
        .map(str::to_string)
        .collect();
    let missing: Vec<&String> = inert.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "inert but not in README.md: {missing:?}"
    );
    let extra: Vec<&String> = documented.difference(&inert).collect();
    assert!(
        extra.is_empty(),
        "README.md calls these inert, but forkv acts on them: {extra:?}"
    );
}

/// `lazyfree-lazy-user-flush yes` makes FLUSHALL and FLUSHDB without
/// SYNC/ASYNC free in the background, as Redis: right after the flush (in
/// the same pipeline) the old values still wait to be freed.
#[test]
fn lazyfree_lazy_user_flush_makes_flushes_asynchronous() {
    let s = start(&["--enable-debug-command", "yes"]);
    let mut c = s.raw_conn();
    let pending_after = |c: &mut common::RawConn, flush: &str| -> u64 {
        assert_eq!(cmd_str(c, &["DEBUG", "POPULATE", "20000"]), b"+OK\r\n");
        let mut batch = common::encode_command(&[flush.as_bytes()]);
        batch.extend(common::encode_command(&[b"INFO", b"memory"]));
        std::io::Write::write_all(c, &batch).unwrap();
        assert_eq!(common::read_reply(c), b"+OK\r\n");
        let info = String::from_utf8(common::read_reply(c)).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("lazyfree_pending_objects:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(pending_after(&mut c, "FLUSHALL"), 0);
    assert_eq!(pending_after(&mut c, "FLUSHDB"), 0);
    assert_eq!(
        cmd_str(
            &mut c,
            &["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"]
        ),
        b"+OK\r\n"
    );
    assert_eq!(pending_after(&mut c, "FLUSHALL"), 20000);
    common::wait_for("the lazy free", Duration::from_secs(10), || {
        common::info_value(&mut c, "memory", "lazyfree_pending_objects") == "0"
    });
    assert_eq!(pending_after(&mut c, "FLUSHDB"), 20000);
}
