//! The MONITOR registry: which clients monitor, and the line each of them
//! gets per command (`+<unix time>.<µs> [<db> <addr>] "arg" ...`, each
//! argument quoted like Redis's `sdscatrepr`). The MONITOR command and the
//! redaction of secrets live in `cmd::monitor`.

use super::client::Client;
use super::state::ServerState;
use crate::protocol::Reply;
use bytes::Bytes;

/// Ends monitoring for `client` (RESET, disconnection).
pub fn stop(srv: &mut ServerState, client: &mut Client) {
    if client.monitor {
        client.monitor = false;
        srv.monitors.retain(|&id| id != client.id);
    }
}

/// Sends the line for `args`, run by `client`, to every monitoring client.
/// The running client's own line follows its reply (see `Client::echo`).
/// `shown` are the arguments as MONITOR shows them (secrets redacted).
pub fn feed(srv: &mut ServerState, client: &mut Client, shown: &[Bytes]) {
    if srv.monitors.is_empty() {
        return;
    }
    let line = Reply::Status(Bytes::from(line(client, shown)));
    for id in srv.monitors.clone() {
        if id == client.id {
            // Nothing more reaches a client that is closing (QUIT).
            if !client.close_after_reply {
                client.echo.push(line.clone());
            }
        } else {
            srv.deliver(None, id, &line);
        }
    }
}

/// The monitor line (without the leading `+` and the line end).
fn line(client: &Client, args: &[Bytes]) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut s = format!(
        "{}.{:06} [{} {}]",
        t.as_secs(),
        t.subsec_micros(),
        client.db,
        client.addr
    );
    for a in args {
        s.push(' ');
        s.push_str(&crate::util::split::repr(a));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn line_quotes_arguments() {
        let c = Client::new(1, "127.0.0.1:5000".into(), String::new(), 0, true, 0);
        let l = line(&c, &args(&["set", "k", "a\"b\\\u{e9}\n"]));
        let (_, rest) = l.split_once(' ').unwrap();
        assert_eq!(
            rest,
            "[0 127.0.0.1:5000] \"set\" \"k\" \"a\\\"b\\\\\\xc3\\xa9\\n\""
        );
    }
}
