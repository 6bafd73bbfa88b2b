//! Placement on a real multi-node kernel, one binary with a module per area. CI runs it inside
//! `scripts/numa-vm.sh` (4 nodes, one CPU and 2 MiB pages per node) through
//! `scripts/guest-tests.sh`; on a one-node machine the multi-node cases reduce to what one node
//! can show. `RUN_IN_NUMA_VM=1` (set by the guest) makes the multi-node expectations mandatory.

#![allow(clippy::unwrap_used, reason = "test helpers unwrap like the tests they serve")]

mod core;
mod hardening;
mod isolation;
mod manager;

use numaseg::numa::placement;
use numaseg::numa::sys::linux::set_affinity;
use numaseg::numa::{NodeId, Topology};

/// One MiB.
pub(crate) const MIB: usize = 1 << 20;

/// Whether this runs inside the multi-node guest.
pub(crate) fn in_guest() -> bool {
    std::env::var_os("RUN_IN_NUMA_VM").is_some()
}

/// Pins the calling thread to `node`'s CPUs.
pub(crate) fn pin(topology: &Topology, node: NodeId) {
    let cpus = &topology.node(node).unwrap().cpus;
    set_affinity(cpus).unwrap_or_else(|e| panic!("pinning to {node} ({cpus:?}): {e}"));
}

/// Every base page of `[addr, addr + len)` is on `node`, read back from the kernel.
pub(crate) fn assert_range_on(addr: usize, len: usize, node: NodeId) {
    let p = placement::read_back(addr, len).unwrap();
    if let Some((offset, state)) = p.first_misplaced(node) {
        panic!("{len} bytes at {addr:#x}: page at offset {offset:#x} is {state:?}; {p}");
    }
}

/// Every base page of the segment is on `node`.
pub(crate) fn assert_on(segment: &numaseg::Segment<'_>, node: NodeId) {
    assert_range_on(segment.as_ptr() as usize, segment.len(), node);
}

/// Nodes that have CPUs this process may run on.
pub(crate) fn nodes_with_cpus(t: &Topology) -> Vec<NodeId> {
    t.nodes().iter().filter(|n| !n.cpus.is_empty()).map(|n| n.id).collect()
}

/// Whether at least `n` nodes with CPUs exist; in the guest they must.
pub(crate) fn require_nodes(t: &Topology, n: usize) -> bool {
    let have = nodes_with_cpus(t).len();
    if have < n {
        assert!(!in_guest(), "the guest has {n} nodes with CPUs, found {have}");
        eprintln!("{have} node(s) with CPUs here: skipped");
        return false;
    }
    true
}
