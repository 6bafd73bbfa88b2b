//! Fuzz target: random operation sequences on the network buffer pool (see
//! `fuzz/checks/buffer_pool.rs`).
#![no_main]

#[path = "../checks/buffer_pool.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
