//! Opening a snapshot file and checking it before anything trusts it.
//!
//! Regular files are memory-mapped, so even a huge snapshot costs no more
//! memory than the pages being looked at; anything else (a pipe such as
//! `/dev/stdin`) is read into memory, since it cannot be mapped.

use crate::Failure;
use forkv::persist::format::{self, Checked, ErrorKind, FormatError};
use memmap2::Mmap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The bytes of one snapshot file, plus its name for messages.
pub struct Input {
    name: String,
    data: Data,
}

enum Data {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Input {
    /// Opens `path`; a missing or unreadable file is an I/O failure.
    pub fn open(path: &Path) -> Result<Input, Failure> {
        let name = path.display().to_string();
        let fail = |e: std::io::Error| Failure::io(format!("{name}: {e}"));
        let file = File::open(path).map_err(fail)?;
        let meta = file.metadata().map_err(fail)?;
        if meta.is_dir() {
            return Err(Failure::io(format!("{name}: is a directory")));
        }
        let data = if meta.is_file() && meta.len() > 0 {
            // SAFETY: the map is read-only and forkv replaces snapshots by
            // rename, never by rewriting in place, so the mapped inode does
            // not change under us. (Someone truncating the file by hand
            // while we read it could still end the process with SIGBUS;
            // that is the price of not reading gigabytes into memory.)
            Data::Mapped(unsafe { Mmap::map(&file) }.map_err(fail)?)
        } else {
            let mut v = Vec::new();
            (&file).read_to_end(&mut v).map_err(fail)?;
            Data::Owned(v)
        };
        Ok(Input { name, data })
    }

    /// The file name as given, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Mapped(m) => m,
            Data::Owned(v) => v,
        }
    }

    /// Runs the full format check (header, every block checksum, footer,
    /// whole-file checksum, counts); a failure carries the verify message.
    pub fn check(&self) -> Result<Checked<'_>, Failure> {
        format::check(self.bytes()).map_err(|e| self.damaged(&e))
    }

    /// The failure for a format error in this file: one line naming the
    /// offset and block, pointing at `salvage` when that can help.
    pub fn damaged(&self, e: &FormatError) -> Failure {
        let name = &self.name;
        if self.bytes().is_empty() {
            return Failure::damaged(format!("{name}: empty file, not a forkv snapshot"));
        }
        match e.kind {
            // Salvage cannot help with a file that is not a snapshot, or
            // one in a format this build does not understand.
            ErrorKind::BadMagic | ErrorKind::NewerVersion(_) => {
                Failure::damaged(format!("{name}: {e}"))
            }
            _ => Failure::damaged(format!(
                "{name}: damaged: {e}; `forkv-snapshot salvage {name} -o OUT` recovers the intact blocks"
            )),
        }
    }
}
