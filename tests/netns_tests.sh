#!/usr/bin/env bash
# Tests that need more than loopback: hosts in network namespaces this
# script creates and deletes itself (a NAT router doing nft masquerade, a
# phone behind it, an interface address that appears after start-up, a
# proxy with an interface in each of two subnets). All
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
. "$HERE/clients_lib.sh"
. "$HERE/netns_lib.sh"
NS=sbt$$

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

# nat_lan: an office LAN (10.0.0.0/24, a bridge in the router's namespace)
# with the proxy (namespace pbx, 10.0.0.2) and alice's phone (namespace
# office, 10.0.0.3), and a home LAN behind a NAT router: namespace rtr has
# 10.0.0.1 on the office bridge and 192.168.50.1 inside, and masquerades
# what leaves for the office (nft); namespace home has 192.168.50.2 (bob's
# phone) and its default route through the router. Nothing routes out of
# these namespaces.
nat_lan() {
    PBX=${NS}pbx OFFICE=${NS}office RTR=${NS}rtr HOME_NS=${NS}home
    ns_add "$PBX" && ns_add "$OFFICE" && ns_add "$RTR" && ns_add "$HOME_NS" || return 1
    ip -n "$RTR" link add br0 type bridge || return 1
    ip link add pbx0 netns "$PBX" type veth peer name rtr0 netns "$RTR" &&
        ip link add office0 netns "$OFFICE" type veth peer name rtr2 netns "$RTR" &&
        ip link add home0 netns "$HOME_NS" type veth peer name rtr1 netns "$RTR" || return 1
    ip -n "$RTR" link set rtr0 master br0
    ip -n "$RTR" link set rtr2 master br0
    ip -n "$RTR" addr add 10.0.0.1/24 dev br0
    ip -n "$RTR" addr add 192.168.50.1/24 dev rtr1
    ip -n "$PBX" addr add 10.0.0.2/24 dev pbx0
    ip -n "$OFFICE" addr add 10.0.0.3/24 dev office0
    ip -n "$HOME_NS" addr add 192.168.50.2/24 dev home0
    local dev
    for dev in br0 rtr0 rtr1 rtr2; do ip -n "$RTR" link set "$dev" up; done
    ip -n "$PBX" link set pbx0 up
    ip -n "$OFFICE" link set office0 up
    ip -n "$HOME_NS" link set home0 up
    ip -n "$HOME_NS" route add default via 192.168.50.1
    ip netns exec "$RTR" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$RTR" nft -f - <<'NFT' || { log "nft masquerade failed"; return 1; }
table ip nat {
    chain post {
        type nat hook postrouting priority 100;
        ip saddr 192.168.50.0/24 oifname "br0" masquerade
    }
}
NFT
    # linphonec decides the network is down without a route to its probe
    # address; a host route onto the isolated link keeps it up (nothing is
    # ever sent there)
    ip -n "$OFFICE" route add 87.98.157.38/32 dev office0
}

# bob's phone sits behind the NAT router: it registers its private Contact
# (192.168.50.2) from the router's address; the proxy sees the NAT and
# reaches it at the address the REGISTER came from. alice (linphonec, on the
# proxy's LAN) calls bob; both hear each other (the office phone sends its
# audio where bob's comes from: symmetric RTP).
test_phone_behind_nat_receives_a_call() {
    nat_lan || return 1
    IP=10.0.0.2
    AT_PROXY="ip netns exec $PBX"
    launch_proxy_in "$PBX" -l "udp:$IP:$PROXY_PORT" --journal "$DIR/journal.jsonl" \
        --trace "$DIR/sip.pcap" || return 1
    baresip_setup bob bob 192.168.50.2 auto 440
    RUN_IN="ip netns exec $HOME_NS" baresip_start bob 25
    local bob=$LAST_PID
    registered bob 192.168.50.2 || return 1
    linphone_setup alice alice 10.0.0.3 1000
    RUN_IN="ip netns exec $OFFICE" linphone_start alice "$(calls_bob 'sleep 8' terminate 'sleep 1')"
    wait "$LAST_PID"
    stop_clients "$bob"
    stop_proxy || return 1
    # the INVITE went to the router's address, not to the private Contact
    local invite_to
    invite_to=$(tshark -r "$DIR/sip.pcap" -Y 'sip.Method == "INVITE" && ip.src == 10.0.0.2' \
        -T fields -e ip.dst -e sip.r-uri 2>/dev/null | head -1)
    log "INVITE to bob: $invite_to"
    case $invite_to in 10.0.0.1*192.168.50.2*) ;; *) log "INVITE did not go through the NAT"; return 1 ;; esac
    heard bob 1000 && heard alice 440 && journal_says outcome=answered
}

