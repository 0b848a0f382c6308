//! Commands: the declarative command table, lookup, the checks every call
//! goes through (arity, authentication), and dispatch to the handlers, which
//! live one file per family.
//!
//! The table is the single source for `COMMAND`, `COMMAND INFO/COUNT/LIST/
//! GETKEYS`, arity errors and per-command statistics. ACL categories, key
//! specifications and argument docs come from Redis's own metadata (see
//! [`meta`]); a unit test keeps the table and that metadata in agreement.

pub mod args;
pub mod client;
pub mod command;
pub mod connection;
pub mod hash;
pub mod info;
pub mod keys;
pub mod latency;
pub mod list;
pub mod meta;
pub mod monitor;
pub mod multi;
pub mod pubsub;
pub mod replication;
pub mod server;
pub mod set;
pub mod slowlog;
pub mod string;
pub mod zset;

use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::server::client::{Client, ReplyMode};
use crate::server::state::ServerState;
pub use args::{arg_i64, is, ms_timeout_arg};
use bytes::Bytes;

use std::borrow::Cow;
use std::sync::OnceLock;

/// What a handler sees: the server, the calling client, and the time.
pub struct Ctx<'a> {
    /// Shared state.
    pub srv: &'a mut ServerState,
    /// The calling client.
    pub client: &'a mut Client,
    /// Unix ms when the command started (one clock per command, as Redis).
    pub now: i64,
}

impl Ctx<'_> {
    /// The client's selected database.
    pub fn db(&self) -> usize {
        self.client.db
    }

    /// Publishes the keyspace notification `event` for `key` in the
    /// client's database if `notify-keyspace-events` enables `class` (a
    /// [`crate::config::notify`] bit). Handlers call it where Redis calls
    /// `notifyKeyspaceEvent`, after the change is made.
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.client.db;
        self.notify_in(db, class, event, key);
    }

    /// Notifies `event` (of `class`) on `key`, then `del` when the command
    /// emptied the collection and so deleted the key: how every collection
    /// write reports itself in Redis.
    pub fn notify_then_del(&mut self, class: u32, event: &str, key: &[u8], deleted: bool) {
        self.notify(class, event, key);
        if deleted {
            self.notify(crate::config::notify::GENERIC, "del", key);
        }
    }

    /// [`Ctx::notify`] for a key of database `db` (MOVE, COPY ... DB).
    /// What the keyspace logged so far (`expired`, `new`, `keymiss`)
    /// happened first, so it is published first.
    pub fn notify_in(&mut self, db: usize, class: u32, event: &str, key: &[u8]) {
        if self.srv.config.notify_keyspace_events & class != 0 {
            self.srv.drain_keyspace_events(Some(self.client));
            self.srv.notify(Some(self.client), class, event, db, key);
        }
    }

    /// Called by a blocking command that found nothing to serve: the client
    /// waits on `keys` until a write makes one ready (the command is then run
    /// again) or `timeout` passes (then `on_timeout` is the reply). The
    /// returned value is a placeholder; no reply is sent now.
    pub fn block(
        &mut self,
        keys: Vec<Bytes>,
        timeout: Option<std::time::Duration>,
        on_timeout: Reply,
    ) -> CmdResult {
        self.client.block_request = Some(crate::server::client::BlockRequest {
            keys,
            timeout,
            on_timeout,
        });
        Ok(Reply::Nil)
    }
}

/// A command handler. `args[0]` is the command name.
pub type Handler = fn(&mut Ctx, &[Bytes]) -> CmdResult;

/// Command flags (Redis's names, in the order COMMAND INFO prints them).
pub mod flags {
    /// May modify the keyspace.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory (refused under OOM).
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// Pub/sub related.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed in scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while loading.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 8;
    /// Not shown to MONITOR.
    pub const SKIP_MONITOR: u32 = 1 << 9;
    /// Not recorded in the slow log.
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// Cluster ASKING flag.
    pub const ASKING: u32 = 1 << 11;
    /// O(1) or O(log n).
    pub const FAST: u32 = 1 << 12;
    /// Allowed before AUTH.
    pub const NO_AUTH: u32 = 1 << 13;
    /// May replicate.
    pub const MAY_REPLICATE: u32 = 1 << 14;
    /// Keys are optional.
    pub const NO_MANDATORY_KEYS: u32 = 1 << 15;
    /// Not during async loading.
    pub const NO_ASYNC_LOADING: u32 = 1 << 16;
    /// Not inside MULTI.
    pub const NO_MULTI: u32 = 1 << 17;
    /// Keys not at fixed positions.
    pub const MOVABLEKEYS: u32 = 1 << 18;
    /// Allowed while a script is busy.
    pub const ALLOW_BUSY: u32 = 1 << 19;

