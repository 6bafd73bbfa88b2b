//! The atomics that stay std's even under loom, and why: the one list of them.
//!
//! Each holds a value that orders no other memory and that no step of a protocol decides on:
//! statistics, numbers handed out only to be distinct, and hints a wrong read of which costs
//! time, never correctness. Loom would add each access to every model's interleavings and check
//! nothing by it, so these are std's atomics under `--cfg loom` too; everything else takes its
//! atomics from [`crate::sync::atomic`]. (Their `Ordering` is the same type: loom re-exports
//! std's.)
//!
//! - [`Counter`]: a statistics counter, summed by stats readers;
//! - [`Gauge`]: a statistics value that goes up and down;
//! - [`Ids`]: a dispenser of distinct numbers (manager, owner, thread and cache-slot ids, the
//!   interleave cursor) — some live in `static`s, which loom's atomics (no `const fn new`)
//!   cannot;
//! - [`Hint`]: a value read to choose a faster path (an owner's home thread, a buffer's owning
//!   pool), re-checked or harmless when stale;
//! - [`Process`]: the fork generation and the last forking pid, process-wide `static`s written by
//!   `pthread_atfork` handlers (fork is outside every model);
//! - [`AddressWord`]: the page-kind directory's words, the one exception that a step decides on
//!   (a free's kind tag) — see its docs for why loom must not model it.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// A statistics counter: relaxed reads, wrapping adds, summed by readers.
///
/// [`bump`](Self::bump) is for a counter with one writer (its thread's cache slot, an owner's
/// home thread, a buffer's holder): a relaxed load and store, no `lock` prefix on the hot path.
/// [`add`](Self::add) is for a counter several threads write: one read-modify-write.
#[derive(Debug, Default)]
#[repr(transparent)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// A counter at `value`.
    pub(crate) const fn new(value: u64) -> Self {
        Self(AtomicU64::new(value))
    }

    /// Adds `n`; the caller is the counter's only writer (else an update may be lost).
    #[inline(always)]
    pub(crate) fn bump(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Adds `n`; any thread may.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    /// The value (a relaxed read: exact once the writers are quiescent).
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// Sets a level its one writer keeps (e.g. how many entries a thread's outbox holds); the
    /// caller is the only writer.
    #[inline]
    pub(crate) fn set(&self, value: u64) {
        self.0.store(value, Relaxed);
    }
}

/// A statistics value that goes up and down (bytes held); any thread may change it.
#[derive(Debug, Default)]
pub(crate) struct Gauge(AtomicUsize);

impl Gauge {
    /// Adds `n`.
    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n, Relaxed);
    }

    /// Subtracts `n` (added before).
    pub(crate) fn sub(&self, n: usize) {
        self.0.fetch_sub(n, Relaxed);
    }

    /// The value.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Relaxed)
    }
}

/// Hands out distinct numbers, `first`, `first + 1`, …; usable in a `static`.
#[derive(Debug)]
pub(crate) struct Ids(AtomicU64);

impl Ids {
    /// A dispenser whose first number is `first`.
    pub(crate) const fn new(first: u64) -> Self {
        Self(AtomicU64::new(first))
    }

    /// The next number (never handed out before, until it wraps after 2⁶⁴).
    pub(crate) fn next(&self) -> u64 {
        self.0.fetch_add(1, Relaxed)
    }
}

/// A value read to pick a faster path, re-checked (or harmless) when stale.
#[derive(Debug, Default)]
pub(crate) struct Hint(AtomicU64);

impl Hint {
    /// A hint at `value`.
    pub(crate) const fn new(value: u64) -> Self {
        Self(AtomicU64::new(value))
    }

    /// The value.
    #[inline(always)]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// Sets the value.
    #[inline]
    pub(crate) fn set(&self, value: u64) {
        self.0.store(value, Relaxed);
    }
}

/// Process-wide fork state, written by `pthread_atfork` handlers (which may only touch atomics)
/// and read by slow paths: the generation (bumped in each child) and the pid that last forked.
#[derive(Debug)]
pub(crate) struct Process {
    generation: AtomicU64,
    parent: AtomicU32,
}

impl Process {
    /// Generation 0, no fork yet.
    pub(crate) const fn new() -> Self {
        Self { generation: AtomicU64::new(0), parent: AtomicU32::new(0) }
    }

    /// The fork generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// A child was forked: the next generation.
    pub(crate) fn forked(&self) {
        self.generation.fetch_add(1, Relaxed);
    }

    /// The pid that last forked.
    pub(crate) fn parent(&self) -> u32 {
        self.parent.load(Relaxed)
    }

    /// `pid` is about to fork.
    pub(crate) fn forking(&self, pid: u32) {
        self.parent.store(pid, Relaxed);
    }
}

/// A word of a table probed by where memory was mapped: the page-kind directory
/// (`core::node::KindDirectory`), whose slots a hash of a region's address picks.
///
/// Where the heap or the kernel puts a region differs between the executions of one loom model
/// (another test thread's mappings, or the model's own, move it), so with loom's atomics here
/// the number of probes, and so of modelled operations, would differ from one execution to the
/// next, and loom, which replays a prefix of the last execution to reach the next, fails with
/// "Reached unexpected exploration state" (`loom-tests/tests/thread_exit.rs`,
/// `regions_at_other_addresses_in_each_execution_replay`). What loom then does not check is that
/// every lookup that matters happens after its region's record; docs/RELIABILITY.md (E6) argues
/// it. The values the models see stay right: under loom, whose threads all run on one OS
/// thread, a std load reads the last store made.
pub(crate) type AddressWord = AtomicUsize;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_ids_hints_and_process() {
        let c = Counter::new(0);
        c.bump(2);
        c.add(1);
        assert_eq!(c.get(), 3);
        let g = Gauge::default();
        g.add(10);
        g.sub(4);
        assert_eq!(g.get(), 6);
        let ids = Ids::new(5);
        assert_eq!((ids.next(), ids.next()), (5, 6));
        let h = Hint::new(7);
        h.set(8);
        assert_eq!(h.get(), 8);
        let p = Process::new();
        p.forking(42);
        p.forked();
        assert_eq!((p.generation(), p.parent()), (1, 42));
    }
}
