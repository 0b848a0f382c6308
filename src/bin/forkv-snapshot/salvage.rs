//! `salvage FILE -o OUT`: copy every intact block of a damaged snapshot
//! into a new, valid one, and say exactly what was lost.
//!
//! The walk trusts nothing but block checksums. It starts after the header
//! (or, if the header is unreadable, at the first block magic), reads one
//! item at a time with `decode_item`, and when an item is damaged it
//! resynchronises at the next block magic (or footer magic) and tries
//! again. A lost region is named by the block numbers of the intact blocks
//! around it, which the block headers carry.

use crate::input::Input;
use crate::{Failure, Outcome, text};
use forkv::persist::format::{
    self, BLOCK_HEADER_LEN, ErrorKind, FOOTER_MAGIC, Item, MAGIC, Writer,
};
use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `salvage --help`.
pub const LONG_ABOUT: &str = "\
Copy every intact block of a damaged snapshot into a new, valid snapshot.

Each block has its own checksum, so damage costs only the blocks it touches.
salvage walks FILE, keeps the records of every block whose checksum matches,
skips damaged bytes up to the next block, and writes the kept records to OUT
(through a temporary file renamed into place). It works when the header or
footer is damaged too; the creation time is copied from the header when the
header is readable.

It reports the records recovered and every lost region: its byte range and
the block numbers it held. Exit status 0 when OUT was written, even with
losses (the report says so); 1 when nothing could be recovered.";

/// Arguments of `salvage`.
#[derive(clap::Args)]
pub struct Args {
    /// Damaged snapshot to read.
    file: PathBuf,
    /// Where to write the recovered snapshot (must not be FILE).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
}

/// A stretch of the file that could not be used.
struct Loss {
    start: usize,
    end: usize,
    /// Block numbers it held: `first..last` (exclusive), `None` for "from
    /// `first` on, how many unknown" (the footer is gone too).
    first: u64,
    last: Option<u64>,
    why: String,
}

impl Loss {
    fn describe(&self, file_len: usize) -> String {
        let end = if self.end >= file_len {
            "end of file".to_string()
        } else {
            self.end.to_string()
        };
        let blocks = match self.last {
            Some(l) if l <= self.first => "no whole block".to_string(),
            Some(l) if l == self.first + 1 => format!("block {}", self.first),
            Some(l) => format!("blocks {}..={}", self.first, l - 1),
            None => format!("blocks from {} on (how many is unknown)", self.first),
        };
        format!("lost {blocks}: bytes {}..{end}: {}", self.start, self.why)
    }
}

/// Where the walk stands.
struct Walk<'a> {
    data: &'a [u8],
    /// Next block number expected.
    next: u64,
    /// Start and cause of the damaged region being skipped, if any.
    damage: Option<(usize, String)>,
    losses: Vec<Loss>,
    blocks_kept: u64,
}

impl Walk<'_> {
    /// Notes damage starting at `at`, unless already inside damage.
    fn damaged(&mut self, at: usize, why: String) {
        self.damage.get_or_insert((at, why));
    }

    /// Ends the damaged region at `at`, where block number `resume` (or,
    /// with `None`, nothing known) follows.
    fn resume(&mut self, at: usize, resume: Option<u64>) {
        if let Some((start, why)) = self.damage.take() {
            self.losses.push(Loss {
                start,
                end: at,
                first: self.next,
                last: resume,
                why,
            });
        }
    }

    /// The next offset at or after `from` where a block or the footer may
    /// start.
    fn resync(&self, from: usize) -> Option<usize> {
        let block = format::find_next_block(self.data, from);
        let footer = self
            .data
            .get(from..)
            .and_then(|d| d.windows(4).position(|w| w == FOOTER_MAGIC))
            .map(|p| p + from);
        match (block, footer) {
            (Some(b), Some(f)) => Some(b.min(f)),
            (b, f) => b.or(f),
        }
    }

    /// Walks from `pos` to the end, copying the records of intact blocks
    /// into `out` and noting every lost region.
    fn run<W: std::io::Write>(
        &mut self,
        mut pos: usize,
        out: &mut Writer<W>,
    ) -> std::io::Result<()> {
        let data = self.data;
        loop {
            if self.damage.is_some() {
                match self.resync(pos) {
                    Some(p) => pos = p,
                    None => break,
                }
            }
            if pos >= data.len() {
                break;
            }
            match read_item(data, pos) {
                Ok(Found::Block(b)) if b.index >= self.next => {
                    self.resume(pos, Some(b.index));
                    match format::decode_records(&b) {
                        Ok(records) => {
                            for r in &records {
                                out.record(r)?;
                            }
                            self.blocks_kept += 1;
                        }
                        // Checksum fine but records malformed: the writer
                        // was wrong, not the disk. Lose just this block.
                        Err(e) => self.losses.push(Loss {
                            start: pos,
                            end: pos + b.total_len(),
                            first: b.index,
                            last: Some(b.index + 1),
                            why: e.to_string(),
                        }),
                    }
                    self.next = b.index + 1;
                    pos += b.total_len();
                }
                // An intact block out of order: a stray copy (e.g. a
                // snapshot stored as a value), not part of this file.
                Ok(Found::Block(b)) => {
                    self.damaged(pos, format!("block number {} out of order", b.index));
                    pos += 1;
                }
                Ok(Found::Footer { blocks, verified }) => {
                    if !verified && self.damage.is_none() && self.losses.is_empty() {
                        // Every block so far was intact and adjacent, so
                        // the damage is in the footer itself.
                        self.damaged(pos, "footer damaged (whole-file checksum mismatch)".into());
                        self.resume(data.len(), Some(self.next));
                        return Ok(());
                    }
                    // Counts from a footer whose checksum failed are only a
                    // hint; believe them when they fit the bytes skipped.
                    let skipped = self.damage.as_ref().map_or(0, |(s, _)| pos - s);
                    let fits = blocks >= self.next
                        && blocks - self.next <= (skipped / BLOCK_HEADER_LEN) as u64;
                    self.resume(pos, (verified || fits).then_some(blocks));
                    return Ok(());
                }
                Err(e) => {
                    self.damaged(pos, e.to_string());
                    pos += 1;
                }
            }
        }
        // No footer: the file was cut short, or its end is unreadable.
        self.damaged(data.len(), "footer missing".into());
        self.resume(data.len(), None);
        Ok(())
    }
}

