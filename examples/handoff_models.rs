//! Models of handing network buffers from a requesting thread to a recycling thread, one at a
//! time (issue #14's buffers row): what each design of the pool's idle list costs when the two
//! threads run on two CPUs, measured side by side in one run. Not the pool: a few dozen lines
//! per model, 2,048 buffers of 32 KiB, a 1,024-slot ring carrying a 48-byte handle (the size
//! of a `Buffer` then; 32 bytes since the Thirteenth pass), the recycler touching each buffer's
//! first byte as the bench does.
//!
//! ```text
//! cargo run --release --features bench --example handoff_models -- [buffers per run] [rounds]
//! ```
//!
//! Models (docs/BENCHMARKS.md, *Eighth pass*, quotes the output):
//! - `today`: as the pool is: the requester pops the stack with one CAS per buffer; the recycler
//!   reserves an inbox entry with one CAS per buffer and sets *ready* on the stack's head at
//!   the 15th; the requester then takes the inbox (links it onto the stack) before popping.
//! - `today-compact`: `today` with the links (`next`) in a compact array instead of the slots.
//! - `pop-flush-compact`: the requester pops with one CAS per buffer and never takes the inbox;
//!   the recycler flushes a full inbox onto the stack itself, links compact.
//! - `requester`: the requester keeps what it takes, up to 16 at a time: the inbox's entries
//!   directly, the rest popped off the stack one by one (a requester-held batch).
//! - `flush-slots`: the requester takes the whole stack with one CAS when it has nothing; the
//!   recycler reserves inbox entries with one CAS each on a line only it writes, and flushes a
//!   full inbox onto the stack itself, linking through the 64-byte slots.
//! - `flush-compact`: the same with the links in a compact array (16 per cache line).
//! - `halves`: the recycler fills one of two 16-entry halves with plain stores and publishes it
//!   with one store; the requester takes a published half. No read-modify-write per buffer on
//!   either side. (When the next half is not taken yet, the recycler pushes onto the stack.)
//! - `flush-counted`: `flush-compact` with the recycler also writing the buffer's slot line (as
//!   the pool's taker of an inbox entry counts its recycle there).
//! - `walk-before`: `flush-compact`, but the requester pops a chain of at most [`AHEAD`] as the
//!   pool's `BufferRequester` tried it (*Eighth pass*): it walks the links from the top first,
//!   then swings the head past them with one CAS, and walks again when the CAS fails.
//! - `take-all-keep`: `flush-compact`, but the requester keeps at most [`AHEAD`]: it takes the
//!   whole stack with one CAS, walks it privately, and pushes what it does not keep back with
//!   one CAS (onto the stack it emptied, the remainder's links and depths stay valid; if a
//!   recycler pushed meanwhile, it is walked and pushed on top of that as one chain).
//! - `sealed`: the inbox as [`BATCHES`] batches of [`BATCH`] entries. Recyclers reserve entries
//!   of the batch being filled with one CAS each on a line only they write; the one that
//!   reserves the last seals the batch (one `fetch_or` on a mask). The requester takes a sealed
//!   batch whole (one `fetch_and`), reads its entries (two lines), keeps them (at most
//!   [`BATCH`] held), and gives the batch back for filling. While no empty batch is installed,
//!   recycles push onto the stack, which the requester takes whole when no batch is sealed.
//! - `sealed-rings`: `sealed` for one requester, which then pays no read-modify-write: sealed
//!   batches reach it through a ring of batch ids (a recycler reserves a place with one
//!   `fetch_add` on a line only recyclers write), and it hands emptied batches back through a
//!   second ring, from which recyclers claim them with one CAS.
//! - `halves-cas`: `halves`, the recycler counting each buffer into the half with one CAS on
//!   the half's count (after writing the entry), so that another thread could take a half
//!   partly filled (a waiter, a destroy) by a CAS of its own; the requester takes full halves
//!   by a CAS of the count too (one read-modify-write per 16 buffers). After each count the
//!   recycler reads the stack's head, where the pool keeps its slow flag: a waiter that sets
//!   the flag and then takes the partly filled halves, against a recycler that counts and then
//!   reads the flag, cannot miss each other (both sequentially consistent; on x86 the CAS is a
//!   full fence anyway).
//!
//! Threads are pinned to the first two CPUs of the process. Each round also runs the pool's real
//! network buffers and numaseg's segments through the same hand-off, for reference.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use numaseg::bench::workloads::{handoff, wait};
use numaseg::bench::{NetworkBuffers, NumasegSegments};

