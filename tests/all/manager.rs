//! `MemoryManager` through the public API: the behaviours of Flink's `MemoryManagerTest`,
//! `MemoryManagerConcurrentModReleaseTest` and `MemoryManagerSharedResourcesTest` re-expressed —
//! allocating everything one and two pages at a time, many owners, too much, double release,
//! reservations sharing the budget with pages, fractions, shared resources — plus what Rust adds:
//! all-or-nothing allocation (budget and allocator), revocation racing releases on other
//! threads, credit moving between owners, use-case weights, leak detection, nodes, stats.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use numaseg::config::{ByteSize, MemoryAmount};
use numaseg::manager::UseCase;
use numaseg::numa::NodeId;
use numaseg::{ArenaManager, BuildError, Config, MemoryError, MemoryManager, MemoryOwner, MemorySegment, SegmentError};

const MIB: usize = 1 << 20;
/// Flink's test sizes: 72 MiB of 32 KiB pages.
const MEMORY_SIZE: usize = 72 * MIB;
const PAGE: usize = 32 << 10;
const NUM_PAGES: usize = MEMORY_SIZE / PAGE;

fn arena(nodes: usize) -> Arc<ArenaManager> {
    Arc::new(ArenaManager::heap_backed(&Config::default(), nodes).unwrap())
}

fn manager() -> MemoryManager {
    MemoryManager::builder(arena(1)).memory_size(MEMORY_SIZE).page_size(PAGE).build().unwrap()
}

/// What every test ends with (Flink's `tearDown`): nothing in use, the whole budget available.
fn assert_empty(mm: &MemoryManager) {
    assert!(mm.verify_empty(), "{:?}", mm.stats());
    assert_eq!(mm.available_memory(), mm.memory_size());
}

fn expect_pages_exhausted(result: Result<Vec<MemorySegment<'_>>, MemoryError>, requested: usize, available: usize) {
    match result {
        Err(MemoryError::PagesExhausted { requested: r, available: a, total, page_size, .. }) => {
            assert_eq!((r, a, total, page_size), (requested, available, NUM_PAGES, PAGE));
        }
        other => panic!("expected PagesExhausted, got {:?}", other.map(|v| v.len())),
    }
}

#[test]
fn allocate_all_single_then_release_them_all() {
    let mm = manager();
    let owner = mm.owner("single", UseCase::Operator);
    let pages: Vec<_> = (0..NUM_PAGES).map(|_| mm.allocate_page(&owner).unwrap()).collect();
    assert_eq!(owner.pages(), NUM_PAGES);
    assert_eq!(mm.available_memory(), 0);
    expect_pages_exhausted(mm.allocate_pages(&owner, 1), 1, 0);
    mm.release_many(pages);
    assert_eq!(owner.pages(), 0);
    assert_empty(&mm);
}

#[test]
fn allocate_all_two_at_a_time() {
    let mm = manager();
    let owner = mm.owner("multi", UseCase::Operator);
    let mut pages = Vec::new();
    for _ in 0..NUM_PAGES / 2 {
        mm.allocate_pages_into(&owner, 2, &mut pages).unwrap();
    }
    assert_eq!(pages.len(), NUM_PAGES);
    mm.release_pages(&mut pages);
    assert_empty(&mm);
}

#[test]
fn release_all_frees_one_owner_and_leaves_the_others_valid() {
    let mm = manager();
    let owners: Vec<MemoryOwner> = (0..17).map(|i| mm.owner(&format!("owner-{i}"), UseCase::Operator)).collect();
    let mut mems: Vec<Vec<MemorySegment<'_>>> = owners.iter().map(|_| Vec::new()).collect();
    let mut r = fastrand::Rng::with_seed(643_196_033_469_871);
    for _ in 0..NUM_PAGES {
        let i = r.usize(..owners.len());
        mems[i].extend(mm.allocate_pages(&owners[i], 1).unwrap());
    }
    for (i, p) in mems.iter_mut().flatten().enumerate() {
        p.put_u64_le(0, i as u64).unwrap();
    }
    for i in 0..owners.len() {
        mm.release_all(&owners[i]);
        assert!(mems[i].iter().all(MemorySegment::is_released), "owner {i}'s pages were not revoked");
        for (k, mem) in mems.iter().enumerate().skip(i + 1) {
            assert!(mem.iter().all(|p| !p.is_released() && p.get_u64_le(0).is_ok()), "owner {k} was affected");
        }
        // Memory comes back as the handles go.
        let before = mm.available_memory();
        let n = mems[i].len();
        mems[i].clear();
        assert_eq!(mm.available_memory(), before + n * PAGE);
        assert_eq!(owners[i].pages(), 0);
    }
    assert_empty(&mm);
}

#[test]
fn allocating_too_much_fails_and_keeps_what_was_allocated() {
    let mm = manager();
    let owner = mm.owner("greedy", UseCase::Operator);
    let mut pages = mm.allocate_pages(&owner, NUM_PAGES).unwrap();
    expect_pages_exhausted(mm.allocate_pages(&owner, 1), 1, 0);
    expect_pages_exhausted(mm.allocate_page(&owner).map(|p| vec![p]), 1, 0);
    assert!(pages.iter().all(|p| !p.is_released()));
    for p in &mut pages {
        p.put_u8(0, 1).unwrap();
    }
    mm.release_all(&owner);
    drop(pages);
    assert_empty(&mm);
}

