//! `restore FILE --to HOST:PORT [--password P] [--db N] [--replace]`: load
//! a snapshot into a running forkv or Redis over plain RESP.
//!
//! The file is checked before connecting. Then each block is one batch:
//! its records are decoded, filtered, and sent pipelined; replies are read
//! every [`FLUSH_COMMANDS`] commands, so neither side's buffers grow with
//! the snapshot and the server never blocks writing replies nobody reads.

use crate::input::Input;
use crate::resp::{self, Reply};
use crate::{Failure, Outcome, text};
use forkv::persist::format::{self, Record, ValueRef};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufReader, IsTerminal, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// `restore --help`.
pub const LONG_ABOUT: &str = "\
Load a snapshot into a running forkv or Redis server over RESP.

Keys go into the database number they had. Keys that already exist on the
server are left alone and counted as skipped (strings are written with
SET ... NX, other types after an EXISTS check), unless --replace is given,
which overwrites them (SET, or DEL before RPUSH/SADD/HSET/ZADD). Keys whose
deadline has already passed are skipped; other deadlines are set with PXAT
or PEXPIREAT. Commands are pipelined one block at a time.

Ends with a summary line: restored, skipped existing, skipped expired,
errors. The exit status is 1 if the server rejected any key, 2 if the
connection failed.";

/// Replies are read after at most this many pipelined commands...
const FLUSH_COMMANDS: usize = 1024;
/// ...or this many bytes of commands.
const FLUSH_BYTES: usize = 1 << 20;
/// How long to wait for the server before giving up.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Per-key errors printed before the rest are only counted.
const SHOW_ERRORS: u64 = 5;

/// Arguments of `restore`.
#[derive(clap::Args)]
pub struct Args {
    /// Snapshot file to load.
    file: PathBuf,
    /// Server to load into.
    #[arg(long, value_name = "HOST:PORT")]
    to: String,
    /// Password for AUTH, if the server requires one.
    #[arg(long)]
    password: Option<String>,
    /// Only restore database N (into database N).
    #[arg(long, value_name = "N")]
    db: Option<u32>,
    /// Overwrite keys that already exist instead of skipping them.
    #[arg(long)]
    replace: bool,
}

/// What a queued command's reply means.
#[derive(Clone, Copy)]
enum Tag {
    /// SELECT n: an error is fatal.
    Select(u32),
    /// EXISTS for record i: a positive count means "skip it".
    Exists(usize),
    /// SET for record i: nil means NX found the key.
    Set(usize),
    /// Any other write for record i.
    Write(usize),
}

/// What happened to one record of a batch.
#[derive(Default, Clone)]
struct Fate {
    exists: bool,
    expired: bool,
    error: Option<String>,
}

/// Totals for the summary.
#[derive(Default)]
struct Totals {
    restored: u64,
    existing: u64,
    expired: u64,
    errors: u64,
}

/// A pipelined connection.
struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    buf: Vec<u8>,
    pending: Vec<Tag>,
    db: Option<u32>,
    addr: String,
}

