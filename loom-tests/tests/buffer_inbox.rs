//! A local pool's inbox (`src/buffer_pool/local.rs`, "The inbox"): buffers recycled on another
//! thread than the one that took them out wait there until a requester whose stack is empty
//! takes them all. Each model ends with a conservation check. What each one is for, and the
//! break it was seen to catch (the code changed on purpose, the model run, the code restored):
//!
//! - **A waiter is not lost** to a buffer parked in the inbox: a requester marking the pool
//!   unavailable closes the inbox (moving what it holds onto the stack) first, so a recycle
//!   either lands where the requester looks or sees the slow flag and fires the notification.
//!   Without the `close_inbox` call in `mark_unavailable_if_empty`, the recycled buffer sits in
//!   the inbox while the waiter sleeps: loom reports a deadlock.
//! - **Destroying a pool accounts for its inbox**: setting the slow flag closes the inbox and
//!   moves its buffers onto the stack, which the destroy then gives back to the global pool.
//!   Without the `close_inbox` call in `set_slow`, the buffer stays in the dead pool's inbox and
//!   the conservation check fails.
//! - **A taker finishes what a closer left**: a closer that finds a requester taking the inbox
//!   only closes it; the taker then takes the entries reserved meanwhile too. Without that
//!   (`take_inbox` clearing only the bits it took first), the entry stays in a closed inbox and
//!   the destroy's conservation check fails.
//! - **The idle count is exact while a requester takes the inbox**: the count waits while
//!   *taking* is set. Without that wait it adds the buffers already pushed onto the stack to the
//!   inbox's bits still set, and reports more buffers than the pool has.
//! - **The idle count waits for a refused chain**: a requester that finds the stack empty while
//!   another takes the inbox marks the pool unavailable, so the taker's chain is refused and
//!   goes through the lock; until it is on the stack, *taking* stays set and the count waits.
//!   With the refused buffers sent through the lock after *taking* is cleared (as `drain` did
//!   first), the count read after the empty-handed request misses them: loom reports 0 where 1
//!   was idle (and `tests/all`'s `available_buffers_under_churn…` saw 1 where at least 4 were).
//! - **A recycler's flush of a full inbox is accounted for** when the stack refuses the chain
//!   (the pool was destroyed meanwhile): its buffers go through the lock. Dropping them instead
//!   (`drain` without its `recycle_slow` loop) fails the conservation check.
//!
//! Under loom the inbox has two entries (`INBOX`), so three buffers reach the flush.
#![cfg(loom)]

use loom::sync::Arc;
use numaseg::BufferPoolError;

use loom_tests::{assert_network_back, model, tiny_network};

/// Takes `n` buffers of `pool` on this thread and recycles them on another one (joined), so
/// that they are in the pool's inbox.
fn into_inbox(pool: &numaseg::LocalBufferPool, n: usize) {
    let held: Vec<_> = (0..n).map(|_| pool.request_buffer().expect("live").expect("within size")).collect();
    loom::thread::spawn(move || drop(held)).join().expect("recycler");
}

