#!/usr/bin/env bash
# Tests that need more than loopback: hosts in network namespaces this
# script creates and deletes itself (a NAT router doing nft masquerade, a
# phone behind it, an interface address that appears after start-up). All
# addresses live inside those namespaces; nothing is routed off the machine.
# Needs root (ip netns). Every process is started here and ended by PID.
#
# usage: tests/netns_tests.sh BINARY OUTDIR [TEST...]
set -u
BIN=$(realpath "$1")
OUT=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
IP=127.0.0.1
PROXY_PORT=15260
mkdir -p "$OUT"
. "$HERE/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "netns tests: need root for ip netns"; exit 1; }

NS=sbt$$
declare -a NAMESPACES=()

# ns_add NAME: a namespace with its loopback up, deleted after the test.
ns_add() {
    ip netns add "$1" || return 1
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

# cleanup_test (called by kill_started): whatever still runs in our
# namespaces is ended, then the namespaces go.
cleanup_test() {
    local ns pid
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    NAMESPACES=()
}

# launch_proxy_in NS [flags...]: switchboard inside NS (ip netns exec execs
# it, so PROXY_PID is the proxy itself).
launch_proxy_in() {
    local ns=$1
    shift
    ip netns exec "$ns" "$BIN" --workers 2 --listeners 1 "$@" >"$DIR/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_ready
}

# register_probe NS TO RURI_HOST: one REGISTER for carol whose Request-URI
# and To name RURI_HOST, sent from inside NS to TO:$PROXY_PORT; prints
# the status code that came back (or "silence").
register_probe() {
    local ns=$1 to=$2 host=$3 bind=127.0.0.1
    [ "$to" = 127.0.0.1 ] || bind=$to
    ip netns exec "$ns" python3 "$HERE/udp_probe.py" "$to" "$PROXY_PORT" --bind "$bind" \
        --expect 200 --wait 0.3 --text \
        "REGISTER sip:$host:$PROXY_PORT SIP/2.0\r\nVia: SIP/2.0/UDP $bind:@PORT@;branch=z9hG4bK-a$RANDOM;rport\r\nFrom: <sip:carol@$host:$PROXY_PORT>;tag=a$RANDOM\r\nTo: <sip:carol@$host:$PROXY_PORT>\r\nCall-ID: addr-$RANDOM$RANDOM\r\nCSeq: 1 REGISTER\r\nContact: <sip:carol@$bind:5099>\r\nContent-Length: 0\r\n\r\n" |
        awk '/^got/ {sub(/,/, "", $2); print $2}'
}

# until_status WANT SECONDS COMMAND...: repeats COMMAND (which prints a
# status) until it prints WANT; prints the milliseconds it took, fails after
# SECONDS.
until_status() {
    local want=$1 limit=$2 start got
    shift 2
    start=$(date +%s%N)
    while :; do
        got=$("$@")
        [ "$got" = "$want" ] && break
        [ $((($(date +%s%N) - start) / 1000000)) -lt $((limit * 1000)) ] || {
            log "still $got, not $want, after $limit s"
            return 1
        }
        sleep 0.05
    done
    echo $((($(date +%s%N) - start) / 1000000))
}

# --- tests --------------------------------------------------------------------

# On a wildcard listen address, an address the host gains after start-up is
# "us" within a second (REGISTERs to it get 200, not 403), and one it loses
# stops being "us".
test_address_added_after_start() {
    local ns=${NS}a ms
    ns_add "$ns" || return 1
    launch_proxy_in "$ns" -l "udp:0.0.0.0:$PROXY_PORT" || return 1
    local before
    before=$(register_probe "$ns" 127.0.0.1 10.77.0.1)
    [ "$before" = 403 ] || { log "before the address exists: $before, not 403"; return 1; }
    ip -n "$ns" addr add 10.77.0.1/32 dev lo
    ms=$(until_status 200 1 register_probe "$ns" 10.77.0.1 10.77.0.1) || return 1
    log "REGISTER to the new address answered 200 after $ms ms"
    ip -n "$ns" addr del 10.77.0.1/32 dev lo
    ms=$(until_status 403 1 register_probe "$ns" 127.0.0.1 10.77.0.1) || return 1
    log "the removed address was refused (403) after $ms ms"
    grep -q "address 10.77.0.1 appeared" "$DIR/proxy.log" &&
        grep -q "address 10.77.0.1 went away" "$DIR/proxy.log" ||
        { log "the proxy did not log the change"; return 1; }
    stop_proxy
}

run_tests netns "" "$@"
