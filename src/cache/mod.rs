//! [`CacheSlot`]: one thread's cache for one arena manager, the front end of every allocation.
//!
//! **Fast path.** Per size class, a LIFO stack of tagged entries (`Box<[Entry]>` plus a length)
//! that only the owning thread touches: allocation pops, free pushes, and two relaxed counters on
//! the slot (written only by the owner, summed by readers) keep stats. No atomic
//! read-modify-write, no lock, no system call, no heap allocation. The thread finds its slot
//! through one thread-local lookup ([`LOCAL`]), whose last-used entry is compared against the
//! manager's unique id.
//!
//! **Slow paths** (each moves a batch, half the class's adaptive capacity):
//! - *refill* (stack empty): from the thread's own spill deque, else a batch from the node's
//!   shared pool (a bounded crossbeam `ArrayQueue` of batches), else a batch **stolen** from another thread of the
//!   same node (crossbeam `Stealer`s of their spill deques), else carved from the node's regions
//!   (mapping a new region within budget); only when the home node is out of budget does it take
//!   one segment from another node, nearest first, counted as a remote allocation (strict mode:
//!   an error instead);
//! - *spill* (stack full): the oldest half of the stack moves to the thread's spill deque, where
//!   other threads of the node may steal it; beyond the class maximum or
//!   [`sizing::SPILL_DEQUE_MAX`] entries (the deque's first buffer, so it never resizes: no heap
//!   allocation) the spill goes to the node's pool as one batch instead, and a pool above its
//!   limit gives segments back to their regions (under the region table's mutex);
//! - *foreign free* (segment of another node): a plain push onto the thread's **outbox** for
//!   that (node, class), which goes home to that node's pool as one batch (its vector swapped for
//!   a spare of the pool, so nothing is allocated) at its threshold — half the class's largest
//!   capacity, at most [`sizing::OUTBOX_MAX`] — at a flush, a re-home or thread exit, and when
//!   it was non-empty at two idleness scans in a row (the bound in time: at most two
//!   `SCAN_INTERVAL`s of the thread's slow-path events). An allocation on that node from this
//!   thread takes from the outbox first. The outbox is one of the places of the conservation
//!   invariant (`docs/ARCHITECTURE.md`): stats count it as cached on its node
//!   ([`CacheSlot::outboxed`]), and every flush, thread exit and purge empties it. Its length
//!   and its count of foreign frees share one word of the slot, so the push stores twice
//!   ([`outbox`]);
//! - a thread that only frees (a hand-off's consumer) spills its whole stack to the pool as one
//!   batch, which a producer's refill takes before it steals entry by entry.
//!
//! **Thread exit.** The thread-local's destructor flushes every slot (stack, deque and outboxes)
//! into the pools and retires it from the manager's registry. The flush holds the slot's `alive`
//! lock; the manager, when dropped, takes the same lock to mark each slot dead before it frees
//! anything. So a flush sees either a live manager (and completes before the manager's memory
//! goes) or a dead one (and does nothing): the thread-exit protocol modelled in
//! `loom-tests/tests/thread_exit.rs`.

mod outbox;
pub(crate) mod sizing;
mod steal;

use std::cell::{Cell, RefCell};
use std::ptr;

use crate::core::Core;
use crate::entry::{Entry, NodeIndex};
use crate::error::AllocError;
use crate::prometheus::counters;
use crate::size_class::{MAX_CLASSES, SizeClass};
use crate::sync::stat::Ids;
use crate::sync::{Arc, Mutex, UnsafeCell, atomic::AtomicU16, atomic::Ordering, lock, thread_local};

use crate::sync::deque::Worker;

use outbox::{Outbox, OutboxRef, OutboxWord};

/// A manager's shared state: the per-node [`Core`] and the [`Registry`] of the thread caches in
/// front of it. The cache layer owns the registry (the core knows nothing of caches); it reads
/// through to the core by `Deref`.
#[derive(Debug)]
pub(crate) struct CachedCore {
    core: Core,
    pub(crate) registry: Registry,
}

impl CachedCore {
    /// Puts a registry of thread caches in front of `core`.
    pub(crate) fn new(core: Core) -> Self {
        let registry = Registry::new(core.all_nodes().len());
        Self { core, registry }
    }
}

impl std::ops::Deref for CachedCore {
    type Target = Core;

    #[inline(always)]
    fn deref(&self) -> &Core {
        &self.core
    }
}

counters! {
    /// Statistics counters of one class in one slot ([`Counter`](crate::sync::stat::Counter)s:
    /// std's even under loom), written only by the slot's owner
    /// ([`Counter::bump`](crate::sync::stat::Counter::bump)) and summed by stats readers; the
    /// rows after the bracketed ones are also `ClassStats` fields and metrics.
    #[derive(Debug, Default)]
    pub(crate) struct ClassCounters => ClassCounts, splice class_counters {
        [
            /// Segments popped from the stack (every cached allocation).
            allocs,
            /// Segments pushed onto the stack by frees.
            frees,
            /// Segments moved onto the stack by refills.
            filled,
            /// Segments moved off the stack by spills and flushes.
            spilled,
        ]
        /// Refills of a thread cache (each a miss).
        misses => cache_misses (counter "numaseg_cache_misses_total" "Thread cache refills."),
        /// Refills served by a batch from the node's pool.
        pool_refills => pool_refills (counter "numaseg_pool_refills_total" "Refills served from the node pool."),
        /// Batches stolen from other threads of the node.
        steals => steals (counter "numaseg_steals_total" "Batches stolen from other threads of the node."),
        /// Segments obtained by stealing.
        stolen => stolen_segments (counter "numaseg_stolen_segments_total" "Segments obtained by stealing."),
        /// Allocations by threads of this node that another node served (home out of budget).
        remote_allocs => remote_allocations
            (counter "numaseg_remote_allocations_total" "Allocations served by another node."),
        // Never bumped in a slot's counters: the outboxes' words count foreign frees, and
        // `CacheSlot::counts` adds them in.
        /// Frees by threads of this node of segments that belong to another node (sent home).
        foreign_frees => foreign_frees
            (counter "numaseg_foreign_frees_total" "Frees of another node's segments, sent home."),
    }
}

/// One class's part of the private cache.
#[derive(Debug, Default)]
struct ClassCache {
    len: usize,
    cap: usize,
    max: usize,
    stack: Box<[Entry]>,
    worker: Option<Worker<Entry>>,
    allocs_at_refill: u64,
    allocs_at_spill: u64,
    ops_at_scan: u64,
}

impl ClassCache {
    /// The fast path's invariant, which makes its unchecked indexing sound: `len <= cap <=
    /// stack.len()`, and a class in use (`max > 0`) has a stack of exactly `max` slots. Only
    /// `ClassCache`'s own methods move `len`: one entry through [`ClassCache::push`] /
    /// [`ClassCache::pop`], a batch through [`ClassCache::take_newest`] (bulk allocation, trim,
    /// flush), [`ClassCache::drain_oldest`] (spill), [`ClassCache::extend_from_slice`] (batch
    /// free, pool and carve refills), [`ClassCache::fill_from_worker`] (deque and steal refills)
    /// and [`ClassCache::fill_top`] (release of a handle vector); none pushes past `cap`, and
    /// only a capacity shrink ([`ClassCache::set_cap`]) leaves `len > cap` until its trim.
    /// Checked under `expensive-checks` after every slow path (refill, spill, trim, capacity
    /// change) and every bulk allocation and free ([`allocate_batch`], [`free_batch`]), and by
    /// `debug_assert!` (so in every debug build) on the single-entry fast paths.
    fn is_valid(&self) -> bool {
        self.len <= self.cap && self.cap <= self.stack.len() && (self.max == 0 || self.stack.len() == self.max)
    }

    /// Takes the newest entry, if any.
    #[inline(always)]
    fn pop(&mut self) -> Option<Entry> {
        // The hot pair's check: debug builds only (the slow and bulk paths check it under
        // `expensive-checks`).
        debug_assert!(self.is_valid());
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: `len < cap <= stack.len()` before the decrement (`is_valid`).
        Some(unsafe { *self.stack.get_unchecked(self.len) })
    }

