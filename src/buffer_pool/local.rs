//! [`LocalBufferPool`]: a share of the network buffers for one consumer (a result partition,
//! an input gate, a channel's exclusive buffers), with its lock-free stack of idle buffers.
//!
//! **The stack word.** A pool's idle buffers form a Treiber stack linked through the slots'
//! `next` fields. Its head is one `AtomicU64`: bits 0–23 the top slot (index + 1, 0 = empty),
//! bit 24 the *slow* flag, bit 25 *ready* (the inbox wants taking, below), bits 26–63 a tag
//! bumped by every change of top or flag (so a thread that read the head, was preempted, and
//! sees the same top again cannot be fooled: ABA would need 2³⁸ changes in between). *Ready*
//! alone is set and cleared by `fetch_or`/`fetch_and` without a tag: every push and pop keeps
//! it, and a CAS that read the word before it changed fails and retries, while one that finds
//! it back as it read it finds the stack unchanged too. What must hold:
//! - A request pops with one CAS (Acquire: the buffer's contents and `next` written by the
//!   thread that pushed it happen before). A recycle pushes with one CAS (Release) — unless
//!   the slow flag is set, in which case it goes through the state lock.
//! - The slow flag is set (under the lock, by CAS on the same word, so atomically with the
//!   stack's contents) whenever a recycle must not simply push: the pool is *unavailable* (a
//!   requester found it empty and waits: the recycle must fire the notification), above its
//!   size (the buffer must go back to the global pool), or destroyed. Because the flag and the
//!   top share a word, a requester marking the pool unavailable "only if still empty" and a
//!   recycler pushing "only if the flag is clear" cannot both succeed: no lost wake-up.
//! - Idle buffers never sit in the stack of a pool above its size: shrinking sets the flag,
//!   then pops the excess back to the global pool.
//! - **The idle count.** Every push writes the stack's new length into the pushed slot's
//!   `depth` (the top's depth + 1) before its CAS; a slot's depth is not written again until it
//!   is pushed again, so the top's depth is the stack's length. A push reads the head with
//!   Acquire (every change of the head is a read-modify-write, so this synchronises with the
//!   push that put the top there and sees its depth). [`LocalBufferPool::available_buffers`]
//!   reads head, top's depth (Acquire: pairs with the Release store of whichever push wrote it),
//!   head again, and retries unless both heads are equal: if the depth came from a later push
//!   of that slot, the pop before it happened before that push, hence before the second read,
//!   so the tag moved. The answer is the length the stack had at the first read: exact, O(1),
//!   lock-free, and one plain store plus one read of the old top's line per push.
//!
//! **The inbox.** A buffer recycled on the pool's requesting thread (the one that last found
//! the stack empty, a hint in the core) is pushed onto the stack as above. One recycled on
//! another thread goes to the pool's *inbox* instead, so that the recycler does not write the
//! head's line, which the requesting thread writes with every pop: 30 entries (slot index + 1) and
//! one word on two cache lines of their own. The word: bits 0–29 which entries are reserved, bit
//! 30 *closed*, bit 31 *taking*, the rest (32 bits) a tag bumped by every change. What must hold:
//! - A recycler reserves the lowest clear bit with one CAS (`AcqRel`; unless closed: then it takes the
//!   stack's path) and then stores the index into the entry (Release). The reservation is the
//!   moment the buffer is idle again. The recycler does not write the buffer's slot (whose line
//!   stays with the requester, which writes it at every hand-out): whoever takes the entry
//!   counts the recycle on the slot (`take_entry`), and the stats count a buffer waiting in an
//!   inbox as recycled and idle meanwhile (`for_each_inboxed`). So a slot's `requests` equals
//!   its `recycles` whenever it is on a stack, as a hand-out asserts.
//! - Taking the inbox: set *taking* (one CAS, only if not closed, not taken by another and not
//!   empty), read each reserved entry (Acquire; a reservation whose index is not written yet is
//!   waited for) and clear it, then clear the bits taken at once (one `fetch_add` that also
//!   bumps the tag; Release, so the entries' clearing happens before anyone reserves them
//!   again), so that recyclers find room while the taker links; push the buffers onto the stack
//!   as one chain (its links and depths written first, then one CAS on the head, as a push of
//!   one), and only then clear *taking* (Release). Only the holder of *taking* clears bits.
//!   Bits reserved meanwhile stay for the next taker — unless the inbox was closed meanwhile:
//!   then they are taken as well. If the stack's slow flag was set meanwhile, the stack refuses
//!   the chain and its buffers go through the lock one by one, as recycles, before *taking* is
//!   cleared. Between the bits' clearing and the push the buffers are in neither place: the
//!   idle count waits while *taking* is set, so it never misses them nor counts them twice.
//! - Who takes: the requester, mostly. The recycler that reserves entry `INBOX_MARK - 1` (the
//!   inbox half full) sets *ready* on the stack word (`fetch_or`, Release: one transfer of the
//!   head's line per ~15 buffers); a request's pop tests it with the emptiness test (one
//!   compare) and, seeing it, clears it (`fetch_and`, Acquire, *before* reading the inbox word,
//!   so a recycler that reaches the mark afterwards sets it again: no signal lost) and takes the
//!   inbox, keeping one buffer. So the slots' lines and the head's stay with the requester,
//!   which writes them anyway. *Ready* is a hint: a request that finds the inbox being taken or
//!   empty pops the stack as usual. A recycler that finds the inbox full and not being taken
//!   takes it itself, its own buffer on top of the chain; a requester whose stack is empty
//!   takes it too.
//! - *Closed* is set, under the state lock, before the stack's slow flag is set or a requester
//!   marks the pool unavailable; whatever the inbox holds is moved onto the stack then (or, if
//!   a requester is taking it, by that requester, whose pushes see the slow flag and go
//!   through the lock). So the slow flag set means the inbox is closed and holds nothing that
//!   will not reach the stack or the lock, and "mark unavailable only if empty" still cannot
//!   succeed while a recycled buffer sits where no requester looks: no lost wake-up, and
//!   destroying or shrinking a pool accounts for every buffer. The inbox is opened again
//!   whenever the slow flag is cleared.
//! - [`LocalBufferPool::available_buffers`] is the stack's count plus the inbox's reserved
//!   bits, read between two reads of the inbox word that must be equal and not *taking* (a
//!   taker's buffers are in neither place): a move between inbox and stack changes the word,
//!   so the sum is the pool's idle count at the moment the stack was read. A non-blocking
//!   request, though, does not wait for a taker: one that finds the stack empty while another
//!   thread is taking the inbox answers "nothing now" (as it would had the other thread popped
//!   those buffers); a blocking one marks the pool unavailable, and the taker's buffers then
//!   reach the stack through the lock and wake it.
//!
//! **The lane.** While a [`BufferRequester`] is attached, a recycle on another thread tries the
//! pool's *lane* (`lane.rs`, whose module docs state its protocol) before the inbox: the
//! recycling thread's owned ring (plain stores; `ring.rs`), else two shared halves of [`HALF`]
//! entries, taken in batches by the requester with one CAS. The lane is one more
//! place of the conservation invariant, kept like the inbox: closed, and what it holds moved
//! onto the stack, before the inbox is closed (so before the slow flag is set, and before a
//! requester marks the pool unavailable); opened again with the inbox while a requester is
//! attached; added to the idle count between the same two reads (which wait while a half is
//! being moved); and counted by the stats as recycled and idle (`for_each_inboxed`). What a
//! requester took from it is in use, counted on the slots at the take.
//!
//! Nothing on the request or recycle fast path takes a lock, allocates, or touches a counter
//! shared between threads; the buffer's own slot line carries its stats counters, written by
//! the thread that holds or takes the buffer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use numa::NodeId;

use super::availability::{self, Cancellation, Interrupted};
use super::buffer::Buffer;
use super::lane::{HALF, Lane};
use super::requester::BufferRequester;
use super::stats::LocalPoolStats;
use super::{Shared, Slot};
use crate::error::BufferPoolError;
use crate::sync::Arc;
use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::sync::stat::Hint;
use crate::zero::ZeroMode;

