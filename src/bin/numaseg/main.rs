//! `numaseg`: a thin command-line tool over the public API.
//!
//! - `numaseg topology`: nodes, CPUs, memory, huge pages free/total per node, THP mode;
//! - `numaseg config`: the effective configuration and where each value came from
//!   (`--markdown` prints the table of `docs/CONFIGURATION.md`);
//! - `numaseg verify`: maps a region on every node with every page kind available, reads the
//!   placement back page by page, and exits non-zero if anything landed elsewhere;
//! - `numaseg stats`: runs a small workload and prints the stats snapshot;
//! - `numaseg demo`: the tour — segments on every node, stats.
//!
//! Human-readable tables by default, `--json` for scripts.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use numaseg::buffer_pool::credit::{FlowConfig, InProcessLink, InputGate, RecordWriter, Subpartition};
use numaseg::buffer_pool::debloat::{Clock, DebloatConfig, ManualClock};
use numaseg::buffer_pool::{Buffer, GateStats, LocalBufferPool, NetworkBufferPool, NetworkBufferStats};
use numaseg::bytes::{Buf, BufMut};
use numaseg::config::{Config, VARS};
use numaseg::manager::MemoryManagerStats;
use numaseg::manager::UseCase;
use numaseg::numa::placement::Backing;
use numaseg::numa::sys::linux::LinuxSource;
use numaseg::numa::{NodeId, NodeSet, PageKind, PagePolicy, PageSource, Region, RegionSpec, Topology};
use numaseg::{ArenaManager, MemoryManager, Stats};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(name = "numaseg", version, about = "NUMA-local, huge-page-backed memory: inspect, verify, demonstrate")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Nodes, CPUs, memory, huge pages per node, THP mode.
    Topology {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The effective configuration and where each value came from.
    Config {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The table of every variable, as docs/CONFIGURATION.md holds it.
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
    },
    /// Map a region on every node with every page kind available and check placement page by page.
    Verify {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Nodes to check (kernel list syntax); default: every usable node.
        #[arg(long)]
        nodes: Option<String>,
    },
    /// Run a small workload on every node and print the stats snapshot.
    Stats {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Prometheus text format instead of a table.
        #[arg(long, conflicts_with = "json")]
        prometheus: bool,
    },
    /// A tour of numaseg on this machine.
    Demo,
    /// A bounded soak: random allocation, release, stealing, buffer and thread churn on every
    /// node, with conservation checked every round and RSS checked once warm.
    Soak {
        /// Total duration in seconds.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Worker threads.
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Length of a round in milliseconds (conservation is checked at the end of each).
        #[arg(long, default_value_t = 1000)]
        round_ms: u64,
        /// Rounds before RSS counts as warm (pools fill up to their bounds first).
        #[arg(long, default_value_t = 10)]
        warm_rounds: usize,
    },
    /// Compare numaseg with other allocators and pools (needs the `bench` feature).
    #[cfg(feature = "bench")]
    Bench(BenchArgs),
}

