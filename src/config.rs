//! Server configuration: the defaults, the redis.conf-style file and
//! `--name value` command line that override them, and the `CONFIG GET` /
//! `CONFIG SET` view of the running values.
//!
//! Everything about a parameter (its names, how its text is checked and
//! converted, how it is shown, whether it may change at runtime) lives in one
//! line of the `PARAMS` table, so the file loader, `CONFIG GET` and
//! `CONFIG SET` cannot disagree. Texts follow Redis 7 (`config.c`) word for
//! word, because clients and test suites match on them.
//!
//! This module only stores values. It never opens sockets, changes directory
//! or touches the log; the server applies the values (see the docs of
//! [`Config`] for which ones need action when they change at runtime).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::util::glob::glob_match;
use crate::util::split::{is_c_space, split_args};

mod inert;

/// Key-eviction policies Redis accepts for `maxmemory-policy`, in Redis's
/// order (which is also the order of its error message).
pub const MAXMEMORY_POLICIES: [&str; 8] = [
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Bits of [`Config::notify_keyspace_events`], with Redis's values so the
/// flags read the same as in `notify.c`.
pub mod notify {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted-set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: a key expired.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: a key was evicted for maxmemory.
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: a key was looked up and missing (not part of `A`).
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module key types.
    pub const MODULE: u32 = 1 << 13;
    /// `n`: a new key was created (not part of `A`).
    pub const NEW: u32 = 1 << 14;
    /// `A`: alias for `g$lshzxetd`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Log verbosity, least to most severe; a message is written when its level
/// is at least [`Config::loglevel`]. `Nothing` silences the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Lots of information, useful for development.
    Debug,
    /// Rarely useful information, less noisy than `Debug`.
    Verbose,
    /// Moderately verbose, what you want in production.
    Notice,
    /// Only very important or critical messages.
    Warning,
    /// Nothing at all.
    Nothing,
}

impl LogLevel {
    /// The configuration name: `debug`, `verbose`, `notice`, `warning`,
    /// `nothing`.
    pub fn as_str(self) -> &'static str {
        enum_name(self)
    }
}

/// The `yes` / `no` / `local` switch Redis uses for actions that are
/// dangerous when exposed to the network (`enable-protected-configs`,
/// `enable-debug-command`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtectedAction {
    /// Refused for every client.
    No,
    /// Allowed for every client.
    Yes,
    /// Allowed only for local clients: a Unix socket or a TCP peer at
    /// exactly `127.0.0.1` or `::1` (Redis's `islocalClient`).
    Local,
}

impl ProtectedAction {
    /// Whether a client may take the action; `local` says the client is
    /// local (Redis's `allowProtectedAction`).
    pub fn allows(self, local: bool) -> bool {
        match self {
            ProtectedAction::Yes => true,
            ProtectedAction::Local => local,
            ProtectedAction::No => false,
        }
    }
}

/// One class of `client-output-buffer-limit`: a client whose pending output
/// exceeds `hard_bytes`, or stays above `soft_bytes` for `soft_seconds`, is
/// disconnected. Zero disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObufLimit {
    /// Disconnect at once above this many bytes (0 = no limit).
    pub hard_bytes: u64,
    /// Disconnect when above this many bytes for `soft_seconds` (0 = none).
    pub soft_bytes: u64,
    /// How long the soft limit may be exceeded.
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit` for each client class Redis knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOutputBufferLimits {
    /// Ordinary clients (default: no limit).
    pub normal: ObufLimit,
    /// Replicas (`slave` / `replica` in the directive); kept for
    /// compatibility, forkv has no replication.
    pub replica: ObufLimit,
    /// Clients subscribed to at least one channel or pattern.
    pub pubsub: ObufLimit,
}

/// The server configuration.
///
/// Built by [`Config::default`] (the embedded defaults below), then
/// [`Config::from_args`] / [`Config::apply_text`] for startup, and changed at
/// runtime only through [`Config::set`] (`CONFIG SET`).
///
/// Values that need action from the server when `CONFIG SET` changes them:
/// `requirepass` (new `AUTH` checks; Redis keeps already-authenticated
/// connections), `maxclients`, `timeout`, `tcp-keepalive` (new connections),
/// `hz` (cron period), `maxmemory*` (may start evicting at once),
/// `loglevel`, `save` (snapshot schedule), `dir` (see below),
/// `client-output-buffer-limit`, `notify-keyspace-events`, `slowlog-*`,
/// `port` and `bind` (the listeners are rebound; see `server::listen`;
/// port 0 closes them), `lazyfree-lazy-user-flush` (read by each flush).
/// `databases`, `daemonize`, `logfile`, `pidfile`, `unixsocket`,
/// `unixsocketperm`, `tcp-backlog`, `disable-thp`, `cluster-enabled` and
/// the `enable-*` switches are fixed after startup.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `port`: TCP port to listen on (0 = no TCP listener). Default 6379.
    pub port: u16,
    /// `bind`: addresses to listen on. Default `127.0.0.1 -::1`. As in
    /// Redis, a leading `-` marks an address as optional: failing to bind it
    /// because it is unavailable on this host is not fatal. An empty list
    /// means "listen nowhere", which the server should refuse as Redis does.
    pub bind: Vec<String>,
    /// `dir`: the data directory, where snapshots are written. Default `.`,
    /// the current directory of the process. Whenever it is set (file,
    /// command line or `CONFIG SET`) the new value must name an existing
    /// directory; it is resolved against the previous `dir` and stored
    /// absolute. Redis `chdir`s into it; this module never does, so the
    /// server decides whether to (relative `logfile`/`pidfile` paths are
    /// relative to `dir` in Redis because of that `chdir`).
    pub dir: PathBuf,
    /// `dbfilename`: snapshot file name inside `dir` (never a path).
    /// Default `dump.forkv`.
    pub dbfilename: String,
    /// `requirepass`: password for `AUTH`; `None` (set as `""`) means no
    /// authentication. Default none.
    pub requirepass: Option<Vec<u8>>,
    /// `maxclients`: most simultaneous clients. Default 10000.
    pub maxclients: u32,
    /// `databases`: number of logical databases for `SELECT`. Default 16.
    pub databases: u32,
    /// `timeout`: close idle client connections after this many seconds
    /// (0 = never). Default 0.
    pub timeout: u64,
    /// `protected-mode`: with no password and the default bind, refuse
    /// clients that are not on loopback. Default yes.
    pub protected_mode: bool,
    /// `proto-max-bulk-len`: largest bulk string a request may carry.
    /// Default 512mb.
    pub proto_max_bulk_len: u64,
    /// `client-query-buffer-limit`: largest unparsed input buffered for one
    /// client. Default 1gb.
    pub client_query_buffer_limit: u64,
    /// `loglevel`. Default notice.
    pub loglevel: LogLevel,
    /// `logfile`: file to log to; empty means standard error. Default empty.
    pub logfile: String,
    /// `save`: snapshot after `seconds` if at least `changes` writes
    /// happened, for each `(seconds, changes)`. Default
    /// `3600 1 300 100 60 10000`; `save ""` clears the list.
    pub save: Vec<(u64, u64)>,
    /// `hz`: background task frequency. Values are clamped to 1..=500 as
    /// Redis does. Default 10.
    pub hz: u32,
    /// `dynamic-hz`: raise the effective hz with many clients. Default yes.
    pub dynamic_hz: bool,
    /// `maxmemory`: memory limit in bytes (0 = none). Default 0.
    pub maxmemory: u64,
    /// `maxmemory-policy`: one of [`MAXMEMORY_POLICIES`], lowercase.
    /// Default `noeviction`.
    pub maxmemory_policy: String,
    /// `maxmemory-samples`: keys sampled per eviction. Default 5.
    pub maxmemory_samples: u32,
    /// `maxmemory-eviction-tenacity`: 0..=100, how long one eviction pass
    /// may run. Default 10.
    pub maxmemory_eviction_tenacity: u32,
    /// `stop-writes-on-bgsave-error`: refuse writes (`-MISCONF`) after a
    /// failed background save. Default yes.
    pub stop_writes_on_bgsave_error: bool,
    /// `tcp-backlog`: listen(2) backlog. Default 511.
    pub tcp_backlog: u32,
    /// `tcp-keepalive`: SO_KEEPALIVE interval in seconds (0 = off).
    /// Default 300.
    pub tcp_keepalive: u64,
    /// `daemonize`: always false; `daemonize yes` is refused at startup
    /// because forkv stays in the foreground.
    pub daemonize: bool,
    /// `appendonly`: always false; forkv has no append-only file and only
    /// accepts `no`.
    pub appendonly: bool,
    /// `pidfile`: file the process id is written to at start and removed
    /// from at a clean shutdown; empty means none. A relative path is
    /// relative to `dir` (where Redis has `chdir`ed by then). Default empty.
    pub pidfile: String,
    /// `unixsocket`: path of a Unix domain socket to serve clients on, as
    /// well as TCP; empty means none. A relative path is relative to `dir`.
    /// Default empty.
    pub unixsocket: String,
    /// `unixsocketperm`: permissions given to the socket file (0 = leave
    /// them to the umask). Written and shown in octal. Default 0.
    pub unixsocketperm: u32,
    /// `key-load-delay` (hidden, a Redis test hook): microseconds to sleep
    /// after loading each key; negative N sleeps 1 µs every N keys.
    /// Default 0.
    pub key_load_delay: i32,
    /// `loading-process-events-interval-bytes` (hidden): while a snapshot
    /// loads, clients are served after every this many bytes of it.
    /// Default 2 MiB.
    pub loading_process_events_interval_bytes: u64,
    /// `disable-thp`: keep transparent huge pages off for the process at
    /// startup, except for the large hash table bucket arrays the snapshot
    /// loader sizes, where the kernel copies 4 KiB on a copy-on-write fault (see
    /// [`crate::alloc::setup_huge_pages`]). Default yes.
    pub disable_thp: bool,
    /// `cluster-enabled`: always false; only `no` is accepted.
    pub cluster_enabled: bool,
    /// `enable-protected-configs`: whether `CONFIG SET` may change `dir` and
    /// `dbfilename` (Redis 7.0's `PROTECTED_CONFIG` parameters). Default no.
    /// `local` allows local clients ([`Config::set_as`]).
    pub enable_protected_configs: ProtectedAction,
    /// `enable-debug-command`: who may run `DEBUG` (checked in front of the
    /// command by `cmd::prepare`). Default no.
    pub enable_debug_command: ProtectedAction,
    /// `slowlog-log-slower-than`: log commands slower than this many
    /// microseconds (-1 = off, 0 = all). Default 10000.
    pub slowlog_log_slower_than: i64,
    /// `slowlog-max-len`: entries kept in the slow log. Default 128.
    pub slowlog_max_len: u64,
    /// `latency-monitor-threshold`: record events slower than this many
    /// milliseconds (0 = off). Default 0.
    pub latency_monitor_threshold: u64,
    /// `latency-tracking`: per-command latency histograms. Default yes.
    pub latency_tracking: bool,
    /// `latency-tracking-info-percentiles`: percentiles shown by
    /// `INFO latencystats`. Default `50 99 99.9`.
    pub latency_tracking_info_percentiles: Vec<f64>,
    /// `notify-keyspace-events`: a set of [`notify`] bits (0 = off).
    /// Default 0.
    pub notify_keyspace_events: u32,
    /// `lazyfree-lazy-eviction`. Default no.
    pub lazyfree_lazy_eviction: bool,
    /// `lazyfree-lazy-expire`. Default no.
    pub lazyfree_lazy_expire: bool,
    /// `lazyfree-lazy-server-del`. Default no.
    pub lazyfree_lazy_server_del: bool,
    /// `lazyfree-lazy-user-del`: make `DEL` behave like `UNLINK`.
    /// Default no.
    pub lazyfree_lazy_user_del: bool,
    /// `lazyfree-lazy-user-flush`: make `FLUSHALL`/`FLUSHDB` default to
    /// `ASYNC`. Default no.
    pub lazyfree_lazy_user_flush: bool,
    /// `activerehashing`. Default yes.
    pub activerehashing: bool,
    /// `active-expire-effort`: 1..=10. Default 1.
    pub active_expire_effort: u32,
    /// `lfu-log-factor`. Default 10.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`: minutes. Default 1.
    pub lfu_decay_time: u32,
    /// `list-max-listpack-size` (alias `list-max-ziplist-size`): positive =
    /// entries per node, -1..-5 = 4..64 KiB per node. Default -2.
    pub list_max_listpack_size: i32,
    /// `list-compress-depth`. Default 0.
    pub list_compress_depth: u32,
    /// `hash-max-listpack-entries` (alias `hash-max-ziplist-entries`).
    /// Default 512.
    pub hash_max_listpack_entries: u64,
    /// `hash-max-listpack-value` (alias `hash-max-ziplist-value`), bytes.
    /// Default 64.
    pub hash_max_listpack_value: u64,
    /// `set-max-intset-entries`. Default 512.
    pub set_max_intset_entries: u64,
    /// `set-max-listpack-entries` (Redis 7.2). Default 128.
    pub set_max_listpack_entries: u64,
    /// `set-max-listpack-value` (Redis 7.2). Default 64.
    pub set_max_listpack_value: u64,
    /// `zset-max-listpack-entries` (alias `zset-max-ziplist-entries`).
    /// Default 128.
    pub zset_max_listpack_entries: u64,
    /// `zset-max-listpack-value` (alias `zset-max-ziplist-value`), bytes.
    /// Default 64.
    pub zset_max_listpack_value: u64,
    /// `stream-node-max-bytes`. Default 4096.
    pub stream_node_max_bytes: u64,
    /// `stream-node-max-entries`. Default 100.
    pub stream_node_max_entries: u64,
    /// `hll-sparse-max-bytes`. Default 3000.
    pub hll_sparse_max_bytes: u64,
    /// `busy-reply-threshold` (alias `lua-time-limit`): milliseconds after
    /// which a running script heeds SCRIPT KILL, FUNCTION KILL and SHUTDOWN
    /// NOSAVE from other clients (`script::busy`; 0: never). Default 5000.
    pub busy_reply_threshold: u64,
    /// `tracking-table-max-keys`: keys the client-side caching table may
    /// remember before it forgets (and invalidates) some (0 = no limit).
    /// Default 1000000.
    pub tracking_table_max_keys: u64,
    /// `client-output-buffer-limit`. Default `normal 0 0 0 slave 256mb 64mb
    /// 60 pubsub 32mb 8mb 60`.
    pub client_output_buffer_limit: ClientOutputBufferLimits,
    /// Redis parameters accepted but not acted on (see `config/inert.rs`),
    /// by canonical name, as `CONFIG GET` shows them; only those set.
    pub inert: BTreeMap<&'static str, String>,
}