const TOP_MASK: u64 = (1 << 24) - 1;
const SLOW: u64 = 1 << 24;
/// The stack word: a recycler filled the inbox up to [`INBOX_MARK`], so the next request takes
/// it (a hint: see the module docs, *The inbox*).
const READY: u64 = 1 << 25;
const TAG_ONE: u64 = 1 << 26;

/// Entries of a pool's inbox: its word and the entries fill two cache lines (with 14 on one
/// line, flushed twice as often, the one-at-a-time row ran about 10–15 % slower:
/// docs/BENCHMARKS.md, *Fourth look*). Two under loom, so that the models reach a full inbox
/// (the recycler's flush) with three buffers.
#[cfg(not(loom))]
const INBOX: usize = 30;
#[cfg(loom)]
const INBOX: usize = 2;
/// The recycler that reserves this many-th entry (index `INBOX_MARK - 1`) sets [`READY`] on the
/// stack word, so that the requester takes the inbox long before it is full.
#[expect(clippy::cast_possible_truncation, reason = "at most 15")]
const INBOX_MARK: u32 = INBOX.div_ceil(2) as u32;
/// Inbox word: bit `i` set = entry `i` reserved by a recycler (its index written, or about to be).
const IN_FULL: u64 = (1 << INBOX) - 1;
/// Inbox word: recyclers may not reserve (the stack's slow flag is set, or is being set).
const IN_CLOSED: u64 = 1 << INBOX;
/// Inbox word: a thread is moving the reserved entries onto the stack.
const IN_TAKING: u64 = 1 << (INBOX + 1);
const IN_TAG_ONE: u64 = 1 << (INBOX + 2);
const IN_TAG_MASK: u64 = !(IN_TAG_ONE - 1);

/// The next inbox word: tag bumped, the rest as given.
#[inline]
fn in_next(word: u64, rest: u64) -> u64 {
    (word & IN_TAG_MASK).wrapping_add(IN_TAG_ONE) | rest
}

/// A token of the calling thread: a number no other thread of the process ever had (taken from
/// a counter at the thread's first use), and even (bit 0 is [`ON_RELEASE`]'s). Only ever
/// compared with `PoolCore::requester`. Not the address of a thread-local: a thread started
/// after another ended may get the same address, and a recycler that inherited a requester's
/// token took the requester's path (onto the stack, the head's line crossing with every
/// buffer) until the requester next found its stack empty, which in a steady hand-off never
/// comes (docs/BENCHMARKS.md, *Sixth pass*). Under loom, too, a model must behave the same in
/// every execution, whatever the allocator did in earlier ones.
#[inline(always)]
pub(crate) fn thread_token() -> u64 {
    TOKEN.with(|t| {
        let token = t.get();
        if token != 0 { token } else { new_thread_token(t) }
    })
}

/// The calling thread's first [`thread_token`], kept in its `TOKEN`: the next even number.
#[cold]
#[inline(never)]
fn new_thread_token(cell: &std::cell::Cell<u64>) -> u64 {
    static NEXT: crate::sync::stat::Ids = crate::sync::stat::Ids::new(1);
    let token = NEXT.next() * 2;
    cell.set(token);
    token
}

