//! Sorted set commands (Redis's t_zset), including ranges by rank, score and lex, and the blocking BZPOP family.
//!
//! Replies, error texts and their precedence follow Redis 7.0 (`ZRANK ...
//! WITHSCORE` is 7.2's). Scores are parsed with C's `strtod`, as Redis does,
//! so `inf`, hex floats and every rounding agree; they are replied as
//! doubles (`%.17g`, RESP3 `,`), except `ZSCAN`, which sends them as text.

use super::args::at_least;
use super::collection;
use super::spec::redis as r;
use super::{Ctx, Row, arg_i64, is};
use crate::config::notify;
use crate::db::set::Set;
use crate::db::zset::{LexBound, LexRange, ScoreRange, ZSet};
use crate::db::{SmallBytes, Value};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::util::num::{parse_f64, strtod};
use crate::util::rng::Rng;
use bytes::Bytes;

/// This family's rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    Row::new(&r::ZADD, zadd),
    Row::new(&r::ZINCRBY, zincrby),
    Row::new(&r::ZREM, zrem),
    Row::new(&r::ZCARD, zcard),
    Row::new(&r::ZSCORE, zscore),
    Row::new(&r::ZMSCORE, zmscore),
    // Arity -3 (Redis 7.2) for the optional WITHSCORE; 7.0 has 3.
    Row::new(&r::ZRANK, zrank).arity(-3),
    Row::new(&r::ZREVRANK, zrevrank).arity(-3),
    Row::new(&r::ZCOUNT, zcount),
    Row::new(&r::ZLEXCOUNT, zlexcount),
    Row::new(&r::ZRANGE, zrange),
    Row::new(&r::ZRANGESTORE, zrangestore),
    Row::new(&r::ZREVRANGE, zrevrange),
    Row::new(&r::ZRANGEBYSCORE, zrangebyscore),
    Row::new(&r::ZREVRANGEBYSCORE, zrevrangebyscore),
    Row::new(&r::ZRANGEBYLEX, zrangebylex),
    Row::new(&r::ZREVRANGEBYLEX, zrevrangebylex),
    Row::new(&r::ZREMRANGEBYRANK, zremrangebyrank),
    Row::new(&r::ZREMRANGEBYSCORE, zremrangebyscore),
    Row::new(&r::ZREMRANGEBYLEX, zremrangebylex),
    Row::new(&r::ZPOPMIN, zpopmin),
    Row::new(&r::ZPOPMAX, zpopmax),
    Row::new(&r::ZMPOP, zmpop),
    Row::new(&r::BZPOPMIN, bzpopmin),
    Row::new(&r::BZPOPMAX, bzpopmax),
    Row::new(&r::BZMPOP, bzmpop),
    Row::new(&r::ZRANDMEMBER, zrandmember),
    Row::new(&r::ZUNION, zunion),
    Row::new(&r::ZUNIONSTORE, zunionstore),
    Row::new(&r::ZINTER, zinter),
    Row::new(&r::ZINTERSTORE, zinterstore),
    Row::new(&r::ZINTERCARD, zintercard),
    Row::new(&r::ZDIFF, zdiff),
    Row::new(&r::ZDIFFSTORE, zdiffstore),
    Row::new(&r::ZSCAN, zscan),
];

// ---------------------------------------------------------------------------
// Error texts
// ---------------------------------------------------------------------------

const ERR_NAN: &str = "ERR resulting score is not a number (NaN)";
const ERR_RANGE_FLOAT: &str = "ERR min or max is not a float";
const ERR_RANGE_LEX: &str = "ERR min or max not valid string range item";
const ERR_WEIGHT: &str = "ERR weight value is not a float";

// ---------------------------------------------------------------------------
// Number parsing and formatting
// ---------------------------------------------------------------------------

fn score_arg(s: &[u8]) -> Result<f64, CmdError> {
    super::args::arg_f64(s)
}

/// One end of a score range, as Redis's `zslParseRange` reads it (`strtod`
/// on the C string after an optional `(`).
fn parse_bound(s: &[u8]) -> Option<(f64, bool)> {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    let s = &s[..end];
    let (ex, body) = match s.first() {
        Some(b'(') => (true, &s[1..]),
        _ => (false, s),
    };
    let (v, used, _) = strtod(body);
    (used == body.len() && !v.is_nan()).then_some((v, ex))
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    match (parse_bound(min), parse_bound(max)) {
        (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
            min,
            minex,
            max,
            maxex,
        }),
        _ => Err(CmdError::msg(ERR_RANGE_FLOAT)),
    }
}

