//! Integration tests of numaseg's public API (one binary, as bumpalo's `tests/all`).

#![allow(clippy::unwrap_used, reason = "test helpers unwrap like the tests they serve")]

mod arena;
mod conservation;
mod manager;
mod memory_segment;
