//! The network buffer pool's stats snapshot, an input gate's row ([`GateStats`]), and their
//! Prometheus renderings (metric names in `docs/NETWORK_BUFFERS.md`).
//!
//! The request and recycle counters live on each buffer's own slot line (written by whoever
//! holds the buffer, no shared counter on the hot path) and are summed here; everything else is
//! read under the state lock. A snapshot taken while threads run is a sum of relaxed reads,
//! exact once they are quiescent.

use super::{Kind, Shared};
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
    pub min: usize,
    /// Maximum.
    pub max: usize,
    /// Current size after redistribution.
    pub size: usize,
    /// Buffers it owns (idle plus in use).
    pub owned: usize,
    /// Its buffers in someone's hands.
    pub in_use: usize,
    /// Idle buffers in its stack.
    pub available: usize,
    /// Requests that had to wait (backpressure).
    pub waits: u64,
    /// Unavailable → available notifications fired.
    pub notifications: u64,
    /// Buffers it took from the global pool.
    pub from_global: u64,
    /// Buffers it gave back to the global pool.
    pub to_global: u64,
    /// Destroyed, with buffers still in flight.
    pub destroyed: bool,
}

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
    pub buffer_size: usize,
    /// Buffers in all.
    pub total: usize,
    /// Buffers in the global pool (lent to no local pool).
    pub available: usize,
    /// Buffers in the global pool per node: (kernel index, buffers).
    pub free_per_node: Vec<(usize, usize)>,
    /// Buffers guaranteed (pool minimums and exclusive buffers).
    pub required: usize,
    /// Buffers in someone's hands.
    pub in_use: usize,
    /// Buffers handed out since start.
    pub requested: u64,
    /// Buffers recycled since start.
    pub recycled: u64,
    /// Per local pool (and exclusive set), in creation order.
    pub pools: Vec<LocalPoolStats>,
}

