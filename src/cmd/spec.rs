//! Typed command metadata: flags, ACL categories, command tips and key
//! specifications, as Redis 7.0 declares them for every command.
//!
//! The statics in [`redis`] are generated at build time (build.rs) from
//! Redis's own COMMAND INFO, captured in `src/cmd/meta/info.resp3`; a name
//! that does not exist there fails the build. The command table
//! ([`super::Table`]) binds forkv's handlers to these rows. What Redis
//! derives at start (the `movablekeys` flag and the legacy first/last/step
//! key range) is derived here the same way, and a test checks it against
//! what Redis reported.
//!
//! [`extract_keys`] is the one function that finds a command's keys in its
//! arguments, with their access flags: COMMAND GETKEYS, key-change
//! signalling and client tracking use it (ACL and cluster slots will).

use crate::protocol::Reply;
use bytes::Bytes;

/// Command flags (Redis's names, in the order COMMAND INFO prints them).
pub mod flags {
    /// May modify the keyspace.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory (refused under OOM).
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// Pub/sub related.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed in scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while loading.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 8;
    /// Not shown to MONITOR.
    pub const SKIP_MONITOR: u32 = 1 << 9;
    /// Not recorded in the slow log.
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// Cluster ASKING flag.
    pub const ASKING: u32 = 1 << 11;
    /// O(1) or O(log n).
    pub const FAST: u32 = 1 << 12;
    /// Allowed before AUTH.
    pub const NO_AUTH: u32 = 1 << 13;
    /// May replicate.
    pub const MAY_REPLICATE: u32 = 1 << 14;
    /// Keys are optional.
    pub const NO_MANDATORY_KEYS: u32 = 1 << 15;
    /// Not during async loading.
    pub const NO_ASYNC_LOADING: u32 = 1 << 16;
    /// Not inside MULTI.
    pub const NO_MULTI: u32 = 1 << 17;
    /// Keys not at fixed positions (derived from the key specs).
    pub const MOVABLEKEYS: u32 = 1 << 18;
    /// Allowed while a script is busy.
    pub const ALLOW_BUSY: u32 = 1 << 19;
    /// Refused unless an `enable-*-command` switch admits the client (DEBUG,
    /// MODULE LOAD/LOADEX/UNLOAD). Hidden: COMMAND INFO never shows it, as
    /// in Redis, so it is not in [`NAMES`].
    pub const PROTECTED: u32 = 1 << 20;

    /// Flag names in output order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories, in Redis's order (`ACLCommandCategories`), which is the
/// order COMMAND INFO and ACL CAT print them in.
pub mod acl {
    #![allow(missing_docs)]
    pub const KEYSPACE: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const SET: u32 = 1 << 3;
    pub const SORTEDSET: u32 = 1 << 4;
    pub const LIST: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const STRING: u32 = 1 << 7;
    pub const BITMAP: u32 = 1 << 8;
    pub const HYPERLOGLOG: u32 = 1 << 9;
    pub const GEO: u32 = 1 << 10;
    pub const STREAM: u32 = 1 << 11;
    pub const PUBSUB: u32 = 1 << 12;
    pub const ADMIN: u32 = 1 << 13;
    pub const FAST: u32 = 1 << 14;
    pub const SLOW: u32 = 1 << 15;
    pub const BLOCKING: u32 = 1 << 16;
    pub const DANGEROUS: u32 = 1 << 17;
    pub const CONNECTION: u32 = 1 << 18;
    pub const TRANSACTION: u32 = 1 << 19;
    pub const SCRIPTING: u32 = 1 << 20;

