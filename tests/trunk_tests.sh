#!/usr/bin/env bash
# Trunks to a carrier (issue 27). The carrier is Debian's Kamailio (its
# own config, written here: a NAT-aware registrar and proxy that
# challenges REGISTER with 401 and INVITE with 407, usrloc in memory,
# kamcmd on a socket of the test's), the public network behind it a SIPp
# "PSTN"; a second, IP-authenticated carrier is a SIPp. Phones have
# passwords ([auth] require = all).
#
# On loopback (carrier 127.0.0.2, PSTN .3, backup .4; phones on ports
# 15771 and 15772 of 127.0.0.1, this stage's own):
#   - switchboard registers (the carrier's location table shows it; the
#     status, metrics and switchboard-ctl say so); a wrong password shows
#     as failed, and why; a carrier killed and restarted has us again;
#   - a phone dials 030-123-4567: the PSTN gets +49301234567 with the
#     trunk's caller ID, through the carrier's 407 (answered by us, the
#     caller's ACK and BYE following the new CSeq, the BYE challenged
#     too); the journal names the trunk and both numbers; the PSTN side
#     hanging up works as well;
#   - the PSTN calls +4930123456: extension 100 rings (via [inbound]);
#     an unknown number gets 404; a colleague picks the call up (*8100);
#   - the first carrier down: the call goes out through the backup.
# In network namespaces, the office behind an nft NAT router whose UDP
# mappings expire, the carrier known only by NAPTR and SRV (dnsmasq):
#   - keep-alives keep calls from the PSTN arriving; without, they stop;
#   - linphonec at the office dials out; the PSTN calls the office's
#     number and a linphonec as extension 100 answers;
#   - relay = yes: a call to a domain DNS knows only by SRV gets there;
#     one whose server has only an IPv6 address (AAAA) too, and without
#     an IPv6 listen address it is refused with the reason logged.
#
# usage: tests/trunk_tests.sh BINARY OUTDIR [TEST...]
set -u
BIN=$(realpath "$1")
OUT=$2
shift 2 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
# on loopback; behind_nat() moves them into namespaces for one test
loopback() {
    IP=127.0.0.1 CARRIER=127.0.0.2 PSTN=127.0.0.3 BACKUP=127.0.0.4
    PROXY_PORT=${SB_TEST_PORT:-15780}
    CARRIER_PORT=25060 PSTN_PORT=25070 BACKUP_PORT=25080
    AT_CARRIER= AT_PROXY=
    CARRIER_MAX_EXPIRES=10 # refreshes to watch
    PROXY_TCP=1
}
loopback
ADMIN_PORT=${SB_TEST_ADMIN_PORT:-18780}
PASSWORD=trunk-secret
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

. "$HERE/lib.sh"
. "$HERE/sipp_lib.sh"

KAM_PID=
KAM_KIDS=

# stop_carrier: the carrier's processes, by PID.
stop_carrier() {
    local pid
    for pid in $KAM_KIDS $KAM_PID; do kill -KILL "$pid" 2>/dev/null; done
    wait "$KAM_PID" 2>/dev/null
    KAM_PID= KAM_KIDS=
}