/// Takes the snapshot.
pub(crate) fn collect(shared: &Shared) -> NetworkBufferStats {
    let (requested, recycled, in_use) = shared.slots.iter().fold((0, 0, 0), |(req, rec, used), s| {
        let (a, b) = (s.requests.get(), s.recycles.get());
        (req + a, rec + b, used + usize::from(a != b))
    });
    let st = lock(&shared.state);
    let mut pools: Vec<LocalPoolStats> = st
        .records
        .iter()
        .flatten()
        .map(|r| LocalPoolStats {
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
        })
        .collect();
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
    for p in &mut pools {
        p.in_use = shared.in_hands(p.id);
        p.available = p.owned.saturating_sub(p.in_use);
    }
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
        let mut w = crate::prometheus::TextWriter::default();
        let mut family =
            |name: &str, kind: &str, help: &str, rows: Vec<(String, u64)>| w.family(name, kind, help, rows);
        let one = |v: usize| vec![(String::new(), v as u64)];
        family("numaseg_network_buffer_size_bytes", "gauge", "Bytes per network buffer.", one(self.buffer_size));
        family("numaseg_network_buffers_total", "gauge", "Network buffers in all.", one(self.total));
        family(
            "numaseg_network_buffers_available",
            "gauge",
            "Network buffers in the global pool, per node.",
            self.free_per_node.iter().map(|(n, f)| (format!("node=\"{n}\""), *f as u64)).collect(),
        );
        family(
            "numaseg_network_buffers_required",
            "gauge",
            "Network buffers guaranteed to pool minimums and exclusive sets.",
            one(self.required),
        );
        family("numaseg_network_buffers_in_use", "gauge", "Network buffers in someone's hands.", one(self.in_use));
        family(
            "numaseg_network_buffer_requests_total",
            "counter",
            "Network buffers handed out.",
            vec![(String::new(), self.requested)],
        );
        family(
            "numaseg_network_buffer_recycles_total",
            "counter",
            "Network buffers recycled.",
            vec![(String::new(), self.recycled)],
        );
        let label = |p: &LocalPoolStats| format!("pool=\"{}\",kind=\"{}\",node=\"{}\"", p.id, p.kind.as_str(), p.node);
        family(
            "numaseg_network_pool_buffers",
            "gauge",
            "Local pool buffers by state: min, max, size, owned, in_use, available.",
            self.pools
                .iter()
                .flat_map(|p| {
                    let l = label(p);
                    [
                        ("min", p.min),
                        ("max", p.max),
                        ("size", p.size),
                        ("owned", p.owned),
                        ("in_use", p.in_use),
                        ("available", p.available),
                    ]
                    .into_iter()
                    .map(move |(s, v)| (format!("{l},state=\"{s}\""), u64::try_from(v).unwrap_or(u64::MAX)))
                })
                .collect(),
        );
        let per_pool = |f: &dyn Fn(&LocalPoolStats) -> u64| self.pools.iter().map(|p| (label(p), f(p))).collect();
        family(
            "numaseg_network_pool_backpressure_waits_total",
            "counter",
            "Requests that found the pool empty and waited.",
            per_pool(&|p| p.waits),
        );
        family(
            "numaseg_network_pool_notifications_total",
            "counter",
            "Unavailable to available notifications fired.",
            per_pool(&|p| p.notifications),
        );
        family(
            "numaseg_network_pool_from_global_total",
            "counter",
            "Buffers taken from the global pool.",
            per_pool(&|p| p.from_global),
        );
        family(
            "numaseg_network_pool_to_global_total",
            "counter",
            "Buffers given back to the global pool.",
            per_pool(&|p| p.to_global),
        );
        w.finish()
    }
}

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
    /// Whether it adapts its buffer size.
    pub debloating: bool,
    /// The buffer size it announces, bytes (the segment size when it does not adapt).
    pub buffer_size: usize,
    /// The consumer's throughput, bytes per second, smoothed (0 when not measured: before the
    /// first period, or when the gate does not adapt).
    pub throughput: u64,
    /// Bytes in flight: queued plus one buffer per outstanding credit.
    pub in_flight_bytes: u64,
    /// Bytes received and waiting for the consumer.
    pub queued_bytes: u64,
    /// Credits announced and not yet used by a buffer.
    pub outstanding_credits: u64,
    /// Bytes the consumer took since start.
    pub consumed_bytes: u64,
    /// Times the buffer size changed.
    pub size_changes: u64,
}

/// A metric family of the gate rows: name, type, help, the value of a row.
type Family = (&'static str, &'static str, &'static str, fn(&GateStats) -> u64);

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
        let families: [Family; 8] = [
            (
                "numaseg_network_gate_buffer_size_bytes",
                "gauge",
                "Buffer size the gate announces to its senders.",
                |g| g.buffer_size as u64,
            ),
            (
                "numaseg_network_gate_throughput_bytes_per_second",
                "gauge",
                "The gate's consumer throughput, smoothed (0: not measured).",
                |g| g.throughput,
            ),
            (
                "numaseg_network_gate_in_flight_bytes",
                "gauge",
                "Bytes queued for the consumer plus one buffer per outstanding credit.",
                |g| g.in_flight_bytes,
            ),
            ("numaseg_network_gate_queued_bytes", "gauge", "Bytes received and waiting for the consumer.", |g| {
                g.queued_bytes
            }),
            ("numaseg_network_gate_outstanding_credits", "gauge", "Credits announced and not yet used.", |g| {
                g.outstanding_credits
            }),
            ("numaseg_network_gate_debloating", "gauge", "1 if the gate adapts its buffer size.", |g| {
                u64::from(g.debloating)
            }),
            ("numaseg_network_gate_consumed_bytes_total", "counter", "Bytes the gate's consumer took.", |g| {
                g.consumed_bytes
            }),
            ("numaseg_network_gate_buffer_size_changes_total", "counter", "Times the buffer size changed.", |g| {
                g.size_changes
            }),
        ];
        let mut w = crate::prometheus::TextWriter::default();
        for (name, kind, help, value) in families {
            w.family(name, kind, help, gates.iter().map(|g| (format!("gate=\"{}\"", g.gate), value(g))));
        }
        w.finish()
    }
}
