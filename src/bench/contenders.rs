//! The contenders: numaseg's own paths and what a user would pick instead, behind one trait so
//! every workload runs the same code against each.

use std::alloc::{GlobalAlloc, Layout, System};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_queue::ArrayQueue;
use numa::sys::linux::LinuxSource;
use numa::{PageSource, Region, RegionSpec};

use crate::{ArenaManager, Segment, SizeClass};

/// A pool of fixed-size blocks, used from several threads at once.
///
/// ```
/// use numaseg::bench::{Contender, MutexPool};
/// // Generic over the trait, as every workload is: take a block, touch it, give it back.
/// fn round_trip<C: Contender>(pool: &C) -> usize {
///     let mut block = pool.alloc();
///     // SAFETY: the block came from this pool's `alloc` and goes back to the same pool.
///     unsafe {
///         pool.touch(&mut block, 1);
///         pool.free(block);
///     }
///     pool.block_size()
/// }
/// let pool = MutexPool::new(4096, 4);
/// assert_eq!(round_trip(&pool), 4096);
/// assert_eq!(pool.name(), "Mutex<Vec> free list");
/// ```
pub trait Contender: Sync {
    /// One block in a user's hands.
    type Block<'a>: Send
    where
        Self: 'a;

    /// The name in tables.
    fn name(&self) -> String;

    /// The block size in bytes.
    fn block_size(&self) -> usize;

    /// Takes a block.
    fn alloc(&self) -> Self::Block<'_>;

    /// Writes a byte into the block (the "touch" of every workload): at its start, or at its
    /// colour offset for the coloured variants (numaseg's, and the simple thread-local cache's beside it).
    ///
    /// # Safety
    /// `block` came from this contender (its [`alloc`](Contender::alloc), or for
    /// [`NetworkBuffers`] a requester of its pool), not another one: a raw block is written at
    /// an offset this contender computes for its own block size.
    unsafe fn touch(&self, block: &mut Self::Block<'_>, byte: u8);

    /// Gives a block back.
    ///
    /// # Safety
    /// `block` came from this contender, as for [`touch`](Contender::touch): a pool handing out
    /// another pool's block would let it be written after that pool is gone, and a heap would
    /// free it with the wrong allocator or layout.
    unsafe fn free<'a>(&'a self, block: Self::Block<'a>);
}

/// A raw block pointer that may cross threads (it is owned by whoever holds it). It borrows
/// the pool it came from, so it cannot outlive it: a pool over a manager's segments gives them
/// back when dropped ([`TlsCachePool::over_segments`]), and a block kept past that would write
/// into a segment handed out again. That a block goes back to the pool it came from, not to
/// another, is the caller's promise: [`Contender::touch`] and [`Contender::free`] are `unsafe`.
#[derive(Debug)]
pub struct RawBlock<'a>(NonNull<u8>, PhantomData<&'a ()>);

// SAFETY: a RawBlock is the unique owner of its block; the pools it comes from are Sync.
unsafe impl Send for RawBlock<'_> {}

impl RawBlock<'_> {
    /// The block at `addr` (not null), borrowing its pool.
    fn at(addr: usize) -> Self {
        Self(NonNull::new(addr as *mut u8).unwrap_or_else(|| unreachable!("a pool's block is never null")), PhantomData)
    }

    /// Writes `byte` at the block's start.
    fn touch(&mut self, byte: u8) {
        self.touch_at(0, byte);
    }

    /// Writes `byte` at the block's colour offset (the offset numaseg's
    /// [`Segment::colour_offset`] gives a segment at the same address), for the peers of
    /// numaseg's coloured rows.
    fn touch_coloured(&mut self, size: usize, byte: u8) {
        self.touch_at(crate::segment::colour(self.0.as_ptr() as usize, size), byte);
    }

    /// Writes `byte` at `offset`, which must be inside the block (`touch` passes 0, and the
    /// block is at least one byte; `touch_coloured` a colour offset, below `min(size, 4096)`
    /// of its `size`-byte block).
    #[inline(always)]
    fn touch_at(&mut self, offset: usize, byte: u8) {
        let at = self.0.as_ptr().wrapping_add(offset);
        // SAFETY: `at` is inside the block (the callers' offsets, above), which this handle owns.
        unsafe { at.write_volatile(byte) };
    }
}

// === numaseg segments ===

