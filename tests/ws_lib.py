"""A WebSocket client's half of RFC 6455, small and explicit, for the tests
of SIP over WebSocket (RFC 7118): the opening handshake, frames built bit
by bit (masked or not, fragmented, control frames) and frames read back.
Used by stream_ua.py (--transport ws|wss) and ws_torture.py."""
import base64
import hashlib
import os
import socket
import ssl
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 1, 2, 8, 9, 10, 0


class Closed(Exception):
    pass


def frame(opcode, payload=b"", fin=True, mask=True):
    """One frame as a client sends it (RFC 6455 §5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    m = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def connect(host, port, tls=False, ca=None, timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        ctx = ssl.create_default_context(cafile=ca)
        s = ctx.wrap_socket(s, server_hostname=host)
    return s


def handshake(sock, host, port, protocol="sip", origin=None, version="13", path="/"):
    """Sends the upgrade; returns (status, headers dict lower-case, leftover bytes)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", f"Sec-WebSocket-Version: {version}"]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    if origin:
        lines.append(f"Origin: {origin}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(4096)
        if not data:
            raise Closed("closed during the handshake")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    if status == 101:
        want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != want:
            raise Closed(f"wrong Sec-WebSocket-Accept {headers.get('sec-websocket-accept')}")
    return status, headers, rest


class Reader:
    """Reads the server's frames: each one as (fin, opcode, payload)."""

    def __init__(self, sock, leftover=b""):
        self.sock, self.buf = sock, leftover

    def _need(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise Closed("the proxy closed the connection")
            self.buf += data

    def frame(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise Closed("the server masked a frame (RFC 6455 §5.1 forbids it)")
        n, at = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(at + n)
        payload = self.buf[at:at + n]
        self.buf = self.buf[at + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def message(self):
        """The next data message (pings answered with a pong); CLOSE raises."""
        parts = b""
        while True:
            fin, op, payload = self.frame()
            if op == PING:
                self.sock.sendall(frame(PONG, payload))
                continue
            if op == PONG:
                continue
            if op == CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(f"close {code}")
            parts += payload
            if fin:
                return parts


class WsStream:
    """A socket-like object over one WebSocket: sendall() sends one text
    message, recv() returns the next message's bytes (SIP messages keep
    their Content-Length, so a stream parser reads them as it would TCP)."""

    def __init__(self, host, port, tls=False, ca=None, timeout=5.0, origin=None):
        self.sock = connect(host, port, tls, ca, timeout)
        status, _, rest = handshake(self.sock, host, port, origin=origin)
        if status != 101:
            raise Closed(f"handshake refused: {status}")
        self.reader = Reader(self.sock, rest)

    def getsockname(self):
        return self.sock.getsockname()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def sendall(self, data):
        self.sock.sendall(frame(TEXT, data))

    def recv(self, _size):
        try:
            return self.reader.message()
        except Closed:
            return b""

    def close(self):
        self.sock.close()
