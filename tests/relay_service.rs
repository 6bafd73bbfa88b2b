//! The relay example (`examples/relay.rs`) as a service under test, on 127.0.0.1: several
//! clients send length-prefixed records; the sink is first held shut, then opened. Checks:
//! - **backpressure, not memory**: with the sink shut, the buffers the relay holds never pass
//!   the sum of its connections' pool maximums, the records it accepted never pass what the
//!   sink wrote plus that bound plus what the sink's pipe holds, and no client gets its data
//!   out — they stall on TCP flow control (counts, not wall time);
//! - **every byte, in order**: once the sink opens, each client's records arrive complete and in
//!   order;
//! - **conservation**: at the end every network buffer is back in the global pool;
//! - **metrics**: `GET /metrics` answers with the relay's and the pool's counters.
//!
//! Every loop is bounded in count, every wait in time (a test that hangs fails instead).

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation, reason = "tests")]

#[allow(dead_code, reason = "the example's `main` and accessors the test does not use")]
#[path = "../examples/relay.rs"]
mod example;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use example::relay::{Record, Relay, RelayConfig};
use numaseg::buffer_pool::NetworkBufferPool;
use numaseg::{ArenaManager, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};

const CLIENTS: usize = 4;
const RECORDS: usize = 400;
const BUFFER: usize = 8 << 10;
const BUFFERS: usize = 64;
const POOL_MIN: usize = 2;
const POOL_MAX: usize = 4;
/// Longer than the pools' bound, so the pools empty before the queue fills: the relay's
/// backpressure is then the empty pool (with a shorter queue it is the full queue, as bounded).
const SINK_QUEUE: usize = 32;
/// The in-memory pipe between the sink and the collector.
const PIPE: usize = 16 << 10;
const MIN_RECORD: usize = 2 << 10;
/// Small socket buffers, so that a stalled relay stalls its clients after a few records.
const SOCKET_BUFFER: u32 = 8 << 10;

/// The `i`-th record of `client`: 2 to 8 KiB, starting with the client's number and `i` (so the
/// collector knows whose it is: connections are numbered in accept order), then a pattern
/// unique to (client, i).
fn record(client: usize, i: usize) -> Vec<u8> {
    let len = MIN_RECORD + (client * 7919 + i * 104_729) % (BUFFER - MIN_RECORD + 1);
    let mut r = Vec::with_capacity(len);
    r.extend((client as u32).to_le_bytes());
    r.extend((i as u32).to_le_bytes());
    r.extend((8..len).map(|k| (client * 31 + i * 7 + k) as u8));
    r
}

/// The client a record says it is from.
fn client_of(record: &[u8]) -> usize {
    u32::from_le_bytes(record[..4].try_into().unwrap()) as usize
}

/// A client: connects with a small send buffer and sends its records; counts what it got out.
async fn client(addr: std::net::SocketAddr, id: usize, sent: Arc<AtomicU64>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    for i in 0..RECORDS {
        let payload = record(id, i);
        stream.write_all(&(payload.len() as u32).to_le_bytes()).await.unwrap();
        stream.write_all(&payload).await.unwrap();
        sent.fetch_add(1, Ordering::Relaxed);
    }
    stream.shutdown().await.unwrap();
}

/// The far end of the sink: waits for `open`, then reads every record and checks it is the next
/// one of its client, byte for byte. Returns the records seen per connection.
async fn collector(mut pipe: tokio::io::DuplexStream, mut open: watch::Receiver<bool>) -> Vec<Vec<Vec<u8>>> {
    open.wait_for(|o| *o).await.unwrap();
    let mut seen: Vec<Vec<Vec<u8>>> = vec![Vec::new(); CLIENTS];
    for _ in 0..CLIENTS * RECORDS {
        let mut header = [0u8; 8];
        pipe.read_exact(&mut header).await.unwrap();
        let connection = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
        let len = u32::from_le_bytes(header[4..].try_into().unwrap()) as usize;
        let mut payload = vec![0; len];
        pipe.read_exact(&mut payload).await.unwrap();
        seen[connection].push(payload);
    }
    assert_eq!(pipe.read(&mut [0u8; 1]).await.unwrap(), 0, "nothing after the last record");
    seen
}

