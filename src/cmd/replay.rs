//! `DEBUG EFFECTS`: records the write-effect stream to a file
//! (`LOG path` / `LOG OFF`) and replays such a file through the loader
//! path (`REPLAY path`), the way the append-only file will be loaded: each
//! command runs through [`super::execute_as`] with [`super::Origin::Loader`]
//! on a client of its own, inside the DEBUG command.

use super::{Ctx, Origin, Outcome, is};
use crate::error::{CmdError, CmdResult};
use crate::protocol::{Decoded, Limits, Reply, decode};
use crate::server::client::Client;
use bytes::{Bytes, BytesMut};
use std::fs::File;
use std::io::Read;

/// DEBUG EFFECTS LOG path|OFF, DEBUG EFFECTS REPLAY path
pub fn debug_effects(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() != 4 {
        return Err(CmdError::syntax());
    }
    let path = String::from_utf8_lossy(&args[3]).into_owned();
    if is(&args[2], "log") {
        let target = (!is(&args[3], "off")).then_some(path.as_str());
        ctx.srv
            .effects
            .set_log(target)
            .map_err(|e| CmdError::msg(format!("ERR cannot open {path}: {e}")))?;
        Ok(Reply::Ok)
    } else if is(&args[2], "replay") {
        if ctx.srv.replaying {
            return Err(CmdError::msg(
                "ERR DEBUG EFFECTS REPLAY cannot run inside a replay",
            ));
        }
        let file = open_regular(&path)
            .map_err(|e| CmdError::msg(format!("ERR cannot read {path}: {e}")))?;
        ctx.srv.replaying = true;
        let r = replay(ctx, file);
        ctx.srv.replaying = false;
        r
    } else {
        Err(CmdError::syntax())
    }
}

/// Opens `path` for reading if it is a regular file: a FIFO would block the
/// server and a device may never end.
fn open_regular(path: &str) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Runs every command of `file` (RESP requests) as a loader; answers how
/// many ran, or the first error with the command's number. The file is
/// read in pieces, so memory holds one command at a time, whatever its
/// size.
fn replay(ctx: &mut Ctx, mut file: File) -> CmdResult {
    let mut buf = BytesMut::new();
    let mut loader = Client::new(u64::MAX, "loader".into(), String::new(), -1, true, ctx.now);
    loader.deny_blocking = true;
    let limits = Limits {
        max_bulk_len: ctx.srv.config.proto_max_bulk_len.min(i64::MAX as u64) as i64,
        unauthenticated: false,
    };
    let mut n = 0i64;
    let mut eof = false;
    loop {
        let args = match decode(&mut buf, limits) {
            Ok(Decoded::Request(args)) => args,
            Ok(Decoded::Incomplete(_)) if eof && buf.is_empty() => break,
            Ok(Decoded::Incomplete(_)) if eof => {
                return Err(CmdError::msg(format!(
                    "ERR truncated command after command {n}"
                )));
            }
            Ok(Decoded::Incomplete(_)) => {
                let mut chunk = [0u8; 64 * 1024];
                let got = file
                    .read(&mut chunk)
                    .map_err(|e| CmdError::msg(format!("ERR reading the replay: {e}")))?;
                eof = got == 0;
                buf.extend_from_slice(&chunk[..got]);
                continue;
            }
            Err(e) => {
                return Err(CmdError::msg(format!(
                    "ERR bad command {}: {}",
                    n + 1,
                    e.text()
                )));
            }
        };
        n += 1;
        let out = super::execute_as(ctx.srv, &mut loader, &args, ctx.now, Origin::Loader);
        if let Outcome::Reply(Reply::Error(e)) = out {
            return Err(CmdError::msg(format!("ERR command {n} failed: {e}")));
        }
    }
    Ok(Reply::Int(n))
}
