//! Per-connection client state: identity, selected database, protocol
//! version, authentication, reply mode, and what CLIENT LIST reports.

use crate::config::ClientOutputBufferLimits;
use crate::protocol::{Output, Reply};
use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tokio::sync::Notify;

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    /// Replies are sent.
    On,
    /// No replies are sent.
    Off,
    /// The next command's reply is skipped.
    SkipNext,
    /// The current command's reply is skipped (SKIP was the previous command).
    Skip,
}

/// What a blocking command asks for when it finds nothing to serve.
#[derive(Debug, Clone)]
pub struct BlockRequest {
    /// Keys whose writes may unblock the client.
    pub keys: Vec<Bytes>,
    /// How long to wait (None = forever).
    pub timeout: Option<std::time::Duration>,
    /// The reply sent if the timeout passes (a null of the command's shape).
    pub on_timeout: Reply,
    /// Arguments to re-run instead of the command's own (XREAD's `$`
    /// resolved to the ID it stood for when the client blocked).
    pub rerun: Option<Vec<Bytes>>,
}

/// A client parked on keys.
#[derive(Debug)]
pub struct Blocked {
    /// The blocking command, re-run when a key becomes ready.
    pub args: Vec<Bytes>,
    /// Database of the keys.
    pub db: usize,
    /// Keys waited on.
    pub keys: Vec<Bytes>,
    /// When to give up (None = never).
    pub deadline: Option<tokio::time::Instant>,
    /// Reply on timeout.
    pub on_timeout: Reply,
}

/// What other clients' turns touch on a client, shared outside its
/// `RefCell` so it is reachable even while the client runs a command (its
/// `RefCell` is then borrowed up the call chain): the wake handle, the kill
/// flag, a mailbox for messages that arrive during its own command, and
/// the WATCH mark another write sets. The server keeps one per client
/// (`ServerState::links`), so loops over all clients never skip one.
pub struct ClientLink {
    /// The socket, closed by a fork child.
    pub fd: i32,
    /// Wakes the connection task (killed, unblocked, output to write).
    pub wake: Notify,
    killed: Cell<bool>,
    dirty_cas: Cell<bool>,
    mailbox: RefCell<Vec<Reply>>,
}

impl ClientLink {
    /// A link for a client on socket `fd` (-1: no socket).
    pub fn new(fd: i32) -> Self {
        ClientLink {
            fd,
            wake: Notify::new(),
            killed: Cell::new(false),
            dirty_cas: Cell::new(false),
            mailbox: RefCell::new(Vec::new()),
        }
    }

    /// Marks the client killed (CLIENT KILL, output limits) and wakes its
    /// connection so it closes without sending more.
    pub fn kill(&self) {
        self.killed.set(true);
        self.wake.notify_one();
    }

    /// True once killed.
    pub fn is_killed(&self) -> bool {
        self.killed.get()
    }

    /// A watched key changed while the client was busy: its next command
    /// applies the mark ([`ClientLink::take_dirty_cas`]).
    pub fn mark_dirty_cas(&self) {
        self.dirty_cas.set(true);
    }

    /// Takes the mark set by [`ClientLink::mark_dirty_cas`].
    pub fn take_dirty_cas(&self) -> bool {
        self.dirty_cas.replace(false)
    }

    /// Leaves `r` for the client to send once its own command ends.
    pub fn post(&self, r: Reply) {
        self.mailbox.borrow_mut().push(r);
    }

    /// Messages posted while the client was busy, oldest first.
    pub fn take_mail(&self) -> Vec<Reply> {
        std::mem::take(&mut *self.mailbox.borrow_mut())
    }

    /// True when messages wait in the mailbox.
    pub fn has_mail(&self) -> bool {
        !self.mailbox.borrow().is_empty()
    }
}

