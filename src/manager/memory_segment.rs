//! [`MemorySegment`]: one page of the memory manager and Flink's accessor set on it — typed
//! get/put in native, little- and big-endian order at any offset, bulk copies to and from
//! slices, other segments and streams, unsigned comparison, byte swaps, byte-slice views.
//!
//! What must hold:
//! - **Revocation first.** Every access checks that the owner has not revoked the page
//!   (`release_all`) before anything else, and a revoked page is refused with
//!   [`SegmentError::Released`].
//! - **Bounds without overflow.** Every range is checked as `len <= size && offset <= size - len`
//!   (never `offset + len`), so offsets near `usize::MAX` — or a negative index cast from a signed
//!   type — are refused with the offset, length and size, never wrapped around.
//! - **Memory goes back exactly once.** The handle owns its segment exclusively; it goes back to
//!   the allocator when the handle is dropped or released (which consumes it), and the slices
//!   it lends borrow the handle. So safe code never reaches the memory after it went back.
//!
//! The only `unsafe` here builds the two whole-page slices and hands entries back to the
//! allocator; every accessor is safe code over those slices.

use std::cmp::Ordering as CmpOrdering;
use std::fmt;
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::ops::Range;

use numa::{NodeId, PageKind};

use super::owner::OwnerState;
use crate::entry::{Entry, NodeIndex};
use crate::error::SegmentError;
use crate::segment::{RawSegment, SegmentMeta};
use crate::sync::atomic::Ordering;

/// One page of a [`MemoryManager`](crate::MemoryManager): an owned, node-local block of the
/// manager's page size with Flink's `MemorySegment` accessors.
///
/// It borrows its [`MemoryOwner`](crate::MemoryOwner) (so it cannot outlive it), is `Send`, not
/// `Clone`, and its memory goes back to the allocator exactly once: when it is dropped or
/// [released](Self::release). After the owner's
/// [`release_all`](crate::MemoryManager::release_all) every access is refused with
/// [`SegmentError::Released`], checked before the bounds.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
/// let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
/// let owner = mm.owner("doc", UseCase::Operator);
/// let mut page = mm.allocate_page(&owner)?;
/// page.put_f64_be(5, 2.5)?; // any alignment
/// assert_eq!(page.get_f64_be(5)?, 2.5);
/// assert_eq!(page.get_u8(5)?, 0x40); // big-endian: the sign/exponent byte first
/// assert!(page.get_u8(page.size()).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MemorySegment<'o> {
    /// The tagged entry (address | page-kind tag), exclusively owned.
    entry: Entry,
    owner: &'o OwnerState,
    /// The owner's epoch when the page was allocated; an older epoch than the owner's means
    /// revoked.
    epoch: u64,
    /// The page's node index in the allocator (where it goes back to).
    node_index: NodeIndex,
}

impl fmt::Debug for MemorySegment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySegment")
            .field("address", &format_args!("{:#x}", self.address()))
            .field("size", &self.size())
            .field("node", &self.node())
            .field("owner", &self.owner.id)
            .field("released", &self.is_released())
            .finish()
    }
}

