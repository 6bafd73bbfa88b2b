//! The workloads, generic over [`Contender`]: each runs the same code against every pool.
//! Threads start behind one barrier; each returns its own elapsed time, so per-thread costs and
//! the 2-thread/1-thread throughput ratio both come from the same run.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::contenders::{Contender, NetworkBuffers};
use super::timer::{Calibration, ticks};

std::thread_local! {
    static THREAD_INDEX: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The index of the calling benchmark thread (0 for the first, the producer of cross-thread),
/// for contenders that keep per-thread state (an owner, a local pool).
///
/// ```
/// use numaseg::bench::{MutexPool, workloads};
/// // Outside a workload's threads (and on its first thread) the index is 0.
/// assert_eq!(workloads::thread_index(), 0);
/// let pool = MutexPool::new(4096, 4);
/// workloads::hot_pair(&pool, 2, 100);
/// assert_eq!(workloads::thread_index(), 0); // the caller's own index is left alone
/// ```
#[must_use]
pub fn thread_index() -> usize {
    THREAD_INDEX.with(std::cell::Cell::get)
}

fn set_thread_index(t: usize) {
    THREAD_INDEX.with(|c| c.set(t));
}

/// Runs `warm` and then, once every thread is warm, `work` on `threads` threads started
/// together; returns each thread's elapsed time for `work`.
fn on_threads<C: Contender>(
    pool: &C,
    threads: usize,
    warm: impl Fn(&C) + Sync,
    work: impl Fn(&C, usize) + Sync,
) -> Vec<Duration> {
    let start = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (start, work, warm) = (&start, &work, &warm);
                s.spawn(move || {
                    set_thread_index(t);
                    warm(pool);
                    start.wait();
                    let t0 = Instant::now();
                    work(pool, t);
                    t0.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| panic!("a benchmark thread panicked"))).collect()
    })
}

/// Per-thread nanoseconds per operation, averaged over threads, and aggregate operations per
/// second.
///
/// ```
/// use numaseg::bench::{MutexPool, workloads};
/// let pool = MutexPool::new(4096, 4);
/// let t = workloads::hot_pair(&pool, 1, 1000);
/// assert!(t.ns_per_op > 0.0 && t.ops_per_sec > 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Mean over threads of (elapsed / operations of that thread).
    pub ns_per_op: f64,
    /// All threads' operations over the slowest thread's elapsed time.
    pub ops_per_sec: f64,
}

fn timing(elapsed: &[Duration], ops_per_thread: u64) -> Timing {
    let per: Vec<f64> = elapsed.iter().map(|d| d.as_nanos() as f64 / ops_per_thread as f64).collect();
    let slowest = elapsed.iter().max().copied().unwrap_or_default().as_secs_f64();
    Timing {
        ns_per_op: per.iter().sum::<f64>() / per.len() as f64,
        ops_per_sec: (ops_per_thread as f64 * elapsed.len() as f64) / slowest.max(f64::MIN_POSITIVE),
    }
}

/// Allocate one block, write a byte into it, free it; `pairs` times per thread.
///
/// ```
/// use numaseg::bench::{MutexPool, workloads};
/// // One block per thread at a time: two blocks are enough for two threads.
/// let pool = MutexPool::new(4096, 2);
/// let t = workloads::hot_pair(&pool, 2, 1000);
/// assert!(t.ns_per_op > 0.0 && t.ops_per_sec > 0.0);
/// ```
///
/// # Panics
/// If a benchmark thread panics (a pool ran dry or failed).
pub fn hot_pair<C: Contender>(pool: &C, threads: usize, pairs: u64) -> Timing {
    let run = |pool: &C, pairs: u64| {
        for i in 0..pairs {
            // No `black_box`: every touch is a store the optimiser must keep (a volatile write
            // for the raw pools, a write through the handle into memory the pool keeps
            // reachable for the others), so no pair can be elided. Passing the block through
            // `black_box` forced handles wider than a pointer (numaseg's `Segment`, then 24 bytes,
            // 32-byte `MemorySegment`) through the stack, reloaded with wider loads than the
            // stores that wrote them: two failed store-to-load forwards per pair, which cost
            // more than the allocator (11.4 instead of 2.7 ns for the segment pair).
            let mut b = pool.alloc();
            // SAFETY: `b` came from `pool.alloc()`.
            unsafe { pool.touch(&mut b, i as u8) };
            // SAFETY: as above.
            unsafe { pool.free(b) };
        }
    };
    let elapsed = on_threads(pool, threads, |pool| run(pool, 10_000), |pool, _| run(pool, pairs));
    timing(&elapsed, pairs)
}

