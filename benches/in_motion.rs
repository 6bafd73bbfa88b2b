//! Criterion benchmarks of memory in motion (issue #14), through the public API and the
//! harness's workloads so both measure the same loops: one-at-a-time hand-off through an SPSC
//! ring (same node, and across two pretend nodes), the same for the peers (the simple
//! thread-local cache, the crossbeam `ArrayQueue` pool), network buffers requested on one thread
//! and recycled on another, the hand-off between two real nodes (where the host has them), a
//! foreign free against a local one, bulk of 32 through handles against the same 32 blocks held
//! in a `Vec<Segment>` but allocated and dropped one at a time, and a batch of 1024 touched on 2
//! threads. The targets (ratios in one run) are in `numaseg bench`'s table and
//! docs/BENCHMARKS.md, *Memory in motion*. Reproduce with
//! `cargo bench --bench in_motion --features bench`; CI runs each once
//! (`-- --test`), as a smoke test of the loops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use numaseg::bench::motion::{self, RING, SIZE};
use numaseg::bench::workloads::{batch, handoff};
use numaseg::bench::{ArrayQueuePool, Contender, NetworkBuffers, NumasegSegments, TlsCachePool};
use numaseg::numa::NodeId;

mod common;
use common::manager;

/// `iters` blocks handed over one at a time, as the time criterion asks for.
fn handed_over<C: Contender>(pool: &C, iters: u64, setup: &(dyn Fn(usize) + Sync)) -> Duration {
    let rate = handoff(pool, iters.max(1), RING, setup); // million blocks per second
    Duration::from_secs_f64(iters.max(1) as f64 / (rate * 1e6))
}

/// A allocates, B touches and frees, one block at a time through a ring of 1024 slots.
fn one_at_a_time(c: &mut Criterion) {
    let m = Arc::new(manager());
    // Producer and consumer on two CPUs, as `numaseg bench` runs them (docs/BENCHMARKS.md,
    // *Third pass*: unpinned, both often shared one CPU and every contender measured the wait).
    let cpus = motion::same_node_cpus();
    let apart = |i: usize| motion::pin_apart(&cpus, i);
    let mut g = c.benchmark_group("hand-off one at a time (32 KiB)");
    g.throughput(Throughput::Elements(1));
    let numaseg = NumasegSegments::new(Arc::clone(&m), SIZE);
    g.bench_function("numaseg segments", |b| b.iter_custom(|n| handed_over(&numaseg, n, &apart)));
    let buffers = NetworkBuffers::new(Arc::clone(&m), SIZE, 4 * RING, 2);
    g.bench_function("numaseg network buffers", |b| b.iter_custom(|n| handed_over(&buffers, n, &apart)));
    let tls = TlsCachePool::new(SIZE, 4 * RING);
    g.bench_function("simple thread-local cache", |b| b.iter_custom(|n| handed_over(&tls, n, &apart)));
    let queue = ArrayQueuePool::new(SIZE, 4 * RING);
    g.bench_function("crossbeam ArrayQueue pool", |b| b.iter_custom(|n| handed_over(&queue, n, &apart)));
    g.finish();

    let pretend = motion::pretend_two_nodes();
    let hb = NumasegSegments::new(Arc::clone(&pretend), SIZE);
    let home = |node: u16| pretend.set_thread_node(NodeId::new(node)).expect("home");
    let mut g = c.benchmark_group("hand-off one at a time, pretend nodes (32 KiB, heap-backed)");
    g.throughput(Throughput::Elements(1));
    let pinned_home = |i: usize, node: u16| {
        motion::pin_apart(&cpus, i);
        home(node);
    };
    g.bench_function("both on node 0", |b| b.iter_custom(|n| handed_over(&hb, n, &|i| pinned_home(i, 0))));
    g.bench_function("producer on node 1, consumer on node 0", |b| {
        b.iter_custom(|n| handed_over(&hb, n, &|i| pinned_home(i, if i == 0 { 1 } else { 0 })));
    });
    g.finish();

    // Producer and consumer pinned to two real nodes, where the host has two with CPUs (in
    // the 4-node guest this checks the loop; emulated timing means nothing).
    if let Some((a, b)) = motion::two_real_nodes() {
        let pin = |i: usize| numaseg::numa::sys::linux::set_affinity(if i == 0 { &a } else { &b }).expect("pin");
        let mut g = c.benchmark_group("hand-off one at a time, two real nodes (32 KiB)");
        g.throughput(Throughput::Elements(1));
        g.bench_function("numaseg segments", |b| b.iter_custom(|n| handed_over(&numaseg, n, &pin)));
        g.bench_function("simple thread-local cache", |b| b.iter_custom(|n| handed_over(&tls, n, &pin)));
        g.finish();
    } else {
        eprintln!("in_motion: the host has fewer than two NUMA nodes with CPUs: no real-node group");
    }
}

/// A batch of 1024 allocated and touched, then freed, on each of 2 threads, per block, against
/// the simple thread-local cache (the longest rounds are `numaseg bench`'s rows).
fn batch_on_two_threads(c: &mut Criterion) {
    let m = Arc::new(manager());
    let mut g = c.benchmark_group("batch of 1024 touched, 2 threads (32 KiB)");
    g.throughput(Throughput::Elements(1024));
    let numaseg = NumasegSegments::new(Arc::clone(&m), SIZE);
    let tls = TlsCachePool::new(SIZE, 4 * 1024);
    // Per round of 1024 per thread: the threads' mean time per block, times the block count.
    let per_round = |t: numaseg::bench::workloads::Timing, rounds: u64| {
        Duration::from_secs_f64(t.ns_per_op * 1024.0 * rounds.max(1) as f64 / 1e9)
    };
    g.bench_function("numaseg segments", |b| {
        b.iter_custom(|rounds| per_round(batch(&numaseg, 2, 1024, rounds.max(1)), rounds));
    });
    g.bench_function("simple thread-local cache", |b| {
        b.iter_custom(|rounds| per_round(batch(&tls, 2, 1024, rounds.max(1)), rounds));
    });
    g.finish();
}

/// A thread of node 0 allocates a segment of node 1 and drops it, against the same through its
/// own node.
fn foreign_free(c: &mut Criterion) {
    let pretend = motion::pretend_two_nodes();
    let mut g = c.benchmark_group("foreign free (32 KiB allocate_on + touch + drop)");
    for (name, node) in [("segment of node 1 dropped on node 0", 1), ("segment of node 0 dropped on node 0", 0)] {
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
    let mut g = c.benchmark_group("bulk of 32 through handles (32 KiB)");
    g.throughput(Throughput::Elements(32));
    for touched in [false, true] {
        let how = if touched { "touched" } else { "untouched" };
        // One `Vec` for all the rounds of a sample, as a service keeps its own.
        g.bench_function(format!("allocate_bulk_into → release_all, {how}"), |b| {
            b.iter_custom(|rounds| timed(|| motion::bulk_through_handles(&m, rounds, touched)));
        });
        g.bench_function(format!("32 × allocate → drop each, {how}"), |b| {
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
criterion_main!(benches);