/// Generates the typed accessors of one type in one byte order.
macro_rules! typed_accessors {
    ($ty:ident, $sample:literal, $get:ident, $put:ident, $from:ident, $to:ident, $order:literal) => {
        #[doc = concat!("Reads a `", stringify!($ty), "` in ", $order, " byte order at `offset` (any alignment).")]
        ///
        /// ```
        /// # use std::sync::Arc;
        /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
        /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
        /// # let owner = mm.owner("doc", UseCase::Operator);
        /// # let mut page = mm.allocate_page(&owner)?;
        #[doc = concat!("page.", stringify!($put), "(3, ", stringify!($sample), ")?;")]
        #[doc = concat!("assert_eq!(page.", stringify!($get), "(3)?, ", stringify!($sample), ");")]
        #[doc = concat!("assert!(page.", stringify!($get), "(usize::MAX).is_err());")]
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        ///
        /// # Errors
        /// [`SegmentError::Released`] after `release_all`; [`SegmentError::OutOfBounds`] when the
        /// value does not fit at `offset`.
        #[inline]
        pub fn $get(&self, offset: usize) -> Result<$ty, SegmentError> {
            self.read(offset).map(<$ty>::$from)
        }

        #[doc = concat!("Writes a `", stringify!($ty), "` in ", $order, " byte order at `offset` (any alignment).")]
        ///
        /// ```
        /// # use std::sync::Arc;
        /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
        /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
        /// # let owner = mm.owner("doc", UseCase::Operator);
        /// # let mut page = mm.allocate_page(&owner)?;
        #[doc = concat!("page.", stringify!($put), "(1, ", stringify!($sample), ")?;")]
        #[doc = concat!("assert_eq!(page.", stringify!($get), "(1)?, ", stringify!($sample), ");")]
        #[doc = concat!("assert!(page.", stringify!($put), "(page.size(), ", stringify!($sample), ").is_err());")]
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        ///
        /// # Errors
        /// [`SegmentError::Released`] after `release_all`; [`SegmentError::OutOfBounds`] when the
        /// value does not fit at `offset`.
        #[inline]
        pub fn $put(&mut self, offset: usize, value: $ty) -> Result<(), SegmentError> {
            self.write(offset, value.$to())
        }
    };
}

/// Generates the accessors of one type in the three byte orders.
macro_rules! ordered_accessors {
    ($($ty:ident $sample:literal: $get:ident $put:ident, $get_le:ident $put_le:ident, $get_be:ident $put_be:ident;)+) => {
        $(
            typed_accessors!($ty, $sample, $get, $put, from_ne_bytes, to_ne_bytes, "native");
            typed_accessors!($ty, $sample, $get_le, $put_le, from_le_bytes, to_le_bytes, "little-endian");
            typed_accessors!($ty, $sample, $get_be, $put_be, from_be_bytes, to_be_bytes, "big-endian");
        )+
    };
}

impl<'o> MemorySegment<'o> {
    /// A handle for a segment the caller owns.
    ///
    /// # Safety
    /// - `raw` is a segment of `owner`'s page class on node index `raw.meta.node` of the allocator
    ///   `owner` keeps alive (`owner.hot.arena`), carved and not given back;
    /// - nothing else holds it: the handle becomes its only owner.
    #[inline]
    pub(crate) unsafe fn from_raw(raw: RawSegment, owner: &'o OwnerState, epoch: u64) -> Self {
        debug_assert_eq!(raw.meta.class, owner.hot.class);
        Self { entry: raw.entry, owner, epoch, node_index: raw.meta.node }
    }

