//! An *owned ring* of a pool's lane: where one recycler thread, its owner, puts the buffers it
//! recycles with plain stores, no locked instruction, until a taker takes them (see `lane.rs`
//! for who owns a ring, and how the lane closes one).
//!
//! What must hold:
//! - **Whose word.** The owner writes its position word `pos` (with a busy bit set while it is
//!   in a push) and fills free entries; takers write `taken` (CAS) and clear the entries they
//!   took. An entry changes hands by its value (0: the owner's to fill; valid: the takers'),
//!   so the two never write one entry at once, and an owner preempted in the middle of a push
//!   cannot undo anyone's work when it resumes.
//! - **An entry** holds `slot + 1` with bit 31 the parity of the lap of its position (`pos /
//!   RING`), or 0 when free. The owner writes position `p` only if its entry is 0 (else the
//!   ring is full), with a Release store that publishes the buffer's bytes. A push is
//!   [`Ring::enter`] (busy), [`Ring::put`], [`Ring::leave`] (the next position, busy cleared,
//!   Release): the owner's last access to the lane for that buffer, which a closer waits for
//!   ([`Ring::wait_idle`]; `lane.rs` says why).
//! - **A take** reads the entries from `taken` on while they are *valid* for their position
//!   (not 0, the lap's parity matching), claims them with one CAS of `taken` (`AcqRel`), and then
//!   clears them (Release), which lets the owner write there again. The CAS makes the claim
//!   exactly once. An entry of the previous lap, already claimed but not yet cleared, has the
//!   other parity, so it is never read as a new one. An entry two laps old has the same parity,
//!   and must be neither there nor read: the owner writes a position only once its previous
//!   lap's entry was cleared; and a taker reads `taken` with `Acquire`, which synchronises with
//!   the claim that wrote it (`AcqRel`), whose taker read the entries it claimed after their
//!   owner stored them (a take reads fewer than [`RING`] entries, so the claims before `t`
//!   read the entry of each position's previous lap): those reads happen before this taker's,
//!   and coherence forbids it an older value (whatever the ordering of the claimer's reads:
//!   their `Acquire` is for the buffers' bytes). A failed claim re-reads `taken` with `Acquire`
//!   for the same reason (`loom-tests/tests/ring_laps.rs`: with either load `Relaxed`, or the
//!   claim without `Release`, a second taker hands out the slot of position 0 again at
//!   position 4).
//! - The entries a ring holds are the valid ones from `taken` on; they are *idle* buffers, and
//!   their recycles are left to their taker to count (as the lane's halves do).

use crossbeam_utils::CachePadded;

use crate::sync::atomic::{AtomicU32, Ordering};

/// Entries per ring: two cache lines of 16.
#[cfg(not(loom))]
pub(crate) const RING: u32 = 32;
/// Entries per ring: two under loom, so that the models reach a full ring with few threads.
#[cfg(loom)]
pub(crate) const RING: u32 = 2;

/// Bit 0 of a ring's position word: its owner is in a push.
const BUSY: u32 = 1;

/// How long a closer in a forked child waits for a busy ring (see [`Ring::wait_idle`]).
const FORKED_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Bit 31 of an entry: the parity of its position's lap.
const LAP: u32 = 1 << 31;

// Slots stay below the lap bit (`slot + 1 < 2^31`).
const _: () = assert!(super::MAX_BUFFERS < LAP as usize);
// The lap's parity is one bit of the position.
const _: () = assert!(RING.is_power_of_two());

/// A count of entries (at most [`RING`]) as a position step.
#[inline]
fn small(n: usize) -> u32 {
    debug_assert!(n <= RING as usize);
    u32::try_from(n).unwrap_or(RING)
}

/// The lap bit an entry at position `pos` carries.
#[inline]
fn lap(pos: u32) -> u32 {
    if pos & RING != 0 { LAP } else { 0 }
}

/// The entry at `pos` for `slot`.
#[inline]
fn entry(slot: u32, pos: u32) -> u32 {
    (slot + 1) | lap(pos)
}

/// The slot an entry valid for `pos` holds, if it is.
#[inline]
fn valid(e: u32, pos: u32) -> Option<u32> {
    (e != 0 && e & LAP == lap(pos)).then(|| (e & !LAP) - 1)
}

/// The calling thread's *owner id* (≥ 1), the name its rings are owned under; `None` once its
/// thread-locals are being destroyed. Unique among live threads, and handed on when a thread
/// exits: the next thread that asks takes it, and with it the rings it names. The old owner's
/// stores happen before the new owner's loads (the free list's lock orders them), and an
/// exited thread has no push in flight, so each ring keeps one writer at a time.
#[inline]
pub(crate) fn owner_id() -> Option<u32> {
    OWNER
        .try_with(|o| {
            let id = o.0.get();
            if id != 0 { id } else { o.take() }
        })
        .ok()
}

