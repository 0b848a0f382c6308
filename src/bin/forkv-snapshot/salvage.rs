//! `salvage FILE -o OUT`: copy every intact block of a damaged snapshot
//! into a new, valid one, and say exactly what was lost.
//!
//! The walk trusts nothing but block checksums. It starts after the header
//! (or, if the header is unreadable, at the first block magic), reads one
//! item at a time with `decode_item`, and when an item is damaged it
//! resynchronises at the next block magic (or footer magic) and tries
//! again. A lost region is named by the block numbers of the intact blocks
//! around it, which the block headers carry; the records it held come from
//! the damaged blocks' own headers when they can still be read, and the
//! total from the footer when it can be believed.
//!
//! Damage that costs no record is reported as such: junk between intact
//! blocks or after the footer, a damaged header (only the creation time is
//! lost) or footer (every block before it is intact).

use crate::input::Input;
use crate::{Failure, Outcome, text};
use forkv::persist::format::{
    self, BLOCK_HEADER_LEN, BLOCK_MAGIC, ErrorKind, FOOTER_MAGIC, Item, MAGIC, Writer,
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

It reports the records recovered and every damaged region: its byte range,
the block numbers it held and their records (from the blocks' own headers
when readable, in total from the footer when it can be believed), or that
it cost nothing: junk between blocks or after the footer, a damaged header
(the creation time is set to now) or a damaged footer after intact blocks.

Exit status 0 when OUT holds every record FILE held, even if FILE was
damaged (the report lists the damage); 1 when records were lost or may have
been (a file cut short has no footer to say how many blocks followed): OUT
then holds the rest. Also 1, with OUT not written, when nothing could be
recovered.";

/// Arguments of `salvage`.
#[derive(clap::Args)]
pub struct Args {
    /// Damaged snapshot to read.
    file: PathBuf,
    /// Where to write the recovered snapshot (must not be FILE).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
}

/// What a damaged region cost.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lost {
    /// No record: junk between intact blocks or after the footer, a
    /// damaged header or footer.
    Nothing,
    /// Blocks `first..end` (at least one); `records` as their headers say,
    /// when every one of them can still be read.
    Blocks {
        first: u64,
        end: u64,
        records: Option<u64>,
    },
    /// Block `first` and any after it, how many unknown: the file has no
    /// footer to say (`footer` false), or the footer's count does not fit
    /// the bytes skipped. `records` of block `first`, by its header, when
    /// that header is there (and so that block certainly existed).
    Tail {
        first: u64,
        records: Option<u64>,
        footer: bool,
    },
}

/// A stretch of the file that could not be used.
struct Region {
    start: usize,
    end: usize,
    why: String,
    lost: Lost,
}

impl Region {
    fn describe(&self, file_len: usize) -> String {
        let end = if self.end >= file_len {
            "end of file".to_string()
        } else {
            self.end.to_string()
        };
        let bytes = format!("bytes {}..{end}", self.start);
        let why = &self.why;
        match self.lost {
            Lost::Nothing => format!("nothing lost: {bytes}: {why}"),
            Lost::Blocks {
                first,
                end,
                records,
            } => {
                let one = end == first + 1;
                let which = if one {
                    format!("block {first}")
                } else {
                    format!("blocks {first}..={}", end - 1)
                };
                let records = match records {
                    Some(n) if one => format!("{n} records by its header"),
                    Some(n) => format!("{n} records by their headers"),
                    None => "records unknown".to_string(),
                };
                format!("lost {which} ({records}): {bytes}: {why}")
            }
            Lost::Tail {
                first,
                records,
                footer,
            } => {
                let unknown = if footer {
                    "the footer's block count does not fit, so how many is unknown"
                } else {
                    "no footer, so how many is unknown"
                };
                match records {
                    Some(n) => format!(
                        "lost block {first} ({n} records by its header) and any blocks after it ({unknown}): {bytes}: {why}"
                    ),
                    None if self.start < self.end => {
                        format!("lost blocks from {first} on ({unknown}): {bytes}: {why}")
                    }
                    None => format!(
                        "possibly lost: blocks from {first} on, if there were any: the file ends at byte {file_len} without a footer, so whether any followed is unknown"
                    ),
                }
            }
        }
    }
}

