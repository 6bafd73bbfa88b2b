//! The unsafe cores exercised on the heap page source, small enough for Miri
//! (`scripts/miri.sh` runs this binary under `cargo miri test` with strict provenance):
//! segment access and slices, the thread cache's private stacks (fast paths, refill, spill,
//! trim), the spill deques and cross-thread stealing, foreign frees, thread-exit hand-back,
//! batches, the `Allocator` adapter, and region carving, reclaim and decommit.
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
            assert!(s.as_slice().iter().all(|&b| usize::from(b) == (i + round) % 256));
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
