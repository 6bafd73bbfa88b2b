//! The network buffer pool: a fixed set of equally sized buffers, allocated once at start from
//! the allocator core and spread over the configured nodes, lent to local pools with guaranteed
//! minimums and redistributed maximums, and used by credit-based flow control.
//!
//! What this module owns and what must hold:
//! - [`NetworkBufferPool`] (the global pool) owns every buffer's segment from start to its final
//!   drop, as a crate-internal `RawSegment`, and keeps its [`ArenaManager`] alive so the
//!   segments stay valid; when the last handle, local pool and buffer are gone, every segment
//!   goes back to the allocator.
//! - **Conservation**: every buffer is in exactly one place — a node's free list in the global
//!   pool, one local pool's stack, inbox or lane, or one pair of hands (a [`Buffer`], the
//!   [`SharedBuffer`]s sharing its count, or a [`BufferRequester`] holding it ahead). Each
//!   record counts what it `owned` (its stack, inbox and lane plus its buffers in hands); moves between the global pool and a local pool happen only under the one state
//!   lock, so `Σ owned + free = total` holds whenever the lock is free.
//! - **Minimums**: `Σ min` over live pools plus exclusive buffers (`required`) never exceeds the
//!   total; a pool whose minimum does not fit is refused at once with
//!   [`BufferPoolError::Insufficient`] naming the numbers and the variable to raise.
//! - **Isolation**: under `NUMASEG_ZERO` a buffer is cleared, whole, on its way back into a
//!   stack (`recycle`) or on its way out (`hand_out`), so no holder reads a previous holder's
//!   bytes, even when the buffer never leaves its local pool.
//! - **Sizes**: after every creation, destruction, exclusive request or return, the spare
//!   buffers are shared by the rule in `redistribution.rs`. A pool that owns more than its new
//!   size gives its idle buffers back at once and the rest as they are recycled; buffers that
//!   reach the global pool go straight to pools (and exclusive requests) that wait for them.
//!
//! The files: `local.rs` (a local pool's lock-free stack and inbox, and its handle), `lane.rs`
//! (the recycler lane a requester takes from), `ring.rs` (a recycler thread's owned ring in the
//! lane), `requester.rs` (a thread's
//! [`BufferRequester`]), `buffer.rs` (the buffer handles), `redistribution.rs` (the sizing
//! rule), `availability.rs` (waiting without an executor), `credit/` (flow control: config,
//! wire format, receiver, sender, in-process link), `debloat.rs` (adaptive buffer sizing: the
//! rule and a gate's meter), `stats.rs` (the snapshots). The whole story, with tuning advice,
//! is `docs/NETWORK_BUFFERS.md`.

mod availability;
mod buffer;
pub mod credit;
pub mod debloat;
mod lane;
mod local;
mod redistribution;
mod requester;
mod ring;

#[cfg(loom)]
pub use lane::without_rings;
#[cfg(loom)]
pub use ring::LoomRing;
mod stats;

use std::fmt;
use std::sync::Arc as StdArc;
use std::time::Duration;

use numa::NodeId;

pub use self::availability::Cancellation;
pub use self::buffer::{Buffer, SharedBuffer};
pub use self::local::{Available, ExclusiveRequest, LocalBufferPool, RequestBuffer};
pub use self::requester::BufferRequester;
pub use self::stats::{GateStats, LocalPoolStats, NetworkBufferStats, PoolKind};

use self::availability::{WaitList, Wakers};
use self::local::PoolCore;
use self::redistribution::{Bounds, redistribute};
use crate::ArenaManager;
use crate::config::MemoryAmount;
use crate::error::BufferPoolError;
use crate::segment::RawSegment;
use crate::sync::atomic::{AtomicU32, AtomicUsize};
use crate::sync::stat::{Counter, Hint};
use crate::sync::{Arc, Mutex, MutexGuard, lock};
use crate::zero::ZeroMode;

/// The most buffers one network buffer pool holds: a local pool's stack word keeps a buffer
/// index in 24 bits (the other 40 hold the ABA tag and a flag, see `local.rs`).
///
/// ```
/// assert_eq!(numaseg::buffer_pool::MAX_BUFFERS, 16_777_215);
/// ```
pub const MAX_BUFFERS: usize = (1 << 24) - 1;

/// One buffer's bookkeeping, one cache line each so that buffers used by different threads do
/// not share a line.
#[repr(align(64))]
pub(crate) struct Slot {
    /// The segment's first byte (immutable).
    pub(crate) addr: usize,
    /// Position of its node in `Shared::nodes` (immutable).
    node: usize,
    /// The next slot (index + 1, 0 = none) while this one is in a local pool's stack.
    pub(crate) next: AtomicU32,
    /// The stack's length while this slot is its top (written by the push that put it there,
    /// see `local.rs`): a pool's idle count in O(1).
    pub(crate) depth: AtomicU32,
    /// Handles sharing the buffer once it became a [`SharedBuffer`].
    pub(crate) refs: AtomicUsize,
    /// While the buffer's [`Buffer`] shares it with views from [`Buffer::read_only_slice`]
    /// (the handle's shared bit): the end of what they may read, bytes the handle no longer
    /// writes. Written and read only by the handle's holder, Relaxed (a handle that moves to
    /// another thread gets there through something that synchronises); stale otherwise, and
    /// then not read. Kept here, not in the handle, to keep the handle at 32 bytes.
    pub(crate) frozen: AtomicU32,
    /// Stats only: the id of the pool that owns the buffer (0: the global pool), written under
    /// the state lock.
    owner: Hint,
    /// Stats only: times handed out, written by the requester that holds the buffer
    /// exclusively ([`Counter::bump`]).
    pub(crate) requests: Counter,
    /// Stats only: times recycled, written by the holder before it gives the buffer back.
    pub(crate) recycles: Counter,
}

// One cache line per slot: no field may push it onto a second one (loom's atomics are bigger).
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Slot>() == 64);

/// Kinds of records in the state table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pool,
    Exclusive,
}

