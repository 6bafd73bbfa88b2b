//! The targets of memory in motion (issue #14), in one place: `numaseg bench`'s target table
//! (`report.rs`) and the criterion bench `benches/in_motion.rs` both read these numbers. Rates
//! are million blocks per second, times are nanoseconds per block, ratios are between figures
//! of the same run.
//!
//! ```
//! use numaseg::bench::targets;
//! // A hand-off at 95 million blocks per second meets its target; one at 70 does not.
//! assert!(95.0 >= targets::HANDOFF_MBLOCKS_PER_S);
//! assert!(70.0 < targets::HANDOFF_MBLOCKS_PER_S);
//! ```

/// Hand-off one at a time on one node: at least this many million blocks per second.
pub const HANDOFF_MBLOCKS_PER_S: f64 = 80.0;
/// Hand-off one at a time on one node: at least this many times the crossbeam `ArrayQueue` pool.
pub const HANDOFF_OVER_ARRAY_QUEUE: f64 = 1.5;
/// Hand-off one at a time on one node: at least this many times the simple thread-local cache.
pub const HANDOFF_OVER_TLS_CACHE: f64 = 1.0;
/// Network buffers requested on one thread and recycled on another, one at a time: at least
/// this many million blocks per second.
pub const BUFFERS_MBLOCKS_PER_S: f64 = 50.0;
/// Hand-off across two pretend nodes: at least this share of the same-node figure.
pub const PRETEND_NODES_OVER_SAME: f64 = 0.8;
/// Hand-off across two real nodes: at least this share of the same-node figure.
pub const REAL_NODES_OVER_SAME: f64 = 0.8;
/// Foreign free (`allocate_on` another node + drop): at most this many times a local one.
pub const FOREIGN_OVER_LOCAL_FREE: f64 = 2.0;
/// Bulk of 32 through handles, untouched: at most this many nanoseconds per block.
pub const BULK_UNTOUCHED_NS_PER_BLOCK: f64 = 1.5;
/// Bulk of 32 through handles, touched: below this share of the cost per block of the same 32
/// blocks allocated and dropped one at a time (faster per block).
pub const BULK_TOUCHED_OVER_SINGLES: f64 = 1.0;
/// Batch of 1024 touched on 2 threads: at most this many nanoseconds per block.
pub const BATCH2_NS_PER_BLOCK: f64 = 8.0;
/// Batch of 1024 touched on 2 threads: no round longer than this many microseconds
/// (`numaseg bench` only: criterion reports no single round).
pub const BATCH2_LONGEST_ROUND_US: f64 = 100.0;
