//! The comparison harness (feature `bench`): the same workloads, in one process run, against
//! numaseg's paths and what a user would pick instead — glibc malloc (`std::alloc::System`,
//! natural and page alignment), mimalloc, jemalloc, and a `Mutex<Vec>` free list and a crossbeam
//! `ArrayQueue` pool over one pre-mapped region.
//!
//! Workloads, for 4 KiB, 32 KiB and 1 MiB blocks on 1 and 2 threads: *hot pair* (allocate, write
//! a byte, free), *bulk* (numaseg's bulk API, 32 at a time), *batch* (allocate 1024 touching each,
//! free them all), *cross-thread, chunks of 32* (allocate on A, pass through an SPSC ring 32 at a time,
//! touch and free on B), *memory in motion* (`motion.rs`: one-at-a-time hand-off on one node,
//! across pretend nodes and across real nodes, foreign free, bulk through handles, a batch on two
//! threads with its longest round, buffers recycled on another thread),
//! *latency* (per-allocation latency of hot pair and batch, `HdrHistogram`, timer cost subtracted),
//! *TLB* (dependent random reads over a large working set) and *scaling* (2-thread over 1-thread
//! throughput); and, for network buffers, the latency of an urgent message across a backlogged
//! channel with adaptive buffer sizing on and off (`debloat.rs`). Each measurement is warmed up, sized to run for a fixed time, repeated, and
//! reported as the median with min–max; results are ratios against numaseg measured in the same
//! run. `numaseg bench` and `cargo bench --bench compare --features bench` run it; `--quick` is
//! the CI smoke run.

// Measurement arithmetic converts counts, durations and ratios between integers and floats; the
// values are far from every limit (at most billions of operations, seconds of wall time), and
// the byte written by a touch is meant to wrap.
#![allow(clippy::cast_possible_truncation, clippy::cast_precision_loss, clippy::cast_sign_loss)]

mod contenders;
mod debloat;
mod isolation;
pub mod motion;
mod owned;
mod report;
pub mod targets;
mod timer;
mod tlb;
pub mod workloads;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use contenders::{
    ArrayQueuePool, BufferSizedTlsCache, Contender, Heap, HeapAllocator, ManagerPages, MutexPool, NetworkBuffers,
    NumasegSegments, Padded, TLS_BATCH, TlsCachePool,
};
pub use debloat::DebloatRow;
pub use isolation::IsolationRow;
pub use owned::{OwnedPages, OwnedSegments};
pub use report::{LatencyRow, Report, Row, Target};
pub use timer::{Calibration, ticks};
pub use tlb::TlbResult;

use crate::config::{ByteSize, MemoryAmount};
use crate::{ArenaManager, Config};

/// What to run.
///
/// ```
/// use numaseg::bench::BenchOptions;
/// let opts = BenchOptions { sizes: vec![4 << 10], threads: vec![1], ..BenchOptions::quick() };
/// assert!(opts.quick);
/// assert_eq!((opts.sizes.as_slice(), opts.reps), (&[4096][..], 1));
/// ```
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The CI smoke run: one size, short measurements, one repetition, a small TLB working set.
    pub quick: bool,
    /// Repetitions of each measurement (median and min–max are reported).
    pub reps: usize,
    /// Block sizes.
    pub sizes: Vec<usize>,
    /// Thread counts.
    pub threads: Vec<usize>,
    /// How long one repetition of one measurement runs.
    pub target: Duration,
    /// Blocks per round of the batch workload.
    pub batch: usize,
    /// Latency samples per thread.
    pub latency_samples: u64,
    /// The TLB working set in bytes (0: skip the TLB workload).
    pub tlb_bytes: usize,
    /// Dependent reads per TLB repetition.
    pub tlb_reads: u64,
    /// Where the JSON, Markdown and SVG go.
    pub out_dir: PathBuf,
    /// Only the memory-in-motion rows ([`motion`]): no per-size contenders, no urgent message,
    /// no TLB.
    pub only_motion: bool,
    /// Only the isolation rows (`NUMASEG_ZERO` against `memset`).
    pub only_isolation: bool,
}

