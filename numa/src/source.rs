//! The platform contract: [`PageSource`], the one door through which numaseg asks the OS for
//! memory, binds it to a node, populates, decommits and returns it.
//!
//! Everything above this trait (regions, arenas, caches, managers) is written against it, so the
//! same code runs on the kernel ([`LinuxSource`](crate::sys::linux::LinuxSource)), on the Rust
//! heap for loom models and Miri ([`HeapSource`](crate::sys::heap::HeapSource)), and behind a
//! fault injector in tests (`FaultySource`, feature `fault-injection`).

use std::fmt;
use std::ptr::NonNull;

use crate::cgroup::{CgroupLimits, Limit};
use crate::error::OsError;
use crate::{NodeId, PageKind, ThpMode};

/// How strongly a region is tied to its node.
///
/// ```
/// use std::sync::Arc;
/// use numaseg_numa::{BindMode, NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
/// assert_eq!(BindMode::Bind.to_string(), "bind");
/// assert_eq!(BindMode::Preferred.to_string(), "preferred");
/// // Strict regions are bound, the others preferred.
/// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
/// let spec = RegionSpec { strict: true, ..RegionSpec::new(2 << 20, NodeId::new(0)) };
/// assert_eq!(Region::map(&source, &spec)?.0.bind_mode(), BindMode::Bind);
/// # Ok::<(), numaseg_numa::RegionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindMode {
    /// `MPOL_BIND`: pages come from the node or not at all.
    Bind,
    /// `MPOL_PREFERRED`: pages come from the node while it has free memory, else from another.
    Preferred,
}

impl fmt::Display for BindMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bind => "bind",
            Self::Preferred => "preferred",
        })
    }
}

/// What `RLIMIT_MEMLOCK` allows this process.
///
/// ```
/// use std::sync::Arc;
/// use numaseg_numa::{MemlockStatus, NodeId, PageSource, Region, RegionSpec, sys::heap::HeapSource};
/// // The heap source has no limit and locks nothing.
/// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
/// assert_eq!(source.memlock(), MemlockStatus { limit: None, locked: 0 });
/// let (region, _) = Region::map(&source, &RegionSpec { lock: true, ..RegionSpec::new(2 << 20, NodeId::new(0)) })?;
/// assert!(region.is_locked());
/// # Ok::<(), numaseg_numa::RegionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemlockStatus {
    /// The soft limit in bytes; `None` when unlimited (`RLIM_INFINITY`) or the process holds
    /// `CAP_IPC_LOCK`.
    pub limit: Option<u64>,
    /// Bytes locked by this process now (`VmLck`).
    pub locked: u64,
}

/// The OS operations numaseg needs. Implementations must be usable from any thread.
///
/// Addresses passed back in must come from [`PageSource::map`] of the same source; lengths are
/// multiples of the mapping's page size. The `unsafe` methods destroy contents or mappings, so
/// their callers must prove nothing live is in the range.
///
/// ```
/// use numaseg_numa::{BindMode, NodeId, PageKind, PageSource, sys::heap::HeapSource};
/// // The whole life of a mapping, on the heap source (no system call).
/// let source = HeapSource::new();
/// let (len, node) = (2 << 20, NodeId::new(0));
/// let p = source.map(len, PageKind::Small, node)?;
/// source.bind(p, len, node, BindMode::Preferred)?;
/// source.populate(p, len, PageKind::Small, node)?;
/// // SAFETY: the mapping is ours alone and `len` bytes long.
/// unsafe { p.as_ptr().write_bytes(0xAB, len) };
/// // SAFETY: nothing in the first 4 KiB is needed any more, and no one else touches it.
/// unsafe { source.decommit(p, 4096)? };
/// // SAFETY: both bytes lie inside the mapping, which nothing else writes.
/// assert_eq!(unsafe { (*p.as_ptr(), *p.as_ptr().add(4096)) }, (0, 0xAB));
/// assert_eq!((source.name(), source.supports_placement()), ("heap", false));
/// // SAFETY: `p` is the mapping made above, and nothing refers into it any more.
/// unsafe { source.unmap(p, len)? };
/// # Ok::<(), numaseg_numa::OsError>(())
/// ```
pub trait PageSource: Send + Sync + fmt::Debug {
    /// A short name for messages (`linux`, `heap`, ...).
    fn name(&self) -> &'static str;

    /// Maps `len` bytes of `kind` pages, not yet bound or touched, aligned to at least
    /// `max(kind.page_size(), 2 MiB)`. `node` is only for error messages.
    ///
    /// # Errors
    /// The kernel's refusal (`ENOMEM` when hugetlb pages cannot be reserved).
    fn map(&self, len: usize, kind: PageKind, node: NodeId) -> Result<NonNull<u8>, OsError>;