/// One end of a lex range (`-`, `+`, `[x`, `(x`).
fn parse_lex_item(s: &[u8]) -> Option<LexBound> {
    let alone = s.len() == 1 || s.get(1) == Some(&0);
    match s.first() {
        Some(b'+') if alone => Some(LexBound::PosInf),
        Some(b'-') if alone => Some(LexBound::NegInf),
        Some(b'(') => Some(LexBound::Excl(s[1..].to_vec())),
        Some(b'[') => Some(LexBound::Incl(s[1..].to_vec())),
        _ => None,
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    match (parse_lex_item(min), parse_lex_item(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(CmdError::msg(ERR_RANGE_LEX)),
    }
}

/// A score as Redis replies it: a double (`%.17g`, `inf`, `-0` kept).
fn dbl(resp: u8, d: f64) -> Reply {
    if d == 0.0 && d.is_sign_negative() {
        // `format_double` prints -0 as "0"; Redis prints "-0".
        if resp >= 3 {
            Reply::Raw(Bytes::from_static(b",-0\r\n"))
        } else {
            Reply::bulk_static("-0")
        }
    } else {
        Reply::Double(d)
    }
}

/// A score as text (ZSCAN replies scores as bulk strings).
fn score_text(d: f64) -> String {
    if d == 0.0 && d.is_sign_negative() {
        "-0".into()
    } else {
        crate::protocol::reply::format_double(d)
    }
}

fn member(m: &[u8]) -> Reply {
    Reply::Value(SmallBytes::new(m))
}

/// An array of members, with their scores when `withscores` (flat in
/// RESP2, [member, score] pairs in RESP3).
fn elements_reply<'a>(
    items: impl Iterator<Item = (&'a [u8], f64)>,
    withscores: bool,
    resp: u8,
) -> Reply {
    let mut out = Vec::new();
    for (m, s) in items {
        if !withscores {
            out.push(member(m));
        } else if resp >= 3 {
            out.push(Reply::Array(vec![member(m), dbl(resp, s)]));
        } else {
            out.push(member(m));
            out.push(dbl(resp, s));
        }
    }
    Reply::Array(out)
}

// ---------------------------------------------------------------------------
// Keyspace access
// ---------------------------------------------------------------------------

/// Stores a command's result at `dst` (replacing any value and TTL) and
/// notifies `event`, or deletes `dst` when the result is empty (notifying
/// `del` if it existed); replies with the size.
fn store_result(
    ctx: &mut Ctx,
    dst: &[u8],
    items: Vec<(SmallBytes, f64)>,
    event: &str,
) -> CmdResult {
    let db = ctx.client.db;
    let n = items.len();
    if n == 0 {
        // No expiry check first, as Redis's `dbDelete`: a destination past
        // its deadline is deleted (`del`), not expired.
        if ctx.srv.ks.remove(db, dst).is_some() {
            ctx.notify(notify::GENERIC, "del", dst);
        }
        return Ok(Reply::Int(0));
    }
    let limits = ctx.srv.ks.limits;
    let z = ZSet::from_sorted(items, &limits);
    ctx.srv
        .ks
        .set(db, dst, Value::ZSet(Box::new(z)), false, ctx.now);
    ctx.notify(notify::ZSET, event, dst);
    Ok(Reply::Int(n as i64))
}

/// Sorts result elements by (score, member), the order of a sorted set.
fn sort_elements(items: &mut [(SmallBytes, f64)]) {
    items.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.as_slice().cmp(b.0.as_slice()))
    });
}

// ---------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM, reads of single members
// ---------------------------------------------------------------------------

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zadd_generic(ctx, args, false)
}

/// ZINCRBY key increment member
pub fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zadd_generic(ctx, args, true)
}

