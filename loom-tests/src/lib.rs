//! Shared helpers for numaseg's loom models (`tests/*.rs`, each `#![cfg(loom)]`).
//!
//! The models run the real allocator — thread caches, spill deques (a `Mutex<VecDeque>` stand-in
//! for crossbeam-deque under loom), node pools, region carving and reclaim, budgets, the
//! thread-exit protocol — on a heap-backed manager with the smallest sizes the configuration
//! allows: 2 MiB regions, caches of one or two segments, nothing retained, so that every
//! operation reaches a slow path. Each model ends with a conservation check.
//!
//! Run them with `scripts/loom.sh` (release mode, debug assertions on, bounded preemptions).

#[cfg(all(loom, not(debug_assertions)))]
compile_error!("loom models need debug assertions: run them through scripts/loom.sh");

#[cfg(loom)]
pub use imp::*;

#[cfg(loom)]
mod imp {
    use numaseg::config::{ByteSize, MemoryAmount};
    use numaseg::{ArenaManager, Config, Segment};

    /// The shadow of the first `N` bytes of a buffer: loom cells that every model access to those
    /// bytes also reads or writes. The bytes themselves are plain memory, which loom does not
    /// see; through the shadow, loom reports a causality violation when two accesses to a byte
    /// (one a write) are not ordered by the protocol under test.
    pub struct Shadow<const N: usize>([loom::cell::UnsafeCell<u8>; N]);

    // SAFETY: every access goes through loom's cell, which checks that concurrent ones are
    // ordered (that is what the models test); nothing else touches the values.
    unsafe impl<const N: usize> Sync for Shadow<N> {}