    /// Category names in output order.
    pub const NAMES: &[(u32, &str)] = &[
        (KEYSPACE, "keyspace"),
        (READ, "read"),
        (WRITE, "write"),
        (SET, "set"),
        (SORTEDSET, "sortedset"),
        (LIST, "list"),
        (HASH, "hash"),
        (STRING, "string"),
        (BITMAP, "bitmap"),
        (HYPERLOGLOG, "hyperloglog"),
        (GEO, "geo"),
        (STREAM, "stream"),
        (PUBSUB, "pubsub"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (SLOW, "slow"),
        (BLOCKING, "blocking"),
        (DANGEROUS, "dangerous"),
        (CONNECTION, "connection"),
        (TRANSACTION, "transaction"),
        (SCRIPTING, "scripting"),
    ];
}

/// Key-spec flags (Redis's `CMD_KEY_*`), in COMMAND INFO's order.
pub mod ks {
    /// Read-only access to the key's value.
    pub const RO: u32 = 1 << 0;
    /// Read and write.
    pub const RW: u32 = 1 << 1;
    /// Overwrite: the old value is not read.
    pub const OW: u32 = 1 << 2;
    /// Removes the key.
    pub const RM: u32 = 1 << 3;
    /// Returns, copies or uses the user data of the value.
    pub const ACCESS: u32 = 1 << 4;
    /// Updates the value.
    pub const UPDATE: u32 = 1 << 5;
    /// Adds data to the value.
    pub const INSERT: u32 = 1 << 6;
    /// Deletes data from the value.
    pub const DELETE: u32 = 1 << 7;
    /// Not a key name (a channel, for instance) but hashed like one.
    pub const NOT_KEY: u32 = 1 << 8;
    /// The spec may miss keys.
    pub const INCOMPLETE: u32 = 1 << 9;
    /// The flags depend on other arguments.
    pub const VARIABLE_FLAGS: u32 = 1 << 10;

