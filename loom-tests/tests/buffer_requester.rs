//! A [`BufferRequester`](numaseg::buffer_pool::BufferRequester) and its pool's recycler lane
//! (`src/buffer_pool/lane.rs`): buffers recycled on other threads than the requester's wait in
//! the recycling thread's owned ring (one ring of two entries under loom) or in two halves (two
//! entries each) until the requester takes them. The models listed first check the halves
//! (their pools have no rings: `halves`); the last ones check the owned ring. Each model ends
//! with a conservation check. What each one is for, and the break it was seen to catch
//! (the code changed on purpose, the model run, the code restored; `docs/RELIABILITY.md`):
//!
//! - **A waiter is not lost** to a buffer in the lane: a requester that finds nothing marks the
//!   pool unavailable, which closes the lane first (moving what it holds onto the stack, after
//!   waiting for a store in flight), so a recycle either lands where the waiter looks or sees
//!   the slow flag. Without the `close_lane` call in `mark_unavailable_if_empty`, loom reports
//!   a deadlock; with a closer that does not wait for `written == reserved`, it moves an entry
//!   not stored yet (`attempt to subtract with overflow` on the entry's `0 - 1`).
//! - **Destroying a pool accounts for its lane and for what the requester holds.** Without the
//!   `close_lane` call in `set_slow`, the conservation check fails (a buffer left in the dead
//!   pool's lane).
//! - **The idle count is exact** while the requester pops, takes a half and another thread
//!   recycles (a buffer going from the stack through hands into the lane): with the
//!   reservation's compare-and-swap only `Acquire` (or `Relaxed`), a count that sees the
//!   reservation may not see the pop, and reports 3 of a pool of 3 while one is in hands. And
//!   while the lane is closed with buffers in it: without the count's wait on *moving* it adds
//!   the moved buffers twice (3 of 2); with the closer's last `swap` `Relaxed` (or the count's
//!   loads of the halves' words) it misses them (0 of 2).
//! - **Two recyclers filling one half, the requester taking**: each buffer is handed out once.
//!   With the reservation `Release` only (no `Acquire`), a recycler's entry store is not
//!   ordered after the store it replaces, and the requester's next take reads the old index: a
//!   buffer handed out twice. A take that does not wait for `written == reserved`, or reads the
//!   word `Relaxed`, reads an entry not stored yet (the overflow above).
//! - **The recycler's bytes happen before the requester's**, through the lane (shadowed by a
//!   loom cell, as `shared_buffer` does; two buffers, so that the half is full and the
//!   requester's take, not only the close after the join, reads them). Both the reservation (`Release`) and the count of the
//!   written entry (`Release`) publish the bytes, which are written before either; weakening
//!   one, or both, makes the requester's close or take read an entry not stored yet first (the
//!   overflow above), so the shadow never gets to report.
//!
//! - **A request that sees the slow flag cleared again keeps what it holds**: the requester
//!   holds one, a waiter on another thread marks the pool unavailable (the flag set, the lane
//!   closed), a recycle fires the notification (the flag cleared, the lane open again) and two
//!   more fill a half of the lane. The requester's request may read the flag set and its
//!   refill read it clear: without the refill's hand-out of what it holds (`if self.n > 0` in
//!   `refill`), it takes the half over the held buffer, which stays in use for ever (the
//!   conservation check: 4 of 5 idle or in hands, execution 13).
//! - **A closer waits for a recycler's store in flight** (`close#2` in `docs/RELIABILITY.md`):
//!   the requester, on a spawned thread, is dropped (the last one: it closes the lane) while
//!   a recycle into the lane may be reserved and not yet stored. With the closer's reload of
//!   the word in its wait `Relaxed`, it reads the recycler's count of the entry without its
//!   store, and moves the entry's old value (`attempt to subtract with overflow` on its
//!   `0 - 1`, execution 3, at bound 1 and 2). The closer must be a thread that has not read
//!   the entries before: with the requester on the main thread, which created them, loom
//!   does not offer it their old value after the wait's yield, and the break survived.
//! - **The idle count reads the lane's second half** (`words#2`): three buffers recycled into
//!   the lane (the first half full, one in the second), the requester takes the first half,
//!   then is dropped (closing the lane, moving the one left) while a reader counts: exactly 1
//!   idle. With the count's load of the second half's word `Relaxed`, it sees the half
//!   emptied but not the push onto the stack (0 of 1, execution 11, at bound 1 and 2);
//!   counting the first half only, 0 of 1 (execution 4); waiting only on the first half's
//!   *moving*, 2 of 1 (execution 1).
//!
//! The owned ring (`src/buffer_pool/ring.rs`; the closer and the recycler pair an asymmetric
//! fence, which loom checks as two read-modify-writes of the stop word):
//! - **A recycle into its ring as the pool is destroyed** gives every buffer back. Seen failing
//!   while the ring was built (one of two buffers left in the destroyed pool, execution 652):
//!   a second close (the requester's drop, after the destroy) moved an entry a late push had
//!   put into the stopped ring onto the destroyed pool's stack; only the close that stops the
//!   rings may take from them (`Lane::stop_rings`), and since the busy bit a stopped ring gets
//!   no entries at all.
//! - **A recycler that ignores the stop** (puts into its ring whatever the stop word says, the
//!   named mutant `ring-push-ignores-stop`): the destroy model above leaves both buffers in the
//!   stopped ring (0 of 2 back, execution 1). **A closer that does not wait for a push in
//!   flight** (`ring-close-no-wait`): the wake model below deadlocks (execution 2,094), its
//!   buffer put into the ring after the closer looked.
//! - **A buffer recycled into the ring wakes a blocked requester**, and **the idle count
//!   waits while the ring is moved**. The second was seen failing while the ring was built (0
//!   of 2, execution 537): a count that read the ring already emptied by the closer and the
//!   stack before the closer's pushes matched its second read, until the stop word counted the
//!   closes.
//! - **The recycler's bytes happen before the requester's** through the ring: its entry's
//!   `Release` store (`Ring::put`) and the take's `Acquire` load (`Ring::slot_at`). The
//!   requester waits (a relaxed flag, which orders nothing) until both recycles are in the
//!   ring, and its request takes the full ring without closing the lane. With the entry's
//!   store, or the take's load, `Relaxed`, loom reports a causality violation on the shadow's
//!   read (execution 1). Without that wait, loom runs the recycles only after the request's
//!   takes (full, then partial) have found nothing (it does not backtrack to before them): the
//!   request then closes the lane, and the close, not the entry, orders the bytes of a recycle
//!   that went into the ring (one refused after the close goes to the inbox or the stack, whose
//!   own orderings publish it). That variant is kept for the close: it passes with the entry's
//!   store and the busy bit's clear both `Relaxed` at once, so the stop word orders the bytes
//!   there (the close's compare-and-swap reads the recycler's stand-in of the light fence, a
//!   read-modify-write that orders more than the real fence does: `crate::sync::asymmetric`);
//!   and it fails, execution 1, with a recycler that ignores the stop (`ring-push-ignores-stop`:
//!   the recycle after the close stays in the stopped ring, and conservation fails).
//! - **A closer sees the entry of the push it waited for**: with the busy bit cleared
//!   `Relaxed` (`Ring::leave`), the wake model deadlocks (execution 2,095); the closer reads
//!   the bit clear and misses the entry.
//!
//! Not caught: a half's take (`Lane::take`) with its compare-and-swap without `Release` (the
//! entries' reads ordered before the next recycler's store: a load reading a later store, which
//! loom does not model; the replaced store stays ordered before the new one through the release
//! sequence). The ring's take's orderings on `taken` matter only from its third lap on, which
//! these models do not reach: `ring_laps.rs` checks them on a ring alone.
//!
//! The wake model, the model of the idle count while the lane is moved and the bytes model run
//! one body each twice: on the halves (`halves`) and on the owned ring (`model`); the bytes
//! body runs on the ring once more, its requester waiting for the recycles.
//!
//! The requester lives on the model's main thread (it borrows the pool), or, in the bytes
//! model and the closer's, on a spawned thread; recycles happen on other threads, so that they
//! go into the lane.
#![cfg(loom)]

