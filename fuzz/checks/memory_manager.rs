//! The `MemoryManager` against random operation sequences, checked against counters: owners
//! created (unbound, bound to a node, bound to a node that does not exist) and ended (`close` or
//! drop, with reservations outstanding or not), pages allocated one at a time or in bulk (counts
//! from 0 to `usize::MAX`), released one at a time, in runs (`release_many`, `release_pages`,
//! mixed with another manager's pages) or revoked (`release_all`, twice), reservations
//! (including more than the budget, and releases of more than is held), shared resources (of two
//! types, with failing initializers), the `compute_*` and use-case functions with fractions
//! inside and outside (0, 1] and NaN, and another manager's owners and pages.
//!
//! After every operation: pages + reservations + shared resources equal the model and never pass
//! the budget, `available_memory` and `verify_empty` agree with the model, each owner's pages and
//! reservation match, and a refused call is the documented typed error with the model's numbers
//! and took nothing (all or nothing). At the end, once every owner has ended: `verify_empty()`,
//! and the allocator's `used_segments() == 0`.
//!
//! Shared by the fuzz target (`fuzz/fuzz_targets/memory_manager.rs`) and the regression test that
//! replays stored inputs (`tests/all/fuzz_regressions.rs`).

use std::ptr::NonNull;
use std::sync::Arc;

use numaseg::config::ByteSize;
use numaseg::manager::MAX_PAGES;
use numaseg::manager::{UseCase, UseCaseWeights};
use numaseg::numa::NodeId;
use numaseg::{
    ArenaManager, Config, MemoryError, MemoryManager, MemoryOwner, MemorySegment, SegmentError, SharedResource,
};

/// Pretend nodes of the allocator (owners may be bound to node 0 or 1; node 2 does not exist).
const NODES: usize = 2;
/// Owners alive at once, at most.
const MAX_OWNERS: usize = 6;

/// One allocator for the whole fuzzing process (mapping regions per input would dominate the
/// run); each input builds its own memory managers on it and checks that everything went back.
fn arena() -> Arc<ArenaManager> {
    static ARENA: std::sync::OnceLock<Arc<ArenaManager>> = std::sync::OnceLock::new();
    Arc::clone(ARENA.get_or_init(|| {
        let config =
            Config::builder().region_size(ByteSize(2 << 20)).build_from::<_, &str, &str>([]).expect("configuration");
        Arc::new(ArenaManager::heap_backed(&config, NODES).expect("allocator"))
    }))
}

/// Reads operations and their arguments from the fuzzer's bytes (zeros once they run out).
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(first)
    }

    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    fn index(&mut self, len: usize) -> usize {
        usize::from(self.byte()) % len.max(1)
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    /// A page count: mostly small, sometimes at the edges of the budget or the integer limits.
    #[expect(clippy::cast_possible_truncation, reason = "a 64-bit host")]
    fn pages(&mut self, m: &Model) -> usize {
        let free = m.free() / m.page_size;
        match self.byte() % 12 {
            0..=5 => usize::from(self.byte() % 40),
            6 => free,
            7 => free + 1,
            8 => m.total_pages + usize::from(self.byte() % 3),
            9 => [MAX_PAGES, MAX_PAGES + 1, u32::MAX as usize, u32::MAX as usize + 1][self.index(4)],
            10 => usize::MAX - usize::from(self.byte() % 4),
            _ => self.u64() as usize,
        }
    }

    /// A byte count: small, at the edges of the budget, or at the integer limits.
    #[expect(clippy::cast_possible_truncation, reason = "a 64-bit host")]
    fn bytes(&mut self, m: &Model, held: usize) -> usize {
        match self.byte() % 12 {
            0..=4 => usize::from(self.byte()) * 97,
            5 => m.free(),
            6 => m.free() + 1,
            7 => held,
            8 => held + 1 + usize::from(self.byte()),
            9 => m.memory_size + usize::from(self.byte() % 3),
            10 => usize::MAX - usize::from(self.byte() % 4),
            _ => self.u64() as usize,
        }
    }

    /// A fraction of the budget: inside (0, 1], at its edges, outside it, NaN, infinite.
    fn fraction(&mut self) -> f64 {
        const EDGES: [f64; 14] = [
            f64::NAN,
            -f64::NAN,
            0.0,
            -0.0,
            -1.0,
            f64::MIN_POSITIVE,
            5e-324,
            1e-9,
            0.5,
            1.0,
            1.0 + f64::EPSILON,
            2.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        match self.byte() % 3 {
            0 => EDGES[self.index(EDGES.len())],
            1 => f64::from(u16::from_le_bytes([self.byte(), self.byte()])) / 65535.0,
            _ => f64::from_bits(self.u64()),
        }
    }
}

/// A live owner and its model. The owner is boxed and reached through a raw pointer so that
/// pages can borrow it while the check keeps it in a list it edits (see `Owner::get`).
struct Owner {
    ptr: NonNull<MemoryOwner>,
    key: u64,
    name: String,
    use_case: UseCase,
    node: Option<NodeId>,
    reserved: usize,
}

impl Owner {
    /// The owner, for as long as the check says.
    ///
    /// Why this is sound: the box is freed only by `end_owner`, which first drops every page of the owner (every
    /// `Page` with its key) and then the `Owner` itself; `make_home` takes `&mut` only when no
    /// page of it exists. So each reference handed out here is to a live owner for as long as it
    /// is used.
    fn get(&self) -> &'static MemoryOwner {
        // SAFETY: see above.
        unsafe { self.ptr.as_ref() }
    }
}

