#!/usr/bin/env bash
# Real phones through switchboard: baresip and Linphone's linphonec on
# loopback addresses, one per client (baresip on 127.0.0.2-.4, linphonec on
# 127.0.0.5-.7), audio from WAV files, what was heard checked with sox. Every process is started here and
# ended by PID; on failure the clients' logs, the journal and a SIP trace of
# the test stay in its folder.
#
# usage: tests/clients_tests.sh BINARY OUTDIR [TEST...]
set -u
BIN=$(realpath "$1")
OUT=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
IP=127.0.0.1
PROXY_PORT=${SB_CLIENT_TEST_PORT:-15160}
mkdir -p "$OUT"
. "$HERE/lib.sh"

start_proxy() {
    launch_proxy --workers 2 --listeners 2 --journal "$DIR/journal.jsonl" --trace "$DIR/sip.pcap" "$@"
}

. "$HERE/clients_lib.sh"

# --- tests --------------------------------------------------------------------

test_voice_call_caller_hangs_up() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    baresip_setup bob bob 127.0.0.3 auto 440
    start_proxy || return 1
    baresip_start bob 20
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    baresip_start alice 8 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID"
    sleep 1
    stop_clients "$bob"
    stop_proxy && heard bob 1000 && heard alice 440 &&
        journal_says outcome=answered hung_up_by=caller answered_by=127.0.0.3
}

test_voice_call_callee_hangs_up() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    baresip_setup bob bob 127.0.0.3 auto 440
    start_proxy || return 1
    baresip_start bob 7
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    baresip_start alice 20 "/dial sip:bob@$IP:$PROXY_PORT"
    local alice=$LAST_PID
    wait "$bob"
    sleep 1
    stop_clients "$alice"
    stop_proxy && heard bob 1000 && heard alice 440 &&
        journal_says outcome=answered hung_up_by=callee
}

test_cancel_while_ringing() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    baresip_setup bob bob 127.0.0.3 manual 440
    start_proxy || return 1
    baresip_start bob 15
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    baresip_start alice 3 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID"
    sleep 1
    stop_clients "$bob"
    grep -qi "ringing" "$DIR/alice.log" || { log "alice never heard ringing"; return 1; }
    stop_proxy && journal_says outcome=cancelled hung_up_by=caller status=487
}

test_fork_to_two_devices() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    baresip_setup desk bob 127.0.0.3 manual 440
    baresip_setup phone bob 127.0.0.4 auto 440
    start_proxy || return 1
    baresip_start desk 20
    local desk=$LAST_PID
    baresip_start phone 20
    local phone=$LAST_PID
    registered bob 127.0.0.3 && registered bob 127.0.0.4 || return 1
    baresip_start alice 6 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID"
    sleep 1
    stop_clients "$desk" "$phone"
    # the desk rang, then stopped when the phone answered
    grep -qi "incoming call" "$DIR/desk.log" || { log "the desk never rang"; return 1; }
    grep -qiE "terminated|closed" "$DIR/desk.log" || { log "the desk kept ringing"; return 1; }
    stop_proxy && heard phone 1000 &&
        journal_says outcome=answered answered_by=127.0.0.4 hung_up_by=caller
}

# A video call: the callee's answer, relayed by the proxy, accepts the
# m=video stream (non-zero port), and the journal notes video.
test_video_call() {
    baresip_setup alice alice 127.0.0.2 auto 1000 video
    baresip_setup bob bob 127.0.0.3 auto 440 video
    start_proxy || return 1
    baresip_start bob 15
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    baresip_start alice 6 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID"
    stop_clients "$bob"
    stop_proxy || return 1
    relayed_answers 127.0.0.2 >"$DIR/answer-media.txt"
    accepts_video "the relayed answer" "$(cat "$DIR/answer-media.txt")" || return 1
    heard bob 1000 && journal_says outcome=answered video=True
}

# Blind transfer (RFC 3515): alice calls bob, bob REFERs her to carol; the
# REFER, its 202 and the NOTIFY (message/sipfrag) travel through the proxy,
# alice calls carol and carol hears her.
test_blind_transfer() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    baresip_setup bob bob 127.0.0.3 auto 440
    baresip_setup carol carol 127.0.0.4 auto 700
    start_proxy || return 1
    baresip_start carol 25
    local carol=$LAST_PID
    baresip_start_scripted bob 25 5 "/transfer sip:carol@$IP:$PROXY_PORT"
    local bob=$LAST_PID
    registered bob 127.0.0.3 && registered carol 127.0.0.4 || return 1
    baresip_start alice 12 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID"
    sleep 1
    stop_clients "$bob" "$carol"
    stop_proxy || return 1
    sipfrag_notify_reached 127.0.0.3 || return 1
    heard carol 1000 || return 1
    journal_shows_transfer
}

# --- Linphone (linphonec), alone and mixed with baresip -----------------------

