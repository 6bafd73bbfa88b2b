//! Integration tests of numaseg's public API (one binary, as bumpalo's `tests/all`).

#![allow(clippy::unwrap_used, reason = "test helpers unwrap like the tests they serve")]

mod arena;
mod bad_input;
mod buffer_pool;
mod buffer_pool_contract;
mod buffer_pool_factory;
mod buffer_requester;
mod conservation;
mod credit;
mod debloat;
mod faults;
mod fuzz_regressions;
mod isolation;
mod manager;
mod memory_segment;
mod os_settings;
