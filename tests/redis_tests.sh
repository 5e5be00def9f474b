#!/usr/bin/env bash
# Several switchboards sharing one location service on Redis: two nodes,
# A on 127.0.0.2 and B on 127.0.0.3, and a redis-server started here on a
# loopback port (no persistence, so killing it loses what it held). Phones
# are SIPp and tests/reg_burst.py on 127.0.0.1. Every process is started
# here and ended by PID.
#
# usage: tests/redis_tests.sh BINARY OUTDIR [WORKERS] [TEST...]
set -u
BIN=$(realpath "$1")
OUT=$2
WORKERS=${3:-2}
shift 3 2>/dev/null || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
IP=127.0.0.1
A=127.0.0.2
B=127.0.0.3
PROXY_PORT=${SB_TEST_PORT:-15460}
ADMIN_PORT=${SB_TEST_ADMIN_PORT:-18460}
REDIS_PORT=${SB_TEST_REDIS_PORT:-16479}
mkdir -p "$OUT"
OUT=$(realpath "$OUT") # redis-server runs in the test's folder: no relative paths
. "$HERE/lib.sh"
. "$HERE/sipp_lib.sh"

REDIS_PID=
declare -A NODE_PID=()

cleanup_test() {
    [ -n "$REDIS_PID" ] && kill -KILL "$REDIS_PID" 2>/dev/null
    local n
    for n in "${!NODE_PID[@]}"; do kill -KILL "${NODE_PID[$n]}" 2>/dev/null; done
    wait 2>/dev/null
    REDIS_PID=
    NODE_PID=()
}

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

