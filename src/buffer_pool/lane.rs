//! A local pool's recycler *lane*: where buffers recycled on other threads wait, in a few
//! *owned rings* and in two shared halves of [`HALF`] entries, until a
//! [`BufferRequester`](super::BufferRequester) takes them in batches with one CAS. It is open
//! only while a requester is attached and the pool's slow flag is clear; closed, it holds
//! nothing and recyclers take the inbox's path (see `local.rs`).
//!
//! **Owned rings** (`ring.rs` states a ring's own protocol). A recycler thread that finds no
//! ring under its [`owner_id`](super::ring::owner_id) claims a free one with one CAS, once;
//! from then on its recycles go into that ring with plain stores, no locked instruction (a
//! locked instruction waits for the store buffer to drain, and a recycler's last store is
//! usually its touch of the buffer, a cache miss: docs/BENCHMARKS.md, *Seventeenth pass*). A
//! full ring, a thread with no ring left to claim, and a stopped lane send the recycle to the
//! halves. What must hold:
//! - *Stopping.* The rings share a `stop` word (`STOPPED`, `RINGS_MOVING`, a count of closes)
//!   on a line with their owners, which every push reads and which changes only when the lane
//!   closes or opens. A recycler marks its ring busy ([`Ring::enter`](super::ring::Ring::enter)),
//!   reads the stop word behind the light half of an asymmetric fence pair
//!   (`crate::sync::asymmetric`), puts its entry only if the lane is not stopped, and clears
//!   the busy bit ([`Ring::leave`](super::ring::Ring::leave), Release), its last access. A
//!   closer (state lock held) sets the stop word (`SeqCst`), runs the heavy half, which fences
//!   every running thread of the process, waits until no ring is busy, and then takes
//!   everything the rings hold onto the stack. The pair guarantees that either the recycler's
//!   read sees the stop (it puts nothing and takes the halves' path, whose refusal sends it on
//!   to the inbox or the stack) or the closer sees the busy bit and waits for it to clear,
//!   after which it sees the entry (the clear's Release). So a buffer pushed into a ring is
//!   moved by the closer before the slow flag is set, and the recycler touches the lane no
//!   more once the closer has moved it: the pool may be destroyed and freed after the close,
//!   and nothing of it is read after that. Only the close that stops the rings takes from
//!   them (a second close, the last requester leaving a destroyed pool, must not move
//!   anything onto a stack that was emptied for good); with the rings stopped no push puts
//!   anything, so there is nothing for it to take.
//! - *Moving.* While the closer moves the rings' entries, `RINGS_MOVING` makes the idle count
//!   wait, as a half's *moving* bit does. The idle count adds each ring's valid entries
//!   ([`Words`]), read twice around its other reads, with the stop word read before them:
//!   the word also counts the closes (`CLOSES_ONE`), so a count that read a ring already
//!   emptied by a closer and the stack before the closer's pushes sees the word change and
//!   reads again (as a half's tag does for the halves).
//! - *After a fork*, a busy bit may belong to a thread of the parent that does not exist in
//!   the child: a closer in a child waits for it only so long, then clears it (`ring.rs`,
//!   `Ring::wait_idle`).
//! - *Without the heavy fence* (a kernel without `membarrier`'s private expedited command) the
//!   rings stay stopped and the lane is the two halves alone.
//! - *Takes.* A requester takes from the rings first, a full batch ([`HALF`]) if `full`. It
//!   skips them once it reads the lane stopped (a relaxed read: a take racing the closer is
//!   harmless, the CAS on a ring's `taken` gives each entry to one of them).
//! - *Ownership* ends with its thread: the owner id goes back to a free list, and the next
//!   thread to ask for one takes it, and with it the rings it owns (`ring.rs`). A ring whose
//!   owner lives on but no longer recycles into this pool stays its; other recyclers take the
//!   halves.
//!
//! **The halves: a half's word.** Bits 0–7 how many entries are *reserved*, bits 8–15 how many are
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

use crossbeam_utils::CachePadded;

use super::ring::{RING, Ring, owner_id};
use crate::sync::asymmetric;
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

/// Owned rings per lane.
#[cfg(not(loom))]
const RINGS: usize = 2;
/// Owned rings per lane: one under loom, so that a second recycler takes the halves.
#[cfg(loom)]
const RINGS: usize = 1;

