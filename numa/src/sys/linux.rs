//! The Linux implementation of [`PageSource`], and the few other kernel queries numaseg makes.
//!
//! This is the only file that calls `mmap`, `munmap`, `madvise`, `mlock` or `syscall` (the
//! workspace's `clippy.toml` forbids them elsewhere). Each call keeps the kernel's answer in an
//! [`OsError::Syscall`] naming the call, the length and the node.

#![expect(clippy::disallowed_methods, reason = "this module is the one place that makes system calls")]

use std::ffi::c_void;
use std::fs;
use std::io;
use std::mem;
use std::ptr::{self, NonNull};

use crate::cgroup::CgroupLimits;
use crate::error::OsError;
use crate::hugepages;
use crate::page::{HUGE_2M, ThpMode};
use crate::source::{BindMode, MemlockStatus, PageSource};
use crate::{NodeId, PageKind};

/// `MADV_POPULATE_WRITE` (Linux 5.14); the libc crate may not name it on every target.
const MADV_POPULATE_WRITE: libc::c_int = 23;
/// `MPOL_PREFERRED` and `MPOL_BIND` from `<linux/mempolicy.h>`.
const MPOL_PREFERRED: libc::c_int = 1;
const MPOL_BIND: libc::c_int = 2;
/// `MAP_HUGE_SHIFT` encodings of the page size (log2 of the size, shifted by 26).
const MAP_HUGE_2MB: libc::c_int = 21 << 26;
const MAP_HUGE_1GB: libc::c_int = 30 << 26;
/// Bit of `CAP_IPC_LOCK` in the capability masks of `/proc/self/status`.
const CAP_IPC_LOCK_BIT: u32 = 14;

fn os_error(call: &'static str, len: usize, node: Option<NodeId>) -> OsError {
    OsError::Syscall { call, len, node, source: io::Error::last_os_error() }
}

/// The real kernel. Cheap to create; holds the THP mode read at construction.
///
/// ```
/// use std::sync::Arc;
/// use numaseg_numa::{NodeId, PageKind, PageSource, sys::linux::LinuxSource};
/// let source = LinuxSource::new();
/// let addr = source.map(2 << 20, PageKind::Small, NodeId::new(0))?;
/// // SAFETY: `addr` is the mapping just made, and nothing refers into it.
/// unsafe { source.unmap(addr, 2 << 20)? };
/// # Ok::<(), numaseg_numa::OsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinuxSource {
    thp: ThpMode,
    cgroup: CgroupLimits,
}

impl LinuxSource {
    /// A source over the running kernel.
    ///
    /// ```
    /// use numaseg_numa::{PageSource, ThpMode, cgroup::CgroupLimits, sys::linux::LinuxSource};
    /// let source = LinuxSource::new();
    /// assert_eq!((source.name(), source.supports_placement()), ("linux", true));
    /// // It reports the kernel's settings as read at construction (the limits, not the usage,
    /// // which moves).
    /// assert_eq!(source.thp_mode(), ThpMode::current());
    /// let (limits, now) = (source.cgroup_limits(), CgroupLimits::current());
    /// assert_eq!((limits.memory, limits.huge_2m, limits.huge_1g), (now.memory, now.huge_2m, now.huge_1g));
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self { thp: ThpMode::current(), cgroup: CgroupLimits::current() }
    }
}

impl Default for LinuxSource {
    fn default() -> Self {
        Self::new()
    }
}

