//! Wire format: the credit announcement [`AddCredit`] and the fixed-size frame header
//! [`Frame`] that carries credit, buffers and the end of a stream over a byte transport.
//!
//! What must hold: `Frame::decode(&frame.encode()) == Ok(frame)` for every frame; a header of
//! an unknown kind or with a credit beyond `u32` is refused as [`CreditError::Malformed`],
//! never guessed at. Pure encoding: no state, no buffers.

use crate::error::CreditError;
use bytes::Buf;

/// A credit announcement, receiver to sender: `credit` more buffers may be sent.
///
/// ```
/// use numaseg::buffer_pool::credit::AddCredit;
/// let c = AddCredit { channel: 0, credit: 2, buffer_size: None };
/// assert_eq!(c.credit, 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddCredit {
    /// The channel.
    pub channel: u32,
    /// Buffers the sender may send in addition.
    pub credit: u32,
    /// The bytes the receiver wants per buffer (`None`: whole buffers). Adaptive buffer sizing
    /// fills this in; a sender cuts its records into buffers of this size.
    pub buffer_size: Option<u32>,
}

/// One frame on a stream transport. The header is [`Frame::HEADER_LEN`] bytes, little-endian:
/// `kind u8, 3 bytes zero, channel u32, a u64, b u32, c u32` where for `AddCredit` a = credit
/// and b = buffer size (0: none), for `Buffer` a = sequence, b = backlog, c = payload length
/// (the payload follows), and `End` uses none.
///
/// ```
/// use numaseg::buffer_pool::credit::{AddCredit, Frame};
/// let frame = Frame::Buffer { channel: 1, sequence: 7, backlog: 3, len: 100 };
/// let header = frame.encode();
/// assert_eq!(Frame::decode(&header)?, frame);
/// let credit = Frame::Credit(AddCredit { channel: 1, credit: 4, buffer_size: Some(1024) });
/// assert_eq!(Frame::decode(&credit.encode())?, credit);
/// assert!(Frame::decode(&[9; Frame::HEADER_LEN]).is_err());
/// # Ok::<(), numaseg::CreditError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Receiver to sender: credit.
    Credit(AddCredit),
    /// Sender to receiver: a buffer of `len` bytes follows.
    Buffer {
        /// The channel.
        channel: u32,
        /// The buffer's number, from 0.
        sequence: u64,
        /// Buffers queued behind it at the sender.
        backlog: u32,
        /// Payload bytes that follow the header.
        len: u32,
    },
    /// Sender to receiver: no more buffers.
    End {
        /// The channel.
        channel: u32,
    },
}

impl Frame {
    /// Bytes of a frame header.
    ///
    /// ```
    /// use numaseg::buffer_pool::credit::Frame;
    /// assert_eq!(Frame::HEADER_LEN, 24);
    /// assert_eq!(Frame::End { channel: 2 }.encode().len(), Frame::HEADER_LEN);
    /// ```
    pub const HEADER_LEN: usize = 24;

    /// The header bytes.
    ///
    /// ```
    /// use numaseg::buffer_pool::credit::Frame;
    /// assert_eq!(Frame::End { channel: 2 }.encode()[0], 3);
    /// ```
    #[must_use]
    pub fn encode(&self) -> [u8; Self::HEADER_LEN] {
        let (kind, channel, a, b, c) = match *self {
            Self::Credit(AddCredit { channel, credit, buffer_size }) => {
                (1u8, channel, u64::from(credit), buffer_size.unwrap_or(0), 0)
            }
            Self::Buffer { channel, sequence, backlog, len } => (2, channel, sequence, backlog, len),
            Self::End { channel } => (3, channel, 0, 0, 0),
        };
        let mut h = [0u8; Self::HEADER_LEN];
        h[0] = kind;
        h[4..8].copy_from_slice(&channel.to_le_bytes());
        h[8..16].copy_from_slice(&a.to_le_bytes());
        h[16..20].copy_from_slice(&b.to_le_bytes());
        h[20..24].copy_from_slice(&c.to_le_bytes());
        h
    }

    /// Parses a header.
    ///
    /// ```
    /// use numaseg::buffer_pool::credit::Frame;
    /// assert_eq!(Frame::decode(&Frame::End { channel: 5 }.encode())?, Frame::End { channel: 5 });
    /// # Ok::<(), numaseg::CreditError>(())
    /// ```
    ///
    /// # Errors
    /// [`CreditError::Malformed`] for an unknown kind or a credit beyond `u32`.
    pub fn decode(h: &[u8; Self::HEADER_LEN]) -> Result<Self, CreditError> {
        let mut rest = &h[4..];
        let channel = rest.get_u32_le();
        let a = rest.get_u64_le();
        let b = rest.get_u32_le();
        let c = rest.get_u32_le();
        match h[0] {
            1 => Ok(Self::Credit(AddCredit {
                channel,
                credit: u32::try_from(a).map_err(|_| CreditError::Malformed { reason: "credit beyond u32" })?,
                buffer_size: (b != 0).then_some(b),
            })),
            2 => Ok(Self::Buffer { channel, sequence: a, backlog: b, len: c }),
            3 => Ok(Self::End { channel }),
            _ => Err(CreditError::Malformed { reason: "unknown frame kind" }),
        }
    }
}
