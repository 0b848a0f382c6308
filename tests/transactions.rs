//! Transactions through real clients: MULTI/EXEC/DISCARD, queueing errors
//! (EXECABORT), runtime errors that do not roll back, and WATCH invalidated
//! by other clients' writes, by expiry and by FLUSHDB/FLUSHALL, in RESP2
//! and RESP3.
//!
//! Each scenario states the replies it expects and runs against forkv and,
//! when `redis-server` is installed, against Redis 7.0 too, so the
//! expectations are Redis's own.

mod common;

use common::{
    RawConn, Server, escape, expect as is, info_value, line as r, on_forkv_and_redis, read_reply,
    send,
};
use std::time::Duration;

const ARGS: &[&str] = &["--enable-debug-command", "yes"];

fn on_both(scenario: impl Fn(&Server)) {
    on_forkv_and_redis(ARGS, scenario)
}

/// `MULTI`, `PING`, `EXEC`: the reply to EXEC.
fn try_exec(c: &mut RawConn) -> Vec<u8> {
    is(c, "MULTI", "+OK\r\n");
    is(c, "PING", "+QUEUED\r\n");
    r(c, "EXEC")
}

#[track_caller]
fn exec_runs(c: &mut RawConn) {
    assert_eq!(escape(&try_exec(c)), escape(b"*1\r\n+PONG\r\n"));
}

#[track_caller]
fn exec_aborts(c: &mut RawConn) {
    assert_eq!(escape(&try_exec(c)), escape(b"*-1\r\n"));
}

/// The `name=value` field of the CLIENT INFO line.
fn client_field(c: &mut RawConn, name: &str) -> String {
    let raw = r(c, "CLIENT INFO");
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.split_whitespace()
        .find_map(|f| f.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_string()
}

#[test]
fn exec_runs_the_queue_and_runtime_errors_do_not_roll_back() {
    on_both(|s| {
        let mut c = s.raw_conn();
        is(&mut c, "SET str hello", "+OK\r\n");
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "INCR counter", "+QUEUED\r\n");
        is(&mut c, "INCR str", "+QUEUED\r\n");
        is(&mut c, "LPUSH str x", "+QUEUED\r\n");
        is(&mut c, "INCR counter", "+QUEUED\r\n");
        is(&mut c, "SET str world", "+QUEUED\r\n");
        is(
            &mut c,
            "EXEC",
            "*5\r\n:1\r\n-ERR value is not an integer or out of range\r\n\
             -WRONGTYPE Operation against a key holding the wrong kind of value\r\n:2\r\n+OK\r\n",
        );
        is(&mut c, "GET str", "$5\r\nworld\r\n");
        is(&mut c, "GET counter", "$1\r\n2\r\n");
        // DISCARD drops the queue.
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "INCR counter", "+QUEUED\r\n");
        is(&mut c, "DISCARD", "+OK\r\n");
        is(&mut c, "GET counter", "$1\r\n2\r\n");
        is(&mut c, "EXEC", "-ERR EXEC without MULTI\r\n");
        is(&mut c, "DISCARD", "-ERR DISCARD without MULTI\r\n");
        // Nested MULTI and WATCH inside MULTI fail without aborting.
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "MULTI", "-ERR MULTI calls can not be nested\r\n");
        is(
            &mut c,
            "WATCH k",
            "-ERR WATCH inside MULTI is not allowed\r\n",
        );
        is(&mut c, "ECHO hi", "+QUEUED\r\n");
        is(&mut c, "EXEC", "*1\r\n$2\r\nhi\r\n");
    });
}

#[test]
fn queueing_errors_abort_the_transaction() {
    on_both(|s| {
        let mut c = s.raw_conn();
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "SET k 1", "+QUEUED\r\n");
        is(
            &mut c,
            "NOSUCH x",
            "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n",
        );
        is(
            &mut c,
            "GET",
            "-ERR wrong number of arguments for 'get' command\r\n",
        );
        is(
            &mut c,
            "SAVE",
            "-ERR Command not allowed inside a transaction\r\n",
        );
        is(&mut c, "SET k 2", "+QUEUED\r\n");
        is(
            &mut c,
            "EXEC",
            "-EXECABORT Transaction discarded because of previous errors.\r\n",
        );
        is(&mut c, "GET k", "$-1\r\n");
        // A refused EXEC discards the transaction and says why.
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "SET k 1", "+QUEUED\r\n");
        is(
            &mut c,
            "EXEC now",
            "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n",
        );
        is(&mut c, "EXEC", "-ERR EXEC without MULTI\r\n");
        is(&mut c, "GET k", "$-1\r\n");
        // Rejections count as such in the statistics.
        let stats = String::from_utf8_lossy(&r(&mut c, "INFO commandstats")).into_owned();
        let get = stats
            .lines()
            .find(|l| l.starts_with("cmdstat_get:"))
            .unwrap_or_else(|| panic!("{stats}"));
        assert!(get.starts_with("cmdstat_get:calls=2,"), "{get}");
        assert!(get.ends_with(",rejected_calls=1,failed_calls=0"), "{get}");
        let errors = String::from_utf8_lossy(&r(&mut c, "INFO errorstats")).into_owned();
        assert!(errors.contains("errorstat_EXECABORT:count=2"), "{errors}");
    });
}

