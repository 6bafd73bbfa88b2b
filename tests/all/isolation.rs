//! Isolation (`NUMASEG_ZERO`): for every API that hands memory out, owner A writes a pattern and
//! gives its block back, owner B takes a block and must not see the pattern when the mode is on.
//! With the mode off the same steps hand B the very block A wrote (the caches are LIFO), and B
//! sees the pattern: that run shows each check can fail.

use std::alloc::Layout;
use std::sync::Arc;

use allocator_api2::alloc::Allocator;
use numaseg::buffer_pool::NetworkBufferPool;
use numaseg::config::Config;
use numaseg::manager::UseCase;
use numaseg::numa::NodeId;
use numaseg::zero::ZeroMode;
use numaseg::{ArenaManager, MemoryManager};

const PATTERN: u8 = 0xA5;
const MODES: [ZeroMode; 3] = [ZeroMode::Off, ZeroMode::OnRelease, ZeroMode::OnAllocate];

fn manager(mode: ZeroMode, nodes: usize) -> ArenaManager {
    let config = Config::builder().zero(mode).build_from::<_, &str, &str>([]).unwrap();
    ArenaManager::heap_backed(&config, nodes).unwrap()
}

/// What B must see: the pattern when off (same block), never a byte of it when on.
#[track_caller]
fn check(mode: ZeroMode, what: &str, seen: &[u8], same_block: bool) {
    if mode == ZeroMode::Off {
        assert!(same_block, "{what}: the cache should hand back A's block with the mode off");
        assert!(
            seen.iter().all(|&b| b == PATTERN),
            "{what}: off must leave A's bytes (else this check proves nothing)"
        );
    } else {
        assert!(seen.iter().all(|&b| b == 0), "{what} with {mode}: B saw bytes A wrote");
    }
}

#[test]
fn segment_allocate_and_drop() {
    for mode in MODES {
        let m = manager(mode, 1);
        for size in [4096, 32 << 10, 2 << 20] {
            let mut a = m.allocate(size).unwrap();
            a.as_mut_slice().fill(PATTERN);
            let addr = a.as_ptr();
            drop(a);
            let b = m.allocate(size).unwrap();
            check(mode, &format!("allocate({size})"), b.as_slice(), b.as_ptr() == addr);
            let class = b.size_class();
            let addr = b.as_ptr();
            let mut b = b;
            b.as_mut_slice().fill(PATTERN);
            b.release();
            let c = m.allocate_class(class).unwrap();
            check(mode, "allocate_class", c.as_slice(), c.as_ptr() == addr);
        }
    }
}

#[test]
fn segment_allocate_on_another_node() {
    for mode in MODES {
        let m = manager(mode, 2);
        let other = NodeId::new(1);
        let mut a = m.allocate_on(other, 32 << 10).unwrap();
        a.as_mut_slice().fill(PATTERN);
        let addr = a.as_ptr();
        drop(a); // a foreign free: straight to node 1's pool
        let b = m.allocate_on(other, 32 << 10).unwrap();
        check(mode, "allocate_on", b.as_slice(), b.as_ptr() == addr);
    }
}

#[test]
fn bulk_and_batch_release() {
    for mode in MODES {
        let m = manager(mode, 1);
        let mut batch = m.new_batch();
        m.allocate_bulk(32 << 10, 16, &mut batch).unwrap();
        let mut addrs: Vec<_> = batch.iter_mut().map(|s| s.as_ptr()).collect();
        batch.iter_mut().for_each(|s| s.fill(PATTERN));
        batch.release();
        m.allocate_bulk(32 << 10, 16, &mut batch).unwrap();
        let mut again: Vec<_> = batch.iter_mut().map(|s| s.as_ptr()).collect();
        addrs.sort();
        again.sort();
        let seen: Vec<u8> = (0..batch.len()).flat_map(|i| batch.get(i).unwrap().to_vec()).collect();
        check(mode, "allocate_bulk", &seen, addrs == again);

        // release_bulk: handles given back together.
        let segments: Vec<_> = (0..8).map(|_| batch.pop().unwrap()).collect();
        batch.release();
        let mut segments = segments;
        segments.iter_mut().for_each(|s| s.as_mut_slice().fill(PATTERN));
        let first = segments.last().unwrap().as_ptr();
        m.release_bulk(segments);
        let b = m.allocate(32 << 10).unwrap();
        check(mode, "release_bulk", b.as_slice(), b.as_ptr() == first);
    }
}

#[test]
fn bulk_into_handles_and_release_all() {
    for mode in MODES {
        let m = manager(mode, 1);
        let mut held = Vec::new();
        m.allocate_bulk_into(32 << 10, 16, &mut held).unwrap();
        let mut addrs: Vec<_> = held.iter().map(|s| s.as_ptr()).collect();
        for s in &mut held {
            s.as_mut_slice().fill(PATTERN);
        }
        m.release_all(&mut held);
        assert!(held.is_empty());
        m.allocate_bulk_into(32 << 10, 16, &mut held).unwrap();
        let mut again: Vec<_> = held.iter().map(|s| s.as_ptr()).collect();
        addrs.sort_unstable();
        again.sort_unstable();
        for s in &held {
            check(mode, "allocate_bulk_into after release_all", s.as_slice(), addrs == again);
        }
        m.release_all(&mut held);
    }
}

#[test]
fn owned_segments() {
    for mode in MODES {
        let m = Arc::new(manager(mode, 1));
        let mut a = m.allocate_owned(32 << 10).unwrap();
        a.as_mut_slice().fill(PATTERN);
        let addr = a.as_ptr();
        drop(a);
        let b = m.allocate_owned(32 << 10).unwrap();
        check(mode, "allocate_owned", b.as_slice(), b.as_ptr() == addr);
    }
}

