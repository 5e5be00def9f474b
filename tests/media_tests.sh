#!/usr/bin/env bash
# Media relay through rtpengine (issue 26). Each test starts its own
# userspace rtpengine processes (--config-file=none, their own ng and
# media ports, no kernel module) and ends them by PID; tests/ng_tool.py
# asks an engine what it holds, independently of switchboard's client.
#
#   - SIPp on 127.0.0.1: which messages' SDP goes through the engine
#     (offer, answer, late offer, re-INVITEs), that BYE, CANCEL, 486 and a
#     timeout leave it holding no session, 200 calls with RTP, an engine
#     killed and restarted, on_failure = refuse, two engines by weight;
#   - network namespaces (tests/netns_lib.sh): an office LAN with
#     switchboard and an rtpengine, two homes behind their own nft NAT
#     routers, real phones (baresip, linphonec) and real audio: a tone
#     each side plays must be found in the other side's recording; the
#     softphone page in Chromium at home calling and called by Linphone in
#     the office (its fake microphone a tone; what it hears read from an
#     AnalyserNode).
#
# usage: tests/media_tests.sh BINARY OUTDIR [TEST...]
set -u
BIN=$(realpath "$1")
OUT=$2
shift 2 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
IP=127.0.0.1
PROXY_PORT=${SB_TEST_PORT:-15760}
ADMIN_PORT=${SB_TEST_ADMIN_PORT:-18760}
NG_A=${SB_TEST_NG_PORT:-22230}
NG_B=$((NG_A + 1))
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

. "$HERE/lib.sh"
. "$HERE/sipp_lib.sh"
. "$HERE/engine_lib.sh"

cleanup_test() {
    engines_stop
    if declare -F netns_cleanup >/dev/null; then netns_cleanup; fi
}

start_proxy() {
    launch_proxy --listeners 1 --workers 2 --log-level info --admin "$IP:$ADMIN_PORT" \
        --journal "$DIR/journal.jsonl" "$@"
}

# media_conf [RELAY] [ON-FAILURE] [ENGINES]: a config file's path.
media_conf() {
    printf '[media]\nrtpengine = %s\nrelay = %s\non_failure = %s\n' \
        "${3:-udp:$IP:$NG_A}" "${1:-always}" "${2:-continue}" >"$DIR/media.conf"
    printf '[proxy]\ntimer_c_ms = 2000\n' >>"$DIR/media.conf"
    echo "$DIR/media.conf"
}

# received NAME: the messages SIPp run NAME received (not those it sent).
received() {
    awk '/^(UDP|TCP) message received/ { r = 1; next } /^(UDP|TCP) message sent/ { r = 0 } r' \
        "$DIR/$1.msg" | tr -d '\r'
}

# ports_in NAME FIRST: does every m=audio line SIPp run NAME received name
# a port in FIRST..FIRST+99 (the engine's)? And is there one?
ports_in() {
    local file=$DIR/$1.rx first=$2 port n=0
    received "$1" >"$file"
    for port in $(sed -n 's/^m=audio \([0-9]*\) .*/\1/p' "$file"); do
        n=$((n + 1))
        if [ "$port" -lt "$first" ] || [ "$port" -gt $((first + 99)) ]; then
            log "$file: m=audio $port, not one of the engine's"
            return 1
        fi
    done
    [ $n -gt 0 ] || log "$file: no m=audio line"
    [ $n -gt 0 ]
}

metric_event() { # EVENT: switchboard_events_total{event="EVENT"}
    curl -s -m 5 "http://$IP:$ADMIN_PORT/metrics" |
        sed -n "s/^switchboard_events_total{event=\"$1\"} //p"
}

engine_up_metric() { # switchboard_media_engine_up of engine a
    curl -s -m 5 "http://$IP:$ADMIN_PORT/metrics" |
        sed -n "s/^switchboard_media_engine_up{engine=\"udp:$IP:$NG_A\"} //p"
}

# --- SIPp on 127.0.0.1 ----------------------------------------------------------

# The default (relay = never) with an engine configured: nothing goes to
# it and the callee gets the caller's SDP as it was.
test_never_leaves_sdp_alone() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf never)" || return 1
    call_flow_registered uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    grep -q '^m=audio 20800 ' "$DIR/callee.msg" || { log "the callee did not get the caller's SDP"; return 1; }
    expect_count offers "$(offers a)" 0 && stop_proxy
}

