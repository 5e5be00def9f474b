#!/usr/bin/env python3
"""GETs the office directory from a ws:/wss: listener as a page would
(HTTP/1.1, HTTP Digest with a SIP user's password when challenged),
for tests/ws_tests.sh.

usage: directory_get.py URL [--user U --password P] [--head]
Prints one JSON line: {"status": CODE, "challenge": the first
WWW-Authenticate or null, "directory": the JSON body or null,
"attempts": requests made}. Exits 0 whatever the status."""
import argparse
import hashlib
import http.client
import json
import os
import re
import urllib.parse


def digest(challenge, user, password, method, uri):
    f = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    ha1 = hashlib.md5(f"{user}:{f['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    cnonce = os.urandom(8).hex()
    resp = hashlib.md5(f"{ha1}:{f['nonce']}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (f'Digest username="{user}", realm="{f["realm"]}", nonce="{f["nonce"]}", '
            f'uri="{uri}", algorithm=MD5, response="{resp}", qop=auth, nc=00000001, '
            f'cnonce="{cnonce}"')


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--head", action="store_true")
    a = p.parse_args()
    u = urllib.parse.urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    method, target = ("HEAD" if a.head else "GET"), u.path or "/"
    headers, attempts, challenge = {}, 0, None
    while True:
        conn.request(method, target, headers=headers)
        r = conn.getresponse()
        body = r.read()
        attempts += 1
        challenge = challenge or r.getheader("WWW-Authenticate")
        if r.status != 401 or not a.user or attempts > 1:
            break
        headers = {"Authorization": digest(r.getheader("WWW-Authenticate"), a.user,
                                           a.password, method, target)}
    out = {"status": r.status, "challenge": challenge, "attempts": attempts,
           "content_type": r.getheader("Content-Type"),
           "directory": json.loads(body) if r.status == 200 and body else None}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
