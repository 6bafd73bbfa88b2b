//! Credit-based flow control between a sender ([`Subpartition`]) and a receiver
//! ([`InputChannel`]), modelled on Apache Flink's `RemoteInputChannel`, plus a wire format
//! ([`Frame`]) for stream transports and an in-process transport ([`InProcessLink`]).
//!
//! **The protocol.**
//! - Each receiving channel holds *exclusive* buffers (`NUMASEG_NETWORK_EXCLUSIVE_BUFFERS`,
//!   requested from the global pool when the channel is made) and may borrow *floating*
//!   buffers from its gate's local pool (`NUMASEG_NETWORK_FLOATING_BUFFERS`). Every buffer it
//!   holds for incoming data is one **credit**: the receiver announces credits
//!   ([`AddCredit`]), the sender sends a buffer only while it has credit, and each buffer
//!   consumes one.
//! - With every buffer the sender reports its **backlog** (buffers queued behind it). The
//!   receiver then tries to hold `backlog + exclusive` buffers, borrowing floating ones, and
//!   announces each as credit. When the gate's pool is empty it waits for its availability
//!   notification.
//! - When the consumer drops a received buffer it returns to its pool: an exclusive buffer to
//!   the channel (whose availability notification wakes the network side to re-grant it), a
//!   floating one to the gate.
//!
//! **What must hold** (checked, and counted in [`ChannelStats`]):
//! - Credit never goes negative: the sender's credit is decremented only when positive, and the
//!   receiver refuses a buffer beyond what it announced ([`CreditError::NoCredit`]).
//! - `reserved = unannounced + (announced − received)`: every credit, announced or not, is
//!   backed by a buffer the receiver holds, so an arriving buffer always has a place.
//! - Memory is bounded: the sender queues at most what its local pool holds (the producer
//!   waits for buffers — backpressure), the receiver at most its exclusive buffers plus the
//!   gate's pool. No deadlock: exclusive buffers come back as the consumer consumes, so every
//!   channel regains credit on its own.
//!
//! **Adaptive buffer sizing** (debloating, [`super::debloat`]): a gate built with
//! [`InputGate::with_debloat`] measures how fast its consumer takes data and announces a buffer
//! size with every credit ([`AddCredit::buffer_size`]); the sender's [`RecordWriter`] cuts what
//! it writes into buffers of that size (the buffers stay whole segments: the size is their
//! [`write limit`](Buffer::set_write_limit), what `BufMut::remaining_mut` reports). Receiving
//! buffers always accept a whole segment, since buffers the sender cut before it learnt a new
//! size may still arrive.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, BufMut};

use super::availability;
use super::debloat::{Clock, DebloatConfig, GateMeter};
use super::stats::GateStats;
use super::{Buffer, LocalBufferPool, NetworkBufferPool};
use crate::config::Config;
use crate::error::{BufferPoolError, CreditError};
use crate::sync::{Arc, Mutex, lock};

/// The flow-control settings (from `NUMASEG_NETWORK_EXCLUSIVE_BUFFERS`,
/// `NUMASEG_NETWORK_FLOATING_BUFFERS`, `NUMASEG_NETWORK_REQUEST_TIMEOUT`).
///
/// ```
/// use numaseg::{Config, buffer_pool::credit::FlowConfig};
/// let flow = FlowConfig::from_config(&Config::default());
/// assert_eq!((flow.exclusive_per_channel, flow.floating_per_gate), (2, 8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Exclusive buffers per channel.
    pub exclusive_per_channel: usize,
    /// Most floating buffers a gate's pool holds.
    pub floating_per_gate: usize,
    /// How long a channel waits for its exclusive buffers.
    pub request_timeout: Duration,
}

impl FlowConfig {
    /// The settings of a configuration.
    ///
    /// ```
    /// use numaseg::{Config, buffer_pool::credit::FlowConfig};
    /// let config = Config::builder().network_exclusive_buffers(4).build_from::<_, &str, &str>([])?;
    /// assert_eq!(FlowConfig::from_config(&config).exclusive_per_channel, 4);
    /// # Ok::<(), numaseg::config::ConfigError>(())
    /// ```
    #[must_use]
    pub fn from_config(config: &Config) -> Self {
        Self {
            exclusive_per_channel: config.network_exclusive_buffers,
            floating_per_gate: config.network_floating_buffers,
            request_timeout: config.network_request_timeout.as_duration(),
        }
    }
}

/// A credit announcement, receiver to sender: `credit` more buffers may be sent.
///
/// ```
/// use numaseg::buffer_pool::credit::AddCredit;
/// let c = AddCredit { channel: 0, credit: 2, buffer_size: None };
/// assert_eq!(c.credit, 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddCredit {
    /// The channel.
    pub channel: u32,
    /// Buffers the sender may send in addition.
    pub credit: u32,
    /// The bytes the receiver wants per buffer (`None`: whole buffers). Adaptive buffer sizing
    /// fills this in; a sender cuts its records into buffers of this size.
    pub buffer_size: Option<u32>,
}

/// One frame on a stream transport. The header is [`Frame::HEADER_LEN`] bytes, little-endian:
/// `kind u8, 3 bytes zero, channel u32, a u64, b u32, c u32` where for `AddCredit` a = credit
/// and b = buffer size (0: none), for `Buffer` a = sequence, b = backlog, c = payload length
/// (the payload follows), and `End` uses none.
///
/// ```
/// use numaseg::buffer_pool::credit::{AddCredit, Frame};
/// let frame = Frame::Buffer { channel: 1, sequence: 7, backlog: 3, len: 100 };
/// let header = frame.encode();
/// assert_eq!(Frame::decode(&header)?, frame);
/// let credit = Frame::Credit(AddCredit { channel: 1, credit: 4, buffer_size: Some(1024) });
/// assert_eq!(Frame::decode(&credit.encode())?, credit);
/// assert!(Frame::decode(&[9; Frame::HEADER_LEN]).is_err());
/// # Ok::<(), numaseg::CreditError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Receiver to sender: credit.
    Credit(AddCredit),
    /// Sender to receiver: a buffer of `len` bytes follows.
    Buffer {
        /// The channel.
        channel: u32,
        /// The buffer's number, from 0.
        sequence: u64,
        /// Buffers queued behind it at the sender.
        backlog: u32,
        /// Payload bytes that follow the header.
        len: u32,
    },
    /// Sender to receiver: no more buffers.
    End {
        /// The channel.
        channel: u32,
    },
}

