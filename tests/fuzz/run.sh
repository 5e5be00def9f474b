#!/usr/bin/env bash
# Runs the libFuzzer harness for SB_FUZZ_SECONDS (default 60), seeded with the
# torture corpus. usage: tests/fuzz/run.sh BUILD_DIR
set -u
build=$1
seeds=$build/fuzz-corpus
mkdir -p "$seeds"
cp "$(dirname "$0")"/../corpus/*.sip "$seeds"/
"$build"/fuzz_datagram -max_total_time="${SB_FUZZ_SECONDS:-60}" -max_len=8192 \
    -print_final_stats=1 "$seeds" 2>"$build"/fuzz.log
rc=$?
grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$build"/fuzz.log
tail -1 "$build"/fuzz.log | grep -q "DONE\|Done" || grep -E "cov:" "$build"/fuzz.log | tail -1
[ $rc -eq 0 ] || tail -40 "$build"/fuzz.log
exit $rc
