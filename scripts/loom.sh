#!/usr/bin/env bash
# Model-checks numaseg's lock-free protocols with loom. Extra arguments go to cargo test (e.g. a
# test name). LOOM_MAX_PREEMPTIONS=1 is the quick local run; CI uses 2. With `expensive-checks`,
# as all our tests.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="${RUSTFLAGS:-} --cfg loom -C debug-assertions" \
LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" \
CARGO_TARGET_DIR=target/loom \
cargo test -p loom-tests --release --features numaseg/expensive-checks "$@"
