#!/usr/bin/env python3
"""Smoke test of forkv with redis-py, the Python client most users run.

Starts the server (or uses one already listening with --port) and runs the
same checks over three connections: redis-py's default (redis-py 8 sends
HELLO 3 and speaks RESP3 unless told otherwise; older versions stayed on
RESP2), protocol=2 (no HELLO) and protocol=3. Then, once: client-side caching
through redis-py's cache_config (CLIENT TRACKING with invalidation pushes),
tracking with REDIRECT to a pub/sub connection in both protocols, keyspace
notifications and eviction under maxmemory.

    python3 tests/redis_py_smoke.py                           # target/debug/forkv-server
    FORKV_BIN=path/to/forkv-server python3 tests/redis_py_smoke.py
    python3 tests/redis_py_smoke.py --server redis-server     # self-test against Redis
    python3 tests/redis_py_smoke.py --port 6379               # a server already running

Prints PASS/FAIL per check and a last line "N passed, N failed"; exits 1 if a
check failed. Needs the `redis` package (`pip install redis==8.1.0`).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import redis
from redis.cache import CacheConfig
from redis.connection import CacheProxyConnection, Connection
from redis.exceptions import OutOfMemoryError, ResponseError, WatchError

# redis-py 8 connects with RESP3 when no protocol is given.
DEFAULT_PROTOCOL = getattr(redis.utils, "DEFAULT_RESP_VERSION", 2)


class Checks:
    """Runs named checks, prints PASS/FAIL, counts them."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn, *args):
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - every failure is reported the same way
            self.failed += 1
            print(f"FAIL: {name}")
            for line in traceback.format_exc().rstrip().splitlines()[-6:]:
                print(f"      {line}")
        else:
            self.passed += 1
            print(f"PASS: {name}")


def expect(actual, expected, what=""):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def wait_for(predicate, what, seconds=3.0):
    """Polls until predicate() is true; for effects another connection causes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what}: not seen within {seconds} s")


def next_message(pubsub, seconds=3.0):
    """The next pub/sub message or subscription confirmation, or an error."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            return message
    raise AssertionError(f"no pub/sub message within {seconds} s")


# --- per-protocol checks --------------------------------------------------------


def check_handshake(r, protocol):
    info = r.client_info()
    expect(int(info["resp"]), protocol, "CLIENT INFO resp")
    expect(r.ping(), True, "PING")
    expect(r.echo("hi"), "hi", "ECHO")


def check_strings(r, _protocol):
    expect(r.set("s:a", "1"), True, "SET")
    expect(r.get("s:a"), "1", "GET")
    expect(r.get("s:missing"), None, "GET missing")
    expect(r.set("s:a", "2", nx=True), None, "SET NX on existing key")
    expect(r.set("s:b", "x", xx=True), None, "SET XX on missing key")
    expect(r.incr("s:n"), 1, "INCR")
    expect(r.incrby("s:n", 10), 11, "INCRBY")
    expect(r.incrbyfloat("s:f", 1.5), 1.5, "INCRBYFLOAT")
    expect(r.append("s:a", "3"), 2, "APPEND")
    expect(r.mset({"s:m1": "a", "s:m2": "b"}), True, "MSET")
    expect(r.mget("s:m1", "s:missing", "s:m2"), ["a", None, "b"], "MGET")
    expect(r.set("s:t", "v", ex=100), True, "SET EX")
    ttl = r.ttl("s:t")
    if not 0 < ttl <= 100:
        raise AssertionError(f"TTL: {ttl}")
    expect(r.getdel("s:t"), "v", "GETDEL")
    expect(r.exists("s:a", "s:m1", "s:missing"), 2, "EXISTS")
    expect(r.type("s:a"), "string", "TYPE")
    expect(r.delete("s:a", "s:missing"), 1, "DEL")


