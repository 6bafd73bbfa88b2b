//! Hostile arguments to every public entry point: zero, huge and overflowing counts and sizes,
//! nodes that do not exist, bounds the wrong way round, foreign batches and pools, use after
//! destroy; for the memory manager and its pages also fractions outside (0, 1] and NaN, owners
//! and pages of another manager, offsets and lengths up to `usize::MAX`, use after
//! `release_all`. Each returns a typed error (or is impossible by the types: the `compile_fail`
//! examples on `MemoryOwner::close` and `MemoryManager::release`); none panics, hangs or takes
//! anything it does not give back. `docs/RELIABILITY.md` lists each case with its test.

use std::alloc::Layout;
use std::sync::Arc;
use std::time::Duration;

use allocator_api2::alloc::Allocator;
use numaseg::buffer_pool::NetworkBufferPool;
use numaseg::config::{ByteSize, MemoryAmount};
use numaseg::error::BufferPoolError;
use numaseg::manager::MAX_PAGES;
use numaseg::manager::UseCase;
use numaseg::numa::NodeId;
use numaseg::{AllocError, ArenaManager, BuildError, Config, MemoryError, MemoryManager, SegmentError, SizeClass};

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
    let lease = mm.shared_resource(UseCase::Operator, 1.0, Ok::<usize, String>).unwrap();
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

#[test]
fn memory_manager_sizes_zero_huge_and_not_a_page() {
    let arena = || Arc::new(ArenaManager::heap_backed(&Config::default(), 1).unwrap());
    let build = |bytes: usize, page: usize| MemoryManager::builder(arena()).memory_size(bytes).page_size(page).build();
    for bytes in [0, 1, 4095] {
        assert!(
            matches!(build(bytes, 4096), Err(BuildError::ManagedMemoryBelowPage { memory_size, .. }) if memory_size == bytes)
        );
    }
    for bytes in [usize::MAX, (MAX_PAGES + 1) * 4096] {
        assert!(matches!(build(bytes, 4096), Err(BuildError::TooManyPages { max: MAX_PAGES, .. })), "{bytes}");
    }
    for page in [0, 1, 4095, 4097, 3 << 12, 64 << 20, 1 << 40, usize::MAX] {
        assert!(
            matches!(build(1 << 30, page), Err(BuildError::PageSize { page_size, .. }) if page_size == page),
            "{page}"
        );
    }
}

#[test]
fn configured_use_case_weights_the_manager_cannot_use_fail_its_build_naming_the_variable() {
    // The settings table checks the syntax; the manager checks the use cases when it is built.
    let cases = [
        ("HEAP:10", "unknown use case \"HEAP\" (known: OPERATOR, STATE_BACKEND, PYTHON)"),
        ("OPERATOR:0,PYTHON:0", "at least one use case needs a positive weight"),
        ("", "at least one use case needs a positive weight"),
    ];
    for (value, reason) in cases {
        let config = Config::builder().build_from([("NUMASEG_USE_CASE_WEIGHTS", value)]).unwrap();
        let arena = Arc::new(ArenaManager::heap_backed(&config, 1).unwrap());
        let err = MemoryManager::builder(Arc::clone(&arena)).memory_size(1 << 20).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "NUMASEG_USE_CASE_WEIGHTS={:?}: {reason} (accepted: USE_CASE:WEIGHT,... with use cases OPERATOR, \
                 STATE_BACKEND, PYTHON and whole-number weights, at least one positive)",
                config.use_case_weights.to_string()
            ),
            "{value}"
        );
        // Weights given to the builder replace the configured ones.
        let weights = "PYTHON:1".parse().unwrap();
        assert!(MemoryManager::builder(arena).memory_size(1 << 20).use_case_weights(weights).build().is_ok());
    }
    // Syntax errors stay the configuration's, at the allocator's build.
    let err = Config::builder().build_from([("NUMASEG_USE_CASE_WEIGHTS", "OPERATOR=1")]).unwrap_err();
    assert!(
        err.to_string().starts_with("NUMASEG_USE_CASE_WEIGHTS=\"OPERATOR=1\": \"OPERATOR=1\" is not USE_CASE:WEIGHT")
    );
}

