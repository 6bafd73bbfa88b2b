//! [`NodeArena`]: everything one NUMA node's memory goes through below the thread caches — its
//! byte budget, its regions (mapped on demand or up front, carved into segments for one class at
//! a time), and per class a shared pool plus the stealers of the node's threads.
//!
//! The region table sits behind one mutex, taken only on slow paths: carving a batch, taking
//! segments back, mapping, recommitting and decommitting. Pools and stealers are lock-free
//! (crossbeam-deque); the stealer list is read under a read lock when a thread steals.

use std::collections::HashSet;

use numa::{NodeId, PageKind, PageSource, Region, RegionError, RegionSpec};

use super::budget::{BothRefused, Budget, release_both, reserve_both};
use super::regions::RegionTable;
use crate::size_class::{MAX_CLASSES, SizeClass};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::deque::{Injector, Steal, Stealer};
use crate::sync::stat::Counter;
use crate::sync::{Mutex, RwLock, lock};

/// Why carving failed.
#[derive(Debug)]
pub(crate) enum CarveError {
    /// A budget refused the region the carve needed.
    Budget(BothRefused),
    /// Mapping (or recommitting) a region failed.
    Region(RegionError),
}

/// Slow-path counters of one node. Statistics ([`Counter`]s), written by any thread of the node.
#[derive(Debug, Default)]
pub(crate) struct NodeCounters {
    pub(crate) regions_mapped: Counter,
    pub(crate) fallbacks: Counter,
    pub(crate) decommits: Counter,
    pub(crate) decommitted_bytes: Counter,
    pub(crate) recommits: Counter,
    pub(crate) recommit_failures: Counter,
    pub(crate) reclaimed_segments: Counter,
    pub(crate) budget_refusals: Counter,
}

/// One class's shared state on one node.
///
/// The pool moves **batches**: a spill or flush pushes its entries as one `Vec`, a refill takes
/// one `Vec` — one compare-and-swap per batch instead of one per segment (the idea of
/// `TCMalloc`'s transfer cache). `pooled` counts the segments in it: a push adds before it
/// publishes the batch and a pop subtracts after it took one, so the count may briefly exceed
/// the pool's contents but never falls below them (and never wraps).
#[derive(Debug)]
pub(crate) struct NodeClass {
    /// Batches of segments of this node and class that no thread caches.
    pool: Injector<Vec<usize>>,
    /// Segments in `pool`.
    pooled: AtomicUsize,
    /// The spill deques of this node's threads, by slot id.
    stealers: RwLock<Vec<(u64, Stealer<usize>)>>,
}

impl NodeClass {
    fn new() -> Self {
        Self { pool: Injector::new(), pooled: AtomicUsize::new(0), stealers: RwLock::new(Vec::new()) }
    }

    /// Puts a batch into the pool (empty batches are dropped).
    pub(crate) fn push_batch(&self, batch: Vec<usize>) {
        if batch.is_empty() {
            return;
        }
        // Count first, then publish. Relaxed suffices: the push publishes the batch with
        // release and a pop takes it with acquire, so this add happens before the matching
        // subtraction, and coherence keeps their order in the counter.
        self.pooled.fetch_add(batch.len(), Ordering::Relaxed);
        self.pool.push(batch);
    }

    /// Takes a batch out of the pool.
    pub(crate) fn pop_batch(&self) -> Option<Vec<usize>> {
        loop {
            match self.pool.steal() {
                Steal::Success(batch) => {
                    self.pooled.fetch_sub(batch.len(), Ordering::Relaxed);
                    return Some(batch);
                }
                Steal::Empty => return None,
                Steal::Retry => crate::sync::hint::spin_loop(),
            }
        }
    }

    /// Segments in the pool.
    pub(crate) fn pooled(&self) -> usize {
        self.pooled.load(Ordering::Relaxed)
    }

    /// Registers a thread's spill deque.
    pub(crate) fn add_stealer(&self, slot: u64, stealer: Stealer<usize>) {
        self.stealers.write().unwrap_or_else(|e| e.into_inner()).push((slot, stealer));
    }

    /// Forgets a thread's spill deque.
    pub(crate) fn remove_stealer(&self, slot: u64) {
        self.stealers.write().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != slot);
    }

    /// Runs `f` on the spill deques of this node's threads, by slot id, under the read lock
    /// (the cache's steal loop, `cache::steal`, walks them).
    pub(crate) fn with_stealers<R>(&self, f: impl FnOnce(&[(u64, Stealer<usize>)]) -> R) -> R {
        f(&self.stealers.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Segments in this class's spill deques (all threads).
    pub(crate) fn in_deques(&self) -> usize {
        self.stealers.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, s)| s.len()).sum()
    }

    /// Takes one segment from the pool (the rest of its batch goes back).
    pub(crate) fn take_one(&self) -> Option<usize> {
        let mut batch = self.pop_batch()?;
        let one = batch.pop();
        self.push_batch(batch);
        one
    }
}

/// The parameters a node needs to map regions.
#[derive(Debug, Clone)]
pub(crate) struct MapParams {
    pub(crate) spec: RegionSpec,
    pub(crate) retain_bytes: usize,
}

/// One node's arena.
#[derive(Debug)]
pub(crate) struct NodeArena {
    pub(crate) id: NodeId,
    pub(crate) budget: Budget,
    pub(crate) classes: Box<[NodeClass]>,
    pub(crate) regions: Mutex<RegionTable>,
    pub(crate) counters: NodeCounters,
    params: MapParams,
    /// Fallbacks already logged (from, to), so each is logged once per node.
    logged: Mutex<HashSet<(PageKind, Option<PageKind>)>>,
}

