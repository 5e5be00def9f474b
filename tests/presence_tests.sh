#!/usr/bin/env bash
# Presence tests: busy lamps (RFC 4235's dialog event package over RFC
# 6665) served by the real switchboard binary over UDP on 127.0.0.1: a
# subscriber of our own (tests/dialog_sub.py) watches a user while SIPp
# calls ring, are answered and end, and checks the NOTIFYs against the
# package's state machine; refresh, unsubscribe, a fetch, a subscriber
# gone, the bounds, credentials. Call pickup ([features] pickup): a
# ringing call moved to the picker; no call; strangers; a bad code.
#
# usage: tests/presence_tests.sh BINARY OUTDIR [WORKERS] [TEST...]
# Every process is started here and ended by PID; SIPp bounds each run
# with -timeout, and scripts/test.sh bounds the whole file with `timeout`.
set -u
BIN=$(realpath "$1")
OUT=$2
WORKERS=${3:-2}
shift 3 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
IP=127.0.0.1
PROXY_PORT=${SB_TEST_PORT:-16060}
ADMIN_PORT=19060
mkdir -p "$OUT"

. "$HERE/lib.sh"

start_proxy() {
    launch_proxy --listeners 2 --workers "$WORKERS" --log-level info --admin "$IP:$ADMIN_PORT" "$@"
}

. "$HERE/sipp_lib.sh"

# lamp NAME PORT [dialog_sub.py run options]: a subscriber in the
# background, its JSON lines in NAME.out, PID in LAMP_PID.
lamp() {
    local name=$1 port=$2
    shift 2
    python3 "$HERE/dialog_sub.py" run "$IP" "$PROXY_PORT" --port "$port" "$@" >"$DIR/$name.out" \
        2>"$DIR/$name.err" &
    LAMP_PID=$!
    PIDS+=("$LAMP_PID")
}

# lamp_check NAME EXPECTED [dialog_sub.py check options]
lamp_check() {
    local name=$1 expect=$2
    shift 2
    python3 "$HERE/dialog_sub.py" check "$DIR/$name.out" --expect "$expect" "$@" >>"$DIR/test.log" 2>&1 ||
        { log "$name: $(tail -1 "$DIR/test.log")"; return 1; }
}

# metric EVENT: switchboard_events_total{event="EVENT"} now.
metric() {
    curl -s "http://$IP:$ADMIN_PORT/metrics" | sed -n "s/^switchboard_events_total{event=\"$1\"} //p"
}

# --- the tests ---------------------------------------------------------------

# bob's lamp while alice calls him: full state (idle) at once, then his
# dialog early, confirmed, and terminated by alice's BYE (remote-bye for
# him); the caller's side of the same call seen by alice's lamp.
test_callee_lamp_follows_a_call() {
    start_proxy || return 1
    register_user reg 15070 bob || return 1
    lamp bob 15090 --user bob --seconds 4
    local bob=$LAMP_PID
    lamp alice 15091 --user alice --seconds 4
    local alice=$LAMP_PID
    wait_for_line "$DIR/bob.out" '"notify"' && wait_for_line "$DIR/alice.out" '"notify"' || return 1
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    wait "$bob" "$alice"
    grep -q '"response": 200.*"expires": "600"' "$DIR/bob.out" ||
        { log "bob's lamp: no 200 with Expires: 600"; return 1; }
    lamp_check bob early,confirmed,terminated:remote-bye --direction recipient \
        --remote "sip:alice@$IP:$PROXY_PORT" &&
        lamp_check alice early,confirmed,terminated:local-bye --direction initiator &&
        stop_proxy
}

# The callee hangs up: local-bye is his.
test_callee_hangs_up_is_local_bye() {
    start_proxy || return 1
    register_user reg 15070 bob || return 1
    lamp bob 15090 --user bob --seconds 4
    local bob=$LAMP_PID
    wait_for_line "$DIR/bob.out" '"notify"' || return 1
    place_call uas_answer_send_bye.xml uac_call_callee_hangs_up.xml || return 1
    wait "$bob"
    # it answers at once: early may fold into confirmed
    lamp_check bob ?early,confirmed,terminated:local-bye --direction recipient && stop_proxy
}

