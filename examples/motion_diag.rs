//! Why a two-thread memory-in-motion row is slow on a shared machine (issue #14): the
//! one-at-a-time hand-off with the producer and the consumer pinned to two CPUs or left to the
//! scheduler, with the process's minor page faults and context switches and the allocator's
//! counters per run; and the batch of 1024 on two threads, with every round above 50 µs that
//! the scheduler did not interrupt listed with its page faults, voluntary switches and CPU time.
//!
//! ```text
//! cargo run --release --features bench --example motion_diag -- <workload> [blocks] [pin]
//! ```
//!
//! Workloads (32 KiB blocks): `harness` (numaseg on a manager configured as `numaseg bench`'s),
//! `harness-coloured` and `tls-coloured` (numaseg and the simple thread-local cache with the
//! consumer writing at the colour offset, docs/BENCHMARKS.md *Nineteenth pass*),
//! `harness-padded` (the same, each `Segment` handed over in a 24-byte slot),
//! `pretend` (numaseg on two heap-backed pretend nodes, both threads on node 0),
//! `pretend-across` (the same with the producer homed on node 1), `pretend-pairs` (the bench's
//! pretend-node pairs, short: 21 pairs of `blocks` a half, the median of the per-pair ratios
//! across / same; docs/BENCHMARKS.md, *Sixteenth pass*), `buffers`
//! (network buffers, `request_buffer` on the pool), `buffers-requester` (the same through a
//! `BufferRequester` on the producer thread), `tls` (the
//! simple thread-local cache), `tls-on-numaseg` (the same cache over 4,096 segments taken from
//! the manager `harness` uses: its code on numaseg's memory, *Twentieth pass*), `tls-wide` (the same, each block handed over as a 24-byte
//! value, the size of a `Segment` before #14's 16-byte handle), `tls-16` (the same with
//! 16-byte values, the size of a `Segment` now), `tls-32` and `tls-48` (32- and 48-byte values),
//! `tls-buffer` (values as wide as a network `Buffer`: the buffer rows' ceiling, *Thirteenth
//! pass*), `batch` (numaseg and the simple thread-local cache, a batch of
//! 1024 on two threads, three times each), `batch-coloured` (the same touched at the colour
//! offset), `batch-unwatched` (the same without reading the
//! thread's usage around each round: what the two system calls per round cost), `batch-gaps`
//! (the batch with each allocation, touch and free timed by the time-stamp counter; for
//! each round above 100 µs that the scheduler did not interrupt, its longest single gap and
//! where it fell, *Twenty-first pass*). `blocks` defaults to 2,000,000; `pin` pins thread
//! *i* to the *i*-th CPU of the process. docs/BENCHMARKS.md, *Third pass*, quotes its output.
//! The allocator's counters are printed per node.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use numaseg::bench::motion::{interleaved_pairs, pin_apart, pretend_home};
use numaseg::bench::workloads::{handoff, handoff_requested};
use numaseg::bench::{Calibration, Contender, NetworkBuffers, NumasegSegments, Padded, TlsCachePool, ticks};
use numaseg::config::{ByteSize, MemoryAmount};
use numaseg::{ArenaManager, Config};

const SIZE: usize = 32 << 10;

/// Minor faults, voluntary and involuntary context switches, user and system CPU time (µs), of
/// the process (`RUSAGE_SELF`) or the calling thread (`RUSAGE_THREAD`).
fn usage(who: libc::c_int) -> [i64; 5] {
    // SAFETY: an all-zero `rusage` is a valid value for the kernel to overwrite.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is a valid, writable `rusage`.
    unsafe { libc::getrusage(who, &raw mut r) };
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    [r.ru_minflt, r.ru_nvcsw, r.ru_nivcsw, us(r.ru_utime), us(r.ru_stime)]
}

