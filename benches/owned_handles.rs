//! Criterion: what an owned handle costs over the borrowed one, on the hot pair (allocate, write
//! one byte, give back) of a 32 KiB segment and of a 32 KiB memory-manager page, all in one
//! process: the borrowed `Segment<'_>`, the owned `OwnedSegment` (an `Arc` clone and drop per
//! pair), a `Segment<'static>` of `numaseg::global()` (owned without a count), the borrowed
//! `MemorySegment<'_>` and the owned `OwnedMemorySegment`; and the `Arc` clone + drop alone, the
//! cost the owned forms add. Reproduce with `cargo bench --bench owned_handles`; the figures of
//! the development VM are in `docs/SERVICE.md`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use numaseg::manager::UseCase;
use numaseg::{MemoryManager, SizeClass};

mod common;
use common::manager;

const SIZE: usize = 32 << 10;

/// Segments: borrowed, owned, global.
fn segments(c: &mut Criterion) {
    let m = Arc::new(manager());
    let class = SizeClass::for_size(SIZE).expect("class");
    let mut g = c.benchmark_group("segment hot pair (32 KiB allocate+touch+free)");
    // Dropped in place, as in fast_paths.rs: moving a handle into `black_box` measures a store
    // forward, not the allocator.
    g.bench_function("borrowed Segment", |b| {
        b.iter(|| {
            let mut s = m.allocate_class(class).expect("allocate");
            s.as_mut_slice()[0] = 1;
        });
    });
    g.bench_function("OwnedSegment", |b| {
        b.iter(|| {
            let mut s = m.allocate_owned_class(class).expect("allocate");
            s.as_mut_slice()[0] = 1;
        });
    });
    let global = numaseg::global();
    g.bench_function("global() Segment<'static>", |b| {
        b.iter(|| {
            let mut s = global.allocate_class(class).expect("allocate");
            s.as_mut_slice()[0] = 1;
        });
    });
    g.bench_function("Arc clone + drop alone", |b| {
        b.iter(|| drop(black_box(Arc::clone(&m))));
    });
    g.finish();
}

/// Memory-manager pages: borrowed and owned.
fn pages(c: &mut Criterion) {
    let mm = MemoryManager::builder(Arc::new(manager())).memory_size(64 << 20).build().expect("memory manager");
    let owner = Arc::new(mm.owner("bench", UseCase::Operator));
    let mut g = c.benchmark_group("page hot pair (32 KiB allocate+write+release)");
    g.bench_function("borrowed MemorySegment", |b| {
        b.iter(|| {
            let mut page = mm.allocate_page(&owner).expect("page");
            page.put_u8(0, 1).expect("in bounds");
        });
    });
    g.bench_function("OwnedMemorySegment", |b| {
        b.iter(|| {
            let mut page = mm.allocate_owned_page(&owner).expect("page");
            page.with_mut(|p| p.put_u8(0, 1)).expect("in bounds");
        });
    });
    g.finish();
}

criterion_group!(benches, segments, pages);
criterion_main!(benches);
