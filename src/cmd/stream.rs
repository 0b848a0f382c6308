//! Stream commands (Redis's t_stream): XADD, XRANGE, XREVRANGE, XLEN,
//! XDEL, XTRIM, XSETID, XREAD and XREADGROUP (with BLOCK), XGROUP, XACK,
//! XPENDING, XCLAIM, XAUTOCLAIM, XINFO.
//!
//! XREADGROUP's changes to a group reach the write-effect stream as Redis
//! propagates them: one `XCLAIM ... FORCE JUSTID LASTID` per delivered
//! entry, `XGROUP SETID ... ENTRIESREAD` after a NOACK read, and `XGROUP
//! CREATECONSUMER` for a consumer a NOACK read created.
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
use crate::db::stream::{
    AddError, Claim, ClaimOpts, Entry, EntryView, INVALID_ENTRIES_READ, Nack, NodeLimits, Stream,
    StreamId, Trim, TrimBy,
};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use bytes::Bytes;

/// Commands that signal key changes (WATCH, tracking, blocked clients)
/// only where Redis does, not on every change: XREADGROUP, XACK, XCLAIM,
/// XAUTOCLAIM, XSETID and XGROUP change a stream without
/// `signalModifiedKey`; XGROUP CREATE ... MKSTREAM and XGROUP DESTROY
/// signal from their handler.
const OWN: u32 = super::hooks::SIGNALS_OWN_KEYS;

/// This family's rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    Row::new(&r::XADD, xadd),
    Row::new(&r::XRANGE, xrange),
    Row::new(&r::XREVRANGE, xrevrange),
    Row::new(&r::XLEN, xlen),
    Row::new(&r::XDEL, xdel),
    Row::new(&r::XTRIM, xtrim),
    Row::new(&r::XSETID, xsetid).with(OWN),
    Row::new(&r::XREAD, xread),
    Row::new(&r::XREADGROUP, xreadgroup).with(OWN),
    Row::new(&r::XACK, xack).with(OWN),
    Row::new(&r::XPENDING, xpending),
    Row::new(&r::XCLAIM, xclaim).with(OWN),
    Row::new(&r::XAUTOCLAIM, xautoclaim).with(OWN),
    Row::new(&r::XGROUP, super::container).with(OWN),
    Row::new(&r::XGROUP_CREATE, xgroup).with(OWN),
    Row::new(&r::XGROUP_SETID, xgroup).with(OWN),
    Row::new(&r::XGROUP_DESTROY, xgroup).with(OWN),
    Row::new(&r::XGROUP_CREATECONSUMER, xgroup).with(OWN),
    Row::new(&r::XGROUP_DELCONSUMER, xgroup).with(OWN),
    Row::new(&r::XGROUP_HELP, xgroup).with(OWN),
    Row::new(&r::XINFO, super::container),
    Row::new(&r::XINFO_STREAM, xinfo),
    Row::new(&r::XINFO_GROUPS, xinfo),
    Row::new(&r::XINFO_CONSUMERS, xinfo),
    Row::new(&r::XINFO_HELP, xinfo),
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
/// An entry read in place, as XRANGE replies it.
fn view_reply(e: EntryView<'_>) -> Reply {
    let items = e.items().map(Reply::bulk).collect();
    Reply::Array(vec![id_bulk(e.id), Reply::Array(items)])
}

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
    let it = s.range(start, end, rev).map(view_reply);
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

/// Parsed XREAD / XREADGROUP arguments.
struct ReadArgs {
    /// GROUP name and consumer (XREADGROUP).
    group: Option<(Bytes, Bytes)>,
    /// NOACK (XREADGROUP).
    noack: bool,
    /// Block for this many ms (0: forever); None without BLOCK.
    block_ms: Option<i64>,
    /// COUNT (0: all).
    count: usize,
    /// Position of the first key.
    streams_arg: usize,
    /// Number of keys.
    nkeys: usize,
}

