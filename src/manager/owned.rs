//! [`OwnedMemorySegment`]: a memory-manager page that keeps its owner alive, so it is
//! `Send + 'static` — an operator keeps its `Arc<MemoryOwner>` and its pages in one struct and
//! moves that struct into a thread or a task, with no `unsafe` of its own.
//!
//! A thin wrapper: a `MemorySegment<'static>` and the `Arc<MemoryOwner>` that keeps the page's
//! owner (and through it the manager and the allocator) alive. What must hold, and why it does:
//! - **The owner outlives the page.** `Drop` gives the page back (and counts it off its owner)
//!   first; only then, when the fields drop, is this handle's `Arc` given up. The owner ends (its
//!   `Drop`, which reports what it still held) only with its last `Arc`, and every owned page
//!   holds one: an owner never sees an owned page of its own as a leak.
//! - **No reference dangles while it is protected.** The page holds a `&'static` to its owner's
//!   state, which the last owned page frees when it drops; a reference field of a value passed
//!   by value (`drop(page)`) must stay valid for the whole call (Miri's borrow models protect
//!   it), so the page is kept in a `MaybeUninit`, whose contents are neither retagged nor
//!   protected (RFC 3336's "maybe dangling"). `scripts/miri.sh` runs the case.
//! - **The `'static` never leaks out.** The inner page is private. Reading goes through
//!   `Deref` (a shared reference: nothing can be moved out or swapped in). Writing goes through
//!   [`OwnedMemorySegment::with_mut`], whose closure sees the page under a lifetime of its own
//!   that no other page of a mortal owner can be given, so no `mem::swap` can separate a page
//!   from the `Arc` that keeps its owner alive; and through the byte-slice writers forwarded
//!   here, which lend bytes, never the page.
//!
//! Cost: one `Arc` clone per page allocated and one `Arc` drop per page released — two
//! uncontended atomic read-modify-writes per pair on the owner's count, which the borrowed
//! [`MemorySegment`] does not pay (`benches/owned_handles.rs`, `docs/SERVICE.md`).

use std::fmt;
use std::io::Read;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::sync::Arc;

use super::{MemoryManager, MemoryOwner, MemorySegment};
use crate::error::{MemoryError, SegmentError};

/// A page of a [`MemoryManager`] that keeps its [`MemoryOwner`] alive: `Send + 'static`.
/// Obtain one with [`MemoryManager::allocate_owned_page`]. Reads go through `Deref` to
/// [`MemorySegment`]; typed writes through [`with_mut`](Self::with_mut).
///
/// ```
/// use std::sync::Arc;
/// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
/// let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
/// let owner = Arc::new(mm.owner("task", UseCase::Operator));
/// let mut page = mm.allocate_owned_page(&owner)?;
/// page.with_mut(|p| p.put_u64_le(0, 42))?;
/// let seen = std::thread::spawn(move || page.get_u64_le(0)).join().unwrap()?;
/// assert_eq!(seen, 42);
/// assert_eq!(owner.pages(), 0); // dropped on the other thread
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OwnedMemorySegment {
    /// Always initialised; dropped by `Drop` before `owner` (module docs: why `MaybeUninit`).
    page: MaybeUninit<MemorySegment<'static>>,
    owner: Arc<MemoryOwner>,
}

