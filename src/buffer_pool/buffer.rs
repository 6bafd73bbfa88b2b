//! [`Buffer`] and [`SharedBuffer`]: the handles to one network buffer, and the rule that it
//! goes back to its pool exactly once.
//!
//! What must hold:
//! - A [`Buffer`] is the only handle to its buffer: not `Clone`, `'static`, `Send`. It reads
//!   `[reader, writer)` ([`bytes::Buf`]) and writes `[writer, limit)` ([`bytes::BufMut`]), where
//!   `limit ≤ capacity` is the writable size its pool set (adaptive sizing lowers it; the
//!   segment behind it is always whole). The capacity is pool-wide: read from the pool's core,
//!   not kept in the handle, which stays 32 bytes (see [`Buffer`]). Dropping it recycles the
//!   buffer — once, since nothing else can.
//! - [`Buffer::into_shared`] turns it into read-only [`SharedBuffer`] views that share a count
//!   kept in the buffer's slot (set to 1 by the sole owner, so no atomic read-modify-write on
//!   the unshared path). Clones and slices add one; the drop that takes it to zero recycles.
//!   Nothing can write through a shared view, so readers on many threads are fine.
//! - [`Buffer::read_only_slice`] shares the buffer *without* giving up the writer (Flink's
//!   `retainBuffer` + `readOnlySlice`): the writer joins the count (the shared bit of its slot
//!   word) and may never write below `frozen` — the highest byte a view was given — again while
//!   a view lives; it writes only at or above it (`BufMut`, the indexed setters, the tail of
//!   `as_mut_slice`), so views on other threads read bytes nobody writes. `frozen ≤ writer`
//!   always. `frozen` lives in the buffer's slot, written and read only by the writer's holder,
//!   and counts only while the shared bit is set (else nothing is frozen). When the count is
//!   back to 1 (Acquire: the views' reads happen before), the writer thaws: it clears the bit.
//! - Indexed access (`get_*_at` / `set_*_at`) is bounds-checked against the capacity and
//!   returns [`BufferPoolError::OutOfBounds`]; every byte of a segment is initialised (mappings
//!   start zeroed, writes only ever store initialised bytes), so reading past the writer index
//!   reads stale bytes, never uninitialised memory.
//! - A handle holds a raw pointer to its pool's core, not an `Arc` (no shared-counter traffic
//!   per buffer): the pool's record keeps the core alive while any of its buffers is out
//!   (`mod.rs`), so the pointer is valid until the recycle.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::ptr::NonNull;

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut, Bytes};
use numa::NodeId;

use super::Slot;
use super::local::{PoolCore, recycle};
use crate::error::BufferPoolError;
use crate::sync::atomic::{Ordering, fence};

/// One network buffer: a segment of the network buffer pool with a reader and a writer index.
/// Implements [`bytes::Buf`] and [`bytes::BufMut`], so it works with tokio's I/O
/// (`read_buf`, `write_all_buf`). Goes back to its pool when dropped, exactly once.
///
/// ```
/// use std::sync::Arc;
/// use bytes::{Buf, BufMut};
/// use numaseg::buffer_pool::NetworkBufferPool;
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let network = NetworkBufferPool::with_buffers(manager, 1, 4096)?;
/// let pool = network.create_buffer_pool(1, 1)?;
/// let mut buffer = pool.request_buffer()?.unwrap();
/// buffer.put_u32(7);
/// buffer.put_slice(b"abc");
/// assert_eq!(buffer.len(), 7);
/// assert_eq!(buffer.get_u32(), 7);
/// assert_eq!(buffer.chunk(), b"abc");
/// drop(buffer);
/// assert_eq!(pool.available_buffers(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// 32 bytes, no padding: a hand-off through a ring moves the handle, and its size sets the
/// ceiling of that hand-off (docs/BENCHMARKS.md, *Thirteenth pass*). The capacity is read from
/// the pool's core and the frozen mark from the buffer's slot (see the fields).
pub struct Buffer {
    data: NonNull<u8>,
    core: NonNull<PoolCore>,
    /// The buffer's slot in bits 0..31 ([`Buffer::slot`]; slots are below
    /// [`MAX_BUFFERS`](super::MAX_BUFFERS) `< 2^31`), and in bit 31 [`SHARED`]: set once the
    /// slot's count includes this handle (views were made from it), clear otherwise. While it
    /// is set, the slot's `frozen` holds the end of what views may read (bytes `[0, frozen)`
    /// are not to be written); while it is clear, nothing is frozen. The flag is a bit of this
    /// `u32`, not a `bool`: a `bool` gives `Result<Option<Buffer>, _>` a niche that packs the
    /// error's payload into the handle's padding, and moving a handle out of it then copies
    /// those bytes piecewise, which a requester's next wide load waits for
    /// (docs/BENCHMARKS.md, *Ninth pass*).
    slot: u32,
    limit: u32,
    reader: u32,
    writer: u32,
}

