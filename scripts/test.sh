#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script): formatting, lints, docs,
# unit + integration + doc tests, loom models, the placement tests and a soak in the 4-node guest,
# a quick benchmark run, a 30 s soak and a fuzzing smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
step() { echo; echo "=== $* ($(date +%T))"; }
features="numaseg/cli,numaseg/bench"
# Our own tests also turn on the slow internal consistency checks; the benches and the quick
# benchmark run below build without them, as users do.
test_features="$features,numaseg/expensive-checks"

step "format"
cargo fmt --all --check
step "clippy"
cargo clippy --workspace --all-targets --features "$features" -- -D warnings
# And with the default features, as a user's plain `cargo build`/`cargo test` compiles it: code
# only the optional features use must be gated, examples that need them must say so.
cargo clippy --workspace --all-targets -- -D warnings
# And the loom build (`--cfg loom`: the sync shim's loom half, the models), with scripts/loom.sh's
# flags and target directory.
RUSTFLAGS="${RUSTFLAGS:-} --cfg loom -C debug-assertions" CARGO_TARGET_DIR=target/loom \
    cargo clippy -p loom-tests --tests --release --features numaseg/expensive-checks -- -D warnings
step "rustdoc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features "$features"
step "tests (unit, integration, doc)"
cargo test --workspace --features "$test_features"
step "loom models"
scripts/loom.sh
step "mutation sample (scripts/mutants.sh --sample: 5 fixed mutants, each must be killed)"
scripts/mutants.sh --sample
step "sanitizers (short: ASan and TSan on the conservation and buffer-pool tests)"
scripts/sanitizers.sh --short
step "Miri on the unsafe cores"
scripts/miri.sh
step "placement and an 80 s soak in the 4-node guest"
scripts/guest-tests.sh
step "benchmarks: build every bench, quick comparison run"
cargo bench --workspace --features "$features" --no-run
# Each memory-in-motion bench once (a few seconds): its loops run, not only build. With the
# same packages and features as the build above, so that nothing is compiled again.
cargo bench --workspace --features "$features" --bench in_motion -- --test
cargo run --release --features cli,bench --bin numaseg -- bench --quick --out target/bench-quick > target/bench-quick.log
tail -n 30 target/bench-quick.log
step "soak (30 s; the full soak is 10 minutes: numaseg soak)"
target/release/numaseg soak --seconds 30 --round-ms 500 --warm-rounds 10 2>&1 | tail -n 4
step "fuzz smoke run (10 s per target)"
scripts/fuzz.sh 10
step "all passed"
if [ -f target/loom/RETRIED ]; then
    echo "WARNING: loom models that passed only when run again (docs/RELIABILITY.md): $(paste -sd' ' target/loom/RETRIED)"
fi
