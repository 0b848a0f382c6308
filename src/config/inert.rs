//! Redis 7.0 parameters forkv accepts but does not act on (replication,
//! cluster, AOF, TLS, defragmentation, threads, syslog, ...). They exist so
//! that configuration files and tools written for Redis keep working: each
//! one is checked the way Redis checks it, stored as the text `CONFIG GET`
//! shows, and otherwise ignored. With the typed parameters `config.rs`
//! marks `INERT`, they make up [`super::inert_names`], which README.md
//! lists (a test compares the two).
//!
//! Values are kept in [`Config::inert`] only when set; an absent entry
//! reads as Redis's default.

use super::{
    Config, Getter, IMMUTABLE, INT_MAX, LONG_MAX, MULTI_ARG, Param, Setter, UINT_MAX, ULLONG_MAX,
    enum_error, one, parse_bool, parse_integer, parse_memory_arg, strtoll_whole, utf8, yes_no,
};

/// Accessors of an inert parameter: `check` turns the arguments into the
/// text `CONFIG GET` shows, or gives Redis's reason for refusing them.
macro_rules! inert {
    ($name:literal, $default:literal, $check:expr) => {
        (
            (|c: &Config| {
                c.inert
                    .get($name)
                    .cloned()
                    .unwrap_or_else(|| $default.to_string())
            }) as Getter,
            (|c: &mut Config, a: &[&[u8]]| {
                let v = ($check)(a)?;
                c.inert.insert($name, v);
                Ok(())
            }) as Setter,
        )
    };
}

type Check = Result<String, String>;

fn boolean(a: &[&[u8]]) -> Check {
    Ok(yes_no(parse_bool(one(a)?)?).to_string())
}

fn int(a: &[&[u8]], min: i128, max: i128) -> Check {
    Ok(parse_integer(one(a)?, min, max)?.to_string())
}

fn memory(a: &[&[u8]], min: i128, max: i128) -> Check {
    Ok(parse_memory_arg(one(a)?, min, max)?.to_string())
}

fn string(a: &[&[u8]]) -> Check {
    Ok(utf8(one(a)?)?.to_string())
}

/// One of `names`, case-insensitively; shown as Redis spells it.
fn choice(a: &[&[u8]], names: &[&'static str]) -> Check {
    let v = one(a)?;
    names
        .iter()
        .find(|n| n.as_bytes().eq_ignore_ascii_case(v))
        .map(|n| n.to_string())
        .ok_or_else(|| enum_error(names.iter().copied()))
}

/// `shutdown-on-sigint` / `shutdown-on-sigterm`: Redis's flag enum, where
/// several words combine and `default` is the empty set.
fn shutdown_flags(a: &[&[u8]]) -> Check {
    const NAMES: [&str; 5] = ["default", "save", "nosave", "now", "force"];
    let mut set = [false; 5];
    for w in a {
        let i = NAMES
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(w))
            .ok_or_else(|| enum_error(NAMES.iter().copied()))?;
        set[i] = true;
    }
    let words: Vec<&str> = (1..NAMES.len())
        .filter(|&i| set[i])
        .map(|i| NAMES[i])
        .collect();
    Ok(if words.is_empty() {
        "default".to_string()
    } else {
        words.join(" ")
    })
}

/// `maxmemory-clients`: bytes, or a percentage of `maxmemory` up to 100%.
fn memory_or_percent(a: &[&[u8]]) -> Check {
    let v = one(a)?;
    if let Some(p) = v.strip_suffix(b"%") {
        let n = strtoll_whole(p)
            .filter(|n| *n >= 0 && !p.is_empty())
            .ok_or("argument must be a memory or percent value")?;
        if n > 100 {
            return Err("percentage argument must be less or equal to 100".to_string());
        }
        return Ok(format!("{n}%"));
    }
    super::memtoull(v)
        .map(|n| n.to_string())
        .ok_or_else(|| "argument must be a memory or percent value".to_string())
}