/// A local pool (or a set of exclusive buffers) as the global pool sees it.
struct Record {
    /// Keeps the pool's core alive while the record exists: while the handle lives, and after
    /// it was destroyed until its last buffer came back. (A cycle through `Shared` that the
    /// record's removal breaks.)
    core: Arc<PoolCore>,
    kind: Kind,
    node: usize,
    min: usize,
    max: usize,
    size: usize,
    /// Buffers in its stack plus its buffers in hands.
    owned: usize,
    /// A requester found nothing: the next buffer that arrives fires the notification.
    unavailable: bool,
    destroyed: bool,
    waiters: WaitList,
    waits: u64,
    notifications: u64,
    from_global: u64,
    to_global: u64,
}

impl Record {
    /// Whether its stack must be reached through the lock (see `local.rs`).
    fn needs_slow(&self) -> bool {
        self.unavailable || self.destroyed || self.owned > self.size
    }
}

/// Everything the lock guards.
struct State {
    /// Free slots in the global pool, per node position.
    free: Vec<Vec<u32>>,
    free_count: usize,
    /// `Σ min` over live pools plus exclusive buffers.
    required: usize,
    records: Vec<Option<Record>>,
    vacant: Vec<usize>,
    next_id: u64,
    /// [`NetworkBufferPool::destroy`] was called: nothing is handed out any more.
    destroyed: bool,
    /// Waiters for a buffer in the global pool ([`NetworkBufferPool::available`]).
    global_waiters: WaitList,
    /// The buffers' segments; taken (and given back to the allocator) when the pool was
    /// destroyed and the last buffer came back, else when `Shared` is dropped.
    raw: Vec<RawSegment>,
}

/// The shared state of a [`NetworkBufferPool`].
pub(crate) struct Shared {
    pub(crate) slots: Box<[Slot]>,
    pub(crate) buffer_size: usize,
    nodes: Vec<NodeId>,
    /// Per node position: that node, then the others nearest first.
    node_order: Vec<Vec<usize>>,
    state: Mutex<State>,
    /// Keeps the segments' manager alive (the user's `Arc`, a std one).
    manager: StdArc<ArenaManager>,
    /// The manager's `NUMASEG_ZERO`: buffers are cleared when recycled or when handed out
    /// (`local.rs`), since they go round inside the pools without passing the allocator.
    pub(crate) zero: ZeroMode,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let raw = std::mem::take(&mut lock(&self.state).raw);
        // SAFETY: no record is left (each holds an `Arc` to a core that holds an `Arc` to us),
        // so no buffer is in anyone's hands; `raw` was taken out of the state, so each segment
        // is given back once (here, or earlier by `release_if_done`, which leaves it empty).
        unsafe { self.give_back(raw) };
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("buffers", &self.slots.len())
            .field("buffer_size", &self.buffer_size)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

/// The global pool of network buffers: a fixed number of equally sized, NUMA-local buffers
/// allocated at start, lent to [`LocalBufferPool`]s.
///
/// ```
/// use std::sync::Arc;
/// use bytes::{Buf, BufMut};
/// use numaseg::buffer_pool::NetworkBufferPool;
/// use numaseg::{ArenaManager, Config};
///
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let network = NetworkBufferPool::with_buffers(manager, 64, 32 << 10)?;
/// let pool = network.create_buffer_pool(4, 16)?;
/// assert_eq!(pool.num_buffers(), 16); // the spare buffers are redistributed
///
/// let mut buffer = pool.request_buffer()?.expect("a buffer is available");
/// buffer.put_slice(b"hello");
/// assert_eq!(buffer.chunk(), b"hello");
/// drop(buffer); // recycled to `pool`, exactly once
///
/// // A minimum that cannot be guaranteed fails at once, with the numbers.
/// let err = network.create_buffer_pool(61, 61).unwrap_err();
/// assert!(err.to_string().starts_with("Insufficient number of network buffers: required 61, but only 60 available"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct NetworkBufferPool {
    shared: Arc<Shared>,
}

impl fmt::Debug for NetworkBufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl NetworkBufferPool {
    /// Builds the pool from the manager's configuration: `NUMASEG_NETWORK_BUFFERS` buffers (or
    /// `NUMASEG_NETWORK_MEMORY` divided by the buffer size) of `NUMASEG_SEGMENT_SIZE` bytes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::buffer_pool::NetworkBufferPool;
    /// use numaseg::{ArenaManager, Config};
    /// let config = Config::builder().network_buffers(128).build_from::<_, &str, &str>([])?;
    /// let network = NetworkBufferPool::new(Arc::new(ArenaManager::heap_backed(&config, 2)?))?;
    /// assert_eq!(network.total_buffers(), 128);
    /// assert_eq!(network.buffer_size(), 32 << 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::NoBuffers`] when the configuration gives no buffers,
    /// [`BufferPoolError::TooManyBuffers`], [`BufferPoolError::Alloc`].
    pub fn new(manager: StdArc<ArenaManager>) -> Result<Self, BufferPoolError> {
        let config = manager.config();
        let size = config.segment_size.as_usize();
        let count = if config.network_buffers > 0 {
            config.network_buffers
        } else {
            let budget = manager.stats().total_budget_bytes.unwrap_or_else(|| {
                manager
                    .topology()
                    .nodes()
                    .iter()
                    .filter(|n| manager.nodes().contains(&n.id))
                    .map(|n| n.memory_bytes)
                    .sum()
            });
            let bytes = match config.network_memory {
                MemoryAmount::Unlimited => 0,
                amount => amount.resolve(budget).unwrap_or(0),
            };
            usize::try_from(bytes / size as u64).unwrap_or(usize::MAX)
        };
        Self::with_buffers(manager, count, size)
    }

