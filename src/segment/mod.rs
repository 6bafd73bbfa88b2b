//! [`Segment`]: the owned handle to one node-local block, and who may touch it until when.
//!
//! A segment is a power-of-two block (4 KiB up to the region size) carved from a region of one
//! node, aligned to its size up to 2 MiB. The handle is the only way to reach its memory: it is
//! `Send`, not `Clone`, borrows the [`ArenaManager`](crate::ArenaManager) it came from (so the
//! manager, and with it the regions, outlive every handle), and gives its memory back exactly
//! once — when dropped or [released](Segment::release). The slices it lends borrow the handle,
//! so no safe code can reach the memory after it went back.
//!
//! Isolation (`NUMASEG_ZERO`, see [`crate::zero`]): under `on-release` the handle clears its
//! memory before giving it back (the drop's one extra branch when off); `clear_entries` is what
//! every handle, batch and façade path calls to clear.
//!
//! Inside caches and pools a segment travels as a *tagged entry*: its address with the page kind
//! of its region in the two low bits (addresses are at least 4 KiB aligned), see `crate::entry`.

mod batch;
pub(crate) mod handles;

pub use batch::SegmentBatch;

use std::fmt;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use numa::{NodeId, PageKind};

use crate::cache::CachedCore;
use crate::entry::{Entry, NodeIndex};
use crate::size_class::SizeClass;
use crate::zero::ZeroMode;

/// Cache lines a colour offset spreads over.
const COLOURS: usize = 64;

/// The colour offset of the block at `addr` of `size` bytes (a power of two, the block aligned
/// to it): its slot number modulo [`COLOURS`], in cache lines, kept below the block's size. The
/// benchmarks colour their peers' blocks with it too.
#[inline]
pub(crate) fn colour(addr: usize, size: usize) -> usize {
    let lines = (size.min(4096) / 64).clamp(1, COLOURS);
    ((addr >> size.trailing_zeros()) % lines) * 64
}

/// Clears the memory of segments of `class` (isolation, see [`crate::zero`]).
///
/// Kept out of line: the hot paths only test the mode and call this when it is on.
#[cold]
#[inline(never)]
pub(crate) fn clear_entries(class: SizeClass, entries: &[Entry]) {
    for &e in entries {
        // SAFETY: each entry is a segment of `class` its caller owns exclusively (a handle,
        // a batch, or entries just taken from or about to go back to the cache): `class.size()`
        // writable bytes no one else touches now.
        unsafe { crate::zero::zero_raw(e.ptr(), class.size()) };
    }
}

/// Clears one segment and gives it back (isolation on release).
#[cold]
#[inline(never)]
fn clear_and_free(core: &CachedCore, entry: Entry, meta: SegmentMeta) {
    clear_entries(meta.class, &[entry]);
    crate::cache::free(core, entry, meta.class, meta.node);
}

/// What a segment is, besides its entry: class and node (as an index in the manager's node set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentMeta {
    pub(crate) class: SizeClass,
    pub(crate) node: NodeIndex,
}

/// An owned, node-local block of memory.
///
/// A power-of-two block (4 KiB up to the region size) carved from a region of one node, aligned
/// to its size up to 2 MiB. The handle is the only way to reach its memory: it is `Send`, not
/// `Clone`, borrows the [`ArenaManager`](crate::ArenaManager) it came from (so the manager, and
/// with it the regions, outlive every handle), and gives its memory back exactly once — when
/// dropped or [released](Segment::release). The slices it lends borrow the handle, so no safe
/// code can reach the memory after it went back.
///
/// ```
/// use numaseg::{ArenaManager, Config};
/// let manager = ArenaManager::new(&Config::default())?;
/// let mut segment = manager.allocate(32 << 10)?;
/// segment.as_mut_slice()[0] = 42;
/// assert_eq!(segment.len(), 32 << 10);
/// assert_eq!(segment.as_slice()[0], 42);
/// assert_eq!(segment.as_ptr() as usize % (32 << 10), 0); // aligned to its size
/// segment.release(); // or just drop it
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Segment<'a> {
    /// The tagged entry with the segment's class and node index packed into bits it leaves
    /// zero (see [`Packed`]). Never zero (addresses are real mappings).
    bits: NonZeroUsize,
    core: &'a CachedCore,
}

/// How a [`Segment`] packs its entry, class and node index into one word, so that the handle is
/// two words (16 bytes, as is `Option<Segment>`) and a hand-off ring moves a third less:
///
/// | bits | holds |
/// |---|---|
/// | 0–1 | the entry's page-kind tag |
/// | 2–6 | the size-class index (below `MAX_CLASSES` = 19 < 32) |
/// | 7–47 | the rest of the entry (addresses are at least 4 KiB aligned, so its bits 2–11 are zero) |
/// | 48–63 | the node index (below `numa::MAX_NODES` = 1024 ≤ 2^16) |
///
/// Entries stay below `2^48` because `NodeCore::map_region` refuses a region that would reach
/// it (see `entry::ADDRESS_BITS`). The packed word never leaves the handle: it is decoded back
/// into an [`Entry`] whenever one goes to the cache, so the entry, and with it the exposed
/// provenance `Entry::ptr` takes back, is unchanged.
struct Packed;

