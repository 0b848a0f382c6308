//! Shared helpers for the integration tests.
//!
//! Every test binary spawns its own server process (forkv, or real Redis for
//! differential checks) on a free loopback port with a fresh data directory,
//! and talks to it over TCP:
//!
//! * [`start`] / [`start_redis`] spawn a server and wait until it answers `PING`,
//!   with DEBUG enabled (`--enable-debug-command yes`, off by default in
//!   forkv and Redis 7) unless the test passes its own
//!   `--enable-debug-command`;
//! * [`Server::client`] gives a `redis::Connection` (RESP2) for typed checks;
//! * [`Server::raw`] / [`Server::raw_conn`] give a plain socket for byte-exact
//!   checks with [`send`], [`read_reply`] and [`cmd`];
//! * [`parse_reply`] turns raw reply bytes into a [`Resp`] tree.
//!
//! Each test binary uses a subset of this module, hence the `dead_code` allow.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a freshly spawned server may take to answer `PING`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Read timeout of the raw sockets handed out to tests.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A spawned server process. Dropping it kills the process and removes its
/// data directory.
pub struct Server {
    pub port: u16,
    pub child: Child,
    pub dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Server {
    /// Kills the server (SIGKILL, no shutdown save) and hands back its data
    /// directory, which is kept for a server started on it next.
    pub fn kill_keeping_dir(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::take(&mut self.dir)
    }

    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `host:port` address of the server.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Path of the file that receives the server's stdout and stderr.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_else(|e| format!("<no log: {e}>"))
    }

    /// True while the server process is running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// A `redis` crate connection (RESP2).
    pub fn client(&self) -> redis::Connection {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("redis client");
        client
            .get_connection_with_timeout(READ_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {}: {e}\n{}", self.addr(), self.log()))
    }

    /// A plain TCP connection with a 10 s read (and write) timeout.
    ///
    /// [`read_reply`] on a bare `TcpStream` reads without buffering ahead, so
    /// no bytes are lost between calls; use [`Server::raw_conn`] when reading
    /// many or large replies.
    pub fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("connect to {}: {e}\n{}", self.addr(), self.log()));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// A buffered raw connection (see [`RawConn`]).
    pub fn raw_conn(&self) -> RawConn {
        RawConn::new(self.raw())
    }
}

/// A free loopback port: bind port 0, read the port, release it.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// A fresh, empty, unique directory under the system temp dir.
pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("create temp dir {}: {e}", dir.display()),
        }
    }
}

/// Path of the forkv server binary built by cargo for this test run.
pub fn forkv_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_forkv-server"))
}

/// Start forkv with `--port P --dir D --save ''`, DEBUG enabled (see
/// [`DEBUG_ENABLED`]), then `extra_args`, and wait until it answers
/// `PING`. Panics with the server log on failure.
pub fn start(extra_args: &[&str]) -> Server {
    spawn_server(&forkv_bin(), "forkv", &[], &with_debug(extra_args))
}

/// [`start`] without enabling DEBUG: forkv's own defaults.
pub fn start_default(extra_args: &[&str]) -> Server {
    spawn_server(&forkv_bin(), "forkv", &[], extra_args)
}

/// Start forkv with a configuration file (which must come first on the
/// command line, as with redis-server), then the usual test options.
pub fn start_with_config(config: &Path, extra_args: &[&str]) -> Server {
    let conf = config.to_str().expect("utf-8 path");
    spawn_server_with(
        &forkv_bin(),
        "forkv",
        Some(conf),
        &[],
        &with_debug(extra_args),
    )
}

/// Start real Redis (`redis-server` from `PATH`) the same way (DEBUG
/// enabled too), with `--appendonly no` as well. Returns `None` when it is
/// not installed, unless `FORKV_REQUIRE_REDIS=1`, in which case it panics.
pub fn start_redis(extra_args: &[&str]) -> Option<Server> {
    start_redis_with(&with_debug(extra_args))
}

/// [`start_redis`] without enabling DEBUG: Redis's own defaults.
pub fn start_redis_default(extra_args: &[&str]) -> Option<Server> {
    start_redis_with(extra_args)
}

