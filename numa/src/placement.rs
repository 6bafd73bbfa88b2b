//! Placement read-back: for an address range, the node of every base page (as `move_pages`
//! reports it) and what backs it (hugetlb 1 GiB / 2 MiB, THP, or base pages), with a summary.
//!
//! This is the proof numaseg offers that memory landed where it was asked to: tests, `numaseg
//! verify` and the 4-node guest all use it. The node comes from `move_pages(2)` with no target
//! nodes. The backing comes from `/proc/self/smaps` (`KernelPageSize` tells hugetlb VMAs apart)
//! and, for other VMAs, from `/proc/self/pagemap` and `/proc/kpageflags` (`KPF_THP`), which need
//! root; without them a page of a VMA with no `AnonHugePages` is reported as base-page backed and
//! anything else as [`Backing::Unknown`].

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::fmt;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;

use crate::error::PlacementError;
use crate::page::BASE_PAGE_SIZE;
use crate::{NodeId, sys};

/// `KPF_THP` in `/proc/kpageflags`.
const KPF_THP: u64 = 1 << 22;
/// Present bit and PFN mask of a `/proc/self/pagemap` entry.
const PM_PRESENT: u64 = 1 << 63;
const PM_PFN_MASK: u64 = (1 << 55) - 1;
/// Pages per `move_pages` call.
const MOVE_PAGES_CHUNK: usize = 4096;

/// What backs one base page.
///
/// ```
/// use numaseg_numa::placement::Backing;
/// assert_eq!(Backing::Huge2M.to_string(), "2m");
/// assert!(Backing::Thp.is_huge() && !Backing::Small.is_huge());
/// assert!(Backing::Huge1G < Backing::Small); // ordered from the largest pages down
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backing {
    /// Part of a 1 GiB hugetlb page.
    Huge1G,
    /// Part of a 2 MiB hugetlb page.
    Huge2M,
    /// Part of a transparent huge page.
    Thp,
    /// A base page.
    Small,
    /// Not faulted in.
    NotPresent,
    /// Could not be determined (no access to `/proc/kpageflags`).
    Unknown,
}

impl Backing {
    /// Whether the page is huge-page backed (hugetlb or THP).
    ///
    /// ```
    /// use numaseg_numa::placement::Backing;
    /// assert!(Backing::Huge1G.is_huge() && Backing::Huge2M.is_huge() && Backing::Thp.is_huge());
    /// assert!(!Backing::Small.is_huge() && !Backing::NotPresent.is_huge() && !Backing::Unknown.is_huge());
    /// ```
    #[must_use]
    pub const fn is_huge(self) -> bool {
        matches!(self, Self::Huge1G | Self::Huge2M | Self::Thp)
    }

    /// Short name: `1g`, `2m`, `thp`, `small`, `absent`, `unknown`.
    ///
    /// ```
    /// use numaseg_numa::placement::Backing;
    /// assert_eq!(Backing::NotPresent.name(), "absent");
    /// assert_eq!(Backing::Unknown.name(), "unknown");
    /// assert_eq!(Backing::Small.to_string(), Backing::Small.name());
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Huge1G => "1g",
            Self::Huge2M => "2m",
            Self::Thp => "thp",
            Self::Small => "small",
            Self::NotPresent => "absent",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Backing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where one base page lives.
///
/// ```
/// use numaseg_numa::placement::{Backing, read_back};
/// let v = vec![1u8; 64 << 10]; // touched, so present
/// let start = (v.as_ptr() as usize).next_multiple_of(4096);
/// let page = read_back(start, 4096)?.pages[0];
/// assert!(page.node.is_ok());
/// assert_ne!(page.backing, Backing::NotPresent);
/// # Ok::<(), numaseg_numa::PlacementError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageState {
    /// The node, or the negative errno `move_pages` gave (`-ENOENT`: not present).
    pub node: Result<NodeId, i32>,
    /// What backs it.
    pub backing: Backing,
}

/// The placement of every base page of a range.
///
/// ```
/// use numaseg_numa::NodeId;
/// use numaseg_numa::placement::{Backing, PageState, Placement};
/// let on_0 = PageState { node: Ok(NodeId::new(0)), backing: Backing::Small };
/// let absent = PageState { node: Err(-2), backing: Backing::NotPresent }; // -ENOENT
/// let p = Placement { addr: 0x20_0000, pages: vec![on_0, on_0, absent] };
/// assert_eq!(p.to_string(), "no node absent: 1 pages, node 0 small: 2 pages");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Start address.
    pub addr: usize,
    /// One entry per base page (4 KiB), in address order.
    pub pages: Vec<PageState>,
}

