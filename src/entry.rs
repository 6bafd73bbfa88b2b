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
