//! The sending side: [`Subpartition`] (one channel's queue of buffers, sent as credit allows,
//! each with the backlog behind it), [`Outgoing`] (what it sends next) and [`RecordWriter`]
//! (the producer: cuts bytes into buffers of the size the receiver announced).
//!
//! What must hold: credit never goes negative (a buffer leaves only while `credit > 0`, and
//! each takes one); sequence numbers count up from 0 without gaps; the end is sent once, after
//! every queued buffer; the queue is bounded by the producer's pool (the writer waits for a
//! buffer: backpressure).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BufMut;

use super::AddCredit;
use crate::buffer_pool::{Buffer, LocalBufferPool};
use crate::error::BufferPoolError;
use crate::sync::{Arc, Mutex, lock};

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
