//! Generic key commands (Redis's db.c and expire.c): DEL, EXISTS, TYPE,
//! RENAME, COPY, MOVE, KEYS, SCAN, RANDOMKEY, TOUCH, OBJECT and the expiry
//! family.

use super::{Ctx, arg_i64, is};
use crate::config::notify;
use crate::db::{Lookup, Value};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::util::glob::glob_match;
use bytes::Bytes;

/// DEL key [key ...] (and UNLINK)
pub fn del(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.client.db;
    let mut n = 0;
    for k in &args[1..] {
        if ctx.srv.ks.delete(db, k, ctx.now) {
            // Only the keys that existed changed (WATCH, tracking).
            ctx.srv.key_modified(Some(ctx.client), db, k);
            ctx.notify(notify::GENERIC, "del", k);
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

/// EXISTS key [key ...]
pub fn exists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.client.db;
    let opt = Lookup { no_touch: true };
    let n = args[1..]
        .iter()
        .filter(|k| ctx.srv.ks.lookup_read(db, k, ctx.now, opt).is_some())
        .count();
    Ok(Reply::Int(n as i64))
}

/// TYPE key
pub fn type_(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.client.db;
    let opt = Lookup { no_touch: true };
    Ok(Reply::status(
        match ctx.srv.ks.lookup_read(db, &args[1], ctx.now, opt) {
            Some(e) => e.value.type_name(),
            None => "none",
        },
    ))
}

fn rename_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> CmdResult {
    let db = ctx.client.db;
    if ctx.srv.ks.lookup_write(db, &args[1], ctx.now).is_none() {
        return Err(CmdError::no_such_key());
    }
    if args[1] == args[2] {
        return Ok(if nx { Reply::Int(0) } else { Reply::Ok });
    }
    if ctx.srv.ks.lookup_write(db, &args[2], ctx.now).is_some() {
        if nx {
            return Ok(Reply::Int(0));
        }
        ctx.srv.ks.remove(db, &args[2]);
    }
    if let Some((entry, ttl)) = ctx.srv.ks.remove(db, &args[1]) {
        ctx.srv.ks.insert_entry(db, &args[2], entry, ttl);
    }
    ctx.notify(notify::GENERIC, "rename_from", &args[1]);
    ctx.notify(notify::GENERIC, "rename_to", &args[2]);
    Ok(if nx { Reply::Int(1) } else { Reply::Ok })
}

/// RENAME key newkey
pub fn rename(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, false)
}

/// RENAMENX key newkey
pub fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, true)
}

/// Parses a database number as SELECT does; errors as Redis words them.
fn db_index(ctx: &Ctx, raw: &[u8]) -> Result<usize, CmdError> {
    let id = arg_i64(raw)?;
    if id < 0 || id >= ctx.srv.ks.db_count() as i64 {
        return Err(CmdError::db_out_of_range());
    }
    Ok(id as usize)
}

/// COPY source destination [DB destination-db] [REPLACE]
pub fn copy(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let src = ctx.client.db;
    let mut dst = src;
    let mut replace = false;
    let mut j = 3;
    while j < args.len() {
        if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "db") && j + 1 < args.len() {
            let id = arg_i64(&args[j + 1])?;
            if id < 0 || id >= ctx.srv.ks.db_count() as i64 {
                return Err(CmdError::db_out_of_range());
            }
            dst = id as usize;
            j += 1;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    if src == dst && args[1] == args[2] {
        return Err(CmdError::same_object());
    }
    let opt = Lookup::default();
    let Some(mut entry) = ctx.srv.ks.lookup_read(src, &args[1], ctx.now, opt).cloned() else {
        return Ok(Reply::Int(0));
    };
    // The copy is a new object with fresh access data, as in Redis.
    entry.lru = ctx.srv.ks.initial_lru(ctx.now);
    let ttl = ctx.srv.ks.get_expire(src, &args[1]);
    if ctx.srv.ks.lookup_write(dst, &args[2], ctx.now).is_some() {
        if !replace {
            return Ok(Reply::Int(0));
        }
        ctx.srv.ks.remove(dst, &args[2]);
    }
    ctx.srv.ks.insert_entry(dst, &args[2], entry, ttl);
    ctx.notify_in(dst, notify::GENERIC, "copy_to", &args[2]);
    Ok(Reply::Int(1))
}

/// MOVE key db
pub fn move_(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let id = arg_i64(&args[2])?;
    if id < i32::MIN as i64 || id > i32::MAX as i64 {
        return Err(CmdError::int_range());
    }
    let src = ctx.client.db;
    let dst = db_index(ctx, &args[2])?;
    if src == dst {
        return Err(CmdError::same_object());
    }
    if ctx.srv.ks.lookup_write(src, &args[1], ctx.now).is_none() {
        return Ok(Reply::Int(0));
    }
    if ctx.srv.ks.lookup_write(dst, &args[1], ctx.now).is_some() {
        return Ok(Reply::Int(0));
    }
    if let Some((entry, ttl)) = ctx.srv.ks.remove(src, &args[1]) {
        ctx.srv.ks.insert_entry(dst, &args[1], entry, ttl);
    }
    ctx.notify_in(src, notify::GENERIC, "move_from", &args[1]);
    ctx.notify_in(dst, notify::GENERIC, "move_to", &args[1]);
    Ok(Reply::Int(1))
}

/// KEYS pattern
pub fn keys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = &ctx.srv.ks.dbs[ctx.client.db];
    let pat = &args[1][..];
    let all = pat == b"*";
    // Only keys with a TTL can have expired: skip the lookups otherwise.
    let ttls = db.expires_len() > 0;
    let mut out = Vec::new();
    // In bucket order with the entries prefetched ahead (the snapshot
    // writer's walk), rather than SCAN's bit-reversed cursor order, which
    // costs a cache miss per bucket on top of the one per key. The loop
    // does not change the table, so every key is seen once.
    db.table().for_each(|n| {
        let k = n.key.as_slice();
        if (all || glob_match(pat, k, false))
            && (!ttls || db.deadlines().get(k).is_none_or(|e| e.value > ctx.now))
        {
            out.push(Reply::bulk(k));
        }
    });
    Ok(Reply::Array(out))
}

