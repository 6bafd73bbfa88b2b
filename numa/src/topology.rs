//! The machine as this process may use it: NUMA nodes with their CPUs, memory and huge-page
//! pools, node distances, and the THP mode.
//!
//! [`Topology`] is an immutable snapshot built once (hwloc is asked at construction, never
//! afterwards) and cheap to query: [`Topology::node_of_cpu`] is an array lookup, and
//! [`Topology::current_node`] is one vDSO call plus that lookup. The snapshot keeps only what the
//! process may use: CPUs outside its affinity mask (`sched_getaffinity`, which the kernel already
//! intersects with the cgroup cpuset) are left out of each node's CPU list, and nodes outside
//! `Mems_allowed` (`/proc/self/status`, the cpuset's memory nodes) are left out altogether. A
//! service started under `numactl --cpunodebind=1 --membind=1`, or in a container pinned to
//! one socket, sees exactly what it was given.

use std::fs;
use std::path::Path;

use hwlocality::object::types::ObjectType;

use crate::error::TopologyError;
use crate::hugepages::{self, HugePagePool};
use crate::node::parse_index_list;
use crate::{NodeId, NodeSet, PageKind, sys};

/// Where the kernel reports the THP mode.
/// The highest CPU index we track (the kernel's default `NR_CPUS` on distribution kernels is
/// 8192; `cpu_set_t` holds 1024, which is what `sched_getaffinity` gives us).
const MAX_CPUS: usize = 8192;

/// One NUMA node as this process sees it.
///
/// ```
/// use numaseg_numa::{NodeId, Topology};
/// let t = Topology::pretend(2, 1 << 30);
/// let info = &t.nodes()[1];
/// assert_eq!(info.id, NodeId::new(1));
/// assert_eq!(info.memory_bytes, 1 << 30);
/// assert!(info.cpus.is_empty()); // a pretend machine runs every CPU on node 0
/// assert!(info.huge_pages.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node.
    pub id: NodeId,
    /// The CPUs of this node that the process may run on, ascending (may be empty: a
    /// memory-only node, or one the affinity mask excludes).
    pub cpus: Vec<usize>,
    /// The node's local memory in bytes, as hwloc reports it.
    pub memory_bytes: u64,
    /// The node's hugetlb pools (2 MiB and 1 GiB) where the kernel has them.
    pub huge_pages: Vec<HugePagePool>,
}

impl NodeInfo {
    /// This node's pool of `kind` pages, if the kernel has one.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, NodeInfo, PageKind, hugepages::HugePagePool};
    /// let pool = HugePagePool { kind: PageKind::Huge2M, total: 8, free: 3 };
    /// let info = NodeInfo { id: NodeId::new(0), cpus: vec![0], memory_bytes: 1 << 30, huge_pages: vec![pool] };
    /// assert_eq!(info.huge_page_pool(PageKind::Huge2M), Some(pool));
    /// assert_eq!(info.huge_page_pool(PageKind::Huge1G), None);
    /// ```
    #[must_use]
    pub fn huge_page_pool(&self, kind: PageKind) -> Option<HugePagePool> {
        self.huge_pages.iter().copied().find(|p| p.kind == kind)
    }
}

/// A node as hwloc reports it, before the process's restrictions are applied.
///
/// ```
/// use numaseg_numa::{Allowed, NodeId, RawNode, Topology};
/// let raw = [RawNode { id: NodeId::new(0), cpus: vec![0, 1], memory_bytes: 1 << 30 }];
/// // The process may run on CPU 1 only: the node keeps just that CPU.
/// let allowed = Allowed { cpus: vec![1], mems: "0".parse()? };
/// let t = Topology::assemble(&raw, None, &allowed, |_, _| None, "example")?;
/// assert_eq!(t.nodes()[0].cpus, [1]);
/// assert_eq!(t.nodes()[0].memory_bytes, raw[0].memory_bytes);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawNode {
    /// The node's OS index.
    pub id: NodeId,
    /// All of the node's CPUs.
    pub cpus: Vec<usize>,
    /// Local memory in bytes.
    pub memory_bytes: u64,
}

