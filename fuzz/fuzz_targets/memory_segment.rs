//! Fuzz target: random operation sequences on `MemorySegment` against a `Vec<u8>` model (see
//! `fuzz/checks/memory_segment.rs`).
#![no_main]

#[path = "../checks/memory_segment.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
