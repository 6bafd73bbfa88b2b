//! The entry: the currency every layer passes around. A segment's address with its page kind
//! packed into the two low bits (segments are at least 4 KiB aligned), so the lock-free
//! structures move plain `usize`s. The bottom of the allocator core: it imports nothing of ours.

use numa::PageKind;

const KIND_MASK: usize = 0b11;

/// The tag of a page kind.
#[inline]
pub(crate) const fn kind_tag(kind: PageKind) -> usize {
    match kind {
        PageKind::Huge1G => 0,
        PageKind::Huge2M => 1,
        PageKind::Thp => 2,
        PageKind::Small => 3,
    }
}

/// The page kind of a tagged entry.
#[inline]
pub(crate) const fn kind(entry: usize) -> PageKind {
    match entry & KIND_MASK {
        0 => PageKind::Huge1G,
        1 => PageKind::Huge2M,
        2 => PageKind::Thp,
        _ => PageKind::Small,
    }
}

/// The address of a tagged entry.
#[inline]
pub(crate) const fn addr(entry: usize) -> usize {
    entry & !KIND_MASK
}

/// The entry's address as a pointer. Entries are integers: the region's base pointer was
/// *exposed* when carving began (`RegionTable::carve`), and this takes that provenance back
/// (`with_exposed_provenance_mut`). Keeping entries as integers lets the lock-free structures
/// move plain `usize`s; Miri checks it with permissive provenance (`scripts/miri.sh`).
#[inline]
pub(crate) fn ptr(entry: usize) -> *mut u8 {
    std::ptr::with_exposed_provenance_mut(addr(entry))
}

/// A node's position in the core's node set (`0..nodes`): what caches, pools, outboxes and
/// handles index per-node state by. Not the kernel's [`numa::NodeId`], which
/// `Core::node_id` maps it to; two bytes, so a handle stays small.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NodeIndex(u16);

impl NodeIndex {
    /// The node at position `i` of the core's node set.
    #[inline]
    pub(crate) const fn new(i: u16) -> Self {
        Self(i)
    }

    /// The node at position `i`; a position past `u16::MAX` (never: node sets are smaller)
    /// saturates.
    #[inline]
    pub(crate) fn from_usize(i: usize) -> Self {
        Self(u16::try_from(i).unwrap_or(u16::MAX))
    }

    /// The position, to index per-node tables.
    #[inline]
    pub(crate) const fn get(self) -> usize {
        self.0 as usize
    }

    /// The raw position, for an `AtomicU16`.
    #[inline]
    pub(crate) const fn raw(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for NodeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
