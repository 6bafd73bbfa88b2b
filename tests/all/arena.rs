//! The allocator core through its public API: sizes, budgets, remote fallback, foreign frees,
//! bulk calls, adaptive caches, stealing, thread exit, purge and decommit, stats.

use numaseg::config::{ByteSize, MemoryAmount, NodePolicy};
use numaseg::numa::placement::{self, Backing};
use numaseg::numa::{NodeId, PageKind, PagePolicy};
use numaseg::{AllocError, ArenaManager, BuildError, Config};

const MIB: usize = 1 << 20;

fn config() -> numaseg::config::ConfigBuilder {
    Config::builder()
}

fn build(builder: numaseg::config::ConfigBuilder) -> Config {
    builder.build_from::<_, &str, &str>([]).unwrap()
}

#[test]
fn sizes_round_up_to_classes_and_align() {
    let m = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    for (asked, got) in [(1, 4096), (4096, 4096), (4097, 8192), (20_000, 32 << 10), (32 * MIB, 32 * MIB)] {
        let s = m.allocate(asked).unwrap();
        assert_eq!(s.len(), got);
        assert_eq!(s.as_ptr() as usize % got.min(2 * MIB), 0, "aligned to its size up to 2 MiB");
        assert_eq!(s.size_class().size(), got);
    }
    for bad in [0, 32 * MIB + 1, usize::MAX] {
        match m.allocate(bad) {
            Err(AllocError::BadSize { requested, max }) => assert_eq!((requested, max), (bad, 32 * MIB)),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn segments_are_writable_and_independent() {
    let m = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    let mut segments: Vec<_> = (0..100).map(|_| m.allocate(8192).unwrap()).collect();
    for (i, s) in segments.iter_mut().enumerate() {
        s.as_mut_slice().fill(u8::try_from(i).unwrap());
    }
    for (i, s) in segments.iter().enumerate() {
        assert!(s.as_slice().iter().all(|&b| usize::from(b) == i));
    }
    let mut addrs: Vec<usize> = segments.iter().map(|s| s.as_ptr() as usize).collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), 100);
}

#[test]
fn node_budget_error_carries_the_numbers() {
    let c = build(config().node_memory_limit(MemoryAmount::Bytes(ByteSize(64 << 20))));
    let m = ArenaManager::heap_backed(&c, 1).unwrap();
    let a = m.allocate(32 * MIB).unwrap();
    let b = m.allocate(32 * MIB).unwrap();
    match m.allocate(32 * MIB) {
        Err(AllocError::NodeBudget { node, requested, available, limit }) => {
            assert_eq!((node, requested, available, limit), (NodeId::new(0), 32 * MIB, 0, 64 * MIB));
        }
        other => panic!("{other:?}"),
    }
    let text = m.allocate(4096).unwrap_err().to_string();
    assert_eq!(
        text,
        "node 0: budget exhausted: a 33554432-byte region was needed, 0 bytes available of 67108864 (NUMASEG_NODE_MEMORY_LIMIT)"
    );
    drop((a, b));
    // Freed memory is reused within the same budget.
    assert!(m.allocate(32 * MIB).is_ok());
}

#[test]
fn total_budget_error_carries_the_numbers() {
    let c = build(config().memory_limit(MemoryAmount::Bytes(ByteSize(64 << 20))).strict(true));
    let m = ArenaManager::heap_backed(&c, 2).unwrap();
    let _a = m.allocate_on(NodeId::new(0), 32 * MIB).unwrap();
    let _b = m.allocate_on(NodeId::new(1), 32 * MIB).unwrap();
    match m.allocate_on(NodeId::new(1), 32 * MIB) {
        Err(AllocError::TotalBudget { node, requested, available, limit }) => {
            assert_eq!((node, requested, available, limit), (NodeId::new(1), 32 * MIB, 0, 64 * MIB));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.stats().total_committed_bytes, 64 << 20);
}

#[test]
fn a_budget_below_one_region_is_refused_at_build() {
    let c = build(config().node_memory_limit(MemoryAmount::Bytes(ByteSize(16 << 20))));
    match ArenaManager::heap_backed(&c, 1) {
        Err(BuildError::BudgetBelowRegion { variable, budget, region_size, .. }) => {
            assert_eq!((variable, budget, region_size), ("NUMASEG_NODE_MEMORY_LIMIT", 16 * MIB, 32 * MIB));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_nodes_are_refused() {
    let c = build(config().nodes(numaseg::config::NodeSelection::List("0,5".parse().unwrap())));
    assert!(matches!(ArenaManager::heap_backed(&c, 2), Err(BuildError::UnknownNode { variable: "NUMASEG_NODES", .. })));
    let c = build(config().node_policy(NodePolicy::Bind(NodeId::new(3))));
    assert!(matches!(
        ArenaManager::heap_backed(&c, 2),
        Err(BuildError::UnknownNode { variable: "NUMASEG_NODE_POLICY", .. })
    ));
    let m = ArenaManager::heap_backed(&Config::default(), 2).unwrap();
    let err = m.allocate_on(NodeId::new(7), 4096).unwrap_err();
    assert_eq!(err.to_string(), "node 7 is not one of the nodes in use (0-1)");
    assert!(m.node_allocator(NodeId::new(9)).is_err());
    assert!(m.set_thread_node(NodeId::new(2)).is_err());
}

#[test]
fn out_of_budget_home_goes_remote_and_counts_it_unless_strict() {
    for strict in [false, true] {
        let c = build(config().node_memory_limit(MemoryAmount::Bytes(ByteSize(32 << 20))).strict(strict));
        let m = ArenaManager::heap_backed(&c, 3).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                m.set_thread_node(NodeId::new(0)).unwrap();
                let home = m.allocate(32 * MIB).unwrap();
                assert_eq!(home.node(), NodeId::new(0));
                let next = m.allocate(32 * MIB);
                if strict {
                    assert!(
                        matches!(next, Err(AllocError::NodeBudget { node, .. }) if node == NodeId::new(0)),
                        "{next:?}"
                    );
                    assert_eq!(m.stats().remote_allocations(), 0);
                } else {
                    let remote = next.unwrap();
                    assert_ne!(remote.node(), NodeId::new(0));
                    let stats = m.stats();
                    assert_eq!(stats.remote_allocations(), 1);
                    assert_eq!(stats.node(NodeId::new(0)).unwrap().classes[13].remote_allocations, 1);
                    // It goes back to its own node, not to node 0.
                    let remote_node = remote.node();
                    drop(remote);
                    let st = m.stats();
                    assert_eq!(st.node(remote_node).unwrap().classes[13].pooled_segments, 1);
                }
            });
        });
    }
}

#[test]
fn bulk_into_handles_is_all_or_nothing_and_comes_back() {
    let config = Config::builder()
        .memory_limit(numaseg::config::MemoryAmount::Bytes(numaseg::config::ByteSize(32 << 20)))
        .build_from::<_, &str, &str>([])
        .unwrap();
    let m = ArenaManager::heap_backed(&config, 1).unwrap();
    let other = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    let mut held = vec![m.allocate(64 << 10).unwrap()];
    m.allocate_bulk_into(64 << 10, 100, &mut held).unwrap();
    assert_eq!(held.len(), 101);
    let addrs: std::collections::HashSet<usize> = held.iter().map(|s| s.as_ptr() as usize).collect();
    assert_eq!(addrs.len(), 101, "distinct segments");
    assert!(held.iter().all(|s| s.len() == 64 << 10 && s.node() == NodeId::new(0)));
    // More than the budget holds: refused, and `held` is as it was.
    assert!(matches!(
        m.allocate_bulk_into(64 << 10, 1000, &mut held),
        Err(AllocError::Bulk { .. }) | Err(AllocError::TotalBudget { .. }) | Err(AllocError::NodeBudget { .. })
    ));
    assert_eq!(held.len(), 101);
    assert_eq!(m.stats().used_segments(), 101);
    // A segment of another manager in the vector goes back to its own.
    let mut mixed = std::mem::take(&mut held);
    let stray: Vec<_> = vec![other.allocate(4096).unwrap()];
    let mut all: Vec<numaseg::Segment<'_>> = Vec::new();
    all.append(&mut mixed);
    all.extend(stray);
    m.release_all(&mut all);
    assert!(all.is_empty());
    assert_eq!(m.stats().used_segments(), 0);
    assert_eq!(other.stats().used_segments(), 0);
}

#[test]
fn release_all_gives_a_bulk_back_in_one_pass_and_never_takes_what_is_not_its_own() {
    let m = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    let other = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    let misses =
        |m: &ArenaManager| m.stats().nodes.iter().flat_map(|n| &n.classes).map(|c| c.cache_misses).sum::<u64>();
    let mut held = Vec::new();
    m.allocate_bulk_into(32 << 10, 32, &mut held).unwrap();
    let first: Vec<usize> = held.iter().map(|s| s.as_ptr() as usize).collect();
    m.release_all(&mut held);
    assert!(held.is_empty() && held.capacity() >= 32);
    assert_eq!(m.stats().used_segments(), 0);
    // A segment of the same size from another manager, taken before the bulk below so that
    // the thread's last-used cache is `m`'s when the vector is released.
    let stray = other.allocate(32 << 10).unwrap();
    // The 32 went onto the thread's stack: the next bulk takes the same blocks without a miss.
    let before = misses(&m);
    m.allocate_bulk_into(32 << 10, 32, &mut held).unwrap();
    let mut again: Vec<usize> = held.iter().map(|s| s.as_ptr() as usize).collect();
    let mut sorted = first.clone();
    sorted.sort_unstable();
    again.sort_unstable();
    assert_eq!(again, sorted, "the same blocks, from the stack");
    assert_eq!(misses(&m), before, "no refill");
    // The stray in the middle goes back to its own manager.
    let tail = held.split_off(16);
    held.push(stray);
    held.extend(tail);
    m.release_all(&mut held);
    assert!(held.is_empty());
    assert_eq!(m.stats().used_segments(), 0);
    assert_eq!(other.stats().used_segments(), 0);
    // Two sizes in one vector: each back to its class.
    m.allocate_bulk_into(32 << 10, 8, &mut held).unwrap();
    held.push(m.allocate(64 << 10).unwrap());
    m.allocate_bulk_into(32 << 10, 8, &mut held).unwrap();
    m.release_all(&mut held);
    assert_eq!(m.stats().used_segments(), 0);
    m.purge();
    let st = m.stats();
    assert!(st.nodes.iter().flat_map(|n| &n.classes).all(|c| c.cached_segments + c.pooled_segments == 0));
    // A segment of another node of the same manager and size in the middle goes to its node.
    let two = ArenaManager::heap_backed(&Config::default(), 2).unwrap();
    two.set_thread_node(NodeId::new(0)).unwrap();
    let mut held = vec![two.allocate_on(NodeId::new(1), 32 << 10).unwrap()];
    two.allocate_bulk_into(32 << 10, 16, &mut held).unwrap();
    held.rotate_left(8);
    two.release_all(&mut held);
    two.flush_thread_cache();
    let st = two.stats();
    assert_eq!(st.used_segments(), 0);
    for node in [0, 1] {
        let n = st.node(NodeId::new(node)).unwrap();
        assert_eq!(n.classes.iter().map(|c| c.used_segments).sum::<u64>(), 0, "node {node}");
    }
}

#[test]
fn foreign_frees_go_home_in_batches_and_at_thread_exit() {
    let m = ArenaManager::heap_backed(&Config::default(), 2).unwrap();
    let class = 3; // 32 KiB
    let pooled = |node: u16| m.stats().node(NodeId::new(node)).unwrap().classes[class].pooled_segments;
    let segments: Vec<_> = std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(1)).unwrap();
            (0..100).map(|_| m.allocate(32 << 10).unwrap()).collect()
        })
        .join()
        .unwrap()
    });
    let before = pooled(1);
    std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(0)).unwrap();
            let mut segments = segments;
            // The outbox's threshold is half the class's largest capacity, at most 64.
            for (i, segment) in segments.drain(..64).enumerate() {
                assert_eq!(pooled(1), before, "nothing goes home before the threshold (free {i})");
                drop(segment);
            }
            assert_eq!(pooled(1), before + 64, "the 64th foreign free sent the outbox home as one batch");
            drop(segments); // 36 more wait in the outbox...
            assert_eq!(pooled(1), before + 64);
            let st = m.stats();
            assert_eq!(st.node(NodeId::new(1)).unwrap().classes[class].used_segments, 0, "{st:#?}");
            // Counted on the freeing thread's node: the 64 sent home and the 36 waiting.
            assert_eq!(st.node(NodeId::new(0)).unwrap().classes[class].foreign_frees, 100, "{st:#?}");
        })
        .join()
        .unwrap();
    });
    // ...until the thread exits.
    assert_eq!(pooled(1), before + 100);
    let st = m.stats();
    assert_eq!(st.used_segments(), 0);
    assert_eq!(st.node(NodeId::new(0)).unwrap().classes[class].foreign_frees, 100, "kept past the exit: {st:#?}");
    assert_eq!(st.node(NodeId::new(1)).unwrap().classes[class].foreign_frees, 0, "{st:#?}");
}

