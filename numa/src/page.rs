//! Page kinds: what backs a region (1 GiB or 2 MiB hugetlb pages, transparent huge pages, or
//! base pages), the policy that picks one, and the kernel's THP mode.

use std::fmt;
use std::str::FromStr;

/// The size of a base (OS) page on the platforms numaseg supports.
///
/// ```
/// use numaseg_numa::{BASE_PAGE_SIZE, PageKind};
/// assert_eq!(BASE_PAGE_SIZE, 4096);
/// assert_eq!(PageKind::Small.page_size(), BASE_PAGE_SIZE);
/// ```
pub const BASE_PAGE_SIZE: usize = 4096;
/// 2 MiB: the size of an x86-64 PMD huge page, and the alignment of every region.
///
/// ```
/// use numaseg_numa::{BASE_PAGE_SIZE, HUGE_2M, PageKind};
/// assert_eq!(HUGE_2M, 2 * 1024 * 1024);
/// assert_eq!(HUGE_2M / BASE_PAGE_SIZE, 512);
/// assert_eq!(PageKind::Huge2M.page_size(), HUGE_2M);
/// ```
pub const HUGE_2M: usize = 2 << 20;
/// 1 GiB: the size of an x86-64 PUD huge page.
///
/// ```
/// use numaseg_numa::{HUGE_1G, HUGE_2M, PageKind};
/// assert_eq!(HUGE_1G, 1024 * 1024 * 1024);
/// assert_eq!(HUGE_1G / HUGE_2M, 512);
/// assert_eq!(PageKind::Huge1G.page_size(), HUGE_1G);
/// ```
pub const HUGE_1G: usize = 1 << 30;

/// What backs a region's memory.
///
/// ```
/// use numaseg_numa::PageKind;
/// assert_eq!("2m".parse::<PageKind>()?, PageKind::Huge2M);
/// assert_eq!(PageKind::Huge1G.page_size(), 1 << 30);
/// assert!(PageKind::Thp.is_huge());
/// # Ok::<(), numaseg_numa::ParsePageKindError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PageKind {
    /// 1 GiB hugetlb pages (`MAP_HUGETLB | MAP_HUGE_1GB`), reserved at map time.
    Huge1G,
    /// 2 MiB hugetlb pages (`MAP_HUGETLB | MAP_HUGE_2MB`), reserved at map time.
    Huge2M,
    /// Transparent huge pages: 2 MiB-aligned anonymous memory with `MADV_HUGEPAGE`.
    Thp,
    /// Base pages: anonymous memory with `MADV_NOHUGEPAGE`.
    Small,
}

impl PageKind {
    /// Every kind, from the largest pages to the smallest: the order `auto` tries them in.
    ///
    /// ```
    /// use numaseg_numa::PageKind;
    /// let names: Vec<&str> = PageKind::ALL.iter().map(|k| k.name()).collect();
    /// assert_eq!(names, ["1g", "2m", "thp", "small"]);
    /// // Never growing page sizes along the way.
    /// assert!(PageKind::ALL.windows(2).all(|w| w[0].page_size() >= w[1].page_size()));
    /// ```
    pub const ALL: [Self; 4] = [Self::Huge1G, Self::Huge2M, Self::Thp, Self::Small];

    /// The size of one page of this kind in bytes (THP counts as 2 MiB, its intended size).
    ///
    /// ```
    /// use numaseg_numa::PageKind;
    /// assert_eq!(PageKind::Huge1G.page_size(), 1 << 30);
    /// assert_eq!(PageKind::Huge2M.page_size(), 2 << 20);
    /// assert_eq!(PageKind::Thp.page_size(), 2 << 20);
    /// assert_eq!(PageKind::Small.page_size(), 4096);
    /// ```
    #[must_use]
    pub const fn page_size(self) -> usize {
        match self {
            Self::Huge1G => HUGE_1G,
            Self::Huge2M | Self::Thp => HUGE_2M,
            Self::Small => BASE_PAGE_SIZE,
        }
    }

    /// Whether this kind aims at huge pages (hugetlb or THP).
    ///
    /// ```
    /// use numaseg_numa::PageKind;
    /// assert!(PageKind::Huge1G.is_huge() && PageKind::Huge2M.is_huge() && PageKind::Thp.is_huge());
    /// assert!(!PageKind::Small.is_huge());
    /// ```
    #[must_use]
    pub const fn is_huge(self) -> bool {
        !matches!(self, Self::Small)
    }

    /// Whether this kind is a hugetlb kind, whose pages come from a reserved per-node pool.
    ///
    /// ```
    /// use numaseg_numa::PageKind;
    /// assert!(PageKind::Huge1G.is_hugetlb() && PageKind::Huge2M.is_hugetlb());
    /// assert!(!PageKind::Thp.is_hugetlb()); // huge, but not from a pool
    /// assert!(!PageKind::Small.is_hugetlb());
    /// ```
    #[must_use]
    pub const fn is_hugetlb(self) -> bool {
        matches!(self, Self::Huge1G | Self::Huge2M)
    }