/// numaseg's segment path: `ArenaManager::allocate_class` (the size class computed once, as a
/// pool of fixed-size blocks would) and drop, through the thread cache.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::bench::{Contender, NumasegSegments};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let segments = NumasegSegments::new(manager, 32 << 10);
/// let mut block = segments.alloc();
/// // SAFETY: the block came from this contender's `alloc`.
/// unsafe { segments.touch(&mut block, 7) };
/// assert_eq!(block.as_mut_slice()[0], 7);
/// // SAFETY: as above.
/// unsafe { segments.free(block) };
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct NumasegSegments {
    manager: Arc<ArenaManager>,
    class: SizeClass,
    coloured: bool,
}

impl NumasegSegments {
    /// Blocks of `size` bytes (rounded up to a size class) from `manager`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::bench::{Contender, NumasegSegments};
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// // 5000 bytes round up to the next size class.
    /// let segments = NumasegSegments::new(manager, 5000);
    /// assert!(segments.block_size() >= 5000);
    /// assert_eq!(segments.name(), "numaseg segments");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If `size` is not a size numaseg serves.
    #[must_use]
    pub fn new(manager: Arc<ArenaManager>, size: usize) -> Self {
        let class = SizeClass::for_size(size).unwrap_or_else(|| panic!("{size} is not a segment size"));
        Self { manager, class, coloured: false }
    }

    /// The same, touching each block at its colour offset
    /// ([`Segment::colour_offset`]) instead of its first byte.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::bench::{Contender, NumasegSegments};
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let segments = NumasegSegments::new(manager, 32 << 10).coloured();
    /// assert_eq!(segments.name(), "numaseg segments, coloured");
    /// let mut block = segments.alloc();
    /// // SAFETY: the block came from this contender's `alloc`.
    /// unsafe { segments.touch(&mut block, 9) };
    /// let at = block.colour_offset();
    /// assert_eq!(block.as_mut_slice()[at], 9);
    /// // SAFETY: as above.
    /// unsafe { segments.free(block) };
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn coloured(mut self) -> Self {
        self.coloured = true;
        self
    }
}

impl Contender for NumasegSegments {
    type Block<'a> = Segment<'a>;

    fn name(&self) -> String {
        if self.coloured { "numaseg segments, coloured".into() } else { "numaseg segments".into() }
    }

    fn block_size(&self) -> usize {
        self.class.size()
    }

    #[inline(always)]
    fn alloc(&self) -> Segment<'_> {
        match self.manager.allocate_class(self.class) {
            Ok(s) => s,
            Err(e) => panic!("numaseg allocation failed in a benchmark: {e}"),
        }
    }

    #[inline(always)]
    unsafe fn touch(&self, block: &mut Segment<'_>, byte: u8) {
        let offset = if self.coloured { block.colour_offset() } else { 0 };
        block.as_mut_slice()[offset] = byte;
    }

    #[inline(always)]
    unsafe fn free<'a>(&'a self, block: Segment<'a>) {
        drop(block);
    }
}

// === general-purpose allocators ===

/// Which general-purpose allocator.
///
/// ```
/// use numaseg::bench::{Contender, Heap, HeapAllocator};
/// let names: Vec<String> = [Heap::System, Heap::SystemPageAligned, Heap::Mimalloc, Heap::Jemalloc]
///     .into_iter()
///     .map(|heap| HeapAllocator { heap, size: 4096 }.name())
///     .collect();
/// assert_eq!(names, ["glibc malloc", "glibc malloc, 4 KiB-aligned", "mimalloc", "jemalloc"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heap {
    /// glibc malloc through `std::alloc::System`, natural alignment.
    System,
    /// `std::alloc::System` with 4 KiB alignment.
    SystemPageAligned,
    /// mimalloc.
    Mimalloc,
    /// jemalloc (tikv-jemallocator).
    Jemalloc,
}

/// A general-purpose allocator asked for one block at a time.
///
/// ```
/// use numaseg::bench::{Contender, Heap, HeapAllocator};
/// let heap = HeapAllocator { heap: Heap::Mimalloc, size: 4096 };
/// assert_eq!(heap.block_size(), 4096);
/// let mut block = heap.alloc();
/// // SAFETY: the block came from this contender's `alloc`, so it is freed by the same allocator
/// // with the same layout.
/// unsafe {
///     heap.touch(&mut block, 3);
///     heap.free(block);
/// }
/// ```
#[derive(Debug)]
pub struct HeapAllocator {
    /// Which one.
    pub heap: Heap,
    /// Block size.
    pub size: usize,
}

