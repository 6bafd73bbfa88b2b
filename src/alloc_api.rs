//! [`NodeAllocator`]: an [`allocator_api2::alloc::Allocator`] over one node's segments, so that
//! `allocator_api2::vec::Vec` and `Box` contents can live on a chosen node.
//!
//! Every block is a whole segment: a request of `size` bytes with `align` alignment takes the
//! smallest segment class holding `max(size, align)` (at least 4 KiB), so this suits buffers,
//! tables and arrays, not swarms of tiny objects. Blocks come from the node asked for or not at
//! all (no remote fallback): the caller chose the node. Blocks honour `NUMASEG_ZERO` like
//! segments do (cleared on `deallocate` or on `allocate`), so a `Vec` on one node never holds
//! another user's bytes in its spare capacity.

use std::alloc::Layout;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator};

use crate::cache;
use crate::cache::CachedCore;
use crate::entry::{Entry, NodeIndex};
use crate::size_class::SizeClass;
use crate::zero::ZeroMode;

/// Allocates on one node. Obtain one from
/// [`ArenaManager::node_allocator`](crate::ArenaManager::node_allocator).
///
/// ```
/// use allocator_api2::vec::Vec;
/// use numaseg::{ArenaManager, Config};
/// let manager = ArenaManager::new(&Config::default())?;
/// let node = manager.nodes()[0];
/// let mut v: Vec<u64, _> = Vec::new_in(manager.node_allocator(node)?);
/// v.extend(0..10_000u64);
/// assert_eq!(v.iter().sum::<u64>(), 49_995_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NodeAllocator<'a> {
    core: &'a CachedCore,
    node_index: NodeIndex,
}

impl<'a> NodeAllocator<'a> {
    pub(crate) fn new(core: &'a CachedCore, node_index: NodeIndex) -> Self {
        Self { core, node_index }
    }

    /// The node every block comes from.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let node = manager.nodes()[0];
    /// assert_eq!(manager.node_allocator(node)?.node(), node);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn node(&self) -> numa::NodeId {
        self.core.node_id(self.node_index)
    }

    fn class(&self, layout: Layout) -> Option<SizeClass> {
        let class = SizeClass::for_size(layout.size().max(layout.align()).max(1))?;
        (class.size() <= self.core.max_segment_size() && layout.align() <= class.align()).then_some(class)
    }
}

// SAFETY: blocks are whole segments, owned exclusively from `allocate` to `deallocate`, valid
// for `class.size() >= layout.size()` bytes and aligned to `class.align() >= layout.align()`;
// they stay valid while the allocator (a borrow of the manager) can be used, and copies of the
// allocator free each other's blocks correctly since they name the same node.
unsafe impl Allocator for NodeAllocator<'_> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let class = self.class(layout).ok_or(AllocError)?;
        // The thread's cache (home node) or its outbox for this node, else the node directly.
        let (entry, got) = match cache::allocate_at(self.core, class, self.node_index) {
            cache::At::Got(entry) => (entry, self.node_index),
            cache::At::Home => cache::allocate(self.core, class).map_err(|_| AllocError)?,
            cache::At::Miss => self.core.allocate_direct(self.node_index, class, false).map_err(|_| AllocError)?,
        };
        if got != self.node_index {
            // The thread's cache went to another node: give it back; this allocator promises
            // its node or nothing.
            cache::free(self.core, entry, class, got);
            return Err(AllocError);
        }
        if self.core.config.zero == ZeroMode::OnAllocate {
            crate::segment::clear_entries(class, &[entry]);
        }
        let ptr = NonNull::new(entry.ptr()).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(ptr, class.size()))
    }

    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let block = self.allocate(layout)?;
        if self.core.config.zero != ZeroMode::OnAllocate {
            // SAFETY: `allocate` handed over the block, `block.len()` writable bytes.
            unsafe { crate::zero::zero_raw(block.cast::<u8>().as_ptr(), block.len()) };
        }
        Ok(block)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        let Some(class) = self.class(layout) else {
            return; // `allocate` never handed out such a block
        };
        let addr = ptr.as_ptr().addr();
        // Lock-free: the node's page-kind directory, not the region table.
        let tag =
            self.core.node(self.node_index).kind_tag_of(addr).unwrap_or(crate::entry::kind_tag(numa::PageKind::Small));
        let entry = Entry::tagged(addr, tag);
        if self.core.config.zero == ZeroMode::OnRelease {
            crate::segment::clear_entries(class, &[entry]);
        }
        cache::free(self.core, entry, class, self.node_index);
    }
}