/// Redis's `zaddGenericCommand`, shared by ZADD and ZINCRBY.
fn zadd_generic(ctx: &mut Ctx, args: &[Bytes], mut incr: bool) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt, mut ch) = (false, false, false, false, false);
    let mut idx = 2;
    while idx < args.len() {
        let a = &args[idx][..];
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if is(a, "ch") {
            ch = true;
        } else if is(a, "incr") {
            incr = true;
        } else if is(a, "gt") {
            gt = true;
        } else if is(a, "lt") {
            lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = args.len() - idx;
    if elements % 2 == 1 || elements == 0 {
        return Err(CmdError::syntax());
    }
    let elements = elements / 2;
    if nx && xx {
        return Err(CmdError::msg(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(CmdError::msg(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && elements > 1 {
        return Err(CmdError::msg(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let scores = (0..elements)
        .map(|j| score_arg(&args[idx + 2 * j]))
        .collect::<Result<Vec<f64>, _>>()?;
    let key = &args[1];
    let resp = ctx.client.resp;
    let limits = ctx.srv.ks.limits;
    let db = ctx.client.db;
    let exists = collection::write::<ZSet>(ctx, key)?.is_some();
    let nothing = || {
        if incr { Reply::Nil } else { Reply::Int(0) }
    };
    if !exists {
        if xx {
            return Ok(nothing());
        }
        let z = ZSet::for_new_key(args[idx + 1].len(), &limits);
        ctx.srv
            .ks
            .set(db, key, Value::ZSet(Box::new(z)), false, ctx.now);
        // Creating the key is not a change of its own (see below).
        ctx.srv.ks.stats.dirty = ctx.srv.ks.stats.dirty.saturating_sub(1);
    }
    let Some(z) = collection::write::<ZSet>(ctx, key)? else {
        return Ok(nothing());
    };
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut score = 0.0;
    let mut nan = false;
    for (j, &s) in scores.iter().enumerate() {
        let m = &args[idx + 1 + 2 * j][..];
        match z.score(m) {
            Some(cur) => {
                if nx {
                    continue;
                }
                let new = if incr { cur + s } else { s };
                if new.is_nan() {
                    nan = true;
                    break;
                }
                if (lt && new >= cur) || (gt && new <= cur) {
                    continue;
                }
                processed += 1;
                score = new;
                if new != cur {
                    z.set_score(m, cur, new);
                    updated += 1;
                }
            }
            None if !xx => {
                z.insert(m, s, &limits);
                added += 1;
                processed += 1;
                score = s;
            }
            None => {}
        }
    }
    let empty = z.is_empty();
    collection::drop_if_empty(ctx, key, empty);
    ctx.srv.ks.stats.dirty += added + updated;
    if added + updated > 0 {
        ctx.notify(notify::ZSET, if incr { "zincr" } else { "zadd" }, key);
    }
    if nan {
        return Err(CmdError::msg(ERR_NAN));
    }
    Ok(if incr {
        if processed > 0 {
            dbl(resp, score)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int((if ch { added + updated } else { added }) as i64)
    })
}

/// ZREM key member [member ...]
pub fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(z) = collection::write::<ZSet>(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0u64;
    for m in &args[2..] {
        if z.remove(m).is_some() {
            deleted += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    let emptied = z.is_empty();
    collection::drop_if_empty(ctx, &args[1], emptied);
    ctx.srv.ks.stats.dirty += deleted;
    if deleted > 0 {
        ctx.notify_then_del(notify::ZSET, "zrem", &args[1], emptied);
    }
    Ok(Reply::Int(deleted as i64))
}

/// ZCARD key
pub fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        collection::read::<ZSet>(ctx, &args[1])?.map_or(0, |z| z.len()) as i64,
    ))
}

/// ZSCORE key member
pub fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let resp = ctx.client.resp;
    Ok(
        match collection::read::<ZSet>(ctx, &args[1])?.and_then(|z| z.score(&args[2])) {
            Some(s) => dbl(resp, s),
            None => Reply::Nil,
        },
    )
}

/// ZMSCORE key member [member ...]
pub fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let resp = ctx.client.resp;
    let z = collection::read::<ZSet>(ctx, &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                Some(s) => dbl(resp, s),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

/// ZRANK key member [WITHSCORE]
pub fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrank_generic(ctx, args, false)
}

/// ZREVRANK key member [WITHSCORE]
pub fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrank_generic(ctx, args, true)
}

fn zrank_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> CmdResult {
    if args.len() > 4 {
        return Err(CmdError::arity(if rev { "zrevrank" } else { "zrank" }));
    }
    let withscore = args.len() == 4;
    if withscore && !is(&args[3], "withscore") {
        return Err(CmdError::syntax());
    }
    let resp = ctx.client.resp;
    let none = if withscore {
        Reply::NilArray
    } else {
        Reply::Nil
    };
    let Some(z) = collection::read::<ZSet>(ctx, &args[1])? else {
        return Ok(none);
    };
    let len = z.len();
    Ok(match z.rank(&args[2]) {
        Some((r, s)) => {
            let r = if rev { len - 1 - r } else { r } as i64;
            if withscore {
                Reply::Array(vec![Reply::Int(r), dbl(resp, s)])
            } else {
                Reply::Int(r)
            }
        }
        None => none,
    })
}

/// ZCOUNT key min max
pub fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = parse_score_range(&args[2], &args[3])?;
    let Some(z) = collection::read::<ZSet>(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let (lo, hi) = z.score_window(&range);
    Ok(Reply::Int((hi - lo) as i64))
}

/// ZLEXCOUNT key min max
pub fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = parse_lex_range(&args[2], &args[3])?;
    let Some(z) = collection::read::<ZSet>(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let (lo, hi) = z.lex_window(&range, false);
    Ok(Reply::Int((hi - lo) as i64))
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeBy {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeBy::Auto, Direction::Auto)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let dst = args[1].clone();
    zrange_generic(ctx, args, 2, Some(&dst), RangeBy::Auto, Direction::Auto)
}

/// ZREVRANGE key start stop [WITHSCORES]
pub fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeBy::Rank, Direction::Reverse)
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeBy::Score, Direction::Forward)
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeBy::Score, Direction::Reverse)
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeBy::Lex, Direction::Forward)
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeBy::Lex, Direction::Reverse)
}

/// Which elements a range selects: `count` of them from ascending rank
/// `start`, going down when `rev`.
#[derive(Clone, Copy)]
struct Selection {
    start: usize,
    count: usize,
    rev: bool,
}

impl Selection {
    const NONE: Selection = Selection {
        start: 0,
        count: 0,
        rev: false,
    };
}

/// Applies LIMIT to a window `[lo, hi)` the way Redis walks it: skip
/// `offset` elements (a negative offset skips everything), then take
/// `limit` (negative = all).
fn limit_window(lo: usize, hi: usize, offset: i64, limit: i64, rev: bool) -> Selection {
    if offset < 0 || hi <= lo {
        return Selection::NONE;
    }
    let avail = hi - lo;
    let offset = offset as u64;
    if offset >= avail as u64 {
        return Selection::NONE;
    }
    let offset = offset as usize;
    let left = avail - offset;
    let count = if limit < 0 {
        left
    } else {
        left.min(limit as u64 as usize)
    };
    let start = if rev { hi - 1 - offset } else { lo + offset };
    Selection { start, count, rev }
}

/// Redis's `zrangeGenericCommand`: ZRANGE, ZRANGESTORE and the older range
/// commands. `key_idx` is the source key's position; `store` the
/// destination of ZRANGESTORE.
fn zrange_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    key_idx: usize,
    store: Option<&Bytes>,
    mut by: RangeBy,
    mut dir: Direction,
) -> CmdResult {
    let (mut min_idx, mut max_idx) = (key_idx + 1, key_idx + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = key_idx + 3;
    while j < args.len() {
        let a = &args[j][..];
        let left = args.len() - j - 1;
        if store.is_none() && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = arg_i64(&args[j + 1])?;
            limit = arg_i64(&args[j + 2])?;
            j += 2;
        } else if dir == Direction::Auto && is(a, "rev") {
            dir = Direction::Reverse;
        } else if by == RangeBy::Auto && is(a, "bylex") {
            by = RangeBy::Lex;
        } else if by == RangeBy::Auto && is(a, "byscore") {
            by = RangeBy::Score;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    let rev = dir == Direction::Reverse;
    if by == RangeBy::Auto {
        by = RangeBy::Rank;
    }
    if limit != -1 && by == RangeBy::Rank {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == RangeBy::Lex {
        return Err(CmdError::msg(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    if rev && by != RangeBy::Rank {
        std::mem::swap(&mut min_idx, &mut max_idx);
    }
    enum Spec {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let spec = match by {
        RangeBy::Score => Spec::Score(parse_score_range(&args[min_idx], &args[max_idx])?),
        RangeBy::Lex => Spec::Lex(parse_lex_range(&args[min_idx], &args[max_idx])?),
        _ => Spec::Rank(arg_i64(&args[min_idx])?, arg_i64(&args[max_idx])?),
    };
    let resp = ctx.client.resp;
    let Some(z) = collection::read::<ZSet>(ctx, &args[key_idx])? else {
        return match store {
            Some(dst) => store_result(ctx, dst, Vec::new(), "zrangestore"),
            None => Ok(Reply::Array(Vec::new())),
        };
    };
    let len = z.len();
    let sel = match spec {
        Spec::Rank(mut start, mut end) => {
            let llen = len as i64;
            if start < 0 {
                start += llen;
            }
            if end < 0 {
                end += llen;
            }
            start = start.max(0);
            if start > end || start >= llen {
                Selection::NONE
            } else {
                let end = end.min(llen - 1);
                let count = (end - start + 1) as usize;
                let start = start as usize;
                Selection {
                    start: if rev { len - 1 - start } else { start },
                    count,
                    rev,
                }
            }
        }
        Spec::Score(r) => {
            let (lo, hi) = z.score_window(&r);
            limit_window(lo, hi, offset, limit, rev)
        }
        Spec::Lex(r) => {
            let (lo, hi) = z.lex_window(&r, rev);
            limit_window(lo, hi, offset, limit, rev)
        }
    };
    let items = z.range(sel.start, sel.rev).take(sel.count);
    match store {
        None => Ok(elements_reply(items, withscores, resp)),
        Some(dst) => {
            let mut v: Vec<(SmallBytes, f64)> =
                items.map(|(m, s)| (SmallBytes::new(m), s)).collect();
            if sel.rev {
                v.reverse();
            }
            store_result(ctx, dst, v, "zrangestore")
        }
    }
}

/// ZREMRANGEBYRANK key start stop
pub fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = arg_i64(&args[2])?;
    let end = arg_i64(&args[3])?;
    zremrange(ctx, &args[1], "zremrangebyrank", |z| {
        let llen = z.len() as i64;
        let mut start = if start < 0 { start + llen } else { start };
        let end = if end < 0 { end + llen } else { end };
        start = start.max(0);
        if start > end || start >= llen {
            return (0, 0);
        }
        (start as usize, (end.min(llen - 1) + 1) as usize)
    })
}

/// ZREMRANGEBYSCORE key min max
pub fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = parse_score_range(&args[2], &args[3])?;
    zremrange(ctx, &args[1], "zremrangebyscore", |z| {
        z.score_window(&range)
    })
}

/// ZREMRANGEBYLEX key min max
pub fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = parse_lex_range(&args[2], &args[3])?;
    zremrange(ctx, &args[1], "zremrangebylex", |z| {
        z.lex_window(&range, false)
    })
}

/// Removes the rank window `window` picks and notifies `event`; replies
/// with the count.
fn zremrange(
    ctx: &mut Ctx,
    key: &[u8],
    event: &str,
    window: impl FnOnce(&ZSet) -> (usize, usize),
) -> CmdResult {
    let Some(z) = collection::write::<ZSet>(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let (lo, hi) = window(z);
    let deleted = z.remove_window(lo, hi);
    let emptied = z.is_empty();
    collection::drop_if_empty(ctx, key, emptied);
    ctx.srv.ks.stats.dirty += deleted as u64;
    if deleted > 0 {
        ctx.notify_then_del(notify::ZSET, event, key, emptied);
    }
    Ok(Reply::Int(deleted as i64))
}

// ---------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------

/// How a pop replies.
#[derive(Clone, Copy)]
struct PopShape {
    /// Name the key (BZPOP*, ZMPOP, BZMPOP).
    emit_key: bool,
    /// [member, score] pairs instead of a flat list.
    nested: bool,
    /// A null (not an empty array) when nothing can be popped.
    nil_when_empty: bool,
}

/// Redis's `genericZpopCommand`: pops up to `count` elements (None = one,
/// plain) from the first of `keys` that exists. `rerun` is set when a
/// blocked client is re-run: keys of another type are then skipped (Redis
/// 7.0 leaves such clients blocked) instead of failing.
fn pop_generic(
    ctx: &mut Ctx,
    keys: &[Bytes],
    max: bool,
    count: Option<u64>,
    shape: PopShape,
    rerun: bool,
) -> CmdResult {
    let resp = ctx.client.resp;
    let mut found = None;
    for k in keys {
        match collection::write::<ZSet>(ctx, k) {
            Ok(None) => continue,
            Ok(Some(_)) => {
                found = Some(k);
                break;
            }
            Err(_) if rerun => continue,
            Err(e) => return Err(e),
        }
    }
    let Some(key) = found else {
        return Ok(if shape.nil_when_empty {
            Reply::NilArray
        } else {
            Reply::Array(Vec::new())
        });
    };
    if count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let Some(z) = collection::write::<ZSet>(ctx, key)? else {
        return Ok(Reply::NilArray);
    };
    let n = count.unwrap_or(1).min(z.len() as u64) as usize;
    let mut popped = Vec::with_capacity(n);
    for _ in 0..n {
        match z.pop(max) {
            Some(e) => popped.push(e),
            None => break,
        }
    }
    let emptied = z.is_empty();
    collection::drop_if_empty(ctx, key, emptied);
    ctx.srv.ks.stats.dirty += popped.len() as u64;
    if !popped.is_empty() {
        let event = if max { "zpopmax" } else { "zpopmin" };
        ctx.notify_then_del(notify::ZSET, event, key, emptied);
        // ZMPOP and the blocking pops are logged as ZPOPMIN/ZPOPMAX.
        if shape.emit_key && ctx.propagating() {
            let name: &'static [u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            let mut argv = vec![Bytes::from_static(name), key.clone()];
            if count.is_some() {
                argv.push(Bytes::from(popped.len().to_string()));
            }
            ctx.propagate(argv);
        }
    }
    let mut items = Vec::new();
    for (m, s) in popped {
        if shape.nested {
            items.push(Reply::Array(vec![Reply::Value(m), dbl(resp, s)]));
        } else {
            items.push(Reply::Value(m));
            items.push(dbl(resp, s));
        }
    }
    let key = Reply::Bulk(key.clone());
    Ok(match (shape.emit_key, shape.nested) {
        (false, _) => Reply::Array(items),
        (true, false) => {
            items.insert(0, key);
            Reply::Array(items)
        }
        (true, true) => Reply::Array(vec![key, Reply::Array(items)]),
    })
}

/// ZPOPMIN key [count]
pub fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, false)
}

/// ZPOPMAX key [count]
pub fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, true)
}

fn zpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::syntax());
    }
    let count = match args.get(2) {
        Some(a) => Some(at_least(a, 0, CmdError::not_positive)? as u64),
        None => None,
    };
    let shape = PopShape {
        emit_key: false,
        nested: ctx.client.resp >= 3 && count.is_some(),
        nil_when_empty: false,
    };
    pop_generic(ctx, &args[1..2], max, count, shape, false)
}

