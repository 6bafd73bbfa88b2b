//! The memory manager's budget and credit protocol under loom: owners claiming pages from their
//! own word by compare-and-swap, charging credit from the shared budget in batches (one page
//! under loom), taking every owner's idle credit back when the budget would refuse, and
//! `release_all` revoking an owner's pages while other threads still use and release them.
//!
//! Each model ends with a conservation check: every page back in the allocator, the manager
//! empty, and the whole budget claimable again by a fresh owner — so no credit was stranded on an
//! owner's word or lost between the word and the budget.
//!
//! The `release_all` and owner-end models found credit "on its way back" (off an owner's word,
//! not yet in the budget) making an allocation fail with the memory free (fixed: see
//! `src/manager/owner.rs`); the reservation model fails within seconds when `trim` stores its
//! word instead of compare-and-swapping it.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};

use loom_tests::{PAGE, assert_budget_whole, model, tiny_memory_manager as manager};
use numaseg::manager::UseCase;
use numaseg::{MemoryError, MemorySegment, SegmentError};

/// Pages and reserved bytes held by the model's threads, checked against the budget whenever
/// someone takes more: two owners never hold more than the budget between them.
struct Held {
    bytes: AtomicUsize,
    limit: usize,
}

impl Held {
    fn take(&self, bytes: usize) {
        // SeqCst: the test's own counter; the strongest order keeps any failure about the
        // manager, not about this counter.
        let now = self.bytes.fetch_add(bytes, Ordering::SeqCst) + bytes;
        assert!(now <= self.limit, "{now} bytes held at once, the budget is {}", self.limit);
    }

    fn give(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::SeqCst);
    }
}

/// Two owners on two threads contend for a budget of two pages: one allocates a page and
/// releases it, keeping its credit (the whole budget: one page and a batch of one) idle on its
/// word; the other wants both pages at once, which it can have only by reclaiming that credit.
/// Whatever the interleaving, the two never hold more than the budget, a refusal is
/// `PagesExhausted` with the numbers, and at the end the whole budget is claimable again.
#[test]
fn idle_credit_is_reclaimed_and_the_budget_never_overcommits() {
    model(|| {
        let (arena, mm) = manager(2);
        let held = Arc::new(Held { bytes: AtomicUsize::new(0), limit: 2 * PAGE });
        let a = Arc::new(mm.owner("a", UseCase::Operator));
        let b = mm.owner("b", UseCase::StateBackend);
        let first = {
            let (mm, a, held) = (mm.clone(), Arc::clone(&a), Arc::clone(&held));
            loom::thread::spawn(move || match mm.allocate_page(&a) {
                Ok(page) => {
                    held.take(PAGE);
                    held.give(PAGE);
                    drop(page); // the credit stays on a's word
                }
                Err(MemoryError::PagesExhausted { requested: 1, total: 2, .. }) => {}
                Err(e) => panic!("{e}"),
            })
        };
        match mm.allocate_pages(&b, 2) {
            Ok(pages) => {
                held.take(2 * PAGE);
                held.give(2 * PAGE);
                mm.release_many(pages);
            }
            // Only while `a` holds its page.
            Err(MemoryError::PagesExhausted { requested: 2, total: 2, .. }) => {}
            Err(e) => panic!("{e}"),
        }
        first.join().expect("first");
        // Both owners still live, `a` possibly with idle credit: a fresh owner gets it all.
        assert_budget_whole(&arena, &mm);
        drop((a, b));
        assert_budget_whole(&arena, &mm);
    });
}

/// A reservation races with another owner's page for a budget of two pages, with credit from an
/// earlier page idle on the allocating owner's word: the reservation reclaims it or is refused
/// with the numbers, never passes the budget, and everything comes back.
#[test]
fn a_reservation_reclaims_credit_from_a_racing_owner() {
    model(|| {
        let (arena, mm) = manager(2);
        let held = Arc::new(Held { bytes: AtomicUsize::new(0), limit: 2 * PAGE });
        let a = Arc::new(mm.owner("a", UseCase::Operator));
        drop(mm.allocate_page(&a).expect("a page")); // a keeps two pages of credit
        let b = Arc::new(mm.owner("b", UseCase::StateBackend));
        let reserver = {
            let (mm, b, held) = (mm.clone(), Arc::clone(&b), Arc::clone(&held));
            loom::thread::spawn(move || match mm.reserve_memory(&b, PAGE + 1) {
                Ok(()) => {
                    held.take(2 * PAGE); // a page and one byte round up to two pages' worth
                    held.give(2 * PAGE);
                    assert_eq!(mm.release_memory(&b, usize::MAX), PAGE + 1);
                }
                Err(MemoryError::ReservationRefused { requested, total, .. }) => {
                    assert_eq!((requested, total), (PAGE + 1, 2 * PAGE));
                }
                Err(e) => panic!("{e}"),
            })
        };
        match mm.allocate_page(&a) {
            Ok(page) => {
                held.take(PAGE);
                held.give(PAGE);
                drop(page);
            }
            Err(MemoryError::PagesExhausted { requested: 1, .. }) => {}
            Err(e) => panic!("{e}"),
        }
        reserver.join().expect("reserver");
        drop((a, b));
        assert_budget_whole(&arena, &mm);
    });
}

