//! Redis's command documentation (summaries, groups, and the argument
//! trees `redis-cli` uses for hints), captured from Redis 7.0 with
//! `tools/capture-command-meta.py` and parsed once, on the first COMMAND
//! DOCS. It is descriptive only: nothing on the command path reads it.
//! The metadata the pipeline uses (flags, categories, key specs) is typed
//! and generated at build time (see [`super::spec`]).

use crate::protocol::Reply;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::OnceLock;

static DOCS: &[u8] = include_bytes!("meta/docs.resp3");

/// COMMAND DOCS entries (the map of one command), by lowercase full name
/// (`config|get`).
pub fn docs() -> &'static HashMap<String, Reply> {
    static DOCS_MAP: OnceLock<HashMap<String, Reply>> = OnceLock::new();
    DOCS_MAP.get_or_init(|| {
        let mut docs = HashMap::new();
        if let Some((Reply::Map(pairs), _)) = parse(DOCS) {
            for (k, v) in pairs {
                collect_docs(&k, v, &mut docs, None);
            }
        }
        docs
    })
}

fn text(r: &Reply) -> Option<String> {
    match r {
        Reply::Bulk(b) | Reply::Status(b) => Some(String::from_utf8_lossy(b).to_lowercase()),
        _ => None,
    }
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
    use crate::cmd::table;

    /// Commands added after Redis 7.0 (the capture's version) have no docs
    /// entry; COMMAND DOCS builds theirs from the table alone.
    const NEWER_THAN_CAPTURE: &[&str] = &["client|setinfo", "client|no-touch"];

    #[test]
    fn every_command_has_docs() {
        let d = docs();
        for c in &table().cmds {
            assert!(
                d.contains_key(c.name) || NEWER_THAN_CAPTURE.contains(&c.name),
                "docs of {}",
                c.name
            );
        }
    }
}
