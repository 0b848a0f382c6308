//! DEBUG: who may run it (`enable-debug-command no|yes|local`, and the
//! same rule for `enable-protected-configs`), what its subcommands answer,
//! and that no argument takes the server down.
//!
//! The gate scenarios run against forkv and, when `redis-server` is
//! installed, Redis 7.0 with the same options and the same expected bytes.
//! A client that is not local connects from 127.0.0.2: loopback, but not
//! local to Redis (`islocalClient` takes exactly 127.0.0.1 and ::1).

mod common;

use common::{
    RawConn, Server, cmd, escape, expect as is, info_value, line, read_reply, send, wait_for,
};
use std::io;
use std::net::TcpStream;
use std::os::fd::FromRawFd;
use std::process::{Command, Stdio};
use std::time::Duration;

const REFUSED: &str = "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n";

const PROTECTED_DIR: &str =
    "-ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config\r\n";

const PROTECTED_DBFILENAME: &str = "-ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config\r\n";

/// Redis 7.0.15's protected-mode refusal, byte for byte ("Setup a an").
const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Runs `scenario` on forkv and then Redis, both started with their own
/// defaults (DEBUG not enabled by the harness) plus `args`.
fn on_defaults(args: &[&str], scenario: impl Fn(&Server)) {
    eprintln!("scenario on forkv");
    scenario(&common::start_default(args));
    match common::start_redis_default(args) {
        Some(redis) => {
            eprintln!("scenario on redis-server");
            scenario(&redis);
        }
        None => eprintln!("redis-server not found: scenario checked on forkv only"),
    }
}

/// A connection to `server` from the source address 127.0.0.2, or `None`
/// when the system does not route 127.0.0.0/8 to loopback.
fn connect_from_127_0_0_2(server: &Server) -> Option<RawConn> {
    let addr = |ip: [u8; 4], port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // addresses live across the calls; the descriptor goes to TcpStream
    // (which closes it) or is closed here.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
        let src = addr([127, 0, 0, 2], 0);
        let dst = addr([127, 0, 0, 1], server.port);
        if libc::bind(fd, (&src as *const libc::sockaddr_in).cast(), len) != 0
            || libc::connect(fd, (&dst as *const libc::sockaddr_in).cast(), len) != 0
        {
            eprintln!(
                "cannot connect from 127.0.0.2: {}",
                io::Error::last_os_error()
            );
            libc::close(fd);
            return None;
        }
        let s = TcpStream::from_raw_fd(fd);
        s.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
        Some(RawConn::new(s))
    }
}

#[test]
fn debug_is_refused_by_default_before_authentication() {
    on_defaults(&[], |s| {
        let mut c = s.raw_conn();
        is(
            &mut c,
            "CONFIG GET enable-debug-command",
            "*2\r\n$20\r\nenable-debug-command\r\n$2\r\nno\r\n",
        );
        is(&mut c, "DEBUG SLEEP 0", REFUSED);
        is(&mut c, "debug help", REFUSED);
        is(&mut c, "DEBUG NOSUCH", REFUSED);
        is(&mut c, "DEBUG POPULATE 10", REFUSED);
        // Arity is checked first.
        is(
            &mut c,
            "DEBUG",
            "-ERR wrong number of arguments for 'debug' command\r\n",
        );
        is(&mut c, "DBSIZE", ":0\r\n");
        // Refused at queueing time: the transaction is discarded.
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "DEBUG SLEEP 0", REFUSED);
        is(
            &mut c,
            "EXEC",
            "-EXECABORT Transaction discarded because of previous errors.\r\n",
        );
        let stats = String::from_utf8_lossy(&line(&mut c, "INFO commandstats")).into_owned();
        assert!(
            stats.contains(
                "cmdstat_debug:calls=0,usec=0,usec_per_call=0.00,rejected_calls=6,failed_calls=0"
            ),
            "{stats}"
        );
    });
    // The refusal comes before NOAUTH, as in Redis.
    on_defaults(&["--requirepass", "pw"], |s| {
        let mut c = s.raw_conn();
        is(&mut c, "DEBUG SLEEP 0", REFUSED);
        is(&mut c, "GET k", "-NOAUTH Authentication required.\r\n");
    });
}