impl HeapAllocator {
    fn layout(&self) -> Layout {
        let align = if self.heap == Heap::SystemPageAligned { 4096 } else { 16 };
        Layout::from_size_align(self.size, align).unwrap_or_else(|e| panic!("bad benchmark layout: {e}"))
    }
}

impl Contender for HeapAllocator {
    type Block<'a> = RawBlock<'a>;

    fn name(&self) -> String {
        match self.heap {
            Heap::System => "glibc malloc".into(),
            Heap::SystemPageAligned => "glibc malloc, 4 KiB-aligned".into(),
            Heap::Mimalloc => "mimalloc".into(),
            Heap::Jemalloc => "jemalloc".into(),
        }
    }

    fn block_size(&self) -> usize {
        self.size
    }

    #[inline(always)]
    fn alloc(&self) -> RawBlock<'_> {
        let layout = self.layout();
        let ptr = match self.heap {
            // SAFETY: the layout has a non-zero size.
            Heap::System | Heap::SystemPageAligned => unsafe { System.alloc(layout) },
            // SAFETY: as above.
            Heap::Mimalloc => unsafe { mimalloc::MiMalloc.alloc(layout) },
            // SAFETY: as above.
            Heap::Jemalloc => unsafe { tikv_jemallocator::Jemalloc.alloc(layout) },
        };
        RawBlock(NonNull::new(ptr).unwrap_or_else(|| panic!("{} returned null", self.name())), PhantomData)
    }

    #[inline(always)]
    unsafe fn touch(&self, block: &mut RawBlock<'_>, byte: u8) {
        block.touch(byte);
    }

    #[inline(always)]
    unsafe fn free<'a>(&'a self, block: RawBlock<'a>) {
        let (layout, ptr) = (self.layout(), block.0.as_ptr());
        match self.heap {
            // SAFETY: the caller's contract: the block came from this contender's `alloc`, so
            // from the same allocator with the same layout.
            Heap::System | Heap::SystemPageAligned => unsafe { System.dealloc(ptr, layout) },
            // SAFETY: as above.
            Heap::Mimalloc => unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) },
            // SAFETY: as above.
            Heap::Jemalloc => unsafe { tikv_jemallocator::Jemalloc.dealloc(ptr, layout) },
        }
    }
}

// === free lists over pre-mapped memory (a region of their own, or a manager's segments) ===

/// The memory under a free-list pool's blocks, kept mapped while the pool lives.
#[derive(Debug)]
enum Backing {
    /// One region mapped for the pool.
    Region { _held: Region },
    /// Segments of a numaseg manager, held for the pool's life ([`TlsCachePool::over_segments`]).
    Segments { _held: Vec<crate::OwnedSegment> },
}

/// The memory and its blocks' size, for the free-list pools.
#[derive(Debug)]
struct Premapped {
    _backing: Backing,
    size: usize,
}

impl Premapped {
    fn new(size: usize, blocks: usize) -> (Self, Vec<usize>) {
        let source: Arc<dyn PageSource> = Arc::new(LinuxSource::new());
        let len = (size * blocks).next_multiple_of(numa::HUGE_2M);
        let node = numa::Topology::detect().map_or(numa::NodeId::new(0), |t| t.current_node());
        let (region, _) = Region::map(&source, &RegionSpec::new(len, node))
            .unwrap_or_else(|e| panic!("pre-mapping {len} bytes for a benchmark pool: {e}"));
        let base = region.base().as_ptr() as usize;
        let addrs = (0..blocks).map(|i| base + i * size).collect();
        (Self { _backing: Backing::Region { _held: region }, size }, addrs)
    }
}

/// A `Mutex<Vec>` free list over one pre-mapped region.
///
/// ```
/// use numaseg::bench::{Contender, MutexPool};
/// let pool = MutexPool::new(4096, 2);
/// // Both blocks can be out at once, and they are distinct.
/// let (a, b) = (pool.alloc(), pool.alloc());
/// assert_ne!(format!("{a:?}"), format!("{b:?}"));
/// // SAFETY: both blocks came from this pool's `alloc`.
/// unsafe {
///     pool.free(a);
///     pool.free(b);
/// }
/// ```
#[derive(Debug)]
pub struct MutexPool {
    premapped: Premapped,
    free: Mutex<Vec<usize>>,
}

