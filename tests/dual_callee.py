#!/usr/bin/env python3
"""A callee listening on UDP and TCP on one port, as most phones do: it
registers over UDP, then rejects one INVITE with 486 over whichever
transport it came, and prints that transport and the INVITE's size, to show
RFC 3261 §18.1.1 (a request near the MTU goes over TCP). With --no-tcp it
listens on UDP only: the proxy must fall back to UDP.

usage: dual_callee.py PROXY_HOST PROXY_PORT PORT USER [--no-tcp] [--timeout S]
Loopback only."""
import argparse
import ipaddress
import random
import select
import socket
import sys
import time


def frame(buf):
    """(message, rest) when @buf holds a whole message, else (None, buf)."""
    if b"\r\n\r\n" not in buf:
        return None, buf
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n"):
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"content-length", b"l"):
            length = int(line.split(b":", 1)[1])
    if len(rest) < length:
        return None, buf
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def headers_of(msg):
    lines = msg.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    return lines[0], [tuple(p.strip() for p in l.split(":", 1)) for l in lines[1:] if ":" in l]


def reply(msg, code, reason, tag):
    first, hs = headers_of(msg)
    out = [f"SIP/2.0 {code} {reason}"]
    for n, v in hs:
        ln = n.lower()
        if ln in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            out.append(f"{n}: {v}")
        elif ln in ("to", "t"):
            out.append(f"{n}: {v}" + ("" if "tag=" in v else f";tag={tag}"))
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proxy_host")
    ap.add_argument("proxy_port", type=int)
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("--no-tcp", action="store_true")
    ap.add_argument("--timeout", type=float, default=15)
    a = ap.parse_args()
    if not ipaddress.ip_address(a.proxy_host).is_loopback:
        sys.exit("dual_callee: loopback addresses only")
    host = a.proxy_host
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, a.port))
    tcp = None
    if not a.no_tcp:
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((host, a.port))
        tcp.listen(8)
    tag = f"dual{random.randrange(1 << 30)}"
    reg = (f"REGISTER sip:{host}:{a.proxy_port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP {host}:{a.port};branch=z9hG4bK-dual{tag};rport\r\n"
           f"From: <sip:{a.user}@{host}>;tag={tag}\r\nTo: <sip:{a.user}@{host}>\r\n"
           f"Call-ID: reg-{tag}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{a.user}@{host}:{a.port}>\r\n"
           f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    udp.sendto(reg, (host, a.proxy_port))
    udp.settimeout(5)
    if not udp.recv(65536).startswith(b"SIP/2.0 200"):
        sys.exit("dual_callee: REGISTER not accepted")
    print("registered", flush=True)
    end = time.time() + a.timeout
    conns, bufs = [], {}
    while time.time() < end:
        socks = [udp] + ([tcp] if tcp else []) + conns
        ready, _, _ = select.select(socks, [], [], 0.2)
        for s in ready:
            if s is tcp:
                c, _ = tcp.accept()
                conns.append(c)
                bufs[c] = b""
                continue
            if s is udp:
                data, src = udp.recvfrom(65536)
                msg, how = data, ("UDP", src)
            else:
                data = s.recv(65536)
                if not data:
                    conns.remove(s)
                    continue
                msg, bufs[s] = frame(bufs[s] + data)
                if msg is None:
                    continue
                how = ("TCP", s)
            first, _ = headers_of(msg)
            if not first.startswith("INVITE "):
                continue
            via = [v for n, v in headers_of(msg)[1] if n.lower() in ("via", "v")][0]
            print(f"INVITE over {how[0]} ({len(msg)} bytes), Via {via.split()[0]}", flush=True)
            out = reply(msg, 486, "Busy Here", tag)
            if how[0] == "UDP":
                udp.sendto(out, how[1])
            else:
                how[1].sendall(out)
            time.sleep(1)  # let the ACK come and go
            return
    sys.exit("dual_callee: no INVITE came")


if __name__ == "__main__":
    main()