    /// Pushes `entry` unless the stack is at its capacity (then gives it back).
    #[inline(always)]
    fn push(&mut self, entry: Entry) -> Result<(), Entry> {
        debug_assert!(self.is_valid()); // as in `pop`
        if self.len >= self.cap {
            return Err(entry);
        }
        // SAFETY: `len < cap <= stack.len()` (`is_valid`).
        unsafe { *self.stack.get_unchecked_mut(self.len) = entry };
        self.len += 1;
        Ok(())
    }

    /// Removes the newest `min(n, len)` entries and returns them, oldest first (`len` only
    /// shrinks, so `len <= cap <= stack.len()` holds after if it held before; a stack above a
    /// shrunk capacity is brought back within it by taking `len - cap`: the trim). The slice
    /// lies beyond the new `len` and borrows the cache, so nothing can overwrite it while it
    /// is read. Bulk allocation, trim and flush.
    #[inline(always)]
    fn take_newest(&mut self, n: usize) -> &[Entry] {
        debug_assert!(self.len <= self.stack.len());
        let from = self.len - n.min(self.len);
        let to = self.len;
        self.len = from;
        // SAFETY: `from <= to = old len <= stack.len()` (asserted above; `is_valid` or a trim).
        unsafe { self.stack.get_unchecked(from..to) }
    }

    /// The oldest `k` entries (at most `len`), left in place: read them, then
    /// [`ClassCache::drain_oldest`] them. Moves nothing.
    #[inline]
    fn oldest(&self, k: usize) -> &[Entry] {
        &self.stack[..k.min(self.len)]
    }

    /// Removes the oldest `min(k, len)` entries, moving the rest down to the bottom in order
    /// (the spill, after the caller has moved [`ClassCache::oldest`] elsewhere). `len` only
    /// shrinks, so the invariant holds after if it held before.
    #[inline]
    fn drain_oldest(&mut self, k: usize) {
        let k = k.min(self.len);
        self.stack.copy_within(k..self.len, 0);
        self.len -= k;
    }

    /// Free room below the capacity (zero while `len` is above a shrunk capacity).
    #[inline(always)]
    fn room(&self) -> usize {
        self.cap.saturating_sub(self.len)
    }

    /// Pushes the first `min(entries.len(), room)` of `entries`, in order, and returns how
    /// many it took; the caller keeps the rest. Never past `cap`, so `len <= cap <=
    /// stack.len()` holds after if it held before. Batch free and pool refill.
    #[inline]
    fn extend_from_slice(&mut self, entries: &[Entry]) -> usize {
        let take = self.room().min(entries.len());
        self.stack[self.len..self.len + take].copy_from_slice(&entries[..take]);
        self.len += take;
        take
    }

    /// Pops up to `min(n, room)` entries from the class's own spill deque onto the stack (the
    /// newest of the deque end up oldest here, as a refill always had it) and returns how many.
    /// Never past `cap`: room is checked before each pop, so nothing is popped that cannot be
    /// kept.
    #[inline]
    fn fill_from_worker(&mut self, n: usize) -> usize {
        let Some(worker) = &self.worker else { return 0 };
        let n = n.min(self.room());
        let mut got = 0;
        while got < n {
            let Some(entry) = worker.pop() else { break };
            self.stack[self.len] = entry;
            self.len += 1;
            got += 1;
        }
        got
    }

    /// Lets `fill` write `n` entries straight into the free top of the stack, and keeps them if
    /// it returns true. Only when the stack has room for all `n` (else returns false and calls
    /// nothing), so `len` never passes `cap`; `fill` gets exactly `n` slots beyond `len`, which
    /// a refusal leaves beyond it. The release of a whole `Vec<Segment>`.
    #[inline(always)]
    fn fill_top(&mut self, n: usize, fill: impl FnOnce(&mut [Entry]) -> bool) -> bool {
        if self.room() < n {
            return false;
        }
        debug_assert!(self.is_valid());
        // SAFETY: `len + n <= cap <= stack.len()` (checked above, `is_valid`).
        let top = unsafe { self.stack.get_unchecked_mut(self.len..self.len + n) };
        if !fill(top) {
            return false;
        }
        self.len += n;
        true
    }

    /// First use of the class: a stack of `max` vacant slots, the sizing rule's initial
    /// capacity, nothing cached. The invariant's setup, in the same place as its upkeep.
    #[cold]
    fn init(&mut self, max: usize) {
        debug_assert!(self.max == 0 && self.len == 0, "a class is set up once");
        self.max = max;
        self.cap = sizing::initial_capacity(max);
        self.stack = Entry::vacant_stack(max);
        crate::expensive_check!(self.is_valid());
    }

    /// Sets the capacity (a sizing rule's answer, already within `1..=max`).
    fn set_cap(&mut self, cap: usize) {
        crate::expensive_check!(self.is_valid());
        self.cap = cap;
        // `len` may exceed a shrunk capacity until the caller trims the stack; never the stack.
        crate::expensive_check!(self.cap <= self.stack.len());
    }
}

/// What a refill may do besides refilling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefillMode {
    /// One allocation: may follow the thread to another node first, and may go remote.
    Single,
    /// Part of a bulk: neither (every entry of a bulk is of the thread's current home).
    Bulk,
}

/// What only the owning thread touches.
#[derive(Debug)]
struct PrivateCache {
    home: NodeIndex,
    /// Set by `set_thread_node`: the home stays put instead of following the thread.
    pinned: bool,
    classes: [ClassCache; MAX_CLASSES],
    events: usize,
    /// Segments of other nodes freed here, by `node_index * MAX_CLASSES + class`, waiting to go home
    /// as one batch (empty until the thread's first foreign free or allocation on another node).
    outboxes: Box<[Outbox]>,
    /// Per outbox: non-empty at the previous scan and not sent home since (the next scan
    /// sends it).
    aged: Box<[bool]>,
    /// The outboxes given room so far, in the order of their first use: the ones the scan
    /// looks at (an outbox never used holds nothing). Allocated with room for every outbox
    /// when the outboxes are created, so a first use never reallocates it.
    open: Vec<usize>,
}

/// How many outboxes a thread has for `core` (and words of them in its slot): one per (node,
/// class). The one count both are made from, so an index of one is an index of the other.
fn outbox_count(core: &CachedCore) -> usize {
    core.all_nodes().len() * MAX_CLASSES
}

/// One thread's cache for one manager.
#[derive(Debug)]
pub(crate) struct CacheSlot {
    /// Unique within its manager; names the slot's stealers.
    pub(crate) id: u64,
    core_id: u64,
    core: *const CachedCore,
    /// True while the manager lives. Held during a thread-exit flush; the manager's drop takes
    /// it to clear it before freeing anything.
    alive: Mutex<bool>,
    /// The node the stack holds segments of (read by stats; written by the owner).
    pub(crate) home: AtomicU16,
    fork_generation: u64,
    pub(crate) counters: [ClassCounters; MAX_CLASSES],
    /// Each outbox's word (`node_index * MAX_CLASSES + class`): its length and the foreign frees
    /// pushed into it ([`outbox`]), written only by the owner. One per (node, class), sized by
    /// the node count at run time, so it cannot be a row of a `counters!` table (whose rows are
    /// fixed fields); the node stats (`stats.rs`) sum the lengths over the live slots into each
    /// class's `cached` count, and [`CacheSlot::counts`] the pushes into its foreign frees.
    outbox_words: Box<[OutboxWord]>,
    private: UnsafeCell<PrivateCache>,
}

// SAFETY: `private` is touched only by the owning thread (fast paths, flush at its exit), which
// the thread-local lookup guarantees; every other field is a lock, an atomic or immutable.
// `core` is dereferenced only while `alive` is held true, or by the owner inside a call that
// borrows the manager.
unsafe impl Send for CacheSlot {}
// SAFETY: as above.
unsafe impl Sync for CacheSlot {}