impl Frame {
    /// Bytes of a frame header.
    pub const HEADER_LEN: usize = 24;

    /// The header bytes.
    ///
    /// ```
    /// use numaseg::buffer_pool::credit::Frame;
    /// assert_eq!(Frame::End { channel: 2 }.encode()[0], 3);
    /// ```
    #[must_use]
    pub fn encode(&self) -> [u8; Self::HEADER_LEN] {
        let (kind, channel, a, b, c) = match *self {
            Self::Credit(AddCredit { channel, credit, buffer_size }) => {
                (1u8, channel, u64::from(credit), buffer_size.unwrap_or(0), 0)
            }
            Self::Buffer { channel, sequence, backlog, len } => (2, channel, sequence, backlog, len),
            Self::End { channel } => (3, channel, 0, 0, 0),
        };
        let mut h = [0u8; Self::HEADER_LEN];
        h[0] = kind;
        h[4..8].copy_from_slice(&channel.to_le_bytes());
        h[8..16].copy_from_slice(&a.to_le_bytes());
        h[16..20].copy_from_slice(&b.to_le_bytes());
        h[20..24].copy_from_slice(&c.to_le_bytes());
        h
    }

    /// Parses a header.
    ///
    /// ```
    /// use numaseg::buffer_pool::credit::Frame;
    /// assert_eq!(Frame::decode(&Frame::End { channel: 5 }.encode())?, Frame::End { channel: 5 });
    /// # Ok::<(), numaseg::CreditError>(())
    /// ```
    ///
    /// # Errors
    /// [`CreditError::Malformed`] for an unknown kind or a credit beyond `u32`.
    pub fn decode(h: &[u8; Self::HEADER_LEN]) -> Result<Self, CreditError> {
        let mut rest = &h[4..];
        let channel = rest.get_u32_le();
        let a = rest.get_u64_le();
        let b = rest.get_u32_le();
        let c = rest.get_u32_le();
        match h[0] {
            1 => Ok(Self::Credit(AddCredit {
                channel,
                credit: u32::try_from(a).map_err(|_| CreditError::Malformed { reason: "credit beyond u32" })?,
                buffer_size: (b != 0).then_some(b),
            })),
            2 => Ok(Self::Buffer { channel, sequence: a, backlog: b, len: c }),
            3 => Ok(Self::End { channel }),
            _ => Err(CreditError::Malformed { reason: "unknown frame kind" }),
        }
    }
}

// === receiver ===

/// A receiving side: a gate's floating pool shared by its channels.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let network = NetworkBufferPool::with_buffers(manager, 32, 4096)?;
/// let flow = FlowConfig { exclusive_per_channel: 2, floating_per_gate: 8, request_timeout: std::time::Duration::from_secs(1) };
/// let gate = InputGate::new(&network, 3, &flow)?;
/// assert_eq!(gate.channels().len(), 3);
/// assert_eq!(gate.channel(0).take_credit().unwrap().credit, 2); // the exclusive buffers
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct InputGate {
    floating: Arc<LocalBufferPool>,
    channels: Vec<InputChannel>,
    /// Present when the gate adapts its buffer size.
    meter: Option<Arc<GateMeter>>,
    buffer_size: usize,
}

impl InputGate {
    /// A gate of `channels` channels: a floating pool of at most `floating_per_gate` buffers and
    /// `exclusive_per_channel` exclusive buffers per channel.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// let flow = FlowConfig::from_config(&Config::default()); // 2 exclusive per channel
    /// let err = InputGate::new(&network, 2, &flow).unwrap_err(); // 1 floating + 4 exclusive > 4
    /// assert!(err.to_string().starts_with("Insufficient number of network buffers"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::Insufficient`] and the errors of
    /// [`NetworkBufferPool::request_exclusive`] (everything taken is given back).
    pub fn new(network: &NetworkBufferPool, channels: usize, flow: &FlowConfig) -> Result<Self, BufferPoolError> {
        Self::build(network, channels, flow, None)
    }

