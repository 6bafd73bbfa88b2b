//! Models of handing network buffers from a requesting thread to a recycling thread, one at a
//! time (issue #14's buffers row): what each design of the pool's idle list costs when the two
//! threads run on two CPUs, measured side by side in one run. Not the pool: a few dozen lines
//! per model, 2,048 buffers of 32 KiB, a 1,024-slot ring carrying a 48-byte handle (the size of
//! a `Buffer`), the recycler touching each buffer's first byte as the bench does.
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
}

impl Model {
    fn compact(self) -> bool {
        matches!(
            self,
            Self::TodayCompact | Self::PopFlushCompact | Self::FlushCompact | Self::Halves | Self::FlushCounted
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
    /// Whether `pop` follows the compact links (set per run).
    pop_compact: bool,
}

/// The next head word: tag bumped, *ready* kept.
fn next_word(word: u64, top: u64) -> u64 {
    ((word & !(TOP | READY)).wrapping_add(TAG_ONE)) | (word & READY) | top
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
            Model::Halves => {
                pool.take_all(held, true);
                if held.is_empty() {
                    let half = &pool.halves[*turn].0;
                    let n = half.1.load(Ordering::Acquire) as usize;
                    if n != 0 {
                        held.extend(half.0[..n].iter().map(|e| e.load(Ordering::Relaxed)));
                        half.1.store(0, Ordering::Release);
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
                    Model::TodayCompact | Model::PopFlushCompact | Model::FlushCompact => pool.inbox_put(slot, true),
                    Model::FlushCounted => {
                        let s = &pool.slots[slot as usize];
                        s.requests.store(s.requests.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                        pool.inbox_put(slot, true);
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
