//! String commands (Redis's t_string.c): GET, SET and its variants,
//! counters, ranges, APPEND and LCS.

use super::{Ctx, arg_i64, is};
use crate::config::notify;
use crate::db::{Entry, Lookup, SmallBytes, StrEnc, Value};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use bytes::Bytes;

/// Reads a string for a read command: None if missing, WRONGTYPE otherwise.
fn read_str<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Entry>, CmdError> {
    let opt = Lookup {
        no_touch: ctx.client.no_touch,
    };
    match ctx.srv.ks.lookup_read(ctx.client.db, key, ctx.now, opt) {
        None => Ok(None),
        Some(e) => match e.value {
            Value::Str(_) => Ok(Some(e)),
            _ => Err(CmdError::wrong_type()),
        },
    }
}

/// The string stored at `key` for a write command.
fn write_str<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Entry>, CmdError> {
    match ctx.srv.ks.lookup_write(ctx.client.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value {
            Value::Str(_) => Ok(Some(e)),
            _ => Err(CmdError::wrong_type()),
        },
    }
}

/// The string of an entry already checked to be a string.
fn str_of(e: &Entry) -> &SmallBytes {
    match &e.value {
        Value::Str(s) => s,
        _ => unreachable!("read_str/write_str return strings only"),
    }
}

/// GET key
pub fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(match read_str(ctx, &args[1])? {
        Some(e) => Reply::Value(str_of(e).clone()),
        None => Reply::Nil,
    })
}

/// Expiry given to SET/GETEX, before conversion to an absolute time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireUnit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

#[derive(Default)]
struct SetOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireUnit, &'a [u8])>,
}

/// Redis's `parseExtendedStringArgumentsOrReply` for SET (`is_set`) and GETEX.
fn parse_set_opts(args: &[Bytes], from: usize, is_set: bool) -> Result<SetOpts<'_>, CmdError> {
    let mut o = SetOpts::default();
    let mut j = from;
    while j < args.len() {
        let a = &args[j][..];
        let next = args.get(j + 1);
        let has_exp = o.expire.is_some();
        if is(a, "nx") && !o.xx && is_set {
            o.nx = true;
        } else if is(a, "xx") && !o.nx && is_set {
            o.xx = true;
        } else if is(a, "get") && is_set {
            o.get = true;
        } else if is(a, "keepttl") && !o.persist && !has_exp && is_set {
            o.keepttl = true;
        } else if is(a, "persist") && !is_set && !has_exp && !o.keepttl {
            o.persist = true;
        } else if let (Some(unit), Some(n)) = (
            [
                ("ex", ExpireUnit::Ex),
                ("px", ExpireUnit::Px),
                ("exat", ExpireUnit::ExAt),
                ("pxat", ExpireUnit::PxAt),
            ]
            .iter()
            .find(|(name, _)| is(a, name))
            .map(|(_, u)| *u),
            next,
        ) {
            // Repeating the same unit is allowed (the last wins), as in Redis.
            if o.keepttl || o.persist || o.expire.is_some_and(|(u, _)| u != unit) {
                return Err(CmdError::syntax());
            }
            o.expire = Some((unit, &n[..]));
            j += 1;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    Ok(o)
}

/// Converts a user expire to absolute Unix ms (Redis's `getExpireMillisecondsOrReply`).
fn expire_ms(unit: ExpireUnit, raw: &[u8], now: i64, cmd: &str) -> Result<i64, CmdError> {
    let v = arg_i64(raw)?;
    let seconds = matches!(unit, ExpireUnit::Ex | ExpireUnit::ExAt);
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(CmdError::invalid_expire(cmd));
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if matches!(unit, ExpireUnit::Ex | ExpireUnit::Px) {
        ms = ms
            .checked_add(now)
            .ok_or_else(|| CmdError::invalid_expire(cmd))?;
    }
    if ms <= 0 {
        return Err(CmdError::invalid_expire(cmd));
    }
    Ok(ms)
}

/// Shared body of SET/SETNX/SETEX/PSETEX: stores unless NX/XX say no.
/// Returns whether the value was stored.
fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    val: &Bytes,
    nx: bool,
    xx: bool,
    keepttl: bool,
    expire: Option<i64>,
) -> bool {
    let db = ctx.client.db;
    let found = ctx.srv.ks.lookup_write(db, key, ctx.now).is_some();
    if (nx && found) || (xx && !found) {
        return false;
    }
    ctx.srv.ks.set(
        db,
        key,
        Value::Str(SmallBytes::from_bytes(val)),
        keepttl,
        ctx.now,
    );
    ctx.notify(notify::STRING, "set", key);
    if let Some(when) = expire {
        ctx.srv.ks.set_expire(db, key, when);
        ctx.notify(notify::GENERIC, "expire", key);
        // A relative TTL is logged as its absolute deadline.
        if ctx.propagating() {
            ctx.propagate(vec![
                Bytes::from_static(b"SET"),
                Bytes::copy_from_slice(key),
                val.clone(),
                Bytes::from_static(b"PXAT"),
                Bytes::from(when.to_string()),
            ]);
        }
    }
    true
}