call_flow_registered() {
    register_user reg 15070 bob && place_call "$1" "$2"
}

# relay = always: the callee sees the engine's port for the caller, the
# caller the engine's port for the callee; BYE leaves the engine empty
# and the journal line names the engine.
test_always_relays_both_ways() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf always)" || return 1
    call_flow_registered uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    ports_in callee 31000 && ports_in caller 31000 && expect_engine_empty "$NG_A" &&
        stop_proxy || return 1
    grep -q "\"media\":{\"engine\":\"$IP:$NG_A\"" "$DIR/journal.jsonl" ||
        { log "journal: $(cat "$DIR/journal.jsonl")"; return 1; }
}

# --- browsers (RFC 7118): WebRTC bridged to RTP/AVP ---------------------------

WS_PORT=$((PROXY_PORT + 6))

# has_lines FILE LABEL PATTERN...: every PATTERN is among FILE's LABEL: lines.
has_lines() {
    local file=$1 label=$2 pat
    shift 2
    for pat in "$@"; do
        grep -q "^$label: $pat" "$file" || { log "$file: no '$label: $pat'"; return 1; }
    done
}

# lacks_lines FILE PATTERN...: no PATTERN in FILE (what SIPp received).
lacks_lines() {
    local file=$1 pat
    shift
    for pat in "$@"; do
        ! grep -q "$pat" "$file" || { log "$file: '$pat' should be gone"; return 1; }
    done
}

# A browser (stream_ua.py over ws:, a WebRTC SDP) calls a UDP phone with
# relay = never: relayed all the same; the phone is offered RTP/AVP with
# no ICE, DTLS or rtcp-mux, the browser answered UDP/TLS/RTP/SAVPF with
# ICE, a fingerprint and the engine's DTLS role for the browser's actpass
# (active: it starts the handshake); the BYE empties the engine.
test_browser_calls_a_phone_bridged() {
    start_engine a "$NG_A" 31000 &&
        start_proxy -c "$(media_conf never)" -l "ws:$IP:$WS_PORT" || return 1
    register_user reg 15070 bob || return 1
    sipp_start callee uas_answer_wait_bye.xml 15070 bob
    local callee=$SIPP_PID
    sleep 0.2
    ua caller caller --proxy "$IP:$WS_PORT" --transport ws --user alice --target bob \
        --sdp webrtc --hangup self
    ua_wait caller "$UA_PID" && sipp_wait callee "$callee" || return 1
    ports_in callee 31000 &&
        grep -q '^m=audio [0-9]* RTP/AVP ' "$DIR/callee.rx" &&
        lacks_lines "$DIR/callee.rx" 'a=ice-ufrag' 'a=fingerprint' 'a=rtcp-mux' 'SAVPF' &&
        has_lines "$DIR/caller.out" answer 'm=audio [0-9]* UDP/TLS/RTP/SAVPF ' 'a=ice-ufrag:' \
            'a=fingerprint:' 'a=setup:active' 'a=rtcp-mux' 'a=candidate:' &&
        expect_engine_empty "$NG_A" && stop_proxy
}

# A UDP phone calls a browser: the browser is offered WebRTC (ICE, DTLS
# with the engine passive: actpass offered, rtcp-mux), the phone's answer
# is RTP/AVP on the engine's port.
test_phone_calls_a_browser_bridged() {
    start_engine a "$NG_A" 31000 &&
        start_proxy -c "$(media_conf never)" -l "ws:$IP:$WS_PORT" || return 1
    ua callee callee --proxy "$IP:$WS_PORT" --transport ws --user bob --sdp webrtc --hangup peer
    local callee=$UA_PID
    wait_for_line "$DIR/callee.out" registered || return 1
    sipp_run caller uac_call_caller_hangs_up.xml 15080 bob && ua_wait callee "$callee" || return 1
    has_lines "$DIR/callee.out" offer 'm=audio [0-9]* UDP/TLS/RTP/SAVPF ' 'a=ice-ufrag:' \
        'a=fingerprint:' 'a=setup:actpass' 'a=rtcp-mux' 'a=candidate:' &&
        ports_in caller 31000 && grep -q '^m=audio [0-9]* RTP/AVP ' "$DIR/caller.rx" &&
        lacks_lines "$DIR/caller.rx" 'a=ice-ufrag' 'a=fingerprint' 'SAVPF' &&
        expect_engine_empty "$NG_A" && stop_proxy
}