impl Default for Config {
    fn default() -> Self {
        const MB: u64 = 1024 * 1024;
        Config {
            port: 6379,
            bind: vec!["127.0.0.1".to_string(), "-::1".to_string()],
            dir: PathBuf::from("."),
            dbfilename: "dump.forkv".to_string(),
            requirepass: None,
            maxclients: 10000,
            databases: 16,
            timeout: 0,
            protected_mode: true,
            proto_max_bulk_len: 512 * MB,
            client_query_buffer_limit: 1024 * MB,
            loglevel: LogLevel::Notice,
            logfile: String::new(),
            save: vec![(3600, 1), (300, 100), (60, 10000)],
            hz: 10,
            dynamic_hz: true,
            maxmemory: 0,
            maxmemory_policy: "noeviction".to_string(),
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            stop_writes_on_bgsave_error: true,
            tcp_backlog: 511,
            tcp_keepalive: 300,
            daemonize: false,
            appendonly: false,
            pidfile: String::new(),
            unixsocket: String::new(),
            unixsocketperm: 0,
            key_load_delay: 0,
            loading_process_events_interval_bytes: 2 * MB,
            disable_thp: true,
            cluster_enabled: false,
            enable_protected_configs: ProtectedAction::No,
            enable_debug_command: ProtectedAction::No,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            latency_tracking: true,
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            notify_keyspace_events: 0,
            lazyfree_lazy_eviction: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            activerehashing: true,
            active_expire_effort: 1,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            hll_sparse_max_bytes: 3000,
            busy_reply_threshold: 5000,
            tracking_table_max_keys: 1_000_000,
            client_output_buffer_limit: ClientOutputBufferLimits {
                normal: ObufLimit {
                    hard_bytes: 0,
                    soft_bytes: 0,
                    soft_seconds: 0,
                },
                replica: ObufLimit {
                    hard_bytes: 256 * MB,
                    soft_bytes: 64 * MB,
                    soft_seconds: 60,
                },
                pubsub: ObufLimit {
                    hard_bytes: 32 * MB,
                    soft_bytes: 8 * MB,
                    soft_seconds: 60,
                },
            },
            inert: BTreeMap::new(),
        }
    }
}

/// Source name used in error messages for `--name value` options.
const COMMAND_LINE: &str = "(command line)";
/// Source name used in error messages for a configuration read from stdin.
const STDIN: &str = "(stdin)";
/// How deep `include` may nest before we assume a loop.
const MAX_INCLUDE_DEPTH: u32 = 16;

impl Config {
    /// Parses `forkv-server [config-file] [--name value ...]` exactly like
    /// redis-server's argv handling. `args` are the arguments *after* the
    /// program name (`std::env::args().skip(1)`); `--version` / `--help`
    /// must be handled by the caller first.
    ///
    /// The first argument, if it does not start with `-`, is the
    /// configuration file (it may contain `*`, `?`, `[` in its last
    /// component, like `include`). A lone `-` as the first or last argument
    /// reads more configuration from standard input. Every `--name` starts a
    /// new directive line and the arguments after it are its values
    /// (`--save` with no value means `save ""`); the directives are applied
    /// after the file. Returns the full fatal message on error, ready to be
    /// printed to stderr before exiting with status 1.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut j = 0;
        let mut config_file = None;
        if let Some(first) = args.first()
            && !first.starts_with('-')
        {
            config_file = Some(first.as_str());
            j = 1;
        }
        let mut from_stdin = false;
        let mut options: Vec<u8> = Vec::new();
        // False right after a bare `--name`: the next argument is its value
        // even if it starts with `--` (Redis 7.0.1+ behaviour).
        let mut handled_last_config_arg = true;
        while j < args.len() {
            let arg = args[j].as_str();
            let is_last = j + 1 == args.len();
            if arg == "-" && (j == 0 || is_last) {
                from_stdin = true;
            } else if handled_last_config_arg && arg.starts_with("--") {
                if !options.is_empty() {
                    options.push(b'\n');
                }
                options.extend_from_slice(&arg.as_bytes()[2..]);
                options.push(b' ');
                let words = split_args(arg.as_bytes()).map_or(0, |v| v.len());
                if words == 1 {
                    // A bare option name: its values follow as arguments.
                    handled_last_config_arg = false;
                    let is_save = arg.eq_ignore_ascii_case("--save");
                    if is_save && (is_last || args[j + 1].starts_with("--")) {
                        // `--save` with nothing after it means `save ""`,
                        // which people get from generating argv out of an
                        // empty list; Redis keeps that working.
                        options.extend_from_slice(b"\"\"");
                        handled_last_config_arg = true;
                    }
                } else {
                    // Name and value(s) in one argument: "--port 6380".
                    handled_last_config_arg = true;
                }
            } else {
                options.extend_from_slice(crate::util::split::repr(arg.as_bytes()).as_bytes());
                options.push(b' ');
                handled_last_config_arg = true;
            }
            j += 1;
        }