def check_pipeline(r, _protocol):
    pipe = r.pipeline(transaction=False)
    for i in range(500):
        pipe.set(f"p:{i}", i)
    for i in range(500):
        pipe.get(f"p:{i}")
    replies = pipe.execute()
    expect(replies[:500], [True] * 500, "pipelined SET replies")
    expect(replies[500:], [str(i) for i in range(500)], "pipelined GET replies")
    # A failing command in a pipeline does not stop the others.
    pipe = r.pipeline(transaction=False)
    pipe.set("p:s", "x").lpush("p:s", "y").get("p:s")
    replies = pipe.execute(raise_on_error=False)
    expect(replies[0], True, "SET in pipeline")
    if not (isinstance(replies[1], ResponseError) and str(replies[1]).startswith("WRONGTYPE")):
        raise AssertionError(f"LPUSH on a string: {replies[1]!r}")
    expect(replies[2], "x", "GET after the failed command")


def check_transactions(r, _protocol):
    other = redis.Redis(connection_pool=r.connection_pool)
    r.set("t:k", "1")
    # MULTI/EXEC through a transactional pipeline.
    replies = r.pipeline().incr("t:k").incr("t:k").get("t:k").execute()
    expect(replies, [2, 3, "3"], "MULTI/EXEC replies")
    # WATCH: a write by another client between WATCH and EXEC aborts EXEC.
    with r.pipeline() as pipe:
        pipe.watch("t:k")
        value = int(pipe.get("t:k"))
        other.set("t:k", "100")
        pipe.multi()
        pipe.set("t:k", value + 1)
        try:
            pipe.execute()
            raise AssertionError("EXEC succeeded although a watched key changed")
        except WatchError:
            pass
    expect(r.get("t:k"), "100", "value after the aborted transaction")
    # Client.transaction() retries until EXEC goes through.
    calls = []

    def multiply(pipe):
        calls.append(1)
        current = int(pipe.get("t:k"))
        if len(calls) == 1:
            other.incr("t:k")
        pipe.multi()
        pipe.set("t:k", current * 10)

    r.transaction(multiply, "t:k")
    expect(len(calls), 2, "transaction() attempts")
    expect(r.get("t:k"), "1010", "value after transaction()")
    # A command error inside EXEC is returned in its place, the rest still runs.
    pipe = r.pipeline()
    pipe.set("t:s", "x").lpush("t:s", "y").set("t:s", "z")
    replies = pipe.execute(raise_on_error=False)
    expect(replies[0], True, "SET in MULTI")
    if not (isinstance(replies[1], ResponseError) and str(replies[1]).startswith("WRONGTYPE")):
        raise AssertionError(f"LPUSH on a string in MULTI: {replies[1]!r}")
    expect(r.get("t:s"), "z", "command after the failed one in EXEC")
    # UNWATCH forgets watched keys.
    with r.pipeline() as pipe:
        pipe.watch("t:k")
        pipe.unwatch()
        other.set("t:k", "7")
        pipe.multi()
        pipe.set("t:k", "8")
        expect(pipe.execute(), [True], "EXEC after UNWATCH")


def check_pubsub(r, _protocol):
    pubsub = r.pubsub()
    try:
        pubsub.subscribe("ps:news")
        expect(next_message(pubsub)["type"], "subscribe", "SUBSCRIBE confirmation")
        pubsub.psubscribe("ps:*")
        expect(next_message(pubsub)["type"], "psubscribe", "PSUBSCRIBE confirmation")
        expect(r.pubsub_numsub("ps:news"), [("ps:news", 1)], "PUBSUB NUMSUB")
        expect(r.pubsub_numpat(), 1, "PUBSUB NUMPAT")
        expect(r.pubsub_channels("ps:*"), ["ps:news"], "PUBSUB CHANNELS")
        # The subscriber gets it once per channel subscription and once per pattern.
        expect(r.publish("ps:news", "hello"), 2, "PUBLISH receivers")
        got = sorted((m["type"], m["channel"], m["data"], m["pattern"]) for m in (next_message(pubsub), next_message(pubsub)))
        expect(got, [("message", "ps:news", "hello", None), ("pmessage", "ps:news", "hello", "ps:*")], "messages")
        expect(r.publish("ps:other", "x"), 1, "PUBLISH to a pattern-only channel")
        message = next_message(pubsub)
        expect((message["type"], message["channel"], message["data"]), ("pmessage", "ps:other", "x"), "pattern message")
        pubsub.unsubscribe("ps:news")
        expect(next_message(pubsub)["type"], "unsubscribe", "UNSUBSCRIBE confirmation")
        pubsub.punsubscribe()
        expect(next_message(pubsub)["type"], "punsubscribe", "PUNSUBSCRIBE confirmation")
        expect(r.publish("ps:news", "nobody"), 0, "PUBLISH without subscribers")
    finally:
        pubsub.close()


