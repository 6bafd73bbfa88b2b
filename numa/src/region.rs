//! [`Region`]: one anonymous mapping bound to one node and backed by one page kind, owned, and
//! unmapped on drop.
//!
//! [`Region::map`] applies a [`RegionSpec`]: it tries the page kinds the policy allows in order,
//! binds each attempt to the node *before* anything touches it, populates hugetlb mappings at
//! once (a hugetlb page the node cannot supply then shows up as an error here, never as a
//! `SIGBUS` on the hot path) and everything else when `prefault` is asked, locks when `lock` is
//! asked (after checking `RLIMIT_MEMLOCK`), and reports every fallback it took with the numbers.
//!
//! A region hands out no references: it is an address range, like memmap2's `MmapRaw`.
//! Whoever carves it up decides who may touch what.

use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::{OsError, RegionError};
use crate::page::PagePolicy;
use crate::placement::{self, Placement};
use crate::source::{BindMode, PageSource};
use crate::{NodeId, PageKind, PlacementError};

/// What to map.
///
/// ```
/// use std::sync::Arc;
/// use numaseg_numa::{BindMode, NodeId, PageKind, PagePolicy, PageSource, Region, RegionSpec, sys::heap::HeapSource};
/// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
/// let spec = RegionSpec { policy: PagePolicy::Only(PageKind::Small), strict: true, ..RegionSpec::new(2 << 20, NodeId::new(0)) };
/// let (region, _) = Region::map(&source, &spec)?;
/// assert_eq!((region.kind(), region.bind_mode()), (PageKind::Small, BindMode::Bind));
/// # Ok::<(), numaseg_numa::RegionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionSpec {
    /// Bytes; a multiple of 2 MiB for the huge kinds.
    pub len: usize,
    /// The node the memory must come from.
    pub node: NodeId,
    /// Which page kinds may back it.
    pub policy: PagePolicy,
    /// Strict: `MPOL_BIND`, and a policy naming one kind fails instead of falling back.
    /// Otherwise `MPOL_PREFERRED`, and fallbacks are taken and reported.
    pub strict: bool,
    /// Fault every page in at map time.
    pub prefault: bool,
    /// `mlock` the region.
    pub lock: bool,
}

impl RegionSpec {
    /// A spec with `auto` pages, not strict, prefaulted, not locked.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, PagePolicy, RegionSpec};
    /// let spec = RegionSpec::new(32 << 20, NodeId::new(1));
    /// assert_eq!((spec.len, spec.node, spec.policy), (32 << 20, NodeId::new(1), PagePolicy::Auto));
    /// assert!(!spec.strict && spec.prefault && !spec.lock);
    /// ```
    #[must_use]
    pub fn new(len: usize, node: NodeId) -> Self {
        Self { len, node, policy: PagePolicy::Auto, strict: false, prefault: true, lock: false }
    }
}

/// A page kind that was tried and not obtained, and why.
///
/// ```
/// use std::sync::Arc;
/// use numaseg_numa::{NodeId, PageKind, PageSource, Region, RegionSpec, sys::heap::HeapSource};
/// // A heap source pretending node 0 has no 2 MiB pages left.
/// let node = NodeId::new(0);
/// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new().with_huge_pages(node, PageKind::Huge2M, 0));
/// let (region, fallbacks) = Region::map(&source, &RegionSpec::new(2 << 20, node))?;
/// assert_eq!(region.kind(), PageKind::Thp);
/// assert_eq!((fallbacks[0].from, fallbacks[0].to), (PageKind::Huge2M, Some(PageKind::Thp)));
/// assert!(fallbacks[0].reason.contains("requested 2 MiB in 2 MiB pages, 0 MiB free"));
/// assert!(fallbacks[0].to_string().starts_with("node 0: fell back from 2m to thp pages: "));
/// # Ok::<(), numaseg_numa::RegionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The node.
    pub node: NodeId,
    /// The kind that failed.
    pub from: PageKind,
    /// The kind that was obtained instead (`None` if everything failed).
    pub to: Option<PageKind>,
    /// The error message of the failed attempt, with the numbers.
    pub reason: String,
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to {
            Some(to) => write!(f, "{}: fell back from {} to {} pages: {}", self.node, self.from, to, self.reason),
            None => write!(f, "{}: {} pages failed: {}", self.node, self.from, self.reason),
        }
    }
}