# Hold and resume: both re-INVITEs' offers and answers go through the
# engine, on the ports the call already had.
test_reinvite_hold_resume_keeps_relay() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf always)" || return 1
    call_flow_registered uas_media_reinvite.xml uac_media_reinvite.xml || return 1
    ports_in callee 31000 && ports_in caller 31000 || return 1
    local distinct
    distinct=$(sed -n 's/^m=audio \([0-9]*\) .*/\1/p' "$DIR/callee.rx" | sort -u | wc -l)
    expect_count "distinct relay ports in the callee's three INVITEs" "$distinct" 1 &&
        grep -q '^a=sendonly' "$DIR/callee.msg" && expect_engine_empty "$NG_A" && stop_proxy
}

# A late offer: the offer is the callee's 200, the answer the caller's ACK.
test_late_offer_answered_on_ack() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf always)" || return 1
    call_flow_registered uas_answer_wait_bye.xml uac_late_offer.xml || return 1
    grep -q '^ACK ' "$DIR/callee.msg" && ports_in callee 31000 && ports_in caller 31000 &&
        expect_engine_empty "$NG_A" && stop_proxy
}

# CANCEL, 486 and Timer C's timeout each end a relayed attempt: the
# engine was asked each time and holds nothing after.
test_failures_leave_no_session() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf always)" || return 1
    register_user reg 15070 bob || return 1
    place_call uas_ring_until_cancel.xml uac_cancel_while_ringing.xml &&
        expect_engine_empty "$NG_A" || return 1
    place_call uas_reject_busy.xml uac_rejected_busy.xml && expect_engine_empty "$NG_A" || return 1
    place_call uas_ring_until_cancel.xml uac_final_408.xml && expect_engine_empty "$NG_A" || return 1
    expect_count offers "$(offers a)" 3 && stop_proxy
}

# two_devices LOSER-SCENARIO: an engine, the proxy relaying always, and
# bob on two devices: the winner (15070) answers, the loser (15072) runs
# LOSER-SCENARIO; their PIDs in the caller's winner and loser.
two_devices() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf always)" || return 1
    register_user reg1 15070 bob && register_user reg2 15072 bob || return 1
    sipp_start winner uas_answer_wait_bye.xml 15070 bob
    winner=$SIPP_PID
    sipp_start loser "$1" 15072 bob
    loser=$SIPP_PID
    sleep 0.2
}

# Two devices ring; the one that answers gets the relayed SDP, the one
# that lost is cancelled, and the engine is empty after the call.
test_fork_relays_the_answering_device() {
    local winner loser
    two_devices uas_ring_until_cancel.xml || return 1
    sipp_run caller uac_call_caller_hangs_up.xml 15080 bob && sipp_wait winner "$winner" &&
        sipp_wait loser "$loser" || return 1
    ports_in winner 31000 && ports_in caller 31000 &&
        expect_count "loser CANCELs" "$(count_received loser CANCEL)" 1 &&
        expect_engine_empty "$NG_A" && stop_proxy
}

# A device that lost sent early media (183 with SDP, its own leg in the
# engine): once the other answers, its leg goes at once; the engine holds
# the caller's and the winner's only while the call is up.
test_fork_drops_the_losers_early_media() {
    local winner loser
    two_devices uas_early_media_until_cancel.xml || return 1
    sipp_start caller uac_call_hold.xml 15080 bob -d 3000
    local caller=$SIPP_PID legs=
    for _ in $(seq 30); do # the call is up once the loser was cancelled
        sleep 0.1
        grep -q CANCEL "$DIR/loser.msg" 2>/dev/null || continue
        sleep 0.5
        python3 "$HERE/ng_tool.py" "$IP:$NG_A" query "$(sed -n 's/^Call-ID: *//p' \
            "$DIR/loser.msg" | head -1 | tr -d '\r')" >"$DIR/query.json"
        # the legs that still hold media ports
        legs=$(python3 -c 'import json, sys
tags = json.load(open(sys.argv[1]))["tags"]
print(" ".join(sorted(t for t, v in tags.items()
                      if any(s.get("local port") for m in v.get("medias", []) for s in m.get("streams", [])))))' \
            "$DIR/query.json")
        break
    done
    log "legs in the engine while the call is up: $legs"
    sipp_wait caller "$caller" && sipp_wait winner "$winner" && sipp_wait loser "$loser" || return 1
    case $legs in *early*) log "the loser's leg is still there"; return 1 ;; esac
    expect_count "legs" "$(echo "$legs" | wc -w)" 2 && expect_engine_empty "$NG_A" && stop_proxy
}

