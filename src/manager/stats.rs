//! [`MemoryManagerStats`]: the memory manager's usage — used, total and available per node, per
//! owner and per use case, plus counters of its slow paths — and its Prometheus text rendering
//! (metric names in `docs/METRICS.md`).
//!
//! A snapshot taken while threads allocate and release is a sum of relaxed reads; one taken when
//! they are quiescent is exact. Taking one locks the owner registry and the allocator's region
//! tables briefly: it is for monitoring, not for a hot path.

use super::owner::{OwnerCounts, owner_counters};
use super::{CounterValues, Shared, manager_counters};
use crate::manager::UseCase;
use crate::prometheus::{label, snapshot};

snapshot! {
    /// Usage of the memory manager on one node.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::builder(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?)).memory_size(1 << 20).build()?;
    /// # let owner = mm.owner("o", UseCase::Operator);
    /// # let page = mm.allocate_page(&owner)?;
    /// let stats = mm.stats();
    /// assert_eq!((stats.nodes[0].node, stats.nodes[0].used_pages), (0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    pub struct ManagerNodeStats {
        /// The node's kernel index.
        pub node: usize,
        /// Pages on this node in owners' hands.
        pub used_pages: u64 => (gauge "numaseg_mm_node_used_pages" "Pages on the node in owners' hands."),
        /// Their bytes.
        pub used_bytes: u64 => (gauge "numaseg_mm_node_used_bytes" "Bytes of pages on the node in owners' hands."),
        /// The most the manager could hold on this node: its memory size, or less when the
        /// allocator's budget for the node is smaller.
        pub total_bytes: u64 => (gauge "numaseg_mm_node_total_bytes" "The most the manager could hold on the node."),
        /// The most the manager could still place on this node now: the manager's available bytes,
        /// or less when the allocator's node (or total) budget has less room left.
        pub available_bytes: u64 =>
            (gauge "numaseg_mm_node_available_bytes" "The most the manager could still place on the node."),
    }
    labels(n) { format!("node=\"{}\"", n.node) }
}

snapshot! {
    /// Usage of one owner.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::builder(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?)).memory_size(1 << 20).build()?;
    /// # let owner = mm.owner("o", UseCase::Operator);
    /// # let page = mm.allocate_page(&owner)?;
    /// let stats = mm.stats();
    /// assert_eq!((stats.owners[0].name.as_str(), stats.owners[0].pages), ("o", 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    pub struct OwnerStats {
        /// The owner's id.
        pub id: u64,
        /// The owner's name.
        pub name: String,
        /// Its use case's name.
        pub use_case: String,
        /// The node it is bound to, if any.
        pub node: Option<usize>,
        /// Pages it holds (revoked ones until they are dropped).
        pub pages: u64 => (gauge "numaseg_mm_owner_pages" "Pages the owner holds."),
        /// Their bytes.
        pub page_bytes: u64,
        /// Bytes it has reserved.
        pub reserved_bytes: u64 => (gauge "numaseg_mm_owner_reserved_bytes" "Bytes the owner has reserved."),
        /// Pages plus reservations, in bytes.
        pub used_bytes: u64 => (gauge "numaseg_mm_owner_used_bytes" "Pages plus reservations of the owner."),
        /// Pages of budget charged to it but not in use (taken back whenever the budget runs short).
        pub credit_pages: u64 => (gauge "numaseg_mm_owner_credit_pages" "Budget charged to the owner, not in use."),
        ..owner_counters,
    }
    labels(o) { format!("owner=\"{}\",owner_id=\"{}\",use_case=\"{}\"", label(&o.name), o.id, o.use_case) }
}

snapshot! {
    /// Usage of one use case.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// # let mm = MemoryManager::builder(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?)).memory_size(1 << 20).build()?;
    /// # let owner = mm.owner("o", UseCase::Operator);
    /// # let page = mm.allocate_page(&owner)?;
    /// let stats = mm.stats();
    /// assert_eq!((stats.use_cases[0].use_case.as_str(), stats.use_cases[0].used_bytes), ("OPERATOR", 32768));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    pub struct UseCaseStats {
        /// The use case's name.
        pub use_case: String,
        /// Its weight in `NUMASEG_USE_CASE_WEIGHTS`.
        pub weight: u32 => (gauge "numaseg_mm_use_case_weight" "The use case's weight."),
        /// Its share of the budget: memory size × weight / sum of weights.
        pub total_bytes: u64 => (gauge "numaseg_mm_use_case_total_bytes" "The use case's share of the budget."),
        /// Bytes its owners and its shared resource use.
        pub used_bytes: u64 => (gauge "numaseg_mm_use_case_used_bytes" "Bytes the use case uses."),
        /// Its share less what it uses (0 when it uses more than its share).
        pub available_bytes: u64 =>
            (gauge "numaseg_mm_use_case_available_bytes" "The use case's share less what it uses."),
        /// Bytes of its shared resource.
        pub shared_bytes: u64 => (gauge "numaseg_mm_use_case_shared_bytes" "Bytes of the use case's shared resource."),
        /// Its live owners.
        pub owners: u64 => (gauge "numaseg_mm_use_case_owners" "Live owners of the use case."),
    }
    labels(u) { format!("use_case=\"{}\"", u.use_case) }
}

