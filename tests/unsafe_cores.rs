//! The unsafe cores exercised on the heap page source, small enough for Miri
//! (`scripts/miri.sh` runs this binary under `cargo miri test`; its flags say why):
//! segment access and slices, the thread cache's private stacks (fast paths, refill, spill,
//! trim), the spill deques and cross-thread stealing, foreign frees, thread-exit hand-back,
//! batches, the `Allocator` adapter, region carving, reclaim and decommit; the network buffer
//! refcounts (`Buffer` → `SharedBuffer`/`Bytes`, clones, slices, read-only slices of a buffer
//! still written, indexed access at the segment's edges, last drop recycles once; a destroyed pool's
//! segments given back with its last buffer); and the
//! memory manager's pages (`MemorySegment` accessors at the page's edges, revocation, bulk
//! allocation and release through the scratch vector, pages dropped on other threads); and the
//! owned handles (`OwnedSegment`, `OwnedMemorySegment`) outliving the user's last handle of
//! their manager or owner, the last one dropping it by value on another thread.
//! The same tests run natively as part of `cargo test`.

#![allow(clippy::unwrap_used, reason = "tests")]

use numaseg::config::ByteSize;
use numaseg::numa::NodeId;
use numaseg::{ArenaManager, Config};

const ROUNDS: usize = if cfg!(miri) { 3 } else { 200 };

fn tiny(nodes: usize) -> ArenaManager {
    let config = Config::builder()
        .region_size(ByteSize(2 << 20))
        .segment_size(ByteSize(4096))
        .cache_capacity(4)
        .retain_free(ByteSize(0))
        .build_from::<_, &str, &str>([])
        .unwrap();
    ArenaManager::heap_backed(&config, nodes).unwrap()
}

#[test]
fn segments_read_write_and_go_back_through_every_cache_path() {
    let m = tiny(1);
    for round in 0..ROUNDS {
        // More than the cache holds: refills, spills, pool batches, region carving.
        let mut held: Vec<_> = (0..20).map(|_| m.allocate(4096).unwrap()).collect();
        for (i, s) in held.iter_mut().enumerate() {
            s.as_mut_slice().fill(u8::try_from((i + round) % 256).unwrap());
        }
        for (i, s) in held.iter().enumerate() {
            // One comparison of the whole slice (a `memcmp`, which Miri runs as one step; a
            // loop over the bytes took most of this binary's time under Miri).
            let byte = u8::try_from((i + round) % 256).unwrap();
            assert_eq!(s.as_slice(), &[byte; 4096][..]);
        }
        drop(held);
    }
    assert_eq!(m.stats().used_segments(), 0);
    m.purge();
    assert_eq!(m.stats().total_committed_bytes, 0);
}

#[test]
fn batches_and_the_allocator_adapter() {
    let m = tiny(1);
    let mut batch = m.new_batch();
    m.allocate_bulk(8192, 9, &mut batch).unwrap();
    for (i, block) in batch.iter_mut().enumerate() {
        block[i] = 7;
    }
    let one = batch.pop().unwrap();
    assert_eq!(one.len(), 8192);
    drop(one);
    batch.release();
    let alloc = m.node_allocator(NodeId::new(0)).unwrap();
    let mut v: allocator_api2::vec::Vec<u64, _> = allocator_api2::vec::Vec::new_in(alloc);
    v.extend(0..600u64); // grows through several segment sizes
    assert_eq!(v.iter().sum::<u64>(), 599 * 600 / 2);
    drop(v);
    assert_eq!(m.stats().used_segments(), 0);
}

#[test]
fn cross_thread_and_cross_node_frees_with_thread_exit() {
    let manager = tiny(2);
    let m = &manager;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        let producer = s.spawn(move || {
            m.set_thread_node(NodeId::new(0)).unwrap();
            for _ in 0..ROUNDS * 4 {
                let mut seg = m.allocate(4096).unwrap();
                seg.as_mut_slice()[0] = 1;
                tx.send(seg).unwrap();
            }
        });
        let consumer = s.spawn(move || {
            m.set_thread_node(NodeId::new(1)).unwrap(); // every free is a foreign free
            let mut n = 0;
            while let Ok(seg) = rx.recv() {
                assert_eq!(seg.as_slice()[0], 1);
                drop(seg);
                n += 1;
            }
            n
        });
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), ROUNDS * 4);
    });
    assert_eq!(m.live_thread_caches(), 0);
    assert_eq!(m.stats().used_segments(), 0);
}