#[test]
fn a_request_beyond_the_whole_budget_names_the_numbers() {
    let mm = manager();
    let owner = mm.owner("huge", UseCase::Operator);
    let err = mm.allocate_pages(&owner, NUM_PAGES + 1).unwrap_err();
    assert_eq!(err.to_string(), "memory owner \"huge\": requested 2305 pages (73760KiB), 2304 pages available of 2304");
    let half = mm.allocate_pages(&owner, NUM_PAGES - 12).unwrap();
    let err = mm.allocate_pages(&owner, 64).unwrap_err();
    assert_eq!(err.to_string(), "memory owner \"huge\": requested 64 pages (2MiB), 12 pages available of 2304");
    assert!(matches!(mm.allocate_pages(&owner, usize::MAX), Err(MemoryError::PagesExhausted { .. })));
    assert!(matches!(mm.allocate_pages(&owner, u32::MAX as usize + 1), Err(MemoryError::PagesExhausted { .. })));
    assert_eq!(owner.pages(), NUM_PAGES - 12, "refused requests took nothing");
    assert_eq!(mm.stats().allocation_failures, 4);
    drop(half);
    assert_empty(&mm);
}

#[test]
fn release_after_release_all_returns_memory_only_once() {
    let mm = manager();
    let owner = mm.owner("twice", UseCase::Operator);
    let mut pages = mm.allocate_pages(&owner, NUM_PAGES).unwrap();
    let one = pages.pop().unwrap();
    mm.release(one); // released once (a second release of the same page does not compile)
    mm.release_all(&owner);
    mm.release_all(&owner); // harmless
    // Exactly one page came back: two cannot be allocated.
    let other = mm.owner("other", UseCase::Operator);
    expect_pages_exhausted(mm.allocate_pages(&other, 2), 2, 1);
    let last = mm.allocate_page(&other).unwrap();
    // Releasing revoked pages gives each one back exactly once.
    mm.release_many(pages);
    assert_eq!(mm.available_memory(), MEMORY_SIZE - PAGE);
    drop(last);
    assert_empty(&mm);
}

#[test]
fn pages_allocated_after_release_all_are_live() {
    let mm = manager();
    let owner = mm.owner("again", UseCase::Operator);
    let old = mm.allocate_pages(&owner, 4).unwrap();
    mm.release_all(&owner);
    let mut new = mm.allocate_pages(&owner, 4).unwrap();
    assert!(old.iter().all(MemorySegment::is_released));
    assert!(new.iter().all(|p| !p.is_released()));
    new[0].put_u32_le(0, 5).unwrap();
    assert_eq!(owner.pages(), 8);
    drop((old, new));
    assert_empty(&mm);
}

// === reservations (Flink's testMemoryReservation and friends) ===

#[test]
fn reserve_and_release() {
    let mm = manager();
    let owner = mm.owner("reserve", UseCase::StateBackend);
    mm.reserve_memory(&owner, PAGE).unwrap();
    assert_eq!(mm.available_memory(), MEMORY_SIZE - PAGE);
    assert_eq!(mm.release_memory(&owner, PAGE), PAGE);
    mm.reserve_memory(&owner, 0).unwrap();
    assert_empty(&mm);
}

#[test]
fn reserve_everything_then_nothing_more() {
    let mm = manager();
    let owner = mm.owner("all", UseCase::StateBackend);
    mm.reserve_memory(&owner, mm.memory_size()).unwrap();
    let other = mm.owner("late", UseCase::StateBackend);
    match mm.reserve_memory(&other, 1) {
        Err(MemoryError::ReservationRefused { owner, requested, available, total }) => {
            assert_eq!((owner.as_str(), requested, available, total), ("late", 1, 0, MEMORY_SIZE));
        }
        other => panic!("{other:?}"),
    }
    expect_pages_exhausted(mm.allocate_pages(&other, 1), 1, 0);
    assert_eq!(mm.release_all_memory(&owner), MEMORY_SIZE);
    assert_empty(&mm);
}

#[test]
fn a_reservation_larger_than_the_budget_is_refused() {
    let mm = manager();
    let owner = mm.owner("big", UseCase::StateBackend);
    let err = mm.reserve_memory(&owner, MEMORY_SIZE + PAGE).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "memory owner \"big\": cannot reserve {} bytes (73760KiB), {MEMORY_SIZE} bytes available of {MEMORY_SIZE}",
            MEMORY_SIZE + PAGE
        )
    );
    assert!(mm.reserve_memory(&owner, usize::MAX).is_err());
    assert_eq!(owner.reserved_bytes(), 0);
    assert_empty(&mm);
}

#[test]
fn releasing_twice_or_more_than_reserved_releases_only_what_is_held() {
    let mm = manager();
    let owner = mm.owner("owner", UseCase::StateBackend);
    let owner2 = mm.owner("owner2", UseCase::StateBackend);
    mm.reserve_memory(&owner2, PAGE).unwrap();
    mm.reserve_memory(&owner, PAGE).unwrap();
    assert_eq!(mm.release_memory(&owner, PAGE), PAGE);
    assert_eq!(mm.release_memory(&owner, PAGE), 0);
    assert_eq!(mm.available_memory(), MEMORY_SIZE - PAGE, "owner2's reservation is untouched");
    mm.reserve_memory(&owner, PAGE).unwrap();
    assert_eq!(mm.release_memory(&owner, 2 * PAGE), PAGE);
    assert_eq!(mm.release_all_memory(&owner), 0);
    assert_eq!(mm.available_memory(), MEMORY_SIZE - PAGE);
    assert_eq!(mm.release_all_memory(&owner2), PAGE);
    assert_empty(&mm);
}

