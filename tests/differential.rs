//! Differential test: every script in `tests/corpus/*.txt` runs against
//! forkv and real Redis, and the raw reply bytes must agree.
//!
//! See `tests/corpus/README.md` for the script format.
//!
//! Environment:
//! * `FORKV_DIFF_SELFTEST=1` runs both sides on real Redis (checks that every
//!   exact line in the corpus is deterministic);
//! * `FORKV_DIFF_ONLY=strings,keys` runs only corpus files whose name
//!   contains one of the comma-separated words;
//! * `FORKV_REQUIRE_REDIS=1` turns a missing `redis-server` into a failure;
//! * `FORKV_DIFF_DUMP=1` prints every command with the reference reply (use
//!   with `--nocapture` while writing corpus lines).
//!
//! The full report is also written to `differential-report.txt` in cargo's
//! per-target temp dir (`target/tmp/`).

mod common;

use common::{RawConn, Resp, Server, escape, parse_reply, try_read_reply, try_send};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Per-reply read timeout; a server that does not answer in time is treated
/// as a dropped connection.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Extra arguments for both servers: the corpus uses DEBUG (SLEEP,
/// RELOAD), which Redis 7 and forkv refuse by default.
const SERVER_ARGS: &[&str] = &["--enable-debug-command", "yes"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Raw bytes must be equal.
    Exact,
    /// `~ ` prefix: same RESP type tree.
    Shape,
    /// `! ` prefix: same first byte.
    Type,
}

#[derive(Debug)]
enum Step {
    Cmd {
        line: usize,
        text: String,
        mode: Mode,
        /// How many replies the command produces (`(N) ` prefix; 1 by default).
        replies: usize,
        args: Vec<Vec<u8>>,
    },
    Sleep {
        ms: u64,
    },
}

// ---------------------------------------------------------------------------
// Script parsing
// ---------------------------------------------------------------------------

/// Splits a line into arguments with Redis's `sdssplitargs` quoting rules
/// (the server's own splitter, which its unit tests check against Redis).
fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    forkv::util::split::split_args(line.as_bytes()).ok_or_else(|| "unbalanced quotes".to_string())
}

fn parse_script(path: &Path) -> Vec<Step> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut steps = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (mode, rest) = if let Some(r) = trimmed.strip_prefix("~ ") {
            (Mode::Shape, r)
        } else if let Some(r) = trimmed.strip_prefix("! ") {
            (Mode::Type, r)
        } else {
            (Mode::Exact, trimmed)
        };
        if mode == Mode::Exact
            && let Some(ms) = rest.strip_prefix("sleep ")
        {
            let ms = ms
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{}:{line}: bad sleep line {raw:?}", path.display()));
            steps.push(Step::Sleep { ms });
            continue;
        }
        let (replies, rest) = reply_count(rest)
            .unwrap_or_else(|| panic!("{}:{line}: bad (N) prefix {raw:?}", path.display()));
        let args =
            split_args(rest).unwrap_or_else(|e| panic!("{}:{line}: {e}: {raw:?}", path.display()));
        assert!(!args.is_empty(), "{}:{line}: empty command", path.display());
        steps.push(Step::Cmd {
            line,
            text: rest.to_string(),
            mode,
            replies,
            args,
        });
    }
    steps
}

/// Splits an optional `(N) ` prefix (a command that answers with N replies,
/// such as `SUBSCRIBE a b`) from a line; None when N is not a positive number.
fn reply_count(rest: &str) -> Option<(usize, &str)> {
    let Some(after) = rest.strip_prefix('(') else {
        return Some((1, rest));
    };
    let (n, tail) = after.split_once(") ")?;
    let n: usize = n.parse().ok()?;
    (n > 0).then_some((n, tail.trim_start()))
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let only: Vec<String> = std::env::var("FORKV_DIFF_ONLY")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            only.is_empty() || only.iter().any(|o| name.contains(o.as_str()))
        })
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

/// One server under test and the connection of the current script.
struct Side {
    name: &'static str,
    server: Server,
    conn: Option<RawConn>,
    redis: bool,
}

impl Side {
    fn connect(&mut self) -> Result<(), String> {
        let stream = std::net::TcpStream::connect(("127.0.0.1", self.server.port))
            .map_err(|e| format!("{}: connect: {e}", self.name))?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        self.conn = Some(RawConn::new(stream));
        Ok(())
    }

