//! [`OwnedSegment`]: a segment of a user-built `Arc<ArenaManager>` that keeps its manager alive,
//! so it is `Send + 'static` — it moves into `tokio::spawn` or `std::thread::spawn` and lives in
//! structs without a lifetime. (Segments of [`global`](crate::global) are `Segment<'static>`
//! already and need none of this.)
//!
//! A thin wrapper: a `Segment<'static>` and the `Arc` that keeps its manager alive. What must
//! hold, and why it does:
//! - **The manager outlives the segment.** `Drop` gives the segment back to its manager's caches
//!   first; only then, when the fields drop, is this handle's `Arc` given up. The manager drops
//!   only with its last `Arc`, and every owned segment of it holds one. So dropping the user's
//!   last handle while owned segments exist is safe: the manager lives on until the last of them
//!   is dropped, and then drops as any manager does (thread caches marked dead first).
//! - **No reference dangles while it is protected.** The segment holds a `&'static` to the
//!   manager's state, and the last owned segment frees that state when it drops. A reference
//!   field of a value passed by value (`drop(segment)`) must stay valid for the whole call under
//!   Rust's aliasing rules (Miri's Stacked and Tree Borrows protect it), so the segment is kept
//!   in a `MaybeUninit`, whose contents are not retagged or protected — the "maybe dangling"
//!   wrapper of RFC 3336, which `std` uses for the same reason. `scripts/miri.sh` runs the case.
//! - **The `'static` never leaks out.** The inner `Segment<'static>` is private and never lent as
//!   `&mut` (a `mem::swap` with another manager's segment would separate a segment from the
//!   `Arc` that keeps it valid); the slices it lends borrow the handle.
//!
//! Cost: one `Arc` clone per allocation and one `Arc` drop per free — two uncontended atomic
//! read-modify-writes per pair that the borrowed [`Segment`] does not pay (measured in
//! `benches/owned_handles.rs` and `numaseg bench`, see `docs/SERVICE.md`). Keep borrowed segments
//! where a scope can hold the manager.

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Arc;

use numa::{NodeId, PageKind};

use crate::ArenaManager;
use crate::error::AllocError;
use crate::segment::Segment;
use crate::size_class::SizeClass;

/// A segment that keeps its [`ArenaManager`] alive: `Send + 'static`, for tasks, threads and
/// structs. Obtain one with [`ArenaManager::allocate_owned`].
///
/// ```
/// use std::sync::Arc;
/// use numaseg::{ArenaManager, Config, OwnedSegment};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let mut segment: OwnedSegment = manager.allocate_owned(32 << 10)?;
/// segment.as_mut_slice()[0] = 7;
/// drop(manager); // the segment keeps the manager alive
/// let handle = std::thread::spawn(move || segment.as_slice()[0]);
/// assert_eq!(handle.join().unwrap(), 7); // the manager dropped with the segment, there
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OwnedSegment {
    /// Always initialised; dropped by `Drop` before `manager` (module docs: why `MaybeUninit`).
    segment: MaybeUninit<Segment<'static>>,
    manager: Arc<ArenaManager>,
}