/// A page in the check's hands.
struct Page {
    key: u64,
    revoked: bool,
    page: MemorySegment<'static>,
}

/// A lease on a shared resource, of one of two types.
#[derive(Debug)]
enum Lease {
    Number(SharedResource<u64>),
    Text(SharedResource<String>),
}

impl Lease {
    fn size(&self) -> usize {
        match self {
            Self::Number(l) => l.size(),
            Self::Text(l) => l.size(),
        }
    }
}

/// A use case's shared resource in the model.
struct Resource {
    text: bool,
    bytes: usize,
    leases: Vec<Lease>,
}

/// The counters the manager must agree with.
struct Model {
    memory_size: usize,
    page_size: usize,
    total_pages: usize,
    owners: Vec<Owner>,
    pages: Vec<Page>,
    resources: [Option<Resource>; 3],
    next_key: u64,
}

impl Model {
    fn used(&self) -> usize {
        self.pages.len() * self.page_size
            + self.owners.iter().map(|o| o.reserved).sum::<usize>()
            + self.resources.iter().flatten().map(|r| r.bytes).sum::<usize>()
    }

    fn free(&self) -> usize {
        self.memory_size - self.used()
    }

    fn pages_of(&self, key: u64) -> usize {
        self.pages.iter().filter(|p| p.key == key).count()
    }

    /// Whether `n` more pages fit (the budget refuses only when pages in use plus reservations
    /// really leave too little: idle credit is taken back first).
    fn fits_pages(&self, n: usize) -> bool {
        n.checked_mul(self.page_size).is_some_and(|b| b <= self.free())
    }

    /// Checks a `PagesExhausted` error against the model.
    fn exhausted(&self, what: &str, e: &MemoryError, owner: &Owner, n: usize) {
        match e {
            MemoryError::PagesExhausted { owner: name, requested, page_size, available, total } => {
                assert_eq!(
                    (name.as_str(), *requested, *page_size, *available, *total),
                    (owner.name.as_str(), n, self.page_size, self.free() / self.page_size, self.total_pages),
                    "{what}: {e}"
                );
            }
            other => panic!("{what}: expected PagesExhausted, got {other:?}"),
        }
    }

    /// Checks a `ReservationRefused` error against the model.
    fn refused(&self, what: &str, e: &MemoryError, owner: &str, bytes: usize) {
        match e {
            MemoryError::ReservationRefused { owner: name, requested, available, total } => {
                assert_eq!(
                    (name.as_str(), *requested, *available, *total),
                    (owner, bytes, self.free(), self.memory_size),
                    "{what}: {e}"
                );
            }
            other => panic!("{what}: expected ReservationRefused, got {other:?}"),
        }
    }
}

fn good_fraction(f: f64) -> bool {
    f > 0.0 && f <= 1.0
}

/// `⌊amount × fraction⌋` as the documentation defines it (rounded down, never above `amount`).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "a fraction in (0, 1] of a usize"
)]
fn floor_of(amount: usize, fraction: f64) -> usize {
    (((amount as f64) * fraction).floor() as usize).min(amount)
}

fn bad_fraction<T: std::fmt::Debug>(what: &str, result: Result<T, MemoryError>, f: f64) {
    match result {
        Err(MemoryError::BadFraction { fraction }) => assert_eq!(fraction.to_bits(), f.to_bits(), "{what}"),
        other => panic!("{what}({f}): expected BadFraction, got {other:?}"),
    }
}

