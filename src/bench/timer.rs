//! A cycle-counter timer for per-allocation latency: `rdtscp` around the timed call, converted
//! to nanoseconds with a frequency calibrated against the monotonic clock, minus the measured
//! cost of the timer itself (the median of back-to-back reads), which the report states.

use std::time::{Duration, Instant};

/// Reads the time-stamp counter, waiting for earlier instructions to retire.
///
/// ```
/// use numaseg::bench::{Calibration, ticks};
/// let cal = Calibration::measure();
/// let t0 = ticks();
/// std::thread::sleep(std::time::Duration::from_millis(2));
/// assert!(cal.ns(ticks() - t0) >= 1e6, "2 ms of sleep is at least 1 ms of ticks");
/// ```
#[inline(always)]
#[must_use]
pub fn ticks() -> u64 {
    let mut aux = 0u32;
    // SAFETY: rdtscp is available on every x86-64 CPU numaseg supports; it only reads a counter.
    unsafe { core::arch::x86_64::__rdtscp(&raw mut aux) }
}

/// Ticks per nanosecond and the timer's own cost.
///
/// ```
/// use numaseg::bench::Calibration;
/// let cal = Calibration { ticks_per_ns: 2.0, overhead_ticks: 20 };
/// assert_eq!(cal.overhead_ns(), 10.0);
/// assert_eq!(cal.ns(220), 100.0); // (220 - 20) ticks at 2 per ns
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Time-stamp counter ticks per nanosecond.
    pub ticks_per_ns: f64,
    /// Median ticks between two back-to-back reads: subtracted from every sample.
    pub overhead_ticks: u64,
}

impl Calibration {
    /// Measures both (about 50 ms).
    ///
    /// ```
    /// use numaseg::bench::Calibration;
    /// let cal = Calibration::measure();
    /// assert!(cal.ticks_per_ns > 0.0);
    /// assert!(cal.overhead_ns() >= 0.0);
    /// ```
    #[must_use]
    pub fn measure() -> Self {
        let start = Instant::now();
        let t0 = ticks();
        while start.elapsed() < Duration::from_millis(50) {
            std::hint::spin_loop();
        }
        let t1 = ticks();
        let ns = start.elapsed().as_nanos() as f64;
        let mut gaps: Vec<u64> = (0..10_001)
            .map(|_| {
                let a = ticks();
                let b = ticks();
                b - a
            })
            .collect();
        gaps.sort_unstable();
        Self { ticks_per_ns: (t1 - t0) as f64 / ns, overhead_ticks: gaps[gaps.len() / 2] }
    }

    /// The timer's own cost in nanoseconds.
    ///
    /// ```
    /// use numaseg::bench::Calibration;
    /// let cal = Calibration { ticks_per_ns: 3.0, overhead_ticks: 30 };
    /// assert_eq!(cal.overhead_ns(), 10.0);
    /// ```
    #[must_use]
    pub fn overhead_ns(&self) -> f64 {
        self.overhead_ticks as f64 / self.ticks_per_ns
    }

    /// A sample of `ticks` (a difference of two reads) in nanoseconds, timer cost removed.
    ///
    /// ```
    /// use numaseg::bench::Calibration;
    /// let cal = Calibration { ticks_per_ns: 2.0, overhead_ticks: 20 };
    /// assert_eq!(cal.ns(120), 50.0);
    /// assert_eq!(cal.ns(10), 0.0); // shorter than the timer itself: nothing left
    /// ```
    #[must_use]
    pub fn ns(&self, ticks: u64) -> f64 {
        ticks.saturating_sub(self.overhead_ticks) as f64 / self.ticks_per_ns
    }
}
