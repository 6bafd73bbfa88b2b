//! No heap allocation on a free path or a cache hit (issue #14): a counting
//! `#[global_allocator]` counts the allocations of the calling thread inside a measured region
//! only, and each test warms the caches first, then asserts 0 over many operations. Its own test
//! binary, so the counting allocator serves nothing else; every counter is per thread, so the
//! harness's threads running tests side by side do not see each other's allocations.
//!
//! Foreign frees (a segment of another node, or `NodeAllocator::deallocate` of another node's
//! allocator) go into the thread's outbox for that node and home as one batch in a spare vector
//! of the node's bounded pool, so they allocate nothing either (before #14: 1.016 per free).
//!
//! Cross-thread cases (a hand-off's consumer, a buffer recycled on another thread) count on the
//! thread that frees, around each free only: the channels that carry the handles are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};

use allocator_api2::alloc::Allocator;
use numaseg::config::MemoryAmount;
use numaseg::manager::UseCase;
use numaseg::numa::NodeId;
use numaseg::{ArenaManager, Buffer, Config, MemoryManager, NetworkBufferPool, Segment, SizeClass};

/// Counts `alloc`, `alloc_zeroed` and `realloc` of the calling thread while its region is open.
struct Counting;

std::thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: a thread's allocations while its thread-locals are torn down are not ours.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call forwards to `System` with the same arguments; counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with counting on; returns its result and the heap allocations it made on this thread.
fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let r = f();
    COUNTING.with(|on| on.set(false));
    (r, COUNT.with(Cell::get))
}

const SIZE: usize = 32 << 10;
const ROUNDS: u64 = 1000;

/// Two pretend nodes on the heap, no budget in the way; the calling thread homed on node 0.
fn two_nodes() -> Arc<ArenaManager> {
    let config = Config::builder()
        .memory_limit(MemoryAmount::Unlimited)
        .node_memory_limit(MemoryAmount::Unlimited)
        .build()
        .expect("configuration");
    let manager = Arc::new(ArenaManager::heap_backed(&config, 2).expect("manager"));
    manager.set_thread_node(NodeId::new(0)).expect("home");
    manager
}

#[test]
fn a_cache_hit_and_a_local_free_allocate_nothing() {
    let manager = two_nodes();
    let class = SizeClass::for_size(SIZE).expect("class");
    let pair = |i: u64| {
        let mut s = manager.allocate_class(class).expect("allocate");
        s.as_mut_slice()[0] = i.to_le_bytes()[0];
        drop(s);
    };
    (0..ROUNDS).for_each(pair); // warm: the class's stack exists, a region is carved
    let ((), allocs) = counted(|| (0..ROUNDS).for_each(pair));
    assert_eq!(allocs, 0, "{allocs} heap allocations in {ROUNDS} cache-hit pairs");
}

#[test]
fn a_foreign_free_allocates_nothing() {
    let manager = two_nodes();
    let foreign = || manager.allocate_on(NodeId::new(1), SIZE).expect("allocate on node 1");
    for _ in 0..ROUNDS {
        drop(foreign()); // warm both nodes' paths
    }
    let mut total = 0;
    for _ in 0..ROUNDS {
        let segment = foreign();
        let ((), allocs) = counted(|| drop(segment));
        total += allocs;
    }
    assert_eq!(total, 0, "{total} heap allocations in {ROUNDS} foreign frees");
}

#[test]
fn foreign_frees_going_home_in_batches_allocate_nothing() {
    // Segments of node 1 held, then all dropped on node 0: the outbox fills and goes home as
    // whole batches (unlike one at a time, where the next `allocate_on` reuses the outbox).
    let manager = two_nodes();
    let held = |n: u64| -> Vec<Segment<'_>> {
        (0..n).map(|_| manager.allocate_on(NodeId::new(1), SIZE).expect("allocate on node 1")).collect()
    };
    // Warm: the outbox exists and the pool has collected spare batch vectors for as many
    // batches as are ever out at once (the partial flushes of the outbox's time bound vary
    // with the scan's phase, so that takes a few rounds).
    for _ in 0..8 {
        drop(held(ROUNDS));
    }
    let mut total = 0;
    for _ in 0..8 {
        let segments = held(ROUNDS);
        let pooled = |m: &ArenaManager| m.stats().nodes[1].classes.iter().map(|c| c.pooled_segments).sum::<u64>();
        let before = pooled(&manager);
        let ((), allocs) = counted(|| drop(segments));
        assert!(pooled(&manager) > before, "the outbox went home in batches");
        total += allocs;
    }
    assert_eq!(total, 0, "{total} heap allocations in {} foreign frees sent home in batches", 8 * ROUNDS);
}