/// [`RingsHead::stop`]: the rings take no entries (the lane is closed, or the rings are off).
const STOPPED: u32 = 1;
/// [`RingsHead::stop`]: a closer is moving the rings' entries onto the stack.
const RINGS_MOVING: u32 = 2;
/// [`RingsHead::stop`], bits 2–31: how many times the rings were closed (wrapping), so that an
/// idle count that read the rings before a close and after it sees the word change.
const CLOSES_ONE: u32 = 4;

/// What every push into a ring reads, on one line that is written only when the lane closes
/// or opens, and once per ring when it is claimed.
struct RingsHead {
    /// The rings' owners ([`owner_id`]s), 0 while a ring has none.
    owners: [AtomicU32; RINGS],
    /// [`STOPPED`], [`RINGS_MOVING`] and the count of closes ([`CLOSES_ONE`]).
    stop: AtomicU32,
}

/// A snapshot of the lane for the idle count: the halves' words and each ring's
/// [`Ring::state`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Words {
    halves: [u64; 2],
    /// The rings' stop word: its count of closes changes across a close.
    stop: u32,
    rings: [(u32, u32); RINGS],
}

#[cfg(loom)]
std::thread_local! {
    /// Under loom: whether lanes made now get owned rings ([`without_rings`]). A std
    /// thread-local: loom runs a model's threads on the test's own thread.
    static RINGS_ALLOWED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Runs `f` with lanes made inside it getting no owned rings (loom builds only): for the models
/// that check the shared halves, which a ring would otherwise take every recycle from.
#[cfg(loom)]
pub fn without_rings<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            RINGS_ALLOWED.with(|a| a.set(self.0));
        }
    }
    let _restore = Restore(RINGS_ALLOWED.with(|a| a.replace(false)));
    f()
}

#[cfg(loom)]
fn rings_allowed() -> bool {
    RINGS_ALLOWED.with(std::cell::Cell::get)
}

#[cfg(not(loom))]
const fn rings_allowed() -> bool {
    true
}

/// A pool's lane (see the module docs).
pub(crate) struct Lane {
    halves: [Half; 2],
    /// Requesters attached to the pool; changed only under the state lock.
    users: AtomicU32,
    head: CachePadded<RingsHead>,
    rings: [Ring; RINGS],
    /// Whether the rings are used at all: the process has the heavy fence
    /// ([`asymmetric::available`]). Without it they stay stopped and empty.
    rings_on: bool,
    /// The fork generation the lane was made in (`crate::fork`): a closer in a child does not
    /// wait for ever on a busy bit a thread of the parent left ([`Ring::wait_idle`]).
    born: u64,
}

impl Lane {
    /// A closed lane.
    pub(crate) fn new() -> Self {
        Self {
            halves: [Half::new(), Half::new()],
            users: AtomicU32::new(0),
            head: CachePadded::new(RingsHead {
                owners: std::array::from_fn(|_| AtomicU32::new(0)),
                stop: AtomicU32::new(STOPPED),
            }),
            rings: std::array::from_fn(|_| Ring::new()),
            rings_on: asymmetric::available() && rings_allowed(),
            born: crate::fork::generation(),
        }
    }

    /// Puts a recycled buffer into the lane: into the calling thread's owned ring if it has
    /// one or can claim one (see the module docs), else into a half.
    #[inline]
    pub(crate) fn push(&self, slot: u32) -> bool {
        let head = &*self.head;
        // Relaxed: a filter only; the read that decides is the one after `enter`.
        if head.stop.load(Ordering::Relaxed) & STOPPED == 0
            && let Some(id) = owner_id()
        {
            let ring = match head.owners.iter().position(|o| o.load(Ordering::Relaxed) == id) {
                Some(i) => Some(i),
                None => self.claim(id),
            };
            if let Some(i) = ring {
                let ring = &self.rings[i];
                let pos = ring.enter();
                // The store-load pair with the closer's `heavy` (see the module docs): either
                // this read sees the stop, or the closer sees the busy bit and waits.
                let put = asymmetric::load_after_light(&head.stop) & STOPPED == 0 && ring.put(pos, slot);
                ring.leave(if put { pos.wrapping_add(1) } else { pos });
                if put {
                    return true;
                }
            }
        }
        self.push_half(slot)
    }

