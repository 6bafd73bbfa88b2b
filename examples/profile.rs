//! Runs one of the comparison harness's workloads a given number of operations, for an
//! instruction-count profile under callgrind (`scripts/profile.sh` runs it at two counts and
//! reports the difference per operation, so start-up and warm-up cancel out), and prints its
//! timing and the allocator's cache counters (a slow path taken where a hit was expected shows
//! there, not in the timing).
//!
//! ```text
//! cargo run --release --features bench --example profile -- <workload> <operations> [threads]
//! ```
//!
//! Workloads (32 KiB blocks, the harness's contenders and loops; `threads` applies to the
//! hot-pair and batch ones): `segments-hot-pair`, `segments-batch`, `segments-batch-coloured`,
//! `segments-bulk`, `segments-cross-thread` (two threads, after 500 ms of warm-up),
//! `manager-hot-pair`, `buffers-hot-pair`, `mimalloc-hot-pair`, `arrayqueue-hot-pair`,
//! `locked-cas` (one uncontended compare-and-swap, for scale), and the memory-in-motion ones
//! (issue #14; two pretend nodes on the heap, the thread homed on node 0): `foreign-free`
//! (`allocate_on` node 1 + drop), `local-free` (`allocate_on` node 0 + drop), and
//! `segments-handoff` / `buffers-handoff` / `tls-handoff` (thread A allocates — requests, for the
//! network buffers — 1024 blocks, thread B touches and frees them, in lockstep rounds: the
//! per-block work of a hand-off without a ring's spinning, which under callgrind's serialised
//! threads would dominate the count), `buffers-ring` (the harness's one-at-a-time hand-off of
//! network buffers through its ring, the two threads pinned to CPUs 0 and 1: a wall-clock rate,
//! not for callgrind, to compare an old and a new binary run alternately), `requester-handoff`
//! / `requester-ring` (the same two with the buffers requested through a `BufferRequester`),
//! and
//! `segments-bulk-handles` / `segments-bulk-handles-untouched` (bulk of 32 through handles,
//! touched or not) against `segments-singles-held` / `segments-singles-held-untouched` (the
//! same 32 blocks held in a `Vec<Segment>`, allocated and dropped one at a time).

use std::process::ExitCode;
use std::sync::Arc;

use numaseg::bench::workloads::{Timing, batch, cross_thread, hot_pair};
use numaseg::bench::{
    ArrayQueuePool, Contender, Heap, HeapAllocator, ManagerPages, NetworkBuffers, NumasegSegments, TlsCachePool,
};
use numaseg::config::MemoryAmount;
use numaseg::{ArenaManager, Config};

