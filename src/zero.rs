//! Isolation (`NUMASEG_ZERO`): [`ZeroMode`], and [`zero`], the fastest correct way this crate
//! knows to clear a block.
//!
//! What must hold with a mode other than [`ZeroMode::Off`]: no owner, pool or caller ever reads
//! bytes another one wrote. The handles and the façade (`segment`, `alloc_api`,
//! `arena_manager`) and the buffer pool clear a block at the one crossing the mode names —
//! when it is given back (`on-release`: the data does not linger in free memory) or when it is
//! handed out (`on-allocate`: the cost falls on the taker, and a block never reused is never
//! cleared). Below them (cache, core) nothing reads or writes block contents, so clearing there
//! is not needed; fresh and recommitted regions read as zeros already.
//!
//! How: blocks up to [`STREAM_FROM`] bytes are cleared with `ptr::write_bytes` (the next owner
//! finds the lines in its cache); larger ones with non-temporal stores on `x86_64` (they do not
//! evict the cache for lines nobody is about to read), with a scalar fallback elsewhere.

use std::fmt;
use std::str::FromStr;

/// When blocks are cleared. See `docs/RELIABILITY.md` ("Isolation").
///
/// ```
/// use numaseg::{config::Config, zero::ZeroMode};
/// let config = Config::builder().build_from([("NUMASEG_ZERO", "on-release")])?;
/// assert_eq!(config.zero, ZeroMode::OnRelease);
/// assert_eq!("on-allocate".parse::<ZeroMode>(), Ok(ZeroMode::OnAllocate));
/// assert_eq!(ZeroMode::default().to_string(), "off");
/// # Ok::<(), numaseg::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ZeroMode {
    /// Never: a block may hold what its previous owner wrote (the default; no cost).
    #[default]
    Off,
    /// When a block is given back (segment drop, batch release, page release, buffer recycle).
    OnRelease,
    /// When a block is handed out (segment allocation, bulk, page allocation, buffer request).
    OnAllocate,
}

impl ZeroMode {
    /// The mode's name in `NUMASEG_ZERO`'s syntax.
    ///
    /// ```
    /// assert_eq!(numaseg::zero::ZeroMode::OnAllocate.as_str(), "on-allocate");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::OnRelease => "on-release",
            Self::OnAllocate => "on-allocate",
        }
    }
}

impl fmt::Display for ZeroMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ZeroMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "off" | "false" | "0" | "no" => Self::Off,
            "on-release" | "release" => Self::OnRelease,
            "on-allocate" | "allocate" => Self::OnAllocate,
            _ => return Err("not an isolation mode".to_owned()),
        })
    }
}

/// Blocks from this size up are cleared with non-temporal stores (where there are any). Below
/// it `write_bytes` (glibc's `memset`) was faster on the development VM: 1.4–1.6× at 2 and
/// 8 MiB, where the block still fits the last-level cache; at 32 MiB they tie (`numaseg bench
/// --only-isolation`, `docs/BENCHMARKS.md`).
///
/// ```
/// use numaseg::zero::{STREAM_FROM, zero};
/// assert_eq!(STREAM_FROM, 32 << 20); // 32 MiB
/// // Below the threshold `zero` takes the `write_bytes` path; either way every byte is cleared.
/// let mut small = vec![0xA5u8; 4096];
/// assert!(small.len() < STREAM_FROM);
/// zero(&mut small);
/// assert!(small.iter().all(|&b| b == 0));
/// ```
pub const STREAM_FROM: usize = 32 << 20;

/// Sets every byte of `block` to zero, by the fastest means for its size: `write_bytes` below
/// [`STREAM_FROM`], non-temporal stores from there (on `x86_64`).
///
/// ```
/// let mut block = vec![0xA5u8; 1 << 20];
/// numaseg::zero::zero(&mut block);
/// assert!(block.iter().all(|&b| b == 0));
/// ```
#[inline]
pub fn zero(block: &mut [u8]) {
    if block.len() < STREAM_FROM {
        // SAFETY: the slice is `len` writable bytes.
        unsafe { block.as_mut_ptr().write_bytes(0, block.len()) };
    } else {
        stream(block);
    }
}

/// Sets every byte of `block` to zero with non-temporal stores (on `x86_64`; `fill` elsewhere),
/// whatever its size: the lines go to memory without being brought into the cache. [`zero`]
/// uses it from [`STREAM_FROM`] up.
///
/// ```
/// let mut block = vec![7u8; 4096 + 3];
/// numaseg::zero::stream(&mut block[1..]);
/// assert_eq!(block[0], 7);
/// assert!(block[1..].iter().all(|&b| b == 0));
/// ```
#[inline]
pub fn stream(block: &mut [u8]) {
    stream_zero(block);
}

/// Clears `len` bytes at `ptr` (see [`zero`]).
///
/// # Safety
/// `ptr` is valid for writes of `len` bytes, and nothing else reads or writes them meanwhile.
#[inline]
pub(crate) unsafe fn zero_raw(ptr: *mut u8, len: usize) {
    // SAFETY: the caller's duty.
    zero(unsafe { std::slice::from_raw_parts_mut(ptr, len) });
}

/// Non-temporal clearing: 16-byte streaming stores over the aligned middle, `write_bytes` for
/// the ends, then `sfence` so the stores are ordered before whatever hands the block on.
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn stream_zero(block: &mut [u8]) {
    use std::arch::x86_64::{__m128i, _mm_setzero_si128, _mm_sfence, _mm_stream_si128};
    // SAFETY: `align_to_mut` splits the slice into an unaligned head, aligned 64-byte chunks
    // and a tail; every chunk is `[__m128i; 4]`, valid for any bit pattern.
    let (head, middle, tail) = unsafe { block.align_to_mut::<[__m128i; 4]>() };
    head.fill(0);
    tail.fill(0);
    // SAFETY: SSE2 is part of the x86_64 baseline, so the intrinsic is always available.
    let zero = unsafe { _mm_setzero_si128() };
    for chunk in middle {
        for lane in chunk.iter_mut() {
            // SAFETY: `lane` is a 16-byte aligned, writable `__m128i` of the slice.
            unsafe { _mm_stream_si128(std::ptr::from_mut(lane), zero) };
        }
    }
    // SAFETY: a store fence has no preconditions; it orders the streaming stores above before
    // any later store (the one that hands the block on).
    unsafe { _mm_sfence() };
}

#[cfg(not(all(target_arch = "x86_64", not(miri))))]
fn stream_zero(block: &mut [u8]) {
    block.fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_and_offset_is_cleared_exactly() {
        let mut buf = vec![0xFFu8; STREAM_FROM + 300];
        for (start, len) in [(0, 0), (1, 17), (3, STREAM_FROM), (0, STREAM_FROM + 100), (7, 4096), (5, 100_000)] {
            buf.fill(0xFF);
            zero(&mut buf[start..start + len]);
            assert!(buf[start..start + len].iter().all(|&b| b == 0), "{start}+{len}");
            buf.fill(0xFF);
            stream(&mut buf[start..start + len]);
            assert!(buf[start..start + len].iter().all(|&b| b == 0), "{start}+{len}");
            assert!(buf[..start].iter().all(|&b| b == 0xFF) && buf[start + len..].iter().all(|&b| b == 0xFF));
        }
    }

    #[test]
    fn modes_round_trip() {
        for mode in [ZeroMode::Off, ZeroMode::OnRelease, ZeroMode::OnAllocate] {
            assert_eq!(mode.to_string().parse::<ZeroMode>(), Ok(mode));
        }
        assert!("sometimes".parse::<ZeroMode>().is_err());
    }
}
