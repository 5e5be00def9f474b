#!/usr/bin/env python3
"""A small SIP user agent over TCP, TLS or WebSocket, for call flows the
Debian SIPp cannot run (it is built without TLS or WebSocket): register,
call, answer, hang up either way, cancel. One connection carries
everything, as a phone's does (RFC 5626 flows): a callee is reached over
the connection it registered on. Over ws/wss it is a browser (RFC 7118
§5): its Contact and Via name an unresolvable "....invalid" host.

usage: stream_ua.py callee|caller --proxy HOST:PORT --transport tcp|tls|ws|wss
           [--ca FILE] --user NAME [--target NAME] [--hangup self|peer]
           [--cancel] [--timeout SECONDS]
Exit 0 when the flow went as expected, 1 (with the reason) otherwise.
Loopback only."""
import argparse
import ipaddress
import random
import socket
import ssl
import sys
import time

import ws_lib


class Failure(Exception):
    pass


class Peer:
    def __init__(self, args):
        host, port = args.proxy.rsplit(":", 1)
        if not ipaddress.ip_address(host).is_loopback:
            sys.exit("stream_ua: loopback addresses only")
        self.host, self.port, self.args = host, int(port), args
        if args.transport in ("ws", "wss"):
            raw = ws_lib.WsStream(host, self.port, args.transport == "wss", args.ca, args.timeout,
                                  args.origin)
        else:
            raw = socket.create_connection((host, self.port), timeout=args.timeout)
        if args.transport == "tls":
            ctx = ssl.create_default_context(cafile=args.ca)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            raw = ctx.wrap_socket(raw, server_hostname=host)
        self.sock, self.buf = raw, b""
        self.local_port = raw.getsockname()[1]
        self.tp = args.transport.upper()
        self.tag = f"{args.user}{random.randrange(1 << 30)}"
        # a browser's own address, which nobody can resolve (RFC 7118 §5)
        self.own = (f"{self.tag}.invalid" if args.transport in ("ws", "wss")
                    else f"{self.host}:{self.local_port}")

    def contact(self):
        return f"<sip:{self.args.user}@{self.own};transport={self.args.transport}>"

    def via(self):
        return (f"SIP/2.0/{self.tp} {self.own};"
                f"branch=z9hG4bK-ua{random.randrange(1 << 40)};rport")

    def send(self, text):
        self.sock.sendall(text.replace("\n", "\r\n").encode())

    def recv(self, timeout=None):
        """The next message: (first line, headers as a list of (name, value), body)."""
        self.sock.settimeout(timeout or self.args.timeout)
        while True:
            while self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]  # keep-alive pongs
            if b"\r\n\r\n" in self.buf:
                head, rest = self.buf.split(b"\r\n\r\n", 1)
                lines = head.decode().split("\r\n")
                headers = [tuple(p.strip() for p in l.split(":", 1)) for l in lines[1:]]
                length = int(header(headers, "content-length", "l") or 0)
                if len(rest) >= length:
                    self.buf = rest[length:]
                    return lines[0], headers, rest[:length].decode()
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise Failure("timed out waiting for a message")
            if not data:
                raise Failure("the proxy closed the connection")
            self.buf += data

    def expect_response(self, method, codes):
        """Reads until a final (or listed) response to @method; returns it."""
        while True:
            first, headers, body = self.recv()
            if not first.startswith("SIP/2.0"):
                raise Failure(f"expected a response to {method}, got {first}")
            code = int(first.split()[1])
            if header(headers, "cseq").split()[1] != method:
                continue
            if code in codes:
                return code, headers, body
            if code >= 200:
                raise Failure(f"{method}: got {first}, wanted {codes}")

    def expect_request(self, method):
        first, headers, body = self.recv()
        if not first.startswith(method + " "):
            raise Failure(f"expected {method}, got {first}")
        return first, headers, body


def header(headers, *names):
    for n, v in headers:
        if n.lower() in names:
            return v
    return None


def all_headers(headers, name):
    return [v for n, v in headers if n.lower() == name]


def uri_of(value):
    return value[value.index("<") + 1:value.index(">")] if "<" in value else value.split(";")[0]


