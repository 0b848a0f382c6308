//! Settings that change how the server meets the system: `tcp-keepalive`
//! on accepted sockets, `pidfile`, `port 0`, `unixsocket` /
//! `unixsocketperm`, listening before the snapshot loads, and `-LOADING`
//! while it does. Each scenario runs on forkv and, when it is installed, on
//! real Redis, so the expectations are Redis's own.

mod common;

use common::{
    READ_TIMEOUT, Server, cmd, escape, find_in_path, forkv_bin, free_port, info_value, line,
    on_forkv_and_redis, redis_required, start, unique_temp_dir, wait_for,
};
use std::fs::{self, File};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start or to exit in these tests.
const PATIENCE: Duration = Duration::from_secs(20);

/// The servers to run a scenario on: forkv, then Redis when installed.
fn binaries() -> Vec<(&'static str, PathBuf)> {
    let mut out = vec![("forkv", forkv_bin())];
    match find_in_path("redis-server") {
        Some(redis) => out.push(("redis", redis)),
        None if redis_required() => panic!("redis-server required but not found"),
        None => eprintln!("redis-server not found: checked on forkv only"),
    }
    out
}

/// Starts `bin` in a fresh data directory with exactly `args` (plus
/// `--dir`, `--save ''`, and for Redis `--appendonly no`), without waiting
/// for it. `port` is what the caller passed (0: none).
fn spawn(name: &str, bin: &Path, port: u16, args: &[&str]) -> Server {
    let dir = unique_temp_dir(&format!("forkv-settings-{name}"));
    spawn_in(name, bin, port, &dir, args)
}

fn spawn_in(name: &str, bin: &Path, port: u16, dir: &Path, args: &[&str]) -> Server {
    let log = File::create(dir.join("server.log")).unwrap();
    let mut command = Command::new(bin);
    command
        .arg("--dir")
        .arg(dir)
        .args(["--save", ""])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    if name == "redis" {
        command.args(["--appendonly", "no"]);
    }
    let child = command.spawn().unwrap();
    Server {
        port,
        child,
        dir: dir.to_path_buf(),
    }
}

/// Waits for the server to exit; its status code.
fn wait_exit(server: &mut Server) -> i32 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A connection to the Unix socket at `path`, once the server accepts
/// there.
fn unix_connect(server: &mut Server, path: &Path) -> UnixStream {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(s) = UnixStream::connect(path) {
            s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
            return s;
        }
        assert!(
            server.is_alive() && Instant::now() < deadline,
            "no server at {}\n{}",
            path.display(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A TCP connection to `port`, once the server accepts there (whatever
/// it answers).
fn tcp_connect(server: &mut Server, port: u16) -> std::net::TcpStream {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
            return s;
        }
        assert!(
            server.is_alive() && Instant::now() < deadline,
            "no server on port {port}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn text(reply: Vec<u8>) -> String {
    String::from_utf8_lossy(&reply).into_owned()
}

/// Socket inodes of the TCP sockets of `pid` that are listening.
fn tcp_listening_sockets(pid: u32) -> Vec<String> {
    let mut listening = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for l in fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let f: Vec<&str> = l.split_whitespace().collect();
            // st == 0A: LISTEN; field 9 is the inode.
            if f.len() > 9 && f[3] == "0A" {
                listening.push(f[9].to_string());
            }
        }
    }
    let mut ours = Vec::new();
    for e in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        if let Ok(target) = fs::read_link(e.path()) {
            let t = target.to_string_lossy();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']'))
                && listening.iter().any(|l| l == inode)
            {
                ours.push(inode.to_string());
            }
        }
    }
    ours
}

// ---------------------------------------------------------------------------
// tcp-keepalive
// ---------------------------------------------------------------------------

/// SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT of descriptor
/// `fd` of process `pid`, read through a copy of it (pidfd_getfd); None
/// when the kernel or the permissions do not allow that.
fn keepalive_of(pid: u32, fd: i32) -> Option<[i32; 4]> {
    // SAFETY: plain system calls on descriptors this function owns; every
    // result is checked and the descriptors are closed.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) as i32;
        if pidfd < 0 {
            return None;
        }
        let copy = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) as i32;
        libc::close(pidfd);
        if copy < 0 {
            return None;
        }
        let mut out = [0i32; 4];
        let opts = [
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
        ];
        for (i, (level, name)) in opts.into_iter().enumerate() {
            let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
            let r = libc::getsockopt(
                copy,
                level,
                name,
                &mut out[i] as *mut i32 as *mut libc::c_void,
                &mut len,
            );
            if r != 0 {
                libc::close(copy);
                return None;
            }
        }
        libc::close(copy);
        Some(out)
    }
}

/// Whether `ss` shows a keepalive timer on the server's end of the
/// connection from local port `client_port` to `server_port`; None when
/// `ss` is not installed.
fn ss_keepalive_timer(server_port: u16, client_port: u16) -> Option<bool> {
    let out = Command::new("ss")
        .args(["-tnoe", "state", "established"])
        .arg(format!(
            "( sport = :{server_port} and dport = :{client_port} )"
        ))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().count() >= 2,
        "ss does not show the connection:\n{text}"
    );
    Some(text.contains("timer:(keepalive"))
}

/// What a new connection to `s` gets: the four options when they can be
/// read, else whether a keepalive timer runs (`ss`).
#[derive(Debug, PartialEq)]
enum Keepalive {
    Options([i32; 4]),
    Timer(bool),
    Unknown,
}

fn keepalive_of_new_connection(s: &Server, keep: &mut Vec<std::net::TcpStream>) -> Keepalive {
    let mut c = s.raw();
    let info = text(line(&mut c, "CLIENT INFO"));
    let fd: i32 = info
        .split(" fd=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fd in {info}"));
    let client_port = c.local_addr().unwrap().port();
    keep.push(c);
    if let Some(o) = keepalive_of(s.pid(), fd) {
        return Keepalive::Options(o);
    }
    match ss_keepalive_timer(s.port, client_port) {
        Some(t) => Keepalive::Timer(t),
        None => Keepalive::Unknown,
    }
}

#[test]
fn tcp_keepalive_is_set_on_accepted_connections() {
    on_forkv_and_redis(&[], |s| {
        let mut keep = Vec::new();
        let mut c = s.raw_conn();
        let first = keepalive_of_new_connection(s, &mut keep);
        if first == Keepalive::Unknown {
            eprintln!("SKIPPED: neither pidfd_getfd nor ss is available to read socket options");
            return;
        }
        let on = |idle: i32, intvl: i32| match &first {
            Keepalive::Options(_) => Keepalive::Options([1, idle, intvl, 3]),
            _ => Keepalive::Timer(true),
        };
        let off = match &first {
            Keepalive::Options(_) => Keepalive::Options([0, 0, 0, 0]),
            _ => Keepalive::Timer(false),
        };
        // Default 300: idle 300 s, then probes every 100 s, 3 of them.
        assert_eq!(first, on(300, 100));
        // CONFIG SET applies to the connections accepted after it.
        assert_eq!(line(&mut c, "CONFIG SET tcp-keepalive 7"), b"+OK\r\n");
        assert_eq!(keepalive_of_new_connection(s, &mut keep), on(7, 2));
        assert_eq!(line(&mut c, "CONFIG SET tcp-keepalive 0"), b"+OK\r\n");
        let now_off = keepalive_of_new_connection(s, &mut keep);
        match (&now_off, &off) {
            // With keepalive off the idle/interval values are the system's.
            (Keepalive::Options(o), Keepalive::Options(_)) => assert_eq!(o[0], 0, "{o:?}"),
            _ => assert_eq!(now_off, off),
        }
    });
}

// ---------------------------------------------------------------------------
// pidfile
// ---------------------------------------------------------------------------

