//! The targets of memory in motion (issue #14), in one place: `numaseg bench`'s target table
//! (`report.rs`) and the criterion bench `benches/in_motion.rs` both read these numbers. Rates
//! are million blocks per second, times are nanoseconds per block, ratios are between figures
//! of the same run. For the criterion bench also its benches' ids ([`ids`]), where criterion
//! keeps its estimates ([`criterion_dir`], [`read_estimates`]), and the target lines computed
//! from them ([`criterion_targets`], a pure function, and [`render`]).
//!
//! ```
//! use numaseg::bench::targets;
//! // A hand-off at 95 million blocks per second meets its target; one at 70 does not.
//! assert!(95.0 >= targets::HANDOFF_MBLOCKS_PER_S);
//! assert!(70.0 < targets::HANDOFF_MBLOCKS_PER_S);
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::report::{Target, fmt};

/// Hand-off one at a time on one node: at least this many million blocks per second.
///
/// ```
/// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
/// # fn line(estimates: &[E], what: &str) -> Target {
/// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
/// # }
/// use numaseg::bench::targets::HANDOFF_MBLOCKS_PER_S;
/// assert_eq!(HANDOFF_MBLOCKS_PER_S, 80.0); // million blocks per second
/// // 12.5 ns per block is exactly 80 M/s: the threshold is inclusive, and the line names it.
/// let t = line(&[E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 1e3 / HANDOFF_MBLOCKS_PER_S, Some(1))], "same node: at least 80 million");
/// assert_eq!(t.met, Some(true));
/// ```
pub const HANDOFF_MBLOCKS_PER_S: f64 = 80.0;
/// Hand-off one at a time on one node: at least this many times the crossbeam `ArrayQueue` pool.
///
/// ```
/// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
/// # fn line(estimates: &[E], what: &str) -> Target {
/// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
/// # }
/// use numaseg::bench::targets::HANDOFF_OVER_ARRAY_QUEUE;
/// assert_eq!(HANDOFF_OVER_ARRAY_QUEUE, 1.5); // a ratio of rates
/// let numaseg = E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 10.0, Some(1));
/// let slower = E::new(ids::GROUP_HANDOFF, ids::ARRAY_QUEUE, 20.0, Some(1)); // 2× slower
/// let t = line(&[numaseg, slower], "at least 1.5× crossbeam ArrayQueue pool");
/// assert_eq!((t.measured.as_str(), t.met), ("2.00×", Some(true)));
/// ```
pub const HANDOFF_OVER_ARRAY_QUEUE: f64 = 1.5;
/// Hand-off one at a time on one node: at least this many times the simple thread-local cache.
///
/// ```
/// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
/// # fn line(estimates: &[E], what: &str) -> Target {
/// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
/// # }
/// use numaseg::bench::targets::HANDOFF_OVER_TLS_CACHE;
/// assert_eq!(HANDOFF_OVER_TLS_CACHE, 1.0); // at least as fast
/// let numaseg = E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 10.0, Some(1));
/// let tie = E::new(ids::GROUP_HANDOFF, ids::TLS_CACHE, 10.0, Some(1));
/// assert_eq!(line(&[numaseg, tie], "same node: at least 1× simple thread-local cache").met, Some(true));
/// ```
pub const HANDOFF_OVER_TLS_CACHE: f64 = 1.0;
/// Network buffers requested on one thread and recycled on another, one at a time: at least
/// this many million blocks per second.
///
/// ```
/// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
/// # fn line(estimates: &[E], what: &str) -> Target {
/// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
/// # }
/// use numaseg::bench::targets::BUFFERS_MBLOCKS_PER_S;
/// assert_eq!(BUFFERS_MBLOCKS_PER_S, 50.0); // million blocks per second
/// // 25 ns per buffer is 40 M/s: short of the target.
/// let t = line(&[E::new(ids::GROUP_HANDOFF, ids::NETWORK_BUFFERS, 25.0, Some(1))], "network buffers requested");
/// assert!(t.target.ends_with("at least 50 M/s"));
/// assert_eq!((t.measured.as_str(), t.met), ("40.0 M/s", Some(false)));
/// ```
pub const BUFFERS_MBLOCKS_PER_S: f64 = 50.0;
/// Hand-off across two pretend nodes: at least this share of the same-node figure.
///
/// ```
/// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
/// # fn line(estimates: &[E], what: &str) -> Target {
/// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
/// # }
/// use numaseg::bench::targets::PRETEND_NODES_OVER_SAME;
/// assert_eq!(PRETEND_NODES_OVER_SAME, 0.8); // share of the same-node rate
/// let same = E::new(ids::GROUP_HANDOFF_PRETEND, ids::SAME_PRETEND, 10.0, Some(1));
/// let across = E::new(ids::GROUP_HANDOFF_PRETEND, ids::ACROSS_PRETEND, 20.0, Some(1)); // half the rate
/// let t = line(&[same, across], "across pretend nodes: at least 0.8×");
/// assert_eq!((t.measured.as_str(), t.met), ("0.50×", Some(false)));
/// ```
pub const PRETEND_NODES_OVER_SAME: f64 = 0.8;
/// Hand-off across two real nodes: at least this share of the same-node figure.
///
/// ```
/// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
/// # fn line(estimates: &[E], what: &str) -> Target {
/// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
/// # }
/// use numaseg::bench::targets::REAL_NODES_OVER_SAME;
/// assert_eq!(REAL_NODES_OVER_SAME, 0.8); // share of the same-node rate
/// let same = E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 10.0, Some(1));
/// let real = E::new(ids::GROUP_HANDOFF_REAL, ids::NUMASEG_SEGMENTS, 11.0, Some(1)); // about 0.91×
/// assert_eq!(line(&[same, real], "two real nodes: at least 0.8×").met, Some(true));
/// ```
pub const REAL_NODES_OVER_SAME: f64 = 0.8;
/// Foreign free (`allocate_on` another node + drop): at most this many times a local one.
///
/// ```
/// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
/// # fn line(estimates: &[E], what: &str) -> Target {
/// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
/// # }
/// use numaseg::bench::targets::FOREIGN_OVER_LOCAL_FREE;
/// assert_eq!(FOREIGN_OVER_LOCAL_FREE, 2.0); // a ceiling on a ratio of costs
/// let foreign = E::new(ids::GROUP_FOREIGN_FREE, ids::FOREIGN_FREE, 50.0, None);
/// let local = E::new(ids::GROUP_FOREIGN_FREE, ids::LOCAL_FREE, 20.0, None);
/// let t = line(&[foreign, local], "foreign free: at most 2×");
/// assert_eq!((t.measured.as_str(), t.met), ("2.50×", Some(false)));
/// ```
pub const FOREIGN_OVER_LOCAL_FREE: f64 = 2.0;
/// Bulk of 32 through handles, untouched: at most this many nanoseconds per block.
///
/// ```
/// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
/// # fn line(estimates: &[E], what: &str) -> Target {
/// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
/// # }
/// use numaseg::bench::targets::BULK_UNTOUCHED_NS_PER_BLOCK;
/// assert_eq!(BULK_UNTOUCHED_NS_PER_BLOCK, 1.5); // nanoseconds per block, a ceiling
/// // 32 ns per iteration of 32 blocks is 1 ns per block.
/// let t = line(&[E::new(ids::GROUP_BULK, ids::BULK_UNTOUCHED, 32.0, Some(32))], "at most 1.5 ns per block");
/// assert_eq!((t.measured.as_str(), t.met), ("1.00 ns", Some(true)));
/// ```
pub const BULK_UNTOUCHED_NS_PER_BLOCK: f64 = 1.5;
/// Bulk of 32 through handles, touched: below this share of the cost per block of the same 32
/// blocks allocated and dropped one at a time (faster per block).
///
/// ```
/// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
/// # fn line(estimates: &[E], what: &str) -> Target {
/// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
/// # }
/// use numaseg::bench::targets::BULK_TOUCHED_OVER_SINGLES;
/// assert_eq!(BULK_TOUCHED_OVER_SINGLES, 1.0);
/// // The only strict threshold: a bulk exactly as costly as the singles misses it.
/// let bulk = E::new(ids::GROUP_BULK, ids::BULK_TOUCHED, 64.0, Some(32));
/// let singles = E::new(ids::GROUP_BULK, ids::SINGLES_TOUCHED, 64.0, Some(32));
/// assert_eq!(line(&[bulk, singles], "handles, touched").met, Some(false));
/// ```
pub const BULK_TOUCHED_OVER_SINGLES: f64 = 1.0;
/// Batch of 1024 touched on 2 threads: at most this many nanoseconds per block.
///
/// ```
/// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
/// # fn line(estimates: &[E], what: &str) -> Target {
/// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
/// # }
/// use numaseg::bench::targets::BATCH2_NS_PER_BLOCK;
/// assert_eq!(BATCH2_NS_PER_BLOCK, 8.0); // nanoseconds per block, a ceiling
/// let at = E::new(ids::GROUP_BATCH2, ids::NUMASEG_SEGMENTS, BATCH2_NS_PER_BLOCK * 1024.0, Some(1024));
/// let t = line(&[at], "batch of 1024 touched, 2 threads: at most 8 ns per block");
/// assert_eq!(t.met, Some(true)); // inclusive
/// ```
pub const BATCH2_NS_PER_BLOCK: f64 = 8.0;
/// Batch of 1024 touched on 2 threads: no round longer than this many microseconds
/// (`numaseg bench` only: criterion reports no single round).
///
/// ```
/// use numaseg::bench::targets::{self, BATCH2_LONGEST_ROUND_US};
/// assert_eq!(BATCH2_LONGEST_ROUND_US, 100.0); // microseconds
/// assert_eq!(std::time::Duration::from_secs_f64(BATCH2_LONGEST_ROUND_US / 1e6), std::time::Duration::from_micros(100));
/// // Criterion reports no single round: none of its target lines judges rounds.
/// assert!(targets::criterion_targets(&[]).iter().all(|t| !t.target.contains("round")));
/// ```
pub const BATCH2_LONGEST_ROUND_US: f64 = 100.0;

