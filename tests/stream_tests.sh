#!/usr/bin/env bash
# TCP and TLS tests (RFC 3261 §18, RFC 5626, RFC 5630): the core call flows
# over TCP with SIPp (-t t1 and -t tn), across a transport switch (UDP caller
# and TCP callee, and back) with CANCEL and BYE both ways; the same over TLS
# with tests/stream_ua.py (Debian's SIPp is built without TLS, so `-t l1`
# does not exist there); a phone's flow that is gone (480); a big UDP INVITE
# that goes on over TCP (§18.1.1) or falls back to UDP; and stream torture
# (tests/stream_torture.py): split and coalesced messages, keep-alives, a
# missing Content-Length, 65 KiB, silent and slow clients, one that never
# reads, 10 000 idle connections.
#
# usage: tests/stream_tests.sh BINARY OUTDIR [WORKERS] [TEST...]
# The test CA and certificate are made here (openssl) in OUTDIR. Every
# process is started here and ended by PID.
set -u
BIN=$(realpath "$1")
OUT=$2
WORKERS=${3:-2}
shift 3 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
IP=127.0.0.1
PROXY_PORT=${SB_TEST_PORT:-15060}
TLS_PORT=$((PROXY_PORT + 1))
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

. "$HERE/lib.sh"
. "$HERE/sipp_lib.sh"

CA_DIR=$OUT/ca
make_test_ca "$CA_DIR" || { echo "cannot make a test CA"; exit 1; }

# start_proxy [flags]: UDP and TCP on PROXY_PORT, TLS on TLS_PORT.
start_proxy() {
    printf '[tls]\ncertificate = %s\nkey = %s\nca = %s\n' "$CA_DIR/cert.pem" "$CA_DIR/key.pem" \
        "$CA_DIR/ca.pem" >"$DIR/tls.conf"
    launch_proxy -c "$DIR/tls.conf" -l "tcp:$IP:$PROXY_PORT" -l "tls:$IP:$TLS_PORT" \
        --listeners 2 --workers "$WORKERS" --store none --log-level info "$@"
}
# launch_proxy gives -l udp:... first; the -c file comes before it in effect
launch_proxy() {
    "$BIN" -l "udp:$IP:$PROXY_PORT" "$@" >"$DIR/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_ready
}

# stream_call UAS UAC CALLEE_T CALLER_T: bob registers on 15070 and answers
# there with SIPp -t CALLEE_T; alice calls him from 15080 with -t CALLER_T.
stream_call() {
    local uas=$1 uac=$2 ct=$3 at=$4 rt=t1
    [ "$ct" = u1 ] && rt=u1
    start_proxy || return 1
    sipp_run reg register.xml 15070 bob -t "$rt" -max_socket 100 || return 1
    sipp_start callee "$uas" 15070 bob -t "$ct" -max_socket 100
    local callee=$SIPP_PID
    sleep 0.3
    sipp_run caller "$uac" 15080 bob -t "$at" -max_socket 100 || return 1
    sipp_wait callee "$callee"
}

# received_over NAME TRANSPORT: every message SIPp NAME received came over it.
received_over() {
    local other
    other=$(grep "message received" "$DIR/$1.msg" | grep -vc "^$2 message received")
    [ "$other" -eq 0 ] || { log "$1 received $other message(s) over another transport"; return 1; }
}

test_tcp_caller_hangs_up_t1() {
    stream_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml t1 t1 &&
        expect_count BYEs "$(count_received callee BYE)" 1 && received_over callee TCP &&
        received_over caller TCP && stop_proxy
}

test_tcp_caller_hangs_up_tn() {
    stream_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml tn tn &&
        expect_count BYEs "$(count_received callee BYE)" 1 && stop_proxy
}

test_tcp_callee_hangs_up() {
    stream_call uas_answer_send_bye.xml uac_call_callee_hangs_up.xml t1 tn &&
        expect_count BYEs "$(count_received caller BYE)" 1 && stop_proxy
}