#[test]
fn allocate_on_another_node_reuses_the_newest_foreign_free_and_the_stats_follow() {
    // A node-0 thread frees five segments of node 1 (into its outbox for node 1), then asks for
    // one on node 1: it gets the one it freed last, still warm, and the stats count it as used
    // again, no longer as cached in the outbox.
    let m = ArenaManager::heap_backed(&Config::default(), 2).unwrap();
    let class = 3; // 32 KiB
    let segments: Vec<_> = std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(1)).unwrap();
            (0..10).map(|_| m.allocate(32 << 10).unwrap()).collect()
        })
        .join()
        .unwrap()
    });
    std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(0)).unwrap();
            let on_1 = || m.stats().node(NodeId::new(1)).unwrap().classes[class].clone();
            let mut segments = segments;
            let last = segments[4].as_ptr();
            segments.drain(..5).for_each(drop);
            let c = on_1();
            assert_eq!((c.cached_segments, c.used_segments), (5, 5), "five in the outbox: {c:#?}");
            let again = m.allocate_on(NodeId::new(1), 32 << 10).unwrap();
            assert_eq!(again.as_ptr(), last, "the newest foreign free comes back first");
            let c = on_1();
            assert_eq!((c.cached_segments, c.used_segments), (4, 6), "taken out of the outbox: {c:#?}");
            drop(again);
            drop(segments);
        })
        .join()
        .unwrap();
    });
    assert_eq!(m.stats().used_segments(), 0);
}