/// The criterion bench `benches/in_motion.rs`: its group and function ids (the evaluation
/// below finds each bench by them, as criterion wrote them to `benchmark.json`).
///
/// ```
/// use numaseg::bench::targets::ids;
/// // One function id serves several groups: the group tells the benches apart.
/// assert_ne!(ids::GROUP_HANDOFF, ids::GROUP_HANDOFF_REAL);
/// assert_eq!(ids::NUMASEG_SEGMENTS, "numaseg segments");
/// ```
pub mod ids {
    /// Group: one-at-a-time hand-off on one node.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let h = E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 10.0, Some(1));
    /// assert_eq!(line(&[h.clone()], "same node: at least 80 million").met, Some(true));
    /// // The same function under another group is another bench.
    /// let elsewhere = E::new(ids::GROUP_BATCH2, ids::NUMASEG_SEGMENTS, 10.0, Some(1));
    /// assert_eq!(line(&[elsewhere], "same node: at least 80 million").met, None);
    /// ```
    pub const GROUP_HANDOFF: &str = "hand-off one at a time (32 KiB)";
    /// Group: one-at-a-time hand-off across two pretend nodes.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let same = E::new(ids::GROUP_HANDOFF_PRETEND, ids::SAME_PRETEND, 9.0, Some(1));
    /// let across = E::new(ids::GROUP_HANDOFF_PRETEND, ids::ACROSS_PRETEND, 10.0, Some(1));
    /// assert!(ids::GROUP_HANDOFF_PRETEND.contains("heap-backed"));
    /// assert_eq!(line(&[same, across], "pretend nodes").measured, "0.90×");
    /// ```
    pub const GROUP_HANDOFF_PRETEND: &str = "hand-off one at a time, pretend nodes (32 KiB, heap-backed)";
    /// Group: one-at-a-time hand-off between two real nodes.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let h = E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 10.0, Some(1));
    /// let real = E::new(ids::GROUP_HANDOFF_REAL, ids::NUMASEG_SEGMENTS, 20.0, Some(1));
    /// assert_eq!(line(&[h, real], "two real nodes").measured, "0.50×");
    /// ```
    pub const GROUP_HANDOFF_REAL: &str = "hand-off one at a time, two real nodes (32 KiB)";
    /// Group: foreign free against a local free.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let foreign = E::new(ids::GROUP_FOREIGN_FREE, ids::FOREIGN_FREE, 30.0, None);
    /// let local = E::new(ids::GROUP_FOREIGN_FREE, ids::LOCAL_FREE, 20.0, None);
    /// assert_eq!(line(&[foreign, local], "foreign free").measured, "1.50×");
    /// ```
    pub const GROUP_FOREIGN_FREE: &str = "foreign free (32 KiB allocate_on + touch + drop)";
    /// Group: bulk of 32 through handles against the same blocks one at a time.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let bulk = E::new(ids::GROUP_BULK, ids::BULK_UNTOUCHED, 32.0, Some(32));
    /// assert_eq!(line(&[bulk], "untouched").measured, "1.00 ns");
    /// ```
    pub const GROUP_BULK: &str = "bulk of 32 through handles (32 KiB)";
    /// Group: a batch of 1024 touched on each of 2 threads.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let batch = E::new(ids::GROUP_BATCH2, ids::NUMASEG_SEGMENTS, 7.0 * 1024.0, Some(1024));
    /// assert_eq!(line(&[batch], "batch of 1024 touched, 2").measured, "7.00 ns");
    /// ```
    pub const GROUP_BATCH2: &str = "batch of 1024 touched, 2 threads (32 KiB)";
    /// Function: numaseg's segments.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// assert_eq!(ids::NUMASEG_SEGMENTS, "numaseg segments");
    /// let h = E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 10.0, Some(1));
    /// assert_eq!(line(&[h], "same node: at least 80 million").measured, "100 M/s");
    /// ```
    pub const NUMASEG_SEGMENTS: &str = "numaseg segments";
    /// Function: numaseg's network buffers.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let b = E::new(ids::GROUP_HANDOFF, ids::NETWORK_BUFFERS, 1e3 / 60.0, Some(1));
    /// assert_eq!(line(&[b], "network buffers requested").measured, "60.0 M/s");
    /// ```
    pub const NETWORK_BUFFERS: &str = "numaseg network buffers";
    /// Function: numaseg's network buffers requested through a `BufferRequester`.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let r = E::new(ids::GROUP_HANDOFF, ids::NETWORK_BUFFERS_REQUESTER, 1e3 / 90.0, Some(1));
    /// let b = E::new(ids::GROUP_HANDOFF, ids::NETWORK_BUFFERS, 1e3 / 60.0, Some(1));
    /// assert_eq!(line(&[r, b], "BufferRequester").measured, "90.0 M/s (1.50× request_buffer)");
    /// ```
    pub const NETWORK_BUFFERS_REQUESTER: &str = "numaseg network buffers (requester)";
    /// Function: the simple thread-local cache.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let h = E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 10.0, Some(1));
    /// let tls = E::new(ids::GROUP_HANDOFF, ids::TLS_CACHE, 20.0, Some(1));
    /// assert_eq!(line(&[h, tls], "same node: at least 1× simple thread-local cache").measured, "2.00×");
    /// ```
    pub const TLS_CACHE: &str = "simple thread-local cache";
    /// Function: the simple thread-local cache, each block handed over in a ring slot as wide as
    /// a network `Buffer` (`BufferSizedTlsCache`).
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let b = E::new(ids::GROUP_HANDOFF, ids::NETWORK_BUFFERS, 1e3 / 60.0, Some(1));
    /// let peer = E::new(ids::GROUP_HANDOFF, ids::TLS_CACHE_BUFFER_SIZED, 1e3 / 30.0, Some(1));
    /// assert!(line(&[b, peer], "network buffers requested").measured.ends_with("a Buffer's size: 30.0 M/s)"));
    /// ```
    pub const TLS_CACHE_BUFFER_SIZED: &str = "simple thread-local cache, ring slots the size of a Buffer";
    /// Function: the crossbeam `ArrayQueue` pool.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let h = E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 10.0, Some(1));
    /// let aq = E::new(ids::GROUP_HANDOFF, ids::ARRAY_QUEUE, 25.0, Some(1));
    /// assert_eq!(line(&[h, aq], ids::ARRAY_QUEUE).measured, "2.50×"); // the line names the pool by its id
    /// ```
    pub const ARRAY_QUEUE: &str = "crossbeam ArrayQueue pool";
    /// Function: numaseg's segments, each touched at its colour offset
    /// ([`Segment::colour_offset`](crate::Segment::colour_offset)).
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let c = E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS_COLOURED, 1e3 / 120.0, Some(1));
    /// assert_eq!(line(&[c], "colour offset: at least 80 million").measured, "120 M/s");
    /// ```
    pub const NUMASEG_SEGMENTS_COLOURED: &str = "numaseg segments, coloured";
    /// Function: the simple thread-local cache, each block touched at the same colour offset.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let c = E::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS_COLOURED, 1e3 / 120.0, Some(1));
    /// let tls = E::new(ids::GROUP_HANDOFF, ids::TLS_CACHE_COLOURED, 1e3 / 40.0, Some(1));
    /// assert_eq!(line(&[c, tls], "touched at the same offsets").measured, "3.00×");
    /// ```
    pub const TLS_CACHE_COLOURED: &str = "simple thread-local cache, coloured";
    /// Function: both threads homed on pretend node 0.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// // The pretend-node line needs both functions of its group.
    /// let same = E::new(ids::GROUP_HANDOFF_PRETEND, ids::SAME_PRETEND, 10.0, Some(1));
    /// let across = E::new(ids::GROUP_HANDOFF_PRETEND, ids::ACROSS_PRETEND, 10.0, Some(1));
    /// assert_eq!(line(&[same.clone()], "pretend nodes").met, None);
    /// assert_eq!(line(&[same, across], "pretend nodes").measured, "1.00×");
    /// ```
    pub const SAME_PRETEND: &str = "both on node 0";
    /// Function: the producer on pretend node 1, the consumer on node 0.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// // The pretend-node line needs both functions of its group.
    /// let same = E::new(ids::GROUP_HANDOFF_PRETEND, ids::SAME_PRETEND, 10.0, Some(1));
    /// let across = E::new(ids::GROUP_HANDOFF_PRETEND, ids::ACROSS_PRETEND, 10.0, Some(1));
    /// assert_eq!(line(&[same.clone()], "pretend nodes").met, None);
    /// assert_eq!(line(&[same, across], "pretend nodes").measured, "1.00×");
    /// ```
    pub const ACROSS_PRETEND: &str = "producer on node 1, consumer on node 0";
    /// Function: a segment of node 1 dropped by a thread of node 0.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// // The foreign-free line needs both functions of its group.
    /// let foreign = E::new(ids::GROUP_FOREIGN_FREE, ids::FOREIGN_FREE, 40.0, None);
    /// let local = E::new(ids::GROUP_FOREIGN_FREE, ids::LOCAL_FREE, 20.0, None);
    /// assert_eq!(line(&[local.clone()], "foreign free").met, None);
    /// assert_eq!(line(&[foreign, local], "foreign free").measured, "2.00×");
    /// ```
    pub const FOREIGN_FREE: &str = "segment of node 1 dropped on node 0";
    /// Function: a segment of node 0 dropped by a thread of node 0.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// // The foreign-free line needs both functions of its group.
    /// let foreign = E::new(ids::GROUP_FOREIGN_FREE, ids::FOREIGN_FREE, 40.0, None);
    /// let local = E::new(ids::GROUP_FOREIGN_FREE, ids::LOCAL_FREE, 20.0, None);
    /// assert_eq!(line(&[local.clone()], "foreign free").met, None);
    /// assert_eq!(line(&[foreign, local], "foreign free").measured, "2.00×");
    /// ```
    pub const LOCAL_FREE: &str = "segment of node 0 dropped on node 0";
    /// Function: `allocate_bulk_into` → `release_all`, untouched.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// let bulk = E::new(ids::GROUP_BULK, ids::BULK_UNTOUCHED, 64.0, Some(32));
    /// let t = line(&[bulk], "untouched");
    /// assert_eq!((t.measured.as_str(), t.met), ("2.00 ns", Some(false)));
    /// ```
    pub const BULK_UNTOUCHED: &str = "allocate_bulk_into → release_all, untouched";
    /// Function: `allocate_bulk_into` → `release_all`, each block touched.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// // The touched bulk line compares the two functions.
    /// let bulk = E::new(ids::GROUP_BULK, ids::BULK_TOUCHED, 64.0, Some(32));
    /// let singles = E::new(ids::GROUP_BULK, ids::SINGLES_TOUCHED, 128.0, Some(32));
    /// assert_eq!(line(&[bulk, singles], "handles, touched").measured, "0.50× of the singles' cost");
    /// ```
    pub const BULK_TOUCHED: &str = "allocate_bulk_into → release_all, touched";
    /// Function: 32 `allocate` calls and 32 drops, untouched.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// assert_eq!(ids::SINGLES_UNTOUCHED, "32 × allocate → drop each, untouched");
    /// // Measured beside the bulk for the table, but no target line judges it.
    /// let singles = E::new(ids::GROUP_BULK, ids::SINGLES_UNTOUCHED, 64.0, Some(32));
    /// assert!(targets::criterion_targets(&[singles]).iter().all(|t| t.met.is_none()));
    /// ```
    pub const SINGLES_UNTOUCHED: &str = "32 × allocate → drop each, untouched";
    /// Function: 32 `allocate` calls and 32 drops, each block touched.
    ///
    /// ```
    /// # use numaseg::bench::{Target, targets::{self, CriterionEstimate as E, ids}};
    /// # fn line(estimates: &[E], what: &str) -> Target {
    /// #     targets::criterion_targets(estimates).into_iter().find(|t| t.target.contains(what)).expect(what)
    /// # }
    /// // The touched bulk line compares the two functions.
    /// let bulk = E::new(ids::GROUP_BULK, ids::BULK_TOUCHED, 64.0, Some(32));
    /// let singles = E::new(ids::GROUP_BULK, ids::SINGLES_TOUCHED, 128.0, Some(32));
    /// assert_eq!(line(&[bulk, singles], "handles, touched").measured, "0.50× of the singles' cost");
    /// ```
    pub const SINGLES_TOUCHED: &str = "32 × allocate → drop each, touched";
}

