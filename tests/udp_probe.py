#!/usr/bin/env python3
"""Sends one raw datagram to the proxy and reports what, if anything, came back.

usage: udp_probe.py HOST PORT (--hex HEX | --text TEXT | --file FILE) (--expect WHAT | --expect-silence)
       udp_probe.py HOST PORT --corpus EXPECTED
WHAT is a status code, "silence", or alternatives joined by | ("400|silence").
--corpus sends every message EXPECTED lists (NAME WHAT, the message in
NAME.sip beside it), each from its own socket, all at once, and checks each
first answer. Exit 0 when the expectations hold, 1 otherwise. Loopback only, except inside
a network namespace a test created (then --bind names the local address)."""
import argparse
import ipaddress
import os
import selectors
import socket
import subprocess
import sys


def in_test_netns():
    """True inside a named network namespace (one a test made with ip netns)."""
    try:
        out = subprocess.run(["ip", "netns", "identify", str(os.getpid())],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return out.strip() != ""


def status_of(reply):
    """A reply's status code, "silence" for none, or "non-SIP reply"."""
    if reply is None:
        return "silence"
    parts = reply.split(b"\r\n", 1)[0].split(b" ")
    return parts[1].decode() if len(parts) > 1 and parts[0] == b"SIP/2.0" else "non-SIP reply"


def corpus(host, port, bind, expected, wait):
    """Every message of @expected at once, each from its own socket; returns
    how many first answers were not the expected ones."""
    folder = os.path.dirname(expected)
    sel = selectors.DefaultSelector()
    probes = []
    with open(expected) as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((bind, 0))
            with open(os.path.join(folder, fields[0] + ".sip"), "rb") as m:
                payload = m.read().replace(b"@PORT@", str(sock.getsockname()[1]).encode())
            probes.append({"name": fields[0], "allowed": fields[1].split("|"), "reply": None})
            sel.register(sock, selectors.EVENT_READ, probes[-1])
            sock.sendto(payload, (host, port))
    # done once every probe has its answer, or nothing came for @wait
    waiting = len(probes)
    while waiting:
        events = sel.select(timeout=wait)
        if not events:
            break
        for key, _ in events:
            reply = key.fileobj.recv(65535)
            if key.data["reply"] is None:
                key.data["reply"] = reply
                waiting -= 1
    bad = 0
    for p in probes:
        got = status_of(p["reply"])
        if got not in p["allowed"]:
            print(f"{p['name']}: got {got}, expected {'|'.join(p['allowed'])}")
            bad += 1
    print(f"corpus: {len(probes) - bad} of {len(probes)} as expected")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--hex")
    src.add_argument("--text")
    src.add_argument("--file")
    src.add_argument("--corpus", help="an EXPECTED file: every message it lists, at once")
    want = ap.add_mutually_exclusive_group(required=False)
    want.add_argument("--expect", help="status code(s) of the expected reply, | separated; 'silence' allowed")
    want.add_argument("--expect-silence", action="store_true")
    ap.add_argument("--wait", type=float, default=1.0)
    ap.add_argument("--print", action="store_true", help="print the whole reply")
    ap.add_argument("--bind", default="127.0.0.1", help="local address (in a test namespace)")
    ap.add_argument("--final", action="store_true", help="wait past 1xx for the final answer")
    args = ap.parse_args()
    private = ipaddress.ip_address(args.host).is_private and in_test_netns()
    if not ipaddress.ip_address(args.host).is_loopback and not private:
        sys.exit("udp_probe: loopback addresses only (or private ones in a test namespace)")
    if args.corpus is not None:
        return 1 if corpus(args.host, args.port, args.bind, args.corpus, args.wait) else 0
    if args.expect is None and not args.expect_silence:
        ap.error("--expect or --expect-silence is required")
    if args.hex is not None:
        payload = bytes.fromhex(args.hex)
    elif args.text is not None:
        payload = args.text.encode().decode("unicode_escape").encode("latin-1")
    else:
        with open(args.file, "rb") as f:
            payload = f.read()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, 0))
    port = sock.getsockname()[1]
    payload = payload.replace(b"@PORT@", str(port).encode())
    sock.settimeout(args.wait)
    sock.sendto(payload, (args.host, args.port))
    reply = None
    try:
        while True:
            reply, _ = sock.recvfrom(65535)
            # --final: a provisional response (1xx) is not the answer yet
            if not (args.final and reply.startswith(b"SIP/2.0 1")):
                break
    except socket.timeout:
        reply = None if not args.final else reply
    allowed = ["silence"] if args.expect_silence else args.expect.split("|")
    got = status_of(reply)
    print(f"got {got}, expected {'|'.join(allowed)}")
    if args.print and reply is not None:
        print(reply.decode("utf-8", "replace"))
    return 0 if got in allowed else 1


if __name__ == "__main__":
    sys.exit(main())