def respond(ua, headers, code, reason, to_tag=None, extra=""):
    vias = "".join(f"Via: {v}\n" for v in all_headers(headers, "via") + all_headers(headers, "v"))
    rrs = "".join(f"Record-Route: {v}\n" for v in all_headers(headers, "record-route"))
    to = header(headers, "to", "t")
    if to_tag and "tag=" not in to:
        to += f";tag={to_tag}"
    ua.send(f"SIP/2.0 {code} {reason}\n{vias}{rrs}From: {header(headers, 'from', 'f')}\nTo: {to}\n"
            f"Call-ID: {header(headers, 'call-id', 'i')}\nCSeq: {header(headers, 'cseq')}\n"
            f"{extra}Content-Length: 0\n\n")


def sdp(ua):
    if ua.args.sdp == "webrtc":  # what a browser offers and answers (RFC 8829)
        setup = "actpass" if ua.args.role == "caller" else "active"
        return (f"v=0\no=- 4611731400430051336 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"
                f"a=group:BUNDLE 0\na=msid-semantic: WMS\n"
                f"m=audio 9 UDP/TLS/RTP/SAVPF 111 0\nc=IN IP4 0.0.0.0\n"
                f"a=rtcp:9 IN IP4 0.0.0.0\n"
                f"a=candidate:1 1 udp 2122260223 {ua.host} 40002 typ host generation 0\n"
                f"a=ice-ufrag:Wz9t\na=ice-pwd:s2XKd0JLAx6Is5wLPBDr5wW4\na=ice-options:trickle\n"
                f"a=fingerprint:sha-256 4C:5F:1A:9F:8D:1C:5B:22:0F:13:8E:5C:46:79:62:3B:"
                f"69:64:5D:02:DD:C1:7A:5B:22:90:71:3A:CC:FD:5E:9C\n"
                f"a=setup:{setup}\na=mid:0\na=sendrecv\na=rtcp-mux\n"
                f"a=rtpmap:111 opus/48000/2\na=rtcp-fb:111 transport-cc\n"
                f"a=fmtp:111 minptime=10;useinbandfec=1\na=rtpmap:0 PCMU/8000\n"
                f"a=ssrc:1001 cname:browser\n").replace("\n", "\r\n")
    body = (f"v=0\no=ua 1 1 IN IP4 {ua.host}\ns=-\nc=IN IP4 {ua.host}\nt=0 0\n"
            f"m=audio 40000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n").replace("\n", "\r\n")
    return body


def show_sdp(label, body):
    """Prints an SDP received, each line prefixed, for the test to read."""
    for line in body.replace("\r\n", "\n").split("\n"):
        if line:
            print(f"{label}: {line}", flush=True)


def in_dialog(ua, method, target, routes, from_, to, call_id, cseq):
    route = "".join(f"Route: {r}\n" for r in routes)
    ua.send(f"{method} {target} SIP/2.0\nVia: {ua.via()}\n{route}From: {from_}\nTo: {to}\n"
            f"Call-ID: {call_id}\nCSeq: {cseq} {method}\nMax-Forwards: 70\nContent-Length: 0\n\n")


def register(ua):
    a = ua.args
    ua.send(f"REGISTER sip:{ua.host}:{ua.port} SIP/2.0\nVia: {ua.via()}\n"
            f"From: <sip:{a.user}@{ua.host}>;tag={ua.tag}\nTo: <sip:{a.user}@{ua.host}>\n"
            f"Call-ID: reg-{ua.tag}\nCSeq: 1 REGISTER\nContact: {ua.contact()};expires=120\n"
            f"Max-Forwards: 70\nContent-Length: 0\n\n")
    ua.expect_response("REGISTER", (200,))


