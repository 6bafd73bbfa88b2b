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