        let mut config = Config::default();
        let mut state = LoadState::default();
        if let Some(file) = config_file {
            config.apply_path(file, &mut state)?;
        }
        if from_stdin {
            let mut text = Vec::new();
            io::Read::read_to_end(&mut io::stdin().lock(), &mut text).map_err(|e| {
                format!(
                    "Fatal error, can't read config from stdin: {}",
                    os_error(&e)
                )
            })?;
            config.apply_bytes(&text, STDIN, &mut state)?;
        }
        if !options.is_empty() {
            config.apply_bytes(&options, COMMAND_LINE, &mut state)?;
        }
        Ok(config)
    }

    /// Parses config text (redis.conf syntax) and applies it on top of the
    /// current values, in order.
    ///
    /// Lines are trimmed; blank lines and lines starting with `#` are
    /// skipped; the rest are split the way Redis's `sdssplitargs` does
    /// (double quotes with `\n \r \t \b \a \\ \" \xHH` escapes, single quotes
    /// with `\'`; a closing quote must be followed by a space or the end of
    /// the line; unbalanced quotes are an error). Directive names are
    /// case-insensitive; an unknown directive is an error. Several `save`
    /// lines add up, the first one replacing the defaults.
    ///
    /// `source` names the file in the error message; a source written in
    /// parentheses, such as `(command line)`, is shown as is rather than as a
    /// file name. Relative `include` paths are resolved against `dir`.
    pub fn apply_text(&mut self, text: &str, source: &str) -> Result<(), String> {
        self.apply_bytes(text.as_bytes(), source, &mut LoadState::default())
    }

    /// `CONFIG GET`: all `(name, value)` pairs whose name matches the glob
    /// `pattern`, case-insensitively, sorted by name.
    ///
    /// As in Redis 7: a pattern without `*`, `?` or `[` is a plain lookup
    /// and the reply carries the name exactly as the client typed it; glob
    /// matches also list aliases (`slave-lazy-flush`, `hash-max-ziplist-*`,
    /// ...). Values are formatted as Redis formats them: sizes as plain
    /// bytes, booleans as `yes`/`no`, `save` as `3600 1 300 100 60 10000`,
    /// `bind` joined by spaces, `dir` as an absolute path.
    pub fn get(&self, pattern: &[u8]) -> Vec<(String, String)> {
        if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            return match lookup(pattern) {
                Some((p, _)) => {
                    vec![(String::from_utf8_lossy(pattern).into_owned(), (p.get)(self))]
                }
                None => Vec::new(),
            };
        }
        let mut out = Vec::new();
        for p in all_params().filter(|p| p.flags & HIDDEN == 0) {
            for name in std::iter::once(p.name).chain(p.alias) {
                if glob_match(pattern, name.as_bytes(), true) {
                    out.push((name.to_string(), (p.get)(self)));
                }
            }
        }
        out.sort();
        out
    }

    /// `CONFIG SET` with one or more `(name, value)` pairs, all or nothing
    /// as in Redis 7: names are checked first (unknown, immutable,
    /// protected, duplicate; the first problem wins), then every value is
    /// parsed into a copy, which replaces `self` only if all succeed.
    ///
    /// Multi-word values (`save`, `client-output-buffer-limit`,
    /// `latency-tracking-info-percentiles`) are split on single spaces. The
    /// error is Redis's exact text without the leading `-` and CRLF, e.g.
    /// `ERR Unknown option or number of arguments for CONFIG SET - 'foo'`.
    pub fn set(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
        self.set_as(pairs, false)
    }

    /// [`Config::set`] for a client that is local (`local` true) or not:
    /// `enable-protected-configs local` lets local clients change the
    /// protected parameters.
    pub fn set_as(&mut self, pairs: &[(&[u8], &[u8])], local: bool) -> Result<(), String> {
        // Each entry is the parameter and the name (canonical or alias) it
        // was reached by.
        let mut found: Vec<(&'static Param, &'static str)> = Vec::with_capacity(pairs.len());
        let mut first_error: Option<String> = None;
        for (name, _) in pairs {
            let Some((param, entry)) = lookup(name) else {
                if first_error.is_none() {
                    first_error = Some(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                        String::from_utf8_lossy(name)
                    ));
                }
                continue;
            };
            if first_error.is_some() {
                continue;
            }
            let problem = if param.flags & IMMUTABLE != 0 {
                Some("can't set immutable config")
            } else if param.flags & PROTECTED != 0 && !self.enable_protected_configs.allows(local) {
                Some("can't set protected config")
            } else if found
                .iter()
                .any(|(p, e)| std::ptr::eq(*p, param) && *e == entry)
            {
                // Redis 7.0 registers an alias as an entry of its own, so
                // `hash-max-ziplist-entries 5 hash-max-listpack-entries 6`
                // is not a duplicate: both are applied and the last wins.
                Some("duplicate parameter")
            } else {
                None
            };
            if let Some(problem) = problem {
                first_error = Some(set_failed(&String::from_utf8_lossy(name), problem));
                continue;
            }
            found.push((param, entry));
        }
        if let Some(e) = first_error {
            return Err(e);
        }

        let mut next = self.clone();
        for ((param, entry), (_, value)) in found.iter().zip(pairs) {
            let args: Vec<&[u8]> = if param.flags & MULTI_ARG != 0 {
                split_spaces(value)
            } else {
                vec![*value]
            };
            (param.set)(&mut next, &args).map_err(|e| set_failed(entry, &e))?;
        }
        *self = next;
        Ok(())
    }

    /// The collection encoding thresholds the keyspace applies.
    pub fn encoding_limits(&self) -> crate::db::EncodingLimits {
        crate::db::EncodingLimits {
            list_max_listpack_size: self.list_max_listpack_size,
            hash_max_listpack_entries: self.hash_max_listpack_entries,
            hash_max_listpack_value: self.hash_max_listpack_value,
            set_max_intset_entries: self.set_max_intset_entries,
            set_max_listpack_entries: self.set_max_listpack_entries,
            set_max_listpack_value: self.set_max_listpack_value,
            zset_max_listpack_entries: self.zset_max_listpack_entries,
            zset_max_listpack_value: self.zset_max_listpack_value,
        }
    }

    /// Path of the snapshot file: `dir` joined with `dbfilename`.
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join(&self.dbfilename)
    }

    /// Reads and applies a configuration file, or every file matched by a
    /// pattern in its last component (no match is not an error, which lets
    /// `include /etc/forkv/conf.d/*.conf` work on an empty directory).
    fn apply_path(&mut self, path: &str, state: &mut LoadState) -> Result<(), String> {
        let files = expand_path(path)?;
        for file in files {
            let display = file.to_string_lossy().into_owned();
            let text = std::fs::read(&file).map_err(|e| {
                format!(
                    "Fatal error, can't open config file '{display}': {}",
                    os_error(&e)
                )
            })?;
            self.apply_bytes(&text, &display, state)?;
        }
        Ok(())
    }

    /// The loader behind [`Config::apply_text`], on bytes so that files
    /// need not be UTF-8.
    fn apply_bytes(
        &mut self,
        text: &[u8],
        source: &str,
        state: &mut LoadState,
    ) -> Result<(), String> {
        for (index, raw) in text.split(|b| *b == b'\n').enumerate() {
            let line = trim(raw);
            // Redis handles each line as a C string: a NUL ends it.
            let line = &line[..line.iter().position(|b| *b == 0).unwrap_or(line.len())];
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let fail = |reason: &str| fatal(source, index + 1, line, reason);
            let Some(argv) = split_args(line) else {
                return Err(fail("Unbalanced quotes in configuration line"));
            };
            let Some((name, values)) = argv.split_first() else {
                continue;
            };
            let args: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();

            if let Some((param, _)) = lookup(name) {
                if param.flags & MULTI_ARG == 0 && args.len() != 1 {
                    return Err(fail("wrong number of arguments"));
                }
                if std::ptr::eq(param, &PARAMS[SAVE_INDEX]) {
                    self.load_save_line(&args, state).map_err(|e| fail(&e))?;
                } else {
                    (param.set)(self, &args).map_err(|e| fail(&e))?;
                }
                continue;
            }

            let lower = name.to_ascii_lowercase();
            let argc = argv.len();
            match (lower.as_slice(), argc) {
                // Deprecated in Redis 7 and silently ignored there too.
                (
                    b"list-max-ziplist-entries"
                    | b"list-max-ziplist-value"
                    | b"lua-replicate-commands",
                    2,
                ) => {}
                (b"include", 2) => {
                    if state.depth >= MAX_INCLUDE_DEPTH {
                        return Err(fail(&format!(
                            "include nesting deeper than {MAX_INCLUDE_DEPTH} levels (an include loop?)"
                        )));
                    }
                    let target = self.dir.join(bytes_to_path(args[0]));
                    state.depth += 1;
                    let result = self.apply_path(&target.to_string_lossy(), state);
                    state.depth -= 1;
                    result?;
                }
                (b"rename-command", 3) => {
                    return Err(fail("rename-command is not supported by forkv"));
                }
                (b"user", n) if n >= 2 => {
                    return Err(fail(
                        "user is not supported by forkv (ACLs are not implemented; use requirepass)",
                    ));
                }
                (b"loadmodule", n) if n >= 2 => {
                    return Err(fail("loadmodule is not supported: forkv has no modules"));
                }
                _ => return Err(fail("Bad directive or wrong number of arguments")),
            }
        }
        Ok(())
    }

    /// `save` in a file: Redis lets several lines add up, the first one
    /// dropping the defaults, while `save ""` clears everything so far.
    fn load_save_line(&mut self, args: &[&[u8]], state: &mut LoadState) -> Result<(), String> {
        let (clear, entries) = parse_save(args)?;
        if clear || !state.save_seen {
            self.save.clear();
        }
        state.save_seen = true;
        self.save.extend(entries);
        Ok(())
    }
}

/// State of one startup load (file, stdin and command line together).
#[derive(Default)]
struct LoadState {
    /// A `save` line was seen, so later ones append instead of replacing.
    save_seen: bool,
    /// Current `include` nesting.
    depth: u32,
}

/// Parses a memory amount the way Redis's `memtoull` does: decimal digits
/// followed by an optional case-insensitive unit, `b` (1), `k` (1000), `kb`
/// (1024), `m` (1000²), `mb` (1024²), `g` (1000³), `gb` (1024³).
///
/// Redis quirks kept: an empty number counts as 0 (`""`, `"kb"`), and a
/// number too large for 64 bits saturates. One deliberate difference: when
/// the unit multiplication overflows, Redis wraps around; we saturate to
/// `u64::MAX` instead. Signs, spaces, fractions and unknown units give
/// `None`.
pub fn parse_memory(s: &str) -> Option<u64> {
    memtoull(s.as_bytes())
}

/// [`parse_memory`] on raw bytes.
fn memtoull(s: &[u8]) -> Option<u64> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    // Redis copies the digits into a 128-byte buffer and gives up beyond.
    if digits >= 128 {
        return None;
    }
    let unit = &s[digits..];
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let mut value: u64 = 0;
    for &d in &s[..digits] {
        value = value.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    Some(value.saturating_mul(mul))
}

// ---------------------------------------------------------------------------
// The parameter table.
// ---------------------------------------------------------------------------

/// Reads a parameter as `CONFIG GET` shows it.
type Getter = fn(&Config) -> String;
/// Parses and stores a parameter from its arguments; the error is the
/// reason text Redis uses (no `ERR`, no parameter name).
type Setter = fn(&mut Config, &[&[u8]]) -> Result<(), String>;

/// `CONFIG SET` refuses it after startup.
const IMMUTABLE: u8 = 1;
/// `CONFIG SET` refuses it unless `enable-protected-configs` allows the
/// client (`yes`, or `local` and a local client).
const PROTECTED: u8 = 2;
/// Takes any number of arguments (in `CONFIG SET`, the value is split on
/// spaces); other parameters take exactly one.
const MULTI_ARG: u8 = 4;
/// Left out of glob `CONFIG GET` (`CONFIG GET *`); found by its exact name
/// only, as Redis's hidden (test-only) parameters.
const HIDDEN: u8 = 8;
/// Checked, stored and shown, but nothing acts on it (yet): kept as a
/// typed field because a feature forkv lacks would read it. Listed by
/// [`inert_names`] with the parameters of `config/inert.rs`.
const INERT: u8 = 16;

/// One configuration parameter.
struct Param {
    /// Canonical lowercase name.
    name: &'static str,
    /// Older name accepted everywhere and listed by glob `CONFIG GET`.
    alias: Option<&'static str>,
    /// `IMMUTABLE`, `PROTECTED`, `MULTI_ARG`, `HIDDEN`, `INERT`.
    flags: u8,
    get: Getter,
    set: Setter,
}

impl Param {
    const fn new(name: &'static str, (get, set): (Getter, Setter)) -> Param {
        Param {
            name,
            alias: None,
            flags: 0,
            get,
            set,
        }
    }

    const fn alias(mut self, alias: &'static str) -> Param {
        self.alias = Some(alias);
        self
    }

    const fn flags(mut self, flags: u8) -> Param {
        self.flags = flags;
        self
    }
}

/// Accessors for a `yes`/`no` field.
macro_rules! boolean {
    ($field:ident) => {
        (
            |c: &Config| yes_no(c.$field).to_string(),
            |c: &mut Config, a: &[&[u8]]| {
                c.$field = parse_bool(one(a)?)?;
                Ok(())
            },
        )
    };
}

/// Accessors for an integer field accepting `min..=max`, written as a plain
/// integer (Redis's `string2ll`: no sign `+`, no spaces, no leading zeros).
macro_rules! integer {
    ($field:ident, $min:expr, $max:expr) => {
        (
            |c: &Config| c.$field.to_string(),
            |c: &mut Config, a: &[&[u8]]| {
                let v = parse_integer(one(a)?, $min, $max)?;
                c.$field = v.try_into().map_err(|_| range_error($min, $max))?;
                Ok(())
            },
        )
    };
}

/// Accessors for a byte-size field accepting `min..=max`, written with an
/// optional unit (see [`parse_memory`]); shown as plain bytes.
macro_rules! memory {
    ($field:ident, $min:expr, $max:expr) => {
        (
            |c: &Config| c.$field.to_string(),
            |c: &mut Config, a: &[&[u8]]| {
                let v = parse_memory_arg(one(a)?, $min, $max)?;
                c.$field = v.try_into().map_err(|_| range_error($min, $max))?;
                Ok(())
            },
        )
    };
}

/// Accessors for a field whose type implements [`Named`].
macro_rules! enumeration {
    ($field:ident) => {
        (
            |c: &Config| enum_name(c.$field).to_string(),
            |c: &mut Config, a: &[&[u8]]| {
                c.$field = parse_enum(one(a)?)?;
                Ok(())
            },
        )
    };
}

/// Accessors written out by hand for parameters with their own rules.
macro_rules! special {
    ($get:expr, $set:expr) => {
        ($get as Getter, $set as Setter)
    };
}

const INT_MAX: i128 = i32::MAX as i128;
const INT_MIN: i128 = i32::MIN as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;
const MB: i128 = 1024 * 1024;

