//! Public error enums. Every message names its subject and carries the numbers a user needs
//! ("node 1: requested 32 MiB, 4 MiB available of 256 MiB").

use numa::{NodeId, RegionError, TopologyError};

use crate::config::ConfigError;

/// An allocation that could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllocError {
    /// The size is zero or beyond the largest segment.
    #[error(
        "a segment of {requested} bytes is not available: sizes run from 1 byte (rounded up to 4 KiB) to the region size, {max} bytes"
    )]
    BadSize {
        /// Bytes asked for.
        requested: usize,
        /// The largest segment size.
        max: usize,
    },
    /// The node's budget cannot hold another region.
    #[error(
        "{node}: budget exhausted: a {requested}-byte region was needed, {available} bytes available of {limit} (NUMASEG_NODE_MEMORY_LIMIT)"
    )]
    NodeBudget {
        /// The node.
        node: NodeId,
        /// Bytes that were needed (one region).
        requested: usize,
        /// Bytes the node's budget still had.
        available: usize,
        /// The node's budget.
        limit: usize,
    },
    /// The total budget cannot hold another region.
    #[error(
        "total budget exhausted: a {requested}-byte region was needed on {node}, {available} bytes available of {limit} (NUMASEG_MEMORY_LIMIT)"
    )]
    TotalBudget {
        /// The node that needed it.
        node: NodeId,
        /// Bytes that were needed (one region).
        requested: usize,
        /// Bytes the total budget still had.
        available: usize,
        /// The total budget.
        limit: usize,
    },
    /// The node is not one of those the manager uses.
    #[error("{node} is not one of the nodes in use ({in_use})")]
    UnknownNode {
        /// The node asked for.
        node: NodeId,
        /// The nodes in use, in list syntax.
        in_use: String,
    },
    /// A region could not be mapped (strict huge pages, OS out of memory, ...). Boxed to keep
    /// `AllocError`, and so every allocation's `Result`, small.
    #[error(transparent)]
    Region(Box<RegionError>),
    /// A bulk request was refused as a whole (everything it had taken was given back).
    #[error("bulk allocation of {requested} segments of {size} bytes failed, nothing taken: {cause}")]
    Bulk {
        /// Segments asked for.
        requested: usize,
        /// Segment size.
        size: usize,
        /// The failure.
        #[source]
        cause: Box<AllocError>,
    },
    /// A batch cannot take these segments.
    #[error("cannot add to this batch: {reason}")]
    BatchMismatch {
        /// Why.
        reason: &'static str,
    },
    /// The manager was created before a `fork` and this is the child.
    #[error(
        "this arena manager was created in process {parent} and cannot serve its child {child} after fork: create a new manager in the child"
    )]
    Forked {
        /// The process that created the manager.
        parent: u32,
        /// This process.
        child: u32,
    },
}

impl From<RegionError> for AllocError {
    fn from(e: RegionError) -> Self {
        Self::Region(Box::new(e))
    }
}

/// An arena manager that could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The topology could not be read.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A configured node is not usable by this process.
    #[error("{variable} names {node}, which this process cannot use (usable nodes: {usable})")]
    UnknownNode {
        /// The variable that named it.
        variable: &'static str,
        /// The node.
        node: NodeId,
        /// Usable nodes, in list syntax.
        usable: String,
    },
    /// A budget is smaller than one region, so nothing could ever be allocated.
    #[error("{variable} leaves {node} a budget of {budget} bytes, less than one region ({region_size} bytes)")]
    BudgetBelowRegion {
        /// The variable.
        variable: &'static str,
        /// The node.
        node: NodeId,
        /// The resolved budget.
        budget: usize,
        /// The region size.
        region_size: usize,
    },
    /// Mapping the up-front regions (`NUMASEG_PREALLOCATE`) failed.
    #[error("preallocating {bytes} bytes on {node} failed: {cause}")]
    Preallocate {
        /// The node.
        node: NodeId,
        /// Bytes asked for.
        bytes: usize,
        /// The failure.
        #[source]
        cause: Box<AllocError>,
    },
}

