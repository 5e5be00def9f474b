#!/usr/bin/env python3
"""Forwarding by editing: what the proxy does not own leaves as it came.

Registers a callee, calls it through the proxy with an INVITE written the
way odd phones write them (compact names, lower and mixed case, a folded
field, blanks kept in values), answers 180 and 200 with the callee's own
odd fields, then ACK and BYE along the Record-Route. At each hop every
header line the proxy does not own (RFC 3261 §16.6: its Via, its
Record-Route, Max-Forwards, Route entries naming it) must arrive byte for
byte and in the order sent; Max-Forwards keeps its spelling, one less.

usage: headers_relay.py HOST PORT
Loopback only. Exit 0 when every hop kept the bytes."""
import ipaddress
import re
import socket
import sys
import time

OWNED = re.compile(r"^(via|v|record-route|route|max-forwards)\s*:", re.I)


def fail(why, got=b""):
    sys.exit(f"headers_relay: {why}\n--- got\n{got.decode('utf-8', 'replace')}")


def fields(msg):
    """The header lines of @msg (continuations kept with their field)."""
    head = msg.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")[1:]
    out = []
    for line in lines:
        if line[:1] in (" ", "\t") and out:
            out[-1] += "\r\n" + line
        else:
            out.append(line)
    return out


def unowned(msg):
    return [f for f in fields(msg) if not OWNED.match(f)]


def named(msg, name):
    return [f for f in fields(msg) if re.match(rf"^{name}\s*:", f, re.I)]


def value(field):
    return field.split(":", 1)[1].strip()


def recv(sock, first, what):
    """The next message starting with @first (others, such as 100, skipped)."""
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            data = sock.recv(65535)
        except socket.timeout:
            continue
        if data.startswith(first):
            return data
    fail(f"no {what} arrived")


