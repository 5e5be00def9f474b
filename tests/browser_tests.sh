#!/usr/bin/env bash
# Browser phones (issue 28): switchboard's softphone page in real headless
# Chromium (tests/phone_check.py over the DevTools protocol, a fake
# microphone playing a tone), served by the ws: and wss: listeners it
# speaks SIP over (RFC 7118), signing in with digest ([auth] require =
# all), registering, calling and being called by SIPp phones on UDP with
# the media bridged by a userspace rtpengine of the test's own; a wrong
# password, a foreign Origin, a closed tab; the office directory, found
# and dialled by name.
#
# usage: tests/browser_tests.sh BINARY OUTDIR [TEST...]
# Every process is started here and ended by PID (Chromium by its
# process group).
set -u
BIN=$(realpath "$1")
OUT=$2
shift 2 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
IP=127.0.0.1
PROXY_PORT=${SB_TEST_PORT:-15960}
WS_PORT=$((PROXY_PORT + 6))
WSS_PORT=$((PROXY_PORT + 7))
ADMIN_PORT=${SB_TEST_ADMIN_PORT:-18960}
NG_PORT=${SB_TEST_NG_PORT:-22260}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

. "$HERE/lib.sh"
. "$HERE/sipp_lib.sh"
. "$HERE/engine_lib.sh"

CA_DIR=$OUT/ca
make_test_ca "$CA_DIR" || { echo "cannot make a test CA"; exit 1; }
# Chromium trusts the wss: listener's key (its SPKI hash), signed by the test CA
SPKI=$(openssl x509 -in "$CA_DIR/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)

cleanup_test() {
    engines_stop
}

# start_proxy [CONFIG LINES...]: UDP, ws: and wss:, [auth] require = all
# (alice/wonderland, bob/builder in realm pbx.test), media through the
# test's engine, the extra lines appended to the config.
start_proxy() {
    local realm=pbx.test up u pw
    for up in alice:wonderland bob:builder; do
        u=${up%%:*} pw=${up#*:}
        printf '%s:%s:%s\n' "$u" $realm "$(printf '%s:%s:%s' "$u" $realm "$pw" | md5sum | cut -d' ' -f1)"
    done >"$DIR/users"
    {
        printf '[auth]\nrequire = all\nrealm = %s\nusers = %s\n' $realm "$DIR/users"
        printf '[tls]\ncertificate = %s\nkey = %s\n' "$CA_DIR/cert.pem" "$CA_DIR/key.pem"
        printf '[media]\nrtpengine = udp:%s:%s\n' "$IP" "$NG_PORT"
        printf '%s\n' "$@"
    } >"$DIR/sb.conf"
    launch_proxy -c "$DIR/sb.conf" -l "ws:$IP:$WS_PORT" -l "wss:$IP:$WSS_PORT" --workers 2 \
        --store none --admin "$IP:$ADMIN_PORT" --journal "$DIR/journal.jsonl" --log-level info
}

# page NAME URL STEPS...: phone_check.py in the background (PID in PAGE_PID).
page() {
    local name=$1 url=$2
    shift 2
    python3 "$HERE/phone_check.py" "$url" "$DIR" "$@" >"$DIR/$name.out" 2>&1 &
    PAGE_PID=$!
    PIDS+=("$PAGE_PID")
}

page_wait() { # NAME PID
    wait "$2" && return 0
    log "$1: $(tail -3 "$DIR/$1.out")"
    return 1
}

# registered USER: USER's binding in the admin API, "TRANSPORT CONNECTION"
registered() {
    curl -s "http://$IP:$ADMIN_PORT/api/registrations?user=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin).get("registrations")  # absent: no such user
print(r[0]["transport"] + " " + r[0]["connection"] if r else "none")'
}

wait_file() { # NAME (the page may take 30 s to load on a busy machine)
    for _ in $(seq 600); do
        [ -f "$DIR/$1" ] && return 0
        sleep 0.1
    done
    log "no $1 from the page"
    return 1
}

# sign_in URL TRANSPORT [--spki HASH]: the page signs alice in; the API
# shows her over TRANSPORT on an open connection.
sign_in() {
    local url=$1 transport=$2
    shift 2
    start_proxy || return 1
    page page "$url" "$@" signin alice wonderland status registered mark up wait checked
    local pid=$PAGE_PID
    wait_file up || { page_wait page "$pid"; return 1; }
    local got
    got=$(registered alice)
    touch "$DIR/checked"
    page_wait page "$pid" || return 1
    [ "$got" = "$transport open" ] || { log "alice in the API: '$got'"; return 1; }
}

test_page_signs_in_over_ws() {
    sign_in "http://$IP:$WS_PORT/" WS && stop_proxy
}

test_page_signs_in_over_wss() {
    sign_in "https://$IP:$WSS_PORT/" WSS --spki "$SPKI" && stop_proxy
}

test_wrong_password_shows_an_error() {
    start_proxy || return 1
    page page "http://$IP:$WS_PORT/" signin alice mad-hatter error "wrong user name or password"
    page_wait page "$PAGE_PID" || return 1
    local got
    got=$(registered alice)
    [ "$got" = none ] || { log "alice registered with a wrong password: $got"; return 1; }
    stop_proxy
}

# [ws] allowed_origins names another site: the page (its own origin now
# foreign) cannot open the WebSocket, says so, and the proxy logs a 403.
test_foreign_origin_is_refused() {
    start_proxy '[ws]' 'allowed_origins = https://phone.example' || return 1
    page page "http://$IP:$WS_PORT/" socket "ws://$IP:$WS_PORT/" refused \
        signin alice wonderland error "Cannot reach the exchange"
    page_wait page "$PAGE_PID" || return 1
    grep -q "403 a page from this Origin may not" "$DIR/proxy.log" ||
        { log "no 403 in the proxy's log"; return 1; }
    stop_proxy
}

# Closing the tab closes its WebSocket: the binding goes (RFC 7118 §5).
test_closing_the_tab_removes_the_binding() {
    start_proxy || return 1
    page page "http://$IP:$WS_PORT/" signin alice wonderland status registered mark up \
        wait checked close
    local pid=$PAGE_PID got
    wait_file up || { page_wait page "$pid"; return 1; }
    got=$(registered alice)
    [ "$got" = "WS open" ] || { log "alice before closing: '$got'"; return 1; }
    touch "$DIR/checked"
    page_wait page "$pid" || return 1
    for _ in $(seq 40); do
        got=$(registered alice)
        [ "$got" = none ] && break
        sleep 0.1
    done
    [ "$got" = none ] || { log "alice 4 s after the tab closed: '$got'"; return 1; }
    stop_proxy
}

# media_figure DIRECTION: the packets the journal's line says the engine
# relayed that way (caller_to_callee or callee_to_caller).
media_figure() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line).get("media") or {}
    print(m.get(sys.argv[2], {}).get("packets", 0))' "$DIR/journal.jsonl" "$1" | tail -1
}