snapshot! {
    /// A snapshot of a [`MemoryManager`](crate::MemoryManager).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// let mm = MemoryManager::builder(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))
    ///     .memory_size(170 << 20)
    ///     .build()?;
    /// let owner = mm.owner("agg", UseCase::Operator);
    /// let pages = mm.allocate_pages(&owner, 32)?;
    /// let stats = mm.stats();
    /// let operator = stats.use_cases.iter().find(|u| u.use_case == "OPERATOR").unwrap();
    /// assert_eq!((operator.total_bytes, operator.used_bytes), (70 << 20, 1 << 20));
    /// assert_eq!(stats.available_bytes, (169 << 20));
    /// # drop(pages);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    pub struct MemoryManagerStats {
        /// The budget.
        pub memory_size_bytes: u64 => (gauge "numaseg_mm_memory_size_bytes" "The memory manager's budget."),
        /// The page size.
        pub page_size_bytes: u64 => (gauge "numaseg_mm_page_size_bytes" "The page size."),
        /// Pages the budget holds.
        pub total_pages: u64 => (gauge "numaseg_mm_total_pages" "Pages the budget holds."),
        /// Pages in owners' hands.
        pub used_pages: u64 => (gauge "numaseg_mm_used_pages" "Pages in owners' hands."),
        /// Bytes in use: pages, reservations, shared resources.
        pub used_bytes: u64 => (gauge "numaseg_mm_used_bytes" "Bytes in use: pages, reservations, shared resources."),
        /// Bytes reserved by owners.
        pub reserved_bytes: u64 => (gauge "numaseg_mm_reserved_bytes" "Bytes reserved by owners."),
        /// Bytes held by shared resources.
        pub shared_bytes: u64 => (gauge "numaseg_mm_shared_bytes" "Bytes held by shared resources."),
        /// The budget less what is in use.
        pub available_bytes: u64 => (gauge "numaseg_mm_available_bytes" "The budget less what is in use."),
        /// Bytes of budget charged to owners as credit, not in use (counted as available).
        pub credit_bytes: u64 => (gauge "numaseg_mm_credit_bytes" "Budget charged to owners as credit, not in use."),
        /// Per node the allocator uses, ascending.
        pub nodes: Vec<ManagerNodeStats> => (rows),
        /// Per live owner, by id.
        pub owners: Vec<OwnerStats> => (rows),
        /// Per use case, in [`UseCase::ALL`] order.
        pub use_cases: Vec<UseCaseStats> => (rows),
        ..manager_counters,
    }
    labels(_m) { String::new() }
}

