//! A local pool's recycler *lane*: where buffers recycled on other threads wait, in two halves
//! of [`HALF`] entries, until a [`BufferRequester`](super::BufferRequester) takes a half whole
//! with one CAS. It is open only while a requester is attached and the pool's slow flag is
//! clear; closed, it holds nothing and recyclers take the inbox's path (see `local.rs`).
//!
//! **A half's word.** Bits 0–7 how many entries are *reserved*, bits 8–15 how many are
//! *written*, bit 16 *closed*, bit 17 *moving*, bits 18–63 a tag bumped whenever the half is
//! emptied (so that a taker that read a full word, was preempted, and finds the same counts
//! again cannot be fooled). The entries hold slot index + 1; entry `i` is valid once `i <
//! written`. What must hold:
//! - A recycler reserves entry `r = reserved` with one CAS (`reserved + 1`; only if neither
//!   closed nor moving nor full; `AcqRel`: Acquire so that whoever emptied the half read the
//!   entry before this store, Release so that an idle count that sees the reservation also sees
//!   the hand-over that made the buffer the recycler's), stores the entry, then counts it with
//!   `fetch_add` on *written* (Release: publishes the entry and the buffer's bytes). The
//!   reservation is the moment the buffer is idle again. The recycler does not write the slot's
//!   line: the taker counts the recycle there, as for the inbox.
//! - A taker empties a half only when `written == reserved` (no store in flight): it reads the
//!   word (Acquire: every recycler's `fetch_add` is a read-modify-write, so this reads the end
//!   of a release sequence that holds all of them, and sees every entry), reads the entries,
//!   and replaces the word by an empty one with the tag bumped (CAS, `AcqRel`). The CAS fails if
//!   anything changed meanwhile: a reservation (the counts), a close (the flag), another take
//!   (the tag). A requester takes a full half first and a partial one only when the pool's
//!   stack is empty; the buffers it takes are *in use* from that CAS on (it counts their
//!   request and their recycle on their slots), so the idle count loses them atomically.
//! - A closer holds the state lock: it sets *closed* (`fetch_or`), which stops reservations and
//!   takes; waits until `written == reserved`; sets *moving*; pushes the entries onto the
//!   pool's stack (through the lock's push, which keeps the slow flag); and empties the word
//!   (Release). The idle count waits while a half is *moving* (its buffers may be counted on
//!   the stack and in the half at once). A pool sets its slow flag only after closing its lane,
//!   so a buffer recycled into the lane is either moved by the closer (before the flag, so a
//!   waiter's "mark unavailable if empty" sees it on the stack) or refused (and the recycle
//!   takes the inbox's or the stack's path, which see the flag): no lost wake-up, and
//!   shrinking or destroying a pool accounts for every buffer.
//! - Opening (state lock held, slow flag clear, at least one requester attached) clears
//!   *closed* with a read-modify-write, which continues the closer's release sequence.
//! - With no requester attached the lane is closed and empty: it opens only while one is, and
//!   the last one closes it before it is counted out. Closing it then writes nothing, so in a
//!   pool that never had a requester no thread writes the halves' words, and a recycler's or an
//!   idle count's loads of them contend with nothing.

use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Entries per half: the most buffers a requester takes at once.
#[cfg(not(loom))]
pub(crate) const HALF: usize = 16;
/// Entries per half: two under loom, so that the models reach a full half with few threads.
#[cfg(loom)]
pub(crate) const HALF: usize = 2;

const COUNT: u64 = 0xff;
const WRITTEN_ONE: u64 = 1 << 8;
const CLOSED: u64 = 1 << 16;
const MOVING: u64 = 1 << 17;
const TAG_ONE: u64 = 1 << 18;
const TAG_MASK: u64 = !(TAG_ONE - 1);

#[inline]
fn reserved(word: u64) -> usize {
    (word & COUNT) as usize
}

#[inline]
fn written(word: u64) -> usize {
    ((word >> 8) & COUNT) as usize
}

/// An empty word: tag bumped, counts zero, `flags` set.
#[inline]
fn emptied(word: u64, flags: u64) -> u64 {
    (word & TAG_MASK).wrapping_add(TAG_ONE) | flags
}

/// One half: its word and entries together (a recycler writes both; the taker reads both).
#[repr(align(64))]
struct Half {
    word: AtomicU64,
    /// Slot index + 1; `entries[..written]` valid.
    entries: [AtomicU32; HALF],
}

impl Half {
    fn new() -> Self {
        Self { word: AtomicU64::new(CLOSED), entries: std::array::from_fn(|_| AtomicU32::new(0)) }
    }
}

/// A pool's lane (see the module docs).
pub(crate) struct Lane {
    halves: [Half; 2],
    /// Requesters attached to the pool; changed only under the state lock.
    users: AtomicU32,
}