#[cfg(not(loom))]
crate::sync::thread_local! {
    /// The thread's [`thread_token`], 0 until its first use.
    static TOKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[cfg(loom)]
crate::sync::thread_local! {
    static TOKEN: std::cell::Cell<u64> = std::cell::Cell::new(0);
}

/// Set in `PoolCore::requester` beside the requesting thread's token under
/// `NUMASEG_ZERO=on-release`, so that the recycle's one test of the hint (`!= thread_token()`)
/// also sends every recycle of such a pool to the out-of-line path, which clears.
const ON_RELEASE: u64 = 1;

/// A pool's inbox: where buffers recycled on a thread other than the one that took them out
/// go, so that the recycler does not write the stack's head line, which the requester owns.
/// Kept on cache lines of its own (see the module docs, *The inbox*).
#[repr(align(64))]
struct Inbox {
    word: AtomicU64,
    /// Slot index + 1 of a reserved entry once written, 0 otherwise.
    entries: [AtomicU32; INBOX],
}

impl Inbox {
    fn new() -> Self {
        Self { word: AtomicU64::new(0), entries: std::array::from_fn(|_| AtomicU32::new(0)) }
    }

    /// Reads and clears the entry at `pos` (reserved by a recycler that may still be writing
    /// it), for the thread that holds `IN_TAKING`, and counts the buffer's recycle on its slot
    /// (the recycler left its slot's line alone: see the module docs, *The inbox*).
    fn take_entry(&self, slots: &[Slot], pos: u32) -> u32 {
        let e = &self.entries[pos as usize];
        let mut spins = 0;
        loop {
            // Acquire: pairs with the recycler's Release store, so the buffer's contents and
            // bookkeeping written before it are visible.
            let v = e.load(Ordering::Acquire);
            if v != 0 {
                // Relaxed: published to the next recycler of this entry by the Release of the
                // word's update that clears its bit.
                e.store(0, Ordering::Relaxed);
                // The taker holds the buffer exclusively now (the only writer of its counter).
                slots[v as usize - 1].recycles.bump(1);
                return v - 1;
            }
            back_off(&mut spins);
        }
    }
}

/// One wait for another thread's short step (a recycler between its reservation and its store,
/// a taker between setting and clearing *taking*): a spin, and after 64 a yield, so that a
/// waiter whose peer was preempted in that step lets it run instead of burning its time slice.
pub(crate) fn back_off(spins: &mut u32) {
    if *spins < 64 {
        *spins += 1;
        crate::sync::hint::spin_loop();
    } else {
        crate::sync::thread::yield_now();
    }
}

/// The next head word: tag bumped, [`READY`] kept, `top` and `slow` as given. (The tag is the
/// bits above `READY`: adding `TAG_ONE` carries only upwards, out of bit 63 when it wraps.)
#[inline]
fn next_word(word: u64, top: u64, slow: u64) -> u64 {
    (word & !(TOP_MASK | SLOW)).wrapping_add(TAG_ONE) | top | slow
}

/// The part of a local pool that buffers point to: the stack and what a buffer needs to come
/// back. Kept alive by its record in the global state (see `mod.rs`) while any of its buffers
/// is in hands.
pub(crate) struct PoolCore {
    /// The idle stack's head word, on a cache line of its own: pools are created one after
    /// another, and with two pools' heads on one line every request and recycle of one pool's
    /// thread would take the line away from the other's.
    head: CachePadded<AtomicU64>,
    /// Buffers recycled on another thread than their requester's (see the module docs).
    inbox: Inbox,
    /// Buffers recycled on other threads for a [`BufferRequester`] (see `lane.rs`), tried
    /// before the inbox; closed while no requester is attached.
    lane: Lane,
    /// Unique over the network pool's life; 0 is the global pool.
    pub(crate) id: u64,
    /// Index of its record in the state table.
    pub(crate) index: usize,
    /// Bytes a writer may put into a new buffer (≤ `capacity`): a new buffer's limit as it is.
    writable: AtomicU32,
    /// The buffer size as a buffer reports it, copied at creation: [`Buffer::capacity`] and
    /// the bounds checks read it here, instead of through `shared`, and `set_writable_size`
    /// clamps to it.
    pub(crate) capacity: u32,
    /// The thread ([`thread_token`]) that last found the stack empty and took the cold path
    /// of a request: a recycle on that thread pushes onto the stack, one on any other goes to
    /// the inbox. A hint, written when it changes: either path is correct for any buffer, and
    /// a requesting thread that is not the one named finds its stack empty sooner or later
    /// (its recycles fill the inbox) and names itself. Under isolation on release it carries
    /// [`ON_RELEASE`] too, so that no recycle takes the fast path, which does not clear.
    requester: Hint,
    /// `shared.zero`, copied at creation: the request and the recycle test it on this line,
    /// which they read anyway (`requester`, `writable`, `shared`), instead of through `shared`.
    zero: ZeroMode,
    pub(crate) shared: Arc<Shared>,
}

impl PoolCore {
    pub(crate) fn new(id: u64, index: usize, shared: Arc<Shared>) -> Self {
        let capacity = u32::try_from(shared.buffer_size).unwrap_or(u32::MAX);
        Self {
            head: CachePadded::new(AtomicU64::new(0)),
            inbox: Inbox::new(),
            lane: Lane::new(),
            id,
            index,
            writable: AtomicU32::new(capacity),
            capacity,
            requester: Hint::new(0),
            zero: shared.zero,
            shared,
        }
    }

    /// Pops an idle buffer (any thread, no lock), whatever [`READY`] says.
    #[inline]
    pub(crate) fn pop(&self, slots: &[Slot]) -> Option<u32> {
        self.pop_slot::<false>(slots).map(|(index, _)| index)
    }

    /// [`Self::pop`] for a [`BufferRequester`], its hand-out counted (the requester builds the
    /// handle with [`Self::hand_out_held`]): `None` when the stack is empty or [`READY`] is set
    /// too (the caller takes the inbox first).
    #[inline(always)]
    pub(crate) fn pop_counted_unless_ready(&self) -> Option<u32> {
        let (slot, s) = self.pop_slot::<true>(&self.shared.slots)?;
        Self::count_hand_out(slot, s);
        Some(slot)
    }

    /// [`Self::pop`], with the slot it took (looked up once for the caller too). With
    /// `STOP_AT_READY`, also `None` when [`READY`] is set: the caller takes the inbox first.
    #[inline(always)]
    fn pop_slot<'s, const STOP_AT_READY: bool>(&self, slots: &'s [Slot]) -> Option<(u32, &'s Slot)> {
        let stop = if STOP_AT_READY { TOP_MASK | READY } else { TOP_MASK };
        // Acquire: pairs with the Release of the push that put the top there, so its `next`
        // and the buffer's contents are visible.
        let mut word = self.head.load(Ordering::Acquire);
        loop {
            // The top's index, which wraps to at least `TOP_MASK` when the stack is empty (or
            // `READY` is set and stops): one test for both.
            let index = (word & stop).wrapping_sub(1);
            if index >= TOP_MASK {
                return None;
            }
            #[expect(clippy::cast_possible_truncation, reason = "a 24-bit index")]
            let index = index as usize;
            let s = &slots[index];
            // Relaxed: ordered by the Acquire above. If another thread pops this slot first,
            // the value may be stale, and the CAS fails because the tag moved.
            let next = u64::from(s.next.load(Ordering::Relaxed));
            match self.head.compare_exchange_weak(
                word,
                next_word(word, next, word & SLOW),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                #[expect(clippy::cast_possible_truncation, reason = "a 24-bit index")]
                Ok(_) => return Some((index as u32, s)),
                Err(w) => word = w,
            }
        }
    }

    /// Writes `slot`'s link and depth for a push onto the stack of `word`.
    #[inline]
    fn link(slots: &[Slot], slot: u32, word: u64) {
        Self::link_slot(slots, &slots[slot as usize], word);
    }

    /// [`Self::link`] for a slot already looked up.
    #[inline(always)]
    fn link_slot(slots: &[Slot], s: &Slot, word: u64) {
        let top = (word & TOP_MASK) as u32;
        // Relaxed: `word` was read with Acquire, which made the top's depth visible; if the top
        // changed since, the CAS fails and this is redone.
        let depth = if top == 0 { 1 } else { slots[top as usize - 1].depth.load(Ordering::Relaxed) + 1 };
        s.next.store(top, Ordering::Relaxed);
        // Release: pairs with the Acquire in `idle` (see the module docs).
        s.depth.store(depth, Ordering::Release);
    }

    /// Calls `f` with each buffer waiting in the inbox or the lane (stats only: a relaxed scan,
    /// exact when no thread is recycling or taking). Their recycles are not counted on their
    /// slots yet.
    pub(crate) fn for_each_inboxed(&self, mut f: impl FnMut(u32)) {
        for e in &self.inbox.entries {
            let v = e.load(Ordering::Relaxed);
            if v != 0 {
                f(v - 1);
            }
        }
        self.lane.for_each(f);
    }

    /// The number of idle buffers, in the stack, the inbox and the lane, as it was at one moment
    /// (see the module docs, and `lane.rs`).
    pub(crate) fn idle(&self, slots: &[Slot]) -> usize {
        let mut spins = 0;
        loop {
            // Acquire: a taker's first update (setting `IN_TAKING`) happens before its pushes,
            // so if the stack read below sees one of them, the second read sees that update.
            // The same for a lane's closer and its *moving* bit.
            let before = self.inbox.word.load(Ordering::Acquire);
            let lane = self.lane.words();
            let Some(lane) = lane.filter(|_| before & IN_TAKING == 0) else {
                // Buffers on their way from the inbox or the lane to the stack: counted in
                // neither place yet, or in both.
                back_off(&mut spins);
                continue;
            };
            let stacked = self.stacked(slots);
            if self.inbox.word.load(Ordering::Acquire) == before && self.lane.words() == Some(lane) {
                return stacked + (before & IN_FULL).count_ones() as usize + Lane::count(lane);
            }
        }
    }

    /// The number of idle buffers in the stack, as it was at one moment (see the module docs).
    fn stacked(&self, slots: &[Slot]) -> usize {
        loop {
            // Acquire: sees the depth written by the push that put the top there.
            let word = self.head.load(Ordering::Acquire);
            let top = (word & TOP_MASK) as usize;
            if top == 0 {
                return 0;
            }
            // Acquire: if this reads a later push's depth, the pop before that push happened
            // before the load below, so the head it reads differs.
            let depth = slots[top - 1].depth.load(Ordering::Acquire);
            if self.head.load(Ordering::Relaxed) == word {
                return depth as usize;
            }
            crate::sync::hint::spin_loop();
        }
    }

    /// Puts a buffer into the inbox (`Some`), unless it is closed or another thread is taking
    /// it while it is full (`None`: push onto the stack). A full inbox is flushed onto the
    /// stack with this buffer, as one chain. `Some(Some(core))`: as [`recycle`].
    #[inline]
    fn try_inbox(&self, slot: u32) -> Option<Option<Arc<PoolCore>>> {
        let inbox = &self.inbox;
        let mut word = inbox.word.load(Ordering::Relaxed);
        loop {
            let free = !word & IN_FULL;
            if word & IN_CLOSED != 0 {
                return None;
            }
            if free == 0 {
                return self.flush_inbox(slot, word);
            }
            let pos = free.trailing_zeros();
            // Acquire: pairs with the Release of the update that cleared the bit, so the
            // taker's read and clearing of the entry happen before the store below. Release:
            // an idle count that sees this reservation must also see the pop that took the
            // buffer off the stack before it reached this thread, or it counts the buffer on
            // the stack and in the inbox at once (the lane's models found this for the lane's
            // reservation, which works the same way: docs/BENCHMARKS.md, *Ninth pass*).
            match inbox.word.compare_exchange_weak(
                word,
                in_next(word, (word & !IN_TAG_MASK) | 1 << pos),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // Release: publishes the buffer's contents and bookkeeping to the taker.
                    inbox.entries[pos as usize].store(slot + 1, Ordering::Release);
                    if pos + 1 == INBOX_MARK {
                        // Half full: tell the requester, whose next request takes the inbox.
                        // Release: pairs with the Acquire of its clearing, so that it sees
                        // this reservation when it reads the inbox word then.
                        self.head.fetch_or(READY, Ordering::Release);
                    }
                    return Some(None);
                }
                Err(w) => word = w,
            }
        }
    }

    /// A recycler that found the inbox full: takes it and pushes its buffers and `slot` onto
    /// the stack as one chain (one CAS on the head for all of them). `None` if another thread
    /// is taking it or it was closed (push onto the stack).
    #[cold]
    #[inline(never)]
    fn flush_inbox(&self, slot: u32, word: u64) -> Option<Option<Arc<PoolCore>>> {
        let word = self.start_taking(word)?;
        // Its own buffer is not in the inbox: counted here, on the line the chain writes anyway.
        self.shared.slots[slot as usize].recycles.bump(1);
        Some(self.drain(word & IN_FULL, Some(slot), None))
    }

    /// Sets *taking* unless the inbox is closed, being taken, or empty; returns the word it
    /// replaced.
    fn start_taking(&self, mut word: u64) -> Option<u64> {
        loop {
            if word & IN_FULL == 0 || word & (IN_CLOSED | IN_TAKING) != 0 {
                return None;
            }
            // Acquire: pairs with the reservations' updates (the entries are then read with
            // Acquire, see `take_entry`).
            match self.inbox.word.compare_exchange_weak(
                word,
                in_next(word, (word & !IN_TAG_MASK) | IN_TAKING),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(word),
                Err(w) => word = w,
            }
        }
    }

    /// Moves the entries of `bits` (this thread set *taking*) onto the stack, as one chain
    /// after `first` if given, keeping the first entry for `keep` if given. The entries are
    /// read and cleared, and their bits cleared (Release, so that the entries' clearing happens
    /// before anyone reserves them again), *before* the chain is linked and pushed: recyclers
    /// find room meanwhile. Bits reserved meanwhile stay, unless the inbox was closed
    /// meanwhile: those are taken too. Buffers the stack refuses (its slow flag was set
    /// meanwhile) go through the lock. *Taking* is cleared last: until then the idle count
    /// waits, since the buffers taken are neither in the inbox nor on the stack. Returns what
    /// [`recycle`] does for the last of them.
    fn drain(&self, mut bits: u64, first: Option<u32>, mut keep: Option<&mut Option<u32>>) -> Option<Arc<PoolCore>> {
        let inbox = &self.inbox;
        let slots = &self.shared.slots;
        let mut last = None;
        let mut first = first;
        loop {
            let mut chain = [0u32; INBOX + 1];
            let mut n = 0;
            if let Some(f) = first.take() {
                chain[0] = f;
                n = 1;
            }
            let taken = bits;
            while bits != 0 {
                let pos = bits.trailing_zeros();
                bits &= bits - 1;
                let slot = inbox.take_entry(slots, pos);
                match keep.as_deref_mut() {
                    Some(k) if k.is_none() => *k = Some(slot),
                    _ => {
                        chain[n] = slot;
                        n += 1;
                    }
                }
            }
            // Only the holder of *taking* clears bits, so `taken` is set in the word:
            // subtracting it clears exactly those, and the tag moves. Release: as above.
            inbox.word.fetch_add(IN_TAG_ONE.wrapping_sub(taken), Ordering::Release);
            if n > 0 && !self.try_push_chain(slots, &chain[..n]) {
                // Through the lock (which no thread holds while waiting for *taking* to clear),
                // one by one as recycles; it may close or open the inbox meanwhile, which the
                // read of the word below sees.
                for &slot in &chain[..n] {
                    if let Some(core) = self.shared.recycle_slow(self, slot) {
                        last = Some(core);
                    }
                }
            }
            let mut current = inbox.word.load(Ordering::Relaxed);
            loop {
                let rest = current & IN_FULL;
                if current & IN_CLOSED != 0 && rest != 0 {
                    bits = rest; // closed while we took: the closer left the rest to us
                    break;
                }
                // Release: the pushes (or recycles) happen before the idle count stops waiting.
                match inbox.word.compare_exchange_weak(
                    current,
                    in_next(current, current & !IN_TAG_MASK & !IN_TAKING),
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return last,
                    Err(w) => current = w,
                }
            }
        }
    }

    /// Pushes `chain` (its first slot the new top) onto the stack with one CAS, unless the
    /// slow flag is set (then returns false: take the lock).
    fn try_push_chain(&self, slots: &[Slot], chain: &[u32]) -> bool {
        let n = chain.len();
        // Acquire: the top's depth (see `link`).
        let mut word = self.head.load(Ordering::Acquire);
        loop {
            if word & SLOW != 0 {
                return false;
            }
            let top = (word & TOP_MASK) as u32;
            // Relaxed: as in `link`.
            let base = if top == 0 { 0 } else { slots[top as usize - 1].depth.load(Ordering::Relaxed) };
            for (i, &slot) in chain.iter().enumerate() {
                let s = &slots[slot as usize];
                s.next.store(chain.get(i + 1).map_or(top, |&below| below + 1), Ordering::Relaxed);
                #[expect(clippy::cast_possible_truncation, reason = "at most 31 slots")]
                // Release: pairs with the Acquire in `idle` (see the module docs).
                s.depth.store(base + (n - i) as u32, Ordering::Release);
            }
            // Release: publishes the links, depths and the buffers' contents to the poppers.
            match self.head.compare_exchange_weak(
                word,
                next_word(word, u64::from(chain[0]) + 1, 0),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(w) => word = w,
            }
        }
    }

    /// A requester whose stack is empty, or that saw [`READY`]: clears `READY`, takes the
    /// inbox's buffers (no lock), keeps one and pushes the others onto the stack. `None` when
    /// the inbox is empty, closed, or another thread is taking it.
    #[cold]
    #[inline(never)]
    pub(crate) fn take_inbox(&self) -> Option<u32> {
        self.note_requester();
        if self.head.load(Ordering::Relaxed) & READY != 0 {
            // Acquire: pairs with the Release of the recycler that set it, so the inbox word
            // read below shows its reservation. Cleared before that read: a recycler that
            // reaches the mark after it sets the flag again, and no signal is lost.
            self.head.fetch_and(!READY, Ordering::Acquire);
        }
        let word = self.start_taking(self.inbox.word.load(Ordering::Relaxed))?;
        let mut got = None;
        // The caller holds an `Arc` of the core: dropping one here cannot be the last.
        drop(self.drain(word & IN_FULL, None, Some(&mut got)));
        got
    }

    /// Closes the inbox and moves what it holds onto the stack (state lock held): from now on
    /// recyclers push onto the stack, where the slow flag is seen. If another thread is taking
    /// the inbox, it moves what is left itself (it sees the flag).
    fn close_inbox(&self, slots: &[Slot]) {
        let inbox = &self.inbox;
        let mut word = inbox.word.load(Ordering::Relaxed);
        loop {
            if word & IN_CLOSED != 0 && word & IN_TAKING != 0 {
                return; // the taker moves the rest
            }
            let take = word & IN_TAKING == 0 && word & IN_FULL != 0;
            if word & IN_CLOSED != 0 && !take {
                return;
            }
            let flags = IN_CLOSED | if take { IN_TAKING } else { 0 };
            // Acquire: as in `start_taking`.
            match inbox.word.compare_exchange_weak(
                word,
                in_next(word, (word & !IN_TAG_MASK) | flags),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) if take => break,
                Ok(_) => return,
                Err(w) => word = w,
            }
        }
        let mut mine = word & IN_FULL;
        while mine != 0 {
            let pos = mine.trailing_zeros();
            mine &= mine - 1;
            let slot = inbox.take_entry(slots, pos);
            self.push_locked(slots, slot);
        }
        // Closed: nobody reserved meanwhile, and nobody else takes while `IN_TAKING` is set;
        // only readers load the word meanwhile. (A read-modify-write all the same, as every
        // other change of the word: loom's model of an atomic mixing plain stores with them
        // trips its own assertion, tokio-rs/loom#252.) Release: as in `drain`.
        let mut word = inbox.word.load(Ordering::Relaxed);
        while let Err(w) =
            inbox.word.compare_exchange_weak(word, in_next(word, IN_CLOSED), Ordering::Release, Ordering::Relaxed)
        {
            word = w;
        }
    }

    /// Opens the inbox again (state lock held; the stack's slow flag is clear).
    fn open_inbox(&self) {
        let inbox = &self.inbox;
        let mut word = inbox.word.load(Ordering::Relaxed);
        while word & IN_CLOSED != 0 {
            match inbox.word.compare_exchange_weak(
                word,
                in_next(word, word & !IN_TAG_MASK & !IN_CLOSED),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(w) => word = w,
            }
        }
    }

    /// Pushes a buffer unless the slow flag is set (then returns false: take the lock).
    #[inline]
    pub(crate) fn try_push(&self, slots: &[Slot], slot: u32) -> bool {
        self.try_push_slot(slots, slot, &slots[slot as usize])
    }

    /// [`Self::try_push`] for a slot already looked up (`s` is `slots[slot]`).
    #[inline(always)]
    fn try_push_slot(&self, slots: &[Slot], slot: u32, s: &Slot) -> bool {
        // Acquire: the top's depth (see `link`).
        let mut word = self.head.load(Ordering::Acquire);
        loop {
            if word & SLOW != 0 {
                return false;
            }
            Self::link_slot(slots, s, word);
            // Release: publishes `next`, `depth` and the buffer's contents to the next popper.
            match self.head.compare_exchange_weak(
                word,
                next_word(word, u64::from(slot) + 1, 0),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(w) => word = w,
            }
        }
    }

    /// Pushes whatever the flag (the state lock is held; the flag is kept).
    pub(crate) fn push_locked(&self, slots: &[Slot], slot: u32) {
        // Acquire: the top's depth (see `link`).
        let mut word = self.head.load(Ordering::Acquire);
        loop {
            Self::link(slots, slot, word);
            match self.head.compare_exchange_weak(
                word,
                next_word(word, u64::from(slot) + 1, word & SLOW),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(w) => word = w,
            }
        }
    }

    /// Sets or clears the slow flag, keeping the stack (state lock held).
    pub(crate) fn set_slow(&self, on: bool) {
        let flag = if on { SLOW } else { 0 };
        if on {
            // First, so that no buffer waits in the lane or the inbox of a pool whose recycles
            // must take the lock (shrinking pops what it moved).
            self.close_lane();
            self.close_inbox(&self.shared.slots);
        }
        let mut word = self.head.load(Ordering::Relaxed);
        while word & SLOW != flag {
            // AcqRel: a CAS on the head like the pushes and pops it orders against.
            match self.head.compare_exchange_weak(
                word,
                next_word(word, word & TOP_MASK, flag),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(w) => word = w,
            }
        }
        if !on {
            self.open_inbox();
            self.open_lane();
        }
    }

    /// Closes the lane and moves what it holds onto the stack (state lock held; see
    /// `lane.rs`). With no requester attached the lane is already closed and empty, and this
    /// writes nothing (see `lane.rs`).
    fn close_lane(&self) {
        if self.lane.users() == 0 {
            return;
        }
        let slots = &self.shared.slots;
        self.lane.close(|slot| {
            // Its recycler left the count to the taker (see `lane.rs`).
            slots[slot as usize].recycles.bump(1);
            self.push_locked(slots, slot);
        });
    }

    /// Opens the lane if a requester is attached (state lock held, slow flag clear).
    fn open_lane(&self) {
        if self.lane.users() > 0 {
            self.lane.open();
        }
    }

    /// Counts a [`BufferRequester`] in (state lock held); its lane opens if `open` (the pool
    /// is live and its slow flag clear).
    pub(crate) fn attach_requester(&self, open: bool) {
        self.lane.set_users(self.lane.users() + 1);
        if open {
            self.lane.open();
        }
    }

    /// Counts a [`BufferRequester`] out (state lock held); the last one closes the lane.
    pub(crate) fn detach_requester(&self) {
        let users = self.lane.users();
        if users == 1 {
            // While still counted: `close_lane` skips a lane without users.
            self.close_lane();
        }
        self.lane.set_users(users - 1);
    }

    /// Whether the slow flag is set (a relaxed read: a requester's test of when to give back
    /// what it holds).
    #[inline(always)]
    pub(crate) fn is_slow(&self) -> bool {
        self.head.load(Ordering::Relaxed) & SLOW != 0
    }

    /// Names the calling thread the pool's requesting one (see `requester`), if it is not.
    #[inline]
    pub(crate) fn note_requester(&self) {
        let me = thread_token() | if self.zero == ZeroMode::OnRelease { ON_RELEASE } else { 0 };
        if self.requester.get() != me {
            self.requester.set(me);
        }
    }

    /// Takes a batch of the lane (an owned ring's or a half's; full only, if `full`) for a
    /// [`BufferRequester`], counting
    /// each buffer's recycle (left by its recycler) and its hand-out on its slot: from here
    /// they are in use. Returns how many (`out[..n]`). Inlined into the requester's refill
    /// and its partial take (`partial_or_pool`): the call and its saved registers cost a failed
    /// take (the lane empty, the stack next) about 20 instructions (docs/BENCHMARKS.md,
    /// *Eleventh pass*).
    #[inline(always)]
    pub(crate) fn take_lane(&self, out: &mut [u32; HALF], full: bool) -> usize {
        let n = self.lane.take(out, full);
        // The slice, not the `Box`: its pointer and length stay in registers across the
        // counters' stores (as in `recycle_plain`).
        let slots: &[Slot] = &self.shared.slots;
        for &slot in &out[..n] {
            let s = &slots[slot as usize];
            s.recycles.bump(1);
            s.requests.bump(1);
        }
        n
    }

    /// A buffer handle for a slot a [`BufferRequester`] held (its hand-out already counted),
    /// cleared first under `NUMASEG_ZERO=on-allocate` unless `cleared` (the pool's own path
    /// handed it out).
    #[inline(always)]
    pub(crate) fn hand_out_held(&self, slot: u32, cleared: bool) -> Buffer {
        let s = &self.shared.slots[slot as usize];
        if self.zero == ZeroMode::OnAllocate && !cleared {
            clear(s.addr, self.shared.buffer_size);
        }
        debug_assert_eq!(s.requests.get(), s.recycles.get() + 1, "buffer {slot} held ahead miscounted");
        // SAFETY: the requester took `slot` from this pool and holds it exclusively.
        unsafe { self.buffer_for(slot, s) }
    }

    /// Sets the slow flag if the stack is empty (true), else leaves everything (false). The
    /// state lock is held.
    pub(crate) fn mark_unavailable_if_empty(&self) -> bool {
        // The lane and the inbox count as part of the stack: closed and emptied onto it
        // first, so that a recycle after this point sees the flag (or makes the stack
        // non-empty).
        self.close_lane();
        self.close_inbox(&self.shared.slots);
        let mut word = self.head.load(Ordering::Acquire);
        loop {
            if word & TOP_MASK != 0 {
                if word & SLOW == 0 {
                    self.open_inbox();
                    self.open_lane();
                }
                return false;
            }
            if word & SLOW != 0 {
                return true;
            }
            match self.head.compare_exchange_weak(word, next_word(word, 0, SLOW), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(w) => word = w,
            }
        }
    }

    /// A buffer handle for a slot just taken, cleared first under `NUMASEG_ZERO=on-allocate`.
    #[inline]
    pub(crate) fn hand_out(&self, slot: u32) -> Buffer {
        if self.zero == ZeroMode::OnAllocate {
            clear(self.shared.slots[slot as usize].addr, self.shared.buffer_size);
        }
        self.hand_out_plain(slot)
    }

    /// A buffer handle for a slot just taken, for a caller that has dealt with isolation.
    #[inline(always)]
    fn hand_out_plain(&self, slot: u32) -> Buffer {
        self.hand_out_slot(slot, &self.shared.slots[slot as usize])
    }

    /// [`Self::hand_out_plain`] for a slot already looked up (`s` is its `Slot`).
    #[inline(always)]
    fn hand_out_slot(&self, slot: u32, s: &Slot) -> Buffer {
        Self::count_hand_out(slot, s);
        // SAFETY: `slot` was just taken from this pool, so the caller holds it exclusively.
        unsafe { self.buffer_for(slot, s) }
    }

    /// Counts the hand-out of `slot` (`s` is its `Slot`), just taken from this pool.
    #[inline(always)]
    fn count_hand_out(slot: u32, s: &Slot) {
        debug_assert_eq!(s.requests.get(), s.recycles.get(), "buffer {slot} handed out while in someone's hands");
        s.requests.bump(1);
    }

    /// The handle for `slot` (`s` is its `Slot`): the construction both hand-outs share. It
    /// counts nothing; the caller has counted the hand-out already.
    ///
    /// # Safety
    /// The caller took `slot` from this pool, counted its hand-out, and holds it exclusively;
    /// `s` is its `Slot`.
    #[inline(always)]
    unsafe fn buffer_for(&self, slot: u32, s: &Slot) -> Buffer {
        let limit = self.writable.load(Ordering::Relaxed);
        // SAFETY: the caller holds `slot` exclusively (this function's contract), a slot below
        // `MAX_BUFFERS < 2^31`, its segment starts at `s.addr` with `self.capacity` bytes
        // (`limit ≤ capacity`: `set_writable_size` clamps it), and the pool's record (hence `self`)
        // lives until the buffer is recycled.
        unsafe { Buffer::from_slot(NonNull::from(self), slot, s.addr, limit) }
    }
}

