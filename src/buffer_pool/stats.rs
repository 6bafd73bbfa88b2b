//! The network buffer pool's stats snapshot, an input gate's row ([`GateStats`]), and their
//! Prometheus renderings (metric names in `docs/NETWORK_BUFFERS.md`).
//!
//! The request and recycle counters live on each buffer's own slot line (written by whoever
//! holds the buffer, no shared counter on the hot path) and are summed here; everything else is
//! read under the state lock. A snapshot taken while threads run is a sum of relaxed reads,
//! exact once they are quiescent.

use super::local::PoolCore;
use super::{Kind, Shared};
use crate::prometheus::snapshot;
use crate::sync::Arc;
use crate::sync::lock;

/// What a local pool is for.
///
/// ```
/// # use std::sync::Arc;
/// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
/// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
/// let exclusive = network.request_exclusive(2, None, None)?;
/// assert_eq!(exclusive.stats().unwrap().kind, numaseg::buffer_pool::PoolKind::Exclusive);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum PoolKind {
    /// A pool with a minimum and a redistributed size.
    Pool,
    /// A fixed set of exclusive buffers (one channel's credit).
    Exclusive,
}

impl PoolKind {
    /// The `kind` label of the metrics.
    ///
    /// ```
    /// assert_eq!(numaseg::buffer_pool::PoolKind::Exclusive.as_str(), "exclusive");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pool => "pool",
            Self::Exclusive => "exclusive",
        }
    }
}

snapshot! {
    /// One local pool in a [`NetworkBufferStats`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let pool = network.create_buffer_pool(2, 4)?;
    /// let row = pool.stats().unwrap();
    /// assert_eq!((row.min, row.max, row.size, row.owned), (2, 4, 4, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    pub struct LocalPoolStats {
        /// The pool's id.
        pub id: u64,
        /// Pool or exclusive buffers.
        pub kind: PoolKind,
        /// The node it prefers (kernel index).
        pub node: usize,
        /// Guaranteed minimum.
        pub min: usize =>
            (gauge "numaseg_network_pool_buffers"
                "Local pool buffers by state: min, max, size, owned, in_use, available." "state=\"min\""),
        /// Maximum.
        pub max: usize => (and "numaseg_network_pool_buffers" "state=\"max\""),
        /// Current size after redistribution.
        pub size: usize => (and "numaseg_network_pool_buffers" "state=\"size\""),
        /// Buffers it owns (idle plus in use).
        pub owned: usize => (and "numaseg_network_pool_buffers" "state=\"owned\""),
        /// Its buffers in someone's hands.
        pub in_use: usize => (and "numaseg_network_pool_buffers" "state=\"in_use\""),
        /// Idle buffers in its stack.
        pub available: usize => (and "numaseg_network_pool_buffers" "state=\"available\""),
        /// Requests that had to wait (backpressure).
        pub waits: u64 =>
            (counter "numaseg_network_pool_backpressure_waits_total" "Requests that found the pool empty and waited."),
        /// Unavailable → available notifications fired.
        pub notifications: u64 =>
            (counter "numaseg_network_pool_notifications_total" "Unavailable to available notifications fired."),
        /// Buffers it took from the global pool.
        pub from_global: u64 =>
            (counter "numaseg_network_pool_from_global_total" "Buffers taken from the global pool."),
        /// Buffers it gave back to the global pool.
        pub to_global: u64 => (counter "numaseg_network_pool_to_global_total" "Buffers given back to the global pool."),
        /// Destroyed, with buffers still in flight.
        pub destroyed: bool,
    }
    labels(p) { format!("pool=\"{}\",kind=\"{}\",node=\"{}\"", p.id, p.kind.as_str(), p.node) }
}

snapshot! {
    /// A snapshot of a [`NetworkBufferPool`](super::NetworkBufferPool).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let stats = network.stats();
    /// assert_eq!((stats.total, stats.available, stats.buffer_size), (8, 8, 4096));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    pub struct NetworkBufferStats {
        /// Bytes per buffer.
        pub buffer_size: usize => (gauge "numaseg_network_buffer_size_bytes" "Bytes per network buffer."),
        /// Buffers in all.
        pub total: usize => (gauge "numaseg_network_buffers_total" "Network buffers in all."),
        /// Buffers in the global pool (lent to no local pool).
        pub available: usize,
        /// Buffers in the global pool per node: (kernel index, buffers).
        pub free_per_node: Vec<(usize, usize)> =>
            (gauge "numaseg_network_buffers_available" "Network buffers in the global pool, per node." with |s, out| {
                for (node, free) in &s.free_per_node {
                    crate::prometheus::Sample::sample(free, &format!("node=\"{node}\""), out);
                }
            }),
        /// Buffers guaranteed (pool minimums and exclusive buffers).
        pub required: usize =>
            (gauge "numaseg_network_buffers_required"
                "Network buffers guaranteed to pool minimums and exclusive sets."),
        /// Buffers in someone's hands.
        pub in_use: usize => (gauge "numaseg_network_buffers_in_use" "Network buffers in someone's hands."),
        /// Buffers handed out since start.
        pub requested: u64 => (counter "numaseg_network_buffer_requests_total" "Network buffers handed out."),
        /// Buffers recycled since start.
        pub recycled: u64 => (counter "numaseg_network_buffer_recycles_total" "Network buffers recycled."),
        /// Per local pool (and exclusive set), in creation order.
        pub pools: Vec<LocalPoolStats> => (rows),
    }
    labels(_s) { String::new() }
}