# Rung and cancelled, and rung and declined: never confirmed. (The
# second lamp's first NOTIFY still lists the first call, terminated.)
test_cancelled_and_declined_calls() {
    start_proxy || return 1
    register_user reg 15070 bob || return 1
    lamp cancel 15090 --user bob --seconds 3
    local lamp1=$LAMP_PID
    wait_for_line "$DIR/cancel.out" '"notify"' || return 1
    place_call uas_ring_until_cancel.xml uac_cancel_while_ringing.xml || return 1
    wait "$lamp1"
    lamp_check cancel ?early,terminated:cancelled || return 1
    lamp declined 15092 --user bob --seconds 3
    local lamp2=$LAMP_PID
    wait_for_line "$DIR/declined.out" '"notify"' || return 1
    place_call uas_reject_declined.xml uac_rejected_declined.xml || return 1
    wait "$lamp2"
    lamp_check declined ?early,terminated:rejected && stop_proxy
}

# A refresh in the subscription's dialog gets 200 and a full-state NOTIFY
# (the next version); Expires: 0 ends it with "terminated"; a refresh
# after that gets 481.
test_refresh_then_unsubscribe() {
    start_proxy || return 1
    lamp bob 15090 --user bob --expires 300 --refresh-after 0.5,1.8 --unsubscribe-after 1.2 \
        --seconds 2.5
    wait "$LAMP_PID"
    local states
    states=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    if "notify" in m: print(m["version"], m["full"], m["subscription_state"])
    else: print("response", m["response"], m["expires"])' "$DIR/bob.out")
    log "$states"
    [ "$(printf '%s\n' "$states" | tr '\n' '|')" = \
        "response 200 300|0 True active;expires=300|response 200 300|1 True active;expires=300|response 200 0|2 True terminated;reason=timeout|response 481 None|" ] ||
        { log "unexpected sequence"; return 1; }
    [ "$(metric subscriptions)" = 1 ] && [ "$(metric subscriptions_ended)" = 1 ] ||
        { log "subscriptions $(metric subscriptions), ended $(metric subscriptions_ended)"; return 1; }
    stop_proxy
}

# Expires: 0 at once is a fetch: 200, one NOTIFY with full state and
# "terminated", nothing kept. Under 60 s: 423 with Min-Expires.
test_fetch_and_too_brief() {
    start_proxy || return 1
    lamp fetch 15090 --user bob --expires 0 --seconds 1
    wait "$LAMP_PID"
    grep -q '"subscription_state": "terminated;reason=timeout".*"full": true' "$DIR/fetch.out" ||
        { log "fetch: $(cat "$DIR/fetch.out")"; return 1; }
    lamp brief 15091 --user bob --expires 10 --seconds 1
    wait "$LAMP_PID"
    grep -q '"response": 423.*"min_expires": "60"' "$DIR/brief.out" ||
        { log "brief: $(cat "$DIR/brief.out")"; return 1; }
    [ "$(metric subscriptions_ended)" = 1 ] || { log "ended $(metric subscriptions_ended)"; return 1; }
    stop_proxy
}

# A subscriber that answers NOTIFY with 481 (it forgot the subscription)
# is forgotten: the next call sends it nothing.
test_subscriber_gone_is_forgotten() {
    start_proxy || return 1
    register_user reg 15070 bob || return 1
    lamp gone 15090 --user bob --answer 481 --seconds 3
    wait_for_line "$DIR/gone.out" '"notify"' || return 1
    sleep 0.3
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    wait "$LAMP_PID"
    local n
    n=$(grep -c '"notify"' "$DIR/gone.out")
    [ "$n" = 1 ] || { log "$n NOTIFYs after a 481"; return 1; }
    [ "$(metric subscriptions_ended)" = 1 ] || { log "ended $(metric subscriptions_ended)"; return 1; }
    stop_proxy
}