    /// Builds a pool of `buffers` buffers of `buffer_size` bytes (rounded up to a segment
    /// size), spread evenly over the manager's nodes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::buffer_pool::NetworkBufferPool;
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 2)?);
    /// let network = NetworkBufferPool::with_buffers(manager, 10, 4096)?;
    /// let stats = network.stats();
    /// assert_eq!(stats.free_per_node, vec![(0, 5), (1, 5)]); // (node, buffers)
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::NoBuffers`] for 0, [`BufferPoolError::TooManyBuffers`] beyond
    /// [`MAX_BUFFERS`], [`BufferPoolError::Alloc`] when the allocator refuses (nothing is kept).
    pub fn with_buffers(
        manager: StdArc<ArenaManager>,
        buffers: usize,
        buffer_size: usize,
    ) -> Result<Self, BufferPoolError> {
        if buffers == 0 {
            return Err(BufferPoolError::NoBuffers);
        }
        if buffers > MAX_BUFFERS {
            return Err(BufferPoolError::TooManyBuffers { requested: buffers, max: MAX_BUFFERS });
        }
        let nodes = manager.nodes();
        let mut raw = Vec::with_capacity(buffers);
        let mut slots = Vec::with_capacity(buffers);
        let mut free = vec![Vec::new(); nodes.len()];
        let mut size = buffer_size;
        let fail = |cause, raw: Vec<RawSegment>| {
            for r in raw {
                // SAFETY: `r` came from `manager`, alive here, and is given back once.
                unsafe { manager.give_back(r) };
            }
            BufferPoolError::Alloc { buffers, buffer_size, cause: Box::new(cause) }
        };
        for (pos, &node) in nodes.iter().enumerate() {
            let share = buffers / nodes.len() + usize::from(pos < buffers % nodes.len());
            for _ in 0..share {
                let segment = match manager.allocate_on(node, buffer_size) {
                    Ok(s) => s,
                    Err(e) => return Err(fail(e, raw)),
                };
                size = segment.len();
                let segment = segment.into_raw();
                let index = u32::try_from(slots.len()).unwrap_or(u32::MAX);
                slots.push(Slot {
                    addr: segment.addr(),
                    node: pos,
                    next: AtomicU32::new(0),
                    depth: AtomicU32::new(0),
                    refs: AtomicUsize::new(0),
                    frozen: AtomicU32::new(0),
                    owner: Hint::new(0),
                    requests: Counter::new(0),
                    recycles: Counter::new(0),
                });
                raw.push(segment);
                free[pos].push(index);
            }
        }
        // Hand out low indices first (LIFO free lists pop from the end).
        for list in &mut free {
            list.reverse();
        }
        let node_order = nodes
            .iter()
            .enumerate()
            .map(|(pos, &node)| {
                let mut order = vec![pos];
                order.extend(
                    manager
                        .topology()
                        .nodes_by_distance(node)
                        .into_iter()
                        .filter_map(|n| nodes.iter().position(|&m| m == n)),
                );
                for p in 0..nodes.len() {
                    if !order.contains(&p) {
                        order.push(p);
                    }
                }
                order
            })
            .collect();
        let state = State {
            free,
            free_count: buffers,
            required: 0,
            records: Vec::new(),
            vacant: Vec::new(),
            next_id: 1,
            destroyed: false,
            global_waiters: WaitList::default(),
            raw,
        };
        let shared = Shared {
            slots: slots.into_boxed_slice(),
            buffer_size: size,
            nodes,
            node_order,
            state: Mutex::new(state),
            zero: manager.config().zero,
            manager,
        };
        Ok(Self { shared: Arc::new(shared) })
    }

    /// Creates a local pool of at least `min` and at most `max` buffers on the calling
    /// thread's node; the spare buffers are redistributed among all pools.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::buffer_pool::NetworkBufferPool;
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let network = NetworkBufferPool::with_buffers(manager, 100, 4096)?;
    /// let a = network.create_buffer_pool(1, usize::MAX)?;
    /// assert_eq!(a.num_buffers(), 100);
    /// let b = network.create_buffer_pool(1, usize::MAX)?;
    /// assert_eq!((a.num_buffers(), b.num_buffers()), (50, 50));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::Insufficient`] when the minimum cannot be guaranteed,
    /// [`BufferPoolError::BadBounds`] unless `1 <= min <= max`.
    pub fn create_buffer_pool(&self, min: usize, max: usize) -> Result<LocalBufferPool, BufferPoolError> {
        let node = self.shared.manager.thread_node();
        self.create_buffer_pool_on(node, min, max)
    }

    /// Creates a local pool whose buffers come from `node` first (then the nearest nodes).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::buffer_pool::NetworkBufferPool;
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 2)?);
    /// let network = NetworkBufferPool::with_buffers(manager, 8, 4096)?;
    /// let pool = network.create_buffer_pool_on(NodeId::new(1), 1, 4)?;
    /// let buffers: Vec<_> = (0..4).map(|_| pool.request_buffer().unwrap().unwrap()).collect();
    /// assert!(buffers.iter().all(|b| b.node() == NodeId::new(1)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`NetworkBufferPool::create_buffer_pool`]; a node not in use counts as the first
    /// node.
    pub fn create_buffer_pool_on(
        &self,
        node: NodeId,
        min: usize,
        max: usize,
    ) -> Result<LocalBufferPool, BufferPoolError> {
        if min == 0 || min > max {
            return Err(BufferPoolError::BadBounds { min, max });
        }
        Ok(LocalBufferPool::from_core(self.register(Kind::Pool, node, min, max)?))
    }

    /// Requests `n` exclusive buffers on the calling thread's node (for one channel's credit),
    /// waiting up to `timeout` (`None`: forever) for other pools to give buffers back. The
    /// buffers come as a [`LocalBufferPool`] of exactly `n` buffers, already filled, to which
    /// they return when recycled. On timeout, cancellation or destruction everything taken is
    /// given back and the minimum is released.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use numaseg::buffer_pool::NetworkBufferPool;
    /// use numaseg::error::BufferPoolError;
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let network = NetworkBufferPool::with_buffers(manager, 4, 4096)?;
    /// let exclusive = network.request_exclusive(2, Some(Duration::from_millis(10)), None)?;
    /// assert_eq!(exclusive.available_buffers(), 2);
    /// let err = network.request_exclusive(3, None, None).unwrap_err();
    /// assert!(matches!(err, BufferPoolError::Insufficient { required: 3, available: 2, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::Insufficient`] at once when `n` cannot be guaranteed;
    /// [`BufferPoolError::Timeout`], [`BufferPoolError::Cancelled`],
    /// [`BufferPoolError::Destroyed`] after giving everything back.
    pub fn request_exclusive(
        &self,
        n: usize,
        timeout: Option<Duration>,
        cancel: Option<&Cancellation>,
    ) -> Result<LocalBufferPool, BufferPoolError> {
        let node = self.shared.manager.thread_node();
        self.request_exclusive_on(node, n, timeout, cancel)
    }

    /// [`NetworkBufferPool::request_exclusive`] with buffers from `node` first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::buffer_pool::NetworkBufferPool;
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 2)?);
    /// let network = NetworkBufferPool::with_buffers(manager, 4, 4096)?;
    /// let exclusive = network.request_exclusive_on(NodeId::new(1), 2, None, None)?;
    /// assert_eq!(exclusive.request_buffer()?.unwrap().node(), NodeId::new(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`NetworkBufferPool::request_exclusive`].
    pub fn request_exclusive_on(
        &self,
        node: NodeId,
        n: usize,
        timeout: Option<Duration>,
        cancel: Option<&Cancellation>,
    ) -> Result<LocalBufferPool, BufferPoolError> {
        let request = self.request_exclusive_async_on(node, n)?;
        match availability::block_on(request, timeout, cancel) {
            Ok(result) => result,
            Err(availability::Interrupted::Cancelled) => Err(BufferPoolError::Cancelled { requested: n }),
            Err(availability::Interrupted::Timeout(waited)) => Err(BufferPoolError::Timeout {
                requested: n,
                obtained: 0,
                waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }

    /// The async form of [`NetworkBufferPool::request_exclusive_on`]: reserves the minimum at
    /// once (or fails with [`BufferPoolError::Insufficient`]) and returns a future that
    /// completes when all `n` buffers are in. Dropping the future before then gives
    /// everything back.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::buffer_pool::NetworkBufferPool;
    /// use numaseg::{ArenaManager, Config, numa::NodeId};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let network = NetworkBufferPool::with_buffers(manager, 4, 4096)?;
    /// let request = network.request_exclusive_async_on(NodeId::new(0), 4)?;
    /// assert_eq!(network.required_buffers(), 4);
    /// drop(request); // cancelled: undone
    /// assert_eq!(network.required_buffers(), 0);
    /// assert_eq!(network.available_buffers(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::Insufficient`].
    pub fn request_exclusive_async_on(&self, node: NodeId, n: usize) -> Result<ExclusiveRequest, BufferPoolError> {
        Ok(ExclusiveRequest::new(self.register(Kind::Exclusive, node, n, n)?, n))
    }

    /// Reserves `min` buffers (all or nothing), records a pool of `kind` on `node` with bounds
    /// `min..=max`, and redistributes the spare buffers.
    fn register(&self, kind: Kind, node: NodeId, min: usize, max: usize) -> Result<Arc<PoolCore>, BufferPoolError> {
        let pos = self.shared.position(node);
        let mut st = lock(&self.shared.state);
        if st.destroyed {
            return Err(self.shared.network_destroyed(&st));
        }
        self.shared.check_required(&st, min)?;
        st.required += min;
        let core = self.shared.insert(&mut st, kind, pos, min, max, self);
        let wakers = self.shared.rebalance(&mut st);
        drop(st);
        wakers.wake();
        Ok(core)
    }

    /// Destroys every local pool (their handles then fail with
    /// [`BufferPoolError::Destroyed`]; buffers in flight come back when dropped). Sets of
    /// exclusive buffers (and exclusive requests still filling up) are not local pools: they
    /// stay, and so does their reservation, as in Flink's `destroyAllBufferPools`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::buffer_pool::NetworkBufferPool;
    /// use numaseg::error::BufferPoolError;
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let network = NetworkBufferPool::with_buffers(manager, 10, 4096)?;
    /// let pool = network.create_buffer_pool(1, 10)?;
    /// let exclusive = network.request_exclusive(3, None, None)?;
    /// let err = network.destroy_all_buffer_pools().unwrap_err();
    /// assert_eq!(err.to_string(), "3 unpooled buffers still outstanding after destroying all local pools");
    /// assert!(pool.is_destroyed() && !exclusive.is_destroyed());
    /// assert_eq!(network.required_buffers(), 3);
    /// drop(exclusive);
    /// network.destroy_all_buffer_pools()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::UnpooledOutstanding`] naming the exclusive buffers still reserved once
    /// every local pool is destroyed (the pools are destroyed all the same).
    pub fn destroy_all_buffer_pools(&self) -> Result<(), BufferPoolError> {
        let mut st = lock(&self.shared.state);
        let mut wakers = Wakers::default();
        let mut removed = Vec::new();
        for index in 0..st.records.len() {
            if st.records[index].as_ref().is_some_and(|r| r.kind == Kind::Pool) {
                let (w, gone) = self.shared.destroy_locked(&mut st, index);
                wakers.extend(w);
                removed.extend(gone);
            }
        }
        wakers.extend(self.shared.rebalance(&mut st));
        // Only exclusive sets are left, so what is still required is theirs.
        let unpooled = st.required;
        drop(st);
        wakers.wake();
        drop(removed);
        if unpooled > 0 {
            return Err(BufferPoolError::UnpooledOutstanding { buffers: unpooled });
        }
        Ok(())
    }

    /// Destroys the network buffer pool (Flink's `NetworkBufferPool.destroy`): every local
    /// pool and exclusive set is destroyed, every waiter — blocking, async, availability,
    /// exclusive requests, [`NetworkBufferPool::available`] — wakes with
    /// [`BufferPoolError::NetworkDestroyed`], and every later request or pool creation fails
    /// with it. Buffers in hands stay usable; when the last one comes back, every segment goes
    /// back to the allocator at once (not only when the last handle is dropped). Idempotent.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::buffer_pool::NetworkBufferPool;
    /// use numaseg::error::BufferPoolError;
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let network = NetworkBufferPool::with_buffers(Arc::clone(&manager), 2, 4096)?;
    /// let pool = network.create_buffer_pool(1, 2)?;
    /// let in_flight = pool.request_buffer()?.unwrap();
    /// network.destroy();
    /// assert!(network.is_destroyed());
    /// let err = pool.request_buffer().unwrap_err();
    /// assert!(matches!(err, BufferPoolError::NetworkDestroyed { outstanding: 1, total: 2 }));
    /// assert!(network.create_buffer_pool(1, 1).is_err());
    /// assert_eq!(manager.stats().used_segments(), 2);
    /// drop(in_flight); // the last buffer: the memory goes back now
    /// assert_eq!(manager.stats().used_segments(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn destroy(&self) {
        let mut st = lock(&self.shared.state);
        if st.destroyed {
            return;
        }
        st.destroyed = true;
        let mut wakers = st.global_waiters.take();
        let mut removed = Vec::new();
        for index in 0..st.records.len() {
            let (w, gone) = self.shared.destroy_locked(&mut st, index);
            wakers.extend(w);
            removed.extend(gone);
        }
        let raw = self.shared.release_if_done(&mut st);
        drop(st);
        wakers.wake();
        drop(removed);
        // SAFETY: `release_if_done` hands over the segments only once every buffer is back in
        // the global pool of a destroyed network pool, which hands nothing out any more.
        unsafe { self.shared.give_back(raw) };
    }

    /// Whether [`NetworkBufferPool::destroy`] was called.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// assert!(!network.is_destroyed());
    /// network.destroy();
    /// assert!(network.is_destroyed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_destroyed(&self) -> bool {
        lock(&self.shared.state).destroyed
    }

    /// Whether a buffer is in the global pool now (Flink's `isAvailable` of the global pool).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// assert!(network.is_available());
    /// let exclusive = network.request_exclusive(1, None, None)?;
    /// assert!(!network.is_available());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_available(&self) -> bool {
        let st = lock(&self.shared.state);
        !st.destroyed && st.free_count > 0
    }

    /// A future that completes when a buffer is in the global pool (at once if one is now), or
    /// with [`BufferPoolError::NetworkDestroyed`] when the pool is destroyed (Flink's
    /// `getAvailableFuture` of the global pool). The check and the registration of the waker
    /// happen under the one lock every return to the global pool takes, so no wake-up is lost;
    /// the buffer may be taken by a local pool before the woken task looks. Dropping the future
    /// withdraws its registration.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::buffer_pool::NetworkBufferPool;
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let network = NetworkBufferPool::with_buffers(manager, 1, 4096)?;
    /// let exclusive = network.request_exclusive(1, None, None)?;
    /// let buffer = exclusive.request_buffer()?.unwrap();
    /// let t = std::thread::spawn(move || exclusive.recycle_exclusive([buffer]));
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(network.available())?; // woken when the buffer is back in the global pool
    /// t.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn available(&self) -> GlobalAvailable<'_> {
        GlobalAvailable { network: self, waiter: None }
    }

    /// Buffers in the pool, in use or not.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 3, 4096)?;
    /// assert_eq!(network.total_buffers(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn total_buffers(&self) -> usize {
        self.shared.slots.len()
    }

    /// Buffers in the global pool, lent to no local pool.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 3, 4096)?;
    /// let pool = network.create_buffer_pool(1, 3)?;
    /// let b = pool.request_buffer()?.unwrap();
    /// assert_eq!(network.available_buffers(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn available_buffers(&self) -> usize {
        lock(&self.shared.state).free_count
    }

    /// Buffers guaranteed to pools (their minimums) and to exclusive requests.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let _pool = network.create_buffer_pool(3, 8)?;
    /// assert_eq!(network.required_buffers(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn required_buffers(&self) -> usize {
        lock(&self.shared.state).required
    }

    /// Bytes per buffer.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 5000)?;
    /// assert_eq!(network.buffer_size(), 8192); // rounded up to a segment size
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn buffer_size(&self) -> usize {
        self.shared.buffer_size
    }

    /// The manager the buffers come from.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 2, 4096)?;
    /// assert_eq!(network.manager().stats().used_bytes(), 2 * 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn manager(&self) -> &StdArc<ArenaManager> {
        &self.shared.manager
    }

    /// A snapshot of usage and counters (see `docs/NETWORK_BUFFERS.md` for the metrics).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// let pool = network.create_buffer_pool(1, 4)?;
    /// drop(pool.request_buffer()?);
    /// let stats = network.stats();
    /// assert_eq!((stats.requested, stats.recycled, stats.in_use), (1, 1, 0));
    /// assert!(stats.to_prometheus().contains("numaseg_network_buffers_total 4"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> NetworkBufferStats {
        stats::collect(&self.shared)
    }
}