/// Parses `numkeys key... MIN|MAX [COUNT count]` from `numkeys_idx` on.
fn parse_mpop(args: &[Bytes], numkeys_idx: usize) -> Result<(&[Bytes], bool, u64), CmdError> {
    let m = super::args::mpop(&args[numkeys_idx..], ["min", "max"])?;
    Ok((m.keys, m.second, m.count))
}

const MPOP_SHAPE: PopShape = PopShape {
    emit_key: true,
    nested: true,
    nil_when_empty: true,
};

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (keys, max, count) = parse_mpop(args, 1)?;
    pop_generic(ctx, keys, max, Some(count), MPOP_SHAPE, false)
}

/// BZPOPMIN key [key ...] timeout
pub fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, false)
}

/// BZPOPMAX key [key ...] timeout
pub fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, true)
}

fn bzpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> CmdResult {
    let shape = PopShape {
        emit_key: true,
        nested: false,
        nil_when_empty: false,
    };
    let keys = &args[1..args.len() - 1];
    blocking_pop(ctx, keys, &args[args.len() - 1], max, None, shape)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (keys, max, count) = parse_mpop(args, 2)?;
    blocking_pop(ctx, keys, &args[1], max, Some(count), MPOP_SHAPE)
}

/// Redis's `blockingGenericZpopCommand`: pops from the first non-empty
/// key, or blocks the client on all of them.
fn blocking_pop(
    ctx: &mut Ctx,
    keys: &[Bytes],
    timeout: &[u8],
    max: bool,
    count: Option<u64>,
    shape: PopShape,
) -> CmdResult {
    let timeout = super::args::timeout(timeout)?;
    let rerun = ctx.client.blocked.is_some();
    for k in keys {
        match collection::write::<ZSet>(ctx, k) {
            Ok(None) => continue,
            Ok(Some(z)) if z.is_empty() => continue,
            Ok(Some(_)) => {
                return pop_generic(ctx, std::slice::from_ref(k), max, count, shape, rerun);
            }
            Err(_) if rerun => continue,
            Err(e) => return Err(e),
        }
    }
    ctx.block(keys.to_vec(), timeout, Reply::NilArray)
}

