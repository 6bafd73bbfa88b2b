//! Two threads steal from each other's spill deque at the same time. crossbeam's deques are
//! lock-free, so this cannot deadlock there; the loom stand-in locks the two deques of a steal
//! one after the other, never both at once, or the model deadlocks (each thread holding its
//! victim's lock and waiting for its own — nesting them was shown to deadlock here). Every item
//! still ends in exactly one place.
#![cfg(loom)]

use loom::thread;
use numaseg::loom_deque::{Steal, Worker};

use loom_tests::model;

#[test]
fn two_threads_stealing_from_each_other_neither_deadlock_nor_lose_items() {
    model(|| {
        let a = Worker::new_lifo();
        let b = Worker::new_lifo();
        a.push(1_usize);
        a.push(2);
        b.push(3);
        b.push(4);
        let (steal_from_a, steal_from_b) = (a.stealer(), b.stealer());
        // Thread 1 owns `b` and raids `a`; thread 2 owns `a` and raids `b`.
        let t1 = thread::spawn(move || {
            let got = steal_from_a.steal_batch_with_limit_and_pop(&b, 2);
            (b, got)
        });
        let t2 = thread::spawn(move || {
            let got = steal_from_b.steal_batch_with_limit_and_pop(&a, 2);
            (a, got)
        });
        let (b, got1) = t1.join().expect("thread 1");
        let (a, got2) = t2.join().expect("thread 2");
        let mut all = Vec::new();
        for got in [got1, got2] {
            if let Steal::Success(item) = got {
                all.push(item);
            }
        }
        for worker in [&a, &b] {
            while let Some(item) = worker.pop() {
                all.push(item);
            }
        }
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3, 4], "every item in exactly one place");
    });
}
