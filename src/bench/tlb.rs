//! The TLB workload: a large working set, dependent random 8-byte reads across it, over numaseg
//! segments and over raw mappings of 4 KiB pages, THP and hugetlb — plus the time to fault the
//! working set in (prefault at map time for the mappings; allocation for numaseg).
//!
//! Every variant is read through the same table of 2 MiB chunk addresses, so the only difference
//! is what backs the memory. Each read's address depends on the value of the previous read, so
//! the reads cannot overlap and each pays its TLB miss in full.

use std::sync::Arc;
use std::time::Instant;

use numa::sys::linux::LinuxSource;
use numa::{HUGE_2M, PageKind, PagePolicy, PageSource, Region, RegionSpec};

use crate::config::{ByteSize, MemoryAmount};
use crate::{ArenaManager, Config};

/// One variant's result.
///
/// ```
/// use numaseg::bench::TlbResult;
/// let r = TlbResult { name: "2 MiB pages".into(), ns_per_read: 80.0, fault_in_ms: 12.0, page_kind: "huge 2 MiB".into() };
/// assert_eq!(r.clone(), r);
/// assert_ne!(TlbResult { ns_per_read: 81.0, ..r.clone() }, r);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TlbResult {
    /// What backs the working set.
    pub name: String,
    /// Nanoseconds per dependent read (median over repetitions).
    pub ns_per_read: f64,
    /// Milliseconds to fault the working set in.
    pub fault_in_ms: f64,
    /// The page kind obtained.
    pub page_kind: String,
}

const LINE: usize = 64;

/// Dependent random reads over the chunks; returns nanoseconds per read.
fn chase(chunks: &[usize], reads: u64) -> f64 {
    let lines_per_chunk = (HUGE_2M / LINE) as u64;
    let total = chunks.len() as u64 * lines_per_chunk;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let t0 = Instant::now();
    for _ in 0..reads {
        let idx = x % total;
        let addr = chunks[(idx / lines_per_chunk) as usize] + ((idx % lines_per_chunk) as usize) * LINE;
        // SAFETY: `addr` is a line inside one of the live, readable chunks.
        let v = unsafe { (addr as *const u64).read_volatile() };
        // xorshift64 of (x ^ v): the next address depends on the value just read.
        x ^= v;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x);
    t0.elapsed().as_nanos() as f64 / reads as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A raw mapping of `bytes` of `kind`, prefaulted; `None` (with the reason) if it cannot be had.
fn raw(bytes: usize, kind: PageKind, reads: u64, reps: usize) -> Result<TlbResult, String> {
    let source: Arc<dyn PageSource> = Arc::new(LinuxSource::new());
    let node = numa::Topology::detect().map_err(|e| e.to_string())?.current_node();
    let spec =
        RegionSpec { policy: PagePolicy::Only(kind), strict: true, prefault: true, ..RegionSpec::new(bytes, node) };
    let t0 = Instant::now();
    let (region, _) = Region::map(&source, &spec).map_err(|e| e.to_string())?;
    let fault_in_ms = t0.elapsed().as_secs_f64() * 1e3;
    let base = region.base().as_ptr() as usize;
    let chunks: Vec<usize> = (0..bytes / HUGE_2M).map(|i| base + i * HUGE_2M).collect();
    chase(&chunks, reads / 10);
    let ns = median((0..reps).map(|_| chase(&chunks, reads)).collect());
    let name = match kind {
        PageKind::Small => "raw mapping, 4 KiB pages",
        PageKind::Thp => "raw mapping, THP",
        PageKind::Huge2M => "raw mapping, 2 MiB hugetlb",
        PageKind::Huge1G => "raw mapping, 1 GiB hugetlb",
    };
    Ok(TlbResult { name: name.into(), ns_per_read: ns, fault_in_ms, page_kind: kind.to_string() })
}

/// numaseg segments of 2 MiB covering `bytes`.
fn numaseg(bytes: usize, reads: u64, reps: usize) -> Result<TlbResult, String> {
    let config = Config::builder()
        .memory_limit(MemoryAmount::Unlimited)
        .node_memory_limit(MemoryAmount::Unlimited)
        .region_size(ByteSize(32 << 20))
        .build()
        .map_err(|e| e.to_string())?;
    let manager = ArenaManager::new(&config).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let segments: Vec<_> =
        (0..bytes / HUGE_2M).map(|_| manager.allocate(HUGE_2M)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let fault_in_ms = t0.elapsed().as_secs_f64() * 1e3;
    let chunks: Vec<usize> = segments.iter().map(|s| s.as_ptr() as usize).collect();
    chase(&chunks, reads / 10);
    let ns = median((0..reps).map(|_| chase(&chunks, reads)).collect());
    // Name every page kind the segments got, so a partial fallback cannot pass for huge pages.
    let mut kinds: Vec<(PageKind, usize)> = Vec::new();
    for s in &segments {
        match kinds.iter_mut().find(|(k, _)| *k == s.page_kind()) {
            Some((_, n)) => *n += 1,
            None => kinds.push((s.page_kind(), 1)),
        }
    }
    let kind = match kinds.as_slice() {
        [] => "-".to_owned(),
        [(k, _)] => k.to_string(),
        mixed => mixed.iter().map(|(k, n)| format!("{k} ×{n}")).collect::<Vec<_>>().join(", "),
    };
    Ok(TlbResult { name: "numaseg segments (2 MiB)".into(), ns_per_read: ns, fault_in_ms, page_kind: kind })
}

/// Runs every variant; variants that cannot run here (no hugetlb pages reserved) come back as
/// errors with the reason.
#[must_use]
pub fn run(bytes: usize, reads: u64, reps: usize) -> Vec<Result<TlbResult, (String, String)>> {
    let bytes = bytes.next_multiple_of(HUGE_2M);
    let mut out = vec![numaseg(bytes, reads, reps).map_err(|e| ("numaseg segments (2 MiB)".to_owned(), e))];
    for kind in [PageKind::Small, PageKind::Thp, PageKind::Huge2M] {
        out.push(raw(bytes, kind, reads, reps).map_err(|e| (format!("raw mapping, {kind}"), e)));
    }
    out
}
