#!/usr/bin/env bash
# SIP over WebSocket (RFC 7118, RFC 6455): browsers' calls with phones on
# UDP, both ways, each side hanging up and a CANCEL, over ws: and wss:,
# with the Record-Route doubled where a call changes transport (RFC 5658);
# a browser's binding going with its socket; and WebSocket torture
# (tests/ws_torture.py): the handshake split and refused, fragments with a
# ping between, unmasked and oversized frames, a close mid-message,
# keep-alives, malformed SIP in a frame, a client that never finishes its
# handshake. The browser is tests/stream_ua.py --transport ws|wss (its
# Contact and Via name a "....invalid" host, as JsSIP and SIP.js do); the
# UDP phones are SIPp.
#
# usage: tests/ws_tests.sh BINARY OUTDIR [WORKERS] [TEST...]
# Every process is started here and ended by PID.
set -u
BIN=$(realpath "$1")
OUT=$2
WORKERS=${3:-2}
shift 3 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
IP=127.0.0.1
PROXY_PORT=${SB_TEST_PORT:-15860}
WS_PORT=$((PROXY_PORT + 6))
WSS_PORT=$((PROXY_PORT + 7))
ADMIN_PORT=${SB_TEST_ADMIN_PORT:-18860}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

. "$HERE/lib.sh"
. "$HERE/sipp_lib.sh"

CA_DIR=$OUT/ca
make_test_ca "$CA_DIR" || { echo "cannot make a test CA"; exit 1; }

# start_proxy [flags]: UDP on PROXY_PORT, ws: on WS_PORT, wss: on WSS_PORT.
start_proxy() {
    printf '[tls]\ncertificate = %s\nkey = %s\nca = %s\n[tcp]\nheader_timeout = 2\n' \
        "$CA_DIR/cert.pem" "$CA_DIR/key.pem" "$CA_DIR/ca.pem" >"$DIR/ws.conf"
    launch_proxy -c "$DIR/ws.conf" -l "ws:$IP:$WS_PORT" -l "wss:$IP:$WSS_PORT" \
        --listeners 2 --workers "$WORKERS" --store none --admin "$IP:$ADMIN_PORT" \
        --log-level info "$@"
}

# record_routes NAME COUNT: the browser NAME got the INVITE with COUNT Record-Routes
record_routes() {
    grep -q "^record-routes $2:" "$DIR/$1.out" && return 0
    log "$1: $(grep '^record-routes' "$DIR/$1.out"), wanted $2"
    return 1
}

# udp_calls_browser TRANSPORT PORT HANGUP SCENARIO: bob registers over
# TRANSPORT and answers; alice (SIPp, UDP) calls him.
udp_calls_browser() {
    start_proxy || return 1
    ua callee callee --proxy "$IP:$2" --transport "$1" --user bob --hangup "$3"
    local callee=$UA_PID
    wait_for_line "$DIR/callee.out" registered || return 1
    sipp_run caller "$4" 15880 bob || return 1
    ua_wait callee "$callee" && record_routes callee 2
}

test_udp_caller_ws_callee_caller_hangs_up() {
    udp_calls_browser ws "$WS_PORT" peer uac_call_caller_hangs_up.xml &&
        expect_count BYEs "$(grep -c '^BYE' "$DIR/caller.msg")" 1 && stop_proxy
}

test_udp_caller_ws_callee_callee_hangs_up() {
    udp_calls_browser ws "$WS_PORT" self uac_call_callee_hangs_up.xml &&
        expect_count BYEs "$(count_received caller BYE)" 1 && stop_proxy
}

test_udp_caller_wss_callee_both_hang_ups() {
    udp_calls_browser wss "$WSS_PORT" self uac_call_callee_hangs_up.xml || return 1
    ua callee2 callee --proxy "$IP:$WSS_PORT" --transport wss --user carol --hangup peer
    local callee=$UA_PID
    wait_for_line "$DIR/callee2.out" registered || return 1
    sipp_run caller2 uac_call_caller_hangs_up.xml 15882 carol && ua_wait callee2 "$callee" &&
        stop_proxy
}

# browser_calls_udp TRANSPORT PORT SCENARIO BROWSER-ARGS: bob (SIPp, UDP)
# registers and answers; alice calls him from a browser.
browser_calls_udp() {
    start_proxy || return 1
    sipp_run reg register.xml 15870 bob || return 1
    sipp_start callee "$3" 15870 bob
    local callee=$SIPP_PID
    sleep 0.3
    ua caller caller --proxy "$IP:$2" --transport "$1" --user alice --target bob $4
    ua_wait caller "$UA_PID" && sipp_wait callee "$callee"
}

test_ws_caller_udp_callee_caller_hangs_up() {
    browser_calls_udp ws "$WS_PORT" uas_answer_wait_bye.xml "--hangup self" &&
        expect_count BYEs "$(count_received callee BYE)" 1 && stop_proxy
}

test_wss_caller_udp_callee_callee_hangs_up() {
    browser_calls_udp wss "$WSS_PORT" uas_answer_send_bye.xml "--hangup peer" &&
        stop_proxy
}

test_ws_caller_cancels() {
    browser_calls_udp ws "$WS_PORT" uas_ring_until_cancel.xml "--cancel" &&
        expect_count CANCELs "$(count_received callee CANCEL)" 1 && stop_proxy
}