/// One criterion benchmark of this run: its ids and criterion's estimate of the time per
/// iteration.
///
/// ```
/// use numaseg::bench::targets::{CriterionEstimate, ids};
/// let e = CriterionEstimate::new(ids::GROUP_BULK, ids::BULK_UNTOUCHED, 32.0, Some(32));
/// assert_eq!(e.ns_per_block(), 1.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionEstimate {
    /// The group id (`benchmark.json`'s `group_id`).
    pub group: String,
    /// The function id (`benchmark.json`'s `function_id`).
    pub function: String,
    /// Nanoseconds per iteration: the point estimate of the slope where criterion fitted one,
    /// else of the mean (what criterion prints as `time`).
    pub ns_per_iteration: f64,
    /// Blocks per iteration (`Throughput::Elements` of the group; `None`: one).
    pub elements: Option<u64>,
}

impl CriterionEstimate {
    /// An estimate of `ns_per_iteration` for the bench `group` / `function`.
    ///
    /// ```
    /// use numaseg::bench::targets::{CriterionEstimate, ids};
    /// let e = CriterionEstimate::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 10.0, Some(1));
    /// assert_eq!(e.mblocks_per_s(), 100.0);
    /// ```
    #[must_use]
    pub fn new(group: &str, function: &str, ns_per_iteration: f64, elements: Option<u64>) -> Self {
        Self { group: group.to_owned(), function: function.to_owned(), ns_per_iteration, elements }
    }

