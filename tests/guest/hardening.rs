//! Real exhaustion on the multi-node kernel: node 2 with only a few huge pages, and processes
//! under a cgroup memory limit, with budgets below and above it, per page kind.

use std::sync::{Mutex, OnceLock};

use numaseg::config::{ByteSize, MemoryAmount};
use numaseg::numa::hugepages::Reservation;
use numaseg::numa::{NodeId, PageKind, PagePolicy, RegionError, Topology};
use numaseg::{AllocError, ArenaManager, Config};

use crate::{MIB, assert_on, in_guest, pin, require_nodes};

/// Warnings logged by numaseg, captured by a process-wide subscriber.
fn warnings() -> &'static Mutex<Vec<String>> {
    static LOG: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    LOG.get_or_init(|| {
        struct Capture;
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                warnings().lock().unwrap().push(String::from_utf8_lossy(buf).into_owned());
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
        Mutex::new(Vec::new())
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn node_2_running_out_of_huge_pages_falls_back_once_logged_or_fails_when_strict() {
    let t = Topology::detect().unwrap();
    if !require_nodes(&t, 3) || !is_root() {
        return;
    }
    let two = NodeId::new(2);
    let _pool = Reservation::set(two, PageKind::Huge2M, 4).unwrap(); // 8 MiB: two 4 MiB regions
    warnings().lock().unwrap().clear();
    let auto = Config::builder().region_size(ByteSize(4 << 20)).build_from::<_, &str, &str>([]).unwrap();
    let m = ArenaManager::new(&auto).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            pin(&t, two);
            let segments: Vec<_> = (0..4).map(|_| m.allocate(4 * MIB).unwrap()).collect();
            let kinds: Vec<PageKind> = segments.iter().map(numaseg::Segment::page_kind).collect();
            assert_eq!(kinds, vec![PageKind::Huge2M, PageKind::Huge2M, PageKind::Thp, PageKind::Thp]);
            for s in &segments {
                assert_on(s, two); // the fallback regions are still node 2's
            }
        })
        .join()
        .unwrap();
    });
    let st = m.stats();
    let n = st.node(two).unwrap();
    assert_eq!((n.regions_2m, n.regions_thp, n.page_kind_fallbacks), (2, 2, 2), "{n:?}");
    let log = warnings().lock().unwrap().join("");
    let lines = log.lines().filter(|l| l.contains("node 2: fell back from 2m to thp pages")).count();
    assert_eq!(lines, 1, "two fallbacks, logged once:\n{log}");
    assert!(log.contains("node 2: requested 4 MiB in 2 MiB pages, 0 MiB free"), "{log}");
    println!("node 2, auto: 2 regions of 2m, then 2 of thp; fallback counted twice, logged once");
    drop(m);

    let strict = Config::builder()
        .region_size(ByteSize(4 << 20))
        .huge_pages(PagePolicy::Only(PageKind::Huge2M))
        .strict(true)
        .build_from::<_, &str, &str>([])
        .unwrap();
    let m = ArenaManager::new(&strict).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            pin(&t, two);
            let held: Vec<_> = (0..2).map(|_| m.allocate(4 * MIB).unwrap()).collect();
            match m.allocate(4 * MIB) {
                Err(AllocError::Region(e)) => {
                    assert!(matches!(*e, RegionError::HugePagesExhausted { node, kind: PageKind::Huge2M, .. } if node == two), "{e}");
                    let text = e.to_string();
                    assert!(text.starts_with("node 2: requested 4 MiB in 2 MiB pages, 0 MiB free"), "{text}");
                    println!("node 2, strict: {text}");
                }
                other => panic!("strict must fail cleanly: {other:?}"),
            }
            drop(held);
        })
        .join()
        .unwrap();
    });
}

const CGROUP: &str = "/sys/fs/cgroup/numaseg-guest";
const LIMIT: usize = 96 << 20;

/// How a child under the cgroup ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// It allocated to the budget, then got a budget error, and exited normally.
    BudgetError,
    /// It allocated everything it asked for.
    AllAllocated,
    /// Another error ended its allocations (the text is printed by the child).
    OtherError,
    /// Killed by a signal (SIGKILL: the OOM killer).
    Killed(i32),
}

fn oom_kills() -> u64 {
    let events = std::fs::read_to_string(format!("{CGROUP}/memory.events")).unwrap();
    events.lines().find_map(|l| l.strip_prefix("oom_kill ")).unwrap().trim().parse().unwrap()
}