#[test]
fn a_bulk_release_allocates_nothing() {
    let manager = two_nodes();
    let mut batch = manager.new_batch();
    let mut held: Vec<Segment<'_>> = Vec::with_capacity(32);
    let mut total = 0;
    for round in 0..2 * ROUNDS {
        manager.allocate_bulk(SIZE, 32, &mut batch).expect("bulk");
        // Half the batch through handles and `release_bulk`, the other half with the batch's
        // own `release`.
        for _ in 0..16 {
            held.push(batch.pop().expect("a segment"));
        }
        let ((), allocs) = counted(|| {
            manager.release_bulk(held.drain(..));
            batch.release();
        });
        if round >= ROUNDS {
            total += allocs; // the first half warmed up
        }
    }
    assert_eq!(total, 0, "{total} heap allocations in {ROUNDS} bulk releases");
}

#[test]
fn a_bulk_through_handles_allocates_nothing() {
    let manager = two_nodes();
    let mut held: Vec<Segment<'_>> = Vec::with_capacity(32);
    let mut round = || {
        manager.allocate_bulk_into(SIZE, 32, &mut held).expect("bulk into handles");
        manager.release_all(&mut held);
    };
    (0..ROUNDS).for_each(|_| round()); // warm
    let ((), allocs) = counted(|| (0..ROUNDS).for_each(|_| round()));
    assert_eq!(allocs, 0, "{allocs} heap allocations in {ROUNDS} bulks of 32 through handles");
}

#[test]
fn a_network_buffer_recycle_allocates_nothing() {
    let manager = two_nodes();
    let network = NetworkBufferPool::with_buffers(manager, 64, SIZE).expect("network pool");
    let pool = network.create_buffer_pool(8, 64).expect("local pool");
    let request = || pool.request_buffer().expect("request").expect("a buffer");
    for _ in 0..ROUNDS {
        drop(request());
    }
    let mut total = 0;
    for _ in 0..ROUNDS {
        let buffer = request();
        let ((), allocs) = counted(|| drop(buffer));
        total += allocs;
    }
    assert_eq!(total, 0, "{total} heap allocations in {ROUNDS} buffer recycles");
}

#[test]
fn a_memory_manager_page_release_allocates_nothing() {
    let arena = two_nodes();
    let manager = MemoryManager::builder(arena).page_size(SIZE).memory_size(64 * SIZE).build().expect("manager");
    let owner = manager.owner("counted", UseCase::Operator);
    let page = || manager.allocate_page(&owner).expect("page");
    for _ in 0..ROUNDS {
        drop(page());
    }
    let mut total = 0;
    for _ in 0..ROUNDS {
        let p = page();
        let ((), allocs) = counted(|| drop(p));
        total += allocs;
    }
    assert_eq!(total, 0, "{total} heap allocations in {ROUNDS} page releases");
}

/// `NodeAllocator::deallocate` of `node`'s allocator on a thread homed on node 0: the heap
/// allocations over `ROUNDS` deallocations, after as many to warm up.
fn node_allocator_deallocations(node: u16) -> u64 {
    let manager = two_nodes();
    let layout = Layout::from_size_align(SIZE, 64).expect("layout");
    let alloc = manager.node_allocator(NodeId::new(node)).expect("allocator");
    let block = || alloc.allocate(layout).expect("block").cast::<u8>();
    for _ in 0..ROUNDS {
        // SAFETY: `block` came from `alloc` with `layout`.
        unsafe { alloc.deallocate(block(), layout) };
    }
    let mut total = 0;
    for _ in 0..ROUNDS {
        let b = block();
        // SAFETY: as above.
        let ((), allocs) = counted(|| unsafe { alloc.deallocate(b, layout) });
        total += allocs;
    }
    total
}

#[test]
fn node_allocator_deallocate_on_the_home_node_allocates_nothing() {
    let allocs = node_allocator_deallocations(0);
    assert_eq!(allocs, 0, "{allocs} heap allocations in {ROUNDS} deallocations (home node's allocator)");
}

#[test]
fn node_allocator_deallocate_of_another_node_allocates_nothing() {
    let allocs = node_allocator_deallocations(1);
    assert_eq!(allocs, 0, "{allocs} heap allocations in {ROUNDS} deallocations (another node's allocator)");
}

