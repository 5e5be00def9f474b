#!/usr/bin/env python3
"""RFC 3261 §16.6: a proxy does not touch the body. Registers a callee, sends
it a MESSAGE through the proxy with a given body, answers 200 with another
body, and checks both arrive byte for byte (SHA-256 of what was sent and of
what arrived).

usage: body_relay.py HOST PORT KIND    KIND: multipart | binary
Loopback only. Exit 0 when both bodies arrived unchanged."""
import hashlib
import ipaddress
import socket
import sys
import time

MULTIPART = (b"--XyZ\r\nContent-Type: text/plain\r\n\r\nhello, world\r\n"
             b"--XyZ\r\nContent-Type: application/x-Thing\r\nContent-ID: <part2@x>\r\n\r\n"
             b"a\r\nb\r\n\r\n--XyZ--\r\n")


def body_of(kind, salt):
    if kind == "multipart":
        return ("multipart/mixed;boundary=XyZ", MULTIPART + salt.encode())
    data = bytes(range(256)) + b"\r\n\r\n\x00\x00SIP/2.0 200 OK\r\n" + salt.encode() + bytes(range(255, -1, -1))
    return ("application/octet-stream", data)


def split(msg):
    head, _, body = msg.partition(b"\r\n\r\n")
    return head.decode("utf-8", "replace"), body


def header(head, name):
    for line in head.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def main():
    host, port, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("body_relay: loopback addresses only")
    callee = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    callee.bind((host, 0))
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind((host, 0))
    for s in (callee, caller):
        s.settimeout(2)
    cport, aport = callee.getsockname()[1], caller.getsockname()[1]
    reg = (f"REGISTER sip:{host}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{cport};branch=z9hG4bK-br{time.time_ns()}\r\n"
           f"From: <sip:body@{host}>;tag=r1\r\nTo: <sip:body@{host}>\r\nCall-ID: br-reg-{time.time_ns()}\r\n"
           f"CSeq: 1 REGISTER\r\nContact: <sip:body@{host}:{cport}>\r\nContent-Length: 0\r\n\r\n")
    callee.sendto(reg.encode(), (host, port))
    assert callee.recv(65535).startswith(b"SIP/2.0 200"), "registration failed"
    ctype, body = body_of(kind, "request")
    req = (f"MESSAGE sip:body@{host}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{aport};branch=z9hG4bK-bm{time.time_ns()}\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:sender@{host}>;tag=m1\r\nTo: <sip:body@{host}>\r\n"
           f"Call-ID: br-msg-{time.time_ns()}\r\nCSeq: 1 MESSAGE\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    caller.sendto(req, (host, port))
    got = callee.recv(65535)
    head, arrived = split(got)
    print(f"request body: sent {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()[:16]}, "
          f"arrived {len(arrived)} bytes sha256 {hashlib.sha256(arrived).hexdigest()[:16]}")
    ok = arrived == body and header(head, "Content-Length") == str(len(body))
    # answer with a body of our own, back through the proxy
    rtype, rbody = body_of(kind, "response")
    vias = [l for l in head.split("\r\n") if l.lower().startswith("via:")]
    resp = ("SIP/2.0 200 OK\r\n" + "\r\n".join(vias) + "\r\n" +
            f"From: {header(head, 'From')}\r\nTo: {header(head, 'To')};tag=b1\r\n"
            f"Call-ID: {header(head, 'Call-ID')}\r\nCSeq: {header(head, 'CSeq')}\r\n"
            f"Content-Type: {rtype}\r\nContent-Length: {len(rbody)}\r\n\r\n").encode() + rbody
    callee.sendto(resp, (host, port))
    got = caller.recv(65535)
    head, arrived = split(got)
    print(f"response body: sent {len(rbody)} bytes sha256 {hashlib.sha256(rbody).hexdigest()[:16]}, "
          f"arrived {len(arrived)} bytes sha256 {hashlib.sha256(arrived).hexdigest()[:16]}")
    ok = ok and arrived == rbody
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