impl Conn {
    fn connect(addr: &str) -> Result<Conn, Failure> {
        let fail = |e: std::io::Error| Failure::io(format!("cannot connect to {addr}: {e}"));
        let mut last = None;
        for a in addr.to_socket_addrs().map_err(fail)? {
            match TcpStream::connect_timeout(&a, TIMEOUT) {
                Ok(stream) => {
                    let reader = stream.try_clone().map_err(fail)?;
                    for s in [&stream, &reader] {
                        s.set_read_timeout(Some(TIMEOUT)).map_err(fail)?;
                        s.set_write_timeout(Some(TIMEOUT)).map_err(fail)?;
                    }
                    let _ = stream.set_nodelay(true);
                    return Ok(Conn {
                        stream,
                        reader: BufReader::with_capacity(1 << 16, reader),
                        buf: Vec::with_capacity(FLUSH_BYTES + (1 << 16)),
                        pending: Vec::new(),
                        db: None,
                        addr: addr.to_owned(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(fail(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address found")
        })))
    }

    fn io_fail(&self, e: std::io::Error) -> Failure {
        Failure::io(format!("connection to {} failed: {e}", self.addr))
    }

    /// Sends one command and waits for its reply (for the handshake).
    fn call(&mut self, args: &[&[u8]]) -> Result<Reply, Failure> {
        self.buf.clear();
        resp::command(&mut self.buf, args);
        self.stream
            .write_all(&self.buf)
            .map_err(|e| self.io_fail(e))?;
        self.buf.clear();
        resp::read_reply(&mut self.reader).map_err(|e| self.io_fail(e))
    }

    /// Queues a command for record `tag`, selecting `db` first if needed.
    fn send(&mut self, db: u32, args: &[&[u8]], tag: Tag, fates: &mut [Fate]) -> Outcome {
        if self.db != Some(db) {
            resp::command(&mut self.buf, &[b"SELECT", db.to_string().as_bytes()]);
            self.pending.push(Tag::Select(db));
            self.db = Some(db);
        }
        resp::command(&mut self.buf, args);
        self.pending.push(tag);
        if self.pending.len() >= FLUSH_COMMANDS || self.buf.len() >= FLUSH_BYTES {
            self.flush(fates)?;
        }
        Ok(())
    }

    /// Writes the queued commands and reads all their replies.
    fn flush(&mut self, fates: &mut [Fate]) -> Outcome {
        self.stream
            .write_all(&self.buf)
            .map_err(|e| self.io_fail(e))?;
        self.buf.clear();
        for tag in std::mem::take(&mut self.pending) {
            let reply = resp::read_reply(&mut self.reader).map_err(|e| self.io_fail(e))?;
            match (tag, reply) {
                (Tag::Select(db), Reply::Error(e)) => {
                    return Err(Failure::damaged(format!(
                        "{}: SELECT {db} failed: {e}",
                        self.addr
                    )));
                }
                (Tag::Select(_), _) => {}
                (Tag::Exists(i), Reply::Int(n)) => fates[i].exists = n > 0,
                (Tag::Set(i), Reply::Nil) => fates[i].exists = true,
                // The deadline passed between our check and the server's
                // (SET refuses a PXAT in the past): the key is expired.
                (Tag::Set(i), Reply::Error(e)) if e.contains("invalid expire time") => {
                    fates[i].expired = true
                }
                (Tag::Exists(i) | Tag::Set(i) | Tag::Write(i), Reply::Error(e)) => {
                    fates[i].error.get_or_insert(e);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Restores the file and prints the summary.
pub fn run(args: Args) -> Outcome {
    let input = Input::open(&args.file)?;
    let checked = input.check()?;
    let mut conn = Conn::connect(&args.to)?;
    if let Some(p) = &args.password
        && let Reply::Error(e) = conn.call(&[b"AUTH", p.as_bytes()])?
    {
        return Err(Failure::io(format!("{}: AUTH failed: {e}", args.to)));
    }
    // One round trip up front turns "needs a password" into one clear
    // message instead of an error per key.
    if let Reply::Error(e) = conn.call(&[b"PING"])? {
        return Err(Failure::io(format!("{}: {e}", args.to)));
    }

    let total = match args.db {
        Some(db) => checked
            .footer
            .dbs
            .iter()
            .filter(|d| d.db == db)
            .map(|d| d.keys)
            .sum(),
        None => checked.footer.keys,
    };
    let bar = progress_bar(total);
    let mut totals = Totals::default();
    let mut result = Ok(());
    for block in &checked.blocks {
        let records = format::decode_records(block).map_err(|e| input.damaged(&e))?;
        let wanted: Vec<&Record<'_>> = records
            .iter()
            .filter(|r| args.db.is_none_or(|db| db == r.db))
            .collect();
        result = restore_batch(&mut conn, &wanted, args.replace, &mut totals, &bar);
        bar.inc(wanted.len() as u64);
        if result.is_err() {
            break;
        }
    }
    bar.finish_and_clear();

    text::print(&format!(
        "restored: {}, skipped existing: {}, skipped expired: {}, errors: {}\n",
        totals.restored, totals.existing, totals.expired, totals.errors
    ))?;
    result?;
    if totals.errors > 0 {
        return Err(Failure::damaged(format!(
            "{} key(s) could not be restored into {}",
            totals.errors, args.to
        )));
    }
    Ok(())
}

fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} keys, {per_sec}, {eta} left")
    {
        bar.set_style(style);
    }
    bar
}

/// Sends one block's records and tallies what became of each.
fn restore_batch(
    conn: &mut Conn,
    records: &[&Record<'_>],
    replace: bool,
    totals: &mut Totals,
    bar: &ProgressBar,
) -> Outcome {
    // Taken per batch: a long restore must not set deadlines that passed
    // while it ran.
    let now = text::now_ms();
    let mut fates = vec![Fate::default(); records.len()];
    for (fate, rec) in fates.iter_mut().zip(records) {
        fate.expired = rec.expire.is_some_and(|t| t <= now);
    }
    let live = |i: &usize| !fates[*i].expired;
    let todo: Vec<usize> = (0..records.len()).filter(live).collect();

    // Without --replace, collections need an existence check first (strings
    // get one for free from SET NX).
    if !replace {
        for &i in &todo {
            let r = records[i];
            if !matches!(r.value, ValueRef::Str(_)) {
                conn.send(r.db, &[b"EXISTS", r.key], Tag::Exists(i), &mut fates)?;
            }
        }
        conn.flush(&mut fates)?;
    }
    for &i in &todo {
        let r = records[i];
        if fates[i].exists || fates[i].error.is_some() {
            continue;
        }
        let pxat = r.expire.map(|t| t.to_string());
        match &r.value {
            ValueRef::Str(v) => {
                let mut cmd: Vec<&[u8]> = vec![b"SET", r.key, v];
                if !replace {
                    cmd.push(b"NX");
                }
                if let Some(t) = &pxat {
                    cmd.extend([b"PXAT".as_slice(), t.as_bytes()]);
                }
                conn.send(r.db, &cmd, Tag::Set(i), &mut fates)?;
            }
            value => {
                if replace {
                    conn.send(r.db, &[b"DEL", r.key], Tag::Write(i), &mut fates)?;
                }
                // Commands are gathered first: `send` needs `fates` mutably
                // and may flush in the middle of a big collection.
                let mut cmds = Vec::new();
                resp::collection_commands(r.key, value, &mut |args| {
                    cmds.push(args.iter().map(|a| a.to_vec()).collect::<Vec<_>>())
                });
                for c in &cmds {
                    let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                    conn.send(r.db, &args, Tag::Write(i), &mut fates)?;
                }
                if let Some(t) = &pxat {
                    let cmd: [&[u8]; 3] = [b"PEXPIREAT", r.key, t.as_bytes()];
                    conn.send(r.db, &cmd, Tag::Write(i), &mut fates)?;
                }
            }
        }
    }
    conn.flush(&mut fates)?;

    for (fate, rec) in fates.iter().zip(records) {
        if let Some(e) = &fate.error {
            totals.errors += 1;
            if totals.errors <= SHOW_ERRORS {
                bar.suspend(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "forkv-snapshot: key {} (db {}): {e}",
                        text::printable(rec.key),
                        rec.db
                    );
                });
            }
        } else if fate.expired {
            totals.expired += 1;
        } else if fate.exists {
            totals.existing += 1;
        } else {
            totals.restored += 1;
            // RESP commands cannot recreate everything a stream holds:
            // say what was left behind.
            if let ValueRef::Stream(st) = &rec.value {
                let losses = resp::stream_losses(st);
                if !losses.is_empty() {
                    bar.suspend(|| {
                        let _ = writeln!(
                            std::io::stderr(),
                            "forkv-snapshot: key {} (db {}): not carried over: {}",
                            text::printable(rec.key),
                            rec.db,
                            losses.join("; ")
                        );
                    });
                }
            }
        }
    }
    Ok(())
}
