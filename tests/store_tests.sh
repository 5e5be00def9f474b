#!/usr/bin/env bash
# Registration store tests: registrations that survive SIGTERM and kill -9,
# and a store that is corrupt, read-only or on a full disk. Drives the real
# binary on 127.0.0.1 with SIPp and tests/reg_burst.py; the read-only and
# full disks are small tmpfs mounts made (and unmounted) here, so it needs
# root. Every process is started here and ended by PID.
#
# usage: tests/store_tests.sh BINARY OUTDIR [WORKERS] [TEST...]
set -u
BIN=$(realpath "$1")
OUT=$2
WORKERS=${3:-2}
shift 3 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
IP=127.0.0.1
PROXY_PORT=${SB_TEST_PORT:-15360}
mkdir -p "$OUT"
. "$HERE/lib.sh"

start_proxy() {
    launch_proxy --listeners 2 --workers "$WORKERS" --store "$STORE" "$@"
}

. "$HERE/sipp_lib.sh"

declare -a MOUNTS=()

# mount_tmpfs DIR SIZE: a tmpfs of SIZE at DIR, unmounted after the test.
mount_tmpfs() {
    mkdir -p "$1" && mount -t tmpfs -o "size=$2" tmpfs "$1" || { log "cannot mount a tmpfs"; return 1; }
    MOUNTS+=("$1")
}

cleanup_test() {
    local m
    for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
    MOUNTS=()
}

# rows SQL: what a query over the store file returns (python's sqlite3).
rows() {
    python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' \
        "$STORE" "$1"
}

# proxy_says TEXT: the proxy's log has a line with TEXT.
proxy_says() {
    grep -q -- "$1" "$DIR/proxy.log" || { log "the proxy never said '$1'"; return 1; }
}

# call_bob: a call to bob (registered at 15070) is answered.
call_bob() {
    place_call uas_answer_wait_bye.xml uac_call_caller_hangs_up.xml
}

