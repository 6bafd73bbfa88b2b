//! `MemorySegment` through the public API: the behaviours of Flink's `MemorySegmentTestBase`
//! re-expressed — bounds at the integer limits (offsets near `usize::MAX` and `i32::MAX`,
//! negative indices cast from signed types), every typed accessor in every byte order at
//! unaligned offsets, bulk transfers to slices, segments and streams, unsigned comparison with
//! different lengths, byte swaps, views — plus revocation, which is checked before the bounds.

use std::cmp::Ordering;
use std::io::ErrorKind;
use std::sync::Arc;

use numaseg::manager::UseCase;
use numaseg::{ArenaManager, Config, MemoryManager, MemoryOwner, MemorySegment, SegmentError};

/// 32 KiB pages, as Flink's default page size.
const PAGE: usize = 32 << 10;

fn manager() -> MemoryManager {
    let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1).unwrap());
    MemoryManager::builder(arena).memory_size(4 << 20).page_size(PAGE).build().unwrap()
}

/// Offsets a port from Java or C might pass: the limits of `usize`, `i32` and `i64`, negative
/// values cast to `usize` (two's complement: huge offsets), and the first ones past the end.
#[expect(clippy::cast_possible_truncation, reason = "the casts a port would write, on purpose (64-bit host)")]
fn hostile_offsets(size: usize) -> Vec<usize> {
    vec![
        size,
        size + 1,
        i32::MAX as usize,
        (i32::MAX - 1) as usize,
        i64::from(i32::MIN) as usize, // a negative index cast from i32
        -1i32 as usize,
        -2i64 as usize,
        i64::MAX as usize,
        usize::MAX,
        usize::MAX - 1,
        usize::MAX - 7,
        usize::MAX / 2 + 1,
    ]
}

fn out_of_bounds(offset: usize, len: usize) -> SegmentError {
    SegmentError::OutOfBounds { offset, len, size: PAGE }
}

/// A deterministic random generator per test.
fn rng(seed: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed)
}

#[test]
fn byte_and_bool_access_refuse_every_offset_past_the_end() {
    let mm = manager();
    let owner = mm.owner("bytes", UseCase::Operator);
    let mut page = mm.allocate_page(&owner).unwrap();
    page.as_mut_slice().unwrap().fill(0x5a);
    for offset in hostile_offsets(PAGE) {
        assert_eq!(page.get_u8(offset), Err(out_of_bounds(offset, 1)), "{offset:#x}");
        assert_eq!(page.put_u8(offset, 1), Err(out_of_bounds(offset, 1)), "{offset:#x}");
        assert_eq!(page.get_i8(offset), Err(out_of_bounds(offset, 1)), "{offset:#x}");
        assert_eq!(page.put_i8(offset, -1), Err(out_of_bounds(offset, 1)), "{offset:#x}");
        assert_eq!(page.get_bool(offset), Err(out_of_bounds(offset, 1)), "{offset:#x}");
        assert_eq!(page.put_bool(offset, true), Err(out_of_bounds(offset, 1)), "{offset:#x}");
    }
    // Nothing refused above wrote anything; the last byte is fine.
    assert!(page.as_slice().unwrap().iter().all(|&b| b == 0x5a));
    page.put_u8(PAGE - 1, 7).unwrap();
    assert_eq!(page.get_u8(PAGE - 1), Ok(7));
}

#[test]
fn bytes_and_bools_round_trip_sequentially_and_at_random() {
    let mm = manager();
    let owner = mm.owner("bytes", UseCase::Operator);
    let mut page = mm.allocate_page(&owner).unwrap();
    let mut r = rng(643_196_033_469_871);
    let expected: Vec<u8> = (0..PAGE).map(|_| r.u8(..)).collect();
    for (i, &b) in expected.iter().enumerate() {
        page.put_u8(i, b).unwrap();
    }
    for (i, &b) in expected.iter().enumerate() {
        assert_eq!(page.get_u8(i), Ok(b));
        assert_eq!(page.get_i8(i), Ok(b as i8));
        assert_eq!(page.get_bool(i), Ok(b != 0));
    }
    // Random positions, each written once (as Flink's `occupied` array).
    let mut occupied = vec![false; PAGE];
    let mut written = Vec::new();
    for _ in 0..1000 {
        let pos = r.usize(..PAGE);
        if !std::mem::replace(&mut occupied[pos], true) {
            let v = r.bool();
            page.put_bool(pos, v).unwrap();
            written.push((pos, v));
        }
    }
    for (pos, v) in written {
        assert_eq!(page.get_bool(pos), Ok(v));
        assert_eq!(page.get_u8(pos), Ok(u8::from(v)), "booleans are stored as 1 and 0");
    }
}