/// Options of `numaseg bench`.
#[cfg(feature = "bench")]
#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// The CI smoke run: 32 KiB only, short measurements, one repetition, 64 MiB TLB set.
    #[arg(long)]
    quick: bool,
    /// Repetitions of each measurement (default: 5, or 1 with --quick).
    #[arg(long)]
    reps: Option<usize>,
    /// Where compare.json, compare.md and ratios.svg go.
    #[arg(long, default_value = "bench-results")]
    out: std::path::PathBuf,
    /// TLB working set in MiB (0 skips the TLB workload).
    #[arg(long)]
    tlb_mib: Option<usize>,
    /// Reserve this many 2 MiB hugetlb pages on the current node for the run (root; given back
    /// after), so the raw-hugetlb TLB baseline and numaseg's 2 MiB regions can run.
    #[arg(long, default_value_t = 0)]
    reserve_huge_pages: u64,
    /// Only the memory-in-motion rows (one-at-a-time hand-off, foreign free, bulk through
    /// handles, batch on two threads) and their targets.
    #[arg(long)]
    only_motion: bool,
    /// Only the isolation rows: what `NUMASEG_ZERO` costs per 4 KiB / 32 KiB / 2 MiB block,
    /// against a plain memset.
    #[arg(long)]
    only_isolation: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("numaseg: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!("numaseg={}", config.log)))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Topology { json } => topology(json),
        Command::Config { json, markdown } => show_config(&config, json, markdown),
        Command::Verify { json, nodes } => verify(&config, json, nodes.as_deref()),
        Command::Stats { json, prometheus } => stats(&config, json, prometheus),
        Command::Demo => demo(&config),
        Command::Soak { seconds, workers, round_ms, warm_rounds } => {
            soak_command(&config, seconds, workers, round_ms, warm_rounds)
        }
        #[cfg(feature = "bench")]
        Command::Bench(args) => bench(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("numaseg: {e}");
            ExitCode::from(2)
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows as an aligned text table.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    line(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().iter().map(String::as_str).collect());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

fn mib(bytes: u64) -> String {
    format!("{}", bytes >> 20)
}

// === topology ===

#[derive(Serialize)]
struct NodeRow {
    node: usize,
    cpus: String,
    memory_bytes: u64,
    huge_2m_free: Option<u64>,
    huge_2m_total: Option<u64>,
    huge_1g_free: Option<u64>,
    huge_1g_total: Option<u64>,
    distances: Vec<Option<u32>>,
}

#[derive(Serialize)]
struct TopologyReport {
    source: &'static str,
    thp_mode: String,
    current_node: usize,
    nodes: Vec<NodeRow>,
}

fn cpu_list(cpus: &[usize]) -> String {
    let set: String = {
        let mut out = String::new();
        let mut iter = cpus.iter().copied().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&if end == start { start.to_string() } else { format!("{start}-{end}") });
        }
        out
    };
    if set.is_empty() { "-".to_owned() } else { set }
}

fn topology(json: bool) -> Result<ExitCode> {
    let t = Topology::detect()?;
    let ids: Vec<NodeId> = t.nodes().iter().map(|n| n.id).collect();
    let report = TopologyReport {
        source: t.source(),
        thp_mode: LinuxSource::new().thp_mode().to_string(),
        current_node: t.current_node().index(),
        nodes: t
            .nodes()
            .iter()
            .map(|n| {
                let pool = |k| n.huge_page_pool(k);
                NodeRow {
                    node: n.id.index(),
                    cpus: cpu_list(&n.cpus),
                    memory_bytes: n.memory_bytes,
                    huge_2m_free: pool(PageKind::Huge2M).map(|p| p.free),
                    huge_2m_total: pool(PageKind::Huge2M).map(|p| p.total),
                    huge_1g_free: pool(PageKind::Huge1G).map(|p| p.free),
                    huge_1g_total: pool(PageKind::Huge1G).map(|p| p.total),
                    distances: ids.iter().map(|&other| t.distance(n.id, other)).collect(),
                }
            })
            .collect(),
    };
    if json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "topology from {}; THP mode: {}; this thread runs on node {}",
        report.source, report.thp_mode, report.current_node
    );
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    let rows: Vec<Vec<String>> = report
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.node.to_string(),
                n.cpus.clone(),
                mib(n.memory_bytes),
                format!("{}/{}", opt(n.huge_2m_free), opt(n.huge_2m_total)),
                format!("{}/{}", opt(n.huge_1g_free), opt(n.huge_1g_total)),
                n.distances.iter().map(|d| d.map_or("-".to_owned(), |d| d.to_string())).collect::<Vec<_>>().join(" "),
            ]
        })
        .collect();
    table(&["node", "cpus", "memory MiB", "2M pages free/total", "1G pages free/total", "distances"], &rows);
    Ok(ExitCode::SUCCESS)
}

// === config ===

