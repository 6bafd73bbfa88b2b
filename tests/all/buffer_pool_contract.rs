//! The parts of Flink's `NetworkBufferPool` contract added in #15, each built from a behaviour of
//! Flink's own tests (`NetworkBufferPoolTest`, `LocalBufferPoolTest`, the buffer tests),
//! re-expressed: destroying all local pools leaves exclusive sets accounted; destroying the
//! global pool fails every later request, wakes every waiter and lets the memory go with the
//! last buffer; the global pool's availability future; exclusive buffers given back one subset
//! at a time; indexed access and non-consuming read-only views on a buffer; an O(1) count of a
//! pool's idle buffers.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, BufMut};
use numaseg::buffer_pool::NetworkBufferPool;
use numaseg::{ArenaManager, BufferPoolError, Config};

use crate::buffer_pool::CountingWaker;
use crate::buffer_pool_factory::{assert_all_back, network};

/// A network pool with the manager behind it, to watch the memory go back.
fn with_manager(buffers: usize) -> (Arc<ArenaManager>, NetworkBufferPool) {
    let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1).unwrap());
    let n = NetworkBufferPool::with_buffers(Arc::clone(&manager), buffers, 4096).unwrap();
    (manager, n)
}

// === 1. destroy_all_buffer_pools destroys local pools only ===

