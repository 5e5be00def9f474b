#!/usr/bin/env python3
"""A REGISTER client with digest authentication (RFC 7616: MD5 and SHA-256,
qop=auth), for what SIPp's [authentication] cannot do: SHA-256, replaying a
nonce-count, waiting for a nonce to go stale, and credentials of another user.

usage: digest_client.py HOST PORT --user U --password P [--aor A] [--alg ALG]
                        [--domain D] [--steps STEP,...] [--contact-star | --query]
Steps, run in order, each printing "STEP STATUS [stale]":
  plain    REGISTER without credentials (expects a challenge; keeps its nonce)
  auth     REGISTER with credentials for the kept nonce, next nonce-count
  replay   a new REGISTER (new branch and CSeq) repeating the last nonce-count
  wait:S   sleep S seconds (to let the nonce go stale)
  retry    like auth; on 401 with stale=true, takes the new nonce and tries again
  auth*    like auth, with "Contact: *" and "Expires: 0" (remove every binding)
  copy:K   the very datagram step K (from 1) sent, again, byte for byte
With --query the REGISTERs carry no Contact (a fetch) and each 200's Contact
lines are printed after its step line. Loopback only."""
import argparse
import hashlib
import ipaddress
import re
import socket
import sys
import time


def h(alg, text):
    fn = hashlib.sha256 if alg.upper() == "SHA-256" else hashlib.md5
    return fn(text.encode()).hexdigest()


class Client:
    def __init__(self, args):
        self.a = args
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((args.host, 0))
        self.sock.settimeout(2.0)
        self.port = self.sock.getsockname()[1]
        self.cseq = 0
        self.call_id = f"digest-{time.time_ns()}@{args.host}"
        self.nonce = None
        self.realm = None
        self.nc = 0
        self.last_auth = None
        self.sent = []  # every datagram, by step (a challenged retry adds one)
        self.step_sent = []  # the index in sent of each step's first datagram

    def request(self, auth=None, star=None):
        a = self.a
        star = a.contact_star if star is None else star
        self.cseq += 1
        uri = f"sip:{a.host}:{a.port}"
        aor = a.aor or a.user
        domain = a.domain or f"{a.host}:{a.port}"
        contact = "*" if star else f"<sip:{aor}@{a.host}:{self.port}>;expires=300"
        self.reply = ""
        lines = [f"REGISTER {uri} SIP/2.0",
                 f"Via: SIP/2.0/UDP {a.host}:{self.port};branch=z9hG4bK-d{time.time_ns()};rport",
                 f"From: <sip:{aor}@{domain}>;tag=d{self.port}",
                 f"To: <sip:{aor}@{domain}>",
                 f"Call-ID: {self.call_id}", f"CSeq: {self.cseq} REGISTER",
                 "Max-Forwards: 70"]
        if not a.query:
            lines.append(f"Contact: {contact}")
        if star:
            lines.append("Expires: 0")
        if auth:
            lines.append(f"Authorization: {auth}")
        msg = "\r\n".join(lines + ["Content-Length: 0", "", ""])
        return self.send(msg.encode())

    def send(self, data):
        self.sent.append(data)
        self.sock.sendto(data, (self.a.host, self.a.port))
        try:
            reply = self.sock.recv(65535).decode("utf-8", "replace")
        except socket.timeout:
            return "silence", ""
        self.reply = reply
        return reply.split(" ", 2)[1], reply

    def take_challenge(self, reply):
        for m in re.finditer(r"^WWW-Authenticate: *Digest (.*)$", reply, re.M | re.I):
            params = {k: v or w
                      for k, v, w in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', m.group(1))}
            if params.get("algorithm", "MD5").upper() == self.a.alg.upper():
                self.nonce, self.realm, self.nc = params["nonce"], params["realm"], 0
                return "stale" if params.get("stale", "").lower() == "true" else ""
        return None

    def credentials(self, nc):
        a = self.a
        uri = f"sip:{a.host}:{a.port}"
        ha1 = h(a.alg, f"{a.user}:{self.realm}:{a.password}")
        ha2 = h(a.alg, f"REGISTER:{uri}")
        cnonce = f"c{time.time_ns():x}"
        ncs = f"{nc:08x}"
        resp = h(a.alg, f"{ha1}:{self.nonce}:{ncs}:{cnonce}:auth:{ha2}")
        return (f'Digest username="{a.user}", realm="{self.realm}", nonce="{self.nonce}", '
                f'uri="{uri}", response="{resp}", algorithm={a.alg}, qop=auth, nc={ncs}, '
                f'cnonce="{cnonce}"')

    def step(self, name):
        if name == "plain":
            status, reply = self.request()
            return status, self.take_challenge(reply) or ""
        if name.startswith("wait:"):
            time.sleep(float(name[5:]))
            return "slept", ""
        if name == "replay":
            status, reply = self.request(self.last_auth)
            return status, ""
        if name.startswith("copy:"):
            status, _ = self.send(self.sent[self.step_sent[int(name[5:]) - 1]])
            return status, ""
        if name in ("auth", "auth*", "retry"):
            self.nc += 1
            self.last_auth = self.credentials(self.nc)
            status, reply = self.request(self.last_auth, star=name == "auth*" or None)
            if status in ("401", "407"):
                stale = self.take_challenge(reply)
                if name == "retry" and stale == "stale":
                    self.nc = 1
                    self.last_auth = self.credentials(self.nc)
                    status2, _ = self.request(self.last_auth)
                    return f"{status} stale, then {status2}", ""
                return status, stale or ""
            return status, ""
        raise SystemExit(f"unknown step {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--aor", help="the AoR's user (default: --user)")
    ap.add_argument("--alg", default="MD5")
    ap.add_argument("--domain", help="the AoR's domain (default: HOST:PORT)")
    ap.add_argument("--steps", default="plain,auth")
    ap.add_argument("--contact-star", action="store_true")
    ap.add_argument("--query", action="store_true", help="no Contact: list the bindings")
    args = ap.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        sys.exit("digest_client: loopback addresses only")
    c = Client(args)
    for name in args.steps.split(","):
        c.step_sent.append(len(c.sent))
        status, note = c.step(name)
        print(f"{name} {status}{' ' + note if note else ''}", flush=True)
        if args.query and status == "200":
            for line in c.reply.split("\r\n"):
                if line.lower().startswith("contact:"):
                    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