/// For one type: bounds at every hostile offset and at `size - N + 1`, unaligned round trips in
/// every byte order, the exact byte layout of each order, and order conversions.
macro_rules! typed_test {
    ($name:ident, $ty:ident, $n:expr, $random:expr,
     $get:ident $put:ident, $get_le:ident $put_le:ident, $get_be:ident $put_be:ident) => {
        #[test]
        fn $name() {
            let mm = manager();
            let owner = mm.owner(stringify!($name), UseCase::Operator);
            let mut page = mm.allocate_page(&owner).unwrap();
            let random: fn(&mut fastrand::Rng) -> $ty = $random;
            let n: usize = $n;

            // Bounds: the last position that fits, the first that does not, and the limits.
            let mut offsets = hostile_offsets(PAGE);
            offsets.extend([PAGE - n + 1, PAGE - 1]);
            for offset in offsets {
                let e = Err(out_of_bounds(offset, n));
                assert_eq!(page.$get(offset).map(|_| ()), e.clone(), "{offset:#x}");
                assert_eq!(page.$get_le(offset).map(|_| ()), e.clone(), "{offset:#x}");
                assert_eq!(page.$get_be(offset).map(|_| ()), e.clone(), "{offset:#x}");
                let v = random(&mut rng(1));
                assert_eq!(page.$put(offset, v), e.clone(), "{offset:#x}");
                assert_eq!(page.$put_le(offset, v), e.clone(), "{offset:#x}");
                assert_eq!(page.$put_be(offset, v), e, "{offset:#x}");
            }
            assert!(page.$get(PAGE - n).is_ok());

            // Sequential, aligned and not: every offset from 0 to 2 * N - 1 as a start.
            for order in 0..3 {
                for start in 0..2 * n {
                    let seed = (start * 3 + order) as u64;
                    let mut r = rng(seed);
                    let mut pos = start;
                    while pos + n <= PAGE {
                        let v = random(&mut r);
                        match order {
                            0 => page.$put(pos, v).unwrap(),
                            1 => page.$put_le(pos, v).unwrap(),
                            _ => page.$put_be(pos, v).unwrap(),
                        }
                        pos += n;
                    }
                    let mut r = rng(seed);
                    let mut pos = start;
                    while pos + n <= PAGE {
                        let v = random(&mut r);
                        let got = match order {
                            0 => page.$get(pos).unwrap(),
                            1 => page.$get_le(pos).unwrap(),
                            _ => page.$get_be(pos).unwrap(),
                        };
                        assert_eq!(got.to_bits_or_self(), v.to_bits_or_self(), "order {order} at {pos}");
                        pos += n;
                    }
                }
            }

            // Random, possibly overlapping positions: the last write wins, checked against a
            // model of the page's bytes.
            let mut model = page.as_slice().unwrap().to_vec();
            let mut r = rng(99);
            for _ in 0..2000 {
                let pos = r.usize(..=PAGE - n);
                let v = random(&mut r);
                match r.u8(..3) {
                    0 => {
                        page.$put(pos, v).unwrap();
                        model[pos..pos + n].copy_from_slice(&v.to_ne_bytes());
                    }
                    1 => {
                        page.$put_le(pos, v).unwrap();
                        model[pos..pos + n].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => {
                        page.$put_be(pos, v).unwrap();
                        model[pos..pos + n].copy_from_slice(&v.to_be_bytes());
                    }
                }
            }
            assert_eq!(page.as_slice().unwrap(), &model[..]);

            // The byte layout of each order, and conversions between orders.
            let v = random(&mut rng(7));
            page.$put_le(3, v).unwrap();
            assert_eq!(page.slice(3, n).unwrap(), &v.to_le_bytes());
            assert_eq!(
                page.$get_be(3).unwrap().to_bits_or_self(),
                <$ty>::from_be_bytes(v.to_le_bytes()).to_bits_or_self()
            );
            page.$put_be(5, v).unwrap();
            assert_eq!(page.slice(5, n).unwrap(), &v.to_be_bytes());
            page.$put(9, v).unwrap();
            let native = if cfg!(target_endian = "little") { v.to_le_bytes() } else { v.to_be_bytes() };
            assert_eq!(page.slice(9, n).unwrap(), &native);
        }
    };
}

/// Compare floats by their bits (NaN payloads included), integers as they are.
trait BitsOrSelf {
    type Out: PartialEq + std::fmt::Debug;
    fn to_bits_or_self(self) -> Self::Out;
}
macro_rules! bits_or_self {
    ($($t:ty => $out:ty, $f:expr;)+) => {$(
        impl BitsOrSelf for $t {
            type Out = $out;
            fn to_bits_or_self(self) -> $out {
                let f: fn($t) -> $out = $f;
                f(self)
            }
        }
    )+};
}
bits_or_self! {
    i16 => i16, |v| v;
    u16 => u16, |v| v;
    i32 => i32, |v| v;
    u32 => u32, |v| v;
    i64 => i64, |v| v;
    u64 => u64, |v| v;
    f32 => u32, f32::to_bits;
    f64 => u64, f64::to_bits;
}

typed_test!(i16_in_every_order, i16, 2, |r| r.i16(..), get_i16 put_i16, get_i16_le put_i16_le, get_i16_be put_i16_be);
typed_test!(u16_in_every_order, u16, 2, |r| r.u16(..), get_u16 put_u16, get_u16_le put_u16_le, get_u16_be put_u16_be);
typed_test!(i32_in_every_order, i32, 4, |r| r.i32(..), get_i32 put_i32, get_i32_le put_i32_le, get_i32_be put_i32_be);
typed_test!(u32_in_every_order, u32, 4, |r| r.u32(..), get_u32 put_u32, get_u32_le put_u32_le, get_u32_be put_u32_be);
typed_test!(i64_in_every_order, i64, 8, |r| r.i64(..), get_i64 put_i64, get_i64_le put_i64_le, get_i64_be put_i64_be);
typed_test!(u64_in_every_order, u64, 8, |r| r.u64(..), get_u64 put_u64, get_u64_le put_u64_le, get_u64_be put_u64_be);
// Floats from random bits: every value, NaNs and infinities included, must round-trip bit-exactly.
typed_test!(f32_in_every_order, f32, 4, |r| f32::from_bits(r.u32(..)), get_f32 put_f32, get_f32_le put_f32_le, get_f32_be put_f32_be);
typed_test!(f64_in_every_order, f64, 8, |r| f64::from_bits(r.u64(..)), get_f64 put_f64, get_f64_le put_f64_le, get_f64_be put_f64_be);

#[test]
fn bulk_transfers_check_both_sides_without_overflow() {
    let mm = manager();
    let owner = mm.owner("bulk", UseCase::Operator);
    let mut page = mm.allocate_page(&owner).unwrap();
    let src: Vec<u8> = (0..=255u8).cycle().take(1000).collect();

    // Whole-slice forms: the slice's length is the length.
    page.put_bytes(PAGE - 1000, &src).unwrap();
    let mut dst = vec![0u8; 1000];
    page.get_bytes(PAGE - 1000, &mut dst).unwrap();
    assert_eq!(dst, src);
    for offset in hostile_offsets(PAGE).into_iter().chain([PAGE - 999]) {
        assert_eq!(page.put_bytes(offset, &src), Err(out_of_bounds(offset, 1000)), "{offset:#x}");
        assert_eq!(page.get_bytes(offset, &mut dst), Err(out_of_bounds(offset, 1000)), "{offset:#x}");
    }
    // An empty transfer at the very end is fine; one byte past it is not.
    assert_eq!(page.get_bytes(PAGE, &mut [0u8; 0]), Ok(()));
    assert_eq!(page.put_bytes(PAGE + 1, &[]), Err(out_of_bounds(PAGE + 1, 0)));

    // Offset-and-length forms: the segment is checked first, then the slice.
    let mut out = vec![0u8; 64];
    page.get_bytes_at(PAGE - 1000, &mut out, 10, 20).unwrap();
    assert_eq!(&out[10..30], &src[..20]);
    assert!(out[..10].iter().chain(&out[30..]).all(|&b| b == 0), "nothing outside the range is written");
    for (dst_offset, len) in
        [(65, 0), (0, 65), (60, 5), (usize::MAX, 1), (1, usize::MAX), (usize::MAX, usize::MAX), (-1i32 as usize, 2)]
    {
        let expect = if len > PAGE {
            SegmentError::OutOfBounds { offset: 0, len, size: PAGE }
        } else {
            SegmentError::SliceOutOfBounds { offset: dst_offset, len, size: 64 }
        };
        assert_eq!(page.get_bytes_at(0, &mut out, dst_offset, len), Err(expect.clone()), "{dst_offset} {len}");
        assert_eq!(page.put_bytes_at(0, &out.clone(), dst_offset, len), Err(expect), "{dst_offset} {len}");
    }
    for offset in hostile_offsets(PAGE) {
        assert_eq!(page.get_bytes_at(offset, &mut out, 0, 4), Err(out_of_bounds(offset, 4)));
        assert_eq!(page.put_bytes_at(offset, &src, 0, 4), Err(out_of_bounds(offset, 4)));
    }
    page.put_bytes_at(7, &src, 100, 50).unwrap();
    assert_eq!(page.slice(7, 50).unwrap(), &src[100..150]);
}

#[test]
fn copy_to_and_copy_within_move_exactly_the_range() {
    let mm = manager();
    let owner = mm.owner("copy", UseCase::Operator);
    let mut a = mm.allocate_page(&owner).unwrap();
    let mut b = mm.allocate_page(&owner).unwrap();
    let mut r = rng(5);
    let data: Vec<u8> = (0..PAGE).map(|_| r.u8(..)).collect();
    a.put_bytes(0, &data).unwrap();
    b.as_mut_slice().unwrap().fill(0xee);

    a.copy_to(100, &mut b, PAGE - 300, 300).unwrap();
    assert_eq!(b.slice(PAGE - 300, 300).unwrap(), &data[100..400]);
    assert!(b.slice(0, PAGE - 300).unwrap().iter().all(|&x| x == 0xee));
    a.copy_to(0, &mut b, 0, PAGE).unwrap();
    assert!(b.equal_to(&a, 0, 0, PAGE).unwrap());

    for (src, dst, len) in
        [(PAGE - 10, 0, 11), (0, PAGE - 10, 11), (usize::MAX, 0, 1), (0, usize::MAX, 1), (1, 1, usize::MAX)]
    {
        let err = a.copy_to(src, &mut b, dst, len).unwrap_err();
        let SegmentError::OutOfBounds { len: l, size, .. } = err else { panic!("{err:?}") };
        assert_eq!((l, size), (len, PAGE));
    }
    assert_eq!(b.as_slice().unwrap(), &data[..], "refused copies wrote nothing");

    // Within one page, overlapping both ways (memmove semantics).
    a.copy_within(0, 1, 100).unwrap();
    assert_eq!(a.slice(1, 100).unwrap(), &data[..100]);
    a.copy_within(10, 5, 20).unwrap();
    let mut expect = data.clone();
    expect.copy_within(0..100, 1);
    expect.copy_within(10..30, 5);
    assert_eq!(a.slice(0, 200).unwrap(), &expect[..200]);
    assert_eq!(a.copy_within(0, PAGE - 1, 2), Err(out_of_bounds(PAGE - 1, 2)));
    assert_eq!(a.copy_within(usize::MAX, 0, 2), Err(out_of_bounds(usize::MAX, 2)));
}

#[test]
fn compare_is_unsigned_and_orders_a_prefix_first() {
    let mm = manager();
    let owner = mm.owner("compare", UseCase::Operator);
    let mut a = mm.allocate_page(&owner).unwrap();
    let mut b = mm.allocate_page(&owner).unwrap();
    a.put_bytes(0, &[0x10, 0x80, 0x00]).unwrap();
    b.put_bytes(0, &[0x10, 0x7f, 0xff]).unwrap();
    // 0x80 > 0x7f as unsigned bytes (as signed Java bytes it would be less).
    assert_eq!(a.compare(&b, 0, 0, 3, 3), Ok(Ordering::Greater));
    assert_eq!(b.compare(&a, 0, 0, 3, 3), Ok(Ordering::Less));
    // Equal prefixes: the shorter range is less, equal lengths are equal.
    assert_eq!(a.compare(&b, 0, 0, 1, 2), Ok(Ordering::Less));
    assert_eq!(a.compare(&b, 0, 0, 1, 1), Ok(Ordering::Equal));
    assert_eq!(a.compare(&a, 0, 0, 3, 0), Ok(Ordering::Greater));
    assert_eq!(a.compare(&a, 5, 9, 0, 0), Ok(Ordering::Equal));

    // Random ranges of different lengths against the slices' own ordering.
    let mut r = rng(11);
    let fill: Vec<u8> = (0..PAGE).map(|_| r.u8(..4)).collect(); // few values: long common prefixes
    a.put_bytes(0, &fill).unwrap();
    fill.iter().rev().enumerate().for_each(|(i, &x)| b.put_u8(i, x).unwrap());
    for _ in 0..2000 {
        let (len1, len2) = (r.usize(..64), r.usize(..64));
        let (o1, o2) = (r.usize(..=PAGE - len1), r.usize(..=PAGE - len2));
        let expect = a.slice(o1, len1).unwrap().cmp(b.slice(o2, len2).unwrap());
        assert_eq!(a.compare(&b, o1, o2, len1, len2), Ok(expect));
        assert_eq!(b.compare(&a, o2, o1, len2, len1), Ok(expect.reverse()));
        if len1 == len2 {
            assert_eq!(a.equal_to(&b, o1, o2, len1), Ok(expect == Ordering::Equal));
        }
    }
    for (o1, o2, l1, l2) in
        [(PAGE, 0, 1, 1), (0, PAGE, 1, 1), (usize::MAX, 0, 2, 2), (0, 0, usize::MAX, 1), (0, 1, 1, PAGE)]
    {
        assert!(matches!(a.compare(&b, o1, o2, l1, l2), Err(SegmentError::OutOfBounds { .. })), "{o1} {o2} {l1} {l2}");
    }
    assert_eq!(a.equal_to(&b, 0, usize::MAX - 1, 3), Err(out_of_bounds(usize::MAX - 1, 3)));
}

#[test]
fn swap_bytes_exchanges_ranges_or_touches_nothing() {
    let mm = manager();
    let owner = mm.owner("swap", UseCase::Operator);
    let mut a = mm.allocate_page(&owner).unwrap();
    let mut b = mm.allocate_page(&owner).unwrap();
    a.as_mut_slice().unwrap().fill(0xaa);
    b.as_mut_slice().unwrap().fill(0xbb);
    a.swap_bytes(&mut b, 100, PAGE - 50, 50).unwrap();
    assert!(a.slice(100, 50).unwrap().iter().all(|&x| x == 0xbb));
    assert!(b.slice(PAGE - 50, 50).unwrap().iter().all(|&x| x == 0xaa));
    let count = |p: &MemorySegment<'_>, v: u8| p.as_slice().unwrap().iter().filter(|&&x| x == v).count();
    assert_eq!((count(&a, 0xbb), count(&b, 0xaa)), (50, 50));
    for (o1, o2, len) in
        [(PAGE - 49, 0, 50), (0, PAGE - 49, 50), (usize::MAX, 0, 1), (0, 0, usize::MAX), (-1i32 as usize, 0, 2)]
    {
        assert!(a.swap_bytes(&mut b, o1, o2, len).is_err());
    }
    assert_eq!((count(&a, 0xbb), count(&b, 0xaa)), (50, 50), "a refused swap touches nothing");
}

#[test]
fn streams_transfer_exact_ranges() {
    let mm = manager();
    let owner = mm.owner("io", UseCase::Operator);
    let mut page = mm.allocate_page(&owner).unwrap();
    let mut r = rng(3);
    let data: Vec<u8> = (0..PAGE).map(|_| r.u8(..)).collect();

    let mut input = &data[..];
    page.read_from(0, PAGE / 2, &mut input).unwrap();
    page.read_from(PAGE / 2, PAGE / 2, &mut input).unwrap();
    assert!(input.is_empty());
    assert_eq!(page.as_slice().unwrap(), &data[..]);

    let mut out = Vec::new();
    page.write_to(10, 1000, &mut out).unwrap();
    page.write_to(PAGE - 5, 5, &mut out).unwrap();
    assert_eq!(out.len(), 1005);
    assert_eq!(&out[..1000], &data[10..1010]);
    assert_eq!(&out[1000..], &data[PAGE - 5..]);

    // Out of bounds: refused before the stream is touched.
    let mut out = Vec::new();
    let e = page.write_to(PAGE - 4, 5, &mut out).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.get_ref().unwrap().downcast_ref::<SegmentError>(), Some(&out_of_bounds(PAGE - 4, 5)));
    assert!(out.is_empty());
    let mut input: &[u8] = &[1, 2, 3];
    let e = page.read_from(usize::MAX, 1, &mut input).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(input.len(), 3, "nothing was read");
    // A stream that ends early.
    let e = page.read_from(0, 10, &mut input).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
}