# A ring group (the office's dial plan): both members ring, carol with
# early media; bob answers and is relayed, carol's leg goes.
test_ring_group_relays_the_member_who_answered() {
    start_engine a "$NG_A" 31000 || return 1
    local conf
    conf=$(media_conf always)
    printf '[extensions]\n200 = sales\n[groups]\nsales = all: bob, carol\n' >>"$conf"
    start_proxy -c "$conf" || return 1
    register_user reg1 15070 bob && register_user reg2 15072 carol || return 1
    sipp_start bob uas_answer_wait_bye.xml 15070 bob
    local bob=$SIPP_PID
    sipp_start carol uas_early_media_until_cancel.xml 15072 carol
    local carol=$SIPP_PID
    sleep 0.2
    # (a caller that takes carol's 183s, as a phone does)
    sipp_run caller uac_call_hold.xml 15080 200 -d 500 && sipp_wait bob "$bob" &&
        sipp_wait carol "$carol" || return 1
    ports_in bob 31000 && ports_in caller 31000 &&
        expect_count "CANCELs to carol" "$(count_received carol CANCEL)" 1 &&
        expect_engine_empty "$NG_A" && stop_proxy
}

# switchboard restarts during a relayed call: the BYE reaches the other
# phone through the new process, and the engine our Route names (not a
# table the old process held) deletes the call.
test_restart_keeps_the_calls_engine() {
    start_engine a "$NG_A" 31000 || return 1
    local conf
    conf=$(media_conf always)
    start_proxy -c "$conf" --store "$DIR/store.db" || return 1
    register_user reg 15070 bob || return 1
    sipp_start callee uas_answer_wait_bye.xml 15070 bob
    local callee=$SIPP_PID
    sleep 0.2
    sipp_start caller uac_call_hold.xml 15080 bob -d 3000
    local caller=$SIPP_PID
    sleep 1.5
    expect_count "calls the engine holds mid-call" "$(engine_calls "$NG_A")" 1 || return 1
    stop_proxy && start_proxy -c "$conf" --store "$DIR/store.db" || return 1
    sipp_wait caller "$caller" && sipp_wait callee "$callee" &&
        expect_count "BYEs at the callee" "$(count_received callee BYE)" 1 &&
        expect_engine_empty "$NG_A" && stop_proxy
}

# SIPp's stock load-test layout, relayed: one UAS process registers bob
# and serves every call out of call (-oocsf), answering and hanging up
# itself; the caller has a TCP connection per call (-t tn). Every BYE
# (the callee's) ends its call's session: the engine is empty after.
test_out_of_call_uas_hangs_up_relayed() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf always)" \
        -l "tcp:$IP:$PROXY_PORT" || return 1
    sipp_start callee reg_hold.xml 15070 bob -oocsf "$SIPP_DIR/uas_answer_send_bye.xml" -d 60000
    local callee=$SIPP_PID
    sleep 0.5
    sipp_run caller uac_call_callee_hangs_up.xml 15080 bob -t tn -max_socket 1000 -m 100 -r 50 \
        -l 20 || return 1
    expect_count "BYEs at the caller" "$(count_received caller BYE)" 100 || return 1
    kill "$callee" 2>/dev/null
    sleep 0.5
    expect_count offers "$(offers a)" 100 && expect_engine_empty "$NG_A" && stop_proxy
}

# relay = nat: two phones on the same network, neither behind NAT: not
# relayed.
test_nat_mode_leaves_lan_calls() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf nat)" || return 1
    call_flow_registered uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    grep -q '^m=audio 20800 ' "$DIR/callee.msg" && expect_count offers "$(offers a)" 0 &&
        grep -q '"media":null' "$DIR/journal.jsonl" && stop_proxy
}