    /// Nanoseconds per block.
    ///
    /// ```
    /// use numaseg::bench::targets::{CriterionEstimate, ids};
    /// let e = CriterionEstimate::new(ids::GROUP_BATCH2, ids::NUMASEG_SEGMENTS, 8192.0, Some(1024));
    /// assert_eq!(e.ns_per_block(), 8.0);
    /// ```
    #[must_use]
    pub fn ns_per_block(&self) -> f64 {
        self.ns_per_iteration / self.elements.unwrap_or(1).max(1) as f64
    }

    /// Million blocks per second.
    ///
    /// ```
    /// use numaseg::bench::targets::{CriterionEstimate, ids};
    /// let e = CriterionEstimate::new(ids::GROUP_HANDOFF, ids::NETWORK_BUFFERS, 20.0, Some(1));
    /// assert_eq!(e.mblocks_per_s(), 50.0);
    /// ```
    #[must_use]
    pub fn mblocks_per_s(&self) -> f64 {
        1e3 / self.ns_per_block()
    }
}

/// The figures the memory-in-motion target lines judge, wherever they were measured
/// (`numaseg bench`'s medians, criterion's estimates): rates in million blocks per second,
/// costs in nanoseconds per block, ratios between figures of one run; `None` where a figure was
/// not measured.
#[derive(Debug, Default, Clone)]
pub(crate) struct MotionFigures {
    /// One-at-a-time hand-off on one node (M/s).
    pub(crate) handoff: Option<f64>,
    /// The hand-off over the crossbeam `ArrayQueue` pool's.
    pub(crate) over_array_queue: Option<f64>,
    /// The hand-off over the simple thread-local cache's.
    pub(crate) over_tls_cache: Option<f64>,
    /// Network buffers requested on one thread, recycled on another (M/s).
    pub(crate) buffers: Option<f64>,
    /// The same through a `BufferRequester` (M/s).
    pub(crate) requester: Option<f64>,
    /// [`Self::requester`] over [`Self::buffers`] (`request_buffer` on the pool).
    pub(crate) requester_over_buffers: Option<f64>,
    /// The simple thread-local cache handing over values the size of a `Buffer` (M/s): what
    /// the ring slot's width alone allows.
    pub(crate) buffer_sized_peer: Option<f64>,
    /// [`Self::requester`] over [`Self::buffer_sized_peer`].
    pub(crate) requester_over_buffer_sized: Option<f64>,
    /// Across two pretend nodes over the same node.
    pub(crate) pretend: Option<f64>,
    /// How the pretend-node ratio was taken, for its line (in parentheses).
    pub(crate) pretend_how: &'static str,
    /// Across two real nodes over the same node.
    pub(crate) real: Option<f64>,
    /// Why the real-node rows did not run, if they did not.
    pub(crate) real_skipped: Option<String>,
    /// Foreign free over local free.
    pub(crate) foreign: Option<f64>,
    /// Bulk of 32 through handles, untouched (ns per block).
    pub(crate) bulk_untouched: Option<f64>,
    /// Bulk of 32 through handles, touched, over the same 32 blocks one at a time.
    pub(crate) bulk_touched: Option<f64>,
    /// Batch of 1024 touched on 2 threads (ns per block).
    pub(crate) batch2: Option<f64>,
    /// The simple thread-local cache's figure beside [`Self::batch2`], if the line shows it.
    pub(crate) batch2_peer: Option<f64>,
    /// [`Self::handoff`] with every block touched at its colour offset (M/s).
    pub(crate) handoff_coloured: Option<f64>,
    /// [`Self::handoff_coloured`] over the simple thread-local cache touched at the same offsets.
    pub(crate) coloured_over_tls_cache: Option<f64>,
    /// [`Self::batch2`] with every block touched at its colour offset (ns per block).
    pub(crate) batch2_coloured: Option<f64>,
    /// The simple thread-local cache's figure beside [`Self::batch2_coloured`], touched alike.
    pub(crate) batch2_coloured_peer: Option<f64>,
}

