//! The debloating row: how long a small urgent message takes to cross a backlogged channel,
//! with adaptive buffer sizing on and off.
//!
//! One channel over the in-process link (`InProcessLink` on its own thread): a producer thread
//! keeps the channel backlogged with filler bytes through a `RecordWriter` (so its buffers are
//! cut to the announced size), and a consumer thread takes the data at a fixed rate
//! ([`CONSUMER_RATE`]). After a warm-up (debloating settles, the first whole buffers drain), the
//! harness asks the producer for an urgent 16-byte message every few milliseconds; its latency is
//! the time from the producer writing it (and flushing its buffer) to the consumer seeing its
//! first byte — the time it waits behind the data in flight. Each message is one repetition:
//! the row reports the median with min–max over them. Off, everything the receiver holds and the
//! sender queues are whole 32 KiB buffers; on, with a 5 ms target, they hold about 5 ms of data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::BenchOptions;
use crate::ArenaManager;
use crate::buffer_pool::NetworkBufferPool;
use crate::buffer_pool::credit::{FlowConfig, InProcessLink, InputGate, RecordWriter, Subpartition};
use crate::buffer_pool::debloat::DebloatConfig;

/// Bytes per second the consumer takes.
pub const CONSUMER_RATE: f64 = 10e6;
/// The debloating target of the run with debloating on (a latency-critical setting).
pub const TARGET: Duration = Duration::from_millis(5);
const SEGMENT: usize = 32 << 10;
const URGENT: [u8; 16] = [0xFF; 16];
const FILLER: [u8; 4096] = [0; 4096];

/// One mode's result.
///
/// ```
/// use numaseg::bench::DebloatRow;
/// let row = DebloatRow {
///     debloating: true, target_ms: Some(5.0), consumer_mb_s: 10.0, buffer_size: 4096, in_flight_bytes: 50_000,
///     messages: 5, latency_ms: 4.0, latency_min_ms: 3.5, latency_max_ms: 6.0,
/// };
/// // As `compare.json` states it.
/// let json = serde_json::to_value(&row)?;
/// assert_eq!(json["target_ms"], 5.0);
/// assert_eq!(json["messages"], 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct DebloatRow {
    /// Debloating on or off.
    pub debloating: bool,
    /// The target with debloating on, ms (`None` when off).
    pub target_ms: Option<f64>,
    /// The consumer's rate, MB/s.
    pub consumer_mb_s: f64,
    /// Bytes per buffer the gate announced when the last message was sent.
    pub buffer_size: usize,
    /// The gate's in-flight bytes when the messages were sent (median).
    pub in_flight_bytes: u64,
    /// Urgent messages sent (the repetitions).
    pub messages: usize,
    /// Latency of an urgent message, ms: median.
    pub latency_ms: f64,
    /// Smallest latency, ms.
    pub latency_min_ms: f64,
    /// Largest latency, ms.
    pub latency_max_ms: f64,
}

/// Runs both modes (off first): `opts.quick` sends 5 messages each, the full run 25.
///
/// # Errors
/// If the pool cannot be set up, or a message does not arrive within 10 s.
pub fn run(manager: &Arc<ArenaManager>, opts: &BenchOptions) -> Result<Vec<DebloatRow>, Box<dyn std::error::Error>> {
    let messages = if opts.quick { 5 } else { 25 };
    [false, true].into_iter().map(|on| one(manager, on, messages)).collect()
}

fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn one(manager: &Arc<ArenaManager>, on: bool, messages: usize) -> Result<DebloatRow, Box<dyn std::error::Error>> {
    let network = NetworkBufferPool::with_buffers(Arc::clone(manager), 32, SEGMENT)?;
    let flow = FlowConfig { exclusive_per_channel: 2, floating_per_gate: 8, request_timeout: Duration::from_secs(5) };
    let debloat = DebloatConfig {
        enabled: on,
        period: Duration::from_millis(5),
        target: TARGET,
        min_size: 256,
        threshold_percent: 25,
        samples: 5,
    };
    let gate = InputGate::with_debloat(&network, 1, &flow, &debloat)?;
    let sender = Subpartition::new(0);
    let mut writer = RecordWriter::new(sender.clone(), Arc::new(network.create_buffer_pool(4, 4)?));
    let channel = gate.channel(0).clone();
    let link = InProcessLink::new(sender, channel.clone());

    let urgent = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let sent_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let (latency_tx, latency_rx) = mpsc::channel::<Duration>();

    let pump = thread::spawn(move || link.run_blocking());
    let producer = {
        let (urgent, stop, sent_at) = (Arc::clone(&urgent), Arc::clone(&stop), Arc::clone(&sent_at));
        thread::spawn(move || -> Result<(), crate::BufferPoolError> {
            while !stop.load(Ordering::Relaxed) {
                if urgent.swap(false, Ordering::Relaxed) {
                    *sent_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
                    writer.write(&URGENT)?;
                    writer.flush(); // urgent: do not wait for the buffer to fill
                } else {
                    writer.write(&FILLER)?;
                }
            }
            writer.finish();
            Ok(())
        })
    };
    let consumer = {
        let (stop, sent_at) = (Arc::clone(&stop), Arc::clone(&sent_at));
        thread::spawn(move || {
            let mut next = Instant::now();
            while let Some(buffer) = channel.next_blocking() {
                if buffer.as_slice().contains(&0xFF)
                    && let Some(t0) = sent_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
                {
                    let _ = latency_tx.send(t0.elapsed());
                }
                let len = buffer.len();
                drop(buffer);
                if stop.load(Ordering::Relaxed) {
                    continue; // drain at full speed
                }
                next += Duration::from_secs_f64(len as f64 / CONSUMER_RATE);
                let now = Instant::now();
                if next > now {
                    thread::sleep(next - now);
                } else if now - next > Duration::from_millis(20) {
                    next = now; // fell far behind (descheduled): do not burst to catch up
                }
            }
        })
    };

    // Warm-up: the first whole buffers drain and the size settles.
    thread::sleep(Duration::from_millis(300));
    let mut latencies = Vec::with_capacity(messages);
    let mut in_flight = Vec::with_capacity(messages);
    let mut result = Ok(());
    for _ in 0..messages {
        thread::sleep(Duration::from_millis(10));
        in_flight.push(gate.stats().in_flight_bytes);
        urgent.store(true, Ordering::Relaxed);
        match latency_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(l) => latencies.push(l.as_secs_f64() * 1e3),
            Err(e) => {
                result = Err(format!("an urgent message did not arrive: {e}"));
                break;
            }
        }
    }
    let buffer_size = gate.buffer_size();
    stop.store(true, Ordering::Relaxed);
    let joined = (producer.join(), pump.join(), consumer.join());
    result?;
    match joined {
        (Ok(Ok(())), Ok(Ok(())), Ok(())) => {}
        (Ok(Err(e)), _, _) => return Err(e.into()),
        (_, Ok(Err(e)), _) => return Err(e.into()),
        _ => return Err("a debloating benchmark thread panicked".into()),
    }
    latencies.sort_by(f64::total_cmp);
    in_flight.sort_unstable();
    Ok(DebloatRow {
        debloating: on,
        target_ms: on.then(|| TARGET.as_secs_f64() * 1e3),
        consumer_mb_s: CONSUMER_RATE / 1e6,
        buffer_size,
        in_flight_bytes: in_flight.get(in_flight.len() / 2).copied().unwrap_or(0),
        messages: latencies.len(),
        latency_ms: median(&latencies),
        latency_min_ms: latencies.first().copied().unwrap_or(f64::NAN),
        latency_max_ms: latencies.last().copied().unwrap_or(f64::NAN),
    })
}
