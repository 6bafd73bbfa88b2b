//! Credit-based flow control between a sender ([`Subpartition`]) and a receiver
//! ([`InputChannel`]), modelled on Apache Flink's `RemoteInputChannel`, plus a wire format
//! ([`Frame`]) for stream transports and an in-process transport ([`InProcessLink`]).
//!
//! **The protocol.**
//! - Each receiving channel holds *exclusive* buffers (`NUMASEG_NETWORK_EXCLUSIVE_BUFFERS`,
//!   requested from the global pool when the channel is made) and may borrow *floating*
//!   buffers from its gate's local pool (`NUMASEG_NETWORK_FLOATING_BUFFERS`). Every buffer it
//!   holds for incoming data is one **credit**: the receiver announces credits
//!   ([`AddCredit`]), the sender sends a buffer only while it has credit, and each buffer
//!   consumes one.
//! - With every buffer the sender reports its **backlog** (buffers queued behind it). The
//!   receiver then tries to hold `backlog + exclusive` buffers, borrowing floating ones, and
//!   announces each as credit. When the gate's pool is empty it waits for its availability
//!   notification.
//! - When the consumer drops a received buffer it returns to its pool: an exclusive buffer to
//!   the channel (whose availability notification wakes the network side to re-grant it), a
//!   floating one to the gate.
//!
//! **What must hold** (checked, and counted in [`ChannelStats`]):
//! - Credit never goes negative: the sender's credit is decremented only when positive, and the
//!   receiver refuses a buffer beyond what it announced ([`CreditError::NoCredit`](crate::CreditError::NoCredit)).
//! - `reserved = unannounced + (announced − received)`: every credit, announced or not, is
//!   backed by a buffer the receiver holds, so an arriving buffer always has a place.
//! - Memory is bounded: the sender queues at most what its local pool holds (the producer
//!   waits for buffers — backpressure), the receiver at most its exclusive buffers plus the
//!   gate's pool. No deadlock: exclusive buffers come back as the consumer consumes, so every
//!   channel regains credit on its own.
//!
//! **Adaptive buffer sizing** (debloating, [`crate::buffer_pool::debloat`]): a gate built with
//! [`InputGate::with_debloat`] measures how fast its consumer takes data and announces a buffer
//! size with every credit ([`AddCredit::buffer_size`]); the sender's [`RecordWriter`] cuts what
//! it writes into buffers of that size (the buffers stay whole segments: the size is their
//! [`write limit`](crate::buffer_pool::Buffer::set_write_limit), what `BufMut::remaining_mut` reports). Receiving
//! buffers always accept a whole segment, since buffers the sender cut before it learnt a new
//! size may still arrive.
//!
//! **Files**, each opening with what it owns and what must hold: `flow.rs` ([`FlowConfig`]),
//! `wire.rs` ([`AddCredit`], [`Frame`]), `receiver.rs` ([`InputGate`], [`InputChannel`]),
//! `sender.rs` ([`Subpartition`], [`RecordWriter`]) and `link.rs` ([`InProcessLink`]). The
//! receiver and the sender know nothing of each other; they meet in [`AddCredit`] and
//! [`Outgoing`], and the link joins them through their public methods only.

mod flow;
mod link;
mod receiver;
mod sender;
mod wire;

pub use flow::FlowConfig;
pub use link::InProcessLink;
pub use receiver::{ChannelStats, InputChannel, InputGate};
pub use sender::{Outgoing, RecordWriter, SenderStats, Subpartition};
pub use wire::{AddCredit, Frame};
