#!/usr/bin/env bash
# Load check of `esxi-iso serve` (not a timed test): N parallel curl
# downloads of one ISO against N parallel `cp` of the same bytes, and the
# server's memory.
#
#   bash tests/bench/serve.sh [--clients N] [--runs N] [--size-mb N] [--work DIR]
#
# Each round runs, in a rotated order: N x `cp ISO out-i`, N x `curl -o
# out-i URL` (both write files, so both pay for the page cache and disk),
# and N x `curl -o /dev/null URL` (the server alone). Every figure is a
# median over the rounds; the ratio is against `cp` in the same run. The
# server's peak resident memory (VmHWM) is read from /proc after all
# rounds, and its RSS while idle before them. Loopback only: 127.0.0.1.
set -euo pipefail
export LC_ALL=C

usage() {
    sed -n '5,6p' "$0" | sed 's/^#  *//; s/^/usage: /' >&2
    exit 2
}
die() {
    echo "bench: error: $*" >&2
    exit 1
}
say() { echo "bench: $*" >&2; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CLIENTS=8
RUNS=3
SIZE_MB=600
WORK=""
while [[ $# -gt 0 ]]; do
    case $1 in
    --clients | --runs | --size-mb)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
        case $1 in
        --clients) CLIENTS=$2 ;;
        --runs) RUNS=$2 ;;
        --size-mb) SIZE_MB=$2 ;;
        esac
        shift 2
        ;;
    --work)
        [[ $# -ge 2 ]] || usage
        WORK=$2
        shift 2
        ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
for tool in curl cp awk; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install curl coreutils mawk)"
done
WORK=${WORK:-$TARGET/bench-serve}
mkdir -p "$WORK/lab"
BIN=$TARGET/release/esxi-iso
say "building the release binary"
(cd "$ROOT" && cargo build --release --locked -q)

ISO=$WORK/lab/esx01.iso
if [[ ! -f $ISO || $(stat -c %s "$ISO") -ne $((SIZE_MB << 20)) ]]; then
    say "writing a ${SIZE_MB} MiB ISO-sized file"
    head -c "$((SIZE_MB << 20))" /dev/urandom >"$ISO"
fi
cat "$ISO" >/dev/null

SERVER_OUT=$WORK/serve.out
"$BIN" serve "$WORK/lab" --listen 127.0.0.1:0 -q >"$SERVER_OUT" 2>"$WORK/serve.err" &
PID=$!
cleanup() {
    kill -INT "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    rm -f "$WORK"/out-*
}
trap cleanup EXIT
for _ in $(seq 100); do
    grep -q '^serving' "$SERVER_OUT" 2>/dev/null && break
    sleep 0.1
done
URL=$(awk '/^serving/ { for (i = 1; i <= NF; i++) if ($i ~ /^http/) print $i }' "$SERVER_OUT")
[[ -n $URL ]] || die "the server did not start: $(cat "$WORK/serve.err")"
URL=${URL%/}/esx01.iso
rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$PID/status"; }
IDLE_KB=$(rss VmRSS)

now() { date +%s.%N; }
# Runs "$@" CLIENTS times in parallel (the placeholder @I is the index);
# prints the wall time.
parallel() {
    local start pids=() i
    start=$(now)
    for i in $(seq "$CLIENTS"); do
        "${@//@I/$i}" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || die "a client failed: $*"; done
    awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'
}
declare -A T
for r in $(seq "$RUNS"); do
    order=(cp curl null)
    for ((k = 0; k < (r - 1) % 3; k++)); do order=("${order[@]:1}" "${order[0]}"); done
    for what in "${order[@]}"; do
        rm -f "$WORK"/out-*
        case $what in
        cp) t=$(parallel cp "$ISO" "$WORK/out-@I") ;;
        curl) t=$(parallel curl -sS --fail -o "$WORK/out-@I" "$URL") ;;
        null) t=$(parallel curl -sS --fail -o /dev/null "$URL") ;;
        esac
        T[$what]+="$t "
        say "round $r: $what $t s"
    done
done
rm -f "$WORK"/out-*
PEAK_KB=$(rss VmHWM)

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mb=$((SIZE_MB * CLIENTS))
row() {
    local m
    m=$(echo "${T[$1]}" | median)
    awk -v n="$2" -v m="$m" -v mb="$mb" -v cp="$(echo "${T[cp]}" | median)" \
        'BEGIN { printf "| %s | %.2f s | %.0f MiB/s | %.2fx |\n", n, m, mb / m, m / cp }'
}
{
    echo "| ${CLIENTS} x ${SIZE_MB} MiB, median of ${RUNS} | wall | aggregate | vs cp |"
    echo "|---|---|---|---|"
    row cp "\`cp\` to files"
    row curl "\`curl\` from \`esxi-iso serve\` to files"
    row null "\`curl\` from \`esxi-iso serve\` to /dev/null"
    echo
    echo "Server memory: ${IDLE_KB} KiB resident idle, ${PEAK_KB} KiB peak (VmHWM) with ${CLIENTS} clients."
} | tee "$WORK/results.md"
