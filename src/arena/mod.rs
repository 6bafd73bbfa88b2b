//! [`ArenaManager`]: one arena per NUMA node of the configured node set, the thread caches in
//! front of them, and the rules that pick a node — the calling thread's (or the policy's) first,
//! another node only when that one is out of budget, nearest first, counted as remote (or an
//! error in strict mode).
//!
//! The manager owns its shared state in a `Box` ([`Arenas`]) so that its address never moves:
//! segments borrow it, and thread caches keep a pointer to it that the thread-exit protocol (see
//! [`cache`](crate::cache)) makes safe to follow.

pub(crate) mod budget;
pub(crate) mod node;
pub(crate) mod regions;

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as StdOrdering};

use numa::sys::heap::HeapSource;
use numa::sys::linux::LinuxSource;
use numa::{NodeId, NodeSet, PageSource, RegionSpec, Topology};

use self::budget::{BothRefused, Budget};
use self::node::{CarveError, MapParams, NodeArena};
use crate::cache::{self, Registry};
use crate::config::{Config, MemoryAmount, NodePolicy, NodeSelection};
use crate::error::{AllocError, BuildError};
use crate::segment::{Segment, SegmentBatch, sizing};
use crate::size_class::{MAX_CLASSES, SizeClass};
use crate::stats::Stats;
use crate::sync::lock;

/// Unique ids for managers, never reused: a thread cache matches its manager by id.
static NEXT_MANAGER_ID: AtomicU64 = AtomicU64::new(1);

/// The shared state of an [`ArenaManager`].
pub struct Arenas {
    pub(crate) id: u64,
    config: Config,
    topology: Topology,
    source: std::sync::Arc<dyn PageSource>,
    nodes: Box<[NodeArena]>,
    /// Arena index by `NodeId::index()`.
    arena_of: Vec<Option<u16>>,
    pub(crate) total: Budget,
    max_capacity: [usize; MAX_CLASSES],
    pool_limit: [usize; MAX_CLASSES],
    region_size: usize,
    pub(crate) registry: Registry,
    /// Other arenas by distance, nearest first, for each arena.
    remote_order: Vec<Vec<u16>>,
    strict: bool,
    node_policy: NodePolicy,
    interleave_next: AtomicUsize,
    fork_generation: u64,
}

impl fmt::Debug for Arenas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arenas")
            .field("id", &self.id)
            .field("nodes", &self.nodes.iter().map(|n| n.id).collect::<Vec<_>>())
            .field("region_size", &self.region_size)
            .field("source", &self.source.name())
            .finish_non_exhaustive()
    }
}

/// Allocates node-local segments. See the [crate docs](crate) for the whole picture.
///
/// ```
/// use numaseg::{ArenaManager, Config};
/// let manager = ArenaManager::new(&Config::default())?;
/// let mut segment = manager.allocate(32 << 10)?;
/// segment.as_mut_slice().fill(7);
/// assert_eq!(segment.node(), manager.thread_node());
/// drop(segment); // back to this thread's cache
/// let stats = manager.stats();
/// assert_eq!(stats.used_bytes(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ArenaManager {
    arenas: Box<Arenas>,
}

impl fmt::Debug for ArenaManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.arenas.fmt(f)
    }
}

impl Drop for ArenaManager {
    fn drop(&mut self) {
        // No segment can be alive (they borrow the manager), so every segment is in a cache, a
        // pool or a region. Mark every thread cache dead before anything is freed: from here on
        // no thread-exit flush touches this manager (cache module docs).
        self.arenas.registry.kill_all();
    }
}

impl ArenaManager {
    /// Builds the arenas on the running kernel: detects the topology with hwloc and maps through
    /// [`LinuxSource`].
    ///
    /// # Errors
    /// See [`BuildError`].
    pub fn new(config: &Config) -> Result<Self, BuildError> {
        let topology = Topology::detect()?;
        Self::with_source(config, topology, std::sync::Arc::new(LinuxSource::new()))
    }

    /// Reads the configuration from the environment and builds the arenas on the running kernel.
    ///
    /// # Errors
    /// See [`BuildError`].
    pub fn from_env() -> Result<Self, BuildError> {
        Self::new(&Config::from_env()?)
    }