#[derive(Serialize)]
struct ConfigRow {
    name: &'static str,
    value: String,
    source: String,
}

fn show_config(config: &Config, json: bool, markdown: bool) -> Result<ExitCode> {
    if markdown {
        print!("{}", Config::markdown_table());
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<ConfigRow> = config
        .describe()
        .into_iter()
        .map(|s| ConfigRow { name: s.name, value: s.value, source: s.source.to_string() })
        .collect();
    if json {
        print_json(&rows)?;
    } else {
        let text: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let doc = VARS.iter().find(|v| v.name == r.name).map_or("", |v| v.accepts);
                vec![r.name.to_owned(), r.value.clone(), r.source.clone(), doc.to_owned()]
            })
            .collect();
        table(&["variable", "value", "from", "accepts"], &text);
        // What `numaseg::global()` would build from this environment (nothing is mapped unless
        // NUMASEG_PREALLOCATE asks for it).
        println!();
        match numaseg::try_global() {
            Ok(manager) => {
                let stats = manager.stats();
                let budget = |b: Option<u64>| b.map_or_else(|| "unlimited".to_owned(), |b| format!("{b} bytes"));
                println!(
                    "numaseg::global() builds: nodes {} on {}, total budget {}, largest segment {} bytes",
                    manager.nodes().iter().map(|n| n.index().to_string()).collect::<Vec<_>>().join(","),
                    manager.source_name(),
                    budget(stats.total_budget_bytes),
                    manager.max_segment_size(),
                );
                for node in &stats.nodes {
                    println!("  node {}: budget {}", node.node, budget(node.budget_bytes));
                }
            }
            Err(e) => {
                println!("numaseg::global() would fail: {e}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

// === verify ===

#[derive(Serialize)]
struct VerifyRow {
    node: usize,
    kind: &'static str,
    bytes: usize,
    pages: usize,
    on_node: usize,
    huge_backed: usize,
    ok: bool,
    detail: String,
}

fn verify(config: &Config, json: bool, nodes: Option<&str>) -> Result<ExitCode> {
    let t = Topology::detect()?.with_fresh_huge_pages();
    let usable = t.node_set().clone();
    let wanted: NodeSet = match nodes {
        Some(list) => list.parse()?,
        None => match &config.nodes {
            numaseg::config::NodeSelection::All => usable.clone(),
            numaseg::config::NodeSelection::List(l) => l.clone(),
        },
    };
    if let Some(missing) = wanted.iter().find(|n| !usable.contains(*n)) {
        eprintln!("numaseg verify: {missing} does not exist or is not usable by this process (usable nodes: {usable})");
        return Ok(ExitCode::from(1));
    }
    let source: Arc<dyn PageSource> = Arc::new(LinuxSource::new());
    let mut rows = Vec::new();
    for node in wanted.iter() {
        let info = t.node(node).ok_or("node vanished")?;
        let mut kinds = vec![];
        if info.huge_page_pool(PageKind::Huge1G).is_some_and(|p| p.free >= 1) {
            kinds.push((PageKind::Huge1G, PageKind::Huge1G.page_size()));
        }
        if info.huge_page_pool(PageKind::Huge2M).is_some_and(|p| p.free >= 2) {
            kinds.push((PageKind::Huge2M, 4 << 20));
        }
        if source.thp_mode().allows_thp() {
            kinds.push((PageKind::Thp, 4 << 20));
        }
        kinds.push((PageKind::Small, 4 << 20));
        for (kind, bytes) in kinds {
            let spec = RegionSpec {
                policy: PagePolicy::Only(kind),
                strict: true,
                prefault: true,
                ..RegionSpec::new(bytes, node)
            };
            let row = match Region::map(&source, &spec) {
                Err(e) => VerifyRow {
                    node: node.index(),
                    kind: kind.name(),
                    bytes,
                    pages: 0,
                    on_node: 0,
                    huge_backed: 0,
                    ok: false,
                    detail: e.to_string(),
                },
                Ok((region, _)) => {
                    let p = region.placement()?;
                    let on_node = p.pages_on(node);
                    let huge_backed = p.pages.iter().filter(|s| s.backing.is_huge()).count();
                    let backing_ok = match kind {
                        PageKind::Small => true,
                        // THP is best effort; hugetlb must be exact.
                        PageKind::Thp => huge_backed > 0 || p.pages_backed_by(Backing::Unknown) > 0,
                        _ => huge_backed == p.pages.len(),
                    };
                    VerifyRow {
                        node: node.index(),
                        kind: kind.name(),
                        bytes,
                        pages: p.pages.len(),
                        on_node,
                        huge_backed,
                        ok: on_node == p.pages.len() && backing_ok,
                        detail: p.to_string(),
                    }
                }
            };
            rows.push(row);
        }
    }
    let all_ok = rows.iter().all(|r| r.ok);
    if json {
        print_json(&rows)?;
    } else {
        let text: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.node.to_string(),
                    r.kind.to_owned(),
                    mib(r.bytes as u64),
                    r.pages.to_string(),
                    r.on_node.to_string(),
                    r.huge_backed.to_string(),
                    if r.ok { "OK".to_owned() } else { "FAIL".to_owned() },
                    r.detail.clone(),
                ]
            })
            .collect();
        table(&["node", "kind", "MiB", "4K pages", "on node", "huge-backed", "result", "placement"], &text);
        println!("{}", if all_ok { "every page landed where it was asked" } else { "SOME PAGES LANDED ELSEWHERE" });
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

// === stats ===

fn workload(manager: &ArenaManager) -> Result<Vec<numaseg::Segment<'_>>> {
    let mut kept = Vec::new();
    for node in manager.nodes() {
        for size in [4096, 32 << 10, 1 << 20] {
            for i in 0..8 {
                let s = manager.allocate_on(node, size)?;
                if i % 2 == 0 {
                    kept.push(s);
                }
            }
        }
    }
    for _ in 0..1000 {
        drop(manager.allocate(32 << 10)?);
    }
    Ok(kept)
}

fn print_stats(stats: &Stats) {
    let rows: Vec<Vec<String>> = stats
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.node.to_string(),
                n.budget_bytes.map_or("none".to_owned(), mib),
                mib(n.mapped_bytes),
                mib(n.committed_bytes),
                format!("{:.2}", n.used_bytes as f64 / f64::from(1 << 20)),
                format!("{}/{}/{}/{}", n.regions_1g, n.regions_2m, n.regions_thp, n.regions_small),
                n.page_kind_fallbacks.to_string(),
                n.decommits.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "node",
            "budget MiB",
            "mapped MiB",
            "committed MiB",
            "used MiB",
            "regions 1g/2m/thp/small",
            "fallbacks",
            "decommits",
        ],
        &rows,
    );
    println!();
    let rows: Vec<Vec<String>> = stats
        .nodes
        .iter()
        .flat_map(|n| {
            n.classes.iter().filter(|c| c.regions > 0 || c.cache_hits + c.cache_misses > 0).map(move |c| {
                vec![
                    n.node.to_string(),
                    format!("{} KiB", c.segment_size >> 10),
                    c.regions.to_string(),
                    c.used_segments.to_string(),
                    c.cached_segments.to_string(),
                    c.pooled_segments.to_string(),
                    c.cache_hits.to_string(),
                    c.cache_misses.to_string(),
                    c.steals.to_string(),
                    c.remote_allocations.to_string(),
                ]
            })
        })
        .collect();
    table(&["node", "size", "regions", "used", "cached", "pooled", "hits", "misses", "steals", "remote"], &rows);
}