fn start_redis_with(extra_args: &[&str]) -> Option<Server> {
    match find_in_path("redis-server") {
        Some(bin) => Some(spawn_server(
            &bin,
            "redis",
            &["--appendonly", "no", "--bind", "127.0.0.1"],
            extra_args,
        )),
        None if redis_required() => panic!("redis-server required but not found"),
        None => None,
    }
}

/// True when `FORKV_REQUIRE_REDIS=1`.
pub fn redis_required() -> bool {
    std::env::var("FORKV_REQUIRE_REDIS").is_ok_and(|v| v == "1")
}

/// Look an executable up in `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn spawn_server(bin: &Path, name: &str, fixed_args: &[&str], extra_args: &[&str]) -> Server {
    spawn_server_with(bin, name, None, fixed_args, extra_args)
}

/// What the test servers run with unless a test says otherwise: many
/// tests use DEBUG (POPULATE, RELOAD, SLEEP, EFFECTS), which forkv, like
/// Redis 7, refuses by default.
pub const DEBUG_ENABLED: &[&str] = &["--enable-debug-command", "yes"];

/// `extra_args` preceded by [`DEBUG_ENABLED`], unless they set
/// `--enable-debug-command` themselves.
fn with_debug<'a>(extra_args: &[&'a str]) -> Vec<&'a str> {
    let mut v = Vec::with_capacity(extra_args.len() + 2);
    if !extra_args.contains(&"--enable-debug-command") {
        v.extend_from_slice(DEBUG_ENABLED);
    }
    v.extend_from_slice(extra_args);
    v
}

fn spawn_server_with(
    bin: &Path,
    name: &str,
    config: Option<&str>,
    fixed_args: &[&str],
    extra_args: &[&str],
) -> Server {
    // A port picked with `free_port` can be taken by someone else before the
    // server binds it; retry a few times with a new port if the server dies.
    let mut last_log = String::new();
    for _attempt in 0..3 {
        let port = free_port();
        let dir = unique_temp_dir(&format!("forkv-test-{name}"));
        let log = File::create(dir.join("server.log")).expect("create server log");
        let log2 = log.try_clone().expect("clone log handle");
        let child = Command::new(bin)
            .args(config)
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(&dir)
            .arg("--save")
            .arg("")
            .args(fixed_args)
            .args(extra_args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log2))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let mut server = Server { port, child, dir };
        match wait_ready(&mut server) {
            Ok(()) => return server,
            Err(why) => {
                let exited = !server.is_alive();
                last_log = format!(
                    "{} did not become ready on port {port}: {why}\n--- server log ---\n{}",
                    bin.display(),
                    server.log()
                );
                // Only a server that exited (e.g. port taken) is worth retrying.
                if !exited {
                    break;
                }
            }
        }
    }
    panic!("{last_log}");
}

fn wait_ready(server: &mut Server) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut last_err = String::from("no attempt");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("process exited early with {status}"));
        }
        match ping_once(server.port) {
            Ok(()) => return Ok(()),
            Err(e) => last_err = e,
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(format!(
        "timed out after {STARTUP_TIMEOUT:?}; last error: {last_err}"
    ))
}

fn ping_once(port: u16) -> Result<(), String> {
    let addr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
    s.set_write_timeout(Some(Duration::from_secs(2))).ok();
    try_send(&mut s, &[b"PING"]).map_err(|e| format!("send: {e}"))?;
    let reply = try_read_reply(&mut s).map_err(|e| format!("read: {e}"))?;
    // A password-protected server is up when it asks for authentication.
    if reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH") {
        Ok(())
    } else {
        Err(format!("PING replied {}", escape(&reply)))
    }
}

// ---------------------------------------------------------------------------
// Raw RESP I/O
// ---------------------------------------------------------------------------

/// A TCP stream with a read buffer, so that bytes received past the end of
/// one reply are kept for the next. Implements `Read` and `Write`, so it
/// works with [`send`], [`read_reply`] and [`cmd`].
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl RawConn {
    pub fn new(stream: TcpStream) -> RawConn {
        RawConn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            pos: 0,
        }
    }

    /// Bytes already received but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }
}

