//! The network buffer pool under loom: request/recycle/destroy races, the availability
//! notification firing exactly once, redistribution racing with recycles, and the last drop of
//! a shared buffer. Each model ends with a conservation check: every buffer back in the global
//! pool, handed out and recycled the same number of times, and — once the pool is dropped —
//! every segment back in the allocator.
#![cfg(loom)]

use loom::sync::Arc;

use loom_tests::{assert_network_back, model, tiny_network};

#[test]
fn request_recycle_and_destroy_race() {
    model(|| {
        let (m, n) = tiny_network(2);
        let pool = Arc::new(n.create_buffer_pool(1, 2).expect("pool"));
        let user = |pool: Arc<numaseg::LocalBufferPool>| {
            loom::thread::spawn(move || match pool.request_buffer() {
                Ok(Some(b)) => drop(b), // recycled to the pool, or to the global pool once destroyed
                Ok(None) => {}
                Err(numaseg::BufferPoolError::Destroyed { .. }) => {}
                Err(e) => panic!("{e}"),
            })
        };
        let a = user(Arc::clone(&pool));
        let b = user(Arc::clone(&pool));
        pool.destroy();
        a.join().expect("a");
        b.join().expect("b");
        assert!(pool.is_destroyed());
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn the_availability_notification_fires_exactly_once() {
    model(|| {
        let (m, n) = tiny_network(1);
        let pool = Arc::new(n.create_buffer_pool(1, 1).expect("pool"));
        let held = pool.request_buffer().expect("live").expect("one buffer");
        assert!(pool.request_buffer().expect("live").is_none()); // now unavailable
        let waiter = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || drop(pool.request_buffer_blocking(None, None).expect("woken with the buffer")))
        };
        drop(held); // unavailable → available: one notification, whoever gets there first
        waiter.join().expect("waiter");
        assert_eq!(pool.stats().expect("live").notifications, 1);
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn a_waiter_racing_a_competitor_for_a_recycled_buffer_is_not_lost() {
    model(|| {
        let (m, n) = tiny_network(1);
        let pool = Arc::new(n.create_buffer_pool(1, 1).expect("pool"));
        let held = pool.request_buffer().expect("live").expect("one buffer");
        let waiter = {
            let pool = Arc::clone(&pool);
            // The async request straight away (the blocking call tries without waiting first).
            loom::thread::spawn(move || drop(loom_tests::block_on(pool.request_buffer_async()).expect("woken")))
        };
        let competitor = {
            let pool = Arc::clone(&pool);
            // Takes the buffer if it gets there first, and gives it back.
            loom::thread::spawn(move || drop(pool.request_buffer().expect("live")))
        };
        drop(held);
        competitor.join().expect("competitor");
        waiter.join().expect("waiter"); // a lost wake-up shows as a loom deadlock here
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn destroy_wakes_a_blocked_requester() {
    model(|| {
        let (m, n) = tiny_network(1);
        let pool = Arc::new(n.create_buffer_pool(1, 1).expect("pool"));
        let held = pool.request_buffer().expect("live").expect("one buffer");
        let waiter = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || loom_tests::block_on(pool.request_buffer_async()).map(drop))
        };
        let listener = {
            let pool = Arc::clone(&pool);
            // Waits for availability; destruction ends the wait too (with an error).
            loom::thread::spawn(move || loom_tests::block_on(pool.available()).is_err())
        };
        pool.destroy();
        assert!(listener.join().expect("listener"));
        assert!(matches!(waiter.join().expect("waiter"), Err(numaseg::BufferPoolError::Destroyed { .. })));
        drop(held); // in flight during the destroy: back to the global pool now
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn redistribution_races_with_recycles_and_strands_nothing() {
    model(|| {
        let (m, n) = tiny_network(3);
        let p = n.create_buffer_pool(1, 3).expect("p");
        let held: Vec<_> = (0..3).map(|_| p.request_buffer().expect("live").expect("within size")).collect();
        let mut held = held.into_iter();
        let (first, rest): (Vec<_>, Vec<_>) = (held.by_ref().take(2).collect(), held.collect());
        let recycler = loom::thread::spawn(move || drop(first));
        // Meanwhile a second pool takes p's spare buffers: p shrinks to its minimum of 1.
        let q = n.create_buffer_pool(2, 3).expect("q");
        assert_eq!(p.num_buffers(), 1);
        recycler.join().expect("recycler");
        drop(rest);
        // p keeps at most its size; the rest went back and q gets two without waiting.
        assert!(p.owned_buffers() <= 1, "p owns {}", p.owned_buffers());
        let got: Vec<_> = (0..2).map(|_| q.request_buffer().expect("live").expect("q's minimum")).collect();
        drop(got);
        drop((p, q));
        assert_network_back(&m, n);
    });
}

#[test]
fn the_last_view_of_a_shared_buffer_recycles_it_once() {
    model(|| {
        let (m, n) = tiny_network(1);
        let pool = n.create_buffer_pool(1, 1).expect("pool");
        let shared = pool.request_buffer().expect("live").expect("one").into_shared();
        let other = shared.clone();
        let t = loom::thread::spawn(move || drop(other));
        drop(shared);
        t.join().expect("t");
        assert_eq!(pool.available_buffers(), 1);
        let stats = n.stats();
        assert_eq!((stats.requested, stats.recycled), (1, 1));
        drop(pool);
        assert_network_back(&m, n);
    });
}