    /// Flag names in output order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];

    /// Parses a space-separated flag list from the table.
    pub fn parse(s: &str) -> u32 {
        s.split_whitespace()
            .map(|w| {
                NAMES
                    .iter()
                    .find(|(_, n)| *n == w)
                    .map(|(b, _)| *b)
                    .unwrap_or_else(|| panic!("unknown flag {w} in the command table"))
            })
            .fold(0, |a, b| a | b)
    }
}

/// One command or subcommand.
#[derive(Debug)]
pub struct Command {
    /// Lowercase name; subcommands are `parent|sub`.
    pub name: &'static str,
    /// Redis arity: N exact, -N at least N (counting the name).
    pub arity: i32,
    /// Flag bits from [`flags`].
    pub flags: u32,
    /// First key argument (0 = none).
    pub first_key: i32,
    /// Last key argument (-1 = last argument).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// The handler (unused for containers).
    pub handler: Handler,
    /// Index in the table (statistics slot).
    pub index: usize,
    /// Indexes of subcommands (containers only).
    pub subcommands: Vec<usize>,
}

impl Command {
    /// True if the command has subcommands.
    pub fn is_container(&self) -> bool {
        !self.subcommands.is_empty()
    }

    /// True if `flag` is set.
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Positions of the key arguments for `argc` arguments.
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        if self.first_key <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 {
            argc as i32 + self.last_key
        } else {
            self.last_key
        };
        let mut out = Vec::new();
        let mut i = self.first_key;
        while i <= last && (i as usize) < argc {
            out.push(i as usize);
            i += self.step.max(1);
        }
        out
    }
}

/// The command table: every command forkv implements.
pub struct Table {
    /// Commands and subcommands.
    pub cmds: Vec<Command>,
    by_name: std::collections::HashMap<&'static str, usize, foldhash::fast::RandomState>,
}

/// One row of the command table: name, arity, flags, first key, last key,
/// key step, handler.
pub type Row = (&'static str, i32, &'static str, i32, i32, i32, Handler);

fn container(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Err(CmdError::syntax())
}