# start_carrier: Kamailio as the carrier, in the foreground (-DD) so
# that its PID is the one we kill; in namespace $AT_CARRIER when set. It
# is NAT-aware as carriers are (nathelper: a registration's source
# address is where its calls go).
start_carrier() {
    cat >"$DIR/carrier.cfg" <<EOF
#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:$CARRIER:$CARRIER_PORT
listen=tcp:$CARRIER:$CARRIER_PORT
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
loadmodule "nathelper.so"
modparam("ctl", "binrpc", "unix:$DIR/kamailio.ctl")
modparam("usrloc", "db_mode", 0)
modparam("tm", "fr_timer", 3000)
modparam("registrar", "min_expires", 5)
modparam("registrar", "max_expires", $CARRIER_MAX_EXPIRES)
modparam("nathelper", "received_avp", "\$avp(RECEIVED)")
modparam("registrar", "received_avp", "\$avp(RECEIVED)")

request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
    if (has_totag()) {
        # a customer's BYE must prove who sent it too
        if (is_method("BYE") && \$si != "$PSTN") {
            if (!pv_proxy_authenticate("carrier.test", "$PASSWORD", "0")) {
                proxy_challenge("carrier.test", "0");
                exit;
            }
            consume_credentials();
        }
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
        fix_nated_register();
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
    rm -f "$DIR/kamailio.ctl"
    ${AT_CARRIER:-} kamailio -DD -E -f "$DIR/carrier.cfg" -Y "$DIR" -w "$DIR" \
        >>"$DIR/carrier.log" 2>&1 &
    KAM_PID=$!
    PIDS+=("$KAM_PID")
    for _ in $(seq 50); do
        if [ -S "$DIR/kamailio.ctl" ]; then
            sleep 0.2 # its children are forked: killed by PID with the rest
            KAM_KIDS=$(pgrep -P "$KAM_PID")
            PIDS+=($KAM_KIDS)
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
    local tcp=()
    [ "$PROXY_TCP" = 1 ] && tcp=(-l "tcp:$IP:$PROXY_PORT")
    ${AT_PROXY:-} "$BIN" -l "udp:$IP:$PROXY_PORT" "${tcp[@]}" --listeners 1 --workers 2 \
        --log-level info \
        --admin "127.0.0.1:$ADMIN_PORT" -c "$DIR/office.conf" --journal "$DIR/journal.jsonl" \
        >"$DIR/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_ready
}

status() { ${AT_PROXY:-} curl -s "http://127.0.0.1:$ADMIN_PORT/api/status"; }

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
    sipp_run reg register_auth.xml 15771 bob -au bob -ap builder
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
    # the carrier grants 10 s of the 120 asked: refreshed at 3/4 of that
    # (each refresh is two REGISTERs: the carrier challenges every one)
    local sent
    sent=$(trunk_field carrier registers)
    wait_for 10 eval '[ "$(trunk_field carrier registers)" -ge $((sent + 2)) ]' ||
        { log "no refresh: $(status)"; return 1; }
    [ "$(trunk_field carrier state)" = registered ] && registered_at_carrier ||
        { log "not registered after the refresh"; return 1; }
    grep -q "trunk carrier: registered for 10 s" "$DIR/proxy.log" || return 1
    "$(dirname "$BIN")/switchboard-ctl" --admin "127.0.0.1:$ADMIN_PORT" trunks >"$DIR/ctl.txt" &&
        grep -q "^trunk carrier: registered (last answer 200" "$DIR/ctl.txt" &&
        grep -q "^trunk backup: idle" "$DIR/ctl.txt" || { log "ctl trunks: $(cat "$DIR/ctl.txt")"; return 1; }
    curl -s "http://$IP:$ADMIN_PORT/metrics" >"$DIR/metrics.txt"
    grep -q '^switchboard_trunk_registered{trunk="carrier"} 1' "$DIR/metrics.txt" &&
        grep -q '^switchboard_trunk_registered{trunk="backup"} 0' "$DIR/metrics.txt" || {
        log "metrics: $(grep trunk "$DIR/metrics.txt")"
        return 1
    }
    stop_proxy
}

# registered_at_carrier: the carrier's location table holds our Contact.
registered_at_carrier() {
    kam ul.dump 2>/dev/null | grep -q "sip:4930123456@$IP:$PROXY_PORT"
}

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
    local tenths=$(($1 * 5))
    shift
    for _ in $(seq "$tenths"); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}

