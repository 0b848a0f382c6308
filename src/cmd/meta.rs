//! Redis's own command metadata (ACL categories, tips, key specifications,
//! and the argument docs `redis-cli` uses for hints), captured from Redis
//! 7.0 with `tools/capture-command-meta.py` and parsed once on first use.
//!
//! forkv's table stays authoritative for what it implements; this only
//! supplies descriptive fields so `COMMAND INFO` and `COMMAND DOCS` match
//! Redis byte for byte.

use crate::protocol::Reply;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::OnceLock;

static INFO: &[u8] = include_bytes!("meta/info.resp3");
static DOCS: &[u8] = include_bytes!("meta/docs.resp3");

/// Commands added after Redis 7.0 (the capture's version); their COMMAND
/// INFO/DOCS entries are built from the table alone.
pub const NEWER_THAN_CAPTURE: &[&str] = &["client|setinfo", "client|no-touch"];

/// Parsed metadata, by lowercase full command name (`config|get`).
pub struct Meta {
    /// COMMAND INFO entries.
    pub info: HashMap<String, Vec<Reply>>,
    /// COMMAND DOCS entries (the map of one command).
    pub docs: HashMap<String, Reply>,
}

/// The metadata.
pub fn meta() -> &'static Meta {
    static META: OnceLock<Meta> = OnceLock::new();
    META.get_or_init(|| {
        let mut info = HashMap::new();
        if let Some((Reply::Array(items), _)) = parse(INFO) {
            for item in items {
                collect_info(item, &mut info);
            }
        }
        let mut docs = HashMap::new();
        if let Some((Reply::Map(pairs), _)) = parse(DOCS) {
            for (k, v) in pairs {
                collect_docs(&k, v, &mut docs, None);
            }
        }
        Meta { info, docs }
    })
}

fn text(r: &Reply) -> Option<String> {
    match r {
        Reply::Bulk(b) | Reply::Status(b) => Some(String::from_utf8_lossy(b).to_lowercase()),
        _ => None,
    }
}

fn collect_info(item: Reply, out: &mut HashMap<String, Vec<Reply>>) {
    let Reply::Array(fields) = item else { return };
    let Some(name) = fields.first().and_then(text) else {
        return;
    };
    if let Some(Reply::Array(subs)) = fields.get(9) {
        for s in subs.clone() {
            collect_info(s, out);
        }
    }
    out.insert(name, fields);
}

fn collect_docs(key: &Reply, v: Reply, out: &mut HashMap<String, Reply>, parent: Option<&str>) {
    let Some(name) = text(key) else { return };
    let full = match parent {
        Some(p) if !name.contains('|') => format!("{p}|{name}"),
        _ => name,
    };
    if let Reply::Map(fields) = &v {
        for (k, sub) in fields {
            if text(k).as_deref() == Some("subcommands")
                && let Reply::Map(subs) = sub
            {
                for (sk, sv) in subs {
                    collect_docs(sk, sv.clone(), out, Some(&full));
                }
            }
        }
    }
    out.insert(full, v);
}

/// Parses one RESP3 value from `b`; returns it and the bytes consumed.
/// Only used on the embedded, trusted capture, but still never panics.
pub fn parse(b: &[u8]) -> Option<(Reply, usize)> {
    let nl = b.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&b[1..nl]).ok()?;
    let mut pos = nl + 2;
    let agg = |n: usize, pos: &mut usize| -> Option<Vec<Reply>> {
        let mut v = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            let (r, used) = parse(&b[*pos..])?;
            *pos += used;
            v.push(r);
        }
        Some(v)
    };
    let r = match *b.first()? {
        b'+' => Reply::Status(Bytes::copy_from_slice(line.as_bytes())),
        b'-' => Reply::Error(line.to_string()),
        b':' => Reply::Int(line.parse().ok()?),
        b'_' => Reply::Nil,
        b'#' => Reply::Bool(line == "t"),
        b',' => Reply::Double(line.parse().ok()?),
        b'$' => {
            let n: usize = line.parse().ok()?;
            let s = b.get(pos..pos + n)?;
            pos += n + 2;
            Reply::Bulk(Bytes::copy_from_slice(s))
        }
        b'*' => Reply::Array(agg(line.parse().ok()?, &mut pos)?),
        b'~' => Reply::Set(agg(line.parse().ok()?, &mut pos)?),
        b'%' => {
            let n: usize = line.parse().ok()?;
            let flat = agg(n * 2, &mut pos)?;
            let mut pairs = Vec::with_capacity(n);
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Reply::Map(pairs)
        }
        _ => return None,
    };
    Some((r, pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{flags, table};

    fn int(r: &Reply) -> i64 {
        match r {
            Reply::Int(i) => *i,
            _ => panic!("not an int: {r:?}"),
        }
    }

    /// Commands whose arity grew after Redis 7.0: ZRANK/ZREVRANK take 7.2's
    /// optional WITHSCORE.
    const ARITY_AFTER_CAPTURE: &[(&str, i32)] = &[("zrank", -3), ("zrevrank", -3)];

    /// The table must agree with Redis on everything clients rely on.
    #[test]
    fn table_matches_redis_metadata() {
        let m = meta();
        assert!(m.info.len() > 200, "capture parsed");
        for c in table()
            .cmds
            .iter()
            .filter(|c| !NEWER_THAN_CAPTURE.contains(&c.name))
        {
            let info = m
                .info
                .get(c.name)
                .unwrap_or_else(|| panic!("no metadata for {}", c.name));
            let arity = ARITY_AFTER_CAPTURE
                .iter()
                .find(|(n, _)| *n == c.name)
                .map_or(int(&info[1]), |&(_, a)| {
                    assert_eq!(a, c.arity, "arity of {}", c.name);
                    a as i64
                });
            assert_eq!(arity, c.arity as i64, "arity of {}", c.name);
            let Reply::Set(fl) = &info[2] else { panic!() };
            let names: Vec<String> = fl.iter().filter_map(text).collect();
            let ours: Vec<&str> = flags::NAMES
                .iter()
                .filter(|(b, _)| c.flags & b != 0)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(names, ours, "flags of {}", c.name);
            assert_eq!(int(&info[3]), c.first_key as i64, "first key of {}", c.name);
            assert_eq!(int(&info[4]), c.last_key as i64, "last key of {}", c.name);
            assert_eq!(int(&info[5]), c.step as i64, "step of {}", c.name);
            assert!(m.docs.contains_key(c.name), "docs of {}", c.name);
        }
    }
}