# 200 calls with audio (SIPp plays a G.711 pcap through the relay): every
# journal line has packets from the caller, and the engine holds nothing.
test_200_calls_with_rtp_leave_nothing() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf always)" || return 1
    # each call holds 4 media ports for 1 s: 100 ports suffice at 20 calls/s
    register_user reg 15070 bob || return 1
    sipp_start callee uas_answer_wait_bye.xml 15070 bob -m 200 -timeout 60
    local callee=$SIPP_PID
    sleep 0.2
    sipp_start caller uac_call_rtp.xml 15080 bob -m 200 -r 10 -l 20 -d 1000 -timeout 60
    local caller=$SIPP_PID seen=
    # the admin API (and the live page) show a call up as relayed
    for _ in $(seq 50); do
        curl -s -m 2 "http://$IP:$ADMIN_PORT/api/calls" | grep -q '"relayed":true' && seen=1 && break
        sleep 0.1
    done
    [ -n "$seen" ] || log "/api/calls never showed a relayed call"
    sipp_wait caller "$caller" && sipp_wait callee "$callee" && [ -n "$seen" ] || return 1
    sleep 0.5
    local lines with_audio
    lines=$(grep -c '"outcome":"answered"' "$DIR/journal.jsonl")
    with_audio=$(grep -c '"caller_to_callee":{"packets":[1-9]' "$DIR/journal.jsonl")
    expect_count "answered calls in the journal" "$lines" 200 &&
        expect_count "calls with the caller's audio relayed" "$with_audio" 200 &&
        expect_count offers "$(offers a)" 200 && expect_engine_empty "$NG_A" && stop_proxy
}

# rtpengine killed: calls go on unrelayed (on_failure = continue), once it
# is known dead without asking it again; restarted, relaying resumes.
test_engine_killed_calls_continue_then_resume() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf always)" || return 1
    register_user reg 15070 bob || return 1
    stop_engine a
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    grep -q '^m=audio 20800 ' "$DIR/callee.msg" || { log "first call: not the caller's SDP"; return 1; }
    local asked
    asked=$(metric_event media_ng_requests)
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    expect_count "ng requests for a call while the engine is down" \
        $(($(metric_event media_ng_requests) - asked)) 0 || return 1
    expect_count "calls signalled unrelayed" "$(metric_event media_unrelayed)" 2 &&
        expect_count "engine up (metrics)" "$(engine_up_metric)" 0 || return 1
    start_engine a "$NG_A" 31000 || return 1
    # its next ping (2 s after the last one gave up) finds it back
    for _ in $(seq 60); do
        [ "$(engine_up_metric)" = 1 ] && break
        sleep 0.1
    done
    expect_count "engine up (metrics)" "$(engine_up_metric)" 1 || return 1
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    ports_in callee 31000 && expect_engine_empty "$NG_A" && stop_proxy
}

# on_failure = refuse: no engine, no call (503).
test_refuse_without_engine() {
    start_engine a "$NG_A" 31000 && start_proxy -c "$(media_conf always refuse)" || return 1
    register_user reg 15070 bob || return 1
    stop_engine a
    sipp_run caller uac_final_503.xml 15080 bob &&
        expect_count "calls refused" "$(metric_event media_refused)" 1 && stop_proxy
}

# calls_through NAME N: N calls to bob, caller hangs up; all must succeed.
calls_through() {
    sipp_start "$1-callee" uas_answer_wait_bye.xml 15070 bob -m "$2" -timeout 60
    local callee=$SIPP_PID
    sleep 0.2
    sipp_run "$1" uac_call_caller_hangs_up.xml 15080 bob -m "$2" -r 10 -timeout 60 &&
        sipp_wait "$1-callee" "$callee"
}

# Two engines, weights 1 and 3: calls spread by weight; with the heavier
# killed, every new call goes to the other.
test_two_engines_by_weight() {
    start_engine a "$NG_A" 31000 && start_engine b "$NG_B" 31200 || return 1
    start_proxy -c "$(media_conf always continue \
        "udp:$IP:$NG_A;weight=1, udp:$IP:$NG_B;weight=3")" || return 1
    register_user reg 15070 bob || return 1
    sipp_start callee uas_answer_wait_bye.xml 15070 bob -m 40 -timeout 60
    local callee=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_caller_hangs_up.xml 15080 bob -m 40 -r 20 -timeout 60 &&
        sipp_wait callee "$callee" || return 1
    local a b
    a=$(offers a) b=$(offers b)
    log "offers: a (weight 1) $a, b (weight 3) $b"
    expect_count "offers in all" $((a + b)) 40 || return 1
    [ "$a" -gt 0 ] && [ "$b" -gt "$a" ] || { log "not spread by weight"; return 1; }
    stop_engine b
    # the calls meant for b while it is found out wait out one timeout and
    # go on unrelayed; none fails
    calls_through caller2 10 || return 1
    a=$(offers a)
    calls_through caller3 10 || return 1
    log "after b died: a $a, then $(offers a)"
    expect_count "new calls on a once b is out" $(($(offers a) - a)) 10 || return 1
    expect_engine_empty "$NG_A" && stop_proxy
}