#[test]
fn an_outbox_goes_home_at_the_second_scan_of_its_threads_slow_path_events() {
    // The outbox's bound in time (`docs/ARCHITECTURE.md`, *Free*): an outbox non-empty at two
    // consecutive idleness scans of its thread — one every `SCAN_INTERVAL` = 64 slow-path
    // events, a foreign free being one — goes home at the second. Here one 64 KiB segment of
    // node 1 waits in a node-0 thread's outbox, far below its threshold (64), while the thread
    // takes slow-path events of its own: foreign frees of 32 KiB segments of node 1, exactly
    // one event each, into another outbox (whose own batches do not touch the 64 KiB class).
    const SCAN_INTERVAL: usize = 64;
    let m = ArenaManager::heap_backed(&Config::default(), 2).unwrap();
    let (waiting, fillers) = std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(1)).unwrap();
            let waiting = m.allocate(64 << 10).unwrap();
            let fillers: Vec<_> = (1..2 * SCAN_INTERVAL).map(|_| m.allocate(32 << 10).unwrap()).collect();
            (waiting, fillers)
        })
        .join()
        .unwrap()
    });
    let class = 4; // 64 KiB
    let on_1 = || m.stats().node(NodeId::new(1)).unwrap().classes[class].clone();
    let pooled = on_1().pooled_segments;
    std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(0)).unwrap(); // a fresh slot: no slow-path event yet
            drop(waiting); // event 1: into the outbox for (node 1, 64 KiB)
            let mut fillers = fillers.into_iter();
            // Events 2..=127: the scan at event 64 finds the outbox non-empty (aged), nothing
            // more; the outbox still holds the segment after the last of these.
            for event in 2..2 * SCAN_INTERVAL {
                drop(fillers.next().unwrap());
                let c = on_1();
                assert_eq!(
                    (c.cached_segments, c.pooled_segments, c.used_segments),
                    (1, pooled, 0),
                    "the segment is still in the outbox after slow-path event {event}"
                );
            }
            // Event 128, the second scan: the aged outbox goes home as one batch.
            drop(fillers.next().unwrap());
            let c = on_1();
            assert_eq!(
                (c.cached_segments, c.pooled_segments, c.used_segments),
                (0, pooled + 1, 0),
                "the second scan sent the outbox home: {c:#?}"
            );
            assert_eq!(fillers.len(), 0);
        })
        .join()
        .unwrap();
    });
    assert_eq!(m.stats().used_segments(), 0);
}