impl MutexPool {
    /// A pool of `blocks` blocks of `size` bytes.
    ///
    /// ```
    /// use numaseg::bench::{Contender, MutexPool};
    /// let pool = MutexPool::new(8192, 3);
    /// assert_eq!(pool.block_size(), 8192);
    /// let blocks: Vec<_> = (0..3).map(|_| pool.alloc()).collect(); // all three at once
    /// for b in blocks {
    ///     // SAFETY: each block came from this pool's `alloc`.
    ///     unsafe { pool.free(b) };
    /// }
    /// ```
    #[must_use]
    pub fn new(size: usize, blocks: usize) -> Self {
        let (premapped, addrs) = Premapped::new(size, blocks);
        Self { premapped, free: Mutex::new(addrs) }
    }
}

impl Contender for MutexPool {
    type Block<'a> = RawBlock<'a>;

    fn name(&self) -> String {
        "Mutex<Vec> free list".into()
    }

    fn block_size(&self) -> usize {
        self.premapped.size
    }

    #[inline(always)]
    fn alloc(&self) -> RawBlock<'_> {
        let addr = self.free.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let addr = addr.unwrap_or_else(|| panic!("the Mutex<Vec> pool ran dry: size it for the workload"));
        RawBlock::at(addr)
    }

    #[inline(always)]
    unsafe fn touch(&self, block: &mut RawBlock<'_>, byte: u8) {
        block.touch(byte);
    }

    #[inline(always)]
    unsafe fn free<'a>(&'a self, block: RawBlock<'a>) {
        self.free.lock().unwrap_or_else(PoisonError::into_inner).push(block.0.as_ptr() as usize);
    }
}

/// A crossbeam `ArrayQueue` pool over one pre-mapped region.
///
/// ```
/// use numaseg::bench::{ArrayQueuePool, Contender};
/// let pool = ArrayQueuePool::new(4096, 2);
/// assert_eq!(pool.name(), "crossbeam ArrayQueue pool");
/// let (a, b) = (pool.alloc(), pool.alloc());
/// assert_ne!(format!("{a:?}"), format!("{b:?}"));
/// // SAFETY: both blocks came from this pool's `alloc`.
/// unsafe {
///     pool.free(a);
///     pool.free(b);
/// }
/// ```
#[derive(Debug)]
pub struct ArrayQueuePool {
    premapped: Premapped,
    free: ArrayQueue<usize>,
}

impl ArrayQueuePool {
    /// A pool of `blocks` blocks of `size` bytes.
    ///
    /// ```
    /// use numaseg::bench::{ArrayQueuePool, Contender};
    /// let pool = ArrayQueuePool::new(8192, 3);
    /// assert_eq!(pool.block_size(), 8192);
    /// let blocks: Vec<_> = (0..3).map(|_| pool.alloc()).collect(); // all three at once
    /// for b in blocks {
    ///     // SAFETY: each block came from this pool's `alloc`.
    ///     unsafe { pool.free(b) };
    /// }
    /// ```
    #[must_use]
    pub fn new(size: usize, blocks: usize) -> Self {
        let (premapped, addrs) = Premapped::new(size, blocks);
        let free = ArrayQueue::new(blocks.max(1));
        for a in addrs {
            let _ = free.push(a);
        }
        Self { premapped, free }
    }
}

impl Contender for ArrayQueuePool {
    type Block<'a> = RawBlock<'a>;

    fn name(&self) -> String {
        "crossbeam ArrayQueue pool".into()
    }

    fn block_size(&self) -> usize {
        self.premapped.size
    }

    #[inline(always)]
    fn alloc(&self) -> RawBlock<'_> {
        let addr = self.free.pop().unwrap_or_else(|| panic!("the ArrayQueue pool ran dry: size it for the workload"));
        RawBlock::at(addr)
    }

    #[inline(always)]
    unsafe fn touch(&self, block: &mut RawBlock<'_>, byte: u8) {
        block.touch(byte);
    }

    #[inline(always)]
    unsafe fn free<'a>(&'a self, block: RawBlock<'a>) {
        let _ = self.free.push(block.0.as_ptr() as usize);
    }
}

// === numaseg's memory manager and network buffer pool ===

/// numaseg's memory manager: `allocate_page` and drop, one owner per benchmark thread.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::bench::{Contender, ManagerPages};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let pages = ManagerPages::new(manager, 4096, 16, 2);
/// assert_eq!(pages.name(), "numaseg MemoryManager pages");
/// let mut page = pages.alloc();
/// // SAFETY: the page came from this contender's `alloc`.
/// unsafe { pages.touch(&mut page, 5) };
/// assert_eq!(page.get_u8(0)?, 5);
/// // SAFETY: as above.
/// unsafe { pages.free(page) };
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ManagerPages {
    manager: crate::MemoryManager,
    owners: Vec<crate::MemoryOwner>,
}