const SIZE: usize = 32 << 10;
const N: usize = 2048;
const RING: usize = 1024;
const INBOX: usize = 30;
const MARK: u32 = 15;
const HALF: usize = 16;
/// What `walk-before` and `take-all-keep` hold at most.
const AHEAD: usize = 64;
/// Entries of a batch of `sealed` and `sealed-rings`: one cache line (with 30, two lines, as the
/// pool's inbox, both ran slower in the same rounds).
const BATCH: usize = 16;
/// Batches of `sealed`.
const BATCHES: usize = 64;
/// `sealed`'s fill word: the count of reserved entries (the batch's id above).
const FILL_N: u64 = (1 << 32) - 1;
const IN_FULL: u64 = (1 << INBOX) - 1;
const TAKING: u64 = 1 << 62;
const TOP: u64 = (1 << 32) - 1;
const READY: u64 = 1 << 40;
const TAG_ONE: u64 = 1 << 41;

/// A buffer's bookkeeping line, as the pool's `Slot`.
#[repr(align(64))]
struct Slot {
    next: AtomicU32,
    requests: AtomicU64,
}

#[repr(align(64))]
struct Line<T>(T);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Model {
    Today,
    TodayCompact,
    PopFlushCompact,
    Requester,
    FlushSlots,
    FlushCompact,
    Halves,
    FlushCounted,
    WalkBefore,
    TakeAllKeep,
    Sealed,
    SealedRings,
    HalvesCas,
}

impl Model {
    fn compact(self) -> bool {
        matches!(
            self,
            Self::TodayCompact
                | Self::PopFlushCompact
                | Self::FlushCompact
                | Self::Halves
                | Self::FlushCounted
                | Self::WalkBefore
                | Self::TakeAllKeep
                | Self::Sealed
                | Self::SealedRings
                | Self::HalvesCas
        )
    }
}

struct Pool {
    memory: Box<[AtomicU8]>,
    slots: Box<[Slot]>,
    compact: Box<[AtomicU32]>,
    head: Line<AtomicU64>,
    word: Line<AtomicU64>,
    entries: Line<[AtomicU32; INBOX]>,
    halves: [Line<([AtomicU32; HALF], AtomicU32)>; 2],
    /// `sealed`: the batch being filled (id << 32 | entries reserved).
    fill: Line<AtomicU64>,
    /// `sealed`: the batches' entries (slot + 1, 0 = not written).
    batches: [Line<[AtomicU32; BATCH]>; BATCHES],
    /// `sealed`: bit i = batch i is full, for the requester; and (on the same line, written by
    /// the requester) the empty batches not installed.
    masks: Line<(AtomicU64, AtomicU64)>,
    /// `sealed-rings`: sealed batches (id + 1, 0 = none), and the recyclers' next place in it.
    full_ring: Line<[AtomicU32; BATCHES]>,
    full_seq: Line<AtomicU64>,
    /// `sealed-rings`: emptied batches (id + 1), and the recyclers' next place to claim.
    empty_ring: Line<[AtomicU32; BATCHES]>,
    empty_head: Line<AtomicU64>,
    /// `sealed-rings`: the requester's next places in `full_ring` and `empty_ring` (only it
    /// reads and writes them).
    req: Line<(AtomicU64, AtomicU64)>,
    /// Whether `pop` follows the compact links (set per run).
    pop_compact: bool,
}

/// The next head word: tag bumped, *ready* kept.
fn next_word(word: u64, top: u64) -> u64 {
    ((word & !(TOP | READY)).wrapping_add(TAG_ONE)) | (word & READY) | top
}

/// A count or place of the models' words as an index (below 2^32 in any run).
fn index(n: u64) -> usize {
    usize::try_from(n).unwrap_or_else(|_| unreachable!("below 2^32"))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or_else(|_| unreachable!("fewer than 2^32 buffers"))
}