#[test]
fn a_segment_freed_on_another_node_goes_home() {
    let m = ArenaManager::heap_backed(&Config::default(), 3).unwrap();
    let class = 4; // 64 KiB
    let segment = std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(1)).unwrap();
            m.allocate(64 << 10).unwrap()
        })
        .join()
        .unwrap()
    });
    let addr = segment.as_ptr() as usize;
    let pooled_on_1 = m.stats().node(NodeId::new(1)).unwrap().classes[class].pooled_segments;
    std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(2)).unwrap();
            let cached_on_1 = m.stats().node(NodeId::new(1)).unwrap().classes[class].cached_segments;
            drop(segment);
            // In this thread's outbox for node 1 (counted as cached on node 1, not in use)...
            let st = m.stats();
            assert_eq!(st.node(NodeId::new(2)).unwrap().classes[class].foreign_frees, 1);
            assert_eq!(st.node(NodeId::new(1)).unwrap().classes[class].pooled_segments, pooled_on_1);
            assert_eq!(st.node(NodeId::new(1)).unwrap().classes[class].cached_segments, cached_on_1 + 1);
            assert_eq!(st.node(NodeId::new(1)).unwrap().classes[class].used_segments, 0);
            assert_eq!(st.node(NodeId::new(2)).unwrap().classes[class].cached_segments, 0);
            // ...until the outbox goes home as one batch (here: flushed by hand; else at its
            // threshold, the thread's next scan, or its exit).
            m.flush_thread_cache();
            let st = m.stats();
            assert_eq!(st.node(NodeId::new(1)).unwrap().classes[class].pooled_segments, pooled_on_1 + 1);
            assert_eq!(st.node(NodeId::new(1)).unwrap().classes[class].cached_segments, cached_on_1);
        })
        .join()
        .unwrap();
    });
    // Threads of node 1 get it back (the pool is FIFO: it comes with the rest of the pool).
    std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(1)).unwrap();
            let all: Vec<_> = (0..=pooled_on_1).map(|_| m.allocate(64 << 10).unwrap()).collect();
            assert!(all.iter().all(|s| s.node() == NodeId::new(1)));
            assert!(all.iter().any(|s| s.as_ptr() as usize == addr), "the freed segment is back on node 1");
        })
        .join()
        .unwrap();
    });
}

