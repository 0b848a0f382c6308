//! List commands (Redis's t_list): pushes, pops, ranges, LPOS, LMOVE/LMPOP and the blocking BLPOP family.
//!
//! Argument checks run in Redis 7.0's order (some commands look the key up
//! before parsing an index, others after), so the same bad request gets the
//! same error. `server.dirty` is counted as Redis counts it: one per element
//! pushed, popped, removed or trimmed, one per LSET/LINSERT/LMOVE; the key
//! creations and deletions the keyspace already counted are netted out.
//!
//! Blocking commands that find nothing call [`Ctx::block`]; the machinery
//! re-runs them from scratch when a write touches one of their keys. A re-run
//! behaves like Redis 7.0's `serveClientsBlockedOnListKey`: only list keys can
//! serve a waiting client, so a key that meanwhile became another type is
//! skipped (the client keeps waiting) instead of answering WRONGTYPE, and a
//! served BLPOP/BRPOP/BLMOVE adds nothing to `dirty` (BLMPOP does).

use super::Row;
use super::collection;
use super::spec::redis as r;
use super::{Ctx, arg_i64, is};
use crate::config::notify;
use crate::db::list::{End, Fill, List};
use crate::db::{SmallBytes, Value};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use bytes::Bytes;
use std::time::Duration;

/// This family's rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    Row::new(&r::LPUSH, lpush),
    Row::new(&r::RPUSH, rpush),
    Row::new(&r::LPUSHX, lpushx),
    Row::new(&r::RPUSHX, rpushx),
    Row::new(&r::LPOP, lpop),
    Row::new(&r::RPOP, rpop),
    Row::new(&r::LLEN, llen),
    Row::new(&r::LRANGE, lrange),
    Row::new(&r::LINDEX, lindex),
    Row::new(&r::LSET, lset),
    Row::new(&r::LINSERT, linsert),
    Row::new(&r::LREM, lrem),
    Row::new(&r::LTRIM, ltrim),
    Row::new(&r::LPOS, lpos),
    Row::new(&r::RPOPLPUSH, rpoplpush),
    Row::new(&r::LMOVE, lmove),
    Row::new(&r::LMPOP, lmpop),
    Row::new(&r::BLPOP, blpop),
    Row::new(&r::BRPOP, brpop),
    Row::new(&r::BRPOPLPUSH, brpoplpush),
    Row::new(&r::BLMOVE, blmove),
    Row::new(&r::BLMPOP, blmpop),
];

// ---------------------------------------------------------------------------
// Helpers

/// The block limits from `list-max-listpack-size`.
fn fill(ctx: &Ctx) -> Fill {
    Fill::from_limits(&ctx.srv.ks.limits)
}

/// What a write command finds at a key.
enum Found<'a> {
    Missing,
    List(&'a mut List),
    Other,
}

fn find_write<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Found<'a> {
    match ctx.srv.ks.lookup_write(ctx.client.db, key, ctx.now) {
        None => Found::Missing,
        Some(e) => match &mut e.value {
            Value::List(l) => Found::List(l),
            _ => Found::Other,
        },
    }
}

/// Brings `dirty` to Redis's count: `n` for this command, after keyspace
/// calls (key creation, deletion) that already counted `counted`.
fn add_dirty(ctx: &mut Ctx, n: u64, counted: u64) {
    let d = &mut ctx.srv.ks.stats.dirty;
    *d = (*d + n).saturating_sub(counted);
}

/// Deletes `key` when its list became empty (Redis never stores one);
/// returns what the keyspace counted in `dirty` (1 when it deleted: the
/// callers subtract it, as Redis counts the elements, and read it as
/// "deleted" for the `del` notification).
fn delete_if_empty(ctx: &mut Ctx, key: &[u8], empty: bool) -> u64 {
    let deleted = collection::drop_if_empty(ctx, key, empty);
    ctx.srv.ks.stats.dirty += deleted as u64;
    deleted as u64
}