impl ManagerPages {
    /// Pages of `size` bytes, a budget of `pages` pages, `threads` owners.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::bench::{Contender, ManagerPages};
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let pages = ManagerPages::new(manager, 8192, 4, 1);
    /// assert_eq!(pages.block_size(), 8192);
    /// let held: Vec<_> = (0..4).map(|_| pages.alloc()).collect(); // the whole budget at once
    /// for p in held {
    ///     // SAFETY: each page came from this contender's `alloc`.
    ///     unsafe { pages.free(p) };
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the memory manager cannot be built with that page size and budget.
    #[must_use]
    pub fn new(arena: Arc<ArenaManager>, size: usize, pages: usize, threads: usize) -> Self {
        let manager = crate::MemoryManager::builder(arena)
            .page_size(size)
            .memory_size(size * pages)
            .build()
            .unwrap_or_else(|e| panic!("memory manager for a benchmark: {e}"));
        let owners = (0..threads.max(2))
            .map(|t| manager.owner(&format!("bench-{t}"), crate::manager::UseCase::Operator))
            .collect();
        Self { manager, owners }
    }
}

impl Contender for ManagerPages {
    type Block<'a> = crate::MemorySegment<'a>;

    fn name(&self) -> String {
        "numaseg MemoryManager pages".into()
    }

    fn block_size(&self) -> usize {
        self.manager.page_size()
    }

    #[inline(always)]
    fn alloc(&self) -> crate::MemorySegment<'_> {
        let owner = &self.owners[super::workloads::thread_index() % self.owners.len()];
        match self.manager.allocate_page(owner) {
            Ok(page) => page,
            Err(e) => panic!("memory manager page in a benchmark: {e}"),
        }
    }

    #[inline(always)]
    unsafe fn touch(&self, block: &mut crate::MemorySegment<'_>, byte: u8) {
        if let Err(e) = block.put_u8(0, byte) {
            panic!("{e}");
        }
    }

    #[inline(always)]
    unsafe fn free<'a>(&'a self, block: crate::MemorySegment<'a>) {
        drop(block);
    }
}

/// numaseg's network buffer pool: `request_buffer` and drop (recycle), one local pool per
/// benchmark thread, all buffers allocated at start.
///
/// ```
/// use std::sync::Arc;
/// use numaseg::bench::{Contender, NetworkBuffers};
/// use numaseg::{ArenaManager, Config};
/// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
/// let buffers = NetworkBuffers::new(manager, 4096, 64, 2);
/// assert_eq!(buffers.name(), "numaseg network buffers");
/// let mut buffer = buffers.alloc();
/// // SAFETY: the buffer came from this contender's `alloc`.
/// unsafe {
///     buffers.touch(&mut buffer, 7);
///     buffers.free(buffer); // recycled
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct NetworkBuffers {
    network: crate::buffer_pool::NetworkBufferPool,
    pools: Vec<crate::buffer_pool::LocalBufferPool>,
}

impl NetworkBuffers {
    /// `buffers` buffers of `size` bytes, split over `threads` local pools.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::bench::{Contender, NetworkBuffers};
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let buffers = NetworkBuffers::new(manager, 8192, 16, 2);
    /// assert_eq!(buffers.block_size(), 8192);
    /// // SAFETY: the buffer came from this contender's `alloc`.
    /// unsafe { buffers.free(buffers.alloc()) };
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the pool cannot be built (too little memory).
    #[must_use]
    pub fn new(arena: Arc<ArenaManager>, size: usize, buffers: usize, threads: usize) -> Self {
        let network = crate::buffer_pool::NetworkBufferPool::with_buffers(arena, buffers, size)
            .unwrap_or_else(|e| panic!("network buffer pool for a benchmark: {e}"));
        let n = threads.max(2);
        let pools = (0..n)
            .map(|_| {
                network
                    .create_buffer_pool(buffers / n, buffers)
                    .unwrap_or_else(|e| panic!("local buffer pool for a benchmark: {e}"))
            })
            .collect();
        Self { network, pools }
    }

