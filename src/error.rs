//! Public error enums. Every message names its subject and carries the numbers a user needs
//! ("node 1: requested 32 MiB, 4 MiB available of 256 MiB").

use numa::{NodeId, RegionError, TopologyError};

use crate::config::{ByteSize, ConfigError};

/// An allocation that could not be served.
///
/// ```
/// use numaseg::{AllocError, ArenaManager, Config};
/// let manager = ArenaManager::heap_backed(&Config::default(), 1)?; // heap memory, a pretend node
/// let err = manager.allocate(0).unwrap_err();
/// assert!(matches!(err, AllocError::BadSize { requested: 0, max: 33_554_432 }));
/// assert_eq!(
///     err.to_string(),
///     "a segment of 0 bytes is not available: sizes run from 1 byte (rounded up to 4 KiB) to the region size, 33554432 bytes"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// The page source mapped a region at an address a segment handle cannot carry: segments
    /// must lie below `limit` (2^48), because a [`Segment`](crate::Segment) keeps its node index
    /// in the bits above. Mappings made without an address hint stay below it on x86-64 (also
    /// with 5-level paging) and aarch64; a custom [`PageSource`](numa::PageSource) that maps
    /// higher gets this error. The region was unmapped.
    #[error(
        "{node}: a region was mapped at {base:#x}..{end:#x}, beyond the {limit:#x} segments must stay below (a segment handle packs its node index above it); the region was unmapped"
    )]
    AddressOutOfRange {
        /// The node the region was for.
        node: NodeId,
        /// The region's first byte.
        base: usize,
        /// The byte after its last.
        end: usize,
        /// The first address segments may not reach.
        limit: usize,
    },
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
///
/// ```
/// use numaseg::{ArenaManager, BuildError, Config};
/// use numaseg::numa::NodeId;
/// // A pretend machine of one node, asked for node 5.
/// let config = Config::builder().build_from([("NUMASEG_NODES", "5")])?;
/// let err = ArenaManager::heap_backed(&config, 1).unwrap_err();
/// assert!(matches!(err, BuildError::UnknownNode { variable: "NUMASEG_NODES", node, .. } if node == NodeId::new(5)));
/// assert_eq!(err.to_string(), "NUMASEG_NODES names node 5, which this process cannot use (usable nodes: 0)");
/// // A refused configuration converts.
/// let config_err = Config::builder().build_from([("NUMASEG_LOG", "loud")]).unwrap_err();
/// assert!(matches!(BuildError::from(config_err), BuildError::Config(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// The memory manager's page size cannot be served by the allocator.
    #[error(
        "memory manager page size of {page_size} bytes is not available: it must be a power of two from 4096 bytes to the region size, {max} bytes (NUMASEG_SEGMENT_SIZE)"
    )]
    PageSize {
        /// The page size asked for.
        page_size: usize,
        /// The largest segment: the region size.
        max: usize,
    },
    /// The memory manager's size holds not even one page.
    #[error("memory manager size of {memory_size} bytes holds no page of {page_size} bytes (NUMASEG_MANAGED_MEMORY)")]
    ManagedMemoryBelowPage {
        /// The memory manager's size.
        memory_size: usize,
        /// The page size.
        page_size: usize,
    },
    /// The memory manager's size makes more pages than its counters hold.
    #[error(
        "memory manager size of {memory_size} bytes makes {pages} pages of {page_size} bytes, more than the {max} supported: use larger pages (NUMASEG_SEGMENT_SIZE) or less memory (NUMASEG_MANAGED_MEMORY)"
    )]
    TooManyPages {
        /// The memory manager's size.
        memory_size: usize,
        /// The page size.
        page_size: usize,
        /// Pages it would make.
        pages: usize,
        /// The most pages supported.
        max: usize,
    },
    /// `NUMASEG_MANAGED_MEMORY` is a fraction of a total budget that has no limit.
    #[error(
        "NUMASEG_MANAGED_MEMORY is a fraction ({fraction}) of NUMASEG_MEMORY_LIMIT, which is none: give the memory manager a size in bytes"
    )]
    ManagedFractionOfUnlimited {
        /// The fraction.
        fraction: f64,
    },
}