impl Lane {
    /// A closed lane.
    pub(crate) fn new() -> Self {
        Self { halves: [Half::new(), Half::new()], users: AtomicU32::new(0) }
    }

    /// Puts a recycled buffer into the lane; false if it is closed or both halves are full.
    #[inline]
    pub(crate) fn push(&self, slot: u32) -> bool {
        for h in &self.halves {
            let mut word = h.word.load(Ordering::Relaxed);
            loop {
                if word & (CLOSED | MOVING) != 0 {
                    return false;
                }
                let r = reserved(word);
                if r == HALF {
                    break;
                }
                // AcqRel: see the module docs.
                match h.word.compare_exchange_weak(word, word + 1, Ordering::AcqRel, Ordering::Relaxed) {
                    Ok(_) => {
                        // Relaxed: published by the Release `fetch_add` below.
                        h.entries[r].store(slot + 1, Ordering::Relaxed);
                        // Release: the entry and the buffer's bytes, to the taker.
                        h.word.fetch_add(WRITTEN_ONE, Ordering::Release);
                        return true;
                    }
                    Err(w) => word = w,
                }
            }
        }
        false
    }

    /// Takes one half whole into `out` (slot indexes), a full one if `full`, else any with at
    /// least one entry and no store in flight; returns how many (0: none). The caller counts
    /// them in use (see the module docs).
    #[inline]
    pub(crate) fn take(&self, out: &mut [u32; HALF], full: bool) -> usize {
        let want = if full { HALF } else { 1 };
        for h in &self.halves {
            let mut word = h.word.load(Ordering::Acquire);
            loop {
                let r = reserved(word);
                if word & (CLOSED | MOVING) != 0 || r < want || written(word) != r {
                    break;
                }
                for (o, e) in out.iter_mut().zip(&h.entries[..r]) {
                    // Relaxed: the Acquire of the word read `written`, so these are visible.
                    *o = e.load(Ordering::Relaxed) - 1;
                }
                // AcqRel: Release so that the reads above happen before the entries are
                // written again; Acquire as for the word's load.
                match h.word.compare_exchange(word, emptied(word, 0), Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return r,
                    Err(w) => word = w,
                }
            }
        }
        0
    }

    /// Closes the lane and hands what it held to `push` (state lock held; see the module docs).
    pub(crate) fn close(&self, mut push: impl FnMut(u32)) {
        for h in &self.halves {
            // Acquire: as a take's.
            let mut word = h.word.fetch_or(CLOSED, Ordering::Acquire) | CLOSED;
            debug_assert_eq!(word & MOVING, 0, "only the lock's holder moves a lane");
            if reserved(word) == 0 {
                continue;
            }
            let mut spins = 0;
            while written(word) != reserved(word) {
                super::local::back_off(&mut spins);
                word = h.word.load(Ordering::Acquire);
            }
            // Closed and no store in flight: nobody else changes the word now. Moving: the
            // idle count waits until the buffers are on the stack only.
            h.word.fetch_or(MOVING, Ordering::Relaxed);
            for e in &h.entries[..reserved(word)] {
                // Relaxed: ordered by the Acquire reads of the word above.
                push(e.load(Ordering::Relaxed) - 1);
            }
            // Release: the pushes happen before an idle count stops waiting, and the entries'
            // reads before the next reservation.
            h.word.swap(emptied(word, CLOSED), Ordering::Release);
        }
    }

    /// Opens a closed, empty lane (state lock held, slow flag clear).
    pub(crate) fn open(&self) {
        for h in &self.halves {
            // Release: continues the closer's release sequence (see the module docs).
            h.word.fetch_and(!CLOSED, Ordering::Release);
        }
    }

    /// The halves' words for the idle count (Acquire), or `None` while one is being moved.
    #[inline]
    pub(crate) fn words(&self) -> Option<[u64; 2]> {
        let words = [self.halves[0].word.load(Ordering::Acquire), self.halves[1].word.load(Ordering::Acquire)];
        if (words[0] | words[1]) & MOVING != 0 { None } else { Some(words) }
    }

    /// Buffers idle in the lane by `words` (from [`Lane::words`]).
    #[inline]
    pub(crate) fn count(words: [u64; 2]) -> usize {
        reserved(words[0]) + reserved(words[1])
    }

    /// Calls `f` with each buffer written into the lane (stats only: a relaxed scan, exact when
    /// no thread is recycling or taking).
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32)) {
        for h in &self.halves {
            let word = h.word.load(Ordering::Acquire);
            for e in &h.entries[..written(word)] {
                f(e.load(Ordering::Relaxed) - 1);
            }
        }
    }

    /// Requesters attached (read under the state lock).
    pub(crate) fn users(&self) -> u32 {
        self.users.load(Ordering::Relaxed)
    }

    /// Sets the number of requesters attached (state lock held).
    pub(crate) fn set_users(&self, users: u32) {
        self.users.store(users, Ordering::Relaxed);
    }
}
