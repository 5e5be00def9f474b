#!/usr/bin/env bash
# Protocol tests: drives the real switchboard binary over UDP on 127.0.0.1
# with SIPp scenarios (tests/sipp/) and raw datagrams (tests/udp_probe.py).
#
# usage: tests/protocol_tests.sh BINARY OUTDIR [WORKERS] [TEST...]
# Every process is started here and ended by PID; SIPp bounds each run with
# -timeout, and scripts/test.sh bounds the whole file with `timeout`.
# Prints PASS/FAIL per test and a closing "N passed, M failed" line.
set -u
BIN=$(realpath "$1")
OUT=$2
WORKERS=${3:-2}
shift 3 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
IP=127.0.0.1
PROXY_PORT=${SB_TEST_PORT:-15060}
mkdir -p "$OUT"

. "$HERE/lib.sh"

start_proxy() {
    # one worker gets one listener: the worker reads the sockets itself (run
    # to completion, transport_udp.h); more workers get listener threads
    launch_proxy --listeners $((WORKERS == 1 ? 1 : 2)) --workers "$WORKERS" --log-level info "$@"
}

. "$HERE/sipp_lib.sh"

# --- the tests ---------------------------------------------------------------

test_register_lifecycle() {
    start_proxy && sipp_run reg register_lifecycle.xml 15080 carol && stop_proxy
}

test_call_caller_hangs_up() {
    call_flow uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml &&
        expect_count INVITEs "$(count_received callee INVITE)" 1 &&
        expect_count BYEs "$(count_received callee BYE)" 1 && stop_proxy
}

test_call_callee_hangs_up() {
    call_flow uas_answer_send_bye.xml uac_call_callee_hangs_up.xml &&
        expect_count BYEs "$(count_received caller BYE)" 1 && stop_proxy
}

test_cancel_while_ringing() {
    call_flow uas_ring_until_cancel.xml uac_cancel_while_ringing.xml &&
        expect_count CANCELs "$(count_received callee CANCEL)" 1 &&
        expect_count ACKs "$(count_received callee ACK)" 1 && stop_proxy
}

test_decline_603() {
    call_flow uas_reject_declined.xml uac_rejected_declined.xml &&
        expect_count ACKs "$(count_received callee ACK)" 1 && stop_proxy
}

test_busy_486() {
    call_flow uas_reject_busy.xml uac_rejected_busy.xml &&
        expect_count ACKs "$(count_received callee ACK)" 1 &&
        expect_count "standard phrases" "$(grep -c -e '^SIP/2.0 486 Busy Here' -e '^SIP/2.0 180 Ringing' "$DIR/caller.msg")" 2 &&
        stop_proxy
}

test_not_registered_404() {
    start_proxy && sipp_run caller uac_final_404.xml 15080 nobody && stop_proxy
}

timer_c_config() {
    printf '[proxy]\ntimer_c_ms = 2000\n' >"$DIR/timer_c.conf"
    echo "$DIR/timer_c.conf"
}

test_no_answer_timer_c() {
    start_proxy -c "$(timer_c_config)" || return 1
    register_user reg 15070 bob || return 1
    place_call uas_ring_until_cancel.xml uac_final_408.xml &&
        expect_count CANCELs "$(count_received callee CANCEL)" 1 && stop_proxy
}

test_invite_retransmission_absorbed() {
    call_flow uas_answer_wait_bye.xml uac_invite_retransmitted.xml &&
        expect_count INVITEs "$(count_received callee INVITE)" 1 || return 1
    local ringing
    ringing=$(count_received caller "SIP/2.0 180")
    [ "$ringing" -ge 2 ] || { log "the retransmitted INVITE got no 180 back"; return 1; }
    stop_proxy
}

test_fork_first_answer_wins() {
    start_proxy || return 1
    register_user reg1 15070 bob && register_user reg2 15072 bob || return 1
    sipp_start winner uas_answer_wait_bye.xml 15070 bob
    local winner=$SIPP_PID
    sipp_start loser uas_ring_until_cancel.xml 15072 bob
    local loser=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_caller_hangs_up.xml 15080 bob && sipp_wait winner "$winner" &&
        sipp_wait loser "$loser" &&
        expect_count "loser INVITEs" "$(count_received loser INVITE)" 1 &&
        expect_count "loser CANCELs" "$(count_received loser CANCEL)" 1 && stop_proxy
}

