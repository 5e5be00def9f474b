#!/usr/bin/env bash
# Office features: extensions, ring groups, forwarding and do-not-disturb
# (the dial plan in the config file, README "Office features"), driven with
# SIPp phones on 127.0.0.1: alice 15070, bob 15071, carol 15072, dave
# 15073, the caller 15080.
#
# usage: tests/office_tests.sh BINARY OUTDIR [WORKERS] [TEST...]
# Every process is started here and ended by PID; scripts/test.sh bounds
# the whole file with `timeout`.
set -u
BIN=$(realpath "$1")
OUT=$(realpath -m "$2")
WORKERS=${3:-2}
shift 3 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
CTL=$(dirname "$BIN")/switchboard-ctl
IP=127.0.0.1
PROXY_PORT=${SB_TEST_PORT:-15060}
ADMIN=$IP:${SB_TEST_ADMIN_PORT:-18060}
mkdir -p "$OUT"

. "$HERE/lib.sh"

# start_proxy CONFIG-TEXT [flags]: the office's config in $DIR/office.conf
start_proxy() {
    printf '%b' "$1" >"$DIR/office.conf"
    shift
    launch_proxy -c "$DIR/office.conf" --listeners 2 --workers "$WORKERS" --log-level info \
        --admin "$ADMIN" --journal "$DIR/calls.jsonl" "$@"
}

. "$HERE/sipp_lib.sh"

declare -A PORT=([alice]=15070 [bob]=15071 [carol]=15072 [dave]=15073)

# phone NAME SCENARIO: NAME registers from its port and answers with SCENARIO
phone() {
    register_user "reg-$1" "${PORT[$1]}" "$1" || return 1
    sipp_start "$1" "$2" "${PORT[$1]}" "$1"
    eval "PHONE_$1=\$SIPP_PID"
}

phone_done() { # NAME: its scenario ended well
    local pid
    eval "pid=\$PHONE_$1"
    sipp_wait "$1" "$pid"
}

call() { # NUMBER CALLER-SCENARIO
    sleep 0.2
    sipp_run caller "$2" 15080 "$1"
}

# journal_says PYTHON-CONDITION: the last journal line (as j) satisfies it
journal_says() {
    for _ in $(seq 30); do
        [ -s "$DIR/calls.jsonl" ] && break
        sleep 0.1
    done
    python3 -c "import json,sys; j=json.loads(open('$DIR/calls.jsonl').read().splitlines()[-1]); sys.exit(0 if ($1) else 1)" ||
        { log "journal: $(tail -1 "$DIR/calls.jsonl" 2>/dev/null)"; return 1; }
}

invite_has() { # NAME TEXT: NAME's INVITE carried TEXT
    grep -A30 "message received" "$DIR/$1.msg" | grep -q -- "$2" ||
        { log "$1's INVITE lacks '$2'"; return 1; }
}

# --- the tests ---------------------------------------------------------------

test_extension_reaches_its_user() {
    start_proxy '[extensions]\n101 = alice\n' || return 1
    phone alice uas_answer_wait_bye.xml || return 1
    call 101 uac_call_caller_hangs_up.xml && phone_done alice &&
        journal_says "j['dialled']=='101' and j['resolved']=='alice' and j['outcome']=='answered'" &&
        stop_proxy
}

# all: every member rings at once, the first answer wins, the others get
# exactly one CANCEL each
test_group_all_first_answer_wins() {
    start_proxy '[extensions]\n200 = sales\n[groups]\nsales = all: alice, bob, carol\n' || return 1
    phone alice uas_ring_until_cancel.xml && phone bob uas_answer_wait_bye.xml &&
        phone carol uas_ring_until_cancel.xml || return 1
    call 200 uac_call_caller_hangs_up.xml && phone_done alice && phone_done bob && phone_done carol &&
        expect_count "CANCELs to alice" "$(count_received alice CANCEL)" 1 &&
        expect_count "CANCELs to carol" "$(count_received carol CANCEL)" 1 &&
        journal_says "j['resolved']=='sales' and j['outcome']=='answered'" && stop_proxy
}

