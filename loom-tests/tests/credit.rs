//! Credit-based flow control under loom: a producer backpressured by a one-buffer sender pool,
//! the in-process link, and a consumer recycling exclusive buffers, all racing. Checks: the
//! records arrive in order, credit never goes negative (received ≤ announced), every credit
//! announced reached the sender, and every buffer is back at the end.
#![cfg(loom)]

use bytes::{Buf, BufMut};
use loom::sync::Arc;

use loom_tests::{assert_network_back, model, tiny_network};
use numaseg::buffer_pool::credit::{FlowConfig, InProcessLink, InputGate, Subpartition};

#[test]
fn credit_stays_accounted_while_producer_link_and_consumer_race() {
    model(|| {
        let (m, n) = tiny_network(3);
        let flow = FlowConfig {
            exclusive_per_channel: 1,
            floating_per_gate: 1,
            request_timeout: std::time::Duration::from_secs(1),
        };
        let gate = InputGate::new(&n, 1, &flow).expect("gate");
        let sender_pool = Arc::new(n.create_buffer_pool(1, 1).expect("sender pool"));
        let sender = Subpartition::new(0);
        let producer = {
            let (pool, sender) = (Arc::clone(&sender_pool), sender.clone());
            loom::thread::spawn(move || {
                for i in 0..2u8 {
                    let mut b = pool.request_buffer_blocking(None, None).expect("backpressure, not failure");
                    b.put_u8(i);
                    sender.add(b);
                }
                sender.finish();
            })
        };
        let link = {
            let link = InProcessLink::new(sender.clone(), gate.channel(0).clone());
            loom::thread::spawn(move || link.run_blocking())
        };
        let ch = gate.channel(0);
        let mut expected = 0u8;
        while let Some(mut b) = ch.next_blocking() {
            assert_eq!(b.get_u8(), expected);
            expected += 1;
        }
        assert_eq!(expected, 2);
        producer.join().expect("producer");
        link.join().expect("link").expect("protocol kept");
        let (cs, ss) = (ch.stats(), sender.stats());
        assert!(cs.received <= cs.announced, "{cs:?}");
        assert_eq!((cs.received, ss.sent), (2, 2));
        assert_eq!(ss.credits_received, cs.announced);
        assert!(cs.max_outstanding <= 2, "{cs:?}");
        drop((gate, sender, sender_pool));
        assert_network_back(&m, n);
    });
}

/// The same race with a debloating gate: the consumer moves a manual clock after each buffer,
/// so the link's credit announcements sample and announce sizes (a 1 ms target makes them a
/// few bytes) while the producer's `RecordWriter` cuts its second write to whatever size has
/// reached it. Checks, besides the above: the bytes arrive in order, none lost; the meter's lock,
/// the channel's and the pool's never deadlock.
#[test]
fn credit_stays_accounted_while_a_debloating_gate_changes_sizes() {
    use numaseg::buffer_pool::credit::RecordWriter;
    use numaseg::buffer_pool::debloat::{Clock, DebloatConfig, ManualClock};
    use std::time::Duration;
    model(|| {
        let (m, n) = tiny_network(3);
        let flow = FlowConfig {
            exclusive_per_channel: 1,
            floating_per_gate: 1,
            request_timeout: std::time::Duration::from_secs(1),
        };
        let debloat = DebloatConfig {
            enabled: true,
            period: Duration::from_millis(1),
            target: Duration::from_millis(1),
            min_size: 1,
            threshold_percent: 0,
            samples: 1,
        };
        let clock = ManualClock::new();
        let gate = InputGate::with_debloat_clock(&n, 1, &flow, &debloat, Clock::manual(&clock)).expect("gate");
        let sender_pool = Arc::new(n.create_buffer_pool(1, 1).expect("sender pool"));
        let sender = Subpartition::new(0);
        let producer = {
            let (pool, sender) = (Arc::clone(&sender_pool), sender.clone());
            loom::thread::spawn(move || {
                let mut writer = RecordWriter::new(sender, pool);
                writer.write(&[0, 1, 2]).expect("backpressure, not failure");
                writer.flush();
                writer.write(&[3, 4, 5]).expect("backpressure, not failure");
                writer.finish();
            })
        };
        let link = {
            let link = InProcessLink::new(sender.clone(), gate.channel(0).clone());
            loom::thread::spawn(move || link.run_blocking())
        };
        let ch = gate.channel(0);
        let mut expected = 0u8;
        while let Some(b) = ch.next_blocking() {
            for &x in b.as_slice() {
                assert_eq!(x, expected, "no byte lost or reordered");
                expected += 1;
            }
            drop(b);
            clock.advance(Duration::from_millis(1));
        }
        assert_eq!(expected, 6);
        producer.join().expect("producer");
        link.join().expect("link").expect("protocol kept");
        let (cs, ss) = (ch.stats(), sender.stats());
        assert!(cs.received <= cs.announced, "{cs:?}");
        assert_eq!(cs.received, ss.sent);
        assert_eq!(ss.credits_received, cs.announced);
        let size = gate.buffer_size();
        assert!((1..=4096).contains(&size), "{size}");
        drop((gate, sender, sender_pool));
        assert_network_back(&m, n);
    });
}