impl PageSource for LinuxSource {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn map(&self, len: usize, kind: PageKind, node: NodeId) -> Result<NonNull<u8>, OsError> {
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let base_flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        match kind {
            PageKind::Huge1G | PageKind::Huge2M => {
                let size_flag = if kind == PageKind::Huge1G { MAP_HUGE_1GB } else { MAP_HUGE_2MB };
                // SAFETY: an anonymous mapping at an address of the kernel's choosing aliases
                // nothing; hugetlb mappings come aligned to their page size.
                let addr = unsafe {
                    libc::mmap(ptr::null_mut(), len, prot, base_flags | libc::MAP_HUGETLB | size_flag, -1, 0)
                };
                if addr == libc::MAP_FAILED {
                    return Err(os_error("mmap(MAP_HUGETLB)", len, Some(node)));
                }
                NonNull::new(addr.cast()).ok_or_else(|| os_error("mmap(MAP_HUGETLB)", len, Some(node)))
            }
            PageKind::Thp | PageKind::Small => {
                // Over-map by 2 MiB and trim, so the region starts on a 2 MiB boundary (THP needs
                // it, and segment alignment up to 2 MiB relies on it).
                let Some(padded) = len.checked_add(HUGE_2M) else {
                    return Err(OsError::Syscall {
                        call: "mmap",
                        len,
                        node: Some(node),
                        source: io::Error::from_raw_os_error(libc::ENOMEM),
                    });
                };
                // SAFETY: as above, a fresh anonymous mapping aliases nothing.
                let raw = unsafe { libc::mmap(ptr::null_mut(), padded, prot, base_flags | libc::MAP_NORESERVE, -1, 0) };
                if raw == libc::MAP_FAILED {
                    return Err(os_error("mmap", len, Some(node)));
                }
                let start = raw as usize;
                let aligned = start.next_multiple_of(HUGE_2M);
                let head = aligned - start;
                let tail = padded - head - len;
                if head > 0 {
                    // SAFETY: [start, aligned) is the unused head of the mapping just made.
                    unsafe { libc::munmap(raw, head) };
                }
                if tail > 0 {
                    // SAFETY: [aligned+len, start+padded) is the unused tail of the same mapping.
                    unsafe { libc::munmap((aligned + len) as *mut c_void, tail) };
                }
                let advice = if kind == PageKind::Thp { libc::MADV_HUGEPAGE } else { libc::MADV_NOHUGEPAGE };
                // SAFETY: [aligned, aligned+len) is our fresh mapping; this advice keeps contents.
                if unsafe { libc::madvise(aligned as *mut c_void, len, advice) } != 0 {
                    let err = os_error(
                        if kind == PageKind::Thp { "madvise(MADV_HUGEPAGE)" } else { "madvise(MADV_NOHUGEPAGE)" },
                        len,
                        Some(node),
                    );
                    // SAFETY: the mapping was made above and nothing refers into it yet.
                    unsafe { libc::munmap(aligned as *mut c_void, len) };
                    return Err(err);
                }
                NonNull::new(aligned as *mut u8).ok_or_else(|| os_error("mmap", len, Some(node)))
            }
        }
    }

