#!/usr/bin/env python3
"""A WebSocket client tunnel for the benchmark (Debian's SIPp speaks no
WebSocket): each TCP connection SIPp opens to LISTEN_PORT becomes one
WebSocket (RFC 6455, subprotocol "sip", RFC 7118) to the proxy at
WS_PORT; SIP messages from SIPp, framed by Content-Length, go out one per
WebSocket message, and every message the proxy sends comes back to SIPp
as it is. Client frames carry the mask bit with a zero key (valid
framing; the XOR then costs nothing here, so the tunnel is not what
limits the rate). Loopback only.

usage: ws_tunnel.py HOST LISTEN_PORT WS_PORT"""
import asyncio
import ipaddress
import struct
import sys

HOST, LISTEN, WS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if not ipaddress.ip_address(HOST).is_loopback:
    sys.exit("ws_tunnel: loopback addresses only")
HANDSHAKE = (f"GET / HTTP/1.1\r\nHost: {HOST}:{WS}\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n").encode()


def frame(payload):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


def content_length(head):
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            return int(value)
    return 0


async def sipp_to_ws(reader, writer):
    buf = b""
    while True:
        data = await reader.read(65536)
        if not data:
            return
        buf += data
        out = []
        while True:
            buf = buf.lstrip(b"\r\n")
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            total = end + 4 + content_length(buf[:end])
            if len(buf) < total:
                break
            out.append(frame(buf[:total]))
            buf = buf[total:]
        if out:
            writer.write(b"".join(out))


async def ws_to_sipp(reader, writer):
    while True:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(n)
        if b0 & 0x0F == 8:
            return
        if b0 & 0x0F in (0, 1, 2):
            writer.write(payload)


async def pump(coro, *writers):
    try:
        await coro
    except (OSError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        for w in writers:
            w.close()


async def serve(sipp_r, sipp_w):
    try:
        ws_r, ws_w = await asyncio.open_connection(HOST, WS)
        ws_w.write(HANDSHAKE)
        head = await ws_r.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise OSError("handshake refused")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        sipp_w.close()
        return
    await asyncio.gather(pump(sipp_to_ws(sipp_r, ws_w), ws_w, sipp_w),
                         pump(ws_to_sipp(ws_r, sipp_w), ws_w, sipp_w))


async def main():
    server = await asyncio.start_server(serve, HOST, LISTEN, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