/// Bit 31 of [`Buffer`]'s slot word: the slot's count includes the handle.
const SHARED: u32 = 1 << 31;

// No slot index reaches the shared bit.
const _: () = assert!(super::MAX_BUFFERS < SHARED as usize);

// SAFETY: the buffer is owned exclusively by this handle, except for the bytes below `frozen`,
// which views only read and this handle no longer writes; the core it points to is `Sync`
// (atomics and a lock) and outlives the handle.
unsafe impl Send for Buffer {}
// SAFETY: `&Buffer` only reads the buffer's bytes, the handle's own fields and its pool's
// core and slot (atomics, or fields written only at creation: the capacity).
unsafe impl Sync for Buffer {}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Buffer {
    /// # Safety
    /// - `slot` of `core`'s network pool is held exclusively by the caller, and its segment
    ///   starts at `addr` with at least `core.capacity` bytes; `limit ≤ core.capacity`;
    /// - `slot < 2^31` (slots are below [`MAX_BUFFERS`](super::MAX_BUFFERS));
    /// - `core` stays alive until the buffer is recycled (its record keeps it).
    #[inline]
    pub(crate) unsafe fn from_slot(core: NonNull<PoolCore>, slot: u32, addr: usize, limit: u32) -> Self {
        debug_assert!(slot < SHARED, "slot {slot} collides with the shared bit");
        // The region's provenance was exposed when it was carved (`entry::ptr`).
        // SAFETY: segment addresses are real mappings, never null (first duty).
        let data = unsafe { NonNull::new_unchecked(std::ptr::with_exposed_provenance_mut(addr)) };
        let buffer = Self { data, core, slot, limit, reader: 0, writer: 0 };
        debug_assert!(buffer.limit <= buffer.core().capacity, "a limit of {limit} above the capacity");
        buffer
    }

    /// The buffer's slot in its network pool.
    #[inline]
    fn slot(&self) -> u32 {
        self.slot & !SHARED
    }

    /// Whether the slot's count includes this handle (views were made from it).
    #[inline]
    fn is_shared(&self) -> bool {
        self.slot & SHARED != 0
    }

