//! A TCP relay on tokio and numaseg's network buffers: what a service built on numaseg looks
//! like (`docs/SERVICE.md` walks through it).
//!
//! Clients send length-prefixed records (a 4-byte little-endian length, then that many bytes,
//! at most one buffer). For each connection the relay creates a local buffer pool on the node of
//! the worker thread that accepted it, reads every record straight into a network buffer from
//! that pool, and hands the buffer — as `bytes::Bytes`, no copy — to the sink task over a
//! bounded channel. The sink writes each record (connection id, length, payload) to its writer
//! with `write_all_buf`, again without copying the payload. Nothing queues without bound: a
//! connection holds at most its pool's buffers, the channel holds at most `sink_queue` records
//! (whose buffers are counted in their pools), and when a pool is empty the connection stops
//! reading its socket until a buffer comes back — TCP flow control then stalls the client.
//! `GET /metrics` serves the relay's counters and the buffer pool's in Prometheus text (axum).
//!
//! ```text
//! NUMASEG_NETWORK_BUFFERS=1024 cargo run --release --example relay -- [LISTEN] [METRICS] [DOWNSTREAM]
//!   LISTEN      where clients connect      (default 127.0.0.1:7070)
//!   METRICS     where /metrics is served   (default 127.0.0.1:9090)
//!   DOWNSTREAM  where the sink writes to   (default: nowhere, records are counted and dropped)
//! ```
//!
//! The server logic is in `pub mod relay` so that `tests/relay_service.rs` drives it in-process
//! (on 127.0.0.1, with a sink it can slow down) through `#[path]`.

use std::net::SocketAddr;
use std::sync::Arc;

use numaseg::ArenaManager;
use numaseg::buffer_pool::NetworkBufferPool;
use tokio::net::TcpListener;

pub mod relay {
    //! The relay's server side: accept loop, per-connection reader, sink, metrics.

    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::{BufMut, Bytes};
    use numaseg::buffer_pool::{LocalBufferPool, NetworkBufferPool};
    use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::{mpsc, watch};
    use tokio::task::JoinSet;

    /// Sizes of the relay's bounded queues.
    #[derive(Debug, Clone, Copy)]
    pub struct RelayConfig {
        /// Buffers guaranteed to each connection's local pool.
        pub pool_min: usize,
        /// Most buffers one connection holds (read and not yet written by the sink).
        pub pool_max: usize,
        /// Records waiting for the sink, at most (their buffers count in their pools).
        pub sink_queue: usize,
    }

    impl Default for RelayConfig {
        fn default() -> Self {
            Self { pool_min: 2, pool_max: 8, sink_queue: 64 }
        }
    }

    /// The relay's own counters (the buffer pool keeps its own).
    #[derive(Debug, Default)]
    pub struct Counters {
        /// Records read into buffers.
        pub records: AtomicU64,
        /// Payload bytes read.
        pub bytes: AtomicU64,
        /// Times a connection found its pool empty and waited for a buffer (backpressure).
        pub pool_waits: AtomicU64,
        /// Records the sink wrote.
        pub written: AtomicU64,
        /// Connections accepted.
        pub connections: AtomicU64,
        /// Connections open now.
        pub open: AtomicU64,
    }

    /// One record on its way to the sink: the connection it came from and its payload, which is
    /// the network buffer itself (it goes back to its pool when the sink drops it).
    #[derive(Debug)]
    pub struct Record {
        /// The connection's number, in accept order from 0.
        pub connection: u32,
        /// The payload.
        pub payload: Bytes,
    }

    /// The relay: the network buffer pool it reads into, its configuration and counters.
    #[derive(Debug)]
    pub struct Relay {
        network: NetworkBufferPool,
        config: RelayConfig,
        counters: Counters,
    }

    fn relaxed(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    impl Relay {
        /// A relay reading into `network`'s buffers.
        #[must_use]
        pub fn new(network: NetworkBufferPool, config: RelayConfig) -> Arc<Self> {
            Arc::new(Self { network, config, counters: Counters::default() })
        }

        /// The network buffer pool.
        #[must_use]
        pub fn network(&self) -> &NetworkBufferPool {
            &self.network
        }

        /// The counters.
        #[must_use]
        pub fn counters(&self) -> &Counters {
            &self.counters
        }

        /// Accepts connections until `shutdown` turns true, then waits for the open ones to end
        /// (their clients close them). Each connection's records go to `sink`.
        ///
        /// # Errors
        /// When accepting fails.
        pub async fn serve(
            self: Arc<Self>,
            listener: TcpListener,
            sink: mpsc::Sender<Record>,
            mut shutdown: watch::Receiver<bool>,
        ) -> io::Result<()> {
            let mut connections = JoinSet::new();
            let mut next = 0u32;
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let (stream, _) = accepted?;
                        // The node of the worker that accepted: the connection's pool takes
                        // its buffers there first (the task may move later; the pool stays).
                        let node = self.network.manager().thread_node();
                        let pool = self
                            .network
                            .create_buffer_pool_on(node, self.config.pool_min, self.config.pool_max)
                            .map_err(io::Error::other)?;
                        relaxed(&self.counters.connections, 1);
                        relaxed(&self.counters.open, 1);
                        let relay = Arc::clone(&self);
                        let (sink, id) = (sink.clone(), next);
                        next += 1;
                        connections.spawn(async move {
                            let result = relay.connection(stream, pool, id, sink).await;
                            relay.counters.open.fetch_sub(1, Ordering::Relaxed);
                            result
                        });
                    }
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
            }
            drop(sink);
            while let Some(done) = connections.join_next().await {
                if let Ok(Err(e)) = done {
                    eprintln!("relay: connection ended with {e}");
                }
            }
            Ok(())
        }

