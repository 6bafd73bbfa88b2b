//! The work-stealing deques under the caches: crossbeam-deque's `Worker`, `Stealer` and
//! `Injector`, and crossbeam-queue's bounded `ArrayQueue` (the node pools' batches: no heap
//! allocation per push), in normal builds; `Mutex<VecDeque>` stand-ins with the same API under
//! loom.
//!
//! crossbeam-deque has no loom support, so what the loom models check is *our* protocol around
//! the deques — which thread pushes, pops, steals and flushes, and that every segment ends up in
//! exactly one place — not the deques' inside, which crossbeam's own Miri and `ThreadSanitizer`
//! runs cover. The stand-in keeps crossbeam's semantics where our protocol depends on them: a
//! LIFO worker pops the newest item, stealers and injectors take the oldest, and a batch steal
//! moves up to `limit` items and hands one straight back.

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Steal, Stealer, Worker};
#[cfg(not(loom))]
pub(crate) use crossbeam_queue::ArrayQueue;

#[cfg(loom)]
pub use self::model::{ArrayQueue, Injector, Steal, Stealer, Worker};

#[cfg(loom)]
mod model {
    use std::collections::VecDeque;

    use crate::sync::{Arc, Mutex, lock};

    /// The outcome of a steal, as crossbeam's `Steal` (the stand-in never asks for a retry).
    #[derive(Debug)]
    pub enum Steal<T> {
        /// Nothing to take.
        Empty,
        /// One item taken (a batch steal moved the rest).
        Success(T),
        #[allow(dead_code, reason = "mirrors crossbeam's API; the stand-in never retries")]
        /// Lost a race; try again (never returned by the stand-in).
        Retry,
    }

    /// The owner's end of a LIFO deque.
    #[derive(Debug)]
    pub struct Worker<T> {
        inner: Arc<Mutex<VecDeque<T>>>,
    }

    /// Another thread's end: steals the oldest items.
    #[derive(Debug)]
    pub struct Stealer<T> {
        inner: Arc<Mutex<VecDeque<T>>>,
    }

    /// A shared FIFO queue.
    #[derive(Debug)]
    pub struct Injector<T> {
        inner: Mutex<VecDeque<T>>,
    }

    /// Moves up to `limit` of the oldest items of `from` (one returned, the rest into `dest`).
    fn move_batch<T>(from: &mut VecDeque<T>, dest: &mut VecDeque<T>, limit: usize) -> Steal<T> {
        let Some(first) = from.pop_front() else { return Steal::Empty };
        for _ in 1..limit.max(1) {
            match from.pop_front() {
                Some(item) => dest.push_back(item),
                None => break,
            }
        }
        Steal::Success(first)
    }

    impl<T> Worker<T> {
        /// An empty deque whose owner pops the newest item.
        pub fn new_lifo() -> Self {
            Self { inner: Arc::new(Mutex::new(VecDeque::new())) }
        }

        /// Pushes onto the owner's end.
        pub fn push(&self, item: T) {
            lock(&self.inner).push_back(item);
        }

        /// Pops the newest item.
        pub fn pop(&self) -> Option<T> {
            lock(&self.inner).pop_back()
        }

        /// Items in the deque.
        #[expect(clippy::len_without_is_empty, reason = "crossbeam's API, of which numaseg uses `len` only")]
        pub fn len(&self) -> usize {
            lock(&self.inner).len()
        }

        /// A handle other threads steal through.
        pub fn stealer(&self) -> Stealer<T> {
            Stealer { inner: Arc::clone(&self.inner) }
        }
    }

    impl<T> Stealer<T> {
        /// Moves up to `limit` of the oldest items into `dest`, returning one of them.
        pub fn steal_batch_with_limit_and_pop(&self, dest: &Worker<T>, limit: usize) -> Steal<T> {
            if Arc::ptr_eq(&self.inner, &dest.inner) {
                return Steal::Empty;
            }
            // Never two locks at once: the batch leaves `from` under its lock and enters `dest`
            // under its own, in the stealing thread's hands in between (as crossbeam's steal
            // is not one atomic step across both deques either). So two threads stealing from
            // each other cannot deadlock (`loom-tests/tests/mutual_steal.rs`), and a thread
            // flushing its deque at exit never waits behind a thief that waits for another lock.
            let mut batch = VecDeque::new();
            let first = move_batch(&mut lock(&self.inner), &mut batch, limit);
            lock(&dest.inner).extend(batch);
            first
        }

        /// Items in the deque.
        #[expect(clippy::len_without_is_empty, reason = "crossbeam's API, of which numaseg uses `len` only")]
        pub fn len(&self) -> usize {
            lock(&self.inner).len()
        }
    }

    impl<T> Clone for Stealer<T> {
        fn clone(&self) -> Self {
            Self { inner: Arc::clone(&self.inner) }
        }
    }

    impl<T> Injector<T> {
        /// An empty queue.
        #[expect(clippy::new_without_default, reason = "crossbeam's API, which numaseg builds with `new`")]
        pub fn new() -> Self {
            Self { inner: Mutex::new(VecDeque::new()) }
        }

        /// Pushes at the back.
        pub fn push(&self, item: T) {
            lock(&self.inner).push_back(item);
        }

        /// Takes the oldest item.
        pub fn steal(&self) -> Steal<T> {
            lock(&self.inner).pop_front().map_or(Steal::Empty, Steal::Success)
        }
    }

    /// A bounded FIFO queue, as crossbeam-queue's `ArrayQueue`.
    #[derive(Debug)]
    pub struct ArrayQueue<T> {
        inner: Mutex<VecDeque<T>>,
        cap: usize,
    }

    impl<T> ArrayQueue<T> {
        /// An empty queue holding at most `cap` items.
        pub fn new(cap: usize) -> Self {
            Self { inner: Mutex::new(VecDeque::new()), cap }
        }

        /// Pushes at the back.
        ///
        /// # Errors
        /// The item, given back, when the queue holds `cap` items.
        pub fn push(&self, item: T) -> Result<(), T> {
            let mut q = lock(&self.inner);
            if q.len() >= self.cap {
                return Err(item);
            }
            q.push_back(item);
            Ok(())
        }

        /// Takes the oldest item.
        pub fn pop(&self) -> Option<T> {
            lock(&self.inner).pop_front()
        }
    }
}
