//! Hash commands (Redis's t_hash).
//!
//! Replies follow Redis 7.0 byte for byte. Small hashes keep insertion
//! order like Redis's listpack, so HGETALL/HKEYS/HVALS/HSCAN of a small hash
//! list fields in the same order as Redis; larger ones come in hash order.

use super::collection;
use super::set::{
    MAX_SAMPLE_REPLY, RawReply, empty_scan, matches, parse_scan_opts, rng, scan_reply,
    select_positions,
};
use super::spec::redis as r;
use super::{Ctx, Row, arg_i64, is};
use crate::config::notify;
use crate::db::hash::Hash;
use crate::db::{EncodingLimits, SmallBytes, Value};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::util::rng::Rng;
use bytes::Bytes;

/// This family's rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    Row::new(&r::HSET, hset),
    Row::new(&r::HMSET, hset),
    Row::new(&r::HSETNX, hsetnx),
    Row::new(&r::HGET, hget),
    Row::new(&r::HMGET, hmget),
    Row::new(&r::HDEL, hdel),
    Row::new(&r::HLEN, hlen),
    Row::new(&r::HSTRLEN, hstrlen),
    Row::new(&r::HEXISTS, hexists),
    Row::new(&r::HKEYS, hkeys),
    Row::new(&r::HVALS, hvals),
    Row::new(&r::HGETALL, hgetall),
    Row::new(&r::HINCRBY, hincrby),
    Row::new(&r::HINCRBYFLOAT, hincrbyfloat),
    Row::new(&r::HRANDFIELD, hrandfield),
    Row::new(&r::HSCAN, hscan),
];

/// Runs `f` on the hash at `key`, creating it when missing (Redis's
/// `hashTypeLookupWriteOrCreate`); a new hash is stored only if `f` left
/// it non-empty.
fn with_hash<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&mut Hash, &EncodingLimits) -> R,
) -> Result<R, CmdError> {
    let lim = ctx.srv.ks.limits;
    if let Some(h) = collection::write::<Hash>(ctx, key)? {
        return Ok(f(h, &lim));
    }
    let mut h = Hash::new();
    let r = f(&mut h, &lim);
    if !h.is_empty() {
        collection::create(ctx, key, Value::Hash(Box::new(h)));
    }
    Ok(r)
}

fn bulk(b: &[u8]) -> Reply {
    Reply::Value(SmallBytes::new(b))
}

/// HSET key field value [field value ...] (and HMSET)
pub fn hset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let hmset = is(&args[0], "hmset");
    if args.len() % 2 == 1 {
        return Err(CmdError::arity(if hmset { "hmset" } else { "hset" }));
    }
    let created = with_hash(ctx, &args[1], |h, lim| {
        args[2..]
            .chunks(2)
            .filter(|p| h.set(&p[0], &p[1], lim))
            .count()
    })?;
    ctx.srv.ks.stats.dirty += (args.len() as u64 - 2) / 2;
    ctx.notify(notify::HASH, "hset", &args[1]);
    Ok(if hmset {
        Reply::Ok
    } else {
        Reply::Int(created as i64)
    })
}

/// HSETNX key field value
pub fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let set = with_hash(ctx, &args[1], |h, lim| {
        !h.contains(&args[2]) && h.set(&args[2], &args[3], lim)
    })?;
    if set {
        ctx.srv.ks.stats.dirty += 1;
        ctx.notify(notify::HASH, "hset", &args[1]);
    }
    Ok(Reply::Int(set as i64))
}

/// HGET key field
pub fn hget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(
        match collection::read::<Hash>(ctx, &args[1])?.and_then(|h| h.get_small(&args[2])) {
            Some(v) => Reply::Value(v),
            None => Reply::Nil,
        },
    )
}

/// HMGET key field [field ...]
pub fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let h = collection::read::<Hash>(ctx, &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|f| match h.and_then(|h| h.get_small(f)) {
                Some(v) => Reply::Value(v),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

/// HDEL key field [field ...]
pub fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(h) = collection::write::<Hash>(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0;
    for f in &args[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    let emptied = h.is_empty();
    if emptied {
        collection::drop_if_empty(ctx, &args[1], true);
    }
    ctx.srv.ks.stats.dirty += deleted;
    if deleted > 0 {
        ctx.notify_then_del(notify::HASH, "hdel", &args[1], emptied);
    }
    Ok(Reply::Int(deleted as i64))
}

/// HLEN key
pub fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        collection::read::<Hash>(ctx, &args[1])?.map_or(0, |h| h.len() as i64),
    ))
}

