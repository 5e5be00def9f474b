#!/usr/bin/env bash
# Runs the libFuzzer harnesses, each seeded with its corpus:
#   fuzz_datagram  the datagram path, seeded with tests/corpus/ and the
#                  inputs it once failed on, tests/fuzz/datagram/ (2/3 of the time)
#   fuzz_inputs    credentials, users file, config, flow tokens, store
#                  addresses, TCP/TLS stream bytes, admin input, Redis
#                  store values and URLs, seeded with tests/fuzz/inputs/ (1/3)
# SB_FUZZ_SECONDS (default 60) is the total. usage: tests/fuzz/run.sh BUILD_DIR
set -u
build=$1
here=$(dirname "$0")
total=${SB_FUZZ_SECONDS:-60}
status=0

# fuzz NAME SECONDS FLAGS SEEDS...: one harness, its summary, its failure.
fuzz() {
    local name=$1 seconds=$2 flags=$3
    shift 3
    local seeds=$build/$name-corpus
    mkdir -p "$seeds"
    cp "$@" "$seeds"/
    "$build/$name" -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 $flags "$seeds" \
        2>"$build/$name.log"
    local rc=$?
    echo "$name:"
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$build/$name.log"
    grep -E "cov:" "$build/$name.log" | tail -1
    if [ $rc -ne 0 ]; then
        tail -40 "$build/$name.log"
        # an edit the check rejected says so above the stack
        grep -m1 -A80 "differs from serializing" "$build/$name.log"
        status=$rc
    fi
}

fuzz fuzz_datagram $((total * 2 / 3)) "" "$here"/../corpus/*.sip "$here"/datagram/*
# the config parser prints what is wrong with each input: its stderr is closed
fuzz fuzz_inputs $((total - total * 2 / 3)) -close_fd_mask=2 "$here"/inputs/*
exit $status