/// SET's key flags depend on its GET option (Redis's `setGetKeys`): with
/// GET the old value is read (RW, access), without it only overwritten.
pub fn set_key_flags(args: &[Bytes], _: u32) -> u32 {
    use super::ks;
    if args.iter().skip(3).any(|a| is(a, "get")) {
        ks::RW | ks::ACCESS | ks::UPDATE
    } else {
        ks::OW | ks::UPDATE
    }
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
pub fn set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let o = parse_set_opts(args, 3, true)?;
    let expire = match o.expire {
        Some((u, raw)) => Some(expire_ms(u, raw, ctx.now, "set")?),
        None => None,
    };
    let old = if o.get {
        Some(match read_str(ctx, &args[1]) {
            Ok(Some(e)) => Reply::Value(str_of(e).clone()),
            Ok(None) => Reply::Nil,
            Err(e) => return Err(e),
        })
    } else {
        None
    };
    let stored = set_generic(ctx, &args[1], &args[2], o.nx, o.xx, o.keepttl, expire);
    Ok(match old {
        Some(r) => r,
        None if stored => Reply::Ok,
        None => Reply::Nil,
    })
}

/// SETNX key value
pub fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        set_generic(ctx, &args[1], &args[2], true, false, false, None) as i64,
    ))
}

/// SETEX key seconds value / PSETEX key ms value
pub fn setex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (unit, name) = if is(&args[0], "setex") {
        (ExpireUnit::Ex, "setex")
    } else {
        (ExpireUnit::Px, "psetex")
    };
    let when = expire_ms(unit, &args[2], ctx.now, name)?;
    set_generic(ctx, &args[1], &args[3], false, false, false, Some(when));
    Ok(Reply::Ok)
}

/// GETSET key value
pub fn getset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let old = match read_str(ctx, &args[1])? {
        Some(e) => Reply::Value(str_of(e).clone()),
        None => Reply::Nil,
    };
    set_generic(ctx, &args[1], &args[2], false, false, false, None);
    if ctx.propagating() {
        ctx.propagate(vec![
            Bytes::from_static(b"SET"),
            args[1].clone(),
            args[2].clone(),
        ]);
    }
    Ok(old)
}

/// GETDEL key
pub fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let old = match read_str(ctx, &args[1])? {
        Some(e) => Reply::Value(str_of(e).clone()),
        None => return Ok(Reply::Nil),
    };
    ctx.srv.ks.delete(ctx.client.db, &args[1], ctx.now);
    ctx.notify(notify::GENERIC, "del", &args[1]);
    if ctx.propagating() {
        ctx.propagate(del_effect(ctx.srv.config.lazyfree_lazy_user_del, &args[1]));
    }
    Ok(old)
}