    /// A gate that adapts its buffer size when `debloat.enabled` (see [`super::debloat`]),
    /// measuring time with the system clock; otherwise the same as [`InputGate::new`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// use numaseg::buffer_pool::debloat::DebloatConfig;
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 16, 4096)?;
    /// let config = Config::builder().network_debloat(true).build_from::<_, &str, &str>([])?;
    /// let gate = InputGate::with_debloat(&network, 2, &FlowConfig::from_config(&config), &DebloatConfig::from_config(&config))?;
    /// assert!(gate.stats().debloating);
    /// // Every credit now carries the size the sender should cut to (whole buffers for a start).
    /// assert_eq!(gate.channel(0).take_credit().unwrap().buffer_size, Some(4096));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`InputGate::new`].
    pub fn with_debloat(
        network: &NetworkBufferPool,
        channels: usize,
        flow: &FlowConfig,
        debloat: &DebloatConfig,
    ) -> Result<Self, BufferPoolError> {
        Self::with_debloat_clock(network, channels, flow, debloat, Clock::system())
    }

    /// [`InputGate::with_debloat`] with a given clock (a [`ManualClock`](super::debloat::ManualClock)
    /// makes it deterministic).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// use numaseg::buffer_pool::debloat::{Clock, DebloatConfig, ManualClock};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 16, 4096)?;
    /// let clock = ManualClock::new();
    /// let debloat = DebloatConfig { enabled: true, ..DebloatConfig::default() };
    /// let gate = InputGate::with_debloat_clock(&network, 1, &FlowConfig::from_config(&Config::default()), &debloat, Clock::manual(&clock))?;
    /// assert_eq!(gate.debloat(), None); // no period has passed
    /// clock.advance(Duration::from_millis(200));
    /// assert_eq!(gate.debloat(), None); // a period, but idle: nothing to measure
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`InputGate::new`].
    pub fn with_debloat_clock(
        network: &NetworkBufferPool,
        channels: usize,
        flow: &FlowConfig,
        debloat: &DebloatConfig,
        clock: Clock,
    ) -> Result<Self, BufferPoolError> {
        Self::build(network, channels, flow, debloat.enabled.then_some((debloat, clock)))
    }

    fn build(
        network: &NetworkBufferPool,
        channels: usize,
        flow: &FlowConfig,
        debloat: Option<(&DebloatConfig, Clock)>,
    ) -> Result<Self, BufferPoolError> {
        let floating = Arc::new(network.create_buffer_pool(1, flow.floating_per_gate.max(1))?);
        let buffer_size = network.buffer_size();
        let meter = debloat.map(|(config, clock)| {
            let exclusive = channels.saturating_mul(flow.exclusive_per_channel);
            Arc::new(GateMeter::new(config, clock, buffer_size, Arc::clone(&floating), exclusive))
        });
        let channels = (0..channels)
            .map(|i| {
                InputChannel::in_gate(
                    u32::try_from(i).unwrap_or(u32::MAX),
                    network,
                    Arc::clone(&floating),
                    flow.exclusive_per_channel,
                    flow.request_timeout,
                    meter.clone(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { floating, channels, meter, buffer_size })
    }

    /// Measures and recomputes the buffer size if a debloating period has passed since the last
    /// time; returns the new size when it changed (`None` also when the gate does not adapt).
    /// The gate's channels do this themselves whenever they announce credit; call it from a
    /// timer to adapt a gate whose channels are quiet.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use bytes::BufMut;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// use numaseg::buffer_pool::debloat::{Clock, DebloatConfig, ManualClock};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 16, 4096)?;
    /// let clock = ManualClock::new();
    /// let debloat = DebloatConfig { enabled: true, ..DebloatConfig::default() };
    /// let flow = FlowConfig { exclusive_per_channel: 2, floating_per_gate: 8, request_timeout: Duration::from_secs(1) };
    /// let gate = InputGate::with_debloat_clock(&network, 1, &flow, &debloat, Clock::manual(&clock))?;
    /// let ch = gate.channel(0);
    /// let _ = ch.take_credit();
    /// // One period in which the consumer took 1000 bytes: 5 kB/s over 10 buffers for 1 s.
    /// let mut b = ch.receive_buffer()?;
    /// b.put_bytes(7, 1000);
    /// ch.on_buffer(b, 0, 0)?;
    /// drop(ch.try_next());
    /// clock.advance(Duration::from_millis(200));
    /// assert_eq!(gate.debloat(), Some(500));
    /// assert_eq!(ch.take_credit().unwrap().buffer_size, Some(500));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn debloat(&self) -> Option<usize> {
        self.meter.as_ref().and_then(|m| m.tick())
    }

    /// The buffer size the gate announces (the segment size when it does not adapt).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 16, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// assert_eq!(gate.buffer_size(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn buffer_size(&self) -> usize {
        self.meter.as_ref().map_or(self.buffer_size, |m| m.size())
    }

    /// The gate's id (its floating pool's id: the `gate` label of its metrics).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 16, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// assert_eq!(gate.id(), gate.floating_pool().id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn id(&self) -> u64 {
        self.floating.id()
    }

    /// The gate's row of the stats: buffer size, measured throughput, bytes in flight.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use bytes::BufMut;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 16, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let ch = gate.channel(0);
    /// let _ = ch.take_credit(); // 2 credits outstanding
    /// let mut b = ch.receive_buffer()?;
    /// b.put_bytes(0, 100);
    /// ch.on_buffer(b, 0, 0)?; // 100 bytes wait for the consumer, 1 credit outstanding
    /// let s = gate.stats();
    /// assert_eq!((s.buffer_size, s.queued_bytes, s.outstanding_credits), (4096, 100, 1));
    /// assert_eq!(s.in_flight_bytes, 100 + 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> GateStats {
        let (mut queued, mut outstanding, mut consumed) = (0u64, 0u64, 0u64);
        for ch in &self.channels {
            let st = lock(&ch.inner.state);
            queued += st.queued_bytes;
            outstanding += st.announced - st.received;
            consumed += st.consumed_bytes;
        }
        let size = self.buffer_size();
        let (throughput, size_changes) = self.meter.as_ref().map_or((0, 0), |m| m.throughput_and_changes());
        GateStats {
            gate: self.id(),
            channels: self.channels.len(),
            debloating: self.meter.is_some(),
            buffer_size: size,
            throughput,
            in_flight_bytes: queued + outstanding * size as u64,
            queued_bytes: queued,
            outstanding_credits: outstanding,
            consumed_bytes: consumed,
            size_changes,
        }
    }

    /// Channel `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 2, &FlowConfig::from_config(&Config::default()))?;
    /// assert_eq!(gate.channel(1).id(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn channel(&self, i: usize) -> &InputChannel {
        &self.channels[i]
    }

    /// Every channel.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 2, &FlowConfig::from_config(&Config::default()))?;
    /// assert_eq!(gate.channels().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn channels(&self) -> &[InputChannel] {
        &self.channels
    }

    /// The gate's pool of floating buffers.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 16, 4096)?;
    /// let gate = InputGate::new(&network, 2, &FlowConfig::from_config(&Config::default()))?;
    /// assert_eq!(gate.floating_pool().max_buffers(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn floating_pool(&self) -> &LocalBufferPool {
        &self.floating
    }
}

/// The receiving end of one channel. Clones share the channel: the network side uses
/// [`InputChannel::poll_credit`], [`InputChannel::receive_buffer`] and
/// [`InputChannel::on_buffer`]; the consumer [`InputChannel::next`] and friends.
///
/// ```
/// use std::sync::Arc;
/// use bytes::BufMut;
/// use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let network = NetworkBufferPool::with_buffers(manager, 8, 4096)?;
/// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
/// let channel = gate.channel(0);
/// assert_eq!(channel.take_credit().unwrap().credit, 2);
/// // A buffer arrives: fill a reserved buffer, hand it over with the sender's backlog.
/// let mut buffer = channel.receive_buffer()?;
/// buffer.put_slice(b"record");
/// channel.on_buffer(buffer, 0, 3)?;
/// // The backlog of 3 made it borrow floating buffers: more credit.
/// assert_eq!(channel.take_credit().unwrap().credit, 4);
/// assert_eq!(channel.try_next().unwrap().as_slice(), b"record");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct InputChannel {
    inner: Arc<ChannelInner>,
}

struct ChannelInner {
    id: u32,
    exclusive_count: usize,
    exclusive: LocalBufferPool,
    floating: Arc<LocalBufferPool>,
    /// The gate's debloating meter, if it adapts its buffer size.
    meter: Option<Arc<GateMeter>>,
    state: Mutex<RxState>,
}

impl fmt::Debug for ChannelInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputChannel").field("id", &self.id).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct RxState {
    /// Buffers held for incoming data: one per credit, announced or not.
    reserved: VecDeque<Buffer>,
    unannounced: usize,
    announced: u64,
    received: u64,
    backlog: usize,
    next_sequence: u64,
    /// Received buffers for the consumer.
    queue: VecDeque<Buffer>,
    ended: bool,
    consumer: Option<Waker>,
    exclusive_waiter: Option<u64>,
    floating_waiter: Option<u64>,
    max_outstanding: u64,
    max_queued: usize,
    /// Bytes in `queue`.
    queued_bytes: u64,
    /// Bytes the consumer took since start.
    consumed_bytes: u64,
}

