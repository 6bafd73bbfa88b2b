//! [`SharedResource`]: one resource per [use case](UseCase), created once from a fraction of the
//! memory manager's budget and shared by every owner that asks for it, dropped (and its
//! reservation given back) when the last lease is dropped — Flink's
//! `getSharedMemoryResourceForManagedMemory`, keyed by use case.
//!
//! What must hold:
//! - at most one resource per use case exists; its bytes are reserved in the budget before its
//!   initializer runs (an initializer is never called without its memory), and given back if the
//!   initializer fails or panics;
//! - the lease count lives under the resources' lock; the resource leaves the table when the
//!   count reaches 0, is dropped, and only then is its reservation given back — so the budget
//!   never counts its memory as free while it still exists.

use std::any::{Any, type_name};
use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::Arc;

use super::Shared;
use crate::error::MemoryError;
use crate::manager::UseCase;
use crate::sync::stat::Gauge;
use crate::sync::{Mutex, lock};

/// One use case's resource in the table.
struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
    bytes: usize,
    leases: usize,
}

/// The manager's shared resources, one slot per use case.
pub(crate) struct Resources {
    entries: Mutex<Vec<Option<Entry>>>,
    /// Bytes reserved per use case (statistics; the budget holds them).
    bytes: [Gauge; UseCase::ALL.len()],
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resources").field("bytes", &self.bytes).finish_non_exhaustive()
    }
}

impl Resources {
    pub(crate) fn new() -> Self {
        Self {
            entries: Mutex::new(UseCase::ALL.iter().map(|_| None).collect()),
            bytes: std::array::from_fn(|_| Gauge::default()),
        }
    }

    /// Bytes held by `use_case`'s resource.
    pub(crate) fn bytes_of(&self, use_case: UseCase) -> usize {
        self.bytes[use_case.index()].get()
    }

    /// Bytes held by every resource.
    pub(crate) fn total_bytes(&self) -> usize {
        self.bytes.iter().map(Gauge::get).sum()
    }

    /// Drops one lease of `use_case`; returns the entry when it was the last.
    fn release_lease(&self, use_case: UseCase) -> Option<Entry> {
        let mut entries = lock(&self.entries);
        let slot = &mut entries[use_case.index()];
        let entry = slot.as_mut()?;
        entry.leases -= 1;
        if entry.leases == 0 { slot.take() } else { None }
    }
}

/// Gives a shared resource's reservation back when dropped: after its initializer failed or
/// panicked, or after the resource itself was dropped (even if its drop panicked).
struct GiveBack<'a> {
    manager: &'a Shared,
    use_case: UseCase,
    bytes: usize,
}

impl Drop for GiveBack<'_> {
    fn drop(&mut self) {
        self.manager.shared.bytes[self.use_case.index()].sub(self.bytes);
        self.manager.budget.release(self.bytes);
    }
}

/// A lease on a use case's shared resource (see
/// [`MemoryManager::shared_resource`](crate::MemoryManager::shared_resource)). Dereferences to
/// the resource; the resource is dropped and its reservation given back when the last lease is
/// dropped.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
/// let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
/// struct Worker { memory_limit: usize }
/// let lease = mm.shared_resource(UseCase::Python, 0.1, |bytes| Ok::<_, String>(Worker { memory_limit: bytes }))?;
/// assert_eq!(lease.memory_limit, mm.compute_memory_size(0.1)?); // dereferences to the resource
/// assert_eq!(lease.size(), lease.memory_limit);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedResource<T: Send + Sync + 'static> {
    /// Taken in `drop`, exactly once.
    value: ManuallyDrop<Arc<T>>,
    use_case: UseCase,
    bytes: usize,
    manager: Arc<Shared>,
}

impl<T: Send + Sync + 'static> SharedResource<T> {
    /// The bytes reserved for the resource (what its initializer was given).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let lease = mm.shared_resource(UseCase::Operator, 0.5, |_| Ok::<_, String>(()))?;
    /// assert_eq!(lease.size(), mm.memory_size() / 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn size(&self) -> usize {
        self.bytes
    }

    /// The use case it belongs to.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
    /// let lease = mm.shared_resource(UseCase::StateBackend, 0.1, |_| Ok::<_, String>(()))?;
    /// assert_eq!(lease.use_case(), UseCase::StateBackend);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn use_case(&self) -> UseCase {
        self.use_case
    }
}

impl<T: Send + Sync + 'static> Deref for SharedResource<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Send + Sync + fmt::Debug + 'static> fmt::Debug for SharedResource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedResource")
            .field("use_case", &self.use_case)
            .field("bytes", &self.bytes)
            .field("value", &**self.value)
            .finish()
    }
}

impl<T: Send + Sync + 'static> Drop for SharedResource<T> {
    fn drop(&mut self) {
        // SAFETY: `value` is taken here and nowhere else, and `self` is not used afterwards.
        let value = unsafe { ManuallyDrop::take(&mut self.value) };
        match self.manager.shared.release_lease(self.use_case) {
            Some(entry) => {
                let _give_back = GiveBack { manager: &self.manager, use_case: self.use_case, bytes: entry.bytes };
                // The table's reference and ours are the last: the resource is dropped here,
                // before its reservation goes back.
                drop(entry.value);
                drop(value);
            }
            None => drop(value),
        }
    }
}

/// `MemoryManager::shared_resource`.
pub(crate) fn acquire<T, E, F>(
    manager: &Arc<Shared>,
    use_case: UseCase,
    fraction: f64,
    init: F,
) -> Result<SharedResource<T>, MemoryError>
where
    T: Send + Sync + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
    F: FnOnce(usize) -> Result<T, E>,
{
    let bytes = manager.memory_for(fraction)?;
    let lease = |value: Arc<T>, bytes: usize| SharedResource {
        value: ManuallyDrop::new(value),
        use_case,
        bytes,
        manager: Arc::clone(manager),
    };
    let mut entries = lock(&manager.shared.entries);
    if let Some(entry) = &mut entries[use_case.index()] {
        let existing = entry.type_name;
        let value = Arc::clone(&entry.value).downcast::<T>().map_err(|_| MemoryError::SharedTypeMismatch {
            use_case: use_case.name(),
            existing,
            requested: type_name::<T>(),
        })?;
        entry.leases += 1;
        return Ok(lease(value, entry.bytes));
    }
    manager.reserve_bytes(bytes).map_err(|e| match e {
        MemoryError::ReservationRefused { requested, available, total, .. } => {
            MemoryError::ReservationRefused { owner: format!("shared:{use_case}"), requested, available, total }
        }
        other => other,
    })?;
    manager.shared.bytes[use_case.index()].add(bytes);
    let give_back = GiveBack { manager, use_case, bytes };
    let value =
        init(bytes).map_err(|e| MemoryError::SharedInit { use_case: use_case.name(), bytes, cause: e.into() })?;
    std::mem::forget(give_back); // the resource holds the reservation now
    let value = Arc::new(value);
    let any: Arc<dyn Any + Send + Sync> = Arc::clone(&value) as _;
    entries[use_case.index()] = Some(Entry { value: any, type_name: type_name::<T>(), bytes, leases: 1 });
    Ok(lease(value, bytes))
}