# --- real phones through two NATs ------------------------------------------------

. "$HERE/clients_lib.sh"
. "$HERE/netns_lib.sh"
NS=sbm$$

# homes: an office LAN 10.0.0.0/24 (a bridge in namespace lan) with
# switchboard and an rtpengine (namespace pbx, 10.0.0.2) and a desk phone
# (namespace desk, 10.0.0.3); two homes, each behind a NAT router of its
# own doing nft masquerade onto the LAN: rtr1 (10.0.0.11) with home1
# 192.168.1.2 behind it, rtr2 (10.0.0.12) with home2 192.168.2.2. A home's
# private address is unreachable from the other home and from the LAN.
homes() {
    LAN=${NS}lan PBX=${NS}pbx DESK=${NS}desk
    ns_add "$LAN" && ns_add "$PBX" && ns_add "$DESK" || return 1
    ip -n "$LAN" link add br0 type bridge && ip -n "$LAN" link set br0 up || return 1
    lan_host "$PBX" 10.0.0.2 && lan_host "$DESK" 10.0.0.3 || return 1
    home 1 && home 2 || return 1
    # linphonec decides the network is down without a route to its probe
    # address; a host route onto the isolated link keeps it up
    ip -n "$DESK" route add 87.98.157.38/32 dev lan0
}

# lan_host NS ADDRESS: NS on the office bridge at ADDRESS.
lan_host() {
    local port=p${1: -4}
    ip link add lan0 netns "$1" type veth peer name "$port" netns "$LAN" || return 1
    ip -n "$LAN" link set "$port" master br0 && ip -n "$LAN" link set "$port" up
    ip -n "$1" addr add "$2/24" dev lan0 && ip -n "$1" link set lan0 up
}

# home N: router rtrN (10.0.0.1N on the LAN, 192.168.N.1 inside) and
# namespace homeN (192.168.N.2, its default route through the router).
home() {
    local n=$1 rtr=${NS}rtr$1 hm=${NS}home$1
    ns_add "$rtr" && ns_add "$hm" || return 1
    lan_host "$rtr" "10.0.0.1$n" || return 1
    ip link add in0 netns "$rtr" type veth peer name eth0 netns "$hm" || return 1
    ip -n "$rtr" addr add "192.168.$n.1/24" dev in0 && ip -n "$rtr" link set in0 up
    ip -n "$hm" addr add "192.168.$n.2/24" dev eth0 && ip -n "$hm" link set eth0 up
    ip -n "$hm" route add default via "192.168.$n.1"
    ip netns exec "$rtr" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$rtr" nft -f - <<NFT || { log "nft masquerade failed"; return 1; }
table ip nat {
    chain post {
        type nat hook postrouting priority 100;
        ip saddr 192.168.$n.0/24 oifname "lan0" masquerade
    }
}
NFT
}

# pbx_up's extra switchboard flags (a ws: listener for a browser)
PBX_FLAGS=()

# pbx_up RELAY [CONF]: in the office (namespace pbx, 10.0.0.2), an
# rtpengine and switchboard with [media] relay = RELAY (and CONF's lines),
# its journal and SIP trace in the test's folder.
pbx_up() {
    IP=10.0.0.2 ENGINE_IP=10.0.0.2
    AT_PROXY="ip netns exec $PBX"
    start_engine e "$NG_A" 31000 "$PBX" || return 1
    printf '[media]\nrtpengine = udp:%s:%s\nrelay = %s\n%b' "$ENGINE_IP" "$NG_A" "$1" "${2:-}" \
        >"$DIR/media.conf"
    ip netns exec "$PBX" "$BIN" -c "$DIR/media.conf" -l "udp:$IP:$PROXY_PORT" --workers 2 \
        --listeners 1 --admin none --journal "$DIR/journal.jsonl" --trace "$DIR/sip.pcap" \
        "${PBX_FLAGS[@]}" >"$DIR/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_ready
}

