//! The comparison harness as a bench target: `cargo bench --bench compare --features bench`
//! (add `-- --quick` for the smoke run). Same code as `numaseg bench`; see `docs/BENCHMARKS.md`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let opts = if quick { numaseg::bench::BenchOptions::quick() } else { numaseg::bench::BenchOptions::full() };
    let report = numaseg::bench::run(&opts)?;
    print!("{}", report.markdown());
    Ok(())
}