/// Stores a new list under `key`; returns what the keyspace counted.
fn store_new(ctx: &mut Ctx, key: &[u8], l: List) -> u64 {
    let db = ctx.client.db;
    ctx.srv
        .ks
        .set(db, key, Value::List(Box::new(l)), false, ctx.now);
    1
}

/// The notification of a push at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

/// The notification of a pop at `end`.
fn pop_event(end: End) -> &'static str {
    match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

/// A reply element copied out of a list.
fn elem(v: &[u8]) -> Reply {
    Reply::Value(SmallBytes::new(v))
}

/// An array of bulk strings encoded at once: the same bytes in RESP2 and
/// RESP3, and one buffer instead of a `Reply` per element (LRANGE).
fn bulk_array<'a>(items: impl ExactSizeIterator<Item = &'a [u8]>) -> Reply {
    let mut out = bytes::BytesMut::with_capacity(16 + items.len() * 16);
    let mut num = [0u8; 20];
    out.extend_from_slice(b"*");
    out.extend_from_slice(crate::util::num::fmt_i64(items.len() as i64, &mut num));
    out.extend_from_slice(b"\r\n");
    for v in items {
        out.extend_from_slice(b"$");
        out.extend_from_slice(crate::util::num::fmt_i64(v.len() as i64, &mut num));
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    Reply::Raw(out.freeze())
}

/// Redis's `getPositiveLongFromObjectOrReply` with a message: any parse
/// failure or negative value gives `msg`.
fn positive(arg: &[u8], msg: &'static str) -> Result<i64, CmdError> {
    super::args::at_least(arg, 0, || CmdError::msg(msg))
}

/// LEFT | RIGHT (case-insensitive), or a syntax error.
fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if is(arg, "left") {
        Ok(End::Head)
    } else if is(arg, "right") {
        Ok(End::Tail)
    } else {
        Err(CmdError::syntax())
    }
}

// ---------------------------------------------------------------------------
// Push and pop

fn push_generic(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let f = fill(ctx);
    let items = args[2..].iter().map(|b| &b[..]);
    let n = (args.len() - 2) as u64;
    let len = match collection::write::<List>(ctx, &args[1])? {
        Some(l) => {
            l.push_all(items, end, f);
            l.len()
        }
        None if only_existing => return Ok(Reply::Int(0)),
        None => {
            let mut l = List::new();
            l.push_all(items, end, f);
            let len = l.len();
            let counted = store_new(ctx, &args[1], l);
            add_dirty(ctx, n, counted);
            ctx.notify(notify::LIST, push_event(end), &args[1]);
            return Ok(Reply::Int(len as i64));
        }
    };
    add_dirty(ctx, n, 0);
    ctx.notify(notify::LIST, push_event(end), &args[1]);
    Ok(Reply::Int(len as i64))
}

/// LPUSH key element [element ...]
pub fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Head, false)
}

/// RPUSH key element [element ...]
pub fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Tail, false)
}

/// LPUSHX key element [element ...]
pub fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Head, true)
}

/// RPUSHX key element [element ...]
pub fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Tail, true)
}

/// Pops up to `count` elements of the list at `key` (known to exist and be
/// a list), in pop order, deleting the key when emptied. Returns them and
/// what the keyspace counted in `dirty` (1 for a deletion).
fn pop_raw(ctx: &mut Ctx, key: &[u8], end: End, count: usize) -> (Vec<SmallBytes>, u64) {
    let f = fill(ctx);
    let Ok(Some(l)) = collection::write::<List>(ctx, key) else {
        return (Vec::new(), 0);
    };
    let vals = if count == 1 {
        l.pop(end, f).into_iter().collect()
    } else {
        l.pop_many(end, count, f)
    };
    let empty = l.is_empty();
    let counted = delete_if_empty(ctx, key, empty);
    (vals, counted)
}

