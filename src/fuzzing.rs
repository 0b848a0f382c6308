//! Fuzzing harnesses: the code behind the `cargo fuzz` targets in `fuzz/`
//! and the regression replay in `tests/fuzz_regressions.rs`.
//!
//! Each entry point takes arbitrary bytes, drives one part of the server
//! with them and panics (or aborts, for an oversized allocation) when it
//! finds a bug: a panic inside forkv, a broken keyspace invariant, a
//! malformed reply, or a decoder whose answer depends on how the bytes were
//! split into reads. Nothing here does I/O, forks, sleeps or blocks.
//!
//! - [`decode_requests`]: the request decoder (RESP multibulk and inline),
//!   fed in fragments the way socket reads arrive.
//! - [`execute_commands`]: a request stream executed against a fresh
//!   in-memory server state, checking invariants after every command and
//!   the framing of every reply in RESP2 and RESP3.
//! - [`load_snapshot`]: the snapshot decoder and loader on arbitrary bytes
//!   (optionally with valid checksums patched in, so mutations reach the
//!   record decoder).
//!
//! [`CappedAlloc`] is the global allocator the fuzz targets and the replay
//! test install: it counts like [`crate::alloc::Counting`] and aborts on a
//! single allocation larger than the harness allows, which is how an
//! allocation sized by an unchecked length shows up as a crash.

use crate::cmd;
use crate::config::Config;
use crate::db::Keyspace;
use crate::persist::format::{self, BLOCK_HEADER_LEN, BLOCK_MAGIC, FOOTER_MAGIC, MAGIC};
use crate::protocol::{Decoded, Decoder, Limits, Output, Reply, decode};
use crate::server::client::{Blocked, Client};
use crate::server::state::ServerState;
use bytes::{Bytes, BytesMut};
use std::alloc::{GlobalAlloc, Layout};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

// ------------------------------------------------------------ allocations

thread_local! {
    /// Largest single allocation allowed on this thread (bytes).
    static ALLOC_CAP: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Printed before aborting on an oversized allocation (e.g. the name
    /// of the input being replayed).
    static ABORT_NOTE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Sets a note (such as the input file's name) that is printed if an
/// oversized allocation aborts the process on this thread.
pub fn set_abort_note(note: &str) {
    ABORT_NOTE.with(|n| {
        let mut n = n.borrow_mut();
        n.clear();
        n.push_str(note);
    });
}

/// A global allocator for fuzzing: [`crate::alloc::Counting`] plus a cap on
/// the size of any single allocation made by a harness. Exceeding the cap
/// prints the size and aborts, so libFuzzer records the input as a crash
/// (an allocation driven by an unchecked length is otherwise invisible:
/// untouched pages never count against the RSS limit).
pub struct CappedAlloc;

fn check_cap(size: usize) {
    let cap = ALLOC_CAP.try_with(Cell::get).unwrap_or(usize::MAX);
    if size > cap {
        let mut msg =
            *b"forkv fuzzing: allocation of 0x0000000000000000 bytes exceeds the harness cap\n";
        let digits = b"0123456789abcdef";
        for i in 0..16 {
            msg[31 + i] = digits[(size >> (60 - 4 * i)) & 0xf];
        }
        // SAFETY: writes existing buffers to stderr; no allocation.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
        }
        let _ = ABORT_NOTE.try_with(|n| {
            if let Ok(n) = n.try_borrow()
                && !n.is_empty()
            {
                // SAFETY: as above.
                unsafe {
                    libc::write(2, n.as_ptr().cast(), n.len());
                    libc::write(2, b"\n".as_ptr().cast(), 1);
                }
            }
        });
        std::process::abort();
    }
}

// SAFETY: delegates to `Counting` (which delegates to the system allocator)
// after a check that allocates nothing.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check_cap(layout.size());
        unsafe { crate::alloc::Counting.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check_cap(layout.size());
        unsafe { crate::alloc::Counting.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { crate::alloc::Counting.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check_cap(new_size);
        unsafe { crate::alloc::Counting.realloc(ptr, layout, new_size) }
    }
}

/// Sets the allocation cap for the current thread until dropped.
struct CapGuard(usize);

impl CapGuard {
    fn new(cap: usize) -> Self {
        CapGuard(ALLOC_CAP.with(|c| c.replace(cap)))
    }
}

impl Drop for CapGuard {
    fn drop(&mut self) {
        ALLOC_CAP.with(|c| c.set(self.0));
    }
}

// ------------------------------------------------------------ request decoder

/// How one decoding run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// All bytes consumed or waiting for more.
    Incomplete,
    /// A protocol error (its text).
    Error(String),
}

/// Requests decoded in one run, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    requests: Vec<Vec<Vec<u8>>>,
    end: End,
}

impl Run {
    /// True if the run ended on one of the "too big" errors, whose timing
    /// depends on how much had arrived (as in Redis).
    fn too_big(&self) -> bool {
        matches!(&self.end, End::Error(e) if e.starts_with("too big"))
    }
}

/// Feeds `body` to the decoder in fragments of the given sizes (cycled),
/// exactly like the connection loop does: decode only once the buffer has
/// reached the length the previous `Incomplete` asked for, then take every
/// complete request.
fn decode_run(body: &[u8], sizes: &[usize], limits: Limits) -> Run {
    let mut buf = BytesMut::new();
    // Keeps its place across fragments; the whole-input run below uses a
    // fresh one per request, so the two must agree.
    let mut decoder = Decoder::default();
    let mut need = 1usize;
    let mut requests = Vec::new();
    let mut rest = body;
    let mut k = 0;
    while !rest.is_empty() {
        let n = sizes[k % sizes.len()].clamp(1, rest.len());
        k += 1;
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if buf.len() < need {
            // The hint promised nothing can be decoded yet: check it.
            let mut copy = buf.clone();
            match decode(&mut copy, limits) {
                Ok(Decoded::Incomplete(_)) => {}
                other => panic!(
                    "decoder asked for {need} bytes but decodes {other:?} from {} bytes",
                    buf.len()
                ),
            }
            assert_eq!(copy, buf, "an incomplete decode consumed bytes");
            continue;
        }
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf, limits) {
                Ok(Decoded::Request(args)) => {
                    assert!(buf.len() < before, "a request consumed no bytes");
                    requests.push(args.iter().map(|a| a.to_vec()).collect());
                }
                Ok(Decoded::Incomplete(n)) => {
                    assert_eq!(buf.len(), before, "an incomplete decode consumed bytes");
                    assert!(
                        n > buf.len(),
                        "Incomplete({n}) with {} bytes buffered",
                        buf.len()
                    );
                    need = n;
                    break;
                }
                Err(e) => {
                    assert!(!e.0.is_empty(), "empty protocol error");
                    return Run {
                        requests,
                        end: End::Error(e.0),
                    };
                }
            }
        }
    }
    Run {
        requests,
        end: End::Incomplete,
    }
}

