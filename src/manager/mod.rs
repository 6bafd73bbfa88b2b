//! [`MemoryManager`]: Flink's managed-memory contract on the allocator core — pages of one size
//! handed to owners from one budget, reservations in the same budget, shared resources per use
//! case, revocation of an owner's pages, leak detection, usage stats. `docs/MEMORY_MANAGER.md`
//! maps Flink's methods to these and says where they differ.
//!
//! ```
//! use std::sync::Arc;
//! use numaseg::{ArenaManager, Config};
//! use numaseg::manager::{MemoryManager, UseCase};
//! let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
//! let owner = mm.owner("example", UseCase::Operator);
//! let pages = mm.allocate_pages(&owner, 16)?;
//! assert_eq!(mm.available_memory(), mm.memory_size() - 16 * mm.page_size());
//! drop(pages);
//! assert!(mm.verify_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This module owns the manager's shared state (`Shared`): its budget, the registry of owners,
//! the page paths (allocation through the allocator's thread cache, in bulk where it can; release
//! back to it) and the fractions. What must hold:
//!
//! - **Budget.** Pages in use plus reservations plus shared resources never exceed
//!   [`MemoryManager::memory_size`] (invariants I1 and I2 in `owner.rs`); an allocation or a
//!   reservation is refused only when they would.
//! - **All or nothing.** A refused `allocate_pages` takes nothing, from the budget or from the
//!   allocator.
//! - **Memory goes back exactly once, and only when unreachable.** A page's memory goes back to
//!   the allocator only when its handle is dropped (or released, which consumes it); handles are
//!   not `Clone`; `release_all` revokes instead of freeing (see `owner.rs`).
//! - **No page outlives the allocator.** A page borrows its owner, the owner keeps the manager's
//!   state alive, and that keeps the [`ArenaManager`] alive.
//!
//! The page path costs one compare-and-swap on the owner's own word per allocation call (not per
//! page) and, on the owner's home thread, no atomic read-modify-write per release: no `Arc`
//! clone, no lock, no shared counter per page.

mod memory_segment;
mod owned;
mod owner;
mod shared;
mod stats;
mod use_case;

pub use memory_segment::MemorySegment;
pub use owned::OwnedMemorySegment;
pub use owner::{MemoryOwner, OwnerReport};
pub use shared::SharedResource;
pub use stats::{ManagerNodeStats, MemoryManagerStats, OwnerStats, UseCaseStats};

pub use use_case::{UseCase, UseCaseWeights};

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use numa::NodeId;

use self::owner::OwnerState;
use crate::ArenaManager;
use crate::config::{ConfigError, MemoryAmount, NodePolicy, VARS};
use crate::entry::{Entry, NodeIndex};
use crate::error::{AllocError, BuildError, MemoryError};
use crate::prometheus::counters;
use crate::segment::{RawSegment, SegmentMeta};
use crate::size_class::{MIN_SEGMENT_SIZE, SizeClass};
use crate::sync::atomic::{AtomicUsize, Ordering, fence};
use crate::sync::budget::Budget;
use crate::sync::stat::Ids;
use crate::sync::{Mutex, lock, thread, thread_local};

/// The most pages a manager holds: owners count pages in 32-bit halves of one word, and the
/// difference of two wrapping counts is meaningful below 2^31 (Flink has the same limit).
///
/// ```
/// use numaseg::manager::MAX_PAGES;
/// assert_eq!(MAX_PAGES, (1 << 31) - 1); // 8 TiB of 4 KiB pages
/// ```
pub const MAX_PAGES: usize = i32::MAX as usize;

/// Page handles a bulk allocation sizes its vectors for up front, at most: more than any thread
/// cache holds (so a bulk the cache serves needs one reservation), few enough that the vector of
/// a bulk the allocator cannot serve costs nothing worth mentioning (2 MiB of handles).
const BULK_RESERVE: usize = 1 << 16;

/// Unique manager ids (owners name their manager by it). A number dispenser.
static NEXT_MANAGER_ID: Ids = Ids::new(1);

// A per-thread scratch vector for the entries of bulk allocations and releases, so the page path
// allocates no heap memory of its own.
#[cfg(not(loom))]
thread_local! {
    static SCRATCH: Cell<Vec<Entry>> = const { Cell::new(Vec::new()) };
}

#[cfg(loom)]
thread_local! {
    static SCRATCH: Cell<Vec<Entry>> = Cell::new(Vec::new());
}

/// Runs `f` with the calling thread's scratch vector (empty), or a fresh one while the thread is
/// being torn down.
fn with_scratch<R>(f: impl FnOnce(&mut Vec<Entry>) -> R) -> R {
    let mut scratch = SCRATCH.try_with(Cell::take).unwrap_or_default();
    scratch.clear();
    let result = f(&mut scratch);
    scratch.clear();
    let _ = SCRATCH.try_with(|cell| cell.set(scratch));
    result
}