impl Read for RawConn {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            // Large reads bypass the buffer.
            if out.len() >= 16 * 1024 {
                return self.stream.read(out);
            }
            self.buf.resize(16 * 1024, 0);
            let n = match self.stream.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) => {
                    self.buf.clear();
                    return Err(e);
                }
            };
            self.buf.truncate(n);
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for RawConn {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.stream.write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Encode a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Write one command (RESP array of bulk strings). Panics on I/O error.
pub fn send<W: Write>(stream: &mut W, args: &[&[u8]]) {
    try_send(stream, args).expect("send command");
}

/// Write one command, returning I/O errors.
pub fn try_send<W: Write>(stream: &mut W, args: &[&[u8]]) -> io::Result<()> {
    stream.write_all(&encode_command(args))?;
    stream.flush()
}

/// Read exactly one complete reply (any RESP2/RESP3 type, nested, with
/// attributes) and return its raw bytes. Panics on I/O or protocol error.
pub fn read_reply<R: Read>(stream: &mut R) -> Vec<u8> {
    try_read_reply(stream).unwrap_or_else(|e| panic!("read reply: {e}"))
}

/// Send one command and read its reply.
pub fn cmd<S: Read + Write>(conn: &mut S, args: &[&[u8]]) -> Vec<u8> {
    send(conn, args);
    read_reply(conn)
}

/// Like [`cmd`] with string arguments.
pub fn cmd_str<S: Read + Write>(conn: &mut S, args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    cmd(conn, &args)
}

/// Send one command and read its reply, returning I/O errors (EOF included).
pub fn try_cmd<S: Read + Write>(conn: &mut S, args: &[&[u8]]) -> io::Result<Vec<u8>> {
    try_send(conn, args)?;
    try_read_reply(conn)
}

/// Read exactly one complete reply; an EOF before it is complete is an
/// `UnexpectedEof` error.
pub fn try_read_reply<R: Read>(stream: &mut R) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    read_one(stream, &mut out, 0)?;
    Ok(out)
}

