#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script): formatting, lints, docs,
# unit + integration + doc tests, loom models, and the placement tests in the 4-node guest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
step() { echo; echo "=== $* ($(date +%T))"; }

step "format"
cargo fmt --all --check
step "clippy"
cargo clippy --workspace --all-targets --features numaseg/cli -- -D warnings
step "rustdoc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features numaseg/cli
step "tests (unit, integration, doc)"
cargo test --workspace --features numaseg/cli
step "loom models"
scripts/loom.sh
step "placement in the 4-node guest"
scripts/guest-tests.sh
step "all passed"