/// Takes the snapshot.
pub(crate) fn collect(m: &Shared) -> MemoryManagerStats {
    let ps = m.page_size as u64;
    let arena_nodes = m.arena.nodes();
    let mut node_pages = vec![0u64; arena_nodes.len()];
    let mut owners = Vec::new();
    for o in m.owners() {
        for (sum, pages) in node_pages.iter_mut().zip(o.pages_per_node()) {
            *sum += pages;
        }
        let pages = o.pages_in_use() as u64;
        let reserved = o.reserved_bytes() as u64;
        owners.push(OwnerStats {
            id: o.id,
            name: o.name.to_string(),
            use_case: o.use_case.name().to_owned(),
            node: o.node.map(|(n, _)| n.index()),
            pages,
            page_bytes: pages * ps,
            reserved_bytes: reserved,
            used_bytes: pages * ps + reserved,
            credit_pages: o.credit_pages() as u64,
            ..OwnerStats::from(&o.counters.get())
        });
    }
    let used_pages: u64 = owners.iter().map(|o| o.pages).sum();
    let reserved_bytes: u64 = owners.iter().map(|o| o.reserved_bytes).sum();
    let credit_bytes: u64 = owners.iter().map(|o| o.credit_pages * ps).sum();
    let shared_bytes = m.shared.total_bytes() as u64;
    let memory_size = m.memory_size as u64;
    let used_bytes = used_pages * ps + reserved_bytes + shared_bytes;
    let available_bytes = memory_size.saturating_sub(used_bytes);

    let arena = m.arena.stats();
    let total_room = arena.total_budget_bytes.map(|b| b.saturating_sub(arena.total_committed_bytes));
    let nodes = arena_nodes
        .iter()
        .zip(&node_pages)
        .map(|(node, &pages)| {
            let a = arena.node(*node);
            let budget = a.and_then(|a| a.budget_bytes);
            let room = a.map_or(u64::MAX, |a| {
                let uncommitted = budget.map_or(u64::MAX, |b| b.saturating_sub(a.committed_bytes));
                uncommitted.min(total_room.unwrap_or(u64::MAX)).saturating_add(a.free_bytes)
            });
            ManagerNodeStats {
                node: node.index(),
                used_pages: pages,
                used_bytes: pages * ps,
                total_bytes: budget.map_or(memory_size, |b| b.min(memory_size)),
                available_bytes: available_bytes.min(room),
            }
        })
        .collect();

    let use_cases = UseCase::ALL
        .iter()
        .map(|&u| {
            let total_bytes = m.weights.fraction(u).map_or(0, |f| m.memory_for(f).unwrap_or(0)) as u64;
            let of_use_case = owners.iter().filter(|o| o.use_case == u.name());
            let shared = m.shared.bytes_of(u) as u64;
            let used = of_use_case.clone().map(|o| o.used_bytes).sum::<u64>() + shared;
            UseCaseStats {
                use_case: u.name().to_owned(),
                weight: m.weights.weight(u),
                total_bytes,
                used_bytes: used,
                available_bytes: total_bytes.saturating_sub(used),
                shared_bytes: shared,
                owners: of_use_case.count() as u64,
            }
        })
        .collect();

    MemoryManagerStats {
        memory_size_bytes: memory_size,
        page_size_bytes: ps,
        total_pages: m.total_pages as u64,
        used_pages,
        used_bytes,
        reserved_bytes,
        shared_bytes,
        available_bytes,
        credit_bytes,
        nodes,
        owners,
        use_cases,
        ..MemoryManagerStats::from(&m.counters.get())
    }
}

impl MemoryManagerStats {
    /// The snapshot in the Prometheus text exposition format; every metric is prefixed
    /// `numaseg_mm_` (names in `docs/METRICS.md`). Owner names are escaped as label values.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use numaseg::{ArenaManager, Config, MemoryManager, manager::UseCase};
    /// let mm = MemoryManager::builder(Arc::new(ArenaManager::heap_backed(&Config::default(), 1)?))
    ///     .memory_size(1 << 20)
    ///     .build()?;
    /// let owner = mm.owner("sort \"A\"", UseCase::Operator);
    /// let page = mm.allocate_page(&owner)?;
    /// let text = mm.stats().to_prometheus();
    /// assert!(text.contains("numaseg_mm_used_bytes 32768\n"));
    /// assert!(text.contains("numaseg_mm_node_used_bytes{node=\"0\"} 32768\n"));
    /// assert!(text.contains(&format!(
    ///     "numaseg_mm_owner_pages{{owner=\"sort \\\"A\\\"\",owner_id=\"{}\",use_case=\"OPERATOR\"}} 1\n",
    ///     owner.id()
    /// )));
    /// # drop(page);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn to_prometheus(&self) -> String {
        crate::prometheus::render([self])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label("two\nlines"), "two\\nlines");
        assert_eq!(label("plain"), "plain");
    }

    #[test]
    fn every_family_has_help_and_type_once() {
        let stats = MemoryManagerStats {
            nodes: vec![ManagerNodeStats { node: 2, ..Default::default() }],
            owners: vec![OwnerStats { id: 7, name: "x".into(), use_case: "PYTHON".into(), ..Default::default() }],
            use_cases: vec![UseCaseStats { use_case: "PYTHON".into(), weight: 30, ..Default::default() }],
            ..Default::default()
        };
        let text = stats.to_prometheus();
        let helps: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# HELP ")).collect();
        let types: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
        assert_eq!(helps.len(), types.len());
        let mut names: Vec<&str> = types.iter().map(|t| t.split(' ').next().unwrap()).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a family is declared twice");
        for name in &names {
            assert!(name.starts_with("numaseg_mm_"), "{name}");
            assert!(text.lines().any(|l| l.starts_with(name) && !l.starts_with('#')), "{name} has no sample");
        }
        assert!(text.contains("numaseg_mm_node_used_pages{node=\"2\"} 0\n"));
        assert!(text.contains("numaseg_mm_use_case_weight{use_case=\"PYTHON\"} 30\n"));
        assert!(text.contains("numaseg_mm_owner_pages{owner=\"x\",owner_id=\"7\",use_case=\"PYTHON\"} 0\n"));
    }
}