#[test]
fn views_cover_exactly_the_page() {
    let mm = manager();
    let owner = mm.owner("views", UseCase::Operator);
    let mut page = mm.allocate_page(&owner).unwrap();
    assert_eq!(page.size(), PAGE);
    assert_eq!(page.as_ptr() as usize % PAGE, 0);
    assert_eq!(page.as_slice().unwrap().as_ptr(), page.as_ptr());
    assert_eq!(page.as_mut_slice().unwrap().len(), PAGE);
    page.slice_mut(PAGE - 2, 2).unwrap().copy_from_slice(&[1, 2]);
    assert_eq!(page.get_u16_be(PAGE - 2), Ok(0x0102));
    assert_eq!(page.slice(PAGE, 0).unwrap(), &[] as &[u8]);
    for offset in hostile_offsets(PAGE) {
        assert_eq!(page.slice(offset, 1), Err(out_of_bounds(offset, 1)));
        assert_eq!(page.slice_mut(offset, 1).map(|_| ()), Err(out_of_bounds(offset, 1)));
    }
    assert_eq!(page.slice(1, PAGE), Err(out_of_bounds(1, PAGE)));
    assert_eq!(page.slice(0, usize::MAX), Err(out_of_bounds(0, usize::MAX)));
}

#[test]
fn pages_are_distinct_memory() {
    let mm = manager();
    let owner = mm.owner("distinct", UseCase::Operator);
    let mut pages = mm.allocate_pages(&owner, 64).unwrap();
    for (i, p) in (0u8..).zip(pages.iter_mut()) {
        p.as_mut_slice().unwrap().fill(i);
    }
    for (i, p) in (0u8..).zip(pages.iter()) {
        assert!(p.as_slice().unwrap().iter().all(|&b| b == i), "page {i} was overwritten");
    }
    let mut addrs: Vec<usize> = pages.iter().map(|p| p.as_ptr() as usize).collect();
    addrs.sort_unstable();
    assert!(addrs.windows(2).all(|w| w[1] - w[0] >= PAGE), "pages overlap");
}