/// A memory manager request that could not be served: every message names the owner and carries
/// the numbers ("requested 64 pages (2MiB), 12 pages available of 256").
///
/// ```
/// use std::sync::Arc;
/// use numaseg::{ArenaManager, Config, MemoryError, MemoryManager, manager::UseCase};
/// let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let mm = MemoryManager::builder(arena).memory_size(8 << 20).build()?; // 256 pages of 32 KiB
/// let owner = mm.owner("hash-join", UseCase::Operator);
/// let _held = mm.allocate_pages(&owner, 244)?;
/// let err = mm.allocate_pages(&owner, 64).unwrap_err();
/// assert!(matches!(err, MemoryError::PagesExhausted { requested: 64, available: 12, total: 256, .. }));
/// assert_eq!(err.to_string(), "memory owner \"hash-join\": requested 64 pages (2MiB), 12 pages available of 256");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The budget cannot hold the pages asked for; nothing was taken.
    #[error(
        "memory owner \"{owner}\": requested {requested} pages ({}), {available} pages available of {total}",
        ByteSize((*requested as u64).saturating_mul(*page_size as u64))
    )]
    PagesExhausted {
        /// The owner's name.
        owner: String,
        /// Pages asked for.
        requested: usize,
        /// The page size in bytes.
        page_size: usize,
        /// Whole pages the budget still had.
        available: usize,
        /// Pages the whole budget holds.
        total: usize,
    },
    /// The budget cannot hold the bytes asked for; nothing was reserved.
    #[error(
        "memory owner \"{owner}\": cannot reserve {requested} bytes ({}), {available} bytes available of {total}",
        ByteSize(*requested as u64)
    )]
    ReservationRefused {
        /// The owner's name (`shared:USE_CASE` for a shared resource).
        owner: String,
        /// Bytes asked for.
        requested: usize,
        /// Bytes the budget still had.
        available: usize,
        /// The whole budget in bytes.
        total: usize,
    },
    /// The budget allowed the pages but the allocator could not serve them (its own budgets,
    /// mapping); nothing was taken.
    #[error(
        "memory owner \"{owner}\": the allocator could not serve {requested} pages of {page_size} bytes, nothing taken: {cause}"
    )]
    Allocator {
        /// The owner's name.
        owner: String,
        /// Pages asked for.
        requested: usize,
        /// The page size in bytes.
        page_size: usize,
        /// The allocator's error.
        #[source]
        cause: Box<AllocError>,
    },
    /// The owner was created by another memory manager.
    #[error("memory owner \"{owner}\" belongs to another memory manager")]
    ForeignOwner {
        /// The owner's name.
        owner: String,
    },
    /// A node the allocator does not use.
    #[error(transparent)]
    Node(AllocError),
    /// A fraction of the budget outside (0, 1].
    #[error("a fraction of the memory manager's budget must be in (0, 1], was {fraction}")]
    BadFraction {
        /// The fraction given.
        fraction: f64,
    },
    /// A use case without weight has no share of the budget.
    #[error("use case {use_case} has no weight in NUMASEG_USE_CASE_WEIGHTS ({weights}): give it a positive weight")]
    NoWeight {
        /// The use case's name (as `numaseg::manager::UseCase::name` gives it).
        use_case: &'static str,
        /// The weights in effect.
        weights: String,
    },
    /// The use case's shared resource exists with another type.
    #[error("the shared resource of {use_case} is a {existing}, not a {requested}")]
    SharedTypeMismatch {
        /// The use case's name (as `numaseg::manager::UseCase::name` gives it).
        use_case: &'static str,
        /// The type it holds.
        existing: &'static str,
        /// The type asked for.
        requested: &'static str,
    },
    /// The initializer of a shared resource failed; its reservation was given back.
    #[error("the shared resource of {use_case} ({bytes} bytes) could not be created: {cause}")]
    SharedInit {
        /// The use case's name (as `numaseg::manager::UseCase::name` gives it).
        use_case: &'static str,
        /// Bytes it was given.
        bytes: usize,
        /// The initializer's error.
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// An access to a [`MemorySegment`](crate::manager::MemorySegment) that was refused. A released
/// page is refused before any bounds check; bounds are checked without arithmetic overflow, so
/// offsets near `usize::MAX` (or a negative index cast from a signed type) are refused too.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::{ArenaManager, Config, MemoryManager, SegmentError, manager::UseCase};
/// let mm = MemoryManager::new(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))?;
/// let owner = mm.owner("o", UseCase::Operator);
/// let page = mm.allocate_page(&owner)?;
/// let index: i32 = -1; // ported code
/// assert_eq!(
///     page.get_u32_le(index as usize),
///     Err(SegmentError::OutOfBounds { offset: usize::MAX, len: 4, size: 32768 })
/// );
/// mm.release_all(&owner);
/// assert!(matches!(page.get_u32_le(usize::MAX), Err(SegmentError::Released { .. }))); // first
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// The page's owner released it (`release_all`): nothing may reach its memory any more.
    #[error("the page at {address:#x} of memory owner #{owner} was released: no access after release")]
    Released {
        /// The owner's id.
        owner: u64,
        /// The page's address.
        address: usize,
    },
    /// The range is not inside the segment.
    #[error("{len} bytes at offset {offset} are out of bounds of a {size}-byte segment")]
    OutOfBounds {
        /// The offset asked for.
        offset: usize,
        /// The bytes asked for.
        len: usize,
        /// The segment's size.
        size: usize,
    },
    /// The range is not inside the slice given.
    #[error("{len} bytes at offset {offset} are out of bounds of a {size}-byte slice")]
    SliceOutOfBounds {
        /// The offset asked for.
        offset: usize,
        /// The bytes asked for.
        len: usize,
        /// The slice's length.
        size: usize,
    },
}