fn proto_err(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Read one `\r\n`-terminated line into `out` (terminator included); returns
/// the line without its terminator's position info: the start offset.
fn read_line<R: Read>(r: &mut R, out: &mut Vec<u8>) -> io::Result<usize> {
    let start = out.len();
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed mid-reply after {:?}",
                        String::from_utf8_lossy(out)
                    ),
                ));
            }
            Ok(_) => {
                out.push(byte[0]);
                if byte[0] == b'\n' && out.len() - start >= 2 && out[out.len() - 2] == b'\r' {
                    return Ok(start);
                }
                if out.len() - start > 64 * 1024 * 1024 {
                    return Err(proto_err("line longer than 64 MiB".into()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn parse_len(line: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| proto_err(format!("bad length {:?}", String::from_utf8_lossy(line))))
}

fn read_one<R: Read>(r: &mut R, out: &mut Vec<u8>, depth: usize) -> io::Result<()> {
    if depth > 256 {
        return Err(proto_err("reply nested deeper than 256".into()));
    }
    let start = read_line(r, out)?;
    let kind = out[start];
    let body = out[start + 1..out.len() - 2].to_vec();
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(()),
        b'$' | b'!' | b'=' => {
            let n = parse_len(&body)?;
            if n < 0 {
                return Ok(()); // RESP2 null bulk string
            }
            let n = n as usize;
            let at = out.len();
            out.resize(at + n + 2, 0);
            r.read_exact(&mut out[at..])?;
            if &out[out.len() - 2..] != b"\r\n" {
                return Err(proto_err(format!(
                    "bulk of {n} bytes not followed by CRLF: {}",
                    escape(&out[start..])
                )));
            }
            Ok(())
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = parse_len(&body)?;
            if n < 0 {
                return Ok(()); // RESP2 null array
            }
            let items = if kind == b'%' || kind == b'|' {
                n * 2
            } else {
                n
            };
            for _ in 0..items {
                read_one(r, out, depth + 1)?;
            }
            if kind == b'|' {
                // An attribute is followed by the reply it annotates.
                read_one(r, out, depth + 1)?;
            }
            Ok(())
        }
        other => Err(proto_err(format!(
            "unknown RESP type byte {:?} in {}",
            other as char,
            escape(&out[start..])
        ))),
    }
}

// ---------------------------------------------------------------------------
// Parsed replies
// ---------------------------------------------------------------------------

/// A parsed RESP2/RESP3 reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Resp {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    /// `$` bulk string; `None` is the RESP2 null bulk (`$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*` array; `None` is the RESP2 null array (`*-1`).
    Array(Option<Vec<Resp>>),
    Null,
    Double(Vec<u8>),
    Boolean(bool),
    BlobError(Vec<u8>),
    Verbatim(Vec<u8>),
    BigNumber(Vec<u8>),
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Push(Vec<Resp>),
    /// Attribute map followed by the reply it annotates.
    Attribute(Vec<(Resp, Resp)>, Box<Resp>),
}

impl Resp {
    /// The RESP type byte this value is encoded with.
    pub fn type_byte(&self) -> u8 {
        match self {
            Resp::Simple(_) => b'+',
            Resp::Error(_) => b'-',
            Resp::Integer(_) => b':',
            Resp::Bulk(_) => b'$',
            Resp::Array(_) => b'*',
            Resp::Null => b'_',
            Resp::Double(_) => b',',
            Resp::Boolean(_) => b'#',
            Resp::BlobError(_) => b'!',
            Resp::Verbatim(_) => b'=',
            Resp::BigNumber(_) => b'(',
            Resp::Map(_) => b'%',
            Resp::Set(_) => b'~',
            Resp::Push(_) => b'>',
            Resp::Attribute(..) => b'|',
        }
    }

    /// True if both values have the same type tree: same types at every
    /// level, same aggregate lengths, same nullness; scalar contents may
    /// differ.
    pub fn same_shape(&self, other: &Resp) -> bool {
        fn all(a: &[Resp], b: &[Resp]) -> bool {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_shape(y))
        }
        fn pairs(a: &[(Resp, Resp)], b: &[(Resp, Resp)]) -> bool {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((k1, v1), (k2, v2))| k1.same_shape(k2) && v1.same_shape(v2))
        }
        match (self, other) {
            (Resp::Bulk(a), Resp::Bulk(b)) => a.is_some() == b.is_some(),
            (Resp::Array(None), Resp::Array(None)) => true,
            (Resp::Array(Some(a)), Resp::Array(Some(b))) => all(a, b),
            (Resp::Set(a), Resp::Set(b)) | (Resp::Push(a), Resp::Push(b)) => all(a, b),
            (Resp::Map(a), Resp::Map(b)) => pairs(a, b),
            (Resp::Attribute(a, x), Resp::Attribute(b, y)) => pairs(a, b) && x.same_shape(y),
            (a, b) => {
                a.type_byte() == b.type_byte()
                    && !matches!(a, Resp::Array(_) | Resp::Bulk(_))
                    && !matches!(b, Resp::Array(_) | Resp::Bulk(_))
            }
        }
    }

    /// Bytes of a simple string, bulk string, verbatim string (without its
    /// `xxx:` format prefix), error or double; `None` otherwise.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Resp::Simple(b) | Resp::Error(b) | Resp::BlobError(b) => Some(b),
            Resp::Double(b) | Resp::BigNumber(b) => Some(b),
            Resp::Bulk(Some(b)) => Some(b),
            Resp::Verbatim(b) => Some(if b.len() >= 4 && b[3] == b':' {
                &b[4..]
            } else {
                b
            }),
            _ => None,
        }
    }

    /// Text of a string-like reply (lossy UTF-8).
    pub fn as_str(&self) -> Option<String> {
        self.as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// Value of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Resp::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// Elements of an array, set or push reply.
    pub fn as_array(&self) -> Option<&[Resp]> {
        match self {
            Resp::Array(Some(v)) | Resp::Set(v) | Resp::Push(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Resp::Error(_) | Resp::BlobError(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Resp::Null | Resp::Bulk(None) | Resp::Array(None))
    }
}

/// Parse one complete reply from the start of `bytes`; returns the value and
/// the number of bytes it used.
pub fn parse_reply(bytes: &[u8]) -> Result<(Resp, usize), String> {
    let mut pos = 0;
    let v = parse_at(bytes, &mut pos, 0)?;
    Ok((v, pos))
}

/// Parse a buffer that must hold exactly one reply.
pub fn parse_one(bytes: &[u8]) -> Resp {
    match parse_reply(bytes) {
        Ok((v, n)) if n == bytes.len() => v,
        Ok((_, n)) => panic!(
            "{} trailing bytes after reply {}",
            bytes.len() - n,
            escape(bytes)
        ),
        Err(e) => panic!("bad reply {}: {e}", escape(bytes)),
    }
}

fn parse_at(b: &[u8], pos: &mut usize, depth: usize) -> Result<Resp, String> {
    if depth > 256 {
        return Err("nested deeper than 256".into());
    }
    let start = *pos;
    let end = b[start..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| start + i)
        .ok_or_else(|| format!("incomplete line at offset {start}"))?;
    if end == start {
        return Err(format!("empty line at offset {start}"));
    }
    let kind = b[start];
    let body = &b[start + 1..end];
    *pos = end + 2;
    let len = || -> Result<i64, String> {
        std::str::from_utf8(body)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(body)))
    };
    let blob = |pos: &mut usize, n: i64| -> Result<Vec<u8>, String> {
        let n = usize::try_from(n).map_err(|_| format!("negative length {n}"))?;
        if b.len() < *pos + n + 2 {
            return Err("incomplete bulk".into());
        }
        if &b[*pos + n..*pos + n + 2] != b"\r\n" {
            return Err("bulk not followed by CRLF".into());
        }
        let v = b[*pos..*pos + n].to_vec();
        *pos += n + 2;
        Ok(v)
    };
    let items = |pos: &mut usize, n: i64| -> Result<Vec<Resp>, String> {
        let n = usize::try_from(n).map_err(|_| format!("negative length {n}"))?;
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            v.push(parse_at(b, pos, depth + 1)?);
        }
        Ok(v)
    };
    Ok(match kind {
        b'+' => Resp::Simple(body.to_vec()),
        b'-' => Resp::Error(body.to_vec()),
        b':' => Resp::Integer(len()?),
        b'_' => Resp::Null,
        b',' => Resp::Double(body.to_vec()),
        b'(' => Resp::BigNumber(body.to_vec()),
        b'#' => match body {
            b"t" => Resp::Boolean(true),
            b"f" => Resp::Boolean(false),
            _ => return Err(format!("bad boolean {:?}", String::from_utf8_lossy(body))),
        },
        b'$' => {
            let n = len()?;
            if n < 0 {
                Resp::Bulk(None)
            } else {
                Resp::Bulk(Some(blob(pos, n)?))
            }
        }
        b'!' => Resp::BlobError(blob(pos, len()?)?),
        b'=' => Resp::Verbatim(blob(pos, len()?)?),
        b'*' => {
            let n = len()?;
            if n < 0 {
                Resp::Array(None)
            } else {
                Resp::Array(Some(items(pos, n)?))
            }
        }
        b'~' => Resp::Set(items(pos, len()?)?),
        b'>' => Resp::Push(items(pos, len()?)?),
        b'%' | b'|' => {
            let flat = items(pos, len()?.saturating_mul(2))?;
            let mut it = flat.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            if kind == b'%' {
                Resp::Map(pairs)
            } else {
                let inner = parse_at(b, pos, depth + 1)?;
                Resp::Attribute(pairs, Box::new(inner))
            }
        }
        other => return Err(format!("unknown type byte {:?}", other as char)),
    })
}

