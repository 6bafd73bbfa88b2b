//! Byte budgets: a limit and the bytes committed against it, updated with compare-and-swap so
//! that concurrent reservations never together pass the limit. Reserving is all or nothing; a
//! refusal reports how much was available.
//!
//! A node's committed bytes count against both its own budget and the total one: reserve the
//! node first, then the total, and give the node back if the total refuses
//! ([`reserve_both`]).

use crate::sync::atomic::{AtomicUsize, Ordering};

/// A limit and what is committed against it.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    committed: AtomicUsize,
}

/// A refused reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    /// Bytes still available when it was refused.
    pub available: usize,
    /// The limit.
    pub limit: usize,
}

impl Budget {
    /// A budget of `limit` bytes (`usize::MAX` for none).
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, committed: AtomicUsize::new(0) }
    }

    /// Commits `bytes` if the limit allows, else reports what was available.
    pub(crate) fn try_reserve(&self, bytes: usize) -> Result<(), Refused> {
        // Relaxed suffices: the counter guards no other memory; the CAS alone keeps the sum of
        // successful reservations under the limit.
        let mut current = self.committed.load(Ordering::Relaxed);
        loop {
            let next = current.checked_add(bytes).filter(|&n| n <= self.limit);
            let Some(next) = next else {
                return Err(Refused { available: self.limit.saturating_sub(current), limit: self.limit });
            };
            match self.committed.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
    }

    /// Gives back `bytes` committed earlier.
    pub(crate) fn release(&self, bytes: usize) {
        let before = self.committed.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(before >= bytes, "released {bytes} bytes of a budget holding {before}");
    }

    /// Bytes committed now.
    pub(crate) fn committed(&self) -> usize {
        self.committed.load(Ordering::Relaxed)
    }

    /// The limit (`usize::MAX` for none).
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes still available.
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.limit.saturating_sub(self.committed())
    }
}

/// Which of two budgets refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BothRefused {
    /// The node's own budget.
    Node(Refused),
    /// The total budget.
    Total(Refused),
}

/// Reserves `bytes` against `node` and then `total`, all or nothing.
pub(crate) fn reserve_both(node: &Budget, total: &Budget, bytes: usize) -> Result<(), BothRefused> {
    node.try_reserve(bytes).map_err(BothRefused::Node)?;
    if let Err(refused) = total.try_reserve(bytes) {
        node.release(bytes);
        return Err(BothRefused::Total(refused));
    }
    Ok(())
}

/// Releases `bytes` from both budgets.
pub(crate) fn release_both(node: &Budget, total: &Budget, bytes: usize) {
    total.release(bytes);
    node.release(bytes);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn reservations_stop_at_the_limit_with_numbers() {
        let b = Budget::new(100);
        assert!(b.try_reserve(60).is_ok());
        assert_eq!(b.try_reserve(50), Err(Refused { available: 40, limit: 100 }));
        assert!(b.try_reserve(40).is_ok());
        assert_eq!(b.available(), 0);
        b.release(30);
        assert_eq!(b.committed(), 70);
        assert_eq!(Budget::new(usize::MAX).try_reserve(usize::MAX), Ok(()));
        assert!(Budget::new(usize::MAX).try_reserve(1).is_ok());
    }

    #[test]
    fn both_budgets_are_all_or_nothing() {
        let node = Budget::new(100);
        let total = Budget::new(50);
        assert_eq!(reserve_both(&node, &total, 60), Err(BothRefused::Total(Refused { available: 50, limit: 50 })));
        assert_eq!(node.committed(), 0, "the node's share was given back");
        assert!(reserve_both(&node, &total, 50).is_ok());
        release_both(&node, &total, 50);
        assert_eq!((node.committed(), total.committed()), (0, 0));
    }

    #[test]
    fn concurrent_reservations_never_pass_the_limit() {
        let b = std::sync::Arc::new(Budget::new(1000));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = std::sync::Arc::clone(&b);
                std::thread::spawn(move || (0..1000).filter(|_| b.try_reserve(3).is_ok()).count())
            })
            .collect();
        let granted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(granted, 333);
        assert_eq!(b.committed(), 999);
    }
}
