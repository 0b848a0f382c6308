//! RESP on the wire, as much as the tool needs: encoding commands, the
//! commands that rebuild a value, and reading (mostly discarding) replies.

use crate::text;
use forkv::persist::format::{StreamRef, ValueRef};
use std::io::{self, BufRead, Read};

/// Most elements sent in one RPUSH/SADD/HSET/ZADD; big collections are
/// sent in several commands so no single request nears a server's limits.
const CHUNK_ITEMS: usize = 512;
/// Most payload bytes in one such command (one element may exceed it).
const CHUNK_BYTES: usize = 1 << 20;

/// Appends one command, an array of bulk strings.
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    forkv::protocol::encode_request(out, args);
}

/// Calls `emit` with the commands that create a collection value under
/// `key` (RPUSH, SADD, HSET or ZADD, in chunks; a stream's commands are
/// [`stream_commands`]). Strings and expiries are
/// left to the caller, which knows whether it wants NX, PXAT, or a DEL
/// first. An empty collection emits nothing: Redis has no empty keys.
pub fn collection_commands(key: &[u8], value: &ValueRef<'_>, emit: &mut dyn FnMut(&[&[u8]])) {
    match value {
        ValueRef::Str(_) => {}
        ValueRef::List(items) | ValueRef::Set(items) => {
            let name: &[u8] = if matches!(value, ValueRef::List(_)) {
                b"RPUSH"
            } else {
                b"SADD"
            };
            for_chunks(
                items,
                |s| s.len(),
                |chunk| {
                    let mut args = vec![name, key];
                    args.extend(chunk.iter().copied());
                    emit(&args);
                },
            );
        }
        ValueRef::Hash(pairs) => {
            for_chunks(
                pairs,
                |(f, v)| f.len() + v.len(),
                |chunk| {
                    let mut args: Vec<&[u8]> = vec![b"HSET", key];
                    for (f, v) in chunk {
                        args.push(f);
                        args.push(v);
                    }
                    emit(&args);
                },
            );
        }
        ValueRef::Stream(st) => stream_commands(key, st, emit),
        ValueRef::ZSet(pairs) => {
            for_chunks(
                pairs,
                |(m, _)| m.len() + 8,
                |chunk| {
                    let scores: Vec<String> = chunk.iter().map(|(_, s)| text::score(*s)).collect();
                    let mut args: Vec<&[u8]> = vec![b"ZADD", key];
                    for ((m, _), s) in chunk.iter().zip(&scores) {
                        args.push(s.as_bytes());
                        args.push(m);
                    }
                    emit(&args);
                },
            );
        }
    }
}

/// What RESP commands cannot carry over of a stream: tombstones (and so
/// the block layout), consumers' seen times, and pending entries whose
/// entry was deleted (XCLAIM drops those). One line each, empty when all
/// of it is carried.
pub fn stream_losses(st: &StreamRef<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let tombstones = st.blocks.iter().flatten().filter(|e| e.deleted).count();
    if tombstones > 0 {
        out.push(format!(
            "{tombstones} deleted entries kept in blocks (the block layout is rebuilt by XADD)"
        ));
    }
    let consumers: usize = st.groups.iter().map(|g| g.consumers.len()).sum();
    if consumers > 0 {
        out.push(format!(
            "seen times of {consumers} consumers (set to the time of the restore)"
        ));
    }
    let live: std::collections::HashSet<(u64, u64)> = st.live().map(|e| e.id).collect();
    let orphans: usize = st
        .groups
        .iter()
        .flat_map(|g| &g.pending)
        .filter(|p| !live.contains(&p.0))
        .count();
    if orphans > 0 {
        out.push(format!("{orphans} pending entries whose entry was deleted"));
    }
    out
}