/// Printable form of raw bytes: `\r`, `\n`, `\t`, `\\`, `"` escaped, other
/// non-printable bytes as `\xHH`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    for &c in bytes {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s
}

// --- typed helpers over `redis::Connection` ---------------------------------

/// Runs a command given as argument slices and converts its reply.
pub fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&[u8]]) -> T {
    let mut r = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        r.arg(*a);
    }
    r.query(c)
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(&args.join(&b' '))))
}

/// Runs a command given as space-separated words.
pub fn w<T: redis::FromRedisValue>(c: &mut redis::Connection, line: &str) -> T {
    let args: Vec<&[u8]> = line.split(' ').map(|s| s.as_bytes()).collect();
    q(c, &args)
}

/// The error text (`CODE detail`) of a command that must fail.
pub fn err(c: &mut redis::Connection, line: &str) -> String {
    let args: Vec<&str> = line.split(' ').collect();
    let mut r = redis::cmd(args[0]);
    for a in &args[1..] {
        r.arg(*a);
    }
    match r.query::<redis::Value>(c) {
        Err(e) => {
            // redis-rs splits "CODE detail"; put it back together.
            let code = e.code().unwrap_or("");
            let detail = e.detail().unwrap_or("");
            format!("{code} {detail}")
        }
        Ok(v) => panic!("{line}: expected an error, got {v:?}"),
    }
}