#[test]
fn node_allocator_blocks() {
    for mode in MODES {
        let m = manager(mode, 1);
        let alloc = m.node_allocator(NodeId::new(0)).unwrap();
        let layout = Layout::from_size_align(32 << 10, 64).unwrap();
        let a = alloc.allocate(layout).unwrap();
        // SAFETY: the block is ours, `layout.size()` bytes; given back once, below.
        unsafe { a.cast::<u8>().as_ptr().write_bytes(PATTERN, layout.size()) };
        // SAFETY: allocated above with this layout.
        unsafe { alloc.deallocate(a.cast(), layout) };
        let b = alloc.allocate(layout).unwrap();
        // SAFETY: the block is ours and every byte of it was written by someone (A, or zeroing).
        let seen = unsafe { std::slice::from_raw_parts(b.cast::<u8>().as_ptr(), layout.size()) }.to_vec();
        let same = b.cast::<u8>() == a.cast::<u8>();
        // SAFETY: allocated above with this layout.
        unsafe { alloc.deallocate(b.cast(), layout) };
        check(mode, "NodeAllocator", &seen, same);
    }
}

#[test]
fn memory_manager_pages() {
    for mode in MODES {
        let mm = MemoryManager::new(Arc::new(manager(mode, 1))).unwrap();
        let owner_a = mm.owner("a", UseCase::Operator);
        let owner_b = mm.owner("b", UseCase::Operator);
        let size = mm.page_size();

        let mut page = mm.allocate_page(&owner_a).unwrap();
        page.put_bytes(0, &vec![PATTERN; size]).unwrap();
        let addr = page.as_ptr();
        drop(page);
        let page = mm.allocate_page(&owner_b).unwrap();
        check(mode, "allocate_page", page.as_slice().unwrap(), page.as_ptr() == addr);
        drop(page);

        // Bulk out, bulk back (release_pages and release_many), bulk out again.
        for release_many in [false, true] {
            let mut pages = mm.allocate_pages(&owner_a, 8).unwrap();
            let mut addrs: Vec<_> = pages.iter().map(|p| p.as_ptr()).collect();
            for p in &mut pages {
                p.put_bytes(0, &vec![PATTERN; size]).unwrap();
            }
            if release_many {
                mm.release_many(pages);
            } else {
                mm.release_pages(&mut pages);
            }
            let pages = mm.allocate_pages(&owner_b, 8).unwrap();
            let mut again: Vec<_> = pages.iter().map(|p| p.as_ptr()).collect();
            addrs.sort();
            again.sort();
            let seen: Vec<u8> = pages.iter().flat_map(|p| p.as_slice().unwrap().to_vec()).collect();
            check(mode, "allocate_pages", &seen, addrs == again);
        }
    }
}

#[test]
fn network_buffers_recycled_inside_a_local_pool() {
    for mode in MODES {
        // One buffer: whatever B gets is the buffer A had, and it never leaves the local pool.
        let network = NetworkBufferPool::with_buffers(Arc::new(manager(mode, 1)), 1, 32 << 10).unwrap();
        let pool = network.create_buffer_pool(1, 1).unwrap();
        let mut a = pool.request_buffer().unwrap().unwrap();
        let cap = a.capacity();
        a.set_bytes_at(0, &vec![PATTERN; cap]).unwrap();
        let addr = a.as_ptr();
        drop(a);
        let b = pool.request_buffer().unwrap().unwrap();
        let mut seen = vec![1u8; cap];
        b.get_bytes_at(0, &mut seen).unwrap();
        check(mode, "request_buffer", &seen, b.as_ptr() == addr);
        drop(b);

        // Through a shared view: the last view's drop recycles.
        let mut a = pool.request_buffer().unwrap().unwrap();
        a.set_bytes_at(0, &vec![PATTERN; cap]).unwrap();
        a.set_writer_index(cap).unwrap();
        let view = a.into_shared();
        let view2 = view.clone();
        drop(view);
        drop(view2);
        let b = pool.request_buffer().unwrap().unwrap();
        b.get_bytes_at(0, &mut seen).unwrap();
        check(mode, "shared buffer", &seen, b.as_ptr() == addr);
    }
}

#[test]
fn exclusive_buffers() {
    for mode in MODES {
        let network = NetworkBufferPool::with_buffers(Arc::new(manager(mode, 1)), 1, 4096).unwrap();
        let exclusive = network.request_exclusive(1, None, None).unwrap();
        let mut a = exclusive.request_buffer().unwrap().unwrap();
        let cap = a.capacity();
        a.set_bytes_at(0, &vec![PATTERN; cap]).unwrap();
        let addr = a.as_ptr();
        drop(a);
        let b = exclusive.request_buffer().unwrap().unwrap();
        let mut seen = vec![1u8; cap];
        b.get_bytes_at(0, &mut seen).unwrap();
        check(mode, "exclusive buffer", &seen, b.as_ptr() == addr);
        drop(b);

        // Given back to the global pool and taken by another pool.
        let mut a = exclusive.request_buffer().unwrap().unwrap();
        a.set_bytes_at(0, &vec![PATTERN; cap]).unwrap();
        drop(a);
        drop(exclusive);
        let pool = network.create_buffer_pool(1, 1).unwrap();
        let b = pool.request_buffer().unwrap().unwrap();
        b.get_bytes_at(0, &mut seen).unwrap();
        check(mode, "exclusive then pool", &seen, b.as_ptr() == addr);
    }
}
