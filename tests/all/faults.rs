//! Fault injection through the OS boundary (`numa::fault::FaultySource`): map, bind, populate,
//! decommit, recommit and unmap failures, and huge pages running out mid-run. Each case checks
//! that the public call returns a typed error or falls back as configured, that stats and budgets
//! stay exact, that everything allocated before the fault can still be used and released, and
//! that nothing leaks (the heap source counts its live mappings).

use std::sync::Arc;

use numaseg::config::ByteSize;
use numaseg::numa::fault::{Fault, FaultySource, Op};
use numaseg::numa::sys::heap::HeapSource;
use numaseg::numa::{NodeId, PageKind, PagePolicy, PageSource, RegionError, Topology};
use numaseg::{AllocError, ArenaManager, Config, Segment};

const REGION: usize = 2 << 20;
const SEG: usize = 64 << 10;
const PER_REGION: usize = REGION / SEG;

struct Rig {
    heap: Arc<HeapSource>,
    faults: Arc<FaultySource>,
    manager: ArenaManager,
}

fn rig_with(heap: HeapSource, config: numaseg::config::ConfigBuilder) -> Rig {
    let heap = Arc::new(heap);
    let faults = Arc::new(FaultySource::new(Arc::clone(&heap) as Arc<dyn PageSource>));
    let config = config
        .region_size(ByteSize(REGION as u64))
        .retain_free(ByteSize(0))
        .cache_capacity(2)
        .build_from::<_, &str, &str>([])
        .unwrap();
    let manager =
        ArenaManager::with_source(&config, Topology::pretend(1, 1 << 30), Arc::clone(&faults) as Arc<dyn PageSource>)
            .unwrap();
    Rig { heap, faults, manager }
}

fn new_rig() -> Rig {
    rig_with(HeapSource::new(), Config::builder())
}

/// Fills `n` segments with a pattern so later checks can see they are intact.
fn take(m: &ArenaManager, n: usize) -> Vec<Segment<'_>> {
    (0..n)
        .map(|i| {
            let mut s = m.allocate(SEG).unwrap();
            s.as_mut_slice().fill(u8::try_from(i % 251).unwrap());
            s
        })
        .collect()
}

