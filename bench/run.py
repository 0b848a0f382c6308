#!/usr/bin/env python3
"""Side-by-side benchmarks of forkv and real Redis on this machine.

Starts both servers on loopback with the same settings (no save points, no
maxmemory limit, same hz), alternates runs between them, and writes medians
and forkv/Redis ratios to bench/RESULTS.md. Stops every process it starts.

usage: python3 bench/run.py [--quick] [--out bench/RESULTS.md]
"""
import argparse
import datetime
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORKV = os.path.join(ROOT, "target", "release", "forkv-server")
LOADGEN = None  # set in main()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cmd(port, *args, timeout=600):
    out = subprocess.run(["redis-cli", "-p", str(port), *map(str, args)],
                         capture_output=True, text=True, timeout=timeout)
    return out.stdout.strip()


def info(port, section):
    d = {}
    for line in cmd(port, "INFO", section).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            d[k] = v.strip()
    return d


class Server:
    """A forkv or Redis server in its own temp dir."""

    def __init__(self, kind):
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        self.proc = None
        self.port = None

    def start(self, wait_loaded=True):
        self.port = free_port()
        common = ["--port", str(self.port), "--save", "", "--dir", self.dir, "--hz", "10",
                  "--enable-debug-command", "yes"]
        if self.kind == "forkv":
            argv = [FORKV, *common]
        else:
            argv = ["redis-server", *common, "--appendonly", "no", "--dbfilename", "dump.rdb"]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "log"), "a"))
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited: " + open(os.path.join(self.dir, "log")).read()[-2000:])
            try:
                if cmd(self.port, "PING", timeout=5) == "PONG" and \
                        (not wait_loaded or info(self.port, "persistence").get("loading") == "0"):
                    break
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.005)
        return time.monotonic() - t0

    def fresh(self):
        """Restarts with an empty dataset (no snapshot to load)."""
        self.stop()
        for f in ("dump.forkv", "dump.rdb"):
            try:
                os.remove(os.path.join(self.dir, f))
            except FileNotFoundError:
                pass
        self.start()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def pid(self):
        return self.proc.pid

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def snapshot(self):
        return os.path.join(self.dir, "dump.forkv" if self.kind == "forkv" else "dump.rdb")


