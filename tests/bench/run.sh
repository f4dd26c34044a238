#!/usr/bin/env bash
# Benchmark of esxi-iso against cp, cp --reflink and xorriso, on an
# ESXi-shaped fixture, on the work directory's file system and on XFS and
# Btrfs loop mounts (reflink file systems) when this machine can mount them.
#
#   bash tests/bench/run.sh [--runs N] [--size-mb N] [--fixture DIR|ISO]
#                           [--work DIR] [--hosts N] [--fs LIST] [--skip-lab]
#
# Every wall time is a median over N runs, and every figure that is compared
# with a target is a ratio against a contender measured in the same run,
# with the contenders interleaved (round i runs them in a rotated order).
# The machine is shared and noisy: absolute seconds mean little, ratios
# taken side by side do. Each output is made durable (`sync FILE`) inside
# the timed region, so every contender pays for the flush. Disk use is read
# with `df` on the loop file systems (private to this run) and `du` on the
# work directory. See README.md next to this script.
set -euo pipefail
export LC_ALL=C

usage() {
    sed -n '6,7p' "$0" | sed 's/^#  *//; s/^/usage: /' >&2
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
HOSTS=16
FS_LIST="work,xfs,btrfs"
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
    --hosts)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
        HOSTS=$2
        shift 2
        ;;
    --fs)
        [[ $# -ge 2 && $2 =~ ^(work|xfs|btrfs)(,(work|xfs|btrfs))*$ ]] || usage
        FS_LIST=$2
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
CORES=$(nproc)

# ---------------------------------------------------------------- tools
need_tool() { # tool debian-package
    command -v "$1" >/dev/null 2>&1 || die "$1 not found (apt-get install $2)"
}
need_tool cargo "cargo (or install rustup)"
need_tool xorriso xorriso
need_tool awk mawk
for t in cp sync stat rm cat sort date nproc df du; do need_tool "$t" coreutils; done
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"
# EPOCHREALTIME gives microseconds without forking a clock process.
[[ -n ${EPOCHREALTIME:-} ]] || die "bash 5 or later is needed (apt-get install bash)"

# ---------------------------------------------------------------- setup
say "building the release binary and the hash example"
(cd "$ROOT" && cargo build --release --locked --quiet && cargo build --release --locked --quiet --example sha256)
BIN=$TARGET/release/esxi-iso
HASH_BIN=$TARGET/release/examples/sha256
[[ -x $BIN && -x $HASH_BIN ]] || die "$BIN or $HASH_BIN not found after cargo build"

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
    for i in $(seq 1 "$HOSTS"); do
        printf '\n[[host]]\nhostname = "esx%02d"\nip = "10.0.%d.%d/16"\n' "$i" $((i / 200)) $((10 + i % 200))
    done
} >"$LAB"

# Loop mounts made by this run, unmounted on exit; outputs never outlive it.
MOUNTS=()
cleanup() {
    local m
    for m in "${MOUNTS[@]}"; do umount -d "$m" 2>/dev/null || true; done
    rm -rf "$WORK/out" "$WORK/loop"
}
trap cleanup EXIT

# loop_fs KIND: mounts a fresh KIND file system under $WORK/loop/KIND and
# sets LOOP_DIR to it; leaves LOOP_DIR empty (and says why) when it cannot.
loop_fs() {
    local kind=$1 img dir size
    LOOP_DIR=""
    command -v "mkfs.$kind" >/dev/null 2>&1 || {
        say "skipping $kind: mkfs.$kind not found (apt-get install ${kind}progs)"
        return
    }
    dir=$WORK/loop/$kind
    img=$WORK/loop/$kind.img
    mkdir -p "$dir"
    # Room for the source, a few copies and the lab's metadata; sparse.
    size=$(((SRC_BYTES * 6 >> 20) + 2048))
    truncate -s "${size}M" "$img"
    "mkfs.$kind" -q -f "$img" >/dev/null 2>&1 || {
        say "skipping $kind: mkfs.$kind failed"
        return
    }
    mount -o loop "$img" "$dir" 2>/dev/null || {
        say "skipping $kind: cannot mount a loop file system here (needs root and loop devices)"
        return
    }
    MOUNTS+=("$dir")
    LOOP_DIR=$dir
}

# ---------------------------------------------------------------- contenders
# They read $S (the source on the file system under test) and write into
# $D; each ends with `sync FILE`, an fsync of that file only: `sync -f`
# would flush the whole file system, other people's compiles included.
run_cp() { cp --reflink=never "$S" "$D/cp.iso" && sync "$D/cp.iso"; }
run_reflink() { cp --reflink=always "$S" "$D/reflink.iso" && sync "$D/reflink.iso"; }
run_hash() { "$HASH_BIN" "$S" >/dev/null; }
run_build() {
    # The build fsyncs its output itself; the extra sync costs it ~nothing
    # and keeps the rule the same for everyone.
    "$BIN" build "$S" -o "$D/build.iso" --force --quiet && sync "$D/build.iso"
}
run_xorriso() {
    xorriso -indev "$S" -outdev "$D/xorriso.iso" -map "$KS" /KS.CFG \
        -boot_image any replay >/dev/null 2>&1 && sync "$D/xorriso.iso"
}
run_lab_cp() {
    local i
    for i in $(seq 1 "$HOSTS"); do cp --reflink=never "$S" "$D/labcp/esx$i.iso"; done
    sync "$D"/labcp/*.iso "$D/labcp"
}
run_lab_reflink() {
    local i
    for i in $(seq 1 "$HOSTS"); do cp --reflink=always "$S" "$D/labref/esx$i.iso"; done
    sync "$D"/labref/*.iso "$D/labref"
}
run_lab_build() {
    "$BIN" build "$S" --inventory "$LAB" --out-dir "$D/lab" --force --quiet &&
        sync "$D"/lab/* "$D/lab"
}
clean() {
    case $1 in
    cp | reflink | xorriso) rm -f "$D/$1.iso" ;;
    build) rm -f "$D/build.iso" "$D/build.iso.sha256" ;;
    hash) ;;
    lab_cp) rm -rf "$D/labcp" && mkdir -p "$D/labcp" ;;
    lab_reflink) rm -rf "$D/labref" && mkdir -p "$D/labref" ;;
    lab_build) rm -rf "$D/lab" ;;
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

declare -A T # "fs:contender" -> space-separated microsecond samples
measure() { # contender
    clean "$1"
    time_us "run_$1"
    T[$FS:$1]="${T[$FS:$1]:-} $US"
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
        say "  $FS round $((i + 1))/$RUNS: $(for x in "${c[@]}"; do printf '%s %s s  ' "$x" "$(last_s "$x")"; done)"
    done
}
last_s() { awk -v v="${T[$FS:$1]##* }" 'BEGIN { printf "%.2f", v / 1e6 }'; }

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

# used_kib: KiB in use on $D's file system (after flushing it), or, on the
# shared work directory, nothing: its df moves with everyone's builds.
used_kib() {
    [[ $PRIVATE == 1 ]] || return 0
    sync -f "$D"
    if [[ $KIND == btrfs ]]; then btrfs filesystem sync "$D" >/dev/null 2>&1 || true; fi
    df --output=used -k "$D" | tail -n 1 | tr -d ' '
}

# disk CONTENDER FILES...: runs CONTENDER once more, untimed, and sets
# DISK_KIB to what it added to the file system (df on a loop mount; the
# files' allocated blocks, du, on the work directory, where nothing is
# shared).
disk() {
    local c=$1 before after
    shift
    clean "$c"
    before=$(used_kib)
    "run_$c" || die "failed: run_$c"
    after=$(used_kib)
    if [[ $PRIVATE == 1 ]]; then
        DISK_KIB=$((after - before))
    else
        DISK_KIB=$(du -skc "$@" | tail -n 1 | cut -f1)
    fi
    clean "$c"
}

# ---------------------------------------------------------------- runs
declare -A INFO # "fs:key" -> value
FS_DONE=()
IFS=, read -r -a FS_WANTED <<<"$FS_LIST"
for FS in "${FS_WANTED[@]}"; do
    if [[ $FS == work ]]; then
        D=$WORK/out
        PRIVATE=0
        KIND=$(df --output=fstype "$WORK" 2>/dev/null | tail -n 1)
        [[ -n $KIND ]] || KIND=$(stat -f -c %T "$WORK")
    else
        KIND=$FS
        loop_fs "$FS"
        D=$LOOP_DIR
        [[ -n $D ]] || continue
        PRIVATE=1
    fi
    mkdir -p "$D"
    S=$D/source.iso
    say "$FS ($KIND): copying the source into $D"
    cp --reflink=never "$SRC" "$S"
    cat "$S" >/dev/null
    REFLINK=0
    if cp --reflink=always "$S" "$D/probe.iso" 2>/dev/null; then REFLINK=1; fi
    rm -f "$D/probe.iso"
    INFO[$FS:kind]=$KIND
    INFO[$FS:reflink]=$REFLINK
    single=(cp build xorriso hash)
    [[ $REFLINK == 0 ]] || single+=(reflink)
    say "$FS: single build: $RUNS interleaved rounds of ${single[*]}"
    rounds "${single[@]}"
    disk build "$D/build.iso" "$D/build.iso.sha256"
    INFO[$FS:disk_build]=$DISK_KIB
    disk cp "$D/cp.iso"
    INFO[$FS:disk_cp]=$DISK_KIB
    clean build
    /usr/bin/time -f %M -o "$WORK/rss.txt" "$BIN" build "$S" -o "$D/build.iso" --force --quiet
    INFO[$FS:rss_build]=$(tail -n 1 "$WORK/rss.txt")
    clean build
    if [[ $SKIP_LAB == 0 ]]; then
        # On a reflink file system the lab is judged against the hashes
        # (copies cost nothing there), and a plain copy of the whole lab
        # would not fit the loop file system.
        if [[ $REFLINK == 1 ]]; then lab=(lab_reflink lab_build); else lab=(lab_cp lab_build); fi
        say "$FS: $HOSTS-host lab: $RUNS interleaved rounds of ${lab[*]}"
        rounds "${lab[@]}"
        disk lab_build "$D/lab"
        INFO[$FS:disk_lab]=$DISK_KIB
        clean lab_build
        /usr/bin/time -f %M -o "$WORK/rss.txt" "$BIN" build "$S" --inventory "$LAB" --out-dir "$D/lab" --force --quiet
        INFO[$FS:rss_lab]=$(tail -n 1 "$WORK/rss.txt")
        clean lab_build
    fi
    rm -f "$S"
    FS_DONE+=("$FS")
done

FS=work
say "esxi-iso inspect: $INSPECT_RUNS runs"
"$BIN" inspect "$SRC" >/dev/null # first run outside the samples
for ((i = 0; i < INSPECT_RUNS; i++)); do
    time_us "$BIN" inspect "$SRC" >/dev/null
    T[work:inspect]="${T[work:inspect]:-} $US"
done

# ---------------------------------------------------------------- report
CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
VERSION=$("$BIN" --version)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

secs() { stats "$1" | awk '{ printf "%.3f s | %.3f-%.3f s", $1 / 1e6, $2 / 1e6, $3 / 1e6 }'; }
rat() { awk -v a="$(med "$1")" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { # value op limit
    awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
        ok = (op == "<=") ? v <= l : v < l
        print ok ? "PASS" : "MISS"
    }'
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
row() { # label samples baseline-median target-op target-limit target-text
    local r
    r=$(rat "$2" "$3")
    if [[ -n ${4:-} ]]; then
        echo "| $1 | $(secs "$2") | ${r}x | $6 | $(verdict "$r" "$4" "$5") |"
    else
        echo "| $1 | $(secs "$2") | ${r}x | | |"
    fi
}

{
    echo "## esxi-iso benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- esxi-iso: $VERSION ($COMMIT)"
    echo "- machine: $CORES CPUs, $CPU"
    echo "- source: $(basename "$SRC"), $SRC_BYTES bytes ($((SRC_BYTES / 1048576)) MiB), page cache warm"
    echo "- runs: $RUNS per contender, interleaved; lab: $HOSTS hosts, default --jobs ($CORES); inspect: $INSPECT_RUNS runs"
    for FS in "${FS_DONE[@]}"; do
        k=${INFO[$FS:kind]}
        echo
        if [[ ${INFO[$FS:reflink]} == 1 ]]; then
            echo "### $k (loop mount, reflink)"
        elif [[ $FS == work ]]; then
            echo "### $k (the work directory, no reflink)"
        else
            echo "### $k (loop mount, no reflink)"
        fi
        echo
        echo "| Measure | Median | Min-max | Ratio | Target | Result |"
        echo "|---|---|---|---|---|---|"
        cp_m=$(med "${T[$FS:cp]}")
        hash_m=$(med "${T[$FS:hash]}")
        row "\`cp\` + sync" "${T[$FS:cp]}" "$cp_m"
        if [[ ${INFO[$FS:reflink]} == 1 ]]; then
            row "\`cp --reflink=always\` + sync" "${T[$FS:reflink]}" "$cp_m"
            row "SHA-256 of the source (esxi-iso's hash code)" "${T[$FS:hash]}" "$hash_m"
            row "\`esxi-iso build\` + sync, vs the hash" "${T[$FS:build]}" "$hash_m" "<=" 1.2 "<= 1.20x hash"
        else
            row "SHA-256 of the source (esxi-iso's hash code)" "${T[$FS:hash]}" "$cp_m"
            row "\`esxi-iso build\` + sync, vs cp" "${T[$FS:build]}" "$cp_m" "<=" 1.05 "<= 1.05x cp"
        fi
        row "\`xorriso ... replay\` + sync" "${T[$FS:xorriso]}" "$cp_m"
        if [[ $SKIP_LAB == 0 ]]; then
            if [[ ${INFO[$FS:reflink]} == 1 ]]; then
                floor=$(awk -v h="$hash_m" -v n="$HOSTS" -v c="$CORES" 'BEGIN { print h * n / c }')
                row "$HOSTS x \`cp --reflink=always\` + sync" "${T[$FS:lab_reflink]}" "$floor"
                row "\`esxi-iso build --inventory\` ($HOSTS hosts) + sync, vs $HOSTS hashes / $CORES cores" \
                    "${T[$FS:lab_build]}" "$floor" "<=" 1.2 "<= 1.20x"
            else
                labcp_m=$(med "${T[$FS:lab_cp]}")
                row "$HOSTS x \`cp\` + sync" "${T[$FS:lab_cp]}" "$labcp_m"
                row "\`esxi-iso build --inventory\` ($HOSTS hosts) + sync, vs $HOSTS x cp" \
                    "${T[$FS:lab_build]}" "$labcp_m" "<=" 1.1 "<= 1.10x"
            fi
        fi
        rss=$(awk -v k="${INFO[$FS:rss_build]}" 'BEGIN { printf "%.1f", k / 1024 }')
        echo "| \`esxi-iso build\` peak RSS | $rss MiB | | | <= 64 MiB | $(verdict "$rss" "<=" 64) |"
        if [[ $SKIP_LAB == 0 ]]; then
            rss=$(awk -v k="${INFO[$FS:rss_lab]}" 'BEGIN { printf "%.1f", k / 1024 }')
            echo "| lab peak RSS | $rss MiB | | | <= 64 MiB | $(verdict "$rss" "<=" 64) |"
        fi
        disk_b=${INFO[$FS:disk_build]}
        if [[ ${INFO[$FS:reflink]} == 1 ]]; then
            echo "| disk added by \`build\` | $(mib "$disk_b") | | | <= 1 MiB | $(verdict "$disk_b" "<=" 1024) |"
            if [[ $SKIP_LAB == 0 ]]; then
                per=$((INFO[$FS:disk_lab] / HOSTS))
                echo "| disk added per lab host | $(mib "$per") | | | <= 1 MiB | $(verdict "$per" "<=" 1024) |"
            fi
        else
            echo "| disk used by \`build\` / by \`cp\` | $(mib "$disk_b") / $(mib "${INFO[$FS:disk_cp]}") | | | | |"
        fi
    done
    echo
    INSPECT_MS=$(awk -v u="$(med "${T[work:inspect]}")" 'BEGIN { printf "%.1f", u / 1000 }')
    echo "\`esxi-iso inspect\`: $INSPECT_MS ms median ($(stats "${T[work:inspect]}" | awk '{ printf "%.1f-%.1f", $2 / 1000, $3 / 1000 }') ms; target < 50 ms: $(verdict "$INSPECT_MS" "<" 50))."
} >"$RESULTS"

echo
cat "$RESULTS"
echo
say "wrote $RESULTS"
