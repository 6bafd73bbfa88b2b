//! Public error enums. Every message names its subject and carries the numbers a user needs
//! ("node 1: requested 32 MiB, 4 MiB available of 256 MiB").

use numa::{NodeId, RegionError, TopologyError};

use crate::config::{ByteSize, ConfigError, UseCase};

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
/// use numaseg::{ArenaManager, Config, MemoryError, MemoryManager, config::UseCase};
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
        /// The use case.
        use_case: UseCase,
        /// The weights in effect.
        weights: String,
    },
    /// The use case's shared resource exists with another type.
    #[error("the shared resource of {use_case} is a {existing}, not a {requested}")]
    SharedTypeMismatch {
        /// The use case.
        use_case: UseCase,
        /// The type it holds.
        existing: &'static str,
        /// The type asked for.
        requested: &'static str,
    },
    /// The initializer of a shared resource failed; its reservation was given back.
    #[error("the shared resource of {use_case} ({bytes} bytes) could not be created: {cause}")]
    SharedInit {
        /// The use case.
        use_case: UseCase,
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
/// use numaseg::{ArenaManager, Config, MemoryManager, SegmentError, config::UseCase};
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
