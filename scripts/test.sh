#!/usr/bin/env bash
# Runs the whole test suite, installing what is missing and building first,
# in two lanes at once:
#   1. (the plain lane) unit tests (Criterion), protocol tests (SIPp over
#      UDP on 127.0.0.1) with 1 and with 4 workers, TCP and TLS (SIPp,
#      tests/stream_ua.py, stream torture), calls between real phones
#      (baresip and Linphone's linphonec), and tests on network namespaces
#      (a real NAT, addresses that come and go), the admin plane (HTTP API,
#      promtool, switchboard-ctl, headless Chromium on the live page, the
#      systemd unit), office features (extensions, groups, forwarding, DND),
#      busy lamps (RFC 4235 subscriptions while SIPp calls ring and end),
#      two switchboards sharing one location service on a redis-server of
#      the test's own, an attacker on the LAN (relay, reflection,
#      sipvicious), media relayed by rtpengines of the test's own (SIPp, and
#      real phones in two homes behind NAT), trunks to a Kamailio carrier,
#      SIP over WebSocket and the softphone page in headless Chromium
#      (browser phones), on a RelWithDebInfo build;
#   2. (the sanitizer lane, in a network namespace of its own) the same
#      unit, protocol, store, TCP/TLS, WebSocket, admin, office, presence,
#      Redis, media relay and trunk tests (all but the 10 000 users and the
#      phones in namespaces) on an AddressSanitizer + UBSan build, most of
#      them on a ThreadSanitizer build, then a minute of libFuzzer over the
#      datagram path (ASan+UBSan).
# Test output (logs, SIPp traces) lands in build*/test-output/; the
# sanitizer lane's own output in build-lanes/sanitizer.log, printed at the
# end.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

# Every message the proxy relays by editing its bytes (sip_edit.h) is also
# serialized the old way and compared, in every stage; a difference ends
# the proxy, and its test fails. (bench/ runs without it.)
export SB_EDIT_VERIFY=1

passed=0
failed=0
# stage NAME COMMAND...: runs one stage bounded in time and counts it;
# fails as it did.
stage() {
    local name=$1 start=$SECONDS
    shift
    echo "=== $name"
    if timeout 900 "$@"; then
        passed=$((passed + 1))
        echo "=== $name: $((SECONDS - start)) s"
    else
        echo "=== $name FAILED"
        failed=$((failed + 1))
        return 1
    fi
}

# built DIR CMAKE-ARGS...: builds into DIR, or counts a failed stage.
built() {
    build "$@" && return 0
    echo "=== build of $1 FAILED"
    failed=$((failed + 1))
    return 1
}

# the media relay's SIPp tests: every ng request, hold, answer and delete
MEDIA_SUBSET="test_always_relays_both_ways test_reinvite_hold_resume_keeps_relay
    test_late_offer_answered_on_ack test_failures_leave_no_session
    test_fork_relays_the_answering_device test_fork_drops_the_losers_early_media
    test_engine_killed_calls_continue_then_resume
    test_refuse_without_engine test_two_engines_by_weight
    test_ring_group_relays_the_member_who_answered test_restart_keeps_the_calls_engine
    test_browser_calls_a_phone_bridged test_phone_calls_a_browser_bridged"
# the WebSocket paths under the sanitizers: framing, handshakes, both
# transports, a browser's binding and its flow
WS_SUBSET="test_torture_framing test_torture_handshake test_udp_caller_ws_callee_callee_hangs_up
    test_ws_caller_wss_callee test_ws_caller_cancels test_binding_goes_with_the_socket
    test_directory_behind_digest"
REDIS_SUBSET="test_calls_between_nodes test_concurrent_updates_keep_both test_node_restart_reloads
    test_redis_killed_mid_run test_tcp_phone_reached_through_its_node
    test_presence_is_shared_by_the_nodes test_presence_survives_a_redis_restart"