/// What the kernel lets this process use.
///
/// ```
/// use numaseg_numa::{Allowed, NodeId, RawNode, Topology};
/// let raw = [
///     RawNode { id: NodeId::new(0), cpus: vec![0, 1], memory_bytes: 1 << 30 },
///     RawNode { id: NodeId::new(1), cpus: vec![2, 3], memory_bytes: 1 << 30 },
/// ];
/// // A cpuset of node 1's memory and CPUs 1-2: node 0 is dropped altogether.
/// let allowed = Allowed { cpus: vec![1, 2], mems: "1".parse()? };
/// let t = Topology::assemble(&raw, None, &allowed, |_, _| None, "example")?;
/// assert_eq!(t.node_set().to_string(), "1");
/// assert_eq!(t.node(NodeId::new(1)).map(|n| n.cpus.clone()), Some(vec![2]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// CPUs in the affinity mask.
    pub cpus: Vec<usize>,
    /// Memory nodes allowed (cpuset `mems`).
    pub mems: NodeSet,
}

/// The topology snapshot: usable NUMA nodes with their CPUs, memory and huge-page pools, node
/// distances and the THP mode, built once and cheap to query. Only what the process may use is
/// kept: CPUs outside the affinity mask are left out of each node's list, and nodes outside the
/// cpuset's allowed memory nodes are left out altogether.
///
/// ```
/// use numaseg_numa::Topology;
/// let topology = Topology::detect()?;
/// let here = topology.current_node();
/// assert!(topology.node(here).is_some());
/// for node in topology.nodes() {
///     println!("{}: {} CPUs, {} MiB", node.id, node.cpus.len(), node.memory_bytes >> 20);
/// }
/// # Ok::<(), numaseg_numa::TopologyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Topology {
    nodes: Vec<NodeInfo>,
    node_set: NodeSet,
    /// `cpu_to_node[cpu]`: the node of every CPU hwloc knows, allowed or not (a thread migrated
    /// by someone else still gets an answer).
    cpu_to_node: Vec<Option<NodeId>>,
    /// Row-major, in the order of `nodes`; `None` when hwloc has no matrix.
    distances: Option<Vec<u32>>,
    source: &'static str,
}

impl Topology {
    /// Detects the machine with hwloc, then applies the process's affinity mask and allowed
    /// memory nodes, and reads the huge-page pools from sysfs. (The THP mode is the page
    /// source's: [`PageSource::thp_mode`](crate::PageSource::thp_mode), read once per source.)
    ///
    /// ```
    /// use numaseg_numa::{Topology, sys::linux};
    /// // Reads the real machine: assert only what holds on every one.
    /// let t = Topology::detect()?;
    /// assert!(!t.nodes().is_empty());
    /// assert_eq!(t.node_set().len(), t.nodes().len());
    /// assert_eq!(t.source(), "hwloc");
    /// let cpus: Vec<usize> = t.nodes().iter().flat_map(|n| n.cpus.iter().copied()).collect();
    /// assert!(cpus.iter().all(|c| linux::affinity_cpus().contains(c)));
    /// # Ok::<(), numaseg_numa::TopologyError>(())
    /// ```
    ///
    /// # Errors
    /// If hwloc fails, `/proc/self/status` cannot be read, or no node is left that the process
    /// may use.
    pub fn detect() -> Result<Self, TopologyError> {
        let hw = hwlocality::Topology::new().map_err(|e| TopologyError::Hwloc(e.to_string()))?;
        let (raw, distances) = raw_from_hwloc(&hw);
        let allowed = Allowed { cpus: sys::linux::affinity_cpus(), mems: mems_allowed()? };
        Self::assemble(
            &raw,
            distances.as_deref(),
            &allowed,
            |node, kind| hugepages::read_pool(Path::new(hugepages::SYSFS_NODE_ROOT), node, kind),
            "hwloc",
        )
    }