#[test]
fn pages_and_reservations_share_one_budget() {
    let mm = manager();
    let pages_owner = mm.owner("pages", UseCase::Operator);
    let half = mm.allocate_pages(&pages_owner, NUM_PAGES / 2).unwrap();
    let reserver = mm.owner("reserver", UseCase::StateBackend);
    mm.reserve_memory(&reserver, PAGE * NUM_PAGES / 2).unwrap();
    let third = mm.owner("third", UseCase::Operator);
    expect_pages_exhausted(mm.allocate_pages(&third, 1), 1, 0);
    assert!(mm.reserve_memory(&third, 1).is_err());
    drop(half);
    mm.release_all(&pages_owner);
    // The pages' budget is back: the reservation may grow into it, but not past it.
    mm.reserve_memory(&third, MEMORY_SIZE / 2).unwrap();
    assert!(mm.reserve_memory(&third, 1).is_err());
    mm.release_all_memory(&reserver);
    mm.release_all_memory(&third);
    assert_empty(&mm);
}

#[test]
fn credit_left_by_one_owner_serves_another() {
    // Owners charge the budget in batches (credit); a request the budget cannot serve takes every
    // owner's idle credit back before it is refused, so no page of budget is ever stranded.
    let mm = manager();
    let a = mm.owner("a", UseCase::Operator);
    for _ in 0..10 {
        let p = mm.allocate_page(&a).unwrap(); // charges a batch of credit, keeps it
        drop(p);
    }
    assert!(mm.stats().credit_bytes > 0, "the owner keeps idle credit");
    assert_eq!(mm.available_memory(), MEMORY_SIZE, "credit counts as available");
    let b = mm.owner("b", UseCase::Operator);
    let all = mm.allocate_pages(&b, NUM_PAGES).unwrap();
    assert_eq!(all.len(), NUM_PAGES);
    drop(all);
    let c = mm.owner("c", UseCase::StateBackend);
    mm.reserve_memory(&c, MEMORY_SIZE).unwrap();
    mm.release_all_memory(&c);
    assert!(mm.stats().credit_reclaims >= 2);
    assert_empty(&mm);
}

#[test]
fn fractions_of_the_budget() {
    let mm = manager();
    assert_eq!(mm.compute_memory_size(0.6).unwrap(), 45_298_483); // ⌊72 MiB × 0.6⌋
    assert_eq!(mm.compute_memory_size(1.0).unwrap(), MEMORY_SIZE);
    assert_eq!(mm.compute_number_of_pages(0.5).unwrap(), NUM_PAGES / 2);
    assert_eq!(mm.compute_number_of_pages(1.0).unwrap(), NUM_PAGES);
    assert_eq!(mm.compute_number_of_pages(1e-9).unwrap(), 0);
    for bad in [0.0, -0.1, 1.1, f64::NAN, f64::INFINITY, -0.0] {
        match mm.compute_memory_size(bad) {
            Err(MemoryError::BadFraction { fraction }) => assert!(fraction.is_nan() || fraction == bad),
            other => panic!("{bad}: {other:?}"),
        }
        assert!(mm.compute_number_of_pages(bad).is_err(), "{bad}");
    }
    assert_eq!(
        mm.compute_memory_size(1.1).unwrap_err().to_string(),
        "a fraction of the memory manager's budget must be in (0, 1], was 1.1"
    );
    assert_eq!((mm.memory_size(), mm.page_size(), mm.total_pages()), (MEMORY_SIZE, PAGE, NUM_PAGES));
}

// === all or nothing ===

#[test]
fn a_refused_bulk_takes_nothing_from_the_budget_or_the_allocator() {
    // The allocator can hold one 32 MiB region; the manager's budget is larger. A bulk that the
    // budget allows but the allocator cannot serve gives back what it took from both.
    let config = Config::builder()
        .node_memory_limit(MemoryAmount::Bytes(ByteSize(32 << 20)))
        .build_from::<_, &str, &str>([])
        .unwrap();
    let arena = Arc::new(ArenaManager::heap_backed(&config, 1).unwrap());
    let mm = MemoryManager::builder(Arc::clone(&arena)).memory_size(64 * MIB).build().unwrap();
    let owner = mm.owner("bulk", UseCase::Operator);
    let first = mm.allocate_pages(&owner, 100).unwrap();
    let used_before = arena.stats().used_segments();
    match mm.allocate_pages(&owner, 1024) {
        Err(MemoryError::Allocator { owner: name, requested, page_size, cause }) => {
            assert_eq!((name.as_str(), requested, page_size), ("bulk", 1024, PAGE));
            assert!(cause.to_string().contains("budget exhausted"), "{cause}");
        }
        other => panic!("{:?}", other.map(|v| v.len())),
    }
    assert_eq!(owner.pages(), 100);
    assert_eq!(arena.stats().used_segments(), used_before, "the allocator got every page back");
    assert_eq!(mm.available_memory(), 64 * MIB - 100 * PAGE);
    // A bound owner: same promise, on its own node.
    let bound = mm.owner_on("bound", UseCase::Operator, NodeId::new(0)).unwrap();
    assert!(matches!(mm.allocate_pages(&bound, 1024), Err(MemoryError::Allocator { .. })));
    assert_eq!(bound.pages(), 0);
    assert_eq!(arena.stats().used_segments(), used_before);
    drop(first);
    assert_empty(&mm);
    assert_eq!(arena.stats().used_segments(), 0);
}