// === impl Shared: the slow paths, all under the state lock ===

impl Shared {
    /// The error of a request to a destroyed network pool.
    fn network_destroyed(&self, st: &State) -> BufferPoolError {
        BufferPoolError::NetworkDestroyed { outstanding: self.slots.len() - st.free_count, total: self.slots.len() }
    }

    /// The error of a request to a destroyed (or removed) local pool: the network pool's when it
    /// was destroyed as a whole.
    fn gone(&self, st: &State, pool: u64) -> BufferPoolError {
        if st.destroyed { self.network_destroyed(st) } else { BufferPoolError::Destroyed { pool } }
    }

    /// Gives segments back to the allocator.
    ///
    /// # Safety
    /// - no buffer of `raw` is in anyone's hands or can be handed out again;
    /// - `raw` was taken out of the state, so no segment is given back twice.
    unsafe fn give_back(&self, raw: Vec<RawSegment>) {
        for r in raw {
            // SAFETY: every raw segment came from `self.manager` (allocated in `with_buffers`),
            // alive as long as `self`; the caller's duties make this the only release.
            unsafe { self.manager.give_back(r) };
        }
    }

    /// The segments, once the network pool was destroyed and every buffer is back.
    fn release_if_done(&self, st: &mut State) -> Vec<RawSegment> {
        if st.destroyed && st.free_count == self.slots.len() { std::mem::take(&mut st.raw) } else { Vec::new() }
    }