#[test]
fn bulk_is_all_or_nothing() {
    let c = build(config().node_memory_limit(MemoryAmount::Bytes(ByteSize(32 << 20))).strict(true));
    let m = ArenaManager::heap_backed(&c, 1).unwrap();
    let mut batch = m.new_batch();
    m.allocate_bulk(MIB, 20, &mut batch).unwrap();
    assert_eq!((batch.len(), batch.segment_size()), (20, MIB));
    let mut addrs: Vec<usize> = (0..20).map(|i| batch.get(i).unwrap().as_ptr() as usize).collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), 20);
    for block in batch.iter_mut() {
        block.fill(3);
    }
    // 12 more fit (32 per region), 13 do not: nothing is taken.
    let mut more = m.new_batch();
    match m.allocate_bulk(MIB, 13, &mut more).unwrap_err() {
        AllocError::Bulk { requested, size, cause } => {
            assert_eq!((requested, size), (13, MIB));
            assert!(matches!(*cause, AllocError::NodeBudget { .. }), "{cause}");
        }
        other => panic!("{other:?}"),
    }
    assert!(more.is_empty());
    assert_eq!(m.stats().used_segments(), 20);
    // The same batch takes more of its own class, and refuses another class.
    m.allocate_bulk(MIB, 12, &mut batch).unwrap();
    assert!(matches!(m.allocate_bulk(4096, 1, &mut batch), Err(AllocError::BatchMismatch { .. })));
    assert_eq!(batch.len(), 32);
    let one = batch.pop().unwrap();
    assert_eq!((one.len(), one.node()), (MIB, NodeId::new(0)));
    drop(one);
    batch.release();
    assert!(batch.is_empty());
    assert_eq!(m.stats().used_segments(), 0);
    // A batch of another manager is refused.
    let other = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    let mut foreign = other.new_batch();
    assert!(matches!(m.allocate_bulk(4096, 1, &mut foreign), Err(AllocError::BatchMismatch { .. })));
}