# codec_on PROFILE: the codec the test's engine says it uses towards the
# side of that transport (RTP/AVP: the phone, UDP/TLS/RTP/SAVPF: the page).
codec_on() {
    sed -n "s|.*audio over $1) using \([^ ]*\).*|\1|p" "$DIR/e.log" | tail -1
}

# page_calls_bob MARK: once the page (PAGE_PID) writes MARK, bob's UDP
# phone (SIPp) registers with his password and answers one call; the
# page's steps and bob's call must both end well.
page_calls_bob() {
    local pid=$PAGE_PID
    wait_file "$1" || { page_wait page "$pid"; return 1; }
    sipp_run reg register_auth.xml 15970 bob -au bob -ap builder || return 1
    sipp_start callee uas_answer_wait_bye.xml 15970 bob
    local callee=$SIPP_PID
    page_wait page "$pid" && sipp_wait callee "$callee"
}

# The page calls bob, a UDP phone (SIPp): answered, the browser's
# microphone (Chromium's fake tone) goes through the engine to bob for 3 s,
# the page hangs up; the engine holds nothing after. The page watches
# bob's lamp (a SUBSCRIBE to his dialogs and one to his presence over its
# WebSocket): offline before his phone registers, then idle, on the phone
# while the call lasts, idle again.
test_page_calls_a_phone() {
    start_engine e "$NG_PORT" 32000 && start_proxy || return 1
    page page "http://$IP:$WS_PORT/" signin alice wonderland status registered watch bob \
        lamp bob offline mark watching lamp bob idle call bob state "in call with" lamp bob busy \
        sleep 3 hangup idle lamp bob idle
    page_calls_bob watching || return 1
    sleep 0.5
    local sent
    sent=$(media_figure caller_to_callee)
    [ "${sent:-0}" -gt 50 ] || { log "the browser's audio: ${sent:-no} packets"; return 1; }
    log "the browser sent $sent packets through the engine"
    # the page and the phone share PCMU: passed through, not transcoded
    [ "$(codec_on UDP/TLS/RTP/SAVPF)" = PCMU/8000 ] ||
        { log "towards the page: $(codec_on UDP/TLS/RTP/SAVPF)"; return 1; }
    expect_engine_empty "$NG_PORT" && stop_proxy
}

