//! [`ArenaManager`]: the façade users hold, and the only layer that knows both the cache and the
//! core. It owns the shared state ([`CachedCore`]: the per-node [`Core`] and the registry of
//! thread caches) in a `Box` so that its address never moves: segments borrow it, and thread
//! caches keep a pointer to it that the thread-exit protocol (see [`cache`](crate::cache)) makes
//! safe to follow. The managers and pools built on top reach the core through the small
//! `pub(crate)` surface at the end of this file.

use std::fmt;

use numa::sys::heap::HeapSource;
use numa::sys::linux::LinuxSource;
use numa::{NodeId, PageSource, Topology};

use crate::cache::{self, CachedCore, sizing};
use crate::config::Config;
use crate::core::Core;
use crate::entry::{Entry, NodeIndex};
use crate::error::{AllocError, BuildError};
use crate::segment::{RawSegment, Segment, SegmentBatch};
use crate::size_class::SizeClass;
use crate::stats::Stats;
use crate::zero::ZeroMode;

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
    core: Box<CachedCore>,
    /// The largest class [`ArenaManager::allocate_class`] serves without a second look: the
    /// region size, or 0 under `NUMASEG_ZERO=on-allocate` so that every allocation takes the
    /// clearing path. One compare serves both the size check and the mode, so isolation off
    /// costs the allocation nothing.
    plain_limit: usize,
}

impl fmt::Debug for ArenaManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt(f)
    }
}

impl Drop for ArenaManager {
    fn drop(&mut self) {
        // No segment can be alive (they borrow the manager), so every segment is in a cache, a
        // pool or a region. Mark every thread cache dead before anything is freed: from here on
        // no thread-exit flush touches this manager (cache module docs).
        self.core.registry.kill_all();
    }
}

impl ArenaManager {
    /// Builds the core on the running kernel: detects the topology with hwloc and maps through
    /// [`LinuxSource`].
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::new(&Config::default())?;
    /// assert_eq!(manager.source_name(), "linux");
    /// // Segments come from the nodes in use (the calling thread's, by default).
    /// assert!(manager.nodes().contains(&manager.thread_node()));
    /// let segment = manager.allocate(4096)?;
    /// assert_eq!(segment.len(), 4096);
    /// assert!(manager.nodes().contains(&segment.node()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// See [`BuildError`].
    pub fn new(config: &Config) -> Result<Self, BuildError> {
        let topology = Topology::detect()?;
        Self::with_source(config, topology, std::sync::Arc::new(LinuxSource::new()))
    }

    /// Reads the configuration from the environment and builds the core on the running kernel.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::from_env()?;
    /// // The same configuration `Config::from_env` reads (the defaults where no NUMASEG_* is set).
    /// assert_eq!(manager.config(), &Config::from_env()?);
    /// assert_eq!(manager.source_name(), "linux");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// See [`BuildError`].
    pub fn from_env() -> Result<Self, BuildError> {
        Self::new(&Config::from_env()?)
    }

    /// Builds the core on the Rust heap with `nodes` pretend nodes (each with 64 GiB of
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

    /// Builds the core over a given topology and page source.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config};
    /// use numaseg::numa::{NodeId, Topology, sys::heap::HeapSource};
    /// // Two pretend nodes of 1 GiB each, mapped on the Rust heap.
    /// let topology = Topology::pretend(2, 1 << 30);
    /// let manager = ArenaManager::with_source(&Config::default(), topology, Arc::new(HeapSource::new()))?;
    /// assert_eq!(manager.source_name(), "heap");
    /// assert_eq!(manager.nodes(), [NodeId::new(0), NodeId::new(1)]);
    /// // The default budgets are fractions of that memory: half of it in total, 3/4 of each node.
    /// let stats = manager.stats();
    /// assert_eq!(stats.total_budget_bytes, Some(1 << 30));
    /// assert_eq!(stats.nodes[1].budget_bytes, Some(3 << 28));
    /// # Ok::<(), numaseg::BuildError>(())
    /// ```
    ///
    /// # Errors
    /// See [`BuildError`].
    pub fn with_source(
        config: &Config,
        topology: Topology,
        source: std::sync::Arc<dyn PageSource>,
    ) -> Result<Self, BuildError> {
        let core = Core::new(config, topology, source, |size| {
            sizing::max_capacity(config.cache_capacity, config.cache_bytes.as_usize(), size)
        })?;
        let plain_limit = if config.zero == ZeroMode::OnAllocate { 0 } else { core.region_size };
        let manager = Self { core: Box::new(CachedCore::new(core)), plain_limit };
        manager.core.preallocate(config.preallocate.as_usize())?;
        Ok(manager)
    }

