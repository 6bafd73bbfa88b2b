//! The harness's results: rows with median and min–max, latency percentiles, TLB results, the
//! performance targets with measured values, and their renderings — Markdown tables, JSON, and
//! an SVG chart of every contender's ratio against numaseg.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;
use serde::Serialize;

use super::debloat::DebloatRow;
use super::isolation::IsolationRow;
use super::motion::{
    ACROSS_PRETEND, BATCH2, BATCH2_LONGEST, BATCH2_LONGEST_UNPREEMPTED, BATCH2_PREEMPTED, BATCH2_SLOW_UNPREEMPTED,
    BATCH2_UNPREEMPTED, BULK, BULK_TOUCHED, BULK_UNTOUCHED, CLOCK_READER, FOREIGN, FOREIGN_FREE, FOREIGN_OVER_LOCAL,
    FOREIGN_RATIO, HANDOFF, HANDOFF_COLOURED, HANDOFF_COLOURED_RATIO, HANDOFF_PRETEND, HANDOFF_PRETEND_RATIO,
    HANDOFF_RATIO, HANDOFF_REAL, HANDOFF_REQUESTER_RATIO, LOCAL_FREE, PRETEND_RATIO, SAME_PRETEND, SINGLES_TOUCHED,
    STALLS, STALLS_50, STALLS_LONGEST, requester_over_buffer_sized, requester_over_buffers,
};
use super::targets::{BATCH2_LONGEST_ROUND_US, BATCH2_NS_PER_BLOCK, MotionFigures, ids, motion_lines};
use super::timer::Calibration;
use super::tlb::TlbResult;
use super::workloads::Latency;
use super::{BenchOptions, CHUNKED, Machine};

const NUMASEG: &str = "numaseg segments";
const COLOURED: &str = "numaseg segments, coloured";

/// One measurement: median and range over the repetitions.
///
/// ```
/// use numaseg::bench::Row;
/// let row = Row { workload: "hot pair", contender: "jemalloc".into(), size: 4096, threads: 1, unit: "ns/op", median: 9.0, min: 8.5, max: 11.0 };
/// // As `compare.json` states it.
/// let json = serde_json::to_value(&row)?;
/// assert_eq!(json["workload"], "hot pair");
/// assert_eq!(json["median"], 9.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Workload.
    pub workload: &'static str,
    /// Contender.
    pub contender: String,
    /// Block size in bytes.
    pub size: usize,
    /// Threads.
    pub threads: usize,
    /// Unit of the figures.
    pub unit: &'static str,
    /// Median over the repetitions.
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

impl Row {
    pub(super) fn new(
        workload: &'static str,
        contender: &str,
        size: usize,
        threads: usize,
        unit: &'static str,
        samples: &[f64],
    ) -> Self {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        Self {
            workload,
            contender: contender.to_owned(),
            size,
            threads,
            unit,
            median: s.get(s.len() / 2).copied().unwrap_or(f64::NAN),
            min: s.first().copied().unwrap_or(f64::NAN),
            max: s.last().copied().unwrap_or(f64::NAN),
        }
    }

    fn higher_is_better(&self) -> bool {
        // Throughputs, and the ratio of two throughputs (across / same).
        self.unit.starts_with('M') || self.unit == "×"
    }
}

/// Per-allocation latency of one contender in one pattern.
///
/// ```
/// use numaseg::bench::LatencyRow;
/// let row = LatencyRow { pattern: "batch", contender: "jemalloc".into(), size: 4096, threads: 2, p50: 9.0, p99: 30.0, p999: 80.0, max: 900.0 };
/// let json = serde_json::to_value(&row)?;
/// assert_eq!(json["pattern"], "batch");
/// assert_eq!(json["p999"], 80.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRow {
    /// `hot pair` or `batch`.
    pub pattern: &'static str,
    /// Contender.
    pub contender: String,
    /// Block size.
    pub size: usize,
    /// Threads.
    pub threads: usize,
    /// Median, ns.
    pub p50: f64,
    /// 99th percentile, ns.
    pub p99: f64,
    /// 99.9th percentile, ns.
    pub p999: f64,
    /// Largest sample, ns.
    pub max: f64,
}

impl LatencyRow {
    pub(super) fn new(pattern: &'static str, contender: &str, size: usize, threads: usize, l: Latency) -> Self {
        Self {
            pattern,
            contender: contender.to_owned(),
            size,
            threads,
            p50: l.p50,
            p99: l.p99,
            p999: l.p999,
            max: l.max,
        }
    }
}

/// One performance target and what was measured.
///
/// ```
/// use numaseg::bench::targets::{self, CriterionEstimate, ids};
/// // 20 ns per block is 50 million blocks per second: below the hand-off target.
/// let lines = targets::criterion_targets(&[CriterionEstimate::new(ids::GROUP_HANDOFF, ids::NUMASEG_SEGMENTS, 20.0, Some(1))]);
/// let t: &numaseg::bench::Target = &lines[0];
/// assert_eq!((t.measured.as_str(), t.met), ("50.0 M/s", Some(false)));
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The target, in words.
    pub target: String,
    /// What was measured, in words.
    pub measured: String,
    /// Whether it was met (`None`: not measured in this run).
    pub met: Option<bool>,
}

