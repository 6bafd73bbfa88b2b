//! Per-node hugetlb pools as sysfs reports them, and a guard that reserves huge pages on a node
//! and gives them back when dropped.
//!
//! The pools live under `/sys/devices/system/node/nodeN/hugepages/hugepages-<size>kB/`
//! (`nr_hugepages` = total, `free_hugepages` = free). Reading them is cheap but racy: another
//! process can take pages between a read and a map, so these numbers serve messages and
//! decisions about what to try, never as a guarantee.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{NodeId, PageKind};

/// Where sysfs lives; tests point this at a fake tree.
pub(crate) const SYSFS_NODE_ROOT: &str = "/sys/devices/system/node";

/// One node's pool of one hugetlb page size, in pages.
///
/// ```
/// use numaseg_numa::{NodeId, PageKind, hugepages::{self, HugePagePool}};
/// let pool = HugePagePool { kind: PageKind::Huge1G, total: 2, free: 1 };
/// assert_eq!((pool.free_bytes(), pool.total_bytes()), (1 << 30, 2 << 30));
/// // This machine's pool, if it has one (read-only): never more free pages than reserved.
/// if let Some(pool) = hugepages::node_pool(NodeId::new(0), PageKind::Huge2M) {
///     assert_eq!(pool.kind, PageKind::Huge2M);
///     assert!(pool.free_bytes() <= pool.total_bytes());
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HugePagePool {
    /// The hugetlb kind (`Huge2M` or `Huge1G`).
    pub kind: PageKind,
    /// Pages reserved in the pool (`nr_hugepages`).
    pub total: u64,
    /// Pages not in use (`free_hugepages`).
    pub free: u64,
}

impl HugePagePool {
    /// Free bytes in the pool.
    ///
    /// ```
    /// use numaseg_numa::{PageKind, hugepages::HugePagePool};
    /// let pool = HugePagePool { kind: PageKind::Huge2M, total: 16, free: 3 };
    /// assert_eq!(pool.free_bytes(), 6 << 20);
    /// assert_eq!(HugePagePool { free: u64::MAX, ..pool }.free_bytes(), u64::MAX); // saturates
    /// ```
    #[must_use]
    pub fn free_bytes(&self) -> u64 {
        self.free.saturating_mul(self.kind.page_size() as u64)
    }

    /// Total bytes in the pool.
    ///
    /// ```
    /// use numaseg_numa::{PageKind, hugepages::HugePagePool};
    /// let pool = HugePagePool { kind: PageKind::Huge2M, total: 16, free: 3 };
    /// assert_eq!(pool.total_bytes(), 32 << 20);
    /// ```
    #[must_use]
    pub fn total_bytes(&self) -> u64 {
        self.total.saturating_mul(self.kind.page_size() as u64)
    }
}

fn pool_dir(root: &Path, node: NodeId, kind: PageKind) -> Option<PathBuf> {
    let pool = kind.sysfs_pool_name()?;
    Some(root.join(format!("node{}", node.index())).join("hugepages").join(pool))
}

fn read_u64(path: &Path) -> io::Result<u64> {
    let text = fs::read_to_string(path)?;
    text.trim().parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
}

/// Reads `node`'s pool of `kind` pages under sysfs root `root`; `None` if the kernel has no such
/// pool (kind not hugetlb, size unsupported, or node absent).
pub(crate) fn read_pool(root: &Path, node: NodeId, kind: PageKind) -> Option<HugePagePool> {
    let dir = pool_dir(root, node, kind)?;
    let total = read_u64(&dir.join("nr_hugepages")).ok()?;
    let free = read_u64(&dir.join("free_hugepages")).ok()?;
    Some(HugePagePool { kind, total, free })
}

/// `node`'s pool of `kind` pages right now; `None` if the kernel has no such pool.
///
/// ```
/// use numaseg_numa::{hugepages, NodeId, PageKind};
/// if let Some(pool) = hugepages::node_pool(NodeId::new(0), PageKind::Huge2M) {
///     assert!(pool.free <= pool.total || pool.total == 0);
/// }
/// ```
#[must_use]
pub fn node_pool(node: NodeId, kind: PageKind) -> Option<HugePagePool> {
    read_pool(Path::new(SYSFS_NODE_ROOT), node, kind)
}

/// Reserves huge pages on a node for as long as it lives, then puts the pool back to the size
/// it had. Tests and `numaseg verify` use it; it needs root.
///
/// ```no_run
/// use numaseg_numa::{hugepages::Reservation, NodeId, PageKind};
/// let guard = Reservation::add(NodeId::new(0), PageKind::Huge2M, 16)?;
/// println!("{} of 16 pages obtained", guard.obtained());
/// // dropped: node 0's 2 MiB pool is back to its old size
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Reservation {
    path: PathBuf,
    previous: u64,
    obtained: u64,
}