    /// The size in bytes (the manager's page size).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// assert_eq!(page.size(), mm.page_size());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn size(&self) -> usize {
        self.owner.hot.page_size
    }

    /// The NUMA node the page's memory is bound to.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase, numa::NodeId};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 2)?))?;
    /// let owner = mm.owner_on("doc", UseCase::Operator, NodeId::new(1))?;
    /// assert_eq!(mm.allocate_page(&owner)?.node(), NodeId::new(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.owner.hot.arena.node_id(self.node_index)
    }

    /// The page kind of the region the page was carved from.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// println!("backed by {}", mm.allocate_page(&owner)?.page_kind());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn page_kind(&self) -> PageKind {
        self.entry.kind()
    }

    /// The address of the first byte (to report, or to read placement back). Dereferencing it
    /// is `unsafe`: the memory is valid for [`size`](Self::size) bytes while the handle lives.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// assert_eq!(page.as_ptr() as usize % page.size(), 0); // aligned to its size
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn as_ptr(&self) -> *const u8 {
        self.address() as *const u8
    }

    /// Where to put a page header or the first write: an offset, a multiple of 64 bytes below
    /// `min(size, 4 KiB)`, that differs between neighbouring pages — the page's slot number
    /// modulo 64, in cache lines, as [`Segment::colour_offset`](crate::Segment::colour_offset)
    /// gives for a segment. Pages are aligned to their size, so their first bytes all fall into
    /// one set of the L1 data cache; writes at the colour offset spread over 64 (see
    /// `docs/SERVICE.md`, *Where to write a header*).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// let header = page.colour_offset();
    /// assert!(header % 64 == 0 && header < page.size().min(4096));
    /// page.put_u64_le(header, 42)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn colour_offset(&self) -> usize {
        crate::segment::colour(self.address(), self.size())
    }

    #[inline]
    fn address(&self) -> usize {
        self.entry.addr()
    }

    /// The id of the owner the page belongs to.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("doc", UseCase::Operator);
    /// assert_eq!(mm.allocate_page(&owner)?.owner_id(), owner.id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn owner_id(&self) -> u64 {
        self.owner.id
    }

    /// Whether the owner revoked the page (Flink's `isFreed`): every access is refused then.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("doc", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// assert!(!page.is_released());
    /// mm.release_all(&owner);
    /// assert!(page.is_released());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn is_released(&self) -> bool {
        // Relaxed: revocation guards no memory (the handle owns the page until it is dropped);
        // coherence alone makes a `release_all` that happened before this call visible.
        self.epoch != self.owner.hot.epoch.load(Ordering::Relaxed)
    }

    /// Gives the page back now (the same as dropping it).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// mm.allocate_page(&owner)?.release();
    /// assert_eq!(owner.pages(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn release(self) {
        drop(self);
    }

    // === checks ===

    /// Refuses a revoked page.
    #[inline]
    fn check_live(&self) -> Result<(), SegmentError> {
        if self.is_released() { Err(self.released_error()) } else { Ok(()) }
    }

    #[cold]
    fn released_error(&self) -> SegmentError {
        SegmentError::Released { owner: self.owner.id, address: self.address() }
    }

    /// The range `offset..offset + len` of the page, after the revocation check; refused
    /// without overflow when it does not fit.
    #[inline]
    fn range(&self, offset: usize, len: usize) -> Result<Range<usize>, SegmentError> {
        self.check_live()?;
        let size = self.size();
        if len <= size && offset <= size - len {
            Ok(offset..offset + len)
        } else {
            Err(SegmentError::OutOfBounds { offset, len, size })
        }
    }

    /// The whole page, with no check (callers check first).
    #[inline]
    fn all(&self) -> &[u8] {
        // SAFETY: the handle owns `size` bytes at `address` exclusively until it is dropped, the
        // owner keeps the allocator (and so the mapping) alive, and the borrow of `self` keeps
        // the slice from outliving the handle.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.size()) }
    }

    /// The whole page, mutably, with no check (callers check first).
    #[inline]
    fn all_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `all`, and `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.address() as *mut u8, self.size()) }
    }

    #[inline]
    fn read<const N: usize>(&self, offset: usize) -> Result<[u8; N], SegmentError> {
        let range = self.range(offset, N)?;
        let mut bytes = [0; N];
        bytes.copy_from_slice(&self.all()[range]);
        Ok(bytes)
    }

    #[inline]
    fn write<const N: usize>(&mut self, offset: usize, bytes: [u8; N]) -> Result<(), SegmentError> {
        let range = self.range(offset, N)?;
        self.all_mut()[range].copy_from_slice(&bytes);
        Ok(())
    }

    // === bytes and booleans ===

    /// Reads the byte at `offset`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_u8(7, 0xab)?;
    /// assert_eq!(page.get_u8(7)?, 0xab);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`] after `release_all`; [`SegmentError::OutOfBounds`] for
    /// `offset >= size`.
    #[inline]
    pub fn get_u8(&self, offset: usize) -> Result<u8, SegmentError> {
        self.read::<1>(offset).map(|[b]| b)
    }

    /// Writes the byte at `offset`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_u8(0, 1)?;
    /// assert!(page.put_u8(page.size(), 1).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemorySegment::get_u8`].
    #[inline]
    pub fn put_u8(&mut self, offset: usize, value: u8) -> Result<(), SegmentError> {
        self.write(offset, [value])
    }

    /// Reads the byte at `offset` as a signed number.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_u8(2, 0xff)?;
    /// assert_eq!(page.get_i8(2)?, -1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemorySegment::get_u8`].
    #[inline]
    pub fn get_i8(&self, offset: usize) -> Result<i8, SegmentError> {
        self.read(offset).map(i8::from_ne_bytes)
    }

    /// Writes a signed byte at `offset`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_i8(2, -128)?;
    /// assert_eq!(page.get_u8(2)?, 0x80);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemorySegment::get_u8`].
    #[inline]
    pub fn put_i8(&mut self, offset: usize, value: i8) -> Result<(), SegmentError> {
        self.write(offset, value.to_ne_bytes())
    }

    /// Reads a boolean at `offset`: any byte other than 0 is `true` (as Flink's `getBoolean`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_u8(4, 2)?;
    /// assert!(page.get_bool(4)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemorySegment::get_u8`].
    #[inline]
    pub fn get_bool(&self, offset: usize) -> Result<bool, SegmentError> {
        self.get_u8(offset).map(|b| b != 0)
    }

    /// Writes a boolean at `offset` as 1 or 0.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_bool(4, true)?;
    /// assert_eq!(page.get_u8(4)?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemorySegment::get_u8`].
    #[inline]
    pub fn put_bool(&mut self, offset: usize, value: bool) -> Result<(), SegmentError> {
        self.put_u8(offset, u8::from(value))
    }

    // === typed values in three byte orders ===

    ordered_accessors! {
        i16 -12345i16: get_i16 put_i16, get_i16_le put_i16_le, get_i16_be put_i16_be;
        u16 54321u16: get_u16 put_u16, get_u16_le put_u16_le, get_u16_be put_u16_be;
        i32 -1234567890i32: get_i32 put_i32, get_i32_le put_i32_le, get_i32_be put_i32_be;
        u32 3456789012u32: get_u32 put_u32, get_u32_le put_u32_le, get_u32_be put_u32_be;
        i64 -1234567890123456789i64: get_i64 put_i64, get_i64_le put_i64_le, get_i64_be put_i64_be;
        u64 12345678901234567890u64: get_u64 put_u64, get_u64_le put_u64_le, get_u64_be put_u64_be;
        f32 -1.5f32: get_f32 put_f32, get_f32_le put_f32_le, get_f32_be put_f32_be;
        f64 6.02214076e23f64: get_f64 put_f64, get_f64_le put_f64_le, get_f64_be put_f64_be;
    }

    // === bulk ===

    /// Copies `dst.len()` bytes from `offset` into `dst`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_bytes(10, b"hello")?;
    /// let mut out = [0u8; 5];
    /// page.get_bytes(10, &mut out)?;
    /// assert_eq!(&out, b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`]; [`SegmentError::OutOfBounds`].
    pub fn get_bytes(&self, offset: usize, dst: &mut [u8]) -> Result<(), SegmentError> {
        let range = self.range(offset, dst.len())?;
        dst.copy_from_slice(&self.all()[range]);
        Ok(())
    }

    /// Copies `src` into the page at `offset`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_bytes(0, &[1, 2, 3])?;
    /// assert_eq!(page.slice(0, 3)?, &[1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`]; [`SegmentError::OutOfBounds`].
    pub fn put_bytes(&mut self, offset: usize, src: &[u8]) -> Result<(), SegmentError> {
        let range = self.range(offset, src.len())?;
        self.all_mut()[range].copy_from_slice(src);
        Ok(())
    }

    /// Copies `len` bytes from `offset` into `dst[dst_offset..]` (Flink's
    /// `get(index, dst, offset, length)`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_bytes(0, b"abcdef")?;
    /// let mut out = [b'.'; 6];
    /// page.get_bytes_at(2, &mut out, 1, 3)?;
    /// assert_eq!(&out, b".cde..");
    /// assert!(page.get_bytes_at(0, &mut out, 4, 3).is_err()); // does not fit `out`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`]; [`SegmentError::OutOfBounds`];
    /// [`SegmentError::SliceOutOfBounds`] when the range does not fit `dst`.
    pub fn get_bytes_at(
        &self,
        offset: usize,
        dst: &mut [u8],
        dst_offset: usize,
        len: usize,
    ) -> Result<(), SegmentError> {
        let range = self.range(offset, len)?;
        let into = slice_range(dst.len(), dst_offset, len)?;
        dst[into].copy_from_slice(&self.all()[range]);
        Ok(())
    }

    /// Copies `len` bytes from `src[src_offset..]` into the page at `offset` (Flink's
    /// `put(index, src, offset, length)`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_bytes_at(100, b"xyz", 1, 2)?;
    /// assert_eq!(page.slice(100, 2)?, b"yz");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`]; [`SegmentError::OutOfBounds`];
    /// [`SegmentError::SliceOutOfBounds`] when the range does not fit `src`.
    pub fn put_bytes_at(
        &mut self,
        offset: usize,
        src: &[u8],
        src_offset: usize,
        len: usize,
    ) -> Result<(), SegmentError> {
        let range = self.range(offset, len)?;
        let from = slice_range(src.len(), src_offset, len)?;
        self.all_mut()[range].copy_from_slice(&src[from]);
        Ok(())
    }

    /// Copies `len` bytes from `offset` to `target` at `target_offset` (another page; within one
    /// page use [`copy_within`](Self::copy_within)).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut a = mm.allocate_page(&owner)?;
    /// let mut b = mm.allocate_page(&owner)?;
    /// a.put_u32_le(0, 0xdead_beef)?;
    /// a.copy_to(0, &mut b, 8, 4)?;
    /// assert_eq!(b.get_u32_le(8)?, 0xdead_beef);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`] if either page was revoked (checked first);
    /// [`SegmentError::OutOfBounds`] if either range does not fit.
    pub fn copy_to(
        &self,
        offset: usize,
        target: &mut MemorySegment<'_>,
        target_offset: usize,
        len: usize,
    ) -> Result<(), SegmentError> {
        target.check_live()?;
        let from = self.range(offset, len)?;
        let to = target.range(target_offset, len)?;
        target.all_mut()[to].copy_from_slice(&self.all()[from]);
        Ok(())
    }

    /// Copies `len` bytes from `src_offset` to `dst_offset` within the page (the ranges may
    /// overlap).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_bytes(0, b"abcd")?;
    /// page.copy_within(0, 2, 4)?;
    /// assert_eq!(page.slice(0, 6)?, b"ababcd");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`]; [`SegmentError::OutOfBounds`] if either range does not fit.
    pub fn copy_within(&mut self, src_offset: usize, dst_offset: usize, len: usize) -> Result<(), SegmentError> {
        let from = self.range(src_offset, len)?;
        self.range(dst_offset, len)?;
        self.all_mut().copy_within(from, dst_offset);
        Ok(())
    }

    /// Compares `len1` bytes at `offset1` with `len2` bytes of `other` at `offset2` as unsigned
    /// bytes, lexicographically; when one range is a prefix of the other, the shorter is less
    /// (Flink's `compareTo` with two lengths). `other` may be the page itself.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::cmp::Ordering;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_bytes(0, &[0x01, 0xff, 0x01, 0x7f])?;
    /// assert_eq!(page.compare(&page, 0, 2, 2, 2)?, Ordering::Greater); // 0xff > 0x7f unsigned
    /// assert_eq!(page.compare(&page, 0, 0, 1, 2)?, Ordering::Less); // a prefix is less
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`] if either page was revoked (checked first);
    /// [`SegmentError::OutOfBounds`] if either range does not fit.
    pub fn compare(
        &self,
        other: &MemorySegment<'_>,
        offset1: usize,
        offset2: usize,
        len1: usize,
        len2: usize,
    ) -> Result<CmpOrdering, SegmentError> {
        other.check_live()?;
        let a = self.range(offset1, len1)?;
        let b = other.range(offset2, len2)?;
        Ok(self.all()[a].cmp(&other.all()[b]))
    }

    /// Whether `len` bytes at `offset1` equal `len` bytes of `other` at `offset2`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut a = mm.allocate_page(&owner)?;
    /// let mut b = mm.allocate_page(&owner)?;
    /// a.put_bytes(0, b"key")?;
    /// b.put_bytes(9, b"key")?;
    /// assert!(a.equal_to(&b, 0, 9, 3)?);
    /// assert!(!a.equal_to(&b, 0, 8, 3)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemorySegment::compare`].
    pub fn equal_to(
        &self,
        other: &MemorySegment<'_>,
        offset1: usize,
        offset2: usize,
        len: usize,
    ) -> Result<bool, SegmentError> {
        other.check_live()?;
        let a = self.range(offset1, len)?;
        let b = other.range(offset2, len)?;
        Ok(self.all()[a] == other.all()[b])
    }

    /// Swaps `len` bytes at `offset1` with `len` bytes of `other` at `offset2` (Flink's
    /// `swapBytes`, without the temporary buffer).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut a = mm.allocate_page(&owner)?;
    /// let mut b = mm.allocate_page(&owner)?;
    /// a.put_bytes(0, b"left")?;
    /// b.put_bytes(4, b"rite")?;
    /// a.swap_bytes(&mut b, 0, 4, 4)?;
    /// assert_eq!((a.slice(0, 4)?, b.slice(4, 4)?), (&b"rite"[..], &b"left"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`] if either page was revoked (checked first);
    /// [`SegmentError::OutOfBounds`] if either range does not fit.
    pub fn swap_bytes(
        &mut self,
        other: &mut MemorySegment<'_>,
        offset1: usize,
        offset2: usize,
        len: usize,
    ) -> Result<(), SegmentError> {
        other.check_live()?;
        let a = self.range(offset1, len)?;
        let b = other.range(offset2, len)?;
        self.all_mut()[a].swap_with_slice(&mut other.all_mut()[b]);
        Ok(())
    }

    /// Writes `len` bytes from `offset` to a stream (Flink's `get(DataOutput, offset, length)`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_bytes(0, b"spill")?;
    /// let mut file = Vec::new();
    /// page.write_to(0, 5, &mut file)?;
    /// assert_eq!(file, b"spill");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The stream's error; a [`SegmentError`] (revoked: `ErrorKind::Other`; out of bounds:
    /// `ErrorKind::InvalidInput`) inside an [`std::io::Error`], before anything is written.
    pub fn write_to<W: Write + ?Sized>(&self, offset: usize, len: usize, out: &mut W) -> std::io::Result<()> {
        let range = self.range(offset, len)?;
        out.write_all(&self.all()[range])
    }

    /// Reads exactly `len` bytes from a stream into the page at `offset` (Flink's
    /// `put(DataInput, offset, length)`); a stream that ends first is an
    /// `ErrorKind::UnexpectedEof` error.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.read_from(3, 4, &mut &b"load"[..])?;
    /// assert_eq!(page.slice(3, 4)?, b"load");
    /// assert!(page.read_from(0, 10, &mut &b"short"[..]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The stream's error; a [`SegmentError`] inside an [`std::io::Error`] (as
    /// [`write_to`](Self::write_to)), before anything is read.
    pub fn read_from<R: Read + ?Sized>(&mut self, offset: usize, len: usize, input: &mut R) -> std::io::Result<()> {
        let range = self.range(offset, len)?;
        input.read_exact(&mut self.all_mut()[range])
    }

    // === views ===

    /// The whole page as bytes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// assert_eq!(page.as_slice()?.len(), page.size());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`].
    pub fn as_slice(&self) -> Result<&[u8], SegmentError> {
        self.check_live()?;
        Ok(self.all())
    }

    /// The whole page as mutable bytes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.as_mut_slice()?.fill(0x5a);
    /// assert_eq!(page.get_u8(page.size() - 1)?, 0x5a);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`].
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8], SegmentError> {
        self.check_live()?;
        Ok(self.all_mut())
    }

    /// `len` bytes at `offset` as a slice (Flink's `wrap`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// assert_eq!(page.slice(8, 16)?.len(), 16);
    /// assert!(page.slice(1, page.size()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`]; [`SegmentError::OutOfBounds`].
    pub fn slice(&self, offset: usize, len: usize) -> Result<&[u8], SegmentError> {
        let range = self.range(offset, len)?;
        Ok(&self.all()[range])
    }

    /// `len` bytes at `offset` as a mutable slice.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = mm.owner("doc", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.slice_mut(4, 2)?.copy_from_slice(&[9, 9]);
    /// assert_eq!(page.get_u16_le(4)?, 0x0909);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`]; [`SegmentError::OutOfBounds`].
    pub fn slice_mut(&mut self, offset: usize, len: usize) -> Result<&mut [u8], SegmentError> {
        let range = self.range(offset, len)?;
        Ok(&mut self.all_mut()[range])
    }

    /// Gives up the handle without giving the memory back: the parts to free it with.
    fn into_parts(self) -> (&'o OwnerState, Entry, NodeIndex) {
        let this = ManuallyDrop::new(self);
        (this.owner, this.entry, this.node_index)
    }
}