/// Fuzz entry point for the request decoder.
///
/// Input layout: byte 0 chooses the limits (bits 0-1: `proto-max-bulk-len`
/// of 512 MB, 1 MB, 16 or 0 bytes; bit 2: unauthenticated client; bit 3:
/// insert 65 KiB of filler so the size guards are reachable), bytes 1-3
/// are fragment sizes (cycled), and the rest is the byte stream a client
/// sends. The stream is decoded in one piece, in those fragments, and (up
/// to 4 KiB) byte by byte; all must give the same requests and the same
/// error, and a request must always consume bytes, except that the
/// "too big" guards may fire earlier on a fragmented stream (as in Redis,
/// they depend on what has arrived), in which case the fragmented requests
/// must be a prefix of the whole ones.
pub fn decode_requests(data: &[u8]) {
    let _cap = CapGuard::new(64 * 1024 * 1024);
    let mut head = [0u8; 4];
    let n = data.len().min(4);
    head[..n].copy_from_slice(&data[..n]);
    let body = &data[n..];
    let limits = Limits {
        max_bulk_len: [512 * 1024 * 1024, 1024 * 1024, 16, 0][(head[0] & 3) as usize],
        unauthenticated: head[0] & 4 != 0,
    };
    let expanded;
    let mut scale = 1;
    let body = if head[0] & 8 != 0 && !body.is_empty() {
        let at = head[3] as usize * body.len() / 256;
        // A long run without a line end is what reaches the guards; a run of
        // separators would only make 65,536 tiny requests (slow, no news).
        let fill = match body[at] {
            b'\n' | b' ' | b'\t' | b'\r' | 0x0b | 0x0c | 0 => b'x',
            b => b,
        };
        let mut v = Vec::with_capacity(body.len() + 65 * 1024);
        v.extend_from_slice(&body[..at]);
        v.resize(at + 65 * 1024, fill);
        v.extend_from_slice(&body[at..]);
        expanded = v;
        scale = 8192;
        &expanded[..]
    } else {
        body
    };
    let sizes: Vec<usize> = head[1..]
        .iter()
        .map(|&b| (b as usize % 97 + 1) * scale)
        .collect();
    let whole = decode_run(body, &[body.len().max(1)], limits);
    let pieces = decode_run(body, &sizes, limits);
    let bytewise = if body.len() <= 4096 {
        Some(decode_run(body, &[1], limits))
    } else {
        None
    };
    for frag in std::iter::once(&pieces).chain(bytewise.as_ref()) {
        if frag.too_big() {
            assert!(
                whole.requests.starts_with(&frag.requests),
                "fragmented decoding gave other requests before a size error\nwhole: {whole:?}\nfragmented: {frag:?}"
            );
        } else {
            assert_eq!(
                &whole, frag,
                "decoding in one piece and in fragments differ"
            );
        }
    }
}