/// Clears a buffer's whole segment (isolation), out of line: the paths above only test the mode.
#[cold]
#[inline(never)]
fn clear(addr: usize, len: usize) {
    // SAFETY: the caller holds the buffer exclusively (it is being handed out, or its last
    // handle is recycling it), and its segment is `len` bytes at `addr`, exposed when carved.
    unsafe { crate::zero::zero_raw(std::ptr::with_exposed_provenance_mut(addr), len) };
}

/// Gives a buffer back to its pool: the lock-free push, else the slow path. Returns the core
/// of a destroyed pool whose last buffer this was; the caller drops it after every reference
/// into the pool is gone.
///
/// # Safety
/// - `core` points to the live core of the pool `slot` belongs to, and the caller holds the
///   buffer exclusively (it is the last handle).
#[inline]
pub(crate) unsafe fn recycle(core: NonNull<PoolCore>, slot: u32) -> Option<Arc<PoolCore>> {
    // SAFETY: the caller's duty: a buffer in hands keeps its pool's record, hence its core.
    let core = unsafe { core.as_ref() };
    if core.requester.get() != thread_token() {
        // Not the pool's requesting thread (see the module docs, *The inbox*), or isolation on
        // release (the hint then never equals a token: `ON_RELEASE`). A tail call, so the fast
        // path below keeps its registers.
        return recycle_elsewhere(core, slot);
    }
    recycle_plain(core, slot)
}

