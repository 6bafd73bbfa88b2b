//! A reservation racing a give-back of idle credit (`src/manager/owner.rs`, "Credit on its way
//! back"): the other owner holds no page and no reservation, only credit, so a reservation of
//! the whole budget must never be refused — also not while that credit is off the owner's word
//! and not yet in the budget. `Shared::reserve_bytes` therefore waits, after its reclaim, for
//! give-backs in progress before it refuses.
//!
//! Refusing without that wait (named mutation `reserve-bytes-no-wait` of `scripts/mutants.sh`)
//! fails both models; the `memory_manager` models do not catch it (they allow a refusal, or
//! allocate instead of reserving).
#![cfg(loom)]

use loom_tests::{PAGE, assert_budget_whole, model, tiny_memory_manager};
use numaseg::manager::UseCase;

/// An owner with two pages of idle credit (the whole budget) ends on another thread (`finish`:
/// the credit leaves its word, then the registry, then reaches the budget).
#[test]
fn a_reservation_never_fails_while_an_ending_owner_gives_its_credit_back() {
    model(|| {
        let (arena, mm) = tiny_memory_manager(2);
        let ending = mm.owner("ending", UseCase::Operator);
        drop(mm.allocate_page(&ending).expect("a page")); // two pages of credit stay on its word
        let closer = loom::thread::spawn(move || assert!(ending.close().is_clean()));
        let b = mm.owner("b", UseCase::StateBackend);
        mm.reserve_memory(&b, 2 * PAGE).expect("the whole budget: nobody holds any of it");
        assert_eq!(mm.release_memory(&b, usize::MAX), 2 * PAGE);
        closer.join().expect("closer");
        drop(b);
        assert_budget_whole(&arena, &mm);
    });
}

/// The same credit given back by `release_all` on another thread (`trim`: the credit leaves the
/// word by compare-and-swap, then reaches the budget), the owner staying alive.
#[test]
fn a_reservation_never_fails_while_release_all_gives_credit_back() {
    model(|| {
        let (arena, mm) = tiny_memory_manager(2);
        let a = loom::sync::Arc::new(mm.owner("a", UseCase::Operator));
        drop(mm.allocate_page(&a).expect("a page")); // two pages of credit stay on its word
        let revoker = {
            let (mm, a) = (mm.clone(), loom::sync::Arc::clone(&a));
            loom::thread::spawn(move || mm.release_all(&a))
        };
        let b = mm.owner("b", UseCase::StateBackend);
        mm.reserve_memory(&b, 2 * PAGE).expect("the whole budget: nobody holds any of it");
        assert_eq!(mm.release_memory(&b, usize::MAX), 2 * PAGE);
        revoker.join().expect("revoker");
        drop((a, b));
        assert_budget_whole(&arena, &mm);
    });
}