#[test]
fn debug_local_admits_local_clients_only() {
    let args = [
        "--enable-debug-command",
        "local",
        "--enable-protected-configs",
        "local",
        "--protected-mode",
        "no",
    ];
    on_defaults(&args, |s| {
        let mut local = s.raw_conn();
        is(&mut local, "DEBUG SLEEP 0", "+OK\r\n");
        let dir = s.dir.to_str().unwrap().to_string();
        is(&mut local, &format!("CONFIG SET dir {dir}"), "+OK\r\n");
        is(&mut local, "CONFIG SET dbfilename local.rdb", "+OK\r\n");
        let Some(mut remote) = connect_from_127_0_0_2(s) else {
            return;
        };
        is(&mut remote, "PING", "+PONG\r\n");
        is(&mut remote, "DEBUG SLEEP 0", REFUSED);
        is(&mut remote, "DEBUG POPULATE 5", REFUSED);
        is(
            &mut remote,
            "DEBUG",
            "-ERR wrong number of arguments for 'debug' command\r\n",
        );
        is(&mut remote, &format!("CONFIG SET dir {dir}"), PROTECTED_DIR);
        is(
            &mut remote,
            "CONFIG SET dbfilename x.rdb",
            PROTECTED_DBFILENAME,
        );
        is(&mut remote, "CONFIG SET maxmemory-samples 6", "+OK\r\n");
        is(&mut remote, "DBSIZE", ":0\r\n");
        // The local client still may.
        is(&mut local, "DEBUG POPULATE 5", "+OK\r\n");
        is(&mut remote, "DBSIZE", ":5\r\n");
    });
}

#[test]
fn debug_yes_admits_every_client_and_no_refuses_local_ones() {
    let args = [
        "--enable-debug-command",
        "yes",
        "--enable-protected-configs",
        "yes",
        "--protected-mode",
        "no",
    ];
    on_defaults(&args, |s| {
        let Some(mut remote) = connect_from_127_0_0_2(s) else {
            return;
        };
        is(&mut remote, "DEBUG SLEEP 0", "+OK\r\n");
        is(&mut remote, "CONFIG SET dbfilename remote.rdb", "+OK\r\n");
    });
    on_defaults(
        &[
            "--enable-debug-command",
            "no",
            "--enable-protected-configs",
            "no",
        ],
        |s| {
            let mut c = s.raw_conn();
            is(&mut c, "DEBUG SLEEP 0", REFUSED);
            is(&mut c, "CONFIG SET dbfilename x.rdb", PROTECTED_DBFILENAME);
        },
    );
}

#[test]
fn protected_mode_admits_exactly_redis_local_peers() {
    on_defaults(&[], |s| {
        let mut local = s.raw_conn();
        is(&mut local, "PING", "+PONG\r\n");
        let Some(mut remote) = connect_from_127_0_0_2(s) else {
            return;
        };
        send(&mut remote, &[b"PING"]);
        assert_eq!(escape(&read_reply(&mut remote)), escape(DENIED.as_bytes()));
    });
}

