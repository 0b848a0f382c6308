//! Commands: the command table, the gates in front of a handler, and the
//! one call path every caller goes through; the handlers live one file per
//! family.
//!
//! The table ([`Table`]) binds forkv's handlers to Redis's typed command
//! metadata ([`spec`], generated at build time): arity, flags, ACL
//! categories, key specs. `COMMAND` and its subcommands, arity errors,
//! statistics and key extraction ([`Command::keys`]) all come from it;
//! behaviour that belongs to one command is a [`hooks`] bit in its row.
//!
//! Entry points, and who calls each:
//! - [`execute`]: a connection's request (`server::conn`, and the fuzz
//!   harness). Every gate: protected commands (`enable-debug-command`),
//!   authentication, OOM, MISCONF, loading, CLIENT PAUSE, MULTI queueing,
//!   subscribed mode, CLIENT REPLY modes.
//! - [`execute_as`]: a caller that is not a socket, re-entrantly, with the
//!   gates of its [`Origin`]: a script's `redis.call` (Redis's script
//!   gates) or a loader of logged or replicated commands (`DEBUG EFFECTS
//!   REPLAY` today; the append-only file and replica links later).
//! - [`call`]: a command that already passed its gates: EXEC runs its
//!   queue through it. Runs the handler, then statistics, key-change
//!   signals, the write-effect stream (`server::effects`), slow log,
//!   latency monitor and MONITOR feed.
//! - [`serve_blocked`]: re-runs the commands of blocked clients a write
//!   made ready (`server::conn` after each command).
//! - [`count_unserved`]: statistics of a blocked command that timed out or
//!   whose client left (`server::conn`).
//!
//! Each returns an [`Outcome`]: a reply, blocked, postponed or no reply.

pub mod args;
pub mod client;
pub mod collection;
pub mod command;
pub mod connection;
pub mod debug;
pub mod hash;
pub mod info;
pub mod keys;
pub mod latency;
pub mod list;
pub mod meta;
pub mod monitor;
pub mod multi;
pub mod pubsub;
pub mod replay;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod set;
pub mod slowlog;
pub mod spec;
pub mod stream;
pub mod string;
pub mod zset;

use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::server::client::{Client, ReplyMode};
use crate::server::state::ServerState;
pub use args::{arg_i64, is, ms_timeout_arg};
use bytes::Bytes;
use spec::redis as r;

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

    /// True when the write-effect stream has a consumer: handlers build
    /// their rewritten effects ([`Ctx::propagate`]) only then.
    pub fn propagating(&self) -> bool {
        self.srv.effects.enabled()
    }

    /// Replaces this command's effect in the write-effect stream with
    /// `argv` (a second call adds another command; an empty `argv` emits
    /// nothing), as Redis's `rewriteClientCommandVector`/`alsoPropagate`:
    /// relative TTLs become absolute, random or blocking commands their
    /// deterministic form. Without a consumer it does nothing.
    pub fn propagate(&mut self, argv: Vec<Bytes>) {
        if self.srv.effects.enabled() {
            self.srv.effects.rewrite(argv);
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
            rerun: None,
        });
        Ok(Reply::Nil)
    }

    /// [`Ctx::block`], re-running `rerun` instead of the command's own
    /// arguments when a key becomes ready (XREAD's `$` made concrete).
    pub fn block_rerun(
        &mut self,
        keys: Vec<Bytes>,
        timeout: Option<std::time::Duration>,
        on_timeout: Reply,
        rerun: Vec<Bytes>,
    ) -> CmdResult {
        let r = self.block(keys, timeout, on_timeout);
        if let Some(req) = self.client.block_request.as_mut() {
            req.rerun = Some(rerun);
        }
        r
    }
}

/// A command handler. `args[0]` is the command name.
pub type Handler = fn(&mut Ctx, &[Bytes]) -> CmdResult;

pub use spec::{KeyRef, flags, ks};

/// What the pipeline must know of a command beyond Redis's metadata: one
/// bit per behaviour, set in the command's row (subcommands inherit their
/// container's), so the pipeline never compares names.
pub mod hooks {
    /// EXEC: runs the queued transaction, so it counts as the kind of
    /// commands it queued (write, denyoom) at the gates.
    pub const EXEC: u32 = 1 << 0;
    /// EXEC, DISCARD, QUIT, RESET: end or leave a transaction, so they
    /// are never queued and are not refused under OOM inside MULTI.
    pub const ENDS_MULTI: u32 = 1 << 1;
    /// MULTI, WATCH: run (and refuse themselves) inside MULTI instead of
    /// being queued.
    pub const NOT_QUEUED: u32 = 1 << 2;
    /// DEL, UNLINK: the handler signals exactly the keys it removed.
    pub const SIGNALS_OWN_KEYS: u32 = 1 << 3;
    /// MOVE, COPY: the written key may be in another database.
    pub const CROSS_DB: u32 = 1 << 4;
    /// PING: refused with MISCONF like a write (Redis's rule).
    pub const MISCONF: u32 = 1 << 5;
    /// Allowed in RESP2 subscribed mode.
    pub const SUBSCRIBED: u32 = 1 << 6;
    /// CLIENT subcommands: do not use up CLIENT CACHING.
    pub const KEEPS_CACHING: u32 = 1 << 7;
}

