#!/usr/bin/env bash
# Benchmark `esxi-iso pack` against genisoimage with VMware's remaster flags,
# in one run, on an ESXi-shaped tree of about 600 MB.
#
# Usage: tests/bench/pack.sh [--work DIR] [--fixture DIR] [--runs N]
#
#   --work DIR     scratch directory [default: $CARGO_TARGET_DIR or target, /bench-pack]
#   --fixture DIR  a mkfixture.sh output holding esxi-plain.iso; without it
#                  tests/fixtures/mkfixture.sh DIR --size-mb 600 makes one
#   --runs N       timed runs per command, median reported [default: 3]
#
# The tree is `esxi-iso extract` of the plain fixture. Each timed run writes
# a fresh output and ends with `sync` inside the timed span, so both tools
# pay for getting the bytes to disk (esxi-iso also fsyncs and hashes). One
# untimed pass first warms the page cache. genisoimage's -boot-info-table
# patches ISOLINUX.BIN in the tree it reads, so it reads its own copy.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/bench-pack
FIXTURE=
RUNS=3
while [[ $# -gt 0 ]]; do
    case $1 in
    --work) WORK=$2; shift 2 ;;
    --fixture) FIXTURE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: $0 [--work DIR] [--fixture DIR] [--runs N]" >&2; exit 2 ;;
    esac
done
[[ $RUNS -ge 1 ]] || { echo "--runs must be at least 1" >&2; exit 2; }
command -v genisoimage >/dev/null || { echo "genisoimage not found (apt-get install genisoimage)" >&2; exit 1; }

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
BIN=$TARGET/release/esxi-iso

if [[ -z $FIXTURE ]]; then
    FIXTURE=$WORK/fixture
    if [[ ! -f $FIXTURE/esxi-plain.iso ]]; then
        echo "bench: making a 600 MB fixture in $FIXTURE" >&2
        bash "$ROOT/tests/fixtures/mkfixture.sh" "$FIXTURE" --size-mb 600
    fi
fi
SRC=$FIXTURE/esxi-plain.iso
[[ -f $SRC ]] || { echo "no $SRC" >&2; exit 1; }

TREE=$WORK/tree
GTREE=$WORK/tree-genisoimage
rm -rf "$TREE" "$GTREE"
"$BIN" extract "$SRC" "$TREE" --quiet
cp -a "$TREE" "$GTREE"
rm -f "$GTREE/.esxi-iso.toml" "$GTREE/BOOT.CAT"
OUT=$WORK/out.iso

now() { date +%s.%N; }

# time_cmd LABEL CMD...: prints the median of $RUNS runs (seconds).
declare -A MEDIAN
time_cmd() {
    local label=$1 times=() i t0 t1
    shift
    rm -f "$OUT" "$OUT.sha256"
    "$@" >/dev/null 2>&1 # warm-up, untimed
    for ((i = 0; i < RUNS; i++)); do
        rm -f "$OUT" "$OUT.sha256"
        sync
        t0=$(now)
        "$@" >/dev/null
        sync
        t1=$(now)
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')")
    done
    MEDIAN[$label]=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "bench: $label: ${times[*]} -> median ${MEDIAN[$label]} s" >&2
}

export SOURCE_DATE_EPOCH=1700000000
time_cmd "esxi-iso pack" "$BIN" pack "$TREE" -o "$OUT" --quiet
SIZE=$(stat -c %s "$OUT")
time_cmd "esxi-iso pack -R -J" "$BIN" pack "$TREE" -o "$OUT" --quiet --rock-ridge --joliet
time_cmd "genisoimage" genisoimage -quiet -relaxed-filenames -J -R -o "$OUT" \
    -b ISOLINUX.BIN -c BOOT.CAT -no-emul-boot -boot-load-size 4 -boot-info-table \
    -eltorito-alt-boot -e EFIBOOT.IMG -no-emul-boot "$GTREE"
GSIZE=$(stat -c %s "$OUT")
rm -f "$OUT" "$OUT.sha256"

G=${MEDIAN[genisoimage]}
printf '\nimage: %s MB (esxi-iso), %s MB (genisoimage); median of %d runs, warm cache, sync included\n' \
    $((SIZE / 1000000)) $((GSIZE / 1000000)) "$RUNS"
printf '%-22s %10s %10s %16s\n' "command" "seconds" "MB/s" "vs genisoimage"
for label in "esxi-iso pack" "esxi-iso pack -R -J" "genisoimage"; do
    m=${MEDIAN[$label]}
    awk -v l="$label" -v m="$m" -v g="$G" -v s="$SIZE" \
        'BEGIN {printf "%-22s %10.2f %10.0f %15.2fx\n", l, m, s / 1000000 / m, m / g}'
done
