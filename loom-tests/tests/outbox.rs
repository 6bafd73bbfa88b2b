//! The outbox of foreign frees (issue #14): a thread frees segments of another node into its
//! outbox for that node, which goes home as one batch at its threshold and at thread exit —
//! racing with the home node's refills and steals, and with the manager's drop. Each model ends
//! with a conservation check (or, for the drop race, must simply not touch freed memory).
//!
//! The configuration keeps caches of four segments, so an outbox's threshold is two: the
//! models see both a threshold flush and an outbox still holding a segment when its thread
//! exits.
#![cfg(loom)]

use loom::sync::Arc;

use loom_tests::{assert_everything_back, detach, manager_with, model, tiny_config};
use numaseg::ArenaManager;
use numaseg::config::ByteSize;
use numaseg::numa::NodeId;

fn two_nodes() -> ArenaManager {
    manager_with(2, tiny_config().cache_capacity(4).cache_bytes(ByteSize(4 * 4096)))
}

#[test]
fn outbox_flushes_race_home_refills_and_exit() {
    model(|| {
        let m = Arc::new(two_nodes());
        m.set_thread_node(NodeId::new(0)).expect("node 0");
        // SAFETY: `m` outlives the handles: they are dropped in `remote`, joined below.
        let segments: Vec<_> =
            (0..3).map(|_| unsafe { detach(m.allocate(4096).expect("allocate on node 0")) }).collect();
        let remote = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                m.set_thread_node(NodeId::new(1)).expect("node 1");
                // Two go home at the threshold, one waits in the outbox until this thread exits.
                drop(segments);
            })
        };
        // Node 0 keeps allocating meanwhile: its refills race the outbox's batches into the pool.
        let more: Vec<_> = (0..3).map(|_| m.allocate(4096).expect("allocate")).collect();
        assert!(more.iter().all(|s| s.node() == NodeId::new(0)));
        drop(more);
        remote.join().expect("remote");
        m.flush_thread_cache();
        assert_everything_back(&m, 1);
    });
}

#[test]
fn a_consumers_surplus_reaches_the_producer_as_a_batch() {
    model(|| {
        let m = Arc::new(two_nodes());
        m.set_thread_node(NodeId::new(0)).expect("node 0");
        // SAFETY: as above.
        let segments: Vec<_> = (0..4).map(|_| unsafe { detach(m.allocate(4096).expect("allocate")) }).collect();
        let consumer = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                m.set_thread_node(NodeId::new(0)).expect("node 0");
                drop(segments); // a thread that only frees: its surplus goes to the pool as a batch
            })
        };
        // The producer refills from the pool (or steals) while the consumer spills.
        let again: Vec<_> = (0..4).map(|_| m.allocate(4096).expect("allocate")).collect();
        drop(again);
        consumer.join().expect("consumer");
        m.flush_thread_cache();
        assert_everything_back(&m, 1);
    });
}

#[test]
fn an_outbox_at_thread_exit_racing_with_manager_drop_is_safe() {
    model(|| {
        let m = Arc::new(two_nodes());
        m.set_thread_node(NodeId::new(0)).expect("node 0");
        // SAFETY: the handle is dropped in `worker` while its `Arc` of the manager is held.
        let segment = unsafe { detach(m.allocate(4096).expect("allocate on node 0")) };
        m.flush_thread_cache();
        let worker = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                m.set_thread_node(NodeId::new(1)).expect("node 1");
                drop(segment); // into the outbox for node 0 (below its threshold)
                // The outbox goes home at thread exit — possibly after the manager is dropped.
                drop(m);
            })
        };
        drop(m);
        worker.join().expect("worker");
    });
}