/// The range `offset..offset + len` of a slice of `size` bytes, refused without overflow.
fn slice_range(size: usize, offset: usize, len: usize) -> Result<Range<usize>, SegmentError> {
    if len <= size && offset <= size - len {
        Ok(offset..offset + len)
    } else {
        Err(SegmentError::SliceOutOfBounds { offset, len, size })
    }
}

impl Drop for MemorySegment<'_> {
    #[inline]
    fn drop(&mut self) {
        let owner = self.owner;
        let raw = RawSegment { entry: self.entry, meta: SegmentMeta { class: owner.hot.class, node: self.node_index } };
        // SAFETY: the handle owned the entry exclusively (`from_raw`) and gives it up here, once;
        // `owner.hot.arena` is the allocator it came from, alive for as long as the owner.
        unsafe { owner.hot.arena.give_back(raw) };
        // Memory first, then the count: the budget never lets a page be charged while the
        // allocator still counts it as in use.
        owner.count_released(self.node_index, 1);
    }
}

/// A run of released pages of one owner on one node, waiting to go back in one batch.
struct Run<'o> {
    owner: Option<&'o OwnerState>,
    node_index: NodeIndex,
    entries: Vec<Entry>,
}

impl Run<'_> {
    fn flush(&mut self) {
        let Some(owner) = self.owner else { return };
        if self.entries.is_empty() {
            return;
        }
        owner.hot.arena.free_entries(owner.hot.class, self.node_index, &self.entries);
        owner.count_released(self.node_index, self.entries.len() as u64);
        self.entries.clear();
        // A bulk release already paid for its bookkeeping: give back credit it left idle.
        if owner.credit_pages() > super::owner::CREDIT_KEEP as usize {
            owner.trim(super::owner::CREDIT_BATCH);
        }
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        // Also on unwinding (a panicking iterator): entries taken out of their handles go back.
        self.flush();
    }
}