# ...and headless Chromium on the live page sees it happen: registered,
# unreachable, answering again.
test_reregisters_after_the_carrier_restarts() {
    office_conf
    sed -i '/^\[trunk carrier\]/a keepalive = 1' "$DIR/office.conf"
    start_carrier && start_proxy && wait_trunk carrier registered || return 1
    python3 "$HERE/browser_check.py" trunk "http://127.0.0.1:$ADMIN_PORT/" "$DIR" carrier \
        registered unreachable answered >"$DIR/browser.log" 2>&1 &
    local browser=$!
    PIDS+=("$browser")
    wait_for 5 eval '[ "$(trunk_field carrier reachable)" = True ]' ||
        { log "keep-alives are not answered"; return 1; }
    wait_for 30 test -e "$DIR/shown_1" || { log "page: $(tail -3 "$DIR/browser.log")"; return 1; }
    stop_carrier # and with it what it knew of us
    wait_for 15 eval '[ "$(trunk_field carrier reachable)" = False ]' ||
        { log "an unanswered keep-alive did not show"; return 1; }
    grep -q "trunk carrier: no answer to OPTIONS: unreachable" "$DIR/proxy.log" || return 1
    wait_for 15 test -e "$DIR/shown_2" || { log "page: $(tail -3 "$DIR/browser.log")"; return 1; }
    start_carrier || return 1
    wait_for 10 registered_at_carrier || { log "not registered again"; return 1; }
    # the next keep-alive's answer says so (a second later; more under TSan)
    wait_for 5 grep -q "trunk carrier: answers again" "$DIR/proxy.log" ||
        { log "no keep-alive answered after the restart"; return 1; }
    wait "$browser" || { log "page: $(tail -5 "$DIR/browser.log")"; return 1; }
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
    sipp_run caller uac_call_auth.xml 15772 030-123-4567 -au alice -ap wonderland || return 1
    sipp_wait pstn "$pstn" || { log "$(cat "$DIR/pstn.err" 2>/dev/null | tail -5)"; return 1; }
    grep -q "call to 0301234567 out through trunk carrier as +49301234567" "$DIR/proxy.log" || {
        log "no such line in the log"
        return 1
    }
    # the INVITE's and the BYE's (in the call: RFC 3261 §22.2 too)
    expect_count "challenges answered" "$(trunk_field carrier challenges)" 2 || return 1
    grep -q "trunk carrier: BYE in a call answered with credentials" "$DIR/proxy.log" || return 1
    stop_proxy || return 1
    grep -q '"trunk":{"name":"carrier","direction":"out","dialled":"0301234567","sent":"+49301234567"}' \
        "$DIR/journal.jsonl" || { log "journal: $(cat "$DIR/journal.jsonl")"; return 1; }
}

# The PSTN side hangs up a call out: its BYE (the callee's, no CSeq of
# ours to shift) comes back through the carrier and our Route to alice.
test_call_out_the_pstn_hangs_up() {
    office_ready || return 1
    sipp_start pstn uas_answer_send_bye.xml "$PSTN_PORT" x -i "$PSTN"
    local pstn=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_auth_callee_hangs_up.xml 15772 0301234567 -au alice -ap wonderland ||
        return 1
    sipp_wait pstn "$pstn" || return 1
    stop_proxy || return 1
    grep -q '"outcome":"answered".*"hung_up_by":"callee"' "$DIR/journal.jsonl" ||
        { log "journal: $(cat "$DIR/journal.jsonl")"; return 1; }
}

# A carrier over TCP (uri ;transport=tcp): the registration and a call
# out go over one connection to it, the phone's leg stays UDP.
test_tcp_trunk_registers_and_calls_out() {
    office_conf
    sed -i "s|^uri = sip:$CARRIER:$CARRIER_PORT\$|&;transport=tcp|" "$DIR/office.conf"
    start_carrier && start_proxy && wait_trunk carrier registered || return 1
    kam ul.dump | grep -q "sip:4930123456@$IP:$PROXY_PORT;transport=tcp" ||
        { log "the carrier holds no TCP Contact: $(kam ul.dump | grep -i contact)"; return 1; }
    sipp_run reg register_auth.xml 15771 bob -au bob -ap builder || return 1
    sipp_start pstn uas_trunk_pstn.xml "$PSTN_PORT" x -i "$PSTN"
    local pstn=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_auth.xml 15772 030-123-4567 -au alice -ap wonderland || return 1
    sipp_wait pstn "$pstn" || { log "$(tail -5 "$DIR/pstn.err" 2>/dev/null)"; return 1; }
    grep -q "^Via: SIP/2.0/TCP" "$DIR/pstn.msg" || { log "not over TCP to the carrier"; return 1; }
    stop_proxy
}

test_call_in_rings_the_extension() {
    office_ready || return 1
    sipp_start callee uas_answer_wait_bye.xml 15771 bob
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
    stop_proxy || return 1
    grep -q '"trunk":{"name":"carrier","direction":"in","dialled":"+4930123456","sent":null}' \
        "$DIR/journal.jsonl" || { log "journal: $(cat "$DIR/journal.jsonl")"; return 1; }
}

