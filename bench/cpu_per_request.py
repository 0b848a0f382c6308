#!/usr/bin/env python3
"""Server CPU time per request of two forkv binaries, side by side.

    python3 bench/cpu_per_request.py OLD_BINARY NEW_BINARY [--runs 5] [-n 500000]

For each run and each binary (alternating, so drifting machine load hits
both alike) it starts the server on a free port, then for SET and GET on a
fixed key and on random keys (`-r 1000000`) runs `redis-benchmark -P 16
-c 50` and divides the server process's utime + stime (from
/proc/PID/stat) by the request count. Prints every run and the medians.
The machine is usually shared: compare medians, and read the spread of
the runs as the noise floor.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

from run import free_port  # bench/run.py, next to this file

TCK = os.sysconf("SC_CLK_TCK")
CASES = [("set", False), ("get", False), ("set", True), ("get", True)]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK


def start(binary, port, data_dir):
    p = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--dir", data_dir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        if p.poll() is not None:
            raise SystemExit(f"{binary} exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise SystemExit(f"{binary} did not answer on port {port}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("-n", type=int, default=500_000)
    a = ap.parse_args()
    results = {}
    data_dir = tempfile.mkdtemp(prefix="forkv-cpu-")
    try:
        for run in range(a.runs):
            for name, binary in (("old", a.old), ("new", a.new)):
                port = free_port()
                p = start(binary, port, data_dir)
                try:
                    for test, random_keys in CASES:
                        extra = ["-r", "1000000"] if random_keys else []
                        before = cpu_seconds(p.pid)
                        subprocess.run(
                            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
                             "-t", test, "-P", "16", "-c", "50", "-n", str(a.n), "-q"]
                            + extra,
                            check=True,
                            capture_output=True,
                        )
                        us = (cpu_seconds(p.pid) - before) / a.n * 1e6
                        case = f"{test} {'random' if random_keys else 'fixed'}"
                        results.setdefault((case, name), []).append(us)
                        print(f"run {run} {name} {case:11} {us:.3f} us/request", flush=True)
                finally:
                    p.terminate()
                    p.wait()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print()
    for test, random_keys in CASES:
        case = f"{test} {'random' if random_keys else 'fixed'}"
        old, new = results[(case, "old")], results[(case, "new")]
        mo, mn = statistics.median(old), statistics.median(new)
        print(
            f"{case:11} old {mo:.3f} us  new {mn:.3f} us  ({(mn / mo - 1) * 100:+.1f}%)"
            f"  old range {min(old):.3f}-{max(old):.3f}  new range {min(new):.3f}-{max(new):.3f}"
        )


if __name__ == "__main__":
    main()