    fn send(&mut self, args: &[Vec<u8>]) -> Result<(), String> {
        let conn = self.conn.as_mut().ok_or("not connected")?;
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        try_send(conn, &args).map_err(|e| format!("send: {e}"))
    }

    fn read(&mut self) -> Result<Vec<u8>, String> {
        let conn = self.conn.as_mut().ok_or("not connected")?;
        try_read_reply(conn).map_err(|e| format!("read: {e}"))
    }

    /// Reads `n` replies, concatenated.
    fn read_n(&mut self, n: usize) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.extend(self.read()?);
        }
        Ok(out)
    }

    fn call(&mut self, args: &[Vec<u8>]) -> Result<Vec<u8>, String> {
        self.send(args)?;
        self.read()
    }

    /// If the server process died (waiting up to 2 s for a dying one to
    /// exit), describe it with the log tail and start a new one so the
    /// remaining scripts can run.
    fn check_alive(&mut self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.server.is_alive() {
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = self.server.child.try_wait().ok().flatten();
        let why = format!("process died ({status:?})");
        Some(self.restart(&why))
    }

    /// Replace the server with a fresh one; returns a description with the
    /// old server's log tail.
    fn restart(&mut self, why: &str) -> String {
        let log = self.server.log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let msg = format!(
            "{} {why}; restarted it. Last log lines:\n      {}",
            self.name,
            tail.join("\n      ")
        );
        self.conn = None;
        self.server = if self.redis {
            common::start_redis(SERVER_ARGS).expect("redis-server vanished")
        } else {
            common::start(SERVER_ARGS)
        };
        msg
    }

    /// Fresh connection and `FLUSHALL`, restarting a dead or unresponsive
    /// server once.
    fn prepare(&mut self) -> Result<(), String> {
        let attempt = |side: &mut Side| -> Result<(), String> {
            side.connect()?;
            match side.call(&[b"FLUSHALL".to_vec()]) {
                Ok(r) if r == b"+OK\r\n" => Ok(()),
                Ok(r) => Err(format!("FLUSHALL replied {}", show(&r))),
                Err(e) => Err(format!("FLUSHALL: {e}")),
            }
        };
        match attempt(self) {
            Ok(()) => Ok(()),
            Err(e) => {
                let msg = match self.check_alive() {
                    Some(died) => format!("{e}\n    {died}"),
                    None => {
                        let restarted = self.restart("was unresponsive");
                        format!("{e}\n    {restarted}")
                    }
                };
                attempt(self).map_err(|e2| format!("{msg}\n    after restart: {e2}"))?;
                Err(msg)
            }
        }
    }
}

#[derive(Default)]
struct Report {
    mismatches: Vec<String>,
    /// Problems with the harness or the reference server (not forkv bugs).
    harness: Vec<String>,
    lines_run: usize,
}

fn upper(a: &[u8]) -> Vec<u8> {
    a.to_ascii_uppercase()
}

/// What `CLIENT REPLY` does to reply delivery.
#[derive(Clone, Copy, PartialEq)]
enum ReplyMode {
    On,
    Off,
    /// The next command's reply is suppressed.
    Skip,
}

fn dump_enabled() -> bool {
    std::env::var("FORKV_DIFF_DUMP").is_ok_and(|v| v == "1")
}

fn compare(mode: Mode, a: &[u8], b: &[u8]) -> bool {
    match mode {
        Mode::Exact => a == b,
        Mode::Type => a.first() == b.first(),
        Mode::Shape => same_shapes(a, b),
    }
}

/// Compares the shapes of every reply in two concatenations of replies.
fn same_shapes(mut a: &[u8], mut b: &[u8]) -> bool {
    while !a.is_empty() || !b.is_empty() {
        match (parse_reply(a), parse_reply(b)) {
            (Ok((x, na)), Ok((y, nb))) if x.same_shape(&y) => {
                a = &a[na..];
                b = &b[nb..];
            }
            _ => return false,
        }
    }
    true
}

fn show(bytes: &[u8]) -> String {
    const MAX: usize = 2000;
    if bytes.len() > MAX {
        format!("{}... ({} bytes)", escape(&bytes[..MAX]), bytes.len())
    } else {
        escape(bytes)
    }
}

