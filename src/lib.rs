//! forkv: a Redis-compatible in-memory key-value server.
//!
//! Module map (requests flow top to bottom):
//!
//! - [`server`]: listening sockets (TCP and Unix), the startup load (in
//!   steps, answering `-LOADING` meanwhile), one task per connection, the
//!   cron tick, shutdown, and the server state other clients' commands touch
//!   (blocking, pub/sub, tracking, WATCH and transactions, MONITOR, slow
//!   log, latency monitor, persistence scheduling, the write-effect
//!   stream). Everything runs on **one thread**: a tokio current-thread
//!   runtime with a `LocalSet`. Nothing may add a thread (no
//!   `spawn_blocking`, no `tokio::fs`, no name-resolving `bind`), so the
//!   process can `fork()` safely for snapshots. It reaches into [`cmd`]
//!   only to dispatch.
//! - [`protocol`]: request decoding (RESP and inline, with Redis's limits
//!   and error texts) and reply encoding for RESP2 and RESP3.
//! - [`cmd`]: the command table over Redis's typed metadata, the gates and
//!   the one call path every caller uses (connections, scripts, loaders),
//!   and one file per command family; handlers turn arguments into typed
//!   keyspace calls.
//! - [`script`]: Lua 5.1 scripting as Redis 7.0 runs it (EVAL, FUNCTION):
//!   the sandboxed interpreter, the `redis` table, Lua/RESP conversions;
//!   a script's `redis.call` goes back through [`cmd`]'s one call path.
//! - [`db`]: the keyspace, the only place data is read or written; no I/O.
//! - [`persist`]: snapshot format, writer, loader and fork child, over the
//!   keyspace alone.
//! - [`config`]: redis.conf-style configuration and its CONFIG GET/SET view.
//! - [`error`]: every error text a client can see.
//! - [`alloc`], [`log`], [`util`]: memory accounting, logging, helpers.
//! - `fuzzing` (cargo feature `fuzzing`): the fuzz harnesses (request
//!   decoder, command execution, snapshot loader) behind `fuzz/` and
//!   `tests/fuzz_regressions.rs`; not in the production build.

pub mod alloc;
pub mod cmd;
pub mod config;
pub mod db;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod log;
pub mod persist;
pub mod protocol;
pub mod script;
pub mod server;
pub mod util;

/// The Redis version forkv is compatible with, as clients see it.
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";
