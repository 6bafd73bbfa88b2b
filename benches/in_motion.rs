//! Criterion benchmarks of memory in motion (issue #14), through the public API and the
//! harness's workloads so both measure the same loops: one-at-a-time hand-off through an SPSC
//! ring (same node, and across two pretend nodes), the same for the peers (the simple
//! thread-local cache, also in ring slots as wide as a `Buffer`, the crossbeam `ArrayQueue` pool), network buffers requested on one thread
//! and recycled on another (with `request_buffer` on the pool and through a `BufferRequester`),
//! the hand-off between two real nodes (where the host has them), a
//! foreign free against a local one, bulk of 32 through handles against the same 32 blocks held
//! in a `Vec<Segment>` but allocated and dropped one at a time, and a batch of 1024 touched on 2
//! threads. The same-node hand-off and the batch also run with every block touched at its colour
//! offset, numaseg and the simple thread-local cache alike. Reproduce with `cargo bench --bench in_motion --features bench`; CI runs each once
//! (`-- --test`), as a smoke test of the loops.
//!
//! After criterion's summary the bench prints the targets of issue #14 (the numbers of
//! `numaseg::bench::targets`, which `numaseg bench`'s table reads too), one line per target,
//! `met`, `MISSED` or `not measured in this run`. The figures come from criterion's own
//! estimates of this run: every `new/benchmark.json` under criterion's directory
//! (`CRITERION_HOME`, else `criterion` in `CARGO_TARGET_DIR` or in the target directory that
//! holds this executable) written since the run started, matched by its group and function ids,
//! with its `new/estimates.json` (the slope, else the mean, per iteration) divided by the group's
//! elements into nanoseconds per block or million blocks per second; the ratios are between
//! benches of this run. A bench left out (a filter, no second real node) leaves its lines not
//! measured. With `--test`, `--list` or `--profile-time` criterion writes no estimates, and the
//! bench says in one line that the targets are not evaluated. The batch's "no round above
//! 100 µs" is `numaseg bench`'s alone (criterion reports no single round).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, Throughput, criterion_group};
use numaseg::bench::motion::{self, RING, SIZE};
use numaseg::bench::targets::{self, ids};
use numaseg::bench::workloads::{batch, handoff, handoff_requested};
use numaseg::bench::{
    ArrayQueuePool, BufferSizedTlsCache, Contender, NetworkBuffers, NumasegSegments, Padded, TlsCachePool,
};
use numaseg::numa::NodeId;

mod common;
use common::manager;

/// `iters` blocks handed over one at a time, as the time criterion asks for.
fn handed_over<C: Contender>(pool: &C, iters: u64, setup: &(dyn Fn(usize) + Sync)) -> Duration {
    rate_to_time(iters, handoff(pool, iters.max(1), RING, setup))
}

/// The time `iters` blocks took at `rate` million blocks per second.
fn rate_to_time(iters: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(iters.max(1) as f64 / (rate * 1e6))
}