/// The declarative table: name, arity, flags, first key, last key, step,
/// handler. The data-type families declare their rows next to their
/// handlers (`list::ROWS`, ...); together they form one table.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    // connection
    ("ping", -1, "fast", 0, 0, 0, connection::ping),
    ("echo", 2, "loading stale fast", 0, 0, 0, connection::echo),
    ("hello", -1, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, connection::hello),
    ("auth", -2, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, connection::auth),
    ("select", 2, "loading stale fast", 0, 0, 0, connection::select),
    ("quit", -1, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, connection::quit),
    ("reset", 1, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, connection::reset),
    ("readonly", 1, "loading stale fast", 0, 0, 0, connection::readonly),
    ("readwrite", 1, "loading stale fast", 0, 0, 0, connection::readwrite),
    ("client", -2, "", 0, 0, 0, container),
    ("client|id", 2, "noscript loading stale", 0, 0, 0, client::id),
    ("client|setname", 3, "noscript loading stale", 0, 0, 0, client::setname),
    ("client|getname", 2, "noscript loading stale", 0, 0, 0, client::getname),
    ("client|setinfo", 4, "noscript loading stale", 0, 0, 0, client::setinfo),
    ("client|list", -2, "admin noscript loading stale", 0, 0, 0, client::list),
    ("client|info", 2, "noscript loading stale", 0, 0, 0, client::info),
    ("client|kill", -3, "admin noscript loading stale", 0, 0, 0, client::kill),
    ("client|no-evict", 3, "admin noscript loading stale", 0, 0, 0, client::no_evict),
    ("client|no-touch", 3, "noscript loading stale", 0, 0, 0, client::no_touch),
    ("client|reply", 3, "noscript loading stale", 0, 0, 0, client::reply),
    ("client|tracking", -3, "noscript loading stale", 0, 0, 0, client::tracking),
    ("client|caching", 3, "noscript loading stale", 0, 0, 0, client::caching),
    ("client|getredir", 2, "noscript loading stale", 0, 0, 0, client::getredir),
    ("client|trackinginfo", 2, "noscript loading stale", 0, 0, 0, client::trackinginfo),
    ("client|help", 2, "loading stale", 0, 0, 0, client::help),
    ("client|pause", -3, "admin noscript loading stale", 0, 0, 0, client::pause),
    ("client|unpause", 2, "admin noscript loading stale", 0, 0, 0, client::unpause),
    // server
    ("dbsize", 1, "readonly fast", 0, 0, 0, server::dbsize),
    ("flushdb", -1, "write", 0, 0, 0, server::flushdb),
    ("flushall", -1, "write", 0, 0, 0, server::flushall),
    ("time", 1, "loading stale fast", 0, 0, 0, server::time),
    ("info", -1, "loading stale", 0, 0, 0, info::info),
    ("lastsave", 1, "loading stale fast", 0, 0, 0, server::lastsave),
    ("save", 1, "admin noscript no_async_loading no_multi", 0, 0, 0, server::save),
    ("bgsave", -1, "admin noscript no_async_loading", 0, 0, 0, server::bgsave),
    ("shutdown", -1, "admin noscript loading stale no_multi allow_busy", 0, 0, 0, server::shutdown),
    ("debug", -2, "admin noscript loading stale", 0, 0, 0, server::debug),
    ("config", -2, "", 0, 0, 0, container),
    ("config|get", -3, "admin noscript loading stale", 0, 0, 0, server::config_get),
    ("config|set", -4, "admin noscript loading stale", 0, 0, 0, server::config_set),
    ("config|resetstat", 2, "admin noscript loading stale", 0, 0, 0, server::config_resetstat),
    ("config|help", 2, "loading stale", 0, 0, 0, server::config_help),
    ("command", -1, "loading stale", 0, 0, 0, command::command),
    ("command|count", 2, "loading stale", 0, 0, 0, command::count),
    ("command|info", -2, "loading stale", 0, 0, 0, command::info),
    ("command|docs", -2, "loading stale", 0, 0, 0, command::docs),
    ("command|list", -2, "loading stale", 0, 0, 0, command::list),
    ("command|getkeys", -4, "loading stale", 0, 0, 0, command::getkeys),
    ("command|getkeysandflags", -4, "loading stale", 0, 0, 0, command::getkeysandflags),
    ("command|help", 2, "loading stale", 0, 0, 0, command::help),
    // keys
    ("del", -2, "write", 1, -1, 1, keys::del),
    ("unlink", -2, "write fast", 1, -1, 1, keys::del),
    ("exists", -2, "readonly fast", 1, -1, 1, keys::exists),
    ("type", 2, "readonly fast", 1, 1, 1, keys::type_),
    ("rename", 3, "write", 1, 2, 1, keys::rename),
    ("renamenx", 3, "write fast", 1, 2, 1, keys::renamenx),
    ("copy", -3, "write denyoom", 1, 2, 1, keys::copy),
    ("move", 3, "write fast", 1, 1, 1, keys::move_),
    ("keys", 2, "readonly", 0, 0, 0, keys::keys),
    ("scan", -2, "readonly", 0, 0, 0, keys::scan),
    ("randomkey", 1, "readonly", 0, 0, 0, keys::randomkey),
    ("touch", -2, "readonly fast", 1, -1, 1, keys::touch),
    ("object", -2, "", 0, 0, 0, container),
    ("object|encoding", 3, "readonly", 2, 2, 1, keys::object_encoding),
    ("object|freq", 3, "readonly", 2, 2, 1, keys::object_freq),
    ("object|idletime", 3, "readonly", 2, 2, 1, keys::object_idletime),
    ("object|refcount", 3, "readonly", 2, 2, 1, keys::object_refcount),
    ("object|help", 2, "loading stale", 0, 0, 0, keys::object_help),
    ("expire", -3, "write fast", 1, 1, 1, keys::expire),
    ("pexpire", -3, "write fast", 1, 1, 1, keys::expire),
    ("expireat", -3, "write fast", 1, 1, 1, keys::expire),
    ("pexpireat", -3, "write fast", 1, 1, 1, keys::expire),
    ("ttl", 2, "readonly fast", 1, 1, 1, keys::ttl),
    ("pttl", 2, "readonly fast", 1, 1, 1, keys::ttl),
    ("expiretime", 2, "readonly fast", 1, 1, 1, keys::ttl),
    ("pexpiretime", 2, "readonly fast", 1, 1, 1, keys::ttl),
    ("persist", 2, "write fast", 1, 1, 1, keys::persist),
    // strings
    ("get", 2, "readonly fast", 1, 1, 1, string::get),
    ("set", -3, "write denyoom", 1, 1, 1, string::set),
    ("setnx", 3, "write denyoom fast", 1, 1, 1, string::setnx),
    ("setex", 4, "write denyoom", 1, 1, 1, string::setex),
    ("psetex", 4, "write denyoom", 1, 1, 1, string::setex),
    ("getset", 3, "write denyoom fast", 1, 1, 1, string::getset),
    ("getdel", 2, "write fast", 1, 1, 1, string::getdel),
    ("getex", -2, "write fast", 1, 1, 1, string::getex),
    ("mget", -2, "readonly fast", 1, -1, 1, string::mget),
    ("mset", -3, "write denyoom", 1, -1, 2, string::mset),
    ("msetnx", -3, "write denyoom", 1, -1, 2, string::msetnx),
    ("append", 3, "write denyoom fast", 1, 1, 1, string::append),
    ("strlen", 2, "readonly fast", 1, 1, 1, string::strlen),
    ("getrange", 4, "readonly", 1, 1, 1, string::getrange),
    ("substr", 4, "readonly", 1, 1, 1, string::getrange),
    ("setrange", 4, "write denyoom", 1, 1, 1, string::setrange),
    ("incr", 2, "write denyoom fast", 1, 1, 1, string::incr),
    ("decr", 2, "write denyoom fast", 1, 1, 1, string::incr),
    ("incrby", 3, "write denyoom fast", 1, 1, 1, string::incr),
    ("decrby", 3, "write denyoom fast", 1, 1, 1, string::incr),
    ("incrbyfloat", 3, "write denyoom fast", 1, 1, 1, string::incrbyfloat),
    ("lcs", -3, "readonly", 1, 2, 1, string::lcs),
];

