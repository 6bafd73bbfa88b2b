//! Where a foreign free goes: a thread's **outbox** for one (node, class), holding segments of
//! another node that this thread freed, until they go home to that node's pool as one batch
//! (the batch, the bound in time and the flushes are the cache's: `super`, *foreign free*).
//!
//! **One word per outbox.** The thread's slot keeps a word per outbox ([`OutboxWord`]), written
//! only by the owning thread and read by stats: how many entries the outbox holds (bits 0–7)
//! and how many foreign frees were pushed into it since the slot was made (bits 8–63, enough
//! for 2^56 frees). The outbox's buffer keeps no length of its own. So the push stores twice,
//! the entry and the word, where a length in the buffer, a gauge of it for stats and a
//! per-class foreign-free counter took four stores on four lines (the foreign free also counts
//! the thread's slow-path event, as before). Behind the consumer's touch of a block it did not
//! have in cache, every store waits in the store queue. In alternated runs of the hand-off
//! across pretend nodes, the median ratio to the same node went from 0.645 to 0.79–0.83 with
//! short pairs, and from 0.677 to 0.746 with long ones (docs/BENCHMARKS.md, *Sixteenth pass*).
//!
//! **Pairing.** An [`Outbox`] is read and changed only through an [`OutboxRef`], which pairs it
//! with its word (an `unsafe` constructor: the methods trust the word's length).
//!
//! **Invariant** (for every outbox; checked by `PrivateCache::outbox_valid` under
//! `expensive-checks`): its buffer's length is 0, and the first [`OutboxWord::len`] elements of
//! the buffer's spare capacity are its entries, oldest first. That length is below the class's
//! threshold (a push that reaches it sends the outbox home), which is at most
//! [`sizing::OUTBOX_MAX`] and fits the word's length bits. An outbox in use has room for its
//! whole threshold, so a push never reallocates; one never used has no room at all.

use crate::entry::Entry;
use crate::sync::stat::Counter;

use super::sizing;

/// Bits of an [`OutboxWord`] that hold the outbox's length.
const LEN_BITS: u32 = 8;
const LEN_MASK: u64 = (1 << LEN_BITS) - 1;
/// What one push adds to the word: one entry held, one foreign free counted.
const PUSH: u64 = (1 << LEN_BITS) + 1;
const _: () = assert!(sizing::OUTBOX_MAX as u64 <= LEN_MASK, "an outbox's length must fit its word");

/// One outbox's word: its length and the foreign frees pushed into it (module docs). Written
/// only by the slot's owner (a relaxed load and store, [`Counter`]), read by anyone.
#[derive(Debug, Default)]
#[repr(transparent)]
pub(crate) struct OutboxWord(Counter);

impl OutboxWord {
    /// Entries the outbox holds (exact when the owner is quiescent).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        (self.0.get() & LEN_MASK) as usize
    }

    /// Foreign frees pushed into the outbox since the slot was made (exact when the owner is
    /// quiescent).
    pub(crate) fn pushes(&self) -> u64 {
        self.0.get() >> LEN_BITS
    }
}

/// An outbox's buffer: a vector kept at length 0 whose spare capacity holds the entries
/// (module docs), and the class's threshold once the outbox is in use. Its entries are read and
/// changed only through an [`OutboxRef`], which pairs it with its word.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    buf: Vec<Entry>,
    /// The class's threshold once [`OutboxRef::reserve`] made room for it, else 0: never above
    /// the buffer's capacity, so below it a push has room. One compare on the fast path covers
    /// both the threshold and an outbox not in use yet.
    limit: usize,
}

impl Outbox {
    /// The class's threshold, once the outbox is in use (else 0).
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// The module's invariant for this outbox and its `word`, given the class's threshold: in
    /// use with that threshold, or never used.
    pub(super) fn is_valid(&self, word: &OutboxWord, limit: usize) -> bool {
        let len = word.len();
        self.buf.is_empty()
            && ((self.limit == 0 && self.buf.capacity() == 0 && len == 0)
                || (self.limit == limit && limit <= sizing::OUTBOX_MAX && len < limit && self.buf.capacity() >= limit))
    }
}