impl BenchOptions {
    /// The full run: 4 KiB, 32 KiB, 1 MiB; 1 and 2 threads; 5 repetitions of 200 ms; 4 GiB TLB
    /// working set with 50 million reads.
    ///
    /// ```
    /// use numaseg::bench::BenchOptions;
    /// let full = BenchOptions::full();
    /// assert!(!full.quick);
    /// assert_eq!(full.sizes, [4 << 10, 32 << 10, 1 << 20]);
    /// assert_eq!((full.reps, full.threads.as_slice()), (5, &[1, 2][..]));
    /// ```
    #[must_use]
    pub fn full() -> Self {
        Self {
            quick: false,
            reps: 5,
            sizes: vec![4 << 10, 32 << 10, 1 << 20],
            threads: vec![1, 2],
            target: Duration::from_millis(200),
            batch: 1024,
            latency_samples: 200_000,
            tlb_bytes: 4 << 30,
            tlb_reads: 50_000_000,
            out_dir: PathBuf::from("bench-results"),
            only_motion: false,
            only_isolation: false,
        }
    }

    /// The smoke run for CI: 32 KiB only, 1 and 2 threads, one repetition of 20 ms, 64 MiB TLB.
    ///
    /// ```
    /// use numaseg::bench::BenchOptions;
    /// let (quick, full) = (BenchOptions::quick(), BenchOptions::full());
    /// assert!(quick.quick && quick.reps == 1);
    /// assert_eq!(quick.sizes, [32 << 10]);
    /// assert!(quick.tlb_bytes < full.tlb_bytes && quick.target < full.target);
    /// assert_eq!(quick.threads, full.threads); // the rest as in the full run
    /// ```
    #[must_use]
    pub fn quick() -> Self {
        Self {
            quick: true,
            reps: 1,
            sizes: vec![32 << 10],
            target: Duration::from_millis(20),
            latency_samples: 20_000,
            tlb_bytes: 64 << 20,
            tlb_reads: 1_000_000,
            ..Self::full()
        }
    }
}

/// Runs `f(n)` (which does `n` operations per thread) once to warm up and size `n` for
/// `target`, then `reps` times; returns the samples.
fn sized(target: Duration, reps: usize, mut f: impl FnMut(u64) -> workloads::Timing) -> Vec<workloads::Timing> {
    let probe = 20_000;
    f(probe); // warm-up: regions mapped, caches grown
    let ns = f(probe).ns_per_op.max(0.1);
    let n = ((target.as_nanos() as f64 / ns) as u64).clamp(probe, 500_000_000);
    (0..reps).map(|_| f(n)).collect()
}

/// The machine, as the report states it.
///
/// ```
/// use numaseg::bench::Machine;
/// let m = Machine { cpu: "test".into(), cpus: 2, kernel: "6.1".into(), nodes: 1, thp: "madvise".into(), huge_2m_free: 0 };
/// let json = serde_json::to_value(&m)?;
/// assert_eq!(json["cpus"], 2);
/// assert_eq!(json["thp"], "madvise");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
    /// NUMA nodes numaseg sees.
    pub nodes: usize,
    /// THP mode.
    pub thp: String,
    /// Free 2 MiB hugetlb pages on the current node when the run started.
    pub huge_2m_free: u64,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned()))
        .unwrap_or_else(|| "unknown".into());
    let topology = numa::Topology::detect().ok().map(|t| t.with_fresh_huge_pages());
    Machine {
        cpu,
        cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned(),
        nodes: topology.as_ref().map_or(1, |t| t.nodes().len()),
        thp: numa::PageSource::thp_mode(&numa::sys::linux::LinuxSource::new()).to_string(),
        huge_2m_free: topology
            .as_ref()
            .and_then(|t| t.node(t.current_node()).and_then(|n| n.huge_page_pool(numa::PageKind::Huge2M)))
            .map_or(0, |p| p.free),
    }
}

