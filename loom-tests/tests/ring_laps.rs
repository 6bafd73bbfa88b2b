//! One owned ring (`src/buffer_pool/ring.rs`, two entries under loom) over more than two laps,
//! with two takers: every slot its owner puts in is taken exactly once.
//!
//! An entry holds its slot and the parity of its position's lap, so the entry an owner wrote two
//! laps ago has the parity of the position it holds now. What keeps a taker from reading that old
//! value is the `Acquire` chain on `taken`: a taker that reads `taken = t` synchronises with the
//! claim that wrote `t` (`AcqRel`), whose taker read the entries it claimed after their owner
//! stored them; so those reads happen before this taker's, and coherence forbids it an older
//! value (with a claimer that is not the owner too, whatever the ordering of its reads:
//! docs/RELIABILITY.md). The lane's models never get that far (their rings see one
//! lap), so this model runs the ring alone. The main thread is its owner and one taker: it puts
//! slots 0 to 4 (two and a half laps), taking everything whenever the ring is full, and takes
//! what is left at the end. Taker B, another thread, takes once, at most one entry, at any point
//! of that. If B read the slot of position 0 at position 4 (same parity), it would hand it out a
//! second time and clear position 4's entry, losing slot 4. (Owner and taker share a thread so
//! that nobody spins: with a taker spinning on its own thread, the model ran for more than ten
//! minutes at preemption bound 1.)
//!
//! Seen failing with the code broken on purpose (`docs/RELIABILITY.md`): the take's load of
//! `taken` `Relaxed` (`Ring::take`, `take#1` in `scripts/mutants.sh`), the claim without its
//! `Release` (`AcqRel` → `Acquire`), and the `Acquire` of a failed claim (`take#2`), each fails
//! as noted in the test.
#![cfg(loom)]

use loom::sync::Arc;
use numaseg::loom_lane::LoomRing;

use loom_tests::model;

/// Slots the owner puts in: more than two laps of a ring of two entries.
const SLOTS: u32 = 5;

/// Takes everything `ring` holds into `got`.
fn take_all(ring: &LoomRing, got: &mut Vec<u32>) {
    let mut out = [0u32; 2];
    loop {
        let k = ring.take(&mut out, 1);
        if k == 0 {
            return;
        }
        got.extend_from_slice(&out[..k]);
    }
}

#[test]
fn a_second_taker_over_three_laps_never_reads_an_entry_two_laps_old() {
    model(|| {
        let ring = Arc::new(LoomRing::new());
        let b = {
            let ring = Arc::clone(&ring);
            loom::thread::spawn(move || {
                let mut out = [0u32; 1];
                let k = ring.take(&mut out, 1);
                out[..k].to_vec()
            })
        };
        let mut all = Vec::new();
        for slot in 0..SLOTS {
            while !ring.push(slot) {
                let before = all.len();
                take_all(&ring, &mut all);
                if all.len() == before {
                    // B claimed the entry and has not cleared it yet.
                    loom::thread::yield_now();
                }
            }
        }
        all.extend(b.join().expect("taker B"));
        take_all(&ring, &mut all);
        all.sort_unstable();
        assert_eq!(all, (0..SLOTS).collect::<Vec<_>>(), "each slot taken once");
    });
}