test_tcp_cancel_while_ringing() {
    stream_call uas_ring_until_cancel.xml uac_cancel_while_ringing.xml t1 t1 &&
        expect_count CANCELs "$(count_received callee CANCEL)" 1 && stop_proxy
}

test_tcp_busy_486() {
    stream_call uas_reject_busy.xml uac_rejected_busy.xml tn t1 &&
        expect_count ACKs "$(count_received callee ACK)" 1 && stop_proxy
}

test_udp_caller_tcp_callee_caller_hangs_up() {
    stream_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml t1 u1 &&
        received_over callee TCP && received_over caller UDP &&
        expect_count BYEs "$(count_received callee BYE)" 1 && stop_proxy
}

test_udp_caller_tcp_callee_callee_hangs_up() {
    stream_call uas_answer_send_bye.xml uac_call_callee_hangs_up.xml t1 u1 &&
        expect_count BYEs "$(count_received caller BYE)" 1 && stop_proxy
}

test_udp_caller_tcp_callee_cancel() {
    stream_call uas_ring_until_cancel.xml uac_cancel_while_ringing.xml t1 u1 &&
        expect_count CANCELs "$(count_received callee CANCEL)" 1 && stop_proxy
}

test_tcp_caller_udp_callee_caller_hangs_up() {
    stream_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml u1 t1 &&
        received_over callee UDP && received_over caller TCP &&
        expect_count BYEs "$(count_received callee BYE)" 1 && stop_proxy
}

test_tcp_caller_udp_callee_callee_hangs_up() {
    stream_call uas_answer_send_bye.xml uac_call_callee_hangs_up.xml u1 tn &&
        expect_count BYEs "$(count_received caller BYE)" 1 && stop_proxy
}

test_tcp_caller_udp_callee_cancel() {
    stream_call uas_ring_until_cancel.xml uac_cancel_while_ringing.xml u1 t1 &&
        expect_count CANCELs "$(count_received callee CANCEL)" 1 && stop_proxy
}

# the two Record-Routes of RFC 5658 when the transport changes
test_transport_switch_double_record_route() {
    stream_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml t1 u1 || return 1
    local rr
    rr=$(grep -A30 "message received" "$DIR/callee.msg" | grep -m1 -A1 "^Record-Route:")
    echo "$rr" | grep -q "transport=tcp" && echo "$rr" | grep -q "^Record-Route: <sip:[^>]*15060;lr" ||
        { log "want one TCP and one UDP Record-Route, saw: $rr"; return 1; }
    expect_count "Record-Routes" "$(grep -A30 'message received' "$DIR/callee.msg" |
        grep -m2 -c '^Record-Route:')" 2 && stop_proxy
}

# --- TLS, with tests/stream_ua.py ------------------------------------------------


# tls_pair CALLEE_ARGS CALLER_ARGS: bob over TLS answers, alice over TLS calls.
tls_pair() {
    start_proxy || return 1
    ua callee callee --proxy "$IP:$TLS_PORT" --transport tls --user bob $1
    local callee=$UA_PID
    wait_for_line "$DIR/callee.out" registered || return 1
    ua caller caller --proxy "$IP:$TLS_PORT" --transport tls --user alice --target bob $2
    ua_wait caller "$UA_PID" && ua_wait callee "$callee"
}


test_tls_caller_hangs_up() {
    tls_pair "--hangup peer" "--hangup self" && stop_proxy
}

test_tls_callee_hangs_up() {
    tls_pair "--hangup self" "--hangup peer" && stop_proxy
}

test_tls_cancel() {
    tls_pair "--cancel" "--cancel" && stop_proxy
}

# trace_ladder PCAP TSHARK-ARGS...: every SIP message of the trace as
# "proto srcport dstport what", one a line, in $DIR/ladder.txt; the count of
# frames tshark's TCP analysis flags (lost or unseen segments) in $DIR/flags.txt
trace_ladder() {
    local pcap=$1
    shift
    tshark -r "$pcap" "$@" -Y sip -T fields -e ip.proto -e tcp.srcport -e tcp.dstport         -e udp.srcport -e sip.Method -e sip.Status-Code 2>/dev/null |
        awk -F'\t' '{print $1, $2 $4, $3, $5 $6}' >"$DIR/ladder.txt"
    tshark -r "$pcap" "$@" -Y tcp.analysis.flags 2>/dev/null | wc -l >"$DIR/flags.txt"
}

