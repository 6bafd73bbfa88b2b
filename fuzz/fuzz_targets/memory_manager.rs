//! Fuzz target: random operation sequences on the `MemoryManager` against counters (see
//! `fuzz/checks/memory_manager.rs`).
#![no_main]

#[path = "../checks/memory_manager.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