    /// Destroys the record at `index` (state lock held): its waiters are returned to be woken,
    /// its idle buffers go back, its minimum is released. Returns the record if it owned
    /// nothing any more (the caller drops it after unlocking). No redistribution.
    fn destroy_locked(&self, st: &mut State, index: usize) -> (Wakers, Option<Record>) {
        let Some(r) = st.records[index].as_mut() else { return (Wakers::default(), None) };
        if r.destroyed {
            return (Wakers::default(), None);
        }
        r.destroyed = true;
        r.core.set_slow(true);
        let min = r.min;
        r.size = 0;
        let wakers = r.waiters.take();
        st.required -= min;
        self.shrink(st, index);
        if st.records[index].as_ref().is_some_and(|r| r.owned == 0) {
            st.vacant.push(index);
            return (wakers, st.records[index].take());
        }
        (wakers, None)
    }

    /// Polls for a buffer in the global pool: `Ok(true)` now, `Ok(false)` with `waker`
    /// registered (under the lock every return to the global pool takes, so the check and the
    /// registration are one step), `Err` when destroyed.
    pub(crate) fn poll_global_available(
        &self,
        id: &mut Option<u64>,
        waker: &std::task::Waker,
    ) -> Result<bool, BufferPoolError> {
        let mut st = lock(&self.state);
        if st.destroyed || st.free_count > 0 {
            if let Some(i) = id.take() {
                st.global_waiters.remove(i);
            }
            return if st.destroyed { Err(self.network_destroyed(&st)) } else { Ok(true) };
        }
        *id = Some(st.global_waiters.register(*id, waker));
        Ok(false)
    }

