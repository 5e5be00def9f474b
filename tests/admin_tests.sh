#!/usr/bin/env bash
# Admin plane tests: the real binary with its HTTP endpoint on loopback,
# SIPp registering phones and holding a call, curl and switchboard-ctl
# reading what the proxy says, promtool checking /metrics, and headless
# Chromium watching the live page (tests/browser_check.py).
#
# usage: tests/admin_tests.sh BINARY OUTDIR [WORKERS] [TEST...]
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
ADMIN_PORT=${SB_TEST_ADMIN_PORT:-18060}
ADMIN=$IP:$ADMIN_PORT
mkdir -p "$OUT"

. "$HERE/lib.sh"

start_proxy() {
    launch_proxy --listeners 2 --workers "$WORKERS" --log-level info --admin "$ADMIN" "$@"
}

. "$HERE/sipp_lib.sh"

# api METHOD PATH [curl args]: the body in $DIR/body, the status printed.
api() {
    local method=$1 path=$2
    shift 2
    curl -s -m 5 -X "$method" -o "$DIR/body" -w '%{http_code}' "$@" "http://$ADMIN$path"
}

# expect_status WHAT ACTUAL EXPECTED
expect_status() {
    [ "$2" = "$3" ] && return 0
    log "$1: HTTP $2, expected $3: $(head -c 300 "$DIR/body" 2>/dev/null)"
    return 1
}

# json EXPR: evaluates a Python expression over the last body (as j).
json() {
    python3 -c "import json,sys; j=json.load(open('$DIR/body')); print($1)"
}

# metric NAME{LABELS}: its value in the last /metrics body.
metric() {
    awk -v m="$1" '$1 == m { print $2 }' "$DIR/body"
}

expect_eq() { # what actual expected
    [ "$2" = "$3" ] && return 0
    log "$1: saw '$2', expected '$3'"
    return 1
}

# until_true SECONDS COMMAND...: retries COMMAND every 0.1 s.
until_true() {
    local end=$(($(date +%s%N) + $1 * 1000000000))
    shift
    while ! "$@" 2>/dev/null; do
        [ "$(date +%s%N)" -lt $end ] || return 1
        sleep 0.1
    done
}

# Five users on one UAS port, bob on his own, and alice holding a call to
# bob for HOLD_MS: the state every reporting test reads. Long enough that
# a sanitizer build (ASan runs these checks in over 7 s) still finds the
# call up at the last of them; the tests wait for it to end.
HOLD_MS=12000
registered_and_held() {
    start_proxy "$@" || return 1
    sipp_run many register_users.xml 15071 user -m 5 -r 50 -set contact_port 15072 || return 1
    register_user reg 15070 bob || return 1
    sipp_start callee uas_answer_wait_bye.xml 15070 bob
    CALLEE=$SIPP_PID
    sleep 0.2
    sipp_start caller uac_call_held.xml 15080 bob -d $HOLD_MS
    CALLER=$SIPP_PID
    calls_up() { [ "$(api GET /api/calls)" = 200 ] && [ "$(json "j['count']")" = 1 ] &&
        [ "$(json "j['calls'][0]['state']")" = answered ]; }
    until_true 3 calls_up || { log "the held call never showed"; return 1; }
}

hangup_held() {
    sipp_wait caller "$CALLER" && sipp_wait callee "$CALLEE"
}

# --- the tests ---------------------------------------------------------------

