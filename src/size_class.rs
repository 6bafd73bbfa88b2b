//! Size classes: every segment size is a power of two from 4 KiB ([`MIN_SEGMENT_SIZE`]) up to the
//! region size (at most 1 GiB). Class `i` holds segments of `4 KiB << i`. Pure functions only.

/// The smallest segment: one base page.
///
/// ```
/// use numaseg::{MIN_SEGMENT_SIZE, SizeClass};
/// assert_eq!(MIN_SEGMENT_SIZE, 4096);
/// assert_eq!(SizeClass::for_size(1).map(SizeClass::size), Some(MIN_SEGMENT_SIZE));
/// assert_eq!(SizeClass::from_index(0).map(SizeClass::size), Some(MIN_SEGMENT_SIZE));
/// ```
pub const MIN_SEGMENT_SIZE: usize = 4096;
/// log2 of [`MIN_SEGMENT_SIZE`].
const MIN_SHIFT: u32 = MIN_SEGMENT_SIZE.trailing_zeros();
/// Classes from 4 KiB to 1 GiB, the largest region size.
///
/// ```
/// use numaseg::{MAX_CLASSES, SizeClass};
/// assert_eq!(MAX_CLASSES, 19);
/// assert_eq!(SizeClass::from_index(MAX_CLASSES - 1).map(SizeClass::size), Some(1 << 30));
/// assert!(SizeClass::from_index(MAX_CLASSES).is_none());
/// ```
pub const MAX_CLASSES: usize = 19;

/// A segment size, by class index. `Copy`, one byte.
///
/// ```
/// use numaseg::SizeClass;
/// let c = SizeClass::for_size(20_000).unwrap();
/// assert_eq!(c.size(), 32 << 10);
/// assert_eq!(SizeClass::for_size(4096).unwrap().size(), 4096);
/// assert_eq!(SizeClass::for_size(1).unwrap().size(), 4096);
/// assert!(SizeClass::for_size(0).is_none());
/// assert!(SizeClass::for_size((1 << 30) + 1).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SizeClass(u8);

impl SizeClass {
    /// The class that holds `size` bytes: the next power of two, at least 4 KiB. `None` for 0
    /// and for sizes above 1 GiB.
    ///
    /// ```
    /// use numaseg::SizeClass;
    /// assert_eq!(SizeClass::for_size(4097).map(SizeClass::size), Some(8192));
    /// assert_eq!(SizeClass::for_size(100_000).map(SizeClass::size), Some(128 << 10));
    /// assert_eq!(SizeClass::for_size(1 << 30).map(SizeClass::size), Some(1 << 30));
    /// assert!(SizeClass::for_size(0).is_none());
    /// assert!(SizeClass::for_size((1 << 30) + 1).is_none());
    /// ```
    #[inline]
    #[must_use]
    pub const fn for_size(size: usize) -> Option<Self> {
        if size == 0 || size > MIN_SEGMENT_SIZE << (MAX_CLASSES - 1) {
            return None;
        }
        if size <= MIN_SEGMENT_SIZE {
            return Some(Self(0));
        }
        let bits = usize::BITS - (size - 1).leading_zeros();
        #[expect(clippy::cast_possible_truncation, reason = "bits - MIN_SHIFT < MAX_CLASSES < 256")]
        Some(Self((bits - MIN_SHIFT) as u8))
    }

    /// The class with this index, if below [`MAX_CLASSES`].
    ///
    /// ```
    /// use numaseg::{MAX_CLASSES, SizeClass};
    /// assert_eq!(SizeClass::from_index(3).map(SizeClass::size), Some(32 << 10));
    /// assert_eq!(SizeClass::from_index(3), SizeClass::for_size(32 << 10));
    /// assert!(SizeClass::from_index(MAX_CLASSES).is_none());
    /// ```
    #[must_use]
    pub const fn from_index(index: usize) -> Option<Self> {
        if index < MAX_CLASSES {
            #[expect(clippy::cast_possible_truncation, reason = "index < MAX_CLASSES < 256")]
            Some(Self(index as u8))
        } else {
            None
        }
    }