    /// Builds a snapshot from an hwloc synthetic description (e.g.
    /// `"pack:2 [numa(memory=1GB)] core:2 pu:1"`), with every resource allowed, no huge pages
    /// and THP off. For tests of topology logic; never evidence of placement.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, Topology};
    /// let t = Topology::from_synthetic("pack:2 [numa(memory=1GB)] core:2 pu:1")?;
    /// assert_eq!(t.nodes().len(), 2);
    /// assert_eq!(t.node_of_cpu(3), Some(NodeId::new(1)));
    /// # Ok::<(), numaseg_numa::TopologyError>(())
    /// ```
    ///
    /// # Errors
    /// If hwloc rejects the description.
    pub fn from_synthetic(description: &str) -> Result<Self, TopologyError> {
        let hw = hwlocality::Topology::builder()
            .from_synthetic(description)
            .map_err(|e| TopologyError::Hwloc(e.to_string()))?
            .build()
            .map_err(|e| TopologyError::Hwloc(e.to_string()))?;
        let (raw, distances) = raw_from_hwloc(&hw);
        let allowed = Allowed {
            cpus: raw.iter().flat_map(|n| n.cpus.iter().copied()).collect(),
            mems: raw.iter().map(|n| n.id).collect(),
        };
        Self::assemble(&raw, distances.as_deref(), &allowed, |_, _| None, "hwloc synthetic")
    }

    /// A pretend machine of `nodes` nodes with `memory_bytes` each, every CPU of this process on
    /// node 0, no huge pages, THP on `madvise`: for heap-backed managers in tests, loom and Miri.
    /// Never evidence of placement.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, Topology};
    /// let t = Topology::pretend(4, 1 << 30);
    /// assert_eq!(t.nodes().len(), 4);
    /// assert_eq!(t.current_node(), NodeId::new(0));
    /// ```
    #[must_use]
    pub fn pretend(nodes: usize, memory_bytes: u64) -> Self {
        let cpus = sys::linux::affinity_cpus();
        let raw: Vec<RawNode> = (0..nodes.max(1))
            .filter_map(NodeId::try_new)
            .map(|id| RawNode { id, cpus: if id.index() == 0 { cpus.clone() } else { Vec::new() }, memory_bytes })
            .collect();
        let allowed = Allowed { cpus, mems: raw.iter().map(|n| n.id).collect() };
        let node_set: NodeSet = allowed.mems.clone();
        let nodes_info = raw
            .iter()
            .map(|n| NodeInfo { id: n.id, cpus: n.cpus.clone(), memory_bytes, huge_pages: Vec::new() })
            .collect();
        let mut cpu_to_node = Vec::new();
        for &cpu in &allowed.cpus {
            if cpu < MAX_CPUS {
                if cpu_to_node.len() <= cpu {
                    cpu_to_node.resize(cpu + 1, None);
                }
                cpu_to_node[cpu] = Some(NodeId::new(0));
            }
        }
        Self { nodes: nodes_info, node_set, cpu_to_node, distances: None, source: "pretend" }
    }