    /// The end of what views from [`Buffer::read_only_slice`] may read: bytes `[0, frozen)`
    /// are not to be written. 0 unless shared.
    #[inline]
    fn frozen(&self) -> u32 {
        if self.is_shared() {
            // Relaxed: only the holder of this handle writes and reads the slot's `frozen`,
            // and a handle that moves to another thread gets there through something that
            // synchronises (a channel, a spawn), which orders this thread's reads after the
            // earlier holder's writes.
            self.record().frozen.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// The slot of a handle just handed out (no views, nothing written), the handle forgotten:
    /// the slot stays counted in use, for a [`BufferRequester`](super::BufferRequester) that
    /// builds the handle again with `hand_out_held`.
    pub(crate) fn into_handed_out_slot(self) -> u32 {
        debug_assert_eq!((self.is_shared(), self.reader, self.writer), (false, 0, 0), "a handle in use");
        let slot = self.slot();
        std::mem::forget(self);
        slot
    }

    /// `Ok` when `[index, index + len)` lies within the capacity.
    fn check(&self, index: usize, len: usize) -> Result<(), BufferPoolError> {
        match index.checked_add(len) {
            Some(end) if end <= self.capacity() => Ok(()),
            _ => Err(BufferPoolError::OutOfBounds { index, len, capacity: self.capacity() }),
        }
    }

    /// `Ok` when `[index, index + len)` lies within the capacity and no view may read it.
    fn check_write(&mut self, index: usize, len: usize) -> Result<(), BufferPoolError> {
        self.check(index, len)?;
        if len > 0 { self.unfrozen_from(index, len) } else { Ok(()) }
    }

    /// `Ok` when no view may read byte `index` or beyond, thawing first if views are gone;
    /// else [`BufferPoolError::ReadOnly`] for `len` bytes at `index`.
    fn unfrozen_from(&mut self, index: usize, len: usize) -> Result<(), BufferPoolError> {
        if index < self.frozen() as usize {
            self.thaw();
            let frozen = self.frozen() as usize;
            if index < frozen {
                return Err(BufferPoolError::ReadOnly { index, len, shared: frozen });
            }
        }
        Ok(())
    }

    /// Makes the whole buffer writable again once every view is gone.
    fn thaw(&mut self) {
        // Acquire: pairs with the Release decrement of each dropped view, so their reads happen
        // before this handle writes those bytes again.
        // Clearing the shared bit unfreezes everything: the slot's `frozen` is not read again
        // until a new view sets it.
        if self.is_shared() && self.record().refs.load(Ordering::Acquire) == 1 {
            self.slot &= !SHARED;
        }
    }

    /// Copies `dst.len()` bytes starting at `index` into `dst` (Netty's `getBytes(index, ..)`);
    /// indexes are from the start of the buffer, and no index moves.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_slice(b"hello");
    /// let mut two = [0; 2];
    /// buffer.get_bytes_at(3, &mut two)?;
    /// assert_eq!(&two, b"lo");
    /// assert!(buffer.get_bytes_at(4095, &mut two).is_err()); // past the 4096 bytes
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::OutOfBounds`] when the bytes are not all within the capacity.
    pub fn get_bytes_at(&self, index: usize, dst: &mut [u8]) -> Result<(), BufferPoolError> {
        self.check(index, dst.len())?;
        // SAFETY: `index ≤ capacity` (checked), so the pointer stays inside the segment.
        let from = unsafe { self.data.as_ptr().add(index) };
        // SAFETY: `[index, index + len)` is within the segment (checked), every byte of which is
        // initialised (module invariants); only `&mut self` writes, so nothing writes meanwhile.
        unsafe { std::ptr::copy_nonoverlapping(from, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Copies `src` into the buffer starting at `index` (Netty's `setBytes(index, ..)`); no
    /// index moves, so bytes beyond the writer index are not readable until it does.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_slice(b"hello");
    /// buffer.set_bytes_at(0, b"J")?;
    /// assert_eq!(buffer.as_slice(), b"Jello");
    /// assert!(buffer.set_bytes_at(4096, b"!").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::OutOfBounds`] when the bytes are not all within the capacity,
    /// [`BufferPoolError::ReadOnly`] when read-only views share some of them.
    pub fn set_bytes_at(&mut self, index: usize, src: &[u8]) -> Result<(), BufferPoolError> {
        self.check_write(index, src.len())?;
        // SAFETY: `index ≤ capacity` (checked), so the pointer stays inside the segment.
        let to = unsafe { self.data.as_ptr().add(index) };
        // SAFETY: `[index, index + len)` is within the segment (checked) and at or above
        // `frozen` (checked), so no view reads it; `&mut self` makes this the only writer.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), to, src.len()) };
        Ok(())
    }

    /// A read-only view of the readable bytes that shares the buffer and leaves this handle
    /// writable (Flink's `retainBuffer().readOnlySlice()`): the buffer goes back to its pool
    /// when this handle and every view are dropped. From now on, while a view lives, nothing
    /// writes the bytes below the current writer index: [`BufMut`] writing goes on above it,
    /// the indexed setters refuse them ([`BufferPoolError::ReadOnly`]),
    /// [`Buffer::as_mut_slice`] starts above them and [`Buffer::clear`] keeps them.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_slice(b"head");
    /// let view = buffer.read_only_slice();
    /// buffer.put_slice(b"+tail"); // still writable
    /// assert!(buffer.set_bytes_at(0, b"H").is_err()); // but not below the view's end
    /// assert_eq!((view.as_ref(), buffer.as_slice()), (&b"head"[..], &b"head+tail"[..]));
    /// drop(buffer);
    /// assert_eq!(pool.available_buffers(), 0); // the view keeps it
    /// drop(view);
    /// assert_eq!(pool.available_buffers(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn read_only_slice(&mut self) -> SharedBuffer {
        let frozen = self.frozen().max(self.writer);
        let s = self.record();
        if self.is_shared() {
            // Relaxed: a new reference from an existing one, as `Arc::clone`.
            s.refs.fetch_add(1, Ordering::Relaxed);
        } else {
            // Relaxed: the sole owner sets the count (this handle and the view), as in
            // `into_shared`.
            s.refs.store(2, Ordering::Relaxed);
        }
        // Relaxed: only this handle's holder reads it (see `Buffer::frozen`); views never do.
        s.frozen.store(frozen, Ordering::Relaxed);
        self.slot |= SHARED;
        SharedBuffer { data: self.data, core: self.core, slot: self.slot(), start: self.reader, end: self.writer }
    }