# The built-in trace records stream messages as TCP segments with the real
# ports (ours and the phone's ephemeral one) and sequence numbers that make
# a byte stream tshark follows without gaps; TLS ones in clear the same way.
test_trace_records_the_stream_transport() {
    start_proxy --trace "$DIR/tcp.pcap" || return 1
    sipp_run reg register.xml 15070 bob -t t1 -max_socket 100 || return 1
    sipp_start callee uas_answer_send_bye.xml 15070 bob -t t1 -max_socket 100
    local callee=$SIPP_PID
    sleep 0.3
    sipp_run caller uac_call_callee_hangs_up.xml 15080 bob -t t1 -max_socket 100 &&
        sipp_wait callee "$callee" || return 1
    ua callee2 callee --proxy "$IP:$TLS_PORT" --transport tls --user carol --hangup peer
    callee=$UA_PID
    wait_for_line "$DIR/callee2.out" registered || return 1
    ua caller2 caller --proxy "$IP:$TLS_PORT" --transport tls --user alice --target carol \
        --hangup self
    ua_wait caller2 "$UA_PID" && ua_wait callee2 "$callee" && stop_proxy || return 1
    trace_ladder "$DIR/tcp.pcap" -d "tcp.port==$TLS_PORT,sip"
    python3 - "$DIR/ladder.txt" "$(cat "$DIR/flags.txt")" "$PROXY_PORT" "$TLS_PORT" \
        >>"$DIR/test.log" 2>&1 <<'PY' || return 1
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
flags, tcp_port, tls_port = int(sys.argv[2]), sys.argv[3], sys.argv[4]
assert rows, "no SIP in the trace"
for r in rows:
    assert r[0] == "6", f"not TCP: {r}"
    assert r[1] != r[2] and "0" not in r[1:3], f"ports: {r}"
tls = [r for r in rows if tls_port in r[1:3]]
# bob's SIPp listens on 15070: the proxy connects to it from a port of its own
tcp = [r for r in rows if tcp_port in r[1:3] or "15070" in r[1:3]]
out = [r for r in rows if r[2] == "15070" and r[3] == "INVITE"]
assert out and all(r[1] not in (tcp_port, tls_port) for r in out), f"to bob: {out}"
assert len(tls) + len(tcp) == len(rows), f"other ports: {rows}"
def legs(rows, ours):
    """Messages by phone: keyed by the phone's port (15070 for bob's two)."""
    by = {}
    for r in rows:
        key = "15070" if "15070" in r[1:3] else [p for p in r[1:3] if p != ours][0]
        by.setdefault(key, []).append(r[3])
    return by
def ladder(seen, want):
    i = 0
    for s in seen:
        if i < len(want) and s == want[i]:
            i += 1
    return i == len(want)
# each phone's own messages in order (the legs interleave as they will)
t = legs(tcp, tcp_port)
assert ladder(t.get("15070", []), ["REGISTER", "200", "INVITE", "180", "200", "ACK", "BYE", "200"]), t
assert ladder(t.get("15080", []), ["INVITE", "180", "200", "ACK", "BYE", "200"]), t
l = sorted(legs(tls, tls_port).values(), key=lambda m: m[0] != "REGISTER")
assert len(l) == 2 and ladder(l[0], ["REGISTER", "200", "INVITE", "200", "ACK", "BYE", "200"]) and \
    ladder(l[1], ["INVITE", "200", "ACK", "BYE", "200"]), f"TLS legs {l}"
assert flags == 0, f"{flags} frame(s) with TCP analysis flags (gaps in the numbering)"
print("trace ok:", len(tcp), "TCP and", len(tls), "TLS messages")
PY
}

# api_connection USER: the "connection" of USER's first binding in the
# admin API ("open", "none", null for UDP)
api_connection() {
    curl -s "http://$IP:$ADMIN_PORT/api/registrations?user=$1" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["registrations"][0]["connection"])'
}