# plain_lane: the RelWithDebInfo build and every stage on it.
plain_lane() {
    built build -DCMAKE_BUILD_TYPE=RelWithDebInfo || return 1
    stage "include floors (scripts/check_layers.sh)" scripts/check_layers.sh
    stage "unit tests" ctest --test-dir build --output-on-failure --timeout 120
    stage "protocol tests, 1 worker" tests/protocol_tests.sh build/switchboard build/test-output/workers1 1
    stage "protocol tests, 4 workers" tests/protocol_tests.sh build/switchboard build/test-output/workers4 4
    stage "real clients (baresip, linphonec)" tests/clients_tests.sh build/switchboard build/test-output/clients
    stage "registration store, 2 workers" tests/store_tests.sh build/switchboard build/test-output/store 2
    stage "TCP and TLS, 2 workers" tests/stream_tests.sh build/switchboard build/test-output/stream 2
    stage "WebSocket (browsers' SIP), 2 workers" tests/ws_tests.sh build/switchboard build/test-output/ws 2
    stage "browser phones (Chromium, the page, rtpengine)" \
        tests/browser_tests.sh build/switchboard build/test-output/browser
    stage "network namespaces (NAT, addresses)" tests/netns_tests.sh build/switchboard build/test-output/netns
    stage "hostile network (relay, reflection), 2 workers" \
        tests/hostile_tests.sh build/switchboard build/test-output/hostile
    stage "media relay (rtpengine, phones behind NAT), 2 workers" \
        tests/media_tests.sh build/switchboard build/test-output/media
    stage "trunks (a Kamailio carrier), 2 workers" \
        tests/trunk_tests.sh build/switchboard build/test-output/trunk
    stage "admin plane, 2 workers" tests/admin_tests.sh build/switchboard build/test-output/admin 2
    stage "office features, 2 workers" tests/office_tests.sh build/switchboard build/test-output/office 2
    stage "presence (busy lamps, RFC 4235), 2 workers" \
        tests/presence_tests.sh build/switchboard build/test-output/presence 2
    stage "shared store on Redis, 2 workers" tests/redis_tests.sh build/switchboard build/test-output/redis 2
}

# sanitizer_lane: the ASan+UBSan and TSan builds with their stages, then
# the fuzzer.
sanitizer_lane() {
    # Sanitizers: every bad memory access or undefined behaviour aborts the run.
    export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    built build-asan -DCMAKE_BUILD_TYPE=Debug -DSB_SANITIZE=ON || return 1
    stage "unit tests (ASan+UBSan)" ctest --test-dir build-asan --output-on-failure --timeout 120
    # one worker: it reads its sockets itself (the hand-offs are in the stages
    # with 2 workers below and in TSan's)
    SB_TEST_RSS_LIMIT_KIB=1048576 stage "protocol tests (ASan+UBSan), 1 worker" \
        tests/protocol_tests.sh build-asan/switchboard build-asan/test-output/workers1 1
    stage "registration store (ASan+UBSan), 2 workers" \
        tests/store_tests.sh build-asan/switchboard build-asan/test-output/store 2
    # ASan's quarantine (256 MiB) keeps freed buffers resident
    SB_TEST_RSS_LIMIT_KIB=1048576 SB_TEST_GROWTH_LIMIT_KIB=393216 stage "TCP and TLS (ASan+UBSan), 2 workers" \
        tests/stream_tests.sh build-asan/switchboard build-asan/test-output/stream 2
    stage "WebSocket (ASan+UBSan), 2 workers" \
        tests/ws_tests.sh build-asan/switchboard build-asan/test-output/ws 2 $WS_SUBSET
    # the page served from memory, digest over wss:, DTLS through the engine
    stage "browser phones (ASan+UBSan)" tests/browser_tests.sh build-asan/switchboard \
        build-asan/test-output/browser test_page_signs_in_over_wss test_page_calls_a_phone \
        test_closing_the_tab_removes_the_binding
    # ASan's quarantine keeps the flood's freed 60 KiB messages resident
    SB_TEST_GROWTH_LIMIT_KIB=524288 stage "hostile network (ASan+UBSan), 2 workers" \
        tests/hostile_tests.sh build-asan/switchboard build-asan/test-output/hostile
    stage "admin plane (ASan+UBSan), 2 workers" \
        tests/admin_tests.sh build-asan/switchboard build-asan/test-output/admin 2
    stage "office features (ASan+UBSan), 2 workers" \
        tests/office_tests.sh build-asan/switchboard build-asan/test-output/office 2
    stage "presence (ASan+UBSan), 2 workers" \
        tests/presence_tests.sh build-asan/switchboard build-asan/test-output/presence 2
    # the Redis backend's paths (merge, reconnect, reload), without the 10 000
    stage "shared store on Redis (ASan+UBSan), 2 workers" \
        tests/redis_tests.sh build-asan/switchboard build-asan/test-output/redis 2 $REDIS_SUBSET
    stage "media relay (ASan+UBSan), 2 workers" \
        tests/media_tests.sh build-asan/switchboard build-asan/test-output/media $MEDIA_SUBSET
    stage "trunks (ASan+UBSan), 2 workers" \
        tests/trunk_tests.sh build-asan/switchboard build-asan/test-output/trunk

    # ThreadSanitizer: the protocol tests with 4 workers, listeners and workers
    # and the journal writer all running at once. Any report makes the proxy exit
    # non-zero, which fails its test. tests/tsan.supp names what lies inside
    # liburcu (not built for TSan); our hand-offs through it are annotated.
    built build-tsan -DCMAKE_BUILD_TYPE=Debug -DSB_TSAN=ON -DSB_TESTS=OFF || return 1
    export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:second_deadlock_stack=1"
    SB_TEST_RSS_LIMIT_KIB=2097152 stage "protocol tests (TSan), 4 workers" \
        tests/protocol_tests.sh build-tsan/switchboard build-tsan/test-output/workers4 4
    stage "registration store (TSan), 4 workers" \
        tests/store_tests.sh build-tsan/switchboard build-tsan/test-output/store 4
    # TSan's shadow (4 bytes per byte touched) and its allocator's caches stay
    # resident after the never-reading peer's 10 MB went through
    SB_TEST_GROWTH_LIMIT_KIB=262144 stage "TCP and TLS (TSan), 4 workers" \
        tests/stream_tests.sh build-tsan/switchboard build-tsan/test-output/stream 4
    stage "WebSocket (TSan), 4 workers" \
        tests/ws_tests.sh build-tsan/switchboard build-tsan/test-output/ws 4 $WS_SUBSET
    stage "admin plane (TSan), 4 workers" \
        tests/admin_tests.sh build-tsan/switchboard build-tsan/test-output/admin 4
    stage "office features (TSan), 4 workers" \
        tests/office_tests.sh build-tsan/switchboard build-tsan/test-output/office 4
    stage "presence (TSan), 4 workers" \
        tests/presence_tests.sh build-tsan/switchboard build-tsan/test-output/presence 4
    stage "shared store on Redis (TSan), 4 workers" \
        tests/redis_tests.sh build-tsan/switchboard build-tsan/test-output/redis 4 $REDIS_SUBSET
    stage "media relay (TSan), 2 workers" \
        tests/media_tests.sh build-tsan/switchboard build-tsan/test-output/media $MEDIA_SUBSET
    stage "trunks (TSan), 2 workers" \
        tests/trunk_tests.sh build-tsan/switchboard build-tsan/test-output/trunk
    unset TSAN_OPTIONS

    # Fuzzing: a minute of libFuzzer over the datagram path (ingress, proxy core,
    # transactions, registrar), seeded with the torture corpus, under ASan+UBSan.
    CC=clang built build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSB_SANITIZE=ON -DSB_FUZZ=ON -DSB_TESTS=OFF &&
        stage "fuzzing (libFuzzer, ASan+UBSan)" tests/fuzz/run.sh build-fuzz
}

