//! A local pool's idle stack (`src/buffer_pool/local.rs`, "The stack word") where the other
//! buffer-pool models do not reach it.
//!
//! **The ABA tag.** A requester that read the head and the top's `next`, and was preempted while
//! another thread popped that top, popped the one below it and pushed the first back, must not
//! install the stale `next` — which is in the other thread's hands — as the new head. Without the
//! tag (`next_word` keeping the old one), the preempted compare-and-swap sees the same word again
//! and succeeds: the buffer the other thread holds goes back on the stack and is handed out
//! twice (`scripts/mutants.sh`, named mutation `local-stack-aba-tag`).
//!
//! **The locked push publishes.** A buffer recycled through the slow path (`push_locked`, under
//! the state lock) may be popped lock-free by another thread; the push's `Release` is what makes
//! the slot's new `next` visible to it. Relaxed there, the popper can read the slot's older `next`
//! and install a buffer that is in hands as the head (mutant `push_locked#1 Release->Relaxed`).
//!
//! A buffer handed out twice fails the hand-out's debug assertion, or the distinctness check.
//!
//! **The idle count** (`available_buffers`, the stack's length kept in the top slot's `depth`).
//! A push reads the top's depth after loading the head (or after a failed compare-and-swap
//! reloads it); both loads must synchronise with the push that put that top there, or the new
//! depth is computed from a stale one and the count is wrong for as long as the buffer stays on
//! the stack — for the lock-free push (`try_push`) racing another recycle, and for the locked
//! push (`push_locked`, a buffer lent from the global pool) racing a lock-free recycle. A reader
//! of the count must not return a depth written by a push that is not (yet) its top's: the head's
//! `Acquire`, the depth's `Release`/`Acquire` and the second head read together guarantee that.
//! The checks are what a user sees: after the threads are done the count equals the buffers a
//! pool hands out; while they run, it never exceeds the most buffers that were ever idle.
//!
//! Since the inbox ("The inbox" in local.rs) only the pool's requester (the thread that last
//! found the stack empty) pushes a recycle lock-free; a recycle on another thread goes into the
//! inbox, and a full inbox is pushed by its recycler as one chain. So the two-recycles model
//! above no longer races two lock-free pushes (its recycler's buffer waits in the inbox), and
//! the lock-free push's head loads (`try_push_slot#1`/`#2`) are checked by a requester thread
//! racing a flush of the full inbox instead, and the chain's (`try_push_chain#1`/`#2`) by the
//! mirror of those models, the flush coming second.
#![cfg(loom)]

use loom::sync::Arc;

use loom_tests::{assert_network_back, model, tiny_network};

#[test]
fn a_requester_preempted_across_pop_pop_push_does_not_take_a_held_buffer() {
    model(|| {
        let (m, n) = tiny_network(3);
        let pool = Arc::new(n.create_buffer_pool(3, 3).expect("pool"));
        // All three buffers on the pool's stack (lent to it by the first requests), so every
        // request below is the lock-free pop and every recycle the lock-free push.
        let all: Vec<_> = (0..3).map(|_| pool.request_buffer().expect("live").expect("within size")).collect();
        drop(all);
        let requester = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.request_buffer().expect("live").expect("three buffers, two held at most"))
        };
        // The other thread: pop x, pop y, push x back (the same top as before, another `next`).
        let x = pool.request_buffer().expect("live").expect("a buffer");
        let y = pool.request_buffer().expect("live").expect("a buffer");
        drop(x);
        let got = requester.join().expect("requester");
        // Every buffer still idle can be taken, and none of them is one in hands.
        assert_distinct(&pool, &[&y, &got], 3);
        drop((y, got));
        drop(pool);
        assert_network_back(&m, n);
    });
}

/// Buffers in hands plus those a pool can still hand out (taken, then given back): all distinct,
/// as many as the pool has.
fn assert_distinct(pool: &numaseg::LocalBufferPool, held: &[&numaseg::Buffer], total: usize) {
    let idle: Vec<_> = std::iter::from_fn(|| pool.request_buffer().expect("live")).take(total).collect();
    let mut addrs: Vec<_> = idle.iter().chain(held.iter().copied()).map(|b| b.as_ptr() as usize).collect();
    assert_eq!(addrs.len(), total, "the buffers in hands and those idle");
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), total, "a buffer handed out twice");
}