/// The `enable-*-command` switch that admits a command Redis flags
/// `protected` ([`flags::PROTECTED`]): Redis's `allowProtectedAction` in
/// `processCommand`, checked right after the arity.
#[derive(Debug)]
pub struct Guard {
    /// The command as the refusal names it (`DEBUG`).
    pub command: &'static str,
    /// The switch (`enable-debug-command`).
    pub option: &'static str,
    /// Reads the switch.
    pub setting: fn(&crate::config::Config) -> crate::config::ProtectedAction,
}

/// The guards of the protected commands forkv implements.
pub mod guards {
    use super::Guard;

    /// DEBUG: `enable-debug-command`.
    pub const DEBUG: Guard = Guard {
        command: "DEBUG",
        option: "enable-debug-command",
        setting: |c| c.enable_debug_command,
    };
}

/// Adjusts key-spec flags that depend on other arguments (a spec marked
/// `variable_flags`), as Redis's `getkeys_proc` of SET does.
pub type KeyFlagsHook = fn(&[Bytes], u32) -> u32;

/// Positions of arguments that MONITOR and the slow log must redact.
pub type SecretsHook = fn(&[Bytes]) -> Vec<usize>;

/// One row of the command table: Redis's metadata of a command bound to
/// forkv's handler, plus forkv's behaviour bits. Built in const context,
/// so every name is checked by the compiler.
pub struct Row {
    /// Redis's metadata ([`spec::redis`]).
    pub meta: &'static spec::CommandMeta,
    /// The handler.
    pub handler: Handler,
    /// Arity when it differs from Redis 7.0's (0: Redis's).
    pub arity: i32,
    /// [`hooks`] bits.
    pub hooks: u32,
    /// See [`KeyFlagsHook`].
    pub key_flags: Option<KeyFlagsHook>,
    /// See [`SecretsHook`].
    pub secrets: Option<SecretsHook>,
    /// The switch that admits a `protected` command ([`Guard`]).
    pub guard: Option<&'static Guard>,
}

impl Row {
    /// `handler` serves the command Redis describes as `meta`.
    pub const fn new(meta: &'static spec::CommandMeta, handler: Handler) -> Row {
        Row {
            meta,
            handler,
            arity: 0,
            hooks: 0,
            key_flags: None,
            secrets: None,
            guard: None,
        }
    }

    /// Overrides the arity (an option added after Redis 7.0).
    pub const fn arity(mut self, arity: i32) -> Row {
        self.arity = arity;
        self
    }

    /// Adds [`hooks`] bits.
    pub const fn with(mut self, hooks: u32) -> Row {
        self.hooks |= hooks;
        self
    }

    /// Sets the key-flags hook.
    pub const fn key_flags(mut self, f: KeyFlagsHook) -> Row {
        self.key_flags = Some(f);
        self
    }

    /// Sets the redaction hook.
    pub const fn secrets(mut self, f: SecretsHook) -> Row {
        self.secrets = Some(f);
        self
    }

    /// Sets the guard of a `protected` command.
    pub const fn guard(mut self, g: &'static Guard) -> Row {
        self.guard = Some(g);
        self
    }
}

/// One command or subcommand of the table.
#[derive(Debug)]
pub struct Command {
    /// Lowercase name; subcommands are `parent|sub`.
    pub name: &'static str,
    /// Redis's metadata.
    pub meta: &'static spec::CommandMeta,
    /// Redis arity: N exact, -N at least N (counting the name).
    pub arity: i32,
    /// Flag bits from [`flags`], `movablekeys` derived from the key specs.
    pub flags: u32,
    /// [`hooks`] bits.
    pub hooks: u32,
    /// The handler (unused for containers).
    pub handler: Handler,
    /// Index in the table (statistics slot).
    pub index: usize,
    /// Indexes of subcommands (containers only).
    pub subcommands: Vec<usize>,
    /// The switch that admits it, if Redis flags it `protected`
    /// (subcommands inherit their container's).
    pub guard: Option<&'static Guard>,
    key_flags: Option<KeyFlagsHook>,
    secrets: Option<SecretsHook>,
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

    /// True if the row sets `hook` ([`hooks`]).
    pub fn hooked(&self, hook: u32) -> bool {
        self.hooks & hook != 0
    }

