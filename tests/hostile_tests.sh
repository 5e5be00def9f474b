#!/usr/bin/env bash
# An attacker on the LAN: switchboard where strangers reach it, inside
# network namespaces this script creates and deletes itself. One bridge
# joins the proxy's host (10.0.0.2), two phones' hosts (10.0.0.3 and
# 10.0.0.4), an attacker (10.0.0.66) and a "foreign" host (10.0.0.77) that
# counts every datagram and connection reaching it; an "internal service"
# on the proxy's own loopback (127.0.0.1:6379, as Redis would be) counts
# the same. Every relay path the attacker tries must get 403 (or nothing)
# and zero packets must reach the foreign and internal hosts; real calls
# between the phones still work. Nothing routes out of these namespaces.
# Needs root (ip netns). Every process is started here and ended by PID.
#
# usage: tests/hostile_tests.sh BINARY OUTDIR [TEST...]
set -u
BIN=$(realpath "$1")
OUT=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
IP=10.0.0.2
PROXY_PORT=5060
mkdir -p "$OUT"
. "$HERE/lib.sh"
. "$HERE/clients_lib.sh"
. "$HERE/netns_lib.sh"
NS=sbh$$

# lan: the bridge and its five hosts; sinks on the foreign host and on the
# proxy host's loopback.
lan() {
    SW=${NS}sw PBX=${NS}pbx ALICE=${NS}alice BOB=${NS}bob ATT=${NS}att FOREIGN=${NS}far
    ns_add "$SW" || return 1
    ip -n "$SW" link add br0 type bridge && ip -n "$SW" link set br0 up || return 1
    local host addr
    for host in PBX:2 ALICE:3 BOB:4 ATT:66 FOREIGN:77; do
        local name=${host%%:*} last=${host#*:} ns
        ns=${!name}
        ns_add "$ns" || return 1
        ip link add eth0 netns "$ns" type veth peer name "p$last" netns "$SW" || return 1
        ip -n "$SW" link set "p$last" master br0
        ip -n "$SW" link set "p$last" up
        addr=10.0.0.$last
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
    sink "$FOREIGN" 10.0.0.77 5060 foreign && sink "$PBX" 127.0.0.1 6379 internal
}

# sink NS HOST PORT NAME: tests/sink.py counting into $DIR/NAME.count.
sink() {
    ip netns exec "$1" python3 "$HERE/sink.py" "$2" "$3" "$DIR/$4.count" &
    PIDS+=($!)
    local i
    for i in $(seq 50); do
        [ -s "$DIR/$4.count" ] && return 0
        sleep 0.05
    done
    log "sink $4 did not start"
    return 1
}

# nothing_reached NAME...: each sink counted no datagram and no connection.
nothing_reached() {
    local name
    sleep 0.5 # anything on its way has arrived
    for name in "$@"; do
        [ "$(cat "$DIR/$name.count")" = "udp 0 tcp 0" ] && continue
        log "the $name host was reached: $(cat "$DIR/$name.count")"
        return 1
    done
}

start_proxy() {
    ip netns exec "$PBX" "$BIN" -l "udp:$IP:$PROXY_PORT" -l "tcp:$IP:$PROXY_PORT" --workers 2 \
        --listeners 1 --admin none "$@" >"$DIR/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_ready
}

# attack EXPECT TEXT: one datagram from the attacker's host; the first
# answer must be EXPECT (a code, or silence).
attack() {
    ip netns exec "$ATT" python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" --bind 10.0.0.66 \
        --final --wait 1 --expect "$1" --text "$2" >>"$DIR/test.log" 2>&1 ||
        { log "attack expecting $1 failed: $2"; return 1; }
}

# attack_print EXPECT TEXT: as attack, printing the answer.
attack_print() {
    ip netns exec "$ATT" python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" --bind 10.0.0.66 \
        --final --wait 1 --expect "$1" --print --text "$2" | tr -d '\r'
}

# request METHOD RURI [HEADER LINES]: a request text from the attacker
# (\r\n escapes, as udp_probe.py takes them).
request() {
    local n=$RANDOM$RANDOM
    printf '%s %s SIP/2.0\\r\\nVia: SIP/2.0/UDP 10.0.0.66:@PORT@;branch=z9hG4bK-h%s;rport\\r\\n%sMax-Forwards: 70\\r\\nFrom: <sip:mallory@10.0.0.2>;tag=m%s\\r\\nTo: <%s>\\r\\nCall-ID: hostile-%s\\r\\nCSeq: 1 %s\\r\\nContact: <sip:mallory@10.0.0.66:@PORT@>\\r\\nContent-Length: 0\\r\\n\\r\\n' \
        "$1" "$2" "$n" "${3:-}" "$n" "$2" "$n" "$1"
}

# --- tests --------------------------------------------------------------------

# Out of dialog, a Route that is not ours: to the foreign host, after a
# Route naming us, and over TCP into the proxy host's own Redis port.
test_preloaded_routes_are_denied() {
    lan && start_proxy || return 1
    attack 403 "$(request INVITE sip:victim@10.0.0.77 'Route: <sip:10.0.0.77:5060;lr>\r\n')" &&
        attack 403 "$(request INVITE sip:victim@10.0.0.77 \
            'Route: <sip:10.0.0.2:5060;lr>\r\nRoute: <sip:10.0.0.77:5060;lr>\r\n')" &&
        attack 403 "$(request INVITE sip:victim@10.0.0.2 \
            'Route: <sip:127.0.0.1:6379;transport=tcp;lr>\r\n')" &&
        attack 403 "$(request MESSAGE sip:victim@10.0.0.77 'Route: <sip:10.0.0.77;lr>\r\n')" ||
        return 1
    attack silence "$(request ACK sip:victim@10.0.0.77 'Route: <sip:10.0.0.77:5060;lr>\r\n')" &&
        attack 403 "$(request INVITE sip:victim@10.0.0.77)" || return 1
    nothing_reached foreign internal || return 1
    grep -q "refused: out of dialog, a Route that is not ours" "$DIR/proxy.log" ||
        { log "the refusal was not logged"; return 1; }
    # a From user that unescapes to terminal controls and a line break is
    # logged escaped: it can neither clear the screen nor forge a line
    sleep 1.1 # the refusal log's once-a-second limit
    attack 403 "$(request INVITE sip:victim@10.0.0.77 'Route: <sip:10.0.0.77;lr>\r\n' |
        sed 's/mallory@/%1b%5b2Jm%0d%0a2026-01-01T00:00:00.000Z info  FAKE@/')" || return 1
    grep -q 'from \\x1b\[2Jm\\x0d\\x0a2026-01-01' "$DIR/proxy.log" ||
        { log "the From user was not logged escaped"; return 1; }
    if grep -q "$(printf '\033')" "$DIR/proxy.log" || grep -q "^2026-01-01" "$DIR/proxy.log"; then
        log "control characters reached the log"
        return 1
    fi
    stop_proxy
}

