#!/usr/bin/env bash
# The main job: install what is missing, build the CLI, check placement on this machine, run the
# demo. Extra arguments go to `numaseg demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --features cli --bin numaseg
target/release/numaseg topology
target/release/numaseg verify
target/release/numaseg demo "$@"
