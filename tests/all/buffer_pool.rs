//! The network buffer pool and local pools through the public API: Apache Flink's
//! `NetworkBufferPoolTest` and `LocalBufferPoolTest` behaviours re-expressed, plus blocking,
//! async and cancelled requests, availability notifications, destruction with buffers in
//! flight, exclusive requests that undo themselves, buffer handles, node preference, stats, and
//! a multi-thread conservation stress.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::{Buf, BufMut};
use numaseg::buffer_pool::{Cancellation, NetworkBufferPool, PoolKind};
use numaseg::numa::NodeId;
use numaseg::{ArenaManager, BufferPoolError, Config};

use crate::buffer_pool_factory::{assert_all_back, network};

/// A generous bound for "must not block forever" (never an assertion on timing).
const PATIENCE: Duration = Duration::from_secs(30);

/// Counts wake-ups.
#[derive(Default)]
pub(crate) struct CountingWaker(pub(crate) AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn buffers_are_allocated_at_start_spread_over_the_nodes_and_freed_at_the_end() {
    let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 3).unwrap());
    let n = NetworkBufferPool::with_buffers(Arc::clone(&manager), 10, 32 << 10).unwrap();
    assert_eq!(manager.stats().used_bytes(), 10 * (32 << 10));
    let per_node: Vec<usize> = n.stats().free_per_node.iter().map(|(_, f)| *f).collect();
    assert_eq!(per_node, vec![4, 3, 3]);
    // A pool on node 2 gets node-2 buffers first, then the nearest others.
    let pool = n.create_buffer_pool_on(NodeId::new(2), 5, 5).unwrap();
    let buffers: Vec<_> = (0..5).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    let nodes: Vec<usize> = buffers.iter().map(|b| b.node().index()).collect();
    assert_eq!(&nodes[..3], &[2, 2, 2]);
    assert!(nodes[3..].iter().all(|&n| n != 2));
    // Buffers outlive the pool handles; memory goes back when the last one is dropped.
    drop(pool);
    drop(n);
    assert_eq!(manager.stats().used_bytes(), 10 * (32 << 10));
    drop(buffers);
    assert_eq!(manager.stats().used_bytes(), 0);
}

#[test]
fn configuration_gives_the_count_or_derives_it_from_memory() {
    let config = Config::builder()
        .network_buffers(7)
        .segment_size(numaseg::config::ByteSize(8192))
        .build_from::<_, &str, &str>([])
        .unwrap();
    let n = NetworkBufferPool::new(Arc::new(ArenaManager::heap_backed(&config, 1).unwrap())).unwrap();
    assert_eq!((n.total_buffers(), n.buffer_size()), (7, 8192));
    let config = Config::builder()
        .network_memory(numaseg::config::MemoryAmount::Bytes(numaseg::config::ByteSize(1 << 20)))
        .build_from::<_, &str, &str>([])
        .unwrap();
    let n = NetworkBufferPool::new(Arc::new(ArenaManager::heap_backed(&config, 1).unwrap())).unwrap();
    assert_eq!(n.total_buffers(), 32); // 1 MiB of 32 KiB buffers
    let m = Arc::new(ArenaManager::heap_backed(&Config::default(), 1).unwrap());
    assert!(matches!(NetworkBufferPool::with_buffers(Arc::clone(&m), 0, 4096), Err(BufferPoolError::NoBuffers)));
    assert!(matches!(
        NetworkBufferPool::with_buffers(m, numaseg::buffer_pool::MAX_BUFFERS + 1, 4096),
        Err(BufferPoolError::TooManyBuffers { .. })
    ));
}

