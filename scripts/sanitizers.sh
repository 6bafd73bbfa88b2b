#!/usr/bin/env bash
# Runs the multi-thread stress and conservation tests, the fault-injection tests and the unsafe
# cores under ThreadSanitizer and AddressSanitizer (nightly, std rebuilt with the sanitizer).
# Usage: scripts/sanitizers.sh [--short] [thread|address]...   (default: both)
#   --short  CI's run: only the conservation and buffer-pool tests of tests/all (not the fault,
#            arena, manager and credit tests, nor tests/unsafe_cores.rs, which Miri covers), built
#            with line tables only, and AddressSanitizer on the prebuilt std (only ThreadSanitizer
#            needs std instrumented: it must see std's atomics and locks)
#
# Installs the nightly toolchain and its rust-src component with rustup when missing.
#
# ThreadSanitizer ignores standalone fences, so crossbeam is built with
# `--cfg crossbeam_sanitize_thread`, which makes it use orderings TSan understands (as
# crossbeam's own ci/san.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
short=false suffix=""
if [ "${1:-}" = --short ]; then short=true suffix=-short; shift; fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src' \
  || rustup component add --toolchain nightly rust-src
target=$(rustc -vV | sed -n 's/^host: //p')
tests=(conservation faults arena manager buffer_pool credit)
if $short; then
  tests=(conservation buffer_pool)
  export CARGO_PROFILE_DEV_DEBUG=line-tables-only
fi
for san in "${@:-thread address}"; do
  for s in $san; do
    echo "=== sanitizer: $s"
    extra="" build_std=-Zbuild-std
    [ "$s" = thread ] && extra="--cfg crossbeam_sanitize_thread"
    [ "$s" = address ] && $short && build_std=""
    export RUSTFLAGS="-Zsanitizer=$s $extra" RUSTDOCFLAGS="-Zsanitizer=$s" CARGO_TARGET_DIR="target/san-$s$suffix"
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ASAN_OPTIONS="detect_leaks=0:halt_on_error=1"
    cargo +nightly test $build_std --target "$target" -p numaseg --features expensive-checks --test all -- "${tests[@]}" --test-threads=2
    $short || cargo +nightly test -Zbuild-std --target "$target" -p numaseg --features expensive-checks --test unsafe_cores -- --test-threads=2
  done
done
