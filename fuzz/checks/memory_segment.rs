//! `MemorySegment` against random operation sequences, checked against a `Vec<u8>` model of each
//! page: every typed get/put in every byte order, bulk transfers to and from slices with offsets
//! and lengths, `copy_to`, `copy_within`, `compare`, `equal_to`, `swap_bytes`, streams
//! (`read_from`/`write_to`) and slice views, at offsets and lengths anywhere from 0 to
//! `usize::MAX` (negative indices cast from signed types included). Every successful read must
//! equal the model, every refused access must be the documented typed error — `Released` when a
//! page involved was revoked (checked before any bounds), else `OutOfBounds` /
//! `SliceOutOfBounds` naming an offending range with its offset, length and size — and a refused
//! access must change nothing. Never a panic. After `release_all` every access to the revoked
//! page is the `Released` error.
//!
//! Two pages of two owners, so that a two-page operation can meet one revoked page and one live
//! one; an operation may also name the same page twice where the signature allows
//! (`compare`, `equal_to`).
//!
//! Shared by the fuzz target (`fuzz/fuzz_targets/memory_segment.rs`) and the regression test that
//! replays stored inputs (`tests/all/fuzz_regressions.rs`).

use std::cmp::Ordering;
use std::io::{ErrorKind, Read};
use std::ops::Range;
use std::sync::Arc;

use numaseg::config::ByteSize;
use numaseg::manager::UseCase;
use numaseg::{ArenaManager, Config, MemoryManager, MemorySegment, SegmentError};

/// One allocator for the whole fuzzing process (mapping a region per input would dominate the
/// run); each input builds its own memory manager on it and checks that everything went back.
fn arena() -> Arc<ArenaManager> {
    static ARENA: std::sync::OnceLock<Arc<ArenaManager>> = std::sync::OnceLock::new();
    Arc::clone(ARENA.get_or_init(|| {
        let config =
            Config::builder().region_size(ByteSize(2 << 20)).build_from::<_, &str, &str>([]).expect("configuration");
        Arc::new(ArenaManager::heap_backed(&config, 1).expect("allocator"))
    }))
}

/// Reads operations and their arguments from the fuzzer's bytes (zeros once they run out).
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(first)
    }

    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.byte())
    }

    fn u16(&mut self) -> usize {
        usize::from(u16::from_le_bytes(self.array()))
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// An offset or length a caller might pass: mostly near the page, often at the integer
    /// limits (`usize::MAX - k`, negative values cast from `i64`/`i32`, `i32::MAX`), sometimes any
    /// 64-bit value.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the casts a port would write (64-bit host)"
    )]
    fn position(&mut self, size: usize) -> usize {
        let mode = self.byte();
        let k = usize::from(self.byte() % 16);
        match mode % 10 {
            0..=3 => self.u16() % (size + 17),
            4 => size.saturating_sub(k),
            5 => size + k,
            6 => usize::MAX - k,
            7 => (-(k as i64) - 1) as usize, // a negative index cast from a signed type
            8 => match k % 3 {
                0 => i32::MAX as usize - k,
                1 => i64::from(i32::MIN) as usize,
                _ => (i32::MIN + k as i32) as usize,
            },
            _ => self.u64() as usize,
        }
    }

    /// A small length (for buffers the check allocates).
    fn small(&mut self, size: usize) -> usize {
        self.u16() % (size + 17)
    }
}

/// The low byte of `k` (a fill pattern).
fn low_byte(k: usize) -> u8 {
    k.to_le_bytes()[0]
}

/// The model of one page.
struct Model {
    bytes: Vec<u8>,
    revoked: bool,
    owner: u64,
    address: usize,
}

impl Model {
    fn released(&self) -> SegmentError {
        SegmentError::Released { owner: self.owner, address: self.address }
    }

    /// The range `offset..offset + len`, or the error the page must give.
    fn range(&self, offset: usize, len: usize) -> Result<Range<usize>, SegmentError> {
        let size = self.bytes.len();
        if len <= size && offset <= size - len {
            Ok(offset..offset + len)
        } else {
            Err(SegmentError::OutOfBounds { offset, len, size })
        }
    }
}

