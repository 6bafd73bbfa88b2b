//! The stats snapshot: per node and per size class — budget, mapped, committed, used and free
//! bytes; regions by page kind; where the segments are (in users' hands, thread caches, node
//! pools); cache hits and misses, refills, steals, remote allocations, foreign frees; region
//! mapping, fallbacks, decommits and recommits. Rendered as a table by `numaseg stats`, as JSON
//! with the `serde` feature, and in the Prometheus text format by [`Stats::to_prometheus`]
//! (metric names in `docs/METRICS.md`).
//!
//! Counters are per thread and summed on read, so the hot path writes only its own cache line.
//! A snapshot taken while threads run is a consistent-enough sum of relaxed reads; one taken
//! when the threads are quiescent is exact (the conservation tests rely on that).

use crate::cache::{CachedCore, ClassCounts, class_counters};
use crate::core::node::{NodeCounts, node_counters};
use crate::entry::NodeIndex;
use crate::prometheus::snapshot;
use crate::size_class::SizeClass;
use crate::sync::{atomic::Ordering, lock};

snapshot! {
    /// Usage of one size class on one node.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let segment = manager.allocate(32 << 10)?;
    /// let stats = manager.stats();
    /// let class = &stats.nodes[0].classes[3]; // 4 KiB << 3
    /// assert_eq!(class.segment_size, 32 << 10);
    /// assert_eq!(class.regions, 1);
    /// assert_eq!(class.used_segments, 1);
    /// assert_eq!(stats.nodes[0].classes[0].used_segments, 0); // nothing of 4 KiB
    /// # drop(segment);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    pub struct ClassStats {
        /// Segment size in bytes.
        pub segment_size: u64,
        /// Regions serving this class.
        pub regions: u64 => (gauge "numaseg_class_regions" "Regions serving a size class."),
        /// Segments in users' hands.
        pub used_segments: u64 => (gauge "numaseg_class_used_segments" "Segments in users' hands."),
        /// Segments in thread caches (stacks, spill deques, and outboxes of frees on other nodes).
        pub cached_segments: u64 => (gauge "numaseg_class_cached_segments" "Segments in thread caches."),
        /// Segments in the node's shared pool.
        pub pooled_segments: u64 => (gauge "numaseg_class_pooled_segments" "Segments in the node pool."),
        /// Segments the class's regions can still hand out without another region.
        pub carvable_segments: u64,
        /// Allocations served from a thread cache without a refill.
        pub cache_hits: u64 => (counter "numaseg_cache_hits_total" "Allocations served from a thread cache."),
        ..class_counters,
    }
    labels(c) { format!("size=\"{}\"", c.segment_size) }
}

snapshot! {
    /// Usage of one node.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, SizeClass};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?; // one node of 64 GiB
    /// let segment = manager.allocate(4096)?;
    /// let stats = manager.stats();
    /// let node = &stats.nodes[0];
    /// assert_eq!(node.node, 0);
    /// assert_eq!(node.budget_bytes, Some(48 << 30)); // NUMASEG_NODE_MEMORY_LIMIT=0.75
    /// assert_eq!((node.regions_mapped, node.committed_bytes), (1, 32 << 20)); // one region
    /// assert_eq!(node.used_bytes, 4096);
    /// assert_eq!(node.free_bytes, (32 << 20) - 4096);
    /// assert_eq!(node.classes.len(), SizeClass::count_for_region(32 << 20));
    /// # drop(segment);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    pub struct NodeStats {
        /// The node's kernel index.
        pub node: usize,
        /// The node's budget in bytes (`None`: unlimited).
        pub budget_bytes: Option<u64> =>
            (gauge "numaseg_node_budget_bytes" "Per-node byte budget (absent rows: unlimited)."),
        /// Bytes of regions mapped (committed or not).
        pub mapped_bytes: u64 => (gauge "numaseg_node_mapped_bytes" "Bytes of regions mapped."),
        /// Bytes of regions committed (counted against the budget).
        pub committed_bytes: u64 => (gauge "numaseg_node_committed_bytes" "Bytes of regions committed."),
        /// Bytes of segments in users' hands.
        pub used_bytes: u64 => (gauge "numaseg_node_used_bytes" "Bytes of segments in users' hands."),
        /// Committed bytes not in users' hands (caches, pools, carvable, free regions).
        pub free_bytes: u64 => (gauge "numaseg_node_free_bytes" "Committed bytes not in users' hands."),
        /// Regions by page kind: 1 GiB hugetlb.
        pub regions_1g: u64 => (gauge "numaseg_node_regions" "Regions by page kind." "kind=\"1g\""),
        /// Regions by page kind: 2 MiB hugetlb.
        pub regions_2m: u64 => (and "numaseg_node_regions" "kind=\"2m\""),
        /// Regions by page kind: transparent huge pages.
        pub regions_thp: u64 => (and "numaseg_node_regions" "kind=\"thp\""),
        /// Regions by page kind: base pages.
        pub regions_small: u64 => (and "numaseg_node_regions" "kind=\"small\""),
        /// Regions serving no class, committed.
        pub free_regions_committed: u64 =>
            (gauge "numaseg_node_free_regions" "Regions serving no class, by state." "state=\"committed\""),
        /// Regions serving no class, decommitted (memory back at the OS).
        pub free_regions_decommitted: u64 =>
            (and "numaseg_node_free_regions" "state=\"decommitted\""),
        ..node_counters,
        /// Per size class, 4 KiB upward, up to the region size.
        pub classes: Vec<ClassStats> => (rows),
    }
    labels(n) { format!("node=\"{}\"", n.node) }
}