/// Index of `save` in [`PARAMS`]: the file loader treats it specially.
const SAVE_INDEX: usize = 0;

/// Every parameter, one line each. Bounds are Redis 7's, so range errors
/// read the same.
// Kept out of rustfmt so that each parameter stays on one line.
#[rustfmt::skip]
static PARAMS: &[Param] = &[
    Param::new("save", special!(get_save, set_save)).flags(MULTI_ARG),
    Param::new("port", integer!(port, 0, 65535)),
    Param::new("bind", special!(get_bind, set_bind)).flags(MULTI_ARG),
    Param::new("dir", special!(get_dir, set_dir)).flags(PROTECTED),
    Param::new("dbfilename", special!(|c| c.dbfilename.clone(), set_dbfilename)).flags(PROTECTED),
    Param::new("requirepass", special!(get_requirepass, set_requirepass)),
    Param::new("maxclients", integer!(maxclients, 1, UINT_MAX)),
    Param::new("databases", integer!(databases, 1, INT_MAX)).flags(IMMUTABLE),
    Param::new("timeout", integer!(timeout, 0, INT_MAX)),
    Param::new("protected-mode", boolean!(protected_mode)),
    Param::new("proto-max-bulk-len", memory!(proto_max_bulk_len, MB, LONG_MAX)),
    Param::new("client-query-buffer-limit", memory!(client_query_buffer_limit, MB, LONG_MAX)),
    Param::new("loglevel", special!(|c| enum_name(c.loglevel).to_string(), set_loglevel)),
    Param::new("logfile", special!(|c| c.logfile.clone(), |c, a| set_string(&mut c.logfile, a))).flags(IMMUTABLE),
    Param::new("pidfile", special!(|c| c.pidfile.clone(), |c, a| set_string(&mut c.pidfile, a))).flags(IMMUTABLE),
    Param::new("unixsocket", special!(|c| c.unixsocket.clone(), |c, a| set_string(&mut c.unixsocket, a))).flags(IMMUTABLE),
    Param::new("unixsocketperm", special!(|c| format!("{:o}", c.unixsocketperm), set_unixsocketperm)).flags(IMMUTABLE),
    Param::new("key-load-delay", integer!(key_load_delay, INT_MIN, INT_MAX)).flags(HIDDEN),
    Param::new("loading-process-events-interval-bytes", integer!(loading_process_events_interval_bytes, 1024, INT_MAX)).flags(HIDDEN),
    Param::new("hz", special!(|c| c.hz.to_string(), set_hz)),
    Param::new("dynamic-hz", boolean!(dynamic_hz)).flags(INERT),
    Param::new("maxmemory", memory!(maxmemory, 0, ULLONG_MAX)),
    Param::new("maxmemory-policy", special!(|c| c.maxmemory_policy.clone(), set_maxmemory_policy)),
    Param::new("maxmemory-samples", integer!(maxmemory_samples, 1, INT_MAX)),
    Param::new("maxmemory-eviction-tenacity", integer!(maxmemory_eviction_tenacity, 0, 100)),
    Param::new("stop-writes-on-bgsave-error", boolean!(stop_writes_on_bgsave_error)),
    Param::new("tcp-backlog", integer!(tcp_backlog, 0, INT_MAX)).flags(IMMUTABLE),
    Param::new("tcp-keepalive", integer!(tcp_keepalive, 0, INT_MAX)),
    Param::new("daemonize", special!(|c| yes_no(c.daemonize).to_string(), set_daemonize)).flags(IMMUTABLE),
    Param::new("appendonly", special!(|c| yes_no(c.appendonly).to_string(), set_appendonly)),
    Param::new("disable-thp", boolean!(disable_thp)).flags(IMMUTABLE),
    Param::new("cluster-enabled", special!(|c| yes_no(c.cluster_enabled).to_string(), set_cluster_enabled)).flags(IMMUTABLE),
    Param::new("enable-protected-configs", enumeration!(enable_protected_configs)).flags(IMMUTABLE),
    Param::new("enable-debug-command", enumeration!(enable_debug_command)).flags(IMMUTABLE),
    Param::new("slowlog-log-slower-than", integer!(slowlog_log_slower_than, -1, LONG_MAX)),
    Param::new("slowlog-max-len", integer!(slowlog_max_len, 0, LONG_MAX)),
    Param::new("latency-monitor-threshold", integer!(latency_monitor_threshold, 0, LONG_MAX)),
    Param::new("latency-tracking", boolean!(latency_tracking)).flags(INERT),
    Param::new("latency-tracking-info-percentiles", special!(get_percentiles, set_percentiles)).flags(MULTI_ARG | INERT),
    Param::new("notify-keyspace-events", special!(get_notify, set_notify)),
    Param::new("lazyfree-lazy-eviction", boolean!(lazyfree_lazy_eviction)),
    Param::new("lazyfree-lazy-expire", boolean!(lazyfree_lazy_expire)),
    Param::new("lazyfree-lazy-server-del", boolean!(lazyfree_lazy_server_del)),
    Param::new("lazyfree-lazy-user-del", boolean!(lazyfree_lazy_user_del)),
    Param::new("lazyfree-lazy-user-flush", boolean!(lazyfree_lazy_user_flush)),
    Param::new("activerehashing", boolean!(activerehashing)).flags(INERT),
    Param::new("active-expire-effort", integer!(active_expire_effort, 1, 10)).flags(INERT),
    Param::new("lfu-log-factor", integer!(lfu_log_factor, 0, INT_MAX)),
    Param::new("lfu-decay-time", integer!(lfu_decay_time, 0, INT_MAX)),
    Param::new("list-max-listpack-size", integer!(list_max_listpack_size, INT_MIN, INT_MAX)).alias("list-max-ziplist-size"),
    Param::new("list-compress-depth", integer!(list_compress_depth, 0, INT_MAX)).flags(INERT),
    Param::new("hash-max-listpack-entries", integer!(hash_max_listpack_entries, 0, LONG_MAX)).alias("hash-max-ziplist-entries"),
    Param::new("hash-max-listpack-value", memory!(hash_max_listpack_value, 0, LONG_MAX)).alias("hash-max-ziplist-value"),
    Param::new("set-max-intset-entries", integer!(set_max_intset_entries, 0, LONG_MAX)),
    Param::new("set-max-listpack-entries", integer!(set_max_listpack_entries, 0, LONG_MAX)),
    Param::new("set-max-listpack-value", memory!(set_max_listpack_value, 0, LONG_MAX)),
    Param::new("zset-max-listpack-entries", integer!(zset_max_listpack_entries, 0, LONG_MAX)).alias("zset-max-ziplist-entries"),
    Param::new("zset-max-listpack-value", memory!(zset_max_listpack_value, 0, LONG_MAX)).alias("zset-max-ziplist-value"),
    Param::new("stream-node-max-bytes", memory!(stream_node_max_bytes, 0, LONG_MAX)).flags(INERT),
    Param::new("stream-node-max-entries", integer!(stream_node_max_entries, 0, LONG_MAX)).flags(INERT),
    Param::new("hll-sparse-max-bytes", memory!(hll_sparse_max_bytes, 0, LONG_MAX)).flags(INERT),
    Param::new("busy-reply-threshold", integer!(busy_reply_threshold, 0, LONG_MAX)).alias("lua-time-limit"),
    Param::new("tracking-table-max-keys", integer!(tracking_table_max_keys, 0, LONG_MAX)),
    Param::new("client-output-buffer-limit", special!(get_obuf_limits, set_obuf_limits)).flags(MULTI_ARG),
];

/// Every parameter: those forkv acts on, then the inert ones.
fn all_params() -> impl Iterator<Item = &'static Param> {
    PARAMS.iter().chain(inert::PARAMS)
}

/// Every name (canonical and alias) of the parameters forkv accepts and
/// shows but does not act on: those of `config/inert.rs`, and the typed
/// ones marked inert (their features are missing: streams, HyperLogLog,
/// Lua, latency histograms, ...). Sorted. README.md's "Accepted, not acted
/// on" lists exactly these (a test compares them).
pub fn inert_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = PARAMS
        .iter()
        .filter(|p| p.flags & INERT != 0)
        .chain(inert::PARAMS)
        .flat_map(|p| std::iter::once(p.name).chain(p.alias))
        .collect();
    names.sort_unstable();
    names
}

/// The canonical name of a parameter given by name or alias, ignoring
/// ASCII case (what the server keys its reactions to `CONFIG SET` on).
pub fn canonical_name(name: &[u8]) -> Option<&'static str> {
    lookup(name).map(|(p, _)| p.name)
}

/// Finds a parameter by name or alias, ignoring ASCII case; also returns
/// the lowercase name it matched, which Redis uses in `CONFIG SET` errors.
fn lookup(name: &[u8]) -> Option<(&'static Param, &'static str)> {
    all_params().find_map(|p| {
        std::iter::once(p.name)
            .chain(p.alias)
            .find(|n| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|n| (p, n))
    })
}

// ---------------------------------------------------------------------------
// Value parsing shared by the table entries. Error texts are Redis's.
// ---------------------------------------------------------------------------

/// The single argument of a one-argument parameter.
fn one<'a>(args: &[&'a [u8]]) -> Result<&'a [u8], String> {
    match args {
        [v] => Ok(v),
        _ => Err("wrong number of arguments".to_string()),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn parse_bool(v: &[u8]) -> Result<bool, String> {
    if v.eq_ignore_ascii_case(b"yes") {
        Ok(true)
    } else if v.eq_ignore_ascii_case(b"no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".to_string())
    }
}

fn range_error(min: i128, max: i128) -> String {
    format!("argument must be between {min} and {max} inclusive")
}

fn check_range(v: i128, min: i128, max: i128) -> Result<i128, String> {
    if v < min || v > max {
        Err(range_error(min, max))
    } else {
        Ok(v)
    }
}

fn parse_integer(v: &[u8], min: i128, max: i128) -> Result<i128, String> {
    let n =
        string2ll(v).ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
    check_range(i128::from(n), min, max)
}

fn parse_memory_arg(v: &[u8], min: i128, max: i128) -> Result<i128, String> {
    // Redis reads the value as a C string here, so a NUL ends it.
    let v = &v[..v.iter().position(|b| *b == 0).unwrap_or(v.len())];
    let n = memtoull(v).ok_or_else(|| "argument must be a memory value".to_string())?;
    check_range(i128::from(n), min, max)
}

/// Redis's strict `string2ll`: optional `-`, no `+`, no leading zeros
/// (except `0` itself), no spaces, no overflow.
fn string2ll(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(v)
    } else {
        i64::try_from(v).ok()
    }
}

/// C's `strtoll(s, &end, 10)` followed by Redis's `*end == '\0'` check:
/// leading whitespace and a sign are allowed, out-of-range values saturate,
/// and a string with no digits is accepted only if it is empty (as 0).
fn strtoll_whole(s: &[u8]) -> Option<i64> {
    let start = s.iter().take_while(|b| is_c_space(**b)).count();
    let mut rest = &s[start..];
    let negative = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return s.is_empty().then_some(0);
    }
    if digits != rest.len() {
        return None;
    }
    let mut v: i128 = 0;
    for &d in rest {
        v = (v * 10 + i128::from(d - b'0')).min(i128::from(u64::MAX));
    }
    let v = if negative { -v } else { v };
    Some(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Names of an enumerated parameter, in Redis's order.
trait Named: Copy + PartialEq + 'static {
    const NAMES: &'static [(&'static str, Self)];
}