/// A TLB result or why the variant could not run.
#[derive(Debug, Clone, Serialize)]
pub struct TlbRow {
    /// Variant.
    pub name: String,
    /// ns per dependent read.
    pub ns_per_read: Option<f64>,
    /// Time to fault the working set in.
    pub fault_in_ms: Option<f64>,
    /// Page kind obtained.
    pub page_kind: Option<String>,
    /// Why it did not run.
    pub skipped: Option<String>,
}

/// Everything one run measured.
///
/// ```
/// # use numaseg::bench::{Machine, Report, Row};
/// # let machine = Machine { cpu: "test".into(), cpus: 2, kernel: "6.1".into(), nodes: 1, thp: "never".into(), huge_2m_free: 0 };
/// # let row = |contender: &str, median: f64| Row { workload: "hot pair", contender: contender.into(), size: 32 << 10, threads: 1, unit: "ns/op", median, min: median, max: median };
/// # let report = Report { machine, command: "numaseg bench --quick".into(), quick: true, reps: 1, timer_ticks_per_ns: 1.0, timer_overhead_ns: 0.0, rows: vec![row("numaseg segments", 3.0), row("glibc malloc", 12.0)], latency: vec![], tlb: vec![], tlb_bytes: 0, targets: vec![], debloat: vec![], isolation: vec![], seconds: 1.0, real_nodes_skipped: None };
/// let md = report.markdown();
/// assert!(md.starts_with("Machine: test (2 CPUs), Linux 6.1"));
/// assert!(md.contains("quick run, 1 repetition(s)"));
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// The command line.
    pub command: String,
    /// Quick (smoke) run or full run.
    pub quick: bool,
    /// Repetitions per measurement.
    pub reps: usize,
    /// Time-stamp counter ticks per ns.
    pub timer_ticks_per_ns: f64,
    /// The latency timer's own cost, subtracted from every sample.
    pub timer_overhead_ns: f64,
    /// Throughput and cost rows.
    pub rows: Vec<Row>,
    /// Latency rows.
    pub latency: Vec<LatencyRow>,
    /// TLB rows.
    pub tlb: Vec<TlbRow>,
    /// TLB working set in bytes.
    pub tlb_bytes: usize,
    /// The targets.
    pub targets: Vec<Target>,
    /// Urgent-message latency across a backlogged channel, debloating off and on.
    pub debloat: Vec<DebloatRow>,
    /// What `NUMASEG_ZERO` costs per block, against `memset`.
    pub isolation: Vec<IsolationRow>,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// Why the hand-off across two real nodes did not run (`None`: it ran).
    pub real_nodes_skipped: Option<String>,
}

/// A figure with 3 significant digits or so (no decimals from 100 up).
pub(super) fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn size_label(size: usize) -> String {
    if size >= 1 << 20 { format!("{} MiB", size >> 20) } else { format!("{} KiB", size >> 10) }
}

impl Report {
    pub(super) fn new(
        machine: Machine,
        opts: &BenchOptions,
        cal: &Calibration,
        rows: Vec<Row>,
        latency: Vec<LatencyRow>,
        tlb: Vec<Result<TlbResult, (String, String)>>,
        elapsed: Duration,
    ) -> Self {
        let tlb = tlb
            .into_iter()
            .map(|r| match r {
                Ok(t) => TlbRow {
                    name: t.name,
                    ns_per_read: Some(t.ns_per_read),
                    fault_in_ms: Some(t.fault_in_ms),
                    page_kind: Some(t.page_kind),
                    skipped: None,
                },
                Err((name, why)) => {
                    TlbRow { name, ns_per_read: None, fault_in_ms: None, page_kind: None, skipped: Some(why) }
                }
            })
            .collect();
        let mut report = Self {
            machine,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            quick: opts.quick,
            reps: opts.reps,
            timer_ticks_per_ns: cal.ticks_per_ns,
            timer_overhead_ns: cal.overhead_ns(),
            rows,
            latency,
            tlb,
            tlb_bytes: opts.tlb_bytes,
            targets: Vec::new(),
            debloat: Vec::new(),
            isolation: Vec::new(),
            seconds: elapsed.as_secs_f64(),
            real_nodes_skipped: None,
        };
        report.targets = report.evaluate();
        report
    }