/// One connected client.
pub struct Client {
    /// Unique, increasing id (CLIENT ID).
    pub id: u64,
    /// Peer address as `ip:port`.
    pub addr: String,
    /// Local address as `ip:port`.
    pub laddr: String,
    /// Connected over the Unix socket (`addr` is then `<path>:0`).
    pub unix: bool,
    /// A local client (Redis's `islocalClient`): the peer is exactly
    /// `127.0.0.1` or `::1`, or a Unix socket client. Decides
    /// `enable-debug-command local` and `enable-protected-configs local`.
    pub local: bool,
    /// Socket file descriptor.
    pub fd: i32,
    /// CLIENT SETNAME.
    pub name: Option<Bytes>,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: Option<Bytes>,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: Option<Bytes>,
    /// Selected database.
    pub db: usize,
    /// RESP version (2 or 3).
    pub resp: u8,
    /// Passed AUTH (or no password is configured).
    pub authenticated: bool,
    /// Connection time, Unix ms.
    pub created_ms: i64,
    /// Last command time, Unix ms.
    pub last_interaction_ms: i64,
    /// Name of the last command run (CLIENT LIST `cmd=`).
    pub last_cmd: &'static str,
    /// Close once pending replies are written (QUIT, protocol errors).
    pub close_after_reply: bool,
    /// CLIENT REPLY state.
    pub reply_mode: ReplyMode,
    /// CLIENT NO-EVICT.
    pub no_evict: bool,
    /// CLIENT NO-TOUCH.
    pub no_touch: bool,
    /// READONLY (accepted for cluster-aware clients; no effect).
    pub readonly: bool,
    /// Bytes in the query buffer (CLIENT LIST `qbuf`): while a batch of
    /// pipelined requests runs, the whole batch, as in Redis; between
    /// turns, the incomplete request waiting for more input.
    pub qbuf: usize,
    /// Free room in the query buffer's allocation (CLIENT LIST `qbuf-free`).
    pub qbuf_free: usize,
    /// Bytes of the arguments of the command running or waiting (postponed
    /// by CLIENT PAUSE) (CLIENT LIST `argv-mem`; a blocked command's are
    /// counted from [`Blocked::args`]).
    pub argv_mem: usize,
    /// Most bytes seen in the output's copy buffer (CLIENT LIST `rbp`).
    pub reply_peak: usize,
    /// Bytes read from the client.
    pub net_in: u64,
    /// Bytes written to the client.
    pub net_out: u64,
    /// Commands executed.
    pub commands: u64,
    /// What other clients' turns reach without borrowing this one.
    pub link: Rc<ClientLink>,
    /// Set by a blocking command's handler that found nothing to serve.
    pub block_request: Option<BlockRequest>,
    /// Set while the client waits on keys.
    pub blocked: Option<Blocked>,
    /// Encoded replies and pushes waiting to be written, in order. Other
    /// clients' turns append to it too (served blocking commands, pub/sub
    /// messages, invalidations); the connection task writes it out.
    pub out: Output,
    /// Bytes taken from `out` whose write has not finished yet.
    pub inflight: usize,
    /// Chunks taken from `out` whose write has not finished yet.
    pub inflight_chunks: usize,
    /// When the output buffer first went over its soft limit (Unix ms).
    pub obuf_soft_since: Option<i64>,
    /// CLIENT TRACKING state (None while off).
    pub tracking: Option<super::tracking::ClientTracking>,
    /// Pub/sub channels, patterns and shard channels listened on.
    pub subs: super::pubsub::Subscriptions,
    /// The open transaction (after MULTI).
    pub multi: Option<super::multi::MultiState>,
    /// A watched key changed: the next EXEC fails.
    pub dirty_cas: bool,
    /// Watched keys as (database, key), in WATCH order.
    pub watched: Vec<(usize, Bytes)>,
    /// Set while EXEC runs the queue: blocking commands must not block.
    pub deny_blocking: bool,
    /// In MONITOR mode.
    pub monitor: bool,
    /// The current command waits for a CLIENT PAUSE to end.
    pub postponed: bool,
    /// MONITOR lines of this client's own commands, sent after its reply.
    pub echo: Vec<Reply>,
}