const SIZE: usize = 32 << 10;
const WORKLOADS: &str = "segments-hot-pair, segments-batch, segments-batch-coloured, segments-bulk, \
                         segments-cross-thread, manager-hot-pair, buffers-hot-pair, mimalloc-hot-pair, \
                         arrayqueue-hot-pair, locked-cas, foreign-free, local-free, segments-handoff, \
                         buffers-handoff, buffers-ring, requester-handoff, requester-ring, tls-handoff, segments-bulk-handles, segments-bulk-handles-untouched, \
                         segments-singles-held, segments-singles-held-untouched, pretend-handoff-same, \
                         pretend-handoff-across";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(workload), Some(ops)) = (args.first(), args.get(1).and_then(|n| n.parse::<u64>().ok())) else {
        eprintln!("usage: profile <workload> <operations> [threads]\nworkloads: {WORKLOADS}");
        return ExitCode::from(2);
    };
    // Threads for the hot-pair and batch workloads (default 1; callgrind runs them one at a time).
    let threads: usize = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(1);
    let config = match Config::builder()
        .memory_limit(MemoryAmount::Unlimited)
        .node_memory_limit(MemoryAmount::Unlimited)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("profile: {e}");
            return ExitCode::FAILURE;
        }
    };
    let manager = match ArenaManager::new(&config) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("profile: {e}");
            return ExitCode::FAILURE;
        }
    };
    match workload.as_str() {
        "segments-hot-pair" => report(hot_pair(&NumasegSegments::new(Arc::clone(&manager), SIZE), threads, ops)),
        "segments-batch" => report(batch(&NumasegSegments::new(Arc::clone(&manager), SIZE), threads, 1024, ops / 1024)),
        "segments-batch-coloured" => {
            report(batch(&NumasegSegments::new(Arc::clone(&manager), SIZE).coloured(), threads, 1024, ops / 1024))
        }
        "locked-cas" => {
            // The price of one uncontended locked compare-and-swap here: the memory manager's
            // fast path does one per page, the buffer pool one per request and per recycle.
            let word = std::sync::atomic::AtomicU64::new(0);
            let t0 = std::time::Instant::now();
            for i in 0..ops {
                let seen = std::hint::black_box(&word).load(std::sync::atomic::Ordering::Relaxed);
                let _ = word.compare_exchange(
                    seen,
                    seen.wrapping_add(i),
                    std::sync::atomic::Ordering::AcqRel,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            report(Timing { ns_per_op: t0.elapsed().as_nanos() as f64 / ops as f64, ops_per_sec: 0.0 });
        }
        "segments-bulk" => {
            let mut blocks = manager.new_batch();
            for _ in 0..ops / 32 {
                if let Err(e) = manager.allocate_bulk(SIZE, 32, &mut blocks) {
                    eprintln!("profile: {e}");
                    return ExitCode::FAILURE;
                }
                for i in 0..blocks.len() {
                    if let Some(block) = blocks.get_mut(i) {
                        block[0] = i.to_le_bytes()[0];
                    }
                }
                blocks.release();
            }
        }
        "segments-cross-thread" => {
            let pool = NumasegSegments::new(Arc::clone(&manager), SIZE);
            // As the harness does: both threads spin a while first (a cold vCPU is slow).
            let warm = std::time::Instant::now();
            while warm.elapsed() < std::time::Duration::from_millis(500) {
                cross_thread(&pool, 20_000, 1024);
            }
            let rate = cross_thread(&pool, ops, 1024);
            eprintln!("profile: {rate:.1} million blocks per second");
        }
        "foreign-free" | "local-free" => {
            let pretend = numaseg::bench::motion::pretend_two_nodes();
            let node = numaseg::numa::NodeId::new(u16::from(workload == "foreign-free"));
            std::thread::scope(|s| {
                s.spawn(|| {
                    if let Err(e) = pretend.set_thread_node(numaseg::numa::NodeId::new(0)) {
                        panic!("profile: {e}");
                    }
                    numaseg::bench::motion::allocate_on_and_drop(&pretend, node, 10_000);
                    let t0 = std::time::Instant::now();
                    numaseg::bench::motion::allocate_on_and_drop(&pretend, node, ops);
                    report(Timing { ns_per_op: t0.elapsed().as_nanos() as f64 / ops as f64, ops_per_sec: 0.0 });
                });
            });
        }
        "segments-bulk-handles"
        | "segments-bulk-handles-untouched"
        | "segments-singles-held"
        | "segments-singles-held-untouched" => {
            let touched = !workload.ends_with("-untouched");
            let run = |rounds| {
                if workload.starts_with("segments-bulk") {
                    numaseg::bench::motion::bulk_through_handles(&manager, rounds, touched);
                } else {
                    numaseg::bench::motion::singles_held(&manager, rounds, touched);
                }
            };
            run(ops.min(10_000) / 32); // warm: the thread's cache grows
            let t0 = std::time::Instant::now();
            run(ops / 32);
            report(Timing {
                ns_per_op: t0.elapsed().as_nanos() as f64 / (ops / 32 * 32).max(1) as f64,
                ops_per_sec: 0.0,
            });
        }
        "segments-handoff" => lockstep(&NumasegSegments::new(Arc::clone(&manager), SIZE), ops, &|_| {}),
        "buffers-handoff" => lockstep(&NetworkBuffers::new(Arc::clone(&manager), SIZE, 4096, 2), ops, &|_| {}),
        "buffers-ring" => {
            // The bench's one-at-a-time hand-off (an SPSC ring of 1024), the two threads pinned
            // to CPUs 0 and 1: wall clock, for runs of the old and the new binary alternately.
            let pool = NetworkBuffers::new(Arc::clone(&manager), SIZE, 4096, 2);
            let pin = |i: usize| drop(numaseg::numa::sys::linux::set_affinity(&[i % 2]));
            let rate = numaseg::bench::workloads::handoff(&pool, ops, 1024, &pin);
            eprintln!("profile: {rate:.1} million buffers per second");
        }
        "requester-handoff" => {
            let buffers = NetworkBuffers::new(Arc::clone(&manager), SIZE, 4096, 2);
            lockstep_requested(&buffers, ops);
        }
        "requester-ring" => {
            let buffers = NetworkBuffers::new(Arc::clone(&manager), SIZE, 4096, 2);
            let pin = |i: usize| drop(numaseg::numa::sys::linux::set_affinity(&[i % 2]));
            let rate = numaseg::bench::workloads::handoff_requested(&buffers, ops, 1024, &pin);
            eprintln!("profile: {rate:.1} million buffers per second");
        }
        "tls-handoff" => lockstep(&TlsCachePool::new(SIZE, 4096), ops, &|_| {}),
        "pretend-handoff-same" | "pretend-handoff-across" => {
            let pretend = numaseg::bench::motion::pretend_two_nodes();
            let across = workload.ends_with("across");
            let home = |thread: usize| {
                let node = if across && thread == 0 { 1 } else { 0 };
                if let Err(e) = pretend.set_thread_node(numaseg::numa::NodeId::new(node)) {
                    panic!("profile: {e}");
                }
            };
            let pool = NumasegSegments::new(Arc::clone(&pretend), SIZE);
            lockstep(&pool, ops, &home);
            print_counters(&pretend);
        }
        "manager-hot-pair" => {
            report(hot_pair(&ManagerPages::new(Arc::clone(&manager), SIZE, 4096, threads), threads, ops))
        }
        "buffers-hot-pair" => {
            report(hot_pair(&NetworkBuffers::new(Arc::clone(&manager), SIZE, 4096, threads), threads, ops))
        }
        "mimalloc-hot-pair" => report(hot_pair(&HeapAllocator { heap: Heap::Mimalloc, size: SIZE }, threads, ops)),
        "arrayqueue-hot-pair" => report(hot_pair(&ArrayQueuePool::new(SIZE, 4096), threads, ops)),
        other => {
            eprintln!("profile: unknown workload {other:?}\nworkloads: {WORKLOADS}");
            return ExitCode::from(2);
        }
    }
    print_counters(&manager);
    ExitCode::SUCCESS
}

/// The allocator's view of the run: a slow path taken where a cache hit was expected shows
/// here (the timing cannot tell them apart).
fn print_counters(manager: &ArenaManager) {
    let stats = manager.stats();
    for n in &stats.nodes {
        for c in n.classes.iter().filter(|c| c.cache_hits + c.cache_misses + c.foreign_frees > 0) {
            eprintln!(
                "profile: node {} {} B: cache hits {}, misses {}, pool refills {}, steals {} ({} segments), \
                 foreign frees {}, regions mapped {}, segments back to regions {}",
                n.node,
                c.segment_size,
                c.cache_hits,
                c.cache_misses,
                c.pool_refills,
                c.steals,
                c.stolen_segments,
                c.foreign_frees,
                n.regions_mapped,
                n.reclaimed_segments
            );
        }
    }
}

/// Prints the timing, for orientation only (under callgrind it means nothing).
fn report(timing: Timing) {
    eprintln!("profile: {:.2} ns per operation", timing.ns_per_op);
}

/// Thread A allocates rounds of 1024 blocks and hands each round to thread B, which touches and
/// frees every block; the round's vector comes back for reuse. `ops` blocks in all. `setup(0)`
/// runs first on A, `setup(1)` on B (to home them on a node).
/// [`lockstep`] for network buffers requested through a `BufferRequester` on thread A.
fn lockstep_requested(buffers: &NetworkBuffers, ops: u64) {
    const ROUND: usize = 1024;
    let (to_b, from_a) = std::sync::mpsc::sync_channel::<Vec<numaseg::Buffer>>(1);
    let (to_a, from_b) = std::sync::mpsc::sync_channel::<Vec<numaseg::Buffer>>(1);
    let rounds = ops.div_ceil(ROUND as u64);
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut requester = buffers.requester();
            let mut v = Vec::with_capacity(ROUND);
            for _ in 0..rounds {
                v.extend((0..ROUND).map(|_| NetworkBuffers::request(&mut requester)));
                let Ok(()) = to_b.send(v) else { return };
                let Ok(back) = from_b.recv() else { return };
                v = back;
            }
        });
        s.spawn(move || {
            while let Ok(mut v) = from_a.recv() {
                for (i, mut b) in v.drain(..).enumerate() {
                    // SAFETY: `b` came from a requester of `buffers`' pool.
                    unsafe { buffers.touch(&mut b, i.to_le_bytes()[0]) };
                    // SAFETY: as above.
                    unsafe { buffers.free(b) };
                }
                let Ok(()) = to_a.send(v) else { return };
            }
        });
    });
    report(Timing { ns_per_op: t0.elapsed().as_nanos() as f64 / (rounds * ROUND as u64) as f64, ops_per_sec: 0.0 });
}