    /// The keys of `args` (name first) with their access flags, from the
    /// key specs (and the row's flag hook where Redis has a getkeys_proc):
    /// the one key extraction GETKEYS, signalling and tracking use.
    pub fn keys(&self, args: &[Bytes]) -> Vec<KeyRef> {
        let mut out = Vec::new();
        spec::extract_keys(self.meta.key_specs, args, &mut out);
        if let Some(f) = self.key_flags {
            for k in out.iter_mut().filter(|k| k.flags & ks::VARIABLE_FLAGS != 0) {
                k.flags = f(args, k.flags);
            }
        }
        out
    }

    /// Positions of the arguments MONITOR and the slow log redact.
    pub fn secrets(&self, args: &[Bytes]) -> Vec<usize> {
        self.secrets.map(|f| f(args)).unwrap_or_default()
    }

    /// The COMMAND INFO entry.
    pub fn info(&self) -> Reply {
        let subs = self.is_container().then(|| {
            let t = table();
            self.subcommands.iter().map(|&i| t.cmds[i].info()).collect()
        });
        spec::info_reply(self.meta, self.arity, self.flags, subs)
    }
}

/// The command table: every command forkv implements.
pub struct Table {
    /// Commands and subcommands.
    pub cmds: Vec<Command>,
    by_name: std::collections::HashMap<&'static str, usize, foldhash::fast::RandomState>,
}

fn container(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Err(CmdError::syntax())
}

/// The declarative table: Redis's metadata of each command bound to its
/// handler. The data-type families declare their rows next to their
/// handlers (`list::ROWS`, ...); together they form one table.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    // connection
    Row::new(&r::PING, connection::ping).with(hooks::MISCONF | hooks::SUBSCRIBED),
    Row::new(&r::ECHO, connection::echo),
    Row::new(&r::HELLO, connection::hello).secrets(monitor::hello_secrets),
    Row::new(&r::AUTH, connection::auth).secrets(monitor::auth_secrets),
    Row::new(&r::SELECT, connection::select),
    Row::new(&r::QUIT, connection::quit).with(hooks::ENDS_MULTI | hooks::SUBSCRIBED),
    Row::new(&r::RESET, connection::reset).with(hooks::ENDS_MULTI | hooks::SUBSCRIBED),
    Row::new(&r::READONLY, connection::readonly),
    Row::new(&r::READWRITE, connection::readwrite),
    Row::new(&r::CLIENT, container).with(hooks::KEEPS_CACHING),
    Row::new(&r::CLIENT_ID, client::id),
    Row::new(&r::CLIENT_SETNAME, client::setname),
    Row::new(&r::CLIENT_GETNAME, client::getname),
    Row::new(&spec::CLIENT_SETINFO, client::setinfo),
    Row::new(&r::CLIENT_LIST, client::list),
    Row::new(&r::CLIENT_INFO, client::info),
    Row::new(&r::CLIENT_KILL, client::kill),
    Row::new(&r::CLIENT_NO_EVICT, client::no_evict),
    Row::new(&spec::CLIENT_NO_TOUCH, client::no_touch),
    Row::new(&r::CLIENT_REPLY, client::reply),
    Row::new(&r::CLIENT_TRACKING, client::tracking),
    Row::new(&r::CLIENT_CACHING, client::caching),
    Row::new(&r::CLIENT_GETREDIR, client::getredir),
    Row::new(&r::CLIENT_TRACKINGINFO, client::trackinginfo),
    Row::new(&r::CLIENT_HELP, client::help),
    Row::new(&r::CLIENT_PAUSE, client::pause),
    Row::new(&r::CLIENT_UNPAUSE, client::unpause),
    // server
    Row::new(&r::DBSIZE, server::dbsize),
    Row::new(&r::FLUSHDB, server::flushdb),
    Row::new(&r::FLUSHALL, server::flushall),
    Row::new(&r::TIME, server::time),
    Row::new(&r::INFO, info::info),
    Row::new(&r::LASTSAVE, server::lastsave),
    Row::new(&r::SAVE, server::save),
    Row::new(&r::BGSAVE, server::bgsave),
    Row::new(&r::SHUTDOWN, server::shutdown),
    Row::new(&r::DEBUG, debug::debug).guard(&guards::DEBUG),
    Row::new(&r::CONFIG, container),
    Row::new(&r::CONFIG_GET, server::config_get),
    Row::new(&r::CONFIG_SET, server::config_set).secrets(monitor::config_set_secrets),
    Row::new(&r::CONFIG_RESETSTAT, server::config_resetstat),
    Row::new(&r::CONFIG_HELP, server::config_help),
    Row::new(&r::COMMAND, command::command),
    Row::new(&r::COMMAND_COUNT, command::count),
    Row::new(&r::COMMAND_INFO, command::info),
    Row::new(&r::COMMAND_DOCS, command::docs),
    Row::new(&r::COMMAND_LIST, command::list),
    Row::new(&r::COMMAND_GETKEYS, command::getkeys),
    Row::new(&r::COMMAND_GETKEYSANDFLAGS, command::getkeysandflags),
    Row::new(&r::COMMAND_HELP, command::help),
    // keys
    Row::new(&r::DEL, keys::del).with(hooks::SIGNALS_OWN_KEYS),
    Row::new(&r::UNLINK, keys::del).with(hooks::SIGNALS_OWN_KEYS),
    Row::new(&r::EXISTS, keys::exists),
    Row::new(&r::TYPE, keys::type_),
    Row::new(&r::RENAME, keys::rename),
    Row::new(&r::RENAMENX, keys::renamenx),
    Row::new(&r::COPY, keys::copy).with(hooks::CROSS_DB),
    Row::new(&r::MOVE, keys::move_).with(hooks::CROSS_DB),
    Row::new(&r::KEYS, keys::keys),
    Row::new(&r::SCAN, keys::scan),
    Row::new(&r::RANDOMKEY, keys::randomkey),
    Row::new(&r::TOUCH, keys::touch),
    Row::new(&r::OBJECT, container),
    Row::new(&r::OBJECT_ENCODING, keys::object_encoding),
    Row::new(&r::OBJECT_FREQ, keys::object_freq),
    Row::new(&r::OBJECT_IDLETIME, keys::object_idletime),
    Row::new(&r::OBJECT_REFCOUNT, keys::object_refcount),
    Row::new(&r::OBJECT_HELP, keys::object_help),
    Row::new(&r::EXPIRE, keys::expire),
    Row::new(&r::PEXPIRE, keys::expire),
    Row::new(&r::EXPIREAT, keys::expire),
    Row::new(&r::PEXPIREAT, keys::expire),
    Row::new(&r::TTL, keys::ttl),
    Row::new(&r::PTTL, keys::ttl),
    Row::new(&r::EXPIRETIME, keys::ttl),
    Row::new(&r::PEXPIRETIME, keys::ttl),
    Row::new(&r::PERSIST, keys::persist),
    // strings
    Row::new(&r::GET, string::get),
    Row::new(&r::SET, string::set).key_flags(string::set_key_flags),
    Row::new(&r::SETNX, string::setnx),
    Row::new(&r::SETEX, string::setex),
    Row::new(&r::PSETEX, string::setex),
    Row::new(&r::GETSET, string::getset),
    Row::new(&r::GETDEL, string::getdel),
    Row::new(&r::GETEX, string::getex),
    Row::new(&r::MGET, string::mget),
    Row::new(&r::MSET, string::mset),
    Row::new(&r::MSETNX, string::msetnx),
    Row::new(&r::APPEND, string::append),
    Row::new(&r::STRLEN, string::strlen),
    Row::new(&r::GETRANGE, string::getrange),
    Row::new(&r::SUBSTR, string::getrange),
    Row::new(&r::SETRANGE, string::setrange),
    Row::new(&r::INCR, string::incr),
    Row::new(&r::DECR, string::incr),
    Row::new(&r::INCRBY, string::incr),
    Row::new(&r::DECRBY, string::incr),
    Row::new(&r::INCRBYFLOAT, string::incrbyfloat),
    Row::new(&r::LCS, string::lcs),
];