# A TCP binding outlives its connection: kill -9 and a restart on the same
# store bring it back without one. The admin API says so ("none", where a
# live TLS phone says "open"), and a call to it rings at once over a new
# connection to its Contact (SIPp listens there), no new REGISTER needed.
test_tcp_binding_reached_after_kill9() {
    ADMIN_PORT=$((PROXY_PORT + 3))
    start_proxy --store "$DIR/reg.db" --admin "$IP:$ADMIN_PORT" || return 1
    sipp_run reg register.xml 15070 bob -t t1 -max_socket 100 || return 1
    ua callee callee --proxy "$IP:$TLS_PORT" --transport tls --user carol --hangup peer
    local carol=$UA_PID
    wait_for_line "$DIR/callee.out" registered || return 1
    local open
    open=$(api_connection carol)
    [ "$open" = open ] || { log "carol, connected over TLS, is '$open' in the API"; return 1; }
    kill "$carol" 2>/dev/null
    wait "$carol" 2>/dev/null
    kill -9 "$PROXY_PID"
    wait "$PROXY_PID" 2>/dev/null
    mv "$DIR/proxy.log" "$DIR/proxy-before.log"
    start_proxy --store "$DIR/reg.db" --admin "$IP:$ADMIN_PORT" || return 1
    local state
    state=$(api_connection bob)
    [ "$state" = none ] || { log "bob's binding after the restart is '$state', not none"; return 1; }
    sipp_start callee uas_answer_wait_bye.xml 15070 bob -t t1 -max_socket 100
    local callee=$SIPP_PID
    sleep 0.3
    sipp_run caller uac_call_caller_hangs_up.xml 15080 bob && sipp_wait callee "$callee" &&
        received_over callee TCP && stop_proxy
}

# a UDP phone (SIPp) calls one registered over TLS: reached over its flow
test_udp_caller_tls_callee_both_hang_ups() {
    start_proxy || return 1
    ua callee callee --proxy "$IP:$TLS_PORT" --transport tls --user bob --hangup peer
    local callee=$UA_PID
    wait_for_line "$DIR/callee.out" registered || return 1
    sipp_run caller uac_call_caller_hangs_up.xml 15080 bob || return 1
    ua_wait callee "$callee" || return 1
    ua callee2 callee --proxy "$IP:$TLS_PORT" --transport tls --user carol --hangup self
    callee=$UA_PID
    wait_for_line "$DIR/callee2.out" registered || return 1
    sipp_run caller2 uac_call_callee_hangs_up.xml 15082 carol || return 1
    ua_wait callee2 "$callee" && stop_proxy
}

# a TLS phone calls a UDP one (SIPp), which hangs up; then one it cancels
test_tls_caller_udp_callee() {
    start_proxy || return 1
    register_user reg 15070 bob || return 1
    sipp_start callee uas_answer_send_bye.xml 15070 bob
    local callee=$SIPP_PID
    sleep 0.3
    ua caller caller --proxy "$IP:$TLS_PORT" --transport tls --user alice --target bob --hangup peer
    ua_wait caller "$UA_PID" && sipp_wait callee "$callee" || return 1
    sipp_start callee2 uas_ring_until_cancel.xml 15070 bob
    callee=$SIPP_PID
    sleep 0.3
    ua caller2 caller --proxy "$IP:$TLS_PORT" --transport tls --user alice --target bob --cancel
    ua_wait caller2 "$UA_PID" && sipp_wait callee2 "$callee" && stop_proxy
}