impl RxState {
    fn is_valid(&self) -> bool {
        self.received <= self.announced
            && self.reserved.len() as u64 == self.unannounced as u64 + (self.announced - self.received)
    }
}

/// A channel's credit accounting (see the module docs for what must hold).
///
/// ```
/// # use std::sync::Arc;
/// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
/// # use numaseg::{ArenaManager, Config};
/// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
/// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
/// let s = gate.channel(0).stats();
/// assert!(s.received <= s.announced);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelStats {
    /// Credits announced since start.
    pub announced: u64,
    /// Buffers received since start.
    pub received: u64,
    /// Credits not yet announced.
    pub unannounced: usize,
    /// Buffers held for incoming data.
    pub reserved: usize,
    /// The sender's last reported backlog.
    pub backlog: usize,
    /// Received buffers waiting for the consumer.
    pub queued: usize,
    /// The most credit the sender ever had outstanding (`announced − received`).
    pub max_outstanding: u64,
    /// The most received buffers ever waiting for the consumer.
    pub max_queued: usize,
    /// Bytes of the received buffers waiting for the consumer.
    pub queued_bytes: u64,
    /// Bytes the consumer took since start.
    pub consumed_bytes: u64,
}

impl InputChannel {
    /// A channel with `exclusive` exclusive buffers (waiting up to `timeout` for them) that
    /// borrows floating buffers from `floating`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::InputChannel};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let floating = Arc::new(network.create_buffer_pool(1, 4)?);
    /// let channel = InputChannel::new(7, &network, floating, 2, Duration::from_secs(1))?;
    /// assert_eq!(channel.stats().reserved, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`NetworkBufferPool::request_exclusive`].
    pub fn new(
        id: u32,
        network: &NetworkBufferPool,
        floating: Arc<LocalBufferPool>,
        exclusive: usize,
        timeout: Duration,
    ) -> Result<Self, BufferPoolError> {
        Self::in_gate(id, network, floating, exclusive, timeout, None)
    }

    fn in_gate(
        id: u32,
        network: &NetworkBufferPool,
        floating: Arc<LocalBufferPool>,
        exclusive: usize,
        timeout: Duration,
        meter: Option<Arc<GateMeter>>,
    ) -> Result<Self, BufferPoolError> {
        let node = floating.node();
        let pool = network.request_exclusive_on(node, exclusive, Some(timeout), None)?;
        let inner = ChannelInner {
            id,
            exclusive_count: exclusive,
            exclusive: pool,
            floating,
            meter,
            state: Mutex::new(RxState::default()),
        };
        let channel = Self { inner: Arc::new(inner) };
        {
            let mut st = lock(&channel.inner.state);
            channel.top_up(&mut st)?;
        }
        Ok(channel)
    }

    /// The channel's id.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// assert_eq!(gate.channel(0).id(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// Takes buffers that came back or can be borrowed into the reserve, each one credit.
    fn top_up(&self, st: &mut RxState) -> Result<(), BufferPoolError> {
        while let Some(buffer) = self.inner.exclusive.request_buffer()? {
            st.reserved.push_back(buffer);
            st.unannounced += 1;
        }
        while st.reserved.len() < st.backlog + self.inner.exclusive_count {
            match self.inner.floating.request_buffer()? {
                Some(buffer) => {
                    st.reserved.push_back(buffer);
                    st.unannounced += 1;
                }
                None => break,
            }
        }
        debug_assert!(st.is_valid());
        Ok(())
    }