/// Transactions, the slow log, the latency monitor, MONITOR and WAIT.
#[rustfmt::skip]
const ADMIN_ROWS: &[Row] = &[
    Row::new(&r::MULTI, multi::multi).with(hooks::NOT_QUEUED),
    Row::new(&r::EXEC, multi::exec).with(hooks::EXEC | hooks::ENDS_MULTI),
    Row::new(&r::DISCARD, multi::discard_cmd).with(hooks::ENDS_MULTI),
    Row::new(&r::WATCH, multi::watch).with(hooks::NOT_QUEUED),
    Row::new(&r::UNWATCH, multi::unwatch),
    Row::new(&r::WAIT, replication::wait),
    Row::new(&r::MONITOR, monitor::monitor),
    Row::new(&r::SLOWLOG, container),
    Row::new(&r::SLOWLOG_GET, slowlog::get),
    Row::new(&r::SLOWLOG_LEN, slowlog::len),
    Row::new(&r::SLOWLOG_RESET, slowlog::reset),
    Row::new(&r::SLOWLOG_HELP, slowlog::help),
    Row::new(&r::LATENCY, container),
    Row::new(&r::LATENCY_LATEST, latency::latest),
    Row::new(&r::LATENCY_HISTORY, latency::history),
    Row::new(&r::LATENCY_RESET, latency::reset),
    Row::new(&r::LATENCY_GRAPH, latency::graph),
    Row::new(&r::LATENCY_DOCTOR, latency::doctor),
    Row::new(&r::LATENCY_HELP, latency::help),
];

