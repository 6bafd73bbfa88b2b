//! [`MemoryOwner`]: who holds the memory manager's pages and reservations, the accounting that
//! keeps their sum inside the budget, revocation (`release_all`) and leak detection.
//!
//! # What an owner holds
//! Pages borrow their owner (`MemorySegment<'o>` holds `&'o OwnerState`), so no page outlives
//! it: an owner that ends has no live page, only pages somebody forgot (`mem::forget`). It also
//! holds reservations (bytes, no memory behind them) that share the same budget.
//!
//! # Accounting (what must hold)
//! Each owner keeps, in one atomic word, the pages it has **charged** to the manager's budget and
//! a wrapping count of pages it has **allocated**; releases are counted apart, by the owner's
//! *home thread* with plain stores (one writer, no `lock` prefix, as mimalloc's page-local free
//! list) and by any other thread with atomic adds. Pages in use are allocated − released.
//!
//! - **I1** (per owner): pages in use ≤ pages charged. An allocation claims `n` pages with one
//!   compare-and-swap on the word that succeeds only if `allocated − released + n ≤ charged`;
//!   the difference `charged − in use` is the owner's *credit*, taken from the budget in batches
//!   ([`CREDIT_BATCH`]) so that most allocations touch only the owner's own word.
//! - **I2** (manager): the budget's committed bytes ≥ Σ charged × page size + Σ reserved +
//!   shared resources. Credit is charged to the budget before it is added to an owner's word,
//!   and taken off the word (compare-and-swap) before it is given back.
//!
//! Together: pages in use plus reservations never exceed the memory size. Credit is never lost:
//! when the budget refuses, the refused caller takes every owner's credit back
//! ([`OwnerState::trim`]) and tries once more, so an allocation fails only when pages in use
//! plus reservations really leave too little.
//!
//! **Credit on its way back.** Giving back takes bytes off an owner's books first (its word in
//! `trim` and `finish`, its reservation in `release_memory`) and returns them to the budget
//! after (I2). In between they are in neither place: a refused caller cannot reclaim them, yet
//! the budget still counts them, so a page released by `release_all` on one thread could make an
//! allocation on another fail with the page free (found by the loom model
//! `loom-tests/tests/memory_manager.rs`). So each give-back is announced (the manager's
//! `returning` count, up before the bytes leave the books, down after they reached the budget)
//! and a caller that the budget still refuses after its reclaim tries again while one is in
//! progress, yielding in between. Why it sees every give-back it must: one whose bytes left an
//! owner's word before the reclaim read that word was announced before a `Release`
//! compare-and-swap that the reclaim's `Acquire` fence pairs with (`finish` is ordered by the
//! registry's lock instead); if the caller's later read finds the count at zero, the decrement it
//! reads from (`Release`) orders the return to the budget before its next reservation. A
//! give-back announced after that read concerns memory that was still in use when it was made,
//! so the refusal stands. Nothing waits while holding an announcement, so the wait is bounded
//! by the few instructions of a give-back in progress. (A shared resource's reservation goes
//! back after the resource itself was dropped; until then its memory counts as in use.)
//!
//! **Why a stale count of releases is safe.** Readers of the release counters may see an older
//! value, which only over-states pages in use: an allocation then asks for more credit than it
//! needs and a trim takes back less than it could. It can never under-state them: a release that
//! is seen was counted with `Release` ordering after its page's allocation (the page reached the
//! releasing thread through some synchronisation), the reader loads it with `Acquire`, and the
//! compare-and-swap that acts on the word reads that word's latest value, which therefore
//! includes the allocation.
//!
//! # Revocation
//! `release_all` bumps the owner's epoch. A page remembers the epoch it was allocated in; every
//! access compares the two first (before any bounds check) and a page of an older epoch is
//! refused with [`SegmentError::Released`](crate::SegmentError::Released). The memory itself stays
//! with the handle until it is dropped — that is what lets `release_all` run while other threads
//! still hold or release the owner's pages without any page being freed twice or reached after it
//! went back to the allocator.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use numa::NodeId;