    /// Bytes of the segment behind the buffer.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// assert_eq!(pool.request_buffer()?.unwrap().capacity(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.core().capacity as usize
    }

    /// Bytes a writer may fill in total (`≤ capacity`): the writable size of the pool when the
    /// buffer was handed out, unless changed with [`Buffer::set_write_limit`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// assert_eq!(pool.request_buffer()?.unwrap().write_limit(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn write_limit(&self) -> usize {
        self.limit as usize
    }

    /// Sets the writable limit, clamped to `writer index..=capacity`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.set_write_limit(256);
    /// assert_eq!(buffer.remaining_mut(), 256);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_write_limit(&mut self, limit: usize) {
        self.limit = to_u32(limit).clamp(self.writer, self.core().capacity);
    }

    /// Readable bytes (`writer − reader`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_slice(&[1, 2, 3]);
    /// assert_eq!(buffer.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        (self.writer - self.reader) as usize
    }

    /// Whether nothing is readable.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// assert!(pool.request_buffer()?.unwrap().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.writer == self.reader
    }

    /// The reader index.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::{Buf, BufMut};
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_slice(b"xy");
    /// buffer.advance(1);
    /// assert_eq!((buffer.reader_index(), buffer.writer_index()), (1, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn reader_index(&self) -> usize {
        self.reader as usize
    }

    /// The writer index (bytes written since the buffer was handed out or cleared).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_u8(1);
    /// assert_eq!(buffer.writer_index(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn writer_index(&self) -> usize {
        self.writer as usize
    }

    /// Moves the reader index (Flink's `setReaderIndex`), back or forth within `0..=writer`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::{Buf, BufMut};
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_slice(b"abc");
    /// buffer.advance(3);
    /// buffer.set_reader_index(1)?; // read again from the second byte
    /// assert_eq!(buffer.chunk(), b"bc");
    /// assert!(buffer.set_reader_index(4).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::OutOfBounds`] past the writer index (its `capacity` is the writer
    /// index).
    pub fn set_reader_index(&mut self, index: usize) -> Result<(), BufferPoolError> {
        if index > self.writer as usize {
            return Err(BufferPoolError::OutOfBounds { index, len: 0, capacity: self.writer as usize });
        }
        self.reader = to_u32(index);
        Ok(())
    }

    /// Moves the writer index (Flink's `setSize`) within `reader..=write limit`: forward, bytes
    /// written with the indexed setters become readable; back, bytes are dropped — but never
    /// below what read-only views share.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::{Buf, BufMut};
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.set_bytes_at(0, b"len")?;
    /// buffer.set_writer_index(3)?;
    /// assert_eq!(buffer.chunk(), b"len");
    /// buffer.set_writer_index(1)?;
    /// assert_eq!(buffer.chunk(), b"l");
    /// assert!(buffer.set_writer_index(4097).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::OutOfBounds`] outside `reader..=write limit` (its `capacity` is the
    /// write limit), [`BufferPoolError::ReadOnly`] below the end of what views share.
    pub fn set_writer_index(&mut self, index: usize) -> Result<(), BufferPoolError> {
        if index < self.reader as usize || index > self.limit as usize {
            return Err(BufferPoolError::OutOfBounds { index, len: 0, capacity: self.limit as usize });
        }
        self.unfrozen_from(index, 0)?;
        self.writer = to_u32(index);
        Ok(())
    }

    /// Resets both indexes to 0 (the bytes stay, unreadable) — or, while views from
    /// [`Buffer::read_only_slice`] live, to the end of what they share.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_u8(1);
    /// buffer.clear();
    /// assert!(buffer.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear(&mut self) {
        self.thaw();
        // Bytes read-only views may still read stay: writing starts above them.
        let frozen = self.frozen();
        self.reader = frozen;
        self.writer = frozen;
    }

    /// The readable bytes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_slice(b"abc");
    /// assert_eq!(buffer.as_slice(), b"abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `reader ≤ capacity`, so the pointer stays inside the segment.
        let start = unsafe { self.data.as_ptr().add(self.reader as usize) };
        // SAFETY: `reader ≤ writer ≤ capacity` and the handle owns the segment exclusively; the
        // borrow of `self` keeps the slice from outliving it.
        unsafe { std::slice::from_raw_parts(start, self.len()) }
    }

    /// The readable bytes, mutably (those not shared with views from
    /// [`Buffer::read_only_slice`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_slice(b"abc");
    /// buffer.as_mut_slice()[0] = b'x';
    /// assert_eq!(buffer.as_slice(), b"xbc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.thaw();
        let from = self.reader.max(self.frozen());
        // SAFETY: `from ≤ writer ≤ capacity` (`frozen ≤ writer`), so the pointer stays inside
        // the segment.
        let start = unsafe { self.data.as_ptr().add(from as usize) };
        // SAFETY: `[from, writer)` is in the segment, at or above `frozen` (no view reads it),
        // and `&mut self` makes this the only writer.
        unsafe { std::slice::from_raw_parts_mut(start, (self.writer - from) as usize) }
    }

    /// The node the buffer's memory is on.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool, numa::NodeId};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// assert_eq!(pool.request_buffer()?.unwrap().node(), NodeId::new(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.core().shared.node_of(self.slot())
    }

    /// The id of the pool the buffer returns to.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// assert_eq!(pool.request_buffer()?.unwrap().pool_id(), pool.id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn pool_id(&self) -> u64 {
        self.core().id
    }

    /// The first byte of the segment (valid for [`Buffer::capacity`] bytes while the handle
    /// lives).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// assert_eq!(pool.request_buffer()?.unwrap().as_ptr() as usize % 4096, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn as_ptr(&self) -> *const u8 {
        self.data.as_ptr()
    }

    /// Turns the buffer into a read-only view of its readable bytes that can be cloned and
    /// sliced; the buffer goes back to its pool when the last view is dropped.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_slice(b"hello world");
    /// let shared = buffer.into_shared();
    /// let hello = shared.slice(..5);
    /// let world = shared.slice(6..);
    /// drop(shared);
    /// assert_eq!((hello.as_ref(), world.as_ref()), (&b"hello"[..], &b"world"[..]));
    /// assert_eq!(pool.available_buffers(), 0); // still shared
    /// drop((hello, world));
    /// assert_eq!(pool.available_buffers(), 1); // the last view recycled it
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn into_shared(self) -> SharedBuffer {
        if !self.is_shared() {
            // Relaxed: the sole owner sets the count; whoever receives a view got it through
            // something that synchronises (a channel, a spawn), which orders this store.
            self.record().refs.store(1, Ordering::Relaxed);
        } // else: this handle's reference becomes the new view's (its `frozen` is not read again)

        let shared =
            SharedBuffer { data: self.data, core: self.core, slot: self.slot(), start: self.reader, end: self.writer };
        std::mem::forget(self);
        shared
    }

    /// The readable bytes as [`Bytes`] (zero-copy: the buffer returns to its pool when the
    /// last `Bytes` referring to it is dropped).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// let mut buffer = pool.request_buffer()?.unwrap();
    /// buffer.put_slice(b"abc");
    /// let bytes = buffer.into_bytes();
    /// assert_eq!(&bytes[..], b"abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self.into_shared())
    }

    fn core(&self) -> &PoolCore {
        // SAFETY: the pool's record keeps the core alive while this buffer is out.
        unsafe { self.core.as_ref() }
    }

    /// The buffer's record in its network pool (its view count and frozen mark).
    #[inline]
    fn record(&self) -> &Slot {
        &self.core().shared.slots[self.slot() as usize]
    }
}

