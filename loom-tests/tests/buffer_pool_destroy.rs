//! The global network buffer pool under loom (#15): destroying it while a requester is blocked,
//! an exclusive (unpooled) request waits asynchronously and a buffer is being recycled; and the
//! global availability future, which must never lose a wake-up (the FLINK-24035 class: a waiter
//! that checks "nothing free", then registers, while the last buffer comes back in between).
//! Each model ends with a conservation check; the destroy model also checks that the memory went
//! back to the allocator with the last buffer, while the pool's handles were still alive.
#![cfg(loom)]

use loom::sync::Arc;
use numaseg::BufferPoolError;
use numaseg::numa::NodeId;

use loom_tests::{assert_network_back, block_on, model, tiny_network};

fn destroyed<T>(r: &Result<T, BufferPoolError>) -> bool {
    matches!(r, Err(BufferPoolError::NetworkDestroyed { .. }))
}

#[test]
fn destroy_races_a_blocked_request_an_async_exclusive_request_and_a_recycle() {
    model(|| {
        let (m, n) = tiny_network(2);
        let pool = Arc::new(n.create_buffer_pool(1, 2).expect("pool"));
        let a = pool.request_buffer().expect("live").expect("first");
        let b = pool.request_buffer().expect("live").expect("second");
        // Blocked: the pool is empty and at its size.
        let blocked = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || match pool.request_buffer_blocking(None, None) {
                Ok(buffer) => drop(buffer),
                r => assert!(destroyed(&r), "{r:?}"),
            })
        };
        // Async, unpooled: reserves one buffer (the pool shrinks to 1) and waits for it.
        let unpooled = {
            let n = n.clone();
            loom::thread::spawn(move || {
                let r = n.request_exclusive_async_on(NodeId::new(0), 1).and_then(block_on);
                match r {
                    Ok(set) => drop(set),
                    r => assert!(destroyed(&r), "{r:?}"),
                }
            })
        };
        let recycler = loom::thread::spawn(move || drop(a));
        n.destroy();
        blocked.join().expect("blocked requester woken");
        unpooled.join().expect("exclusive request woken");
        recycler.join().expect("recycler");
        assert!(matches!(pool.request_buffer(), Err(BufferPoolError::NetworkDestroyed { .. })));
        drop(b); // the last buffer: the memory goes back, handles still alive
        assert_eq!(m.stats().used_segments(), 0, "{:#?}", n.stats());
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn destroy_wakes_the_global_availability_waiter() {
    model(|| {
        let (m, n) = tiny_network(1);
        let exclusive = n.request_exclusive(1, None, None).expect("the only buffer");
        let waiter = {
            let n = n.clone();
            loom::thread::spawn(move || block_on(n.available()))
        };
        n.destroy();
        assert!(destroyed(&waiter.join().expect("waiter")));
        drop(exclusive);
        assert_network_back(&m, n);
    });
}

#[test]
fn the_global_availability_future_never_loses_a_wake_up() {
    model(|| {
        let (m, n) = tiny_network(1);
        let pool = n.create_buffer_pool(1, 1).expect("pool");
        let held = pool.request_buffer().expect("live").expect("the only buffer");
        pool.destroy(); // the buffer in flight goes to the global pool when dropped
        let waiter = {
            let n = n.clone();
            loom::thread::spawn(move || block_on(n.available()))
        };
        let recycler = loom::thread::spawn(move || drop(held));
        // A competitor takes the buffer from the global pool if it is there, and gives it back.
        let q = n.create_buffer_pool(1, 1).expect("q");
        drop(q.request_buffer().expect("live"));
        drop(q);
        recycler.join().expect("recycler");
        waiter.join().expect("waiter").expect("woken with a buffer in the global pool"); // lost: loom deadlock
        drop(pool);
        assert_network_back(&m, n);
    });
}
