#!/usr/bin/env python3
"""Latency through a proxy, from kernel timestamps in a packet capture.

usage: pcap_latency.py CAPTURE.pcap PROXY_PORT CALLEE_PORT
Prints JSON: p50/p90/p99/max in ms and counts of INVITE->100, INVITE->180
and INVITE->200 over every call in the capture, measured from the caller's
INVITE reaching the proxy's port to the proxy's response leaving for the
caller; and "slow_100": how many INVITEs waited over 0.5 ms for their 100,
and how many of those waited through a stretch of at least 0.3 ms in
which the proxy sent nothing at all. While it works a proxy sends every
few tens of microseconds at these rates, so such a stretch is time it was
not running (descheduled, or slow to wake), or the backlog that time
left being read. The timestamps are the kernel's (dumpcap on lo), so no prober
shares a CPU with anybody or adds an interpreter's jitter: what is timed
is the proxy (and, for 180/200, the callee behind it).

The capture must be classic pcap (dumpcap -P) of UDP on lo. The
callee's own port tells its leg apart: packets from CALLEE_PORT, or to it,
are the proxy's other side."""
import bisect
import json
import struct
import sys

SLOW_S = 0.0005    # an INVITE->100 slower than this is "slow"
SILENT_S = 0.0003  # a stretch without any packet from the proxy


def packets(path):
    """Yields (time_s, src_port, dst_port, payload) of each UDP/IPv4 packet."""
    with open(path, "rb") as f:
        head = f.read(24)
        magic, = struct.unpack("<I", head[:4])
        if magic == 0xa1b2c3d4:
            endian, scale = "<", 1e-6
        elif magic == 0xa1b23c4d:
            endian, scale = "<", 1e-9
        else:
            raise SystemExit("not a little-endian classic pcap (use dumpcap -P)")
        linktype, = struct.unpack(endian + "I", head[20:24])
        skip = {1: 14, 113: 16, 0: 4}.get(linktype)  # Ethernet, Linux cooked, BSD loopback
        if skip is None:
            raise SystemExit(f"link type {linktype} not handled")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack(endian + "IIII", rec)
            data = f.read(incl)
            ip = data[skip:]
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            sport, dport = struct.unpack(">HH", ip[ihl:ihl + 4])
            yield sec + frac * scale, sport, dport, ip[ihl + 8:]


def first_line_and(payload, name):
    """The first line and one header's value (full name, case-insensitive)."""
    text = payload.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = text.split("\r\n")
    want = name.lower() + ":"
    for line in lines[1:]:
        if line.lower().startswith(want):
            return lines[0], line.split(":", 1)[1].strip()
    return lines[0], None


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))] * 1000, 4)


def longest_silence(sends, start, end):
    """The longest stretch in [start, end] without a time in sorted @sends."""
    i = bisect.bisect_right(sends, start)
    j = bisect.bisect_left(sends, end)
    marks = [start] + sends[i:j] + [end]
    return max(b - a for a, b in zip(marks, marks[1:]))


def slow_100(invites, answered, sends):
    """INVITEs slower than SLOW_S to their 100, and of those the ones that
    waited through a SILENT_S stretch with nothing sent by the proxy."""
    slow = [(invites[c][0], invites[c][0] + d) for c, d in answered.items() if d > SLOW_S]
    silent = sum(1 for a, b in slow if longest_silence(sends, a, b) >= SILENT_S)
    return {"over_ms": SLOW_S * 1000, "n": len(slow),
            "proxy_silent_ms": SILENT_S * 1000, "with_proxy_silent": silent}


def main():
    path, proxy, callee = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    invites = {}  # Call-ID -> (time, caller port) of the caller's first INVITE
    legs = {"invite_100": {}, "invite_180": {}, "invite_200": {}}
    sends = []  # every packet the proxy sent, in capture order
    for t, sport, dport, payload in packets(path):
        if sport == proxy:
            sends.append(t)
        if not payload[:8].strip():
            continue
        line, call_id = first_line_and(payload, "Call-ID")
        if call_id is None:
            continue
        if dport == proxy and sport != callee and line.startswith("INVITE "):
            _, cseq = first_line_and(payload, "CSeq")
            if call_id not in invites and cseq and cseq.endswith("INVITE"):
                invites[call_id] = (t, sport)
        elif sport == proxy and dport != callee and line.startswith("SIP/2.0 "):
            sent = invites.get(call_id)
            code = line.split(" ", 2)[1]
            leg = {"100": "invite_100", "180": "invite_180", "200": "invite_200"}.get(code)
            _, cseq = first_line_and(payload, "CSeq")
            if sent and leg and cseq and cseq.endswith("INVITE") and dport == sent[1] \
                    and call_id not in legs[leg]:
                legs[leg][call_id] = t - sent[0]
    out = {}
    for leg, d in legs.items():
        v = list(d.values())
        out[leg] = {"n": len(v), "p50_ms": pct(v, 50), "p90_ms": pct(v, 90), "p99_ms": pct(v, 99),
                    "max_ms": pct(v, 100)}
    sends.sort()
    out["slow_100"] = slow_100(invites, legs["invite_100"], sends)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