/// `DEL key`, or `UNLINK key` when `lazy`: how a deletion is logged.
pub fn del_effect(lazy: bool, key: &Bytes) -> Vec<Bytes> {
    let name: &'static [u8] = if lazy { b"UNLINK" } else { b"DEL" };
    vec![Bytes::from_static(name), key.clone()]
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
pub fn getex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let o = parse_set_opts(args, 2, false)?;
    let val = match read_str(ctx, &args[1])? {
        Some(e) => str_of(e).clone(),
        None => return Ok(Reply::Nil),
    };
    let db = ctx.client.db;
    if let Some((unit, raw)) = o.expire {
        let when = expire_ms(unit, raw, ctx.now, "getex")?;
        if matches!(unit, ExpireUnit::ExAt | ExpireUnit::PxAt) && when <= ctx.now {
            ctx.srv.ks.delete(db, &args[1], ctx.now);
            ctx.notify(notify::GENERIC, "del", &args[1]);
            if ctx.propagating() {
                ctx.propagate(del_effect(ctx.srv.config.lazyfree_lazy_expire, &args[1]));
            }
        } else {
            ctx.srv.ks.set_expire(db, &args[1], when);
            ctx.notify(notify::GENERIC, "expire", &args[1]);
            if ctx.propagating() {
                ctx.propagate(vec![
                    Bytes::from_static(b"PEXPIREAT"),
                    args[1].clone(),
                    Bytes::from(when.to_string()),
                ]);
            }
        }
    } else if o.persist && ctx.srv.ks.persist(db, &args[1]) {
        ctx.notify(notify::GENERIC, "persist", &args[1]);
        if ctx.propagating() {
            ctx.propagate(vec![Bytes::from_static(b"PERSIST"), args[1].clone()]);
        }
    }
    Ok(Reply::Value(val))
}

/// MGET key [key ...]
pub fn mget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opt = Lookup {
        no_touch: ctx.client.no_touch,
    };
    let db = ctx.client.db;
    let out = args[1..]
        .iter()
        .map(|k| match ctx.srv.ks.lookup_read(db, k, ctx.now, opt) {
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => Reply::Value(s.clone()),
            _ => Reply::Nil,
        })
        .collect();
    Ok(Reply::Array(out))
}

/// MSET key value [key value ...]
pub fn mset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::arity("mset"));
    }
    for kv in args[1..].chunks(2) {
        set_generic(ctx, &kv[0], &kv[1], false, false, false, None);
    }
    Ok(Reply::Ok)
}

/// MSETNX key value [key value ...]
pub fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::arity("msetnx"));
    }
    let db = ctx.client.db;
    for kv in args[1..].chunks(2) {
        if ctx.srv.ks.lookup_write(db, &kv[0], ctx.now).is_some() {
            return Ok(Reply::Int(0));
        }
    }
    for kv in args[1..].chunks(2) {
        set_generic(ctx, &kv[0], &kv[1], false, false, false, None);
    }
    Ok(Reply::Int(1))
}

/// Redis's `checkStringLength`.
fn check_len(ctx: &Ctx, size: u64, append: u64) -> Result<(), CmdError> {
    match size.checked_add(append) {
        Some(t) if t <= ctx.srv.config.proto_max_bulk_len => Ok(()),
        _ => Err(CmdError::too_big()),
    }
}

/// Replaces a string in place, keeping its TTL, marking it modified.
fn store_modified(ctx: &mut Ctx, key: &[u8], v: Vec<u8>) {
    let db = ctx.client.db;
    match ctx.srv.ks.lookup_write(db, key, ctx.now) {
        Some(e) => {
            e.value = Value::Str(SmallBytes::from_vec(v));
            e.enc = StrEnc::Raw;
            ctx.srv.ks.stats.dirty += 1;
        }
        None => {
            ctx.srv
                .ks
                .set(db, key, Value::Str(SmallBytes::from_vec(v)), false, ctx.now);
            if let Some(e) = ctx.srv.ks.lookup_write(db, key, ctx.now) {
                e.enc = StrEnc::Raw;
            }
        }
    }
}

/// APPEND key value
pub fn append(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cur = write_str(ctx, &args[1])?.map(|e| str_of(e).as_slice().to_vec());
    match cur {
        None => {
            let db = ctx.client.db;
            ctx.srv.ks.set(
                db,
                &args[1],
                Value::Str(SmallBytes::from_bytes(&args[2])),
                false,
                ctx.now,
            );
            ctx.notify(notify::STRING, "append", &args[1]);
            Ok(Reply::Int(args[2].len() as i64))
        }
        Some(mut v) => {
            check_len(ctx, v.len() as u64, args[2].len() as u64)?;
            v.extend_from_slice(&args[2]);
            let n = v.len();
            store_modified(ctx, &args[1], v);
            ctx.notify(notify::STRING, "append", &args[1]);
            Ok(Reply::Int(n as i64))
        }
    }
}