/// Polls `cond` every 5 ms, at most `tries` times.
async fn eventually(tries: usize, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..tries {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// The value of an unlabelled series in Prometheus text.
fn series(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_backpressures_delivers_in_order_conserves_and_reports() {
    tokio::time::timeout(Duration::from_secs(120), run()).await.expect("the relay test took over 2 minutes");
}

async fn run() {
    let manager = Arc::new(ArenaManager::new(&Config::default()).unwrap());
    let network = NetworkBufferPool::with_buffers(manager, BUFFERS, BUFFER).unwrap();
    let relay = Relay::new(network, RelayConfig { pool_min: POOL_MIN, pool_max: POOL_MAX, sink_queue: SINK_QUEUE });
    let total = relay.network().total_buffers();

    // Records on a listener whose accepted sockets have small receive buffers; metrics beside.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(64).unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics_listener.local_addr().unwrap();
    let (stop, shutdown) = watch::channel(false);
    let (records_tx, records_rx) = mpsc::channel::<Record>(SINK_QUEUE);
    let (sink_end, collector_end) = tokio::io::duplex(PIPE);
    let (open_tx, open_rx) = watch::channel(false);
    let server = tokio::spawn(Arc::clone(&relay).serve(listener, records_tx, shutdown.clone()));
    let metrics = tokio::spawn(Arc::clone(&relay).serve_metrics(metrics_listener, shutdown));
    let sink = {
        let relay = Arc::clone(&relay);
        tokio::spawn(async move { relay.sink(records_rx, sink_end).await })
    };
    let collected = tokio::spawn(collector(collector_end, open_rx));
    // Phase 1: the sink is shut. Clients push until the relay holds every buffer its pools may.
    let sent: Vec<Arc<AtomicU64>> = (0..CLIENTS).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let clients: Vec<_> =
        sent.iter().enumerate().map(|(id, s)| tokio::spawn(client(addr, id, Arc::clone(s)))).collect();
    let bound = CLIENTS * POOL_MAX;
    let full = eventually(2000, || {
        let st = relay.network().stats();
        st.pools.len() == CLIENTS && st.in_use == bound
    })
    .await;
    assert!(full, "every connection's pool should fill up: {:?}", relay.network().stats());
    // Held shut, the relay stays at its bound however long the clients push (sampled 100 times).
    let in_pipe = PIPE / MIN_RECORD + 1;
    for _ in 0..100 {
        let st = relay.network().stats();
        assert!(st.in_use <= bound, "buffers in use {} above the pools' bound {bound}", st.in_use);
        let accepted = relay.counters().records.load(Ordering::Relaxed) as usize;
        assert!(accepted <= bound + in_pipe, "accepted {accepted} records with the sink shut");
        assert_eq!(st.available + st.pools.iter().map(|p| p.owned).sum::<usize>(), total, "conservation");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(relay.counters().pool_waits.load(Ordering::Relaxed) >= CLIENTS as u64, "every connection waited");
    for (id, s) in sent.iter().enumerate() {
        let out = s.load(Ordering::Relaxed) as usize;
        assert!(out < RECORDS, "client {id} sent all {RECORDS} records into a stalled relay");
    }
    let during = scrape(metrics_addr).await;
    assert!(during.starts_with("HTTP/1.1 200"), "{during}");
    assert_eq!(series(&during, "numaseg_network_buffers_in_use"), Some(bound as u64), "{during}");

    // Phase 2: the sink opens; everything flows, in order, and every buffer comes back.
    open_tx.send(true).unwrap();
    for c in clients {
        c.await.unwrap();
    }
    // The clients closed their connections: the connection tasks ended and dropped their pools.
    let closed = eventually(2000, || relay.counters().open.load(Ordering::Relaxed) == 0).await;
    assert!(closed, "connections still open");
    let text = scrape(metrics_addr).await;
    let expected = (CLIENTS * RECORDS) as u64;
    assert_eq!(series(&text, "relay_records_total"), Some(expected), "{text}");
    assert_eq!(series(&text, "relay_records_written_total"), Some(expected), "{text}");
    assert_eq!(series(&text, "relay_connections_total"), Some(CLIENTS as u64), "{text}");
    assert!(series(&text, "relay_pool_waits_total").unwrap() >= CLIENTS as u64, "{text}");
    assert!(text.contains("numaseg_network_buffers_total"), "{text}");
    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
    metrics.await.unwrap().unwrap();
    // The sink ended with the relay, closing the pipe: the collector has seen everything.
    let seen = collected.await.unwrap();
    let mut clients_seen: Vec<usize> = seen.iter().map(|records| client_of(&records[0])).collect();
    for (connection, records) in seen.iter().enumerate() {
        let id = client_of(&records[0]);
        assert_eq!(records.len(), RECORDS, "connection {connection} (client {id})");
        for (i, r) in records.iter().enumerate() {
            assert!(*r == record(id, i), "client {id}, record {i}: wrong bytes or order");
        }
    }
    clients_seen.sort_unstable();
    assert_eq!(clients_seen, (0..CLIENTS).collect::<Vec<_>>(), "one connection per client");
    let st = relay.network().stats();
    assert_eq!((st.in_use, st.available), (0, total), "every buffer back in the global pool: {st:?}");
}