/// Pending output allowed to a client that has not authenticated on a
/// password-protected server: Redis closes one whose replies overflow its
/// 16 KB reply buffer.
pub const UNAUTH_OUTPUT_MAX: u64 = 16 * 1024;

impl Client {
    /// A new client connected now.
    pub fn new(
        id: u64,
        addr: String,
        laddr: String,
        fd: i32,
        authenticated: bool,
        now_ms: i64,
    ) -> Self {
        Client {
            id,
            addr,
            laddr,
            unix: false,
            local: false,
            fd,
            name: None,
            lib_name: None,
            lib_ver: None,
            db: 0,
            resp: 2,
            authenticated,
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            last_cmd: "NULL",
            close_after_reply: false,
            reply_mode: ReplyMode::On,
            no_evict: false,
            no_touch: false,
            readonly: false,
            qbuf: 0,
            qbuf_free: 0,
            argv_mem: 0,
            reply_peak: 0,
            net_in: 0,
            net_out: 0,
            commands: 0,
            link: Rc::new(ClientLink::new(fd)),
            block_request: None,
            blocked: None,
            out: Output::default(),
            inflight: 0,
            inflight_chunks: 0,
            obuf_soft_since: None,
            tracking: None,
            subs: Default::default(),
            multi: None,
            dirty_cas: false,
            watched: Vec::new(),
            deny_blocking: false,
            monitor: false,
            postponed: false,
            echo: Vec::new(),
        }
    }

    /// Queues `r` for this client, encoded for its protocol version.
    pub fn send(&mut self, r: &Reply) {
        self.out.encode(r, self.resp);
    }

    /// Bytes waiting to reach the socket (CLIENT LIST `omem`, limits).
    pub fn output_bytes(&self) -> usize {
        self.out.len() + self.inflight
    }

    /// True while the client is subscribed to anything (its output buffer
    /// then falls under the `pubsub` class of `client-output-buffer-limit`).
    pub fn is_pubsub(&self) -> bool {
        !self.subs.is_empty()
    }

    /// Checks the output buffer against `client-output-buffer-limit` for
    /// the client's class. True when the client must be disconnected: over
    /// the hard limit, or over the soft limit for longer than allowed.
    ///
    /// A client that has not authenticated on a password-protected server
    /// may keep no more than [`UNAUTH_OUTPUT_MAX`] waiting, whatever the
    /// limits say: it must not make the server buffer replies it never
    /// reads. The clock is read only when the soft limit is reached.
    pub fn over_output_limit(
        &mut self,
        limits: &ClientOutputBufferLimits,
        now_ms: impl FnOnce() -> i64,
    ) -> bool {
        let l = if self.is_pubsub() {
            &limits.pubsub
        } else {
            &limits.normal
        };
        let used = self.output_bytes() as u64;
        if !self.authenticated && used > UNAUTH_OUTPUT_MAX {
            return true;
        }
        if l.hard_bytes > 0 && used >= l.hard_bytes {
            return true;
        }
        if l.soft_bytes > 0 && used >= l.soft_bytes {
            // Whole seconds, as Redis counts them (`server.unixtime`).
            let now_ms = now_ms();
            let since = *self.obuf_soft_since.get_or_insert(now_ms);
            return now_ms / 1000 - since / 1000 > l.soft_seconds as i64;
        }
        self.obuf_soft_since = None;
        false
    }