/// Allocate `n` blocks touching each, then free them all; `rounds` times per thread. Per block.
///
/// ```
/// use numaseg::bench::{MutexPool, workloads};
/// // Each of 2 threads holds 16 blocks at once.
/// let pool = MutexPool::new(4096, 32);
/// let t = workloads::batch(&pool, 2, 16, 10);
/// assert!(t.ns_per_op > 0.0 && t.ops_per_sec > 0.0);
/// ```
///
/// # Panics
/// If a benchmark thread panics (a pool ran dry or failed).
pub fn batch<C: Contender>(pool: &C, threads: usize, n: usize, rounds: u64) -> Timing {
    // Two clock reads per round of `n` blocks: a few hundredths of a nanosecond per block.
    batch_rounds(pool, threads, n, rounds).0
}

/// Blocks the producer of [`cross_thread`] publishes at once.
///
/// ```
/// use numaseg::bench::{MutexPool, workloads};
/// assert_eq!(workloads::CHUNK, 32);
/// // A ring of at least one chunk carries the blocks over, whatever their count.
/// let pool = MutexPool::new(4096, 256);
/// assert!(workloads::cross_thread(&pool, 1000, workloads::CHUNK) > 0.0);
/// ```
pub const CHUNK: usize = 32;

/// Thread A allocates and passes blocks through a bounded SPSC ring to thread B, which touches
/// and frees them, [`CHUNK`] blocks per publication. Millions of blocks per second. This is not
/// how a service moves buffers (one at a time: see [`handoff`]); its row is labelled
/// `cross-thread, chunks of 32`.
///
/// The producer publishes [`CHUNK`] blocks at a time and the consumer takes whatever is ready.
/// Pushed one at a time, the ring had two stable states with a fast producer: full (the
/// consumer streams through a backlog) and nearly empty, where the consumer reads each ring line
/// while the producer is still writing it and the line crosses between the cores for every
/// block — 4.5 against 150 million blocks per second with the same allocator work, chosen at
/// random per run.
///
/// ```
/// use numaseg::bench::{MutexPool, workloads};
/// let pool = MutexPool::new(4096, 256);
/// let mblocks_per_s = workloads::cross_thread(&pool, 1000, 64);
/// assert!(mblocks_per_s > 0.0);
/// ```
///
/// # Panics
/// If a benchmark thread panics (a pool ran dry or failed).
pub fn cross_thread<C: Contender>(pool: &C, blocks: u64, ring: usize) -> f64 {
    let (mut tx, mut rx) = rtrb::RingBuffer::<C::Block<'_>>::new(ring);
    let start = Barrier::new(2);
    let elapsed = std::thread::scope(|s| {
        let start = &start;
        let producer = s.spawn(move || {
            set_thread_index(0);
            start.wait();
            let t0 = Instant::now();
            let mut sent = 0;
            while sent < blocks {
                // Whole chunks, published at once: the consumer never reads a ring line the
                // producer is still writing.
                let n = (blocks - sent).min(CHUNK as u64) as usize;
                match tx.write_chunk_uninit(n) {
                    Ok(chunk) => sent += chunk.fill_from_iter(std::iter::repeat_with(|| pool.alloc())) as u64,
                    Err(_) => std::hint::spin_loop(),
                }
            }
            t0
        });
        let consumer = s.spawn(move || {
            set_thread_index(1);
            start.wait();
            let mut got = 0;
            while got < blocks {
                let ready = rx.slots();
                if ready == 0 {
                    std::hint::spin_loop();
                    continue;
                }
                let Ok(chunk) = rx.read_chunk(ready) else { continue };
                for mut b in chunk {
                    // SAFETY: `b` came from `pool.alloc()`.
                    unsafe { pool.touch(&mut b, got as u8) };
                    // SAFETY: as above.
                    unsafe { pool.free(b) };
                    got += 1;
                }
            }
            Instant::now()
        });
        let t0 = producer.join().unwrap_or_else(|_| panic!("producer panicked"));
        let t1 = consumer.join().unwrap_or_else(|_| panic!("consumer panicked"));
        t1.duration_since(t0)
    });
    blocks as f64 / elapsed.as_secs_f64() / 1e6
}