/// One owned mapping: an anonymous region bound to one node, backed by one page kind, unmapped
/// on drop. [`Region::map`] tries the kinds the policy allows in order, binds each attempt before
/// anything touches it, populates hugetlb (and, with `prefault`, everything else) at once, and
/// reports every fallback with the numbers. A region hands out no references, only addresses.
///
/// ```
/// use std::sync::Arc;
/// use numaseg_numa::{NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
/// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
/// let (region, fallbacks) = Region::map(&source, &RegionSpec::new(4 << 20, NodeId::new(0)))?;
/// assert_eq!(region.len(), 4 << 20);
/// assert!(fallbacks.is_empty()); // the heap source pretends to have 2 MiB pages
/// # Ok::<(), numaseg_numa::RegionError>(())
/// ```
pub struct Region {
    base: NonNull<u8>,
    len: usize,
    node: NodeId,
    kind: PageKind,
    bind: BindMode,
    locked: bool,
    source: Arc<dyn PageSource>,
}

// SAFETY: a Region is an address range plus the source that unmaps it; it hands out no
// references, and the source is Send + Sync. Moving it between threads moves only the right
// to unmap, which Drop exercises once.
unsafe impl Send for Region {}
// SAFETY: shared access reads immutable fields only; decommit is `unsafe` and its callers
// promise exclusive use of the range.
unsafe impl Sync for Region {}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region")
            .field("base", &self.base)
            .field("len", &self.len)
            .field("node", &self.node)
            .field("kind", &self.kind)
            .field("bind", &self.bind)
            .field("locked", &self.locked)
            .field("source", &self.source.name())
            .finish()
    }
}