# responses NAME N: NAME's lamp has had N answers to its SUBSCRIBEs
# (within 5 s).
responses() {
    for _ in $(seq 100); do
        [ "$(grep -c '"response"' "$DIR/$1.out" 2>/dev/null)" -ge "$2" ] && return 0
        sleep 0.05
    done
    log "$1: $(grep -c '"response"' "$DIR/$1.out") answers, $2 expected"
    return 1
}

# At most 100 subscriptions to one user and 200 from one address: past
# either, 503 with Retry-After.
test_subscriptions_are_bounded() {
    start_proxy || return 1
    lamp many 15090 --user bob --count 101 --seconds 5
    responses many 101 || return 1
    local users
    users=$(python3 -c 'print(",".join(f"u{i}" for i in range(101)))')
    lamp more 15091 --users "$users" --seconds 5
    responses more 101 || return 1
    local ok refused
    ok=$(grep -c '"response": 200' "$DIR/many.out")
    refused=$(grep -c '"response": 503' "$DIR/many.out")
    [ "$ok" = 100 ] && [ "$refused" = 1 ] || { log "to one user: $ok accepted, $refused refused"; return 1; }
    ok=$(grep -c '"response": 200' "$DIR/more.out")
    refused=$(grep -c '"response": 503' "$DIR/more.out")
    [ "$ok" = 100 ] && [ "$refused" = 1 ] ||
        { log "from one address, 101 more users: $ok accepted, $refused refused"; return 1; }
    stop_proxy
}

# Under [auth] require = all a SUBSCRIBE is challenged like any request.
test_subscribe_needs_credentials() {
    printf 'alice:switchboard:%s\n' "$(printf 'alice:switchboard:secret' | md5sum | cut -d' ' -f1)" \
        >"$DIR/users"
    printf '[auth]\nrequire = all\nrealm = switchboard\nusers = %s\n' "$DIR/users" >"$DIR/auth.conf"
    start_proxy -c "$DIR/auth.conf" || return 1
    lamp stranger 15090 --user bob --seconds 1
    wait "$LAMP_PID"
    grep -q '"response": 407' "$DIR/stranger.out" || { log "$(cat "$DIR/stranger.out")"; return 1; }
    ! grep -q '"notify"' "$DIR/stranger.out" || { log "a stranger was notified"; return 1; }
    stop_proxy
}

# statuses NAME: the presence statuses NAME's subscriber heard, in order,
# repeats folded ("offline,online,...").
statuses() { python3 "$HERE/dialog_sub.py" heard "$DIR/$1.out"; }

# Presence (RFC 3856) as the exchange sees it: bob's subscriber hears him
# offline (no device), online once he registers, on the phone while
# alice's call is answered, online again when it ends, offline when he
# unregisters (Contact: *); every NOTIFY a PIDF with
# Event: presence and Content-Type application/pidf+xml.
test_presence_follows_registration_and_calls() {
    start_proxy || return 1
    lamp bob 15090 --user bob --event presence --seconds 5
    local lamp=$LAMP_PID
    wait_for_line "$DIR/bob.out" '"notify"' || return 1
    register_user reg 15070 bob || return 1
    sleep 0.3
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    sleep 0.3
    python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" --expect 200 --wait 1 --text \
        "REGISTER sip:$IP:$PROXY_PORT SIP/2.0\r\nVia: SIP/2.0/UDP $IP:@PORT@;branch=z9hG4bK-u$RANDOM;rport\r\nFrom: <sip:bob@$IP:$PROXY_PORT>;tag=u$RANDOM\r\nTo: <sip:bob@$IP:$PROXY_PORT>\r\nCall-ID: unreg-$RANDOM\r\nCSeq: 9 REGISTER\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n" \
        >>"$DIR/test.log" 2>&1 || { log "bob could not unregister"; return 1; }
    wait "$lamp"
    grep -q '"response": 200' "$DIR/bob.out" || { log "no 200 to the SUBSCRIBE"; return 1; }
    grep '"notify"' "$DIR/bob.out" | grep -qv '"content_type": "application/pidf+xml"' &&
        { log "a NOTIFY that is not a PIDF"; return 1; }
    grep '"notify"' "$DIR/bob.out" | grep -qv '"event": "presence"' &&
        { log "a NOTIFY of another event"; return 1; }
    local heard
    heard=$(statuses bob)
    [ "$heard" = "offline,online,on-the-phone,online,offline" ] ||
        { log "bob's presence went $heard"; return 1; }
    stop_proxy
}