# --- keep-alives to phones behind NAT ([registrar] nat_keepalive) ---

# nat_pings KEEPALIVE: nat_lan with a router that forgets a silent UDP
# mapping after 4 s; the proxy with nat_keepalive = KEEPALIVE; bob (SIPp
# in the home, port 5070) registered through the NAT.
nat_pings() {
    nat_lan || return 1
    ip netns exec "$RTR" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=4 \
        net.netfilter.nf_conntrack_udp_timeout_stream=4 || return 1
    IP=10.0.0.2
    printf '[registrar]\nnat_keepalive = %s\n[proxy]\nt1_ms = 100\n' "$1" >"$DIR/pings.conf"
    launch_proxy_in "$PBX" -l "udp:$IP:$PROXY_PORT" -c "$DIR/pings.conf" --admin "127.0.0.1:18260" \
        || return 1
    home_sipp reg register.xml -m 1
}

# home_sipp NAME SCENARIO [args]: SIPp as bob in the home, towards the proxy.
home_sipp() {
    local name=$1 scenario=$2
    shift 2
    ip netns exec "$HOME_NS" sipp "$IP:$PROXY_PORT" -sf "$HERE/sipp/$scenario" -i 192.168.50.2 \
        -p 5070 -s bob -timeout 30 -timeout_error -nostdin -trace_msg \
        -message_file "$DIR/$name.msg" "$@" >"$DIR/$name.out" 2>&1
}

# office_calls_bob SCENARIO: SIPp as alice in the office calls bob.
office_calls_bob() {
    ip netns exec "$OFFICE" sipp "$IP:$PROXY_PORT" -sf "$HERE/sipp/$1" -i 10.0.0.3 -p 5080 \
        -s bob -m 1 -timeout 20 -timeout_error -nostdin >"$DIR/alice.out" 2>&1
}

# With nat_keepalive = 1 the proxy's OPTIONS keep the router's mapping
# open (SIPp -aa answers them; they count as calls, so no -m): after 6 s
# of silence from bob, alice's call still reaches him.
test_nat_keepalive_keeps_a_phone_reachable() {
    nat_pings 1 || { log "bob did not register: $(tail -3 "$DIR/reg.out")"; return 1; }
    home_sipp callee uas_answer_wait_bye.xml -aa &
    PIDS+=("$!")
    sleep 6
    office_calls_bob uac_call_caller_hangs_up.xml ||
        { log "alice's call failed: $(tail -3 "$DIR/alice.out")"; return 1; }
    grep -q "^OPTIONS sip:bob@192.168.50.2:5070" "$DIR/callee.msg" || { log "no keep-alive reached bob"; return 1; }
    stop_proxy
}

# Without keep-alives the router forgets bob: the same call times out.
test_without_nat_keepalive_the_phone_is_lost() {
    nat_pings 0 || { log "bob did not register: $(tail -3 "$DIR/reg.out")"; return 1; }
    home_sipp callee uas_answer_wait_bye.xml -aa &
    PIDS+=("$!")
    sleep 6
    office_calls_bob uac_final_408.xml || { log "alice did not get 408: $(tail -3 "$DIR/alice.out")"; return 1; }
    stop_proxy
}