    /// The pure part of construction: restricts `raw` to `allowed` and attaches pools.
    ///
    /// `distances` is row-major over `raw`'s order. Nodes outside `allowed.mems` are dropped;
    /// each kept node's CPUs are cut to `allowed.cpus`.
    ///
    /// ```
    /// use numaseg_numa::{Allowed, NodeId, PageKind, RawNode, Topology, hugepages::HugePagePool};
    /// let raw = [
    ///     RawNode { id: NodeId::new(0), cpus: vec![0, 1], memory_bytes: 1 << 30 },
    ///     RawNode { id: NodeId::new(1), cpus: vec![2, 3], memory_bytes: 2 << 30 },
    /// ];
    /// let allowed = Allowed { cpus: vec![0, 1, 2, 3], mems: "0-1".parse()? };
    /// let pool = |_: NodeId, kind: PageKind| (kind == PageKind::Huge2M).then_some(HugePagePool { kind, total: 4, free: 4 });
    /// let t = Topology::assemble(&raw, Some(&[10, 21, 21, 10]), &allowed, pool, "example")?;
    /// assert_eq!(t.distance(NodeId::new(0), NodeId::new(1)), Some(21));
    /// assert_eq!(t.nodes()[1].huge_pages, [HugePagePool { kind: PageKind::Huge2M, total: 4, free: 4 }]);
    /// assert_eq!(t.source(), "example");
    /// // No allowed memory node among them is an error.
    /// let none = Allowed { cpus: vec![0], mems: "5".parse()? };
    /// let err = Topology::assemble(&raw, None, &none, |_, _| None, "example").unwrap_err();
    /// assert!(err.to_string().contains("allowed memory nodes: \"5\""));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TopologyError::NoUsableNode`] if no node is left.
    pub fn assemble(
        raw: &[RawNode],
        distances: Option<&[u32]>,
        allowed: &Allowed,
        mut pool: impl FnMut(NodeId, PageKind) -> Option<HugePagePool>,
        source: &'static str,
    ) -> Result<Self, TopologyError> {
        let mut cpu_to_node = Vec::new();
        for node in raw {
            for &cpu in &node.cpus {
                if cpu < MAX_CPUS {
                    if cpu_to_node.len() <= cpu {
                        cpu_to_node.resize(cpu + 1, None);
                    }
                    cpu_to_node[cpu] = Some(node.id);
                }
            }
        }
        let kept: Vec<usize> = (0..raw.len()).filter(|&i| allowed.mems.contains(raw[i].id)).collect();
        if kept.is_empty() {
            return Err(TopologyError::NoUsableNode { mems_allowed: allowed.mems.to_string() });
        }
        let nodes: Vec<NodeInfo> = kept
            .iter()
            .map(|&i| {
                let n = &raw[i];
                NodeInfo {
                    id: n.id,
                    cpus: n.cpus.iter().copied().filter(|c| allowed.cpus.contains(c)).collect(),
                    memory_bytes: n.memory_bytes,
                    huge_pages: [PageKind::Huge2M, PageKind::Huge1G]
                        .into_iter()
                        .filter_map(|k| pool(n.id, k))
                        .collect(),
                }
            })
            .collect();
        let distances = distances.filter(|d| d.len() == raw.len() * raw.len()).map(|d| {
            let mut kept_matrix = Vec::with_capacity(kept.len() * kept.len());
            for &i in &kept {
                for &j in &kept {
                    kept_matrix.push(d[i * raw.len() + j]);
                }
            }
            kept_matrix
        });
        let node_set = nodes.iter().map(|n| n.id).collect();
        Ok(Self { nodes, node_set, cpu_to_node, distances, source })
    }

    /// The usable nodes, ascending by id.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, Topology};
    /// let t = Topology::pretend(3, 1 << 30);
    /// let ids: Vec<NodeId> = t.nodes().iter().map(|n| n.id).collect();
    /// assert_eq!(ids, [NodeId::new(0), NodeId::new(1), NodeId::new(2)]);
    /// ```
    #[must_use]
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// The usable nodes as a set.
    ///
    /// ```
    /// use numaseg_numa::Topology;
    /// let t = Topology::from_synthetic("pack:2 [numa(memory=1GB)] core:2 pu:1")?;
    /// assert_eq!(t.node_set().to_string(), "0-1");
    /// assert_eq!(t.node_set().len(), t.nodes().len());
    /// # Ok::<(), numaseg_numa::TopologyError>(())
    /// ```
    #[must_use]
    pub fn node_set(&self) -> &NodeSet {
        &self.node_set
    }

