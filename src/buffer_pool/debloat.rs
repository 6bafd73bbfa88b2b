//! Adaptive buffer sizing for network buffers ("buffer debloating"): an input gate measures how
//! fast its consumer takes data and announces a buffer size to its senders, so that the data in
//! flight is bounded in *time* (a target, 1 s by default) instead of in bytes.
//!
//! **What this module owns.**
//! - [`Debloater`]: the rule, pure and deterministic — a function of the samples it is given,
//!   with no clock and no shared state. Every period it takes the bytes the consumer took, the
//!   time they took and the buffers that can be outstanding, and:
//!   1. measures the throughput `x = bytes / elapsed` and smooths it with an exponential moving
//!      average, `T ← T + w·(x − T)`, where `w = 1 − (1 − α)^(elapsed / period)` and
//!      `α = 2 / (samples + 1)` (so a sample that covers several periods weighs as that many);
//!      the first sample sets `T = x`. A period in which nothing was consumed *and* nothing
//!      waited for the consumer is idle and leaves `T` alone (no data is not a slow consumer);
//!   2. computes the size `s* = T × target / buffers`, clamped to `[min, max]` (`max` is the
//!      segment size, `min` the configured minimum, at most `max`);
//!   3. damps: applies `s*` only if `|s* − s| > threshold × s`, or if `s*` is a clamp bound
//!      (so the size can always reach `min` and `max` exactly).
//! - [`Clock`] / [`ManualClock`]: the time source the gate's meter reads — the monotonic system
//!   clock, or a clock that moves only when told (tests, simulations, benchmarks that replay).
//! - `GateMeter` (crate-internal): one gate's measurement, shared by the gate and its channels:
//!   byte counters (received, consumed), the current size, and the [`Debloater`] behind a lock.
//!
//! **What must hold.**
//! - The size is always within `[min, max]`; it starts at `max` (whole buffers).
//! - The meter samples at most once per period, and never while a channel's lock is held (it is
//!   ticked before the channel locks its state): the lock order is meter → the network pool's
//!   state lock (to read the floating pool's size), and no path takes them the other way round.
//! - The counters are statistics: a buffer counted late falls into the next period, nothing
//!   else depends on them. The size is one word read on every credit announcement; any value
//!   the meter stored is a valid size.

use std::fmt;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::LocalBufferPool;
use crate::config::Config;
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::sync::{Arc, Mutex, lock};

/// The debloating settings (from the `NUMASEG_NETWORK_DEBLOAT*` variables).
///
/// ```
/// use std::time::Duration;
/// use numaseg::{Config, buffer_pool::debloat::DebloatConfig};
/// let d = DebloatConfig::from_config(&Config::default());
/// assert!(!d.enabled);
/// assert_eq!((d.period, d.target), (Duration::from_millis(200), Duration::from_secs(1)));
/// assert_eq!((d.min_size, d.threshold_percent, d.samples), (256, 25, 20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebloatConfig {
    /// Whether gates adapt their buffer size (`NUMASEG_NETWORK_DEBLOAT`).
    pub enabled: bool,
    /// How often the throughput is measured (`NUMASEG_NETWORK_DEBLOAT_PERIOD`).
    pub period: Duration,
    /// The time the data in flight should cover (`NUMASEG_NETWORK_DEBLOAT_TARGET`).
    pub target: Duration,
    /// The smallest size, bytes (`NUMASEG_NETWORK_DEBLOAT_MIN_SIZE`).
    pub min_size: usize,
    /// Damping: the change, in percent of the current size, below which nothing changes
    /// (`NUMASEG_NETWORK_DEBLOAT_THRESHOLD`).
    pub threshold_percent: u32,
    /// The window of the throughput's moving average, in periods
    /// (`NUMASEG_NETWORK_DEBLOAT_SAMPLES`).
    pub samples: u32,
}

impl DebloatConfig {
    /// The settings of a configuration.
    ///
    /// ```
    /// use numaseg::{Config, buffer_pool::debloat::DebloatConfig};
    /// let config = Config::builder().network_debloat(true).build_from::<_, &str, &str>([])?;
    /// assert!(DebloatConfig::from_config(&config).enabled);
    /// # Ok::<(), numaseg::config::ConfigError>(())
    /// ```
    #[must_use]
    pub fn from_config(config: &Config) -> Self {
        Self {
            enabled: config.network_debloat,
            period: config.network_debloat_period.as_duration(),
            target: config.network_debloat_target.as_duration(),
            min_size: config.network_debloat_min_size.as_usize(),
            threshold_percent: config.network_debloat_threshold.0,
            samples: u32::try_from(config.network_debloat_samples).unwrap_or(u32::MAX),
        }
    }
}