#[test]
fn exec_counts_itself_and_each_command_and_signals_keys() {
    on_both(|s| {
        let mut c = s.raw_conn();
        let mut waiter = s.raw_conn();
        is(&mut c, "CONFIG RESETSTAT", "+OK\r\n");
        // A client blocked on a key is served by a push inside EXEC.
        send(&mut waiter, &[b"BLPOP", b"jobs", b"0"]);
        wait_blocked(&mut c, 1);
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "SET a 1", "+QUEUED\r\n");
        is(&mut c, "RPUSH jobs j1 j2", "+QUEUED\r\n");
        is(&mut c, "GET a", "+QUEUED\r\n");
        is(&mut c, "EXEC", "*3\r\n+OK\r\n:2\r\n$1\r\n1\r\n");
        assert_eq!(
            escape(&read_reply(&mut waiter)),
            escape(b"*2\r\n$4\r\njobs\r\n$2\r\nj1\r\n")
        );
        is(&mut c, "LRANGE jobs 0 -1", "*1\r\n$2\r\nj2\r\n");
        // Blocking commands inside MULTI answer at once, as if timed out.
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "BLPOP empty 0", "+QUEUED\r\n");
        is(&mut c, "BLMOVE empty other LEFT LEFT 0", "+QUEUED\r\n");
        is(&mut c, "WAIT 1 0", "+QUEUED\r\n");
        is(&mut c, "EXEC", "*3\r\n*-1\r\n$-1\r\n:0\r\n");
        let stats = String::from_utf8_lossy(&r(&mut c, "INFO commandstats")).into_owned();
        for want in [
            "cmdstat_exec:calls=2,",
            "cmdstat_set:calls=1,",
            "cmdstat_rpush:calls=1,",
            "cmdstat_get:calls=1,",
            "cmdstat_blpop:calls=2,",
            "cmdstat_multi:calls=2,",
        ] {
            assert!(stats.contains(want), "{want} in {stats}");
        }
    });
}

