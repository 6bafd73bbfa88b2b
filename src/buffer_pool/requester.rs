//! [`BufferRequester`]: a local pool's requesting side for one thread, which takes buffers
//! recycled on other threads a half at a time (see `lane.rs`) and hands them out one by one
//! without a read-modify-write per buffer.
//!
//! What must hold:
//! - The buffers a requester holds ahead are *in use*: their slots counted the hand-out when
//!   the requester took them (and the recycle their recycler left for the taker), so the pool's
//!   stats, its idle count and the conservation invariant see them as in someone's hands, and
//!   no new place appears in the invariant.
//! - It holds at most [`BufferRequester::BATCH`] ahead, and gives them back to the pool (as
//!   recycles, on the calling thread) at its next request once the pool's slow flag is set (a
//!   waiter, a shrink, a destroy), on [`BufferRequester::give_back`], and when dropped.
//! - While at least one requester is attached to a pool whose slow flag is clear, the pool's
//!   lane is open: buffers recycled on other threads go into it first. With no requester, the
//!   lane is closed and the pool behaves as before.

use std::ptr::NonNull;

use super::buffer::Buffer;
use super::lane::HALF;
use super::local::LocalBufferPool;
use crate::error::BufferPoolError;

/// A thread's requesting handle on a [`LocalBufferPool`], for the pattern the network pool
/// exists for: one thread requests buffers one at a time, others recycle them. It takes the
/// recycled buffers in batches of [`BufferRequester::BATCH`] and hands them out without a
/// locked instruction each; the pool's other requests ([`LocalBufferPool::request_buffer`],
/// blocking, async) keep working beside it.
///
/// What it holds ahead (at most [`BufferRequester::BATCH`], [`BufferRequester::held`]) counts
/// as in use, and goes back to the pool at its next request once the pool needs it (another
/// thread waits for a buffer, the pool shrinks or is destroyed), on
/// [`BufferRequester::give_back`] and on drop. A requester that sits idle keeps it meanwhile:
/// call `give_back` (or drop it) before it stops requesting for long, and never wait on
/// another requester of the same pool while holding buffers ahead.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::buffer_pool::NetworkBufferPool;
/// use numaseg::{ArenaManager, Config};
///
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let network = NetworkBufferPool::with_buffers(manager, 64, 4096)?;
/// let pool = network.create_buffer_pool(64, 64)?;
/// let mut requester = pool.requester();
/// let (tx, rx) = std::sync::mpsc::sync_channel(8);
/// let consumer = std::thread::spawn(move || for buffer in rx { drop(buffer) }); // recycles
/// for _ in 0..1000 {
///     let buffer = requester.request_buffer_blocking(None, None)?;
///     tx.send(buffer).unwrap();
/// }
/// drop(tx);
/// consumer.join().unwrap();
/// drop(requester); // gives back what it held
/// assert_eq!(pool.available_buffers(), pool.owned_buffers());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BufferRequester<'p> {
    pool: &'p LocalBufferPool,
    /// Slots taken from the pool and not handed out yet, counted in use; `held[..n]`.
    held: [u32; HALF],
    n: usize,
}

impl std::fmt::Debug for BufferRequester<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferRequester").field("pool", self.pool).field("held", &self.n).finish()
    }
}

impl<'p> BufferRequester<'p> {
    /// The most buffers a requester holds ahead (one half of the pool's lane).
    ///
    /// ```
    /// assert_eq!(numaseg::buffer_pool::BufferRequester::BATCH, 16);
    /// ```
    pub const BATCH: usize = HALF;