    /// Credit to announce now, if any (it counts as announced from here on).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// assert_eq!(gate.channel(0).take_credit().map(|c| c.credit), Some(2));
    /// assert_eq!(gate.channel(0).take_credit(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn take_credit(&self) -> Option<AddCredit> {
        self.tick();
        let mut st = lock(&self.inner.state);
        let _ = self.top_up(&mut st);
        self.announce(&mut st)
    }

    /// Lets the gate's meter sample if a period has passed (before the state lock is taken:
    /// the meter never waits for a channel's lock while holding its own).
    fn tick(&self) {
        if let Some(meter) = &self.inner.meter {
            let _ = meter.tick();
        }
    }

    fn announce(&self, st: &mut RxState) -> Option<AddCredit> {
        if st.unannounced == 0 {
            return None;
        }
        let credit = u32::try_from(st.unannounced).unwrap_or(u32::MAX);
        st.unannounced -= credit as usize;
        st.announced += u64::from(credit);
        st.max_outstanding = st.max_outstanding.max(st.announced - st.received);
        debug_assert!(st.is_valid());
        let buffer_size = self.inner.meter.as_ref().map(|m| u32::try_from(m.size()).unwrap_or(u32::MAX));
        Some(AddCredit { channel: self.inner.id, credit, buffer_size })
    }

    /// Polls for credit to announce: ready with the credit when buffers came back (the
    /// consumer recycled exclusive buffers, or floating ones could be borrowed for the
    /// backlog); otherwise registers with the pools' availability notifications.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Waker};
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(gate.channel(0).poll_credit(&mut cx).is_ready());
    /// assert!(gate.channel(0).poll_credit(&mut cx).is_pending());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CreditError::Pool`] when a pool was destroyed.
    pub fn poll_credit(&self, cx: &mut Context<'_>) -> Poll<Result<AddCredit, CreditError>> {
        self.tick();
        let mut st = lock(&self.inner.state);
        loop {
            self.top_up(&mut st)?;
            if let Some(credit) = self.announce(&mut st) {
                return Poll::Ready(Ok(credit));
            }
            // Nothing now: be woken when an exclusive buffer comes back, or a floating one
            // when the backlog wants more. A pool that turned available meanwhile: go again.
            let mut waiter = st.exclusive_waiter.take();
            let ready = self.inner.exclusive.poll_available(cx, &mut waiter).is_ready();
            st.exclusive_waiter = waiter;
            if ready {
                continue;
            }
            if st.reserved.len() < st.backlog + self.inner.exclusive_count {
                let mut waiter = st.floating_waiter.take();
                let ready = self.inner.floating.poll_available(cx, &mut waiter).is_ready();
                st.floating_waiter = waiter;
                if ready {
                    continue;
                }
            }
            return Poll::Pending;
        }
    }

    /// Waits for credit to announce (see [`InputChannel::poll_credit`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// assert_eq!(rt.block_on(gate.channel(0).credit())?.credit, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`InputChannel::poll_credit`].
    pub async fn credit(&self) -> Result<AddCredit, CreditError> {
        poll_fn(|cx| self.poll_credit(cx)).await
    }

    /// The buffer to receive the next incoming buffer into (one the sender had credit for).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config, CreditError};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let channel = gate.channel(0);
    /// // Nothing announced yet: a buffer now would be a protocol violation.
    /// assert!(matches!(channel.receive_buffer(), Err(CreditError::NoCredit { .. })));
    /// let _ = channel.take_credit();
    /// let _first = channel.receive_buffer()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CreditError::NoCredit`] when the sender sent beyond its credit.
    pub fn receive_buffer(&self) -> Result<Buffer, CreditError> {
        let mut st = lock(&self.inner.state);
        if st.received >= st.announced {
            return Err(CreditError::NoCredit {
                channel: self.inner.id,
                announced: st.announced,
                received: st.received + 1,
            });
        }
        let Some(buffer) = st.reserved.pop_front() else {
            unreachable!("every announced credit is backed by a reserved buffer");
        };
        st.received += 1;
        debug_assert!(st.is_valid());
        Ok(buffer)
    }

    /// Hands a filled buffer (from [`InputChannel::receive_buffer`]) to the consumer, with the
    /// sender's sequence number and backlog; borrows floating buffers for the backlog.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config, CreditError};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let channel = gate.channel(0);
    /// let _ = channel.take_credit();
    /// let b = channel.receive_buffer()?;
    /// assert!(matches!(channel.on_buffer(b, 5, 0), Err(CreditError::OutOfOrder { expected: 0, got: 5, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CreditError::OutOfOrder`]; [`CreditError::Pool`] when a pool was destroyed.
    pub fn on_buffer(&self, buffer: Buffer, sequence: u64, backlog: u32) -> Result<(), CreditError> {
        let mut st = lock(&self.inner.state);
        if sequence != st.next_sequence {
            return Err(CreditError::OutOfOrder { channel: self.inner.id, expected: st.next_sequence, got: sequence });
        }
        st.next_sequence += 1;
        st.queued_bytes += buffer.len() as u64;
        if let Some(meter) = &self.inner.meter {
            meter.on_received(buffer.len());
        }
        st.queue.push_back(buffer);
        st.max_queued = st.max_queued.max(st.queue.len());
        st.backlog = backlog as usize;
        let consumer = st.consumer.take();
        let result = self.top_up(&mut st);
        drop(st);
        if let Some(w) = consumer {
            w.wake();
        }
        Ok(result?)
    }

    /// The sender has no more buffers: the consumer sees the end after the last one.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// gate.channel(0).on_end();
    /// assert!(gate.channel(0).next_blocking().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_end(&self) {
        let mut st = lock(&self.inner.state);
        st.ended = true;
        let consumer = st.consumer.take();
        drop(st);
        if let Some(w) = consumer {
            w.wake();
        }
    }

    /// The next received buffer if there is one now.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// assert!(gate.channel(0).try_next().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn try_next(&self) -> Option<Buffer> {
        let mut st = lock(&self.inner.state);
        let buffer = st.queue.pop_front()?;
        self.taken(&mut st, &buffer);
        Some(buffer)
    }

    /// Counts a buffer the consumer took.
    fn taken(&self, st: &mut RxState, buffer: &Buffer) {
        st.queued_bytes -= buffer.len() as u64;
        st.consumed_bytes += buffer.len() as u64;
        if let Some(meter) = &self.inner.meter {
            meter.on_consumed(buffer.len());
        }
    }

    /// Polls for the next received buffer: `Ready(None)` after the end.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(gate.channel(0).poll_next(&mut cx).is_pending());
    /// gate.channel(0).on_end();
    /// assert!(matches!(gate.channel(0).poll_next(&mut cx), Poll::Ready(None)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Buffer>> {
        let mut st = lock(&self.inner.state);
        if let Some(b) = st.queue.pop_front() {
            self.taken(&mut st, &b);
            return Poll::Ready(Some(b));
        }
        if st.ended {
            return Poll::Ready(None);
        }
        st.consumer = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits for the next received buffer; `None` after the end.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// gate.channel(0).on_end();
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// assert!(rt.block_on(gate.channel(0).next()).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn next(&self) -> Option<Buffer> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// [`InputChannel::next`], parking the calling thread.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// gate.channel(0).on_end();
    /// assert!(gate.channel(0).next_blocking().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn next_blocking(&self) -> Option<Buffer> {
        availability::block_on(self.next(), None, None).unwrap_or(None)
    }

    /// The channel's credit accounting.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let stats = gate.channel(0).stats();
    /// assert_eq!((stats.reserved, stats.unannounced, stats.announced), (2, 2, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> ChannelStats {
        let st = lock(&self.inner.state);
        ChannelStats {
            announced: st.announced,
            received: st.received,
            unannounced: st.unannounced,
            reserved: st.reserved.len(),
            backlog: st.backlog,
            queued: st.queue.len(),
            max_outstanding: st.max_outstanding,
            max_queued: st.max_queued,
            queued_bytes: st.queued_bytes,
            consumed_bytes: st.consumed_bytes,
        }
    }

    /// The channel's exclusive buffers.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InputGate}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// assert_eq!(gate.channel(0).exclusive_pool().owned_buffers(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn exclusive_pool(&self) -> &LocalBufferPool {
        &self.inner.exclusive
    }
}

impl Drop for ChannelInner {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        // The reserve and the queue go back to their pools; then `exclusive` is destroyed.
        st.reserved.clear();
        st.queue.clear();
        let (mut e, mut f) = (st.exclusive_waiter.take(), st.floating_waiter.take());
        drop(st);
        self.exclusive.forget_waiter(&mut e);
        self.floating.forget_waiter(&mut f);
    }
}

// === sender ===