# hunt: one member after another for its seconds, skipping who is not
# registered (bob); carol rings out, alice answers
test_hunt_group_skips_and_moves_on() {
    start_proxy '[groups]\nsupport = hunt 2: bob, carol, alice\n' || return 1
    phone carol uas_ring_until_cancel.xml && phone alice uas_answer_wait_bye.xml || return 1
    call support uac_call_caller_hangs_up.xml && phone_done carol && phone_done alice &&
        expect_count "CANCELs to carol" "$(count_received carol CANCEL)" 1 && stop_proxy
}

test_busy_forwards_with_diversion_and_history_info() {
    start_proxy '[forward]\nbob = busy: carol\n' || return 1
    phone bob uas_reject_busy.xml && phone carol uas_answer_wait_bye.xml || return 1
    call bob uac_call_caller_hangs_up.xml && phone_done bob && phone_done carol &&
        invite_has carol "Diversion: <sip:bob@$IP>;reason=user-busy;counter=1" &&
        invite_has carol "History-Info: <sip:bob@$IP>;index=1" &&
        invite_has carol "History-Info: <sip:carol@$IP;cause=486>;index=1.1;mp=1" &&
        journal_says "j['forwards']==[{'from':'bob','to':'carol','reason':'busy'}] and j['outcome']=='answered'" &&
        stop_proxy
}

# noanswer N: bob rings N s, gets one CANCEL, carol's phone rings instead
test_noanswer_forwards_after_its_seconds() {
    start_proxy '[forward]\nbob = noanswer 2: carol\n' || return 1
    phone bob uas_ring_until_cancel.xml && phone carol uas_answer_wait_bye.xml || return 1
    local t0=$SECONDS
    call bob uac_call_caller_hangs_up.xml && phone_done bob && phone_done carol &&
        expect_count "CANCELs to bob" "$(count_received bob CANCEL)" 1 &&
        invite_has carol "reason=no-answer" && [ $((SECONDS - t0)) -ge 2 ] &&
        journal_says "j['forwards'][0]['reason']=='noanswer'" && stop_proxy
}

# noanswer N with bob's phone gone (still registered, silent: not even a
# 100): bob is given up after N s and carol, the next stage, still rings
# and answers (giving up on bob must not give up on the stage it starts)
test_noanswer_forwards_from_a_silent_phone() {
    start_proxy '[forward]\nbob = noanswer 2: carol\n' || return 1
    register_user reg-bob "${PORT[bob]}" bob && phone carol uas_answer_wait_bye.xml || return 1
    call bob uac_call_caller_hangs_up.xml && phone_done carol && invite_has carol "reason=no-answer" &&
        journal_says "j['forwards'][0]['reason']=='noanswer' and j['outcome']=='answered'" &&
        stop_proxy
}

# unavailable: bob has no device; the call goes to reception (alice)
test_unavailable_forwards_to_an_extension() {
    start_proxy '[extensions]\nreception = alice\n[forward]\nbob = unavailable: reception\n' || return 1
    phone alice uas_answer_wait_bye.xml || return 1
    call bob uac_call_caller_hangs_up.xml && phone_done alice && invite_has alice "reason=unavailable" &&
        journal_says "j['forwards'][0]['reason']=='unavailable'" && stop_proxy
}

# always: dave's phone never rings, alice's does
test_always_forwards_without_ringing() {
    start_proxy '[forward]\ndave = always: alice\n' || return 1
    phone alice uas_answer_wait_bye.xml || return 1
    register_user reg-dave 15073 dave || return 1
    sipp_start dave uas_answer_wait_bye.xml 15073 dave -timeout 8
    local dave=$SIPP_PID
    call dave uac_call_caller_hangs_up.xml && phone_done alice && invite_has alice "reason=unconditional" || return 1
    kill "$dave" 2>/dev/null
    wait "$dave" 2>/dev/null
    expect_count "INVITEs to dave" "$(grep -c '^INVITE' "$DIR/dave.msg" 2>/dev/null || true)" 0 && stop_proxy
}