/// The row of the chunked cross-thread workload: it hands blocks over 32 at a time, so it is not
/// the one-at-a-time figure of a service (that is [`motion`]'s hand-off).
pub(crate) const CHUNKED: &str = "cross-thread, chunks of 32";

/// Measures every workload against one contender; appends rows.
fn contend<C: Contender>(
    pool: &C,
    opts: &BenchOptions,
    cal: &Calibration,
    rows: &mut Vec<Row>,
    lat: &mut Vec<LatencyRow>,
) {
    let size = pool.block_size();
    let name = pool.name();
    let row = |workload: &'static str, threads: usize, unit: &'static str, samples: Vec<f64>| {
        Row::new(workload, &name, size, threads, unit, &samples)
    };
    for &threads in &opts.threads {
        let hot = sized(opts.target, opts.reps, |n| workloads::hot_pair(pool, threads, n));
        rows.push(row("hot pair", threads, "ns/pair", hot.iter().map(|t| t.ns_per_op).collect()));
        rows.push(row("hot pair throughput", threads, "Mpairs/s", hot.iter().map(|t| t.ops_per_sec / 1e6).collect()));
        let per_round = opts.batch as u64;
        let bat =
            sized(opts.target, opts.reps, |n| workloads::batch(pool, threads, opts.batch, (n / per_round).max(1)));
        rows.push(row("batch", threads, "ns/block", bat.iter().map(|t| t.ns_per_op).collect()));
        rows.push(row("batch throughput", threads, "Mblocks/s", bat.iter().map(|t| t.ops_per_sec / 1e6).collect()));
        let (hot_lat, bat_lat) = workloads::latency(pool, threads, opts.latency_samples, opts.batch, cal);
        lat.push(LatencyRow::new("hot pair", &name, size, threads, hot_lat));
        lat.push(LatencyRow::new("batch", &name, size, threads, bat_lat));
    }
    if opts.threads.contains(&2) {
        // Both threads spin for the target time first: on a virtual machine an idle vCPU takes
        // a while to run at full speed again, and a run that starts cold measured 20–36
        // instead of 150–175 million blocks per second. Then sized like the others: a probe,
        // then as many blocks as fit the target time.
        let warm = Instant::now();
        while warm.elapsed() < opts.target {
            workloads::cross_thread(pool, 20_000, 1024);
        }
        let probe = workloads::cross_thread(pool, 20_000, 1024);
        let blocks = ((probe * 1e6 * opts.target.as_secs_f64()) as u64).clamp(20_000, 50_000_000);
        let samples: Vec<f64> = (0..opts.reps).map(|_| workloads::cross_thread(pool, blocks, 1024)).collect();
        rows.push(row(CHUNKED, 2, "Mblocks/s", samples));
    }
}

/// numaseg's bulk API: 32 at a time, each block touched (at its start, or its colour offset).
fn bulk(manager: &ArenaManager, size: usize, coloured: bool, opts: &BenchOptions, rows: &mut Vec<Row>) {
    for &threads in &opts.threads {
        let samples = sized(opts.target, opts.reps, |n| {
            let rounds = (n / 32).max(1);
            let start = std::sync::Barrier::new(threads);
            let elapsed: Vec<Duration> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads)
                    .map(|_| {
                        let start = &start;
                        s.spawn(move || {
                            let mut batch = manager.new_batch();
                            start.wait();
                            let t0 = Instant::now();
                            for _ in 0..rounds {
                                if let Err(e) = manager.allocate_bulk(size, 32, &mut batch) {
                                    panic!("bulk allocation in a benchmark: {e}");
                                }
                                for i in 0..batch.len() {
                                    let offset = if coloured { batch.colour_offset(i).unwrap_or(0) } else { 0 };
                                    if let Some(block) = batch.get_mut(i) {
                                        block[offset] = i as u8;
                                    }
                                }
                                batch.release();
                            }
                            t0.elapsed()
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap_or_else(|_| panic!("bulk thread panicked"))).collect()
            });
            let ns = elapsed.iter().map(|d| d.as_nanos() as f64 / (rounds * 32) as f64).sum::<f64>() / threads as f64;
            workloads::Timing { ns_per_op: ns, ops_per_sec: 1e9 / ns * threads as f64 }
        });
        let samples: Vec<f64> = samples.iter().map(|t| t.ns_per_op).collect();
        let name = if coloured { "numaseg segments, coloured" } else { "numaseg segments" };
        rows.push(Row::new("bulk (32)", name, size, threads, "ns/block", &samples));
    }
}

