//! The network buffer pool against random operation sequences, checked against a model: the
//! buffers in the test's hands, and the invariant that every buffer is in exactly one place
//! (the global pool, a local pool, or a hand). Creating pools past the minimums, destroying pools
//! with buffers in flight, resizing, exclusive requests, shared read-only views, read-only slices
//! of a buffer still written, exclusive buffers given back one at a time, destroying all local
//! pools: none may lose, duplicate or corrupt a buffer, and every refusal must be the documented
//! typed error. (An operation byte of 128 or more picks the variant of codes 3, 6 and 7.)
//!
//! Shared by the fuzz target (`fuzz/fuzz_targets/buffer_pool.rs`) and the regression test that
//! replays stored inputs (`tests/all/fuzz_regressions.rs`).

use std::sync::Arc;
use std::time::Duration;

use numaseg::buffer_pool::{Buffer, LocalBufferPool, NetworkBufferPool};
use numaseg::bytes::BufMut;
use numaseg::error::BufferPoolError;
use numaseg::{ArenaManager, Config};

const TOTAL: usize = 16;
const SIZE: usize = 4096;

fn assert_conserved(network: &NetworkBufferPool, held: &[(Buffer, u64)]) {
    let st = network.stats();
    assert_eq!(st.total, TOTAL);
    assert_eq!(st.in_use, held.len(), "buffers in hands: {st:?}");
    let owned: usize = st.pools.iter().map(|p| p.owned).sum();
    assert_eq!(st.available + owned, TOTAL, "every buffer is in the global pool or a local one: {st:?}");
    let mut addrs: Vec<usize> = held.iter().map(|(b, _)| b.as_ptr() as usize).collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), held.len(), "a buffer is in two hands");
    for (b, tag) in held {
        assert_eq!(b.as_slice()[..8], tag.to_le_bytes(), "a buffer in hand was written by someone else");
        assert_eq!(b.get_u64_le_at(0).ok(), Some(*tag), "indexed access reads the same bytes");
    }
}

/// One manager for the whole fuzzing process (the property is about the pool; a fresh manager
/// per input would spend the run mapping regions). Each input still checks that every segment
/// went back to it.
fn manager() -> Arc<ArenaManager> {
    static MANAGER: std::sync::OnceLock<Arc<ArenaManager>> = std::sync::OnceLock::new();
    Arc::clone(MANAGER.get_or_init(|| {
        let config = Config::builder()
            .region_size(numaseg::config::ByteSize(2 << 20))
            .build_from::<_, &str, &str>([])
            .expect("configuration");
        Arc::new(ArenaManager::heap_backed(&config, 2).expect("manager"))
    }))
}

