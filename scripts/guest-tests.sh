#!/usr/bin/env bash
# Runs the tests that must prove placement on a real multi-node kernel inside the project's 4-node
# QEMU guest (scripts/numa-vm.sh, or $NUMA_VM): the runner's self-test, one boot per test binary,
# `numaseg verify`, and an 80 s soak across the 4 nodes. The runner installs what it lacks on
# first use (README.md, "The multi-node guest"). Also `numaseg bench --only-motion --quick`, for
# correctness only: its hand-off rows across two real nodes run (emulated timing is meaningless).
# NUMASEG_SKIP_GUEST=1 skips all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
vm=${NUMA_VM:-scripts/numa-vm.sh}
if [ "${NUMASEG_SKIP_GUEST:-0}" = 1 ]; then echo "guest tests: skipped (NUMASEG_SKIP_GUEST=1)"; exit 0; fi
[ -x "$vm" ] || { echo "guest tests: $vm is not executable" >&2; exit 1; }
if [ -z "${NUMA_VM:-}" ]; then
  echo "=== guest: the runner's self-test (exit codes, output streams, nodes and huge pages)"
  "$vm" --self-test
fi

# Test binaries to run in the guest: package, test target, features (as scripts/test.sh builds
# them, so nothing is rebuilt).
targets=("numaseg-numa placement" "numaseg guest cli,bench,expensive-checks")
bins=()
for t in "${targets[@]}"; do
  set -- $t
  bin=$(cargo test -p "$1" ${3:+--features "$3"} --test "$2" --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import sys,json
for l in sys.stdin:
    j=json.loads(l)
    if j.get("executable") and j.get("target",{}).get("kind")==["test"]: print(j["executable"])' | tail -n1)
  [ -n "$bin" ] || { echo "guest tests: could not build $1 --test $2" >&2; exit 1; }
  bins+=("$bin")
done
# One build of the CLI, the release one (the benchmark step runs it too).
cargo build --release --features cli,bench --bin numaseg
for bin in "${bins[@]}"; do
  echo "=== guest: $(basename "$bin")"
  "$vm" -- "$bin" --test-threads=1
done
echo "=== guest: numaseg soak across 4 nodes (80 s: churn, cross-node frees, stealing, buffers, threads)"
# Small regions, a small retained amount and small thread caches: the guest has 512 MiB per node.
# A node pool may keep up to a cache's worth per class (NUMASEG_CACHE_BYTES, 32 MiB by default),
# so with the default caches the pools of 4 nodes × 8 classes were still filling at the end of
# the 80 s and the RSS bound (warm level + 25 % + 64 MiB) tripped on their filling, not on a leak
# (docs/RELIABILITY.md, *Long runs*); with 4 MiB caches RSS is flat from round 10.
"$vm" --env NUMASEG_REGION_SIZE=4MiB --env NUMASEG_RETAIN_FREE=8MiB --env NUMASEG_CACHE_BYTES=4MiB -- \
  target/release/numaseg soak --seconds 80 --round-ms 2000 --warm-rounds 15 2>&1 | grep -v ' WARN ' | tail -n 3
echo "=== guest: numaseg bench --only-motion --quick (correctness only: emulated timing is meaningless)"
# The hand-off rows with producer and consumer pinned to CPUs of two real nodes must run, and the
# consumer's frees must be foreign (the harness asserts it and prints the count).
motion=$("$vm" -- target/release/numaseg bench --only-motion --quick --out /tmp/bench-motion 2>&1) || {
  echo "$motion" | tail -n 20 >&2; echo "guest tests: numaseg bench --only-motion failed" >&2; exit 1; }
grep -E 'producer on CPUs|foreign frees$' <<<"$motion"
grep -Eq '^\| hand-off across two real nodes: [^|]*\| [0-9.]+× \|' <<<"$motion" || {
  echo "$motion" | tail -n 20 >&2; echo "guest tests: the real-node hand-off rows did not run" >&2; exit 1; }
echo "=== guest: numaseg verify"
"$vm" -- target/release/numaseg verify
echo "=== guest: numaseg verify on a node that does not exist must fail"
if "$vm" -- target/release/numaseg verify --nodes 0,9; then echo "verify accepted node 9" >&2; exit 1; fi
echo "guest tests: all passed"