impl CacheSlot {
    pub(crate) fn new(core: &CachedCore, id: u64, home: NodeIndex) -> Self {
        Self {
            id,
            core_id: core.id,
            core: ptr::from_ref(core),
            alive: Mutex::new(true),
            home: AtomicU16::new(home.raw()),
            fork_generation: crate::fork::generation(),
            counters: std::array::from_fn(|_| ClassCounters::default()),
            outbox_words: (0..outbox_count(core)).map(|_| OutboxWord::default()).collect(),
            private: UnsafeCell::new(PrivateCache {
                home,
                pinned: false,
                classes: std::array::from_fn(|_| ClassCache::default()),
                events: 0,
                outboxes: Box::default(),
                aged: Box::default(),
                open: Vec::new(),
            }),
        }
    }

    /// Marks the slot dead (its manager is being dropped). After this returns, no flush of this
    /// slot will touch the manager.
    pub(crate) fn kill(&self) {
        *lock(&self.alive) = false;
    }

    fn is_dead(&self) -> bool {
        !*lock(&self.alive)
    }

    /// Segments of `class` held in this slot's stack (exact when the owner is quiescent).
    pub(crate) fn stack_len(&self, class: usize) -> u64 {
        let c = &self.counters[class];
        (c.filled.get() + c.frees.get()).saturating_sub(c.allocs.get() + c.spilled.get())
    }

    /// Segments of `node_index` and `class` waiting in this slot's outbox (exact when the owner is
    /// quiescent).
    pub(crate) fn outboxed(&self, node_index: NodeIndex, class: usize) -> u64 {
        self.outbox_words.get(node_index.get() * MAX_CLASSES + class).map_or(0, |w| w.len() as u64)
    }

    /// This slot's counters of `class`, with its foreign frees: those are counted in the words
    /// of its outboxes for that class, one per node, not by a counter of their own.
    fn counts(&self, class: usize) -> ClassCounts {
        let mut counts = self.counters[class].get();
        counts.foreign_frees +=
            self.outbox_words.iter().skip(class).step_by(MAX_CLASSES).map(OutboxWord::pushes).sum::<u64>();
        counts
    }

    /// The thread is exiting: flush everything home and leave the registry.
    fn retire(&self) {
        if crate::fork::generation() != self.fork_generation {
            // A fork child: locks may be held by threads that do not exist here. The child's
            // copy of the cache is simply left behind.
            return;
        }
        let alive = lock(&self.alive);
        if !*alive {
            return;
        }
        // SAFETY: `alive` is held and true, so the manager's drop has not passed this slot and
        // `core` points to a live manager (module docs, thread-exit protocol).
        let core = unsafe { &*self.core };
        self.private.with_mut(|p| {
            // SAFETY: only the owning thread reaches `private`; this is its exit.
            let p = unsafe { &mut *p };
            p.flush_all(core, self);
        });
        core.registry.retire(self);
        drop(alive);
    }
}

/// The thread's slots, one per manager it used. Only slow paths touch it.
struct LocalCaches {
    slots: RefCell<Vec<Arc<CacheSlot>>>,
}

impl Drop for LocalCaches {
    fn drop(&mut self) {
        // From here on the fast path finds nothing and the slow path no `LOCAL`: frees go
        // straight to their pools, allocations bypass the cache.
        // (`try_with`: under loom the cell may already be gone; under std it never is.)
        let _ = LAST.try_with(|last| last.set((0, ptr::null())));
        for slot in self.slots.get_mut().drain(..) {
            slot.retire();
        }
    }
}

// The last slot used, with its manager's id: the fast path's one thread-local read and one
// comparison. A `const` cell with no destructor, so reading it needs no initialisation or
// liveness check; the slot it points to is kept alive by `LOCAL`, whose destructor clears it.
#[cfg(not(loom))]
thread_local! {
    static LAST: Cell<(u64, *const CacheSlot)> = const { Cell::new((0, ptr::null())) };
    static LOCAL: LocalCaches = const { LocalCaches { slots: RefCell::new(Vec::new()) } };
}

#[cfg(loom)]
thread_local! {
    static LAST: Cell<(u64, *const CacheSlot)> = Cell::new((0, ptr::null()));
    static LOCAL: LocalCaches = LocalCaches { slots: RefCell::new(Vec::new()) };
}

/// Runs `f` on the calling thread's slot for `core`, creating it on first use. `None` when the
/// thread-local is gone (the thread is being torn down): callers then bypass the cache.
#[inline]
fn with_slot<R>(core: &CachedCore, f: impl FnOnce(&CacheSlot, &mut PrivateCache) -> R) -> Option<R> {
    LOCAL
        .try_with(|local| {
            let (id, slot) = LAST.try_with(Cell::get).unwrap_or((0, ptr::null()));
            let slot = if id == core.id { slot } else { lookup_slot(local, core)? };
            // SAFETY: `slot` comes from `local.slots`, which holds an `Arc` to it for as long as
            // this thread lives, and it belongs to `core` (ids are unique and never reused).
            let slot = unsafe { &*slot };
            Some(slot.private.with_mut(|p| {
                // SAFETY: only the owning thread reaches `private`, and not re-entrantly: `f`
                // never calls back into `with_slot`.
                f(slot, unsafe { &mut *p })
            }))
        })
        .ok()
        .flatten()
}

#[cold]
#[inline(never)]
fn lookup_slot(local: &LocalCaches, core: &CachedCore) -> Option<*const CacheSlot> {
    if core.check_fork().is_err() {
        return None; // no locks in a fork child: callers bypass the cache
    }
    let mut slots = local.slots.borrow_mut();
    // Slots of dropped managers can never match again: let them go.
    slots.retain(|s| !s.is_dead());
    let slot = match slots.iter().find(|s| s.core_id == core.id) {
        Some(slot) => Arc::as_ptr(slot),
        None => {
            let slot = core.registry.register(core);
            let ptr = Arc::as_ptr(&slot);
            slots.push(slot);
            ptr
        }
    };
    let _ = LAST.try_with(|last| last.set((core.id, slot)));
    Some(slot)
}

/// The calling thread's slot for `core` if it is the one used last (the fast path's only
/// lookup), else null.
#[inline(always)]
fn last_slot(core: &CachedCore) -> *const CacheSlot {
    // `try_with` compiles to a plain read for a `const` cell without a destructor.
    let (id, slot) = LAST.try_with(Cell::get).unwrap_or((0, ptr::null()));
    if id == core.id { slot } else { ptr::null() }
}

/// Allocates one segment of `class` from the calling thread's home node, through its cache.
/// Returns the tagged entry and the node it belongs to.
#[inline(always)]
pub(crate) fn allocate(core: &CachedCore, class: SizeClass) -> Result<(Entry, NodeIndex), AllocError> {
    let slot = last_slot(core);
    if !slot.is_null() {
        // SAFETY: a non-null `last` slot is kept alive by this thread's `slots` list and belongs
        // to `core` (ids are unique).
        let slot = unsafe { &*slot };
        let hit = slot.private.with_mut(|p| {
            // SAFETY: only the owning thread (this one) reaches `private`, and not re-entrantly.
            let p = unsafe { &mut *p };
            let entry = p.classes[class.index()].pop()?;
            Some((entry, p.home))
        });
        if let Some(hit) = hit {
            slot.counters[class.index()].allocs.bump(1);
            return Ok(hit);
        }
    }
    allocate_slow(core, class)
}

#[cold]
#[inline(never)]
fn allocate_slow(core: &CachedCore, class: SizeClass) -> Result<(Entry, NodeIndex), AllocError> {
    match with_slot(core, |slot, p| p.allocate_or_refill(core, slot, class)) {
        Some(result) => result,
        None => core.allocate_uncached(None, class),
    }
}

