//! Memory in motion (issue #14): the patterns where one thread allocates and another frees, one
//! block at a time, as a service's code moves buffers — on one node, across pretend nodes (a
//! heap-backed manager with two nodes, the threads homed with `set_thread_node`), and across
//! real nodes when the host has them (the threads pinned to CPUs of two nodes); a segment of
//! another node dropped on this one (foreign free); bulk through handles; a batch of 1024 on two
//! threads with its longest round; network buffers requested on one thread and recycled on
//! another, with `request_buffer` on the pool and through a `BufferRequester`. Every row runs 32 KiB blocks next to its peers in the same run: the simple
//! thread-local cache ([`TlsCachePool`]; beside the buffer rows also in ring slots as wide as a
//! `Buffer`, [`BufferSizedTlsCache`]), the crossbeam `ArrayQueue` pool and mimalloc where a
//! general-purpose allocator makes sense. The hand-off and the batch also run with every block
//! touched at its colour offset (`Segment::colour_offset`), numaseg against the simple
//! thread-local cache touched at the same offsets. The targets' numbers are in `targets.rs`,
//! the target table in `report.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use numa::NodeId;

use super::contenders::{
    ArrayQueuePool, BufferSizedTlsCache, Contender, Heap, HeapAllocator, NetworkBuffers, NumasegSegments, Padded,
    TlsCachePool,
};
use super::report::Row;
use super::targets::ids;
use super::workloads::{self, Timing};
use super::{BenchOptions, sized};
use crate::config::MemoryAmount;
use crate::{ArenaManager, Config, Segment};

/// The block size of every row here.
///
/// ```
/// assert_eq!(numaseg::bench::motion::SIZE, 32 << 10);
/// ```
pub const SIZE: usize = 32 << 10;
/// Slots of the hand-off ring.
///
/// ```
/// assert_eq!(numaseg::bench::motion::RING, 1024);
/// ```
pub const RING: usize = 1024;

/// Workload names (the report's targets look rows up by them).
pub(super) const HANDOFF: &str = "hand-off, one at a time";
pub(super) const HANDOFF_RATIO: &str = "hand-off, one at a time: numaseg over each peer, per round of repetitions";
pub(super) const HANDOFF_REAL_RATIO: &str =
    "hand-off on two real nodes: numaseg over each peer, per round of repetitions";
pub(super) const HANDOFF_REQUESTER_RATIO: &str =
    "hand-off, one at a time: network buffers through a requester over request_buffer, per round of repetitions";
pub(super) const HANDOFF_REAL_REQUESTER_RATIO: &str =
    "hand-off on two real nodes: network buffers through a requester over request_buffer, per round of repetitions";
pub(super) const HANDOFF_COLOURED: &str = "hand-off, one at a time, touched at the colour offset";
pub(super) const HANDOFF_COLOURED_RATIO: &str =
    "hand-off, one at a time, touched at the colour offset: numaseg over the peer, per round of repetitions";
pub(super) const HANDOFF_PRETEND: &str = "hand-off, pretend nodes (heap-backed)";
pub(super) const HANDOFF_REAL: &str = "hand-off, producer and consumer on two real nodes";
pub(super) const HANDOFF_PRETEND_RATIO: &str = "hand-off, pretend nodes: across / same, per pair of repetitions";
pub(super) const FOREIGN: &str = "foreign free";
pub(super) const FOREIGN_RATIO: &str = "foreign free: foreign / local, per pair of repetitions";
pub(super) const BULK: &str = "bulk of 32 through handles";
pub(super) const BATCH2: &str = "batch of 1024, 2 threads";
pub(super) const BATCH2_LONGEST: &str = "batch of 1024, 2 threads: longest round";
pub(super) const BATCH2_UNPREEMPTED: &str = "batch of 1024, 2 threads: rounds the scheduler did not interrupt";
pub(super) const BATCH2_LONGEST_UNPREEMPTED: &str =
    "batch of 1024, 2 threads: longest round the scheduler did not interrupt";
pub(super) const BATCH2_PREEMPTED: &str = "batch of 1024, 2 threads: rounds the scheduler interrupted";
pub(super) const BATCH2_SLOW_UNPREEMPTED: &str =
    "batch of 1024, 2 threads: rounds above 100 µs the scheduler did not interrupt, per 10,000";
pub(super) const STALLS: &str = "the machine: a thread that only reads the clock, stalls above 100 µs without a switch";
pub(super) const STALLS_50: &str =
    "the machine: a thread that only reads the clock, stalls above 50 µs without a switch";
pub(super) const STALLS_LONGEST: &str =
    "the machine: a thread that only reads the clock, longest stall without a switch";
