//! # numaseg
//!
//! NUMA-local, huge-page-backed, off-heap memory with deterministic budgets, for
//! latency-critical services on multi-socket Linux hosts: what Apache Flink's `MemoryManager`
//! and `NetworkBufferPool` do for a stream processor, in Rust, with NUMA awareness and adaptive
//! segment sizing.
//!
//! ```
//! use numaseg::{ArenaManager, Config};
//!
//! // Configuration comes from NUMASEG_* variables (see docs/CONFIGURATION.md) over defaults.
//! let manager = ArenaManager::new(&Config::from_env()?)?;
//! // A 32 KiB segment on this thread's node, from its cache: a few nanoseconds.
//! let mut segment = manager.allocate(32 << 10)?;
//! segment.as_mut_slice()[..5].copy_from_slice(b"hello");
//! println!("{} bytes on {} backed by {} pages", segment.len(), segment.node(), segment.page_kind());
//! drop(segment); // back to the cache
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! In a service, [`global()`] is the process's manager, built once from the environment, whose
//! segments are `Segment<'static>`; a manager of your own in an `Arc` hands out
//! [`OwnedSegment`]s and [`OwnedMemorySegment`]s that keep it alive. `docs/SERVICE.md` compares
//! them, with their costs, and walks through a tokio relay (`examples/relay.rs`).
//!
//! # Glossary
//! - **base page**: the kernel's 4 KiB page. **huge page**: a 2 MiB or 1 GiB hugetlb page, or a
//!   transparent huge page (THP).
//! - **node**: a NUMA node ([`numa::NodeId`], the kernel's index).
//! - **region**: one mapping numaseg takes from the OS for one node ([`numa::Region`]), 32 MiB by
//!   default, backed by one page kind.
//! - **segment**: a power-of-two block carved from a region ([`Segment`]), 4 KiB up to the region
//!   size, aligned to its size up to 2 MiB. A region serves one size class at a time.
//! - **node core**: one node's part of the allocator core: its budget, regions and pools, named
//!   by the node's index in the core's node set (not the kernel's [`numa::NodeId`]). An
//!   [`ArenaManager`] manages one per node of its node set.
//! - **entry**: a segment's address with its page kind in the two low bits, as caches and pools
//!   pass it.
//! - **cache**: a thread's private stacks of segments per class, in front of the node cores.
//!
//! # Architecture
//! Layers, each using only those to its left (`tests/layers.rs` fails on an import that runs
//! back): `numa` (OS, hardware) ← `sync` / `fork` / [`error`] / `size_class` / [`config`] /
//! `prometheus` / [`zero`] ← `entry` (the packed entry) ← `core` (per node: regions, budgets, pools; no
//! caches) ← `cache` (thread caches, their registry, sizing, stealing) ← [`segment`](Segment) /
//! [`NodeAllocator`] (handles) ← [`stats`] ← [`ArenaManager`] (the façade, the only way up
//! to cache and core, with [`global`] and [`OwnedSegment`]) ← [`manager`] ← [`buffer_pool`] ← `bench` ← the `numaseg` binary.
//! The path of an allocation and of a free, with the invariants each step keeps, is in
//! `docs/ARCHITECTURE.md`. The network buffer pool ([`buffer_pool`]: local pools, redistribution,
//! credit-based flow control, adaptive buffer sizing) is described in `docs/NETWORK_BUFFERS.md`.
//!
//! # Safety and correctness
//! `unsafe` lives in a few places: the segment handle (raw block ↔ slices), the thread cache
//! (private stacks behind an `UnsafeCell`, the thread-exit protocol) and `numa::sys::linux`
//! (system calls). Safe code cannot touch a segment after its memory went back: a [`Segment`]
//! borrows its manager, is not `Clone`, and is given back exactly once, by `Drop` or
//! [`Segment::release`]. The lock-free protocols are model-checked with loom
//! (`scripts/loom.sh`), the multi-node placement is tested in a 4-node guest, and the
//! conservation tests check that every segment comes back exactly once.
//!
//! # Platform
//! Linux on x86-64. Everything works on one node with no huge pages reserved (and says what it
//! fell back to); the multi-node paths are exercised in a QEMU guest with 4 nodes.

/// The `bytes` crate whose `Buf` and `BufMut` network [`Buffer`]s implement.
pub use bytes;
pub use numa;

/// Asserts an invariant when the `expensive-checks` feature is on (our own test scripts turn it on;
/// benches and examples build without it, as users do).
macro_rules! expensive_check {
    ($cond:expr) => {
        if cfg!(feature = "expensive-checks") {
            assert!($cond, concat!("invariant violated: ", stringify!($cond)));
        }
    };
}
pub(crate) use expensive_check;

mod alloc_api;
mod arena_manager;
#[cfg(feature = "bench")]
pub mod bench;
pub mod buffer_pool;
pub(crate) mod cache;
pub mod config;
mod core;
mod entry;
pub mod error;
mod fork;
#[cfg(not(loom))]
mod global;
pub mod manager;
mod owned_segment;
mod prometheus;
mod segment;
mod size_class;
pub mod stats;
pub(crate) mod sync;
pub mod zero;

/// The loom stand-in of the work-stealing deques, for the models in `loom-tests` (loom builds
/// only; not part of the API).
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_deque {
    pub use crate::sync::deque::{ArrayQueue, Injector, Steal, Stealer, Worker};
}

/// For the models in `loom-tests` that check the lane's shared halves (loom builds only; not
/// part of the API): pools created inside [`without_rings`](loom_lane::without_rings) have no
/// owned rings, as on a kernel without `membarrier`; and one owned ring on its own
/// ([`LoomRing`](loom_lane::LoomRing)), for the model of its laps.
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_lane {
    pub use crate::buffer_pool::{LoomRing, without_rings};
}

/// The README's examples, run as doc tests so the README stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// `docs/NETWORK_BUFFERS.md`'s examples, run as doc tests.
#[doc = include_str!("../docs/NETWORK_BUFFERS.md")]
#[cfg(doctest)]
pub struct NetworkBuffersDoctests;
/// `docs/SERVICE.md`'s examples, run as doc tests.
#[doc = include_str!("../docs/SERVICE.md")]
#[cfg(doctest)]
pub struct ServiceDoctests;
/// `docs/MEMORY_MANAGER.md`'s examples, run as doc tests.
#[doc = include_str!("../docs/MEMORY_MANAGER.md")]
#[cfg(doctest)]
pub struct MemoryManagerDoctests;

pub use alloc_api::NodeAllocator;
pub use arena_manager::ArenaManager;
pub use buffer_pool::{Buffer, BufferRequester, LocalBufferPool, NetworkBufferPool, SharedBuffer};
pub use config::Config;
pub use error::{AllocError, BufferPoolError, BuildError, CreditError, MemoryError, SegmentError};
#[cfg(not(loom))]
pub use global::{global, global_is_built, try_global};
pub use manager::{MemoryManager, MemoryOwner, MemorySegment, OwnedMemorySegment, SharedResource};
pub use owned_segment::OwnedSegment;
pub use segment::{Segment, SegmentBatch};
pub use size_class::{MAX_CLASSES, MIN_SEGMENT_SIZE, SizeClass};
pub use stats::Stats;
