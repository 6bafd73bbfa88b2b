//! [`NodeCore`]: everything one NUMA node's memory goes through below the thread caches — its
//! byte budget, its regions (mapped on demand or up front, carved into segments for one class at
//! a time), and per class a shared pool plus the stealers of the node's threads.
//!
//! The region table sits behind one mutex, taken only on slow paths: carving a batch, taking
//! segments back, mapping, recommitting and decommitting. Pools and stealers are lock-free
//! (crossbeam-deque); the stealer list is read under a read lock when a thread steals.

use std::collections::HashSet;

use numa::{NodeId, PageKind, PageSource, Region, RegionError, RegionSpec};

use super::regions::RegionTable;
use crate::entry::Entry;
use crate::prometheus::counters;
use crate::size_class::{MAX_CLASSES, SizeClass};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::budget::{BothRefused, Budget, release_both, reserve_both};
use crate::sync::deque::{ArrayQueue, Stealer};
use crate::sync::stat::AddressWord;
use crate::sync::{Mutex, RwLock, lock};

/// Why carving failed.
#[derive(Debug)]
pub(crate) enum CarveError {
    /// A budget refused the region the carve needed.
    Budget(BothRefused),
    /// Mapping (or recommitting) a region failed.
    Region(RegionError),
    /// The page source mapped a region that reaches `entry::ADDRESS_LIMIT`, which a segment
    /// handle cannot carry (it keeps its node index above it); the region was unmapped.
    AddressOutOfRange {
        /// The region's first byte.
        base: usize,
        /// The byte after its last.
        end: usize,
    },
}

counters! {
    /// Slow-path counters of one node. Statistics ([`Counter`](crate::sync::stat::Counter)s),
    /// written by any thread of the node; each row is also its `NodeStats` field and metric.
    #[derive(Debug, Default)]
    pub(crate) struct NodeCounters => NodeCounts, splice node_counters {
        /// Regions mapped since start.
        regions_mapped => regions_mapped (counter "numaseg_regions_mapped_total" "Regions mapped."),
        /// Region mappings that fell back to a smaller page kind.
        fallbacks => page_kind_fallbacks
            (counter "numaseg_page_kind_fallbacks_total" "Region mappings that fell back to a smaller page kind."),
        /// Regions decommitted since start.
        decommits => decommits (counter "numaseg_decommits_total" "Regions decommitted."),
        /// Bytes decommitted since start.
        decommitted_bytes => decommitted_bytes (counter "numaseg_decommitted_bytes_total" "Bytes decommitted."),
        /// Regions recommitted since start.
        recommits => recommits (counter "numaseg_recommits_total" "Regions recommitted."),
        /// Recommits that failed (the region was unmapped instead).
        recommit_failures => recommit_failures (counter "numaseg_recommit_failures_total" "Recommits that failed."),
        /// Segments given back from pools to their regions.
        reclaimed_segments => reclaimed_segments
            (counter "numaseg_reclaimed_segments_total" "Segments given back from pools to regions."),
        /// Region mappings or recommits the budget refused.
        budget_refusals => budget_refusals
            (counter "numaseg_budget_refusals_total" "Region mappings the budget refused."),
    }
}

/// Batches a node pool holds per class (a bounded queue: pushing never allocates). A pool
/// that would hold more gives batches back to their regions instead. Smaller under loom (so
/// that the models reach a full pool) and under Miri, which interprets the queues' slot
/// initialisation: 2 × 19 × 256 slots a node took 3.4 s of each Miri test's start.
pub(crate) const POOL_BATCHES: usize = if cfg!(loom) {
    4
} else if cfg!(miri) {
    16
} else {
    256
};

/// One class's shared state on one node.
///
/// The pool moves **batches**: a spill, an outbox flush or a thread-exit flush pushes its
/// entries as one `Vec`, a refill takes one `Vec` — one compare-and-swap per batch instead of
/// one per segment (the idea of `TCMalloc`'s transfer cache). The queue is bounded and
/// pre-allocated (crossbeam's `ArrayQueue`), and emptied batch vectors wait in `spares` for the
/// next flush, so in steady state moving a batch allocates nothing. `pooled` counts the segments
/// in it: a push adds before it publishes the batch and a pop subtracts after it took one, so
/// the count may briefly exceed the pool's contents but never falls below them (and never
/// wraps).
#[derive(Debug)]
pub(crate) struct NodeClass {
    /// Batches of segments of this node and class that no thread caches.
    pool: ArrayQueue<Vec<Entry>>,
    /// Empty batch vectors (their capacity kept) for the next flush to fill.
    spares: ArrayQueue<Vec<Entry>>,
    /// Segments in `pool`.
    pooled: AtomicUsize,
    /// The spill deques of this node's threads, by slot id.
    stealers: RwLock<Vec<(u64, Stealer<Entry>)>>,
}