/// One-at-a-time hand-off, the network pattern as a service runs it: thread A allocates one
/// block and pushes it into a bounded SPSC ring of `ring` slots; thread B pops it, touches it and
/// frees it. Millions of blocks per second, from the producer's start to the consumer's last
/// free.
///
/// `setup(i)` runs on each thread (`0`: producer, `1`: consumer) before the start barrier: where
/// the thread is homed (`ArenaManager::set_thread_node`) or pinned (`set_affinity`).
///
/// ```
/// use numaseg::bench::{TlsCachePool, workloads::handoff};
/// let pool = TlsCachePool::new(4096, 1024);
/// let million_blocks_per_second = handoff(&pool, 10_000, 64, &|_| {});
/// assert!(million_blocks_per_second > 0.0);
/// ```
///
/// # Panics
/// If a benchmark thread panics (a pool ran dry or failed).
pub fn handoff<C: Contender>(pool: &C, blocks: u64, ring: usize, setup: &(dyn Fn(usize) + Sync)) -> f64 {
    handoff_with(
        blocks,
        ring,
        setup,
        || || pool.alloc(),
        |mut b, byte| {
            // SAFETY: `b` came from `pool.alloc()`.
            unsafe { pool.touch(&mut b, byte) };
            // SAFETY: as above.
            unsafe { pool.free(b) };
        },
    )
}

/// [`handoff`] of network buffers requested through a [`BufferRequester`](crate::buffer_pool::BufferRequester),
/// as a service's receiving thread would: the producer takes the requester of its local pool
/// ([`NetworkBuffers::requester`]) before the start and requests each buffer from it
/// (`request_buffer`, never blocking); the consumer touches each buffer and drops it, which
/// recycles it into the pool's recycler lane. The same ring, threads and timing as [`handoff`]
/// of the [`NetworkBuffers`] contender (`request_buffer` on the pool), so the two compare.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::bench::{NetworkBuffers, workloads::handoff_requested};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let buffers = NetworkBuffers::new(manager, 4096, 256, 2);
/// let million_blocks_per_second = handoff_requested(&buffers, 10_000, 64, &|_| {});
/// assert!(million_blocks_per_second > 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Panics
/// If a benchmark thread panics (the pool ran dry or failed).
pub fn handoff_requested(buffers: &NetworkBuffers, blocks: u64, ring: usize, setup: &(dyn Fn(usize) + Sync)) -> f64 {
    handoff_with(
        blocks,
        ring,
        setup,
        || {
            let mut requester = buffers.requester();
            move || NetworkBuffers::request(&mut requester)
        },
        |mut b, byte| {
            // SAFETY: `b` came from a requester of `buffers`' pool.
            unsafe { buffers.touch(&mut b, byte) };
            // SAFETY: as above.
            unsafe { buffers.free(b) };
        },
    )
}

