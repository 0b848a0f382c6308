//! Stream commands (Redis's t_stream): XADD, XRANGE, XREVRANGE, XLEN,
//! XDEL, XTRIM, XSETID, XREAD (with BLOCK).
//!
//! Replies, error texts and their precedence follow Redis 7.0.15. IDs are
//! parsed as Redis parses them (`string2ull`, so `strtoull`'s leading
//! blanks, `+` and leading zeros are accepted), and the node layout of
//! [`crate::db::stream`] makes approximate trimming remove what Redis
//! removes.

use super::collection;
use super::spec::redis as r;
use super::{Ctx, Row, arg_i64, is};
use crate::config::notify;
use crate::db::Value;
use crate::db::stream::{AddError, Entry, NodeLimits, Stream, StreamId, Trim, TrimBy};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use bytes::Bytes;

/// This family's rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    Row::new(&r::XADD, xadd),
    Row::new(&r::XRANGE, xrange),
    Row::new(&r::XREVRANGE, xrevrange),
    Row::new(&r::XLEN, xlen),
    Row::new(&r::XDEL, xdel),
    Row::new(&r::XTRIM, xtrim),
    Row::new(&r::XSETID, xsetid),
    Row::new(&r::XREAD, xread),
];

// ---------------------------------------------------------------------------
// Error texts
// ---------------------------------------------------------------------------

const ERR_INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const ERR_MAXLEN_MINID: &str =
    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";

// ---------------------------------------------------------------------------
// IDs
// ---------------------------------------------------------------------------

/// Redis's `string2ull`: `string2ll` for canonical numbers, else C's
/// `strtoull` over the whole text (blanks, sign, leading zeros).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::util::num::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < s.len() && s[i].is_ascii_digit() {
        match v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(s[i] - b'0')))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start || overflow || i != s.len() {
        return None;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// How an ID argument may be written.
#[derive(Clone, Copy)]
struct IdForm {
    /// Sequence when only `<ms>` is given.
    missing_seq: u64,
    /// `-` and `+` refused.
    strict: bool,
    /// `<ms>-*` accepted (XADD).
    seq_star: bool,
}

const STRICT: IdForm = IdForm {
    missing_seq: 0,
    strict: true,
    seq_star: false,
};

/// Redis's `streamGenericParseIDOrReply`: the ID and whether its sequence
/// was given (false for `<ms>-*`).
fn parse_id(arg: &[u8], form: IdForm) -> Result<(StreamId, bool), CmdError> {
    let invalid = || CmdError::msg(ERR_INVALID_ID);
    if arg.len() > 127 {
        return Err(invalid());
    }
    // Redis copies the argument into a C string: a NUL byte ends it.
    let s = match arg.iter().position(|&b| b == 0) {
        Some(n) => &arg[..n],
        None => arg,
    };
    if form.strict && (s == b"-" || s == b"+") {
        return Err(invalid());
    }
    if s == b"-" {
        return Ok((StreamId::MIN, true));
    }
    if s == b"+" {
        return Ok((StreamId::MAX, true));
    }
    let (ms, seq) = match s.iter().position(|&b| b == b'-') {
        Some(d) => (&s[..d], Some(&s[d + 1..])),
        None => (s, None),
    };
    let ms = string2ull(ms).ok_or_else(invalid)?;
    match seq {
        Some(b"*") if form.seq_star => Ok((StreamId::new(ms, 0), false)),
        Some(seq) => Ok((
            StreamId::new(ms, string2ull(seq).ok_or_else(invalid)?),
            true,
        )),
        None => Ok((StreamId::new(ms, form.missing_seq), true)),
    }
}

/// A strict ID (no `-`/`+`, missing sequence 0).
fn strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id(arg, STRICT).map(|(id, _)| id)
}

/// Redis's `streamParseIntervalIDOrReply`: an ID, or `(ID` (exclusive).
fn interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        let form = IdForm {
            missing_seq,
            strict: true,
            seq_star: false,
        };
        return Ok((parse_id(&arg[1..], form)?.0, true));
    }
    let form = IdForm {
        missing_seq,
        strict: false,
        seq_star: false,
    };
    Ok((parse_id(arg, form)?.0, false))
}