/// A small deterministic generator (xorshift) for the mixed workloads below.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n).expect("below n")
    }
}

#[test]
fn frees_that_spill_to_the_thread_deque_allocate_nothing() {
    // Mixed bursts of allocations and frees with a working set that wanders between 0 and
    // ~3000 segments: the stack fills and spills, now to the thread's deque (a spill of a
    // thread that also allocates), now to the pool, which goes over its limit and gives
    // segments back to their regions; refills take them back from all three. Before #14 this
    // made 117 heap allocations: crossbeam's `Worker` resizing its buffer on a push (and on the
    // refills' pops, so again on the next spill), with crossbeam-epoch's garbage bags (96), and
    // the regions' lists of returned slots, dropped when a region came free (17), plus 4 of
    // `RegionTable::is_valid` under `expensive-checks`. The warm-up covers first use only: the
    // deque, the stack, the pool's spare vectors and the regions' lists of returned slots.
    let manager = two_nodes();
    let mut held: Vec<Segment<'_>> = Vec::with_capacity(4096);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut step = |count: bool| -> u64 {
        let burst = 1 + rng.below(200);
        if rng.below(2) == 0 && held.len() + burst <= 3000 {
            for _ in 0..burst {
                held.push(manager.allocate(SIZE).expect("allocate"));
            }
            return 0;
        }
        let mut total = 0;
        for _ in 0..burst.min(held.len()) {
            let segment = held.pop().expect("held");
            if count {
                total += counted(|| drop(segment)).1;
            } else {
                drop(segment);
            }
        }
        total
    };
    for _ in 0..4 * ROUNDS {
        step(false); // warm: the deque exists, the stack and the pool are sized
    }
    let total: u64 = (0..4 * ROUNDS).map(|_| step(true)).sum();
    assert_eq!(total, 0, "{total} heap allocations in the frees of {} mixed bursts", 4 * ROUNDS);
}

#[test]
fn a_hand_off_consumers_frees_allocate_nothing() {
    // One thread allocates, another frees what it gets (both homed on node 0): the consumer only
    // frees, so its stack goes to the node's pool as one batch whenever it fills (in a spare
    // vector of the pool), and the producer's refills take those batches back. Counted on the
    // consumer, the thread that frees.
    let manager = two_nodes();
    let manager = &*manager;
    let (to_consumer, from_producer) = std::sync::mpsc::sync_channel::<Segment<'_>>(256);
    let total = std::thread::scope(|s| {
        s.spawn(move || {
            manager.set_thread_node(NodeId::new(0)).expect("home");
            for _ in 0..64 * ROUNDS {
                let segment = manager.allocate(SIZE).expect("allocate");
                to_consumer.send(segment).expect("the consumer lives");
            }
        });
        let consumer = s.spawn(move || {
            manager.set_thread_node(NodeId::new(0)).expect("home");
            let mut total = 0;
            for (i, segment) in from_producer.iter().enumerate() {
                // The first quarter warms up (first use only: it allocated 11 times, for the
                // slot and its stack, and a batch vector each time the consumer's batches
                // doubled, up to the class maximum; never after the 3,041st free).
                let ((), allocs) = counted(|| drop(segment));
                if i as u64 >= 16 * ROUNDS {
                    total += allocs;
                }
            }
            total
        });
        consumer.join().expect("consumer")
    });
    let class = SizeClass::for_size(SIZE).expect("class").index();
    let refills = manager.stats().nodes[0].classes[class].pool_refills;
    assert!(refills > 0, "the producer refilled from the consumer's batches");
    assert_eq!(total, 0, "{total} heap allocations in {} frees of a hand-off's consumer", 48 * ROUNDS);
}

/// The recycling thread of the cross-thread buffer tests: drops each round's buffers from
/// `from_requester`, counting the heap allocations of each drop (after the first tenth of
/// `ROUNDS`, which warms up), and hands the emptied vector back through `done`; returns the
/// allocations counted.
fn recycle_rounds(from_requester: &Receiver<Vec<Buffer>>, done: &SyncSender<Vec<Buffer>>) -> u64 {
    let mut total = 0;
    for (round, mut buffers) in from_requester.iter().enumerate() {
        let mut allocs = 0;
        for buffer in buffers.drain(..) {
            allocs += counted(|| drop(buffer)).1;
        }
        if round as u64 >= ROUNDS / 10 {
            total += allocs; // the first rounds warm up
        }
        done.send(buffers).expect("the requester lives");
    }
    total
}

