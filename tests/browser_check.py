#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol (a small WebSocket
client of our own: nothing beyond the standard library) for the admin
page test in tests/admin_tests.sh.

usage: browser_check.py open URL DIR
       browser_check.py trunk URL DIR NAME TEXT...

Opens URL at a phone's screen size; writes DIR/page_ready once the page
says it is live; waits for DIR/call_up (the test placed a held call after
registering bob); then the page must show bob and the call within 2 s, and
the call's duration must tick, and the People table must show bob "on
the phone". Saves DIR/page.png. Exit 0 on success.
Chromium runs in its own process group, recorded in DIR/chromium.pgid and
ended here (or by the test's cleanup).

With "trunk": once the page is live, the Trunks row of NAME must show
each TEXT in turn (the test changes the trunk meanwhile: DIR/page_ready
is written first, then DIR/shown_N after the N-th TEXT was seen), each
within 15 s."""
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request

SHOW_WITHIN_S = 2.0


class DevTools:
    """One WebSocket to a page target; Runtime.evaluate and friends."""

    def __init__(self, ws_url):
        assert ws_url.startswith("ws://")
        hostport, path = ws_url[5:].split("/", 1)
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("DevTools closed the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError("DevTools refused: " + head.decode(errors="replace"))
        self.buf = head.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("DevTools connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _frame(self):
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8))[0]
        mask = self._read(4) if b1 & 0x80 else None
        data = self._read(n)
        if mask:
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        return b0 & 0x0F, b0 & 0x80, data

    def _message(self):
        parts = []
        while True:
            op, fin, data = self._frame()
            if op == 8:
                raise RuntimeError("DevTools closed the socket")
            if op in (0, 1, 2):
                parts.append(data)
                if fin:
                    return b"".join(parts)

    def call(self, method, **params):
        self.next_id += 1
        payload = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        head = bytes([0x81])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))
        while True:
            msg = json.loads(self._message())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def page_target(port, url, deadline):
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                for t in json.load(r):
                    if t.get("type") == "page" and t.get("url", "").startswith(url):
                        return t["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("Chromium showed no page for " + url)


def wait_for(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise RuntimeError("timed out: " + what)


STATE = """JSON.stringify({
  user: !!document.querySelector('#regs tr[data-user="bob"]'),
  person: (document.querySelector('#people tr[data-user="bob"] td.status') || {}).textContent || null,
  call: (document.querySelector('#calls tr[data-call-id]') || {}).textContent || null,
  duration: (document.querySelector('#calls tr[data-call-id] td.duration') || {}).textContent || null,
  conn: document.getElementById('conn').textContent})"""


def state(dt):
    """The page's state, or {} while it is still loading."""
    v = dt.eval(STATE)
    return json.loads(v) if v else {}


def check(dt, out):
    wait_for(lambda: state(dt).get("conn") == "live", 10, "page live")
    open(os.path.join(out, "page_ready"), "w").close()
    wait_for(lambda: os.path.exists(os.path.join(out, "call_up")), 30, "the test's call")
    t0 = time.time()
    seen = wait_for(lambda: (lambda s: s if s.get("user") and "answered" in (s.get("call") or "")
                             else None)(state(dt)), 10, "bob and the answered call on the page")
    shown = time.time() - t0
    print(f"bob and the call shown {shown:.2f} s after the call was up: {seen}")
    if shown > SHOW_WITHIN_S:
        raise RuntimeError(f"shown after {shown:.2f} s, more than {SHOW_WITHIN_S} s")
    if "bob" not in seen["call"] or "alice" not in seen["call"].lower():
        raise RuntimeError("the call row does not name alice and bob: " + seen["call"])
    person = wait_for(lambda: (lambda s: s.get("person") if s.get("person") == "on the phone"
                               else None)(state(dt)), 3, "bob on the phone in People")
    print(f"People: bob is {person}")
    first = seen["duration"]
    time.sleep(2.2)
    later = state(dt).get("duration")
    print(f"duration {first} then {later}")
    if not later or later == first:
        raise RuntimeError("the call's duration does not tick")
    shot = dt.call("Page.captureScreenshot", format="png")
    with open(os.path.join(out, "page.png"), "wb") as f:
        f.write(base64.b64decode(shot["data"]))


def trunk_row(dt, name):
    """The text of trunk NAME's row on the page, or None."""
    v = dt.eval(f"""(document.querySelector('#trunks tr[data-trunk="{name}"]') || {{}})
                      .textContent || null""")
    return v


def check_trunk(dt, out, name, texts):
    wait_for(lambda: state(dt).get("conn") == "live", 10, "page live")
    open(os.path.join(out, "page_ready"), "w").close()
    for n, text in enumerate(texts, 1):
        row = wait_for(lambda: (lambda r: r if r and text in r else None)(trunk_row(dt, name)), 15,
                       f"trunk {name} showing '{text}'")
        print(f"trunk {name}: {row}")
        open(os.path.join(out, f"shown_{n}"), "w").close()
    shot = dt.call("Page.captureScreenshot", format="png")
    with open(os.path.join(out, "page.png"), "wb") as f:
        f.write(base64.b64decode(shot["data"]))


def launch(url, out, flags):
    """Headless Chromium on URL with @flags, its own profile and process
    group (recorded in OUT/chromium.pgid); returns it and its DevTools port."""
    port = free_port()
    if os.environ.get("SB_NETLOG"):  # Chromium's own record of every request, to debug
        flags = [*flags, f"--log-net-log={os.path.join(out, 'netlog.json')}",
                 "--net-log-capture-mode=Everything"]
    browser = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", f"--remote-debugging-port={port}",
         f"--user-data-dir={os.path.join(out, 'chromium-profile')}", *flags, url],
        stdout=open(os.path.join(out, "chromium.log"), "w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    with open(os.path.join(out, "chromium.pgid"), "w") as f:
        f.write(str(browser.pid))
    return browser, port


def stop(browser):
    """Ends Chromium's whole process group."""
    try:
        os.killpg(browser.pid, signal.SIGTERM)
        browser.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(browser.pid, signal.SIGKILL)


def main():
    trunk = len(sys.argv) >= 6 and sys.argv[1] == "trunk"
    if not trunk and (len(sys.argv) != 4 or sys.argv[1] != "open"):
        print(__doc__, file=sys.stderr)
        return 2
    url, out = sys.argv[2], sys.argv[3]
    browser, port = launch(url, out, ["--window-size=412,915"])
    try:
        dt = DevTools(page_target(port, url, time.time() + 20))
        if trunk:
            check_trunk(dt, out, sys.argv[4], sys.argv[5:])
        else:
            check(dt, out)
        print("PASS")
        return 0
    except (RuntimeError, OSError) as e:
        print("FAIL:", e)
        return 1
    finally:
        stop(browser)


if __name__ == "__main__":
    sys.exit(main())
