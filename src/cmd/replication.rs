//! Replication commands as a server without replicas answers them: WAIT.

use super::{Ctx, ms_timeout_arg};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use bytes::Bytes;

/// WAIT numreplicas timeout: no replica ever acknowledges, so asking for
/// none answers 0 at once, and asking for some blocks until the timeout
/// (0 = forever) and then answers 0. Inside EXEC it answers at once.
pub fn wait(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let wanted = crate::util::num::parse_i64(&args[1]).ok_or_else(CmdError::not_integer)?;
    let deadline = ms_timeout_arg(&args[2], ctx.now)?;
    if wanted <= 0 {
        return Ok(Reply::Int(0));
    }
    let timeout = match deadline {
        0 => None,
        d => Some(std::time::Duration::from_millis((d - ctx.now).max(0) as u64)),
    };
    ctx.block(Vec::new(), timeout, Reply::Int(0))
}
