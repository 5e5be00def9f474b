#!/usr/bin/env bash
# SIPp benchmark: switchboard and Kamailio side by side on 127.0.0.1.
#   bench/run.sh           full run (under 10 minutes)
#   bench/run.sh --quick   smoke run (under 2 minutes)
#   bench/run.sh --study registrations|auth|tcp|tls|admin|office|redis|floor|media|ws [--quick]
#                          registrations with and without a store (SQLite),
#                          calls with and without digest authentication, or
#                          calls over TCP or TLS (SIPp -t tn; TLS through
#                          stunnel, Debian's SIPp has none) and memory per
#                          idle connection; or CPU per call with the admin
#                          plane off, idle, and /metrics scraped every second;
#                          or with no dial plan vs a 1000-extension one; or
#                          the Redis store vs SQLite vs memory only
#                          (registrations/s, CPU per call) and how fast a
#                          change at one node reaches another; or the
#                          machine's latency floor (bench/floor.c, an echo
#                          server; bench/relay_floor.c, a relay that does
#                          nothing, and its CPU per call) next to
#                          switchboard's and Kamailio's; or
#                          calls with their media relayed by one rtpengine,
#                          switchboard and Kamailio's rtpengine module, with
#                          the engine's own CPU and INVITE->180 latency (three
#                          rounds, each step's median round reported); or
#                          calls from a WebSocket client (bench/ws_tunnel.py,
#                          one WebSocket per call) vs a TCP one, switchboard
#                          and Kamailio's websocket module
# Installs what is missing, builds a Release binary, then runs bench/run.py,
# which prints the table and writes bench/results/<stamp>.json and .png.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_packages $SB_BUILD_PACKAGES sip-tester kamailio kamailio-sqlite-modules kamailio-tls-modules \
    sqlite3 python3 gnuplot-nox stunnel4 openssl redis-server rtpengine-daemon tshark \
    kamailio-websocket-modules
build build-release -DCMAKE_BUILD_TYPE=Release -DSB_TESTS=OFF
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec python3 bench/run.py "$@"