test_ws_caller_wss_callee() {
    start_proxy || return 1
    ua callee callee --proxy "$IP:$WSS_PORT" --transport wss --user bob --hangup peer
    local callee=$UA_PID
    wait_for_line "$DIR/callee.out" registered || return 1
    ua caller caller --proxy "$IP:$WS_PORT" --transport ws --user alice --target bob \
        --hangup self
    ua_wait caller "$UA_PID" && ua_wait callee "$callee" && record_routes callee 2 &&
        stop_proxy
}

# api_users: the users with a binding, as the admin API lists them
api_users() {
    curl -s "http://$IP:$ADMIN_PORT/api/registrations" |
        python3 -c 'import json,sys; print(" ".join(sorted(r["user"] for r in json.load(sys.stdin)["registrations"])))'
}

# A browser is reached only over its socket (RFC 7118 §5): when the tab
# closes, its binding goes, and a call to it is not sent anywhere.
test_binding_goes_with_the_socket() {
    start_proxy || return 1
    ua callee callee --proxy "$IP:$WS_PORT" --transport ws --user bob --timeout 60
    local bob=$UA_PID
    wait_for_line "$DIR/callee.out" registered || return 1
    local users
    users=$(api_users)
    [ "$users" = bob ] || { log "registered while open: '$users'"; return 1; }
    kill "$bob"
    wait "$bob" 2>/dev/null
    for _ in $(seq 40); do
        users=$(api_users)
        [ -z "$users" ] && break
        sleep 0.1
    done
    [ -z "$users" ] || { log "4 s after the socket closed: '$users'"; return 1; }
    sipp_run caller uac_final_404.xml 15880 bob && stop_proxy
}

torture() {
    start_proxy || return 1
    timeout 120 python3 "$HERE/ws_torture.py" "$IP" "$WS_PORT" "$@" >"$DIR/torture.out" 2>&1
    local rc=$?
    cat "$DIR/torture.out" >>"$DIR/test.log"
    sed 's/^/    /' "$DIR/torture.out"
    [ $rc -eq 0 ] && stop_proxy
}

test_torture_handshake() {
    torture handshake_split no_sip_subprotocol other_version foreign_origin own_origin \
        plain_get silent_handshake
}

test_torture_framing() {
    torture fragments_and_ping binary_message unmasked_frame oversized_message \
        close_mid_message keepalives malformed_sip
}

# dir_get ARGS...: tests/directory_get.py on the ws: listener's
# /directory; its JSON line in DIR_OUT.
dir_get() {
    DIR_OUT=$(python3 "$HERE/directory_get.py" "http://$IP:$WS_PORT/directory" "$@") ||
        { log "no answer from /directory"; return 1; }
    echo "$DIR_OUT" >>"$DIR/directory.out"
}
dir_field() { python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])[sys.argv[2]]))' "$DIR_OUT" "$1"; }

# The office directory the softphone page reads (GET /directory on the
# ws: listener): under [auth] require = all it is challenged (HTTP
# Digest, the SIP realm and users), answered with a user's right
# password it is the JSON list of people and groups with their
# extensions, a wrong password is challenged again; with require = none
# anyone may read it.
test_directory_behind_digest() {
    local users=$DIR/users
    printf 'alice:pbx.test:%s\n' "$(printf 'alice:pbx.test:wonderland' | md5sum | cut -d' ' -f1)" >"$users"
    {
        printf '[tls]\ncertificate = %s\nkey = %s\nca = %s\n' "$CA_DIR/cert.pem" "$CA_DIR/key.pem" "$CA_DIR/ca.pem"
        printf '[auth]\nrequire = all\nrealm = pbx.test\nusers = %s\n' "$users"
        printf '[extensions]\n100 = alice\n101 = bob\n[groups]\nsales = all: alice, bob\n'
    } >"$DIR/dir.conf"
    launch_proxy -c "$DIR/dir.conf" -l "ws:$IP:$WS_PORT" --store none --log-level info || return 1
    dir_get && [ "$(dir_field status)" = 401 ] &&
        dir_field challenge | grep -q 'Digest realm=\\"pbx.test\\".*qop=\\"auth\\"' ||
        { log "without credentials: $DIR_OUT"; return 1; }
    dir_get --user alice --password wonderland && [ "$(dir_field status)" = 200 ] ||
        { log "alice: $DIR_OUT"; return 1; }
    [ "$(dir_field directory)" = '{"people": [{"name": "alice", "extensions": ["100"]}, {"name": "bob", "extensions": ["101"]}], "groups": [{"name": "sales", "extensions": [], "hunt": false, "members": ["alice", "bob"]}]}' ] &&
        [ "$(dir_field content_type)" = '"application/json"' ] || { log "the directory: $DIR_OUT"; return 1; }
    dir_get --user alice --password guess && [ "$(dir_field status)" = 401 ] &&
        [ "$(dir_field attempts)" = 2 ] || { log "a wrong password: $DIR_OUT"; return 1; }
    stop_proxy || return 1
    printf '[extensions]\n100 = alice\n' >"$DIR/open.conf"
    launch_proxy -c "$DIR/open.conf" -l "ws:$IP:$WS_PORT" --store none || return 1
    dir_get && [ "$(dir_field status)" = 200 ] &&
        [ "$(dir_field directory)" = '{"people": [{"name": "alice", "extensions": ["100"]}], "groups": []}' ] ||
        { log "require = none: $DIR_OUT"; return 1; }
    stop_proxy
}

run_tests ws "workers=$WORKERS, " "$@"
