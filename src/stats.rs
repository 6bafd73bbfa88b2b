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

use crate::cache::CachedCore;
use crate::size_class::SizeClass;
use crate::sync::{atomic::Ordering, lock};

/// Usage of one size class on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ClassStats {
    /// Segment size in bytes.
    pub segment_size: u64,
    /// Regions serving this class.
    pub regions: u64,
    /// Segments in users' hands.
    pub used_segments: u64,
    /// Segments in thread caches (stacks and spill deques).
    pub cached_segments: u64,
    /// Segments in the node's shared pool.
    pub pooled_segments: u64,
    /// Segments the class's regions can still hand out without another region.
    pub carvable_segments: u64,
    /// Allocations served from a thread cache without a refill.
    pub cache_hits: u64,
    /// Refills of a thread cache (each a miss).
    pub cache_misses: u64,
    /// Refills served by a batch from the node's pool.
    pub pool_refills: u64,
    /// Batches stolen from other threads of the node.
    pub steals: u64,
    /// Segments obtained by stealing.
    pub stolen_segments: u64,
    /// Allocations by threads of this node that another node served (home out of budget).
    pub remote_allocations: u64,
    /// Frees by threads of this node of segments that belong to another node (sent home).
    pub foreign_frees: u64,
}

/// Usage of one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NodeStats {
    /// The node's kernel index.
    pub node: usize,
    /// The node's budget in bytes (`None`: unlimited).
    pub budget_bytes: Option<u64>,
    /// Bytes of regions mapped (committed or not).
    pub mapped_bytes: u64,
    /// Bytes of regions committed (counted against the budget).
    pub committed_bytes: u64,
    /// Bytes of segments in users' hands.
    pub used_bytes: u64,
    /// Committed bytes not in users' hands (caches, pools, carvable, free regions).
    pub free_bytes: u64,
    /// Regions by page kind: 1 GiB hugetlb.
    pub regions_1g: u64,
    /// Regions by page kind: 2 MiB hugetlb.
    pub regions_2m: u64,
    /// Regions by page kind: transparent huge pages.
    pub regions_thp: u64,
    /// Regions by page kind: base pages.
    pub regions_small: u64,
    /// Regions serving no class, committed.
    pub free_regions_committed: u64,
    /// Regions serving no class, decommitted (memory back at the OS).
    pub free_regions_decommitted: u64,
    /// Regions mapped since start.
    pub regions_mapped: u64,
    /// Region mappings that fell back to a smaller page kind.
    pub page_kind_fallbacks: u64,
    /// Regions decommitted since start.
    pub decommits: u64,
    /// Bytes decommitted since start.
    pub decommitted_bytes: u64,
    /// Regions recommitted since start.
    pub recommits: u64,
    /// Recommits that failed (the region was unmapped instead).
    pub recommit_failures: u64,
    /// Segments given back from pools to their regions.
    pub reclaimed_segments: u64,
    /// Region mappings or recommits the budget refused.
    pub budget_refusals: u64,
    /// Per size class, 4 KiB upward, up to the region size.
    pub classes: Vec<ClassStats>,
}

/// A snapshot of an [`ArenaManager`](crate::ArenaManager).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Stats {
    /// The total budget in bytes (`None`: unlimited).
    pub total_budget_bytes: Option<u64>,
    /// Bytes committed over all nodes.
    pub total_committed_bytes: u64,
    /// Threads with a live cache.
    pub live_thread_caches: u64,
    /// Per node.
    pub nodes: Vec<NodeStats>,
}

fn limit(bytes: usize) -> Option<u64> {
    (bytes != usize::MAX).then_some(bytes as u64)
}