#[test]
fn a_refused_single_page_takes_nothing() {
    let config = Config::builder()
        .node_memory_limit(MemoryAmount::Bytes(ByteSize(32 << 20)))
        .build_from::<_, &str, &str>([])
        .unwrap();
    let arena = Arc::new(ArenaManager::heap_backed(&config, 1).unwrap());
    let mm = MemoryManager::builder(Arc::clone(&arena)).memory_size(64 * MIB).build().unwrap();
    let owner = mm.owner("one", UseCase::Operator);
    let all = mm.allocate_pages(&owner, 1024).unwrap(); // the whole region
    assert!(matches!(mm.allocate_page(&owner), Err(MemoryError::Allocator { requested: 1, .. })));
    assert_eq!(owner.pages(), 1024);
    assert_eq!(mm.available_memory(), 32 * MIB);
    drop(all);
    assert_empty(&mm);
}

// === concurrency ===

#[test]
fn release_all_racing_releases_on_other_threads_frees_each_page_once() {
    // Flink's concurrent-release test, in Rust terms: worker threads release the owner's pages
    // (one by one and in bulk) and read them, while the main thread calls `release_all` over
    // and over. Nothing is freed twice (the allocator's conservation check and budget prove it),
    // nothing panics, and afterwards the budget is exact.
    const PAGES: usize = 10_000;
    let arena = arena(1);
    let mm = MemoryManager::builder(Arc::clone(&arena)).memory_size(PAGES * 4096).page_size(4096).build().unwrap();
    for round in 0..3 {
        let owner = mm.owner("task", UseCase::Operator);
        let mut pages = mm.allocate_pages(&owner, PAGES).unwrap();
        let threads = 3;
        let chunk = PAGES / threads;
        let shares: Vec<Vec<MemorySegment<'_>>> = (0..threads).map(|_| pages.drain(..chunk).collect()).collect();
        let start = Barrier::new(threads + 1);
        let revoked_seen = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let mut workers = Vec::new();
            for (t, share) in shares.into_iter().enumerate() {
                let (start, revoked_seen, mm) = (&start, &revoked_seen, &mm);
                workers.push(s.spawn(move || {
                    start.wait();
                    let mut share = share;
                    while !share.is_empty() {
                        let n = share.len().min(1 + t * 7);
                        let mut batch: Vec<_> = share.drain(..n).collect();
                        for p in &mut batch {
                            match p.put_u32_le(0, 7) {
                                Ok(()) => {}
                                Err(SegmentError::Released { .. }) => {
                                    revoked_seen.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => panic!("{e}"),
                            }
                        }
                        if t % 2 == 0 { mm.release_many(batch) } else { batch.into_iter().for_each(|p| mm.release(p)) }
                    }
                }));
            }
            start.wait();
            for _ in 0..200 {
                mm.release_all(&owner);
                std::thread::yield_now();
            }
            for w in workers {
                w.join().unwrap(); // also waits for the thread's cache hand-back
            }
        });
        // What the main thread still holds was revoked: every access is refused, then it goes.
        assert!(pages.iter().all(|p| matches!(p.get_u8(0), Err(SegmentError::Released { .. }))));
        drop(pages);
        assert_eq!(owner.pages(), 0, "round {round}");
        assert_empty(&mm);
        let st = arena.stats();
        assert_eq!(st.live_thread_caches, 1, "round {round}: only this thread's cache is live");
        assert_eq!(st.used_segments(), 0, "round {round}: every page went back once");
        assert!(owner.close().is_clean());
    }
}

#[test]
fn concurrent_owners_never_exceed_the_budget_and_end_exact() {
    // Several owners on several threads allocate and release at random under a tight budget
    // while another thread keeps reserving and releasing: the pages and bytes held at any time
    // never exceed the budget, and at the end everything is back.
    const PAGES: usize = 256;
    let arena = arena(1);
    let mm = MemoryManager::builder(Arc::clone(&arena)).memory_size(PAGES * 4096).page_size(4096).build().unwrap();
    let held = AtomicUsize::new(0); // bytes held by all threads, as they count them
    let peak = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let refusals = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let mut threads = Vec::new();
        for t in 0..3u64 {
            let (mm, held, peak, refusals, finished) = (&mm, &held, &peak, &refusals, &finished);
            threads.push(s.spawn(move || {
                let owner = mm.owner(&format!("worker-{t}"), UseCase::Operator);
                let mut mine: Vec<MemorySegment<'_>> = Vec::new();
                let mut r = fastrand::Rng::with_seed(t);
                for _ in 0..20_000 {
                    if r.bool() {
                        let n = r.usize(1..16);
                        match mm.allocate_pages_into(&owner, n, &mut mine) {
                            Ok(()) => {
                                let now = held.fetch_add(n * 4096, Ordering::SeqCst) + n * 4096;
                                peak.fetch_max(now, Ordering::SeqCst);
                            }
                            Err(MemoryError::PagesExhausted { .. }) => {
                                refusals.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    } else if !mine.is_empty() {
                        // Release less than is allocated on average: holdings grow until the
                        // budget refuses, so it is tight most of the time.
                        let n = r.usize(1..=mine.len().min(6));
                        held.fetch_sub(n * 4096, Ordering::SeqCst);
                        if r.bool() {
                            let tail = mine.len() - n;
                            mm.release_many(mine.drain(tail..));
                        } else {
                            mine.truncate(mine.len() - n);
                        }
                    }
                }
                held.fetch_sub(mine.len() * 4096, Ordering::SeqCst);
                mm.release_pages(&mut mine);
                drop(mine); // the vector's type borrows the owner, even empty
                assert!(owner.close().is_clean());
                finished.fetch_add(1, Ordering::SeqCst);
            }));
        }
        let (mm, held, peak, stop) = (&mm, &held, &peak, &stop);
        threads.push(s.spawn(move || {
            let owner = mm.owner("reserver", UseCase::StateBackend);
            while !stop.load(Ordering::Relaxed) {
                if mm.reserve_memory(&owner, 3 * 4096).is_ok() {
                    let now = held.fetch_add(3 * 4096, Ordering::SeqCst) + 3 * 4096;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::yield_now();
                    held.fetch_sub(3 * 4096, Ordering::SeqCst);
                    assert_eq!(mm.release_all_memory(&owner), 3 * 4096);
                }
            }
        }));
        // The reserver runs until the workers are done.
        while finished.load(Ordering::SeqCst) < 3 {
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap(); // also waits for the thread's cache hand-back
        }
    });
    assert!(
        peak.load(Ordering::SeqCst) <= PAGES * 4096,
        "held {} bytes of {}",
        peak.load(Ordering::SeqCst),
        PAGES * 4096
    );
    assert!(refusals.load(Ordering::Relaxed) > 0, "the budget was never tight: the test proves nothing");
    assert_empty(&mm);
    assert_eq!(arena.stats().used_segments(), 0);
}