#[test]
fn release_bulk_sends_another_managers_segments_home() {
    let a = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    let b = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    let from_a = a.allocate(4096).unwrap();
    let from_b = b.allocate(4096).unwrap();
    // Lifetimes make the two borrows compatible; each segment goes back to its own manager.
    let mixed = vec![from_a, from_b];
    a.release_bulk(mixed);
    assert_eq!(a.stats().used_segments(), 0);
    assert_eq!(b.stats().used_segments(), 0);
}

#[test]
fn a_class_that_keeps_missing_grows_its_cache() {
    let m = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    let misses = |m: &ArenaManager| m.stats().nodes[0].classes[3].cache_misses;
    let round = |m: &ArenaManager| {
        let batch: Vec<_> = (0..512).map(|_| m.allocate(32 << 10).unwrap()).collect();
        drop(batch);
    };
    round(&m);
    let first = misses(&m);
    for _ in 0..10 {
        round(&m);
    }
    let later = misses(&m) - first;
    assert!(first >= 5, "a cold cache misses while it grows: {first}");
    assert_eq!(later, 0, "once grown, a batch of 512 is served from the cache alone");
}

#[test]
fn an_idle_thread_is_robbed_before_a_new_region_is_mapped() {
    let m = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    let class = 2; // 16 KiB
    let (spilled_tx, spilled_rx) = std::sync::mpsc::channel::<()>();
    let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
    let m = &m;
    std::thread::scope(|s| {
        // A consumer that frees many segments spills them to its deque and then idles (alive:
        // an exiting thread would hand everything to the pool instead).
        let consumer = s.spawn(move || {
            let segments: Vec<_> = (0..2000).map(|_| m.allocate(16 << 10).unwrap()).collect();
            drop(segments);
            spilled_tx.send(()).unwrap();
            let _ = exit_rx.recv(); // returns when the sender is dropped, even on a panic
        });
        spilled_rx.recv().unwrap();
        let before = m.stats();
        let regions_before = before.nodes[0].regions_mapped;
        let c = &before.nodes[0].classes[class];
        // The consumer's frees sit in its stack, its stealable deque and the node's pool.
        assert!(c.cached_segments + c.pooled_segments >= 1900, "{c:?}");
        // Less than the consumer's deque and the pool hold (its private stack is its own).
        let pooled = before.nodes[0].classes[class].pooled_segments;
        let got: Vec<_> = (0..900).map(|_| m.allocate(16 << 10).unwrap()).collect();
        let after = m.stats();
        let c = &after.nodes[0].classes[class];
        assert!(c.steals > 0 || pooled >= 900, "{c:?}");
        assert!(c.stolen_segments + pooled >= 900 - 48, "{c:?}");
        assert_eq!(after.nodes[0].regions_mapped, regions_before, "no region mapped while others held free segments");
        drop(got);
        drop(exit_tx);
        consumer.join().unwrap();
    });
}