/// An outbox with its word: the one way to read or change its entries (only the owning thread
/// makes one). Every method keeps the module's invariant.
#[derive(Debug)]
pub(super) struct OutboxRef<'a> {
    outbox: &'a mut Outbox,
    word: &'a OutboxWord,
}

impl<'a> OutboxRef<'a> {
    /// Pairs `outbox` with `word`.
    ///
    /// # Safety
    /// `word` is `outbox`'s word: the two have the same index among one slot's outboxes and
    /// words, so no other word was ever paired with `outbox`. (The methods trust the word's
    /// length: with another word, a pop could read an entry never written.)
    #[inline(always)]
    pub(super) unsafe fn new(outbox: &'a mut Outbox, word: &'a OutboxWord) -> Self {
        Self { outbox, word }
    }

    /// Entries held.
    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        self.word.len()
    }

    /// The class's threshold, once the outbox is in use (else 0).
    pub(super) fn limit(&self) -> usize {
        self.outbox.limit
    }

    /// The foreign free's fast path: pushes `entry` if the outbox is in use and stays below its
    /// threshold after the push, else returns false and changes nothing. One compare; the push
    /// stores twice, the entry and the word.
    #[inline(always)]
    pub(super) fn push_below(&mut self, entry: Entry) -> bool {
        let w = self.word.0.get();
        let len = (w & LEN_MASK) as usize;
        if len + 1 >= self.outbox.limit {
            return false;
        }
        // SAFETY: `len < limit <= capacity` (`limit` is 0 or a threshold `reserve` made room
        // for, and `take_all` gives every next buffer that room), so the element is inside the
        // buffer's allocation; the buffer's length is 0 (invariant), so no live element is
        // overwritten.
        unsafe { self.outbox.buf.as_mut_ptr().wrapping_add(len).write(entry) };
        self.word.0.set(w + PUSH);
        true
    }

    /// Pushes `entry` and returns the new length. The outbox is in use and below its threshold
    /// (invariant; else this panics rather than write past the buffer).
    pub(super) fn push(&mut self, entry: Entry) -> usize {
        let w = self.word.0.get();
        let len = (w & LEN_MASK) as usize;
        assert!(len < self.outbox.limit, "outbox push onto {len} entries, threshold {}", self.outbox.limit);
        // SAFETY: `len < limit <= capacity` (checked just above; `limit` never exceeds the
        // capacity, as in `push_below`), so the element is inside the allocation and past the
        // initialised entries.
        unsafe { self.outbox.buf.as_mut_ptr().wrapping_add(len).write(entry) };
        self.word.0.set(w + PUSH);
        len + 1
    }

    /// Takes the newest entry, if any.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Option<Entry> {
        let w = self.word.0.get();
        let len = (w & LEN_MASK) as usize;
        if len == 0 {
            return None;
        }
        // SAFETY: the first `len` spare elements are initialised entries (invariant; the word
        // is this outbox's, `new`), so `len - 1` is inside the allocation and initialised.
        let entry = unsafe { self.outbox.buf.as_ptr().wrapping_add(len - 1).read() };
        self.word.0.set(w - 1);
        Some(entry)
    }

    /// Appends `entries` that were not freed here (a refill from a pool batch): the length
    /// grows, the foreign frees do not. At most up to the threshold (else this panics).
    pub(super) fn extend(&mut self, entries: &[Entry]) {
        let w = self.word.0.get();
        let len = (w & LEN_MASK) as usize;
        assert!(
            len + entries.len() <= self.outbox.limit,
            "outbox refill of {} onto {len} entries, threshold {}",
            entries.len(),
            self.outbox.limit
        );
        let to = self.outbox.buf.as_mut_ptr().wrapping_add(len);
        // SAFETY: the destination `len..len + entries.len()` is inside the allocation (checked
        // above, `limit <= capacity`) and past the initialised entries; the source is another
        // allocation.
        unsafe { std::ptr::copy_nonoverlapping(entries.as_ptr(), to, entries.len()) };
        self.word.0.set(w + entries.len() as u64);
    }

    /// Puts an outbox not in use yet in use, with the class's threshold `limit` (at least 1,
    /// at most [`sizing::OUTBOX_MAX`]): makes room for it. Panics on an outbox in use or
    /// holding entries (a reallocation would lose entries kept past the buffer's length).
    pub(super) fn reserve(&mut self, limit: usize) {
        assert!(
            self.outbox.limit == 0 && self.word.len() == 0 && (1..=sizing::OUTBOX_MAX).contains(&limit),
            "outbox put in use twice, or with threshold {limit} (at most {})",
            sizing::OUTBOX_MAX
        );
        self.outbox.buf.reserve_exact(limit);
        self.outbox.limit = limit;
    }

    /// Takes every entry as a vector of them, oldest first, leaving `next` (emptied, and given
    /// room for the threshold if it has less) as the buffer; the word keeps its count of
    /// foreign frees, and its length becomes 0.
    pub(super) fn take_all(&mut self, mut next: Vec<Entry>) -> Vec<Entry> {
        next.clear();
        next.reserve_exact(self.outbox.limit);
        let w = self.word.0.get();
        let mut full = std::mem::replace(&mut self.outbox.buf, next);
        // SAFETY: the first `len` elements are initialised entries and `len <= capacity`
        // (invariant; the word is this outbox's, `new`); `Entry` is `Copy`, so nothing else is
        // owed.
        unsafe { full.set_len((w & LEN_MASK) as usize) };
        self.word.0.set(w & !LEN_MASK);
        full
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Outbox, OutboxRef, OutboxWord};
    use crate::entry::Entry;

    const fn e(addr: usize) -> Entry {
        Entry::from_bits(addr)
    }

    #[test]
    fn the_word_counts_length_and_pushes_and_the_buffer_keeps_no_length() {
        let (mut b, w) = (Outbox::default(), OutboxWord::default());
        // SAFETY: `w` is `b`'s only word.
        let mut o = unsafe { OutboxRef::new(&mut b, &w) };
        assert!(!o.push_below(e(8)), "an outbox never used has no room");
        assert!(o.outbox.is_valid(o.word, 3));
        o.reserve(3);
        assert!(o.push_below(e(8)));
        assert!(o.push_below(e(16)));
        assert!(!o.push_below(e(24)), "the push that reaches the threshold is the slow path's");
        assert_eq!((w.len(), w.pushes()), (2, 2));
        // SAFETY: as above.
        let mut o = unsafe { OutboxRef::new(&mut b, &w) };
        assert!(o.outbox.is_valid(o.word, 3));
        assert!(!o.outbox.is_valid(o.word, 4), "with another threshold it is not valid");
        assert_eq!(o.push(e(24)), 3);
        assert!(!o.outbox.is_valid(o.word, 3), "at the threshold it is not valid");
        assert_eq!(o.pop(), Some(e(24)));
        assert_eq!((o.len(), w.pushes()), (2, 3), "a pop takes the length, not the count");
        o.extend(&[e(32)]);
        assert_eq!((o.len(), w.pushes()), (3, 3), "a refill is no foreign free");
        // The next buffer: smaller than the threshold, and holding stale entries.
        let full = o.take_all(vec![e(99)]);
        assert_eq!(full, vec![e(8), e(16), e(32)]);
        assert_eq!((o.len(), w.pushes()), (0, 3));
        assert!(o.outbox.is_valid(o.word, 3), "the next buffer was emptied and given room");
        assert_eq!(o.pop(), None, "no stale entry of the next buffer is an entry");
        assert!(o.push_below(e(40)) && o.push_below(e(48)));
        assert_eq!((o.pop(), o.pop(), o.pop()), (Some(e(48)), Some(e(40)), None));
    }

    #[test]
    #[should_panic(expected = "outbox push onto 0 entries, threshold 0")]
    fn a_push_into_an_outbox_not_in_use_panics_instead_of_writing() {
        let (mut b, w) = (Outbox::default(), OutboxWord::default());
        // SAFETY: `w` is `b`'s only word.
        unsafe { OutboxRef::new(&mut b, &w) }.push(e(8));
    }

    #[test]
    #[should_panic(expected = "outbox put in use twice")]
    fn an_outbox_is_put_in_use_once() {
        let (mut b, w) = (Outbox::default(), OutboxWord::default());
        // SAFETY: `w` is `b`'s only word.
        let mut o = unsafe { OutboxRef::new(&mut b, &w) };
        o.reserve(2);
        o.reserve(4);
    }
}