impl Drop for Buffer {
    #[inline]
    fn drop(&mut self) {
        // Release / Acquire as in `SharedBuffer::drop`, when views share the buffer.
        if self.is_shared() {
            if self.record().refs.fetch_sub(1, Ordering::Release) != 1 {
                return;
            }
            fence(Ordering::Acquire);
        }
        // SAFETY: this handle is the buffer's only one (or the last of its views dropped) and
        // `core` is its pool's live core.
        let last = unsafe { recycle(self.core, self.slot()) };
        drop(last);
    }
}

/// The typed indexed getters and setters, big- and little-endian (Netty's `getInt(index)`,
/// `setIntLE(index, v)`, ...), each bounds-checked against the capacity.
macro_rules! indexed {
    ($($ty:ident $size:literal $value:literal: $get:ident $set:ident $from:ident $to:ident;)*) => {
        impl Buffer {
            $(
                #[doc = concat!("Reads a `", stringify!($ty), "` at `index` (", stringify!($from), "); no index moves.")]
                ///
                /// ```
                /// # use std::sync::Arc;
                /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
                /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
                /// # let pool = network.create_buffer_pool(1, 1)?;
                /// let mut buffer = pool.request_buffer()?.unwrap();
                #[doc = concat!("buffer.", stringify!($set), "(8, ", $value, ")?;")]
                #[doc = concat!("assert_eq!(buffer.", stringify!($get), "(8)?, ", $value, ");")]
                #[doc = concat!("assert!(buffer.", stringify!($get), "(4097 - ", $size, ").is_err());")]
                /// # Ok::<(), Box<dyn std::error::Error>>(())
                /// ```
                ///
                /// # Errors
                /// [`BufferPoolError::OutOfBounds`] past the capacity.
                pub fn $get(&self, index: usize) -> Result<$ty, BufferPoolError> {
                    let mut bytes = [0; $size];
                    self.get_bytes_at(index, &mut bytes)?;
                    Ok($ty::$from(bytes))
                }

                #[doc = concat!("Writes a `", stringify!($ty), "` at `index` (", stringify!($to), "); no index moves.")]
                ///
                /// ```
                /// # use std::sync::Arc;
                /// # use bytes::BufMut;
                /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
                /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
                /// # let pool = network.create_buffer_pool(1, 1)?;
                /// let mut buffer = pool.request_buffer()?.unwrap();
                #[doc = concat!("buffer.put_bytes(0, ", $size, ");")]
                #[doc = concat!("buffer.", stringify!($set), "(0, ", $value, ")?;")]
                #[doc = concat!("assert_eq!(buffer.as_slice(), ", stringify!($ty), "::", stringify!($to), "(", $value, "));")]
                #[doc = concat!("assert!(buffer.", stringify!($set), "(4097 - ", $size, ", ", $value, ").is_err());")]
                /// # Ok::<(), Box<dyn std::error::Error>>(())
                /// ```
                ///
                /// # Errors
                /// [`BufferPoolError::OutOfBounds`] past the capacity, [`BufferPoolError::ReadOnly`]
                /// below the end of what read-only views share.
                pub fn $set(&mut self, index: usize, value: $ty) -> Result<(), BufferPoolError> {
                    self.set_bytes_at(index, &value.$to())
                }
            )*
        }
    };
}