# A phone that stops answering its keep-alives is reported, once: the
# log names it and nat_ping_lost counts it.
test_silent_phone_behind_nat_is_reported() {
    nat_pings 1 || { log "bob did not register: $(tail -3 "$DIR/reg.out")"; return 1; }
    local n
    for n in $(seq 100); do
        grep -q "nat keep-alive: bob 10.0.0.1:5070 stopped answering" "$DIR/proxy.log" && break
        sleep 0.2
    done
    grep -q "nat keep-alive: bob 10.0.0.1:5070 stopped answering" "$DIR/proxy.log" ||
        { log "not reported: $(tail -3 "$DIR/proxy.log")"; return 1; }
    sleep 3 # more unanswered pings: still one report
    expect_lines "reports" "$(grep -c "stopped answering" "$DIR/proxy.log")" 1 || return 1
    ip netns exec "$PBX" curl -s "http://127.0.0.1:18260/metrics" >"$DIR/metrics.txt"
    grep -q '^switchboard_events_total{event="nat_ping_lost"} 1$' "$DIR/metrics.txt" &&
        grep -Eq '^switchboard_events_total\{event="nat_pings"\} [1-9]' "$DIR/metrics.txt" ||
        { log "metrics: $(grep nat_ping "$DIR/metrics.txt")"; return 1; }
    stop_proxy
}

expect_lines() { # what actual expected
    [ "$2" -eq "$3" ] && return 0
    log "expected $3 $1, saw $2"
    return 1
}

# dst_of METHOD: where the proxy sent its first METHOD request.
dst_of() {
    tshark -r "$DIR/sip.pcap" -Y "sip.Method == \"$1\" && ip.src == 10.0.0.2" -T fields -e ip.dst \
        2>/dev/null | head -1
}

# The other way round: bob, behind the NAT, calls alice; alice hangs up.
# Her BYE names bob's private Contact, and reaches him through the NAT
# mapping our Record-Route's flow token names for the caller.
test_phone_behind_nat_calls_out() {
    nat_lan || return 1
    IP=10.0.0.2
    AT_PROXY="ip netns exec $PBX"
    launch_proxy_in "$PBX" -l "udp:$IP:$PROXY_PORT" --journal "$DIR/journal.jsonl" \
        --trace "$DIR/sip.pcap" || return 1
    linphone_setup alice alice 10.0.0.3 1000
    RUN_IN="ip netns exec $OFFICE" linphone_start alice "$(printf 'sleep 9\nterminate\nsleep 1')" -a
    local alice=$LAST_PID
    registered alice 10.0.0.3 || return 1
    baresip_setup bob bob 192.168.50.2 auto 440
    RUN_IN="ip netns exec $HOME_NS" baresip_start bob 20 "/dial sip:alice@$IP:$PROXY_PORT"
    local bob=$LAST_PID
    wait "$alice"
    sleep 1
    stop_clients "$bob"
    stop_proxy || return 1
    local bye_to
    bye_to=$(dst_of BYE)
    log "alice's BYE went to $bye_to"
    [ "$bye_to" = 10.0.0.1 ] || { log "the BYE did not go through the NAT"; return 1; }
    heard bob 1000 && heard alice 440 && journal_says outcome=answered hung_up_by=callee
}