/// Raw reply bytes of a command given as space-separated words.
pub fn raw(c: &mut RawConn, line: &str) -> Vec<u8> {
    let args: Vec<&[u8]> = line.split(' ').map(|s| s.as_bytes()).collect();
    cmd(c, &args)
}

/// [`raw`] as (lossy) text.
pub fn raw_s(c: &mut RawConn, line: &str) -> String {
    String::from_utf8_lossy(&raw(c, line)).into_owned()
}

/// OBJECT ENCODING of `key`.
pub fn encoding(c: &mut redis::Connection, key: &str) -> String {
    w(c, &format!("OBJECT ENCODING {key}"))
}

/// One field of an INFO section, read over a new connection.
pub fn info_field(server: &Server, section: &str, name: &str) -> String {
    let mut c = server.client();
    let text: String = redis::cmd("INFO").arg(section).query(&mut c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in INFO {section}"))
        .trim()
        .to_string()
}

/// `rdb_changes_since_last_save`.
pub fn dirty(server: &Server) -> u64 {
    info_field(server, "persistence", "rdb_changes_since_last_save")
        .parse()
        .unwrap()
}

/// Polls `cond` every few milliseconds; panics naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Asserts that nothing arrives on `c` within `d` (and nothing is buffered).
pub fn no_reply_within(c: &mut RawConn, d: Duration) {
    assert!(c.buffered().is_empty(), "unexpected {:?}", c.buffered());
    c.stream.set_read_timeout(Some(d)).unwrap();
    let mut b = [0u8; 1];
    let got = c.read(&mut b);
    c.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    match got {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected no reply, got {other:?} {b:?}"),
    }
}

// ---------------------------------------------------------------------------
// Scenarios checked against forkv and Redis
// ---------------------------------------------------------------------------

/// Runs `scenario` on forkv, then on real Redis when it is installed (with
/// the same extra arguments), so the replies a scenario expects are checked
/// to be Redis's own.
pub fn on_forkv_and_redis(args: &[&str], scenario: impl Fn(&Server)) {
    eprintln!("scenario on forkv");
    let forkv = start(args);
    scenario(&forkv);
    drop(forkv);
    match start_redis(args) {
        Some(redis) => {
            eprintln!("scenario on redis-server");
            scenario(&redis);
        }
        None => eprintln!("redis-server not found: scenario checked on forkv only"),
    }
}

/// Sends a command written as space-separated words and reads its reply.
pub fn line<S: Read + Write>(conn: &mut S, words: &str) -> Vec<u8> {
    let args: Vec<&[u8]> = words.split_whitespace().map(|a| a.as_bytes()).collect();
    cmd(conn, &args)
}

/// Asserts the exact reply to a command written as space-separated words.
#[track_caller]
pub fn expect<S: Read + Write>(conn: &mut S, words: &str, want: &str) {
    let got = line(conn, words);
    assert_eq!(escape(&got), escape(want.as_bytes()), "{words}");
}

/// A field of `INFO section`.
pub fn info_value<S: Read + Write>(conn: &mut S, section: &str, name: &str) -> String {
    let raw = line(conn, &format!("INFO {section}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in INFO {section}"))
        .trim()
        .to_string()
}

/// One key of a dataset as [`dataset`] reads it: type, value in a
/// canonical form (members sorted for sets and hashes), and the absolute
/// expiry deadline in ms (-1: none).
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDump {
    pub kind: String,
    pub value: Vec<Vec<u8>>,
    pub deadline: i64,
}

/// Every key of every database of the server at `port` (databases 0-15),
/// by (db, key), for comparing two datasets.
#[allow(dead_code)]
pub fn dataset(server: &Server) -> std::collections::BTreeMap<(u8, Vec<u8>), KeyDump> {
    let mut out = std::collections::BTreeMap::new();
    let mut c = server.client();
    for db in 0u8..16 {
        redis::cmd("SELECT").arg(db).query::<()>(&mut c).unwrap();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut c)
                .unwrap();
            for k in keys {
                let kind: String = redis::cmd("TYPE").arg(&k).query(&mut c).unwrap();
                let mut value: Vec<Vec<u8>> = match kind.as_str() {
                    "string" => vec![redis::cmd("GET").arg(&k).query(&mut c).unwrap()],
                    "list" => redis::cmd("LRANGE")
                        .arg(&k)
                        .arg(0)
                        .arg(-1)
                        .query(&mut c)
                        .unwrap(),
                    "set" => redis::cmd("SMEMBERS").arg(&k).query(&mut c).unwrap(),
                    "zset" => redis::cmd("ZRANGE")
                        .arg(&k)
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES")
                        .query(&mut c)
                        .unwrap(),
                    "hash" => {
                        let pairs: Vec<(Vec<u8>, Vec<u8>)> =
                            redis::cmd("HGETALL").arg(&k).query(&mut c).unwrap();
                        let mut v: Vec<Vec<u8>> = pairs
                            .into_iter()
                            .map(|(f, v)| [f, b"=".to_vec(), v].concat())
                            .collect();
                        v.sort();
                        v
                    }
                    "stream" => {
                        let entries: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
                            .arg(&k)
                            .arg("-")
                            .arg("+")
                            .query(&mut c)
                            .unwrap();
                        entries
                            .into_iter()
                            .map(|(id, items)| [id.into_bytes(), items.join(&b' ')].join(&b'='))
                            .collect()
                    }
                    "none" => continue, // expired between SCAN and TYPE
                    other => vec![other.as_bytes().to_vec()],
                };
                if kind == "set" {
                    value.sort();
                }
                let deadline: i64 = redis::cmd("PEXPIRETIME").arg(&k).query(&mut c).unwrap();
                out.insert(
                    (db, k),
                    KeyDump {
                        kind,
                        value,
                        deadline,
                    },
                );
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    out
}

/// Differences between two datasets (see [`dataset`]), ignoring keys that
/// expire within `margin_ms` of now on either side (they may expire
/// between the two reads). Empty when they agree.
#[allow(dead_code)]
pub fn dataset_diff(
    a: &std::collections::BTreeMap<(u8, Vec<u8>), KeyDump>,
    b: &std::collections::BTreeMap<(u8, Vec<u8>), KeyDump>,
    margin_ms: i64,
) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let soon = |d: &KeyDump| d.deadline >= 0 && d.deadline < now + margin_ms;
    let mut out = Vec::new();
    for (k, va) in a {
        match b.get(k) {
            Some(vb) if va == vb => {}
            Some(vb) if soon(va) || soon(vb) => {}
            None if soon(va) => {}
            Some(vb) => out.push(format!("db {} key {}: {va:?} vs {vb:?}", k.0, escape(&k.1))),
            None => out.push(format!(
                "db {} key {} missing on the replay side",
                k.0,
                escape(&k.1)
            )),
        }
    }
    for (k, vb) in b {
        if !a.contains_key(k) && !soon(vb) {
            out.push(format!(
                "db {} key {} only on the replay side: {vb:?}",
                k.0,
                escape(&k.1)
            ));
        }
    }
    out
}

/// A server whose write-effect stream is recorded from the start; when the
/// test ends (without panicking) the recording is replayed into a fresh
/// server and the two datasets must agree. Derefs to [`Server`].
#[allow(dead_code)]
pub struct Recorded {
    pub server: Server,
    path: PathBuf,
}

impl std::ops::Deref for Recorded {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{}/", self.server.port))
            .and_then(|cl| cl.get_connection_with_timeout(READ_TIMEOUT))
        else {
            return; // the test shut the server down: nothing to compare
        };
        let _: () = redis::cmd("DEBUG")
            .arg("EFFECTS")
            .arg("LOG")
            .arg("off")
            .query(&mut c)
            .expect("DEBUG EFFECTS LOG off");
        let original = dataset(&self.server);
        let fresh = start(&[]);
        let n: i64 = redis::cmd("DEBUG")
            .arg("EFFECTS")
            .arg("REPLAY")
            .arg(self.path.display().to_string())
            .query(&mut fresh.client())
            .unwrap_or_else(|e| panic!("replaying the write-effect stream: {e}"));
        let diff = dataset_diff(&original, &dataset(&fresh), 3000);
        assert!(
            diff.is_empty(),
            "the write-effect stream ({n} commands) replays to another dataset:\n{}",
            diff.join("\n")
        );
    }
}

