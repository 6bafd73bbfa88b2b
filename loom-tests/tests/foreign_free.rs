//! A segment freed by a thread of another node goes home to its node's pool, racing with that
//! node's own threads.
#![cfg(loom)]

use loom::sync::Arc;

use loom_tests::{assert_everything_back, detach, model, tiny_manager};
use numaseg::numa::NodeId;

#[test]
fn a_foreign_free_goes_home_while_home_allocates() {
    model(|| {
        let m = Arc::new(tiny_manager(2));
        m.set_thread_node(NodeId::new(0)).expect("node 0");
        // SAFETY: `m` outlives the handles, which are dropped in `remote` before the join.
        let segments: Vec<_> =
            (0..2).map(|_| unsafe { detach(m.allocate(4096).expect("allocate on node 0")) }).collect();
        let remote = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                m.set_thread_node(NodeId::new(1)).expect("node 1");
                drop(segments); // foreign frees: to node 0's pool
            })
        };
        // Node 0 keeps allocating meanwhile, from the pool the frees go to.
        let more: Vec<_> = (0..2).map(|_| m.allocate(4096).expect("allocate")).collect();
        assert!(more.iter().all(|s| s.node() == NodeId::new(0)));
        drop(more);
        remote.join().expect("remote");
        loom_tests::quiesce(&m, 1);
        let stats = m.stats();
        assert_eq!(stats.node(NodeId::new(1)).expect("node 1").classes[0].foreign_frees, 2);
        m.flush_thread_cache();
        assert_everything_back(&m, 1);
    });
}