    /// Builds the arenas on the Rust heap with `nodes` pretend nodes (each with 64 GiB of
    /// memory; every CPU on node 0): for unit tests, Miri and loom, where nothing may reach the
    /// kernel. Placement is of course not real.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 4)?;
    /// let segment = manager.allocate_on(NodeId::new(3), 4096)?;
    /// assert_eq!(segment.node(), NodeId::new(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// See [`BuildError`].
    pub fn heap_backed(config: &Config, nodes: usize) -> Result<Self, BuildError> {
        Self::with_source(config, Topology::pretend(nodes, 64 << 30), std::sync::Arc::new(HeapSource::new()))
    }

    /// Builds the arenas over a given topology and page source.
    ///
    /// # Errors
    /// See [`BuildError`].
    pub fn with_source(
        config: &Config,
        topology: Topology,
        source: std::sync::Arc<dyn PageSource>,
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
        let cgroup =
            if source.supports_placement() { numa::cgroup::CgroupLimits::current() } else { Default::default() };
        let nodes_memory: u64 = node_set.iter().map(node_memory).sum();
        let reference = match &cgroup.memory {
            Some(limit) if matches!(config.memory_limit, MemoryAmount::Fraction(_)) => nodes_memory.min(limit.bytes),
            _ => nodes_memory,
        };
        let total_limit = resolve(config.memory_limit, reference);
        if let Some(limit) = &cgroup.memory
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
            nodes.push(NodeArena::new(id, limit, MapParams { spec, retain_bytes }));
        }
        let mut arena_of = vec![None; node_set.iter().map(|n| n.index() + 1).max().unwrap_or(0)];
        for (i, n) in nodes.iter().enumerate() {
            arena_of[n.id.index()] = Some(u16::try_from(i).unwrap_or(u16::MAX));
        }
        let remote_order = nodes
            .iter()
            .map(|n| {
                topology
                    .nodes_by_distance(n.id)
                    .into_iter()
                    .filter_map(|other| arena_of.get(other.index()).copied().flatten())
                    .collect()
            })
            .collect();
        let classes = SizeClass::count_for_region(region_size);
        let mut max_capacity = [0; MAX_CLASSES];
        let mut pool_limit = [0; MAX_CLASSES];
        for (i, (max, pool)) in max_capacity.iter_mut().zip(pool_limit.iter_mut()).enumerate().take(classes) {
            let size = SizeClass::from_index(i).map_or(usize::MAX, SizeClass::size);
            *max = sizing::max_capacity(config.cache_capacity, config.cache_bytes.as_usize(), size);
            // A pool keeps at most what the node retains (NUMASEG_RETAIN_FREE, in bytes), and at
            // least one cache's worth so that a spill does not bounce straight into the regions.
            *pool = (retain_bytes / size).max(*max);
        }
        let arena_count = nodes.len();
        let arenas = Arenas {
            id: NEXT_MANAGER_ID.fetch_add(1, StdOrdering::Relaxed),
            config: config.clone(),
            topology,
            source,
            nodes: nodes.into_boxed_slice(),
            arena_of,
            total: Budget::new(total_limit),
            max_capacity,
            pool_limit,
            region_size,
            registry: Registry::new(arena_count),
            remote_order,
            strict: config.strict,
            node_policy: config.node_policy,
            interleave_next: AtomicUsize::new(0),
            fork_generation: crate::fork::generation(),
        };
        let manager = Self { arenas: Box::new(arenas) };
        manager.preallocate(config.preallocate.as_usize())?;
        Ok(manager)
    }

    fn preallocate(&self, bytes: usize) -> Result<(), BuildError> {
        if bytes == 0 {
            return Ok(());
        }
        let a = &self.arenas;
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

    /// Allocates a segment of at least `size` bytes (rounded up to a power of two, at least
    /// 4 KiB) on the node the policy picks for the calling thread (its own, by default).
    ///
    /// # Errors
    /// [`AllocError::BadSize`] for 0 or more than the region size; budget errors with the
    /// numbers; [`AllocError::Region`] when mapping fails; [`AllocError::Forked`].
    #[inline]
    pub fn allocate(&self, size: usize) -> Result<Segment<'_>, AllocError> {
        let class = self.class_for(size)?;
        self.allocate_class(class)
    }

    /// Allocates a segment of `class` (see [`ArenaManager::allocate`]).
    ///
    /// # Errors
    /// As [`ArenaManager::allocate`].
    #[inline]
    pub fn allocate_class(&self, class: SizeClass) -> Result<Segment<'_>, AllocError> {
        if class.size() > self.arenas.region_size {
            return Err(self.bad_size(class.size()));
        }
        let (entry, arena) = cache::allocate(&self.arenas, class)?;
        // SAFETY: the cache handed the entry over exclusively; it is of `class` on `arena`.
        Ok(unsafe { Segment::from_entry(&self.arenas, entry, class, arena) })
    }

    /// Allocates a segment on `node`, whatever the calling thread's node. Served from the
    /// thread's cache when `node` is its home, else from that node's pool or regions. When
    /// `node` is out of budget this fails (no fallback to another node: the caller asked for
    /// this one).
    ///
    /// # Errors
    /// [`AllocError::UnknownNode`], and as [`ArenaManager::allocate`].
    pub fn allocate_on(&self, node: NodeId, size: usize) -> Result<Segment<'_>, AllocError> {
        let class = self.class_for(size)?;
        let arena = self.arenas.arena(node)?;
        if cache::thread_home(&self.arenas) == Some(arena) {
            let (entry, got) = cache::allocate(&self.arenas, class)?;
            if got == arena {
                // SAFETY: exclusive entry of `class` on `got`.
                return Ok(unsafe { Segment::from_entry(&self.arenas, entry, class, got) });
            }
            // The home node was out of budget and the cache went remote: not what was asked.
            // SAFETY: as above; dropping it gives it back.
            drop(unsafe { Segment::from_entry(&self.arenas, entry, class, got) });
        }
        let (entry, got) = self.arenas.allocate_direct(arena, class, false)?;
        // SAFETY: `allocate_direct` hands over an exclusive entry of `class` on `got`.
        Ok(unsafe { Segment::from_entry(&self.arenas, entry, class, got) })
    }

    /// An empty batch for [`ArenaManager::allocate_bulk`].
    #[must_use]
    pub fn new_batch(&self) -> SegmentBatch<'_> {
        SegmentBatch::new(&self.arenas)
    }

    /// Allocates `n` segments of at least `size` bytes on the calling thread's node into
    /// `batch`, all or nothing: on an error the batch is as it was. A bulk is served by the
    /// thread's own node only (no remote fallback). A batch holds one size class on one node:
    /// appending to a non-empty batch of another class or node is refused.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::new(&Config::default())?;
    /// let mut batch = manager.new_batch();
    /// manager.allocate_bulk(4096, 32, &mut batch)?;
    /// manager.allocate_bulk(4096, 16, &mut batch)?;
    /// assert_eq!(batch.len(), 48);
    /// assert!(manager.allocate_bulk(8192, 1, &mut batch).is_err()); // another class
    /// batch.release();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`AllocError::Bulk`] wrapping the failure (budget, mapping), [`AllocError::BadSize`], and
    /// [`AllocError::BatchMismatch`] for a batch of another manager, class or node.
    pub fn allocate_bulk<'a>(&'a self, size: usize, n: usize, batch: &mut SegmentBatch<'a>) -> Result<(), AllocError> {
        let class = self.class_for(size)?;
        if !std::ptr::eq(batch.arenas(), &raw const *self.arenas) {
            return Err(AllocError::BatchMismatch { reason: "the batch belongs to another manager" });
        }
        let home = cache::thread_home(&self.arenas).unwrap_or_else(|| self.arenas.default_arena());
        // A count the budget could never hold is refused before anything is reserved or mapped.
        if let Some(refused) = self.arenas.bulk_never_fits(home, n, class.size()) {
            return Err(refused);
        }
        let (_, batch_class, batch_arena, entries) = batch.parts_mut();
        if !entries.is_empty() && (*batch_class != class || *batch_arena != home) {
            return Err(AllocError::BatchMismatch { reason: "the batch holds segments of another size or node" });
        }
        let arena = cache::allocate_batch(&self.arenas, class, n, entries).map_err(|cause| AllocError::Bulk {
            requested: n,
            size: class.size(),
            cause: Box::new(cause),
        })?;
        *batch_class = class;
        *batch_arena = arena;
        Ok(())
    }

    /// Gives back many segments in one go (segments of another manager go back to theirs).
    pub fn release_bulk<'a>(&'a self, segments: impl IntoIterator<Item = Segment<'a>>) {
        let own: &Arenas = &self.arenas;
        let mut foreign = Vec::new();
        let items = segments.into_iter().filter_map(|segment| {
            if std::ptr::eq(segment.arenas(), own) {
                let raw = segment.into_raw();
                Some((raw.entry, raw.meta.class, raw.meta.arena))
            } else {
                foreign.push(segment);
                None
            }
        });
        cache::free_many(own, items);
        drop(foreign);
    }

    /// An [`allocator_api2::alloc::Allocator`] whose blocks live on `node`.
    ///
    /// # Errors
    /// [`AllocError::UnknownNode`].
    pub fn node_allocator(&self, node: NodeId) -> Result<crate::NodeAllocator<'_>, AllocError> {
        let arena = self.arenas.arena(node)?;
        Ok(crate::NodeAllocator::new(&self.arenas, arena))
    }

    /// Makes `node` the calling thread's home for this manager (flushing its cache first).
    /// Useful after pinning a thread to a node's CPUs yourself; by default the home is the node
    /// the thread ran on when it first allocated, followed as it migrates.
    ///
    /// # Errors
    /// [`AllocError::UnknownNode`].
    pub fn set_thread_node(&self, node: NodeId) -> Result<(), AllocError> {
        let arena = self.arenas.arena(node)?;
        cache::flush(&self.arenas, Some(arena));
        Ok(())
    }

    /// The calling thread's home node for this manager.
    #[must_use]
    pub fn thread_node(&self) -> NodeId {
        self.arenas.node_id(cache::thread_home(&self.arenas).unwrap_or_else(|| self.arenas.default_arena()))
    }

    /// Moves everything the calling thread caches for this manager to the node pools.
    pub fn flush_thread_cache(&self) {
        cache::flush(&self.arenas, None);
    }

    /// Returns idle memory to the OS now: flushes the calling thread's cache, gives every pooled
    /// segment back to its region, and decommits every free region. Returns the bytes
    /// decommitted, counting regions the flush itself left free and decommitted. (Other
    /// threads' caches are theirs; they go back when those threads free, spill or exit.)
    pub fn purge(&self) -> usize {
        let decommitted = || -> u64 {
            self.arenas.nodes.iter().map(|n| n.counters.decommitted_bytes.load(StdOrdering::Relaxed)).sum()
        };
        let before = decommitted();
        cache::flush(&self.arenas, None);
        self.arenas.drain_pools_to_regions(Some(0));
        usize::try_from(decommitted().saturating_sub(before)).unwrap_or(usize::MAX)
    }

    /// A snapshot of usage and counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        crate::stats::collect(&self.arenas)
    }

    /// How many threads hold a live cache of this manager (threads that allocated or freed and
    /// have not exited yet).
    #[must_use]
    pub fn live_thread_caches(&self) -> usize {
        self.arenas.registry.live_count()
    }

    /// The topology the manager was built on.
    #[must_use]
    pub fn topology(&self) -> &Topology {
        &self.arenas.topology
    }

    /// The nodes in use, ascending.
    #[must_use]
    pub fn nodes(&self) -> Vec<NodeId> {
        self.arenas.nodes.iter().map(|n| n.id).collect()
    }

    /// The configuration it was built with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.arenas.config
    }

    /// The largest segment: the region size.
    #[must_use]
    pub fn max_segment_size(&self) -> usize {
        self.arenas.region_size
    }

    /// The page source's name (`linux`, `heap`, ...).
    #[must_use]
    pub fn source_name(&self) -> &'static str {
        self.arenas.source.name()
    }

    /// The shared state, for the managers and pools built on top (crate-internal).
    #[allow(dead_code, reason = "used by the memory manager and buffer pools")]
    pub(crate) fn arenas(&self) -> &Arenas {
        &self.arenas
    }

    #[inline]
    fn class_for(&self, size: usize) -> Result<SizeClass, AllocError> {
        match SizeClass::for_size(size) {
            Some(class) if class.size() <= self.arenas.region_size => Ok(class),
            _ => Err(self.bad_size(size)),
        }
    }

    #[cold]
    fn bad_size(&self, size: usize) -> AllocError {
        AllocError::BadSize { requested: size, max: self.arenas.region_size }
    }
}