/// Frees a segment entry of `class` belonging to `node_index`.
#[inline(always)]
pub(crate) fn free(core: &CachedCore, entry: Entry, class: SizeClass, node_index: NodeIndex) {
    let slot = last_slot(core);
    if !slot.is_null() {
        // SAFETY: as in `allocate`.
        let slot = unsafe { &*slot };
        let pushed = slot.private.with_mut(|p| {
            // SAFETY: as in `allocate`.
            let p = unsafe { &mut *p };
            p.home == node_index && p.classes[class.index()].push(entry).is_ok()
        });
        if pushed {
            slot.counters[class.index()].frees.bump(1);
            return;
        }
    }
    // SAFETY: `slot` is what `last_slot` returned, and the push attempt above changed no slot.
    unsafe { free_slow(core, slot, entry, class, node_index) };
}

/// [`free`] past the stack push, given what `free` found as the calling thread's last-used slot
/// for `core` (null if it has none). A foreign free's common case on that slot (the consumer
/// of a hand-off across nodes) is a plain push onto its outbox, without a second thread-local
/// lookup. One call site in `free`, so that `free` stays small enough to inline into a
/// handle's drop. (A raw pointer, not an `Option<&CacheSlot>`: that cost the hot pair one
/// instruction and the foreign free two.)
///
/// # Safety
/// `slot` is null or [`last_slot`]`(core)` of the calling thread, read since its last call into
/// the cache.
#[cold]
#[inline(never)]
unsafe fn free_slow(core: &CachedCore, slot: *const CacheSlot, entry: Entry, class: SizeClass, node_index: NodeIndex) {
    // SAFETY: the caller passes `last_slot(core)` (or null): as in `allocate`, a non-null one is
    // kept alive by this thread's `slots` list and belongs to `core`.
    if let Some(slot) = unsafe { slot.as_ref() } {
        // SAFETY: as in `allocate`: the owning thread, not re-entrantly.
        if slot.private.with_mut(|p| unsafe { (*p).send_fast(core, slot, entry, class, node_index) }) {
            return;
        }
    }
    free_slower(core, entry, class, node_index);
}

/// [`free_slow`] past the outbox push: the slot lookup, then a spill, an outbox flush, a scan,
/// or no cache at all. Out of line, so the push above keeps a short prologue.
#[cold]
#[inline(never)]
fn free_slower(core: &CachedCore, entry: Entry, class: SizeClass, node_index: NodeIndex) {
    let done = with_slot(core, |slot, p| {
        if p.home == node_index && p.classes[class.index()].push(entry).is_ok() {
            slot.counters[class.index()].frees.bump(1);
        } else {
            p.free_slow(core, slot, entry, class, node_index);
        }
    });
    if done.is_none() {
        core.push_home(entry, class, node_index);
    }
}

/// Where a bulk allocation puts what it takes: a `Vec` of entries (`SegmentBatch`, the
/// memory manager) or of handles (`ArenaManager::allocate_bulk_into`, in the handles layer).
pub(crate) trait BulkSink {
    /// Entries held.
    fn len(&self) -> usize;
    /// Makes room for `n` more.
    fn reserve(&mut self, n: usize);
    /// Takes ownership of `entries`, all of the bulk's class on `node_index`.
    fn put(&mut self, entries: &[Entry], node_index: NodeIndex);
    /// Gives back everything put after the first `start` (a bulk that failed part-way).
    fn undo(&mut self, core: &CachedCore, class: SizeClass, start: usize);
}

impl BulkSink for Vec<Entry> {
    fn len(&self) -> usize {
        self.len()
    }

    fn reserve(&mut self, n: usize) {
        self.reserve(n);
    }

    #[inline]
    fn put(&mut self, entries: &[Entry], _node_index: NodeIndex) {
        self.extend_from_slice(entries);
    }

    fn undo(&mut self, core: &CachedCore, class: SizeClass, start: usize) {
        let home = thread_home(core).unwrap_or_else(|| core.default_node_index());
        free_batch(core, class, home, &self[start..]);
        self.truncate(start);
    }
}

/// Appends `n` entries of `class` from the calling thread's home node to `out`, all or nothing
/// (on an error `out` is as it was). Returns the home node. Never goes to another node.
pub(crate) fn allocate_batch<S: BulkSink + ?Sized>(
    core: &CachedCore,
    class: SizeClass,
    n: usize,
    out: &mut S,
) -> Result<NodeIndex, AllocError> {
    let start = out.len();
    // Reserve at most a cache's worth up front; a bigger bulk grows the vector as it goes.
    out.reserve(n.min(1 << 16));
    let result = with_slot(core, |slot, p| {
        let home = p.home;
        let mut need = n;
        while need > 0 {
            let c = &mut p.classes[class.index()];
            let taken = c.take_newest(need);
            if !taken.is_empty() {
                let take = taken.len();
                out.put(taken, home);
                crate::expensive_check!(c.is_valid());
                slot.counters[class.index()].allocs.bump(take as u64);
                need -= take;
                continue;
            }
            // A bulk never re-homes mid-way (its entries must all be of one node), nor goes
            // remote.
            let (entry, _) = p.refill(core, slot, class, RefillMode::Bulk)?;
            out.put(&[entry], home);
            need -= 1;
        }
        Ok(home)
    });
    let result = match result {
        Some(result) => result,
        None => (0..n)
            .try_for_each(|_| {
                let (entry, node_index) = core.allocate_direct(core.default_node_index(), class, false)?;
                out.put(&[entry], node_index);
                Ok(())
            })
            .map(|()| core.default_node_index()),
    };
    if result.is_err() && out.len() > start {
        out.undo(core, class, start);
    }
    result
}

/// A bulk allocation's fast path: when the calling thread's last-used slot is `core`'s own and
/// its stack of `class` holds at least `n` entries, puts the newest `n` into `out` in one go (one
/// counter bump, nothing else looked up) and returns the home node; else `None`, nothing done,
/// and the caller takes [`allocate_batch`]'s way. Entries already in the stack are within every
/// budget, so no budget check is needed first. `out` gets room for `n` before the cache is
/// touched, so its `put` does not allocate.
#[inline]
pub(crate) fn allocate_from_stack<S: BulkSink + ?Sized>(
    core: &CachedCore,
    class: SizeClass,
    n: usize,
    out: &mut S,
) -> Option<NodeIndex> {
    let slot = last_slot(core);
    if slot.is_null() {
        return None;
    }
    // SAFETY: as in `allocate`.
    let slot = unsafe { &*slot };
    out.reserve(n);
    let home = slot.private.with_mut(|p| {
        // SAFETY: as in `allocate`; `put` does not re-enter the cache (it has its room).
        let p = unsafe { &mut *p };
        let c = &mut p.classes[class.index()];
        if c.len < n {
            return None;
        }
        debug_assert!(c.is_valid());
        out.put(c.take_newest(n), p.home);
        Some(p.home)
    })?;
    slot.counters[class.index()].allocs.bump(n as u64);
    Some(home)
}

/// Frees entries of one class and node in one go.
pub(crate) fn free_batch(core: &CachedCore, class: SizeClass, node_index: NodeIndex, entries: &[Entry]) {
    let done = with_slot(core, |slot, p| {
        let mut rest = entries;
        if p.home == node_index {
            let c = p.class_mut(core, class);
            let take = c.extend_from_slice(rest);
            crate::expensive_check!(c.is_valid()); // as in `allocate_batch`
            slot.counters[class.index()].frees.bump(take as u64);
            rest = &rest[take..];
        }
        for &entry in rest {
            p.free_slow(core, slot, entry, class, node_index);
        }
    });
    if done.is_none() {
        core.push_many_home(entries, class, node_index);
    }
}

/// Frees many segments in one go (each with its own class and node).
pub(crate) fn free_many(core: &CachedCore, items: impl Iterator<Item = (Entry, SizeClass, NodeIndex)>) {
    let mut items = items.peekable();
    with_slot(core, |slot, p| {
        for (entry, class, node_index) in items.by_ref() {
            if p.home == node_index && p.classes[class.index()].push(entry).is_ok() {
                slot.counters[class.index()].frees.bump(1);
            } else {
                p.free_slow(core, slot, entry, class, node_index);
            }
        }
    });
    // Whatever the cache could not take (thread being torn down) goes straight home.
    for (entry, class, node_index) in items {
        core.push_home(entry, class, node_index);
    }
}