    /// Flag names in output order.
    pub const NAMES: &[(u32, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

/// Where the search for a spec's keys starts.
#[derive(Debug, Clone, Copy)]
pub enum BeginSearch {
    /// At this argument index.
    Index(i32),
    /// Just after `keyword`, searched from `startfrom` (negative: from the
    /// end, backwards).
    Keyword {
        /// The keyword (case-insensitive).
        keyword: &'static str,
        /// First index to look at.
        startfrom: i32,
    },
    /// Not expressible (SORT's BY/GET/STORE).
    Unknown,
}

/// How the keys are found from where the search began.
#[derive(Debug, Clone, Copy)]
pub enum FindKeys {
    /// A range: `lastkey` relative to the start (negative: from the end),
    /// every `keystep`; `limit` > 1 divides the remaining arguments.
    Range {
        /// Last key, relative.
        lastkey: i32,
        /// Step between keys.
        keystep: i32,
        /// When lastkey is -1: keys are the first 1/limit of the rest.
        limit: i32,
    },
    /// A count argument at `keynumidx` says how many keys follow, starting
    /// at `firstkey`, every `keystep` (all relative to the start).
    Keynum {
        /// Index of the count.
        keynumidx: i32,
        /// First key.
        firstkey: i32,
        /// Step between keys.
        keystep: i32,
    },
    /// Not expressible.
    Unknown,
}

/// One key specification.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// Redis's remark, shown by COMMAND INFO.
    pub notes: Option<&'static str>,
    /// [`ks`] bits.
    pub flags: u32,
    /// Where the search starts.
    pub begin: BeginSearch,
    /// How keys are found.
    pub find: FindKeys,
}

/// Redis's metadata of one command or subcommand.
#[derive(Debug)]
pub struct CommandMeta {
    /// Lowercase full name (`config|get`).
    pub name: &'static str,
    /// Redis arity: N exact, -N at least N (counting the name).
    pub arity: i32,
    /// [`flags`] bits as declared (without the derived `movablekeys`).
    pub flags: u32,
    /// [`acl`] bits.
    pub acl: u32,
    /// Command tips (`nondeterministic_output`, `request_policy:...`).
    pub tips: &'static [&'static str],
    /// Key specifications.
    pub key_specs: &'static [KeySpec],
}

/// The generated statics, one per Redis 7.0 command and subcommand.
#[allow(missing_docs)]
pub mod redis {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/redis_commands.rs"));
}

/// CLIENT SETINFO, added in Redis 7.2 (after the capture).
pub static CLIENT_SETINFO: CommandMeta = CommandMeta {
    name: "client|setinfo",
    arity: 4,
    flags: flags::NOSCRIPT | flags::LOADING | flags::STALE,
    acl: acl::SLOW | acl::CONNECTION,
    tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
    key_specs: &[],
};

/// CLIENT NO-TOUCH, added in Redis 7.2 (after the capture).
pub static CLIENT_NO_TOUCH: CommandMeta = CommandMeta {
    name: "client|no-touch",
    arity: 3,
    flags: flags::NOSCRIPT | flags::LOADING | flags::STALE,
    acl: acl::SLOW | acl::CONNECTION,
    tips: &[],
    key_specs: &[],
};

/// What Redis derives from the key specs at start
/// (`populateCommandLegacyRangeSpec`): whether keys move
/// (`movablekeys`), and the legacy first/last/step range COMMAND INFO shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Legacy {
    /// True when the legacy range does not cover every key.
    pub movablekeys: bool,
    /// First key (0 = none).
    pub first: i32,
    /// Last key (negative: from the end).
    pub last: i32,
    /// Step.
    pub step: i32,
}

/// Derives [`Legacy`] from key specs the way Redis 7.0 does.
pub fn legacy_range(specs: &[KeySpec]) -> Legacy {
    let none = |movablekeys| Legacy {
        movablekeys,
        first: 0,
        last: 0,
        step: 0,
    };
    if specs.is_empty() {
        return none(false);
    }
    if let [
        KeySpec {
            flags,
            begin: BeginSearch::Index(pos),
            find: FindKeys::Range {
                lastkey, keystep, ..
            },
            ..
        },
    ] = specs
    {
        // One range spec: used as it is.
        let last = if *lastkey < 0 {
            *lastkey
        } else {
            pos + lastkey
        };
        return Legacy {
            movablekeys: flags & ks::INCOMPLETE != 0,
            first: *pos,
            last,
            step: *keystep,
        };
    }
    let mut movable = false;
    let (mut first, mut last, mut prev_last) = (i32::MAX, 0i32, 0i32);
    for spec in specs {
        let (
            BeginSearch::Index(pos),
            FindKeys::Range {
                lastkey, keystep, ..
            },
        ) = (spec.begin, spec.find)
        else {
            movable = true;
            continue;
        };
        if keystep != 1 || (prev_last != 0 && prev_last != pos - 1) {
            movable = true;
            continue;
        }
        if spec.flags & ks::INCOMPLETE != 0 {
            movable = true;
        }
        first = first.min(pos);
        let abs = if lastkey >= 0 { lastkey + pos } else { lastkey };
        // Redis compares as unsigned, so a negative (from the end) wins.
        last = if (last as u32) >= (abs as u32) {
            last
        } else {
            abs
        };
        prev_last = last;
    }
    if first == i32::MAX {
        return none(true);
    }
    Legacy {
        movablekeys: movable,
        first,
        last,
        step: 1,
    }
}

/// One key found in a command's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    /// Index in the arguments (which start with the command name).
    pub pos: usize,
    /// [`ks`] flags of the spec that found it.
    pub flags: u32,
}

/// Finds the keys of `args` (name first) through `specs`, as Redis's
/// `getKeysUsingKeySpecs` does, appending them to `out`. A spec that does
/// not fit the arguments (too few, a missing keyword, a bad count) finds
/// nothing; `Unknown` specs find nothing (the command's own hook must).
pub fn extract_keys(specs: &[KeySpec], args: &[Bytes], out: &mut Vec<KeyRef>) {
    let argc = args.len() as i64;
    for spec in specs {
        let start = match spec.begin {
            BeginSearch::Index(i) => i as i64,
            BeginSearch::Keyword { keyword, startfrom } => {
                let kw = keyword.as_bytes();
                let from = startfrom as i64;
                let found = if from >= 0 {
                    (from.max(1)..argc).find(|&i| args[i as usize].eq_ignore_ascii_case(kw))
                } else {
                    (1..=(argc + from).max(0))
                        .rev()
                        .find(|&i| args[i as usize].eq_ignore_ascii_case(kw))
                };
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            BeginSearch::Unknown => continue,
        };
        let (first, last, step) = match spec.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let step = (keystep as i64).max(1);
                let last = if lastkey >= 0 {
                    start + lastkey as i64
                } else if limit > 1 {
                    // Keys are the first 1/limit of what follows (XREAD's
                    // STREAMS k1 k2 id1 id2).
                    let rest = argc - start;
                    start + rest / limit as i64 - 1
                } else {
                    argc + lastkey as i64
                };
                (start, last, step)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let numidx = start + keynumidx as i64;
                let Some(n) = args
                    .get(numidx as usize)
                    .and_then(|a| crate::util::num::parse_i64(a))
                    .filter(|n| *n > 0)
                else {
                    continue;
                };
                let first = start + firstkey as i64;
                let step = (keystep as i64).max(1);
                (
                    first,
                    first.saturating_add((n - 1).saturating_mul(step)),
                    step,
                )
            }
            FindKeys::Unknown => continue,
        };
        if last >= argc || first < 1 {
            // Fewer arguments than the spec needs: no keys from it.
            continue;
        }
        let mut p = first;
        while p <= last {
            out.push(KeyRef {
                pos: p as usize,
                flags: spec.flags,
            });
            p += step;
        }
    }
}

