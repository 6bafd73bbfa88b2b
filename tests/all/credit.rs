//! Credit-based flow control through the public API: Apache Flink's `RemoteInputChannelTest`
//! credit behaviours re-expressed (initial credit, floating buffers for the backlog, waiting for
//! floating buffers, exclusive buffers re-granted, protocol violations refused, release returns
//! everything), and whole flows over the in-process transport with a slow consumer.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut};
use numaseg::CreditError;
use numaseg::buffer_pool::NetworkBufferPool;
use numaseg::buffer_pool::credit::{FlowConfig, InProcessLink, InputGate, Outgoing, Subpartition};

use crate::buffer_pool_factory::{assert_all_back, network};

fn flow(exclusive: usize, floating: usize) -> FlowConfig {
    FlowConfig {
        exclusive_per_channel: exclusive,
        floating_per_gate: floating,
        request_timeout: Duration::from_secs(5),
    }
}

/// Receives one buffer on `channel` with the sender's `backlog`.
fn deliver(channel: &numaseg::buffer_pool::credit::InputChannel, sequence: u64, backlog: u32) {
    let mut b = channel.receive_buffer().unwrap();
    b.put_u64(sequence);
    channel.on_buffer(b, sequence, backlog).unwrap();
}

#[test]
fn initial_credit_is_the_exclusive_buffers() {
    let n = network(16);
    let gate = InputGate::new(&n, 2, &flow(2, 4)).unwrap();
    for ch in gate.channels() {
        let credit = ch.take_credit().unwrap();
        assert_eq!((credit.channel, credit.credit, credit.buffer_size), (ch.id(), 2, None));
        assert_eq!(ch.take_credit(), None);
        assert_eq!(ch.exclusive_pool().owned_buffers(), 2);
    }
    assert_eq!(n.required_buffers(), 1 + 4);
    drop(gate);
    assert_all_back(&n);
}

#[test]
fn backlog_borrows_floating_buffers_as_credit() {
    let n = network(16);
    let gate = InputGate::new(&n, 1, &flow(2, 8)).unwrap();
    let ch = gate.channel(0);
    assert_eq!(ch.take_credit().unwrap().credit, 2);
    // One buffer arrives with a backlog of 4: the channel wants 4 + 2 buffers, holds 1, so it
    // borrows 5 floating ones.
    deliver(ch, 0, 4);
    assert_eq!(ch.take_credit().unwrap().credit, 5);
    assert_eq!(gate.floating_pool().buffers_in_use(), 5);
    let s = ch.stats();
    assert_eq!((s.announced, s.received, s.reserved, s.backlog, s.queued), (7, 1, 6, 4, 1));
    // The backlog drops: nothing more is borrowed, and the consumer's buffer comes back to
    // the exclusive set, so one more credit.
    deliver(ch, 1, 0);
    drop(ch.try_next());
    drop(ch.try_next());
    assert_eq!(ch.take_credit().unwrap().credit, 2);
    drop(gate);
    assert_all_back(&n);
}

#[test]
fn a_channel_waits_for_floating_buffers_and_gets_them_when_recycled() {
    let n = network(16);
    let gate = InputGate::new(&n, 2, &flow(1, 2)).unwrap();
    let (a, b) = (gate.channel(0), gate.channel(1));
    let _ = (a.take_credit(), b.take_credit());
    // Channel a takes both floating buffers for its backlog.
    deliver(a, 0, 5);
    assert_eq!(a.take_credit().unwrap().credit, 2);
    // Channel b wants more too, but the floating pool is empty: it waits.
    deliver(b, 0, 3);
    assert_eq!(b.take_credit(), None);
    let waker = Arc::new(Flag::default());
    let w = std::task::Waker::from(Arc::clone(&waker));
    assert!(b.poll_credit(&mut std::task::Context::from_waker(&w)).is_pending());
    // Channel a's sender delivers into a floating buffer; its consumer recycles it: the
    // floating pool notifies and channel b gets the buffer as credit.
    deliver(a, 1, 0);
    deliver(a, 2, 0);
    let received: Vec<_> = std::iter::from_fn(|| a.try_next()).collect();
    assert_eq!(received.len(), 3);
    drop(received);
    assert!(waker.0.load(std::sync::atomic::Ordering::SeqCst));
    match b.poll_credit(&mut std::task::Context::from_waker(&w)) {
        std::task::Poll::Ready(Ok(c)) => assert!(c.credit >= 1),
        other => panic!("{other:?}"),
    }
    drop(gate);
    assert_all_back(&n);
}

#[derive(Default)]
struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn consumed_exclusive_buffers_are_granted_again() {
    let n = network(8);
    let gate = InputGate::new(&n, 1, &flow(2, 1)).unwrap();
    let ch = gate.channel(0);
    assert_eq!(ch.take_credit().unwrap().credit, 2);
    deliver(ch, 0, 0);
    deliver(ch, 1, 0);
    // It keeps `backlog + exclusive` buffers for incoming data: one floating buffer stands in
    // for the exclusive ones in the consumer's hands.
    assert_eq!(ch.take_credit().unwrap().credit, 1);
    assert_eq!(ch.take_credit(), None, "the floating pool is empty, nothing consumed yet");
    let first = ch.try_next().unwrap();
    assert_eq!(first.as_slice(), &0u64.to_be_bytes());
    drop(first); // an exclusive buffer comes back: credit again
    assert_eq!(ch.take_credit().unwrap().credit, 1);
    assert_eq!(ch.exclusive_pool().stats().unwrap().owned, 2);
    drop(gate);
    assert_all_back(&n);
}