# homes_call RELAY: with [media] relay = RELAY, alice (linphonec in home2,
# 1 kHz) calls bob (baresip in home1, 440 Hz, answering at once), talks
# 8 s and hangs up.
homes_call() {
    homes && pbx_up "$1" || return 1
    baresip_setup bob bob 192.168.1.2 auto 440
    RUN_IN="ip netns exec ${NS}home1" baresip_start bob 25
    local bob=$LAST_PID
    registered bob 192.168.1.2 || return 1
    linphone_setup alice alice 192.168.2.2 1000
    RUN_IN="ip netns exec ${NS}home2" linphone_start alice "$(calls_bob 'sleep 8' terminate 'sleep 1')"
    wait "$LAST_PID"
    stop_clients "$bob"
    stop_proxy
}

# what the engine in the office holds
engine_calls_in_pbx() { ip netns exec "$PBX" python3 "$HERE/ng_tool.py" "$ENGINE_IP:$NG_A" count; }

# relay = never: each phone's SDP names its private address, which the
# other cannot reach: no audio either way (this is what shows the audio
# check can fail).
test_homes_without_relay_hear_nothing() {
    local IP ENGINE_IP AT_PROXY PBX DESK LAN # pbx_up's, this test's only
    homes_call never || return 1
    journal_says outcome=answered || return 1
    if heard bob 1000 || heard alice 440; then
        log "audio got through two NATs without a relay?"
        return 1
    fi
    expect_count offers "$(offers e)" 0
}

# relay = nat: both phones are behind NAT; the engine carries the audio
# both ways and holds nothing once they hung up.
test_homes_with_relay_hear_each_other() {
    local IP ENGINE_IP AT_PROXY PBX DESK LAN
    homes_call nat || return 1
    heard bob 1000 && heard alice 440 && journal_says outcome=answered "media=$ENGINE_IP:$NG_A" &&
        expect_count "calls the engine holds" "$(engine_calls_in_pbx)" 0
}

# Hold and resume with real phones through both NATs: alice (linphonec)
# pauses the call (re-INVITE, a=sendonly) and resumes it; after the
# resume each hears the other again, through the same relay.
test_homes_hold_and_resume_keep_audio() {
    local IP ENGINE_IP AT_PROXY PBX DESK LAN
    homes && pbx_up nat || return 1
    baresip_setup bob bob 192.168.1.2 auto 440
    RUN_IN="ip netns exec ${NS}home1" baresip_start bob 30
    local bob=$LAST_PID
    registered bob 192.168.1.2 || return 1
    linphone_setup alice alice 192.168.2.2 1000
    RUN_IN="ip netns exec ${NS}home2" linphone_start alice \
        "$(calls_bob 'sleep 4' 'pause 1' 'sleep 2' 'resume 1' 'sleep 7' terminate 'sleep 1')"
    wait "$LAST_PID"
    stop_clients "$bob"
    stop_proxy || return 1
    # the last 4 s are after the resume
    heard_all bob 1000 && heard_all alice 440 && journal_says outcome=answered reinvites=2 &&
        expect_count "calls the engine holds" "$(engine_calls_in_pbx)" 0
}

# relay = nat: a desk phone on the LAN calls a ring group (the office's
# dial plan) whose member is at home behind NAT: the call is relayed, as
# a direct call to that member would be.
test_lan_call_to_a_group_with_a_home_member() {
    local IP ENGINE_IP AT_PROXY PBX DESK LAN
    homes && pbx_up nat '[extensions]\n200 = sales\n[groups]\nsales = all: bob\n' || return 1
    baresip_setup bob bob 192.168.1.2 auto 440
    RUN_IN="ip netns exec ${NS}home1" baresip_start bob 25
    local bob=$LAST_PID
    registered bob 192.168.1.2 || return 1
    linphone_setup alice alice 10.0.0.3 1000
    RUN_IN="ip netns exec $DESK" linphone_start alice \
        "$(printf 'sleep 1\ncall sip:200@%s:%s\nsleep 7\nterminate\nsleep 1' "$IP" "$PROXY_PORT")"
    wait "$LAST_PID"
    stop_clients "$bob"
    stop_proxy || return 1
    heard bob 1000 && heard alice 440 && journal_says outcome=answered "media=$ENGINE_IP:$NG_A" &&
        expect_count "calls the engine holds" "$(engine_calls_in_pbx)" 0
}

