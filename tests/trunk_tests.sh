#!/usr/bin/env bash
# Trunks to a carrier (issue 27). The carrier is Debian's Kamailio on
# 127.0.0.2 (its own config, written here: a registrar and proxy that
# challenges REGISTER with 401 and INVITE with 407, usrloc in memory,
# kamcmd on a socket of the test's), the public network behind it a SIPp
# "PSTN" on 127.0.0.3; a second, IP-authenticated carrier is a SIPp on
# 127.0.0.4. The office's phones are SIPp on 127.0.0.1 with passwords
# ([auth] require = all).
#
#   - switchboard registers (the carrier's location table shows it) and
#     the status says so; a wrong password shows as failed, and why;
#   - a phone dials 030 1234567: the PSTN gets +49301234567 with the
#     trunk's caller ID, through the carrier's 407 (answered by us, the
#     caller's ACK and BYE following the new CSeq);
#   - the PSTN calls +4930123456: extension 100 rings (via [inbound]);
#     an unknown number gets 404;
#   - the first carrier down: the call goes out through the backup.
#
# usage: tests/trunk_tests.sh BINARY OUTDIR [TEST...]
set -u
BIN=$(realpath "$1")
OUT=$2
shift 2 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
IP=127.0.0.1
CARRIER=127.0.0.2
PSTN=127.0.0.3
BACKUP=127.0.0.4
PROXY_PORT=${SB_TEST_PORT:-15780}
ADMIN_PORT=${SB_TEST_ADMIN_PORT:-18780}
CARRIER_PORT=25060
PSTN_PORT=25070
BACKUP_PORT=25080
PASSWORD=trunk-secret
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

. "$HERE/lib.sh"
. "$HERE/sipp_lib.sh"

KAM_PID=

cleanup_test() { KAM_PID=; }

# start_carrier: Kamailio as the carrier, in the foreground (-DD) so
# that its PID is the one we kill.
start_carrier() {
    cat >"$DIR/carrier.cfg" <<EOF
#!KAMAILIO
debug=2
log_stderror=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:$CARRIER:$CARRIER_PORT
alias="carrier.test"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unix:$DIR/kamailio.ctl")
modparam("usrloc", "db_mode", 0)

request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
    if (has_totag()) {
        if (loose_route()) { t_relay(); exit; }
        if (is_method("ACK") && t_check_trans()) { t_relay(); exit; }
        sl_send_reply("404", "Not here");
        exit;
    }
    t_check_trans();
    if (is_method("REGISTER")) {
        if (!pv_www_authenticate("carrier.test", "$PASSWORD", "0")) {
            www_challenge("carrier.test", "0");
            exit;
        }
        if (\$au != "4930123456") { sl_send_reply("403", "Forbidden"); exit; }
        save("location");
        exit;
    }
    if (\$si == "$PSTN") {
        # the customer's numbers +4930123xxx reach its registration
        if (\$rU =~ "^\\\\+4930123") \$rU = "4930123456";
        if (!lookup("location")) { sl_send_reply("404", "Not Registered"); exit; }
        record_route();
        t_relay();
        exit;
    }
    if (!pv_proxy_authenticate("carrier.test", "$PASSWORD", "0")) {
        proxy_challenge("carrier.test", "0");
        exit;
    }
    xlog("L_INFO", "INVITE from \$au\\n");
    if (\$au != "4930123456") { sl_send_reply("403", "Forbidden"); exit; }
    consume_credentials();
    record_route();
    \$du = "sip:$PSTN:$PSTN_PORT";
    t_relay();
    exit;
}
EOF
    kamailio -DD -E -f "$DIR/carrier.cfg" -Y "$DIR" -w "$DIR" >"$DIR/carrier.log" 2>&1 &
    KAM_PID=$!
    PIDS+=("$KAM_PID")
    for _ in $(seq 50); do
        if [ -S "$DIR/kamailio.ctl" ]; then
            sleep 0.2 # its children are forked: killed by PID with the rest
            PIDS+=($(pgrep -P "$KAM_PID"))
            return 0
        fi
        kill -0 "$KAM_PID" 2>/dev/null || break
        sleep 0.1
    done
    log "kamailio did not start: $(tail -5 "$DIR/carrier.log")"
    return 1
}

kam() { kamcmd -s "unix:$DIR/kamailio.ctl" "$@"; }