/// The contender name of the machine's stall rows.
pub(super) const CLOCK_READER: &str = "2 threads reading the clock";
/// Contender names of the rows that are not a [`Contender`]'s own.
pub(super) const SAME_PRETEND: &str = "numaseg segments, both on node 0";
pub(super) const ACROSS_PRETEND: &str = "numaseg segments, producer on node 1, consumer on node 0";
pub(super) const PRETEND_RATIO: &str = "numaseg segments, across over same";
pub(super) const FOREIGN_FREE: &str = "numaseg: segment of node 1 dropped on node 0";
pub(super) const LOCAL_FREE: &str = "numaseg: segment of node 0 dropped on node 0";
pub(super) const FOREIGN_OVER_LOCAL: &str = "numaseg, foreign free over local free";
pub(super) const BULK_UNTOUCHED: &str = "numaseg allocate_bulk_into → release_all, untouched";
pub(super) const BULK_TOUCHED: &str = "numaseg allocate_bulk_into → release_all, touched";
pub(super) const SINGLES_UNTOUCHED: &str = "numaseg 32 × allocate into a Vec<Segment> → drop each, untouched";
pub(super) const SINGLES_TOUCHED: &str = "numaseg 32 × allocate into a Vec<Segment> → drop each, touched";

/// The contender name of the rows of per-round ratios of network buffers requested through a
/// `BufferRequester` over those requested with `request_buffer`.
pub(super) fn requester_over_buffers() -> String {
    format!("{} over {}", ids::NETWORK_BUFFERS_REQUESTER, ids::NETWORK_BUFFERS)
}

/// The contender name of the rows of per-round ratios of network buffers requested through a
/// `BufferRequester` over the simple thread-local cache handing over values as wide as a
/// `Buffer` ([`BufferSizedTlsCache`]).
pub(super) fn requester_over_buffer_sized() -> String {
    format!("{} over {}", ids::NETWORK_BUFFERS_REQUESTER, ids::TLS_CACHE_BUFFER_SIZED)
}

/// One hand-off contender: its name and a run of `blocks` blocks (returning M blocks/s).
type HandoffRun<'a> = (String, &'a dyn Fn(u64) -> f64);

/// One-at-a-time hand-off rows of several contenders, warmed up as the chunked cross-thread
/// workload is (both threads spin for the target time first: an idle vCPU runs slowly for a
/// while), each sized to the target time, and their repetitions **interleaved**: repetition
/// `r` runs every contender once, starting with contender `r mod k`, so that each round of
/// repetitions sees the same stretch of the machine's load. One row per contender under
/// `workload`, and under `ratio_workload` one row per peer with the per-round ratios of the
/// first contender (numaseg) over that peer, whose median the targets read: run one after the
/// other, the contenders' rows measured minutes apart and the ratio to the simple thread-local
/// cache moved from 0.81× to 1.39× between three runs of the same binary. Returns each
/// contender's samples, one per repetition, in the order of `runs`.
fn handoff_rows(
    runs: &[HandoffRun<'_>],
    workload: &'static str,
    ratio_workload: &'static str,
    opts: &BenchOptions,
    rows: &mut Vec<Row>,
) -> Vec<Vec<f64>> {
    let blocks: Vec<u64> = runs
        .iter()
        .map(|(_, run)| {
            let warm = Instant::now();
            while warm.elapsed() < opts.target {
                run(20_000);
            }
            let probe = run(20_000);
            ((probe * 1e6 * opts.target.as_secs_f64()) as u64).clamp(20_000, 50_000_000)
        })
        .collect();
    let k = runs.len();
    let mut samples = vec![Vec::with_capacity(opts.reps); k];
    for rep in 0..opts.reps {
        for j in 0..k {
            let i = (rep + j) % k;
            samples[i].push((runs[i].1)(blocks[i]));
        }
    }
    for ((name, _), s) in runs.iter().zip(&samples) {
        rows.push(Row::new(workload, name, SIZE, 2, "Mblocks/s", s));
    }
    if let Some(((first, _), peers)) = runs.split_first() {
        for (i, (peer, _)) in peers.iter().enumerate() {
            let ratio: Vec<f64> = samples[0].iter().zip(&samples[i + 1]).map(|(n, p)| n / p).collect();
            rows.push(Row::new(ratio_workload, &format!("{first} over {peer}"), SIZE, 2, "×", &ratio));
        }
    }
    samples
}

/// `work(n)` on one fresh thread after `setup`, timed; per operation.
fn on_thread(setup: &(dyn Fn() + Sync), n: u64, work: &(dyn Fn(u64) + Sync)) -> Timing {
    let elapsed = std::thread::scope(|s| {
        s.spawn(|| {
            setup();
            work(n.min(10_000)); // warm: the thread's cache grows
            let t0 = Instant::now();
            work(n);
            t0.elapsed()
        })
        .join()
        .unwrap_or_else(|_| panic!("a benchmark thread panicked"))
    });
    let ns = elapsed.as_nanos() as f64 / n as f64;
    Timing { ns_per_op: ns, ops_per_sec: 1e9 / ns }
}

fn ns_row(
    workload: &'static str,
    name: &str,
    opts: &BenchOptions,
    setup: &(dyn Fn() + Sync),
    work: &(dyn Fn(u64) + Sync),
    rows: &mut Vec<Row>,
) {
    let samples = sized(opts.target, opts.reps, |n| on_thread(setup, n, work));
    let unit = if workload == BULK { "ns/block" } else { "ns/pair" };
    rows.push(Row::new(workload, name, SIZE, 1, unit, &samples.iter().map(|t| t.ns_per_op).collect::<Vec<_>>()));
}

fn panic_on<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("numaseg in a benchmark: {e}"))
}

