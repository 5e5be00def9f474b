#!/usr/bin/env python3
"""A busy lamp's subscriber (RFC 4235 over RFC 6665), over UDP, for the
presence tests; and the checker of what it heard.

  dialog_sub.py run PROXY_IP PROXY_PORT --user bob --port 15090 [options]
      subscribes to sip:USER@PROXY, answers every NOTIFY (200, or --answer),
      prints one JSON line per response to its SUBSCRIBEs ({"response": ...})
      and per NOTIFY ({"notify": ..., "dialogs": [...]}) until --seconds
      pass; --refresh-after S[,S...] and --unsubscribe-after S send
      in-dialog SUBSCRIBEs (the second with Expires: 0); --count N subscribes N times
      to USER1..USERN-style names from one socket (--users a,b,c) and stops;
      --event presence subscribes to RFC 3856 presence instead: each
      NOTIFY's line then has "status" (offline, online, on-the-phone, as
      the PIDF's basic and RPID activities say), "activities" and "note".
  dialog_sub.py publish PROXY_IP PROXY_PORT --user bob --port 15095
      [--activity away] [--note TEXT] [--basic open|closed] [--no-body]
      [--etag TAG] [--expires N] [--event presence] [--content-type T]
      [--sender USER --password P] (a 401/407 answered, MD5, qop=auth):
      one PUBLISH (RFC 3903) of a PIDF document (SIP-If-Match: TAG when
      given), printing its answer as one JSON line ({"response": code,
      "etag": SIP-ETag, "expires", "min_expires", "allow_events"}).
  dialog_sub.py check FILE --expect early,confirmed,terminated:remote-bye
      [--direction recipient] [--remote sip:alice@...]: the NOTIFYs in FILE
      follow RFC 4235 for one dialog: versions 0, 1, 2... in order, the
      first full state, every dialog's states only forward in the state
      machine, and the one dialog's states exactly those expected (a
      leading "trying", and any state written "?state", may have been
      folded into the next); dialogs first seen terminated are history.
  dialog_sub.py heard FILE [--detail]: the presence a subscriber heard,
      each change once (status, or status/activities/note).
The subscriber answers as a UA would (RFC 3261 §12.2.2): a NOTIFY in no
dialog of its own 481, one whose CSeq is not above the last 500 (a
retransmission gets its answer again); such a NOTIFY's line has "error".
"""
import argparse
import hashlib
import json
import random
import re
import socket
import sys
import time
import xml.etree.ElementTree as ET

NS = "{urn:ietf:params:xml:ns:dialog-info}"
PIDF = "{urn:ietf:params:xml:ns:pidf}"
RPID = "{urn:ietf:params:xml:ns:pidf:rpid}"
DM = "{urn:ietf:params:xml:ns:pidf:data-model}"
ORDER = ["trying", "proceeding", "early", "confirmed", "terminated"]


def parse(data):
    """A SIP message: (first line, {lower name: [values]}, body)."""
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers, body


def presence(body):
    """A PIDF document: its entity, basic statuses, activities, status."""
    root = ET.fromstring(body)
    if root.tag != PIDF + "presence":
        raise ValueError(f"root is {root.tag}")
    basics = [b.text for b in root.iter(PIDF + "basic")]
    acts = [a.tag.replace(RPID, "") for p in root.iter(DM + "person")
            for al in p.iter(RPID + "activities") for a in al]
    status = ("offline" if "open" not in basics else
              "on-the-phone" if "on-the-phone" in acts else "online")
    notes = [n.text for n in root.iter(DM + "note")] + [n.text for n in root.iter(PIDF + "note")]
    return {"entity": root.get("entity"), "basic": basics, "activities": acts,
            "note": notes[0] if notes else None, "status": status}