/// `oom-score-adj-values`: three scores in -2000..=2000 (`strtol`, so
/// signs, spaces and empty words are accepted as Redis accepts them).
fn oom_values(a: &[&[u8]]) -> Check {
    if a.len() != 3 {
        return Err("wrong number of arguments".to_string());
    }
    let mut out = Vec::with_capacity(3);
    for w in a {
        match strtoll_whole(w) {
            Some(n) if (-2000..=2000).contains(&n) => out.push(n.to_string()),
            _ => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                        .to_string(),
                );
            }
        }
    }
    Ok(out.join(" "))
}

/// `activedefrag`: Redis built without its own jemalloc refuses `yes` with
/// this text; forkv has no defragmentation either.
fn activedefrag(a: &[&[u8]]) -> Check {
    if parse_bool(one(a)?)? {
        return Err("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution".to_string());
    }
    Ok("no".to_string())
}

/// `proc-title-template`: Redis expands it with an empty title and refuses
/// an unknown `{variable}`, an unclosed `{`, or a title that comes out
/// empty (after trimming spaces).
fn proc_title(a: &[&[u8]]) -> Check {
    const INVALID: &str = "template format is invalid or contains unknown variables";
    let t = string(a)?;
    let mut out = String::new();
    let mut rest = t.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if let Some(quoted) = after.strip_prefix('{') {
            out.push('{');
            rest = quoted;
            continue;
        }
        let close = after.find('}').ok_or(INVALID)?;
        // What each variable expands to when Redis checks a template:
        // only the address, port and config file are never empty.
        out.push_str(match &after[..close] {
            "title" | "server-mode" | "unixsocket" => "",
            "listen-addr" | "port" | "tls-port" | "config-file" => "x",
            _ => return Err(INVALID.to_string()),
        });
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    if out.trim_matches(' ').is_empty() {
        return Err(INVALID.to_string());
    }
    Ok(t)
}

/// `replicaof`: shown (empty) for tools, but forkv is never a replica.
fn replicaof(a: &[&[u8]]) -> Check {
    match a {
        [] => Ok(String::new()),
        [b""] => Ok(String::new()),
        _ => Err("forkv has no replication: replicaof is not supported".to_string()),
    }
}

