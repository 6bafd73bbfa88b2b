//! Real placement on a real kernel.
//!
//! On a multi-node machine (CI runs this binary inside `scripts/numa-vm.sh`, 4 nodes,
//! 2 MiB pages reserved per node): for every node and every page kind with pages, a region lands
//! entirely on that node (read back per base page), huge kinds are really huge, strict mode fails
//! cleanly when a node's huge pages are used up, and auto mode falls back and reports it.
//!
//! On a single-node machine: huge pages the test reserves (and releases) are used, and with none
//! reserved `auto` falls back to THP or base pages and says so.
//!
//! Set `RUN_IN_NUMA_VM=1` (the guest does) to make the multi-node expectations mandatory.

#![allow(clippy::unwrap_used, reason = "test helpers unwrap like the tests they serve")]

use std::sync::{Arc, Mutex, MutexGuard};

use numaseg_numa::hugepages::{self, Reservation};
use numaseg_numa::placement::Backing;
use numaseg_numa::sys::linux::LinuxSource;
use numaseg_numa::{
    BindMode, HUGE_2M, NodeId, PageKind, PagePolicy, PageSource, Region, RegionError, RegionSpec, ThpMode, Topology,
};

/// Tests that read or change hugetlb pools run one at a time.
static POOLS: Mutex<()> = Mutex::new(());

fn pools() -> MutexGuard<'static, ()> {
    POOLS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn in_guest() -> bool {
    std::env::var_os("RUN_IN_NUMA_VM").is_some()
}