impl Table {
    fn build() -> Table {
        let rows = ROWS
            .iter()
            .chain(list::ROWS)
            .chain(hash::ROWS)
            .chain(set::ROWS)
            .chain(zset::ROWS)
            .chain(stream::ROWS)
            .chain(pubsub::ROWS)
            .chain(scripting::ROWS)
            .chain(ADMIN_ROWS);
        let mut cmds: Vec<Command> = rows
            .enumerate()
            .map(|(index, row)| {
                let m = row.meta;
                let legacy = spec::legacy_range(m.key_specs);
                let movable = if legacy.movablekeys {
                    flags::MOVABLEKEYS
                } else {
                    0
                };
                Command {
                    name: m.name,
                    meta: m,
                    arity: if row.arity != 0 { row.arity } else { m.arity },
                    flags: m.flags | movable,
                    hooks: row.hooks,
                    handler: row.handler,
                    index,
                    subcommands: Vec::new(),
                    guard: row.guard,
                    key_flags: row.key_flags,
                    secrets: row.secrets,
                }
            })
            .collect();
        let by_name: std::collections::HashMap<&'static str, usize, foldhash::fast::RandomState> =
            cmds.iter().map(|c| (c.name, c.index)).collect();
        for i in 0..cmds.len() {
            if let Some((parent, _)) = cmds[i].name.split_once('|') {
                let p = by_name[parent];
                cmds[p].subcommands.push(i);
                cmds[i].hooks |= cmds[p].hooks;
                if cmds[i].guard.is_none() {
                    cmds[i].guard = cmds[p].guard;
                }
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

/// What running a request produced.
#[derive(Debug)]
pub enum Outcome {
    /// The reply to send.
    Reply(Reply),
    /// The client is parked on keys (`client.block_request` says which);
    /// the reply comes when a write serves it or its timeout passes.
    Blocked,
    /// CLIENT PAUSE holds the request: the caller keeps it and runs it
    /// again when the pause ends.
    Postponed,
    /// Nothing to send (CLIENT REPLY OFF/SKIP, an empty request).
    NoReply,
}

impl Outcome {
    /// The reply, if there is one to send.
    pub fn into_reply(self) -> Option<Reply> {
        match self {
            Outcome::Reply(r) => Some(r),
            _ => None,
        }
    }
}

/// Who asks for a command to run. Every caller goes through the same
/// lookup, arity check, handler, statistics, key signals, slow log and
/// MONITOR feed; the gates in front differ as they do in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A connected client: every gate (authentication, OOM, MISCONF,
    /// loading, pause, transactions, subscribed mode).
    Client,
    /// `redis.call` from a script: Redis's script gates (`scriptCall`):
    /// unknown commands, arity, `noscript` commands, writes from a
    /// read-only script, OOM and MISCONF before the script's first write.
    /// The script's client never blocks (`deny_blocking`).
    Script(ScriptGates),
    /// A loader of logged or replicated commands: only lookup and arity;
    /// the data is trusted to have passed the gates when it was written.
    Loader,
}

/// The state of a running script that its gates depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScriptGates {
    /// A read-only script (EVAL_RO, `no-writes`): writes are refused.
    pub read_only: bool,
    /// The script already wrote: later writes are not refused (it cannot
    /// stop half way).
    pub wrote: bool,
    /// The script's `allow-oom` flag: writes are not refused on OOM.
    pub allow_oom: bool,
}

/// Runs one request for the connected `client`.
///
/// `now` is the Unix time in ms the command runs at (the caller reads the
/// clock once per batch of pipelined requests).
pub fn execute(srv: &mut ServerState, client: &mut Client, args: &[Bytes], now: i64) -> Outcome {
    run(srv, client, args, now, Origin::Client, true)
}

/// Runs one request for a caller that is not a socket (a script's
/// `redis.call`, a loader of logged commands) through the same path: the
/// reply comes back as a value. `client` is the caller's own client state
/// (a script's or a loader's, with `deny_blocking` set), not a connection.
/// Re-entrant: it may run inside another command (the one that runs the
/// script or the loader), whose effects then include these commands'.
pub fn execute_as(
    srv: &mut ServerState,
    client: &mut Client,
    args: &[Bytes],
    now: i64,
    origin: Origin,
) -> Outcome {
    run(srv, client, args, now, origin, true)
}

/// `execute`, or with `fresh` false the re-run of a served blocking
/// command (never paused or queued: it already passed those gates). One
/// execution unit of the write-effect stream.
fn run(
    srv: &mut ServerState,
    client: &mut Client,
    args: &[Bytes],
    now: i64,
    origin: Origin,
    fresh: bool,
) -> Outcome {
    if args.is_empty() {
        return Outcome::NoReply;
    }
    if origin == Origin::Client {
        // A connection's request is always an outermost unit.
        srv.effects.reset_units();
    }
    srv.effects.begin();
    let out = run_unit(srv, client, args, now, origin, fresh);
    srv.effects.end();
    out
}

fn run_unit(
    srv: &mut ServerState,
    client: &mut Client,
    args: &[Bytes],
    now: i64,
    origin: Origin,
    fresh: bool,
) -> Outcome {
    if origin != Origin::Client {
        return match prepare_for(srv, client, args, origin) {
            Ok(cmd) => call(srv, client, cmd, args, now),
            Err((cmd, e)) => {
                if let Some(c) = cmd {
                    srv.cmd_stats[c.index].rejected_calls += 1;
                }
                srv.count_error(&e.0);
                Outcome::Reply(Reply::Error(e.0.into_owned()))
            }
        };
    }
    if client.postponed {
        client.postponed = false;
        srv.pause.release(client.id);
    }
    crate::server::multi::apply_deferred(srv, client);
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
            return Outcome::Postponed;
        }
        Ok(cmd) if fresh && multi::queues(client, cmd) => {
            client.last_cmd = cmd.name;
            client.last_interaction_ms = now;
            multi::queue(client, cmd, args)
        }
        Ok(cmd) => {
            client.last_cmd = cmd.name;
            match call(srv, client, cmd, args, now) {
                Outcome::Reply(r) => r,
                other => return other,
            }
        }
        Err((cmd, e)) => reject(srv, client, cmd, args, e),
    };
    if let Some(t) = client.tracking.as_mut()
        && client.multi.is_none()
        && !resolved.is_some_and(|c| c.hooked(hooks::KEEPS_CACHING))
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
        return reply.map_or(Outcome::NoReply, Outcome::Reply);
    }
    // A monitoring client sees its own command after the reply.
    let mut all: Vec<Reply> = reply.into_iter().collect();
    all.append(&mut client.echo);
    Outcome::Reply(Reply::Many(all))
}