    /// One node's information, if the process may use it.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, Topology};
    /// let t = Topology::pretend(2, 1 << 30);
    /// assert_eq!(t.node(NodeId::new(1)).map(|n| n.memory_bytes), Some(1 << 30));
    /// assert!(t.node(NodeId::new(2)).is_none());
    /// ```
    #[must_use]
    pub fn node(&self, id: NodeId) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The node a CPU belongs to (any CPU hwloc knows, allowed or not).
    ///
    /// ```
    /// use numaseg_numa::{NodeId, Topology};
    /// let t = Topology::from_synthetic("pack:2 [numa(memory=1GB)] core:2 pu:1")?;
    /// assert_eq!(t.node_of_cpu(0), Some(NodeId::new(0)));
    /// assert_eq!(t.node_of_cpu(2), Some(NodeId::new(1)));
    /// assert_eq!(t.node_of_cpu(99), None);
    /// # Ok::<(), numaseg_numa::TopologyError>(())
    /// ```
    #[must_use]
    pub fn node_of_cpu(&self, cpu: usize) -> Option<NodeId> {
        self.cpu_to_node.get(cpu).copied().flatten()
    }

    /// The node of the CPU the calling thread runs on right now (`sched_getcpu`, a vDSO call).
    /// Falls back to the first usable node when the CPU's node is unknown or not usable.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, Topology};
    /// // A pretend machine runs every CPU on node 0.
    /// assert_eq!(Topology::pretend(4, 1 << 30).current_node(), NodeId::new(0));
    /// // On the real machine: always one of the usable nodes.
    /// let t = Topology::detect()?;
    /// assert!(t.node_set().contains(t.current_node()));
    /// # Ok::<(), numaseg_numa::TopologyError>(())
    /// ```
    #[must_use]
    pub fn current_node(&self) -> NodeId {
        sys::linux::current_cpu()
            .and_then(|cpu| self.node_of_cpu(cpu))
            .filter(|n| self.node_set.contains(*n))
            .unwrap_or(self.nodes[0].id)
    }

    /// The distance between two usable nodes (10 = local, by ACPI SLIT convention), if hwloc
    /// reported a matrix.
    ///
    /// ```
    /// use numaseg_numa::{Allowed, NodeId, RawNode, Topology};
    /// let raw: Vec<RawNode> =
    ///     (0..2).map(|i| RawNode { id: NodeId::new(i), cpus: vec![usize::from(i)], memory_bytes: 1 << 30 }).collect();
    /// let allowed = Allowed { cpus: vec![0, 1], mems: "0-1".parse()? };
    /// let t = Topology::assemble(&raw, Some(&[10, 21, 21, 10]), &allowed, |_, _| None, "example")?;
    /// assert_eq!(t.distance(NodeId::new(0), NodeId::new(0)), Some(10));
    /// assert_eq!(t.distance(NodeId::new(1), NodeId::new(0)), Some(21));
    /// assert_eq!(t.distance(NodeId::new(0), NodeId::new(7)), None); // not a usable node
    /// assert_eq!(Topology::pretend(2, 1 << 30).distance(NodeId::new(0), NodeId::new(1)), None); // no matrix
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn distance(&self, from: NodeId, to: NodeId) -> Option<u32> {
        let d = self.distances.as_ref()?;
        let i = self.nodes.iter().position(|n| n.id == from)?;
        let j = self.nodes.iter().position(|n| n.id == to)?;
        d.get(i * self.nodes.len() + j).copied()
    }