impl From<SegmentError> for std::io::Error {
    fn from(e: SegmentError) -> Self {
        let kind = match e {
            SegmentError::Released { .. } => std::io::ErrorKind::Other,
            _ => std::io::ErrorKind::InvalidInput,
        };
        Self::new(kind, e)
    }
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
    /// [`NetworkBufferPool::destroy_all_buffer_pools`](crate::buffer_pool::NetworkBufferPool::destroy_all_buffer_pools)
    /// destroyed every local pool, but exclusive (unpooled) buffers are still reserved: they stay
    /// accounted until their sets are dropped or recycled.
    #[error("{buffers} unpooled buffers still outstanding after destroying all local pools")]
    UnpooledOutstanding {
        /// Exclusive buffers still reserved.
        buffers: usize,
    },
    /// The network buffer pool itself was destroyed: nothing can be requested any more.
    #[error(
        "the network buffer pool was destroyed ({outstanding} of its {total} buffers were not yet back when this was reported)"
    )]
    NetworkDestroyed {
        /// Buffers not in the global pool (in local pools or in hands) at the time.
        outstanding: usize,
        /// Buffers in the network buffer pool.
        total: usize,
    },
    /// An indexed access reaches outside the buffer.
    #[error("{len} bytes at index {index} are outside the buffer's {capacity} bytes")]
    OutOfBounds {
        /// The first byte accessed.
        index: usize,
        /// Bytes accessed.
        len: usize,
        /// Bytes in the buffer.
        capacity: usize,
    },
    /// An indexed write reaches bytes that read-only views share.
    #[error("cannot write {len} bytes at index {index}: the bytes below {shared} are shared with read-only views")]
    ReadOnly {
        /// The first byte written.
        index: usize,
        /// Bytes written.
        len: usize,
        /// Bytes at the start of the buffer that views may read.
        shared: usize,
    },
    /// Only a set of exclusive buffers can take buffers back one by one.
    #[error("local buffer pool {pool} is not a set of exclusive buffers")]
    NotExclusive {
        /// The pool's id.
        pool: u64,
    },
    /// A buffer handed back to a set of exclusive buffers it does not belong to.
    #[error("a buffer of pool {buffer_pool} cannot be recycled as an exclusive buffer of pool {pool}")]
    ForeignBuffer {
        /// The pool the buffer belongs to.
        buffer_pool: u64,
        /// The pool it was handed to.
        pool: u64,
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
            Self::UnpooledOutstanding { .. } => 9,
            Self::NetworkDestroyed { .. } => 10,
            Self::OutOfBounds { .. } => 11,
            Self::ReadOnly { .. } => 12,
            Self::NotExclusive { .. } => 13,
            Self::ForeignBuffer { .. } => 14,
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
