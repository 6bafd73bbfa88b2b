//! A node's regions and the segments carved from them: which class each region serves, which of
//! its slots are out, and which regions are wholly free (committed, or decommitted with their
//! memory back at the OS).
//!
//! Invariants (checked by [`RegionTable::is_valid`] under `expensive-checks`):
//! - a region serves at most one class; a region serving none has no slot out;
//! - for a region serving a class, `bump` slots were ever carved, `free` holds the returned ones
//!   (each once), and `outstanding = bump - free.len()`: every slot is either never carved, in
//!   `free`, or out (in a cache, a pool or a user's hands) — exactly one of them;
//! - a region is in `partial[class]` exactly when it serves `class` and has a slot to carve;
//! - a region is in `free_committed` or `free_decommitted` exactly when it serves no class, and
//!   `committed` says which;
//! - every region ends at or below `entry::ADDRESS_LIMIT` (the node core refuses one that does
//!   not before inserting it), so a segment handle can keep its node index above every entry.
//!
//! Taking segments back allocates nothing once a region serves a class: its `free` list gets
//! room for every slot of the region when the region is assigned (on the carve path), and
//! keeps that room while the region is free. So a pool over its limit, which gives segments
//! back on a free path, allocates nothing either, beyond the table's lists of regions (which
//! grow only with the number of regions).
//!
//! The table only does bookkeeping: mapping, recommitting and decommitting are done by the
//! caller (the node core), which holds the table's mutex throughout.

use std::collections::BTreeMap;

use numa::{PageKind, Region};

use crate::entry::{self, Entry};
use crate::size_class::{MAX_CLASSES, SizeClass};

/// One region and its carving state.
#[derive(Debug)]
pub(crate) struct RegionState {
    pub(crate) region: Region,
    class: Option<SizeClass>,
    capacity: u32,
    bump: u32,
    free: Vec<u32>,
    in_partial: bool,
    pub(crate) committed: bool,
}

impl RegionState {
    fn outstanding(&self) -> usize {
        self.bump as usize - self.free.len()
    }

    fn has_room(&self) -> bool {
        self.bump < self.capacity || !self.free.is_empty()
    }
}

/// The regions of one node.
#[derive(Debug)]
pub(crate) struct RegionTable {
    slots: Vec<Option<RegionState>>,
    vacant: Vec<usize>,
    by_addr: BTreeMap<usize, usize>,
    partial: [Vec<usize>; MAX_CLASSES],
    free_committed: Vec<usize>,
    free_decommitted: Vec<usize>,
}

/// Per-class numbers for stats.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClassUsage {
    /// Regions serving the class.
    pub regions: usize,
    /// Segments carved and not returned to their region (in caches, pools or users' hands).
    pub outstanding: usize,
    /// Segments the class's regions can still hand out without a new region.
    pub carvable: usize,
}

/// Region-level numbers for stats.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TableUsage {
    pub mapped_bytes: usize,
    pub committed_bytes: usize,
    pub free_regions_committed: usize,
    pub free_regions_decommitted: usize,
    /// Regions by the page kind obtained: 1g, 2m, thp, small.
    pub regions_by_kind: [usize; 4],
    pub classes: [ClassUsage; MAX_CLASSES],
}