/// The memory-in-motion target lines both reports share, judged against the numbers above: each
/// goes to `push` as its wording and, if measured, what was measured and whether it was met.
/// (`numaseg bench` adds the batch's lines over rounds, which criterion does not see.)
pub(crate) fn motion_lines(f: &MotionFigures, push: &mut impl FnMut(String, Option<(String, bool)>)) {
    let times = |r: f64| format!("{}×", fmt(r));
    push(
        format!(
            "hand-off one at a time, 32 KiB, same node: at least {HANDOFF_MBLOCKS_PER_S} million blocks per second"
        ),
        f.handoff.map(|v| (format!("{} M/s", fmt(v)), v >= HANDOFF_MBLOCKS_PER_S)),
    );
    for (other, at_least, r) in [
        (ids::ARRAY_QUEUE, HANDOFF_OVER_ARRAY_QUEUE, f.over_array_queue),
        (ids::TLS_CACHE, HANDOFF_OVER_TLS_CACHE, f.over_tls_cache),
    ] {
        push(
            format!("hand-off one at a time, 32 KiB, same node: at least {at_least}× {other}"),
            r.map(|r| (times(r), r >= at_least)),
        );
    }
    push(
        format!(
            "network buffers requested on one thread, recycled on another, one at a time: at least {BUFFERS_MBLOCKS_PER_S} M/s"
        ),
        f.buffers.map(|v| {
            let peer = f.buffer_sized_peer.map_or_else(String::new, |p| {
                format!(
                    " (the simple thread-local cache in {}-byte ring slots, a Buffer's size: {} M/s)",
                    std::mem::size_of::<crate::buffer_pool::Buffer>(),
                    fmt(p)
                )
            });
            (format!("{} M/s{peer}", fmt(v)), v >= BUFFERS_MBLOCKS_PER_S)
        }),
    );
    push(
        format!(
            "network buffers through a BufferRequester, recycled on another thread, one at a time: at least {BUFFERS_MBLOCKS_PER_S} M/s"
        ),
        f.requester.map(|v| {
            let over = [
                f.requester_over_buffers.map(|r| format!("{} request_buffer", times(r))),
                f.requester_over_buffer_sized.map(|r| format!("{} the Buffer-sized thread-local cache", times(r))),
            ];
            let over: Vec<String> = over.into_iter().flatten().collect();
            let over = if over.is_empty() { String::new() } else { format!(" ({})", over.join(", ")) };
            (format!("{} M/s{over}", fmt(v)), v >= BUFFERS_MBLOCKS_PER_S)
        }),
    );
    push(
        format!(
            "hand-off across pretend nodes: at least {PRETEND_NODES_OVER_SAME}× the same-node figure ({})",
            f.pretend_how
        ),
        f.pretend.map(|r| (times(r), r >= PRETEND_NODES_OVER_SAME)),
    );
    let target = format!("hand-off across two real nodes: at least {REAL_NODES_OVER_SAME}× the same-node figure");
    match &f.real_skipped {
        Some(why) => push(format!("{target} (not run: {why})"), None),
        None => push(target, f.real.map(|r| (times(r), r >= REAL_NODES_OVER_SAME))),
    }
    push(
        format!("foreign free: at most {FOREIGN_OVER_LOCAL_FREE}× a local free (allocate_on + touch + drop)"),
        f.foreign.map(|r| (times(r), r <= FOREIGN_OVER_LOCAL_FREE)),
    );
    push(
        format!("bulk of 32 through handles, untouched: at most {BULK_UNTOUCHED_NS_PER_BLOCK} ns per block"),
        f.bulk_untouched.map(|v| (format!("{} ns", fmt(v)), v <= BULK_UNTOUCHED_NS_PER_BLOCK)),
    );
    push(
        "bulk of 32 through handles, touched: faster per block than the same 32 blocks allocated and dropped one at a time".into(),
        f.bulk_touched.map(|r| (format!("{} of the singles' cost", times(r)), r < BULK_TOUCHED_OVER_SINGLES)),
    );
    push(
        format!("batch of 1024 touched, 2 threads: at most {BATCH2_NS_PER_BLOCK} ns per block"),
        f.batch2.map(|v| {
            let peer =
                f.batch2_peer.map_or_else(String::new, |t| format!(" (simple thread-local cache {} ns)", fmt(t)));
            (format!("{} ns{peer}", fmt(v)), v <= BATCH2_NS_PER_BLOCK)
        }),
    );
    // The same targets with every block touched at its colour offset, the peer touched alike:
    // what a consumer that writes its header there gets (docs/BENCHMARKS.md, *Nineteenth pass*).
    push(
        format!(
            "hand-off one at a time, 32 KiB, same node, touched at the colour offset: at least {HANDOFF_MBLOCKS_PER_S} million blocks per second"
        ),
        f.handoff_coloured.map(|v| (format!("{} M/s", fmt(v)), v >= HANDOFF_MBLOCKS_PER_S)),
    );
    push(
        format!(
            "hand-off one at a time, 32 KiB, same node, touched at the colour offset: at least {HANDOFF_OVER_TLS_CACHE}× {} touched at the same offsets",
            ids::TLS_CACHE
        ),
        f.coloured_over_tls_cache.map(|r| (times(r), r >= HANDOFF_OVER_TLS_CACHE)),
    );
    push(
        format!("batch of 1024 touched at the colour offset, 2 threads: at most {BATCH2_NS_PER_BLOCK} ns per block"),
        f.batch2_coloured.map(|v| {
            let peer = f
                .batch2_coloured_peer
                .map_or_else(String::new, |t| format!(" (simple thread-local cache, coloured {} ns)", fmt(t)));
            (format!("{} ns{peer}", fmt(v)), v <= BATCH2_NS_PER_BLOCK)
        }),
    );
}

/// The target lines of memory in motion, computed from criterion's estimates of one run of
/// `benches/in_motion.rs`: rates and costs per block from each bench's time per iteration and its
/// group's elements, ratios between benches of the same run. A line whose benches are not all
/// among `estimates` is not measured (`met: None`). The longest-round target of the batch is
/// `numaseg bench`'s alone (criterion reports no single round).
///
/// ```
/// use numaseg::bench::targets::{self, CriterionEstimate, ids};
/// let lines = targets::criterion_targets(&[CriterionEstimate::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 10.0, Some(1))]);
/// assert_eq!(lines[0].measured, "100 M/s");
/// assert_eq!(lines[0].met, Some(true));
/// assert_eq!(lines[1].met, None); // no ArrayQueue pool in these estimates
/// ```
#[must_use]
pub fn criterion_targets(estimates: &[CriterionEstimate]) -> Vec<Target> {
    use ids::{
        ACROSS_PRETEND, ARRAY_QUEUE, BULK_TOUCHED, BULK_UNTOUCHED, FOREIGN_FREE, GROUP_BATCH2, GROUP_BULK,
        GROUP_FOREIGN_FREE, GROUP_HANDOFF, GROUP_HANDOFF_PRETEND, GROUP_HANDOFF_REAL, LOCAL_FREE, NETWORK_BUFFERS,
        NETWORK_BUFFERS_REQUESTER, NUMASEG_SEGMENTS, NUMASEG_SEGMENTS_COLOURED, SAME_PRETEND, SINGLES_TOUCHED,
        TLS_CACHE, TLS_CACHE_BUFFER_SIZED, TLS_CACHE_COLOURED,
    };
    let find = |group: &str, function: &str| estimates.iter().find(|e| e.group == group && e.function == function);
    let rate = |group: &str, function: &str| find(group, function).map(CriterionEstimate::mblocks_per_s);
    let cost = |group: &str, function: &str| find(group, function).map(CriterionEstimate::ns_per_block);
    let handoff = rate(GROUP_HANDOFF, NUMASEG_SEGMENTS);
    let over = |other: &str| handoff.zip(rate(GROUP_HANDOFF, other)).map(|(n, o)| n / o);
    let figures = MotionFigures {
        handoff,
        over_array_queue: over(ARRAY_QUEUE),
        over_tls_cache: over(TLS_CACHE),
        buffers: rate(GROUP_HANDOFF, NETWORK_BUFFERS),
        requester: rate(GROUP_HANDOFF, NETWORK_BUFFERS_REQUESTER),
        requester_over_buffers: rate(GROUP_HANDOFF, NETWORK_BUFFERS_REQUESTER)
            .zip(rate(GROUP_HANDOFF, NETWORK_BUFFERS))
            .map(|(r, b)| r / b),
        buffer_sized_peer: rate(GROUP_HANDOFF, TLS_CACHE_BUFFER_SIZED),
        requester_over_buffer_sized: rate(GROUP_HANDOFF, NETWORK_BUFFERS_REQUESTER)
            .zip(rate(GROUP_HANDOFF, TLS_CACHE_BUFFER_SIZED))
            .map(|(r, p)| r / p),
        pretend: rate(GROUP_HANDOFF_PRETEND, ACROSS_PRETEND)
            .zip(rate(GROUP_HANDOFF_PRETEND, SAME_PRETEND))
            .map(|(x, s)| x / s),
        pretend_how: "heap-backed",
        real: rate(GROUP_HANDOFF_REAL, NUMASEG_SEGMENTS).zip(handoff).map(|(x, s)| x / s),
        real_skipped: None,
        foreign: cost(GROUP_FOREIGN_FREE, FOREIGN_FREE).zip(cost(GROUP_FOREIGN_FREE, LOCAL_FREE)).map(|(f, l)| f / l),
        bulk_untouched: cost(GROUP_BULK, BULK_UNTOUCHED),
        bulk_touched: cost(GROUP_BULK, BULK_TOUCHED).zip(cost(GROUP_BULK, SINGLES_TOUCHED)).map(|(b, s)| b / s),
        batch2: cost(GROUP_BATCH2, NUMASEG_SEGMENTS),
        batch2_peer: cost(GROUP_BATCH2, TLS_CACHE),
        handoff_coloured: rate(GROUP_HANDOFF, NUMASEG_SEGMENTS_COLOURED),
        coloured_over_tls_cache: rate(GROUP_HANDOFF, NUMASEG_SEGMENTS_COLOURED)
            .zip(rate(GROUP_HANDOFF, TLS_CACHE_COLOURED))
            .map(|(n, t)| n / t),
        batch2_coloured: cost(GROUP_BATCH2, NUMASEG_SEGMENTS_COLOURED),
        batch2_coloured_peer: cost(GROUP_BATCH2, TLS_CACHE_COLOURED),
    };
    let mut out = Vec::new();
    motion_lines(&figures, &mut |target, measured| {
        let (measured, met) = measured.map_or(("–".to_owned(), None), |(m, ok)| (m, Some(ok)));
        out.push(Target { target, measured, met });
    });
    out
}

