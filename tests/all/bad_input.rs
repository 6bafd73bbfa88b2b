//! Hostile arguments to every public entry point: zero, huge and overflowing counts and sizes,
//! nodes that do not exist, bounds the wrong way round, foreign batches and pools, use after
//! destroy. Each returns a typed error (or is impossible by the types); none panics, hangs or
//! takes anything it does not give back. `docs/RELIABILITY.md` lists each case with its test.

use std::alloc::Layout;
use std::sync::Arc;
use std::time::Duration;

use allocator_api2::alloc::Allocator;
use numaseg::buffer_pool::NetworkBufferPool;
use numaseg::config::{ByteSize, MemoryAmount, UseCase};
use numaseg::error::BufferPoolError;
use numaseg::manager::MAX_PAGES;
use numaseg::numa::NodeId;
use numaseg::{AllocError, ArenaManager, Config, MemoryError, MemoryManager, SizeClass};

fn manager() -> ArenaManager {
    ArenaManager::heap_backed(&Config::default(), 2).unwrap()
}

#[test]
fn segment_sizes_zero_huge_and_overflowing() {
    let m = manager();
    for size in [0, (32 << 20) + 1, 1 << 40, usize::MAX] {
        assert!(matches!(m.allocate(size), Err(AllocError::BadSize { requested, .. }) if requested == size), "{size}");
        assert!(matches!(m.allocate_on(NodeId::new(0), size), Err(AllocError::BadSize { .. })), "{size}");
    }
    // A class above the region size.
    let too_big = SizeClass::for_size(1 << 30).unwrap();
    assert!(matches!(m.allocate_class(too_big), Err(AllocError::BadSize { .. })));
    assert_eq!(m.stats().used_segments(), 0);
}

#[test]
fn nodes_that_do_not_exist() {
    let m = manager();
    for node in [NodeId::new(2), NodeId::new(1023)] {
        assert!(matches!(m.allocate_on(node, 4096), Err(AllocError::UnknownNode { .. })));
        assert!(matches!(m.node_allocator(node), Err(AllocError::UnknownNode { .. })));
        assert!(matches!(m.set_thread_node(node), Err(AllocError::UnknownNode { .. })));
    }
    assert!(NodeId::try_new(usize::MAX).is_none());
    assert!(NodeId::try_new(1024).is_none());
}

#[test]
fn bulk_counts_zero_huge_and_overflowing() {
    let m = manager();
    let mut batch = m.new_batch();
    m.allocate_bulk(4096, 0, &mut batch).unwrap();
    assert!(batch.is_empty());
    for n in [usize::MAX, usize::MAX / 4096 + 1, 1 << 40] {
        match m.allocate_bulk(4096, n, &mut batch) {
            Err(AllocError::Bulk { requested, cause, .. }) => {
                assert_eq!(requested, n);
                assert!(matches!(*cause, AllocError::TotalBudget { .. }), "{cause}");
            }
            other => panic!("{n}: {other:?}"),
        }
        assert!(batch.is_empty());
    }
    assert!(matches!(m.allocate_bulk(0, 1, &mut batch), Err(AllocError::BadSize { .. })));
    assert_eq!(m.stats().used_segments(), 0);
    assert_eq!(m.stats().total_committed_bytes, 0, "nothing was mapped for the refused bulks");
}

#[test]
fn a_batch_of_another_manager_or_class() {
    let (a, b) = (manager(), manager());
    let mut from_b = b.new_batch();
    assert!(matches!(a.allocate_bulk(4096, 1, &mut from_b), Err(AllocError::BatchMismatch { .. })));
    let mut batch = a.new_batch();
    a.allocate_bulk(4096, 2, &mut batch).unwrap();
    assert!(matches!(a.allocate_bulk(8192, 2, &mut batch), Err(AllocError::BatchMismatch { .. })));
    assert_eq!(batch.len(), 2);
}