/// [`pop_raw`], counting one change per element popped (none when
/// `count_dirty` is false: a BLPOP served after blocking), and notifying.
fn pop_from(
    ctx: &mut Ctx,
    key: &[u8],
    end: End,
    count: usize,
    count_dirty: bool,
) -> Vec<SmallBytes> {
    let (vals, counted) = pop_raw(ctx, key, end, count);
    let n = if count_dirty { vals.len() as u64 } else { 0 };
    add_dirty(ctx, n, counted);
    if !vals.is_empty() {
        ctx.notify_then_del(notify::LIST, pop_event(end), key, counted > 0);
    }
    vals
}

fn pop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::arity(if end == End::Head {
            "lpop"
        } else {
            "rpop"
        }));
    }
    let count = match args.get(2) {
        Some(a) => Some(positive(a, "ERR value is out of range, must be positive")? as usize),
        None => None,
    };
    if collection::write::<List>(ctx, &args[1])?.is_none() {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    }
    match count {
        None => Ok(match pop_from(ctx, &args[1], end, 1, true).pop() {
            Some(v) => Reply::Value(v),
            None => Reply::Nil,
        }),
        Some(0) => Ok(Reply::Array(Vec::new())),
        Some(n) => {
            let vals = pop_from(ctx, &args[1], end, n, true);
            Ok(Reply::Array(vals.into_iter().map(Reply::Value).collect()))
        }
    }
}

/// LPOP key \[count\]
pub fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_generic(ctx, args, End::Head)
}

/// RPOP key \[count\]
pub fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_generic(ctx, args, End::Tail)
}

// ---------------------------------------------------------------------------
// Reads

/// LLEN key
pub fn llen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        collection::read::<List>(ctx, &args[1])?.map_or(0, |l| l.len() as i64),
    ))
}

/// Resolves Redis's inclusive `start..=end` range (negative = from the
/// tail) against `len`: the first index and how many elements.
fn resolve_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, (end - start + 1) as usize))
}

/// LRANGE key start stop
pub fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = arg_i64(&args[2])?;
    let end = arg_i64(&args[3])?;
    let Some(l) = collection::read::<List>(ctx, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(match resolve_range(start, end, l.len()) {
        None => Reply::Array(Vec::new()),
        Some((from, n)) => bulk_array(l.iter_from(from).take(n)),
    })
}

/// A user index (negative = from the tail) as a position, if in range.
fn resolve_index(idx: i64, len: usize) -> Option<usize> {
    let i = if idx < 0 {
        (len as i64).checked_add(idx)?
    } else {
        idx
    };
    (i >= 0 && (i as u64) < len as u64).then_some(i as usize)
}

