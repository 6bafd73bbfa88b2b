//! The thread-exit protocol: a thread's cache is flushed home when it exits, racing with other
//! threads and with the manager's own drop; the flush either completes against a live manager or
//! sees it dead and does nothing — never touches freed memory, never loses a segment.
#![cfg(loom)]

use loom::sync::Arc;

use loom_tests::{assert_everything_back, model, tiny_manager};

#[test]
fn exit_flush_hands_everything_back() {
    model(|| {
        let m = Arc::new(tiny_manager(1));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let m = Arc::clone(&m);
                loom::thread::spawn(move || {
                    let a = m.allocate(4096).expect("allocate");
                    let b = m.allocate(8192).expect("allocate");
                    drop(a);
                    drop(b);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("worker");
        }
        assert_everything_back(&m, 0);
    });
}

#[test]
fn exit_flush_racing_with_manager_drop_is_safe() {
    model(|| {
        let m = Arc::new(tiny_manager(1));
        let worker = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || {
                let a = m.allocate(4096).expect("allocate");
                drop(a);
                // The worker's Arc goes here; its cache is flushed after, at thread exit —
                // possibly after the manager was dropped by the main thread.
                drop(m);
            })
        };
        drop(m); // may be the last owner: the manager drops while the worker exits
        worker.join().expect("worker");
    });
}