/// Runs a resolved command that passed the gates: the handler, then the
/// statistics, key signals, the write-effect stream, slow log, latency
/// monitor and MONITOR feed. [`Outcome::Blocked`] when the command parked
/// the client (never inside EXEC or for a client that may not block).
pub fn call(
    srv: &mut ServerState,
    client: &mut Client,
    cmd: &'static Command,
    args: &[Bytes],
    now: i64,
) -> Outcome {
    let start = crate::util::clock::ticks();
    client.last_interaction_ms = now;
    client.commands += 1;
    let dirty = srv.ks.stats.dirty;
    let expired = srv.ks.stats.expired_keys;
    // Rewrites exist only while the stream has a consumer.
    let effects = srv.effects.enabled();
    let outer_rewrite = if effects {
        srv.effects.save_rewrite()
    } else {
        None
    };
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
            if effects {
                srv.effects.take_rewrite(outer_rewrite);
            }
            if !reprocess && shows_in_monitor(cmd) {
                monitor::feed(srv, client, cmd, args);
            }
            return Outcome::Blocked;
        }
    }
    // Keys deleted by expiry signal before the write's own keys, as in Redis.
    srv.drain_keyspace_events(Some(client));
    // Expiry counts in `dirty` too; the command's own changes are the rest.
    // (DEBUG RELOAD and FLUSHALL may reset the counters: a change too.)
    let (d, e) = (srv.ks.stats.dirty, srv.ks.stats.expired_keys);
    let changed = d < dirty || d - dirty > e.saturating_sub(expired);
    let rewrite = if effects {
        srv.effects.take_rewrite(outer_rewrite)
    } else {
        None
    };
    if cmd.has(flags::WRITE) && (changed || reprocess) {
        if srv.key_changes_heard() {
            signal_written_keys(srv, client, cmd, args);
        }
        // A served blocked command does not count in `dirty`: what it did
        // is what its handler logged.
        if effects && (changed || rewrite.is_some()) {
            propagate(srv, client.db, args, rewrite);
        }
    }
    // Keys the command found expired were deleted (and invalidated) before
    // it read them, so they are remembered after.
    // Pub/sub commands read channels, not keys.
    if cmd.has(flags::READONLY) && !cmd.has(flags::PUBSUB) && client.tracking.is_some() {
        let keys = cmd.keys(args);
        srv.tracking_remember_keys(client, keys.iter().map(|k| &args[k.pos]));
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
                if !std::mem::take(&mut srv.error_counted) {
                    srv.count_error(e);
                }
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
    Outcome::Reply(reply)
}

