//! `verify FILE`: is this snapshot intact?
//!
//! Runs the library's full check (header, every block's checksum and
//! number, footer, whole-file checksum, counts) and then decodes every
//! record too, so a file that passes here is one the server can load.

use crate::input::Input;
use crate::{Outcome, text};
use forkv::persist::format;
use std::path::PathBuf;

/// Arguments of `verify`.
#[derive(clap::Args)]
pub struct Args {
    /// Snapshot file to check.
    file: PathBuf,
}

/// Prints a one-line summary if the file is intact; otherwise fails with
/// the first problem's byte offset and block number (exit status 1).
pub fn run(args: Args) -> Outcome {
    let input = Input::open(&args.file)?;
    let checked = input.check()?;
    // Checksums prove the bytes are what the writer wrote; decoding proves
    // the writer wrote records a reader understands.
    for block in &checked.blocks {
        format::decode_records(block).map_err(|e| input.damaged(&e))?;
    }
    let f = &checked.footer;
    text::print(&format!(
        "{}: OK: {} keys in {} database(s), {} blocks, {} bytes (format version {}, written by {})\n",
        input.name(),
        f.keys,
        f.dbs.len(),
        f.blocks,
        input.bytes().len(),
        checked.header.version,
        checked.header.server_version,
    ))
}
