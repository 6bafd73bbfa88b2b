//! The in-process link: [`InProcessLink`] joins one [`Subpartition`] to one [`InputChannel`]
//! in the same process, moving credit one way and buffers the other, as a network transport
//! would (each payload is copied into a buffer the receiver reserved).
//!
//! What must hold: the link uses only the public protocol of the two ends, so a real transport
//! can do the same; a payload larger than the receiving buffer is an error
//! ([`CreditError::TooLarge`]), never truncated; once the end is delivered the link is done.

use std::future::poll_fn;
use std::task::{Context, Poll};

use bytes::BufMut;

use super::{InputChannel, Outgoing, Subpartition};
use crate::buffer_pool::availability;
use crate::error::CreditError;

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
