#!/usr/bin/env python3
"""Stream torture for the proxy's TCP transport (RFC 3261 §18.3, RFC 5626
§4.4.1): framing, keep-alives, malformed and oversized messages, clients that
stall, clients that never read, and thousands of idle connections.

usage: stream_torture.py HOST PORT PID CASE...
The proxy (PID, for its memory) listens on tcp:HOST:PORT and udp:HOST:PORT
with [tcp] header_timeout = 2, write_queue_limit = 65536 and max_per_ip
above the idle case's count. Each CASE prints one line and the script exits
non-zero when one fails. Loopback only."""
import ipaddress
import os
import resource
import socket
import sys
import time

HOST, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if not ipaddress.ip_address(HOST).is_loopback:
    sys.exit("stream_torture: loopback addresses only")
HEADER_TIMEOUT = 2.0
_serial = [0]


def options(extra_headers="", body="", length=True, via_port=5999):
    _serial[0] += 1
    n = _serial[0]
    head = (f"OPTIONS sip:{HOST}:{PORT} SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP {HOST}:{via_port};branch=z9hG4bK-tt{n}-{time.time_ns()}\r\n"
            f"From: <sip:torture@{HOST}>;tag=t{n}\r\nTo: <sip:{HOST}:{PORT}>\r\n"
            f"Call-ID: torture-{n}-{time.time_ns()}\r\nCSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\n"
            f"{extra_headers}")
    if length:
        head += f"Content-Length: {len(body.encode())}\r\n"
    return (head + "\r\n" + body).encode()


def connect(timeout=5.0):
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_responses(s, count, timeout=5.0):
    """Reads @count framed responses; returns their status codes (fewer when
    the connection closes or time runs out)."""
    s.settimeout(timeout)
    buf, codes = b"", []
    end = time.time() + timeout
    while len(codes) < count and time.time() < end:
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:") or line.lower().startswith(b"l:"):
                    length = int(line.split(b":", 1)[1])
            if len(rest) < length:
                break
            codes.append(int(head.split(b" ", 2)[1]))
            buf = rest[length:]
            if len(codes) == count:
                return codes
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        buf += data
    return codes