fn source() -> Arc<dyn PageSource> {
    Arc::new(LinuxSource::new())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn strict(len: usize, node: NodeId, kind: PageKind) -> RegionSpec {
    RegionSpec { policy: PagePolicy::Only(kind), strict: true, ..RegionSpec::new(len, node) }
}

fn expected_backing(kind: PageKind) -> Backing {
    match kind {
        PageKind::Huge1G => Backing::Huge1G,
        PageKind::Huge2M => Backing::Huge2M,
        PageKind::Thp => Backing::Thp,
        PageKind::Small => Backing::Small,
    }
}

/// Maps `len` bytes of `kind` on `node` (strict), reads placement back, and checks every page.
fn assert_lands(node: NodeId, kind: PageKind, len: usize) {
    let (region, fallbacks) = Region::map(&source(), &strict(len, node, kind))
        .unwrap_or_else(|e| panic!("mapping {len} bytes of {kind} on {node}: {e}"));
    assert!(fallbacks.is_empty());
    assert_eq!(region.kind(), kind);
    assert_eq!(region.bind_mode(), BindMode::Bind);
    assert_eq!(region.base().as_ptr() as usize % HUGE_2M, 0, "regions are 2 MiB aligned");
    let placement = region.placement().unwrap();
    assert_eq!(placement.pages.len(), len / 4096);
    if let Some((offset, state)) = placement.first_misplaced(node) {
        panic!("{kind} region for {node}: page at offset {offset:#x} is {state:?}; summary: {placement}");
    }
    let want = expected_backing(kind);
    let got = placement.pages_backed_by(want);
    // THP is the kernel's best effort; hugetlb and base pages are exact.
    let unknown = placement.pages_backed_by(Backing::Unknown);
    if unknown == 0 {
        assert_eq!(got, placement.pages.len(), "{kind} region on {node}: {placement}");
    } else {
        eprintln!("backing not readable (not root?): {placement}");
    }
    println!("{kind} region for {node}: {placement}");
}

#[test]
fn topology_matches_the_machine() {
    let t = Topology::detect().unwrap();
    let here = t.current_node();
    assert!(t.node(here).is_some());
    if in_guest() {
        let nodes: usize = std::env::var("RUN_IN_NUMA_VM_NODES").unwrap().parse().unwrap();
        assert_eq!(t.nodes().len(), nodes);
        assert!(t.has_distances(), "the guest's SLIT gives distances");
        for node in t.nodes() {
            assert_eq!(node.cpus.len(), 1, "{}: one vCPU per node", node.id);
            assert_eq!(t.distance(node.id, node.id), Some(10));
            let pool = node.huge_page_pool(PageKind::Huge2M).unwrap();
            assert!(pool.total > 0, "{}: 2 MiB pages reserved by the guest", node.id);
        }
    }
}

#[test]
fn every_node_and_kind_lands_where_asked() {
    let _pools = pools();
    let t = Topology::detect().unwrap().with_fresh_huge_pages();
    let mut checked = 0;
    for node in t.nodes() {
        assert_lands(node.id, PageKind::Small, 4 << 20);
        checked += 1;
        if LinuxSource::new().thp_mode().allows_thp() {
            assert_lands(node.id, PageKind::Thp, 8 << 20);
            checked += 1;
        }
        for kind in [PageKind::Huge2M, PageKind::Huge1G] {
            let free = node.huge_page_pool(kind).map_or(0, |p| p.free_bytes());
            let len = kind.page_size() * 2;
            if free >= len as u64 {
                assert_lands(node.id, kind, len);
                checked += 1;
            } else if in_guest() && kind == PageKind::Huge2M {
                panic!("{}: the guest reserves 2 MiB pages, but only {free} bytes are free", node.id);
            }
        }
    }
    assert!(checked >= t.nodes().len());
}

#[test]
fn strict_fails_cleanly_and_auto_falls_back_when_a_node_runs_out() {
    let _pools = pools();
    let t = Topology::detect().unwrap().with_fresh_huge_pages();
    // Pick the last node: in the guest it is a remote node with its own pool.
    let node = t.nodes().last().unwrap().id;
    let _reservation = (!in_guest() && is_root()).then(|| Reservation::add(node, PageKind::Huge2M, 4).unwrap());
    let Some(pool) = hugepages::node_pool(node, PageKind::Huge2M).filter(|p| p.free > 0) else {
        assert!(!in_guest(), "the guest has 2 MiB pages on every node");
        eprintln!("no 2 MiB pages on {node} and no root to reserve some: skipped");
        return;
    };
    // Use up the node's free pages with one strict region.
    let all = usize::try_from(pool.free).unwrap() * HUGE_2M;
    let (hog, _) = Region::map(&source(), &strict(all, node, PageKind::Huge2M)).unwrap();
    assert!(hog.placement().unwrap().all_on(node));

    // Strict: a clean error naming the node, the page size and the numbers.
    let err = Region::map(&source(), &strict(4 << 20, node, PageKind::Huge2M)).unwrap_err();
    assert!(err.is_exhaustion(), "{err}");
    let text = err.to_string();
    assert!(text.starts_with(&format!("{node}: requested 4 MiB in 2 MiB pages, 0 MiB free")), "{text}");
    assert!(matches!(err, RegionError::HugePagesExhausted { .. }));

    // Auto: falls back, says so, and the memory still lands on the node.
    let (region, fallbacks) = Region::map(&source(), &RegionSpec::new(4 << 20, node)).unwrap();
    assert_ne!(region.kind(), PageKind::Huge2M);
    assert!(fallbacks.iter().any(|f| f.from == PageKind::Huge2M && f.reason.contains("0 MiB free")), "{fallbacks:?}");
    assert!(region.placement().unwrap().all_on(node));
    drop(hog);
    // Pages come back when the hog is unmapped.
    let again = hugepages::node_pool(node, PageKind::Huge2M).unwrap();
    assert_eq!(again.free, pool.free);
}

#[test]
fn reserved_huge_pages_are_used_on_a_single_node_machine() {
    if in_guest() || !is_root() {
        return; // the guest reserves its own; without root nothing can be reserved
    }
    let _pools = pools();
    let node = Topology::detect().unwrap().current_node();
    let reservation = Reservation::add(node, PageKind::Huge2M, 8).unwrap();
    assert_eq!(reservation.obtained(), 8, "the host should have 16 MiB for huge pages");
    let (region, fallbacks) = Region::map(&source(), &RegionSpec::new(16 << 20, node)).unwrap();
    assert!(fallbacks.iter().all(|f| f.from == PageKind::Huge1G), "{fallbacks:?}");
    assert_eq!(region.kind(), PageKind::Huge2M);
    let placement = region.placement().unwrap();
    assert_eq!(placement.pages_backed_by(Backing::Huge2M), placement.pages.len(), "{placement}");
    drop(region);
    drop(reservation);
    assert_eq!(hugepages::node_pool(node, PageKind::Huge2M).unwrap().free, 0);
}

#[test]
fn without_reserved_pages_auto_falls_back_and_says_so() {
    let _pools = pools();
    let t = Topology::detect().unwrap().with_fresh_huge_pages();
    let node = t.current_node();
    let free_2m = t.node(node).and_then(|n| n.huge_page_pool(PageKind::Huge2M)).map_or(0, |p| p.free);
    if free_2m > 0 {
        return; // pages are reserved here (the guest): covered by the test above
    }
    let (region, fallbacks) = Region::map(&source(), &RegionSpec::new(4 << 20, node)).unwrap();
    let expected = if LinuxSource::new().thp_mode().allows_thp() { PageKind::Thp } else { PageKind::Small };
    assert_eq!(region.kind(), expected);
    let f = fallbacks.iter().find(|f| f.from == PageKind::Huge2M).expect("a 2m fallback is reported");
    assert_eq!(f.to, Some(expected));
    assert!(f.reason.contains("requested 4 MiB in 2 MiB pages, 0 MiB free"), "{}", f.reason);
    assert_eq!(
        ThpMode::parse_sysfs(&std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap()),
        LinuxSource::new().thp_mode()
    );
}

#[test]
fn decommit_returns_memory_and_recommit_brings_it_back() {
    let node = Topology::detect().unwrap().current_node();
    let spec = RegionSpec { policy: PagePolicy::Only(PageKind::Small), ..RegionSpec::new(4 << 20, node) };
    let (region, _) = Region::map(&source(), &spec).unwrap();
    let present = |r: &Region| r.placement().unwrap().pages.iter().filter(|p| p.node.is_ok()).count();
    assert_eq!(present(&region), 1024);
    // SAFETY: nothing lives in the region.
    unsafe { region.decommit(1 << 20, 2 << 20).unwrap() };
    assert_eq!(present(&region), 512);
    region.recommit(1 << 20, 2 << 20).unwrap();
    assert_eq!(present(&region), 1024);
    assert!(region.placement().unwrap().all_on(node));
}

#[test]
fn a_node_that_does_not_exist_is_refused() {
    let t = Topology::detect().unwrap();
    let absent = NodeId::new(u16::try_from(t.nodes().iter().map(|n| n.id.index()).max().unwrap() + 1).unwrap());
    let err = Region::map(&source(), &strict(2 << 20, absent, PageKind::Small)).unwrap_err();
    assert!(err.to_string().contains("mbind"), "{err}");
}

#[test]
fn memlock_limit_is_checked_up_front() {
    let status = source().memlock();
    let Some(limit) = status.limit else {
        return; // unlimited or CAP_IPC_LOCK (root): nothing to check
    };
    let too_big = usize::try_from(limit).unwrap().next_multiple_of(HUGE_2M) + HUGE_2M;
    let node = Topology::detect().unwrap().current_node();
    let spec = RegionSpec { lock: true, policy: PagePolicy::Only(PageKind::Small), ..RegionSpec::new(too_big, node) };
    assert!(matches!(Region::map(&source(), &spec), Err(RegionError::MemlockLimit { .. })));
}