# Linphone's conference participants SUBSCRIBE to the host's address with a
# conf-id URI parameter (Event: conference); the proxy routes it to the host.
test_conference_subscribe_routed() {
    call_flow uas_conference_focus.xml uac_conference_subscribe.xml &&
        expect_count SUBSCRIBEs "$(count_received callee SUBSCRIBE)" 1 && stop_proxy
}

# SIPp's load-test layout (and a phone registering from an ephemeral
# port): bob's UAS runs on 15070 while another process on 15071 registers
# it. Nothing says NAT, so all 100 calls reach the Contact's port.
test_contact_registered_by_another_process() {
    start_proxy || return 1
    sipp_run reg register_contact_port.xml 15071 bob -set contact_port 15070 || return 1
    sipp_start callee uas_answer_wait_bye.xml 15070 bob -m 100
    local callee=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_caller_hangs_up.xml 15080 bob -m 100 -r 50 -l 20 || return 1
    sipp_wait callee "$callee" &&
        expect_count "INVITEs at the Contact" "$(count_received callee INVITE)" 100 &&
        expect_count "INVITEs at the registering port" "$(count_received reg INVITE)" 0 && stop_proxy
}

# SIPp's stock load-test UAS: one process registers bob and holds, and
# serves every call out of call (-oocsf), answering and then hanging up.
# Its BYEs all carry one Via branch (out-of-call calls share call number
# 0): each is a request of its own, so all 200 calls complete, over UDP and
# with a TCP caller (-t tn).
oocsf_calls() { # CALLER-TRANSPORT
    start_proxy -l "tcp:$IP:$PROXY_PORT" || return 1
    sipp_start callee reg_hold.xml 15070 bob -oocsf "$SIPP_DIR/uas_answer_send_bye.xml" -d 60000
    local callee=$SIPP_PID
    sleep 0.5
    sipp_run caller uac_call_callee_hangs_up.xml 15080 bob -t "$1" -max_socket 1000 -m 200 -r 100 -l 40 ||
        return 1
    expect_count "BYEs at the caller" "$(count_received caller BYE)" 200 || return 1
    kill "$callee" 2>/dev/null
    stop_proxy
}

test_out_of_call_uas_serves_every_call() {
    oocsf_calls u1
}

test_out_of_call_uas_with_tcp_caller() {
    oocsf_calls tn
}

# --- digest authentication (RFC 3261 §22) ---

