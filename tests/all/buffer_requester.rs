//! [`BufferRequester`] through the public API: buffers recycled on other threads reach the
//! requester a half at a time through the pool's lane, what it holds ahead counts as in use,
//! and a waiter, a shrink, a destroy and isolation see every buffer.

use std::collections::HashSet;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use numaseg::buffer_pool::{Buffer, BufferRequester, NetworkBufferPool};
use numaseg::zero::ZeroMode;
use numaseg::{ArenaManager, BufferPoolError, Config};

use crate::buffer_pool_factory::{assert_all_back, network};

const PATIENCE: Duration = Duration::from_secs(30);
const BATCH: usize = BufferRequester::BATCH;

/// Drops `buffers` on a thread of its own: each is recycled where the pool's requester is not.
fn recycle_elsewhere(buffers: Vec<Buffer>) {
    std::thread::spawn(move || drop(buffers)).join().expect("recycler");
}

/// `n` buffers requested through `requester`, non-blocking.
fn take(requester: &mut BufferRequester<'_>, n: usize) -> Vec<Buffer> {
    (0..n)
        .map(|i| requester.request_buffer().expect("request").unwrap_or_else(|| panic!("buffer {i} of {n}")))
        .collect()
}

#[test]
fn buffers_recycled_elsewhere_wait_in_the_lane_and_are_taken_a_half_at_a_time() {
    let network = network(2 * BATCH + 8);
    let pool = network.create_buffer_pool(2 * BATCH + 8, 2 * BATCH + 8).unwrap();
    let mut requester = pool.requester();
    let mut out = take(&mut requester, 2 * BATCH + 8);
    assert_eq!((pool.available_buffers(), requester.held()), (0, 0));
    // Two halves' worth recycled on another thread: idle again, and counted so at once.
    recycle_elsewhere(out.drain(..2 * BATCH).collect());
    assert_eq!(pool.available_buffers(), 2 * BATCH);
    let stats = pool.stats().unwrap();
    assert_eq!((stats.available, stats.in_use, stats.owned), (2 * BATCH, 8, 2 * BATCH + 8), "{stats:#?}");
    // One request takes a whole half: one buffer handed out, the rest held ahead, in use.
    let first = requester.request_buffer().unwrap().expect("a buffer from the lane");
    assert_eq!((requester.held(), pool.available_buffers()), (BATCH - 1, BATCH));
    let stats = pool.stats().unwrap();
    assert_eq!((stats.available, stats.in_use), (BATCH, 8 + BATCH), "{stats:#?}");
    // Handed out from what it holds, without touching the pool's idle count.
    let more = take(&mut requester, BATCH - 1);
    assert_eq!((requester.held(), pool.available_buffers()), (0, BATCH));
    let addrs: HashSet<usize> = more.iter().chain([&first]).chain(&out).map(|b| b.as_ptr() as usize).collect();
    assert_eq!(addrs.len(), BATCH + 8, "a buffer handed out twice");
    drop((first, more, out));
    drop(requester);
    assert_eq!(pool.available_buffers(), pool.owned_buffers());
    drop(pool);
    assert_all_back(&network);
}

#[test]
fn give_back_and_drop_return_what_a_requester_holds() {
    let network = network(2 * BATCH);
    let pool = network.create_buffer_pool(2 * BATCH, 2 * BATCH).unwrap();
    let mut requester = pool.requester();
    let out = take(&mut requester, 2 * BATCH);
    recycle_elsewhere(out);
    let one = requester.request_buffer().unwrap().unwrap();
    assert_eq!(requester.held(), BATCH - 1);
    requester.give_back();
    assert_eq!((requester.held(), pool.available_buffers()), (0, 2 * BATCH - 1));
    let stats = pool.stats().unwrap();
    assert_eq!(stats.in_use, 1, "{stats:#?}");
    let two = requester.request_buffer().unwrap().unwrap(); // the other half, still full
    assert_eq!(requester.held(), BATCH - 1);
    drop(requester);
    assert_eq!(pool.available_buffers(), 2 * BATCH - 2);
    drop((one, two));
    drop(pool);
    assert_all_back(&network);
}

#[test]
fn destroying_a_pool_fails_the_requester_and_every_buffer_comes_back() {
    let network = network(2 * BATCH + 4);
    let pool = network.create_buffer_pool(2 * BATCH + 4, 2 * BATCH + 4).unwrap();
    let mut requester = pool.requester();
    let mut out = take(&mut requester, 2 * BATCH + 4);
    recycle_elsewhere(out.drain(..2 * BATCH).collect());
    let one = requester.request_buffer().unwrap().unwrap();
    assert_eq!(requester.held(), BATCH - 1);
    pool.destroy();
    // The lane's other half went back with the idle buffers; the held ones at the next request.
    assert!(matches!(requester.request_buffer(), Err(BufferPoolError::Destroyed { .. })));
    assert_eq!(requester.held(), 0);
    assert_eq!(network.available_buffers(), 2 * BATCH - 1);
    recycle_elsewhere(out); // in flight when destroyed: straight back to the global pool
    drop(one);
    drop(requester);
    drop(pool);
    assert_all_back(&network);
}