/// Transactions, the slow log, the latency monitor, MONITOR and WAIT.
#[rustfmt::skip]
const ADMIN_ROWS: &[Row] = &[
    ("multi", 1, "noscript loading stale fast allow_busy", 0, 0, 0, multi::multi),
    ("exec", 1, "noscript loading stale skip_slowlog", 0, 0, 0, multi::exec),
    ("discard", 1, "noscript loading stale fast allow_busy", 0, 0, 0, multi::discard_cmd),
    ("watch", -2, "noscript loading stale fast allow_busy", 1, -1, 1, multi::watch),
    ("unwatch", 1, "noscript loading stale fast allow_busy", 0, 0, 0, multi::unwatch),
    ("wait", 3, "noscript", 0, 0, 0, replication::wait),
    ("monitor", 1, "admin noscript loading stale", 0, 0, 0, monitor::monitor),
    ("slowlog", -2, "", 0, 0, 0, container),
    ("slowlog|get", -2, "admin loading stale", 0, 0, 0, slowlog::get),
    ("slowlog|len", 2, "admin loading stale", 0, 0, 0, slowlog::len),
    ("slowlog|reset", 2, "admin loading stale", 0, 0, 0, slowlog::reset),
    ("slowlog|help", 2, "loading stale", 0, 0, 0, slowlog::help),
    ("latency", -2, "", 0, 0, 0, container),
    ("latency|latest", 2, "admin noscript loading stale", 0, 0, 0, latency::latest),
    ("latency|history", 3, "admin noscript loading stale", 0, 0, 0, latency::history),
    ("latency|reset", -2, "admin noscript loading stale", 0, 0, 0, latency::reset),
    ("latency|graph", 3, "admin noscript loading stale", 0, 0, 0, latency::graph),
    ("latency|doctor", 2, "admin noscript loading stale", 0, 0, 0, latency::doctor),
    ("latency|help", 2, "loading stale", 0, 0, 0, latency::help),
];

impl Table {
    fn build() -> Table {
        let rows = ROWS
            .iter()
            .chain(list::ROWS)
            .chain(hash::ROWS)
            .chain(set::ROWS)
            .chain(zset::ROWS)
            .chain(pubsub::ROWS)
            .chain(ADMIN_ROWS);
        let mut cmds: Vec<Command> = rows
            .enumerate()
            .map(
                |(index, &(name, arity, f, first_key, last_key, step, handler))| Command {
                    name,
                    arity,
                    flags: flags::parse(f),
                    first_key,
                    last_key,
                    step,
                    handler,
                    index,
                    subcommands: Vec::new(),
                },
            )
            .collect();
        let by_name: std::collections::HashMap<&'static str, usize, foldhash::fast::RandomState> =
            cmds.iter().map(|c| (c.name, c.index)).collect();
        for i in 0..cmds.len() {
            if let Some((parent, _)) = cmds[i].name.split_once('|') {
                let p = by_name[parent];
                cmds[p].subcommands.push(i);
            }
        }
        Table { cmds, by_name }
    }

