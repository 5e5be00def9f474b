#!/usr/bin/env python3
"""RFC 4475's valid messages with NULs, through the real proxy:
  - escnull (§3.1.1.4): a REGISTER whose Contacts are sip:%00@h and
    sip:%00%00@h makes two bindings, and the 200 lists both, with From and
    To (null-%00-null), byte for byte as they arrived;
  - intmeth (§3.1.1.2): the extension method with its unusual Request-URI
    and a display name holding an escaped NUL is answered (403 when its
    domain is foreign), and when it names a user registered here it is
    forwarded to that user: method, Request-URI user, To (with its NUL),
    From (UTF-8 parameter), Call-ID, CSeq and the extension header arrive
    byte for byte, and so does the callee's 200 back at the sender.

usage: rfc4475_valid.py HOST PORT
Loopback only. Exit 0 when every check holds."""
import ipaddress
import socket
import sys
import time

METHOD = b"!interesting-Method0123456789_*+`.%indeed'~"
USER = b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
TO_NAME = b'"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"'
FROM = (b"token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"" +
        bytes.fromhex("D180D0B0D0B1D0BED182D0B0D18ED189D0B8D0B9") + b"\";tag=_token~1'+`*%!-.")
CALL_ID = b"intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
EXTENSION = b"extensionHeader-!.%*+_`'~:" + bytes.fromhex("EFBBBFE5A4A7E5819CE99BBB")
failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


def headers(msg):
    """The header lines of @msg (bytes), the start line first."""
    return msg.partition(b"\r\n\r\n")[0].split(b"\r\n")


def named(msg, name):
    for line in headers(msg)[1:]:
        if line.split(b":", 1)[0].strip().lower() == name.lower():
            return line
    return None


def value(msg, name):
    """A header's value, bytes exact; its name and the space after the
    colon are not (RFC 3261 §7.3.1: names are case-insensitive)."""
    line = named(msg, name)
    return line.split(b":", 1)[1].lstrip(b" \t") if line else None


def intmeth(host, port, aport, domain):
    """RFC 4475's intmeth, the Request-URI in @domain, from @aport."""
    return (METHOD + b" sip:" + USER + b":&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@" + domain +
            b" SIP/2.0\r\nVia: SIP/2.0/UDP " + f"{host}:{aport}".encode() +
            b";branch=z9hG4bK-.!%66*_+`'~" + str(time.time_ns()).encode() + b"\r\n" +
            b"To: " + TO_NAME + b" <sip:" + USER + b"@" + domain + b">\r\n" +
            b"From: " + FROM + b"\r\nCall-ID: " + CALL_ID + str(time.time_ns()).encode() +
            b"\r\nCSeq: 139122385 " + METHOD + b"\r\nMax-Forwards: 255\r\n" + EXTENSION +
            b"\r\nContent-Length: 0\r\n\r\n")


def escnull(host, port, cport):
    aor = f"sip:null-%00-null@{host}:{port}".encode()
    return (f"REGISTER sip:{host}:{port} SIP/2.0\r\n".encode() + b"To: " + aor + b"\r\n" +
            b"From: " + aor + b";tag=839923423\r\nMax-Forwards: 70\r\n" +
            f"Call-ID: escnull.{time.time_ns()}\r\nCSeq: 14398234 REGISTER\r\n".encode() +
            f"Via: SIP/2.0/UDP {host}:{cport};branch=z9hG4bKkdjuw{time.time_ns()}\r\n".encode() +
            f"Contact: <sip:%00@{host}:{cport}>\r\nContact: <sip:%00%00@{host}:{cport}>\r\n"
            .encode() + b"L:0\r\n\r\n")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("rfc4475_valid: loopback addresses only")
    callee, caller = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    for s in (callee, caller):
        s.bind((host, 0))
        s.settimeout(3)
    cport, aport = callee.getsockname()[1], caller.getsockname()[1]
    proxy = (host, port)

    # escnull: two bindings, listed byte for byte
    callee.sendto(escnull(host, port, cport), proxy)
    ok = callee.recv(65535)
    contacts = [l for l in headers(ok) if l.lower().startswith(b"contact:")]
    expect(ok.startswith(b"SIP/2.0 200 "), f"escnull: {headers(ok)[0]!r}")
    want = {f"<sip:%00@{host}:{cport}>".encode(), f"<sip:%00%00@{host}:{cport}>".encode()}
    expect({c.split(b":", 1)[1].strip().split(b";")[0] for c in contacts} == want,
           f"escnull: Contacts {contacts!r}")
    for name in (b"From", b"To"):
        expect(f"<sip:null-%00-null@{host}:{port}>".encode() in (named(ok, name) or b""),
               f"escnull: {named(ok, name)!r}")

    # intmeth to a foreign domain: answered, not dropped
    caller.sendto(intmeth(host, port, aport, b"example.com"), proxy)
    try:
        got = caller.recv(65535)
    except socket.timeout:
        got = b""
    expect(got.startswith(b"SIP/2.0 403 "), f"intmeth, foreign: {got[:60]!r}")
    expect(TO_NAME in (named(got, b"To") or b""), f"intmeth, foreign: To {named(got, b'To')!r}")

    # intmeth to a user registered here: forwarded byte for byte
    reg = (f"REGISTER sip:{host}:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP {host}:{cport};branch=z9hG4bK-im{time.time_ns()}\r\n".encode() +
           b"From: <sip:" + USER + f"@{host}:{port}>;tag=r1\r\n".encode() +
           b"To: <sip:" + USER + f"@{host}:{port}>\r\n".encode() +
           f"Call-ID: im-reg-{time.time_ns()}\r\nCSeq: 1 REGISTER\r\n".encode() +
           b"Contact: <sip:intmeth@" + f"{host}:{cport}>\r\nContent-Length: 0\r\n\r\n".encode())
    callee.sendto(reg, proxy)
    expect(callee.recv(65535).startswith(b"SIP/2.0 200 "), "intmeth's user could not register")
    sent = intmeth(host, port, aport, f"{host}:{port}".encode())
    caller.sendto(sent, proxy)
    try:
        fwd = callee.recv(65535)
    except socket.timeout:
        fwd = b""
    expect(headers(fwd)[0] == METHOD + f" sip:intmeth@{host}:{cport} SIP/2.0".encode(),
           f"intmeth forwarded as {headers(fwd)[0]!r}")
    for name in (b"To", b"From", b"Call-ID", b"CSeq", EXTENSION.split(b":")[0]):
        expect(value(fwd, name) == value(sent, name),
               f"intmeth's {name!r}: sent {named(sent, name)!r}, got {named(fwd, name)!r}")
    if fwd:
        vias = [l for l in headers(fwd) if l.lower().startswith(b"via:")]
        resp = (b"SIP/2.0 200 OK\r\n" + b"\r\n".join(vias) + b"\r\n" + named(fwd, b"From") +
                b"\r\n" + named(fwd, b"To") + b";tag=im2\r\n" + named(fwd, b"Call-ID") + b"\r\n" +
                named(fwd, b"CSeq") + b"\r\nContent-Length: 0\r\n\r\n")
        callee.sendto(resp, proxy)
        try:
            back = caller.recv(65535)
        except socket.timeout:
            back = b""
        expect(back.startswith(b"SIP/2.0 200 "), f"the 200 did not come back: {back[:60]!r}")
        expect(value(back, b"To") == value(sent, b"To") + b";tag=im2",
               f"the 200's To: {named(back, b'To')!r}")

    for f in failures:
        print("FAIL:", f)
    print(f"rfc4475 valid messages: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
