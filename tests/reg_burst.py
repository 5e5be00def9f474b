#!/usr/bin/env python3
"""Registration bursts and checks against a switchboard on loopback.

  reg_burst.py burst HOST PORT --users N --rate R --acks FILE [--contact-port P]
                    [--first K] [--contact-host H]
      Registers userK..userK+N-1 (K defaults to 0; expires 600) at R per second from one socket
      and writes "user wall-clock-time" to FILE for every 200 as it arrives.
      Stops when all are answered or nothing came back for 2 s (the proxy
      died); prints how many were sent and answered.

  reg_burst.py check HOST PORT --acks FILE --killed-at T [--window W]
      After a restart: queries every user FILE lists and reports which are
      gone. Every user acknowledged more than W seconds (default 1) before
      T (wall clock) must be back; prints the loss window observed (the
      oldest acknowledgement among the lost, seconds before T).

Loopback only. Exit 0 when the expectation holds."""
import argparse
import ipaddress
import socket
import sys
import time


def register(user, host, port, me, contact_port, seq, expires=600, contact_host=None):
    return (f"REGISTER sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{me};branch=z9hG4bK-b{seq}-{user};rport\r\n"
            f"From: <sip:{user}@{host}:{port}>;tag=b{seq}\r\n"
            f"To: <sip:{user}@{host}:{port}>\r\n"
            f"Call-ID: burst-{user}-{seq}@{host}\r\n"
            f"CSeq: 1 REGISTER\r\n"
            f"Contact: <sip:{user}@{contact_host or host}:{contact_port}>;expires={expires}\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def query(user, host, port, me, seq):
    return (f"REGISTER sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{me};branch=z9hG4bK-q{seq}-{user};rport\r\n"
            f"From: <sip:{user}@{host}:{port}>;tag=q{seq}\r\n"
            f"To: <sip:{user}@{host}:{port}>\r\n"
            f"Call-ID: check-{user}-{seq}@{host}\r\n"
            f"CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n").encode()


def call_id_user(reply):
    """The user out of our Call-IDs, "burst-USER-N@host" or "check-USER-N@host"."""
    for line in reply.split(b"\r\n"):
        if line.lower().startswith(b"call-id:"):
            parts = line.split(b":", 1)[1].strip().split(b"-")
            return parts[1].decode() if len(parts) >= 3 else None
    return None


def burst(args, sock, me):
    interval = 1.0 / args.rate
    acked, sent = {}, 0
    start = time.monotonic()
    last_reply = start
    with open(args.acks, "w") as out:
        while True:
            now = time.monotonic()
            due = min(args.users, int((now - start) / interval) + 1)
            while sent < due:
                sock.sendto(register(f"user{args.first + sent}", args.host, args.port, me,
                                     args.contact_port, 1, contact_host=args.contact_host),
                            (args.host, args.port))
                sent += 1
            try:
                while True:
                    reply = sock.recv(65535)
                    last_reply = time.monotonic()
                    if reply.startswith(b"SIP/2.0 200"):
                        user = call_id_user(reply)
                        if user and user not in acked:
                            acked[user] = time.time()
                            out.write(f"{user} {acked[user]:.6f}\n")
            except BlockingIOError:
                pass
            if len(acked) == args.users or time.monotonic() - last_reply > 2.0:
                break
            time.sleep(0.0005)
    print(f"sent {sent}, answered {len(acked)}")
    return 0


def check(args, sock, me):
    acks = {}
    with open(args.acks) as f:
        for line in f:
            user, t = line.split()
            acks[user] = float(t)
    present = set()
    pending = list(acks)
    for attempt in range(3):  # UDP: ask again for what got no answer
        if not pending:
            break
        for i, user in enumerate(pending):
            sock.sendto(query(user, args.host, args.port, me, attempt), (args.host, args.port))
            if i % 200 == 199:
                drain(sock, present, 0.01, settle=False)
        drain(sock, present, 1.0)
        pending = [u for u in acks if u not in present and u not in answered]
    lost = sorted((u for u in acks if u not in present), key=lambda u: acks[u])
    old = [u for u in lost if args.killed_at - acks[u] > args.window]
    window = args.killed_at - acks[lost[0]] if lost else 0.0
    last_ack = max(acks.values()) if acks else args.killed_at
    print(f"acknowledged {len(acks)} (last {args.killed_at - last_ack:.3f} s before the kill), "
          f"back after restart {len(present)}, lost {len(lost)}; "
          f"loss window {window * 1000:.0f} ms; lost though acknowledged more than "
          f"{args.window} s before the kill: {len(old)}")
    return 0 if not old and acks else 1


answered = set()  # users whose query got an answer (with or without a binding)


def drain(sock, present, wait, settle=True):
    """Collects answers for WAIT seconds; with SETTLE, until none came for 0.2 s."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            reply = sock.recv(65535)
        except BlockingIOError:
            time.sleep(0.002)
            continue
        user = call_id_user(reply)
        if not user or not reply.startswith(b"SIP/2.0 200"):
            continue
        answered.add(user)
        if b"\r\nContact:" in reply:
            present.add(user)
        if settle:
            end = max(end, time.monotonic() + 0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["burst", "check"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=2000)
    ap.add_argument("--acks", required=True)
    ap.add_argument("--contact-port", type=int, default=5099)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--contact-host", default=None)
    ap.add_argument("--killed-at", type=float)
    ap.add_argument("--window", type=float, default=1.0)
    args = ap.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        sys.exit("reg_burst: loopback addresses only")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((args.host, 0))
    sock.setblocking(False)
    me = sock.getsockname()[1]
    return burst(args, sock, me) if args.mode == "burst" else check(args, sock, me)


if __name__ == "__main__":
    sys.exit(main())
