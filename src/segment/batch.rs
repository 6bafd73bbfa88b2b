//! [`SegmentBatch`]: many segments of one size class on one node, owned together and moved in
//! and out of the thread cache with slice copies — the bulk API.
//!
//! A batch holds tagged entries (8 bytes each), not handles, so allocating or releasing 32
//! segments is a copy of 256 bytes plus bookkeeping. It owns every entry it holds exactly like
//! [`Segment`] owns one: the memory is reachable only through the batch's borrows, and it all
//! goes back when the batch is released or dropped.

use std::fmt;

use super::Segment;
use crate::cache::CachedCore;
use crate::entry::{Entry, NodeIndex};
use crate::size_class::SizeClass;

/// Segments of one size class on one node, owned together. Obtain one from
/// [`ArenaManager::new_batch`](crate::ArenaManager::new_batch) and fill it with
/// [`ArenaManager::allocate_bulk`](crate::ArenaManager::allocate_bulk).
///
/// ```
/// use numaseg::{ArenaManager, Config};
/// let manager = ArenaManager::new(&Config::default())?;
/// let mut batch = manager.new_batch();
/// manager.allocate_bulk(32 << 10, 32, &mut batch)?;
/// for block in batch.iter_mut() {
///     block[0] = 1;
/// }
/// assert_eq!(batch.len(), 32);
/// batch.release(); // all 32 back in one call; the batch keeps its capacity
/// assert!(batch.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SegmentBatch<'a> {
    core: &'a CachedCore,
    class: SizeClass,
    node_index: NodeIndex,
    entries: Vec<Entry>,
}

impl<'a> SegmentBatch<'a> {
    pub(crate) fn new(core: &'a CachedCore) -> Self {
        Self {
            core,
            class: SizeClass::for_size(1).unwrap_or_else(|| unreachable!()),
            node_index: NodeIndex::new(0),
            entries: Vec::new(),
        }
    }

    /// The class and node of the entries, and the entries, for the allocator.
    pub(crate) fn parts_mut(&mut self) -> (&'a CachedCore, &mut SizeClass, &mut NodeIndex, &mut Vec<Entry>) {
        (self.core, &mut self.class, &mut self.node_index, &mut self.entries)
    }