#[test]
fn an_owner_moved_to_another_thread_keeps_exact_counts() {
    let mm = manager();
    let mut owner = mm.owner("mover", UseCase::Operator);
    let pages = mm.allocate_pages(&owner, 10).unwrap();
    // Released on another thread (the atomic path).
    std::thread::scope(|s| {
        s.spawn(|| drop(pages));
    });
    assert_eq!(owner.pages(), 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            owner.make_home();
            let p = mm.allocate_pages(&owner, 5).unwrap();
            assert_eq!(owner.pages(), 5);
            drop(p); // the plain-store path, on the new home
            assert_eq!(owner.pages(), 0);
        });
    });
    let p = mm.allocate_pages(&owner, 3).unwrap();
    drop(p); // back on the old thread: the atomic path again
    assert_eq!(owner.pages(), 0);
    assert_empty(&mm);
}

// === shared resources (Flink's MemoryManagerSharedResourcesTest) ===

#[derive(Debug)]
struct TestResource {
    size: usize,
    closed: Arc<AtomicBool>,
}

impl Drop for TestResource {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

fn shared_manager() -> MemoryManager {
    let mm = MemoryManager::builder(arena(1)).memory_size(128 * MIB).build().unwrap();
    assert_eq!((mm.memory_size(), mm.available_memory()), (128 * MIB, 128 * MIB));
    mm
}

fn resource(closed: &Arc<AtomicBool>) -> impl FnOnce(usize) -> Result<TestResource, String> + '_ {
    move |size| Ok(TestResource { size, closed: Arc::clone(closed) })
}

#[test]
fn the_same_use_case_shares_one_resource_and_others_get_their_own() {
    let mm = shared_manager();
    let closed = Arc::new(AtomicBool::new(false));
    let r1 = mm.shared_resource(UseCase::StateBackend, 0.1, resource(&closed)).unwrap();
    let r2 = mm.shared_resource(UseCase::StateBackend, 0.1, resource(&closed)).unwrap();
    assert!(std::ptr::eq(&raw const *r1, &raw const *r2), "one resource behind both leases");
    let r3 = mm.shared_resource(UseCase::Python, 0.1, resource(&closed)).unwrap();
    assert!(!std::ptr::eq(&raw const *r1, &raw const *r3));
    assert_eq!(r3.use_case(), UseCase::Python);
    drop((r1, r2, r3));
    assert_empty(&mm);
}

#[test]
fn a_shared_resource_reserves_its_fraction_once() {
    let mm = shared_manager();
    let closed = Arc::new(AtomicBool::new(false));
    let r = mm.shared_resource(UseCase::StateBackend, 0.2, resource(&closed)).unwrap();
    assert_eq!(r.size(), 26_843_545); // ⌊128 MiB × 0.2⌋
    assert_eq!(r.size, r.size(), "the initializer got the reserved size");
    drop(r);
    let r = mm.shared_resource(UseCase::StateBackend, 0.5, resource(&closed)).unwrap();
    assert_eq!(mm.available_memory(), 64 * MIB);
    let free = mm.available_memory();
    let again = mm.shared_resource(UseCase::StateBackend, 0.8, resource(&closed)).unwrap();
    assert_eq!(mm.available_memory(), free, "an existing resource reserves nothing more");
    assert_eq!(again.size(), 64 * MIB, "and keeps the size it was created with");
    assert_eq!(mm.stats().shared_bytes, 64 * MIB as u64);
    drop((r, again));
    assert_empty(&mm);
}

#[test]
fn a_resource_the_budget_cannot_hold_is_refused_without_running_its_initializer() {
    let mm = shared_manager();
    let closed = Arc::new(AtomicBool::new(false));
    let _r = mm.shared_resource(UseCase::StateBackend, 0.8, resource(&closed)).unwrap();
    let called = AtomicBool::new(false);
    let err = mm
        .shared_resource(UseCase::Operator, 0.8, |_| {
            called.store(true, Ordering::SeqCst);
            Ok::<_, String>(())
        })
        .unwrap_err();
    match err {
        MemoryError::ReservationRefused { owner, requested, .. } => {
            assert_eq!((owner.as_str(), requested), ("shared:OPERATOR", mm.compute_memory_size(0.8).unwrap()));
        }
        other => panic!("{other:?}"),
    }
    assert!(!called.load(Ordering::SeqCst));
}