# Even with relay = yes, the proxy's own host stays out of reach: a
# Request-URI or Route naming its loopback, its own socket, or 0.0.0.0.
test_relay_never_reaches_the_proxy_host() {
    lan || return 1
    printf '[proxy]\nrelay = yes\n' >"$DIR/relay.conf"
    start_proxy -c "$DIR/relay.conf" || return 1
    attack 403 "$(request INVITE sip:x@127.0.0.1:6379)" &&
        attack 403 "$(request INVITE 'sip:x@127.0.0.1:6379;transport=tcp')" &&
        attack 403 "$(request OPTIONS sip:x@10.0.0.77 'Route: <sip:127.0.0.1:6379;lr>\r\n')" &&
        attack 403 "$(request INVITE sip:x@0.0.0.0:6379)" || return 1
    nothing_reached internal || return 1
    stop_proxy
}

# A REGISTER binding bob to 127.0.0.1:6379 (a third party's, From mallory)
# gets 403; a call to bob then finds nobody (404) and nothing reaches the
# internal service.
test_contact_on_loopback_is_refused() {
    lan && start_proxy || return 1
    local n=$RANDOM
    attack 403 "REGISTER sip:10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.66:@PORT@;branch=z9hG4bK-r$n;rport\r\nFrom: <sip:mallory@10.0.0.2>;tag=r$n\r\nTo: <sip:bob@10.0.0.2>\r\nCall-ID: reg-$n\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@127.0.0.1:6379;transport=tcp>\r\nContent-Length: 0\r\n\r\n" &&
        attack 404 "$(request INVITE sip:bob@10.0.0.2)" || return 1
    nothing_reached internal || return 1
    stop_proxy
}

