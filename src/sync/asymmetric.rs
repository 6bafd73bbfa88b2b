//! An asymmetric fence pair: the light half on a hot path ([`load_after_light`]) costs a
//! compiler fence, the heavy half on a cold path ([`heavy`]) makes every running thread of the
//! process execute a full fence (Linux `membarrier`, `MEMBARRIER_CMD_PRIVATE_EXPEDITED`).
//!
//! What must hold:
//! - Together they order as two `SeqCst` fences would. With thread A doing *store X; light
//!   fence; load Y* ([`load_after_light`] of Y) and thread B doing *store Y; [`heavy`]; load
//!   X*, at least one of the two loads sees the other thread's store. A thread that runs
//!   during the heavy fence is interrupted and fenced; one that does not run passes through
//!   the scheduler, which fences.
//! - [`available`] says whether the kernel gave the process the heavy fence. Where it did not,
//!   callers must not rely on the light half (they keep their locked path), and [`heavy`] is
//!   never needed.
//! - Under loom and Miri, which know nothing of `membarrier` (and loom models `SeqCst` as
//!   `AcqRel`), the light side's load is an `AcqRel` read-modify-write of the word the heavy
//!   side's caller writes before [`heavy`], and that caller must write it with a
//!   read-modify-write. Two read-modify-writes of one word are totally ordered and the later
//!   one synchronises with the earlier, so the models get the pair's guarantee and check the
//!   protocol built on it. They check it with more ordering than the real light side has (its
//!   read-modify-write also acquires what the word's release sequence carries), so a
//!   weakened ordering elsewhere that only the real pair would expose can pass them.

#[cfg(not(any(loom, miri)))]
mod imp {
    use std::sync::OnceLock;

    use numa::sys::linux::{membarrier_private_expedited, membarrier_register_private_expedited};

    pub(crate) fn available() -> bool {
        static REGISTERED: OnceLock<bool> = OnceLock::new();
        *REGISTERED.get_or_init(|| match membarrier_register_private_expedited() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    target: "numaseg",
                    "{}: recycles on other threads into a buffer pool's lane take its shared halves \
                     (two locked instructions each), not owned rings",
                    described(&e)
                );
                false
            }
        })
    }

    /// The light half (a compiler fence), then a relaxed load of `word`.
    #[inline(always)]
    pub(crate) fn load_after_light(word: &crate::sync::atomic::AtomicU32) -> u32 {
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        word.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn heavy() {
        assert!(available(), "the heavy fence used without the kernel's membarrier");
        if membarrier_private_expedited().is_ok() {
            return;
        }
        // A forked child may find the parent's registration gone: register again, once.
        if let Err(e) = membarrier_register_private_expedited().and_then(|()| membarrier_private_expedited()) {
            // Without the fence a recycler's plain store could be missed: stop rather than
            // lose a buffer.
            panic!("the heavy fence failed after the process had registered for it: {}", described(&e));
        }
    }

    /// `call failed (the kernel's error)`: an [`OsError`](numa::OsError) without its length,
    /// which `membarrier` does not have.
    fn described(e: &numa::OsError) -> String {
        let cause =
            e.raw_os_error().map_or_else(|| e.to_string(), |c| std::io::Error::from_raw_os_error(c).to_string());
        format!("{} failed ({cause})", e.call())
    }
}

#[cfg(any(loom, miri))]
mod imp {
    use crate::sync::atomic::{Ordering, fence};

    pub(crate) fn available() -> bool {
        true
    }

    /// An `AcqRel` read-modify-write of `word` that changes nothing (see the module docs).
    #[inline(always)]
    pub(crate) fn load_after_light(word: &crate::sync::atomic::AtomicU32) -> u32 {
        word.fetch_add(0, Ordering::AcqRel)
    }

    pub(crate) fn heavy() {
        fence(Ordering::SeqCst);
    }
}

/// Whether the process has the heavy fence (asked of the kernel once).
pub(crate) use imp::available;
/// The heavy half: every running thread of the process executes a full fence before it
/// returns. Only call it where [`available`] said yes.
pub(crate) use imp::heavy;
/// The light half followed by a relaxed load of `word`, the word the cold side writes before
/// its heavy half (under loom and Miri: see the module docs). The cold side must write `word`
/// with a read-modify-write.
pub(crate) use imp::load_after_light;