#[test]
fn a_buffer_pushed_under_the_lock_is_popped_lock_free_with_its_new_next() {
    model(|| {
        let (m, n) = tiny_network(2);
        let pool = Arc::new(n.create_buffer_pool(2, 2).expect("pool"));
        let all: Vec<_> = (0..2).map(|_| pool.request_buffer().expect("live").expect("within size")).collect();
        drop(all); // both on the stack, the top's `next` pointing at the other
        let x = pool.request_buffer().expect("live").expect("the top");
        let y = pool.request_buffer().expect("live").expect("the other");
        // Empty: the pool is marked unavailable, so the next recycle takes the lock.
        assert!(pool.request_buffer().expect("live").is_none());
        let requester = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.request_buffer().expect("live"))
        };
        drop(x); // `push_locked`: x's `next` is now 0 (the stack was empty)
        let got = requester.join().expect("requester");
        let held: Vec<_> = [Some(&y), got.as_ref()].into_iter().flatten().collect();
        assert_distinct(&pool, &held, 2);
        drop((y, got));
        drop(pool);
        assert_network_back(&m, n);
    });
}

/// The idle count checked against the pool's books once every thread is done: the buffers the
/// pool owns less those in hands (a scan of every buffer's bookkeeping).
fn assert_count_exact(pool: &numaseg::LocalBufferPool) {
    let books = pool.owned_buffers() - pool.buffers_in_use();
    assert_eq!(pool.available_buffers(), books, "the idle count and the pool's books");
}

#[test]
fn the_idle_count_never_exceeds_what_was_ever_idle() {
    model(|| {
        let (m, n) = tiny_network(2);
        let pool = Arc::new(n.create_buffer_pool(2, 2).expect("pool"));
        let s = pool.request_buffer().expect("live").expect("within size");
        let c = pool.request_buffer().expect("live").expect("within size");
        let c_addr = c.as_ptr() as usize;
        drop(s); // [s]
        let reader = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.available_buffers())
        };
        let s = pool.request_buffer().expect("live").expect("s"); // []
        drop(c); // [c]
        let popper = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.request_buffer().expect("live").expect("c, or s on top of it"))
        };
        // Pushing s links it onto [c] (depth 2); if the popper takes c first, the push fails and
        // links it again onto [] (depth 1). A depth of 2 that never became the stack's length
        // must not be reported.
        drop(s);
        let got = popper.join().expect("popper");
        let seen = reader.join().expect("reader");
        // The popper took the top: c only if s was not pushed yet, and then no more than one
        // buffer was ever idle while the reader ran.
        let most = if got.as_ptr() as usize == c_addr { 1 } else { 2 };
        assert!(seen <= most, "available_buffers() = {seen}, but at most {most} buffers were ever idle");
        assert_eq!(pool.available_buffers(), 1);
        assert_count_exact(&pool);
        drop(got);
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn two_recycles_racing_onto_an_empty_stack_leave_an_exact_count() {
    model(|| {
        let (m, n) = tiny_network(2);
        let pool = Arc::new(n.create_buffer_pool(2, 2).expect("pool"));
        let a = pool.request_buffer().expect("live").expect("within size");
        let b = pool.request_buffer().expect("live").expect("within size");
        drop(b);
        drop(a); // [b, a]: a's depth is 2
        let a = pool.request_buffer().expect("live").expect("a, the top");
        let b = pool.request_buffer().expect("live").expect("b"); // []
        // Whichever push comes second reads the first one's depth (1): b pushed onto a must not
        // read the depth a had before (2).
        let recycler = loom::thread::spawn(move || drop(b));
        drop(a);
        recycler.join().expect("recycler");
        assert_eq!(pool.available_buffers(), 2);
        assert_count_exact(&pool);
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn a_buffer_lent_while_another_is_recycled_never_inflates_the_count() {
    model(|| {
        let (m, n) = tiny_network(2);
        let pool = Arc::new(n.create_buffer_pool(1, 2).expect("pool"));
        let x = pool.request_buffer().expect("live").expect("within size");
        let y = pool.request_buffer().expect("live").expect("within size");
        drop(x);
        drop(y); // [x, y]: y's depth is 2
        let y = pool.request_buffer().expect("live").expect("y, the top"); // [x]
        pool.set_num_buffers(1).expect("within bounds"); // x goes back to the global pool
        pool.set_num_buffers(2).expect("within bounds"); // room to lend it again, flag clear
        assert_eq!((pool.owned_buffers(), pool.available_buffers()), (1, 0));
        let reader = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.available_buffers())
        };
        // The requester finds the stack empty and lends x from the global pool (the locked
        // push) while y is recycled lock-free: x's depth must be y's new one (1) plus one.
        let requester = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.request_buffer().expect("live").expect("x or y"))
        };
        drop(y);
        let got = requester.join().expect("requester");
        let seen = reader.join().expect("reader");
        assert!(seen <= 2, "available_buffers() = {seen} in a pool of 2 buffers");
        // x is on the stack, unless the requester took y before x was lent.
        assert_count_exact(&pool);
        drop(got);
        drop(pool);
        assert_network_back(&m, n);
    });
}

