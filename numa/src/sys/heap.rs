//! A [`PageSource`] on the Rust heap, for loom models, Miri and unit tests: no system call,
//! every node accepted, binding and locking are no-ops, and decommit zeroes the range (what a
//! decommitted range reads as on the kernel).
//!
//! It can also pretend to have a limited hugetlb pool per node ([`HeapSource::with_huge_pages`]),
//! so fallback logic can be exercised without root, and simulate the OS settings the layers
//! above read through the source: a cgroup's limits ([`HeapSource::with_cgroup_limits`]) and
//! the THP mode ([`HeapSource::with_thp_mode`], `madvise` unless set).

use std::alloc::{self, Layout};
use std::collections::HashMap;
use std::io;
use std::ptr::NonNull;
use std::sync::Mutex;

use crate::cgroup::CgroupLimits;
use crate::error::OsError;
use crate::page::HUGE_2M;
use crate::source::{BindMode, MemlockStatus, PageSource};
use crate::{NodeId, PageKind, ThpMode};

/// Heap-backed pages.
///
/// ```
/// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
/// let heap = HeapSource::new();
/// let p = heap.map(4 << 20, PageKind::Small, NodeId::new(3))?;
/// assert_eq!(p.as_ptr() as usize % (2 << 20), 0);
/// // SAFETY: `p` is the mapping just made and nothing refers into it.
/// unsafe { heap.unmap(p, 4 << 20)? };
/// # Ok::<(), numaseg_numa::OsError>(())
/// ```
#[derive(Debug)]
pub struct HeapSource {
    /// Simulated free hugetlb bytes per (node, kind); kinds absent here are unlimited.
    huge_free: Mutex<HashMap<(NodeId, PageKind), u64>>,
    /// Size of each live hugetlb mapping, to give pages back on unmap.
    live: Mutex<HashMap<usize, (NodeId, PageKind)>>,
    /// The simulated cgroup limits (none unless set).
    cgroup: CgroupLimits,
    /// The simulated THP mode.
    thp: ThpMode,
}

impl Default for HeapSource {
    fn default() -> Self {
        Self {
            huge_free: Mutex::default(),
            live: Mutex::default(),
            cgroup: CgroupLimits::default(),
            thp: ThpMode::Madvise,
        }
    }
}

impl HeapSource {
    /// A heap source with unlimited pages of every kind.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, PageKind, PageSource, ThpMode, sys::heap::HeapSource};
    /// let heap = HeapSource::new();
    /// assert_eq!((heap.name(), heap.supports_placement()), ("heap", false));
    /// assert_eq!(heap.live_mappings(), 0);
    /// assert_eq!(heap.huge_pages_free(NodeId::new(0), PageKind::Huge2M), None); // unlimited
    /// assert_eq!(heap.thp_mode(), ThpMode::Madvise);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Limits `node`'s simulated pool of `kind` (a hugetlb kind) to `bytes`.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
    /// let node = NodeId::new(1);
    /// let heap = HeapSource::new().with_huge_pages(node, PageKind::Huge2M, 4 << 20);
    /// let p = heap.map(2 << 20, PageKind::Huge2M, node)?;
    /// assert_eq!(heap.huge_pages_free(node, PageKind::Huge2M), Some(2 << 20));
    /// // Too big for what is left: the kernel's answer, ENOMEM.
    /// let err = heap.map(4 << 20, PageKind::Huge2M, node).unwrap_err();
    /// assert_eq!((err.call(), err.raw_os_error()), ("mmap(MAP_HUGETLB)", Some(12)));
    /// // SAFETY: `p` is the mapping made above, and nothing refers into it.
    /// unsafe { heap.unmap(p, 2 << 20)? };
    /// assert_eq!(heap.huge_pages_free(node, PageKind::Huge2M), Some(4 << 20)); // back in the pool
    /// assert_eq!(heap.huge_pages_free(NodeId::new(0), PageKind::Huge2M), None); // other nodes: unlimited
    /// # Ok::<(), numaseg_numa::OsError>(())
    /// ```
    #[must_use]
    pub fn with_huge_pages(self, node: NodeId, kind: PageKind, bytes: u64) -> Self {
        self.huge_free.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert((node, kind), bytes);
        self
    }