/// Redis's `xreadCommand` option parsing.
fn parse_xread(args: &[Bytes], xreadgroup: bool) -> Result<ReadArgs, CmdError> {
    let mut out = ReadArgs {
        group: None,
        noack: false,
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
            if !xreadgroup {
                return Err(CmdError::msg(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            out.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if is(o, "noack") {
            if !xreadgroup {
                return Err(CmdError::msg(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            out.noack = true;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    if out.streams_arg == 0 {
        return Err(CmdError::syntax());
    }
    if xreadgroup && out.group.is_none() {
        return Err(CmdError::msg("ERR Missing GROUP option for XREADGROUP"));
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
    let it = s.range(start, StreamId::MAX, false).map(view_reply);
    if count > 0 {
        it.take(count).collect()
    } else {
        it.collect()
    }
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
pub fn xread(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let a = parse_xread(args, false)?;
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

// ---------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------

fn nogroup_read(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// Delivers to a consumer (created if needed) and records the write
/// effects; returns the entries as replied. `gt`: None to serve the
/// consumer's history from `history_from`.
#[allow(clippy::too_many_arguments)]
fn serve_group(
    ctx: &mut Ctx,
    key: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    start: StreamId,
    history: bool,
    count: usize,
    noack: bool,
) -> Vec<Reply> {
    let now = ctx.now;
    let propagating = ctx.propagating();
    let Ok(Some(s)) = collection::write::<Stream>(ctx, key) else {
        return Vec::new();
    };
    let Some(g) = s.groups.get_mut(&group[..]) else {
        return Vec::new();
    };
    let created = match g.consumers.get_mut(&consumer[..]) {
        Some(c) => {
            c.seen_time = now;
            false
        }
        None => g.create_consumer(consumer, now),
    };
    let mut effects: Vec<Vec<Bytes>> = Vec::new();
    if created && noack {
        effects.push(vec![
            Bytes::from_static(b"XGROUP"),
            Bytes::from_static(b"CREATECONSUMER"),
            key.clone(),
            group.clone(),
            consumer.clone(),
        ]);
    }
    let mut out = Vec::new();
    if history {
        for (id, e) in s.history(group, consumer, start, count, now) {
            out.push(match e {
                Some(e) => entry_reply(&e),
                None => Reply::Array(vec![id_bulk(id), Reply::NilArray]),
            });
        }
    } else {
        let before = s.groups.get(&group[..]).map(|g| g.last_id);
        let delivered = s.deliver(group, consumer, start, count, noack, now);
        for d in &delivered {
            out.push(entry_reply(&d.entry));
            if let Some(n) = &d.nack
                && propagating
            {
                effects.push(xclaim_effect(key, group, d.entry.id, n, d.last_id));
            }
        }
        let g = s.groups.get(&group[..]);
        if noack
            && propagating
            && let Some(g) = g
            && Some(g.last_id) != before
        {
            effects.push(setid_effect(key, group, g.last_id, g.entries_read));
        }
    }
    ctx.srv.ks.stats.dirty += 1;
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    for e in effects {
        ctx.propagate(e);
    }
    out
}

/// `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID
/// LASTID last` (Redis's `streamPropagateXCLAIM`).
fn xclaim_effect(key: &Bytes, group: &Bytes, id: StreamId, n: &Nack, last: StreamId) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XCLAIM"),
        key.clone(),
        group.clone(),
        Bytes::from(n.consumer.clone()),
        Bytes::from_static(b"0"),
        Bytes::from(id.to_string()),
        Bytes::from_static(b"TIME"),
        Bytes::from(n.delivery_time.to_string()),
        Bytes::from_static(b"RETRYCOUNT"),
        Bytes::from(n.delivery_count.to_string()),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
        Bytes::from_static(b"LASTID"),
        Bytes::from(last.to_string()),
    ]
}

/// `XGROUP SETID key group id ENTRIESREAD n` (Redis's
/// `streamPropagateGroupID`).
fn setid_effect(key: &Bytes, group: &Bytes, id: StreamId, entries_read: i64) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        key.clone(),
        group.clone(),
        Bytes::from(id.to_string()),
        Bytes::from_static(b"ENTRIESREAD"),
        Bytes::from(entries_read.to_string()),
    ]
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]
pub fn xreadgroup(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let a = parse_xread(args, true)?;
    let Some((group, consumer)) = a.group.clone() else {
        return Err(CmdError::syntax());
    };
    let keys = &args[a.streams_arg..a.streams_arg + a.nkeys];
    let id_args = &args[a.streams_arg + a.nkeys..];
    let rerun = ctx.client.blocked.is_some();
    // `>` is kept as None: served from the group's last ID.
    let mut ids: Vec<Option<StreamId>> = Vec::with_capacity(a.nkeys);
    for (key, arg) in keys.iter().zip(id_args) {
        let found = match collection::read::<Stream>(ctx, key) {
            Ok(s) => s.map(|s| s.groups.contains_key(&group[..])),
            // A blocked client waits on while its key holds another type.
            Err(_) if rerun => None,
            Err(e) => return Err(e),
        };
        match found {
            Some(true) => {}
            // Redis 7.0 serves a blocked client only from a stream; one
            // without the group ends the wait with an error.
            None if rerun => {
                ids.push(None);
                continue;
            }
            Some(false) if rerun => {
                return Err(CmdError::msg(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                ));
            }
            _ => return Err(nogroup_read(key, &group)),
        }
        if &arg[..] == b"$" {
            return Err(CmdError::msg(
                "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
            ));
        } else if &arg[..] == b">" {
            ids.push(None);
        } else {
            ids.push(Some(strict_id(arg)?));
        }
    }
    let resp = ctx.client.resp;
    if ctx.propagating() {
        // Only the effects XREADGROUP logs are propagated, never itself.
        ctx.propagate(Vec::new());
    }
    let mut served = Vec::new();
    for (key, id) in keys.iter().zip(&ids) {
        let Ok(Some(s)) = collection::read::<Stream>(ctx, key) else {
            continue;
        };
        let (start, history) = match id {
            Some(gt) => (gt.incr().unwrap_or(StreamId::MIN), true),
            None => {
                let last = s
                    .groups
                    .get(&group[..])
                    .map_or(StreamId::MAX, |g| g.last_id);
                if s.edge(false).is_none_or(|top| top <= last) {
                    continue;
                }
                (last.incr().unwrap_or(StreamId::MIN), false)
            }
        };
        let count = if rerun && a.count == 0 {
            XREAD_BLOCKED_DEFAULT_COUNT
        } else {
            a.count
        };
        let entries = serve_group(ctx, key, &group, &consumer, start, history, count, a.noack);
        served.push((key.clone(), entries));
        if rerun {
            break;
        }
    }
    if !served.is_empty() {
        return Ok(xread_reply(resp, served));
    }
    let Some(ms) = a.block_ms else {
        return Ok(Reply::NilArray);
    };
    let timeout =
        (ms > 0 && ms < 30 * 365 * 86_400_000).then(|| std::time::Duration::from_millis(ms as u64));
    ctx.block(keys.to_vec(), timeout, Reply::NilArray)
}

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let has_group = match collection::read::<Stream>(ctx, &args[1])? {
        Some(s) => s.groups.contains_key(&args[2][..]),
        None => false,
    };
    if !has_group {
        return Ok(Reply::Int(0));
    }
    let ids = args[3..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = collection::write::<Stream>(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let Some(g) = s.groups.get_mut(&args[2][..]) else {
        return Ok(Reply::Int(0));
    };
    let acked = ids.into_iter().filter(|&id| g.ack(id)).count() as u64;
    ctx.srv.ks.stats.dirty += acked;
    Ok(Reply::Int(acked as i64))
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::syntax());
    }
    let mut range = None;
    let mut minidle = 0i64;
    let mut consumer: Option<&Bytes> = None;
    if argc >= 6 {
        let mut at = 3;
        if is(&args[3], "idle") {
            minidle = arg_i64(&args[4])?;
            if argc < 8 {
                return Err(CmdError::syntax());
            }
            at += 2;
        }
        let count = arg_i64(&args[at + 2])?.max(0) as u64;
        let (mut start, startex) = interval_id(&args[at], 0)?;
        if startex {
            start = start
                .incr()
                .ok_or_else(|| CmdError::msg("ERR invalid start ID for the interval"))?;
        }
        let (mut end, endex) = interval_id(&args[at + 1], u64::MAX)?;
        if endex {
            end = end
                .decr()
                .ok_or_else(|| CmdError::msg("ERR invalid end ID for the interval"))?;
        }
        if at + 3 < argc {
            consumer = Some(&args[at + 3]);
        }
        range = Some((start, end, count));
    }
    let now = ctx.now;
    let (key, group) = (&args[1], &args[2]);
    let s = collection::read::<Stream>(ctx, key)?;
    let Some(g) = s.and_then(|s| s.groups.get(&group[..])) else {
        return Err(CmdError::msg(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(group)
        )));
    };
    let Some((start, end, mut count)) = range else {
        if g.pel.is_empty() {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        }
        let first = g.pel.keys().next().copied().unwrap_or_default();
        let last = g.pel.keys().next_back().copied().unwrap_or_default();
        let consumers = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![
                    Reply::bulk(name),
                    Reply::Bulk(Bytes::from(c.pel.len().to_string())),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            id_bulk(first),
            id_bulk(last),
            Reply::Array(consumers),
        ]));
    };
    let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
        Some(name) => match g.consumers.get(&name[..]) {
            Some(c) => Box::new(c.pel.range(start..).copied()),
            None => return Ok(Reply::Array(Vec::new())),
        },
        None => Box::new(g.pel.range(start..).map(|(id, _)| *id)),
    };
    let mut out = Vec::new();
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let Some(n) = g.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - n.delivery_time < minidle {
            continue;
        }
        count -= 1;
        out.push(Reply::Array(vec![
            id_bulk(id),
            Reply::bulk(&n.consumer),
            Reply::Int((now - n.delivery_time).max(0)),
            Reply::Int(n.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(out))
}

/// XGROUP CREATE | SETID | DESTROY | CREATECONSUMER | DELCONSUMER | HELP
/// (Redis's `xgroupCommand`, which checks its arguments in this order).
pub fn xgroup(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1][..];
    let syntax = || CmdError::subcommand_syntax(&args[1], &args[0]);
    let create = is(sub, "create");
    let setid = is(sub, "setid");
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut exists = false;
    let mut has_group = false;
    if args.len() >= 4 {
        let mut i = 5;
        while i < args.len() {
            if create && is(&args[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if (create || setid) && is(&args[i], "entriesread") && i + 1 < args.len() {
                entries_read = arg_i64(&args[i + 1])?;
                if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                    return Err(CmdError::msg(
                        "ERR value for ENTRIESREAD must be positive or -1",
                    ));
                }
                i += 2;
            } else {
                return Err(syntax());
            }
        }
        if let Some(s) = collection::write::<Stream>(ctx, &args[2])? {
            exists = true;
            has_group = s.groups.contains_key(&args[3][..]);
        }
        if !mkstream {
            if !exists {
                return Err(CmdError::msg(
                    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
                ));
            }
            if !has_group && (setid || is(sub, "createconsumer") || is(sub, "delconsumer")) {
                return Err(CmdError::msg(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(&args[3]),
                    String::from_utf8_lossy(&args[2])
                )));
            }
        }
    }
    let argc = args.len();
    if argc == 2 && is(sub, "help") {
        return Ok(super::keys::help_reply("XGROUP", XGROUP_HELP));
    }
    let key = &args[2.min(argc - 1)];
    if create && (5..=8).contains(&argc) {
        let id = if &args[4][..] == b"$" {
            collection::write::<Stream>(ctx, key)?.map_or(StreamId::MIN, |s| s.last_id)
        } else {
            strict_id(&args[4])?
        };
        if !exists {
            collection::create(ctx, key, Value::Stream(Box::default()));
            let db = ctx.client.db;
            ctx.srv.blocking.touched(db, key);
            ctx.srv.key_modified(Some(ctx.client), db, key);
        }
        let Some(s) = collection::write::<Stream>(ctx, key)? else {
            return Err(CmdError::no_such_key());
        };
        if s.groups.contains_key(&args[3][..]) {
            return Err(CmdError::msg(
                "BUSYGROUP Consumer Group name already exists",
            ));
        }
        s.groups.insert(
            args[3].to_vec(),
            crate::db::stream::Group::new(id, entries_read),
        );
        ctx.srv.ks.stats.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-create", key);
        return Ok(Reply::Ok);
    }
    if setid && (argc == 5 || argc == 7) {
        let form = IdForm {
            missing_seq: 0,
            strict: false,
            seq_star: false,
        };
        let dollar = &args[4][..] == b"$";
        let given = if dollar {
            None
        } else {
            Some(parse_id(&args[4], form)?.0)
        };
        let Some(s) = collection::write::<Stream>(ctx, key)? else {
            return Err(CmdError::no_such_key());
        };
        let id = given.unwrap_or(s.last_id);
        if let Some(g) = s.groups.get_mut(&args[3][..]) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        ctx.srv.ks.stats.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-setid", key);
        return Ok(Reply::Ok);
    }
    if is(sub, "destroy") && argc == 4 {
        let Some(s) = collection::write::<Stream>(ctx, key)? else {
            return Ok(Reply::Int(0));
        };
        if s.groups.remove(&args[3][..]).is_none() {
            return Ok(Reply::Int(0));
        }
        ctx.srv.ks.stats.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-destroy", key);
        // Clients blocked on the group end with NOGROUP.
        let db = ctx.client.db;
        ctx.srv.blocking.touched(db, key);
        return Ok(Reply::Int(1));
    }
    if is(sub, "createconsumer") && argc == 5 {
        let now = ctx.now;
        let Some(s) = collection::write::<Stream>(ctx, key)? else {
            return Ok(Reply::Int(0));
        };
        let created = s
            .groups
            .get_mut(&args[3][..])
            .is_some_and(|g| g.create_consumer(&args[4], now));
        if created {
            ctx.srv.ks.stats.dirty += 1;
            ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        }
        return Ok(Reply::Int(created as i64));
    }
    if is(sub, "delconsumer") && argc == 5 {
        let Some(s) = collection::write::<Stream>(ctx, key)? else {
            return Ok(Reply::Int(0));
        };
        let pending = s
            .groups
            .get_mut(&args[3][..])
            .and_then(|g| g.delete_consumer(&args[4]));
        if let Some(n) = pending {
            ctx.srv.ks.stats.dirty += 1;
            ctx.notify(notify::STREAM, "xgroup-delconsumer", key);
            return Ok(Reply::Int(n as i64));
        }
        return Ok(Reply::Int(0));
    }
    Err(syntax())
}

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// Checks that `key` holds a stream with `group` (XCLAIM, XAUTOCLAIM).
fn require_group(ctx: &mut Ctx, key: &[u8], group: &[u8]) -> Result<(), CmdError> {
    match collection::read::<Stream>(ctx, key)? {
        Some(s) if s.groups.contains_key(group) => Ok(()),
        _ => Err(nogroup(key, group)),
    }
}

fn parse_ll(arg: &[u8], msg: &'static str) -> Result<i64, CmdError> {
    crate::util::num::parse_i64(arg).ok_or_else(|| CmdError::msg(msg))
}

/// The replies and write effects of claims.
fn claim_replies(
    ctx: &mut Ctx,
    key: &Bytes,
    group: &Bytes,
    claims: Vec<(Bytes, Claim)>,
    created: bool,
) -> (Vec<Reply>, Vec<Reply>) {
    let last = match collection::write::<Stream>(ctx, key) {
        Ok(Some(s)) => s
            .groups
            .get(&group[..])
            .map_or(StreamId::MIN, |g| g.last_id),
        _ => StreamId::MIN,
    };
    let propagating = ctx.propagating();
    let (mut taken, mut dropped) = (Vec::new(), Vec::new());
    let mut changes = 0;
    for (arg, c) in claims {
        let (id, nack) = match c {
            Claim::Taken(id, entry, nack) => {
                taken.push(match entry {
                    Some(e) => entry_reply(&e),
                    None => id_bulk(id),
                });
                (arg, nack)
            }
            Claim::Dropped(id, nack) => {
                dropped.push(id_bulk(id));
                (arg, nack)
            }
        };
        changes += 1;
        if propagating {
            let mut e = xclaim_effect(key, group, StreamId::MIN, &nack, last);
            e[5] = id;
            ctx.propagate(e);
        }
    }
    ctx.srv.ks.stats.dirty += changes + created as u64;
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    (taken, dropped)
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
pub fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (key, group, consumer) = (&args[1], &args[2], &args[3]);
    require_group(ctx, key, group)?;
    let min_idle = parse_ll(&args[4], "ERR Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match strict_id(&args[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now;
    let mut o = ClaimOpts {
        min_idle,
        delivery_time: -1,
        retry_count: None,
        force: false,
        justid: false,
        now,
    };
    let mut retry: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j][..];
        if is(opt, "force") {
            o.force = true;
        } else if is(opt, "justid") {
            o.justid = true;
        } else if is(opt, "idle") && more > 0 {
            j += 1;
            let idle = parse_ll(&args[j], "ERR Invalid IDLE option argument for XCLAIM")?;
            o.delivery_time = now.wrapping_sub(idle);
        } else if is(opt, "time") && more > 0 {
            j += 1;
            o.delivery_time = parse_ll(&args[j], "ERR Invalid TIME option argument for XCLAIM")?;
        } else if is(opt, "retrycount") && more > 0 {
            j += 1;
            retry = parse_ll(
                &args[j],
                "ERR Invalid RETRYCOUNT option argument for XCLAIM",
            )?;
        } else if is(opt, "lastid") && more > 0 {
            j += 1;
            last_id = strict_id(&args[j])?;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    if retry >= 0 {
        o.retry_count = Some(retry as u64);
    }
    if o.delivery_time < 0 || o.delivery_time > now {
        o.delivery_time = now;
    }
    let Some(s) = collection::write::<Stream>(ctx, key)? else {
        return Err(nogroup(key, group));
    };
    let mut moved_last = false;
    if let Some(g) = s.groups.get_mut(&group[..])
        && last_id > g.last_id
    {
        g.last_id = last_id;
        moved_last = true;
    }
    let (claims, created) = s.claim(group, consumer, &ids, &o);
    let entries_read = s.groups.get(&group[..]).map_or(0, |g| g.entries_read);
    let any = !claims.is_empty();
    let claims = claims
        .into_iter()
        .map(|(i, c)| (args[5 + i].clone(), c))
        .collect();
    if ctx.propagating() {
        ctx.propagate(Vec::new());
    }
    let (taken, _) = claim_replies(ctx, key, group, claims, created);
    if moved_last && !any {
        ctx.srv.ks.stats.dirty += 1;
        let e = setid_effect(key, group, last_id, entries_read);
        ctx.propagate(e);
    }
    Ok(Reply::Array(taken))
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (key, group, consumer) = (&args[1], &args[2], &args[3]);
    let min_idle = parse_ll(
        &args[4],
        "ERR Invalid min-idle-time argument for XAUTOCLAIM",
    )?
    .max(0);
    let (mut start, startex) = interval_id(&args[5], 0)?;
    if startex {
        start = start
            .incr()
            .ok_or_else(|| CmdError::msg("ERR invalid start ID for the interval"))?;
    }
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "count") && more > 0 {
            // LONG_MAX / max(sizeof(streamID), 10)
            let max = i64::MAX / 16;
            count = match crate::util::num::parse_i64(&args[j + 1]) {
                Some(n) if (1..=max).contains(&n) => n,
                _ => return Err(CmdError::msg("ERR COUNT must be > 0")),
            };
            j += 1;
        } else if is(&args[j], "justid") {
            justid = true;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    require_group(ctx, key, group)?;
    // Redis allocates 16 bytes per COUNT up front, and says so when the
    // allocator refuses; forkv needs no such buffer but refuses COUNTs
    // whose buffer could not exist (over 1 TiB), alike.
    if count > (1 << 40) / 16 {
        return Err(CmdError::msg(
            "ERR Insufficient memory, failed allocating transient memory, COUNT too high.",
        ));
    }
    let now = ctx.now;
    let o = ClaimOpts {
        min_idle,
        delivery_time: now,
        retry_count: None,
        force: false,
        justid,
        now,
    };
    let Some(s) = collection::write::<Stream>(ctx, key)? else {
        return Err(nogroup(key, group));
    };
    let (claims, cursor, created) = s.autoclaim(group, consumer, start, count as u64, &o);
    let claims = claims
        .into_iter()
        .map(|c| {
            let id = match &c {
                Claim::Taken(id, ..) | Claim::Dropped(id, _) => *id,
            };
            (Bytes::from(id.to_string()), c)
        })
        .collect();
    if ctx.propagating() {
        ctx.propagate(Vec::new());
    }
    let (taken, dropped) = claim_replies(ctx, key, group, claims, created);
    Ok(Reply::Array(vec![
        id_bulk(cursor),
        Reply::Array(taken),
        Reply::Array(dropped),
    ]))
}

fn field(name: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(name.as_bytes()))
}

fn entries_read_reply(n: i64) -> Reply {
    if n == INVALID_ENTRIES_READ {
        Reply::Nil
    } else {
        Reply::Int(n)
    }
}

/// XINFO STREAM | GROUPS | CONSUMERS | HELP (Redis's `xinfoCommand`).
pub fn xinfo(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let syntax = || CmdError::subcommand_syntax(&args[1], &args[0]);
    if is(&args[1], "help") {
        if args.len() != 2 {
            return Err(syntax());
        }
        return Ok(super::keys::help_reply(
            "XINFO",
            &[
                "CONSUMERS <key> <groupname>",
                "    Show consumers of <groupname>.",
                "GROUPS <key>",
                "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]",
                "    Show information about the stream.",
            ],
        ));
    }
    if args.len() < 3 {
        return Err(syntax());
    }
    let now = ctx.now;
    let (sub, key) = (&args[1], &args[2]);
    let Some(s) = collection::read::<Stream>(ctx, key)? else {
        return Err(CmdError::no_such_key());
    };
    if is(sub, "consumers") && args.len() == 4 {
        let Some(g) = s.groups.get(&args[3][..]) else {
            return Err(CmdError::msg(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(&args[3]),
                String::from_utf8_lossy(key)
            )));
        };
        let out = g
            .consumers
            .iter()
            .map(|(name, c)| {
                Reply::Map(vec![
                    (field("name"), Reply::bulk(name)),
                    (field("pending"), Reply::Int(c.pel.len() as i64)),
                    (field("idle"), Reply::Int((now - c.seen_time).max(0))),
                ])
            })
            .collect();
        return Ok(Reply::Array(out));
    }
    if is(sub, "groups") && args.len() == 3 {
        let out = s
            .groups
            .iter()
            .map(|(name, g)| {
                Reply::Map(vec![
                    (field("name"), Reply::bulk(name)),
                    (field("consumers"), Reply::Int(g.consumers.len() as i64)),
                    (field("pending"), Reply::Int(g.pel.len() as i64)),
                    (field("last-delivered-id"), id_bulk(g.last_id)),
                    (field("entries-read"), entries_read_reply(g.entries_read)),
                    (field("lag"), s.lag(g).map_or(Reply::Nil, Reply::Int)),
                ])
            })
            .collect();
        return Ok(Reply::Array(out));
    }
    if !is(sub, "stream") {
        return Err(syntax());
    }
    let opts = &args[3..];
    let mut full = false;
    let mut count: i64 = 10;
    if !opts.is_empty() {
        if (opts.len() != 1 && opts.len() != 3) || !is(&opts[0], "full") {
            return Err(syntax());
        }
        if opts.len() == 3 {
            if !is(&opts[1], "count") {
                return Err(syntax());
            }
            count = arg_i64(&opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
        full = true;
    }
    let mut m = vec![
        (field("length"), Reply::Int(s.len() as i64)),
        (field("radix-tree-keys"), Reply::Int(s.node_count() as i64)),
        (
            field("radix-tree-nodes"),
            Reply::Int(s.radix_tree_nodes() as i64),
        ),
        (field("last-generated-id"), id_bulk(s.last_id)),
        (
            field("max-deleted-entry-id"),
            id_bulk(s.max_deleted_entry_id),
        ),
        (field("entries-added"), Reply::Int(s.entries_added as i64)),
        (field("recorded-first-entry-id"), id_bulk(s.first_id)),
    ];
    if !full {
        let first = s.range(StreamId::MIN, StreamId::MAX, false).next();
        let last = s.range(StreamId::MIN, StreamId::MAX, true).next();
        m.push((field("groups"), Reply::Int(s.groups.len() as i64)));
        m.push((field("first-entry"), first.map_or(Reply::Nil, view_reply)));
        m.push((field("last-entry"), last.map_or(Reply::Nil, view_reply)));
        return Ok(Reply::Map(m));
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    let entries = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .take(limit)
        .map(view_reply)
        .collect();
    m.push((field("entries"), Reply::Array(entries)));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(limit)
                .map(|(id, n)| {
                    Reply::Array(vec![
                        id_bulk(*id),
                        Reply::bulk(&n.consumer),
                        Reply::Int(n.delivery_time),
                        Reply::Int(n.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pel = c
                        .pel
                        .iter()
                        .take(limit)
                        .map(|id| {
                            let (t, n) = g
                                .pel
                                .get(id)
                                .map_or((0, 0), |n| (n.delivery_time, n.delivery_count));
                            Reply::Array(vec![id_bulk(*id), Reply::Int(t), Reply::Int(n as i64)])
                        })
                        .collect();
                    Reply::Map(vec![
                        (field("name"), Reply::bulk(cname)),
                        (field("seen-time"), Reply::Int(c.seen_time)),
                        (field("pel-count"), Reply::Int(c.pel.len() as i64)),
                        (field("pending"), Reply::Array(pel)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (field("name"), Reply::bulk(name)),
                (field("last-delivered-id"), id_bulk(g.last_id)),
                (field("entries-read"), entries_read_reply(g.entries_read)),
                (field("lag"), s.lag(g).map_or(Reply::Nil, Reply::Int)),
                (field("pel-count"), Reply::Int(g.pel.len() as i64)),
                (field("pending"), Reply::Array(pending)),
                (field("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push((field("groups"), Reply::Array(groups)));
    Ok(Reply::Map(m))
}

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

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