fn counters(m: &ArenaManager) -> String {
    let s = m.stats();
    let per_node = s.nodes.iter().filter_map(|n| {
        let c = n.classes.iter().find(|c| c.segment_size == SIZE as u64)?;
        Some(format!(
            "node {}: misses {}, pool refills {}, steals {}, foreign frees {}, pooled {}, cached {}, regions mapped {}, \
             segments back to regions {}, decommits {}",
            n.node,
            c.cache_misses,
            c.pool_refills,
            c.steals,
            c.foreign_frees,
            c.pooled_segments,
            c.cached_segments,
            n.regions_mapped,
            n.reclaimed_segments,
            n.decommits
        ))
    });
    per_node.collect::<Vec<_>>().join("; ")
}

fn handoff_runs<C: Contender>(name: &str, pool: &C, blocks: u64, pin: bool, manager: Option<&ArenaManager>) {
    handoff_runs_of(name, &|n, setup| handoff(pool, n, 1024, setup), blocks, pin, manager);
}

/// Where a hand-off thread runs (`0` the producer, `1` the consumer).
type Setup<'a> = &'a (dyn Fn(usize) + Sync);

/// [`handoff_runs`] of any hand-off: `run(blocks, setup)` returns million blocks per second.
fn handoff_runs_of(
    name: &str,
    run: &dyn Fn(u64, Setup<'_>) -> f64,
    blocks: u64,
    pin: bool,
    manager: Option<&ArenaManager>,
) {
    let cpus = numaseg::bench::motion::same_node_cpus();
    let setup = |i: usize| {
        if pin {
            pin_apart(&cpus, i);
        }
    };
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(300) {
        run(20_000, &setup);
    }
    if let Some(m) = manager {
        eprintln!("{name}, after the warm-up: {}", counters(m));
    }
    for _ in 0..3 {
        let a = usage(libc::RUSAGE_SELF);
        let rate = run(blocks, &setup);
        let b = usage(libc::RUSAGE_SELF);
        eprintln!(
            "{name}, pinned {pin}: {rate:.2} M blocks/s, minor faults per block {:.4}, voluntary switches {}, \
             involuntary {}; {}",
            (b[0] - a[0]) as f64 / blocks as f64,
            b[1] - a[1],
            b[2] - a[2],
            manager.map(counters).unwrap_or_default()
        );
    }
}

fn batch_runs<C: Contender>(name: &str, pool: &C, rounds: u64, watch: bool) {
    const N: usize = 1024;
    let start = std::sync::Barrier::new(2);
    let per_thread: Vec<(f64, Duration)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let start = &start;
                s.spawn(move || {
                    let run = |rounds: u64, report: bool| {
                        let mut held = Vec::with_capacity(N);
                        let (mut worst, mut slow) = (Duration::ZERO, Vec::new());
                        for _ in 0..rounds {
                            let u0 = if watch { usage(libc::RUSAGE_THREAD) } else { [0; 5] };
                            let t0 = Instant::now();
                            for i in 0..N {
                                let mut b = pool.alloc();
                                // SAFETY: `b` came from `pool.alloc()`.
                                unsafe { pool.touch(&mut b, i.to_le_bytes()[0]) };
                                held.push(b);
                            }
                            for b in held.drain(..) {
                                // SAFETY: `b` came from `pool.alloc()`.
                                unsafe { pool.free(b) };
                            }
                            let took = t0.elapsed();
                            let u1 = if watch { usage(libc::RUSAGE_THREAD) } else { [0; 5] };
                            if took > Duration::from_micros(50) && u1[2] == u0[2] {
                                // (µs, minor faults, voluntary switches, user µs, system µs)
                                slow.push((
                                    took.as_micros(),
                                    u1[0] - u0[0],
                                    u1[1] - u0[1],
                                    u1[3] - u0[3],
                                    u1[4] - u0[4],
                                ));
                            }
                            worst = worst.max(took);
                        }
                        if report && watch {
                            eprintln!(
                                "{name}: {} unpreempted rounds above 50 µs (µs, minor faults, voluntary switches, \
                                 user µs, system µs): {:?}",
                                slow.len(),
                                &slow[..slow.len().min(8)]
                            );
                        }
                        worst
                    };
                    run(8, false);
                    start.wait();
                    let t0 = Instant::now();
                    let worst = run(rounds, true);
                    (t0.elapsed().as_nanos() as f64 / (rounds * N as u64) as f64, worst)
                })
            })
            .collect();
        threads.into_iter().map(|h| h.join().unwrap_or_else(|_| panic!("a batch thread panicked"))).collect()
    });
    for (ns, worst) in per_thread {
        eprintln!("{name}: {ns:.2} ns per block, longest round {} µs", worst.as_micros());
    }
}