impl Named for LogLevel {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("debug", LogLevel::Debug),
        ("verbose", LogLevel::Verbose),
        ("notice", LogLevel::Notice),
        ("warning", LogLevel::Warning),
        ("nothing", LogLevel::Nothing),
    ];
}

impl Named for ProtectedAction {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("no", ProtectedAction::No),
        ("yes", ProtectedAction::Yes),
        ("local", ProtectedAction::Local),
    ];
}

fn enum_name<T: Named>(value: T) -> &'static str {
    T::NAMES
        .iter()
        .find(|(_, v)| *v == value)
        .map_or("unknown", |(n, _)| n)
}

fn enum_error(names: impl Iterator<Item = &'static str>) -> String {
    format!(
        "argument(s) must be one of the following: {}",
        names.collect::<Vec<_>>().join(", ")
    )
}

fn parse_enum<T: Named>(v: &[u8]) -> Result<T, String> {
    T::NAMES
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(v))
        .map(|(_, value)| *value)
        .ok_or_else(|| enum_error(T::NAMES.iter().map(|(n, _)| *n)))
}

fn utf8(v: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(v).map_err(|_| "argument must be valid UTF-8".to_string())
}

fn set_string(field: &mut String, args: &[&[u8]]) -> Result<(), String> {
    *field = utf8(one(args)?)?.to_string();
    Ok(())
}

/// `unixsocketperm`: octal, up to 0777.
fn set_unixsocketperm(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    let v = one(args)?;
    let n = std::str::from_utf8(v)
        .ok()
        .filter(|s| !s.is_empty())
        .and_then(|s| u32::from_str_radix(s, 8).ok())
        .ok_or("argument couldn't be parsed into an integer")?;
    if n > 0o777 {
        return Err("argument must be between 0 and 777 inclusive".to_string());
    }
    c.unixsocketperm = n;
    Ok(())
}

// ---------------------------------------------------------------------------
// Parameters with their own rules.
// ---------------------------------------------------------------------------

/// Parses `save` arguments: `(clear, entries)`, where `clear` is the single
/// empty argument that means "no snapshots".
fn parse_save(args: &[&[u8]]) -> Result<(bool, Vec<(u64, u64)>), String> {
    const INVALID: &str = "Invalid save parameters";
    if args.len() == 1 && args[0].is_empty() {
        return Ok((true, Vec::new()));
    }
    // Redis 7 also takes all pairs in one argument: `save "3600 1 300 100"`.
    let split: Vec<&[u8]>;
    let args = if args.len() == 1 {
        split = args[0]
            .split(|c| *c == b' ')
            .filter(|p| !p.is_empty())
            .collect();
        &split[..]
    } else {
        args
    };
    if !args.len().is_multiple_of(2) {
        return Err(INVALID.to_string());
    }
    let mut entries = Vec::with_capacity(args.len() / 2);
    for pair in args.chunks_exact(2) {
        let seconds = strtoll_whole(pair[0]).filter(|v| *v >= 1);
        let changes = strtoll_whole(pair[1]).filter(|v| *v >= 0);
        match (seconds, changes) {
            (Some(s), Some(c)) => entries.push((s.unsigned_abs(), c.unsigned_abs())),
            _ => return Err(INVALID.to_string()),
        }
    }
    Ok((false, entries))
}

fn get_save(c: &Config) -> String {
    c.save
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn set_save(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    c.save = parse_save(args)?.1;
    Ok(())
}

/// Redis's `CONFIG_BINDADDR_MAX`.
const MAX_BIND_ADDRESSES: usize = 16;

fn get_bind(c: &Config) -> String {
    c.bind.join(" ")
}

fn set_bind(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    if args.len() > MAX_BIND_ADDRESSES {
        return Err("Too many bind addresses specified.".to_string());
    }
    // A single empty argument means "no addresses", as in Redis.
    let args = if args.len() == 1 && args[0].is_empty() {
        &[][..]
    } else {
        args
    };
    c.bind = args
        .iter()
        .map(|a| utf8(a).map(str::to_string))
        .collect::<Result<_, _>>()?;
    Ok(())
}

fn get_dir(c: &Config) -> String {
    // Redis reports getcwd(), which is absolute; `.` would be useless to a
    // client on another machine.
    std::fs::canonicalize(&c.dir)
        .unwrap_or_else(|_| c.dir.clone())
        .to_string_lossy()
        .into_owned()
}

fn set_dir(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    let target = c.dir.join(bytes_to_path(one(args)?));
    // Redis chdir()s here and reports chdir's error; check the same things
    // (exists, is a directory) without changing the process state.
    match std::fs::metadata(&target) {
        Err(e) => return Err(os_error(&e)),
        Ok(m) if !m.is_dir() => return Err("Not a directory".to_string()),
        Ok(_) => {}
    }
    c.dir = std::fs::canonicalize(&target).map_err(|e| os_error(&e))?;
    Ok(())
}

fn set_dbfilename(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    let name = utf8(one(args)?)?;
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err("dbfilename can't be a path, just a filename".to_string());
    }
    // Redis accepts "", which makes every save fail later; refuse it now.
    if name.is_empty() {
        return Err("dbfilename can't be empty".to_string());
    }
    c.dbfilename = name.to_string();
    Ok(())
}

fn get_requirepass(c: &Config) -> String {
    c.requirepass
        .as_deref()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default()
}

fn set_requirepass(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    let v = one(args)?;
    c.requirepass = (!v.is_empty()).then(|| v.to_vec());
    Ok(())
}

/// Redis's `CONFIG_MIN_HZ` and `CONFIG_MAX_HZ`.
const HZ_RANGE: (u32, u32) = (1, 500);

fn set_hz(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    let v = parse_integer(one(args)?, 0, INT_MAX)?;
    // Out-of-range values are accepted and clamped, for compatibility with
    // old configuration files.
    c.hz = u32::try_from(v)
        .unwrap_or(HZ_RANGE.1)
        .clamp(HZ_RANGE.0, HZ_RANGE.1);
    Ok(())
}

/// `loglevel`: `nothing` (Redis 7.2) is accepted, but the error lists the
/// four levels Redis 7.0 has, as its text reads.
fn set_loglevel(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    c.loglevel = parse_enum(one(args)?).map_err(|_| {
        enum_error(
            LogLevel::NAMES
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| *n != "nothing"),
        )
    })?;
    Ok(())
}

fn set_maxmemory_policy(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    let v = one(args)?;
    let policy = MAXMEMORY_POLICIES
        .iter()
        .find(|p| p.as_bytes().eq_ignore_ascii_case(v))
        .ok_or_else(|| enum_error(MAXMEMORY_POLICIES.iter().copied()))?;
    c.maxmemory_policy = policy.to_string();
    Ok(())
}

fn set_daemonize(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    if parse_bool(one(args)?)? {
        return Err("forkv does not daemonize: run it in the foreground \
                    (under systemd, a container or a supervisor), and use 'daemonize no'"
            .to_string());
    }
    c.daemonize = false;
    Ok(())
}

fn set_appendonly(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    if parse_bool(one(args)?)? {
        return Err("forkv has no append-only file: only 'no' is accepted (persistence is by snapshots, see 'save')"
            .to_string());
    }
    c.appendonly = false;
    Ok(())
}

fn set_cluster_enabled(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    if parse_bool(one(args)?)? {
        return Err("forkv has no cluster mode: only 'no' is accepted".to_string());
    }
    c.cluster_enabled = false;
    Ok(())
}

fn get_percentiles(c: &Config) -> String {
    c.latency_tracking_info_percentiles
        .iter()
        .map(|p| {
            // printf("%f") then trailing zeros trimmed, as Redis shows them.
            let s = format!("{p:.6}");
            let s = s.trim_end_matches('0');
            s.strip_suffix('.').unwrap_or(s).to_string()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn set_percentiles(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    let args = if args.len() == 1 && args[0].is_empty() {
        &[][..]
    } else {
        args
    };
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        let v = crate::util::num::parse_f64(a)
            .ok_or_else(|| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
        if !(0.0..=100.0).contains(&v) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .to_string(),
            );
        }
        out.push(v);
    }
    c.latency_tracking_info_percentiles = out;
    Ok(())
}

/// Event class letters of `notify-keyspace-events`, in Redis's display
/// order (`A` and `K`/`E`/`m` are handled apart).
const NOTIFY_CLASSES: [(u8, u32); 11] = [
    (b'g', notify::GENERIC),
    (b'$', notify::STRING),
    (b'l', notify::LIST),
    (b's', notify::SET),
    (b'h', notify::HASH),
    (b'z', notify::ZSET),
    (b'x', notify::EXPIRED),
    (b'e', notify::EVICTED),
    (b't', notify::STREAM),
    (b'd', notify::MODULE),
    (b'n', notify::NEW),
];

fn get_notify(c: &Config) -> String {
    let flags = c.notify_keyspace_events;
    let mut s = String::new();
    if flags & notify::ALL == notify::ALL {
        // Exactly Redis's output, which leaves `n` out after `A` even when
        // it is set ("AnK" reads back as "AK"); clients compare these texts.
        s.push('A');
    } else {
        for (ch, bit) in NOTIFY_CLASSES {
            if flags & bit != 0 {
                s.push(char::from(ch));
            }
        }
    }
    for (ch, bit) in [
        ('K', notify::KEYSPACE),
        ('E', notify::KEYEVENT),
        ('m', notify::KEY_MISS),
    ] {
        if flags & bit != 0 {
            s.push(ch);
        }
    }
    s
}

fn set_notify(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    let mut flags = 0;
    for &ch in one(args)? {
        flags |= match ch {
            b'A' => notify::ALL,
            b'K' => notify::KEYSPACE,
            b'E' => notify::KEYEVENT,
            b'm' => notify::KEY_MISS,
            _ => NOTIFY_CLASSES
                .iter()
                .find(|(c, _)| *c == ch)
                .map(|(_, bit)| *bit)
                .ok_or_else(|| {
                    "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
                })?,
        };
    }
    c.notify_keyspace_events = flags;
    Ok(())
}

fn get_obuf_limits(c: &Config) -> String {
    let l = &c.client_output_buffer_limit;
    [
        ("normal", l.normal),
        ("slave", l.replica),
        ("pubsub", l.pubsub),
    ]
    .iter()
    .map(|(name, x)| {
        format!(
            "{name} {} {} {}",
            x.hard_bytes, x.soft_bytes, x.soft_seconds
        )
    })
    .collect::<Vec<_>>()
    .join(" ")
}

fn set_obuf_limits(c: &mut Config, args: &[&[u8]]) -> Result<(), String> {
    if !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".to_string());
    }
    // Check every group before changing anything, as Redis does.
    let mut next = c.client_output_buffer_limit;
    for group in args.chunks_exact(4) {
        let class = group[0].to_ascii_lowercase();
        let slot = match class.as_slice() {
            b"normal" => &mut next.normal,
            b"slave" | b"replica" => &mut next.replica,
            b"pubsub" => &mut next.pubsub,
            _ => {
                return Err(
                    "Invalid client class specified in buffer limit configuration.".to_string(),
                );
            }
        };
        let hard = memtoull(group[1]);
        let soft = memtoull(group[2]);
        let seconds = strtoll_whole(group[3]).filter(|s| *s >= 0);
        let (Some(hard_bytes), Some(soft_bytes), Some(seconds)) = (hard, soft, seconds) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_string(),
            );
        };
        *slot = ObufLimit {
            hard_bytes,
            soft_bytes,
            soft_seconds: seconds.unsigned_abs(),
        };
    }
    c.client_output_buffer_limit = next;
    Ok(())
}

// ---------------------------------------------------------------------------
// Text helpers.
// ---------------------------------------------------------------------------

