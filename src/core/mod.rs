//! [`Core`]: the per-node state below every thread cache — for each NUMA node of the
//! configured node set its budget, regions and shared pools ([`NodeCore`]), the total budget,
//! and the rules that pick a node: the calling thread's (or the policy's) first, another node
//! only when that one is out of budget, nearest first (or an error in strict mode).
//!
//! The core knows nothing of the caches in front of it: it hands out and takes back entries
//! ([`crate::entry`]) by node index. The cache layer ([`crate::cache::CachedCore`]) pairs it with
//! the registry of thread caches; the façade ([`crate::ArenaManager`]) owns that pair in a `Box`
//! so that its address never moves.

pub(crate) mod node;
pub(crate) mod regions;

use std::fmt;

use numa::{NodeId, NodeSet, PageSource, RegionSpec, Topology};

use self::node::{CarveError, MapParams, NodeCore};
use crate::config::{Config, MemoryAmount, NodePolicy, NodeSelection};
use crate::entry::{Entry, NodeIndex};
use crate::error::{AllocError, BuildError};
use crate::size_class::{MAX_CLASSES, SizeClass};
use crate::sync::budget::{BothRefused, Budget};
use crate::sync::lock;
use crate::sync::stat::Ids;

/// Unique ids for managers, never reused: a thread cache matches its manager by id.
static NEXT_MANAGER_ID: Ids = Ids::new(1);