indexed! {
    u8 1 "0xAB": get_u8_at set_u8_at from_be_bytes to_be_bytes;
    i8 1 "-5": get_i8_at set_i8_at from_be_bytes to_be_bytes;
    u16 2 "0xBEEF": get_u16_at set_u16_at from_be_bytes to_be_bytes;
    u16 2 "0xBEEF": get_u16_le_at set_u16_le_at from_le_bytes to_le_bytes;
    i16 2 "-300": get_i16_at set_i16_at from_be_bytes to_be_bytes;
    i16 2 "-300": get_i16_le_at set_i16_le_at from_le_bytes to_le_bytes;
    u32 4 "0xDEAD_BEEF": get_u32_at set_u32_at from_be_bytes to_be_bytes;
    u32 4 "0xDEAD_BEEF": get_u32_le_at set_u32_le_at from_le_bytes to_le_bytes;
    i32 4 "-70_000": get_i32_at set_i32_at from_be_bytes to_be_bytes;
    i32 4 "-70_000": get_i32_le_at set_i32_le_at from_le_bytes to_le_bytes;
    u64 8 "0x0123_4567_89AB_CDEF": get_u64_at set_u64_at from_be_bytes to_be_bytes;
    u64 8 "0x0123_4567_89AB_CDEF": get_u64_le_at set_u64_le_at from_le_bytes to_le_bytes;
    i64 8 "-5_000_000_000": get_i64_at set_i64_at from_be_bytes to_be_bytes;
    i64 8 "-5_000_000_000": get_i64_le_at set_i64_le_at from_le_bytes to_le_bytes;
    f32 4 "1.5": get_f32_at set_f32_at from_be_bytes to_be_bytes;
    f32 4 "1.5": get_f32_le_at set_f32_le_at from_le_bytes to_le_bytes;
    f64 8 "-2.25": get_f64_at set_f64_at from_be_bytes to_be_bytes;
    f64 8 "-2.25": get_f64_le_at set_f64_le_at from_le_bytes to_le_bytes;
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("ptr", &self.data)
            .field("capacity", &self.capacity())
            .field("limit", &self.limit)
            .field("reader", &self.reader)
            .field("writer", &self.writer)
            .finish()
    }
}

impl AsRef<[u8]> for Buffer {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Buf for Buffer {
    #[inline]
    fn remaining(&self) -> usize {
        self.len()
    }

    #[inline]
    fn chunk(&self) -> &[u8] {
        self.as_slice()
    }

    #[inline]
    fn advance(&mut self, cnt: usize) {
        assert!(cnt <= self.len(), "advance {cnt} past the {} readable bytes", self.len());
        self.reader += to_u32(cnt);
    }
}

// SAFETY: `chunk_mut` hands out exactly `[writer, limit)` of memory the handle owns
// exclusively, and `advance_mut` moves the writer by at most `remaining_mut` (checked), so
// bytes below the writer were initialised by the caller as `BufMut` requires.
unsafe impl BufMut for Buffer {
    #[inline]
    fn remaining_mut(&self) -> usize {
        (self.limit - self.writer) as usize
    }

    #[inline]
    unsafe fn advance_mut(&mut self, cnt: usize) {
        assert!(cnt <= self.remaining_mut(), "advance_mut {cnt} past the {} writable bytes", self.remaining_mut());
        self.writer += to_u32(cnt);
    }

