#!/usr/bin/env python3
"""Tests scripts/journal, the call journal's reader (run by ctest):
  - it knows every outcome the proxy writes: SB_OUTCOME_MAP in
    include/switchboard/stats.h plus "interrupted";
  - a journal holding every outcome passes --check;
  - no line crashes it (binary, invalid UTF-8, wrong types), bad ones are
    named, and what it prints holds no control characters.
usage: journal_tool.py SOURCE_DIR"""
import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile

src = sys.argv[1]
tool = os.path.join(src, "scripts", "journal")
failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


loader = importlib.machinery.SourceFileLoader("journal", tool)
spec = importlib.util.spec_from_loader("journal", loader)
journal = importlib.util.module_from_spec(spec)
loader.exec_module(journal)
with open(os.path.join(src, "include", "switchboard", "stats.h")) as f:
    stats = f.read()
block = stats[stats.index("#define SB_OUTCOME_MAP"):]
block = block[:block.index("\n\n")]
proxy_outcomes = set(re.findall(r'X\(O_\w+, "([^"]+)"\)', block)) | {"interrupted"}
expect(len(proxy_outcomes) > 5, f"no outcomes read from stats.h: {proxy_outcomes}")
expect(journal.OUTCOMES == proxy_outcomes,
       f"scripts/journal knows {sorted(journal.OUTCOMES)}, the proxy writes {sorted(proxy_outcomes)}")


def record(outcome, **extra):
    rec = {"call_id": f"c-{outcome}", "from": {"aor": "sip:alice@pbx", "name": "Alice"},
           "to": {"aor": "sip:bob@pbx"}, "invite_at": "2026-12-03T10:00:00.000Z",
           "ended_at": "2026-12-03T10:00:05.000Z", "outcome": outcome, "hung_up_by": "caller",
           "duration_s": 1.5}
    rec.update(extra)
    return json.dumps(rec)


def run(lines, *flags):
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else line.encode() + b"\n")
    try:
        return subprocess.run([sys.executable, tool, f.name, *flags], capture_output=True,
                              timeout=30)
    finally:
        os.unlink(f.name)


good = [record(o) for o in sorted(proxy_outcomes)]
r = run(good, "--check")
expect(r.returncode == 0, f"--check failed a healthy journal: {r.stderr.decode()}")

hostile = good + [
    b"\x00\xff\xfe garbage\n", b"[1, 2, 3]\n", b'"just a string"\n', b"{}\n",
    record("answered", **{"from": "sip:alice@pbx"}).encode() + b"\n",
    record("answered", duration_s="long").encode() + b"\n",
    record("answered", invite_at=12).encode() + b"\n",
    record("bogus-outcome").encode() + b"\n",
    b'{"call_id": "\xff\xfe", "from": {}, "to": {}}\n',
    record("answered", **{"from": {"aor": "sip:\x1b[2Jmallory@pbx\x07", "name": "\x1b]0;pwned\x07"}})
    .encode() + b"\n",
]
r = run(hostile, "--check")
expect(r.returncode == 1, "--check passed a broken journal")
expect(b"Traceback" not in r.stderr, f"--check crashed: {r.stderr.decode(errors='replace')}")
expect(len([l for l in r.stderr.splitlines() if l]) == 9,
       f"expected 9 bad lines named: {r.stderr.decode(errors='replace')}")
for flags in ((), ("--csv",), ("--user", "alice")):
    r = run(hostile, *flags)
    out = r.stdout + r.stderr
    expect(b"Traceback" not in out, f"{flags} crashed: {out.decode(errors='replace')}")
    if flags != ("--csv",):  # CSV quotes fields; a table goes to a terminal
        expect(not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", r.stdout),
               f"{flags}: control characters reached the terminal: {r.stdout!r}")

# the dial plan's route: dialled number, each forward, the user it ended with
routed = record("answered", dialled="102", resolved="bob",
                forwards=[{"from": "bob", "to": "carol", "reason": "busy"},
                          {"from": "carol", "to": "alice", "reason": "dnd"}])
r = run([routed, record("unavailable", forwards="not a list")])
row = [l for l in r.stdout.decode().splitlines() if "Alice" in l]
expect(r.returncode == 0 and len(row) == 2, f"table: {r.stdout!r} {r.stderr!r}")
if len(row) == 2:
    expect(re.search(r"\b102\s+alice\s+answered\b.*bob>carol \(busy\), carol>alice \(dnd\)$",
                     row[0]), f"route columns: {row[0]!r}")
    expect(re.search(r"\bbob\s+bob\s+unavailable\b", row[1]), f"no plan: {row[1]!r}")
r = run([routed], "--csv")
lines = r.stdout.decode().splitlines()
expect(len(lines) == 2 and "dialled,final,forwards" in lines[0] and
       ",102,alice,\"bob>carol (busy), carol>alice (dnd)\"," in lines[1], f"CSV: {lines}")

for f in failures:
    print("FAIL:", f)
print(f"journal tool: {0 if failures else 1} passed, {1 if failures else 0} failed")
sys.exit(1 if failures else 0)
