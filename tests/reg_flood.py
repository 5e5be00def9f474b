#!/usr/bin/env python3
"""A stranger's REGISTER flood over TCP: COUNT REGISTERs for random users
(reg-<random>), each with a User-Agent of HEADER_BYTES bytes and up to 16
Contacts, sent on one connection as fast as the proxy takes them; prints
how many answers of each status code came back.

usage: reg_flood.py HOST PORT --bind ADDR --count N [--header-bytes B]
Only inside a network namespace a test created (or to loopback). Bounded:
stops after COUNT requests and 10 s without an answer."""
import argparse
import collections
import ipaddress
import os
import random
import selectors
import socket
import sys


def request(host, port, me, i, header_bytes):
    user = f"flood{random.getrandbits(48):012x}"
    contacts = "".join(f"Contact: <sip:{user}@{me}:{5000 + c}>;expires=600\r\n" for c in range(16))
    return (f"REGISTER sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP {me}:5060;branch=z9hG4bK-f{i}-{user}\r\n"
            f"From: <sip:{user}@{host}>;tag=f{i}\r\nTo: <sip:{user}@{host}>\r\n"
            f"Call-ID: flood-{i}-{user}\r\nCSeq: 1 REGISTER\r\n{contacts}"
            f"User-Agent: {'U' * header_bytes}\r\nContent-Length: 0\r\n\r\n").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--header-bytes", type=int, default=60 * 1024)
    args = ap.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback and not os.path.exists("/run/netns"):
        sys.exit("reg_flood: loopback or a test's network namespace only")
    sock = socket.create_connection((args.host, args.port), timeout=10,
                                    source_address=(args.bind, 0))
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    codes = collections.Counter()
    pending, sent, answered, buf = b"", 0, 0, b""
    while answered < args.count:
        if not pending and sent < args.count:
            pending = request(args.host, args.port, args.bind, sent, args.header_bytes)
            sent += 1
        events = sel.select(timeout=10)
        if not events:
            break
        for _, mask in events:
            if mask & selectors.EVENT_WRITE and pending:
                try:
                    pending = pending[sock.send(pending):]
                except BlockingIOError:
                    pass
            if mask & selectors.EVENT_READ:
                data = sock.recv(1 << 16)
                if not data:
                    answered = args.count  # closed by the proxy
                    codes["closed"] += 1
                    break
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    first = head.split(b"\r\n", 1)[0].split(b" ")
                    codes[first[1].decode() if len(first) > 1 else "?"] += 1
                    answered += 1
        if sent >= args.count and not pending:
            sel.modify(sock, selectors.EVENT_READ)
    print(f"sent {sent}, answers: " + ", ".join(f"{k}={v}" for k, v in sorted(codes.items())))


if __name__ == "__main__":
    main()
