//! The memory limits of the cgroup this process runs in, as far as numaseg needs them: the
//! memory controller's limit (which base pages and THP are charged to, at fault time — going over
//! it means the OOM killer) and the hugetlb controller's limits per huge page size (which hugetlb
//! pages are charged to instead; `rsvd.max` refuses the mapping itself, cleanly).
//!
//! cgroup v2 is read from the unified hierarchy (`/proc/self/cgroup` line `0::/path`, mount point
//! from `/proc/self/mountinfo`); a v1 memory controller's `memory.limit_in_bytes` is read too.
//! Everything is best effort: where a file is missing, the limit is reported as unknown.

use std::fs;
use std::path::{Path, PathBuf};

use crate::PageKind;

/// One limit and where it was read.
///
/// ```
/// use numaseg_numa::{PageSource, cgroup::{CgroupLimits, Limit}, sys::heap::HeapSource};
/// let limit = Limit::simulated(512 << 20);
/// let heap = HeapSource::new().with_cgroup_limits(CgroupLimits { memory: Some(limit.clone()), ..CgroupLimits::default() });
/// assert_eq!(heap.memory_limit(), Some(limit));
/// // This process's real limit, if any (read-only), came from one of the controller's files.
/// if let Some(real) = CgroupLimits::current().memory {
///     assert!(real.file.ends_with("memory.max") || real.file.ends_with("memory.limit_in_bytes"));
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Bytes.
    pub bytes: u64,
    /// The file it came from.
    pub file: PathBuf,
}

impl Limit {
    /// A limit that no file set: what a simulating [`PageSource`](crate::PageSource) reports
    /// (its file reads `(simulated)`).
    ///
    /// ```
    /// let l = numaseg_numa::cgroup::Limit::simulated(64 << 20);
    /// assert_eq!((l.bytes, l.file.display().to_string()), (64 << 20, "(simulated)".to_owned()));
    /// ```
    #[must_use]
    pub fn simulated(bytes: u64) -> Self {
        Self { bytes, file: PathBuf::from("(simulated)") }
    }
}

/// The limits that apply to this process.
///
/// ```
/// use numaseg_numa::{PageKind, cgroup::{CgroupLimits, Limit}};
/// let none = CgroupLimits::default();
/// assert!(none.memory.is_none() && none.memory_current.is_none() && none.huge(PageKind::Huge2M).is_none());
/// let limits = CgroupLimits { huge_1g: Some(Limit::simulated(4 << 30)), ..CgroupLimits::default() };
/// assert_eq!(limits.huge(PageKind::Huge1G).map(|l| l.bytes), Some(4 << 30));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    /// The memory controller's limit (`memory.max`, or v1 `memory.limit_in_bytes`).
    pub memory: Option<Limit>,
    /// Bytes the cgroup uses now (`memory.current` / `memory.usage_in_bytes`).
    pub memory_current: Option<u64>,
    /// The hugetlb controller's limit for 2 MiB pages (`hugetlb.2MB.rsvd.max`, else `.max`).
    pub huge_2m: Option<Limit>,
    /// The same for 1 GiB pages.
    pub huge_1g: Option<Limit>,
}

impl CgroupLimits {
    /// The limits of the calling process's cgroup.
    ///
    /// ```
    /// let limits = numaseg_numa::cgroup::CgroupLimits::current();
    /// // Each limit names the file it was read from (none where no controller limits this cgroup).
    /// for limit in [&limits.memory, &limits.huge_2m, &limits.huge_1g].into_iter().flatten() {
    ///     assert!(limit.file.exists(), "{}", limit.file.display());
    /// }
    /// if let Some(m) = &limits.memory {
    ///     // Beside a memory limit the controller also reports the usage, which this process adds to.
    ///     assert!(limits.memory_current.is_some_and(|used| used > 0), "{limits:?}");
    ///     println!("memory limited to {} bytes by {}", m.bytes, m.file.display());
    /// }
    /// ```
    #[must_use]
    pub fn current() -> Self {
        let cgroup = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        Self::read(&cgroup, &mountinfo, Path::new("/"))
    }

    /// The hugetlb limit for `kind`, if any.
    ///
    /// ```
    /// use numaseg_numa::{PageKind, cgroup::{CgroupLimits, Limit}};
    /// let limits = CgroupLimits { huge_2m: Some(Limit::simulated(64 << 20)), ..CgroupLimits::default() };
    /// assert_eq!(limits.huge(PageKind::Huge2M), Some(&Limit::simulated(64 << 20)));
    /// assert_eq!(limits.huge(PageKind::Huge1G), None);
    /// assert_eq!(limits.huge(PageKind::Thp), None); // THP is charged to the memory controller
    /// ```
    #[must_use]
    pub fn huge(&self, kind: PageKind) -> Option<&Limit> {
        match kind {
            PageKind::Huge2M => self.huge_2m.as_ref(),
            PageKind::Huge1G => self.huge_1g.as_ref(),
            PageKind::Thp | PageKind::Small => None,
        }
    }