impl Default for DebloatConfig {
    /// The defaults of the configuration table (debloating off).
    ///
    /// ```
    /// assert!(!numaseg::buffer_pool::debloat::DebloatConfig::default().enabled);
    /// ```
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

// === the rule ===

/// One period's measurement, as a [`Debloater`] takes it.
///
/// ```
/// use std::time::Duration;
/// use numaseg::buffer_pool::debloat::Sample;
/// let s = Sample { consumed_bytes: 1000, elapsed: Duration::from_millis(200), queued_bytes: 0, buffers: 10 };
/// assert_eq!(s.buffers, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Bytes the consumer took during the period.
    pub consumed_bytes: u64,
    /// How long the period lasted.
    pub elapsed: Duration,
    /// Bytes waiting for the consumer at the end of the period.
    pub queued_bytes: u64,
    /// Buffers that can be outstanding (the gate's exclusive buffers and its floating pool).
    pub buffers: usize,
}

/// The debloating rule (see the module docs): a throughput moving average, a size that makes the
/// data in flight cover the target, clamps and damping. Pure: it reads no clock.
///
/// ```
/// use std::time::Duration;
/// use numaseg::buffer_pool::debloat::{DebloatConfig, Debloater, Sample};
/// let config = DebloatConfig { enabled: true, ..DebloatConfig::default() }; // 1 s target, 200 ms periods
/// let mut d = Debloater::new(&config, 32 << 10);
/// assert_eq!(d.size(), 32 << 10);
/// // 10 buffers can be outstanding and the consumer takes 20 KB per period (100 KB/s): each
/// // buffer should hold 100 KB/s × 1 s / 10 = 10 KB.
/// let period = Sample { consumed_bytes: 20_000, elapsed: Duration::from_millis(200), queued_bytes: 0, buffers: 10 };
/// assert_eq!(d.sample(period), Some(10_000));
/// assert_eq!(d.throughput(), Some(100_000));
/// assert_eq!(d.sample(period), None); // nothing changed
/// ```
#[derive(Debug, Clone)]
pub struct Debloater {
    target_secs: f64,
    period: Duration,
    min: usize,
    max: usize,
    threshold_percent: u32,
    alpha: f64,
    throughput: Option<f64>,
    size: usize,
    changes: u64,
}

impl Debloater {
    /// A rule for buffers of `max_size` bytes (the segment size), starting at `max_size`.
    ///
    /// ```
    /// use numaseg::buffer_pool::debloat::{DebloatConfig, Debloater};
    /// let d = Debloater::new(&DebloatConfig { min_size: 1 << 20, ..DebloatConfig::default() }, 4096);
    /// assert_eq!((d.size(), d.min_size(), d.max_size()), (4096, 4096, 4096)); // min ≤ max
    /// ```
    #[must_use]
    pub fn new(config: &DebloatConfig, max_size: usize) -> Self {
        let max = max_size.max(1);
        Self {
            target_secs: config.target.as_secs_f64(),
            period: config.period.max(Duration::from_nanos(1)),
            min: config.min_size.clamp(1, max),
            max,
            threshold_percent: config.threshold_percent.min(100),
            alpha: 2.0 / (f64::from(config.samples.max(1)) + 1.0),
            throughput: None,
            size: max,
            changes: 0,
        }
    }

    /// Takes one period's measurement; returns the new size when it changed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use numaseg::buffer_pool::debloat::{DebloatConfig, Debloater, Sample};
    /// let mut d = Debloater::new(&DebloatConfig::default(), 32 << 10);
    /// let idle = Sample { consumed_bytes: 0, elapsed: Duration::from_millis(200), queued_bytes: 0, buffers: 10 };
    /// assert_eq!(d.sample(idle), None); // idle: no measurement
    /// assert_eq!(d.throughput(), None);
    /// let stalled = Sample { queued_bytes: 100_000, ..idle }; // data waits, nothing taken
    /// assert_eq!(d.sample(stalled), Some(256)); // straight to the minimum
    /// ```
    pub fn sample(&mut self, sample: Sample) -> Option<usize> {
        if sample.elapsed.is_zero() || (sample.consumed_bytes == 0 && sample.queued_bytes == 0) {
            return None;
        }
        #[expect(clippy::cast_precision_loss, reason = "byte counts far below 2^52")]
        let instant = sample.consumed_bytes as f64 / sample.elapsed.as_secs_f64();
        let smoothed = match self.throughput {
            None => instant,
            Some(t) => {
                let periods = sample.elapsed.as_secs_f64() / self.period.as_secs_f64();
                let keep = (1.0 - self.alpha).powf(periods);
                t * keep + instant * (1.0 - keep)
            }
        };
        self.throughput = Some(smoothed);
        let desired = self.desired_size(sample.buffers);
        if !self.applies(desired) {
            return None;
        }
        self.size = desired;
        self.changes += 1;
        Some(desired)
    }