/// A small network-buffer workload: two local pools, some buffers kept in flight.
fn network_workload(network: &NetworkBufferPool) -> Result<(Vec<LocalBufferPool>, Vec<Buffer>)> {
    let pools = vec![network.create_buffer_pool(2, 16)?, network.create_buffer_pool(4, 32)?];
    let mut kept = Vec::new();
    for pool in &pools {
        for i in 0..8 {
            if let Some(mut buffer) = pool.request_buffer()? {
                buffer.put_slice(b"numaseg");
                if i % 2 == 0 {
                    kept.push(buffer);
                }
            }
        }
    }
    Ok((pools, kept))
}

/// A debloating input gate fed through the in-process link for a few periods of a manual clock
/// (deterministic): 40 kB per 200 ms reach its consumer.
fn gate_workload(network: &NetworkBufferPool, config: &Config) -> Result<GateStats> {
    let clock = ManualClock::new();
    let flow = FlowConfig::from_config(config);
    let mut debloat = DebloatConfig::from_config(config);
    debloat.enabled = true;
    let gate = InputGate::with_debloat_clock(network, 1, &flow, &debloat, Clock::manual(&clock))?;
    let sender = Subpartition::new(0);
    let mut writer = RecordWriter::new(sender.clone(), Arc::new(network.create_buffer_pool(4, 4)?));
    let mut link = InProcessLink::new(sender, gate.channel(0).clone());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..10 {
        writer.write(&[7; 40_000])?;
        writer.flush();
        let _ = link.poll_pump(&mut cx);
        while gate.channel(0).try_next().is_some() {}
        clock.advance(std::time::Duration::from_millis(200));
        let _ = link.poll_pump(&mut cx);
    }
    Ok(gate.stats())
}

