//! The isolation rows: what `NUMASEG_ZERO` costs per block of 4 KiB, 32 KiB and 2 MiB, against
//! a plain `memset` (`ptr::write_bytes`) of a block of the same size in the same run.
//!
//! For each size, one manager per mode serves a loop of allocate + drop pairs on one thread
//! (the cache hands the same block back each time, as a service reusing its blocks would see);
//! the baselines clear one held block of the same manager kind in a loop: `write_bytes`, and
//! `numaseg::zero::zero` (non-temporal stores from `zero::STREAM_FROM`). Each figure is the
//! median over repetitions of nanoseconds per block.

use std::time::Instant;

use serde::Serialize;

use super::BenchOptions;
use crate::config::{ByteSize, MemoryAmount};
use crate::zero::ZeroMode;
use crate::{ArenaManager, Config};

/// The block sizes measured.
pub const SIZES: [usize; 4] = [4 << 10, 32 << 10, 2 << 20, 32 << 20];

/// One (size, variant) figure.
///
/// ```
/// use numaseg::bench::IsolationRow;
/// let row = IsolationRow { size: 32 << 10, variant: "memset".into(), ns_per_block: 800.0, vs_memset: 1.0 };
/// // As `compare.json` states it.
/// let json = serde_json::to_value(&row)?;
/// assert_eq!(json["variant"], "memset");
/// assert_eq!(json["size"], 32768);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct IsolationRow {
    /// Block size in bytes.
    pub size: usize,
    /// `memset`, `zero()`, or an allocate + drop pair under `NUMASEG_ZERO=<mode>`.
    pub variant: String,
    /// Nanoseconds per block (median over repetitions).
    pub ns_per_block: f64,
    /// `ns_per_block` over the `memset` of the same size in the same run.
    pub vs_memset: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Nanoseconds per call of `f`, median over `reps` runs of `n` calls.
fn per_call(reps: usize, n: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..n.div_ceil(10) {
        f();
    }
    median(
        (0..reps.max(1))
            .map(|_| {
                let t0 = Instant::now();
                for _ in 0..n {
                    f();
                }
                t0.elapsed().as_nanos() as f64 / n as f64
            })
            .collect(),
    )
}

fn manager(zero: ZeroMode) -> Result<ArenaManager, Box<dyn std::error::Error>> {
    let config = Config::builder()
        .memory_limit(MemoryAmount::Unlimited)
        .node_memory_limit(MemoryAmount::Unlimited)
        .retain_free(ByteSize(64 << 20))
        .zero(zero)
        .build()?;
    Ok(ArenaManager::new(&config)?)
}

/// Runs every size and variant; `opts.quick` clears about 64 MiB per figure, the full run 1 GiB.
///
/// # Errors
/// A manager that cannot be built or a block that cannot be had.
pub fn run(opts: &BenchOptions) -> Result<Vec<IsolationRow>, Box<dyn std::error::Error>> {
    let bytes: usize = if opts.quick { 64 << 20 } else { 1 << 30 };
    let reps = opts.reps.max(3);
    let managers = [
        (ZeroMode::Off, manager(ZeroMode::Off)?),
        (ZeroMode::OnRelease, manager(ZeroMode::OnRelease)?),
        (ZeroMode::OnAllocate, manager(ZeroMode::OnAllocate)?),
    ];
    let mut rows = Vec::new();
    for size in SIZES {
        let n = (bytes / size).max(16);
        let mut held = managers[0].1.allocate(size)?;
        let memset = per_call(reps, n, || {
            let block = held.as_mut_slice();
            // SAFETY: the slice is `len` writable bytes.
            unsafe { block.as_mut_ptr().write_bytes(0, block.len()) };
            std::hint::black_box(block.as_ptr());
        });
        let stream = per_call(reps, n, || {
            crate::zero::stream(held.as_mut_slice());
            std::hint::black_box(held.as_ptr());
        });
        let mut push = |variant: String, ns: f64| {
            rows.push(IsolationRow { size, variant, ns_per_block: ns, vs_memset: ns / memset });
        };
        push("memset (write_bytes)".into(), memset);
        push("non-temporal stores (zero::stream)".into(), stream);
        let kind = held.page_kind();
        if size >= numa::HUGE_2M && kind != numa::PageKind::Small {
            let source = managers[0].1.source();
            let node = held.node();
            let ns = per_call(reps, n.min(256), || {
                // SAFETY: `held` is our segment, whole huge pages (2 MiB-aligned, a multiple of
                // 2 MiB) of the manager's source; nothing reads it meanwhile.
                unsafe { source.zero_pages(std::ptr::NonNull::from(&mut held.as_mut_slice()[0]), size, kind, node) }
                    .unwrap_or_else(|e| panic!("isolation bench: {e}"));
            });
            push(format!("MADV_DONTNEED + populate ({kind} pages)"), ns);
        }
        drop(held);
        for (mode, m) in &managers {
            let ns = per_call(reps, n, || {
                let segment = m.allocate(size).unwrap_or_else(|e| panic!("isolation bench: {e}"));
                std::hint::black_box(segment.as_ptr());
            });
            push(format!("allocate + drop, NUMASEG_ZERO={mode}"), ns);
        }
    }
    Ok(rows)
}