#[inline(always)]
fn recycle_plain(core: &PoolCore, slot: u32) -> Option<Arc<PoolCore>> {
    // The slice, not the `Box`: its pointer and length stay in registers across the counter's
    // store below, which the compiler would otherwise assume may change the box.
    let slots: &[Slot] = &core.shared.slots;
    let s = &slots[slot as usize];
    s.recycles.bump(1);
    if core.try_push_slot(slots, slot, s) {
        return None;
    }
    core.shared.recycle_slow(core, slot)
}

/// A recycle on another thread than the pool's requesting one, or any recycle under isolation
/// on release: cleared if isolation asks (then, on the requesting thread, pushed as on the fast
/// path), else into the inbox, else onto the stack, else through the lock. Out of line (and
/// marked cold) so that the same-thread path keeps its registers.
#[cold]
#[inline(never)]
fn recycle_elsewhere(core: &PoolCore, slot: u32) -> Option<Arc<PoolCore>> {
    if core.zero == ZeroMode::OnRelease {
        clear(core.shared.slots[slot as usize].addr, core.shared.buffer_size);
        if core.requester.get() == thread_token() | ON_RELEASE {
            // The requesting thread after all: onto the stack, as without isolation.
            return recycle_plain(core, slot);
        }
    }
    // Into the lane (open while a requester is attached) or the inbox, without touching the
    // slot's line (its taker counts the recycle).
    if core.lane.push(slot) {
        return None;
    }
    recycle_refused(core, slot)
}

