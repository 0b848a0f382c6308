//! Sorted sets through the real server: every command's replies and errors,
//! score formatting in RESP2 and RESP3, ranks and ranges on a 100k-member
//! set, encodings and their thresholds (CONFIG SET), ZSCAN's guarantee while
//! the set grows, blocking pops with several clients (FIFO, timeouts, wake
//! ups, keys of another type), change counting, and snapshot round trips
//! (DEBUG RELOAD, BGSAVE + restart) of small and large sorted sets.

mod common;

use common::{
    RawConn, Server, dirty, encoding, err, info_field, raw, raw_s, start, start_recorded, w,
    wait_for,
};
use redis::Connection;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

fn blocked_clients(server: &Server) -> u64 {
    info_field(server, "clients", "blocked_clients")
        .parse()
        .unwrap()
}

/// Adds `members` with scores from `score`, one pipelined ZADD per chunk.
fn zadd_many(c: &mut Connection, key: &str, members: &[(f64, String)]) {
    for chunk in members.chunks(1000) {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(key);
        for (s, m) in chunk {
            cmd.arg(*s).arg(m);
        }
        let _: i64 = cmd.query(c).unwrap();
    }
}

fn range_withscores(c: &mut Connection, key: &str) -> Vec<(String, String)> {
    let flat: Vec<String> = w(c, &format!("ZRANGE {key} 0 -1 WITHSCORES"));
    flat.chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

#[test]
fn zadd_options_and_replies() {
    let server = start_recorded();
    let mut c = server.client();
    assert_eq!(w::<i64>(&mut c, "ZADD z 1 a 2 b 3 c"), 3);
    assert_eq!(w::<i64>(&mut c, "ZADD z 1 a 5 b"), 0);
    assert_eq!(w::<i64>(&mut c, "ZADD z CH 1 a 6 b 7 d"), 2);
    assert_eq!(w::<i64>(&mut c, "ZADD z NX 100 a 8 e"), 1);
    assert_eq!(w::<i64>(&mut c, "ZADD z XX CH 100 a 9 nosuch"), 1);
    assert_eq!(w::<i64>(&mut c, "ZADD z GT CH 50 a 1000 a"), 1);
    assert_eq!(w::<f64>(&mut c, "ZSCORE z a"), 1000.0);
    assert_eq!(w::<i64>(&mut c, "ZADD z LT CH 2000 a 1 a"), 1);
    assert_eq!(w::<f64>(&mut c, "ZSCORE z a"), 1.0);
    assert_eq!(w::<f64>(&mut c, "ZADD z INCR 2.5 a"), 3.5);
    assert_eq!(w::<Option<f64>>(&mut c, "ZADD z NX INCR 1 a"), None);
    assert_eq!(w::<Option<f64>>(&mut c, "ZADD z GT INCR -1 a"), None);
    assert_eq!(w::<Option<f64>>(&mut c, "ZADD nokey XX INCR 1 a"), None);
    assert_eq!(w::<i64>(&mut c, "EXISTS nokey"), 0);
    assert_eq!(w::<f64>(&mut c, "ZINCRBY z -0.5 a"), 3.0);
    assert_eq!(w::<f64>(&mut c, "ZINCRBY z 1 newm"), 1.0);
    assert_eq!(
        err(&mut c, "ZADD z NX XX 1 a"),
        "ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, "ZADD z GT LT 1 a"),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, "ZADD z INCR 1 a 2 b"),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(err(&mut c, "ZADD z 1 a 2"), "ERR syntax error");
    assert_eq!(err(&mut c, "ZADD z x a"), "ERR value is not a valid float");
    assert_eq!(
        err(&mut c, "ZADD z nan a"),
        "ERR value is not a valid float"
    );
    let _: i64 = w(&mut c, "ZADD z inf big");
    assert_eq!(
        err(&mut c, "ZINCRBY z -inf big"),
        "ERR resulting score is not a number (NaN)"
    );
    let _: () = w(&mut c, "SET str v");
    for line in [
        "ZADD str 1 a",
        "ZINCRBY str 1 a",
        "ZREM str a",
        "ZCARD str",
        "ZSCORE str a",
        "ZMSCORE str a",
        "ZRANK str a",
        "ZREVRANK str a",
        "ZCOUNT str 0 1",
        "ZLEXCOUNT str - +",
        "ZRANGE str 0 1",
        "ZRANGESTORE d str 0 1",
        "ZREVRANGE str 0 1",
        "ZRANGEBYSCORE str 0 1",
        "ZREVRANGEBYSCORE str 1 0",
        "ZRANGEBYLEX str - +",
        "ZREVRANGEBYLEX str + -",
        "ZREMRANGEBYRANK str 0 1",
        "ZREMRANGEBYSCORE str 0 1",
        "ZREMRANGEBYLEX str - +",
        "ZPOPMIN str",
        "ZPOPMAX str",
        "ZMPOP 1 str MIN",
        "BZPOPMIN str 0",
        "BZPOPMAX str 0",
        "BZMPOP 0 1 str MIN",
        "ZRANDMEMBER str",
        "ZRANDMEMBER str 2",
        "ZUNION 1 str",
        "ZUNIONSTORE d 1 str",
        "ZINTER 1 str",
        "ZINTERSTORE d 1 str",
        "ZINTERCARD 1 str",
        "ZDIFF 1 str",
        "ZDIFFSTORE d 1 str",
        "ZSCAN str 0",
    ] {
        assert_eq!(
            err(&mut c, line),
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "{line}"
        );
    }
}

#[test]
fn reads_ranks_counts_and_ranges() {
    let server = start_recorded();
    let mut c = server.client();
    let _: i64 = w(&mut c, "ZADD z 1 a 2 b 3 c 3 d 4 e -inf lo inf hi");
    assert_eq!(w::<i64>(&mut c, "ZCARD z"), 7);
    assert_eq!(w::<i64>(&mut c, "ZRANK z lo"), 0);
    assert_eq!(w::<i64>(&mut c, "ZRANK z d"), 4);
    assert_eq!(w::<i64>(&mut c, "ZREVRANK z d"), 2);
    assert_eq!(w::<Option<i64>>(&mut c, "ZRANK z nosuch"), None);
    // WITHSCORE (Redis 7.2).
    assert_eq!(w::<(i64, f64)>(&mut c, "ZRANK z c WITHSCORE"), (3, 3.0));
    assert_eq!(
        w::<(i64, String)>(&mut c, "ZREVRANK z hi WITHSCORE"),
        (0, "inf".into())
    );
    assert_eq!(
        w::<Option<Vec<String>>>(&mut c, "ZRANK z nosuch WITHSCORE"),
        None
    );
    assert_eq!(
        w::<Option<Vec<String>>>(&mut c, "ZRANK nokey a WITHSCORE"),
        None
    );
    assert_eq!(err(&mut c, "ZRANK z a WITHSCORES"), "ERR syntax error");
    assert_eq!(
        err(&mut c, "ZRANK z a WITHSCORE x"),
        "ERR wrong number of arguments for 'zrank' command"
    );
    assert_eq!(
        w::<Vec<Option<f64>>>(&mut c, "ZMSCORE z a nosuch e"),
        vec![Some(1.0), None, Some(4.0)]
    );
    assert_eq!(w::<i64>(&mut c, "ZCOUNT z (1 3"), 3);
    assert_eq!(w::<i64>(&mut c, "ZCOUNT z -inf +inf"), 7);
    assert_eq!(w::<i64>(&mut c, "ZCOUNT z (inf +inf"), 0);
    assert_eq!(err(&mut c, "ZCOUNT z x 1"), "ERR min or max is not a float");
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZRANGE z 1 -2"),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(w::<Vec<String>>(&mut c, "ZRANGE z 0 1 REV"), ["hi", "e"]);
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZREVRANGE z 1 2 WITHSCORES"),
        ["e", "4", "d", "3"]
    );
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZRANGEBYSCORE z (1 +inf LIMIT 1 2"),
        ["c", "d"]
    );
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZREVRANGEBYSCORE z 3 -inf WITHSCORES LIMIT 1 2"),
        ["c", "3", "b", "2"]
    );
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZRANGE z 4 (1 BYSCORE REV"),
        ["e", "d", "c", "b"]
    );
    assert_eq!(
        err(&mut c, "ZRANGE z 0 -1 LIMIT 0 1"),
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(
        err(&mut c, "ZRANGE z - + BYLEX WITHSCORES"),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    let _: i64 = w(&mut c, "ZADD l 0 a 0 b 0 c 0 d");
    assert_eq!(w::<i64>(&mut c, "ZLEXCOUNT l (a [c"), 2);
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZRANGEBYLEX l [b +"),
        ["b", "c", "d"]
    );
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZREVRANGEBYLEX l (d -"),
        ["c", "b", "a"]
    );
    assert_eq!(
        err(&mut c, "ZRANGEBYLEX l b +"),
        "ERR min or max not valid string range item"
    );
    assert_eq!(w::<i64>(&mut c, "ZRANGESTORE dst z 1 3"), 3);
    assert_eq!(w::<Vec<String>>(&mut c, "ZRANGE dst 0 -1"), ["a", "b", "c"]);
    assert_eq!(w::<i64>(&mut c, "ZRANGESTORE dst z 10 20"), 0);
    assert_eq!(w::<i64>(&mut c, "EXISTS dst"), 0);
}

#[test]
fn removals_pops_and_empty_keys() {
    let server = start_recorded();
    let mut c = server.client();
    let _: i64 = w(&mut c, "ZADD z 1 a 2 b 3 c 4 d 5 e 6 f");
    assert_eq!(w::<i64>(&mut c, "ZREM z a nosuch b"), 2);
    assert_eq!(w::<i64>(&mut c, "ZREMRANGEBYRANK z -1 -1"), 1);
    assert_eq!(w::<i64>(&mut c, "ZREMRANGEBYSCORE z (3 4"), 1);
    assert_eq!(w::<Vec<String>>(&mut c, "ZRANGE z 0 -1"), ["c", "e"]);
    assert_eq!(w::<Vec<String>>(&mut c, "ZPOPMAX z"), ["e", "5"]);
    assert_eq!(w::<Vec<String>>(&mut c, "ZPOPMIN z 10"), ["c", "3"]);
    assert_eq!(w::<i64>(&mut c, "EXISTS z"), 0);
    assert_eq!(w::<Vec<String>>(&mut c, "ZPOPMIN z"), Vec::<String>::new());
    let _: i64 = w(&mut c, "ZADD l 0 a 0 b 0 c");
    assert_eq!(w::<i64>(&mut c, "ZREMRANGEBYLEX l - +"), 3);
    assert_eq!(w::<i64>(&mut c, "EXISTS l"), 0);
    let _: i64 = w(&mut c, "ZADD m1 1 a 2 b");
    let v: redis::Value = w(&mut c, "ZMPOP 2 nokey m1 MAX COUNT 5");
    assert_eq!(
        format!("{v:?}"),
        format!(
            "{:?}",
            redis::Value::Array(vec![
                redis::Value::BulkString(b"m1".to_vec()),
                redis::Value::Array(vec![
                    redis::Value::Array(vec![
                        redis::Value::BulkString(b"b".to_vec()),
                        redis::Value::BulkString(b"2".to_vec())
                    ]),
                    redis::Value::Array(vec![
                        redis::Value::BulkString(b"a".to_vec()),
                        redis::Value::BulkString(b"1".to_vec())
                    ]),
                ])
            ])
        )
    );
    assert_eq!(w::<i64>(&mut c, "EXISTS m1"), 0);
    assert_eq!(
        w::<redis::Value>(&mut c, "ZMPOP 1 m1 MIN"),
        redis::Value::Nil
    );
    assert_eq!(
        err(&mut c, "ZMPOP 0 m1 MIN"),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(&mut c, "ZMPOP 1 m1 MIN COUNT 0"),
        "ERR count should be greater than 0"
    );
    assert_eq!(
        err(&mut c, "ZPOPMIN m1 -1"),
        "ERR value is out of range, must be positive"
    );
}

#[test]
fn set_operations_accept_sets() {
    let server = start_recorded();
    let mut c = server.client();
    let _: i64 = w(&mut c, "ZADD z1 1 a 2 b 3 c");
    let _: i64 = w(&mut c, "ZADD z2 10 b 20 c 30 d");
    let _: i64 = w(&mut c, "SADD s a d x");
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZUNION 3 z1 z2 s WITHSCORES"),
        ["x", "1", "a", "2", "b", "12", "c", "23", "d", "31"]
    );
    assert_eq!(
        w::<Vec<String>>(
            &mut c,
            "ZINTER 2 z1 z2 WEIGHTS 2 1 AGGREGATE MAX WITHSCORES"
        ),
        ["b", "10", "c", "20"]
    );
    assert_eq!(w::<Vec<String>>(&mut c, "ZDIFF 2 z1 s"), ["b", "c"]);
    assert_eq!(w::<i64>(&mut c, "ZINTERCARD 2 z2 s"), 1);
    assert_eq!(w::<i64>(&mut c, "ZINTERCARD 2 z1 z2 LIMIT 1"), 1);
    assert_eq!(w::<i64>(&mut c, "ZUNIONSTORE out 2 z1 s"), 5);
    assert_eq!(
        range_withscores(&mut c, "out"),
        [("d", "1"), ("x", "1"), ("a", "2"), ("b", "2"), ("c", "3")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(w::<i64>(&mut c, "ZINTERSTORE out 2 z1 nokey"), 0);
    assert_eq!(w::<i64>(&mut c, "EXISTS out"), 0);
    assert_eq!(w::<i64>(&mut c, "ZDIFFSTORE out 2 z2 z1"), 1);
    assert_eq!(range_withscores(&mut c, "out"), [("d".into(), "30".into())]);
    assert_eq!(
        err(&mut c, "ZUNIONSTORE out 0 z1"),
        "ERR at least 1 input key is needed for 'zunionstore' command"
    );
    assert_eq!(
        err(&mut c, "ZUNION 2 z1 z2 WEIGHTS 1 x"),
        "ERR weight value is not a float"
    );
    assert_eq!(
        err(&mut c, "ZINTERCARD 1 z1 LIMIT -1"),
        "ERR LIMIT can't be negative"
    );
}

#[test]
fn zrandmember_counts_and_distribution() {
    let server = start_recorded();
    let mut c = server.client();
    for enc in ["128", "0"] {
        let _: () = w(
            &mut c,
            &format!("CONFIG SET zset-max-listpack-entries {enc}"),
        );
        let _: i64 = w(&mut c, "DEL r");
        let _: i64 = w(&mut c, "ZADD r 1 a 2 b 3 c 4 d 5 e");
        // Whole set (walked from the top) when count >= size.
        assert_eq!(
            w::<Vec<String>>(&mut c, "ZRANDMEMBER r 10"),
            ["e", "d", "c", "b", "a"]
        );
        // Distinct members below the size, in both strategies.
        for n in [2usize, 4] {
            let v: Vec<String> = w(&mut c, &format!("ZRANDMEMBER r {n}"));
            assert_eq!(v.len(), n);
            assert_eq!(v.iter().collect::<HashSet<_>>().len(), n);
        }
        // Repeats allowed with a negative count; every member shows up.
        let v: Vec<String> = w(&mut c, "ZRANDMEMBER r -2000");
        assert_eq!(v.len(), 2000);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for m in v {
            *counts.entry(m).or_default() += 1;
        }
        assert_eq!(counts.len(), 5);
        assert!(counts.values().all(|&n| n > 250), "{counts:?}");
        let v: Vec<String> = w(&mut c, "ZRANDMEMBER r -3 WITHSCORES");
        assert_eq!(v.len(), 6);
        for p in v.chunks(2) {
            let s: f64 = p[1].parse().unwrap();
            assert_eq!(p[0].as_bytes()[0] - b'a' + 1, s as u8);
        }
        let one: String = w(&mut c, "ZRANDMEMBER r");
        assert!(["a", "b", "c", "d", "e"].contains(&one.as_str()));
    }
    let _: () = w(&mut c, "CONFIG SET zset-max-listpack-entries 128");
    assert_eq!(
        err(&mut c, "ZRANDMEMBER r -9223372036854775808"),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
}

// ---------------------------------------------------------------------------
// Score formatting, RESP2 and RESP3
// ---------------------------------------------------------------------------

// Not recorded: whether -0 stays -0 depends on the encoding, which the
// test switches with CONFIG SET, and configuration is not part of the
// write-effect stream (nor of Redis's replication stream).
#[test]
fn scores_format_like_redis_in_resp2_and_resp3() {
    let server = start(&[]);
    let mut r = server.raw_conn();
    for enc in ["128", "0"] {
        raw(
            &mut r,
            &format!("CONFIG SET zset-max-listpack-entries {enc}"),
        );
        raw(&mut r, "DEL z");
        raw(
            &mut r,
            "ZADD z 1.5 a 0.1 b 1e300 c inf d -inf e 3 f -0 g 1e17 h",
        );
        for (m, want) in [
            ("a", "1.5"),
            ("b", "0.10000000000000001"),
            ("c", "1.0000000000000001e+300"),
            ("d", "inf"),
            ("e", "-inf"),
            ("f", "3"),
            ("h", "1e+17"),
        ] {
            assert_eq!(
                raw_s(&mut r, &format!("ZSCORE z {m}")),
                format!("${}\r\n{want}\r\n", want.len()),
                "{m}"
            );
        }
        // Redis's listpack stores -0 as 0; its skiplist keeps -0.
        let zero = if enc == "0" { "-0" } else { "0" };
        assert_eq!(
            raw_s(&mut r, "ZSCORE z g"),
            format!("${}\r\n{zero}\r\n", zero.len())
        );
        assert_eq!(raw_s(&mut r, "ZINCRBY fresh -0 m"), "$2\r\n-0\r\n");
        raw(&mut r, "DEL fresh");
        assert_eq!(
            raw_s(&mut r, "ZRANGE z 0 1 WITHSCORES"),
            "*4\r\n$1\r\ne\r\n$4\r\n-inf\r\n$1\r\ng\r\n".to_string()
                + &format!("${}\r\n{zero}\r\n", zero.len())
        );
        raw(&mut r, "HELLO 3");
        assert_eq!(raw_s(&mut r, "ZSCORE z a"), ",1.5\r\n");
        assert_eq!(raw_s(&mut r, "ZSCORE z b"), ",0.10000000000000001\r\n");
        assert_eq!(raw_s(&mut r, "ZSCORE z c"), ",1.0000000000000001e+300\r\n");
        assert_eq!(raw_s(&mut r, "ZSCORE z d"), ",inf\r\n");
        assert_eq!(raw_s(&mut r, "ZSCORE z e"), ",-inf\r\n");
        assert_eq!(raw_s(&mut r, "ZSCORE z f"), ",3\r\n");
        assert_eq!(raw_s(&mut r, "ZSCORE z g"), format!(",{zero}\r\n"));
        assert_eq!(raw_s(&mut r, "ZSCORE z nosuch"), "_\r\n");
        assert_eq!(
            raw_s(&mut r, "ZRANGE z 0 1 WITHSCORES"),
            format!("*2\r\n*2\r\n$1\r\ne\r\n,-inf\r\n*2\r\n$1\r\ng\r\n,{zero}\r\n")
        );
        assert_eq!(raw_s(&mut r, "ZPOPMIN z"), "*2\r\n$1\r\ne\r\n,-inf\r\n");
        assert_eq!(
            raw_s(&mut r, "ZPOPMAX z 1"),
            "*1\r\n*2\r\n$1\r\nd\r\n,inf\r\n"
        );
        assert_eq!(raw_s(&mut r, "ZRANK z a WITHSCORE"), "*2\r\n:2\r\n,1.5\r\n");
        assert_eq!(raw_s(&mut r, "ZRANK z nosuch WITHSCORE"), "_\r\n");
        assert_eq!(raw_s(&mut r, "BZPOPMIN nokey 0.01"), "_\r\n");
        // ZSCAN sends scores as text in both protocols.
        raw(&mut r, "ZADD small 2.5 x");
        assert_eq!(
            raw_s(&mut r, "ZSCAN small 0"),
            "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nx\r\n$3\r\n2.5\r\n"
        );
        raw(&mut r, "DEL small");
        raw(&mut r, "HELLO 2");
        assert_eq!(raw_s(&mut r, "BZPOPMIN nokey 0.01"), "*-1\r\n");
        assert_eq!(raw_s(&mut r, "ZRANK z nosuch WITHSCORE"), "*-1\r\n");
    }
}

// ---------------------------------------------------------------------------
// Large sets, encodings, ZSCAN
// ---------------------------------------------------------------------------

#[test]
fn ranks_and_ranges_on_100k_members() {
    let server = start_recorded();
    let mut c = server.client();
    let n = 100_000usize;
    // Scores in a shuffled order, so inserts land all over the skiplist.
    let members: Vec<(f64, String)> = (0..n)
        .map(|i| {
            let j = (i * 7919) % n;
            (j as f64, format!("m{j:06}"))
        })
        .collect();
    zadd_many(&mut c, "big", &members);
    assert_eq!(w::<i64>(&mut c, "ZCARD big"), n as i64);
    assert_eq!(encoding(&mut c, "big"), "skiplist");
    let start_t = Instant::now();
    let mut pipe = redis::pipe();
    for i in (0..n).step_by(37) {
        pipe.cmd("ZRANK").arg("big").arg(format!("m{i:06}"));
    }
    let ranks: Vec<i64> = pipe.query(&mut c).unwrap();
    for (k, i) in (0..n).step_by(37).enumerate() {
        assert_eq!(ranks[k], i as i64);
    }
    assert_eq!(w::<i64>(&mut c, "ZREVRANK big m000000"), n as i64 - 1);
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZRANGE big 50000 50002"),
        ["m050000", "m050001", "m050002"]
    );
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZRANGE big -2 -1"),
        ["m099998", "m099999"]
    );
    assert_eq!(w::<i64>(&mut c, "ZCOUNT big (1000 20000"), 19_000);
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZRANGEBYSCORE big (70000 +inf LIMIT 10 2"),
        ["m070011", "m070012"]
    );
    assert_eq!(
        w::<Vec<String>>(&mut c, "ZREVRANGEBYSCORE big 70000 -inf LIMIT 10 2"),
        ["m069990", "m069989"]
    );
    // Thousands of O(log n) queries take well under a second even unoptimized.
    assert!(
        start_t.elapsed() < Duration::from_secs(10),
        "{:?}",
        start_t.elapsed()
    );
    assert_eq!(w::<i64>(&mut c, "ZREMRANGEBYRANK big 0 89999"), 90_000);
    assert_eq!(w::<i64>(&mut c, "ZRANK big m095000"), 5000);
    assert_eq!(w::<i64>(&mut c, "ZREMRANGEBYSCORE big -inf 95000"), 5001);
    assert_eq!(w::<i64>(&mut c, "ZCARD big"), 4999);
    assert_eq!(w::<i64>(&mut c, "ZRANK big m099999"), 4998);
}

#[test]
fn encoding_follows_the_limits() {
    let server = start_recorded();
    let mut c = server.client();
    let members: Vec<(f64, String)> = (0..128).map(|i| (i as f64, format!("m{i}"))).collect();
    zadd_many(&mut c, "z", &members);
    assert_eq!(encoding(&mut c, "z"), "listpack");
    let _: i64 = w(&mut c, "ZADD z 1000 one-more");
    assert_eq!(encoding(&mut c, "z"), "skiplist");
    // Removing does not convert back...
    let _: i64 = w(&mut c, "ZREMRANGEBYRANK z 0 100");
    assert_eq!(encoding(&mut c, "z"), "skiplist");
    // ...but a rebuilt copy is compact again.
    let _: i64 = w(&mut c, "ZUNIONSTORE z2 1 z");
    assert_eq!(encoding(&mut c, "z2"), "listpack");
    let long = "x".repeat(65);
    let _: i64 = w(&mut c, &format!("ZADD l 1 {long}"));
    assert_eq!(encoding(&mut c, "l"), "skiplist");
    let _: i64 = w(&mut c, "ZADD l2 1 short");
    let _: i64 = w(&mut c, &format!("ZADD l2 2 {long}"));
    assert_eq!(encoding(&mut c, "l2"), "skiplist");
    let _: () = w(&mut c, "CONFIG SET zset-max-listpack-value 100");
    let _: i64 = w(&mut c, &format!("ZADD l3 1 {long}"));
    assert_eq!(encoding(&mut c, "l3"), "listpack");
    let _: () = w(&mut c, "CONFIG SET zset-max-listpack-entries 2");
    let _: i64 = w(&mut c, "ZADD e 1 a 2 b");
    assert_eq!(encoding(&mut c, "e"), "listpack");
    let _: i64 = w(&mut c, "ZADD e 3 c");
    assert_eq!(encoding(&mut c, "e"), "skiplist");
    let _: i64 = w(&mut c, "ZRANGESTORE e2 e 0 1");
    assert_eq!(encoding(&mut c, "e2"), "listpack");
    let _: i64 = w(&mut c, "ZRANGESTORE e3 e 0 2");
    assert_eq!(encoding(&mut c, "e3"), "skiplist");
    let _: () = w(&mut c, "CONFIG SET zset-max-listpack-entries 0");
    let _: i64 = w(&mut c, "ZADD e4 1 a");
    assert_eq!(encoding(&mut c, "e4"), "skiplist");
    assert_eq!(
        w::<Vec<String>>(&mut c, "CONFIG GET zset-max-ziplist-entries"),
        ["zset-max-ziplist-entries", "0"]
    );
    // COPY and RENAME keep the encoding and make independent sets.
    let _: i64 = w(&mut c, "COPY z zcopy");
    assert_eq!(encoding(&mut c, "zcopy"), "skiplist");
    let _: i64 = w(&mut c, "ZADD zcopy 5000 only-in-copy");
    assert_eq!(w::<Option<f64>>(&mut c, "ZSCORE z only-in-copy"), None);
    assert_eq!(
        w::<i64>(&mut c, "ZCARD zcopy"),
        w::<i64>(&mut c, "ZCARD z") + 1
    );
    let _: () = w(&mut c, "RENAME zcopy zmoved");
    assert_eq!(w::<f64>(&mut c, "ZSCORE zmoved only-in-copy"), 5000.0);
    // The same answers from both encodings.
    let _: () = w(&mut c, "CONFIG SET zset-max-listpack-entries 128");
    let _: i64 = w(&mut c, "ZADD p 1 a 2 b 3 c 3 cc 4 d");
    let _: () = w(&mut c, "CONFIG SET zset-max-listpack-entries 0");
    let _: i64 = w(&mut c, "ZADD s 1 a 2 b 3 c 3 cc 4 d");
    assert_eq!(encoding(&mut c, "p"), "listpack");
    assert_eq!(encoding(&mut c, "s"), "skiplist");
    for q in [
        "ZRANGE {} 0 -1 WITHSCORES",
        "ZRANGE {} 1 -2 REV",
        "ZRANGEBYSCORE {} (1 3 LIMIT 1 5",
        "ZREVRANGEBYSCORE {} +inf 2 WITHSCORES",
        "ZRANGEBYLEX {} - +",
    ] {
        let a: Vec<String> = w(&mut c, &q.replace("{}", "p"));
        let b: Vec<String> = w(&mut c, &q.replace("{}", "s"));
        assert_eq!(a, b, "{q}");
    }
    for q in ["ZRANK {} cc", "ZCOUNT {} 2 3", "ZLEXCOUNT {} - +"] {
        let a: i64 = w(&mut c, &q.replace("{}", "p"));
        let b: i64 = w(&mut c, &q.replace("{}", "s"));
        assert_eq!(a, b, "{q}");
    }
}

#[test]
fn zscan_returns_every_member_present_throughout_while_growing() {
    let server = start_recorded();
    let mut c = server.client();
    let n = 5000usize;
    let members: Vec<(f64, String)> = (0..n).map(|i| (i as f64, format!("orig{i}"))).collect();
    zadd_many(&mut c, "z", &members);
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut cursor = "0".to_string();
    let mut added = 0usize;
    let mut calls = 0;
    loop {
        let (next, items): (String, Vec<String>) =
            w(&mut c, &format!("ZSCAN z {cursor} COUNT 200"));
        calls += 1;
        for p in items.chunks(2) {
            seen.insert(p[0].clone(), p[1].clone());
        }
        // Grow the set between calls (the table doubles several times),
        // up to four times its size.
        if added < 4 * n {
            let more: Vec<(f64, String)> = (0..40)
                .map(|i| (-1.0, format!("new{}", added + i)))
                .collect();
            added += more.len();
            zadd_many(&mut c, "z", &more);
        }
        cursor = next;
        if cursor == "0" {
            break;
        }
        assert!(calls < 10_000);
    }
    for i in 0..n {
        let m = format!("orig{i}");
        assert_eq!(
            seen.get(&m).map(String::as_str),
            Some(i.to_string().as_str()),
            "{m}"
        );
    }
    // MATCH filters members; COUNT is validated.
    let (_, items): (String, Vec<String>) = w(&mut c, "ZSCAN z 0 MATCH orig1 COUNT 100000");
    assert_eq!(items, ["orig1", "1"]);
    assert_eq!(err(&mut c, "ZSCAN z 0 COUNT 0"), "ERR syntax error");
    assert_eq!(err(&mut c, "ZSCAN z x"), "ERR invalid cursor");
}

// ---------------------------------------------------------------------------
// Blocking pops
// ---------------------------------------------------------------------------

/// Sends a command without reading its reply.
fn send(c: &mut RawConn, line: &str) {
    let args: Vec<&[u8]> = line.split(' ').map(|s| s.as_bytes()).collect();
    common::send(c, &args);
}

fn read_s(c: &mut RawConn) -> String {
    String::from_utf8_lossy(&common::read_reply(c)).into_owned()
}

/// True if nothing arrives on `c` within `ms`.
fn silent(c: &mut RawConn, ms: u64) -> bool {
    if !c.buffered().is_empty() {
        return false;
    }
    c.stream
        .set_read_timeout(Some(Duration::from_millis(ms)))
        .unwrap();
    let mut b = [0u8; 1];
    let quiet = matches!(c.stream.read(&mut b), Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    c.stream
        .set_read_timeout(Some(common::READ_TIMEOUT))
        .unwrap();
    quiet
}

#[test]
fn blocked_clients_are_served_first_come_first_served() {
    let server = start_recorded();
    let mut a = server.raw_conn();
    let mut b = server.raw_conn();
    let mut d = server.raw_conn();
    let mut writer = server.raw_conn();
    send(&mut a, "BZPOPMIN q 0");
    wait_for("a blocked", Duration::from_secs(5), || {
        blocked_clients(&server) == 1
    });
    send(&mut b, "BZPOPMAX other q 0");
    wait_for("b blocked", Duration::from_secs(5), || {
        blocked_clients(&server) == 2
    });
    send(&mut d, "BZMPOP 0 2 q other MIN COUNT 5");
    wait_for("d blocked", Duration::from_secs(5), || {
        blocked_clients(&server) == 3
    });
    // One element: only the first client gets it.
    assert_eq!(raw_s(&mut writer, "ZADD q 1 x"), ":1\r\n");
    assert_eq!(read_s(&mut a), "*3\r\n$1\r\nq\r\n$1\r\nx\r\n$1\r\n1\r\n");
    assert!(silent(&mut b, 100));
    assert_eq!(blocked_clients(&server), 2);
    // Two elements at once: b takes the highest, d the rest.
    assert_eq!(raw_s(&mut writer, "ZADD q 1 y 2 z"), ":2\r\n");
    assert_eq!(read_s(&mut b), "*3\r\n$1\r\nq\r\n$1\r\nz\r\n$1\r\n2\r\n");
    assert_eq!(
        read_s(&mut d),
        "*2\r\n$1\r\nq\r\n*1\r\n*2\r\n$1\r\ny\r\n$1\r\n1\r\n"
    );
    assert_eq!(blocked_clients(&server), 0);
    assert_eq!(raw_s(&mut writer, "EXISTS q"), ":0\r\n");
    // The connections work normally afterwards.
    assert_eq!(raw_s(&mut a, "PING"), "+PONG\r\n");
    assert_eq!(raw_s(&mut d, "ZCARD q"), ":0\r\n");
}

#[test]
fn blocking_pops_time_out_and_wake_on_other_keys() {
    let server = start_recorded();
    let mut a = server.raw_conn();
    let mut writer = server.raw_conn();
    let t = Instant::now();
    assert_eq!(raw_s(&mut a, "BZPOPMIN nokey 0.2"), "*-1\r\n");
    let el = t.elapsed();
    assert!(
        el >= Duration::from_millis(190) && el < Duration::from_secs(3),
        "{el:?}"
    );
    raw(&mut a, "HELLO 3");
    assert_eq!(raw_s(&mut a, "BZMPOP 0.05 1 nokey MAX"), "_\r\n");
    assert_eq!(raw_s(&mut a, "BZPOPMAX nokey 0.05"), "_\r\n");
    // Woken by a write to the second key; RESP3 reply with a double.
    send(&mut a, "BZPOPMAX k1 k2 5");
    wait_for("a blocked", Duration::from_secs(5), || {
        blocked_clients(&server) == 1
    });
    // Writes of other types to the keys do not serve it (Redis 7.0).
    assert_eq!(raw_s(&mut writer, "SET k1 str"), "+OK\r\n");
    assert_eq!(raw_s(&mut writer, "ZADD other 1 x"), ":1\r\n");
    assert!(silent(&mut a, 100));
    assert_eq!(raw_s(&mut writer, "ZADD k2 1.5 m 2.5 n"), ":2\r\n");
    assert_eq!(read_s(&mut a), "*3\r\n$2\r\nk2\r\n$1\r\nn\r\n,2.5\r\n");
    assert_eq!(raw_s(&mut writer, "ZCARD k2"), ":1\r\n");
    // A timeout after being passed over.
    let t = Instant::now();
    assert_eq!(raw_s(&mut a, "BZPOPMIN k3 0.3"), "_\r\n");
    assert!(t.elapsed() >= Duration::from_millis(290));
    // Served by ZUNIONSTORE into the key (a write of the destination).
    send(&mut a, "BZPOPMIN k4 0");
    wait_for("a blocked", Duration::from_secs(5), || {
        blocked_clients(&server) == 1
    });
    assert_eq!(raw_s(&mut writer, "ZUNIONSTORE k4 1 k2"), ":1\r\n");
    assert_eq!(read_s(&mut a), "*3\r\n$2\r\nk4\r\n$1\r\nm\r\n,1.5\r\n");
    // A client that disconnects while blocked is forgotten.
    let mut gone = server.raw_conn();
    send(&mut gone, "BZPOPMIN k5 0");
    wait_for("blocked", Duration::from_secs(5), || {
        blocked_clients(&server) == 1
    });
    drop(gone);
    wait_for("unblocked", Duration::from_secs(5), || {
        blocked_clients(&server) == 0
    });
    assert_eq!(raw_s(&mut writer, "ZADD k5 1 x"), ":1\r\n");
    assert_eq!(raw_s(&mut writer, "ZCARD k5"), ":1\r\n");
    // Argument errors come back at once.
    assert_eq!(
        raw_s(&mut writer, "BZPOPMIN k5 -1"),
        "-ERR timeout is negative\r\n"
    );
    assert_eq!(
        raw_s(&mut writer, "BZPOPMIN k5 x"),
        "-ERR timeout is not a float or out of range\r\n"
    );
}

/// Redis 7.0 turns a timeout into ceil(seconds * 1000) ms in long double
/// before it checks the sign, so -0.001 s (a hair above -1 ms) and
/// -0.0009 s round to 0 and wait forever, while -0.0011 s is negative.
#[test]
fn tiny_negative_timeouts_wait_forever_like_redis() {
    common::on_forkv_and_redis(&[], |s| {
        let mut w = s.raw_conn();
        let popped = "*3\r\n$1\r\nk\r\n$1\r\nm\r\n$1\r\n1\r\n";
        for (block, want) in [
            (&["BZPOPMIN", "k", "-0.001"][..], popped),
            (&["BZPOPMAX", "k", "-0.001"], popped),
            (&["BZPOPMIN", "k", "-0.0009"], popped),
            (&["BZPOPMAX", "k", "0x10"], popped),
            (
                &["BZMPOP", "-0.001", "1", "k", "MIN"],
                "*2\r\n$1\r\nk\r\n*1\r\n*2\r\n$1\r\nm\r\n$1\r\n1\r\n",
            ),
        ] {
            let got = common::blocked_until_served(s, block, &mut w, "ZADD k 1 m");
            assert_eq!(
                common::escape(&got),
                common::escape(want.as_bytes()),
                "{block:?}"
            );
        }
        common::assert_bad_timeouts(
            &mut w,
            &[
                &["BZPOPMIN", "k", "T"],
                &["BZPOPMAX", "k", "T"],
                &["BZMPOP", "T", "1", "k", "MAX"],
            ],
        );
        // Tiny positive timeouts round up to 1 ms.
        assert_eq!(raw_s(&mut w, "BZPOPMIN k 0.0001"), "*-1\r\n");
        assert_eq!(raw_s(&mut w, "BZMPOP 1e-10 1 k MIN"), "*-1\r\n");
    });
}

#[test]
fn blocking_pops_from_redis_crate_threads() {
    let server = start_recorded();
    let n = 4;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let mut c = server.client();
            std::thread::spawn(move || {
                let v: Vec<String> = redis::cmd("BZPOPMIN")
                    .arg(format!("t{}", i % 2))
                    .arg(10)
                    .query(&mut c)
                    .unwrap();
                v
            })
        })
        .collect();
    wait_for("all blocked", Duration::from_secs(5), || {
        blocked_clients(&server) == n as u64
    });
    let mut c = server.client();
    let _: i64 = w(&mut c, "ZADD t0 1 a 2 b");
    let _: i64 = w(&mut c, "ZADD t1 3 c 4 d");
    let mut got: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ["t0", "a", "1"],
            ["t0", "b", "2"],
            ["t1", "c", "3"],
            ["t1", "d", "4"]
        ]
        .map(|v| v.map(String::from).to_vec())
    );
}