use bytes::BufMut;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use numaseg::{Buffer, LocalBufferPool};

use loom_tests::{assert_network_back, model, tiny_network};

/// The shadow of a buffer's first byte.
type Shadow = loom_tests::Shadow<1>;

/// A buffer from `requester`, which must find one.
fn request(requester: &mut numaseg::buffer_pool::BufferRequester<'_>) -> Buffer {
    requester.request_buffer().expect("live").expect("a buffer")
}

/// Recycles `buffers` on another thread (joined): into the lane, the requester being attached.
fn into_lane(buffers: Vec<Buffer>) {
    loom::thread::spawn(move || drop(buffers)).join().expect("recycler");
}

/// A model of the lane's shared halves: its pools get no owned rings (the models below were
/// written for the halves, and each of their breaks is a break of the halves).
fn halves(f: impl Fn() + Sync + Send + 'static) {
    numaseg::loom_lane::without_rings(|| model(f));
}

/// Counts `pool`'s idle buffers on another thread (joined by the caller).
fn count_idle(pool: &Arc<LocalBufferPool>) -> loom::thread::JoinHandle<usize> {
    let pool = Arc::clone(pool);
    loom::thread::spawn(move || pool.available_buffers())
}

/// The end of every model: everything idle, and back in the global pool once the pool is gone.
fn finish(m: &numaseg::ArenaManager, n: numaseg::NetworkBufferPool, pool: Arc<LocalBufferPool>, total: usize) {
    assert_eq!(pool.available_buffers(), total);
    drop(pool);
    assert_network_back(m, n);
}