use super::Shared;
use crate::ArenaManager;
use crate::config::ByteSize;
use crate::entry::NodeIndex;
use crate::manager::UseCase;
use crate::prometheus::counters;
use crate::size_class::SizeClass;
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::stat::{Hint, Ids};
use crate::sync::thread_local;

/// Pages of credit an owner takes from the budget beyond what an allocation needs, so that the
/// next allocations (up to this many pages) touch only the owner's own word. 32 pages is 1 MiB
/// at the default page size: small next to any useful budget, large enough that a page-by-page
/// user goes to the shared budget once per 32 pages. One page under loom, so that a model's
/// budget of a few pages reaches the batch, the credit and the reclaim paths.
pub(crate) const CREDIT_BATCH: u32 = if cfg!(loom) { 1 } else { 32 };

/// Credit above this many pages goes back to the budget after a bulk release.
pub(crate) const CREDIT_KEEP: u32 = 2 * CREDIT_BATCH;

/// Unique thread ids, never reused (0: none). A number dispenser, not part of any protocol.
static NEXT_THREAD_ID: Ids = Ids::new(1);

// The calling thread's id for the home-thread check: a `const` cell without destructor, so a
// read is one thread-local load.
#[cfg(not(loom))]
thread_local! {
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
}

#[cfg(loom)]
thread_local! {
    static THREAD_ID: Cell<u64> = Cell::new(0);
}

/// The calling thread's id (never 0 and never reused; 0 while the thread is being torn down).
#[inline]
pub(crate) fn current_thread() -> u64 {
    THREAD_ID
        .try_with(|id| match id.get() {
            0 => assign_thread_id(id),
            known => known,
        })
        .unwrap_or(0)
}

#[cold]
fn assign_thread_id(cell: &Cell<u64>) -> u64 {
    let id = NEXT_THREAD_ID.next();
    cell.set(id);
    id
}

/// The owner's word: pages charged (high half) and pages allocated, wrapping (low half).
#[inline]
const fn pack(charged: u32, allocated: u32) -> u64 {
    ((charged as u64) << 32) | allocated as u64
}

#[inline]
#[expect(clippy::cast_possible_truncation, reason = "splits the word into its two halves")]
const fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// The low 32 bits of a release count, to subtract from the wrapping allocation count.
#[inline]
#[expect(clippy::cast_possible_truncation, reason = "both counts wrap at 32 bits")]
const fn low(count: u64) -> u32 {
    count as u32
}

counters! {
    /// Pages allocated and released on one node (by the allocator's node index) by one writer
    /// class. Statistics only: their difference, summed over owners, is each node's
    /// `ManagerNodeStats::used_pages`, so no row is a metric of its own.
    #[derive(Debug, Default)]
    pub(crate) struct PageCounters => PageCounts, splice page_counters {
        [
            /// Pages handed out on the node.
            allocated,
            /// Pages of the node released.
            released,
        ]
    }
}

counters! {
    /// An owner's statistics counters (any thread adds); each row is also its `OwnerStats` field
    /// and metric.
    #[derive(Debug, Default)]
    pub(crate) struct OwnerCounters => OwnerCounts, splice owner_counters {
        /// Its `release_all` calls.
        revocations => revocations (counter "numaseg_mm_owner_revocations_total" "release_all calls on the owner."),
    }
}

/// Release counts of one writer class: the home thread (plain stores) or everyone else (atomic
/// adds).
///
/// Hand-written, not a `counters!` table: `released` is a word of the accounting protocol (its
/// `Release` stores pair with the `Acquire` loads that I1 relies on, and the loom model
/// `owner_pages` checks it), not a statistic, so it stays a loom-visible `AtomicU64`; only the
/// per-node statistics beside it come from a table.
#[derive(Debug)]
struct Counters {
    /// Pages released, monotonic. `Release` stores; read with `Acquire` (module docs).
    released: AtomicU64,
    nodes: Box<[PageCounters]>,
}

impl Counters {
    fn new(nodes: usize) -> Self {
        Self { released: AtomicU64::new(0), nodes: (0..nodes).map(|_| PageCounters::default()).collect() }
    }
}

