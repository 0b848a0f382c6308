//! MONITOR: a monitoring client receives one line per command the server
//! runs, after it runs (`+<unix time>.<µs> [<db> <addr>] "arg" ...`, each
//! argument quoted like Redis's `sdscatrepr`). Administrative commands and
//! those flagged `skip_monitor` are not shown, and secrets (AUTH and HELLO
//! passwords, sensitive CONFIG SET values) appear as `(redacted)`, as they
//! also do in the slow log.
//!
//! A monitoring client still runs commands that do not touch the keyspace
//! (PING, CLIENT, INFO, ...); keyspace commands are refused as Redis
//! refuses them to replicas. RESET ends monitoring.

use super::{Command, Ctx, is};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::server::state::ServerState;
use bytes::Bytes;
use std::borrow::Cow;

/// Refusal of keyspace commands on a monitoring connection.
pub const REPLICA_KEYSPACE: &str = "ERR Replica can't interact with the keyspace";

/// MONITOR
pub fn monitor(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    if ctx.client.deny_blocking {
        return Err(CmdError::msg(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    if ctx.client.monitor {
        // Already monitoring: Redis ignores the command without a reply.
        return Ok(Reply::Raw(Bytes::new()));
    }
    ctx.client.monitor = true;
    ctx.srv.monitors.push(ctx.client.id);
    Ok(Reply::Ok)
}

/// Sends the line for `args`, run by `client`, to every monitoring client
/// (`server::monitor`), with its secrets redacted.
pub fn feed(srv: &mut ServerState, client: &mut Client, cmd: &Command, args: &[Bytes]) {
    if !srv.monitors.is_empty() {
        crate::server::monitor::feed(srv, client, &shown_args(cmd, args));
    }
}

const REDACTED: Bytes = Bytes::from_static(b"(redacted)");

/// The arguments as MONITOR and the slow log show them: the secrets a
/// command read replaced by `(redacted)`. Like Redis, only arguments the
/// command got as far as reading are redacted (a malformed HELLO before its
/// AUTH option shows everything).
pub fn shown_args<'a>(cmd: &Command, args: &'a [Bytes]) -> Cow<'a, [Bytes]> {
    let secrets = cmd.secrets(args);
    if secrets.is_empty() {
        return Cow::Borrowed(args);
    }
    let mut v = args.to_vec();
    for p in secrets {
        v[p] = REDACTED;
    }
    Cow::Owned(v)
}

/// AUTH's secrets: every argument of its one- and two-argument forms.
pub fn auth_secrets(args: &[Bytes]) -> Vec<usize> {
    if args.len() <= 3 {
        (1..args.len()).collect()
    } else {
        Vec::new()
    }
}

/// CONFIG SET's secrets: the values of `requirepass` and `masterauth`.
pub fn config_set_secrets(args: &[Bytes]) -> Vec<usize> {
    if !args.len().is_multiple_of(2) {
        return Vec::new();
    }
    (2..args.len())
        .step_by(2)
        .filter(|&i| is(&args[i], "requirepass") || is(&args[i], "masterauth"))
        .map(|i| i + 1)
        .collect()
}

/// HELLO's secrets: the user and password of its AUTH option.
pub fn hello_secrets(args: &[Bytes]) -> Vec<usize> {
    let mut out = Vec::new();
    if args.len() >= 2 {
        match crate::util::num::parse_i64(&args[1]) {
            Some(2..=3) => {}
            _ => return out,
        }
    }
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "auth") && more >= 2 {
            out.extend([j + 1, j + 2]);
            j += 3;
        } else if is(&args[j], "setname") && more >= 1 {
            j += 2;
        } else {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn shown(name: &str, v: &[&str]) -> Vec<String> {
        let cmd = super::super::table().get(name).unwrap();
        let a = args(v);
        shown_args(cmd, &a)
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn redacts_like_redis() {
        assert_eq!(shown("auth", &["auth", "pw"]), ["auth", "(redacted)"]);
        assert_eq!(
            shown("auth", &["auth", "u", "p"]),
            ["auth", "(redacted)", "(redacted)"]
        );
        assert_eq!(
            shown("auth", &["auth", "a", "b", "c"]),
            ["auth", "a", "b", "c"]
        );
        assert_eq!(
            shown("hello", &["hello", "3", "auth", "u", "p", "setname", "n"]),
            [
                "hello",
                "3",
                "auth",
                "(redacted)",
                "(redacted)",
                "setname",
                "n"
            ]
        );
        assert_eq!(
            shown("hello", &["hello", "2", "auth", "u", "p", "bogus"]),
            ["hello", "2", "auth", "(redacted)", "(redacted)", "bogus"]
        );
        assert_eq!(
            shown("hello", &["hello", "9", "auth", "u", "p"]),
            ["hello", "9", "auth", "u", "p"]
        );
        assert_eq!(
            shown("hello", &["hello", "2", "auth", "u"]),
            ["hello", "2", "auth", "u"]
        );
        assert_eq!(
            shown(
                "config|set",
                &["config", "set", "maxclients", "5", "REQUIREPASS", "x"]
            ),
            [
                "config",
                "set",
                "maxclients",
                "5",
                "REQUIREPASS",
                "(redacted)"
            ]
        );
        assert_eq!(shown("get", &["get", "k"]), ["get", "k"]);
    }
}
