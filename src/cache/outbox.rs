//! Where a foreign free goes: a thread's **outbox** for one (node, class), holding segments of
//! another node that this thread freed, until they go home to that node's pool as one batch
//! (the batch, the bound in time and the flushes are the cache's: `super`, *foreign free*).
//!
//! **One word per outbox.** The thread's slot keeps a word per outbox ([`OutboxWord`]), written
//! only by the owning thread and read by stats: how many entries the outbox holds (bits 0–7)
//! and how many foreign frees were pushed into it since the slot was made (bits 8–63, enough
//! for 2^56 frees). The outbox's buffer keeps no length of its own. So a foreign free's fast
//! path stores twice, the entry and the word, where a length in the buffer, a gauge of it for
//! stats and a per-class foreign-free counter took four stores. Behind the consumer's touch of
//! a block it did not have in cache, every store waits in the store queue, and the hand-off
//! across pretend nodes ran at 0.56–0.69× of the same node with four, against 0.83–0.86× with
//! two (docs/BENCHMARKS.md, *Sixteenth pass*).
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
/// (module docs), and the class's threshold once the outbox is in use. Every method that reads
/// or changes the entries takes the outbox's word, which holds the length; only the owning
/// thread calls them.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    buf: Vec<Entry>,
    /// The class's threshold once [`Outbox::reserve`] made room for it, else 0: never above
    /// the buffer's capacity, so below it a push has room. One compare on the fast path covers
    /// both the threshold and an outbox not in use yet.
    limit: usize,
}

impl Outbox {
    /// Room for entries (0 for an outbox never used).
    #[inline(always)]
    pub(super) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The class's threshold, once the outbox is in use (else 0).
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// The foreign free's fast path: pushes `entry` if the outbox is in use and stays below its
    /// threshold after the push, else returns false and changes nothing. One compare, two
    /// stores.
    #[inline(always)]
    pub(super) fn push_below(&mut self, word: &OutboxWord, entry: Entry) -> bool {
        let w = word.0.get();
        let len = (w & LEN_MASK) as usize;
        if len + 1 >= self.limit {
            return false;
        }
        // SAFETY: `len < limit <= capacity` (`limit` is 0 or a capacity `reserve` or `take_all`
        // made room for), so the element is inside the buffer's allocation; the buffer's length
        // is 0 (invariant), so no live element is overwritten.
        unsafe { self.buf.as_mut_ptr().wrapping_add(len).write(entry) };
        word.0.set(w + PUSH);
        true
    }

    /// Pushes `entry` and returns the new length. The caller made room for the class's
    /// threshold ([`Outbox::reserve`]) and the outbox is below it (invariant), so there is
    /// room; a full buffer (a broken invariant) panics rather than write past it.
    pub(super) fn push(&mut self, word: &OutboxWord, entry: Entry) -> usize {
        let w = word.0.get();
        let len = (w & LEN_MASK) as usize;
        assert!(len < self.buf.capacity(), "outbox full: {len} entries, room for {}", self.buf.capacity());
        // SAFETY: as in `push_below`.
        unsafe { self.buf.as_mut_ptr().wrapping_add(len).write(entry) };
        word.0.set(w + PUSH);
        len + 1
    }

    /// Takes the newest entry, if any.
    #[inline(always)]
    pub(super) fn pop(&mut self, word: &OutboxWord) -> Option<Entry> {
        let w = word.0.get();
        let len = (w & LEN_MASK) as usize;
        if len == 0 {
            return None;
        }
        // SAFETY: the first `len` spare elements are initialised entries (invariant), and
        // `len - 1 < len <= capacity`.
        let entry = unsafe { self.buf.as_ptr().wrapping_add(len - 1).read() };
        word.0.set(w - 1);
        Some(entry)
    }