/// Parses a SCAN cursor like Redis's `strtoul` check.
pub fn parse_cursor(raw: &[u8]) -> Result<u64, CmdError> {
    let err = || CmdError::msg("ERR invalid cursor");
    let s = std::str::from_utf8(raw).map_err(|_| err())?;
    if s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(err());
    }
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return if s.is_empty() { Ok(0) } else { Err(err()) };
    }
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(err());
    }
    let v: u64 = digits.parse().map_err(|_| err())?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
pub fn scan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut cursor = parse_cursor(&args[1])?;
    let super::set::ScanOpts {
        count,
        pattern: pat,
        type_name: typ,
    } = super::set::parse_scan_opts(args, 2, true)?;
    let dbi = ctx.client.db;
    let mut keys = Vec::new();
    {
        let db = &ctx.srv.ks.dbs[dbi];
        let mut budget = count.saturating_mul(10);
        loop {
            cursor = db.table().scan(cursor, |n| {
                let k = n.key.as_slice();
                if pat.is_some_and(|p| !glob_match(p, k, false)) {
                    return;
                }
                if typ
                    .is_some_and(|t| !t.eq_ignore_ascii_case(n.value.value.type_name().as_bytes()))
                {
                    return;
                }
                keys.push(n.key.clone());
            });
            budget -= 1;
            if cursor == 0 || budget == 0 || keys.len() >= count {
                break;
            }
        }
    }
    let now = ctx.now;
    let out: Vec<Reply> = keys
        .into_iter()
        .filter(|k| !ctx.srv.ks.expire_if_needed(dbi, k.as_slice(), now))
        .map(|k| Reply::bulk(k.as_slice()))
        .collect();
    Ok(Reply::Array(vec![
        Reply::bulk_string(cursor.to_string()),
        Reply::Array(out),
    ]))
}

/// RANDOMKEY
pub fn randomkey(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(match ctx.srv.ks.random_key(ctx.client.db, ctx.now) {
        Some(k) => Reply::bulk(k.as_slice()),
        None => Reply::Nil,
    })
}

/// TOUCH key [key ...]
pub fn touch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.client.db;
    let opt = Lookup {
        no_touch: ctx.client.no_touch,
    };
    let n = args[1..]
        .iter()
        .filter(|k| ctx.srv.ks.lookup_read(db, k, ctx.now, opt).is_some())
        .count();
    Ok(Reply::Int(n as i64))
}

fn is_lfu(ctx: &Ctx) -> bool {
    ctx.srv.ks.evict.policy.is_lfu()
}

/// Looks a key up for OBJECT without touching it or the statistics.
fn object_entry<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a crate::db::Entry> {
    ctx.srv.ks.peek(ctx.client.db, key, ctx.now)
}

/// OBJECT ENCODING key
pub fn object_encoding(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(match object_entry(ctx, &args[2]) {
        Some(e) => Reply::bulk_static(e.value.encoding(e.enc)),
        None => Reply::Nil,
    })
}

