//! The allocator core: pinned threads get node-local segments, frees go home, budgets push
//! allocations to another node (or fail in strict mode).

use numaseg::config::{ByteSize, MemoryAmount};
use numaseg::numa::{NodeId, Topology};
use numaseg::{AllocError, ArenaManager, Config};

use crate::{MIB, assert_on, nodes_with_cpus, pin, require_nodes};

#[test]
fn a_thread_pinned_to_node_k_gets_segments_on_node_k() {
    let m = ArenaManager::new(&Config::default()).unwrap();
    let t = m.topology().clone();
    for node in nodes_with_cpus(&t) {
        std::thread::scope(|s| {
            s.spawn(|| {
                pin(&t, node);
                assert_eq!(m.thread_node(), node);
                for size in [4096, 64 << 10, MIB, 8 * MIB] {
                    let mut segment = m.allocate(size).unwrap();
                    segment.as_mut_slice().fill(1);
                    assert_eq!(segment.node(), node);
                    assert_on(&segment, node);
                }
                println!("{node}: placement verified for 4 KiB, 64 KiB, 1 MiB and 8 MiB segments");
            })
            .join()
            .unwrap();
        });
    }
    let st = m.stats();
    assert_eq!(st.remote_allocations(), 0);
}

#[test]
fn a_segment_of_node_1_freed_on_node_2_goes_home() {
    let m = ArenaManager::new(&Config::default()).unwrap();
    let t = m.topology().clone();
    if !require_nodes(&t, 3) {
        return;
    }
    let (one, two) = (NodeId::new(1), NodeId::new(2));
    let class = 4; // 64 KiB
    let segment = std::thread::scope(|s| {
        s.spawn(|| {
            pin(&t, one);
            m.allocate(64 << 10).unwrap()
        })
        .join()
        .unwrap()
    });
    assert_on(&segment, one);
    let addr = segment.as_ptr() as usize;
    let pooled_before = m.stats().node(one).unwrap().classes[class].pooled_segments;
    std::thread::scope(|s| {
        s.spawn(|| {
            pin(&t, two);
            assert_eq!(m.thread_node(), two);
            drop(segment);
        })
        .join()
        .unwrap();
    });
    let st = m.stats();
    assert_eq!(st.node(two).unwrap().classes[class].foreign_frees, 1);
    assert_eq!(st.node(one).unwrap().classes[class].pooled_segments, pooled_before + 1);
    std::thread::scope(|s| {
        s.spawn(|| {
            pin(&t, one);
            let back: Vec<_> = (0..=pooled_before).map(|_| m.allocate(64 << 10).unwrap()).collect();
            let again = back.iter().find(|s| s.as_ptr() as usize == addr).expect("the segment came home to node 1");
            assert_eq!(again.node(), one);
            assert_on(again, one);
        })
        .join()
        .unwrap();
    });
    println!("a node-1 segment freed on node 2 went home to node 1");
}

#[test]
fn node_3_out_of_budget_goes_remote_or_fails_when_strict() {
    let t = Topology::detect().unwrap();
    if !require_nodes(&t, 4) {
        return;
    }
    let three = NodeId::new(3);
    for strict in [false, true] {
        let config = Config::builder()
            .node_memory_limit(MemoryAmount::Bytes(ByteSize(32 << 20)))
            .strict(strict)
            .build_from::<_, &str, &str>([])
            .unwrap();
        let m = ArenaManager::new(&config).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                pin(&t, three);
                let first = m.allocate(32 * MIB).unwrap();
                assert_eq!(first.node(), three);
                assert_on(&first, three);
                match m.allocate(32 * MIB) {
                    Ok(remote) => {
                        assert!(!strict, "strict mode must not go remote");
                        assert_ne!(remote.node(), three);
                        assert_on(&remote, remote.node());
                        assert_eq!(m.stats().remote_allocations(), 1);
                        println!("node 3 out of budget: remote segment from {}, counted", remote.node());
                    }
                    Err(AllocError::NodeBudget { node, requested, available, limit }) => {
                        assert!(strict, "non-strict mode goes remote");
                        assert_eq!((node, requested, available, limit), (three, 32 * MIB, 0, 32 * MIB));
                        assert_eq!(m.stats().remote_allocations(), 0);
                        println!(
                            "node 3 out of budget, strict: {}",
                            AllocError::NodeBudget { node, requested, available, limit }
                        );
                    }
                    Err(other) => panic!("{other}"),
                }
            })
            .join()
            .unwrap();
        });
    }
}

#[test]
fn owner_pages_bound_to_a_node_land_there_via_allocate_on() {
    let m = ArenaManager::new(&Config::default()).unwrap();
    for node in m.nodes() {
        let segment = m.allocate_on(node, 256 << 10).unwrap();
        assert_eq!(segment.node(), node);
        assert_on(&segment, node);
    }
}
