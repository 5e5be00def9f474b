# Shared by the protocol and client test scripts (sourced, not run): process
# bookkeeping, starting and stopping the proxy, and the test runner.
# The sourcing script sets BIN, IP, PROXY_PORT and OUT first.

declare -a PIDS=()
PROXY_PID=
passed=0
failed=0

log() { printf '%s\n' "$*" >>"$DIR/test.log"; }

# kill_started: ends every process the test started (with the process
# group of a Chromium that browser_check.py or phone_check.py left behind
# when the test gave up on it), then runs the test file's own
# cleanup_test (namespaces, mounts) when it defines one.
kill_started() {
    for pid in "${PIDS[@]}" $PROXY_PID; do kill -KILL "$pid" 2>/dev/null; done
    local pgid
    pgid=$(cat "${DIR:-/nonexistent}/chromium.pgid" 2>/dev/null) && kill -KILL -- "-$pgid" 2>/dev/null
    rm -f "${DIR:-/nonexistent}/chromium.pgid"
    wait 2>/dev/null
    PIDS=()
    PROXY_PID=
    if declare -F cleanup_test >/dev/null; then cleanup_test; fi
}
trap kill_started EXIT

# launch_proxy [switchboard flags...]: runs it on $IP:$PROXY_PORT with its
# output in the test's folder, and waits for its ready line.
launch_proxy() {
    "$BIN" -l "udp:$IP:$PROXY_PORT" "$@" >"$DIR/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_ready
}

# wait_ready: the proxy started as PROXY_PID printed its ready line.
wait_ready() {
    for _ in $(seq 100); do
        grep -q "switchboard ready" "$DIR/proxy.log" 2>/dev/null && return 0
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "proxy did not become ready"
    return 1
}

# stop_proxy: SIGTERM, and the proxy must exit 0 by itself.
stop_proxy() {
    [ -n "$PROXY_PID" ] || return 0
    kill -TERM "$PROXY_PID" 2>/dev/null
    wait "$PROXY_PID"
    local rc=$?
    PROXY_PID=
    [ $rc -eq 0 ] || log "proxy exited $rc after SIGTERM"
    return $rc
}

# post_mortem: a failed test's proxy, if it still runs, logs its counters
# (SIGUSR1) and has its threads' stacks written to proxy.stacks, so that a
# proxy that stopped answering says where it waits before it is killed.
post_mortem() {
    [ -n "${PROXY_PID:-}" ] && kill -0 "$PROXY_PID" 2>/dev/null || return 0
    kill -USR1 "$PROXY_PID" 2>/dev/null
    sleep 1.2 # the signal thread takes it within a second
    timeout 30 gdb -p "$PROXY_PID" -batch -nx -ex "thread apply all bt" \
        >"$DIR/proxy.stacks" 2>&1
    {
        echo "post mortem: counters in proxy.log; each thread's innermost frames:"
        awk '/^Thread /{if(t)print t; match($0, /"[^"]*"/); t="thread " $2 " " substr($0, RSTART, RLENGTH); n=0; next}
             /^#[0-9]/ && n<3 {f=($3=="in")?$4:$2; t=t (n?" < ":": ") f; n++}
             END{if(t)print t}' "$DIR/proxy.stacks"
    } >>"$DIR/test.log"
}

# run_tests LABEL NOTE [TEST...]: runs the named test_ functions (all by
# default), each in its own folder under $OUT, killing whatever it left
# running; prints PASS/FAIL lines and "LABEL: N passed, M failed".
run_tests() {
    local label=$1 note=$2
    shift 2
    local t result start ms
    for t in ${*:-$(declare -F | awk '{print $3}' | grep '^test_')}; do
        DIR=$OUT/${t#test_}
        rm -rf "$DIR"
        mkdir -p "$DIR"
        start=$(date +%s%N)
        if "$t"; then
            result=PASS
            passed=$((passed + 1))
        else
            result=FAIL
            failed=$((failed + 1))
            post_mortem
        fi
        kill_started
        ms=$((($(date +%s%N) - start) / 1000000))
        printf '%s %s (%s%d.%03ds)\n' "$result" "${t#test_}" "$note" $((ms / 1000)) $((ms % 1000))
        if [ $result = FAIL ]; then
            sed 's/^/    | /' "$DIR/test.log" 2>/dev/null | tail -20
            echo "    | logs: $DIR"
        fi
    done
    echo "$label: $passed passed, $failed failed"
    [ $failed -eq 0 ]
}

# ua NAME ROLE ARGS...: tests/stream_ua.py (TCP, TLS or WebSocket; the
# CA in $CA_DIR, when set) in the background, its output in NAME.out, PID in UA_PID.
ua() { # NAME ROLE ARGS...: stream_ua.py in the background, PID in UA_PID
    local name=$1
    shift
    local -a ca=()
    [ -n "${CA_DIR:-}" ] && ca=(--ca "$CA_DIR/ca.pem")
    python3 "$HERE/stream_ua.py" "$@" "${ca[@]}" >"$DIR/$name.out" 2>&1 &
    UA_PID=$!
    PIDS+=("$UA_PID")
}

ua_wait() { # NAME PID
    wait "$2" || { log "$1: $(tail -2 "$DIR/$1.out")"; return 1; }
}

# wait_for_line FILE TEXT: TEXT shows up in FILE within 5 s.
wait_for_line() { # FILE TEXT
    for _ in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    log "no '$2' in $1"
    return 1
}

# make_test_ca DIR: a CA and a certificate for 127.0.0.1 signed by it (the
# address also as a DNS name: Linphone's TLS stack matches names only).
make_test_ca() {
    local d=$1
    [ -f "$d/cert.pem" ] && return 0
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
        -subj "/CN=switchboard test CA" 2>/dev/null &&
        openssl req -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.csr" \
            -subj "/CN=127.0.0.1" 2>/dev/null &&
        printf 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost\n' >"$d/ext.cnf" &&
        openssl x509 -req -in "$d/cert.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
            -out "$d/cert.pem" -days 2 -extfile "$d/ext.cnf" 2>/dev/null
}