def closed_by_peer(s, within):
    """True when the proxy closes @s (EOF or reset) within @within seconds."""
    s.settimeout(within)
    end = time.time() + within
    try:
        while time.time() < end:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def udp_alive():
    """The proxy still answers an OPTIONS over UDP at once."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((HOST, 0))
    u.settimeout(2)
    msg = options(via_port=u.getsockname()[1]).replace(b"SIP/2.0/TCP", b"SIP/2.0/UDP")
    u.sendto(msg, (HOST, PORT))
    try:
        return u.recv(65536).startswith(b"SIP/2.0 200")
    except socket.timeout:
        return False
    finally:
        u.close()


def rss_kib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def case_split():
    s = connect()
    msg = options()
    for i in range(0, len(msg), 7):  # one message across many reads
        s.sendall(msg[i:i + 7])
        time.sleep(0.002)
    codes = read_responses(s, 1)
    s.close()
    return codes == [200], f"answers {codes}"


def case_coalesced():
    s = connect()
    s.sendall(options() + options(body="hi") + b"\r\n\r\n" + options())  # several per read
    codes = read_responses(s, 3)
    s.close()
    return codes == [200, 200, 200], f"answers {codes}"


def case_ping_pong():
    s = connect()
    s.sendall(b"\r\n\r\n")
    s.settimeout(2)
    pong = s.recv(16)
    s.sendall(options())
    codes = read_responses(s, 1)
    s.close()
    return pong == b"\r\n" and codes == [200], f"pong {pong!r}, then {codes}"


def case_missing_length():
    s = connect()
    s.sendall(options(length=False))
    codes = read_responses(s, 1)
    closed = closed_by_peer(s, 2)
    s.close()
    return codes == [400] and closed, f"answers {codes}, closed {closed}"


def case_too_big():
    s = connect()
    s.sendall(options(body="x" * (65 * 1024)))
    codes = read_responses(s, 1)
    closed = closed_by_peer(s, 2)
    s.close()
    return codes in ([513], []) and closed, f"answers {codes}, closed {closed}"


def case_silent_client():
    s = connect()
    start = time.time()
    closed = closed_by_peer(s, HEADER_TIMEOUT + 3)
    took = time.time() - start
    s.close()
    return closed, f"closed after {took:.1f} s"


def case_only_keepalives():
    """A connection that only pings, never sending a message, holds no slot:
    it is closed after header_timeout whatever it pings (each still gets
    its pong); one that has spoken may ping for ever."""
    s, spoke = connect(), connect()
    spoke.sendall(options())
    codes = read_responses(spoke, 1)
    start, closed, pongs = time.time(), False, 0
    try:
        while time.time() - start < HEADER_TIMEOUT + 4:
            s.sendall(b"\r\n\r\n")
            spoke.sendall(b"\r\n\r\n")
            s.settimeout(1)
            if s.recv(16) == b"\r\n":
                pongs += 1
            else:
                closed = True
                break
            spoke.settimeout(1)
            spoke.recv(16)
            time.sleep(0.4)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        closed = True
    took = time.time() - start
    spoke.sendall(options())
    still = read_responses(spoke, 1)
    s.close()
    spoke.close()
    return closed and pongs > 0 and codes == [200] and still == [200], \
        f"closed {closed} after {took:.1f} s and {pongs} pongs; the speaker {codes} then {still}"


def case_byte_a_second():
    s = connect()
    msg, start, sent, closed = options(), time.time(), 0, False
    try:
        while sent < len(msg) and time.time() - start < HEADER_TIMEOUT + 4:
            s.sendall(msg[sent:sent + 1])
            sent += 1
            time.sleep(0.5)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    closed = closed or closed_by_peer(s, 2)
    took = time.time() - start
    s.close()
    return closed and sent < len(msg), f"closed after {took:.1f} s, {sent} bytes sent"


def case_never_reads():
    s = connect()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(0.5)
    before = rss_kib()
    sent, dropped = 0, False
    batch = b"".join(options() for _ in range(50))
    try:
        for _ in range(400):  # ~20 000 requests, ~8 MB of answers nobody reads
            s.sendall(batch)
            sent += 50
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        dropped = True
    dropped = dropped or closed_by_peer(s, 3)
    s.close()
    grew = rss_kib() - before
    alive = udp_alive()
    # a sanitizer's quarantine keeps freed memory resident: its stages
    # allow more (SB_TEST_GROWTH_LIMIT_KIB), the plain build 64 MiB
    limit = int(os.environ.get("SB_TEST_GROWTH_LIMIT_KIB", 64 * 1024))
    return dropped and alive and grew < limit, \
        f"dropped {dropped} after {sent} requests, proxy grew {grew} KiB, still answers {alive}"


def case_idle_connections(count=10000):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < count + 100:
        return False, f"only {hard} descriptors here"
    before = rss_kib()
    socks = []
    for _ in range(count):
        s = socket.create_connection((HOST, PORT), timeout=5)
        s.sendall(b"\r\n\r\n")  # a keep-alive: an idle flow, not a stalled message
        socks.append(s)
    pongs = 0
    for s in socks:
        s.settimeout(5)
        if s.recv(2) == b"\r\n":
            pongs += 1
    time.sleep(0.5)
    after = rss_kib()
    start = time.time()
    alive = udp_alive()
    t = connect()
    t.sendall(options())
    codes = read_responses(t, 1)
    took = time.time() - start
    t.close()
    per_conn = (after - before) * 1024 / count
    for s in socks:
        s.close()
    ok = pongs == count and alive and codes == [200] and per_conn < 16 * 1024
    return ok, (f"{count} idle connections, {pongs} pongs; proxy RSS {before} -> {after} KiB "
                f"({per_conn:.0f} bytes per connection); a new request answered in {took * 1000:.0f} ms")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    failed = 0
    for name in sys.argv[4:]:
        ok, detail = CASES[name]()
        ok = ok and udp_alive()
        print(f"{'ok' if ok else 'FAILED'} {name}: {detail}", flush=True)
        failed += not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