#[test]
fn a_network_buffer_recycled_on_another_thread_allocates_nothing() {
    // Buffers requested on this thread and recycled on another: each recycle reserves an entry
    // of the pool's inbox, and the recycle that finds the inbox full takes it onto the stack.
    // Counted on the recycling thread.
    let manager = two_nodes();
    let network = NetworkBufferPool::with_buffers(manager, 64, SIZE).expect("network pool");
    let pool = network.create_buffer_pool(8, 64).expect("local pool");
    let (to_recycler, from_requester) = std::sync::mpsc::sync_channel::<Vec<Buffer>>(1);
    let (done, wait) = std::sync::mpsc::sync_channel::<Vec<Buffer>>(1);
    let total = std::thread::scope(|s| {
        let recycler = s.spawn(move || recycle_rounds(&from_requester, &done));
        let mut buffers = Vec::with_capacity(64);
        for _ in 0..ROUNDS {
            while let Some(buffer) = pool.request_buffer().expect("request") {
                buffers.push(buffer);
            }
            assert!(buffers.len() > 30, "more than an inbox: {} buffers", buffers.len());
            to_recycler.send(buffers).expect("the recycler lives");
            buffers = wait.recv().expect("the recycler lives");
        }
        drop(to_recycler);
        recycler.join().expect("recycler")
    });
    assert_eq!(total, 0, "{total} heap allocations in {} cross-thread recycles", ROUNDS * 9 / 10);
}

#[test]
fn a_buffer_requester_and_recycles_into_its_lane_allocate_nothing() {
    // The same, through a `BufferRequester`: the recycles on the other thread go into the
    // pool's lane (a half at a time taken by the requester), and the requests are counted too.
    let manager = two_nodes();
    let network = NetworkBufferPool::with_buffers(manager, 64, SIZE).expect("network pool");
    let pool = network.create_buffer_pool(64, 64).expect("local pool");
    let (to_recycler, from_requester) = std::sync::mpsc::sync_channel::<Vec<Buffer>>(1);
    let (done, wait) = std::sync::mpsc::sync_channel::<Vec<Buffer>>(1);
    let (requested, recycled, took) = std::thread::scope(|s| {
        let recycler = s.spawn(move || recycle_rounds(&from_requester, &done));
        let mut requester = pool.requester();
        let mut buffers = Vec::with_capacity(64);
        let (mut total, mut took) = (0, 0);
        for round in 0..ROUNDS {
            let mut allocs = 0;
            loop {
                let (got, n) = counted(|| requester.request_buffer().expect("request"));
                allocs += n;
                let Some(buffer) = got else { break };
                took = took.max(requester.held());
                buffers.push(buffer);
            }
            if round >= ROUNDS / 10 {
                total += allocs;
            }
            to_recycler.send(buffers).expect("the recycler lives");
            buffers = wait.recv().expect("the recycler lives");
        }
        drop(to_recycler);
        (total, recycler.join().expect("recycler"), took)
    });
    assert!(took > 0, "the requester never took a half of the lane");
    assert_eq!(requested, 0, "{requested} heap allocations in the requests of {} rounds", ROUNDS * 9 / 10);
    assert_eq!(recycled, 0, "{recycled} heap allocations in {} rounds of cross-thread recycles", ROUNDS * 9 / 10);
}

#[test]
fn a_memory_manager_bulk_release_allocates_nothing() {
    // Pages from `allocate_pages_into`, given back with `release_pages` (one run of one owner
    // and node) and with `release_many` (run by run).
    let arena = two_nodes();
    let manager = MemoryManager::builder(arena).page_size(SIZE).memory_size(256 * SIZE).build().expect("manager");
    let owner = manager.owner("bulk", UseCase::Operator);
    let mut pages = Vec::with_capacity(64);
    let mut round = |i: u64| -> u64 {
        manager.allocate_pages_into(&owner, 64, &mut pages).expect("pages");
        if i.is_multiple_of(2) {
            counted(|| manager.release_pages(&mut pages)).1
        } else {
            counted(|| manager.release_many(pages.drain(..))).1
        }
    };
    (0..ROUNDS).for_each(|i| {
        round(i); // warm: the scratch vector and the cache are sized
    });
    let total: u64 = (0..ROUNDS).map(round).sum();
    assert_eq!(total, 0, "{total} heap allocations in {ROUNDS} bulk releases of 64 pages");
}