    #[inline]
    fn chunk_mut(&mut self) -> &mut UninitSlice {
        let len = self.remaining_mut();
        // SAFETY: `writer ≤ capacity`, so the pointer stays inside the segment.
        let start = unsafe { self.data.as_ptr().add(self.writer as usize) };
        // SAFETY: `writer ≤ limit ≤ capacity`, the range is inside the segment this handle owns
        // exclusively, and `&mut self` makes this the only view.
        unsafe { UninitSlice::from_raw_parts_mut(start, len) }
    }
}

/// A read-only view of a buffer's bytes, sharing the buffer with its clones and slices (see
/// [`Buffer::into_shared`]). The buffer returns to its pool when the last view is dropped.
/// Implements [`bytes::Buf`] (advancing this view only).
///
/// ```
/// # use std::sync::Arc;
/// # use bytes::{Buf, BufMut};
/// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
/// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
/// # let pool = network.create_buffer_pool(1, 1)?;
/// let mut buffer = pool.request_buffer()?.unwrap();
/// buffer.put_slice(b"abcdef");
/// let mut a = buffer.into_shared();
/// let b = a.clone();
/// a.advance(3);
/// assert_eq!((a.chunk(), b.chunk()), (&b"def"[..], &b"abcdef"[..]));
/// let handles = std::thread::spawn(move || b.len()).join().unwrap();
/// assert_eq!(handles, 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedBuffer {
    data: NonNull<u8>,
    core: NonNull<PoolCore>,
    slot: u32,
    start: u32,
    end: u32,
}

// SAFETY: views only read bytes that no handle writes any more (a buffer becomes shared by
// giving up its only writable handle, or — `read_only_slice` — the writable handle never writes
// below `frozen`, the end of every view, again); the count is atomic; the core is `Sync`.
unsafe impl Send for SharedBuffer {}
// SAFETY: as above.
unsafe impl Sync for SharedBuffer {}

impl SharedBuffer {
    fn core(&self) -> &PoolCore {
        // SAFETY: the pool's record keeps the core alive while any view of its buffer is out.
        unsafe { self.core.as_ref() }
    }

    /// Bytes in this view.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let mut b = network.create_buffer_pool(1, 1)?.request_buffer()?.unwrap();
    /// b.put_slice(b"abc");
    /// assert_eq!(b.into_shared().len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the view is empty.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let b = network.create_buffer_pool(1, 1)?.request_buffer()?.unwrap();
    /// assert!(b.into_shared().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// A view of `range` of this view's bytes, sharing the buffer.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let mut b = network.create_buffer_pool(1, 1)?.request_buffer()?.unwrap();
    /// b.put_slice(b"abcdef");
    /// assert_eq!(b.into_shared().slice(1..3).as_ref(), b"bc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// When the range is not within the view.
    #[must_use]
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Self {
        let len = self.len();
        // `usize::MAX + 1` as `None`: out of any view, never wrapped around to 0.
        let from = match range.start_bound() {
            Bound::Included(&n) => Some(n),
            Bound::Excluded(&n) => n.checked_add(1),
            Bound::Unbounded => Some(0),
        };
        let to = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1),
            Bound::Excluded(&n) => Some(n),
            Bound::Unbounded => Some(len),
        };
        let (from, to) = match (from, to) {
            (Some(from), Some(to)) if from <= to && to <= len => (from, to),
            _ => panic!("slice {:?}..{:?} out of a view of {len} bytes", range.start_bound(), range.end_bound()),
        };
        let mut view = self.clone();
        view.start = self.start + to_u32(from);
        view.end = self.start + to_u32(to);
        view
    }

    /// The id of the pool the buffer returns to.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// assert_eq!(pool.request_buffer()?.unwrap().into_shared().pool_id(), pool.id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn pool_id(&self) -> u64 {
        self.core().id
    }
}

impl Clone for SharedBuffer {
    fn clone(&self) -> Self {
        // Relaxed: a new reference from an existing one, as `Arc::clone`.
        self.core().shared.slots[self.slot as usize].refs.fetch_add(1, Ordering::Relaxed);
        Self { data: self.data, core: self.core, slot: self.slot, start: self.start, end: self.end }
    }
}

impl Drop for SharedBuffer {
    fn drop(&mut self) {
        // Release: this view's reads happen before the recycle; the Acquire fence below pairs
        // with it in the thread that drops the last view (as `Arc::drop`).
        if self.core().shared.slots[self.slot as usize].refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: the count reached zero, so this is the last handle; `core` is alive (above).
        let last = unsafe { recycle(self.core, self.slot) };
        drop(last);
    }
}

impl AsRef<[u8]> for SharedBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `start ≤ capacity`, so the pointer stays inside the segment.
        let start = unsafe { self.data.as_ptr().add(self.start as usize) };
        // SAFETY: `start ≤ end ≤ writer ≤ capacity` of a buffer no one writes any more, alive
        // while this view holds its count.
        unsafe { std::slice::from_raw_parts(start, self.len()) }
    }
}

impl fmt::Debug for SharedBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBuffer")
            .field("ptr", &self.data)
            .field("start", &self.start)
            .field("end", &self.end)
            .finish()
    }
}

