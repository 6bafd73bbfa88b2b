//! [`Buffer`] and [`SharedBuffer`]: the handles to one network buffer, and the rule that it
//! goes back to its pool exactly once.
//!
//! What must hold:
//! - A [`Buffer`] is the only handle to its buffer: not `Clone`, `'static`, `Send`. It reads
//!   `[reader, writer)` ([`bytes::Buf`]) and writes `[writer, limit)` ([`bytes::BufMut`]), where
//!   `limit ≤ capacity` is the writable size its pool set (adaptive sizing lowers it; the
//!   segment behind it is always whole). Dropping it recycles the buffer — once, since nothing
//!   else can.
//! - [`Buffer::into_shared`] turns it into read-only [`SharedBuffer`] views that share a count
//!   kept in the buffer's slot (set to 1 by the sole owner, so no atomic read-modify-write on
//!   the unshared path). Clones and slices add one; the drop that takes it to zero recycles.
//!   Nothing can write through a shared view, so readers on many threads are fine.
//! - A handle holds a raw pointer to its pool's core, not an `Arc` (no shared-counter traffic
//!   per buffer): the pool's record keeps the core alive while any of its buffers is out
//!   (`mod.rs`), so the pointer is valid until the recycle.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::ptr::NonNull;

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut, Bytes};
use numa::NodeId;

use super::local::{PoolCore, recycle};
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
pub struct Buffer {
    data: NonNull<u8>,
    core: NonNull<PoolCore>,
    slot: u32,
    capacity: u32,
    limit: u32,
    reader: u32,
    writer: u32,
}

// SAFETY: the buffer is owned exclusively by this handle (no other handle exists until
// `into_shared`); the core it points to is `Sync` (atomics and a lock) and outlives the handle.
unsafe impl Send for Buffer {}
// SAFETY: `&Buffer` only reads the buffer's bytes and the handle's own fields.
unsafe impl Sync for Buffer {}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Buffer {
    /// # Safety
    /// - `slot` of `core`'s network pool is held exclusively by the caller, and its segment
    ///   starts at `addr` with `capacity` bytes;
    /// - `core` stays alive until the buffer is recycled (its record keeps it).
    #[inline]
    pub(crate) unsafe fn from_slot(
        core: NonNull<PoolCore>,
        slot: u32,
        addr: usize,
        capacity: usize,
        writable: usize,
    ) -> Self {
        // The region's provenance was exposed when it was carved (`entry::ptr`).
        // SAFETY: segment addresses are real mappings, never null (first duty).
        let data = unsafe { NonNull::new_unchecked(std::ptr::with_exposed_provenance_mut(addr)) };
        let capacity = to_u32(capacity);
        Self { data, core, slot, capacity, limit: to_u32(writable).min(capacity), reader: 0, writer: 0 }
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
        self.capacity as usize
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
        self.limit = to_u32(limit).clamp(self.writer, self.capacity);
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

    /// Resets both indexes to 0 (the bytes stay, unreadable).
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
        self.reader = 0;
        self.writer = 0;
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

    /// The readable bytes, mutably.
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
        // SAFETY: `reader ≤ capacity`, so the pointer stays inside the segment.
        let start = unsafe { self.data.as_ptr().add(self.reader as usize) };
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(start, self.len()) }
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
        self.core().shared.node_of(self.slot)
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
        // Relaxed: the sole owner sets the count; whoever receives a view got it through
        // something that synchronises (a channel, a spawn), which orders this store.
        self.core().shared.slots[self.slot as usize].refs.store(1, Ordering::Relaxed);
        let shared =
            SharedBuffer { data: self.data, core: self.core, slot: self.slot, start: self.reader, end: self.writer };
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
}

impl Drop for Buffer {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: this handle is the buffer's only one and `core` is its pool's live core.
        let last = unsafe { recycle(self.core, self.slot) };
        drop(last);
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("ptr", &self.data)
            .field("capacity", &self.capacity)
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
// giving up its only writable handle); the count is atomic; the core is `Sync`.
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