/// Extends a segment's borrow of `manager` to `'static`.
///
/// # Safety
/// - `segment` came from `manager`;
/// - the result is stored in an [`OwnedSegment`] together with a clone of `manager`, and never
///   leaves it (its `Drop` drops the segment before that clone).
#[inline]
unsafe fn erase(segment: Segment<'_>) -> MaybeUninit<Segment<'static>> {
    // SAFETY: only the lifetime changes (same type, same layout). The borrow it extends is of the
    // manager's boxed state, whose address is stable while the manager lives; the caller keeps
    // an `Arc` of that manager beside the result and drops the result first (duties above), so
    // the state outlives every use of the segment.
    MaybeUninit::new(unsafe { std::mem::transmute::<Segment<'_>, Segment<'static>>(segment) })
}

impl ArenaManager {
    /// Allocates a segment that keeps this manager alive ([`OwnedSegment`]): the same path as
    /// [`allocate`](ArenaManager::allocate) plus an `Arc` clone.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let segments: Vec<_> = (0..4).map(|_| manager.allocate_owned(4096)).collect::<Result<_, _>>()?;
    /// assert_eq!(Arc::strong_count(&manager), 5);
    /// drop(segments);
    /// assert_eq!(Arc::strong_count(&manager), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ArenaManager::allocate`].
    #[inline]
    pub fn allocate_owned(self: &Arc<Self>, size: usize) -> Result<OwnedSegment, AllocError> {
        let segment = self.allocate(size)?;
        // SAFETY: from `self`, and stored beside a clone of `self` at once.
        Ok(OwnedSegment { segment: unsafe { erase(segment) }, manager: Arc::clone(self) })
    }

    /// Allocates a segment of `class` that keeps this manager alive (see
    /// [`allocate_owned`](ArenaManager::allocate_owned)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config, SizeClass};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let class = SizeClass::for_size(32 << 10).unwrap();
    /// assert_eq!(manager.allocate_owned_class(class)?.len(), 32 << 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ArenaManager::allocate_class`].
    #[inline]
    pub fn allocate_owned_class(self: &Arc<Self>, class: SizeClass) -> Result<OwnedSegment, AllocError> {
        let segment = self.allocate_class(class)?;
        // SAFETY: from `self`, and stored beside a clone of `self` at once.
        Ok(OwnedSegment { segment: unsafe { erase(segment) }, manager: Arc::clone(self) })
    }

    /// Allocates a segment on `node` that keeps this manager alive (see
    /// [`allocate_on`](ArenaManager::allocate_on)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 2)?);
    /// assert_eq!(manager.allocate_owned_on(NodeId::new(1), 4096)?.node(), NodeId::new(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ArenaManager::allocate_on`].
    pub fn allocate_owned_on(self: &Arc<Self>, node: NodeId, size: usize) -> Result<OwnedSegment, AllocError> {
        let segment = self.allocate_on(node, size)?;
        // SAFETY: from `self`, and stored beside a clone of `self` at once.
        Ok(OwnedSegment { segment: unsafe { erase(segment) }, manager: Arc::clone(self) })
    }
}

impl OwnedSegment {
    #[inline]
    fn inner(&self) -> &Segment<'static> {
        // SAFETY: `segment` is initialised from construction until `Drop`.
        unsafe { self.segment.assume_init_ref() }
    }

    #[inline]
    fn inner_mut(&mut self) -> &mut Segment<'static> {
        // SAFETY: as in `inner`.
        unsafe { self.segment.assume_init_mut() }
    }

    /// The manager it keeps alive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let segment = manager.allocate_owned(4096)?;
    /// assert!(Arc::ptr_eq(segment.manager(), &manager));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn manager(&self) -> &Arc<ArenaManager> {
        &self.manager
    }

    /// The segment, borrowed for reading its properties ([`Segment::size_class`],
    /// [`Segment::colour_offset`], ...).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let segment = manager.allocate_owned(4096)?;
    /// assert_eq!(segment.segment().size_class().size(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn segment(&self) -> &Segment<'_> {
        self.inner()
    }

    /// Size in bytes (a power of two from 4 KiB).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config};
    /// # let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// assert_eq!(manager.allocate_owned(5000)?.len(), 8192);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner().len()
    }

    /// Always false: segments are never empty.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config};
    /// # let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// assert!(!manager.allocate_owned(4096)?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The NUMA node the segment's memory is bound to.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config};
    /// # let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// assert_eq!(manager.allocate_owned(4096)?.node(), manager.thread_node());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.inner().node()
    }

    /// The page kind of the region it was carved from.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config};
    /// # let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// println!("{}", manager.allocate_owned(4096)?.page_kind());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn page_kind(&self) -> PageKind {
        self.inner().page_kind()
    }

    /// The first byte. Valid for [`len`](Self::len) bytes while the handle lives.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config};
    /// # let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let segment = manager.allocate_owned(4096)?;
    /// assert_eq!(segment.as_ptr() as usize % 4096, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn as_ptr(&self) -> *mut u8 {
        self.inner().as_ptr()
    }

    /// The memory as bytes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config};
    /// # let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mut segment = manager.allocate_owned(4096)?;
    /// segment.as_mut_slice()[..2].copy_from_slice(b"hi");
    /// assert_eq!(&segment.as_slice()[..2], b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        self.inner().as_slice()
    }

    /// The memory as mutable bytes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config};
    /// # let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mut segment = manager.allocate_owned(4096)?;
    /// segment.as_mut_slice().fill(1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.inner_mut().as_mut_slice()
    }

    /// Gives the segment back now (the same as dropping it); the manager drops with it if this
    /// was its last handle.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config};
    /// # let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// manager.allocate_owned(4096)?.release();
    /// assert_eq!(manager.stats().used_bytes(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for OwnedSegment {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: initialised until now, and never used again: the segment goes back to its
        // manager while `self.manager` still keeps that manager alive (it drops after this).
        unsafe { self.segment.assume_init_drop() };
    }
}

impl fmt::Debug for OwnedSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedSegment").field(self.inner()).finish()
    }
}

impl AsRef<[u8]> for OwnedSegment {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsMut<[u8]> for OwnedSegment {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}