// ------------------------------------------------------------ command execution

/// Commands the execution harness never runs: they fork, write files,
/// sleep, end the process, take over the connection (MONITOR, SUBSCRIBE,
/// replication), or (DEBUG) exist to do such things.
const SKIPPED_COMMANDS: &[&str] = &[
    "shutdown",
    "save",
    "bgsave",
    "bgrewriteaof",
    "debug",
    "sync",
    "psync",
    "replicaof",
    "slaveof",
    "failover",
    "module",
    "wait",
    "waitaof",
    "client|pause",
    "config|rewrite",
    "subscribe",
    "psubscribe",
    "ssubscribe",
];

/// Parameters CONFIG SET may not touch in the harness: they would write
/// files (save points make FLUSHALL save), open sockets, change process
/// limits, or lift
/// the bounds that keep one input's memory and time small.
const SKIPPED_CONFIG: &[&str] = &[
    "save",
    "dir",
    "dbfilename",
    "logfile",
    "pidfile",
    "maxclients",
    "port",
    "bind",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "appendonly",
    "daemonize",
];

/// Largest argument the harness passes to a command.
const MAX_ARG: usize = 64 * 1024;
/// Execution stops once the keyspace holds this many keys.
const MAX_KEYS: usize = 10_000;
/// `proto-max-bulk-len` of the harness server (it bounds string growth:
/// SETRANGE, APPEND, and LCS's table).
const HARNESS_MAX_BULK: u64 = 1024 * 1024;

/// Why the harness declines a request (it is not executed).
fn skip_reason(args: &[Bytes]) -> Option<&'static str> {
    if args.iter().any(|a| a.len() > MAX_ARG) {
        return Some("argument too large");
    }
    let Ok(c) = cmd::resolve(args) else {
        return None;
    };
    let top = c.name.split('|').next().unwrap_or(c.name);
    if SKIPPED_COMMANDS.contains(&c.name) || SKIPPED_COMMANDS.contains(&top) {
        return Some("command not run by the harness");
    }
    if c.name == "config|set" {
        for name in args.iter().skip(2).step_by(2) {
            if SKIPPED_CONFIG
                .iter()
                .any(|p| p.as_bytes().eq_ignore_ascii_case(name))
            {
                return Some("configuration parameter not set by the harness");
            }
        }
    }
    None
}

/// Checks that `bytes` is exactly the RESP encoding of zero or more
/// (`many`) or exactly one value, in protocol version `resp`.
fn check_resp(bytes: &[u8], resp: u8, many: bool) -> Result<(), String> {
    let mut pos = 0;
    let mut n = 0;
    while pos < bytes.len() {
        resp_value(bytes, &mut pos, resp, 0)?;
        n += 1;
    }
    if !many && n != 1 {
        return Err(format!("{n} values where one was expected"));
    }
    Ok(())
}

fn resp_line<'a>(b: &'a [u8], pos: &mut usize) -> Result<&'a [u8], String> {
    let start = *pos;
    let Some(cr) = b[start..].iter().position(|&c| c == b'\r') else {
        return Err(format!("unterminated line at {start}"));
    };
    let end = start + cr;
    if b.get(end + 1) != Some(&b'\n') {
        return Err(format!("CR without LF at {end}"));
    }
    let line = &b[start..end];
    if line.contains(&b'\n') {
        return Err(format!("LF inside a line at {start}"));
    }
    *pos = end + 2;
    Ok(line)
}

fn resp_int(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| format!("bad integer {:?}", String::from_utf8_lossy(line)))
}