/// STRLEN key
pub fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        read_str(ctx, &args[1])?.map_or(0, |e| str_of(e).len() as i64),
    ))
}

/// GETRANGE key start end (and SUBSTR)
pub fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut start = arg_i64(&args[2])?;
    let mut end = arg_i64(&args[3])?;
    let Some(e) = read_str(ctx, &args[1])? else {
        return Ok(Reply::bulk(b""));
    };
    let s = str_of(e).as_slice();
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::bulk(b""));
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(Reply::bulk(b""));
    }
    Ok(Reply::bulk(&s[start as usize..=end as usize]))
}

/// SETRANGE key offset value
pub fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let offset = arg_i64(&args[2])?;
    if offset < 0 {
        return Err(CmdError::offset_range());
    }
    let val = &args[3];
    let cur = write_str(ctx, &args[1])?.map(|e| str_of(e).as_slice().to_vec());
    let mut v = match cur {
        None => {
            if val.is_empty() {
                return Ok(Reply::Int(0));
            }
            check_len(ctx, offset as u64, val.len() as u64)?;
            Vec::new()
        }
        Some(v) => {
            if val.is_empty() {
                return Ok(Reply::Int(v.len() as i64));
            }
            check_len(ctx, offset as u64, val.len() as u64)?;
            v
        }
    };
    let end = offset as usize + val.len();
    if v.len() < end {
        v.resize(end, 0);
    }
    v[offset as usize..end].copy_from_slice(val);
    let n = v.len();
    store_modified(ctx, &args[1], v);
    ctx.notify(notify::STRING, "setrange", &args[1]);
    Ok(Reply::Int(n as i64))
}

/// INCR, DECR, INCRBY, DECRBY
pub fn incr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let name = &args[0];
    let by = if is(name, "incr") {
        1
    } else if is(name, "decr") {
        -1
    } else if is(name, "incrby") {
        arg_i64(&args[2])?
    } else {
        let d = arg_i64(&args[2])?;
        if d == i64::MIN {
            return Err(CmdError::msg("ERR decrement would overflow"));
        }
        -d
    };
    let cur = match write_str(ctx, &args[1])? {
        None => 0,
        Some(e) => super::args::arg_i64(str_of(e).as_slice())?,
    };
    let new = cur.checked_add(by).ok_or_else(CmdError::overflow)?;
    let mut buf = [0u8; 20];
    let digits = crate::util::num::fmt_i64(new, &mut buf);
    let db = ctx.client.db;
    match ctx.srv.ks.lookup_write(db, &args[1], ctx.now) {
        Some(e) => {
            e.value = Value::Str(SmallBytes::new(digits));
            e.enc = StrEnc::Auto;
            ctx.srv.ks.stats.dirty += 1;
        }
        None => ctx.srv.ks.set(
            db,
            &args[1],
            Value::Str(SmallBytes::new(digits)),
            false,
            ctx.now,
        ),
    }
    ctx.notify(notify::STRING, "incrby", &args[1]);
    Ok(Reply::Int(new))
}

