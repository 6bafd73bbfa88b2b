//! Stealing: a thread whose stack and spill deque are empty takes a batch from the spill deque
//! of another thread of its node before it goes to the regions. The stealers live in the node's
//! per-class state (`core::node::NodeClass`); the policy of whom to raid is the cache's.

use crate::core::node::NodeClass;
use crate::entry::Entry;
use crate::sync::deque::{Steal, Worker};

/// Steals a batch of up to `limit` from another thread of the node into `dest`, returning one
/// of them. `own` is the stealing slot's id (never its own victim).
pub(crate) fn steal_from_peers(pool: &NodeClass, own: u64, dest: &Worker<Entry>, limit: usize) -> Option<Entry> {
    pool.with_stealers(|stealers| {
        // Start at a different peer each time so one victim does not take every raid.
        let n = stealers.len();
        let start = usize::try_from(own).unwrap_or(0) % n.max(1);
        for k in 0..n {
            let (id, stealer) = &stealers[(start + k) % n];
            if *id == own {
                continue;
            }
            loop {
                match stealer.steal_batch_with_limit_and_pop(dest, limit) {
                    Steal::Success(entry) => return Some(entry),
                    Steal::Empty => break,
                    Steal::Retry => crate::sync::hint::spin_loop(),
                }
            }
        }
        None
    })
}