/// The sending end of one channel: the producer queues buffers, the network side sends them
/// as credit allows. Clones share it.
///
/// ```
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Waker};
/// use bytes::BufMut;
/// use numaseg::buffer_pool::{NetworkBufferPool, credit::{AddCredit, Outgoing, Subpartition}};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let network = NetworkBufferPool::with_buffers(manager, 4, 4096)?;
/// let pool = network.create_buffer_pool(1, 4)?;
/// let sender = Subpartition::new(0);
/// let mut b = pool.request_buffer()?.unwrap();
/// b.put_slice(b"x");
/// sender.add(b);
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(sender.poll_next_send(&mut cx).is_pending()); // no credit yet
/// sender.on_credit(&AddCredit { channel: 0, credit: 1, buffer_size: None });
/// match sender.poll_next_send(&mut cx) {
///     Poll::Ready(Some(Outgoing::Buffer { sequence: 0, backlog: 0, .. })) => {}
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Subpartition {
    inner: Arc<SubInner>,
}

#[derive(Debug)]
struct SubInner {
    id: u32,
    state: Mutex<TxState>,
}

#[derive(Debug, Default)]
struct TxState {
    queue: VecDeque<Buffer>,
    credit: usize,
    sequence: u64,
    finished: bool,
    end_sent: bool,
    network: Option<Waker>,
    credits_received: u64,
    sent: u64,
    max_queued: usize,
    buffer_size: Option<u32>,
}

/// What the network side of a [`Subpartition`] sends next.
///
/// ```
/// # use std::task::{Context, Poll, Waker};
/// use numaseg::buffer_pool::credit::{Outgoing, Subpartition};
/// let s = Subpartition::new(0);
/// s.finish();
/// let next = s.poll_next_send(&mut Context::from_waker(Waker::noop()));
/// assert!(matches!(next, Poll::Ready(Some(Outgoing::End))));
/// ```
#[derive(Debug)]
pub enum Outgoing {
    /// A buffer, with its number and the backlog behind it.
    Buffer {
        /// The data.
        buffer: Buffer,
        /// Its number, from 0.
        sequence: u64,
        /// Buffers still queued.
        backlog: u32,
    },
    /// The end of the data.
    End,
}

/// A sender's accounting.
///
/// ```
/// use numaseg::buffer_pool::credit::{AddCredit, Subpartition};
/// let s = Subpartition::new(0);
/// s.on_credit(&AddCredit { channel: 0, credit: 2, buffer_size: None });
/// assert_eq!((s.stats().credit, s.stats().credits_received), (2, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderStats {
    /// Credit not yet used.
    pub credit: usize,
    /// Credits received since start.
    pub credits_received: u64,
    /// Buffers sent since start.
    pub sent: u64,
    /// Buffers queued (the backlog).
    pub queued: usize,
    /// The most buffers ever queued.
    pub max_queued: usize,
    /// The buffer size the receiver last asked for.
    pub buffer_size: Option<u32>,
}

impl Subpartition {
    /// An empty sender for channel `id`.
    ///
    /// ```
    /// let s = numaseg::buffer_pool::credit::Subpartition::new(3);
    /// assert_eq!(s.stats().credit, 0);
    /// ```
    #[must_use]
    pub fn new(id: u32) -> Self {
        Self { inner: Arc::new(SubInner { id, state: Mutex::new(TxState::default()) }) }
    }

    /// The channel's id.
    ///
    /// ```
    /// assert_eq!(numaseg::buffer_pool::credit::Subpartition::new(3).id(), 3);
    /// ```
    #[must_use]
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// Queues a filled buffer (producer side).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::Subpartition};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// # let pool = network.create_buffer_pool(1, 4)?;
    /// let s = Subpartition::new(0);
    /// s.add(pool.request_buffer()?.unwrap());
    /// assert_eq!(s.stats().queued, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add(&self, buffer: Buffer) {
        let mut st = lock(&self.inner.state);
        st.queue.push_back(buffer);
        st.max_queued = st.max_queued.max(st.queue.len());
        let w = st.network.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
    }

    /// No more buffers will be added; the end is sent after the queued ones.
    ///
    /// ```
    /// # use std::task::{Context, Poll, Waker};
    /// use numaseg::buffer_pool::credit::{Outgoing, Subpartition};
    /// let s = Subpartition::new(0);
    /// s.finish();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(matches!(s.poll_next_send(&mut cx), Poll::Ready(Some(Outgoing::End))));
    /// assert!(matches!(s.poll_next_send(&mut cx), Poll::Ready(None)));
    /// ```
    pub fn finish(&self) {
        let mut st = lock(&self.inner.state);
        st.finished = true;
        let w = st.network.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Credit arrived from the receiver.
    ///
    /// ```
    /// use numaseg::buffer_pool::credit::{AddCredit, Subpartition};
    /// let s = Subpartition::new(0);
    /// s.on_credit(&AddCredit { channel: 0, credit: 3, buffer_size: Some(512) });
    /// assert_eq!((s.stats().credit, s.stats().buffer_size), (3, Some(512)));
    /// ```
    pub fn on_credit(&self, credit: &AddCredit) {
        let mut st = lock(&self.inner.state);
        st.credit += credit.credit as usize;
        st.credits_received += u64::from(credit.credit);
        if credit.buffer_size.is_some() {
            st.buffer_size = credit.buffer_size;
        }
        let w = st.network.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
    }

    /// What to send next: a buffer when there is credit and a backlog, the end once finished
    /// and drained, `None` after the end; else pending until credit or data arrive.
    ///
    /// ```
    /// # use std::task::{Context, Waker};
    /// let s = numaseg::buffer_pool::credit::Subpartition::new(0);
    /// assert!(s.poll_next_send(&mut Context::from_waker(Waker::noop())).is_pending());
    /// ```
    pub fn poll_next_send(&self, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        let mut st = lock(&self.inner.state);
        if st.end_sent {
            return Poll::Ready(None);
        }
        if st.credit > 0
            && let Some(buffer) = st.queue.pop_front()
        {
            st.credit -= 1;
            let sequence = st.sequence;
            st.sequence += 1;
            st.sent += 1;
            let backlog = u32::try_from(st.queue.len()).unwrap_or(u32::MAX);
            return Poll::Ready(Some(Outgoing::Buffer { buffer, sequence, backlog }));
        }
        if st.finished && st.queue.is_empty() {
            st.end_sent = true;
            return Poll::Ready(Some(Outgoing::End));
        }
        st.network = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits for what to send next (see [`Subpartition::poll_next_send`]).
    ///
    /// ```
    /// use numaseg::buffer_pool::credit::{Outgoing, Subpartition};
    /// let s = Subpartition::new(0);
    /// s.finish();
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// assert!(matches!(rt.block_on(s.next_send()), Some(Outgoing::End)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn next_send(&self) -> Option<Outgoing> {
        poll_fn(|cx| self.poll_next_send(cx)).await
    }

    /// The sender's accounting.
    ///
    /// ```
    /// assert_eq!(numaseg::buffer_pool::credit::Subpartition::new(0).stats().sent, 0);
    /// ```
    #[must_use]
    pub fn stats(&self) -> SenderStats {
        let st = lock(&self.inner.state);
        SenderStats {
            credit: st.credit,
            credits_received: st.credits_received,
            sent: st.sent,
            queued: st.queue.len(),
            max_queued: st.max_queued,
            buffer_size: st.buffer_size,
        }
    }

    /// The bytes the receiver last asked for per buffer (`None`: whole buffers).
    ///
    /// ```
    /// use numaseg::buffer_pool::credit::{AddCredit, Subpartition};
    /// let s = Subpartition::new(0);
    /// assert_eq!(s.buffer_size(), None);
    /// s.on_credit(&AddCredit { channel: 0, credit: 1, buffer_size: Some(300) });
    /// assert_eq!(s.buffer_size(), Some(300));
    /// ```
    #[must_use]
    pub fn buffer_size(&self) -> Option<u32> {
        lock(&self.inner.state).buffer_size
    }
}