# office_conf [PASSWORD]: the office's config: users, extension 100 =
# bob, the carrier (registering) and the backup (by address).
office_conf() {
    local realm=pbx.test up u pw
    for up in alice:wonderland bob:builder; do
        u=${up%%:*} pw=${up#*:}
        printf '%s:%s:%s\n' "$u" $realm "$(printf '%s:%s:%s' "$u" $realm "$pw" | md5sum | cut -d' ' -f1)"
    done >"$DIR/users"
    printf '%s\n' "${1:-$PASSWORD}" >"$DIR/carrier.secret"
    cat >"$DIR/office.conf" <<EOF
[proxy]
t1_ms = 100
[auth]
require = all
realm = $realm
users = $DIR/users
[extensions]
100 = bob
[trunk carrier]
uri = sip:$CARRIER:$CARRIER_PORT
username = 4930123456
password_file = $DIR/carrier.secret
register = yes
expires = 120
caller_id = +4930123456
country_code = 49
numbers = +4930123456, +4930123457
[trunk backup]
uri = sip:$BACKUP:$BACKUP_PORT
caller_id = +4930123456
country_code = 49
[outbound]
0[1-9][0-9]+ = carrier, backup
[inbound]
+4930123456 = 100
EOF
}

start_proxy() {
    launch_proxy --listeners 1 --workers 2 --log-level info --admin "$IP:$ADMIN_PORT" \
        -c "$DIR/office.conf"
}

status() { curl -s "http://$IP:$ADMIN_PORT/api/status"; }

# trunk_field NAME FIELD: one field of /api/status's trunk NAME.
trunk_field() {
    status | python3 -c "import json,sys
t=[t for t in json.load(sys.stdin)['trunks'] if t['name']=='$1']
print(t[0]['$2'] if t else '')"
}

# wait_trunk NAME STATE: up to 10 s for the trunk's registration state.
wait_trunk() {
    for _ in $(seq 100); do
        [ "$(trunk_field "$1" state)" = "$2" ] && return 0
        sleep 0.1
    done
    log "trunk $1 is $(trunk_field "$1" state), not $2"
    return 1
}

# office_ready: the carrier up, the proxy registered with it, bob (100)
# registered with the proxy.
office_ready() {
    office_conf
    start_carrier || return 1
    start_proxy || return 1
    wait_trunk carrier registered || return 1
    sipp_run reg register_auth.xml 15070 bob -au bob -ap builder
}

test_registers_with_the_carrier() {
    office_ready || return 1
    kam ul.dump >"$DIR/location.txt" 2>&1
    grep -q "4930123456" "$DIR/location.txt" &&
        grep -q "sip:4930123456@$IP:$PROXY_PORT" "$DIR/location.txt" || {
        log "the carrier's location table lacks our Contact: $(head -40 "$DIR/location.txt")"
        return 1
    }
    [ "$(trunk_field backup state)" = idle ] || { log "backup (register = no) is not idle"; return 1; }
    curl -s "http://$IP:$ADMIN_PORT/metrics" >"$DIR/metrics.txt"
    grep -q '^switchboard_trunk_registered{trunk="carrier"} 1' "$DIR/metrics.txt" &&
        grep -q '^switchboard_trunk_registered{trunk="backup"} 0' "$DIR/metrics.txt" || {
        log "metrics: $(grep trunk "$DIR/metrics.txt")"
        return 1
    }
    stop_proxy
}

test_wrong_password_shows_failed() {
    office_conf not-the-password
    start_carrier || return 1
    start_proxy || return 1
    wait_trunk carrier failed || return 1
    expect_count "last code" "$(trunk_field carrier last_code)" 401 || return 1
    grep -q "trunk carrier: registration failed (the carrier refused our credentials" \
        "$DIR/proxy.log" || { log "the log does not say why"; return 1; }
    stop_proxy
}

test_call_out_through_a_challenging_carrier() {
    office_ready || return 1
    sipp_start pstn uas_trunk_pstn.xml "$PSTN_PORT" x -i "$PSTN"
    local pstn=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_auth.xml 15080 030-123-4567 -au alice -ap wonderland || return 1
    sipp_wait pstn "$pstn" || { log "$(cat "$DIR/pstn.err" 2>/dev/null | tail -5)"; return 1; }
    grep -q "call to 0301234567 out through trunk carrier as +49301234567" "$DIR/proxy.log" || {
        log "no such line in the log"
        return 1
    }
    expect_count "challenges answered" "$(trunk_field carrier challenges)" 1 || return 1
    stop_proxy
}

test_call_in_rings_the_extension() {
    office_ready || return 1
    sipp_start callee uas_answer_wait_bye.xml 15070 bob
    local callee=$SIPP_PID
    sleep 0.2
    sipp "$CARRIER:$CARRIER_PORT" -sf "$SIPP_DIR/uac_call_caller_hangs_up.xml" -i "$PSTN" \
        -p 25071 -s +4930123456 -m 1 -timeout 20 -timeout_error -nostdin -trace_msg \
        -message_file "$DIR/pstn.msg" >"$DIR/pstn.out" 2>&1 || {
        log "the PSTN's call failed: $(tail -3 "$DIR/pstn.out")"
        return 1
    }
    sipp_wait callee "$callee" || return 1
    grep -q "trunk carrier: call to +4930123456 rings 100" "$DIR/proxy.log" || {
        log "no such line in the log"
        return 1
    }
    # a number of the carrier's customer that [inbound] does not list
    sipp "$CARRIER:$CARRIER_PORT" -sf "$SIPP_DIR/uac_final_404.xml" -i "$PSTN" -p 25072 \
        -s +4930123999 -m 1 -timeout 20 -timeout_error -nostdin >"$DIR/unknown.out" 2>&1 || {
        log "an unknown DID did not get 404: $(tail -3 "$DIR/unknown.out")"
        return 1
    }
    stop_proxy
}

test_first_carrier_down_backup_carries_the_call() {
    office_conf
    start_proxy || return 1 # no carrier at all: its REGISTER goes unanswered
    sipp_run reg register_auth.xml 15070 bob -au bob -ap builder || return 1
    sipp_start backup uas_answer_wait_bye.xml "$BACKUP_PORT" x -i "$BACKUP"
    local backup=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_auth.xml 15080 0301234567 -au alice -ap wonderland || return 1
    sipp_wait backup "$backup" || return 1
    grep -q "trunk carrier: 408 for 0301234567, trying backup" "$DIR/proxy.log" || {
        log "no failover line in the log"
        return 1
    }
    stop_proxy
}

run_tests "trunk tests" "" "$@"