    /// Looks a command up by its full lowercase name (`get`, `config|get`).
    pub fn get(&self, name: &str) -> Option<&Command> {
        self.by_name.get(name).map(|&i| &self.cmds[i])
    }

    /// Top-level commands (no subcommands), in table order.
    pub fn top_level(&self) -> impl Iterator<Item = &Command> {
        self.cmds.iter().filter(|c| !c.name.contains('|'))
    }
}

/// The process-wide command table.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::build)
}

/// Lowercases `name` into `buf` when it fits; commands are ASCII.
fn lower<'b>(name: &[u8], buf: &'b mut [u8; 40]) -> Option<&'b str> {
    if name.len() > buf.len() {
        return None;
    }
    let b = &mut buf[..name.len()];
    for (d, s) in b.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    std::str::from_utf8(b).ok()
}

/// Resolves a request to its command (or subcommand), or the error Redis
/// gives for an unknown command or subcommand.
pub fn resolve(args: &[Bytes]) -> Result<&'static Command, CmdError> {
    let t = table();
    let mut buf = [0u8; 40];
    let cmd = lower(&args[0], &mut buf)
        .and_then(|n| t.get(n))
        .ok_or_else(|| CmdError::unknown_command(&args[0], &args[1..]))?;
    if !cmd.is_container() || args.len() < 2 {
        return Ok(cmd);
    }
    let mut sbuf = [0u8; 40];
    let sub = lower(&args[1], &mut sbuf).and_then(|s| {
        let full = format!("{}|{}", cmd.name, s);
        t.get(&full)
    });
    sub.ok_or_else(|| CmdError::unknown_subcommand(&args[1], cmd.name))
}

/// Runs one request for `client` and returns its reply, or None when the
/// client asked not to get one (CLIENT REPLY OFF/SKIP), sent nothing, was
/// parked on keys (`block_request`) or must wait for a CLIENT PAUSE to end
/// (`postponed`: the caller keeps the request and runs it again later).
///
/// `now` is the Unix time in ms the command runs at (the caller reads the
/// clock once per batch of pipelined requests).
pub fn execute(
    srv: &mut ServerState,
    client: &mut Client,
    args: &[Bytes],
    now: i64,
) -> Option<Reply> {
    run(srv, client, args, now, true)
}

/// `execute`, or with `fresh` false the re-run of a served blocking
/// command (never paused or queued: it already passed those gates).
fn run(
    srv: &mut ServerState,
    client: &mut Client,
    args: &[Bytes],
    now: i64,
    fresh: bool,
) -> Option<Reply> {
    if args.is_empty() {
        return None;
    }
    if client.postponed {
        client.postponed = false;
        srv.pause.release(client.id);
    }
    multi::apply_deferred(srv, client);
    let prepared = prepare(srv, client, args);
    // The command that ran or was refused (None: unknown).
    let resolved = match &prepared {
        Ok(cmd) => Some(*cmd),
        Err((cmd, _)) => *cmd,
    };
    let reply = match prepared {
        Ok(cmd) if fresh && paused(srv, client, cmd, now) => {
            client.last_cmd = cmd.name;
            client.postponed = true;
            srv.pause.postpone(client.id);
            return None;
        }
        Ok(cmd) if fresh && multi::queues(client, cmd) => {
            client.last_cmd = cmd.name;
            client.last_interaction_ms = now;
            multi::queue(client, cmd, args)
        }
        Ok(cmd) => {
            client.last_cmd = cmd.name;
            call(srv, client, cmd, args, now)?
        }
        Err((cmd, e)) => reject(srv, client, cmd, args, e),
    };
    if let Some(t) = client.tracking.as_mut()
        && client.multi.is_none()
        && !resolved.is_some_and(|c| c.name.starts_with("client|"))
    {
        // CLIENT CACHING applies to the next command (or transaction)
        // only; CLIENT subcommands do not use it up, as in Redis.
        t.caching = false;
    }
    let send = match client.reply_mode {
        ReplyMode::On => true,
        ReplyMode::Off => false,
        ReplyMode::SkipNext => {
            client.reply_mode = ReplyMode::Skip;
            false
        }
        ReplyMode::Skip => {
            client.reply_mode = ReplyMode::On;
            false
        }
    };
    // Pushes (pub/sub confirmations) are sent whatever the reply mode, as
    // in Redis.
    let reply = (send || reply.is_push()).then_some(reply);
    if client.echo.is_empty() {
        return reply;
    }
    // A monitoring client sees its own command after the reply.
    let mut all: Vec<Reply> = reply.into_iter().collect();
    all.append(&mut client.echo);
    Some(Reply::Many(all))
}