fn resp_value(b: &[u8], pos: &mut usize, resp: u8, depth: usize) -> Result<(), String> {
    if depth > 64 {
        return Err("replies nested deeper than 64".into());
    }
    let at = *pos;
    let t = b[at];
    *pos += 1;
    let v3_only = matches!(
        t,
        b'_' | b',' | b'#' | b'=' | b'%' | b'~' | b'>' | b'(' | b'!'
    );
    if v3_only && resp < 3 {
        return Err(format!("RESP3 type '{}' sent to a RESP2 client", t as char));
    }
    let line = resp_line(b, pos)?;
    match t {
        b'+' => {}
        b'-' => {
            if line.is_empty() {
                return Err("empty error".into());
            }
        }
        b':' => {
            resp_int(line)?;
        }
        b'(' => {
            let s = line.strip_prefix(b"-").unwrap_or(line);
            if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
                return Err("bad big number".into());
            }
        }
        b'_' => {
            if !line.is_empty() {
                return Err("null with a payload".into());
            }
        }
        b'#' => {
            if line != b"t" && line != b"f" {
                return Err("bad boolean".into());
            }
        }
        b',' => {
            let s = std::str::from_utf8(line).map_err(|_| "double is not UTF-8")?;
            if !matches!(s, "inf" | "-inf" | "nan") && s.parse::<f64>().is_err() {
                return Err(format!("bad double {s:?}"));
            }
        }
        b'$' | b'=' | b'!' => {
            let n = resp_int(line)?;
            if n == -1 && t == b'$' && resp < 3 {
                return Ok(());
            }
            if n < 0 {
                return Err(format!("negative length {n} at {at}"));
            }
            let n = n as usize;
            if b.len() - *pos < n + 2 || &b[*pos + n..*pos + n + 2] != b"\r\n" {
                return Err(format!("bulk of {n} bytes at {at} is not framed"));
            }
            if t == b'=' && (n < 4 || b[*pos + 3] != b':') {
                return Err("verbatim string without a format".into());
            }
            *pos += n + 2;
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = resp_int(line)?;
            if n == -1 && t == b'*' && resp < 3 {
                return Ok(());
            }
            if n < 0 {
                return Err(format!("negative count {n} at {at}"));
            }
            let items = if t == b'%' { n * 2 } else { n };
            for _ in 0..items {
                if *pos >= b.len() {
                    return Err(format!("aggregate at {at} announces {n} items, has fewer"));
                }
                resp_value(b, pos, resp, depth + 1)?;
            }
        }
        other => return Err(format!("unknown type byte {other:#x} at {at}")),
    }
    Ok(())
}

