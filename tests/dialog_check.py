#!/usr/bin/env python3
"""Two phones on raw UDP sockets, to show what the proxy's dialog table
(src/sip/dialog.c) lets through: alice calls bob, bob moves to another
port with a re-INVITE (a target refresh, RFC 3261 §12.2.1.2), alice's BYE
goes to bob's new address through the Route of the call, and once the
call has ended the same Route (a copy of alice's BYE, new CSeq) is
refused and reaches nobody. Prints one line per step:
  "STEP OK" or "STEP FAILED: why"; exits 1 on the first failure.

usage: dialog_check.py PROXY_HOST PROXY_PORT ALICE_PORT BOB_PORT BOB_NEW_PORT
Loopback only."""
import ipaddress
import random
import re
import socket
import sys


class Phone:
    def __init__(self, host, port, proxy):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(3.0)
        self.host, self.port, self.proxy = host, port, proxy

    def send(self, text, to=None):
        self.sock.sendto(text.replace("\n", "\r\n").encode(), to or self.proxy)

    def recv(self, want, timeout=3.0):
        """The next message whose first line starts with @want; skips 100."""
        self.sock.settimeout(timeout)
        while True:
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            text = data.decode("utf-8", "replace")
            first = text.split("\r\n", 1)[0]
            if first.startswith("SIP/2.0 100 "):
                continue
            if first.startswith(want):
                return text
            raise SystemExit(f"wanted {want!r}, got {first!r}")

    def via(self):
        return (f"Via: SIP/2.0/UDP {self.host}:{self.port};"
                f"branch=z9hG4bK-{random.getrandbits(40):x};rport")


def headers(text, name):
    return [line.split(":", 1)[1].strip() for line in text.split("\r\n")
            if line.lower().startswith(name.lower() + ":")]


def answer(req, code, reason, contact, to_tag):
    """A response to @req copying its Vias, Record-Routes, From, Call-ID, CSeq."""
    lines = [f"SIP/2.0 {code} {reason}"]
    lines += [f"Via: {v}" for v in headers(req, "Via")]
    lines += [f"Record-Route: {r}" for r in headers(req, "Record-Route")]
    to = headers(req, "To")[0]
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    lines += [f"From: {headers(req, 'From')[0]}", f"To: {to}",
              f"Call-ID: {headers(req, 'Call-ID')[0]}", f"CSeq: {headers(req, 'CSeq')[0]}"]
    if contact:
        lines.append(f"Contact: <{contact}>")
    return "\n".join(lines + ["Content-Length: 0", "", ""])


def request(phone, method, ruri, routes, frm, to, call_id, cseq, contact=None):
    lines = [f"{method} {ruri} SIP/2.0", phone.via(), "Max-Forwards: 70"]
    lines += [f"Route: {r}" for r in routes]
    lines += [f"From: {frm}", f"To: {to}", f"Call-ID: {call_id}", f"CSeq: {cseq} {method}"]
    if contact:
        lines.append(f"Contact: <{contact}>")
    return "\n".join(lines + ["Content-Length: 0", "", ""])


def step(name, ok, why=""):
    print(f"{name} {'OK' if ok else 'FAILED: ' + why}", flush=True)
    if not ok:
        sys.exit(1)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("dialog_check: loopback only")
    proxy = (host, port)
    alice = Phone(host, int(sys.argv[3]), proxy)
    bob = Phone(host, int(sys.argv[4]), proxy)
    moved = Phone(host, int(sys.argv[5]), proxy)
    a_uri, b_uri = f"sip:alice@{host}:{alice.port}", f"sip:bob@{host}:{bob.port}"
    m_uri = f"sip:bob@{host}:{moved.port}"
    call_id = f"dlg-{random.getrandbits(48):x}@{host}"

    bob.send(request(bob, "REGISTER", f"sip:{host}:{port}", [], f"<sip:bob@{host}>;tag=r1",
                     f"<sip:bob@{host}>", f"reg-{call_id}", 1, b_uri))
    step("register", bob.recv("SIP/2.0 200") is not None, "no 200")

    a_from, b_to = f"<sip:alice@{host}>;tag=a1", f"<sip:bob@{host}>"
    alice.send(request(alice, "INVITE", f"sip:bob@{host}:{port}", [], a_from, b_to, call_id, 1,
                       a_uri))
    inv = bob.recv("INVITE")
    step("invite", inv is not None, "bob was not rung")
    bob_routes = headers(inv, "Record-Route")
    bob.send(answer(inv, 200, "OK", b_uri, "b1"))
    ok = alice.recv("SIP/2.0 200")
    step("answer", ok is not None, "no 200 for alice")
    alice_routes = list(reversed(headers(ok, "Record-Route")))
    b_to += ";tag=b1"
    alice.send(request(alice, "ACK", b_uri, alice_routes, a_from, b_to, call_id, 1))
    step("ack", bob.recv("ACK") is not None, "the ACK did not reach bob")

    # bob moves: a re-INVITE whose Contact is his new port (§12.2.1.2)
    bob.send(request(bob, "INVITE", a_uri, bob_routes, b_to, a_from, call_id, 1, m_uri))
    reinv = alice.recv("INVITE")
    step("re-invite", reinv is not None, "the re-INVITE did not reach alice")
    alice.send(answer(reinv, 200, "OK", a_uri, None))
    step("re-invite answered", bob.recv("SIP/2.0 200") is not None, "no 200 for bob")
    bob.send(request(bob, "ACK", a_uri, bob_routes, b_to, a_from, call_id, 1), proxy)
    step("re-invite acked", alice.recv("ACK") is not None, "the ACK did not reach alice")

    # alice hangs up towards bob's new address, through the call's Route
    alice.send(request(alice, "BYE", m_uri, alice_routes, a_from, b_to, call_id, 2))
    bye = moved.recv("BYE")
    step("bye to the new target", bye is not None, "bob's new address got no BYE")
    moved.send(answer(bye, 200, "OK", None, None))
    step("bye answered", alice.recv("SIP/2.0 200") is not None, "no 200 for the BYE")

    # the call is over: a copy of its Route reaches nobody, neither the
    # address it was signed for (the call is unknown: 481) nor the one bob
    # moved to (no live call vouches for it: the signature does not, 403)
    for name, uri, want in (("signed for", b_uri, "481"), ("moved to", m_uri, "403")):
        alice.send(request(alice, "BYE", uri, alice_routes, a_from, b_to, call_id, 3))
        late = alice.recv("SIP/2.0 ")
        code = late.split(" ", 2)[1] if late else "silence"
        step(f"route after the call, to the address {name}", code == want, f"answered {code}")
    reached = moved.recv("BYE", timeout=0.5) or bob.recv("BYE", timeout=0.1)
    step("nobody reached", reached is None, "a phone got the late BYE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
