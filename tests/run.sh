#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs the Debian
# packages the tests need (when they are missing), then runs cargo's
# checks and tests. CI runs exactly this (`.ci/run`).
#
#   bash tests/run.sh            # everything
#   bash tests/run.sh boot       # extra args go to `cargo test` (a filter)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    xorriso genisoimage isolinux syslinux-common
    qemu-system-x86 ovmf grub-efi-amd64-bin grub-pc-bin grub-common
    mtools dosfstools p7zip-full libarchive-tools openssl
    golang-go golang-github-vmware-govmomi-dev util-linux time
    curl busybox chromium python3-pip
    xfsprogs btrfs-progs e2fsprogs
    zsh fish elvish groff-base man-db bsdutils
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "tests/run.sh: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

# virt-firmware writes OVMF's HTTP boot entry for tests/http_boot.rs; Debian
# bookworm has no package of it, so it comes from PyPI.
if ! command -v virt-fw-vars >/dev/null; then
    echo "tests/run.sh: installing virt-firmware (PyPI)" >&2
    python3 -m pip install -q virt-firmware 2>/dev/null ||
        python3 -m pip install -q --break-system-packages virt-firmware
fi

# pyvmomi (VMware's Python SDK) reads the simulator's inventory back in
# tests/vsphere.rs, as an independent client.
if ! python3 -c "import pyVmomi" 2>/dev/null; then
    echo "tests/run.sh: installing pyvmomi (PyPI)" >&2
    python3 -m pip install -q pyvmomi 2>/dev/null ||
        python3 -m pip install -q --break-system-packages pyvmomi
fi

cargo build --locked --all-targets
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked -- "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
count() { grep -E '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{s += $1} END {print s + 0}'; }
passed=$(count passed)
failed=$(count failed)
if [ "$status" -ne 0 ]; then
    echo "tests: $passed passed, $failed failed"
    exit "$status"
fi

# The fuzz targets (own workspace under tests/fuzz) must keep building; a
# short uninstrumented run from a copy of the committed seeds (libFuzzer
# adds to its corpus folder) checks they start and survive mutated input.
if [ $# -eq 0 ]; then
    cargo build --locked --manifest-path tests/fuzz/Cargo.toml --target-dir tests/fuzz/target --bins
    for t in iso_reader:iso bootcfg_kickstart:bootcfg_kickstart build_patch:iso inventory_vars:inventory_vars serve_request:serve_request template_render:template_render; do
        target=${t%%:*}
        corpus=$(mktemp -d)
        cp tests/fuzz/seeds/"${t#*:}"/* "$corpus"/
        tests/fuzz/target/debug/$target "$corpus" -runs=300 -max_len=131072 -seed=1 >/dev/null 2>&1 ||
            { echo "fuzz target $target failed its smoke run" >&2; rm -rf "$corpus"; exit 1; }
        rm -rf "$corpus"
    done
    echo "fuzz targets: built, smoke runs passed"
    # The library's own docs: a broken link is a failure.
    RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --lib --quiet
    echo "rustdoc: no warnings"
fi

echo "tests: $passed passed, $failed failed"
