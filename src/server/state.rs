//! `ServerState`: everything the command loop shares between connections —
//! the keyspace, the configuration, the client registry and the counters
//! INFO reports. It lives in one `Rc<RefCell<..>>` on the single thread;
//! no borrow is ever held across an `.await`.

use super::client::Client;
use crate::config::Config;
use crate::db::Keyspace;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

/// Per-command counters (INFO commandstats).
#[derive(Default, Clone, Copy, Debug)]
pub struct CmdStats {
    /// Successful or failed executions.
    pub calls: u64,
    /// Microseconds spent executing.
    pub usec: u64,
    /// Rejected before execution (arity, auth, ...).
    pub rejected_calls: u64,
    /// Executed but answered with an error.
    pub failed_calls: u64,
}

/// Server-wide counters (INFO stats).
#[derive(Default, Debug)]
pub struct Stats {
    /// Connections accepted.
    pub total_connections_received: u64,
    /// Commands executed.
    pub total_commands_processed: u64,
    /// Connections refused (maxclients).
    pub rejected_connections: u64,
    /// Bytes read from clients.
    pub total_net_input_bytes: u64,
    /// Bytes written to clients.
    pub total_net_output_bytes: u64,
    /// Socket reads that returned data.
    pub total_reads_processed: u64,
    /// Socket writes of replies (one per batch of pipelined requests).
    pub total_writes_processed: u64,
    /// Error replies sent.
    pub total_error_replies: u64,
    /// Error replies by code (INFO errorstats).
    pub errors: BTreeMap<String, u64>,
    /// Samples of (time, commands processed) for `instantaneous_ops_per_sec`.
    pub ops_samples: [u64; 16],
    /// Next ops sample slot.
    pub ops_sample_idx: usize,
    /// Commands at the previous sample.
    pub ops_last_count: u64,
    /// Time of the previous sample.
    pub ops_last_time: Option<Instant>,
    /// Clients closed for exceeding the query buffer limit.
    pub client_qbuf_limit_disconnections: u64,
    /// Clients closed for exceeding `client-output-buffer-limit`.
    pub client_output_buffer_limit_disconnections: u64,
}

/// How SHUTDOWN asked the server to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Save if save points are configured.
    Default,
    /// Never save.
    NoSave,
    /// Always save.
    Save,
}

/// Shared server state.
pub struct ServerState {
    /// The data.
    pub ks: Keyspace,
    /// Live configuration.
    pub config: Config,
    /// Connected clients by id (CLIENT LIST, CLIENT KILL).
    pub clients: BTreeMap<u64, Rc<RefCell<Client>>>,
    /// Every connected client's link (socket, wake handle, kill flag,
    /// mailbox, WATCH mark), by id. Kept apart from `clients` so it is
    /// reachable while the client's `RefCell` is borrowed by its own
    /// running command: a fork child closes every socket, CLIENT KILL,
    /// UNPAUSE and deliveries reach every client.
    pub links: BTreeMap<u64, Rc<super::client::ClientLink>>,
    /// Next client id.
    pub next_client_id: u64,
    /// Counters.
    pub stats: Stats,
    /// Per-command counters, indexed like the command table.
    pub cmd_stats: Vec<CmdStats>,
    /// Process start.
    pub started: Instant,
    /// Process start, Unix seconds.
    pub started_unix: i64,
    /// Random id of this run (INFO run_id).
    pub run_id: String,
    /// TCP port actually bound.
    pub port: u16,
    /// Listening sockets.
    pub listeners: super::listen::Listeners,
    /// Set by SHUTDOWN; the accept loop stops and the process exits.
    pub shutdown: Option<ShutdownMode>,
    /// True while a snapshot is loading.
    pub loading: bool,
    /// Highest `used_memory` seen.
    pub peak_memory: usize,
    /// Unix seconds of the last successful save.
    pub lastsave: i64,
    /// Path of the configuration file, if any.
    pub config_file: Option<String>,
    /// Clients blocked on keys.
    pub blocking: super::blocking::Blocking,
    /// Lua scripting: the interpreter and the script cache.
    pub scripts: crate::script::Scripts,
    /// Snapshot state (background save child, statuses).
    pub persist: crate::server::persistence::Persistence,
    /// DEBUG SET-ACTIVE-EXPIRE: whether the cron tick reclaims expired keys.
    pub active_expire_enabled: bool,
    /// The error reply of the command that just ran was already counted
    /// where it arose (a script returning the error of its `redis.call`):
    /// `call` counts the command failed but not the error again.
    pub error_counted: bool,
    /// DEBUG EFFECTS REPLAY is running: a replayed file may not start
    /// another replay (a file replaying itself would recurse forever).
    pub replaying: bool,
    /// Client-side caching: tracked keys, broadcast prefixes.
    pub tracking: super::tracking::Tracking,
    /// Pub/sub subscriptions.
    pub pubsub: super::pubsub::PubSub,
    /// Wakes the background eviction when a pass ran out of time.
    pub eviction_wake: Rc<tokio::sync::Notify>,
    /// The write-effect stream (what the append-only file and replicas
    /// will consume).
    pub effects: super::effects::Effects,
    /// Keys watched by clients (WATCH).
    pub watches: super::watch::Watches,
    /// CLIENT PAUSE state.
    pub pause: super::pause::Pause,
    /// The slow log.
    pub slowlog: super::slowlog::SlowLog,
    /// The latency monitor's events.
    pub latency: super::latency::Latency,
    /// Ids of the clients in MONITOR mode, in the order they started.
    pub monitors: Vec<u64>,
}

