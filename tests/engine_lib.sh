# Shared by the tests that need rtpengine (sourced after lib.sh): userspace
# engines of the test's own, on its own ports, ended by PID, and
# tests/ng_tool.py to ask one what it holds. The sourcing script sets IP,
# HERE and DIR (per test) and calls engines_stop from its cleanup_test.

declare -A ENGINE_PID=()

# engines_stop: ends every engine the test started (its cleanup_test calls it).
engines_stop() {
    local e
    for e in "${!ENGINE_PID[@]}"; do kill -KILL "${ENGINE_PID[$e]}" 2>/dev/null; done
    ENGINE_PID=()
}

# start_engine NAME NG-PORT FIRST-MEDIA-PORT [NETNS]: a userspace
# rtpengine on $IP (or in namespace NETNS on its address $ENGINE_IP),
# media ports FIRST..FIRST+99, deleting a call's session at once.
start_engine() {
    local name=$1 port=$2 first=$3 ns=${4:-} addr=$IP
    local -a run=()
    [ -n "$ns" ] && run=(ip netns exec "$ns") && addr=$ENGINE_IP
    "${run[@]}" rtpengine -f -E -t -1 -i "$addr" -n "$addr:$port" -m "$first" \
        -M $((first + 99)) --delete-delay=0 --config-file=none >>"$DIR/$name.log" 2>&1 &
    ENGINE_PID[$name]=$!
    PIDS+=("$!")
    for _ in $(seq 50); do
        kill -0 "${ENGINE_PID[$name]}" 2>/dev/null || break
        [ "$("${run[@]}" python3 "$HERE/ng_tool.py" "$addr:$port" ping 2>/dev/null)" = pong ] &&
            return 0
        sleep 0.1
    done
    log "rtpengine $name did not start: $(tail -3 "$DIR/$name.log")"
    return 1
}

stop_engine() {
    kill -KILL "${ENGINE_PID[$1]}" 2>/dev/null
    wait "${ENGINE_PID[$1]}" 2>/dev/null
    unset "ENGINE_PID[$1]"
}

# engine_calls NG-PORT: how many calls the engine holds.
engine_calls() { python3 "$HERE/ng_tool.py" "$IP:$1" count; }

# offers NAME: how many offers engine NAME was asked for.
offers() { grep -c "Received command 'offer'" "$DIR/$1.log"; }

expect_engine_empty() { # NG-PORT
    local n
    n=$(engine_calls "$1") || return 1
    expect_count "calls the engine holds" "$n" 0
}
