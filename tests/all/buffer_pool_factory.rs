//! Apache Flink's `BufferPoolFactoryTest`, re-expressed: the exact numbers of the
//! redistribution among local pools as pools come and go and exclusive buffers are taken and
//! given back.

use std::sync::Arc;

use numaseg::buffer_pool::NetworkBufferPool;
use numaseg::{ArenaManager, BufferPoolError, Config};

const BUFFERS: usize = 1024;

pub(crate) fn network(buffers: usize) -> NetworkBufferPool {
    let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1).unwrap());
    NetworkBufferPool::with_buffers(manager, buffers, 4096).unwrap()
}

/// Every buffer is back in the global pool, handed out and recycled the same number of times.
pub(crate) fn assert_all_back(network: &NetworkBufferPool) {
    let stats = network.stats();
    assert_eq!(stats.available, stats.total, "{stats:#?}");
    assert_eq!(stats.in_use, 0, "{stats:#?}");
    assert_eq!(stats.requested, stats.recycled, "{stats:#?}");
    assert_eq!(stats.required, 0, "{stats:#?}");
}

#[test]
fn a_pool_requiring_more_than_all_buffers_is_refused_with_the_numbers() {
    let n = network(BUFFERS);
    match n.create_buffer_pool(BUFFERS + 1, usize::MAX) {
        Err(BufferPoolError::Insufficient { required, available, total, buffer_size }) => {
            assert_eq!((required, available, total, buffer_size), (BUFFERS + 1, BUFFERS, BUFFERS, 4096));
        }
        other => panic!("{other:?}"),
    }
    let text = n.create_buffer_pool(BUFFERS + 1, usize::MAX).unwrap_err().to_string();
    assert!(
        text.starts_with("Insufficient number of network buffers: required 1025, but only 1024 available"),
        "{text}"
    );
    assert!(text.contains("NUMASEG_NETWORK_BUFFERS"), "{text}");
    assert_all_back(&n);
}

#[test]
fn two_pools_requiring_more_than_all_buffers_together_are_refused() {
    let n = network(BUFFERS);
    let first = n.create_buffer_pool(BUFFERS / 2 + 1, BUFFERS).unwrap();
    match n.create_buffer_pool(BUFFERS / 2 + 1, BUFFERS) {
        Err(BufferPoolError::Insufficient { required: 513, available: 511, .. }) => {}
        other => panic!("{other:?}"),
    }
    drop(first);
    assert_all_back(&n);
}

#[test]
fn overprovisioned_pools_hand_excess_over_as_it_is_recycled() {
    let n = network(BUFFERS);
    let take1 = BUFFERS / 2 + 1; // also the minimum of pool 2
    let take2 = BUFFERS - take1; // also the minimum of pool 1
    let pool1 = n.create_buffer_pool(take2, BUFFERS).unwrap();
    let mut buffers: Vec<_> = (0..take1).map(|_| pool1.request_buffer().unwrap().unwrap()).collect();
    assert_eq!(pool1.buffers_in_use(), take1);
    assert_eq!(pool1.num_buffers(), BUFFERS);

    // A second pool needs more than is free now: created all the same (its minimum is
    // guaranteed), pool 1 shrinks to its minimum and cannot hand out more.
    let pool2 = n.create_buffer_pool(take1, BUFFERS).unwrap();
    assert_eq!(pool2.num_buffers(), take1);
    assert_eq!(pool1.num_buffers(), take2);
    assert!(pool1.request_buffer().unwrap().is_none());

    for _ in 0..take2 {
        buffers.push(pool2.request_buffer().unwrap().unwrap());
    }
    assert_eq!(pool2.buffers_in_use(), take2);
    // One more belongs to pool 2, but pool 1 still holds it.
    assert!(pool2.request_buffer().unwrap().is_none());
    // As soon as pool 1 recycles one of its excess buffers, it goes to pool 2 (which waited).
    buffers.remove(0);
    assert_eq!(n.available_buffers(), 0);
    assert_eq!(pool1.owned_buffers(), take1 - 1);
    assert_eq!(pool2.owned_buffers(), take2 + 1);
    assert_eq!(pool2.available_buffers(), 1);
    drop(buffers);
    drop((pool1, pool2));
    assert_all_back(&n);
}

#[test]
fn bounded_pools_get_at_most_their_maximum() {
    let n = network(BUFFERS);
    let p1 = n.create_buffer_pool(1, 1).unwrap();
    assert_eq!(p1.num_buffers(), 1);
    let p2 = n.create_buffer_pool(1, 2).unwrap();
    assert_eq!(p2.num_buffers(), 2);
    drop((p1, p2));
    assert_all_back(&n);
}

#[test]
fn a_single_unbounded_pool_gets_everything_but_the_fixed_ones() {
    let n = network(BUFFERS);
    let only = n.create_buffer_pool(1, usize::MAX).unwrap();
    assert_eq!(only.num_buffers(), BUFFERS);
    drop(only);
    let fixed = n.create_buffer_pool(24, 24).unwrap();
    let flexible = n.create_buffer_pool(1, usize::MAX).unwrap();
    assert_eq!(fixed.num_buffers(), 24);
    assert_eq!(flexible.num_buffers(), BUFFERS - 24);
    drop((fixed, flexible));
    assert_all_back(&n);
}