fn foreign<T: std::fmt::Debug>(what: &str, result: Result<T, MemoryError>, name: &str) {
    match result {
        Err(MemoryError::ForeignOwner { owner }) => assert_eq!(owner, name, "{what}"),
        other => panic!("{what}: expected ForeignOwner, got {other:?}"),
    }
}

/// Ends an owner: its pages first (they borrow it), then the owner, by `close` or by drop.
fn end_owner(m: &mut Model, mm: &MemoryManager, at: usize, close: bool) {
    let key = m.owners[at].key;
    let (mine, others): (Vec<Page>, Vec<Page>) = std::mem::take(&mut m.pages).into_iter().partition(|p| p.key == key);
    m.pages = others;
    mm.release_many(mine.into_iter().map(|p| p.page));
    let owner = m.owners.swap_remove(at);
    // SAFETY: the pointer came from `Box::into_raw` in `create_owner`, and no page of the owner is
    // left (just released), so nothing borrows it any more.
    let boxed = unsafe { Box::from_raw(owner.ptr.as_ptr()) };
    if close {
        let report = boxed.close();
        assert_eq!(
            (report.id, report.name.as_str(), report.use_case),
            (owner.key, owner.name.as_str(), owner.use_case)
        );
        assert_eq!((report.pages, report.page_bytes, report.reserved_bytes), (0, 0, owner.reserved), "{report}");
        assert_eq!(report.is_clean(), owner.reserved == 0);
    } else {
        drop(boxed);
    }
}

fn create_owner(m: &mut Model, mm: &MemoryManager, input: &mut Input<'_>) {
    if m.owners.len() >= MAX_OWNERS {
        return;
    }
    let use_case = UseCase::ALL[input.index(3)];
    let name = format!("owner-{}", m.next_key);
    m.next_key += 1;
    let node = match input.byte() % 4 {
        0 | 1 => None,
        n => Some(NodeId::new(u16::from(n) * 2 - 3)), // node 1, or node 3 (does not exist)
    };
    let owner = match node {
        None => mm.owner(&name, use_case),
        Some(node) => match mm.owner_on(&name, use_case, node) {
            Ok(owner) => {
                assert!(node.index() < NODES);
                owner
            }
            Err(MemoryError::Node(_)) => {
                assert!(node.index() >= NODES, "owner_on({node}) refused");
                return;
            }
            Err(e) => panic!("owner_on({node}): {e}"),
        },
    };
    assert_eq!((owner.name(), owner.use_case(), owner.node(), owner.pages()), (name.as_str(), use_case, node, 0));
    let key = owner.id();
    let ptr = NonNull::from(Box::leak(Box::new(owner)));
    m.owners.push(Owner { ptr, key, name, use_case, node, reserved: 0 });
}

/// Page allocation, one or in bulk, all or nothing.
fn allocate(m: &mut Model, mm: &MemoryManager, input: &mut Input<'_>) {
    if m.owners.is_empty() {
        return;
    }
    let at = input.index(m.owners.len());
    let (owner, key) = (m.owners[at].get(), m.owners[at].key);
    let before = m.pages_of(key);
    let single = input.byte().is_multiple_of(3);
    let n = if single { 1 } else { input.pages(m) };
    let into = input.byte().is_multiple_of(2);
    let result = if single {
        mm.allocate_page(owner).map(|p| vec![p])
    } else if into {
        // The target keeps what it had on a refusal.
        let mut target = Vec::new();
        match mm.allocate_pages_into(owner, n, &mut target) {
            Ok(()) => Ok(target),
            Err(e) => {
                assert!(target.is_empty(), "a refused allocate_pages_into left pages in its target");
                Err(e)
            }
        }
    } else {
        mm.allocate_pages(owner, n)
    };
    let what = format!("allocate {n} pages for {}", m.owners[at].name);
    match result {
        Ok(pages) => {
            assert!(m.fits_pages(n), "{what}: granted beyond the budget");
            assert_eq!(pages.len(), n, "{what}");
            for page in pages {
                assert!(!page.is_released());
                assert_eq!(page.owner_id(), key);
                if let Some(node) = m.owners[at].node {
                    assert_eq!(page.node(), node, "{what}: a bound owner's page on another node");
                }
                m.pages.push(Page { key, revoked: false, page });
            }
        }
        Err(e) => {
            assert!(!m.fits_pages(n), "{what}: refused although it fits: {e}");
            m.exhausted(&what, &e, &m.owners[at], n);
            assert_eq!(owner.pages(), before, "{what}: a refused allocation took pages");
            assert_eq!(arena().stats().used_segments(), m.pages.len() as u64, "{what}: took from the allocator");
        }
    }
}