#[test]
fn allocator_layouts_beyond_what_a_segment_gives() {
    let m = manager();
    let alloc = m.node_allocator(NodeId::new(0)).unwrap();
    for (size, align) in [(1 << 30, 8), (64 << 20, 8), (4096, 4 << 20), (usize::MAX / 2, 1)] {
        if let Ok(layout) = Layout::from_size_align(size, align) {
            assert!(alloc.allocate(layout).is_err(), "size {size} align {align}");
        }
    }
    // Zero-sized layouts get a (whole) segment, and give it back.
    let zero = Layout::from_size_align(0, 1).unwrap();
    let block = alloc.allocate(zero).unwrap();
    // SAFETY: `block` came from this allocator with this layout.
    unsafe { alloc.deallocate(block.cast(), zero) };
    assert_eq!(m.stats().used_segments(), 0);
}

#[test]
fn budgets_that_cannot_hold_a_region_are_refused_at_build() {
    for (total, node) in [
        (MemoryAmount::Bytes(ByteSize(1)), MemoryAmount::Unlimited),
        (MemoryAmount::Unlimited, MemoryAmount::Bytes(ByteSize(4096))),
    ] {
        let c = Config::builder().memory_limit(total).node_memory_limit(node).build_from::<_, &str, &str>([]).unwrap();
        assert!(matches!(ArenaManager::heap_backed(&c, 1), Err(numaseg::BuildError::BudgetBelowRegion { .. })));
    }
}

fn network(n: usize) -> NetworkBufferPool {
    NetworkBufferPool::with_buffers(Arc::new(manager()), n, 4096).unwrap()
}

#[test]
fn buffer_pool_bounds_zero_wrong_way_round_and_huge() {
    let net = network(8);
    for (min, max) in [(0, 4), (5, 4), (0, 0)] {
        assert!(matches!(net.create_buffer_pool(min, max), Err(BufferPoolError::BadBounds { .. })), "{min}..{max}");
    }
    for min in [9, 1 << 40, usize::MAX] {
        match net.create_buffer_pool(min, min) {
            Err(BufferPoolError::Insufficient { required, available, .. }) => {
                assert_eq!((required, available), (min, 8))
            }
            other => panic!("{min}: {other:?}"),
        }
    }
    assert!(net.create_buffer_pool(1, usize::MAX).is_ok(), "a huge max is only a cap");
    assert_eq!(net.required_buffers(), 0, "the refused pools left no minimum behind");
    // Absurd pool sizes for the whole pool.
    let m = Arc::new(manager());
    assert!(matches!(
        NetworkBufferPool::with_buffers(Arc::clone(&m), usize::MAX, 4096),
        Err(BufferPoolError::TooManyBuffers { .. })
    ));
    assert!(NetworkBufferPool::with_buffers(Arc::clone(&m), 4, 0).is_err());
    assert!(NetworkBufferPool::with_buffers(Arc::clone(&m), 4, usize::MAX).is_err());
    assert_eq!(m.stats().used_segments(), 0, "refused pools took nothing");
}

#[test]
fn buffer_pool_resizes_and_exclusive_requests_out_of_range() {
    let net = network(8);
    let pool = net.create_buffer_pool(2, 4).unwrap();
    for size in [0, 1, 5, usize::MAX] {
        assert!(matches!(pool.set_num_buffers(size), Err(BufferPoolError::BadBounds { .. })), "{size}");
    }
    for n in [9, 1 << 40, usize::MAX] {
        let r = net.request_exclusive(n, Some(Duration::from_millis(1)), None);
        assert!(
            matches!(
                r,
                Err(BufferPoolError::Insufficient { .. }
                    | BufferPoolError::TooManyBuffers { .. }
                    | BufferPoolError::Timeout { .. })
            ),
            "{n}: {r:?}"
        );
    }
    let none = net.request_exclusive(0, Some(Duration::ZERO), None).unwrap();
    assert_eq!(none.owned_buffers(), 0, "zero exclusive buffers: an empty set, as Flink's unpooled request");
    drop(none);
    // Refused requests gave everything back: every buffer is in the global pool or the one
    // live pool, and only that pool's minimum is required.
    assert_eq!(net.available_buffers() + pool.owned_buffers(), 8);
    assert_eq!(net.required_buffers(), 2);
}