/// Gives back `n` entries of `class` on `node_index` by letting `fill` write them straight into the
/// free top of the calling thread's stack, one copy and one counter bump for all of them (the
/// release of a whole `Vec<Segment>`, `segment::handles::release_all`). Only when the thread's
/// last-used slot is `core`'s own, `node_index` is its home and the stack has room for all `n`;
/// `fill` gets exactly `n` slots and returns whether what it wrote is to be kept. Returns
/// whether the entries went back: if not, nothing changed (the written slots lie beyond the
/// stack's length) and the caller gives them back another way. `fill` must not call into the
/// cache.
#[inline]
pub(crate) fn free_into_stack(
    core: &CachedCore,
    class: SizeClass,
    node_index: NodeIndex,
    n: usize,
    fill: impl FnOnce(&mut [Entry]) -> bool,
) -> bool {
    let slot = last_slot(core);
    if slot.is_null() {
        return false;
    }
    // SAFETY: as in `allocate`.
    let slot = unsafe { &*slot };
    let back = slot.private.with_mut(|p| {
        // SAFETY: as in `allocate`; `fill` does not re-enter the cache.
        let p = unsafe { &mut *p };
        // A class not yet in use has no room (nor has one above a shrunk capacity).
        p.home == node_index && p.classes[class.index()].fill_top(n, fill)
    });
    if back {
        slot.counters[class.index()].frees.bump(n as u64);
    }
    back
}

/// Where [`allocate_at`] found a segment of the node asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// An entry of the node asked for: from the thread's cache when the node is its home, else
    /// from the thread's outbox for that node.
    Got(Entry),
    /// The node asked for is the thread's home, but its stack of the class is empty (or not in
    /// use yet): allocate through the cache's refill ([`allocate`]).
    Home,
    /// Neither (or the thread has no cache): go to the node directly.
    Miss,
}

/// One thread-local lookup for an allocation on `node_index`: a pop from the thread's cache
/// when it is the thread's home ([`At::Home`] if that stack is empty); else an entry from the
/// thread's outbox for that node — what this thread freed there and has not sent home yet, else
/// half an outbox taken from one batch of that node's pool.
#[inline]
pub(crate) fn allocate_at(core: &CachedCore, class: SizeClass, node_index: NodeIndex) -> At {
    let slot = last_slot(core);
    if slot.is_null() {
        return allocate_elsewhere(core, class, node_index);
    }
    // SAFETY: as in `allocate`.
    let slot = unsafe { &*slot };
    let home = slot.private.with_mut(|p| {
        // SAFETY: as in `allocate`.
        let p = unsafe { &mut *p };
        (p.home == node_index).then(|| p.classes[class.index()].pop())
    });
    match home {
        Some(Some(entry)) => {
            slot.counters[class.index()].allocs.bump(1);
            At::Got(entry)
        }
        Some(None) => At::Home,
        // A node other than the home of the last-used slot: its outbox, without a second lookup.
        None => allocate_sent(core, slot, class, node_index),
    }
}

/// [`allocate_at`] for another node than the home of `slot`, the calling thread's last-used
/// slot for `core`: an entry from its outbox for that node (a foreign free's reuse: the
/// allocation half of a hand-off across nodes), else [`At::Miss`].
#[inline(never)]
fn allocate_sent(core: &CachedCore, slot: &CacheSlot, class: SizeClass, node_index: NodeIndex) -> At {
    // SAFETY: as in `allocate`: `slot` is the calling thread's own, reached not re-entrantly.
    match slot.private.with_mut(|p| unsafe { (*p).pop_sent(core, slot, class, node_index) }) {
        Some(entry) => At::Got(entry),
        None => refill_sent(core, slot, class, node_index),
    }
}

/// [`allocate_sent`] when the outbox for `node_index` is empty (or not created yet): the refill
/// from one batch of that node's pool. Out of line, so that the pop above keeps a short
/// prologue.
#[cold]
#[inline(never)]
fn refill_sent(core: &CachedCore, slot: &CacheSlot, class: SizeClass, node_index: NodeIndex) -> At {
    // SAFETY: as in `allocate_sent`.
    slot.private.with_mut(|p| unsafe { (*p).take_sent(core, slot, class, node_index) }).map_or(At::Miss, At::Got)
}

/// [`allocate_at`] when `core` is not the calling thread's last-used manager (or it has no
/// cache yet): the slot lookup first.
#[cold]
#[inline(never)]
fn allocate_elsewhere(core: &CachedCore, class: SizeClass, node_index: NodeIndex) -> At {
    with_slot(core, |slot, p| {
        if p.home == node_index {
            At::Home
        } else {
            p.take_sent(core, slot, class, node_index).map_or(At::Miss, At::Got)
        }
    })
    .unwrap_or(At::Miss)
}

/// The calling thread's home node for `core` (creating its slot if needed).
pub(crate) fn thread_home(core: &CachedCore) -> Option<NodeIndex> {
    with_slot(core, |_, p| p.home)
}

/// Flushes the calling thread's cache for `core` to the node pools and, if `new_home` is
/// given, makes that the thread's home.
pub(crate) fn flush(core: &CachedCore, new_home: Option<NodeIndex>) {
    if core.check_fork().is_err() {
        // A fork child: emptying the cache takes the stealer lists' and the pools' locks, which
        // a thread that does not exist here may have held at the fork. The child's copy of the
        // cache stays where it is (its hits keep working).
        return;
    }
    with_slot(core, |slot, p| {
        p.flush_all(core, slot);
        if let Some(home) = new_home {
            p.home = home;
            p.pinned = true;
            slot.home.store(home.raw(), Ordering::Relaxed);
        }
    });
}

impl PrivateCache {
    /// Makes sure the class's stack exists (first use) and returns it.
    fn class_mut(&mut self, core: &CachedCore, class: SizeClass) -> &mut ClassCache {
        let c = &mut self.classes[class.index()];
        if c.max == 0 {
            c.init(core.max_capacity(class));
        }
        c
    }

    /// Counts a slow-path event; every `SCAN_INTERVAL` events, shrinks idle classes and, when
    /// `may_rehome` and the home is not pinned, follows the thread to its current node.
    #[inline]
    fn tick(&mut self, core: &CachedCore, slot: &CacheSlot, may_rehome: bool) {
        self.events += 1;
        if self.events >= sizing::SCAN_INTERVAL {
            self.scan(core, slot, may_rehome);
        }
    }

    /// The periodic scan of [`PrivateCache::tick`].
    #[cold]
    #[inline(never)]
    fn scan(&mut self, core: &CachedCore, slot: &CacheSlot, may_rehome: bool) {
        self.events = 0;
        // The outboxes' bound in time: an outbox non-empty at two scans in a row goes home, so
        // nothing waits longer than two scan intervals of its thread's slow-path events.
        // Only the outboxes in use: a thread that frees on another node has one or two of
        // them, against `nodes * MAX_CLASSES` in all.
        for k in 0..self.open.len() {
            let i = self.open[k];
            if self.aged[i] {
                self.flush_outbox(core, slot, i);
            } else {
                self.aged[i] = slot.outbox_words[i].len() != 0;
            }
        }
        for i in 0..MAX_CLASSES {
            // A class not in use first: its counters are not even read.
            if self.classes[i].max == 0 {
                continue;
            }
            let counters = &slot.counters[i];
            let ops = counters.allocs.get() + counters.frees.get();
            let c = &mut self.classes[i];
            let idle = ops - c.ops_at_scan;
            c.ops_at_scan = ops;
            let cap = sizing::after_scan(c.cap, idle);
            if cap < c.cap {
                c.set_cap(cap);
                let class = SizeClass::from_index(i).unwrap_or_else(|| unreachable!());
                self.trim_class(core, slot, class, cap);
            }
        }
        if may_rehome
            && !self.pinned
            && let Some(home) = core.home_for_current_thread(self.home)
            && home != self.home
        {
            self.flush_all(core, slot);
            self.home = home;
            slot.home.store(home.raw(), Ordering::Relaxed);
        }
    }

