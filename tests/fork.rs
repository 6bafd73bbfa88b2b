//! `fork` while other threads are inside numaseg's slow paths (holding its locks). In the child
//! only the forking thread exists: segments it already holds and its cache hits keep working,
//! frees never block, and every slow path returns `AllocError::Forked` instead of waiting on a
//! lock that nobody will ever release. The parent kills a child that does not finish in time,
//! so a deadlock fails the test instead of hanging it.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use numaseg::numa::NodeId;
use numaseg::{AllocError, ArenaManager, Config, Segment};

/// Exit codes the child reports.
const CHILD_OK: i32 = 0;
const CHILD_WRONG: i32 = 3;

/// What the child does; returns its exit code. Uses no locks of its own (no printing).
fn in_child(m: &ArenaManager, held: numaseg::Segment<'_>) -> i32 {
    // The segment allocated before the fork is usable and can be freed (into the cache).
    if held.as_slice()[0] != 0x5A {
        return CHILD_WRONG;
    }
    drop(held);
    // A cache hit: the segment just freed comes back.
    let Ok(hit) = m.allocate(64 << 10) else { return CHILD_WRONG };
    drop(hit);
    // A size this thread never cached: the slow path must refuse, not block.
    match m.allocate(8 << 20) {
        Err(AllocError::Forked { .. }) => {}
        _ => return CHILD_WRONG,
    }
    // Frees of many segments (spills) must not block either.
    let Ok(a) = m.allocate(64 << 10) else { return CHILD_WRONG };
    drop(a);
    // Flushing the cache and purging take the stealer lists' and regions' locks, which the
    // parent's churning thread may have held at the fork: in the child both do nothing.
    m.flush_thread_cache();
    if m.purge() != 0 {
        return CHILD_WRONG;
    }
    if !matches!(m.set_thread_node(NodeId::new(0)), Err(AllocError::Forked { .. })) {
        return CHILD_WRONG;
    }
    CHILD_OK
}

fn wait_with_deadline(pid: libc::pid_t, deadline: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-parameter.
        let rc = unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
        if rc == pid {
            return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        }
        if start.elapsed() > deadline {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // SAFETY: reaping it.
            unsafe { libc::waitpid(pid, &raw mut status, 0) };
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_child_after_fork_never_deadlocks_and_gets_clear_errors() {
    let m = Arc::new(ArenaManager::new(&Config::default()).unwrap());
    // Another thread keeps taking slow paths (registry, region table, stealer lists).
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let v: Vec<_> = (0..64).map(|_| m.allocate(4096 << (i % 6)).unwrap()).collect();
                drop(v);
                m.purge();
                i += 1;
            }
        })
    };
    let forks = 30;
    let mut outcomes = Vec::new();
    for _ in 0..forks {
        let mut held = m.allocate(64 << 10).unwrap();
        held.as_mut_slice()[0] = 0x5A;
        // SAFETY: the child only runs `in_child` (no allocation outside numaseg's cache paths,
        // no locks of its own) and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = in_child(&m, held);
            // SAFETY: leaving the child without running destructors or atexit handlers.
            unsafe { libc::_exit(code) };
        }
        assert!(pid > 0, "fork failed");
        drop(held);
        let outcome = wait_with_deadline(pid, Duration::from_secs(3));
        outcomes.push(outcome);
        if outcome != Some(CHILD_OK) {
            break; // fail fast
        }
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    let deadlocked = outcomes.iter().filter(|o| o.is_none()).count();
    let wrong = outcomes.iter().filter(|o| **o == Some(CHILD_WRONG)).count();
    assert_eq!(deadlocked, 0, "{deadlocked} of {forks} children did not finish");
    assert_eq!(wrong, 0, "{wrong} of {forks} children saw the wrong behaviour: {outcomes:?}");
    assert_eq!(outcomes.len(), forks);
    // The parent is unaffected.
    let after = m.allocate(8 << 20).unwrap();
    drop(after);
}

/// The outbox threshold of `a_fork_child_keeps_its_outbox_to_itself_and_the_parent_conserves`:
/// half the cache capacity of 8 it configures.
const OUTBOX: usize = 4;

/// The 64 KiB class's stats on node 1: (in thread caches — here only outboxes —, pooled).
fn on_node_1(m: &ArenaManager) -> (u64, u64) {
    let st = m.stats();
    let c = st.node(NodeId::new(1)).unwrap().classes.iter().find(|c| c.segment_size == 64 << 10).unwrap().clone();
    (c.cached_segments, c.pooled_segments)
}