/// The loop of [`handoff`] and [`handoff_requested`]: `producer()` runs on the producer thread
/// after its `setup` and before the start, and returns what it calls for each block;
/// `consume(block, byte)` touches and frees a block on the consumer thread.
#[inline(always)]
fn handoff_with<B: Send, P: FnMut() -> B>(
    blocks: u64,
    ring: usize,
    setup: &(dyn Fn(usize) + Sync),
    producer: impl FnOnce() -> P + Send,
    mut consume: impl FnMut(B, u8) + Send,
) -> f64 {
    let (mut tx, mut rx) = rtrb::RingBuffer::<B>::new(ring);
    let start = Barrier::new(2);
    let elapsed = std::thread::scope(|s| {
        let start = &start;
        let producer = s.spawn(move || {
            set_thread_index(0);
            setup(0);
            let mut alloc = producer();
            start.wait();
            let t0 = Instant::now();
            for _ in 0..blocks {
                let mut b = alloc();
                let mut spins = 0u32;
                while let Err(rtrb::PushError::Full(back)) = tx.push(b) {
                    b = back;
                    spins = wait(spins);
                }
            }
            t0
        });
        let consumer = s.spawn(move || {
            set_thread_index(1);
            setup(1);
            start.wait();
            let (mut got, mut spins) = (0, 0u32);
            while got < blocks {
                if let Ok(b) = rx.pop() {
                    consume(b, got as u8);
                    got += 1;
                    spins = 0;
                } else {
                    spins = wait(spins);
                }
            }
            Instant::now()
        });
        let t0 = producer.join().unwrap_or_else(|_| panic!("producer panicked"));
        let t1 = consumer.join().unwrap_or_else(|_| panic!("consumer panicked"));
        t1.duration_since(t0)
    });
    blocks as f64 / elapsed.as_secs_f64() / 1e6
}

/// One wait of a hand-off thread on its ring: a spin, and after many a yield, so that on an
/// oversubscribed machine a thread spinning on an empty or full ring lets its peer run instead
/// of burning the time slice (which turned 30 M/s into 0.1 M/s with other builds running).
/// Returns the next spin count (0 after a yield).
///
/// ```
/// use numaseg::bench::workloads::wait;
/// assert_eq!(wait(0), 1);
/// assert_eq!(wait(4096), 0); // yielded
/// ```
#[inline]
pub fn wait(spins: u32) -> u32 {
    if spins < 4096 {
        std::hint::spin_loop();
        spins + 1
    } else {
        std::thread::yield_now();
        0
    }
}

/// [`batch`] that also reports the longest round (allocate `n` touching each, free them all)
/// any thread took: the stall a service's batch sees, which a per-block mean hides.
///
/// ```
/// use numaseg::bench::{TlsCachePool, workloads::batch_rounds};
/// let pool = TlsCachePool::new(4096, 1024);
/// let (timing, longest) = batch_rounds(&pool, 2, 64, 10);
/// assert!(timing.ns_per_op > 0.0 && longest > std::time::Duration::ZERO);
/// ```
///
/// # Panics
/// If a benchmark thread panics (a pool ran dry or failed).
pub fn batch_rounds<C: Contender>(pool: &C, threads: usize, n: usize, rounds: u64) -> (Timing, Duration) {
    let longest = std::sync::Mutex::new(Duration::ZERO);
    let run = |pool: &C, rounds: u64| -> Duration {
        let mut held = Vec::with_capacity(n);
        let mut worst = Duration::ZERO;
        for _ in 0..rounds {
            let t0 = Instant::now();
            one_round(pool, n, &mut held);
            worst = worst.max(t0.elapsed());
        }
        worst
    };
    let elapsed = on_threads(
        pool,
        threads,
        |pool| {
            run(pool, 8);
        },
        |pool, _| {
            let worst = run(pool, rounds);
            let mut l = longest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *l = (*l).max(worst);
        },
    );
    let longest = longest.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    (timing(&elapsed, rounds * n as u64), longest)
}

/// One round of the batch workloads: allocate `n` blocks touching each, then free them all.
#[inline(always)]
fn one_round<'a, C: Contender>(pool: &'a C, n: usize, held: &mut Vec<C::Block<'a>>) {
    for i in 0..n {
        let mut b = pool.alloc();
        // SAFETY: `b` came from `pool.alloc()`.
        unsafe { pool.touch(&mut b, i as u8) };
        held.push(b);
    }
    for b in held.drain(..) {
        // SAFETY: `b` came from `pool.alloc()`.
        unsafe { pool.free(b) };
    }
}