        /// Reads records from one connection into buffers of its pool and sends them to the
        /// sink, until the client closes the connection.
        async fn connection(
            &self,
            mut stream: TcpStream,
            pool: LocalBufferPool,
            id: u32,
            sink: mpsc::Sender<Record>,
        ) -> io::Result<()> {
            let capacity = self.network.buffer_size();
            loop {
                let mut header = [0u8; 4];
                match stream.read_exact(&mut header).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e),
                }
                let len = u32::from_le_bytes(header) as usize;
                if len == 0 || len > capacity {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("record of {len} bytes: records are 1 to {capacity} bytes"),
                    ));
                }
                // Backpressure: with the pool empty, wait for a buffer to come back instead of
                // reading on; the socket fills and the client's writes stall.
                let mut buffer = match pool.request_buffer().map_err(io::Error::other)? {
                    Some(buffer) => buffer,
                    None => {
                        relaxed(&self.counters.pool_waits, 1);
                        pool.request_buffer_async().await.map_err(io::Error::other)?
                    }
                };
                while buffer.len() < len {
                    let want = len - buffer.len();
                    if stream.read_buf(&mut (&mut buffer).limit(want)).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                relaxed(&self.counters.records, 1);
                relaxed(&self.counters.bytes, len as u64);
                let record = Record { connection: id, payload: buffer.into_bytes() };
                if sink.send(record).await.is_err() {
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the sink is gone"));
                }
            }
        }

        /// Writes every record from `records` to `out`: connection id and length (4 bytes each,
        /// little-endian), then the payload straight from its network buffer. Returns when every
        /// sender is gone.
        ///
        /// # Errors
        /// When writing fails.
        pub async fn sink<W: AsyncWrite + Unpin>(
            &self,
            mut records: mpsc::Receiver<Record>,
            mut out: W,
        ) -> io::Result<()> {
            while let Some(mut record) = records.recv().await {
                let len = u32::try_from(record.payload.len()).map_err(io::Error::other)?;
                let mut header = [0u8; 8];
                header[..4].copy_from_slice(&record.connection.to_le_bytes());
                header[4..].copy_from_slice(&len.to_le_bytes());
                out.write_all(&header).await?;
                out.write_all_buf(&mut record.payload).await?;
                relaxed(&self.counters.written, 1);
                // `record` drops here: its buffer goes back to its pool.
            }
            out.flush().await
        }

        /// The metrics in Prometheus text: the relay's counters, the network buffer pool's and
        /// the allocator's.
        #[must_use]
        pub fn metrics(&self) -> String {
            let c = &self.counters;
            let mut text = String::new();
            for (name, kind, help, value) in [
                ("relay_records_total", "counter", "Records read into network buffers.", &c.records),
                ("relay_bytes_total", "counter", "Payload bytes read.", &c.bytes),
                ("relay_pool_waits_total", "counter", "Waits for a buffer of an empty pool.", &c.pool_waits),
                ("relay_records_written_total", "counter", "Records the sink wrote.", &c.written),
                ("relay_connections_total", "counter", "Connections accepted.", &c.connections),
                ("relay_connections_open", "gauge", "Connections open now.", &c.open),
            ] {
                let value = value.load(Ordering::Relaxed);
                text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
            }
            text.push_str(&self.network.stats().to_prometheus());
            text.push_str(&self.network.manager().stats().to_prometheus());
            text
        }

        /// Serves `GET /metrics` on `listener` until `shutdown` turns true.
        ///
        /// # Errors
        /// When serving fails.
        pub async fn serve_metrics(
            self: Arc<Self>,
            listener: TcpListener,
            mut shutdown: watch::Receiver<bool>,
        ) -> io::Result<()> {
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let relay = Arc::clone(&self);
                    async move { ([("content-type", "text/plain; version=0.0.4")], relay.metrics()) }
                }),
            );
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                })
                .await
        }
    }
}

/// Parses the address in argument `i`, or the default.
fn address(i: usize, default: &str) -> Result<SocketAddr, Box<dyn std::error::Error>> {
    Ok(std::env::args().nth(i).as_deref().unwrap_or(default).parse()?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The allocator and the buffer pool come from the NUMASEG_* environment (a network buffer
    // pool needs an `Arc` of its manager, so this service builds its own).
    let manager = Arc::new(ArenaManager::from_env()?);
    let network = NetworkBufferPool::new(manager)?;
    println!(
        "relay: {} network buffers of {} bytes on nodes {:?}",
        network.total_buffers(),
        network.buffer_size(),
        network.manager().nodes()
    );
    let relay = relay::Relay::new(network, relay::RelayConfig::default());
    let listener = TcpListener::bind(address(1, "127.0.0.1:7070")?).await?;
    let metrics = TcpListener::bind(address(2, "127.0.0.1:9090")?).await?;
    println!("relay: records on {}, metrics on http://{}/metrics", listener.local_addr()?, metrics.local_addr()?);
    let (records_tx, records_rx) = tokio::sync::mpsc::channel(relay::RelayConfig::default().sink_queue);
    let (_stop, shutdown) = tokio::sync::watch::channel(false); // runs until killed
    let sink = {
        let relay = Arc::clone(&relay);
        let downstream = std::env::args().nth(3);
        tokio::spawn(async move {
            match downstream {
                Some(addr) => relay.sink(records_rx, tokio::net::TcpStream::connect(addr).await?).await,
                None => relay.sink(records_rx, tokio::io::sink()).await,
            }
        })
    };
    tokio::spawn(Arc::clone(&relay).serve_metrics(metrics, shutdown.clone()));
    Arc::clone(&relay).serve(listener, records_tx, shutdown).await?;
    sink.await??;
    Ok(())
}
