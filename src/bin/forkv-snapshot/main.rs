//! `forkv-snapshot`: the operator's tool for forkv snapshot files
//! (`docs/snapshot-format.md`).
//!
//! One module per subcommand (`verify`, `info`, `dump`, `restore`,
//! `salvage`), plus three helpers: `input` opens and checks a file, `text`
//! holds the escapers (JSON, base64, printable) and time formatting, `resp`
//! encodes commands and reads replies.
//!
//! Every failure ends in one line on stderr and an exit status from
//! [`Failure`]; nothing here may panic, whatever the input bytes.

mod dump;
mod info;
mod input;
mod resp;
mod restore;
mod salvage;
mod text;
mod verify;

use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::process::ExitCode;

const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  the snapshot is damaged or cannot be read as a snapshot (bad magic,
     newer format version, truncation, checksum); for restore: the server
     reported errors; for salvage: records were lost or may have been (OUT
     holds the rest), or nothing could be recovered (damage that cost no
     record, such as bytes after the footer, exits 0)
  2  usage or I/O error (missing file, unwritable output, connection failure)";

/// Inspect, check, export, restore and salvage forkv snapshot files.
#[derive(Parser)]
#[command(name = "forkv-snapshot", version, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check every block checksum, the footer and the whole-file checksum.
    #[command(after_help = EXIT_STATUS)]
    Verify(verify::Args),
    /// Show what a snapshot holds: version, time, keys per database and type, sizes.
    #[command(after_help = EXIT_STATUS)]
    Info(info::Args),
    /// Stream the contents as JSON lines or as RESP commands.
    #[command(long_about = dump::LONG_ABOUT, after_help = EXIT_STATUS)]
    Dump(dump::Args),
    /// Load a snapshot into a running forkv or Redis server over RESP.
    #[command(long_about = restore::LONG_ABOUT, after_help = EXIT_STATUS)]
    Restore(restore::Args),
    /// Copy every intact block of a damaged snapshot into a new, valid one.
    #[command(long_about = salvage::LONG_ABOUT, after_help = EXIT_STATUS)]
    Salvage(salvage::Args),
}

/// Why a subcommand failed: a one-line message and the exit status.
#[derive(Debug)]
pub struct Failure {
    /// Exit status (see [`EXIT_STATUS`]); 0 means "stop quietly".
    pub code: u8,
    /// One line for stderr; empty prints nothing.
    pub message: String,
}

impl Failure {
    /// The snapshot is damaged, unreadable, or the server refused data.
    pub fn damaged(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    /// A usage or I/O problem.
    pub fn io(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    /// An error writing to stdout. A closed pipe (`| head`) is how a reader
    /// says it has seen enough, so that one ends the run quietly with 0.
    pub fn stdout(e: std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure {
                code: 0,
                message: String::new(),
            }
        } else {
            Failure::io(format!("writing to stdout: {e}"))
        }
    }
}

/// What every subcommand returns.
pub type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(a) => verify::run(a),
        Command::Info(a) => info::run(a),
        Command::Dump(a) => dump::run(a),
        Command::Restore(a) => restore::run(a),
        Command::Salvage(a) => salvage::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                // Not eprintln!: it panics when stderr is a closed pipe.
                let _ = writeln!(std::io::stderr(), "forkv-snapshot: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}
