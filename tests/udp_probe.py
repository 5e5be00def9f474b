#!/usr/bin/env python3
"""Sends one raw datagram to the proxy and reports what, if anything, came back.

usage: udp_probe.py HOST PORT (--hex HEX | --text TEXT | --file FILE) [--expect CODE | --expect-silence]
Exit 0 when the expectation holds, 1 otherwise. Loopback only."""
import argparse
import ipaddress
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--hex")
    src.add_argument("--text")
    src.add_argument("--file")
    want = ap.add_mutually_exclusive_group(required=True)
    want.add_argument("--expect", type=int, help="status code of the expected reply")
    want.add_argument("--expect-silence", action="store_true")
    ap.add_argument("--wait", type=float, default=1.0)
    args = ap.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        sys.exit("udp_probe: loopback addresses only")
    if args.hex is not None:
        payload = bytes.fromhex(args.hex)
    elif args.text is not None:
        payload = args.text.encode().decode("unicode_escape").encode("latin-1")
    else:
        with open(args.file, "rb") as f:
            payload = f.read()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    payload = payload.replace(b"@PORT@", str(port).encode())
    sock.settimeout(args.wait)
    sock.sendto(payload, (args.host, args.port))
    try:
        reply, _ = sock.recvfrom(65535)
    except socket.timeout:
        reply = None
    if args.expect_silence:
        if reply is None:
            return 0
        print("unexpected reply:", reply[:200])
        return 1
    if reply is None:
        print("no reply, expected", args.expect)
        return 1
    status = reply.split(b"\r\n", 1)[0]
    print(status.decode("utf-8", "replace"))
    parts = status.split(b" ")
    return 0 if len(parts) > 1 and parts[0] == b"SIP/2.0" and parts[1] == str(args.expect).encode() else 1


if __name__ == "__main__":
    sys.exit(main())