counters! {
    /// Counters of the manager's slow paths (statistics, any thread adds); each row is also its
    /// `MemoryManagerStats` field and metric.
    #[derive(Debug, Default)]
    pub(crate) struct Counters => CounterValues, splice manager_counters {
        /// Page allocations refused (budget or allocator).
        allocation_failures => allocation_failures
            (counter "numaseg_mm_allocation_failures_total" "Page allocations refused."),
        /// Reservations refused.
        reservation_failures => reservation_failures
            (counter "numaseg_mm_reservation_failures_total" "Reservations refused."),
        /// `release_all` calls.
        release_all_calls => release_all_calls (counter "numaseg_mm_release_all_total" "release_all calls."),
        /// Times a refused request took every owner's credit back.
        credit_reclaims => credit_reclaims
            (counter "numaseg_mm_credit_reclaims_total" "Refused requests that took every owner's credit back."),
        /// Owners that ended with pages or reservations outstanding.
        leaked_owners => leaked_owners
            (counter "numaseg_mm_leaked_owners_total" "Owners that ended with pages or reservations outstanding."),
        /// Pages those owners had not released.
        leaked_pages => leaked_pages (counter "numaseg_mm_leaked_pages_total" "Pages those owners had not released."),
        /// Bytes those owners had still reserved.
        leaked_reserved_bytes => leaked_reserved_bytes
            (counter "numaseg_mm_leaked_reserved_bytes_total" "Bytes those owners had still reserved."),
    }
}

/// The state every handle of one manager shares: its owners, its pages' owners and its shared
/// resources keep it alive.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) arena: Arc<ArenaManager>,
    pub(crate) memory_size: usize,
    pub(crate) page_size: usize,
    pub(crate) class: SizeClass,
    pub(crate) total_pages: usize,
    /// Bytes charged to owners (as pages), reserved, or held by shared resources (I2).
    pub(crate) budget: Budget,
    pub(crate) weights: UseCaseWeights,
    /// Every live owner, by id. Walked by credit reclaim and stats; locked after the shared
    /// resources' lock, never before.
    owners: Mutex<BTreeMap<u64, Arc<OwnerState>>>,
    next_owner: Ids,
    pub(crate) shared: shared::Resources,
    pub(crate) counters: Counters,
    /// Give-backs in progress: bytes off an owner's books and not yet back in the budget
    /// (`owner.rs`, "Credit on its way back").
    returning: AtomicUsize,
}

/// A give-back in progress, announced for as long as it lives (`Shared::giving_back`).
pub(crate) struct GivingBack<'a>(&'a Shared);

impl Drop for GivingBack<'_> {
    fn drop(&mut self) {
        // Release: the bytes reached the budget before this; pairs with the Acquire in
        // `returns_pending`.
        self.0.returning.fetch_sub(1, Ordering::Release);
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryManager")
            .field("id", &self.id)
            .field("memory_size", &self.memory_size)
            .field("page_size", &self.page_size)
            .field("committed", &self.budget.committed())
            .field("weights", &self.weights.to_string())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Reserves `bytes` in the budget, taking every owner's credit back once if it refuses (and
    /// waiting for give-backs in progress before it refuses, `owner.rs`).
    pub(crate) fn reserve_bytes(&self, bytes: usize) -> Result<(), MemoryError> {
        if self.budget.try_reserve(bytes).is_ok() {
            return Ok(());
        }
        self.reclaim_credit();
        loop {
            // Read before the reservation (`owner.rs`, "Credit on its way back").
            let returns_pending = self.returns_pending();
            if self.budget.try_reserve(bytes).is_ok() {
                return Ok(());
            }
            if !returns_pending {
                break;
            }
            thread::yield_now();
        }
        self.counters.reservation_failures.add(1);
        Err(MemoryError::ReservationRefused {
            owner: String::new(),
            requested: bytes,
            available: self.available_bytes(),
            total: self.memory_size,
        })
    }

    /// Takes every owner's credit back into the budget.
    pub(crate) fn reclaim_credit(&self) {
        self.counters.credit_reclaims.add(1);
        for owner in lock(&self.owners).values() {
            owner.trim(0);
        }
        // Acquire: pairs with the Release compare-and-swap in `trim` on any word read above, so
        // a give-back that took credit off it is seen announced (`owner.rs`).
        fence(Ordering::Acquire);
    }

    /// Announces a give-back: bytes about to leave an owner's books for the budget. The
    /// announcement lasts as long as the guard, which never waits for anything while it lives.
    pub(crate) fn giving_back(&self) -> GivingBack<'_> {
        // Relaxed: what orders it is the Release that follows it (`trim`'s compare-and-swap,
        // the registry's lock in `finish`, the guard's own decrement).
        self.returning.fetch_add(1, Ordering::Relaxed);
        GivingBack(self)
    }

    /// Whether a give-back is in progress.
    pub(crate) fn returns_pending(&self) -> bool {
        // Acquire: pairs with the Release in `GivingBack::drop`, so that a give-back seen finished
        // has its bytes in the budget for the reservation that follows this read.
        self.returning.load(Ordering::Acquire) != 0
    }

    /// Registers a new owner.
    fn register(self: &Arc<Self>, name: &str, use_case: UseCase, node: Option<(NodeId, NodeIndex)>) -> MemoryOwner {
        let id = self.next_owner.next();
        let state = Arc::new(OwnerState::new(self, id, name, use_case, node));
        lock(&self.owners).insert(id, Arc::clone(&state));
        MemoryOwner::new(state)
    }

    /// Forgets an owner that ended.
    pub(crate) fn unregister(&self, id: u64) {
        lock(&self.owners).remove(&id);
    }

    /// Counts an owner that ended with something outstanding.
    pub(crate) fn count_leak(&self, report: &OwnerReport) {
        let c = &self.counters;
        c.leaked_owners.add(1);
        c.leaked_pages.add(report.pages as u64);
        c.leaked_reserved_bytes.add(report.reserved_bytes as u64);
    }

    /// The live owners, by id.
    pub(crate) fn owners(&self) -> Vec<Arc<OwnerState>> {
        lock(&self.owners).values().cloned().collect()
    }

    /// Bytes in use: pages in use, reservations, shared resources (exact when quiescent).
    pub(crate) fn used_bytes(&self) -> usize {
        let owners: usize = self.owners().iter().map(|o| o.pages_in_use() * self.page_size + o.reserved_bytes()).sum();
        owners + self.shared.total_bytes()
    }

    /// Bytes available: the memory size less what is in use.
    pub(crate) fn available_bytes(&self) -> usize {
        self.memory_size.saturating_sub(self.used_bytes())
    }

    /// `fraction` of the memory size, after checking that it is in (0, 1].
    pub(crate) fn memory_for(&self, fraction: f64) -> Result<usize, MemoryError> {
        check_fraction(fraction)?;
        Ok(floor_fraction(self.memory_size, fraction))
    }
}

