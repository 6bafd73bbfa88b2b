//! Adaptive sizing of the per-thread caches: how many segments of one class a thread keeps
//! at hand. Pure and deterministic; the cache calls it only on its slow paths (refill, spill,
//! periodic scan), never per allocation.
//!
//! The rule, per thread and class (see `docs/ADAPTIVE_SIZING.md`):
//! - start at [`INITIAL_CAPACITY`] (or the class's maximum, if smaller);
//! - **grow** (double, up to the maximum) when the class keeps missing: a refill that comes
//!   fewer than `2 × capacity` allocations after the previous one, or a spill that comes while
//!   the thread also allocated at least half a capacity since the previous spill;
//! - a thread that **only frees** a class (the consumer of a producer/consumer pair) spills its
//!   whole stack as one batch and grows too: it has no use for the segments, and bigger batches
//!   make the transfer to the producer cheaper; others spill the oldest half;
//! - **shrink** (halve, down to [`MIN_CAPACITY`]) a class that stayed idle — no allocation or
//!   free — over a whole scan interval ([`SCAN_INTERVAL`] slow-path events of the thread);
//!   what no longer fits is flushed to the node's pool;
//! - the maximum is `min(NUMASEG_CACHE_CAPACITY, NUMASEG_CACHE_BYTES / segment size)`, at least
//!   one segment.

/// Capacity of a class's cache when a thread first uses it.
pub(crate) const INITIAL_CAPACITY: usize = if cfg!(loom) { 2 } else { 32 };
/// The capacity never shrinks below this (a hot pair needs one slot; a few more absorb jitter).
pub(crate) const MIN_CAPACITY: usize = if cfg!(loom) { 1 } else { 4 };
/// Slow-path events of a thread between two idleness scans of all its classes.
pub(crate) const SCAN_INTERVAL: usize = 64;

/// The largest capacity of a class of `segment_size` bytes.
pub(crate) fn max_capacity(cache_capacity: usize, cache_bytes: usize, segment_size: usize) -> usize {
    cache_capacity.min((cache_bytes / segment_size).max(1))
}

/// The first capacity of a class whose maximum is `max`.
pub(crate) fn initial_capacity(max: usize) -> usize {
    INITIAL_CAPACITY.min(max)
}

/// The capacity after a refill that came `allocs_since_last_refill` allocations after the
/// previous refill of the class.
pub(crate) fn after_refill(capacity: usize, max: usize, allocs_since_last_refill: u64) -> usize {
    if allocs_since_last_refill < 2 * capacity as u64 { grow(capacity, max) } else { capacity }
}

/// The capacity after a spill, given the allocations of the class since the previous spill:
/// grows when the thread also allocates a good share (it reuses its stack), and when it only
/// frees (it spills its whole stack, and bigger batches make the transfer cheaper).
pub(crate) fn after_spill(capacity: usize, max: usize, allocs_since_last_spill: u64) -> usize {
    if allocs_since_last_spill == 0 || allocs_since_last_spill >= (capacity as u64 / 2).max(1) {
        grow(capacity, max)
    } else {
        capacity
    }
}

/// How many entries a spill moves: the whole stack for a thread that only frees (it has no use
/// for them), half of it otherwise.
pub(crate) fn spill_count(len: usize, capacity: usize, allocs_since_last_spill: u64) -> usize {
    if allocs_since_last_spill == 0 { len } else { batch(capacity).min(len) }
}

/// The largest outbox: a thread's foreign frees of one (node, class) go home in batches of
/// half the class's largest capacity, at most this many.
pub(crate) const OUTBOX_MAX: usize = if cfg!(loom) { 2 } else { 64 };

/// The most entries a thread's spill deque holds: crossbeam-deque's first (and smallest)
/// buffer, `MIN_CAP` = 64 in 0.8. A `Worker` grows its buffer on a push into a full one and
/// shrinks it on a pop that leaves it at most a quarter full (above `MIN_CAP`); either allocates
/// a new buffer and hands the old one to crossbeam-epoch, whose garbage bags allocate too. Kept
/// within its first buffer, the deque never resizes, so a spill into it allocates nothing (a
/// spill that would pass this goes to the node's pool as one batch instead); a steal into it
/// comes at a refill, when it is empty, and moves less than half a victim's deque.
pub(crate) const SPILL_DEQUE_MAX: usize = 64;

/// Spills of at least this many entries from a thread that cycles more segments than its stack
/// holds go to the node's pool as one batch instead of through the thread's deque.
pub(crate) const BATCH_SPILL_MIN: usize = 64;