impl Arenas {
    /// The node of arena `arena`.
    pub(crate) fn node_id(&self, arena: u16) -> NodeId {
        self.nodes[usize::from(arena)].id
    }

    /// The refusal of a bulk of `n` segments of `size` bytes for arena `home` that the total
    /// budget could never hold (`None` when it could), to give before anything is reserved,
    /// mapped or sized for the bulk.
    pub(crate) fn bulk_never_fits(&self, home: u16, n: usize, size: usize) -> Option<AllocError> {
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

    /// The arena of `node`.
    pub(crate) fn arena(&self, node: NodeId) -> Result<u16, AllocError> {
        self.arena_of.get(node.index()).copied().flatten().ok_or_else(|| AllocError::UnknownNode {
            node,
            in_use: self.nodes.iter().map(|n| n.id).collect::<NodeSet>().to_string(),
        })
    }

    /// Arena `arena`.
    pub(crate) fn node(&self, arena: u16) -> &NodeArena {
        &self.nodes[usize::from(arena)]
    }

    /// All arenas.
    pub(crate) fn all_nodes(&self) -> &[NodeArena] {
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

    /// The arena of the node the calling thread runs on, if that node is in use.
    fn current_arena(&self) -> Option<u16> {
        self.arena_of.get(self.topology.current_node().index()).copied().flatten()
    }

    /// The home of a new thread cache.
    pub(crate) fn initial_home(&self) -> u16 {
        match self.node_policy {
            NodePolicy::Interleave => {
                let n = self.interleave_next.fetch_add(1, StdOrdering::Relaxed);
                u16::try_from(n % self.nodes.len()).unwrap_or(0)
            }
            _ => self.default_arena(),
        }
    }

    /// The arena an allocation without a cache goes to.
    pub(crate) fn default_arena(&self) -> u16 {
        match self.node_policy {
            NodePolicy::Bind(node) => self.arena(node).unwrap_or(0),
            NodePolicy::Local | NodePolicy::Interleave => self.current_arena().unwrap_or_else(|| {
                // Not on a node in use: the nearest one that is.
                let here = self.topology.current_node();
                self.topology
                    .nodes_by_distance(here)
                    .into_iter()
                    .find_map(|n| self.arena_of.get(n.index()).copied().flatten())
                    .unwrap_or(0)
            }),
        }
    }

    /// Where a thread cache homed at `current` should be now (`Some` only under the `local`
    /// policy, which follows a thread that migrated).
    pub(crate) fn home_for_current_thread(&self, current: u16) -> Option<u16> {
        match self.node_policy {
            NodePolicy::Local => self.current_arena().or(Some(current)),
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

    /// Carves up to `n` segments of `class` on `arena`, giving pooled segments back to their
    /// regions and retrying once when a budget refuses.
    pub(crate) fn carve(
        &self,
        arena: u16,
        class: SizeClass,
        n: usize,
        out: &mut Vec<usize>,
    ) -> Result<usize, CarveError> {
        let node = self.node(arena);
        match node.carve(class, n, out, &self.source, &self.total) {
            Err(CarveError::Budget(_)) => {
                // Whole regions may be sitting free behind pooled segments of other classes.
                self.drain_node_pools(arena, None);
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
        }
    }

    /// After the home arena failed to carve: another node's segment (nearest first), unless
    /// strict mode forbids it or the failure was not about budget.
    pub(crate) fn allocate_remote(
        &self,
        home: u16,
        class: SizeClass,
        error: CarveError,
    ) -> Result<(usize, u16), AllocError> {
        let error = self.carve_error(self.node_id(home), error);
        if self.strict || !matches!(error, AllocError::NodeBudget { .. } | AllocError::TotalBudget { .. }) {
            return Err(error);
        }
        for &other in &self.remote_order[usize::from(home)] {
            let node = self.node(other);
            if let Some(entry) = node.classes[class.index()].take_one() {
                return Ok((entry, other));
            }
            let mut out = Vec::with_capacity(1);
            if self.carve(other, class, 1, &mut out).is_ok() {
                return Ok((out[0], other));
            }
        }
        Err(error)
    }

    /// One segment of `class` on `arena` without going through a cache: from the pool, else
    /// carved; with `remote_ok`, from another node when `arena` is out of budget.
    pub(crate) fn allocate_direct(
        &self,
        arena: u16,
        class: SizeClass,
        remote_ok: bool,
    ) -> Result<(usize, u16), AllocError> {
        self.check_fork()?;
        if let Some(entry) = self.node(arena).classes[class.index()].take_one() {
            return Ok((entry, arena));
        }
        let mut out = Vec::with_capacity(1);
        match self.carve(arena, class, 1, &mut out) {
            Ok(_) => Ok((out[0], arena)),
            Err(e) if remote_ok => self.allocate_remote(arena, class, e),
            Err(e) => Err(self.carve_error(self.node_id(arena), e)),
        }
    }

    /// An allocation when the thread cache is unavailable (thread being torn down).
    pub(crate) fn allocate_uncached(&self, arena: Option<u16>, class: SizeClass) -> Result<(usize, u16), AllocError> {
        self.allocate_direct(arena.unwrap_or_else(|| self.default_arena()), class, true)
    }

    /// Puts a segment into its home node's pool.
    pub(crate) fn push_home(&self, entry: usize, class: SizeClass, arena: u16) {
        self.push_many_home(std::slice::from_ref(&entry), class, arena);
    }

    /// Puts segments into their home node's pool as one batch.
    pub(crate) fn push_many_home(&self, entries: &[usize], class: SizeClass, arena: u16) {
        self.push_batch_home(entries.to_vec(), class, arena);
    }

    /// Puts a batch into its home node's pool, and gives the excess of an over-full pool back to
    /// the regions.
    pub(crate) fn push_batch_home(&self, batch: Vec<usize>, class: SizeClass, arena: u16) {
        let pool = &self.node(arena).classes[class.index()];
        pool.push_batch(batch);
        let limit = self.pool_limit[class.index()];
        // In a fork child the regions' lock may be held by a thread that does not exist there.
        if pool.pooled() > limit && self.check_fork().is_ok() {
            let mut excess = Vec::new();
            while pool.pooled() > limit / 2 {
                match pool.pop_batch() {
                    Some(batch) => excess.extend(batch),
                    None => break,
                }
            }
            self.node(arena).reclaim(class, &excess, &self.total, None);
        }
    }

    /// Gives every pooled segment of `arena` back to its region; decommits free regions beyond
    /// `retain` (the configured amount when `None`).
    fn drain_node_pools(&self, arena: u16, retain: Option<usize>) {
        let node = self.node(arena);
        for (i, class_state) in node.classes.iter().enumerate().take(self.class_count()) {
            let Some(class) = SizeClass::from_index(i) else { continue };
            let mut entries = Vec::new();
            while let Some(batch) = class_state.pop_batch() {
                entries.extend(batch);
            }
            node.reclaim(class, &entries, &self.total, retain);
        }
        let mut table = lock(&node.regions);
        node.decommit_excess(&mut table, &self.total, retain.unwrap_or(node.params_retain()));
    }

    /// [`Arenas::drain_node_pools`] on every node.
    pub(crate) fn drain_pools_to_regions(&self, retain: Option<usize>) {
        for a in 0..self.nodes.len() {
            self.drain_node_pools(u16::try_from(a).unwrap_or(0), retain);
        }
    }
}