    /// The manager's state this batch belongs to.
    pub(crate) fn core(&self) -> &'a CachedCore {
        self.core
    }

    /// Segments held.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut batch = manager.new_batch();
    /// assert_eq!(batch.len(), 0);
    /// manager.allocate_bulk(4096, 8, &mut batch)?;
    /// assert_eq!(batch.len(), 8);
    /// drop(batch.pop());
    /// assert_eq!(batch.len(), 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the batch holds none.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut batch = manager.new_batch();
    /// assert!(batch.is_empty());
    /// manager.allocate_bulk(4096, 2, &mut batch)?;
    /// assert!(!batch.is_empty());
    /// batch.release();
    /// assert!(batch.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The size of each segment (meaningful once the batch holds any).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut batch = manager.new_batch();
    /// manager.allocate_bulk(5000, 2, &mut batch)?; // rounded up to 8 KiB
    /// assert_eq!(batch.segment_size(), 8192);
    /// assert_eq!(batch.get(1).map(<[u8]>::len), Some(8192));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn segment_size(&self) -> usize {
        self.class.size()
    }

    /// The node of every segment (meaningful once the batch holds any).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?;
    /// manager.set_thread_node(NodeId::new(1))?; // bulks come from the calling thread's node
    /// let mut batch = manager.new_batch();
    /// manager.allocate_bulk(4096, 4, &mut batch)?;
    /// assert_eq!(batch.node(), NodeId::new(1));
    /// assert_eq!(batch.pop().map(|s| s.node()), Some(NodeId::new(1)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn node(&self) -> numa::NodeId {
        self.core.node_id(self.node_index)
    }

    /// The memory of segment `i`.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut batch = manager.new_batch();
    /// manager.allocate_bulk(4096, 4, &mut batch)?;
    /// assert_eq!(batch.get(3).map(<[u8]>::len), Some(4096));
    /// assert!(batch.get(4).is_none()); // past the end
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let entry = *self.entries.get(i)?;
        // SAFETY: the batch owns the segment exclusively while it holds the entry; the borrow
        // of `self` keeps the slice from outliving that.
        Some(unsafe { std::slice::from_raw_parts(entry.ptr().cast_const(), self.class.size()) })
    }

    /// The memory of segment `i`, mutably.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut batch = manager.new_batch();
    /// manager.allocate_bulk(4096, 2, &mut batch)?;
    /// batch.get_mut(1).ok_or("no segment 1")?[..3].copy_from_slice(b"abc");
    /// assert_eq!(batch.get(1).map(|b| &b[..3]), Some(&b"abc"[..]));
    /// assert!(batch.get_mut(2).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let entry = *self.entries.get(i)?;
        // SAFETY: as in `get`, and `&mut self` makes this the only view.
        Some(unsafe { std::slice::from_raw_parts_mut(entry.ptr(), self.class.size()) })
    }

    /// The colour offset of segment `i` (see
    /// [`Segment::colour_offset`](crate::Segment::colour_offset)).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut batch = manager.new_batch();
    /// manager.allocate_bulk(32 << 10, 4, &mut batch)?;
    /// let offsets: Vec<usize> = (0..4).filter_map(|i| batch.colour_offset(i)).collect();
    /// assert_eq!(offsets.len(), 4);
    /// assert!(offsets.iter().all(|&o| o % 64 == 0 && o < 4096));
    /// assert!(batch.colour_offset(4).is_none());
    /// // The same offset the segment has as its own handle.
    /// let last = batch.colour_offset(3);
    /// assert_eq!(batch.pop().map(|s| s.colour_offset()), last);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn colour_offset(&self, i: usize) -> Option<usize> {
        self.entries.get(i).map(|&e| super::colour(e.addr(), self.class.size()))
    }

    /// Every segment's memory, mutably (distinct segments never overlap).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut batch = manager.new_batch();
    /// manager.allocate_bulk(4096, 3, &mut batch)?;
    /// for (i, block) in batch.iter_mut().enumerate() {
    ///     assert_eq!(block.len(), 4096);
    ///     block.fill(i as u8 + 1);
    /// }
    /// assert_eq!(batch.iter_mut().count(), 3);
    /// for i in 0..3 {
    ///     assert!(batch.get(i).is_some_and(|b| b.iter().all(|&x| usize::from(x) == i + 1)));
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut [u8]> + '_ {
        let size = self.class.size();
        self.entries.iter().map(move |&entry| {
            // SAFETY: each entry is a distinct segment the batch owns exclusively, so the slices
            // are disjoint; `&mut self` keeps them from outliving the batch's ownership.
            unsafe { std::slice::from_raw_parts_mut(entry.ptr(), size) }
        })
    }

    /// Takes the last segment out as its own handle.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut batch = manager.new_batch();
    /// manager.allocate_bulk(8192, 2, &mut batch)?;
    /// batch.get_mut(1).ok_or("no segment 1")?[0] = 9;
    /// let segment = batch.pop().ok_or("empty")?;
    /// assert_eq!((segment.len(), segment.as_slice()[0]), (8192, 9)); // the last one
    /// assert_eq!(batch.len(), 1);
    /// assert!(batch.pop().is_some() && batch.pop().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pop(&mut self) -> Option<Segment<'a>> {
        let entry = self.entries.pop()?;
        // SAFETY: the batch owned the entry exclusively and gives it up here.
        Some(unsafe { Segment::from_entry(self.core, entry, self.class, self.node_index) })
    }

    /// Gives every segment back now, in one call. The batch keeps its capacity for reuse.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut batch = manager.new_batch();
    /// manager.allocate_bulk(4096, 16, &mut batch)?;
    /// assert_eq!(manager.stats().used_segments(), 16);
    /// batch.release();
    /// assert!(batch.is_empty());
    /// assert_eq!(manager.stats().used_segments(), 0);
    /// manager.allocate_bulk(4096, 16, &mut batch)?; // reused
    /// assert_eq!(batch.len(), 16);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(&mut self) {
        if !self.entries.is_empty() {
            if self.core.config.zero == crate::zero::ZeroMode::OnRelease {
                super::clear_entries(self.class, &self.entries);
            }
            crate::cache::free_batch(self.core, self.class, self.node_index, &self.entries);
            self.entries.clear();
        }
    }
}

impl Drop for SegmentBatch<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

impl fmt::Debug for SegmentBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegmentBatch")
            .field("len", &self.entries.len())
            .field("segment_size", &self.class.size())
            .field("node", &self.node())
            .finish()
    }
}