impl ServerState {
    /// Fresh state for `config`.
    pub fn new(config: Config, commands: usize) -> Self {
        let now = crate::db::now_ms();
        let mut ks = Keyspace::new(config.databases as usize);
        ks.limits = config.encoding_limits();
        super::eviction::apply(&mut ks, &config);
        let run_id: String = (0..40)
            .map(|_| {
                let d = (ks.rand() % 16) as u32;
                std::char::from_digit(d, 16).unwrap_or('0')
            })
            .collect();
        let mut st = ServerState {
            ks,
            port: config.port,
            config,
            clients: BTreeMap::new(),
            links: BTreeMap::new(),
            listeners: Default::default(),
            next_client_id: 1,
            stats: Stats::default(),
            cmd_stats: vec![CmdStats::default(); commands],
            started: Instant::now(),
            started_unix: now / 1000,
            run_id,
            shutdown: None,
            loading: false,
            peak_memory: 0,
            lastsave: now / 1000,
            config_file: None,
            active_expire_enabled: true,
            error_counted: false,
            replaying: false,
            eviction_wake: Rc::default(),
            persist: Default::default(),
            blocking: Default::default(),
            scripts: Default::default(),
            tracking: Default::default(),
            pubsub: Default::default(),
            watches: Default::default(),
            effects: Default::default(),
            pause: Default::default(),
            slowlog: Default::default(),
            latency: Default::default(),
            monitors: Vec::new(),
        };
        st.sync_keyspace_logging();
        st
    }

    /// Counts an error reply by its code, for INFO errorstats.
    pub fn count_error(&mut self, text: &str) {
        self.stats.total_error_replies += 1;
        let code = text.split(' ').next().unwrap_or("ERR");
        if self.stats.errors.len() < 128 || self.stats.errors.contains_key(code) {
            *self.stats.errors.entry(code.to_string()).or_default() += 1;
        }
    }

    /// Forgets what the server keeps about a client that disconnected or
    /// was killed: its transaction and watched keys, MONITOR mode, a
    /// command postponed by CLIENT PAUSE, tracking and subscriptions.
    pub fn client_closed(&mut self, c: &mut Client) {
        super::multi::discard(self, c);
        super::monitor::stop(self, c);
        self.pause.release(c.id);
        c.link.take_dirty_cas();
        c.link.take_mail();
        self.tracking_disable(c);
        self.forget_subscriptions(c);
    }

    /// `instantaneous_ops_per_sec`: mean of the recent samples.
    pub fn instantaneous_ops(&self) -> u64 {
        let s = &self.stats.ops_samples;
        s.iter().sum::<u64>() / s.len() as u64
    }
}