# Both register; the registrar lists each binding with Linphone's
# +sip.instance, and the REGISTERs carry its User-Agent.
# Registrations survive a restart: bob's linphonec registers once (for an
# hour); switchboard is restarted between two calls from alice; the second
# call rings bob without him registering again.
test_linphone_restart_between_calls() {
    linphone_setup alice alice 127.0.0.5 1000
    linphone_setup alice2 alice 127.0.0.5 1000
    linphone_setup bob bob 127.0.0.6 440
    sed -i 's/^reg_expires=60$/reg_expires=3600/' "$DIR/bob/rc"
    start_proxy --store "$DIR/reg.db" || return 1
    linphone_start bob "sleep 40" -a
    local bob=$LAST_PID
    registered bob 127.0.0.6 || return 1
    linphone_start alice "$(calls_bob "sleep 4" terminate "sleep 1")"
    wait "$LAST_PID"
    stop_proxy || return 1
    mv "$DIR/proxy.log" "$DIR/proxy-before.log"
    launch_proxy --workers 2 --listeners 2 --journal "$DIR/journal2.jsonl" \
        --trace "$DIR/sip2.pcap" --store "$DIR/reg.db" || return 1
    # alice's linphonec unregistered when it quit; bob's binding is back
    grep -q "loaded 1 binding(s) of 1 user(s)" "$DIR/proxy.log" ||
        { log "bindings not loaded: $(grep store "$DIR/proxy.log")"; return 1; }
    linphone_start alice2 "$(calls_bob "sleep 6" terminate "sleep 1")"
    wait "$LAST_PID"
    stop_clients "$bob"
    stop_proxy || return 1
    # before the INVITE reached bob, he sent no REGISTER (his unregistration
    # at the end does not count)
    local ladder
    ladder=$(tshark -r "$DIR/sip2.pcap" -Y '(sip.Method == "REGISTER" && ip.src == 127.0.0.6) || (sip.Method == "INVITE" && ip.dst == 127.0.0.6)' \
        -T fields -e sip.Method 2>/dev/null | tr '\n' ' ')
    log "bob's side after the restart: $ladder"
    case $ladder in INVITE*) ;; *) log "bob registered again before the call"; return 1 ;; esac
    python3 - "$DIR/journal.jsonl" "$DIR/journal2.jsonl" >>"$DIR/test.log" 2>&1 <<'PY' || return 1
import json, sys
calls = [json.loads(l) for f in sys.argv[1:] for l in open(f, encoding="utf-8")]
assert [c["outcome"] for c in calls] == ["answered", "answered"], calls
assert all("127.0.0.6" in c["answered_by"] for c in calls), calls
print("journal ok: both calls answered by bob's phone")
PY
    heard bob 1000
}