/// Owner ids given back by exited threads, reused before new ones. Not under loom: there each
/// thread takes a new id, since a hand-over through std's lock would be invisible to the
/// models (they run no thread-exit reuse; the lock's ordering is std's to keep).
#[cfg(not(loom))]
static FREE_IDS: crate::sync::Mutex<Vec<u32>> = crate::sync::Mutex::new(Vec::new());
/// Owner ids never handed out.
static NEXT_ID: crate::sync::stat::Ids = crate::sync::stat::Ids::new(1);

/// A thread's owner id, 0 until its first use; given back when the thread exits.
struct OwnerId(std::cell::Cell<u32>);

impl OwnerId {
    #[cold]
    #[inline(never)]
    fn take(&self) -> u32 {
        let id = Self::reused().unwrap_or_else(|| {
            loop {
                // Ids are reused, so at most one per live thread is out (under loom, one per
                // model thread ever); wrapping past 2^32 only matters for `0`, "no owner",
                // which is skipped.
                let id = NEXT_ID.next().to_le_bytes();
                let id = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
                if id != 0 {
                    break id;
                }
            }
        });
        self.0.set(id);
        id
    }

    /// An id an exited thread gave back, if any.
    #[cfg(not(loom))]
    fn reused() -> Option<u32> {
        // `try_lock`, never a wait: a child forked while another thread held the lock would
        // wait for ever; it takes a new id instead.
        FREE_IDS.try_lock().ok().and_then(|mut ids| ids.pop())
    }

    /// None under loom (see [`FREE_IDS`]).
    #[cfg(loom)]
    fn reused() -> Option<u32> {
        None
    }
}

impl Drop for OwnerId {
    fn drop(&mut self) {
        // Never a wait (see `take`): an id not given back is only never reused, and the rings
        // it owns keep their entries for takers.
        #[cfg(not(loom))]
        if self.0.get() != 0
            && let Ok(mut ids) = FREE_IDS.try_lock()
        {
            ids.push(self.0.get());
        }
    }
}

#[cfg(not(loom))]
crate::sync::thread_local! {
    static OWNER: OwnerId = const { OwnerId(std::cell::Cell::new(0)) };
}

#[cfg(loom)]
crate::sync::thread_local! {
    static OWNER: OwnerId = OwnerId(std::cell::Cell::new(0));
}

/// One owned ring (see the module docs).
pub(crate) struct Ring {
    entries: [AtomicU32; RING as usize],
    /// The owner's next position (bits 1–31) and [`BUSY`] (bit 0); only the owner writes it,
    /// and a closer reads the busy bit.
    pos: CachePadded<AtomicU32>,
    /// The next position to take; takers advance it with a CAS.
    taken: CachePadded<AtomicU32>,
}

impl Ring {
    pub(crate) fn new() -> Self {
        Self {
            entries: std::array::from_fn(|_| AtomicU32::new(0)),
            pos: CachePadded::new(AtomicU32::new(0)),
            taken: CachePadded::new(AtomicU32::new(0)),
        }
    }

    #[inline]
    fn at(&self, pos: u32) -> &AtomicU32 {
        &self.entries[(pos % RING) as usize]
    }

    /// The slot the entry at `pos` holds, if it is valid for `pos`. Acquire: the owner's
    /// Release store, and the buffer's bytes with it.
    #[inline]
    fn slot_at(&self, pos: u32) -> Option<u32> {
        valid(self.at(pos).load(Ordering::Acquire), pos)
    }

    /// The owner marks itself busy (in a push) and returns its position. Its next access to
    /// the lane after a buffer went into the ring is [`Ring::leave`]: a closer waits for that
    /// ([`Ring::wait_idle`]), so nothing the owner touches is freed under it.
    #[inline]
    pub(crate) fn enter(&self) -> u32 {
        // Relaxed: only this thread writes the word; the closer's read of the busy bit is
        // ordered by the fence pair (`lane.rs`).
        let pos = self.pos.load(Ordering::Relaxed) >> 1;
        self.pos.store((pos << 1) | BUSY, Ordering::Relaxed);
        pos
    }

    /// The owner puts `slot` in at `pos` (from [`Ring::enter`]); false if the ring is full.
    #[inline]
    pub(crate) fn put(&self, pos: u32, slot: u32) -> bool {
        let e = self.at(pos);
        // Acquire: the taker's clear (Release) comes after its reads of the entry. (Kept,
        // although coherence on the entry already keeps those reads from seeing the store
        // below: docs/RELIABILITY.md classifies its weakening as equivalent.)
        if e.load(Ordering::Acquire) != 0 {
            return false;
        }
        // Release: the buffer's bytes and its hand-over, to the taker.
        e.store(entry(slot, pos), Ordering::Release);
        true
    }