/// The property. Panics on a violation.
pub fn check(data: &[u8]) {
    let manager = manager();
    let network = NetworkBufferPool::with_buffers(Arc::clone(&manager), TOTAL, SIZE).expect("network pool");
    let mut pools: Vec<LocalBufferPool> = Vec::new();
    let mut held: Vec<(Buffer, u64)> = Vec::new();
    let mut next = 0u64;
    for op in data.chunks(3) {
        let (code, a, b) =
            (op[0] % 8, usize::from(op.get(1).copied().unwrap_or(0)), usize::from(op.get(2).copied().unwrap_or(0)));
        let variant = op[0] >= 128;
        match code {
            0 => {
                let (min, max) = (a % 6, a % 6 + b % 10);
                let required = network.required_buffers();
                match network.create_buffer_pool(min, max) {
                    Ok(p) => pools.push(p),
                    Err(BufferPoolError::BadBounds { .. }) => assert!(min == 0 || min > max),
                    Err(BufferPoolError::Insufficient { required: r, available, .. }) => {
                        // As Flink says it: this pool's minimum, and what the others leave.
                        assert_eq!((r, available), (min, TOTAL - required));
                        assert!(min > available);
                    }
                    Err(e) => panic!("create_buffer_pool({min}, {max}): {e}"),
                }
            }
            1 if !pools.is_empty() => drop(pools.swap_remove(a % pools.len())),
            2 if !pools.is_empty() => {
                let p = &pools[a % pools.len()];
                match p.request_buffer() {
                    Ok(Some(mut buf)) => {
                        next += 1;
                        buf.put_u64_le(next);
                        held.push((buf, next));
                    }
                    Ok(None) => assert!(p.available_buffers() == 0 || p.is_destroyed()),
                    Err(BufferPoolError::Destroyed { .. }) => assert!(p.is_destroyed()),
                    Err(e) => panic!("request_buffer: {e}"),
                }
            }
            3 if !held.is_empty() && variant => {
                // Given back as an exclusive buffer: lowers its set's reservation by one, or is
                // refused (and recycled as usual) for a local pool.
                let (buf, _) = held.swap_remove(a % held.len());
                let required = network.required_buffers();
                match pools.iter().find(|p| p.id() == buf.pool_id()) {
                    Some(p) => match p.recycle_exclusive([buf]) {
                        Ok(n) => assert_eq!(network.required_buffers(), required - n),
                        Err(BufferPoolError::NotExclusive { .. }) => assert_eq!(network.required_buffers(), required),
                        Err(e) => panic!("recycle_exclusive: {e}"),
                    },
                    None => drop(buf), // its pool was dropped
                }
            }
            3 if !held.is_empty() => drop(held.swap_remove(a % held.len())),
            4 if !pools.is_empty() => {
                let p = &pools[a % pools.len()];
                let size = b % 20;
                match p.set_num_buffers(size) {
                    Ok(()) => assert!(size >= p.min_buffers() && size <= p.max_buffers()),
                    Err(BufferPoolError::BadBounds { .. }) => assert!(size < p.min_buffers() || size > p.max_buffers()),
                    Err(BufferPoolError::Destroyed { .. }) => assert!(p.is_destroyed()),
                    Err(e) => panic!("set_num_buffers({size}): {e}"),
                }
            }
            5 => match network.request_exclusive(1 + a % 4, Some(Duration::ZERO), None) {
                Ok(p) => pools.push(p),
                Err(BufferPoolError::Timeout { .. } | BufferPoolError::Insufficient { .. }) => {}
                Err(e) => panic!("request_exclusive: {e}"),
            },
            6 if !held.is_empty() && variant => {
                // A read-only slice of a buffer that stays in hand and is written further.
                let i = a % held.len();
                let buf = &mut held[i].0;
                let view = buf.read_only_slice();
                let shared = view.len();
                assert!(matches!(buf.set_u8_at(0, 0), Err(BufferPoolError::ReadOnly { .. })));
                if buf.set_u64_at(8 + shared, b as u64).is_ok() {
                    assert_eq!(buf.get_u64_at(8 + shared).ok(), Some(b as u64));
                }
                assert_eq!(view.as_ref()[..8], held[i].1.to_le_bytes());
                drop(view);
            }
            6 if !held.is_empty() => {
                // A shared read-only view: clones see the same bytes; the buffer recycles once,
                // when the last view drops.
                let (buf, tag) = held.swap_remove(a % held.len());
                let shared = buf.into_shared();
                let clones: Vec<_> = (0..=b % 3).map(|_| shared.clone()).collect();
                assert!(clones.iter().all(|c| c.as_ref()[..8] == tag.to_le_bytes()));
                drop(shared);
                assert_conserved_views(&network, held.len() + 1);
                drop(clones);
            }
            7 if variant => {
                // Local pools only; exclusive sets keep their reservation, and are reported.
                match network.destroy_all_buffer_pools() {
                    Ok(()) => assert_eq!(network.required_buffers(), 0),
                    Err(BufferPoolError::UnpooledOutstanding { buffers }) => {
                        assert!(buffers > 0);
                        assert_eq!(network.required_buffers(), buffers);
                    }
                    Err(e) => panic!("destroy_all_buffer_pools: {e}"),
                }
            }
            7 if !pools.is_empty() => pools[a % pools.len()].destroy(),
            _ => {}
        }
        assert_conserved(&network, &held);
    }
    drop(held);
    drop(pools);
    let st = network.stats();
    assert_eq!((st.available, st.in_use), (TOTAL, 0), "everything back: {st:?}");
    drop(network);
    assert_eq!(manager.stats().used_segments(), 0, "the pool's segments went back to the allocator");
}

/// With shared views alive the buffer is still in hands.
fn assert_conserved_views(network: &NetworkBufferPool, in_hands: usize) {
    assert_eq!(network.stats().in_use, in_hands);
}