    /// The size the smoothed throughput asks for with `buffers` outstanding, before damping
    /// (`max` until something was measured).
    ///
    /// ```
    /// use std::time::Duration;
    /// use numaseg::buffer_pool::debloat::{DebloatConfig, Debloater, Sample};
    /// let mut d = Debloater::new(&DebloatConfig { threshold_percent: 100, ..DebloatConfig::default() }, 32 << 10);
    /// let _ = d.sample(Sample { consumed_bytes: 20_000, elapsed: Duration::from_millis(200), queued_bytes: 0, buffers: 10 });
    /// assert_eq!(d.desired_size(10), 10_000);
    /// assert_eq!(d.desired_size(1), 32 << 10); // clamped to the segment size
    /// assert_eq!(d.desired_size(1000), 256); // and to the minimum
    /// ```
    #[must_use]
    pub fn desired_size(&self, buffers: usize) -> usize {
        let Some(t) = self.throughput else { return self.max };
        #[expect(clippy::cast_precision_loss, reason = "buffer counts far below 2^52")]
        let bytes = t * self.target_secs / buffers.max(1) as f64;
        if bytes.is_nan() || bytes >= self.max as f64 {
            return self.max;
        }
        // Rounded, so that a throughput that is exact in decimal gives the exact size.
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0 ≤ bytes < max, a usize")]
        let bytes = bytes.round() as usize;
        bytes.clamp(self.min, self.max)
    }

    /// Whether a computed size is applied: it differs by more than the threshold, or it is a
    /// clamp bound that the size is not at yet.
    fn applies(&self, desired: usize) -> bool {
        if desired == self.size {
            return false;
        }
        if desired == self.min || desired == self.max {
            return true;
        }
        let change = desired.abs_diff(self.size) as u128 * 100;
        change > u128::from(self.threshold_percent) * self.size as u128
    }

    /// The current size, bytes.
    ///
    /// ```
    /// use numaseg::buffer_pool::debloat::{DebloatConfig, Debloater};
    /// assert_eq!(Debloater::new(&DebloatConfig::default(), 4096).size(), 4096);
    /// ```
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The smoothed throughput, bytes per second (`None` until the first measurement).
    ///
    /// ```
    /// use numaseg::buffer_pool::debloat::{DebloatConfig, Debloater};
    /// assert_eq!(Debloater::new(&DebloatConfig::default(), 4096).throughput(), None);
    /// ```
    #[must_use]
    pub fn throughput(&self) -> Option<u64> {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a non-negative rate")]
        self.throughput.map(|t| t.round() as u64)
    }

    /// How many times the size changed.
    ///
    /// ```
    /// use numaseg::buffer_pool::debloat::{DebloatConfig, Debloater};
    /// assert_eq!(Debloater::new(&DebloatConfig::default(), 4096).changes(), 0);
    /// ```
    #[must_use]
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The smallest size (the configured minimum, at most the largest).
    ///
    /// ```
    /// use numaseg::buffer_pool::debloat::{DebloatConfig, Debloater};
    /// assert_eq!(Debloater::new(&DebloatConfig::default(), 4096).min_size(), 256);
    /// ```
    #[must_use]
    pub fn min_size(&self) -> usize {
        self.min
    }

    /// The largest size (the segment size).
    ///
    /// ```
    /// use numaseg::buffer_pool::debloat::{DebloatConfig, Debloater};
    /// assert_eq!(Debloater::new(&DebloatConfig::default(), 4096).max_size(), 4096);
    /// ```
    #[must_use]
    pub fn max_size(&self) -> usize {
        self.max
    }
}

// === clocks ===