# RFC 5626: a phone behind NAT registered over a connection is reached over
# that connection only; once it is gone, 480, never a new connection
test_flow_gone_480() {
    printf '[registrar]\nnat = always\n' >"$DIR/nat.conf"
    start_proxy -c "$DIR/nat.conf" || return 1
    python3 - "$IP" "$PROXY_PORT" >>"$DIR/test.log" 2>&1 <<'PY' || return 1
import socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((ip, port), timeout=5)
me = s.getsockname()[1]
s.sendall((f"REGISTER sip:{ip}:{port} SIP/2.0\r\nVia: SIP/2.0/TCP {ip}:{me};branch=z9hG4bK-gone1\r\n"
           f"From: <sip:dave@{ip}>;tag=g1\r\nTo: <sip:dave@{ip}>\r\nCall-ID: gone-1\r\nCSeq: 1 REGISTER\r\n"
           f"Contact: <sip:dave@{ip}:{me};transport=tcp>;expires=300\r\nContent-Length: 0\r\n\r\n").encode())
assert s.recv(4096).startswith(b"SIP/2.0 200"), "REGISTER refused"
s.close()
PY
    sleep 0.3
    sipp_run caller uac_final_480.xml 15080 dave && stop_proxy
}

# RFC 3261 §18.1.1: a UDP INVITE over 1300 bytes goes on over TCP to a
# callee listening on both; to one on UDP only it falls back to UDP
# A new INVITE over TCP gets its 100 from the I/O thread that read it,
# before the hand-off to a worker (counted as trying_early), once, and
# before the final answer on the same connection.
test_tcp_trying_from_the_io_thread() {
    local admin=$IP:${SB_TEST_ADMIN_PORT:-18061}
    start_proxy --admin "$admin" || return 1
    python3 "$HERE/trying_probe.py" "$IP" "$PROXY_PORT" --tcp >>"$DIR/test.log" 2>&1 || return 1
    curl -s -m 5 -o "$DIR/metrics" "http://$admin/metrics" || return 1
    local early
    early=$(sed -n 's/^switchboard_events_total{event="trying_early"} //p' "$DIR/metrics")
    expect_count "100s sent by the I/O thread" "${early:--1}" 1 && stop_proxy
}

test_big_invite_goes_over_tcp() {
    start_proxy || return 1
    python3 "$HERE/dual_callee.py" "$IP" "$PROXY_PORT" 15070 bob >"$DIR/dual.out" 2>&1 &
    local callee=$!
    PIDS+=("$callee")
    wait_for_line "$DIR/dual.out" registered || return 1
    sipp_run caller uac_big_invite.xml 15080 bob || return 1
    wait "$callee" || return 1
    grep -q "INVITE over TCP .*Via SIP/2.0/TCP" "$DIR/dual.out" ||
        { log "the big INVITE came: $(cat "$DIR/dual.out")"; return 1; }
    python3 "$HERE/dual_callee.py" "$IP" "$PROXY_PORT" 15072 erin --no-tcp >"$DIR/udp_only.out" 2>&1 &
    callee=$!
    PIDS+=("$callee")
    wait_for_line "$DIR/udp_only.out" registered || return 1
    sipp_run caller2 uac_big_invite.xml 15082 erin || return 1
    wait "$callee" && grep -q "INVITE over UDP .*Via SIP/2.0/UDP" "$DIR/udp_only.out" ||
        { log "without TCP: $(cat "$DIR/udp_only.out")"; return 1; }
    stop_proxy
}

# --- stream torture ----------------------------------------------------------------

torture() {
    printf '[tcp]\nheader_timeout = 2\nwrite_queue_limit = 65536\nmax_per_ip = 20000\nmax_connections = 15000\n' \
        >"$DIR/torture.conf"
    start_proxy -c "$DIR/torture.conf" || return 1
    timeout 240 python3 "$HERE/stream_torture.py" "$IP" "$PROXY_PORT" "$PROXY_PID" "$@" \
        >"$DIR/torture.out" 2>&1
    local rc=$?
    cat "$DIR/torture.out" >>"$DIR/test.log"
    sed 's/^/    /' "$DIR/torture.out"
    [ $rc -eq 0 ] && stop_proxy
}

test_torture_framing() {
    torture split coalesced ping_pong missing_length too_big
}

test_torture_stalled_clients() {
    torture silent_client only_keepalives byte_a_second never_reads
}

test_torture_idle_connections() {
    torture idle_connections
}

run_tests stream "workers=$WORKERS, " "$@"