/// HSTRLEN key field
pub fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        collection::read::<Hash>(ctx, &args[1])?
            .and_then(|h| h.get(&args[2]))
            .map_or(0, |v| v.len() as i64),
    ))
}

/// HEXISTS key field
pub fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        collection::read::<Hash>(ctx, &args[1])?.is_some_and(|h| h.contains(&args[2])) as i64,
    ))
}

/// HKEYS key
pub fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut out = Vec::new();
    if let Some(h) = collection::read::<Hash>(ctx, &args[1])? {
        out.reserve(h.len());
        h.for_each(|k, _| out.push(bulk(k)));
    }
    Ok(Reply::Array(out))
}

/// HVALS key
pub fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut out = Vec::new();
    if let Some(h) = collection::read::<Hash>(ctx, &args[1])? {
        out.reserve(h.len());
        h.for_each(|_, v| out.push(bulk(v)));
    }
    Ok(Reply::Array(out))
}

/// HGETALL key (a map in RESP3)
pub fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut out = Vec::new();
    if let Some(h) = collection::read::<Hash>(ctx, &args[1])? {
        out.reserve(h.len());
        h.for_each(|k, v| out.push((bulk(k), bulk(v))));
    }
    Ok(Reply::Map(out))
}

/// HINCRBY key field increment
pub fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let incr = arg_i64(&args[3])?;
    let new = with_hash(ctx, &args[1], |h, lim| {
        let cur = match h.get(&args[2]) {
            Some(v) => crate::util::num::parse_i64(v)
                .ok_or_else(|| CmdError::msg("ERR hash value is not an integer"))?,
            None => 0,
        };
        let new = cur.checked_add(incr).ok_or_else(CmdError::overflow)?;
        let mut buf = [0u8; 20];
        h.set(&args[2], crate::util::num::fmt_i64(new, &mut buf), lim);
        Ok::<i64, CmdError>(new)
    })??;
    ctx.srv.ks.stats.dirty += 1;
    ctx.notify(notify::HASH, "hincrby", &args[1]);
    Ok(Reply::Int(new))
}

/// HINCRBYFLOAT key field increment (long double arithmetic, as Redis).
pub fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    use crate::util::longdouble::{Error, incrbyfloat};
    // The increment alone first: its own error texts, before the lookup.
    incrbyfloat(None, &args[3]).map_err(|e| match e {
        Error::NotFloat => CmdError::not_float(),
        Error::NanOrInf => CmdError::msg("ERR value is NaN or Infinity"),
    })?;
    let out = with_hash(ctx, &args[1], |h, lim| {
        let out = incrbyfloat(h.get(&args[2]), &args[3]).map_err(|e| match e {
            Error::NotFloat => CmdError::msg("ERR hash value is not a float"),
            Error::NanOrInf => CmdError::msg("ERR increment would produce NaN or Infinity"),
        })?;
        h.set(&args[2], &out, lim);
        Ok::<Vec<u8>, CmdError>(out)
    })??;
    ctx.srv.ks.stats.dirty += 1;
    ctx.notify(notify::HASH, "hincrbyfloat", &args[1]);
    let out = Bytes::from(out);
    // Logged as the resulting value, which replays identically.
    if ctx.propagating() {
        ctx.propagate(vec![
            Bytes::from_static(b"HSET"),
            args[1].clone(),
            args[2].clone(),
            out.clone(),
        ]);
    }
    Ok(Reply::Bulk(out))
}