/// A requester blocked on an empty pool, one buffer recycled on another thread: into a half of
/// the lane (not full) or the recycler's owned ring (not full), where only a partial take or a
/// close finds it. The requester must be woken with it.
fn a_recycled_buffer_wakes_a_blocked_requester() {
    let (m, n) = tiny_network(1);
    let pool = Arc::new(n.create_buffer_pool(1, 1).expect("pool"));
    let mut requester = pool.requester();
    let a = request(&mut requester);
    let recycler = loom::thread::spawn(move || drop(a));
    let got = requester.request_buffer_blocking(None, None).expect("woken with the buffer");
    recycler.join().expect("recycler");
    assert_eq!(pool.available_buffers(), 0);
    drop(got);
    drop(requester);
    finish(&m, n, pool, 1);
}

/// Two buffers recycled into the lane (a full half, or the recycler's full ring), the stack
/// empty; the last requester's drop closes the lane, moving both onto the stack, while another
/// thread counts the idle buffers: it must see both.
fn the_idle_count_waits_while_the_lane_is_moved() {
    let (m, n) = tiny_network(2);
    let pool = Arc::new(n.create_buffer_pool(2, 2).expect("pool"));
    let mut requester = pool.requester();
    let held: Vec<_> = (0..2).map(|_| request(&mut requester)).collect();
    into_lane(held);
    let reader = count_idle(&pool);
    drop(requester); // the last one: closes the lane, moving both onto the stack
    let seen = reader.join().expect("reader");
    assert_eq!(seen, 2, "available_buffers() = {seen} while both are idle");
    finish(&m, n, pool, 2);
}

#[test]
fn a_buffer_recycled_into_the_lane_wakes_a_blocked_requester() {
    halves(a_recycled_buffer_wakes_a_blocked_requester);
}