impl Region {
    /// Maps a region as `spec` says, trying page kinds in the policy's order.
    ///
    /// Returns the region and the fallbacks taken on the way (empty when the first choice
    /// worked). With `Auto`, or a single kind without `strict`, a failed kind falls back to the
    /// next smaller one that fits the length; with a single kind and `strict`, its failure is
    /// the error.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{NodeId, PageKind, PagePolicy, PageSource, Region, RegionError, RegionSpec, sys::heap::HeapSource};
    /// // A heap source pretending node 0 has one 2 MiB page.
    /// let node = NodeId::new(0);
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new().with_huge_pages(node, PageKind::Huge2M, 2 << 20));
    /// let (region, fallbacks) = Region::map(&source, &RegionSpec::new(2 << 20, node))?;
    /// assert_eq!((region.kind(), fallbacks.len()), (PageKind::Huge2M, 0));
    /// // The pool is empty now: strict and 2 MiB only, the next one is an error with the numbers.
    /// let strict = RegionSpec { policy: PagePolicy::Only(PageKind::Huge2M), strict: true, ..RegionSpec::new(2 << 20, node) };
    /// let err = Region::map(&source, &strict).unwrap_err();
    /// assert!(matches!(err, RegionError::HugePagesExhausted { free_bytes: 0, .. }));
    /// assert!(err.to_string().starts_with("node 0: requested 2 MiB in 2 MiB pages, 0 MiB free"));
    /// # Ok::<(), numaseg_numa::RegionError>(())
    /// ```
    ///
    /// # Errors
    /// [`RegionError::HugePagesExhausted`] (strict) naming node, page size, bytes asked and free;
    /// [`RegionError::BadLength`], [`RegionError::MemlockLimit`], [`RegionError::ThpUnavailable`];
    /// [`RegionError::AllKindsFailed`] when every candidate failed; [`RegionError::Os`].
    pub fn map(source: &Arc<dyn PageSource>, spec: &RegionSpec) -> Result<(Self, Vec<Fallback>), RegionError> {
        let candidates = match spec.policy {
            PagePolicy::Only(kind) if !spec.strict => {
                let mut v = vec![kind];
                v.extend(PagePolicy::fallbacks_after(kind, spec.len));
                v
            }
            policy => policy.candidates(spec.len),
        };
        let Some(&first) = candidates.first() else {
            return Err(RegionError::BadLength {
                len: spec.len,
                kind: PageKind::Small,
                page_size: PageKind::Small.page_size(),
            });
        };
        if spec.lock {
            let memlock = source.memlock();
            if let Some(limit) = memlock.limit
                && memlock.locked.saturating_add(spec.len as u64) > limit
            {
                return Err(RegionError::MemlockLimit { requested: spec.len, limit, locked: memlock.locked });
            }
        }
        let mut failures: Vec<(PageKind, RegionError)> = Vec::new();
        for &kind in &candidates {
            match Self::map_kind(source, spec, kind) {
                Ok(region) => {
                    let fallbacks = failures
                        .into_iter()
                        .map(|(from, e)| Fallback { node: spec.node, from, to: Some(kind), reason: e.to_string() })
                        .collect();
                    return Ok((region, fallbacks));
                }
                Err(e @ RegionError::MemlockLimit { .. }) => return Err(e),
                Err(e) if candidates.len() == 1 => return Err(e),
                Err(e) => failures.push((kind, e)),
            }
        }
        let attempts = failures.iter().map(|(k, e)| format!("{k}: {e}")).collect();
        let last = failures.pop().map_or_else(
            || RegionError::BadLength { len: spec.len, kind: first, page_size: first.page_size() },
            |(_, e)| e,
        );
        Err(RegionError::AllKindsFailed { node: spec.node, len: spec.len, attempts, last: Box::new(last) })
    }

    /// Maps one kind, or fails without side effects.
    fn map_kind(source: &Arc<dyn PageSource>, spec: &RegionSpec, kind: PageKind) -> Result<Self, RegionError> {
        let (len, node) = (spec.len, spec.node);
        if len == 0 || !len.is_multiple_of(kind.page_size()) {
            return Err(RegionError::BadLength { len, kind, page_size: kind.page_size() });
        }
        // Short of pages: say why — an empty pool, or a cgroup refusing pages the pool has.
        let exhausted = |free_bytes: u64| {
            if free_bytes >= len as u64 {
                let limit = source.cgroup_limits().huge(kind).map(|l| (l.bytes, l.file.display().to_string()));
                RegionError::HugetlbRefused { node, kind, requested_bytes: len, free_bytes, cgroup_limit: limit }
            } else {
                RegionError::HugePagesExhausted { node, kind, requested_bytes: len, free_bytes }
            }
        };
        if kind.is_hugetlb()
            && let Some(free) = source.huge_pages_free(node, kind)
            && free < len as u64
        {
            return Err(exhausted(free));
        }
        if kind == PageKind::Thp && !source.thp_mode().allows_thp() {
            return Err(RegionError::ThpUnavailable { node, mode: source.thp_mode() });
        }
        let base = source.map(len, kind, node).map_err(|e| {
            if kind.is_hugetlb() && e.raw_os_error() == Some(libc::ENOMEM) {
                exhausted(source.huge_pages_free(node, kind).unwrap_or(0))
            } else {
                RegionError::Os(e)
            }
        })?;
        let bind = if spec.strict { BindMode::Bind } else { BindMode::Preferred };
        // From here on the mapping is owned by `region`: every early return unmaps it.
        let region = Self { base, len, node, kind, bind, locked: false, source: Arc::clone(source) };
        source.bind(base, len, node, bind)?;
        if spec.prefault || kind.is_hugetlb() {
            source.populate(base, len, kind, node).map_err(|e| match e.raw_os_error() {
                Some(libc::ENOMEM | libc::EFAULT) if kind.is_hugetlb() => {
                    exhausted(source.huge_pages_free(node, kind).unwrap_or(0))
                }
                _ => RegionError::Os(e),
            })?;
        }
        let mut region = region;
        if spec.lock {
            source.lock(base, len)?;
            region.locked = true;
        }
        Ok(region)
    }

    /// The first byte.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{HUGE_2M, NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
    /// let (region, _) = Region::map(&source, &RegionSpec::new(2 << 20, NodeId::new(0)))?;
    /// assert_eq!(region.base().as_ptr() as usize % HUGE_2M, 0); // every region is 2 MiB aligned
    /// assert!(region.contains(region.base().as_ptr() as usize));
    /// # Ok::<(), numaseg_numa::RegionError>(())
    /// ```
    #[must_use]
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Length in bytes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
    /// let (region, _) = Region::map(&source, &RegionSpec::new(4 << 20, NodeId::new(0)))?;
    /// assert_eq!(region.len(), 4 << 20);
    /// # Ok::<(), numaseg_numa::RegionError>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: regions are never empty (kept for the `len` convention).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
    /// let (region, _) = Region::map(&source, &RegionSpec::new(2 << 20, NodeId::new(0)))?;
    /// assert!(!region.is_empty());
    /// // An empty region cannot be made at all.
    /// assert!(Region::map(&source, &RegionSpec::new(0, NodeId::new(0))).is_err());
    /// # Ok::<(), numaseg_numa::RegionError>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The node it is bound to.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
    /// // The heap source accepts any node.
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
    /// let (region, _) = Region::map(&source, &RegionSpec::new(2 << 20, NodeId::new(3)))?;
    /// assert_eq!(region.node(), NodeId::new(3));
    /// # Ok::<(), numaseg_numa::RegionError>(())
    /// ```
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The page kind obtained.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{NodeId, PageKind, PageSource, Region, RegionSpec, ThpMode, sys::heap::HeapSource};
    /// // No 2 MiB pages and THP off: `auto` ends on base pages.
    /// let node = NodeId::new(0);
    /// let heap = HeapSource::new().with_huge_pages(node, PageKind::Huge2M, 0).with_thp_mode(ThpMode::Never);
    /// let source: Arc<dyn PageSource> = Arc::new(heap);
    /// let (region, fallbacks) = Region::map(&source, &RegionSpec::new(2 << 20, node))?;
    /// assert_eq!(region.kind(), PageKind::Small);
    /// assert_eq!(fallbacks.len(), 2);
    /// # Ok::<(), numaseg_numa::RegionError>(())
    /// ```
    #[must_use]
    pub fn kind(&self) -> PageKind {
        self.kind
    }

    /// How it is bound.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{BindMode, NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
    /// let spec = RegionSpec::new(2 << 20, NodeId::new(0));
    /// assert_eq!(Region::map(&source, &spec)?.0.bind_mode(), BindMode::Preferred);
    /// assert_eq!(Region::map(&source, &RegionSpec { strict: true, ..spec })?.0.bind_mode(), BindMode::Bind);
    /// # Ok::<(), numaseg_numa::RegionError>(())
    /// ```
    #[must_use]
    pub fn bind_mode(&self) -> BindMode {
        self.bind
    }

    /// Whether it is locked in RAM.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
    /// // The heap source's locking is a no-op that succeeds.
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
    /// let spec = RegionSpec::new(2 << 20, NodeId::new(0));
    /// assert!(!Region::map(&source, &spec)?.0.is_locked());
    /// assert!(Region::map(&source, &RegionSpec { lock: true, ..spec })?.0.is_locked());
    /// # Ok::<(), numaseg_numa::RegionError>(())
    /// ```
    #[must_use]
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// Whether `addr` lies inside the region.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
    /// let (region, _) = Region::map(&source, &RegionSpec::new(2 << 20, NodeId::new(0)))?;
    /// let base = region.base().as_ptr() as usize;
    /// assert!(region.contains(base) && region.contains(base + region.len() - 1));
    /// assert!(!region.contains(base + region.len()));
    /// assert!(!region.contains(base - 1));
    /// # Ok::<(), numaseg_numa::RegionError>(())
    /// ```
    #[must_use]
    pub fn contains(&self, addr: usize) -> bool {
        let base = self.base.as_ptr() as usize;
        addr >= base && addr - base < self.len
    }

    /// Gives the pages of `[offset, offset + len)` back to the OS. The range stays mapped;
    /// [`Region::recommit`] brings pages back.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{NodeId, PageKind, PagePolicy, PageSource, Region, RegionSpec, sys::heap::HeapSource};
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
    /// let spec = RegionSpec { policy: PagePolicy::Only(PageKind::Small), ..RegionSpec::new(2 << 20, NodeId::new(0)) };
    /// let (region, _) = Region::map(&source, &spec)?;
    /// let p = region.base().as_ptr();
    /// // SAFETY: the region is ours alone; the write stays inside it.
    /// unsafe { p.write_bytes(7, 8192) };
    /// // SAFETY: nothing in the first 4 KiB is needed any more, and no one else touches it.
    /// unsafe { region.decommit(0, 4096)? };
    /// // SAFETY: both bytes lie inside the region, which nothing else writes.
    /// assert_eq!(unsafe { (*p, *p.add(4096)) }, (0, 7)); // the decommitted page reads as zeros
    /// // A range outside the region is an error, not undefined behaviour.
    /// // SAFETY: as above (and the range is refused before anything happens).
    /// let err = unsafe { region.decommit(0, 4 << 20) }.unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(22)); // EINVAL
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// - the range lies inside the region (checked: a range outside is an error, not UB);
    /// - nothing stored there is needed, and no thread reads or writes it while this runs.
    ///
    /// # Errors
    /// The kernel's refusal, or `EINVAL` for a range outside the region or not aligned to the
    /// region's page size.
    pub unsafe fn decommit(&self, offset: usize, len: usize) -> Result<(), OsError> {
        let start = self.sub_range(offset, len)?;
        // SAFETY: `start..start+len` is inside our live mapping (checked by `sub_range`), and the
        // caller promises nothing in it is live.
        unsafe { self.source.decommit(start, len) }
    }

    /// Faults the pages of `[offset, offset + len)` back in after a decommit (the node binding
    /// still applies). Contents read as zeros.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
    /// let (region, _) = Region::map(&source, &RegionSpec::new(4 << 20, NodeId::new(0)))?;
    /// // SAFETY: nothing in the second 2 MiB page is in use.
    /// unsafe { region.decommit(2 << 20, 2 << 20)? };
    /// region.recommit(2 << 20, 2 << 20)?;
    /// // Offsets and lengths go by the region's page size (2 MiB here).
    /// let err = region.recommit(4096, 4096).unwrap_err();
    /// assert_eq!((err.call(), err.raw_os_error()), ("region sub-range", Some(22))); // EINVAL
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The kernel's refusal (hugetlb pool empty, node full under `MPOL_BIND`), or `EINVAL` for a
    /// bad range.
    pub fn recommit(&self, offset: usize, len: usize) -> Result<(), OsError> {
        let start = self.sub_range(offset, len)?;
        self.source.populate(start, len, self.kind, self.node)
    }

    fn sub_range(&self, offset: usize, len: usize) -> Result<NonNull<u8>, OsError> {
        let page = self.kind.page_size();
        let ok = offset.checked_add(len).is_some_and(|end| end <= self.len)
            && offset.is_multiple_of(page)
            && len.is_multiple_of(page)
            && len > 0;
        if !ok {
            return Err(OsError::Syscall {
                call: "region sub-range",
                len,
                node: Some(self.node),
                source: std::io::Error::from_raw_os_error(libc::EINVAL),
            });
        }
        // SAFETY: `offset + len <= self.len`, so the result stays inside the mapping.
        Ok(unsafe { self.base.add(offset) })
    }

    /// Reads back where every base page of the region lives and what backs it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{PageKind, PagePolicy, PageSource, PlacementError, Region, RegionSpec, Topology};
    /// use numaseg_numa::sys::{heap::HeapSource, linux::LinuxSource};
    /// let node = Topology::detect()?.current_node();
    /// let spec = RegionSpec { policy: PagePolicy::Only(PageKind::Small), ..RegionSpec::new(2 << 20, node) };
    /// // Kernel memory (2 MiB of base pages, prefaulted): every page is on some node.
    /// let kernel: Arc<dyn PageSource> = Arc::new(LinuxSource::new());
    /// let (region, _) = Region::map(&kernel, &spec)?;
    /// let placement = region.placement()?;
    /// assert_eq!(placement.pages.len(), 512);
    /// assert!(placement.pages.iter().all(|p| p.node.is_ok()));
    /// // The heap cannot say.
    /// let heap: Arc<dyn PageSource> = Arc::new(HeapSource::new());
    /// let err = Region::map(&heap, &spec)?.0.placement().unwrap_err();
    /// assert!(matches!(err, PlacementError::Unsupported { source_name: "heap" }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// If the source cannot report placement (the heap source) or `move_pages` fails.
    pub fn placement(&self) -> Result<Placement, PlacementError> {
        if !self.source.supports_placement() {
            return Err(PlacementError::Unsupported { source_name: self.source.name() });
        }
        placement::read_back(self.base.as_ptr() as usize, self.len)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` is exactly the mapping `map_kind` made, unmapped only here; the
        // owner of the region guarantees nothing refers into it once it is dropped.
        if let Err(e) = unsafe { self.source.unmap(self.base, self.len) } {
            // Drop must not panic: a failed munmap leaks address space but nothing worse.
            tracing::error!("unmapping {} bytes on {}: {e}", self.len, self.node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::heap::HeapSource;

    fn heap_with(node: NodeId, free_2m: u64) -> Arc<dyn PageSource> {
        Arc::new(HeapSource::new().with_huge_pages(node, PageKind::Huge2M, free_2m))
    }

    #[test]
    fn auto_falls_back_and_reports_numbers() {
        let node = NodeId::new(1);
        let source = heap_with(node, 32 << 20);
        let spec = RegionSpec::new(64 << 20, node);
        let (region, fallbacks) = Region::map(&source, &spec).unwrap();
        assert_eq!(region.kind(), PageKind::Thp);
        assert_eq!(fallbacks.len(), 1);
        let text = fallbacks[0].to_string();
        assert!(text.contains("node 1: requested 64 MiB in 2 MiB pages, 32 MiB free"), "{text}");
        assert!(text.contains("nr_hugepages"), "{text}");
    }

    #[test]
    fn strict_single_kind_fails_with_numbers() {
        let node = NodeId::new(2);
        let source = heap_with(node, 4 << 20);
        let spec =
            RegionSpec { policy: PagePolicy::Only(PageKind::Huge2M), strict: true, ..RegionSpec::new(8 << 20, node) };
        let err = Region::map(&source, &spec).unwrap_err();
        assert!(err.is_exhaustion());
        assert_eq!(err.to_string().split(';').next().unwrap(), "node 2: requested 8 MiB in 2 MiB pages, 4 MiB free");
    }

    #[test]
    fn non_strict_single_kind_falls_back() {
        let node = NodeId::new(0);
        let source = heap_with(node, 0);
        let spec = RegionSpec { policy: PagePolicy::Only(PageKind::Huge2M), ..RegionSpec::new(2 << 20, node) };
        let (region, fallbacks) = Region::map(&source, &spec).unwrap();
        assert_eq!(region.kind(), PageKind::Thp);
        assert_eq!(fallbacks[0].from, PageKind::Huge2M);
    }

    #[test]
    fn bad_lengths_are_rejected() {
        let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
        let spec = RegionSpec {
            policy: PagePolicy::Only(PageKind::Huge2M),
            strict: true,
            ..RegionSpec::new(3 << 20, NodeId::new(0))
        };
        assert!(matches!(Region::map(&source, &spec), Err(RegionError::BadLength { .. })));
        assert!(Region::map(&source, &RegionSpec::new(0, NodeId::new(0))).is_err());
    }

    #[test]
    fn sub_ranges_are_checked() {
        let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
        let spec = RegionSpec { policy: PagePolicy::Only(PageKind::Small), ..RegionSpec::new(1 << 20, NodeId::new(0)) };
        let (region, _) = Region::map(&source, &spec).unwrap();
        assert!(region.recommit(0, 4096).is_ok());
        assert!(region.recommit(4096, 1 << 20).is_err());
        assert!(region.recommit(100, 4096).is_err());
        assert!(region.recommit(usize::MAX - 4095, 4096).is_err());
        assert!(region.contains(region.base().as_ptr() as usize + 5));
        assert!(!region.contains(region.base().as_ptr() as usize + (1 << 20)));
        assert!(matches!(region.placement(), Err(PlacementError::Unsupported { .. })));
    }
}