# auth_proxy MODE [CONFIG LINES]: a users file (alice/wonderland with MD5
# and SHA-256 HA1s, bob/builder, carol/secret, written as htdigest would)
# and a proxy with [auth] require = MODE and the extra [auth] lines.
auth_proxy() {
    local mode=$1 realm=pbx.test up u pw
    shift
    for up in alice:wonderland bob:builder carol:secret; do
        u=${up%%:*} pw=${up#*:}
        printf '%s:%s:%s\n' "$u" $realm "$(printf '%s:%s:%s' "$u" $realm "$pw" | md5sum | cut -d' ' -f1)"
    done >"$DIR/users"
    printf 'alice:%s:%s\n' $realm "$(printf 'alice:%s:wonderland' $realm | sha256sum | cut -d' ' -f1)" \
        >>"$DIR/users"
    printf '[auth]\nrequire = %s\nrealm = %s\nusers = %s\n' "$mode" $realm "$DIR/users" >"$DIR/auth.conf"
    printf '%s\n' "$@" >>"$DIR/auth.conf"
    start_proxy -c "$DIR/auth.conf"
}

# digest STEPS USER PASSWORD [flags]: tests/digest_client.py's REGISTER
# steps; its output ("STEP STATUS" lines) in $DIR/digest.out, and the log.
digest() {
    local steps=$1 user=$2 password=$3
    shift 3
    python3 "$HERE/digest_client.py" "$IP" "$PROXY_PORT" --user "$user" --password "$password" \
        --steps "$steps" "$@" >"$DIR/digest.out" 2>&1
    sed 's/^/digest: /' "$DIR/digest.out" >>"$DIR/test.log"
}

# said LINE...: digest.out is exactly these lines.
said() {
    [ "$(cat "$DIR/digest.out")" = "$(printf '%s\n' "$@")" ] ||
        { log "wanted: $*"; return 1; }
}

# MD5 with SIPp's own [authentication]: challenged 401, then bound; a
# REGISTER without credentials is not bound.
test_auth_register_md5_with_sipp() {
    auth_proxy register || return 1
    sipp_run reg register_auth.xml 15070 bob -au bob -ap builder || return 1
    if register_user plain 15072 dave; then
        log "a REGISTER without credentials was bound"
        return 1
    fi
    grep -q "^SIP/2.0 401 Unauthorized" "$DIR/plain.msg" || { log "no 401 for it"; return 1; }
    stop_proxy
}

# SHA-256 (RFC 8760) through a client SIPp cannot emulate: a replayed
# nonce-count is refused, and a stale nonce is answered stale=true and the
# retry with the new nonce passes.
test_auth_register_sha256_replay_stale() {
    auth_proxy register "algorithms = SHA-256, MD5" "nonce_ttl = 2" || return 1
    local challenge
    challenge=$(python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" --print \
        --expect 401 --text "REGISTER sip:$IP:$PROXY_PORT SIP/2.0\r\nVia: SIP/2.0/UDP $IP:@PORT@;branch=z9hG4bK-s1\r\nFrom: <sip:alice@$IP>;tag=1\r\nTo: <sip:alice@$IP>\r\nCall-ID: sha-1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n" 2>>"$DIR/test.log") ||
        { log "the REGISTER was not challenged: $challenge"; return 1; }
    grep -q 'algorithm=SHA-256' <<<"$challenge" || { log "no SHA-256 challenge offered"; return 1; }
    digest plain,auth,replay,wait:2.5,retry alice wonderland --alg SHA-256 &&
        said "plain 401" "auth 200" "replay 403" "wait:2.5 slept" "retry 401 stale, then 200" &&
        stop_proxy && grep -q "refused: credentials replayed=1," "$DIR/proxy.log"
}

# A wrong password is challenged again, then the address is throttled:
# even the right password is refused for the back-off period.
test_auth_wrong_password_throttled() {
    auth_proxy register "max_failures = 3" "block_seconds = 30" || return 1
    digest plain,auth,auth,auth,auth alice guess &&
        said "plain 401" "auth 401" "auth 401" "auth 401" "auth 403" || return 1
    # blocked: a first attempt is still challenged (it costs nothing, and a
    # phone whose address a spoofer blocked must get to show its password),
    # but even the right password from this untrusted address is refused
    digest plain,auth alice wonderland && said "plain 401" "auth 403" || return 1
    stop_proxy || return 1
    grep -q "refused: wrong password or unknown user=3," "$DIR/proxy.log" &&
        grep -q "refused: too many failures from the source=2," "$DIR/proxy.log" ||
        { log "counters: $(grep stats: "$DIR/proxy.log")"; return 1; }
}

# carol's password cannot register alice (403), and a stranger's
# "Contact: *" for alice is challenged, not obeyed.
test_auth_wrong_user_and_wildcard_removal() {
    auth_proxy register || return 1
    digest plain,auth alice wonderland && said "plain 401" "auth 200" || return 1
    digest plain,auth carol secret --aor alice && said "plain 401" "auth 403" || return 1
    digest plain,auth mallory x --aor alice --contact-star && said "plain 401" "auth 401" || return 1
    digest plain,auth alice wonderland --contact-star && said "plain 401" "auth 200" || return 1
    stop_proxy
}

# The dialog table (src/sip/dialog.c): a callee that moves to another
# port with a re-INVITE is reached there through the call's Route (it
# used to be refused: the Route was signed for its first Contact), and
# once the BYE has passed, a copy of the Route is refused 481 and reaches
# nobody. tests/dialog_check.py plays both phones.
test_dialog_target_refresh_and_end() {
    start_proxy || return 1
    python3 "$HERE/dialog_check.py" "$IP" "$PROXY_PORT" 15080 15070 15072 >>"$DIR/test.log" 2>&1 ||
        return 1
    stop_proxy || return 1
    grep -q "refused: the Route of a call that has ended=1," "$DIR/proxy.log" ||
        { log "counters: $(grep stats: "$DIR/proxy.log")"; return 1; }
}

# A REGISTER copied byte for byte (Via branch and nonce-count included)
# is answered from its server transaction, never applied again: alice
# registers, then removes her bindings with a fresh nonce; the copy of
# the first REGISTER gets the first answer again but binds nothing. (When
# REGISTERs had no transaction, the copy passed digest's retransmission
# exemption and bound alice's phone again.)
test_auth_register_copy_answered_from_transaction() {
    auth_proxy register || return 1
    digest plain,auth,plain,auth*,copy:2 alice wonderland &&
        said "plain 401" "auth 200" "plain 401" "auth* 200" "copy:2 200" || return 1
    digest plain,auth alice wonderland --query && said "plain 401" "auth 200" ||
        { log "alice is bound again: the copy was applied"; return 1; }
    stop_proxy || return 1
    grep -q "request retransmissions absorbed=1," "$DIR/proxy.log" ||
        { log "counters: $(grep stats: "$DIR/proxy.log")"; return 1; }
}

# [registrar] use_domain: each domain is its own realm. alice of
# a.example and alice of b.example have their own passwords, each
# challenged in her domain's realm; one's password does not register the
# other; a REGISTER for a domain not served here is refused 403 before any
# challenge (it would bind a user of anyone's domain).
test_auth_use_domain_realms() {
    local d pw
    for d in a.example:apple b.example:banana; do
        pw=${d#*:} d=${d%%:*}
        printf 'alice:%s:%s\n' "$d" "$(printf 'alice:%s:%s' "$d" "$pw" | md5sum | cut -d' ' -f1)"
    done >"$DIR/users"
    printf '[server]\ndomain = a.example\ndomain = b.example\n[registrar]\nuse_domain = yes\n' >"$DIR/domains.conf"
    printf '[auth]\nrequire = register\nusers = %s\n' "$DIR/users" >>"$DIR/domains.conf"
    start_proxy -c "$DIR/domains.conf" || return 1
    digest plain,auth alice apple --domain a.example && said "plain 401" "auth 200" || return 1
    digest plain,auth alice banana --domain b.example && said "plain 401" "auth 200" || return 1
    digest plain,auth alice apple --domain b.example && said "plain 401" "auth 401" || return 1
    digest plain alice apple --domain evil.example && said "plain 403" || return 1
    stop_proxy || return 1
    grep -q "REGISTERs refused: for a domain not served here (use_domain)=1," "$DIR/proxy.log" ||
        { log "counters: $(grep stats: "$DIR/proxy.log")"; return 1; }
}

# require = all: the caller's INVITE is challenged (407), the call goes
# through with credentials, its BYE (following our signed Record-Route) is
# not challenged; a second attempt with a wrong password is refused and
# journaled "refused"; the first challenge leaves no journal line.
test_auth_invite_challenged() {
    auth_proxy all || return 1
    kill -TERM "$PROXY_PID"
    wait "$PROXY_PID"
    start_proxy -c "$DIR/auth.conf" --journal "$DIR/journal.jsonl" || return 1
    sipp_run reg register_auth.xml 15070 bob -au bob -ap builder || return 1
    sipp_start callee uas_answer_wait_bye.xml 15070 bob
    local callee=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_auth.xml 15080 bob -au alice -ap wonderland &&
        sipp_wait callee "$callee" || return 1
    # one 407, for the first INVITE; none for the BYE
    expect_count "challenges" "$(count_received caller "SIP/2.0 407")" 1 || return 1
    sipp_run refused uac_call_auth_refused.xml 15082 bob -au alice -ap guess && stop_proxy || return 1
    python3 - "$DIR/journal.jsonl" >>"$DIR/test.log" 2>&1 <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
outcomes = [(c["outcome"], c["status"]) for c in calls]
assert outcomes == [("answered", 200), ("refused", 407)], outcomes
print("journal ok:", outcomes)
PY
}

test_max_forwards_zero_483() {
    start_proxy && sipp_run caller uac_final_483.xml 15080 bob && stop_proxy
}

test_options_to_proxy() {
    start_proxy && sipp_run options uac_options_proxy.xml 15080 monitor && stop_proxy
}

# One journal line per call, with the right outcome and the right party
# hanging up, for every way a call can end.
test_journal_outcomes() {
    start_proxy -c "$(timer_c_config)" --journal "$DIR/journal.jsonl" || return 1
    register_user reg 15070 bob || return 1
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml &&
        place_call uas_answer_send_bye.xml uac_call_callee_hangs_up.xml &&
        place_call uas_ring_until_cancel.xml uac_cancel_while_ringing.xml &&
        place_call uas_reject_declined.xml uac_rejected_declined.xml &&
        place_call uas_reject_busy.xml uac_rejected_busy.xml &&
        place_call uas_reject_unavailable.xml uac_final_480.xml || return 1
    sipp_run caller uac_final_404.xml 15080 nobody &&
        place_call uas_ring_until_cancel.xml uac_final_408.xml && stop_proxy || return 1
    python3 - "$DIR/journal.jsonl" >>"$DIR/test.log" 2>&1 <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
got = [json.loads(l) for l in lines]
want = [("answered", "caller", 200), ("answered", "callee", 200), ("cancelled", "caller", 487),
        ("declined", "callee", 603), ("busy", "callee", 486), ("unavailable", "callee", 480),
        ("not-found", "proxy", 404),
        ("no-answer", "proxy", 408)]
seen = [(r["outcome"], r["hung_up_by"], r["status"]) for r in got]
assert seen == want, f"journal says {seen}"
for r in got:
    assert r["from"]["aor"].startswith("sip:alice@") and r["from"]["name"] == "Alice", r
    assert r["invite_at"] <= r["ended_at"], r
    if r["outcome"] == "answered":
        assert r["answered_at"] and r["answered_by"].startswith("sip:bob@"), r
        assert r["duration_s"] > 0, r
    else:
        assert r["answered_at"] is None and r["duration_s"] == 0, r
    if r["outcome"] not in ("not-found", "unavailable"):
        assert r["ringing_at"], r
print("journal ok:", len(got), "lines")
PY
}

# SIGTERM while 200 calls are up: every line parses, nothing is lost.
test_journal_complete_on_sigterm() {
    start_proxy --journal "$DIR/journal.jsonl" || return 1
    register_user reg 15070 bob || return 1
    sipp "$IP:$PROXY_PORT" -sf "$SIPP_DIR/uas_answer_wait_bye.xml" -i "$IP" -p 15070 -mp 20700 \
        -s bob -nostdin -timeout 60 >"$DIR/callee.out" 2>&1 &
    PIDS+=($!)
    sipp "$IP:$PROXY_PORT" -sf "$SIPP_DIR/uac_call_hold.xml" -i "$IP" -p 15080 -mp 20800 \
        -s bob -r 200 -l 200 -m 200 -d 30000 -nostdin -timeout 60 >"$DIR/caller.out" 2>&1 &
    PIDS+=($!)
    sleep 3
    stop_proxy || return 1
    local written
    written=$(sed -n 's/.*journal: \([0-9]*\) line(s) written, 0 failed, 0 dropped.*/\1/p' "$DIR/proxy.log" | tail -1)
    [ -n "$written" ] || { log "journal counters missing or not clean"; return 1; }
    expect_count "journal lines" "$(wc -l <"$DIR/journal.jsonl")" "$written" &&
        "$HERE/../scripts/journal" "$DIR/journal.jsonl" --check >>"$DIR/test.log" 2>&1 || return 1
    local interrupted
    interrupted=$(grep -c '"outcome":"interrupted"' "$DIR/journal.jsonl")
    [ "$interrupted" -ge 100 ] || { log "only $interrupted interrupted calls in the journal"; return 1; }
}

# With the Slovak table the caller sees the translated phrases, byte for byte.
test_reason_phrases_translated() {
    start_proxy --reasons "$HERE/../conf/reasons/sk.conf" || return 1
    register_user reg 15070 bob || return 1
    place_call uas_reject_busy.xml uac_rejected_busy.xml || return 1
    grep -q "^SIP/2.0 180 Zvonenie" "$DIR/caller.msg" &&
        grep -q "^SIP/2.0 486 Obsaden$(printf '\xc3\xa9')" "$DIR/caller.msg" ||
        { log "translated phrases not seen by the caller"; return 1; }
    stop_proxy
}

# The built-in trace of a call, read back with tshark, shows the ladder.
test_sip_trace_readable() {
    start_proxy --trace "$DIR/call.pcap" || return 1
    register_user reg 15070 bob || return 1
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml && stop_proxy || return 1
    tshark -r "$DIR/call.pcap" -Y sip -T fields -e sip.Method -e sip.Status-Code \
        2>/dev/null >"$DIR/ladder.txt"
    python3 - "$DIR/ladder.txt" >>"$DIR/test.log" 2>&1 <<'PY'
import sys
seen = [l.strip() for l in open(sys.argv[1]) if l.strip()]
want = ["INVITE", "100", "180", "200", "ACK", "BYE", "200"]
i = 0
for s in seen:
    if i < len(want) and s == want[i]:
        i += 1
assert i == len(want), f"trace ladder {seen}"
print("trace ok:", " ".join(seen))
PY
}

# Every message of tests/corpus/ gets the answer tests/corpus/EXPECTED
# names (all sent at once, each from its own socket), the proxy stays up
# through all of them, and a call works after.
test_torture_corpus() {
    start_proxy || return 1
    python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" --corpus "$HERE/corpus/EXPECTED" \
        --wait 0.5 >>"$DIR/test.log" 2>&1 || return 1
    kill -0 "$PROXY_PID" 2>/dev/null || { log "the proxy died on the corpus"; return 1; }
    register_user reg 15070 bob && place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml &&
        stop_proxy
}

# RFC 3261 §19.1.4 (RFC 4475 escnull): Contacts sip:%00@h and sip:%00%00@h
# are two users, so two bindings, not one.
test_escaped_users_are_distinct_bindings() {
    start_proxy || return 1
    python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" --file "$HERE/corpus/escaped_null_contacts.sip" \
        --expect 200 --print >"$DIR/reply.txt" 2>&1 || { log "$(cat "$DIR/reply.txt")"; return 1; }
    expect_count "bindings listed" "$(grep -c '^Contact:' "$DIR/reply.txt")" 2 && stop_proxy
}

# RFC 4475's valid messages with NULs (escnull, intmeth): answered or
# forwarded as valid, their escaped NULs byte for byte in what leaves.
test_rfc4475_nuls_pass_byte_for_byte() {
    start_proxy || return 1
    python3 "$HERE/rfc4475_valid.py" "$IP" "$PROXY_PORT" >>"$DIR/test.log" 2>&1 && stop_proxy
}

# RFC 3261 §16.6: the proxy does not touch a body. A multipart body and a
# binary one (NULs, bytes that look like SIP) reach the callee, and the
# callee's reach the caller, byte for byte (tests/body_relay.py compares
# SHA-256 hashes).
test_bodies_pass_byte_for_byte() {
    start_proxy || return 1
    python3 "$HERE/body_relay.py" "$IP" "$PROXY_PORT" multipart >>"$DIR/test.log" 2>&1 &&
        python3 "$HERE/body_relay.py" "$IP" "$PROXY_PORT" binary >>"$DIR/test.log" 2>&1 && stop_proxy
}

# What the proxy does not own leaves as it came (§16.6), because it is
# forwarded by editing the bytes received (sip_edit.h): compact names, case,
# a folded field, blanks, a reason phrase, through a call's six relayed
# messages (INVITE, 180, 200, ACK, BYE, its 200), each counted as edited.
test_unowned_fields_pass_byte_for_byte() {
    local admin=$IP:${SB_TEST_ADMIN_PORT:-18061}
    start_proxy --admin "$admin" || return 1
    python3 "$HERE/headers_relay.py" "$IP" "$PROXY_PORT" >>"$DIR/test.log" 2>&1 || return 1
    curl -s -m 5 -o "$DIR/metrics" "http://$admin/metrics" || return 1
    local edited serialized
    edited=$(sed -n 's/^switchboard_events_total{event="forward_edited"} //p' "$DIR/metrics")
    serialized=$(sed -n 's/^switchboard_events_total{event="forward_serialized"} //p' \
        "$DIR/metrics")
    expect_count "messages relayed by editing" "${edited:-0}" 6 &&
        expect_count "messages relayed serialized" "${serialized:--1}" 0 && stop_proxy
}

# One 100 per INVITE, written from the request's own lines: with several
# workers the listener thread that read it sends it before the hand-off
# (counted as trying_early), with one the worker does, as before; a
# retransmission gets the transaction's last answer (404), no new 100.
test_trying_once_before_the_hand_off() {
    local admin=$IP:${SB_TEST_ADMIN_PORT:-18061}
    start_proxy --admin "$admin" || return 1
    python3 "$HERE/trying_probe.py" "$IP" "$PROXY_PORT" >>"$DIR/test.log" 2>&1 || return 1
    curl -s -m 5 -o "$DIR/metrics" "http://$admin/metrics" || return 1
    local early
    early=$(sed -n 's/^switchboard_events_total{event="trying_early"} //p' "$DIR/metrics")
    expect_count "100s sent by a listener" "${early:--1}" $((WORKERS > 1 ? 1 : 0)) && stop_proxy
}

# A new INVITE's 100 leaves before the messages read with it are handled
# (two passes over each batch), yet what comes back is as in arrival order:
# 40 calls in one burst, each a CANCEL before its INVITE (481, the call goes
# on) or an INVITE and its retransmission (one transaction at the callee).
test_a_burst_is_answered_in_arrival_order() {
    start_proxy || return 1
    python3 "$HERE/batch_order.py" "$IP" "$PROXY_PORT" 40 >>"$DIR/test.log" 2>&1 && stop_proxy
}

# Far more calls than the bounds allow: the proxy refuses with 503, stays
# small, and right after the flood a normal call goes through.
test_flood_then_call() {
    # a bound low enough that even a sanitizer build, slower to drain its
    # queues, reaches it
    printf '[proxy]\nt1_ms = 50\nt4_ms = 200\nmax_transactions = 300\nqueue_limit = 2000\n' \
        >"$DIR/flood.conf"
    start_proxy -c "$DIR/flood.conf" || return 1
    register_user reg 15070 bob || return 1
    sipp "$IP:$PROXY_PORT" -sf "$HERE/../bench/sipp/uas_call.xml" -i "$IP" -p 15070 -mp 20700 \
        -nostdin -timeout 60 >"$DIR/callee.out" 2>&1 &
    local callee=$!
    PIDS+=($callee)
    # SIPp's own -timeout does not stop it while calls wait out their
    # retransmissions (3 minutes against a sanitizer build): timeout(1) does
    timeout -s KILL 40 sipp "$IP:$PROXY_PORT" -sf "$HERE/../bench/sipp/uac_call.xml" -i "$IP" \
        -s bob -t un -max_socket 5000 -mp 20800 -r 2000 -m 12000 -l 4000 -d 0 -nostdin \
        -timeout 25 >"$DIR/flood.out" 2>&1
    kill -0 "$PROXY_PID" || { log "proxy died in the flood"; return 1; }
    local rss
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PROXY_PID/status")
    log "RSS after the flood: $rss KiB"
    # 256 MiB; sanitizer builds keep freed memory in quarantine, so they get more
    local limit=${SB_TEST_RSS_LIMIT_KIB:-262144}
    [ "$rss" -lt "$limit" ] || { log "RSS $rss KiB is past the bound of $limit KiB"; return 1; }
    kill -KILL "$callee" 2>/dev/null
    sleep 4 # Timers J, L and M at T1 = 50 ms
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml && stop_proxy || return 1
    grep -q "requests refused with 503 (transaction limit)=[1-9]" "$DIR/proxy.log" ||
        { log "the bound was never hit: $(grep stats: "$DIR/proxy.log")"; return 1; }
}

# Callees that never answer, one that vanishes mid-call, and responses for
# transactions nobody has: once the timers ran, no transaction is left behind.
test_dead_peers_leave_no_state() {
    printf '[proxy]\nt1_ms = 50\nt4_ms = 200\ntimer_c_ms = 1000\n' >"$DIR/dead.conf"
    start_proxy -c "$DIR/dead.conf" || return 1
    register_user reg 15090 ghost || return 1 # then nobody listens on 15090
    sipp_run caller uac_final_408.xml 15080 ghost -m 200 -r 100 -l 200 || return 1
    # a callee that answers and then vanishes: the caller's BYE times out (408)
    register_user reg2 15070 bob || return 1
    place_call uas_answer_vanish.xml uac_call_callee_vanishes.xml || return 1
    # a callee that answers only after Timer B (3.2 s here) gave up on it: the
    # caller already has 408; the late 200 is relayed statelessly, ACKed and
    # hung up through the proxy
    place_call uas_answer_after_timer_b.xml uac_answer_after_timer_b.xml || return 1
    local i
    for i in $(seq 20); do
        python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" --file "$HERE/corpus/response_for_nothing.sip" \
            --expect silence --wait 0.05 >/dev/null || { log "a stray response was answered"; return 1; }
    done
    sleep 4 # Timers B, H and I at T1 = 50 ms
    kill -USR1 "$PROXY_PID"
    sleep 0.5
    grep -q "live transactions=0$" "$DIR/proxy.log" ||
        { log "state left behind: $(grep stats: "$DIR/proxy.log" | tail -1)"; return 1; }
    stop_proxy
}

# With rate_limit = 20, a burst of 100 requests from one address gets about
# 40 answers (the burst allowance), and the source is served again a moment later.
test_rate_limit_per_source() {
    printf '[server]\nrate_limit = 20\n' >"$DIR/limit.conf"
    start_proxy -c "$DIR/limit.conf" || return 1
    python3 - "$IP" "$PROXY_PORT" >>"$DIR/test.log" 2>&1 <<'PY' || return 1
import socket, sys, time
ip, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ip, 0))
me = s.getsockname()[1]
def options(n):
    return (f"OPTIONS sip:{ip}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {ip}:{me};branch=z9hG4bK-rl{n}{time.time_ns()};rport\r\n"
            f"From: <sip:flood@{ip}>;tag={n}\r\nTo: <sip:{ip}:{port}>\r\nCall-ID: rl-{n}-{time.time_ns()}\r\n"
            f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
for n in range(100):
    s.sendto(options(n), (ip, port))
s.settimeout(1.0)
answered = 0
try:
    while True:
        s.recvfrom(65535)
        answered += 1
except socket.timeout:
    pass
print("answered in the burst:", answered)
assert 30 <= answered <= 50, answered
time.sleep(1.5)
s.sendto(options(1000), (ip, port))
reply = s.recvfrom(65535)[0]
assert reply.startswith(b"SIP/2.0 200"), reply[:40]
PY
    stop_proxy && grep -q "past the rate limit of 20/s" "$DIR/proxy.log"
}

probe() { python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" "$@" >>"$DIR/test.log" 2>&1; }

test_keepalive_and_garbage() {
    start_proxy || return 1
    probe --text '\r\n\r\n' --expect-silence || return 1
    probe --hex 'deadbeef00ff0102' --expect-silence || return 1
    probe --text 'INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-x1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n' --expect 400 || return 1
    # the proxy still serves a whole call afterwards
    register_user reg 15070 bob || return 1
    sipp_start callee uas_answer_wait_bye.xml 15070 bob
    local callee=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_caller_hangs_up.xml 15080 bob && sipp_wait callee "$callee" &&
        stop_proxy || return 1
    # counted: one keep-alive ignored, two malformed (and not the keep-alive)
    grep -q "keep-alives ignored=1," "$DIR/proxy.log" &&
        grep -q "malformed messages=2," "$DIR/proxy.log" ||
        { log "counters wrong: $(grep stats: "$DIR/proxy.log")"; return 1; }
}

# --- runner -------------------------------------------------------------------

run_tests protocol "workers=$WORKERS, " "$@"