# After 6 registrations and a held call, /metrics says exactly that, and
# passes promtool; once the call ends it is counted as answered.
test_metrics_report_registrations_and_calls() {
    registered_and_held || return 1
    expect_status metrics "$(api GET /metrics)" 200 || return 1
    cp "$DIR/body" "$DIR/metrics.txt"
    promtool check metrics <"$DIR/metrics.txt" >"$DIR/promtool.out" 2>&1 ||
        { log "promtool: $(cat "$DIR/promtool.out")"; return 1; }
    expect_eq users "$(metric switchboard_registered_users)" 6 &&
        expect_eq contacts "$(metric switchboard_registered_contacts)" 6 &&
        expect_eq "calls active" "$(metric switchboard_calls_active)" 1 &&
        expect_eq "REGISTERs" "$(metric 'switchboard_requests_total{method="REGISTER"}')" 6 &&
        expect_eq "INVITEs" "$(metric 'switchboard_requests_total{method="INVITE"}')" 1 &&
        expect_eq "2xx" "$(metric 'switchboard_responses_total{class="2xx"}')" 1 &&
        expect_eq "queue depth" "$(metric 'switchboard_queue_depth{worker="0"}')" 0 &&
        expect_eq "INVITE timing" "$(metric switchboard_invite_processing_seconds_count)" 1 || return 1
    hangup_held || return 1
    api GET /metrics >/dev/null
    promtool check metrics <"$DIR/body" >>"$DIR/promtool.out" 2>&1 || return 1
    expect_eq "answered" "$(metric 'switchboard_calls_total{outcome="answered"}')" 1 &&
        expect_eq "calls active after" "$(metric switchboard_calls_active)" 0 &&
        expect_eq "set-up timed" "$(metric switchboard_call_setup_seconds_count)" 1 &&
        expect_eq "BYEs" "$(metric 'switchboard_requests_total{method="BYE"}')" 1 &&
        [ "$(metric process_resident_memory_bytes | cut -d. -f1)" -gt 1000000 ] &&
        [ "$(metric process_start_time_seconds | cut -d. -f1)" -gt 1700000000 ] && stop_proxy
}

# The JSON API and switchboard-ctl list the same phones and the same call.
test_api_and_ctl_list_registrations_and_calls() {
    registered_and_held || return 1
    expect_status registrations "$(api GET /api/registrations)" 200 || return 1
    expect_eq users "$(json "j['users']")" 6 &&
        expect_eq contacts "$(json "len(j['registrations'])")" 6 &&
        expect_eq "bob's source" "$(json "[r['source'] for r in j['registrations'] if r['user']=='bob'][0]")" \
            "$IP:15070" &&
        expect_eq "bob's transport" "$(json "[r['transport'] for r in j['registrations'] if r['user']=='bob'][0]")" UDP &&
        expect_eq "bob's expiry" "$(json "0 < [r['expires_in'] for r in j['registrations'] if r['user']=='bob'][0] <= 3600")" True ||
        return 1
    expect_status "one user" "$(api GET '/api/registrations?user=user3')" 200 &&
        expect_eq "user3 alone" "$(json "[r['user'] for r in j['registrations']]")" "['user3']" || return 1
    api GET /api/calls >/dev/null
    expect_eq caller "$(json "j['calls'][0]['caller']")" "sip:alice@$IP:$PROXY_PORT" &&
        expect_eq callee "$(json "j['calls'][0]['callee']")" "sip:bob@$IP:$PROXY_PORT" || return 1
    "$CTL" --admin "$ADMIN" registrations >"$DIR/ctl_regs.txt" 2>&1 || { log "ctl registrations failed"; return 1; }
    "$CTL" --admin "$ADMIN" calls >"$DIR/ctl_calls.txt" 2>&1 || { log "ctl calls failed"; return 1; }
    "$CTL" --admin "$ADMIN" status >"$DIR/ctl_status.txt" 2>&1 || { log "ctl status failed"; return 1; }
    "$CTL" --admin "$ADMIN" --json calls >"$DIR/body" 2>&1 || return 1
    expect_eq "ctl --json calls" "$(json "j['count']")" 1 &&
        expect_eq "ctl table rows" "$(grep -c '^user[1-5] \|^bob ' "$DIR/ctl_regs.txt")" 6 &&
        grep -q "6 user(s), 6 contact(s)" "$DIR/ctl_regs.txt" &&
        grep -q "sip:alice@.*sip:bob@.*answered" "$DIR/ctl_calls.txt" &&
        grep -q "registered users: 6" "$DIR/ctl_status.txt" &&
        grep -q "calls up: 1" "$DIR/ctl_status.txt" || { log "ctl output: $(cat "$DIR"/ctl_*.txt)"; return 1; }
    hangup_held && stop_proxy
}

# Nobody registered: an empty list (the live page asks for it from the
# first second).
test_users_lists_nobody_at_first() {
    start_proxy || return 1
    expect_status users "$(api GET /api/users)" 200 && expect_eq count "$(json "j['count']")" 0 &&
        expect_eq list "$(json "j['users']")" "[]" || return 1
    "$CTL" --admin "$ADMIN" users >"$DIR/ctl_users.txt" 2>&1 && grep -q "^0 user(s)" "$DIR/ctl_users.txt" ||
        { log "ctl users: $(cat "$DIR/ctl_users.txt")"; return 1; }
    stop_proxy
}