/// Whether a spill of `count` entries should go to the node's pool as one batch: the thread
/// allocated at least a whole stack's worth since its previous spill, so it cycles more
/// segments than its stack holds and will take these back within its round. Through the deque
/// that is a push and a fenced pop per entry (a batch of 1024 exactly at the cache maximum paid
/// 26–28 instead of 7–8 ns per block on two threads); through the pool, one push and one pop
/// per batch. Small spills keep using the deque, where peers steal them cheaply.
///
/// A thread that only frees (the consumer of a hand-off) sends its whole surplus to the pool
/// as one batch too, whatever its size: the producer's refill takes it with one operation
/// before it would steal entry by entry from the consumer's deque.
pub(crate) fn spill_as_batch(count: usize, capacity: usize, allocs_since_last_spill: u64) -> bool {
    allocs_since_last_spill == 0 || (count >= BATCH_SPILL_MIN && allocs_since_last_spill >= capacity as u64)
}

/// The capacity after a scan that saw `ops_since_last_scan` allocations and frees of the class.
/// Never more than `capacity` (a scan only shrinks), so never more than the class maximum.
pub(crate) fn after_scan(capacity: usize, ops_since_last_scan: u64) -> usize {
    if ops_since_last_scan == 0 { (capacity / 2).max(MIN_CAPACITY).min(capacity) } else { capacity }
}

fn grow(capacity: usize, max: usize) -> usize {
    capacity.saturating_mul(2).min(max).max(capacity.min(max))
}

/// How many segments a refill or spill moves: half the capacity, at least one.
pub(crate) fn batch(capacity: usize) -> usize {
    (capacity / 2).max(1)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_large_spills_of_a_cycling_thread_go_as_one_batch() {
        assert!(spill_as_batch(512, 1024, 1024), "a thread cycling its whole stack");
        assert!(!spill_as_batch(512, 1024, 1023), "a thread that reused less than its stack");
        assert!(spill_as_batch(512, 1024, 0), "a thread that only frees: its surplus, as one batch");
        assert!(spill_as_batch(4, 8, 0), "a consumer's surplus goes as a batch whatever its size");
        assert!(!spill_as_batch(BATCH_SPILL_MIN - 1, 2 * BATCH_SPILL_MIN, u64::MAX), "small spills");
    }

    #[test]
    fn max_capacity_respects_both_limits() {
        assert_eq!(max_capacity(1024, 32 << 20, 32 << 10), 1024);
        assert_eq!(max_capacity(1024, 32 << 20, 1 << 20), 32);
        assert_eq!(max_capacity(1024, 32 << 20, 64 << 20), 1, "always room for one");
        assert_eq!(max_capacity(16, 32 << 20, 4096), 16);
        assert_eq!(initial_capacity(8), 8);
        assert_eq!(initial_capacity(4096), INITIAL_CAPACITY);
    }

    #[test]
    fn a_class_that_keeps_missing_grows_to_its_maximum() {
        // A thread allocating batches of 1024 and freeing them all: every refill comes right
        // after the previous one until the cache holds the whole batch.
        let max = 1024;
        let mut cap = initial_capacity(max);
        let mut refills = 0;
        while cap < max {
            cap = after_refill(cap, max, batch(cap) as u64);
            refills += 1;
        }
        assert_eq!(cap, max);
        assert_eq!(refills, 5, "32 -> 64 -> 128 -> 256 -> 512 -> 1024");
        assert_eq!(after_refill(max, max, 0), max, "never beyond the maximum");
    }

    #[test]
    fn a_steady_class_keeps_its_size() {
        assert_eq!(after_refill(64, 1024, 10_000), 64);
        assert_eq!(after_spill(64, 1024, 10), 64, "a thread that allocates little keeps its size");
        assert_eq!(after_spill(64, 1024, 40), 128, "a thread that also allocates grows");
        assert_eq!(after_spill(64, 1024, 0), 128, "a free-only thread grows its transfer batches");
        assert_eq!(spill_count(64, 64, 0), 64, "a free-only thread spills everything");
        assert_eq!(spill_count(64, 64, 40), 32, "others spill half");
    }

    #[test]
    fn an_idle_class_shrinks_to_the_minimum() {
        let mut cap = 1024;
        let mut scans = 0;
        while cap > MIN_CAPACITY {
            cap = after_scan(cap, 0);
            scans += 1;
        }
        assert_eq!(scans, 8);
        assert_eq!(after_scan(cap, 0), MIN_CAPACITY);
        assert_eq!(after_scan(256, 1), 256, "any use keeps the size");
        assert_eq!(after_scan(1, 0), 1, "a scan never grows a class whose maximum is below the minimum");
    }

    #[test]
    fn batches_are_half_a_cache() {
        assert_eq!(batch(64), 32);
        assert_eq!(batch(1), 1);
    }
}