/// What the child of the outbox test does (a thread of node 0 whose outbox for node 1 holds
/// the segment at `parked`); returns its exit code, a distinct one per failed check. Its
/// manager has no other thread, so none of its locks can be held at the fork and reading the
/// stats is safe here (glibc's `malloc` is fork-safe).
fn outbox_in_child(m: &ArenaManager, parked: usize, pooled: u64, held: Vec<Segment<'_>>) -> i32 {
    // The child's copy of the outbox still holds the segment, counted as cached on node 1.
    if on_node_1(m) != (1, pooled) {
        return 10;
    }
    // An allocation on node 1 takes it back from the outbox: a private pop, like a cache hit.
    let Ok(again) = m.allocate_on(NodeId::new(1), 64 << 10) else { return 11 };
    if again.as_ptr() as usize != parked || on_node_1(m) != (0, pooled) {
        return 12;
    }
    // Foreign frees below the threshold are private pushes onto the outbox...
    drop(again);
    let mut held = held.into_iter();
    for _ in 0..OUTBOX - 2 {
        drop(held.next());
    }
    if on_node_1(m) != (OUTBOX as u64 - 1, pooled) {
        return 13;
    }
    // ...and the one that would reach it is no flush (a slow path): that segment goes to
    // node 1's pool on its own, the outbox keeps the rest.
    drop(held.next());
    if on_node_1(m) != (OUTBOX as u64 - 1, pooled + 1) {
        return 14;
    }
    if held.next().is_some() {
        return 15;
    }
    CHILD_OK
}

#[test]
fn a_fork_child_keeps_its_outbox_to_itself_and_the_parent_conserves() {
    let config = Config::builder().cache_capacity(2 * OUTBOX).build_from::<_, &str, &str>([]).unwrap();
    let m = ArenaManager::heap_backed(&config, 2).unwrap();
    // Segments of node 1, allocated by a thread of node 1 (whose exit pools what it cached).
    let mut segments: Vec<_> = std::thread::scope(|s| {
        s.spawn(|| {
            m.set_thread_node(NodeId::new(1)).unwrap();
            (0..OUTBOX).map(|_| m.allocate(64 << 10).unwrap()).collect()
        })
        .join()
        .unwrap()
    });
    m.set_thread_node(NodeId::new(0)).unwrap();
    let (_, pooled) = on_node_1(&m);
    // A foreign free: the segment waits in this thread's outbox for node 1.
    let parked = segments.pop().unwrap();
    let parked_at = parked.as_ptr() as usize;
    drop(parked);
    assert_eq!(on_node_1(&m), (1, pooled));
    // SAFETY: the child only runs `outbox_in_child` (numaseg calls and the stats of a manager
    // no other thread uses) and leaves with `exit`, which runs this thread's thread-local
    // destructors — the cache's exit flush, which in a child must leave the copy behind
    // (`CacheSlot::retire`) — but no destructor of the test's frames.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = outbox_in_child(&m, parked_at, pooled, segments);
        // SAFETY: leaving the child; `exit` rather than `_exit` so the thread-locals' exit path
        // runs in the child too (a hang or a panic there fails the test below).
        unsafe { libc::exit(code) };
    }
    assert!(pid > 0, "fork failed");
    let outcome = wait_with_deadline(pid, Duration::from_secs(10));
    assert_eq!(outcome, Some(CHILD_OK), "the child's outbox (exit codes: see `outbox_in_child`)");
    // The parent's outbox is its own: still the parked segment, nothing more in node 1's pool.
    assert_eq!(on_node_1(&m), (1, pooled));
    // Its frees fill the outbox to the threshold, which sends it home as one batch.
    drop(segments);
    assert_eq!(on_node_1(&m), (0, pooled + OUTBOX as u64));
    // Every segment is back exactly once: nothing in use, and after a purge every region whole.
    m.flush_thread_cache();
    assert_eq!(m.stats().used_segments(), 0);
    m.purge();
    for node in &m.stats().nodes {
        assert_eq!(node.committed_bytes, 0, "{node:#?}");
        assert!(node.classes.iter().all(|c| c.regions == 0 && c.pooled_segments == 0), "{node:#?}");
    }
}