/// What [`stall_probe`] saw: how often a thread that does nothing but read the clock lost its
/// CPU for long without an involuntary context switch of its own: the hypervisor stopping the
/// vCPU, or an interrupt's handler (the guest cannot tell which). Such a stall lands in whatever
/// code runs, so any round of any workload can take that much longer: a floor under a longest
/// round, not the whole of it (the probe touches no memory).
///
/// ```
/// use numaseg::bench::workloads::Stalls;
/// let s = Stalls { seconds: 2.0, over_50us: 30, over_100us: 10, longest: std::time::Duration::from_micros(180), switched: 4 };
/// assert_eq!((s.over_50us_per_second(), s.over_100us_per_second()), (15.0, 5.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stalls {
    /// Seconds the threads ran, summed over them: wall time less the gaps with a context
    /// switch in them.
    pub seconds: f64,
    /// Gaps between two clock reads longer than 50 µs with no involuntary context switch of
    /// the thread in them.
    pub over_50us: u64,
    /// The same, longer than 100 µs.
    pub over_100us: u64,
    /// The longest such gap.
    pub longest: Duration,
    /// Gaps longer than 20 µs with an involuntary context switch in them (the scheduler's; not
    /// counted above).
    pub switched: u64,
}

impl Stalls {
    /// Stalls above 50 µs per second of a thread's running time.
    ///
    /// ```
    /// use numaseg::bench::workloads::Stalls;
    /// let s = Stalls { seconds: 4.0, over_50us: 8, over_100us: 2, longest: std::time::Duration::from_micros(150), switched: 0 };
    /// assert_eq!(s.over_50us_per_second(), 2.0);
    /// ```
    #[must_use]
    pub fn over_50us_per_second(&self) -> f64 {
        self.over_50us as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// Stalls above 100 µs per second of a thread's running time.
    ///
    /// ```
    /// use numaseg::bench::workloads::Stalls;
    /// let s = Stalls { seconds: 4.0, over_50us: 8, over_100us: 2, longest: std::time::Duration::from_micros(150), switched: 0 };
    /// assert_eq!(s.over_100us_per_second(), 0.5);
    /// assert!(s.over_100us_per_second() <= s.over_50us_per_second());
    /// ```
    #[must_use]
    pub fn over_100us_per_second(&self) -> f64 {
        self.over_100us as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// Spins `threads` threads (each first calls `setup` with its index, e.g. to pin itself) for
/// `each` of wall time, reading the clock in a loop, and counts the gaps between two reads that
/// no involuntary context switch of the thread explains ([`Stalls`]). The thread's switch
/// counter is read at each gap above 20 µs: a switch in a shorter gap is filed with the next
/// long one. Where the kernel cannot count a thread's switches, every gap counts as a stall.
///
/// ```
/// use numaseg::bench::workloads::stall_probe;
/// let s = stall_probe(1, std::time::Duration::from_millis(20), &|_| {});
/// assert!(s.seconds > 0.0 && s.over_100us <= s.over_50us);
/// ```
///
/// # Panics
/// If a probe thread panics.
pub fn stall_probe(threads: usize, each: Duration, setup: &(dyn Fn(usize) + Sync)) -> Stalls {
    let none = Stalls { seconds: 0.0, over_50us: 0, over_100us: 0, longest: Duration::ZERO, switched: 0 };
    let per_thread: Vec<Stalls> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    setup(t);
                    let mut st = none;
                    let mut switched_time = Duration::ZERO;
                    let mut switches = involuntary_switches();
                    let start = Instant::now();
                    let mut prev = start;
                    while prev - start < each {
                        let now = Instant::now();
                        let gap = now - prev;
                        prev = now;
                        if gap <= Duration::from_micros(20) {
                            continue;
                        }
                        let after = involuntary_switches();
                        if after.is_some() && after != switches {
                            st.switched += 1;
                            switched_time += gap;
                            switches = after;
                        } else {
                            st.over_50us += u64::from(gap > Duration::from_micros(50));
                            st.over_100us += u64::from(gap > Duration::from_micros(100));
                            st.longest = st.longest.max(gap);
                        }
                        prev = Instant::now(); // the read of the counter is not a gap
                    }
                    st.seconds = (prev - start).saturating_sub(switched_time).as_secs_f64();
                    st
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| panic!("a probe thread panicked"))).collect()
    });
    per_thread.iter().fold(none, |a, b| Stalls {
        seconds: a.seconds + b.seconds,
        over_50us: a.over_50us + b.over_50us,
        over_100us: a.over_100us + b.over_100us,
        longest: a.longest.max(b.longest),
        switched: a.switched + b.switched,
    })
}