/// Starts forkv with its write-effect stream recorded (see [`Recorded`]).
#[allow(dead_code)]
pub fn start_recorded() -> Recorded {
    let server = start(&[]);
    let path = server.dir.join("effects.resp");
    let _: () = redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("LOG")
        .arg(path.display().to_string())
        .query(&mut server.client())
        .expect("DEBUG EFFECTS LOG");
    Recorded { server, path }
}

/// Timeout arguments Redis 7.0 refuses, with its replies: milliseconds
/// (`ceil(seconds * 1000)` in long double) that are negative or do not fit,
/// and text that is not a float.
pub const BAD_TIMEOUTS: &[(&str, &str)] = &[
    ("-0.0011", "-ERR timeout is negative\r\n"),
    ("-1", "-ERR timeout is negative\r\n"),
    ("inf", "-ERR timeout is negative\r\n"),
    ("1e20", "-ERR timeout is negative\r\n"),
    ("nan", "-ERR timeout is not a float or out of range\r\n"),
    (" 1", "-ERR timeout is not a float or out of range\r\n"),
    ("1 ", "-ERR timeout is not a float or out of range\r\n"),
];

/// Sends each command of `commands` once per [`BAD_TIMEOUTS`] entry, with
/// the argument `T` replaced by the timeout, and asserts Redis's reply.
pub fn assert_bad_timeouts(c: &mut RawConn, commands: &[&[&str]]) {
    for (t, want) in BAD_TIMEOUTS {
        for command in commands {
            let args: Vec<&[u8]> = command
                .iter()
                .map(|a| {
                    if *a == "T" {
                        t.as_bytes()
                    } else {
                        a.as_bytes()
                    }
                })
                .collect();
            assert_eq!(
                escape(&cmd(c, &args)),
                escape(want.as_bytes()),
                "{command:?} {t:?}"
            );
        }
    }
}