fn print_gates(gates: &[GateStats]) {
    let rows: Vec<Vec<String>> = gates
        .iter()
        .map(|g| {
            vec![
                g.gate.to_string(),
                g.channels.to_string(),
                if g.debloating { "on".into() } else { "off".into() },
                g.buffer_size.to_string(),
                g.throughput.to_string(),
                g.in_flight_bytes.to_string(),
                g.size_changes.to_string(),
            ]
        })
        .collect();
    table(&["gate", "channels", "debloat", "buffer size B", "throughput B/s", "in flight B", "size changes"], &rows);
}

fn print_network(stats: &NetworkBufferStats) {
    println!(
        "network buffers: {} of {} KiB; {} in the global pool, {} required by pools, {} in use; {} requested, {} recycled",
        stats.total,
        stats.buffer_size >> 10,
        stats.available,
        stats.required,
        stats.in_use,
        stats.requested,
        stats.recycled
    );
    let rows: Vec<Vec<String>> = stats
        .pools
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                format!("{:?}", p.kind).to_lowercase(),
                p.node.to_string(),
                format!("{}..{}", p.min, p.max),
                p.size.to_string(),
                p.owned.to_string(),
                p.in_use.to_string(),
                p.waits.to_string(),
            ]
        })
        .collect();
    table(&["pool", "kind", "node", "min..max", "size", "owned", "in use", "waits"], &rows);
}

fn print_memory_manager(stats: &MemoryManagerStats) {
    println!(
        "memory manager: {} MiB in {} pages of {} KiB; used {} MiB ({} pages, {} MiB reserved), available {} MiB",
        stats.memory_size_bytes >> 20,
        stats.total_pages,
        stats.page_size_bytes >> 10,
        stats.used_bytes >> 20,
        stats.used_pages,
        stats.reserved_bytes >> 20,
        stats.available_bytes >> 20
    );
    let rows: Vec<Vec<String>> = stats
        .owners
        .iter()
        .map(|o| {
            vec![o.name.clone(), o.use_case.to_string(), o.pages.to_string(), (o.reserved_bytes >> 10).to_string()]
        })
        .collect();
    table(&["owner", "use case", "pages", "reserved KiB"], &rows);
}

