//! Replays every input stored under `fuzz/regressions/<target>/` through the same check the fuzz
//! target runs, so a bug a fuzzer once found stays fixed (`scripts/fuzz.sh` runs the fuzzers).

#[path = "../../fuzz/checks/buffer_pool.rs"]
mod buffer_pool_check;
#[path = "../../fuzz/checks/config.rs"]
mod config_check;
#[path = "../../fuzz/checks/memory_manager.rs"]
mod memory_manager_check;
#[path = "../../fuzz/checks/memory_segment.rs"]
mod memory_segment_check;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target);
    if !dir.exists() {
        return 0; // no finding stored for this target yet
    }
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        check(&std::fs::read(&path).unwrap());
        n += 1;
    }
    n
}

#[test]
fn config_regressions_stay_fixed() {
    assert!(replay("config", config_check::check) >= 1);
    // And a few hostile inputs by hand.
    for input in [&b"NUMASEG_REGION_SIZE=99999999999999999999999GiB\n"[..], b"#0=\n#1=\xff\xfe\n", b"NUMASEG_=1\n=\n"] {
        config_check::check(input);
    }
}

#[test]
fn buffer_pool_regressions_stay_fixed() {
    assert!(replay("buffer_pool", buffer_pool_check::check) >= 2, "the stored inputs were read");
    // A hand-made sequence through every operation.
    buffer_pool_check::check(&[0, 3, 5, 2, 0, 0, 2, 1, 0, 6, 0, 1, 4, 0, 7, 5, 1, 0, 3, 0, 0, 7, 0, 0, 1, 0, 0]);
}

/// Encoders of the arguments the `memory_segment` and `memory_manager` checks read, for the
/// hand-made sequences below.
mod enc {
    /// An offset or length `v` (modulo the page size + 17).
    pub fn at(v: u16) -> Vec<u8> {
        let [lo, hi] = v.to_le_bytes();
        vec![0, 0, lo, hi]
    }
    /// `usize::MAX - k`.
    pub fn max(k: u8) -> Vec<u8> {
        vec![6, k]
    }
    /// `-1 - k` cast from `i64`.
    pub fn negative(k: u8) -> Vec<u8> {
        vec![7, k]
    }
    /// The page size + `k`.
    pub fn past_end(k: u8) -> Vec<u8> {
        vec![5, k]
    }
    /// A small length for the check's own buffers.
    pub fn small(v: u16) -> Vec<u8> {
        v.to_le_bytes().to_vec()
    }
    /// A page count below 40.
    pub fn pages(n: u8) -> Vec<u8> {
        vec![0, n]
    }
    /// A fraction from the table of edges (2: 0.0, 8: 0.5, 9: 1.0, 0: NaN, 10: 1 + ε).
    pub fn fraction(edge: u8) -> Vec<u8> {
        vec![0, edge]
    }
    pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }
}

#[test]
fn memory_segment_regressions_stay_fixed() {
    use enc::{at, cat, max, negative, past_end, small};
    replay("memory_segment", memory_segment_check::check);
    // A hand-made sequence through every operation on 4 KiB pages: each typed access put at an
    // unaligned offset in each byte order and read back, then refused at the limits; every bulk,
    // copy, compare, swap, stream and view operation in range and at the limits; then a
    // revocation, every operation again on the revoked page (all `Released`), and a fresh page.
    let value = [1, 2, 3, 4, 5, 6, 7, 8];
    let in_range = |op: u8, page: u8| -> Vec<u8> {
        match op {
            0..=9 => cat(&[&[op, page, op % 3, 1], &at(3 + u16::from(op)), &value]),
            10 => cat(&[&[op, page], &at(7), &[1]]),
            11 => cat(&[&[op, page], &at(100), &small(16)]),
            12 => cat(&[&[op, page], &at(200), &[9], &small(32)]),
            13 => cat(&[&[op, page], &at(5), &at(2), &at(8), &small(12)]),
            14 => cat(&[&[op, page], &at(5), &at(2), &at(8), &[7], &small(12)]),
            15 | 16 | 19 => cat(&[&[op, page], &at(10), &at(300), &at(64)]),
            17 | 18 => cat(&[&[op, page, 1], &at(10), &at(300), &at(64), &at(60)]),
            20 => cat(&[&[op, page], &at(40), &at(20), &[3], &small(30), &[4]]),
            21 => cat(&[&[op, page], &at(40), &at(20), &[1], &small(10)]),
            _ => cat(&[&[op, page], &at(1000), &at(50), &[0xee]]),
        }
    };
    let at_limits = |op: u8, page: u8| -> Vec<u8> {
        match op {
            0..=9 => cat(&[&[op, page, 2, op % 2], &max(op), &value]),
            10 => cat(&[&[op, page], &negative(0), &[1]]),
            11 => cat(&[&[op, page], &past_end(0), &small(1)]),
            12 => cat(&[&[op, page], &max(0), &[9], &small(2)]),
            13 => cat(&[&[op, page], &at(5), &max(3), &at(8), &small(12)]),
            14 => cat(&[&[op, page], &at(5), &max(3), &at(8), &[7], &small(12)]),
            15 | 16 | 19 => cat(&[&[op, page], &negative(1), &at(0), &max(0)]),
            17 | 18 => cat(&[&[op, page, 0], &at(0), &max(0), &past_end(1), &at(1)]),
            20 => cat(&[&[op, page], &max(7), &at(20), &[3], &small(30), &[4]]),
            21 => cat(&[&[op, page], &at(4000), &past_end(0), &[0], &small(10)]),
            _ => cat(&[&[op, page], &past_end(0), &at(1), &[0xee]]),
        }
    };
    let mut ops = vec![0u8]; // 4 KiB pages
    for op in 0..10 {
        ops.extend(in_range(op, 0));
        ops.extend(cat(&[&[op, 0, op % 3, 0], &at(3 + u16::from(op)), &value])); // read it back
    }
    for op in 0..23 {
        ops.extend(in_range(op, op % 2));
        ops.extend(at_limits(op, op % 2));
    }
    ops.extend([23, 0, 0]); // release_all of page 0's owner
    for op in 0..23 {
        ops.extend(in_range(op, 0)); // all refused: Released
    }
    ops.extend([23, 0, 1]); // a fresh page for owner 0
    ops.extend(in_range(3, 0));
    memory_segment_check::check(&ops);
}