start_redis() {
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$DIR" --logfile "$DIR/redis.log" >"$DIR/redis.err" 2>&1 &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    for _ in $(seq 100); do
        [ "$(rcli ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    log "redis-server did not start: $(tail -3 "$DIR/redis.err" "$DIR/redis.log" 2>/dev/null)"
    return 1
}

# kill_redis: kill -9, and what it held is gone (no persistence).
kill_redis() {
    kill -KILL "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
    REDIS_PID=
}

# ready_lines NAME: how many times NAME's log said it was ready (0 also
# before the background shell has created the log).
ready_lines() {
    cat "$DIR/$1.log" 2>/dev/null | grep -c "switchboard ready"
}

# start_node NAME ADDRESS [flags]: a switchboard on ADDRESS:$PROXY_PORT.
start_node() {
    local name=$1 addr=$2
    shift 2
    "$BIN" -l "udp:$addr:$PROXY_PORT" --listeners 1 --workers "$WORKERS" \
        --store "redis://127.0.0.1:$REDIS_PORT" --admin "$addr:$ADMIN_PORT" "$@" \
        >>"$DIR/$name.log" 2>&1 &
    NODE_PID[$name]=$!
    PIDS+=("$!")
    local start
    start=$(ready_lines "$name")
    for _ in $(seq 100); do
        [ "$(ready_lines "$name")" -gt "$start" ] && return 0
        sleep 0.05
    done
    log "node $name did not become ready"
    return 1
}

# stop_node NAME: SIGTERM; it must exit 0.
stop_node() {
    local pid=${NODE_PID[$1]}
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    local rc=$?
    unset "NODE_PID[$1]"
    [ $rc -eq 0 ] || log "node $1 exited $rc after SIGTERM"
    return $rc
}

# api ADDRESS PATH: the node's admin API.
api() { curl -s --max-time 2 "http://$1:$ADMIN_PORT$2"; }

# bindings ADDRESS USER: how many bindings the node lists for USER.
bindings() {
    api "$1" "/api/registrations?user=$2" | python3 -c '
import json, sys
print(json.load(sys.stdin).get("contacts", 0))' 2>/dev/null || echo 0
}

# wait_bindings ADDRESS USER COUNT [SECONDS]: until the node lists COUNT.
# Prints how long it took (ms).
wait_bindings() {
    local t0 n
    t0=$(date +%s%N)
    for _ in $(seq $((${4:-5} * 50))); do
        n=$(bindings "$1" "$2")
        if [ "$n" = "$3" ]; then
            echo $((($(date +%s%N) - t0) / 1000000))
            return 0
        fi
        sleep 0.02
    done
    log "$1 lists $n binding(s) of $2, wanted $3"
    return 1
}

# users ADDRESS: how many users the node has bindings for.
users() {
    api "$1" /api/status | python3 -c 'import json, sys; print(json.load(sys.stdin)["registered_users"])' 2>/dev/null || echo 0
}

wait_users() { # ADDRESS COUNT SECONDS
    for _ in $(seq $(($3 * 10))); do
        [ "$(users "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    log "$1 has $(users "$1") user(s), wanted $2"
    return 1
}

# node_sipp NAME NODE-ADDRESS SCENARIO PORT SERVICE [args]: SIPp (on
# 127.0.0.1:PORT) against a node, in the background (SIPP_PID).
node_sipp() {
    local name=$1 node=$2 scenario=$3 port=$4 service=$5
    shift 5
    sipp "$node:$PROXY_PORT" -sf "$SIPP_DIR/$scenario" -i "$IP" -p "$port" \
        -mp $((20000 + (port - 15000) * 10)) -s "$service" -m 1 -timeout 30 -timeout_error \
        -nostdin -trace_err -error_file "$DIR/$name.err" "$@" >"$DIR/$name.out" 2>&1 &
    SIPP_PID=$!
    PIDS+=("$SIPP_PID")
}

node_register() { # NAME NODE PORT USER
    node_sipp "$1" "$2" register.xml "$3" "$4"
    sipp_wait "$1" "$SIPP_PID"
}

# call_via NODE USER CALLEE-PORT: a call placed at NODE to USER, who
# registered with a SIPp contact on CALLEE-PORT, is answered.
call_via() {
    node_sipp "callee-$2-$1" "$1" uas_answer_wait_bye.xml "$3" "$2"
    local callee=$SIPP_PID
    sleep 0.2
    node_sipp "caller-$2-$1" "$1" uac_call_caller_hangs_up.xml 15080 "$2"
    sipp_wait caller "$SIPP_PID" && sipp_wait callee "$callee" ||
        { log "the call via $1 to $2 failed"; return 1; }
}

# burst_both USERS RATE FIRST-A PORT-A FIRST-B PORT-B: tests/reg_burst.py
# registers USERS users at A and USERS at B at once (userFIRST..., each
# with a contact on 127.0.0.1:PORT); the acknowledgements land in
# acks-a.txt and acks-b.txt.
burst_both() {
    local users=$1 rate=$2 side first port pid
    shift 2
    local -a started=()
    for side in a b; do
        first=$1 port=$2
        shift 2
        python3 "$HERE/reg_burst.py" burst "$([ $side = a ] && echo "$A" || echo "$B")" \
            "$PROXY_PORT" --users "$users" --rate "$rate" --first "$first" --contact-host "$IP" \
            --contact-port "$port" --acks "$DIR/acks-$side.txt" >"$DIR/burst-$side.out" 2>&1 &
        started+=($!)
        PIDS+=($!)
    done
    for pid in "${started[@]}"; do wait "$pid"; done
    log "A: $(cat "$DIR/burst-a.out"); B: $(cat "$DIR/burst-b.out")"
}

start_both() {
    start_redis && start_node a "$A" && start_node b "$B"
}

# --- the tests ----------------------------------------------------------------

# alice registers at A, bob at B; calls A->B and B->A are answered; alice
# unregisters at A and B answers 404 for her within a bound (measured).
test_calls_between_nodes() {
    start_both || return 1
    node_register reg-alice "$A" 15070 alice || return 1
    node_register reg-bob "$B" 15071 bob || return 1
    local ms
    ms=$(wait_bindings "$B" alice 1) || return 1
    log "alice's binding reached B in $ms ms"
    wait_bindings "$A" bob 1 >/dev/null || return 1
    call_via "$A" bob 15071 || return 1
    call_via "$B" alice 15070 || return 1
    # alice leaves at A (Contact: *, Expires: 0); B must forget her
    local t0 reply
    t0=$(date +%s%N)
    python3 "$HERE/udp_probe.py" "$A" "$PROXY_PORT" --expect 200 --text \
        "REGISTER sip:$A:$PROXY_PORT SIP/2.0\r\nVia: SIP/2.0/UDP $IP:@PORT@;branch=z9hG4bK-u$RANDOM;rport\r\nFrom: <sip:alice@$A:$PROXY_PORT>;tag=u$RANDOM\r\nTo: <sip:alice@$A:$PROXY_PORT>\r\nCall-ID: leave-$RANDOM@$A\r\nCSeq: 1 REGISTER\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n" >/dev/null ||
        { log "alice's unregistration at A was not answered 200"; return 1; }
    for _ in $(seq 100); do
        if python3 "$HERE/udp_probe.py" "$B" "$PROXY_PORT" --expect 404 --wait 0.5 --text \
            "OPTIONS sip:alice@$B:$PROXY_PORT SIP/2.0\r\nVia: SIP/2.0/UDP $IP:@PORT@;branch=z9hG4bK-o$RANDOM;rport\r\nFrom: <sip:carol@$B:$PROXY_PORT>;tag=o$RANDOM\r\nTo: <sip:alice@$B:$PROXY_PORT>\r\nCall-ID: probe-$RANDOM@$B\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n" >/dev/null 2>&1; then
            log "alice unregistered at A: 404 at B after $((($(date +%s%N) - t0) / 1000000)) ms"
            [ "$(rcli exists sb:aor:alice)" = 0 ] || { log "alice is still in Redis"; return 1; }
            stop_node a && stop_node b
            return
        fi
        sleep 0.02
    done
    log "B still routes alice 2 s after she left at A"
    return 1
}

# 10 000 users, half registered at A and half at B: both nodes and Redis
# know all of them, and sampled calls through either node are answered.
test_ten_thousand_users_across_nodes() {
    start_both || return 1
    burst_both 5000 2500 1 15070 5001 15070
    wait_users "$A" 10000 20 && wait_users "$B" 10000 20 || return 1
    local keys
    keys=$(rcli --scan --pattern 'sb:aor:*' | wc -l)
    [ "$keys" = 10000 ] || { log "Redis holds $keys AoRs, wanted 10000"; return 1; }
    cat "$DIR/acks-a.txt" "$DIR/acks-b.txt" >"$DIR/acks.txt"
    local node
    for node in "$A" "$B"; do
        python3 "$HERE/reg_burst.py" check "$node" "$PROXY_PORT" --acks "$DIR/acks.txt" \
            --killed-at "$(date +%s)" --window 0 >"$DIR/check-$node.out" 2>&1 ||
            { log "$node: $(cat "$DIR/check-$node.out")"; return 1; }
        log "$node lists every user: $(cat "$DIR/check-$node.out")"
    done
    local sample="user1 user17 user503 user2048 user4711 user5001 user6000 user8191 user9999 user10000"
    printf 'SEQUENTIAL\n' >"$DIR/callees.csv"
    printf '%s\n' $sample >>"$DIR/callees.csv"
    for node in "$A" "$B"; do
        node_sipp "callee-$node" "$node" uas_answer_wait_bye.xml 15070 any -m 10
        local callee=$SIPP_PID
        sleep 0.2
        node_sipp "caller-$node" "$node" uac_call_listed.xml 15080 any -m 10 -r 20 \
            -inf "$DIR/callees.csv"
        sipp_wait caller "$SIPP_PID" && sipp_wait callee "$callee" ||
            { log "sampled calls via $node failed"; return 1; }
    done
    stop_node a && stop_node b
}

# Redis killed (and its data with it): calls between registered phones go
# on through both nodes, a new REGISTER is answered; Redis back: every
# registration, including the one made meanwhile, is in Redis again and on
# the other node.
test_redis_killed_mid_run() {
    start_both || return 1
    node_register reg-alice "$A" 15070 alice || return 1
    node_register reg-bob "$B" 15071 bob || return 1
    wait_bindings "$B" alice 1 >/dev/null && wait_bindings "$A" bob 1 >/dev/null || return 1
    kill_redis
    call_via "$A" bob 15071 || return 1
    call_via "$B" alice 15070 || return 1
    node_register reg-carol "$A" 15072 carol || { log "REGISTER with Redis down failed"; return 1; }
    # both see it, B without having written anything since
    local node
    for node in "$A" "$B"; do
        api "$node" /api/status | grep -q '"healthy":false' ||
            { log "$node does not report its store unhealthy: $(api "$node" /api/status)"; return 1; }
    done
    api "$B" /metrics | grep -q '^switchboard_store_healthy 0' ||
        { log "B's metrics do not say the store is down"; return 1; }
    grep -q "routing from the cache" "$DIR/a.log" || { log "A never said Redis was down"; return 1; }
    local t0
    t0=$(date +%s%N)
    start_redis || return 1
    local ms
    ms=$(wait_bindings "$B" carol 1 15) || return 1
    log "Redis back: carol (registered at A meanwhile) reached B $ms ms after Redis started"
    for u in alice bob carol; do
        [ "$(rcli hlen "sb:aor:$u")" = 1 ] || { log "$u is not in Redis again"; return 1; }
    done
    log "alice, bob and carol all back in Redis after $((($(date +%s%N) - t0) / 1000000)) ms"
    api "$A" /api/status | grep -q '"healthy":true' || { log "A's store still unhealthy"; return 1; }
    call_via "$B" carol 15072 || return 1
    stop_node a && stop_node b
}

# B restarted with Redis up: it comes back with every binding from Redis,
# its own and A's.
test_node_restart_reloads() {
    start_both || return 1
    node_register reg-alice "$A" 15070 alice || return 1
    node_register reg-bob "$B" 15071 bob || return 1
    wait_bindings "$B" alice 1 >/dev/null || return 1
    stop_node b || return 1
    start_node b "$B" || return 1
    grep -q "loaded 2 binding(s) of 2 user(s)" "$DIR/b.log" ||
        { log "B did not load both: $(grep loaded "$DIR/b.log")"; return 1; }
    log "B after its restart: $(grep loaded "$DIR/b.log" | tail -1)"
    call_via "$B" alice 15070 && call_via "$B" bob 15071 || return 1
    # and B writes again: dave registers at B, A learns of him
    node_register reg-dave "$B" 15073 dave && wait_bindings "$A" dave 1 >/dev/null || return 1
    stop_node a && stop_node b
}

# Both nodes change one AoR at the same moment (each user registers one
# contact at A and another at B, 200 users at once): no binding is lost,
# each user has both on both nodes and in Redis.
test_concurrent_updates_keep_both() {
    start_both || return 1
    burst_both 200 2000 1 15070 1 15071
    sleep 1
    local u missing=0
    for u in $(seq 200); do
        [ "$(rcli hlen "sb:aor:user$u")" = 2 ] || missing=$((missing + 1))
    done
    [ $missing = 0 ] || { log "$missing user(s) lack a binding in Redis"; return 1; }
    for u in 1 50 100 150 200; do
        wait_bindings "$A" "user$u" 2 >/dev/null && wait_bindings "$B" "user$u" 2 >/dev/null ||
            return 1
    done
    log "200 users, each with one contact from A and one from B: both kept everywhere"
    stop_node a && stop_node b
}

# bob is connected to B over TCP from behind a NAT (B runs nat = always), so
# only B's connection reaches him (RFC 5626); a call to him entering A is
# handed to B, which uses that connection: answered, hung up by the caller.
test_tcp_phone_reached_through_its_node() {
    start_redis && start_node a "$A" && start_node b "$B" -l "tcp:$B:$PROXY_PORT" --nat always ||
        return 1
    python3 "$HERE/stream_ua.py" callee --proxy "$B:$PROXY_PORT" --transport tcp --user bob \
        --hangup peer >"$DIR/bob.out" 2>&1 &
    local callee=$!
    PIDS+=("$callee")
    for _ in $(seq 100); do
        grep -q registered "$DIR/bob.out" && break
        sleep 0.05
    done
    wait_bindings "$A" bob 1 >/dev/null || return 1
    node_sipp caller "$A" uac_call_caller_hangs_up.xml 15080 bob
    sipp_wait caller "$SIPP_PID" || return 1
    wait "$callee" || { log "bob: $(tail -2 "$DIR/bob.out")"; return 1; }
    log "A handed the call to B, which reached bob over his connection"
    stop_node a && stop_node b
}

# node_publish NODE ARGS...: one PUBLISH for bob at NODE (dialog_sub.py
# publish); its answer's JSON line in PUB.
node_publish() {
    local node=$1
    shift
    PUB=$(python3 "$HERE/dialog_sub.py" publish "$node" "$PROXY_PORT" --port 15095 --user bob "$@") ||
        { log "no answer to PUBLISH at $node $*"; return 1; }
    echo "$PUB" >>"$DIR/pub.out"
}
pub_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$PUB" "$1"; }

# bob_at_a_watched_at_b SECONDS: both nodes, bob registered at A, and a
# presence subscriber for him at B for SECONDS (lamp.out; PID in
# LAMP_PID), once it has its first NOTIFY.
bob_at_a_watched_at_b() {
    start_both || return 1
    node_register reg-bob "$A" 15071 bob || return 1
    wait_bindings "$B" bob 1 >/dev/null || return 1
    python3 "$HERE/dialog_sub.py" run "$B" "$PROXY_PORT" --port 15090 --user bob \
        --event presence --seconds "$1" >"$DIR/lamp.out" 2>"$DIR/lamp.err" &
    LAMP_PID=$!
    PIDS+=("$LAMP_PID")
    wait_for_line "$DIR/lamp.out" '"notify"'
}

# What bob's phones publish is one presence across the nodes: published
# at A, B's subscriber hears him away; modified at B with A's entity-tag
# (200, not 412), he is busy; removed at A with B's tag, B's subscriber
# hears him plainly online. Redis holds the entry while it lives, and
# B's subscription under B's name.
test_presence_is_shared_by_the_nodes() {
    # the subscriber listens 8 s: under TSan with 4 workers the three
    # changes and A learning B's tag took over 5 s once
    bob_at_a_watched_at_b 8 || return 1
    local lamp=$LAMP_PID
    node_publish "$A" --activity away --note "at lunch" && [ "$(pub_field response)" = 200 ] ||
        { log "PUBLISH at A: $PUB"; return 1; }
    local e1 e2 t0
    e1=$(pub_field etag)
    t0=$(date +%s%N)
    wait_for_line "$DIR/lamp.out" '"away"' || return 1
    log "published at A, heard at B after $((($(date +%s%N) - t0) / 1000000)) ms"
    [ "$(rcli hlen sb:doc:presence)" = 1 ] || { log "Redis holds $(rcli hlen sb:doc:presence) entries"; return 1; }
    [ "$(rcli hlen "sb:doc:subscription:$B:$PROXY_PORT")" = 1 ] ||
        { log "B's subscription is not in Redis under B's name"; return 1; }
    node_publish "$B" --etag "$e1" --activity busy && [ "$(pub_field response)" = 200 ] ||
        { log "A's tag at B: $PUB"; return 1; }
    e2=$(pub_field etag)
    wait_for_line "$DIR/lamp.out" '"busy"' || return 1
    for _ in $(seq 40); do # until A has heard of B's tag
        node_publish "$A" --etag "$e2" --no-body --expires 0 || return 1
        [ "$(pub_field response)" = 200 ] && break
        sleep 0.05
    done
    [ "$(pub_field response)" = 200 ] || { log "B's tag at A: $PUB"; return 1; }
    wait "$lamp"
    local heard
    heard=$(python3 "$HERE/dialog_sub.py" heard "$DIR/lamp.out" --detail)
    [ "$heard" = "online,online/away/at lunch,online/busy,online" ] ||
        { log "B's subscriber heard $heard"; return 1; }
    [ "$(rcli hlen sb:doc:presence)" = 0 ] || { log "the removed entry is still in Redis"; return 1; }
    stop_node a && stop_node b
}

# Redis killed (it held nothing on disk) with bob's presence watched at
# B: bob's phone publishes "busy" at A meanwhile (answered from memory);
# once Redis is back each node rewrites what it keeps (A its
# publication, B its subscription), and B's subscriber hears bob busy
# without anyone publishing again.
test_presence_survives_a_redis_restart() {
    bob_at_a_watched_at_b 14 || return 1
    local lamp=$LAMP_PID
    kill_redis
    node_publish "$A" --activity busy && [ "$(pub_field response)" = 200 ] ||
        { log "PUBLISH at A with Redis down: $PUB"; return 1; }
    sleep 0.5
    grep -q '"busy"' "$DIR/lamp.out" && { log "B heard it with Redis down"; return 1; }
    local t0
    t0=$(date +%s%N)
    start_redis || return 1
    for _ in $(seq 240); do
        grep -q '"busy"' "$DIR/lamp.out" && break
        sleep 0.05
    done
    grep -q '"busy"' "$DIR/lamp.out" || { log "B's subscriber never heard bob busy"; return 1; }
    log "Redis back: B's subscriber heard the publication after $((($(date +%s%N) - t0) / 1000000)) ms"
    for _ in $(seq 40); do
        [ "$(rcli hlen "sb:doc:subscription:$B:$PROXY_PORT")" = 1 ] && break
        sleep 0.05
    done
    [ "$(rcli hlen sb:doc:presence)" = 1 ] &&
        [ "$(rcli hlen "sb:doc:subscription:$B:$PROXY_PORT")" = 1 ] ||
        { log "Redis after: $(rcli hlen sb:doc:presence) publication(s), $(rcli hlen "sb:doc:subscription:$B:$PROXY_PORT") subscription(s) of B"; return 1; }
    kill "$lamp" 2>/dev/null
    stop_node a && stop_node b
}

run_tests "redis tests" "$WORKERS workers, " "$@"