/// The per-node state of one manager, below its caches.
pub(crate) struct Core {
    pub(crate) id: u64,
    pub(crate) config: Config,
    pub(crate) topology: Topology,
    pub(crate) source: std::sync::Arc<dyn PageSource>,
    /// The source's THP mode and cgroup memory limit, read once here at build.
    pub(crate) thp_mode: numa::ThpMode,
    pub(crate) memory_limit: Option<numa::cgroup::Limit>,
    pub(crate) nodes: Box<[NodeCore]>,
    /// Node index by `NodeId::index()`.
    index_of: Vec<Option<NodeIndex>>,
    pub(crate) total: Budget,
    max_capacity: [usize; MAX_CLASSES],
    pool_limit: [usize; MAX_CLASSES],
    pub(crate) region_size: usize,
    /// Other nodes by distance, nearest first, for each node.
    remote_order: Vec<Vec<NodeIndex>>,
    strict: bool,
    node_policy: NodePolicy,
    interleave_next: Ids,
    fork_generation: u64,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("id", &self.id)
            .field("nodes", &self.nodes.iter().map(|n| n.id).collect::<Vec<_>>())
            .field("region_size", &self.region_size)
            .field("source", &self.source.name())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Builds the per-node state over a given topology and page source. `cache_max` is the
    /// cache layer's largest capacity for a class of that many bytes: a pool keeps at least one
    /// cache's worth (the core stores it for the caches; it makes no policy of its own).
    ///
    /// # Errors
    /// See [`BuildError`].
    pub(crate) fn new(
        config: &Config,
        topology: Topology,
        source: std::sync::Arc<dyn PageSource>,
        cache_max: impl Fn(usize) -> usize,
    ) -> Result<Self, BuildError> {
        let usable = topology.node_set().clone();
        let node_set: NodeSet = match &config.nodes {
            NodeSelection::All => usable.clone(),
            NodeSelection::List(list) => {
                if let Some(node) = list.iter().find(|n| !usable.contains(*n)) {
                    return Err(BuildError::UnknownNode {
                        variable: "NUMASEG_NODES",
                        node,
                        usable: usable.to_string(),
                    });
                }
                list.clone()
            }
        };
        if let NodePolicy::Bind(node) = config.node_policy
            && !node_set.contains(node)
        {
            return Err(BuildError::UnknownNode {
                variable: "NUMASEG_NODE_POLICY",
                node,
                usable: node_set.to_string(),
            });
        }
        let region_size = config.region_size.as_usize();
        let retain_bytes = config.retain_free.as_usize();
        let node_memory = |id: NodeId| topology.node(id).map_or(0, |n| n.memory_bytes);
        let resolve = |amount: MemoryAmount, reference: u64| match (amount, reference) {
            (MemoryAmount::Fraction(_), 0) => usize::MAX, // memory size unknown: no fraction to take
            (amount, reference) => {
                amount.resolve(reference).map_or(usize::MAX, |b| usize::try_from(b).unwrap_or(usize::MAX))
            }
        };
        // Base pages and THP are charged to the cgroup's memory limit, and going over it means
        // the OOM killer: a fractional budget is taken of whichever is smaller, the nodes'
        // memory or that limit; an explicit one above it is allowed but warned about.
        let (thp_mode, memory_limit) = (source.thp_mode(), source.memory_limit());
        let nodes_memory: u64 = node_set.iter().map(node_memory).sum();
        let reference = match &memory_limit {
            Some(limit) if matches!(config.memory_limit, MemoryAmount::Fraction(_)) => nodes_memory.min(limit.bytes),
            _ => nodes_memory,
        };
        let total_limit = resolve(config.memory_limit, reference);
        if let Some(limit) = &memory_limit
            && total_limit as u64 > limit.bytes
            && !matches!(config.huge_pages, numa::PagePolicy::Only(k) if k.is_hugetlb())
        {
            tracing::warn!(
                target: "numaseg",
                "NUMASEG_MEMORY_LIMIT allows {} bytes, but this process's cgroup limits memory to {} bytes ({}): base-page and THP regions beyond the limit get the process OOM-killed when they are faulted in; lower the budget or raise the limit",
                if total_limit == usize::MAX { "unlimited".to_owned() } else { total_limit.to_string() },
                limit.bytes,
                limit.file.display()
            );
        }
        let first = node_set.first().unwrap_or_else(|| NodeId::new(0));
        if total_limit < region_size {
            return Err(BuildError::BudgetBelowRegion {
                variable: "NUMASEG_MEMORY_LIMIT",
                node: first,
                budget: total_limit,
                region_size,
            });
        }
        let mut nodes = Vec::new();
        for id in node_set.iter() {
            let limit = resolve(config.node_memory_limit, node_memory(id));
            if limit < region_size {
                return Err(BuildError::BudgetBelowRegion {
                    variable: "NUMASEG_NODE_MEMORY_LIMIT",
                    node: id,
                    budget: limit,
                    region_size,
                });
            }
            let spec = RegionSpec {
                len: region_size,
                node: id,
                policy: config.huge_pages,
                strict: config.strict,
                prefault: config.prefault,
                lock: config.lock_memory,
            };
            nodes.push(NodeCore::new(id, limit, MapParams { spec, retain_bytes }));
        }
        let mut index_of = vec![None; node_set.iter().map(|n| n.index() + 1).max().unwrap_or(0)];
        for (i, n) in nodes.iter().enumerate() {
            index_of[n.id.index()] = Some(NodeIndex::from_usize(i));
        }
        let remote_order = nodes
            .iter()
            .map(|n| {
                topology
                    .nodes_by_distance(n.id)
                    .into_iter()
                    .filter_map(|other| index_of.get(other.index()).copied().flatten())
                    .collect()
            })
            .collect();
        let classes = SizeClass::count_for_region(region_size);
        let mut max_capacity = [0; MAX_CLASSES];
        let mut pool_limit = [0; MAX_CLASSES];
        for (i, (max, pool)) in max_capacity.iter_mut().zip(pool_limit.iter_mut()).enumerate().take(classes) {
            let size = SizeClass::from_index(i).map_or(usize::MAX, SizeClass::size);
            *max = cache_max(size);
            // A pool keeps at most what the node retains (NUMASEG_RETAIN_FREE, in bytes), and at
            // least one cache's worth so that a spill does not bounce straight into the regions.
            *pool = (retain_bytes / size).max(*max);
        }
        Ok(Self {
            id: NEXT_MANAGER_ID.next(),
            config: config.clone(),
            topology,
            source,
            thp_mode,
            memory_limit,
            nodes: nodes.into_boxed_slice(),
            index_of,
            total: Budget::new(total_limit),
            max_capacity,
            pool_limit,
            region_size,
            remote_order,
            strict: config.strict,
            node_policy: config.node_policy,
            interleave_next: Ids::new(0),
            fork_generation: crate::fork::generation(),
        })
    }

