#!/usr/bin/env python3
"""Drives switchboard's softphone page in headless Chromium over the
DevTools protocol (browser_check.py's client), for tests/browser_tests.sh.

usage: phone_check.py URL DIR [--spki HASH] [--secure-origin URL]
                       [--fake-audio WAV] STEP...
Chromium opens URL with a fake microphone (a beep, or WAV looped) and
camera, media permission granted, autoplay allowed; --spki trusts the wss:
listener's certificate key (the test's own CA); --secure-origin lets a page
over plain http on a LAN address have the microphone, as HTTPS would.
Each STEP runs in order; the first
that fails ends the run (exit 1) with its reason. Steps:
  signin USER PASSWORD    fill the form and submit
  status TEXT             the page's status becomes TEXT (10 s)
  error TEXT              the page shows an error containing TEXT (10 s)
  call TARGET             dial TARGET
  incoming                an incoming call shows (15 s); answer it
  state TEXT              the call panel says TEXT ("in call with", 15 s)
  idle                    no call on the page (15 s)
  hangup                  press Hang up
  level MIN               the remote audio's RMS passes MIN (10 s)
  tone HZ                 its loudest frequency is HZ, within 10 % (10 s)
  socket URL RESULT       a WebSocket from the page to URL (subprotocol
                          "sip") ends "open" or "refused" (RESULT)
  find TEXT NAMES         type TEXT in the directory's Find box: the entries
                          that show become NAMES (comma-separated, 10 s)
  dial NAME               press Call on NAME's entry in the directory
  watch NAME              add NAME to the colleagues whose busy lamp shows
  lamp NAME STATE         NAME's lamp becomes offline, idle, ringing or busy (15 s)
  mark NAME               write DIR/NAME (the shell test waits for it)
  wait NAME               wait for DIR/NAME (the shell test writes it, 60 s)
  media                   print the call's WebRTC state and SDPs
  sleep SECONDS
  close                   close the tab (its WebSocket goes with it)
Chromium runs in its own process group, recorded in DIR/chromium.pgid."""
import base64
import json
import os
import sys
import time

from browser_check import DevTools, launch, page_target, stop, wait_for


LOAD_STATE = ("JSON.stringify({ready: document.readyState, url: location.href, "
              "loaded: performance.getEntriesByType('resource').length})")


def js(value):
    return json.dumps(value)


def page_state(dt):
    v = dt.eval("window.phoneState ? JSON.stringify(window.phoneState()) : ''")
    return json.loads(v) if v else {}


def fill_and_submit(dt, user, password):
    dt.eval(f"""(() => {{
        document.getElementById('user').value = {js(user)};
        document.getElementById('password').value = {js(password)};
        document.getElementById('signin').click(); }})()""")


def step_socket(dt, url, want):
    expr = f"""new Promise(done => {{
        const w = new WebSocket({js(url)}, 'sip');
        w.onopen = () => {{ w.close(); done('open'); }};
        w.onerror = () => done('refused');
        setTimeout(() => done('timeout'), 5000); }})"""
    got = dt.call("Runtime.evaluate", expression=expr, awaitPromise=True,
                  returnByValue=True)["result"].get("value")
    if got != want:
        raise RuntimeError(f"a WebSocket to {url}: {got}, wanted {want}")
    print(f"socket {url}: {got}")