    impl<const N: usize> std::fmt::Debug for Shadow<N> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Shadow").field("bytes", &N).finish_non_exhaustive()
        }
    }

    impl<const N: usize> Shadow<N> {
        /// A shadow of `N` zero bytes, to share between the model's threads.
        pub fn new() -> loom::sync::Arc<Self> {
            loom::sync::Arc::new(Self(std::array::from_fn(|_| loom::cell::UnsafeCell::new(0))))
        }

        /// Reads the shadow of byte `index`.
        pub fn read(&self, index: usize) -> u8 {
            // SAFETY: loom checks this read against every write of the cell.
            self.0[index].with(|p| unsafe { *p })
        }

        /// Writes the shadow of byte `index`.
        pub fn write(&self, index: usize, v: u8) {
            // SAFETY: loom checks this write against every access of the cell.
            self.0[index].with_mut(|p| unsafe { *p = v });
        }
    }

    std::thread_local! {
        /// The execution of the model running on this thread (0: none), for the panic hook.
        static EXECUTION: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Runs `f` under loom's model checker with the preemption bound from `LOOM_MAX_PREEMPTIONS`,
    /// and reports how many executions it explored.
    pub fn model(f: impl Fn() + Sync + Send + 'static) {
        use std::sync::Arc as StdArc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let executions = StdArc::new(AtomicUsize::new(0));
        let counter = StdArc::clone(&executions);
        let f = move || {
            EXECUTION.set(counter.fetch_add(1, Ordering::Relaxed) + 1);
            f();
        };
        // Names the execution that failed: a model's panic, or loom's (a deadlock, a causality
        // violation), on any of the model's threads (all run on this one).
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let n = EXECUTION.get();
                if n > 0 {
                    eprintln!("loom: failed in execution {n}");
                }
                previous(info);
            }));
        });
        static MALLOC: std::sync::Once = std::sync::Once::new();
        MALLOC.call_once(keep_regions_resident);
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(2);
        }
        // The allocator's slow paths take several locks each; the default of 1000 branches is
        // too few for even two threads.
        builder.max_branches = 100_000;
        builder.check(f);
        EXECUTION.set(0);
        eprintln!(
            "loom: {} executions explored (preemption bound {:?})",
            executions.load(Ordering::Relaxed),
            builder.preemption_bound
        );
    }

    /// Every execution of a model builds a heap-backed manager, whose first region is a 2 MiB
    /// zeroed, 2 MiB-aligned heap allocation (`HeapSource::map`). glibc serves an allocation that
    /// large with a fresh `mmap` and gives it back with `munmap`, so each execution paid 512 page
    /// faults to zero it: most of the models' time went to the kernel (`region_reclaim`: 5.7 s
    /// of system time against 1.8 s of user time). With the thresholds raised, glibc keeps
    /// such blocks on its heap and reuses them, resident.
    fn keep_regions_resident() {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // glibc's largest mmap threshold (32 MiB on 64-bit); never trim the heap.
            const THRESHOLD: libc::c_int = 32 << 20;
            // SAFETY: `mallopt` only changes glibc's malloc parameters; it is called once, before
            // the first model runs. Its result (1: set) is ignored: a refused value only leaves
            // the models slower.
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) };
            // SAFETY: as above.
            unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) };
        }
    }

    /// The tiny configuration of the models.
    pub fn tiny_config() -> numaseg::config::ConfigBuilder {
        Config::builder()
            .region_size(ByteSize(2 << 20))
            .segment_size(ByteSize(4096))
            .cache_capacity(2)
            .cache_bytes(ByteSize(0))
            .retain_free(ByteSize(0))
    }

    /// A heap-backed manager with `nodes` pretend nodes and the tiny configuration.
    pub fn tiny_manager(nodes: usize) -> ArenaManager {
        manager_with(nodes, tiny_config())
    }

    /// A heap-backed manager with `nodes` nodes from a configuration builder.
    ///
    /// # Panics
    /// If the configuration is invalid or the manager cannot be built.
    pub fn manager_with(nodes: usize, config: numaseg::config::ConfigBuilder) -> ArenaManager {
        let config = config.build_from::<_, &str, &str>([]).expect("the tiny configuration is valid");
        ArenaManager::heap_backed(&config, nodes).expect("a heap-backed manager builds")
    }

    /// A budget of exactly `regions` regions of 2 MiB per node.
    pub fn regions(n: u64) -> MemoryAmount {
        MemoryAmount::Bytes(ByteSize(n * (2 << 20)))
    }

    /// Lets a segment travel to another loom thread.
    ///
    /// # Safety
    /// The manager the segment borrows must outlive every use of the returned handle: the models
    /// join every thread that holds one before the manager is dropped.
    pub unsafe fn detach(segment: Segment<'_>) -> Segment<'static> {
        // SAFETY: only the lifetime changes; the caller keeps the manager alive (see above).
        unsafe { std::mem::transmute::<Segment<'_>, Segment<'static>>(segment) }
    }

    /// Waits until at most `own` thread caches are live. Under loom, `join` returns before the
    /// joined thread's thread-locals are dropped (std waits for them), so a model must wait for
    /// the exit flushes before it checks conservation.
    pub fn quiesce(manager: &ArenaManager, own: usize) {
        while manager.live_thread_caches() > own {
            loom::thread::yield_now();
        }
    }

    /// Conservation at the end of a model: once every other thread's exit flush is done, nothing
    /// is in use, and after a purge every region is whole and decommitted (every carved segment
    /// came back exactly once). `own` is 1 if the calling thread has a cache, else 0.
    ///
    /// # Panics
    /// If a segment is still in use, or a region is left after the purge.
    pub fn assert_everything_back(manager: &ArenaManager, own: usize) {
        quiesce(manager, own);
        let stats = manager.stats();
        assert_eq!(stats.used_segments(), 0, "{stats:#?}");
        manager.purge();
        let stats = manager.stats();
        for node in &stats.nodes {
            assert_eq!(node.committed_bytes, 0, "{node:#?}");
            assert!(node.classes.iter().all(|c| c.regions == 0 && c.pooled_segments == 0), "{node:#?}");
        }
    }

    /// A heap-backed manager (the tiny configuration, one node) and a network buffer pool of
    /// `buffers` 4 KiB buffers on it.
    ///
    /// # Panics
    /// If the pool cannot be built.
    pub fn tiny_network(buffers: usize) -> (std::sync::Arc<ArenaManager>, numaseg::NetworkBufferPool) {
        let manager = std::sync::Arc::new(tiny_manager(1));
        let network = numaseg::NetworkBufferPool::with_buffers(std::sync::Arc::clone(&manager), buffers, 4096)
            .expect("a network buffer pool builds");
        (manager, network)
    }

    /// Conservation at the end of a network-pool model: every buffer is back in the global
    /// pool, handed out and recycled equally often, no minimum is left reserved; and once the
    /// pool is dropped every segment is back in the allocator.
    ///
    /// # Panics
    /// If any of these does not hold.
    pub fn assert_network_back(manager: &ArenaManager, network: numaseg::NetworkBufferPool) {
        let stats = network.stats();
        assert_eq!(stats.available, stats.total, "{stats:#?}");
        assert_eq!((stats.in_use, stats.required), (0, 0), "{stats:#?}");
        assert_eq!(stats.requested, stats.recycled, "{stats:#?}");
        assert!(stats.pools.is_empty(), "{stats:#?}");
        drop(network);
        assert_eq!(manager.stats().used_segments(), 0, "every buffer went back to the allocator");
    }

    /// The page size of the memory-manager models.
    pub const PAGE: usize = 4096;

    /// A memory manager of `pages` pages of 4 KiB on a tiny one-node allocator.
    ///
    /// # Panics
    /// If the memory manager cannot be built.
    pub fn tiny_memory_manager(pages: usize) -> (std::sync::Arc<ArenaManager>, numaseg::MemoryManager) {
        let arena = std::sync::Arc::new(tiny_manager(1));
        let mm = numaseg::MemoryManager::builder(std::sync::Arc::clone(&arena))
            .memory_size(pages * PAGE)
            .page_size(PAGE)
            .build()
            .expect("a memory manager builds");
        (arena, mm)
    }

    /// The end of every memory-manager model: nothing in use, the whole budget claimable by a
    /// fresh owner (credit that other owners kept idle is taken back), and every segment back in
    /// the allocator.
    ///
    /// # Panics
    /// If any of these does not hold.
    pub fn assert_budget_whole(arena: &ArenaManager, mm: &numaseg::MemoryManager) {
        use numaseg::manager::UseCase;
        assert!(mm.verify_empty(), "{:?}", mm.stats());
        assert_eq!(mm.available_memory(), mm.memory_size());
        let fresh = mm.owner("fresh", UseCase::Operator);
        let all = mm.allocate_pages(&fresh, mm.total_pages()).expect("the whole budget, after reclaiming idle credit");
        drop(all);
        mm.reserve_memory(&fresh, mm.memory_size()).expect("the whole budget as a reservation");
        assert_eq!(mm.release_all_memory(&fresh), mm.memory_size());
        assert!(fresh.close().is_clean());
        assert_everything_back(arena, 1);
    }

    /// Drives a future on the calling loom thread, parking it between polls (a waker that
    /// unparks it): for models that poll numaseg's futures directly.
    pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
        struct Unpark(loom::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(loom::thread::current())));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                return v;
            }
            loom::thread::park();
        }
    }
}