/// What [`batch_rounds_watched`] measured.
///
/// ```
/// use numaseg::bench::{MutexPool, workloads::batch_rounds_watched};
/// let pool = MutexPool::new(4096, 16);
/// let w = batch_rounds_watched(&pool, 1, 16, 5);
/// assert_eq!(w.rounds, 5);
/// assert!(w.longest >= w.longest_unpreempted);
/// assert!(w.unpreempted_ns_per_block.is_none_or(|ns| ns > 0.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchedRounds {
    /// Per block, from the sum of the rounds' own durations (the watch's system calls between
    /// rounds are not counted).
    pub timing: Timing,
    /// The longest round of any thread.
    pub longest: Duration,
    /// The longest round of any thread that the scheduler did not interrupt (no involuntary
    /// context switch of the thread during the round; zero if every round was interrupted).
    pub longest_unpreempted: Duration,
    /// Per block, mean over the rounds that the scheduler did not interrupt (`None` if it
    /// interrupted every round): the pool's own cost on a machine shared with other work.
    pub unpreempted_ns_per_block: Option<f64>,
    /// Rounds, over all threads, that the scheduler interrupted.
    pub preempted: u64,
    /// Rounds, over all threads, that the scheduler did not interrupt and that took longer than
    /// the target's bound ([`BATCH2_LONGEST_ROUND_US`](super::targets::BATCH2_LONGEST_ROUND_US)).
    pub slow_unpreempted: u64,
    /// Rounds over all threads.
    pub rounds: u64,
}

/// The calling thread's involuntary context switches so far (`getrusage(RUSAGE_THREAD)`), or
/// `None` where the kernel cannot tell.
fn involuntary_switches() -> Option<i64> {
    // SAFETY: an all-zero `rusage` is a valid value for the kernel to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_THREAD reads the calling thread's.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &raw mut usage) };
    (rc == 0).then_some(usage.ru_nivcsw)
}