    /// Allocates a segment of at least `size` bytes (rounded up to a power of two, at least
    /// 4 KiB) on the node the policy picks for the calling thread (its own, by default).
    ///
    /// ```
    /// use numaseg::{AllocError, ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let segment = manager.allocate(5000)?; // rounded up to 8 KiB
    /// assert_eq!(segment.len(), 8192);
    /// assert_eq!(segment.node(), manager.thread_node());
    /// assert_eq!(manager.stats().used_bytes(), 8192);
    /// // Nothing for 0 bytes, nor beyond the region size (32 MiB by default).
    /// assert!(matches!(manager.allocate(0), Err(AllocError::BadSize { requested: 0, max: 33_554_432 })));
    /// assert!(matches!(
    ///     manager.allocate(64 << 20),
    ///     Err(AllocError::BadSize { requested: 67_108_864, max: 33_554_432 })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`AllocError::BadSize`] for 0 or more than the region size; budget errors with the
    /// numbers; [`AllocError::Region`] when mapping fails; [`AllocError::Forked`].
    #[inline]
    pub fn allocate(&self, size: usize) -> Result<Segment<'_>, AllocError> {
        let class = match SizeClass::for_size(size) {
            Some(class) if class.size() <= self.plain_limit => class,
            _ => self.class_for(size)?,
        };
        self.allocate_class(class)
    }

    /// Allocates a segment of `class` (see [`ArenaManager::allocate`]).
    ///
    /// ```
    /// use numaseg::{AllocError, ArenaManager, Config, SizeClass};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let class = SizeClass::for_size(64 << 10).ok_or("no class")?;
    /// let segment = manager.allocate_class(class)?;
    /// assert_eq!(segment.size_class(), class);
    /// assert_eq!(segment.len(), 64 << 10);
    /// // A class larger than the region (32 MiB by default) is refused.
    /// let too_large = SizeClass::for_size(64 << 20).ok_or("no class")?;
    /// assert!(matches!(
    ///     manager.allocate_class(too_large),
    ///     Err(AllocError::BadSize { requested: 67_108_864, max: 33_554_432 })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ArenaManager::allocate`].
    #[inline]
    pub fn allocate_class(&self, class: SizeClass) -> Result<Segment<'_>, AllocError> {
        // One compare for both the size check and isolation on allocation (`plain_limit`). The
        // cold path returns what the cache returns, so both paths meet in registers and the
        // handle is built once.
        let (entry, node_index) = if class.size() > self.plain_limit {
            self.allocate_checked(class)?
        } else {
            cache::allocate(&self.core, class)?
        };
        // SAFETY: the cache handed the entry over exclusively; it is of `class` on `node_index`.
        Ok(unsafe { Segment::from_entry(&self.core, entry, class, node_index) })
    }

    /// Past `plain_limit`: a class too large, or isolation on allocation (clear, then hand out).
    #[cold]
    #[inline(never)]
    fn allocate_checked(&self, class: SizeClass) -> Result<(Entry, NodeIndex), AllocError> {
        if class.size() > self.core.region_size {
            return Err(self.bad_size(class.size()));
        }
        let (entry, node_index) = cache::allocate(&self.core, class)?;
        self.clear_on_allocate(class, &[entry]);
        Ok((entry, node_index))
    }

    /// Clears freshly taken entries under `NUMASEG_ZERO=on-allocate` (isolation).
    #[inline]
    fn clear_on_allocate(&self, class: SizeClass, entries: &[Entry]) {
        if self.core.config.zero == ZeroMode::OnAllocate {
            crate::segment::clear_entries(class, entries);
        }
    }

    /// Clears entries about to go back under `NUMASEG_ZERO=on-release` (isolation).
    #[inline]
    fn clear_on_release(&self, class: SizeClass, entries: &[Entry]) {
        if self.core.config.zero == ZeroMode::OnRelease {
            crate::segment::clear_entries(class, entries);
        }
    }

    /// Allocates a segment on `node`, whatever the calling thread's node. Served from the
    /// thread's cache when `node` is its home, else from the thread's outbox for `node` (what
    /// it freed there and has not sent home yet; refilled half at a time from one batch of the
    /// node's pool), else from that node's pool or regions. When
    /// `node` is out of budget this fails (no fallback to another node: the caller asked for
    /// this one).
    ///
    /// ```
    /// use numaseg::{AllocError, ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?;
    /// assert_eq!(manager.thread_node(), NodeId::new(0));
    /// let segment = manager.allocate_on(NodeId::new(1), 4096)?;
    /// assert_eq!(segment.node(), NodeId::new(1));
    /// let stats = manager.stats();
    /// assert_eq!(stats.node(NodeId::new(1)).map(|n| n.used_bytes), Some(4096));
    /// assert_eq!(stats.node(NodeId::new(0)).map(|n| n.used_bytes), Some(0));
    /// // A node the manager does not use.
    /// let err = manager.allocate_on(NodeId::new(7), 4096).unwrap_err();
    /// assert!(matches!(err, AllocError::UnknownNode { node, .. } if node == NodeId::new(7)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`AllocError::UnknownNode`], and as [`ArenaManager::allocate`].
    #[inline(always)]
    pub fn allocate_on(&self, node: NodeId, size: usize) -> Result<Segment<'_>, AllocError> {
        let class = self.class_for(size)?;
        let node_index = self.core.node_index(node)?;
        // The thread's cache when `node` is its home; else its outbox for `node` (what it freed
        // there and has not sent home yet).
        match cache::allocate_at(&self.core, class, node_index) {
            cache::At::Got(entry) => {
                self.clear_on_allocate(class, &[entry]);
                // SAFETY: the cache or the outbox handed over an exclusive entry of `class` on
                // `node_index`.
                return Ok(unsafe { Segment::from_entry(&self.core, entry, class, node_index) });
            }
            cache::At::Home => {
                let (entry, got) = cache::allocate(&self.core, class)?;
                if got == node_index {
                    self.clear_on_allocate(class, &[entry]);
                }
                // SAFETY: the cache handed over an exclusive entry of `class` on `got`.
                let segment = unsafe { Segment::from_entry(&self.core, entry, class, got) };
                if got == node_index {
                    return Ok(segment);
                }
                // The home node was out of budget and the cache went remote: not what was asked.
                drop(segment);
            }
            cache::At::Miss => {}
        }
        let (entry, got) = self.core.allocate_direct(node_index, class, false)?;
        self.clear_on_allocate(class, &[entry]);
        // SAFETY: `allocate_direct` hands over an exclusive entry of `class` on `got`.
        Ok(unsafe { Segment::from_entry(&self.core, entry, class, got) })
    }

    /// An empty batch for [`ArenaManager::allocate_bulk`].
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let mut batch = manager.new_batch();
    /// assert!(batch.is_empty());
    /// manager.allocate_bulk(4096, 4, &mut batch)?;
    /// assert_eq!((batch.len(), batch.segment_size()), (4, 4096));
    /// assert_eq!(batch.node(), manager.thread_node());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new_batch(&self) -> SegmentBatch<'_> {
        SegmentBatch::new(&self.core)
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
        if !std::ptr::eq(batch.core(), &raw const *self.core) {
            return Err(AllocError::BatchMismatch { reason: "the batch belongs to another manager" });
        }
        let home = cache::thread_home(&self.core).unwrap_or_else(|| self.core.default_node_index());
        // A count the budget could never hold is refused before anything is reserved or mapped.
        if let Some(refused) = self.core.bulk_never_fits(home, n, class.size()) {
            return Err(refused);
        }
        let (_, batch_class, batch_node_index, entries) = batch.parts_mut();
        if !entries.is_empty() && (*batch_class != class || *batch_node_index != home) {
            return Err(AllocError::BatchMismatch { reason: "the batch holds segments of another size or node" });
        }
        let before = entries.len();
        let node_index = cache::allocate_batch(&self.core, class, n, entries).map_err(|cause| AllocError::Bulk {
            requested: n,
            size: class.size(),
            cause: Box::new(cause),
        })?;
        self.clear_on_allocate(class, &entries[before..]);
        *batch_class = class;
        *batch_node_index = node_index;
        Ok(())
    }

    /// Allocates `n` segments of at least `size` bytes on the calling thread's node and appends
    /// them to `out` as handles, all or nothing (on an error `out` is as it was). The bulk of
    /// [`ArenaManager::allocate_bulk`] without a [`SegmentBatch`] in between: the handles are
    /// built as the thread cache's entries are copied out, so nothing is popped per block. Give
    /// them back with [`ArenaManager::release_all`] (or one by one, by dropping them).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, Segment};
    /// let manager = ArenaManager::new(&Config::default())?;
    /// let mut held: Vec<Segment<'_>> = Vec::with_capacity(32);
    /// manager.allocate_bulk_into(32 << 10, 32, &mut held)?;
    /// for (i, segment) in held.iter_mut().enumerate() {
    ///     segment.as_mut_slice()[0] = i as u8;
    /// }
    /// assert_eq!(held.len(), 32);
    /// manager.release_all(&mut held); // all 32 back in one pass; `held` keeps its capacity
    /// assert!(held.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ArenaManager::allocate_bulk`] ([`AllocError::Bulk`], [`AllocError::BadSize`]).
    pub fn allocate_bulk_into<'a>(
        &'a self,
        size: usize,
        n: usize,
        out: &mut Vec<Segment<'a>>,
    ) -> Result<(), AllocError> {
        let class = self.class_for(size)?;
        let before = out.len();
        let mut sink = crate::segment::handles::Handles { core: &self.core, class, out };
        // All `n` in the thread's stack (the steady state of a service's bulks): one copy.
        if cache::allocate_from_stack(&self.core, class, n, &mut sink).is_none() {
            let home = cache::thread_home(&self.core).unwrap_or_else(|| self.core.default_node_index());
            if let Some(refused) = self.core.bulk_never_fits(home, n, class.size()) {
                return Err(refused);
            }
            cache::allocate_batch(&self.core, class, n, &mut sink).map_err(|cause| AllocError::Bulk {
                requested: n,
                size: class.size(),
                cause: Box::new(cause),
            })?;
        }
        if self.core.config.zero == ZeroMode::OnAllocate {
            for segment in &out[before..] {
                crate::segment::clear_entries(class, &[segment.entry()]);
            }
        }
        Ok(())
    }

    /// Gives back every segment in `segments` in one pass over the thread cache and leaves the
    /// vector empty, its capacity kept for the next [`ArenaManager::allocate_bulk_into`].
    /// Segments of another manager go back to theirs.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::new(&Config::default())?;
    /// let mut held = vec![manager.allocate(4096)?, manager.allocate(8192)?];
    /// manager.release_all(&mut held);
    /// assert!(held.is_empty() && held.capacity() >= 2);
    /// assert_eq!(manager.stats().used_bytes(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_all<'a>(&'a self, segments: &mut Vec<Segment<'a>>) {
        crate::segment::handles::release_all(&self.core, segments);
    }

    /// Gives back many segments in one go (segments of another manager go back to theirs).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let other = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let held = vec![manager.allocate(4096)?, manager.allocate(8192)?, other.allocate(4096)?];
    /// assert_eq!(manager.stats().used_segments(), 2);
    /// assert_eq!(other.stats().used_segments(), 1);
    /// manager.release_bulk(held);
    /// assert_eq!(manager.stats().used_segments(), 0);
    /// assert_eq!(other.stats().used_segments(), 0); // went back to its own manager
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_bulk<'a>(&'a self, segments: impl IntoIterator<Item = Segment<'a>>) {
        let own: &CachedCore = &self.core;
        let mut foreign = Vec::new();
        let items = segments.into_iter().filter_map(|segment| {
            if std::ptr::eq(segment.core(), own) {
                let raw = segment.into_raw();
                self.clear_on_release(raw.meta.class, &[raw.entry]);
                Some((raw.entry, raw.meta.class, raw.meta.node))
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
    /// ```
    /// use allocator_api2::vec::Vec;
    /// use numaseg::{AllocError, ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?;
    /// let allocator = manager.node_allocator(NodeId::new(1))?;
    /// assert_eq!(allocator.node(), NodeId::new(1));
    /// let mut v: Vec<u64, _> = Vec::new_in(allocator);
    /// v.extend(0..1000u64);
    /// assert_eq!(v.iter().sum::<u64>(), 499_500);
    /// assert!(manager.stats().node(NodeId::new(1)).is_some_and(|n| n.used_bytes >= 8000));
    /// assert!(matches!(manager.node_allocator(NodeId::new(2)), Err(AllocError::UnknownNode { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`AllocError::UnknownNode`].
    pub fn node_allocator(&self, node: NodeId) -> Result<crate::NodeAllocator<'_>, AllocError> {
        let node_index = self.core.node_index(node)?;
        Ok(crate::NodeAllocator::new(&self.core, node_index))
    }

    /// Makes `node` the calling thread's home for this manager (flushing its cache first).
    /// Useful after pinning a thread to a node's CPUs yourself; by default the home is the node
    /// the thread ran on when it first allocated, followed as it migrates.
    ///
    /// ```
    /// use numaseg::{AllocError, ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?;
    /// assert_eq!(manager.thread_node(), NodeId::new(0));
    /// manager.set_thread_node(NodeId::new(1))?;
    /// assert_eq!(manager.thread_node(), NodeId::new(1));
    /// assert_eq!(manager.allocate(4096)?.node(), NodeId::new(1));
    /// assert!(matches!(manager.set_thread_node(NodeId::new(2)), Err(AllocError::UnknownNode { .. })));
    /// assert_eq!(manager.thread_node(), NodeId::new(1)); // unchanged by the refusal
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`AllocError::UnknownNode`]; [`AllocError::Forked`] in a fork child of the process that built
    /// the manager.
    pub fn set_thread_node(&self, node: NodeId) -> Result<(), AllocError> {
        let node_index = self.core.node_index(node)?;
        self.core.check_fork()?;
        cache::flush(&self.core, Some(node_index));
        Ok(())
    }

    /// The calling thread's home node for this manager.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// // Pretend nodes put every CPU on node 0, so that is every thread's home.
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?;
    /// assert_eq!(manager.thread_node(), NodeId::new(0));
    /// assert_eq!(manager.allocate(4096)?.node(), manager.thread_node());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn thread_node(&self) -> NodeId {
        self.core.node_id(cache::thread_home(&self.core).unwrap_or_else(|| self.core.default_node_index()))
    }

    /// Moves everything the calling thread caches for this manager to the node pools. In a fork
    /// child of the process that built the manager it does nothing (the pools' locks may have
    /// been held at the fork by a thread that does not exist in the child).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// drop(manager.allocate(4096)?); // back to this thread's cache
    /// let cached = |m: &ArenaManager| m.stats().nodes[0].classes[0].cached_segments;
    /// let pooled = |m: &ArenaManager| m.stats().nodes[0].classes[0].pooled_segments;
    /// assert!(cached(&manager) > 0);
    /// manager.flush_thread_cache();
    /// assert_eq!(cached(&manager), 0);
    /// assert!(pooled(&manager) > 0); // now in the node's pool
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_thread_cache(&self) {
        cache::flush(&self.core, None);
    }

    /// Returns idle memory to the OS now: flushes the calling thread's cache, gives every pooled
    /// segment back to its region, and decommits every free region. Returns the bytes
    /// decommitted, counting regions the flush itself left free and decommitted. (Other
    /// threads' caches are theirs; they go back when those threads free, spill or exit.) In a
    /// fork child it does nothing and returns 0.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// drop(manager.allocate(4096)?); // maps one region (32 MiB by default); the segment is cached
    /// assert_eq!(manager.stats().total_committed_bytes, 32 << 20);
    /// assert_eq!(manager.purge(), 32 << 20); // the region was free again: decommitted
    /// let stats = manager.stats();
    /// assert_eq!(stats.total_committed_bytes, 0);
    /// assert_eq!(stats.nodes[0].free_regions_decommitted, 1);
    /// assert_eq!(manager.purge(), 0); // nothing left to give back
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn purge(&self) -> usize {
        if self.core.check_fork().is_err() {
            return 0; // a fork child: no locks (see `flush_thread_cache`)
        }
        let decommitted = || -> u64 { self.core.all_nodes().iter().map(|n| n.counters.decommitted_bytes.get()).sum() };
        let before = decommitted();
        cache::flush(&self.core, None);
        self.core.drain_pools_to_regions(Some(0));
        usize::try_from(decommitted().saturating_sub(before)).unwrap_or(usize::MAX)
    }

    /// A snapshot of usage and counters.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// let a = manager.allocate(4096)?;
    /// let b = manager.allocate(32 << 10)?;
    /// let stats = manager.stats();
    /// assert_eq!(stats.used_bytes(), 4096 + (32 << 10));
    /// assert_eq!(stats.used_segments(), 2);
    /// drop((a, b));
    /// assert_eq!(manager.stats().used_segments(), 0); // a snapshot: taken anew each call
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        crate::stats::collect(&self.core)
    }

    /// How many threads hold a live cache of this manager (threads that allocated or freed and
    /// have not exited yet).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 1)?;
    /// assert_eq!(manager.live_thread_caches(), 0);
    /// let segment = manager.allocate(4096)?;
    /// assert_eq!(manager.live_thread_caches(), 1);
    /// std::thread::scope(|s| {
    ///     let other = s.spawn(|| {
    ///         drop(manager.allocate(4096));
    ///         manager.live_thread_caches()
    ///     });
    ///     assert_eq!(other.join().ok(), Some(2));
    /// });
    /// assert_eq!(manager.live_thread_caches(), 1); // the other thread exited
    /// # drop(segment);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn live_thread_caches(&self) -> usize {
        self.core.registry.live_count()
    }

    /// The topology the manager was built on.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 2)?;
    /// let topology = manager.topology();
    /// assert_eq!(topology.source(), "pretend");
    /// assert_eq!(topology.nodes().len(), 2);
    /// assert_eq!(topology.node(NodeId::new(1)).map(|n| n.memory_bytes), Some(64 << 30));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn topology(&self) -> &Topology {
        &self.core.topology
    }

    /// The nodes in use, ascending.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = ArenaManager::heap_backed(&Config::default(), 3)?;
    /// assert_eq!(manager.nodes(), [NodeId::new(0), NodeId::new(1), NodeId::new(2)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn nodes(&self) -> Vec<NodeId> {
        self.core.all_nodes().iter().map(|n| n.id).collect()
    }

    /// The configuration it was built with.
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// let config = Config::builder().cache_capacity(64).build_from::<_, &str, &str>([])?;
    /// let manager = ArenaManager::heap_backed(&config, 1)?;
    /// assert_eq!(manager.config().cache_capacity, 64);
    /// assert_eq!(manager.config(), &config);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The largest segment: the region size.
    ///
    /// ```
    /// use numaseg::{AllocError, ArenaManager, Config, config::ByteSize};
    /// let config = Config::builder().region_size(ByteSize(4 << 20)).build_from::<_, &str, &str>([])?;
    /// let manager = ArenaManager::heap_backed(&config, 1)?;
    /// assert_eq!(manager.max_segment_size(), 4 << 20);
    /// assert_eq!(manager.allocate(4 << 20)?.len(), 4 << 20);
    /// assert!(matches!(manager.allocate((4 << 20) + 1), Err(AllocError::BadSize { max: 4_194_304, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn max_segment_size(&self) -> usize {
        self.core.region_size
    }

    /// The page source's name (`linux`, `heap`, ...).
    ///
    /// ```
    /// use numaseg::{ArenaManager, Config};
    /// assert_eq!(ArenaManager::heap_backed(&Config::default(), 1)?.source_name(), "heap");
    /// assert_eq!(ArenaManager::new(&Config::default())?.source_name(), "linux");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn source_name(&self) -> &'static str {
        self.core.source.name()
    }

    /// The transparent-huge-page mode the page source reported when the manager was built
    /// (the kernel's, or what a heap or fault-injection source simulates).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config};
    /// use numaseg::numa::{ThpMode, Topology, sys::heap::HeapSource};
    /// let source = Arc::new(HeapSource::new().with_thp_mode(ThpMode::Never));
    /// let manager = ArenaManager::with_source(&Config::default(), Topology::pretend(1, 64 << 30), source)?;
    /// assert_eq!(manager.thp_mode(), ThpMode::Never);
    /// # Ok::<(), numaseg::BuildError>(())
    /// ```
    #[must_use]
    pub fn thp_mode(&self) -> numa::ThpMode {
        self.core.thp_mode
    }

    /// The cgroup memory limit (`memory.max`) the page source reported when the manager was
    /// built, which a fractional `NUMASEG_MEMORY_LIMIT` was taken of; `None` when there is none.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config};
    /// use numaseg::numa::{Topology, cgroup::{CgroupLimits, Limit}, sys::heap::HeapSource};
    /// let limits = CgroupLimits { memory: Some(Limit::simulated(8 << 30)), ..CgroupLimits::default() };
    /// let source = Arc::new(HeapSource::new().with_cgroup_limits(limits));
    /// let manager = ArenaManager::with_source(&Config::default(), Topology::pretend(1, 64 << 30), source)?;
    /// assert_eq!(manager.memory_limit().map(|l| l.bytes), Some(8 << 30));
    /// # Ok::<(), numaseg::BuildError>(())
    /// ```
    #[must_use]
    pub fn memory_limit(&self) -> Option<&numa::cgroup::Limit> {
        self.core.memory_limit.as_ref()
    }

    // The crate-internal surface the managers and pools built on top use: node lookups, the
    // total budget's limit, the bulk pre-check, raw entries in and out of the calling thread's
    // cache, and raw segments given back. They reach the core through nothing else.

    /// The total budget's limit in bytes (`usize::MAX` for none).
    pub(crate) fn total_limit(&self) -> usize {
        self.core.total.limit()
    }

    /// The index of `node` in the core's node set, or why it is not one.
    pub(crate) fn node_index(&self, node: NodeId) -> Result<NodeIndex, AllocError> {
        self.core.node_index(node)
    }

    /// The node at index `node_index`.
    pub(crate) fn node_id(&self, node_index: NodeIndex) -> NodeId {
        self.core.node_id(node_index)
    }

    /// The node index an allocation without a thread cache goes to.
    pub(crate) fn default_node_index(&self) -> NodeIndex {
        self.core.default_node_index()
    }

    /// Why a bulk of `n` segments of `size` bytes for `home` could never be held, if so.
    pub(crate) fn bulk_never_fits(&self, home: NodeIndex, n: usize, size: usize) -> Option<AllocError> {
        self.core.bulk_never_fits(home, n, size)
    }

    /// Gives a raw segment back to the allocator, through the calling thread's cache.
    ///
    /// # Safety
    /// `raw` came from this manager, and nobody holds, or can hand out again, its memory.
    #[inline]
    pub(crate) unsafe fn give_back(&self, raw: RawSegment) {
        // SAFETY: the caller's duties: `raw` is this manager's (alive for the call) and its
        // only owner, consumed here, so the handle dropped is the one release.
        drop(unsafe { raw.into_segment(&self.core) });
    }

    /// The page source, for the benchmark harness's `MADV_DONTNEED` row.
    #[cfg(feature = "bench")]
    pub(crate) fn source(&self) -> &dyn PageSource {
        &*self.core.source
    }

    /// The calling thread's home node index, creating its cache if needed; `None` while
    /// the thread is being torn down.
    pub(crate) fn thread_node_index(&self) -> Option<NodeIndex> {
        cache::thread_home(&self.core)
    }

    /// Appends `n` raw entries of `class` from the calling thread's home node to `out`, all or
    /// nothing, through its cache; returns the home node (see `cache::allocate_batch`).
    pub(crate) fn allocate_entries(
        &self,
        class: SizeClass,
        n: usize,
        out: &mut Vec<Entry>,
    ) -> Result<NodeIndex, AllocError> {
        let before = out.len();
        let node_index = cache::allocate_batch(&self.core, class, n, out)?;
        self.clear_on_allocate(class, &out[before..]);
        Ok(node_index)
    }

    /// Gives back raw entries of one class and node, through the calling thread's cache.
    pub(crate) fn free_entries(&self, class: SizeClass, node_index: NodeIndex, entries: &[Entry]) {
        self.clear_on_release(class, entries);
        cache::free_batch(&self.core, class, node_index, entries);
    }

    #[inline]
    fn class_for(&self, size: usize) -> Result<SizeClass, AllocError> {
        match SizeClass::for_size(size) {
            Some(class) if class.size() <= self.core.region_size => Ok(class),
            _ => Err(self.bad_size(size)),
        }
    }

    #[cold]
    fn bad_size(&self, size: usize) -> AllocError {
        AllocError::BadSize { requested: size, max: self.core.region_size }
    }
}