/// `HRANDFIELD key [count [WITHVALUES]]`
pub fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut rng = rng(ctx);
    if args.len() >= 3 {
        let l = super::args::rand_count(&args[2])?;
        if args.len() > 4 || (args.len() == 4 && !is(&args[3], "withvalues")) {
            return Err(CmdError::syntax());
        }
        let withvalues = args.len() == 4;
        if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        return hrandfield_count(ctx, &args[1], l, withvalues, &mut rng);
    }
    Ok(match collection::read::<Hash>(ctx, &args[1])? {
        Some(h) => match h.random(|| rng.next_u64()) {
            Some((k, _)) => bulk(k),
            None => Reply::Nil,
        },
        None => Reply::Nil,
    })
}

fn hrandfield_count(
    ctx: &mut Ctx,
    key: &[u8],
    l: i64,
    withvalues: bool,
    rng: &mut Rng,
) -> CmdResult {
    let resp3 = ctx.client.resp >= 3;
    let Some(h) = collection::read::<Hash>(ctx, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let count = l.unsigned_abs() as usize;
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    // One pair as Redis shapes it: field, or field and value (flat in
    // RESP2, a nested pair in RESP3).
    let pair = |out: &mut Vec<Reply>, k: &[u8], v: &[u8]| {
        if !withvalues {
            out.push(bulk(k));
        } else if resp3 {
            out.push(Reply::Array(vec![bulk(k), bulk(v)]));
        } else {
            out.push(bulk(k));
            out.push(bulk(v));
        }
    };
    let size = h.len();
    if l < 0 || count == 1 {
        // With repetition, random order.
        let per = if withvalues { 14 } else { 7 };
        if count.saturating_mul(per) > MAX_SAMPLE_REPLY {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        let sampler = h.sampler();
        let n = if withvalues && !resp3 {
            count * 2
        } else {
            count
        };
        let mut out = RawReply::array(n, count * per);
        for _ in 0..count {
            let Some((k, v)) = sampler.pick(|| rng.next_u64()) else {
                return Ok(Reply::Array(Vec::new()));
            };
            if withvalues && resp3 {
                out.header(2);
            }
            out.bulk(k);
            if withvalues {
                out.bulk(v);
            }
            if out.len() > MAX_SAMPLE_REPLY {
                return Err(CmdError::msg("ERR value is out of range"));
            }
        }
        return Ok(out.finish());
    }
    let mut out = Vec::new();
    if count >= size {
        h.for_each(|k, v| pair(&mut out, k, v));
        return Ok(Reply::Array(out));
    }
    if count * 3 > size || !h.is_table() {
        // A large share (or a small hash): distinct fields in storage order.
        let all = h.pairs();
        for i in select_positions(rng, size, count) {
            pair(&mut out, all[i].0, all[i].1);
        }
    } else {
        // A few fields of a big table: sample until enough distinct ones.
        let mut seen = crate::util::hash::Set::with_capacity_and_hasher(count, Default::default());
        while seen.len() < count {
            let Some((k, v)) = h.random(|| rng.next_u64()) else {
                break;
            };
            if seen.insert(k) {
                pair(&mut out, k, v);
            }
        }
    }
    Ok(Reply::Array(out))
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
pub fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut cursor = super::keys::parse_cursor(&args[2])?;
    let Some(h) = collection::read::<Hash>(ctx, &args[1])? else {
        return Ok(empty_scan());
    };
    let super::set::ScanOpts {
        count,
        pattern: pat,
        ..
    } = parse_scan_opts(args, 3, false)?;
    let mut items: Vec<(SmallBytes, SmallBytes)> = Vec::new();
    if h.is_table() {
        let mut budget = count.saturating_mul(10);
        loop {
            cursor = h.scan(cursor, |k, v| {
                items.push((SmallBytes::new(k), SmallBytes::new(v)))
            });
            // Redis counts fields and values alike against COUNT.
            if cursor == 0 || budget == 0 || items.len() * 2 >= count {
                break;
            }
            budget -= 1;
        }
    } else {
        cursor = h.scan(0, |k, v| {
            items.push((SmallBytes::new(k), SmallBytes::new(v)))
        });
    }
    let mut out = Vec::with_capacity(items.len() * 2);
    for (k, v) in items {
        if matches(pat, k.as_slice()) {
            out.push(Reply::Value(k));
            out.push(Reply::Value(v));
        }
    }
    Ok(scan_reply(cursor, out))
}
