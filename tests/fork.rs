//! `fork` while other threads are inside numaseg's slow paths (holding its locks). In the child
//! only the forking thread exists: segments it already holds and its cache hits keep working,
//! frees never block, and every slow path returns `AllocError::Forked` instead of waiting on a
//! lock that nobody will ever release. The parent kills a child that does not finish in time,
//! so a deadlock fails the test instead of hanging it.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use numaseg::{AllocError, ArenaManager, Config};

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
