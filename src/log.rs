//! Logging: `tracing` events written synchronously to stderr or to the
//! `logfile`, filtered by `loglevel` (changeable with CONFIG SET). No
//! background writer thread: a log line is written when it is emitted.

use crate::config::LogLevel;
use std::sync::atomic::{AtomicU8, Ordering};
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

static LEVEL: AtomicU8 = AtomicU8::new(2);

fn rank(l: &Level) -> u8 {
    match *l {
        Level::ERROR => 4,
        Level::WARN => 3,
        Level::INFO => 2,
        Level::DEBUG => 1,
        Level::TRACE => 0,
    }
}

/// Sets the minimum level logged.
pub fn set_level(l: LogLevel) {
    let r = match l {
        LogLevel::Debug => 0,
        LogLevel::Verbose => 1,
        LogLevel::Notice => 2,
        LogLevel::Warning => 3,
        LogLevel::Nothing => 5,
    };
    LEVEL.store(r, Ordering::Relaxed);
}

/// Installs the global subscriber. `logfile` empty means stderr.
pub fn init(level: LogLevel, logfile: &str) -> Result<(), String> {
    set_level(level);
    let filter =
        tracing_subscriber::filter::filter_fn(|m| rank(m.level()) >= LEVEL.load(Ordering::Relaxed));
    let result = if logfile.is_empty() {
        let layer = tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .with_filter(filter);
        tracing_subscriber::registry().with(layer).try_init()
    } else {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)
            .map_err(|e| format!("Can't open the log file '{logfile}': {e}"))?;
        let layer = tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .with_filter(filter);
        tracing_subscriber::registry().with(layer).try_init()
    };
    result.map_err(|e| e.to_string())
}