#[test]
fn stealing_between_threads_of_one_node() {
    let manager = tiny(1);
    let m = &manager;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let consumer = s.spawn(move || {
            let held: Vec<_> = (0..12).map(|_| m.allocate(4096).unwrap()).collect();
            drop(held); // spills into this thread's deque
            let _ = rx.recv();
        });
        // Give the consumer time to spill; the allocations below may steal from it.
        std::thread::yield_now();
        let mine: Vec<_> = (0..12).map(|_| m.allocate(4096).unwrap()).collect();
        drop(mine);
        drop(tx);
        consumer.join().unwrap();
    });
    assert_eq!(m.stats().used_segments(), 0);
}

// === buffer refcounts ===

/// A network buffer pool of `n` 4 KiB buffers on a tiny one-node manager.
fn tiny_network(n: usize) -> (std::sync::Arc<ArenaManager>, numaseg::NetworkBufferPool) {
    let manager = std::sync::Arc::new(tiny(1));
    let network = numaseg::NetworkBufferPool::with_buffers(std::sync::Arc::clone(&manager), n, 4096).unwrap();
    (manager, network)
}

/// Buffers handed out and recycled, and buffers in hands.
fn counts(network: &numaseg::NetworkBufferPool) -> (u64, u64, usize) {
    let st = network.stats();
    (st.requested, st.recycled, st.in_use)
}

#[test]
fn shared_buffer_views_recycle_once_on_the_last_drop() {
    use numaseg::bytes::{Buf, BufMut};
    let (manager, network) = tiny_network(4);
    let pool = network.create_buffer_pool(1, 4).unwrap();
    for round in 0..ROUNDS {
        let mut buffer = pool.request_buffer().unwrap().unwrap();
        buffer.put_slice(b"header:");
        buffer.put_u64_le(round as u64);
        buffer.advance(7); // the reader skips the header: views start there
        let shared = buffer.into_shared();
        assert_eq!(shared.len(), 8);
        let clones: Vec<_> = (0..3).map(|_| shared.clone()).collect();
        let tail = shared.slice(4..);
        let head = clones[0].slice(..4);
        drop(shared);
        drop(clones);
        // Two views left: still in hands, not recycled.
        assert_eq!(counts(&network).2, 1);
        let mut head = head;
        assert_eq!(u64::from(head.get_u32_le()), round as u64);
        assert!(head.is_empty());
        drop(head);
        assert_eq!(counts(&network).2, 1);
        assert_eq!(tail.as_ref(), [0; 4]);
        drop(tail); // the last view: recycled now, once
        let (requested, recycled, in_use) = counts(&network);
        assert_eq!((requested, recycled, in_use), (recycled, requested, 0));
    }
    drop(pool);
    drop(network);
    assert_eq!(manager.stats().used_segments(), 0);
}

#[test]
fn shared_buffer_views_dropped_on_other_threads_recycle_once() {
    use numaseg::bytes::BufMut;
    let (manager, network) = tiny_network(2);
    let pool = network.create_buffer_pool(1, 2).unwrap();
    for round in 0..ROUNDS {
        let mut buffer = pool.request_buffer().unwrap().unwrap();
        buffer.put_u32_le(u32::try_from(round).unwrap());
        // As `bytes::Bytes` too: its clones share the one view.
        let bytes = buffer.into_bytes();
        let shared = {
            let mut b = pool.request_buffer().unwrap().unwrap();
            b.put_u8(7);
            b.into_shared()
        };
        std::thread::scope(|s| {
            for _ in 0..2 {
                let (bytes, view) = (bytes.clone(), shared.clone());
                s.spawn(move || {
                    assert_eq!(bytes[..4], u32::try_from(round).unwrap().to_le_bytes());
                    assert_eq!(view.as_ref(), [7]);
                });
            }
        });
        drop((bytes, shared));
        let (requested, recycled, in_use) = counts(&network);
        assert_eq!((recycled, in_use), (requested, 0), "both buffers recycled exactly once");
    }
    // A buffer dropped without being shared recycles too; one dropped after its pool was
    // destroyed goes back to the global pool.
    let in_flight = pool.request_buffer().unwrap().unwrap();
    pool.destroy();
    drop(in_flight);
    drop(pool);
    assert_eq!(network.stats().available, 2);
    drop(network);
    assert_eq!(manager.stats().used_segments(), 0);
}