def rss(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def redis_benchmark(port, tests, n, clients, pipeline, size, rand=None):
    argv = ["redis-benchmark", "-p", str(port), "-c", str(clients), "-n", str(n),
            "-P", str(pipeline), "-d", str(size), "-t", tests, "--csv"]
    if rand:
        argv += ["-r", str(rand)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=900).stdout
    res = {}
    for line in out.splitlines():
        parts = [p.strip('"') for p in line.split('","')]
        if len(parts) >= 2 and parts[0] != "test":
            try:
                res[parts[0].strip('"')] = float(parts[1])
            except ValueError:
                pass
    return res


def loadgen(*args):
    out = subprocess.run([LOADGEN, *map(str, args)], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return [float(x) for x in out.stdout.split()]


def wait_bgsave(port):
    while info(port, "persistence").get("rdb_bgsave_in_progress") == "1":
        time.sleep(0.01)


def alternate(servers, runs, fn):
    """Runs fn(server) `runs` times per server, alternating the order."""
    results = {s.kind: [] for s in servers}
    for r in range(runs):
        order = servers if r % 2 == 0 else list(reversed(servers))
        for s in order:
            results[s.kind].append(fn(s))
    return results


def med(xs):
    return statistics.median(xs) if xs else float("nan")


class Report:
    def __init__(self):
        self.sections = []

    def table(self, title, header, rows, note=""):
        lines = [f"### {title}", ""]
        if note:
            lines += [note, ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for r in rows:
            lines.append("| " + " | ".join(r) + " |")
        self.sections.append("\n".join(lines))
        print("\n".join(lines), flush=True)


def fmt(x, digits=0):
    if x != x:
        return "n/a"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    return "n/a" if not b or b != b or a != a else f"{a / b:.2f}"


def throughput(rep, servers, quick, runs):
    n = 100_000 if quick else 1_000_000
    tests = "PING_INLINE,PING_MBULK,SET,GET,INCR,MSET"
    rows = []
    for pipeline in (1, 16):
        # Unpipelined runs are syscall-bound at ~50k requests/s: fewer requests
        # give the same medians in a fifth of the time.
        count = n // 5 if pipeline == 1 else n
        for size in (16, 1024):
            res = alternate(servers, runs, lambda s: redis_benchmark(s.port, tests, count, 50, pipeline, size))
            for t in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"]:
                if size == 1024 and t in ("PING_INLINE", "PING_MBULK", "INCR"):
                    continue  # value size does not apply
                f = med([r.get(t, float("nan")) for r in res["forkv"]])
                r_ = med([r.get(t, float("nan")) for r in res["redis"]])
                rows.append([t, f"P{pipeline}", f"{size} B", fmt(f), fmt(r_), ratio(f, r_)])
    # Random keys over a 1M-key space at P16.
    for s in servers:
        redis_benchmark(s.port, "SET", 2_000_000 if not quick else 300_000, 50, 64, 16, rand=1_000_000)
    res = alternate(servers, runs, lambda s: redis_benchmark(s.port, "SET,GET", n, 50, 16, 16, rand=1_000_000))
    for t in ["SET", "GET"]:
        f = med([r.get(t, float("nan")) for r in res["forkv"]])
        r_ = med([r.get(t, float("nan")) for r in res["redis"]])
        rows.append([t + " -r 1000000", "P16", "16 B", fmt(f), fmt(r_), ratio(f, r_)])
    rep.table("Throughput (requests/s, redis-benchmark -c 50)",
              ["test", "pipeline", "value", "forkv", "redis", "forkv/redis"], rows,
              f"`redis-benchmark -c 50 -n {n // 5} (P1) / {n} (P16) -P 1|16 -d 16|1024 --csv`, "
              f"median of {runs} alternating runs.")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def server_cpu(rep, servers, quick, runs):
    """Server CPU time per request at P16, one test per redis-benchmark run.

    On a small machine the benchmark client shares the CPUs with the server
    and can be what limits requests/s at P16; CPU per request measures the
    server alone."""
    n = 200_000 if quick else 1_000_000
    tick = os.sysconf("SC_CLK_TCK")
    cases = [("PING_MBULK", 16, None), ("SET", 16, None), ("GET", 16, None), ("INCR", 16, None),
             ("MSET", 16, None), ("SET", 1024, None), ("GET", 1024, None),
             ("SET", 16, 1_000_000), ("GET", 16, 1_000_000)]
    for s in servers:
        cmd(s.port, "FLUSHALL")
        redis_benchmark(s.port, "SET", 2_000_000 if not quick else 300_000, 50, 64, 16, rand=1_000_000)
    rows = []
    for test, size, rand in cases:
        def run(s):
            before = cpu_ticks(s.pid())
            res = redis_benchmark(s.port, test, n, 50, 16, size, rand=rand)
            used = (cpu_ticks(s.pid()) - before) / tick
            return used / n * 1e6
        res = alternate(servers, runs, run)
        f = med(res["forkv"])
        r_ = med(res["redis"])
        label = test + (f" -r {rand}" if rand else "") + (" (10 keys)" if test == "MSET" else "")
        rows.append([label, f"{size} B", fmt(f, 2), fmt(r_, 2), ratio(f, r_)])
    rep.table("Server CPU per request at P16 (µs)", ["test", "value", "forkv", "redis", "forkv/redis"], rows,
              f"utime + stime of the server process (`/proc/PID/stat`) over `redis-benchmark -c 50 -n {n} -P 16 "
              f"-t TEST` (one test per run), divided by the requests; median of {runs} alternating runs. "
              "Lower is better; it counts the kernel's socket work done on the server's behalf.")


def throughput_types(rep, servers, quick, runs):
    n = 50_000 if quick else 1_000_000
    tests = "LPUSH,RPUSH,LPOP,RPOP,SADD,HSET,SPOP,ZADD,ZPOPMIN,LRANGE_100,LRANGE_300,LRANGE_500,LRANGE_600"
    names = ["LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN",
             "LPUSH (needed to benchmark LRANGE)", "LRANGE_100 (first 100 elements)",
             "LRANGE_300 (first 300 elements)", "LRANGE_500 (first 500 elements)",
             "LRANGE_600 (first 600 elements)"]
    rows = []
    for pipeline in (1, 16):
        count = n // (10 if pipeline == 1 else 5)
        res = alternate(servers, runs, lambda s: (cmd(s.port, "FLUSHALL"),
                                                  redis_benchmark(s.port, tests, count, 50, pipeline, 16))[1])
        for t in names:
            f = med([r.get(t, float("nan")) for r in res["forkv"]])
            r_ = med([r.get(t, float("nan")) for r in res["redis"]])
            if f == f or r_ == r_:
                rows.append([t, f"P{pipeline}", fmt(f), fmt(r_), ratio(f, r_)])
    rep.table("Data-type throughput (requests/s, redis-benchmark -c 50)",
              ["test", "pipeline", "forkv", "redis", "forkv/redis"], rows,
              f"`redis-benchmark -c 50 -P 1|16 -t {tests}`, median of {runs} alternating runs.")


def pipe_load(port, lines):
    """Loads commands (lists of str) through `redis-cli --pipe`."""
    buf = bytearray()
    for parts in lines:
        buf += f"*{len(parts)}\r\n".encode()
        for p in parts:
            b = p.encode()
            buf += f"${len(b)}\r\n".encode() + b + b"\r\n"
    out = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=bytes(buf),
                         capture_output=True, timeout=900)
    assert b"errors: 0" in out.stdout, out.stdout[-300:]


def collection_memory(rep, servers, quick, runs):
    """Memory per element of small and large lists, hashes, sets, sorted sets."""
    small_keys = 2_000 if quick else 50_000
    large = 20_000 if quick else 1_000_000
    shapes = [
        ("list", lambda k, i: ["RPUSH", k, f"element:{i:08}"]),
        ("hash", lambda k, i: ["HSET", k, f"field:{i:08}", f"value:{i:08}"]),
        ("set", lambda k, i: ["SADD", k, f"member:{i:08}"]),
        ("intset", lambda k, i: ["SADD", k, str(i)]),
        ("zset", lambda k, i: ["ZADD", k, str(i), f"member:{i:08}"]),
    ]
    rows = []
    for name, make in shapes:
        for label, keys, per in (("small (10 per key)", small_keys, 10), ("large (1 key)", 1, large)):
            def run(s):
                cmd(s.port, "FLUSHALL")
                time.sleep(0.2)
                before = int(info(s.port, "memory")["used_memory"])
                lines = (make(f"k:{k}", i) for k in range(keys) for i in range(per))
                pipe_load(s.port, lines)
                enc = cmd(s.port, "OBJECT", "ENCODING", "k:0")
                used = int(info(s.port, "memory")["used_memory"])
                return ((used - before) / (keys * per), enc)
            res = alternate(servers, 1, run)
            f, fe = res["forkv"][0]
            r_, re_ = res["redis"][0]
            rows.append([name, label, f"{fmt(f, 1)} ({fe})", f"{fmt(r_, 1)} ({re_})", ratio(f, r_)])
    rep.table("Memory per collection element (bytes of used_memory, encoding in parentheses)",
              ["type", "shape", "forkv", "redis", "forkv/redis"], rows,
              "Elements loaded with `redis-cli --pipe`; used_memory growth divided by the element count.")


def latency(rep, servers, quick, runs):
    keys = 200_000 if quick else 5_000_000
    secs = 2 if quick else 10
    rate = 20_000
    rows = []
    for s in servers:
        cmd(s.port, "FLUSHALL")
        cmd(s.port, "DEBUG", "POPULATE", keys, "key", 16)
    for with_save in (False, True):
        def run(s):
            saver = None
            if with_save:
                # Back-to-back BGSAVEs for the whole measurement window.
                saver = subprocess.Popen([sys.executable, "-c", f"""
import subprocess, time
end = time.time() + {secs}
while time.time() < end:
    subprocess.run(['redis-cli', '-p', '{s.port}', 'BGSAVE'], capture_output=True)
    while b'rdb_bgsave_in_progress:1' in subprocess.run(['redis-cli', '-p', '{s.port}', 'INFO', 'persistence'], capture_output=True).stdout:
        time.sleep(0.01)
"""])
            out = loadgen("latency", "--port", s.port, "--rate", rate, "--seconds", secs, "--conns", 10, "--keys", keys)
            if saver:
                saver.wait()
            wait_bgsave(s.port)
            return out
        res = alternate(servers, runs, run)
        label = "during BGSAVE" if with_save else "idle"
        for i, name in enumerate(["p50", "p99", "p99.9", "max"]):
            f = med([r[i] for r in res["forkv"]])
            r_ = med([r[i] for r in res["redis"]])
            rows.append([label, name, fmt(f), fmt(r_), ratio(f, r_)])
    rep.table("Latency (µs, fixed rate)", ["load", "percentile", "forkv", "redis", "forkv/redis"], rows,
              f"`loadgen latency --rate {rate} --conns 10 --seconds {secs}` (50% GET / 50% SET over {keys:,} keys, "
              f"open loop, latency from the scheduled send time), median of {runs} runs.")


def keys_stall(rep, servers, quick, runs):
    """How long one KEYS call holds the event loop (everyone else waits)."""
    n = 300_000 if quick else 2_000_000
    for s in servers:
        cmd(s.port, "FLUSHALL")
        cmd(s.port, "DEBUG", "POPULATE", n, "key", 16)
        cmd(s.port, "CONFIG", "SET", "slowlog-log-slower-than", 0)
    rows = []
    for pattern in ("*", "nomatch:*"):
        def run(s):
            cmd(s.port, "SLOWLOG", "RESET")
            subprocess.run(["redis-cli", "-p", str(s.port), "KEYS", pattern],
                           stdout=subprocess.DEVNULL, check=True, timeout=600)
            # The newest entry is the KEYS call: its duration (µs) is the
            # time the loop spent in it.
            out = cmd(s.port, "SLOWLOG", "GET", 1).splitlines()
            return int(out[2]) / 1000
        res = alternate(servers, runs, run)
        f = med(res["forkv"])
        r_ = med(res["redis"])
        rows.append([f"KEYS {pattern}", f"{n:,}", fmt(f), fmt(r_), ratio(f, r_)])
    for s in servers:
        cmd(s.port, "CONFIG", "SET", "slowlog-log-slower-than", 10000)
        cmd(s.port, "FLUSHALL")
    rep.table("KEYS: time the event loop is held (ms)", ["command", "keys", "forkv", "redis", "forkv/redis"], rows,
              f"`DEBUG POPULATE {n} key 16`, then `KEYS <pattern>`; the command's execution time from "
              f"`SLOWLOG GET 1`, median of {runs} alternating runs. Every other client waits this long.")


def memory(rep, servers, quick, runs):
    rows = []
    for n in ([500_000] if quick else [1_000_000, 5_000_000]):
        def run(s):
            s.fresh()
            base_used = int(info(s.port, "memory")["used_memory"])
            base_rss = rss(s.pid())
            cmd(s.port, "DEBUG", "POPULATE", n, "key", 16)
            time.sleep(0.5)
            used = int(info(s.port, "memory")["used_memory"])
            return ((used - base_used) / n, (rss(s.pid()) - base_rss) / n)
        res = alternate(servers, 1 if quick else min(runs, 2), run)
        for i, name in enumerate(["used_memory / key", "RSS / key"]):
            f = med([r[i] for r in res["forkv"]])
            r_ = med([r[i] for r in res["redis"]])
            rows.append([f"{n:,}", name, fmt(f, 1), fmt(r_, 1), ratio(f, r_)])
    rep.table("Memory per key (bytes, 16-byte values)", ["keys", "measure", "forkv", "redis", "forkv/redis"], rows,
              "`DEBUG POPULATE n key 16` on a fresh server; growth of `used_memory` and of RSS divided by n.")


def snapshots(rep, servers, quick, runs):
    rows = []
    sizes = [300_000] if quick else [1_000_000, 5_000_000, 10_000_000]
    for n in sizes:
        def run(s):
            s.fresh()
            cmd(s.port, "DEBUG", "POPULATE", n, "key", 16)
            time.sleep(0.3)
            rss_gb = rss(s.pid()) / 2**30
            # A fixed-rate writer over the same keys during the save.
            writer = subprocess.Popen([LOADGEN, "latency", "--port", str(s.port), "--rate", "50000",
                                       "--seconds", "600", "--conns", "4", "--keys", str(n), "--writes-only"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            t0 = time.monotonic()
            cmd(s.port, "BGSAVE")
            wait_bgsave(s.port)
            wall = time.monotonic() - t0
            writer.kill()
            writer.wait()
            p = info(s.port, "persistence")
            st = info(s.port, "stats")
            fork_us = float(st["latest_fork_usec"])
            size = os.path.getsize(s.snapshot())
            s.stop()
            load = s.start(wait_loaded=True)
            keys = int(cmd(s.port, "DBSIZE"))
            assert keys == n, f"{s.kind} loaded {keys} of {n}"
            return (fork_us, fork_us / rss_gb, wall, size, float(p["rdb_last_cow_size"]), load)
        res = alternate(servers, 1 if quick else min(runs, 3), run)
        names = ["fork (µs)", "fork µs per GB RSS", "BGSAVE wall (s)", "file size (bytes)",
                 "COW bytes (50k writes/s)", "load: start to PING with loading:0 (s)"]
        for i, name in enumerate(names):
            f = med([r[i] for r in res["forkv"]])
            r_ = med([r[i] for r in res["redis"]])
            d = 3 if "(s)" in name else 0
            rows.append([f"{n:,}", name, fmt(f, d), fmt(r_, d), ratio(f, r_)])
    rep.table("Fork, snapshot and load", ["keys", "measure", "forkv", "redis", "forkv/redis"], rows,
              "16-byte values; a fixed-rate writer (`loadgen latency --writes-only --rate 50000`) updates random "
              "keys during the BGSAVE; load time is process start until PING answers and INFO says loading:0.")


def growth(rep, servers, quick, runs):
    n = 300_000 if quick else 10_000_000
    def run(s):
        s.fresh()
        return loadgen("fill", "--port", s.port, "--keys", n, "--probe-ms", 1)
    res = alternate(servers, 1 if quick else min(runs, 3), run)
    f = med([r[0] for r in res["forkv"]])
    r_ = med([r[0] for r in res["redis"]])
    ff = med([r[1] for r in res["forkv"]])
    rf = med([r[1] for r in res["redis"]])
    fp = med([r[2] for r in res["forkv"]])
    rp = med([r[2] for r in res["redis"]])
    rep.table("Growth pauses", ["keys", "measure", "forkv", "redis", "forkv/redis"], [
        [f"0 → {n:,}", "longest PING round trip while filling (µs)", fmt(f), fmt(r_), ratio(f, r_)],
        [f"0 → {n:,}", "p99.9 PING round trip while filling (µs)", fmt(fp), fmt(rp), ratio(fp, rp)],
        [f"0 → {n:,}", "fill time (s, pipelined SETs)", fmt(ff, 2), fmt(rf, 2), ratio(ff, rf)],
    ], "`loadgen fill`: one connection inserts key:0..n with 256-deep pipelined SETs while another "
       "sends PING every 1 ms (from a SCHED_FIFO thread when permitted) and records the round trips.")


GET_SCRIPT = "return redis.call('GET', KEYS[1])"
FIVE_SCRIPT = ("redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], 100) "
               "redis.call('HSET', KEYS[2], 'f', 'v') redis.call('ZADD', KEYS[3], 1, 'm') "
               "return redis.call('GET', KEYS[1])")


def benchmark_command(port, n, clients, pipeline, argv):
    """redis-benchmark of one literal command; requests/s."""
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", str(clients), "-n", str(n),
                          "-P", str(pipeline), "--csv", *argv],
                         capture_output=True, text=True, timeout=900).stdout
    for line in out.splitlines():
        parts = [p.strip('"') for p in line.split('","')]
        if len(parts) >= 2 and parts[0] != "test":
            try:
                return float(parts[1])
            except ValueError:
                pass
    return float("nan")


def scripts(rep, servers, quick, runs):
    """EVALSHA throughput and server CPU per call, and memory per cached script."""
    n = 100_000 if quick else 500_000
    tick = os.sysconf("SC_CLK_TCK")
    shas = {}
    for s in servers:
        cmd(s.port, "FLUSHALL")
        cmd(s.port, "SET", "foo", "bar")
        shas[s.kind] = (cmd(s.port, "SCRIPT", "LOAD", GET_SCRIPT), cmd(s.port, "SCRIPT", "LOAD", FIVE_SCRIPT))
    rows = []
    cpu_rows = []
    for label, which, keys in [("GET script", 0, ["1", "foo"]), ("5-command script", 1, ["3", "k", "h", "z"])]:
        for pipeline in (1, 16):
            count = n // 5 if pipeline == 1 else n

            def run(s):
                before = cpu_ticks(s.pid())
                rps = benchmark_command(s.port, count, 50, pipeline, ["EVALSHA", shas[s.kind][which], *keys])
                used = (cpu_ticks(s.pid()) - before) / tick
                return rps, used / count * 1e6
            res = alternate(servers, runs, run)
            f = med([r[0] for r in res["forkv"]])
            r_ = med([r[0] for r in res["redis"]])
            rows.append([label, f"P{pipeline}", fmt(f), fmt(r_), ratio(f, r_)])
            if pipeline == 16:
                fc = med([r[1] for r in res["forkv"]])
                rc = med([r[1] for r in res["redis"]])
                cpu_rows.append([label, fmt(fc, 2), fmt(rc, 2), ratio(fc, rc)])
    rep.table("EVALSHA throughput (requests/s, redis-benchmark -c 50)",
              ["script", "pipeline", "forkv", "redis", "forkv/redis"], rows,
              f"`redis-benchmark -c 50 -n {n // 5} (P1) / {n} (P16) -P 1|16 EVALSHA sha numkeys keys...`; "
              f"GET script: `{GET_SCRIPT}`; 5-command script: INCR, EXPIRE, HSET, ZADD, GET. "
              f"Median of {runs} alternating runs.")
    rep.table("Server CPU per EVALSHA at P16 (µs)", ["script", "forkv", "redis", "forkv/redis"], cpu_rows,
              "utime + stime of the server process over the P16 runs above, divided by the calls. "
              "Lower is better.")
    count = 2_000 if quick else 10_000
    mem_rows = []
    for s in servers:
        cmd(s.port, "SCRIPT", "FLUSH")
        before = int(info(s.port, "memory")["used_memory"])
        lua_before = int(info(s.port, "memory")["used_memory_lua"])
        pipe_load(s.port, [["SCRIPT", "LOAD", f"return {{KEYS[1], ARGV[1], {i}}}"] for i in range(count)])
        m = info(s.port, "memory")
        mem_rows.append([s.kind, fmt((int(m["used_memory"]) - before) / count),
                         fmt((int(m["used_memory_lua"]) - lua_before) / count)])
    rep.table("Memory per cached script (bytes)", ["server", "used_memory", "of which used_memory_lua"], mem_rows,
              f"{count} scripts `return {{KEYS[1], ARGV[1], N}}` loaded with SCRIPT LOAD; growth of "
              "`used_memory` and `used_memory_lua` divided by the count.")


def machine():
    def read(p):
        try:
            return open(p).read().strip()
        except OSError:
            return "?"
    mem = int(read("/proc/meminfo").split()[1]) // 1024 // 1024 if read("/proc/meminfo") != "?" else "?"
    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    forkv_v = subprocess.run([FORKV, "--version"], capture_output=True, text=True).stdout.strip()
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores, {mem} GiB RAM, kernel {platform.release()}",
        f"- transparent huge pages: {read('/sys/kernel/mm/transparent_hugepage/enabled')}",
        f"- {forkv_v}",
        f"- {redis_v}",
    ]


def main():
    global LOADGEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, about 2 minutes on an idle 2-core machine")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="comma list: throughput,cpu,types,latency,keys,memory,collections,snapshots,growth,scripts")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--bin", "forkv-server"], cwd=ROOT, check=True)
    out = subprocess.run(["cargo", "bench", "--bench", "loadgen", "--no-run", "--message-format=json"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    import json
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "loadgen" \
                and msg.get("executable"):
            LOADGEN = msg["executable"]
    assert LOADGEN, "loadgen not built"
    runs = 3 if a.quick else max(3, a.runs)
    servers = [Server("forkv"), Server("redis")]
    rep = Report()
    started = time.monotonic()
    try:
        for s in servers:
            s.start()
        only = set(filter(None, a.only.split(",")))
        for name, fn in [("throughput", throughput), ("cpu", server_cpu), ("types", throughput_types),
                         ("latency", latency), ("keys", keys_stall),
                         ("memory", memory), ("collections", collection_memory),
                         ("snapshots", snapshots), ("growth", growth), ("scripts", scripts)]:
            if not only or name in only:
                print(f"== {name}", flush=True)
                fn(rep, servers, a.quick, runs)
    finally:
        for s in servers:
            s.cleanup()
    took = time.monotonic() - started
    text = ["# Benchmark results: forkv vs Redis", "",
            f"Produced by `python3 bench/run.py{' --quick' if a.quick else ''}` in {took:.0f} s. "
            "Ratios are forkv/Redis from the same run (higher is better for throughput, "
            "lower for latency, memory and times).", "", *machine(), "", *rep.sections, ""]
    with open(a.out, "w") as f:
        f.write("\n".join(text))
    print(f"wrote {a.out} ({took:.0f} s)")


if __name__ == "__main__":
    main()