# relay = nat: a call between two desk phones on the office LAN is not
# relayed, and its audio flows phone to phone.
test_lan_call_not_relayed() {
    local IP ENGINE_IP AT_PROXY PBX DESK LAN DESK2=${NS}desk2
    homes && ns_add "$DESK2" && lan_host "$DESK2" 10.0.0.4 && pbx_up nat || return 1
    baresip_setup bob bob 10.0.0.4 auto 440
    RUN_IN="ip netns exec $DESK2" baresip_start bob 25
    local bob=$LAST_PID
    registered bob 10.0.0.4 || return 1
    linphone_setup alice alice 10.0.0.3 1000
    RUN_IN="ip netns exec $DESK" linphone_start alice "$(calls_bob 'sleep 6' terminate 'sleep 1')"
    wait "$LAST_PID"
    stop_clients "$bob"
    stop_proxy || return 1
    heard bob 1000 && heard alice 440 && journal_says outcome=answered media=None &&
        expect_count offers "$(offers e)" 0
}

# --- a browser at home, Linphone in the office (issue 28) ----------------------

# page_at_home STEPS...: the softphone page in Chromium in home1 (behind its
# NAT router), from the office's ws: listener over plain http (its origin
# treated as secure, as HTTPS would be), its microphone a 440 Hz tone.
page_at_home() {
    local url="http://10.0.0.2:$WS_PORT/"
    sox -n -r 48000 -c 1 -b 16 "$DIR/page-tone.wav" synth 30 sine 440 vol 0.5
    ip netns exec "${NS}home1" python3 "$HERE/phone_check.py" "$url" "$DIR" \
        --secure-origin "$url" --fake-audio "$DIR/page-tone.wav" "$@" >"$DIR/page.out" 2>&1 &
    PAGE_PID=$!
    PIDS+=("$PAGE_PID")
}

page_done() {
    wait "$PAGE_PID" && return 0
    log "page: $(tail -3 "$DIR/page.out")"
    return 1
}

# browser_and_desk: the office with a ws: listener; alice is linphonec on
# the desk phone's address (10.0.0.3), playing 1 kHz.
browser_and_desk() {
    PBX_FLAGS=(-l "ws:10.0.0.2:$WS_PORT")
    homes && pbx_up nat || return 1
    linphone_setup alice alice 10.0.0.3 1000
}

# The page at home calls alice's Linphone on the LAN: both hear the other
# (sox finds the page's 440 Hz in what Linphone recorded, whatever level
# the browser's gain control left it at; the page's analyser the 1 kHz),
# the page hangs up, the engine holds nothing.
test_browser_at_home_calls_linphone() {
    local IP ENGINE_IP AT_PROXY PBX DESK LAN
    browser_and_desk || return 1
    RUN_IN="ip netns exec $DESK" linphone_start alice "sleep 25" -a
    local alice=$LAST_PID
    registered alice 10.0.0.3 || return 1
    page_at_home signin bob - status registered call alice state "in call with" level 0.02 \
        tone 1000 sleep 3 hangup idle
    page_done || return 1
    grep "remote audio" "$DIR/page.out" >>"$DIR/test.log"
    stop_clients "$alice"
    heard_all alice 440 && expect_count "calls the engine holds" "$(engine_calls_in_pbx)" 0 &&
        stop_proxy
}

# alice's Linphone calls the page at home: answered, each hears the other,
# alice hangs up and the page goes idle.
test_linphone_calls_the_browser_at_home() {
    local IP ENGINE_IP AT_PROXY PBX DESK LAN
    browser_and_desk || return 1
    page_at_home signin bob - status registered mark up incoming state "in call with" \
        level 0.02 tone 1000 idle
    for _ in $(seq 500); do [ -f "$DIR/up" ] && break; sleep 0.1; done
    [ -f "$DIR/up" ] || { page_done; log "the page did not register"; return 1; }
    RUN_IN="ip netns exec $DESK" linphone_start alice "$(calls_bob 'sleep 8' terminate 'sleep 1')"
    wait "$LAST_PID"
    page_done || return 1
    grep "remote audio" "$DIR/page.out" >>"$DIR/test.log"
    heard_all alice 440 && expect_count "calls the engine holds" "$(engine_calls_in_pbx)" 0 &&
        stop_proxy
}

run_tests "media relay" "" "$@"