/// INCRBYFLOAT key increment (long double arithmetic, as Redis).
pub fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cur = write_str(ctx, &args[1])?.map(|e| str_of(e).as_slice().to_vec());
    let out =
        crate::util::longdouble::incrbyfloat(cur.as_deref(), &args[2]).map_err(|e| match e {
            crate::util::longdouble::Error::NotFloat => CmdError::not_float(),
            crate::util::longdouble::Error::NanOrInf => {
                CmdError::msg("ERR increment would produce NaN or Infinity")
            }
        })?;
    let db = ctx.client.db;
    let keep = ctx.srv.ks.lookup_write(db, &args[1], ctx.now).is_some();
    ctx.srv.ks.set(
        db,
        &args[1],
        Value::Str(SmallBytes::new(&out)),
        keep,
        ctx.now,
    );
    if let Some(e) = ctx.srv.ks.lookup_write(db, &args[1], ctx.now) {
        e.enc = StrEnc::NoInt;
    }
    ctx.notify(notify::STRING, "incrbyfloat", &args[1]);
    let out = Bytes::from(out);
    // The result, not the increment: float formatting must not differ
    // where the effect is replayed.
    if ctx.propagating() {
        ctx.propagate(vec![
            Bytes::from_static(b"SET"),
            args[1].clone(),
            out.clone(),
            Bytes::from_static(b"KEEPTTL"),
        ]);
    }
    Ok(Reply::Bulk(out))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
pub fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opt = Lookup {
        no_touch: ctx.client.no_touch,
    };
    let db = ctx.client.db;
    let mut fetch = |k: &[u8]| -> Option<Vec<u8>> {
        match ctx.srv.ks.lookup_read(db, k, ctx.now, opt) {
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => Some(s.as_slice().to_vec()),
            None => Some(Vec::new()),
            Some(_) => None,
        }
    };
    let (Some(a), Some(b)) = (fetch(&args[1]), fetch(&args[2])) else {
        return Err(CmdError::msg(
            "ERR The specified keys must contain string values",
        ));
    };
    let (mut getidx, mut getlen, mut withmatchlen, mut minmatchlen) = (false, false, false, 0i64);
    let mut j = 3;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let o = &args[j];
        if is(o, "idx") {
            getidx = true;
        } else if is(o, "len") {
            getlen = true;
        } else if is(o, "withmatchlen") {
            withmatchlen = true;
        } else if is(o, "minmatchlen") && more > 0 {
            minmatchlen = arg_i64(&args[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    if getidx && getlen {
        return Err(CmdError::msg(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > ctx.srv.config.proto_max_bulk_len {
        return Err(CmdError::msg(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let w = blen + 1;
    let mut t = vec![0u32; cells as usize];
    for i in 1..=alen {
        for jj in 1..=blen {
            t[i * w + jj] = if a[i - 1] == b[jj - 1] {
                t[(i - 1) * w + jj - 1] + 1
            } else {
                t[(i - 1) * w + jj].max(t[i * w + jj - 1])
            };
        }
    }
    let total = t[alen * w + blen] as usize;
    let computelcs = getidx || !getlen;
    let mut result = vec![0u8; if computelcs { total } else { 0 }];
    let mut idx = total;
    let mut matches = Vec::new();
    let (mut ars, mut are, mut brs, mut bre) = (alen, 0usize, 0usize, 0usize);
    let (mut i, mut jj) = (alen, blen);
    while computelcs && i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            if ars == alen {
                ars = i - 1;
                are = i - 1;
                brs = jj - 1;
                bre = jj - 1;
            } else if ars == i && brs == jj {
                ars -= 1;
                brs -= 1;
            } else {
                emit = true;
            }
            if ars == 0 || brs == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            if t[(i - 1) * w + jj] > t[i * w + jj - 1] {
                i -= 1;
            } else {
                jj -= 1;
            }
            if ars != alen {
                emit = true;
            }
        }
        let mlen = (are as i64) - (ars as i64) + 1;
        if emit {
            if (minmatchlen == 0 || mlen >= minmatchlen) && getidx {
                let mut m = vec![
                    Reply::Array(vec![Reply::Int(ars as i64), Reply::Int(are as i64)]),
                    Reply::Array(vec![Reply::Int(brs as i64), Reply::Int(bre as i64)]),
                ];
                if withmatchlen {
                    m.push(Reply::Int(mlen));
                }
                matches.push(Reply::Array(m));
            }
            ars = alen;
        }
    }
    Ok(if getidx {
        Reply::Map(vec![
            (Reply::bulk_static("matches"), Reply::Array(matches)),
            (Reply::bulk_static("len"), Reply::Int(total as i64)),
        ])
    } else if getlen {
        Reply::Int(total as i64)
    } else {
        Reply::Bulk(Bytes::from(result))
    })
}