impl NodeArena {
    pub(crate) fn new(id: NodeId, limit: usize, params: MapParams) -> Self {
        Self {
            id,
            budget: Budget::new(limit),
            classes: (0..MAX_CLASSES).map(|_| NodeClass::new()).collect(),
            regions: Mutex::new(RegionTable::new()),
            counters: NodeCounters::default(),
            params,
            logged: Mutex::new(HashSet::new()),
        }
    }

    /// Free-region bytes this node keeps committed.
    pub(crate) fn params_retain(&self) -> usize {
        self.params.retain_bytes
    }

    /// Region size in bytes.
    pub(crate) fn region_size(&self) -> usize {
        self.params.spec.len
    }

    /// Maps one region within both budgets and adds it to `table` as a free region.
    pub(crate) fn map_region(
        &self,
        table: &mut RegionTable,
        source: &std::sync::Arc<dyn PageSource>,
        total: &Budget,
    ) -> Result<(), CarveError> {
        let len = self.region_size();
        if let Err(refused) = reserve_both(&self.budget, total, len) {
            self.counters.budget_refusals.add(1);
            return Err(CarveError::Budget(refused));
        }
        match Region::map(source, &self.params.spec) {
            Ok((region, fallbacks)) => {
                if !fallbacks.is_empty() {
                    self.counters.fallbacks.add(1);
                    let mut logged = lock(&self.logged);
                    for f in fallbacks {
                        if logged.insert((f.from, f.to)) {
                            tracing::warn!(target: "numaseg", "{f}");
                        }
                    }
                }
                tracing::debug!(target: "numaseg", "{}: mapped a {} MiB region of {} pages", self.id, len >> 20, region.kind());
                self.counters.regions_mapped.add(1);
                table.insert(region);
                Ok(())
            }
            Err(e) => {
                release_both(&self.budget, total, len);
                Err(CarveError::Region(e))
            }
        }
    }

    /// Carves up to `n` segments of `class` into `out`: from regions serving the class or free
    /// ones, else by recommitting a decommitted region, else by mapping a new one. Returns how
    /// many (at least one on success).
    pub(crate) fn carve(
        &self,
        class: SizeClass,
        n: usize,
        out: &mut Vec<usize>,
        source: &std::sync::Arc<dyn PageSource>,
        total: &Budget,
    ) -> Result<usize, CarveError> {
        let mut table = lock(&self.regions);
        loop {
            let got = table.carve(class, n, out);
            if got > 0 {
                crate::expensive_check!(table.is_valid());
                return Ok(got);
            }
            if let Some(idx) = table.decommitted_region() {
                let len = table.region(idx).len();
                if let Err(refused) = reserve_both(&self.budget, total, len) {
                    self.counters.budget_refusals.add(1);
                    return Err(CarveError::Budget(refused));
                }
                match table.region(idx).recommit(0, len) {
                    Ok(()) => {
                        self.counters.recommits.add(1);
                        table.mark_recommitted(idx);
                    }
                    Err(e) => {
                        // The pages could not come back (a hugetlb pool ran dry): drop the
                        // region and map a fresh one, with fallbacks, instead.
                        release_both(&self.budget, total, len);
                        self.counters.recommit_failures.add(1);
                        tracing::warn!(target: "numaseg", "{}: recommitting a {} MiB region failed ({e}); unmapping it", self.id, len >> 20);
                        drop(table.remove(idx));
                    }
                }
                continue;
            }
            self.map_region(&mut table, source, total)?;
        }
    }

    /// Takes segments of `class` back into their regions, then decommits free regions beyond
    /// what the node retains (`retain_bytes`, or `Some(0)` to decommit all).
    pub(crate) fn reclaim(&self, class: SizeClass, entries: &[usize], total: &Budget, retain: Option<usize>) {
        let mut table = lock(&self.regions);
        let n = table.give_back(class, entries.iter().copied());
        self.counters.reclaimed_segments.add(n as u64);
        self.decommit_excess(&mut table, total, retain.unwrap_or(self.params.retain_bytes));
        crate::expensive_check!(table.is_valid());
    }

    /// Decommits free regions beyond `retain_bytes`; returns the bytes decommitted.
    pub(crate) fn decommit_excess(&self, table: &mut RegionTable, total: &Budget, retain_bytes: usize) -> usize {
        let mut bytes = 0;
        for idx in table.excess_free(retain_bytes) {
            let len = table.region(idx).len();
            // SAFETY: the region serves no class, so no segment of it is in a cache, a pool or
            // anyone's hands; holding the table's lock keeps carvers away while it runs.
            match unsafe { table.region(idx).decommit(0, len) } {
                Ok(()) => {
                    table.mark_decommitted(idx);
                    release_both(&self.budget, total, len);
                    self.counters.decommits.add(1);
                    self.counters.decommitted_bytes.add(len as u64);
                    bytes += len;
                }
                Err(e) => {
                    tracing::warn!(target: "numaseg", "{}: decommitting a {} MiB region failed: {e}", self.id, len >> 20);
                }
            }
        }
        bytes
    }

    /// The page kind of the region holding `addr`.
    pub(crate) fn kind_of(&self, addr: usize) -> Option<PageKind> {
        lock(&self.regions).kind_of(addr)
    }
}
