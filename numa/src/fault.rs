//! [`FaultySource`]: a [`PageSource`] wrapper that fails chosen calls on purpose, for tests of
//! everything above the OS boundary (feature `fault-injection`).
//!
//! A plan is a list of [`Fault`]s: "the n-th `map` from now fails with `ENOMEM`", "every
//! `bind` fails with `EIO`", "the next `populate` of a 2 MiB hugetlb mapping fails". Calls that
//! no fault matches go to the wrapped source unchanged. Counters say how many calls of each kind
//! were made and how many faults were injected, so tests (and `docs/RELIABILITY.md`) can state
//! exactly what was exercised.

use std::fmt;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::cgroup::CgroupLimits;
use crate::error::OsError;
use crate::source::{BindMode, MemlockStatus, PageSource};
use crate::{NodeId, PageKind, ThpMode};

/// A kind of call through the OS boundary.
///
/// ```
/// use std::sync::Arc;
/// use numaseg_numa::fault::{Fault, FaultySource, Op};
/// use numaseg_numa::{BindMode, NodeId, PageKind, PageSource, sys::heap::HeapSource};
/// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
/// faulty.inject(Fault::nth(Op::Bind, 1, libc::EIO));
/// let p = faulty.map(2 << 20, PageKind::Small, NodeId::new(0))?;
/// let err = faulty.bind(p, 2 << 20, NodeId::new(0), BindMode::Bind).unwrap_err();
/// assert_eq!((err.call(), err.raw_os_error()), ("mbind (injected)", Some(libc::EIO)));
/// assert_eq!((faulty.calls(Op::Map), faulty.calls(Op::Bind)), (1, 1));
/// // SAFETY: `p` is a live mapping of the wrapped source, and nothing refers into it.
/// unsafe { faulty.unmap(p, 2 << 20)? };
/// # Ok::<(), numaseg_numa::OsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`PageSource::map`].
    Map,
    /// [`PageSource::bind`].
    Bind,
    /// [`PageSource::populate`] (prefault and recommit).
    Populate,
    /// [`PageSource::decommit`].
    Decommit,
    /// [`PageSource::lock`].
    Lock,
    /// [`PageSource::unmap`].
    Unmap,
}

impl Op {
    const ALL: [Self; 6] = [Self::Map, Self::Bind, Self::Populate, Self::Decommit, Self::Lock, Self::Unmap];

    fn index(self) -> usize {
        match self {
            Self::Map => 0,
            Self::Bind => 1,
            Self::Populate => 2,
            Self::Decommit => 3,
            Self::Lock => 4,
            Self::Unmap => 5,
        }
    }

    fn call_name(self) -> &'static str {
        match self {
            Self::Map => "mmap (injected)",
            Self::Bind => "mbind (injected)",
            Self::Populate => "madvise(MADV_POPULATE_WRITE) (injected)",
            Self::Decommit => "madvise(MADV_DONTNEED) (injected)",
            Self::Lock => "mlock (injected)",
            Self::Unmap => "munmap (injected)",
        }
    }
}

/// One planned failure.
///
/// ```
/// use numaseg_numa::PageKind;
/// use numaseg_numa::fault::{Fault, Op};
/// let fault = Fault::nth(Op::Populate, 2, libc::ENOMEM).for_kind(PageKind::Huge2M);
/// assert_eq!((fault.op, fault.kind, fault.nth, fault.sticky), (Op::Populate, Some(PageKind::Huge2M), 2, false));
/// assert_eq!(fault.errno, libc::ENOMEM);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The kind of call.
    pub op: Op,
    /// Only calls for this page kind (where the call names one: map, populate), if set.
    pub kind: Option<PageKind>,
    /// Fail the `nth` matching call from when the fault was added (1 = the next one).
    pub nth: u64,
    /// Keep failing every matching call from the `nth` on.
    pub sticky: bool,
    /// The errno to fail with.
    pub errno: i32,
    seen: u64,
}