/// Runs a resolved command that passed the gates: the handler, then the
/// statistics, key signals, slow log, latency monitor and MONITOR feed.
/// None when the command blocked the client (outside EXEC).
pub fn call(
    srv: &mut ServerState,
    client: &mut Client,
    cmd: &'static Command,
    args: &[Bytes],
    now: i64,
) -> Option<Reply> {
    let start = crate::util::clock::ticks();
    client.last_interaction_ms = now;
    client.commands += 1;
    let dirty = srv.ks.stats.dirty;
    // A served BLPOP/BLMOVE changes keys without counting in `dirty`
    // (as in Redis), so it always signals its keys; and it was shown to
    // MONITOR when it first ran.
    let reprocess = client.blocked.is_some();
    if !reprocess && srv.tracking.clients > 0 {
        srv.tracking_limit_keys(Some(client));
    }
    let mut ctx = Ctx { srv, client, now };
    let mut r = (cmd.handler)(&mut ctx, args);
    if let Some(req) = client.block_request.take() {
        if client.deny_blocking {
            // Inside EXEC nothing blocks: the command times out at once.
            r = Ok(req.on_timeout);
        } else {
            // Blocked: no reply now, and no statistics until it completes.
            client.block_request = Some(req);
            srv.drain_keyspace_events(Some(client));
            if !reprocess && shows_in_monitor(cmd) {
                monitor::feed(srv, client, cmd, args);
            }
            return None;
        }
    }
    // Keys deleted by expiry signal before the write's own keys, as in Redis.
    srv.drain_keyspace_events(Some(client));
    if cmd.has(flags::WRITE)
        && (srv.ks.stats.dirty != dirty || reprocess)
        && srv.key_changes_heard()
    {
        signal_written_keys(srv, client, cmd, args);
    }
    // Keys the command found expired were deleted (and invalidated) before
    // it read them, so they are remembered after.
    if cmd.has(flags::READONLY) && client.tracking.is_some() {
        srv.tracking_remember_keys(client, cmd, args);
    }
    let usec = crate::util::clock::micros(start, crate::util::clock::ticks());
    let st = &mut srv.cmd_stats[cmd.index];
    st.calls += 1;
    st.usec += usec;
    srv.stats.total_commands_processed += 1;
    let reply = match r {
        Ok(reply) => {
            if let Reply::Error(e) = &reply {
                srv.cmd_stats[cmd.index].failed_calls += 1;
                srv.count_error(e);
            }
            reply
        }
        Err(e) => {
            srv.cmd_stats[cmd.index].failed_calls += 1;
            srv.count_error(&e.0);
            Reply::Error(e.0.into_owned())
        }
    };
    log_slow(srv, client, cmd, args, usec);
    if !reprocess && shows_in_monitor(cmd) {
        monitor::feed(srv, client, cmd, args);
    }
    Some(reply)
}

/// Records the command in the slow log and the latency monitor.
fn log_slow(srv: &mut ServerState, client: &Client, cmd: &Command, args: &[Bytes], usec: u64) {
    let threshold = srv.config.slowlog_log_slower_than;
    if threshold >= 0 && !cmd.has(flags::SKIP_SLOWLOG) {
        let shown = if usec as i64 >= threshold {
            monitor::shown_args(cmd, args)
        } else {
            Cow::Borrowed(args)
        };
        let max = srv.config.slowlog_max_len;
        srv.slowlog.record(threshold, max, client, &shown, usec);
    }
    if srv.config.latency_monitor_threshold > 0 {
        let event = if cmd.has(flags::FAST) {
            "fast-command"
        } else {
            "command"
        };
        srv.latency_sample(event, usec / 1000);
    }
}