fn names_of(bits: u32, names: &[(u32, &str)], prefix: &str) -> Reply {
    Reply::Set(
        names
            .iter()
            .filter(|(b, _)| bits & b != 0)
            .map(|(_, n)| Reply::Status(Bytes::from(format!("{prefix}{n}"))))
            .collect(),
    )
}

/// The key-spec flag set as COMMAND INFO and GETKEYSANDFLAGS print it.
pub fn key_flags_reply(bits: u32) -> Reply {
    names_of(bits, ks::NAMES, "")
}

fn map(pairs: Vec<(&'static str, Reply)>) -> Reply {
    Reply::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Reply::bulk_static(k), v))
            .collect(),
    )
}

fn key_spec_reply(s: &KeySpec) -> Reply {
    let mut fields = Vec::with_capacity(4);
    if let Some(n) = s.notes {
        fields.push(("notes", Reply::bulk_static(n)));
    }
    fields.push(("flags", key_flags_reply(s.flags)));
    let (bt, bspec) = match s.begin {
        BeginSearch::Index(i) => ("index", map(vec![("index", Reply::Int(i as i64))])),
        BeginSearch::Keyword { keyword, startfrom } => (
            "keyword",
            map(vec![
                ("keyword", Reply::bulk_static(keyword)),
                ("startfrom", Reply::Int(startfrom as i64)),
            ]),
        ),
        BeginSearch::Unknown => ("unknown", map(vec![])),
    };
    fields.push((
        "begin_search",
        map(vec![("type", Reply::bulk_static(bt)), ("spec", bspec)]),
    ));
    let (ft, fspec) = match s.find {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => (
            "range",
            map(vec![
                ("lastkey", Reply::Int(lastkey as i64)),
                ("keystep", Reply::Int(keystep as i64)),
                ("limit", Reply::Int(limit as i64)),
            ]),
        ),
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => (
            "keynum",
            map(vec![
                ("keynumidx", Reply::Int(keynumidx as i64)),
                ("firstkey", Reply::Int(firstkey as i64)),
                ("keystep", Reply::Int(keystep as i64)),
            ]),
        ),
        FindKeys::Unknown => ("unknown", map(vec![])),
    };
    fields.push((
        "find_keys",
        map(vec![("type", Reply::bulk_static(ft)), ("spec", fspec)]),
    ));
    map(fields)
}

/// The COMMAND INFO entry of a command with `arity` and `flags` (the
/// effective ones, `movablekeys` included) and the given subcommand
/// entries (None: not a container).
pub fn info_reply(m: &CommandMeta, arity: i32, flag_bits: u32, subs: Option<Vec<Reply>>) -> Reply {
    let l = legacy_range(m.key_specs);
    Reply::Array(vec![
        Reply::bulk(m.name.as_bytes()),
        Reply::Int(arity as i64),
        names_of(flag_bits, flags::NAMES, ""),
        Reply::Int(l.first as i64),
        Reply::Int(l.last as i64),
        Reply::Int(l.step as i64),
        names_of(m.acl, acl::NAMES, "@"),
        Reply::Set(m.tips.iter().map(|t| Reply::bulk_static(t)).collect()),
        Reply::Set(m.key_specs.iter().map(key_spec_reply).collect()),
        match subs {
            Some(s) => Reply::Array(s),
            None => Reply::Set(vec![]),
        },
    ])
}