impl Pool {
    fn new() -> Self {
        let pool = Self {
            memory: (0..SIZE * N).map(|_| AtomicU8::new(0)).collect(),
            slots: (0..N).map(|_| Slot { next: AtomicU32::new(0), requests: AtomicU64::new(0) }).collect(),
            compact: (0..N).map(|_| AtomicU32::new(0)).collect(),
            head: Line(AtomicU64::new(0)),
            word: Line(AtomicU64::new(0)),
            entries: Line(std::array::from_fn(|_| AtomicU32::new(0))),
            halves: std::array::from_fn(|_| Line((std::array::from_fn(|_| AtomicU32::new(0)), AtomicU32::new(0)))),
            fill: Line(AtomicU64::new(0)),
            batches: std::array::from_fn(|_| Line(std::array::from_fn(|_| AtomicU32::new(0)))),
            masks: Line((AtomicU64::new(0), AtomicU64::new(!1))),
            full_ring: Line(std::array::from_fn(|_| AtomicU32::new(0))),
            full_seq: Line(AtomicU64::new(0)),
            empty_ring: Line(std::array::from_fn(|i| AtomicU32::new(if i + 1 < BATCHES { to_u32(i) + 2 } else { 0 }))),
            empty_head: Line(AtomicU64::new(0)),
            req: Line((AtomicU64::new(0), AtomicU64::new(BATCHES as u64 - 1))),
            pop_compact: false,
        };
        let mut order: Vec<u32> = (0..to_u32(N)).collect();
        shuffle(&mut order);
        pool.restack(&order);
        pool
    }

    fn link(&self, slot: u32, to: u32, compact: bool) {
        if compact { &self.compact[slot as usize] } else { &self.slots[slot as usize].next }
            .store(to, Ordering::Relaxed);
    }

    fn next(&self, slot: u32, compact: bool) -> u32 {
        if compact { &self.compact[slot as usize] } else { &self.slots[slot as usize].next }.load(Ordering::Relaxed)
    }

    /// Pushes `chain` (its first the new top) with one CAS.
    fn push_chain(&self, chain: &[u32], compact: bool) {
        let (Some(&first), Some(&last)) = (chain.first(), chain.last()) else { return };
        for pair in chain.windows(2) {
            self.link(pair[0], pair[1] + 1, compact);
        }
        let mut word = self.head.0.load(Ordering::Relaxed);
        loop {
            self.link(last, to_u32((word & TOP) as usize), compact);
            match self.head.0.compare_exchange_weak(
                word,
                next_word(word, u64::from(first) + 1),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(w) => word = w,
            }
        }
    }

    fn pop(&self) -> Option<u32> {
        let mut word = self.head.0.load(Ordering::Acquire);
        loop {
            let top = to_u32((word & TOP) as usize);
            let index = top.checked_sub(1)?;
            let next = self.next(index, self.pop_compact);
            match self.head.0.compare_exchange_weak(
                word,
                next_word(word, u64::from(next)),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(index),
                Err(w) => word = w,
            }
        }
    }

    /// Takes the whole stack with one CAS, into `out` (top last, popped first).
    fn take_all(&self, out: &mut Vec<u32>, compact: bool) {
        let mut word = self.head.0.load(Ordering::Acquire);
        loop {
            if word & TOP == 0 {
                return;
            }
            match self.head.0.compare_exchange_weak(word, next_word(word, 0), Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => break,
                Err(w) => word = w,
            }
        }
        let start = out.len();
        let mut top = to_u32((word & TOP) as usize);
        while let Some(index) = top.checked_sub(1) {
            out.push(index);
            top = self.next(index, compact);
        }
        out[start..].reverse();
    }