    unsafe fn unmap(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError> {
        // SAFETY: the caller promises `addr`/`len` is exactly one live mapping of ours and that
        // nothing refers into it any more.
        if unsafe { libc::munmap(addr.as_ptr().cast(), len) } != 0 {
            return Err(os_error("munmap", len, None));
        }
        Ok(())
    }

    fn bind(&self, addr: NonNull<u8>, len: usize, node: NodeId, mode: BindMode) -> Result<(), OsError> {
        let mask = crate::NodeSet::single(node).to_mask_words(1);
        // The kernel reads `maxnode - 1` bits of the mask (a long-standing quirk of mbind).
        let maxnode = mask.len() * 64 + 1;
        let policy = match mode {
            BindMode::Bind => MPOL_BIND,
            BindMode::Preferred => MPOL_PREFERRED,
        };
        // SAFETY: mbind only changes the policy for future faults of this range; `mask` outlives
        // the call and holds `maxnode - 1` bits.
        let rc = unsafe {
            libc::syscall(libc::SYS_mbind, addr.as_ptr(), len, policy, mask.as_ptr(), maxnode as libc::c_ulong, 0u32)
        };
        if rc != 0 {
            return Err(os_error(
                if mode == BindMode::Bind { "mbind(MPOL_BIND)" } else { "mbind(MPOL_PREFERRED)" },
                len,
                Some(node),
            ));
        }
        Ok(())
    }

    fn populate(&self, addr: NonNull<u8>, len: usize, kind: PageKind, node: NodeId) -> Result<(), OsError> {
        // SAFETY: MADV_POPULATE_WRITE only faults pages in; contents already present are kept,
        // and the kernel checks the range is mapped (ENOMEM otherwise).
        let rc = unsafe { libc::madvise(addr.as_ptr().cast(), len, MADV_POPULATE_WRITE) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINVAL) && !kind.is_hugetlb() {
            // Kernels before 5.14 lack MADV_POPULATE_WRITE: touch one byte per base page. (Not
            // for hugetlb, where a failed fault is SIGBUS rather than an error.) Reading and
            // writing back the same byte keeps contents.
            let base = addr.as_ptr();
            for offset in (0..len).step_by(crate::page::BASE_PAGE_SIZE) {
                // SAFETY: `offset < len`, so `p` stays inside the mapping (trait contract).
                let p = unsafe { base.add(offset) };
                // SAFETY: `p` is in a live mapping of ours; reading the byte is always allowed.
                let byte = unsafe { p.read_volatile() };
                // SAFETY: writing back the value just read changes nothing another thread sees.
                unsafe { p.write_volatile(byte) };
            }
            return Ok(());
        }
        Err(OsError::Syscall { call: "madvise(MADV_POPULATE_WRITE)", len, node: Some(node), source: err })
    }

    unsafe fn decommit(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError> {
        // SAFETY: the caller promises the range is ours and holds nothing anyone still needs.
        if unsafe { libc::madvise(addr.as_ptr().cast(), len, libc::MADV_DONTNEED) } != 0 {
            return Err(os_error("madvise(MADV_DONTNEED)", len, None));
        }
        Ok(())
    }

    unsafe fn zero_pages(&self, addr: NonNull<u8>, len: usize, kind: PageKind, node: NodeId) -> Result<(), OsError> {
        // SAFETY: the caller's duties are those of `decommit`.
        unsafe { self.decommit(addr, len) }?;
        // The range's memory policy (set by `bind`) stays with the mapping, so the new pages
        // come from the node it is bound to.
        self.populate(addr, len, kind, node)
    }

    fn lock(&self, addr: NonNull<u8>, len: usize) -> Result<(), OsError> {
        // SAFETY: mlock only pins pages of the range; it changes no contents.
        if unsafe { libc::mlock(addr.as_ptr().cast(), len) } != 0 {
            return Err(os_error("mlock", len, None));
        }
        Ok(())
    }

    fn memlock(&self) -> MemlockStatus {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let locked_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmLck:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let has_cap = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK_BIT) != 0);
        // SAFETY: an all-zero rlimit is a valid out-parameter for getrlimit.
        let mut lim: libc::rlimit = unsafe { mem::zeroed() };
        // SAFETY: `lim` is a valid, writable rlimit.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &raw mut lim) };
        let limit = if has_cap || rc != 0 || lim.rlim_cur == libc::RLIM_INFINITY { None } else { Some(lim.rlim_cur) };
        MemlockStatus { limit, locked: locked_kib * 1024 }
    }

    fn huge_pages_free(&self, node: NodeId, kind: PageKind) -> Option<u64> {
        hugepages::node_pool(node, kind).map(|p| p.free_bytes())
    }

    fn thp_mode(&self) -> ThpMode {
        self.thp
    }

    fn cgroup_limits(&self) -> CgroupLimits {
        self.cgroup.clone()
    }

    fn supports_placement(&self) -> bool {
        true
    }
}

/// The CPU the calling thread runs on (`sched_getcpu`, answered by the vDSO).
///
/// ```
/// use numaseg_numa::sys::linux::{affinity_cpus, current_cpu};
/// let cpu = current_cpu().expect("sched_getcpu answers on Linux");
/// assert!(affinity_cpus().contains(&cpu)); // the thread runs where it may
/// ```
#[must_use]
pub fn current_cpu() -> Option<usize> {
    if cfg!(miri) {
        return None; // Miri cannot ask the kernel; callers fall back to the first node
    }
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

/// The CPUs in the calling thread's affinity mask (the kernel has already cut it to the
/// cgroup cpuset).
///
/// ```
/// use numaseg_numa::sys::linux::affinity_cpus;
/// let cpus = affinity_cpus();
/// assert!(!cpus.is_empty());
/// assert!(cpus.windows(2).all(|w| w[0] < w[1])); // ascending, no duplicates
/// ```
#[must_use]
pub fn affinity_cpus() -> Vec<usize> {
    if cfg!(miri) {
        return vec![0]; // Miri cannot ask the kernel
    }
    // SAFETY: an all-zero cpu_set_t is the empty set, a valid out-parameter.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is writable and its size is passed along.
    let rc = unsafe { libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &raw mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the capacity of `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Pins the calling thread to `cpus` (`sched_setaffinity`). For tests and tools that need a
/// thread on a given node.
///
/// ```
/// use numaseg_numa::sys::linux::{affinity_cpus, current_cpu, set_affinity};
/// let before = affinity_cpus();
/// let first = before[0];
/// // In a thread of its own, so the caller's affinity stays as it was.
/// let (pinned, cpu, err) = std::thread::spawn(move || {
///     set_affinity(&[first]).expect("a CPU we may already use");
///     let err = set_affinity(&[]).unwrap_err(); // no CPU at all
///     (affinity_cpus(), current_cpu(), err)
/// })
/// .join()
/// .expect("the thread does not panic");
/// assert_eq!((pinned, cpu), (vec![first], Some(first)));
/// assert_eq!((err.call(), err.raw_os_error()), ("sched_setaffinity", Some(22))); // EINVAL
/// assert_eq!(affinity_cpus(), before); // this thread was never pinned
/// ```
///
/// # Errors
/// The kernel's refusal (a CPU outside the cpuset, or none given).
pub fn set_affinity(cpus: &[usize]) -> Result<(), OsError> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    for &cpu in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        // SAFETY: `cpu` is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &raw const set) } != 0 {
        return Err(os_error("sched_setaffinity", 0, None));
    }
    Ok(())
}

/// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` and its registration, from `<linux/membarrier.h>`.
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

fn membarrier(call: &'static str, cmd: libc::c_long) -> Result<(), OsError> {
    // SAFETY: `membarrier` takes a command and flags (0), both integers, and touches no memory
    // of the process.
    let rc = unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long) };
    if rc == 0 { Ok(()) } else { Err(os_error(call, 0, None)) }
}