    /// A [`BufferRequester`](crate::buffer_pool::BufferRequester) on the calling benchmark
    /// thread's local pool (the one [`Contender::alloc`] requests from), as a service's
    /// receiving thread would hold one: the producer's side of
    /// [`handoff_requested`](super::workloads::handoff_requested).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::bench::{Contender, NetworkBuffers};
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let buffers = NetworkBuffers::new(manager, 4096, 64, 2);
    /// let mut requester = buffers.requester();
    /// let mut buffer = NetworkBuffers::request(&mut requester);
    /// // SAFETY: the buffer came from a requester of this contender's pool.
    /// unsafe {
    ///     buffers.touch(&mut buffer, 7);
    ///     buffers.free(buffer); // recycled
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn requester(&self) -> crate::buffer_pool::BufferRequester<'_> {
        self.pools[super::workloads::thread_index() % self.pools.len()].requester()
    }

    /// A buffer from `requester` (`request_buffer`, never blocking), as [`Contender::alloc`]
    /// takes one from the pool.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::bench::NetworkBuffers;
    /// # use numaseg::{ArenaManager, Config};
    /// # let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let buffers = NetworkBuffers::new(manager, 4096, 64, 2);
    /// let mut requester = buffers.requester();
    /// let buffer = NetworkBuffers::request(&mut requester);
    /// assert_eq!(buffer.capacity(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the pool ran dry or failed.
    #[inline(always)]
    pub fn request(requester: &mut crate::buffer_pool::BufferRequester<'_>) -> crate::buffer_pool::Buffer {
        match requester.request_buffer() {
            Ok(Some(buffer)) => buffer,
            Ok(None) => panic!("the network buffer pool ran dry: size it for the workload"),
            Err(e) => panic!("network buffer in a benchmark: {e}"),
        }
    }
}

impl Contender for NetworkBuffers {
    type Block<'a> = crate::buffer_pool::Buffer;

    fn name(&self) -> String {
        "numaseg network buffers".into()
    }

    fn block_size(&self) -> usize {
        self.network.buffer_size()
    }

    #[inline(always)]
    fn alloc(&self) -> crate::buffer_pool::Buffer {
        let pool = &self.pools[super::workloads::thread_index() % self.pools.len()];
        match pool.request_buffer() {
            Ok(Some(buffer)) => buffer,
            Ok(None) => panic!("the network buffer pool ran dry: size it for the workload"),
            Err(e) => panic!("network buffer in a benchmark: {e}"),
        }
    }

    #[inline(always)]
    unsafe fn touch(&self, block: &mut crate::buffer_pool::Buffer, byte: u8) {
        bytes::BufMut::put_u8(block, byte);
    }

    #[inline(always)]
    unsafe fn free(&self, block: crate::buffer_pool::Buffer) {
        drop(block);
    }
}

// === any contender in a wider ring slot ===

/// Any contender's blocks handed over with `N` extra words beside the block: a wider ring slot
/// around the same handle, to tell the cost of the slot's size from the handle's own work
/// (docs/BENCHMARKS.md, *Third* and *Thirteenth pass*). `numaseg bench` runs the simple
/// thread-local cache in a slot the size of a network [`Buffer`](crate::buffer_pool::Buffer)
/// ([`BufferSizedTlsCache`]) beside the buffer rows: the rate any pool reaches when each
/// hand-over carries that many bytes.
///
/// ```
/// use numaseg::bench::{Contender, Padded, TlsCachePool};
/// let pool = Padded::<_, 2>(TlsCachePool::new(4096, 64));
/// let mut block = pool.alloc();
/// assert_eq!(std::mem::size_of_val(&block), 24);
/// // SAFETY: the block came from this pool's `alloc`.
/// unsafe {
///     pool.touch(&mut block, 7);
///     pool.free(block);
/// }
/// assert!(pool.name().ends_with("24-byte ring slots"));
/// ```
#[derive(Debug)]
pub struct Padded<C, const N: usize>(pub C);

impl<C: Contender, const N: usize> Contender for Padded<C, N> {
    type Block<'a>
        = (C::Block<'a>, [usize; N])
    where
        Self: 'a;

    fn name(&self) -> String {
        format!("{}, {}-byte ring slots", self.0.name(), std::mem::size_of::<Self::Block<'_>>())
    }

    fn block_size(&self) -> usize {
        self.0.block_size()
    }

    #[inline(always)]
    fn alloc(&self) -> Self::Block<'_> {
        (self.0.alloc(), [0; N])
    }

    #[inline(always)]
    unsafe fn touch(&self, block: &mut Self::Block<'_>, byte: u8) {
        // SAFETY: the caller's contract: the block came from this wrapper's `alloc`, so its
        // first part from the inner contender's.
        unsafe { self.0.touch(&mut block.0, byte) };
    }

    #[inline(always)]
    unsafe fn free<'a>(&'a self, block: Self::Block<'a>) {
        // SAFETY: as in `touch`.
        unsafe { self.0.free(block.0) };
    }
}

