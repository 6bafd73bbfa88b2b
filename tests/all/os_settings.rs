//! What the OS says reaches the manager only through its `PageSource`, read once at build: the
//! cgroup memory limit (a fractional budget is taken of it) and the THP mode. The heap and the
//! fault-injection sources simulate both, so these run without a cgroup or root.

use std::sync::Arc;

use numaseg::numa::cgroup::{CgroupLimits, Limit};
use numaseg::numa::fault::FaultySource;
use numaseg::numa::sys::heap::HeapSource;
use numaseg::numa::{PageKind, PagePolicy, PageSource, RegionError, ThpMode, Topology};
use numaseg::{AllocError, ArenaManager, BuildError, Config};

const REGION: u64 = 4 << 20;

fn config(memory_limit: &str) -> Config {
    Config::builder().build_from([("NUMASEG_REGION_SIZE", "4MiB"), ("NUMASEG_MEMORY_LIMIT", memory_limit)]).unwrap()
}

fn limited(bytes: u64) -> CgroupLimits {
    CgroupLimits { memory: Some(Limit::simulated(bytes)), ..CgroupLimits::default() }
}

fn build(config: &Config, source: Arc<dyn PageSource>) -> Result<ArenaManager, BuildError> {
    // 64 GiB of node memory: without a cgroup limit, half of it is far above one region.
    ArenaManager::with_source(config, Topology::pretend(1, 64 << 30), source)
}

#[test]
fn a_simulated_cgroup_limit_below_the_budget_refuses_the_build_as_a_real_one_does() {
    // Half of a 6 MiB cgroup limit is 3 MiB: less than one 4 MiB region.
    let expect = |err: BuildError| match err {
        BuildError::BudgetBelowRegion { variable, budget, region_size, .. } => {
            assert_eq!((variable, budget as u64, region_size as u64), ("NUMASEG_MEMORY_LIMIT", 3 << 20, REGION));
            err.to_string()
        }
        other => panic!("expected BudgetBelowRegion, got {other:?}"),
    };
    let heap =
        expect(build(&config("0.5"), Arc::new(HeapSource::new().with_cgroup_limits(limited(6 << 20)))).unwrap_err());
    let faulty = FaultySource::new(Arc::new(HeapSource::new())).with_cgroup_limits(limited(6 << 20));
    let through_faults = expect(build(&config("0.5"), Arc::new(faulty)).unwrap_err());
    // The same refusal, word for word, as a budget of those 3 MiB written out with no cgroup.
    let written = expect(build(&config("3MiB"), Arc::new(HeapSource::new())).unwrap_err());
    assert_eq!((heap.as_str(), through_faults.as_str()), (written.as_str(), written.as_str()));
    // Without the limit the same configuration builds.
    assert!(build(&config("0.5"), Arc::new(HeapSource::new())).is_ok());
}

#[test]
fn a_fractional_budget_is_taken_of_the_simulated_cgroup_limit() {
    let manager = build(&config("0.5"), Arc::new(HeapSource::new().with_cgroup_limits(limited(1 << 30)))).unwrap();
    assert_eq!(manager.memory_limit().map(|l| l.bytes), Some(1 << 30));
    assert_eq!(manager.stats().total_budget_bytes, Some(512 << 20));
    // A budget in bytes is not cut to the limit (only warned about).
    let manager = build(&config("2GiB"), Arc::new(HeapSource::new().with_cgroup_limits(limited(1 << 30)))).unwrap();
    assert_eq!(manager.stats().total_budget_bytes, Some(2 << 30));
    // No limit simulated: none reported, half of the nodes' memory.
    let manager = build(&config("0.5"), Arc::new(HeapSource::new())).unwrap();
    assert!(manager.memory_limit().is_none());
    assert_eq!(manager.stats().total_budget_bytes, Some(32 << 30));
}

#[test]
fn the_manager_reports_the_simulated_thp_mode_and_maps_by_it() {
    for mode in [ThpMode::Always, ThpMode::Madvise, ThpMode::Never, ThpMode::Unavailable] {
        let heap = build(&config("0.5"), Arc::new(HeapSource::new().with_thp_mode(mode))).unwrap();
        assert_eq!(heap.thp_mode(), mode);
        let faulty = FaultySource::new(Arc::new(HeapSource::new())).with_thp_mode(mode);
        assert_eq!(build(&config("0.5"), Arc::new(faulty)).unwrap().thp_mode(), mode);
    }
    // Regions of the THP kind follow the simulated mode, as they follow the kernel's: refused in
    // strict mode, else base pages instead.
    let thp_only = |strict: &str| {
        Config::builder()
            .huge_pages(PagePolicy::Only(PageKind::Thp))
            .build_from([("NUMASEG_REGION_SIZE", "4MiB"), ("NUMASEG_STRICT", strict)])
            .unwrap()
    };
    let never = |strict| build(&thp_only(strict), Arc::new(HeapSource::new().with_thp_mode(ThpMode::Never))).unwrap();
    match never("on").allocate(4096).map(drop).unwrap_err() {
        AllocError::Region(e) => assert!(
            matches!(*e, RegionError::ThpUnavailable { mode: ThpMode::Never, .. }),
            "expected ThpUnavailable, got {e:?}"
        ),
        other => panic!("expected a region error, got {other:?}"),
    }
    let regions = |m: &ArenaManager| {
        let n = &m.stats().nodes[0];
        (n.regions_thp, n.regions_small)
    };
    let fell_back = never("off");
    drop(fell_back.allocate(4096).unwrap());
    assert_eq!(regions(&fell_back), (0, 1));
    let madvise = build(&thp_only("on"), Arc::new(HeapSource::new().with_thp_mode(ThpMode::Madvise))).unwrap();
    drop(madvise.allocate(4096).unwrap());
    assert_eq!(regions(&madvise), (1, 0));
}