/// A allocates, B touches and frees, one block at a time through a ring of 1024 slots.
fn one_at_a_time(c: &mut Criterion) {
    let m = Arc::new(manager());
    // Producer and consumer on two CPUs, as `numaseg bench` runs them (docs/BENCHMARKS.md,
    // *Third pass*: unpinned, both often shared one CPU and every contender measured the wait).
    let cpus = motion::same_node_cpus();
    let apart = |i: usize| motion::pin_apart(&cpus, i);
    let mut g = c.benchmark_group(ids::GROUP_HANDOFF);
    g.throughput(Throughput::Elements(1));
    let numaseg = NumasegSegments::new(Arc::clone(&m), SIZE);
    g.bench_function(ids::NUMASEG_SEGMENTS, |b| b.iter_custom(|n| handed_over(&numaseg, n, &apart)));
    let buffers = NetworkBuffers::new(Arc::clone(&m), SIZE, 4 * RING, 2);
    g.bench_function(ids::NETWORK_BUFFERS, |b| b.iter_custom(|n| handed_over(&buffers, n, &apart)));
    // The same through a `BufferRequester` on the producer thread, on a pool of its own.
    let requested = NetworkBuffers::new(Arc::clone(&m), SIZE, 4 * RING, 2);
    g.bench_function(ids::NETWORK_BUFFERS_REQUESTER, |b| {
        b.iter_custom(|n| rate_to_time(n, handoff_requested(&requested, n.max(1), RING, &apart)));
    });
    let tls = TlsCachePool::new(SIZE, 4 * RING);
    g.bench_function(ids::TLS_CACHE, |b| b.iter_custom(|n| handed_over(&tls, n, &apart)));
    let sized: BufferSizedTlsCache = Padded(TlsCachePool::new(SIZE, 4 * RING));
    g.bench_function(ids::TLS_CACHE_BUFFER_SIZED, |b| b.iter_custom(|n| handed_over(&sized, n, &apart)));
    let queue = ArrayQueuePool::new(SIZE, 4 * RING);
    g.bench_function(ids::ARRAY_QUEUE, |b| b.iter_custom(|n| handed_over(&queue, n, &apart)));
    // The consumer writing at the colour offset, numaseg and the simple cache alike
    // (docs/BENCHMARKS.md, *Nineteenth pass*).
    let coloured = NumasegSegments::new(Arc::clone(&m), SIZE).coloured();
    g.bench_function(ids::NUMASEG_SEGMENTS_COLOURED, |b| b.iter_custom(|n| handed_over(&coloured, n, &apart)));
    let tls_coloured = TlsCachePool::new(SIZE, 4 * RING).coloured();
    g.bench_function(ids::TLS_CACHE_COLOURED, |b| b.iter_custom(|n| handed_over(&tls_coloured, n, &apart)));
    g.finish();

    let pretend = motion::pretend_two_nodes();
    let hb = NumasegSegments::new(Arc::clone(&pretend), SIZE);
    let home = |node: u16| pretend.set_thread_node(NodeId::new(node)).expect("home");
    let mut g = c.benchmark_group(ids::GROUP_HANDOFF_PRETEND);
    g.throughput(Throughput::Elements(1));
    let pinned_home = |i: usize, node: u16| {
        motion::pin_apart(&cpus, i);
        home(node);
    };
    g.bench_function(ids::SAME_PRETEND, |b| b.iter_custom(|n| handed_over(&hb, n, &|i| pinned_home(i, 0))));
    g.bench_function(ids::ACROSS_PRETEND, |b| {
        b.iter_custom(|n| handed_over(&hb, n, &|i| pinned_home(i, if i == 0 { 1 } else { 0 })));
    });
    g.finish();

    // Producer and consumer pinned to two real nodes, where the host has two with CPUs (in
    // the 4-node guest this checks the loop; emulated timing means nothing).
    if let Some((a, b)) = motion::two_real_nodes() {
        let pin = |i: usize| numaseg::numa::sys::linux::set_affinity(if i == 0 { &a } else { &b }).expect("pin");
        let mut g = c.benchmark_group(ids::GROUP_HANDOFF_REAL);
        g.throughput(Throughput::Elements(1));
        g.bench_function(ids::NUMASEG_SEGMENTS, |b| b.iter_custom(|n| handed_over(&numaseg, n, &pin)));
        g.bench_function(ids::TLS_CACHE, |b| b.iter_custom(|n| handed_over(&tls, n, &pin)));
        g.finish();
    } else {
        eprintln!("in_motion: the host has fewer than two NUMA nodes with CPUs: no real-node group");
    }
}