# --lane NAME COUNTS (internal): runs one lane and writes "PASSED FAILED"
# to COUNTS.
if [ "${1:-}" = --lane ]; then
    "$2_lane"
    echo "$passed $failed" >"$3"
    exit 0
fi

ensure_packages $SB_BUILD_PACKAGES libcriterion-dev sip-tester python3 tshark clang baresip-core \
    linphone-cli sox nftables iproute2 openssl curl prometheus chromium systemd redis-server \
    sipvicious rtpengine-daemon kamailio dnsmasq-base gdb ||
    exit 1
phone_deps || exit 1

# The two lanes run at once: most of a stage's time is spent waiting on
# phones, timers and peers, not on the CPU. The sanitizer lane runs in a
# network namespace of its own, so both lanes' tests may listen on the same
# 127.0.0.1 ports (each test's namespaces are named after its PID); its
# output is printed whole when it is done.
LANES=build-lanes
LANE_NS=sblane$$
mkdir -p "$LANES"
rm -f "$LANES"/*.counts
lane_pid=
end_lanes() {
    [ -n "$lane_pid" ] && kill -TERM -- "-$lane_pid" 2>/dev/null
    ip netns del "$LANE_NS" 2>/dev/null
}
trap 'end_lanes; exit 1' INT TERM
# A namespace with only a loopback looks offline to Chromium, which then
# offers WebRTC no candidates at all: the lane gets a veth pair of its own
# with a default route into it (both ends inside; nothing leaves).
lane_ns() {
    ip netns add "$LANE_NS" && ip -n "$LANE_NS" link set lo up &&
        ip -n "$LANE_NS" link add lane0 type veth peer name lane1 &&
        ip -n "$LANE_NS" addr add 10.253.0.1/30 dev lane0 &&
        ip -n "$LANE_NS" link set lane0 up && ip -n "$LANE_NS" link set lane1 up &&
        ip -n "$LANE_NS" route add default via 10.253.0.2 dev lane0
}
lane_ns || { end_lanes; exit 1; }
setsid ip netns exec "$LANE_NS" scripts/test.sh --lane sanitizer "$LANES/sanitizer.counts" \
    >"$LANES/sanitizer.log" 2>&1 &
lane_pid=$!
echo "the sanitizer lane runs beside this one (network namespace $LANE_NS): $LANES/sanitizer.log"
plain_lane
wait "$lane_pid"
lane_pid=
ip netns del "$LANE_NS"
echo "=== the sanitizer lane ($LANES/sanitizer.log)"
cat "$LANES/sanitizer.log"
if [ -s "$LANES/sanitizer.counts" ]; then
    read -r p f <"$LANES/sanitizer.counts"
    passed=$((passed + p))
    failed=$((failed + f))
else
    echo "=== the sanitizer lane ended early"
    failed=$((failed + 1))
fi

echo "test stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