# /api/users and switchboard-ctl users: who is registered, each online or
# on the phone (bob, in the held call), with devices and DND.
test_users_show_who_is_on_the_phone() {
    registered_and_held || return 1
    expect_status users "$(api GET /api/users)" 200 || return 1
    expect_eq count "$(json "j['count']")" 6 &&
        expect_eq bob "$(json "[u['status'] for u in j['users'] if u['user']=='bob'][0]")" on-the-phone &&
        expect_eq others "$(json "sorted(set(u['status'] for u in j['users'] if u['user']!='bob'))")" "['online']" &&
        expect_eq devices "$(json "[u['devices'] for u in j['users'] if u['user']=='bob'][0]")" 1 || return 1
    expect_status "one user" "$(api GET '/api/users?user=user2')" 200 &&
        expect_eq "user2 alone" "$(json "[(u['user'], u['status']) for u in j['users']]")" "[('user2', 'online')]" ||
        return 1
    "$CTL" --admin "$ADMIN" users >"$DIR/ctl_users.txt" 2>&1 || { log "ctl users failed"; return 1; }
    grep -q "^bob  *on-the-phone  *1  no" "$DIR/ctl_users.txt" && grep -q "^6 user(s)" "$DIR/ctl_users.txt" ||
        { log "ctl users: $(cat "$DIR/ctl_users.txt")"; return 1; }
    hangup_held || return 1
    api GET /api/users >/dev/null
    expect_eq "bob after" "$(json "[u['status'] for u in j['users'] if u['user']=='bob'][0]")" online && stop_proxy
}

# DELETE unregisters every device of a user: the API says 404 after, and
# calls to them find nobody.
test_delete_unregisters_a_user() {
    start_proxy || return 1
    register_user reg 15070 bob || return 1
    expect_status "delete" "$(api DELETE /api/registrations/bob)" 200 &&
        expect_eq removed "$(json "j['removed']")" 1 &&
        expect_status "bob after" "$(api GET '/api/registrations?user=bob')" 404 &&
        expect_eq "error" "$(json "j['status']")" 404 &&
        expect_status "delete again" "$(api DELETE /api/registrations/bob)" 404 || return 1
    sipp_run caller uac_final_404.xml 15080 bob || return 1
    register_user reg2 15070 bob || return 1
    "$CTL" --admin "$ADMIN" unregister bob >"$DIR/ctl.out" 2>&1 || { log "ctl unregister failed"; return 1; }
    "$CTL" --admin "$ADMIN" unregister bob >"$DIR/ctl2.out" 2>&1
    expect_eq "ctl on nobody" $? 1 && grep -q "no such user" "$DIR/ctl2.out" && stop_proxy
}

# One device of a user goes without the others: by the API and by
# switchboard-ctl, naming its Contact URI as the listing shows it.
test_delete_one_device() {
    start_proxy || return 1
    register_user reg 15070 bob && register_user reg2 15072 bob || return 1
    api GET '/api/registrations?user=bob' >/dev/null
    local first second
    first=$(json "sorted(r['contact'] for r in j['registrations'])[0]")
    second=$(json "sorted(r['contact'] for r in j['registrations'])[1]")
    expect_status "delete one" "$(api DELETE "/api/registrations/bob" -G --data-urlencode "contact=$first")" 200 &&
        expect_eq removed "$(json "j['removed']")" 1 &&
        expect_status "bob after" "$(api GET '/api/registrations?user=bob')" 200 &&
        expect_eq "left" "$(json "[r['contact'] for r in j['registrations']]")" "['$second']" &&
        expect_status "no such contact" "$(api DELETE "/api/registrations/bob" -G \
            --data-urlencode "contact=sip:bob@127.0.0.1:1")" 404 || return 1
    "$CTL" --admin "$ADMIN" unregister bob "$second" >"$DIR/ctl.out" 2>&1 ||
        { log "ctl unregister one: $(cat "$DIR/ctl.out")"; return 1; }
    expect_status "bob gone" "$(api GET '/api/registrations?user=bob')" 404 && stop_proxy
}