/// Encodes `reply` for `resp` and checks the bytes are one well-formed value.
fn check_encoding(reply: &Reply, resp: u8, args: &[Bytes]) {
    let mut out = Output::default();
    out.encode(reply, resp);
    let len = out.len();
    let bytes: Vec<u8> = out.take().concat();
    assert_eq!(len, bytes.len(), "Output::len disagrees with its chunks");
    // A pre-encoded reply may be empty (SHUTDOWN closes without one); a
    // `Many` is several values (a MONITOR client's reply and its own line).
    let many = matches!(reply, Reply::Raw(b) if b.is_empty()) || matches!(reply, Reply::Many(_));
    if let Err(e) = check_resp(&bytes, resp, many) {
        panic!(
            "malformed RESP{resp} reply to {:?}: {e}\nreply: {reply:?}\nbytes: {:?}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// Checks a reply for a client speaking `resp`: a typed reply must encode
/// well in both protocol versions; a pre-encoded one (`Reply::Raw`, which
/// handlers build for the caller's version) in the caller's.
fn check_reply(reply: &Reply, resp: u8, args: &[Bytes]) {
    if matches!(reply, Reply::Raw(_)) {
        check_encoding(reply, resp, args);
    } else {
        check_encoding(reply, 2, args);
        check_encoding(reply, 3, args);
    }
}

/// A connection of the execution harness.
fn connect(srv: &mut ServerState) -> Rc<RefCell<Client>> {
    let id = srv.next_client_id;
    srv.next_client_id += 1;
    let authenticated = srv.config.requirepass.is_none();
    let c = Rc::new(RefCell::new(Client::new(
        id,
        format!("127.0.0.1:{}", 40000 + id),
        "127.0.0.1:6379".to_string(),
        -1,
        authenticated,
        crate::db::now_ms(),
    )));
    srv.links.insert(id, c.borrow().link.clone());
    srv.clients.insert(id, c.clone());
    c
}

/// Closes a connection the way the connection task does (leaving the
/// blocking lists) and opens a new one in its place.
fn reconnect(srv: &mut ServerState, slot: &mut Rc<RefCell<Client>>) {
    {
        let mut c = slot.borrow_mut();
        if let Some(b) = c.blocked.take() {
            srv.blocking.unblock(c.id, b.db, &b.keys);
        }
        srv.client_closed(&mut c);
        srv.clients.remove(&c.id);
        srv.links.remove(&c.id);
    }
    *slot = connect(srv);
}

/// Parks the client if its command asked to block, as the connection loop
/// does (the harness times clients out only on `__timeout`). True if parked.
fn park_if_blocking(srv: &mut ServerState, c: &mut Client, args: &[Bytes]) -> bool {
    let Some(req) = c.block_request.take() else {
        return false;
    };
    srv.blocking.block(c.id, c.db, &req.keys);
    let db = c.db;
    c.blocked = Some(Blocked {
        args: req.rerun.unwrap_or_else(|| args.to_vec()),
        db,
        keys: req.keys,
        deadline: None,
        on_timeout: req.on_timeout,
    });
    true
}

/// Checks the output other clients' turns queued for each client: a
/// sequence of well-formed values in the client's protocol.
fn drain_pending(clients: &[Rc<RefCell<Client>>], args: &[Bytes]) {
    for c in clients {
        let (bytes, resp) = {
            let mut c = c.borrow_mut();
            let bytes: Vec<u8> = c.out.take().concat();
            (bytes, c.resp)
        };
        if let Err(e) = check_resp(&bytes, resp, true) {
            panic!(
                "malformed RESP{resp} output queued after {args:?}: {e}\nbytes: {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}

/// The blocking lists agree with the clients' own state.
fn check_blocking(srv: &ServerState, clients: &[Rc<RefCell<Client>>], args: &[Bytes]) {
    let parked = clients
        .iter()
        .filter(|c| c.borrow().blocked.is_some())
        .count();
    assert_eq!(
        srv.blocking.blocked_clients(),
        parked,
        "blocked-client count disagrees with the clients after {args:?}"
    );
    assert!(
        parked > 0 || srv.blocking.is_empty(),
        "waiters left with no client blocked after {args:?}"
    );
    for c in clients {
        assert!(
            c.borrow().block_request.is_none(),
            "a block request was left pending after {args:?}"
        );
    }
}

/// Fuzz entry point for command execution.
///
/// The input is a client byte stream (RESP or inline requests), decoded
/// with the caller's limits and executed one request at a time against a
/// fresh in-memory server (16 databases, `proto-max-bulk-len` 1 MB, no save
/// points) by one of two connected clients, as the connection loop does:
/// a blocking command that finds nothing parks its client (the other client
/// becomes the caller), writes serve parked clients in order, replies queued
/// for another client are checked too. After every command the keyspace
/// invariants must hold, the blocking lists must agree with the clients,
/// and every reply must encode to one well-formed value in RESP2 and RESP3.
///
/// Harness-only requests (never sent to the server): `__cron` runs the
/// cron housekeeping and the active expiry cycle, `__switch` makes the
/// other client the caller, `__reconnect` replaces the caller with a new
/// connection, `__timeout` times out every parked client. A client that
/// QUIT or was killed is replaced the same way; a parked caller's requests
/// are skipped (the server would only buffer them). Requests that would
/// fork, write files, sleep or exit are skipped (see `SKIPPED_COMMANDS`),
/// and so is any argument over 64 KiB; execution stops at a protocol error
/// or once 10,000 keys exist.
pub fn execute_commands(data: &[u8]) {
    let _cap = CapGuard::new(64 * 1024 * 1024);
    let mut config = Config::default();
    config.save.clear();
    config.proto_max_bulk_len = HARNESS_MAX_BULK;
    config.databases = 16;
    let mut srv = ServerState::new(config, cmd::table().cmds.len());
    srv.scripts.fuzz_limits = true;
    let mut clients = [connect(&mut srv), connect(&mut srv)];
    let mut cur = 0;
    let mut buf = BytesMut::from(data);
    loop {
        let client = clients[cur].clone();
        let limits = Limits {
            max_bulk_len: srv.config.proto_max_bulk_len.min(i64::MAX as u64) as i64,
            unauthenticated: !client.borrow().authenticated,
        };
        let args = match decode(&mut buf, limits) {
            Ok(Decoded::Request(args)) => args,
            Ok(Decoded::Incomplete(_)) | Err(_) => break,
        };
        if args.is_empty() {
            continue;
        }
        let now = crate::db::now_ms();
        let name = args[0].to_ascii_lowercase();
        match &name[..] {
            b"__cron" => {
                srv.ks
                    .active_expire_cycle(now, std::time::Duration::from_millis(5));
                srv.drain_keyspace_events(None);
                srv.tracking_limit_keys(None);
                srv.tracking_end_of_turn(None);
                srv.ks.cron(std::time::Duration::from_millis(5), true);
                check_keyspace(&srv, &args);
                continue;
            }
            b"__switch" => {
                cur = 1 - cur;
                continue;
            }
            b"__lua" if args.len() >= 2 => {
                // EVAL of a script built from Lua fragments: each byte of
                // the first argument picks one; the rest are keys.
                let script = lua_script(&args[1]);
                let mut eval = vec![
                    Bytes::from_static(b"EVAL"),
                    Bytes::from(script),
                    Bytes::from((args.len() - 2).to_string()),
                ];
                eval.extend_from_slice(&args[2..]);
                let mut c = client.borrow_mut();
                let reply = cmd::execute(&mut srv, &mut c, &eval, now).into_reply();
                srv.tracking_after_command(&mut c);
                let resp = c.resp;
                drop(c);
                if let Some(r) = &reply {
                    check_reply(r, resp, &eval);
                }
                drain_pending(&clients, &eval);
                check_keyspace(&srv, &eval);
                continue;
            }
            b"__reconnect" => {
                reconnect(&mut srv, &mut clients[cur]);
                check_blocking(&srv, &clients, &args);
                continue;
            }
            b"__timeout" => {
                for c in &clients {
                    let mut c = c.borrow_mut();
                    if let Some(b) = c.blocked.take() {
                        srv.blocking.unblock(c.id, b.db, &b.keys);
                        c.send(&b.on_timeout);
                    }
                }
                drain_pending(&clients, &args);
                check_blocking(&srv, &clients, &args);
                continue;
            }
            _ => {}
        }
        if client.borrow().blocked.is_some() || skip_reason(&args).is_some() {
            continue;
        }
        let (reply, resp, closed, parked) = {
            let mut c = client.borrow_mut();
            let reply = cmd::execute(&mut srv, &mut c, &args, now).into_reply();
            srv.tracking_after_command(&mut c);
            let parked = park_if_blocking(&mut srv, &mut c, &args);
            (
                reply,
                c.resp,
                c.close_after_reply || c.link.is_killed(),
                parked,
            )
        };
        if parked {
            assert!(reply.is_none(), "a parked client got a reply to {args:?}");
        } else if !srv.blocking.is_empty() {
            cmd::serve_blocked(&mut srv, now);
        }
        srv.tracking_end_of_turn(None);
        assert!(
            srv.links.values().all(|l| !l.has_mail()),
            "messages left undelivered after {args:?}"
        );
        assert!(
            srv.shutdown.is_none(),
            "a command asked for shutdown: {args:?}"
        );
        assert!(
            resp == 2 || resp == 3,
            "client protocol version {resp} after {args:?}"
        );
        if let Some(r) = &reply {
            check_reply(r, resp, &args);
        }
        drain_pending(&clients, &args);
        for c in &clients {
            let db = c.borrow().db;
            assert!(db < srv.ks.dbs.len(), "client selected db {db}");
        }
        check_keyspace(&srv, &args);
        check_blocking(&srv, &clients, &args);
        if closed {
            reconnect(&mut srv, &mut clients[cur]);
        }
        // A client killed by the other one is reconnected too.
        let other = 1 - cur;
        if clients[other].borrow().link.is_killed() {
            reconnect(&mut srv, &mut clients[other]);
        }
        check_blocking(&srv, &clients, &args);
        if parked && clients[1 - cur].borrow().blocked.is_none() {
            // The parked connection waits; the other one carries on.
            cur = 1 - cur;
        }
        let keys: usize = (0..srv.ks.db_count()).map(|d| srv.ks.len(d)).sum();
        if keys > MAX_KEYS {
            break;
        }
    }
}

/// Pieces of Lua scripts for the `__lua` harness request: replies of every
/// kind, conversions both ways, errors, the sandbox, the redis table.
const LUA_FRAGMENTS: &[&str] = &[
    "return",
    "redis.call('set', KEYS[1] or 'k', ARGV[1] or 'v')",
    "redis.call('get', KEYS[1] or 'k')",
    "redis.pcall('nosuch')",
    "redis.call('nosuch')",
    "{",
    "}",
    "1,",
    "'x',",
    "{ok='o'}",
    "{err='e'}",
    "{double=1.5}",
    "{map={a=1, b={1, 2}}}",
    "{set={b=true}}",
    "{big_number='123'}",
    "{verbatim_string={format='txt', string='v'}}",
    "nil",
    "true",
    "false",
    "redis.setresp(3)",
    "redis.setresp(2)",
    "for i = 1, 10 do",
    "while true do",
    "end",
    "if",
    "then",
    "else",
    "error('x')",
    "error({err='y'})",
    "x = 1",
    "return x",
    "local s = 'ab'",
    "s = s .. s",
    "redis.call('incr', 'n')",
    "redis.call('hset', 'h', 'f', 'v')",
    "redis.call('hgetall', 'h')",
    "redis.call('zadd', 'z', 1.5, 'm')",
    "redis.call('zscore', 'z', 'm')",
    "redis.call('zrange', 'z', 0, -1, 'withscores')",
    "redis.call('rpush', 'l', 'a', 'b')",
    "redis.call('lrange', 'l', 0, -1)",
    "redis.call('sadd', 's', 'a')",
    "redis.call('smembers', 's')",
    "redis.call('del', 'k', 'h', 'l')",
    "redis.call('expire', 'k', 100)",
    "redis.call('select', 1)",
    "redis.call('flushall')",
    "redis.call('blpop', 'l', 0)",
    "redis.call('multi')",
    "redis.call('eval', 'return 1', 0)",
    "redis.call('script', 'flush')",
    "redis.call('info')",
    "redis.call('client', 'list')",
    "redis.call('hello', 3)",
    "redis.sha1hex('a')",
    "redis.error_reply('E r')",
    "redis.status_reply('S')",
    "redis.log(redis.LOG_DEBUG, 'l')",
    "redis.acl_check_cmd('get', 'k')",
    "pcall(redis.call, 'get')",
    "pcall(error, {})",
    "math.random(10)",
    "tostring(1/0)",
    "1/0",
    "0/0",
    "2^63",
    "#KEYS",
    "KEYS",
    "ARGV",
    "..",
    "+",
    ";",
    "(",
    ")",
    "\n",
    "--",
    "string.rep('a', 100)",
    "string.format('%d', 3)",
    "table.concat({'a', 'b'})",
    "unpack({1, 2})",
    "rawset(_G, 'y', 1)",
    "setmetatable(_G, nil)",
    "getfenv(1)",
    "loadstring('return 1')()",
    "coroutine.wrap(function() redis.call('ping') end)()",
];

/// Joins the fragments `picks` selects (one byte each, at most 48, so
/// nested tables stay within the reply checker's depth; a cyclic table,
/// which Redis converts 7995 levels deep, is tested in tests/scripting.rs).
fn lua_script(picks: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in picks.iter().take(48) {
        out.extend_from_slice(LUA_FRAGMENTS[b as usize % LUA_FRAGMENTS.len()].as_bytes());
        out.push(b' ');
    }
    out
}

fn check_keyspace(srv: &ServerState, args: &[Bytes]) {
    if let Err(e) = srv.ks.check_invariants() {
        panic!(
            "keyspace invariant broken after {:?}: {e}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
        );
    }
}

// ------------------------------------------------------------ snapshots

/// Rewrites every checksum of a snapshot-shaped buffer so that mutations
/// of the structure behind them reach the decoder: the header CRC, each
/// block's CRC and the whole-file CRC, following the length fields as far
/// as they stay inside the buffer.
pub fn fix_checksums(d: &mut [u8]) {
    let rd32 = |d: &[u8], at: usize| u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
    if d.len() < 16 || &d[..8] != MAGIC {
        return;
    }
    let hlen = rd32(d, 12) as usize;
    if hlen < 16 || hlen > d.len() {
        return;
    }
    let crc = crc32fast::hash(&d[..hlen - 4]);
    d[hlen - 4..hlen].copy_from_slice(&crc.to_le_bytes());
    let mut pos = hlen;
    while d.len() - pos >= 4 {
        if &d[pos..pos + 4] == BLOCK_MAGIC {
            if d.len() - pos < BLOCK_HEADER_LEN {
                return;
            }
            let len = rd32(d, pos + 12) as usize;
            let end = pos + BLOCK_HEADER_LEN;
            if d.len() - end < len {
                return;
            }
            let mut h = crc32fast::Hasher::new();
            h.update(&d[pos + 4..pos + 20]);
            h.update(&d[end..end + len]);
            let crc = h.finalize();
            d[pos + 20..pos + 24].copy_from_slice(&crc.to_le_bytes());
            pos = end + len;
        } else if &d[pos..pos + 4] == FOOTER_MAGIC {
            let mut p = pos + 4 + 16;
            let varint = |p: &mut usize| -> Option<u64> {
                let mut v = 0u64;
                for i in 0..10 {
                    let b = *d.get(*p)?;
                    *p += 1;
                    v |= ((b & 0x7f) as u64).checked_shl(7 * i).unwrap_or(0);
                    if b & 0x80 == 0 {
                        return Some(v);
                    }
                }
                None
            };
            let Some(n) = varint(&mut p) else { return };
            for _ in 0..n.min(d.len() as u64) {
                if varint(&mut p).is_none() {
                    return;
                }
                p += 16;
            }
            if p > d.len() || d.len() - p < 4 {
                return;
            }
            let crc = crc32fast::hash(&d[..p]);
            d[p..p + 4].copy_from_slice(&crc.to_le_bytes());
            return;
        } else {
            return;
        }
    }
}

/// Fuzz entry point for the snapshot decoder and loader.
///
/// Byte 0 is a mode: bit 0 patches valid checksums in first (see
/// [`fix_checksums`]), bits 2-3 choose the load time (a fixed date, 0,
/// `i64::MAX`, `i64::MIN`), bits 4-7 the number of databases minus one.
/// The rest is the file. Every decoding function must return a clear error
/// or a value, never panic, read out of bounds or allocate more than the
/// file's size justifies; a successful load must leave a keyspace whose
/// invariants hold and whose key count matches the records; a file that
/// checks must survive a decode / re-encode round trip unchanged.
pub fn load_snapshot(data: &[u8]) {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if mode & 1 != 0 {
        fix_checksums(&mut file);
    }
    let file = &file[..];
    // A legitimate decode allocates about what the file holds (the keyspace
    // it fills included); allow a generous multiple.
    let _cap = CapGuard::new(16 * 1024 * 1024 + 64 * file.len());
    let now = [1_700_000_000_000, 0, i64::MAX, i64::MIN][(mode >> 2 & 3) as usize];
    let databases = (mode >> 4) as usize + 1;

    // The pieces the salvage tool uses: walk items, parse footers whatever
    // follows them, resynchronise on the next block magic after damage.
    let start = match format::decode_header(file) {
        Ok(h) => {
            assert!(h.len <= file.len());
            h.len
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            0
        }
    };
    let mut pos = start;
    let mut steps = 0;
    while pos < file.len() && steps < 10_000 {
        steps += 1;
        if file[pos..].starts_with(format::FOOTER_MAGIC)
            && let Ok(f) = format::parse_footer(file, pos)
        {
            assert!(f.crc_offset + 4 == f.end && f.end <= file.len());
        }
        match format::decode_item(file, pos, None) {
            Ok(format::Item::Block(b)) => {
                assert!(b.total_len() > 0);
                if let Err(e) = format::decode_records(&b) {
                    let _ = e.to_string();
                }
                pos += b.total_len();
            }
            Ok(format::Item::Footer(_)) => break,
            Err(e) => {
                let _ = e.to_string();
                match format::find_next_block(file, pos + 1) {
                    Some(next) => {
                        assert!(next > pos);
                        pos = next;
                    }
                    None => break,
                }
            }
        }
    }

    // The full check and a round trip through the writer.
    if let Ok(checked) = format::check(file) {
        let mut records = Vec::new();
        let mut ok = true;
        for b in &checked.blocks {
            match format::decode_records(b) {
                Ok(r) => records.extend(r),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            let mut w = format::Writer::new(
                Vec::new(),
                checked.header.created_ms,
                &checked.header.server_version,
            )
            .expect("writing to a Vec");
            for r in &records {
                w.record(r).expect("writing to a Vec");
            }
            let again = w.finish().expect("writing to a Vec");
            let c2 = format::check(&again).expect("a re-encoded snapshot must check");
            let mut records2 = Vec::new();
            for b in &c2.blocks {
                records2.extend(format::decode_records(b).expect("re-encoded records decode"));
            }
            assert_eq!(records, records2, "records changed in a round trip");
        }
    }

    // The loader.
    let mut ks = Keyspace::new(databases);
    match crate::persist::load::load_bytes(file, &mut ks, now) {
        Ok(stats) => {
            if let Err(e) = ks.check_invariants() {
                panic!("keyspace invariant broken after a load: {e}");
            }
            let keys: usize = (0..ks.db_count()).map(|d| ks.len(d)).sum();
            assert!(
                keys as u64 <= stats.loaded,
                "{keys} keys after loading {} records",
                stats.loaded
            );
            assert!(stats.loaded > 0 || keys == 0);
        }
        Err(e) => assert!(!e.is_empty(), "empty load error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_checker_accepts_and_rejects() {
        assert!(check_resp(b"+OK\r\n", 2, false).is_ok());
        assert!(check_resp(b"*2\r\n$1\r\na\r\n:1\r\n", 2, false).is_ok());
        assert!(check_resp(b"%1\r\n+a\r\n_\r\n", 3, false).is_ok());
        assert!(check_resp(b"_\r\n", 2, false).is_err());
        assert!(check_resp(b"$3\r\nab\r\n", 2, false).is_err());
        assert!(check_resp(b"*2\r\n:1\r\n", 2, false).is_err());
        assert!(check_resp(b"+a\nb\r\n", 2, false).is_err());
        assert!(check_resp(b"", 2, true).is_ok());
    }

    #[test]
    fn harnesses_run_on_small_inputs() {
        decode_requests(b"\x00\x01\x02\x03*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n");
        execute_commands(b"SET a 1\r\nINCR a\r\nHELLO 3\r\nGET a\r\n__cron\r\n");
        load_snapshot(b"\x01FORKVSNP");
    }

    /// `__lua` requests: every fragment alone, then scripts made of several
    /// (replies of each kind, an endless loop stopped by the budget).
    #[test]
    fn lua_fragments_run_under_the_harness() {
        let mut input = Vec::new();
        let mut req = |picks: &[u8]| {
            input
                .extend_from_slice(format!("*3\r\n$5\r\n__lua\r\n${}\r\n", picks.len()).as_bytes());
            input.extend_from_slice(picks);
            input.extend_from_slice(b"\r\n$1\r\nk\r\n");
        };
        for i in 0..LUA_FRAGMENTS.len() as u8 {
            req(&[i]);
            req(&[0, i]);
        }
        req(&[0, 5, 7, 8, 9, 10, 6]);
        req(&[19, 0, 5, 12, 13, 11, 14, 15, 17, 18, 6]);
        req(&[22, 23]);
        req(&[31, 21, 32, 23, 0, 1]);
        execute_commands(&input);
        assert_eq!(
            lua_script(&[0, 1]),
            b"return redis.call('set', KEYS[1] or 'k', ARGV[1] or 'v') "
        );
    }
}