/// LINDEX key index
pub fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(l) = collection::read::<List>(ctx, &args[1])? else {
        return Ok(Reply::Nil);
    };
    let idx = arg_i64(&args[2])?;
    Ok(match resolve_index(idx, l.len()).and_then(|i| l.get(i)) {
        Some(v) => elem(v),
        None => Reply::Nil,
    })
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut opts = super::args::Args::new(&args[3..]);
    while !opts.is_empty() {
        if let Some(v) = opts.option("rank") {
            rank = arg_i64(v)?;
            if rank == 0 {
                return Err(CmdError::msg(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if let Some(v) = opts.option("count") {
            count = Some(positive(v, "ERR COUNT can't be negative")?);
        } else if let Some(v) = opts.option("maxlen") {
            maxlen = positive(v, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::syntax());
        }
    }
    // A negative rank searches from the tail. As in C, -LONG_MIN stays
    // negative, so every match qualifies.
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let Some(l) = collection::read::<List>(ctx, &args[1])? else {
        return Ok(if count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Nil
        });
    };
    let ele = &args[2][..];
    let len = l.len();
    let scan = if maxlen == 0 {
        len
    } else {
        len.min(maxlen as usize)
    };
    let mut out = Vec::new();
    let mut matches: i64 = 0;
    let mut found = None;
    let mut visit = |index: usize, v: &[u8]| -> bool {
        if v != ele {
            return true;
        }
        matches += 1;
        if matches < rank {
            return true;
        }
        let pos = if from_tail { len - index - 1 } else { index };
        match count {
            Some(c) => {
                out.push(Reply::Int(pos as i64));
                // matches - rank + 1 >= count, wrapping like C.
                !(c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c)
            }
            None => {
                found = Some(pos);
                false
            }
        }
    };
    if from_tail {
        if len > 0 {
            for (i, v) in l.iter_rev_from(len - 1).take(scan).enumerate() {
                if !visit(i, v) {
                    break;
                }
            }
        }
    } else {
        for (i, v) in l.iter().take(scan).enumerate() {
            if !visit(i, v) {
                break;
            }
        }
    }
    Ok(match count {
        Some(_) => Reply::Array(out),
        None => found.map_or(Reply::Nil, |p| Reply::Int(p as i64)),
    })
}

// ---------------------------------------------------------------------------
// In-place writes

/// LSET key index element
pub fn lset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let f = fill(ctx);
    let Some(l) = collection::write::<List>(ctx, &args[1])? else {
        return Err(CmdError::no_such_key());
    };
    let idx = arg_i64(&args[2])?;
    let Some(i) = resolve_index(idx, l.len()) else {
        return Err(CmdError::msg("ERR index out of range"));
    };
    l.set(i, &args[3], f);
    add_dirty(ctx, 1, 0);
    ctx.notify(notify::LIST, "lset", &args[1]);
    Ok(Reply::Ok)
}

/// LINSERT key BEFORE|AFTER pivot element
pub fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Err(CmdError::syntax());
    };
    let f = fill(ctx);
    let Some(l) = collection::write::<List>(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let Some(pos) = l.position(&args[3]) else {
        return Ok(Reply::Int(-1));
    };
    l.insert(pos + after as usize, &args[4], f);
    let len = l.len();
    add_dirty(ctx, 1, 0);
    ctx.notify(notify::LIST, "linsert", &args[1]);
    Ok(Reply::Int(len as i64))
}

/// LREM key count element
pub fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let count = arg_i64(&args[2])?;
    let f = fill(ctx);
    let Some(l) = collection::write::<List>(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let (limit, from) = match count {
        0 => (usize::MAX, End::Head),
        c if c < 0 => (c.unsigned_abs().try_into().unwrap_or(usize::MAX), End::Tail),
        c => (c as usize, End::Head),
    };
    let removed = l.remove_matching(&args[3], limit, from, f);
    let empty = l.is_empty();
    let counted = delete_if_empty(ctx, &args[1], empty);
    add_dirty(ctx, removed as u64, counted);
    if removed > 0 {
        ctx.notify_then_del(notify::LIST, "lrem", &args[1], empty);
    }
    Ok(Reply::Int(removed as i64))
}

/// LTRIM key start stop
pub fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = arg_i64(&args[2])?;
    let end = arg_i64(&args[3])?;
    let f = fill(ctx);
    let Some(l) = collection::write::<List>(ctx, &args[1])? else {
        return Ok(Reply::Ok);
    };
    let len = l.len();
    let (front, back) = match resolve_range(start, end, len) {
        None => (len, 0),
        Some((from, n)) => (from, len - from - n),
    };
    l.trim(front, back, f);
    let empty = l.is_empty();
    let counted = delete_if_empty(ctx, &args[1], empty);
    add_dirty(ctx, (front + back) as u64, counted);
    ctx.notify_then_del(notify::LIST, "ltrim", &args[1], empty);
    Ok(Reply::Ok)
}

// ---------------------------------------------------------------------------
// Moves