/// The requester's recycle (the lock-free push, on the thread that last found the stack empty)
/// racing another thread's recycle that finds the inbox full and pushes it with its own buffer
/// as one chain, c on top. The requester's push reads the top the chain put there and must read
/// c's new depth: it loads the head with `Acquire` for that, and reloads it with `Acquire` when
/// its compare-and-swap fails because the chain got in first (mutant `try_push_slot#2
/// Acquire->Relaxed`: the push reads c's depth from when c was lent, 1, and the count says 2
/// where 4 are idle).
#[test]
fn the_requesters_recycle_racing_an_inbox_flush_leaves_an_exact_count() {
    model(|| requester_recycle_racing_a_flush(false));
}

/// As above, with the requester descheduled before its push, so that the chain is on the stack
/// when it first loads the head (mutant `try_push_slot#1 Acquire->Relaxed`: the same stale depth).
/// The yield is what a preemption there would be; at bound 1, loom's search of the model above
/// did not place one before the first load of the head.
#[test]
fn the_requesters_recycle_after_an_inbox_flush_leaves_an_exact_count() {
    model(|| requester_recycle_racing_a_flush(true));
}

/// Four buffers: three lent to this thread (each pushed onto the empty stack, depth 1, and
/// popped), the fourth to a requester thread; two recycled into the inbox, which is then full
/// (two entries under loom); the third recycled by a flusher thread while the requester
/// recycles the fourth. The requester is a thread of its own that never yields before the race
/// (unless `yield_first`, after it has read nothing of c): loom offers a thread an older value
/// only if the thread has not seen it before its last yield.
fn requester_recycle_racing_a_flush(yield_first: bool) {
    let (m, n) = tiny_network(4);
    let pool = Arc::new(n.create_buffer_pool(4, 4).expect("pool"));
    let held: Vec<_> = (0..3).map(|_| pool.request_buffer().expect("live").expect("within size")).collect();
    let [c, x, y] = <[_; 3]>::try_from(held).expect("three");
    let requester = {
        let pool = Arc::clone(&pool);
        loom::thread::spawn(move || {
            // Finds the stack and the inbox empty: this thread is the requester now.
            let b = pool.request_buffer().expect("live").expect("the fourth, lent");
            // Recycled on another thread: into the inbox, which is then full.
            loom::thread::spawn(move || drop((x, y))).join().expect("recycler");
            // Finds the inbox full: pushes c, x and y onto the stack as one chain, c on top.
            let flusher = loom::thread::spawn(move || drop(c));
            if yield_first {
                loom::thread::yield_now();
            }
            drop(b); // the requester's thread: the lock-free push
            flusher.join().expect("flusher");
        })
    };
    requester.join().expect("requester");
    assert_eq!(pool.available_buffers(), 4, "every buffer idle");
    assert_count_exact(&pool);
    assert_distinct(&pool, &[], 4);
    drop(pool);
    assert_network_back(&m, n);
}

/// The mirror of the two models above: the flush comes second, so the chain's push reads the top
/// the requester's push put there (b, on d: depth 2) and bases its depths on it. It loads the
/// head with `Acquire` for that; `Relaxed` (mutant `try_push_chain#1 Acquire->Relaxed`), it can
/// read b's depth from when b was lent (1) and the count says 4 where 5 are idle. The flusher
/// yields before its recycle, so that the requester's push comes first.
#[test]
fn an_inbox_flush_after_the_requesters_recycle_leaves_an_exact_count() {
    model(|| {
        let (m, n) = tiny_network(5);
        let pool = Arc::new(n.create_buffer_pool(5, 5).expect("pool"));
        let held: Vec<_> = (0..3).map(|_| pool.request_buffer().expect("live").expect("within size")).collect();
        let [c, x, y] = <[_; 3]>::try_from(held).expect("three");
        let requester = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || {
                // Both lent (pushed onto the empty stack, depth 1, and popped): this thread is the
                // requester now.
                let d = pool.request_buffer().expect("live").expect("the fourth, lent");
                let b = pool.request_buffer().expect("live").expect("the fifth, lent");
                drop(d); // the stack: [d]
                loom::thread::spawn(move || drop((x, y))).join().expect("recycler");
                let flusher = loom::thread::spawn(move || {
                    loom::thread::yield_now();
                    drop(c); // the inbox full: c, x and y as one chain
                });
                drop(b); // onto d: depth 2
                flusher.join().expect("flusher");
            })
        };
        requester.join().expect("requester");
        assert_eq!(pool.available_buffers(), 5, "every buffer idle");
        assert_count_exact(&pool);
        assert_distinct(&pool, &[], 5);
        drop(pool);
        assert_network_back(&m, n);
    });
}