/// `membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0)`: the process's intent to use
/// [`membarrier_private_expedited`] (Linux 4.14). Fails where the kernel lacks the command or
/// a sandbox forbids the call.
///
/// ```
/// let registered = numaseg_numa::sys::linux::membarrier_register_private_expedited().is_ok();
/// if registered {
///     numaseg_numa::sys::linux::membarrier_private_expedited()?;
/// }
/// # Ok::<(), numaseg_numa::OsError>(())
/// ```
///
/// # Errors
/// [`OsError::Syscall`] with the kernel's answer.
pub fn membarrier_register_private_expedited() -> Result<(), OsError> {
    membarrier("membarrier(REGISTER_PRIVATE_EXPEDITED)", MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)
}

/// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0)`: every thread of the process that is
/// running on a CPU executes a full memory barrier before the call returns (the others pass
/// through the scheduler, which is one). The process must have registered first.
///
/// ```
/// if numaseg_numa::sys::linux::membarrier_register_private_expedited().is_ok() {
///     numaseg_numa::sys::linux::membarrier_private_expedited()?;
/// }
/// # Ok::<(), numaseg_numa::OsError>(())
/// ```
///
/// # Errors
/// [`OsError::Syscall`] with the kernel's answer (`EPERM` without the registration).
pub fn membarrier_private_expedited() -> Result<(), OsError> {
    membarrier("membarrier(PRIVATE_EXPEDITED)", MEMBARRIER_CMD_PRIVATE_EXPEDITED)
}

/// `move_pages(0, n, pages, NULL, status, 0)`: the node of each page, or a negative errno
/// (`-ENOENT` for a page not present, `-EFAULT` for an unmapped address).
///
/// ```
/// use std::ffi::c_void;
/// use numaseg_numa::{Topology, sys::linux::move_pages_query};
/// let v = vec![1u8; 64 << 10]; // touched, so present
/// let page = v.as_ptr().wrapping_add(v.as_ptr().align_offset(4096));
/// let status = move_pages_query(&[page.cast::<c_void>(), std::ptr::null()])?;
/// // A present page is on a node this process may use; nothing is mapped at address 0.
/// let node = numaseg_numa::NodeId::try_new(usize::try_from(status[0])?).expect("a node index");
/// assert!(Topology::detect()?.node_set().contains(node));
/// assert_eq!(status[1], -14); // -EFAULT
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// If the call as a whole fails.
pub fn move_pages_query(pages: &[*const c_void]) -> Result<Vec<i32>, OsError> {
    let mut status = vec![0i32; pages.len()];
    // SAFETY: with a NULL `nodes` array move_pages only reports; `pages` and `status` are valid
    // for `pages.len()` elements.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0,
            pages.len() as libc::c_ulong,
            pages.as_ptr(),
            ptr::null::<i32>(),
            status.as_mut_ptr(),
            0,
        )
    };
    if rc < 0 {
        return Err(os_error("move_pages", pages.len() * crate::page::BASE_PAGE_SIZE, None));
    }
    Ok(status)
}