    /// Maps `bytes` (rounded up to whole regions) on every node up front.
    pub(crate) fn preallocate(&self, bytes: usize) -> Result<(), BuildError> {
        if bytes == 0 {
            return Ok(());
        }
        let a = self;
        for node in &a.nodes {
            let regions = bytes.div_ceil(a.region_size);
            let mut table = lock(&node.regions);
            for _ in 0..regions {
                node.map_region(&mut table, &a.source, &a.total).map_err(|e| BuildError::Preallocate {
                    node: node.id,
                    bytes,
                    cause: Box::new(a.carve_error(node.id, e)),
                })?;
            }
        }
        Ok(())
    }

    /// The node at index `node_index`.
    pub(crate) fn node_id(&self, node_index: NodeIndex) -> NodeId {
        self.nodes[node_index.get()].id
    }

    /// The refusal of a bulk of `n` segments of `size` bytes for node `home` that the total
    /// budget could never hold (`None` when it could), to give before anything is reserved,
    /// mapped or sized for the bulk.
    pub(crate) fn bulk_never_fits(&self, home: NodeIndex, n: usize, size: usize) -> Option<AllocError> {
        let limit = self.total.limit();
        if n == 0 || n.checked_mul(size).is_some_and(|b| b <= limit.min(isize::MAX as usize)) {
            return None;
        }
        let cause = AllocError::TotalBudget {
            node: self.node_id(home),
            requested: n.saturating_mul(size),
            available: limit.saturating_sub(self.total.committed()),
            limit,
        };
        Some(AllocError::Bulk { requested: n, size, cause: Box::new(cause) })
    }

    /// The node of `node`.
    pub(crate) fn node_index(&self, node: NodeId) -> Result<NodeIndex, AllocError> {
        self.index_of.get(node.index()).copied().flatten().ok_or_else(|| AllocError::UnknownNode {
            node,
            in_use: self.nodes.iter().map(|n| n.id).collect::<NodeSet>().to_string(),
        })
    }

    /// The node core at `node_index`.
    pub(crate) fn node(&self, node_index: NodeIndex) -> &NodeCore {
        &self.nodes[node_index.get()]
    }

    /// Every node core.
    pub(crate) fn all_nodes(&self) -> &[NodeCore] {
        &self.nodes
    }

    /// The largest cache capacity of `class`.
    pub(crate) fn max_capacity(&self, class: SizeClass) -> usize {
        self.max_capacity[class.index()]
    }

    /// The largest segment: the region size.
    pub(crate) fn max_segment_size(&self) -> usize {
        self.region_size
    }

    /// The number of classes in use (4 KiB up to the region size).
    pub(crate) fn class_count(&self) -> usize {
        SizeClass::count_for_region(self.region_size)
    }

    /// The node of the node the calling thread runs on, if that node is in use.
    fn current_node_index(&self) -> Option<NodeIndex> {
        self.index_of.get(self.topology.current_node().index()).copied().flatten()
    }

    /// The home of a new thread cache.
    pub(crate) fn initial_home(&self) -> NodeIndex {
        match self.node_policy {
            NodePolicy::Interleave => {
                let n = self.interleave_next.next();
                NodeIndex::new(u16::try_from(n % self.nodes.len() as u64).unwrap_or(0))
            }
            _ => self.default_node_index(),
        }
    }