    /// The class with this index, unchecked: for a handle that packed a class's index and
    /// unpacks it.
    ///
    /// # Safety
    /// `index` is below [`MAX_CLASSES`] (every other constructor keeps it so, and
    /// [`SizeClass::index`] tells the compiler).
    #[inline]
    pub(crate) const unsafe fn from_index_unchecked(index: usize) -> Self {
        debug_assert!(index < MAX_CLASSES);
        #[expect(clippy::cast_possible_truncation, reason = "index < MAX_CLASSES < 256")]
        Self(index as u8)
    }

    /// Segment size in bytes.
    ///
    /// ```
    /// use numaseg::SizeClass;
    /// let class = SizeClass::for_size(20_000).ok_or("no class")?;
    /// assert_eq!(class.size(), 32 << 10);
    /// assert_eq!(SizeClass::from_index(10).map(SizeClass::size), Some(4 << 20));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
    pub const fn size(self) -> usize {
        // Through `index`, so the compiler knows the size is at least 4 KiB: a slice of a
        // segment then needs no bounds check for its first bytes.
        MIN_SEGMENT_SIZE << self.index()
    }

    /// The class index (0 = 4 KiB), always below [`MAX_CLASSES`].
    ///
    /// ```
    /// use numaseg::SizeClass;
    /// assert_eq!(SizeClass::for_size(4096).map(SizeClass::index), Some(0));
    /// assert_eq!(SizeClass::for_size(4097).map(SizeClass::index), Some(1));
    /// assert_eq!(SizeClass::for_size(1 << 20).map(SizeClass::index), Some(8));
    /// ```
    #[inline]
    #[must_use]
    pub const fn index(self) -> usize {
        // SAFETY: every constructor (`for_size`, `from_index`) keeps the index below
        // MAX_CLASSES; telling the compiler lets it drop bounds checks on per-class arrays.
        unsafe { std::hint::assert_unchecked((self.0 as usize) < MAX_CLASSES) };
        self.0 as usize
    }

    /// The alignment of a segment of this class: its size, up to 2 MiB.
    ///
    /// ```
    /// use numaseg::SizeClass;
    /// assert_eq!(SizeClass::for_size(64 << 10).map(SizeClass::align), Some(64 << 10));
    /// assert_eq!(SizeClass::for_size(2 << 20).map(SizeClass::align), Some(2 << 20));
    /// assert_eq!(SizeClass::for_size(8 << 20).map(SizeClass::align), Some(2 << 20)); // capped
    /// ```
    #[must_use]
    pub const fn align(self) -> usize {
        let size = self.size();
        if size < numa::HUGE_2M { size } else { numa::HUGE_2M }
    }

    /// How many classes a region of `region_size` bytes serves (4 KiB up to `region_size`).
    ///
    /// ```
    /// use numaseg::{MAX_CLASSES, SizeClass};
    /// assert_eq!(SizeClass::count_for_region(2 << 20), 10); // 4 KiB .. 2 MiB
    /// assert_eq!(SizeClass::count_for_region(32 << 20), 14); // the default region size
    /// assert_eq!(SizeClass::count_for_region(1 << 30), MAX_CLASSES);
    /// ```
    #[must_use]
    pub const fn count_for_region(region_size: usize) -> usize {
        (region_size.trailing_zeros() - MIN_SHIFT + 1) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_maps_to_the_smallest_class_that_holds_it() {
        for index in 0..MAX_CLASSES {
            let c = SizeClass::from_index(index).unwrap();
            assert_eq!(SizeClass::for_size(c.size()), Some(c));
            if index > 0 {
                assert_eq!(SizeClass::for_size(c.size() / 2 + 1), Some(c));
            }
            if index + 1 < MAX_CLASSES {
                assert_eq!(SizeClass::for_size(c.size() + 1).unwrap().index(), index + 1);
            }
        }
        assert!(SizeClass::from_index(MAX_CLASSES).is_none());
        assert_eq!(SizeClass::for_size(usize::MAX), None);
        assert_eq!(SizeClass::count_for_region(32 << 20), 14);
        assert_eq!(SizeClass::count_for_region(1 << 30), MAX_CLASSES);
        assert_eq!(SizeClass::for_size(8 << 20).unwrap().align(), 2 << 20);
    }
}
