# SIPp helpers shared by the protocol and store tests (sourced, not run,
# after lib.sh). The sourcing script sets IP, PROXY_PORT, SIPP_DIR and DIR,
# and defines start_proxy.

# sipp_start NAME SCENARIO PORT SERVICE [sipp args...]: background SIPp, PID in SIPP_PID.
sipp_start() {
    local name=$1 scenario=$2 port=$3 service=$4
    shift 4
    sipp "$IP:$PROXY_PORT" -sf "$SIPP_DIR/$scenario" -i "$IP" -p "$port" \
        -mp $((20000 + (port - 15000) * 10)) -s "$service" -m 1 -timeout 45 -timeout_error -nostdin \
        -trace_msg -message_file "$DIR/$name.msg" -trace_err -error_file "$DIR/$name.err" \
        "$@" >"$DIR/$name.out" 2>&1 &
    SIPP_PID=$!
    PIDS+=("$SIPP_PID")
}

# sipp_wait NAME PID: the SIPp run must have ended with exit 0.
sipp_wait() {
    wait "$2"
    local rc=$?
    [ $rc -eq 0 ] || log "sipp $1 exited $rc"
    return $rc
}

# sipp_run NAME SCENARIO PORT SERVICE [args]: foreground SIPp, exit 0 required.
sipp_run() {
    sipp_start "$@"
    sipp_wait "$1" "$SIPP_PID"
}

# count_received NAME START-OF-LINE: how many messages SIPp logged receiving.
count_received() {
    grep -A2 "message received" "$DIR/$1.msg" | grep -c "^$2"
}

expect_count() { # what actual expected
    [ "$2" -eq "$3" ] && return 0
    log "expected $3 $1, saw $2"
    return 1
}

register_user() { # name port service
    sipp_run "$1" register.xml "$2" "$3"
}

# place_call UAS-SCENARIO UAC-SCENARIO [SERVICE]: bob (registered on 15070)
# runs the callee side; alice calls SERVICE (bob) from 15080.
place_call() {
    sipp_start callee "$1" 15070 bob
    local callee=$SIPP_PID
    sleep 0.2
    sipp_run caller "$2" 15080 "${3:-bob}" || return 1
    sipp_wait callee "$callee"
}

# call_flow UAS-SCENARIO UAC-SCENARIO: a proxy, bob registered, one call.
call_flow() {
    start_proxy || return 1
    register_user reg 15070 bob || return 1
    place_call "$1" "$2"
}
