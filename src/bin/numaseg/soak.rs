//! `numaseg soak`: a bounded soak of random allocation and release, stealing, foreign frees,
//! bulk calls, network-buffer churn and thread churn across every node, checking conservation
//! continuously and RSS once warm.
//!
//! The run is a sequence of rounds. During a round, worker threads (homed on the nodes in turn)
//! allocate segments of random sizes, write a unique tag into each and check it when they free
//! it (a segment handed out twice, or written by someone else, fails the tag check), pass some to
//! other workers to free (cross-thread and cross-node frees, stealing), use the bulk API, create
//! and destroy local buffer pools and request, write and recycle buffers, and spawn short-lived
//! threads that allocate and exit. At the end of a round every worker releases what it holds and
//! waits; the coordinator then checks that no segment and no buffer is in use and that the live
//! set of tags is empty, and samples the resident set size. After the warm-up rounds, RSS must
//! stay within a bound of its warm level, the highest sample over the second half of the
//! warm-up (idle memory is decommitted as configured).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use numaseg::buffer_pool::NetworkBufferPool;
use numaseg::bytes::BufMut;
use numaseg::{ArenaManager, Segment};

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Total duration.
    pub duration: Duration,
    /// Worker threads.
    pub workers: usize,
    /// Length of one round.
    pub round: Duration,
    /// Rounds before RSS is taken as warm.
    pub warm_rounds: usize,
}

/// What a round saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundReport {
    /// Operations (allocations, frees, buffer requests) done in the round.
    pub ops: u64,
    /// Resident set size at the end of the round, bytes.
    pub rss: u64,
    /// Bytes the allocator held committed at the end of the round.
    pub committed: u64,
}

/// Resident memory: `VmRSS` plus `HugetlbPages` from `/proc/self/status` (hugetlb pages are not
/// counted in the resident set, so regions that got 2 MiB pages would otherwise not show).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (kib("VmRSS:") + kib("HugetlbPages:")) * 1024
}

struct Tagged<'a> {
    segment: Segment<'a>,
    tag: u64,
}

fn tag_into(s: &mut Segment<'_>, tag: u64) {
    let len = s.len();
    let b = s.as_mut_slice();
    b[..8].copy_from_slice(&tag.to_le_bytes());
    b[len - 8..].copy_from_slice(&tag.to_le_bytes());
}

fn check(t: &mut Tagged<'_>, live: &Mutex<HashSet<usize>>) -> Result<(), String> {
    let len = t.segment.len();
    let b = t.segment.as_mut_slice();
    let (head, tail) = (
        u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
        u64::from_le_bytes(b[len - 8..].try_into().unwrap_or_default()),
    );
    if head != t.tag || tail != t.tag {
        return Err(format!("segment {:p}: tag {:#x} became {head:#x}/{tail:#x}", b.as_ptr(), t.tag));
    }
    b[..8].fill(0);
    if !live.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&(b.as_ptr() as usize)) {
        return Err(format!("segment {:p} freed but not live", b.as_ptr()));
    }
    Ok(())
}

struct Shared<'a> {
    manager: &'a ArenaManager,
    network: &'a NetworkBufferPool,
    live: Mutex<HashSet<usize>>,
    failure: Mutex<Option<String>>,
    ops: AtomicU64,
    stop: AtomicBool,
    end_of_round: Barrier,
    checked: Barrier,
}