# Call pickup of a call from outside: the PSTN calls +4930123456, which
# rings 100 (bob, who does not answer); alice dials *8100 (with her
# password): bob's phone gets a CANCEL, hers rings with the carrier's
# call and she answers it.
test_call_in_is_picked_up() {
    office_conf
    printf '[features]\npickup = *8\n' >>"$DIR/office.conf"
    start_carrier && start_proxy && wait_trunk carrier registered || return 1
    sipp_run reg register_auth.xml 15771 bob -au bob -ap builder &&
        sipp_run rega register_auth.xml 15772 alice -au alice -ap wonderland || return 1
    sipp_start callee uas_ring_until_cancel.xml 15771 bob
    local bob=$SIPP_PID
    sipp_start alice uas_answer_wait_bye.xml 15772 alice
    local alice=$SIPP_PID
    sleep 0.2
    sipp "$CARRIER:$CARRIER_PORT" -sf "$SIPP_DIR/uac_call_caller_hangs_up.xml" -i "$PSTN" \
        -p 25071 -s +4930123456 -m 1 -timeout 20 -timeout_error -nostdin -trace_msg \
        -message_file "$DIR/pstn.msg" >"$DIR/pstn.out" 2>&1 &
    local pstn=$!
    PIDS+=("$pstn")
    wait_for_line "$DIR/callee.msg" "SIP/2.0 180 Ringing" || return 1
    sleep 0.3 # the 180 reaches the proxy
    sed 's/<recv response="500"/<recv response="480"/' "$SIPP_DIR/uac_call_auth_final_500.xml" \
        >"$DIR/uac_pick.xml"
    SIPP_DIR=$DIR sipp_run pick uac_pick.xml 15773 '*8100' -au alice -ap wonderland || return 1
    sipp_wait callee "$bob" && sipp_wait alice "$alice" && sipp_wait pstn "$pstn" || return 1
    grep -q "pickup: alice takes the call from outside to bob" "$DIR/proxy.log" ||
        { log "no pickup in the log"; return 1; }
    grep -q "^INVITE sip:alice@" "$DIR/alice.msg" || { log "alice's phone got no INVITE"; return 1; }
    stop_proxy
}

# (the route's own caller ID, "as +4930123457", goes to either trunk)
test_first_carrier_down_backup_carries_the_call() {
    office_conf
    sed -i 's/^0\[1-9\]\[0-9\]+ = carrier, backup$/& as +4930123457/' "$DIR/office.conf"
    start_proxy || return 1 # no carrier at all: its REGISTER goes unanswered
    sipp_run reg register_auth.xml 15771 bob -au bob -ap builder || return 1
    sipp_start backup uas_answer_wait_bye.xml "$BACKUP_PORT" x -i "$BACKUP"
    local backup=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_auth.xml 15772 0301234567 -au alice -ap wonderland || return 1
    sipp_wait backup "$backup" || return 1
    grep -q "trunk carrier: 408 for 0301234567, trying backup" "$DIR/proxy.log" || {
        log "no failover line in the log"
        return 1
    }
    grep -qi "^P-Asserted-Identity: <sip:+4930123457@$BACKUP>" "$DIR/backup.msg" ||
        { log "backup's INVITE: $(grep -A12 '^INVITE' "$DIR/backup.msg" | head -14)"; return 1; }
    stop_proxy
}

# --- the office behind NAT, the carrier found by DNS ---------------------

. "$HERE/netns_lib.sh"
. "$HERE/clients_lib.sh"
NS=sbk$$
cleanup_test() {
    KAM_PID= KAM_KIDS=
    netns_cleanup
    rm -rf "/etc/netns/${NS}pbx" "/etc/netns/${NS}v6"
    loopback
}