impl Packed {
    const CLASS_SHIFT: u32 = 2;
    const CLASS_BITS: usize = 0x1f;
    const NODE_SHIFT: u32 = crate::entry::ADDRESS_BITS;
    /// The bits of the entry: everything but class and node.
    const ENTRY: usize = (crate::entry::ADDRESS_LIMIT - 1) & !(Self::CLASS_BITS << Self::CLASS_SHIFT);

    /// # Safety
    /// `entry` is a carved entry (see `Segment::from_entry`).
    #[inline]
    unsafe fn pack(entry: Entry, class: SizeClass, node_index: NodeIndex) -> usize {
        // SAFETY: a carved entry is below `ADDRESS_LIMIT` (`map_region` refuses regions that
        // reach it) and 4 KiB aligned, so its class and node bits are zero (`from_entry`'s
        // contract). Told to the compiler, a handle built and dropped in one function unpacks
        // to what it packed without masking.
        unsafe { std::hint::assert_unchecked(entry.to_bits() & !Self::ENTRY == 0) };
        entry.to_bits() | (class.index() << Self::CLASS_SHIFT) | (node_index.get() << Self::NODE_SHIFT)
    }

    #[inline]
    const fn entry(bits: usize) -> Entry {
        Entry::from_bits(bits & Self::ENTRY)
    }

    #[inline]
    const fn class(bits: usize) -> SizeClass {
        // SAFETY: `pack` stored a class's index here, below MAX_CLASSES.
        unsafe { SizeClass::from_index_unchecked((bits >> Self::CLASS_SHIFT) & Self::CLASS_BITS) }
    }

    #[inline]
    const fn node(bits: usize) -> NodeIndex {
        #[expect(clippy::cast_possible_truncation, reason = "the 16 bits above NODE_SHIFT")]
        NodeIndex::new((bits >> Self::NODE_SHIFT) as u16)
    }

    /// The class and node bits, to compare two handles' metadata in one step.
    #[inline]
    const fn meta_bits(bits: usize) -> usize {
        bits & !Self::ENTRY
    }
}