    /// Removes a registration of a dropped [`GlobalAvailable`].
    fn forget_global_waiter(&self, id: u64) {
        lock(&self.state).global_waiters.remove(id);
    }

    fn position(&self, node: NodeId) -> usize {
        self.nodes.iter().position(|&n| n == node).unwrap_or(0)
    }

    fn check_required(&self, st: &State, n: usize) -> Result<(), BufferPoolError> {
        let total = self.slots.len();
        if st.required.checked_add(n).is_none_or(|r| r > total) {
            return Err(BufferPoolError::Insufficient {
                required: n,
                available: total - st.required,
                total,
                buffer_size: self.buffer_size,
            });
        }
        Ok(())
    }

    /// Adds a record; for an exclusive one, fills it from the global pool as far as it can.
    fn insert(
        &self,
        st: &mut State,
        kind: Kind,
        node: usize,
        min: usize,
        max: usize,
        network: &NetworkBufferPool,
    ) -> Arc<PoolCore> {
        let id = st.next_id;
        st.next_id += 1;
        let index = st.vacant.pop().unwrap_or_else(|| {
            st.records.push(None);
            st.records.len() - 1
        });
        let core = Arc::new(PoolCore::new(id, index, Arc::clone(&network.shared)));
        let record = Record {
            core: Arc::clone(&core),
            kind,
            node,
            min,
            max,
            size: min,
            owned: 0,
            unavailable: kind == Kind::Exclusive && min > 0,
            destroyed: false,
            waiters: WaitList::default(),
            waits: 0,
            notifications: 0,
            from_global: 0,
            to_global: 0,
        };
        core.set_slow(record.needs_slow());
        st.records[index] = Some(record);
        core
    }

