//! Synchronisation primitives: loom's models under `--cfg loom`, std's otherwise.
//!
//! Everything in numaseg that is shared between threads takes its atomics, cells, locks and
//! thread-locals from here, never from `std::sync` directly, so the loom models in `loom-tests/`
//! run the real code. The exceptions — statistics counters, id dispensers, hints, the fork
//! state, the page-kind directory's words — are std's atomics on purpose, even under loom; [`stat`] is their one list and says
//! why. No other library module names `std::sync::atomic` (the benchmark harness in `bench`
//! runs on real threads only and may).

pub(crate) mod asymmetric;
pub(crate) mod budget;
pub(crate) mod deque;
pub(crate) mod stat;

#[cfg(loom)]
pub(crate) use loom::{
    cell::UnsafeCell,
    hint,
    sync::{Arc, Mutex, MutexGuard, RwLock, atomic},
    thread, thread_local,
};

#[cfg(not(loom))]
pub(crate) use {
    self::cell::UnsafeCell,
    std::{
        hint,
        sync::{Arc, Mutex, MutexGuard, RwLock, atomic},
        thread, thread_local,
    },
};

/// Locks a mutex, ignoring poisoning: every critical section in numaseg leaves its data
/// consistent before anything that can panic, so a poisoned lock still guards valid data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(loom)]
    {
        mutex.lock().unwrap_or_else(|e| e.into_inner())
    }
    #[cfg(not(loom))]
    {
        mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(not(loom))]
mod cell {
    /// std's cell with loom's closure API, so call sites compile unchanged under both.
    #[derive(Debug, Default)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        #[allow(dead_code, reason = "kept for parity with loom's API")]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}