/// A recycle elsewhere that the lane refused: into the inbox, else onto the stack, else the
/// pool's slow path.
fn recycle_refused(core: &PoolCore, slot: u32) -> Option<Arc<PoolCore>> {
    if let Some(last) = core.try_inbox(slot) {
        return last;
    }
    core.shared.slots[slot as usize].recycles.bump(1);
    if core.try_push(&core.shared.slots, slot) {
        return None;
    }
    core.shared.recycle_slow(core, slot)
}

/// A local buffer pool: up to its current size of network buffers for one consumer, at least
/// its minimum. Created by
/// [`NetworkBufferPool::create_buffer_pool`](super::NetworkBufferPool::create_buffer_pool) (or
/// [`request_exclusive`](super::NetworkBufferPool::request_exclusive) for a channel's
/// exclusive buffers). Dropping it destroys it.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use numaseg::buffer_pool::NetworkBufferPool;
/// use numaseg::{ArenaManager, Config};
///
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let network = NetworkBufferPool::with_buffers(manager, 2, 4096)?;
/// let pool = network.create_buffer_pool(2, 2)?;
/// let a = pool.request_buffer()?.unwrap();
/// let b = pool.request_buffer()?.unwrap();
/// assert!(pool.request_buffer()?.is_none()); // non-blocking: nothing now
/// let timeout = pool.request_buffer_blocking(Some(Duration::from_millis(5)), None);
/// assert!(timeout.is_err());
/// drop(a); // recycled: available again
/// let c = pool.request_buffer_blocking(Some(Duration::from_secs(5)), None)?;
/// # drop((b, c));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LocalBufferPool {
    core: Arc<PoolCore>,
}

impl fmt::Debug for LocalBufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBufferPool").field("id", &self.core.id).finish_non_exhaustive()
    }
}

impl Drop for LocalBufferPool {
    fn drop(&mut self) {
        self.core.shared.destroy(&self.core);
    }
}

impl LocalBufferPool {
    pub(crate) fn from_core(core: Arc<PoolCore>) -> Self {
        Self { core }
    }

    pub(crate) fn core(&self) -> &PoolCore {
        &self.core
    }

