//! Replays every input stored under `fuzz/regressions/<target>/` through the same check the fuzz
//! target runs, so a bug a fuzzer once found stays fixed (`scripts/fuzz.sh` runs the fuzzers).

#[path = "../../fuzz/checks/buffer_pool.rs"]
mod buffer_pool_check;
#[path = "../../fuzz/checks/config.rs"]
mod config_check;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target);
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
    replay("buffer_pool", buffer_pool_check::check);
    // A hand-made sequence through every operation.
    buffer_pool_check::check(&[0, 3, 5, 2, 0, 0, 2, 1, 0, 6, 0, 1, 4, 0, 7, 5, 1, 0, 3, 0, 0, 7, 0, 0, 1, 0, 0]);
}