def callee(ua):
    register(ua)
    print("registered", flush=True)
    first, inv, offer = ua.expect_request("INVITE")
    show_sdp("offer", offer)
    tag = ua.tag + "c"
    respond(ua, inv, 180, "Ringing", tag)
    if ua.args.cancel:
        _, cancel, _ = ua.expect_request("CANCEL")
        respond(ua, cancel, 200, "OK", tag)
        respond(ua, inv, 487, "Request Terminated", tag)
        ua.expect_request("ACK")
        return
    body = sdp(ua)
    vias = "".join(f"Via: {v}\n" for v in all_headers(inv, "via"))
    rrs = all_headers(inv, "record-route")
    print(f"record-routes {len(rrs)}: {' '.join(rrs)}", flush=True)
    ua.send(f"SIP/2.0 200 OK\n{vias}" + "".join(f"Record-Route: {r}\n" for r in rrs) +
            f"From: {header(inv, 'from', 'f')}\nTo: {header(inv, 'to', 't')};tag={tag}\n"
            f"Call-ID: {header(inv, 'call-id', 'i')}\nCSeq: {header(inv, 'cseq')}\n"
            f"Contact: {ua.contact()}\nContent-Type: application/sdp\n"
            f"Content-Length: {len(body)}\n\n" + body.replace("\r\n", "\n"))
    ua.expect_request("ACK")
    # the callee's route set is the Record-Routes as they came (RFC 3261 §12.1.1)
    caller_target = uri_of(header(inv, "contact", "m"))
    if ua.args.hangup == "self":
        time.sleep(0.2)
        in_dialog(ua, "BYE", caller_target, rrs, f"{header(inv, 'to', 't')};tag={tag}",
                  header(inv, "from", "f"), header(inv, "call-id", "i"), 1)
        ua.expect_response("BYE", (200,))
    else:
        _, bye, _ = ua.expect_request("BYE")
        respond(ua, bye, 200, "OK")


def caller(ua):
    a = ua.args
    call_id = f"call-{ua.tag}"
    from_ = f"<sip:{a.user}@{ua.host}>;tag={ua.tag}"
    to = f"<sip:{a.target}@{ua.host}>"
    body = sdp(ua)
    via = ua.via()
    ua.send(f"INVITE sip:{a.target}@{ua.host}:{ua.port} SIP/2.0\nVia: {via}\nFrom: {from_}\nTo: {to}\n"
            f"Call-ID: {call_id}\nCSeq: 1 INVITE\nContact: {ua.contact()}\nMax-Forwards: 70\n"
            f"Content-Type: application/sdp\nContent-Length: {len(body)}\n\n" + body.replace("\r\n", "\n"))
    if a.cancel:
        ua.expect_response("INVITE", (180,))
        ua.send(f"CANCEL sip:{a.target}@{ua.host}:{ua.port} SIP/2.0\nVia: {via}\nFrom: {from_}\n"
                f"To: {to}\nCall-ID: {call_id}\nCSeq: 1 CANCEL\nMax-Forwards: 70\nContent-Length: 0\n\n")
        ua.expect_response("CANCEL", (200,))
        _, resp, _ = ua.expect_response("INVITE", (487,))
        ua.send(f"ACK sip:{a.target}@{ua.host}:{ua.port} SIP/2.0\nVia: {via}\nFrom: {from_}\n"
                f"To: {header(resp, 'to', 't')}\nCall-ID: {call_id}\nCSeq: 1 ACK\n"
                f"Max-Forwards: 70\nContent-Length: 0\n\n")
        return
    _, ok, answer = ua.expect_response("INVITE", (200,))
    show_sdp("answer", answer)
    # the caller's route set is the Record-Routes reversed
    routes = list(reversed(all_headers(ok, "record-route")))
    target = uri_of(header(ok, "contact", "m"))
    to = header(ok, "to", "t")
    in_dialog(ua, "ACK", target, routes, from_, to, call_id, 1)
    if a.hangup == "self":
        time.sleep(0.2)
        in_dialog(ua, "BYE", target, routes, from_, to, call_id, 2)
        ua.expect_response("BYE", (200,))
    else:
        _, bye, _ = ua.expect_request("BYE")
        respond(ua, bye, 200, "OK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=("callee", "caller"))
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--transport", choices=("tcp", "tls", "ws", "wss"), default="tls")
    ap.add_argument("--origin", help="ws/wss: the Origin a browser page would send")
    ap.add_argument("--sdp", choices=("plain", "webrtc"), default="plain",
                    help="offer or answer as a phone (RTP/AVP) or as a browser")
    ap.add_argument("--ca")
    ap.add_argument("--user", required=True)
    ap.add_argument("--target")
    ap.add_argument("--hangup", choices=("self", "peer"), default="self")
    ap.add_argument("--cancel", action="store_true")
    ap.add_argument("--timeout", type=float, default=15)
    args = ap.parse_args()
    try:
        ua = Peer(args)
        (callee if args.role == "callee" else caller)(ua)
    except (Failure, OSError, ws_lib.Closed) as e:
        print(f"stream_ua {args.role} {args.user}: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"{args.role} {args.user}: done", flush=True)


if __name__ == "__main__":
    main()
