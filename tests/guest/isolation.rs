//! Isolation (`NUMASEG_ZERO`) on a real multi-node kernel: clearing whole huge pages through
//! `PageSource::zero_pages` (`MADV_DONTNEED`, then populate) re-faults them on the node the
//! region is bound to, and a cleared segment handed to the next owner stays on its node.

use std::ptr::NonNull;

use numaseg::numa::sys::linux::LinuxSource;
use numaseg::numa::{HUGE_2M, PageSource};
use numaseg::zero::ZeroMode;
use numaseg::{ArenaManager, Config};

use crate::{MIB, assert_on, nodes_with_cpus, pin};

#[test]
fn zero_pages_refaults_huge_pages_on_the_bound_node() {
    let m = ArenaManager::new(&Config::default()).unwrap();
    let t = m.topology().clone();
    let source = LinuxSource::new();
    let nodes = nodes_with_cpus(&t);
    for (i, &node) in nodes.iter().enumerate() {
        // The clearing and the re-fault run on another node's CPUs: only the region's binding
        // can bring the pages back to `node` (first touch would put them on `other`).
        let other = nodes[(i + 1) % nodes.len()];
        for size in [HUGE_2M, 8 * MIB] {
            let mut segment = std::thread::scope(|s| {
                s.spawn(|| {
                    pin(&t, node);
                    let mut segment = m.allocate(size).unwrap();
                    segment.as_mut_slice().fill(0xA5);
                    assert_on(&segment, node);
                    segment
                })
                .join()
                .unwrap()
            });
            std::thread::scope(|s| {
                s.spawn(|| {
                    pin(&t, other);
                    let kind = segment.page_kind();
                    let ptr = NonNull::new(segment.as_mut_slice().as_mut_ptr()).unwrap();
                    // SAFETY: the segment is ours, whole 2 MiB pages of a live mapping, and
                    // nothing else touches it while it is cleared.
                    unsafe { source.zero_pages(ptr, size, kind, node) }.unwrap();
                    assert!(segment.as_slice().iter().all(|&b| b == 0), "{size} bytes on {node} not cleared");
                    assert_on(&segment, node);
                    println!(
                        "{node}: {} MiB of {kind} pages cleared by zero_pages from {other}, placement kept",
                        size / MIB
                    );
                })
                .join()
                .unwrap();
            });
            drop(segment);
        }
    }
}

#[test]
fn a_cleared_segment_stays_on_its_node() {
    for mode in [ZeroMode::OnRelease, ZeroMode::OnAllocate] {
        let config = Config::builder().zero(mode).build_from::<_, &str, &str>([]).unwrap();
        let m = ArenaManager::new(&config).unwrap();
        let t = m.topology().clone();
        for node in nodes_with_cpus(&t) {
            std::thread::scope(|s| {
                s.spawn(|| {
                    pin(&t, node);
                    let mut a = m.allocate(HUGE_2M).unwrap();
                    a.as_mut_slice().fill(0xA5);
                    drop(a);
                    let b = m.allocate(HUGE_2M).unwrap();
                    assert!(b.as_slice().iter().all(|&x| x == 0), "{mode} on {node}: B saw A's bytes");
                    assert_on(&b, node);
                })
                .join()
                .unwrap();
            });
        }
    }
}