    /// Simulates the cgroup limits the source reports ([`PageSource::cgroup_limits`]); the
    /// source itself enforces none of them.
    ///
    /// ```
    /// use numaseg_numa::{PageSource, cgroup::{CgroupLimits, Limit}, sys::heap::HeapSource};
    /// let limits = CgroupLimits { memory: Some(Limit::simulated(256 << 20)), ..CgroupLimits::default() };
    /// let heap = HeapSource::new().with_cgroup_limits(limits.clone());
    /// assert_eq!(heap.cgroup_limits(), limits);
    /// ```
    #[must_use]
    pub fn with_cgroup_limits(mut self, limits: CgroupLimits) -> Self {
        self.cgroup = limits;
        self
    }

    /// Simulates the THP mode the source reports ([`PageSource::thp_mode`]; `madvise` unless
    /// set). In a mode that does not allow THP, regions of the `thp` kind are refused as on the
    /// kernel.
    ///
    /// ```
    /// use numaseg_numa::{PageSource, ThpMode, sys::heap::HeapSource};
    /// assert_eq!(HeapSource::new().thp_mode(), ThpMode::Madvise);
    /// assert_eq!(HeapSource::new().with_thp_mode(ThpMode::Never).thp_mode(), ThpMode::Never);
    /// ```
    #[must_use]
    pub const fn with_thp_mode(mut self, mode: ThpMode) -> Self {
        self.thp = mode;
        self
    }

    /// Mappings made and not yet unmapped: zero once everything went back.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
    /// let heap = HeapSource::new();
    /// let a = heap.map(2 << 20, PageKind::Small, NodeId::new(0))?;
    /// let b = heap.map(2 << 20, PageKind::Thp, NodeId::new(0))?;
    /// assert_eq!(heap.live_mappings(), 2);
    /// // SAFETY: `a` and `b` are mappings made above, and nothing refers into them.
    /// unsafe { heap.unmap(a, 2 << 20)? };
    /// // SAFETY: as above.
    /// unsafe { heap.unmap(b, 2 << 20)? };
    /// assert_eq!(heap.live_mappings(), 0);
    /// # Ok::<(), numaseg_numa::OsError>(())
    /// ```
    #[must_use]
    pub fn live_mappings(&self) -> usize {
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    fn layout(len: usize, kind: PageKind) -> Option<Layout> {
        // Every kind gets the 2 MiB alignment the trait promises; 1 GiB alignment on the heap
        // would waste address space for nothing (nothing above relies on more than 2 MiB).
        let _ = kind;
        Layout::from_size_align(len, HUGE_2M).ok()
    }
}

fn enomem(call: &'static str, len: usize, node: NodeId) -> OsError {
    OsError::Syscall { call, len, node: Some(node), source: io::Error::from_raw_os_error(libc::ENOMEM) }
}

impl PageSource for HeapSource {
    fn name(&self) -> &'static str {
        "heap"
    }

