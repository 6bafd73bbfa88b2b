//! Page sources: the kernel ([`linux`]) and the Rust heap ([`heap`]).

pub mod heap;
pub mod linux;