// ---------------------------------------------------------------------------
// Changes, snapshots
// ---------------------------------------------------------------------------

#[test]
fn changes_are_counted_like_redis() {
    let server = start_recorded();
    let mut c = server.client();
    let d0 = dirty(&server);
    let _: i64 = w(&mut c, "ZADD z 1 a 2 b 3 c");
    assert_eq!(dirty(&server) - d0, 3);
    let _: i64 = w(&mut c, "ZADD z 1 a 5 b 4 d");
    assert_eq!(dirty(&server) - d0, 5);
    let _: i64 = w(&mut c, "ZREM z a nosuch");
    assert_eq!(dirty(&server) - d0, 6);
    let _: Vec<String> = w(&mut c, "ZPOPMIN z 10");
    assert_eq!(dirty(&server) - d0, 9);
    let _: i64 = w(&mut c, "ZADD y 1 a");
    let _: i64 = w(&mut c, "ZUNIONSTORE out 1 y");
    assert_eq!(dirty(&server) - d0, 11);
    let _: Vec<String> = w(&mut c, "ZRANGE y 0 -1");
    assert_eq!(dirty(&server) - d0, 11);
}

fn fill_snapshot_data(c: &mut Connection) {
    let _: i64 = w(c, "ZADD small 1 a -inf lo inf hi 2.5 b -0 z");
    let _: i64 = w(c, "ZADD ttl 1 x");
    let _: i64 = w(c, "EXPIRE ttl 1000");
    let members: Vec<(f64, String)> = (0..20_000)
        .map(|i| ((i % 1000) as f64 / 8.0, format!("member:{i}")))
        .collect();
    zadd_many(c, "large", &members);
    let _: i64 = w(c, "ZADD large inf top -inf bottom");
    let _: i64 = w(c, "ZADD bin 1 \x00\u{ff}\r\n");
}