const _: () = assert!(crate::size_class::MAX_CLASSES <= Packed::CLASS_BITS + 1);
const _: () = assert!(
    ((Packed::CLASS_BITS << Packed::CLASS_SHIFT) | 0b11) & crate::size_class::MIN_SEGMENT_SIZE.wrapping_neg() == 0,
    "class and kind tag fit below the smallest segment's alignment"
);
const _: () = assert!(numa::MAX_NODES <= 1 << (usize::BITS - Packed::NODE_SHIFT), "every node index fits");
const _: () = assert!(std::mem::size_of::<Segment<'static>>() == 16);
const _: () = assert!(std::mem::size_of::<Option<Segment<'static>>>() == 16);

impl<'a> Segment<'a> {
    /// Builds a handle for a segment entry that the caller owns exclusively.
    ///
    /// # Safety
    /// - `entry` is a tagged entry of a segment of `class` on `core`'s node `node_index`, carved and
    ///   not given back (so below `entry::ADDRESS_LIMIT`, see [`Packed`]);
    /// - nothing else (cache, pool, other handle) holds it; the handle becomes its only owner.
    #[inline]
    pub(crate) unsafe fn from_entry(
        core: &'a CachedCore,
        entry: Entry,
        class: SizeClass,
        node_index: NodeIndex,
    ) -> Self {
        // SAFETY: the caller passes a carved entry (`pack`'s contract).
        let bits = unsafe { Packed::pack(entry, class, node_index) };
        // SAFETY: segment addresses are never null (regions are real mappings), so neither is
        // the entry, nor the word that adds class and node to it.
        let bits = unsafe { NonZeroUsize::new_unchecked(bits) };
        Self { bits, core }
    }

    /// The tagged entry this handle owns.
    #[inline]
    pub(crate) fn entry(&self) -> Entry {
        Packed::entry(self.bits.get())
    }

    /// Class and node.
    #[inline]
    pub(crate) fn meta(&self) -> SegmentMeta {
        SegmentMeta { class: self.class(), node: self.node_index() }
    }

    #[inline]
    fn class(&self) -> SizeClass {
        Packed::class(self.bits.get())
    }

    #[inline]
    fn node_index(&self) -> NodeIndex {
        Packed::node(self.bits.get())
    }

    #[inline]
    fn ptr(&self) -> NonNull<u8> {
        // SAFETY: the address part of a non-zero entry is a real, non-null mapping address.
        unsafe { NonNull::new_unchecked(self.entry().ptr()) }
    }

    /// The manager's shared state this segment belongs to.
    pub(crate) fn core(&self) -> &'a CachedCore {
        self.core
    }

    /// Size in bytes (a power of two from 4 KiB).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// assert_eq!(manager.allocate(1)?.len(), 4096);
    /// assert_eq!(manager.allocate(5000)?.len(), 8192);
    /// assert_eq!(manager.allocate(64 << 10)?.len(), 64 << 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.class().size()
    }

    /// Always false: segments are never empty.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let segment = manager.allocate(1)?;
    /// assert!(!segment.is_empty());
    /// assert!(!segment.as_slice().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The size class.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, SizeClass};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let segment = manager.allocate(20_000)?;
    /// assert_eq!(segment.size_class(), SizeClass::for_size(32 << 10).ok_or("no class")?);
    /// assert_eq!(segment.size_class().index(), 3);
    /// assert_eq!(segment.size_class().size(), segment.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn size_class(&self) -> SizeClass {
        self.class()
    }

    /// The NUMA node the segment's memory is bound to.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?;
    /// assert_eq!(manager.allocate(4096)?.node(), manager.thread_node());
    /// assert_eq!(manager.allocate_on(NodeId::new(1), 4096)?.node(), NodeId::new(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.core.node_id(self.node_index())
    }

    /// The page kind of the region it was carved from.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config};
    /// use numaseg::numa::{PageKind, PagePolicy, Topology, sys::heap::HeapSource};
    /// let config = Config::builder().huge_pages(PagePolicy::Only(PageKind::Small)).build_from::<_, &str, &str>([])?;
    /// let manager = ArenaManager::with_source(&config, Topology::pretend(1, 64 << 30), Arc::new(HeapSource::new()))?;
    /// let segment = manager.allocate(4096)?;
    /// assert_eq!(segment.page_kind(), PageKind::Small);
    /// assert_eq!(manager.stats().nodes[0].regions_small, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn page_kind(&self) -> PageKind {
        self.entry().kind()
    }

    /// Where to put a header or the first write: an offset, a multiple of 64 bytes below
    /// `min(len, 4 KiB)`, that differs between neighbouring segments.
    ///
    /// Segments are aligned to their size, so their first bytes all fall into the same few
    /// cache sets: code that touches the start of many segments in a row (a batch of buffers,
    /// a header per block) then thrashes those sets. Writing at the colour offset instead
    /// spreads them over 64 sets, keeping the alignment guarantee (colouring, as DPDK's mempool
    /// pads objects). On the development VM it takes a bulk allocation of 32 blocks of 32 KiB,
    /// each touched, from 3.3 to 2.1 ns per block and, when the VM's last-level cache was slow,
    /// a one-at-a-time hand-off of 32 KiB segments between two threads from 15–24 to 77–126
    /// million per second; see `docs/SERVICE.md` (*Where to write a header*) and
    /// `docs/BENCHMARKS.md`.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::new(&Config::default())?;
    /// let a = manager.allocate(32 << 10)?;
    /// let b = manager.allocate(32 << 10)?;
    /// assert!(a.colour_offset() % 64 == 0 && a.colour_offset() < 4096);
    /// assert_ne!(a.colour_offset(), b.colour_offset()); // neighbours differ
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn colour_offset(&self) -> usize {
        colour(self.entry().addr(), self.class().size())
    }

    /// The first byte. Valid for [`Segment::len`] bytes while the handle lives.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let segment = manager.allocate(64 << 10)?;
    /// assert_eq!(segment.as_ptr() as usize % (64 << 10), 0); // aligned to its size
    /// assert_eq!(segment.as_ptr().cast_const(), segment.as_slice().as_ptr());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr().as_ptr()
    }

    /// The memory as bytes.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, zero::ZeroMode};
    /// // With isolation on allocation, every segment handed out reads as zeros.
    /// let config = Config::builder().zero(ZeroMode::OnAllocate).build_from::<_, &str, &str>([])?;
    /// let manager = ArenaManager::heap_backed(&config, 1)?;
    /// let mut segment = manager.allocate(4096)?;
    /// assert_eq!(segment.as_slice().len(), 4096);
    /// segment.as_mut_slice().fill(0xff);
    /// assert!(segment.as_slice().iter().all(|&b| b == 0xff));
    /// let first = segment.as_ptr();
    /// drop(segment);
    /// let again = manager.allocate(4096)?; // the same block, from this thread's cache, cleared
    /// assert_eq!(again.as_ptr(), first);
    /// assert!(again.as_slice().iter().all(|&b| b == 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the handle owns `len` bytes at `ptr` exclusively until it is dropped, and the
        // borrow of `self` keeps the slice from outliving it.
        unsafe { std::slice::from_raw_parts(self.ptr().as_ptr(), self.len()) }
    }

    /// The memory as mutable bytes.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut segment = manager.allocate(8192)?;
    /// let bytes = segment.as_mut_slice();
    /// assert_eq!(bytes.len(), 8192);
    /// bytes[..5].copy_from_slice(b"hello");
    /// bytes[8191] = 7;
    /// assert_eq!(&segment.as_slice()[..5], b"hello");
    /// assert_eq!(segment.as_slice()[8191], 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.ptr().as_ptr(), self.len()) }
    }

    /// Gives the segment back now (the same as dropping it).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let segment = manager.allocate(4096)?;
    /// assert_eq!(manager.stats().used_segments(), 1);
    /// segment.release();
    /// assert_eq!(manager.stats().used_segments(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn release(self) {
        drop(self);
    }

    /// Gives up the handle without giving the memory back, returning the parts needed to
    /// rebuild it. For pools that keep segments in their own structures.
    #[must_use]
    pub(crate) fn into_raw(self) -> RawSegment {
        let raw = RawSegment { entry: self.entry(), meta: self.meta() };
        std::mem::forget(self);
        raw
    }
}