/// Every accessor on a revoked page: `Released`, never `OutOfBounds`, even for offsets that are
/// out of bounds too.
fn assert_all_refused(page: &mut MemorySegment<'_>, other: &mut MemorySegment<'_>, owner: &MemoryOwner) {
    let released = SegmentError::Released { owner: owner.id(), address: page.as_ptr() as usize };
    for offset in [0, 1, PAGE - 1, PAGE, usize::MAX] {
        assert_eq!(page.get_u8(offset), Err(released.clone()));
        assert_eq!(page.put_u8(offset, 1), Err(released.clone()));
        assert_eq!(page.get_bool(offset), Err(released.clone()));
        assert_eq!(page.get_i64_be(offset), Err(released.clone()));
        assert_eq!(page.put_f64_le(offset, 1.0), Err(released.clone()));
        assert_eq!(page.get_u16(offset), Err(released.clone()));
        assert_eq!(page.slice(offset, 1), Err(released.clone()));
        assert_eq!(page.get_bytes(offset, &mut [0; 4]), Err(released.clone()));
        assert_eq!(page.put_bytes_at(offset, &[0; 4], 9, 9), Err(released.clone()));
        assert_eq!(page.copy_within(offset, 0, 1), Err(released.clone()));
        assert_eq!(page.copy_to(offset, other, 0, 1), Err(released.clone()));
        assert_eq!(page.compare(other, offset, 0, 1, 1), Err(released.clone()));
        assert_eq!(page.swap_bytes(other, offset, 0, 1), Err(released.clone()));
        let e = page.write_to(offset, 1, &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Other);
        assert_eq!(e.get_ref().unwrap().downcast_ref::<SegmentError>(), Some(&released));
    }
    assert_eq!(page.as_slice(), Err(released.clone()));
    assert_eq!(page.as_mut_slice().map(|_| ()), Err(released));
}