#[test]
fn unbounded_pools_share_evenly() {
    let n = network(BUFFERS);
    let first = n.create_buffer_pool(1, usize::MAX).unwrap();
    assert_eq!(first.num_buffers(), BUFFERS);
    let second = n.create_buffer_pool(1, usize::MAX).unwrap();
    assert_eq!((first.num_buffers(), second.num_buffers()), (BUFFERS / 2, BUFFERS / 2));
    drop((first, second));

    let first = n.create_buffer_pool(BUFFERS / 2, usize::MAX).unwrap();
    assert_eq!(first.num_buffers(), BUFFERS);
    let second = n.create_buffer_pool(BUFFERS / 2, usize::MAX).unwrap();
    assert_eq!((first.num_buffers(), second.num_buffers()), (BUFFERS / 2, BUFFERS / 2));
    drop((first, second));

    let first = n.create_buffer_pool(1, BUFFERS).unwrap();
    assert_eq!(first.num_buffers(), BUFFERS);
    let second = n.create_buffer_pool(1, BUFFERS).unwrap();
    assert_eq!((first.num_buffers(), second.num_buffers()), (BUFFERS / 2, BUFFERS / 2));
    drop((first, second));

    let first = n.create_buffer_pool(1, 10).unwrap();
    let second = n.create_buffer_pool(1, 10).unwrap();
    assert_eq!((first.num_buffers(), second.num_buffers()), (10, 10));
    drop((first, second));
    assert_all_back(&n);
}

#[test]
fn three_buffers_over_three_pools() {
    let n = network(3);
    let first = n.create_buffer_pool(1, 10).unwrap();
    assert_eq!(first.num_buffers(), 3);
    let second = n.create_buffer_pool(1, 10).unwrap();
    assert_eq!(first.num_buffers() + second.num_buffers(), 3);
    assert_ne!(first.num_buffers(), 3);
    assert_ne!(second.num_buffers(), 3);
    let third = n.create_buffer_pool(1, 10).unwrap();
    assert_eq!((first.num_buffers(), second.num_buffers(), third.num_buffers()), (1, 1, 1));
    drop((first, second, third));
    assert_all_back(&n);
}

#[test]
fn exclusive_requests_and_returns_redistribute_exactly() {
    let n = network(10);
    let first = n.create_buffer_pool(1, 10).unwrap();
    assert_eq!(first.num_buffers(), 10);

    let e1 = n.request_exclusive(2, None, None).unwrap();
    assert_eq!(e1.available_buffers(), 2);
    assert_eq!(first.num_buffers(), 8);

    let second = n.create_buffer_pool(1, 10).unwrap();
    assert_eq!((first.num_buffers(), second.num_buffers()), (4, 4));

    let e2 = n.request_exclusive(2, None, None).unwrap();
    assert_eq!((first.num_buffers(), second.num_buffers()), (3, 3));

    let e3 = n.request_exclusive(2, None, None).unwrap();
    assert_eq!((first.num_buffers(), second.num_buffers()), (2, 2));
    // The pools took nothing yet: 10 − 6 exclusive.
    assert_eq!(n.available_buffers(), 4);

    drop(e1);
    assert_eq!(n.available_buffers(), 6);
    assert_eq!((first.num_buffers(), second.num_buffers()), (3, 3));
    drop(e2);
    assert_eq!(n.available_buffers(), 8);
    assert_eq!((first.num_buffers(), second.num_buffers()), (4, 4));
    drop(e3);
    assert_eq!(n.available_buffers(), 10);
    assert_eq!((first.num_buffers(), second.num_buffers()), (5, 5));

    drop(first);
    assert_eq!(second.num_buffers(), 10);
    drop(second);
    assert_all_back(&n);
}

#[test]
fn destroying_pools_one_by_one_gives_the_others_their_share() {
    let n = network(BUFFERS);
    let mut rng = fastrand::Rng::with_seed(42);
    let mut pools = Vec::new();
    for _ in 0..10 {
        let min = rng.usize(1..20);
        let max = min + rng.usize(0..200);
        pools.push((n.create_buffer_pool(min, max).unwrap(), min, max));
    }
    while !pools.is_empty() {
        let total: usize = pools.iter().map(|(p, ..)| p.num_buffers()).sum();
        let spare_fits = pools.iter().map(|(_, _, max)| *max).sum::<usize>() <= BUFFERS;
        for (p, min, max) in &pools {
            assert!((*min..=*max).contains(&p.num_buffers()));
        }
        // Either every pool is at its maximum, or every buffer is given out.
        assert!(total == BUFFERS || spare_fits, "sizes add up to {total}");
        let i = rng.usize(0..pools.len());
        pools.swap_remove(i);
    }
    assert_all_back(&n);
}