    /// A [`BufferRequester`] on this pool, for a thread that requests buffers one at a time
    /// while others recycle them: it takes recycled buffers a batch at a time.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// let pool = network.create_buffer_pool(4, 4)?;
    /// let mut requester = pool.requester();
    /// let buffer = requester.request_buffer()?.expect("a buffer");
    /// std::thread::spawn(move || drop(buffer)).join().unwrap(); // recycled elsewhere
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn requester(&self) -> BufferRequester<'_> {
        BufferRequester::new(self)
    }

    /// A buffer if one is available now (never blocks).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// let pool = network.create_buffer_pool(1, 1)?;
    /// let buffer = pool.request_buffer()?.expect("one buffer");
    /// assert!(pool.request_buffer()?.is_none());
    /// # drop(buffer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::Destroyed`].
    #[inline(always)]
    pub fn request_buffer(&self) -> Result<Option<Buffer>, BufferPoolError> {
        // Inlined into the caller (the cold parts are out of line): a call here cost the
        // same-thread pair about 8 instructions (docs/BENCHMARKS.md, "Where the 10 come from").
        // One place builds the handle, from a slot: the cold paths return slots, not handles,
        // so that the handle is not merged from two paths through the stack (docs/BENCHMARKS.md,
        // *Twelfth pass*).
        let core = &*self.core;
        let (slot, s) = if core.zero == ZeroMode::OnAllocate {
            match self.request_clearing()? {
                Some(slot) => (slot, &core.shared.slots[slot as usize]),
                None => return Ok(None),
            }
        } else if let Some(got) = core.pop_slot::<true>(&core.shared.slots) {
            got
        } else {
            match self.request_cold()? {
                Some(slot) => (slot, &core.shared.slots[slot as usize]),
                None => return Ok(None),
            }
        };
        Ok(Some(core.hand_out_slot(slot, s)))
    }

    /// `request_buffer` under isolation on allocation: a slot, cleared.
    #[cold]
    #[inline(never)]
    fn request_clearing(&self) -> Result<Option<u32>, BufferPoolError> {
        let slot = match self.core.pop(&self.core.shared.slots) {
            Some(slot) => Some(slot),
            None => self.request_cold()?,
        };
        if let Some(slot) = slot {
            clear(self.core.shared.slots[slot as usize].addr, self.core.shared.buffer_size);
        }
        Ok(slot)
    }

    /// `request_buffer`'s slot when the stack's pop found nothing (or *ready*): the inbox, the
    /// stack again, the pool's locked path. Not cleared.
    #[cold]
    #[inline(never)]
    fn request_cold(&self) -> Result<Option<u32>, BufferPoolError> {
        if let Some(slot) = self.core.take_inbox() {
            return Ok(Some(slot));
        }
        // Sent here by `READY` while another thread took the inbox, or after an inbox found
        // empty: the stack may still hold buffers.
        if let Some(slot) = self.core.pop(&self.core.shared.slots) {
            return Ok(Some(slot));
        }
        self.core.shared.request_slow(&self.core, None)
    }

    /// A buffer, waiting up to `timeout` (`None`: no limit) until one is recycled or the
    /// redistribution gives the pool more, unless `cancel` is cancelled or the pool destroyed.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// let pool = Arc::new(network.create_buffer_pool(1, 1)?);
    /// let held = pool.request_buffer()?.unwrap();
    /// let t = std::thread::spawn(move || drop(held));
    /// let buffer = pool.request_buffer_blocking(Some(Duration::from_secs(10)), None)?;
    /// # t.join().unwrap(); drop(buffer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::Timeout`], [`BufferPoolError::Cancelled`],
    /// [`BufferPoolError::Destroyed`] (also when destroyed while waiting).
    pub fn request_buffer_blocking(
        &self,
        timeout: Option<Duration>,
        cancel: Option<&Cancellation>,
    ) -> Result<Buffer, BufferPoolError> {
        if let Some(buffer) = self.request_buffer()? {
            return Ok(buffer);
        }
        match availability::block_on(self.request_buffer_async(), timeout, cancel) {
            Ok(result) => result,
            Err(Interrupted::Cancelled) => Err(BufferPoolError::Cancelled { requested: 1 }),
            Err(Interrupted::Timeout(waited)) => Err(BufferPoolError::Timeout {
                requested: 1,
                obtained: 0,
                waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }

    /// A future of a buffer, for any executor (it only uses the std [`Waker`](std::task::Waker)
    /// it is polled with). Dropping it withdraws the request.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// let pool = network.create_buffer_pool(1, 1)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// let buffer = rt.block_on(pool.request_buffer_async())?;
    /// assert_eq!(buffer.capacity(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn request_buffer_async(&self) -> RequestBuffer<'_> {
        RequestBuffer { pool: self, waiter: None }
    }

    /// A future that completes when the pool next has a buffer available (at once if it has
    /// one now), or is destroyed. Each change from unavailable to available fires the
    /// pool's notification exactly once ([`LocalPoolStats::notifications`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// let pool = network.create_buffer_pool(1, 1)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(pool.available())?; // available now
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn available(&self) -> Available<'_> {
        Available { pool: self, waiter: None }
    }

    /// Polls for availability (the building block of [`LocalBufferPool::available`] for hand
    /// written futures); `waiter` keeps the registration between polls and must be passed to
    /// [`LocalBufferPool::forget_waiter`] if the caller stops polling before `Ready`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Waker};
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// let pool = network.create_buffer_pool(1, 1)?;
    /// let held = pool.request_buffer()?.unwrap();
    /// let mut waiter = None;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(pool.poll_available(&mut cx, &mut waiter).is_pending());
    /// drop(held);
    /// assert!(pool.poll_available(&mut cx, &mut waiter).is_ready());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll_available(&self, cx: &mut Context<'_>, waiter: &mut Option<u64>) -> Poll<Result<(), BufferPoolError>> {
        match self.core.shared.poll_available(&self.core, waiter, cx.waker()) {
            Ok(true) => Poll::Ready(Ok(())),
            Ok(false) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Withdraws a registration left by [`LocalBufferPool::poll_available`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Waker};
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 1)?;
    /// # let held = pool.request_buffer()?.unwrap();
    /// let mut waiter = None;
    /// let _ = pool.poll_available(&mut Context::from_waker(Waker::noop()), &mut waiter);
    /// pool.forget_waiter(&mut waiter);
    /// assert!(waiter.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forget_waiter(&self, waiter: &mut Option<u64>) {
        if let Some(id) = waiter.take() {
            self.core.shared.forget_waiter(&self.core, id);
        }
    }

    /// Sets the pool's size by hand, within `[min, max]` (the next redistribution recomputes
    /// it). Idle buffers above the new size go back to the global pool at once, the others
    /// when recycled.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// let pool = network.create_buffer_pool(1, 4)?;
    /// pool.set_num_buffers(2)?;
    /// assert_eq!(pool.num_buffers(), 2);
    /// assert!(pool.set_num_buffers(5).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::BadBounds`] outside `[min, max]`, [`BufferPoolError::Destroyed`].
    pub fn set_num_buffers(&self, size: usize) -> Result<(), BufferPoolError> {
        self.core.shared.set_size(&self.core, size)
    }

    /// Destroys the pool: waiting requesters fail with [`BufferPoolError::Destroyed`], idle
    /// buffers go back to the global pool now and buffers in flight when they are dropped,
    /// and the minimum is released for other pools. Dropping the pool does the same.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 2, 4096)?;
    /// let pool = network.create_buffer_pool(1, 2)?;
    /// let in_flight = pool.request_buffer()?.unwrap();
    /// pool.destroy();
    /// assert!(pool.request_buffer().is_err());
    /// assert_eq!(network.available_buffers(), 1);
    /// drop(in_flight); // back to the global pool
    /// assert_eq!(network.available_buffers(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn destroy(&self) {
        self.core.shared.destroy(&self.core);
    }

    /// Gives some of a set's exclusive buffers back to the global pool (Flink's
    /// `recycleUnpooledMemorySegments`): the set's size and the reservation shrink by exactly
    /// the number given, and the spare buffers are redistributed among the local pools at once.
    /// Returns by how many buffers the reservation was lowered. The buffers are recycled
    /// either way: on an error they go back to their own pools as if dropped; once the set (or
    /// the network pool) is destroyed its reservation is already released, so they just go
    /// back and this returns 0.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// let pool = network.create_buffer_pool(1, 10)?;
    /// let exclusive = network.request_exclusive(4, None, None)?;
    /// assert_eq!((pool.num_buffers(), network.required_buffers()), (6, 5));
    /// let mine: Vec<_> = (0..3).map(|_| exclusive.request_buffer().unwrap().unwrap()).collect();
    /// assert_eq!(exclusive.recycle_exclusive(mine.into_iter().take(2))?, 2); // the third is dropped
    /// assert_eq!((exclusive.num_buffers(), network.required_buffers()), (2, 3));
    /// assert_eq!(pool.num_buffers(), 8); // the freed share, at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::NotExclusive`] for a local pool made by `create_buffer_pool`,
    /// [`BufferPoolError::ForeignBuffer`] for a buffer of another pool.
    pub fn recycle_exclusive(&self, buffers: impl IntoIterator<Item = Buffer>) -> Result<usize, BufferPoolError> {
        let buffers: Vec<Buffer> = buffers.into_iter().collect();
        if let Some(b) = buffers.iter().find(|b| b.pool_id() != self.core.id) {
            return Err(BufferPoolError::ForeignBuffer { buffer_pool: b.pool_id(), pool: self.core.id });
        }
        let n = buffers.len();
        let lowered = self.core.shared.lower_exclusive(&self.core, n)?;
        // Recycled above the set's new size (or to a destroyed set): each goes to the global
        // pool, where waiting pools get it.
        drop(buffers);
        Ok(if lowered { n } else { 0 })
    }

    /// Whether a request would find a buffer now (Flink's `isAvailable` of a local pool): an
    /// idle one, or room below its size while the global pool has one. False once destroyed.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// let pool = network.create_buffer_pool(1, 1)?;
    /// assert!(pool.is_available()); // in the global pool, and the pool may take it
    /// let b = pool.request_buffer()?.unwrap();
    /// assert!(!pool.is_available());
    /// drop(b);
    /// assert!(pool.is_available()); // idle in the pool
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.available_buffers() > 0 || self.core.shared.can_lend(&self.core)
    }

    /// Whether the pool was destroyed.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 2, 4096)?;
    /// let pool = network.create_buffer_pool(1, 2)?;
    /// assert!(!pool.is_destroyed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_destroyed(&self) -> bool {
        self.core.shared.pool_numbers(&self.core).is_none_or(|n| n.destroyed)
    }

    /// The pool's current size: buffers it may own now.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// assert_eq!(network.create_buffer_pool(1, 4)?.num_buffers(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn num_buffers(&self) -> usize {
        self.core.shared.pool_numbers(&self.core).map_or(0, |n| n.size)
    }

    /// The guaranteed minimum.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// assert_eq!(network.create_buffer_pool(3, 4)?.min_buffers(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn min_buffers(&self) -> usize {
        self.core.shared.pool_numbers(&self.core).map_or(0, |n| n.min)
    }

    /// The maximum.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// assert_eq!(network.create_buffer_pool(3, 4)?.max_buffers(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn max_buffers(&self) -> usize {
        self.core.shared.pool_numbers(&self.core).map_or(0, |n| n.max)
    }

    /// Buffers the pool owns: idle in its stack plus in hands.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// let pool = network.create_buffer_pool(1, 4)?;
    /// assert_eq!(pool.owned_buffers(), 0); // taken from the global pool on demand
    /// let b = pool.request_buffer()?;
    /// assert_eq!(pool.owned_buffers(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn owned_buffers(&self) -> usize {
        self.core.shared.pool_numbers(&self.core).map_or(0, |n| n.owned)
    }

    /// Buffers of this pool in someone's hands (exact when no thread is requesting or
    /// recycling; scans every buffer's bookkeeping, so it is for stats and tests).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// let pool = network.create_buffer_pool(1, 4)?;
    /// let b = pool.request_buffer()?;
    /// assert_eq!(pool.buffers_in_use(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn buffers_in_use(&self) -> usize {
        self.core.shared.in_hands(&self.core)
    }

    /// Idle buffers in the pool's stack (Flink's `getNumberOfAvailableMemorySegments`): O(1)
    /// and lock-free. The answer is the stack's length at one moment during the call — exact
    /// when nothing else runs; while other threads request and recycle it may be stale by the
    /// time it is used, like any count of a concurrent container.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// let pool = network.create_buffer_pool(1, 4)?;
    /// drop(pool.request_buffer()?);
    /// assert_eq!(pool.available_buffers(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn available_buffers(&self) -> usize {
        self.core.idle(&self.core.shared.slots)
    }

    /// The node the pool prefers.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool, numa::NodeId};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 2)?), 10, 4096)?;
    /// assert_eq!(network.create_buffer_pool_on(NodeId::new(1), 1, 4)?.node(), NodeId::new(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.core.shared.pool_numbers(&self.core).map_or_else(|| NodeId::new(0), |n| n.node)
    }

    /// Unique id of the pool (the `pool` label of its metrics).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// let (a, b) = (network.create_buffer_pool(1, 4)?, network.create_buffer_pool(1, 4)?);
    /// assert_ne!(a.id(), b.id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn id(&self) -> u64 {
        self.core.id
    }

    /// Bytes a writer may put into each buffer this pool hands out from now on (the segment
    /// size by default). Buffers stay segment-backed; the limit is what
    /// [`BufMut::remaining_mut`](bytes::BufMut::remaining_mut) reports. Clamped to
    /// `1..=buffer size`. (Adaptive buffer sizing limits each buffer a
    /// [`RecordWriter`](super::credit::RecordWriter) fills to the size its receiver announced,
    /// since one sender pool may feed channels with different sizes; this pool-wide limit suits a
    /// pool that feeds one channel.)
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// let pool = network.create_buffer_pool(1, 4)?;
    /// pool.set_writable_size(1000);
    /// let buffer = pool.request_buffer()?.unwrap();
    /// assert_eq!((buffer.capacity(), buffer.remaining_mut()), (4096, 1000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_writable_size(&self, bytes: usize) {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.core.writable.store(bytes.clamp(1, self.core.capacity), Ordering::Relaxed);
    }

    /// The writable size of new buffers (see [`LocalBufferPool::set_writable_size`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// assert_eq!(network.create_buffer_pool(1, 4)?.writable_size(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn writable_size(&self) -> usize {
        self.core.writable.load(Ordering::Relaxed) as usize
    }

    /// The pool's row of the stats snapshot.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 10, 4096)?;
    /// let pool = network.create_buffer_pool(1, 4)?;
    /// assert_eq!(pool.stats().expect("live").size, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> Option<LocalPoolStats> {
        super::stats::collect(&self.core.shared).pools.into_iter().find(|p| p.id == self.core.id)
    }
}

