#!/usr/bin/env bash
# Runs the multi-thread stress and conservation tests, the fault-injection tests and the unsafe
# cores under ThreadSanitizer and AddressSanitizer (nightly, std rebuilt with the sanitizer).
# Usage: scripts/sanitizers.sh [thread|address]...   (default: both)
#
# ThreadSanitizer ignores standalone fences, so crossbeam is built with
# `--cfg crossbeam_sanitize_thread`, which makes it use orderings TSan understands (as
# crossbeam's own ci/san.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src' \
  || rustup component add --toolchain nightly rust-src
target=$(rustc -vV | sed -n 's/^host: //p')
tests=(conservation faults arena manager buffer_pool credit)
for san in "${@:-thread address}"; do
  for s in $san; do
    echo "=== sanitizer: $s"
    extra=""
    [ "$s" = thread ] && extra="--cfg crossbeam_sanitize_thread"
    export RUSTFLAGS="-Zsanitizer=$s $extra" RUSTDOCFLAGS="-Zsanitizer=$s" CARGO_TARGET_DIR="target/san-$s"
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ASAN_OPTIONS="detect_leaks=0:halt_on_error=1"
    cargo +nightly test -Zbuild-std --target "$target" -p numaseg --test all -- "${tests[@]}" --test-threads=2
    cargo +nightly test -Zbuild-std --target "$target" -p numaseg --test unsafe_cores -- --test-threads=2
  done
done