#[test]
fn a_revoked_page_refuses_every_access_before_the_bounds_check() {
    let mm = manager();
    let owner = mm.owner("revoked", UseCase::Operator);
    let survivor_owner = mm.owner("survivor", UseCase::Operator);
    let mut page = mm.allocate_page(&owner).unwrap();
    let mut other = mm.allocate_page(&survivor_owner).unwrap();
    page.put_u64_le(0, 42).unwrap();
    mm.release_all(&owner);
    assert!(page.is_released());
    assert!(!other.is_released());
    assert_all_refused(&mut page, &mut other, &owner);
    // The live page refuses to take part in an operation with a revoked one, whichever side.
    let released = SegmentError::Released { owner: owner.id(), address: page.as_ptr() as usize };
    assert_eq!(other.copy_to(0, &mut page, 0, 1), Err(released.clone()));
    assert_eq!(other.compare(&page, 0, 0, 1, 1), Err(released.clone()));
    assert_eq!(other.equal_to(&page, 0, 0, 1), Err(released.clone()));
    assert_eq!(other.swap_bytes(&mut page, 0, 0, 1), Err(released));
    assert_eq!(
        SegmentError::Released { owner: 3, address: 0x1000 }.to_string(),
        "the page at 0x1000 of memory owner #3 was released: no access after release"
    );
    assert_eq!(
        out_of_bounds(usize::MAX, 8).to_string(),
        format!("8 bytes at offset {} are out of bounds of a 32768-byte segment", usize::MAX)
    );
}

