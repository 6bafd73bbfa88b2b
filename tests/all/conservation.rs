//! Multi-thread stress with conservation: every live segment carries a unique tag written at
//! allocation and checked at free; no segment is handed out twice; after every thread ended,
//! nothing is in use, and once purged every region is whole again (nothing lost).

use std::collections::HashSet;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Barrier, Mutex};

use numaseg::numa::NodeId;
use numaseg::{ArenaManager, Config, Segment};

const THREADS: usize = 4;
const OPS: usize = if cfg!(debug_assertions) { 6_000 } else { 50_000 };

struct Held<'a> {
    segment: Segment<'a>,
    tag: u64,
}

fn write_tag(s: &mut Segment<'_>, tag: u64) {
    let len = s.len();
    let bytes = s.as_mut_slice();
    bytes[..8].copy_from_slice(&tag.to_le_bytes());
    bytes[len - 8..].copy_from_slice(&tag.to_le_bytes());
}

fn check_and_poison(held: &mut Held<'_>, live: &Mutex<HashSet<usize>>) {
    let len = held.segment.len();
    let bytes = held.segment.as_mut_slice();
    assert_eq!(u64::from_le_bytes(bytes[..8].try_into().unwrap()), held.tag, "someone else wrote into a live segment");
    assert_eq!(u64::from_le_bytes(bytes[len - 8..].try_into().unwrap()), held.tag);
    bytes[..8].fill(0xDD);
    assert!(live.lock().unwrap().remove(&(held.segment.as_ptr() as usize)), "freed a segment that was not live");
}

fn take<'a>(segment: Segment<'a>, tag: u64, live: &Mutex<HashSet<usize>>) -> Held<'a> {
    assert!(
        live.lock().unwrap().insert(segment.as_ptr() as usize),
        "segment at {:p} handed out twice",
        segment.as_ptr()
    );
    let mut segment = segment;
    write_tag(&mut segment, tag);
    Held { segment, tag }
}

fn worker<'a>(
    m: &'a ArenaManager,
    me: usize,
    live: &Mutex<HashSet<usize>>,
    inbox: Receiver<Held<'a>>,
    peers: Vec<Sender<Held<'a>>>,
    stop: &Barrier,
) {
    let nodes = m.nodes();
    m.set_thread_node(nodes[me % nodes.len()]).unwrap();
    let mut rng = fastrand::Rng::with_seed(me as u64 * 7919 + 1);
    let mut held: Vec<Held<'a>> = Vec::new();
    let mut next_tag = (me as u64) << 48;
    let mut bulk = m.new_batch();
    for _ in 0..OPS {
        while let Ok(mut h) = inbox.try_recv() {
            check_and_poison(&mut h, live);
        }
        match rng.u32(0..100) {
            0..50 if held.len() < 300 => {
                let size = 4096 << rng.usize(0..9); // 4 KiB .. 1 MiB
                next_tag += 1;
                held.push(take(m.allocate(size).unwrap(), next_tag, live));
            }
            50..54 => {
                m.allocate_bulk(4096 << rng.usize(0..3), 16, &mut bulk).unwrap();
                if rng.bool() {
                    while let Some(s) = bulk.pop() {
                        next_tag += 1;
                        held.push(take(s, next_tag, live));
                    }
                } else {
                    bulk.release(); // all back in one call
                }
            }
            54..90 if !held.is_empty() => {
                let mut h = held.swap_remove(rng.usize(0..held.len()));
                check_and_poison(&mut h, live);
            }
            90..100 if !held.is_empty() => {
                // A cross-thread (and, half the time, cross-node) free.
                let h = held.swap_remove(rng.usize(0..held.len()));
                let to = rng.usize(0..peers.len());
                if peers[to].send(h).is_err() {
                    unreachable!("peers live until the stop barrier");
                }
            }
            _ => {}
        }
    }
    for mut h in held.drain(..) {
        check_and_poison(&mut h, live);
    }
    drop(peers);
    stop.wait(); // nobody sends any more
    while let Ok(mut h) = inbox.try_recv() {
        check_and_poison(&mut h, live);
    }
}

fn stress(m: &ArenaManager) {
    let live = Mutex::new(HashSet::new());
    let stop = Barrier::new(THREADS);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| channel::<Held<'_>>()).unzip();
    std::thread::scope(|s| {
        let handles: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(me, inbox)| {
                let peers = senders.clone();
                let (live, stop) = (&live, &stop);
                s.spawn(move || worker(m, me, live, inbox, peers, stop))
            })
            .collect();
        drop(senders);
        for h in handles {
            h.join().unwrap(); // waits for each thread's cache hand-back too
        }
    });
    assert!(live.lock().unwrap().is_empty());
    let st = m.stats();
    assert_eq!(st.live_thread_caches, 0);
    assert_eq!(st.used_segments(), 0, "{st:#?}");
    assert_eq!(st.used_bytes(), 0);
    let frees: u64 = st.nodes.iter().flat_map(|n| &n.classes).map(|c| c.foreign_frees).sum();
    if m.nodes().len() > 1 {
        assert!(frees > 0, "cross-node frees happened");
    }
    // Every carved segment is back: after a purge no region serves a class and none is committed.
    m.purge();
    let st = m.stats();
    for n in &st.nodes {
        assert_eq!(n.committed_bytes, 0, "{n:#?}");
        assert_eq!(n.free_regions_decommitted * 32 * 1024 * 1024, n.mapped_bytes, "{n:#?}");
        assert!(n.classes.iter().all(|c| c.regions == 0 && c.pooled_segments == 0));
    }
}

#[test]
fn stress_on_heap_with_two_nodes_loses_nothing() {
    let config = Config::builder().cache_capacity(64).build_from::<_, &str, &str>([]).unwrap();
    let m = ArenaManager::heap_backed(&config, 2).unwrap();
    stress(&m);
    assert_eq!(m.nodes(), vec![NodeId::new(0), NodeId::new(1)]);
}

#[test]
fn stress_on_real_pages_loses_nothing() {
    let m = ArenaManager::new(&Config::default()).unwrap();
    stress(&m);
}
