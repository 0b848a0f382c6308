//! Set commands (Redis's t_set), including the multi-key algebra.
//!
//! Replies follow Redis 7.0 byte for byte. Members come out in storage
//! order: ascending for intsets (as Redis), insertion order for small packed
//! sets (Redis 7.2's listpack; 7.0 would use a hash table there), hash
//! order otherwise. SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a count
//! answer RESP3 sets; SRANDMEMBER with a count answers an array (it may
//! repeat members).
//!
//! The helpers at the top (random numbers, key creation and deletion that
//! leave `dirty` to the command, raw replies for huge random samples) are
//! shared with the hash commands.

use super::args::at_least;
use super::collection;
use super::keys::parse_cursor;
use super::spec::redis as r;
use super::{Ctx, Row, arg_i64, is};
use crate::config::notify;
use crate::db::set::{Member, Set};
use crate::db::{SmallBytes, Value};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::util::glob::glob_match;
use crate::util::rng::Rng;
use bytes::Bytes;

/// This family's rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    Row::new(&r::SADD, sadd),
    Row::new(&r::SREM, srem),
    Row::new(&r::SCARD, scard),
    Row::new(&r::SISMEMBER, sismember),
    Row::new(&r::SMISMEMBER, smismember),
    Row::new(&r::SMEMBERS, smembers),
    Row::new(&r::SRANDMEMBER, srandmember),
    Row::new(&r::SPOP, spop),
    Row::new(&r::SMOVE, smove),
    Row::new(&r::SINTER, sinter),
    Row::new(&r::SINTERCARD, sintercard),
    Row::new(&r::SINTERSTORE, sinterstore),
    Row::new(&r::SUNION, sunion),
    Row::new(&r::SUNIONSTORE, sunionstore),
    Row::new(&r::SDIFF, sdiff),
    Row::new(&r::SDIFFSTORE, sdiffstore),
    Row::new(&r::SSCAN, sscan),
];

// ---------------------------------------------------------------------------
// Helpers shared with the hash commands
// ---------------------------------------------------------------------------

/// A sampling generator seeded from the keyspace's.
pub(crate) fn rng(ctx: &mut Ctx) -> Rng {
    Rng::seeded(ctx.srv.ks.rand())
}

/// Picks `k` of `n` positions uniformly, in ascending order (Knuth's
/// selection sampling): random subsets that keep storage order.
pub(crate) fn select_positions(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(k);
    let mut need = k;
    for i in 0..n {
        if need == 0 {
            break;
        }
        if rng.below(n - i) < need {
            out.push(i);
            need -= 1;
        }
    }
    out
}

/// A reply holding a member.
pub(crate) fn member_reply(m: &Member) -> Reply {
    Reply::Value(m.to_small())
}

/// Reply bytes a sample with repetition may produce before it is refused.
/// Redis would try to build any size (and exhaust memory on absurd counts);
/// forkv answers `ERR value is out of range` past this.
pub(crate) const MAX_SAMPLE_REPLY: usize = 1 << 30;

/// A pre-encoded reply for large samples with repetition, which are
/// user-sized rather than data-sized: a few bytes per element instead of a
/// `Reply` each.
pub(crate) struct RawReply {
    buf: Vec<u8>,
}

impl RawReply {
    /// An array (RESP2 and RESP3 alike) of `n` elements.
    pub(crate) fn array(n: usize, capacity_hint: usize) -> RawReply {
        let mut r = RawReply {
            buf: Vec::with_capacity(capacity_hint.min(1 << 20)),
        };
        r.header(n);
        r
    }