/// The batch of 1024 on two threads, each operation timed with the time-stamp counter: for every
/// round that the scheduler did not interrupt and that took longer than 100 µs, where its time
/// went — the longest single gap, and whether it fell in an allocation, a touch (one store to the
/// block) or a free. A stall inside a touch is not the allocator's.
fn batch_gaps<C: Contender>(name: &str, pool: &C, rounds: u64) {
    const N: usize = 1024;
    const KINDS: [&str; 3] = ["alloc", "touch", "free"];
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        for t in 0..2 {
            let start = &start;
            s.spawn(move || {
                pin_apart(&numaseg::bench::motion::same_node_cpus(), t);
                start.wait();
                let mut held = Vec::with_capacity(N);
                // Per kind: ticks in that kind, and rounds whose longest gap fell in it.
                let (mut spent, mut longest_in) = ([0u64; 3], [0u64; 3]);
                let mut slow = Vec::new();
                let cal = Calibration::measure();
                let us = |t: u64| t as f64 / cal.ticks_per_ns / 1e3;
                let mut clean = 0u64;
                for r in 0..rounds + 8 {
                    let u0 = usage(libc::RUSAGE_THREAD);
                    let mut gaps = [0u64; 3];
                    let mut worst = (0u64, 0usize, 0usize);
                    let first = ticks();
                    let mut prev = first;
                    let mut mark = |kind: usize, i: usize, prev: &mut u64| {
                        let now = ticks();
                        let gap = now - *prev;
                        gaps[kind] += gap;
                        if gap > worst.0 {
                            worst = (gap, kind, i);
                        }
                        *prev = now;
                    };
                    for i in 0..N {
                        let mut b = pool.alloc();
                        mark(0, i, &mut prev);
                        // SAFETY: `b` came from `pool.alloc()`.
                        unsafe { pool.touch(&mut b, i.to_le_bytes()[0]) };
                        mark(1, i, &mut prev);
                        held.push(b);
                    }
                    for (i, b) in held.drain(..).enumerate() {
                        // SAFETY: `b` came from `pool.alloc()`.
                        unsafe { pool.free(b) };
                        mark(2, i, &mut prev);
                    }
                    let u1 = usage(libc::RUSAGE_THREAD);
                    if r < 8 || u1[2] != u0[2] {
                        continue; // warm-up, or the scheduler interrupted it
                    }
                    clean += 1;
                    for k in 0..3 {
                        spent[k] += gaps[k];
                    }
                    longest_in[worst.1] += 1;
                    if us(prev - first) > 100.0 {
                        slow.push((prev - first, worst, u1[0] - u0[0], u1[1] - u0[1]));
                    }
                }
                let share: Vec<String> = (0..3)
                    .map(|k| format!("{} {:.0}%", KINDS[k], 100.0 * spent[k] as f64 / spent.iter().sum::<u64>() as f64))
                    .collect();
                let won: Vec<String> = (0..3).map(|k| format!("{} {}", KINDS[k], longest_in[k])).collect();
                eprintln!(
                    "{name} thread {t}: {clean} uninterrupted rounds; time in {}; each round's longest gap, over all \
                     of them, in {}; {} rounds above 100 µs (the first 16 listed):",
                    share.join(", "),
                    won.join(", "),
                    slow.len()
                );
                for (total, (gap, kind, i), faults, voluntary) in slow.iter().take(16) {
                    eprintln!(
                        "  {:.0} µs, longest gap {:.1} µs in {} #{i} (mod 64: {}), the rest {:.0} µs, minor faults {faults}, voluntary switches {voluntary}",
                        us(*total),
                        us(*gap),
                        KINDS[*kind],
                        i % 64,
                        us(total - gap)
                    );
                }
            });
        }
    });
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workload = args.first().map_or("harness", String::as_str);
    let blocks: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2_000_000);
    let pin = args.get(2).is_some_and(|s| s == "pin");
    // As `numaseg bench --only-motion` builds its manager.
    let config = Config::builder()
        .memory_limit(MemoryAmount::Unlimited)
        .node_memory_limit(MemoryAmount::Unlimited)
        .retain_free(ByteSize(64 << 20))
        .build();
    let manager = match config.map_err(|e| e.to_string()).and_then(|c| ArenaManager::new(&c).map_err(|e| e.to_string()))
    {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("motion_diag: {e}");
            return ExitCode::FAILURE;
        }
    };
    match workload {
        "harness" => {
            handoff_runs("numaseg", &NumasegSegments::new(Arc::clone(&manager), SIZE), blocks, pin, Some(&manager))
        }
        "harness-coloured" => {
            let pool = NumasegSegments::new(Arc::clone(&manager), SIZE).coloured();
            handoff_runs("numaseg, touched at the colour offset", &pool, blocks, pin, Some(&manager));
        }
        "harness-padded" => {
            let pool = Padded::<_, 1>(NumasegSegments::new(Arc::clone(&manager), SIZE));
            handoff_runs("numaseg, 24-byte ring slots", &pool, blocks, pin, Some(&manager));
        }
        "pretend" => {
            let pretend = numaseg::bench::motion::pretend_two_nodes();
            let pool = NumasegSegments::new(Arc::clone(&pretend), SIZE);
            handoff_runs("numaseg, pretend node 0", &pool, blocks, pin, Some(&pretend));
        }
        "pretend-across" => {
            let pretend = numaseg::bench::motion::pretend_two_nodes();
            let pool = NumasegSegments::new(Arc::clone(&pretend), SIZE);
            let run = |n, setup: Setup<'_>| {
                let home = |i: usize| {
                    setup(i);
                    if let Err(e) = pretend.set_thread_node(numaseg::numa::NodeId::new(if i == 0 { 1 } else { 0 })) {
                        panic!("motion_diag: {e}");
                    }
                };
                handoff(&pool, n, 1024, &home)
            };
            handoff_runs_of("numaseg, producer on pretend node 1, consumer on 0", &run, blocks, pin, Some(&pretend));
        }
        "pretend-pairs" => {
            // The bench's pretend-node pairs, short: `blocks` per half, 21 pairs, the first of a
            // pair alternating; prints the median of the per-pair ratios across / same.
            let pretend = numaseg::bench::motion::pretend_two_nodes();
            let pool = NumasegSegments::new(Arc::clone(&pretend), SIZE);
            let cpus = numaseg::bench::motion::same_node_cpus();
            let same = |i: usize| pretend_home(&pretend, &cpus, false, i);
            let across = |i: usize| pretend_home(&pretend, &cpus, true, i);
            let warm = Instant::now();
            while warm.elapsed() < Duration::from_millis(300) {
                handoff(&pool, 20_000, 1024, &same);
                handoff(&pool, 20_000, 1024, &across);
            }
            let pairs =
                interleaved_pairs(21, || handoff(&pool, blocks, 1024, &same), || handoff(&pool, blocks, 1024, &across));
            let mut ratios: Vec<f64> = pairs.iter().map(|&(x, y)| y / x).collect();
            let mut sames: Vec<f64> = pairs.iter().map(|&(x, _)| x).collect();
            ratios.sort_by(f64::total_cmp);
            sames.sort_by(f64::total_cmp);
            eprintln!(
                "pretend pairs: median across / same {:.3} (quartiles {:.3}–{:.3}), same-node median {:.1} M/s",
                ratios[10], ratios[5], ratios[15], sames[10]
            );
        }
        "buffers" => {
            let pool = NetworkBuffers::new(Arc::clone(&manager), SIZE, 4096, 2);
            handoff_runs("network buffers, request_buffer", &pool, blocks, pin, None);
        }
        "buffers-requester" => {
            let pool = NetworkBuffers::new(Arc::clone(&manager), SIZE, 4096, 2);
            let run = |n, setup: Setup<'_>| handoff_requested(&pool, n, 1024, setup);
            handoff_runs_of("network buffers, BufferRequester", &run, blocks, pin, None);
        }
        "tls-on-numaseg" => match TlsCachePool::over_segments(&manager, SIZE, 4096) {
            Ok(pool) => handoff_runs("simple thread-local cache over numaseg segments", &pool, blocks, pin, None),
            Err(e) => {
                eprintln!("motion_diag: {e}");
                return ExitCode::FAILURE;
            }
        },
        "tls" => handoff_runs("simple thread-local cache", &TlsCachePool::new(SIZE, 4096), blocks, pin, None),
        "tls-coloured" => {
            let pool = TlsCachePool::new(SIZE, 4096).coloured();
            handoff_runs("simple thread-local cache, touched at the colour offset", &pool, blocks, pin, None);
        }
        "tls-wide" => {
            let pool = Padded::<_, 2>(TlsCachePool::new(SIZE, 4096));
            handoff_runs("simple thread-local cache, 24-byte handles", &pool, blocks, pin, None);
        }
        "tls-32" => {
            let pool = Padded::<_, 3>(TlsCachePool::new(SIZE, 4096));
            handoff_runs("simple thread-local cache, 32-byte handles", &pool, blocks, pin, None);
        }
        "tls-48" => {
            let pool = Padded::<_, 5>(TlsCachePool::new(SIZE, 4096));
            handoff_runs("simple thread-local cache, 48-byte handles", &pool, blocks, pin, None);
        }
        "tls-buffer" => {
            let pool: numaseg::bench::BufferSizedTlsCache = Padded(TlsCachePool::new(SIZE, 4096));
            let name = format!(
                "simple thread-local cache, {}-byte handles (a Buffer's size)",
                size_of::<numaseg::buffer_pool::Buffer>()
            );
            handoff_runs(&name, &pool, blocks, pin, None);
        }
        "tls-16" => {
            let pool = Padded::<_, 1>(TlsCachePool::new(SIZE, 4096));
            handoff_runs("simple thread-local cache, 16-byte handles", &pool, blocks, pin, None);
        }
        "batch" | "batch-unwatched" | "batch-coloured" => {
            let watch = workload != "batch-unwatched";
            let coloured = workload == "batch-coloured";
            let numaseg = NumasegSegments::new(Arc::clone(&manager), SIZE);
            let numaseg = if coloured { numaseg.coloured() } else { numaseg };
            let tls = TlsCachePool::new(SIZE, 4096);
            let tls = if coloured { tls.coloured() } else { tls };
            for _ in 0..3 {
                batch_runs(&numaseg.name(), &numaseg, blocks / 1024, watch);
                batch_runs(&tls.name(), &tls, blocks / 1024, watch);
            }
        }
        "batch-gaps" => {
            let numaseg = NumasegSegments::new(Arc::clone(&manager), SIZE);
            let tls = TlsCachePool::new(SIZE, 4096);
            for _ in 0..2 {
                batch_gaps(&numaseg.name(), &numaseg, blocks / 1024);
                eprintln!("{}", counters(&manager));
                batch_gaps(&tls.name(), &tls, blocks / 1024);
            }
        }
        other => {
            eprintln!(
                "motion_diag: unknown workload {other:?} (harness, harness-coloured, harness-padded, pretend, pretend-across, pretend-pairs, buffers, buffers-requester, tls, tls-on-numaseg, tls-coloured, tls-wide, tls-16, tls-32, tls-48, tls-buffer, batch, batch-coloured, batch-unwatched, batch-gaps)"
            );
            return ExitCode::from(2);
        }
    }
    // How much of the process the kernel backs with transparent huge pages (the regions ask for
    // them with `madvise`; whether they got them decides how many TLB entries a hand-off needs).
    if let Ok(rollup) = std::fs::read_to_string("/proc/self/smaps_rollup") {
        for line in rollup.lines().filter(|l| l.starts_with("AnonHugePages") || l.starts_with("Rss")) {
            eprintln!("motion_diag: {line}");
        }
    }
    ExitCode::SUCCESS
}