/// Looks a generated row up by full name (tests and tools; the table binds
/// rows at compile time).
pub fn find(name: &str) -> Option<&'static CommandMeta> {
    redis::ALL.iter().copied().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's `movablekeys` and legacy range, derived from the key specs,
    /// equal what Redis 7.0 reported for every one of its commands.
    #[test]
    fn derivation_matches_redis() {
        assert!(redis::ALL.len() > 300, "capture has subcommands too");
        for &(name, captured_flags, first, last, step) in redis::CAPTURED_LEGACY {
            let m = find(name).unwrap();
            let l = legacy_range(m.key_specs);
            let movable = captured_flags & flags::MOVABLEKEYS != 0;
            assert_eq!(l.movablekeys, movable, "movablekeys of {name}");
            assert_eq!(
                (l.first, l.last, l.step),
                (first, last, step),
                "range of {name}"
            );
            // `protected` is declared but hidden from COMMAND INFO.
            assert_eq!(
                (m.flags & !flags::PROTECTED) | if movable { flags::MOVABLEKEYS } else { 0 },
                captured_flags,
                "flags of {name}"
            );
        }
    }

    /// Every generated row renders back to the exact bytes Redis sent, so
    /// the typed data lost nothing (order of categories, flags and fields).
    #[test]
    fn info_renders_the_capture_byte_for_byte() {
        let capture = include_bytes!("meta/info.resp3");
        let (Reply::Array(items), _) = super::super::meta::parse(capture).unwrap() else {
            panic!("capture is an array");
        };
        fn render(m: &CommandMeta, captured: &Reply) -> Reply {
            let Reply::Array(f) = captured else { panic!() };
            let subs = match &f[9] {
                Reply::Array(s) if !s.is_empty() => Some(
                    s.iter()
                        .map(|sub| {
                            let Reply::Array(sf) = sub else { panic!() };
                            let Reply::Bulk(n) = &sf[0] else { panic!() };
                            render(find(std::str::from_utf8(n).unwrap()).unwrap(), sub)
                        })
                        .collect(),
                ),
                _ => None,
            };
            let l = legacy_range(m.key_specs);
            let fl = m.flags | if l.movablekeys { flags::MOVABLEKEYS } else { 0 };
            info_reply(m, m.arity, fl, subs)
        }
        for item in &items {
            let Reply::Array(f) = item else { panic!() };
            let Reply::Bulk(n) = &f[0] else { panic!() };
            let name = std::str::from_utf8(n).unwrap();
            let ours = render(find(name).unwrap(), item);
            let mut a = crate::protocol::reply::Output::default();
            let mut b = crate::protocol::reply::Output::default();
            a.encode(&ours, 3);
            b.encode(item, 3);
            assert_eq!(a.take().concat(), b.take().concat(), "COMMAND INFO {name}");
        }
    }

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    fn keys(m: &CommandMeta, a: &[&str]) -> Vec<(usize, u32)> {
        let mut out = Vec::new();
        extract_keys(m.key_specs, &args(a), &mut out);
        out.into_iter().map(|k| (k.pos, k.flags)).collect()
    }

    #[test]
    fn extracts_keys_with_flags() {
        use self::redis::*;
        assert_eq!(keys(&GET, &["get", "k"]), [(1, ks::RO | ks::ACCESS)]);
        assert_eq!(
            keys(&MSET, &["mset", "a", "1", "b", "2"])
                .iter()
                .map(|k| k.0)
                .collect::<Vec<_>>(),
            [1, 3]
        );
        let z = keys(
            &ZUNIONSTORE,
            &["zunionstore", "d", "2", "a", "b", "weights", "1", "2"],
        );
        assert_eq!(
            z,
            [
                (1, ks::OW | ks::UPDATE),
                (3, ks::RO | ks::ACCESS),
                (4, ks::RO | ks::ACCESS)
            ]
        );
        // A bad count finds no keys, never panics.
        assert!(keys(&SINTERCARD, &["sintercard", "9", "a"]).is_empty());
        assert!(keys(&SINTERCARD, &["sintercard", "-1", "a"]).is_empty());
        assert_eq!(
            keys(
                &XREAD,
                &["xread", "count", "1", "streams", "a", "b", "0", "0"]
            )
            .iter()
            .map(|k| k.0)
            .collect::<Vec<_>>(),
            [4, 5]
        );
        assert_eq!(
            keys(
                &MIGRATE,
                &["migrate", "h", "1", "", "0", "5", "keys", "a", "b"]
            )
            .iter()
            .map(|k| k.0)
            .collect::<Vec<_>>(),
            [3, 7, 8],
            "the specs find the (empty) single-key slot too"
        );
    }
}