#[test]
fn destroying_all_local_pools_keeps_exclusive_sets_and_their_reservation() {
    // The numbers: 10 buffers, 5 exclusive ones in hand.
    let n = network(10);
    let pool = n.create_buffer_pool(1, 10).unwrap();
    let exclusive = n.request_exclusive(5, None, None).unwrap();
    let mine: Vec<_> = (0..5).map(|_| exclusive.request_buffer().unwrap().unwrap()).collect();
    let err = n.destroy_all_buffer_pools().unwrap_err();
    assert!(matches!(err, BufferPoolError::UnpooledOutstanding { buffers: 5 }), "{err:?}");
    assert_eq!(err.to_string(), "5 unpooled buffers still outstanding after destroying all local pools");
    assert!(pool.is_destroyed());
    assert!(!exclusive.is_destroyed());
    assert_eq!(n.required_buffers(), 5, "the exclusive buffers stay reserved");
    // Only 5 buffers can ever be served now: a pool of 10 is refused, one of 5 fits.
    assert!(matches!(
        n.create_buffer_pool(10, 10),
        Err(BufferPoolError::Insufficient { required: 10, available: 5, total: 10, .. })
    ));
    let five = n.create_buffer_pool(5, 5).unwrap();
    let theirs: Vec<_> = (0..5).map(|_| five.request_buffer().unwrap().unwrap()).collect();
    // The exclusive set still works: a buffer comes back to it.
    drop(mine);
    assert_eq!(exclusive.available_buffers(), 5);
    drop((theirs, five, exclusive));
    n.destroy_all_buffer_pools().expect("nothing unpooled is left");
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn destroying_all_local_pools_leaves_a_pending_exclusive_request_waiting() {
    let n = network(2);
    let pool = n.create_buffer_pool(1, 2).unwrap();
    let held: Vec<_> = (0..2).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    let request = n.request_exclusive_async_on(numaseg::numa::NodeId::new(0), 1).unwrap();
    assert!(matches!(n.destroy_all_buffer_pools(), Err(BufferPoolError::UnpooledOutstanding { buffers: 1 })));
    // The destroyed pool's buffers go back as they are recycled, and the request gets one.
    drop(held);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let exclusive = rt.block_on(request).expect("filled from the recycled buffers");
    assert_eq!(exclusive.available_buffers(), 1);
    drop((exclusive, pool));
    assert_all_back(&n);
}

// === 2. NetworkBufferPool::destroy / is_destroyed ===

#[test]
fn after_destroy_every_request_and_creation_fails_with_the_numbers() {
    let n = network(4);
    let pool = n.create_buffer_pool(1, 4).unwrap();
    let exclusive = n.request_exclusive(1, None, None).unwrap();
    let held = pool.request_buffer().unwrap().unwrap();
    assert!(!n.is_destroyed());
    n.destroy();
    n.destroy(); // twice is harmless
    assert!(n.is_destroyed() && pool.is_destroyed() && exclusive.is_destroyed());
    let err = pool.request_buffer().unwrap_err();
    assert!(matches!(err, BufferPoolError::NetworkDestroyed { outstanding: 1, total: 4 }), "{err:?}");
    assert!(err.to_string().contains("1 of its 4 buffers"), "{err}");
    assert!(matches!(exclusive.request_buffer(), Err(BufferPoolError::NetworkDestroyed { .. })));
    assert!(matches!(n.create_buffer_pool(1, 1), Err(BufferPoolError::NetworkDestroyed { .. })));
    assert!(matches!(n.request_exclusive(1, None, None), Err(BufferPoolError::NetworkDestroyed { .. })));
    assert!(matches!(pool.set_num_buffers(1), Err(BufferPoolError::NetworkDestroyed { .. })));
    assert!(!n.is_available());
    assert_eq!(n.required_buffers(), 0);
    drop(held);
    drop((pool, exclusive));
    assert_all_back(&n);
}

#[test]
fn the_memory_goes_back_when_the_last_buffer_returns_after_destroy() {
    let (m, n) = with_manager(3);
    let pool = n.create_buffer_pool(1, 3).unwrap();
    let mut a = pool.request_buffer().unwrap().unwrap();
    let b = pool.request_buffer().unwrap().unwrap().into_shared();
    let view = b.clone();
    n.destroy();
    assert_eq!(m.stats().used_segments(), 3, "buffers in hands keep every segment");
    a.put_slice(b"still usable"); // a buffer in hand works until dropped
    assert_eq!(a.chunk(), b"still usable");
    drop(a);
    drop(b);
    assert_eq!(m.stats().used_segments(), 3, "a view is still out");
    drop(view);
    assert_eq!(m.stats().used_segments(), 0, "the last buffer back: the memory goes, handles alive");
    let stats = n.stats();
    assert_eq!((stats.available, stats.requested, stats.recycled), (3, 2, 2));
    drop(pool);
    drop(n);
    assert_eq!(m.stats().used_segments(), 0);
}

#[test]
fn destroy_with_nothing_out_frees_the_memory_at_once() {
    let (m, n) = with_manager(2);
    let pool = n.create_buffer_pool(1, 2).unwrap();
    drop(pool.request_buffer().unwrap()); // idle in the pool: goes back with the destroy
    n.destroy();
    assert_eq!(m.stats().used_segments(), 0);
    drop(pool);
}

#[test]
fn destroy_wakes_blocking_async_exclusive_and_availability_waiters_with_the_error() {
    // Flink: a requester blocked on the global pool is released by destroy with an error.
    let n = network(3);
    let pool = Arc::new(n.create_buffer_pool(1, 3).unwrap());
    let held: Vec<_> = (0..3).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    let blocking = {
        let p = Arc::clone(&pool);
        std::thread::spawn(move || p.request_buffer_blocking(None, None))
    };
    let unpooled = {
        let n = n.clone();
        // Reserved at once (1 + 2 ≤ 3), waits for the pool's excess to come back.
        std::thread::spawn(move || n.request_exclusive(2, None, None))
    };
    while pool.stats().unwrap().waits < 1 || n.required_buffers() < 3 {
        std::thread::yield_now();
    }
    // The async request and the global availability future, polled once: pending.
    let waker = Arc::new(CountingWaker::default());
    let w = Waker::from(Arc::clone(&waker));
    let mut cx = Context::from_waker(&w);
    let mut request = Box::pin(pool.request_buffer_async());
    let mut available = Box::pin(n.available());
    assert!(request.as_mut().poll(&mut cx).is_pending());
    assert!(available.as_mut().poll(&mut cx).is_pending());
    n.destroy();
    assert_eq!(waker.0.load(Ordering::SeqCst), 2, "both futures woken once");
    let is_gone = |r: &BufferPoolError| matches!(r, BufferPoolError::NetworkDestroyed { total: 3, .. });
    assert!(matches!(request.as_mut().poll(&mut cx), Poll::Ready(Err(ref e)) if is_gone(e)));
    assert!(matches!(available.as_mut().poll(&mut cx), Poll::Ready(Err(ref e)) if is_gone(e)));
    assert!(is_gone(&blocking.join().unwrap().unwrap_err()));
    assert!(is_gone(&unpooled.join().unwrap().unwrap_err()));
    drop((request, available));
    drop(held);
    drop(pool);
    assert_all_back(&n);
}

// === 3. the global availability future ===

#[test]
fn the_global_pool_is_available_until_exhausted_and_again_after_a_recycle() {
    // Flink: available at first, unavailable once the last segment is requested, available
    // again — its future completed — once one is recycled.
    let n = network(2);
    assert!(n.is_available());
    let waker = Arc::new(CountingWaker::default());
    let w = Waker::from(Arc::clone(&waker));
    let mut cx = Context::from_waker(&w);
    assert!(Box::pin(n.available()).as_mut().poll(&mut cx).is_ready(), "completes at once when available");
    let exclusive = n.request_exclusive(2, None, None).unwrap();
    assert!(!n.is_available());
    let mut future = Box::pin(n.available());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert!(future.as_mut().poll(&mut cx).is_pending(), "re-polling keeps one registration");
    let a = exclusive.request_buffer().unwrap().unwrap();
    let b = exclusive.request_buffer().unwrap().unwrap();
    drop(a); // back to the exclusive set, not the global pool: still unavailable
    assert_eq!(waker.0.load(Ordering::SeqCst), 0);
    assert_eq!(exclusive.recycle_exclusive([b]).unwrap(), 1);
    assert_eq!(waker.0.load(Ordering::SeqCst), 1, "woken exactly once");
    assert!(n.is_available());
    assert!(future.as_mut().poll(&mut cx).is_ready());
    drop(future);
    drop(exclusive);
    assert_all_back(&n);
}

#[test]
fn a_buffer_reaching_the_global_pool_through_a_destroyed_pool_wakes_the_future() {
    let n = network(1);
    let pool = n.create_buffer_pool(1, 1).unwrap();
    let held = pool.request_buffer().unwrap().unwrap();
    pool.destroy();
    let (tx, rx) = mpsc::channel();
    let t = {
        let n = n.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            tx.send(()).unwrap();
            rt.block_on(n.available())
        })
    };
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(5)); // likely registered by now; either way it completes
    drop(held);
    t.join().unwrap().expect("woken by the buffer's return");
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn a_dropped_availability_future_leaves_no_registration_behind() {
    let n = network(1);
    let exclusive = n.request_exclusive(1, None, None).unwrap();
    let waker = Arc::new(CountingWaker::default());
    let w = Waker::from(Arc::clone(&waker));
    let mut future = Box::pin(n.available());
    assert!(future.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
    drop(future);
    drop(exclusive); // the buffer goes back to the global pool: nobody to wake
    assert_eq!(waker.0.load(Ordering::SeqCst), 0);
    assert_all_back(&n);
}

// === 4. giving exclusive buffers back one subset at a time ===

#[test]
fn a_subset_of_exclusive_buffers_goes_back_and_the_reservation_drops_by_exactly_that_many() {
    // Flink: recycleUnpooledMemorySegments takes any subset back and lowers the required count.
    let n = network(10);
    let pool = n.create_buffer_pool(1, 10).unwrap();
    let exclusive = n.request_exclusive(5, None, None).unwrap();
    assert_eq!((pool.num_buffers(), n.required_buffers()), (5, 6));
    let mut mine: Vec<_> = (0..5).map(|_| exclusive.request_buffer().unwrap().unwrap()).collect();
    let two: Vec<_> = mine.drain(..2).collect();
    assert_eq!(n.available_buffers(), 5, "the pool takes its share on demand");
    assert_eq!(exclusive.recycle_exclusive(two).unwrap(), 2);
    assert_eq!(n.required_buffers(), 4);
    assert_eq!(exclusive.num_buffers(), 3);
    assert_eq!(n.available_buffers(), 7, "the two buffers are in the global pool");
    assert_eq!(pool.num_buffers(), 7, "the redistribution gave the freed share at once");
    // One at a time down to none.
    for (i, b) in mine.into_iter().enumerate() {
        assert_eq!(exclusive.recycle_exclusive([b]).unwrap(), 1);
        assert_eq!(n.required_buffers(), 3 - i);
    }
    assert_eq!((exclusive.num_buffers(), pool.num_buffers()), (0, 10));
    drop(n.create_buffer_pool(9, 9).expect("1 + 9 of 10 reserved: fits"));
    assert!(matches!(n.create_buffer_pool(10, 10), Err(BufferPoolError::Insufficient { available: 9, .. })));
    drop((exclusive, pool));
    assert_all_back(&n);
}

#[test]
fn exclusive_buffers_given_back_go_straight_to_a_waiting_pool() {
    let n = network(4);
    let pool = Arc::new(n.create_buffer_pool(1, 4).unwrap());
    let exclusive = n.request_exclusive(3, None, None).unwrap();
    let only = pool.request_buffer().unwrap().unwrap();
    let waiter = {
        let p = Arc::clone(&pool);
        std::thread::spawn(move || p.request_buffer_blocking(None, None))
    };
    while pool.stats().unwrap().waits < 1 {
        std::thread::yield_now();
    }
    let b = exclusive.request_buffer().unwrap().unwrap();
    exclusive.recycle_exclusive([b]).unwrap();
    let got = waiter.join().unwrap().expect("the freed buffer reaches the waiter");
    assert_eq!(pool.num_buffers(), 2);
    drop((got, only, exclusive));
    drop(Arc::try_unwrap(pool).unwrap());
    assert_all_back(&n);
}

#[test]
fn only_exclusive_sets_take_their_own_buffers_back() {
    let n = network(4);
    let pool = n.create_buffer_pool(1, 2).unwrap();
    let exclusive = n.request_exclusive(2, None, None).unwrap();
    let theirs = pool.request_buffer().unwrap().unwrap();
    let err = exclusive.recycle_exclusive([theirs]).unwrap_err();
    assert!(
        matches!(err, BufferPoolError::ForeignBuffer { buffer_pool, pool: p } if buffer_pool == pool.id() && p == exclusive.id())
    );
    assert_eq!(pool.available_buffers(), 1, "the foreign buffer went back to its own pool");
    let mine = pool.request_buffer().unwrap().unwrap();
    assert!(matches!(pool.recycle_exclusive([mine]), Err(BufferPoolError::NotExclusive { .. })));
    assert_eq!((n.required_buffers(), exclusive.num_buffers()), (3, 2), "nothing was lowered");
    // After the set is destroyed its buffers just go back; there is nothing left to lower.
    let last = exclusive.request_buffer().unwrap().unwrap();
    exclusive.destroy();
    assert_eq!(exclusive.recycle_exclusive([last]).unwrap(), 0);
    drop((pool, exclusive));
    assert_all_back(&n);
}

// === 5. indexed access and non-consuming read-only views ===

#[test]
fn indexed_access_is_bounds_checked_at_the_capacity_and_moves_no_index() {
    // Flink's network buffer tests: get/set at an index work anywhere within the capacity and
    // fail just past it, whatever the reader and writer indexes.
    let n = network(1);
    let pool = n.create_buffer_pool(1, 1).unwrap();
    let mut b = pool.request_buffer().unwrap().unwrap();
    let cap = b.capacity();
    b.set_u64_at(cap - 8, 0x0102_0304_0506_0708).unwrap();
    assert_eq!(b.get_u64_at(cap - 8).unwrap(), 0x0102_0304_0506_0708);
    assert_eq!(b.get_u64_le_at(cap - 8).unwrap(), 0x0807_0605_0403_0201, "the same bytes, the other order");
    assert_eq!(b.get_u8_at(cap - 8).unwrap(), 1, "big-endian: the high byte first");
    let err = b.get_u64_at(cap - 7).unwrap_err();
    assert!(
        matches!(err, BufferPoolError::OutOfBounds { index, len: 8, capacity } if index == cap - 7 && capacity == cap)
    );
    assert_eq!(err.to_string(), format!("8 bytes at index {} are outside the buffer's {cap} bytes", cap - 7));
    assert!(matches!(b.set_u16_at(cap - 1, 7), Err(BufferPoolError::OutOfBounds { len: 2, .. })));
    assert!(matches!(b.get_u8_at(usize::MAX), Err(BufferPoolError::OutOfBounds { .. })), "no overflow");
    assert!(b.set_bytes_at(usize::MAX, b"xy").is_err());
    assert!(b.set_bytes_at(cap, b"").is_ok(), "an empty write at the end is within bounds");
    assert_eq!((b.reader_index(), b.writer_index()), (0, 0), "indexed access moves no index");
    // Every typed pair round-trips, and a big-endian write reads back reversed as little-endian.
    b.set_i16_at(0, -2).unwrap();
    assert_eq!(b.get_i16_at(0).unwrap(), -2);
    b.set_i32_le_at(2, -70_000).unwrap();
    assert_eq!(b.get_i32_le_at(2).unwrap(), -70_000);
    b.set_u32_at(6, 0xA1B2_C3D4).unwrap();
    assert_eq!(b.get_u32_le_at(6).unwrap(), 0xD4C3_B2A1);
    b.set_f64_at(10, 6.5).unwrap();
    assert_eq!(b.get_f64_at(10).unwrap(), 6.5);
    b.set_f32_le_at(18, -0.75).unwrap();
    assert_eq!(b.get_f32_le_at(18).unwrap(), -0.75);
    b.set_i8_at(22, -1).unwrap();
    assert_eq!(b.get_u8_at(22).unwrap(), 0xFF);
    // Written bytes become readable once the writer index passes them.
    b.put_bytes(0, 4);
    b.set_u32_at(0, 0x6869_2121).unwrap();
    assert_eq!(b.chunk(), b"hi!!");
    assert_eq!(b.get_u32(), 0x6869_2121, "bytes::Buf reads what the setter wrote");
    drop(b);
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn a_read_only_slice_shares_the_buffer_and_leaves_the_writer_writable() {
    // Flink: retainBuffer + readOnlySlice — the slice sees the bytes written so far, the
    // builder keeps appending, and the buffer is recycled only when both are released.
    let n = network(1);
    let pool = n.create_buffer_pool(1, 1).unwrap();
    let mut b = pool.request_buffer().unwrap().unwrap();
    b.put_slice(b"first");
    let first = b.read_only_slice();
    b.put_slice(b" second");
    let both = b.read_only_slice();
    assert_eq!((first.as_ref(), both.as_ref()), (&b"first"[..], &b"first second"[..]));
    // Below the shared end nothing writes; above it everything does.
    let err = b.set_u8_at(11, b'!').unwrap_err();
    assert!(matches!(err, BufferPoolError::ReadOnly { index: 11, len: 1, shared: 12 }), "{err:?}");
    b.set_u8_at(12, b'!').unwrap();
    assert_eq!(b.as_mut_slice().len(), 0, "the mutable slice starts above the shared bytes");
    b.put_u8(b'.');
    assert_eq!(b.as_mut_slice(), b".");
    b.clear();
    assert_eq!((b.reader_index(), b.writer_index()), (12, 12), "clearing keeps the shared bytes");
    assert_eq!(both.as_ref(), b"first second", "views unchanged by the writer");
    // The counts: the writer plus two views; dropping the writer first keeps the buffer out.
    let stats = n.stats();
    assert_eq!((stats.requested, stats.recycled, stats.in_use), (1, 0, 1));
    drop(first);
    drop(b);
    assert_eq!(pool.available_buffers(), 0, "a view still holds it");
    drop(both);
    assert_eq!(pool.available_buffers(), 1, "the last handle recycled it");
    assert_eq!(n.stats().recycled, 1, "exactly once");
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn the_writer_thaws_when_its_views_are_gone_and_can_become_a_view_itself() {
    let n = network(1);
    let pool = n.create_buffer_pool(1, 1).unwrap();
    let mut b = pool.request_buffer().unwrap().unwrap();
    b.put_slice(b"abc");
    drop(b.read_only_slice());
    b.set_bytes_at(0, b"A").expect("no view left: writable again");
    b.clear();
    assert_eq!(b.writer_index(), 0);
    b.put_slice(b"xyz");
    let view = b.read_only_slice();
    let tail = b.into_shared(); // the writer's reference becomes a view's
    assert_eq!((view.as_ref(), tail.as_ref()), (&b"xyz"[..], &b"xyz"[..]));
    drop(view);
    assert_eq!(pool.available_buffers(), 0);
    drop(tail);
    assert_eq!(pool.available_buffers(), 1);
    let stats = n.stats();
    assert_eq!((stats.requested, stats.recycled), (1, 1));
    drop(pool);
    assert_all_back(&n);
}

// === 6. available_buffers in O(1) ===

#[test]
fn available_buffers_counts_the_idle_stack_exactly_at_quiescence() {
    // Flink's LocalBufferPoolTest: the number of available segments follows every request and
    // recycle, and a shrink gives idle ones back.
    let n = network(64);
    let pool = n.create_buffer_pool(1, 64).unwrap();
    assert_eq!(pool.available_buffers(), 0, "taken from the global pool on demand");
    let mut held: Vec<_> = (0..64).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    assert_eq!(pool.available_buffers(), 0);
    for i in 1..=64 {
        drop(held.pop());
        assert_eq!(pool.available_buffers(), i);
    }
    // Out of order: take 10, give back every other one.
    let mut ten: Vec<_> = (0..10).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    assert_eq!(pool.available_buffers(), 54);
    let odd: Vec<_> = (0..5).map(|i| ten.remove(i)).collect();
    drop(odd);
    assert_eq!(pool.available_buffers(), 59);
    pool.set_num_buffers(60).unwrap(); // 64 owned: 4 idle ones go back at once
    assert_eq!((pool.available_buffers(), n.available_buffers()), (55, 4));
    drop(ten);
    assert_eq!(pool.available_buffers(), 60, "within its size it keeps what comes back");
    assert_eq!(pool.available_buffers(), pool.owned_buffers() - pool.buffers_in_use());
    pool.destroy();
    assert_eq!(pool.available_buffers(), 0);
    drop(pool);
    // The slow paths push too: an exclusive set filled under the lock, and a pool that was
    // found empty (its next recycle goes through the lock to fire the notification).
    let exclusive = n.request_exclusive(3, None, None).unwrap();
    assert_eq!(exclusive.available_buffers(), 3);
    let small = n.create_buffer_pool(2, 2).unwrap();
    let two: Vec<_> = (0..2).map(|_| small.request_buffer().unwrap().unwrap()).collect();
    assert!(small.request_buffer().unwrap().is_none(), "now unavailable");
    let mut two = two.into_iter();
    drop(two.next());
    assert_eq!(small.available_buffers(), 1);
    drop(two.next());
    assert_eq!(small.available_buffers(), 2);
    drop((exclusive, small));
    assert_all_back(&n);
}

#[test]
fn available_buffers_under_churn_never_exceeds_what_the_pool_owns() {
    let n = network(8);
    let pool = Arc::new(n.create_buffer_pool(8, 8).unwrap());
    let held: Vec<_> = (0..8).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    drop(held);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churners: Vec<_> = (0..2)
        .map(|_| {
            let (pool, stop) = (Arc::clone(&pool), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let a = pool.request_buffer().unwrap();
                    let b = pool.request_buffer().unwrap();
                    drop((a, b));
                }
            })
        })
        .collect();
    for _ in 0..20_000 {
        let idle = pool.available_buffers();
        assert!((4..=8).contains(&idle), "two threads hold at most 4: {idle}");
    }
    stop.store(true, Ordering::Relaxed);
    for t in churners {
        t.join().unwrap();
    }
    assert_eq!(pool.available_buffers(), 8, "exact once quiet");
    drop(pool);
    assert_all_back(&n);
}

#[test]
fn reader_and_writer_indexes_move_within_their_bounds() {
    // Flink's buffer tests: setReaderIndex within [0, size], setSize within the capacity.
    let n = network(1);
    let pool = n.create_buffer_pool(1, 1).unwrap();
    let mut b = pool.request_buffer().unwrap().unwrap();
    b.set_write_limit(16);
    b.set_bytes_at(0, b"0123456789").unwrap();
    b.set_writer_index(10).unwrap();
    b.set_reader_index(4).unwrap();
    assert_eq!(b.chunk(), b"456789");
    assert!(matches!(b.set_reader_index(11), Err(BufferPoolError::OutOfBounds { index: 11, capacity: 10, .. })));
    assert!(matches!(b.set_writer_index(3), Err(BufferPoolError::OutOfBounds { index: 3, .. })), "below the reader");
    assert!(matches!(b.set_writer_index(17), Err(BufferPoolError::OutOfBounds { capacity: 16, .. })), "past the limit");
    let view = b.read_only_slice();
    assert!(matches!(b.set_writer_index(8), Err(BufferPoolError::ReadOnly { shared: 10, .. })));
    drop(view);
    b.set_writer_index(8).expect("the view is gone");
    assert_eq!(b.chunk(), b"4567");
    assert!(!pool.is_available(), "the only buffer is in hand");
    drop(b);
    assert!(pool.is_available());
    pool.destroy();
    assert!(!pool.is_available());
    drop(pool);
    assert_all_back(&n);
}