# A page whose name rebinds to 127.0.0.1 (DNS rebinding) is refused on the
# loopback listener, a page of another origin cannot change anything, and
# a body is refused (413) before it is read; the proxy's own names pass.
test_admin_refuses_rebinding_origins_and_bodies() {
    start_proxy || return 1
    register_user reg 15070 bob || return 1
    expect_status "evil Host" "$(api GET /api/status -H 'Host: evil.example:18060')" 403 &&
        expect_status "localhost" "$(api GET /api/status -H "Host: localhost:$ADMIN_PORT")" 200 &&
        expect_status "127.0.0.1" "$(api GET /api/status)" 200 &&
        expect_status "cross-origin DELETE" "$(api DELETE /api/registrations/bob \
            -H 'Origin: http://evil.example')" 403 &&
        expect_status "bob still there" "$(api GET '/api/registrations?user=bob')" 200 &&
        expect_status "same-origin GET" "$(api GET /api/status -H "Origin: http://$ADMIN")" 200 &&
        expect_status "a body" "$(api POST /api/calls --data-binary @"$BIN")" 413 &&
        expect_status "a chunked body" "$(api PUT /api/users/bob/dnd -H 'Transfer-Encoding: chunked' \
            --data-binary 'x')" 413 || return 1
    stop_proxy
}

# Bad parameters get 400 with a JSON error; unknown paths 404, wrong
# methods 405, all JSON.
test_bad_requests_get_json_errors() {
    start_proxy || return 1
    local req
    for req in "GET /api/journal?limit=abc 400" "GET /api/journal?limit=0 400" \
        "GET /api/journal?since=yesterday 400" "GET /api/calls?colour=blue 400" \
        "GET /api/registrations?user= 400" "GET /api/registrations?format=xml 400" \
        "GET /api/nothing 404" "POST /api/calls 405" "GET /api/registrations/bob 405" \
        "PUT /metrics 405"; do
        set -- $req
        expect_status "$1 $2" "$(api "$1" "$2")" "$3" &&
            expect_eq "$2 error" "$(json "j['status']")" "$3" || return 1
    done
    grep -q "switchboard ready.*admin on http://$ADMIN/" "$DIR/proxy.log" || { log "ready line"; return 1; }
    stop_proxy
}

# Off loopback the admin plane needs a token, else the proxy refuses to
# start; with one, requests without it get 401.
test_non_loopback_needs_a_token() {
    "$BIN" -l "udp:$IP:$PROXY_PORT" --admin "0.0.0.0:$ADMIN_PORT" >"$DIR/refused.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local rc=0
    timeout 5 tail --pid=$pid -f /dev/null || rc=124
    wait $pid
    rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || { log "started without a token (rc $rc)"; return 1; }
    grep -q "without a token" "$DIR/refused.log" || { log "$(cat "$DIR/refused.log")"; return 1; }
    head -c 24 /dev/urandom | base64 >"$DIR/token"
    printf '[admin]\nlisten = 0.0.0.0:%s\ntoken_file = %s\n' "$ADMIN_PORT" "$DIR/token" >"$DIR/sb.conf"
    launch_proxy -c "$DIR/sb.conf" || return 1
    expect_status "no token" "$(api GET /api/status)" 401 &&
        expect_status "wrong token" "$(api GET /api/status -H 'Authorization: Bearer nope')" 401 &&
        expect_status "token" "$(api GET /api/status -H "Authorization: Bearer $(cat "$DIR/token")")" 200 &&
        "$CTL" --admin "$ADMIN" --token-file "$DIR/token" status >/dev/null || return 1
    stop_proxy
}

# The call journal through the API: the last call, and nothing "since"
# a time after it.
test_journal_lines_through_the_api() {
    start_proxy --journal "$DIR/calls.jsonl" || return 1
    register_user reg 15070 bob || return 1
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml || return 1
    journal_has_line() { [ "$(api GET /api/journal)" = 200 ] && [ "$(json "j['count']")" = 1 ]; }
    until_true 3 journal_has_line || { log "no journal line"; return 1; }
    expect_eq outcome "$(json "j['lines'][0]['outcome']")" answered || return 1
    expect_status future "$(api GET '/api/journal?since=2999-01-01T00:00:00Z')" 200 &&
        expect_eq "lines since the future" "$(json "j['count']")" 0 &&
        expect_status past "$(api GET '/api/journal?since=1700000000&limit=5')" 200 &&
        expect_eq "lines since 2023" "$(json "j['count']")" 1 || return 1
    "$CTL" --admin "$ADMIN" journal >"$DIR/ctl.out" 2>&1 && grep -q "answered" "$DIR/ctl.out" || return 1
    stop_proxy
}

