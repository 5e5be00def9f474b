#!/usr/bin/env python3
"""Places calls one at a time through a proxy and times each hop itself.

usage: latency_probe.py PROXY_PORT USER CALLS RATE
Prints JSON: p50/p99 in ms of INVITE->100, INVITE->180 and INVITE->200 over
the calls that completed. Each call is a real one: INVITE, ACK and BYE along
the Record-Route, so it loads the proxy like any other caller. Timing uses
time.perf_counter_ns on one socket; the probe's own overhead (tens of
microseconds) is in every figure, equally for every proxy measured.
Loopback only."""
import json
import random
import re
import socket
import sys
import time

IP = "127.0.0.1"


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))], 4)


def header(msg, name):
    return re.findall(r"^" + name + r":\s*(.*?)\r$", msg, re.M | re.I)


def main():
    port, user, calls, rate = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((IP, 0))
    me = s.getsockname()[1]
    s.settimeout(2.0)
    proxy = (IP, port)
    times = {"invite_100": [], "invite_180": [], "invite_200": []}
    failed = 0
    for n in range(calls):
        start_call = time.monotonic()
        cid = f"probe-{random.getrandbits(48):x}-{n}"
        tag = f"p{n}"
        br = lambda: f"z9hG4bK-probe{random.getrandbits(40):x}"
        sdp = f"v=0\r\no=p 1 1 IN IP4 {IP}\r\ns=-\r\nc=IN IP4 {IP}\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
        invite = (f"INVITE sip:{user}@{IP}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {IP}:{me};branch={br()};rport\r\n"
                  f"From: <sip:probe@{IP}>;tag={tag}\r\nTo: <sip:{user}@{IP}:{port}>\r\nCall-ID: {cid}\r\n"
                  f"CSeq: 1 INVITE\r\nContact: <sip:probe@{IP}:{me}>\r\nMax-Forwards: 70\r\n"
                  f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")
        t0 = time.perf_counter_ns()
        s.sendto(invite.encode(), proxy)
        got = {}
        ok = None
        try:
            while ok is None:
                data, _ = s.recvfrom(65535)
                t = time.perf_counter_ns()
                msg = data.decode("utf-8", "replace")
                if cid not in msg or not msg.startswith("SIP/2.0 "):
                    continue
                code = int(msg.split(" ", 2)[1])
                if code >= 200 and code not in got:
                    ok = msg if code < 300 else False
                got.setdefault(code, (t - t0) / 1e6)
        except socket.timeout:
            ok = False
        if not ok:
            failed += 1
            continue
        for code, key in ((100, "invite_100"), (180, "invite_180"), (200, "invite_200")):
            if code in got:
                times[key].append(got[code])
        route = ", ".join(reversed(header(ok, "Record-Route")))
        contact = re.search(r"<([^>]+)>", header(ok, "Contact")[0]).group(1)
        to = header(ok, "To")[0]
        for method, cseq in (("ACK", 1), ("BYE", 2)):
            req = (f"{method} {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {IP}:{me};branch={br()};rport\r\n"
                   + (f"Route: {route}\r\n" if route else "") +
                   f"From: <sip:probe@{IP}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\n"
                   f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
            s.sendto(req.encode(), proxy)
        try:
            while True:
                data, _ = s.recvfrom(65535)
                msg = data.decode("utf-8", "replace")
                if cid in msg and "CSeq: 2 BYE" in msg and msg.startswith("SIP/2.0 2"):
                    break
        except socket.timeout:
            failed += 1
        pause = 1.0 / rate - (time.monotonic() - start_call)
        if pause > 0:
            time.sleep(pause)
    out = {k: {"p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "n": len(v)} for k, v in times.items()}
    out["failed"] = failed
    print(json.dumps(out))


if __name__ == "__main__":
    main()