#[test]
fn allocation_failure_at_start_keeps_nothing() {
    let config = Config::builder()
        .node_memory_limit(numaseg::config::MemoryAmount::Bytes(numaseg::config::ByteSize(32 << 20)))
        .build_from::<_, &str, &str>([])
        .unwrap();
    let manager = Arc::new(ArenaManager::heap_backed(&config, 1).unwrap());
    // 2048 × 32 KiB = 64 MiB > the 32 MiB budget.
    match NetworkBufferPool::with_buffers(Arc::clone(&manager), 2048, 32 << 10) {
        Err(BufferPoolError::Alloc { buffers: 2048, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(manager.stats().used_bytes(), 0);
}

#[test]
fn bad_bounds_are_refused() {
    let n = network(4);
    assert!(matches!(n.create_buffer_pool(0, 4), Err(BufferPoolError::BadBounds { min: 0, max: 4 })));
    assert!(matches!(n.create_buffer_pool(3, 2), Err(BufferPoolError::BadBounds { min: 3, max: 2 })));
    let pool = n.create_buffer_pool(2, 3).unwrap();
    assert!(matches!(pool.set_num_buffers(1), Err(BufferPoolError::BadBounds { .. })));
    assert!(matches!(pool.set_num_buffers(4), Err(BufferPoolError::BadBounds { .. })));
}

#[test]
fn request_more_than_available_returns_none_and_takes_from_the_global_pool_on_demand() {
    let n = network(16);
    let pool = n.create_buffer_pool(1, 8).unwrap();
    let mut held = Vec::new();
    for i in 1..=8 {
        held.push(pool.request_buffer().unwrap().expect("within the pool's size"));
        assert_eq!(pool.owned_buffers(), i);
        assert_eq!(n.available_buffers(), 16 - i);
    }
    assert!(pool.request_buffer().unwrap().is_none());
    assert_eq!(pool.owned_buffers(), 8);
    drop(held);
    assert_eq!(pool.available_buffers(), 8);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn requests_after_destroy_fail_and_recycles_after_destroy_go_to_the_global_pool() {
    let n = network(8);
    let pool = n.create_buffer_pool(1, 8).unwrap();
    let held: Vec<_> = (0..8).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    pool.destroy();
    assert!(pool.is_destroyed());
    assert!(matches!(pool.request_buffer(), Err(BufferPoolError::Destroyed { .. })));
    assert!(matches!(pool.set_num_buffers(2), Err(BufferPoolError::Destroyed { .. })));
    assert_eq!(n.available_buffers(), 0);
    assert_eq!(n.required_buffers(), 0);
    for (i, b) in held.into_iter().enumerate() {
        drop(b);
        assert_eq!(n.available_buffers(), i + 1);
    }
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn excess_buffers_go_back_when_recycled_after_a_shrink() {
    let n = network(10);
    let pool = n.create_buffer_pool(1, 10).unwrap();
    let mut held: Vec<_> = (0..10).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    pool.set_num_buffers(5).unwrap();
    assert_eq!(pool.owned_buffers(), 10);
    for i in 1..=5 {
        held.pop();
        assert_eq!(pool.owned_buffers(), 10 - i, "each excess buffer goes back as it is recycled");
        assert_eq!(n.available_buffers(), i);
    }
    held.pop();
    assert_eq!(pool.owned_buffers(), 5);
    assert_eq!(pool.available_buffers(), 1, "within its size it keeps what comes back");
    drop(held);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn idle_excess_goes_back_at_once_after_a_shrink() {
    let n = network(10);
    let pool = n.create_buffer_pool(1, 10).unwrap();
    drop((0..10).map(|_| pool.request_buffer().unwrap().unwrap()).collect::<Vec<_>>());
    assert_eq!(pool.available_buffers(), 10);
    pool.set_num_buffers(5).unwrap();
    assert_eq!(pool.available_buffers(), 5);
    assert_eq!(n.available_buffers(), 5);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn bounded_pool_follows_its_size() {
    let n = network(8);
    let pool = n.create_buffer_pool(1, 2).unwrap();
    pool.set_num_buffers(1).unwrap();
    let b1 = pool.request_buffer().unwrap().unwrap();
    assert!(pool.request_buffer().unwrap().is_none());
    drop(b1);
    assert_eq!(pool.available_buffers(), 1);
    pool.set_num_buffers(2).unwrap();
    let b1 = pool.request_buffer().unwrap().unwrap();
    let b2 = pool.request_buffer().unwrap().unwrap();
    assert!(pool.request_buffer().unwrap().is_none());
    drop((b1, b2));
    assert_eq!(pool.available_buffers(), 2);
    pool.set_num_buffers(1).unwrap();
    assert_eq!(pool.available_buffers(), 1);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn availability_fires_exactly_once_per_change_to_available() {
    let n = network(2);
    let pool = n.create_buffer_pool(2, 2).unwrap();
    let a = pool.request_buffer().unwrap().unwrap();
    let b = pool.request_buffer().unwrap().unwrap();
    // Two listeners wait on the unavailable pool.
    let w1 = Arc::new(CountingWaker::default());
    let w2 = Arc::new(CountingWaker::default());
    let (mut id1, mut id2) = (None, None);
    assert!(pool.poll_available(&mut Context::from_waker(&Waker::from(Arc::clone(&w1))), &mut id1).is_pending());
    assert!(pool.poll_available(&mut Context::from_waker(&Waker::from(Arc::clone(&w2))), &mut id2).is_pending());
    assert_eq!(pool.stats().unwrap().notifications, 0);
    // The first recycle fires both, once; the second (still available) fires nothing.
    drop(a);
    drop(b);
    assert_eq!((w1.0.load(Ordering::SeqCst), w2.0.load(Ordering::SeqCst)), (1, 1));
    let stats = pool.stats().unwrap();
    assert_eq!(stats.notifications, 1);
    assert_eq!(stats.waits, 0, "listeners are not requests");
    assert!(pool.poll_available(&mut Context::from_waker(Waker::noop()), &mut id1).is_ready());
    // Unavailable again, available again: a second notification.
    let held: Vec<_> = (0..2).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    assert!(pool.request_buffer().unwrap().is_none()); // marks it unavailable
    drop(held);
    assert_eq!(pool.stats().unwrap().notifications, 2);
    assert_eq!((w1.0.load(Ordering::SeqCst), w2.0.load(Ordering::SeqCst)), (1, 1), "listeners fire once");
    pool.forget_waiter(&mut id2);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn a_blocked_request_times_out_and_a_recycle_unblocks_it() {
    let n = network(1);
    let pool = Arc::new(n.create_buffer_pool(1, 1).unwrap());
    let held = pool.request_buffer().unwrap().unwrap();
    match pool.request_buffer_blocking(Some(Duration::from_millis(20)), None) {
        Err(BufferPoolError::Timeout { requested: 1, obtained: 0, waited_ms }) => assert!(waited_ms >= 20),
        other => panic!("{other:?}"),
    }
    let p = Arc::clone(&pool);
    let waiter = std::thread::spawn(move || p.request_buffer_blocking(Some(PATIENCE), None).map(|b| b.capacity()));
    // Recycle once the waiter is registered (the pool counts backpressure waits).
    while pool.stats().unwrap().waits < 2 {
        std::thread::yield_now();
    }
    drop(held);
    assert_eq!(waiter.join().unwrap().unwrap(), 4096);
    assert_eq!(pool.stats().unwrap().waits, 2);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn destroy_wakes_blocked_requesters_with_an_error() {
    let n = network(1);
    let pool = Arc::new(n.create_buffer_pool(1, 1).unwrap());
    let held = pool.request_buffer().unwrap().unwrap();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let p = Arc::clone(&pool);
            std::thread::spawn(move || p.request_buffer_blocking(None, None))
        })
        .collect();
    while pool.stats().unwrap().waits < 3 {
        std::thread::yield_now();
    }
    pool.destroy();
    for t in threads {
        assert!(matches!(t.join().unwrap(), Err(BufferPoolError::Destroyed { .. })));
    }
    // The buffer in flight goes to the global pool when dropped.
    assert_eq!(n.available_buffers(), 0);
    drop(held);
    assert_eq!(n.available_buffers(), 1);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn a_cancelled_request_returns_and_leaves_no_registration() {
    let n = network(1);
    let pool = Arc::new(n.create_buffer_pool(1, 1).unwrap());
    let held = pool.request_buffer().unwrap().unwrap();
    let cancel = Cancellation::new();
    let (p, c) = (Arc::clone(&pool), cancel.clone());
    let t = std::thread::spawn(move || p.request_buffer_blocking(None, Some(&c)));
    while pool.stats().unwrap().waits < 1 {
        std::thread::yield_now();
    }
    cancel.cancel();
    assert!(matches!(t.join().unwrap(), Err(BufferPoolError::Cancelled { requested: 1 })));
    // An already cancelled token fails at once (when the pool is empty).
    assert!(matches!(pool.request_buffer_blocking(None, Some(&cancel)), Err(BufferPoolError::Cancelled { .. })));
    drop(held);
    // The buffer is not handed to a requester that is gone.
    assert_eq!(pool.available_buffers(), 1);
    drop(pool);
    assert_all_back(&n);
}

/// 8 tasks, 4 buffers, each task holding its buffer across a suspension.
async fn eight_tasks_share_four_buffers(pool: Arc<numaseg::LocalBufferPool>) -> u64 {
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let pool = Arc::clone(&pool);
        tasks.push(tokio::spawn(async move {
            let mut sum = 0u64;
            for i in 0..200u32 {
                let mut b = pool.request_buffer_async().await.unwrap();
                b.put_u32(t * 1000 + i);
                tokio::task::yield_now().await; // hold it across a suspension
                sum += u64::from(b.get_u32());
            }
            sum
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += tokio::time::timeout(PATIENCE, t).await.expect("no deadlock").unwrap();
    }
    total
}

#[test]
fn async_requests_under_tokio_wait_for_recycles() {
    let expected: u64 = (0..8u64).map(|t| (0..200u64).map(|i| t * 1000 + i).sum::<u64>()).sum();
    let n = network(4);
    let pool = Arc::new(n.create_buffer_pool(4, 4).unwrap());
    // One thread: the fifth task deterministically finds the pool empty and waits.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(eight_tasks_share_four_buffers(Arc::clone(&pool))), expected);
    let stats = pool.stats().unwrap();
    assert!(stats.waits > 0 && stats.notifications > 0, "{stats:?}");
    // Two worker threads: real concurrency.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    assert_eq!(rt.block_on(eight_tasks_share_four_buffers(Arc::clone(&pool))), expected);
    drop(rt);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn a_dropped_async_request_is_withdrawn() {
    let n = network(1);
    let pool = n.create_buffer_pool(1, 1).unwrap();
    let held = pool.request_buffer().unwrap().unwrap();
    let wake = Arc::new(CountingWaker::default());
    let waker = Waker::from(Arc::clone(&wake));
    {
        let mut fut = std::pin::pin!(pool.request_buffer_async());
        assert!(fut.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    } // dropped: withdrawn
    drop(held);
    assert_eq!(wake.0.load(Ordering::SeqCst), 0, "a withdrawn request is not woken");
    assert_eq!(pool.available_buffers(), 1);
    // The async future works with a plain waker too.
    {
        let mut fut = std::pin::pin!(pool.request_buffer_async());
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(b)) => drop(b),
            other => panic!("{other:?}"),
        }
    }
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn exclusive_requests_wait_for_recycled_excess_and_undo_on_timeout_and_cancel() {
    let n = network(4);
    let pool = n.create_buffer_pool(1, 4).unwrap();
    let held: Vec<_> = (0..4).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    // Guaranteed (min 1 + 3 ≤ 4) but not free: waits, times out, undoes everything.
    match n.request_exclusive(3, Some(Duration::from_millis(20)), None) {
        Err(BufferPoolError::Timeout { requested: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(n.required_buffers(), 1);
    assert_eq!(pool.num_buffers(), 4, "the pool grew back after the undo");
    // Cancelled the same way.
    let cancel = Cancellation::new();
    cancel.cancel();
    assert!(matches!(n.request_exclusive(3, None, Some(&cancel)), Err(BufferPoolError::Cancelled { requested: 3 })));
    assert_eq!(n.required_buffers(), 1);
    // Minimum more than what is free, immediately, with the numbers.
    assert!(matches!(
        n.request_exclusive(4, None, None),
        Err(BufferPoolError::Insufficient { required: 4, available: 3, .. })
    ));
    // Waiting succeeds as the pool's excess is recycled.
    let network2 = n.clone();
    let t =
        std::thread::spawn(move || network2.request_exclusive(3, Some(PATIENCE), None).map(|e| e.available_buffers()));
    while pool.num_buffers() != 1 {
        std::thread::yield_now();
    }
    drop(held);
    assert_eq!(t.join().unwrap().unwrap(), 3);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn exclusive_request_is_undone_when_the_network_pool_is_destroyed_meanwhile() {
    let n = network(2);
    let pool = n.create_buffer_pool(1, 2).unwrap();
    let held: Vec<_> = (0..2).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    let network2 = n.clone();
    let t = std::thread::spawn(move || network2.request_exclusive(1, None, None));
    while n.required_buffers() != 2 {
        std::thread::yield_now();
    }
    n.destroy();
    assert!(matches!(t.join().unwrap(), Err(BufferPoolError::NetworkDestroyed { total: 2, .. })));
    drop(held);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn exclusive_buffers_return_to_their_set_and_it_notifies() {
    let n = network(4);
    let exclusive = n.request_exclusive(2, None, None).unwrap();
    let s = exclusive.stats().unwrap();
    assert_eq!((s.kind, s.min, s.max, s.owned), (PoolKind::Exclusive, 2, 2, 2));
    let a = exclusive.request_buffer().unwrap().unwrap();
    let b = exclusive.request_buffer().unwrap().unwrap();
    assert!(exclusive.request_buffer().unwrap().is_none());
    drop(a);
    assert_eq!(exclusive.available_buffers(), 1);
    // One notification when the set filled up, one when it turned available again.
    assert_eq!(exclusive.stats().unwrap().notifications, 2);
    assert_eq!(n.available_buffers(), 2, "exclusive buffers never go back to the global pool while in use");
    drop(b);
    drop(exclusive);
    assert_all_back(&n);
}

#[test]
fn buffers_read_write_share_and_recycle_exactly_once() {
    let n = network(2);
    let pool = n.create_buffer_pool(2, 2).unwrap();
    let mut b = pool.request_buffer().unwrap().unwrap();
    assert_eq!((b.capacity(), b.write_limit(), b.remaining_mut(), b.len()), (4096, 4096, 4096, 0));
    b.put_slice(&[7; 4000]);
    assert_eq!(b.remaining_mut(), 96);
    b.advance(1000);
    assert_eq!((b.reader_index(), b.writer_index(), b.remaining()), (1000, 4000, 3000));
    let shared = b.into_shared();
    let views: Vec<_> = (0..10).map(|i| shared.slice(i * 100..(i + 1) * 100)).collect();
    let bytes = shared.clone();
    let as_bytes = numaseg::buffer_pool::Buffer::into_bytes(pool.request_buffer().unwrap().unwrap());
    drop(shared);
    // Views travel to other threads; the buffer comes back after the last one.
    let t = std::thread::spawn(move || {
        views.iter().map(|v| v.as_ref().iter().map(|&x| u64::from(x)).sum::<u64>()).sum::<u64>()
    });
    assert_eq!(t.join().unwrap(), 7 * 1000);
    assert_eq!(pool.available_buffers(), 0);
    drop(bytes);
    assert_eq!(pool.available_buffers(), 1);
    drop(as_bytes);
    assert_eq!(pool.available_buffers(), 2);
    let stats = n.stats();
    assert_eq!((stats.requested, stats.recycled), (2, 2));
    // The writable size limits writers, not the segment.
    pool.set_writable_size(100);
    let mut b = pool.request_buffer().unwrap().unwrap();
    assert_eq!((b.capacity(), b.remaining_mut()), (4096, 100));
    b.put_slice(&[1; 100]);
    assert_eq!(b.remaining_mut(), 0);
    b.set_write_limit(4096);
    assert_eq!(b.remaining_mut(), 3996);
    drop(b);
    drop(pool);
    assert_all_back(&n);
}

#[test]
#[should_panic(expected = "advance")]
fn writing_past_the_limit_panics() {
    let n = network(1);
    let pool = n.create_buffer_pool(1, 1).unwrap();
    pool.set_writable_size(10);
    let mut b = pool.request_buffer().unwrap().unwrap();
    b.put_slice(&[0; 11]);
}

#[test]
fn stats_and_prometheus_name_every_pool() {
    let n = network(8);
    let pool = n.create_buffer_pool(2, 8).unwrap();
    let exclusive = n.request_exclusive(2, None, None).unwrap();
    let a = pool.request_buffer().unwrap().unwrap();
    let stats = n.stats();
    assert_eq!((stats.total, stats.required, stats.in_use, stats.available), (8, 4, 1, 5));
    assert_eq!(stats.pools.len(), 2);
    let p = &stats.pools[0];
    assert_eq!(
        (p.id, p.kind, p.min, p.max, p.size, p.owned, p.in_use, p.available),
        (pool.id(), PoolKind::Pool, 2, 8, 6, 1, 1, 0)
    );
    let text = stats.to_prometheus();
    for needle in [
        "numaseg_network_buffers_total 8",
        "numaseg_network_buffers_required 4",
        "numaseg_network_buffers_in_use 1",
        "numaseg_network_buffer_size_bytes 4096",
        "numaseg_network_buffer_requests_total 1",
        "numaseg_network_buffers_available{node=\"0\"} 5",
        &format!(
            "numaseg_network_pool_buffers{{pool=\"{}\",kind=\"exclusive\",node=\"0\",state=\"owned\"}} 2",
            exclusive.id()
        ),
        &format!("numaseg_network_pool_backpressure_waits_total{{pool=\"{}\",kind=\"pool\",node=\"0\"}} 0", pool.id()),
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    drop((a, pool, exclusive));
    assert_all_back(&n);
}

#[test]
fn concurrent_request_recycle_loses_and_duplicates_nothing() {
    const THREADS: usize = 4;
    let ops = if cfg!(debug_assertions) { 5_000 } else { 50_000 };
    let n = network(64);
    let pools: Vec<_> = (0..2).map(|_| Arc::new(n.create_buffer_pool(4, 64).unwrap())).collect();
    let live = Mutex::new(HashSet::new());
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (pools, live, barrier, n) = (&pools, &live, &barrier, &n);
            s.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t as u64);
                let mut held = Vec::new();
                barrier.wait();
                for i in 0..ops {
                    let pool = &pools[rng.usize(0..2)];
                    if rng.bool() || held.len() > 20 {
                        if let Some((mut b, tag)) = held.pop() {
                            let b: &mut numaseg::Buffer = &mut b;
                            assert_eq!(b.get_u64(), tag, "someone wrote into a buffer in my hands");
                            assert!(live.lock().unwrap().remove(&(b.as_ptr() as usize)));
                        }
                    } else if let Some(mut b) = pool.request_buffer().unwrap() {
                        assert!(live.lock().unwrap().insert(b.as_ptr() as usize), "handed out twice");
                        let tag = (t as u64) << 32 | i as u64;
                        b.put_u64(tag);
                        held.push((b, tag));
                    }
                    if i % 1000 == 0 && t == 0 {
                        // Redistribution races with the others' requests and recycles.
                        let _ = n.create_buffer_pool(1, 8).map(|p| p.request_buffer().ok().flatten());
                    }
                }
                for (b, tag) in held {
                    let mut b = b;
                    assert_eq!(b.get_u64(), tag);
                    assert!(live.lock().unwrap().remove(&(b.as_ptr() as usize)));
                }
            });
        }
    });
    assert!(live.lock().unwrap().is_empty());
    drop(pools);
    assert_all_back(&n);
}