def check_sharded_pubsub(r, _protocol):
    pubsub = r.pubsub()
    try:
        pubsub.ssubscribe("sps:orders")
        expect(next_message(pubsub)["type"], "ssubscribe", "SSUBSCRIBE confirmation")
        expect(r.spublish("sps:orders", "o1"), 1, "SPUBLISH receivers")
        message = next_message(pubsub)
        expect((message["type"], message["channel"], message["data"]), ("smessage", "sps:orders", "o1"), "smessage")
        expect(r.pubsub_shardnumsub("sps:orders"), [("sps:orders", 1)], "PUBSUB SHARDNUMSUB")
    finally:
        pubsub.close()


def check_scan(r, _protocol):
    expected = {f"scan:{i}" for i in range(300)}
    pipe = r.pipeline(transaction=False)
    for key in expected:
        pipe.set(key, "v")
    pipe.hset("scanh", mapping={f"f{i}": i for i in range(200)})
    pipe.sadd("scans", *range(200))
    pipe.zadd("scanz", {f"m{i}": i for i in range(200)})
    pipe.execute()
    expect(set(r.scan_iter(match="scan:*", count=37)), expected, "SCAN MATCH")
    expect(set(r.scan_iter(match="scan*", _type="hash")), {"scanh"}, "SCAN TYPE")
    expect(dict(r.hscan_iter("scanh", count=17)), {f"f{i}": str(i) for i in range(200)}, "HSCAN")
    expect(set(r.sscan_iter("scans", count=17)), {str(i) for i in range(200)}, "SSCAN")
    expect(
        sorted((m, float(s)) for m, s in r.zscan_iter("scanz", count=17)),
        sorted((f"m{i}", float(i)) for i in range(200)),
        "ZSCAN",
    )