/// The time source of a debloating gate: the monotonic system clock, or a [`ManualClock`].
///
/// ```
/// use std::time::Duration;
/// use numaseg::buffer_pool::debloat::{Clock, ManualClock};
/// let manual = ManualClock::new();
/// let clock = Clock::manual(&manual);
/// manual.advance(Duration::from_millis(5));
/// assert_eq!(clock.now(), Duration::from_millis(5));
/// assert!(Clock::system().now() < Duration::from_secs(1));
/// ```
#[derive(Debug, Clone)]
pub struct Clock(ClockKind);

#[derive(Debug, Clone)]
enum ClockKind {
    System(Instant),
    Manual(ManualClock),
}

impl Clock {
    /// The monotonic system clock, starting now.
    ///
    /// ```
    /// let clock = numaseg::buffer_pool::debloat::Clock::system();
    /// assert!(clock.now() <= clock.now());
    /// ```
    #[must_use]
    pub fn system() -> Self {
        Self(ClockKind::System(Instant::now()))
    }

    /// A clock that reads `clock` (clones of a [`ManualClock`] share its time).
    ///
    /// ```
    /// use numaseg::buffer_pool::debloat::{Clock, ManualClock};
    /// let manual = ManualClock::new();
    /// assert_eq!(Clock::manual(&manual).now(), manual.now());
    /// ```
    #[must_use]
    pub fn manual(clock: &ManualClock) -> Self {
        Self(ClockKind::Manual(clock.clone()))
    }

    /// The time since the clock's origin.
    ///
    /// ```
    /// use numaseg::buffer_pool::debloat::{Clock, ManualClock};
    /// assert_eq!(Clock::manual(&ManualClock::new()).now().as_nanos(), 0);
    /// ```
    #[must_use]
    pub fn now(&self) -> Duration {
        match &self.0 {
            ClockKind::System(origin) => origin.elapsed(),
            ClockKind::Manual(m) => m.now(),
        }
    }
}

/// A clock that moves only when told: deterministic tests and simulations of debloating.
/// Clones share the time.
///
/// ```
/// use std::time::Duration;
/// use numaseg::buffer_pool::debloat::ManualClock;
/// let clock = ManualClock::new();
/// let other = clock.clone();
/// clock.advance(Duration::from_millis(200));
/// assert_eq!(other.now(), Duration::from_millis(200));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock at zero.
    ///
    /// ```
    /// assert!(numaseg::buffer_pool::debloat::ManualClock::new().now().is_zero());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self { nanos: Arc::new(AtomicU64::new(0)) }
    }

    /// Moves the clock forward.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = numaseg::buffer_pool::debloat::ManualClock::new();
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(clock.now(), Duration::from_secs(1));
    /// ```
    pub fn advance(&self, by: Duration) {
        // Release: a thread that reads the new time (Acquire in `now`) also sees what this
        // thread did before moving the clock.
        self.nanos.fetch_add(nanos(by), Ordering::Release);
    }

    /// The time since the clock was made, as far as it was moved.
    ///
    /// ```
    /// assert_eq!(numaseg::buffer_pool::debloat::ManualClock::new().now().as_secs(), 0);
    /// ```
    #[must_use]
    pub fn now(&self) -> Duration {
        // Acquire: pairs with the Release in `advance`.
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

// === one gate's meter ===

/// One debloating gate's measurement, shared by the gate and its channels (see the module docs).
pub(crate) struct GateMeter {
    clock: Clock,
    period: Duration,
    /// The size announced with credit now.
    size: AtomicUsize,
    /// Bytes handed to the consumer's queues (written by the network side).
    received: CachePadded<AtomicU64>,
    /// Bytes the consumer took (written by the consumer).
    consumed: CachePadded<AtomicU64>,
    /// When the next sample is due, nanoseconds of the clock: a hint that spares the lock.
    next_due: AtomicU64,
    /// The gate's floating pool: its current size counts as buffers that can be outstanding.
    floating: Arc<LocalBufferPool>,
    /// The gate's exclusive buffers over all channels.
    exclusive: usize,
    state: Mutex<MeterState>,
}

struct MeterState {
    rule: Debloater,
    last_time: Duration,
    last_consumed: u64,
}

impl fmt::Debug for GateMeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateMeter").field("size", &self.size()).finish_non_exhaustive()
    }
}

impl GateMeter {
    pub(crate) fn new(
        config: &DebloatConfig,
        clock: Clock,
        max_size: usize,
        floating: Arc<LocalBufferPool>,
        exclusive: usize,
    ) -> Self {
        let rule = Debloater::new(config, max_size);
        let now = clock.now();
        let period = rule.period;
        Self {
            size: AtomicUsize::new(rule.size()),
            received: CachePadded::new(AtomicU64::new(0)),
            consumed: CachePadded::new(AtomicU64::new(0)),
            next_due: AtomicU64::new(nanos(now + period)),
            floating,
            exclusive,
            state: Mutex::new(MeterState { rule, last_time: now, last_consumed: 0 }),
            clock,
            period,
        }
    }