# pub ARGS...: one PUBLISH from port 15095 (dialog_sub.py publish); its
# answer's JSON line in PUB (and appended to pub.out).
pub() {
    PUB=$(python3 "$HERE/dialog_sub.py" publish "$IP" "$PROXY_PORT" --port 15095 "$@") ||
        { log "no answer to PUBLISH $*"; return 1; }
    echo "$PUB" >>"$DIR/pub.out"
}
pub_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$PUB" "$1"; }
pub_expect() { # CODE ARGS...: the PUBLISH is answered CODE
    local code=$1
    shift
    pub "$@" || return 1
    [ "$(pub_field response)" = "$code" ] || { log "PUBLISH $*: $PUB, not $code"; return 1; }
}

# What bob's phone publishes (RFC 3903) is composed into his presence:
# "away" with a note, then modified to "busy" (a new entity-tag each
# time; the old one is 412), refreshed, removed; a subscriber hears each
# state once. Another event is 489, a brief Expires 423 (Min-Expires:
# 60), a body that is not PIDF 415.
test_publish_composes_presence() {
    start_proxy || return 1
    register_user reg 15070 bob || return 1
    lamp bob 15090 --user bob --event presence --seconds 10
    local lamp=$LAMP_PID
    wait_for_line "$DIR/bob.out" '"notify"' || return 1
    pub_expect 200 --activity away --note "at lunch" || return 1
    local e1
    e1=$(pub_field etag)
    [ "$(pub_field expires)" = 3600 ] && [ -n "$e1" ] && [ "$e1" != None ] ||
        { log "first PUBLISH: $PUB"; return 1; }
    sleep 0.3
    pub_expect 200 --etag "$e1" --activity busy || return 1
    local e2
    e2=$(pub_field etag)
    [ "$e2" != "$e1" ] || { log "a modification kept its tag"; return 1; }
    pub_expect 412 --etag "$e1" --no-body && pub_expect 200 --etag "$e2" --no-body --expires 120 ||
        return 1
    [ "$(pub_field expires)" = 120 ] || { log "refresh: $PUB"; return 1; }
    local e3
    e3=$(pub_field etag)
    sleep 0.3
    pub_expect 200 --etag "$e3" --no-body --expires 0 || return 1
    pub_expect 489 --event dialog && [ "$(pub_field allow_events)" = presence ] &&
        pub_expect 423 --expires 10 && [ "$(pub_field min_expires)" = 60 ] &&
        pub_expect 415 --content-type text/plain && pub_expect 400 --no-body || return 1
    wait "$lamp"
    local heard
    heard=$(python3 "$HERE/dialog_sub.py" heard "$DIR/bob.out" --detail)
    [ "$heard" = "online,online/away/at lunch,online/busy,online" ] ||
        { log "bob's presence went $heard"; return 1; }
    stop_proxy
}

