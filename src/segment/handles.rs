//! Bulk through handles: a bulk allocation that lands straight in the caller's
//! `Vec<Segment>`, and a release that gives a whole `Vec<Segment>` back in one pass over the
//! thread cache. The handles are built from the stack's entries as they are copied out (no
//! per-block pop from an intermediate batch) and forgotten before their entries go back (no
//! per-block drop).

use super::Segment;
use crate::cache::{self, BulkSink, CachedCore};
use crate::entry::{Entry, NodeIndex};
use crate::size_class::SizeClass;

/// A bulk allocation's sink that makes each entry a handle.
pub(crate) struct Handles<'a, 'v> {
    pub(crate) core: &'a CachedCore,
    pub(crate) class: SizeClass,
    pub(crate) out: &'v mut Vec<Segment<'a>>,
}

impl BulkSink for Handles<'_, '_> {
    fn len(&self) -> usize {
        self.out.len()
    }

    fn reserve(&mut self, n: usize) {
        self.out.reserve(n);
    }

    #[inline]
    fn put(&mut self, entries: &[Entry], node_index: NodeIndex) {
        let (core, class) = (self.core, self.class);
        // SAFETY: the bulk hands over these entries exclusively, each of `class` on `node_index`.
        self.out.extend(entries.iter().map(|&e| unsafe { Segment::from_entry(core, e, class, node_index) }));
    }

    fn undo(&mut self, _core: &CachedCore, _class: SizeClass, start: usize) {
        self.out.truncate(start); // dropping the handles gives them back
    }
}

/// Gives every segment of `segments` back through `core`'s thread cache in one pass and
/// leaves the vector empty (its capacity kept). Segments of another manager are dropped, which
/// gives them back to theirs.
pub(crate) fn release_all<'a>(core: &'a CachedCore, segments: &mut Vec<Segment<'a>>) {
    // The common case — every handle of this manager, one class and node (the thread's home),
    // room on the stack: the entries are copied straight onto the stack in one pass that also
    // checks that case, and the handles are forgotten.
    if let Some(first) = segments.first()
        && core.config.zero != crate::zero::ZeroMode::OnRelease
    {
        let meta = first.meta();
        let meta_bits = super::Packed::meta_bits(first.bits.get());
        let all = segments.as_slice();
        let here = std::ptr::from_ref(core).addr();
        let back = cache::free_into_stack(core, meta.class, meta.node, all.len(), |room| {
            // Without a branch per handle: every entry is copied, and what differs is gathered
            // in `other` and judged once at the end (slots written above the stack's top are
            // not kept unless this returns true).
            let mut other = 0;
            for (slot, s) in room.iter_mut().zip(all) {
                // Clearing the first handle's class and node bits leaves the entry exactly
                // when this handle's are the same: one step checks and decodes.
                let entry = s.bits.get() ^ meta_bits;
                other |= (std::ptr::from_ref(s.core).addr() ^ here) | super::Packed::meta_bits(entry);
                *slot = Entry::from_bits(entry);
            }
            other == 0
        });
        if back {
            // SAFETY: every handle's entry is back in the cache, once; forgetting the handles
            // (a `Segment` owns nothing but its entry) keeps them from giving it back again.
            unsafe { segments.set_len(0) };
            return;
        }
    }
    if !segments.iter().all(|s| std::ptr::eq(s.core, core)) {
        segments.retain(|s| std::ptr::eq(s.core, core)); // the others go back to theirs
    }
    let len = segments.len();
    // SAFETY: the handles are forgotten first (a `Segment` owns nothing but its entry), and
    // their entries are given back once each below; a panic in between would leak them, never
    // free them twice.
    unsafe { segments.set_len(0) };
    // SAFETY: the `len` handles stay initialised in the buffer (only the length changed), and
    // nothing else touches the vector until this borrow ends.
    let forgotten = unsafe { std::slice::from_raw_parts(segments.as_ptr(), len) };
    if core.config.zero == crate::zero::ZeroMode::OnRelease {
        for s in forgotten {
            super::clear_entries(s.class(), &[s.entry()]);
        }
    }
    cache::free_many(core, forgotten.iter().map(|s| (s.entry(), s.class(), s.node_index())));
}