# The office directory on the page (GET /directory behind HTTP Digest
# with alice's SIP credentials, which the browser answers): everyone of
# the users file and the dial plan with their extensions, and the
# group; found by name or by extension; bob dialled by pressing Call on
# his entry is answered (SIPp) and the page hangs up.
test_page_dials_by_name_from_the_directory() {
    start_engine e "$NG_PORT" 32000 &&
        start_proxy '[extensions]' '101 = bob' '102 = carol' '200 = sales' \
            '9 = sip:operator@192.0.2.9' '[groups]' 'sales = all: alice, bob' || return 1
    page page "http://$IP:$WS_PORT/" signin alice wonderland status registered \
        find "" alice,bob,carol,sales find bo bob find 102 carol find "a 200" sales \
        mark ready find bob bob dial bob state "in call with" sleep 1 hangup idle
    page_calls_bob ready || return 1
    expect_engine_empty "$NG_PORT" && stop_proxy
}

# The page calls bob, whose desk phone speaks G.729 only (SIPp, which
# checks the offer lists G.729 and sends back what it hears, -rtp_echo):
# the engine, asked to, adds G.729 to the browser's offer and transcodes
# both ways, so the page hears its own microphone (a 440 Hz tone) back
# through Opus/G.711 -> G.729 -> Opus/G.711.
test_page_calls_a_g729_phone_through_transcoding() {
    sox -n -r 48000 -c 1 -b 16 "$DIR/tone.wav" synth 30 sine 440 vol 0.5
    start_engine e "$NG_PORT" 32000 && start_proxy || return 1
    page page "http://$IP:$WS_PORT/" --fake-audio "$DIR/tone.wav" signin alice wonderland \
        status registered mark ready call bob state "in call with" level 0.02 tone 440 hangup idle
    local pid=$PAGE_PID
    wait_file ready || { page_wait page "$pid"; return 1; }
    sipp_run reg register_auth.xml 15970 bob -au bob -ap builder || return 1
    sipp_start callee uas_g729_answer_wait_bye.xml 15970 bob -rtp_echo
    local callee=$SIPP_PID
    page_wait page "$pid" && sipp_wait callee "$callee" || return 1
    grep "remote audio" "$DIR/page.out" >>"$DIR/test.log"
    local phone page_side
    phone=$(codec_on RTP/AVP) page_side=$(codec_on UDP/TLS/RTP/SAVPF)
    log "the engine: $phone towards bob, $page_side towards the page"
    [ "$phone" = G729/8000 ] && [ -n "$page_side" ] && [ "$page_side" != G729/8000 ] ||
        { log "not transcoded"; return 1; }
    expect_engine_empty "$NG_PORT" && stop_proxy
}

# alice (SIPp, UDP, G.711 from a pcap) calls the page; it answers and
# hears her: the remote audio's level, read from an AnalyserNode; alice
# hangs up and the page goes idle.
test_phone_calls_the_page_and_is_heard() {
    start_engine e "$NG_PORT" 32000 && start_proxy || return 1
    page page "http://$IP:$WS_PORT/" signin bob builder status registered mark up incoming \
        state "in call with" level 0.02 idle
    local pid=$PAGE_PID
    wait_file up || { page_wait page "$pid"; return 1; }
    sipp_run caller uac_call_rtp_auth.xml 15980 bob -au alice -ap wonderland -d 6000 || return 1
    page_wait page "$pid" || return 1
    grep "remote audio level" "$DIR/page.out" >>"$DIR/test.log"
    expect_engine_empty "$NG_PORT" && stop_proxy
}

run_tests "browser phones" "" "$@"
