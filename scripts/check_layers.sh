#!/usr/bin/env bash
# The floors of src/, top to bottom: main (src/*.c, settings), admin, store,
# io, sip, core. A file may include the headers of its own floor and of
# the floors below it, never one above (HAProxy's rule for its ground
# floor of general tools). A header belongs to the floor of the source
# file of the same name (include/switchboard/X.h <-> src/FLOOR/X.c); one
# without a source (types.h...) is core's. Checks every source and
# header; prints each break and exits 1 if there is one.
#
# usage: scripts/check_layers.sh [ROOT]   (default: the repository)
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2

declare -A rank=([core]=0 [sip]=1 [io]=2 [store]=3 [admin]=4 [main]=5)

# floor_of_source PATH: the floor of src/FLOOR/x.c, "main" for src/x.c
floor_of_source() {
    local dir=${1%/*}
    [ "$dir" = src ] && { echo main; return; }
    echo "${dir#src/}"
}

declare -A floor
for c in $(find src -name '*.c' | sort); do
    name=${c##*/}
    floor[${name%.c}]=$(floor_of_source "$c")
done

status=0
check() { # FILE FLOOR
    local file=$1 own=$2 header inc
    while IFS= read -r inc; do
        header=${inc##*/}
        header=${header%.h}
        local to=${floor[$header]:-core}
        [ "${rank[$to]:-0}" -le "${rank[$own]:-0}" ] && continue
        echo "layers: $file ($own) includes $header.h ($to), a floor above it"
        status=1
    done < <(sed -n 's/^#include "\(switchboard\/[a-z0-9_]*\.h\)".*/\1/p' "$file")
}

for c in $(find src -name '*.c' | sort); do
    check "$c" "$(floor_of_source "$c")"
done
for h in include/switchboard/*.h; do
    name=${h##*/}
    check "$h" "${floor[${name%.h}]:-core}"
done
[ $status -eq 0 ] && echo "layers: every include goes down or across"
exit $status
