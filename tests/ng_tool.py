#!/usr/bin/env python3
"""Asks an rtpengine what it holds, over its "ng" control protocol (a
cookie, a space and a bencoded dictionary over UDP), as a test's witness
independent of switchboard's own client.

usage: ng_tool.py HOST:PORT list            -> the Call-IDs it holds, one a line
       ng_tool.py HOST:PORT count           -> how many calls it holds
       ng_tool.py HOST:PORT query CALL-ID   -> the query reply as JSON
       ng_tool.py HOST:PORT ping            -> "pong"
Exits 2 when the engine does not answer within 2 s."""
import json
import os
import socket
import sys


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        keys = sorted(k.encode() if isinstance(k, str) else k for k in v)
        out = b"d"
        for k in keys:
            out += bencode(k) + bencode(v[k.decode()])
        return out + b"e"
    raise TypeError(type(v))


def bdecode(data, i=0):
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c == b"l":
        i += 1
        out = []
        while data[i:i + 1] != b"e":
            v, i = bdecode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        while data[i:i + 1] != b"e":
            k, i = bdecode(data, i)
            v, i = bdecode(data, i)
            out[k] = v
        return out, i + 1
    colon = data.index(b":", i)
    n = int(data[i:colon])
    s = data[colon + 1:colon + 1 + n]
    try:
        s = s.decode()
    except UnicodeDecodeError:
        s = s.hex()
    return s, colon + 1 + n


def ask(addr, command):
    host, port = addr.rsplit(":", 1)
    cookie = os.urandom(6).hex()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(cookie.encode() + b" " + bencode(command), (host, int(port)))
    try:
        data, _ = s.recvfrom(65536)
    except socket.timeout:
        print("no answer from %s" % addr, file=sys.stderr)
        sys.exit(2)
    head, body = data.split(b" ", 1)
    assert head.decode() == cookie, "a reply to another request"
    return bdecode(body)[0]


def main():
    addr, what = sys.argv[1], sys.argv[2]
    if what in ("list", "count"):
        reply = ask(addr, {"command": "list", "limit": 100000})
        calls = reply.get("calls", [])
        if what == "count":
            print(len(calls))
        else:
            print("\n".join(calls))
    elif what == "query":
        print(json.dumps(ask(addr, {"command": "query", "call-id": sys.argv[3]})))
    elif what == "ping":
        print(ask(addr, {"command": "ping"}).get("result"))
    else:
        sys.exit("unknown command %s" % what)


if __name__ == "__main__":
    main()