# behind_nat UDP-TIMEOUT: the internet (namespace net, 203.0.113.0/24:
# the carrier's Kamailio .10, its PSTN .20, a dnsmasq .53 that knows the
# carrier only by NAPTR and SRV, a TCP one first) and the office
# (namespace pbx, 10.1.0.2: switchboard and its phones) behind a router
# (rtr: 203.0.113.1) doing nft masquerade, whose UDP mappings last
# UDP-TIMEOUT seconds. The office resolves through that dnsmasq.
behind_nat() {
    NET=${NS}net RTR=${NS}rtr PBX=${NS}pbx
    ns_add "$NET" && ns_add "$RTR" && ns_add "$PBX" || return 1
    ip link add wan0 netns "$RTR" type veth peer name eth0 netns "$NET" || return 1
    ip link add lan0 netns "$RTR" type veth peer name eth0 netns "$PBX" || return 1
    local a
    for a in 203.0.113.10 203.0.113.20 203.0.113.30 203.0.113.53; do
        ip -n "$NET" addr add "$a/24" dev eth0
    done
    ip -n "$NET" link set eth0 up
    ip -n "$RTR" addr add 203.0.113.1/24 dev wan0 && ip -n "$RTR" link set wan0 up
    ip -n "$RTR" addr add 10.1.0.1/24 dev lan0 && ip -n "$RTR" link set lan0 up
    ip -n "$PBX" addr add 10.1.0.2/24 dev eth0 && ip -n "$PBX" link set eth0 up
    ip -n "$PBX" route add default via 10.1.0.1
    ip netns exec "$RTR" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$RTR" nft -f - <<NFT || { log "nft masquerade failed"; return 1; }
table ip nat {
    chain post {
        type nat hook postrouting priority 100;
        oifname "wan0" masquerade
    }
}
NFT
    ip netns exec "$RTR" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$1" \
        net.netfilter.nf_conntrack_udp_timeout_stream="$1" || return 1
    mkdir -p "/etc/netns/$PBX" && echo "nameserver 203.0.113.53" >"/etc/netns/$PBX/resolv.conf"
    ip netns exec "$NET" dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces \
        --local=/carrier.test/ --local=/far.test/ \
        --listen-address=203.0.113.53 --pid-file= --log-queries --log-facility="$DIR/dnsmasq.log" \
        --naptr-record=carrier.test,5,10,s,SIP+D2T,,_sip._tcp.carrier.test \
        --naptr-record=carrier.test,10,10,s,SIP+D2U,,_sip._udp.carrier.test \
        --srv-host=_sip._tcp.carrier.test,tcp.carrier.test,5060,10,10 \
        --srv-host=_sip._udp.carrier.test,sip1.carrier.test,5060,10,60 \
        --host-record=tcp.carrier.test,203.0.113.11 --host-record=sip1.carrier.test,203.0.113.10 \
        --srv-host=_sip._udp.far.test,far1.far.test,5090,10,10 \
        --srv-host=_sip._udp.alt.far.test,dead.far.test,5090,10,10 \
        --srv-host=_sip._udp.alt.far.test,far1.far.test,5090,20,10 \
        --host-record=far1.far.test,203.0.113.30 --host-record=dead.far.test,203.0.113.31 &
    PIDS+=("$!")
    CARRIER=203.0.113.10 CARRIER_PORT=5060 PSTN=203.0.113.20 PSTN_PORT=5070
    AT_CARRIER="ip netns exec $NET" AT_PROXY="ip netns exec $PBX"
    CARRIER_MAX_EXPIRES=3600 # no REGISTER refreshes the router's mapping
    PROXY_TCP=0              # so DNS's TCP NAPTR, first, must be skipped
    IP=10.1.0.2 PROXY_PORT=5060
}

# nat_office KEEPALIVE [nobob]: the carrier up, the office's config
# naming it by name, advertising the router's address; registered; bob
# (100) too, as SIPp, unless "nobob".
nat_office() {
    office_conf
    sed -i -e "s|^uri = sip:$CARRIER:$CARRIER_PORT|uri = sip:carrier.test|" \
        -e "/^\[trunk carrier\]/a keepalive = $1\nadvertise = 203.0.113.1:$PROXY_PORT" \
        "$DIR/office.conf"
    start_carrier && start_proxy && wait_trunk carrier registered || return 1
    [ "${2:-}" = nobob ] && return 0
    $AT_PROXY sipp "$IP:$PROXY_PORT" -sf "$SIPP_DIR/register_auth.xml" -i "$IP" -p 15771 -s bob \
        -au bob -ap builder -m 1 -timeout 10 -timeout_error -nostdin >"$DIR/reg.out" 2>&1 ||
        { log "bob did not register: $(tail -3 "$DIR/reg.out")"; return 1; }
}

# pstn_calls SCENARIO: the PSTN calls +4930123456 through the carrier.
pstn_calls() {
    $AT_CARRIER sipp "$CARRIER:$CARRIER_PORT" -sf "$SIPP_DIR/$1" -i "$PSTN" -p 5071 \
        -s +4930123456 -m 1 -timeout 20 -timeout_error -nostdin -trace_msg \
        -message_file "$DIR/pstn.msg" >"$DIR/pstn.out" 2>&1
}

