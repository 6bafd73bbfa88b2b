//! Credit-based flow control over a real loopback TCP connection with tokio: two channels
//! multiplexed on one connection, a producer per channel drawing buffers from the sender's
//! local pool, one consumer slow enough to backpressure its producer. Checks: every record
//! arrives in order (no buffer lost), memory stays bounded by the pools (sender queue ≤ its
//! pool, receiver ≤ exclusive + floating), credit never goes negative, no deadlock, and every
//! buffer is back in the global pool at the end.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, BufMut};
use numaseg::buffer_pool::NetworkBufferPool;
use numaseg::buffer_pool::credit::{FlowConfig, Frame, InputChannel, InputGate, Outgoing, Subpartition};
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