    /// Claims a ring without an owner for the thread whose owner id is `id`, if one is left.
    #[cold]
    #[inline(never)]
    fn claim(&self, id: u32) -> Option<usize> {
        self.head.owners.iter().position(|o| {
            // Relaxed: a ring is claimed once, from a fresh lane, and the ring's own words order
            // what its owner writes (owner ids are handed on through `ring.rs`'s free list).
            o.load(Ordering::Relaxed) == 0 && o.compare_exchange(0, id, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        })
    }

    /// Puts a recycled buffer into a half; false if the lane is closed or both are full.
    #[inline]
    fn push_half(&self, slot: u32) -> bool {
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

    /// Takes a batch into `out` (slot indexes): from an owned ring first ([`HALF`] entries if
    /// `full`, else at least one), else one half whole (a full one if `full`, else any with at
    /// least one entry and no store in flight); returns how many (0: none). The caller counts
    /// them in use (see the module docs).
    #[inline]
    pub(crate) fn take(&self, out: &mut [u32; HALF], full: bool) -> usize {
        let want = if full { HALF } else { 1 };
        // Relaxed: a filter; a take racing the closer is harmless (a ring's CAS on `taken`
        // gives each entry to one of them), and the entries' own loads order what they read.
        if self.head.stop.load(Ordering::Relaxed) & STOPPED == 0 {
            for ring in &self.rings {
                let n = ring.take(out, want);
                if n > 0 {
                    return n;
                }
            }
        }
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
        if self.rings_on && self.stop_rings() {
            asymmetric::heavy();
            // A push that read the stop clear is still in flight: wait for its `leave`, so that
            // its entry is seen below and it touches the lane no more (the pool may be freed
            // after this close).
            let forked = crate::fork::generation() != self.born;
            self.rings.iter().for_each(|ring| ring.wait_idle(forked));
            let mut got = [0u32; RING as usize];
            for ring in &self.rings {
                loop {
                    let n = ring.take(&mut got, 1);
                    if n == 0 {
                        break;
                    }
                    got[..n].iter().for_each(|&slot| push(slot));
                }
            }
            // Release: the pushes happen before an idle count stops waiting.
            self.head.stop.fetch_and(!RINGS_MOVING, Ordering::Release);
        }
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

    /// Stops the rings, marking them moving and counting the close, if they were not stopped
    /// already (true). Already stopped, nothing was put into them since, and a second closer
    /// must not move anything onto the stack of a pool that may have been emptied for good
    /// since (a destroyed one).
    fn stop_rings(&self) -> bool {
        let mut w = self.head.stop.load(Ordering::Relaxed);
        loop {
            if w & STOPPED != 0 {
                return false;
            }
            // SeqCst, then the heavy fence: the closer's side of the store-load pair (see the
            // module docs). Moving: the idle count waits until the entries are on the stack.
            // Counted: see `CLOSES_ONE`.
            let stopped = (w | STOPPED | RINGS_MOVING).wrapping_add(CLOSES_ONE);
            match self.head.stop.compare_exchange_weak(w, stopped, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => w = now,
            }
        }
    }

    /// Opens a closed, empty lane (state lock held, slow flag clear).
    pub(crate) fn open(&self) {
        if self.rings_on {
            // Relaxed would do: a push reads the stop word relaxed, and what orders the closer's
            // moves before the owner's next write of an entry is the entry itself (the taker's
            // clear of it after its CAS on `taken`, Release, and the owner's load of it,
            // Acquire). Release is kept for the idle count, which reads the word with Acquire.
            self.head.stop.fetch_and(!STOPPED, Ordering::Release);
        }
        for h in &self.halves {
            // Release: continues the closer's release sequence (see the module docs).
            h.word.fetch_and(!CLOSED, Ordering::Release);
        }
    }

    /// The lane's state for the idle count (Acquire), or `None` while a closer moves a half
    /// or the rings onto the stack.
    #[inline]
    pub(crate) fn words(&self) -> Option<Words> {
        let halves = [self.halves[0].word.load(Ordering::Acquire), self.halves[1].word.load(Ordering::Acquire)];
        // Acquire: a closer clears the moving bit (Release) after its pushes onto the stack;
        // and a take of a ring's entries that the loads below see follows its close's count.
        let stop = self.head.stop.load(Ordering::Acquire);
        if (halves[0] | halves[1]) & MOVING != 0 || stop & RINGS_MOVING != 0 {
            return None;
        }
        Some(Words { halves, stop, rings: std::array::from_fn(|i| self.rings[i].state()) })
    }

    /// Buffers idle in the lane by `words` (from [`Lane::words`]).
    #[inline]
    pub(crate) fn count(words: Words) -> usize {
        reserved(words.halves[0])
            + reserved(words.halves[1])
            + words.rings.iter().map(|&(_, n)| n as usize).sum::<usize>()
    }

    /// Calls `f` with each buffer written into the lane (stats only: a relaxed scan, exact when
    /// no thread is recycling or taking).
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32)) {
        for ring in &self.rings {
            ring.for_each(&mut f);
        }
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