    /// Appends an array header.
    pub(crate) fn header(&mut self, n: usize) {
        self.buf.push(b'*');
        self.buf.extend_from_slice(n.to_string().as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Appends a bulk string.
    pub(crate) fn bulk(&mut self, b: &[u8]) {
        let mut tmp = [0u8; 20];
        self.buf.push(b'$');
        self.buf
            .extend_from_slice(crate::util::num::fmt_i64(b.len() as i64, &mut tmp));
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Bytes so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The finished reply.
    pub(crate) fn finish(self) -> Reply {
        Reply::Raw(Bytes::from(self.buf))
    }
}

/// The options of a SCAN-family command.
pub(crate) struct ScanOpts<'a> {
    /// COUNT (default 10).
    pub count: usize,
    /// MATCH pattern (None also for `*`).
    pub pattern: Option<&'a [u8]>,
    /// TYPE (SCAN only).
    pub type_name: Option<&'a [u8]>,
}

/// COUNT and MATCH of SCAN/HSCAN/SSCAN/ZSCAN, and TYPE when `with_type`
/// (SCAN only), as Redis's `scanGenericCommand` parses them.
pub(crate) fn parse_scan_opts(
    args: &[Bytes],
    from: usize,
    with_type: bool,
) -> Result<ScanOpts<'_>, CmdError> {
    let mut count: i64 = 10;
    let mut pat = None;
    let mut typ = None;
    let mut i = from;
    while i < args.len() {
        let more = args.len() - i;
        if is(&args[i], "count") && more >= 2 {
            count = arg_i64(&args[i + 1])?;
            if count < 1 {
                return Err(CmdError::syntax());
            }
            i += 2;
        } else if is(&args[i], "match") && more >= 2 {
            pat = if &args[i + 1][..] == b"*" {
                None
            } else {
                Some(&args[i + 1][..])
            };
            i += 2;
        } else if with_type && is(&args[i], "type") && more >= 2 {
            typ = Some(&args[i + 1][..]);
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    Ok(ScanOpts {
        count: count.min(isize::MAX as i64) as usize,
        pattern: pat,
        type_name: typ,
    })
}

/// The reply of a scan: the cursor and the items.
pub(crate) fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::bulk_string(cursor.to_string()),
        Reply::Array(items),
    ])
}

/// `*2 $1 0 *0`: what HSCAN/SSCAN answer for a missing key.
pub(crate) fn empty_scan() -> Reply {
    scan_reply(0, Vec::new())
}

/// True if `s` passes the optional MATCH pattern.
pub(crate) fn matches(pat: Option<&[u8]>, s: &[u8]) -> bool {
    pat.is_none_or(|p| glob_match(p, s, false))
}

// ---------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------

/// Replies with every member of a set as a RESP3 set.
fn set_reply(s: &Set) -> Reply {
    let mut out = Vec::with_capacity(s.len());
    s.for_each(|m| out.push(member_reply(&m)));
    Reply::Set(out)
}

// ---------------------------------------------------------------------------
// Single-key commands
// ---------------------------------------------------------------------------

/// SADD key member [member ...]
pub fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lim = ctx.srv.ks.limits;
    let members = &args[2..];
    let added = match collection::write::<Set>(ctx, &args[1])? {
        Some(s) => {
            s.maybe_convert(members.len(), &lim);
            members.iter().filter(|m| s.add(m, &lim)).count()
        }
        None => {
            let mut s = Set::new_for(&args[2], members.len(), &lim);
            let n = members.iter().filter(|m| s.add(m, &lim)).count();
            collection::create(ctx, &args[1], Value::Set(Box::new(s)));
            n
        }
    };
    ctx.srv.ks.stats.dirty += added as u64;
    if added > 0 {
        ctx.notify(notify::SET, "sadd", &args[1]);
    }
    Ok(Reply::Int(added as i64))
}

/// SREM key member [member ...]
pub fn srem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(s) = collection::write::<Set>(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for m in &args[2..] {
        if s.remove(m) {
            removed += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    let emptied = s.is_empty();
    if emptied {
        collection::drop_if_empty(ctx, &args[1], true);
    }
    ctx.srv.ks.stats.dirty += removed;
    if removed > 0 {
        ctx.notify_then_del(notify::SET, "srem", &args[1], emptied);
    }
    Ok(Reply::Int(removed as i64))
}

/// SCARD key
pub fn scard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        collection::read::<Set>(ctx, &args[1])?.map_or(0, |s| s.len() as i64),
    ))
}

/// SISMEMBER key member
pub fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        collection::read::<Set>(ctx, &args[1])?.is_some_and(|s| s.contains(&args[2])) as i64,
    ))
}

/// SMISMEMBER key member [member ...]
pub fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let s = collection::read::<Set>(ctx, &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| Reply::Int(s.is_some_and(|s| s.contains(m)) as i64))
            .collect(),
    ))
}

/// SMEMBERS key
pub fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(match collection::read::<Set>(ctx, &args[1])? {
        Some(s) => set_reply(s),
        None => Reply::Set(Vec::new()),
    })
}

/// `SRANDMEMBER key [count]`
pub fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::syntax());
    }
    if args.len() == 3 {
        return srandmember_count(ctx, args);
    }
    let mut rng = rng(ctx);
    Ok(match collection::read::<Set>(ctx, &args[1])? {
        Some(s) => match s.random(|| rng.next_u64()) {
            Some(m) => member_reply(&m),
            None => Reply::Nil,
        },
        None => Reply::Nil,
    })
}

