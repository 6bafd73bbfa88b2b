//! A local pool's inbox (`src/buffer_pool/local.rs`, "The inbox"): buffers recycled on another
//! thread than the one that took them out wait there until a requester takes them all (its
//! stack empty, or signalled by the recycler that filled the inbox half). Each model ends with
//! a conservation check. What each one is for, and the break it was seen to catch (the code changed on purpose, the model run, the code restored):
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
//! - **A requester signalled by a recycler takes the inbox while it refills**: the first
//!   entry (the mark under loom) sets *ready*, the requester's pop sees it and takes the inbox
//!   while the stack still holds a buffer, and a second recycle reserves meanwhile. The taker
//!   releases the bits only after reading and clearing their entries; releasing them first
//!   (the `fetch_add` in `drain` moved above the entries' loop) lets the recycler reserve the
//!   entry being read and one buffer is lost: the stats check sees 2 in hands where 1 is. The
//!   same model checks the recycle counted by the taker: without `take_entry`'s bump the
//!   hand-out's debug assertion fires ("buffer 0 handed out while in someone's hands"), and
//!   without the stats' inbox correction (`collect`) it sees 2 in use where 1 is.
//! - **The idle count waits while a signalled requester links what it took**: the bits are
//!   released before the chain is linked, *taking* only after it is pushed. Clearing *taking*
//!   with the bits (the same `fetch_add`) lets the count read the stack before the push and
//!   report 1 where 2 or 3 were idle.
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

#[test]
fn a_requester_signalled_by_a_recycler_takes_the_inbox_while_it_refills() {
    model(|| {
        let (m, n) = tiny_network(3);
        let pool = Arc::new(n.create_buffer_pool(3, 3).expect("pool"));
        let held: Vec<_> = (0..3).map(|_| pool.request_buffer().expect("live").expect("within size")).collect();
        let [a, b, c] = <[_; 3]>::try_from(held).expect("three");
        drop(c); // this thread requested: onto the stack, which is no longer empty
        // Into the inbox: the first entry reaches the mark (one entry under loom) and sets the
        // ready flag.
        loom::thread::spawn(move || drop(a)).join().expect("recycler");
        // Reserves an entry, maybe the one the requester is releasing meanwhile.
        let recycler = loom::thread::spawn(move || drop(b));
        // The flag seen: takes the inbox first and keeps one of its buffers.
        let got = pool.request_buffer().expect("live").expect("one of three");
        recycler.join().expect("recycler");
        assert_eq!(pool.available_buffers(), 2, "two idle, wherever they wait");
        let stats = n.stats();
        assert_eq!((stats.requested - stats.recycled, stats.in_use), (1, 1), "{stats:?}");
        assert_eq!(stats.pools[0].in_use, 1, "{stats:?}");
        let again: Vec<_> = (0..2).map(|_| pool.request_buffer().expect("live").expect("idle")).collect();
        drop((got, again));
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn the_idle_count_waits_while_a_signalled_requester_links_what_it_took() {
    model(|| {
        let (m, n) = tiny_network(3);
        let pool = Arc::new(n.create_buffer_pool(3, 3).expect("pool"));
        let c = pool.request_buffer().expect("live").expect("first");
        into_inbox(&pool, 2); // full, the ready flag set
        drop(c); // this thread requested: onto the stack
        let reader = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.available_buffers())
        };
        // The flag seen: takes the inbox (its bits released before the chain is linked), keeps
        // one of its buffers and pushes the other.
        let got = pool.request_buffer().expect("live").expect("from the inbox");
        let seen = reader.join().expect("reader");
        assert!((2..=3).contains(&seen), "available_buffers() = {seen} while 2 or 3 were idle");
        assert_eq!(pool.available_buffers(), 2);
        drop(got);
        drop(pool);
        assert_network_back(&m, n);
    });
}
