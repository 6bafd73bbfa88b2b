#!/usr/bin/env bash
# Runs the unsafe cores under Miri on the heap page source: the crate's unit tests that do not
# reach the kernel, and tests/unsafe_cores.rs (segment access, thread caches, spill deques and
# stealing, foreign frees, thread exit, batches, the Allocator adapter, region carving and
# reclaim; network buffer refcounts: `Buffer` into `SharedBuffer` and `Bytes`, clones, slices,
# views dropped on other threads, the last drop recycling once; memory-manager pages: every kind
# of `MemorySegment` access at the page's edges, revocation, bulk allocation and release, pages
# dropped on other threads; owned segments and pages outliving the user's last handle of their
# manager or owner, the last one dropped by value on another thread). Needs the nightly
# toolchain with the miri and rust-src components (installed with rustup if missing).
#
# Flags: Tree Borrows, because crossbeam-epoch (under crossbeam-deque) trips a known Stacked
# Borrows false positive in its intrusive list; permissive provenance, because segment entries
# travel as integers whose provenance was exposed when the region was carved (see
# `entry::ptr`); ignore-leaks, because crossbeam-epoch's global collector is a static
# that lives as long as the process (crossbeam's own Miri runs ignore it too). Our own leaks are
# checked by the tests themselves: stats back to zero, and the heap source's live-mapping count.
# With `expensive-checks`, as all our tests.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
installed=$(rustup component list --toolchain nightly --installed 2>/dev/null)
for component in miri rust-src; do
  grep -q "^$component" <<<"$installed" || rustup component add --toolchain nightly "$component"
done
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-ignore-leaks}"
cargo +nightly miri test -p numaseg --features expensive-checks --lib -- size_class sizing cache::outbox budget regions manager::owner buffer_pool::buffer "$@"
cargo +nightly miri test -p numaseg --features expensive-checks --test unsafe_cores "$@"