fn srandmember_count(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let l = super::args::rand_count(&args[2])?;
    let mut rng = rng(ctx);
    let Some(s) = collection::read::<Set>(ctx, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let count = l.unsigned_abs() as usize;
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let size = s.len();
    if size == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    if l < 0 {
        // With repetition: `count` independent picks.
        if count.saturating_mul(7) > MAX_SAMPLE_REPLY {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        let sampler = s.sampler();
        let mut out = RawReply::array(count, count * 8);
        for _ in 0..count {
            sampler.pick(|| rng.next_u64()).with(|b| out.bulk(b));
            if out.len() > MAX_SAMPLE_REPLY {
                return Err(CmdError::msg("ERR value is out of range"));
            }
        }
        return Ok(out.finish());
    }
    if count >= size {
        let mut out = Vec::with_capacity(size);
        s.for_each(|m| out.push(member_reply(&m)));
        return Ok(Reply::Array(out));
    }
    Ok(Reply::Array(
        distinct_sample(s, count, &mut rng)
            .iter()
            .map(member_reply)
            .collect(),
    ))
}

/// `count` (< len) distinct random members.
fn distinct_sample<'a>(s: &'a Set, count: usize, rng: &mut Rng) -> Vec<Member<'a>> {
    let size = s.len();
    if count * 3 > size || !s.is_table() {
        // A large share (or a small set): one pass, storage order.
        let all = s.members();
        return select_positions(rng, size, count)
            .into_iter()
            .map(|i| all[i])
            .collect();
    }
    // A few members of a big table: sample until enough distinct ones.
    let mut seen = crate::util::hash::Set::with_capacity_and_hasher(count, Default::default());
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let Some(m) = s.random(|| rng.next_u64()) else {
            break;
        };
        let Member::Str(b) = m else { continue };
        if seen.insert(b) {
            out.push(m);
        }
    }
    out
}

/// `SPOP key [count]`
pub fn spop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 3 {
        return spop_count(ctx, args);
    }
    if args.len() > 3 {
        return Err(CmdError::syntax());
    }
    let mut rng = rng(ctx);
    let Some(s) = collection::write::<Set>(ctx, &args[1])? else {
        return Ok(Reply::Nil);
    };
    let Some(m) = s.random(|| rng.next_u64()).map(|m| m.to_small()) else {
        return Ok(Reply::Nil);
    };
    s.remove(m.as_slice());
    let emptied = s.is_empty();
    if emptied {
        collection::drop_if_empty(ctx, &args[1], true);
    }
    ctx.srv.ks.stats.dirty += 1;
    ctx.notify_then_del(notify::SET, "spop", &args[1], emptied);
    // A random pop is logged as the removal it made.
    if ctx.propagating() {
        ctx.propagate(vec![
            Bytes::from_static(b"SREM"),
            args[1].clone(),
            Bytes::copy_from_slice(m.as_slice()),
        ]);
    }
    Ok(Reply::Value(m))
}

fn spop_count(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let count = at_least(&args[2], 0, CmdError::not_positive)? as u64;
    let mut rng = rng(ctx);
    let Some(s) = collection::write::<Set>(ctx, &args[1])? else {
        return Ok(Reply::Set(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::Set(Vec::new()));
    }
    let size = s.len();
    if count >= size as u64 {
        let reply = set_reply(s);
        collection::drop_if_empty(ctx, &args[1], true);
        ctx.srv.ks.stats.dirty += 1;
        ctx.notify_then_del(notify::SET, "spop", &args[1], true);
        let lazy = ctx.srv.config.lazyfree_lazy_server_del;
        if ctx.propagating() {
            ctx.propagate(super::string::del_effect(lazy, &args[1]));
        }
        return Ok(reply);
    }
    let count = count as usize;
    let popped: Vec<SmallBytes> = if s.is_table() && count * 5 < size {
        // Few of many: pop random members one by one.
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let Some(m) = s.random(|| rng.next_u64()).map(|m| m.to_small()) else {
                break;
            };
            s.remove(m.as_slice());
            out.push(m);
        }
        out
    } else {
        let picked: Vec<SmallBytes> = distinct_sample(s, count, &mut rng)
            .iter()
            .map(|m| m.to_small())
            .collect();
        for m in &picked {
            s.remove(m.as_slice());
        }
        picked
    };
    ctx.srv.ks.stats.dirty += popped.len() as u64;
    ctx.notify(notify::SET, "spop", &args[1]);
    // Logged as SREMs of what was popped, 1024 members per command as Redis.
    if ctx.propagating() {
        for batch in popped.chunks(1024) {
            let mut argv = vec![Bytes::from_static(b"SREM"), args[1].clone()];
            argv.extend(batch.iter().map(|m| Bytes::copy_from_slice(m.as_slice())));
            ctx.propagate(argv);
        }
    }
    Ok(Reply::Set(popped.into_iter().map(Reply::Value).collect()))
}

