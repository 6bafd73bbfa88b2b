//! Errors of the OS layer. Every message names the subject (node, page kind, call) and the
//! numbers a user needs to act on it.

use std::io;

use crate::{NodeId, PageKind};

/// A system call that failed, with the kernel's answer.
///
/// ```
/// use std::sync::Arc;
/// use numaseg_numa::{NodeId, OsError, PageSource, Region, RegionSpec, sys::heap::HeapSource};
/// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
/// let (region, _) = Region::map(&source, &RegionSpec::new(2 << 20, NodeId::new(1)))?;
/// // A range past the end of the region.
/// let err: OsError = region.recommit(2 << 20, 2 << 20).unwrap_err();
/// assert!(matches!(err, OsError::Syscall { len: 2097152, node: Some(n), .. } if n == NodeId::new(1)));
/// assert_eq!(err.to_string(), "region sub-range of 2097152 bytes on node 1 failed: Invalid argument (os error 22)");
/// # Ok::<(), numaseg_numa::RegionError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OsError {
    /// A call into the kernel failed.
    #[error("{call} of {len} bytes{} failed: {source}", on_node(*.node))]
    Syscall {
        /// The call, e.g. `mmap`, `mbind`, `madvise(MADV_POPULATE_WRITE)`.
        call: &'static str,
        /// The length of the range it was given.
        len: usize,
        /// The node it was for, where it was for one.
        node: Option<NodeId>,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
}

impl OsError {
    /// The raw `errno`, if the kernel gave one.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, OsError};
    /// let err = OsError::Syscall {
    ///     call: "mbind",
    ///     len: 4096,
    ///     node: Some(NodeId::new(0)),
    ///     source: std::io::Error::from_raw_os_error(22),
    /// };
    /// assert_eq!(err.raw_os_error(), Some(22)); // EINVAL
    /// let other = OsError::Syscall { call: "mbind", len: 4096, node: None, source: std::io::Error::other("no errno") };
    /// assert_eq!(other.raw_os_error(), None);
    /// ```
    #[must_use]
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Syscall { source, .. } => source.raw_os_error(),
        }
    }

    /// The name of the call that failed.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, OsError};
    /// let err = OsError::Syscall {
    ///     call: "madvise(MADV_POPULATE_WRITE)",
    ///     len: 2 << 20,
    ///     node: Some(NodeId::new(0)),
    ///     source: std::io::Error::from_raw_os_error(12),
    /// };
    /// assert_eq!(err.call(), "madvise(MADV_POPULATE_WRITE)");
    /// assert!(err.to_string().starts_with("madvise(MADV_POPULATE_WRITE) of 2097152 bytes on node 0 failed: "));
    /// ```
    #[must_use]
    pub fn call(&self) -> &'static str {
        match self {
            Self::Syscall { call, .. } => call,
        }
    }
}

fn on_node(node: Option<NodeId>) -> String {
    node.map_or_else(String::new, |n| format!(" on {n}"))
}

/// Mapping a region failed.
///
/// ```
/// use std::sync::Arc;
/// use numaseg_numa::{NodeId, PageKind, PageSource, Region, RegionError, RegionSpec, sys::heap::HeapSource};
/// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
/// let err = Region::map(&source, &RegionSpec::new(0, NodeId::new(0))).unwrap_err();
/// assert!(matches!(err, RegionError::BadLength { len: 0, kind: PageKind::Small, page_size: 4096 }));
/// assert_eq!(
///     err.to_string(),
///     "a region of 0 bytes cannot be made of small pages: the length must be a non-zero multiple of 4096 bytes"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegionError {
    /// The node's hugetlb pool cannot hold the region.
    #[error(
        "{node}: requested {requested_mib} MiB in {kind_size} pages, {free_mib} MiB free; reserve more with \
         `echo N > /sys/devices/system/node/node{node_index}/hugepages/{pool}/nr_hugepages`",
        requested_mib = requested_bytes >> 20,
        free_mib = free_bytes >> 20,
        kind_size = page_size_label(*kind),
        node_index = node.index(),
        pool = kind.sysfs_pool_name().unwrap_or("?"),
    )]
    HugePagesExhausted {
        /// The node asked for.
        node: NodeId,
        /// The hugetlb kind asked for.
        kind: PageKind,
        /// Bytes asked for.
        requested_bytes: usize,
        /// Bytes free in that node's pool of that kind when the map was tried.
        free_bytes: u64,
    },
    /// The node's pool had room, but the kernel refused the hugetlb reservation: a hugetlb
    /// cgroup limit (or overcommit setting) is in the way.
    #[error(
        "{node}: requested {requested_mib} MiB in {kind_size} pages; the node's pool has {free_mib} MiB free, but the kernel refused the reservation{}",
        cgroup_limit.as_ref().map(|(bytes, file)| format!(" — the hugetlb cgroup limit is {} MiB ({file})", bytes >> 20)).unwrap_or_default(),
        requested_mib = requested_bytes >> 20,
        free_mib = free_bytes >> 20,
        kind_size = page_size_label(*kind),
    )]
    HugetlbRefused {
        /// The node asked for.
        node: NodeId,
        /// The hugetlb kind asked for.
        kind: PageKind,
        /// Bytes asked for.
        requested_bytes: usize,
        /// Bytes free in the node's pool.
        free_bytes: u64,
        /// The cgroup's hugetlb limit for this page size and the file it was read from, if any.
        cgroup_limit: Option<(u64, String)>,
    },
    /// The region length does not suit the page kind.
    #[error(
        "a region of {len} bytes cannot be made of {kind} pages: the length must be a non-zero multiple of {page_size} bytes"
    )]
    BadLength {
        /// Length asked for.
        len: usize,
        /// Kind asked for.
        kind: PageKind,
        /// That kind's page size.
        page_size: usize,
    },
    /// Transparent huge pages are off in this kernel and strict mode forbids base pages.
    #[error("{node}: transparent huge pages requested, but the kernel's THP mode is {mode}")]
    ThpUnavailable {
        /// The node asked for.
        node: NodeId,
        /// The kernel's THP mode.
        mode: crate::ThpMode,
    },
    /// Locking the region would pass `RLIMIT_MEMLOCK`.
    #[error(
        "locking {requested} bytes would exceed RLIMIT_MEMLOCK ({limit} bytes, {locked} already locked); \
         raise it (`ulimit -l`, systemd LimitMEMLOCK=) or grant CAP_IPC_LOCK, or turn locking off"
    )]
    MemlockLimit {
        /// Bytes to lock.
        requested: usize,
        /// The soft limit.
        limit: u64,
        /// Bytes this process has locked already.
        locked: u64,
    },
    /// The node is not one this process may place memory on.
    #[error("{node} is not available to this process (allowed memory nodes: {allowed})")]
    NodeNotAllowed {
        /// The node asked for.
        node: NodeId,
        /// The nodes the process may use, in list syntax.
        allowed: String,
    },
    /// Every kind the policy allows was tried and failed; the last error is kept, the others
    /// are in `attempts`.
    #[error("{node}: no page kind could back {len} bytes ({}); last error: {last}", attempts.join("; "))]
    AllKindsFailed {
        /// The node asked for.
        node: NodeId,
        /// Bytes asked for.
        len: usize,
        /// What was tried, one line per kind.
        attempts: Vec<String>,
        /// The last error.
        #[source]
        last: Box<RegionError>,
    },
    /// A system call failed.
    #[error(transparent)]
    Os(#[from] OsError),
}