/// LMOVE's core once `src` is known to hold a non-empty list: checks the
/// destination's type, moves one element, and returns it. Notifies as
/// Redis does: the push on `dst` (after its `new`), then the pop on `src`
/// and its `del`.
fn move_element(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let f = fill(ctx);
    // Redis counts one change, or none for a BLMOVE served while blocked.
    let dirty = u64::from(ctx.client.blocked.is_none());
    if src == dst {
        let Some(l) = collection::write::<List>(ctx, src)? else {
            return Ok(Reply::Nil);
        };
        let Some(v) = l.pop(from, f) else {
            return Ok(Reply::Nil);
        };
        l.push(v.as_slice(), to, f);
        add_dirty(ctx, dirty, 0);
        ctx.notify(notify::LIST, push_event(to), dst);
        ctx.notify(notify::LIST, pop_event(from), src);
        return Ok(Reply::Value(v));
    }
    if let Found::Other = find_write(ctx, dst) {
        return Err(CmdError::wrong_type());
    }
    let (mut vals, counted_src) = pop_raw(ctx, src, from, 1);
    let Some(v) = vals.pop() else {
        add_dirty(ctx, 0, counted_src);
        return Ok(Reply::Nil);
    };
    let counted_dst = match collection::write::<List>(ctx, dst)? {
        Some(l) => {
            l.push(v.as_slice(), to, f);
            0
        }
        None => {
            let mut l = List::new();
            l.push(v.as_slice(), to, f);
            store_new(ctx, dst, l)
        }
    };
    add_dirty(ctx, dirty, counted_src + counted_dst);
    ctx.notify(notify::LIST, push_event(to), dst);
    ctx.notify_then_del(notify::LIST, pop_event(from), src, counted_src > 0);
    Ok(Reply::Value(v))
}

/// LMOVE/RPOPLPUSH: nil when the source is missing.
fn lmove_generic(ctx: &mut Ctx, args: &[Bytes], from: End, to: End) -> CmdResult {
    if collection::write::<List>(ctx, &args[1])?.is_none() {
        return Ok(Reply::Nil);
    }
    move_element(ctx, &args[1], &args[2], from, to)
}

/// RPOPLPUSH source destination
pub fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    lmove_generic(ctx, args, End::Tail, End::Head)
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
pub fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let from = parse_end(&args[3])?;
    let to = parse_end(&args[4])?;
    lmove_generic(ctx, args, from, to)
}

/// Parsed `numkeys key... LEFT|RIGHT [COUNT n]` of LMPOP/BLMPOP.
struct MpopArgs<'a> {
    keys: &'a [Bytes],
    end: End,
    count: usize,
}

fn parse_mpop(args: &[Bytes], numkeys_idx: usize) -> Result<MpopArgs<'_>, CmdError> {
    let m = super::args::mpop(&args[numkeys_idx..], ["left", "right"])?;
    Ok(MpopArgs {
        keys: m.keys,
        end: if m.second { End::Tail } else { End::Head },
        count: m.count as usize,
    })
}

/// The first key in `keys` holding a list. A key of another type is
/// WRONGTYPE, or skipped when `skip_other` (a re-run for a blocked client).
fn first_list<'k>(
    ctx: &mut Ctx,
    keys: &'k [Bytes],
    skip_other: bool,
) -> Result<Option<&'k Bytes>, CmdError> {
    for k in keys {
        match find_write(ctx, k) {
            Found::Missing => {}
            Found::List(l) if l.is_empty() => {}
            Found::List(_) => return Ok(Some(k)),
            Found::Other if skip_other => {}
            Found::Other => return Err(CmdError::wrong_type()),
        }
    }
    Ok(None)
}

/// `[key, [elements...]]`, popping up to `count` from the first list.
fn mpop_reply(ctx: &mut Ctx, key: &Bytes, end: End, count: usize) -> Reply {
    let vals = pop_from(ctx, key, end, count, true);
    // Logged as [LR]POP key n, as Redis does.
    if ctx.propagating() && !vals.is_empty() {
        ctx.propagate(vec![
            end_pop(end),
            key.clone(),
            Bytes::from(vals.len().to_string()),
        ]);
    }
    Reply::Array(vec![
        Reply::Bulk(key.clone()),
        Reply::Array(vals.into_iter().map(Reply::Value).collect()),
    ])
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let a = parse_mpop(args, 1)?;
    Ok(match first_list(ctx, a.keys, false)? {
        Some(k) => mpop_reply(ctx, k, a.end, a.count),
        None => Reply::NilArray,
    })
}