impl RegionTable {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            vacant: Vec::new(),
            by_addr: BTreeMap::new(),
            partial: std::array::from_fn(|_| Vec::new()),
            free_committed: Vec::new(),
            free_decommitted: Vec::new(),
        }
    }

    /// Adds a freshly mapped (committed) region as a free region.
    pub(crate) fn insert(&mut self, region: Region) -> usize {
        let base = region.base().as_ptr() as usize;
        let state = RegionState {
            region,
            class: None,
            capacity: 0,
            bump: 0,
            free: Vec::new(),
            in_partial: false,
            committed: true,
        };
        let idx = match self.vacant.pop() {
            Some(idx) => {
                self.slots[idx] = Some(state);
                idx
            }
            None => {
                self.slots.push(Some(state));
                self.slots.len() - 1
            }
        };
        self.by_addr.insert(base, idx);
        self.free_committed.push(idx);
        idx
    }

    fn state(&self, idx: usize) -> &RegionState {
        self.slots[idx].as_ref().unwrap_or_else(|| unreachable!("region index {idx} is vacant"))
    }

    fn state_mut(&mut self, idx: usize) -> &mut RegionState {
        self.slots[idx].as_mut().unwrap_or_else(|| unreachable!("region index {idx} is vacant"))
    }

    /// Carves up to `n` segments of `class` from regions that serve it or are free and committed;
    /// appends them (tagged with their page kind) to `out` and returns how many. Never maps.
    pub(crate) fn carve(&mut self, class: SizeClass, n: usize, out: &mut Vec<Entry>) -> usize {
        let c = class.index();
        let mut taken = 0;
        while taken < n {
            let idx = match self.partial[c].last() {
                Some(&idx) => idx,
                None => match self.free_committed.pop() {
                    Some(idx) => {
                        self.assign(idx, class);
                        idx
                    }
                    None => break,
                },
            };
            let state = self.state_mut(idx);
            // Entries are integers: expose the region's provenance so that `Entry::ptr` can
            // take it back when an entry becomes a segment again.
            let base = state.region.base().as_ptr().expose_provenance();
            let tag = entry::kind_tag(state.region.kind());
            while taken < n && state.has_room() {
                let slot = match state.free.pop() {
                    Some(slot) => slot,
                    None => {
                        state.bump += 1;
                        state.bump - 1
                    }
                };
                out.push(Entry::tagged(base + slot as usize * class.size(), tag));
                taken += 1;
            }
            if !state.has_room() {
                state.in_partial = false;
                self.partial[c].pop();
            }
        }
        taken
    }

    fn assign(&mut self, idx: usize, class: SizeClass) {
        let state = self.state_mut(idx);
        debug_assert!(state.class.is_none() && state.committed);
        state.class = Some(class);
        state.capacity = u32::try_from(state.region.len() / class.size()).unwrap_or(u32::MAX);
        state.bump = 0;
        state.free.clear();
        // Room for every slot, so `give_back` never grows it (module docs).
        state.free.reserve_exact(state.capacity as usize);
        state.in_partial = true;
        self.partial[class.index()].push(idx);
    }

    /// Takes segments back into their regions. Regions whose every slot is back become free
    /// regions. Returns how many segments were taken back.
    ///
    /// # Panics
    /// If a pointer is not a segment of this table carved for `class` (an invariant breach).
    pub(crate) fn give_back(&mut self, class: SizeClass, segments: impl IntoIterator<Item = Entry>) -> usize {
        let mut count = 0;
        for entry in segments {
            let addr = entry.addr();
            let idx =
                self.region_of(addr).unwrap_or_else(|| panic!("segment {addr:#x} is not in any region of this node"));
            let state = self.state_mut(idx);
            assert_eq!(state.class, Some(class), "segment {addr:#x} returned to the wrong class");
            let base = state.region.base().as_ptr() as usize;
            let slot = u32::try_from((addr - base) / class.size()).unwrap_or(u32::MAX);
            debug_assert!(slot < state.bump && !state.free.contains(&slot), "slot {slot} returned twice");
            state.free.push(slot);
            count += 1;
            if state.outstanding() == 0 {
                self.release_region(idx, class);
            } else if !state.in_partial {
                state.in_partial = true;
                self.partial[class.index()].push(idx);
            }
        }
        count
    }

    fn release_region(&mut self, idx: usize, class: SizeClass) {
        let state = self.state_mut(idx);
        state.class = None;
        state.bump = 0;
        state.capacity = 0;
        state.free.clear(); // its room stays for the region's next class
        let was_partial = std::mem::replace(&mut state.in_partial, false);
        if was_partial {
            self.partial[class.index()].retain(|&i| i != idx);
        }
        self.free_committed.push(idx);
    }

    /// The region holding `addr`, if any.
    pub(crate) fn region_of(&self, addr: usize) -> Option<usize> {
        let (_, &idx) = self.by_addr.range(..=addr).next_back()?;
        self.state(idx).region.contains(addr).then_some(idx)
    }

    /// The page kind of the region holding `addr`.
    pub(crate) fn kind_of(&self, addr: usize) -> Option<PageKind> {
        self.region_of(addr).map(|idx| self.state(idx).region.kind())
    }

    /// Free committed regions beyond `retain_bytes`, most recently freed kept: the caller
    /// decommits these and calls [`RegionTable::mark_decommitted`].
    pub(crate) fn excess_free(&self, retain_bytes: usize) -> Vec<usize> {
        let mut kept = 0usize;
        let mut excess = Vec::new();
        for &idx in self.free_committed.iter().rev() {
            let len = self.state(idx).region.len();
            if kept + len <= retain_bytes {
                kept += len;
            } else {
                excess.push(idx);
            }
        }
        excess
    }

    /// Records that free region `idx` was decommitted.
    pub(crate) fn mark_decommitted(&mut self, idx: usize) {
        self.free_committed.retain(|&i| i != idx);
        self.state_mut(idx).committed = false;
        self.free_decommitted.push(idx);
    }

    /// A decommitted free region to recommit, if any (the caller recommits, then calls
    /// [`RegionTable::mark_recommitted`] or [`RegionTable::remove`]).
    pub(crate) fn decommitted_region(&self) -> Option<usize> {
        self.free_decommitted.last().copied()
    }

    /// Records that decommitted region `idx` was recommitted.
    pub(crate) fn mark_recommitted(&mut self, idx: usize) {
        self.free_decommitted.retain(|&i| i != idx);
        self.state_mut(idx).committed = true;
        self.free_committed.push(idx);
    }

    /// Removes free region `idx` from the table and returns it (to be unmapped by dropping).
    pub(crate) fn remove(&mut self, idx: usize) -> Region {
        self.free_committed.retain(|&i| i != idx);
        self.free_decommitted.retain(|&i| i != idx);
        let state = self.slots[idx].take().unwrap_or_else(|| unreachable!("region index {idx} is vacant"));
        debug_assert!(state.class.is_none());
        self.by_addr.remove(&(state.region.base().as_ptr() as usize));
        self.vacant.push(idx);
        state.region
    }

    /// The region at `idx`.
    pub(crate) fn region(&self, idx: usize) -> &Region {
        &self.state(idx).region
    }

    /// Bytes of mapped regions.
    #[cfg(test)]
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.slots.iter().flatten().map(|s| s.region.len()).sum()
    }

    /// Numbers for stats.
    pub(crate) fn usage(&self) -> TableUsage {
        let mut u = TableUsage {
            free_regions_committed: self.free_committed.len(),
            free_regions_decommitted: self.free_decommitted.len(),
            ..TableUsage::default()
        };
        for s in self.slots.iter().flatten() {
            u.mapped_bytes += s.region.len();
            if s.committed {
                u.committed_bytes += s.region.len();
            }
            u.regions_by_kind[entry::kind_tag(s.region.kind())] += 1;
            if let Some(class) = s.class {
                let c = &mut u.classes[class.index()];
                c.regions += 1;
                c.outstanding += s.outstanding();
                c.carvable += (s.capacity - s.bump) as usize + s.free.len();
            }
        }
        u
    }

    /// Checks the invariants in the module docs.
    pub(crate) fn is_valid(&self) -> bool {
        std::thread_local! {
            static SCRATCH: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
        }
        // A scratch kept per thread with room for a whole region, so the check allocates
        // nothing in steady state either (`tests/no_heap_alloc.rs` runs with it on): only when
        // it first meets a smaller class, or on a thread whose thread-locals are being torn
        // down (a cache flushed at thread exit).
        let mut sorted = SCRATCH.try_with(std::cell::Cell::take).unwrap_or_default();
        let mut ok = true;
        for (idx, s) in self.slots.iter().enumerate() {
            let Some(s) = s else {
                ok &= self.vacant.contains(&idx);
                continue;
            };
            let base = s.region.base().as_ptr() as usize;
            ok &= self.by_addr.get(&base) == Some(&idx);
            ok &= base.checked_add(s.region.len()).is_some_and(|end| end <= entry::ADDRESS_LIMIT);
            match s.class {
                Some(class) => {
                    ok &= s.committed && s.bump <= s.capacity && s.free.len() <= s.bump as usize;
                    ok &= s.free.capacity() >= s.capacity as usize;
                    sorted.clear();
                    sorted.reserve(s.capacity as usize);
                    sorted.extend_from_slice(&s.free);
                    sorted.sort_unstable();
                    sorted.dedup();
                    ok &= sorted.len() == s.free.len() && sorted.iter().all(|&f| f < s.bump);
                    ok &= s.in_partial == s.has_room();
                    ok &= self.partial[class.index()].contains(&idx) == s.has_room();
                    ok &= !self.free_committed.contains(&idx) && !self.free_decommitted.contains(&idx);
                }
                None => {
                    ok &= s.bump == 0 && s.free.is_empty() && !s.in_partial;
                    ok &= self.free_committed.contains(&idx) == s.committed;
                    ok &= self.free_decommitted.contains(&idx) != s.committed;
                }
            }
        }
        let _ = SCRATCH.try_with(|cell| cell.set(sorted));
        ok
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;

    use numa::sys::heap::HeapSource;
    use numa::{NodeId, PageSource, RegionSpec};

    use super::*;

    fn region(len: usize) -> Region {
        let source: Arc<dyn PageSource> = Arc::new(HeapSource::new());
        Region::map(&source, &RegionSpec::new(len, NodeId::new(0))).expect("the heap source maps").0
    }

    #[test]
    fn carve_give_back_and_free_region_reuse() {
        let mut t = RegionTable::new();
        t.insert(region(2 << 20));
        let c32k = SizeClass::for_size(32 << 10).unwrap();
        let mut out = Vec::new();
        assert_eq!(t.carve(c32k, 100, &mut out), 64, "a 2 MiB region holds 64 segments of 32 KiB");
        assert!(t.is_valid());
        let addrs: std::collections::HashSet<usize> = out.iter().map(|&e| e.addr()).collect();
        assert_eq!(addrs.len(), 64, "no segment carved twice");
        assert!(addrs.iter().all(|a| a % (32 << 10) == 0), "segments are aligned to their size");
        assert_eq!(t.usage().classes[c32k.index()].outstanding, 64);
        // Another class finds no room: the only region serves 32 KiB.
        assert_eq!(t.carve(SizeClass::for_size(4096).unwrap(), 1, &mut Vec::new()), 0);
        // Half back: the region serves 32 KiB again with room.
        assert_eq!(t.give_back(c32k, out.drain(..32)), 32);
        assert!(t.is_valid());
        let mut again = Vec::new();
        assert_eq!(t.carve(c32k, 8, &mut again), 8);
        out.extend(again);
        // Everything back: the region is free and another class can take it.
        t.give_back(c32k, out.drain(..));
        assert!(t.is_valid());
        assert_eq!(t.usage().free_regions_committed, 1);
        assert_eq!(t.carve(SizeClass::for_size(4096).unwrap(), 512, &mut out), 512);
        assert!(t.is_valid());
    }

    #[test]
    fn excess_free_regions_are_decommitted_and_recommitted() {
        let mut t = RegionTable::new();
        for _ in 0..3 {
            t.insert(region(2 << 20));
        }
        let excess = t.excess_free(2 << 20);
        assert_eq!(excess.len(), 2);
        for idx in excess {
            t.mark_decommitted(idx);
        }
        assert!(t.is_valid());
        assert_eq!(t.usage().committed_bytes, 2 << 20);
        let idx = t.decommitted_region().unwrap();
        t.mark_recommitted(idx);
        assert_eq!(t.usage().committed_bytes, 4 << 20);
        let region = t.remove(idx);
        assert_eq!(region.len(), 2 << 20);
        assert!(t.is_valid());
        assert_eq!(t.mapped_bytes(), 4 << 20);
    }

    #[test]
    fn lookup_by_address() {
        let mut t = RegionTable::new();
        t.insert(region(2 << 20));
        let mut out = Vec::new();
        t.carve(SizeClass::for_size(1 << 20).unwrap(), 2, &mut out);
        let a = out[1].addr();
        assert!(t.region_of(a + 100).is_some());
        assert_eq!(t.kind_of(a), Some(PageKind::Huge2M));
        assert!(t.region_of(a + (2 << 20)).is_none());
        assert!(t.region_of(1).is_none());
    }
}