/// What every page access reads: kept apart from the counters that allocations and releases
/// write, so that those writes do not evict it from other threads' caches.
#[derive(Debug)]
pub(crate) struct Hot {
    /// Bumped by `release_all`; a page of an older epoch is revoked.
    pub(crate) epoch: AtomicU64,
    /// The page size in bytes.
    pub(crate) page_size: usize,
    /// The page size's class.
    pub(crate) class: SizeClass,
    /// The thread whose releases are counted with plain stores. Changed only through
    /// `&mut MemoryOwner` (no page and no other thread can be using the owner then).
    home_thread: Hint,
    /// The allocator (kept alive by every owner, so by every page).
    pub(crate) arena: Arc<ArenaManager>,
}

/// An owner's shared state (behind an `Arc`: its [`MemoryOwner`] handle and the manager's
/// registry hold it).
pub(crate) struct OwnerState {
    pub(crate) hot: CachePadded<Hot>,
    /// `pack(charged, allocated)`.
    word: CachePadded<AtomicU64>,
    home: CachePadded<Counters>,
    remote: CachePadded<Counters>,
    /// Bytes reserved.
    reserved: AtomicUsize,
    pub(crate) counters: OwnerCounters,
    closed: AtomicBool,
    pub(crate) id: u64,
    pub(crate) name: Box<str>,
    pub(crate) use_case: UseCase,
    /// The node the owner is bound to, with its node index.
    pub(crate) node: Option<(NodeId, NodeIndex)>,
    pub(crate) manager: Arc<Shared>,
}

impl fmt::Debug for OwnerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerState")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("use_case", &self.use_case)
            .field("node", &self.node.map(|(n, _)| n))
            .field("pages", &self.pages_in_use())
            .field("reserved", &self.reserved.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What an owner still held when it ended (also logged, and counted in the stats, when not
/// clean).
///
/// ```
/// # use std::sync::Arc;
/// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
/// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
/// let owner = mm.owner("cache", UseCase::StateBackend);
/// mm.reserve_memory(&owner, 4096)?;
/// let report = owner.close();
/// assert_eq!((report.name.as_str(), report.pages, report.reserved_bytes), ("cache", 0, 4096));
/// assert!(report.to_string().ends_with("ended with 0 pages (0) and 4096 bytes (4KiB) reserved outstanding"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerReport {
    /// The owner's id.
    pub id: u64,
    /// The owner's name.
    pub name: String,
    /// Its use case.
    pub use_case: UseCase,
    /// Pages never released (only pages forgotten with `mem::forget` can outlive their owner).
    /// Their budget was reclaimed; their memory stays with the allocator, as a forgotten
    /// [`Segment`](crate::Segment)'s does.
    pub pages: usize,
    /// The bytes of those pages.
    pub page_bytes: usize,
    /// Bytes still reserved, now given back.
    pub reserved_bytes: usize,
}

impl OwnerReport {
    /// Whether the owner had released everything.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("tidy", UseCase::Operator);
    /// drop(mm.allocate_pages(&owner, 4)?);
    /// assert!(owner.close().is_clean());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.pages == 0 && self.reserved_bytes == 0
    }
}

impl fmt::Display for OwnerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory owner \"{}\" (#{}, {}) ended with {} pages ({}) and {} bytes ({}) reserved outstanding",
            self.name,
            self.id,
            self.use_case,
            self.pages,
            ByteSize(self.page_bytes as u64),
            self.reserved_bytes,
            ByteSize(self.reserved_bytes as u64)
        )
    }
}

impl OwnerState {
    pub(crate) fn new(
        manager: &Arc<Shared>,
        id: u64,
        name: &str,
        use_case: UseCase,
        node: Option<(NodeId, NodeIndex)>,
    ) -> Self {
        let nodes = manager.arena.nodes().len();
        Self {
            hot: CachePadded::new(Hot {
                epoch: AtomicU64::new(0),
                page_size: manager.page_size,
                class: manager.class,
                home_thread: Hint::new(current_thread()),
                arena: Arc::clone(&manager.arena),
            }),
            word: CachePadded::new(AtomicU64::new(0)),
            home: CachePadded::new(Counters::new(nodes)),
            remote: CachePadded::new(Counters::new(nodes)),
            reserved: AtomicUsize::new(0),
            counters: OwnerCounters::default(),
            closed: AtomicBool::new(false),
            id,
            name: name.into(),
            use_case,
            node,
            manager: Arc::clone(manager),
        }
    }