/// Administrative commands and those flagged `skip_monitor` are not shown
/// to MONITOR.
fn shows_in_monitor(cmd: &Command) -> bool {
    !cmd.has(flags::ADMIN | flags::SKIP_MONITOR)
}

/// The reply to a request the gates refused. Inside MULTI the transaction
/// is marked failed; a refused EXEC discards it.
fn reject(
    srv: &mut ServerState,
    client: &mut Client,
    cmd: Option<&'static Command>,
    args: &[Bytes],
    e: CmdError,
) -> Reply {
    multi::flag_error(client);
    let mut text = e.0.clone().into_owned();
    if let Some(c) = cmd {
        srv.cmd_stats[c.index].rejected_calls += 1;
        if c.name == "exec" {
            text = multi::exec_refused(srv, client, &e);
            monitor::feed(srv, client, c, args);
        }
    }
    srv.count_error(&text);
    Reply::Error(text)
}

/// True if CLIENT PAUSE holds `cmd` back: everything in ALL mode; in WRITE
/// mode what may write or replicate, including an EXEC that would. MONITOR
/// clients count as replicas, which are never paused.
fn paused(srv: &ServerState, client: &Client, cmd: &Command, now: i64) -> bool {
    use crate::server::pause::PauseMode;
    match srv.pause.mode(now) {
        None => false,
        _ if client.monitor => false,
        Some(PauseMode::All) => true,
        Some(PauseMode::Write) => {
            cmd.has(flags::WRITE | flags::MAY_REPLICATE)
                || (cmd.name == "exec" && client.multi.as_ref().is_some_and(|m| m.writes()))
        }
    }
}

/// Counts a blocking command that ended without being served (its timeout
/// passed, or its client went away), as Redis counts it when it unblocks
/// the client.
pub fn count_unserved(srv: &mut ServerState, args: &[Bytes]) {
    if let Ok(cmd) = resolve(args) {
        srv.cmd_stats[cmd.index].calls += 1;
        srv.stats.total_commands_processed += 1;
    }
}

/// Tells the blocking machinery, WATCH and client-side caching which keys a
/// write command changed (it changed something: the dirty counter moved).
fn signal_written_keys(srv: &mut ServerState, client: &mut Client, cmd: &Command, args: &[Bytes]) {
    let db = client.db;
    let dbs = srv.ks.db_count();
    for p in written_key_positions(cmd, args) {
        if matches!(cmd.name, "move" | "copy") {
            // The destination may be another database.
            srv.blocking.touched_any_db(&args[p], dbs);
            for d in 0..dbs {
                srv.key_modified(Some(client), d, &args[p]);
            }
        } else {
            srv.blocking.touched(db, &args[p]);
            srv.key_modified(Some(client), db, &args[p]);
        }
    }
}

/// Write commands with a read-only key specification (the sources); a unit
/// test checks this list against Redis's key specs, which are not parsed on
/// the write path.
const WRITES_WITH_READ_ONLY_KEYS: &[&str] = &[
    "copy",
    "sinterstore",
    "sunionstore",
    "sdiffstore",
    "zrangestore",
    "zunionstore",
    "zinterstore",
    "zdiffstore",
];

/// Write commands whose handlers signal exactly the keys they changed
/// (DEL of several keys changes only those that existed).
const SIGNALS_OWN_KEYS: &[&str] = &["del", "unlink"];

/// Positions of the keys a write command may change: all its keys, except
/// those its key specifications mark read-only (the sources of SINTERSTORE,
/// ZUNIONSTORE, ...), found through the specs for commands whose keys move.
fn written_key_positions(cmd: &Command, args: &[Bytes]) -> Vec<usize> {
    if SIGNALS_OWN_KEYS.contains(&cmd.name) {
        return Vec::new();
    }
    if !cmd.has(flags::MOVABLEKEYS) && !WRITES_WITH_READ_ONLY_KEYS.contains(&cmd.name) {
        return cmd.key_positions(args.len());
    }
    command::keys_with_flags(cmd, args)
        .into_iter()
        .filter(|(_, f)| !command::flags_contain(f, "RO"))
        .map(|(p, _)| p)
        .collect()
}