/// Page release: one, a random subset in one call, or everything of one owner by `release_pages`.
fn release(m: &mut Model, mm: &MemoryManager, other: &MemoryManager, input: &mut Input<'_>) {
    if m.pages.is_empty() {
        return;
    }
    match input.byte() % 5 {
        0 => drop(m.pages.swap_remove(input.index(m.pages.len())).page),
        1 => m.pages.swap_remove(input.index(m.pages.len())).page.release(),
        // Released through another manager: it goes back to its own.
        2 => other.release(m.pages.swap_remove(input.index(m.pages.len())).page),
        3 => {
            let mask = input.byte();
            let mut k = 0;
            let (gone, kept): (Vec<Page>, Vec<Page>) = std::mem::take(&mut m.pages).into_iter().partition(|_| {
                k += 1;
                mask >> (k % 8) & 1 == 1
            });
            m.pages = kept;
            mm.release_many(gone.into_iter().map(|p| p.page));
        }
        _ => {
            let key = m.pages[input.index(m.pages.len())].key;
            let (mine, others): (Vec<Page>, Vec<Page>) =
                std::mem::take(&mut m.pages).into_iter().partition(|p| p.key == key);
            m.pages = others;
            let mut vec: Vec<MemorySegment<'_>> = mine.into_iter().map(|p| p.page).collect();
            mm.release_pages(&mut vec);
            assert!(vec.is_empty());
        }
    }
}

/// Revocation: every page of the owner refuses every access; its memory stays with the handles.
fn release_all(m: &mut Model, mm: &MemoryManager, other: &MemoryManager, input: &mut Input<'_>) {
    if m.owners.is_empty() {
        return;
    }
    let at = input.index(m.owners.len());
    let key = m.owners[at].key;
    let twice = input.byte().is_multiple_of(4);
    // Through the owner's manager or another one: an owner always works against its own.
    let via = if input.byte().is_multiple_of(2) { mm } else { other };
    via.release_all(m.owners[at].get());
    if twice {
        via.release_all(m.owners[at].get());
    }
    for p in m.pages.iter_mut().filter(|p| p.key == key) {
        p.revoked = true;
        assert!(p.page.is_released());
        let address = p.page.as_ptr() as usize;
        assert_eq!(p.page.get_u64_be(0), Err(SegmentError::Released { owner: key, address }));
        assert_eq!(p.page.slice(usize::MAX, 2).map(<[u8]>::len), Err(SegmentError::Released { owner: key, address }));
    }
}

/// Reservations: reserve (all or nothing), release some (at most what is held), release all.
fn reserve(m: &mut Model, mm: &MemoryManager, other: &MemoryManager, input: &mut Input<'_>) {
    if m.owners.is_empty() {
        return;
    }
    let at = input.index(m.owners.len());
    let owner = m.owners[at].get();
    let held = m.owners[at].reserved;
    let bytes = input.bytes(m, held);
    let what = format!("{}: {bytes} bytes", m.owners[at].name);
    match input.byte() % 4 {
        0 | 1 => match mm.reserve_memory(owner, bytes) {
            Ok(()) => {
                assert!(bytes <= m.free(), "reserve {what}: granted beyond the budget");
                m.owners[at].reserved += bytes;
            }
            Err(e) => {
                assert!(bytes > m.free(), "reserve {what}: refused although it fits: {e}");
                m.refused(&format!("reserve {what}"), &e, &m.owners[at].name, bytes);
            }
        },
        2 => {
            // Through another manager: released from the owner's own.
            let via = if input.byte().is_multiple_of(2) { mm } else { other };
            assert_eq!(via.release_memory(owner, bytes), bytes.min(held), "release {what}");
            m.owners[at].reserved -= bytes.min(held);
        }
        _ => {
            assert_eq!(mm.release_all_memory(owner), held, "release all of {what}");
            m.owners[at].reserved = 0;
        }
    }
}