    /// Moves stack entries beyond `keep` to the home pool.
    fn trim_class(&mut self, core: &CachedCore, slot: &CacheSlot, class: SizeClass, keep: usize) {
        let home = self.home;
        let c = &mut self.classes[class.index()];
        let excess = c.take_newest(c.len.saturating_sub(keep));
        if !excess.is_empty() {
            slot.counters[class.index()].spilled.bump(excess.len() as u64);
            core.push_many_home(excess, class, home);
        }
        crate::expensive_check!(c.len <= keep && c.is_valid());
    }

    /// Pops an entry of `class`, refilling first if the stack is empty.
    fn allocate_or_refill(
        &mut self,
        core: &CachedCore,
        slot: &CacheSlot,
        class: SizeClass,
    ) -> Result<(Entry, NodeIndex), AllocError> {
        let c = &mut self.classes[class.index()];
        if let Some(entry) = c.pop() {
            slot.counters[class.index()].allocs.bump(1);
            return Ok((entry, self.home));
        }
        self.refill(core, slot, class, RefillMode::Single)
    }

    /// Refills the class's stack and pops one entry; with `remote_ok`, returns another node's
    /// segment when the home node is out of budget.
    #[cold]
    #[inline(never)]
    fn refill(
        &mut self,
        core: &CachedCore,
        slot: &CacheSlot,
        class: SizeClass,
        mode: RefillMode,
    ) -> Result<(Entry, NodeIndex), AllocError> {
        let remote_ok = mode == RefillMode::Single;
        core.check_fork()?;
        self.tick(core, slot, remote_ok);
        let home = self.home;
        let counters = &slot.counters[class.index()];
        let allocs = counters.allocs.get();
        let c = self.class_mut(core, class);
        c.set_cap(sizing::after_refill(c.cap, c.max, allocs - c.allocs_at_refill));
        c.allocs_at_refill = allocs;
        let want = sizing::batch(c.cap);
        let node = core.node(home);
        let pool = &node.classes[class.index()];

        // 1. The thread's own spill deque.
        let mut got = c.fill_from_worker(want);
        // 2. A batch from the node's pool.
        if got == 0
            && let Some(mut batch) = pool.pop_batch()
        {
            // The newest entries of the batch (a batch larger than the room leaves the rest in
            // its vector, which goes back; an emptied vector becomes a spare for the next flush).
            let from = batch.len().saturating_sub(c.room());
            got = c.extend_from_slice(&batch[from..]);
            batch.truncate(from); // `from..` fits the room: `got` is all of it
            core.push_batch_home(batch, class, home);
            counters.pool_refills.bump(1);
        }
        // 3. A batch stolen from another thread of the node.
        if got == 0 {
            let worker = c.worker.get_or_insert_with(|| {
                let worker = Worker::new_lifo();
                pool.add_stealer(slot.id, worker.stealer());
                worker
            });
            if let Some(entry) = steal::steal_from_peers(pool, slot.id, worker, want) {
                // A refill starts from an empty stack of capacity `>= want >= 1`: room for all.
                c.push(entry).unwrap_or_else(|_| unreachable!("a refill's stack has room"));
                got = 1 + c.fill_from_worker(want - 1);
                counters.steals.bump(1);
                counters.stolen.bump(got as u64);
            }
        }
        // 4. The node's regions (may map a new one, within budget).
        if got == 0 {
            let mut carved = Vec::with_capacity(want);
            match core.carve(home, class, want, &mut carved) {
                Ok(n) => {
                    got = c.extend_from_slice(&carved[..n]);
                    debug_assert_eq!(got, n, "a carve of `want` fits a refill's empty stack");
                    if got < n {
                        core.push_many_home(&carved[got..n], class, home);
                    }
                }
                Err(e) if !remote_ok => return Err(core.carve_error(core.node_id(home), e)),
                Err(e) => {
                    // 5. Another node, when the home node is out of budget.
                    let (entry, node_index) = core.allocate_remote(home, class, e)?;
                    counters.remote_allocs.bump(1);
                    return Ok((entry, node_index));
                }
            }
        }
        debug_assert!(got > 0);
        crate::expensive_check!(c.is_valid());
        counters.filled.bump(got as u64);
        counters.misses.bump(1);
        let entry = c.pop().unwrap_or_else(|| unreachable!("a refill that got entries leaves one"));
        counters.allocs.bump(1);
        Ok((entry, home))
    }

    /// A free that missed the fast path: stack full, first use of the class, or a segment of
    /// another node.
    #[cold]
    #[inline(never)]
    fn free_slow(
        &mut self,
        core: &CachedCore,
        slot: &CacheSlot,
        entry: Entry,
        class: SizeClass,
        node_index: NodeIndex,
    ) {
        let counters = &slot.counters[class.index()];
        if core.check_fork().is_err() {
            core.push_home(entry, class, node_index);
            return;
        }
        if node_index != self.home {
            self.send(core, slot, entry, class, node_index);
            self.tick(core, slot, false);
            return;
        }
        self.tick(core, slot, true);
        let home = self.home;
        if node_index != home {
            // The tick moved the thread to another node.
            core.push_home(entry, class, node_index);
            return;
        }
        let allocs = counters.allocs.get();
        let c = self.class_mut(core, class);
        let Err(entry) = c.push(entry) else {
            counters.frees.bump(1);
            return;
        };
        // Spill the oldest half: to the thread's deque, where peers may steal it, while it has
        // room (at most the class maximum and `sizing::SPILL_DEQUE_MAX` entries); else as one
        // batch to the node's pool. A large spill of a thread that cycles
        // more segments than its stack holds goes to the pool as one batch too (see
        // `sizing::spill_as_batch`).
        let since = allocs - c.allocs_at_spill;
        let k = sizing::spill_count(c.len, c.cap, since);
        let as_batch = sizing::spill_as_batch(k, c.cap, since);
        c.set_cap(sizing::after_spill(c.cap, c.max, since));
        c.allocs_at_spill = allocs;
        let pool = &core.node(home).classes[class.index()];
        let worker = c.worker.get_or_insert_with(|| {
            let worker = Worker::new_lifo();
            pool.add_stealer(slot.id, worker.stealer());
            worker
        });
        // Never past the deque's first buffer, so the push below never resizes it
        // (`sizing::SPILL_DEQUE_MAX`).
        let to_deque = !as_batch && worker.len() + k <= c.max.min(sizing::SPILL_DEQUE_MAX);
        let (oldest, worker) = (c.oldest(k), c.worker.as_ref());
        match worker {
            Some(worker) if to_deque => oldest.iter().for_each(|&old| worker.push(old)),
            _ => core.push_many_home(oldest, class, home),
        }
        c.drain_oldest(k);
        crate::expensive_check!(c.is_valid());
        counters.spilled.bump(k as u64);
        if let Err(entry) = c.push(entry) {
            core.push_home(entry, class, home);
        } else {
            counters.frees.bump(1);
        }
    }

    /// The outbox threshold of `class`: half the class's largest capacity, at most
    /// [`sizing::OUTBOX_MAX`].
    fn outbox_batch(core: &CachedCore, class: SizeClass) -> usize {
        sizing::batch(core.max_capacity(class)).min(sizing::OUTBOX_MAX)
    }

    /// The outboxes' invariant for outbox `i`: it holds fewer entries than its threshold (a full
    /// one is flushed at once) and, once used, has room for a whole batch, so a push never
    /// reallocates, and is listed in `open`, so the scan sees it (an outbox never used is not
    /// listed); the cached threshold is the computed one. Checked under `expensive-checks` after
    /// every push and pop of outbox `i` (foreign frees, allocations elsewhere) and at every
    /// flush.
    fn outbox_valid(&self, core: &CachedCore, slot: &CacheSlot, i: usize) -> bool {
        let Some(b) = self.outboxes.get(i) else { return true };
        let word = &slot.outbox_words[i];
        let Some(class) = SizeClass::from_index(i % MAX_CLASSES) else { return b.limit() == 0 && word.len() == 0 };
        let limit = Self::outbox_batch(core, class);
        let listed = self.open.contains(&i);
        b.is_valid(word, limit) && listed == (b.limit() != 0)
    }