/// A page's colour offset is its slot number modulo 64, in cache lines (as a segment's), below
/// `min(size, 4 KiB)`: the 64 pages of one run of slots take all 64 colours, so writes at the
/// colour offset spread over 64 cache sets; for 4 KiB pages too.
#[test]
fn colour_offsets_spread_pages_over_64_lines_of_their_first_4_kib() {
    for page_size in [PAGE, 4096] {
        let arena = Arc::new(ArenaManager::heap_backed(&Config::default(), 1).unwrap());
        let mm = MemoryManager::builder(arena).memory_size(256 * page_size).page_size(page_size).build().unwrap();
        let owner = mm.owner("colours", UseCase::Operator);
        let mut pages = mm.allocate_pages(&owner, 256).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for page in &mut pages {
            let (addr, offset) = (page.as_ptr() as usize, page.colour_offset());
            assert_eq!(offset, (addr / page_size % 64) * 64, "page at {addr:#x} of {page_size} bytes");
            assert!(offset < page_size.min(4096));
            page.put_u64_le(offset, addr as u64).unwrap();
            seen.insert(offset);
        }
        assert_eq!(seen.len(), 64, "256 pages of {page_size} bytes took {} colours", seen.len());
        for page in &pages {
            assert_eq!(page.get_u64_le(page.colour_offset()).unwrap(), page.as_ptr() as u64);
        }
        mm.release_pages(&mut pages);
    }
}