test_behind_nat_keepalives_hold_the_way_in() {
    behind_nat 4 && nat_office 1 || return 1
    grep -q "trunk carrier: carrier.test is 203.0.113.10:5060/UDP (by NAPTR and SRV" \
        "$DIR/proxy.log" || { log "not found by NAPTR and SRV: $(grep 'trunk carrier' "$DIR/proxy.log")"; return 1; }
    kam ul.dump | grep -q "sip:4930123456@203.0.113.1:$PROXY_PORT" ||
        { log "the carrier does not know our public Contact"; return 1; }
    sleep 6 # longer than the router keeps a silent mapping
    $AT_PROXY sipp "$IP:$PROXY_PORT" -sf "$SIPP_DIR/uas_answer_send_bye.xml" -i "$IP" -p 15771 \
        -s bob -m 1 -timeout 30 -timeout_error -nostdin >"$DIR/callee.out" 2>&1 &
    local callee=$!
    PIDS+=("$callee")
    sleep 0.2
    pstn_calls uac_call_callee_hangs_up.xml || { log "the call in failed: $(tail -3 "$DIR/pstn.out")"; return 1; }
    sipp_wait callee "$callee" || return 1
    stop_proxy
}

# A real phone at the office: linphonec (alice, with her password) dials
# 030-123-4567; the PSTN gets +49301234567 with the trunk's caller ID,
# answers, and alice hangs up.
test_behind_nat_linphone_dials_out() {
    behind_nat 30 && nat_office 1 || return 1
    linphone_setup alice alice 10.1.0.2 1000
    printf '[auth_info_0]\nusername=alice\npasswd=wonderland\nrealm=pbx.test\n' >>"$DIR/alice/rc"
    $AT_CARRIER sipp -sf "$SIPP_DIR/uas_answer_wait_bye.xml" -i "$PSTN" -p "$PSTN_PORT" -m 1 \
        -timeout 40 -timeout_error -nostdin -trace_msg -message_file "$DIR/pstn.msg" \
        >"$DIR/pstn.out" 2>&1 &
    local pstn=$!
    PIDS+=("$pstn")
    RUN_IN="ip netns exec $PBX" linphone_start alice \
        "$(printf 'sleep 4\ncall sip:030-123-4567@%s:%s\nsleep 6\nterminate\nsleep 1' "$IP" "$PROXY_PORT")"
    wait "$LAST_PID"
    sipp_wait pstn "$pstn" || { log "the PSTN saw no whole call: $(tail -3 "$DIR/pstn.out")"; return 1; }
    grep -q "^INVITE sip:+49301234567@carrier.test SIP/2.0" "$DIR/pstn.msg" &&
        grep -qi "^P-Asserted-Identity: <sip:+4930123456@carrier.test>" "$DIR/pstn.msg" || {
        log "the PSTN's INVITE: $(grep -A3 '^INVITE' "$DIR/pstn.msg" | head -8)"
        return 1
    }
    grep -q "^BYE " "$DIR/pstn.msg" || { log "no BYE reached the PSTN"; return 1; }
    stop_proxy
}

# The other way: the PSTN calls the office's number and extension 100 is
# a real phone, linphonec (bob, with his password, answering by itself);
# the PSTN hangs up.
test_behind_nat_pstn_rings_a_real_phone() {
    behind_nat 30 && nat_office 1 nobob || return 1
    linphone_setup bob bob 10.1.0.2 440
    printf '[auth_info_0]\nusername=bob\npasswd=builder\nrealm=pbx.test\n' >>"$DIR/bob/rc"
    RUN_IN="ip netns exec $PBX" linphone_start bob 'sleep 15' -a
    local bob=$LAST_PID
    wait_for 15 eval '$AT_PROXY curl -s "http://127.0.0.1:$ADMIN_PORT/api/registrations?user=bob" |
        grep -q "10.1.0.2:5062"' || { log "linphonec bob did not register"; return 1; }
    pstn_calls uac_call_caller_hangs_up.xml ||
        { log "the PSTN's call failed: $(tail -3 "$DIR/pstn.out")"; return 1; }
    linphone_says bob "Call .* connected\|Media streams established" || return 1
    grep -q "trunk carrier: call to +4930123456 rings 100" "$DIR/proxy.log" || return 1
    kill "$bob" 2>/dev/null
    stop_proxy
}