def run(dt, out, steps):
    i = 0
    while i < len(steps):
        s = steps[i]
        if s == "signin":
            fill_and_submit(dt, steps[i + 1], steps[i + 2])
            i += 3
            continue
        arg = steps[i + 1] if i + 1 < len(steps) else None
        if s == "status":
            wait_for(lambda: page_state(dt).get("status") == arg, 10, f"status {arg}")
        elif s == "error":
            wait_for(lambda: arg in page_state(dt).get("error", ""), 10, f"an error with '{arg}'")
            print("error shown:", page_state(dt)["error"])
        elif s == "call":
            dt.eval(f"""(() => {{ document.getElementById('dial').value = {js(arg)};
                                 document.getElementById('call').click(); }})()""")
        elif s == "incoming":
            wait_for(lambda: page_state(dt).get("call", "").startswith("incoming"), 15,
                     "an incoming call")
            dt.eval("document.getElementById('answer').click()")
            i += 1
            continue
        elif s == "state":
            wait_for(lambda: page_state(dt).get("call", "").startswith(arg), 15, f"call '{arg}'")
        elif s == "idle":
            wait_for(lambda: page_state(dt).get("call") == "", 15, "no call")
            i += 1
            continue
        elif s == "hangup":
            dt.eval("document.getElementById('hangup').click()")
            i += 1
            continue
        elif s == "level":
            level = wait_for(lambda: (lambda v: v if v > float(arg) else None)(
                dt.eval("window.phoneLevel()") or 0), 10, f"remote audio above {arg}")
            print(f"remote audio level {level:.3f}")
        elif s == "tone":  # the remote audio's loudest frequency, within 10 %
            want = float(arg)
            hz = wait_for(lambda: (lambda v: v if abs(v - want) < want * 0.1 else None)(
                dt.eval("window.phoneTone()") or 0), 10, f"a {arg} Hz tone")
            print(f"remote audio tone {hz:.0f} Hz")
        elif s == "find":  # TEXT NAMES: the office directory, filtered
            want = steps[i + 2]
            dt.eval(f"(() => {{ const f = document.getElementById('find'); f.value = {js(arg)};"
                    "f.dispatchEvent(new Event('input')); })()")
            wait_for(lambda: dt.eval("window.phoneDirectory().join(',')") == want, 10,
                     f"the directory showing {want} for '{arg}'")
            print(f"directory for '{arg}': {want}")
            i += 3
            continue
        elif s == "dial":  # press Call on a directory entry
            dt.eval(f"document.querySelector('#people li[data-name=' + JSON.stringify({js(arg)})"
                    " + '] .call').click()")
        elif s == "watch":  # a colleague's busy lamp, through the page's form
            dt.eval(f"document.getElementById('watch-name').value = {js(arg)};"
                    "document.getElementById('watch-form').requestSubmit()")
        elif s == "lamp":  # NAME offline|idle|ringing|busy
            want = steps[i + 2]
            wait_for(lambda: dt.eval(f"window.phoneLamps()[{js(arg)}]") == want, 15,
                     f"{arg}'s lamp {want}")
            print(f"{arg}'s lamp: {want}")
            i += 3
            continue
        elif s == "socket":
            step_socket(dt, arg, steps[i + 2])
            i += 3
            continue
        elif s == "mark":
            open(os.path.join(out, arg), "w").close()
        elif s == "wait":
            wait_for(lambda: os.path.exists(os.path.join(out, arg)), 60, f"the test's {arg}")
        elif s == "media":  # the call's WebRTC state, for the log
            print("media:", json.dumps(dt.eval("JSON.stringify(window.phoneMedia())")))
            i += 1
            continue
        elif s == "sleep":
            time.sleep(float(arg))
        elif s == "close":
            dt.call("Page.close")
            i += 1
            continue
        else:
            raise RuntimeError(f"unknown step {s}")
        i += 2


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    url, out, steps = sys.argv[1], sys.argv[2], sys.argv[3:]
    flags = []
    options = {"--spki": "--ignore-certificate-errors-spki-list=",
               "--secure-origin": "--unsafely-treat-insecure-origin-as-secure=",
               "--fake-audio": "--use-file-for-fake-audio-capture="}
    while steps and steps[0] in options:
        flags.append(options[steps[0]] + steps[1])
        steps = steps[2:]
    browser, port = launch(url, out, ["--use-fake-device-for-media-stream",
                                      "--use-fake-ui-for-media-stream",
                                      "--autoplay-policy=no-user-gesture-required", *flags])
    try:
        dt = DevTools(page_target(port, url, time.time() + 20))
        script = lambda: dt.eval("typeof window.phoneState") == "function"  # noqa: E731
        try:
            wait_for(script, 15, "the page's script")
        except RuntimeError:
            # a network change while the page loads (an address appearing
            # in Chromium's namespace) cancels the module requests in
            # flight (ERR_NETWORK_CHANGED) and the module script never
            # runs; a reload, as a user would, loads it. The test
            # namespaces have no IPv6 for this reason (netns_lib.sh);
            # said here so any other cause stays visible. SB_NETLOG=1
            # keeps Chromium's network log (browser_check.py).
            print("the page's script did not run in 15 s:", dt.eval(LOAD_STATE), "- reloading once")
            dt.call("Page.reload", ignoreCache=True)
            wait_for(script, 30, "the page's script after a reload")
        run(dt, out, steps)
        try:
            shot = dt.call("Page.captureScreenshot", format="png")
            with open(os.path.join(out, "phone.png"), "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        except (RuntimeError, OSError):
            pass  # the tab was closed
        print("PASS")
        return 0
    except (RuntimeError, OSError) as e:
        print("FAIL:", e)
        try:
            print("page:", dt.eval(LOAD_STATE))
            print("page state:", page_state(dt))
        except Exception:  # noqa: BLE001 - the page may be gone
            pass
        return 1
    finally:
        stop(browser)


if __name__ == "__main__":
    sys.exit(main())