impl Placement {
    /// Pages per (node, backing); pages with no node are counted under `None`.
    ///
    /// ```
    /// use numaseg_numa::NodeId;
    /// use numaseg_numa::placement::{Backing, PageState, Placement};
    /// let (n0, n1) = (NodeId::new(0), NodeId::new(1));
    /// let page = |node, backing| PageState { node: Ok(node), backing };
    /// let p = Placement { addr: 0, pages: vec![page(n0, Backing::Thp), page(n1, Backing::Small), page(n0, Backing::Thp)] };
    /// let summary = p.summary();
    /// assert_eq!(summary[&(Some(n0), Backing::Thp)], 2);
    /// assert_eq!(summary[&(Some(n1), Backing::Small)], 1);
    /// assert_eq!(summary.len(), 2);
    /// ```
    #[must_use]
    pub fn summary(&self) -> BTreeMap<(Option<NodeId>, Backing), usize> {
        let mut out = BTreeMap::new();
        for page in &self.pages {
            *out.entry((page.node.ok(), page.backing)).or_insert(0) += 1;
        }
        out
    }

    /// Pages on `node`.
    ///
    /// ```
    /// use numaseg_numa::NodeId;
    /// use numaseg_numa::placement::{Backing, PageState, Placement};
    /// let page = |node| PageState { node, backing: Backing::Small };
    /// let p = Placement { addr: 0, pages: vec![page(Ok(NodeId::new(1))), page(Err(-14)), page(Ok(NodeId::new(1)))] };
    /// assert_eq!(p.pages_on(NodeId::new(1)), 2);
    /// assert_eq!(p.pages_on(NodeId::new(0)), 0);
    /// ```
    #[must_use]
    pub fn pages_on(&self, node: NodeId) -> usize {
        self.pages.iter().filter(|p| p.node == Ok(node)).count()
    }

    /// Whether every page is present on `node`.
    ///
    /// ```
    /// use numaseg_numa::NodeId;
    /// use numaseg_numa::placement::{Backing, PageState, Placement};
    /// let on_1 = PageState { node: Ok(NodeId::new(1)), backing: Backing::Huge2M };
    /// let mut p = Placement { addr: 0, pages: vec![on_1; 4] };
    /// assert!(p.all_on(NodeId::new(1)));
    /// p.pages.push(PageState { node: Err(-2), backing: Backing::NotPresent });
    /// assert!(!p.all_on(NodeId::new(1))); // a page not present is on no node
    /// ```
    #[must_use]
    pub fn all_on(&self, node: NodeId) -> bool {
        self.pages.iter().all(|p| p.node == Ok(node))
    }

    /// Whether every page is huge-page backed.
    ///
    /// ```
    /// use numaseg_numa::NodeId;
    /// use numaseg_numa::placement::{Backing, PageState, Placement};
    /// let page = |backing| PageState { node: Ok(NodeId::new(0)), backing };
    /// assert!(Placement { addr: 0, pages: vec![page(Backing::Huge2M), page(Backing::Thp)] }.all_huge());
    /// assert!(!Placement { addr: 0, pages: vec![page(Backing::Thp), page(Backing::Small)] }.all_huge());
    /// ```
    #[must_use]
    pub fn all_huge(&self) -> bool {
        self.pages.iter().all(|p| p.backing.is_huge())
    }

    /// Pages with this backing.
    ///
    /// ```
    /// use numaseg_numa::NodeId;
    /// use numaseg_numa::placement::{Backing, PageState, Placement};
    /// let page = |backing| PageState { node: Ok(NodeId::new(0)), backing };
    /// let p = Placement { addr: 0, pages: vec![page(Backing::Thp), page(Backing::Small), page(Backing::Thp)] };
    /// assert_eq!(p.pages_backed_by(Backing::Thp), 2);
    /// assert_eq!(p.pages_backed_by(Backing::Huge1G), 0);
    /// ```
    #[must_use]
    pub fn pages_backed_by(&self, backing: Backing) -> usize {
        self.pages.iter().filter(|p| p.backing == backing).count()
    }