fn check_fraction(fraction: f64) -> Result<(), MemoryError> {
    if fraction > 0.0 && fraction <= 1.0 { Ok(()) } else { Err(MemoryError::BadFraction { fraction }) }
}

/// `⌊amount × fraction⌋` for a fraction in (0, 1], never above `amount`. The cap is taken after
/// the conversion back: above 2^53 `amount as f64` may round up, so a cap in `f64` could let
/// `compute_memory_size(1.0)` exceed the memory size.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "a fraction in (0, 1] of a usize fits a usize (`as` saturates, and the result is capped)"
)]
fn floor_fraction(amount: usize, fraction: f64) -> usize {
    (((amount as f64) * fraction).floor() as usize).min(amount)
}

/// Flink's `MemoryManager`, NUMA-local and huge-page backed: fixed-size pages for owners from a
/// fixed budget shared with reservations and per-use-case shared resources.
///
/// Built on a shared [`ArenaManager`] (the process's allocator, which the network buffer pool
/// may share): pages are segments of the page size, on the calling thread's node or on the node
/// an owner is bound to. A page ([`MemorySegment`]) borrows its [`MemoryOwner`], so no page
/// outlives its owner; [`release_all`](Self::release_all) revokes an owner's pages (any later
/// access is an error) and their memory goes back as each handle is dropped. Cloning the manager
/// is cheap (it is a handle); owners and shared resources keep its state alive.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
///
/// let arena = Arc::new(ArenaManager::new(&Config::default())?);
/// let mm = MemoryManager::builder(arena).memory_size(64 << 20).build()?;
/// let owner = mm.owner("hash-join", UseCase::Operator);
/// let mut pages = mm.allocate_pages(&owner, mm.compute_number_of_pages(0.25)?)?;
/// pages[0].put_u64_le(0, 42)?;
/// assert_eq!(pages[0].get_u64_le(0)?, 42);
/// assert_eq!(mm.available_memory(), mm.memory_size() * 3 / 4);
/// mm.release_many(pages);
/// assert!(mm.verify_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct MemoryManager {
    shared: Arc<Shared>,
}

impl fmt::Debug for MemoryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

/// Builds a [`MemoryManager`] with values other than the allocator's configuration
/// (`NUMASEG_MANAGED_MEMORY`, `NUMASEG_SEGMENT_SIZE`, `NUMASEG_USE_CASE_WEIGHTS`).
///
/// ```
/// use std::sync::Arc;
/// use numaseg::{ArenaManager, Config, MemoryManager};
/// let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let mm = MemoryManager::builder(arena)
///     .memory_size(72 << 20)
///     .page_size(32 << 10)
///     .use_case_weights("OPERATOR:1".parse()?)
///     .build()?;
/// assert_eq!(mm.total_pages(), 2304);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MemoryManagerBuilder {
    arena: Arc<ArenaManager>,
    memory_size: Option<usize>,
    page_size: Option<usize>,
    weights: Option<UseCaseWeights>,
}