#[test]
fn destroying_a_pool_while_a_buffer_enters_its_lane_gives_every_buffer_back() {
    halves(|| {
        let (m, n) = tiny_network(3);
        let pool = Arc::new(n.create_buffer_pool(3, 3).expect("pool"));
        let mut requester = pool.requester();
        let [a, b, c] = std::array::from_fn(|_| request(&mut requester));
        into_lane(vec![a, b]); // a full half
        let x = request(&mut requester); // takes it: one handed out, one held
        assert_eq!(requester.held(), 1);
        // Into the lane, maybe while the destroy closes it.
        let recycler = loom::thread::spawn(move || drop(c));
        pool.destroy();
        drop(requester); // gives back what it holds
        recycler.join().expect("recycler");
        drop(x);
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn the_idle_count_stays_exact_while_the_requester_takes_and_another_thread_recycles() {
    halves(|| {
        let (m, n) = tiny_network(3);
        let pool = Arc::new(n.create_buffer_pool(3, 3).expect("pool"));
        let mut requester = pool.requester();
        let [a, b, c] = std::array::from_fn(|_| request(&mut requester));
        into_lane(vec![a]); // the lane holds a
        drop(c); // the requester's thread: onto the stack
        // b stays in hands throughout: at most 2 of 3 idle at any moment. (A lower bound would
        // need to know whether the pop below had happened, which nothing orders for the reader.)
        let reader = count_idle(&pool);
        // The half is not full: pops c off the stack; then c goes into the lane through another
        // thread's hands (the reservation must publish the pop to a count that sees it).
        let x = request(&mut requester);
        let recycler = loom::thread::spawn(move || drop(x));
        // A full half (a and c) if c is written, else maybe a alone, else nothing.
        let y = requester.request_buffer().expect("live");
        let seen = reader.join().expect("reader");
        assert!(seen <= 2, "available_buffers() = {seen} while one of 3 is in hands");
        recycler.join().expect("recycler");
        drop((y, b));
        drop(requester);
        finish(&m, n, pool, 3);
    });
}

#[test]
fn the_idle_count_waits_while_the_lane_is_moved_onto_the_stack() {
    halves(the_idle_count_waits_while_the_lane_is_moved);
}

#[test]
fn two_recyclers_filling_one_half_while_the_requester_takes_it_hand_each_buffer_out_once() {
    halves(|| {
        let (m, n) = tiny_network(2);
        let pool = Arc::new(n.create_buffer_pool(2, 2).expect("pool"));
        let mut requester = pool.requester();
        let [a, b] = std::array::from_fn(|_| request(&mut requester));
        let recyclers = [loom::thread::spawn(move || drop(a)), loom::thread::spawn(move || drop(b))];
        // Each takes a half (full, or partial with no store in flight), or finds nothing.
        let x = requester.request_buffer().expect("live");
        let y = requester.request_buffer().expect("live");
        if let (Some(x), Some(y)) = (&x, &y) {
            assert_ne!(x.as_ptr(), y.as_ptr(), "a buffer handed out twice");
        }
        let out = usize::from(x.is_some()) + usize::from(y.is_some()) + requester.held();
        assert!(out <= 2, "{out} buffers out of a pool of 2");
        for r in recyclers {
            r.join().expect("recycler");
        }
        assert_eq!(pool.available_buffers() + out, 2);
        drop((x, y));
        drop(requester);
        finish(&m, n, pool, 2);
    });
}

/// A recycler writes a byte into two buffers and recycles both into the lane: a full half, or
/// its full owned ring, which the requester's next request takes whole (a single buffer would
/// sit in a part-filled ring that only a close takes, after the join, and the model would not
/// see the ring's orderings). Whichever buffer the requester gets, it must see the byte
/// (shadowed by a loom cell).
///
/// With `after_recycles`, the requester first waits (a relaxed flag, which orders nothing)
/// until the recycler has put both buffers into the lane. Without the wait, loom only ever runs
/// the recycles after the request's first take has found nothing (its backtracking does not
/// go back to before that take), so the request closes the lane, and the close's wait for the
/// ring's busy bit, not the ring's entry, orders the bytes; with it, the request's full take
/// reads the entries, and nothing but their own orderings publishes the bytes.
fn the_recyclers_bytes_happen_before_the_requesters(after_recycles: bool) {
    let (m, n) = tiny_network(2);
    let pool = Arc::new(n.create_buffer_pool(2, 2).expect("pool"));
    let shadow = Shadow::new();
    // The requester is a spawned thread that does not yield before the race: loom offers a
    // thread an older value of an atomic only then (`docs/RELIABILITY.md`, `local_stack`).
    let requester = {
        let pool = Arc::clone(&pool);
        loom::thread::spawn(move || {
            let mut requester = pool.requester();
            let [mut a, mut b] = std::array::from_fn(|_| request(&mut requester));
            let done = Arc::new(AtomicBool::new(false));
            let recycler = {
                let (shadow, done) = (Arc::clone(&shadow), Arc::clone(&done));
                loom::thread::spawn(move || {
                    shadow.write(0, 7);
                    a.put_u8(7);
                    b.put_u8(7);
                    // Not the requester's thread: into a half or the recycler's ring.
                    drop(a);
                    drop(b);
                    // Relaxed: tells the requester when to look, not what was written.
                    done.store(true, Ordering::Relaxed);
                })
            };
            while after_recycles && !done.load(Ordering::Relaxed) {
                loom::thread::yield_now();
            }
            if let Some(mut next) = requester.request_buffer().expect("live") {
                assert_eq!(shadow.read(0), 7, "the recycler's byte");
                shadow.write(0, 9);
                next.put_u8(9);
            }
            recycler.join().expect("recycler");
        })
    };
    requester.join().expect("requester");
    finish(&m, n, pool, 2);
}

#[test]
fn the_recyclers_bytes_happen_before_the_lane_takers() {
    halves(|| the_recyclers_bytes_happen_before_the_requesters(false));
}

#[test]
fn a_request_that_sees_the_slow_flag_cleared_again_never_takes_a_half_over_what_it_holds() {
    halves(|| {
        let (m, n) = tiny_network(5);
        let pool = Arc::new(n.create_buffer_pool(5, 5).expect("pool"));
        let mut requester = pool.requester();
        let [a, b, c, d, e] = std::array::from_fn(|_| request(&mut requester));
        into_lane(vec![a, b]); // a full half
        let x = request(&mut requester); // takes it: one handed out, one held
        assert_eq!(requester.held(), 1);
        // The pool is empty (x in this thread's hands, one held, c, d and e in another's): a
        // waiter on another thread (a task polled once; its waker does nothing) marks it
        // unavailable, which sets the slow flag and closes the lane.
        let mut waiter = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || {
                let mut waiter = None;
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                assert!(pool.poll_available(&mut cx, &mut waiter).is_pending(), "the pool is empty");
                waiter
            })
            .join()
            .expect("waiter")
        };
        // c's recycle fires the notification, which clears the flag and opens the lane again;
        // d and e go into the lane: a full half. Loom would not run these between the two
        // looks of the request below (it backtracks to a thread's last access to the head,
        // which in a request that sees the flag set comes later, in the give-back), so they
        // run first, and the request's relaxed looks may still read the flag set, then clear:
        // the same window.
        let done = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let recycler = {
            let done = Arc::clone(&done);
            loom::thread::spawn(move || {
                drop((c, d, e));
                done.store(true, Ordering::Relaxed);
            })
        };
        // Relaxed: this thread learns that the recycles are done, not what they wrote.
        while !done.load(Ordering::Relaxed) {
            loom::thread::yield_now();
        }
        // If it reads the flag set when it looks and clear when its refill looks, with the
        // half in the lane, it must hand out the buffer it holds, not take the half over it
        // (which would leave that buffer in use for ever).
        let y = requester.request_buffer().expect("live");
        recycler.join().expect("recycler");
        let out = 1 + usize::from(y.is_some()) + requester.held();
        assert_eq!(pool.available_buffers() + out, 5, "a buffer neither idle nor in hands");
        pool.forget_waiter(&mut waiter);
        drop((x, y));
        drop(requester);
        finish(&m, n, pool, 5);
    });
}

#[test]
fn a_closer_on_another_thread_waits_for_a_recyclers_store_in_flight() {
    halves(|| {
        let (m, n) = tiny_network(1);
        let pool = Arc::new(n.create_buffer_pool(1, 1).expect("pool"));
        // The requester, and so the closer, is a spawned thread that has never read the lane's
        // entries: loom offers it an entry's older value (`docs/RELIABILITY.md`, `local_stack`),
        // which the main thread, that created them, would not be offered after the closer's
        // wait yields.
        let requester = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || {
                let mut requester = pool.requester();
                let a = request(&mut requester);
                // Into the lane, maybe reserved and not yet stored when the close below comes.
                let recycler = loom::thread::spawn(move || drop(a));
                // Lets the recycler run first without spending a preemption, so that one more
                // (the recycler's, between its reservation and its store) reaches the wait at
                // bound 1 too.
                loom::thread::yield_now();
                drop(requester); // the last one: closes the lane, waiting for the store in flight
                recycler.join().expect("recycler");
            })
        };
        requester.join().expect("requester");
        finish(&m, n, pool, 1);
    });
}

