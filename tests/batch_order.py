#!/usr/bin/env python3
"""Messages sent back to back, so that the proxy reads several at once, are
answered as in arrival order even though a new INVITE's 100 leaves first
(proxy.h: the two passes over a batch).

Registers a callee, then sends in one burst, for each of PAIRS calls, either
a CANCEL followed by its INVITE (the CANCEL finds nothing: 481, and the
call goes on, never cancelled) or an INVITE followed by a retransmission of
it (one transaction: forwarded once). Every INVITE must get a 100 and reach
the callee as one transaction (one branch, whatever the proxy retransmits
meanwhile); the callee answers 486 and the caller ACKs it.

usage: batch_order.py HOST PORT [PAIRS]
Loopback only. Exit 0 when every call behaved as in arrival order."""
import ipaddress
import socket
import sys
import time


def header_line(text, name):
    """The first line of header @name in @text, or ""."""
    for line in text.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line
    return ""


def header(text, name):
    """The value of header @name in @text, or None."""
    line = header_line(text, name)
    return line.split(":", 1)[1].strip() if line else None


def request(method, host, port, aport, n, stamp):
    return (f"{method} sip:batch@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{aport};branch=z9hG4bK-bo{stamp}-{n}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:caller@{host}>;tag=c{n}\r\nTo: <sip:batch@{host}>\r\n"
            f"Call-ID: bo-{stamp}-{n}\r\nCSeq: 1 {method}\r\n"
            f"Contact: <sip:caller@{host}:{aport}>\r\nContent-Length: 0\r\n\r\n").encode()


def drain(sock, quiet=0.5, limit=5.0):
    """Every datagram that arrives on @sock until it has been quiet for
    @quiet seconds (at most @limit seconds in all)."""
    got, end = [], time.monotonic() + limit
    while time.monotonic() < end:
        sock.settimeout(min(quiet, max(0.01, end - time.monotonic())))
        try:
            got.append(sock.recv(65535).decode("utf-8", "replace"))
        except socket.timeout:
            break
    return got


def answer_486(callee, caller, host, port, invites, finals):
    """The callee refuses each INVITE it got; the caller ACKs the 486s."""
    for text in invites:
        vias = [l for l in text.split("\r\n") if l.lower().startswith("via:")]
        resp = ("SIP/2.0 486 Busy Here\r\n" + "\r\n".join(vias) + "\r\n"
                f"From: {header(text, 'From')}\r\nTo: {header(text, 'To')};tag=busy\r\n"
                f"Call-ID: {header(text, 'Call-ID')}\r\nCSeq: {header(text, 'CSeq')}\r\n"
                "Content-Length: 0\r\n\r\n")
        callee.sendto(resp.encode(), (host, port))
    for text in finals + drain(caller):
        if not text.startswith("SIP/2.0 486"):
            continue
        ack = (f"ACK sip:batch@{host}:{port} SIP/2.0\r\n{header_line(text, 'Via')}\r\n"
               f"Max-Forwards: 70\r\nFrom: {header(text, 'From')}\r\nTo: {header(text, 'To')}\r\n"
               f"Call-ID: {header(text, 'Call-ID')}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
        caller.sendto(ack.encode(), (host, port))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("batch_order: loopback addresses only")
    callee = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (callee, caller):
        s.bind((host, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    cport, aport = callee.getsockname()[1], caller.getsockname()[1]
    stamp = time.time_ns()
    reg = (f"REGISTER sip:{host}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{cport};branch=z9hG4bK-bor{stamp}\r\n"
           f"From: <sip:batch@{host}>;tag=r1\r\nTo: <sip:batch@{host}>\r\nCall-ID: bo-reg-{stamp}\r\n"
           f"CSeq: 1 REGISTER\r\nContact: <sip:batch@{host}:{cport}>\r\nContent-Length: 0\r\n\r\n")
    callee.sendto(reg.encode(), (host, port))
    callee.settimeout(2)
    if not callee.recv(65535).startswith(b"SIP/2.0 200"):
        sys.exit("batch_order: registration failed")
    burst = []
    for n in range(pairs):
        invite = request("INVITE", host, port, aport, n, stamp)
        first = request("CANCEL", host, port, aport, n, stamp) if n % 2 == 0 else invite
        burst += [first, invite]
    for datagram in burst:  # back to back: the proxy reads several at once
        caller.sendto(datagram, (host, port))
    at_caller, at_callee = drain(caller), drain(callee)
    ok = True
    for n in range(pairs):
        call_id = f"bo-{stamp}-{n}"
        mine = [t for t in at_caller if header(t, "Call-ID") == call_id]
        there = [t for t in at_callee if header(t, "Call-ID") == call_id]
        tryings = sum(1 for t in mine if t.startswith("SIP/2.0 100") and header(t, "CSeq") == "1 INVITE")
        # the proxy retransmits to a callee that does not answer (Timer A):
        # one transaction is one branch in its Via
        invites = len({header(t, "Via") for t in there if t.startswith("INVITE ")})
        cancels = sum(1 for t in there if t.startswith("CANCEL "))
        cancel_answers = [t.split(" ", 2)[1] for t in mine if header(t, "CSeq") == "1 CANCEL"]
        want_cancel = ["481"] if n % 2 == 0 else []
        if tryings < 1 or invites != 1 or cancels or cancel_answers != want_cancel:
            print(f"call {n}: {tryings} 100s, {invites} INVITEs and {cancels} CANCELs at the callee, "
                  f"CANCEL answered {cancel_answers} (want {want_cancel})")
            ok = False
    invites = list({header(t, "Via"): t for t in at_callee if t.startswith("INVITE ")}.values())
    answer_486(callee, caller, host, port, invites, [t for t in at_caller if t.startswith("SIP/2.0 486")])
    print(f"{pairs} calls in a burst of {len(burst)} datagrams: "
          f"{'as in arrival order' if ok else 'NOT as in arrival order'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
