//! The ABA tag of a local pool's idle stack (`src/buffer_pool/local.rs`, "The stack word"): a
//! requester that read the head and the top's `next`, and was preempted while another thread
//! popped that top, popped the one below it and pushed the first back, must not install the
//! stale `next` — which is in the other thread's hands — as the new head.
//!
//! Without the tag (`next_word` keeping the old one), the preempted compare-and-swap sees the
//! same word again and succeeds: the buffer the other thread holds goes back on the stack and
//! is handed out twice. This model fails then (the next request gets the held buffer: the
//! hand-out's debug assertion, or the distinctness check below); the other buffer-pool models
//! do not (`scripts/mutants.sh`, named mutation `local-stack-aba-tag`).
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
        let idle: Vec<_> = std::iter::from_fn(|| pool.request_buffer().expect("live")).take(3).collect();
        let mut addrs: Vec<_> = idle.iter().chain([&y, &got]).map(|b| b.as_ptr() as usize).collect();
        assert_eq!(addrs.len(), 3, "three buffers: those in hands and those idle");
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), 3, "a buffer handed out twice");
        drop((idle, y, got));
        drop(pool);
        assert_network_back(&m, n);
    });
}