# switchboard-ctl with nobody listening says so and exits 3.
test_ctl_says_when_the_proxy_is_not_running() {
    "$CTL" --admin 127.0.0.1:1 status >"$DIR/ctl.out" 2>&1
    expect_eq "exit status" $? 3 && grep -q "no switchboard answers at 127.0.0.1:1" "$DIR/ctl.out"
}

# Config errors tell an unknown key from a bad value and catch a section
# header missing its ']'.
test_config_errors_say_what_is_wrong() {
    printf '[server]\nworkrs = 2\n' >"$DIR/a.conf"
    printf '[server]\nworkers = many\n' >"$DIR/b.conf"
    printf '[server\nworkers = 2\n' >"$DIR/c.conf"
    "$BIN" -c "$DIR/a.conf" >"$DIR/a.out" 2>&1
    "$BIN" -c "$DIR/b.conf" >"$DIR/b.out" 2>&1
    "$BIN" -c "$DIR/c.conf" >"$DIR/c.out" 2>&1
    grep -q "a.conf:2: unknown setting 'workrs' in \[server\]" "$DIR/a.out" &&
        grep -q "b.conf:2: bad value 'many' for \[server\] workers" "$DIR/b.out" &&
        grep -q "c.conf:1: syntax error: a section header is missing its ']'" "$DIR/c.out" ||
        { log "$(cat "$DIR"/*.out)"; return 1; }
}

# Headless Chromium opens the page; a phone registers and holds a call;
# the page shows both within 2 s, and the call's duration ticks.
test_browser_shows_phone_and_call_live() {
    start_proxy || return 1
    python3 "$HERE/browser_check.py" open "http://$ADMIN/" "$DIR" >"$DIR/browser.log" 2>&1 &
    local browser=$!
    PIDS+=("$browser")
    until_true 20 test -e "$DIR/page_ready" || { log "page never loaded: $(tail -5 "$DIR/browser.log")"; return 1; }
    register_user reg 15070 bob || return 1
    sipp_start callee uas_answer_wait_bye.xml 15070 bob
    local callee=$SIPP_PID
    sleep 0.2
    sipp_start caller uac_call_held.xml 15080 bob -d 5000
    local caller=$SIPP_PID
    until_true 3 grep -q "ACK" "$DIR/caller.msg" || return 1
    touch "$DIR/call_up"
    wait $browser
    local rc=$?
    log "$(cat "$DIR/browser.log")"
    [ $rc -eq 0 ] || return 1
    sipp_wait caller "$caller" && sipp_wait callee "$callee" && stop_proxy
}

# cmake --install puts binary, ctl, config, page, unit and logrotate
# snippet in place; systemd-analyze finds the unit valid as installed.
test_install_and_the_unit_verify() {
    local build root=$DIR/root
    build=$(dirname "$BIN")
    DESTDIR=$root cmake --install "$build" >"$DIR/install.log" 2>&1 || { log "install failed"; return 1; }
    local prefix
    prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
    local f
    for f in "$prefix/bin/switchboard" "$prefix/bin/switchboard-ctl" "$prefix/etc/switchboard/switchboard.conf" \
        "$prefix/share/switchboard/web/index.html" "$prefix/lib/systemd/system/switchboard.service" \
        /etc/logrotate.d/switchboard; do
        [ -e "$root$f" ] || { log "not installed: $f"; return 1; }
    done
    # the unit names its files as installed: check it against the DESTDIR copy
    sed "s|$prefix/|$root$prefix/|g" "$root$prefix/lib/systemd/system/switchboard.service" >"$DIR/switchboard.service"
    systemd-analyze verify "$DIR/switchboard.service" >"$DIR/verify.log" 2>&1 ||
        { log "systemd-analyze: $(cat "$DIR/verify.log")"; return 1; }
    grep -q "^ProtectSystem=strict" "$DIR/switchboard.service" &&
        grep -q "^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$" "$DIR/switchboard.service" &&
        grep -q "^StateDirectory=switchboard" "$DIR/switchboard.service" || { log "unit not hardened"; return 1; }
    # the installed binary runs on the installed config
    "$root$prefix/bin/switchboard" -c "$root$prefix/etc/switchboard/switchboard.conf" --version >/dev/null
}

run_tests admin "workers=$WORKERS, " "$@"