    /// Pops at most `AHEAD` with one CAS, walking the links before it (`walk-before`).
    fn pop_walk_before(&self, out: &mut Vec<u32>) {
        let mut word = self.head.0.load(Ordering::Acquire);
        let mut got = [0u32; AHEAD];
        loop {
            let mut top = to_u32((word & TOP) as usize);
            let mut n = 0;
            while let Some(index) = top.checked_sub(1) {
                if n == AHEAD {
                    break;
                }
                got[n] = index;
                n += 1;
                top = self.next(index, true);
            }
            if n == 0 {
                return;
            }
            match self.head.0.compare_exchange_weak(
                word,
                next_word(word, u64::from(top)),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    out.extend(got[..n].iter().rev());
                    return;
                }
                Err(w) => word = w,
            }
        }
    }

    /// Takes the whole stack with one CAS, keeps at most `AHEAD` in `out` and pushes the rest
    /// back (`take-all-keep`).
    fn take_keep(&self, out: &mut Vec<u32>) {
        let mut word = self.head.0.load(Ordering::Acquire);
        loop {
            if word & TOP == 0 {
                return;
            }
            match self.head.0.compare_exchange_weak(word, next_word(word, 0), Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => break,
                Err(w) => word = w,
            }
        }
        let mut got = [0u32; AHEAD];
        let mut n = 0;
        let mut top = to_u32((word & TOP) as usize);
        while let Some(index) = top.checked_sub(1) {
            if n == AHEAD {
                break;
            }
            got[n] = index;
            n += 1;
            top = self.next(index, true);
        }
        out.extend(got[..n].iter().rev());
        if top == 0 {
            return;
        }
        // The rest back: onto the empty stack with one CAS, else on top of what was pushed since.
        let mut now = self.head.0.load(Ordering::Relaxed);
        loop {
            if now & TOP == 0 {
                match self.head.0.compare_exchange_weak(
                    now,
                    next_word(now, u64::from(top)),
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(w) => now = w,
                }
                continue;
            }
            // Walk the remainder to its bottom and push it as one chain.
            let mut chain = Vec::new();
            let mut t = top;
            while let Some(index) = t.checked_sub(1) {
                chain.push(index);
                t = self.next(index, true);
            }
            self.push_chain(&chain, true);
            return;
        }
    }

    /// `sealed`: a recycle into the batch being filled, else onto the stack.
    fn sealed_put(&self, slot: u32) {
        let fill = &self.fill.0;
        let mut f = fill.load(Ordering::Relaxed);
        loop {
            let (id, n) = (index(f >> 32), f & FILL_N);
            if n == BATCH as u64 {
                // Full, and no empty batch installed yet.
                self.push_chain(&[slot], true);
                return;
            }
            match fill.compare_exchange_weak(f, f + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => {
                    self.batches[id].0[index(n)].store(slot + 1, Ordering::Release);
                    if n + 1 == BATCH as u64 {
                        self.masks.0.0.fetch_or(1 << id, Ordering::Release);
                        self.install(None);
                    }
                    return;
                }
                Err(w) => f = w,
            }
        }
    }

    /// `sealed`: the requester takes a sealed batch into `out` (true), else nothing.
    fn sealed_take(&self, out: &mut Vec<u32>) -> bool {
        let sealed = &self.masks.0.0;
        let mut m = sealed.load(Ordering::Relaxed);
        let id = loop {
            if m == 0 {
                self.install(None);
                return false;
            }
            let id = m.trailing_zeros();
            match sealed.compare_exchange_weak(m, m & !(1 << id), Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break id as usize,
                Err(w) => m = w,
            }
        };
        for e in &self.batches[id].0 {
            let v = loop {
                let v = e.load(Ordering::Acquire);
                if v != 0 {
                    break v;
                }
                std::hint::spin_loop();
            };
            e.store(0, Ordering::Relaxed);
            out.push(v - 1);
        }
        self.install(Some(id));
        true
    }

    /// `sealed-rings`: a recycle into the batch being filled, else onto the stack.
    fn rings_put(&self, slot: u32) {
        let fill = &self.fill.0;
        let mut f = fill.load(Ordering::Relaxed);
        loop {
            let (id, n) = (index(f >> 32), f & FILL_N);
            if n == BATCH as u64 {
                if !self.rings_install(f) {
                    self.push_chain(&[slot], true);
                    return;
                }
                f = fill.load(Ordering::Relaxed);
                continue;
            }
            match fill.compare_exchange_weak(f, f + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => {
                    self.batches[id].0[index(n)].store(slot + 1, Ordering::Release);
                    if n + 1 == BATCH as u64 {
                        let q = index(self.full_seq.0.fetch_add(1, Ordering::Relaxed));
                        let place = &self.full_ring.0[q % BATCHES];
                        while place.load(Ordering::Acquire) != 0 {
                            std::hint::spin_loop();
                        }
                        place.store(to_u32(id) + 1, Ordering::Release);
                        self.rings_install(f + 1);
                    }
                    return;
                }
                Err(w) => f = w,
            }
        }
    }

    /// `sealed-rings`: a recycler installs an emptied batch in place of the full one `f`.
    fn rings_install(&self, f: u64) -> bool {
        let h = self.empty_head.0.load(Ordering::Relaxed);
        let place = &self.empty_ring.0[index(h) % BATCHES];
        let v = place.load(Ordering::Acquire);
        if v == 0 || self.empty_head.0.compare_exchange(h, h + 1, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return false;
        }
        place.store(0, Ordering::Release);
        // Release: the entries' clearing (by the requester, before it handed the batch back,
        // which this claim's Acquire saw) happens before the recyclers' stores.
        let installed = self.fill.0.compare_exchange(f, u64::from(v - 1) << 32, Ordering::Release, Ordering::Relaxed);
        assert!(installed.is_ok(), "one recycler: nothing else changes the fill word");
        true
    }

    /// `sealed-rings`: the requester takes the next sealed batch into `out`, no
    /// read-modify-write.
    fn rings_take(&self, out: &mut Vec<u32>) -> bool {
        let (next, tail) = (&self.req.0.0, &self.req.0.1);
        let r = next.load(Ordering::Relaxed);
        let place = &self.full_ring.0[index(r) % BATCHES];
        let v = place.load(Ordering::Acquire);
        if v == 0 {
            return false;
        }
        place.store(0, Ordering::Release);
        next.store(r + 1, Ordering::Relaxed);
        let id = v as usize - 1;
        for e in &self.batches[id].0 {
            let v = loop {
                let v = e.load(Ordering::Acquire);
                if v != 0 {
                    break v;
                }
                std::hint::spin_loop();
            };
            e.store(0, Ordering::Relaxed);
            out.push(v - 1);
        }
        let t = tail.load(Ordering::Relaxed);
        let back = &self.empty_ring.0[index(t) % BATCHES];
        while back.load(Ordering::Acquire) != 0 {
            std::hint::spin_loop();
        }
        back.store(to_u32(id) + 1, Ordering::Release);
        tail.store(t + 1, Ordering::Relaxed);
        true
    }

    /// `sealed`: installs `id` (just emptied) or an empty batch as the one being filled if the
    /// recyclers filled theirs; else keeps `id` among the empty ones.
    fn install(&self, id: Option<usize>) {
        let fill = &self.fill.0;
        let f = fill.load(Ordering::Acquire);
        let empty = &self.masks.0.1;
        if f & FILL_N == BATCH as u64 {
            // Claimed by a CAS (the requester and a recycler may both be installing). Acquire:
            // pairs with the Release that put it there, after the requester cleared its entries.
            let new = id.or_else(|| {
                let mut m = empty.load(Ordering::Relaxed);
                while m != 0 {
                    let i = m.trailing_zeros() as usize;
                    match empty.compare_exchange_weak(m, m & !(1 << i), Ordering::Acquire, Ordering::Relaxed) {
                        Ok(_) => return Some(i),
                        Err(x) => m = x,
                    }
                }
                None
            });
            if let Some(new) = new {
                // Release: the entries' clearing happens before the recyclers' stores.
                if fill.compare_exchange(f, (new as u64) << 32, Ordering::Release, Ordering::Relaxed).is_ok() {
                    return;
                }
                empty.fetch_or(1 << new, Ordering::Release);
                return;
            }
        }
        if let Some(id) = id {
            // Release: the entries' clearing, for whoever claims it.
            empty.fetch_or(1 << id, Ordering::Release);
        }
    }

    /// A recycle into the inbox: one CAS per buffer; a full inbox is flushed onto the stack.
    fn inbox_put(&self, slot: u32, compact: bool) {
        loop {
            let word = self.word.0.load(Ordering::Relaxed);
            let free = !word & IN_FULL;
            if free == 0 {
                self.take_inbox(|chain| self.push_chain(chain, compact));
                std::hint::spin_loop();
                continue;
            }
            let pos = free.trailing_zeros();
            if self.word.0.compare_exchange_weak(word, word | 1 << pos, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                self.entries.0[pos as usize].store(slot + 1, Ordering::Release);
                if pos + 1 == MARK {
                    self.head.0.fetch_or(READY, Ordering::Release);
                }
                return;
            }
        }
    }

    /// Takes the inbox (one taker at a time) and hands its buffers to `f`.
    fn take_inbox(&self, f: impl FnOnce(&[u32])) {
        let mut word = self.word.0.load(Ordering::Acquire);
        loop {
            if word & TAKING != 0 || word & IN_FULL == 0 {
                return;
            }
            match self.word.0.compare_exchange_weak(word, word | TAKING, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                Err(w) => word = w,
            }
        }
        let (mut chain, mut n) = ([0u32; INBOX], 0);
        let mut bits = word & IN_FULL;
        while bits != 0 {
            let pos = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            chain[n] = loop {
                let e = self.entries.0[pos].swap(0, Ordering::Acquire);
                if e != 0 {
                    break e - 1;
                }
                std::hint::spin_loop();
            };
            n += 1;
        }
        self.word.0.fetch_and(!(word & IN_FULL | TAKING), Ordering::Release);
        f(&chain[..n]);
    }

    /// A buffer leaves the pool: its request counted on its slot, its handle made.
    fn hand_out(&self, slot: u32) -> [usize; 6] {
        let s = &self.slots[slot as usize];
        s.requests.store(s.requests.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        [slot as usize, slot as usize * SIZE, 0, 0, 0, 0]
    }

    /// Everything back onto the stack, linked both ways; panics unless every buffer is there.
    fn collect(&self, model: Model) {
        let mut all = Vec::with_capacity(N);
        self.take_inbox(|chain| all.extend_from_slice(chain));
        for half in &self.halves {
            let n = half.0.1.swap(0, Ordering::Relaxed) as usize;
            all.extend(half.0.0[..n].iter().map(|e| e.load(Ordering::Relaxed)));
        }
        for batch in &self.batches {
            all.extend(batch.0.iter().filter_map(|e| e.swap(0, Ordering::Relaxed).checked_sub(1)));
        }
        self.fill.0.store(0, Ordering::Relaxed);
        self.masks.0.0.store(0, Ordering::Relaxed);
        self.masks.0.1.store(!1, Ordering::Relaxed);
        for (i, place) in self.empty_ring.0.iter().enumerate() {
            place.store(if i + 1 < BATCHES { to_u32(i) + 2 } else { 0 }, Ordering::Relaxed);
        }
        for place in &self.full_ring.0 {
            place.store(0, Ordering::Relaxed);
        }
        self.full_seq.0.store(0, Ordering::Relaxed);
        self.empty_head.0.store(0, Ordering::Relaxed);
        self.req.0.0.store(0, Ordering::Relaxed);
        self.req.0.1.store(BATCHES as u64 - 1, Ordering::Relaxed);
        self.take_all(&mut all, model.compact());
        self.head.0.fetch_and(!READY, Ordering::Relaxed);
        assert_eq!(all.len(), N, "{model:?} lost buffers");
        shuffle(&mut all);
        self.restack(&all);
    }

    /// Pushes `order` one by one (the last on top), links in both forms.
    fn restack(&self, order: &[u32]) {
        for &slot in order {
            self.push_chain(&[slot], false);
            self.compact[slot as usize]
                .store(self.slots[slot as usize].next.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

/// Puts the buffers in no particular order, as a service's pool is after a while: neighbours on
/// the stack are then not neighbours in memory, and links the requester walks do not share
/// cache lines by luck. (A fixed xorshift sequence: every run the same.)
fn shuffle(v: &mut [u32]) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        #[expect(clippy::cast_possible_truncation, reason = "below the length")]
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

fn pin(cpu: usize) {
    let cpus = numaseg::bench::motion::same_node_cpus();
    numaseg::bench::motion::pin_apart(&cpus, cpu);
}

/// The requester's next buffer under `model`; `held` is what it keeps, `turn` its next half.
fn request(pool: &Pool, model: Model, held: &mut Vec<u32>, turn: &mut usize) -> u32 {
    loop {
        if let Some(slot) = held.pop() {
            return slot;
        }
        match model {
            Model::Today | Model::TodayCompact => {
                let word = pool.head.0.load(Ordering::Relaxed);
                if word & READY != 0 || word & TOP == 0 {
                    pool.head.0.fetch_and(!READY, Ordering::Acquire);
                    pool.take_inbox(|chain| pool.push_chain(chain, model.compact()));
                }
                if let Some(slot) = pool.pop() {
                    return slot;
                }
            }
            Model::PopFlushCompact => {
                if let Some(slot) = pool.pop() {
                    return slot;
                }
            }
            Model::Requester => {
                pool.head.0.fetch_and(!READY, Ordering::Acquire);
                pool.take_inbox(|chain| held.extend(chain.iter().rev()));
                while held.len() < HALF {
                    let Some(slot) = pool.pop() else { break };
                    held.push(slot);
                }
            }
            Model::FlushSlots | Model::FlushCompact | Model::FlushCounted => pool.take_all(held, model.compact()),
            Model::WalkBefore => pool.pop_walk_before(held),
            Model::TakeAllKeep => pool.take_keep(held),
            Model::Sealed => {
                if !pool.sealed_take(held) {
                    pool.take_all(held, true);
                }
            }
            Model::SealedRings => {
                if !pool.rings_take(held) {
                    pool.take_all(held, true);
                }
            }
            Model::Halves | Model::HalvesCas => {
                pool.take_all(held, true);
                if held.is_empty() {
                    let half = &pool.halves[*turn].0;
                    let n = half.1.load(Ordering::Acquire) as usize;
                    if n == HALF {
                        held.extend(half.0[..n].iter().map(|e| e.load(Ordering::Relaxed)));
                        if model == Model::HalvesCas {
                            // Any taker (a waiter, a destroy too) takes a half by a CAS of its
                            // count; only this thread takes here, so it cannot fail.
                            let taken = half.1.compare_exchange(to_u32(n), 0, Ordering::AcqRel, Ordering::Relaxed);
                            assert!(taken.is_ok(), "a half taken twice");
                        } else {
                            half.1.store(0, Ordering::Release);
                        }
                        *turn ^= 1;
                    }
                }
            }
        }
        std::hint::spin_loop();
    }
}

/// `blocks` buffers handed over under `model`: M buffers per second.
fn run(pool: &mut Pool, blocks: u64, model: Model) -> f64 {
    pool.pop_compact = model.compact();
    let pool = &*pool;
    let (mut tx, mut rx) = rtrb::RingBuffer::<[usize; 6]>::new(RING);
    let elapsed = std::thread::scope(|s| {
        let producer = s.spawn(move || {
            pin(0);
            let (mut held, mut turn) = (Vec::with_capacity(N), 0);
            let t0 = Instant::now();
            for _ in 0..blocks {
                let mut item = pool.hand_out(request(pool, model, &mut held, &mut turn));
                let mut spins = 0;
                while let Err(rtrb::PushError::Full(back)) = tx.push(item) {
                    item = back;
                    spins = wait(spins);
                }
            }
            pool.push_chain(&held, model.compact());
            t0
        });
        let consumer = s.spawn(move || {
            pin(1);
            let (mut got, mut spins, mut fill, mut turn) = (0u64, 0, 0, 0);
            while got < blocks {
                let Ok(item) = rx.pop() else {
                    spins = wait(spins);
                    continue;
                };
                #[expect(clippy::cast_possible_truncation, reason = "a byte of the count")]
                pool.memory[item[1]].store(got as u8, Ordering::Relaxed);
                let slot = to_u32(item[0]);
                match model {
                    Model::Today | Model::Requester | Model::FlushSlots => pool.inbox_put(slot, false),
                    Model::TodayCompact
                    | Model::PopFlushCompact
                    | Model::FlushCompact
                    | Model::WalkBefore
                    | Model::TakeAllKeep => pool.inbox_put(slot, true),
                    Model::Sealed => pool.sealed_put(slot),
                    Model::SealedRings => pool.rings_put(slot),
                    Model::FlushCounted => {
                        let s = &pool.slots[slot as usize];
                        s.requests.store(s.requests.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                        pool.inbox_put(slot, true);
                    }
                    Model::HalvesCas => {
                        let half = &pool.halves[turn].0;
                        let n = to_u32(fill);
                        if fill == 0 && half.1.load(Ordering::Acquire) != 0 {
                            pool.push_chain(&[slot], true); // the next half is not taken yet
                        } else {
                            half.0[fill].store(slot, Ordering::Relaxed);
                            // The entry before the count (Release at least); a thread taking the
                            // half partly filled would CAS the count away, and this one fail.
                            if half.1.compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::Relaxed).is_err() {
                                unreachable!("nothing takes a half partly filled in this model");
                            }
                            // The pool's slow flag, read after the count (a waiter sets it, then
                            // takes partly filled halves: one of the two sees the other).
                            std::hint::black_box(pool.head.0.load(Ordering::SeqCst));
                            fill += 1;
                            if fill == HALF {
                                (fill, turn) = (0, turn ^ 1);
                            }
                        }
                    }
                    Model::Halves => {
                        let half = &pool.halves[turn].0;
                        if fill == 0 && half.1.load(Ordering::Acquire) != 0 {
                            pool.push_chain(&[slot], true); // the next half is not taken yet
                        } else {
                            half.0[fill].store(slot, Ordering::Relaxed);
                            fill += 1;
                            if fill == HALF {
                                half.1.store(to_u32(HALF), Ordering::Release);
                                (fill, turn) = (0, turn ^ 1);
                            }
                        }
                    }
                }
                got += 1;
                spins = 0;
            }
            let half = &pool.halves[turn].0;
            let rest: Vec<u32> = half.0[..fill].iter().map(|e| e.load(Ordering::Relaxed)).collect();
            if fill != 0 {
                half.1.store(0, Ordering::Relaxed); // `halves-cas`: counted there; now on the stack
            }
            pool.push_chain(&rest, true);
            Instant::now()
        });
        let t0 = producer.join().unwrap_or_else(|_| panic!("producer panicked"));
        let t1 = consumer.join().unwrap_or_else(|_| panic!("consumer panicked"));
        t1.duration_since(t0)
    });
    pool.collect(model);
    blocks as f64 / elapsed.as_secs_f64() / 1e6
}

fn main() {
    let mut args = std::env::args().skip(1);
    let blocks: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let mut pool = Pool::new();
    // The real thing in the same rounds: the pool's buffers and numaseg's segments, handed over
    // as `numaseg bench` does (pinned apart), the reference points of the models.
    let manager = match numaseg::Config::builder()
        .memory_limit(numaseg::config::MemoryAmount::Unlimited)
        .build()
        .map_err(|e| e.to_string())
        .and_then(|c| numaseg::ArenaManager::new(&c).map_err(|e| e.to_string()))
    {
        Ok(m) => std::sync::Arc::new(m),
        Err(e) => {
            eprintln!("handoff_models: {e}");
            std::process::exit(1);
        }
    };
    let buffers = NetworkBuffers::new(std::sync::Arc::clone(&manager), SIZE, 2 * N, 2);
    let segments = NumasegSegments::new(std::sync::Arc::clone(&manager), SIZE);
    let apart = |thread: usize| pin(thread);
    let models = [
        Model::Today,
        Model::TodayCompact,
        Model::PopFlushCompact,
        Model::Requester,
        Model::FlushSlots,
        Model::FlushCompact,
        Model::Halves,
        Model::FlushCounted,
        Model::WalkBefore,
        Model::TakeAllKeep,
        Model::Sealed,
        Model::SealedRings,
        Model::HalvesCas,
    ];
    // Warm-up, discarded: the pools grow to the ring's size, the CPUs wake up.
    for &m in &models {
        run(&mut pool, blocks / 4, m);
    }
    handoff(&buffers, blocks / 4, RING, &apart);
    handoff(&segments, blocks / 4, RING, &apart);
    for round in 0..rounds {
        let mut rates: Vec<String> =
            models.iter().map(|&m| format!("{m:?} {:.1}", run(&mut pool, blocks, m))).collect();
        rates.push(format!("pool's buffers {:.1}", handoff(&buffers, blocks, RING, &apart)));
        rates.push(format!("numaseg segments {:.1}", handoff(&segments, blocks, RING, &apart)));
        println!("round {round} (M buffers/s): {}", rates.join(", "));
    }
}