#[test]
fn the_idle_count_sees_the_second_half_and_waits_while_it_is_moved() {
    halves(|| {
        let (m, n) = tiny_network(3);
        let pool = Arc::new(n.create_buffer_pool(3, 3).expect("pool"));
        let mut requester = pool.requester();
        let [a, b, c] = std::array::from_fn(|_| request(&mut requester));
        into_lane(vec![a, b, c]); // the first half full (a and b), c in the second
        let x = request(&mut requester); // takes the first half: one handed out, one held
        let y = request(&mut requester); // the one held
        // c alone idle, in the lane's second half; the stack empty. (Moving both halves, with
        // the first still full, cost 118,052 executions at bound 2 against 2,444: about 48
        // times as many.)
        let reader = count_idle(&pool);
        drop(requester); // the last one: closes the lane, moving c onto the stack
        let seen = reader.join().expect("reader");
        assert_eq!(seen, 1, "available_buffers() = {seen} while one of 3 is idle");
        drop((x, y));
        finish(&m, n, pool, 3);
    });
}

#[test]
fn a_recycle_into_its_owned_ring_as_the_pool_is_destroyed_gives_every_buffer_back() {
    model(|| {
        let (m, n) = tiny_network(2);
        let pool = Arc::new(n.create_buffer_pool(2, 2).expect("pool"));
        let mut requester = pool.requester();
        let [a, b] = std::array::from_fn(|_| request(&mut requester));
        // One recycler: its first recycle claims the lane's ring, its second may race the
        // destroy's close of the lane.
        let recycler = loom::thread::spawn(move || {
            drop(a);
            drop(b);
        });
        pool.destroy();
        drop(requester);
        recycler.join().expect("recycler");
        drop(pool);
        assert_network_back(&m, n);
    });
}

#[test]
fn a_buffer_recycled_into_an_owned_ring_wakes_a_blocked_requester() {
    model(a_recycled_buffer_wakes_a_blocked_requester);
}

#[test]
fn the_idle_count_waits_while_an_owned_ring_is_moved_onto_the_stack() {
    model(the_idle_count_waits_while_the_lane_is_moved);
}

#[test]
fn the_recyclers_bytes_happen_before_the_requester_through_an_owned_ring() {
    model(|| the_recyclers_bytes_happen_before_the_requesters(false));
}

#[test]
fn the_recyclers_bytes_happen_before_a_requester_that_takes_the_full_owned_ring() {
    model(|| the_recyclers_bytes_happen_before_the_requesters(true));
}