/// [`batch_rounds`] that also tells the scheduler's stalls from the allocator's: before and
/// after each round it reads the thread's involuntary context switches, and reports the
/// longest round without one next to the longest of all. On a shared machine the longest
/// round is a time slice of another process (milliseconds); the longest unpreempted round is
/// what the pool itself made the batch wait (a lock, a system call, a page fault). The per-block
/// figure sums the rounds' own durations, so the two system calls per round are not in it.
///
/// ```
/// use numaseg::bench::{TlsCachePool, workloads::batch_rounds_watched};
/// let pool = TlsCachePool::new(4096, 1024);
/// let w = batch_rounds_watched(&pool, 2, 64, 10);
/// assert_eq!(w.rounds, 20);
/// assert!(w.timing.ns_per_op > 0.0 && w.longest >= w.longest_unpreempted);
/// ```
///
/// # Panics
/// If a benchmark thread panics (a pool ran dry or failed).
pub fn batch_rounds_watched<C: Contender>(pool: &C, threads: usize, n: usize, rounds: u64) -> WatchedRounds {
    let slow = Duration::from_secs_f64(super::targets::BATCH2_LONGEST_ROUND_US / 1e6);
    // Per thread: (time in rounds, longest, longest unpreempted, rounds preempted, time in
    // unpreempted rounds, unpreempted rounds above `slow`).
    let run = |pool: &C, rounds: u64| -> (Duration, Duration, Duration, u64, Duration, u64) {
        let mut held = Vec::with_capacity(n);
        let (mut total, mut worst, mut worst_clean, mut preempted, mut slow_clean) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO, 0, 0);
        let mut clean_total = Duration::ZERO;
        for _ in 0..rounds {
            let before = involuntary_switches();
            let t0 = Instant::now();
            one_round(pool, n, &mut held);
            let took = t0.elapsed();
            let after = involuntary_switches();
            total += took;
            worst = worst.max(took);
            if before.is_some() && before == after {
                worst_clean = worst_clean.max(took);
                clean_total += took;
                slow_clean += u64::from(took > slow);
            } else {
                preempted += 1;
            }
        }
        (total, worst, worst_clean, preempted, clean_total, slow_clean)
    };
    let per_thread = std::sync::Mutex::new(Vec::with_capacity(threads));
    on_threads(
        pool,
        threads,
        |pool| {
            run(pool, 8);
        },
        |pool, _| {
            let r = run(pool, rounds);
            per_thread.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(r);
        },
    );
    let per_thread = per_thread.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let in_rounds: Vec<Duration> = per_thread.iter().map(|r| r.0).collect();
    let all_rounds = rounds * per_thread.len() as u64;
    let preempted: u64 = per_thread.iter().map(|r| r.3).sum();
    let clean_blocks = (all_rounds - preempted) * n as u64;
    let clean_ns = per_thread.iter().map(|r| r.4.as_nanos()).sum::<u128>() as f64;
    WatchedRounds {
        unpreempted_ns_per_block: (clean_blocks > 0).then(|| clean_ns / clean_blocks as f64),
        timing: timing(&in_rounds, rounds * n as u64),
        longest: per_thread.iter().map(|r| r.1).max().unwrap_or_default(),
        longest_unpreempted: per_thread.iter().map(|r| r.2).max().unwrap_or_default(),
        preempted,
        slow_unpreempted: per_thread.iter().map(|r| r.5).sum(),
        rounds: all_rounds,
    }
}

/// Per-allocation latency percentiles, in nanoseconds, timer cost subtracted.
///
/// ```
/// use numaseg::bench::workloads::Latency;
/// let l = Latency { p50: 10.0, p99: 40.0, p999: 90.0, max: 300.0 };
/// let copy = l;
/// assert_eq!(copy, l);
/// assert_ne!(Latency { max: 301.0, ..l }, l);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

fn percentiles(h: &Histogram<u64>, cal: &Calibration) -> Latency {
    Latency {
        p50: cal.ns(h.value_at_quantile(0.5)),
        p99: cal.ns(h.value_at_quantile(0.99)),
        p999: cal.ns(h.value_at_quantile(0.999)),
        max: cal.ns(h.max()),
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1 << 40, 3).unwrap_or_else(|e| panic!("histogram bounds: {e}"))
}