/// The range `offset..offset + len` of a caller's slice of `size` bytes, or the error.
fn slice_range(size: usize, offset: usize, len: usize) -> Result<Range<usize>, SegmentError> {
    if len <= size && offset <= size - len {
        Ok(offset..offset + len)
    } else {
        Err(SegmentError::SliceOutOfBounds { offset, len, size })
    }
}

/// What an operation must do: the ranges it touches if it is allowed, or the errors it may give
/// (`Released` of any revoked page involved, else any of the offending ranges' errors).
enum Expect<T> {
    Ok(T),
    Refused(Vec<SegmentError>),
}

/// Decides an operation over `pages` (the models involved) and `ranges` (each a page's range or
/// a caller's slice range, already computed).
fn expect<const N: usize>(
    pages: &[&Model],
    ranges: [Result<Range<usize>, SegmentError>; N],
) -> Expect<[Range<usize>; N]> {
    let released: Vec<_> = pages.iter().filter(|m| m.revoked).map(|m| m.released()).collect();
    if !released.is_empty() {
        return Expect::Refused(released);
    }
    let errors: Vec<_> = ranges.iter().filter_map(|r| r.as_ref().err().cloned()).collect();
    if !errors.is_empty() {
        return Expect::Refused(errors);
    }
    Expect::Ok(ranges.map(|r| r.unwrap_or_else(|_| unreachable!("no errors"))))
}

/// Checks a refused call's error against the allowed ones.
fn refused<T: std::fmt::Debug>(what: &str, actual: Result<T, SegmentError>, allowed: &[SegmentError]) {
    match actual {
        Err(e) if allowed.contains(&e) => {}
        other => panic!("{what}: expected one of {allowed:?}, got {other:?}"),
    }
}

/// Checks a refused stream call: the `SegmentError` inside an `io::Error` of the documented kind.
fn refused_io(what: &str, actual: std::io::Result<()>, allowed: &[SegmentError]) {
    let e = match actual {
        Ok(()) => panic!("{what}: expected one of {allowed:?}, got Ok"),
        Err(e) => e,
    };
    let kind = e.kind();
    let inner = e.into_inner().and_then(|b| b.downcast::<SegmentError>().ok()).map(|b| *b);
    match inner {
        Some(inner) if allowed.contains(&inner) => {
            let want =
                if matches!(inner, SegmentError::Released { .. }) { ErrorKind::Other } else { ErrorKind::InvalidInput };
            assert_eq!(kind, want, "{what}: {inner}");
        }
        other => panic!("{what}: expected one of {allowed:?} inside an io::Error, got {kind:?} {other:?}"),
    }
}

/// A typed value in three byte orders (0 native, 1 little-endian, 2 big-endian).
trait Value: Copy + std::fmt::Debug {
    fn decode(bytes: &[u8], order: usize) -> Self;
    fn encode(self, order: usize) -> Vec<u8>;
}

macro_rules! value {
    ($($ty:ty),+) => {$(
        impl Value for $ty {
            fn decode(bytes: &[u8], order: usize) -> Self {
                let bytes = bytes.try_into().expect("the value's width");
                match order {
                    0 => <$ty>::from_ne_bytes(bytes),
                    1 => <$ty>::from_le_bytes(bytes),
                    _ => <$ty>::from_be_bytes(bytes),
                }
            }
            fn encode(self, order: usize) -> Vec<u8> {
                match order {
                    0 => self.to_ne_bytes().to_vec(),
                    1 => self.to_le_bytes().to_vec(),
                    _ => self.to_be_bytes().to_vec(),
                }
            }
        }
    )+};
}
value!(u8, i8, i16, u16, i32, u32, i64, u64, f32, f64);

type Get<'o, T> = fn(&MemorySegment<'o>, usize) -> Result<T, SegmentError>;
type Put<'o, T> = fn(&mut MemorySegment<'o>, usize, T) -> Result<(), SegmentError>;