impl Fault {
    /// The `nth` next call of `op` fails with `errno`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::fault::{Fault, FaultySource, Op};
    /// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
    /// faulty.inject(Fault::nth(Op::Map, 2, libc::ENOMEM));
    /// let node = NodeId::new(0);
    /// let a = faulty.map(2 << 20, PageKind::Small, node)?; // 1st: passes
    /// assert!(faulty.map(2 << 20, PageKind::Small, node).is_err()); // 2nd: fails
    /// let b = faulty.map(2 << 20, PageKind::Small, node)?; // then the fault is spent
    /// assert_eq!(Fault::nth(Op::Map, 0, libc::ENOMEM).nth, 1); // 0 counts as the next call
    /// // SAFETY: `a` and `b` are live mappings of the wrapped source, and nothing refers into them.
    /// unsafe { faulty.unmap(a, 2 << 20)? };
    /// // SAFETY: as above.
    /// unsafe { faulty.unmap(b, 2 << 20)? };
    /// # Ok::<(), numaseg_numa::OsError>(())
    /// ```
    #[must_use]
    pub fn nth(op: Op, nth: u64, errno: i32) -> Self {
        Self { op, kind: None, nth: nth.max(1), sticky: false, errno, seen: 0 }
    }

    /// Every call of `op` from the next one on fails with `errno`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::fault::{Fault, FaultySource, Op};
    /// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
    /// faulty.inject(Fault::always(Op::Map, libc::ENOMEM));
    /// for _ in 0..3 {
    ///     let err = faulty.map(2 << 20, PageKind::Small, NodeId::new(0)).unwrap_err();
    ///     assert_eq!(err.raw_os_error(), Some(libc::ENOMEM));
    /// }
    /// assert_eq!(faulty.injected(), 3);
    /// ```
    #[must_use]
    pub fn always(op: Op, errno: i32) -> Self {
        Self { sticky: true, ..Self::nth(op, 1, errno) }
    }

    /// Restricts the fault to calls for one page kind.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::fault::{Fault, FaultySource, Op};
    /// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
    /// faulty.inject(Fault::always(Op::Map, libc::ENOMEM).for_kind(PageKind::Huge2M));
    /// let node = NodeId::new(0);
    /// assert!(faulty.map(2 << 20, PageKind::Huge2M, node).is_err());
    /// let small = faulty.map(2 << 20, PageKind::Small, node)?; // other kinds pass
    /// // SAFETY: `small` is a live mapping of the wrapped source, and nothing refers into it.
    /// unsafe { faulty.unmap(small, 2 << 20)? };
    /// # Ok::<(), numaseg_numa::OsError>(())
    /// ```
    #[must_use]
    pub fn for_kind(mut self, kind: PageKind) -> Self {
        self.kind = Some(kind);
        self
    }
}

/// A [`PageSource`] that fails planned calls.
///
/// ```
/// use std::sync::Arc;
/// use numaseg_numa::fault::{FaultySource, Fault, Op};
/// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
/// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
/// faulty.inject(Fault::nth(Op::Map, 2, libc::ENOMEM));
/// let a = faulty.map(2 << 20, PageKind::Small, NodeId::new(0)).unwrap();
/// let err = faulty.map(2 << 20, PageKind::Small, NodeId::new(0)).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::ENOMEM));
/// assert_eq!((faulty.calls(Op::Map), faulty.injected()), (2, 1));
/// // SAFETY: `a` is a live mapping of the wrapped source.
/// unsafe { faulty.unmap(a, 2 << 20).unwrap() };
/// ```
pub struct FaultySource {
    inner: Arc<dyn PageSource>,
    /// Simulated cgroup limits, reported instead of the wrapped source's when set.
    cgroup: Option<CgroupLimits>,
    /// A simulated THP mode, reported instead of the wrapped source's when set.
    thp: Option<ThpMode>,
    plan: Mutex<Vec<Fault>>,
    calls: [AtomicU64; 6],
    injected: AtomicU64,
}

