//! The memory manager on a real multi-node kernel: every page of an owner bound to node k lives
//! on node k (read back from the kernel page by page), for every node; an unbound owner's pages
//! follow the allocating thread's node.

use std::sync::Arc;

use numaseg::manager::UseCase;
use numaseg::numa::NodeId;
use numaseg::{ArenaManager, Config, MemoryManager, MemorySegment};

use crate::{MIB, assert_range_on, in_guest, nodes_with_cpus, pin, require_nodes};

fn assert_page_on(page: &MemorySegment<'_>, node: NodeId) {
    assert_eq!(page.node(), node);
    assert_range_on(page.as_ptr() as usize, page.size(), node);
}

#[test]
fn pages_of_an_owner_bound_to_node_k_live_on_node_k() {
    let arena = Arc::new(ArenaManager::new(&Config::default()).unwrap());
    if in_guest() {
        assert_eq!(arena.nodes().len(), 4, "the guest has 4 nodes");
    }
    let mm = MemoryManager::builder(Arc::clone(&arena)).memory_size(64 * MIB).build().unwrap();
    for node in arena.nodes() {
        let owner = mm.owner_on(&format!("bound-{}", node.index()), UseCase::Operator, node).unwrap();
        let mut pages = mm.allocate_pages(&owner, 64).unwrap(); // 2 MiB of 32 KiB pages
        pages.push(mm.allocate_page(&owner).unwrap());
        for (i, page) in pages.iter_mut().enumerate() {
            page.put_u64_le(0, i as u64).unwrap(); // touched, so the kernel reports its node
            assert_page_on(page, node);
        }
        let stats = mm.stats();
        let on_node = stats.nodes.iter().find(|n| n.node == node.index()).unwrap();
        assert_eq!(on_node.used_pages, 65);
        mm.release_pages(&mut pages);
        drop(pages);
        assert!(owner.close().is_clean());
        println!("{node}: 65 pages of a bound owner verified on {node}");
    }
    assert!(mm.verify_empty());
    assert_eq!(arena.stats().remote_allocations(), 0);
}

#[test]
fn an_unbound_owner_follows_the_pinned_thread() {
    let arena = Arc::new(ArenaManager::new(&Config::default()).unwrap());
    let t = arena.topology().clone();
    if !require_nodes(&t, 2) {
        return;
    }
    let mm = MemoryManager::builder(Arc::clone(&arena)).memory_size(64 * MIB).build().unwrap();
    for node in nodes_with_cpus(&t) {
        std::thread::scope(|s| {
            s.spawn(|| {
                pin(&t, node);
                let owner = mm.owner(&format!("pinned-{}", node.index()), UseCase::Operator);
                let mut pages = mm.allocate_pages(&owner, 32).unwrap();
                for page in &mut pages {
                    page.as_mut_slice().unwrap().fill(1);
                    assert_page_on(page, node);
                }
                println!("{node}: 32 pages of an unbound owner on a thread pinned to {node}");
            })
            .join()
            .unwrap();
        });
    }
    assert!(mm.verify_empty());
}
