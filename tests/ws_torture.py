#!/usr/bin/env python3
"""WebSocket torture for the proxy's ws: transport (RFC 6455, RFC 7118):
the handshake split and refused (no "sip", another version, a foreign
Origin, a plain GET), fragmented messages with a ping between fragments,
unmasked and oversized frames, a close in the middle of a message, pings
and CRLF keep-alives, malformed SIP inside a frame, a client that never
finishes its handshake.

usage: ws_torture.py HOST PORT CASE...
The proxy listens on ws:HOST:PORT with [tcp] header_timeout = 2. Each CASE
prints one line; the script exits non-zero when one fails. Loopback only."""
import ipaddress
import socket
import struct
import sys
import time

import ws_lib
from ws_lib import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, frame

HOST, PORT = sys.argv[1], int(sys.argv[2])
if not ipaddress.ip_address(HOST).is_loopback:
    sys.exit("ws_torture: loopback addresses only")
_serial = [0]


def options(extra=""):
    _serial[0] += 1
    n = _serial[0]
    return (f"OPTIONS sip:{HOST}:{PORT} SIP/2.0\r\n"
            f"Via: SIP/2.0/WS t{n}.invalid;branch=z9hG4bK-ws{n}-{time.time_ns()}\r\n"
            f"From: <sip:torture@{HOST}>;tag=t{n}\r\nTo: <sip:{HOST}:{PORT}>\r\n"
            f"Call-ID: ws-torture-{n}-{time.time_ns()}\r\nCSeq: {n} OPTIONS\r\n"
            f"Max-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n").encode()


def opened(origin=None):
    s = ws_lib.connect(HOST, PORT)
    status, _, rest = ws_lib.handshake(s, HOST, PORT, origin=origin)
    if status != 101:
        raise ws_lib.Closed(f"handshake answered {status}")
    return s, ws_lib.Reader(s, rest)


def status_of(message):
    return int(message.split(b" ", 2)[1]) if message.startswith(b"SIP/2.0 ") else None


def close_code(reader):
    """The close frame's code the proxy sends next (other frames skipped)."""
    while True:
        _, op, payload = reader.frame()
        if op == CLOSE:
            return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None


def eof_within(s, seconds):
    s.settimeout(seconds)
    try:
        while True:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True  # closed with our bytes unread: a reset
    except socket.timeout:
        return False


def case_handshake_split():
    """The upgrade a byte at a time, and a message in the same write as its end."""
    s = ws_lib.connect(HOST, PORT)
    req = (f"GET / HTTP/1.1\r\nHost: {HOST}:{PORT}\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n").encode()
    for i in range(len(req) - 1):
        s.sendall(req[i:i + 1])
        time.sleep(0.001)
    s.sendall(req[-1:] + frame(TEXT, options()))
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, rest = buf.split(b"\r\n\r\n", 1)
    accept = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head and b"Sec-WebSocket-Protocol: sip" in head
    code = status_of(ws_lib.Reader(s, rest).message())
    s.close()
    line = head.split(b"\r\n")[0].decode()
    return line.startswith("HTTP/1.1 101") and accept and code == 200, \
        f"answer {line}, accept key right {accept}, then [{code}]"


def case_fragments_and_ping():
    s, r = opened()
    msg = options()
    s.sendall(frame(TEXT, msg[:20], fin=False) + frame(PING, b"mid") +
              frame(CONTINUATION, msg[20:40], fin=False) + frame(CONTINUATION, msg[40:]))
    got = []
    for _ in range(2):
        fin, op, payload = r.frame()
        got.append((op, payload if op == PONG else status_of(payload)))
    s.close()
    return got == [(PONG, b"mid"), (TEXT, 200)], f"frames back {got}"


def case_binary_message():
    s, r = opened()
    s.sendall(frame(BINARY, options()))
    code = status_of(r.message())
    s.close()
    return code == 200, f"[{code}]"


def case_unmasked_frame():
    s, r = opened()
    s.sendall(frame(TEXT, options(), mask=False))
    code = close_code(r)
    gone = eof_within(s, 3)
    s.close()
    return code == 1002 and gone, f"close {code}, connection closed {gone}"


def case_oversized_message():
    s, r = opened()
    s.sendall(frame(TEXT, b"x" * 70000))
    code = close_code(r)
    gone = eof_within(s, 3)
    s.close()
    return code == 1009 and gone, f"close {code}, connection closed {gone}"


def case_close_mid_message():
    s, r = opened()
    s.sendall(frame(TEXT, options()[:30], fin=False) + frame(CLOSE, struct.pack(">H", 1000)))
    code = close_code(r)
    gone = eof_within(s, 3)
    s.close()
    return code == 1000 and gone, f"close answered {code}, connection closed {gone}"


def case_keepalives():
    s, r = opened()
    s.sendall(frame(PING, b"k1"))
    _, op, payload = r.frame()
    s.sendall(frame(TEXT, b"\r\n\r\n"))
    _, op2, payload2 = r.frame()
    s.sendall(frame(TEXT, options()))
    code = status_of(r.message())
    s.close()
    ok = (op, payload) == (PONG, b"k1") and (op2, payload2) == (TEXT, b"\r\n") and code == 200
    return ok, f"ping -> {op}:{payload!r}, CRLFCRLF -> {op2}:{payload2!r}, then [{code}]"


def case_malformed_sip():
    s, r = opened()
    s.sendall(frame(TEXT, b"INVITE sip:x@h SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKm\r\n"
                          b"From: <sip:a@b>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: m@x\r\n"
                          b"CSeq: abc INVITE\r\nContent-Length: 0\r\n\r\n"))  # no CSeq number
    first = status_of(r.message())
    s.sendall(frame(TEXT, options()))
    after = status_of(r.message())
    s.close()
    return first == 400 and after == 200, f"malformed -> [{first}], then [{after}]"


def refused(expect, **kw):
    s = ws_lib.connect(HOST, PORT)
    status, headers, _ = ws_lib.handshake(s, HOST, PORT, **kw)
    gone = eof_within(s, 3)
    s.close()
    return status == expect and gone, f"answered {status}, closed {gone}"


def case_no_sip_subprotocol():
    return refused(400, protocol="chat")


def case_other_version():
    return refused(426, version="8")


def case_foreign_origin():
    return refused(403, origin="https://evil.example")


def case_own_origin():
    s, r = opened(origin=f"http://{HOST}:{PORT}")
    s.sendall(frame(TEXT, options()))
    code = status_of(r.message())
    s.close()
    return code == 200, f"[{code}]"


def case_plain_get():
    s = ws_lib.connect(HOST, PORT)
    s.sendall(f"GET /nothing HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n\r\n".encode())
    answer = s.recv(4096)
    gone = eof_within(s, 3)
    s.close()
    line = answer.split(b"\r\n")[0].decode()
    return line.startswith("HTTP/1.1 404") and gone, f"{line}, closed {gone}"


def case_silent_handshake():
    s = ws_lib.connect(HOST, PORT)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    start = time.time()
    gone = eof_within(s, 6)
    took = time.time() - start
    s.close()
    return gone and took < 5, f"closed {gone} after {took:.1f} s"


def main():
    failed = 0
    for name in sys.argv[3:]:
        try:
            ok, detail = globals()["case_" + name]()
        except (OSError, ws_lib.Closed) as e:
            ok, detail = False, f"{type(e).__name__}: {e}"
        print(f"{'ok' if ok else 'FAILED'} {name}: {detail}", flush=True)
        failed += not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