/// `ERR CONFIG SET failed (possibly related to argument 'x') - reason`.
fn set_failed(name: &str, reason: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
}

/// The startup error block, in Redis's layout but naming the source.
fn fatal(source: &str, line_number: usize, line: &[u8], reason: &str) -> String {
    let what = if source.starts_with('(') {
        format!("Reading the configuration {source}")
    } else {
        format!("Reading the configuration file '{source}'")
    };
    format!(
        "*** FATAL CONFIG FILE ERROR (forkv {}) ***\n{what}, at line {line_number}\n>>> '{}'\n{reason}",
        env!("CARGO_PKG_VERSION"),
        String::from_utf8_lossy(line)
    )
}

/// An OS error as `strerror` words it, without Rust's " (os error N)".
fn os_error(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// C's `isspace` in the "C" locale.
/// Redis's `sdstrim(line, " \t\r\n")`.
fn trim(mut s: &[u8]) -> &[u8] {
    let strip = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while let [first, rest @ ..] = s
        && strip(first)
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && strip(last)
    {
        s = rest;
    }
    s
}

fn bytes_to_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

/// Splits `CONFIG SET` values of multi-argument parameters the way Redis's
/// `sdssplitlen(value, " ")` does: on every single space, keeping empty
/// pieces, and an empty value gives no arguments at all.
fn split_spaces(v: &[u8]) -> Vec<&[u8]> {
    if v.is_empty() {
        Vec::new()
    } else {
        v.split(|b| *b == b' ').collect()
    }
}

/// The files a config path names: itself, or when its last component holds
/// `*`, `?` or `[`, the matching entries of its directory in sorted order
/// (hidden files only when the pattern starts with `.`, as glob(3) does).
/// Wildcards in earlier components are taken literally.
fn expand_path(path: &str) -> Result<Vec<PathBuf>, String> {
    let p = Path::new(path);
    let Some(last) = p.file_name() else {
        return Ok(vec![p.to_path_buf()]);
    };
    let last = last.as_encoded_bytes();
    if !last.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
        return Ok(vec![p.to_path_buf()]);
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Like glob(3) without GLOB_NOCHECK: an unreadable directory or no match
    // both mean "nothing to include".
    let Ok(entries) = std::fs::read_dir(&parent) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.as_encoded_bytes();
            (last.first() == Some(&b'.') || name.first() != Some(&b'.'))
                && glob_match(last, name, false)
        })
        .map(|e| parent.join(e.file_name()))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh empty directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "forkv-config-test-{}-{tag}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, name: &str, text: &str) -> String {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn get1(c: &Config, name: &str) -> String {
        let found = c.get(name.as_bytes());
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        found[0].1.clone()
    }

    fn set1(c: &mut Config, name: &str, value: &str) -> Result<(), String> {
        c.set(&[(name.as_bytes(), value.as_bytes())])
    }

    fn load(text: &str) -> Result<Config, String> {
        let mut c = Config::default();
        c.apply_text(text, "test.conf").map(|()| c)
    }

    /// The reason line (last line) of a fatal error.
    fn reason(err: &str) -> &str {
        err.lines().last().unwrap_or("")
    }

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.port, 6379);
        assert_eq!(c.bind, ["127.0.0.1", "-::1"]);
        assert_eq!(c.dir, PathBuf::from("."));
        assert_eq!(c.dbfilename, "dump.forkv");
        assert_eq!(c.requirepass, None);
        assert_eq!(c.maxclients, 10000);
        assert_eq!(c.databases, 16);
        assert_eq!(c.timeout, 0);
        assert!(c.protected_mode);
        assert_eq!(c.proto_max_bulk_len, 512 * 1024 * 1024);
        assert_eq!(c.client_query_buffer_limit, 1024 * 1024 * 1024);
        assert_eq!(c.loglevel, LogLevel::Notice);
        assert_eq!(c.logfile, "");
        assert_eq!(c.save, [(3600, 1), (300, 100), (60, 10000)]);
        assert_eq!(c.hz, 10);
        assert_eq!(c.maxmemory, 0);
        assert_eq!(c.maxmemory_policy, "noeviction");
        assert_eq!(c.maxmemory_samples, 5);
        assert!(c.stop_writes_on_bgsave_error);
        assert_eq!(c.tcp_backlog, 511);
        assert_eq!(c.tcp_keepalive, 300);
        assert!(!c.daemonize);
        assert!(!c.appendonly);
        assert_eq!(c.pidfile, "");
        assert_eq!(c.snapshot_path(), PathBuf::from("./dump.forkv"));
    }

    #[test]
    fn default_values_as_config_get_shows_them() {
        let c = Config::default();
        for (name, value) in [
            ("port", "6379"),
            ("bind", "127.0.0.1 -::1"),
            ("dbfilename", "dump.forkv"),
            ("requirepass", ""),
            ("maxclients", "10000"),
            ("databases", "16"),
            ("timeout", "0"),
            ("protected-mode", "yes"),
            ("proto-max-bulk-len", "536870912"),
            ("client-query-buffer-limit", "1073741824"),
            ("loglevel", "notice"),
            ("logfile", ""),
            ("save", "3600 1 300 100 60 10000"),
            ("hz", "10"),
            ("maxmemory", "0"),
            ("maxmemory-policy", "noeviction"),
            ("maxmemory-samples", "5"),
            ("stop-writes-on-bgsave-error", "yes"),
            ("tcp-backlog", "511"),
            ("tcp-keepalive", "300"),
            ("daemonize", "no"),
            ("appendonly", "no"),
            ("pidfile", ""),
            ("slowlog-log-slower-than", "10000"),
            ("slowlog-max-len", "128"),
            ("latency-tracking", "yes"),
            ("latency-tracking-info-percentiles", "50 99 99.9"),
            ("notify-keyspace-events", ""),
            ("lazyfree-lazy-user-flush", "no"),
            ("list-max-listpack-size", "-2"),
            ("list-max-ziplist-size", "-2"),
            ("hash-max-listpack-entries", "512"),
            ("hash-max-ziplist-value", "64"),
            ("zset-max-listpack-entries", "128"),
            ("busy-reply-threshold", "5000"),
            ("lua-time-limit", "5000"),
            ("tracking-table-max-keys", "1000000"),
            ("enable-protected-configs", "no"),
            (
                "client-output-buffer-limit",
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
            ),
        ] {
            assert_eq!(get1(&c, name), value, "{name}");
        }
        // Redis shows getcwd(): absolute, never ".".
        let dir = get1(&c, "dir");
        assert_eq!(
            PathBuf::from(&dir),
            std::fs::canonicalize(".").unwrap(),
            "{dir}"
        );
    }

    #[test]
    fn memory_units() {
        for (text, bytes) in [
            ("0", Some(0)),
            ("123", Some(123)),
            ("1b", Some(1)),
            ("1B", Some(1)),
            ("1k", Some(1000)),
            ("1K", Some(1000)),
            ("1kb", Some(1024)),
            ("1kB", Some(1024)),
            ("1m", Some(1_000_000)),
            ("1mb", Some(1024 * 1024)),
            ("1g", Some(1_000_000_000)),
            ("1gb", Some(1024 * 1024 * 1024)),
            ("2GB", Some(2 * 1024 * 1024 * 1024)),
            ("512mb", Some(512 * 1024 * 1024)),
            // Redis quirks: no digits reads as 0.
            ("", Some(0)),
            ("kb", Some(0)),
            // Saturation instead of Redis's overflow.
            ("18446744073709551615", Some(u64::MAX)),
            ("99999999999999999999", Some(u64::MAX)),
            ("20000000000gb", Some(u64::MAX)),
            ("-1", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("1.5mb", None),
            ("1t", None),
            ("1tb", None),
            ("1kbb", None),
            ("abc", None),
            ("1\u{e9}", None),
        ] {
            assert_eq!(parse_memory(text), bytes, "{text:?}");
        }
        assert_eq!(parse_memory(&"1".repeat(128)), None, "Redis's buffer limit");
    }

    #[test]
    fn split_args_follows_sdssplitargs() {
        let split = |s: &str| {
            split_args(s.as_bytes()).map(|v| {
                v.into_iter()
                    .map(|a| String::from_utf8_lossy(&a).into_owned())
                    .collect::<Vec<_>>()
            })
        };
        let ok = |s: &str, want: &[&str]| {
            let want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
            assert_eq!(split(s), Some(want), "{s:?}");
        };
        ok("", &[]);
        ok("   ", &[]);
        ok("a b  c", &["a", "b", "c"]);
        ok("\ta\tb\t", &["a", "b"]);
        ok("\"a b\" c", &["a b", "c"]);
        ok(r#""a\nb\r\t\\\"""#, &["a\nb\r\t\\\""]);
        ok(r#""\x41\x4a\x4""#, &["AJx4"]);
        ok(r#""\z""#, &["z"]);
        ok(r#""\x""#, &["x"]);
        ok(r#"'it\'s' 'a\nb'"#, &["it's", "a\\nb"]);
        ok(r#"abc"def""#, &["abcdef"]);
        ok(r#"abc'd e'"#, &["abcd e"]);
        ok(r#""" ''"#, &["", ""]);
        // Outside quotes a backslash is literal, so the quote opens a
        // string that never closes.
        assert_eq!(split(r#"a\"b"#), None);
        ok("a\0b c", &["a"]);
        assert_eq!(split_args(b"\"\\xff\\x00\""), Some(vec![vec![0xff, 0x00]]));
        for bad in [
            "\"abc",
            "'abc",
            "\"abc\"x",
            "'abc'x",
            "\"abc\\\"",
            "'abc\\'",
        ] {
            assert_eq!(split(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn repr_round_trips_through_split_args() {
        let samples: [&[u8]; 6] = [
            b"",
            b"plain",
            b"with space",
            b"q\"uote\\",
            b"\n\r\t\x07\x08",
            b"\x00\x01\xff\x7f'",
        ];
        for s in samples {
            let quoted = crate::util::split::repr(s);
            assert_eq!(
                split_args(quoted.as_bytes()),
                Some(vec![s.to_vec()]),
                "{quoted}"
            );
        }
    }

    #[test]
    fn file_syntax() {
        let c = load(
            "# a comment\n\n   # indented comment\n\
             \tMAXCLIENTS   50  \r\n\
             requirepass \"sec ret\\x21\"\n\
             Maxmemory 1GB\n\
             maxmemory-policy ALLKEYS-LRU\n\
             protected-mode NO\n\
             loglevel Warning\n\
             bind 0.0.0.0 -::\n\
             list-max-ziplist-size 7\n\
             lua-time-limit 99\n",
        )
        .unwrap();
        assert_eq!(c.maxclients, 50);
        assert_eq!(c.requirepass.as_deref(), Some(&b"sec ret!"[..]));
        assert_eq!(c.maxmemory, 1 << 30);
        assert_eq!(c.maxmemory_policy, "allkeys-lru");
        assert!(!c.protected_mode);
        assert_eq!(c.loglevel, LogLevel::Warning);
        assert_eq!(c.bind, ["0.0.0.0", "-::"]);
        assert_eq!(c.list_max_listpack_size, 7);
        assert_eq!(c.busy_reply_threshold, 99);
    }

    #[test]
    fn fatal_error_layout() {
        let err = load("port 7000\nfoo bar\n").unwrap_err();
        assert_eq!(
            err,
            format!(
                "*** FATAL CONFIG FILE ERROR (forkv {}) ***\n\
                 Reading the configuration file 'test.conf', at line 2\n\
                 >>> 'foo bar'\n\
                 Bad directive or wrong number of arguments",
                env!("CARGO_PKG_VERSION")
            )
        );
        // The line is shown trimmed, and numbering counts comments and
        // blank lines.
        let err = load("# c\n\n\tmaxclients abc  \r\n").unwrap_err();
        assert!(err.contains("at line 3\n>>> 'maxclients abc'\n"), "{err}");
    }

    #[test]
    fn error_reasons_match_redis() {
        for (text, want) in [
            ("foo bar", "Bad directive or wrong number of arguments"),
            ("port", "wrong number of arguments"),
            ("port 1 2", "wrong number of arguments"),
            ("port 6379 # comment", "wrong number of arguments"),
            ("port abc", "argument couldn't be parsed into an integer"),
            ("port 070", "argument couldn't be parsed into an integer"),
            ("port +70", "argument couldn't be parsed into an integer"),
            (
                "port 70000",
                "argument must be between 0 and 65535 inclusive",
            ),
            (
                "maxclients 0",
                "argument must be between 1 and 4294967295 inclusive",
            ),
            (
                "timeout -1",
                "argument must be between 0 and 2147483647 inclusive",
            ),
            (
                "hz -1",
                "argument must be between 0 and 2147483647 inclusive",
            ),
            (
                "slowlog-log-slower-than -2",
                "argument must be between -1 and 9223372036854775807 inclusive",
            ),
            (
                "proto-max-bulk-len 1kb",
                "argument must be between 1048576 and 9223372036854775807 inclusive",
            ),
            ("maxmemory 1x", "argument must be a memory value"),
            ("maxmemory -1", "argument must be a memory value"),
            ("protected-mode maybe", "argument must be 'yes' or 'no'"),
            (
                "maxmemory-policy lru",
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, \
                 volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
            ),
            (
                "loglevel loud",
                "argument(s) must be one of the following: debug, verbose, notice, warning",
            ),
            ("save 1", "Invalid save parameters"),
            ("save 0 1", "Invalid save parameters"),
            ("save 10 -1", "Invalid save parameters"),
            ("save 10x 1", "Invalid save parameters"),
            (
                "requirepass \"abc",
                "Unbalanced quotes in configuration line",
            ),
            (
                "requirepass 'abc'def",
                "Unbalanced quotes in configuration line",
            ),
            (
                "dbfilename a/b",
                "dbfilename can't be a path, just a filename",
            ),
            (
                "dbfilename ..",
                "dbfilename can't be a path, just a filename",
            ),
            ("dir /nonexistent-forkv-dir", "No such file or directory"),
            (
                "notify-keyspace-events KEQ",
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
            ),
            (
                "client-output-buffer-limit pubsub 1 2",
                "Wrong number of arguments in buffer limit configuration.",
            ),
            (
                "client-output-buffer-limit master 1 2 3",
                "Invalid client class specified in buffer limit configuration.",
            ),
            (
                "client-output-buffer-limit pubsub 1 2 -3",
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
            ),
            (
                "latency-tracking-info-percentiles 50 101",
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
            ),
            (
                "latency-tracking-info-percentiles x",
                "Invalid latency-tracking-info-percentiles parameters",
            ),
            (
                "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
                "Too many bind addresses specified.",
            ),
            (
                "list-max-ziplist-entries 1 2",
                "Bad directive or wrong number of arguments",
            ),
            ("include", "Bad directive or wrong number of arguments"),
        ] {
            let err = load(text).unwrap_err();
            assert_eq!(reason(&err), want, "{text}");
            assert!(err.contains("at line 1\n"), "{err}");
        }
    }

    #[test]
    fn refused_redis_features() {
        for text in [
            "daemonize yes",
            "appendonly yes",
            "cluster-enabled yes",
            "rename-command GET FOO",
            "user alice on >pw ~* +@all",
            "loadmodule /x.so",
        ] {
            let err = load(text).unwrap_err();
            assert!(err.contains("forkv"), "{text}: {err}");
        }
        let c = load("daemonize no\nappendonly no\ncluster-enabled no").unwrap();
        assert!(!c.daemonize && !c.appendonly && !c.cluster_enabled);
    }

    #[test]
    fn deprecated_directives_are_ignored() {
        let c = load(
            "list-max-ziplist-entries 512\nlist-max-ziplist-value 64\nlua-replicate-commands yes",
        )
        .unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn save_lines_accumulate_in_one_load() {
        assert_eq!(
            load("save 60 1\nsave 30 2").unwrap().save,
            [(60, 1), (30, 2)]
        );
        assert_eq!(load("save 60 1 30 2").unwrap().save, [(60, 1), (30, 2)]);
        assert_eq!(load("save \"\"").unwrap().save, []);
        assert_eq!(load("save ''").unwrap().save, []);
        assert_eq!(
            load("save 60 1\nsave \"\"\nsave 10 1").unwrap().save,
            [(10, 1)]
        );
        assert_eq!(load("save +5 -0").unwrap().save, [(5, 0)]);
        assert!(
            load("save").is_ok(),
            "no arguments: keeps nothing, like Redis"
        );
        assert_eq!(load("save").unwrap().save, []);
        // A second apply_text is a new load: its first save line replaces.
        let mut c = load("save 60 1").unwrap();
        c.apply_text("save 5 5", "again").unwrap();
        assert_eq!(c.save, [(5, 5)]);
    }

    #[test]
    fn hz_is_clamped() {
        assert_eq!(load("hz 0").unwrap().hz, 1);
        assert_eq!(load("hz 1000").unwrap().hz, 500);
        assert_eq!(load("hz 2147483647").unwrap().hz, 500);
        let mut c = Config::default();
        set1(&mut c, "hz", "0").unwrap();
        assert_eq!(get1(&c, "hz"), "1");
    }

    #[test]
    fn notify_keyspace_events_are_canonical() {
        let mut c = Config::default();
        for (set, shown) in [
            ("KEA", "AKE"),
            ("Exg$m", "g$xEm"),
            ("gnd", "gdn"),
            ("AnK", "AK"),
            ("g$lshzxetdK", "AK"),
            ("", ""),
        ] {
            set1(&mut c, "notify-keyspace-events", set).unwrap();
            assert_eq!(get1(&c, "notify-keyspace-events"), shown, "{set}");
        }
        set1(&mut c, "notify-keyspace-events", "Ex").unwrap();
        assert_eq!(c.notify_keyspace_events, notify::KEYEVENT | notify::EXPIRED);
    }

    #[test]
    fn client_output_buffer_limit() {
        let mut c = Config::default();
        set1(&mut c, "client-output-buffer-limit", "replica 1mb 2mb 3").unwrap();
        set1(
            &mut c,
            "client-output-buffer-limit",
            "NORMAL 1k 2kb 3 pubsub 1 1 1",
        )
        .unwrap();
        assert_eq!(
            get1(&c, "client-output-buffer-limit"),
            "normal 1000 2048 3 slave 1048576 2097152 3 pubsub 1 1 1"
        );
        // A bad group leaves every class unchanged.
        let before = c.client_output_buffer_limit;
        assert!(
            set1(
                &mut c,
                "client-output-buffer-limit",
                "normal 5 5 5 pubsub x 1 1"
            )
            .is_err()
        );
        assert_eq!(c.client_output_buffer_limit, before);
        // An empty value has no groups: nothing changes.
        set1(&mut c, "client-output-buffer-limit", "").unwrap();
        assert_eq!(c.client_output_buffer_limit, before);
    }

    #[test]
    fn latency_percentiles() {
        let mut c = Config::default();
        set1(
            &mut c,
            "latency-tracking-info-percentiles",
            "1.5 99.99999 100",
        )
        .unwrap();
        assert_eq!(
            get1(&c, "latency-tracking-info-percentiles"),
            "1.5 99.99999 100"
        );
        set1(&mut c, "latency-tracking-info-percentiles", "").unwrap();
        assert_eq!(get1(&c, "latency-tracking-info-percentiles"), "");
        assert!(set1(&mut c, "latency-tracking-info-percentiles", "nan").is_err());
    }

    #[test]
    fn config_get_patterns() {
        let c = Config::default();
        // Exact names echo the client's spelling, as Redis 7 does.
        assert_eq!(
            c.get(b"MAXMEMORY"),
            [("MAXMEMORY".to_string(), "0".to_string())]
        );
        assert_eq!(
            c.get(b"lua-time-limit"),
            [("lua-time-limit".to_string(), "5000".to_string())]
        );
        assert!(c.get(b"nonexistent").is_empty());
        assert!(c.get(b"").is_empty());
        // Globs are case-insensitive and list canonical names.
        let names = |p: &str| {
            c.get(p.as_bytes())
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("MAXMEMORY*"),
            [
                "maxmemory",
                "maxmemory-clients",
                "maxmemory-eviction-tenacity",
                "maxmemory-policy",
                "maxmemory-samples"
            ]
        );
        assert_eq!(names("max?emory"), ["maxmemory"]);
        assert_eq!(names("[pd]ort"), ["port"]);
        // ...and aliases.
        assert_eq!(
            names("hash-*"),
            [
                "hash-max-listpack-entries",
                "hash-max-listpack-value",
                "hash-max-ziplist-entries",
                "hash-max-ziplist-value"
            ]
        );
        // Every name but the hidden ones, which need their exact name.
        let all = c.get(b"*");
        let shown = || all_params().filter(|p| p.flags & HIDDEN == 0);
        assert_eq!(
            all.len(),
            shown().count() + shown().filter(|p| p.alias.is_some()).count()
        );
        assert_eq!(
            c.get(b"key-load-delay"),
            [("key-load-delay".into(), "0".into())]
        );
        assert!(
            all.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
        assert!(
            all.iter()
                .any(|(n, v)| n == "save" && v == "3600 1 300 100 60 10000")
        );
    }

    #[test]
    fn config_set_values() {
        let mut c = Config::default();
        c.set(&[
            (b"maxmemory", b"100mb"),
            (b"MaxMemory-Policy", b"ALLKEYS-LRU"),
            (b"save", b"100 1 200 2"),
            (b"requirepass", b"pw"),
            (b"timeout", b"30"),
        ])
        .unwrap();
        assert_eq!(c.maxmemory, 100 * 1024 * 1024);
        assert_eq!(c.maxmemory_policy, "allkeys-lru");
        assert_eq!(c.save, [(100, 1), (200, 2)]);
        assert_eq!(c.requirepass.as_deref(), Some(&b"pw"[..]));
        assert_eq!(c.timeout, 30);
        assert_eq!(get1(&c, "maxmemory"), "104857600");
        set1(&mut c, "requirepass", "").unwrap();
        assert_eq!(c.requirepass, None);
        set1(&mut c, "save", "").unwrap();
        assert_eq!(c.save, []);
        // CONFIG SET splits on single spaces, like sdssplitlen.
        assert!(set1(&mut c, "save", "100 1  200 2").is_err());
        assert_eq!(
            set1(&mut c, "save", "100 1 200 ").map(|()| c.save.clone()),
            Ok(vec![(100, 1), (200, 0)])
        );
        set1(&mut c, "appendonly", "no").unwrap();
        assert!(
            set1(&mut c, "appendonly", "yes")
                .unwrap_err()
                .contains("only 'no'")
        );
    }

    #[test]
    fn config_set_errors() {
        let mut c = Config::default();
        let err = |c: &mut Config, pairs: &[(&str, &str)]| {
            let pairs: Vec<(&[u8], &[u8])> = pairs
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                .collect();
            c.set(&pairs).unwrap_err()
        };
        assert_eq!(
            err(&mut c, &[("foo", "bar")]),
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        );
        assert_eq!(
            err(&mut c, &[("maxclients", "abc")]),
            "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"
        );
        assert_eq!(
            err(&mut c, &[("MAXCLIENTS", "0")]),
            "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive"
        );
        for name in [
            "databases",
            "daemonize",
            "logfile",
            "pidfile",
            "tcp-backlog",
        ] {
            assert_eq!(
                err(&mut c, &[(name, "1")]),
                format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                )
            );
        }
        // Immutable is reported with the name as typed.
        assert_eq!(
            err(&mut c, &[("Databases", "1")]),
            "ERR CONFIG SET failed (possibly related to argument 'Databases') - can't set immutable config"
        );
        assert_eq!(
            err(&mut c, &[("port", "1"), ("port", "2")]),
            "ERR CONFIG SET failed (possibly related to argument 'port') - duplicate parameter"
        );
        assert_eq!(
            err(&mut c, &[("maxclients", "5"), ("MAXCLIENTS", "6")]),
            "ERR CONFIG SET failed (possibly related to argument 'MAXCLIENTS') - duplicate parameter"
        );
        for name in ["dir", "dbfilename"] {
            assert_eq!(
                err(&mut c, &[(name, "x")]),
                format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set protected config"
                )
            );
        }
        // The first problem wins.
        assert_eq!(
            err(&mut c, &[("databases", "1"), ("foo", "1")]),
            "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
        );
        assert_eq!(
            err(&mut c, &[("foo", "1"), ("databases", "1")]),
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        );
        // Value errors name the parameter the way it was reached.
        assert_eq!(
            err(&mut c, &[("Hash-Max-Ziplist-Value", "x")]),
            "ERR CONFIG SET failed (possibly related to argument 'hash-max-ziplist-value') - argument must be a memory value"
        );
        assert_eq!(c, Config::default(), "nothing changed");
    }

    #[test]
    fn config_set_is_all_or_nothing() {
        let mut c = Config::default();
        let before = c.clone();
        assert!(
            c.set(&[(b"hz", b"50"), (b"timeout", b"5"), (b"maxclients", b"x")])
                .is_err()
        );
        assert_eq!(c, before);
        // An alias is an entry of its own in Redis 7.0: no duplicate, the
        // last value wins.
        c.set(&[
            (b"hash-max-ziplist-entries", b"5"),
            (b"hash-max-listpack-entries", b"6"),
        ])
        .unwrap();
        assert_eq!(c.hash_max_listpack_entries, 6);
    }

    #[test]
    fn protected_configs_local_means_local_clients_only() {
        let refused = |name: &str| {
            format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set protected config"
            )
        };
        for (setting, remote_ok, local_ok) in [
            ("no", false, false),
            ("local", false, true),
            ("yes", true, true),
        ] {
            let mut c = load(&format!("enable-protected-configs {setting}")).unwrap();
            for local in [false, true] {
                let ok = if local { local_ok } else { remote_ok };
                let r = c.set_as(&[(b"dbfilename", b"x.forkv")], local);
                if ok {
                    assert_eq!(r, Ok(()), "{setting} local={local}");
                } else {
                    assert_eq!(r, Err(refused("dbfilename")), "{setting} local={local}");
                }
            }
            // `set` is the non-local view.
            assert_eq!(c.set(&[(b"dbfilename", b"y.forkv")]).is_ok(), remote_ok);
        }
    }

    #[test]
    fn protected_configs_when_enabled() {
        let tmp = TempDir::new("protected");
        let mut c = load("enable-protected-configs yes").unwrap();
        set1(&mut c, "dir", &tmp.0.to_string_lossy()).unwrap();
        set1(&mut c, "dbfilename", "snap.db").unwrap();
        let canonical = std::fs::canonicalize(&tmp.0).unwrap();
        assert_eq!(c.dir, canonical);
        assert_eq!(c.snapshot_path(), canonical.join("snap.db"));
        assert_eq!(get1(&c, "dir"), canonical.to_string_lossy());
        assert_eq!(
            set1(&mut c, "dbfilename", "a/b").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename"
        );
        // Relative directories resolve against the current `dir`.
        std::fs::create_dir(tmp.0.join("sub")).unwrap();
        set1(&mut c, "dir", "sub").unwrap();
        assert_eq!(c.dir, canonical.join("sub"));
        tmp.write("file", "");
        assert!(
            set1(&mut c, "dir", "../file")
                .unwrap_err()
                .ends_with("Not a directory")
        );
        assert!(
            set1(&mut c, "dir", "missing")
                .unwrap_err()
                .ends_with("No such file or directory")
        );
        assert_eq!(c.dir, canonical.join("sub"));
    }

    #[test]
    fn from_args_file_then_command_line() {
        let tmp = TempDir::new("args");
        let file = tmp.write("forkv.conf", "maxclients 50\ntimeout 7\nsave 100 1\n");
        let c = Config::from_args(&args(&[&file, "--timeout", "9", "--save", "50", "2"])).unwrap();
        assert_eq!(c.maxclients, 50);
        assert_eq!(c.timeout, 9, "command line applies after the file");
        assert_eq!(c.save, [(100, 1), (50, 2)], "one load: save lines add up");

        let c = Config::from_args(&args(&["--maxclients 7", "--requirepass", "a b\"c"])).unwrap();
        assert_eq!(c.maxclients, 7);
        assert_eq!(c.requirepass.as_deref(), Some(&b"a b\"c"[..]));

        let c = Config::from_args(&args(&["--bind", "1.2.3.4", "-::1", "--port", "0"])).unwrap();
        assert_eq!(c.bind, ["1.2.3.4", "-::1"]);
        assert_eq!(c.port, 0);

        // `--save` with nothing after it means `save ""`.
        assert_eq!(Config::from_args(&args(&["--save"])).unwrap().save, []);
        let c = Config::from_args(&args(&["--save", "--maxclients", "5"])).unwrap();
        assert_eq!((c.save.len(), c.maxclients), (0, 5));
        // After a bare name, the next argument is its value even if it
        // starts with "--".
        let err = Config::from_args(&args(&["--maxclients", "--5"])).unwrap_err();
        assert!(err.contains(">>> 'maxclients \"--5\"'"), "{err}");

        assert_eq!(Config::from_args(&[]).unwrap(), Config::default());
    }

    #[test]
    fn inert_parameters_load_and_read_back() {
        let c = Config::from_args(&args(&[
            "--appendfsync",
            "ALWAYS",
            "--slave-read-only",
            "no",
            "--oom-score-adj-values",
            "1",
            "2",
            "3",
            "--io-threads",
            "4",
        ]))
        .unwrap();
        assert_eq!(get1(&c, "appendfsync"), "always");
        assert_eq!(get1(&c, "replica-read-only"), "no");
        assert_eq!(get1(&c, "slave-read-only"), "no");
        assert_eq!(get1(&c, "oom-score-adj-values"), "1 2 3");
        assert_eq!(get1(&c, "io-threads"), "4");
        // Unset ones read as Redis's defaults.
        assert_eq!(get1(&c, "repl-backlog-size"), "1048576");
        let err = Config::from_args(&args(&["--io-threads", "0"])).unwrap_err();
        assert!(
            err.ends_with("argument must be between 1 and 128 inclusive"),
            "{err}"
        );
        // forkv is never a replica: a file asking for one stops startup.
        let err = Config::from_args(&args(&["--replicaof", "127.0.0.1", "6379"])).unwrap_err();
        assert!(err.contains("no replication"), "{err}");
    }

    #[test]
    fn from_args_errors() {
        let err = Config::from_args(&args(&["--port", "99999"])).unwrap_err();
        assert_eq!(
            err,
            format!(
                "*** FATAL CONFIG FILE ERROR (forkv {}) ***\n\
                 Reading the configuration (command line), at line 1\n\
                 >>> 'port \"99999\"'\n\
                 argument must be between 0 and 65535 inclusive",
                env!("CARGO_PKG_VERSION")
            )
        );
        let err = Config::from_args(&args(&["--port", "1", "--foo", "bar"])).unwrap_err();
        assert!(
            err.contains("(command line), at line 2\n>>> 'foo \"bar\"'"),
            "{err}"
        );
        let err = Config::from_args(&args(&["--maxclients"])).unwrap_err();
        assert_eq!(reason(&err), "wrong number of arguments");

        let err = Config::from_args(&args(&["/nonexistent/forkv.conf"])).unwrap_err();
        assert_eq!(
            err,
            "Fatal error, can't open config file '/nonexistent/forkv.conf': No such file or directory"
        );

        let tmp = TempDir::new("errors");
        let file = tmp.write("bad.conf", "port 1\n\nport x\n");
        let err = Config::from_args(&args(&[&file, "--port", "2"])).unwrap_err();
        assert!(
            err.contains(&format!("file '{file}', at line 3\n>>> 'port x'")),
            "{err}"
        );
        // A stray value with no option name becomes a directive of its own.
        let file = tmp.write("ok.conf", "");
        let err = Config::from_args(&args(&[&file, "stray"])).unwrap_err();
        assert!(err.contains(">>> '\"stray\"'"), "{err}");
        assert_eq!(reason(&err), "Bad directive or wrong number of arguments");
    }

    #[test]
    fn include_files_and_patterns() {
        let tmp = TempDir::new("include");
        tmp.write("a.conf", "maxclients 11\n");
        tmp.write("conf.d-1.conf", "timeout 1\n");
        tmp.write("conf.d-2.conf", "timeout 2\nsave 10 1\n");
        tmp.write(".hidden.conf", "timeout 99\n");
        let dir = tmp.0.to_string_lossy().into_owned();
        let main = tmp.write(
            "main.conf",
            &format!("save 20 2\ninclude {dir}/a.conf\ninclude {dir}/*.conf-nothing\ninclude {dir}/conf.d-*.conf\n"),
        );
        let c = Config::from_args(&args(&[&main])).unwrap();
        assert_eq!(c.maxclients, 11);
        assert_eq!(c.timeout, 2, "sorted, hidden files skipped");
        assert_eq!(c.save, [(20, 2), (10, 1)]);

        // Errors name the included file and its own line numbers.
        tmp.write("broken.conf", "\n\nbogus\n");
        let main = tmp.write("main2.conf", &format!("include {dir}/broken.conf\n"));
        let err = Config::from_args(&args(&[&main])).unwrap_err();
        assert!(
            err.contains("broken.conf', at line 3\n>>> 'bogus'"),
            "{err}"
        );

        let main = tmp.write("main3.conf", &format!("include {dir}/missing.conf\n"));
        let err = Config::from_args(&args(&[&main])).unwrap_err();
        assert!(
            err.starts_with("Fatal error, can't open config file"),
            "{err}"
        );

        // An include loop stops instead of recursing forever.
        let looped = tmp.write("loop.conf", &format!("include {dir}/loop.conf\n"));
        let err = Config::from_args(&args(&[&looped])).unwrap_err();
        assert!(err.contains("include nesting"), "{err}");
    }

    #[test]
    fn no_panics_on_garbage() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"ab \t\r\n\"'\\x0#*?[]-kmgb19";
        let names: Vec<&str> = all_params().map(|p| p.name).collect();
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let junk: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let name = names[(next() % names.len() as u64) as usize];
            let mut c = Config::default();
            let mut line = name.as_bytes().to_vec();
            line.push(b' ');
            line.extend_from_slice(&junk);
            let _ = c.apply_bytes(&line, "fuzz", &mut LoadState::default());
            let _ = c.apply_bytes(&junk, "fuzz", &mut LoadState::default());
            let _ = c.set(&[(name.as_bytes(), &junk)]);
            let _ = c.set(&[(&junk, &junk)]);
            let _ = c.get(&junk);
            let _ = split_args(&junk);
            let _ = memtoull(&junk);
        }
    }
}