def same_unowned(sent, got, what):
    if unowned(sent) != unowned(got):
        fail(f"{what}: the fields the proxy does not own changed\n--- sent\n"
             + "\n".join(unowned(sent)) + "\n--- arrived\n" + "\n".join(unowned(got)), got)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("headers_relay: loopback addresses only")
    callee = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (callee, caller):
        s.bind((host, 0))
        s.settimeout(0.5)
    cport, aport = callee.getsockname()[1], caller.getsockname()[1]
    proxy = (host, port)
    n = time.time_ns()
    reg = (f"REGISTER sip:{host}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{cport};branch=z9hG4bK-hr{n}\r\n"
           f"From: <sip:hdr@{host}>;tag=r1\r\nTo: <sip:hdr@{host}>\r\nCall-ID: hr-reg-{n}\r\n"
           f"CSeq: 1 REGISTER\r\nContact: <sip:hdr@{host}:{cport}>\r\nContent-Length: 0\r\n\r\n")
    callee.sendto(reg.encode(), proxy)
    recv(callee, b"SIP/2.0 200", "200 to REGISTER")

    sdp = (f"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
           f"m=audio 4000 RTP/AVP 0\r\n").encode()
    call_id = f"hr-{n}@{host}"
    invite = (f"INVITE sip:hdr@{host}:{port} SIP/2.0\r\n"
              f"v: SIP/2.0/UDP {host}:{aport};branch=z9hG4bK-hi{n};rport\r\n"
              f"max-forwards: 70\r\n"
              f"f: \"Caller, Odd\" <sip:caller@{host}>;tag=a1\r\n"
              f"t:   <sip:hdr@{host}>\r\n"
              f"i: {call_id}\r\n"
              f"cSeQ: 1 INVITE\r\n"
              f"m: <sip:caller@{host}:{aport}>\r\n"
              f"X-Odd:    spaced   value\r\n"
              f"Subject: a folded\r\n subject line\r\n"
              f"Supported: timer\r\n"
              f"c: application/sdp\r\n"
              f"l: {len(sdp)}\r\n\r\n").encode() + sdp
    caller.sendto(invite, proxy)
    got = recv(callee, b"INVITE ", "INVITE at the callee")
    same_unowned(invite, got, "INVITE")
    if named(got, "max-forwards") != ["max-forwards: 69"]:
        fail("Max-Forwards was not kept as spelled, one less", got)
    vias = [v for f in named(got, "via") + named(got, "v") for v in value(f).split(",")]
    if len(vias) != 2 or f"branch=z9hG4bK-hi{n}" not in vias[1]:
        fail("the callee does not see our Via on top of the caller's", got)
    rrs = named(got, "record-route")
    if len(rrs) != 1:
        fail("no Record-Route of ours", got)
    if got.split(b"\r\n\r\n", 1)[1] != sdp:
        fail("the body changed", got)

    # the callee answers with the request's Via lines, as a UA does (§8.2.6.2)
    via_lines = "".join(f + "\r\n" for f in fields(got) if re.match(r"^(via|v)\s*:", f, re.I))
    answer_sdp = sdp.replace(b"4000", b"5000")
    common = (f"{via_lines}{rrs[0]}\r\n"
              f"From: \"Caller, Odd\" <sip:caller@{host}>;tag=a1\r\n"
              f"tO: <sip:hdr@{host}>;tag=b2\r\n"
              f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
              f"Contact:  <sip:hdr@{host}:{cport}>\r\n"
              f"X-Callee:  yes,\r\n\tfolded\r\n")
    ringing = f"SIP/2.0 180 Ringing Here\r\n{common}Content-Length: 0\r\n\r\n".encode()
    callee.sendto(ringing, proxy)
    up = recv(caller, b"SIP/2.0 180", "180 at the caller")
    same_unowned(ringing, up, "180")
    if not up.startswith(b"SIP/2.0 180 Ringing Here\r\n"):
        fail("the reason phrase changed", up)
    ok = (f"SIP/2.0 200 OK\r\n{common}c: application/sdp\r\nl: {len(answer_sdp)}\r\n\r\n"
          ).encode() + answer_sdp
    callee.sendto(ok, proxy)
    up = recv(caller, b"SIP/2.0 200", "200 at the caller")
    same_unowned(ok, up, "200")
    up_vias = named(up, "via") + named(up, "v")
    if len(up_vias) != 1 or f"z9hG4bK-hi{n}" not in up_vias[0] or "," in up_vias[0]:
        fail("our Via was not taken off the 200", up)
    route = value(named(up, "record-route")[0])

    # in the call: ACK and BYE along the route set, each hop's bytes kept
    for method, cseq in (("ACK", 1), ("BYE", 2)):
        req = (f"{method} sip:hdr@{host}:{cport} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {host}:{aport};branch=z9hG4bK-h{method}{n}\r\n"
               f"Route: {route}\r\n"
               f"Max-Forwards: 70\r\n"
               f"f: \"Caller, Odd\" <sip:caller@{host}>;tag=a1\r\n"
               f"TO: <sip:hdr@{host}>;tag=b2\r\n"
               f"i: {call_id}\r\nCSeq: {cseq} {method}\r\n"
               f"X-Odd: in the call\r\nl: 0\r\n\r\n").encode()
        caller.sendto(req, proxy)
        got = recv(callee, method.encode() + b" ", f"{method} at the callee")
        same_unowned(req, got, method)
        if named(got, "route"):
            fail(f"our Route was not popped from the {method}", got)
    via_lines = "".join(f + "\r\n" for f in fields(got) if re.match(r"^(via|v)\s*:", f, re.I))
    bye_ok = (f"SIP/2.0 200 OK\r\n{via_lines}From: \"Caller, Odd\" <sip:caller@{host}>;tag=a1\r\n"
              f"To: <sip:hdr@{host}>;tag=b2\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\n"
              f"Content-Length: 0\r\n\r\n").encode()
    callee.sendto(bye_ok, proxy)
    up = recv(caller, b"SIP/2.0 200", "200 to BYE at the caller")
    same_unowned(bye_ok, up, "200 to BYE")
    print("headers_relay: every hop kept the bytes the proxy does not own")


if __name__ == "__main__":
    main()
