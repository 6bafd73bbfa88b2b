//! Credit-based flow control over a real loopback TCP connection with tokio: two channels
//! multiplexed on one connection, a producer per channel drawing buffers from the sender's
//! local pool, one consumer slow enough to backpressure its producer. Checks: every record
//! arrives in order (no buffer lost), memory stays bounded by the pools (sender queue ≤ its
//! pool, receiver ≤ exclusive + floating), credit never goes negative, no deadlock, and every
//! buffer is back in the global pool at the end.
//!
//! The second test runs adaptive buffer sizing over the same transport: a consumer that slows
//! tenfold brings the gate's in-flight bytes down about tenfold, with the real clock.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, BufMut};
use numaseg::buffer_pool::NetworkBufferPool;
use numaseg::buffer_pool::credit::{FlowConfig, Frame, InputChannel, InputGate, Outgoing, RecordWriter, Subpartition};
use numaseg::buffer_pool::debloat::DebloatConfig;
use numaseg::{ArenaManager, Config, CreditError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CHANNELS: usize = 2;
const SENDER_BUFFERS: usize = 4;
const EXCLUSIVE: usize = 2;
const FLOATING: usize = 3;
const RECORD: usize = 200;

/// Sender network side: writes buffers as credit allows, until every channel sent its end.
async fn send_side(subs: Vec<Subpartition>, mut wr: impl AsyncWrite + Unpin) -> std::io::Result<()> {
    let mut ended = vec![false; subs.len()];
    while ended.iter().any(|e| !e) {
        let (i, out) = poll_fn(|cx| {
            for (i, s) in subs.iter().enumerate() {
                if !ended[i]
                    && let Poll::Ready(out) = s.poll_next_send(cx)
                {
                    return Poll::Ready((i, out));
                }
            }
            Poll::Pending
        })
        .await;
        let channel = subs[i].id();
        match out {
            Some(Outgoing::Buffer { buffer, sequence, backlog }) => {
                let len = u32::try_from(buffer.len()).unwrap();
                wr.write_all(&Frame::Buffer { channel, sequence, backlog, len }.encode()).await?;
                wr.write_all(buffer.as_slice()).await?;
                drop(buffer); // back to the sender's pool: its producer may go on
            }
            Some(Outgoing::End) => {
                wr.write_all(&Frame::End { channel }.encode()).await?;
                ended[i] = true;
            }
            None => ended[i] = true,
        }
    }
    wr.flush().await
}

/// Sender side reading credit frames.
async fn credit_reader(subs: Vec<Subpartition>, mut rd: impl AsyncRead + Unpin) -> Result<(), CreditError> {
    let mut header = [0u8; Frame::HEADER_LEN];
    loop {
        if rd.read_exact(&mut header).await.is_err() {
            return Ok(()); // the receiver closed: done
        }
        match Frame::decode(&header)? {
            Frame::Credit(credit) => subs[credit.channel as usize].on_credit(&credit),
            _ => return Err(CreditError::Malformed { reason: "the sender only expects credit" }),
        }
    }
}

/// Receiver network side: reads frames into reserved buffers until every channel ended.
async fn receive_side(channels: Vec<InputChannel>, mut rd: impl AsyncRead + Unpin) -> Result<(), CreditError> {
    let mut ended = 0;
    let mut header = [0u8; Frame::HEADER_LEN];
    while ended < channels.len() {
        rd.read_exact(&mut header).await.map_err(|_| CreditError::Malformed { reason: "connection closed early" })?;
        match Frame::decode(&header)? {
            Frame::Buffer { channel, sequence, backlog, len } => {
                let ch = &channels[channel as usize];
                let mut buffer = ch.receive_buffer()?; // fails if the sender had no credit
                let len = len as usize;
                if len > buffer.remaining_mut() {
                    return Err(CreditError::TooLarge { channel, len, capacity: buffer.remaining_mut() });
                }
                let mut limited = (&mut rd).take(len as u64);
                while buffer.len() < len {
                    if limited.read_buf(&mut buffer).await.unwrap_or(0) == 0 {
                        return Err(CreditError::Malformed { reason: "short payload" });
                    }
                }
                ch.on_buffer(buffer, sequence, backlog)?;
            }
            Frame::End { channel } => {
                channels[channel as usize].on_end();
                ended += 1;
            }
            Frame::Credit(_) => return Err(CreditError::Malformed { reason: "the receiver only expects data" }),
        }
    }
    Ok(())
}

/// Receiver side announcing credit as buffers come back, until told to stop.
async fn credit_writer(
    channels: Vec<InputChannel>,
    mut wr: impl AsyncWrite + Unpin,
    stop: Arc<tokio::sync::Notify>,
) -> Result<(), CreditError> {
    loop {
        let credit = tokio::select! {
            c = poll_fn(|cx| {
                for ch in &channels {
                    if let Poll::Ready(c) = ch.poll_credit(cx) {
                        return Poll::Ready(c);
                    }
                }
                Poll::Pending
            }) => c?,
            () = stop.notified() => return Ok(()),
        };
        if wr.write_all(&Frame::Credit(credit).encode()).await.is_err() {
            return Ok(()); // the sender is gone (it finished)
        }
    }
}

fn record_byte(channel: usize, i: u64) -> u8 {
    u8::try_from((i + channel as u64 * 7) % 251).unwrap()
}

#[test]
fn a_slow_receiver_backpressures_the_sender_over_loopback_tcp() {
    let records: u64 = if cfg!(debug_assertions) { 1_500 } else { 10_000 };
    let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 2).unwrap());
    let network = NetworkBufferPool::with_buffers(manager, 64, 4096).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (gate, sender_pool, subs) = rt.block_on(async {
        let flow = FlowConfig {
            exclusive_per_channel: EXCLUSIVE,
            floating_per_gate: FLOATING,
            request_timeout: Duration::from_secs(5),
        };
        let gate = InputGate::new(&network, CHANNELS, &flow).unwrap();
        let sender_pool = Arc::new(network.create_buffer_pool(SENDER_BUFFERS, SENDER_BUFFERS).unwrap());
        let subs: Vec<Subpartition> = (0..CHANNELS).map(|i| Subpartition::new(u32::try_from(i).unwrap())).collect();

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (sender_sock, receiver_sock) = (client.unwrap(), accepted.unwrap().0);
        let (sender_rd, sender_wr) = sender_sock.into_split();
        let (receiver_rd, receiver_wr) = receiver_sock.into_split();

        let stop = Arc::new(tokio::sync::Notify::new());
        let channels: Vec<InputChannel> = gate.channels().to_vec();
        let send = tokio::spawn(send_side(subs.clone(), sender_wr));
        let credits_in = tokio::spawn(credit_reader(subs.clone(), sender_rd));
        let receive = tokio::spawn(receive_side(channels.clone(), receiver_rd));
        let credits_out = tokio::spawn(credit_writer(channels.clone(), receiver_wr, Arc::clone(&stop)));

        // Producers: numbered records, each in a buffer from the sender's pool (waiting for one
        // when the pool is exhausted: backpressure).
        let producers: Vec<_> = subs
            .iter()
            .enumerate()
            .map(|(c, s)| {
                let (pool, s) = (Arc::clone(&sender_pool), s.clone());
                tokio::spawn(async move {
                    for i in 0..records {
                        let mut b = pool.request_buffer_async().await.unwrap();
                        b.put_u64(i);
                        b.put_bytes(record_byte(c, i), RECORD);
                        s.add(b);
                    }
                    s.finish();
                })
            })
            .collect();

        // Consumers: channel 0 is slow — it starts only once a producer had to wait for a
        // buffer, and yields after every record.
        let consumers: Vec<_> = channels
            .iter()
            .enumerate()
            .map(|(c, ch)| {
                let (ch, pool) = (ch.clone(), Arc::clone(&sender_pool));
                tokio::spawn(async move {
                    if c == 0 {
                        while pool.stats().unwrap().waits == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    let mut expected = 0u64;
                    while let Some(mut b) = ch.next().await {
                        assert_eq!(b.get_u64(), expected, "channel {c}: no buffer lost or reordered");
                        assert_eq!(b.remaining(), RECORD);
                        assert!(b.chunk().iter().all(|&x| x == record_byte(c, expected)));
                        expected += 1;
                        drop(b);
                        if c == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    expected
                })
            })
            .collect();

        let all = async {
            for p in producers {
                p.await.unwrap();
            }
            for c in consumers {
                assert_eq!(c.await.unwrap(), records);
            }
            receive.await.unwrap().unwrap();
            send.await.unwrap().unwrap();
            stop.notify_one();
            credits_out.await.unwrap().unwrap();
            credits_in.await.unwrap().unwrap();
        };
        tokio::time::timeout(Duration::from_secs(120), all).await.expect("no deadlock");
        (gate, sender_pool, subs)
    });

    // Bounded memory, credit never negative, every credit accounted for.
    let waits = sender_pool.stats().unwrap().waits;
    assert!(waits > 0, "the producers were backpressured");
    for (ch, s) in gate.channels().iter().zip(&subs) {
        let (cs, ss) = (ch.stats(), s.stats());
        assert_eq!((cs.received, ss.sent), (records, records));
        assert!(cs.received <= cs.announced, "{cs:?}");
        assert!(cs.max_outstanding <= (EXCLUSIVE + FLOATING) as u64, "{cs:?}");
        assert!(cs.max_queued <= EXCLUSIVE + FLOATING, "{cs:?}");
        assert!(ss.max_queued <= SENDER_BUFFERS, "{ss:?}");
        assert_eq!(ss.credits_received, cs.announced, "every announced credit arrived");
        assert_eq!(ss.credit as u64, cs.announced - cs.received, "credit in flight matches");
    }
    drop(rt);
    drop((gate, sender_pool, subs));
    let stats = network.stats();
    assert_eq!((stats.available, stats.in_use, stats.required), (stats.total, 0, 0), "{stats:#?}");
    assert_eq!(stats.requested, stats.recycled);
}

fn stream_byte(offset: u64) -> u8 {
    u8::try_from(offset % 251).unwrap()
}

/// Mean of the samples taken in `[from, to)` seconds after the start.
fn mean_between(samples: &[(f64, u64, usize)], from: f64, to: f64) -> (f64, f64) {
    let window: Vec<_> = samples.iter().filter(|s| (from..to).contains(&s.0)).collect();
    assert!(window.len() >= 10, "{} samples between {from} s and {to} s", window.len());
    let n = window.len() as f64;
    (window.iter().map(|s| s.1 as f64).sum::<f64>() / n, window.iter().map(|s| s.2 as f64).sum::<f64>() / n)
}

#[test]
fn a_consumer_slowed_tenfold_brings_in_flight_bytes_down_tenfold_over_loopback_tcp() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;
    // 1 MB/s, then 100 kB/s. With 8 buffers that can be outstanding and a 100 ms target, the
    // sizes to expect are 12.5 kB and 1.25 kB, both between the minimum and the segment.
    const FAST: f64 = 1_000_000.0;
    const SLOW: f64 = FAST / 10.0;
    const FAST_FOR: f64 = 1.5; // seconds: in-flight measured over the second half
    const SLOW_FOR: f64 = 3.0; // the old buffers drain, then in-flight is measured over 1 s
    let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1).unwrap());
    let network = NetworkBufferPool::with_buffers(manager, 64, 32 << 10).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (gate, sender_pool, sub, samples, produced, consumed) = rt.block_on(async {
        let flow =
            FlowConfig { exclusive_per_channel: 2, floating_per_gate: 6, request_timeout: Duration::from_secs(5) };
        let debloat = DebloatConfig {
            enabled: true,
            period: Duration::from_millis(50),
            target: Duration::from_millis(100),
            min_size: 256,
            threshold_percent: 25,
            samples: 10,
        };
        let gate = Arc::new(InputGate::with_debloat(&network, 1, &flow, &debloat).unwrap());
        let sender_pool = Arc::new(network.create_buffer_pool(4, 4).unwrap());
        let sub = Subpartition::new(0);

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (sender_rd, sender_wr) = client.unwrap().into_split();
        let (receiver_rd, receiver_wr) = accepted.unwrap().0.into_split();
        let stop_credit = Arc::new(tokio::sync::Notify::new());
        let channels: Vec<InputChannel> = gate.channels().to_vec();
        let send = tokio::spawn(send_side(vec![sub.clone()], sender_wr));
        let credits_in = tokio::spawn(credit_reader(vec![sub.clone()], sender_rd));
        let receive = tokio::spawn(receive_side(channels.clone(), receiver_rd));
        let credits_out = tokio::spawn(credit_writer(channels.clone(), receiver_wr, Arc::clone(&stop_credit)));

        // The producer is always ahead: it writes a numbered byte stream as fast as the sender's
        // pool lets it, cut by its writer into buffers of the announced size.
        let stop = Arc::new(AtomicBool::new(false));
        let producer = {
            let (pool, sub, stop) = (Arc::clone(&sender_pool), sub.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut writer = RecordWriter::new(sub, pool);
                let mut offset = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let chunk: Vec<u8> = (offset..offset + 1000).map(stream_byte).collect();
                    writer.write_async(&chunk).await.unwrap();
                    offset += 1000;
                }
                writer.finish();
                offset
            })
        };
        // The consumer takes FAST bytes per second, then SLOW, then drains what is left.
        let start = Instant::now();
        let consumer = {
            let (ch, stop) = (channels[0].clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut offset, mut phase_bytes, mut phase_start, mut rate) = (0u64, 0.0, start, FAST);
                while let Some(b) = ch.next().await {
                    for &x in b.as_slice() {
                        assert_eq!(x, stream_byte(offset), "byte {offset} lost or out of order");
                        offset += 1;
                    }
                    phase_bytes += b.len() as f64;
                    drop(b);
                    let now = Instant::now();
                    if rate == FAST && now - start >= Duration::from_secs_f64(FAST_FOR) {
                        (rate, phase_start, phase_bytes) = (SLOW, now, 0.0);
                    } else if rate == SLOW && now - phase_start >= Duration::from_secs_f64(SLOW_FOR) {
                        rate = f64::INFINITY;
                        stop.store(true, Ordering::Relaxed);
                    }
                    if rate.is_finite() {
                        tokio::time::sleep_until((phase_start + Duration::from_secs_f64(phase_bytes / rate)).into())
                            .await;
                    }
                }
                offset
            })
        };
        // A monitor samples the gate every 10 ms and checks that credit never goes negative.
        let monitor = {
            let (gate, sub, stop) = (Arc::clone(&gate), sub.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let (row, cs, ss) = (gate.stats(), gate.channel(0).stats(), sub.stats());
                    assert!(cs.received <= cs.announced, "credit never negative: {cs:?}");
                    assert!(ss.sent <= ss.credits_received, "the sender spends only credit it got: {ss:?}");
                    samples.push((start.elapsed().as_secs_f64(), row.in_flight_bytes, row.buffer_size));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                samples
            })
        };
        let all = async {
            let produced = producer.await.unwrap();
            let consumed = consumer.await.unwrap();
            let samples = monitor.await.unwrap();
            receive.await.unwrap().unwrap();
            send.await.unwrap().unwrap();
            stop_credit.notify_one();
            credits_out.await.unwrap().unwrap();
            credits_in.await.unwrap().unwrap();
            (samples, produced, consumed)
        };
        let (samples, produced, consumed) =
            tokio::time::timeout(Duration::from_secs(120), all).await.expect("no deadlock");
        (gate, sender_pool, sub, samples, produced, consumed)
    });

    assert_eq!(produced, consumed, "no byte lost");
    let (fast, fast_size) = mean_between(&samples, FAST_FOR / 2.0, FAST_FOR);
    let (slow, slow_size) = mean_between(&samples, FAST_FOR + SLOW_FOR - 1.0, FAST_FOR + SLOW_FOR);
    let ratio = fast / slow;
    eprintln!(
        "debloating over TCP: in flight {fast:.0} → {slow:.0} bytes ({ratio:.1}×), buffer size {fast_size:.0} → {slow_size:.0} bytes"
    );
    assert!((5.0..=20.0).contains(&ratio), "in flight {fast:.0} → {slow:.0} bytes: {ratio:.1}×, not about tenfold");
    let (cs, ss) = (gate.channel(0).stats(), sub.stats());
    assert_eq!(cs.received, ss.sent);
    assert_eq!(ss.credits_received, cs.announced, "every announced credit arrived");
    assert_eq!(ss.credit as u64, cs.announced - cs.received, "credit in flight matches");
    drop(rt);
    drop((gate, sender_pool, sub));
    let stats = network.stats();
    assert_eq!((stats.available, stats.in_use, stats.required), (stats.total, 0, 0), "{stats:#?}");
    assert_eq!(stats.requested, stats.recycled);
}
