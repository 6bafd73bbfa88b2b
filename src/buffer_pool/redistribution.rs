//! The redistribution rule: how the buffers no pool is guaranteed are shared among the local
//! pools. Pure, deterministic integer arithmetic, no state.
//!
//! Every pool first gets its minimum. The *spare* buffers (`total − Σ min − exclusive`) are
//! then shared in proportion to each pool's *capacity* `min(spare, max − min)` (the `min` keeps
//! a pool with an unbounded maximum from weighing more than all the spare buffers). The shares
//! are exact integers that add up: pool `i` gets `⌊D·Cᵢ/C⌋ − ⌊D·Cᵢ₋₁/C⌋`, where `Cᵢ` is the
//! running sum of capacities, `C` their total and `D = min(spare, C)` the buffers handed out —
//! so the shares sum to exactly `D`, each share is within one of its proportional value, and
//! none exceeds its pool's capacity (hence `size ≤ max`). Pools with `min == max` weigh
//! nothing. Apache Flink's `NetworkBufferPool` used the same rule; the numbers of its
//! buffer-pool-factory tests hold here (`tests/all/buffer_pool_factory.rs`).

/// A pool's bounds, the input of [`redistribute`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Buffers the pool is guaranteed.
    pub(crate) min: usize,
    /// Buffers the pool may ever hold.
    pub(crate) max: usize,
}

/// The size of every pool, in order, when `spare` buffers are left over after every minimum.
///
/// Guarantees (property-tested below): `min ≤ size ≤ max` for every pool, and
/// `Σ (size − min) = min(spare, Σ min(spare, max − min))`.
pub(crate) fn redistribute(spare: usize, pools: &[Bounds]) -> Vec<usize> {
    let capacity = |b: &Bounds| b.max.saturating_sub(b.min).min(spare) as u128;
    let total: u128 = pools.iter().map(capacity).sum();
    if spare == 0 || total == 0 {
        return pools.iter().map(|b| b.min).collect();
    }
    let handed_out = total.min(spare as u128);
    let mut running = 0u128;
    let mut given = 0u128;
    pools
        .iter()
        .map(|b| {
            running += capacity(b);
            let share = handed_out * running / total - given;
            given += share;
            // `share ≤ capacity ≤ max − min`, so this neither overflows nor exceeds `max`.
            b.min + usize::try_from(share).unwrap_or(usize::MAX)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(min: usize, max: usize) -> Bounds {
        Bounds { min, max }
    }

    #[test]
    fn flink_factory_numbers() {
        // One unbounded pool gets everything; two share evenly.
        assert_eq!(redistribute(1023, &[b(1, usize::MAX)]), vec![1024]);
        assert_eq!(redistribute(1022, &[b(1, usize::MAX), b(1, usize::MAX)]), vec![512, 512]);
        // Bounded pools never exceed their maximum.
        assert_eq!(redistribute(1022, &[b(1, 10), b(1, 10)]), vec![10, 10]);
        // 3 buffers, two pools of (1, 10): one gets 2, the other 1.
        let sizes = redistribute(1, &[b(1, 10), b(1, 10)]);
        assert_eq!(sizes.iter().sum::<usize>(), 3);
        assert!(sizes.iter().all(|&s| s < 3));
        // Fixed pools weigh nothing.
        assert_eq!(redistribute(999, &[b(24, 24), b(1, usize::MAX)]), vec![24, 1000]);
        // Nothing spare: minimums.
        assert_eq!(redistribute(0, &[b(3, 9), b(2, 5)]), vec![3, 2]);
        assert!(redistribute(5, &[]).is_empty());
    }

    #[test]
    fn shares_follow_capacity() {
        // Capacities 10 and 30 with 20 spare: capped to 10 and 20, so 20·10/30 = 6 and 14.
        assert_eq!(redistribute(20, &[b(0, 10), b(0, 30)]), vec![6, 14]);
        // Capacities 10 and 30 with 40 spare: all fit.
        assert_eq!(redistribute(40, &[b(0, 10), b(0, 30)]), vec![10, 30]);
        // Capacities 10 and 30 with 100 spare: both reach their maximum.
        assert_eq!(redistribute(100, &[b(5, 15), b(1, 31)]), vec![15, 31]);
    }

    /// Property test with a seeded generator (deterministic, reproducible from the seed).
    #[test]
    fn shares_are_exact_bounded_and_proportional() {
        let mut rng = fastrand::Rng::with_seed(0x5eed_0005);
        for _ in 0..20_000 {
            let n = rng.usize(0..8);
            let pools: Vec<Bounds> = (0..n)
                .map(|_| {
                    let min = rng.usize(0..50);
                    let max = match rng.u8(0..4) {
                        0 => min,
                        1 => usize::MAX,
                        _ => min + rng.usize(0..200),
                    };
                    b(min, max)
                })
                .collect();
            let spare = rng.usize(0..500);
            let sizes = redistribute(spare, &pools);
            assert_eq!(sizes.len(), n);
            let caps: Vec<usize> = pools.iter().map(|p| (p.max - p.min).min(spare)).collect();
            let total_cap: usize = caps.iter().sum();
            let handed: usize = sizes.iter().zip(&pools).map(|(s, p)| s - p.min).sum();
            assert_eq!(handed, spare.min(total_cap), "{pools:?} spare {spare} -> {sizes:?}");
            for ((s, p), c) in sizes.iter().zip(&pools).zip(&caps) {
                assert!(p.min <= *s && *s <= p.max, "{pools:?} spare {spare} -> {sizes:?}");
                // Within one buffer of the exact proportional share.
                if total_cap > 0 {
                    let exact = handed as f64 * *c as f64 / total_cap as f64;
                    assert!(((s - p.min) as f64 - exact).abs() < 1.0 + 1e-9, "{pools:?} {spare} {sizes:?}");
                }
            }
            // Deterministic: the same input gives the same output.
            assert_eq!(redistribute(spare, &pools), sizes);
        }
    }
}