def check_collections(r, _protocol):
    # Hashes.
    expect(r.hset("c:h", mapping={"a": "1", "b": "2"}), 2, "HSET")
    expect(r.hgetall("c:h"), {"a": "1", "b": "2"}, "HGETALL")
    expect(r.hincrby("c:h", "a", 5), 6, "HINCRBY")
    expect(r.hmget("c:h", "a", "zz"), ["6", None], "HMGET")
    expect(r.hdel("c:h", "b", "zz"), 1, "HDEL")
    expect(r.hlen("c:h"), 1, "HLEN")
    # Lists.
    expect(r.rpush("c:l", "a", "b", "c"), 3, "RPUSH")
    expect(r.lpush("c:l", "z"), 4, "LPUSH")
    expect(r.lrange("c:l", 0, -1), ["z", "a", "b", "c"], "LRANGE")
    expect(r.lpop("c:l"), "z", "LPOP")
    expect(r.rpop("c:l", 2), ["c", "b"], "RPOP count")
    expect(list(r.blpop(["c:empty", "c:l"], timeout=1)), ["c:l", "a"], "BLPOP")
    expect(r.blpop("c:empty", timeout=0.1), None, "BLPOP timeout")
    # Sets.
    expect(r.sadd("c:s1", "a", "b", "c"), 3, "SADD")
    r.sadd("c:s2", "b", "c", "d")
    expect(r.smembers("c:s1"), {"a", "b", "c"}, "SMEMBERS")
    expect(r.sismember("c:s1", "a"), True, "SISMEMBER")
    expect(r.sinter("c:s1", "c:s2"), {"b", "c"}, "SINTER")
    expect(r.sunion("c:s1", "c:s2"), {"a", "b", "c", "d"}, "SUNION")
    expect(r.scard("c:s1"), 3, "SCARD")
    # Sorted sets.
    expect(r.zadd("c:z", {"a": 1, "b": 2.5, "c": 3}), 3, "ZADD")
    expect(r.zincrby("c:z", 2, "a"), 3.0, "ZINCRBY")
    expect(r.zscore("c:z", "b"), 2.5, "ZSCORE")
    expect(r.zrank("c:z", "b"), 0, "ZRANK")
    expect([(m, float(s)) for m, s in r.zrange("c:z", 0, -1, withscores=True)], [("b", 2.5), ("a", 3.0), ("c", 3.0)], "ZRANGE WITHSCORES")
    expect(r.zrangebyscore("c:z", 3, "+inf"), ["a", "c"], "ZRANGEBYSCORE")
    expect(r.zcard("c:z"), 3, "ZCARD")
    # Type errors come back as redis-py exceptions with Redis's text.
    try:
        r.lpush("c:h", "x")
        raise AssertionError("LPUSH on a hash succeeded")
    except ResponseError as err:
        expect(str(err), "WRONGTYPE Operation against a key holding the wrong kind of value", "WRONGTYPE text")


PER_PROTOCOL = [
    ("handshake", check_handshake),
    ("strings", check_strings),
    ("pipeline", check_pipeline),
    ("transactions with WATCH", check_transactions),
    ("pub/sub", check_pubsub),
    ("sharded pub/sub", check_sharded_pubsub),
    ("scan_iter / hscan_iter / sscan_iter / zscan_iter", check_scan),
    ("hashes, lists, sets, sorted sets", check_collections),
]


# --- once ------------------------------------------------------------------------


def check_client_side_cache(connect):
    """redis-py's own client-side cache: CLIENT TRACKING ON over RESP3.

    redis-py enables it only for servers whose HELLO says redis >= 7.4; forkv,
    like the Redis 7.0 it follows, says 7.0.15. The tracking protocol it relies
    on is the one Redis 6+ has, so the gate is lowered here to test it.
    """
    try:
        connect(protocol=3, cache_config=CacheConfig()).ping()
        print("NOTE: redis-py accepted cache_config as is")
    except (redis.exceptions.ConnectionError, ResponseError) as err:
        print(f"NOTE: redis-py without the lowered gate: {err}")
    gate = CacheProxyConnection.MIN_ALLOWED_VERSION
    CacheProxyConnection.MIN_ALLOWED_VERSION = "6.0.0"
    try:
        r = connect(protocol=3, cache_config=CacheConfig())
        other = connect(protocol=2)
        try:
            r.set("csc:k", "1")
            expect(r.get("csc:k"), "1", "first GET")
            cache = r.get_cache()
            expect(cache.size, 1, "entries cached after the first GET")
            expect(r.get("csc:k"), "1", "second GET (from the cache)")
            tracking = r.execute_command("CLIENT", "TRACKINGINFO")
            flags = tracking.get("flags") if isinstance(tracking, dict) else tracking[1]
            if "on" not in flags:
                raise AssertionError(f"CLIENT TRACKINGINFO flags: {flags!r}")
            other.set("csc:k", "2")
            # The invalidation push is read before the next command is served.
            wait_for(lambda: r.get("csc:k") == "2", "GET after another client's SET returns the new value")
            other.delete("csc:k")
            wait_for(lambda: r.get("csc:k") is None, "GET after another client's DEL returns nothing")
            r.get("csc:k")
            other.flushall()
            wait_for(lambda: cache.size == 0, "cache emptied by FLUSHALL (invalidate with a null key)")
        finally:
            r.close()
            other.close()
    finally:
        CacheProxyConnection.MIN_ALLOWED_VERSION = gate