/// Forks a child that joins the cgroup, builds a manager from `config` and allocates `want`
/// bytes of 1 MiB segments, touching them.
fn in_cgroup_child(config: &Config, want: usize) -> Outcome {
    // SAFETY: the child runs only the closure below (allocations, a few file writes) and leaves
    // with `_exit`; this test binary runs its tests one at a time.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = (|| {
            std::fs::write(format!("{CGROUP}/cgroup.procs"), std::process::id().to_string()).ok()?;
            let m = ArenaManager::new(config).ok()?;
            let mut held = Vec::new();
            while held.len() * MIB < want {
                match m.allocate(MIB) {
                    Ok(mut s) => {
                        s.as_mut_slice().fill(1);
                        held.push(s);
                    }
                    Err(AllocError::TotalBudget { .. } | AllocError::NodeBudget { .. }) => return Some(10),
                    Err(e) => {
                        println!("  child: {e}");
                        return Some(11);
                    }
                }
            }
            Some(12)
        })()
        .unwrap_or(13);
        // SAFETY: leaving the child without destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &raw mut status, 0) };
    if libc::WIFSIGNALED(status) {
        return Outcome::Killed(libc::WTERMSIG(status));
    }
    match libc::WEXITSTATUS(status) {
        10 => Outcome::BudgetError,
        12 => Outcome::AllAllocated,
        11 => Outcome::OtherError,
        other => panic!("child set-up failed ({other})"),
    }
}

fn config(kind: PageKind, budget: MemoryAmount) -> Config {
    Config::builder()
        .region_size(ByteSize(4 << 20))
        .huge_pages(PagePolicy::Only(kind))
        .strict(true)
        .memory_limit(budget)
        .node_memory_limit(MemoryAmount::Unlimited)
        .retain_free(ByteSize(0))
        .build_from::<_, &str, &str>([])
        .unwrap()
}

#[test]
fn a_budget_below_the_cgroup_limit_never_meets_the_oom_killer() {
    if !in_guest() || !is_root() {
        return; // needs a cgroup of its own: the guest gives us one
    }
    let _ = std::fs::create_dir(CGROUP);
    std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+memory").unwrap();
    std::fs::write(format!("{CGROUP}/memory.max"), LIMIT.to_string()).unwrap();
    let before = oom_kills();

    // The default budget is a fraction: taken of memory.max, it stays below the limit.
    let default = Config::builder()
        .region_size(ByteSize(4 << 20))
        .huge_pages(PagePolicy::Only(PageKind::Small))
        .build_from::<_, &str, &str>([])
        .unwrap();
    assert_eq!(in_cgroup_child(&default, 4 * LIMIT), Outcome::BudgetError);
    // An explicit budget below the limit, base pages and THP.
    for kind in [PageKind::Small, PageKind::Thp] {
        let c = config(kind, MemoryAmount::Bytes(ByteSize(64 << 20)));
        assert_eq!(in_cgroup_child(&c, 4 * LIMIT), Outcome::BudgetError, "{kind}");
    }
    assert_eq!(oom_kills(), before, "no OOM kill below the limit");
    println!("below the limit: default and explicit budgets end in a budget error, no OOM kill");

    // Above the limit (recorded in docs/RELIABILITY.md): base pages and THP are charged to
    // memory.max as they are faulted in, so the prefault of a region past the limit meets the
    // OOM killer; hugetlb pages are not charged to memory.max at all (the hugetlb controller
    // limits them, and refuses the mapping cleanly when it does).
    for kind in [PageKind::Small, PageKind::Thp] {
        let c = config(kind, MemoryAmount::Bytes(ByteSize(256 << 20)));
        let outcome = in_cgroup_child(&c, 200 << 20);
        assert_eq!(outcome, Outcome::Killed(libc::SIGKILL), "{kind} above the limit");
        println!("above the limit, {kind}: {outcome:?}");
    }
    assert!(oom_kills() >= before + 2);
    let c = config(PageKind::Huge2M, MemoryAmount::Bytes(ByteSize(256 << 20)));
    let outcome = in_cgroup_child(&c, 112 << 20);
    assert_eq!(outcome, Outcome::AllAllocated, "2 MiB hugetlb pages are not charged to memory.max");
    println!("above the limit, 2m: {outcome:?} (hugetlb is not charged to memory.max)");
    let _ = std::fs::remove_dir(CGROUP);
}