#[test]
fn a_buffer_beyond_credit_or_out_of_order_is_refused() {
    let n = network(8);
    let gate = InputGate::new(&n, 1, &flow(1, 1)).unwrap();
    let ch = gate.channel(0);
    match ch.receive_buffer() {
        Err(CreditError::NoCredit { channel: 0, announced: 0, received: 1 }) => {}
        other => panic!("{other:?}"),
    }
    let _ = ch.take_credit();
    let b = ch.receive_buffer().unwrap();
    assert!(matches!(ch.receive_buffer(), Err(CreditError::NoCredit { announced: 1, received: 2, .. })));
    assert!(matches!(ch.on_buffer(b, 1, 0), Err(CreditError::OutOfOrder { expected: 0, got: 1, .. })));
    let s = ch.stats();
    assert!(s.received <= s.announced, "credit never negative: {s:?}");
    drop(gate);
    assert_all_back(&n);
}

#[test]
fn the_sender_spends_credit_only_when_positive_and_reports_its_backlog() {
    let n = network(8);
    let pool = n.create_buffer_pool(1, 8).unwrap();
    let s = Subpartition::new(4);
    for _ in 0..3 {
        s.add(pool.request_buffer().unwrap().unwrap());
    }
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(s.poll_next_send(&mut cx).is_pending());
    s.on_credit(&numaseg::buffer_pool::credit::AddCredit { channel: 4, credit: 2, buffer_size: None });
    let mut backlogs = Vec::new();
    while let std::task::Poll::Ready(Some(Outgoing::Buffer { backlog, sequence, .. })) = s.poll_next_send(&mut cx) {
        backlogs.push((sequence, backlog));
    }
    assert_eq!(backlogs, vec![(0, 2), (1, 1)]);
    let st = s.stats();
    assert_eq!((st.credit, st.sent, st.queued, st.credits_received), (0, 2, 1, 2));
    s.finish();
    assert!(s.poll_next_send(&mut cx).is_pending(), "the end waits for the queued buffer");
    drop(s);
    drop(pool);
    assert_all_back(&n);
}

/// A producer writing `records` numbered buffers through a sender pool of `sender_buffers`,
/// an in-process link, and a consumer that starts only once the producer was backpressured.
fn run_flow(n: &NetworkBufferPool, records: u64, sender_buffers: usize, exclusive: usize, floating: usize) {
    let gate = InputGate::new(n, 1, &flow(exclusive, floating)).unwrap();
    let sender_pool = Arc::new(n.create_buffer_pool(sender_buffers, sender_buffers).unwrap());
    let sender = Subpartition::new(0);
    let link = InProcessLink::new(sender.clone(), gate.channel(0).clone());
    let pump = std::thread::spawn(move || link.run_blocking());
    let producer = {
        let (pool, sender) = (Arc::clone(&sender_pool), sender.clone());
        std::thread::spawn(move || {
            for i in 0..records {
                let mut b = pool.request_buffer_blocking(Some(Duration::from_secs(60)), None).expect("no deadlock");
                b.put_u64(i);
                b.put_slice(&[u8::try_from(i % 251).unwrap(); 100]);
                sender.add(b);
            }
            sender.finish();
        })
    };
    // The consumer is slow: it starts only after the producer had to wait for a buffer.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sender_pool.stats().unwrap().waits == 0 {
        assert!(std::time::Instant::now() < deadline, "the producer was never backpressured");
        std::thread::yield_now();
    }
    let ch = gate.channel(0);
    let mut expected = 0;
    while let Some(mut b) = ch.next_blocking() {
        assert_eq!(b.get_u64(), expected, "no buffer lost or reordered");
        assert!(b.chunk().iter().all(|&x| u64::from(x) == expected % 251));
        expected += 1;
        if expected % 7 == 0 {
            std::thread::yield_now();
        }
    }
    assert_eq!(expected, records);
    producer.join().unwrap();
    pump.join().unwrap().unwrap();
    // Bounded memory: the sender never queued more than its pool, the receiver never held more
    // than its exclusive and floating buffers, and credit never went negative.
    let (cs, ss) = (ch.stats(), sender.stats());
    assert!(ss.max_queued <= sender_buffers, "{ss:?}");
    assert!(cs.max_outstanding <= (exclusive + floating) as u64, "{cs:?}");
    assert!(cs.max_queued <= exclusive + floating, "{cs:?}");
    assert!(cs.received <= cs.announced && ss.sent == records && ss.credits_received == cs.announced);
    drop((gate, sender, sender_pool));
    assert_all_back(n);
}

#[test]
fn a_slow_receiver_backpressures_the_sender_in_process() {
    let n = network(64);
    run_flow(&n, if cfg!(debug_assertions) { 2_000 } else { 20_000 }, 4, 2, 4);
    // No floating buffers to speak of: exclusive credit alone keeps it moving.
    run_flow(&n, 500, 1, 1, 1);
}