/// Shared resources: created once per use case from a fraction (reserved first), shared by later
/// requests of the same type, refused for another type, given back when the last lease drops.
fn shared(m: &mut Model, mm: &MemoryManager, input: &mut Input<'_>) {
    let u = input.index(3);
    let use_case = UseCase::ALL[u];
    if input.byte().is_multiple_of(3) {
        // Drop a lease; the last one gives the reservation back.
        if let Some(resource) = &mut m.resources[u] {
            let at = input.index(resource.leases.len());
            drop(resource.leases.swap_remove(at));
            if resource.leases.is_empty() {
                m.resources[u] = None;
            }
        }
        return;
    }
    let f = input.fraction();
    let text = input.byte().is_multiple_of(2);
    let fail = input.byte().is_multiple_of(4);
    let mut called = None;
    let result = if text {
        mm.shared_resource(use_case, f, |bytes| {
            called = Some(bytes);
            if fail { Err("refused by the initializer") } else { Ok(format!("{bytes}")) }
        })
        .map(Lease::Text)
    } else {
        mm.shared_resource(use_case, f, |bytes| {
            called = Some(bytes);
            if fail { Err("refused by the initializer") } else { Ok(bytes as u64) }
        })
        .map(Lease::Number)
    };
    let what = format!("shared_resource({use_case}, {f})");
    if !good_fraction(f) {
        assert!(called.is_none(), "{what}: initializer called");
        return bad_fraction(&what, result, f);
    }
    let bytes = floor_of(m.memory_size, f);
    let free = m.free();
    match (&mut m.resources[u], result) {
        (Some(resource), Ok(lease)) => {
            assert!(called.is_none() && resource.text == text, "{what}: created twice or of another type");
            assert_eq!(lease.size(), resource.bytes, "{what}");
            resource.leases.push(lease);
        }
        (Some(resource), Err(MemoryError::SharedTypeMismatch { use_case: got, .. })) => {
            assert!(called.is_none() && resource.text != text && got == use_case.name(), "{what}");
        }
        (None, Ok(lease)) => {
            assert!(bytes <= free && called == Some(bytes) && !fail, "{what}: created beyond the budget or wrongly");
            assert_eq!(lease.size(), bytes, "{what}");
            m.resources[u] = Some(Resource { text, bytes, leases: vec![lease] });
        }
        (None, Err(MemoryError::SharedInit { use_case: got, bytes: given, .. })) => {
            assert!(
                fail && bytes <= free && got == use_case.name() && given == bytes && called == Some(bytes),
                "{what}"
            );
        }
        (None, Err(e)) => {
            assert!(bytes > free && called.is_none(), "{what}: {e}");
            m.refused(&what, &e, &format!("shared:{use_case}"), bytes);
        }
        (_, other) => panic!("{what}: {:?}", other.map(|l| l.size())),
    }
}

/// The pure functions: fractions of the budget, use-case shares.
fn compute(m: &Model, mm: &MemoryManager, weights: &UseCaseWeights, input: &mut Input<'_>) {
    let f = input.fraction();
    if good_fraction(f) {
        assert_eq!(mm.compute_number_of_pages(f).ok(), Some(floor_of(m.total_pages, f)), "pages of {f}");
        assert_eq!(mm.compute_memory_size(f).ok(), Some(floor_of(m.memory_size, f)), "bytes of {f}");
    } else {
        bad_fraction("compute_number_of_pages", mm.compute_number_of_pages(f), f);
        bad_fraction("compute_memory_size", mm.compute_memory_size(f), f);
    }
    let use_case = UseCase::ALL[input.index(3)];
    match weights.fraction(use_case) {
        Some(share) => {
            assert_eq!(mm.use_case_fraction(use_case).ok(), Some(share));
            assert_eq!(mm.use_case_memory_size(use_case).ok(), Some(floor_of(m.memory_size, share)));
        }
        None => {
            assert!(matches!(mm.use_case_fraction(use_case), Err(MemoryError::NoWeight { .. })));
            assert!(matches!(mm.use_case_memory_size(use_case), Err(MemoryError::NoWeight { .. })));
        }
    }
}