fn stats(config: &Config, json: bool, prometheus: bool) -> Result<ExitCode> {
    let manager = Arc::new(ArenaManager::new(config)?);
    let kept = workload(&manager)?;
    let mm = MemoryManager::builder(Arc::clone(&manager)).memory_size(64 << 20).build()?;
    let (join, sort) = (mm.owner("hash-join", UseCase::Operator), mm.owner("state", UseCase::StateBackend));
    let pages = mm.allocate_pages(&join, 16)?;
    mm.reserve_memory(&sort, 4 << 20)?;
    let network = NetworkBufferPool::with_buffers(Arc::clone(&manager), 256, config.segment_size.as_usize())?;
    let (pools, buffers) = network_workload(&network)?;
    let gates = vec![gate_workload(&network, config)?];
    let allocator = manager.stats();
    let net = network.stats();
    let memory = mm.stats();
    if json {
        #[derive(Serialize)]
        struct All<'a> {
            allocator: &'a Stats,
            memory_manager: &'a MemoryManagerStats,
            network: &'a NetworkBufferStats,
            gates: &'a [GateStats],
        }
        print_json(&All { allocator: &allocator, memory_manager: &memory, network: &net, gates: &gates })?;
    } else if prometheus {
        print!(
            "{}{}{}{}",
            allocator.to_prometheus(),
            memory.to_prometheus(),
            net.to_prometheus(),
            GateStats::to_prometheus(&gates)
        );
    } else {
        println!(
            "stats after a small workload (8 segments of 4 KiB, 32 KiB and 1 MiB per node, half kept; 1000 hot pairs; \
             a 64 MiB memory manager with two owners; two network pools with buffers in flight; a debloating gate):"
        );
        print_stats(&allocator);
        println!();
        print_memory_manager(&memory);
        println!();
        print_network(&net);
        println!("\ninput gates (adaptive buffer sizing; one gate fed 200 kB/s on a manual clock):");
        print_gates(&gates);
    }
    drop(pages);
    mm.release_all_memory(&sort);
    drop((join, sort, mm, buffers, pools, network, kept));
    Ok(ExitCode::SUCCESS)
}

// === soak ===

mod soak;