fn run_script(
    file: &Path,
    steps: &[Step],
    reference: &mut Side,
    tested: &mut Side,
    rep: &mut Report,
) {
    let fname = format!("corpus/{}", file.file_name().unwrap().to_string_lossy());
    // A failed preparation that recovered (server restarted) is reported,
    // and the script still runs.
    match reference.prepare() {
        Ok(()) => {}
        Err(e) if reference.conn.is_some() => {
            rep.harness.push(format!(
                "{fname}: {} before the script: {e}",
                reference.name
            ));
        }
        Err(e) => {
            rep.harness.push(format!(
                "{fname}: {} unusable, script skipped: {e}",
                reference.name
            ));
            return;
        }
    }
    match tested.prepare() {
        Ok(()) => {}
        Err(e) if tested.conn.is_some() => {
            rep.mismatches.push(format!(
                "{fname}:0: FLUSHALL before the script\n    {}: {e}",
                tested.name
            ));
        }
        Err(e) => {
            rep.mismatches.push(format!(
                "{fname}:0: {} unusable, script skipped: {e}",
                tested.name
            ));
            return;
        }
    }

    let mut reply_mode = ReplyMode::On;
    for step in steps {
        let (line, text, mode, replies, args) = match step {
            Step::Sleep { ms } => {
                std::thread::sleep(Duration::from_millis(*ms));
                continue;
            }
            Step::Cmd {
                line,
                text,
                mode,
                replies,
                args,
            } => (*line, text, *mode, *replies, args),
        };
        rep.lines_run += 1;
        let name = upper(&args[0]);
        let sub = args.get(1).map(|a| upper(a)).unwrap_or_default();
        let arg2 = args.get(2).map(|a| upper(a)).unwrap_or_default();
        // Does this command produce a reply on the wire?
        let client_reply = name == b"CLIENT" && sub == b"REPLY" && args.len() == 3;
        let expect_reply = if client_reply && arg2 == b"OFF" {
            reply_mode = ReplyMode::Off;
            false
        } else if client_reply && arg2 == b"SKIP" {
            if reply_mode == ReplyMode::On {
                reply_mode = ReplyMode::Skip;
            }
            false
        } else if client_reply && arg2 == b"ON" {
            reply_mode = ReplyMode::On;
            true
        } else {
            match reply_mode {
                ReplyMode::On => true,
                ReplyMode::Off => false,
                ReplyMode::Skip => {
                    reply_mode = ReplyMode::On;
                    false
                }
            }
        };

        let r = reference.send(args).and_then(|()| {
            if expect_reply {
                reference.read_n(replies)
            } else {
                Ok(Vec::new())
            }
        });
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                rep.harness.push(format!(
                    "{fname}:{line}: {text}\n    {} failed: {e}; rest of script skipped",
                    reference.name
                ));
                if let Some(msg) = reference.check_alive() {
                    rep.harness.push(msg);
                }
                return;
            }
        };
        let t = tested.send(args).and_then(|()| {
            if expect_reply {
                tested.read_n(replies)
            } else {
                Ok(Vec::new())
            }
        });
        let t = match t {
            Ok(t) => t,
            Err(e) => {
                let mut msg = format!(
                    "{fname}:{line}: {text}\n    {}: {}\n    {}: CONNECTION DROPPED ({e}); rest of script skipped",
                    reference.name,
                    show(&r),
                    tested.name
                );
                if let Some(died) = tested.check_alive() {
                    let _ = write!(msg, "\n    {died}");
                }
                rep.mismatches.push(msg);
                return;
            }
        };
        if dump_enabled() {
            println!("{fname}:{line}: {text}\n    => {}", show(&r));
        }
        if !compare(mode, &r, &t) {
            let how = match mode {
                Mode::Exact => "",
                Mode::Shape => " [shape]",
                Mode::Type => " [type]",
            };
            rep.mismatches.push(format!(
                "{fname}:{line}: {text}{how}\n    {}: {}\n    {}: {}",
                reference.name,
                show(&r),
                tested.name,
                show(&t)
            ));
        }
        if name == b"QUIT" && expect_reply {
            // Both closed the connection (or should have): reconnect.
            for side in [&mut *reference, &mut *tested] {
                if let Err(e) = side.connect() {
                    rep.harness.push(format!("{fname}:{line}: reconnect: {e}"));
                    return;
                }
            }
            reply_mode = ReplyMode::On;
        }
    }

    // Sentinel: catches extra or missing replies at the end of the script.
    if reply_mode == ReplyMode::On {
        let echo = vec![b"ECHO".to_vec(), b"__end_of_script__".to_vec()];
        let r = reference.call(&echo);
        let t = tested.call(&echo);
        if r.is_ok() && r != t {
            rep.mismatches.push(format!(
                "{fname}:end: ECHO sentinel (extra/missing replies?)\n    {}: {}\n    {}: {}",
                reference.name,
                r.as_deref().map(show).unwrap_or_else(|e| e.clone()),
                tested.name,
                t.as_deref().map(show).unwrap_or_else(|e| e.clone()),
            ));
            if t.is_err()
                && let Some(msg) = tested.check_alive()
            {
                rep.mismatches.push(format!("{fname}: {msg}"));
            }
        }
    }
    reference.conn = None;
    tested.conn = None;
}