# DND from the config: 486; set and cleared at run time through the admin
# API (and switchboard-ctl); kept across a restart by the store
test_dnd_refuses_and_survives_a_restart() {
    start_proxy '[users]\ncarol.dnd = yes\n' --store "$DIR/reg.db" || return 1
    phone carol uas_reject_busy.xml || return 1
    call carol uac_rejected_busy.xml || return 1
    expect_count "INVITEs to carol" "$(count_received carol INVITE)" 0 || return 1
    kill "$PHONE_carol" 2>/dev/null
    "$CTL" --admin "$ADMIN" dnd bob on >"$DIR/ctl.out" 2>&1 || { log "ctl dnd: $(cat "$DIR/ctl.out")"; return 1; }
    grep -q '"dnd":true' "$DIR/ctl.out" || return 1
    phone bob uas_reject_busy.xml || return 1
    call bob uac_rejected_busy.xml || return 1
    expect_count "INVITEs to bob while DND" "$(count_received bob INVITE)" 0 || return 1
    kill "$PHONE_bob" 2>/dev/null
    stop_proxy || return 1
    journal_says "j['outcome']=='dnd' and j['hung_up_by']=='proxy' and j['status']==486" ||
        return 1
    launch_proxy -c "$DIR/office.conf" --workers "$WORKERS" --admin "$ADMIN" --store "$DIR/reg.db" \
        --journal "$DIR/calls.jsonl" || return 1
    grep -q "do-not-disturb kept from before: bob" "$DIR/proxy.log" || { log "DND not kept"; return 1; }
    "$CTL" --admin "$ADMIN" dnd bob off >"$DIR/ctl2.out" 2>&1 || return 1
    sipp_start bob uas_answer_wait_bye.xml 15071 bob
    local bob=$SIPP_PID
    call bob uac_call_caller_hangs_up.xml && sipp_wait bob "$bob" && stop_proxy
}

# A proxy-side ring timeout: nobody answers, the caller gets 480 and the
# journal says "missed" (not busy)
test_ring_timeout_makes_a_missed_call() {
    start_proxy '[users]\nring_timeout = 2\n' || return 1
    phone bob uas_ring_until_cancel.xml || return 1
    call bob uac_final_480.xml && phone_done bob &&
        expect_count "CANCELs to bob" "$(count_received bob CANCEL)" 1 &&
        journal_says "j['outcome']=='missed' and j['status']==480" && stop_proxy
}

# A group with a member whose phone registered over TCP and whose
# connection is gone (it went away, or our restart after kill -9): that
# branch fails at once (its Contact refuses a new connection) while carol
# rings; the caller's CANCEL still gets 487 on the INVITE, and the journal
# says "cancelled", not the dead branch's 480.
test_cancel_with_a_dead_flow_in_the_group() {
    start_proxy '[extensions]\n300 = duo\n[groups]\nduo = all: bob, carol\n' \
        -l "tcp:$IP:$PROXY_PORT" || return 1
    sipp_run reg-bob register.xml "${PORT[bob]}" bob -t t1 || return 1
    phone carol uas_ring_until_cancel.xml || return 1
    call 300 uac_cancel_while_ringing.xml && phone_done carol &&
        expect_count "CANCELs to carol" "$(count_received carol CANCEL)" 1 || return 1
    stop_proxy &&
        journal_says "j['outcome']=='cancelled' and j['status']==487 and j['hung_up_by']=='caller'"
}

