//! Errors of the OS layer. Every message names the subject (node, page kind, call) and the
//! numbers a user needs to act on it.

use std::io;

use crate::{NodeId, PageKind};

/// A system call that failed, with the kernel's answer.
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
    #[must_use]
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Syscall { source, .. } => source.raw_os_error(),
        }
    }

    /// The name of the call that failed.
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