/// Where the walk stands.
struct Walk<'a> {
    data: &'a [u8],
    /// Next block number expected.
    next: u64,
    /// Start and cause of the damaged region being skipped, if any.
    damage: Option<(usize, String)>,
    regions: Vec<Region>,
    blocks_kept: u64,
    /// The footer's block and record counts, when it is sound or its
    /// counts fit what the walk found.
    footer: Option<(u64, u64)>,
}

impl Walk<'_> {
    /// Notes damage starting at `at`, unless already inside damage.
    fn damaged(&mut self, at: usize, why: String) {
        self.damage.get_or_insert((at, why));
    }

    /// Ends the damaged region at `at`, where block number `resume` (or,
    /// with `None`, nothing known) follows.
    fn resume(&mut self, at: usize, resume: Option<u64>) {
        self.resume_with(at, resume, false);
    }

    /// [`Walk::resume`]; `footer` says the region ends at a footer whose
    /// count could not be believed.
    fn resume_with(&mut self, at: usize, resume: Option<u64>, footer: bool) {
        if let Some((start, why)) = self.damage.take() {
            let first = self.next;
            let lost = match resume {
                Some(r) if r > first => Lost::Blocks {
                    first,
                    end: r,
                    records: claimed_records(self.data, start, at, first, r),
                },
                Some(_) => Lost::Nothing,
                None => Lost::Tail {
                    first,
                    records: block_header(self.data, start)
                        .filter(|&(index, _, _)| index == first)
                        .map(|(_, _, count)| count),
                    footer,
                },
            };
            self.regions.push(Region {
                start,
                end: at,
                why,
                lost,
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
    /// into `out` and noting every damaged region.
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
                        Err(e) => self.regions.push(Region {
                            start: pos,
                            end: pos + b.total_len(),
                            why: e.to_string(),
                            lost: Lost::Blocks {
                                first: b.index,
                                end: b.index + 1,
                                records: Some(b.count as u64),
                            },
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
                // Right after an intact block (or the header), where the
                // writer puts it: the footer, sound or not.
                Ok(Found::Footer(f)) if self.damage.is_none() => {
                    self.footer_at(pos, &f);
                    return Ok(());
                }
                // Found by resynchronising: the footer if sound, or if no
                // block follows it (else a stray copy inside damage).
                Ok(Found::Footer(f))
                    if f.verified()
                        || f.end == data.len()
                        || format::find_next_block(data, f.end).is_none() =>
                {
                    self.footer_at(pos, &f);
                    return Ok(());
                }
                Ok(Found::Footer(_)) => {
                    self.damaged(pos, "footer magic inside damaged bytes".into());
                    pos += 1;
                }
                // A footer that cannot be read right after an intact block
                // (cut short, say): the writer had written every block.
                Err(e) if self.damage.is_none() && data[pos..].starts_with(FOOTER_MAGIC) => {
                    self.damaged(pos, format!("footer: {e}; every block before it is intact"));
                    self.resume(data.len(), Some(self.next));
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

    /// The walk reached the footer `f` at `pos`.
    fn footer_at(&mut self, pos: usize, f: &format::ParsedFooter) {
        let data = self.data;
        let (blocks, keys) = (f.footer.blocks, f.footer.keys);
        if self.damage.is_none() {
            // Right after an intact block: every block was written.
            if f.verified() || (blocks == self.next && !self.regions.is_empty()) {
                // Sound, or failing its checksum only because of damage
                // before it while its count agrees.
                self.footer = Some((blocks, keys));
            } else {
                let mut why = if self.regions.is_empty() {
                    format!(
                        "footer damaged (whole-file checksum stored {:08x}, computed {:08x})",
                        f.footer.file_crc, f.computed_crc
                    )
                } else {
                    "footer damaged".to_string()
                };
                if blocks != self.next {
                    let _ = write!(
                        why,
                        "; its block count {blocks} disagrees with the {} blocks before it",
                        self.next
                    );
                }
                why.push_str("; every block before it is intact");
                self.damaged(pos, why);
                self.resume(data.len(), Some(self.next));
                return;
            }
        } else {
            // Counts from a footer whose checksum failed are only a hint;
            // believe them when they fit the bytes skipped.
            let skipped = self.damage.as_ref().map_or(0, |(s, _)| pos - s);
            let fits = f.verified()
                || (blocks >= self.next
                    && blocks - self.next <= (skipped / BLOCK_HEADER_LEN) as u64);
            if fits {
                self.footer = Some((blocks, keys));
            }
            self.resume_with(pos, fits.then_some(blocks), true);
        }
        if f.end < data.len() {
            self.regions.push(Region {
                start: f.end,
                end: data.len(),
                why: format!(
                    "{} bytes after the footer, not part of the snapshot (ignored)",
                    data.len() - f.end
                ),
                lost: Lost::Nothing,
            });
        }
    }
}

/// The block header at `at`, as far as it can be read without its
/// checksum: (index, payload length, record count).
fn block_header(data: &[u8], at: usize) -> Option<(u64, usize, u64)> {
    let h = data.get(at..at.checked_add(BLOCK_HEADER_LEN)?)?;
    if &h[..4] != BLOCK_MAGIC {
        return None;
    }
    let index = u64::from_le_bytes(h[4..12].try_into().ok()?);
    let len = u32::from_le_bytes(h[12..16].try_into().ok()?) as usize;
    let count = u32::from_le_bytes(h[16..20].try_into().ok()?) as u64;
    Some((index, len, count))
}

/// The records blocks `first..last` held, by their own (unchecked)
/// headers, when those headers still chain exactly through the damaged
/// bytes `start..end`: each at the offset the previous one's length gives,
/// with the expected number.
fn claimed_records(data: &[u8], start: usize, end: usize, first: u64, last: u64) -> Option<u64> {
    let mut at = start;
    let mut total = 0u64;
    for index in first..last {
        let (i, len, count) = block_header(data, at)?;
        if i != index {
            return None;
        }
        at = at.checked_add(BLOCK_HEADER_LEN)?.checked_add(len)?;
        total += count;
    }
    (at == end).then_some(total)
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
        regions: Vec::new(),
        blocks_kept: 0,
        footer: None,
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

    for region in &walk.regions {
        let _ = writeln!(report, "{}", region.describe(data.len()));
    }
    let lost = walk
        .regions
        .iter()
        .any(|r| !matches!(r.lost, Lost::Nothing));
    // Only a file cut exactly after a block: more blocks may have followed.
    let only_maybe = walk.regions.iter().all(|r| {
        matches!(r.lost, Lost::Nothing)
            || (matches!(r.lost, Lost::Tail { records: None, .. }) && r.start == r.end)
    });
    if keys == 0 && lost {
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
    let out = args.output.display();
    let kept = walk.blocks_kept;
    let summary = match walk.footer {
        _ if !lost => {
            format!("recovered {keys} records from {kept} blocks into {out}; nothing lost")
        }
        Some((blocks, total)) if total >= keys && blocks >= kept => format!(
            "recovered {keys} of {total} records from {kept} of {blocks} blocks into {out}; LOST {} records (by the footer's count), listed above",
            total - keys
        ),
        _ if only_maybe => format!(
            "recovered {keys} records from {kept} blocks into {out}; records MAY HAVE BEEN LOST, listed above"
        ),
        _ => format!(
            "recovered {keys} records from {kept} blocks into {out}; LOST records, listed above (how many is unknown without a footer to believe)"
        ),
    };
    let _ = writeln!(report, "{summary}");
    text::print(&report)?;
    if lost {
        let what = if only_maybe {
            "records may have been lost"
        } else {
            "records were lost"
        };
        return Err(Failure::damaged(format!(
            "{}: {what} (see the report); {out} holds the rest",
            input.name()
        )));
    }
    Ok(())
}

/// What [`read_item`] found.
enum Found<'a> {
    Block(format::BlockRef<'a>),
    /// A footer that parses; whether its whole-file checksum matches, and
    /// whether anything follows it, is for the caller to judge.
    Footer(format::ParsedFooter),
}

/// The block (checksum verified) or the footer (parsed, not judged) at
/// `pos`.
fn read_item(data: &[u8], pos: usize) -> Result<Found<'_>, format::FormatError> {
    if data[pos..].starts_with(FOOTER_MAGIC) {
        return format::parse_footer(data, pos).map(Found::Footer);
    }
    match format::decode_item(data, pos, None)? {
        Item::Block(b) => Ok(Found::Block(b)),
        Item::Footer(_) => format::parse_footer(data, pos).map(Found::Footer),
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
