//! The count of a node pool's segments (`src/core/node.rs`, `push_batch`): counted before the
//! batch is published, so a pop that takes the batch at once can never take the count below
//! zero — which would show as a huge `pooled_segments` and make the next push trim a pool that
//! is not over-full. Publishing first and counting after (named mutation
//! `node-pool-publish-before-count` of `scripts/mutants.sh`) fails this model; the conservation
//! checks of the other models cannot see it, as no segment is lost.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};

use loom_tests::{assert_everything_back, model, tiny_manager};

/// A thread's exit flush pushes its cached segment to the node pool as a batch while the main
/// thread's refill pops from that pool; the main thread then reads the count.
#[test]
fn the_pooled_count_never_goes_below_zero() {
    model(|| {
        let m = Arc::new(tiny_manager(1));
        let freed = Arc::new(AtomicBool::new(false));
        let exiting = {
            let (m, freed) = (Arc::clone(&m), Arc::clone(&freed));
            loom::thread::spawn(move || {
                drop(m.allocate(4096).expect("allocate")); // cached; flushed at exit
                freed.store(true, Ordering::Release);
            })
        };
        // Waiting (rather than a preemption) lets one preemption inside the flush suffice.
        while !freed.load(Ordering::Acquire) {
            loom::thread::yield_now();
        }
        let segment = m.allocate(4096).expect("allocate"); // a refill: may pop the flushed batch
        let pooled: u64 = m.stats().nodes.iter().flat_map(|n| n.classes.iter()).map(|c| c.pooled_segments).sum();
        assert!(pooled <= 2, "{pooled} pooled segments: the count went below zero");
        drop(segment);
        exiting.join().expect("exiting");
        assert_everything_back(&m, 1);
    });
}