/// SMOVE source destination member
pub fn smove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (src, dst, m) = (&args[1], &args[2], &args[3]);
    let db = ctx.client.db;
    let src_kind = ctx
        .srv
        .ks
        .lookup_write(db, src, ctx.now)
        .map(|e| matches!(e.value, Value::Set(_)));
    let dst_kind = ctx
        .srv
        .ks
        .lookup_write(db, dst, ctx.now)
        .map(|e| matches!(e.value, Value::Set(_)));
    let Some(src_is_set) = src_kind else {
        return Ok(Reply::Int(0));
    };
    if !src_is_set || dst_kind == Some(false) {
        return Err(CmdError::wrong_type());
    }
    let Some(s) = collection::write::<Set>(ctx, src)? else {
        return Ok(Reply::Int(0));
    };
    if src == dst {
        return Ok(Reply::Int(s.contains(m) as i64));
    }
    if !s.remove(m) {
        return Ok(Reply::Int(0));
    }
    let emptied = s.is_empty();
    if emptied {
        collection::drop_if_empty(ctx, src, true);
    }
    ctx.srv.ks.stats.dirty += 1;
    ctx.notify_then_del(notify::SET, "srem", src, emptied);
    let lim = ctx.srv.ks.limits;
    let added = match collection::write::<Set>(ctx, dst)? {
        Some(d) => d.add(m, &lim),
        None => {
            let mut d = Set::new_for(m, 1, &lim);
            d.add(m, &lim);
            collection::create(ctx, dst, Value::Set(Box::new(d)));
            true
        }
    };
    if added {
        ctx.srv.ks.stats.dirty += 1;
        ctx.notify(notify::SET, "sadd", dst);
    }
    Ok(Reply::Int(1))
}

// ---------------------------------------------------------------------------
// Multi-key algebra
// ---------------------------------------------------------------------------

/// Looks every key up (expiring, counting hits and misses) and checks
/// types in order, as Redis 7: a missing key is an empty set, any other type
/// is WRONGTYPE. Returns which keys exist. The STORE variants read their
/// sources this way too in Redis 7.0 (statistics and `keymiss` included).
fn check_keys(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Vec<bool>, CmdError> {
    let db = ctx.client.db;
    let opt = collection::lookup_opt(ctx);
    let mut exists = Vec::with_capacity(keys.len());
    for k in keys {
        match ctx.srv.ks.lookup_read(db, k, ctx.now, opt) {
            None => exists.push(false),
            Some(e) if matches!(e.value, Value::Set(_)) => exists.push(true),
            Some(_) => return Err(CmdError::wrong_type()),
        }
    }
    Ok(exists)
}

/// The sets at `keys` (already checked), None for missing ones.
fn sets_of<'a>(ctx: &'a Ctx, keys: &[Bytes]) -> Vec<Option<&'a Set>> {
    let d = &ctx.srv.ks.dbs[ctx.client.db];
    keys.iter()
        .map(|k| match d.table().get(k).map(|n| &n.value.value) {
            Some(Value::Set(s)) => Some(&**s),
            _ => None,
        })
        .collect()
}

/// Calls `f` with the members of the intersection, in the order of the
/// smallest set, stopping after `limit` of them (0 = no limit). A missing
/// key (None) makes the intersection empty.
fn intersect(sets: &[Option<&Set>], limit: usize, mut f: impl FnMut(Member)) {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return;
    };
    sets.sort_by_key(|s| s.len());
    let first = sets[0];
    let mut n = 0;
    let others: Vec<&Set> = sets[1..]
        .iter()
        .copied()
        .filter(|s| !std::ptr::eq(*s, first))
        .collect();
    first.for_each_while(|m| {
        if others.iter().all(|s| s.contains_member(&m)) {
            f(m);
            n += 1;
        }
        limit == 0 || n < limit
    });
}

