//! `numaseg-numa`: the part of numaseg that talks to the OS and the hardware.
//!
//! - [`Topology`]: NUMA nodes with their CPUs, memory and huge-page pools, node distances, the
//!   THP mode, and the node of the calling thread, as one immutable snapshot limited to what
//!   this process may use.
//! - [`Region`]: an anonymous mapping of a given size for a given node, backed by 1 GiB or
//!   2 MiB hugetlb pages, transparent huge pages or base pages ([`PagePolicy`] `auto` tries them
//!   in that order and reports what it got), bound to its node before first touch, optionally
//!   prefaulted and locked, unmapped on drop.
//! - [`placement::read_back`]: the node and backing of every page of a range, the proof that
//!   memory landed where it was asked.
//! - [`PageSource`]: the one trait through which all of this reaches the kernel
//!   ([`sys::linux::LinuxSource`]); [`sys::heap::HeapSource`] stands in for it under loom and
//!   Miri, and `FaultySource` (feature `fault-injection`) makes it fail on purpose.
//!
//! # Glossary
//! - **base page**: the kernel's 4 KiB page.
//! - **huge page**: a 2 MiB or 1 GiB page, from a hugetlb pool or THP.
//! - **region**: one mapping made by [`Region::map`]; the unit numaseg takes from the OS.
//! - **node**: a NUMA node, named by the kernel's index ([`NodeId`]).
//!
//! ```
//! use std::sync::Arc;
//! use numaseg_numa::{PageSource, Region, RegionSpec, Topology, sys::linux::LinuxSource};
//! let topology = Topology::detect()?;
//! let node = topology.current_node();
//! let source: Arc<dyn PageSource> = Arc::new(LinuxSource::new());
//! let (region, fallbacks) = Region::map(&source, &RegionSpec::new(4 << 20, node))?;
//! for f in &fallbacks {
//!     println!("{f}"); // e.g. "node 0: fell back from 2m to thp pages: ..."
//! }
//! let placement = region.placement()?;
//! assert!(placement.all_on(node));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod hugepages;
mod node;
mod page;
pub mod placement;
mod region;
mod source;
pub mod sys;
mod topology;

pub use error::{OsError, PlacementError, RegionError, TopologyError};
pub use node::{MAX_NODES, NodeId, NodeSet, ParseNodeSetError};
pub use page::{BASE_PAGE_SIZE, HUGE_1G, HUGE_2M, PageKind, PagePolicy, ParsePageKindError, ThpMode};
pub use region::{Fallback, Region, RegionSpec};
pub use source::{BindMode, MemlockStatus, PageSource};
pub use topology::{Allowed, NodeInfo, RawNode, Topology};
