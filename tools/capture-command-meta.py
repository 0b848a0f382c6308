#!/usr/bin/env python3
"""Captures Redis's own command metadata (COMMAND INFO and COMMAND DOCS, in
RESP3) from a running redis-server, for src/cmd/meta/.

forkv's command table is authoritative for name, arity, flags and key
positions (a unit test checks them against this capture); ACL categories,
tips, key specifications and the argument docs that redis-cli uses for hints
come from here, so they match Redis byte for byte.

usage: tools/capture-command-meta.py PORT   (run from the repository root)
"""
import socket
import sys


def read_reply(f):
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    if t in b"+-:,#(":
        return line
    if t == b"_":
        return line
    if t in b"$=!":
        n = int(rest)
        return line + f.read(n + 2)
    if t in b"*~>":
        out = line
        for _ in range(int(rest)):
            out += read_reply(f)
        return out
    if t in b"%|":
        out = line
        for _ in range(2 * int(rest)):
            out += read_reply(f)
        return out
    raise SystemExit("unexpected reply type %r" % line)


def command(f, s, *args):
    req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    s.sendall(req)
    return read_reply(f)


def main():
    port = int(sys.argv[1])
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    command(f, s, b"HELLO", b"3")
    info = command(f, s, b"COMMAND", b"INFO")
    docs = command(f, s, b"COMMAND", b"DOCS")
    version = command(f, s, b"INFO", b"server")
    with open("src/cmd/meta/info.resp3", "wb") as o:
        o.write(info)
    with open("src/cmd/meta/docs.resp3", "wb") as o:
        o.write(docs)
    v = [l for l in version.split(b"\r\n") if l.startswith(b"redis_version:")]
    print("captured from", v[0].decode() if v else "redis", len(info), len(docs), "bytes")


if __name__ == "__main__":
    main()