snapshot! {
    /// A snapshot of an [`ArenaManager`](crate::ArenaManager).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?; // two nodes of 64 GiB
    /// let segment = manager.allocate(4096)?;
    /// let stats = manager.stats();
    /// assert_eq!(stats.total_budget_bytes, Some(64 << 30)); // NUMASEG_MEMORY_LIMIT=0.5
    /// assert_eq!(stats.total_committed_bytes, 32 << 20); // one region
    /// assert_eq!(stats.live_thread_caches, 1);
    /// assert_eq!(stats.nodes.len(), 2);
    /// # drop(segment);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    pub struct Stats {
        /// The total budget in bytes (`None`: unlimited).
        pub total_budget_bytes: Option<u64> =>
            (gauge "numaseg_total_budget_bytes" "Total byte budget (absent rows: unlimited)."),
        /// Bytes committed over all nodes.
        pub total_committed_bytes: u64 => (gauge "numaseg_total_committed_bytes" "Bytes committed over all nodes."),
        /// Threads with a live cache.
        pub live_thread_caches: u64 => (gauge "numaseg_live_thread_caches" "Threads with a live cache."),
        /// Per node.
        pub nodes: Vec<NodeStats> => (rows),
    }
    labels(_s) { String::new() }
}

fn limit(bytes: usize) -> Option<u64> {
    (bytes != usize::MAX).then_some(bytes as u64)
}

/// Takes the snapshot.
pub(crate) fn collect(core: &CachedCore) -> Stats {
    let live = core.registry.live();
    let classes = core.class_count();
    let nodes = core
        .all_nodes()
        .iter()
        .enumerate()
        .map(|(a, node)| {
            let node_index = NodeIndex::from_usize(a);
            let usage = lock(&node.regions).usage();
            let c = node.counters.get();
            let class_stats: Vec<ClassStats> = (0..classes)
                .map(|i| {
                    let size = SizeClass::from_index(i).map_or(0, SizeClass::size) as u64;
                    let stacks: u64 = live
                        .iter()
                        .filter(|s| NodeIndex::new(s.home.load(Ordering::Relaxed)) == node_index)
                        .map(|s| s.stack_len(i))
                        .sum();
                    // Outboxes hold other nodes' segments: every live slot's, not only those homed here.
                    let outboxed: u64 = live.iter().map(|s| s.outboxed(node_index, i)).sum();
                    let cached = stacks + node.classes[i].in_deques() as u64 + outboxed;
                    let pooled = node.classes[i].pooled() as u64;
                    let u = usage.classes[i];
                    let sums = core.registry.sums(node_index, i);
                    ClassStats {
                        segment_size: size,
                        regions: u.regions as u64,
                        used_segments: (u.outstanding as u64).saturating_sub(cached.saturating_add(pooled)),
                        cached_segments: cached,
                        pooled_segments: pooled,
                        carvable_segments: u.carvable as u64,
                        cache_hits: sums.allocs.saturating_sub(sums.misses),
                        ..ClassStats::from(&sums)
                    }
                })
                .collect();
            let used_bytes: u64 = class_stats.iter().map(|c| c.used_segments * c.segment_size).sum();
            NodeStats {
                node: node.id.index(),
                budget_bytes: limit(node.budget.limit()),
                mapped_bytes: usage.mapped_bytes as u64,
                committed_bytes: usage.committed_bytes as u64,
                used_bytes,
                free_bytes: (usage.committed_bytes as u64).saturating_sub(used_bytes),
                regions_1g: usage.regions_by_kind[0] as u64,
                regions_2m: usage.regions_by_kind[1] as u64,
                regions_thp: usage.regions_by_kind[2] as u64,
                regions_small: usage.regions_by_kind[3] as u64,
                free_regions_committed: usage.free_regions_committed as u64,
                free_regions_decommitted: usage.free_regions_decommitted as u64,
                classes: class_stats,
                ..NodeStats::from(&c)
            }
        })
        .collect();
    Stats {
        total_budget_bytes: limit(core.total.limit()),
        total_committed_bytes: core.total.committed() as u64,
        live_thread_caches: live.len() as u64,
        nodes,
    }
}