impl MemoryManagerBuilder {
    /// The budget in bytes (instead of `NUMASEG_MANAGED_MEMORY`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(1 << 20).build()?;
    /// assert_eq!(mm.memory_size(), 1 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn memory_size(mut self, bytes: usize) -> Self {
        self.memory_size = Some(bytes);
        self
    }

    /// The page size in bytes (instead of `NUMASEG_SEGMENT_SIZE`): a power of two from 4 KiB
    /// to the region size.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(1 << 20).page_size(4096).build()?;
    /// assert_eq!(mm.total_pages(), 256);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn page_size(mut self, bytes: usize) -> Self {
        self.page_size = Some(bytes);
        self
    }

    /// The use-case weights (instead of `NUMASEG_USE_CASE_WEIGHTS`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).use_case_weights("PYTHON:1".parse()?).build()?;
    /// assert_eq!(mm.use_case_fraction(UseCase::Python)?, 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn use_case_weights(mut self, weights: UseCaseWeights) -> Self {
        self.weights = Some(weights);
        self
    }

    /// Builds the manager.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, BuildError, Config, MemoryManager};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let err = MemoryManager::builder(arena).memory_size(1000).build().unwrap_err();
    /// assert!(matches!(err, BuildError::ManagedMemoryBelowPage { memory_size: 1000, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BuildError::PageSize`] for a page size that is not a power of two from 4 KiB to the
    /// region size; [`BuildError::ManagedMemoryBelowPage`], [`BuildError::TooManyPages`];
    /// [`BuildError::ManagedFractionOfUnlimited`] when the size is a fraction of a total budget
    /// that has no limit.
    pub fn build(self) -> Result<MemoryManager, BuildError> {
        let config = self.arena.config();
        let max = self.arena.max_segment_size();
        let page_size = self.page_size.unwrap_or_else(|| config.segment_size.as_usize());
        let class = SizeClass::for_size(page_size)
            .filter(|c| c.size() == page_size && page_size >= MIN_SEGMENT_SIZE && page_size <= max)
            .ok_or(BuildError::PageSize { page_size, max })?;
        let memory_size = match self.memory_size {
            Some(bytes) => bytes,
            None => {
                // Fractions are of the allocator's total budget (`usize::MAX`: no limit).
                let total = self.arena.total_limit();
                match config.managed_memory {
                    MemoryAmount::Bytes(b) => b.as_usize(),
                    MemoryAmount::Fraction(f) if total != usize::MAX => floor_fraction(total, f),
                    MemoryAmount::Unlimited if total != usize::MAX => total,
                    MemoryAmount::Fraction(fraction) => {
                        return Err(BuildError::ManagedFractionOfUnlimited { fraction });
                    }
                    MemoryAmount::Unlimited => return Err(BuildError::ManagedFractionOfUnlimited { fraction: 1.0 }),
                }
            }
        };
        let total_pages = memory_size / page_size;
        if total_pages == 0 {
            return Err(BuildError::ManagedMemoryBelowPage { memory_size, page_size });
        }
        if total_pages > MAX_PAGES {
            return Err(BuildError::TooManyPages { memory_size, page_size, pages: total_pages, max: MAX_PAGES });
        }
        let weights = match self.weights {
            Some(weights) => weights,
            None => UseCaseWeights::try_from(&config.use_case_weights).map_err(|reason| {
                let var = "NUMASEG_USE_CASE_WEIGHTS";
                let accepts = VARS.iter().find(|v| v.name == var).map_or("", |v| v.accepts);
                ConfigError::Invalid { var, value: config.use_case_weights.to_string(), reason, accepts }
            })?,
        };
        let shared = Shared {
            id: NEXT_MANAGER_ID.next(),
            arena: self.arena,
            memory_size,
            page_size,
            class,
            total_pages,
            budget: Budget::new(memory_size),
            weights,
            owners: Mutex::new(BTreeMap::new()),
            next_owner: Ids::new(1),
            shared: shared::Resources::new(),
            counters: Counters::default(),
            returning: AtomicUsize::new(0),
        };
        Ok(MemoryManager { shared: Arc::new(shared) })
    }
}

impl MemoryManager {
    /// A manager on `arena` configured by its configuration: `NUMASEG_MANAGED_MEMORY` (bytes,
    /// or a fraction of the allocator's total budget), pages of `NUMASEG_SEGMENT_SIZE`, and
    /// `NUMASEG_USE_CASE_WEIGHTS`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config, MemoryManager};
    /// let config = Config::default(); // 40 % of a budget of half the nodes' memory
    /// let arena = Arc::new(ArenaManager::heap_backed(&config, 2)?); // 2 × 64 GiB pretend nodes
    /// let mm = MemoryManager::new(arena)?;
    /// assert_eq!(mm.memory_size(), (128usize << 30) / 2 * 2 / 5);
    /// assert_eq!(mm.page_size(), 32 << 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemoryManagerBuilder::build`].
    pub fn new(arena: Arc<ArenaManager>) -> Result<Self, BuildError> {
        Self::builder(arena).build()
    }