    /// The size to announce now.
    pub(crate) fn size(&self) -> usize {
        // Relaxed: any size the meter stored is valid; a late one is corrected by the next
        // announcement.
        self.size.load(Ordering::Relaxed)
    }

    /// Counts bytes handed to a consumer queue.
    pub(crate) fn on_received(&self, bytes: usize) {
        // Relaxed: a statistic (see the module docs).
        self.received.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts bytes the consumer took.
    pub(crate) fn on_consumed(&self, bytes: usize) {
        // Relaxed: a statistic (see the module docs).
        self.consumed.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Samples if a period has passed since the last sample; returns the new size when it
    /// changed. Must not be called with a channel's lock held.
    pub(crate) fn tick(&self) -> Option<usize> {
        let now = self.clock.now();
        // Relaxed: only a hint; the decision is taken again under the lock.
        if nanos(now) < self.next_due.load(Ordering::Relaxed) {
            return None;
        }
        let mut st = lock(&self.state);
        if now < st.last_time + self.period {
            return None; // another channel sampled meanwhile
        }
        // Relaxed, consumed first: statistics; `saturating_sub` absorbs a count read early.
        let consumed = self.consumed.load(Ordering::Relaxed);
        let received = self.received.load(Ordering::Relaxed);
        let sample = Sample {
            consumed_bytes: consumed - st.last_consumed,
            elapsed: now - st.last_time,
            queued_bytes: received.saturating_sub(consumed),
            buffers: self.exclusive + self.floating.num_buffers(),
        };
        st.last_time = now;
        st.last_consumed = consumed;
        self.next_due.store(nanos(now + self.period), Ordering::Relaxed);
        let changed = st.rule.sample(sample);
        if let Some(size) = changed {
            self.size.store(size, Ordering::Relaxed);
        }
        changed
    }

    /// The smoothed throughput (0 before the first measurement) and the number of changes.
    pub(crate) fn throughput_and_changes(&self) -> (u64, u64) {
        let st = lock(&self.state);
        (st.rule.throughput().unwrap_or(0), st.rule.changes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEGMENT: usize = 32 << 10;
    const PERIOD: Duration = Duration::from_millis(200);
    const BUFFERS: usize = 10;

    fn config() -> DebloatConfig {
        DebloatConfig {
            enabled: true,
            period: PERIOD,
            target: Duration::from_secs(1),
            min_size: 256,
            threshold_percent: 25,
            samples: 20,
        }
    }

    /// A period in which the consumer took `rate` bytes per second (with a backlog).
    fn at(rate: u64) -> Sample {
        Sample { consumed_bytes: rate / 5, elapsed: PERIOD, queued_bytes: 1, buffers: BUFFERS }
    }

    /// The exact size for a throughput: rate × 1 s / 10 buffers.
    fn ideal(rate: u64) -> usize {
        usize::try_from(rate / 10).unwrap().clamp(256, SEGMENT)
    }

    #[test]
    fn the_first_sample_sets_the_throughput_and_the_size() {
        let mut d = Debloater::new(&config(), SEGMENT);
        assert_eq!(d.sample(at(200_000)), Some(20_000));
        assert_eq!((d.throughput(), d.size(), d.changes()), (Some(200_000), 20_000, 1));
    }

    #[test]
    fn a_step_down_converges_within_the_threshold_in_bounded_periods() {
        // From 200 KB/s (20 KB buffers) to 20 KB/s: the moving average closes the gap by a
        // factor 1 − α = 19/21 per period, so it is within 25% of the new level once
        // 9 × (19/21)^k ≤ 0.25, after k = 36 periods. The damping moves the size in steps of
        // more than 25% (8 sizes from 20 KB down), so the last step, to 2099 bytes, comes at
        // period 52; from there it stays within the threshold of the exact 2 KB.
        let mut d = Debloater::new(&config(), SEGMENT);
        let _ = d.sample(at(200_000));
        let mut periods = 0;
        while d.size() as f64 > ideal(20_000) as f64 * 1.25 {
            let _ = d.sample(at(20_000));
            periods += 1;
            assert!(periods <= 60, "still {} after {periods} periods", d.size());
        }
        assert_eq!((periods, d.size(), d.changes()), (52, 2099, 8));
        // Then it stays: the average creeps closer, within the threshold.
        for _ in 0..200 {
            let _ = d.sample(at(20_000));
        }
        assert!(d.size().abs_diff(ideal(20_000)) * 4 <= ideal(20_000), "{}", d.size());
        assert_eq!(d.changes(), 8, "damped: no change once within the threshold");
    }

    #[test]
    fn a_step_up_grows_back_to_the_segment_size() {
        let mut d = Debloater::new(&config(), SEGMENT);
        let _ = d.sample(at(20_000));
        assert_eq!(d.size(), 2_000);
        let mut periods = 0;
        while d.size() < SEGMENT {
            let _ = d.sample(at(10_000_000));
            periods += 1;
            assert!(periods <= 10, "still {} after {periods} periods", d.size());
        }
        // 10 MB/s asks for 1 MB buffers: one sample lifts the average from 20 KB/s to
        // 970 KB/s, above the 328 KB/s that fills ten whole segments per second.
        assert_eq!(periods, 1);
        assert_eq!(d.desired_size(BUFFERS), SEGMENT);
    }

    #[test]
    fn noise_within_the_threshold_changes_nothing() {
        let mut d = Debloater::new(&config(), SEGMENT);
        assert_eq!(d.sample(at(100_000)), Some(10_000));
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..1000 {
            // ±20% around 100 KB/s, every period.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let rate = 80_000 + rng % 40_001;
            assert_eq!(d.sample(at(rate)), None, "a change at {rate} B/s: {}", d.size());
        }
        assert_eq!((d.size(), d.changes()), (10_000, 1));
    }

    #[test]
    fn a_change_just_beyond_the_threshold_is_applied_and_one_within_is_not() {
        let mut c = config();
        c.samples = 1; // no smoothing: the size follows each sample
        let mut d = Debloater::new(&c, SEGMENT);
        assert_eq!(d.sample(at(100_000)), Some(10_000));
        assert_eq!(d.sample(at(125_000)), None); // exactly 25%: not more than the threshold
        assert_eq!(d.sample(at(125_010)), Some(12_501));
        assert_eq!(d.sample(at(2_000)), Some(256)); // the minimum, whatever the step
        assert_eq!(d.sample(at(2_600)), None); // 260 vs 256: within
        assert_eq!(d.sample(at(1_000_000_000)), Some(SEGMENT));
    }

    #[test]
    fn idle_periods_do_not_count_but_a_stalled_consumer_does() {
        let mut d = Debloater::new(&config(), SEGMENT);
        let _ = d.sample(at(100_000));
        let idle = Sample { consumed_bytes: 0, queued_bytes: 0, ..at(0) };
        for _ in 0..100 {
            assert_eq!(d.sample(idle), None);
        }
        assert_eq!(d.throughput(), Some(100_000));
        let stalled = Sample { consumed_bytes: 0, queued_bytes: 50_000, ..at(0) };
        let mut periods = 0;
        while d.size() > 256 {
            let _ = d.sample(stalled);
            periods += 1;
        }
        assert!(periods < 60, "{periods}");
    }

    #[test]
    fn a_late_sample_weighs_as_the_periods_it_covers() {
        let (mut a, mut b) = (Debloater::new(&config(), SEGMENT), Debloater::new(&config(), SEGMENT));
        let _ = (a.sample(at(200_000)), b.sample(at(200_000)));
        for _ in 0..3 {
            let _ = a.sample(at(20_000));
        }
        let _ = b.sample(Sample { consumed_bytes: 3 * 4_000, elapsed: 3 * PERIOD, queued_bytes: 1, buffers: BUFFERS });
        let (ta, tb) = (a.throughput().unwrap(), b.throughput().unwrap());
        assert!(ta.abs_diff(tb) <= 1, "{ta} vs {tb}");
    }

    #[test]
    fn the_size_stays_within_its_bounds() {
        let mut d = Debloater::new(&DebloatConfig { threshold_percent: 0, samples: 1, ..config() }, SEGMENT);
        for rate in [0, 1, 255, 10_000, u64::MAX / 4, 3, 1 << 40] {
            let _ = d.sample(Sample { consumed_bytes: rate, elapsed: PERIOD, queued_bytes: 1, buffers: 0 });
            assert!((256..=SEGMENT).contains(&d.size()), "{rate}: {}", d.size());
        }
        assert_eq!(d.sample(Sample { elapsed: Duration::ZERO, ..at(1) }), None);
    }
}
