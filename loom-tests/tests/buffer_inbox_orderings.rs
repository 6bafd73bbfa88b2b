//! The memory orderings of a local pool's inbox (`src/buffer_pool/local.rs`, "The inbox") that
//! the `buffer_inbox` and `local_stack` models do not exercise: each model here races the
//! ordering it names, and was seen failing with it weakened to `Relaxed` (`scripts/mutants.sh`,
//! mutant ids in each model's docs; `docs/RELIABILITY.md`, *Checks that catch their bugs*).
//!
//! - **The entry's index publishes the buffer.** A recycler on another thread than the
//!   requester stores the buffer's index into its inbox entry (`Release`, `try_inbox#1`), and
//!   the taker reads it (`Acquire`, `take_entry#1`): everything the recycler did with the
//!   buffer's bytes happens before the taker's owner writes them. The bytes are plain memory,
//!   which loom does not see, so the model keeps a *shadow* of them (a loom `UnsafeCell` every
//!   access to the bytes also touches, as `shared_buffer` does): loom reports a causality
//!   violation when the recycler's write and the next owner's are not ordered.
//! - **A second taker of an entry sees the first one's clearing.** A taker (or a closer) sets
//!   *taking* with an `Acquire` compare-and-swap (`start_taking#1`, `close_inbox#1`) that reads
//!   the reservation of the recycler that refilled the entry, whose own compare-and-swap read
//!   the previous taker's `Release` of the bits: so the previous taker's clearing of the entry
//!   happens before the second taker reads it, and the second taker cannot read the index the
//!   entry held before and hand out (or give back) a buffer that is in hands.
//! - **A count that reads a closed inbox sees what the close moved.** The close's last update of
//!   the inbox word is `Release` (`close_inbox#1 Release`), so a reader of the idle count that
//!   reads that word (or a later one) sees the closer's locked pushes on the stack.
//! - **A count that reads a chain's depth sees the flush.** A flush writes the chain's depths
//!   with `Release` (`try_push_chain#1 Release`), for the count's `Acquire` of the top's depth:
//!   a reader that reads a depth of a chain not pushed yet then sees the flush's setting of
//!   *taking* and goes round, instead of adding the inbox's entries to the chain that holds them.
#![cfg(loom)]

use bytes::BufMut;
use loom::sync::Arc;
use numaseg::Buffer;

use loom_tests::{assert_network_back, model, tiny_network};

/// The shadow of a buffer's first byte (the models touch no other).
type Shadow = loom_tests::Shadow<1>;

/// Writes the first byte of `buffer` (and the shadow).
fn write(shadow: &Shadow, buffer: &mut Buffer, v: u8) {
    shadow.write(0, v);
    buffer.put_u8(v);
}

/// A one-buffer pool whose only buffer is lent to this thread (which found the stack empty: the
/// pool's requester) and written (7) by another thread, which then recycles it: into the inbox.
/// This thread meanwhile requests a buffer; if it gets it (from the inbox, taken because the
/// stack is empty), it reads the byte the recycler wrote and writes it again. The recycler's
/// write must happen before both: the entry's `Release` store (`try_inbox#1 Release->Relaxed`)
/// and the taker's `Acquire` load of it (`take_entry#1 Acquire->Relaxed`) order them. (The
/// recycler also sets *ready* on the stack word, `Release`; the model passes only if the taker
/// may miss it, reading the older head, so that the entry is what must order the bytes.)
#[test]
fn the_recyclers_bytes_happen_before_the_inbox_takers() {
    model(|| {
        let (m, n) = tiny_network(1);
        let pool = Arc::new(n.create_buffer_pool(1, 1).expect("pool"));
        let shadow = Shadow::new();
        let mut a = pool.request_buffer().expect("live").expect("one buffer, lent");
        let recycler = {
            let shadow = Arc::clone(&shadow);
            loom::thread::spawn(move || {
                write(&shadow, &mut a, 7);
                drop(a); // not the requester: into the inbox
            })
        };
        if let Some(mut next) = pool.request_buffer().expect("live") {
            assert_eq!(shadow.read(0), 7, "the recycler's byte");
            write(&shadow, &mut next, 9);
        }
        recycler.join().expect("recycler");
        assert_eq!(pool.available_buffers(), 1);
        drop(pool);
        assert_network_back(&m, n);
    });
}