/// Takes the snapshot.
pub(crate) fn collect(shared: &Shared) -> NetworkBufferStats {
    let (requested, recycled, in_use) = shared.slots.iter().fold((0, 0, 0), |(req, rec, used), s| {
        let (a, b) = (s.requests.get(), s.recycles.get());
        (req + a, rec + b, used + usize::from(a != b))
    });
    let st = lock(&shared.state);
    let pools: Vec<(LocalPoolStats, Arc<PoolCore>)> = st
        .records
        .iter()
        .flatten()
        .map(|r| {
            (
                LocalPoolStats {
                    id: r.core.id,
                    kind: if r.kind == Kind::Pool { PoolKind::Pool } else { PoolKind::Exclusive },
                    node: shared.nodes[r.node].index(),
                    min: r.min,
                    max: r.max,
                    size: r.size,
                    owned: r.owned,
                    in_use: 0,
                    available: 0,
                    waits: r.waits,
                    notifications: r.notifications,
                    from_global: r.from_global,
                    to_global: r.to_global,
                    destroyed: r.destroyed,
                },
                Arc::clone(&r.core),
            )
        })
        .collect();
    // Buffers waiting in an inbox or a lane are recycled, though their slots do not count it
    // yet (the taker does: see `local.rs`, *The inbox*, and `lane.rs`).
    let mut inboxed = 0;
    for (_, core) in &pools {
        core.for_each_inboxed(|_| inboxed += 1);
    }
    let (recycled, in_use) = (recycled + inboxed as u64, in_use.saturating_sub(inboxed));
    let stats = NetworkBufferStats {
        buffer_size: shared.buffer_size,
        total: shared.slots.len(),
        available: st.free_count,
        free_per_node: shared.nodes.iter().zip(&st.free).map(|(n, f)| (n.index(), f.len())).collect(),
        required: st.required,
        in_use,
        requested,
        recycled,
        pools: Vec::new(),
    };
    drop(st);
    let mut pools: Vec<LocalPoolStats> = pools
        .into_iter()
        .map(|(mut p, core)| {
            p.in_use = shared.in_hands(&core);
            p.available = p.owned.saturating_sub(p.in_use);
            p
        })
        .collect();
    pools.sort_by_key(|p| p.id);
    NetworkBufferStats { pools, ..stats }
}

impl NetworkBufferStats {
    /// The snapshot in the Prometheus text exposition format.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, buffer_pool::NetworkBufferPool};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let pool = network.create_buffer_pool(2, 8)?;
    /// let text = network.stats().to_prometheus();
    /// assert!(text.contains("numaseg_network_buffers_required 2"));
    /// assert!(text.contains(&format!("numaseg_network_pool_buffers{{pool=\"{}\",kind=\"pool\",node=\"0\",state=\"size\"}} 8", pool.id())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn to_prometheus(&self) -> String {
        crate::prometheus::render([self])
    }
}

snapshot! {
    /// One input gate's row: its buffer size, measured throughput and bytes in flight
    /// ([`InputGate::stats`](super::credit::InputGate::stats)).
    ///
    /// `in_flight_bytes` is what waits ahead of a new message at the receiver: the bytes received
    /// and not yet consumed, plus, for each credit announced and not yet used, one buffer of the
    /// current size (what the senders may have on the way).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let row = gate.stats();
    /// assert_eq!((row.channels, row.debloating, row.buffer_size, row.in_flight_bytes), (1, false, 4096, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    pub struct GateStats {
        /// The gate's id (its floating pool's id).
        pub gate: u64,
        /// Its channels.
        pub channels: usize,
        /// The buffer size it announces, bytes (the segment size when it does not adapt).
        pub buffer_size: usize =>
            (gauge "numaseg_network_gate_buffer_size_bytes" "Buffer size the gate announces to its senders."),
        /// The consumer's throughput, bytes per second, smoothed (0 when not measured: before the
        /// first period, or when the gate does not adapt).
        pub throughput: u64 =>
            (gauge "numaseg_network_gate_throughput_bytes_per_second"
                "The gate's consumer throughput, smoothed (0: not measured)."),
        /// Bytes in flight: queued plus one buffer per outstanding credit.
        pub in_flight_bytes: u64 =>
            (gauge "numaseg_network_gate_in_flight_bytes"
                "Bytes queued for the consumer plus one buffer per outstanding credit."),
        /// Bytes received and waiting for the consumer.
        pub queued_bytes: u64 =>
            (gauge "numaseg_network_gate_queued_bytes" "Bytes received and waiting for the consumer."),
        /// Credits announced and not yet used by a buffer.
        pub outstanding_credits: u64 =>
            (gauge "numaseg_network_gate_outstanding_credits" "Credits announced and not yet used."),
        /// Whether it adapts its buffer size.
        pub debloating: bool => (gauge "numaseg_network_gate_debloating" "1 if the gate adapts its buffer size."),
        /// Bytes the consumer took since start.
        pub consumed_bytes: u64 =>
            (counter "numaseg_network_gate_consumed_bytes_total" "Bytes the gate's consumer took."),
        /// Times the buffer size changed.
        pub size_changes: u64 =>
            (counter "numaseg_network_gate_buffer_size_changes_total" "Times the buffer size changed."),
    }
    labels(g) { format!("gate=\"{}\"", g.gate) }
}

impl GateStats {
    /// Gates' rows in the Prometheus text exposition format (each metric once, a `gate` label
    /// per row).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{GateStats, NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let text = GateStats::to_prometheus(&[gate.stats()]);
    /// assert!(text.contains(&format!("numaseg_network_gate_buffer_size_bytes{{gate=\"{}\"}} 4096", gate.id())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn to_prometheus(gates: &[Self]) -> String {
        crate::prometheus::render(gates)
    }
}