    /// A requester on `pool`; opens the pool's lane (see the type's docs). Same as
    /// [`LocalBufferPool::requester`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::{BufferRequester, NetworkBufferPool}};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 2, 4096)?;
    /// let pool = network.create_buffer_pool(1, 2)?;
    /// let requester = BufferRequester::new(&pool);
    /// assert_eq!(requester.held(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(pool: &'p LocalBufferPool) -> Self {
        pool.core().shared.attach_requester(pool.core());
        Self { pool, held: [0; HALF], n: 0 }
    }

    /// A buffer if one is available now (never blocks), as [`LocalBufferPool::request_buffer`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// let pool = network.create_buffer_pool(1, 1)?;
    /// let mut requester = pool.requester();
    /// let buffer = requester.request_buffer()?.expect("one buffer");
    /// assert!(requester.request_buffer()?.is_none());
    /// # drop(buffer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::Destroyed`].
    #[inline(always)]
    pub fn request_buffer(&mut self) -> Result<Option<Buffer>, BufferPoolError> {
        let core = self.pool.core();
        // One place builds the handle, from a slot: the refill returns a slot too, not a
        // handle, so that the handle is not merged from two paths through the stack (built by
        // narrow stores, then moved by wide loads that wait for them: docs/BENCHMARKS.md,
        // *Twelfth pass*).
        let (slot, cleared) = if self.n > 0 && !core.is_slow() {
            self.n -= 1;
            (self.held[self.n], false)
        } else {
            match self.refill()? {
                Some(got) => got,
                None => return Ok(None),
            }
        };
        Ok(Some(core.hand_out_held(slot, cleared)))
    }

    /// Nothing held, or the pool's slow flag seen set: gives back what it holds if the flag is
    /// set, else hands out what it holds (the flag was cleared meanwhile), else takes a full
    /// half of the lane, else pops the stack (unless the inbox is ready), else takes a partial
    /// half, else asks the pool (its inbox, its stack, the lock). Returns the slot to hand out
    /// (its hand-out counted) and whether it was cleared already (the pool's path clears what
    /// it hands out under `NUMASEG_ZERO=on-allocate`).
    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> Result<Option<(u32, bool)>, BufferPoolError> {
        let core = self.pool.core();
        if core.is_slow() {
            return self.give_back_and_request();
        }
        if self.n > 0 {
            // The flag was set when the caller looked and is clear again: hand out what it holds
            // (a take now would write over it).
            self.n -= 1;
            return Ok(Some((self.held[self.n], false)));
        }
        // (The pool's requester hint names this thread since `new`; the pool's own cold path,
        // reached through `partial_or_pool`, renames it if the requester moved to another
        // thread.)
        let n = core.take_lane(&mut self.held, true);
        if n == 0 {
            // The pool's pop, which stops at *ready* (the inbox half full): then the pool's
            // path below takes the inbox, as `request_buffer` does.
            if let Some(slot) = core.pop_counted_unless_ready() {
                return Ok(Some((slot, false)));
            }
            return self.partial_or_pool();
        }
        self.n = n - 1;
        Ok(Some((self.held[n - 1], false)))
    }

    /// No full half and nothing on the stack (or the inbox ready): takes a partial half, else
    /// asks the pool. Out of line, so that `refill`'s common paths save fewer registers.
    #[cold]
    #[inline(never)]
    fn partial_or_pool(&mut self) -> Result<Option<(u32, bool)>, BufferPoolError> {
        let core = self.pool.core();
        let n = core.take_lane(&mut self.held, false);
        if n == 0 {
            return self.pool_slot();
        }
        self.n = n - 1;
        Ok(Some((self.held[n - 1], false)))
    }

    /// The slow flag set: gives back what it holds and asks the pool. Out of line, so that
    /// `refill`'s common paths (a half of the lane, the stack) save fewer registers.
    #[cold]
    #[inline(never)]
    fn give_back_and_request(&mut self) -> Result<Option<(u32, bool)>, BufferPoolError> {
        self.give_back();
        self.pool_slot()
    }

    /// The pool's own path (`LocalBufferPool::request_buffer`), its handle turned back into
    /// its slot, which stays counted in use and was cleared under `NUMASEG_ZERO=on-allocate`.
    fn pool_slot(&self) -> Result<Option<(u32, bool)>, BufferPoolError> {
        Ok(self.pool.request_buffer()?.map(|buffer| (buffer.into_handed_out_slot(), true)))
    }

    /// A buffer, waiting up to `timeout` (`None`: no limit), as
    /// [`LocalBufferPool::request_buffer_blocking`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// let pool = network.create_buffer_pool(1, 1)?;
    /// let mut requester = pool.requester();
    /// let held = requester.request_buffer()?.unwrap();
    /// assert!(requester.request_buffer_blocking(Some(Duration::from_millis(5)), None).is_err());
    /// drop(held);
    /// let again = requester.request_buffer_blocking(Some(Duration::from_secs(5)), None)?;
    /// # drop(again);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::Timeout`], [`BufferPoolError::Cancelled`],
    /// [`BufferPoolError::Destroyed`].
    pub fn request_buffer_blocking(
        &mut self,
        timeout: Option<std::time::Duration>,
        cancel: Option<&super::Cancellation>,
    ) -> Result<Buffer, BufferPoolError> {
        if let Some(buffer) = self.request_buffer()? {
            return Ok(buffer);
        }
        self.give_back();
        self.pool.request_buffer_blocking(timeout, cancel)
    }

    /// Buffers taken from the pool and not handed out yet (counted in use by the pool).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 2, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 2)?;
    /// let requester = pool.requester();
    /// assert!(requester.held() <= numaseg::buffer_pool::BufferRequester::BATCH);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn held(&self) -> usize {
        self.n
    }

    /// Gives every buffer held ahead back to the pool (as recycles).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 2, 4096)?;
    /// # let pool = network.create_buffer_pool(2, 2)?;
    /// let mut requester = pool.requester();
    /// requester.give_back();
    /// assert_eq!(requester.held(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn give_back(&mut self) {
        let core = NonNull::from(self.pool.core());
        while self.n > 0 {
            self.n -= 1;
            // SAFETY: the pool's handle keeps its core alive, and the requester holds the
            // buffer exclusively (taken from the lane, counted as handed out, never handed on).
            // The pool's handle holds the core too, so the core returned (a destroyed pool's
            // last buffer) is not the last reference.
            drop(unsafe { super::local::recycle(core, self.held[self.n]) });
        }
    }

    /// The pool it requests from.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 2, 4096)?;
    /// let pool = network.create_buffer_pool(1, 2)?;
    /// assert_eq!(pool.requester().pool().max_buffers(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn pool(&self) -> &'p LocalBufferPool {
        self.pool
    }
}

impl Drop for BufferRequester<'_> {
    fn drop(&mut self) {
        self.give_back();
        self.pool.core().shared.detach_requester(self.pool.core());
    }
}