#[test]
fn page_counts_zero_huge_and_overflowing_take_nothing() {
    let mm = memory_manager(1 << 20, 4096); // 256 pages
    let owner = mm.owner("hostile", UseCase::Operator);
    assert!(mm.allocate_pages(&owner, 0).unwrap().is_empty());
    let mut target = mm.allocate_pages(&owner, 6).unwrap();
    mm.allocate_pages_into(&owner, 0, &mut target).unwrap();
    for n in [251, 257, MAX_PAGES, MAX_PAGES + 1, u32::MAX as usize, u32::MAX as usize + 1, 1 << 40, usize::MAX] {
        for into in [false, true] {
            let result = if into {
                mm.allocate_pages_into(&owner, n, &mut target)
            } else {
                mm.allocate_pages(&owner, n).map(drop)
            };
            match result {
                Err(MemoryError::PagesExhausted { requested, page_size, available, total, .. }) => {
                    assert_eq!((requested, page_size, available, total), (n, 4096, 250, 256));
                }
                other => panic!("{n}: {other:?}"),
            }
        }
        assert_eq!((target.len(), owner.pages()), (6, 6), "{n}: nothing taken");
    }
    // The budget's last page, then one more.
    let rest = mm.allocate_pages(&owner, 250).unwrap();
    assert!(matches!(mm.allocate_page(&owner), Err(MemoryError::PagesExhausted { requested: 1, available: 0, .. })));
    drop((rest, target));
    assert!(mm.verify_empty());
    assert_eq!(mm.arena_manager().stats().used_segments(), 0);
}

#[test]
fn reservations_zero_huge_and_releases_of_more_than_is_held() {
    let mm = memory_manager(1 << 20, 4096);
    let owner = mm.owner("hostile", UseCase::StateBackend);
    mm.reserve_memory(&owner, 0).unwrap();
    assert_eq!(owner.reserved_bytes(), 0);
    mm.reserve_memory(&owner, 1000).unwrap();
    for bytes in [(1 << 20) - 999, (1 << 20) + 1, usize::MAX - 999, usize::MAX] {
        match mm.reserve_memory(&owner, bytes) {
            Err(MemoryError::ReservationRefused { requested, available, total, .. }) => {
                assert_eq!((requested, available, total), (bytes, (1 << 20) - 1000, 1 << 20));
            }
            other => panic!("{bytes}: {other:?}"),
        }
    }
    assert_eq!(owner.reserved_bytes(), 1000, "refused reservations took nothing");
    assert_eq!(mm.release_memory(&owner, usize::MAX), 1000, "releases at most what is held");
    assert_eq!(mm.release_memory(&owner, usize::MAX), 0);
    assert_eq!(mm.release_all_memory(&owner), 0);
    assert!(mm.verify_empty());
}

