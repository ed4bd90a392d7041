#!/usr/bin/env bash
# The bounded fuzz run (CI and `./x fuzz [seconds]`): builds every cargo-fuzz target with
# nightly, then runs each for N seconds (default 20) on its kept corpus, and fails if any target
# crashes (a panic, an abort, a timeout, running out of memory).
#
#   fuzz/run.sh [seconds] [target…]
#
# The kept corpus (fuzz/corpus/<target>) is only read: what a run adds goes to a scratch
# directory that is deleted afterwards, so the clone is not written to. Crash inputs are kept
# under $cache/fuzz-artifacts (reproduce one with `fuzz/run.sh --repro <target> <file>`).
# The nightly toolchain and cargo-fuzz are installed when missing (into ~/.rustup and
# ~/.cargo); the build uses ./x's environment (the prebuilt RocksDB) with a target dir of its
# own, $cache/target-fuzz ($STREAMS_FUZZ_TARGET_DIR overrides it).
set -euo pipefail

fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$fuzz")"
cache="${STREAMS_CACHE:-$HOME/.cache/streams}"
export CARGO_TARGET_DIR="${STREAMS_FUZZ_TARGET_DIR:-$cache/target-fuzz}"
artifacts="$cache/fuzz-artifacts"

log() { printf '[fuzz] %s\n' "$*" >&2; }

repro=""
if [ "${1:-}" = "--repro" ]; then
    [ $# -eq 3 ] || { echo "usage: fuzz/run.sh --repro <target> <input file>" >&2; exit 2; }
    repro="$3"
    set -- 0 "$2"
fi
seconds="${1:-20}"
[ $# -gt 0 ] && shift
case "$seconds" in
    '' | *[!0-9]*) echo "usage: fuzz/run.sh [seconds] [target…]" >&2; exit 2 ;;
esac
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' "$fuzz/Cargo.toml" | grep -v '^streams-fuzz$')
fi

# What the build needs, outside the clone.
if ! rustup toolchain list | grep -q '^nightly'; then
    log "installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
    log "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# The prebuilt RocksDB is built for the librocksdb-sys version of the workspace's Cargo.lock:
# keep the fuzz workspace's lock on the same version.
lock_version() {
    awk '/^name = "librocksdb-sys"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$1"
}
wanted="$(lock_version "$root/Cargo.lock")"
if [ -f "$fuzz/Cargo.lock" ] && [ "$(lock_version "$fuzz/Cargo.lock")" != "$wanted" ]; then
    log "fuzz/Cargo.lock: librocksdb-sys to $wanted, as in Cargo.lock"
    cargo update --manifest-path "$fuzz/Cargo.toml" -p librocksdb-sys --precise "$wanted"
fi

# Release with debug assertions and overflow checks (an overflow is a panic here, as in the
# tests); no sanitizer: the decoders are safe Rust, and without ASan the build is quicker and
# the fuzzer about twice as fast. Sixteen codegen units: a quicker build for a short run.
build_flags=(-O -a -s none --codegen-units 16 --fuzz-dir "$fuzz" --target-dir "$CARGO_TARGET_DIR")
started=$(date +%s)
log "building ${targets[*]} (target dir $CARGO_TARGET_DIR)"
if [ "$#" -eq 0 ] && [ -z "$repro" ]; then
    (cd "$root" && ./x cargo +nightly fuzz build "${build_flags[@]}")
else
    for target in "${targets[@]}"; do
        (cd "$root" && ./x cargo +nightly fuzz build "${build_flags[@]}" "$target")
    done
fi
log "built in $(( $(date +%s) - started )) s"

host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin_dir="$CARGO_TARGET_DIR/$host/release"
if [ -n "$repro" ]; then
    exec "$bin_dir/${targets[0]}" "$repro"
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
failed=()
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target"
    log "$target: ${seconds} s on fuzz/corpus/$target"
    # New inputs go to the scratch directory (the first); the kept corpus is only read.
    if ! "$bin_dir/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$target-" \
        "$scratch/$target" "$fuzz/corpus/$target" \
        >"$scratch/$target.log" 2>&1; then
        failed+=("$target")
        tail -n 60 "$scratch/$target.log" >&2
        log "$target FAILED; a crash input is kept as $artifacts/$target-crash-… (replay it: fuzz/run.sh --repro $target <file>)"
    else
        # libFuzzer's last line: coverage, corpus size and speed.
        grep -E '^#[0-9]+[[:space:]]+DONE' "$scratch/$target.log" >&2 || true
    fi
done
log "done in $(( $(date +%s) - started )) s"
if [ "${#failed[@]}" -gt 0 ]; then
    log "crashed: ${failed[*]}"
    exit 1
fi