impl NodeClass {
    fn new() -> Self {
        Self {
            pool: ArrayQueue::new(POOL_BATCHES),
            spares: ArrayQueue::new(POOL_BATCHES),
            pooled: AtomicUsize::new(0),
            stealers: RwLock::new(Vec::new()),
        }
    }

    /// Puts a batch into the pool (an empty one becomes a spare). A full pool gives the batch
    /// back: the caller sends segments to their regions instead (`Core::push_batch_home`).
    pub(crate) fn push_batch(&self, batch: Vec<Entry>) -> Result<(), Vec<Entry>> {
        if batch.is_empty() {
            self.give_spare(batch);
            return Ok(());
        }
        let n = batch.len();
        // Count first, then publish. Relaxed suffices: the push publishes the batch with
        // release and a pop takes it with acquire, so this add happens before the matching
        // subtraction, and coherence keeps their order in the counter.
        self.pooled.fetch_add(n, Ordering::Relaxed);
        self.pool.push(batch).inspect_err(|_| {
            self.pooled.fetch_sub(n, Ordering::Relaxed);
        })
    }

    /// Takes a batch out of the pool.
    pub(crate) fn pop_batch(&self) -> Option<Vec<Entry>> {
        let batch = self.pool.pop()?;
        self.pooled.fetch_sub(batch.len(), Ordering::Relaxed);
        Some(batch)
    }

    /// An empty batch vector to fill, with the capacity it had, if the pool has one.
    pub(crate) fn take_spare(&self) -> Option<Vec<Entry>> {
        self.spares.pop()
    }

    /// Keeps an emptied batch vector for the next flush (dropped when enough are kept).
    pub(crate) fn give_spare(&self, mut batch: Vec<Entry>) {
        if batch.capacity() > 0 {
            batch.clear();
            let _ = self.spares.push(batch);
        }
    }

    /// Segments in the pool.
    pub(crate) fn pooled(&self) -> usize {
        self.pooled.load(Ordering::Relaxed)
    }

    /// Registers a thread's spill deque.
    pub(crate) fn add_stealer(&self, slot: u64, stealer: Stealer<Entry>) {
        self.stealers.write().unwrap_or_else(|e| e.into_inner()).push((slot, stealer));
    }

    /// Forgets a thread's spill deque.
    pub(crate) fn remove_stealer(&self, slot: u64) {
        self.stealers.write().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != slot);
    }

    /// Runs `f` on the spill deques of this node's threads, by slot id, under the read lock
    /// (the cache's steal loop, `cache::steal`, walks them).
    pub(crate) fn with_stealers<R>(&self, f: impl FnOnce(&[(u64, Stealer<Entry>)]) -> R) -> R {
        f(&self.stealers.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Segments in this class's spill deques (all threads).
    pub(crate) fn in_deques(&self) -> usize {
        self.stealers.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, s)| s.len()).sum()
    }
}

/// Which page kind each 2 MiB chunk of a node's regions has, readable without a lock: how
/// `NodeAllocator::deallocate`, which gets only an address, tags the entry it frees.
///
/// Every region is aligned to 2 MiB (`numa::page`), so a chunk belongs to at most one region.
/// An open-addressing table of `(chunk + 1) << 2 | kind tag` words, written only under the
/// region table's mutex when a region is mapped (a chunk seen before is overwritten: the newest
/// region at an address wins), read with acquire loads. A block handed out was carved after its
/// region was recorded, so a lookup for a live block finds it; only a table too full to record a
/// region (more than `KIND_SLOTS * 3 / 4` chunks per node) makes lookups fall back to the
/// locked region table.
#[derive(Debug)]
pub(crate) struct KindDirectory {
    /// std's atomics even under loom ([`AddressWord`]): which slots a lookup probes follows the
    /// regions' addresses.
    slots: Box<[AddressWord]>,
    used: AddressWord,
}

/// Slots of a node's [`KindDirectory`] (a power of two; 3/4 of them hold 6 GiB of regions).
/// Fewer under loom and Miri (whose tests map a few regions; Miri interprets the slots'
/// initialisation).
const KIND_SLOTS: usize = if cfg!(loom) {
    8
} else if cfg!(miri) {
    64
} else {
    4096
};
const CHUNK_SHIFT: u32 = 21;

impl KindDirectory {
    fn new() -> Self {
        Self { slots: (0..KIND_SLOTS).map(|_| AddressWord::new(0)).collect(), used: AddressWord::new(0) }
    }