    /// Reads the limits given the contents of `/proc/self/cgroup` and `/proc/self/mountinfo`,
    /// with every path under `root` (tests point it at a fake tree).
    pub(crate) fn read(cgroup: &str, mountinfo: &str, root: &Path) -> Self {
        let mut out = Self::default();
        let under = |p: &str| root.join(p.trim_start_matches('/'));
        // cgroup v2: "0::/path", mounted as fstype cgroup2.
        if let Some(path) = cgroup.lines().find_map(|l| l.strip_prefix("0::"))
            && let Some(mount) = mount_point(mountinfo, |fstype, _| fstype == "cgroup2")
        {
            let dir = under(&mount).join(path.trim_start_matches('/'));
            out.memory = limit_file(&dir.join("memory.max"));
            out.memory_current = read_number(&dir.join("memory.current"));
            out.huge_2m =
                limit_file(&dir.join("hugetlb.2MB.rsvd.max")).or_else(|| limit_file(&dir.join("hugetlb.2MB.max")));
            out.huge_1g =
                limit_file(&dir.join("hugetlb.1GB.rsvd.max")).or_else(|| limit_file(&dir.join("hugetlb.1GB.max")));
        }
        // cgroup v1 memory controller: "N:memory:/path", mounted with the memory option.
        if out.memory.is_none()
            && let Some(path) = cgroup.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                controllers.split(',').any(|c| c == "memory").then_some(path)
            })
            && let Some(mount) = mount_point(mountinfo, |fstype, options| {
                fstype == "cgroup" && options.split(',').any(|o| o == "memory")
            })
        {
            let dir = under(&mount).join(path.trim_start_matches('/'));
            out.memory = limit_file(&dir.join("memory.limit_in_bytes")).filter(|l| l.bytes < (1 << 60));
            out.memory_current = read_number(&dir.join("memory.usage_in_bytes"));
        }
        out
    }
}

/// The mount point of the first mount whose file-system type and super options match.
fn mount_point(mountinfo: &str, matches: impl Fn(&str, &str) -> bool) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mount = left.split_whitespace().nth(4)?;
        let mut r = right.split_whitespace();
        let fstype = r.next()?;
        let _source = r.next();
        let options = r.next().unwrap_or("");
        matches(fstype, options).then(|| mount.to_owned())
    })
}

fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A limit file: a number, or `max` for none.
fn limit_file(path: &Path) -> Option<Limit> {
    read_number(path).map(|bytes| Limit { bytes, file: path.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn reads_v2_limits() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "sys/fs/cgroup/app/memory.max", "67108864\n");
        write(root.path(), "sys/fs/cgroup/app/memory.current", "1000\n");
        write(root.path(), "sys/fs/cgroup/app/hugetlb.2MB.max", "max\n");
        write(root.path(), "sys/fs/cgroup/app/hugetlb.2MB.rsvd.max", "33554432\n");
        let mountinfo = "29 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = CgroupLimits::read("0::/app\n", mountinfo, root.path());
        assert_eq!(l.memory.as_ref().map(|m| m.bytes), Some(64 << 20));
        assert_eq!(l.memory_current, Some(1000));
        assert_eq!(l.huge(PageKind::Huge2M).map(|m| m.bytes), Some(32 << 20));
        assert!(l.huge_1g.is_none());
        assert!(l.huge(PageKind::Small).is_none());
    }

    #[test]
    fn unlimited_and_v1() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "sys/fs/cgroup/memory.max", "max\n");
        let mountinfo = "29 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert!(CgroupLimits::read("0::/\n", mountinfo, root.path()).memory.is_none());
        write(root.path(), "sys/fs/cgroup/memory/job/memory.limit_in_bytes", "1073741824\n");
        let v1 = "30 1 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let l = CgroupLimits::read("5:memory:/job\n", v1, root.path());
        assert_eq!(l.memory.map(|m| m.bytes), Some(1 << 30));
        // v1's "unlimited" is a huge number: treated as none.
        write(root.path(), "sys/fs/cgroup/memory/job/memory.limit_in_bytes", "9223372036854771712\n");
        assert!(CgroupLimits::read("5:memory:/job\n", v1, root.path()).memory.is_none());
    }
}