/// Releases a vector of pages (see `MemoryManager::release_pages`).
pub(crate) fn release_vec(pages: &mut Vec<MemorySegment<'_>>) {
    let Some(first) = pages.first() else { return };
    let (owner, node_index) = (first.owner, first.node_index);
    if !pages.iter().all(|p| std::ptr::eq(p.owner, owner) && p.node_index == node_index) {
        release_many(pages.drain(..));
        return;
    }
    super::with_scratch(|scratch| {
        scratch.extend(pages.iter().map(|p| p.entry));
        // SAFETY: the entries were copied out above; setting the length to 0 forgets the handles
        // without running their `Drop`, so each entry is given back once, below. (`MemorySegment`
        // owns no other resource.)
        unsafe { pages.set_len(0) };
        owner.hot.arena.free_entries(owner.hot.class, node_index, scratch);
        owner.count_released(node_index, scratch.len() as u64);
        if owner.credit_pages() > super::owner::CREDIT_KEEP as usize {
            owner.trim(super::owner::CREDIT_BATCH);
        }
    });
}

/// Releases pages in runs of one owner and node (see `MemoryManager::release_many`).
pub(crate) fn release_many<'o>(pages: impl IntoIterator<Item = MemorySegment<'o>>) {
    super::with_scratch(|scratch| {
        let mut run = Run { owner: None, node_index: NodeIndex::new(0), entries: std::mem::take(scratch) };
        for page in pages {
            let (owner, entry, node_index) = page.into_parts();
            let same = run.owner.is_some_and(|o| std::ptr::eq(o, owner)) && run.node_index == node_index;
            if !same {
                run.flush();
                run.owner = Some(owner);
                run.node_index = node_index;
            }
            run.entries.push(entry);
        }
        run.flush();
        *scratch = std::mem::take(&mut run.entries);
    });
}