/// Fractions outside (0, 1], NaN of both signs, infinities, and the first values past the ends.
const BAD_FRACTIONS: [f64; 10] = [
    f64::NAN,
    -f64::NAN,
    0.0,
    -0.0,
    -1.0,
    -f64::MIN_POSITIVE,
    1.0 + f64::EPSILON,
    2.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

#[test]
fn fractions_outside_zero_to_one_and_nan_are_refused() {
    let mm = memory_manager(1 << 20, 4096);
    let bad = |e: MemoryError, f: f64| matches!(e, MemoryError::BadFraction { fraction } if fraction.to_bits() == f.to_bits());
    for f in BAD_FRACTIONS {
        assert!(bad(mm.compute_number_of_pages(f).unwrap_err(), f), "{f}");
        assert!(bad(mm.compute_memory_size(f).unwrap_err(), f), "{f}");
        let refused = mm.shared_resource(UseCase::Python, f, |_| -> Result<(), String> { panic!("never called") });
        assert!(bad(refused.unwrap_err(), f), "{f}");
    }
    // The smallest positive fraction is valid: nothing of the budget.
    assert_eq!((mm.compute_number_of_pages(5e-324).unwrap(), mm.compute_memory_size(5e-324).unwrap()), (0, 0));
    // A use case without weight has no share.
    let zero = MemoryManager::builder(Arc::clone(mm.arena_manager()))
        .use_case_weights("OPERATOR:1,PYTHON:0".parse().unwrap())
        .build()
        .unwrap();
    for use_case in [UseCase::Python, UseCase::StateBackend] {
        assert!(matches!(zero.use_case_fraction(use_case), Err(MemoryError::NoWeight { .. })));
        assert!(matches!(zero.use_case_memory_size(use_case), Err(MemoryError::NoWeight { .. })));
    }
    assert!(mm.verify_empty());
}

#[test]
fn shared_resources_too_big_failing_or_of_another_type() {
    let mm = memory_manager(1 << 20, 4096);
    let owner = mm.owner("o", UseCase::Operator);
    mm.reserve_memory(&owner, 1).unwrap();
    let refused = mm.shared_resource(UseCase::Operator, 1.0, |_| -> Result<(), String> { panic!("never called") });
    assert!(matches!(refused, Err(MemoryError::ReservationRefused { requested, .. }) if requested == 1 << 20));
    let failed = mm.shared_resource(UseCase::Operator, 0.5, |_| Err::<(), _>("no"));
    assert!(matches!(failed, Err(MemoryError::SharedInit { bytes, .. }) if bytes == 1 << 19));
    let lease = mm.shared_resource(UseCase::Operator, 0.5, Ok::<usize, String>).unwrap();
    let other_type = mm.shared_resource(UseCase::Operator, 0.5, |_| Ok::<_, String>("text"));
    assert!(matches!(other_type, Err(MemoryError::SharedTypeMismatch { .. })));
    drop(lease);
    mm.release_all_memory(&owner);
    assert!(mm.verify_empty());
}

#[test]
fn owners_bound_to_nodes_that_do_not_exist() {
    let mm = memory_manager(1 << 20, 4096); // two nodes
    for node in [NodeId::new(2), NodeId::new(1023)] {
        assert!(matches!(
            mm.owner_on("nowhere", UseCase::Operator, node),
            Err(MemoryError::Node(AllocError::UnknownNode { node: n, .. })) if n == node
        ));
    }
    assert!(mm.verify_empty());
}

#[test]
fn owners_and_pages_of_another_manager() {
    let (a, b) = (memory_manager(1 << 20, 4096), memory_manager(1 << 20, 4096));
    let theirs = b.owner("theirs", UseCase::Operator);
    let foreign = |e: MemoryError| matches!(e, MemoryError::ForeignOwner { ref owner } if owner == "theirs");
    for n in [0, 1, usize::MAX] {
        assert!(foreign(a.allocate_pages(&theirs, n).unwrap_err()), "{n}");
        assert!(foreign(a.allocate_pages_into(&theirs, n, &mut Vec::new()).unwrap_err()), "{n}");
        assert!(foreign(a.reserve_memory(&theirs, n).unwrap_err()), "{n}");
    }
    assert!(foreign(a.allocate_page(&theirs).unwrap_err()));
    // Calls that cannot fail act on the owner's own manager.
    b.reserve_memory(&theirs, 100).unwrap();
    assert_eq!(a.release_memory(&theirs, 40), 40);
    assert_eq!(a.release_all_memory(&theirs), 60);
    let pages = b.allocate_pages(&theirs, 4).unwrap();
    a.release_all(&theirs);
    assert!(pages.iter().all(|p| p.is_released()));
    // Pages released through another manager go back to their own.
    let mut pages = pages.into_iter();
    a.release(pages.next().unwrap());
    a.release_many(pages.by_ref().take(2));
    a.release_pages(&mut pages.collect());
    let ours = a.owner("ours", UseCase::Operator);
    let mut mixed = a.allocate_pages(&ours, 2).unwrap();
    mixed.extend(b.allocate_pages(&theirs, 2).unwrap());
    b.release_pages(&mut mixed);
    assert!(a.verify_empty() && b.verify_empty());
    assert_eq!(a.available_memory(), 1 << 20);
}

/// Offsets and lengths a port might pass: past the end, at the integer limits, negative indices
/// cast from signed types.
#[expect(clippy::cast_possible_truncation, reason = "the casts a port would write, on purpose (64-bit host)")]
fn hostile(size: usize) -> [usize; 8] {
    [
        size,
        size + 1,
        i32::MAX as usize,
        -1i32 as usize,
        i64::from(i32::MIN) as usize,
        usize::MAX / 2 + 1,
        usize::MAX - 1,
        usize::MAX,
    ]
}

#[test]
fn every_memory_segment_access_refuses_hostile_offsets_and_lengths() {
    use std::io::ErrorKind;
    let mm = memory_manager(1 << 20, 4096);
    let owner = mm.owner("hostile", UseCase::Operator);
    let mut a = mm.allocate_page(&owner).unwrap();
    let mut b = mm.allocate_page(&owner).unwrap();
    a.as_mut_slice().unwrap().fill(0x11);
    b.as_mut_slice().unwrap().fill(0x22);
    let oob = |offset: usize, len: usize| SegmentError::OutOfBounds { offset, len, size: 4096 };
    let io = |r: std::io::Result<()>, e: SegmentError| {
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(*err.into_inner().unwrap().downcast::<SegmentError>().unwrap(), e);
    };
    for x in hostile(4096) {
        // As a length at offset 0, the page's size is valid: one more.
        let n = if x == 4096 { 4097 } else { x };
        // Typed values (a sample per width; `tests/all/memory_segment.rs` sweeps them all).
        assert_eq!(a.get_u8(x), Err(oob(x, 1)));
        assert_eq!(a.put_bool(x, true), Err(oob(x, 1)));
        assert_eq!(a.get_i16_be(x), Err(oob(x, 2)));
        assert_eq!(a.put_u32_le(x, 1), Err(oob(x, 4)));
        assert_eq!(a.get_f64(x), Err(oob(x, 8)));
        // Bulk with the caller's slices: the page's range first, then the slice's.
        let mut dst = [0u8; 8];
        assert_eq!(a.get_bytes(x, &mut dst), Err(oob(x, 8)));
        assert_eq!(a.put_bytes(x, &dst), Err(oob(x, 8)));
        assert_eq!(
            a.get_bytes_at(0, &mut dst, x, 4),
            Err(SegmentError::SliceOutOfBounds { offset: x, len: 4, size: 8 })
        );
        assert_eq!(a.put_bytes_at(0, &dst, 0, n), Err(oob(0, n)));
        assert_eq!(a.put_bytes_at(0, &dst, x, 1), Err(SegmentError::SliceOutOfBounds { offset: x, len: 1, size: 8 }));
        // Between pages, within a page, streams and views.
        assert_eq!(a.copy_to(x, &mut b, 0, 1), Err(oob(x, 1)));
        assert_eq!(a.copy_to(0, &mut b, x, 1), Err(oob(x, 1)));
        assert_eq!(a.copy_to(0, &mut b, 0, n), Err(oob(0, n)));
        assert_eq!(a.copy_within(x, 0, 1), Err(oob(x, 1)));
        assert_eq!(a.copy_within(0, x, 1), Err(oob(x, 1)));
        assert_eq!(a.compare(&b, 0, x, 1, 1), Err(oob(x, 1)));
        assert_eq!(a.compare(&b, 0, 0, 1, n), Err(oob(0, n)));
        assert_eq!(a.equal_to(&b, x, 0, 1), Err(oob(x, 1)));
        assert_eq!(a.swap_bytes(&mut b, 0, x, 1), Err(oob(x, 1)));
        assert_eq!(a.swap_bytes(&mut b, 0, 0, n), Err(oob(0, n)));
        let mut input: &[u8] = &[7; 16];
        io(a.read_from(x, 1, &mut input), oob(x, 1));
        io(a.read_from(0, n, &mut input), oob(0, n));
        assert_eq!(input.len(), 16, "nothing read from the stream");
        let mut out = Vec::new();
        io(a.write_to(x, 1, &mut out), oob(x, 1));
        io(a.write_to(1, x, &mut out), oob(1, x));
        assert!(out.is_empty(), "nothing written to the stream");
        assert_eq!(a.slice(x, 1), Err(oob(x, 1)));
        assert_eq!(a.slice_mut(1, x).map(|s| s.len()), Err(oob(1, x)));
    }
    assert!(a.as_slice().unwrap().iter().all(|&v| v == 0x11), "no refused call wrote");
    assert!(b.as_slice().unwrap().iter().all(|&v| v == 0x22), "no refused call wrote");
}

#[test]
fn every_memory_segment_access_after_release_all_is_released() {
    use std::io::ErrorKind;
    let mm = memory_manager(1 << 20, 4096);
    let (owner, other) = (mm.owner("revoked", UseCase::Operator), mm.owner("live", UseCase::Operator));
    let mut a = mm.allocate_page(&owner).unwrap();
    let mut live = mm.allocate_page(&other).unwrap();
    let released = SegmentError::Released { owner: owner.id(), address: a.as_ptr() as usize };
    mm.release_all(&owner);
    mm.release_all(&owner); // twice is harmless
    let released_io = |r: std::io::Result<()>| {
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert_eq!(*err.into_inner().unwrap().downcast::<SegmentError>().unwrap(), released);
    };
    // In bounds or not: revocation is checked first.
    for x in [0, 1, 4095].into_iter().chain(hostile(4096)) {
        let mut buf = [0u8; 4];
        assert_eq!(a.get_u8(x), Err(released.clone()));
        assert_eq!(a.put_i8(x, 1), Err(released.clone()));
        assert_eq!(a.get_bool(x), Err(released.clone()));
        assert_eq!(a.put_u16_be(x, 1), Err(released.clone()));
        assert_eq!(a.get_i64_le(x), Err(released.clone()));
        assert_eq!(a.put_f32(x, 1.0), Err(released.clone()));
        assert_eq!(a.get_bytes(x, &mut buf), Err(released.clone()));
        assert_eq!(a.put_bytes(x, &buf), Err(released.clone()));
        assert_eq!(a.get_bytes_at(x, &mut buf, 0, 1), Err(released.clone()));
        assert_eq!(a.put_bytes_at(x, &buf, 0, 1), Err(released.clone()));
        // Either side of a two-page operation.
        assert_eq!(a.copy_to(x, &mut live, 0, 1), Err(released.clone()));
        assert_eq!(live.copy_to(0, &mut a, x, 1), Err(released.clone()));
        assert_eq!(a.compare(&live, x, 0, 1, 1), Err(released.clone()));
        assert_eq!(live.compare(&a, 0, x, 1, 1), Err(released.clone()));
        assert_eq!(live.equal_to(&a, 0, x, 1), Err(released.clone()));
        assert_eq!(a.swap_bytes(&mut live, x, 0, 1), Err(released.clone()));
        assert_eq!(live.swap_bytes(&mut a, 0, x, 1), Err(released.clone()));
        assert_eq!(a.copy_within(x, 0, 1), Err(released.clone()));
        released_io(a.read_from(x, 1, &mut &[1u8][..]));
        released_io(a.write_to(x, 1, &mut Vec::new()));
        assert_eq!(a.slice(x, 1), Err(released.clone()));
        assert_eq!(a.slice_mut(x, 1).map(|s| s.len()), Err(released.clone()));
    }
    assert_eq!(a.as_slice().map(<[u8]>::len), Err(released.clone()));
    assert_eq!(a.as_mut_slice().map(|s| s.len()), Err(released));
    assert!(a.is_released() && !live.is_released());
    // Its memory goes back when the handle goes, once.
    a.release();
    live.release();
    assert!(mm.verify_empty());
    assert_eq!(mm.arena_manager().stats().used_segments(), 0);
}

#[test]
fn shared_buffer_slices_at_the_integer_limits_panic_as_documented_and_keep_the_count() {
    use std::ops::Bound;
    let net = network(1);
    let pool = net.create_buffer_pool(1, 1).unwrap();
    let mut buffer = pool.request_buffer().unwrap().unwrap();
    numaseg::bytes::BufMut::put_slice(&mut buffer, b"abcdef");
    let view = buffer.into_shared();
    // `..=usize::MAX` and `(usize::MAX, ..)` once wrapped around in release builds (to an empty
    // view and the whole view) and overflowed in debug builds; out of range, they panic as the
    // documentation says, and the view's count is untouched.
    let ranges: [(Bound<usize>, Bound<usize>); 4] = [
        (Bound::Unbounded, Bound::Included(usize::MAX)),
        (Bound::Excluded(usize::MAX), Bound::Unbounded),
        (Bound::Included(usize::MAX), Bound::Unbounded),
        (Bound::Included(2), Bound::Excluded(1)),
    ];
    for range in ranges {
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| view.slice(range))).unwrap_err();
        let message = panicked.downcast_ref::<String>().unwrap();
        assert!(message.contains("out of a view of 6 bytes"), "{range:?}: {message}");
    }
    assert_eq!(view.slice((Bound::Excluded(0), Bound::Included(5))).as_ref(), b"bcdef");
    drop(view);
    drop(pool);
    assert_eq!((net.available_buffers(), net.stats().recycled), (1, 1), "recycled once");
}