/// Re-runs the commands of clients blocked on keys that writes made ready,
/// first blocked first served. Served clients get their reply queued and
/// their connection woken; the others keep waiting.
pub fn serve_blocked(srv: &mut ServerState, now: i64) {
    while let Some((_db, _key, ids)) = srv.blocking.next_ready() {
        for id in ids {
            let Some(rc) = srv.clients.get(&id).cloned() else {
                continue;
            };
            let Ok(mut c) = rc.try_borrow_mut() else {
                continue;
            };
            let Some(args) = c.blocked.as_ref().map(|b| b.args.clone()) else {
                continue;
            };
            let reply = run(srv, &mut c, &args, now, false);
            if c.block_request.take().is_some() {
                continue; // still nothing for this client
            }
            if let Some(b) = c.blocked.take() {
                srv.blocking.unblock(id, b.db, &b.keys);
            }
            if let Some(r) = reply {
                c.send(&r);
            }
            srv.tracking_after_command(&mut c);
            c.wake.notify_one();
        }
    }
}

/// Checks that run before a handler: lookup, arity, authentication,
/// memory (evicting first when `maxmemory` is set), loading.
fn prepare(
    srv: &mut ServerState,
    client: &mut Client,
    args: &[Bytes],
) -> Result<&'static Command, (Option<&'static Command>, CmdError)> {
    let cmd = resolve(args).map_err(|e| (None, e))?;
    let argc = args.len() as i32;
    if (cmd.arity > 0 && argc != cmd.arity) || argc < -cmd.arity {
        return Err((Some(cmd), CmdError::arity(cmd.name)));
    }
    if !client.authenticated && !cmd.has(flags::NO_AUTH) {
        return Err((Some(cmd), CmdError::noauth()));
    }
    if client.multi.is_some() && cmd.has(flags::NO_MULTI) {
        return Err((
            Some(cmd),
            CmdError::msg("ERR Command not allowed inside a transaction"),
        ));
    }
    // EXEC counts as the kind of commands it queued.
    let queued = match &client.multi {
        Some(m) if cmd.name == "exec" => m.flags,
        _ => 0,
    };
    // A served blocked command was admitted when it first ran.
    if srv.config.maxmemory > 0 && client.blocked.is_none() {
        let oom = srv.perform_evictions() == crate::db::evict::EvictResult::Fail;
        // Invalidations for evicted keys go out before this command's replies.
        srv.drain_keyspace_events(Some(client));
        // Queueing inside MULTI takes memory too: refused as well, except
        // the commands that end the transaction (Redis's rule).
        let denyoom = cmd.has(flags::DENYOOM)
            || queued & flags::DENYOOM != 0
            || (client.multi.is_some()
                && !matches!(cmd.name, "exec" | "discard" | "quit" | "reset"));
        if oom && denyoom {
            return Err((Some(cmd), CmdError::oom()));
        }
    }
    let writes = cmd.has(flags::WRITE) || queued & flags::WRITE != 0;
    if (writes || cmd.name == "ping") && crate::persist::writes_refused(srv) {
        return Err((Some(cmd), CmdError::msg(crate::persist::MISCONF)));
    }
    if client.resp == 2 && client.is_pubsub() && !pubsub::allowed_while_subscribed(cmd.name) {
        return Err((Some(cmd), CmdError::subscribe_context(cmd.name)));
    }
    if srv.loading && !cmd.has(flags::LOADING) {
        return Err((Some(cmd), CmdError::loading()));
    }
    let keyspace = flags::READONLY | flags::WRITE | flags::MAY_REPLICATE;
    if client.monitor && (cmd.has(keyspace) || queued & keyspace != 0) {
        return Err((Some(cmd), CmdError::msg(monitor::REPLICA_KEYSPACE)));
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_builds_and_resolves() {
        let t = table();
        assert!(t.get("get").is_some());
        assert!(t.get("config|get").is_some());
        let args = [Bytes::from_static(b"CoNfIg"), Bytes::from_static(b"GET")];
        assert_eq!(resolve(&args).unwrap().name, "config|get");
        let args = [Bytes::from_static(b"config"), Bytes::from_static(b"nope")];
        assert_eq!(
            resolve(&args).unwrap_err().0,
            "ERR unknown subcommand 'nope'. Try CONFIG HELP."
        );
    }

    #[test]
    fn read_only_key_list_matches_the_key_specs() {
        let from_specs: Vec<&str> = table()
            .cmds
            .iter()
            .filter(|c| c.has(flags::WRITE) && command::has_read_only_keys(c))
            .map(|c| c.name)
            .collect();
        assert_eq!(from_specs, WRITES_WITH_READ_ONLY_KEYS);
    }
}
