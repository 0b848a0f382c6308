#!/usr/bin/env python3
"""Captures the expected replies for the bundled-library tests from a real
Redis 7.0.15.

Usage: start `redis-server --port 7777 --save '' --daemonize yes` (Redis
7.0.15), then run `python3 capture.py NAME` in this directory for NAME in
bit, structlib, cmsgpack, cjson and their NAME_fuzz variants (written by
gen_fuzz.py). It reads NAME.cases (one Lua chunk per line, taken as is; lines
starting with `#` and blank lines are skipped), sends `EVAL <prelude.lua + chunk> 0`
for each and writes NAME.expected: for every case one line with the escaped
chunk and one with the escaped raw RESP reply. The server is flushed of
script state between cases with SCRIPT FLUSH; cjson's settings live in the
server for its whole life, so chunks that change them restore the defaults.
"""
import socket
import sys


def esc(b: bytes) -> str:
    out = []
    for c in b:
        if c == 0x5C:
            out.append("\\\\")
        elif c == 0x0A:
            out.append("\\n")
        elif c == 0x0D:
            out.append("\\r")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def read_reply(f) -> bytes:
    line = f.readline()
    t = line[:1]
    if t in (b"+", b"-", b":"):
        return line
    if t == b"$":
        n = int(line[1:-2])
        if n < 0:
            return line
        return line + f.read(n + 2)
    if t == b"*":
        n = int(line[1:-2])
        out = line
        for _ in range(max(n, 0)):
            out += read_reply(f)
        return out
    raise RuntimeError("unexpected reply %r" % line)


def command(sock, f, *args: bytes) -> bytes:
    req = b"*%d\r\n" % len(args)
    for a in args:
        req += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(req)
    return read_reply(f)


def main():
    name = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 7777
    prelude = open("prelude.lua", "rb").read()
    sock = socket.create_connection(("127.0.0.1", port))
    f = sock.makefile("rb")
    lines = []
    for raw in open(name + ".cases", encoding="utf-8"):
        raw = raw.rstrip("\n")
        if not raw.strip() or raw.startswith("#"):
            continue
        chunk = raw.encode()
        reply = command(sock, f, b"EVAL", prelude + chunk, b"0")
        command(sock, f, b"SCRIPT", b"FLUSH")
        lines.append(esc(chunk))
        lines.append(esc(reply))
    with open(name + ".expected", "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print("%s: %d cases" % (name, len(lines) // 2))


main()
