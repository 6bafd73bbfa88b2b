//! The outbox of foreign frees (issue #14): a thread frees segments of another node into its
//! outbox for that node, which goes home as one batch at its threshold and at thread exit —
//! racing with the home node's refills, with a steal from a spill deque of that node (and that
//! deque's owner flushing it), and with the manager's drop. Each model ends with a conservation
//! check (or, for the drop race, must simply not touch freed memory).
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

/// Executions of `an_outbox_flush_races_a_steal_and_the_victims_flush` in which the thief's
/// refill stole from the victim's deque, and in which it got a segment that came home through
/// the remote thread's outbox: the model must see both sides of the race (std atomics, so they
/// count across executions).
static STOLE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static GOT_THE_OUTBOXS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn an_outbox_flush_races_a_steal_and_the_victims_flush() {
    use std::sync::atomic::Ordering::Relaxed;
    model(|| {
        let m = Arc::new(two_nodes());
        m.set_thread_node(NodeId::new(0)).expect("node 0");
        let class = |m: &ArenaManager| {
            let st = m.stats();
            st.nodes[0].classes.iter().find(|c| c.segment_size == 4096).cloned().expect("the 4 KiB class")
        };
        // The victim (this thread, node 0): two segments for the remote thread, five it frees
        // itself — its stack of four spills its oldest two to its deque, where a peer may steal.
        // SAFETY: `m` outlives the handles: they are dropped in `remote`, joined below.
        let sent: Vec<_> = (0..2).map(|_| unsafe { detach(m.allocate(4096).expect("allocate")) }).collect();
        let sent_at: Vec<usize> = sent.iter().map(|s| s.as_ptr() as usize).collect();
        drop((0..5).map(|_| m.allocate(4096).expect("allocate")).collect::<Vec<_>>());
        let at_start = class(&m);
        assert_eq!(at_start.pooled_segments, 0, "{at_start:#?}");
        // The remote thread of node 1: both frees go into its outbox for node 0, which reaches
        // its threshold (two) and goes home as one batch into node 0's pool.
        let remote = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                m.set_thread_node(NodeId::new(1)).expect("node 1");
                drop(sent);
            })
        };
        // The thief, another thread of node 0 with an empty cache: its refill takes a batch
        // from the pool if one has landed (the outbox's, or the victim's flush), else steals
        // from the victim's deque, else carves; then it exits, and its exit flush races too.
        let thief = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                m.set_thread_node(NodeId::new(0)).expect("node 0");
                let s = m.allocate(4096).expect("pool, steal or carve");
                assert_eq!(s.node(), NodeId::new(0));
                s.as_ptr() as usize
            })
        };
        // Meanwhile the victim flushes its stack and deque to the pool under the thief.
        m.flush_thread_cache();
        remote.join().expect("remote");
        let got = thief.join().expect("thief");
        assert_everything_back(&m, 1);
        if class(&m).steals > at_start.steals {
            STOLE.fetch_add(1, Relaxed);
        }
        if sent_at.contains(&got) {
            GOT_THE_OUTBOXS.fetch_add(1, Relaxed);
        }
    });
    eprintln!(
        "loom: the thief stole in {} executions, got the outbox's segment in {}",
        STOLE.load(Relaxed),
        GOT_THE_OUTBOXS.load(Relaxed)
    );
    assert!(STOLE.load(Relaxed) > 0, "no execution stole from the victim's deque");
    assert!(GOT_THE_OUTBOXS.load(Relaxed) > 0, "no execution took a segment the outbox sent home");
}