    /// Whether the calling thread is the owner's home thread.
    #[inline]
    fn is_home(&self) -> bool {
        current_thread() == self.hot.home_thread.get()
    }

    /// Pages released so far (possibly an older value; see the module docs).
    #[inline]
    fn released(&self) -> u64 {
        // Acquire: pairs with the Release in `count_released`, so that a release seen here has
        // its allocation in the word that a later compare-and-swap reads.
        self.home.released.load(Ordering::Acquire).wrapping_add(self.remote.released.load(Ordering::Acquire))
    }

    /// Pages in use now (exact when no allocation or release runs concurrently).
    pub(crate) fn pages_in_use(&self) -> usize {
        let released = self.released();
        let (_, allocated) = unpack(self.word.load(Ordering::Acquire));
        let in_use = allocated.wrapping_sub(low(released));
        // A racing reader can see a release before its allocation's count; never report that
        // as a huge number (counts are below 2^31 pages).
        if in_use > i32::MAX as u32 { 0 } else { in_use as usize }
    }

    /// Credit: pages charged but not in use.
    pub(crate) fn credit_pages(&self) -> usize {
        let (charged, _) = unpack(self.word.load(Ordering::Relaxed));
        (charged as usize).saturating_sub(self.pages_in_use())
    }

    /// Bytes reserved now.
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.reserved.load(Ordering::Relaxed)
    }

    /// Pages in use on each node (by node index).
    pub(crate) fn pages_per_node(&self) -> Vec<u64> {
        self.home
            .nodes
            .iter()
            .zip(self.remote.nodes.iter())
            .map(|(home, remote)| {
                let mut pages = home.get();
                pages += &remote.get();
                pages.allocated.saturating_sub(pages.released)
            })
            .collect()
    }

    /// Claims `n` pages from the owner's credit (I1) with one compare-and-swap; `false` when the
    /// credit is short or another thread claimed meanwhile (then [`charge`](Self::charge)).
    #[inline]
    pub(crate) fn try_claim(&self, n: u32) -> bool {
        let current = self.word.load(Ordering::Relaxed);
        let released = self.released();
        let (charged, allocated) = unpack(current);
        let in_use = allocated.wrapping_sub(low(released));
        in_use.checked_add(n).is_some_and(|needed| needed <= charged)
            // Relaxed: as in `charge`.
            && self
                .word
                .compare_exchange(current, pack(charged, allocated.wrapping_add(n)), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Claims `n` pages (I1), charging more credit from the budget when the owner has too
    /// little. `Err(())` when the budget cannot hold them even after every owner's credit was
    /// taken back; nothing is claimed (or kept) then.
    ///
    /// Pages charged for this claim are *held* by the call until the compare-and-swap that
    /// claims them also puts them on the word, so no concurrent credit reclaim can take them
    /// away in between: the call takes back other owners' credit at most once, and ends.
    #[cold]
    pub(crate) fn charge(&self, n: u32) -> Result<(), ()> {
        let page_size = self.hot.page_size;
        let budget = &self.manager.budget;
        let bytes = |pages: u32| (pages as usize).checked_mul(page_size);
        let mut held: u32 = 0;
        let mut reclaimed = false;
        let mut current = self.word.load(Ordering::Relaxed);
        let give_back = |held: u32| budget.release(held as usize * page_size);
        loop {
            // Read before this round's reservations (module docs, "Credit on its way back").
            let returns_pending = reclaimed && self.manager.returns_pending();
            let released = self.released();
            let (charged, allocated) = unpack(current);
            let in_use = allocated.wrapping_sub(low(released));
            let (Some(needed), Some(available)) = (in_use.checked_add(n), charged.checked_add(held)) else {
                give_back(held);
                return Err(());
            };
            if needed <= available {
                let next = pack(available, allocated.wrapping_add(n));
                // Relaxed: the word guards no other memory; the compare-and-swap alone keeps
                // claims within the charge (and reads the word's latest value, module docs).
                match self.word.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return Ok(()),
                    Err(seen) => {
                        current = seen;
                        continue;
                    }
                }
            }
            let short = needed - available;
            // The budget holds the pages (I2) before any word says so.
            let batch = short.saturating_add(CREDIT_BATCH);
            if let Some(b) = bytes(batch)
                && budget.try_reserve(b).is_ok()
            {
                held += batch;
            } else if let Some(b) = bytes(short)
                && budget.try_reserve(b).is_ok()
            {
                held += short;
            } else if !reclaimed {
                // Other owners' idle credit (and ours) back to the budget, once.
                reclaimed = true;
                self.manager.reclaim_credit();
                current = self.word.load(Ordering::Relaxed);
            } else if returns_pending {
                // Credit or a reservation on its way back to the budget: wait for it to land
                // rather than refuse because memory is being given back.
                crate::sync::thread::yield_now();
                current = self.word.load(Ordering::Relaxed);
            } else {
                give_back(held);
                return Err(());
            }
        }
    }

    /// Takes back a claim of `n` pages whose allocation failed (none of them was handed out).
    pub(crate) fn uncharge(&self, n: u32) {
        let mut current = self.word.load(Ordering::Relaxed);
        loop {
            let (charged, allocated) = unpack(current);
            let next = pack(charged, allocated.wrapping_sub(n));
            match self.word.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Gives credit above `keep` pages back to the budget; returns the pages given back.
    pub(crate) fn trim(&self, keep: u32) -> u32 {
        let mut current = self.word.load(Ordering::Relaxed);
        let mut giving_back = None;
        loop {
            let released = self.released();
            let (charged, allocated) = unpack(current);
            let in_use = allocated.wrapping_sub(low(released));
            let target = in_use.saturating_add(keep);
            if target >= charged {
                return 0;
            }
            // Announced before the credit leaves the word, withdrawn after it reached the
            // budget (module docs, "Credit on its way back").
            giving_back.get_or_insert_with(|| self.manager.giving_back());
            // Release on success: pairs with the Acquire fence in `Shared::reclaim_credit`, so a
            // reclaim that reads this word also sees the announcement above. Otherwise Relaxed,
            // as in `charge`: the compare-and-swap fails if anything was claimed since `current`
            // was read, so `in_use` still bounds the pages in use (module docs).
            match self.word.compare_exchange_weak(
                current,
                pack(target, allocated),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let freed = charged - target;
                    // Off the word first, then back to the budget (I2).
                    self.manager.budget.release(freed as usize * self.hot.page_size);
                    return freed;
                }
                Err(seen) => current = seen,
            }
        }
    }

    /// Counts `n` pages handed out on node `node_index` (statistics).
    #[inline]
    pub(crate) fn count_allocated(&self, node_index: NodeIndex, n: u64) {
        if self.is_home() {
            self.home.nodes[node_index.get()].allocated.bump(n);
        } else {
            self.remote.nodes[node_index.get()].allocated.add(n);
        }
    }

    /// Counts `n` pages of node `node_index` released (their memory is already back).
    #[inline]
    pub(crate) fn count_released(&self, node_index: NodeIndex, n: u64) {
        if self.is_home() {
            self.home.nodes[node_index.get()].released.bump(n);
            let released = &self.home.released;
            // Release: publishes the release after the page's allocation (module docs). Only the
            // home thread writes this counter, so load + store loses nothing.
            released.store(released.load(Ordering::Relaxed).wrapping_add(n), Ordering::Release);
        } else {
            self.remote.nodes[node_index.get()].released.add(n);
            // Release: as above.
            self.remote.released.fetch_add(n, Ordering::Release);
        }
    }

    /// Revokes every page handed out so far and gives the owner's credit back.
    pub(crate) fn revoke_all(&self) {
        // Release: a thread that sees the new epoch also sees everything before `release_all`.
        self.hot.epoch.fetch_add(1, Ordering::Release);
        self.counters.revocations.add(1);
        self.trim(0);
    }

    /// Adds `bytes` to the reservation (the budget already holds them).
    pub(crate) fn add_reserved(&self, bytes: usize) {
        self.reserved.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Takes up to `bytes` off the reservation; returns what was taken (to give back).
    pub(crate) fn take_reserved(&self, bytes: usize) -> usize {
        let mut current = self.reserved.load(Ordering::Relaxed);
        loop {
            let take = current.min(bytes);
            match self.reserved.compare_exchange_weak(current, current - take, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return take,
                Err(seen) => current = seen,
            }
        }
    }

    /// Takes the whole reservation off; returns it (to give back).
    pub(crate) fn take_all_reserved(&self) -> usize {
        self.reserved.swap(0, Ordering::Relaxed)
    }

    /// Ends the owner: unregisters it, gives its charge and reservation back and reports (and
    /// logs) anything still outstanding. Runs once; later calls return `None`.
    fn finish(&self) -> Option<OwnerReport> {
        if self.closed.swap(true, Ordering::Relaxed) {
            return None;
        }
        // Announced before the owner leaves the registry: a credit reclaim that no longer finds
        // it (the registry's lock orders the two) waits for its charge to reach the budget.
        let _giving_back = self.manager.giving_back();
        // After this nobody else reaches the state: the registry's walkers hold its lock.
        self.manager.unregister(self.id);
        let pages = self.pages_in_use();
        let reserved_bytes = self.take_all_reserved();
        let (charged, _) = unpack(self.word.swap(0, Ordering::Relaxed));
        let page_size = self.hot.page_size;
        self.manager.budget.release((charged as usize * page_size).saturating_add(reserved_bytes));
        let report = OwnerReport {
            id: self.id,
            name: self.name.to_string(),
            use_case: self.use_case,
            pages,
            page_bytes: pages * page_size,
            reserved_bytes,
        };
        if !report.is_clean() {
            self.manager.count_leak(&report);
            tracing::warn!(target: "numaseg", "{report}: reclaimed");
        }
        Some(report)
    }
}

/// An owner of the memory manager's pages and reservations (Flink's "owner" object): pages
/// borrow it, [`release_all`](crate::MemoryManager::release_all) revokes them all, and when it
/// ends ([`close`](Self::close) or drop) whatever it still held is logged with the numbers and
/// reclaimed.
///
/// The thread that creates an owner is its *home thread*: its releases are counted with plain
/// stores; releases on other threads take one atomic add. [`make_home`](Self::make_home) moves
/// the home to the calling thread.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
/// let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
/// let owner = mm.owner("sorter", UseCase::Operator);
/// let pages = mm.allocate_pages(&owner, 8)?;
/// mm.reserve_memory(&owner, 1 << 20)?;
/// assert_eq!((owner.pages(), owner.reserved_bytes()), (8, 1 << 20));
/// drop(pages);
/// let report = owner.close(); // the reservation was still there: logged and reclaimed
/// assert_eq!((report.pages, report.reserved_bytes), (0, 1 << 20));
/// assert!(mm.verify_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MemoryOwner {
    state: Arc<OwnerState>,
}

impl fmt::Debug for MemoryOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.fmt(f)
    }
}

