#!/usr/bin/env bash
# Load check of `esxi-iso serve` beside nginx (not a timed test), and the
# time and disk a network-install lab costs.
#
#   bash tests/bench/serve.sh [--clients N] [--runs N] [--size-mb N] [--hosts N] [--work DIR]
#
# Serving: each round runs, in a rotated order, N parallel `curl -o
# /dev/null` of one ISO-sized file from `esxi-iso serve`, the same from
# nginx (Debian's nginx-light, sendfile on, access log off, as many
# workers as CPUs) serving the same folder. Per contender: the wall time, and the CPU time the server process(es) used
# during the round (utime + stime from /proc, nginx's master and
# workers). Every figure is a median over the rounds; ratios are against
# nginx in the same run. The server's resident memory is read from /proc
# before the rounds (VmRSS) and after them (VmHWM).
#
# Network install: `build --inventory --netboot` of an N-host lab (default
# 100) from the 4 MiB fixture ISO, timed (median of the runs, the lab
# removed between runs), and the disk its folder takes (du).
#
# Loopback only: 127.0.0.1.
set -euo pipefail
export LC_ALL=C

usage() {
    sed -n '5,5p' "$0" | sed 's/^#  *//; s/^/usage: /' >&2
    exit 2
}
die() {
    echo "bench: error: $*" >&2
    exit 1
}
say() { echo "bench: $*" >&2; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CLIENTS=16
RUNS=5
SIZE_MB=670
HOSTS=100
WORK=""
while [[ $# -gt 0 ]]; do
    case $1 in
    --clients | --runs | --size-mb | --hosts)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
        case $1 in
        --clients) CLIENTS=$2 ;;
        --runs) RUNS=$2 ;;
        --size-mb) SIZE_MB=$2 ;;
        --hosts) HOSTS=$2 ;;
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
for tool in curl awk nginx du; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install curl mawk nginx-light coreutils)"
done
WORK=${WORK:-$TARGET/bench-serve}
mkdir -p "$WORK/lab"
WORK=$(cd "$WORK" && pwd)
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
NGINX_PID=""
cleanup() {
    kill -INT "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    [[ -n $NGINX_PID ]] && kill -QUIT "$NGINX_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
    grep -q '^serving' "$SERVER_OUT" 2>/dev/null && break
    sleep 0.1
done
URL=$(awk '/^serving/ { for (i = 1; i <= NF; i++) if ($i ~ /^http/) print $i }' "$SERVER_OUT")
[[ -n $URL ]] || die "the server did not start: $(cat "$WORK/serve.err")"
URL=${URL%/}/esx01.iso

# nginx on a free port, serving the same folder.
NGINX_PORT=$(awk -v p="${URL##*:}" 'BEGIN { srand(); print 20000 + int(rand() * 20000) }')
user=""
[[ $(id -u) -eq 0 ]] && user="user root;"
cat >"$WORK/nginx.conf" <<EOF
$user
daemon off;
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/lab;
    }
}
EOF
nginx -c "$WORK/nginx.conf" -p "$WORK" &
NGINX_PID=$!
NGINX_URL=http://127.0.0.1:$NGINX_PORT/esx01.iso
for _ in $(seq 100); do
    curl -sf -o /dev/null -r 0-0 "$NGINX_URL" && break
    sleep 0.1
done
curl -sf -o /dev/null -r 0-0 "$NGINX_URL" || die "nginx did not start: $(cat "$WORK/nginx.err")"

rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$PID/status"; }
IDLE_KB=$(rss VmRSS)
TICK=$(getconf CLK_TCK)
# CPU seconds (user + system) of a process and its children processes
# (nginx's workers), from /proc.
cpu() {
    local pids="$1" p total=0
    for p in $(awk -v pp="$1" '$4 == pp { print $1 }' /proc/[0-9]*/stat 2>/dev/null); do pids="$pids $p"; done
    for p in $pids; do
        [[ -r /proc/$p/stat ]] || continue
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$total"
}

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
declare -A T C
for r in $(seq "$RUNS"); do
    order=(serve nginx)
    ((r % 2)) || order=(nginx serve)
    for what in "${order[@]}"; do
        case $what in
        serve)
            c0=$(cpu "$PID")
            t=$(parallel curl -sS --fail -o /dev/null "$URL")
            c=$(($(cpu "$PID") - c0))
            ;;
        nginx)
            c0=$(cpu "$NGINX_PID")
            t=$(parallel curl -sS --fail -o /dev/null "$NGINX_URL")
            c=$(($(cpu "$NGINX_PID") - c0))
            ;;
        esac
        T[$what]+="$t "
        C[$what]+="$(awk -v c="$c" -v t="$TICK" 'BEGIN { printf "%.2f", c / t }') "
        say "round $r: $what $t s wall, $(awk -v c="$c" -v t="$TICK" 'BEGIN { printf "%.2f", c / t }') s server CPU"
    done
done
PEAK_KB=$(rss VmHWM)

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mb=$((SIZE_MB * CLIENTS))
nw=$(echo "${T[nginx]}" | median)
nc=$(echo "${C[nginx]}" | median)
row() {
    local w c
    w=$(echo "${T[$1]}" | median)
    c=$(echo "${C[$1]}" | median)
    awk -v n="$2" -v w="$w" -v c="$c" -v mb="$mb" -v nw="$nw" -v nc="$nc" -v cpu="$3" \
        'BEGIN { printf "| %s | %.2f s | %.0f MiB/s | %.2fx | %s |\n", n, w, mb / w, w / nw,
                 cpu ? sprintf("%.2f s (%.2fx)", c, nc > 0 ? c / nc : 0) : "-" }'
}

# The network-install lab: N hosts from the fixture ISO.
FX=$WORK/fixtures
[[ -f $FX/esxi-plain.iso ]] || bash "$ROOT/tests/fixtures/mkfixture.sh" "$FX" 2>/dev/null
NB=$WORK/netboot
mkdir -p "$NB"
{
    printf "[lab]\nname = 'bench'\n[defaults]\ntemplate = 'nested-lab'\ndomain = 'lab.local'\n"
    printf "gateway = '10.0.0.1'\nnameservers = ['10.0.0.2']\n"
    printf "root_password = '\$6\$esxiisot\$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.'\n"
    for i in $(seq "$HOSTS"); do
        printf "[[host]]\nhostname = 'esx%03d'\nip = '10.0.%d.%d/16'\n" "$i" $((i / 200)) $((i % 200 + 10))
    done
} >"$NB/lab.toml"
NBT=""
for r in $(seq "$RUNS"); do
    rm -rf "$NB/lab"
    s=$(now)
    (cd "$NB" && "$BIN" build "$FX/esxi-plain.iso" --inventory lab.toml --out-dir lab \
        --netboot http://10.0.0.5:8080 -q)
    t=$(awk -v a="$s" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }')
    NBT+="$t "
    say "round $r: netboot lab of $HOSTS hosts $t s"
done
NB_KIB=$(du -sk "$NB/lab" | cut -f1)
NB_BYTES=$(du -sb "$NB/lab" | cut -f1)

{
    echo "| ${CLIENTS} x ${SIZE_MB} MiB over loopback, median of ${RUNS} | wall | aggregate | vs nginx | server CPU (vs nginx) |"
    echo "|---|---|---|---|---|"
    row nginx "nginx (sendfile on)" 1
    row serve "\`esxi-iso serve\`" 1
    echo
    echo "Server memory: ${IDLE_KB} KiB resident idle, ${PEAK_KB} KiB peak (VmHWM) with ${CLIENTS} clients."
    echo
    echo "| network install, ${HOSTS} hosts, median of ${RUNS} | time | disk (du) | files' bytes |"
    echo "|---|---|---|---|"
    echo "| \`build --inventory --netboot\` | $(echo "$NBT" | median) s | ${NB_KIB} KiB | ${NB_BYTES} |"
} | tee "$WORK/results.md"