#[test]
fn debug_populate_sleep_reload_reply_as_redis() {
    common::on_forkv_and_redis(&[], |s| {
        let mut c = s.raw_conn();
        is(&mut c, "DEBUG POPULATE 0", "+OK\r\n");
        is(&mut c, "SET key:0 mine", "+OK\r\n");
        is(&mut c, "DEBUG POPULATE 3", "+OK\r\n");
        is(&mut c, "GET key:0", "$4\r\nmine\r\n");
        is(&mut c, "GET key:2", "$7\r\nvalue:2\r\n");
        // A size of 0 means no padding; a small one cuts the value.
        is(&mut c, "DEBUG POPULATE 2 z 0", "+OK\r\n");
        is(&mut c, "GET z:1", "$7\r\nvalue:1\r\n");
        is(&mut c, "DEBUG POPULATE 2 s 3", "+OK\r\n");
        is(&mut c, "GET s:1", "$3\r\nval\r\n");
        is(&mut c, "DEBUG POPULATE 1 p 9", "+OK\r\n");
        is(&mut c, "GET p:0", "$9\r\nvalue:0\0\0\r\n");
        let positive = "-ERR value is out of range, must be positive\r\n";
        for bad in [
            "DEBUG POPULATE -1",
            "DEBUG POPULATE abc",
            "DEBUG POPULATE 1.5",
            "DEBUG POPULATE 9223372036854775808",
            "DEBUG POPULATE 1 k -1",
            "DEBUG POPULATE 1 k abc",
        ] {
            is(&mut c, bad, positive);
        }
        is(
            &mut c,
            "DEBUG POPULATE 1 k 1 x",
            "-ERR unknown subcommand or wrong number of arguments for 'POPULATE'. Try DEBUG HELP.\r\n",
        );
        // Keys are cut to 127 bytes: a 126-byte prefix makes one key, a
        // 124-byte one leaves two digits, so 100 keys.
        is(&mut c, "FLUSHALL", "+OK\r\n");
        let p126 = "a".repeat(126);
        is(&mut c, &format!("DEBUG POPULATE 50 {p126}"), "+OK\r\n");
        is(&mut c, "DBSIZE", ":1\r\n");
        is(&mut c, &format!("EXISTS {p126}:"), ":1\r\n");
        let p124 = "b".repeat(124);
        is(&mut c, &format!("DEBUG POPULATE 1000 {p124}"), "+OK\r\n");
        is(&mut c, "DBSIZE", ":101\r\n");
        // The prefix ends at a NUL byte (C's %s).
        assert_eq!(
            cmd(&mut c, &[b"DEBUG", b"POPULATE", b"2", b"n\0ul"]),
            b"+OK\r\n"
        );
        is(&mut c, "EXISTS n:0 n:1", ":2\r\n");

        // SLEEP: strtod of anything; negative, NaN and out-of-range
        // times do not sleep.
        for v in [
            "0",
            "abc",
            "-1",
            "nan",
            "inf",
            "-inf",
            "1e300",
            "1e13",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            is(&mut c, &format!("DEBUG SLEEP {v}"), "+OK\r\n");
        }
        for bad in ["DEBUG SLEEP", "DEBUG SLEEP 0 0"] {
            is(
                &mut c,
                bad,
                "-ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP.\r\n",
            );
        }
        // SET-ACTIVE-EXPIRE: atoi.
        for v in ["0", "1", "abc", "-5", "00"] {
            is(&mut c, &format!("DEBUG SET-ACTIVE-EXPIRE {v}"), "+OK\r\n");
        }
        is(&mut c, "DEBUG SET-ACTIVE-EXPIRE 1", "+OK\r\n");
        is(
            &mut c,
            "DEBUG RELOAD FOO",
            "-ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.\r\n",
        );
        is(&mut c, "SET kept 1", "+OK\r\n");
        is(&mut c, "DEBUG RELOAD", "+OK\r\n");
        is(&mut c, "DEBUG RELOAD MERGE", "+OK\r\n");
        is(&mut c, "DEBUG RELOAD NOSAVE", "+OK\r\n");
        is(&mut c, "GET kept", "$1\r\n1\r\n");
        is(
            &mut c,
            "DEBUG HELP x",
            "-ERR unknown subcommand or wrong number of arguments for 'HELP'. Try DEBUG HELP.\r\n",
        );
        let help = line(&mut c, "DEBUG HELP");
        assert!(help.starts_with(b"*"), "{}", escape(&help));
    });
}