    /// The owner is done: its next position is `pos`. Its last access to the lane for this
    /// push.
    #[inline]
    pub(crate) fn leave(&self, pos: u32) {
        // Release: the entry it put happens before a closer's read of the cleared busy bit.
        self.pos.store(pos << 1, Ordering::Release);
    }

    /// A whole push by an owner with no lane around it ([`Ring::enter`], [`Ring::put`],
    /// [`Ring::leave`]): its position if the slot went in, `None` if the ring is full. For the
    /// unit tests and [`LoomRing`]; the lane reads its stop word between `enter` and `put`.
    #[cfg(any(test, loom))]
    fn push_alone(&self, slot: u32) -> Option<u32> {
        let pos = self.enter();
        let put = self.put(pos, slot);
        self.leave(if put { pos.wrapping_add(1) } else { pos });
        put.then_some(pos)
    }

    /// Waits until the owner is not in a push (a closer, after the heavy fence). In a process
    /// forked since the ring was made (`forked`), a busy bit may belong to a thread of the
    /// parent that does not exist here and will never clear it: after [`FORKED_WAIT`] the
    /// closer clears it itself and goes on (a thread of the child preempted in its push for
    /// that long could then have its entry missed: pools made before a fork are the parent's,
    /// as `crate::fork` says of managers).
    pub(crate) fn wait_idle(&self, forked: bool) {
        let mut spins = 0;
        let start = forked.then(std::time::Instant::now);
        // Acquire: pairs with `leave`'s Release.
        while self.pos.load(Ordering::Acquire) & BUSY != 0 {
            if start.is_some_and(|t| t.elapsed() > FORKED_WAIT) {
                tracing::warn!(
                    target: "numaseg",
                    "a buffer pool's owned ring stayed busy for {FORKED_WAIT:?} after a fork: its owner is \
                     taken to be a thread of the parent"
                );
                self.pos.fetch_and(!BUSY, Ordering::AcqRel);
                return;
            }
            super::local::back_off(&mut spins);
        }
    }

    /// Takes the valid entries from `taken` on into `out` (at most its length), if there are
    /// at least `min` (and 1); returns how many. Any thread.
    pub(crate) fn take(&self, out: &mut [u32], min: usize) -> usize {
        // Acquire: synchronises with the claim that wrote `t`, so that no entry is read older
        // than the stores the claims before `t` consumed: one two laps old has this lap's parity
        // (see the module docs). (An entry a claimer has not cleared yet is not read as new: its
        // lap's parity is the other one.)
        let mut t = self.taken.load(Ordering::Acquire);
        loop {
            let mut n = 0;
            while n < out.len() {
                let p = t.wrapping_add(small(n));
                match self.slot_at(p) {
                    Some(slot) => out[n] = slot,
                    None => break,
                }
                n += 1;
            }
            if n < min.max(1) {
                return 0;
            }
            // AcqRel: Release so that a taker that reads the new `taken` (Acquire) sees every
            // entry store these reads consumed; Acquire on failure as for the load of `taken`,
            // since `now` is read from here on.
            match self.taken.compare_exchange(t, t.wrapping_add(small(n)), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    for k in 0..n {
                        // Release: the reads above happen before the owner writes here again
                        // (coherence on the entry already keeps them from reading that write;
                        // the owner's Acquire load of the 0 pairs with this).
                        self.at(t.wrapping_add(small(k))).store(0, Ordering::Release);
                    }
                    return n;
                }
                Err(now) => t = now,
            }
        }
    }

    /// `(taken, n)`: the position of the first entry not taken and how many valid entries
    /// follow it. A snapshot for the idle count, which reads it twice around its other reads.
    pub(crate) fn state(&self) -> (u32, u32) {
        let t = self.taken.load(Ordering::Acquire);
        let mut n = 0;
        while n < RING && self.slot_at(t.wrapping_add(n)).is_some() {
            n += 1;
        }
        (t, n)
    }

    /// Calls `f` with each slot the ring holds (stats only: exact when no thread is
    /// recycling or taking).
    pub(crate) fn for_each(&self, f: &mut dyn FnMut(u32)) {
        let (t, n) = self.state();
        for k in 0..n {
            if let Some(slot) = self.slot_at(t.wrapping_add(k)) {
                f(slot);
            }
        }
    }
}

/// One owned ring on its own, for the loom model of its laps (`loom-tests/tests/ring_laps.rs`;
/// loom builds only, not part of the API): an owner's push is [`Ring::enter`], [`Ring::put`]
/// and [`Ring::leave`], as the lane's; a take is [`Ring::take`].
#[cfg(loom)]
pub struct LoomRing(Ring);

#[cfg(loom)]
impl std::fmt::Debug for LoomRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoomRing").finish_non_exhaustive()
    }
}