    /// The live record of `core` (`None` once removed).
    fn record<'s>(st: &'s mut State, core: &PoolCore) -> Option<&'s mut Record> {
        st.records.get_mut(core.index).and_then(Option::as_mut).filter(|r| r.core.id == core.id)
    }

    /// Takes a buffer from the global pool, `node` first, then the nearest nodes.
    fn take_global(&self, st: &mut State, node: usize) -> Option<u32> {
        if st.destroyed {
            return None; // a destroyed network pool hands nothing out (its memory may be gone)
        }
        for &pos in &self.node_order[node] {
            if let Some(slot) = st.free[pos].pop() {
                st.free_count -= 1;
                return Some(slot);
            }
        }
        None
    }

    /// Gives a buffer back to the global pool.
    fn put_global(&self, st: &mut State, slot: u32) {
        let s = &self.slots[slot as usize];
        s.owner.set(0);
        st.free[s.node].push(slot);
        st.free_count += 1;
    }

    /// Moves one buffer from the global pool into `record`'s stack.
    fn lend(&self, st: &mut State, index: usize) -> bool {
        let Some(node) = st.records[index].as_ref().map(|r| r.node) else { return false };
        let Some(slot) = self.take_global(st, node) else { return false };
        let Some(r) = st.records[index].as_mut() else { return false };
        self.slots[slot as usize].owner.set(r.core.id);
        r.owned += 1;
        r.from_global += 1;
        r.core.push_locked(&self.slots, slot);
        true
    }

    /// Recomputes every pool's size, takes idle excess back, and hands free buffers to whoever
    /// waits for them. Returns the wakers to wake after unlocking.
    fn rebalance(&self, st: &mut State) -> Wakers {
        let resizable: Vec<usize> = st
            .records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().filter(|r| r.kind == Kind::Pool && !r.destroyed).map(|_| i))
            .collect();
        let bounds: Vec<Bounds> = resizable
            .iter()
            .filter_map(|&i| st.records[i].as_ref().map(|r| Bounds { min: r.min, max: r.max }))
            .collect();
        let sizes = redistribute(self.slots.len() - st.required, &bounds);
        for (&i, size) in resizable.iter().zip(sizes) {
            if let Some(r) = st.records[i].as_mut() {
                r.size = size;
            }
            self.shrink(st, i);
        }
        self.feed(st)
    }

    /// Gives idle buffers of a pool above its size back to the global pool.
    fn shrink(&self, st: &mut State, index: usize) {
        loop {
            let Some(r) = st.records[index].as_mut() else { return };
            if r.owned <= r.size {
                r.core.set_slow(r.needs_slow());
                return;
            }
            // Set the flag first: from now on no recycle pushes onto this stack without the
            // lock, so what we pop stays popped.
            r.core.set_slow(true);
            let Some(slot) = r.core.pop(&self.slots) else { return };
            r.owned -= 1;
            r.to_global += 1;
            self.put_global(st, slot);
        }
    }

    /// Hands free buffers to records that wait for them (exclusive requests filling up, pools
    /// below their size with a requester waiting), then wakes the global availability waiters
    /// if buffers are left. Every path that returns buffers to the global pool ends here.
    fn feed(&self, st: &mut State) -> Wakers {
        let mut wakers = Wakers::default();
        'records: for i in 0..st.records.len() {
            loop {
                if st.free_count == 0 {
                    break 'records;
                }
                let Some(r) = st.records[i].as_ref() else { break };
                if r.destroyed || !r.unavailable || r.owned >= r.size {
                    break;
                }
                let exclusive = r.kind == Kind::Exclusive;
                if !self.lend(st, i) {
                    break;
                }
                let Some(r) = st.records[i].as_mut() else { break };
                if !exclusive || r.owned == r.size {
                    r.unavailable = false;
                    r.notifications += 1;
                    wakers.extend(r.waiters.take());
                    r.core.set_slow(r.needs_slow());
                    break;
                }
            }
        }
        if st.free_count > 0 {
            wakers.extend(st.global_waiters.take());
        }
        wakers
    }

    /// The slow path of a request: buffers that arrived, else one from the global pool if
    /// the pool is below its size, else the pool is marked unavailable and `waiter` (if any)
    /// registered. `Ok(None)`: nothing now.
    pub(crate) fn request_slow(
        &self,
        core: &PoolCore,
        waiter: Option<(&mut Option<u64>, &std::task::Waker)>,
    ) -> Result<Option<u32>, BufferPoolError> {
        let mut st = lock(&self.state);
        let result = self.request_locked(&mut st, core, waiter);
        drop(st);
        result
    }

    fn request_locked(
        &self,
        st: &mut MutexGuard<'_, State>,
        core: &PoolCore,
        mut waiter: Option<(&mut Option<u64>, &std::task::Waker)>,
    ) -> Result<Option<u32>, BufferPoolError> {
        let index = core.index;
        loop {
            let gone = self.gone(st, core.id);
            let Some(r) = Self::record(st, core) else { return Err(gone) };
            let got = if r.destroyed { Err(gone) } else { Ok(core.pop(&self.slots)) };
            if !matches!(got, Ok(None)) {
                // A buffer, or an error: the request is over, withdraw its registration.
                if let Some((id, _)) = waiter.as_mut()
                    && let Some(i) = id.take()
                {
                    r.waiters.remove(i);
                }
                return got;
            }
            if r.owned < r.size && self.lend(st, index) {
                continue; // now on the stack (unless a fast-path requester takes it first)
            }
            let Some(r) = Self::record(st, core) else { return Err(self.gone(st, core.id)) };
            // Nothing: mark the pool unavailable atomically with its (empty) stack, so that the
            // next recycle takes the lock and fires the notification. If a buffer came back
            // meanwhile (and may be taken again before we get to it), go round.
            if !core.mark_unavailable_if_empty() {
                continue;
            }
            r.unavailable = true;
            if let Some((id, waker)) = waiter {
                if id.is_none() {
                    r.waits += 1;
                }
                *id = Some(r.waiters.register(*id, waker));
            }
            return Ok(None);
        }
    }

    /// Whether `core`'s pool is live, below its size, and the global pool has a buffer.
    pub(crate) fn can_lend(&self, core: &PoolCore) -> bool {
        let mut st = lock(&self.state);
        let free = st.free_count > 0 && !st.destroyed;
        Self::record(&mut st, core).is_some_and(|r| free && !r.destroyed && r.owned < r.size)
    }

    /// Removes a waiter registration (a dropped future).
    pub(crate) fn forget_waiter(&self, core: &PoolCore, id: u64) {
        let mut st = lock(&self.state);
        if let Some(r) = Self::record(&mut st, core) {
            r.waiters.remove(id);
        }
    }

    /// Whether a request would find a buffer now; otherwise marks the pool unavailable and
    /// registers `waker`. `Err` when destroyed.
    pub(crate) fn poll_available(
        &self,
        core: &PoolCore,
        id: &mut Option<u64>,
        waker: &std::task::Waker,
    ) -> Result<bool, BufferPoolError> {
        let mut st = lock(&self.state);
        let free = st.free_count;
        let gone = self.gone(&st, core.id);
        let Some(r) = Self::record(&mut st, core) else { return Err(gone) };
        if r.destroyed {
            return Err(gone);
        }
        if (r.owned < r.size && free > 0) || !core.mark_unavailable_if_empty() {
            if let Some(i) = id.take() {
                r.waiters.remove(i);
            }
            r.core.set_slow(r.needs_slow());
            return Ok(true);
        }
        r.unavailable = true;
        *id = Some(r.waiters.register(*id, waker));
        Ok(false)
    }

    /// The slow path of a recycle (the pool's flag was set): back to the global pool if the
    /// pool is destroyed or above its size, else onto its stack, firing the notification if it
    /// was unavailable. Returns the pool's core when this was the last buffer of a destroyed
    /// pool; the caller drops it after every reference into the pool is gone.
    pub(crate) fn recycle_slow(&self, core: &PoolCore, slot: u32) -> Option<Arc<PoolCore>> {
        let mut st = lock(&self.state);
        let index = core.index;
        let Some(r) = Self::record(&mut st, core) else {
            // Cannot happen (a buffer in hands keeps its record); keep the buffer anyway.
            debug_assert!(false, "recycled a buffer of a removed pool");
            self.put_global(&mut st, slot);
            return None;
        };
        let mut wakers = Wakers::default();
        let mut removed = None;
        let mut raw = Vec::new();
        if r.destroyed || r.owned > r.size {
            r.owned -= 1;
            r.to_global += 1;
            let gone = r.destroyed && r.owned == 0;
            r.core.set_slow(r.needs_slow());
            self.put_global(&mut st, slot);
            if gone {
                removed = st.records[index].take().map(|r| r.core);
                st.vacant.push(index);
            }
            wakers.extend(self.feed(&mut st));
            raw = self.release_if_done(&mut st);
        } else {
            core.push_locked(&self.slots, slot);
            if r.unavailable {
                r.unavailable = false;
                r.notifications += 1;
                wakers.extend(r.waiters.take());
            }
            r.core.set_slow(r.needs_slow());
        }
        drop(st);
        wakers.wake();
        // SAFETY: `release_if_done` hands over the segments only once every buffer is back in
        // the global pool of a destroyed network pool, which hands nothing out any more.
        unsafe { self.give_back(raw) };
        removed
    }

    /// Destroys a pool: its waiters fail, its idle buffers go back, its minimum is released
    /// and the spare buffers redistributed. Buffers in hands come back as they are recycled.
    pub(crate) fn destroy(&self, core: &PoolCore) {
        let mut st = lock(&self.state);
        if Self::record(&mut st, core).is_none() {
            return;
        }
        let (mut wakers, removed) = self.destroy_locked(&mut st, core.index);
        wakers.extend(self.rebalance(&mut st));
        drop(st);
        wakers.wake();
        // Dropped after unlocking (it may hold the last `Arc` of a core).
        drop(removed);
    }

    /// Gives back `n` exclusive buffers of `core`'s set (in the caller's hands, recycled by the
    /// caller right after): the set's bounds and the reservation shrink by `n` and the spare
    /// buffers are redistributed at once; the buffers, recycled above the set's new size, go to
    /// the global pool. `Ok(false)`: the set was destroyed (nothing to lower).
    pub(crate) fn lower_exclusive(&self, core: &PoolCore, n: usize) -> Result<bool, BufferPoolError> {
        let mut st = lock(&self.state);
        let Some(r) = Self::record(&mut st, core) else { return Ok(false) };
        if r.destroyed {
            return Ok(false);
        }
        if r.kind != Kind::Exclusive {
            return Err(BufferPoolError::NotExclusive { pool: core.id });
        }
        debug_assert!(n <= r.min && n <= r.owned, "{n} buffers in hand, set of {} owning {}", r.min, r.owned);
        let n = n.min(r.min);
        r.min -= n;
        r.max -= n;
        r.size -= n;
        r.core.set_slow(r.needs_slow());
        st.required -= n;
        let wakers = self.rebalance(&mut st);
        drop(st);
        wakers.wake();
        Ok(true)
    }

    /// Sets a pool's size by hand (within its bounds).
    pub(crate) fn set_size(&self, core: &PoolCore, size: usize) -> Result<(), BufferPoolError> {
        let mut st = lock(&self.state);
        let index = core.index;
        let gone = self.gone(&st, core.id);
        let Some(r) = Self::record(&mut st, core) else { return Err(gone) };
        if r.destroyed {
            return Err(gone);
        }
        if size < r.min || size > r.max {
            return Err(BufferPoolError::BadBounds { min: r.min, max: r.max });
        }
        r.size = size;
        self.shrink(&mut st, index);
        let wakers = self.feed(&mut st);
        drop(st);
        wakers.wake();
        Ok(())
    }

    /// Polls an exclusive request: `Ok(true)` when all its buffers are in.
    pub(crate) fn poll_exclusive(
        &self,
        core: &PoolCore,
        id: &mut Option<u64>,
        waker: &std::task::Waker,
    ) -> Result<bool, BufferPoolError> {
        let mut st = lock(&self.state);
        let index = core.index;
        while Self::record(&mut st, core).is_some_and(|r| !r.destroyed && r.owned < r.size) {
            if !self.lend(&mut st, index) {
                break;
            }
        }
        let gone = self.gone(&st, core.id);
        let Some(r) = Self::record(&mut st, core) else { return Err(gone) };
        if r.destroyed {
            return Err(gone);
        }
        if r.owned == r.size {
            if let Some(i) = id.take() {
                r.waiters.remove(i);
            }
            r.unavailable = false;
            r.core.set_slow(r.needs_slow());
            return Ok(true);
        }
        r.unavailable = true;
        r.core.set_slow(true);
        *id = Some(r.waiters.register(*id, waker));
        Ok(false)
    }

    /// A pool's numbers under the lock.
    pub(crate) fn pool_numbers(&self, core: &PoolCore) -> Option<PoolNumbers> {
        let mut st = lock(&self.state);
        Self::record(&mut st, core).map(|r| PoolNumbers {
            min: r.min,
            max: r.max,
            size: r.size,
            owned: r.owned,
            destroyed: r.destroyed,
            node: self.nodes[r.node],
        })
    }

    /// Counts a [`BufferRequester`] in on `core`'s pool, opening its lane if the pool is live
    /// and its recycles need not take the lock.
    pub(crate) fn attach_requester(&self, core: &PoolCore) {
        let mut st = lock(&self.state);
        let open = Self::record(&mut st, core).is_some_and(|r| !r.needs_slow()) && !core.is_slow();
        core.note_requester();
        core.attach_requester(open);
    }

    /// Counts a [`BufferRequester`] out; the last one closes the lane, moving what it holds
    /// onto the stack.
    pub(crate) fn detach_requester(&self, core: &PoolCore) {
        let st = lock(&self.state);
        core.detach_requester();
        drop(st);
    }

    /// Buffers of `core`'s pool in someone's hands (a scan of every slot): handed out more
    /// often than recycled, less those waiting in its inbox or lane, whose recycles the taker
    /// counts.
    pub(crate) fn in_hands(&self, core: &PoolCore) -> usize {
        let id = core.id;
        let out = self.slots.iter().filter(|s| s.owner.get() == id && s.requests.get() != s.recycles.get()).count();
        let mut inboxed = 0;
        core.for_each_inboxed(|_| inboxed += 1);
        out.saturating_sub(inboxed)
    }

    /// The node of a slot.
    pub(crate) fn node_of(&self, slot: u32) -> NodeId {
        self.nodes[self.slots[slot as usize].node]
    }
}

/// A pool's bounds and counts, read under the lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolNumbers {
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) size: usize,
    pub(crate) owned: usize,
    pub(crate) destroyed: bool,
    pub(crate) node: NodeId,
}

/// The future of [`NetworkBufferPool::available`].
///
/// ```
/// # use std::sync::Arc;
/// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
/// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
/// network.destroy();
/// let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// assert!(rt.block_on(network.available()).is_err()); // destroyed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct GlobalAvailable<'a> {
    network: &'a NetworkBufferPool,
    waiter: Option<u64>,
}

impl std::future::Future for GlobalAvailable<'_> {
    type Output = Result<(), BufferPoolError>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        match this.network.shared.poll_global_available(&mut this.waiter, cx.waker()) {
            Ok(true) => std::task::Poll::Ready(Ok(())),
            Ok(false) => std::task::Poll::Pending,
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }
}

impl Drop for GlobalAvailable<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            self.network.shared.forget_global_waiter(id);
        }
    }
}