    /// [`PrivateCache::free_slow`] of a segment of another node when nothing but the push is
    /// due: the outbox exists, stays below its threshold and no scan is due. Counts the foreign
    /// free and the slow-path event as `free_slow` does; returns false (nothing done) otherwise,
    /// and `free_slow` takes it. A private push, like a cache hit, so it works in a fork child
    /// too (`crate::fork`); the push that would reach the threshold takes the slow path, which
    /// in a child sends the segment to its pool on its own instead of flushing.
    #[inline]
    fn send_fast(
        &mut self,
        core: &CachedCore,
        slot: &CacheSlot,
        entry: Entry,
        class: SizeClass,
        node_index: NodeIndex,
    ) -> bool {
        if node_index == self.home || self.events + 1 >= sizing::SCAN_INTERVAL {
            return false;
        }
        let i = node_index.get() * MAX_CLASSES + class.index();
        let Some(outbox) = self.outboxes.get_mut(i) else { return false };
        // SAFETY: `outbox_words` and `outboxes` both have `outbox_count(core)` entries:
        // `outbox_words` made with the slot, `outboxes` only ever by `create_outboxes`, both for
        // this slot's core (`last_slot` and `with_slot` match slots to cores by id), whose node
        // count never changes; and `i` indexes `outboxes`.
        let word = unsafe { slot.outbox_words.get_unchecked(i) };
        // SAFETY: outbox `i` and word `i` of the slot this cache lives in (`self` is reached
        // through `slot.private`): a pair.
        let mut outbox = unsafe { OutboxRef::new(outbox, word) };
        // Below the threshold after the push, so no flush is due; an outbox in use has room for
        // its threshold, so the push never reallocates, and one not in use yet has a threshold
        // of 0, so one compare covers both (`outbox`'s invariant). The word counts the foreign
        // free.
        if !outbox.push_below(entry) {
            return false;
        }
        crate::expensive_check!(self.outbox_valid(core, slot, i));
        self.events += 1;
        true
    }

    /// A foreign free: puts `entry` (of `class` on `node_index`, not the home) into the outbox for
    /// its node, a plain push; a full outbox goes home as one batch.
    fn send(&mut self, core: &CachedCore, slot: &CacheSlot, entry: Entry, class: SizeClass, node_index: NodeIndex) {
        self.ensure_outboxes(core);
        let i = node_index.get() * MAX_CLASSES + class.index();
        let limit = self.open_outbox(core, slot, i, class);
        let Some(mut outbox) = self.outbox_ref(slot, i) else {
            // Not reached: `ensure_outboxes` made them. Nothing is lost if it were.
            core.push_home(entry, class, node_index);
            return;
        };
        if outbox.push(entry) >= limit {
            self.flush_outbox(core, slot, i);
        }
        crate::expensive_check!(self.outbox_valid(core, slot, i));
    }

    /// Takes the newest segment of `class` on `node_index` out of the outbox for that node: what
    /// this thread freed there, reused while still warm. An empty outbox first takes up to half
    /// its threshold from the newest end of one pool batch (the rest of the batch goes back),
    /// so an allocation on another node moves a batch per half-outbox, not one per segment.
    fn take_sent(
        &mut self,
        core: &CachedCore,
        slot: &CacheSlot,
        class: SizeClass,
        node_index: NodeIndex,
    ) -> Option<Entry> {
        self.ensure_outboxes(core);
        let i = node_index.get() * MAX_CLASSES + class.index();
        if self.outbox_ref(slot, i)?.len() == 0 {
            let mut batch = core.node(node_index).classes[class.index()].pop_batch()?;
            let limit = self.open_outbox(core, slot, i, class);
            let take = batch.len().min((limit / 2).max(1));
            let from = batch.len() - take;
            self.outbox_ref(slot, i)?.extend(&batch[from..]);
            batch.truncate(from);
            core.push_batch_home(batch, class, node_index);
        }
        self.pop_sent(core, slot, class, node_index)
    }

    /// [`Self::take_sent`]'s common case, for the caller to inline: the newest entry of the
    /// outbox for `node_index`, if that outbox exists and is not empty (no refill).
    #[inline(always)]
    fn pop_sent(
        &mut self,
        core: &CachedCore,
        slot: &CacheSlot,
        class: SizeClass,
        node_index: NodeIndex,
    ) -> Option<Entry> {
        let i = node_index.get() * MAX_CLASSES + class.index();
        let entry = self.outbox_ref(slot, i)?.pop()?;
        crate::expensive_check!(self.outbox_valid(core, slot, i));
        Some(entry)
    }

    /// Creates the (empty, unallocated) outboxes on the thread's first use of another node.
    #[inline]
    fn ensure_outboxes(&mut self, core: &CachedCore) {
        if self.outboxes.is_empty() {
            self.create_outboxes(core);
        }
    }

    #[cold]
    #[inline(never)]
    fn create_outboxes(&mut self, core: &CachedCore) {
        self.outboxes = (0..outbox_count(core)).map(|_| Outbox::default()).collect();
        self.aged = vec![false; self.outboxes.len()].into_boxed_slice();
        self.open = Vec::with_capacity(self.outboxes.len());
    }

    /// Outbox `i` paired with its word in `slot`, the slot this cache lives in (as every
    /// method of `PrivateCache` that takes a slot is given), if the outboxes exist.
    #[inline(always)]
    fn outbox_ref<'a>(&'a mut self, slot: &'a CacheSlot, i: usize) -> Option<OutboxRef<'a>> {
        let (outbox, word) = (self.outboxes.get_mut(i)?, slot.outbox_words.get(i)?);
        // SAFETY: outbox `i` and word `i` of the slot this cache lives in: a pair.
        Some(unsafe { OutboxRef::new(outbox, word) })
    }

    /// Makes sure outbox `i` (of `class`) is in use, with room for its threshold, listing it
    /// for the scan on its first use; returns the threshold (0 if the outboxes do not exist).
    fn open_outbox(&mut self, core: &CachedCore, slot: &CacheSlot, i: usize, class: SizeClass) -> usize {
        let Some(mut outbox) = self.outbox_ref(slot, i) else { return 0 };
        if outbox.limit() != 0 {
            return outbox.limit();
        }
        outbox.reserve(Self::outbox_batch(core, class));
        let limit = outbox.limit();
        self.open.push(i); // never reallocates: room for every outbox
        limit
    }

    /// Sends outbox `i` home as one batch, swapping in a spare vector of that pool.
    fn flush_outbox(&mut self, core: &CachedCore, slot: &CacheSlot, i: usize) {
        let Some(class) = SizeClass::from_index(i % MAX_CLASSES) else { return };
        let node_index = NodeIndex::from_usize(i / MAX_CLASSES);
        let Some(mut outbox) = self.outbox_ref(slot, i).filter(|o| o.len() != 0) else { return };
        let pool = &core.node(node_index).classes[class.index()];
        let next = pool.take_spare().unwrap_or_default();
        // Out of the outbox (for stats: the word's length) as it goes into the pool.
        let full = outbox.take_all(next);
        self.aged[i] = false;
        crate::expensive_check!(self.outbox_valid(core, slot, i));
        core.push_batch_home(full, class, node_index);
    }

    /// Sends every non-empty outbox home (only the ones in use can hold anything).
    fn flush_outboxes(&mut self, core: &CachedCore, slot: &CacheSlot) {
        for k in 0..self.open.len() {
            self.flush_outbox(core, slot, self.open[k]);
        }
    }