#[cfg(loom)]
impl LoomRing {
    /// An empty ring of [`RING`] entries.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(Ring::new())
    }

    /// The owner puts `slot` in; false if the ring is full. One thread only.
    pub fn push(&self, slot: u32) -> bool {
        self.0.push_alone(slot).is_some()
    }

    /// Takes at least `min` (and 1) valid entries into `out`, if there are; how many. Any thread.
    pub fn take(&self, out: &mut [u32], min: usize) -> usize {
        self.0.take(out, min)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_ring_hands_each_slot_out_once_across_laps_and_refuses_when_full() {
        let ring = Ring::new();
        let mut out = [0u32; 16];
        let mut next = 0;
        for lap in 0..5u32 {
            for _ in 0..RING {
                assert!(ring.push_alone(next).is_some(), "lap {lap}: room for {next}");
                next += 1;
            }
            assert_eq!(ring.push_alone(next), None, "a full ring refuses");
            assert_eq!(ring.state(), (lap * RING, RING));
            let mut seen = Vec::new();
            loop {
                let n = ring.take(&mut out, 1);
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&out[..n]);
            }
            assert_eq!(seen, (lap * RING..(lap + 1) * RING).collect::<Vec<_>>());
            assert_eq!(ring.state(), ((lap + 1) * RING, 0));
        }
    }

    #[test]
    fn owner_ids_are_distinct_among_live_threads_and_handed_on_when_a_thread_exits() {
        // No other unit test attaches a requester, so nothing else in this test binary asks
        // for owner ids, and the free list is this test's alone. `std::thread::spawn` and
        // `join`, not a scope: a scope's own wait may return before the threads'
        // thread-locals (the ids) are dropped.
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let live = |barrier: std::sync::Arc<std::sync::Barrier>| {
            std::thread::spawn(move || {
                let id = owner_id();
                barrier.wait(); // both alive at once
                id
            })
        };
        let (a, b) = (live(Arc::clone(&barrier)), live(Arc::clone(&barrier)));
        let (a, b) = (a.join().unwrap().unwrap(), b.join().unwrap().unwrap());
        assert_ne!(a, b, "two live threads share owner id {a}");
        assert!(a != 0 && b != 0, "0 means no owner");
        let c = std::thread::spawn(owner_id).join().unwrap().unwrap();
        assert!(c == a || c == b, "a new thread takes an exited thread's id: {c}, not {a} or {b}");
        assert_eq!(owner_id(), owner_id(), "one id per thread");
    }

    #[test]
    fn a_closer_in_a_forked_child_stops_waiting_for_a_busy_bit_no_thread_will_clear() {
        let ring = Ring::new();
        let pos = ring.enter(); // a push that never ends: its thread "did not survive a fork"
        let start = std::time::Instant::now();
        ring.wait_idle(true);
        assert!(start.elapsed() >= FORKED_WAIT, "gave up after {:?}", start.elapsed());
        assert_eq!(ring.pos.load(Ordering::Relaxed), pos << 1, "busy cleared, position kept");
        ring.wait_idle(false); // idle now: returns at once
    }

    #[test]
    fn a_claimed_entry_not_yet_cleared_is_not_read_as_the_next_lap() {
        let ring = Ring::new();
        for s in 0..RING {
            ring.push_alone(s).unwrap();
        }
        // A taker claimed the first entry and has not cleared it yet.
        ring.taken.store(1, Ordering::Relaxed);
        // Position RING maps onto the same entry, which is still set: the ring is full there.
        let mut out = [0u32; RING as usize];
        assert_eq!(ring.take(&mut out, 1), RING as usize - 1);
        assert_eq!(&out[..RING as usize - 1], &(1..RING).collect::<Vec<_>>()[..]);
        // The stale entry (lap 0) is not valid for position RING (lap 1).
        assert_eq!(ring.take(&mut out, 1), 0);
    }

    #[test]
    fn a_take_needs_its_minimum_and_the_busy_bit_is_set_only_inside_a_push() {
        let ring = Ring::new();
        let mut out = [0u32; 16];
        for s in 10..13 {
            ring.push_alone(s).unwrap();
        }
        assert_eq!(ring.take(&mut out, 4), 0, "three entries are not a batch of four");
        assert_eq!(ring.take(&mut out[..2], 1), 2);
        assert_eq!(&out[..2], [10, 11]);
        let pos = ring.enter();
        assert_eq!(pos, 3);
        assert_ne!(ring.pos.load(Ordering::Relaxed) & BUSY, 0, "busy inside a push");
        ring.leave(pos);
        assert_eq!(ring.pos.load(Ordering::Relaxed), 3 << 1, "idle after it, position kept");
        ring.wait_idle(false);
        assert_eq!(ring.take(&mut out, 1), 1);
        assert_eq!(out[0], 12);
    }
}