/// Walks the file, writes OUT, prints the report.
pub fn run(args: Args) -> Outcome {
    let input = Input::open(&args.file)?;
    if same_file(&args.file, &args.output) {
        return Err(Failure::io(format!(
            "{}: OUT must be a different file",
            args.output.display()
        )));
    }
    let data = input.bytes();
    let mut report = String::new();
    let mut walk = Walk {
        data,
        next: 0,
        damage: None,
        losses: Vec::new(),
        blocks_kept: 0,
    };

    let (created_ms, origin, pos) = match format::decode_header(data) {
        Ok(h) => (h.created_ms, h.server_version, h.len),
        Err(e) => {
            if let ErrorKind::NewerVersion(v) = e.kind
                && header_crc_ok(data)
            {
                // An intact header of a newer format: its blocks may mean
                // something this build cannot know, so guessing is wrong.
                return Err(Failure::damaged(format!(
                    "{}: format version {v} is newer than this tool supports; use a newer forkv-snapshot",
                    input.name()
                )));
            }
            let _ = writeln!(report, "header unreadable ({e}); creation time set to now");
            walk.damaged(0, format!("header: {e}"));
            (text::now_ms(), "unknown".to_string(), 0)
        }
    };

    let tmp = temp_path(&args.output);
    let wfail = |e: std::io::Error| Failure::io(format!("{}: {e}", tmp.display()));
    let version = format!(
        "{origin}; salvaged by forkv-snapshot {}",
        env!("CARGO_PKG_VERSION")
    );
    let written = File::create(&tmp).and_then(|file| {
        let mut out = Writer::new(BufWriter::new(file), created_ms, &version)?;
        walk.run(pos, &mut out)?;
        let keys = out.keys();
        let file = out.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(keys)
    });
    let keys = match written {
        Ok(k) => k,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(wfail(e));
        }
    };

    for loss in &walk.losses {
        let _ = writeln!(report, "{}", loss.describe(data.len()));
    }
    if keys == 0 && !walk.losses.is_empty() {
        let _ = std::fs::remove_file(&tmp);
        text::print(&report)?;
        return Err(Failure::damaged(format!(
            "{}: nothing could be recovered; {} not written",
            input.name(),
            args.output.display()
        )));
    }
    if let Err(e) = std::fs::rename(&tmp, &args.output) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::io(format!("{}: {e}", args.output.display())));
    }
    let lost_note = if walk.losses.is_empty() {
        "nothing lost".to_string()
    } else {
        format!(
            "WITH LOSSES: {} damaged region(s), listed above",
            walk.losses.len()
        )
    };
    let _ = writeln!(
        report,
        "recovered {keys} records from {} blocks into {}; {lost_note}",
        walk.blocks_kept,
        args.output.display()
    );
    text::print(&report)
}

/// What [`read_item`] found.
enum Found<'a> {
    Block(format::BlockRef<'a>),
    /// The footer; `verified` when the whole-file checksum matched, which
    /// after any damage it cannot.
    Footer {
        blocks: u64,
        verified: bool,
    },
}

/// `decode_item`, except that a footer which is well-formed but whose
/// whole-file checksum fails still counts as the footer: after damage
/// earlier in the file, that checksum is bound to fail.
fn read_item(data: &[u8], pos: usize) -> Result<Found<'_>, format::FormatError> {
    match format::decode_item(data, pos, None) {
        Ok(Item::Block(b)) => Ok(Found::Block(b)),
        Ok(Item::Footer(f)) => Ok(Found::Footer {
            blocks: f.blocks,
            verified: true,
        }),
        // The checksum field is the file's last 4 bytes: everything
        // before it parsed as a footer and nothing trails it.
        Err(e)
            if matches!(e.kind, ErrorKind::Checksum { .. })
                && e.block.is_none()
                && data.get(pos..pos + 4) == Some(FOOTER_MAGIC)
                && e.offset as usize + 4 == data.len() =>
        {
            let mut n = [0u8; 8];
            n.copy_from_slice(data.get(pos + 4..pos + 12).ok_or(e)?);
            Ok(Found::Footer {
                blocks: u64::from_le_bytes(n),
                verified: false,
            })
        }
        Err(e) => Err(e),
    }
}

/// Whether the header's own checksum matches (used to tell a real newer
/// version from a damaged version field).
fn header_crc_ok(data: &[u8]) -> bool {
    let Some(len) = data.get(12..16) else {
        return false;
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if !data.starts_with(MAGIC) || len < 8 + 4 + 4 + 8 + 1 + 4 || len > data.len() {
        return false;
    }
    let stored = &data[len - 4..len];
    crc32fast::hash(&data[..len - 4]).to_le_bytes() == stored
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A temporary name next to `out`, so the final rename stays on one
/// filesystem and OUT never holds a half-written snapshot.
fn temp_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    out.with_file_name(name)
}
