//! The entry: the currency every layer passes around. A segment's address with its page kind
//! packed into the two low bits (segments are at least 4 KiB aligned), so the lock-free
//! structures move one plain word ([`Entry`]); and [`NodeIndex`], the position of a node in the
//! core's node set, by which every per-node table is indexed. The bottom of the allocator core:
//! it imports nothing of ours.

use numa::PageKind;

const KIND_MASK: usize = 0b11;

/// Every segment lies below `2^ADDRESS_BITS`: user-space addresses on x86-64 (4-level paging,
/// and 5-level paging for every mapping made without a hint above 2^47, as ours are) and on
/// aarch64 with 48-bit (or, without such a hint, 52-bit) virtual addresses. `NodeCore::map_region`
/// refuses a region that ends above it, so the bits above are free: a `Segment` handle keeps
/// its node index there.
pub(crate) const ADDRESS_BITS: u32 = 48;

/// The first address a segment may not reach (see [`ADDRESS_BITS`]).
pub(crate) const ADDRESS_LIMIT: usize = 1 << ADDRESS_BITS;

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

/// A segment's address with its page kind's tag in the two low bits: how segments travel
/// through caches, deques, outboxes and pools. One machine word (`repr(transparent)`), so the
/// lock-free structures move it as they would a `usize`.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Entry(usize);

impl Entry {
    /// A placeholder for the slots of a stack above its top: never a segment, never read.
    pub(crate) const VACANT: Self = Self(0);

    /// Encodes the segment at `addr` (at least 4 KiB aligned) with the tag of its region's page
    /// kind ([`kind_tag`], taken once per region by the carver).
    #[inline]
    pub(crate) const fn tagged(addr: usize, tag: usize) -> Self {
        debug_assert!(addr & KIND_MASK == 0 && tag <= KIND_MASK);
        Self(addr | tag)
    }

    /// A stack of `n` [`VACANT`](Entry::VACANT) slots, for a thread cache's class. Cold and out
    /// of line (filling it is a loop where `vec![0usize; n]` was one zeroed allocation), so
    /// the paths that first touch a class keep the code they had.
    #[cold]
    #[inline(never)]
    pub(crate) fn vacant_stack(n: usize) -> Box<[Self]> {
        vec![Self::VACANT; n].into_boxed_slice()
    }

    /// The encoded word, for a handle that keeps it in a `NonZeroUsize`.
    #[inline]
    pub(crate) const fn to_bits(self) -> usize {
        self.0
    }

    /// The entry of an encoded word that [`Entry::to_bits`] gave.
    #[inline]
    pub(crate) const fn from_bits(bits: usize) -> Self {
        Self(bits)
    }

    /// The page kind of the entry's region.
    #[inline]
    pub(crate) const fn kind(self) -> PageKind {
        match self.0 & KIND_MASK {
            0 => PageKind::Huge1G,
            1 => PageKind::Huge2M,
            2 => PageKind::Thp,
            _ => PageKind::Small,
        }
    }

    /// The segment's address.
    #[inline]
    pub(crate) const fn addr(self) -> usize {
        self.0 & !KIND_MASK
    }

    /// The segment's address as a pointer. Entries are integers: the region's base pointer was
    /// *exposed* when carving began (`RegionTable::carve`), and this takes that provenance back
    /// (`with_exposed_provenance_mut`). Keeping entries as integers lets the lock-free structures
    /// move plain words; Miri checks it with permissive provenance (`scripts/miri.sh`).
    #[inline]
    pub(crate) fn ptr(self) -> *mut u8 {
        std::ptr::with_exposed_provenance_mut(self.addr())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_gives_back_the_address_and_kind_it_was_made_of() {
        let addr = 0x7f12_3456_7000;
        for kind in [PageKind::Huge1G, PageKind::Huge2M, PageKind::Thp, PageKind::Small] {
            let entry = Entry::tagged(addr, kind_tag(kind));
            assert_eq!((entry.addr(), entry.kind()), (addr, kind));
            assert_eq!(Entry::from_bits(entry.to_bits()), entry);
        }
        assert_eq!(std::mem::size_of::<Entry>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn a_node_index_saturates_instead_of_wrapping() {
        assert_eq!(NodeIndex::from_usize(3).get(), 3);
        assert_eq!(NodeIndex::from_usize(70_000).raw(), u16::MAX);
    }
}