# [proxy] relay = yes: alice calls bob@far.test, a domain of somebody
# else's that DNS knows only by SRV (its server 203.0.113.30:5090); the
# name goes to the resolver's thread, the INVITE waits, then goes there.
# A second call finds the name cached. bob@alt.far.test has two servers,
# the first silent: the call goes on to the second (RFC 3263 §4.3).
test_behind_nat_relay_finds_a_domain_by_srv() {
    behind_nat 30 && nat_office 1 nobob || return 1
    sed -i 's/^t1_ms = 100$/&\nrelay = yes/' "$DIR/office.conf"
    stop_proxy && start_proxy || return 1
    sed 's/\[service\]@\[remote_ip\]:\[remote_port\]/[service]@far.test/g' \
        "$SIPP_DIR/uac_call_auth.xml" >"$DIR/uac_far.xml"
    $AT_CARRIER sipp -sf "$SIPP_DIR/uas_answer_wait_bye.xml" -i 203.0.113.30 -p 5090 -m 3 \
        -timeout 30 -timeout_error -nostdin -trace_msg -message_file "$DIR/far.msg" \
        >"$DIR/far.out" 2>&1 &
    local far=$!
    PIDS+=("$far")
    sed 's/\[service\]@\[remote_ip\]:\[remote_port\]/[service]@alt.far.test/g' \
        "$SIPP_DIR/uac_call_auth.xml" >"$DIR/uac_alt.xml"
    local n name file
    for n in 1 2 3; do
        name=far.test file=far
        [ $n = 3 ] && name=alt.far.test file=alt
        $AT_PROXY sipp "$IP:$PROXY_PORT" -sf "$DIR/uac_$file.xml" -i "$IP" -p 15772 -s bob \
            -au alice -ap wonderland -auth_uri "bob@$name" -m 1 -timeout 20 -timeout_error \
            -nostdin -trace_msg -message_file "$DIR/alice$n.msg" >"$DIR/alice$n.out" 2>&1 ||
            { log "call $n failed: $(tail -3 "$DIR/alice$n.out")"; return 1; }
    done
    grep -q "relay: 408 from a server, trying its next (2 of 2)" "$DIR/proxy.log" ||
        { log "no failover to alt.far.test's second server"; return 1; }
    sipp_wait far "$far" || return 1
    grep -q "^INVITE sip:bob@far.test SIP/2.0" "$DIR/far.msg" || return 1
    # a domain DNS does not know: 500 once the resolver says so
    sed 's/\[service\]@\[remote_ip\]:\[remote_port\]/[service]@nowhere.far.test/g' \
        "$SIPP_DIR/uac_call_auth_final_500.xml" >"$DIR/uac_nowhere.xml"
    $AT_PROXY sipp "$IP:$PROXY_PORT" -sf "$DIR/uac_nowhere.xml" -i "$IP" -p 15772 -s bob \
        -au alice -ap wonderland -auth_uri bob@nowhere.far.test -m 1 -timeout 20 \
        -timeout_error -nostdin >"$DIR/nowhere.out" 2>&1 ||
        { log "no 500 for nowhere: $(tail -3 "$DIR/nowhere.out")"; return 1; }
    grep -q "relay: nowhere.far.test: nowhere.far.test has no address" "$DIR/proxy.log" || return 1
    expect_count "lookups of far.test" "$(grep -c "relay: far.test is 203.0.113.30:5090/UDP" "$DIR/proxy.log")" 1 ||
        return 1
    stop_proxy
}

test_behind_nat_without_keepalives_calls_stop() {
    behind_nat 4 && nat_office 0 || return 1
    sleep 6 # the router forgets the way in
    pstn_calls uac_final_408.xml ||
        { log "the call in did not fail with 408: $(tail -3 "$DIR/pstn.out")"; return 1; }
    grep -q "trunk carrier: call to" "$DIR/proxy.log" && { log "a call got in"; return 1; }
    stop_proxy
}