fn id_bulk(id: StreamId) -> Reply {
    Reply::Bulk(Bytes::from(id.to_string()))
}

/// One entry as XRANGE replies it: `[id, [field, value, ...]]`.
fn entry_reply(e: &Entry) -> Reply {
    let items = e.items().map(Reply::bulk).collect();
    Reply::Array(vec![id_bulk(e.id), Reply::Array(items)])
}

fn node_limits(ctx: &Ctx) -> NodeLimits {
    NodeLimits {
        max_bytes: ctx.srv.config.stream_node_max_bytes,
        max_entries: ctx.srv.config.stream_node_max_entries,
    }
}

// ---------------------------------------------------------------------------
// XADD / XTRIM arguments
// ---------------------------------------------------------------------------

/// Parsed XADD/XTRIM options (Redis's `streamAddTrimArgs`).
struct AddTrimArgs {
    /// Position of the ID (XADD); `args.len()` when none was found.
    idpos: usize,
    /// The ID and whether its sequence was given; None for `*`.
    id: Option<(StreamId, bool)>,
    no_mkstream: bool,
    trim: Option<Trim>,
    /// Position of the MAXLEN/MINID value.
    trim_arg: usize,
    /// Position of `LIMIT`, if given.
    limit_pos: Option<usize>,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(ctx: &Ctx, args: &[Bytes], xadd: bool) -> Result<AddTrimArgs, CmdError> {
    let mut out = AddTrimArgs {
        idpos: args.len(),
        id: None,
        no_mkstream: false,
        trim: None,
        trim_arg: 0,
        limit_pos: None,
    };
    let mut by: Option<TrimBy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i][..];
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if by.is_some() {
                return Err(CmdError::msg(ERR_MAXLEN_MINID));
            }
            approx = false;
            let next = &args[i + 1][..];
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if is(opt, "maxlen") {
                let n = arg_i64(&args[i + 1])?;
                if n < 0 {
                    return Err(CmdError::msg("ERR The MAXLEN argument must be >= 0."));
                }
                by = Some(TrimBy::MaxLen(n as u64));
            } else {
                by = Some(TrimBy::MinId(strict_id(&args[i + 1])?));
            }
            i += 1;
            out.trim_arg = i;
        } else if is(opt, "limit") && more > 0 {
            limit = arg_i64(&args[i + 1])?;
            if limit < 0 {
                return Err(CmdError::msg("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            out.limit_pos = Some(i);
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            out.no_mkstream = true;
        } else if xadd {
            let form = IdForm {
                missing_seq: 0,
                strict: true,
                seq_star: true,
            };
            out.id = Some(parse_id(opt, form)?);
            break;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    out.idpos = i;
    if limit != 0 && by.is_none() {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && by.is_none() {
        return Err(CmdError::msg(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !approx {
            return Err(CmdError::msg(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if approx {
        let per_node = ctx.srv.config.stream_node_max_entries;
        limit = match per_node.checked_mul(100) {
            Some(0) => 10000,
            Some(n) if n <= 1_000_000 => n as i64,
            _ => 1_000_000,
        };
    } else {
        limit = 0;
    }
    out.trim = by.map(|by| Trim {
        by,
        approx,
        limit: limit as u64,
    });
    Ok(out)
}

/// The argument vector to propagate after an approximate trim: `~`
/// becomes `=` and the value the exact result (Redis's
/// `streamRewriteTrimArgument`). LIMIT is left out: the rewritten trim is
/// exact, and an exact trim with LIMIT would be refused when replayed.
fn rewrite_trim(args: &[Bytes], a: &AddTrimArgs, s: &Stream, t: &Trim) -> Vec<Bytes> {
    let value = match t.by {
        TrimBy::MaxLen(_) => s.len().to_string(),
        TrimBy::MinId(_) => s.first_id_with_tombstones().to_string(),
    };
    let mut v = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        if a.limit_pos.is_some_and(|p| i == p || i == p + 1) {
            continue;
        }
        if i + 1 == a.trim_arg {
            v.push(Bytes::from_static(b"="));
        } else if i == a.trim_arg {
            v.push(Bytes::from(value.clone()));
        } else {
            v.push(arg.clone());
        }
    }
    v
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]
pub fn xadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let a = parse_add_trim(ctx, args, true)?;
    let field_pos = a.idpos + 1;
    let nfields = args.len() as i64 - field_pos as i64;
    if nfields < 2 || nfields % 2 == 1 {
        return Err(CmdError::arity("xadd"));
    }
    if let Some((id, true)) = a.id
        && id.is_zero()
    {
        return Err(CmdError::msg(
            "ERR The ID specified in XADD must be greater than 0-0",
        ));
    }
    let key = &args[1];
    let limits = node_limits(ctx);
    let now = ctx.now.max(0) as u64;
    if collection::write::<Stream>(ctx, key)?.is_none() {
        if a.no_mkstream {
            return Ok(Reply::Nil);
        }
        collection::create(ctx, key, Value::Stream(Box::default()));
    }
    let Some(s) = collection::write::<Stream>(ctx, key)? else {
        return Ok(Reply::Nil);
    };
    if s.last_id == StreamId::MAX {
        return Err(CmdError::msg(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = match s.append(&args[field_pos..], a.id, now, limits) {
        Ok(id) => id,
        Err(AddError::NotGreater) => {
            return Err(CmdError::msg(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            ));
        }
        Err(AddError::TooLarge) => {
            return Err(CmdError::msg("ERR Elements are too large to be stored"));
        }
    };
    let mut trimmed = 0;
    let mut rewritten = None;
    if let Some(t) = &a.trim {
        trimmed = s.trim(t);
        if t.approx {
            rewritten = Some(rewrite_trim(args, &a, s, t));
        }
    }
    ctx.srv.ks.stats.dirty += 1;
    ctx.notify(notify::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    let id_rewrite = !matches!(a.id, Some((_, true)));
    if ctx.propagating() && (id_rewrite || rewritten.is_some()) {
        let mut argv = rewritten.unwrap_or_else(|| args.to_vec());
        if id_rewrite {
            // LIMIT left out before the ID moves it back by two.
            let shift = if a.trim.is_some_and(|t| t.approx) && a.limit_pos.is_some() {
                2
            } else {
                0
            };
            argv[a.idpos - shift] = Bytes::from(id.to_string());
        }
        ctx.propagate(argv);
    }
    Ok(id_bulk(id))
}

/// XRANGE key start end [COUNT count]
pub fn xrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, false)
}

/// XREVRANGE key end start [COUNT count]
pub fn xrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, true)
}

/// Redis's `xrangeGenericCommand`.
fn range_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let (mut start, startex) = interval_id(start_arg, 0)?;
    if startex {
        start = start
            .incr()
            .ok_or_else(|| CmdError::msg("ERR invalid start ID for the interval"))?;
    }
    let (mut end, endex) = interval_id(end_arg, u64::MAX)?;
    if endex {
        end = end
            .decr()
            .ok_or_else(|| CmdError::msg("ERR invalid end ID for the interval"))?;
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() {
            count = arg_i64(&args[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let Some(s) = collection::read::<Stream>(ctx, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::NilArray);
    }
    let it = s.range(start, end, rev).map(entry_reply);
    Ok(Reply::Array(if count > 0 {
        it.take(count as usize).collect()
    } else {
        it.collect()
    }))
}

/// XLEN key
pub fn xlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let n = collection::read::<Stream>(ctx, &args[1])?.map_or(0, |s| s.len());
    Ok(Reply::Int(n as i64))
}

/// XDEL key id [id ...]
pub fn xdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if collection::write::<Stream>(ctx, &args[1])?.is_none() {
        return Ok(Reply::Int(0));
    }
    let ids = args[2..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = collection::write::<Stream>(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let deleted = s.delete_ids(&ids);
    if deleted > 0 {
        ctx.srv.ks.stats.dirty += deleted;
        ctx.notify(notify::STREAM, "xdel", &args[1]);
    }
    Ok(Reply::Int(deleted as i64))
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let a = parse_add_trim(ctx, args, false)?;
    let Some(t) = a.trim else {
        return Err(CmdError::syntax());
    };
    let propagating = ctx.propagating();
    let Some(s) = collection::write::<Stream>(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let deleted = s.trim(&t);
    if deleted > 0 {
        let rewritten = (t.approx && propagating).then(|| rewrite_trim(args, &a, s, &t));
        ctx.notify(notify::STREAM, "xtrim", &args[1]);
        if let Some(argv) = rewritten {
            ctx.propagate(argv);
        }
        ctx.srv.ks.stats.dirty += deleted;
    }
    Ok(Reply::Int(deleted as i64))
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let id = strict_id(&args[2])?;
    let mut entries_added: Option<u64> = None;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is(&args[i], "entriesadded") && more > 0 {
            let n = arg_i64(&args[i + 1])?;
            if n < 0 {
                return Err(CmdError::msg("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
            i += 2;
        } else if is(&args[i], "maxdeletedid") && more > 0 {
            max_xdel = strict_id(&args[i + 1])?;
            if id < max_xdel {
                return Err(CmdError::msg(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let Some(s) = collection::write::<Stream>(ctx, &args[1])? else {
        return Err(CmdError::no_such_key());
    };
    if !s.is_empty() {
        let top = s.edge(false).unwrap_or(StreamId::MIN);
        if id < top {
            return Err(CmdError::msg(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| s.len() > n) {
            return Err(CmdError::msg(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_entry_id = max_xdel;
    }
    ctx.srv.ks.stats.dirty += 1;
    ctx.notify(notify::STREAM, "xsetid", &args[1]);
    Ok(Reply::Ok)
}

/// What XREAD serves a blocked client when no COUNT was given (Redis's
/// `XREAD_BLOCKED_DEFAULT_COUNT`).
const XREAD_BLOCKED_DEFAULT_COUNT: usize = 1000;

/// Parsed XREAD arguments.
struct ReadArgs {
    /// Block for this many ms (0: forever); None without BLOCK.
    block_ms: Option<i64>,
    /// COUNT (0: all).
    count: usize,
    /// Position of the first key.
    streams_arg: usize,
    /// Number of keys.
    nkeys: usize,
}

/// Redis's `xreadCommand` option parsing (XREAD form).
fn parse_xread(args: &[Bytes]) -> Result<ReadArgs, CmdError> {
    let mut out = ReadArgs {
        block_ms: None,
        count: 0,
        streams_arg: 0,
        nkeys: 0,
    };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = &args[i][..];
        if is(o, "block") && more > 0 {
            i += 1;
            let t = crate::util::num::parse_i64(&args[i])
                .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
            if t < 0 {
                return Err(CmdError::msg("ERR timeout is negative"));
            }
            out.block_ms = Some(t);
        } else if is(o, "count") && more > 0 {
            i += 1;
            out.count = arg_i64(&args[i])?.max(0) as usize;
        } else if is(o, "streams") && more > 0 {
            out.streams_arg = i + 1;
            let n = args.len() - out.streams_arg;
            if !n.is_multiple_of(2) {
                return Err(CmdError::msg(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            out.nkeys = n / 2;
            break;
        } else if is(o, "group") && more >= 2 {
            return Err(CmdError::msg(
                "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
            ));
        } else if is(o, "noack") {
            return Err(CmdError::msg(
                "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
            ));
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    if out.streams_arg == 0 {
        return Err(CmdError::syntax());
    }
    Ok(out)
}

/// The reply of XREAD for the streams served: an array of `[key,
/// entries]` pairs, a map in RESP3.
fn xread_reply(resp: u8, served: Vec<(Bytes, Vec<Reply>)>) -> Reply {
    if resp >= 3 {
        Reply::Map(
            served
                .into_iter()
                .map(|(k, e)| (Reply::Bulk(k), Reply::Array(e)))
                .collect(),
        )
    } else {
        Reply::Array(
            served
                .into_iter()
                .map(|(k, e)| Reply::Array(vec![Reply::Bulk(k), Reply::Array(e)]))
                .collect(),
        )
    }
}

/// Entries of `s` after `gt`, at most `count` (0: all).
fn entries_after(s: &Stream, gt: StreamId, count: usize) -> Vec<Reply> {
    let Some(start) = gt.incr() else {
        return Vec::new();
    };
    let it = s.range(start, StreamId::MAX, false).map(entry_reply);
    if count > 0 {
        it.take(count).collect()
    } else {
        it.collect()
    }
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
pub fn xread(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let a = parse_xread(args)?;
    let keys = &args[a.streams_arg..a.streams_arg + a.nkeys];
    let id_args = &args[a.streams_arg + a.nkeys..];
    let mut ids = Vec::with_capacity(a.nkeys);
    let rerun = ctx.client.blocked.is_some();
    for (key, arg) in keys.iter().zip(id_args) {
        let last = match collection::read::<Stream>(ctx, key) {
            Ok(s) => s.map_or(StreamId::MIN, |s| s.last_id),
            // A blocked client whose key changed type waits on (Redis
            // 7.0 serves only keys holding a stream).
            Err(_) if rerun => StreamId::MAX,
            Err(e) => return Err(e),
        };
        if &arg[..] == b"$" {
            ids.push(last);
        } else if &arg[..] == b">" {
            return Err(CmdError::msg(
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            ));
        } else {
            ids.push(strict_id(arg)?);
        }
    }
    let resp = ctx.client.resp;
    if rerun {
        // Served as Redis serves a ready key: the first stream with an
        // entry past the client's ID, alone in the reply.
        for (key, &gt) in keys.iter().zip(&ids) {
            let Ok(Some(s)) = collection::read::<Stream>(ctx, key) else {
                continue;
            };
            if s.edge(false).is_some_and(|top| top > gt) {
                let count = if a.count > 0 {
                    a.count
                } else {
                    XREAD_BLOCKED_DEFAULT_COUNT
                };
                let entries = entries_after(s, gt, count);
                return Ok(xread_reply(resp, vec![(key.clone(), entries)]));
            }
        }
    } else {
        let mut served = Vec::new();
        for (key, &gt) in keys.iter().zip(&ids) {
            let Some(s) = collection::read::<Stream>(ctx, key)? else {
                continue;
            };
            if s.edge(false).is_some_and(|top| top > gt) {
                served.push((key.clone(), entries_after(s, gt, a.count)));
            }
        }
        if !served.is_empty() {
            return Ok(xread_reply(resp, served));
        }
    }
    let Some(ms) = a.block_ms else {
        return Ok(Reply::NilArray);
    };
    // Past ~30 years a deadline never fires: wait forever (and keep the
    // timer arithmetic from overflowing).
    let timeout =
        (ms > 0 && ms < 30 * 365 * 86_400_000).then(|| std::time::Duration::from_millis(ms as u64));
    // `$` stands for the last ID at the moment the client blocks.
    let mut again = args.to_vec();
    for (j, id) in ids.iter().enumerate() {
        again[a.streams_arg + a.nkeys + j] = Bytes::from(id.to_string());
    }
    ctx.block_rerun(keys.to_vec(), timeout, Reply::NilArray, again)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis() {
        let f = IdForm {
            missing_seq: 7,
            strict: false,
            seq_star: false,
        };
        assert_eq!(parse_id(b"5", f).unwrap().0, StreamId::new(5, 7));
        assert_eq!(parse_id(b"5-3", f).unwrap().0, StreamId::new(5, 3));
        assert_eq!(parse_id(b"+5-3", f).unwrap().0, StreamId::new(5, 3));
        assert_eq!(parse_id(b"005", f).unwrap().0, StreamId::new(5, 7));
        assert!(parse_id(b"-5", f).is_err());
        assert!(parse_id(b"5-", f).is_err());
        assert!(parse_id(b"5-x", f).is_err());
        assert!(parse_id(b"18446744073709551616", f).is_err());
        assert!(parse_id(b"5-*", f).is_err());
        assert_eq!(parse_id(b"-", f).unwrap().0, StreamId::MIN);
        assert!(parse_id(b"-", STRICT).is_err());
    }
}
