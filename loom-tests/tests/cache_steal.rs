//! A thread's spill deque robbed by another thread of the node while the owner keeps freeing
//! into it and popping from it: every segment ends in exactly one place.
#![cfg(loom)]

use loom::sync::Arc;

use loom_tests::{assert_everything_back, detach, model, tiny_manager};

#[test]
fn steal_during_spill_loses_no_segment() {
    model(|| {
        let m = Arc::new(tiny_manager(1));
        // The owner: allocates three, frees them (cache of two: one spills to its deque), and
        // allocates again (its refill races with the thief).
        let owner = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                let segments: Vec<_> = (0..3).map(|_| m.allocate(4096).expect("allocate")).collect();
                drop(segments);
                let again = m.allocate(4096).expect("allocate again");
                drop(again);
            })
        };
        let thief = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                let s = m.allocate(4096).expect("steal or carve");
                drop(s);
            })
        };
        owner.join().expect("owner");
        thief.join().expect("thief");
        assert_everything_back(&m, 0);
    });
}

#[test]
fn two_threads_never_get_the_same_segment() {
    model(|| {
        let m = Arc::new(tiny_manager(1));
        // Seed the node's pool with segments freed by a thread that exits.
        {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                let segments: Vec<_> = (0..2).map(|_| m.allocate(4096).expect("allocate")).collect();
                drop(segments);
            })
            .join()
            .expect("seeder");
        }
        let grab = |m: Arc<numaseg::ArenaManager>| {
            loom::thread::spawn(move || {
                let s = m.allocate(4096).expect("allocate");
                // SAFETY: the manager outlives the handle: both threads are joined and their
                // handles dropped before `m` in the model goes away.
                unsafe { detach(s) }
            })
        };
        let a = grab(Arc::clone(&m));
        let b = grab(Arc::clone(&m));
        let (a, b) = (a.join().expect("a"), b.join().expect("b"));
        assert_ne!(a.as_ptr(), b.as_ptr(), "one segment handed to two threads");
        drop((a, b)); // freed by this thread: it now has a cache of its own
        assert_everything_back(&m, 1);
    });
}