/// The future of [`LocalBufferPool::request_buffer_async`].
///
/// ```
/// # use std::sync::Arc;
/// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
/// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
/// let pool = network.create_buffer_pool(1, 1)?;
/// let future = pool.request_buffer_async();
/// let buffer = tokio::runtime::Builder::new_current_thread().build()?.block_on(future)?;
/// # drop(buffer);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct RequestBuffer<'a> {
    pool: &'a LocalBufferPool,
    waiter: Option<u64>,
}

impl Future for RequestBuffer<'_> {
    type Output = Result<Buffer, BufferPoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let core = &this.pool.core;
        if this.waiter.is_none()
            && let Some(slot) = core.pop(&core.shared.slots)
        {
            return Poll::Ready(Ok(core.hand_out(slot)));
        }
        if this.waiter.is_none()
            && let Some(slot) = core.take_inbox()
        {
            return Poll::Ready(Ok(core.hand_out(slot)));
        }
        match core.shared.request_slow(core, Some((&mut this.waiter, cx.waker()))) {
            Ok(Some(slot)) => Poll::Ready(Ok(core.hand_out(slot))),
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl Drop for RequestBuffer<'_> {
    fn drop(&mut self) {
        self.pool.forget_waiter(&mut self.waiter);
    }
}

/// The future of [`LocalBufferPool::available`].
///
/// ```
/// # use std::sync::Arc;
/// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
/// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
/// let pool = network.create_buffer_pool(1, 1)?;
/// pool.destroy();
/// let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// assert!(rt.block_on(pool.available()).is_err()); // destroyed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Available<'a> {
    pool: &'a LocalBufferPool,
    waiter: Option<u64>,
}

impl Future for Available<'_> {
    type Output = Result<(), BufferPoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.pool.poll_available(cx, &mut this.waiter)
    }
}

impl Drop for Available<'_> {
    fn drop(&mut self) {
        self.pool.forget_waiter(&mut self.waiter);
    }
}

/// The future of
/// [`NetworkBufferPool::request_exclusive_async_on`](super::NetworkBufferPool::request_exclusive_async_on):
/// completes with a [`LocalBufferPool`] holding all the exclusive buffers. Dropped before that,
/// it gives everything back and releases the minimum.
///
/// ```
/// # use std::sync::Arc;
/// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
/// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
/// let request = network.request_exclusive_async_on(numaseg::numa::NodeId::new(0), 1)?;
/// let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// let exclusive = rt.block_on(request)?;
/// assert_eq!(exclusive.available_buffers(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ExclusiveRequest {
    core: Option<Arc<PoolCore>>,
    waiter: Option<u64>,
    requested: usize,
}

impl fmt::Debug for ExclusiveRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExclusiveRequest").field("requested", &self.requested).finish_non_exhaustive()
    }
}

impl ExclusiveRequest {
    pub(crate) fn new(core: Arc<PoolCore>, requested: usize) -> Self {
        Self { core: Some(core), waiter: None, requested }
    }
}

impl Future for ExclusiveRequest {
    type Output = Result<LocalBufferPool, BufferPoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(core) = this.core.as_ref() else {
            return Poll::Ready(Err(BufferPoolError::Destroyed { pool: 0 }));
        };
        match core.shared.poll_exclusive(core, &mut this.waiter, cx.waker()) {
            Ok(true) => Poll::Ready(Ok(LocalBufferPool::from_core(this.core.take().unwrap_or_else(|| unreachable!())))),
            Ok(false) => Poll::Pending,
            Err(e) => {
                // Destroyed meanwhile: the record gives its buffers back itself.
                this.waiter = None;
                Poll::Ready(Err(e))
            }
        }
    }
}

impl Drop for ExclusiveRequest {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            // Not completed: undo everything (buffers back, minimum released, redistributed).
            core.shared.destroy(&core);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::thread_token;

    /// Threads started one after another, each after the last ended, get different tokens: a
    /// recycler started after a requester ended is never taken for it (with the thread-local's
    /// address as the token, the second thread got the first one's in most runs).
    #[test]
    fn a_thread_started_after_another_ended_never_gets_its_token() {
        let mut seen = std::collections::HashSet::new();
        seen.insert(thread_token());
        for _ in 0..64 {
            let token = std::thread::spawn(thread_token).join().unwrap_or_else(|_| panic!("thread panicked"));
            assert_eq!(token % 2, 0, "a token is even (bit 0 is ON_RELEASE's): {token}");
            assert!(seen.insert(token), "token {token} handed to two threads");
        }
        assert_eq!(thread_token(), thread_token(), "a thread keeps its token");
    }
}