/// A network buffer pool operation that could not be served (see `docs/NETWORK_BUFFERS.md`).
///
/// ```
/// use numaseg::error::BufferPoolError;
/// let e = BufferPoolError::Insufficient { required: 10, available: 4, total: 8, buffer_size: 32768 };
/// assert!(e.to_string().starts_with("Insufficient number of network buffers: required 10, but only 4 available"));
/// assert!(e.to_string().contains("NUMASEG_NETWORK_BUFFERS"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BufferPoolError {
    /// The minimum buffers asked for cannot be guaranteed: the sum of all minimums (and
    /// exclusive buffers) would exceed the pool.
    #[error(
        "Insufficient number of network buffers: required {required}, but only {available} available. The network buffer pool has {total} buffers of {buffer_size} bytes; raise NUMASEG_NETWORK_BUFFERS (or NUMASEG_NETWORK_MEMORY)"
    )]
    Insufficient {
        /// Buffers asked for (a pool's minimum, or exclusive buffers).
        required: usize,
        /// Buffers not yet guaranteed to other pools.
        available: usize,
        /// Buffers in the network buffer pool.
        total: usize,
        /// Bytes per buffer.
        buffer_size: usize,
    },
    /// A pool's bounds are not `1 <= min <= max`.
    #[error("a local buffer pool needs 1 <= min <= max, got min {min}, max {max}")]
    BadBounds {
        /// The minimum asked for.
        min: usize,
        /// The maximum asked for.
        max: usize,
    },
    /// The local pool was destroyed.
    #[error("local buffer pool {pool} was destroyed")]
    Destroyed {
        /// The pool's id.
        pool: u64,
    },
    /// A blocking request ran out of time (everything it had taken was given back).
    #[error(
        "timed out after {waited_ms} ms waiting for {requested} network buffers ({obtained} were obtained and given back)"
    )]
    Timeout {
        /// Buffers asked for.
        requested: usize,
        /// Buffers obtained before the deadline (given back).
        obtained: usize,
        /// Milliseconds waited.
        waited_ms: u64,
    },
    /// A blocking request was cancelled (everything it had taken was given back).
    #[error("the request for {requested} network buffers was cancelled")]
    Cancelled {
        /// Buffers asked for.
        requested: usize,
    },
    /// The network buffer pool cannot hold this many buffers.
    #[error("{requested} network buffers asked for, at most {max} are supported")]
    TooManyBuffers {
        /// Buffers asked for.
        requested: usize,
        /// The most a pool supports.
        max: usize,
    },
    /// The network buffer pool was configured with no buffers.
    #[error("the network buffer pool has no buffers: set NUMASEG_NETWORK_BUFFERS or NUMASEG_NETWORK_MEMORY")]
    NoBuffers,
    /// The buffers could not be allocated at start.
    #[error("allocating {buffers} network buffers of {buffer_size} bytes failed: {cause}")]
    Alloc {
        /// Buffers asked for.
        buffers: usize,
        /// Bytes per buffer.
        buffer_size: usize,
        /// The allocator's answer.
        #[source]
        cause: Box<AllocError>,
    },
}

impl BufferPoolError {
    /// A stable number for the error kind, for logs and metrics.
    ///
    /// ```
    /// use numaseg::error::BufferPoolError;
    /// assert_eq!(BufferPoolError::Destroyed { pool: 1 }.code(), 3);
    /// ```
    #[must_use]
    pub const fn code(&self) -> u32 {
        match self {
            Self::Insufficient { .. } => 1,
            Self::BadBounds { .. } => 2,
            Self::Destroyed { .. } => 3,
            Self::Timeout { .. } => 4,
            Self::Cancelled { .. } => 5,
            Self::TooManyBuffers { .. } => 6,
            Self::NoBuffers => 7,
            Self::Alloc { .. } => 8,
        }
    }
}

/// A violation of the credit-based flow-control protocol, or a channel that ended.
///
/// ```
/// use numaseg::error::CreditError;
/// let e = CreditError::NoCredit { channel: 3, announced: 4, received: 5 };
/// assert_eq!(e.to_string(), "channel 3: a buffer arrived without credit (4 credits announced, 5 buffers received)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreditError {
    /// The sender sent a buffer the receiver had not given credit for.
    #[error(
        "channel {channel}: a buffer arrived without credit ({announced} credits announced, {received} buffers received)"
    )]
    NoCredit {
        /// The channel.
        channel: u32,
        /// Credits announced so far.
        announced: u64,
        /// Buffers received so far, this one included.
        received: u64,
    },
    /// Buffers arrived out of order.
    #[error("channel {channel}: expected buffer {expected}, got {got}")]
    OutOfOrder {
        /// The channel.
        channel: u32,
        /// The sequence number expected.
        expected: u64,
        /// The one that arrived.
        got: u64,
    },
    /// A buffer's payload is larger than the receiver's buffers.
    #[error("channel {channel}: a {len}-byte payload does not fit a {capacity}-byte buffer")]
    TooLarge {
        /// The channel.
        channel: u32,
        /// Payload bytes.
        len: usize,
        /// Buffer capacity.
        capacity: usize,
    },
    /// A frame could not be decoded.
    #[error("malformed frame: {reason}")]
    Malformed {
        /// What was wrong.
        reason: &'static str,
    },
    /// The channel was released.
    #[error("channel {channel} was released")]
    Released {
        /// The channel.
        channel: u32,
    },
    /// A buffer pool failed underneath.
    #[error(transparent)]
    Pool(#[from] BufferPoolError),
}

impl CreditError {
    /// A stable number for the error kind, for logs and metrics.
    ///
    /// ```
    /// use numaseg::error::CreditError;
    /// assert_eq!(CreditError::Malformed { reason: "short" }.code(), 4);
    /// ```
    #[must_use]
    pub const fn code(&self) -> u32 {
        match self {
            Self::NoCredit { .. } => 1,
            Self::OutOfOrder { .. } => 2,
            Self::TooLarge { .. } => 3,
            Self::Malformed { .. } => 4,
            Self::Released { .. } => 5,
            Self::Pool(_) => 6,
        }
    }
}