/// The commands that recreate a stream: XADD per live entry (or an
/// XADD trimmed to nothing for an empty stream), XSETID with the
/// counters, XGROUP CREATE with the read counter, XGROUP CREATECONSUMER,
/// and XCLAIM ... FORCE JUSTID for each pending entry with its delivery
/// time and count.
fn stream_commands(key: &[u8], st: &StreamRef<'_>, emit: &mut dyn FnMut(&[&[u8]])) {
    let id = |i: (u64, u64)| format!("{}-{}", i.0, i.1);
    let mut any = false;
    for e in st.live() {
        let eid = id(e.id);
        let mut args: Vec<&[u8]> = vec![b"XADD", key, eid.as_bytes()];
        args.extend(e.items.iter().copied());
        emit(&args);
        any = true;
    }
    if !any {
        emit(&[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"x"]);
    }
    let (last, added, maxdel) = (
        id(st.last_id),
        st.entries_added.max(st.live().count() as u64).to_string(),
        id(st.max_deleted_id),
    );
    let mut setid: Vec<&[u8]> = vec![
        b"XSETID",
        key,
        last.as_bytes(),
        b"ENTRIESADDED",
        added.as_bytes(),
    ];
    if st.max_deleted_id != (0, 0) {
        setid.push(b"MAXDELETEDID");
        setid.push(maxdel.as_bytes());
    }
    emit(&setid);
    for g in &st.groups {
        let (gid, read) = (id(g.last_id), g.entries_read.to_string());
        emit(&[
            b"XGROUP",
            b"CREATE",
            key,
            g.name,
            gid.as_bytes(),
            b"ENTRIESREAD",
            read.as_bytes(),
        ]);
        for (name, _) in &g.consumers {
            emit(&[b"XGROUP", b"CREATECONSUMER", key, g.name, name]);
        }
        for (pid, time, count, owner) in &g.pending {
            let (pid, time, count) = (id(*pid), time.to_string(), count.to_string());
            emit(&[
                b"XCLAIM",
                key,
                g.name,
                owner,
                b"0",
                pid.as_bytes(),
                b"TIME",
                time.as_bytes(),
                b"RETRYCOUNT",
                count.as_bytes(),
                b"FORCE",
                b"JUSTID",
            ]);
        }
    }
}

/// Splits `items` into runs of at most [`CHUNK_ITEMS`] items and about
/// [`CHUNK_BYTES`] bytes, calling `f` on each.
fn for_chunks<T>(items: &[T], size: impl Fn(&T) -> usize, mut f: impl FnMut(&[T])) {
    let mut start = 0;
    let mut bytes = 0;
    for (i, item) in items.iter().enumerate() {
        let n = size(item);
        if i > start && (i - start == CHUNK_ITEMS || bytes + n > CHUNK_BYTES) {
            f(&items[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += n;
    }
    if start < items.len() {
        f(&items[start..]);
    }
}

/// A reply, reduced to what the tool acts on.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// `+...`, a bulk string, an array, ...: success.
    Ok,
    /// `:n`.
    Int(i64),
    /// `$-1`, `*-1` or RESP3 `_`: e.g. `SET NX` that did not set.
    Nil,
    /// `-...`: the error text.
    Error(String),
}

/// Longest reply line accepted (errors and status lines are short).
const MAX_LINE: u64 = 64 * 1024;

/// Reads one reply, discarding the contents of bulk strings and arrays.
pub fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    read_at(r, 0)
}

fn read_at(r: &mut impl BufRead, depth: usize) -> io::Result<Reply> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if depth > 32 {
        return Err(bad("reply nested too deeply".into()));
    }
    let mut line = Vec::new();
    r.by_ref().take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "server closed the connection",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(bad(format!(
            "malformed reply line {}",
            text::printable(&line)
        )));
    }
    let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
    let len = || {
        body.parse::<i64>()
            .map_err(|_| bad(format!("bad length in reply {}", text::printable(&line))))
    };
    match line[0] {
        b'+' => Ok(Reply::Ok),
        b'-' => Ok(Reply::Error(body.clone())),
        b':' => Ok(Reply::Int(len()?)),
        b'_' => Ok(Reply::Nil),
        b'$' => match len()? {
            n if n < 0 => Ok(Reply::Nil),
            n => {
                let want = n as u64 + 2;
                if io::copy(&mut r.by_ref().take(want), &mut io::sink())? != want {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ));
                }
                Ok(Reply::Ok)
            }
        },
        b'*' => match len()? {
            n if n < 0 => Ok(Reply::Nil),
            n => {
                for _ in 0..n {
                    read_at(r, depth + 1)?;
                }
                Ok(Reply::Ok)
            }
        },
        _ => Err(bad(format!("unexpected reply {}", text::printable(&line)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let mut r: &[u8] = b"+OK\r\n:3\r\n$-1\r\n-ERR no\r\n$3\r\nabc\r\n*2\r\n$1\r\nx\r\n:1\r\n";
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Ok);
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Int(3));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Nil);
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Error("ERR no".into()));
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Ok);
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Ok);
        assert!(read_reply(&mut r).is_err());
    }

    #[test]
    fn chunks() {
        let items: Vec<&[u8]> = vec![b"x"; 1300];
        let mut sizes = Vec::new();
        collection_commands(b"k", &ValueRef::List(items), &mut |args| {
            sizes.push(args.len() - 2)
        });
        assert_eq!(sizes, [512, 512, 276]);
    }
}