impl fmt::Debug for FaultySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultySource")
            .field("inner", &self.inner.name())
            .field("plan", &*self.plan.lock().unwrap_or_else(PoisonError::into_inner))
            .field("injected", &self.injected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl FaultySource {
    /// Wraps `inner` with an empty plan.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::fault::{FaultySource, Op};
    /// use numaseg_numa::{PageSource, sys::heap::HeapSource};
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
    /// assert_eq!(faulty.name(), "faulty");
    /// assert_eq!((faulty.total_calls(), faulty.injected(), faulty.calls(Op::Map)), (0, 0, 0));
    /// assert!(!faulty.supports_placement()); // as the wrapped heap source
    /// ```
    #[must_use]
    pub fn new(inner: Arc<dyn PageSource>) -> Self {
        Self {
            inner,
            cgroup: None,
            thp: None,
            plan: Mutex::new(Vec::new()),
            calls: Default::default(),
            injected: AtomicU64::new(0),
        }
    }

    /// Reports `limits` as the cgroup limits ([`PageSource::cgroup_limits`]) instead of the
    /// wrapped source's: a test can put a kernel-backed manager under a cgroup limit without a
    /// cgroup.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{PageSource, cgroup::{CgroupLimits, Limit}, fault::FaultySource, sys::heap::HeapSource};
    /// let limits = CgroupLimits { memory: Some(Limit::simulated(64 << 20)), ..CgroupLimits::default() };
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new())).with_cgroup_limits(limits);
    /// assert_eq!(faulty.memory_limit().map(|l| l.bytes), Some(64 << 20));
    /// ```
    #[must_use]
    pub fn with_cgroup_limits(mut self, limits: CgroupLimits) -> Self {
        self.cgroup = Some(limits);
        self
    }

    /// Reports `mode` as the THP mode ([`PageSource::thp_mode`]) instead of the wrapped
    /// source's.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{PageSource, ThpMode, fault::FaultySource, sys::heap::HeapSource};
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new())).with_thp_mode(ThpMode::Always);
    /// assert_eq!(faulty.thp_mode(), ThpMode::Always);
    /// ```
    #[must_use]
    pub fn with_thp_mode(mut self, mode: ThpMode) -> Self {
        self.thp = Some(mode);
        self
    }

    /// Adds a fault to the plan.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::fault::{Fault, FaultySource, Op};
    /// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
    /// let p = faulty.map(2 << 20, PageKind::Small, NodeId::new(0))?;
    /// faulty.inject(Fault::nth(Op::Lock, 1, libc::EPERM));
    /// let err = faulty.lock(p, 2 << 20).unwrap_err();
    /// assert_eq!(err.to_string(), "mlock (injected) of 2097152 bytes failed: Operation not permitted (os error 1)");
    /// // SAFETY: `p` is a live mapping of the wrapped source, and nothing refers into it.
    /// unsafe { faulty.unmap(p, 2 << 20)? };
    /// # Ok::<(), numaseg_numa::OsError>(())
    /// ```
    pub fn inject(&self, fault: Fault) {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner).push(fault);
    }

    /// Empties the plan.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::fault::{Fault, FaultySource, Op};
    /// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
    /// faulty.inject(Fault::always(Op::Map, libc::ENOMEM));
    /// assert!(faulty.map(2 << 20, PageKind::Small, NodeId::new(0)).is_err());
    /// faulty.clear();
    /// let p = faulty.map(2 << 20, PageKind::Small, NodeId::new(0))?;
    /// assert_eq!(faulty.injected(), 1); // counters stay
    /// // SAFETY: `p` is a live mapping of the wrapped source, and nothing refers into it.
    /// unsafe { faulty.unmap(p, 2 << 20)? };
    /// # Ok::<(), numaseg_numa::OsError>(())
    /// ```
    pub fn clear(&self) {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Calls of `op` so far (failed or not).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::fault::{Fault, FaultySource, Op};
    /// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
    /// faulty.inject(Fault::nth(Op::Map, 1, libc::ENOMEM));
    /// assert!(faulty.map(2 << 20, PageKind::Small, NodeId::new(0)).is_err());
    /// let p = faulty.map(2 << 20, PageKind::Small, NodeId::new(0))?;
    /// assert_eq!(faulty.calls(Op::Map), 2); // failed calls count too
    /// assert_eq!(faulty.calls(Op::Unmap), 0);
    /// // SAFETY: `p` is a live mapping of the wrapped source, and nothing refers into it.
    /// unsafe { faulty.unmap(p, 2 << 20)? };
    /// assert_eq!(faulty.calls(Op::Unmap), 1);
    /// # Ok::<(), numaseg_numa::OsError>(())
    /// ```
    #[must_use]
    pub fn calls(&self, op: Op) -> u64 {
        self.calls[op.index()].load(Ordering::Relaxed)
    }

    /// Calls of every kind so far.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::fault::FaultySource;
    /// use numaseg_numa::{BindMode, NodeId, PageKind, PageSource, sys::heap::HeapSource};
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
    /// let node = NodeId::new(0);
    /// let p = faulty.map(2 << 20, PageKind::Small, node)?;
    /// faulty.bind(p, 2 << 20, node, BindMode::Preferred)?;
    /// faulty.populate(p, 2 << 20, PageKind::Small, node)?;
    /// // SAFETY: `p` is a live mapping of the wrapped source, and nothing refers into it.
    /// unsafe { faulty.unmap(p, 2 << 20)? };
    /// assert_eq!(faulty.total_calls(), 4);
    /// assert_eq!(faulty.memlock().locked, 0); // queries are not counted
    /// assert_eq!(faulty.total_calls(), 4);
    /// # Ok::<(), numaseg_numa::OsError>(())
    /// ```
    #[must_use]
    pub fn total_calls(&self) -> u64 {
        Op::ALL.iter().map(|&op| self.calls(op)).sum()
    }

    /// Faults injected so far.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::fault::{Fault, FaultySource, Op};
    /// use numaseg_numa::{NodeId, PageKind, PageSource, sys::heap::HeapSource};
    /// let faulty = FaultySource::new(Arc::new(HeapSource::new()));
    /// faulty.inject(Fault::nth(Op::Map, 1, libc::ENOMEM).for_kind(PageKind::Huge2M));
    /// let p = faulty.map(2 << 20, PageKind::Small, NodeId::new(0))?; // not matched
    /// assert_eq!(faulty.injected(), 0);
    /// assert!(faulty.map(2 << 20, PageKind::Huge2M, NodeId::new(0)).is_err());
    /// assert_eq!(faulty.injected(), 1);
    /// // SAFETY: `p` is a live mapping of the wrapped source, and nothing refers into it.
    /// unsafe { faulty.unmap(p, 2 << 20)? };
    /// # Ok::<(), numaseg_numa::OsError>(())
    /// ```
    #[must_use]
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Counts the call and says whether a fault fires for it.
    fn check(&self, op: Op, kind: Option<PageKind>, len: usize, node: Option<NodeId>) -> Result<(), OsError> {
        self.calls[op.index()].fetch_add(1, Ordering::Relaxed);
        let mut plan = self.plan.lock().unwrap_or_else(PoisonError::into_inner);
        let mut fire = None;
        for fault in plan.iter_mut() {
            if fault.op != op || (fault.kind.is_some() && fault.kind != kind) {
                continue;
            }
            fault.seen += 1;
            if fault.seen == fault.nth || (fault.sticky && fault.seen >= fault.nth) {
                fire = Some(fault.errno);
                break;
            }
        }
        plan.retain(|f| f.sticky || f.seen < f.nth);
        drop(plan);
        match fire {
            Some(errno) => {
                self.injected.fetch_add(1, Ordering::Relaxed);
                Err(OsError::Syscall { call: op.call_name(), len, node, source: io::Error::from_raw_os_error(errno) })
            }
            None => Ok(()),
        }
    }
}