# A forward loop is refused at start naming the circle; one made through a
# group is cut at run time: nobody rings twice
test_forward_loops_are_refused_or_cut() {
    printf '[forward]\nbob = busy: carol\ncarol = noanswer 5: bob\n' >"$DIR/loop.conf"
    "$BIN" -c "$DIR/loop.conf" -l "udp:$IP:$PROXY_PORT" >"$DIR/loop.out" 2>&1
    local rc=$?
    [ $rc -ne 0 ] && grep -q "loop.conf:[23]: forward loop: \(bob -> carol -> bob\|carol -> bob -> carol\)" "$DIR/loop.out" ||
        { log "loop not refused (rc $rc): $(cat "$DIR/loop.out")"; return 1; }
    start_proxy '[groups]\nduo = all: alice, bob\n[forward]\nalice = always: duo\n' || return 1
    phone bob uas_answer_wait_bye.xml || return 1
    register_user reg-alice 15070 alice || return 1
    call alice uac_call_caller_hangs_up.xml && phone_done bob && stop_proxy
}

# SIGHUP re-reads the plan; a broken one keeps the old and names the line
test_sighup_reloads_the_plan() {
    start_proxy '[extensions]\n101 = alice\n' || return 1
    phone bob uas_answer_wait_bye.xml || return 1
    printf '[extensions]\n101 = alice\n102 = bob\n' >"$DIR/office.conf"
    kill -HUP "$PROXY_PID"
    sleep 0.5
    call 102 uac_call_caller_hangs_up.xml && phone_done bob || return 1
    printf '[extensions]\n102 = bob\n103 bob\n' >"$DIR/office.conf"
    kill -HUP "$PROXY_PID"
    sleep 0.5
    grep -q "dial plan not reloaded.*office.conf:3: expected 'key = value'" "$DIR/proxy.log" ||
        { log "no reload error: $(tail -3 "$DIR/proxy.log")"; return 1; }
    stop_proxy
}

# A phone told to answer by itself (Call-Info answer-after=0, Alert-Info
# auto-answer, Answer-Mode: Auto) is an intercom between colleagues, and
# a microphone opened by a stranger: alice's own call keeps the headers,
# the same call from another domain reaches bob without them.
test_auto_answer_only_from_our_users() {
    start_proxy '[extensions]\n101 = bob\n' || return 1
    local hints='      Call-Info: <sip:intercom.example>;answer-after=0\n      Alert-Info: <http://x.example/ring>;info=alert-autoanswer\n      Answer-Mode: Auto\n      Subject: switchboard test'
    sed "s|      Subject: switchboard test|$hints|" "$SIPP_DIR/uac_call_caller_hangs_up.xml" \
        >"$DIR/uac_intercom.xml"
    sed 's/sip:alice@\[remote_ip\]:\[remote_port\]/sip:mallory@evil.example/g' "$DIR/uac_intercom.xml" \
        >"$DIR/uac_stranger.xml"
    phone bob uas_answer_wait_bye.xml || return 1
    SIPP_DIR=$DIR call 101 uac_intercom.xml && phone_done bob || return 1
    invite_has bob "answer-after=0" && invite_has bob "alert-autoanswer" || return 1
    grep -A30 "message received" "$DIR/bob.msg" | grep -qi "^Answer-Mode: Auto" ||
        { log "Answer-Mode did not reach bob"; return 1; }
    mv "$DIR/bob.msg" "$DIR/bob-colleague.msg"
    sipp_start bob uas_answer_wait_bye.xml "${PORT[bob]}" bob
    PHONE_bob=$SIPP_PID
    SIPP_DIR=$DIR call 101 uac_stranger.xml && phone_done bob || return 1
    ! grep -A30 "message received" "$DIR/bob.msg" | grep -qi -- "answer-after\|autoanswer\|Answer-Mode" ||
        { log "the stranger's INVITE kept an auto-answer header"; return 1; }
    expect_count "stripped" "$(curl -s "http://$ADMIN/metrics" |
        sed -n 's/^switchboard_events_total{event="auto_answer_stripped"} //p')" 1 && stop_proxy
}

run_tests office "workers=$WORKERS, " "$@"
