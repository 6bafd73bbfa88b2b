//! Fork detection. A `pthread_atfork` child handler bumps a process-wide generation, and every
//! manager remembers the generation it was built in; slow paths compare the two before they take
//! any lock (a lock held by a thread that does not exist in the child would never be released).
//!
//! In a child, cache hits still work (the cache is the forking thread's own memory, copied), but
//! every slow path returns [`AllocError::Forked`](crate::AllocError::Forked): build a new manager
//! in the child. Frees in the child that cannot go to the cache are kept in the cache or dropped
//! on the floor of the child's copy of the pools — they never block. (The state is a
//! [`Process`], std's atomics: see [`crate::sync::stat`].)

use std::sync::Once;

use crate::sync::stat::Process;

static PROCESS: Process = Process::new();
static REGISTER: Once = Once::new();

extern "C" fn prepare() {
    PROCESS.forking(std::process::id());
}

extern "C" fn in_child() {
    PROCESS.forked();
}

/// The process's fork generation (0 in the original process, +1 in each generation of child).
pub(crate) fn generation() -> u64 {
    REGISTER.call_once(|| {
        if cfg!(miri) {
            return; // Miri has no fork (and no pthread_atfork)
        }
        // SAFETY: the handlers are `extern "C"` functions that only touch atomics, which is
        // async-signal-safe as pthread_atfork handlers must be.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), None, Some(in_child)) };
        if rc != 0 {
            tracing::warn!(target: "numaseg", "pthread_atfork failed ({rc}): fork detection is off");
        }
    });
    PROCESS.generation()
}

/// The pid of the process that last forked.
pub(crate) fn parent_pid() -> u32 {
    PROCESS.parent()
}