/// An owner ends on one thread while another owner allocates the whole budget on another: the
/// ending owner holds no page, only idle credit (the whole budget), so the allocation must never
/// be refused — also not while that credit is between the ending owner's word and the budget.
#[test]
fn an_owner_ending_with_idle_credit_never_makes_an_allocation_fail() {
    model(|| {
        let (arena, mm) = manager(2);
        let ending = mm.owner("ending", UseCase::Operator);
        drop(mm.allocate_page(&ending).expect("a page")); // two pages of credit stay on its word
        let closer = loom::thread::spawn(move || assert!(ending.close().is_clean()));
        let b = mm.owner("b", UseCase::StateBackend);
        let pages = mm.allocate_pages(&b, 2).expect("the whole budget: nobody holds a page");
        mm.release_pages(&mut { pages });
        closer.join().expect("closer");
        drop(b);
        assert_budget_whole(&arena, &mm);
    });
}

/// Lets a page travel to another loom thread.
///
/// # Safety
/// The owner the page borrows must outlive every use of the returned handle: the model joins the
/// thread that holds it before the owner is dropped.
unsafe fn detach(page: MemorySegment<'_>) -> MemorySegment<'static> {
    // SAFETY: only the lifetime changes; the caller keeps the owner alive (see above).
    unsafe { std::mem::transmute::<MemorySegment<'_>, MemorySegment<'static>>(page) }
}

/// `release_all` races with another thread that uses a page of the owner, releases it and
/// allocates a new one (which `release_all` may or may not revoke, depending on who is first):
/// every access is served or refused as `Released` (never anything else), the allocation is
/// never refused — the budget has room for it throughout, even while `release_all` gives the
/// owner's credit back — each page goes back to the allocator exactly once, and the owner's count
/// and the budget come out exact.
#[test]
fn release_all_racing_releases_on_other_threads_frees_each_page_once() {
    model(|| {
        // Two pages of three: one page of credit (a batch) stays on the owner's word.
        let (arena, mm) = manager(3);
        let owner = Arc::new(mm.owner("revoked", UseCase::Operator));
        let mut pages = mm.allocate_pages(&owner, 2).expect("two pages");
        // SAFETY: `owner` lives until the end of the model; the thread is joined before.
        let mut away = unsafe { detach(pages.pop().expect("a page")) };
        let kept = pages.pop().expect("a page");
        drop(pages);
        let user = {
            let (mm, owner) = (mm.clone(), Arc::clone(&owner));
            loom::thread::spawn(move || {
                use_page(&mut away);
                drop(away); // a release counted on a thread other than the owner's home
                let mut page = mm.allocate_page(&owner).expect("one page of three, two in use at most");
                use_page(&mut page);
            })
        };
        mm.release_all(&owner);
        assert!(kept.is_released());
        assert!(matches!(kept.get_u8(0), Err(SegmentError::Released { .. })));
        mm.release(kept);
        user.join().expect("user");
        assert_eq!(owner.pages(), 0);
        // Pages allocated after the revocation are live, and the owner's whole budget is back.
        let again = mm.allocate_pages(&owner, 3).expect("the whole budget again");
        assert!(again.iter().all(|p| !p.is_released()));
        drop(again);
        let owner = Arc::try_unwrap(owner).expect("the thread is done");
        assert!(owner.close().is_clean());
        assert_budget_whole(&arena, &mm);
    });
}

/// An access racing `release_all`: served, or refused as `Released` and then revoked for good.
fn use_page(page: &mut MemorySegment<'_>) {
    match page.put_u64_le(0, 7) {
        Ok(()) => {}
        Err(SegmentError::Released { .. }) => assert!(page.is_released()),
        Err(e) => panic!("{e}"),
    }
}