#[test]
fn a_buffer_recycled_on_another_thread_wakes_a_blocked_requester() {
    model(|| {
        let (m, n) = tiny_network(1);
        let pool = Arc::new(n.create_buffer_pool(1, 1).expect("pool"));
        let held = pool.request_buffer().expect("live").expect("one buffer");
        let waiter = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || drop(pool.request_buffer_blocking(None, None).expect("woken with the buffer")))
        };
        // Not the requester's thread: the recycle goes to the inbox unless it is closed.
        let recycler = loom::thread::spawn(move || drop(held));
        recycler.join().expect("recycler");
        waiter.join().expect("waiter");
        assert_eq!(pool.available_buffers(), 1);
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn destroying_a_pool_while_a_buffer_enters_its_inbox_gives_every_buffer_back() {
    model(|| {
        let (m, n) = tiny_network(2);
        let pool = n.create_buffer_pool(2, 2).expect("pool");
        let a = pool.request_buffer().expect("live").expect("first");
        let b = pool.request_buffer().expect("live").expect("second");
        let recycler = loom::thread::spawn(move || drop(a));
        drop(pool); // destroyed: its idle buffers go back, the others as they are recycled
        recycler.join().expect("recycler");
        drop(b);
        assert_network_back(&m, n);
    });
}

#[test]
fn a_requester_taking_the_inbox_while_it_is_closed_and_refilled_loses_nothing() {
    model(|| {
        let (m, n) = tiny_network(3);
        let pool = Arc::new(n.create_buffer_pool(3, 3).expect("pool"));
        let a = pool.request_buffer().expect("live").expect("first");
        let b = pool.request_buffer().expect("live").expect("second");
        into_inbox(&pool, 1); // the inbox holds the third, the stack none
        let taker = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || match pool.request_buffer() {
                Ok(got) => drop(got),
                Err(e) => assert!(matches!(e, BufferPoolError::Destroyed { .. }), "{e}"),
            })
        };
        // Into the inbox's other entry, maybe while the taker holds it.
        let recycler = loom::thread::spawn(move || drop(a));
        pool.destroy(); // closes the inbox, maybe while the taker holds it
        taker.join().expect("taker");
        recycler.join().expect("recycler");
        drop(b);
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn the_idle_count_stays_exact_while_a_requester_takes_the_inbox() {
    model(|| {
        let (m, n) = tiny_network(2);
        let pool = Arc::new(n.create_buffer_pool(2, 2).expect("pool"));
        into_inbox(&pool, 2);
        assert_eq!(pool.available_buffers(), 2, "both in the inbox");
        let reader = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.available_buffers())
        };
        // Takes both: keeps one, pushes the other onto the stack.
        let got = pool.request_buffer().expect("live").expect("from the inbox");
        let seen = reader.join().expect("reader");
        assert!((1..=2).contains(&seen), "available_buffers() = {seen} while 1 or 2 were idle");
        assert_eq!(pool.available_buffers(), 1);
        drop(got);
        assert_eq!(pool.available_buffers(), 2);
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn a_recycler_flushing_a_full_inbox_while_the_pool_is_destroyed_gives_every_buffer_back() {
    model(|| {
        let (m, n) = tiny_network(3);
        let pool = Arc::new(n.create_buffer_pool(3, 3).expect("pool"));
        let c = pool.request_buffer().expect("live").expect("first");
        into_inbox(&pool, 2); // full (two entries under loom)
        // The next recycle elsewhere finds it full: takes both and pushes all three as a chain.
        let recycler = loom::thread::spawn(move || drop(c));
        pool.destroy();
        recycler.join().expect("recycler");
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn the_idle_count_waits_for_a_chain_the_stack_refused() {
    model(|| {
        let (m, n) = tiny_network(3);
        let pool = Arc::new(n.create_buffer_pool(3, 3).expect("pool"));
        let a = pool.request_buffer().expect("live").expect("first");
        into_inbox(&pool, 2); // the stack empty, the inbox full
        // Two requesters: whichever takes the inbox keeps one and pushes the other; one that
        // finds it being taken marks the pool unavailable, and the taker's push is refused.
        // After an empty-handed request, the other buffer is on its way to the stack (the
        // count waits) or on it: exactly one idle, the taker keeping the other, `a` held.
        let request = |pool: &numaseg::LocalBufferPool| {
            let got = pool.request_buffer().expect("live");
            let seen = got.is_none().then(|| pool.available_buffers());
            (got, seen)
        };
        let other = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || request(&pool))
        };
        let (mine, seen_here) = request(&pool);
        let (theirs, seen_there) = other.join().expect("requester");
        for seen in [seen_here, seen_there].into_iter().flatten() {
            assert_eq!(seen, 1, "available_buffers() = {seen} after an empty-handed request, 1 idle");
        }
        drop((mine, theirs, a));
        assert_eq!(pool.available_buffers(), 3);
        drop(pool);
        assert_network_back(&m, n);
    });
}