#[test]
fn the_last_lease_disposes_the_resource_and_frees_its_memory() {
    let mm = shared_manager();
    let closed = Arc::new(AtomicBool::new(false));
    let r1 = mm.shared_resource(UseCase::StateBackend, 0.1, resource(&closed)).unwrap();
    let r2 = mm.shared_resource(UseCase::StateBackend, 0.1, resource(&closed)).unwrap();
    assert!(!mm.verify_empty());
    drop(r1);
    assert!(!closed.load(Ordering::SeqCst), "a partial release does not dispose");
    assert!(!mm.verify_empty(), "a partial release does not release memory");
    drop(r2);
    assert!(closed.load(Ordering::SeqCst), "the last release disposes");
    assert_empty(&mm);
    // And a new one can be created afterwards.
    let again = Arc::new(AtomicBool::new(false));
    let r = mm.shared_resource(UseCase::StateBackend, 0.1, resource(&again)).unwrap();
    assert!(!again.load(Ordering::SeqCst));
    drop(r);
    assert!(again.load(Ordering::SeqCst));
}

#[test]
fn a_failing_or_panicking_initializer_gives_its_reservation_back() {
    let mm = shared_manager();
    let err = mm.shared_resource(UseCase::Python, 0.5, |_| Err::<(), _>("no python here")).unwrap_err();
    assert!(matches!(&err, MemoryError::SharedInit { use_case: "PYTHON", bytes, .. } if *bytes == 64 * MIB));
    assert!(err.to_string().ends_with("could not be created: no python here"), "{err}");
    assert_empty(&mm);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = mm.shared_resource(UseCase::Python, 0.5, |_| -> Result<(), String> { panic!("init blew up") });
    }));
    assert!(panicked.is_err());
    assert_empty(&mm);
    // The use case is free to be created after both failures.
    let r = mm.shared_resource(UseCase::Python, 0.5, Ok::<_, String>).unwrap();
    assert_eq!(*r, 64 * MIB);
}

#[test]
fn a_resource_of_another_type_is_refused() {
    let mm = shared_manager();
    let _r = mm.shared_resource(UseCase::Operator, 0.1, |_| Ok::<u32, String>(1)).unwrap();
    match mm.shared_resource(UseCase::Operator, 0.1, |_| Ok::<String, String>(String::new())) {
        Err(MemoryError::SharedTypeMismatch { use_case, existing, requested }) => {
            assert_eq!((use_case, existing, requested), ("OPERATOR", "u32", "alloc::string::String"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        mm.shared_resource(UseCase::Python, 0.0, |_| Ok::<(), String>(())),
        Err(MemoryError::BadFraction { .. })
    ));
}

#[test]
fn leases_dropped_on_many_threads_dispose_exactly_once() {
    let mm = shared_manager();
    let disposals = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for _ in 0..20 {
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (mm, disposals) = (&mm, &disposals);
                s.spawn(move || {
                    for _ in 0..50 {
                        let lease = mm.shared_resource(UseCase::Operator, 0.25, |_| {
                            Ok::<_, String>(Counted(Arc::clone(disposals)))
                        });
                        drop(lease.unwrap());
                    }
                });
            }
        });
        assert_empty(&mm);
    }
    let created = disposals.load(Ordering::SeqCst);
    assert!(created >= 20, "each round created and disposed at least once");
    assert_eq!(mm.stats().shared_bytes, 0);
}

// === use-case weights ===

#[test]
fn weights_split_the_budget_and_come_from_the_environment() {
    let mm = MemoryManager::builder(arena(1)).memory_size(170 * MIB).build().unwrap();
    assert_eq!(mm.use_case_memory_size(UseCase::Operator).unwrap(), 70 * MIB);
    assert_eq!(mm.use_case_memory_size(UseCase::StateBackend).unwrap(), 70 * MIB);
    assert_eq!(mm.use_case_memory_size(UseCase::Python).unwrap(), 30 * MIB);
    let stats = mm.stats();
    let totals: Vec<(String, u32, u64)> =
        stats.use_cases.iter().map(|u| (u.use_case.clone(), u.weight, u.total_bytes)).collect();
    assert_eq!(
        totals,
        [
            ("OPERATOR".into(), 70, 70 * MIB as u64),
            ("STATE_BACKEND".into(), 70, 70 * MIB as u64),
            ("PYTHON".into(), 30, 30 * MIB as u64)
        ]
    );

    // NUMASEG_USE_CASE_WEIGHTS reaches the manager through the allocator's configuration.
    let config = Config::builder()
        .managed_memory(MemoryAmount::Bytes(ByteSize(100 << 20)))
        .build_from([("NUMASEG_USE_CASE_WEIGHTS", "OPERATOR:3,STATE_BACKEND:1")])
        .unwrap();
    let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&config, 1).unwrap())).unwrap();
    assert_eq!(mm.memory_size(), 100 * MIB);
    assert_eq!(mm.use_case_fraction(UseCase::Operator).unwrap(), 0.75);
    assert_eq!(mm.use_case_memory_size(UseCase::StateBackend).unwrap(), 25 * MIB);
    let err = mm.use_case_fraction(UseCase::Python).unwrap_err();
    assert_eq!(
        err.to_string(),
        "use case PYTHON has no weight in NUMASEG_USE_CASE_WEIGHTS (OPERATOR:3,STATE_BACKEND:1): give it a positive weight"
    );

    // A shared resource sized by its use case's share, and usage per use case.
    let fraction = mm.use_case_fraction(UseCase::StateBackend).unwrap();
    let cache = mm.shared_resource(UseCase::StateBackend, fraction, Ok::<_, String>).unwrap();
    let op = mm.owner("op", UseCase::Operator);
    let pages = mm.allocate_pages(&op, 32).unwrap();
    let stats = mm.stats();
    let of = |name: &str| stats.use_cases.iter().find(|u| u.use_case == name).unwrap().clone();
    assert_eq!((of("STATE_BACKEND").used_bytes, of("STATE_BACKEND").available_bytes), (25 << 20, 0));
    assert_eq!(of("STATE_BACKEND").shared_bytes, 25 << 20);
    assert_eq!((of("OPERATOR").used_bytes, of("OPERATOR").total_bytes, of("OPERATOR").owners), (1 << 20, 75 << 20, 1));
    assert_eq!((of("PYTHON").weight, of("PYTHON").total_bytes), (0, 0));
    drop((cache, pages));
}