    /// A builder for sizes other than the configuration's.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(8 << 20).build()?;
    /// assert_eq!(mm.total_pages(), 256);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn builder(arena: Arc<ArenaManager>) -> MemoryManagerBuilder {
        MemoryManagerBuilder { arena, memory_size: None, page_size: None, weights: None }
    }

    /// The allocator the pages come from.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager};
    /// let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::new(Arc::clone(&arena))?;
    /// assert!(Arc::ptr_eq(mm.arena_manager(), &arena));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn arena_manager(&self) -> &Arc<ArenaManager> {
        &self.shared.arena
    }

    /// A new owner of `use_case` whose pages come from the allocating thread's node. The
    /// calling thread becomes its home thread (see [`MemoryOwner`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("sort-1", UseCase::Operator);
    /// assert_eq!((owner.name(), owner.pages()), ("sort-1", 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn owner(&self, name: &str, use_case: UseCase) -> MemoryOwner {
        self.shared.register(name, use_case, None)
    }

    /// A new owner of `use_case` whose pages all come from `node` (never another node: when
    /// `node` is out of the allocator's budget the allocation fails).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase, numa::NodeId};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 4)?))?;
    /// let owner = mm.owner_on("probe-3", UseCase::Operator, NodeId::new(3))?;
    /// let pages = mm.allocate_pages(&owner, 4)?;
    /// assert!(pages.iter().all(|p| p.node() == NodeId::new(3)));
    /// assert!(mm.owner_on("nowhere", UseCase::Operator, NodeId::new(9)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`MemoryError::Node`] for a node the allocator does not use.
    pub fn owner_on(&self, name: &str, use_case: UseCase, node: NodeId) -> Result<MemoryOwner, MemoryError> {
        let node_index = self.shared.arena.node_index(node).map_err(MemoryError::Node)?;
        Ok(self.shared.register(name, use_case, Some((node, node_index))))
    }

    #[inline]
    fn own<'o>(&self, owner: &'o MemoryOwner) -> Result<&'o OwnerState, MemoryError> {
        let state = owner.state();
        if Arc::ptr_eq(&state.manager, &self.shared) {
            Ok(state)
        } else {
            Err(MemoryError::ForeignOwner { owner: state.name.to_string() })
        }
    }

    /// Claims `n` pages for `state` from the budget: the owner's credit (one compare-and-swap)
    /// in the common case.
    #[inline]
    fn charge(&self, state: &OwnerState, n: usize) -> Result<(), MemoryError> {
        match u32::try_from(n) {
            Ok(n) if state.try_claim(n) => Ok(()),
            _ => self.charge_slow(state, n),
        }
    }

    #[cold]
    #[inline(never)]
    fn charge_slow(&self, state: &OwnerState, n: usize) -> Result<(), MemoryError> {
        let claimed = u32::try_from(n).ok().filter(|_| n <= self.shared.total_pages).map(|n| state.charge(n));
        if let Some(Ok(())) = claimed {
            return Ok(());
        }
        self.shared.counters.allocation_failures.add(1);
        Err(MemoryError::PagesExhausted {
            owner: state.name.to_string(),
            requested: n,
            page_size: self.shared.page_size,
            available: self.shared.available_bytes() / self.shared.page_size,
            total: self.shared.total_pages,
        })
    }

    #[cold]
    fn allocator_error(&self, state: &OwnerState, n: usize, cause: AllocError) -> MemoryError {
        self.shared.counters.allocation_failures.add(1);
        MemoryError::Allocator {
            owner: state.name.to_string(),
            requested: n,
            page_size: self.shared.page_size,
            cause: Box::new(cause),
        }
    }

    /// Allocates one page for `owner`: the single-page path (the allocator's thread cache, one
    /// compare-and-swap on the owner's word).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("one", UseCase::Operator);
    /// let mut page = mm.allocate_page(&owner)?;
    /// page.put_i32_be(0, -7)?;
    /// assert_eq!(page.get_i32_be(0)?, -7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`MemoryError::PagesExhausted`] when the budget has no page left,
    /// [`MemoryError::Allocator`] when the allocator cannot serve it, [`MemoryError::ForeignOwner`].
    // Always inlined: returned from an out-of-line call, the page travels through memory and the
    // caller's read of it stalls on store forwarding (measured: 8 ns per pair inlined, 20 ns not).
    #[inline(always)]
    pub fn allocate_page<'o>(&self, owner: &'o MemoryOwner) -> Result<MemorySegment<'o>, MemoryError> {
        if let Some(page) = self.try_allocate_page(owner.state()) {
            return Ok(page);
        }
        // The slow path hands its page over through a separate slot and its error by value, so
        // that the fast path's `Result` never has its address taken and can stay in registers.
        let mut slot = None;
        match self.allocate_page_slow(owner, &mut slot) {
            Ok(()) => slot.ok_or_else(|| unreachable!("the slow path fills the slot when it succeeds")),
            Err(e) => Err(e),
        }
    }

    /// The single-page fast path: an unbound owner of this manager with credit, served by the
    /// allocator's thread cache. `None` sends the caller to the slow path (nothing taken).
    #[inline(always)]
    fn try_allocate_page<'o>(&self, state: &'o OwnerState) -> Option<MemorySegment<'o>> {
        if !Arc::ptr_eq(&state.manager, &self.shared) || state.node.is_some() || !state.try_claim(1) {
            return None;
        }
        let epoch = state.hot.epoch.load(crate::sync::atomic::Ordering::Relaxed);
        let Ok(segment) = self.shared.arena.allocate_class(self.shared.class) else {
            state.uncharge(1);
            return None;
        };
        let raw = segment.into_raw();
        state.count_allocated(raw.meta.node, 1);
        // SAFETY: the allocator handed over the segment exclusively: of the page class, on its
        // node of this manager's allocator, which the owner's state keeps alive.
        Some(unsafe { MemorySegment::from_raw(raw, state, epoch) })
    }

    #[cold]
    #[inline(never)]
    fn allocate_page_slow<'o>(
        &self,
        owner: &'o MemoryOwner,
        slot: &mut Option<MemorySegment<'o>>,
    ) -> Result<(), MemoryError> {
        let state = self.own(owner)?;
        self.charge(state, 1)?;
        let epoch = state.hot.epoch.load(crate::sync::atomic::Ordering::Relaxed);
        let taken = match state.node {
            None => self.shared.arena.allocate_class(self.shared.class),
            Some((node, _)) => self.shared.arena.allocate_on(node, self.shared.page_size),
        };
        match taken {
            Ok(segment) => {
                let raw = segment.into_raw();
                state.count_allocated(raw.meta.node, 1);
                // SAFETY: as in `try_allocate_page`.
                *slot = Some(unsafe { MemorySegment::from_raw(raw, state, epoch) });
                Ok(())
            }
            Err(cause) => {
                state.uncharge(1);
                Err(self.allocator_error(state, 1, cause))
            }
        }
    }

    /// Allocates `n` pages for `owner`, all or nothing.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(1 << 20).build()?; // 32 pages
    /// let owner = mm.owner("bulk", UseCase::Operator);
    /// let pages = mm.allocate_pages(&owner, 30)?;
    /// let err = mm.allocate_pages(&owner, 3).unwrap_err();
    /// assert_eq!(err.to_string(), "memory owner \"bulk\": requested 3 pages (96KiB), 2 pages available of 32");
    /// assert_eq!(owner.pages(), 30); // nothing taken by the refused call
    /// # drop(pages);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MemoryManager::allocate_pages_into`].
    pub fn allocate_pages<'o>(&self, owner: &'o MemoryOwner, n: usize) -> Result<Vec<MemorySegment<'o>>, MemoryError> {
        let mut pages = Vec::new();
        self.allocate_pages_into(owner, n, &mut pages)?;
        Ok(pages)
    }

    /// Appends `n` pages for `owner` to `target`, all or nothing (on an error `target` is as it
    /// was and nothing was taken). Pages come in one bulk from the allocator's thread cache when
    /// they can (unbound owner, or an owner bound to the thread's own node), else one by one.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("reuse", UseCase::Operator);
    /// let mut pages = Vec::with_capacity(64);
    /// for _ in 0..10 {
    ///     mm.allocate_pages_into(&owner, 64, &mut pages)?;
    ///     mm.release_many(pages.drain(..)); // the vector keeps its capacity
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`MemoryError::PagesExhausted`] when the budget cannot hold `n` more pages;
    /// [`MemoryError::Allocator`] when the allocator cannot serve them (its own budgets, or
    /// mapping); [`MemoryError::ForeignOwner`].
    pub fn allocate_pages_into<'o>(
        &self,
        owner: &'o MemoryOwner,
        n: usize,
        target: &mut Vec<MemorySegment<'o>>,
    ) -> Result<(), MemoryError> {
        let state = self.own(owner)?;
        if n == 0 {
            return Ok(());
        }
        self.charge(state, n)?;
        // A count the budget allows but the allocator could never hold (a manager sized above
        // the allocator's total budget) is refused before anything is taken or sized for it: the
        // handles alone would want 32 bytes a page, and a vector that cannot be had aborts.
        let home = match state.node {
            Some((_, node_index)) => node_index,
            None => self.shared.arena.thread_node_index().unwrap_or_else(|| self.shared.arena.default_node_index()),
        };
        if let Some(cause) = self.shared.arena.bulk_never_fits(home, n, self.shared.page_size) {
            state.uncharge(u32::try_from(n).unwrap_or(u32::MAX));
            return Err(self.allocator_error(state, n, cause));
        }
        // At most a cache's worth up front; a bigger bulk grows the vector as pages arrive.
        target.reserve(n.min(BULK_RESERVE));
        let epoch = state.hot.epoch.load(crate::sync::atomic::Ordering::Relaxed);
        let bulk = match state.node {
            None => true,
            Some((_, node_index)) => self.shared.arena.thread_node_index() == Some(node_index),
        };
        if bulk {
            let class = self.shared.class;
            let taken = with_scratch(|scratch| {
                let node_index = self.shared.arena.allocate_entries(class, n, scratch)?;
                target.extend(scratch.iter().map(|&entry| {
                    let raw = RawSegment { entry, meta: SegmentMeta { class, node: node_index } };
                    // SAFETY: `allocate_batch` handed over these entries exclusively: segments of
                    // the page class on node `node_index` of this manager's allocator, which the owner's
                    // state keeps alive. Each entry becomes exactly one handle.
                    unsafe { MemorySegment::from_raw(raw, state, epoch) }
                }));
                Ok::<NodeIndex, AllocError>(node_index)
            });
            match taken {
                Ok(node_index) => {
                    state.count_allocated(node_index, n as u64);
                    return Ok(());
                }
                // A bound owner takes its node or nothing.
                Err(cause) if state.node.is_some() => {
                    state.uncharge(u32::try_from(n).unwrap_or(u32::MAX));
                    return Err(self.allocator_error(state, n, cause));
                }
                // The home node is out of the allocator's budget: one by one, which may go to
                // another node (counted as remote by the allocator) unless strict.
                Err(_) => {}
            }
        }
        self.allocate_one_by_one(state, n, epoch, target)
    }

    /// The slow page path: `n` single allocations (another node's pages, remote fallback), all
    /// or nothing.
    #[cold]
    fn allocate_one_by_one<'o>(
        &self,
        state: &'o OwnerState,
        n: usize,
        epoch: u64,
        target: &mut Vec<MemorySegment<'o>>,
    ) -> Result<(), MemoryError> {
        let arena = &*self.shared.arena;
        let mut taken = Vec::with_capacity(n.min(BULK_RESERVE));
        for _ in 0..n {
            let segment = match state.node {
                None => arena.allocate(self.shared.page_size),
                Some((node, _)) => arena.allocate_on(node, self.shared.page_size),
            };
            match segment {
                Ok(segment) => taken.push(segment),
                Err(cause) => {
                    drop(taken); // back to the allocator, never counted as the owner's
                    state.uncharge(u32::try_from(n).unwrap_or(u32::MAX));
                    return Err(self.allocator_error(state, n, cause));
                }
            }
        }
        for segment in taken {
            let raw = segment.into_raw();
            state.count_allocated(raw.meta.node, 1);
            // SAFETY: as in `allocate_page`.
            target.push(unsafe { MemorySegment::from_raw(raw, state, epoch) });
        }
        Ok(())
    }

    /// Gives one page back now (the same as dropping it). Releasing is by value, so a page
    /// cannot be released twice; a page revoked by [`release_all`](Self::release_all) is
    /// released like any other.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("single", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// mm.release(page);
    /// assert!(mm.verify_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// ```compile_fail,E0382
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("twice", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// mm.release(page);
    /// mm.release(page); // error[E0382]: use of moved value: `page`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(&self, page: MemorySegment<'_>) {
        drop(page);
    }

    /// Gives many pages back in one go: the allocator takes each run of pages of one owner and
    /// node with one slice copy, and the owner's accounting is updated once per run. Pages of
    /// other managers go back to theirs.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let (a, b) = (mm.owner("a", UseCase::Operator), mm.owner("b", UseCase::Operator));
    /// let mut pages = mm.allocate_pages(&a, 16)?;
    /// pages.extend(mm.allocate_pages(&b, 16)?);
    /// mm.release_many(pages);
    /// assert_eq!((a.pages(), b.pages()), (0, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_many<'o>(&self, pages: impl IntoIterator<Item = MemorySegment<'o>>) {
        memory_segment::release_many(pages);
    }

    /// Gives back every page in `pages`, leaving it empty with its capacity: the bulk
    /// counterpart of [`allocate_pages_into`](Self::allocate_pages_into). When all pages are of
    /// one owner and node (as a bulk allocation gives them) they go back with one slice copy and
    /// one update of the owner's accounting; otherwise as [`release_many`](Self::release_many).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("loop", UseCase::Operator);
    /// let mut pages = Vec::with_capacity(32);
    /// for round in 0..100u64 {
    ///     mm.allocate_pages_into(&owner, 32, &mut pages)?;
    ///     pages[0].put_u64_le(0, round)?;
    ///     mm.release_pages(&mut pages);
    /// }
    /// assert!(pages.is_empty() && pages.capacity() >= 32);
    /// assert_eq!(owner.pages(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_pages(&self, pages: &mut Vec<MemorySegment<'_>>) {
        memory_segment::release_vec(pages);
    }

    /// Revokes every page `owner` holds: any later access to them is a
    /// [`SegmentError::Released`](crate::SegmentError::Released), and each page's memory goes
    /// back when its handle is dropped or released — also on other threads, concurrently with
    /// this call. Pages allocated afterwards are not affected. Calling it again is harmless.
    /// (An owner always works against its own manager.)
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, SegmentError, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("task", UseCase::Operator);
    /// let pages = mm.allocate_pages(&owner, 4)?;
    /// mm.release_all(&owner);
    /// mm.release_all(&owner); // harmless
    /// assert!(pages.iter().all(|p| p.is_released()));
    /// assert!(matches!(pages[0].get_u8(0), Err(SegmentError::Released { .. })));
    /// mm.release_many(pages); // their memory goes back now
    /// assert!(mm.verify_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_all(&self, owner: &MemoryOwner) {
        owner.state().manager.counters.release_all_calls.add(1);
        owner.state().revoke_all();
    }

    /// Reserves `bytes` of the budget for `owner` (memory it allocates by other means), all or
    /// nothing. Reservations and pages share the one budget.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(1 << 20).build()?;
    /// let owner = mm.owner("native", UseCase::StateBackend);
    /// mm.reserve_memory(&owner, 768 << 10)?;
    /// assert_eq!(mm.available_memory(), 256 << 10);
    /// assert!(mm.allocate_pages(&owner, 9).is_err()); // 9 × 32 KiB > 256 KiB
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`MemoryError::ReservationRefused`] with the numbers; [`MemoryError::ForeignOwner`].
    pub fn reserve_memory(&self, owner: &MemoryOwner, bytes: usize) -> Result<(), MemoryError> {
        let state = self.own(owner)?;
        if bytes == 0 {
            return Ok(());
        }
        self.shared.reserve_bytes(bytes).map_err(|e| match e {
            MemoryError::ReservationRefused { requested, available, total, .. } => {
                MemoryError::ReservationRefused { owner: state.name.to_string(), requested, available, total }
            }
            other => other,
        })?;
        state.add_reserved(bytes);
        Ok(())
    }

    /// Gives back up to `bytes` of `owner`'s reservation; releasing more than it holds releases
    /// only what it holds. Returns the bytes released.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("native", UseCase::StateBackend);
    /// mm.reserve_memory(&owner, 4096)?;
    /// assert_eq!(mm.release_memory(&owner, 8192), 4096);
    /// assert_eq!(mm.release_memory(&owner, 4096), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_memory(&self, owner: &MemoryOwner, bytes: usize) -> usize {
        let state = owner.state();
        let giving_back = state.manager.giving_back();
        let taken = state.take_reserved(bytes);
        state.manager.budget.release(taken);
        drop(giving_back);
        if taken < bytes {
            tracing::debug!(
                target: "numaseg",
                "memory owner \"{}\" released {bytes} bytes but had {taken} reserved",
                state.name
            );
        }
        taken
    }

    /// Gives back all of `owner`'s reservation; returns the bytes released.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("native", UseCase::StateBackend);
    /// mm.reserve_memory(&owner, 1000)?;
    /// mm.reserve_memory(&owner, 24)?;
    /// assert_eq!(mm.release_all_memory(&owner), 1024);
    /// assert!(mm.verify_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_all_memory(&self, owner: &MemoryOwner) -> usize {
        let state = owner.state();
        let _giving_back = state.manager.giving_back();
        let taken = state.take_all_reserved();
        state.manager.budget.release(taken);
        taken
    }

    /// Bytes of the budget not in use by pages, reservations or shared resources (exact when
    /// no other thread allocates or releases meanwhile).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(1 << 20).build()?;
    /// let owner = mm.owner("o", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// assert_eq!(mm.available_memory(), (1 << 20) - (32 << 10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn available_memory(&self) -> usize {
        self.shared.available_bytes()
    }

    /// The budget in bytes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// assert_eq!(MemoryManager::builder(arena).memory_size(5 << 20).build()?.memory_size(), 5 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn memory_size(&self) -> usize {
        self.shared.memory_size
    }

    /// The page size in bytes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// assert_eq!(mm.page_size(), 32 << 10); // NUMASEG_SEGMENT_SIZE
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn page_size(&self) -> usize {
        self.shared.page_size
    }

    /// Pages the whole budget holds (`memory_size / page_size`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size((1 << 20) + 100).build()?;
    /// assert_eq!(mm.total_pages(), 32);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn total_pages(&self) -> usize {
        self.shared.total_pages
    }

    /// The allocator's node policy for owners not bound to a node (`NUMASEG_NODE_POLICY`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, config::NodePolicy};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// assert_eq!(mm.node_policy(), NodePolicy::Local);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn node_policy(&self) -> NodePolicy {
        self.shared.arena.config().node_policy
    }

    /// The pages that `fraction` of the budget makes, rounded down.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(72 << 20).build()?;
    /// assert_eq!(mm.compute_number_of_pages(0.5)?, 1152);
    /// assert!(mm.compute_number_of_pages(0.0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`MemoryError::BadFraction`] for a fraction outside (0, 1] (or NaN).
    pub fn compute_number_of_pages(&self, fraction: f64) -> Result<usize, MemoryError> {
        check_fraction(fraction)?;
        Ok(floor_fraction(self.shared.total_pages, fraction))
    }

    /// The bytes that `fraction` of the budget makes, rounded down.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(1000 << 10).build()?;
    /// assert_eq!(mm.compute_memory_size(0.6)?, 614_400);
    /// assert!(mm.compute_memory_size(1.1).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`MemoryError::BadFraction`] for a fraction outside (0, 1] (or NaN).
    pub fn compute_memory_size(&self, fraction: f64) -> Result<usize, MemoryError> {
        self.shared.memory_for(fraction)
    }

    /// Whether nothing is in use: no page, no reservation, no shared resource (Flink's
    /// `verifyEmpty`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let owner = mm.owner("o", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// assert!(!mm.verify_empty());
    /// drop(page);
    /// assert!(mm.verify_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn verify_empty(&self) -> bool {
        self.shared.used_bytes() == 0
    }

    /// The use-case weights in effect.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// assert_eq!(mm.use_case_weights().to_string(), "OPERATOR:70,STATE_BACKEND:70,PYTHON:30");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn use_case_weights(&self) -> &UseCaseWeights {
        &self.shared.weights
    }

    /// The share of the budget of `use_case`: its weight over the sum of the weights.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// assert_eq!(mm.use_case_fraction(UseCase::Python)?, 30.0 / 170.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`MemoryError::NoWeight`] for a use case whose weight is 0.
    pub fn use_case_fraction(&self, use_case: UseCase) -> Result<f64, MemoryError> {
        self.shared.weights.fraction(use_case).ok_or_else(|| MemoryError::NoWeight {
            use_case: use_case.name(),
            weights: self.shared.weights.to_string(),
        })
    }

    /// The bytes of the budget that `use_case`'s weight gives it, rounded down.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(170 << 20).build()?;
    /// assert_eq!(mm.use_case_memory_size(UseCase::StateBackend)?, 70 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`MemoryError::NoWeight`] for a use case whose weight is 0.
    pub fn use_case_memory_size(&self, use_case: UseCase) -> Result<usize, MemoryError> {
        self.shared.memory_for(self.use_case_fraction(use_case)?)
    }

    /// The shared resource of `use_case`, created on first request from `fraction` of the budget
    /// (reserved first; `init` receives the bytes) and shared by every later request, which
    /// gets the existing resource whatever fraction it names. The resource is dropped and its
    /// reservation given back when the last lease is dropped. `init` runs under the manager's
    /// shared-resource lock, so two first requests never create two resources.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(170 << 20).build()?;
    /// struct BlockCache { capacity: usize }
    /// let fraction = mm.use_case_fraction(UseCase::StateBackend)?;
    /// let first = mm.shared_resource(UseCase::StateBackend, fraction, |bytes| {
    ///     Ok::<_, std::convert::Infallible>(BlockCache { capacity: bytes })
    /// })?;
    /// let second = mm.shared_resource(UseCase::StateBackend, 0.5, |_| -> Result<BlockCache, std::convert::Infallible> {
    ///     unreachable!("created once")
    /// })?;
    /// assert_eq!(second.capacity, 70 << 20);
    /// drop(first);
    /// assert!(!mm.verify_empty());
    /// drop(second); // the last lease: the cache is dropped, its reservation given back
    /// assert!(mm.verify_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`MemoryError::BadFraction`]; [`MemoryError::ReservationRefused`] when the budget cannot
    /// hold it (`init` is not called then); [`MemoryError::SharedInit`] when `init` fails (the
    /// reservation is given back); [`MemoryError::SharedTypeMismatch`] when the use case's
    /// resource exists with another type.
    pub fn shared_resource<T, E, F>(
        &self,
        use_case: UseCase,
        fraction: f64,
        init: F,
    ) -> Result<SharedResource<T>, MemoryError>
    where
        T: Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: FnOnce(usize) -> Result<T, E>,
    {
        shared::acquire(&self.shared, use_case, fraction, init)
    }

    /// A snapshot of usage: per node, per owner, per use case; render it with
    /// [`MemoryManagerStats::to_prometheus`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let mm = MemoryManager::builder(arena).memory_size(1 << 20).build()?;
    /// let owner = mm.owner("scan", UseCase::Operator);
    /// let pages = mm.allocate_pages(&owner, 2)?;
    /// let stats = mm.stats();
    /// assert_eq!(stats.used_bytes, 64 << 10);
    /// assert_eq!(stats.owners[0].pages, 2);
    /// assert_eq!(stats.nodes[0].used_pages, 2);
    /// # drop(pages);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> MemoryManagerStats {
        stats::collect(&self.shared)
    }
}