    /// Unmaps a mapping returned by [`PageSource::map`].
    ///
    /// # Safety
    /// - `addr`/`len` are exactly one earlier `map` result of this source, not yet unmapped;
    /// - no reference into the range is used afterwards.
    ///
    /// # Errors
    /// The kernel's refusal (which leaves the mapping in place).
    unsafe fn unmap(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError>;

    /// Sets the memory policy of the range so future faults come from `node`.
    ///
    /// # Errors
    /// The kernel's refusal (`EINVAL` for a node it does not know, `EIO` where `MPOL_MF_STRICT`
    /// finds misplaced pages).
    fn bind(&self, addr: NonNull<u8>, len: usize, node: NodeId, mode: BindMode) -> Result<(), OsError>;

    /// Faults every page of the range in now (`MADV_POPULATE_WRITE`), so the hot path never
    /// takes a page fault. Contents of pages already present are kept.
    ///
    /// # Errors
    /// `ENOMEM`/`EFAULT` when the node cannot supply the pages (hugetlb pool empty, `MPOL_BIND`
    /// node full).
    fn populate(&self, addr: NonNull<u8>, len: usize, kind: PageKind, node: NodeId) -> Result<(), OsError>;

    /// Gives the range's pages back to the OS (`MADV_DONTNEED`); the range stays mapped and reads
    /// as zeros until populated again.
    ///
    /// # Safety
    /// - the range lies in a live mapping of this source;
    /// - nothing stored in it is needed any more, and no other thread reads or writes it now.
    ///
    /// # Errors
    /// The kernel's refusal.
    unsafe fn decommit(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError>;

    /// Makes the range read as zeros and keeps it where it is: the kernel source drops its pages
    /// (`MADV_DONTNEED`) and faults them in again ([`PageSource::populate`]), so they come back
    /// zeroed by the kernel from the node the range is bound to; a source without pages of its
    /// own (the heap) writes zeros. For clearing whole huge pages where that is cheaper than
    /// writing them.
    ///
    /// # Safety
    /// As [`PageSource::decommit`]: the range lies in a live mapping of this source, nothing
    /// stored in it is needed any more, and no other thread reads or writes it now.
    ///
    /// # Errors
    /// The kernel's refusal of either step (the range then reads as zeros but may be
    /// unpopulated).
    unsafe fn zero_pages(&self, addr: NonNull<u8>, len: usize, kind: PageKind, node: NodeId) -> Result<(), OsError> {
        let _ = (kind, node);
        // SAFETY: the caller promises the range is ours, writable, and touched by no one else.
        unsafe { addr.as_ptr().write_bytes(0, len) };
        Ok(())
    }

    /// Locks the range in RAM (`mlock`).
    ///
    /// # Errors
    /// `ENOMEM`/`EPERM` when `RLIMIT_MEMLOCK` does not allow it.
    fn lock(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError>;

    /// The process's locked-memory limit and usage.
    fn memlock(&self) -> MemlockStatus;

    /// Free bytes in `node`'s pool of `kind` pages, where there is such a pool.
    fn huge_pages_free(&self, node: NodeId, kind: PageKind) -> Option<u64>;

    /// The THP mode this source's memory is subject to, as read when the source was made
    /// (`/sys/kernel/mm/transparent_hugepage/enabled` for the kernel).
    fn thp_mode(&self) -> ThpMode;

    /// The cgroup limits this source's memory is charged to, as read when the source was made
    /// (the kernel's: [`CgroupLimits::current`]; a source that is not the kernel reports none
    /// unless it simulates some).
    ///
    /// ```
    /// use numaseg_numa::{PageSource, cgroup::{CgroupLimits, Limit}, sys::heap::HeapSource};
    /// assert_eq!(HeapSource::new().cgroup_limits(), CgroupLimits::default());
    /// let limits = CgroupLimits { memory: Some(Limit::simulated(1 << 30)), ..CgroupLimits::default() };
    /// let heap = HeapSource::new().with_cgroup_limits(limits);
    /// assert_eq!(heap.memory_limit().map(|l| l.bytes), Some(1 << 30));
    /// ```
    fn cgroup_limits(&self) -> CgroupLimits;

    /// The memory controller's limit in effect (`memory.max`, or v1 `memory.limit_in_bytes`):
    /// what base pages and THP are charged to when they are faulted in.
    ///
    /// ```
    /// use numaseg_numa::{PageSource, sys::heap::HeapSource};
    /// assert!(HeapSource::new().memory_limit().is_none());
    /// ```
    fn memory_limit(&self) -> Option<Limit> {
        self.cgroup_limits().memory
    }

    /// Whether addresses from this source can be checked with
    /// [`placement::read_back`](crate::placement::read_back) (only real kernel mappings can).
    fn supports_placement(&self) -> bool;
}
