#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each; CI uses a short smoke run).
# Usage: scripts/fuzz.sh [seconds-per-target] [target...]
# Inputs that found bugs are copied to fuzz/regressions/<target>/ and replayed by
# `cargo test` (tests/all/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi
for t in "${targets[@]}"; do
  echo "=== fuzz: $t for ${secs}s"
  mkdir -p "fuzz/corpus/$t"
  # Seed the corpus with the stored regressions.
  [ -d "fuzz/regressions/$t" ] && cp -n fuzz/regressions/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 2>&1 \
    | grep -E "stat::number_of_executed_units|Done|ERROR|panicked|SUMMARY" || true
  if [ -d "fuzz/artifacts/$t" ] && [ -n "$(ls -A "fuzz/artifacts/$t" 2>/dev/null)" ]; then
    echo "fuzz: $t found a failure; inputs in fuzz/artifacts/$t (copy them to fuzz/regressions/$t)" >&2
    exit 1
  fi
done
