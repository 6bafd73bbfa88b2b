//! The owned handles in the comparison harness: [`OwnedSegment`](crate::OwnedSegment) and
//! [`OwnedMemorySegment`](crate::OwnedMemorySegment), each an `Arc` clone and drop per pair on
//! top of the borrowed path they wrap (`NumasegSegments`, `ManagerPages`), measured in the same
//! run so the rows compare directly.

use std::sync::Arc;

use super::Contender;
use crate::manager::UseCase;
use crate::{ArenaManager, MemoryManager, MemoryOwner, OwnedMemorySegment, OwnedSegment, SizeClass};

/// `ArenaManager::allocate_owned_class` and drop.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::bench::{Contender, OwnedSegments};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let owned = OwnedSegments::new(manager, 32 << 10);
/// assert_eq!(owned.name(), "numaseg owned segments");
/// let mut block = owned.alloc();
/// // SAFETY: the block came from this contender's `alloc`.
/// unsafe { owned.touch(&mut block, 4) };
/// assert_eq!(block.as_mut_slice()[0], 4);
/// // SAFETY: as above.
/// unsafe { owned.free(block) };
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct OwnedSegments {
    manager: Arc<ArenaManager>,
    class: SizeClass,
}

impl OwnedSegments {
    /// Blocks of `size` bytes (rounded up to a size class) from `manager`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::bench::{Contender, OwnedSegments};
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let owned = OwnedSegments::new(manager, 5000); // rounded up to a size class
    /// assert!(owned.block_size() >= 5000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If `size` is not a size numaseg serves.
    #[must_use]
    pub fn new(manager: Arc<ArenaManager>, size: usize) -> Self {
        let class = SizeClass::for_size(size).unwrap_or_else(|| panic!("{size} is not a segment size"));
        Self { manager, class }
    }
}

impl Contender for OwnedSegments {
    type Block<'a> = OwnedSegment;

    fn name(&self) -> String {
        "numaseg owned segments".into()
    }

    fn block_size(&self) -> usize {
        self.class.size()
    }

    #[inline(always)]
    fn alloc(&self) -> OwnedSegment {
        match self.manager.allocate_owned_class(self.class) {
            Ok(s) => s,
            Err(e) => panic!("numaseg allocation failed in a benchmark: {e}"),
        }
    }

    #[inline(always)]
    unsafe fn touch(&self, block: &mut OwnedSegment, byte: u8) {
        block.as_mut_slice()[0] = byte;
    }

    #[inline(always)]
    unsafe fn free(&self, block: OwnedSegment) {
        drop(block);
    }
}

/// `MemoryManager::allocate_owned_page` and drop, one owner per benchmark thread.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::bench::{Contender, OwnedPages};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let pages = OwnedPages::new(manager, 4096, 16, 2);
/// let mut page = pages.alloc();
/// // SAFETY: the page came from this contender's `alloc`.
/// unsafe { pages.touch(&mut page, 6) };
/// // SAFETY: as above.
/// unsafe { pages.free(page) };
/// assert_eq!(pages.block_size(), 4096);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct OwnedPages {
    manager: MemoryManager,
    owners: Vec<Arc<MemoryOwner>>,
}

impl OwnedPages {
    /// Pages of `size` bytes, a budget of `pages` pages, `threads` owners.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::bench::{Contender, OwnedPages};
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let pages = OwnedPages::new(manager, 8192, 4, 1);
    /// assert_eq!(pages.block_size(), 8192);
    /// let held: Vec<_> = (0..4).map(|_| pages.alloc()).collect(); // the whole budget at once
    /// for p in held {
    ///     // SAFETY: each page came from this contender's `alloc`.
    ///     unsafe { pages.free(p) };
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the memory manager cannot be built with that page size and budget.
    #[must_use]
    pub fn new(arena: Arc<ArenaManager>, size: usize, pages: usize, threads: usize) -> Self {
        let manager = MemoryManager::builder(arena)
            .page_size(size)
            .memory_size(size * pages)
            .build()
            .unwrap_or_else(|e| panic!("memory manager for a benchmark: {e}"));
        let owners =
            (0..threads.max(2)).map(|t| Arc::new(manager.owner(&format!("owned-{t}"), UseCase::Operator))).collect();
        Self { manager, owners }
    }
}

impl Contender for OwnedPages {
    type Block<'a> = OwnedMemorySegment;

    fn name(&self) -> String {
        "numaseg owned MemoryManager pages".into()
    }

    fn block_size(&self) -> usize {
        self.manager.page_size()
    }

    #[inline(always)]
    fn alloc(&self) -> OwnedMemorySegment {
        let owner = &self.owners[super::workloads::thread_index() % self.owners.len()];
        match self.manager.allocate_owned_page(owner) {
            Ok(page) => page,
            Err(e) => panic!("memory manager page in a benchmark: {e}"),
        }
    }

    #[inline(always)]
    unsafe fn touch(&self, block: &mut OwnedMemorySegment, byte: u8) {
        if let Err(e) = block.with_mut(|p| p.put_u8(0, byte)) {
            panic!("{e}");
        }
    }

    #[inline(always)]
    unsafe fn free(&self, block: OwnedMemorySegment) {
        drop(block);
    }
}