/// A batch of 1024 allocated and touched, then freed, on each of 2 threads, per block, against
/// the simple thread-local cache (the longest rounds are `numaseg bench`'s rows).
fn batch_on_two_threads(c: &mut Criterion) {
    let m = Arc::new(manager());
    let mut g = c.benchmark_group(ids::GROUP_BATCH2);
    g.throughput(Throughput::Elements(1024));
    let numaseg = NumasegSegments::new(Arc::clone(&m), SIZE);
    let tls = TlsCachePool::new(SIZE, 4 * 1024);
    // Per round of 1024 per thread: the threads' mean time per block, times the block count.
    let per_round = |t: numaseg::bench::workloads::Timing, rounds: u64| {
        Duration::from_secs_f64(t.ns_per_op * 1024.0 * rounds.max(1) as f64 / 1e9)
    };
    g.bench_function(ids::NUMASEG_SEGMENTS, |b| {
        b.iter_custom(|rounds| per_round(batch(&numaseg, 2, 1024, rounds.max(1)), rounds));
    });
    g.bench_function(ids::TLS_CACHE, |b| {
        b.iter_custom(|rounds| per_round(batch(&tls, 2, 1024, rounds.max(1)), rounds));
    });
    // The same, each block touched at its colour offset.
    let coloured = NumasegSegments::new(Arc::clone(&m), SIZE).coloured();
    let tls_coloured = TlsCachePool::new(SIZE, 4 * 1024).coloured();
    g.bench_function(ids::NUMASEG_SEGMENTS_COLOURED, |b| {
        b.iter_custom(|rounds| per_round(batch(&coloured, 2, 1024, rounds.max(1)), rounds));
    });
    g.bench_function(ids::TLS_CACHE_COLOURED, |b| {
        b.iter_custom(|rounds| per_round(batch(&tls_coloured, 2, 1024, rounds.max(1)), rounds));
    });
    g.finish();
}

/// A thread of node 0 allocates a segment of node 1 and drops it, against the same through its
/// own node.
fn foreign_free(c: &mut Criterion) {
    let pretend = motion::pretend_two_nodes();
    let mut g = c.benchmark_group(ids::GROUP_FOREIGN_FREE);
    for (name, node) in [(ids::FOREIGN_FREE, 1), (ids::LOCAL_FREE, 0)] {
        g.bench_function(name, |b| {
            b.iter_custom(|n| {
                // A fresh thread homed on node 0, so the bench's own thread keeps no state.
                std::thread::scope(|s| {
                    s.spawn(|| {
                        pretend.set_thread_node(NodeId::new(0)).expect("home");
                        motion::allocate_on_and_drop(&pretend, NodeId::new(node), n.min(10_000));
                        let t0 = Instant::now();
                        motion::allocate_on_and_drop(&pretend, NodeId::new(node), n);
                        t0.elapsed()
                    })
                    .join()
                    .expect("bench thread")
                })
            });
        });
    }
    g.finish();
}

/// Bulk of 32 through handles (`allocate_bulk_into` a `Vec<Segment>` → `release_all`),
/// untouched and touched, against the same 32 blocks held in a `Vec<Segment>` but allocated and
/// dropped one at a time (the thread cache is LIFO: the same blocks, the same bytes touched).
fn bulk_through_handles(c: &mut Criterion) {
    let m = Arc::new(manager());
    let mut g = c.benchmark_group(ids::GROUP_BULK);
    g.throughput(Throughput::Elements(32));
    for (bulk, singles, touched) in
        [(ids::BULK_UNTOUCHED, ids::SINGLES_UNTOUCHED, false), (ids::BULK_TOUCHED, ids::SINGLES_TOUCHED, true)]
    {
        // One `Vec` for all the rounds of a sample, as a service keeps its own.
        g.bench_function(bulk, |b| {
            b.iter_custom(|rounds| timed(|| motion::bulk_through_handles(&m, rounds, touched)));
        });
        g.bench_function(singles, |b| {
            b.iter_custom(|rounds| timed(|| motion::singles_held(&m, rounds, touched)));
        });
    }
    g.finish();
}

/// How long `f` takes.
fn timed(f: impl FnOnce()) -> Duration {
    let t0 = Instant::now();
    f();
    t0.elapsed()
}

criterion_group!(benches, one_at_a_time, foreign_free, bulk_through_handles, batch_on_two_threads);

/// What `criterion_main!` does (the groups, then criterion's summary), then the targets of
/// issue #14 from this run's estimates (see the module's doc).
fn main() {
    let started = SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    let args: Vec<String> = std::env::args().collect();
    if let Some(why) = targets::not_evaluated(&args) {
        // On stderr: `--list --format terse` prints a list that tools read from stdout.
        eprintln!("targets (issue #14): not evaluated in this mode: {why}");
        return;
    }
    let estimates = targets::read_estimates(&targets::criterion_dir(), started);
    println!("\n{}", targets::render(&targets::criterion_targets(&estimates)));
}