    /// The median of a row, if measured.
    ///
    /// ```
    /// # use numaseg::bench::{Machine, Report, Row};
    /// # let machine = Machine { cpu: "test".into(), cpus: 2, kernel: "6.1".into(), nodes: 1, thp: "never".into(), huge_2m_free: 0 };
    /// # let row = |contender: &str, median: f64| Row { workload: "hot pair", contender: contender.into(), size: 32 << 10, threads: 1, unit: "ns/op", median, min: median, max: median };
    /// # let report = Report { machine, command: "numaseg bench --quick".into(), quick: true, reps: 1, timer_ticks_per_ns: 1.0, timer_overhead_ns: 0.0, rows: vec![row("numaseg segments", 3.0), row("glibc malloc", 12.0)], latency: vec![], tlb: vec![], tlb_bytes: 0, targets: vec![], debloat: vec![], isolation: vec![], seconds: 1.0, real_nodes_skipped: None };
    /// assert_eq!(report.median("hot pair", "glibc malloc", 32 << 10, 1), Some(12.0));
    /// assert_eq!(report.median("hot pair", "glibc malloc", 32 << 10, 2), None); // not measured
    /// ```
    #[must_use]
    pub fn median(&self, workload: &str, contender: &str, size: usize, threads: usize) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.workload == workload && r.contender == contender && r.size == size && r.threads == threads)
            .map(|r| r.median)
    }

    pub(super) fn evaluate(&self) -> Vec<Target> {
        let k32 = 32 << 10;
        let mut out = Vec::new();
        let mut push = |target: String, measured: Option<(String, bool)>| {
            let (measured, met) =
                measured.map_or(("not measured in this run".to_owned(), None), |(m, ok)| (m, Some(ok)));
            out.push(Target { target, measured, met });
        };
        for t in [1, 2] {
            let n = self.median("hot pair", NUMASEG, k32, t);
            push(
                format!("hot pair, 32 KiB, {t} thread(s): at most 3 ns per pair"),
                n.map(|v| (format!("{} ns", fmt(v)), v <= 3.0)),
            );
            for (other, times) in [("mimalloc", 5.0), ("jemalloc", 5.0), ("crossbeam ArrayQueue pool", 2.0)] {
                let r = n.zip(self.median("hot pair", other, k32, t)).map(|(n, o)| o / n);
                push(
                    format!("hot pair, 32 KiB, {t} thread(s): at least {times}× faster than {other}"),
                    r.map(|r| (format!("{}×", fmt(r)), r >= times)),
                );
            }
            // Each touched at its first byte, and at its colour offset (`Segment::colour_offset`).
            for (contender, how) in [(NUMASEG, ""), (COLOURED, ", touched at the colour offset")] {
                let b = self.median("bulk (32)", contender, k32, t);
                push(
                    format!("bulk of 32, 32 KiB, {t} thread(s){how}: at most 1.5 ns per block"),
                    b.map(|v| (format!("{} ns", fmt(v)), v <= 1.5)),
                );
                let b = self.median("batch", contender, k32, t);
                push(
                    format!("batch of 1024 with touch, 32 KiB, {t} thread(s){how}: at most 6 ns per block"),
                    b.map(|v| (format!("{} ns", fmt(v)), v <= 6.0)),
                );
            }
            // Owned handles (#13): an `Arc` clone and drop per pair on top of the borrowed form.
            for (owned, borrowed) in [
                ("numaseg owned segments", NUMASEG),
                ("numaseg owned MemoryManager pages", "numaseg MemoryManager pages"),
            ] {
                let r = self
                    .median("hot pair", owned, k32, t)
                    .zip(self.median("hot pair", borrowed, k32, t))
                    .map(|(o, b)| o / b);
                push(
                    format!("hot pair, 32 KiB, {t} thread(s): {owned} at most 1.5× {borrowed}"),
                    r.map(|r| (format!("{}×", fmt(r)), r <= 1.5)),
                );
            }
            for pattern in ["hot pair", "batch"] {
                let l = self
                    .latency
                    .iter()
                    .find(|l| l.pattern == pattern && l.contender == NUMASEG && l.size == k32 && l.threads == t);
                push(
                    format!("latency, {pattern}, 32 KiB, {t} thread(s): p99.9 at most 100 ns"),
                    l.map(|l| {
                        (
                            format!(
                                "p99.9 {} ns (p50 {}, p99 {}, max {})",
                                fmt(l.p999),
                                fmt(l.p50),
                                fmt(l.p99),
                                fmt(l.max)
                            ),
                            l.p999 <= 100.0,
                        )
                    }),
                );
            }
        }
        let x = self.median(CHUNKED, NUMASEG, k32, 2);
        push(
            "cross-thread in chunks of 32 (not one at a time), 32 KiB: at least 50 million blocks per second".into(),
            x.map(|v| (format!("{} M/s", fmt(v)), v >= 50.0)),
        );
        for (other, times) in [("mimalloc", 3.0), ("crossbeam ArrayQueue pool", 1.5)] {
            let r = x.zip(self.median(CHUNKED, other, k32, 2)).map(|(n, o)| n / o);
            push(
                format!("cross-thread in chunks of 32, 32 KiB: at least {times}× {other}"),
                r.map(|r| (format!("{}×", fmt(r)), r >= times)),
            );
        }
        for workload in ["hot pair throughput", "batch throughput"] {
            let one = self.median(workload, NUMASEG, k32, 1);
            let two = self.median(workload, NUMASEG, k32, 2);
            let r = one.zip(two).map(|(a, b)| b / a);
            push(
                format!(
                    "scaling, {}: 2-thread throughput at least 1.9× 1-thread",
                    workload.trim_end_matches(" throughput")
                ),
                r.map(|r| (format!("{}×", fmt(r)), r >= 1.9)),
            );
        }
        for (api, name) in [
            ("MemoryManager allocate+release", "numaseg MemoryManager pages"),
            ("buffer request+recycle", "numaseg network buffers"),
        ] {
            for t in [1, 2] {
                let r = self
                    .median("hot pair", name, k32, t)
                    .zip(self.median("hot pair", NUMASEG, k32, t))
                    .map(|(a, n)| a / n);
                push(
                    format!("{api}, 32 KiB, {t} thread(s): within 2× of the raw segment path"),
                    r.map(|r| (format!("{}×", fmt(r)), r <= 2.0)),
                );
            }
        }
        for t in [1, 2] {
            let r = self
                .median("bulk (32)", "numaseg MemoryManager pages", k32, t)
                .zip(self.median("bulk (32)", NUMASEG, k32, t))
                .map(|(a, n)| a / n);
            push(
                format!("MemoryManager bulk of 32 pages, 32 KiB, {t} thread(s): within 2× of the segment bulk path"),
                r.map(|r| (format!("{}×", fmt(r)), r <= 2.0)),
            );
        }
        self.evaluate_motion(&mut push);
        let tlb = |name: &str| self.tlb.iter().find(|t| t.name == name).and_then(|t| t.ns_per_read);
        let n = tlb("numaseg segments (2 MiB)");
        let small = tlb("raw mapping, 4 KiB pages");
        let huge = tlb("raw mapping, 2 MiB hugetlb");
        push(
            "TLB: at most 0.70× the time of 4 KiB pages".into(),
            n.zip(small).map(|(n, s)| (format!("{}×", fmt(n / s)), n / s <= 0.70)),
        );
        push(
            "TLB: within 5% of raw hugetlb".into(),
            n.zip(huge).map(|(n, h)| (format!("{:+.1}%", (n / h - 1.0) * 100.0), n <= h * 1.05)),
        );
        out
    }

    /// The targets of memory in motion (issue #14), each a ratio to a peer of the same run
    /// where the issue gives one.
    fn evaluate_motion(&self, push: &mut impl FnMut(String, Option<(String, bool)>)) {
        let k32 = 32 << 10;
        let handoff = self.median(HANDOFF, NUMASEG, k32, 2);
        // The median of a row of per-round (or per-pair) ratios, whose repetitions were
        // interleaved; a run without that row (an older run's file) falls back to the ratio of
        // the two rows' medians.
        let ratio = |ratio_workload: &str, ratio_row: &str, workload: &str, a: &str, b: &str, threads: usize| {
            self.median(ratio_workload, ratio_row, k32, threads).or_else(|| {
                self.median(workload, a, k32, threads).zip(self.median(workload, b, k32, threads)).map(|(x, y)| x / y)
            })
        };
        let over = |other: &str| ratio(HANDOFF_RATIO, &format!("{NUMASEG} over {other}"), HANDOFF, NUMASEG, other, 2);
        let requester = ids::NETWORK_BUFFERS_REQUESTER;
        let figures = MotionFigures {
            handoff,
            over_array_queue: over("crossbeam ArrayQueue pool"),
            over_tls_cache: over("simple thread-local cache"),
            buffers: self.median(HANDOFF, "numaseg network buffers", k32, 2),
            requester: self.median(HANDOFF, requester, k32, 2),
            requester_over_buffers: ratio(
                HANDOFF_REQUESTER_RATIO,
                &requester_over_buffers(),
                HANDOFF,
                requester,
                ids::NETWORK_BUFFERS,
                2,
            ),
            buffer_sized_peer: self.median(HANDOFF, ids::TLS_CACHE_BUFFER_SIZED, k32, 2),
            requester_over_buffer_sized: ratio(
                HANDOFF_REQUESTER_RATIO,
                &requester_over_buffer_sized(),
                HANDOFF,
                requester,
                ids::TLS_CACHE_BUFFER_SIZED,
                2,
            ),
            pretend: ratio(HANDOFF_PRETEND_RATIO, PRETEND_RATIO, HANDOFF_PRETEND, ACROSS_PRETEND, SAME_PRETEND, 2),
            pretend_how: "heap-backed, pairs of repetitions interleaved",
            real: self.median(HANDOFF_REAL, NUMASEG, k32, 2).zip(handoff).map(|(x, s)| x / s),
            real_skipped: self.real_nodes_skipped.clone(),
            foreign: ratio(FOREIGN_RATIO, FOREIGN_OVER_LOCAL, FOREIGN, FOREIGN_FREE, LOCAL_FREE, 1),
            bulk_untouched: self.median(BULK, BULK_UNTOUCHED, k32, 1),
            bulk_touched: self
                .median(BULK, BULK_TOUCHED, k32, 1)
                .zip(self.median(BULK, SINGLES_TOUCHED, k32, 1))
                .map(|(b, p)| b / p),
            batch2: self.median(BATCH2, NUMASEG, k32, 2),
            batch2_peer: None,
            handoff_coloured: self.median(HANDOFF_COLOURED, COLOURED, k32, 2),
            coloured_over_tls_cache: ratio(
                HANDOFF_COLOURED_RATIO,
                &format!("{COLOURED} over {}", ids::TLS_CACHE_COLOURED),
                HANDOFF_COLOURED,
                COLOURED,
                ids::TLS_CACHE_COLOURED,
                2,
            ),
            batch2_coloured: self.median(BATCH2, COLOURED, k32, 2),
            batch2_coloured_peer: self.median(BATCH2, ids::TLS_CACHE_COLOURED, k32, 2),
        };
        motion_lines(&figures, push);
        // The same, over the rounds the scheduler did not interrupt, and against the simple
        // thread-local cache measured the same way in the same run.
        let clean = self.median(BATCH2_UNPREEMPTED, NUMASEG, k32, 2);
        let tls = self.median(BATCH2_UNPREEMPTED, "simple thread-local cache", k32, 2);
        push(
            format!(
                "batch of 1024 touched, 2 threads: at most {BATCH2_NS_PER_BLOCK} ns per block in the rounds the scheduler did not interrupt"
            ),
            clean.map(|v| {
                let peer = tls.map_or_else(String::new, |t| format!(" (simple thread-local cache {} ns)", fmt(t)));
                (format!("{} ns{peer}", fmt(v)), v <= BATCH2_NS_PER_BLOCK)
            }),
        );
        let longest = self.rows.iter().find(|r| r.workload == BATCH2_LONGEST && r.contender == NUMASEG);
        push(
            format!("batch of 1024 touched, 2 threads: no round above {BATCH2_LONGEST_ROUND_US} µs in any repetition"),
            longest.map(|l| {
                (
                    format!("longest {} µs (median over repetitions {})", fmt(l.max), fmt(l.median)),
                    l.max <= BATCH2_LONGEST_ROUND_US,
                )
            }),
        );
        // The same, without the rounds that the scheduler interrupted (a time slice of another
        // process is no stall of the pool's); with the share of rounds that it interrupted.
        // With, beside it, how often such rounds came for numaseg and for the simple cache, and
        // how often the machine stalls a thread that only reads the clock: a stall the guest
        // sees no switch for lands in whatever round runs.
        let clean = self.rows.iter().find(|r| r.workload == BATCH2_LONGEST_UNPREEMPTED && r.contender == NUMASEG);
        let share = self.median(BATCH2_PREEMPTED, NUMASEG, k32, 2);
        let slow = self.median(BATCH2_SLOW_UNPREEMPTED, NUMASEG, k32, 2);
        let slow_peer = self.median(BATCH2_SLOW_UNPREEMPTED, "simple thread-local cache", k32, 2);
        let stalls = self.median(STALLS, CLOCK_READER, k32, 2);
        let stalls_50 = self.median(STALLS_50, CLOCK_READER, k32, 2);
        let stall_max = self.rows.iter().find(|r| r.workload == STALLS_LONGEST && r.contender == CLOCK_READER);
        let or_q = |v: Option<f64>| v.map_or_else(|| "?".to_owned(), fmt);
        push(
            format!(
                "batch of 1024 touched, 2 threads: no round above {BATCH2_LONGEST_ROUND_US} µs that the scheduler did not interrupt"
            ),
            clean.map(|l| {
                (
                    format!(
                        "longest {} µs ({} % of rounds interrupted; not interrupted and above {BATCH2_LONGEST_ROUND_US} µs: \
                         {} per 10,000 rounds, simple thread-local cache {}; the machine stops a thread that only reads \
                         the clock, with no switch, {} times a second above 50 µs and {} above {BATCH2_LONGEST_ROUND_US} \
                         µs: medians of the repetitions; its longest stop {} µs)",
                        fmt(l.max),
                        or_q(share),
                        or_q(slow),
                        or_q(slow_peer),
                        or_q(stalls_50),
                        or_q(stalls),
                        or_q(stall_max.map(|r| r.max)),
                    ),
                    l.max <= BATCH2_LONGEST_ROUND_US,
                )
            }),
        );
    }

    /// Markdown tables: one per workload (median and min–max, and the ratio to numaseg), latency
    /// percentiles, TLB, and the targets.
    ///
    /// ```
    /// # use numaseg::bench::{Machine, Report, Row};
    /// # let machine = Machine { cpu: "test".into(), cpus: 2, kernel: "6.1".into(), nodes: 1, thp: "never".into(), huge_2m_free: 0 };
    /// # let row = |contender: &str, median: f64| Row { workload: "hot pair", contender: contender.into(), size: 32 << 10, threads: 1, unit: "ns/op", median, min: median, max: median };
    /// # let report = Report { machine, command: "numaseg bench --quick".into(), quick: true, reps: 1, timer_ticks_per_ns: 1.0, timer_overhead_ns: 0.0, rows: vec![row("numaseg segments", 3.0), row("glibc malloc", 12.0)], latency: vec![], tlb: vec![], tlb_bytes: 0, targets: vec![], debloat: vec![], isolation: vec![], seconds: 1.0, real_nodes_skipped: None };
    /// let md = report.markdown();
    /// assert!(md.contains("### hot pair (ns/op; lower is better)"));
    /// assert!(md.contains("| glibc malloc |"));
    /// ```
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "Machine: {} ({} CPUs), Linux {}, {} NUMA node(s), THP {}, {} free 2 MiB hugetlb pages at start.  \nCommand: `{}` ({} run, {} repetition(s) per figure, median with min–max; {:.0} s).\n",
            m.cpu,
            m.cpus,
            m.kernel,
            m.nodes,
            m.thp,
            m.huge_2m_free,
            self.command,
            if self.quick { "quick" } else { "full" },
            self.reps,
            self.seconds
        );
        let mut workloads: Vec<&'static str> = Vec::new();
        for r in &self.rows {
            if !workloads.contains(&r.workload) {
                workloads.push(r.workload);
            }
        }
        let mut columns: Vec<(usize, usize)> = Vec::new();
        for r in &self.rows {
            if !columns.contains(&(r.size, r.threads)) {
                columns.push((r.size, r.threads));
            }
        }
        columns.sort_unstable();
        for w in workloads {
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.workload == w).collect();
            let unit = rows.first().map_or("", |r| r.unit);
            let higher = rows.first().is_some_and(|r| r.higher_is_better());
            let cols: Vec<(usize, usize)> =
                columns.iter().copied().filter(|c| rows.iter().any(|r| (r.size, r.threads) == *c)).collect();
            let _ =
                writeln!(out, "### {w} ({unit}; {})\n", if higher { "higher is better" } else { "lower is better" });
            let header: Vec<String> = cols.iter().map(|(s, t)| format!("{} × {t}", size_label(*s))).collect();
            let _ = writeln!(out, "| contender | {} |", header.join(" | "));
            let _ = writeln!(out, "|---|{}|", vec!["---"; cols.len()].join("|"));
            let mut contenders: Vec<&str> = Vec::new();
            for r in &rows {
                if !contenders.contains(&r.contender.as_str()) {
                    contenders.push(&r.contender);
                }
            }
            for c in contenders {
                let cells: Vec<String> = cols
                    .iter()
                    .map(|&(s, t)| {
                        let Some(r) = rows.iter().find(|r| r.contender == c && r.size == s && r.threads == t) else {
                            return "–".into();
                        };
                        let base = self.median(w, NUMASEG, s, t);
                        let ratio = base.map(|b| if higher { b / r.median } else { r.median / b });
                        let ratio = match ratio {
                            Some(x) if c != NUMASEG => format!(" · **{}×**", fmt(x)),
                            _ => String::new(),
                        };
                        format!("{} ({}–{}){ratio}", fmt(r.median), fmt(r.min), fmt(r.max))
                    })
                    .collect();
                let _ = writeln!(out, "| {c} | {} |", cells.join(" | "));
            }
            let _ = writeln!(
                out,
                "\nBold: how many times numaseg is better (the contender's cost over numaseg's, or numaseg's throughput over the contender's).\n"
            );
        }
        let _ = writeln!(
            out,
            "### latency per allocation (ns; timer cost of {} ns subtracted)\n\n| pattern | contender | size × threads | p50 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|",
            fmt(self.timer_overhead_ns)
        );
        for l in &self.latency {
            let _ = writeln!(
                out,
                "| {} | {} | {} × {} | {} | {} | {} | {} |",
                l.pattern,
                l.contender,
                size_label(l.size),
                l.threads,
                fmt(l.p50),
                fmt(l.p99),
                fmt(l.p999),
                fmt(l.max)
            );
        }
        if !self.tlb.is_empty() {
            let _ = writeln!(
                out,
                "\n### TLB: {} MiB working set, dependent random 8-byte reads\n\n| backing | page kind | ns per read | time to fault in (ms) |\n|---|---|---|---|",
                self.tlb_bytes >> 20
            );
            for t in &self.tlb {
                match (&t.skipped, t.ns_per_read, t.fault_in_ms) {
                    (Some(why), _, _) => {
                        let _ = writeln!(out, "| {} | – | not run: {why} | – |", t.name);
                    }
                    (None, Some(ns), Some(ms)) => {
                        let _ = writeln!(
                            out,
                            "| {} | {} | {} | {} |",
                            t.name,
                            t.page_kind.as_deref().unwrap_or("-"),
                            fmt(ns),
                            fmt(ms)
                        );
                    }
                    _ => {}
                }
            }
        }
        if !self.debloat.is_empty() {
            let off = self.debloat.iter().find(|d| !d.debloating).map(|d| d.latency_ms);
            let _ = writeln!(
                out,
                "\n### urgent message across a backlogged channel (ms; lower is better)\n\n| debloating | consumer | buffer size | in flight at send | latency, median (min–max) over messages |\n|---|---|---|---|---|"
            );
            for d in &self.debloat {
                let mode = d.target_ms.map_or_else(|| "off".to_owned(), |t| format!("on, target {} ms", fmt(t)));
                let ratio = match off {
                    Some(o) if d.debloating => format!(" · **{}×**", fmt(o / d.latency_ms)),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "| {mode} | {} MB/s | {} B | {} KiB | {} ({}–{}) over {}{ratio} |",
                    fmt(d.consumer_mb_s),
                    d.buffer_size,
                    fmt(d.in_flight_bytes as f64 / 1024.0),
                    fmt(d.latency_ms),
                    fmt(d.latency_min_ms),
                    fmt(d.latency_max_ms),
                    d.messages
                );
            }
            let _ = writeln!(out, "\nBold: how many times sooner the message arrives with debloating on.");
        }
        if !self.isolation.is_empty() {
            let _ = writeln!(
                out,
                "\n### isolation (`NUMASEG_ZERO`): ns per block, one thread\n\n| block | variant | ns per block | × memset |\n|---|---|---|---|"
            );
            for r in &self.isolation {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    size_label(r.size),
                    r.variant,
                    fmt(r.ns_per_block),
                    fmt(r.vs_memset)
                );
            }
        }
        let _ = writeln!(out, "\n### targets\n\n| target | measured | met |\n|---|---|---|");
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            };
            let _ = writeln!(out, "| {} | {} | {met} |", t.target, t.measured);
        }
        out
    }

    /// An SVG bar chart: for hot pair, batch and cross-thread at 32 KiB, how many times each
    /// contender is slower than numaseg (log scale; 1 = as fast).
    ///
    /// ```
    /// # use numaseg::bench::{Machine, Report, Row};
    /// # let machine = Machine { cpu: "test".into(), cpus: 2, kernel: "6.1".into(), nodes: 1, thp: "never".into(), huge_2m_free: 0 };
    /// # let row = |contender: &str, median: f64| Row { workload: "hot pair", contender: contender.into(), size: 32 << 10, threads: 1, unit: "ns/op", median, min: median, max: median };
    /// # let report = Report { machine, command: "numaseg bench --quick".into(), quick: true, reps: 1, timer_ticks_per_ns: 1.0, timer_overhead_ns: 0.0, rows: vec![row("numaseg segments", 3.0), row("glibc malloc", 12.0)], latency: vec![], tlb: vec![], tlb_bytes: 0, targets: vec![], debloat: vec![], isolation: vec![], seconds: 1.0, real_nodes_skipped: None };
    /// let path = std::env::temp_dir().join(format!("numaseg-doc-chart-{}.svg", std::process::id()));
    /// report.chart(&path)?;
    /// let svg = std::fs::read_to_string(&path)?;
    /// std::fs::remove_file(&path)?;
    /// assert!(svg.contains("<svg") && svg.contains("glibc malloc"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn chart(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let size = if self.rows.iter().any(|r| r.size == 32 << 10) {
            32 << 10
        } else {
            self.rows.first().map_or(0, |r| r.size)
        };
        let groups: [(&str, usize); 3] = [("hot pair", 1), ("batch", 1), (CHUNKED, 2)];
        let mut contenders: Vec<String> = Vec::new();
        for r in &self.rows {
            if r.contender != NUMASEG && !contenders.contains(&r.contender) {
                contenders.push(r.contender.clone());
            }
        }
        let mut bars: Vec<(usize, usize, f64)> = Vec::new();
        for (g, (w, t)) in groups.iter().enumerate() {
            let Some(base) = self.median(w, NUMASEG, size, *t) else { continue };
            for (c, name) in contenders.iter().enumerate() {
                if let Some(v) = self.median(w, name, size, *t) {
                    let ratio = if *w == CHUNKED { base / v } else { v / base };
                    bars.push((g, c, ratio.max(0.01)));
                }
            }
        }
        let ymax = bars.iter().map(|b| b.2).fold(2.0, f64::max) * 1.5;
        let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("How many times slower than numaseg ({} blocks; log scale; 1 = as fast)", size_label(size)),
                ("sans-serif", 18),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..groups.len() as f64, (0.1f64..ymax).log_scale())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - x.floor() - 0.5).abs() < 0.01 {
                    groups.get(i).map_or(String::new(), |g| g.0.to_owned())
                } else {
                    String::new()
                }
            })
            .y_desc("contender time / numaseg time")
            .draw()?;
        let n = contenders.len().max(1) as f64;
        for (c, name) in contenders.iter().enumerate() {
            let color = Palette99::pick(c).mix(0.9);
            chart
                .draw_series(bars.iter().filter(|b| b.1 == c).map(|&(g, c, r)| {
                    let x0 = g as f64 + 0.1 + 0.8 * c as f64 / n;
                    Rectangle::new([(x0, 0.1), (x0 + 0.8 / n * 0.9, r)], color.filled())
                }))?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 1.0), (groups.len() as f64, 1.0)],
            BLACK.stroke_width(2),
        )))?;
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_report() -> Report {
        let machine = Machine {
            cpu: "test".into(),
            cpus: 2,
            kernel: "test".into(),
            nodes: 1,
            thp: "never".into(),
            huge_2m_free: 0,
        };
        let opts = BenchOptions::quick();
        let cal = Calibration { ticks_per_ns: 1.0, overhead_ticks: 0 };
        Report::new(machine, &opts, &cal, Vec::new(), Vec::new(), Vec::new(), Duration::ZERO)
    }

    /// The memory-in-motion target lines read their numbers from `targets.rs` and still say what
    /// they said when the numbers were literals here; with no rows, none is measured.
    #[test]
    fn motion_target_lines_keep_their_wording() {
        let mut lines = Vec::new();
        empty_report().evaluate_motion(&mut |target, measured| lines.push((target, measured)));
        let expected = [
            "hand-off one at a time, 32 KiB, same node: at least 80 million blocks per second",
            "hand-off one at a time, 32 KiB, same node: at least 1.5× crossbeam ArrayQueue pool",
            "hand-off one at a time, 32 KiB, same node: at least 1× simple thread-local cache",
            "network buffers requested on one thread, recycled on another, one at a time: at least 50 M/s",
            "network buffers through a BufferRequester, recycled on another thread, one at a time: at least 50 M/s",
            "hand-off across pretend nodes: at least 0.8× the same-node figure (heap-backed, pairs of repetitions interleaved)",
            "hand-off across two real nodes: at least 0.8× the same-node figure",
            "foreign free: at most 2× a local free (allocate_on + touch + drop)",
            "bulk of 32 through handles, untouched: at most 1.5 ns per block",
            "bulk of 32 through handles, touched: faster per block than the same 32 blocks allocated and dropped one at a time",
            "batch of 1024 touched, 2 threads: at most 8 ns per block",
            "hand-off one at a time, 32 KiB, same node, touched at the colour offset: at least 80 million blocks per second",
            "hand-off one at a time, 32 KiB, same node, touched at the colour offset: at least 1× simple thread-local cache touched at the same offsets",
            "batch of 1024 touched at the colour offset, 2 threads: at most 8 ns per block",
            "batch of 1024 touched, 2 threads: at most 8 ns per block in the rounds the scheduler did not interrupt",
            "batch of 1024 touched, 2 threads: no round above 100 µs in any repetition",
            "batch of 1024 touched, 2 threads: no round above 100 µs that the scheduler did not interrupt",
        ];
        let targets: Vec<&str> = lines.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(targets, expected);
        assert!(lines.iter().all(|(_, m)| m.is_none()), "nothing measured: {lines:?}");
    }

    /// The foreign-free line takes the median of the per-pair ratios when the run has that
    /// row, and the ratio of the two rows' medians only when it has not (an older run's file).
    #[test]
    fn foreign_free_is_judged_on_the_pairs_ratio_when_there_is_one() {
        let foreign_line = |report: &Report| {
            let mut found = None;
            report.evaluate_motion(&mut |target, measured| {
                if target.starts_with("foreign free") {
                    found = measured;
                }
            });
            found
        };
        let mut report = empty_report();
        // Medians 30 and 10: 3× as a ratio of medians.
        report.rows.push(Row::new(FOREIGN, FOREIGN_FREE, 32 << 10, 1, "ns/pair", &[20.0, 30.0, 40.0]));
        report.rows.push(Row::new(FOREIGN, LOCAL_FREE, 32 << 10, 1, "ns/pair", &[5.0, 10.0, 25.0]));
        assert_eq!(foreign_line(&report), Some(("3.00×".to_owned(), false)));
        // The pairs: 4×, 1.6×, 1.8×; median 1.8×.
        report.rows.push(Row::new(FOREIGN_RATIO, FOREIGN_OVER_LOCAL, 32 << 10, 1, "×", &[4.0, 1.6, 1.8]));
        assert_eq!(foreign_line(&report), Some(("1.80×".to_owned(), true)));
    }

    /// A measured row is judged against the shared threshold: at the threshold it is met, just
    /// below it missed.
    #[test]
    fn motion_targets_are_judged_against_the_shared_thresholds() {
        for (rate, met) in [
            (crate::bench::targets::HANDOFF_MBLOCKS_PER_S, true),
            (crate::bench::targets::HANDOFF_MBLOCKS_PER_S - 0.1, false),
        ] {
            let mut report = empty_report();
            report.rows.push(Row::new(HANDOFF, NUMASEG, 32 << 10, 2, "Mblocks/s", &[rate]));
            let mut first = None;
            report.evaluate_motion(&mut |_, measured| {
                first.get_or_insert(measured);
            });
            assert_eq!(first.flatten().map(|(_, ok)| ok), Some(met), "{rate} M/s");
        }
    }
}