/// Words beside the simple thread-local cache's 8-byte block that make its ring slot as wide
/// as a network [`Buffer`](crate::buffer_pool::Buffer).
const BUFFER_PADDING: usize = std::mem::size_of::<crate::buffer_pool::Buffer>() / 8 - 1;

/// The simple thread-local cache handing each block over in a ring slot the size of a network
/// [`Buffer`](crate::buffer_pool::Buffer): the buffer rows' peer for what the slot's size
/// alone costs.
///
/// ```
/// use numaseg::bench::{BufferSizedTlsCache, Contender, Padded, TlsCachePool};
/// let pool: BufferSizedTlsCache = Padded(TlsCachePool::new(4096, 64));
/// let block = pool.alloc();
/// assert_eq!(std::mem::size_of_val(&block), std::mem::size_of::<numaseg::buffer_pool::Buffer>());
/// // SAFETY: the block came from this pool's `alloc`.
/// unsafe { pool.free(block) };
/// ```
pub type BufferSizedTlsCache = Padded<TlsCachePool, BUFFER_PADDING>;

// === the simple thread-local cache ===

/// Blocks the simple thread-local cache moves to or from its shared list at once.
///
/// ```
/// assert_eq!(numaseg::bench::TLS_BATCH, 128);
/// ```
pub const TLS_BATCH: usize = 128;

/// The shared list of a [`TlsCachePool`].
type Shared = Arc<Mutex<Vec<usize>>>;

/// One thread's stack of a [`TlsCachePool`] and the pool it belongs to.
struct TlsStack {
    owner: Option<Shared>,
    stack: Vec<usize>,
}

impl TlsStack {
    /// Gives every block back to the owner's shared list.
    fn flush(&mut self) {
        if let Some(owner) = self.owner.take() {
            owner.lock().unwrap_or_else(PoisonError::into_inner).append(&mut self.stack);
        }
    }
}

impl Drop for TlsStack {
    fn drop(&mut self) {
        self.flush();
    }
}

std::thread_local! {
    static TLS_STACK: std::cell::RefCell<TlsStack> =
        const { std::cell::RefCell::new(TlsStack { owner: None, stack: Vec::new() }) };
}

/// The simple thread-local cache a user could write in 60 lines: a LIFO stack of block
/// addresses per thread that refills [`TLS_BATCH`] blocks at a time from a `Mutex<Vec>` when
/// empty and flushes the oldest [`TLS_BATCH`] to it when it holds twice that; a thread's stack
/// goes back to the list when the thread exits. The reference point of issue #14: one-at-a-time
/// hand-off should be at least as fast through numaseg.
///
/// ```
/// use numaseg::bench::{Contender, TlsCachePool};
/// let pool = TlsCachePool::new(4096, 512);
/// let mut block = pool.alloc();
/// // SAFETY: the block came from this pool's `alloc`.
/// unsafe {
///     pool.touch(&mut block, 7);
///     pool.free(block);
/// }
/// ```
#[derive(Debug)]
pub struct TlsCachePool {
    premapped: Premapped,
    shared: Shared,
    coloured: bool,
}

impl TlsCachePool {
    /// A pool of `blocks` blocks of `size` bytes.
    ///
    /// ```
    /// use numaseg::bench::{Contender, TlsCachePool};
    /// let pool = TlsCachePool::new(4096, 64);
    /// assert_eq!((pool.name().as_str(), pool.block_size()), ("simple thread-local cache", 4096));
    /// let blocks: Vec<_> = (0..64).map(|_| pool.alloc()).collect(); // every block at once
    /// for b in blocks {
    ///     // SAFETY: each block came from this pool's `alloc`.
    ///     unsafe { pool.free(b) };
    /// }
    /// ```
    #[must_use]
    pub fn new(size: usize, blocks: usize) -> Self {
        let (premapped, addrs) = Premapped::new(size, blocks);
        Self { premapped, shared: Arc::new(Mutex::new(addrs)), coloured: false }
    }

