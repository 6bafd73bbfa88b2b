//! A network buffer shared between threads (`src/buffer_pool/buffer.rs`): every read through a
//! view, and every write of the handle that shared it, happens before whoever gets the buffer
//! next writes it, and a writer writes below the bytes it shared only once every view is gone.
//!
//! The buffer's bytes are plain memory, which loom does not see. So each model keeps a *shadow*
//! of them, a loom `UnsafeCell` that every access to the bytes also reads or writes: loom fails
//! the model ("causality violation") when two of those accesses, one of them a write, are not
//! ordered by happens-before — the data race the real bytes would have. What orders them is the
//! code under test: the `Release` decrement of each dropped handle with the `Acquire` fence of
//! the last one (as `Arc::drop`; `SharedBuffer::drop` and `Buffer::drop` once it shared), then
//! the recycle's push and the next request's pop; and the `Acquire` load of the count when the
//! writer thaws (`Buffer::thaw`). Weaken any of them and a model fails: `scripts/mutants.sh`,
//! mutants `buffer.rs:drop#1`, `drop#2` and `thaw#1`.
#![cfg(loom)]

use bytes::{Buf, BufMut};
use loom::sync::Arc;
use numaseg::{Buffer, LocalBufferPool, SharedBuffer};

use loom_tests::{assert_network_back, model, tiny_network};

/// The shadow of the first two bytes of a one-buffer network (the models touch no others).
type Shadow = loom_tests::Shadow<2>;

/// Reads the first byte through a view (and its shadow).
fn read_view(view: &SharedBuffer, shadow: &Shadow) -> u8 {
    let _ = shadow.read(0);
    view.chunk()[0]
}

/// Writes a byte at `index` of a buffer (and the shadow).
fn write_at(buffer: &mut Buffer, index: usize, v: u8, shadow: &Shadow) {
    shadow.write(index, v);
    buffer.set_u8_at(index, v).expect("writable there");
}

/// After a handle was dropped: if the pool hands the buffer out now, writes it (both bytes) as
/// its next owner would.
fn take_over(pool: &LocalBufferPool, shadow: &Shadow) {
    if let Some(mut next) = pool.request_buffer().expect("live") {
        write_at(&mut next, 0, 9, shadow);
        write_at(&mut next, 1, 9, shadow);
    }
}

/// A one-buffer network, its pool, the shadow, and the buffer with byte 0 written (7).
fn one_buffer()
-> (std::sync::Arc<numaseg::ArenaManager>, numaseg::NetworkBufferPool, Arc<LocalBufferPool>, Arc<Shadow>, Buffer) {
    let (m, n) = tiny_network(1);
    let pool = Arc::new(n.create_buffer_pool(1, 1).expect("pool"));
    let shadow = Shadow::new();
    let mut buffer = pool.request_buffer().expect("live").expect("one buffer");
    shadow.write(0, 7);
    buffer.put_u8(7);
    (m, n, pool, shadow, buffer)
}

#[test]
fn the_views_reads_happen_before_the_next_owner_writes() {
    model(|| {
        let (m, n, pool, shadow, buffer) = one_buffer();
        let view = buffer.into_shared();
        let other = view.clone();
        // Two views on two threads; whichever is dropped last recycles the buffer. This thread
        // then takes it if it can (it is the next owner) and writes it.
        let t = {
            let shadow = Arc::clone(&shadow);
            loom::thread::spawn(move || {
                assert_eq!(read_view(&other, &shadow), 7);
                drop(other);
            })
        };
        assert_eq!(read_view(&view, &shadow), 7);
        drop(view);
        take_over(&pool, &shadow);
        t.join().expect("the other view's thread");
        drop(pool);
        assert_network_back(&m, n);
    });
}

/// A writer that shared byte 0 (`read_only_slice`) and wrote byte 1 after, its view on another
/// thread; whichever is dropped last recycles the buffer, and the thread `view_thread_takes_over` names
/// (the view's or the writer's) then takes it if it can and writes it.
fn writer_and_view_then(view_thread_takes_over: bool) {
    let (m, n, pool, shadow, mut writer) = one_buffer();
    let view = writer.read_only_slice(); // byte 0, frozen; the writer keeps writing above
    let t = {
        let (pool, shadow) = (Arc::clone(&pool), Arc::clone(&shadow));
        loom::thread::spawn(move || {
            assert_eq!(read_view(&view, &shadow), 7);
            drop(view);
            if view_thread_takes_over {
                take_over(&pool, &shadow);
            }
        })
    };
    write_at(&mut writer, 1, 8, &shadow);
    drop(writer);
    if !view_thread_takes_over {
        take_over(&pool, &shadow);
    }
    t.join().expect("the view's thread");
    drop(pool);
    assert_network_back(&m, n);
}

#[test]
fn the_writers_writes_happen_before_the_next_owner_on_the_views_thread() {
    model(|| writer_and_view_then(true));
}

#[test]
fn the_views_reads_happen_before_the_next_owner_on_the_writers_thread() {
    model(|| writer_and_view_then(false));
}

#[test]
fn a_writer_rewrites_shared_bytes_only_after_the_views_reads() {
    model(|| {
        let (m, n, pool, shadow, mut writer) = one_buffer();
        let view = writer.read_only_slice();
        let t = {
            let shadow = Arc::clone(&shadow);
            loom::thread::spawn(move || {
                assert_eq!(read_view(&view, &shadow), 7);
                drop(view);
            })
        };
        // Byte 0 is frozen while the view lives; once it is gone the writer thaws and writes it.
        while writer.set_u8_at(0, 1).is_err() {
            loom::thread::yield_now();
        }
        write_at(&mut writer, 0, 2, &shadow);
        t.join().expect("the view's thread");
        drop(writer);
        drop(pool);
        assert_network_back(&m, n);
    });
}