/// SINTER key [key ...]
pub fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let keys = &args[1..];
    check_keys(ctx, keys)?;
    let sets = sets_of(ctx, keys);
    let mut out = Vec::new();
    intersect(&sets, 0, |m| out.push(member_reply(&m)));
    Ok(Reply::Set(out))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let numkeys = at_least(&args[1], 1, || {
        CmdError::msg("ERR numkeys should be greater than 0")
    })? as u64;
    if numkeys > (args.len() - 2) as u64 {
        return Err(CmdError::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut opts = super::args::Args::new(&args[2 + numkeys..]);
    while !opts.is_empty() {
        let v = opts.option("limit").ok_or_else(CmdError::syntax)?;
        limit = at_least(v, 0, || CmdError::msg("ERR LIMIT can't be negative"))?
            .min(isize::MAX as i64) as usize;
    }
    let keys = &args[2..2 + numkeys];
    check_keys(ctx, keys)?;
    let sets = sets_of(ctx, keys);
    let mut n = 0i64;
    intersect(&sets, limit, |_| n += 1);
    Ok(Reply::Int(n))
}

/// Stores a computed set at `dst` (replacing any value and TTL) and
/// notifies `event`, or deletes `dst` when it is empty (notifying `del` if
/// it existed); replies with its size. `dirty` counts one change for the
/// store, or one for deleting an existing key, as Redis.
fn store(ctx: &mut Ctx, dst: &[u8], s: Set, event: &str) -> CmdResult {
    let db = ctx.client.db;
    let n = s.len();
    if n > 0 {
        ctx.srv
            .ks
            .set(db, dst, Value::Set(Box::new(s)), false, ctx.now);
        ctx.notify(notify::SET, event, dst);
    } else if ctx.srv.ks.remove(db, dst).is_some() {
        // No expiry check first, as Redis's `dbDelete`: a destination past
        // its deadline is deleted (`del`), not expired.
        ctx.notify(notify::GENERIC, "del", dst);
    }
    Ok(Reply::Int(n as i64))
}

/// SINTERSTORE destination key [key ...]
pub fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let keys = &args[2..];
    check_keys(ctx, keys)?;
    let lim = ctx.srv.ks.limits;
    let sets = sets_of(ctx, keys);
    let mut result = Set::new();
    intersect(&sets, 0, |m| {
        m.with(|b| result.add(b, &lim));
    });
    store(ctx, &args[1], result, "sinterstore")
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Diff,
}

/// SUNION / SDIFF into a new set, built member by member as Redis does (so
/// integer results are intsets, ascending).
fn union_diff(ctx: &mut Ctx, keys: &[Bytes], op: Op) -> Result<Set, CmdError> {
    check_keys(ctx, keys)?;
    let lim = ctx.srv.ks.limits;
    let sets = sets_of(ctx, keys);
    let mut result = Set::new();
    match op {
        Op::Union => {
            for s in sets.iter().flatten() {
                s.for_each(|m| {
                    m.with(|b| result.add(b, &lim));
                });
            }
        }
        Op::Diff => {
            let Some(first) = sets[0] else {
                return Ok(result);
            };
            // The first key named again: the difference is empty.
            if keys[1..].iter().any(|k| *k == keys[0]) {
                return Ok(result);
            }
            let others: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
            first.for_each(|m| {
                if !others.iter().any(|s| s.contains_member(&m)) {
                    m.with(|b| result.add(b, &lim));
                }
            });
        }
    }
    Ok(result)
}

/// SUNION key [key ...]
pub fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(set_reply(&union_diff(ctx, &args[1..], Op::Union)?))
}

/// SUNIONSTORE destination key [key ...]
pub fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let s = union_diff(ctx, &args[2..], Op::Union)?;
    store(ctx, &args[1], s, "sunionstore")
}

/// SDIFF key [key ...]
pub fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(set_reply(&union_diff(ctx, &args[1..], Op::Diff)?))
}

/// SDIFFSTORE destination key [key ...]
pub fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let s = union_diff(ctx, &args[2..], Op::Diff)?;
    store(ctx, &args[1], s, "sdiffstore")
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
pub fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut cursor = parse_cursor(&args[2])?;
    let Some(s) = collection::read::<Set>(ctx, &args[1])? else {
        return Ok(empty_scan());
    };
    let ScanOpts {
        count,
        pattern: pat,
        ..
    } = parse_scan_opts(args, 3, false)?;
    let mut items: Vec<SmallBytes> = Vec::new();
    if s.is_table() {
        let mut budget = count.saturating_mul(10);
        loop {
            cursor = s.scan(cursor, |m| items.push(m.to_small()));
            if cursor == 0 || budget == 0 || items.len() >= count {
                break;
            }
            budget -= 1;
        }
    } else {
        cursor = s.scan(0, |m| items.push(m.to_small()));
    }
    Ok(scan_reply(
        cursor,
        items
            .into_iter()
            .filter(|m| matches(pat, m.as_slice()))
            .map(Reply::Value)
            .collect(),
    ))
}