fn wait_blocked(c: &mut RawConn, n: usize) {
    for _ in 0..500 {
        if info_value(c, "clients", "blocked_clients") == n.to_string() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never saw {n} blocked clients");
}

#[test]
fn client_list_shows_the_transaction() {
    on_both(|s| {
        let mut c = s.raw_conn();
        let mut other = s.raw_conn();
        assert_eq!(client_field(&mut c, "multi"), "-1");
        assert_eq!(client_field(&mut c, "flags"), "N");
        is(&mut c, "WATCH k", "+OK\r\n");
        is(&mut other, "SET k 1", "+OK\r\n");
        // A dirty watch shows as `d`.
        assert_eq!(client_field(&mut c, "flags"), "d");
        is(&mut c, "UNWATCH", "+OK\r\n");
        is(&mut c, "MULTI", "+OK\r\n");
        is(&mut c, "SET a 1", "+QUEUED\r\n");
        is(&mut c, "GET a", "+QUEUED\r\n");
        let list = String::from_utf8_lossy(&r(&mut other, "CLIENT LIST")).into_owned();
        let line = list
            .lines()
            .find(|l| l.contains(" flags=x "))
            .unwrap_or_else(|| panic!("{list}"));
        assert!(line.contains(" multi=2 "), "{line}");
        assert!(line.contains(" cmd=get "), "{line}");
        is(&mut c, "EXEC", "*2\r\n+OK\r\n$1\r\n1\r\n");
        assert_eq!(client_field(&mut c, "multi"), "-1");
    });
}

#[test]
fn watch_is_invalidated_by_another_clients_write() {
    on_both(|s| {
        let mut a = s.raw_conn();
        let mut b = s.raw_conn();
        is(&mut a, "SET k 1", "+OK\r\n");
        // Untouched: EXEC runs.
        is(&mut a, "WATCH k", "+OK\r\n");
        is(&mut b, "GET k", "$1\r\n1\r\n");
        exec_runs(&mut a);
        // Written by another client, even with the same value.
        is(&mut a, "WATCH k", "+OK\r\n");
        is(&mut b, "SET k 1", "+OK\r\n");
        exec_aborts(&mut a);
        // Written while the transaction is being queued.
        is(&mut a, "WATCH k", "+OK\r\n");
        is(&mut a, "MULTI", "+OK\r\n");
        is(&mut a, "INCR k", "+QUEUED\r\n");
        is(&mut b, "INCR k", ":2\r\n");
        is(&mut a, "EXEC", "*-1\r\n");
        is(&mut a, "GET k", "$1\r\n2\r\n");
        // Several keys: any of them.
        is(&mut a, "WATCH x y k", "+OK\r\n");
        is(&mut b, "RPUSH y 1", ":1\r\n");
        exec_aborts(&mut a);
        // Other databases and other names do not count.
        is(&mut a, "WATCH k", "+OK\r\n");
        is(&mut b, "SELECT 1", "+OK\r\n");
        is(&mut b, "SET k 1", "+OK\r\n");
        is(&mut b, "SELECT 0", "+OK\r\n");
        is(&mut b, "SET k2 1", "+OK\r\n");
        exec_runs(&mut a);
        // Writes that change nothing do not count.
        is(&mut a, "SADD s m", ":1\r\n");
        is(&mut a, "WATCH s k", "+OK\r\n");
        is(&mut b, "SADD s m", ":0\r\n");
        is(&mut b, "PERSIST k", ":0\r\n");
        is(&mut b, "SETNX k 5", ":0\r\n");
        exec_runs(&mut a);
        // Renames, moves and TTL changes do.
        for change in ["EXPIRE k 100", "RENAME k k2", "RENAME k2 k", "MOVE k 3"] {
            is(&mut a, "WATCH k k2", "+OK\r\n");
            let reply = r(&mut b, change);
            assert!(!reply.starts_with(b"-"), "{change}: {}", escape(&reply));
            exec_aborts(&mut a);
        }
    });
}

#[test]
fn watched_keys_are_dropped_by_exec_discard_unwatch_and_reset() {
    on_both(|s| {
        let mut a = s.raw_conn();
        let mut b = s.raw_conn();
        for end in ["EXEC", "DISCARD", "UNWATCH", "RESET"] {
            is(&mut a, "WATCH k", "+OK\r\n");
            if end != "UNWATCH" && end != "RESET" {
                is(&mut a, "MULTI", "+OK\r\n");
            }
            let reply = r(&mut a, end);
            assert!(!reply.starts_with(b"-"), "{end}: {}", escape(&reply));
            is(&mut b, "SET k 1", "+OK\r\n");
            exec_runs(&mut a);
        }
        // UNWATCH also forgets that a watch was already invalidated.
        is(&mut a, "WATCH k", "+OK\r\n");
        is(&mut b, "SET k 2", "+OK\r\n");
        is(&mut a, "UNWATCH", "+OK\r\n");
        exec_runs(&mut a);
        // A dirty watch stays dirty through more WATCHes.
        is(&mut a, "WATCH k", "+OK\r\n");
        is(&mut b, "SET k 3", "+OK\r\n");
        is(&mut a, "WATCH other", "+OK\r\n");
        exec_aborts(&mut a);
        // A client that goes away leaves nothing behind.
        let mut gone = s.raw_conn();
        is(&mut gone, "WATCH k", "+OK\r\n");
        is(&mut gone, "MULTI", "+OK\r\n");
        drop(gone);
        is(&mut b, "SET k 4", "+OK\r\n");
        is(&mut b, "PING", "+PONG\r\n");
    });
}

#[test]
fn watch_is_invalidated_by_expiry() {
    on_both(|s| {
        let mut a = s.raw_conn();
        let mut b = s.raw_conn();
        // Deleted by the active expiry cycle before EXEC. (The TTLs leave
        // WATCH ample time to run before the key expires.)
        is(&mut a, "SET k 1 PX 400", "+OK\r\n");
        is(&mut a, "WATCH k", "+OK\r\n");
        let mut gone = false;
        for _ in 0..500 {
            if r(&mut b, "DBSIZE") == b":0\r\n" {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(gone, "the key never expired");
        exec_aborts(&mut a);
        // Expired but not deleted yet when EXEC runs.
        is(&mut a, "DEBUG SET-ACTIVE-EXPIRE 0", "+OK\r\n");
        is(&mut a, "SET k 1", "+OK\r\n");
        is(&mut a, "PEXPIRE k 400", ":1\r\n");
        is(&mut a, "WATCH k", "+OK\r\n");
        std::thread::sleep(Duration::from_millis(600));
        is(&mut b, "DBSIZE", ":1\r\n");
        exec_aborts(&mut a);
        // Deleted by another client's read.
        is(&mut a, "SET k 1 PX 400", "+OK\r\n");
        is(&mut a, "WATCH k", "+OK\r\n");
        std::thread::sleep(Duration::from_millis(600));
        is(&mut b, "GET k", "$-1\r\n");
        exec_aborts(&mut a);
        is(&mut a, "DEBUG SET-ACTIVE-EXPIRE 1", "+OK\r\n");
    });
}

#[test]
fn a_key_already_expired_at_watch_time_changes_only_when_written() {
    on_both(|s| {
        let mut a = s.raw_conn();
        let mut b = s.raw_conn();
        is(&mut a, "DEBUG SET-ACTIVE-EXPIRE 0", "+OK\r\n");
        let expired = |a: &mut RawConn| {
            is(a, "SET k 1 PX 10", "+OK\r\n");
            std::thread::sleep(Duration::from_millis(50));
            is(a, "WATCH k", "+OK\r\n");
        };
        // Its deletion is no change.
        expired(&mut a);
        exec_runs(&mut a);
        expired(&mut a);
        is(&mut b, "GET k", "$-1\r\n");
        exec_runs(&mut a);
        expired(&mut a);
        is(&mut b, "FLUSHDB", "+OK\r\n");
        exec_runs(&mut a);
        // Storing it again is.
        expired(&mut a);
        is(&mut b, "SET k 2", "+OK\r\n");
        exec_aborts(&mut a);
        expired(&mut a);
        is(&mut b, "GET k", "$-1\r\n");
        is(&mut b, "SET k 2", "+OK\r\n");
        exec_aborts(&mut a);
        is(&mut a, "DEBUG SET-ACTIVE-EXPIRE 1", "+OK\r\n");
    });
}

#[test]
fn flush_invalidates_watched_keys_that_exist() {
    on_both(|s| {
        let mut a = s.raw_conn();
        let mut b = s.raw_conn();
        // A missing key is not changed by a flush.
        is(&mut a, "WATCH missing", "+OK\r\n");
        is(&mut b, "FLUSHDB", "+OK\r\n");
        exec_runs(&mut a);
        is(&mut a, "SET k 1", "+OK\r\n");
        is(&mut a, "WATCH k", "+OK\r\n");
        is(&mut b, "FLUSHDB", "+OK\r\n");
        exec_aborts(&mut a);
        is(&mut a, "SET k 1", "+OK\r\n");
        is(&mut a, "WATCH missing k", "+OK\r\n");
        is(&mut b, "FLUSHALL", "+OK\r\n");
        exec_aborts(&mut a);
        // Flushing another database.
        is(&mut a, "SET k 1", "+OK\r\n");
        is(&mut a, "WATCH k", "+OK\r\n");
        is(&mut b, "SELECT 5", "+OK\r\n");
        is(&mut b, "SET k x", "+OK\r\n");
        is(&mut b, "FLUSHDB", "+OK\r\n");
        exec_runs(&mut a);
        // Watching in another database than the flushed one.
        is(&mut a, "SELECT 5", "+OK\r\n");
        is(&mut a, "SET k 1", "+OK\r\n");
        is(&mut a, "WATCH k", "+OK\r\n");
        is(&mut b, "FLUSHALL", "+OK\r\n");
        exec_aborts(&mut a);
    });
}

#[test]
fn resp3_aborted_exec_is_null() {
    on_both(|s| {
        let mut a = s.raw_conn();
        let mut b = s.raw_conn();
        let hello = r(&mut a, "HELLO 3");
        assert!(hello.starts_with(b"%7\r\n"), "{}", escape(&hello));
        is(&mut a, "WATCH k", "+OK\r\n");
        is(&mut b, "SET k 1", "+OK\r\n");
        is(&mut a, "MULTI", "+OK\r\n");
        is(&mut a, "GET k", "+QUEUED\r\n");
        is(&mut a, "EXEC", "_\r\n");
        is(&mut a, "MULTI", "+OK\r\n");
        is(&mut a, "GET k", "+QUEUED\r\n");
        is(&mut a, "HGETALL nohash", "+QUEUED\r\n");
        is(&mut a, "BLPOP empty 0", "+QUEUED\r\n");
        is(&mut a, "EXEC", "*3\r\n$1\r\n1\r\n%0\r\n_\r\n");
        is(&mut a, "MULTI", "+OK\r\n");
        is(
            &mut a,
            "HSET",
            "-ERR wrong number of arguments for 'hset' command\r\n",
        );
        is(
            &mut a,
            "EXEC",
            "-EXECABORT Transaction discarded because of previous errors.\r\n",
        );
    });
}

#[test]
fn pipelined_transactions_interleave_with_other_clients_atomically() {
    on_both(|s| {
        let mut writers: Vec<RawConn> = (0..4).map(|_| s.raw_conn()).collect();
        // Each writer pipelines MULTI, 50 INCRs of its own key and of a
        // shared key, EXEC; the others' commands never land in between.
        for (i, w) in writers.iter_mut().enumerate() {
            let mut batch = Vec::new();
            batch.extend(common::encode_command(&[b"MULTI"]));
            let own = format!("own{i}");
            for _ in 0..50 {
                batch.extend(common::encode_command(&[b"INCR", b"shared"]));
                batch.extend(common::encode_command(&[b"INCR", own.as_bytes()]));
            }
            batch.extend(common::encode_command(&[b"EXEC"]));
            std::io::Write::write_all(w, &batch).unwrap();
        }
        for (i, w) in writers.iter_mut().enumerate() {
            assert_eq!(read_reply(w), b"+OK\r\n");
            for _ in 0..100 {
                assert_eq!(read_reply(w), b"+QUEUED\r\n");
            }
            let exec = common::parse_one(&read_reply(w));
            let items = exec.as_array().expect("EXEC array");
            assert_eq!(items.len(), 100, "writer {i}");
            let shared: Vec<i64> = items
                .iter()
                .step_by(2)
                .map(|x| x.as_int().unwrap())
                .collect();
            // The shared counter moved by exactly one per step: no other
            // transaction ran in the middle of this one.
            for pair in shared.windows(2) {
                assert_eq!(pair[1], pair[0] + 1, "writer {i}: {shared:?}");
            }
            assert_eq!(items[99].as_int(), Some(50));
        }
        let mut c = s.raw_conn();
        is(&mut c, "GET shared", "$3\r\n200\r\n");
    });
}

#[test]
fn a_write_served_to_a_blocked_client_invalidates_the_writers_watch() {
    on_both(|s| {
        let mut a = s.raw_conn();
        let mut b = s.raw_conn();
        let mut obs = s.raw_conn();
        // B's BLMOVE runs inside A's turn, when A pushes to `src`; the key
        // it writes, `dst`, is watched by A itself.
        is(&mut a, "WATCH dst", "+OK\r\n");
        send(&mut b, &[b"BLMOVE", b"src", b"dst", b"LEFT", b"LEFT", b"0"]);
        wait_blocked(&mut obs, 1);
        is(&mut a, "LPUSH src x", ":1\r\n");
        assert_eq!(read_reply(&mut b), b"$1\r\nx\r\n");
        exec_aborts(&mut a);
        // And another client's watch on it likewise.
        is(&mut obs, "WATCH dst", "+OK\r\n");
        send(&mut b, &[b"BLMOVE", b"src", b"dst", b"LEFT", b"LEFT", b"0"]);
        wait_blocked(&mut a, 1);
        is(&mut a, "RPUSH src y", ":1\r\n");
        assert_eq!(read_reply(&mut b), b"$1\r\ny\r\n");
        exec_aborts(&mut obs);
    });
}

#[test]
fn deleting_several_keys_invalidates_only_those_that_existed() {
    on_both(|s| {
        let mut c = s.raw_conn();
        let mut other = s.raw_conn();
        is(&mut c, "SET present 1", "+OK\r\n");
        is(&mut c, "WATCH absent", "+OK\r\n");
        is(&mut other, "DEL present absent", ":1\r\n");
        exec_runs(&mut c);
        is(&mut c, "SET present 1", "+OK\r\n");
        is(&mut c, "WATCH present", "+OK\r\n");
        is(&mut other, "UNLINK absent present", ":1\r\n");
        exec_aborts(&mut c);
    });
}