    /// The short name used in configuration and output: `1g`, `2m`, `thp`, `small`.
    ///
    /// ```
    /// use numaseg_numa::PageKind;
    /// assert_eq!(PageKind::Thp.name(), "thp");
    /// assert_eq!(PageKind::Small.to_string(), PageKind::Small.name());
    /// for kind in PageKind::ALL {
    ///     assert_eq!(kind.name().parse::<PageKind>()?, kind);
    /// }
    /// # Ok::<(), numaseg_numa::ParsePageKindError>(())
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Huge1G => "1g",
            Self::Huge2M => "2m",
            Self::Thp => "thp",
            Self::Small => "small",
        }
    }

    /// The sysfs directory name of this kind's hugetlb pool (`hugepages-2048kB`), if any.
    ///
    /// ```
    /// use numaseg_numa::PageKind;
    /// assert_eq!(PageKind::Huge2M.sysfs_pool_name(), Some("hugepages-2048kB"));
    /// assert_eq!(PageKind::Huge1G.sysfs_pool_name(), Some("hugepages-1048576kB"));
    /// assert_eq!(PageKind::Thp.sysfs_pool_name(), None);
    /// ```
    #[must_use]
    pub const fn sysfs_pool_name(self) -> Option<&'static str> {
        match self {
            Self::Huge1G => Some("hugepages-1048576kB"),
            Self::Huge2M => Some("hugepages-2048kB"),
            Self::Thp | Self::Small => None,
        }
    }
}

impl fmt::Display for PageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A page-kind name that could not be parsed.
///
/// ```
/// use numaseg_numa::{PageKind, PagePolicy, ParsePageKindError};
/// let err = "3m".parse::<PageKind>().unwrap_err();
/// assert_eq!(err, ParsePageKindError("3m".into()));
/// assert_eq!(err.to_string(), "unknown page kind \"3m\" (expected one of: auto, 1g, 2m, thp, small)");
/// assert_eq!("huge".parse::<PagePolicy>(), Err(ParsePageKindError("huge".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown page kind {0:?} (expected one of: auto, 1g, 2m, thp, small)")]
pub struct ParsePageKindError(pub String);

impl FromStr for PageKind {
    type Err = ParsePageKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1g" | "1gib" | "1gb" => Ok(Self::Huge1G),
            "2m" | "2mib" | "2mb" => Ok(Self::Huge2M),
            "thp" => Ok(Self::Thp),
            "small" | "4k" | "base" => Ok(Self::Small),
            _ => Err(ParsePageKindError(s.to_owned())),
        }
    }
}

/// Which page kinds a region may be backed by.
///
/// ```
/// use numaseg_numa::{PageKind, PagePolicy};
/// let auto = PagePolicy::Auto;
/// // 1 GiB pages are tried only where the size is a multiple of 1 GiB.
/// assert_eq!(auto.candidates(32 << 20), vec![PageKind::Huge2M, PageKind::Thp, PageKind::Small]);
/// assert_eq!(PagePolicy::Only(PageKind::Thp).candidates(32 << 20), vec![PageKind::Thp]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PagePolicy {
    /// Try 1 GiB → 2 MiB → THP → base pages, and report what was obtained.
    #[default]
    Auto,
    /// Exactly this kind. Without strict mode a failure still falls back (and says so); in
    /// strict mode it is an error.
    Only(PageKind),
}

impl PagePolicy {
    /// The kinds to try for a region of `len` bytes, in order. Kinds whose page size does not
    /// divide `len` are left out of `Auto`.
    ///
    /// ```
    /// use numaseg_numa::{PageKind, PagePolicy};
    /// // A multiple of 1 GiB can try every kind; a length of zero, none.
    /// assert_eq!(PagePolicy::Auto.candidates(1 << 30), PageKind::ALL.to_vec());
    /// assert_eq!(PagePolicy::Auto.candidates(8192), vec![PageKind::Small]);
    /// assert!(PagePolicy::Auto.candidates(0).is_empty());
    /// assert_eq!("2m".parse::<PagePolicy>()?.candidates(4096), vec![PageKind::Huge2M]);
    /// # Ok::<(), numaseg_numa::ParsePageKindError>(())
    /// ```
    #[must_use]
    pub fn candidates(self, len: usize) -> Vec<PageKind> {
        match self {
            Self::Auto => PageKind::ALL.into_iter().filter(|k| len != 0 && len.is_multiple_of(k.page_size())).collect(),
            Self::Only(kind) => vec![kind],
        }
    }

    /// The kinds to fall back to after `kind` failed for a region of `len` bytes, in non-strict
    /// mode: the smaller kinds that fit `len`.
    ///
    /// ```
    /// use numaseg_numa::{PageKind, PagePolicy};
    /// assert_eq!(PagePolicy::fallbacks_after(PageKind::Huge2M, 32 << 20), vec![PageKind::Thp, PageKind::Small]);
    /// assert_eq!(PagePolicy::fallbacks_after(PageKind::Huge1G, 12 << 10), vec![PageKind::Small]);
    /// assert!(PagePolicy::fallbacks_after(PageKind::Small, 32 << 20).is_empty());
    /// ```
    #[must_use]
    pub fn fallbacks_after(kind: PageKind, len: usize) -> Vec<PageKind> {
        PageKind::ALL.into_iter().filter(|k| *k > kind && len.is_multiple_of(k.page_size())).collect()
    }
}

