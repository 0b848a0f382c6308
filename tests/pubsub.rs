//! Pub/sub through the real server with several real clients: confirmations
//! and messages byte for byte in RESP2 and RESP3, message order, pattern and
//! channel double delivery, subscribe mode, PUBSUB introspection, INFO and
//! CLIENT LIST counts, sharded channels, cleanup on RESET and disconnect,
//! and `client-output-buffer-limit pubsub` with subscribers that stop
//! reading. Single-connection exchanges are also compared with Redis in
//! `tests/corpus/pubsub.txt`; multi-client transcripts are compared with
//! Redis here.

mod common;

use common::{
    RawConn, Server, cmd, escape, expect as is, info_value as info_field, line as r,
    no_reply_within, read_reply, send, start,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Sends a command without reading its reply.
fn send_line(c: &mut RawConn, line: &str) {
    let args: Vec<&[u8]> = line.split_whitespace().map(|a| a.as_bytes()).collect();
    send(c, &args);
}

/// Reads one reply and compares it.
#[track_caller]
fn expect(c: &mut RawConn, want: &str) {
    let got = read_reply(c);
    assert_eq!(escape(&got), escape(want.as_bytes()));
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// A RESP2 array (`*`) or RESP3 push (`>`) of bulk strings.
fn agg(kind: char, items: &[&str]) -> String {
    let mut out = format!("{kind}{}\r\n", items.len());
    for i in items {
        out.push_str(&bulk(i));
    }
    out
}

/// A subscribe/unsubscribe confirmation; `topic` None is the null topic.
fn conf(resp: u8, what: &str, topic: Option<&str>, n: i64) -> String {
    let kind = if resp == 3 { '>' } else { '*' };
    let topic = match (topic, resp) {
        (Some(t), _) => bulk(t),
        (None, 3) => "_\r\n".to_string(),
        (None, _) => "$-1\r\n".to_string(),
    };
    format!("{kind}3\r\n{}{topic}:{n}\r\n", bulk(what))
}

fn msg(resp: u8, ch: &str, m: &str) -> String {
    agg(if resp == 3 { '>' } else { '*' }, &["message", ch, m])
}

fn pmsg(resp: u8, pat: &str, ch: &str, m: &str) -> String {
    agg(if resp == 3 { '>' } else { '*' }, &["pmessage", pat, ch, m])
}

fn info_num(c: &mut RawConn, section: &str, name: &str) -> u64 {
    info_field(c, section, name).parse().unwrap()
}

/// Polls `f` until it is true (10 s at most).
#[track_caller]
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// CLIENT LIST's line for client `id`, if it is connected.
fn client_line(c: &mut RawConn, id: i64) -> Option<String> {
    let raw = r(c, &format!("CLIENT LIST ID {id}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.lines()
        .find(|l| l.starts_with(&format!("id={id} ")))
        .map(str::to_string)
}

/// A `key=value` field of a CLIENT LIST line.
fn field(line: &str, key: &str) -> String {
    line.split(' ')
        .find_map(|f| f.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .to_string()
}

fn client_id(c: &mut RawConn) -> i64 {
    let raw = r(c, "CLIENT ID");
    String::from_utf8_lossy(&raw[1..raw.len() - 2])
        .parse()
        .unwrap()
}

fn hello3(c: &mut RawConn) {
    let reply = r(c, "HELLO 3");
    assert_eq!(reply[0], b'%', "{}", escape(&reply));
}

#[test]
fn resp2_confirmations_messages_and_order() {
    let s = start(&[]);
    let mut sub = s.raw_conn();
    let mut sub3 = s.raw_conn();
    let mut publ = s.raw_conn();
    send_line(&mut sub, "SUBSCRIBE a b a");
    expect(&mut sub, &conf(2, "subscribe", Some("a"), 1));
    expect(&mut sub, &conf(2, "subscribe", Some("b"), 2));
    expect(&mut sub, &conf(2, "subscribe", Some("a"), 2));
    hello3(&mut sub3);
    send_line(&mut sub3, "SUBSCRIBE b");
    expect(&mut sub3, &conf(3, "subscribe", Some("b"), 1));

    is(&mut publ, "PUBLISH a hello", ":1\r\n");
    expect(&mut sub, &msg(2, "a", "hello"));
    is(&mut publ, "PUBLISH nobody x", ":0\r\n");

    // Messages arrive in publication order, on every subscriber.
    for i in 0..300 {
        let ch = if i % 3 == 0 { "a" } else { "b" };
        let want = if ch == "a" { ":1\r\n" } else { ":2\r\n" };
        is(&mut publ, &format!("PUBLISH {ch} m{i}"), want);
    }
    for i in 0..300 {
        let ch = if i % 3 == 0 { "a" } else { "b" };
        expect(&mut sub, &msg(2, ch, &format!("m{i}")));
        if ch == "b" {
            expect(&mut sub3, &msg(3, ch, &format!("m{i}")));
        }
    }

    // Binary-safe channel and message.
    let reply = cmd(&mut publ, &[b"PUBLISH", b"a", b"x\r\n\x00y"]);
    assert_eq!(reply, b":1\r\n");
    assert_eq!(
        read_reply(&mut sub),
        b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nx\r\n\x00y\r\n"
    );

    // UNSUBSCRIBE without arguments: subscription order, then the null form.
    send_line(&mut sub, "UNSUBSCRIBE");
    expect(&mut sub, &conf(2, "unsubscribe", Some("a"), 1));
    expect(&mut sub, &conf(2, "unsubscribe", Some("b"), 0));
    is(&mut sub, "UNSUBSCRIBE", &conf(2, "unsubscribe", None, 0));
    is(&mut publ, "PUBLISH a x", ":0\r\n");
    is(&mut publ, "PUBLISH b x", ":1\r\n");
    expect(&mut sub3, &msg(3, "b", "x"));
    // Out of subscribe mode: normal commands work again.
    is(&mut sub, "GET k", "$-1\r\n");
    is(&mut sub, "PING", "+PONG\r\n");
}

#[test]
fn pattern_and_channel_both_deliver() {
    let s = start(&[]);
    let mut sub = s.raw_conn();
    let mut publ = s.raw_conn();
    send_line(&mut sub, "SUBSCRIBE news.1");
    expect(&mut sub, &conf(2, "subscribe", Some("news.1"), 1));
    send_line(&mut sub, "PSUBSCRIBE news.*");
    expect(&mut sub, &conf(2, "psubscribe", Some("news.*"), 2));

    // One client, counted once per subscription, the channel first.
    is(&mut publ, "PUBLISH news.1 x", ":2\r\n");
    expect(&mut sub, &msg(2, "news.1", "x"));
    expect(&mut sub, &pmsg(2, "news.*", "news.1", "x"));
    is(&mut publ, "PUBLISH news.2 y", ":1\r\n");
    expect(&mut sub, &pmsg(2, "news.*", "news.2", "y"));
    is(&mut publ, "PUBLISH other z", ":0\r\n");

    // Two matching patterns: one pmessage each (Redis leaves their order
    // open).
    send_line(&mut sub, "PSUBSCRIBE n[aeiou]ws.?");
    expect(&mut sub, &conf(2, "psubscribe", Some("n[aeiou]ws.?"), 3));
    is(&mut publ, "PUBLISH news.1 w", ":3\r\n");
    expect(&mut sub, &msg(2, "news.1", "w"));
    let got: HashSet<Vec<u8>> = (0..2).map(|_| read_reply(&mut sub)).collect();
    let want: HashSet<Vec<u8>> = [
        pmsg(2, "news.*", "news.1", "w").into_bytes(),
        pmsg(2, "n[aeiou]ws.?", "news.1", "w").into_bytes(),
    ]
    .into();
    assert_eq!(got, want);

    // `*` does not match the empty channel, as in Redis.
    send_line(&mut sub, "PSUBSCRIBE *");
    expect(&mut sub, &conf(2, "psubscribe", Some("*"), 4));
    assert_eq!(cmd(&mut publ, &[b"PUBLISH", b"", b"e"]), b":0\r\n");
    is(&mut publ, "PUBLISH zz e", ":1\r\n");
    expect(&mut sub, &pmsg(2, "*", "zz", "e"));

    // Unsubscribing patterns leaves the channel subscription.
    send_line(&mut sub, "PUNSUBSCRIBE");
    expect(&mut sub, &conf(2, "punsubscribe", Some("news.*"), 3));
    expect(&mut sub, &conf(2, "punsubscribe", Some("n[aeiou]ws.?"), 2));
    expect(&mut sub, &conf(2, "punsubscribe", Some("*"), 1));
    is(&mut sub, "PUNSUBSCRIBE", &conf(2, "punsubscribe", None, 1));
    is(&mut publ, "PUBLISH news.1 v", ":1\r\n");
    expect(&mut sub, &msg(2, "news.1", "v"));
}

#[test]
fn resp2_subscribe_mode_allows_only_subscription_commands() {
    let s = start(&[]);
    let mut c = s.raw_conn();
    let err = |name: &str| {
        format!(
            "-ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
        )
    };
    is(&mut c, "SSUBSCRIBE s", &conf(2, "ssubscribe", Some("s"), 1));
    is(&mut c, "GET k", &err("get"));
    is(&mut c, "PUBLISH s x", &err("publish"));
    is(&mut c, "CLIENT INFO", &err("client|info"));
    is(&mut c, "HELLO 3", &err("hello"));
    is(&mut c, "PUBSUB NUMPAT", &err("pubsub|numpat"));
    // Lookup and arity come first.
    is(
        &mut c,
        "NOPE x",
        "-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n",
    );
    is(
        &mut c,
        "GET",
        "-ERR wrong number of arguments for 'get' command\r\n",
    );
    is(&mut c, "PING", "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    is(&mut c, "PING hi", "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    is(&mut c, "SUBSCRIBE a", &conf(2, "subscribe", Some("a"), 1));
    is(&mut c, "PSUBSCRIBE p", &conf(2, "psubscribe", Some("p"), 2));
    is(
        &mut c,
        "UNSUBSCRIBE a",
        &conf(2, "unsubscribe", Some("a"), 1),
    );
    is(
        &mut c,
        "PUNSUBSCRIBE p",
        &conf(2, "punsubscribe", Some("p"), 0),
    );
    // Still subscribed to a shard channel.
    is(&mut c, "GET k", &err("get"));
    is(
        &mut c,
        "SUNSUBSCRIBE",
        &conf(2, "sunsubscribe", Some("s"), 0),
    );
    is(&mut c, "GET k", "$-1\r\n");

    // Rejections count as rejected calls, as in Redis.
    let stats = String::from_utf8_lossy(&r(&mut c, "INFO commandstats")).into_owned();
    let line = stats
        .lines()
        .find(|l| l.starts_with("cmdstat_get:"))
        .unwrap();
    assert!(line.contains("rejected_calls=3"), "{line}");

    // QUIT is allowed and closes the connection.
    is(&mut c, "SUBSCRIBE a", &conf(2, "subscribe", Some("a"), 1));
    is(&mut c, "QUIT", "+OK\r\n");
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut c, &mut rest);
    assert!(rest.is_empty(), "{}", escape(&rest));
}

#[test]
fn resp3_pushes_and_any_command() {
    let s = start(&[]);
    let mut c = s.raw_conn();
    let mut other = s.raw_conn();
    is(&mut c, "UNSUBSCRIBE", &conf(2, "unsubscribe", None, 0));
    hello3(&mut c);
    is(&mut c, "UNSUBSCRIBE", &conf(3, "unsubscribe", None, 0));
    is(&mut c, "SUBSCRIBE a", &conf(3, "subscribe", Some("a"), 1));
    is(&mut c, "SET k v", "+OK\r\n");
    is(&mut c, "GET k", "$1\r\nv\r\n");
    is(&mut c, "GET nokey", "_\r\n");
    is(&mut c, "PING", "+PONG\r\n");
    // Publishing to itself: the push comes before the reply.
    send_line(&mut c, "PUBLISH a self");
    expect(&mut c, &msg(3, "a", "self"));
    expect(&mut c, ":1\r\n");
    is(&mut other, "PUBLISH a x", ":1\r\n");
    expect(&mut c, &msg(3, "a", "x"));

    // Back to RESP2 while subscribed: subscribe mode applies.
    let reply = r(&mut c, "HELLO 2");
    assert_eq!(reply[0], b'*');
    is(
        &mut c,
        "GET k",
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    is(&mut other, "PUBLISH a y", ":1\r\n");
    expect(&mut c, &msg(2, "a", "y"));

    // RESET leaves every subscription without confirmations.
    is(
        &mut c,
        "PSUBSCRIBE p*",
        &conf(2, "psubscribe", Some("p*"), 2),
    );
    is(&mut c, "SSUBSCRIBE s", &conf(2, "ssubscribe", Some("s"), 1));
    is(&mut c, "RESET", "+RESET\r\n");
    is(&mut other, "PUBLISH a z", ":0\r\n");
    is(&mut other, "PUBLISH pq z", ":0\r\n");
    is(&mut other, "SPUBLISH s z", ":0\r\n");
    is(&mut other, "PUBSUB NUMPAT", ":0\r\n");
    is(&mut c, "GET k", "$1\r\nv\r\n");
    no_reply_within(&mut c, Duration::from_millis(50));
}

#[test]
fn client_reply_off_still_gets_subscription_pushes() {
    let s = start(&[]);
    let mut c = s.raw_conn();
    let mut other = s.raw_conn();
    send_line(&mut c, "CLIENT REPLY OFF");
    send_line(&mut c, "SUBSCRIBE a");
    expect(&mut c, &conf(2, "subscribe", Some("a"), 1));
    send_line(&mut c, "PING");
    is(&mut other, "PUBLISH a m", ":1\r\n");
    // PING's reply was dropped; the message was not.
    expect(&mut c, &msg(2, "a", "m"));
    send_line(&mut c, "UNSUBSCRIBE");
    expect(&mut c, &conf(2, "unsubscribe", Some("a"), 0));
    is(&mut c, "CLIENT REPLY ON", "+OK\r\n");

    hello3(&mut c);
    is(&mut c, "SUBSCRIBE b", &conf(3, "subscribe", Some("b"), 1));
    send_line(&mut c, "CLIENT REPLY SKIP");
    send_line(&mut c, "PUBLISH b m");
    expect(&mut c, &msg(3, "b", "m"));
    is(&mut c, "PING", "+PONG\r\n");
}

#[test]
fn pubsub_introspection_info_and_client_list() {
    let s = start(&[]);
    let mut c1 = s.raw_conn();
    let mut c2 = s.raw_conn();
    let mut q = s.raw_conn();
    let id1 = client_id(&mut c1);
    send_line(&mut c1, "SUBSCRIBE a b");
    expect(&mut c1, &conf(2, "subscribe", Some("a"), 1));
    expect(&mut c1, &conf(2, "subscribe", Some("b"), 2));
    is(
        &mut c1,
        "PSUBSCRIBE p*",
        &conf(2, "psubscribe", Some("p*"), 3),
    );
    is(
        &mut c1,
        "SSUBSCRIBE s",
        &conf(2, "ssubscribe", Some("s"), 1),
    );
    hello3(&mut c2);
    is(&mut c2, "SUBSCRIBE a", &conf(3, "subscribe", Some("a"), 1));
    send_line(&mut c2, "PSUBSCRIBE p* q?");
    expect(&mut c2, &conf(3, "psubscribe", Some("p*"), 2));
    expect(&mut c2, &conf(3, "psubscribe", Some("q?"), 3));

    is(
        &mut q,
        "PUBSUB NUMSUB a b c",
        "*6\r\n$1\r\na\r\n:2\r\n$1\r\nb\r\n:1\r\n$1\r\nc\r\n:0\r\n",
    );
    is(&mut q, "PUBSUB NUMSUB", "*0\r\n");
    // Distinct patterns, not subscriptions.
    is(&mut q, "PUBSUB NUMPAT", ":2\r\n");
    let all = r(&mut q, "PUBSUB CHANNELS");
    assert!(
        all == b"*2\r\n$1\r\na\r\n$1\r\nb\r\n" || all == b"*2\r\n$1\r\nb\r\n$1\r\na\r\n",
        "{}",
        escape(&all)
    );
    is(&mut q, "PUBSUB CHANNELS [a]", "*1\r\n$1\r\na\r\n");
    is(&mut q, "PUBSUB CHANNELS p*", "*0\r\n");
    is(&mut q, "PUBSUB SHARDCHANNELS", "*1\r\n$1\r\ns\r\n");
    is(
        &mut q,
        "PUBSUB SHARDNUMSUB s a",
        "*4\r\n$1\r\ns\r\n:1\r\n$1\r\na\r\n:0\r\n",
    );
    is(
        &mut q,
        "PUBSUB CHANNELS a b",
        "-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n",
    );

    assert_eq!(info_num(&mut q, "stats", "pubsub_channels"), 2);
    assert_eq!(info_num(&mut q, "stats", "pubsub_patterns"), 2);
    assert_eq!(info_num(&mut q, "stats", "pubsubshard_channels"), 1);

    let line = client_line(&mut q, id1).unwrap();
    assert_eq!(field(&line, "flags"), "P");
    assert_eq!(field(&line, "sub"), "2");
    assert_eq!(field(&line, "psub"), "1");
    assert_eq!(field(&line, "ssub"), "1");
    let mine = String::from_utf8_lossy(&r(&mut q, "CLIENT INFO")).into_owned();
    assert!(
        mine.contains(" flags=N db=0 sub=0 psub=0 ssub=0 "),
        "{mine}"
    );
    let count = |q: &mut RawConn, t: &str| {
        let raw = r(q, &format!("CLIENT LIST TYPE {t}"));
        String::from_utf8_lossy(&raw).matches("id=").count()
    };
    assert_eq!(count(&mut q, "pubsub"), 2);
    assert_eq!(count(&mut q, "normal"), 1);

    // A pattern shared by two clients stays until both leave it.
    is(
        &mut c1,
        "PUNSUBSCRIBE p*",
        &conf(2, "punsubscribe", Some("p*"), 2),
    );
    is(&mut q, "PUBSUB NUMPAT", ":2\r\n");
    is(&mut q, "PUBLISH pz m", ":1\r\n");
    expect(&mut c2, &pmsg(3, "p*", "pz", "m"));

    // CLIENT KILL TYPE pubsub drops both subscribers and their state.
    is(&mut q, "CLIENT KILL TYPE pubsub", ":2\r\n");
    wait_for("subscriptions to go", || {
        r(&mut q, "PUBSUB NUMSUB a") == b"*2\r\n$1\r\na\r\n:0\r\n"
    });
    is(&mut q, "PUBSUB NUMPAT", ":0\r\n");
    is(&mut q, "PUBSUB SHARDNUMSUB s", "*2\r\n$1\r\ns\r\n:0\r\n");
    assert_eq!(info_num(&mut q, "stats", "pubsub_channels"), 0);
    assert_eq!(info_num(&mut q, "stats", "pubsub_patterns"), 0);
    assert_eq!(info_num(&mut q, "stats", "pubsubshard_channels"), 0);
}

#[test]
fn closed_connection_drops_its_subscriptions() {
    let s = start(&[]);
    let mut q = s.raw_conn();
    {
        let mut c = s.raw_conn();
        send_line(&mut c, "SUBSCRIBE a");
        expect(&mut c, &conf(2, "subscribe", Some("a"), 1));
        send_line(&mut c, "PSUBSCRIBE *");
        expect(&mut c, &conf(2, "psubscribe", Some("*"), 2));
        send_line(&mut c, "SSUBSCRIBE s");
        expect(&mut c, &conf(2, "ssubscribe", Some("s"), 1));
        is(&mut q, "PUBLISH a x", ":2\r\n");
    }
    wait_for("the subscriber to go", || {
        r(&mut q, "PUBLISH a x") == b":0\r\n"
    });
    is(&mut q, "PUBSUB NUMPAT", ":0\r\n");
    is(&mut q, "PUBSUB CHANNELS", "*0\r\n");
    is(&mut q, "PUBSUB SHARDCHANNELS", "*0\r\n");
    is(&mut q, "SPUBLISH s x", ":0\r\n");
}

#[test]
fn sharded_channels_are_separate() {
    let s = start(&[]);
    let mut c = s.raw_conn();
    let mut pat = s.raw_conn();
    let mut publ = s.raw_conn();
    send_line(&mut c, "SSUBSCRIBE s1 s2");
    expect(&mut c, &conf(2, "ssubscribe", Some("s1"), 1));
    expect(&mut c, &conf(2, "ssubscribe", Some("s2"), 2));
    // Shard subscriptions are counted apart from channels and patterns.
    is(&mut c, "SUBSCRIBE a", &conf(2, "subscribe", Some("a"), 1));
    is(
        &mut c,
        "SSUBSCRIBE s3",
        &conf(2, "ssubscribe", Some("s3"), 3),
    );
    is(
        &mut pat,
        "PSUBSCRIBE *",
        &conf(2, "psubscribe", Some("*"), 1),
    );

    is(&mut publ, "SPUBLISH s1 m", ":1\r\n");
    expect(&mut c, &agg('*', &["smessage", "s1", "m"]));
    // PUBLISH does not reach shard subscribers, SPUBLISH not patterns.
    is(&mut publ, "PUBLISH s1 m", ":1\r\n");
    expect(&mut pat, &pmsg(2, "*", "s1", "m"));
    is(&mut publ, "SPUBLISH a m", ":0\r\n");
    no_reply_within(&mut pat, Duration::from_millis(50));

    is(
        &mut publ,
        "PUBSUB SHARDNUMSUB s1 s9",
        "*4\r\n$2\r\ns1\r\n:1\r\n$2\r\ns9\r\n:0\r\n",
    );
    is(
        &mut publ,
        "PUBSUB SHARDCHANNELS s[13]",
        "*2\r\n$2\r\ns1\r\n$2\r\ns3\r\n",
    );
    is(&mut publ, "PUBSUB NUMSUB s1", "*2\r\n$2\r\ns1\r\n:0\r\n");

    send_line(&mut c, "SUNSUBSCRIBE s2 nope");
    expect(&mut c, &conf(2, "sunsubscribe", Some("s2"), 2));
    expect(&mut c, &conf(2, "sunsubscribe", Some("nope"), 2));
    send_line(&mut c, "SUNSUBSCRIBE");
    expect(&mut c, &conf(2, "sunsubscribe", Some("s1"), 1));
    expect(&mut c, &conf(2, "sunsubscribe", Some("s3"), 0));
    is(&mut c, "SUNSUBSCRIBE", &conf(2, "sunsubscribe", None, 0));
    is(&mut c, "UNSUBSCRIBE", &conf(2, "unsubscribe", Some("a"), 0));

    hello3(&mut c);
    is(&mut c, "SSUBSCRIBE x", &conf(3, "ssubscribe", Some("x"), 1));
    send_line(&mut c, "SPUBLISH x self");
    expect(&mut c, &agg('>', &["smessage", "x", "self"]));
    expect(&mut c, ":1\r\n");
}

/// One step of a multi-client script: which connection runs what, and
/// whether its replies are part of the transcript (HELLO shows ids).
struct Step(usize, &'static str, bool);

/// Runs `script` against `server` and returns each connection's transcript:
/// every byte it received, in order. Each step is followed by a `PING` on
/// the same connection whose reply marks where the step's output ends;
/// at the end every connection is synchronised the same way.
fn transcripts(server: &Server, conns: usize, script: &[Step]) -> Vec<Vec<u8>> {
    let mut cs: Vec<RawConn> = (0..conns).map(|_| server.raw_conn()).collect();
    let mut out = vec![Vec::new(); conns];
    let sync = |c: &mut RawConn, out: &mut Vec<u8>, token: &str, record: bool| {
        send_line(c, &format!("PING {token}"));
        let plain = bulk(token).into_bytes();
        let sub = format!("*2\r\n$4\r\npong\r\n{}", bulk(token)).into_bytes();
        loop {
            let reply = read_reply(c);
            if reply == plain || reply == sub {
                return;
            }
            if record {
                out.extend_from_slice(&reply);
            }
        }
    };
    for (i, Step(conn, line, record)) in script.iter().enumerate() {
        send_line(&mut cs[*conn], line);
        sync(&mut cs[*conn], &mut out[*conn], &format!("s{i}"), *record);
    }
    for (i, c) in cs.iter_mut().enumerate() {
        sync(c, &mut out[i], "end", true);
    }
    out
}

#[test]
fn several_clients_match_redis() {
    let Some(redis) = common::start_redis(&[]) else {
        println!("skipped: redis-server not found");
        return;
    };
    let forkv = start(&[]);
    let script = [
        Step(0, "SUBSCRIBE news sport", true),
        Step(1, "HELLO 3", false),
        Step(1, "PSUBSCRIBE n*", true),
        Step(1, "SUBSCRIBE news", true),
        Step(2, "PUBLISH news one", true),
        Step(2, "PUBLISH sport two", true),
        Step(2, "PUBLISH nothing three", true),
        Step(1, "PUBLISH news self", true),
        Step(1, "SET k v", true),
        Step(0, "GET k", true),
        Step(0, "PING", true),
        Step(2, "PUBSUB NUMSUB news sport none", true),
        Step(2, "PUBSUB NUMPAT", true),
        Step(2, "PUBSUB CHANNELS s*", true),
        Step(0, "UNSUBSCRIBE news", true),
        Step(2, "PUBLISH news four", true),
        Step(3, "SSUBSCRIBE sh", true),
        Step(2, "SPUBLISH sh five", true),
        Step(2, "PUBLISH sh six", true),
        Step(1, "PUNSUBSCRIBE", true),
        Step(1, "UNSUBSCRIBE", true),
        Step(1, "UNSUBSCRIBE", true),
        Step(2, "PUBLISH news seven", true),
        Step(3, "SUNSUBSCRIBE", true),
        Step(3, "SUNSUBSCRIBE", true),
        Step(3, "GET k", true),
        Step(0, "RESET", true),
        Step(2, "PUBLISH sport eight", true),
        Step(2, "PUBSUB NUMSUB news sport", true),
    ];
    let want = transcripts(&redis, 4, &script);
    let got = transcripts(&forkv, 4, &script);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(escape(g), escape(w), "connection {i}");
    }
}

/// A subscriber that reads everything in a thread and reports how many
/// messages it has seen, checking that they arrive in order.
fn reading_subscriber(
    s: &Server,
    channel: &str,
    size: usize,
) -> (
    std::sync::mpsc::Receiver<usize>,
    std::thread::JoinHandle<()>,
) {
    let mut c = s.raw_conn();
    send_line(&mut c, &format!("SUBSCRIBE {channel}"));
    expect(&mut c, &conf(2, "subscribe", Some(channel), 1));
    let (tx, rx) = std::sync::mpsc::channel();
    let channel = channel.to_string();
    let h = std::thread::spawn(move || {
        let mut n = 0usize;
        loop {
            let reply = read_reply(&mut c);
            let head = format!("*3\r\n$7\r\nmessage\r\n{}${size}\r\n", bulk(&channel));
            assert!(reply.starts_with(head.as_bytes()), "bad message {n}");
            let body = &reply[head.len()..head.len() + size];
            let want = format!("{n:08}");
            assert_eq!(&body[..8], want.as_bytes(), "message {n} out of order");
            n += 1;
            if tx.send(n).is_err() {
                return;
            }
        }
    });
    (rx, h)
}

/// A message of `size` bytes starting with its sequence number.
fn payload(n: usize, size: usize) -> Vec<u8> {
    let mut m = format!("{n:08}").into_bytes();
    m.resize(size, b'x');
    m
}

#[test]
fn subscriber_that_stops_reading_hits_the_hard_limit() {
    let s = start(&[]);
    let mut q = s.raw_conn();
    let reply = cmd(
        &mut q,
        &[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"pubsub 1mb 0 0",
        ],
    );
    assert_eq!(reply, b"+OK\r\n");
    let mut slow = s.raw_conn();
    let slow_id = client_id(&mut slow);
    send_line(&mut slow, "SUBSCRIBE ch");
    expect(&mut slow, &conf(2, "subscribe", Some("ch"), 1));
    const SIZE: usize = 128 * 1024;
    let (seen, reader) = reading_subscriber(&s, "ch", SIZE);
    let mut publ = s.raw_conn();
    let base = info_num(&mut q, "memory", "used_memory");
    let mut peak = base;
    let mut received = 0;
    const TOTAL: usize = 400; // 50 MB in all
    for n in 0..TOTAL {
        // Keep the reading subscriber close behind so only the other one
        // falls behind.
        while received + 4 < n {
            received = seen.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        let reply = cmd(&mut publ, &[b"PUBLISH", b"ch", &payload(n, SIZE)]);
        assert!(
            reply == b":2\r\n" || reply == b":1\r\n",
            "{}",
            escape(&reply)
        );
        if n % 8 == 0 {
            peak = peak.max(info_num(&mut q, "memory", "used_memory"));
        }
    }
    while received < TOTAL {
        received = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    drop(seen);
    assert_eq!(
        info_num(&mut q, "stats", "client_output_buffer_limit_disconnections"),
        1
    );
    wait_for("the slow subscriber to go", || {
        client_line(&mut q, slow_id).is_none()
    });
    is(&mut q, "PUBSUB NUMSUB ch", "*2\r\n$2\r\nch\r\n:1\r\n");
    // Memory never held more than a few buffers' worth of the 50 MB sent.
    assert!(
        peak < base + 16 * 1024 * 1024,
        "used_memory went from {base} to {peak}"
    );
    // Everyone else is fine.
    is(&mut publ, "SET k v", "+OK\r\n");
    is(&mut q, "GET k", "$1\r\nv\r\n");
    let tail = cmd(&mut publ, &[b"PUBLISH", b"ch", &payload(TOTAL, SIZE)]);
    assert_eq!(tail, b":1\r\n");
    drop(publ);
    // The reader saw all messages in order; it ends at the next message,
    // now that nobody listens to its reports.
    reader.join().unwrap();
    assert!(
        s.log()
            .contains("scheduled to be closed ASAP for overcoming of output buffer limits")
    );
}

#[test]
fn subscriber_over_the_soft_limit_is_dropped_after_its_grace_period() {
    let s = start(&[]);
    let mut q = s.raw_conn();
    // No hard limit: only the soft limit can disconnect.
    let reply = cmd(
        &mut q,
        &[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"pubsub 0 256kb 3",
        ],
    );
    assert_eq!(reply, b"+OK\r\n");
    let mut slow = s.raw_conn();
    let slow_id = client_id(&mut slow);
    send_line(&mut slow, "SUBSCRIBE ch");
    expect(&mut slow, &conf(2, "subscribe", Some("ch"), 1));
    let mut publ = s.raw_conn();
    const SIZE: usize = 64 * 1024;
    // Publish until the socket buffers are full and the server holds more
    // than the soft limit for this client.
    let mut n = 0;
    loop {
        let reply = cmd(&mut publ, &[b"PUBLISH", b"ch", &payload(n, SIZE)]);
        assert_eq!(reply, b":1\r\n", "message {n}");
        n += 1;
        let line = client_line(&mut q, slow_id).expect("slow subscriber dropped too early");
        if field(&line, "omem").parse::<usize>().unwrap() >= 256 * 1024 {
            break;
        }
        assert!(n < 4000, "output buffer never grew: {line}");
    }
    // Over the soft limit, but not for long enough yet.
    assert!(client_line(&mut q, slow_id).is_some());
    assert_eq!(
        info_num(&mut q, "stats", "client_output_buffer_limit_disconnections"),
        0
    );
    // Later writes find it over the limit for longer than allowed.
    wait_for("the slow subscriber to be dropped", || {
        let reply = r(&mut publ, "PUBLISH ch tick");
        assert!(reply == b":1\r\n" || reply == b":0\r\n");
        std::thread::sleep(Duration::from_millis(100));
        client_line(&mut q, slow_id).is_none()
    });
    assert_eq!(
        info_num(&mut q, "stats", "client_output_buffer_limit_disconnections"),
        1
    );
    is(&mut publ, "PUBLISH ch after", ":0\r\n");
    is(&mut q, "PING", "+PONG\r\n");
}