fn lockstep<C: Contender>(pool: &C, ops: u64, setup: &(dyn Fn(usize) + Sync)) {
    const ROUND: usize = 1024;
    let (to_b, from_a) = std::sync::mpsc::sync_channel::<Vec<C::Block<'_>>>(1);
    let (to_a, from_b) = std::sync::mpsc::sync_channel::<Vec<C::Block<'_>>>(1);
    let rounds = ops.div_ceil(ROUND as u64);
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        s.spawn(move || {
            setup(0);
            let mut v = Vec::with_capacity(ROUND);
            for _ in 0..rounds {
                v.extend((0..ROUND).map(|_| pool.alloc()));
                let Ok(()) = to_b.send(v) else { return };
                let Ok(back) = from_b.recv() else { return };
                v = back;
            }
        });
        s.spawn(move || {
            setup(1);
            while let Ok(mut v) = from_a.recv() {
                for (i, mut b) in v.drain(..).enumerate() {
                    // SAFETY: `b` came from `pool.alloc()`.
                    unsafe { pool.touch(&mut b, i.to_le_bytes()[0]) };
                    // SAFETY: as above.
                    unsafe { pool.free(b) };
                }
                let Ok(()) = to_a.send(v) else { return };
            }
        });
    });
    report(Timing { ns_per_op: t0.elapsed().as_nanos() as f64 / (rounds * ROUND as u64) as f64, ops_per_sec: 0.0 });
}