    /// Appends `entries` that were not freed here (a refill from a pool batch): the length
    /// grows, the foreign frees do not. The caller made room for `len + entries.len()`.
    pub(super) fn extend(&mut self, word: &OutboxWord, entries: &[Entry]) {
        let w = word.0.get();
        let len = (w & LEN_MASK) as usize;
        assert!(
            len + entries.len() <= self.buf.capacity() && (len + entries.len()) as u64 <= LEN_MASK,
            "outbox refill of {} onto {len} entries, room for {}",
            entries.len(),
            self.buf.capacity()
        );
        let to = self.buf.as_mut_ptr().wrapping_add(len);
        // SAFETY: the destination `len..len + entries.len()` is inside the allocation (checked
        // above) and past the initialised entries; the source is another allocation.
        unsafe { std::ptr::copy_nonoverlapping(entries.as_ptr(), to, entries.len()) };
        word.0.set(w + entries.len() as u64);
    }

    /// Puts the outbox in use with the class's threshold `limit` (at most
    /// [`sizing::OUTBOX_MAX`]): makes room for it.
    pub(super) fn reserve(&mut self, limit: usize) {
        self.buf.reserve_exact(limit);
        self.limit = limit.min(self.buf.capacity());
    }

    /// Takes every entry as a vector of them, oldest first, leaving `next` (emptied, and given
    /// room for the threshold if it has less) as the buffer; the word keeps its count of
    /// foreign frees, and its length becomes 0.
    pub(super) fn take_all(&mut self, word: &OutboxWord, mut next: Vec<Entry>) -> Vec<Entry> {
        next.clear();
        next.reserve_exact(self.limit);
        let w = word.0.get();
        let mut full = std::mem::replace(&mut self.buf, next);
        // SAFETY: `len <= capacity`, and the first `len` elements are initialised entries
        // (invariant); `Entry` is `Copy`, so nothing else is owed.
        unsafe { full.set_len((w & LEN_MASK) as usize) };
        word.0.set(w & !LEN_MASK);
        full
    }

    /// The module's invariant for this buffer and its word, given the class's threshold: in
    /// use with that threshold, or never used.
    pub(super) fn is_valid(&self, word: &OutboxWord, limit: usize) -> bool {
        let len = word.len();
        self.buf.is_empty()
            && ((self.limit == 0 && self.buf.capacity() == 0 && len == 0)
                || (self.limit == limit && len < limit && self.buf.capacity() >= limit))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Outbox, OutboxWord};
    use crate::entry::Entry;

    const fn e(addr: usize) -> Entry {
        Entry::from_bits(addr)
    }

    #[test]
    fn the_word_counts_length_and_pushes_and_the_buffer_keeps_no_length() {
        let (mut b, w) = (Outbox::default(), OutboxWord::default());
        assert!(!b.push_below(&w, e(8)), "an outbox never used has no room");
        assert!(b.is_valid(&w, 3));
        b.reserve(3);
        assert!(b.push_below(&w, e(8)));
        assert!(b.push_below(&w, e(16)));
        assert!(!b.push_below(&w, e(24)), "the push that reaches the threshold is the slow path's");
        assert_eq!((w.len(), w.pushes()), (2, 2));
        assert!(b.is_valid(&w, 3));
        assert!(!b.is_valid(&w, 4), "with another threshold it is not valid");
        assert_eq!(b.push(&w, e(24)), 3);
        assert!(!b.is_valid(&w, 3), "at the threshold it is not valid");
        assert_eq!(b.pop(&w), Some(e(24)));
        assert_eq!((w.len(), w.pushes()), (2, 3), "a pop takes the length, not the count");
        b.extend(&w, &[e(32)]);
        assert_eq!((w.len(), w.pushes()), (3, 3), "a refill is no foreign free");
        let full = b.take_all(&w, Vec::new());
        assert_eq!(full, vec![e(8), e(16), e(32)]);
        assert_eq!((w.len(), w.pushes()), (0, 3));
        assert!(b.capacity() >= 3 && b.is_valid(&w, 3), "the next buffer was given room");
        assert_eq!(b.pop(&w), None);
    }

    #[test]
    #[should_panic(expected = "outbox full")]
    fn a_push_into_a_full_buffer_panics_instead_of_writing_past_it() {
        let (mut b, w) = (Outbox::default(), OutboxWord::default());
        b.push(&w, e(8));
    }
}