/// Another manager's owners and pages: refused where a call can fail, and pages of both managers
/// released in one call go back each to its own.
fn cross(m: &mut Model, mm: &MemoryManager, other: &MemoryManager, theirs: &MemoryOwner, input: &mut Input<'_>) {
    let n = input.pages(m);
    foreign("allocate_page for another manager's owner", mm.allocate_page(theirs), theirs.name());
    foreign("allocate_pages for another manager's owner", mm.allocate_pages(theirs, n), theirs.name());
    foreign("reserve_memory for another manager's owner", mm.reserve_memory(theirs, n), theirs.name());
    if let Some(owner) = m.owners.first() {
        let name = owner.name.clone();
        foreign("allocate_page with another manager", other.allocate_page(owner.get()), &name);
        foreign("allocate_pages with another manager", other.allocate_pages(owner.get(), n), &name);
        foreign("reserve_memory with another manager", other.reserve_memory(owner.get(), n), &name);
    }
    // Pages of both managers in one release, through either.
    let k = input.index(4);
    let mut mixed = other.allocate_pages(theirs, k).expect("the other manager has room");
    if !m.pages.is_empty() {
        mixed.push(m.pages.swap_remove(input.index(m.pages.len())).page);
    }
    if input.byte().is_multiple_of(2) {
        other.release_many(mixed)
    } else {
        mm.release_pages(&mut mixed)
    }
    assert!(other.verify_empty(), "their pages went back to them");
}

/// The manager and the model agree.
fn assert_agree(m: &Model, mm: &MemoryManager) {
    let used = m.used();
    assert!(used <= m.memory_size, "the model passed the budget");
    assert_eq!(mm.available_memory(), m.memory_size - used, "available_memory");
    assert_eq!(mm.verify_empty(), used == 0, "verify_empty");
    for o in &m.owners {
        assert_eq!((o.get().pages(), o.get().reserved_bytes()), (m.pages_of(o.key), o.reserved), "{}", o.name);
    }
}

/// The property. Panics on a violation.
pub fn check(data: &[u8]) {
    let mut input = Input { data };
    let arena = arena();
    let page_size = 4096 << (input.byte() % 2);
    let memory_size = (1 + usize::from(input.byte() % 80)) * page_size + usize::from(input.byte()) * 15;
    let weights: UseCaseWeights =
        ["OPERATOR:70,STATE_BACKEND:70,PYTHON:30", "PYTHON:0,OPERATOR:4294967295,STATE_BACKEND:1", "STATE_BACKEND:1"]
            [input.index(3)]
        .parse()
        .expect("weights");
    let mm = MemoryManager::builder(Arc::clone(&arena))
        .memory_size(memory_size)
        .page_size(page_size)
        .use_case_weights(weights.clone())
        .build()
        .expect("manager");
    let other =
        MemoryManager::builder(Arc::clone(&arena)).memory_size(8 << 20).page_size(page_size).build().expect("manager");
    let theirs = other.owner("theirs", UseCase::Python);
    let mut m = Model {
        memory_size,
        page_size,
        total_pages: memory_size / page_size,
        owners: Vec::new(),
        pages: Vec::new(),
        resources: [None, None, None],
        next_key: 0,
    };
    assert_eq!((mm.memory_size(), mm.page_size(), mm.total_pages()), (memory_size, page_size, m.total_pages));
    while let Some(op) = input.next() {
        match op % 16 {
            0 | 1 => create_owner(&mut m, &mm, &mut input),
            2 if !m.owners.is_empty() => {
                let at = input.index(m.owners.len());
                let close = input.byte().is_multiple_of(2);
                end_owner(&mut m, &mm, at, close);
            }
            3..=5 => allocate(&mut m, &mm, &mut input),
            6 | 7 => release(&mut m, &mm, &other, &mut input),
            8 => release_all(&mut m, &mm, &other, &mut input),
            9 | 10 => reserve(&mut m, &mm, &other, &mut input),
            11 | 12 => shared(&mut m, &mm, &mut input),
            13 => compute(&m, &mm, &weights, &mut input),
            14 => cross(&mut m, &mm, &other, &theirs, &mut input),
            _ if !m.owners.is_empty() => {
                // A new home thread, for an owner without pages (`&mut` proves none exist).
                let at = input.index(m.owners.len());
                if m.pages_of(m.owners[at].key) == 0 {
                    // SAFETY: no page of this owner exists (checked), and the check holds no
                    // other reference to it now, so this is the only one (see `Owner::get`).
                    unsafe { m.owners[at].ptr.as_mut() }.make_home();
                }
            }
            _ => {}
        }
        assert_agree(&m, &mm);
    }
    while !m.owners.is_empty() {
        let close = m.owners.len().is_multiple_of(2);
        end_owner(&mut m, &mm, 0, close);
    }
    assert!(m.pages.is_empty());
    m.resources = [None, None, None];
    assert_agree(&m, &mm);
    assert!(mm.verify_empty(), "{:?}", mm.stats());
    assert_eq!(mm.available_memory(), memory_size);
    drop(theirs);
    assert!(other.verify_empty());
    assert_eq!(arena.stats().used_segments(), 0, "every page went back to the allocator");
}