def check_tracking_redirect(connect, protocol):
    """CLIENT TRACKING ON REDIRECT: invalidations go to another connection.

    A RESP2 target must be subscribed to __redis__:invalidate and gets them as
    pub/sub messages; a RESP3 target gets `invalidate` pushes.
    """
    probe = connect()
    kwargs = probe.connection_pool.connection_kwargs
    listener = Connection(host=kwargs["host"], port=kwargs["port"], protocol=protocol, decode_responses=True, socket_timeout=10)
    tracked = connect(protocol=protocol, single_connection_client=True)
    pushes = []
    try:
        listener.connect()
        listener.send_command("CLIENT", "ID")
        listener_id = listener.read_response()
        if protocol == 3:
            listener._parser.set_invalidation_push_handler(pushes.append)
        else:
            listener.send_command("SUBSCRIBE", "__redis__:invalidate")
            expect(listener.read_response(), ["subscribe", "__redis__:invalidate", 1], "SUBSCRIBE reply")

        def next_invalidation():
            if protocol == 2:
                message = listener.read_response(timeout=3)
                expect(message[:2], ["message", "__redis__:invalidate"], "invalidation message")
                return message[2]
            deadline = time.monotonic() + 3
            while not pushes and time.monotonic() < deadline:
                if listener.can_read(timeout=0.05):
                    listener.read_response(push_request=True)  # hands pushes to the handler
            if not pushes:
                raise AssertionError("no invalidate push within 3 s")
            push = pushes.pop(0)
            expect(push[0], "invalidate", "push type")
            return push[1]

        expect(tracked.client_tracking_on(clientid=listener_id) in (True, "OK"), True, "CLIENT TRACKING ON REDIRECT")
        tracked.set("trk:k", "1")
        tracked.get("trk:k")
        probe.set("trk:k", "2")
        expect(next_invalidation(), ["trk:k"], "keys invalidated by SET")
        tracked.get("trk:k")
        probe.flushdb()
        expect(next_invalidation(), None, "keys invalidated by FLUSHDB")
    finally:
        listener.disconnect()
        tracked.close()
        probe.close()


def check_keyspace_notifications(r):
    pubsub = r.pubsub()
    try:
        r.config_set("notify-keyspace-events", "KEA")
        pubsub.psubscribe("__keyspace@0__:ksn:*")
        expect(next_message(pubsub)["type"], "psubscribe", "PSUBSCRIBE confirmation")
        pubsub.subscribe("__keyevent@0__:expired")
        expect(next_message(pubsub)["type"], "subscribe", "SUBSCRIBE confirmation")
        r.set("ksn:a", "1")
        r.lpush("ksn:l", "x")
        r.delete("ksn:a")
        seen = [(next_message(pubsub)["channel"], None) for _ in range(3)]
        expect(
            [c for c, _ in seen],
            ["__keyspace@0__:ksn:a", "__keyspace@0__:ksn:l", "__keyspace@0__:ksn:a"],
            "keyspace channels",
        )
        r.set("ksn:a", "1")
        message = next_message(pubsub)
        expect((message["channel"], message["data"]), ("__keyspace@0__:ksn:a", "set"), "set event")
        r.expire("ksn:a", 100)
        message = next_message(pubsub)
        expect((message["channel"], message["data"]), ("__keyspace@0__:ksn:a", "expire"), "expire event")
        r.set("ksn:e", "1", px=30)
        expect([next_message(pubsub)["data"] for _ in range(2)], ["set", "expire"], "SET PX events")
        time.sleep(0.05)
        r.get("ksn:e")  # an expired key is deleted on access, if the cron has not done it yet
        got = {(m["channel"], m["data"]) for m in (next_message(pubsub), next_message(pubsub))}
        expect(got, {("__keyspace@0__:ksn:e", "expired"), ("__keyevent@0__:expired", "ksn:e")}, "expired events")
    finally:
        r.config_set("notify-keyspace-events", "")
        pubsub.close()