impl PageSource for FaultySource {
    fn name(&self) -> &'static str {
        "faulty"
    }

    fn map(&self, len: usize, kind: PageKind, node: NodeId) -> Result<NonNull<u8>, OsError> {
        self.check(Op::Map, Some(kind), len, Some(node))?;
        self.inner.map(len, kind, node)
    }

    unsafe fn unmap(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError> {
        self.check(Op::Unmap, None, len, None)?;
        // SAFETY: the caller's duties are those of the wrapped source's `unmap`.
        unsafe { self.inner.unmap(addr, len) }
    }

    fn bind(&self, addr: NonNull<u8>, len: usize, node: NodeId, mode: BindMode) -> Result<(), OsError> {
        self.check(Op::Bind, None, len, Some(node))?;
        self.inner.bind(addr, len, node, mode)
    }

    fn populate(&self, addr: NonNull<u8>, len: usize, kind: PageKind, node: NodeId) -> Result<(), OsError> {
        self.check(Op::Populate, Some(kind), len, Some(node))?;
        self.inner.populate(addr, len, kind, node)
    }

    unsafe fn decommit(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError> {
        self.check(Op::Decommit, None, len, None)?;
        // SAFETY: the caller's duties are those of the wrapped source's `decommit`.
        unsafe { self.inner.decommit(addr, len) }
    }

    unsafe fn zero_pages(&self, addr: NonNull<u8>, len: usize, kind: PageKind, node: NodeId) -> Result<(), OsError> {
        self.check(Op::Decommit, None, len, None)?;
        // SAFETY: the caller's duties are those of the wrapped source's `zero_pages`.
        unsafe { self.inner.zero_pages(addr, len, kind, node) }
    }

    fn lock(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError> {
        self.check(Op::Lock, None, len, None)?;
        self.inner.lock(addr, len)
    }

    fn memlock(&self) -> MemlockStatus {
        self.inner.memlock()
    }

    fn huge_pages_free(&self, node: NodeId, kind: PageKind) -> Option<u64> {
        self.inner.huge_pages_free(node, kind)
    }

    fn thp_mode(&self) -> ThpMode {
        self.thp.unwrap_or_else(|| self.inner.thp_mode())
    }

    fn cgroup_limits(&self) -> CgroupLimits {
        self.cgroup.clone().unwrap_or_else(|| self.inner.cgroup_limits())
    }

    fn supports_placement(&self) -> bool {
        self.inner.supports_placement()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::heap::HeapSource;

    #[test]
    fn nth_fires_once_and_sticky_keeps_firing() {
        let f = FaultySource::new(Arc::new(HeapSource::new()));
        let node = NodeId::new(0);
        f.inject(Fault::nth(Op::Bind, 2, libc::EIO));
        let p = f.map(2 << 20, PageKind::Small, node).unwrap();
        assert!(f.bind(p, 2 << 20, node, BindMode::Bind).is_ok());
        assert_eq!(f.bind(p, 2 << 20, node, BindMode::Bind).unwrap_err().raw_os_error(), Some(libc::EIO));
        assert!(f.bind(p, 2 << 20, node, BindMode::Bind).is_ok(), "an nth fault fires once");
        f.inject(Fault::always(Op::Populate, libc::EFAULT).for_kind(PageKind::Huge2M));
        assert!(f.populate(p, 2 << 20, PageKind::Small, node).is_ok(), "other kinds pass");
        for _ in 0..3 {
            assert!(f.populate(p, 2 << 20, PageKind::Huge2M, node).is_err());
        }
        f.clear();
        assert!(f.populate(p, 2 << 20, PageKind::Huge2M, node).is_ok());
        assert_eq!(f.injected(), 4);
        assert_eq!(f.calls(Op::Populate), 5);
        // SAFETY: `p` is a live mapping of the wrapped source.
        unsafe { f.unmap(p, 2 << 20).unwrap() };
        assert_eq!(f.total_calls(), 10);
    }

    #[test]
    fn a_refused_hugetlb_mapping_names_the_simulated_cgroup_limit() {
        use crate::cgroup::{CgroupLimits, Limit};
        use crate::{PagePolicy, Region, RegionError, RegionSpec};
        let node = NodeId::new(0);
        // The pool has the pages; the (simulated) hugetlb controller refuses them.
        let heap = HeapSource::new().with_huge_pages(node, PageKind::Huge2M, 8 << 20);
        let limits = CgroupLimits { huge_2m: Some(Limit::simulated(2 << 20)), ..CgroupLimits::default() };
        let faulty = FaultySource::new(Arc::new(heap)).with_cgroup_limits(limits);
        faulty.inject(Fault::nth(Op::Map, 1, libc::ENOMEM).for_kind(PageKind::Huge2M));
        let source: Arc<dyn PageSource> = Arc::new(faulty);
        let spec =
            RegionSpec { policy: PagePolicy::Only(PageKind::Huge2M), strict: true, ..RegionSpec::new(4 << 20, node) };
        match Region::map(&source, &spec).unwrap_err() {
            RegionError::HugetlbRefused { cgroup_limit, free_bytes, .. } => {
                assert_eq!(free_bytes, 8 << 20);
                assert_eq!(cgroup_limit, Some((2 << 20, "(simulated)".to_owned())));
            }
            other => panic!("expected HugetlbRefused, got {other:?}"),
        }
    }
}