/// The target lines as a table under a title: one row per target with what was measured and
/// `met`, `MISSED` or `not measured in this run`.
///
/// ```
/// use numaseg::bench::targets;
/// let table = targets::render(&targets::criterion_targets(&[]));
/// assert!(table.starts_with("targets (issue #14)"));
/// assert!(table.contains("| – | not measured in this run |"));
/// ```
#[must_use]
pub fn render(lines: &[Target]) -> String {
    let mut out = String::from(
        "targets (issue #14), from criterion's estimates of this run:\n\n| target | measured | met |\n|---|---|---|\n",
    );
    for t in lines {
        let met = match t.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured in this run",
        };
        let _ = writeln!(out, "| {} | {} | {met} |", t.target, t.measured);
    }
    out
}

/// Why criterion writes no estimates with these command-line arguments (the program's name
/// first, as `std::env::args` gives them), if it writes none: `--list`, test mode (`--test`,
/// or a run without `--bench`, as `cargo test --benches` starts it), `--profile-time`,
/// `--discard-baseline` and `--load-baseline`. `None`: a measuring run, whose estimates
/// [`criterion_targets`] evaluates.
///
/// ```
/// use numaseg::bench::targets::not_evaluated;
/// assert_eq!(not_evaluated(&["in_motion", "--bench"]), None);
/// assert!(not_evaluated(&["in_motion", "--bench", "--test"]).is_some());
/// ```
#[must_use]
pub fn not_evaluated<S: AsRef<str>>(args: &[S]) -> Option<&'static str> {
    let has = |flag: &str| {
        args.iter()
            .skip(1)
            .map(AsRef::as_ref)
            .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
    };
    if has("--list") {
        Some("--list runs no benchmark")
    } else if has("--test") || !has("--bench") {
        Some("test mode (--test, or no --bench): each benchmark runs once, criterion writes no estimates")
    } else if has("--profile-time") {
        Some("--profile-time writes no estimates")
    } else if has("--discard-baseline") || has("--load-baseline") {
        Some("--discard-baseline and --load-baseline write no new estimates")
    } else {
        None
    }
}

/// Where criterion writes its estimates, found the way criterion finds it: `CRITERION_HOME`;
/// else `criterion` in `CARGO_TARGET_DIR`; else in the target directory that holds the running
/// executable (the first ancestor with cargo's `CACHEDIR.TAG`, else three levels up from
/// `<target>/<profile>/deps/<bench>`); else `target/criterion`.
///
/// ```
/// let dir = numaseg::bench::targets::criterion_dir();
/// assert!(dir.ends_with("criterion") || std::env::var_os("CRITERION_HOME").is_some());
/// ```
#[must_use]
pub fn criterion_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    criterion_dir_from(
        std::env::var_os("CRITERION_HOME").map(PathBuf::from),
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from),
        exe.as_deref(),
    )
}

/// [`criterion_dir`] given the two variables and the executable's path.
fn criterion_dir_from(home: Option<PathBuf>, target_dir: Option<PathBuf>, exe: Option<&Path>) -> PathBuf {
    if let Some(home) = home {
        return home;
    }
    if let Some(target) = target_dir {
        return target.join("criterion");
    }
    let from_exe = exe.and_then(|exe| {
        exe.ancestors().skip(1).find(|d| d.join("CACHEDIR.TAG").is_file()).or_else(|| exe.ancestors().nth(3))
    });
    from_exe.map_or_else(|| PathBuf::from("target/criterion"), |t| t.join("criterion"))
}

/// The estimates criterion wrote under `dir` at or after `since` (the start of this run): every
/// `new/benchmark.json` with its `new/estimates.json`, whose ids say which bench it is (the
/// directory names are criterion's sanitised, possibly numbered, copies of them). Files written
/// before `since` are an earlier run's and left out; so is anything unreadable.
///
/// ```
/// use std::time::SystemTime;
/// let dir = std::env::temp_dir().join("numaseg-doc-criterion-empty");
/// assert!(numaseg::bench::targets::read_estimates(&dir, SystemTime::now()).is_empty());
/// ```
#[must_use]
pub fn read_estimates(dir: &Path, since: SystemTime) -> Vec<CriterionEstimate> {
    let mut found: Vec<(SystemTime, CriterionEstimate)> = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                if let Some(e) = read_one(&path, since) {
                    found.push(e);
                }
            } else if depth < 4 {
                pending.push((path, depth + 1));
            }
        }
    }
    // Two directories of one bench (criterion numbers a clash): the newest.
    found.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out: Vec<CriterionEstimate> = Vec::new();
    for (_, e) in found {
        if !out.iter().any(|o| o.group == e.group && o.function == e.function) {
            out.push(e);
        }
    }
    out
}