def check_eviction(r):
    r.flushall()
    try:
        limit = int(r.info("memory")["used_memory"]) + 2 * 1024 * 1024
        r.config_set("maxmemory-policy", "allkeys-lru")
        r.config_set("maxmemory", limit)
        value = "x" * 4096
        written = 2000  # about 8 MB: four times what fits
        for start in range(0, written, 100):
            pipe = r.pipeline(transaction=False)
            for i in range(start, start + 100):
                pipe.set(f"ev:{i}", value)
            pipe.execute()
        evicted = int(r.info("stats")["evicted_keys"])
        if evicted == 0:
            raise AssertionError("no key was evicted")
        expect(r.dbsize() + evicted, written, "keys kept + keys evicted")
        used = int(r.info("memory")["used_memory"])
        if used > limit + 256 * 1024:
            raise AssertionError(f"used_memory {used} well over maxmemory {limit}")
        # With noeviction, writes that need memory are refused instead.
        r.config_set("maxmemory-policy", "noeviction")
        r.config_set("maxmemory", 1)
        try:
            r.set("ev:refused", value)
            raise AssertionError("SET succeeded over maxmemory with noeviction")
        except OutOfMemoryError as err:
            # redis-py takes the OOM prefix as the error class.
            expect(str(err), "command not allowed when used memory > 'maxmemory'.", "OOM error text")
        expect(r.get("ev:1999"), value, "reads still work over maxmemory")
    finally:
        r.config_set("maxmemory", 0)
        r.config_set("maxmemory-policy", "noeviction")
        r.flushall()


# --- server ------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, workdir):
    port = free_port()
    log = open(os.path.join(workdir, "server.log"), "wb")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    with open(os.path.join(workdir, "server.log"), encoding="utf-8", errors="replace") as f:
        sys.stderr.write(f.read()[-3000:])
    raise SystemExit(f"server {binary} did not start")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("FORKV_BIN", "target/debug/forkv-server"))
    parser.add_argument("--port", type=int, help="use a server already listening on 127.0.0.1:PORT (it is flushed)")
    args = parser.parse_args()

    print(f"redis-py {redis.__version__}, default protocol RESP{DEFAULT_PROTOCOL}")
    proc = None
    workdir = tempfile.mkdtemp(prefix="forkv-redis-py.")
    try:
        if args.port:
            port = args.port
        else:
            binary = shutil.which(args.server) or args.server
            proc, port = start_server(binary, workdir)

        def connect(**kwargs):
            return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=10, **kwargs)

        checks = Checks()
        for label, kwargs, protocol in (
            ("default", {}, DEFAULT_PROTOCOL),
            ("protocol=2", {"protocol": 2}, 2),
            ("protocol=3", {"protocol": 3}, 3),
        ):
            r = connect(**kwargs)
            r.flushall()
            for name, fn in PER_PROTOCOL:
                checks.run(f"[{label}] {name}", fn, r, protocol)
            r.close()
        admin = connect(protocol=2)
        admin.flushall()
        checks.run("client-side caching (cache_config, RESP3)", check_client_side_cache, connect)
        checks.run("tracking with REDIRECT (RESP2)", check_tracking_redirect, connect, 2)
        checks.run("tracking with REDIRECT (RESP3)", check_tracking_redirect, connect, 3)
        checks.run("keyspace notifications", check_keyspace_notifications, admin)
        checks.run("eviction under maxmemory", check_eviction, admin)
        admin.close()
        if proc is not None and proc.poll() is not None:
            checks.failed += 1
            print(f"FAIL: the server exited during the test (status {proc.returncode})")
        print(f"{checks.passed} passed, {checks.failed} failed")
        return 1 if checks.failed else 0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