    /// The same cache over `blocks` segments of `size` bytes (rounded up to the manager's size
    /// class, which is the pool's block size) taken from `manager` and held until the pool is
    /// dropped, in the order the manager handed them out: the simple cache's
    /// code on numaseg's memory, to tell the cost of numaseg's paths from the cost of where its
    /// blocks lie (docs/BENCHMARKS.md, *Twentieth pass*).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::bench::{Contender, TlsCachePool};
    /// use numaseg::{ArenaManager, Config};
    /// let manager = Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?);
    /// let pool = TlsCachePool::over_segments(&manager, 4096, 8)?;
    /// assert_eq!(manager.stats().used_segments(), 8);
    /// let mut block = pool.alloc();
    /// // SAFETY: the block came from this pool's `alloc`.
    /// unsafe {
    ///     pool.touch(&mut block, 7);
    ///     pool.free(block);
    /// }
    /// drop(pool);
    /// assert_eq!(manager.stats().used_segments(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The manager's [`AllocError`](crate::AllocError) if it cannot hand out `blocks` segments.
    pub fn over_segments(manager: &Arc<ArenaManager>, size: usize, blocks: usize) -> Result<Self, crate::AllocError> {
        let segments = (0..blocks).map(|_| manager.allocate_owned(size)).collect::<Result<Vec<_>, _>>()?;
        let addrs = segments.iter().map(|s| s.as_ptr() as usize).collect();
        let size = segments.first().map_or(size, crate::OwnedSegment::len);
        let premapped = Premapped { _backing: Backing::Segments { _held: segments }, size };
        Ok(Self { premapped, shared: Arc::new(Mutex::new(addrs)), coloured: false })
    }

    /// The same, touching each block at the colour offset numaseg's
    /// [`Segment::colour_offset`] gives a segment at that address: the peer of numaseg's
    /// coloured rows (the blocks are as aligned as numaseg's segments).
    ///
    /// ```
    /// use numaseg::bench::{Contender, TlsCachePool};
    /// let pool = TlsCachePool::new(4096, 8).coloured();
    /// assert_eq!(pool.name(), "simple thread-local cache, coloured");
    /// let mut block = pool.alloc();
    /// // SAFETY: the block came from this pool's `alloc`.
    /// unsafe {
    ///     pool.touch(&mut block, 7);
    ///     pool.free(block);
    /// }
    /// ```
    #[must_use]
    pub fn coloured(mut self) -> Self {
        self.coloured = true;
        self
    }

    /// Runs `f` on the calling thread's stack, first handing a stack of another pool back.
    #[inline(always)]
    fn with_stack<R>(&self, f: impl FnOnce(&mut Vec<usize>, &Shared) -> R) -> R {
        TLS_STACK.with_borrow_mut(|local| {
            if !local.owner.as_ref().is_some_and(|o| Arc::ptr_eq(o, &self.shared)) {
                local.flush();
                local.owner = Some(Arc::clone(&self.shared));
                local.stack.reserve(2 * TLS_BATCH);
            }
            f(&mut local.stack, &self.shared)
        })
    }
}

impl Contender for TlsCachePool {
    type Block<'a> = RawBlock<'a>;

    fn name(&self) -> String {
        if self.coloured { "simple thread-local cache, coloured".into() } else { "simple thread-local cache".into() }
    }

    fn block_size(&self) -> usize {
        self.premapped.size
    }

    #[inline(always)]
    fn alloc(&self) -> RawBlock<'_> {
        let addr = self.with_stack(|stack, shared| {
            if stack.is_empty() {
                let mut list = shared.lock().unwrap_or_else(PoisonError::into_inner);
                let from = list.len().saturating_sub(TLS_BATCH);
                stack.extend(list.drain(from..));
            }
            stack.pop()
        });
        let addr = addr.unwrap_or_else(|| panic!("the thread-local cache pool ran dry: size it for the workload"));
        RawBlock::at(addr)
    }

    #[inline(always)]
    unsafe fn touch(&self, block: &mut RawBlock<'_>, byte: u8) {
        if self.coloured {
            block.touch_coloured(self.premapped.size, byte);
        } else {
            block.touch(byte);
        }
    }

    #[inline(always)]
    unsafe fn free<'a>(&'a self, block: RawBlock<'a>) {
        self.with_stack(|stack, shared| {
            if stack.len() >= 2 * TLS_BATCH {
                shared.lock().unwrap_or_else(PoisonError::into_inner).extend(stack.drain(..TLS_BATCH));
            }
            stack.push(block.0.as_ptr() as usize);
        });
    }
}