/// Hands a write's effect to the stream: what its handler rewrote it to,
/// or else its own arguments. A rewrite to nothing (an empty list) emits
/// nothing. Blocking commands served later never reach here unrewritten:
/// their handlers rewrite them to the non-blocking form.
fn propagate(srv: &mut ServerState, db: usize, args: &[Bytes], rewrite: Option<Vec<Vec<Bytes>>>) {
    match rewrite {
        Some(cmds) => {
            for argv in cmds.into_iter().filter(|a| !a.is_empty()) {
                srv.effects.push(db, argv);
            }
        }
        None => srv.effects.push(db, args.to_vec()),
    }
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
        if c.hooked(hooks::EXEC) {
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
                || (cmd.hooked(hooks::EXEC) && client.multi.as_ref().is_some_and(|m| m.writes()))
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
        if cmd.hooked(hooks::CROSS_DB) {
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

/// Positions of the keys a write command may change: all its keys, except
/// those its key specifications mark read-only (the sources of SINTERSTORE,
/// ZUNIONSTORE, ...). DEL and UNLINK signal their own keys.
fn written_key_positions(cmd: &Command, args: &[Bytes]) -> Vec<usize> {
    if cmd.hooked(hooks::SIGNALS_OWN_KEYS) {
        return Vec::new();
    }
    cmd.keys(args)
        .into_iter()
        .filter(|k| k.flags & ks::RO == 0)
        .map(|k| k.pos)
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
            let reply = run(srv, &mut c, &args, now, Origin::Client, false).into_reply();
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
            c.link.wake.notify_one();
        }
    }
}

/// The gates for callers that are not connections ([`Origin`]).
fn prepare_for(
    srv: &mut ServerState,
    client: &mut Client,
    args: &[Bytes],
    origin: Origin,
) -> Result<&'static Command, (Option<&'static Command>, CmdError)> {
    let script = matches!(origin, Origin::Script(_));
    let cmd = resolve(args).map_err(|e| {
        let e = if script {
            CmdError::msg("ERR Unknown Redis command called from script")
        } else {
            e
        };
        (None, e)
    })?;
    let argc = args.len() as i32;
    if (cmd.arity > 0 && argc != cmd.arity) || argc < -cmd.arity {
        let e = if script {
            CmdError::msg("ERR Wrong number of args calling Redis command from script")
        } else {
            CmdError::arity(cmd.name)
        };
        return Err((Some(cmd), e));
    }
    let Origin::Script(gates) = origin else {
        return Ok(cmd);
    };
    if cmd.has(flags::NOSCRIPT) {
        return Err((
            Some(cmd),
            CmdError::msg("ERR This Redis command is not allowed from script"),
        ));
    }
    if gates.read_only && cmd.has(flags::WRITE | flags::MAY_REPLICATE) {
        return Err((
            Some(cmd),
            CmdError::msg("ERR Write commands are not allowed from read-only scripts."),
        ));
    }
    if cmd.has(flags::WRITE) && !gates.wrote {
        if crate::server::persistence::writes_refused(srv) {
            return Err((
                Some(cmd),
                CmdError::msg(crate::server::persistence::MISCONF),
            ));
        }
        if srv.config.maxmemory > 0
            && !gates.allow_oom
            && cmd.has(flags::DENYOOM)
            && srv.perform_evictions() == crate::db::evict::EvictResult::Fail
        {
            srv.drain_keyspace_events(Some(client));
            return Err((Some(cmd), CmdError::oom()));
        }
    }
    Ok(cmd)
}

/// Whether the `enable-*-command` switch of a `protected` command admits
/// `client`: `yes`, or `local` and a local client. A protected command
/// without a guard is refused: a missing row setting must not open it.
fn check_protected(srv: &ServerState, client: &Client, cmd: &Command) -> Result<(), CmdError> {
    match cmd.guard {
        Some(g) if (g.setting)(&srv.config).allows(client.local) => Ok(()),
        Some(g) => Err(CmdError::protected_command(g.command, g.option)),
        None => {
            let top = cmd.name.split('|').next().unwrap_or(cmd.name);
            Err(CmdError::protected_command(
                &top.to_ascii_uppercase(),
                &format!("enable-{top}-command"),
            ))
        }
    }
}