def publish(a):
    """One PUBLISH; its answer printed as a JSON line."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.ip, a.port))
    sock.settimeout(3)
    person = ""
    if a.activity or a.note:
        person = ('<dm:person id="p1">'
                  + (f"<rpid:activities><rpid:{a.activity}/></rpid:activities>" if a.activity else "")
                  + (f"<dm:note>{a.note}</dm:note>" if a.note else "") + "</dm:person>")
    body = ("" if a.no_body else
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
            'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" '
            f'entity="sip:{a.user}@{a.proxy_ip}"><tuple id="t1"><status><basic>{a.basic}</basic>'
            f"</status></tuple>{person}</presence>")
    call_id = f"pub-{random.getrandbits(48):x}@{a.ip}"
    tag = f"p{random.getrandbits(32):x}"
    ruri = f"sip:{a.user}@{a.proxy_ip}:{a.proxy_port}"

    def send(cseq, credentials):
        head = (f"PUBLISH {ruri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {a.ip}:{a.port};branch=z9hG4bK-{random.getrandbits(48):x};rport\r\n"
                f"Max-Forwards: 70\r\n"
                f"From: <sip:{a.sender or a.user}@{a.proxy_ip}:{a.proxy_port}>;tag={tag}\r\n"
                f"To: <{ruri}>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: {cseq} PUBLISH\r\n"
                f"Event: {a.event}\r\n"
                + (f"Expires: {a.expires}\r\n" if a.expires is not None else "")
                + (f"SIP-If-Match: {a.etag}\r\n" if a.etag else "")
                + (credentials or "")
                + (f"Content-Type: {a.content_type}\r\n" if body else ""))
        msg = head + f"Content-Length: {len(body.encode())}\r\n\r\n" + body
        sock.sendto(msg.encode(), (a.proxy_ip, a.proxy_port))
        while True:
            data, _ = sock.recvfrom(65535)
            first, h, _ = parse(data)
            if first.startswith("SIP/2.0") and int(first.split()[1]) >= 200:
                return first, h

    first, h = send(1, None)
    code = int(first.split()[1])
    if code in (401, 407) and a.password:  # MD5 with qop=auth (RFC 7616)
        name = "www-authenticate" if code == 401 else "proxy-authenticate"
        ch = dict(re.findall(r'(\w+)="([^"]*)"', h[name][0]))
        who = a.sender or a.user
        ha1 = hashlib.md5(f"{who}:{ch['realm']}:{a.password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"PUBLISH:{ruri}".encode()).hexdigest()
        cnonce = f"{random.getrandbits(64):x}"
        resp = hashlib.md5(f"{ha1}:{ch['nonce']}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
        field = "Authorization" if code == 401 else "Proxy-Authorization"
        first, h = send(2, f'{field}: Digest username="{who}", realm="{ch["realm"]}", '
                           f'nonce="{ch["nonce"]}", uri="{ruri}", response="{resp}", '
                           f'algorithm=MD5, qop=auth, nc=00000001, cnonce="{cnonce}"\r\n')
    print(json.dumps({"response": int(first.split()[1]), "etag": h.get("sip-etag", [None])[0],
                      "expires": h.get("expires", [None])[0],
                      "min_expires": h.get("min-expires", [None])[0],
                      "allow_events": h.get("allow-events", [None])[0]}), flush=True)


def document(body):
    root = ET.fromstring(body)
    out = {"version": int(root.get("version")), "full": root.get("state") == "full",
           "entity": root.get("entity"), "dialogs": []}
    for d in root.findall(NS + "dialog"):
        st = d.find(NS + "state")
        remote = d.find(NS + "remote/" + NS + "identity")
        out["dialogs"].append({
            "id": d.get("id"), "call_id": d.get("call-id"), "direction": d.get("direction"),
            "local_tag": d.get("local-tag"), "remote_tag": d.get("remote-tag"),
            "state": st.text, "event": st.get("event"), "code": st.get("code"),
            "remote": remote.text if remote is not None else None})
    return out


class Subscriber:
    def __init__(self, a):
        self.a = a
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # a burst of subscriptions brings back an answer and a NOTIFY each:
        # room for all of them while this script is slow to read
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((a.ip, a.port))
        self.sock.settimeout(0.1)
        self.proxy = (a.proxy_ip, a.proxy_port)
        self.dialogs = {}  # call-id -> {"tag", "to_tag", "cseq", "user", "target"}

    def emit(self, obj):
        print(json.dumps(obj), flush=True)

    def subscribe(self, user, expires, call_id=None):
        a = self.a
        new = call_id is None
        if new:
            call_id = f"blf-{random.getrandbits(48):x}@{a.ip}"
            self.dialogs[call_id] = {"tag": f"s{random.getrandbits(32):x}", "to_tag": None,
                                     "cseq": 0, "user": user,
                                     "target": f"sip:{user}@{a.proxy_ip}:{a.proxy_port}"}
        d = self.dialogs[call_id]
        d["cseq"] += 1
        to = f"<sip:{user}@{a.proxy_ip}:{a.proxy_port}>" + (f";tag={d['to_tag']}" if d["to_tag"] else "")
        msg = (f"SUBSCRIBE {d['target']} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {a.ip}:{a.port};branch=z9hG4bK-{random.getrandbits(48):x};rport\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <sip:{a.me}@{a.proxy_ip}:{a.proxy_port}>;tag={d['tag']}\r\n"
               f"To: {to}\r\n"
               f"Call-ID: {call_id}\r\n"
               f"CSeq: {d['cseq']} SUBSCRIBE\r\n"
               f"Contact: <sip:{a.me}@{a.ip}:{a.port}>\r\n"
               f"Event: {a.event}\r\n"
               f"Accept: application/{'pidf' if a.event == 'presence' else 'dialog-info'}+xml\r\n"
               f"Expires: {expires}\r\n"
               f"Content-Length: 0\r\n\r\n")
        self.sock.sendto(msg.encode(), self.proxy)
        return call_id

    def answer(self, headers, code):
        reason = {200: "OK", 481: "Call/Transaction Does Not Exist"}.get(code, "Error")
        lines = [f"SIP/2.0 {code} {reason}"]
        for name, canon in (("via", "Via"), ("from", "From"), ("to", "To"),
                            ("call-id", "Call-ID"), ("cseq", "CSeq")):
            for v in headers.get(name, []):
                lines.append(f"{canon}: {v}")
        lines.append("Content-Length: 0")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), self.proxy)

    def handle(self, data):
        first, h, body = parse(data)
        call_id = h.get("call-id", [""])[0]
        if first.startswith("SIP/2.0"):
            code = int(first.split()[1])
            d = self.dialogs.get(call_id)
            if d and code < 300 and not d["to_tag"] and "tag=" in h["to"][0]:
                d["to_tag"] = h["to"][0].split("tag=")[1].split(";")[0]
            self.emit({"response": code, "cseq": h.get("cseq", [""])[0], "call_id": call_id,
                       "expires": h.get("expires", [None])[0],
                       "min_expires": h.get("min-expires", [None])[0],
                       "contact": h.get("contact", [None])[0]})
            return
        if not first.startswith("NOTIFY"):
            return
        d = self.dialogs.get(call_id)
        # as a UA would (RFC 3261 §12.2.2): a NOTIFY in no dialog of ours
        # is 481, one whose CSeq is not above the last is 500
        try:
            cseq = int(h.get("cseq", ["0"])[0].split()[0])
        except ValueError:
            cseq = 0
        branch = h.get("via", [""])[0].split("branch=")[-1].split(";")[0]
        if d and cseq == d.get("notify_cseq") and branch == d.get("notify_branch"):
            self.answer(h, self.a.answer)  # a retransmission: the same answer again
            return
        if not d or cseq <= d.get("notify_cseq", -1):
            self.answer(h, 481 if not d else 500)
            self.emit({"notify": h.get("cseq", [""])[0], "call_id": call_id,
                       "error": "in no dialog of ours" if not d else "CSeq not above the last"})
            return
        d["notify_cseq"] = cseq
        d["notify_branch"] = branch
        self.answer(h, self.a.answer)
        if d and h.get("contact"):
            d["target"] = h["contact"][0].strip("<>").split(">")[0]
        out = {"notify": h.get("cseq", [""])[0], "call_id": call_id,
               "subscription_state": h.get("subscription-state", [""])[0],
               "event": h.get("event", [""])[0], "content_type": h.get("content-type", [""])[0]}
        try:
            out.update(presence(body) if self.a.event == "presence" else document(body))
        except (ET.ParseError, TypeError, ValueError) as e:
            out["error"] = f"not a {self.a.event} document: {e}: {body!r}"
        self.emit(out)

    def drain(self):
        """Handles whatever is already there, without waiting."""
        self.sock.setblocking(False)
        try:
            while True:
                self.handle(self.sock.recvfrom(65535)[0])
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(0.1)

    def run(self):
        a = self.a
        users = a.users.split(",") if a.users else [a.user] * a.count
        first = None
        for u in users:
            cid = self.subscribe(u, a.expires)
            first = first or cid
            self.drain()
        start = time.time()
        refreshes = sorted(float(t) for t in a.refresh_after.split(",") if t)
        unsubscribed = False
        while time.time() - start < a.seconds:
            now = time.time() - start
            if refreshes and now >= refreshes[0]:
                refreshes.pop(0)
                self.subscribe(self.dialogs[first]["user"], a.expires, first)
            if a.unsubscribe_after is not None and not unsubscribed and now >= a.unsubscribe_after:
                unsubscribed = True
                self.subscribe(self.dialogs[first]["user"], 0, first)
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            self.handle(data)


def matches(got, want):
    """Does @got follow @want, where "?state" may be missing (a change
    folded into the next one, between two looks of the notifier)?"""
    if not want:
        return not got
    w = want[0]
    if w.startswith("?"):
        return matches(got, want[1:]) or matches(got, [w[1:]] + want[1:])
    return bool(got) and got[0] == w and matches(got[1:], want[1:])


def check(a):
    notes = [json.loads(l) for l in open(a.file) if l.startswith('{"notify"')]
    if not notes:
        sys.exit("no NOTIFY at all")
    for n in notes:
        if "error" in n:
            sys.exit(n["error"])
        if n["event"].split(";")[0].strip() != "dialog":
            sys.exit(f"Event: {n['event']}")
        if n["content_type"] != "application/dialog-info+xml":
            sys.exit(f"Content-Type: {n['content_type']}")
    versions = [n["version"] for n in notes]
    if versions != list(range(len(notes))):
        sys.exit(f"versions {versions}, not 0, 1, 2...")
    if not notes[0]["full"]:
        sys.exit("the first NOTIFY is not full state")
    seen, history = {}, set()
    for n in notes:
        for d in n["dialogs"]:
            if d["id"] not in seen and d["state"] == "terminated":
                history.add(d["id"])  # ended before we looked: not this call
            if d["id"] in history:
                continue
            states = seen.setdefault(d["id"], [])
            if states and ORDER.index(d["state"]) < ORDER.index(states[-1][0]):
                sys.exit(f"dialog {d['id']} went back from {states[-1][0]} to {d['state']}")
            if not states or states[-1][0] != d["state"]:
                states.append((d["state"], d))
    if len(seen) != 1:
        sys.exit(f"{len(seen)} dialogs seen, one expected: {list(seen)}")
    states = next(iter(seen.values()))
    got = [s + (":" + d["event"] if d["event"] else "") for s, d in states]
    if got[0] == "trying":
        got = got[1:] or got
    if not matches(got, a.expect.split(",")):
        sys.exit(f"states {got}, expected {a.expect}")
    last = states[-1][1]
    if a.direction and last["direction"] != a.direction:
        sys.exit(f"direction {last['direction']}")
    if a.remote and last["remote"] != a.remote:
        sys.exit(f"remote {last['remote']}")
    print(f"{len(notes)} NOTIFYs; states {' '.join(got)}")


def heard(a):
    """The presence a subscriber heard, each change once, comma-separated:
    status, or status/activity.../note (--detail). A NOTIFY that was
    refused or unreadable is "error: WHY"."""
    seen = []
    for line in open(a.file):
        o = json.loads(line)
        if "notify" not in o:
            continue
        s = o.get("status", "error: " + o.get("error", "?"))
        if a.detail and "status" in o:
            s = "/".join([s] + o["activities"] + ([o["note"]] if o["note"] else []))
        if not seen or seen[-1] != s:
            seen.append(s)
    print(",".join(seen))


def ua_parser(sub, name):
    """A subcommand that speaks SIP: the proxy's address, our own."""
    p = sub.add_parser(name)
    p.add_argument("proxy_ip")
    p.add_argument("proxy_port", type=int)
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    return p


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = ua_parser(sub, "run")
    r.add_argument("--me", default="lamp")
    r.add_argument("--user", default="bob")
    r.add_argument("--event", default="dialog", choices=["dialog", "presence"])
    r.add_argument("--users", default="")
    r.add_argument("--count", type=int, default=1)
    r.add_argument("--expires", type=int, default=600)
    r.add_argument("--seconds", type=float, default=5)
    r.add_argument("--answer", type=int, default=200)
    r.add_argument("--refresh-after", default="",
                   help="seconds (comma-separated) after which to refresh")
    r.add_argument("--unsubscribe-after", type=float)
    u = ua_parser(sub, "publish")
    u.add_argument("--user", default="bob")
    u.add_argument("--sender", help="the From's user (default: --user)")
    u.add_argument("--password", help="answer a 401/407 as the From's user (MD5)")
    u.add_argument("--activity")
    u.add_argument("--note")
    u.add_argument("--basic", default="open")
    u.add_argument("--no-body", action="store_true")
    u.add_argument("--etag")
    u.add_argument("--expires", type=int)
    u.add_argument("--event", default="presence")
    u.add_argument("--content-type", default="application/pidf+xml")
    c = sub.add_parser("check")
    c.add_argument("file")
    c.add_argument("--expect", required=True)
    c.add_argument("--direction")
    c.add_argument("--remote")
    h = sub.add_parser("heard")
    h.add_argument("file")
    h.add_argument("--detail", action="store_true")
    a = p.parse_args()
    if a.cmd == "run":
        Subscriber(a).run()
    elif a.cmd == "publish":
        publish(a)
    elif a.cmd == "heard":
        heard(a)
    else:
        check(a)


if __name__ == "__main__":
    main()