    /// The node an allocation without a cache goes to.
    pub(crate) fn default_node_index(&self) -> NodeIndex {
        match self.node_policy {
            NodePolicy::Bind(node) => self.node_index(node).unwrap_or(NodeIndex::new(0)),
            NodePolicy::Local | NodePolicy::Interleave => self.current_node_index().unwrap_or_else(|| {
                // Not on a node in use: the nearest one that is.
                let here = self.topology.current_node();
                self.topology
                    .nodes_by_distance(here)
                    .into_iter()
                    .find_map(|n| self.index_of.get(n.index()).copied().flatten())
                    .unwrap_or(NodeIndex::new(0))
            }),
        }
    }

    /// Where a thread cache homed at `current` should be now (`Some` only under the `local`
    /// policy, which follows a thread that migrated).
    pub(crate) fn home_for_current_thread(&self, current: NodeIndex) -> Option<NodeIndex> {
        match self.node_policy {
            NodePolicy::Local => self.current_node_index().or(Some(current)),
            _ => None,
        }
    }

    /// Fails if this process is a fork child of the one that built the manager.
    pub(crate) fn check_fork(&self) -> Result<(), AllocError> {
        if crate::fork::generation() == self.fork_generation {
            Ok(())
        } else {
            Err(AllocError::Forked { parent: crate::fork::parent_pid(), child: std::process::id() })
        }
    }

    /// Carves up to `n` segments of `class` on `node_index`, giving pooled segments back to their
    /// regions and retrying once when a budget refuses.
    pub(crate) fn carve(
        &self,
        node_index: NodeIndex,
        class: SizeClass,
        n: usize,
        out: &mut Vec<Entry>,
    ) -> Result<usize, CarveError> {
        let node = self.node(node_index);
        match node.carve(class, n, out, &self.source, &self.total) {
            Err(CarveError::Budget(_)) => {
                // Whole regions may be sitting free behind pooled segments of other classes.
                self.drain_node_pools(node_index, None);
                node.carve(class, n, out, &self.source, &self.total)
            }
            other => other,
        }
    }

    /// The error a failed carve on `node` means to the caller.
    pub(crate) fn carve_error(&self, node: NodeId, e: CarveError) -> AllocError {
        match e {
            CarveError::Budget(BothRefused::Node(r)) => {
                AllocError::NodeBudget { node, requested: self.region_size, available: r.available, limit: r.limit }
            }
            CarveError::Budget(BothRefused::Total(r)) => {
                AllocError::TotalBudget { node, requested: self.region_size, available: r.available, limit: r.limit }
            }
            CarveError::Region(e) => AllocError::Region(Box::new(e)),
            CarveError::AddressOutOfRange { base, end } => {
                AllocError::AddressOutOfRange { node, base, end, limit: crate::entry::ADDRESS_LIMIT }
            }
        }
    }

    /// After the home node failed to carve: another node's segment (nearest first), unless
    /// strict mode forbids it or the failure was not about budget.
    pub(crate) fn allocate_remote(
        &self,
        home: NodeIndex,
        class: SizeClass,
        error: CarveError,
    ) -> Result<(Entry, NodeIndex), AllocError> {
        let error = self.carve_error(self.node_id(home), error);
        if self.strict || !matches!(error, AllocError::NodeBudget { .. } | AllocError::TotalBudget { .. }) {
            return Err(error);
        }
        for &other in &self.remote_order[home.get()] {
            if let Some(entry) = self.take_one(other, class) {
                return Ok((entry, other));
            }
            let mut out = Vec::with_capacity(1);
            if self.carve(other, class, 1, &mut out).is_ok() {
                return Ok((out[0], other));
            }
        }
        Err(error)
    }

    /// One segment of `class` on `node_index` without going through a cache: from the pool, else
    /// carved; with `remote_ok`, from another node when `node_index` is out of budget.
    pub(crate) fn allocate_direct(
        &self,
        node_index: NodeIndex,
        class: SizeClass,
        remote_ok: bool,
    ) -> Result<(Entry, NodeIndex), AllocError> {
        self.check_fork()?;
        if let Some(entry) = self.take_one(node_index, class) {
            return Ok((entry, node_index));
        }
        let mut out = Vec::with_capacity(1);
        match self.carve(node_index, class, 1, &mut out) {
            Ok(_) => Ok((out[0], node_index)),
            Err(e) if remote_ok => self.allocate_remote(node_index, class, e),
            Err(e) => Err(self.carve_error(self.node_id(node_index), e)),
        }
    }

