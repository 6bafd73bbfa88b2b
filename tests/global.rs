//! `numaseg::global()`: the process-wide manager built from the environment. A binary of its
//! own, because the global is built once per process: the cases that need a particular
//! environment run in a child process (this binary, re-executed with `GLOBAL_TEST_ROLE` set and
//! the variables under test), so no test mutates the environment of a running test process.
//! Covered: built once, `Segment<'static>` across threads, thread exit and purge, fork, and the
//! errors of a malformed or an unrelated variable.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::process::Command;

use numaseg::config::Config;
use numaseg::{BuildError, Segment};

/// The role of a child process, in a variable of its own (not `NUMASEG_*`: that would be ours).
const ROLE: &str = "GLOBAL_TEST_ROLE";

/// Runs the test `child_entry` of this binary in a child with exactly `vars` as its `NUMASEG_*`
/// variables and `role`; returns (success, stdout, stderr).
fn child(role: &str, vars: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NUMASEG_") {
            cmd.env_remove(name);
        }
    }
    cmd.env(ROLE, role).envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The child side: does what its role says and reports on stdout (panics go to stderr).
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else { return }; // in the parent: nothing to do
    match role.as_str() {
        "try" => match numaseg::try_global() {
            Ok(m) => println!("BUILT nodes={}", m.nodes().len()),
            Err(e) => {
                assert!(matches!(e, BuildError::Config(_)), "{e:?}");
                println!("ERROR {e}");
                // Not remembered: a second call fails the same way and publishes nothing.
                assert_eq!(numaseg::try_global().unwrap_err().to_string(), e.to_string());
                assert!(!numaseg::global_is_built());
            }
        },
        "fork" => {
            // As for any manager: in a forked child the held segment and cache hits work, and a
            // slow path refuses with `Forked` instead of taking a lock.
            let mut held = numaseg::global().allocate(64 << 10).unwrap();
            held.as_mut_slice()[0] = 0x5a;
            drop(numaseg::global().allocate(64 << 10).unwrap()); // one in this thread's cache
            // SAFETY: the child runs only `forked_child` (no locks of its own, no printing) and
            // leaves with `_exit`; the parent waits for it.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let code = forked_child(held);
                // SAFETY: ends the forked child without running the parent's atexit handlers.
                unsafe { libc::_exit(code) };
            }
            let mut status = 0;
            // SAFETY: `pid` is our child; `status` is a valid out-parameter.
            assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
            assert!(libc::WIFEXITED(status), "the forked child did not exit");
            println!("FORKED CHILD {}", libc::WEXITSTATUS(status));
        }
        "panic" => {
            let _ = numaseg::global();
            println!("BUILT");
        }
        other => panic!("unknown role {other}"),
    }
}

/// In the forked child: what must hold, as an exit code (0: all of it).
fn forked_child(held: Segment<'static>) -> i32 {
    if held.as_slice()[0] != 0x5a {
        return 3;
    }
    drop(held);
    let Ok(hit) = numaseg::global().allocate(64 << 10) else { return 4 };
    drop(hit);
    match numaseg::global().allocate(8 << 20) {
        Err(numaseg::AllocError::Forked { .. }) => 0,
        _ => 5,
    }
}

#[test]
fn after_fork_the_global_refuses_slow_paths_as_any_manager() {
    let (ok, out, err) = child("fork", &[]);
    assert!(ok, "{err}");
    assert!(out.contains("FORKED CHILD 0"), "stdout: {out}\nstderr: {err}");
}

#[test]
fn a_malformed_variable_gives_the_text_of_config_from_env() {
    let vars = [("NUMASEG_REGION_SIZE", "48MiB")];
    let expected = Config::builder().build_from(vars).unwrap_err().to_string();
    assert!(expected.starts_with("NUMASEG_REGION_SIZE=\"48MiB\""), "{expected}");
    let (ok, out, err) = child("try", &vars);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("ERROR {expected}\n")), "stdout: {out}\nstderr: {err}");
    let (ok, out, err) = child("panic", &vars);
    assert!(!ok && !out.contains("BUILT"), "{out}");
    assert!(err.contains(&format!("numaseg::global(): {expected}")), "stderr: {err}");
}

#[test]
fn an_unrelated_variable_is_refused_until_allowed() {
    let (ok, out, err) = child("try", &[("NUMASEG_DIR", "/opt/launcher")]);
    assert!(ok, "{err}");
    assert!(out.contains("ERROR unknown variable NUMASEG_DIR"), "{out}");
    assert!(out.contains("allow it with NUMASEG_ALLOW_UNKNOWN=NUMASEG_DIR"), "{out}");
    let (ok, out, err) = child("try", &[("NUMASEG_DIR", "/opt/launcher"), ("NUMASEG_ALLOW_UNKNOWN", "NUMASEG_DIR")]);
    assert!(ok, "{err}");
    assert!(out.contains("BUILT nodes="), "{out}\n{err}");
}

/// Thread exit and purge, as for any manager. One test, so nothing else in this process uses
/// the global's 64 KiB class meanwhile.
#[test]
fn global_segments_are_static_and_go_home_on_thread_exit_and_purge() {
    const SIZE: usize = 64 << 10;
    let m = numaseg::global();
    assert!(std::ptr::eq(m, numaseg::global()), "built once");
    assert!(numaseg::global_is_built());
    let class_of = |st: &numaseg::Stats| {
        st.nodes.iter().flat_map(|n| n.classes.iter()).filter(|c| c.segment_size == SIZE as u64).fold(
            (0, 0, 0),
            |(used, cached, pooled), c| {
                (used + c.used_segments, cached + c.cached_segments, pooled + c.pooled_segments)
            },
        )
    };
    let caches_before = m.stats().live_thread_caches;
    // A thread takes 100 segments, keeps one beyond its own life (a `Segment<'static>` needs no
    // scope), and exits with the rest in its cache.
    let (kept, cached): (Segment<'static>, u64) = std::thread::spawn(move || {
        let mut segs: Vec<Segment<'static>> = (0..100).map(|_| numaseg::global().allocate(SIZE).unwrap()).collect();
        let mut kept = segs.pop().unwrap();
        kept.as_mut_slice()[SIZE - 1] = 0xa5;
        drop(segs);
        (kept, class_of(&numaseg::global().stats()).1)
    })
    .join()
    .unwrap();
    assert!(cached >= 99, "the 99 freed are in the exiting thread's cache: {cached}");
    let st = m.stats();
    assert_eq!(st.live_thread_caches, caches_before, "the exited thread's cache is gone");
    let (used, cached_now, pooled) = class_of(&st);
    assert_eq!((used, cached_now), (1, 0), "only the kept one is out; nothing stayed in a dead cache");
    assert_eq!(pooled, cached, "everything the thread cached went to the node pool");
    assert_eq!(kept.as_slice()[SIZE - 1], 0xa5);
    drop(kept);
    // Purge: the freed segment (in this thread's cache) and the pool go back to their regions,
    // and the free regions go back to the OS.
    let decommitted = m.purge();
    assert!(decommitted >= SIZE * 100, "decommitted {decommitted} bytes");
    let (used, cached_now, pooled) = class_of(&m.stats());
    assert_eq!((used, cached_now, pooled), (0, 0, 0));
}
