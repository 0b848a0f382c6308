//! Protocol edge cases over raw TCP: inline commands, pipelining, and
//! malformed input. Each case's expected bytes were taken from Redis 7; when
//! `redis-server` is installed the same bytes are also sent to it and the
//! answers compared, so the expectations cannot drift from Redis.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `input`, then collects everything the server sends until it closes
/// the connection or stays quiet for a moment.
fn exchange(port: u16, input: &[u8]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s.write_all(input).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// (input, expected output, connection closed afterwards)
const CASES: &[(&[u8], &[u8], bool)] = &[
    (b"PING\r\n", b"+PONG\r\n", false),
    (b"  PING  \n", b"+PONG\r\n", false),
    (b"\r\n", b"", false),
    (
        b"PING\nPING\r\nECHO \"x y\"\n",
        b"+PONG\r\n+PONG\r\n$3\r\nx y\r\n",
        false,
    ),
    (
        b"SET k \"a\\x41\"\r\nGET k\r\n",
        b"+OK\r\n$2\r\naA\r\n",
        false,
    ),
    (
        b"GET\r\n",
        b"-ERR wrong number of arguments for 'get' command\r\n",
        false,
    ),
    (
        b"foo bar baz\r\n",
        b"-ERR unknown command 'foo', with args beginning with: 'bar' 'baz' \r\n",
        false,
    ),
    (
        b"$4\r\nPING\r\n",
        b"-ERR unknown command '$4', with args beginning with: \r\n+PONG\r\n",
        false,
    ),
    (b"*0\r\nPING\r\n", b"+PONG\r\n", false),
    (b"*-5\r\nPING\r\n", b"+PONG\r\n", false),
    (
        b"*1\r\n$0\r\n\r\n",
        b"-ERR unknown command '', with args beginning with: \r\n",
        false,
    ),
    (b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", b"$0\r\n\r\n", false),
    (b"*1\r\n$4\r\nPING", b"", false),
    (b"*2147483647\r\n", b"", false),
    (
        b"*1\r\n$-1\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
        true,
    ),
    (
        b"*x\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
        true,
    ),
    (
        b"*2147483648\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
        true,
    ),
    (
        b"*1\r\nx\r\n",
        b"-ERR Protocol error: expected '$', got 'x'\r\n",
        true,
    ),
    (
        b"*1\r\n$abc\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
        true,
    ),
    (
        b"*1\r\n$536870913\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
        true,
    ),
    (
        b"SET \"a\r\n",
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
        true,
    ),
    (
        b"ECHO 'a'b\r\n",
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
        true,
    ),
    (
        b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n:1\r\n",
        b"-ERR Protocol error: expected '$', got ':'\r\n",
        true,
    ),
    // Replies to the requests before the bad one are still sent.
    (
        b"*1\r\n$4\r\nPING\r\n*1\r\n$-1\r\nPING\r\n",
        b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
        true,
    ),
];

#[test]
fn protocol_edge_cases_match_redis() {
    let forkv = common::start(&[]);
    let redis = common::start_redis(&[]);
    let mut failures = Vec::new();
    for (input, expected, closes) in CASES {
        let got = exchange(forkv.port, input);
        if got != (expected.to_vec(), *closes) {
            failures.push(format!(
                "forkv {:?}: got {:?}, want {:?}",
                String::from_utf8_lossy(input),
                (String::from_utf8_lossy(&got.0), got.1),
                (String::from_utf8_lossy(expected), closes)
            ));
        }
        if let Some(r) = &redis {
            let want = exchange(r.port, input);
            if want != got {
                failures.push(format!(
                    "redis differs on {:?}: redis {:?}, forkv {:?}",
                    String::from_utf8_lossy(input),
                    String::from_utf8_lossy(&want.0),
                    String::from_utf8_lossy(&got.0)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_client_does_not_disturb_others() {
    let server = common::start(&[]);
    let mut good = server.raw_conn();
    assert_eq!(common::cmd(&mut good, &[b"SET", b"k", b"v"]), b"+OK\r\n");
    for garbage in [&b"*1\r\n$-1\r\n"[..], b"*zz\r\n", &[0xff; 70_000][..]] {
        let (_, closed) = exchange(server.port, garbage);
        assert!(closed, "garbage connection should be closed");
        assert_eq!(common::cmd(&mut good, &[b"GET", b"k"]), b"$1\r\nv\r\n");
    }
    // A truncated request followed by a disconnect leaves no trace either.
    drop(exchange(server.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk"));
    assert_eq!(common::cmd(&mut good, &[b"GET", b"k"]), b"$1\r\nv\r\n");
}

#[test]
fn oversized_inline_request_is_refused() {
    let server = common::start(&[]);
    let (out, closed) = exchange(server.port, &vec![b'a'; 70 * 1024]);
    assert_eq!(out, b"-ERR Protocol error: too big inline request\r\n");
    assert!(closed);
}

#[test]
fn proto_max_bulk_len_is_configurable() {
    let server = common::start(&["--proto-max-bulk-len", "1mb"]);
    let mut c = server.raw_conn();
    let ok = vec![b'x'; 1024 * 1024];
    assert_eq!(common::cmd(&mut c, &[b"SET", b"k", &ok]), b"+OK\r\n");
    assert_eq!(common::cmd(&mut c, &[b"STRLEN", b"k"]), b":1048576\r\n");
    let (out, closed) = exchange(server.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n");
    assert_eq!(out, b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(closed);
    // APPEND past the limit is refused with Redis's message.
    assert_eq!(
        common::cmd(&mut c, &[b"APPEND", b"k", b"y"]),
        b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
}

#[test]
fn query_buffer_limit_closes_only_that_client() {
    let server = common::start(&["--client-query-buffer-limit", "1mb"]);
    let mut good = server.raw_conn();
    // A bulk announced as 4 MB fills the query buffer past the 1 MB limit.
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4000000\r\n")
        .unwrap();
    let chunk = vec![b'z'; 64 * 1024];
    let mut sent = 0;
    while sent < 4_000_000 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "connection must be closed without a reply");
    assert_eq!(common::cmd(&mut good, &[b"PING"]), b"+PONG\r\n");
    let mut c = server.client();
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(
        info.contains("client_query_buffer_limit_disconnections:1"),
        "{info}"
    );
}

#[test]
fn pipelined_replies_leave_in_one_write() {
    let server = common::start(&[]);
    let mut c = server.raw_conn();
    let writes_before = stat(&server, "total_writes_processed");
    let mut batch = Vec::new();
    for i in 0..500 {
        batch.extend_from_slice(&common::encode_command(&[
            b"SET",
            format!("k{i}").as_bytes(),
            b"v",
        ]));
        batch.extend_from_slice(&common::encode_command(&[
            b"GET",
            format!("k{i}").as_bytes(),
        ]));
    }
    c.write_all(&batch).unwrap();
    for _ in 0..500 {
        assert_eq!(common::read_reply(&mut c), b"+OK\r\n");
        assert_eq!(common::read_reply(&mut c), b"$1\r\nv\r\n");
    }
    let writes = stat(&server, "total_writes_processed") - writes_before;
    let reads = stat(&server, "total_reads_processed");
    // One write per read that completed requests (+1 for the INFO itself);
    // far fewer than the 1000 replies.
    assert!(
        writes <= reads && writes < 20,
        "writes={writes} reads={reads}"
    );
}

fn stat(server: &common::Server, field: &str) -> i64 {
    let mut c = server.client();
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .parse()
        .unwrap()
}