    /// An allocation when the thread cache is unavailable (thread being torn down).
    pub(crate) fn allocate_uncached(
        &self,
        node_index: Option<NodeIndex>,
        class: SizeClass,
    ) -> Result<(Entry, NodeIndex), AllocError> {
        self.allocate_direct(node_index.unwrap_or_else(|| self.default_node_index()), class, true)
    }

    /// Takes one segment of `class` from `node_index`'s pool (the rest of its batch goes back).
    pub(crate) fn take_one(&self, node_index: NodeIndex, class: SizeClass) -> Option<Entry> {
        let mut batch = self.node(node_index).classes[class.index()].pop_batch()?;
        let one = batch.pop();
        self.push_batch_home(batch, class, node_index);
        one
    }

    /// Puts a segment into its home node's pool.
    pub(crate) fn push_home(&self, entry: Entry, class: SizeClass, node_index: NodeIndex) {
        self.push_many_home(std::slice::from_ref(&entry), class, node_index);
    }

    /// Puts segments into their home node's pool as one batch, copied into a spare batch vector
    /// of the pool (no heap allocation once the pool has spares of that size).
    pub(crate) fn push_many_home(&self, entries: &[Entry], class: SizeClass, node_index: NodeIndex) {
        if entries.is_empty() {
            return;
        }
        let mut batch = self.node(node_index).classes[class.index()].take_spare().unwrap_or_default();
        batch.extend_from_slice(entries);
        self.push_batch_home(batch, class, node_index);
    }

    /// Puts a batch into its home node's pool, and gives the excess of an over-full pool (or a
    /// batch the full pool refused) back to the regions, one batch at a time; the emptied
    /// vectors become the pool's spares.
    pub(crate) fn push_batch_home(&self, batch: Vec<Entry>, class: SizeClass, node_index: NodeIndex) {
        let node = self.node(node_index);
        let pool = &node.classes[class.index()];
        let refused = pool.push_batch(batch).err();
        let limit = self.pool_limit[class.index()];
        // In a fork child the regions' lock may be held by a thread that does not exist there:
        // a batch the full pool refused is then left behind with the child's copy of the cache.
        if (refused.is_none() && pool.pooled() <= limit) || self.check_fork().is_err() {
            return;
        }
        if let Some(batch) = refused {
            node.reclaim(class, &batch, &self.total, None);
            pool.give_spare(batch);
        }
        while pool.pooled() > limit / 2 {
            let Some(batch) = pool.pop_batch() else { break };
            node.reclaim(class, &batch, &self.total, None);
            pool.give_spare(batch);
        }
    }

    /// Gives every pooled segment of `node_index` back to its region; decommits free regions beyond
    /// `retain` (the configured amount when `None`).
    fn drain_node_pools(&self, node_index: NodeIndex, retain: Option<usize>) {
        let node = self.node(node_index);
        for (i, class_state) in node.classes.iter().enumerate().take(self.class_count()) {
            let Some(class) = SizeClass::from_index(i) else { continue };
            let mut entries = Vec::new();
            while let Some(mut batch) = class_state.pop_batch() {
                entries.append(&mut batch);
                class_state.give_spare(batch);
            }
            node.reclaim(class, &entries, &self.total, retain);
        }
        let mut table = lock(&node.regions);
        node.decommit_excess(&mut table, &self.total, retain.unwrap_or(node.params_retain()));
    }

    /// [`Core::drain_node_pools`] on every node.
    pub(crate) fn drain_pools_to_regions(&self, retain: Option<usize>) {
        for a in 0..self.nodes.len() {
            self.drain_node_pools(NodeIndex::from_usize(a), retain);
        }
    }
}