    /// The first page not on `node`, as (byte offset, state), for error messages.
    ///
    /// ```
    /// use numaseg_numa::NodeId;
    /// use numaseg_numa::placement::{Backing, PageState, Placement};
    /// let on = |n| PageState { node: Ok(NodeId::new(n)), backing: Backing::Small };
    /// let p = Placement { addr: 0, pages: vec![on(0), on(0), on(1), on(1)] };
    /// // The third page, 8 KiB in, is on node 1.
    /// assert_eq!(p.first_misplaced(NodeId::new(0)), Some((8192, on(1))));
    /// assert_eq!(p.first_misplaced(NodeId::new(1)), Some((0, on(0))));
    /// assert_eq!(Placement { addr: 0, pages: vec![on(0)] }.first_misplaced(NodeId::new(0)), None);
    /// ```
    #[must_use]
    pub fn first_misplaced(&self, node: NodeId) -> Option<(usize, PageState)> {
        self.pages.iter().position(|p| p.node != Ok(node)).map(|i| (i * BASE_PAGE_SIZE, self.pages[i]))
    }
}

impl fmt::Display for Placement {
    /// One line: `node 1 2m: 1024 pages, node 0 small: 3 pages`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .summary()
            .into_iter()
            .map(|((node, backing), n)| match node {
                Some(node) => format!("{node} {backing}: {n} pages"),
                None => format!("no node {backing}: {n} pages"),
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// Reads back the placement of `[addr, addr + len)`, one entry per 4 KiB page.
///
/// Purely a query: it changes nothing and works on any range (pages not mapped report
/// `-EFAULT`). Both bounds must be page-aligned.
///
/// ```
/// use numaseg_numa::placement::read_back;
/// let v = vec![1u8; 1 << 20]; // touched, so present
/// let start = (v.as_ptr() as usize).next_multiple_of(4096);
/// let p = read_back(start, 64 << 10)?;
/// assert_eq!(p.pages.len(), 16);
/// assert!(p.pages.iter().all(|page| page.node.is_ok()));
/// # Ok::<(), numaseg_numa::PlacementError>(())
/// ```
///
/// # Errors
/// [`PlacementError::BadRange`] for an empty or unaligned range; [`PlacementError::Os`] when
/// `move_pages` fails as a whole.
pub fn read_back(addr: usize, len: usize) -> Result<Placement, PlacementError> {
    if len == 0
        || !addr.is_multiple_of(BASE_PAGE_SIZE)
        || !len.is_multiple_of(BASE_PAGE_SIZE)
        || addr.checked_add(len).is_none()
    {
        return Err(PlacementError::BadRange { addr, len });
    }
    let count = len / BASE_PAGE_SIZE;
    let mut nodes = Vec::with_capacity(count);
    for chunk_start in (0..count).step_by(MOVE_PAGES_CHUNK) {
        let chunk_end = (chunk_start + MOVE_PAGES_CHUNK).min(count);
        let ptrs: Vec<*const c_void> =
            (chunk_start..chunk_end).map(|i| (addr + i * BASE_PAGE_SIZE) as *const c_void).collect();
        nodes.extend(sys::linux::move_pages_query(&ptrs)?);
    }
    let backings = backings(addr, count);
    let pages = nodes
        .into_iter()
        .zip(backings)
        .map(|(status, backing)| PageState {
            node: if status >= 0 {
                usize::try_from(status).ok().and_then(NodeId::try_new).ok_or(status)
            } else {
                Err(status)
            },
            backing: if status == -libc::ENOENT { Backing::NotPresent } else { backing },
        })
        .collect();
    Ok(Placement { addr, pages })
}

/// One VMA of `/proc/self/smaps`, as far as backing is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Vma {
    start: usize,
    end: usize,
    kernel_page_kib: u64,
    anon_huge_kib: u64,
}

fn parse_smaps(text: &str) -> Vec<Vma> {
    let mut out: Vec<Vma> = Vec::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((s, e)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (usize::from_str_radix(s, 16), usize::from_str_radix(e, 16))
        {
            out.push(Vma { start, end, kernel_page_kib: 4, anon_huge_kib: 0 });
            continue;
        }
        let Some(vma) = out.last_mut() else { continue };
        let kib = |rest: &str| rest.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0);
        if let Some(rest) = line.strip_prefix("KernelPageSize:") {
            vma.kernel_page_kib = kib(rest);
        } else if let Some(rest) = line.strip_prefix("AnonHugePages:") {
            vma.anon_huge_kib = kib(rest);
        }
    }
    out
}

/// The backing of each of `count` pages from `addr`.
fn backings(addr: usize, count: usize) -> Vec<Backing> {
    let vmas = fs::read_to_string("/proc/self/smaps").map(|t| parse_smaps(&t)).unwrap_or_default();
    let flags = thp_flags(addr, count);
    (0..count)
        .map(|i| {
            let page = addr + i * BASE_PAGE_SIZE;
            let Some(vma) = vmas.iter().find(|v| page >= v.start && page < v.end) else {
                return Backing::Unknown;
            };
            match vma.kernel_page_kib {
                1_048_576 => Backing::Huge1G,
                2048 => Backing::Huge2M,
                _ => match flags.as_ref().map(|f| f[i]) {
                    Some(Some(true)) => Backing::Thp,
                    Some(Some(false)) => Backing::Small,
                    Some(None) => Backing::NotPresent,
                    None if vma.anon_huge_kib == 0 => Backing::Small,
                    None => Backing::Unknown,
                },
            }
        })
        .collect()
}

/// Per page: `Some(is_thp)` when present, `None` when not present; `None` overall when pagemap
/// or kpageflags cannot be read (not root).
fn thp_flags(addr: usize, count: usize) -> Option<Vec<Option<bool>>> {
    let pagemap = File::open("/proc/self/pagemap").ok()?;
    let kpageflags = File::open("/proc/kpageflags").ok()?;
    let mut raw = vec![0u8; count * 8];
    pagemap.read_exact_at(&mut raw, (addr / BASE_PAGE_SIZE * 8) as u64).ok()?;
    let entries: Vec<u64> = raw.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
    let mut out = Vec::with_capacity(count);
    let mut i = 0;
    while i < count {
        let e = entries[i];
        if e & PM_PRESENT == 0 {
            out.push(None);
            i += 1;
            continue;
        }
        let pfn = e & PM_PFN_MASK;
        if pfn == 0 {
            // PFNs are hidden from processes without CAP_SYS_ADMIN.
            return None;
        }
        // Read a run of consecutive PFNs in one go.
        let mut run = 1;
        while i + run < count
            && entries[i + run] & PM_PRESENT != 0
            && entries[i + run] & PM_PFN_MASK == pfn + run as u64
            && run < 512
        {
            run += 1;
        }
        let mut buf = vec![0u8; run * 8];
        kpageflags.read_exact_at(&mut buf, pfn * 8).ok()?;
        out.extend(
            buf.chunks_exact(8).map(|c| Some(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) & KPF_THP != 0)),
        );
        i += run;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaps_is_parsed() {
        let text = "\
7f0000000000-7f0000400000 rw-p 00000000 00:00 0 \n\
Size:               4096 kB\n\
KernelPageSize:     2048 kB\n\
AnonHugePages:         0 kB\n\
7f0000400000-7f0000800000 rw-p 00000000 00:00 0 \n\
KernelPageSize:        4 kB\n\
AnonHugePages:      2048 kB\n";
        let vmas = parse_smaps(text);
        assert_eq!(vmas.len(), 2);
        assert_eq!(
            vmas[0],
            Vma { start: 0x7f00_0000_0000, end: 0x7f00_0040_0000, kernel_page_kib: 2048, anon_huge_kib: 0 }
        );
        assert_eq!(vmas[1].anon_huge_kib, 2048);
    }

    #[test]
    fn bad_ranges_are_rejected() {
        assert!(matches!(read_back(4096, 0), Err(PlacementError::BadRange { .. })));
        assert!(matches!(read_back(4097, 4096), Err(PlacementError::BadRange { .. })));
        assert!(matches!(read_back(usize::MAX - 4095, 8192), Err(PlacementError::BadRange { .. })));
    }

    #[test]
    fn unmapped_pages_report_an_error_not_a_node() {
        // Page 0 is never mapped in a Linux process.
        let p = read_back(0, 4096).unwrap();
        assert_eq!(p.pages[0].node, Err(-libc::EFAULT));
        assert!(p.summary().contains_key(&(None, p.pages[0].backing)));
    }
}
