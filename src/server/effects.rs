//! The write-effect stream (Redis's "propagation"): for every execution
//! unit (a client's command, a transaction, a served blocked command, an
//! expiry or eviction outside any command) the commands that reproduce its
//! effect deterministically, in order.
//!
//! The command path feeds it ([`crate::cmd::call`]): a write that changed
//! the dataset contributes its arguments, or what its handler rewrote them
//! to ([`crate::cmd::Ctx::propagate`]: relative TTLs made absolute, SPOP as
//! SREM, blocking pops as plain pops, ...); a key deleted by expiry or
//! eviction contributes `DEL` (`UNLINK` under lazy freeing). When the
//! outermost unit ends, its effects go to every consumer: one command as it
//! is, several wrapped in `MULTI`/`EXEC`, with `SELECT` inserted whenever
//! the database differs from the one the consumer last saw.
//!
//! Consumers: the append-only file and replicas will be; today a file
//! recorder turned on by `DEBUG EFFECTS LOG path` (tests replay it into a
//! fresh server and compare datasets). With no consumer nothing is built,
//! and handlers skip their rewrites ([`Effects::enabled`]).

use crate::protocol::encode_request;
use bytes::Bytes;
use std::io::Write;

/// One command of the stream, with the database it applies to.
pub type Effect = (usize, Vec<Bytes>);

/// A recorder that appends the stream, RESP-encoded, to a file.
struct FileSink {
    file: std::fs::File,
    /// Database of the last SELECT written (None: none yet).
    selected: Option<usize>,
}

impl FileSink {
    fn write_unit(&mut self, unit: &[Effect]) -> std::io::Result<()> {
        let mut out = Vec::new();
        let wrap = unit.len() > 1;
        for (i, (db, argv)) in unit.iter().enumerate() {
            if self.selected != Some(*db) {
                encode_request(&mut out, &[b"SELECT", db.to_string().as_bytes()]);
                self.selected = Some(*db);
            }
            if wrap && i == 0 {
                encode_request(&mut out, &[b"MULTI"]);
            }
            let parts: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
            encode_request(&mut out, &parts);
        }
        if wrap {
            encode_request(&mut out, &[b"EXEC"]);
        }
        self.file.write_all(&out)
    }
}

/// The stream's state: the unit being collected and the consumers.
#[derive(Default)]
pub struct Effects {
    sink: Option<FileSink>,
    unit: Vec<Effect>,
    /// Nesting of execution units (EXEC runs commands inside its own unit;
    /// a loader runs commands inside the command that started it).
    depth: u32,
    /// The running command's rewritten effect, set by its handler
    /// (None: the command's own arguments).
    rewrite: Option<Vec<Vec<Bytes>>>,
}

/// Creates (or truncates) the recording file `path`. Opened without
/// blocking, so a FIFO nobody reads is an error instead of a server stuck
/// in `open`; only regular files and character devices (`/dev/null`) are
/// taken.
fn create_log(path: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let t = file.metadata()?.file_type();
    if !(t.is_file() || t.is_char_device()) {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(file)
}

impl Effects {
    /// True when a consumer listens: only then are effects built.
    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Starts recording into `path` (replacing the file), or stops with None.
    pub fn set_log(&mut self, path: Option<&str>) -> std::io::Result<()> {
        self.sink = match path {
            Some(p) => Some(FileSink {
                file: create_log(p)?,
                selected: None,
            }),
            None => None,
        };
        Ok(())
    }

    /// Forgets any unit left open: a connection's request always starts
    /// an outermost unit, even after a command that failed half way.
    #[inline]
    pub fn reset_units(&mut self) {
        if self.depth != 0 {
            self.depth = 0;
            self.unit.clear();
            self.rewrite = None;
        }
    }

    /// An execution unit starts (nested ones join the outermost).
    #[inline]
    pub fn begin(&mut self) {
        self.depth += 1;
    }

    /// An execution unit ends; the outermost one hands its effects to the
    /// consumers.
    #[inline]
    pub fn end(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        if self.depth == 0 && !self.unit.is_empty() {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.unit.is_empty() {
            return;
        }
        let unit = std::mem::take(&mut self.unit);
        if let Some(s) = self.sink.as_mut()
            && let Err(e) = s.write_unit(&unit)
        {
            tracing::warn!("Writing the write-effect recording failed: {e}");
        }
        let mut unit = unit;
        unit.clear();
        self.unit = unit;
    }

    /// Adds one command to the current unit (outside any unit: it is a
    /// unit of its own, handed over at once).
    pub fn push(&mut self, db: usize, argv: Vec<Bytes>) {
        if !self.enabled() {
            return;
        }
        self.unit.push((db, argv));
        if self.depth == 0 {
            self.flush();
        }
    }

    /// The running command's handler replaces its effect with `argv` (a
    /// second call adds another command to it).
    pub fn rewrite(&mut self, argv: Vec<Bytes>) {
        self.rewrite.get_or_insert_with(Vec::new).push(argv);
    }

    /// Takes the rewrite of the command that just ran, leaving `saved`
    /// (the enclosing command's, when commands nest).
    pub fn take_rewrite(&mut self, saved: Option<Vec<Vec<Bytes>>>) -> Option<Vec<Vec<Bytes>>> {
        std::mem::replace(&mut self.rewrite, saved)
    }

    /// Saves the enclosing command's rewrite before a nested one runs.
    pub fn save_rewrite(&mut self) -> Option<Vec<Vec<Bytes>>> {
        self.rewrite.take()
    }
}