impl fmt::Display for PagePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Only(kind) => kind.fmt(f),
        }
    }
}

impl FromStr for PagePolicy {
    type Err = ParsePageKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("auto") { Ok(Self::Auto) } else { s.parse().map(Self::Only) }
    }
}

/// Where the kernel says its transparent-huge-page mode.
const THP_ENABLED_PATH: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// The kernel's transparent-huge-page mode (`/sys/kernel/mm/transparent_hugepage/enabled`).
///
/// ```
/// use numaseg_numa::ThpMode;
/// let mode = ThpMode::parse_sysfs("[always] madvise never");
/// assert_eq!(mode, ThpMode::Always);
/// assert_eq!(mode.to_string(), "always");
/// assert_eq!(ThpMode::parse_sysfs("always madvise [never]").to_string(), "never");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThpMode {
    /// THP for every anonymous mapping.
    Always,
    /// THP only where `MADV_HUGEPAGE` asks for it (numaseg always asks).
    Madvise,
    /// THP disabled: the `thp` kind gets base pages.
    Never,
    /// The kernel has no THP support, or the file could not be read.
    Unavailable,
}

impl ThpMode {
    /// Parses the sysfs file's content, where the active mode is in brackets:
    /// `always [madvise] never`.
    ///
    /// ```
    /// use numaseg_numa::ThpMode;
    /// assert_eq!(ThpMode::parse_sysfs("always [madvise] never\n"), ThpMode::Madvise);
    /// assert_eq!(ThpMode::parse_sysfs("garbage"), ThpMode::Unavailable);
    /// ```
    #[must_use]
    pub fn parse_sysfs(text: &str) -> Self {
        let active = text.split_whitespace().find(|w| w.starts_with('[') && w.ends_with(']'));
        match active {
            Some("[always]") => Self::Always,
            Some("[madvise]") => Self::Madvise,
            Some("[never]") => Self::Never,
            _ => Self::Unavailable,
        }
    }

    /// The running kernel's mode, read from `/sys/kernel/mm/transparent_hugepage/enabled`
    /// ([`ThpMode::Unavailable`] when it cannot be read). The one place numaseg reads it; the
    /// topology and [`LinuxSource`](crate::sys::linux::LinuxSource) both call this once.
    ///
    /// ```
    /// use numaseg_numa::ThpMode;
    /// let mode = ThpMode::current();
    /// match std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled") {
    ///     // The kernel brackets the active mode, and the mode displays as the kernel's word.
    ///     Ok(text) => assert!(text.contains(&format!("[{mode}]")), "{mode} not active in {text:?}"),
    ///     Err(_) => assert_eq!(mode, ThpMode::Unavailable),
    /// }
    /// ```
    #[must_use]
    pub fn current() -> Self {
        std::fs::read_to_string(THP_ENABLED_PATH).map_or(Self::Unavailable, |t| Self::parse_sysfs(&t))
    }

    /// Whether `MADV_HUGEPAGE` can give a mapping huge pages in this mode.
    ///
    /// ```
    /// use numaseg_numa::ThpMode;
    /// assert!(ThpMode::Always.allows_thp());
    /// assert!(ThpMode::Madvise.allows_thp());
    /// assert!(!ThpMode::Never.allows_thp());
    /// assert!(!ThpMode::Unavailable.allows_thp());
    /// ```
    #[must_use]
    pub const fn allows_thp(self) -> bool {
        matches!(self, Self::Always | Self::Madvise)
    }
}

impl fmt::Display for ThpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Always => "always",
            Self::Madvise => "madvise",
            Self::Never => "never",
            Self::Unavailable => "unavailable",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_tries_1g_only_where_the_size_allows() {
        assert_eq!(PagePolicy::Auto.candidates(2 << 30), PageKind::ALL.to_vec());
        assert_eq!(PagePolicy::Auto.candidates(6 << 20).first(), Some(&PageKind::Huge2M));
        assert_eq!(PagePolicy::Auto.candidates(12 << 10), vec![PageKind::Small]);
        assert!(PagePolicy::Auto.candidates(0).is_empty());
    }

    #[test]
    fn fallbacks_go_to_smaller_kinds() {
        assert_eq!(PagePolicy::fallbacks_after(PageKind::Huge2M, 4 << 20), vec![PageKind::Thp, PageKind::Small]);
        assert!(PagePolicy::fallbacks_after(PageKind::Small, 4 << 20).is_empty());
    }

    #[test]
    fn names_round_trip() {
        for kind in PageKind::ALL {
            assert_eq!(kind.name().parse::<PageKind>().unwrap(), kind);
            assert_eq!(kind.to_string().parse::<PagePolicy>().unwrap(), PagePolicy::Only(kind));
        }
        assert_eq!("AUTO".parse::<PagePolicy>().unwrap(), PagePolicy::Auto);
        assert!("huge".parse::<PagePolicy>().is_err());
    }
}
