//! Region reclaim racing with allocation: one thread's frees overflow the node pool, which gives
//! segments back to their region (and decommits the region once it is whole), while another
//! thread carves from the same class.
#![cfg(loom)]

use loom::sync::Arc;

use loom_tests::{assert_everything_back, model, tiny_manager};

#[test]
fn reclaim_racing_with_carve_loses_nothing() {
    model(|| {
        let m = Arc::new(tiny_manager(1));
        let freer = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                let segments: Vec<_> = (0..3).map(|_| m.allocate(1 << 20).expect("allocate")).collect();
                drop(segments); // overflows cache and pool: back to the region
            })
        };
        let carver = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                let s = m.allocate(1 << 20).expect("carve");
                drop(s);
            })
        };
        freer.join().expect("freer");
        carver.join().expect("carver");
        assert_everything_back(&m, 0);
    });
}