fn soak_command(config: &Config, seconds: u64, workers: usize, round_ms: u64, warm_rounds: usize) -> Result<ExitCode> {
    let manager = Arc::new(ArenaManager::new(config)?);
    let network =
        NetworkBufferPool::with_buffers(Arc::clone(&manager), 16 * workers.max(1), config.segment_size.as_usize())?;
    let opts = soak::SoakOptions {
        duration: std::time::Duration::from_secs(seconds),
        workers: workers.max(2),
        round: std::time::Duration::from_millis(round_ms.max(10)),
        warm_rounds,
    };
    println!(
        "soak: {} s, {} workers on {} node(s), rounds of {} ms; NUMASEG_RETAIN_FREE={}",
        seconds,
        opts.workers,
        manager.nodes().len(),
        opts.round.as_millis(),
        config.retain_free
    );
    match soak::run(&manager, &network, &opts) {
        Ok(rounds) => {
            let ops: u64 = rounds.iter().map(|r| r.ops).sum();
            let warm = soak::warm_level(&rounds, opts.warm_rounds);
            let max = rounds.iter().skip(opts.warm_rounds).map(|r| r.rss).max().unwrap_or(0);
            println!(
                "soak passed: {} rounds, {ops} operations, conservation held every round; RSS warm {} MiB, max after warm-up {} MiB",
                rounds.len(),
                warm >> 20,
                max >> 20
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("soak FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

// === demo ===

fn demo(config: &Config) -> Result<ExitCode> {
    let manager = ArenaManager::new(config)?;
    println!("numaseg demo: {} node(s) in use, page source {}", manager.nodes().len(), manager.source_name());
    println!("this thread's home node: {}", manager.thread_node());
    for node in manager.nodes() {
        let mut segment = manager.allocate_on(node, 2 << 20)?;
        segment.as_mut_slice().fill(0x5A);
        let p = numaseg::numa::placement::read_back(segment.as_ptr() as usize, segment.len())?;
        println!(
            "  {node}: a {} KiB segment backed by {} pages; read back: {p}",
            segment.len() >> 10,
            segment.page_kind()
        );
    }
    let start = std::time::Instant::now();
    let n = 1_000_000u32;
    for _ in 0..n {
        let mut s = manager.allocate(32 << 10)?;
        s.as_mut_slice()[0] = 1;
    }
    println!(
        "  {n} allocate+touch+free pairs of 32 KiB in {:?} ({:.1} ns per pair, unscientific: see `numaseg bench`)",
        start.elapsed(),
        start.elapsed().as_nanos() as f64 / f64::from(n)
    );
    let manager = Arc::new(manager);
    let mm = MemoryManager::builder(Arc::clone(&manager)).memory_size(16 << 20).build()?;
    let owner = mm.owner("demo-operator", UseCase::Operator);
    let mut page = mm.allocate_page(&owner)?;
    page.put_u64_be(8, 0x0123_4567_89ab_cdef)?;
    println!(
        "  memory manager: a {} KiB page for owner {:?} on {}; u64 at offset 8 reads back {:#x}; {} of {} MiB available",
        page.size() >> 10,
        owner.name(),
        page.node(),
        page.get_u64_be(8)?,
        mm.available_memory() >> 20,
        mm.memory_size() >> 20
    );
    match page.get_u64_be(page.size() - 4) {
        Err(e) => println!("  reading past the end: {e}"),
        Ok(_) => println!("  (unexpected: a read past the end succeeded)"),
    }
    drop(page);
    // A small pool for the tour (a service sizes it with NUMASEG_NETWORK_MEMORY or _BUFFERS).
    let network = NetworkBufferPool::with_buffers(Arc::clone(&manager), 256, config.segment_size.as_usize())?;
    let stats = network.stats();
    println!(
        "  network buffer pool: {} buffers of {} KiB over {} node(s)",
        stats.total,
        stats.buffer_size >> 10,
        stats.free_per_node.len()
    );
    let pool = network.create_buffer_pool(2, 8)?;
    if let Some(mut buffer) = pool.request_buffer()? {
        buffer.put_slice(b"hello, network");
        println!(
            "  a buffer from local pool {} on {}: {:?}",
            pool.id(),
            buffer.node(),
            String::from_utf8_lossy(buffer.chunk())
        );
    }
    match network.create_buffer_pool(stats.total + 1, stats.total + 1) {
        Err(e) => println!("  asking for more than exists: {e}"),
        Ok(_) => println!("  (unexpected: an impossible pool was created)"),
    }
    println!();
    print_stats(&manager.stats());
    println!();
    print_network(&network.stats());
    drop(pool);
    Ok(ExitCode::SUCCESS)
}

// === bench ===

#[cfg(feature = "bench")]
fn bench(args: &BenchArgs) -> Result<ExitCode> {
    let mut opts =
        if args.quick { numaseg::bench::BenchOptions::quick() } else { numaseg::bench::BenchOptions::full() };
    if let Some(reps) = args.reps {
        opts.reps = reps.max(1);
    }
    if let Some(mib) = args.tlb_mib {
        opts.tlb_bytes = mib << 20;
    }
    opts.out_dir.clone_from(&args.out);
    opts.only_motion = args.only_motion;
    opts.only_isolation = args.only_isolation;
    let _reservation = if args.reserve_huge_pages > 0 {
        let node = Topology::detect()?.current_node();
        let r = numaseg::numa::hugepages::Reservation::add(node, PageKind::Huge2M, args.reserve_huge_pages)?;
        eprintln!("bench: reserved {} of {} 2 MiB pages on {node} for the run", r.obtained(), args.reserve_huge_pages);
        Some(r)
    } else {
        None
    };
    let report = numaseg::bench::run(&opts)?;
    print!("{}", report.markdown());
    println!("\nwritten: {0}/compare.json, {0}/compare.md, {0}/ratios.svg", opts.out_dir.display());
    Ok(ExitCode::SUCCESS)
}