/// One `new/` directory: its bench's ids, elements and time per iteration, with when the
/// estimates were written; `None` if a file is missing, unreadable or older than `since`.
fn read_one(new: &Path, since: SystemTime) -> Option<(SystemTime, CriterionEstimate)> {
    let estimates = new.join("estimates.json");
    let written = std::fs::metadata(&estimates).and_then(|m| m.modified()).ok()?;
    if written < since {
        return None;
    }
    let id: serde_json::Value = serde_json::from_slice(&std::fs::read(new.join("benchmark.json")).ok()?).ok()?;
    let est: serde_json::Value = serde_json::from_slice(&std::fs::read(estimates).ok()?).ok()?;
    let typical = est.get("slope").filter(|s| !s.is_null()).or_else(|| est.get("mean"))?;
    Some((
        written,
        CriterionEstimate {
            group: id.get("group_id")?.as_str()?.to_owned(),
            function: id.get("function_id")?.as_str()?.to_owned(),
            ns_per_iteration: typical.get("point_estimate")?.as_f64()?,
            elements: id.get("throughput").and_then(|t| t.get("Elements")).and_then(serde_json::Value::as_u64),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::ids::*;
    use super::*;

    /// Every bench of `benches/in_motion.rs`, with figures that meet every target: hand-off
    /// 100 M/s, 2.5× the `ArrayQueue` pool, 2× the TLS cache, buffers 60 M/s (90 M/s through a
    /// requester; the TLS cache in `Buffer`-sized ring slots 30 M/s), pretend and real
    /// nodes 0.9×, foreign free 1.5×, bulk 1 ns untouched and 0.5× touched, batch 7 ns; touched at
    /// the colour offset, hand-off 120 M/s (3× the coloured TLS cache) and batch 5 ns.
    fn all_met() -> Vec<CriterionEstimate> {
        let e = CriterionEstimate::new;
        vec![
            e(GROUP_HANDOFF, NUMASEG_SEGMENTS, 10.0, Some(1)),
            e(GROUP_HANDOFF, NETWORK_BUFFERS, 1e3 / 60.0, Some(1)),
            e(GROUP_HANDOFF, NETWORK_BUFFERS_REQUESTER, 1e3 / 90.0, Some(1)),
            e(GROUP_HANDOFF, TLS_CACHE, 20.0, Some(1)),
            e(GROUP_HANDOFF, TLS_CACHE_BUFFER_SIZED, 1e3 / 30.0, Some(1)),
            e(GROUP_HANDOFF, ARRAY_QUEUE, 25.0, Some(1)),
            e(GROUP_HANDOFF_PRETEND, SAME_PRETEND, 9.0, Some(1)),
            e(GROUP_HANDOFF_PRETEND, ACROSS_PRETEND, 10.0, Some(1)),
            e(GROUP_HANDOFF_REAL, NUMASEG_SEGMENTS, 10.0 / 0.9, Some(1)),
            e(GROUP_HANDOFF_REAL, TLS_CACHE, 20.0, Some(1)),
            e(GROUP_FOREIGN_FREE, FOREIGN_FREE, 30.0, None),
            e(GROUP_FOREIGN_FREE, LOCAL_FREE, 20.0, None),
            e(GROUP_BULK, BULK_UNTOUCHED, 32.0, Some(32)),
            e(GROUP_BULK, SINGLES_UNTOUCHED, 64.0, Some(32)),
            e(GROUP_BULK, BULK_TOUCHED, 64.0, Some(32)),
            e(GROUP_BULK, SINGLES_TOUCHED, 128.0, Some(32)),
            e(GROUP_BATCH2, NUMASEG_SEGMENTS, 7.0 * 1024.0, Some(1024)),
            e(GROUP_BATCH2, TLS_CACHE, 6.0 * 1024.0, Some(1024)),
            e(GROUP_HANDOFF, NUMASEG_SEGMENTS_COLOURED, 1e3 / 120.0, Some(1)),
            e(GROUP_HANDOFF, TLS_CACHE_COLOURED, 1e3 / 40.0, Some(1)),
            e(GROUP_BATCH2, NUMASEG_SEGMENTS_COLOURED, 5.0 * 1024.0, Some(1024)),
            e(GROUP_BATCH2, TLS_CACHE_COLOURED, 6.5 * 1024.0, Some(1024)),
        ]
    }

    fn set(estimates: &mut [CriterionEstimate], group: &str, function: &str, ns_per_iteration: f64) {
        let e = estimates.iter_mut().find(|e| e.group == group && e.function == function).expect("bench");
        e.ns_per_iteration = ns_per_iteration;
    }

    #[test]
    fn every_target_met() {
        let lines = criterion_targets(&all_met());
        assert_eq!(lines.len(), 14);
        assert!(lines.iter().all(|t| t.met == Some(true)), "{lines:#?}");
        let measured: Vec<&str> = lines.iter().map(|t| t.measured.as_str()).collect();
        let bytes = std::mem::size_of::<crate::buffer_pool::Buffer>();
        assert_eq!(
            measured,
            [
                "100 M/s",
                "2.50×",
                "2.00×",
                &format!(
                    "60.0 M/s (the simple thread-local cache in {bytes}-byte ring slots, a Buffer's size: 30.0 M/s)"
                ),
                "90.0 M/s (1.50× request_buffer, 3.00× the Buffer-sized thread-local cache)",
                "0.90×",
                "0.90×",
                "1.50×",
                "1.00 ns",
                "0.50× of the singles' cost",
                "7.00 ns (simple thread-local cache 6.00 ns)",
                "120 M/s",
                "3.00×",
                "5.00 ns (simple thread-local cache, coloured 6.50 ns)",
            ]
        );
        let table = render(&lines);
        let met_rows = table.lines().skip_while(|l| !l.starts_with("|---")).filter(|l| l.ends_with(" | met |"));
        assert_eq!(met_rows.count(), 14, "{table}");
        assert!(!table.contains("MISSED") && !table.contains("not measured"), "{table}");
    }

    /// Each target missed alone, by moving one bench just past its threshold; the others stay met.
    #[test]
    fn a_target_just_past_its_threshold_is_missed() {
        let cases: [(usize, &str, &str, f64); 14] = [
            (0, GROUP_HANDOFF, NUMASEG_SEGMENTS, 1e3 / 79.9),
            (1, GROUP_HANDOFF, ARRAY_QUEUE, 14.9),
            (2, GROUP_HANDOFF, TLS_CACHE, 9.9),
            (3, GROUP_HANDOFF, NETWORK_BUFFERS, 1e3 / 49.9),
            (4, GROUP_HANDOFF, NETWORK_BUFFERS_REQUESTER, 1e3 / 49.9),
            (5, GROUP_HANDOFF_PRETEND, ACROSS_PRETEND, 9.0 / 0.79),
            (6, GROUP_HANDOFF_REAL, NUMASEG_SEGMENTS, 10.0 / 0.79),
            (7, GROUP_FOREIGN_FREE, FOREIGN_FREE, 40.1),
            (8, GROUP_BULK, BULK_UNTOUCHED, 1.51 * 32.0),
            (9, GROUP_BULK, BULK_TOUCHED, 128.0),
            (10, GROUP_BATCH2, NUMASEG_SEGMENTS, 8.01 * 1024.0),
            // The coloured hand-off below 80 M/s stays above its peer (40 M/s); a coloured peer
            // above it misses the ratio alone.
            (11, GROUP_HANDOFF, NUMASEG_SEGMENTS_COLOURED, 1e3 / 79.9),
            (12, GROUP_HANDOFF, TLS_CACHE_COLOURED, 1e3 / 120.1),
            (13, GROUP_BATCH2, NUMASEG_SEGMENTS_COLOURED, 8.01 * 1024.0),
        ];
        for (line, group, function, ns) in cases {
            let mut estimates = all_met();
            set(&mut estimates, group, function, ns);
            let lines = criterion_targets(&estimates);
            assert_eq!(lines[line].met, Some(false), "{group} / {function}: {:?}", lines[line]);
            let missed: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].met == Some(false)).collect();
            assert_eq!(missed, [line], "{group} / {function}");
            assert!(render(&lines).contains("| MISSED |"));
        }
    }

    /// The thresholds are inclusive where the target says "at least" or "at most", and the
    /// touched bulk must be strictly cheaper than the singles.
    #[test]
    fn thresholds_are_inclusive_except_the_strict_one() {
        let mut estimates = all_met();
        set(&mut estimates, GROUP_HANDOFF, NUMASEG_SEGMENTS, 1e3 / HANDOFF_MBLOCKS_PER_S);
        set(&mut estimates, GROUP_FOREIGN_FREE, FOREIGN_FREE, 20.0 * FOREIGN_OVER_LOCAL_FREE);
        set(&mut estimates, GROUP_BULK, BULK_UNTOUCHED, 32.0 * BULK_UNTOUCHED_NS_PER_BLOCK);
        set(&mut estimates, GROUP_BULK, BULK_TOUCHED, 128.0 * BULK_TOUCHED_OVER_SINGLES);
        let lines = criterion_targets(&estimates);
        assert_eq!(lines[0].met, Some(true), "{:?}", lines[0]);
        assert_eq!(lines[7].met, Some(true), "{:?}", lines[7]);
        assert_eq!(lines[8].met, Some(true), "{:?}", lines[8]);
        assert_eq!(lines[9].met, Some(false), "{:?}", lines[9]);
    }

    /// A bench missing from the run (the real-node group on a one-node host, a filtered run)
    /// leaves its lines unmeasured, not met or missed; a bench of another group with the same
    /// function id does not stand in for it.
    #[test]
    fn a_missing_bench_is_not_measured() {
        let estimates: Vec<CriterionEstimate> = all_met()
            .into_iter()
            .filter(|e| e.group != GROUP_HANDOFF_REAL && e.function != ARRAY_QUEUE && e.function != TLS_CACHE_COLOURED)
            .collect();
        let lines = criterion_targets(&estimates);
        for i in [1, 6, 12] {
            assert_eq!(lines[i].met, None, "{:?}", lines[i]);
            assert_eq!(lines[i].measured, "–");
        }
        assert_eq!(lines.iter().filter(|t| t.met == Some(true)).count(), 11);
        let table = render(&lines);
        assert_eq!(table.matches("| not measured in this run |").count(), 3, "{table}");
        let none = criterion_targets(&[]);
        assert!(none.iter().all(|t| t.met.is_none()));
    }

    #[test]
    fn test_list_and_profile_modes_are_not_evaluated() {
        assert_eq!(not_evaluated(&["bench", "--bench"]), None);
        assert_eq!(not_evaluated(&["bench", "--bench", "--warm-up-time", "0.5", "hand-off"]), None);
        for args in [
            &["bench", "--bench", "--test"][..],
            &["bench"],
            &["bench", "--bench", "--list"],
            &["bench", "--list", "--format", "terse"],
            &["bench", "--bench", "--profile-time", "5"],
            &["bench", "--bench", "--profile-time=5"],
            &["bench", "--bench", "--discard-baseline"],
            &["bench", "--bench", "--load-baseline", "old"],
        ] {
            assert!(not_evaluated(args).is_some(), "{args:?}");
        }
        // The program's name is no flag.
        assert!(not_evaluated(&["--bench"]).is_some());
    }

    #[test]
    fn the_criterion_dir_is_found_as_criterion_finds_it() {
        let p = PathBuf::from;
        assert_eq!(criterion_dir_from(Some(p("/h")), Some(p("/t")), None), p("/h"));
        assert_eq!(criterion_dir_from(None, Some(p("/t")), None), p("/t/criterion"));
        assert_eq!(
            criterion_dir_from(None, None, Some(Path::new("/nonexistent/t/release/deps/in_motion-0123"))),
            p("/nonexistent/t/criterion")
        );
        assert_eq!(criterion_dir_from(None, None, None), p("target/criterion"));
        // A target directory with a triple in it: cargo's tag marks the root.
        let root = scratch("dir");
        let exe = root.join("x86_64-unknown-linux-gnu/release/deps/in_motion-0123");
        std::fs::create_dir_all(exe.parent().expect("deps")).expect("mkdir");
        std::fs::write(root.join("CACHEDIR.TAG"), "Signature: 8a477f597d28d172789f06886806bc55").expect("tag");
        assert_eq!(criterion_dir_from(None, None, Some(&exe)), root.join("criterion"));
        std::fs::remove_dir_all(&root).expect("clean up");
    }

    /// A fresh directory under the system's temporary one.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("numaseg-targets-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// Writes a bench's `new/` files as criterion does, under `dir/<dirname>`.
    fn write_bench(dir: &Path, dirname: &str, group: &str, function: &str, throughput: &str, estimates: &str) {
        let new = dir.join(dirname).join("new");
        std::fs::create_dir_all(&new).expect("mkdir");
        let id = format!(
            r#"{{"group_id":"{group}","function_id":"{function}","value_str":null,"throughput":{throughput},"full_id":"{group}/{function}","directory_name":"{dirname}","title":"{group}/{function}"}}"#
        );
        std::fs::write(new.join("benchmark.json"), id).expect("benchmark.json");
        std::fs::write(new.join("estimates.json"), estimates).expect("estimates.json");
    }

    fn estimate(point: f64) -> String {
        format!(
            r#"{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":{point},"upper_bound":{point}}},"point_estimate":{point},"standard_error":0.1}}"#
        )
    }

    #[test]
    fn estimates_are_read_by_their_ids_and_only_from_this_run() {
        let dir = scratch("read");
        let (slope, mean) = (estimate(10.0), estimate(11.0));
        let with_slope =
            format!(r#"{{"mean":{mean},"median":{mean},"median_abs_dev":{mean},"slope":{slope},"std_dev":{mean}}}"#);
        let flat =
            format!(r#"{{"mean":{mean},"median":{mean},"median_abs_dev":{mean},"slope":null,"std_dev":{mean}}}"#);
        // A stale bench of an earlier run, then this run's.
        write_bench(&dir, "old/numaseg network buffers", GROUP_HANDOFF, NETWORK_BUFFERS, r#"{"Elements":1}"#, &flat);
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let stale = std::fs::File::options()
            .write(true)
            .open(dir.join("old/numaseg network buffers/new/estimates.json"))
            .expect("open");
        stale.set_modified(old).expect("set mtime");
        let since = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        // Directory names unlike the ids, as criterion's sanitising and numbering make them.
        write_bench(
            &dir,
            "hand-off one at a time (32 KiB)/numaseg segments",
            GROUP_HANDOFF,
            NUMASEG_SEGMENTS,
            r#"{"Elements":1}"#,
            &with_slope,
        );
        write_bench(&dir, "foreign free_1/x", GROUP_FOREIGN_FREE, FOREIGN_FREE, "null", &flat);
        write_bench(&dir, "b/c", GROUP_BULK, BULK_UNTOUCHED, r#"{"Elements":32}"#, &with_slope);
        std::fs::create_dir_all(dir.join("report")).expect("criterion's report dir");
        let mut got = read_estimates(&dir, since);
        got.sort_by(|a, b| a.group.cmp(&b.group));
        assert_eq!(
            got,
            vec![
                CriterionEstimate::new(GROUP_BULK, BULK_UNTOUCHED, 10.0, Some(32)),
                CriterionEstimate::new(GROUP_FOREIGN_FREE, FOREIGN_FREE, 11.0, None),
                CriterionEstimate::new(GROUP_HANDOFF, NUMASEG_SEGMENTS, 10.0, Some(1)),
            ]
        );
        assert!(read_estimates(&dir.join("absent"), since).is_empty());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