    fn home_slot(chunk: usize) -> usize {
        // Fibonacci hashing: the top bits of the product.
        let hash = (chunk as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - KIND_SLOTS.trailing_zeros());
        usize::try_from(hash).unwrap_or(0) & (KIND_SLOTS - 1)
    }

    /// Records the chunks of `[base, base + len)` as of `kind`. Called under the region table's
    /// mutex (one writer at a time). Returns false when the table is too full, and lookups then
    /// take the region table's lock; under loom that is a modelled lock, so a model must map
    /// few enough regions (at most 6 chunks a node there) for its operations not to follow
    /// how many chunks its regions' addresses span.
    fn record(&self, base: usize, len: usize, kind: PageKind) -> bool {
        let tag = crate::entry::kind_tag(kind);
        for chunk in (base >> CHUNK_SHIFT)..((base + len).div_ceil(1 << CHUNK_SHIFT)) {
            let key = (chunk + 1) << 2;
            let mut i = Self::home_slot(chunk);
            loop {
                let word = self.slots[i].load(Ordering::Relaxed);
                if word == 0 {
                    if self.used.load(Ordering::Relaxed) >= KIND_SLOTS * 3 / 4 {
                        return false;
                    }
                    self.used.fetch_add(1, Ordering::Relaxed);
                    self.slots[i].store(key | tag, Ordering::Release);
                    break;
                }
                if word & !3 == key {
                    self.slots[i].store(key | tag, Ordering::Release);
                    break;
                }
                i = (i + 1) & (KIND_SLOTS - 1);
            }
        }
        true
    }

    /// The kind tag of the chunk holding `addr`, if recorded.
    fn tag_of(&self, addr: usize) -> Option<usize> {
        let chunk = addr >> CHUNK_SHIFT;
        let key = (chunk + 1) << 2;
        let mut i = Self::home_slot(chunk);
        for _ in 0..KIND_SLOTS {
            let word = self.slots[i].load(Ordering::Acquire);
            if word == 0 {
                return None;
            }
            if word & !3 == key {
                return Some(word & 3);
            }
            i = (i + 1) & (KIND_SLOTS - 1);
        }
        None
    }
}

/// The parameters a node needs to map regions.
#[derive(Debug, Clone)]
pub(crate) struct MapParams {
    pub(crate) spec: RegionSpec,
    pub(crate) retain_bytes: usize,
}

/// One node's part of the core: its budget, regions and per-class pools.
#[derive(Debug)]
pub(crate) struct NodeCore {
    pub(crate) id: NodeId,
    pub(crate) budget: Budget,
    pub(crate) classes: Box<[NodeClass]>,
    pub(crate) regions: Mutex<RegionTable>,
    pub(crate) counters: NodeCounters,
    /// Page kinds by address, without a lock.
    kinds: KindDirectory,
    params: MapParams,
    /// Fallbacks already logged (from, to), so each is logged once per node.
    logged: Mutex<HashSet<(PageKind, Option<PageKind>)>>,
}

impl NodeCore {
    pub(crate) fn new(id: NodeId, limit: usize, params: MapParams) -> Self {
        Self {
            id,
            budget: Budget::new(limit),
            classes: (0..MAX_CLASSES).map(|_| NodeClass::new()).collect(),
            regions: Mutex::new(RegionTable::new()),
            counters: NodeCounters::default(),
            kinds: KindDirectory::new(),
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
            Ok((region, _)) if region.base().as_ptr() as usize + region.len() > crate::entry::ADDRESS_LIMIT => {
                // Never seen: mappings without an address hint stay below 2^47 (x86-64, also
                // with 5-level paging) or 2^48 (aarch64). Refused, not carved: a handle packs its
                // node index above `ADDRESS_LIMIT` (see `segment::Packed`).
                let base = region.base().as_ptr() as usize;
                let end = base + region.len();
                drop(region);
                release_both(&self.budget, total, len);
                Err(CarveError::AddressOutOfRange { base, end })
            }
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
                self.kinds.record(region.base().as_ptr() as usize, region.len(), region.kind());
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
        out: &mut Vec<Entry>,
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
    pub(crate) fn reclaim(&self, class: SizeClass, entries: &[Entry], total: &Budget, retain: Option<usize>) {
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

    /// The page-kind tag (`crate::entry`) of the region holding `addr`: from the lock-free
    /// [`KindDirectory`], else (a directory too full to record every region) the locked table.
    pub(crate) fn kind_tag_of(&self, addr: usize) -> Option<usize> {
        self.kinds.tag_of(addr).or_else(|| lock(&self.regions).kind_of(addr).map(crate::entry::kind_tag))
    }
}
