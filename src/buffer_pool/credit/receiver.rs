//! The receiving side: [`InputGate`] (a gate's floating pool shared by its channels, and its
//! optional debloating meter) and [`InputChannel`] (one channel's exclusive buffers, its credit
//! accounting and the queue the consumer reads).
//!
//! What must hold (`RxState::is_valid`, asserted after every change):
//! - `received ≤ announced`: a buffer beyond the announced credit is refused
//!   ([`CreditError::NoCredit`]), never accepted;
//! - `reserved = unannounced + (announced − received)`: every credit, announced or not, is
//!   backed by a buffer the channel holds, so an arriving buffer always has a place;
//! - a channel holds at most its exclusive buffers plus what the gate's floating pool lends,
//!   and gives every reserved and queued buffer back when it is dropped.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::{AddCredit, FlowConfig};
use crate::buffer_pool::availability;
use crate::buffer_pool::debloat::{Clock, DebloatConfig, GateMeter};
use crate::buffer_pool::stats::GateStats;
use crate::buffer_pool::{Buffer, LocalBufferPool, NetworkBufferPool};
use crate::error::{BufferPoolError, CreditError};
use crate::sync::{Arc, Mutex, lock};

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

    /// A gate that adapts its buffer size when `debloat.enabled` (see [`crate::buffer_pool::debloat`]),
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

    /// [`InputGate::with_debloat`] with a given clock (a [`ManualClock`](crate::buffer_pool::debloat::ManualClock)
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