#[test]
fn read_only_slices_read_on_other_threads_while_the_writer_writes_above_them() {
    use numaseg::bytes::BufMut;
    let (manager, network) = tiny_network(1);
    let pool = network.create_buffer_pool(1, 1).unwrap();
    for round in 0..ROUNDS {
        let mut buffer = pool.request_buffer().unwrap().unwrap();
        let cap = buffer.capacity();
        buffer.put_u32_le(u32::try_from(round).unwrap());
        let view = buffer.read_only_slice();
        std::thread::scope(|s| {
            let reader = view.clone();
            // A view reads on another thread while the writer writes above it: disjoint bytes.
            s.spawn(move || assert_eq!(reader.as_ref(), u32::try_from(round).unwrap().to_le_bytes()));
            buffer.put_slice(b"more");
            buffer.set_u64_at(cap - 8, u64::MAX).unwrap();
            buffer.set_bytes_at(4, b"MORE").unwrap();
            assert!(buffer.set_u8_at(3, 0).is_err(), "below the view's end");
        });
        // The edges of the segment, read and written through the indexed calls.
        assert_eq!(buffer.get_u64_at(cap - 8).unwrap(), u64::MAX);
        assert_eq!(buffer.get_u32_at(4).unwrap(), u32::from_be_bytes(*b"MORE"));
        assert!(buffer.get_u8_at(cap).is_err());
        // The writer dropped before its view (alternate rounds: after it): recycled once, last.
        if round % 2 == 0 {
            drop(buffer);
            assert_eq!(counts(&network).2, 1, "the view keeps the buffer");
            std::thread::spawn(move || drop(view)).join().unwrap();
        } else {
            std::thread::spawn(move || drop(view)).join().unwrap();
            assert_eq!(counts(&network).2, 1, "the writer keeps the buffer");
            buffer.set_u8_at(0, 1).expect("no view left: writable again");
            drop(buffer);
        }
        let (requested, recycled, in_use) = counts(&network);
        assert_eq!((recycled, in_use), (requested, 0), "recycled exactly once");
    }
    drop(pool);
    drop(network);
    assert_eq!(manager.stats().used_segments(), 0);
}

#[test]
fn a_destroyed_network_pool_gives_its_segments_back_with_the_last_buffer() {
    use numaseg::bytes::BufMut;
    let (manager, network) = tiny_network(3);
    let pool = network.create_buffer_pool(1, 3).unwrap();
    let exclusive = network.request_exclusive(1, None, None).unwrap();
    let mut writer = pool.request_buffer().unwrap().unwrap();
    writer.put_u32(7);
    let view = writer.read_only_slice();
    let mine = exclusive.request_buffer().unwrap().unwrap();
    network.destroy();
    // Buffers in hands stay valid after the destroy, on this thread and another.
    writer.put_u32(8);
    let reader = std::thread::spawn(move || {
        assert_eq!(view.as_ref(), 7u32.to_be_bytes());
        drop(view);
    });
    reader.join().unwrap();
    drop(mine);
    assert_eq!(manager.stats().used_segments(), 3, "one buffer still out");
    drop(writer); // the last one: every segment goes back now, while the handles live
    assert_eq!(manager.stats().used_segments(), 0);
    let stats = network.stats(); // reads bookkeeping only, never the released memory
    assert_eq!((stats.available, stats.requested, stats.recycled), (3, 2, 2));
    assert!(pool.request_buffer().is_err());
    drop((pool, exclusive, network));
    assert_eq!(manager.stats().used_segments(), 0, "nothing given back twice");
}

// === memory manager pages ===

/// A memory manager of 16 pages of 4 KiB on a tiny one-node allocator.
fn tiny_memory_manager() -> numaseg::MemoryManager {
    let arena = std::sync::Arc::new(tiny(1));
    numaseg::MemoryManager::builder(arena).memory_size(16 * 4096).page_size(4096).build().unwrap()
}