/// Starts forkv with DEBUG enabled under an address-space limit of
/// `limit_kib` (`ulimit -v`), so that a request reserving more would make
/// an allocation fail and abort the process.
fn start_limited(limit_kib: u64) -> Server {
    let dir = common::unique_temp_dir("forkv-debug-limited");
    let port = common::free_port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {limit_kib} && exec \"$0\" \"$@\""))
        .arg(common::forkv_bin())
        .args(["--port", &port.to_string(), "--dir", dir.to_str().unwrap()])
        .args(["--save", "", "--enable-debug-command", "yes"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut server = Server { port, child, dir };
    wait_for("server", Duration::from_secs(10), || {
        assert!(server.is_alive(), "server died: {}", server.log());
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    server
}

/// Sends `args`, checks the reply is a whole RESP reply and that the
/// server still answers PING; the reply.
fn run(c: &mut RawConn, args: &[&[u8]]) -> Vec<u8> {
    let r = cmd(c, args);
    assert!(
        matches!(r.first(), Some(b'+' | b'-' | b':' | b'*')),
        "{args:?}: {}",
        escape(&r)
    );
    assert_eq!(cmd(c, &[b"PING"]), b"+PONG\r\n", "after {args:?}");
    r
}

#[test]
fn hostile_debug_arguments_never_take_the_server_down() {
    // 2 GiB of address space: enough to start and serve, far too little
    // for what the big requests below would reserve.
    let mut server = start_limited(2 * 1024 * 1024);
    let mut c = server.raw_conn();
    let long = "x".repeat(4096);
    let values: Vec<&[u8]> = vec![
        b"",
        b"0",
        b"1",
        b"-1",
        b"abc",
        b"nan",
        b"-nan",
        b"inf",
        b"-inf",
        b"1e300",
        b"-1e300",
        b"9223372036854775807",
        b"-9223372036854775808",
        b"9223372036854775808",
        b"18446744073709551616",
        b"99999999999999999999999999",
        b"0x7fffffff",
        b" 1",
        b"1 ",
        b"\0",
        b"\r\n",
        b"\xff\xfe",
        long.as_bytes(),
    ];
    // Values DEBUG SLEEP would really sleep on are left out.
    let no_sleep: Vec<&[u8]> = vec![
        b"",
        b"abc",
        b"-1",
        b"nan",
        b"-nan",
        b"inf",
        b"-inf",
        b"1e300",
        b"-1e300",
        b"1e13",
        b"9223372036854775807",
        b"-9223372036854775808",
        b"\0",
        b"\xff\xfe",
    ];
    for v in &no_sleep {
        run(&mut c, &[b"DEBUG", b"SLEEP", v]);
    }
    for &v in &values {
        for args in [
            &[b"DEBUG".as_slice(), b"POPULATE", v][..],
            &[b"DEBUG", b"POPULATE", v, b"k"],
            &[b"DEBUG", b"POPULATE", b"1", v],
            &[b"DEBUG", b"POPULATE", b"2", b"big", v],
            &[b"DEBUG", b"POPULATE", v, b"k", v],
            &[b"DEBUG", b"RELOAD", v],
            &[b"DEBUG", b"RELOAD", b"NOSAVE", v],
            &[b"DEBUG", b"SET-ACTIVE-EXPIRE", v],
            &[b"DEBUG", b"FORK-FAIL", v],
            &[b"DEBUG", b"SPAWN-THREAD", v],
            &[b"DEBUG", b"EFFECTS", b"REPLAY", v],
            &[b"DEBUG", b"EFFECTS", v, v],
            &[b"DEBUG", b"EFFECTS", v],
            &[b"DEBUG", b"HELP", v],
            &[b"DEBUG", v],
            &[b"DEBUG", v, v, v, v, v, v],
        ] {
            run(&mut c, args);
        }
    }
    for sub in [
        "SLEEP",
        "POPULATE",
        "RELOAD",
        "SET-ACTIVE-EXPIRE",
        "FORK-FAIL",
        "SPAWN-THREAD",
        "EFFECTS",
        "HELP",
        "OBJECT",
        "JMAP",
        "QUICKLIST-PACKED-THRESHOLD",
        "LISTPACK",
        "STRINGMATCH-LEN",
        "CHANGE-REPL-ID",
        "PROTOCOL",
        "SEGFAULT",
        "PANIC",
        "ASSERT",
        "OOM",
        "CRASH-AND-RECOVER",
        "RESTART",
    ] {
        run(&mut c, &[b"DEBUG", sub.as_bytes()]);
        run(
            &mut c,
            &[b"DEBUG", sub.as_bytes(), b"1", b"2", b"3", b"4", b"5"],
        );
    }
    run(&mut c, &[b"DEBUG", b"EFFECTS", b"LOG", b"off"]);

    // Sizes: over proto-max-bulk-len, or more memory than there is.
    assert_eq!(
        run(&mut c, &[b"DEBUG", b"POPULATE", b"1", b"k", b"536870913"]),
        b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
    for args in [
        &[b"DEBUG".as_slice(), b"POPULATE", b"9223372036854775807"][..],
        &[b"DEBUG", b"POPULATE", b"100", b"k", b"536870912"],
        &[b"DEBUG", b"POPULATE", b"100000000", b"k", b"16"],
    ] {
        let r = run(&mut c, args);
        assert!(
            r.starts_with(b"-ERR DEBUG POPULATE would take about "),
            "{}",
            escape(&r)
        );
    }
    // What fits is done.
    is(&mut c, "FLUSHALL", "+OK\r\n");
    is(&mut c, "DEBUG POPULATE 1000 fits 1000", "+OK\r\n");
    is(&mut c, "DBSIZE", ":1000\r\n");

    // Files that would block or never end.
    let fifo = server.dir.join("fifo");
    let fifo_c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o600) }, 0);
    let fifo = fifo.to_str().unwrap().to_string();
    let dir = server.dir.to_str().unwrap().to_string();
    for (args, want) in [
        (["LOG", fifo.as_str()], "-ERR cannot open"),
        (["LOG", dir.as_str()], "-ERR cannot open"),
        (["REPLAY", fifo.as_str()], "-ERR cannot read"),
        (["REPLAY", "/dev/zero"], "-ERR cannot read"),
        (["REPLAY", dir.as_str()], "-ERR cannot read"),
        (["REPLAY", "/nonexistent/file"], "-ERR cannot read"),
    ] {
        let r = run(
            &mut c,
            &[b"DEBUG", b"EFFECTS", args[0].as_bytes(), args[1].as_bytes()],
        );
        assert!(r.starts_with(want.as_bytes()), "{args:?}: {}", escape(&r));
    }
    // A file that replays itself.
    let me = server.dir.join("self.resp");
    let me_s = me.to_str().unwrap();
    std::fs::write(
        &me,
        common::encode_command(&[b"DEBUG", b"EFFECTS", b"REPLAY", me_s.as_bytes()]),
    )
    .unwrap();
    assert_eq!(
        escape(&run(
            &mut c,
            &[b"DEBUG", b"EFFECTS", b"REPLAY", me_s.as_bytes()]
        )),
        "-ERR command 1 failed: ERR DEBUG EFFECTS REPLAY cannot run inside a replay\\r\\n"
    );
    // RELOAD NOSAVE without a file keeps the data.
    std::fs::remove_file(server.dir.join("dump.forkv")).ok();
    let r = run(&mut c, &[b"DEBUG", b"RELOAD", b"NOSAVE"]);
    assert!(
        r.starts_with(b"-ERR Error trying to load"),
        "{}",
        escape(&r)
    );
    is(&mut c, "DBSIZE", ":1000\r\n");

    assert!(server.is_alive());
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(
        info_value(&mut c, "server", "process_id"),
        server.pid().to_string()
    );
}
