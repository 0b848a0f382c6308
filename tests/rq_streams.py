#!/usr/bin/env python3
"""Python RQ against forkv: RQ records each job's result in a stream
(`rq:results:<job id>`, XADD ... MAXLEN ~ and XREVRANGE), so without streams
its jobs stay "started" forever.

Starts the server on a free port, enqueues jobs (one of them fails), runs
`rq worker --burst` as a separate process, then checks every job's status
and its results as read back from the stream.

    python3 tests/rq_streams.py                          # target/debug/forkv-server
    python3 tests/rq_streams.py --server redis-server    # self-test against Redis

Needs the `rq` package (`pip install rq==3.0.0`). Exits 1 on a failure.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

JOBS = '''
def add(a, b):
    return a + b

def fail():
    raise ValueError("on purpose")
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    default = os.environ.get("FORKV_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "forkv-server")
    ap.add_argument("--server", default=default)
    args = ap.parse_args()

    from redis import Redis
    from rq import Queue

    work = tempfile.mkdtemp(prefix="forkv-rq-")
    port = free_port()
    server = subprocess.Popen(
        [args.server, "--port", str(port), "--save", "", "--dir", work],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = Redis(port=port)
        for _ in range(200):
            try:
                r.ping()
                break
            except Exception:
                time.sleep(0.05)
        with open(os.path.join(work, "rqjobs.py"), "w") as f:
            f.write(JOBS)
        sys.path.insert(0, work)
        q = Queue(connection=r)
        jobs = [q.enqueue("rqjobs.add", i, 10 * i) for i in range(20)]
        bad = q.enqueue("rqjobs.fail")
        rq = shutil.which("rq") or os.path.join(os.path.dirname(sys.executable), "rq")
        w = subprocess.run(
            [rq, "worker", "--burst", "--url", f"redis://127.0.0.1:{port}"],
            cwd=work, capture_output=True, text=True, timeout=120)
        failures = []
        if w.returncode != 0:
            failures.append(f"worker exited {w.returncode}: {w.stderr[-2000:]}")
        for i, job in enumerate(jobs):
            job.refresh()
            status = job.get_status()
            results = job.results()
            if status.value != "finished" or job.return_value() != 11 * i:
                failures.append(f"job {i}: {status} {job.return_value()!r}")
            if len(results) != 1 or results[0].return_value != 11 * i:
                failures.append(f"job {i}: results {results!r}")
            key = f"rq:results:{job.id}"
            if r.type(key) != b"stream" or r.xlen(key) != 1:
                failures.append(f"job {i}: {key} is {r.type(key)!r}")
        bad.refresh()
        if bad.get_status().value != "failed":
            failures.append(f"failing job: {bad.get_status()}")
        latest = bad.latest_result()
        if latest is None or "on purpose" not in (latest.exc_string or ""):
            failures.append(f"failing job: result {latest!r}")
        for f in failures:
            print("FAIL", f)
        print(f"{len(jobs) + 1} jobs, {len(failures)} failures")
        return 1 if failures else 0
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