/// A heap-backed manager with two pretend nodes and no budget in the way.
///
/// ```
/// let manager = numaseg::bench::motion::pretend_two_nodes();
/// assert_eq!(manager.nodes().len(), 2);
/// ```
///
/// # Panics
/// If it cannot be built.
#[must_use]
pub fn pretend_two_nodes() -> Arc<ArenaManager> {
    let config = panic_on(
        Config::builder().memory_limit(MemoryAmount::Unlimited).node_memory_limit(MemoryAmount::Unlimited).build(),
    );
    Arc::new(panic_on(ArenaManager::heap_backed(&config, 2)))
}

/// Allocate a segment on `node` (with `allocate_on`), touch it, drop it: `n` times.
///
/// ```
/// use numaseg::bench::motion::{allocate_on_and_drop, pretend_two_nodes};
/// use numaseg::numa::NodeId;
/// let manager = pretend_two_nodes();
/// manager.set_thread_node(NodeId::new(0))?;
/// allocate_on_and_drop(&manager, NodeId::new(1), 100); // 100 foreign frees
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Panics
/// If numaseg refuses an allocation.
pub fn allocate_on_and_drop(manager: &ArenaManager, node: NodeId, n: u64) {
    for i in 0..n {
        let mut s = panic_on(manager.allocate_on(node, SIZE));
        s.as_mut_slice()[0] = i as u8;
        drop(s);
    }
}

/// `rounds` bulks of 32 through handles: `allocate_bulk_into` a `Vec<Segment>`, each touched
/// at its first byte or not, and given back with `release_all` (before #14's handles bulk:
/// `allocate_bulk`, every segment popped into the `Vec`, `release_bulk`).
///
/// ```
/// use numaseg::bench::motion::{bulk_through_handles, pretend_two_nodes};
/// bulk_through_handles(&pretend_two_nodes(), 4, true);
/// ```
///
/// # Panics
/// If numaseg refuses an allocation.
pub fn bulk_through_handles(manager: &ArenaManager, rounds: u64, touched: bool) {
    let mut held: Vec<Segment<'_>> = Vec::with_capacity(32);
    for _ in 0..rounds {
        panic_on(manager.allocate_bulk_into(SIZE, 32, &mut held));
        if touched {
            touch_all(&mut held);
        }
        manager.release_all(&mut held);
    }
}

/// The peer of [`bulk_through_handles`]: the same `rounds` of 32 blocks held in a
/// `Vec<Segment>`, taken one `allocate` at a time and given back one drop at a time. The thread
/// cache is LIFO, so both take the same 32 blocks, and the touched rows write the same bytes.
///
/// ```
/// use numaseg::bench::motion::{pretend_two_nodes, singles_held};
/// singles_held(&pretend_two_nodes(), 4, true);
/// ```
///
/// # Panics
/// If numaseg refuses an allocation.
pub fn singles_held(manager: &ArenaManager, rounds: u64, touched: bool) {
    let mut held: Vec<Segment<'_>> = Vec::with_capacity(32);
    for _ in 0..rounds {
        for _ in 0..32 {
            held.push(panic_on(manager.allocate(SIZE)));
        }
        if touched {
            touch_all(&mut held);
        }
        held.clear(); // each handle's drop gives its block back
    }
}