#[test]
fn memory_segment_accessors_stay_inside_the_page() {
    use numaseg::SegmentError;
    use numaseg::manager::UseCase;
    let mm = tiny_memory_manager();
    let owner = mm.owner("miri", UseCase::Operator);
    let mut a = mm.allocate_page(&owner).unwrap();
    let mut b = mm.allocate_page(&owner).unwrap();
    let size = a.size();
    a.as_mut_slice().unwrap().fill(0);
    b.as_mut_slice().unwrap().fill(0xff);
    // Typed values at the first and last offsets they fit, unaligned, in every byte order.
    a.put_u64_be(size - 8, 0x0102_0304_0506_0708).unwrap();
    assert_eq!(a.get_u64_le(size - 8).unwrap(), 0x0807_0605_0403_0201);
    a.put_i32(1, -2).unwrap();
    assert_eq!(a.get_i32(1).unwrap(), -2);
    a.put_f64_le(size - 9, f64::MIN_POSITIVE).unwrap();
    assert_eq!(a.get_f64_le(size - 9).unwrap(), f64::MIN_POSITIVE);
    a.put_u16_le(size - 2, 0xbeef).unwrap();
    assert_eq!(a.get_u8(size - 1).unwrap(), 0xbe);
    for offset in [size - 7, size, usize::MAX - 3, usize::MAX / 2 + 1] {
        assert!(matches!(a.get_u64(offset), Err(SegmentError::OutOfBounds { .. })), "{offset}");
    }
    // Bulk, across pages and within one (overlapping both ways).
    let mut buf = [0u8; 16];
    a.put_bytes(100, b"0123456789abcdef").unwrap();
    a.copy_within(100, 104, 16).unwrap();
    a.get_bytes(100, &mut buf).unwrap();
    assert_eq!(&buf, b"01230123456789ab");
    a.copy_within(104, 100, 16).unwrap();
    a.copy_to(100, &mut b, size - 16, 16).unwrap();
    assert!(b.equal_to(&a, size - 16, 100, 16).unwrap());
    a.swap_bytes(&mut b, 0, size - 4, 4).unwrap();
    assert_eq!(a.get_u32(0).unwrap(), u32::from_ne_bytes(*b"cdef"));
    assert_eq!(a.compare(&a, 0, 0, size - 1, size).unwrap(), std::cmp::Ordering::Less); // a prefix
    assert_eq!(b.compare(&a, 200, 200, 1, 1).unwrap(), std::cmp::Ordering::Greater); // 0xff > 0
    // Streams and views.
    let mut out = Vec::new();
    b.write_to(size - 16, 16, &mut out).unwrap();
    a.read_from(size - 16, 16, &mut &out[..]).unwrap();
    assert_eq!(a.slice(size - 16, 16).unwrap(), b.slice(size - 16, 16).unwrap());
    a.slice_mut(size - 1, 1).unwrap()[0] = 9;
    assert_eq!(a.as_slice().unwrap()[size - 1], 9);
    drop((a, b));
    assert!(mm.verify_empty());
}

#[test]
fn revoked_pages_refuse_access_and_go_back_once_from_any_thread() {
    use numaseg::SegmentError;
    use numaseg::manager::UseCase;
    let mm = tiny_memory_manager();
    let owner = mm.owner("revoked", UseCase::Operator);
    for _ in 0..ROUNDS {
        // Bulk (the scratch vector and `set_len`), single pages, and runs of two owners.
        let mut pages = Vec::with_capacity(6);
        mm.allocate_pages_into(&owner, 6, &mut pages).unwrap();
        for (i, p) in pages.iter_mut().enumerate() {
            p.put_u64_le(8 * i, i as u64).unwrap();
        }
        let other = mm.owner("other", UseCase::Python);
        let mut mixed = mm.allocate_pages(&other, 2).unwrap();
        mixed.push(pages.pop().unwrap());
        mm.release_all(&owner);
        assert!(pages.iter().all(|p| matches!(p.get_u8(0), Err(SegmentError::Released { .. }))));
        assert!(!mixed[0].is_released());
        mm.release_many(mixed);
        drop(other);
        // Revoked pages dropped on other threads: each goes back exactly once.
        let last = pages.pop().unwrap();
        std::thread::scope(|s| {
            // Joined by hand: a scope's own join returns before the thread's thread-local
            // destructors (its cache's flush) have run, so the stats below could catch a
            // segment between the thread's stack and the pool.
            s.spawn(move || drop(last)).join().unwrap();
        });
        mm.release_pages(&mut pages);
        assert!(pages.is_empty());
        assert_eq!(owner.pages(), 0);
        // And a fresh page after the revocation is live.
        let mut page = mm.allocate_page(&owner).unwrap();
        page.put_u8(0, 1).unwrap();
        page.release();
    }
    assert!(mm.verify_empty());
    let arena = std::sync::Arc::clone(mm.arena_manager());
    drop(owner);
    drop(mm);
    assert_eq!(arena.stats().used_segments(), 0);
}