/// Latency of each allocation in the hot-pair and batch patterns, on `threads` threads (samples
/// of all threads merged).
///
/// ```
/// use numaseg::bench::{Calibration, MutexPool, workloads};
/// let pool = MutexPool::new(4096, 16);
/// let cal = Calibration { ticks_per_ns: 1.0, overhead_ticks: 0 };
/// let (hot, batch) = workloads::latency(&pool, 1, 1000, 16, &cal);
/// for l in [hot, batch] {
///     assert!(l.p50 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
/// }
/// ```
///
/// # Panics
/// If a benchmark thread panics (a pool ran dry or failed).
pub fn latency<C: Contender>(
    pool: &C,
    threads: usize,
    samples: u64,
    n: usize,
    cal: &Calibration,
) -> (Latency, Latency) {
    let merged = std::sync::Mutex::new((histogram(), histogram()));
    let warm = |pool: &C| {
        let held: Vec<_> = (0..n).map(|_| pool.alloc()).collect();
        for b in held {
            // SAFETY: `b` came from `pool.alloc()`.
            unsafe { pool.free(b) };
        }
    };
    on_threads(pool, threads, warm, |pool, _| {
        let (mut hot, mut bat) = (histogram(), histogram());
        for i in 0..samples {
            let t0 = ticks();
            let mut b = pool.alloc();
            let t1 = ticks();
            // SAFETY: `b` came from `pool.alloc()`.
            unsafe { pool.touch(&mut b, i as u8) };
            // SAFETY: as above.
            unsafe { pool.free(b) };
            let _ = hot.record(t1 - t0);
        }
        let mut held = Vec::with_capacity(n);
        for _ in 0..(samples / n as u64).max(1) {
            for i in 0..n {
                let t0 = ticks();
                let mut b = pool.alloc();
                let t1 = ticks();
                // SAFETY: `b` came from `pool.alloc()`.
                unsafe { pool.touch(&mut b, i as u8) };
                held.push(b);
                let _ = bat.record(t1 - t0);
            }
            for b in held.drain(..) {
                // SAFETY: `b` came from `pool.alloc()`.
                unsafe { pool.free(b) };
            }
        }
        let mut m = merged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = m.0.add(&hot);
        let _ = m.1.add(&bat);
    });
    let (hot, bat) = merged.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    (percentiles(&hot, cal), percentiles(&bat, cal))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two threads spinning on one CPU for longer than a time slice are each interrupted by
    /// the scheduler, and the counter the batch rows watch sees it.
    #[test]
    fn involuntary_switches_count_a_thread_the_scheduler_interrupts() {
        let Some(&cpu) = numa::sys::linux::affinity_cpus().first() else { return };
        let switched: Vec<Option<i64>> = std::thread::scope(|s| {
            let spinners: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(move || {
                        numa::sys::linux::set_affinity(&[cpu]).ok()?;
                        let before = involuntary_switches()?;
                        let t0 = Instant::now();
                        while t0.elapsed() < Duration::from_millis(200) {
                            std::hint::spin_loop();
                        }
                        Some(involuntary_switches()? - before)
                    })
                })
                .collect();
            spinners.into_iter().map(|h| h.join().unwrap_or(None)).collect()
        });
        if switched.iter().any(Option::is_none) {
            return; // no affinity or no per-thread usage here: nothing to check
        }
        assert!(
            switched.iter().flatten().any(|&n| n > 0),
            "two spinners on one CPU, yet no involuntary switch: {switched:?}"
        );
    }

    /// Two probe threads on one CPU take turns by time slices: each turn is a gap of
    /// milliseconds with a context switch in it, which the probe files as the scheduler's, not
    /// as a stall, and leaves out of the running time. Without the switch check, every turn
    /// would count as a stall and the running time would be the wall time: each thread runs
    /// only about half of its 200 ms.
    #[test]
    fn a_stall_probe_does_not_count_the_schedulers_switches() {
        let Some(&cpu) = numa::sys::linux::affinity_cpus().first() else { return };
        if involuntary_switches().is_none() {
            return; // no per-thread usage here: nothing to check
        }
        let pinned = std::sync::atomic::AtomicBool::new(true);
        let s = stall_probe(2, Duration::from_millis(200), &|_| {
            if numa::sys::linux::set_affinity(&[cpu]).is_err() {
                pinned.store(false, std::sync::atomic::Ordering::Relaxed);
            }
        });
        if !pinned.into_inner() {
            return; // no affinity here: the two threads need not share a CPU
        }
        assert!(s.switched > 0, "two spinners on one CPU, yet no switch seen: {s:?}");
        assert!(s.over_100us < s.switched, "the scheduler's turns counted as stalls: {s:?}");
        assert!(s.seconds < 0.3, "two threads sharing one CPU for 200 ms each ran {} s: {s:?}", s.seconds);
    }

    #[test]
    fn watched_rounds_account_for_every_round() {
        let pool = super::super::TlsCachePool::new(4096, 512);
        let w = batch_rounds_watched(&pool, 2, 32, 50);
        assert_eq!(w.rounds, 100);
        assert!(w.preempted <= w.rounds);
        assert!(w.longest >= w.longest_unpreempted);
        assert!(w.timing.ns_per_op > 0.0);
        assert!(w.slow_unpreempted <= w.rounds - w.preempted);
        let bound = Duration::from_secs_f64(super::super::targets::BATCH2_LONGEST_ROUND_US / 1e6);
        assert_eq!(w.slow_unpreempted == 0, w.longest_unpreempted <= bound, "{w:?}");
    }
}