/// Two buffers lent to this thread (the requester); a is recycled on another thread (into
/// entry 0) and taken back by this thread's request; b is then recycled on a third thread, into
/// entry 0 again. Meanwhile a second taker, a thread started after the first recycle but before
/// the take (so the take's clearing of entry 0 happens before it only through the inbox's
/// orderings), takes the inbox: a request that finds the stack empty, or (`destroy`) the close
/// that moves the inbox onto the stack. Its `Acquire` on the inbox word (`start_taking#1`, or
/// `close_inbox#1` for the destroy) makes the first taker's clearing of entry 0 happen before its
/// read of it; `Relaxed`, it can read a's index there, and hands out (or gives back) a while this
/// thread holds it: the distinctness check (seen failing: "a buffer handed out twice"), or the
/// conservation check (the destroy gave a back while in hands), fails.
fn two_takers_of_one_entry(destroy: bool) {
    let (m, n) = tiny_network(2);
    let pool = Arc::new(n.create_buffer_pool(2, 2).expect("pool"));
    let a = pool.request_buffer().expect("live").expect("within size");
    let b = pool.request_buffer().expect("live").expect("within size");
    loom::thread::spawn(move || drop(a)).join().expect("first recycler");
    // Started before this thread takes a: the take's clearing of the entry does not happen
    // before it (the first recycle does, which the entry's older index does not need).
    let second = {
        let pool = Arc::clone(&pool);
        loom::thread::spawn(move || {
            if destroy {
                pool.destroy();
                None
            } else {
                pool.request_buffer().expect("live")
            }
        })
    };
    let first = pool.request_buffer().ok().flatten(); // a, from the inbox (unless taken first)
    loom::thread::spawn(move || drop(b)).join().expect("second recycler");
    let got = second.join().expect("second taker");
    if let (Some(x), Some(y)) = (&first, &got) {
        assert_ne!(x.as_ptr(), y.as_ptr(), "a buffer handed out twice");
    }
    drop((first, got));
    if !destroy {
        assert_eq!(pool.available_buffers(), 2, "every buffer idle");
    }
    drop(pool);
    assert_network_back(&m, n);
}

/// [`two_takers_of_one_entry`] with a request as the second taker (mutant `start_taking#1
/// Acquire->Relaxed`).
#[test]
fn a_second_requester_never_takes_an_entrys_previous_buffer() {
    model(|| two_takers_of_one_entry(false));
}

/// [`two_takers_of_one_entry`] with a destroy (its close of the inbox) as the second taker
/// (mutant `close_inbox#1 Acquire->Relaxed`).
#[test]
fn a_closer_never_moves_an_entrys_previous_buffer() {
    model(|| two_takers_of_one_entry(true));
}

/// A one-buffer pool whose buffer, recycled on another thread, waits in the inbox; this thread
/// (the requester) then asks whether a request would find a buffer (`poll_available`), which
/// closes the inbox and moves the buffer onto the stack (a locked push), finds the stack not
/// empty and opens the inbox again, while a reader counts the idle buffers. The buffer is idle
/// throughout, in the inbox or on the stack: the count must be 1. The close's last update of the
/// inbox word is `Release` (`close_inbox#1 Release->Relaxed`): a reader that reads that word (or
/// the reopened one after it) must see the locked push on the stack; `Relaxed`, it can read the
/// empty stack from before it and count 0.
#[test]
fn a_count_racing_a_close_that_moves_the_inbox_sees_the_moved_buffer() {
    model(|| {
        let (m, n) = tiny_network(1);
        let pool = Arc::new(n.create_buffer_pool(1, 1).expect("pool"));
        let a = pool.request_buffer().expect("live").expect("one buffer, lent");
        loom::thread::spawn(move || drop(a)).join().expect("recycler"); // into the inbox
        let reader = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.available_buffers())
        };
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut waiter = None;
        assert!(matches!(pool.poll_available(&mut cx, &mut waiter), std::task::Poll::Ready(Ok(()))));
        assert!(waiter.is_none(), "not registered: the buffer is idle");
        assert_eq!(reader.join().expect("reader"), 1, "the buffer is idle throughout");
        assert_eq!(pool.available_buffers(), 1);
        drop(pool);
        assert_network_back(&m, n);
    });
}

/// Three buffers lent to this thread (the requester); t is recycled here (onto the stack, depth 1)
/// and a reader thread is started; this thread then takes t again and a recycler thread drops x and
/// y (the inbox is then full) and t, whose recycle flushes the inbox: the chain t, x, y onto the
/// empty stack, t's depth 3. The reader may read the inbox full and the head from before the pop, t
/// on top; if it then reads t's depth 3 it must see the flush's setting of *taking* when it reads
/// the inbox word again, and go round: the chain writes its depths with `Release`
/// (`try_push_chain#1 Release->Relaxed`) for the reader's `Acquire` of the depth. `Relaxed`, the
/// reader can add the two reserved entries to the chain that holds them: 5 in a pool of 3.
#[test]
fn a_count_racing_an_inbox_flush_never_exceeds_the_pool() {
    model(|| {
        let (m, n) = tiny_network(3);
        let pool = Arc::new(n.create_buffer_pool(3, 3).expect("pool"));
        let held: Vec<_> = (0..3).map(|_| pool.request_buffer().expect("live").expect("within size")).collect();
        let [t, x, y] = <[_; 3]>::try_from(held).expect("three");
        drop(t); // the requester's recycle: the stack [t]
        let reader = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.available_buffers())
        };
        let t = pool.request_buffer().expect("live").expect("t, the top");
        // x into entry 0, y into entry 1, then t finds the inbox full: the flush.
        loom::thread::spawn(move || drop((x, y, t))).join().expect("recycler");
        let seen = reader.join().expect("reader");
        assert!(seen <= 3, "available_buffers() = {seen} in a pool of 3 buffers");
        assert_eq!(pool.available_buffers(), 3, "every buffer idle");
        drop(pool);
        assert_network_back(&m, n);
    });
}