#[test]
fn memory_manager_regressions_stay_fixed() {
    use enc::{cat, fraction, pages};
    replay("memory_manager", memory_manager_check::check);
    // A hand-made sequence through every operation: 4 KiB pages, a budget of 10 pages and
    // 150 bytes, default weights; owners (one bound to node 1, one to node 3, which does not
    // exist), allocations of 5, all that is left, and one more; reservations of more than is free
    // and of what is held; a shared resource of half the budget, with NaN, and of another type;
    // revocation (twice); releases of every kind; another manager's owner and pages; the
    // owners' ends.
    memory_manager_check::check(&cat(&[
        &[0, 9, 10, 0],                               // 4 KiB pages, 10 pages + 150 bytes, default weights
        &[0, 0, 0],                                   // owner 0: OPERATOR, unbound
        &[0, 1, 2],                                   // owner 1: STATE_BACKEND, node 1
        &[1, 2, 3],                                   // node 3: refused
        &cat(&[&[3, 0, 1], &pages(5), &[0]]),         // owner 0: 5 pages (bulk, into a vector)
        &[4, 1, 1, 6, 1],                             // owner 1: every page that is left
        &[5, 0, 1, 7, 1],                             // owner 0: one more than is left: refused
        &[3, 0, 0, 1],                                // owner 0: a single page: refused
        &[9, 0, 6, 0],                                // owner 0 reserves one byte more than is free: refused
        &[6, 3, 0xaa],                                // release a subset in one call
        &[9, 1, 5, 0],                                // owner 1 reserves all that is free
        &[10, 1, 8, 7, 2, 1],                         // owner 1 releases more than it holds, through the other manager
        &cat(&[&[11, 0, 1], &fraction(8), &[0, 1]]),  // half the budget as a shared resource (text)
        &cat(&[&[11, 0, 1], &fraction(9), &[0, 1]]),  // a second lease of it (any fraction)
        &cat(&[&[12, 0, 1], &fraction(0), &[0, 1]]),  // NaN: BadFraction
        &cat(&[&[11, 0, 1], &fraction(8), &[1, 1]]),  // another type: SharedTypeMismatch
        &cat(&[&[11, 1, 1], &fraction(10), &[1, 0]]), // 1 + ε: BadFraction
        &cat(&[&[12, 1, 1], &fraction(9), &[1, 1]]),  // the whole budget: refused, init not called
        &cat(&[&[12, 2, 1], &fraction(5), &[1, 0]]),  // a failing initializer: SharedInit
        &cat(&[&[13], &fraction(9), &[1]]),           // compute with 1.0
        &cat(&[&[13], &fraction(0), &[2]]),           // compute with NaN
        &[8, 0, 0, 0],                                // release_all of owner 0, twice
        &[8, 1, 1, 1],                                // release_all of owner 1, through the other manager
        &cat(&[&[14], &pages(3), &[2, 0, 0]]),        // another manager's owner and pages, mixed
        &[6, 0, 0, 6, 1, 0, 7, 2, 0],                 // release one page by drop, by release, through the other manager
        &[7, 4, 0],                                   // release_pages of one owner's pages
        &[11, 0, 0, 0, 11, 0, 0, 0],                  // drop both leases: the reservation goes back with the last
        &[15, 0],                                     // make_home of owner 0 (it has no page)
        &[9, 0, 0, 5, 0],                             // owner 0 reserves 485 bytes
        &[2, 0, 0],                                   // close owner 0 (its reservation is reported)
        &[2, 0, 1],                                   // drop owner 1
    ]));
}