# Presence under [auth] require = all, as a stranger would try it: a
# presence SUBSCRIBE and a PUBLISH without credentials are challenged;
# alice, with her password, may not publish bob's presence (403); bob
# may publish his own.
test_presence_needs_credentials() {
    local u pw
    for u in alice:secret bob:builder; do
        pw=${u#*:} u=${u%%:*}
        printf '%s:switchboard:%s\n' "$u" "$(printf '%s:switchboard:%s' "$u" "$pw" | md5sum | cut -d' ' -f1)"
    done >"$DIR/users"
    printf '[auth]\nrequire = all\nrealm = switchboard\nusers = %s\n' "$DIR/users" >"$DIR/auth.conf"
    start_proxy -c "$DIR/auth.conf" || return 1
    lamp stranger 15090 --user bob --event presence --seconds 1
    wait "$LAMP_PID"
    grep -q '"response": 407' "$DIR/stranger.out" && ! grep -q '"notify"' "$DIR/stranger.out" ||
        { log "a stranger's presence SUBSCRIBE: $(cat "$DIR/stranger.out")"; return 1; }
    pub_expect 407 --user bob --activity away &&
        pub_expect 403 --user bob --sender alice --password secret --activity away &&
        pub_expect 200 --user bob --sender bob --password builder --activity away && stop_proxy
}

# notifies NAME: how many NOTIFYs NAME's subscriber has had.
notifies() { grep -c '"notify"' "$DIR/$1.out"; }

# wait_notifies NAME N: until NAME's subscriber has had more than N.
wait_notifies() {
    for _ in $(seq 60); do
        [ "$(notifies "$1")" -gt "$2" ] && return 0
        sleep 0.05
    done
    log "$1: no NOTIFY after the first $2"
    return 1
}


# Subscriptions and what phones published outlive a restart (they are
# kept in the store beside the bindings): bob registered, his busy lamp
# and his presence watched, "away" published; the exchange is stopped
# (SIGNAL: TERM, or KILL 0.2 s after the last NOTIFY, past the few ms
# the store's write-behind takes) and started again on the same store.
# Both subscribers hear full state at once in the same dialog (each
# NOTIFY's CSeq above the last: the subscriber answers 500 otherwise),
# bob still away; a call after the restart lights the lamp and puts him
# on the phone; the lamp's refresh after the restart is 200, not 481.
restart_keeps_subscriptions() { # SIGNAL
    start_proxy --store "$DIR/sb.db" || return 1
    register_user reg 15070 bob || return 1
    lamp blf 15090 --user bob --seconds 7 --refresh-after 5.5
    local blf=$LAMP_PID
    lamp pres 15091 --user bob --event presence --seconds 7
    local pres=$LAMP_PID
    wait_for_line "$DIR/blf.out" '"notify"' && wait_for_line "$DIR/pres.out" '"notify"' || return 1
    pub_expect 200 --activity away --note "at lunch" || return 1
    wait_for_line "$DIR/pres.out" '"away"' || return 1
    local blf_before pres_before
    blf_before=$(notifies blf) pres_before=$(notifies pres)
    if [ "$1" = KILL ]; then
        sleep 0.2
        kill -KILL "$PROXY_PID" && wait "$PROXY_PID" 2>/dev/null
        PROXY_PID=
    else
        stop_proxy || return 1
    fi
    start_proxy --store "$DIR/sb.db" || return 1
    wait_notifies blf "$blf_before" && wait_notifies pres "$pres_before" || return 1
    grep -q "subscriptions from before: 2 served again" "$DIR/proxy.log" ||
        { log "the restarted exchange did not say it serves both again"; return 1; }
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    wait "$blf" "$pres"
    lamp_check blf early,confirmed,terminated:remote-bye --direction recipient || return 1
    local heard
    heard=$(python3 "$HERE/dialog_sub.py" heard "$DIR/pres.out" --detail)
    [ "$heard" = "online,online/away/at lunch,on-the-phone/on-the-phone,online/away/at lunch" ] ||
        { log "bob's presence went $heard"; return 1; }
    [ "$(grep -c '"response": 200' "$DIR/blf.out")" = 2 ] && ! grep -q '"response": 481' "$DIR/blf.out" ||
        { log "the lamp's refresh after the restart was not 200"; return 1; }
    stop_proxy
}

test_subscriptions_survive_a_restart() { restart_keeps_subscriptions TERM; }
test_subscriptions_survive_kill_9() { restart_keeps_subscriptions KILL; }

# picker NAME PORT SERVICE: carol (registered) dials SERVICE, answered 480.
picker() {
    sed 's/sip:alice@/sip:carol@/g; s/"Alice"/"Carol"/g' "$SIPP_DIR/uac_final_480.xml" \
        >"$DIR/uac_carol_480.xml"
    SIPP_DIR=$DIR sipp_run "$1" uac_carol_480.xml "$2" "$3"
}

# Call pickup ([features] pickup = *8): alice calls 101 (bob), whose
# phone rings. carol, who shares no group with bob, dials *8: nothing of
# hers rings (480 No Call to Pick Up); she dials *8101: 480 Picked Up,
# Ringing Here, bob's phone gets a CANCEL, hers an INVITE asking to be
# answered at once (Call-Info answer-after=0), and alice's call is
# answered by her. The metrics count one pickup and one miss.
test_pickup_moves_a_ringing_call() {
    printf '[extensions]\n101 = bob\n[features]\npickup = *8\n' >"$DIR/office.conf"
    start_proxy -c "$DIR/office.conf" || return 1
    register_user reg 15070 bob && register_user regc 15072 carol || return 1
    sipp_start callee uas_ring_until_cancel.xml 15070 bob
    local bob=$SIPP_PID
    sipp_start carol uas_answer_wait_bye.xml 15072 carol
    local carol=$SIPP_PID
    sleep 0.2
    sipp_start caller uac_call_caller_hangs_up.xml 15080 101
    local alice=$SIPP_PID
    wait_for_line "$DIR/callee.msg" "SIP/2.0 180 Ringing" || return 1
    sleep 0.2 # the 180 reaches the proxy
    picker miss 15081 '*8' || return 1
    grep -q "SIP/2.0 480 No Call to Pick Up" "$DIR/miss.msg" || { log "no 480 No Call"; return 1; }
    picker pick 15081 '*8101' || return 1
    grep -q "SIP/2.0 480 Picked Up, Ringing Here" "$DIR/pick.msg" ||
        { log "no 480 Picked Up"; return 1; }
    sipp_wait callee "$bob" && sipp_wait carol "$carol" && sipp_wait caller "$alice" || return 1
    grep -q "^Call-Info: <sip:[^>]*>;answer-after=0" "$DIR/carol.msg" ||
        { log "carol's INVITE did not ask to be answered at once"; return 1; }
    grep -q "pickup: carol takes the call from alice to bob" "$DIR/proxy.log" || return 1
    expect_count pickups "$(metric pickups)" 1 && expect_count "pickup misses" "$(metric pickup_misses)" 1 &&
        stop_proxy
}

# Only a registered user of ours may pick up: a stranger's *8 gets 403;
# a config whose code is not digits, * and # is refused with its line.
test_pickup_is_for_our_users() {
    printf '[features]\npickup = *8\n' >"$DIR/office.conf"
    start_proxy -c "$DIR/office.conf" || return 1
    picker stranger 15081 '*8' && { log "an unregistered picker was not refused"; return 1; }
    grep -q "SIP/2.0 403 Pickup Is for Our Registered Users" "$DIR/stranger.msg" ||
        { log "no 403 for a stranger: $(grep -m1 '^SIP/2.0' "$DIR/stranger.msg")"; return 1; }
    stop_proxy || return 1
    printf '[features]\npickup = pick\n' >"$DIR/bad.conf"
    "$BIN" -l "udp:$IP:$PROXY_PORT" -c "$DIR/bad.conf" >"$DIR/bad.log" 2>&1 &&
        { log "a bad pickup code was taken"; return 1; }
    grep -q "bad.conf:2: pickup: want digits" "$DIR/bad.log" ||
        { log "no file:line for the bad code: $(cat "$DIR/bad.log")"; return 1; }
}

run_tests presence "workers=$WORKERS, " "$@"