// === owned handles ===

#[test]
fn owned_segments_keep_their_manager_alive_past_the_users_last_handle() {
    use std::sync::Arc;
    let manager = Arc::new(tiny(2));
    let weak = Arc::downgrade(&manager);
    let mut held: Vec<numaseg::OwnedSegment> = (0..6).map(|_| manager.allocate_owned(4096).unwrap()).collect();
    held.push(manager.allocate_owned_on(NodeId::new(1), 4096).unwrap()); // a foreign free later
    for (i, s) in held.iter_mut().enumerate() {
        s.as_mut_slice().fill(u8::try_from(i).unwrap());
    }
    drop(manager); // the user's last handle: the segments keep the manager alive
    assert!(weak.upgrade().is_some());
    let last = held.pop().unwrap();
    // Half go to another thread (and are freed there, into that thread's cache, which then
    // exits); the rest stay here.
    let moved: Vec<_> = held.drain(3..).collect();
    std::thread::spawn(move || {
        for (i, s) in moved.iter().enumerate() {
            assert_eq!(s.as_slice(), &[u8::try_from(i + 3).unwrap(); 4096][..]);
        }
        drop(moved);
    })
    .join()
    .unwrap();
    drop(held);
    assert!(weak.upgrade().is_some(), "one segment still holds it");
    assert_eq!(last.as_slice()[4095], 6);
    // The last segment is dropped on another thread: memory back first, then the manager drops
    // there (with this thread's cache still registered, now dead).
    std::thread::spawn(move || drop(last)).join().unwrap();
    assert!(weak.upgrade().is_none(), "the manager dropped with its last owned segment");
    // This thread's cache slot of the dead manager is inert: a new manager works as usual.
    let fresh = Arc::new(tiny(1));
    let s = fresh.allocate_owned(4096).unwrap();
    assert_eq!(Arc::strong_count(&fresh), 2);
    drop(s);
    assert_eq!(fresh.stats().used_segments(), 0);
}

#[test]
fn owned_pages_keep_their_owner_alive_and_end_it_cleanly() {
    use numaseg::manager::UseCase;
    use std::sync::Arc;
    let mm = tiny_memory_manager();
    let owner = Arc::new(mm.owner("owned", UseCase::Operator));
    let mut pages = mm.allocate_owned_pages(&owner, 4).unwrap();
    pages.push(mm.allocate_owned_page(&owner).unwrap());
    for (i, p) in pages.iter_mut().enumerate() {
        p.with_mut(|p| p.put_u64_le(p.size() - 8, i as u64)).unwrap();
    }
    drop(owner); // the pages keep it
    let moved: Vec<_> = pages.drain(2..).collect();
    std::thread::spawn(move || {
        for (i, p) in moved.iter().enumerate() {
            assert_eq!(p.get_u64_le(p.size() - 8).unwrap(), i as u64 + 2);
        }
    })
    .join()
    .unwrap();
    assert_eq!(pages[0].owner().pages(), 2);
    let last = pages.pop().unwrap();
    drop(pages);
    // The owner ends with its last page, released by value on another thread: nothing left to
    // report, and no reference to its state is left dangling during the call.
    std::thread::spawn(move || last.release()).join().unwrap();
    assert!(mm.verify_empty());
    assert_eq!(mm.stats().leaked_owners, 0);
}