#[test]
fn an_exiting_thread_hands_its_cache_back() {
    let m = ArenaManager::heap_backed(&Config::default(), 1).unwrap();
    // join() waits for the thread-local destructors, where the cache is handed back.
    let cached = std::thread::scope(|s| {
        s.spawn(|| {
            let segs: Vec<_> = (0..300).map(|_| m.allocate(4096).unwrap()).collect();
            drop(segs);
            let c = &m.stats().nodes[0].classes[0];
            assert_eq!(c.pooled_segments, 0);
            c.cached_segments
        })
        .join()
        .unwrap()
    });
    assert!(cached >= 300, "the 300 freed plus what refills carved ahead: {cached}");
    let st = m.stats();
    assert_eq!(st.live_thread_caches, 0);
    assert_eq!(st.nodes[0].classes[0].cached_segments, 0);
    assert_eq!(st.nodes[0].classes[0].pooled_segments, cached, "all of it went to the node pool");
    assert_eq!(
        st.nodes[0].classes[0].cache_hits + st.nodes[0].classes[0].cache_misses,
        300,
        "counters of exited threads are kept"
    );
}

#[test]
fn threads_created_and_destroyed_in_a_loop_leak_nothing() {
    let m = ArenaManager::heap_backed(&Config::default(), 2).unwrap();
    for i in 0..200 {
        std::thread::scope(|s| {
            s.spawn(|| {
                let node = NodeId::new(u16::try_from(i % 2).unwrap());
                m.set_thread_node(node).unwrap();
                let a = m.allocate(4096 << (i % 5)).unwrap();
                let b = m.allocate(4096).unwrap();
                drop(a);
                std::mem::forget(m.allocate(4096).map(drop));
                drop(b);
            })
            .join()
            .unwrap();
        });
    }
    let st = m.stats();
    assert_eq!(st.live_thread_caches, 0);
    assert_eq!(st.used_segments(), 0);
    assert_eq!(
        m.purge(),
        usize::try_from(st.total_committed_bytes).unwrap(),
        "everything was back: purge frees every region"
    );
    assert_eq!(m.stats().total_committed_bytes, 0);
}

#[test]
fn purge_decommits_and_reuse_recommits_real_pages() {
    let c = build(config().huge_pages(PagePolicy::Only(PageKind::Small)).retain_free(ByteSize(0)));
    let m = ArenaManager::new(&c).unwrap();
    let seg = m.allocate(MIB).unwrap();
    let addr = seg.as_ptr() as usize;
    let present = |addr| {
        placement::read_back(addr, MIB).unwrap().pages.iter().filter(|p| p.backing != Backing::NotPresent).count()
    };
    assert_eq!(present(addr), 256, "prefaulted");
    drop(seg);
    let decommitted = m.purge();
    assert_eq!(decommitted, 32 * MIB);
    assert_eq!(present(addr), 0, "decommitted pages left RSS");
    let st = m.stats();
    assert_eq!((st.nodes[0].committed_bytes, st.nodes[0].free_regions_decommitted), (0, 1));
    let again = m.allocate(MIB).unwrap();
    assert_eq!(again.as_ptr() as usize % MIB, 0);
    assert_eq!(present(again.as_ptr() as usize), 256, "recommitted and prefaulted on reuse");
    assert_eq!(m.stats().nodes[0].recommits, 1);
}

#[test]
fn free_regions_beyond_the_retained_amount_are_decommitted_automatically() {
    // Retain one region; cache at most one 32 MiB segment. Use four regions' worth and free it
    // all: without purge(), idle memory shrinks to the documented bound — one region retained
    // free plus a pool of at most max(one cache, NUMASEG_RETAIN_FREE) = one segment.
    let c = build(config().retain_free(ByteSize(32 << 20)).cache_bytes(ByteSize(0)));
    let m = ArenaManager::heap_backed(&c, 1).unwrap();
    let segs: Vec<_> = (0..4).map(|_| m.allocate(32 * MIB).unwrap()).collect();
    drop(segs);
    m.flush_thread_cache();
    let st = m.stats();
    let n = &st.nodes[0];
    assert_eq!(n.mapped_bytes, 128 << 20);
    assert!(n.free_regions_decommitted >= 2, "{n:?}");
    assert!(n.committed_bytes <= 64 << 20, "{n:?}");
    assert_eq!(n.decommitted_bytes, (n.mapped_bytes - n.committed_bytes));
    // purge() takes the rest.
    m.purge();
    assert_eq!(m.stats().nodes[0].committed_bytes, 0);
}