#[test]
fn reply_count_prefix() {
    assert_eq!(reply_count("GET k"), Some((1, "GET k")));
    assert_eq!(
        reply_count("(3) SUBSCRIBE a b c"),
        Some((3, "SUBSCRIBE a b c"))
    );
    assert_eq!(reply_count("(0) PING"), None);
    assert_eq!(reply_count("(x) PING"), None);
    assert_eq!(reply_count("(2)PING"), None);
}

#[test]
fn split_args_follows_sdssplitargs() {
    let s = |l: &str| split_args(l).unwrap();
    let b = |v: &[&str]| v.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
    assert_eq!(s("set k v"), b(&["set", "k", "v"]));
    assert_eq!(s("  set   k\tv  "), b(&["set", "k", "v"]));
    assert_eq!(s(r#"set "a b" 'c d'"#), b(&["set", "a b", "c d"]));
    assert_eq!(s(r#"echo "x\ny\r\t\\\"""#), b(&["echo", "x\ny\r\t\\\""]));
    assert_eq!(s(r#"echo "\x41\x00\xff""#)[1], vec![0x41, 0, 0xff]);
    assert_eq!(s(r#"echo "\xzz""#)[1], b"xzz".to_vec());
    assert_eq!(s(r"echo 'it\'s'"), b(&["echo", "it's"]));
    assert_eq!(s(r"echo 'a\nb'"), b(&["echo", "a\\nb"]));
    assert_eq!(s(r#"echo """#), b(&["echo", ""]));
    assert_eq!(s(r#"echo a"b""#), b(&["echo", "ab"]));
    assert!(split_args(r#"echo "abc"d"#).is_err());
    assert!(split_args(r#"echo "abc"#).is_err());
    assert!(split_args(r"echo 'abc").is_err());
    assert!(s("").is_empty());
}

#[test]
fn read_reply_reads_exactly_one_reply_of_every_type() {
    use std::io::Write;
    let replies: &[&[u8]] = &[
        b"+OK\r\n",
        b"-ERR x\r\n",
        b":-12\r\n",
        b"$5\r\na\r\nbc\r\n",
        b"$0\r\n\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"*3\r\n:1\r\n*1\r\n$1\r\nx\r\n_\r\n",
        b"_\r\n",
        b",3.14\r\n",
        b",inf\r\n",
        b"#t\r\n",
        b"!9\r\nERR bla\r\n\r\n",
        b"=8\r\ntxt:a\r\nb\r\n",
        b"(12345678901234567890\r\n",
        b"%2\r\n+a\r\n:1\r\n+b\r\n~2\r\n:1\r\n:2\r\n",
        b"~0\r\n",
        b">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n",
        b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
    ];
    let all: Vec<u8> = replies.concat();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let payload = all.clone();
    let writer = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            // Dribble the bytes in small pieces to exercise partial reads.
            for chunk in payload.chunks(7) {
                s.write_all(chunk).unwrap();
                s.flush().unwrap();
            }
        }
    });
    // Buffered connection.
    let mut conn = RawConn::new(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
    for want in replies {
        assert_eq!(common::read_reply(&mut conn), want.to_vec());
    }
    // Bare stream: no read-ahead, nothing lost between replies.
    let mut bare = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    for want in replies {
        let got = common::read_reply(&mut bare);
        assert_eq!(got, want.to_vec());
        assert_eq!(common::parse_one(&got).type_byte(), want[0]);
    }
    writer.join().unwrap();
}

#[test]
fn same_shape_rules() {
    let p = |b: &[u8]| common::parse_one(b);
    assert!(p(b":1\r\n").same_shape(&p(b":2\r\n")));
    assert!(!p(b":1\r\n").same_shape(&p(b"+1\r\n")));
    assert!(!p(b"$-1\r\n").same_shape(&p(b"$1\r\nx\r\n")));
    assert!(p(b"*2\r\n$1\r\na\r\n:1\r\n").same_shape(&p(b"*2\r\n$2\r\nbb\r\n:5\r\n")));
    assert!(!p(b"*1\r\n:1\r\n").same_shape(&p(b"*2\r\n:1\r\n:1\r\n")));
    assert!(p(b"%1\r\n+a\r\n,1.5\r\n").same_shape(&p(b"%1\r\n+b\r\n,2\r\n")));
    assert!(matches!(
        p(b"|1\r\n+k\r\n+v\r\n:3\r\n"),
        Resp::Attribute(..)
    ));
}

/// Turns forkv's effect recorder on (into `path`) or off.
fn effects_log(server: &Server, path: Option<&Path>) {
    let mut c = server.client();
    let target = path.map_or("off".to_string(), |p| p.display().to_string());
    redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("LOG")
        .arg(target)
        .query::<()>(&mut c)
        .expect("DEBUG EFFECTS LOG");
}

/// Replays the recorded stream into a fresh forkv (through the loader
/// path) and compares its dataset with the recording server's.
fn check_effects(server: &Server, path: &Path) -> Result<(), String> {
    let mut c = server.client();
    redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("LOG")
        .arg("off")
        .query::<()>(&mut c)
        .map_err(|e| format!("DEBUG EFFECTS LOG off: {e}"))?;
    let original = common::dataset(server);
    let fresh = common::start(&[]);
    let mut f = fresh.client();
    redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("REPLAY")
        .arg(path.display().to_string())
        .query::<i64>(&mut f)
        .map_err(|e| format!("replay failed: {e}"))?;
    let replayed = common::dataset(&fresh);
    let diff = common::dataset_diff(&original, &replayed, 3000);
    if diff.is_empty() {
        Ok(())
    } else {
        Err(diff.join("\n    "))
    }
}

#[test]
fn differential() {
    let selftest = std::env::var("FORKV_DIFF_SELFTEST").is_ok_and(|v| v == "1");
    let Some(redis) = common::start_redis(SERVER_ARGS) else {
        println!("differential: skipped, redis-server not found");
        return;
    };
    let mut reference = Side {
        name: "redis",
        server: redis,
        conn: None,
        redis: true,
    };
    let mut tested = if selftest {
        Side {
            name: "redis#2",
            server: common::start_redis(SERVER_ARGS).expect("second redis-server"),
            conn: None,
            redis: true,
        }
    } else {
        Side {
            name: "forkv",
            server: common::start(SERVER_ARGS),
            conn: None,
            redis: false,
        }
    };

    let files = corpus_files();
    assert!(!files.is_empty(), "no corpus files found");
    let mut rep = Report::default();
    let mut per_file = Vec::new();
    for file in &files {
        let steps = parse_script(file);
        let before = rep.mismatches.len();
        // forkv records its write-effect stream during the script; replayed
        // into a fresh server, it must rebuild the same dataset.
        let effects = (!selftest).then(|| {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("effects-{name}.resp"));
            let _ = std::fs::remove_file(&path);
            effects_log(&tested.server, Some(&path));
            path
        });
        run_script(file, &steps, &mut reference, &mut tested, &mut rep);
        if let Some(path) = effects {
            let fname = format!("corpus/{}", file.file_name().unwrap().to_string_lossy());
            if let Err(e) = check_effects(&tested.server, &path) {
                rep.mismatches
                    .push(format!("{fname}: write-effect replay: {e}"));
            }
        }
        per_file.push(format!(
            "  {:<28} {:>4} commands, {:>3} mismatches",
            file.file_name().unwrap().to_string_lossy(),
            steps
                .iter()
                .filter(|s| matches!(s, Step::Cmd { .. }))
                .count(),
            rep.mismatches.len() - before
        ));
    }

    let mut text = format!(
        "differential: {} vs {}: {} files, {} commands, {} mismatches, {} harness problems\n{}\n",
        reference.name,
        tested.name,
        files.len(),
        rep.lines_run,
        rep.mismatches.len(),
        rep.harness.len(),
        per_file.join("\n")
    );
    for h in &rep.harness {
        let _ = write!(text, "\nHARNESS: {h}\n");
    }
    for m in &rep.mismatches {
        let _ = write!(text, "\n{m}\n");
    }
    let report_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential-report.txt");
    let _ = std::fs::write(&report_path, &text);
    println!("{text}");
    println!("(report written to {})", report_path.display());
    if !rep.mismatches.is_empty() || !rep.harness.is_empty() {
        panic!(
            "{text}\n{} mismatches, {} harness problems (report: {})",
            rep.mismatches.len(),
            rep.harness.len(),
            report_path.display()
        );
    }
}