impl RegionError {
    /// Whether this error means huge pages ran short (as opposed to a bad request or an OS fault).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg_numa::{NodeId, PageKind, PagePolicy, PageSource, Region, RegionSpec, sys::heap::HeapSource};
    /// // A heap source pretending node 0's 2 MiB pool is empty.
    /// let node = NodeId::new(0);
    /// let source: Arc<dyn PageSource> = Arc::new(HeapSource::new().with_huge_pages(node, PageKind::Huge2M, 0));
    /// let strict = RegionSpec { policy: PagePolicy::Only(PageKind::Huge2M), strict: true, ..RegionSpec::new(2 << 20, node) };
    /// assert!(Region::map(&source, &strict).unwrap_err().is_exhaustion());
    /// // A bad length is not.
    /// assert!(!Region::map(&source, &RegionSpec { len: 4096, ..strict }).unwrap_err().is_exhaustion());
    /// ```
    #[must_use]
    pub fn is_exhaustion(&self) -> bool {
        match self {
            Self::HugePagesExhausted { .. } | Self::HugetlbRefused { .. } => true,
            Self::AllKindsFailed { last, .. } => last.is_exhaustion(),
            Self::Os(e) => matches!(e.raw_os_error(), Some(libc::ENOMEM)),
            _ => false,
        }
    }
}

pub(crate) fn page_size_label(kind: PageKind) -> &'static str {
    match kind {
        PageKind::Huge1G => "1 GiB",
        PageKind::Huge2M | PageKind::Thp => "2 MiB",
        PageKind::Small => "4 KiB",
    }
}

/// Building the topology snapshot failed.
///
/// ```
/// use numaseg_numa::{Allowed, NodeId, RawNode, Topology, TopologyError};
/// let raw = [RawNode { id: NodeId::new(0), cpus: vec![0], memory_bytes: 1 << 30 }];
/// let allowed = Allowed { cpus: vec![0], mems: "1".parse()? };
/// let err = Topology::assemble(&raw, None, &allowed, |_, _| None, "example").unwrap_err();
/// assert!(matches!(&err, TopologyError::NoUsableNode { mems_allowed } if mems_allowed == "1"));
/// assert_eq!(err.to_string(), "no NUMA node is usable by this process (allowed memory nodes: \"1\")");
/// assert!(matches!(Topology::from_synthetic("no such thing"), Err(TopologyError::Hwloc(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// hwloc could not build a topology.
    #[error("hwloc failed to build the topology: {0}")]
    Hwloc(String),
    /// After applying the process's CPU affinity and allowed memory nodes nothing was left.
    #[error("no NUMA node is usable by this process (allowed memory nodes: {mems_allowed:?})")]
    NoUsableNode {
        /// The allowed memory nodes as read from the process status.
        mems_allowed: String,
    },
    /// A sysfs or procfs file could not be read or parsed.
    #[error("reading {path}: {reason}")]
    Proc {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Reading placement back failed.
///
/// ```
/// use numaseg_numa::{PlacementError, placement::read_back};
/// let err = read_back(0x1001, 4096).unwrap_err();
/// assert!(matches!(err, PlacementError::BadRange { addr: 0x1001, len: 4096 }));
/// assert_eq!(err.to_string(), "placement query of 4096 bytes at 0x1001: the range must be non-empty and page-aligned");
/// assert!(matches!(read_back(0x1000, 0), Err(PlacementError::BadRange { len: 0, .. })));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlacementError {
    /// `move_pages` failed as a whole.
    #[error(transparent)]
    Os(#[from] OsError),
    /// The page source cannot report placement (only kernel mappings can).
    #[error("the {source_name} page source cannot report placement")]
    Unsupported {
        /// The source's name.
        source_name: &'static str,
    },
    /// The range is empty or not page-aligned.
    #[error("placement query of {len} bytes at {addr:#x}: the range must be non-empty and page-aligned")]
    BadRange {
        /// Start address.
        addr: usize,
        /// Length.
        len: usize,
    },
}