# A response no transaction claims, with a Via naming us on top and the
# foreign host (or the internal service) below: forwarded nowhere.
test_forged_stray_response_goes_nowhere() {
    lan && start_proxy || return 1
    local target
    for target in 10.0.0.77:5060 127.0.0.1:6379; do
        attack silence "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-sb12345678.1f.AAAAAAAAAAA\r\nVia: SIP/2.0/UDP $target;branch=z9hG4bK-far;received=${target%:*};rport=${target#*:}\r\nFrom: <sip:a@10.0.0.2>;tag=1\r\nTo: <sip:b@10.0.0.2>;tag=2\r\nCall-ID: stray-$RANDOM\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n" ||
            return 1
    done
    nothing_reached foreign internal || return 1
    stop_proxy
}

# A Via that names a third party in its own received= (and no rport): the
# answer still reaches the true source, nothing the third party.
test_forged_received_is_answered_at_the_source() {
    lan && start_proxy || return 1
    local n=$RANDOM
    attack 200 "OPTIONS sip:10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.66:@PORT@;branch=z9hG4bK-o$n;received=10.0.0.77\r\nFrom: <sip:m@10.0.0.66>;tag=o$n\r\nTo: <sip:10.0.0.2>\r\nCall-ID: opt-$n\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" &&
        attack 200 "OPTIONS sip:10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP victim.example:@PORT@;branch=z9hG4bK-p$n\r\nFrom: <sip:m@10.0.0.66>;tag=p$n\r\nTo: <sip:10.0.0.2>\r\nCall-ID: opt2-$n\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" ||
        return 1
    nothing_reached foreign || return 1
    stop_proxy
}

# sipvicious's svmap (what scanners run first) finds the server.
test_svmap_finds_the_server() {
    lan && start_proxy || return 1
    ip netns exec "$ATT" timeout 30 svmap -b 10.0.0.66 -x 10.0.0.66 -p "$PROXY_PORT" 10.0.0.2 \
        >"$DIR/svmap.out" 2>&1
    grep -q "10.0.0.2:$PROXY_PORT" "$DIR/svmap.out" || { log "svmap did not list the server"; return 1; }
    nothing_reached foreign internal && stop_proxy
}

# A listen address strangers can reach while nobody is asked for a
# password is named in a warning at start (and not once authentication is
# on); [server] server_header = (empty) tells scanners nothing.
test_exposed_defaults_are_loud() {
    lan || return 1
    ip -n "$PBX" addr add 198.51.100.2/32 dev lo || return 1
    start_proxy -l udp:198.51.100.2:5060 || return 1
    grep -q "warn.*udp:198.51.100.2:5060 is reachable from outside.*require = none" \
        "$DIR/proxy.log" || { log "no warning for the public address"; return 1; }
    grep -q "warn.*udp:10.0.0.2:5060 is reachable" "$DIR/proxy.log" &&
        { log "a private address was called public"; return 1; }
    attack_print 200 "$(request OPTIONS sip:10.0.0.2)" | grep -q "^Server: switchboard" ||
        { log "no Server header by default"; return 1; }
    stop_proxy || return 1
    printf '[server]\nserver_header =\n[auth]\nrequire = register\nusers = %s\n' \
        "$DIR/users" >"$DIR/quiet.conf"
    : >"$DIR/users"
    start_proxy -c "$DIR/quiet.conf" -l udp:198.51.100.2:5060 || return 1
    grep -q "reachable from outside" "$DIR/proxy.log" &&
        { log "warned with authentication on"; return 1; }
    attack_print 200 "$(request OPTIONS sip:10.0.0.2)" | grep -q "^Server:" &&
        { log "a Server header although server_header is empty"; return 1; }
    stop_proxy
}

