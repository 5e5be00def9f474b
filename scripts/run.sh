#!/usr/bin/env bash
# Runs switchboard on conf/switchboard.conf (UDP and TCP on 0.0.0.0:5060; TLS
# when a tls: listen address and a [tls] certificate are added), installing
# what is missing and building first. Extra arguments go to switchboard,
# e.g. scripts/run.sh -l udp:127.0.0.1:5070 --log-level debug
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_packages $SB_BUILD_PACKAGES
# the page ws: and wss: serve; without it browsers' SIP still works
phone_deps || echo "switchboard: the softphone page's SIP.js could not be installed (npm)" >&2
build build-release -DCMAKE_BUILD_TYPE=Release -DSB_TESTS=OFF
exec build-release/switchboard -c conf/switchboard.conf --journal switchboard-journal.jsonl \
    --store switchboard-registrations.db "$@"