// ---------------------------------------------------------------------------
// Blocking

/// `LPOP` or `RPOP`: a blocking pop's logged form.
fn end_pop(end: End) -> Bytes {
    Bytes::from_static(match end {
        End::Head => b"LPOP",
        End::Tail => b"RPOP",
    })
}

fn bpop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    let timeout = super::args::timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    let rerun = ctx.client.blocked.is_some();
    match first_list(ctx, keys, rerun)? {
        Some(k) => {
            // A client served after blocking adds nothing to dirty in Redis 7.0.
            let v = pop_from(ctx, k, end, 1, !rerun).pop();
            if v.is_some() && ctx.propagating() {
                ctx.propagate(vec![end_pop(end), k.clone()]);
            }
            Ok(match v {
                Some(v) => Reply::Array(vec![Reply::Bulk(k.clone()), Reply::Value(v)]),
                None => Reply::NilArray,
            })
        }
        None => ctx.block(keys.to_vec(), timeout, Reply::NilArray),
    }
}

/// BLPOP key [key ...] timeout
pub fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bpop_generic(ctx, args, End::Head)
}

/// BRPOP key [key ...] timeout
pub fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bpop_generic(ctx, args, End::Tail)
}

fn blmove_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    from: End,
    to: End,
    timeout: Option<Duration>,
) -> CmdResult {
    let rerun = ctx.client.blocked.is_some();
    match first_list(ctx, &args[1..2], rerun)? {
        Some(_) => {
            let r = move_element(ctx, &args[1], &args[2], from, to)?;
            // Logged as the non-blocking form (BRPOPLPUSH as RPOPLPUSH).
            if ctx.propagating() && !matches!(r, Reply::Nil) {
                let argv = if args.len() == 4 {
                    vec![
                        Bytes::from_static(b"RPOPLPUSH"),
                        args[1].clone(),
                        args[2].clone(),
                    ]
                } else {
                    let mut v = vec![Bytes::from_static(b"LMOVE")];
                    v.extend_from_slice(&args[1..5]);
                    v
                };
                ctx.propagate(argv);
            }
            Ok(r)
        }
        // Inside EXEC Redis answers a null bulk here, not its timeout reply.
        None if ctx.client.deny_blocking => Ok(Reply::Nil),
        None => ctx.block(vec![args[1].clone()], timeout, Reply::NilArray),
    }
}

/// BRPOPLPUSH source destination timeout
pub fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let timeout = super::args::timeout(&args[3])?;
    blmove_generic(ctx, args, End::Tail, End::Head, timeout)
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let from = parse_end(&args[3])?;
    let to = parse_end(&args[4])?;
    let timeout = super::args::timeout(&args[5])?;
    blmove_generic(ctx, args, from, to, timeout)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let a = parse_mpop(args, 2)?;
    let timeout = super::args::timeout(&args[1])?;
    let rerun = ctx.client.blocked.is_some();
    match first_list(ctx, a.keys, rerun)? {
        Some(k) => Ok(mpop_reply(ctx, k, a.end, a.count)),
        None => ctx.block(a.keys.to_vec(), timeout, Reply::NilArray),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_like_redis() {
        assert_eq!(resolve_range(0, -1, 3), Some((0, 3)));
        assert_eq!(resolve_range(-100, 100, 3), Some((0, 3)));
        assert_eq!(resolve_range(2, 1, 3), None);
        assert_eq!(resolve_range(3, 5, 3), None);
        assert_eq!(resolve_range(i64::MIN, i64::MAX, 3), Some((0, 3)));
        assert_eq!(resolve_range(0, i64::MIN, 3), None);
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_index(i64::MAX, 3), None);
    }
}