/// What both bulk rows write when touched: the first byte of every block held.
#[inline]
fn touch_all(held: &mut [Segment<'_>]) {
    for (i, s) in held.iter_mut().enumerate() {
        s.as_mut_slice()[0] = i as u8;
    }
}

/// The CPUs of the first two nodes of the host that have CPUs, if it has two.
///
/// ```
/// if let Some((a, b)) = numaseg::bench::motion::two_real_nodes() {
///     assert!(!a.is_empty() && !b.is_empty());
/// }
/// ```
#[must_use]
pub fn two_real_nodes() -> Option<(Vec<usize>, Vec<usize>)> {
    let topology = numa::Topology::detect().ok()?;
    let mut with_cpus = topology.nodes().iter().filter(|n| !n.cpus.is_empty());
    let a = with_cpus.next()?.cpus.clone();
    let b = with_cpus.next()?.cpus.clone();
    Some((a, b))
}

/// Every row of memory in motion, appended to `rows`; returns why the real-node rows did not
/// run, if they did not.
pub(super) fn run(manager: &Arc<ArenaManager>, opts: &BenchOptions, rows: &mut Vec<Row>) -> Option<String> {
    // (a) and (g): one at a time on this node, with the peers, the producer and the consumer
    // pinned to two different CPUs. Unpinned, the scheduler of a busy 2-vCPU machine often put
    // both on one CPU, where they took turns through the ring's wait (4,096 spins, then a yield):
    // every contender then measured the wait, 2.5–3.5 M blocks/s with about 3,900 involuntary
    // context switches per 2 million blocks, against 50–65 M/s pinned (docs/BENCHMARKS.md,
    // *Third pass*).
    let cpus = same_node_cpus();
    let apart = |thread: usize| pin_apart(&cpus, thread);
    eprintln!("bench: memory in motion, one-at-a-time hand-off");
    let numaseg = NumasegSegments::new(Arc::clone(manager), SIZE);
    let buffers = NetworkBuffers::new(Arc::clone(manager), SIZE, 4 * RING, 2);
    // The same pool again for the requester's row, so that neither row runs on a pool the
    // other left (the requester's opens the pool's recycler lane while it runs).
    let requested = NetworkBuffers::new(Arc::clone(manager), SIZE, 4 * RING, 2);
    let tls = TlsCachePool::new(SIZE, 4 * RING);
    // The buffer rows' peer for the ring slot's width: a `Buffer` is wider than a `Segment`,
    // and every hand-over carries it (docs/BENCHMARKS.md, *Thirteenth pass*).
    let sized: BufferSizedTlsCache = Padded(TlsCachePool::new(SIZE, 4 * RING));
    let queue = ArrayQueuePool::new(SIZE, 4 * RING);
    let mimalloc = HeapAllocator { heap: Heap::Mimalloc, size: SIZE };
    let contenders =
        |setup: &(dyn Fn(usize) + Sync), workload, ratio_workload, requester_ratio, rows: &mut Vec<Row>| {
            let run_numaseg = |b| workloads::handoff(&numaseg, b, RING, setup);
            let run_buffers = |b| workloads::handoff(&buffers, b, RING, setup);
            let run_requested = |b| workloads::handoff_requested(&requested, b, RING, setup);
            let run_tls = |b| workloads::handoff(&tls, b, RING, setup);
            let run_sized = |b| workloads::handoff(&sized, b, RING, setup);
            let run_queue = |b| workloads::handoff(&queue, b, RING, setup);
            let run_mimalloc = |b| workloads::handoff(&mimalloc, b, RING, setup);
            let runs: [HandoffRun<'_>; 7] = [
                (numaseg.name(), &run_numaseg),
                (buffers.name(), &run_buffers),
                (ids::NETWORK_BUFFERS_REQUESTER.to_owned(), &run_requested),
                (tls.name(), &run_tls),
                (ids::TLS_CACHE_BUFFER_SIZED.to_owned(), &run_sized),
                (queue.name(), &run_queue),
                (mimalloc.name(), &run_mimalloc),
            ];
            let samples = handoff_rows(&runs, workload, ratio_workload, opts, rows);
            // The requester over `request_buffer` and over the Buffer-sized peer, round by
            // round (the rows' repetitions interleaved like the others').
            let over = |i: usize| -> Vec<f64> { samples[2].iter().zip(&samples[i]).map(|(r, b)| r / b).collect() };
            rows.push(Row::new(requester_ratio, &requester_over_buffers(), SIZE, 2, "×", &over(1)));
            rows.push(Row::new(requester_ratio, &requester_over_buffer_sized(), SIZE, 2, "×", &over(4)));
        };
    contenders(&apart, HANDOFF, HANDOFF_RATIO, HANDOFF_REQUESTER_RATIO, rows);

    // (a'): the same, the consumer writing at the colour offset (`Segment::colour_offset`),
    // numaseg and the simple thread-local cache alike. Every 32 KiB block starts at the same
    // offset of a cache way, so first-byte writes crowd into one L1 set and a few L2 sets; on
    // this VM, in its slow state, numaseg's hand-off ran at 15–24 M/s writing at byte 0 and at
    // 77–126 writing at the colour offset (docs/BENCHMARKS.md, *Nineteenth pass*).
    eprintln!("bench: memory in motion, one-at-a-time hand-off touched at the colour offset");
    let numaseg_coloured = NumasegSegments::new(Arc::clone(manager), SIZE).coloured();
    let tls_coloured = TlsCachePool::new(SIZE, 4 * RING).coloured();
    {
        let run_numaseg = |b| workloads::handoff(&numaseg_coloured, b, RING, &apart);
        let run_tls = |b| workloads::handoff(&tls_coloured, b, RING, &apart);
        let runs: [HandoffRun<'_>; 2] = [(numaseg_coloured.name(), &run_numaseg), (tls_coloured.name(), &run_tls)];
        handoff_rows(&runs, HANDOFF_COLOURED, HANDOFF_COLOURED_RATIO, opts, rows);
    }

    // (b): pretend nodes, the same manager for both rows.
    let pretend = pretend_two_nodes();
    pretend_rows(&pretend, opts, rows);

    // (c): two real nodes, when there are.
    let skipped = if let Some((a, b)) = two_real_nodes() {
        eprintln!("bench: memory in motion, producer on CPUs {a:?}, consumer on CPUs {b:?}");
        let pin = |i: usize| panic_on(numa::sys::linux::set_affinity(if i == 0 { &a } else { &b }));
        let foreign = || manager.stats().nodes.iter().flat_map(|n| &n.classes).map(|c| c.foreign_frees).sum::<u64>();
        let (before, used_before) = (foreign(), manager.stats().used_segments());
        contenders(&pin, HANDOFF_REAL, HANDOFF_REAL_RATIO, HANDOFF_REAL_REQUESTER_RATIO, rows);
        // The correctness check of these rows (in the 4-node guest their timing means nothing):
        // every block of numaseg's crossed nodes, so the consumer's frees were foreign frees
        // (the peers do not free segments).
        let crossed = foreign() - before;
        eprintln!("bench: memory in motion on two real nodes: {crossed} foreign frees");
        assert!(crossed > 0, "producer and consumer pinned to two nodes, yet no free was foreign");
        // And every segment that crossed came back: as many in hands as before the rows (the
        // network buffers' pool holds its own throughout).
        let used_after = manager.stats().used_segments();
        assert_eq!(
            used_after, used_before,
            "segments in use before the real-node rows: {used_before}, after: {used_after}"
        );
        None
    } else {
        Some("the host has fewer than two NUMA nodes with CPUs".to_owned())
    };

    // (d): foreign free against a local pair, both through `allocate_on` on a thread of node 0.
    eprintln!("bench: memory in motion, foreign free, bulk through handles");
    foreign_rows(&pretend, opts, rows);
    drop(pretend);

    // (e): bulk of 32 through handles against the same 32 blocks taken and given back one at a
    // time, per block.
    let none = || {};
    let m: &ArenaManager = manager;
    ns_row(BULK, BULK_UNTOUCHED, opts, &none, &|n| bulk_through_handles(m, (n / 32).max(1), false), rows);
    ns_row(BULK, BULK_TOUCHED, opts, &none, &|n| bulk_through_handles(m, (n / 32).max(1), true), rows);
    ns_row(BULK, SINGLES_UNTOUCHED, opts, &none, &|n| singles_held(m, (n / 32).max(1), false), rows);
    ns_row(BULK, SINGLES_TOUCHED, opts, &none, &|n| singles_held(m, (n / 32).max(1), true), rows);

    // (f): a batch of 1024 touched on 2 threads, with the longest round of each repetition.
    eprintln!("bench: memory in motion, batch of 1024 on 2 threads");
    batch2(&numaseg, opts, rows);
    batch2(&tls, opts, rows);
    batch2(&queue, opts, rows);
    batch2(&mimalloc, opts, rows);
    // (f'): the same touched at the colour offset, numaseg and the simple thread-local cache.
    batch2(&numaseg_coloured, opts, rows);
    batch2(&tls_coloured, opts, rows);
    stall_rows(opts, rows);
    skipped
}

/// Pins hand-off thread `thread` (0 the producer, 1 the consumer) to its own CPU of `cpus`
/// (for the same-node rows, [`same_node_cpus`]), when there are two; best effort (a
/// refusal leaves the thread where the scheduler puts it). The same-node and pretend-node
/// hand-off rows pin with it, so that the scheduler cannot put both threads on one CPU.
///
/// ```
/// use numaseg::bench::{TlsCachePool, motion::pin_apart, workloads::handoff};
/// let cpus = numaseg::bench::motion::same_node_cpus();
/// let pool = TlsCachePool::new(4096, 2048);
/// let rate = handoff(&pool, 10_000, 1024, &|thread| pin_apart(&cpus, thread));
/// assert!(rate > 0.0);
/// ```
pub fn pin_apart(cpus: &[usize], thread: usize) {
    if cpus.len() >= 2 {
        let _ = numa::sys::linux::set_affinity(&cpus[thread..=thread]);
    }
}

/// The CPUs this process may run on that belong to one node: the first node (in the host's
/// order) with at least two of them, else all of them. The same-node and pretend-node hand-off
/// rows pin their two threads to the first two, so that on a multi-node host "same node" means
/// the same node.
///
/// ```
/// let cpus = numaseg::bench::motion::same_node_cpus();
/// assert!(!cpus.is_empty());
/// ```
#[must_use]
pub fn same_node_cpus() -> Vec<usize> {
    let allowed = numa::sys::linux::affinity_cpus();
    let Ok(topology) = numa::Topology::detect() else { return allowed };
    pick_same_node(topology.nodes().iter().map(|n| n.cpus.as_slice()), allowed)
}

/// [`same_node_cpus`] given each node's CPUs and the allowed ones.
fn pick_same_node<'a>(nodes: impl IntoIterator<Item = &'a [usize]>, allowed: Vec<usize>) -> Vec<usize> {
    nodes
        .into_iter()
        .map(|cpus| cpus.iter().copied().filter(|c| allowed.contains(c)).collect::<Vec<_>>())
        .find(|on_node| on_node.len() >= 2)
        .unwrap_or(allowed)
}

/// Runs `a` and `b` `reps` times each, in pairs back to back whose first half alternates (`a`
/// first in even pairs), and returns each pair's results `(a, b)`. The two halves of a pair see
/// the same stretch of a shared machine's load, so a ratio within a pair is steadier than a
/// ratio of two medians taken minutes apart.
///
/// ```
/// use numaseg::bench::motion::interleaved_pairs;
/// assert_eq!(interleaved_pairs(3, || 1.0, || 2.0), vec![(1.0, 2.0); 3]);
/// ```
pub fn interleaved_pairs(reps: usize, mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> Vec<(f64, f64)> {
    (0..reps)
        .map(|rep| {
            if rep % 2 == 0 {
                let x = a();
                (x, b())
            } else {
                let y = b();
                (a(), y)
            }
        })
        .collect()
}

/// The pretend-node hand-off's setup of thread `thread` (0 the producer, 1 the consumer):
/// pinned apart on `cpus` ([`pin_apart`]) and homed on node 0 of `pretend`, except the
/// producer `across` nodes, homed on node 1.
///
/// ```
/// use numaseg::bench::motion::{pretend_home, pretend_two_nodes, same_node_cpus};
/// let pretend = pretend_two_nodes();
/// std::thread::spawn(move || pretend_home(&pretend, &same_node_cpus(), true, 0)).join().unwrap();
/// ```
///
/// # Panics
/// If the manager refuses the home (it has fewer than two nodes).
pub fn pretend_home(pretend: &ArenaManager, cpus: &[usize], across: bool, thread: usize) {
    pin_apart(cpus, thread);
    panic_on(pretend.set_thread_node(NodeId::new(u16::from(across && thread == 0))));
}

/// The pretend-node rows: the same hand-off with both threads homed on node 0, and with the
/// producer on node 1, their repetitions **interleaved** (each pair runs in the same stretch of
/// the machine's load; the first of a pair alternates), the two threads pinned to the same two
/// CPUs in both rows (so the rows differ only in the producer's home), and the same number of
/// blocks in both. Besides the two rows, one of the per-pair ratios across / same: on a shared
/// machine a ratio of medians measured minutes apart moved from 0.14× to 1.05× between runs.
fn pretend_rows(pretend: &Arc<ArenaManager>, opts: &BenchOptions, rows: &mut Vec<Row>) {
    let hb = NumasegSegments::new(Arc::clone(pretend), SIZE);
    let cpus = same_node_cpus();
    let same = |i: usize| pretend_home(pretend, &cpus, false, i);
    let across = |i: usize| pretend_home(pretend, &cpus, true, i);
    let warm = Instant::now();
    while warm.elapsed() < opts.target {
        workloads::handoff(&hb, 20_000, RING, &same);
        workloads::handoff(&hb, 20_000, RING, &across);
    }
    let probe = workloads::handoff(&hb, 20_000, RING, &same).max(workloads::handoff(&hb, 20_000, RING, &across));
    let blocks = ((probe * 1e6 * opts.target.as_secs_f64()) as u64).clamp(20_000, 50_000_000);
    let pairs = interleaved_pairs(
        opts.reps,
        || workloads::handoff(&hb, blocks, RING, &same),
        || workloads::handoff(&hb, blocks, RING, &across),
    );
    let (s, a): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    let ratio: Vec<f64> = pairs.iter().map(|&(x, y)| y / x).collect();
    rows.push(Row::new(HANDOFF_PRETEND, SAME_PRETEND, SIZE, 2, "Mblocks/s", &s));
    rows.push(Row::new(HANDOFF_PRETEND, ACROSS_PRETEND, SIZE, 2, "Mblocks/s", &a));
    rows.push(Row::new(HANDOFF_PRETEND_RATIO, PRETEND_RATIO, SIZE, 2, "×", &ratio));
}

/// The foreign-free rows: `allocate_on` + touch + drop of a segment of node 1 and of node 0, on
/// a thread homed on node 0 and pinned to the same CPU for both, in pairs of repetitions run
/// back to back (in alternating order), with the ratio of each pair. This VM's speed changes from one minute to the next (by up to
/// 3× in docs/BENCHMARKS.md's runs); the two halves of a pair see the same machine, so the
/// median of the pairs' ratios is the foreign free's cost, where a ratio of the two rows'
/// medians, each taken over minutes of its own, moved between 1.2× and 2.1× across runs.
fn foreign_rows(pretend: &ArenaManager, opts: &BenchOptions, rows: &mut Vec<Row>) {
    let cpus = same_node_cpus();
    let on_node0 = || {
        pin_apart(&cpus, 0); // both halves of a pair on one CPU (best effort)
        panic_on(pretend.set_thread_node(NodeId::new(0)));
    };
    let foreign = |n| on_thread(&on_node0, n, &|n| allocate_on_and_drop(pretend, NodeId::new(1), n));
    let local = |n| on_thread(&on_node0, n, &|n| allocate_on_and_drop(pretend, NodeId::new(0), n));
    let probe = 20_000;
    // Warm-up: the regions mapped, the pools and their spare vectors filled (each run is a
    // fresh thread, whose cache and outbox `on_thread` warms before it times).
    foreign(probe);
    local(probe);
    let ns = foreign(probe).ns_per_op.max(local(probe).ns_per_op).max(0.1);
    let n = ((opts.target.as_nanos() as f64 / ns) as u64).clamp(probe, 500_000_000);
    let pairs = interleaved_pairs(opts.reps, || foreign(n).ns_per_op, || local(n).ns_per_op);
    let (f, l): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    let ratio: Vec<f64> = pairs.iter().map(|&(x, y)| x / y).collect();
    rows.push(Row::new(FOREIGN, FOREIGN_FREE, SIZE, 1, "ns/pair", &f));
    rows.push(Row::new(FOREIGN, LOCAL_FREE, SIZE, 1, "ns/pair", &l));
    rows.push(Row::new(FOREIGN_RATIO, FOREIGN_OVER_LOCAL, SIZE, 1, "×", &ratio));
}

/// The batch rows of `pool`: per block and the longest round of each repetition
/// ([`workloads::batch_rounds`], as before the third pass); then, in repetitions of their own
/// (the watch makes two system calls per round), per block and the longest round over the
/// rounds the scheduler did not interrupt, and the share it interrupted
/// ([`workloads::batch_rounds_watched`]): on a shared 2-vCPU machine every contender's longest
/// round is a time slice of another process (4–86 ms in the runs of docs/BENCHMARKS.md), which
/// says nothing of the pool; the unpreempted rounds do.
fn batch2<C: Contender>(pool: &C, opts: &BenchOptions, rows: &mut Vec<Row>) {
    let n = opts.batch;
    let per_round = n as u64;
    let mut longest = Vec::new();
    let samples = sized(opts.target, opts.reps, |ops| {
        let (t, l) = workloads::batch_rounds(pool, 2, n, (ops / per_round).max(1));
        longest.push(l);
        t
    });
    // The last `reps` calls are the repetitions (the first two warmed up and sized).
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let longest: Vec<f64> = longest[longest.len() - samples.len()..].iter().map(|&d| us(d)).collect();
    let ns: Vec<f64> = samples.iter().map(|t| t.ns_per_op).collect();
    rows.push(Row::new(BATCH2, &pool.name(), SIZE, 2, "ns/block", &ns));
    rows.push(Row::new(BATCH2_LONGEST, &pool.name(), SIZE, 2, "µs", &longest));

    let mut watched = Vec::new();
    let samples = sized(opts.target, opts.reps, |ops| {
        let w = workloads::batch_rounds_watched(pool, 2, n, (ops / per_round).max(1));
        watched.push(w);
        w.timing
    });
    let watched = &watched[watched.len() - samples.len()..];
    let clean_ns: Vec<f64> = watched.iter().filter_map(|w| w.unpreempted_ns_per_block).collect();
    let clean: Vec<f64> = watched.iter().map(|w| us(w.longest_unpreempted)).collect();
    let preempted: Vec<f64> = watched.iter().map(|w| 100.0 * w.preempted as f64 / w.rounds.max(1) as f64).collect();
    if !clean_ns.is_empty() {
        rows.push(Row::new(BATCH2_UNPREEMPTED, &pool.name(), SIZE, 2, "ns/block", &clean_ns));
    }
    rows.push(Row::new(BATCH2_LONGEST_UNPREEMPTED, &pool.name(), SIZE, 2, "µs", &clean));
    rows.push(Row::new(BATCH2_PREEMPTED, &pool.name(), SIZE, 2, "%", &preempted));
    let slow: Vec<f64> =
        watched.iter().map(|w| 1e4 * w.slow_unpreempted as f64 / (w.rounds - w.preempted).max(1) as f64).collect();
    rows.push(Row::new(BATCH2_SLOW_UNPREEMPTED, &pool.name(), SIZE, 2, "per 10,000", &slow));
}

/// The machine's own stalls, beside the batch rows: two threads that only read the clock, for
/// as long as one repetition runs but at least 250 ms (a stall above 100 µs comes a few times a
/// second), `reps` times ([`workloads::stall_probe`]). On a VM the
/// hypervisor or an interrupt's handler stops a thread now and then for tens to hundreds of
/// microseconds; the guest sees no context switch of the thread, so a round of the batch that
/// such a stall hits counts as not interrupted. Stalls above 50 and 100 µs per second of a
/// thread's running time, and the longest.
fn stall_rows(opts: &BenchOptions, rows: &mut Vec<Row>) {
    let probes: Vec<workloads::Stalls> = (0..opts.reps)
        .map(|_| workloads::stall_probe(2, opts.target.max(Duration::from_millis(250)), &|_| {}))
        .collect();
    let rate: Vec<f64> = probes.iter().map(workloads::Stalls::over_100us_per_second).collect();
    let rate_50: Vec<f64> = probes.iter().map(workloads::Stalls::over_50us_per_second).collect();
    let longest: Vec<f64> = probes.iter().map(|s| s.longest.as_secs_f64() * 1e6).collect();
    rows.push(Row::new(STALLS_50, CLOCK_READER, SIZE, 2, "per s", &rate_50));
    rows.push(Row::new(STALLS, CLOCK_READER, SIZE, 2, "per s", &rate));
    rows.push(Row::new(STALLS_LONGEST, CLOCK_READER, SIZE, 2, "µs", &longest));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_pairs_alternate_which_half_runs_first() {
        let order = std::cell::RefCell::new(String::new());
        let pairs = interleaved_pairs(
            4,
            || {
                order.borrow_mut().push('a');
                1.0
            },
            || {
                order.borrow_mut().push('b');
                2.0
            },
        );
        assert_eq!(order.into_inner(), "abbaabba");
        assert_eq!(pairs, vec![(1.0, 2.0); 4], "each pair's results in (a, b) order whichever ran first");
    }

    #[test]
    fn the_same_node_cpus_are_two_of_one_node_when_a_node_has_two() {
        let (a, b): (&[usize], &[usize]) = (&[0, 2], &[1, 3]);
        assert_eq!(pick_same_node([a, b], vec![0, 1, 2, 3]), vec![0, 2], "interleaved numbering");
        let (a, b): (&[usize], &[usize]) = (&[0, 1], &[2, 3]);
        assert_eq!(pick_same_node([a, b], vec![1, 2, 3]), vec![2, 3], "only one allowed CPU on node 0");
        let (a, b): (&[usize], &[usize]) = (&[0], &[1]);
        assert_eq!(pick_same_node([a, b], vec![0, 1]), vec![0, 1], "one CPU per node: any two");
    }

    /// The same-node rows pin to CPUs of one node: every CPU returned is allowed, and on a host
    /// with a node holding two allowed CPUs they all belong to one node (a check that only bites
    /// on a multi-node host; with one CPU per node the rows fall back to any two CPUs).
    #[test]
    fn same_node_cpus_are_allowed_and_on_one_node() {
        let allowed = numa::sys::linux::affinity_cpus();
        let cpus = same_node_cpus();
        assert!(!cpus.is_empty());
        assert!(cpus.iter().all(|c| allowed.contains(c)), "{cpus:?} not within {allowed:?}");
        let Ok(topology) = numa::Topology::detect() else { return };
        let node_of = |cpu: usize| topology.nodes().iter().position(|n| n.cpus.contains(&cpu));
        let some_node_has_two =
            topology.nodes().iter().any(|n| n.cpus.iter().filter(|c| allowed.contains(c)).count() >= 2);
        if some_node_has_two {
            assert!(cpus.iter().all(|&c| node_of(c) == node_of(cpus[0])), "{cpus:?} span nodes");
        }
    }
}