#[test]
fn use_after_destroy_is_a_typed_error() {
    let net = network(4);
    let pool = net.create_buffer_pool(1, 4).unwrap();
    let in_flight = pool.request_buffer().unwrap().unwrap();
    pool.destroy();
    pool.destroy(); // twice is harmless
    assert!(matches!(pool.request_buffer(), Err(BufferPoolError::Destroyed { .. })));
    assert!(matches!(
        pool.request_buffer_blocking(Some(Duration::from_millis(1)), None),
        Err(BufferPoolError::Destroyed { .. })
    ));
    assert!(matches!(pool.set_num_buffers(2), Err(BufferPoolError::Destroyed { .. })));
    // A buffer of a destroyed pool still works, and goes back to the global pool when dropped
    // (a buffer always returns to its own pool: releasing it to the wrong one is impossible by
    // the types).
    drop(in_flight);
    assert_eq!(net.available_buffers(), 4);
}

// === memory manager and memory segment ===

/// A memory manager of `bytes` in pages of `page` bytes on a two-node heap-backed allocator.
fn memory_manager(bytes: usize, page: usize) -> MemoryManager {
    MemoryManager::builder(Arc::new(ArenaManager::heap_backed(&Config::default(), 2).unwrap()))
        .memory_size(bytes)
        .page_size(page)
        .build()
        .unwrap()
}

#[test]
fn fractions_of_a_budget_beyond_f64_precision_stay_inside_it() {
    // The largest budget a manager accepts (2^31 - 1 pages of 32 MiB, less a byte) is not
    // representable in f64; its whole was once computed one byte above it.
    let page = 32 << 20;
    let size = (MAX_PAGES + 1) * page - 1;
    let mm = memory_manager(size, page);
    assert_eq!(mm.total_pages(), MAX_PAGES);
    assert_eq!(mm.compute_memory_size(1.0).unwrap(), size);
    assert_eq!(mm.compute_number_of_pages(1.0).unwrap(), MAX_PAGES);
    for f in [0.5, 0.999_999_999, f64::MIN_POSITIVE] {
        assert!(mm.compute_memory_size(f).unwrap() <= size, "{f}");
    }
    // The whole budget as a shared resource fits an empty manager.
    let lease = mm.shared_resource(UseCase::Operator, 1.0, |bytes| Ok::<_, String>(bytes)).unwrap();
    assert_eq!((*lease, mm.available_memory()), (size, 0));
    drop(lease);
    assert!(mm.verify_empty());
}

#[test]
fn a_bulk_the_budget_allows_but_the_allocator_never_could_is_refused_without_taking_anything() {
    // A manager sized far above its allocator (8 TiB on a heap-backed allocator whose total
    // budget is 64 GiB): a bulk of every page once aborted the process sizing its handles'
    // vector (64 GiB) before the allocator could refuse.
    let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 2).unwrap());
    let limit = usize::try_from(arena.stats().total_budget_bytes.unwrap()).unwrap();
    let mm = MemoryManager::builder(Arc::clone(&arena)).memory_size(MAX_PAGES * 4096).page_size(4096).build().unwrap();
    let unbound = mm.owner("unbound", UseCase::Operator);
    let bound = mm.owner_on("bound", UseCase::Operator, NodeId::new(1)).unwrap();
    let mut target = mm.allocate_pages(&unbound, 2).unwrap();
    for owner in [&unbound, &bound] {
        for n in [MAX_PAGES - 2, limit / 4096 + 1] {
            match mm.allocate_pages_into(owner, n, &mut target) {
                Err(MemoryError::Allocator { requested, cause, .. }) => {
                    assert_eq!(requested, n);
                    assert!(
                        matches!(*cause, AllocError::Bulk { cause: ref c, .. } if matches!(**c, AllocError::TotalBudget { .. })),
                        "{cause}"
                    );
                }
                other => panic!("{n}: {:?}", other.map(|()| target.len())),
            }
            assert_eq!(target.len(), 2, "the target is as it was");
        }
    }
    assert_eq!((unbound.pages(), bound.pages()), (2, 0), "nothing taken");
    assert_eq!(mm.available_memory(), mm.memory_size() - 2 * 4096);
    drop(target);
    assert_eq!(arena.stats().used_segments(), 0);
}