/// A typed get or put (in the order the input picks) at an offset the input picks.
fn typed<'o, T: Value>(
    page: &mut MemorySegment<'o>,
    model: &mut Model,
    input: &mut Input<'_>,
    get: [Get<'o, T>; 3],
    put: [Put<'o, T>; 3],
) {
    let width = std::mem::size_of::<T>();
    let order = usize::from(input.byte() % 3);
    let is_put = input.byte() % 2 == 1;
    let offset = input.position(model.bytes.len());
    let raw: [u8; 8] = input.array();
    let value = T::decode(&raw[..width], 1);
    let what =
        format!("{}{} order {order} at {offset:#x}", if is_put { "put " } else { "get " }, std::any::type_name::<T>());
    match (expect(&[&*model], [model.range(offset, width)]), is_put) {
        (Expect::Ok([r]), false) => {
            let got = get[order](page, offset).unwrap_or_else(|e| panic!("{what}: {e}"));
            // Compared as bytes, so that NaNs compare too.
            assert_eq!(got.encode(1), T::decode(&model.bytes[r], order).encode(1), "{what}");
        }
        (Expect::Ok([r]), true) => {
            put[order](page, offset, value).unwrap_or_else(|e| panic!("{what}: {e}"));
            model.bytes[r].copy_from_slice(&value.encode(order));
        }
        (Expect::Refused(allowed), false) => refused(&what, get[order](page, offset), &allowed),
        (Expect::Refused(allowed), true) => refused(&what, put[order](page, offset, value), &allowed),
    }
}

/// A reader that hands out at most `chunk` bytes per call (so `read_exact` takes several).
struct Chunked {
    data: Vec<u8>,
    at: usize,
    chunk: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Runs one operation. `pages[i]` is modelled by `models[i]`.
#[expect(clippy::too_many_lines, reason = "one arm per operation, each short")]
fn step<'o>(
    op: u8,
    input: &mut Input<'_>,
    mm: &MemoryManager,
    owners: &'o [numaseg::MemoryOwner; 2],
    pages: &mut [MemorySegment<'o>; 2],
    models: &mut [Model; 2],
) {
    let i = usize::from(input.byte() % 2);
    let size = models[i].bytes.len();
    match op % 24 {
        // Typed values: every type in every byte order.
        0 => typed::<i16>(
            &mut pages[i],
            &mut models[i],
            input,
            [MemorySegment::get_i16, MemorySegment::get_i16_le, MemorySegment::get_i16_be],
            [MemorySegment::put_i16, MemorySegment::put_i16_le, MemorySegment::put_i16_be],
        ),
        1 => typed::<u16>(
            &mut pages[i],
            &mut models[i],
            input,
            [MemorySegment::get_u16, MemorySegment::get_u16_le, MemorySegment::get_u16_be],
            [MemorySegment::put_u16, MemorySegment::put_u16_le, MemorySegment::put_u16_be],
        ),
        2 => typed::<i32>(
            &mut pages[i],
            &mut models[i],
            input,
            [MemorySegment::get_i32, MemorySegment::get_i32_le, MemorySegment::get_i32_be],
            [MemorySegment::put_i32, MemorySegment::put_i32_le, MemorySegment::put_i32_be],
        ),
        3 => typed::<u32>(
            &mut pages[i],
            &mut models[i],
            input,
            [MemorySegment::get_u32, MemorySegment::get_u32_le, MemorySegment::get_u32_be],
            [MemorySegment::put_u32, MemorySegment::put_u32_le, MemorySegment::put_u32_be],
        ),
        4 => typed::<i64>(
            &mut pages[i],
            &mut models[i],
            input,
            [MemorySegment::get_i64, MemorySegment::get_i64_le, MemorySegment::get_i64_be],
            [MemorySegment::put_i64, MemorySegment::put_i64_le, MemorySegment::put_i64_be],
        ),
        5 => typed::<u64>(
            &mut pages[i],
            &mut models[i],
            input,
            [MemorySegment::get_u64, MemorySegment::get_u64_le, MemorySegment::get_u64_be],
            [MemorySegment::put_u64, MemorySegment::put_u64_le, MemorySegment::put_u64_be],
        ),
        6 => typed::<f32>(
            &mut pages[i],
            &mut models[i],
            input,
            [MemorySegment::get_f32, MemorySegment::get_f32_le, MemorySegment::get_f32_be],
            [MemorySegment::put_f32, MemorySegment::put_f32_le, MemorySegment::put_f32_be],
        ),
        7 => typed::<f64>(
            &mut pages[i],
            &mut models[i],
            input,
            [MemorySegment::get_f64, MemorySegment::get_f64_le, MemorySegment::get_f64_be],
            [MemorySegment::put_f64, MemorySegment::put_f64_le, MemorySegment::put_f64_be],
        ),
        // Bytes and booleans (one order).
        8 => typed::<u8>(&mut pages[i], &mut models[i], input, [MemorySegment::get_u8; 3], [MemorySegment::put_u8; 3]),
        9 => typed::<i8>(&mut pages[i], &mut models[i], input, [MemorySegment::get_i8; 3], [MemorySegment::put_i8; 3]),
        10 => {
            let (page, model) = (&mut pages[i], &mut models[i]);
            let offset = input.position(size);
            let value = input.byte() % 2 == 1;
            match expect(&[&*model], [model.range(offset, 1)]) {
                Expect::Ok([r]) => {
                    assert_eq!(page.get_bool(offset), Ok(model.bytes[r.start] != 0), "get_bool({offset})");
                    page.put_bool(offset, value).unwrap_or_else(|e| panic!("put_bool({offset}): {e}"));
                    model.bytes[r.start] = u8::from(value);
                }
                Expect::Refused(allowed) => {
                    refused("get_bool", page.get_bool(offset), &allowed);
                    refused("put_bool", page.put_bool(offset, value), &allowed);
                }
            }
        }
        // Bulk transfers to and from the caller's slices.
        11 => {
            let (page, model) = (&mut pages[i], &mut models[i]);
            let offset = input.position(size);
            let mut dst = vec![0xa5; input.small(size)];
            match expect(&[&*model], [model.range(offset, dst.len())]) {
                Expect::Ok([r]) => {
                    page.get_bytes(offset, &mut dst).unwrap_or_else(|e| panic!("get_bytes: {e}"));
                    assert_eq!(dst, model.bytes[r], "get_bytes({offset})");
                }
                Expect::Refused(allowed) => {
                    refused("get_bytes", page.get_bytes(offset, &mut dst), &allowed);
                    assert!(dst.iter().all(|&b| b == 0xa5), "a refused get_bytes wrote to its target");
                }
            }
        }
        12 => {
            let (page, model) = (&mut pages[i], &mut models[i]);
            let offset = input.position(size);
            let fill = input.byte();
            let src: Vec<u8> = (0..input.small(size)).map(|k| fill.wrapping_add(low_byte(k))).collect();
            match expect(&[&*model], [model.range(offset, src.len())]) {
                Expect::Ok([r]) => {
                    page.put_bytes(offset, &src).unwrap_or_else(|e| panic!("put_bytes: {e}"));
                    model.bytes[r].copy_from_slice(&src);
                }
                Expect::Refused(allowed) => refused("put_bytes", page.put_bytes(offset, &src), &allowed),
            }
        }
        13 => {
            let (page, model) = (&mut pages[i], &mut models[i]);
            let (offset, dst_offset, len) = (input.position(size), input.position(size), input.position(size));
            let mut dst = vec![0x3c; input.small(size)];
            let before = dst.clone();
            match expect(&[&*model], [model.range(offset, len), slice_range(dst.len(), dst_offset, len)]) {
                Expect::Ok([r, into]) => {
                    page.get_bytes_at(offset, &mut dst, dst_offset, len)
                        .unwrap_or_else(|e| panic!("get_bytes_at: {e}"));
                    assert_eq!(dst[into.clone()], model.bytes[r], "get_bytes_at({offset}, {dst_offset}, {len})");
                    assert!(
                        dst[..into.start].iter().chain(&dst[into.end..]).all(|&b| b == 0x3c),
                        "get_bytes_at wrote outside its range"
                    );
                }
                Expect::Refused(allowed) => {
                    refused("get_bytes_at", page.get_bytes_at(offset, &mut dst, dst_offset, len), &allowed);
                    assert_eq!(dst, before, "a refused get_bytes_at wrote to its target");
                }
            }
        }
        14 => {
            let (page, model) = (&mut pages[i], &mut models[i]);
            let (offset, src_offset, len) = (input.position(size), input.position(size), input.position(size));
            let fill = input.byte();
            let src: Vec<u8> = (0..input.small(size)).map(|k| fill ^ low_byte(k)).collect();
            match expect(&[&*model], [model.range(offset, len), slice_range(src.len(), src_offset, len)]) {
                Expect::Ok([r, from]) => {
                    page.put_bytes_at(offset, &src, src_offset, len).unwrap_or_else(|e| panic!("put_bytes_at: {e}"));
                    model.bytes[r].copy_from_slice(&src[from]);
                }
                Expect::Refused(allowed) => {
                    refused("put_bytes_at", page.put_bytes_at(offset, &src, src_offset, len), &allowed)
                }
            }
        }
        // Between pages: copy, compare, equality, swap.
        15 => {
            let (offset, target_offset, len) = (input.position(size), input.position(size), input.position(size));
            let [a, b] = pages;
            let [ma, mb] = models;
            let ((src, ms), (dst, md)) = if i == 0 { ((a, ma), (b, mb)) } else { ((b, mb), (a, ma)) };
            match expect(&[&*ms, &*md], [ms.range(offset, len), md.range(target_offset, len)]) {
                Expect::Ok([from, to]) => {
                    src.copy_to(offset, dst, target_offset, len).unwrap_or_else(|e| panic!("copy_to: {e}"));
                    let bytes = ms.bytes[from].to_vec();
                    md.bytes[to].copy_from_slice(&bytes);
                }
                Expect::Refused(allowed) => refused("copy_to", src.copy_to(offset, dst, target_offset, len), &allowed),
            }
        }
        16 => {
            let (page, model) = (&mut pages[i], &mut models[i]);
            let (src_offset, dst_offset, len) = (input.position(size), input.position(size), input.position(size));
            match expect(&[&*model], [model.range(src_offset, len), model.range(dst_offset, len)]) {
                Expect::Ok([from, _]) => {
                    page.copy_within(src_offset, dst_offset, len).unwrap_or_else(|e| panic!("copy_within: {e}"));
                    model.bytes.copy_within(from, dst_offset);
                }
                Expect::Refused(allowed) => {
                    refused("copy_within", page.copy_within(src_offset, dst_offset, len), &allowed)
                }
            }
        }
        17 | 18 => {
            // `other` is the other page, or the page itself.
            let j = if input.byte().is_multiple_of(3) { i } else { 1 - i };
            let (offset1, offset2) = (input.position(size), input.position(size));
            let (len1, len2) = (input.position(size), input.position(size));
            let (page, other) = (&pages[i], &pages[j]);
            let (m1, m2) = (&models[i], &models[j]);
            if op % 24 == 17 {
                match expect(&[m1, m2], [m1.range(offset1, len1), m2.range(offset2, len2)]) {
                    Expect::Ok([a, b]) => {
                        let got = page
                            .compare(other, offset1, offset2, len1, len2)
                            .unwrap_or_else(|e| panic!("compare: {e}"));
                        let want: Ordering = m1.bytes[a].cmp(&m2.bytes[b]);
                        assert_eq!(got, want, "compare({offset1}, {offset2}, {len1}, {len2})");
                    }
                    Expect::Refused(allowed) => {
                        refused("compare", page.compare(other, offset1, offset2, len1, len2), &allowed)
                    }
                }
            } else {
                match expect(&[m1, m2], [m1.range(offset1, len1), m2.range(offset2, len1)]) {
                    Expect::Ok([a, b]) => {
                        let got =
                            page.equal_to(other, offset1, offset2, len1).unwrap_or_else(|e| panic!("equal_to: {e}"));
                        assert_eq!(got, m1.bytes[a] == m2.bytes[b], "equal_to({offset1}, {offset2}, {len1})");
                    }
                    Expect::Refused(allowed) => {
                        refused("equal_to", page.equal_to(other, offset1, offset2, len1), &allowed)
                    }
                }
            }
        }
        19 => {
            let (offset1, offset2, len) = (input.position(size), input.position(size), input.position(size));
            let [a, b] = pages;
            let [ma, mb] = models;
            let ((p, mp), (q, mq)) = if i == 0 { ((a, ma), (b, mb)) } else { ((b, mb), (a, ma)) };
            match expect(&[&*mp, &*mq], [mp.range(offset1, len), mq.range(offset2, len)]) {
                Expect::Ok([r1, r2]) => {
                    p.swap_bytes(q, offset1, offset2, len).unwrap_or_else(|e| panic!("swap_bytes: {e}"));
                    mp.bytes[r1].swap_with_slice(&mut mq.bytes[r2]);
                }
                Expect::Refused(allowed) => refused("swap_bytes", p.swap_bytes(q, offset1, offset2, len), &allowed),
            }
        }
        // Streams.
        20 => {
            let (page, model) = (&mut pages[i], &mut models[i]);
            let (offset, len) = (input.position(size), input.position(size));
            let fill = input.byte();
            let available = input.small(size);
            let chunk = 1 + usize::from(input.byte());
            let mut reader =
                Chunked { data: (0..available).map(|k| fill.wrapping_mul(low_byte(k))).collect(), at: 0, chunk };
            match expect(&[&*model], [model.range(offset, len)]) {
                Expect::Ok([r]) => match page.read_from(offset, len, &mut reader) {
                    Ok(()) => {
                        assert!(available >= len, "read_from({offset}, {len}) from a stream of {available} bytes");
                        model.bytes[r].copy_from_slice(&reader.data[..len]);
                    }
                    Err(e) => {
                        assert!(
                            available < len && e.kind() == ErrorKind::UnexpectedEof,
                            "read_from({offset}, {len}): {e}"
                        );
                        // What a failed `read_exact` left in its range is unspecified; outside
                        // the range nothing may change (checked after the step).
                        let now = page.slice(offset, len).unwrap_or_else(|e| panic!("slice: {e}")).to_vec();
                        model.bytes[r].copy_from_slice(&now);
                    }
                },
                Expect::Refused(allowed) => {
                    refused_io("read_from", page.read_from(offset, len, &mut reader), &allowed);
                    assert_eq!(reader.at, 0, "a refused read_from read from its stream");
                }
            }
        }
        21 => {
            let (page, model) = (&pages[i], &models[i]);
            let (offset, len) = (input.position(size), input.position(size));
            let bounded = input.byte() % 2 == 1;
            let capacity = input.small(size);
            match expect(&[model], [model.range(offset, len)]) {
                Expect::Ok([r]) if bounded => {
                    let mut out = vec![0u8; capacity];
                    let result = page.write_to(offset, len, &mut out.as_mut_slice());
                    let n = len.min(capacity);
                    assert_eq!(out[..n], model.bytes[r.start..r.start + n], "write_to({offset}, {len})");
                    match result {
                        Ok(()) => assert!(len <= capacity),
                        Err(e) => assert!(len > capacity && e.kind() == ErrorKind::WriteZero, "write_to: {e}"),
                    }
                }
                Expect::Ok([r]) => {
                    let mut out = Vec::new();
                    page.write_to(offset, len, &mut out).unwrap_or_else(|e| panic!("write_to: {e}"));
                    assert_eq!(out, model.bytes[r], "write_to({offset}, {len})");
                }
                Expect::Refused(allowed) => {
                    let mut out = Vec::new();
                    refused_io("write_to", page.write_to(offset, len, &mut out), &allowed);
                    assert!(out.is_empty(), "a refused write_to wrote to its stream");
                }
            }
        }
        // Views.
        22 => {
            let (page, model) = (&mut pages[i], &mut models[i]);
            let (offset, len) = (input.position(size), input.position(size));
            let fill = input.byte();
            match expect(&[&*model], [model.range(offset, len)]) {
                Expect::Ok([r]) => {
                    assert_eq!(
                        page.slice(offset, len).unwrap_or_else(|e| panic!("slice: {e}")),
                        &model.bytes[r.clone()]
                    );
                    page.slice_mut(offset, len).unwrap_or_else(|e| panic!("slice_mut: {e}")).fill(fill);
                    model.bytes[r].fill(fill);
                    assert_eq!(page.as_slice().unwrap_or_else(|e| panic!("as_slice: {e}")), &model.bytes[..]);
                    if let Some(at) = offset.checked_add(len).filter(|&at| at < size) {
                        page.as_mut_slice().unwrap_or_else(|e| panic!("as_mut_slice: {e}"))[at] = fill;
                        model.bytes[at] = fill;
                    }
                }
                Expect::Refused(allowed) => {
                    refused("slice", page.slice(offset, len), &allowed);
                    refused("slice_mut", page.slice_mut(offset, len), &allowed);
                    if model.revoked {
                        refused("as_slice", page.as_slice(), &allowed);
                        refused("as_mut_slice", page.as_mut_slice(), &allowed);
                    }
                }
            }
        }
        // Revocation, and a fresh page in place of a revoked one.
        _ => {
            if input.byte().is_multiple_of(2) {
                mm.release_all(&owners[i]);
                models[i].revoked = true;
            } else {
                let fresh = mm.allocate_page(&owners[i]).unwrap_or_else(|e| panic!("allocate_page: {e}"));
                std::mem::replace(&mut pages[i], fresh).release();
                models[i] = model_of(&pages[i]);
            }
        }
    }
}

fn model_of(page: &MemorySegment<'_>) -> Model {
    Model {
        bytes: page.as_slice().unwrap_or_else(|e| panic!("a fresh page: {e}")).to_vec(),
        revoked: false,
        owner: page.owner_id(),
        address: page.as_ptr() as usize,
    }
}

/// Every live page equals its model; a revoked one refuses even its whole-page view.
fn assert_models(pages: &[MemorySegment<'_>; 2], models: &[Model; 2]) {
    for (page, model) in pages.iter().zip(models) {
        assert_eq!(page.is_released(), model.revoked);
        assert_eq!(page.size(), model.bytes.len());
        if model.revoked {
            assert_eq!(page.as_slice().map(<[u8]>::len), Err(model.released()));
            assert_eq!(page.get_u8(usize::MAX), Err(model.released()), "revocation is checked before the bounds");
        } else {
            assert!(page.as_slice().is_ok_and(|s| s == &model.bytes[..]), "the page differs from its model");
        }
    }
}

/// The property. Panics on a violation.
pub fn check(data: &[u8]) {
    let mut input = Input { data };
    let arena = arena();
    let page_size = 4096 << (input.byte() % 3);
    let mm = MemoryManager::builder(Arc::clone(&arena))
        .memory_size(8 * page_size)
        .page_size(page_size)
        .build()
        .expect("manager");
    {
        let owners = [mm.owner("a", UseCase::Operator), mm.owner("b", UseCase::StateBackend)];
        let mut pages = [mm.allocate_page(&owners[0]).expect("page a"), mm.allocate_page(&owners[1]).expect("page b")];
        let mut models = [model_of(&pages[0]), model_of(&pages[1])];
        while let Some(op) = input.next() {
            step(op, &mut input, &mm, &owners, &mut pages, &mut models);
            assert_models(&pages, &models);
        }
        drop(pages);
        for owner in owners {
            assert!(owner.close().is_clean());
        }
    }
    assert!(mm.verify_empty(), "{:?}", mm.stats());
    assert_eq!(arena.stats().used_segments(), 0, "every page went back to the allocator");
}