    /// Whether hwloc reported node distances.
    ///
    /// ```
    /// use numaseg_numa::{Allowed, NodeId, RawNode, Topology};
    /// assert!(!Topology::pretend(2, 1 << 30).has_distances());
    /// let raw = [RawNode { id: NodeId::new(0), cpus: vec![0], memory_bytes: 1 << 30 }];
    /// let allowed = Allowed { cpus: vec![0], mems: "0".parse()? };
    /// assert!(Topology::assemble(&raw, Some(&[10]), &allowed, |_, _| None, "example")?.has_distances());
    /// // A matrix of the wrong size is ignored.
    /// assert!(!Topology::assemble(&raw, Some(&[10, 20]), &allowed, |_, _| None, "example")?.has_distances());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn has_distances(&self) -> bool {
        self.distances.is_some()
    }

    /// The other usable nodes, nearest first (by distance, then by id); the order to try remote
    /// nodes in.
    ///
    /// ```
    /// use numaseg_numa::{Allowed, NodeId, RawNode, Topology};
    /// let raw: Vec<RawNode> =
    ///     (0..3).map(|i| RawNode { id: NodeId::new(i), cpus: vec![usize::from(i)], memory_bytes: 1 << 30 }).collect();
    /// let allowed = Allowed { cpus: vec![0, 1, 2], mems: "0-2".parse()? };
    /// let distances = [10, 30, 20, 30, 10, 15, 20, 15, 10]; // row-major: 0-1 is 30, 0-2 is 20, 1-2 is 15
    /// let t = Topology::assemble(&raw, Some(&distances), &allowed, |_, _| None, "example")?;
    /// let (n0, n1, n2) = (NodeId::new(0), NodeId::new(1), NodeId::new(2));
    /// assert_eq!(t.nodes_by_distance(n0), [n2, n1]);
    /// assert_eq!(t.nodes_by_distance(n1), [n2, n0]);
    /// // Without distances: by id.
    /// assert_eq!(Topology::pretend(3, 1 << 30).nodes_by_distance(n2), [n0, n1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn nodes_by_distance(&self, from: NodeId) -> Vec<NodeId> {
        let mut others: Vec<NodeId> = self.nodes.iter().map(|n| n.id).filter(|&n| n != from).collect();
        others.sort_by_key(|&n| (self.distance(from, n).unwrap_or(u32::MAX), n));
        others
    }

    /// Where the snapshot came from (`hwloc`, `hwloc synthetic`, ...).
    ///
    /// ```
    /// use numaseg_numa::Topology;
    /// assert_eq!(Topology::pretend(1, 1 << 30).source(), "pretend");
    /// assert_eq!(Topology::from_synthetic("pack:1 [numa(memory=1GB)] core:1 pu:1")?.source(), "hwloc synthetic");
    /// # Ok::<(), numaseg_numa::TopologyError>(())
    /// ```
    #[must_use]
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Re-reads the hugetlb pools (they change as pages are used); the rest is kept.
    ///
    /// ```
    /// use numaseg_numa::Topology;
    /// // Only reads sysfs; nodes and CPUs stay as they were.
    /// let t = Topology::detect()?;
    /// let fresh = t.with_fresh_huge_pages();
    /// assert_eq!(fresh.node_set(), t.node_set());
    /// assert!(fresh.nodes().iter().zip(t.nodes()).all(|(a, b)| a.cpus == b.cpus && a.memory_bytes == b.memory_bytes));
    /// // A snapshot not read from this machine keeps its (absent) pools.
    /// let pretend = Topology::pretend(2, 1 << 30).with_fresh_huge_pages();
    /// assert!(pretend.nodes().iter().all(|n| n.huge_pages.is_empty()));
    /// # Ok::<(), numaseg_numa::TopologyError>(())
    /// ```
    #[must_use]
    pub fn with_fresh_huge_pages(&self) -> Self {
        let mut copy = self.clone();
        if self.source == "hwloc" {
            for node in &mut copy.nodes {
                node.huge_pages = [PageKind::Huge2M, PageKind::Huge1G]
                    .into_iter()
                    .filter_map(|k| hugepages::node_pool(node.id, k))
                    .collect();
            }
        }
        copy
    }
}