impl Shared<'_> {
    fn fail(&self, what: String) {
        let mut f = self.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f.get_or_insert(what);
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[expect(clippy::too_many_lines, reason = "one worker's loop reads best in one place")]
fn worker<'a>(sh: &Shared<'a>, me: usize, inbox: &Receiver<Tagged<'a>>, peers: &[Sender<Tagged<'a>>], round: Duration) {
    let nodes = sh.manager.nodes();
    let mut rng = fastrand::Rng::with_seed(0x5EED ^ me as u64);
    let mut next_tag = (me as u64 + 1) << 48;
    let mut held: Vec<Tagged<'a>> = Vec::new();
    let mut batch = sh.manager.new_batch();
    let mut handles = Vec::with_capacity(16);
    loop {
        if let Err(e) = sh.manager.set_thread_node(nodes[rng.usize(0..nodes.len())]) {
            sh.fail(format!("set_thread_node: {e}"));
        }
        let pool = match sh.network.create_buffer_pool(1, 8) {
            Ok(p) => Some(p),
            Err(e) => {
                sh.fail(format!("create_buffer_pool: {e}"));
                None
            }
        };
        let deadline = Instant::now() + round;
        let mut ops = 0u64;
        while Instant::now() < deadline && !sh.stop.load(Ordering::Relaxed) {
            while let Ok(mut t) = inbox.try_recv() {
                if let Err(e) = check(&mut t, &sh.live) {
                    sh.fail(e);
                }
            }
            match rng.u32(0..100) {
                // A quarter of them on a node picked at random (`allocate_on`: a foreign one's
                // frees go through outboxes, and its own node's through the cache).
                0..40 if held.len() < 256 => match if rng.u32(0..4) == 0 {
                    sh.manager.allocate_on(nodes[rng.usize(0..nodes.len())], 4096 << rng.usize(0..8))
                } else {
                    sh.manager.allocate(4096 << rng.usize(0..8))
                } {
                    Ok(mut s) => {
                        next_tag += 1;
                        if !sh
                            .live
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(s.as_ptr() as usize)
                        {
                            sh.fail(format!("segment {:p} handed out twice", s.as_ptr()));
                        }
                        tag_into(&mut s, next_tag);
                        held.push(Tagged { segment: s, tag: next_tag });
                    }
                    Err(e) => sh.fail(format!("allocate: {e}")),
                },
                40..70 if !held.is_empty() => {
                    let mut t = held.swap_remove(rng.usize(0..held.len()));
                    if let Err(e) = check(&mut t, &sh.live) {
                        sh.fail(e);
                    }
                }
                70..78 if !held.is_empty() => {
                    let t = held.swap_remove(rng.usize(0..held.len()));
                    let _ = peers[rng.usize(0..peers.len())].send(t); // a worker's inbox lives all run
                }
                78..80 => {
                    if let Err(e) = sh.manager.allocate_bulk(4096 << rng.usize(0..3), 16, &mut batch) {
                        sh.fail(format!("allocate_bulk: {e}"));
                    }
                    for block in batch.iter_mut() {
                        block[0] = 1;
                    }
                    batch.release();
                }
                80..82 => {
                    // Bulk through handles: into a `Vec<Segment>`, back with `release_all`.
                    if let Err(e) = sh.manager.allocate_bulk_into(4096 << rng.usize(0..3), 16, &mut handles) {
                        sh.fail(format!("allocate_bulk_into: {e}"));
                    }
                    for s in &mut handles {
                        s.as_mut_slice()[0] = 1;
                    }
                    sh.manager.release_all(&mut handles);
                }
                82..95 => {
                    if let Some(pool) = &pool {
                        match pool.request_buffer() {
                            Ok(Some(mut b)) => b.put_slice(&next_tag.to_le_bytes()),
                            Ok(None) => {}
                            Err(e) => sh.fail(format!("request_buffer: {e}")),
                        }
                    }
                }
                95..97 => {
                    // Thread churn: a short-lived thread allocates and exits with a cached
                    // segment; its exit hands the cache back.
                    let m = sh.manager;
                    let node = nodes[rng.usize(0..nodes.len())];
                    let other = nodes[rng.usize(0..nodes.len())];
                    let r = std::thread::scope(|s| {
                        s.spawn(move || -> Result<(), String> {
                            m.set_thread_node(node).map_err(|e| e.to_string())?;
                            let a = m.allocate(8192).map_err(|e| e.to_string())?;
                            drop(a);
                            // A segment of another node freed here waits in this thread's
                            // outbox: the exit sends it home.
                            let b = m.allocate_on(other, 8192).map_err(|e| e.to_string())?;
                            drop(b);
                            Ok(())
                        })
                        .join()
                        .unwrap_or_else(|_| Err("churn thread panicked".into()))
                    });
                    if let Err(e) = r {
                        sh.fail(e);
                    }
                }
                _ => {}
            }
            ops += 1;
        }
        for mut t in held.drain(..) {
            if let Err(e) = check(&mut t, &sh.live) {
                sh.fail(e);
            }
        }
        drop(pool);
        sh.ops.fetch_add(ops, Ordering::Relaxed);
        sh.end_of_round.wait(); // nobody sends any more
        while let Ok(mut t) = inbox.try_recv() {
            if let Err(e) = check(&mut t, &sh.live) {
                sh.fail(e);
            }
        }
        sh.manager.flush_thread_cache();
        sh.checked.wait(); // the coordinator checked; it decides whether to go on
        sh.checked.wait();
        if sh.stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// Runs the soak; returns the rounds, or the first failure.
///
/// # Errors
/// The first conservation, integrity or RSS failure, described.
pub fn run(
    manager: &ArenaManager,
    network: &NetworkBufferPool,
    opts: &SoakOptions,
) -> Result<Vec<RoundReport>, String> {
    let sh = Shared {
        manager,
        network,
        live: Mutex::new(HashSet::new()),
        failure: Mutex::new(None),
        ops: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        end_of_round: Barrier::new(opts.workers),
        checked: Barrier::new(opts.workers + 1),
    };
    let started = Instant::now();
    let (senders, receivers): (Vec<Sender<Tagged<'_>>>, Vec<Receiver<Tagged<'_>>>) =
        (0..opts.workers).map(|_| channel()).unzip();
    let mut rounds = Vec::new();
    std::thread::scope(|s| {
        for (me, inbox) in receivers.into_iter().enumerate() {
            let (sh, peers) = (&sh, senders.clone());
            s.spawn(move || worker(sh, me, &inbox, &peers, opts.round));
        }
        loop {
            sh.checked.wait(); // every worker released everything and flushed its cache
            let stats = manager.stats();
            let net = network.stats();
            let ops = sh.ops.swap(0, Ordering::Relaxed);
            let report = RoundReport { ops, rss: rss_bytes(), committed: stats.total_committed_bytes };
            // The network pool holds its buffers' segments for as long as it lives.
            let expected = net.total as u64;
            if stats.used_segments() != expected {
                sh.fail(format!(
                    "round {}: {} segments in use with every thread idle, expected the network pool's {expected}",
                    rounds.len(),
                    stats.used_segments()
                ));
            }
            if net.in_use != 0 {
                sh.fail(format!(
                    "round {}: {} network buffers in use with every thread idle",
                    rounds.len(),
                    net.in_use
                ));
            }
            if !sh.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_empty() {
                sh.fail(format!("round {}: live tags left", rounds.len()));
            }
            eprintln!(
                "soak round {:>3}: {:>9} ops, RSS {:>5} MiB, committed {:>5} MiB",
                rounds.len(),
                report.ops,
                report.rss >> 20,
                report.committed >> 20
            );
            rounds.push(report);
            if started.elapsed() >= opts.duration {
                sh.stop.store(true, Ordering::Relaxed);
            }
            sh.checked.wait(); // go on (or stop)
            if sh.stop.load(Ordering::Relaxed) {
                break;
            }
        }
    });
    if let Some(f) = sh.failure.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        return Err(f);
    }
    // RSS flat once warm: no round after warm-up more than 25% + 64 MiB above the warm level.
    if rounds.len() > opts.warm_rounds {
        let warm = warm_level(&rounds, opts.warm_rounds);
        let bound = warm + warm / 4 + (64 << 20);
        if let Some((i, r)) = rounds.iter().enumerate().skip(opts.warm_rounds).find(|(_, r)| r.rss > bound) {
            return Err(format!(
                "RSS grew after warm-up: round {i} at {} MiB, warm level {} MiB",
                r.rss >> 20,
                warm >> 20
            ));
        }
    }
    Ok(rounds)
}

/// The warm level: the highest resident memory over the second half of the warm-up (up to and
/// including round `warm_rounds`). One sample would make the bound depend on where a random
/// workload happened to be in that round (±15% in the 4-node guest).
#[must_use]
pub fn warm_level(rounds: &[RoundReport], warm_rounds: usize) -> u64 {
    rounds.iter().take(warm_rounds + 1).skip(warm_rounds / 2).map(|r| r.rss).max().unwrap_or(0)
}
