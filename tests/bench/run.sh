#!/usr/bin/env bash
# Benchmark of esxi-iso against cp and xorriso, on an ESXi-shaped fixture.
#
#   bash tests/bench/run.sh [--runs N] [--size-mb N] [--fixture DIR|ISO]
#                           [--work DIR] [--skip-lab]
#
# Every wall time is a median over N runs, and every figure that is compared
# with a target is a ratio against `cp` measured in the same run, with the
# contenders interleaved (round i runs cp, esxi-iso, xorriso in a rotated
# order). The machine is shared and noisy: absolute seconds mean little,
# ratios taken side by side do. Each output is made durable (`sync FILE`)
# inside the timed region, so every contender pays for the flush. See
# README.md next to this script.
set -euo pipefail
export LC_ALL=C

usage() {
    sed -n '3,4p' "$0" | sed 's/^#  *//; s/^/usage: /' >&2
    exit 2
}
die() {
    echo "bench: error: $*" >&2
    exit 1
}
say() { echo "bench: $*" >&2; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RUNS=5
SIZE_MB=600
FIXTURE=""
WORK=""
SKIP_LAB=0
while [[ $# -gt 0 ]]; do
    case $1 in
    --runs)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
        RUNS=$2
        shift 2
        ;;
    --size-mb)
        [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || usage
        SIZE_MB=$2
        shift 2
        ;;
    --fixture)
        [[ $# -ge 2 ]] || usage
        FIXTURE=$2
        shift 2
        ;;
    --work)
        [[ $# -ge 2 ]] || usage
        WORK=$2
        shift 2
        ;;
    --skip-lab)
        SKIP_LAB=1
        shift
        ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
INSPECT_RUNS=$((RUNS * 4 > 20 ? RUNS * 4 : 20))
LAB_HOSTS=8

# ---------------------------------------------------------------- tools
need_tool() { # tool debian-package
    command -v "$1" >/dev/null 2>&1 || die "$1 not found (apt-get install $2)"
}
need_tool cargo "cargo (or install rustup)"
need_tool xorriso xorriso
need_tool awk mawk
for t in cp sync stat rm cat sort date nproc; do need_tool "$t" coreutils; done
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"
# EPOCHREALTIME gives microseconds without forking a clock process.
[[ -n ${EPOCHREALTIME:-} ]] || die "bash 5 or later is needed (apt-get install bash)"

# ---------------------------------------------------------------- setup
say "building the release binary"
(cd "$ROOT" && cargo build --release --locked --quiet)
BIN=$TARGET/release/esxi-iso
[[ -x $BIN ]] || die "$BIN not found after cargo build"

WORK=${WORK:-$TARGET/bench}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
RESULTS=$TARGET/bench/results.md
mkdir -p "$(dirname "$RESULTS")"

if [[ -n $FIXTURE ]]; then
    if [[ -d $FIXTURE ]]; then
        SRC=$FIXTURE/esxi-plain.iso
    else
        SRC=$FIXTURE
    fi
    [[ -f $SRC ]] || die "no fixture ISO at $SRC (make one with tests/fixtures/mkfixture.sh DIR --size-mb $SIZE_MB)"
    say "reusing $SRC"
else
    say "generating the ${SIZE_MB} MB fixture in $WORK/fixture (reuse it next time with --fixture $WORK/fixture)"
    rm -rf "$WORK/fixture"
    bash "$ROOT/tests/fixtures/mkfixture.sh" "$WORK/fixture" --size-mb "$SIZE_MB" >/dev/null
    SRC=$WORK/fixture/esxi-plain.iso
fi
SRC=$(cd "$(dirname "$SRC")" && pwd)/$(basename "$SRC")
SRC_BYTES=$(stat -c %s "$SRC")

OUT=$WORK/out
LAB_OUT=$WORK/lab-out
CP_OUT=$WORK/lab-cp
rm -rf "$OUT" "$LAB_OUT" "$CP_OUT"
mkdir -p "$OUT" "$LAB_OUT" "$CP_OUT"
# A shared, noisy machine: never leave 5 GB of outputs behind.
trap 'rm -rf "$OUT" "$LAB_OUT" "$CP_OUT"' EXIT

export ESXI_ISO_ROOT_PASSWORD='Bench-Pass1!'
KS=$WORK/ks.cfg
cat >"$KS" <<'KS'
vmaccepteula
install --firstdisk --overwritevmfs
rootpw Bench-Pass1!
network --bootproto=dhcp
reboot
KS

LAB=$WORK/lab.toml
{
    cat <<'TOML'
[defaults]
template = "nested-lab"
domain = "lab.local"
gateway = "10.0.0.1"
nameservers = ["10.0.0.2", "10.0.0.3"]
TOML
    for i in $(seq 1 $LAB_HOSTS); do
        printf '\n[[host]]\nhostname = "esx%02d"\nip = "10.0.0.%d/24"\n' "$i" $((10 + i))
    done
} >"$LAB"

say "warming the page cache"
cat "$SRC" >/dev/null

# ---------------------------------------------------------------- contenders
# Each one writes a new file (its output is removed beforehand, untimed) and
# ends with `sync FILE`, an fsync of that file only: `sync -f` would flush
# the whole filesystem, other people's compiles included.
run_cp() { cp "$SRC" "$OUT/cp.iso" && sync "$OUT/cp.iso"; }
run_build() {
    # The build fsyncs its output itself; the extra sync costs it ~nothing
    # and keeps the rule the same for everyone.
    "$BIN" build "$SRC" -o "$OUT/build.iso" --force --quiet && sync "$OUT/build.iso"
}
run_xorriso() {
    xorriso -indev "$SRC" -outdev "$OUT/xorriso.iso" -map "$KS" /KS.CFG \
        -boot_image any replay >/dev/null 2>&1 && sync "$OUT/xorriso.iso"
}
run_lab_cp() {
    local i
    for i in $(seq 1 $LAB_HOSTS); do cp "$SRC" "$CP_OUT/esx$i.iso"; done
    sync "$CP_OUT"/*.iso "$CP_OUT"
}
run_lab_build() {
    "$BIN" build "$SRC" --inventory "$LAB" --out-dir "$LAB_OUT" --force --quiet &&
        sync "$LAB_OUT"/* "$LAB_OUT"
}
clean() {
    case $1 in
    cp) rm -f "$OUT/cp.iso" ;;
    build) rm -f "$OUT/build.iso" "$OUT/build.iso.sha256" ;;
    xorriso) rm -f "$OUT/xorriso.iso" ;;
    lab_cp) rm -rf "${CP_OUT:?}"/* ;;
    lab_build) rm -rf "${LAB_OUT:?}"/* ;;
    esac
}

# time_us CMD...: runs CMD, sets US to its wall time in microseconds.
time_us() {
    local s e
    s=${EPOCHREALTIME//[.,]/}
    "$@" || die "failed: $*"
    e=${EPOCHREALTIME//[.,]/}
    US=$((e - s))
}

declare -A T # contender -> space-separated microsecond samples
measure() { # contender
    clean "$1"
    time_us "run_$1"
    T[$1]="${T[$1]:-} $US"
    clean "$1"
}

# Interleaved rounds, the starting contender rotated each round so none is
# always the one that runs right after another's writeback.
rounds() { # contender...
    local n=$# i j k
    local -a c=("$@")
    for ((i = 0; i < RUNS; i++)); do
        for ((j = 0; j < n; j++)); do
            k=$(((i + j) % n))
            measure "${c[k]}"
        done
        say "  round $((i + 1))/$RUNS: $(for x in "${c[@]}"; do printf '%s %s s  ' "$x" "$(last_s "$x")"; done)"
    done
}
last_s() { awk -v v="${T[$1]##* }" 'BEGIN { printf "%.2f", v / 1e6 }'; }

# stats SAMPLES: "median min max" of space-separated numbers.
stats() {
    tr ' ' '\n' <<<"$1" | awk 'NF' | sort -n | awk '
        { a[NR] = $1 }
        END {
            m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
            print m, a[1], a[NR]
        }'
}
med() { stats "$1" | awk '{ print $1 }'; }

say "copy vs build vs xorriso: $RUNS interleaved rounds"
rounds cp build xorriso

if [[ $SKIP_LAB == 0 ]]; then
    say "lab ($LAB_HOSTS hosts) vs $LAB_HOSTS x cp: $RUNS interleaved rounds"
    rounds lab_cp lab_build
fi

say "peak RSS of esxi-iso build"
clean build
/usr/bin/time -f %M -o "$WORK/rss.txt" \
    "$BIN" build "$SRC" -o "$OUT/build.iso" --force --quiet
clean build
RSS_KB=$(tail -n 1 "$WORK/rss.txt")

say "esxi-iso inspect: $INSPECT_RUNS runs"
"$BIN" inspect "$SRC" >/dev/null # first run outside the samples
for ((i = 0; i < INSPECT_RUNS; i++)); do
    time_us "$BIN" inspect "$SRC" >/dev/null
    T[inspect]="${T[inspect]:-} $US"
done

# ---------------------------------------------------------------- report
CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
# stat -f says "ext2/ext3" for ext4 (one magic number); df names it.
FS=$(df --output=fstype "$WORK" 2>/dev/null | tail -n 1) || FS=""
[[ -n $FS ]] || FS=$(stat -f -c %T "$WORK")
VERSION=$("$BIN" --version)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

secs() { # samples -> "median | min-max" in seconds
    stats "$1" | awk '{ printf "%.3f s | %.3f-%.3f s", $1 / 1e6, $2 / 1e6, $3 / 1e6 }'
}
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { printf "%.2fx", a / b }'; }
verdict() { # value op limit
    awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
        ok = (op == "<=") ? v <= l : v < l
        print ok ? "PASS" : "MISS"
    }'
}
rat() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { print a / b }'; }

BUILD_R=$(rat "${T[build]}" "${T[cp]}")
RSS_MIB=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
INSPECT_MS=$(awk -v u="$(med "${T[inspect]}")" 'BEGIN { printf "%.1f", u / 1000 }')

{
    echo "## esxi-iso benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- esxi-iso: $VERSION ($COMMIT)"
    echo "- machine: $(nproc) CPUs, $CPU"
    echo "- work dir filesystem: $FS"
    echo "- source: $(basename "$SRC"), $SRC_BYTES bytes ($((SRC_BYTES / 1048576)) MiB), page cache warm"
    echo "- runs: $RUNS per contender, interleaved; inspect: $INSPECT_RUNS runs"
    echo
    echo "| Measure | Median | Min-max | Ratio to cp | Target | Result |"
    echo "|---|---|---|---|---|---|"
    echo "| \`cp\` + sync | $(secs "${T[cp]}") | 1.00x | | |"
    echo "| \`esxi-iso build\` + sync | $(secs "${T[build]}") | $(ratio "${T[build]}" "${T[cp]}") | <= 1.20x | $(verdict "$BUILD_R" "<=" 1.2) |"
    echo "| \`xorriso ... replay\` + sync | $(secs "${T[xorriso]}") | $(ratio "${T[xorriso]}" "${T[cp]}") | (reference) | |"
    if [[ $SKIP_LAB == 0 ]]; then
        LAB_R=$(rat "${T[lab_build]}" "${T[lab_cp]}")
        echo "| $LAB_HOSTS x \`cp\` + sync | $(secs "${T[lab_cp]}") | 1.00x | | |"
        echo "| \`esxi-iso build --inventory\` ($LAB_HOSTS hosts) + sync | $(secs "${T[lab_build]}") | $(ratio "${T[lab_build]}" "${T[lab_cp]}") | <= 1.30x | $(verdict "$LAB_R" "<=" 1.3) |"
    fi
    echo "| \`esxi-iso build\` peak RSS | $RSS_MIB MiB | | | <= 64 MiB | $(verdict "$RSS_MIB" "<=" 64) |"
    echo "| \`esxi-iso inspect\` | $INSPECT_MS ms | $(stats "${T[inspect]}" | awk '{ printf "%.1f-%.1f", $2 / 1000, $3 / 1000 }') ms | | < 50 ms | $(verdict "$INSPECT_MS" "<" 50) |"
} >"$RESULTS"

echo
cat "$RESULTS"
echo
say "wrote $RESULTS"