fn check_snapshot_data(c: &mut Connection) {
    assert_eq!(
        range_withscores(c, "small"),
        [
            ("lo", "-inf"),
            ("z", "0"),
            ("a", "1"),
            ("b", "2.5"),
            ("hi", "inf")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(encoding(c, "small"), "listpack");
    let ttl: i64 = w(c, "TTL ttl");
    assert!((990..=1000).contains(&ttl), "{ttl}");
    assert_eq!(w::<i64>(c, "ZCARD large"), 20_002);
    assert_eq!(encoding(c, "large"), "skiplist");
    assert_eq!(w::<Vec<String>>(c, "ZRANGE large 0 0"), ["bottom"]);
    assert_eq!(
        w::<Vec<String>>(c, "ZRANGE large -1 -1 WITHSCORES"),
        ["top", "inf"]
    );
    assert_eq!(w::<f64>(c, "ZSCORE large member:999"), 999.0 / 8.0);
    assert_eq!(w::<i64>(c, "ZRANK large member:0"), 1);
    assert_eq!(w::<i64>(c, "ZCOUNT large 0 0"), 20);
    let all: Vec<String> = w(c, "ZRANGE large 0 -1 WITHSCORES");
    let mut prev = f64::NEG_INFINITY;
    for p in all.chunks(2) {
        let s: f64 = p[1].parse().unwrap();
        assert!(s >= prev);
        prev = s;
    }
    assert_eq!(w::<Vec<String>>(c, "ZRANGE bin 0 -1"), ["\x00\u{ff}\r\n"]);
}

#[test]
fn debug_reload_round_trip() {
    let server = start_recorded();
    let mut c = server.client();
    fill_snapshot_data(&mut c);
    // A large set shrunk below the limits comes back compact, as in Redis.
    let members: Vec<(f64, String)> = (0..200).map(|i| (i as f64, format!("s{i}"))).collect();
    zadd_many(&mut c, "shrunk", &members);
    let _: i64 = w(&mut c, "ZREMRANGEBYRANK shrunk 10 -1");
    assert_eq!(encoding(&mut c, "shrunk"), "skiplist");
    let _: () = w(&mut c, "DEBUG RELOAD");
    check_snapshot_data(&mut c);
    assert_eq!(encoding(&mut c, "shrunk"), "listpack");
    assert_eq!(w::<i64>(&mut c, "ZCARD shrunk"), 10);
    // The reloaded sets are fully working.
    let _: i64 = w(&mut c, "ZADD large 0.0625 extra");
    assert_eq!(w::<i64>(&mut c, "ZRANK large extra"), 21);
}

#[test]
fn bgsave_and_restart_round_trip() {
    let server = start(&[]);
    let mut c = server.client();
    fill_snapshot_data(&mut c);
    let r: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(r, "Background saving started");
    wait_for("bgsave", Duration::from_secs(60), || {
        info_field(&server, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    assert_eq!(
        info_field(&server, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    drop(c);
    let dir = server.kill_keeping_dir();
    let server = start_in(&dir, &[]);
    let mut c = server.client();
    check_snapshot_data(&mut c);
    let _ = std::fs::remove_dir_all(&dir);
}

fn start_in(dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    start(&args)
}