#[test]
fn a_waiting_requester_is_woken_by_a_recycle_on_another_thread() {
    let network = network(4);
    let pool = network.create_buffer_pool(4, 4).unwrap();
    let mut requester = pool.requester();
    let mut out = take(&mut requester, 4);
    assert!(requester.request_buffer().unwrap().is_none());
    let last = out.pop().unwrap();
    let recycler = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        drop(last);
    });
    let got = requester.request_buffer_blocking(Some(PATIENCE), None).expect("woken by the recycle");
    recycler.join().unwrap();
    assert_eq!(pool.stats().unwrap().notifications, 1);
    drop((got, out, requester));
    drop(pool);
    assert_all_back(&network);
}

#[test]
fn shrinking_a_pool_gives_back_what_waits_in_its_lane() {
    let network = network(2 * BATCH + 8);
    let pool = network.create_buffer_pool(8, 2 * BATCH + 8).unwrap();
    assert_eq!(pool.num_buffers(), 2 * BATCH + 8);
    let mut requester = pool.requester();
    let mut out = take(&mut requester, 2 * BATCH + 8);
    recycle_elsewhere(out.drain(..2 * BATCH).collect());
    assert_eq!(pool.available_buffers(), 2 * BATCH);
    pool.set_num_buffers(8).unwrap();
    // The lane was closed and emptied onto the stack, and the excess went back at once.
    assert_eq!((pool.owned_buffers(), pool.available_buffers()), (8, 0));
    assert_eq!(network.available_buffers(), 2 * BATCH);
    assert!(requester.request_buffer().unwrap().is_none(), "at its size, nothing idle");
    // At its size again, the lane is open: recycles elsewhere wait there for the requester.
    recycle_elsewhere(out);
    assert_eq!(pool.available_buffers(), 8);
    let again = take(&mut requester, 8);
    drop((again, requester));
    drop(pool);
    assert_all_back(&network);
}

#[test]
fn isolation_clears_buffers_that_pass_through_the_lane() {
    for mode in [ZeroMode::OnRelease, ZeroMode::OnAllocate] {
        let config = Config::builder().zero(mode).build_from::<_, &str, &str>([]).unwrap();
        let manager = Arc::new(ArenaManager::heap_backed(&config, 1).unwrap());
        let network = NetworkBufferPool::with_buffers(manager, BATCH, 4096).unwrap();
        let pool = network.create_buffer_pool(BATCH, BATCH).unwrap();
        let mut requester = pool.requester();
        let mut out = take(&mut requester, BATCH);
        for b in &mut out {
            b.set_bytes_at(0, &[0xa5; 4096]).unwrap();
        }
        recycle_elsewhere(out);
        let seen = take(&mut requester, BATCH);
        assert_eq!(requester.held(), 0);
        let mut bytes = vec![1u8; 4096];
        for b in &seen {
            b.get_bytes_at(0, &mut bytes).unwrap();
            assert!(bytes.iter().all(|&x| x == 0), "{mode}: a byte of the previous holder");
        }
        drop((seen, requester));
        drop(pool);
        assert_all_back(&network);
    }
}

#[test]
fn two_requesters_and_two_recyclers_hand_each_buffer_to_one_holder() {
    const ROUNDS: usize = 20_000;
    let network = network(96);
    let pool = network.create_buffer_pool(96, 96).unwrap();
    let live = Mutex::new(HashSet::new());
    let max_held = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (tx, rx) = sync_channel::<Buffer>(16);
            let live = &live;
            s.spawn(move || {
                for b in rx {
                    assert!(live.lock().unwrap().remove(&(b.as_ptr() as usize)), "recycled a buffer not live");
                    drop(b);
                }
            });
            let (pool, live, max_held) = (&pool, live, &max_held);
            s.spawn(move || {
                let mut requester = pool.requester();
                for _ in 0..ROUNDS {
                    let b = requester.request_buffer_blocking(Some(PATIENCE), None).expect("a buffer");
                    assert!(live.lock().unwrap().insert(b.as_ptr() as usize), "a buffer handed to two holders");
                    max_held.fetch_max(requester.held(), std::sync::atomic::Ordering::Relaxed);
                    tx.send(b).unwrap();
                }
            });
        }
    });
    assert!(max_held.into_inner() > 0, "the requesters never took a half of the lane");
    assert_eq!(pool.available_buffers(), pool.owned_buffers());
    let stats = pool.stats().unwrap();
    assert_eq!(stats.in_use, 0, "{stats:#?}");
    drop(pool);
    assert_all_back(&network);
}