/// The producer's side of a [`Subpartition`]: cuts the bytes it is given into buffers of the
/// size the receiver announced ([`Subpartition::buffer_size`]; whole buffers until one was
/// announced) and queues each buffer as it fills. A record may span buffers: the receiver sees
/// one byte stream. Buffers come from `pool`; when it is empty the writer waits
/// (backpressure). Dropping the writer queues the partly filled buffer, as
/// [`RecordWriter::flush`] does.
///
/// ```
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Waker};
/// use numaseg::buffer_pool::{NetworkBufferPool, credit::{AddCredit, Outgoing, RecordWriter, Subpartition}};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let network = NetworkBufferPool::with_buffers(manager, 8, 4096)?;
/// let sender = Subpartition::new(0);
/// sender.on_credit(&AddCredit { channel: 0, credit: 8, buffer_size: Some(1000) });
/// let mut writer = RecordWriter::new(sender.clone(), Arc::new(network.create_buffer_pool(4, 4)?));
/// writer.write(&[1; 2500])?; // two full buffers of 1000 bytes queued, 500 bytes pending
/// assert_eq!(sender.stats().queued, 2);
/// writer.flush(); // the rest goes too
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut sizes = Vec::new();
/// while let Poll::Ready(Some(Outgoing::Buffer { buffer, .. })) = sender.poll_next_send(&mut cx) {
///     sizes.push(buffer.len());
/// }
/// assert_eq!(sizes, [1000, 1000, 500]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RecordWriter {
    sender: Subpartition,
    pool: Arc<LocalBufferPool>,
    current: Option<Buffer>,
    timeout: Option<Duration>,
}

impl RecordWriter {
    /// A writer for `sender` taking its buffers from `pool`; blocking writes wait for buffers
    /// without a time limit (see [`RecordWriter::with_timeout`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{RecordWriter, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// let writer = RecordWriter::new(Subpartition::new(0), Arc::new(network.create_buffer_pool(1, 4)?));
    /// assert_eq!(writer.sender().id(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(sender: Subpartition, pool: Arc<LocalBufferPool>) -> Self {
        Self { sender, pool, current: None, timeout: None }
    }

    /// Blocking writes give up after waiting `timeout` for a buffer (`None`: no limit).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{RecordWriter, Subpartition}};
    /// # use numaseg::{ArenaManager, Config, BufferPoolError};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 1, 4096)?;
    /// let mut writer = RecordWriter::new(Subpartition::new(0), Arc::new(network.create_buffer_pool(1, 1)?))
    ///     .with_timeout(Some(Duration::from_millis(5)));
    /// // One buffer, never sent (no credit): the second buffer's worth waits, then times out.
    /// assert!(matches!(writer.write(&[0; 5000]), Err(BufferPoolError::Timeout { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The sender it writes for.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{RecordWriter, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// let writer = RecordWriter::new(Subpartition::new(3), Arc::new(network.create_buffer_pool(1, 4)?));
    /// assert_eq!(writer.sender().id(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn sender(&self) -> &Subpartition {
        &self.sender
    }

    /// Bytes a buffer of `capacity` may take now: the announced size, at most the capacity.
    fn limit(&self, capacity: usize) -> usize {
        self.sender.buffer_size().map_or(capacity, |s| (s as usize).clamp(1, capacity))
    }

    /// Copies what fits into the current buffer (cut to the size announced now) and queues
    /// the buffer once full; returns the rest.
    fn fill<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        let Some(capacity) = self.current.as_ref().map(Buffer::capacity) else { return data };
        let limit = self.limit(capacity);
        let Some(current) = self.current.as_mut() else { return data };
        current.set_write_limit(limit); // a size announced meanwhile applies at once
        let n = current.remaining_mut().min(data.len());
        current.put_slice(&data[..n]);
        if current.remaining_mut() == 0
            && let Some(full) = self.current.take()
        {
            self.sender.add(full);
        }
        &data[n..]
    }

    /// A fresh buffer becomes the current one, cut to the announced size.
    fn start(&mut self, mut buffer: Buffer) {
        buffer.set_write_limit(self.limit(buffer.capacity()));
        self.current = Some(buffer);
    }

    /// Writes `data`, waiting for buffers when the pool is empty.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{RecordWriter, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// let sender = Subpartition::new(0);
    /// let mut writer = RecordWriter::new(sender.clone(), Arc::new(network.create_buffer_pool(1, 4)?));
    /// writer.write(&[0; 5000])?; // one whole buffer of 4096 queued
    /// assert_eq!(sender.stats().queued, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`LocalBufferPool::request_buffer_blocking`]; what was written before stays queued.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), BufferPoolError> {
        loop {
            data = self.fill(data);
            if data.is_empty() {
                return Ok(());
            }
            let buffer = self.pool.request_buffer_blocking(self.timeout, None)?;
            self.start(buffer);
        }
    }

    /// Writes what it can without waiting: fills buffers while the pool has some, and returns
    /// how many bytes of `data` it took (fewer than all when the pool ran dry: backpressure).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{RecordWriter, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 2, 4096)?;
    /// let mut writer = RecordWriter::new(Subpartition::new(0), Arc::new(network.create_buffer_pool(2, 2)?));
    /// assert_eq!(writer.try_write(&[0; 10_000])?, 8192); // two buffers, then nothing
    /// assert_eq!(writer.try_write(&[0; 10])?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BufferPoolError::Destroyed`] when the pool was destroyed.
    pub fn try_write(&mut self, mut data: &[u8]) -> Result<usize, BufferPoolError> {
        let total = data.len();
        loop {
            data = self.fill(data);
            if data.is_empty() {
                break;
            }
            match self.pool.request_buffer()? {
                Some(buffer) => self.start(buffer),
                None => break,
            }
        }
        Ok(total - data.len())
    }

    /// [`RecordWriter::write`] as a future for any executor.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{RecordWriter, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// let sender = Subpartition::new(0);
    /// let mut writer = RecordWriter::new(sender.clone(), Arc::new(network.create_buffer_pool(1, 4)?));
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(writer.write_async(b"hello"))?;
    /// writer.flush();
    /// assert_eq!(sender.stats().queued, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`LocalBufferPool::request_buffer_async`].
    pub async fn write_async(&mut self, mut data: &[u8]) -> Result<(), BufferPoolError> {
        loop {
            data = self.fill(data);
            if data.is_empty() {
                return Ok(());
            }
            let buffer = self.pool.request_buffer_async().await?;
            self.start(buffer);
        }
    }

    /// Queues the partly filled buffer, if any (an urgent message goes out now instead of
    /// waiting for its buffer to fill).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{RecordWriter, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// let sender = Subpartition::new(0);
    /// let mut writer = RecordWriter::new(sender.clone(), Arc::new(network.create_buffer_pool(1, 4)?));
    /// writer.write(b"urgent")?;
    /// assert_eq!(sender.stats().queued, 0);
    /// writer.flush();
    /// assert_eq!(sender.stats().queued, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&mut self) {
        if let Some(buffer) = self.current.take()
            && !buffer.is_empty()
        {
            self.sender.add(buffer);
        }
    }

    /// Flushes and tells the receiver that nothing more comes ([`Subpartition::finish`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{RecordWriter, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 4, 4096)?;
    /// let sender = Subpartition::new(0);
    /// let mut writer = RecordWriter::new(sender.clone(), Arc::new(network.create_buffer_pool(1, 4)?));
    /// writer.write(b"last")?;
    /// writer.finish();
    /// assert_eq!(sender.stats().queued, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(mut self) {
        self.flush();
        self.sender.finish();
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