    fn map(&self, len: usize, kind: PageKind, node: NodeId) -> Result<NonNull<u8>, OsError> {
        let layout = Self::layout(len, kind).filter(|l| l.size() > 0).ok_or_else(|| enomem("heap map", len, node))?;
        if kind.is_hugetlb() {
            let mut pools = self.huge_free.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(free) = pools.get_mut(&(node, kind)) {
                if *free < len as u64 {
                    return Err(enomem("mmap(MAP_HUGETLB)", len, node));
                }
                *free -= len as u64;
            }
        }
        // SAFETY: `layout` has a non-zero size (checked above).
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| enomem("heap map", len, node))?;
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(ptr.as_ptr() as usize, (node, kind));
        Ok(ptr)
    }

    unsafe fn unmap(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError> {
        let (node, kind) = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&(addr.as_ptr() as usize))
            .ok_or_else(|| OsError::Syscall {
                call: "heap unmap",
                len,
                node: None,
                source: io::Error::from_raw_os_error(libc::EINVAL),
            })?;
        if let Some(free) =
            self.huge_free.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(&(node, kind))
        {
            *free += len as u64;
        }
        let layout = Self::layout(len, kind).ok_or_else(|| enomem("heap unmap", len, node))?;
        // SAFETY: the caller promises `addr`/`len` is one live `map` result (the `live` table
        // confirms it was), allocated with this same layout, and unused from now on.
        unsafe { alloc::dealloc(addr.as_ptr(), layout) };
        Ok(())
    }

    fn bind(&self, _addr: NonNull<u8>, _len: usize, _node: NodeId, _mode: BindMode) -> Result<(), OsError> {
        Ok(())
    }

    fn populate(&self, _addr: NonNull<u8>, _len: usize, _kind: PageKind, _node: NodeId) -> Result<(), OsError> {
        Ok(())
    }

    unsafe fn decommit(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError> {
        // SAFETY: the caller promises the range is inside one of our live allocations and that
        // no other thread touches it now.
        unsafe { addr.as_ptr().write_bytes(0, len) };
        Ok(())
    }

    fn lock(&self, _addr: NonNull<u8>, _len: usize) -> Result<(), OsError> {
        Ok(())
    }

    fn memlock(&self) -> MemlockStatus {
        MemlockStatus { limit: None, locked: 0 }
    }

    fn huge_pages_free(&self, node: NodeId, kind: PageKind) -> Option<u64> {
        self.huge_free.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&(node, kind)).copied()
    }

    fn thp_mode(&self) -> ThpMode {
        self.thp
    }

    fn cgroup_limits(&self) -> CgroupLimits {
        self.cgroup.clone()
    }

    fn supports_placement(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_pool_runs_out_and_refills() {
        let node = NodeId::new(1);
        let heap = HeapSource::new().with_huge_pages(node, PageKind::Huge2M, 4 << 20);
        let a = heap.map(4 << 20, PageKind::Huge2M, node).unwrap();
        assert_eq!(heap.huge_pages_free(node, PageKind::Huge2M), Some(0));
        let err = heap.map(2 << 20, PageKind::Huge2M, node).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOMEM));
        // Other nodes are unlimited.
        let b = heap.map(2 << 20, PageKind::Huge2M, NodeId::new(0)).unwrap();
        // SAFETY: `a` is a live mapping of `heap` with the length it was made with.
        unsafe { heap.unmap(a, 4 << 20).unwrap() };
        // SAFETY: as for `a`.
        unsafe { heap.unmap(b, 2 << 20).unwrap() };
        assert_eq!(heap.huge_pages_free(node, PageKind::Huge2M), Some(4 << 20));
    }

    #[test]
    fn decommit_zeroes() {
        let heap = HeapSource::new();
        let node = NodeId::new(0);
        let p = heap.map(2 << 20, PageKind::Small, node).unwrap();
        // SAFETY: `p` is a live 2 MiB mapping and nothing else uses it.
        let bytes = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), 2 << 20) };
        bytes[..8192].fill(0xAB);
        let second = NonNull::from(&mut bytes[4096]);
        // SAFETY: the second page is inside the mapping and its contents are not needed.
        unsafe { heap.decommit(second, 4096).unwrap() };
        assert_eq!(bytes[0], 0xAB);
        assert_eq!(bytes[4096], 0);
        // SAFETY: `p` is the live mapping made above; `bytes` is not used after this.
        unsafe { heap.unmap(p, 2 << 20).unwrap() };
    }
}
