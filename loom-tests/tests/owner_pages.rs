//! An owner's count of pages in use (`MemoryOwner::pages`, `MemoryManager::available_memory`)
//! read while another thread allocates a page and releases it: a page that the reader knows is
//! held (its allocation happened before the read, its release did not) is always counted — the
//! count may be stale, never below what is held (`src/manager/owner.rs`, "Why a stale count of
//! releases is safe").
//!
//! What makes it hold is the `Release`/`Acquire` pair on the owner's release counters: a reader
//! that sees a release also sees its page's allocation on the owner's word. Without it the
//! reader can add the release to an older word that lacks the allocation, and a page it holds
//! drops out of the count. The two models are the two writer classes of those counters — a
//! release on the owner's home thread (plain stores) and on another thread (atomic adds) — and
//! kill the four mutants `released#1`, `released#2`, `count_released#1`, `count_released#2` of
//! `scripts/mutants.sh` (each shown failing by hand as well: docs/RELIABILITY.md, E7).
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};

use loom_tests::{PAGE, assert_budget_whole, model, tiny_memory_manager};
use numaseg::MemoryManager;
use numaseg::manager::{MemoryOwner, UseCase};

/// What a reader that knows one page of `owner` is held must see, read once `released` says the
/// other page was released. The flag is `Relaxed` on purpose: it only delays the read until the
/// release has run (loom would otherwise schedule it first), it orders nothing — whatever the
/// reader may assume about the release must come from the owner's own orderings.
fn assert_held_page_counted(mm: &MemoryManager, owner: &MemoryOwner, released: &AtomicBool) {
    while !released.load(Ordering::Relaxed) {
        loom::thread::yield_now();
    }
    let pages = owner.pages();
    assert!(pages >= 1, "a held page is not counted: pages() = {pages}");
    let available = mm.available_memory();
    assert!(available <= mm.memory_size() - PAGE, "a held page counts as available: {available} bytes");
}

/// The owner's home thread holds a page, then allocates a second and releases it (counted with
/// plain stores); another thread, started after the first allocation, reads the count.
#[test]
fn a_release_on_the_home_thread_never_hides_a_held_page_from_a_reader() {
    model(|| {
        let (arena, mm) = tiny_memory_manager(2);
        let owner = Arc::new(mm.owner("o", UseCase::Operator)); // this thread is its home
        let held = mm.allocate_page(&owner).expect("a page"); // charges the whole budget
        let released = Arc::new(AtomicBool::new(false));
        let reader = {
            let (mm, owner, released) = (mm.clone(), Arc::clone(&owner), Arc::clone(&released));
            loom::thread::spawn(move || assert_held_page_counted(&mm, &owner, &released))
        };
        drop(mm.allocate_page(&owner).expect("a page from the credit"));
        released.store(true, Ordering::Relaxed);
        reader.join().expect("reader");
        assert_eq!(owner.pages(), 1);
        drop(held);
        drop(owner);
        assert_budget_whole(&arena, &mm);
    });
}

/// The owner's home thread holds a page and reads the count while another thread allocates a
/// page of the same owner and releases it (counted with an atomic add).
#[test]
fn a_release_on_another_thread_never_hides_a_held_page_from_a_reader() {
    model(|| {
        let (arena, mm) = tiny_memory_manager(2);
        let owner = Arc::new(mm.owner("o", UseCase::Operator)); // this thread is its home
        let held = mm.allocate_page(&owner).expect("a page"); // charges the whole budget
        let released = Arc::new(AtomicBool::new(false));
        let other = {
            let (mm, owner, released) = (mm.clone(), Arc::clone(&owner), Arc::clone(&released));
            loom::thread::spawn(move || {
                drop(mm.allocate_page(&owner).expect("a page from the credit"));
                released.store(true, Ordering::Relaxed);
            })
        };
        assert_held_page_counted(&mm, &owner, &released);
        other.join().expect("other");
        assert_eq!(owner.pages(), 1);
        drop(held);
        drop(owner);
        assert_budget_whole(&arena, &mm);
    });
}