#[test]
fn node_allocator_puts_vec_contents_on_the_node() {
    let m = ArenaManager::heap_backed(&Config::default(), 2).unwrap();
    let alloc = m.node_allocator(NodeId::new(1)).unwrap();
    let mut v: allocator_api2::vec::Vec<u32, _> = allocator_api2::vec::Vec::new_in(alloc);
    v.extend(0..100_000);
    assert_eq!(v[99_999], 99_999);
    let st = m.stats();
    assert!(st.node(NodeId::new(1)).unwrap().used_bytes >= 400_000);
    assert_eq!(st.node(NodeId::new(0)).unwrap().used_bytes, 0);
    let b = allocator_api2::boxed::Box::new_in([7u8; 100], alloc);
    assert_eq!(b[99], 7);
    drop((v, b));
    assert_eq!(m.stats().used_bytes(), 0);
}

#[test]
fn segments_report_node_kind_and_stats_render() {
    let m = ArenaManager::new(&Config::default()).unwrap();
    let s = m.allocate(4096).unwrap();
    assert_eq!(s.node(), m.thread_node());
    let region_kind = s.page_kind();
    let st = m.stats();
    let n = &st.nodes[0];
    let by_kind = match region_kind {
        PageKind::Huge1G => n.regions_1g,
        PageKind::Huge2M => n.regions_2m,
        PageKind::Thp => n.regions_thp,
        PageKind::Small => n.regions_small,
    };
    assert_eq!(by_kind, 1);
    let text = st.to_prometheus();
    assert!(text.contains(&format!("numaseg_node_used_bytes{{node=\"{}\"}} 4096", n.node)), "{text}");
    assert!(text.contains("# TYPE numaseg_cache_hits_total counter"));
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(name.starts_with("numaseg_"), "{line}");
        value.parse::<u64>().unwrap();
    }
}

#[test]
fn set_thread_node_sticks_through_many_slow_paths() {
    // Every CPU of the pretend machine is on node 0; a thread told to live on node 1 must stay
    // there however many slow paths (refills, spills, scans) it takes.
    let c = build(config().cache_capacity(2));
    let m = ArenaManager::heap_backed(&c, 2).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(1)).unwrap();
            let mut batch = m.new_batch();
            for round in 0..500 {
                let held: Vec<_> = (0..8).map(|_| m.allocate(4096 << (round % 4)).unwrap()).collect();
                assert!(held.iter().all(|s| s.node() == NodeId::new(1)));
                drop(held);
                m.allocate_bulk(4096, 5, &mut batch).unwrap();
                assert_eq!(batch.node(), NodeId::new(1));
                batch.release();
            }
            assert_eq!(m.thread_node(), NodeId::new(1));
        })
        .join()
        .unwrap();
    });
    assert_eq!(m.stats().used_segments(), 0);
    assert_eq!(m.stats().node(NodeId::new(0)).unwrap().mapped_bytes, 0, "nothing was ever taken from node 0");
}

#[test]
fn a_thread_cycling_more_than_its_cache_holds_takes_its_spills_back_as_one_batch() {
    // A cache maximum of 128 segments and rounds that hold 129 at once: every round spills half
    // the stack and takes it back. That goes through the node's pool as one batch (one refill
    // per round, counted as a pool refill), not entry by entry through the thread's deque.
    let m = ArenaManager::heap_backed(&build(config().cache_capacity(128)), 1).unwrap();
    let round = || drop((0..129).map(|_| m.allocate(4096).unwrap()).collect::<Vec<_>>());
    let counts = || {
        let st = m.stats();
        let c = st.nodes[0].classes.iter().find(|c| c.segment_size == 4096).unwrap().clone();
        (c.cache_misses, c.pool_refills, c.steals)
    };
    (0..20).for_each(|_| round()); // the cache grows to its maximum
    let before = counts();
    (0..50).for_each(|_| round());
    let after = counts();
    let (misses, refills, steals) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    assert_eq!(misses, 50, "one miss per round");
    assert_eq!(refills, misses, "every one served by a pooled batch");
    assert_eq!(steals, 0);
    assert_eq!(m.stats().used_segments(), 0);
}