# two_subnets: the proxy (namespace pbx) has one interface in each of two
# subnets, 10.1.0.1/24 towards namespace sub1 (alice, 10.1.0.10) and
# 10.2.0.1/24 towards namespace sub2 (bob, 10.2.0.10). Nothing routes
# between the subnets: each phone reaches only the proxy's address on its
# own subnet, as on an office LAN and a second one without a router.
two_subnets() {
    PBX=${NS}p2 SUB1=${NS}s1 SUB2=${NS}s2
    ns_add "$PBX" && ns_add "$SUB1" && ns_add "$SUB2" || return 1
    ip link add eth1 netns "$PBX" type veth peer name eth0 netns "$SUB1" &&
        ip link add eth2 netns "$PBX" type veth peer name eth0 netns "$SUB2" || return 1
    ip -n "$PBX" addr add 10.1.0.1/24 dev eth1
    ip -n "$PBX" addr add 10.2.0.1/24 dev eth2
    ip -n "$SUB1" addr add 10.1.0.10/24 dev eth0
    ip -n "$SUB2" addr add 10.2.0.10/24 dev eth0
    ip -n "$PBX" link set eth1 up
    ip -n "$PBX" link set eth2 up
    ip -n "$SUB1" link set eth0 up
    ip -n "$SUB2" link set eth0 up
}

# call_across_subnets WHO_HANGS_UP [TRANSPORT]: alice (sub1) calls bob (sub2)
# through the proxy listening on 0.0.0.0, both phones over TRANSPORT (udp or
# tcp); the INVITE bob gets must carry two Record-Routes (RFC 5658), bob's
# side on top; then the call is up and ended by WHO. Every request the proxy
# sends, either way, leaves from its address on the receiver's subnet with a
# Via naming that address (RFC 3261 §16.6 step 8), and the BYE is answered
# at once (UDP: sent once, no retransmission for want of a 200).
# (No audio check: with nothing routed between the subnets, media cannot
# flow phone to phone; this is about the signalling reaching both.)
call_across_subnets() {
    local tp=${2:-udp}
    two_subnets || return 1
    AT_PROXY="ip netns exec $PBX"
    launch_proxy_in "$PBX" -l "udp:0.0.0.0:$PROXY_PORT" -l "tcp:0.0.0.0:$PROXY_PORT" \
        --journal "$DIR/journal.jsonl" --trace "$DIR/sip.pcap" || return 1
    IP=10.2.0.1
    baresip_setup bob bob 10.2.0.10 auto 440
    IP=10.1.0.1
    baresip_setup alice alice 10.1.0.10 auto 1000
    if [ "$tp" = tcp ]; then
        sed -i "s/transport=udp/transport=tcp/" "$DIR/alice/accounts" "$DIR/bob/accounts"
        sed -i "s/^sip_trans_def.*/sip_trans_def\t\ttcp/" "$DIR/alice/config" "$DIR/bob/config"
    fi
    local bob_secs=20 alice_secs=8
    [ "$1" = callee ] && bob_secs=7 alice_secs=12
    IP=10.2.0.1
    RUN_IN="ip netns exec $SUB2" baresip_start bob $bob_secs
    local bob=$LAST_PID
    registered bob 10.2.0.10 || return 1
    IP=10.1.0.1
    RUN_IN="ip netns exec $SUB1" baresip_start alice $alice_secs "/dial sip:bob@10.1.0.1:$PROXY_PORT"
    local alice=$LAST_PID
    if [ "$1" = callee ]; then wait "$bob"; else wait "$alice"; fi
    sleep 1
    stop_clients "$alice" "$bob"
    stop_proxy || return 1
    local rr
    rr=$(tshark -r "$DIR/sip.pcap" -Y 'sip.Method == "INVITE" && ip.dst == 10.2.0.10' \
        -T fields -e sip.Record-Route 2>/dev/null | head -1)
    log "INVITE to bob: Record-Route $rr"
    case $rr in *10.2.0.1:$PROXY_PORT*,*10.1.0.1:$PROXY_PORT*) ;;
    *) log "want bob's side (10.2.0.1) then alice's (10.1.0.1)"; return 1 ;; esac
    tshark -r "$DIR/sip.pcap" -Y 'sip.Method && (ip.src == 10.1.0.1 || ip.src == 10.2.0.1)' \
        -T fields -e ip.src -e ip.dst -e sip.Method -e sip.Via 2>/dev/null >"$DIR/sent.txt"
    python3 - "$DIR/sent.txt" "$tp" "$1" >>"$DIR/test.log" 2>&1 <<'PY' || return 1
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
tp, who = sys.argv[2].upper(), sys.argv[3]
methods = [r[2] for r in rows]
assert "INVITE" in methods and "BYE" in methods, f"requests sent: {methods}"
for src, dst, method, via in rows:
    top = via.split(",")[0]
    assert top.startswith(f"SIP/2.0/{tp} {src}:"), f"{method} to {dst} left {src}, Via {top}"
    assert src.rsplit(".", 2)[0] == dst.rsplit(".", 2)[0], f"{method} to {dst} from {src}"
