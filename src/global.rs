//! [`global`] and [`try_global`]: the process's own [`ArenaManager`], built once, on first use,
//! from the `NUMASEG_*` environment — as `MIMALLOC_*` variables configure mimalloc's process
//! heap. Its segments are `Segment<'static>`: they move into threads and tasks and live in
//! structs with no lifetime to carry.
//!
//! What must hold:
//! - **Built at most once.** The first successful build is published in a `OnceLock` and never
//!   replaced or dropped: every `&'static ArenaManager` handed out stays valid for the rest of the
//!   process. Builders are serialised by a mutex, so two threads racing on first use never map
//!   two sets of regions.
//! - **A failure is not cached.** A refused configuration returns its [`BuildError`] (with the
//!   very text [`Config::from_env`](crate::Config::from_env) gives, naming the variable) on every
//!   call until a build succeeds; nothing is published meanwhile.
//! - **It behaves as any manager**: thread exit hands a thread's cached segments back, `purge`
//!   gives free memory back to the OS, and after `fork` the child's slow paths return
//!   [`AllocError::Forked`](crate::AllocError::Forked) (build your own manager in a child). The
//!   manager is never dropped, so the thread-exit protocol always finds it alive.
//!
//! Absent under `cfg(loom)`: modelled code holds no statics (STYLE.md §2).

use std::sync::{Mutex, OnceLock, PoisonError};

use crate::ArenaManager;
use crate::error::BuildError;

static GLOBAL: OnceLock<ArenaManager> = OnceLock::new();
static BUILDING: Mutex<()> = Mutex::new(());

/// The process's [`ArenaManager`], built from the environment on first use.
///
/// ```
/// let mut segment = numaseg::global().allocate(32 << 10)?;
/// segment.as_mut_slice()[0] = 1;
/// // `Segment<'static>`: it can move into a thread.
/// std::thread::spawn(move || assert_eq!(segment.as_slice()[0], 1)).join().unwrap();
/// # Ok::<(), numaseg::AllocError>(())
/// ```
///
/// # Panics
/// When the manager cannot be built (a malformed `NUMASEG_*` variable, an unusable node, a budget
/// below one region): the message is the [`BuildError`]'s full text. Use [`try_global`] to handle
/// it instead.
#[must_use]
pub fn global() -> &'static ArenaManager {
    match try_global() {
        Ok(manager) => manager,
        Err(e) => panic!("numaseg::global(): {e}"),
    }
}

/// The process's [`ArenaManager`], built from the environment on first use, or why it could
/// not be built.
///
/// ```
/// match numaseg::try_global() {
///     Ok(manager) => println!("numaseg on {} node(s)", manager.nodes().len()),
///     Err(e) => eprintln!("numaseg unavailable: {e}"),
/// }
/// ```
///
/// # Errors
/// The [`BuildError`] of [`ArenaManager::from_env`]; a refused configuration is
/// [`BuildError::Config`] with the same text as [`Config::from_env`](crate::Config::from_env)'s
/// error. A failure is not remembered: the next call tries again.
pub fn try_global() -> Result<&'static ArenaManager, BuildError> {
    if let Some(manager) = GLOBAL.get() {
        return Ok(manager);
    }
    build_slow()
}

#[cold]
fn build_slow() -> Result<&'static ArenaManager, BuildError> {
    // A panic while building leaves nothing half-published (the lock guards no data).
    let _building = BUILDING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(manager) = GLOBAL.get() {
        return Ok(manager);
    }
    let manager = ArenaManager::from_env()?;
    Ok(GLOBAL.get_or_init(|| manager))
}

/// Whether [`global`] has been built in this process (without building it).
///
/// ```
/// let _ = numaseg::global();
/// assert!(numaseg::global_is_built());
/// ```
#[must_use]
pub fn global_is_built() -> bool {
    GLOBAL.get().is_some()
}