// === in-process transport ===

/// The in-process transport: moves credit from an [`InputChannel`] to a [`Subpartition`] and
/// buffers back, copying each payload into a buffer the receiver reserved (as a network would),
/// until the end is delivered.
///
/// ```
/// use std::sync::Arc;
/// use bytes::BufMut;
/// use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InProcessLink, InputGate, Subpartition}};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let network = NetworkBufferPool::with_buffers(manager, 16, 4096)?;
/// let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
/// let pool = network.create_buffer_pool(1, 4)?;
/// let sender = Subpartition::new(0);
/// for i in 0..3u8 {
///     let mut b = pool.request_buffer()?.unwrap();
///     b.put_u8(i);
///     sender.add(b);
/// }
/// sender.finish();
/// let link = InProcessLink::new(sender, gate.channel(0).clone());
/// let pump = std::thread::spawn(move || link.run_blocking());
/// let mut got = Vec::new();
/// while let Some(b) = gate.channel(0).next_blocking() {
///     got.push(b.as_slice()[0]);
/// }
/// pump.join().unwrap()?;
/// assert_eq!(got, [0, 1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct InProcessLink {
    sender: Subpartition,
    receiver: InputChannel,
    done: bool,
}

impl InProcessLink {
    /// Links a sender to a receiver.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InProcessLink, InputGate, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// # let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let link = InProcessLink::new(Subpartition::new(0), gate.channel(0).clone());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(sender: Subpartition, receiver: InputChannel) -> Self {
        Self { sender, receiver, done: false }
    }

    /// Moves whatever can move; `Ready(Ok(()))` once the end was delivered.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Waker};
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InProcessLink, InputGate, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// # let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let sender = Subpartition::new(0);
    /// sender.finish();
    /// let mut link = InProcessLink::new(sender, gate.channel(0).clone());
    /// assert!(link.poll_pump(&mut Context::from_waker(Waker::noop())).is_ready());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Protocol violations ([`CreditError`]) and pool failures.
    pub fn poll_pump(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), CreditError>> {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        loop {
            let mut progress = false;
            if let Poll::Ready(credit) = self.receiver.poll_credit(cx) {
                self.sender.on_credit(&credit?);
                progress = true;
            }
            match self.sender.poll_next_send(cx) {
                Poll::Ready(Some(Outgoing::Buffer { buffer, sequence, backlog })) => {
                    let mut target = self.receiver.receive_buffer()?;
                    if buffer.len() > target.remaining_mut() {
                        return Poll::Ready(Err(CreditError::TooLarge {
                            channel: self.receiver.id(),
                            len: buffer.len(),
                            capacity: target.remaining_mut(),
                        }));
                    }
                    target.put_slice(buffer.as_slice());
                    drop(buffer); // back to the sender's pool: the producer may go on
                    self.receiver.on_buffer(target, sequence, backlog)?;
                    progress = true;
                }
                Poll::Ready(Some(Outgoing::End) | None) => {
                    self.receiver.on_end();
                    self.done = true;
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending => {}
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Pumps until the end is delivered, parking the calling thread when nothing moves.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InProcessLink, InputGate, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// # let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let sender = Subpartition::new(0);
    /// sender.finish();
    /// InProcessLink::new(sender, gate.channel(0).clone()).run_blocking()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`InProcessLink::poll_pump`].
    pub fn run_blocking(mut self) -> Result<(), CreditError> {
        availability::block_on(poll_fn(|cx| self.poll_pump(cx)), None, None).unwrap_or(Ok(()))
    }

    /// Pumps until the end is delivered, as a future for any executor.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::buffer_pool::{NetworkBufferPool, credit::{FlowConfig, InProcessLink, InputGate, Subpartition}};
    /// # use numaseg::{ArenaManager, Config};
    /// # let network = NetworkBufferPool::with_buffers(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?), 8, 4096)?;
    /// # let gate = InputGate::new(&network, 1, &FlowConfig::from_config(&Config::default()))?;
    /// let sender = Subpartition::new(0);
    /// sender.finish();
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(InProcessLink::new(sender, gate.channel(0).clone()).run())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`InProcessLink::poll_pump`].
    pub async fn run(mut self) -> Result<(), CreditError> {
        poll_fn(|cx| self.poll_pump(cx)).await
    }
}