/// Extracts nodes (OS index, CPUs, memory) and the distance matrix from an hwloc topology.
fn raw_from_hwloc(hw: &hwlocality::Topology) -> (Vec<RawNode>, Option<Vec<u32>>) {
    let mut raw: Vec<RawNode> = hw
        .objects_with_type(ObjectType::NUMANode)
        .filter_map(|obj| {
            let id = NodeId::try_new(obj.os_index()?)?;
            let cpus = obj.cpuset().map(|set| set.iter_set().map(usize::from).collect()).unwrap_or_default();
            let memory_bytes = match obj.attributes() {
                Some(hwlocality::object::attributes::ObjectAttributes::NUMANode(attr)) => {
                    attr.local_memory().map_or(0, std::num::NonZeroU64::get)
                }
                _ => 0,
            };
            Some(RawNode { id, cpus, memory_bytes })
        })
        .collect();
    raw.sort_by_key(|n| n.id);
    let distances = hw.distances_with_type(None, ObjectType::NUMANode).ok().and_then(|list| {
        let matrix = list.into_iter().next()?;
        let objects: Vec<Option<NodeId>> =
            matrix.objects().map(|o| o.and_then(|o| o.os_index()).and_then(NodeId::try_new)).collect();
        let n = raw.len();
        let mut out = vec![0u32; n * n];
        let mut filled = 0;
        for ((i, j), d) in matrix.enumerate_distances() {
            let (Some(a), Some(b)) = (objects[i], objects[j]) else { continue };
            let (Some(ai), Some(bi)) = (raw.iter().position(|r| r.id == a), raw.iter().position(|r| r.id == b)) else {
                continue;
            };
            out[ai * n + bi] = u32::try_from(d).unwrap_or(u32::MAX);
            filled += 1;
        }
        (filled == n * n).then_some(out)
    });
    (raw, distances)
}

/// The memory nodes this process may allocate on (`Mems_allowed_list` in `/proc/self/status`).
fn mems_allowed() -> Result<NodeSet, TopologyError> {
    let path = "/proc/self/status";
    let text =
        fs::read_to_string(path).map_err(|e| TopologyError::Proc { path: path.to_owned(), reason: e.to_string() })?;
    parse_mems_allowed(&text).ok_or_else(|| TopologyError::Proc {
        path: path.to_owned(),
        reason: "no parsable Mems_allowed_list line".to_owned(),
    })
}