# auth_config ALGORITHMS: users alice/wonderland and bob/builder (MD5 and
# SHA-256 HA1s, as htdigest and its SHA-256 twin write them) and an [auth]
# require = all config offering ALGORITHMS, in $DIR/auth.conf.
auth_config() {
    local realm=pbx.test up u pw
    for up in alice:wonderland bob:builder; do
        u=${up%%:*} pw=${up#*:}
        printf '%s:%s:%s\n' "$u" $realm "$(printf '%s:%s:%s' "$u" $realm "$pw" | md5sum | cut -d' ' -f1)"
        printf '%s:%s:%s\n' "$u" $realm "$(printf '%s:%s:%s' "$u" $realm "$pw" | sha256sum | cut -d' ' -f1)"
    done >"$DIR/users"
    printf '[auth]\nrequire = all\nrealm = %s\nusers = %s\nalgorithms = %s\n' $realm "$DIR/users" "$1" \
        >"$DIR/auth.conf"
}

# answered_with ALGORITHM IP: every credential IP sent was computed with
# ALGORITHM (no algorithm parameter means MD5), and there was one.
answered_with() {
    tshark -r "$DIR/sip.pcap" -Y "ip.src == $2 && (sip.Authorization || sip.Proxy-Authorization)" \
        -T fields -e sip.Authorization -e sip.Proxy-Authorization 2>/dev/null >"$DIR/credentials.$2"
    local used
    used=$(sed -n 's/.*algorithm="\{0,1\}\([A-Za-z0-9-]*\).*/\1/p; /algorithm=/!s/.*Digest.*/MD5/p' \
        "$DIR/credentials.$2" | sort -u | tr '\n' ' ')
    log "$2 answered with: $used"
    [ "$used" = "$1 " ] || { log "$2 did not answer with $1 only"; return 1; }
}

# With passwords ([auth] require = all, MD5): a linphonec and a baresip
# register with their passwords, and the linphonec calls the baresip: its
# INVITE is challenged (407) and goes through with its credentials; audio
# both ways. (baresip 1.0 refuses to register at all when a SHA-256
# challenge is offered, even after an MD5 one: "Function not implemented".)
test_passwords_linphone_calls_baresip() {
    auth_config MD5
    linphone_setup alice alice 127.0.0.5 1000
    printf '[auth_info_0]\nusername=alice\npasswd=wonderland\nrealm=pbx.test\n' >>"$DIR/alice/rc"
    baresip_setup bob bob 127.0.0.3 auto 440
    sed -i 's/;answermode=auto/;auth_pass=builder;answermode=auto/' "$DIR/bob/accounts"
    start_proxy -c "$DIR/auth.conf" || return 1
    baresip_start bob 25
    local bob=$LAST_PID
    registered_with_password bob builder 127.0.0.3 || return 1
    linphone_start alice "$(calls_bob 'sleep 6' terminate 'sleep 1')"
    wait "$LAST_PID"
    stop_clients "$bob"
    stop_proxy || return 1
    local challenges
    challenges=$(tshark -r "$DIR/sip.pcap" -Y 'sip.Status-Code == 407 && ip.dst == 127.0.0.5' \
        2>/dev/null | wc -l)
    [ "$challenges" -ge 1 ] || { log "alice's INVITE was never challenged"; return 1; }
    answered_with MD5 127.0.0.5 && answered_with MD5 127.0.0.3 &&
        heard bob 1000 && heard alice 440 && journal_says outcome=answered
}

# SHA-256 (RFC 8760) offered first: two linphonecs register and call with
# it; audio both ways.
test_passwords_linphone_sha256() {
    auth_config "SHA-256, MD5"
    linphone_pair
    printf '[auth_info_0]\nusername=alice\npasswd=wonderland\nrealm=pbx.test\n' >>"$DIR/alice/rc"
    printf '[auth_info_0]\nusername=bob\npasswd=builder\nrealm=pbx.test\n' >>"$DIR/bob/rc"
    start_proxy -c "$DIR/auth.conf" || return 1
    linphone_start bob "sleep 12" -a
    local bob=$LAST_PID
    registered_with_password bob builder 127.0.0.6 || return 1
    linphone_start alice "$(calls_bob 'sleep 6' terminate 'sleep 1')"
    wait "$LAST_PID" "$bob"
    stop_proxy || return 1
    answered_with SHA-256 127.0.0.5 && answered_with SHA-256 127.0.0.6 &&
        heard bob 1000 && heard alice 440 && journal_says outcome=answered
}

# A linphonec with a wrong password is refused, and shows it the way
# linphonec does: it asks for the password again.
test_linphone_wrong_password() {
    auth_config MD5
    linphone_setup alice alice 127.0.0.5 1000
    printf '[auth_info_0]\nusername=alice\npasswd=not-her-password\nrealm=pbx.test\n' >>"$DIR/alice/rc"
    start_proxy -c "$DIR/auth.conf" || return 1
    linphone_start alice "sleep 30"
    local alice=$LAST_PID n
    for n in $(seq 50); do
        grep -q "Password for alice on pbx.test" "$DIR/alice.log" && break
        sleep 0.2
    done
    kill -TERM "$alice"
    sleep 1
    kill -KILL "$alice" 2>/dev/null
    wait "$alice" 2>/dev/null
    stop_proxy || return 1
    grep -q "Password for alice on pbx.test" "$DIR/alice.log" ||
        { log "linphonec did not ask again: $(tail -3 "$DIR/alice.log")"; return 1; }
    grep -qE "refused: wrong password or unknown user=[1-9]" "$DIR/proxy.log" ||
        { log "no refusal counted: $(grep stats: "$DIR/proxy.log")"; return 1; }
}

test_linphone_register() {
    linphone_pair
    start_proxy || return 1
    linphone_start alice "sleep 3"
    local alice=$LAST_PID
    linphone_start bob "sleep 3"
    local bob=$LAST_PID
    registered alice 127.0.0.5 || return 1
    grep -q '+sip.instance=' "$DIR/query.out" || { log "alice's binding lacks +sip.instance"; return 1; }
    registered bob 127.0.0.6 || return 1
    wait "$alice" "$bob"
    stop_proxy || return 1
    local agents
    agents=$(tshark -r "$DIR/sip.pcap" -Y 'sip.Method == "REGISTER" && ip.src != 127.0.0.1' \
        -T fields -e ip.src -e sip.User-Agent 2>/dev/null | sort -u)
    echo "$agents" >>"$DIR/test.log"
    echo "$agents" | grep -q "127.0.0.5.*Linphonec" && echo "$agents" | grep -q "127.0.0.6.*Linphonec" ||
        { log "REGISTERs without Linphone's User-Agent: $agents"; return 1; }
}

test_linphone_voice_call_caller_hangs_up() {
    linphone_pair
    start_proxy || return 1
    bob_then_alice "sleep 10" -a "$(calls_bob "sleep 6" terminate "sleep 1")" || return 1
    linphone_says alice "Media streams established" && linphone_says bob "ended" || return 1
    stop_proxy && heard bob 1000 && heard alice 440 &&
        journal_says outcome=answered hung_up_by=caller answered_by=127.0.0.6
}

test_linphone_voice_call_callee_hangs_up() {
    linphone_pair
    start_proxy || return 1
    bob_then_alice "sleep 6
terminate
sleep 1" -a "$(calls_bob "sleep 9")" || return 1
    linphone_says alice "ended" || return 1
    stop_proxy && heard bob 1000 && heard alice 440 &&
        journal_says outcome=answered hung_up_by=callee answered_by=127.0.0.6
}

# Mixed: Linphone calls a baresip phone, which hangs up.
test_linphone_calls_baresip_callee_hangs_up() {
    linphone_setup alice alice 127.0.0.5 1000
    baresip_setup bob bob 127.0.0.3 auto 440
    start_proxy || return 1
    baresip_start bob 7
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    linphone_start alice "$(calls_bob "sleep 9")"
    wait "$LAST_PID" "$bob"
    linphone_says alice "ended" || return 1
    stop_proxy && heard bob 1000 && heard alice 440 &&
        journal_says outcome=answered hung_up_by=callee answered_by=127.0.0.3
}

# Mixed: a baresip phone calls Linphone, which declines while ringing.
test_baresip_calls_linphone_declined() {
    baresip_setup alice alice 127.0.0.2 auto 1000
    linphone_setup bob bob 127.0.0.6 440
    start_proxy || return 1
    linphone_start bob "sleep 3
terminate
sleep 2"
    local bob=$LAST_PID
    registered bob 127.0.0.6 || return 1
    baresip_start alice 5 "/dial sip:bob@$IP:$PROXY_PORT"
    wait "$LAST_PID" "$bob"
    linphone_says bob "Receiving new incoming call" || return 1
    grep -qE "603|486" "$DIR/alice.log" || { log "alice never saw the refusal"; return 1; }
    stop_proxy && journal_says outcome=declined hung_up_by=callee status=603
}

test_linphone_cancel_while_ringing() {
    linphone_pair
    start_proxy || return 1
    bob_then_alice "sleep 6" "" "$(calls_bob "sleep 2" terminate "sleep 1")" || return 1
    linphone_says alice "ringing" && linphone_says bob "Receiving new incoming call" &&
        linphone_says bob "ended" || return 1
    stop_proxy && journal_says outcome=cancelled hung_up_by=caller status=487
}

# The office: alice dials 102 (bob) while bob's baresip is busy on a call
# with dave (it takes one call at a time and answers 486); bob's busy
# forward rings carol's Linphone, which answers: audio both ways.
test_office_busy_extension_lands_on_carol() {
    linphone_setup alice alice 127.0.0.5 1000
    linphone_setup carol carol 127.0.0.6 440
    baresip_setup bob bob 127.0.0.3 auto 600
    baresip_setup dave dave 127.0.0.4 auto 800
    printf 'call_max_calls\t\t1\n' >>"$DIR/bob/config"
    printf '[extensions]\n102 = bob\n[forward]\nbob = busy: carol\n' >"$DIR/proxy.conf"
    start_proxy -c "$DIR/proxy.conf" || return 1
    baresip_start bob 18
    local bob=$LAST_PID
    linphone_start carol "sleep 16" -a
    local carol=$LAST_PID
    registered bob 127.0.0.3 && registered carol 127.0.0.6 || return 1
    baresip_start dave 16 "/dial sip:bob@$IP:$PROXY_PORT"
    local dave=$LAST_PID
    sleep 3
    linphone_start alice "$(printf 'sleep 1\ncall sip:102@%s:%s\nsleep 7\nterminate\nsleep 1\n' "$IP" "$PROXY_PORT")"
    wait "$LAST_PID" "$carol"
    stop_clients "$bob" "$dave"
    stop_proxy && heard carol 1000 && heard alice 440 || return 1
    python3 - "$DIR/journal.jsonl" >>"$DIR/test.log" 2>&1 <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
office = [c for c in calls if c.get("dialled") == "102"]
assert len(office) == 1, calls
c = office[0]
assert c["resolved"] == "bob", c
assert c["forwards"] == [{"from": "bob", "to": "carol", "reason": "busy"}], c
assert c["outcome"] == "answered" and "127.0.0.6" in c["answered_by"], c
print("journal ok: 102 -> bob busy -> carol answered")
PY
}

# Nobody answers: the proxy's ring timeout (3 s here, below Linphone's own
# 30 s) ends the call: 480 to the caller, "missed" in the journal.
test_office_unanswered_call_is_missed() {
    linphone_pair
    printf '[users]\nring_timeout = 3\n' >"$DIR/proxy.conf"
    start_proxy -c "$DIR/proxy.conf" || return 1
    bob_then_alice "sleep 8" "" "$(calls_bob "sleep 6")" || return 1
    linphone_says alice "ringing" && linphone_says bob "Receiving new incoming call" || return 1
    stop_proxy && journal_says outcome=missed hung_up_by=proxy status=480
}

# Nobody answers: the proxy's Timer C (3 s here) ends the call.
test_linphone_no_answer() {
    linphone_pair
    printf '[proxy]\ntimer_c_ms = 3000\n' >"$DIR/proxy.conf"
    start_proxy -c "$DIR/proxy.conf" || return 1
    bob_then_alice "sleep 7" "" "$(calls_bob "sleep 5")" || return 1
    linphone_says alice "ringing" && linphone_says bob "ended" || return 1
    stop_proxy && journal_says outcome=no-answer hung_up_by=proxy status=408
}

test_linphone_video_call() {
    linphone_pair
    start_proxy || return 1
    bob_then_alice "sleep 9" "-a -V" "$(calls_bob "sleep 5" terminate "sleep 1")" -V || return 1
    stop_proxy || return 1
    relayed_answers 127.0.0.5 >"$DIR/answer-media.txt"
    accepts_video "the relayed answer" "$(cat "$DIR/answer-media.txt")" || return 1
    linphone_says alice "for call 1 (video)" && heard bob 1000 && journal_says outcome=answered video=True
}

# An audio call upgraded to video by an in-dialog re-INVITE ("camera on").
test_linphone_upgrade_to_video() {
    linphone_pair
    sed -i 's/^automatically_initiate=1/automatically_initiate=0/' "$DIR/alice/rc"
    start_proxy || return 1
    bob_then_alice "sleep 11" "-a -V" \
        "$(calls_bob "sleep 3" "camera on" "sleep 4" terminate "sleep 1")" -V || return 1
    stop_proxy || return 1
    relayed_answers 127.0.0.5 >"$DIR/answer-media.txt"
    local first second
    first=$(sed -n 1p "$DIR/answer-media.txt")
    second=$(sed -n 2p "$DIR/answer-media.txt")
    echo "$first" | grep -qE "video [1-9]" && { log "the first answer already had video: $first"; return 1; }
    accepts_video "the re-INVITE's answer" "$second" || return 1
    linphone_says alice "for call 1 (audio)" && linphone_says alice "for call 1 (video)" &&
        journal_says outcome=answered reinvites=1 video=True
}

test_linphone_blind_transfer() {
    linphone_trio
    start_proxy || return 1
    linphone_start carol "sleep 14" -a
    local carol=$LAST_PID
    # the REFER once alice's call is up, however long a loaded machine
    # took to start her phone
    linphone_start bob "await connected.
sleep 2
transfer sip:carol@$IP:$PROXY_PORT
sleep 6" -a
    local bob=$LAST_PID
    registered bob 127.0.0.6 && registered carol 127.0.0.7 || return 1
    linphone_start alice "$(calls_bob "sleep 9" "terminate all" "sleep 1")"
    wait "$LAST_PID" "$bob" "$carol"
    stop_proxy || return 1
    sipfrag_notify_reached 127.0.0.6 || return 1
    heard carol 1000 && journal_shows_transfer
}

# Attended transfer (RFC 3891 Replaces, RFC 5589 §7): bob calls alice,
# holds her, calls carol (as TARGET), then hands alice to carol
# ("transfer 1 --to-call 2"): alice's INVITE with Replaces reaches
# carol's phone, carol hears alice's tone and alice carol's, bob is gone,
# and the journal links the new call to the one it replaced. With
# SET_DND, carol goes on DND once she answered bob.
attended_transfer() {
    local target=$1 set_dnd=${2:-}
    linphone_trio
    # Linphone's Refer-To names carol by her address without our port: the
    # office's domain, as a real office's would be
    start_proxy --domain "$IP" --admin "$IP:18160" -c "$DIR/office.conf" || return 1
    linphone_start alice "sleep 17" -a
    local alice=$LAST_PID
    linphone_start carol "sleep 17" -a
    local carol=$LAST_PID
    registered alice 127.0.0.5 && registered carol 127.0.0.7 || return 1
    linphone_start bob "sleep 1
call sip:alice@$IP:$PROXY_PORT
sleep 3
pause 1
sleep 1
call sip:$target@$IP:$PROXY_PORT
sleep 3
transfer 1 --to-call 2
sleep 4"
    local bob=$LAST_PID
    if [ -n "$set_dnd" ]; then
        sleep 8 # carol answered bob at about 6 s; the transfer comes at 9 s
        "$(dirname "$BIN")/switchboard-ctl" --admin "$IP:18160" dnd carol on >>"$DIR/test.log" 2>&1 ||
            return 1
    fi
    wait "$alice" "$bob" "$carol"
    stop_proxy || return 1
    heard_all carol 1000 && heard_all alice 700 && journal_links_the_transfer "$target"
}

test_linphone_attended_transfer() {
    : >"$DIR/office.conf"
    attended_transfer carol
}

# The same through a hunt group, carol on DND by the time of the
# transfer: the INVITE with Replaces skips the dial plan (which would
# refuse it, her being the only member and on DND) and goes to her phone.
test_linphone_attended_transfer_to_a_group_member_on_dnd() {
    printf '[groups]\nsupport = hunt 10: carol\n' >"$DIR/office.conf"
    attended_transfer support dnd
}

# Call pickup ([features] pickup = *8): alice calls the sales hunt group,
# whose first member bob rings (he does not answer); carol, also in
# sales, dials *8: her INVITE is answered "480 Picked Up, Ringing Here",
# bob's phone gets a CANCEL and hers rings with alice's call (she answers
# it: -a); alice and carol talk. The journal has one answered call.
test_linphone_call_pickup() {
    linphone_trio
    printf '[groups]\nsales = hunt 20: bob, carol\n[features]\npickup = *8\n' >"$DIR/office.conf"
    start_proxy --domain "$IP" -c "$DIR/office.conf" || return 1
    linphone_start bob "sleep 14"
    local bob=$LAST_PID
    linphone_start carol "sleep 4
call sip:*8@$IP:$PROXY_PORT
sleep 10" -a
    local carol=$LAST_PID
    registered bob 127.0.0.6 && registered carol 127.0.0.7 || return 1
    linphone_start alice "sleep 1
call sip:sales@$IP:$PROXY_PORT
sleep 11
terminate all
sleep 1"
    local alice=$LAST_PID
    wait "$alice" "$bob" "$carol"
    stop_proxy || return 1
    grep -q "pickup: carol takes the call from alice to sales" "$DIR/proxy.log" ||
        { log "the exchange did not hand carol the call"; return 1; }
    tshark -r "$DIR/sip.pcap" -Y 'sip.Status-Code == 480 && ip.dst == 127.0.0.7' 2>/dev/null |
        grep -q "Picked Up, Ringing Here" || { log "carol's *8 was not answered 480 Picked Up"; return 1; }
    [ "$(tshark -r "$DIR/sip.pcap" -Y 'sip.Method == "CANCEL" && ip.dst == 127.0.0.6' 2>/dev/null | wc -l)" -ge 1 ] ||
        { log "bob's ringing phone got no CANCEL"; return 1; }
    heard_all carol 1000 && heard_all alice 700 || return 1
    python3 - "$DIR/journal.jsonl" >>"$DIR/test.log" 2>&1 <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
first = [c for c in calls if c.get("dialled") == "sales"]
assert len(first) == 1 and first[0]["outcome"] == "answered", first
assert "127.0.0.7" in (first[0].get("answered_by") or ""), first
print("journal ok: the sales call answered by carol's phone")
PY
}

# Presence (RFC 3856) served by the exchange: alice's Linphone has bob
# as a friend; its SUBSCRIBE is answered by switchboard, which tells it
# bob is online, on the phone while he talks to carol, online again, and
# offline once his Linphone quits (and unregisters). bob's Linphone
# publishes its own presence (publish=1): its PUBLISHes are taken (200,
# RFC 3903) and composed in. linphonec prints "Friend ... is STATUS" for
# each NOTIFY.
test_linphone_friend_presence() {
    linphone_trio
    sed -i '/^\[proxy_0\]/a publish=1' "$DIR/bob/rc"
    start_proxy --domain "$IP" || return 1
    linphone_start carol "sleep 12" -a
    local carol=$LAST_PID
    linphone_start bob "sleep 3
call sip:carol@$IP:$PROXY_PORT
sleep 3
terminate all
sleep 2"
    local bob=$LAST_PID
    registered bob 127.0.0.6 && registered carol 127.0.0.7 || return 1
    linphone_start alice "friend add \"bob\" sip:bob@$IP:$PROXY_PORT
sleep 13
friend list"
    local alice=$LAST_PID
    wait "$alice" "$bob" "$carol"
    stop_proxy || return 1
    local heard
    heard=$(sed -n 's/.*Friend .*bob.* is \(.*\)$/\1/p' "$DIR/alice.log" | uniq | paste -sd, -)
    echo "alice saw bob: $heard" >>"$DIR/test.log"
    [ "$heard" = "Online,On the phone,Online,Offline" ] ||
        { log "alice saw bob go '$heard'"; return 1; }
    local published
    published=$(tshark -r "$DIR/sip.pcap" -Y 'sip.CSeq.method == "PUBLISH" && sip.Status-Code && ip.dst == 127.0.0.6' \
        -T fields -e sip.Status-Code 2>/dev/null | sort -u | paste -sd, -)
    [ "$published" = 200 ] || { log "bob's PUBLISHes were answered '$published', not 200"; return 1; }
}

# Linphone's own conference: alice calls bob, holds him, calls carol, merges
# both calls; her re-INVITEs name her as the focus (Contact ;isfocus), alice
# hears both, and bob and carol hear each other through her mixer. (Alice's
# own tone is not in the mix: with "soundcard use files" linphonec feeds its
# play file to a call's stream, not to the conference's local input.)
test_linphone_conference() {
    linphone_trio
    start_proxy || return 1
    linphone_start bob "sleep 18" -a
    local bob=$LAST_PID
    linphone_start carol "sleep 18" -a
    local carol=$LAST_PID
    registered bob 127.0.0.6 && registered carol 127.0.0.7 || return 1
    linphone_start alice "$(calls_bob "sleep 2")
pause 1
sleep 1
call sip:carol@$IP:$PROXY_PORT
sleep 2
conference add 1
sleep 1
conference add 2
sleep 6
calls
terminate all
sleep 1"
    wait "$LAST_PID" "$bob" "$carol"
    stop_proxy || return 1
    [ "$(grep -cE '^[12] +\|.*StreamsRunning +\| conferencing' "$DIR/alice.log")" -eq 2 ] ||
        { log "alice's calls were not both in the conference"; return 1; }
    local focus
    focus=$(tshark -r "$DIR/sip.pcap" -Y 'sip.Method == "INVITE" && ip.src == 127.0.0.1 && (ip.dst == 127.0.0.6 || ip.dst == 127.0.0.7)' \
        -T fields -e ip.dst -e sip.Contact 2>/dev/null | grep isfocus | cut -f1 | sort -u | wc -l)
    [ "$focus" -eq 2 ] || { log "the focus re-INVITE reached $focus of 2 participants"; return 1; }
    heard_all bob 700 && heard_all carol 440 && heard_all alice 440 700 || return 1
    # alice's conference re-INVITEs offer video, which both decline (port 0):
    # the journal must not call these video calls
    python3 - "$DIR/journal.jsonl" >>"$DIR/test.log" 2>&1 <<'PY'
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert len(calls) == 2, f"{len(calls)} journal lines"
for c in calls:
    assert c["outcome"] == "answered" and c["reinvites"] >= 2, c
    assert c["video"] is False, c
print("journal ok: two answered audio calls, re-INVITEs", [c["reinvites"] for c in calls])
PY
}

# Mixed forking: bob on a Linphone desk phone (rings, never answers) and a
# baresip mobile (answers); the desk stops ringing when the mobile answers.
test_fork_linphone_and_baresip() {
    linphone_setup alice alice 127.0.0.5 1000
    linphone_setup desk bob 127.0.0.6 440
    baresip_setup mobile bob 127.0.0.3 auto 440
    start_proxy || return 1
    linphone_start desk "sleep 9"
    local desk=$LAST_PID
    baresip_start mobile 10
    local mobile=$LAST_PID
    registered bob 127.0.0.6 && registered bob 127.0.0.3 || return 1
    linphone_start alice "$(calls_bob "sleep 5" terminate "sleep 1")"
    wait "$LAST_PID" "$desk" "$mobile"
    linphone_says desk "Receiving new incoming call" && linphone_says desk "ended" || return 1
    stop_proxy && heard mobile 1000 && heard alice 440 &&
        journal_says outcome=answered answered_by=127.0.0.3 hung_up_by=caller
}

# --- runner -------------------------------------------------------------------

# --- TCP and TLS (README "TCP and TLS") ---------------------------------------

# readme_tls_recipe DIR: runs the README's certificate recipe (the block
# after its "tls-recipe" marker) in DIR as a user would, for our address.
readme_tls_recipe() {
    local dir=$1 readme=$HERE/../README.md
    mkdir -p "$dir"
    sed -n '/^<!-- tls-recipe:/,/^```$/p' "$readme" | sed '1,2d;$d' |
        sed "1s/^ADDR=[^ ]*/ADDR=$IP/" >"$dir/recipe.sh"
    grep -q "^ADDR=$IP " "$dir/recipe.sh" || { log "no TLS recipe found in the README"; return 1; }
    (cd "$dir" && bash -e recipe.sh >recipe.log 2>&1) || { log "the README's TLS recipe failed"; return 1; }
}

# start_stream_proxy: UDP and TCP on PROXY_PORT, TLS on PROXY_PORT + 1 with
# the certificate the README's recipe makes.
start_stream_proxy() {
    readme_tls_recipe "$DIR/ca" || return 1
    printf '[tls]\ncertificate = %s\nkey = %s\n' "$DIR/ca/cert.pem" "$DIR/ca/key.pem" >"$DIR/tls.conf"
    start_proxy -c "$DIR/tls.conf" -l "tcp:$IP:$PROXY_PORT" -l "tls:$IP:$((PROXY_PORT + 1))" "$@"
}

# counter NAME: the proxy's counter NAME from its last stats line.
counter() {
    grep "stats:" "$DIR/proxy.log" | tail -1 | sed -n "s/.*$1=\([0-9]*\).*/\1/p"
}

# linphone_stream_call TRANSPORT PORT [CA]: alice's linphonec registers over
# TRANSPORT and calls bob, a baresip on UDP, who hangs up; audio both ways.
linphone_stream_call() {
    linphone_setup alice alice 127.0.0.5 1000
    linphone_over alice "$1" "$2" "${3:-}"
    baresip_setup bob bob 127.0.0.3 auto 440
    start_stream_proxy || return 1
    baresip_start bob 9
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    linphone_start alice "sleep 2
call sip:bob@$IP:$PROXY_PORT
sleep 9"
    local alice=$LAST_PID
    wait "$bob" "$alice"
    linphone_says alice "ended" || return 1
    kill -USR1 "$PROXY_PID"
    sleep 0.3
    local accepted
    accepted=$(counter "TCP\/TLS connections accepted")
    log "connections accepted: $accepted, messages over TCP/TLS: $(counter 'messages received over TCP\/TLS')"
    [ "${accepted:-0}" -ge 1 ] || { log "alice never connected over $1"; return 1; }
    stop_proxy && heard bob 1000 && heard alice 440 &&
        journal_says outcome=answered hung_up_by=callee answered_by=127.0.0.3
}

test_linphone_over_tcp_calls_baresip() {
    linphone_stream_call tcp "$PROXY_PORT"
}

test_linphone_over_tls_calls_baresip() {
    linphone_stream_call tls $((PROXY_PORT + 1)) "$DIR/ca/ca.pem"
}

# restart_stream_proxy SIGNAL [FLAGS]: stops the proxy with SIGNAL (KILL or
# TERM) and starts it again on its store (the TCP/TLS connections die with
# it); the old log and trace are kept as proxy-before.log, sip-before.pcap.
restart_stream_proxy() {
    kill -"$1" "$PROXY_PID"
    shift
    wait "$PROXY_PID" 2>/dev/null
    mv "$DIR/proxy.log" "$DIR/proxy-before.log"
    mv "$DIR/sip.pcap" "$DIR/sip-before.pcap"
    start_stream_proxy --store "$DIR/reg.db" "$@"
}

# trace_sip FILTER: tshark's SIP fields of the restarted proxy's trace
# (TLS in clear on the TLS port decoded as SIP), one message a line
trace_sip() {
    tshark -r "$DIR/sip.pcap" -d "tcp.port==$((PROXY_PORT + 1)),sip" -Y "$1" -T fields \
        -e ip.proto -e sip.Status-Code 2>/dev/null
}

# linphone_call_across_restart TRANSPORT SIGNAL: a call up across a restart
# of the proxy: alice's linphonec (TCP or TLS) calls bob's baresip (UDP);
# with the call up the proxy is stopped with SIGNAL (KILL or TERM) and
# started again on its store, and alice hangs up. Her connection died with
# the proxy, so her BYE comes over a new one: it must reach bob (the
# Route's signature says it comes from the caller), never go back towards
# her own old flow (which answered 430 to herself before). (The other
# way, bob hanging up, cannot reach her until she reconnects: linphonec's
# TCP/TLS Contact names its connection's own port, where nothing listens.)
linphone_call_across_restart() {
    local tp=$1 sig=$2 port=$PROXY_PORT ca=
    [ "$tp" = tls ] && port=$((PROXY_PORT + 1)) ca=$DIR/ca/ca.pem
    linphone_setup alice alice 127.0.0.5 1000
    baresip_setup bob bob 127.0.0.3 auto 440
    start_stream_proxy --store "$DIR/reg.db" || return 1
    linphone_over alice "$tp" "$port" "$ca"
    baresip_start bob 30
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    linphone_start alice "sleep 2
call sip:bob@$IP:$PROXY_PORT
sleep 10
terminate
sleep 3"
    local alice=$LAST_PID
    sleep 6 # the call is up (dialled at 2 s, answered at once)
    restart_stream_proxy "$sig" || return 1
    wait "$alice"
    sleep 1
    stop_clients "$bob"
    stop_proxy || return 1
    local to_bob answers
    to_bob=$(trace_sip "sip.Method == \"BYE\" && ip.dst == 127.0.0.3" | wc -l)
    # alice's linphonec speaks from 127.0.0.1: what answered her BYE is what
    # left the proxy's port for 127.0.0.1 (430 when it went back to her flow)
    answers=$(trace_sip "sip.CSeq.method == \"BYE\" && ip.dst == $IP && tcp.srcport == $port" |
        awk '{print $2}' | tr '\n' ' ')
    log "after the restart ($sig) the proxy sent $to_bob BYE(s) to bob; alice's BYE got: $answers"
    [ "$to_bob" = 1 ] && [ "$answers" = "200 " ] ||
        { log "alice's BYE must reach bob once and get his 200"; return 1; }
}

test_linphone_tcp_caller_hangs_up_after_kill9() {
    linphone_call_across_restart tcp KILL
}

test_linphone_tls_caller_hangs_up_after_sigterm() {
    linphone_call_across_restart tls TERM
}

# A Linphone video INVITE is bigger than 1300 bytes: the proxy sends it on
# to the baresip (which listens on UDP and TCP) over TCP (RFC 3261 §18.1.1);
# the call is up with audio both ways.
test_linphone_video_invite_goes_over_tcp() {
    linphone_setup alice alice 127.0.0.5 1000
    baresip_setup bob bob 127.0.0.3 auto 440 video
    start_stream_proxy || return 1
    baresip_start bob 20
    local bob=$LAST_PID
    registered bob 127.0.0.3 || return 1
    linphone_start alice "$(calls_bob "sleep 6" terminate "sleep 1")" -V
    wait "$LAST_PID"
    sleep 1
    stop_clients "$bob"
    kill -USR1 "$PROXY_PID"
    sleep 0.3
    local opened size
    opened=$(counter "TCP\/TLS connections opened by us")
    size=$(tshark -r "$DIR/sip.pcap" -Y 'sip.Method == "INVITE" && ip.dst == 127.0.0.3' \
        -T fields -e frame.len 2>/dev/null | head -1)
    log "INVITE to bob: $size bytes in the trace's frame; connections opened: $opened"
    [ "${size:-0}" -gt 1300 ] && [ "${opened:-0}" -ge 1 ] ||
        { log "want an INVITE over 1300 bytes, sent over a TCP connection we opened"; return 1; }
    stop_proxy && heard bob 1000 && heard alice 440 && journal_says outcome=answered video=True
}

run_tests clients "" "$@"