byes = [r for r in rows if r[2] == "BYE"]
want = "10.1.0.10" if who == "callee" else "10.2.0.10"
assert len(byes) == 1 and byes[0][1] == want, f"BYEs sent: {byes}"
print("requests sent:", ", ".join(f"{m} {s}->{d}" for s, d, m, _ in rows))
PY
    journal_says outcome=answered hung_up_by="$1"
}

test_call_between_two_subnets_caller_hangs_up() {
    call_across_subnets caller
}

test_call_between_two_subnets_callee_hangs_up() {
    call_across_subnets callee
}

test_call_between_two_subnets_over_tcp_callee_hangs_up() {
    call_across_subnets callee tcp
}

# No relay through a forged dialog: an INVITE to a foreign host with an
# invented To tag and "Route: <sip:PROXY;lr>" (not a Route we signed) is
# refused 403 and nothing reaches the foreign host. The proxy and the
# "foreign" host are namespaces on their own link, so nothing could leave
# even if it tried; a listener there counts what arrives.
test_forged_in_dialog_request_is_not_relayed() {
    local pbx=${NS}fp far=${NS}ff
    ns_add "$pbx" && ns_add "$far" || return 1
    ip link add fp0 netns "$pbx" type veth peer name ff0 netns "$far" || return 1
    ip -n "$pbx" addr add 10.20.0.1/24 dev fp0
    ip -n "$far" addr add 10.20.0.9/24 dev ff0
    ip -n "$pbx" link set fp0 up
    ip -n "$far" link set ff0 up
    launch_proxy_in "$pbx" -l "udp:10.20.0.1:$PROXY_PORT" || return 1
    ip netns exec "$far" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.20.0.9", 5099))
s.settimeout(3)
n = 0
try:
    while True:
        s.recv(65535)
        n += 1
except socket.timeout:
    pass
print(n)' >"$DIR/far.count" 2>&1 &
    local far_pid=$!
    PIDS+=("$far_pid")
    sleep 0.3
    local status
    status=$(ip netns exec "$pbx" python3 "$HERE/udp_probe.py" 10.20.0.1 "$PROXY_PORT" --bind 10.20.0.1 \
        --expect 403 --wait 1 --final --text \
        "INVITE sip:victim@10.20.0.9:5099 SIP/2.0\r\nVia: SIP/2.0/UDP 10.20.0.1:@PORT@;branch=z9hG4bK-forged1;rport\r\nRoute: <sip:10.20.0.1:$PROXY_PORT;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:fraud@10.20.0.1>;tag=f1\r\nTo: <sip:victim@10.20.0.9>;tag=invented\r\nCall-ID: forged-1\r\nCSeq: 1 INVITE\r\nContact: <sip:fraud@10.20.0.1:5099>\r\nContent-Length: 0\r\n\r\n")
    log "forged in-dialog INVITE: $status"
    wait "$far_pid"
    log "datagrams that reached the foreign host: $(cat "$DIR/far.count")"
    case $status in "got 403"*) ;; *) return 1 ;; esac
    [ "$(cat "$DIR/far.count")" = 0 ] || return 1
    stop_proxy && grep -qE "refused: a Route naming us that we did not sign=1[,;]" "$DIR/proxy.log" ||
        { log "not counted: $(grep stats: "$DIR/proxy.log")"; return 1; }
}

run_tests netns "" "$@"