    /// Moves every cached entry (stacks and deques) to the home node's pools, and every outbox
    /// to its node's pool.
    fn flush_all(&mut self, core: &CachedCore, slot: &CacheSlot) {
        self.flush_outboxes(core, slot);
        let home = self.home;
        for i in 0..MAX_CLASSES {
            let Some(class) = SizeClass::from_index(i) else { continue };
            let c = &mut self.classes[i];
            let all = c.take_newest(c.len);
            if !all.is_empty() {
                slot.counters[i].spilled.bump(all.len() as u64);
                core.push_many_home(all, class, home);
            }
            if let Some(worker) = c.worker.take() {
                let mut rest = Vec::new();
                while let Some(entry) = worker.pop() {
                    rest.push(entry);
                }
                core.node(home).classes[i].remove_stealer(slot.id);
                core.push_many_home(&rest, class, home);
            }
        }
    }
}

/// The manager's list of live slots, and the counters of slots whose threads exited.
#[derive(Debug)]
pub(crate) struct Registry {
    slots: Mutex<Vec<Arc<CacheSlot>>>,
    next_id: Ids,
    /// By node (the slot's home when it retired) and class: the sums of retired slots' counters.
    retired: Box<[[ClassCounters; MAX_CLASSES]]>,
}

impl Registry {
    pub(crate) fn new(core: usize) -> Self {
        Self {
            slots: Mutex::new(Vec::new()),
            next_id: Ids::new(1),
            retired: (0..core).map(|_| std::array::from_fn(|_| ClassCounters::default())).collect(),
        }
    }

    fn register(&self, core: &CachedCore) -> Arc<CacheSlot> {
        let id = self.next_id.next();
        let home = core.initial_home();
        let slot = Arc::new(CacheSlot::new(core, id, home));
        lock(&self.slots).push(Arc::clone(&slot));
        slot
    }

    fn retire(&self, slot: &CacheSlot) {
        let home = usize::from(slot.home.load(Ordering::Relaxed));
        for (class, sum) in self.retired[home].iter().enumerate() {
            sum.add(&slot.counts(class));
        }
        lock(&self.slots).retain(|s| !ptr::eq(Arc::as_ptr(s), slot));
    }

    /// Marks every slot dead and forgets them (the manager is being dropped).
    pub(crate) fn kill_all(&self) {
        let slots = std::mem::take(&mut *lock(&self.slots));
        for slot in slots {
            slot.kill();
        }
    }

    /// The number of live slots.
    pub(crate) fn live_count(&self) -> usize {
        lock(&self.slots).len()
    }

    /// Live slots (for stats).
    pub(crate) fn live(&self) -> Vec<Arc<CacheSlot>> {
        lock(&self.slots).clone()
    }

    /// Counter sums of every slot homed on `node_index`, live and retired, for one class.
    pub(crate) fn sums(&self, node_index: NodeIndex, class: usize) -> ClassCounts {
        let mut total = self.retired[node_index.get()][class].get();
        for slot in lock(&self.slots).iter().filter(|s| NodeIndex::new(s.home.load(Ordering::Relaxed)) == node_index) {
            total += &slot.counts(class);
        }
        total
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::ClassCache;
    use crate::entry::Entry;

    const fn e(addr: usize) -> Entry {
        Entry::from_bits(addr)
    }

    fn class(cap: usize, max: usize) -> ClassCache {
        ClassCache { cap, max, stack: vec![Entry::VACANT; max].into_boxed_slice(), ..ClassCache::default() }
    }

    #[test]
    fn push_and_pop_keep_len_within_cap() {
        let mut c = class(2, 4);
        assert_eq!(c.push(e(8)), Ok(()));
        assert_eq!(c.push(e(16)), Ok(()));
        assert_eq!(c.push(e(24)), Err(e(24)), "full at its capacity, not at the stack's length");
        assert!(c.is_valid());
        assert_eq!(c.pop(), Some(e(16)));
        assert_eq!(c.pop(), Some(e(8)));
        assert_eq!(c.pop(), None);
        assert!(c.is_valid());
    }

    fn filled(cap: usize, max: usize, n: usize) -> ClassCache {
        let mut c = class(cap, max);
        for i in 1..=n {
            assert_eq!(c.push(e(i * 8)), Ok(()));
        }
        c
    }

    #[test]
    fn take_newest_takes_at_most_len_and_restores_a_shrunk_capacity() {
        let mut c = filled(4, 4, 3);
        assert_eq!(c.take_newest(2), &[e(16), e(24)], "the newest two, oldest first");
        assert_eq!(c.len, 1);
        assert_eq!(c.take_newest(5), &[e(8)], "no more than it holds");
        assert!(c.take_newest(1).is_empty());
        assert!(c.is_valid());
        // A trim: a capacity shrunk below `len`, brought back by taking the excess.
        let mut c = filled(4, 4, 4);
        c.set_cap(2);
        assert!(!c.is_valid());
        assert_eq!(c.take_newest(c.len - 2), &[e(24), e(32)]);
        assert!(c.is_valid());
        assert_eq!(c.pop(), Some(e(16)));
    }

    #[test]
    fn extend_from_slice_stops_at_cap_not_at_the_stack() {
        let mut c = filled(3, 4, 1);
        let batch = [e(100), e(200), e(300)];
        assert_eq!(c.extend_from_slice(&batch), 2, "room for two below cap 3 of 4 slots");
        assert_eq!(c.len, 3);
        assert!(c.is_valid());
        assert_eq!(c.extend_from_slice(&batch), 0, "a full stack takes nothing");
        assert_eq!(c.push(e(400)), Err(e(400)), "push past cap refused after a batch too");
        assert_eq!(c.pop(), Some(e(200)));
        assert_eq!(c.pop(), Some(e(100)));
        // Above a shrunk capacity there is no room, rather than an underflow.
        let mut c = filled(4, 4, 4);
        c.set_cap(2);
        assert_eq!(c.room(), 0);
        assert_eq!(c.extend_from_slice(&batch), 0);
    }

    #[test]
    fn oldest_then_drain_oldest_moves_the_rest_down_in_order() {
        let mut c = filled(4, 4, 4);
        assert_eq!(c.oldest(3), &[e(8), e(16), e(24)]);
        c.drain_oldest(3);
        assert_eq!(c.len, 1);
        assert!(c.is_valid());
        assert_eq!(c.push(e(40)), Ok(()));
        assert_eq!(c.take_newest(2), &[e(32), e(40)]);
        let mut c = filled(4, 4, 2);
        assert_eq!(c.oldest(9).len(), 2, "no more than it holds");
        c.drain_oldest(9);
        assert_eq!((c.len, c.pop()), (0, None));
    }

    #[test]
    fn fill_from_worker_pops_only_what_fits() {
        let mut c = filled(3, 4, 1);
        assert_eq!(c.fill_from_worker(5), 0, "no deque, nothing");
        let worker = crate::sync::deque::Worker::new_lifo();
        for i in 1..=4 {
            worker.push(e(i * 100));
        }
        c.worker = Some(worker);
        assert_eq!(c.fill_from_worker(5), 2, "room for two below cap");
        assert!(c.is_valid());
        assert_eq!(c.worker.as_ref().map(|w| w.len()), Some(2), "what did not fit stays in the deque");
        assert_eq!(c.take_newest(3), &[e(8), e(400), e(300)], "LIFO deque: its newest first");
    }

    #[test]
    fn fill_top_keeps_all_n_or_nothing() {
        let mut c = filled(4, 4, 1);
        assert!(!c.fill_top(4, |_| unreachable!("no room for 4: fill is not called")));
        assert!(!c.fill_top(2, |top| {
            top.copy_from_slice(&[e(1), e(2)]);
            false
        }));
        assert_eq!(c.len, 1, "a refused fill keeps nothing");
        assert!(c.fill_top(3, |top| {
            assert_eq!(top.len(), 3);
            top.copy_from_slice(&[e(16), e(24), e(32)]);
            true
        }));
        assert!(c.is_valid());
        assert_eq!(c.take_newest(4), &[e(8), e(16), e(24), e(32)]);
    }

    #[test]
    fn is_valid_rejects_a_capacity_beyond_the_stack() {
        assert!(class(4, 4).is_valid());
        assert!(!class(5, 4).is_valid(), "cap > stack.len() would let the fast path write past the stack");
        let mut c = class(2, 4);
        c.len = 3;
        assert!(!c.is_valid(), "len > cap");
    }
}
