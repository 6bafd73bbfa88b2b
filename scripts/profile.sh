#!/usr/bin/env bash
# Instructions per operation of the harness's 32 KiB workloads, counted by callgrind: each
# workload runs at N and 2N operations and the difference is divided by N, so start-up, warm-up
# and thread creation cancel out. Deterministic, unlike timings on a shared machine; this is the
# profile docs/BENCHMARKS.md quotes for the targets it misses.
# Usage: scripts/profile.sh [operations] [workload...]   (default 200000, every workload)
# Extra: PROFILE_ANNOTATE=1 keeps the 2N run's callgrind file and prints its top functions.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get install -y valgrind >/dev/null; }
n=${1:-200000}
shift || true
workloads=("$@")
if ((${#workloads[@]} == 0)); then
  workloads=(segments-hot-pair segments-bulk segments-batch manager-hot-pair buffers-hot-pair
             mimalloc-hot-pair arrayqueue-hot-pair foreign-free local-free segments-handoff buffers-handoff requester-handoff tls-handoff
             segments-bulk-handles segments-bulk-handles-untouched segments-singles-held
             segments-singles-held-untouched)
fi
# As users build the library: without `expensive-checks` (only our test scripts turn it on).
cargo build -q --release --features bench --example profile
bin=target/release/examples/profile
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() { # workload ops -> total instructions
  valgrind --tool=callgrind --callgrind-out-file="$out/$1.$2" "$bin" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '| workload (32 KiB, 1 thread) | instructions per operation |\n|---|---|\n'
for w in "${workloads[@]}"; do
  one=$(count "$w" "$n")
  two=$(count "$w" $((2 * n)))
  printf '| %s | %s |\n' "$w" "$(awk -v a="$one" -v b="$two" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')"
  if [ "${PROFILE_ANNOTATE:-0}" = 1 ]; then
    callgrind_annotate "$out/$w.$((2 * n))" 2>/dev/null | sed -n '1,40p' | grep -E '^ *[0-9,]+ ' | head -15
  fi
done