/// OBJECT FREQ key
pub fn object_freq(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lfu = is_lfu(ctx);
    let Some(e) = object_entry(ctx, &args[2]) else {
        return Ok(Reply::Nil);
    };
    if !lfu {
        return Err(CmdError::msg(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    let lru = e.lru;
    Ok(Reply::Int(ctx.srv.ks.lfu_freq(lru, ctx.now) as i64))
}

/// OBJECT IDLETIME key
pub fn object_idletime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lfu = is_lfu(ctx);
    let clock = crate::db::evict::lru_clock_at(ctx.now);
    let Some(e) = object_entry(ctx, &args[2]) else {
        return Ok(Reply::Nil);
    };
    if lfu {
        return Err(CmdError::msg(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    Ok(Reply::Int(
        (crate::db::evict::idle_ms(e.lru, clock) / 1000) as i64,
    ))
}

/// OBJECT REFCOUNT key
pub fn object_refcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let policy_lru_lfu = ctx.srv.config.maxmemory > 0
        && (ctx.srv.config.maxmemory_policy.contains("lru")
            || ctx.srv.config.maxmemory_policy.contains("lfu"));
    let Some(e) = object_entry(ctx, &args[2]) else {
        return Ok(Reply::Nil);
    };
    // Redis shares the objects of small integers and reports INT_MAX for them.
    let shared = match &e.value {
        Value::Str(s) => {
            !policy_lru_lfu
                && s.len() <= 20
                && crate::util::num::parse_i64(s.as_slice())
                    .is_some_and(|v| (0..10000).contains(&v))
        }
        _ => false,
    };
    Ok(Reply::Int(if shared { i32::MAX as i64 } else { 1 }))
}

/// OBJECT HELP
pub fn object_help(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(help_reply(
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    ))
}

/// The reply of a `<CMD> HELP` subcommand, framed as Redis frames it.
pub fn help_reply(cmd: &str, lines: &[&str]) -> Reply {
    let mut out = vec![Reply::status_owned(format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ))];
    out.extend(lines.iter().map(|l| Reply::status_owned(l.to_string())));
    out.push(Reply::status("HELP"));
    out.push(Reply::status("    Prints this help."));
    Reply::Array(out)
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX|XX|GT|LT]
pub fn expire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let name = &args[0];
    let (seconds, relative, cmd) = if is(name, "expire") {
        (true, true, "expire")
    } else if is(name, "pexpire") {
        (false, true, "pexpire")
    } else if is(name, "expireat") {
        (true, false, "expireat")
    } else {
        (false, false, "pexpireat")
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "gt") {
            gt = true;
        } else if is(opt, "lt") {
            lt = true;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::msg(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::msg(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let mut when = arg_i64(&args[2])?;
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(CmdError::invalid_expire(cmd));
        }
        when *= 1000;
    }
    let base = if relative { ctx.now } else { 0 };
    if when > i64::MAX - base {
        return Err(CmdError::invalid_expire(cmd));
    }
    when += base;
    let db = ctx.client.db;
    if ctx.srv.ks.lookup_write(db, &args[1], ctx.now).is_none() {
        return Ok(Reply::Int(0));
    }
    let cur = ctx.srv.ks.get_expire(db, &args[1]);
    if (nx && cur.is_some())
        || (xx && cur.is_none())
        || (gt && cur.is_none_or(|c| when <= c))
        || (lt && cur.is_some_and(|c| when >= c))
    {
        return Ok(Reply::Int(0));
    }
    if when <= ctx.now {
        ctx.srv.ks.remove(db, &args[1]);
        ctx.notify(notify::GENERIC, "del", &args[1]);
        let lazy = ctx.srv.config.lazyfree_lazy_expire;
        if ctx.propagating() {
            ctx.propagate(super::string::del_effect(lazy, &args[1]));
        }
    } else {
        ctx.srv.ks.set_expire(db, &args[1], when);
        ctx.notify(notify::GENERIC, "expire", &args[1]);
        // Logged with its absolute deadline; the options stay (Redis's rule).
        if ctx.propagating() {
            let mut argv = vec![
                Bytes::from_static(b"PEXPIREAT"),
                args[1].clone(),
                Bytes::from(when.to_string()),
            ];
            argv.extend_from_slice(&args[3..]);
            ctx.propagate(argv);
        }
    }
    Ok(Reply::Int(1))
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME key
pub fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let name = &args[0];
    let ms = is(name, "pttl") || is(name, "pexpiretime");
    let abs = is(name, "expiretime") || is(name, "pexpiretime");
    let db = ctx.client.db;
    let opt = Lookup { no_touch: true };
    if ctx.srv.ks.lookup_read(db, &args[1], ctx.now, opt).is_none() {
        return Ok(Reply::Int(-2));
    }
    Ok(Reply::Int(match ctx.srv.ks.get_expire(db, &args[1]) {
        None => -1,
        Some(e) => {
            let t = if abs { e } else { (e - ctx.now).max(0) };
            if ms { t } else { (t + 500) / 1000 }
        }
    }))
}

/// PERSIST key
pub fn persist(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let db = ctx.client.db;
    if ctx.srv.ks.lookup_write(db, &args[1], ctx.now).is_none() {
        return Ok(Reply::Int(0));
    }
    let removed = ctx.srv.ks.persist(db, &args[1]);
    if removed {
        ctx.notify(notify::GENERIC, "persist", &args[1]);
    }
    Ok(Reply::Int(removed as i64))
}