# users_file: alice, bob and 100 (password "secret"), realm office, as
# htdigest writes them, in $DIR/users.
users_file() {
    local u
    : >"$DIR/users"
    for u in alice bob 100; do
        printf '%s:office:%s\n' "$u" "$(printf '%s:office:secret' "$u" | md5sum | cut -d' ' -f1)" \
            >>"$DIR/users"
    done
}

# With [auth] require = all, svwar (sipvicious's extension scanner) cannot
# tell existing users from missing ones, by REGISTER, INVITE or OPTIONS:
# every one is challenged alike, so it reports none; a made-up caller ID
# from a domain we do not serve rings nobody.
test_svwar_finds_no_user() {
    lan && users_file || return 1
    printf '[auth]\nrequire = all\nrealm = office\nusers = %s\n' "$DIR/users" >"$DIR/auth.conf"
    start_proxy -c "$DIR/auth.conf" || return 1
    printf '%s\n' alice bob carol dave 100 101 102 103 110 >"$DIR/names"
    local m
    for m in REGISTER INVITE OPTIONS; do
        ip netns exec "$ATT" timeout 60 svwar -b 10.0.0.66 -x 10.0.0.66 -p "$PROXY_PORT" -m "$m" \
            --force -d "$DIR/names" 10.0.0.2 >"$DIR/svwar-$m.out" 2>&1
        grep -Eq '^\| *(alice|bob|100|carol|dave|10[0-9]|110) *\|' "$DIR/svwar-$m.out" &&
            { log "svwar -m $m told users apart: $(cat "$DIR/svwar-$m.out")"; return 1; }
        grep -q "found nothing" "$DIR/svwar-$m.out" ||
            { log "svwar -m $m did not finish: $(cat "$DIR/svwar-$m.out")"; return 1; }
    done
    attack 407 "$(request INVITE sip:alice@10.0.0.2 | sed 's/mallory@10.0.0.2/ceo@bank.example/')" &&
        attack 407 "$(request INVITE sip:nobody@10.0.0.2 | sed 's/mallory@10.0.0.2/ceo@bank.example/')" ||
        return 1
    stop_proxy
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$PROXY_PID/status"; }

# A stranger floods REGISTERs with 60 KiB headers and 16 Contacts each to
# random users over TCP: past max_aors_per_source (here 200) its new users
# get 403, the proxy's memory stays bounded (RSS grows by less than
# 64 MiB for 2000 such REGISTERs), and a real phone still registers and
# calls.
test_register_flood_leaves_memory_bounded() {
    lan || return 1
    # register_rate off: the per-source user limit is what is shown here
    printf '[registrar]\nmax_aors_per_source = 200\nregister_rate = 0\n' >"$DIR/flood.conf"
    start_proxy -c "$DIR/flood.conf" || return 1
    local before after
    before=$(rss_kib)
    ip netns exec "$ATT" timeout 120 python3 "$HERE/reg_flood.py" 10.0.0.2 "$PROXY_PORT" \
        --bind 10.0.0.66 --count 2000 >"$DIR/flood.out" 2>&1
    after=$(rss_kib)
    log "flood: $(cat "$DIR/flood.out"); RSS $before -> $after KiB"
    grep -q "200=200," "$DIR/flood.out" && grep -q "403=1800" "$DIR/flood.out" ||
        { log "expected 200 users registered and 1800 refused"; return 1; }
    # a sanitizer's quarantine keeps freed buffers resident: its stage
    # allows more (SB_TEST_GROWTH_LIMIT_KIB), the plain build 64 MiB
    local limit=${SB_TEST_GROWTH_LIMIT_KIB:-65536}
    [ $((after - before)) -lt "$limit" ] ||
        { log "RSS grew by $((after - before)) KiB (limit $limit)"; return 1; }
    sipp_in "$BOB" reg register.xml 10.0.0.4 5070 bob || { log "bob did not register"; return 1; }
    sipp_in "$BOB" callee uas_answer_wait_bye.xml 10.0.0.4 5070 bob &
    local callee=$!
    PIDS+=("$callee")
    sleep 0.3
    sipp_in "$ALICE" caller uac_call_caller_hangs_up.xml 10.0.0.3 5080 bob ||
        { log "the call after the flood failed"; return 1; }
    wait "$callee" && stop_proxy || return 1
    # with the defaults, the same stranger is also held to register_rate
    # (50 a second per worker, bursts of 100): most of a fast flood gets 503
    start_proxy || return 1
    ip netns exec "$ATT" timeout 60 python3 "$HERE/reg_flood.py" 10.0.0.2 "$PROXY_PORT" \
        --bind 10.0.0.66 --count 1000 --header-bytes 100 >"$DIR/rate.out" 2>&1
    log "flood at the default rate: $(cat "$DIR/rate.out")"
    local limited
    limited=$(grep -o '503=[0-9]*' "$DIR/rate.out" | cut -d= -f2)
    [ "${limited:-0}" -ge 500 ] || { log "register_rate let it through"; return 1; }
    stop_proxy
}

# sipvicious's svcrack against alice with a 60-word dictionary whose last
# word is her password: after max_failures (10) guesses its address is
# refused, so it never finds the password; the block is logged and
# counted, and alice's own phone still registers.
test_svcrack_is_throttled() {
    lan && users_file || return 1
    printf '[auth]\nrequire = register\nrealm = office\nusers = %s\n' "$DIR/users" >"$DIR/auth.conf"
    start_proxy -c "$DIR/auth.conf" || return 1
    { seq -f 'guess%g' 59; echo secret; } >"$DIR/dictionary"
    ip netns exec "$ATT" timeout 90 svcrack -b 10.0.0.66 -x 10.0.0.66 -p "$PROXY_PORT" -u alice \
        -d "$DIR/dictionary" 10.0.0.2 >"$DIR/svcrack.out" 2>&1
    if grep -q "secret" "$DIR/svcrack.out"; then
        log "svcrack found the password: $(cat "$DIR/svcrack.out")"
        return 1
    fi
    grep -q "auth: 10.0.0.66 (UDP, user alice) blocked" "$DIR/proxy.log" ||
        { log "no block logged: $(grep auth: "$DIR/proxy.log")"; return 1; }
    kill -USR1 "$PROXY_PID"
    sleep 0.3
    local refused
    refused=$(grep -o 'too many failures from the source=[0-9]*' "$DIR/proxy.log" | tail -1 | cut -d= -f2)
    [ "${refused:-0}" -gt 0 ] || { log "no throttled attempt counted"; return 1; }
    log "svcrack: $(tr '\n' ' ' <"$DIR/svcrack.out" | head -c 300); throttled attempts: $refused"
    stop_proxy
}

# sipp_in NS NAME SCENARIO HOST PORT SERVICE [args]: SIPp inside NS.
sipp_in() {
    local ns=$1 name=$2 scenario=$3 host=$4 port=$5 service=$6
    shift 6
    ip netns exec "$ns" sipp "$IP:$PROXY_PORT" -sf "$SIPP_DIR/$scenario" -i "$host" -p "$port" \
        -mp $((20000 + port % 1000 * 10)) -s "$service" -m 1 -timeout 30 -timeout_error -nostdin \
        -trace_msg -message_file "$DIR/$name.msg" "$@" >"$DIR/$name.out" 2>&1
}

# The policy leaves real calls alone: alice (10.0.0.3) calls bob
# (10.0.0.4), once hanging up herself and once bob hangs up; every
# in-dialog request follows our signed Record-Route.
test_calls_between_phones_still_work() {
    lan && start_proxy || return 1
    sipp_in "$BOB" reg register.xml 10.0.0.4 5070 bob || { log "bob did not register"; return 1; }
    local scen
    for scen in uas_answer_wait_bye.xml:uac_call_caller_hangs_up.xml \
        uas_answer_send_bye.xml:uac_call_callee_hangs_up.xml; do
        sipp_in "$BOB" callee "${scen%%:*}" 10.0.0.4 5070 bob &
        local callee=$!
        PIDS+=("$callee")
        sleep 0.3
        sipp_in "$ALICE" caller "${scen#*:}" 10.0.0.3 5080 bob || { log "call ${scen#*:} failed"; return 1; }
        wait "$callee" || { log "callee ${scen%%:*} failed"; return 1; }
    done
    nothing_reached foreign internal || return 1
    replay_the_calls_route && stop_proxy
}

# After the call: the attacker, who saw its 200 OK, replays the caller's
# signed Record-Route with the call's Call-ID and tags, toward the foreign
# host and the internal service: 403, nothing reaches them. And toward the
# call's own callee, the target the Route was signed for: the call has
# ended, so 481 and bob's address hears nothing (before the proxy kept
# dialog state, such a copy reached bob until max_call_length).
replay_the_calls_route() {
    local ok route call_id from_tag to_tag target
    ok=$(grep -m1 '^Record-Route:' "$DIR/caller.msg" | tr -d '\r')
    route=${ok#Record-Route: }
    [ -n "$route" ] || { log "no Record-Route seen by the caller"; return 1; }
    call_id=$(grep -m1 '^Call-ID:' "$DIR/caller.msg" | tr -d '\r' | cut -d' ' -f2)
    from_tag=$(grep -m1 '^From:' "$DIR/caller.msg" | tr -d '\r' | sed 's/.*tag=//')
    to_tag=$(grep '^To:.*tag=' "$DIR/caller.msg" | head -1 | tr -d '\r' | sed 's/.*tag=//')
    log "replaying $route (Call-ID $call_id, tags $from_tag/$to_tag)"
    for target in sip:x@10.0.0.77:5060 "sip:x@127.0.0.1:6379;transport=tcp"; do
        attack 403 "BYE $target SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.66:@PORT@;branch=z9hG4bK-rp$RANDOM;rport\r\nRoute: $route\r\nMax-Forwards: 70\r\nFrom: <sip:alice@10.0.0.2>;tag=$from_tag\r\nTo: <sip:bob@10.0.0.2>;tag=$to_tag\r\nCall-ID: $call_id\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n" ||
            return 1
    done
    sink "$BOB" 10.0.0.4 5070 phone || return 1
    attack 481 "BYE sip:bob@10.0.0.4:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.66:@PORT@;branch=z9hG4bK-rp$RANDOM;rport\r\nRoute: $route\r\nMax-Forwards: 70\r\nFrom: <sip:alice@10.0.0.2>;tag=$from_tag\r\nTo: <sip:bob@10.0.0.2>;tag=$to_tag\r\nCall-ID: $call_id\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n" ||
        return 1
    nothing_reached foreign internal phone
}

# across_a_restart ALICE WHO: real phones on the attacked LAN, across a
# restart with the call up. alice (baresip or linphonec, on 10.0.0.3)
# calls bob's baresip (10.0.0.4); while they talk the attacker replays
# the call's Route towards the foreign host and the internal service
# (403, nothing reaches them); the proxy is stopped and started again on
# its store, and WHO (alice or bob) hangs up: the BYE must reach the other
# phone once and its 200 come back. The new process does not know the
# call: the Route's signature vouches for it (dialog.h).
across_a_restart() {
    local kind=$1 who=$2 alice_secs=12 bob_secs=30
    [ "$who" = bob ] && alice_secs=30 bob_secs=12
    lan || return 1
    AT_PROXY="ip netns exec $PBX"
    start_proxy --store "$DIR/reg.db" --trace "$DIR/sip.pcap" || return 1
    baresip_setup bob bob 10.0.0.4 auto 440
    RUN_IN="ip netns exec $BOB" baresip_start bob $bob_secs
    local bob=$LAST_PID
    registered bob 10.0.0.4 || return 1
    if [ "$kind" = linphonec ]; then
        # linphonec wants a route to its probe address to call the network up
        ip -n "$ALICE" route add 87.98.157.38/32 dev eth0
        linphone_setup alice alice 10.0.0.3 1000
        RUN_IN="ip netns exec $ALICE" linphone_start alice "$(calls_bob "sleep $alice_secs")"
    else
        baresip_setup alice alice 10.0.0.3 auto 1000
        RUN_IN="ip netns exec $ALICE" baresip_start alice $alice_secs "/dial sip:bob@$IP:$PROXY_PORT"
    fi
    local alice=$LAST_PID
    sleep 5 # dialled within a second, answered at once
    local route target
    route=$(tshark -r "$DIR/sip.pcap" -Y "sip.Status-Code == 200 && sip.CSeq.method == \"INVITE\" && ip.dst == 10.0.0.3" \
        -T fields -e sip.Record-Route 2>/dev/null | head -1 | cut -d, -f1)
    [ -n "$route" ] || { log "no 200 with a Record-Route reached alice"; return 1; }
    for target in sip:x@10.0.0.77:5060 "sip:x@127.0.0.1:6379;transport=tcp"; do
        attack 403 "BYE $target SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.66:@PORT@;branch=z9hG4bK-rt$RANDOM;rport\r\nRoute: $route\r\nMax-Forwards: 70\r\nFrom: <sip:alice@10.0.0.2>;tag=x\r\nTo: <sip:bob@10.0.0.2>;tag=y\r\nCall-ID: x\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n" ||
            return 1
    done
    kill -TERM "$PROXY_PID"
    wait "$PROXY_PID" || { log "the proxy did not stop cleanly"; return 1; }
    mv "$DIR/proxy.log" "$DIR/proxy-before.log"
    mv "$DIR/sip.pcap" "$DIR/sip-before.pcap"
    start_proxy --store "$DIR/reg.db" --trace "$DIR/sip.pcap" || return 1
    local from=10.0.0.3 to=10.0.0.4
    if [ "$who" = bob ]; then
        wait "$bob"
        from=10.0.0.4 to=10.0.0.3
    else
        wait "$alice"
    fi
    sleep 1
    stop_clients "$alice" "$bob"
    stop_proxy || return 1
    local byes answers
    byes=$(tshark -r "$DIR/sip.pcap" -Y "sip.Method == \"BYE\" && ip.dst == $to" 2>/dev/null | wc -l)
    answers=$(tshark -r "$DIR/sip.pcap" -Y "sip.CSeq.method == \"BYE\" && ip.dst == $from" \
        -T fields -e sip.Status-Code 2>/dev/null | tr '\n' ' ')
    log "after the restart: $byes BYE(s) to $to; the BYE from $from got: $answers"
    [ "$byes" = 1 ] && [ "$answers" = "200 " ] ||
        { log "the BYE must reach the other phone once and get its 200"; return 1; }
    nothing_reached foreign internal
}

test_baresip_caller_hangs_up_across_a_restart() {
    across_a_restart baresip alice
}

test_linphone_call_callee_hangs_up_across_a_restart() {
    across_a_restart linphonec bob
}

run_tests hostile "" "$@"