/// Blocking-timeout check shared by the list and sorted-set tests: sends
/// `block` (its arguments) on a new connection, asserts it is still waiting
/// after 200 ms, sends `serve` (space-separated words) on `other` and
/// returns the reply the blocked client then gets.
pub fn blocked_until_served(
    server: &Server,
    block: &[&str],
    other: &mut RawConn,
    serve: &str,
) -> Vec<u8> {
    let mut c = server.raw_conn();
    let args: Vec<&[u8]> = block.iter().map(|a| a.as_bytes()).collect();
    send(&mut c, &args);
    no_reply_within(&mut c, Duration::from_millis(200));
    line(other, serve);
    read_reply(&mut c)
}

/// Starts recording the server's write-effect stream (`DEBUG EFFECTS LOG`)
/// into a file of its directory; returns the file's path.
pub fn record_effects(server: &Server) -> PathBuf {
    let path = server.dir.join("effects.resp");
    let mut c = server.client();
    let _: () = redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("LOG")
        .arg(path.to_str().expect("utf-8 path"))
        .query(&mut c)
        .expect("DEBUG EFFECTS LOG");
    path
}

/// Stops the recording [`record_effects`] started; the recorded commands,
/// names uppercased, as strings.
pub fn recorded_effects(server: &Server, path: &Path) -> Vec<Vec<String>> {
    let mut c = server.client();
    let _: () = redis::cmd("DEBUG")
        .arg("EFFECTS")
        .arg("LOG")
        .arg("off")
        .query(&mut c)
        .expect("DEBUG EFFECTS LOG off");
    let data = fs::read(path).expect("read the recording");
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (r, used) = parse_reply(&data[pos..]).expect("a recorded command");
        pos += used;
        let Resp::Array(Some(items)) = r else {
            panic!("not a command: {r:?}")
        };
        out.push(
            items
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let s = a.as_str().expect("a string argument");
                    if i == 0 { s.to_ascii_uppercase() } else { s }
                })
                .collect(),
        );
    }
    out
}
