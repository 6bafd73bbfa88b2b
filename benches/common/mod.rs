//! What every criterion bench builds on: a manager over the real page source with no budget in
//! the way, so a bench measures the path and not a refusal.

use numaseg::config::MemoryAmount;
use numaseg::{ArenaManager, Config};

/// A manager with unlimited total and per-node budgets.
pub fn manager() -> ArenaManager {
    let config = Config::builder()
        .memory_limit(MemoryAmount::Unlimited)
        .node_memory_limit(MemoryAmount::Unlimited)
        .build()
        .expect("configuration");
    ArenaManager::new(&config).expect("manager")
}