// === leak detection ===

/// Captures what numaseg logs on this thread while `f` runs.
fn logged(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn an_owner_ending_with_memory_outstanding_is_logged_and_reclaimed() {
    let mm = manager();
    let log = logged(|| {
        let owner = mm.owner("forgetful", UseCase::Operator);
        let mut pages = mm.allocate_pages(&owner, 3).unwrap();
        std::mem::forget(pages.pop());
        std::mem::forget(pages.pop());
        drop(pages);
        mm.reserve_memory(&owner, 1000).unwrap();
        let report = owner.close();
        assert_eq!((report.pages, report.page_bytes, report.reserved_bytes), (2, 2 * PAGE, 1000));
        assert!(!report.is_clean());
    });
    assert!(
        log.contains(
            "memory owner \"forgetful\" (#1, OPERATOR) ended with 2 pages (64KiB) and 1000 bytes (1000) reserved outstanding: reclaimed"
        ),
        "{log}"
    );
    assert!(log.contains("WARN"), "{log}");
    assert_empty(&mm);
    let stats = mm.stats();
    assert_eq!((stats.leaked_owners, stats.leaked_pages, stats.leaked_reserved_bytes), (1, 2, 1000));
    assert!(stats.owners.is_empty(), "the owner left the registry");

    // Dropping (rather than closing) an owner does the same; a clean owner logs nothing.
    let log = logged(|| {
        let owner = mm.owner("dropped", UseCase::StateBackend);
        mm.reserve_memory(&owner, 5 * PAGE).unwrap();
        drop(owner);
        let tidy = mm.owner("tidy", UseCase::Operator);
        drop(mm.allocate_pages(&tidy, 5).unwrap());
        drop(tidy);
    });
    assert!(log.contains("\"dropped\""), "{log}");
    assert!(log.contains("0 pages (0) and 163840 bytes (160KiB) reserved outstanding"), "{log}");
    assert!(!log.contains("tidy"), "{log}");
    assert_empty(&mm);
}

// === nodes, owners of another manager, building ===

#[test]
fn owners_bound_to_a_node_get_pages_there() {
    let mm = MemoryManager::builder(arena(4)).memory_size(64 * MIB).build().unwrap();
    let owners: Vec<_> =
        (0..4u16).map(|k| mm.owner_on(&format!("n{k}"), UseCase::Operator, NodeId::new(k)).unwrap()).collect();
    let nodes: Vec<NodeId> = (0..4u16).map(NodeId::new).collect();
    let pages: Vec<Vec<_>> = owners.iter().map(|o| mm.allocate_pages(o, 8).unwrap()).collect();
    let singles: Vec<_> = owners.iter().map(|o| mm.allocate_page(o).unwrap()).collect();
    for ((ps, single), &node) in pages.iter().zip(&singles).zip(&nodes) {
        assert!(ps.iter().chain([single]).all(|p| p.node() == node), "{node}");
    }
    let stats = mm.stats();
    assert_eq!(
        stats.nodes.iter().map(|n| (n.node, n.used_pages)).collect::<Vec<_>>(),
        [(0, 9), (1, 9), (2, 9), (3, 9)]
    );
    assert!(stats.owners.iter().all(|o| o.node.is_some() && o.pages == 9));
    assert!(matches!(mm.owner_on("x", UseCase::Operator, NodeId::new(4)), Err(MemoryError::Node(_))));
    drop((pages, singles));
    assert_empty(&mm);
}

#[test]
fn an_owner_of_another_manager_is_refused() {
    let (a, b) = (manager(), manager());
    let owner = b.owner("elsewhere", UseCase::Operator);
    assert!(matches!(a.allocate_pages(&owner, 1), Err(MemoryError::ForeignOwner { .. })));
    assert!(matches!(a.allocate_page(&owner), Err(MemoryError::ForeignOwner { .. })));
    assert!(matches!(a.reserve_memory(&owner, 1), Err(MemoryError::ForeignOwner { .. })));
    assert_eq!(
        a.allocate_page(&owner).unwrap_err().to_string(),
        "memory owner \"elsewhere\" belongs to another memory manager"
    );
    assert_empty(&a);
    assert_empty(&b);
}

#[test]
fn building_refuses_sizes_that_cannot_work() {
    let refuse = |b: numaseg::manager::MemoryManagerBuilder| b.build().unwrap_err();
    let max = 32 * MIB;
    for page_size in [0, 1000, 2048, 3 << 12, 64 * MIB] {
        match refuse(MemoryManager::builder(arena(1)).page_size(page_size)) {
            BuildError::PageSize { page_size: p, max: m } => assert_eq!((p, m), (page_size, max)),
            other => panic!("{page_size}: {other}"),
        }
    }
    assert!(matches!(
        refuse(MemoryManager::builder(arena(1)).memory_size(4095).page_size(4096)),
        BuildError::ManagedMemoryBelowPage { memory_size: 4095, page_size: 4096 }
    ));
    match refuse(MemoryManager::builder(arena(1)).memory_size(1 << 43).page_size(4096)) {
        BuildError::TooManyPages { pages, max, .. } => assert_eq!((pages, max), (1 << 31, i32::MAX as usize)),
        other => panic!("{other}"),
    }
    let unlimited = Config::builder().memory_limit(MemoryAmount::Unlimited).build_from::<_, &str, &str>([]).unwrap();
    match MemoryManager::new(Arc::new(ArenaManager::heap_backed(&unlimited, 1).unwrap())).unwrap_err() {
        BuildError::ManagedFractionOfUnlimited { fraction } => assert_eq!(fraction, 0.4),
        other => panic!("{other}"),
    }
    // The largest page is the region size.
    let mm = MemoryManager::builder(arena(1)).memory_size(64 * MIB).page_size(max).build().unwrap();
    let owner = mm.owner("big pages", UseCase::Operator);
    assert_eq!(mm.allocate_pages(&owner, 2).unwrap()[1].size(), max);
}

// === stats ===

#[test]
fn stats_report_usage_per_node_owner_and_use_case() {
    let mm = MemoryManager::builder(arena(2)).memory_size(16 * MIB).build().unwrap();
    let a = mm.owner_on("scan \"A\"", UseCase::Operator, NodeId::new(1)).unwrap();
    let b = mm.owner("b", UseCase::StateBackend);
    let pa = mm.allocate_pages(&a, 4).unwrap();
    let pb = mm.allocate_pages(&b, 2).unwrap();
    mm.reserve_memory(&b, 1000).unwrap();
    mm.release_all(&a);
    let s = mm.stats();
    assert_eq!((s.memory_size_bytes, s.page_size_bytes, s.total_pages), (16 << 20, PAGE as u64, 512));
    assert_eq!((s.used_pages, s.reserved_bytes), (6, 1000));
    assert_eq!(s.used_bytes, 6 * PAGE as u64 + 1000);
    assert_eq!(s.available_bytes, (16 << 20) - s.used_bytes);
    assert_eq!(s.release_all_calls, 1);
    let node1 = s.nodes.iter().find(|n| n.node == 1).unwrap();
    assert_eq!((node1.used_pages, node1.used_bytes), (4, 4 * PAGE as u64));
    assert_eq!(node1.total_bytes, 16 << 20);
    assert!(node1.available_bytes <= s.available_bytes);
    let oa = s.owners.iter().find(|o| o.id == a.id()).unwrap();
    assert_eq!((oa.pages, oa.node, oa.revocations, oa.use_case.as_str()), (4, Some(1), 1, "OPERATOR"));
    let ob = s.owners.iter().find(|o| o.id == b.id()).unwrap();
    assert_eq!((ob.pages, ob.reserved_bytes, ob.used_bytes), (2, 1000, 2 * PAGE as u64 + 1000));

    let text = s.to_prometheus();
    for line in [
        "numaseg_mm_memory_size_bytes 16777216".to_owned(),
        format!("numaseg_mm_used_bytes {}", 6 * PAGE + 1000),
        "numaseg_mm_node_used_pages{node=\"1\"} 4".to_owned(),
        format!("numaseg_mm_owner_pages{{owner=\"scan \\\"A\\\"\",owner_id=\"{}\",use_case=\"OPERATOR\"}} 4", a.id()),
        format!(
            "numaseg_mm_owner_reserved_bytes{{owner=\"b\",owner_id=\"{}\",use_case=\"STATE_BACKEND\"}} 1000",
            b.id()
        ),
        format!(
            "numaseg_mm_owner_revocations_total{{owner=\"scan \\\"A\\\"\",owner_id=\"{}\",use_case=\"OPERATOR\"}} 1",
            a.id()
        ),
        format!(
            "numaseg_mm_owner_revocations_total{{owner=\"b\",owner_id=\"{}\",use_case=\"STATE_BACKEND\"}} 0",
            b.id()
        ),
        "# TYPE numaseg_mm_owner_revocations_total counter".to_owned(),
        "# HELP numaseg_mm_owner_revocations_total release_all calls on the owner.".to_owned(),
        "numaseg_mm_use_case_weight{use_case=\"PYTHON\"} 30".to_owned(),
        "numaseg_mm_release_all_total 1".to_owned(),
        "# TYPE numaseg_mm_leaked_owners_total counter".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    // Every metric name in the rendering is documented.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/METRICS.md")).unwrap();
    for name in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|t| t.split(' ').next().unwrap()) {
        assert!(doc.contains(&format!("`{name}`")), "{name} is not in docs/METRICS.md");
    }
    drop((pa, pb));
}