/// Extends a page's borrow of its owner to `'static`.
///
/// # Safety
/// - `page` belongs to the owner inside `owner`;
/// - the result is stored in an [`OwnedMemorySegment`] beside a clone of `owner` and never leaves
///   it by value (its `Drop` drops the page before that clone).
#[inline]
unsafe fn erase(page: MemorySegment<'_>) -> MaybeUninit<MemorySegment<'static>> {
    // SAFETY: only the lifetime changes. The borrow it extends is of the owner's state, held in
    // an `Arc` by the `MemoryOwner`, itself in the `Arc` the caller stores beside the result and
    // drops after it (duties above); so the state outlives every use of the page.
    MaybeUninit::new(unsafe { std::mem::transmute::<MemorySegment<'_>, MemorySegment<'static>>(page) })
}

impl MemoryManager {
    /// Allocates one page for `owner` that keeps the owner alive ([`OwnedMemorySegment`]): the
    /// path of [`allocate_page`](MemoryManager::allocate_page) plus an `Arc` clone.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = Arc::new(mm.owner("one", UseCase::Operator));
    /// let page = mm.allocate_owned_page(&owner)?;
    /// drop(owner); // the page keeps it
    /// assert_eq!(page.owner().pages(), 1);
    /// drop(page); // the page goes back, then the owner ends: nothing leaked
    /// assert!(mm.verify_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemoryManager::allocate_page`].
    #[inline(always)]
    pub fn allocate_owned_page(&self, owner: &Arc<MemoryOwner>) -> Result<OwnedMemorySegment, MemoryError> {
        let page = self.allocate_page(owner)?;
        // SAFETY: a page of `owner`, stored beside a clone of `owner` at once.
        Ok(OwnedMemorySegment { page: unsafe { erase(page) }, owner: Arc::clone(owner) })
    }

    /// Allocates `n` pages for `owner` that keep the owner alive, all or nothing (the bulk path
    /// of [`allocate_pages`](MemoryManager::allocate_pages), plus an `Arc` clone per page).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = Arc::new(mm.owner("bulk", UseCase::Operator));
    /// let pages = mm.allocate_owned_pages(&owner, 8)?;
    /// assert_eq!((owner.pages(), Arc::strong_count(&owner)), (8, 9));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemoryManager::allocate_pages`].
    pub fn allocate_owned_pages(
        &self,
        owner: &Arc<MemoryOwner>,
        n: usize,
    ) -> Result<Vec<OwnedMemorySegment>, MemoryError> {
        let pages = self.allocate_pages(owner, n)?;
        Ok(pages
            .into_iter()
            // SAFETY: pages of `owner`, each stored beside a clone of `owner` at once.
            .map(|page| OwnedMemorySegment { page: unsafe { erase(page) }, owner: Arc::clone(owner) })
            .collect())
    }
}

/// Shortens a page's owner lifetime to that of the borrow, for [`OwnedMemorySegment::with_mut`].
fn shorten<'x>(page: &'x mut MemorySegment<'static>) -> &'x mut MemorySegment<'x> {
    // SAFETY: the page's owner outlives `'x` (it lives as long as the `OwnedMemorySegment`, which
    // `'x` borrows). `&mut` is invariant, so this is a cast rather than a coercion; what it
    // allows is writing a `MemorySegment<'x>` into the slot, and the only such values the
    // closure of `with_mut` can obtain are pages whose owner outlives `'x` for every `'x` — that
    // is, pages of owners that live forever — because `'x` is higher-ranked there: no other
    // page can be named with it, and nothing of type `MemorySegment<'x>` can leave the closure.
    // A page swapped in from such an owner stays valid whatever `Arc` sits beside it.
    unsafe { &mut *std::ptr::from_mut(page).cast::<MemorySegment<'x>>() }
}

impl OwnedMemorySegment {
    #[inline]
    fn page(&self) -> &MemorySegment<'static> {
        // SAFETY: `page` is initialised from construction until `Drop`.
        unsafe { self.page.assume_init_ref() }
    }

    #[inline]
    fn page_mut(&mut self) -> &mut MemorySegment<'static> {
        // SAFETY: as in `page`.
        unsafe { self.page.assume_init_mut() }
    }

    /// The owner it keeps alive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = Arc::new(mm.owner("o", UseCase::Operator));
    /// assert!(Arc::ptr_eq(mm.allocate_owned_page(&owner)?.owner(), &owner));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn owner(&self) -> &Arc<MemoryOwner> {
        &self.owner
    }

    /// Runs `f` on the page mutably: every writer of [`MemorySegment`] (`put_*`, `copy_within`,
    /// `swap_bytes`, ...).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = Arc::new(mm.owner("w", UseCase::Operator));
    /// let mut page = mm.allocate_owned_page(&owner)?;
    /// page.with_mut(|p| {
    ///     p.put_i32_be(0, -7)?;
    ///     p.put_f64_le(8, 0.5)
    /// })?;
    /// assert_eq!((page.get_i32_be(0)?, page.get_f64_le(8)?), (-7, 0.5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// The page cannot be swapped with another owner's page (that would separate it from the
    /// `Arc` that keeps its owner alive):
    ///
    /// ```compile_fail,E0521
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let (a, b) = (Arc::new(mm.owner("a", UseCase::Operator)), Arc::new(mm.owner("b", UseCase::Operator)));
    /// let (mut pa, mut pb) = (mm.allocate_owned_page(&a)?, mm.allocate_owned_page(&b)?);
    /// pa.with_mut(|x| pb.with_mut(|y| std::mem::swap(x, y)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_mut<R>(&mut self, f: impl for<'x> FnOnce(&'x mut MemorySegment<'x>) -> R) -> R {
        f(shorten(self.page_mut()))
    }

    /// The whole page as mutable bytes, unless revoked (see [`MemorySegment::as_mut_slice`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = Arc::new(mm.owner("w", UseCase::Operator));
    /// let mut page = mm.allocate_owned_page(&owner)?;
    /// page.as_mut_slice()?.fill(3);
    /// assert_eq!(page.get_u8(100)?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SegmentError::Released`] after the owner's `release_all`.
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8], SegmentError> {
        self.page_mut().as_mut_slice()
    }

    /// `len` bytes at `offset`, mutably (see [`MemorySegment::slice_mut`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = Arc::new(mm.owner("w", UseCase::Operator));
    /// let mut page = mm.allocate_owned_page(&owner)?;
    /// page.slice_mut(4, 2)?.copy_from_slice(b"ok");
    /// assert_eq!(page.slice(4, 2)?, b"ok");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemorySegment::slice_mut`].
    pub fn slice_mut(&mut self, offset: usize, len: usize) -> Result<&mut [u8], SegmentError> {
        self.page_mut().slice_mut(offset, len)
    }

    /// Copies `src` into the page at `offset` (see [`MemorySegment::put_bytes`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = Arc::new(mm.owner("w", UseCase::Operator));
    /// let mut page = mm.allocate_owned_page(&owner)?;
    /// page.put_bytes(0, b"record")?;
    /// assert_eq!(page.slice(0, 6)?, b"record");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemorySegment::put_bytes`].
    pub fn put_bytes(&mut self, offset: usize, src: &[u8]) -> Result<(), SegmentError> {
        self.page_mut().put_bytes(offset, src)
    }

    /// Fills `len` bytes at `offset` from a reader (see [`MemorySegment::read_from`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = Arc::new(mm.owner("w", UseCase::Operator));
    /// let mut page = mm.allocate_owned_page(&owner)?;
    /// page.read_from(0, 3, &mut &b"abc"[..])?;
    /// assert_eq!(page.slice(0, 3)?, b"abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemorySegment::read_from`].
    pub fn read_from<R: Read + ?Sized>(&mut self, offset: usize, len: usize, input: &mut R) -> std::io::Result<()> {
        self.page_mut().read_from(offset, len, input)
    }

    /// Gives the page back now (the same as dropping it); the owner ends with it if this was its
    /// last handle.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// # let owner = Arc::new(mm.owner("w", UseCase::Operator));
    /// mm.allocate_owned_page(&owner)?.release();
    /// assert_eq!(owner.pages(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(self) {
        drop(self);
    }
}

impl Deref for OwnedMemorySegment {
    type Target = MemorySegment<'static>;

    /// The page, for reading: every `get_*`, `slice`, `compare`, `write_to`, ...
    fn deref(&self) -> &MemorySegment<'static> {
        self.page()
    }
}

impl Drop for OwnedMemorySegment {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: initialised until now, and never used again: the page goes back while
        // `self.owner` still keeps its owner alive (it drops after this).
        unsafe { self.page.assume_init_drop() };
    }
}

impl fmt::Debug for OwnedMemorySegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedMemorySegment").field(self.page()).finish()
    }
}