/// Takes the snapshot.
pub(crate) fn collect(arenas: &CachedCore) -> Stats {
    let live = arenas.registry.live();
    let classes = arenas.class_count();
    let nodes = arenas
        .all_nodes()
        .iter()
        .enumerate()
        .map(|(a, node)| {
            let arena = u16::try_from(a).unwrap_or(u16::MAX);
            let usage = lock(&node.regions).usage();
            let c = &node.counters;
            let class_stats: Vec<ClassStats> = (0..classes)
                .map(|i| {
                    let size = SizeClass::from_index(i).map_or(0, SizeClass::size) as u64;
                    let stacks: u64 =
                        live.iter().filter(|s| s.home.load(Ordering::Relaxed) == arena).map(|s| s.stack_len(i)).sum();
                    let cached = stacks + node.classes[i].in_deques() as u64;
                    let pooled = node.classes[i].pooled() as u64;
                    let u = usage.classes[i];
                    let sums = arenas.registry.sums(arena, i);
                    ClassStats {
                        segment_size: size,
                        regions: u.regions as u64,
                        used_segments: (u.outstanding as u64).saturating_sub(cached.saturating_add(pooled)),
                        cached_segments: cached,
                        pooled_segments: pooled,
                        carvable_segments: u.carvable as u64,
                        cache_hits: sums.allocs.saturating_sub(sums.misses),
                        cache_misses: sums.misses,
                        pool_refills: sums.pool_refills,
                        steals: sums.steals,
                        stolen_segments: sums.stolen,
                        remote_allocations: sums.remote_allocs,
                        foreign_frees: sums.foreign_frees,
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
                regions_mapped: c.regions_mapped.get(),
                page_kind_fallbacks: c.fallbacks.get(),
                decommits: c.decommits.get(),
                decommitted_bytes: c.decommitted_bytes.get(),
                recommits: c.recommits.get(),
                recommit_failures: c.recommit_failures.get(),
                reclaimed_segments: c.reclaimed_segments.get(),
                budget_refusals: c.budget_refusals.get(),
                classes: class_stats,
            }
        })
        .collect();
    Stats {
        total_budget_bytes: limit(arenas.total.limit()),
        total_committed_bytes: arenas.total.committed() as u64,
        live_thread_caches: live.len() as u64,
        nodes,
    }
}

impl Stats {
    /// Bytes in users' hands over all nodes.
    #[must_use]
    pub fn used_bytes(&self) -> u64 {
        self.nodes.iter().map(|n| n.used_bytes).sum()
    }

    /// Segments in users' hands over all nodes and classes.
    #[must_use]
    pub fn used_segments(&self) -> u64 {
        self.nodes.iter().flat_map(|n| &n.classes).map(|c| c.used_segments).sum()
    }

    /// Remote allocations over all nodes and classes.
    #[must_use]
    pub fn remote_allocations(&self) -> u64 {
        self.nodes.iter().flat_map(|n| &n.classes).map(|c| c.remote_allocations).sum()
    }

    /// The stats of one node, by kernel index.
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
        let mut w = crate::prometheus::TextWriter::default();
        let mut family =
            |name: &str, kind: &str, help: &str, rows: Vec<(String, u64)>| w.family(name, kind, help, rows);
        let per_node = |f: &dyn Fn(&NodeStats) -> u64| -> Vec<(String, u64)> {
            self.nodes.iter().map(|n| (format!("node=\"{}\"", n.node), f(n))).collect()
        };
        let per_class = |f: &dyn Fn(&ClassStats) -> u64| -> Vec<(String, u64)> {
            self.nodes
                .iter()
                .flat_map(|n| {
                    n.classes.iter().map(move |c| (format!("node=\"{}\",size=\"{}\"", n.node, c.segment_size), f(c)))
                })
                .collect()
        };
        family(
            "numaseg_total_budget_bytes",
            "gauge",
            "Total byte budget (absent rows: unlimited).",
            self.total_budget_bytes.map(|b| (String::new(), b)).into_iter().collect(),
        );
        family(
            "numaseg_total_committed_bytes",
            "gauge",
            "Bytes committed over all nodes.",
            vec![(String::new(), self.total_committed_bytes)],
        );
        family(
            "numaseg_live_thread_caches",
            "gauge",
            "Threads with a live cache.",
            vec![(String::new(), self.live_thread_caches)],
        );
        family(
            "numaseg_node_budget_bytes",
            "gauge",
            "Per-node byte budget (absent rows: unlimited).",
            self.nodes.iter().filter_map(|n| n.budget_bytes.map(|b| (format!("node=\"{}\"", n.node), b))).collect(),
        );
        family("numaseg_node_mapped_bytes", "gauge", "Bytes of regions mapped.", per_node(&|n| n.mapped_bytes));
        family(
            "numaseg_node_committed_bytes",
            "gauge",
            "Bytes of regions committed.",
            per_node(&|n| n.committed_bytes),
        );
        family("numaseg_node_used_bytes", "gauge", "Bytes of segments in users' hands.", per_node(&|n| n.used_bytes));
        family("numaseg_node_free_bytes", "gauge", "Committed bytes not in users' hands.", per_node(&|n| n.free_bytes));
        let kinds: Vec<(String, u64)> = self
            .nodes
            .iter()
            .flat_map(|n| {
                [("1g", n.regions_1g), ("2m", n.regions_2m), ("thp", n.regions_thp), ("small", n.regions_small)]
                    .into_iter()
                    .map(move |(k, v)| (format!("node=\"{}\",kind=\"{k}\"", n.node), v))
            })
            .collect();
        family("numaseg_node_regions", "gauge", "Regions by page kind.", kinds);
        family("numaseg_node_free_regions", "gauge", "Regions serving no class, by state.", {
            self.nodes
                .iter()
                .flat_map(|n| {
                    [("committed", n.free_regions_committed), ("decommitted", n.free_regions_decommitted)]
                        .into_iter()
                        .map(move |(s, v)| (format!("node=\"{}\",state=\"{s}\"", n.node), v))
                })
                .collect()
        });
        family("numaseg_regions_mapped_total", "counter", "Regions mapped.", per_node(&|n| n.regions_mapped));
        family(
            "numaseg_page_kind_fallbacks_total",
            "counter",
            "Region mappings that fell back to a smaller page kind.",
            per_node(&|n| n.page_kind_fallbacks),
        );
        family("numaseg_decommits_total", "counter", "Regions decommitted.", per_node(&|n| n.decommits));
        family("numaseg_decommitted_bytes_total", "counter", "Bytes decommitted.", per_node(&|n| n.decommitted_bytes));
        family("numaseg_recommits_total", "counter", "Regions recommitted.", per_node(&|n| n.recommits));
        family(
            "numaseg_recommit_failures_total",
            "counter",
            "Recommits that failed.",
            per_node(&|n| n.recommit_failures),
        );
        family(
            "numaseg_reclaimed_segments_total",
            "counter",
            "Segments given back from pools to regions.",
            per_node(&|n| n.reclaimed_segments),
        );
        family(
            "numaseg_budget_refusals_total",
            "counter",
            "Region mappings the budget refused.",
            per_node(&|n| n.budget_refusals),
        );
        family("numaseg_class_regions", "gauge", "Regions serving a size class.", per_class(&|c| c.regions));
        family("numaseg_class_used_segments", "gauge", "Segments in users' hands.", per_class(&|c| c.used_segments));
        family(
            "numaseg_class_cached_segments",
            "gauge",
            "Segments in thread caches.",
            per_class(&|c| c.cached_segments),
        );
        family(
            "numaseg_class_pooled_segments",
            "gauge",
            "Segments in the node pool.",
            per_class(&|c| c.pooled_segments),
        );
        family(
            "numaseg_cache_hits_total",
            "counter",
            "Allocations served from a thread cache.",
            per_class(&|c| c.cache_hits),
        );
        family("numaseg_cache_misses_total", "counter", "Thread cache refills.", per_class(&|c| c.cache_misses));
        family(
            "numaseg_pool_refills_total",
            "counter",
            "Refills served from the node pool.",
            per_class(&|c| c.pool_refills),
        );
        family(
            "numaseg_steals_total",
            "counter",
            "Batches stolen from other threads of the node.",
            per_class(&|c| c.steals),
        );
        family(
            "numaseg_stolen_segments_total",
            "counter",
            "Segments obtained by stealing.",
            per_class(&|c| c.stolen_segments),
        );
        family(
            "numaseg_remote_allocations_total",
            "counter",
            "Allocations served by another node.",
            per_class(&|c| c.remote_allocations),
        );
        family(
            "numaseg_foreign_frees_total",
            "counter",
            "Frees of another node's segments, sent home.",
            per_class(&|c| c.foreign_frees),
        );
        w.finish()
    }
}