const SYSLOG_FACILITIES: [&str; 9] = [
    "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

/// The inert parameters, with Redis 7.0's defaults, bounds and mutability.
// Kept out of rustfmt so that each parameter stays on one line.
#[rustfmt::skip]
pub(super) static PARAMS: &[Param] = &[
    Param::new("acl-pubsub-default", inert!("acl-pubsub-default", "resetchannels", |a| choice(a, &["allchannels", "resetchannels"]))),
    Param::new("aclfile", inert!("aclfile", "", string)).flags(IMMUTABLE),
    Param::new("acllog-max-len", inert!("acllog-max-len", "128", |a| int(a, 0, LONG_MAX))),
    Param::new("active-defrag-cycle-max", inert!("active-defrag-cycle-max", "25", |a| int(a, 1, 99))),
    Param::new("active-defrag-cycle-min", inert!("active-defrag-cycle-min", "1", |a| int(a, 1, 99))),
    Param::new("active-defrag-ignore-bytes", inert!("active-defrag-ignore-bytes", "104857600", |a| memory(a, 1, LONG_MAX))),
    Param::new("active-defrag-max-scan-fields", inert!("active-defrag-max-scan-fields", "1000", |a| int(a, 1, LONG_MAX))),
    Param::new("active-defrag-threshold-lower", inert!("active-defrag-threshold-lower", "10", |a| int(a, 0, 1000))),
    Param::new("active-defrag-threshold-upper", inert!("active-defrag-threshold-upper", "100", |a| int(a, 0, 1000))),
    Param::new("activedefrag", inert!("activedefrag", "no", activedefrag)),
    Param::new("always-show-logo", inert!("always-show-logo", "no", boolean)).flags(IMMUTABLE),
    Param::new("aof-disable-auto-gc", inert!("aof-disable-auto-gc", "no", boolean)),
    Param::new("aof-load-truncated", inert!("aof-load-truncated", "yes", boolean)),
    Param::new("aof-rewrite-incremental-fsync", inert!("aof-rewrite-incremental-fsync", "yes", boolean)),
    Param::new("aof-timestamp-enabled", inert!("aof-timestamp-enabled", "no", boolean)),
    Param::new("aof-use-rdb-preamble", inert!("aof-use-rdb-preamble", "yes", boolean)),
    Param::new("aof_rewrite_cpulist", inert!("aof_rewrite_cpulist", "", string)).flags(IMMUTABLE),
    Param::new("appenddirname", inert!("appenddirname", "appendonlydir", string)).flags(IMMUTABLE),
    Param::new("appendfilename", inert!("appendfilename", "appendonly.aof", string)).flags(IMMUTABLE),
    Param::new("appendfsync", inert!("appendfsync", "everysec", |a| choice(a, &["everysec", "always", "no"]))),
    Param::new("auto-aof-rewrite-min-size", inert!("auto-aof-rewrite-min-size", "67108864", |a| memory(a, 0, LONG_MAX))),
    Param::new("auto-aof-rewrite-percentage", inert!("auto-aof-rewrite-percentage", "100", |a| int(a, 0, INT_MAX))),
    Param::new("bgsave_cpulist", inert!("bgsave_cpulist", "", string)).flags(IMMUTABLE),
    Param::new("bind-source-addr", inert!("bind-source-addr", "", string)),
    Param::new("bio_cpulist", inert!("bio_cpulist", "", string)).flags(IMMUTABLE),
    Param::new("cluster-allow-pubsubshard-when-down", inert!("cluster-allow-pubsubshard-when-down", "yes", boolean)),
    Param::new("cluster-allow-reads-when-down", inert!("cluster-allow-reads-when-down", "no", boolean)),
    Param::new("cluster-allow-replica-migration", inert!("cluster-allow-replica-migration", "yes", boolean)),
    Param::new("cluster-announce-bus-port", inert!("cluster-announce-bus-port", "0", |a| int(a, 0, 65535))),
    Param::new("cluster-announce-hostname", inert!("cluster-announce-hostname", "", string)),
    Param::new("cluster-announce-ip", inert!("cluster-announce-ip", "", string)),
    Param::new("cluster-announce-port", inert!("cluster-announce-port", "0", |a| int(a, 0, 65535))),
    Param::new("cluster-announce-tls-port", inert!("cluster-announce-tls-port", "0", |a| int(a, 0, 65535))),
    Param::new("cluster-config-file", inert!("cluster-config-file", "nodes.conf", string)).flags(IMMUTABLE),
    Param::new("cluster-link-sendbuf-limit", inert!("cluster-link-sendbuf-limit", "0", |a| memory(a, 0, ULLONG_MAX))),
    Param::new("cluster-migration-barrier", inert!("cluster-migration-barrier", "1", |a| int(a, 0, INT_MAX))),
    Param::new("cluster-node-timeout", inert!("cluster-node-timeout", "15000", |a| int(a, 0, LONG_MAX))),
    Param::new("cluster-port", inert!("cluster-port", "0", |a| int(a, 0, 65535))).flags(IMMUTABLE),
    Param::new("cluster-preferred-endpoint-type", inert!("cluster-preferred-endpoint-type", "ip", |a| choice(a, &["ip", "hostname", "unknown-endpoint"]))),
    Param::new("cluster-replica-no-failover", inert!("cluster-replica-no-failover", "no", boolean)).alias("cluster-slave-no-failover"),
    Param::new("cluster-replica-validity-factor", inert!("cluster-replica-validity-factor", "10", |a| int(a, 0, INT_MAX))).alias("cluster-slave-validity-factor"),
    Param::new("cluster-require-full-coverage", inert!("cluster-require-full-coverage", "yes", boolean)),
    Param::new("crash-log-enabled", inert!("crash-log-enabled", "yes", boolean)),
    Param::new("crash-memcheck-enabled", inert!("crash-memcheck-enabled", "yes", boolean)),
    Param::new("enable-module-command", inert!("enable-module-command", "no", |a| choice(a, &["no", "yes", "local"]))).flags(IMMUTABLE),
    Param::new("ignore-warnings", inert!("ignore-warnings", "", string)),
    Param::new("io-threads", inert!("io-threads", "1", |a| int(a, 1, 128))).flags(IMMUTABLE),
    Param::new("io-threads-do-reads", inert!("io-threads-do-reads", "no", boolean)).flags(IMMUTABLE),
    Param::new("jemalloc-bg-thread", inert!("jemalloc-bg-thread", "yes", boolean)),
    Param::new("masterauth", inert!("masterauth", "", string)),
    Param::new("masteruser", inert!("masteruser", "", string)),
    Param::new("maxmemory-clients", inert!("maxmemory-clients", "0", memory_or_percent)),
    Param::new("min-replicas-max-lag", inert!("min-replicas-max-lag", "10", |a| int(a, 0, INT_MAX))).alias("min-slaves-max-lag"),
    Param::new("min-replicas-to-write", inert!("min-replicas-to-write", "0", |a| int(a, 0, INT_MAX))).alias("min-slaves-to-write"),
    Param::new("no-appendfsync-on-rewrite", inert!("no-appendfsync-on-rewrite", "no", boolean)),
    Param::new("oom-score-adj", inert!("oom-score-adj", "no", |a| choice(a, &["no", "yes", "relative", "absolute"]))),
    Param::new("oom-score-adj-values", inert!("oom-score-adj-values", "0 200 800", oom_values)).flags(MULTI_ARG),
    Param::new("proc-title-template", inert!("proc-title-template", "{title} {listen-addr} {server-mode}", proc_title)),
    Param::new("propagation-error-behavior", inert!("propagation-error-behavior", "ignore", |a| choice(a, &["ignore", "panic", "panic-on-replicas"]))),
    Param::new("rdb-del-sync-files", inert!("rdb-del-sync-files", "no", boolean)),
    Param::new("rdb-save-incremental-fsync", inert!("rdb-save-incremental-fsync", "yes", boolean)),
    Param::new("rdbchecksum", inert!("rdbchecksum", "yes", boolean)).flags(IMMUTABLE),
    Param::new("rdbcompression", inert!("rdbcompression", "yes", boolean)),
    Param::new("repl-backlog-size", inert!("repl-backlog-size", "1048576", |a| memory(a, 1, LONG_MAX))),
    Param::new("repl-backlog-ttl", inert!("repl-backlog-ttl", "3600", |a| int(a, 0, LONG_MAX))),
    Param::new("repl-disable-tcp-nodelay", inert!("repl-disable-tcp-nodelay", "no", boolean)),
    Param::new("repl-diskless-load", inert!("repl-diskless-load", "disabled", |a| choice(a, &["disabled", "on-empty-db", "swapdb"]))),
    Param::new("repl-diskless-sync", inert!("repl-diskless-sync", "yes", boolean)),
    Param::new("repl-diskless-sync-delay", inert!("repl-diskless-sync-delay", "5", |a| int(a, 0, INT_MAX))),
    Param::new("repl-diskless-sync-max-replicas", inert!("repl-diskless-sync-max-replicas", "0", |a| int(a, 0, INT_MAX))),
    Param::new("repl-ping-replica-period", inert!("repl-ping-replica-period", "10", |a| int(a, 1, INT_MAX))).alias("repl-ping-slave-period"),
    Param::new("repl-timeout", inert!("repl-timeout", "60", |a| int(a, 1, INT_MAX))),
    Param::new("replica-announce-ip", inert!("replica-announce-ip", "", string)).alias("slave-announce-ip"),
    Param::new("replica-announce-port", inert!("replica-announce-port", "0", |a| int(a, 0, 65535))).alias("slave-announce-port"),
    Param::new("replica-announced", inert!("replica-announced", "yes", boolean)),
    Param::new("replica-ignore-disk-write-errors", inert!("replica-ignore-disk-write-errors", "no", boolean)),
    Param::new("replica-ignore-maxmemory", inert!("replica-ignore-maxmemory", "yes", boolean)).alias("slave-ignore-maxmemory"),
    Param::new("replica-lazy-flush", inert!("replica-lazy-flush", "no", boolean)).alias("slave-lazy-flush"),
    Param::new("replica-priority", inert!("replica-priority", "100", |a| int(a, 0, INT_MAX))).alias("slave-priority"),
    Param::new("replica-read-only", inert!("replica-read-only", "yes", boolean)).alias("slave-read-only"),
    Param::new("replica-serve-stale-data", inert!("replica-serve-stale-data", "yes", boolean)).alias("slave-serve-stale-data"),
    Param::new("replicaof", inert!("replicaof", "", replicaof)).alias("slaveof").flags(IMMUTABLE | MULTI_ARG),
    Param::new("sanitize-dump-payload", inert!("sanitize-dump-payload", "no", |a| choice(a, &["no", "yes", "clients"]))),
    Param::new("server_cpulist", inert!("server_cpulist", "", string)).flags(IMMUTABLE),
    Param::new("set-proc-title", inert!("set-proc-title", "yes", boolean)).flags(IMMUTABLE),
    Param::new("shutdown-on-sigint", inert!("shutdown-on-sigint", "default", shutdown_flags)).flags(MULTI_ARG),
    Param::new("shutdown-on-sigterm", inert!("shutdown-on-sigterm", "default", shutdown_flags)).flags(MULTI_ARG),
    Param::new("shutdown-timeout", inert!("shutdown-timeout", "10", |a| int(a, 0, INT_MAX))),
    Param::new("socket-mark-id", inert!("socket-mark-id", "0", |a| int(a, 0, UINT_MAX))).flags(IMMUTABLE),
    Param::new("supervised", inert!("supervised", "no", |a| choice(a, &["upstart", "systemd", "auto", "no"]))).flags(IMMUTABLE),
    Param::new("syslog-enabled", inert!("syslog-enabled", "no", boolean)).flags(IMMUTABLE),
    Param::new("syslog-facility", inert!("syslog-facility", "local0", |a| choice(a, &SYSLOG_FACILITIES))).flags(IMMUTABLE),
    Param::new("syslog-ident", inert!("syslog-ident", "redis", string)).flags(IMMUTABLE),
    Param::new("tls-auth-clients", inert!("tls-auth-clients", "yes", |a| choice(a, &["no", "yes", "optional"]))),
    Param::new("tls-ca-cert-dir", inert!("tls-ca-cert-dir", "", string)),
    Param::new("tls-ca-cert-file", inert!("tls-ca-cert-file", "", string)),
    Param::new("tls-cert-file", inert!("tls-cert-file", "", string)),
    Param::new("tls-ciphers", inert!("tls-ciphers", "", string)),
    Param::new("tls-ciphersuites", inert!("tls-ciphersuites", "", string)),
    Param::new("tls-client-cert-file", inert!("tls-client-cert-file", "", string)),
    Param::new("tls-client-key-file", inert!("tls-client-key-file", "", string)),
    Param::new("tls-client-key-file-pass", inert!("tls-client-key-file-pass", "", string)),
    Param::new("tls-cluster", inert!("tls-cluster", "no", boolean)),
    Param::new("tls-dh-params-file", inert!("tls-dh-params-file", "", string)),
    Param::new("tls-key-file", inert!("tls-key-file", "", string)),
    Param::new("tls-key-file-pass", inert!("tls-key-file-pass", "", string)),
    Param::new("tls-port", inert!("tls-port", "0", |a| int(a, 0, 65535))),
    Param::new("tls-prefer-server-ciphers", inert!("tls-prefer-server-ciphers", "no", boolean)),
    Param::new("tls-protocols", inert!("tls-protocols", "", string)),
    Param::new("tls-replication", inert!("tls-replication", "no", boolean)),
    Param::new("tls-session-cache-size", inert!("tls-session-cache-size", "20480", |a| int(a, 0, INT_MAX))),
    Param::new("tls-session-cache-timeout", inert!("tls-session-cache-timeout", "300", |a| int(a, 0, INT_MAX))),
    Param::new("tls-session-caching", inert!("tls-session-caching", "yes", boolean)),
];