impl Drop for Segment<'_> {
    #[inline]
    fn drop(&mut self) {
        // Isolation (`NUMASEG_ZERO=on-release`): the one branch this mode adds to the pair.
        if self.core.config.zero == ZeroMode::OnRelease {
            // A tail call: nothing of the handle is live after it, so the fast path keeps its
            // registers.
            clear_and_free(self.core, self.entry(), self.meta());
            return;
        }
        crate::cache::free(self.core, self.entry(), self.class(), self.node_index());
    }
}

impl fmt::Debug for Segment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("ptr", &self.ptr())
            .field("len", &self.len())
            .field("node", &self.node())
            .field("page_kind", &self.page_kind())
            .finish()
    }
}

impl AsRef<[u8]> for Segment<'_> {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsMut<[u8]> for Segment<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

/// A segment taken out of its handle: still owned (never freed twice, never lost), but with no
/// borrow of its manager. Only crate code that keeps the manager alive by other means holds one,
/// and turns it back into a [`Segment`] (or frees it) with `unsafe`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RawSegment {
    pub(crate) entry: Entry,
    pub(crate) meta: SegmentMeta,
}

#[allow(dead_code, reason = "used by the memory manager and buffer pools")]
impl RawSegment {
    /// The first byte.
    pub(crate) fn addr(&self) -> usize {
        self.entry.addr()
    }

    /// Size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.meta.class.size()
    }

    /// Rebuilds the handle (to use it, or to give it back by dropping it).
    ///
    /// # Safety
    /// `core` is the manager this segment came from, and it is alive for `'a`.
    pub(crate) unsafe fn into_segment<'a>(self, core: &'a CachedCore) -> Segment<'a> {
        // SAFETY: the caller names the right, live manager; `self` owned the entry exclusively
        // and is consumed here, so the new handle is its only owner.
        unsafe { Segment::from_entry(core, self.entry, self.meta.class, self.meta.node) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size_class::MAX_CLASSES;

    #[test]
    fn a_handle_is_two_words_and_an_option_of_one_costs_nothing() {
        assert_eq!(std::mem::size_of::<Segment<'_>>(), 16);
        assert_eq!(std::mem::size_of::<Option<Segment<'_>>>(), 16);
    }

    #[test]
    fn the_packed_word_gives_back_entry_class_and_node_at_every_edge() {
        let kinds = [PageKind::Huge1G, PageKind::Huge2M, PageKind::Thp, PageKind::Small];
        let addrs = [0x1000, 0x7f12_3456_7000, crate::entry::ADDRESS_LIMIT - 4096];
        let nodes = [0, 1, 255, 256, numa::MAX_NODES - 1, usize::from(u16::MAX)];
        for addr in addrs {
            for kind in kinds {
                let entry = Entry::tagged(addr, crate::entry::kind_tag(kind));
                for class in (0..MAX_CLASSES).filter_map(SizeClass::from_index) {
                    for &node in &nodes {
                        let node = NodeIndex::from_usize(node);
                        // SAFETY: the entry is below ADDRESS_LIMIT and 4 KiB aligned.
                        let bits = unsafe { Packed::pack(entry, class, node) };
                        assert_eq!(
                            (Packed::entry(bits), Packed::class(bits), Packed::node(bits)),
                            (entry, class, node),
                            "{addr:#x} {kind:?} {class:?} {node}"
                        );
                        assert_eq!(Packed::entry(bits).ptr() as usize, addr);
                        assert_eq!(Packed::meta_bits(bits), bits ^ entry.to_bits());
                    }
                }
            }
        }
    }
}
