# Network namespaces for the tests that need more than loopback (sourced,
# not run, after lib.sh): each namespace a test adds is deleted after it,
# with whatever still runs inside. Needs root. The sourcing script sets
# NS, a prefix of its own (e.g. sbt$$), before adding any.

[ "$(id -u)" -eq 0 ] || { echo "$(basename "$0"): need root for ip netns"; exit 1; }

declare -a NAMESPACES=()

# ns_add NAME: a namespace with its loopback up, deleted after the test.
# No IPv6 in it (the tests use none): a link-local address that finishes
# its duplicate detection a second or two after the link came up is an
# "IP addresses changed" event, and Chromium cancels every request in
# flight then (ERR_NETWORK_CHANGED; the page's modules never ran).
ns_add() {
    ip netns add "$1" || return 1
    NAMESPACES+=("$1")
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1
    ip -n "$1" link set lo up
}

# netns_cleanup (kill_started's cleanup_test, unless the sourcing script
# defined its own, which calls this): whatever still runs in our
# namespaces is ended, then the namespaces go.
netns_cleanup() {
    local ns pid
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    NAMESPACES=()
}
declare -F cleanup_test >/dev/null || cleanup_test() { netns_cleanup; }
