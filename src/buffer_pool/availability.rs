//! Waiting for buffers without an executor of our own: wait lists of std [`Waker`]s, the
//! [`Cancellation`] token, and a `block_on` that parks the calling thread.
//!
//! What must hold:
//! - A [`WaitList`] lives inside the network buffer pool's lock. Whoever makes a pool available
//!   takes the whole list under the lock and wakes it *after* unlocking ([`WaitList::take`]), so
//!   a waker never runs with our lock held. A registration is removed by its future's `Drop`,
//!   so a cancelled future leaves nothing behind.
//! - The availability notification fires exactly once per change from unavailable to available:
//!   the pool marks itself unavailable (under the lock, atomically with its stack, see
//!   `local.rs`) when a requester finds nothing, and the first buffer that comes back clears the
//!   mark and fires — once — before anything can mark it again.
//! - Any executor works: futures only ever call [`Waker::wake_by_ref`] / [`Waker::wake`]; the
//!   blocking calls drive the same futures with a waker that unparks the calling thread.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Mutex, lock, thread};

/// Registered wakers, each with the id its future removes it by.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    next_id: u64,
    entries: Vec<(u64, Waker)>,
}

impl WaitList {
    /// Registers (or refreshes) a waker; returns the id to refresh or remove it with.
    pub(crate) fn register(&mut self, id: Option<u64>, waker: &Waker) -> u64 {
        if let Some(id) = id
            && let Some(entry) = self.entries.iter_mut().find(|(i, _)| *i == id)
        {
            if !entry.1.will_wake(waker) {
                entry.1.clone_from(waker);
            }
            return id;
        }
        self.next_id += 1;
        self.entries.push((self.next_id, waker.clone()));
        self.next_id
    }

    /// Removes a registration (a future dropped before it was woken).
    pub(crate) fn remove(&mut self, id: u64) {
        self.entries.retain(|(i, _)| *i != id);
    }

    /// Takes every waker, to be woken once the lock is released.
    pub(crate) fn take(&mut self) -> Wakers {
        Wakers(std::mem::take(&mut self.entries).into_iter().map(|(_, w)| w).collect())
    }
}

/// Wakers taken out of a [`WaitList`]; woken by [`Wakers::wake`] (or when dropped), which the
/// caller does after releasing the pool's lock.
#[derive(Debug, Default)]
#[must_use = "wake them after unlocking"]
pub(crate) struct Wakers(Vec<Waker>);

impl Wakers {
    /// Adds more.
    pub(crate) fn extend(&mut self, mut other: Self) {
        self.0.append(&mut other.0);
    }

    /// Wakes them all.
    pub(crate) fn wake(self) {
        drop(self);
    }
}

impl Drop for Wakers {
    fn drop(&mut self) {
        for w in self.0.drain(..) {
            w.wake();
        }
    }
}

/// Cancels blocking requests from another thread: a request waiting with this token returns
/// [`BufferPoolError::Cancelled`](crate::error::BufferPoolError::Cancelled) (after giving back
/// whatever it had taken) once [`Cancellation::cancel`] is called. Clones share the token.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::buffer_pool::{Cancellation, NetworkBufferPool};
/// use numaseg::error::BufferPoolError;
/// use numaseg::{ArenaManager, Config};
///
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let network = NetworkBufferPool::with_buffers(manager, 1, 4096)?;
/// let pool = network.create_buffer_pool(1, 1)?;
/// let held = pool.request_buffer()?.expect("one buffer");
/// let cancel = Cancellation::new();
/// let canceller = cancel.clone();
/// let t = std::thread::spawn(move || canceller.cancel());
/// let err = pool.request_buffer_blocking(None, Some(&cancel)).unwrap_err();
/// assert!(matches!(err, BufferPoolError::Cancelled { requested: 1 }));
/// t.join().unwrap();
/// drop(held);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cancellation {
    inner: Arc<CancelInner>,
}

#[derive(Debug)]
struct CancelInner {
    cancelled: AtomicBool,
    waiters: Mutex<WaitList>,
}

impl Default for Cancellation {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancellation {
    /// A token not yet cancelled.
    ///
    /// ```
    /// let token = numaseg::buffer_pool::Cancellation::new();
    /// assert!(!token.is_cancelled());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(CancelInner {
                cancelled: AtomicBool::new(false),
                waiters: Mutex::new(WaitList::default()),
            }),
        }
    }

    /// Cancels every request waiting with this token, now and later.
    ///
    /// ```
    /// let token = numaseg::buffer_pool::Cancellation::new();
    /// token.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        // Release: pairs with the Acquire in `is_cancelled`. The flag is set before the wait
        // list is taken, so a waiter that registers after the take sees the flag (it checks
        // under the same lock).
        self.inner.cancelled.store(true, Ordering::Release);
        let wakers = lock(&self.inner.waiters).take();
        wakers.wake();
    }

    /// Whether [`Cancellation::cancel`] was called.
    ///
    /// ```
    /// assert!(!numaseg::buffer_pool::Cancellation::default().is_cancelled());
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Acquire)
    }

    /// Registers a waker to be woken on cancellation; false if already cancelled.
    fn register(&self, id: Option<u64>, waker: &Waker) -> Option<u64> {
        let mut list = lock(&self.inner.waiters);
        if self.inner.cancelled.load(Ordering::Acquire) {
            return None;
        }
        Some(list.register(id, waker))
    }

    fn remove(&self, id: u64) {
        lock(&self.inner.waiters).remove(id);
    }
}

/// Why [`block_on`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupted {
    /// The deadline passed.
    Timeout(Duration),
    /// The token was cancelled.
    Cancelled,
}

/// Unparks a thread.
struct ThreadWaker(thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: StdArc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.0.unpark();
    }
}

/// Drives `future` on the calling thread, parking between polls, until it completes, `timeout`
/// passes or `cancel` is cancelled. On an interruption the future is dropped (its `Drop` undoes
/// what it had done) before this returns.
pub(crate) fn block_on<F: Future>(
    future: F,
    timeout: Option<Duration>,
    cancel: Option<&Cancellation>,
) -> Result<F::Output, Interrupted> {
    let start = Instant::now();
    let waker = Waker::from(StdArc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let mut cancel_id = None;
    let result = loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            break Ok(v);
        }
        if let Some(token) = cancel {
            match token.register(cancel_id, &waker) {
                Some(id) => cancel_id = Some(id),
                None => break Err(Interrupted::Cancelled),
            }
        }
        match timeout {
            Some(limit) => {
                let waited = start.elapsed();
                if waited >= limit {
                    break Err(Interrupted::Timeout(waited));
                }
                park_timeout(limit - waited);
            }
            None => thread::park(),
        }
    };
    if let (Some(token), Some(id)) = (cancel, cancel_id) {
        token.remove(id);
    }
    result
}

#[cfg(not(loom))]
fn park_timeout(d: Duration) {
    thread::park_timeout(d);
}

/// loom has no clock: models wake blocked threads by other means (destroy, cancel, recycle).
#[cfg(loom)]
fn park_timeout(_: Duration) {
    thread::park();
}