fn intact(segments: &[Segment<'_>]) {
    for (i, s) in segments.iter().enumerate() {
        let want = u8::try_from(i % 251).unwrap();
        assert!(s.as_slice().iter().all(|&b| b == want), "segment {i} was damaged");
    }
}

/// With everything released: purges, drops the manager, and checks no mapping is left.
fn finish(rig: Rig) {
    let st = rig.manager.stats();
    assert_eq!(st.used_segments(), 0);
    rig.manager.purge();
    assert_eq!(rig.manager.stats().total_committed_bytes, 0);
    let Rig { heap, faults, manager } = rig;
    drop(manager);
    assert_eq!(heap.live_mappings(), 0, "every region was unmapped");
    eprintln!("faults injected: {}, OS calls: {}", faults.injected(), faults.total_calls());
}

#[test]
fn enomem_on_map_is_a_typed_error_and_costs_no_budget() {
    let rig = new_rig();
    let held = take(&rig.manager, PER_REGION); // exactly one region
    rig.faults.inject(Fault::always(Op::Map, libc::ENOMEM));
    let err = rig.manager.allocate(SEG).unwrap_err();
    match &err {
        AllocError::Region(e) => {
            assert!(matches!(**e, RegionError::AllKindsFailed { .. }), "{e}");
            assert!(e.to_string().contains("ENOMEM") || e.to_string().contains("Cannot allocate memory"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let st = rig.manager.stats();
    assert_eq!(st.total_committed_bytes, REGION as u64, "the refused region's reservation was given back");
    assert_eq!(st.used_segments(), PER_REGION as u64);
    intact(&held);
    rig.faults.clear();
    let more = rig.manager.allocate(SEG).unwrap();
    assert_eq!(rig.manager.stats().total_committed_bytes, 2 * REGION as u64);
    drop(more);
    drop(held);
    finish(rig);
}

#[test]
fn bind_failures_fail_cleanly_or_fall_back() {
    // EINVAL on every bind: nothing can be placed, the error names the call.
    let rig = new_rig();
    rig.faults.inject(Fault::always(Op::Bind, libc::EINVAL));
    let err = rig.manager.allocate(SEG).unwrap_err();
    assert!(err.to_string().contains("mbind (injected)"), "{err}");
    assert_eq!(rig.manager.stats().total_committed_bytes, 0);
    rig.faults.clear();
    let held = take(&rig.manager, 3);
    drop(held);
    finish(rig);

    // EIO on one bind under `auto`: the next page kind is tried, and the fallback is counted.
    let rig = new_rig();
    rig.faults.inject(Fault::nth(Op::Bind, 1, libc::EIO));
    let held = take(&rig.manager, 3);
    let st = rig.manager.stats();
    assert_eq!(st.nodes[0].page_kind_fallbacks, 1);
    assert_eq!((st.nodes[0].regions_2m, st.nodes[0].regions_thp), (0, 1), "2m failed at bind, thp was used");
    assert_eq!(held[0].page_kind(), PageKind::Thp);
    drop(held);
    finish(rig);

    // Strict with one kind: the bind failure is the error.
    let rig = rig_with(HeapSource::new(), Config::builder().strict(true).huge_pages(PagePolicy::Only(PageKind::Small)));
    rig.faults.inject(Fault::nth(Op::Bind, 1, libc::EIO));
    assert!(rig.manager.allocate(SEG).unwrap_err().to_string().contains("mbind (injected)"));
    let held = take(&rig.manager, 1);
    drop(held);
    finish(rig);
}

#[test]
fn a_failed_prefault_unmaps_and_reports() {
    let rig =
        rig_with(HeapSource::new(), Config::builder().strict(true).huge_pages(PagePolicy::Only(PageKind::Huge2M)));
    rig.faults.inject(Fault::nth(Op::Populate, 1, libc::EFAULT));
    match rig.manager.allocate(SEG).unwrap_err() {
        AllocError::Region(e) => {
            assert!(
                matches!(*e, RegionError::HugePagesExhausted { node, kind: PageKind::Huge2M, .. } if node == NodeId::new(0)),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rig.heap.live_mappings(), 0, "the half-made region was unmapped");
    let held = take(&rig.manager, PER_REGION + 1);
    intact(&held);
    drop(held);
    finish(rig);
}

#[test]
fn a_failed_decommit_keeps_the_region_committed_and_counted() {
    let rig = new_rig();
    drop(take(&rig.manager, 2 * PER_REGION));
    rig.faults.inject(Fault::always(Op::Decommit, libc::EIO));
    assert_eq!(rig.manager.purge(), 0, "nothing could be decommitted");
    let st = rig.manager.stats();
    assert_eq!(st.total_committed_bytes, 2 * REGION as u64, "budget still counts what is still committed");
    assert_eq!((st.nodes[0].decommits, st.nodes[0].free_regions_committed), (0, 2));
    rig.faults.clear();
    assert_eq!(rig.manager.purge(), 2 * REGION);
    let held = take(&rig.manager, 1);
    drop(held);
    finish(rig);
}

#[test]
fn a_failed_recommit_drops_the_region_and_maps_a_fresh_one() {
    let rig = new_rig();
    drop(take(&rig.manager, PER_REGION));
    assert_eq!(rig.manager.purge(), REGION);
    assert_eq!(rig.heap.live_mappings(), 1, "decommitted, still mapped");
    rig.faults.inject(Fault::nth(Op::Populate, 1, libc::ENOMEM)); // the recommit
    let held = take(&rig.manager, 2);
    let st = rig.manager.stats();
    assert_eq!((st.nodes[0].recommit_failures, st.nodes[0].regions_mapped), (1, 2));
    assert_eq!(st.nodes[0].mapped_bytes, REGION as u64, "the failed region was unmapped");
    assert_eq!(st.total_committed_bytes, REGION as u64);
    assert_eq!(rig.heap.live_mappings(), 1);
    intact(&held);
    drop(held);
    finish(rig);
}

#[test]
fn huge_pages_running_out_mid_run_fall_back_in_auto_and_fail_in_strict() {
    let node = NodeId::new(0);
    // Two regions' worth of 2 MiB pages.
    let rig = rig_with(HeapSource::new().with_huge_pages(node, PageKind::Huge2M, 2 * REGION as u64), Config::builder());
    let held = take(&rig.manager, 3 * PER_REGION);
    let st = rig.manager.stats();
    assert_eq!((st.nodes[0].regions_2m, st.nodes[0].regions_thp), (2, 1));
    assert_eq!(st.nodes[0].page_kind_fallbacks, 1);
    assert_eq!(held.last().unwrap().page_kind(), PageKind::Thp);
    assert_eq!(held[0].page_kind(), PageKind::Huge2M);
    intact(&held);
    drop(held);
    finish(rig);

    let rig = rig_with(
        HeapSource::new().with_huge_pages(node, PageKind::Huge2M, 2 * REGION as u64),
        Config::builder().strict(true).huge_pages(PagePolicy::Only(PageKind::Huge2M)),
    );
    let held = take(&rig.manager, 2 * PER_REGION);
    let err = rig.manager.allocate(SEG).unwrap_err();
    assert_eq!(
        err.to_string().split(';').next().unwrap(),
        "node 0: requested 2 MiB in 2 MiB pages, 0 MiB free",
        "strict names the node, the page size and the numbers"
    );
    assert_eq!(rig.manager.stats().total_committed_bytes, 2 * REGION as u64);
    intact(&held);
    drop(held);
    finish(rig);
}

#[test]
fn a_failed_unmap_at_drop_is_logged_not_a_crash() {
    let rig = new_rig();
    drop(take(&rig.manager, 1));
    rig.faults.inject(Fault::always(Op::Unmap, libc::EINVAL));
    let Rig { heap, faults, manager } = rig;
    drop(manager); // must not panic
    assert_eq!(faults.injected(), 1);
    assert_eq!(heap.live_mappings(), 1, "the region's address space is leaked, and only that");
}

/// A page source whose mappings land at 2^48, above what a segment handle can carry (it packs
/// its node index there). Never touched: `map_region` must refuse the region before carving.
#[derive(Debug, Default)]
struct HighSource {
    unmapped: std::sync::atomic::AtomicUsize,
}

impl PageSource for HighSource {
    fn name(&self) -> &'static str {
        "high"
    }

    fn map(
        &self,
        _len: usize,
        _kind: PageKind,
        _node: NodeId,
    ) -> Result<std::ptr::NonNull<u8>, numaseg::numa::OsError> {
        Ok(std::ptr::NonNull::new(std::ptr::without_provenance_mut(1 << 48)).unwrap())
    }

    unsafe fn unmap(&self, _addr: std::ptr::NonNull<u8>, _len: usize) -> Result<(), numaseg::numa::OsError> {
        self.unmapped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn bind(
        &self,
        _addr: std::ptr::NonNull<u8>,
        _len: usize,
        _node: NodeId,
        _mode: numaseg::numa::BindMode,
    ) -> Result<(), numaseg::numa::OsError> {
        Ok(())
    }

    fn populate(
        &self,
        _addr: std::ptr::NonNull<u8>,
        _len: usize,
        _kind: PageKind,
        _node: NodeId,
    ) -> Result<(), numaseg::numa::OsError> {
        Ok(())
    }

    unsafe fn decommit(&self, _addr: std::ptr::NonNull<u8>, _len: usize) -> Result<(), numaseg::numa::OsError> {
        Ok(())
    }

    fn lock(&self, _addr: std::ptr::NonNull<u8>, _len: usize) -> Result<(), numaseg::numa::OsError> {
        Ok(())
    }

    fn memlock(&self) -> numaseg::numa::MemlockStatus {
        numaseg::numa::MemlockStatus { limit: None, locked: 0 }
    }

    fn huge_pages_free(&self, _node: NodeId, _kind: PageKind) -> Option<u64> {
        None
    }

    fn thp_mode(&self) -> numaseg::numa::ThpMode {
        HeapSource::new().thp_mode()
    }

    fn cgroup_limits(&self) -> numaseg::numa::cgroup::CgroupLimits {
        numaseg::numa::cgroup::CgroupLimits::default()
    }

    fn supports_placement(&self) -> bool {
        false
    }
}

#[test]
fn a_region_mapped_above_what_a_handle_carries_is_refused_with_the_numbers() {
    let source = Arc::new(HighSource::default());
    let config = Config::builder()
        .region_size(ByteSize(REGION as u64))
        .retain_free(ByteSize(0))
        .huge_pages(PagePolicy::Only(PageKind::Small))
        .build_from::<_, &str, &str>([])
        .unwrap();
    let manager =
        ArenaManager::with_source(&config, Topology::pretend(1, 1 << 30), Arc::clone(&source) as Arc<dyn PageSource>)
            .unwrap();
    let err = manager.allocate(SEG).unwrap_err();
    assert!(
        matches!(err, AllocError::AddressOutOfRange { base, end, limit, .. }
            if base == 1 << 48 && end == (1 << 48) + REGION && limit == 1 << 48),
        "{err:?}"
    );
    assert!(err.to_string().contains("0x1000000000000"), "{err}");
    assert_eq!(source.unmapped.load(std::sync::atomic::Ordering::Relaxed), 1, "the region was unmapped");
    let stats = manager.stats();
    assert_eq!((stats.used_segments(), stats.nodes[0].mapped_bytes), (0, 0), "nothing carved or kept");
}