// ---------------------------------------------------------------------------
// ZRANDMEMBER
// ---------------------------------------------------------------------------

/// Reply bytes ZRANDMEMBER with a negative count may produce: Redis would
/// build any size (and exhaust memory on absurd counts); past this forkv
/// answers `ERR value is out of range`, as SRANDMEMBER and HRANDFIELD do.
const MAX_SAMPLE_REPLY: usize = 1 << 30;

/// A reply encoded as it is built, a few bytes per element (samples with
/// repetition are user-sized, not data-sized).
struct RawOut {
    buf: Vec<u8>,
    resp: u8,
}

impl RawOut {
    fn header(&mut self, prefix: u8, n: usize) {
        self.buf.push(prefix);
        self.buf.extend_from_slice(n.to_string().as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    fn bulk(&mut self, b: &[u8]) {
        self.header(b'$', b.len());
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }

    fn score(&mut self, d: f64) {
        let t = score_text(d);
        if self.resp >= 3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(t.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(t.as_bytes());
        }
    }
}

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut rng = super::set::rng(ctx);
    if args.len() >= 3 {
        let l = super::args::rand_count(&args[2])?;
        if args.len() > 4 || (args.len() == 4 && !is(&args[3], "withscores")) {
            return Err(CmdError::syntax());
        }
        return zrandmember_count(ctx, &args[1], l, args.len() == 4, &mut rng);
    }
    let Some(z) = collection::read::<ZSet>(ctx, &args[1])? else {
        return Ok(Reply::Nil);
    };
    Ok(match z.get(rng.below(z.len())) {
        Some((m, _)) => member(m),
        None => Reply::Nil,
    })
}

fn zrandmember_count(
    ctx: &mut Ctx,
    key: &[u8],
    l: i64,
    withscores: bool,
    rng: &mut Rng,
) -> CmdResult {
    let resp = ctx.client.resp;
    let Some(z) = collection::read::<ZSet>(ctx, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let size = z.len();
    let count = l.unsigned_abs();
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    // Packed sets are walked once into a table; skiplists answer by rank.
    let table: Vec<(&[u8], f64)> = if z.is_skiplist() {
        Vec::new()
    } else {
        z.iter().collect()
    };
    let get = |r: usize| {
        if z.is_skiplist() {
            z.get(r)
        } else {
            table.get(r).copied()
        }
    };
    // Random elements, repeats allowed (pre-encoded: the count is the
    // user's, not the data's).
    if l < 0 || count == 1 {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count.saturating_mul(6) > MAX_SAMPLE_REPLY {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        let mut out = RawOut {
            buf: Vec::with_capacity(count.saturating_mul(16).min(1 << 20)),
            resp,
        };
        let pairs = withscores && resp >= 3;
        out.header(
            b'*',
            if withscores && !pairs {
                count * 2
            } else {
                count
            },
        );
        for _ in 0..count {
            let Some((m, s)) = get(rng.below(size)) else {
                // Unreachable (ranks below the size exist); never send a
                // short array.
                return Ok(Reply::Array(Vec::new()));
            };
            if pairs {
                out.header(b'*', 2);
            }
            out.bulk(m);
            if withscores {
                out.score(s);
            }
            if out.buf.len() > MAX_SAMPLE_REPLY {
                return Err(CmdError::msg("ERR value is out of range"));
            }
        }
        return Ok(Reply::Raw(Bytes::from(out.buf)));
    }
    // The whole set, walked from the highest element as Redis does.
    if count >= size as u64 {
        return Ok(elements_reply(z.range(size - 1, true), withscores, resp));
    }
    let count = count as usize;
    let ranks: Vec<usize> = if count * 3 > size {
        // Drop random elements until `count` remain.
        let mut all: Vec<usize> = (0..size).collect();
        while all.len() > count {
            let i = rng.below(all.len());
            all.swap_remove(i);
        }
        all
    } else {
        let mut seen = std::collections::HashSet::with_capacity(count);
        let mut v = Vec::with_capacity(count);
        while v.len() < count {
            let r = rng.below(size);
            if seen.insert(r) {
                v.push(r);
            }
        }
        v
    };
    Ok(elements_reply(
        ranks.into_iter().filter_map(get),
        withscores,
        resp,
    ))
}

// ---------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate` (SUM of +inf and -inf is 0).
    fn apply(self, target: &mut f64, val: f64) {
        match self {
            Aggregate::Sum => {
                *target += val;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if val < *target {
                    *target = val;
                }
            }
            Aggregate::Max => {
                if val > *target {
                    *target = val;
                }
            }
        }
    }
}

/// An input of a set operation: a sorted set, a set (scores 1), or nothing.
#[derive(Clone, Copy)]
enum Src<'a> {
    Missing,
    Z(&'a ZSet),
    S(&'a Set),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    /// Calls `f` on every element (sorted sets from the highest, as Redis).
    fn for_each(&self, mut f: impl FnMut(&[u8], f64) -> bool) {
        match self {
            Src::Missing => {}
            Src::Z(z) => {
                if !z.is_empty() {
                    for (m, s) in z.range(z.len() - 1, true) {
                        if !f(m, s) {
                            return;
                        }
                    }
                }
            }
            Src::S(s) => {
                for m in s.iter() {
                    if !f(m, 1.0) {
                        return;
                    }
                }
            }
        }
    }

    fn find(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop(ctx, args, None, 1, SetOp::Union, false)
}

/// ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop(ctx, args, None, 1, SetOp::Inter, false)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop(ctx, args, None, 1, SetOp::Diff, false)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop(ctx, args, None, 1, SetOp::Inter, true)
}

/// ZUNIONSTORE dst numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
pub fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop(ctx, args, Some(&args[1]), 2, SetOp::Union, false)
}

/// ZINTERSTORE dst numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
pub fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop(ctx, args, Some(&args[1]), 2, SetOp::Inter, false)
}

/// ZDIFFSTORE dst numkeys key [key ...]
pub fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop(ctx, args, Some(&args[1]), 2, SetOp::Diff, false)
}