impl Buf for SharedBuffer {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        self.as_ref()
    }

    fn advance(&mut self, cnt: usize) {
        assert!(cnt <= self.len(), "advance {cnt} past the {} readable bytes", self.len());
        self.start += to_u32(cnt);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::mem::size_of;
    use std::sync::Arc;

    use bytes::BufMut;

    use super::{Buffer, SHARED};
    use crate::buffer_pool::{LocalBufferPool, NetworkBufferPool};
    use crate::{ArenaManager, Config};

    type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

    /// A network pool of `n` buffers of 4 KiB and a local pool that may hold them all.
    fn pool_of(n: usize) -> Result<(NetworkBufferPool, LocalBufferPool)> {
        let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
        let network = NetworkBufferPool::with_buffers(manager, n, 4096)?;
        let pool = network.create_buffer_pool(n, n)?;
        Ok((network, pool))
    }

    /// A hand-off through a ring moves the handle one slot at a time, and the slot's size sets
    /// the hand-off's ceiling (32 KiB blocks through a 1024-slot ring: 48-byte values ran at
    /// under half the rate of 16-byte ones; docs/BENCHMARKS.md, *Thirteenth pass*). So the
    /// handle stays 32 bytes with no padding, and `Option` adds nothing (the data pointer's
    /// niche).
    #[test]
    fn the_handle_is_32_bytes() {
        assert_eq!(size_of::<Buffer>(), 32);
        assert_eq!(size_of::<Option<Buffer>>(), 32);
    }

    #[test]
    fn the_shared_bit_follows_the_views_and_the_frozen_mark_stays_in_the_slot() -> Result<()> {
        let (_network, pool) = pool_of(2)?;
        let mut buffer = pool.request_buffer()?.unwrap();
        let mut other = pool.request_buffer()?.unwrap();
        let slot = buffer.slot();
        assert!(!buffer.is_shared());
        buffer.put_slice(b"head");
        let view = buffer.read_only_slice();
        assert!(buffer.is_shared());
        assert_eq!((buffer.slot(), buffer.slot & SHARED, buffer.frozen()), (slot, SHARED, 4));
        // Another buffer's mark is its own, in its own slot.
        other.put_slice(b"x");
        let other_view = other.read_only_slice();
        assert_eq!((other.frozen(), buffer.frozen()), (1, 4));
        assert!(other.set_bytes_at(0, b"y").is_err());
        assert!(other.set_bytes_at(1, b"y").is_ok());
        drop(other_view);
        buffer.put_slice(b"+tail");
        assert!(buffer.set_bytes_at(3, b"!").is_err());
        let second = buffer.read_only_slice();
        assert_eq!(buffer.frozen(), 9);
        drop((view, second));
        // The last view gone: the next write thaws the handle, and nothing is frozen.
        assert!(buffer.set_bytes_at(0, b"H").is_ok());
        assert!(!buffer.is_shared());
        assert_eq!((buffer.frozen(), buffer.as_slice()), (0, &b"Head+tail"[..]));
        // A new view after the thaw freezes from the writer again, not from the stale mark.
        buffer.clear();
        buffer.put_slice(b"ab");
        let view = buffer.read_only_slice();
        assert_eq!(buffer.frozen(), 2);
        drop((buffer, view, other));
        assert_eq!(pool.available_buffers(), 2);
        Ok(())
    }

    /// A buffer handed out again after views froze part of it starts whole and writable: its
    /// slot's old mark does not count (the handle starts unshared), and a new view freezes from
    /// the new writer index.
    #[test]
    fn a_buffer_handed_out_again_after_views_is_writable_from_its_first_byte() -> Result<()> {
        let (_network, pool) = pool_of(1)?;
        let mut buffer = pool.request_buffer()?.unwrap();
        let slot = buffer.slot();
        buffer.put_slice(&[7; 100]);
        let view = buffer.read_only_slice();
        assert_eq!(buffer.frozen(), 100);
        drop((buffer, view));
        let mut again = pool.request_buffer()?.unwrap();
        assert_eq!(again.slot(), slot, "the pool's only buffer");
        assert!(!again.is_shared());
        assert_eq!(again.frozen(), 0);
        assert!(again.set_bytes_at(0, b"first").is_ok());
        again.clear();
        assert_eq!((again.as_slice().len(), again.remaining_mut()), (0, 4096));
        again.put_slice(b"ab");
        let view = again.read_only_slice();
        assert!(again.set_u8_at(2, 1).is_ok());
        assert!(again.set_u8_at(1, 1).is_err());
        drop((again, view));
        assert_eq!(pool.available_buffers(), 1);
        Ok(())
    }
}