/// The memory manager's bulk API: `allocate_pages_into` 32 pages, touch each, `release_pages`.
fn bulk_manager(arena: &Arc<ArenaManager>, size: usize, opts: &BenchOptions, rows: &mut Vec<Row>) {
    let threads_max = opts.threads.iter().copied().max().unwrap_or(1);
    let manager = crate::MemoryManager::builder(Arc::clone(arena))
        .page_size(size)
        .memory_size(size * 64 * threads_max.max(2))
        .build()
        .unwrap_or_else(|e| panic!("memory manager for a benchmark: {e}"));
    for &threads in &opts.threads {
        let owners: Vec<_> =
            (0..threads).map(|t| manager.owner(&format!("bulk-{t}"), crate::manager::UseCase::Operator)).collect();
        let samples = sized(opts.target, opts.reps, |n| {
            let rounds = (n / 32).max(1);
            let start = std::sync::Barrier::new(threads);
            let elapsed: Vec<Duration> = std::thread::scope(|s| {
                let hs: Vec<_> = owners
                    .iter()
                    .map(|owner| {
                        let (start, manager) = (&start, &manager);
                        s.spawn(move || {
                            let mut pages = Vec::with_capacity(32);
                            start.wait();
                            let t0 = Instant::now();
                            for _ in 0..rounds {
                                if let Err(e) = manager.allocate_pages_into(owner, 32, &mut pages) {
                                    panic!("bulk pages in a benchmark: {e}");
                                }
                                for (i, page) in pages.iter_mut().enumerate() {
                                    let _ = page.put_u8(0, i as u8);
                                }
                                manager.release_pages(&mut pages);
                            }
                            t0.elapsed()
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap_or_else(|_| panic!("bulk thread panicked"))).collect()
            });
            let ns = elapsed.iter().map(|d| d.as_nanos() as f64 / (rounds * 32) as f64).sum::<f64>() / threads as f64;
            workloads::Timing { ns_per_op: ns, ops_per_sec: 1e9 / ns * threads as f64 }
        });
        let samples: Vec<f64> = samples.iter().map(|t| t.ns_per_op).collect();
        rows.push(Row::new("bulk (32)", "numaseg MemoryManager pages", size, threads, "ns/block", &samples));
    }
}

/// Runs everything and writes `compare.json`, `compare.md` and `ratios.svg` to the output
/// directory.
///
/// # Errors
/// If numaseg cannot be set up, or the results cannot be written.
pub fn run(opts: &BenchOptions) -> Result<Report, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let cal = Calibration::measure();
    if opts.only_isolation {
        let mut report = Report::new(machine(), opts, &cal, Vec::new(), Vec::new(), Vec::new(), started.elapsed());
        report.isolation = isolation::run(opts)?;
        report.seconds = started.elapsed().as_secs_f64();
        std::fs::create_dir_all(&opts.out_dir)?;
        std::fs::write(opts.out_dir.join("compare.json"), serde_json::to_string_pretty(&report)?)?;
        std::fs::write(opts.out_dir.join("compare.md"), report.markdown())?;
        return Ok(report);
    }
    // Keep the largest working set (every thread's batch of the largest blocks) committed
    // between rounds, as a service that must not page-fault would: the default retains 64 MiB
    // per node and decommits the rest, so 1 MiB batches would fault in 1 GiB every round.
    let max_threads = opts.threads.iter().copied().max().unwrap_or(1);
    let working_set = opts.sizes.iter().copied().max().unwrap_or(0) * opts.batch * max_threads;
    let config = Config::builder()
        .memory_limit(MemoryAmount::Unlimited)
        .node_memory_limit(MemoryAmount::Unlimited)
        .retain_free(ByteSize(working_set.max(64 << 20) as u64))
        .build()?;
    let manager = Arc::new(ArenaManager::new(&config)?);
    let mut rows = Vec::new();
    let mut latency = Vec::new();
    let sizes: &[usize] = if opts.only_motion { &[] } else { &opts.sizes };
    for &size in sizes {
        eprintln!("bench: {} KiB blocks", size >> 10);
        let numaseg = NumasegSegments::new(Arc::clone(&manager), size);
        contend(&numaseg, opts, &cal, &mut rows, &mut latency);
        contend(&numaseg.coloured(), opts, &cal, &mut rows, &mut latency);
        contend(&OwnedSegments::new(Arc::clone(&manager), size), opts, &cal, &mut rows, &mut latency);
        bulk(&manager, size, false, opts, &mut rows);
        bulk(&manager, size, true, opts, &mut rows);
        bulk_manager(&manager, size, opts, &mut rows);
        let blocks = max_threads * opts.batch + 2048;
        contend(
            &ManagerPages::new(Arc::clone(&manager), size, blocks + 64, max_threads),
            opts,
            &cal,
            &mut rows,
            &mut latency,
        );
        let owned_pages = OwnedPages::new(Arc::clone(&manager), size, blocks + 64, max_threads);
        contend(&owned_pages, opts, &cal, &mut rows, &mut latency);
        contend(
            &NetworkBuffers::new(Arc::clone(&manager), size, blocks, max_threads),
            opts,
            &cal,
            &mut rows,
            &mut latency,
        );
        for heap in [Heap::System, Heap::SystemPageAligned, Heap::Mimalloc, Heap::Jemalloc] {
            contend(&HeapAllocator { heap, size }, opts, &cal, &mut rows, &mut latency);
        }
        contend(&MutexPool::new(size, blocks), opts, &cal, &mut rows, &mut latency);
        contend(&ArrayQueuePool::new(size, blocks), opts, &cal, &mut rows, &mut latency);
        manager.purge();
    }
    let real_nodes_skipped = motion::run(&manager, opts, &mut rows);
    manager.purge();
    eprintln!("bench: urgent message across a backlogged channel, debloating off and on");
    let debloat = if opts.only_motion { Vec::new() } else { debloat::run(&manager, opts)? };
    // The workloads' regions go back before the TLB workload: hugetlb regions keep their
    // reservation while mapped (even decommitted), and the TLB variants need the node's pool.
    drop(manager);
    eprintln!("bench: isolation (NUMASEG_ZERO) per 4 KiB / 32 KiB / 2 MiB block against memset");
    let isolation = if opts.only_motion { Vec::new() } else { isolation::run(opts)? };
    let tlb = if opts.tlb_bytes > 0 && !opts.only_motion {
        eprintln!("bench: TLB, {} MiB working set", opts.tlb_bytes >> 20);
        tlb::run(opts.tlb_bytes, opts.tlb_reads, opts.reps.max(1))
    } else {
        Vec::new()
    };
    let mut report = Report::new(machine(), opts, &cal, rows, latency, tlb, started.elapsed());
    report.debloat = debloat;
    report.isolation = isolation;
    report.real_nodes_skipped = real_nodes_skipped;
    report.targets = report.evaluate();
    std::fs::create_dir_all(&opts.out_dir)?;
    std::fs::write(opts.out_dir.join("compare.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(opts.out_dir.join("compare.md"), report.markdown())?;
    report.chart(&opts.out_dir.join("ratios.svg"))?;
    Ok(report)
}