# An IPv6-only domain (RFC 3263 §4.2: AAAA as well as A): namespace v6
# with loopback's ::1, a dnsmasq on 127.0.0.53 whose SRV for v6.test
# names a host with an AAAA record only, a SIPp UAS on [::1]:5090.
# Listening on [::1] too, the call gets there; on 127.0.0.1 only, the
# address is no target and the call gets 500, the log saying why.
test_relay_reaches_a_domain_with_only_ipv6() {
    local ns=${NS}v6
    ns_add "$ns" || return 1
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.lo.disable_ipv6=0
    ip -n "$ns" addr add 127.0.0.53/8 dev lo 2>/dev/null
    mkdir -p "/etc/netns/$ns" && echo "nameserver 127.0.0.53" >"/etc/netns/$ns/resolv.conf"
    ip netns exec "$ns" dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces \
        --local=/v6.test/ --listen-address=127.0.0.53 --pid-file= --log-queries \
        --log-facility="$DIR/dnsmasq.log" \
        --srv-host=_sip._udp.v6.test,only6.v6.test,5090,10,10 \
        --host-record=only6.v6.test,::1 &
    PIDS+=("$!")
    AT_PROXY="ip netns exec $ns"
    office_conf
    sed -i 's/^t1_ms = 100$/&\nrelay = yes/' "$DIR/office.conf"
    $AT_PROXY "$BIN" -l "udp:$IP:$PROXY_PORT" -l "udp:[::1]:$PROXY_PORT" --workers 2 \
        --log-level info -c "$DIR/office.conf" >"$DIR/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_ready || return 1
    $AT_PROXY sipp -sf "$SIPP_DIR/uas_answer_wait_bye.xml" -i ::1 -p 5090 -m 1 -timeout 20 \
        -timeout_error -nostdin -trace_msg -message_file "$DIR/v6.msg" >"$DIR/v6.out" 2>&1 &
    local uas=$!
    PIDS+=("$uas")
    sed 's/\[service\]@\[remote_ip\]:\[remote_port\]/[service]@v6.test/g' \
        "$SIPP_DIR/uac_call_auth.xml" >"$DIR/uac_v6.xml"
    $AT_PROXY sipp "$IP:$PROXY_PORT" -sf "$DIR/uac_v6.xml" -i "$IP" -p 15772 -s bob \
        -au alice -ap wonderland -auth_uri bob@v6.test -m 1 -timeout 20 -timeout_error \
        -nostdin >"$DIR/alice.out" 2>&1 ||
        { log "the call to v6.test failed: $(tail -3 "$DIR/alice.out")"; return 1; }
    sipp_wait uas "$uas" || return 1
    grep -q "^INVITE sip:bob@v6.test SIP/2.0" "$DIR/v6.msg" ||
        { log "the UAS on [::1] got no INVITE"; return 1; }
    grep -q "^Via: SIP/2.0/UDP \[::1\]:$PROXY_PORT;" "$DIR/v6.msg" ||
        { log "no Via of our [::1] socket: $(grep -m2 '^Via' "$DIR/v6.msg")"; return 1; }
    grep -q "relay: v6.test is \[::1\]:5090/UDP (by SRV" "$DIR/proxy.log" ||
        { log "the lookup was not logged: $(grep 'relay:' "$DIR/proxy.log")"; return 1; }
    stop_proxy
    # no IPv6 socket: the AAAA-only address is no target
    $AT_PROXY "$BIN" -l "udp:$IP:$PROXY_PORT" --workers 2 --log-level info \
        -c "$DIR/office.conf" >"$DIR/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_ready || return 1
    sed 's/\[service\]@\[remote_ip\]:\[remote_port\]/[service]@v6.test/g' \
        "$SIPP_DIR/uac_call_auth_final_500.xml" >"$DIR/uac_v4only.xml"
    $AT_PROXY sipp "$IP:$PROXY_PORT" -sf "$DIR/uac_v4only.xml" -i "$IP" -p 15772 -s bob \
        -au alice -ap wonderland -auth_uri bob@v6.test -m 1 -timeout 20 -timeout_error \
        -nostdin >"$DIR/v4only.out" 2>&1 || { log "no 500: $(tail -3 "$DIR/v4only.out")"; return 1; }
    local try
    for try in $(seq 20); do
        grep -q "relay: v6.test: v6.test has no address of a family we listen on (by SRV)" \
            "$DIR/proxy.log" && break
        [ "$try" = 20 ] && { log "no reason logged: $(grep 'relay:' "$DIR/proxy.log")"; return 1; }
        sleep 0.1
    done
    stop_proxy
}

run_tests "trunk tests" "" "$@"