    /// The line CLIENT LIST / CLIENT INFO prints, in Redis 7's field order.
    pub fn info_line(&self, now_ms: i64) -> String {
        // Redis's order: O P x b t R B d c U r e T.
        let mut flags = String::new();
        let tracking = self.tracking.as_ref();
        for (on, f) in [
            (self.monitor, 'O'),
            (self.is_pubsub(), 'P'),
            (self.multi.is_some(), 'x'),
            (self.blocked.is_some() || self.postponed, 'b'),
            (tracking.is_some(), 't'),
            (tracking.is_some_and(|t| t.broken_redirect), 'R'),
            (tracking.is_some_and(|t| t.bcast), 'B'),
            (self.dirty_cas, 'd'),
            (self.close_after_reply, 'c'),
            (self.unix, 'U'),
            (self.readonly, 'r'),
            (self.no_evict, 'e'),
            (self.no_touch, 'T'),
        ] {
            if on {
                flags.push(f);
            }
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let lossy = |b: &Option<Bytes>| {
            b.as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let mem = self.memory();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll={} omem={} tot-mem={} events={} cmd={} user=default redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            lossy(&self.name),
            (now_ms - self.created_ms).max(0) / 1000,
            (now_ms - self.last_interaction_ms).max(0) / 1000,
            flags,
            self.db,
            self.subs.channels.len(),
            self.subs.patterns.len(),
            self.subs.shard.len(),
            self.multi.as_ref().map_or(-1, |m| m.commands.len() as i64),
            self.qbuf,
            self.qbuf_free,
            mem.argv,
            mem.multi,
            mem.rbs,
            self.reply_peak.max(self.out.buffered()),
            self.out.buffered(),
            mem.oll,
            mem.omem,
            mem.total,
            if self.output_bytes() > 0 { "rw" } else { "r" },
            self.last_cmd,
            tracking.map_or(-1, |t| t.redirect as i64),
            self.resp,
            lossy(&self.lib_name),
            lossy(&self.lib_ver),
        )
    }
}

/// What a client's buffers hold, in Redis 7.0's CLIENT LIST terms. Redis
/// has a fixed reply buffer plus a list of reply blocks; forkv has a copy
/// buffer for small replies plus shared chunks for large values (and the
/// chunks its connection is writing), which take their places.
struct ClientMemory {
    /// `argv-mem`: arguments of the current (or blocked) command.
    argv: usize,
    /// `multi-mem`: arguments of the queued MULTI commands plus one slot
    /// per queued command, as Redis counts them.
    multi: usize,
    /// `rbs`: allocated size of the copy buffer.
    rbs: usize,
    /// `oll`: chunks queued or being written.
    oll: usize,
    /// `omem`: bytes of those chunks (what the output limits watch in
    /// Redis; the copy buffer is `obl`).
    omem: usize,
    /// `tot-mem`: all of the above plus the query buffer, the copy buffer,
    /// the client structure and its subscriptions.
    total: usize,
}

impl Client {
    fn memory(&self) -> ClientMemory {
        let sum = |args: &[Bytes]| args.iter().map(|a| a.len()).sum::<usize>();
        let argv = match &self.blocked {
            Some(b) => sum(&b.args),
            None => self.argv_mem,
        };
        let multi = self.multi.as_ref().map_or(0, |m| {
            m.arg_bytes
                + m.commands.capacity() * std::mem::size_of::<(&crate::cmd::Command, Vec<Bytes>)>()
        });
        let rbs = self.out.buffer_capacity();
        let oll = self.out.chunk_count() + self.inflight_chunks;
        let omem = self.out.len() - self.out.buffered() + self.inflight;
        let subs: usize = [&self.subs.channels, &self.subs.patterns, &self.subs.shard]
            .iter()
            .flat_map(|s| s.iter())
            .map(|(c, _)| c.len() + std::mem::size_of::<Bytes>())
            .sum();
        let total = self.qbuf
            + self.qbuf_free
            + argv
            + multi
            + rbs
            + omem
            + subs
            + std::mem::size_of::<Client>();
        ClientMemory {
            argv,
            multi,
            rbs,
            oll,
            omem,
            total,
        }
    }
}