#[test]
fn pidfile_is_written_at_start_and_removed_at_shutdown() {
    for (name, bin) in binaries() {
        for how in ["SHUTDOWN", "SIGTERM"] {
            eprintln!("{name}: stopped by {how}");
            let port = free_port();
            let ports = port.to_string();
            // Relative: in the data directory.
            let mut s = spawn(
                name,
                &bin,
                port,
                &["--port", &ports, "--pidfile", "server.pid"],
            );
            let pidfile = s.dir.join("server.pid");
            let mut c = tcp_connect(&mut s, port);
            // Redis writes it just after it starts listening (forkv just
            // before): wait until it is complete.
            let deadline = Instant::now() + PATIENCE;
            while !fs::read_to_string(&pidfile).is_ok_and(|p| p.ends_with('\n'))
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            let pid =
                fs::read_to_string(&pidfile).unwrap_or_else(|e| panic!("{name}: {e}\n{}", s.log()));
            assert_eq!(pid, format!("{}\n", s.pid()), "{name}");
            assert_eq!(
                text(line(&mut c, "CONFIG GET pidfile")),
                "*2\r\n$7\r\npidfile\r\n$10\r\nserver.pid\r\n"
            );
            if how == "SHUTDOWN" {
                let _ = common::try_cmd(&mut c, &[b"SHUTDOWN", b"NOSAVE"]);
            } else {
                let pid = s.pid() as libc::pid_t;
                // SAFETY: signalling the child process this test started.
                assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
            }
            assert_eq!(wait_exit(&mut s), 0, "{name}\n{}", s.log());
            assert!(
                !pidfile.exists(),
                "{name}: the pid file is left after {how}\n{}",
                s.log()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// port 0, unixsocket
// ---------------------------------------------------------------------------

#[test]
fn listening_nowhere_stops_startup() {
    for (name, bin) in binaries() {
        let port = free_port().to_string();
        for args in [&["--port", "0"][..], &["--port", &port, "--bind", ""][..]] {
            let mut s = spawn(name, &bin, 0, args);
            assert_eq!(wait_exit(&mut s), 1, "{name} {args:?}\n{}", s.log());
            assert!(
                s.log()
                    .contains("Configured to not listen anywhere, exiting."),
                "{name} {args:?}\n{}",
                s.log()
            );
        }
    }
}

#[test]
fn unix_socket_serves_clients() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    for (name, bin) in binaries() {
        let dir = unique_temp_dir(&format!("forkv-settings-{name}"));
        let sock = dir.join("server.sock");
        // A file left where the socket goes is replaced.
        fs::write(&sock, b"stale").unwrap();
        let path = sock.to_str().unwrap();
        let mut s = spawn_in(
            name,
            &bin,
            0,
            &dir,
            &[
                "--port",
                "0",
                "--unixsocket",
                path,
                "--unixsocketperm",
                "640",
            ],
        );
        let mut c = unix_connect(&mut s, &sock);
        assert_eq!(cmd(&mut c, &[b"PING"]), b"+PONG\r\n", "{name}");
        let meta = fs::metadata(&sock).unwrap();
        assert!(meta.file_type().is_socket(), "{name}");
        assert_eq!(meta.permissions().mode() & 0o777, 0o640, "{name}");
        // Protected mode is on, and a Unix socket client is local.
        assert_eq!(info_value(&mut c, "server", "tcp_port"), "0");
        // Redis lists matching parameters in its dict's order, which
        // varies from run to run: either order is right.
        let got = text(line(&mut c, "CONFIG GET unixsocket*"));
        let sock_pair = format!("$10\r\nunixsocket\r\n${}\r\n{path}\r\n", path.len());
        let perm_pair = "$14\r\nunixsocketperm\r\n$3\r\n640\r\n";
        assert!(
            got == format!("*4\r\n{sock_pair}{perm_pair}")
                || got == format!("*4\r\n{perm_pair}{sock_pair}"),
            "{name}: {got}"
        );
        let info = text(line(&mut c, "CLIENT INFO"));
        let want = format!(" addr={path}:0 laddr={path}:0 ");
        assert!(info.contains(&want), "{name}: {info}");
        assert!(info.contains(" flags=U "), "{name}: {info}");
        // No TCP listener at all.
        assert_eq!(
            tcp_listening_sockets(s.pid()),
            Vec::<String>::new(),
            "{name}"
        );
        // CONFIG SET port opens one; port 0 closes it again.
        let port = free_port();
        assert_eq!(
            text(line(&mut c, &format!("CONFIG SET port {port}"))),
            "+OK\r\n"
        );
        let mut t = tcp_connect(&mut s, port);
        assert_eq!(cmd(&mut t, &[b"PING"]), b"+PONG\r\n");
        assert!(text(line(&mut t, "CLIENT INFO")).contains(" flags=N "));
        assert_eq!(text(line(&mut c, "CONFIG SET port 0")), "+OK\r\n");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "{name}: port 0 leaves the TCP listener open"
        );
        assert_eq!(
            tcp_listening_sockets(s.pid()),
            Vec::<String>::new(),
            "{name}"
        );
        assert_eq!(info_value(&mut c, "server", "tcp_port"), "0");
        // The connection made before still works.
        assert_eq!(cmd(&mut t, &[b"PING"]), b"+PONG\r\n");
        assert_eq!(
            cmd(&mut c, &[b"CONFIG", b"SET", b"unixsocketperm", b"777"]),
            b"-ERR CONFIG SET failed (possibly related to argument 'unixsocketperm') - can't set immutable config\r\n"
        );
        // A second client over the socket, then the socket file goes away
        // at shutdown.
        let mut c2 = UnixStream::connect(&sock).unwrap();
        c2.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        assert_eq!(cmd(&mut c2, &[b"SET", b"k", b"v"]), b"+OK\r\n");
        assert_eq!(cmd(&mut c, &[b"GET", b"k"]), b"$1\r\nv\r\n");
        let _ = common::try_cmd(&mut c, &[b"SHUTDOWN", b"NOSAVE"]);
        assert_eq!(wait_exit(&mut s), 0, "{name}\n{}", s.log());
        assert!(!sock.exists(), "{name}: socket file left\n{}", s.log());
    }
}

#[test]
fn a_unix_socket_path_that_cannot_be_bound_stops_startup() {
    for (name, bin) in binaries() {
        let long = format!("/tmp/{}.sock", "x".repeat(120));
        let mut s = spawn(name, &bin, 0, &["--port", "0", "--unixsocket", &long]);
        assert_eq!(wait_exit(&mut s), 1, "{name}\n{}", s.log());
        let want = format!(
            "Failed opening Unix socket: unix socket path too long ({}), must be under 108",
            long.len()
        );
        assert!(s.log().contains(&want), "{name}\n{}", s.log());
    }
}

// ---------------------------------------------------------------------------
// Listening before loading; -LOADING
// ---------------------------------------------------------------------------

/// A data directory holding a snapshot of `keys` keys written by `name`.
fn snapshot_dir(name: &str, bin: &Path, keys: u32) -> PathBuf {
    let port = free_port();
    let mut s = spawn(
        name,
        bin,
        port,
        &["--port", &port.to_string(), "--enable-debug-command", "yes"],
    );
    let mut c = tcp_connect(&mut s, port);
    wait_for("the server to answer", PATIENCE, || {
        cmd(&mut c, &[b"PING"]) == b"+PONG\r\n"
    });
    let populate = format!("DEBUG POPULATE {keys}");
    assert_eq!(line(&mut c, &populate), b"+OK\r\n");
    assert_eq!(line(&mut c, "SAVE"), b"+OK\r\n");
    s.kill_keeping_dir()
}

/// A port-in-use failure comes before the snapshot is read: nothing of it
/// is loaded, and the server exits with Redis's log line.
#[test]
fn a_port_in_use_stops_startup_before_the_snapshot_loads() {
    for (name, bin) in binaries() {
        let dir = snapshot_dir(name, &bin, 200_000);
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let mut s = spawn_in(
            name,
            &bin,
            port,
            &dir,
            &["--port", &port.to_string(), "--bind", "127.0.0.1"],
        );
        assert_eq!(wait_exit(&mut s), 1, "{name}\n{}", s.log());
        let log = s.log();
        assert!(
            log.contains(&format!("Failed listening on port {port} (TCP), aborting.")),
            "{name}\n{log}"
        );
        assert!(log.contains("Address already in use"), "{name}\n{log}");
        for loaded in ["DB loaded from disk", "Loading snapshot", "Loading RDB"] {
            assert!(!log.contains(loaded), "{name}: loaded first\n{log}");
        }
        drop(busy);
    }
}

/// While the snapshot loads, clients connect and get `-LOADING` for every
/// command that is not flagged loading-ok (PING included), INFO shows the
/// progress, and SHUTDOWN exits without saving the partial dataset.
#[test]
fn clients_are_told_the_dataset_is_loading() {
    const KEYS: u32 = 20_000;
    const LOADING: &str = "-LOADING Redis is loading the dataset in memory\r\n";
    for (name, bin) in binaries() {
        let dir = snapshot_dir(name, &bin, KEYS);
        // Slow the load down (Redis's own test hooks): about 100 µs a key.
        let slow = [
            "--key-load-delay",
            "100",
            "--loading-process-events-interval-bytes",
            "1024",
        ];
        let port = free_port();
        let ports = port.to_string();
        let mut args = vec!["--port", &ports];
        args.extend(slow);
        let mut s = spawn_in(name, &bin, port, &dir, &args);
        let mut c = tcp_connect(&mut s, port);
        assert_eq!(text(cmd(&mut c, &[b"PING"])), LOADING, "{name}");
        assert_eq!(text(line(&mut c, "DBSIZE")), LOADING, "{name}");
        assert_eq!(text(line(&mut c, "GET key:1")), LOADING, "{name}");
        assert_eq!(info_value(&mut c, "persistence", "loading"), "1");
        let total: u64 = info_value(&mut c, "persistence", "loading_total_bytes")
            .parse()
            .unwrap();
        assert!(total > 0, "{name}");
        let loaded: u64 = info_value(&mut c, "persistence", "loading_loaded_bytes")
            .parse()
            .unwrap();
        assert!(loaded <= total, "{name}");
        for field in [
            "loading_start_time",
            "loading_rdb_used_mem",
            "loading_loaded_perc",
            "loading_eta_seconds",
        ] {
            info_value(&mut c, "persistence", field);
        }
        // Loading-ok commands answer.
        assert_eq!(
            text(line(&mut c, "CONFIG GET maxclients")),
            "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"
        );
        assert_eq!(text(line(&mut c, "ECHO hi")), "$2\r\nhi\r\n");
        // Then the load ends and everything works.
        wait_for("the load to end", PATIENCE, || {
            info_value(&mut c, "persistence", "loading") == "0"
        });
        assert_eq!(text(line(&mut c, "DBSIZE")), format!(":{KEYS}\r\n"));
        assert_eq!(cmd(&mut c, &[b"PING"]), b"+PONG\r\n");
        assert!(
            !text(line(&mut c, "INFO persistence")).contains("loading_total_bytes"),
            "{name}"
        );
        drop(c);
        let _ = s.kill_keeping_dir();

        // SHUTDOWN during the load does not save, even with save points.
        let file = if name == "redis" {
            "dump.rdb"
        } else {
            "dump.forkv"
        };
        let before = fs::read(dir.join(file)).unwrap();
        args.extend(["--save", "3600 1"]);
        let mut s = spawn_in(name, &bin, port, &dir, &args);
        let mut c = tcp_connect(&mut s, port);
        assert_eq!(text(cmd(&mut c, &[b"PING"])), LOADING, "{name}");
        let _ = common::try_cmd(&mut c, &[b"SHUTDOWN"]);
        assert_eq!(wait_exit(&mut s), 0, "{name}\n{}", s.log());
        assert!(
            fs::read(dir.join(file)).unwrap() == before,
            "{name}: the partial dataset was saved\n{}",
            s.log()
        );
        let _ = fs::remove_dir_all(&dir);
    }
}

#[test]
fn key_load_delay_and_the_loading_interval_are_hidden_from_config_get_star() {
    let s = start(&[]);
    let mut c = s.raw_conn();
    let all = text(line(&mut c, "CONFIG GET *"));
    assert!(
        !all.contains("key-load-delay"),
        "{}",
        escape(all.as_bytes())
    );
    assert!(!all.contains("loading-process-events-interval-bytes"));
    assert_eq!(
        text(line(&mut c, "CONFIG GET key-load-delay")),
        "*2\r\n$14\r\nkey-load-delay\r\n$1\r\n0\r\n"
    );
    assert_eq!(
        text(line(
            &mut c,
            "CONFIG GET loading-process-events-interval-bytes"
        )),
        "*2\r\n$37\r\nloading-process-events-interval-bytes\r\n$7\r\n2097152\r\n"
    );
}