/// Checks that run before a handler: lookup, arity, protected commands
/// (`enable-debug-command`), authentication, memory (evicting first when
/// `maxmemory` is set), loading.
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
    // Before authentication, as in Redis.
    if cmd.has(flags::PROTECTED) {
        check_protected(srv, client, cmd).map_err(|e| (Some(cmd), e))?;
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
        Some(m) if cmd.hooked(hooks::EXEC) => m.flags,
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
            || (client.multi.is_some() && !cmd.hooked(hooks::ENDS_MULTI));
        if oom && denyoom {
            return Err((Some(cmd), CmdError::oom()));
        }
    }
    let writes = cmd.has(flags::WRITE) || queued & flags::WRITE != 0;
    if (writes || cmd.hooked(hooks::MISCONF)) && crate::server::persistence::writes_refused(srv) {
        return Err((
            Some(cmd),
            CmdError::msg(crate::server::persistence::MISCONF),
        ));
    }
    // RESP2 subscribed clients may run only the rows marked SUBSCRIBED.
    if client.resp == 2 && client.is_pubsub() && !cmd.hooked(hooks::SUBSCRIBED) {
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

    fn argv(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    /// Runs `v` as a script's or loader's call; the reply.
    fn run_as(srv: &mut ServerState, c: &mut Client, v: &[&str], origin: Origin) -> Reply {
        match execute_as(srv, c, &argv(v), 0, origin) {
            Outcome::Reply(r) => r,
            other => panic!("{v:?}: {other:?}"),
        }
    }

    #[test]
    fn callers_that_are_not_sockets_pass_their_own_gates() {
        let mut srv = ServerState::new(crate::config::Config::default(), table().cmds.len());
        // Not authenticated: a script's client carries its caller's user,
        // a loader needs none.
        let mut c = Client::new(1, String::new(), String::new(), -1, false, 0);
        c.deny_blocking = true;
        let script = Origin::Script(ScriptGates::default());
        let ro = Origin::Script(ScriptGates {
            read_only: true,
            ..ScriptGates::default()
        });
        let err = |r: Reply| match r {
            Reply::Error(e) => e,
            other => panic!("not an error: {other:?}"),
        };
        assert_eq!(
            err(run_as(&mut srv, &mut c, &["nosuch"], script)),
            "ERR Unknown Redis command called from script"
        );
        assert_eq!(
            err(run_as(&mut srv, &mut c, &["get"], script)),
            "ERR Wrong number of args calling Redis command from script"
        );
        assert_eq!(
            err(run_as(&mut srv, &mut c, &["multi"], script)),
            "ERR This Redis command is not allowed from script"
        );
        assert_eq!(
            err(run_as(&mut srv, &mut c, &["set", "k", "v"], ro)),
            "ERR Write commands are not allowed from read-only scripts."
        );
        assert!(matches!(
            run_as(&mut srv, &mut c, &["set", "k", "v"], script),
            Reply::Ok
        ));
        assert!(matches!(
            run_as(&mut srv, &mut c, &["get", "k"], ro),
            Reply::Value(_)
        ));
        // Blocking commands are `noscript`; a loader's client never blocks.
        assert_eq!(
            err(run_as(&mut srv, &mut c, &["blpop", "l", "0"], script)),
            "ERR This Redis command is not allowed from script"
        );
        let r = run_as(&mut srv, &mut c, &["blpop", "l", "0"], Origin::Loader);
        assert!(matches!(r, Reply::NilArray), "{r:?}");
        assert!(c.block_request.is_none());
        assert!(matches!(
            run_as(&mut srv, &mut c, &["set", "k", "w"], Origin::Loader),
            Reply::Ok
        ));
        assert_eq!(
            err(run_as(&mut srv, &mut c, &["get"], Origin::Loader)),
            "ERR wrong number of arguments for 'get' command"
        );
        // Same statistics as a client's calls.
        let set = table().get("set").unwrap();
        assert_eq!(srv.cmd_stats[set.index].calls, 2);
        assert_eq!(srv.cmd_stats[set.index].rejected_calls, 1);
    }

    #[test]
    fn protected_commands_have_a_guard() {
        let t = table();
        assert!(t.get("debug").unwrap().has(flags::PROTECTED));
        for c in t.cmds.iter().filter(|c| c.has(flags::PROTECTED)) {
            assert!(
                c.guard.is_some(),
                "{} is protected but has no guard",
                c.name
            );
        }
    }

    #[test]
    fn debug_follows_enable_debug_command_and_scripts_never_run_it() {
        use crate::config::ProtectedAction as P;
        let mut srv = ServerState::new(crate::config::Config::default(), table().cmds.len());
        let mut c = Client::new(1, String::new(), String::new(), -1, true, 0);
        let refused = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
        let args = argv(&["debug", "set-active-expire", "1"]);
        for (setting, local, ok) in [
            (P::No, true, false),
            (P::Local, false, false),
            (P::Local, true, true),
            (P::Yes, false, true),
        ] {
            srv.config.enable_debug_command = setting;
            c.local = local;
            let r = execute(&mut srv, &mut c, &args, 0).into_reply().unwrap();
            if ok {
                assert!(matches!(r, Reply::Ok), "{setting:?} {local}: {r:?}");
            } else {
                assert!(
                    matches!(&r, Reply::Error(e) if e == refused),
                    "{setting:?} {local}: {r:?}"
                );
            }
        }
        let r = run_as(
            &mut srv,
            &mut c,
            &["debug", "sleep", "0"],
            Origin::Script(ScriptGates::default()),
        );
        assert!(
            matches!(&r, Reply::Error(e) if e == "ERR This Redis command is not allowed from script"),
            "{r:?}"
        );
    }

    #[test]
    fn written_keys_skip_read_only_sources() {
        let args: Vec<Bytes> = ["sinterstore", "d", "a", "b"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        let cmd = resolve(&args).unwrap();
        assert_eq!(written_key_positions(cmd, &args), [1]);
        let args: Vec<Bytes> = ["del", "a"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert!(written_key_positions(resolve(&args).unwrap(), &args).is_empty());
    }
}