impl Stats {
    /// Bytes in users' hands over all nodes.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?;
    /// let a = manager.allocate(4096)?;
    /// let b = manager.allocate_on(NodeId::new(1), 8192)?;
    /// assert_eq!(manager.stats().used_bytes(), 4096 + 8192);
    /// drop(a);
    /// assert_eq!(manager.stats().used_bytes(), 8192);
    /// # drop(b);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn used_bytes(&self) -> u64 {
        self.nodes.iter().map(|n| n.used_bytes).sum()
    }

    /// Segments in users' hands over all nodes and classes.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?;
    /// let held = vec![manager.allocate(4096)?, manager.allocate(64 << 10)?, manager.allocate_on(NodeId::new(1), 4096)?];
    /// assert_eq!(manager.stats().used_segments(), 3);
    /// drop(held);
    /// assert_eq!(manager.stats().used_segments(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn used_segments(&self) -> u64 {
        self.nodes.iter().flat_map(|n| &n.classes).map(|c| c.used_segments).sum()
    }

    /// Remote allocations over all nodes and classes.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// use numaseg::config::{ByteSize, MemoryAmount};
    /// // Two nodes whose budgets hold one 2 MiB region each.
    /// let config = Config::builder()
    ///     .region_size(ByteSize(2 << 20))
    ///     .node_memory_limit(MemoryAmount::Bytes(ByteSize(2 << 20)))
    ///     .build_from::<_, &str, &str>([])?;
    /// let manager = ArenaManager::heap_backed(&config, 2)?;
    /// let local = manager.allocate(2 << 20)?;
    /// assert_eq!((local.node(), manager.stats().remote_allocations()), (NodeId::new(0), 0));
    /// // The home node is full: the next one comes from node 1, and counts as remote.
    /// let remote = manager.allocate(2 << 20)?;
    /// assert_eq!(remote.node(), NodeId::new(1));
    /// assert_eq!(manager.stats().remote_allocations(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn remote_allocations(&self) -> u64 {
        self.nodes.iter().flat_map(|n| &n.classes).map(|c| c.remote_allocations).sum()
    }

    /// The stats of one node, by kernel index.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?;
    /// let segment = manager.allocate_on(NodeId::new(1), 4096)?;
    /// let stats = manager.stats();
    /// assert_eq!(stats.node(NodeId::new(1)).map(|n| n.used_bytes), Some(4096));
    /// assert_eq!(stats.node(NodeId::new(0)).map(|n| n.used_bytes), Some(0));
    /// assert!(stats.node(NodeId::new(2)).is_none()); // not in use
    /// # drop(segment);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn node(&self, node: numa::NodeId) -> Option<&NodeStats> {
        self.nodes.iter().find(|n| n.node == node.index())
    }

    /// The snapshot in the Prometheus text exposition format (metric names in
    /// `docs/METRICS.md`).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let segment = manager.allocate(4096)?;
    /// let text = manager.stats().to_prometheus();
    /// assert!(text.contains("numaseg_node_used_bytes{node=\"0\"} 4096"));
    /// # drop(segment);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn to_prometheus(&self) -> String {
        crate::prometheus::render([self])
    }
}