impl Reservation {
    /// Grows `node`'s pool of `kind` pages by `pages`. The kernel may give fewer (memory too
    /// fragmented); [`Reservation::obtained`] says how many it gave.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use numaseg_numa::{NodeId, PageKind, hugepages::Reservation};
    /// // Reserving changes the machine, so only the refusals are shown here; neither writes sysfs.
    /// let err = Reservation::add(NodeId::new(0), PageKind::Thp, 16).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// assert_eq!(err.to_string(), "thp is not a hugetlb page kind");
    /// // A node the kernel does not have has no pool to grow.
    /// assert!(Reservation::add(NodeId::new(1023), PageKind::Huge2M, 16).is_err());
    /// ```
    ///
    /// # Errors
    /// If `kind` is not a hugetlb kind, the node has no such pool, or sysfs refuses the write
    /// (not root).
    pub fn add(node: NodeId, kind: PageKind, pages: u64) -> io::Result<Self> {
        Self::add_under(Path::new(SYSFS_NODE_ROOT), node, kind, pages)
    }

    /// Sets `node`'s pool of `kind` pages to exactly `pages` (shrinking it too) for as long as
    /// the guard lives. [`Reservation::obtained`] is the change (0 when it shrank).
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use numaseg_numa::{NodeId, PageKind, hugepages::Reservation};
    /// // Resizing a pool changes the machine, so only the refusals are shown here; neither writes sysfs.
    /// let err = Reservation::set(NodeId::new(0), PageKind::Small, 0).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// assert_eq!(err.to_string(), "small is not a hugetlb page kind");
    /// assert!(Reservation::set(NodeId::new(1023), PageKind::Huge1G, 0).is_err());
    /// ```
    ///
    /// # Errors
    /// As [`Reservation::add`].
    pub fn set(node: NodeId, kind: PageKind, pages: u64) -> io::Result<Self> {
        let dir = pool_dir(Path::new(SYSFS_NODE_ROOT), node, kind)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{kind} is not a hugetlb page kind")))?;
        let path = dir.join("nr_hugepages");
        let previous = read_u64(&path)?;
        fs::write(&path, pages.to_string())?;
        let now = read_u64(&path)?;
        Ok(Self { path, previous, obtained: now.saturating_sub(previous) })
    }

    pub(crate) fn add_under(root: &Path, node: NodeId, kind: PageKind, pages: u64) -> io::Result<Self> {
        let dir = pool_dir(root, node, kind)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{kind} is not a hugetlb page kind")))?;
        let path = dir.join("nr_hugepages");
        let previous = read_u64(&path)?;
        fs::write(&path, (previous + pages).to_string())?;
        let now = read_u64(&path)?;
        Ok(Self { path, previous, obtained: now.saturating_sub(previous) })
    }

    /// How many pages the kernel added.
    #[must_use]
    pub fn obtained(&self) -> u64 {
        self.obtained
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // Dropping must not panic; a failed restore leaves pages reserved, which is worth a
        // warning but not a crash (pages still in use are released by the kernel as surplus).
        if let Err(e) = fs::write(&self.path, self.previous.to_string()) {
            tracing::warn!("could not restore {} to {}: {e}", self.path.display(), self.previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tree(total: u64, free: u64) -> tempfile::TempDir {
        let tree = tempfile::tempdir().unwrap();
        let dir = tree.path().join("node1/hugepages/hugepages-2048kB");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("nr_hugepages"), format!("{total}\n")).unwrap();
        fs::write(dir.join("free_hugepages"), format!("{free}\n")).unwrap();
        tree
    }

    #[test]
    fn reads_a_pool() {
        let tree = fake_tree(64, 10);
        let pool = read_pool(tree.path(), NodeId::new(1), PageKind::Huge2M).unwrap();
        assert_eq!(pool, HugePagePool { kind: PageKind::Huge2M, total: 64, free: 10 });
        assert_eq!(pool.free_bytes(), 20 << 20);
        assert!(read_pool(tree.path(), NodeId::new(0), PageKind::Huge2M).is_none());
        assert!(read_pool(tree.path(), NodeId::new(1), PageKind::Huge1G).is_none());
        assert!(read_pool(tree.path(), NodeId::new(1), PageKind::Thp).is_none());
    }

    #[test]
    fn reservation_restores_on_drop() {
        let tree = fake_tree(4, 4);
        let path = tree.path().join("node1/hugepages/hugepages-2048kB/nr_hugepages");
        {
            let guard = Reservation::add_under(tree.path(), NodeId::new(1), PageKind::Huge2M, 6).unwrap();
            assert_eq!(guard.obtained(), 6);
            assert_eq!(fs::read_to_string(&path).unwrap(), "10");
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), "4");
        assert!(Reservation::add_under(tree.path(), NodeId::new(1), PageKind::Small, 1).is_err());
    }
}
