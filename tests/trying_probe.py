#!/usr/bin/env python3
"""One 100 (Trying) per INVITE, however many times it is sent.

Sends an INVITE for an unregistered user, counts what comes back (a 100,
then 404, resent by Timer G while no ACK comes), sends it again as a
retransmission (the same branch) and counts again: the retransmission
gets the 404 again and no second 100 (RFC 3261 §17.2.1: the transaction
answers with its last response). ACKs the 404.
Prints "trying=N final=M retransmitted_trying=N2 retransmitted_final=M2".

Over TCP (--tcp) there are no retransmissions (§17.1.1.2): one INVITE,
one 100 before the 404 on the same connection.

usage: trying_probe.py HOST PORT [--tcp]
Loopback only. Exit 0 when there was one 100, before the 404, and none
for the retransmission."""
import ipaddress
import socket
import sys
import time


def collect(sock, seconds):
    got = []
    end = time.time() + seconds
    while time.time() < end:
        sock.settimeout(max(0.01, end - time.time()))
        try:
            got.append(sock.recv(65535).split(b"\r\n", 1)[0].decode())
        except socket.timeout:
            break
    return got


def start_lines(data):
    """The start line of each message in @data (responses without bodies)."""
    return [m.split(b"\r\n", 1)[0].decode() for m in data.split(b"\r\n\r\n") if m.strip()]


def over_tcp(host, port):
    s = socket.create_connection((host, port), timeout=2)
    me = s.getsockname()[1]
    n = time.time_ns()
    via = f"SIP/2.0/TCP {host}:{me};branch=z9hG4bK-tt{n};rport"
    common = (f"From: <sip:probe@{host}>;tag=tt1\r\nTo: <sip:nobody@{host}>\r\n"
              f"Call-ID: tt-{n}@{host}\r\n")
    s.sendall((f"INVITE sip:nobody@{host}:{port};transport=tcp SIP/2.0\r\nVia: {via}\r\n"
               f"Max-Forwards: 70\r\n{common}CSeq: 1 INVITE\r\n"
               f"Contact: <sip:probe@{host}:{me};transport=tcp>\r\nContent-Length: 0\r\n\r\n").encode())
    data, end = b"", time.time() + 1.5
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            chunk = s.recv(65535)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    s.sendall((f"ACK sip:nobody@{host}:{port};transport=tcp SIP/2.0\r\nVia: {via}\r\n"
               f"Max-Forwards: 70\r\n{common}CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode())
    s.close()
    got = start_lines(data)
    count = lambda code: sum(1 for l in got if l.startswith(f"SIP/2.0 {code} "))
    print(f"tcp trying={count(100)} final={count(404)}")
    ok = count(100) == 1 and count(404) == 1 and got[0].startswith("SIP/2.0 100 ")
    sys.exit(0 if ok else f"trying_probe: answered {got}")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("trying_probe: loopback addresses only")
    if "--tcp" in sys.argv[3:]:
        over_tcp(host, port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    me = s.getsockname()[1]
    n = time.time_ns()
    via = f"SIP/2.0/UDP {host}:{me};branch=z9hG4bK-tp{n};rport"
    common = (f"From: <sip:probe@{host}>;tag=tp1\r\nTo: <sip:nobody@{host}>\r\n"
              f"Call-ID: tp-{n}@{host}\r\n")
    invite = (f"INVITE sip:nobody@{host}:{port} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
              f"{common}CSeq: 1 INVITE\r\nContact: <sip:probe@{host}:{me}>\r\n"
              f"Content-Length: 0\r\n\r\n").encode()
    s.sendto(invite, (host, port))
    first = collect(s, 1.5)
    s.sendto(invite, (host, port))
    again = collect(s, 1.5)
    ack = (f"ACK sip:nobody@{host}:{port} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
           f"{common}CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode()
    s.sendto(ack, (host, port))
    count = lambda lines, code: sum(1 for l in lines if l.startswith(f"SIP/2.0 {code} "))
    print(f"trying={count(first, 100)} final={count(first, 404)} "
          f"retransmitted_trying={count(again, 100)} retransmitted_final={count(again, 404)}")
    ok = (count(first, 100) == 1 and count(first, 404) >= 1 and first[0].startswith("SIP/2.0 100 ")
          and count(again, 100) == 0 and count(again, 404) >= 1)
    sys.exit(0 if ok else f"trying_probe: answered {first} then {again}")


if __name__ == "__main__":
    main()
