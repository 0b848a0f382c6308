#!/usr/bin/env python3
"""redis-py's Lock and register_script on forkv: Lua scripts as users run them.

redis-py's `Lock` releases, extends and reacquires through Lua scripts
(EVALSHA, loading with SCRIPT LOAD on NOSCRIPT). This starts the server
(or uses one already listening with --port) and checks, in RESP2 and RESP3:
acquire/release/extend/reacquire on one client, ownership errors, and then
several processes competing for one lock around a non-atomic
read-modify-write, which must never run in two processes at once (no
double ownership, no lost update). Also `register_script` with keys and
arguments and a script error.

    python3 tests/redis_py_lock.py                        # target/debug/forkv-server
    python3 tests/redis_py_lock.py --server redis-server  # self-test against Redis
    python3 tests/redis_py_lock.py --port 6379            # a server already running

Prints PASS/FAIL per check and a last line "N passed, N failed"; exits 1 if a
check failed. Needs the `redis` package (`pip install redis==8.1.0`).
"""

import argparse
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import redis
from redis.exceptions import LockNotOwnedError, ResponseError


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
            print(f"FAIL {name}")
            traceback.print_exc(file=sys.stdout)
        else:
            self.passed += 1
            print(f"PASS {name}")


def expect(actual, expected, what=""):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def check_lock_lifecycle(r):
    r.delete("lock:a")
    lock = r.lock("lock:a", timeout=10)
    expect(lock.acquire(blocking=False), True, "first acquire")
    expect(lock.owned(), True, "owned")
    other = r.lock("lock:a", timeout=10)
    expect(other.acquire(blocking=False), False, "second owner refused")
    # extend adds to the TTL; replace_ttl sets it.
    expect(lock.extend(20), True, "extend")
    ttl = r.pttl("lock:a")
    if not 25_000 < ttl <= 30_000:
        raise AssertionError(f"ttl after extend: {ttl}")
    expect(lock.extend(5, replace_ttl=True), True, "extend replace_ttl")
    if not 0 < r.pttl("lock:a") <= 5_000:
        raise AssertionError(f"ttl after replace: {r.pttl('lock:a')}")
    expect(lock.reacquire(), True, "reacquire")
    if not 5_000 < r.pttl("lock:a") <= 10_000:
        raise AssertionError(f"ttl after reacquire: {r.pttl('lock:a')}")
    lock.release()
    expect(r.exists("lock:a"), 0, "released")
    expect(other.acquire(blocking=False), True, "free again")
    # A lock released by someone else is no longer owned.
    try:
        lock.do_release(lock.local.token or b"not-the-token")
    except LockNotOwnedError:
        pass
    else:
        raise AssertionError("releasing another owner's lock succeeded")
    try:
        lock.extend(1)
    except Exception:  # noqa: BLE001 - redis-py raises LockError subclasses
        pass
    else:
        raise AssertionError("extending an unowned lock succeeded")
    other.release()


def check_lock_expiry(r):
    lock = r.lock("lock:b", timeout=0.2)
    expect(lock.acquire(blocking=False), True, "acquire")
    time.sleep(0.4)
    try:
        lock.release()
    except LockNotOwnedError:
        pass
    else:
        raise AssertionError("releasing an expired lock succeeded")
    with r.lock("lock:b", timeout=5, blocking_timeout=2):
        expect(r.exists("lock:b"), 1, "held in with-block")
    expect(r.exists("lock:b"), 0, "released after with-block")


def worker(port, protocol, rounds, errors):
    r = redis.Redis(port=port, protocol=protocol)
    for _ in range(rounds):
        lock = r.lock("lock:shared", timeout=5, sleep=0.001, blocking_timeout=30)
        if not lock.acquire():
            errors.put("acquire timed out")
            return
        holders = r.incr("holders")
        if holders != 1:
            errors.put(f"{holders} holders at once")
        # A read-modify-write that is only safe under the lock.
        value = int(r.get("counter") or 0)
        r.set("counter", value + 1)
        r.decr("holders")
        lock.release()


def check_lock_across_processes(r, port, protocol):
    r.delete("counter", "holders", "lock:shared")
    procs, rounds = 4, 100
    errors = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=worker, args=(port, protocol, rounds, errors)) for _ in range(procs)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(120)
        expect(p.exitcode, 0, "worker exit code")
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    expect(problems, [], "double ownership")
    expect(int(r.get("counter")), procs * rounds, "counter")


def check_register_script(r):
    r.delete("rs:k")
    script = r.register_script("redis.call('set', KEYS[1], ARGV[1]) return {redis.call('get', KEYS[1]), #ARGV}")
    r.script_flush()
    expect(script(keys=["rs:k"], args=["v", "w"]), [b"v", 2], "first call (loads on NOSCRIPT)")
    expect(script(keys=["rs:k"], args=["x"]), [b"x", 1], "second call (cached)")
    expect(r.script_exists(script.sha), [True], "script exists")
    bad = r.register_script("return redis.call('nosuch')")
    try:
        bad()
    except ResponseError as e:
        if "Unknown Redis command called from script" not in str(e):
            raise
    else:
        raise AssertionError("no error")
    pipe = r.pipeline()
    script(keys=["rs:k"], args=["p"], client=pipe)
    expect(pipe.execute(), [[b"p", 1]], "script in a pipeline")


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
    raise SystemExit(f"server {binary} did not start")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("FORKV_BIN", "target/debug/forkv-server"))
    parser.add_argument("--port", type=int, help="use a server already listening on 127.0.0.1:PORT")
    args = parser.parse_args()

    print(f"redis-py {redis.__version__}")
    proc = None
    workdir = tempfile.mkdtemp(prefix="forkv-redis-py-lock.")
    try:
        if args.port:
            port = args.port
        else:
            proc, port = start_server(shutil.which(args.server) or args.server, workdir)
        checks = Checks()
        for protocol in (2, 3):
            r = redis.Redis(port=port, protocol=protocol)
            checks.run(f"lock lifecycle RESP{protocol}", check_lock_lifecycle, r)
            checks.run(f"lock expiry RESP{protocol}", check_lock_expiry, r)
            checks.run(f"lock across processes RESP{protocol}", check_lock_across_processes, r, port, protocol)
            checks.run(f"register_script RESP{protocol}", check_register_script, r)
        print(f"{checks.passed} passed, {checks.failed} failed")
        return 1 if checks.failed else 0
    finally:
        if proc:
            proc.terminate()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