impl MemoryOwner {
    pub(crate) fn new(state: Arc<OwnerState>) -> Self {
        Self { state }
    }

    pub(crate) fn state(&self) -> &OwnerState {
        &self.state
    }

    /// The name given at creation.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// assert_eq!(mm.owner("join", UseCase::Operator).name(), "join");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// A number unique within its manager (names need not be unique).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let (a, b) = (mm.owner("x", UseCase::Operator), mm.owner("x", UseCase::Operator));
    /// assert_ne!(a.id(), b.id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn id(&self) -> u64 {
        self.state.id
    }

    /// The use case it belongs to.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// assert_eq!(mm.owner("rocks", UseCase::StateBackend).use_case(), UseCase::StateBackend);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn use_case(&self) -> UseCase {
        self.state.use_case
    }

    /// The node its pages come from, if it is bound to one (else: the allocating thread's).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase, numa::NodeId};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 2)?))?;
    /// let owner = mm.owner_on("probe", UseCase::Operator, NodeId::new(1))?;
    /// assert_eq!(owner.node(), Some(NodeId::new(1)));
    /// assert_eq!(mm.owner("free", UseCase::Operator).node(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn node(&self) -> Option<NodeId> {
        self.state.node.map(|(node, _)| node)
    }

    /// Pages it holds now, revoked ones included until they are dropped.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("count", UseCase::Operator);
    /// let pages = mm.allocate_pages(&owner, 3)?;
    /// assert_eq!(owner.pages(), 3);
    /// mm.release_many(pages);
    /// assert_eq!(owner.pages(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn pages(&self) -> usize {
        self.state.pages_in_use()
    }

    /// Bytes it has reserved now.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("cache", UseCase::StateBackend);
    /// mm.reserve_memory(&owner, 4096)?;
    /// assert_eq!(owner.reserved_bytes(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn reserved_bytes(&self) -> usize {
        self.state.reserved_bytes()
    }

    /// Makes the calling thread the owner's home thread, whose releases need no atomic
    /// read-modify-write. `&mut self` proves that no page of the owner exists (pages borrow it)
    /// and that no other thread is using it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("worker", UseCase::Operator);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let mut owner = owner; // moved to the worker thread
    ///         owner.make_home();
    ///         let pages = mm.allocate_pages(&owner, 2).unwrap();
    ///         drop(pages); // counted with plain stores
    ///     });
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn make_home(&mut self) {
        self.state.hot.home_thread.set(current_thread());
    }

    /// Ends the owner now and reports what it still held (also logged when not clean, with the
    /// numbers); its budget is reclaimed. Dropping the owner does the same without the report.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("leaky", UseCase::Operator);
    /// let mut pages = mm.allocate_pages(&owner, 2)?;
    /// std::mem::forget(pages.pop()); // a page that will never be released
    /// drop(pages);
    /// let report = owner.close();
    /// assert_eq!((report.pages, report.page_bytes), (1, mm.page_size()));
    /// assert_eq!(mm.available_memory(), mm.memory_size()); // its budget came back
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Nothing can use an owner, or its pages, after it ended: pages borrow it, and ending it
    /// takes it by value.
    ///
    /// ```compile_fail,E0505
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("ended", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// let report = owner.close(); // error[E0505]: cannot move out of `owner` because it is borrowed
    /// page.get_u8(0)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// ```compile_fail,E0382
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("ended", UseCase::Operator);
    /// let report = owner.close();
    /// mm.allocate_page(&owner)?; // error[E0382]: borrow of moved value: `owner`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "the report says what the owner still held"]
    pub fn close(self) -> OwnerReport {
        let report = self.state.finish();
        report.unwrap_or_else(|| unreachable!("an owner is finished only by its close or drop"))
    }
}

impl Drop for MemoryOwner {
    fn drop(&mut self) {
        let _ = self.state.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_packs_and_unpacks() {
        for (charged, allocated) in [(0, 0), (1, 2), (u32::MAX, 0), (0, u32::MAX), (u32::MAX, u32::MAX)] {
            assert_eq!(unpack(pack(charged, allocated)), (charged, allocated));
        }
        // Adding to the charge never disturbs the allocation count.
        let w = pack(5, u32::MAX);
        assert_eq!(unpack(w + (3u64 << 32)), (8, u32::MAX));
        assert_eq!(low(u64::from(u32::MAX) + 5), 4);
    }

    #[test]
    fn thread_ids_are_unique_and_stable() {
        let here = current_thread();
        assert_ne!(here, 0);
        assert_eq!(current_thread(), here);
        let there = std::thread::spawn(current_thread).join().unwrap();
        assert_ne!(there, here);
        assert_ne!(there, 0);
    }
}
