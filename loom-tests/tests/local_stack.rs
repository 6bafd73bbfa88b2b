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