fn parse_mems_allowed(status: &str) -> Option<NodeSet> {
    let line = status.lines().find_map(|l| l.strip_prefix("Mems_allowed_list:"))?;
    let indexes = parse_index_list(line, crate::node::MAX_NODES).ok()?;
    Some(indexes.into_iter().filter_map(NodeId::try_new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOUR_NODES: &str = "pack:4 [numa(memory=512MB)] core:2 pu:1";

    #[test]
    fn synthetic_two_and_four_nodes() {
        let two = Topology::from_synthetic("pack:2 [numa(memory=1GB)] core:2 pu:2").unwrap();
        assert_eq!(two.nodes().len(), 2);
        assert_eq!(two.nodes()[1].cpus, vec![4, 5, 6, 7]);
        assert!(two.nodes()[0].memory_bytes >= 1_000_000_000);
        let four = Topology::from_synthetic(FOUR_NODES).unwrap();
        assert_eq!(four.node_set().to_string(), "0-3");
        for cpu in 0..8 {
            assert_eq!(four.node_of_cpu(cpu), Some(NodeId::new(u16::try_from(cpu / 2).unwrap())));
        }
        assert_eq!(four.node_of_cpu(8), None);
    }

    fn raw_four() -> Vec<RawNode> {
        (0..4u16)
            .map(|i| RawNode {
                id: NodeId::new(i),
                cpus: vec![usize::from(i) * 2, usize::from(i) * 2 + 1],
                memory_bytes: 1 << 30,
            })
            .collect()
    }

    #[test]
    fn cpunodebind_keeps_only_the_given_cpus() {
        // As under `numactl --cpunodebind=1`: affinity = node 1's CPUs, all memory allowed.
        let allowed = Allowed { cpus: vec![2, 3], mems: "0-3".parse().unwrap() };
        let t = Topology::assemble(&raw_four(), None, &allowed, |_, _| None, "test").unwrap();
        assert_eq!(t.nodes().len(), 4);
        assert_eq!(t.node(NodeId::new(1)).unwrap().cpus, vec![2, 3]);
        assert!(t.node(NodeId::new(0)).unwrap().cpus.is_empty());
    }

    #[test]
    fn cpuset_mems_drop_nodes_and_distances_follow() {
        // As in a container whose cpuset allows memory nodes 1 and 3 only.
        let allowed = Allowed { cpus: (0..8).collect(), mems: "1,3".parse().unwrap() };
        let distances: Vec<u32> = (0..16).map(|k| if k / 4 == k % 4 { 10 } else { 20 + (k / 4 + k % 4) }).collect();
        let t = Topology::assemble(&raw_four(), Some(&distances), &allowed, |_, _| None, "test").unwrap();
        assert_eq!(t.node_set().to_string(), "1,3");
        assert_eq!(t.distance(NodeId::new(1), NodeId::new(1)), Some(10));
        assert_eq!(t.distance(NodeId::new(1), NodeId::new(3)), Some(24));
        assert_eq!(t.distance(NodeId::new(0), NodeId::new(1)), None);
        assert_eq!(t.nodes_by_distance(NodeId::new(1)), vec![NodeId::new(3)]);
    }

    #[test]
    fn nearest_nodes_come_first() {
        let allowed = Allowed { cpus: (0..8).collect(), mems: "0-3".parse().unwrap() };
        #[rustfmt::skip]
        let distances = [10, 30, 20, 40,
                         30, 10, 20, 20,
                         20, 20, 10, 30,
                         40, 20, 30, 10];
        let t = Topology::assemble(&raw_four(), Some(&distances), &allowed, |_, _| None, "t").unwrap();
        let order: Vec<usize> = t.nodes_by_distance(NodeId::new(0)).iter().map(|n| n.index()).collect();
        assert_eq!(order, vec![2, 1, 3]);
    }

    #[test]
    fn no_allowed_node_is_an_error() {
        let allowed = Allowed { cpus: vec![0], mems: "7".parse().unwrap() };
        let err = Topology::assemble(&raw_four(), None, &allowed, |_, _| None, "t").unwrap_err();
        assert!(err.to_string().contains("no NUMA node is usable"), "{err}");
    }

    #[test]
    fn pools_are_attached_per_node() {
        let allowed = Allowed { cpus: (0..8).collect(), mems: "0-3".parse().unwrap() };
        let t = Topology::assemble(
            &raw_four(),
            None,
            &allowed,
            |node, kind| {
                (kind == PageKind::Huge2M).then_some(HugePagePool { kind, total: 8, free: node.index() as u64 })
            },
            "t",
        )
        .unwrap();
        assert_eq!(t.node(NodeId::new(2)).unwrap().huge_page_pool(PageKind::Huge2M).unwrap().free, 2);
        assert!(t.node(NodeId::new(2)).unwrap().huge_page_pool(PageKind::Huge1G).is_none());
    }

    #[test]
    fn mems_allowed_line_is_parsed() {
        let status = "Name:\tx\nCpus_allowed_list:\t0-1\nMems_allowed:\t00000000,0000000f\nMems_allowed_list:\t0-3\n";
        assert_eq!(parse_mems_allowed(status).unwrap().to_string(), "0-3");
        assert!(parse_mems_allowed("Name: x\n").is_none());
    }

    #[test]
    fn the_real_machine_has_a_usable_node() {
        let t = Topology::detect().unwrap();
        assert!(!t.nodes().is_empty());
        assert!(t.node(t.current_node()).is_some());
        assert!(t.nodes().iter().any(|n| !n.cpus.is_empty()));
    }
}