/// Redis's `zunionInterDiffGenericCommand`.
fn setop(
    ctx: &mut Ctx,
    args: &[Bytes],
    dst: Option<&Bytes>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> CmdResult {
    let setnum = arg_i64(&args[numkeys_idx])?;
    if setnum < 1 {
        return Err(CmdError::msg(format!(
            "ERR at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
        )));
    }
    if setnum > (args.len() - (numkeys_idx + 1)) as i64 {
        return Err(CmdError::syntax());
    }
    let setnum = setnum as usize;
    let keys = &args[numkeys_idx + 1..numkeys_idx + 1 + setnum];
    // Look every input up first (statistics, expiry, types), as Redis does
    // before it parses the options.
    let db = ctx.client.db;
    let opt = collection::lookup_opt(ctx);
    for k in keys {
        if let Some(e) = ctx.srv.ks.lookup_read(db, k, ctx.now, opt)
            && !matches!(e.value, Value::ZSet(_) | Value::Set(_))
        {
            return Err(CmdError::wrong_type());
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut aggregate = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0u64;
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j][..];
        if op != SetOp::Diff && !card_only && remaining > setnum && is(a, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                *w = parse_f64(&args[j]).ok_or_else(|| CmdError::msg(ERR_WEIGHT))?;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && is(a, "aggregate") {
            let v = &args[j + 1][..];
            aggregate = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::syntax());
            };
            j += 2;
        } else if dst.is_none() && !card_only && is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(a, "limit") {
            limit = at_least(&args[j + 1], 0, || {
                CmdError::msg("ERR LIMIT can't be negative")
            })? as u64;
            j += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let resp = ctx.client.resp;
    let main = ctx.srv.ks.dbs[db].table();
    let mut srcs: Vec<(Src, f64)> = keys
        .iter()
        .zip(&weights)
        .map(|(k, &w)| {
            let src = match main.get(k).map(|n| &n.value.value) {
                Some(Value::ZSet(z)) => Src::Z(z),
                Some(Value::Set(s)) => Src::S(s),
                _ => Src::Missing,
            };
            (src, w)
        })
        .collect();
    if op != SetOp::Diff {
        // Smallest first (a stable sort, like glibc's qsort on this data).
        srcs.sort_by_key(|(s, _)| s.len());
    }
    let mut items: Vec<(SmallBytes, f64)> = Vec::new();
    let mut cardinality = 0u64;
    match op {
        SetOp::Inter => {
            let (first, w0) = srcs[0];
            first.for_each(|m, s| {
                let mut score = w0 * s;
                if score.is_nan() {
                    score = 0.0;
                }
                for &(other, w) in &srcs[1..] {
                    match other.find(m) {
                        Some(v) => aggregate.apply(&mut score, v * w),
                        None => return true,
                    }
                }
                if card_only {
                    cardinality += 1;
                    return limit == 0 || cardinality < limit;
                }
                items.push((SmallBytes::new(m), score));
                true
            });
        }
        SetOp::Union => {
            let mut acc: crate::db::Dict<f64> = crate::db::Dict::new();
            acc.reserve(srcs.last().map_or(0, |(s, _)| s.len()));
            for &(src, w) in &srcs {
                src.for_each(|m, s| {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate.apply(&mut t.value, score),
                        None => {
                            acc.insert_new(SmallBytes::new(m), score);
                        }
                    }
                    true
                });
            }
            items.reserve(acc.len());
            acc.for_each(|n| items.push((n.key.clone(), n.value)));
        }
        SetOp::Diff => {
            let first = srcs[0].0;
            let same_key_again = keys[1..].iter().any(|k| k == &keys[0]);
            if !same_key_again {
                first.for_each(|m, s| {
                    if srcs[1..].iter().all(|(o, _)| o.find(m).is_none()) {
                        items.push((SmallBytes::new(m), s));
                    }
                    true
                });
            }
        }
    }
    if card_only {
        return Ok(Reply::Int(cardinality as i64));
    }
    sort_elements(&mut items);
    match dst {
        Some(dst) => {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_result(ctx, dst, items, event)
        }
        None => Ok(elements_reply(
            items.iter().map(|(m, s)| (m.as_slice(), *s)),
            withscores,
            resp,
        )),
    }
}

// ---------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut cursor = super::keys::parse_cursor(&args[2])?;
    if collection::read::<ZSet>(ctx, &args[1])?.is_none() {
        return Ok(super::set::empty_scan());
    }
    let super::set::ScanOpts {
        count,
        pattern: pat,
        ..
    } = super::set::parse_scan_opts(args, 3, false)?;
    let count = count as i64;
    let db = ctx.client.db;
    let Some(Value::ZSet(z)) = ctx.srv.ks.dbs[db]
        .table()
        .get(&args[1])
        .map(|n| &n.value.value)
    else {
        return Ok(super::set::empty_scan());
    };
    let mut found: Vec<(SmallBytes, f64)> = Vec::new();
    if z.is_skiplist() {
        // Redis counts members and scores against COUNT.
        let mut budget = count.saturating_mul(10);
        loop {
            cursor = z.scan(cursor, |m, s| found.push((SmallBytes::new(m), s)));
            budget -= 1;
            if cursor == 0 || budget < 0 || (found.len() as i64) * 2 >= count {
                break;
            }
        }
    } else {
        cursor = z.scan(0, |m, s| found.push((SmallBytes::new(m), s)));
    }
    let mut out = Vec::with_capacity(found.len() * 2);
    for (m, s) in found {
        if !super::set::matches(pat, m.as_slice()) {
            continue;
        }
        out.push(Reply::Value(m));
        out.push(Reply::bulk_string(score_text(s)));
    }
    Ok(super::set::scan_reply(cursor, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bounds_parse_like_zsl_parse_range() {
        assert_eq!(parse_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(parse_bound(b""), Some((0.0, false)));
        assert_eq!(parse_bound(b" 2"), Some((2.0, false)));
        assert_eq!(parse_bound(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(parse_bound(b"3\x00x"), Some((3.0, false)));
        assert_eq!(parse_bound(b"nan"), None);
        assert_eq!(parse_bound(b"1x"), None);
    }

    #[test]
    fn limit_windows() {
        let s = limit_window(2, 6, 1, 2, false);
        assert_eq!((s.start, s.count), (3, 2));
        let s = limit_window(2, 6, 1, -1, true);
        assert_eq!((s.start, s.count), (4, 3));
        assert_eq!(limit_window(2, 6, -1, 5, false).count, 0);
        assert_eq!(limit_window(2, 6, 4, 5, false).count, 0);
        assert_eq!(limit_window(2, 6, 0, 0, false).count, 0);
    }
}