# bindings_listed USER... : a fetch (REGISTER without Contact) for each USER
# lists one binding on port 15070 whose remaining time agrees with a 600 s
# registration made between $REGISTERED_AT and $REGISTERED_BY (wall clock,
# seconds).
bindings_listed() {
    local user reply left now before
    for user in "$@"; do
        before=$(date +%s)
        reply=$(python3 "$HERE/udp_probe.py" "$IP" "$PROXY_PORT" --print --expect 200 --text \
            "REGISTER sip:$IP:$PROXY_PORT SIP/2.0\r\nVia: SIP/2.0/UDP $IP:@PORT@;branch=z9hG4bK-f$RANDOM;rport\r\nFrom: <sip:$user@$IP:$PROXY_PORT>;tag=f$RANDOM\r\nTo: <sip:$user@$IP:$PROXY_PORT>\r\nCall-ID: fetch-$RANDOM$RANDOM\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
        left=$(echo "$reply" | sed -n "s/^Contact: <sip:$user@$IP:15070>;expires=\([0-9]*\).*/\1/p")
        now=$(date +%s)
        # the proxy answered somewhere between $before and $now
        [ -n "$left" ] && [ "$left" -ge $((600 - now + REGISTERED_AT - 1)) ] &&
            [ "$left" -le $((600 - before + REGISTERED_BY + 1)) ] ||
            { log "$user: fetch lists '${left:-nothing}' s left, want $((600 - now + REGISTERED_AT))-$((600 - now + REGISTERED_BY)): $reply"; return 1; }
    done
    log "fetches list the sampled users with $((600 - now + REGISTERED_AT))-$((600 - now + REGISTERED_BY)) s left"
}

# --- the tests ---------------------------------------------------------------

# 10 000 users registered by SIPp; SIGTERM; restart: calls to sampled users
# ring without any re-registration, and fetches list each binding with the
# time it really has left.
test_sigterm_restart_keeps_registrations() {
    STORE=$DIR/reg.db
    start_proxy || return 1
    REGISTERED_AT=$(date +%s)
    sipp_run reg register_users.xml 15071 user -m 10000 -r 5000 -l 5000 -set contact_port 15070 \
        -trace_msg -message_file /dev/null || return 1
    REGISTERED_BY=$(date +%s)
    stop_proxy || return 1
    # every change noted was written (SIPp's retransmissions count as changes)
    local noted written
    noted=$(sed -n 's/.* \([0-9]*\) change(s) noted, \([0-9]*\) write(s) .* 0 failed .*/\1/p' "$DIR/proxy.log")
    written=$(sed -n 's/.* \([0-9]*\) change(s) noted, \([0-9]*\) write(s) .* 0 failed .*/\2/p' "$DIR/proxy.log")
    log "store written: $(grep 'change(s) noted' "$DIR/proxy.log")"
    [ -n "$noted" ] && [ "$noted" -ge 10000 ] && [ "$noted" = "$written" ] ||
        { log "not every change was written"; return 1; }
    start_proxy || return 1
    proxy_says "loaded 10000 binding(s) of 10000 user(s)" || return 1
    log "$(grep 'loaded' "$DIR/proxy.log")"
    local sample="user1 user17 user503 user2048 user4711 user6000 user8191 user9999 user10000 user777"
    printf 'SEQUENTIAL\n' >"$DIR/callees.csv"
    printf '%s\n' $sample >>"$DIR/callees.csv"
    sipp_start callee uas_answer_wait_bye.xml 15070 any -m 10
    local callee=$SIPP_PID
    sleep 0.2
    sipp_run caller uac_call_listed.xml 15080 any -m 10 -r 20 -inf "$DIR/callees.csv" || return 1
    sipp_wait callee "$callee" && expect_count "calls answered" "$(count_received callee INVITE)" 10 &&
        bindings_listed $sample && stop_proxy
}

# kill -9 in the middle of a registration burst: every registration
# acknowledged more than a second before the kill is back after a restart
# (the measured loss window is in the test's log).
test_kill9_during_registration_burst() {
    STORE=$DIR/reg.db
    start_proxy || return 1
    python3 "$HERE/reg_burst.py" burst "$IP" "$PROXY_PORT" --users 20000 --rate 4000 \
        --acks "$DIR/acks.txt" >"$DIR/burst.out" 2>&1 &
    local burst=$!
    PIDS+=("$burst")
    sleep 3
    local killed_at
    killed_at=$(date +%s.%N)
    kill -KILL "$PROXY_PID"
    wait "$PROXY_PID" 2>/dev/null
    PROXY_PID=
    wait "$burst"
    log "burst: $(cat "$DIR/burst.out")"
    start_proxy || return 1
    log "$(grep 'loaded' "$DIR/proxy.log")"
    python3 "$HERE/reg_burst.py" check "$IP" "$PROXY_PORT" --acks "$DIR/acks.txt" \
        --killed-at "$killed_at" --window 1.0 >"$DIR/check.out" 2>&1
    local rc=$?
    log "after the restart: $(cat "$DIR/check.out")"
    [ $rc -eq 0 ] && stop_proxy
}

# Random bytes where the store should be: moved aside with a clear log line,
# the proxy starts empty and serves, and the new file works.
test_corrupt_store_is_moved_aside() {
    STORE=$DIR/reg.db
    head -c 65536 /dev/urandom >"$STORE"
    start_proxy || return 1
    proxy_says "is unreadable or corrupt: moved aside to $STORE.corrupt-" || return 1
    [ -n "$(ls "$STORE".corrupt-* 2>/dev/null)" ] || { log "no file moved aside"; return 1; }
    register_user reg 15070 bob && call_bob && stop_proxy || return 1
    [ "$(rows "SELECT count(*) FROM bindings WHERE aor = 'bob'")" = 1 ] ||
        { log "bob is not in the new store"; return 1; }
}

# The store's directory turns read-only: the proxy still starts (reading
# what is there), serves calls and registrations from memory, says so, and
# writes everything once the directory is writable again.
test_read_only_store_directory() {
    mount_tmpfs "$DIR/disk" 8m || return 1
    STORE=$DIR/disk/reg.db
    start_proxy || return 1
    register_user reg 15070 bob && stop_proxy || return 1
    mount -o remount,ro "$DIR/disk" || { log "cannot remount read-only"; return 1; }
    start_proxy || return 1
    proxy_says "opening failed" && proxy_says "loaded 1 binding(s) of 1 user(s)" || return 1
    call_bob || return 1 # bob's binding came from the read-only file
    register_user reg2 15072 carol || return 1
    mount -o remount,rw "$DIR/disk"
    local n
    for n in $(seq 50); do
        grep -q "open again" "$DIR/proxy.log" && break
        sleep 0.1
    done
    proxy_says "open again; rewriting every registration" && stop_proxy || return 1
    [ "$(rows "SELECT count(*) FROM bindings WHERE aor IN ('bob', 'carol')")" = 2 ] ||
        { log "the store did not catch up"; return 1; }
}

# The disk fills up: writes fail and are reported once per interval, calls
# and registrations go on from memory, and once there is room again the
# whole store is rewritten.
test_full_disk() {
    mount_tmpfs "$DIR/disk" 8m || return 1
    STORE=$DIR/disk/reg.db
    start_proxy || return 1
    register_user reg 15070 bob || return 1
    sleep 0.3
    dd if=/dev/zero of="$DIR/disk/filler" bs=4k 2>/dev/null # until the disk is full
    sipp_run many register_users.xml 15071 user -m 3000 -r 3000 -l 3000 -set contact_port 15070 \
        -trace_msg -message_file /dev/null || return 1
    sleep 1.5
    proxy_says "failed: system call failed; serving from memory" || return 1
    call_bob || return 1
    rm -f "$DIR/disk/filler"
    local n
    for n in $(seq 50); do
        grep -q "rewrote" "$DIR/proxy.log" && break
        sleep 0.1
    done
    proxy_says "rewrote 3001 user(s)" && stop_proxy || return 1
    [ "$(rows "SELECT count(*) FROM bindings")" = 3001 ] ||
        { log "the store has $(rows "SELECT count(*) FROM bindings") bindings, not 3001"; return 1; }
}

run_tests store "workers=$WORKERS, " "$@"
