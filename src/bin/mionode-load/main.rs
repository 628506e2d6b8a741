//! `mionode-load`: what Maelstrom gives a node, on a machine without Maelstrom.
//!
//! Maelstrom runs N node processes, routes the JSON lines they write through a simulated
//! network, drives a workload from clients, checks the history and reports. This program does
//! the same, with the workloads, checkers, services, partitions and network model of
//! `mionode::harness` (shared with the simulator), so that one command on a fresh clone starts
//! a small cluster, drives load and prints a verdict:
//!
//! ```text
//! cargo build --release && target/release/mionode-load
//! ```
//!
//! # What it keeps from Maelstrom (DESIGN.md §2, docs/load.md)
//!
//! - Nodes `n0..n{N-1}` start in the temporary directory, each gets `init` from a client
//!   (`c0..c{N-1}`, closed once answered) and must answer `init_ok` within 10 s; at the end
//!   they are killed with SIGKILL. Each node's stderr goes to `node-logs/<id>.log`.
//! - Every delivered message is re-encoded with shuffled keys and gets a top-level integer
//!   `id`. Messages between nodes and services wait for a latency in whole milliseconds;
//!   clients' do not; partitions are Jepsen's grudges, at Jepsen's random gaps.
//! - A line that is not a message, or a message to or from an id that is not a node, a live
//!   client or a service, kills Maelstrom's reader for the node: the node is muted and the
//!   `nodes` check names the cause.
//! - Clients are Jepsen's: one request outstanding, 5 s timeout, a crashed client (timeout,
//!   indeterminate error) replaced by a new id; requests at `--rate` with random gaps.
//! - The verdict is a map of named checks (`workload`, `stats`, `availability`,
//!   `exceptions`, and ours, `nodes`), combined as Jepsen combines them.
//!
//! # How it is built
//!
//! [`cli`] parses flags; `mionode::harness::store` makes the run directory; [`driver`] is the
//! event loop that owns the [`process`]es, the [`network`], the clients
//! (`mionode::harness::clients`, shared with the simulator) and the [`nemesis`], records the
//! history and routes every line ([`wire`]); [`failures`] collects what the nodes did wrong,
//! [`stats`] counts for the table, and [`report`] runs the checks and writes `results.json`,
//! [`summary`] the text. The loop is one thread; its module doc says why.
//! `main` maps the outcome to an exit status: 0 valid, 1 invalid or unknown, 2 could not run.
//! `mionode-load serve` ([`serve`]) is the other subcommand: the store in a browser.

mod cli;
mod driver;
mod failures;
mod histogram;
mod nemesis;
mod network;
mod process;
mod progress;
mod report;
mod serve;
mod stats;
mod summary;
mod wire;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Parser;
use mionode::harness::clients::{Clients, Schedule};
use mionode::harness::seed::derive_seed;
use mionode::harness::views::{self, ViewOptions};
use mionode::harness::{record, store};

use crate::cli::Args;
use crate::driver::{Driver, Plan};
use crate::nemesis::Nemesis;
use mionode::harness::workload::Workload;

use crate::network::{NetConfig, Network};
use crate::progress::Progress;
use crate::report::{Config, Results};

/// Exit status of a valid run.
const EXIT_VALID: u8 = 0;
/// Exit status of a run where a check failed.
const EXIT_INVALID: u8 = 1;
/// Exit status when the run could not be made.
const EXIT_ERROR: u8 = 2;

/// How many messages `messages.jsonl` keeps: the first ones of the run. Enough for a
/// Lamport diagram and to follow a short run message by message; a long run at a million
/// messages a second would otherwise hold gigabytes.
const TRACE_CAP: usize = 100_000;

/// Name of the subdirectory where nodes run with `--metrics` write their Prometheus
/// service-discovery files.
const METRICS_SD: &str = "sd";

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    if argv.nth(1).is_some_and(|first| first == serve::SUBCOMMAND) {
        return serve::main(argv);
    }
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::from(EXIT_VALID),
        Ok(false) => ExitCode::from(EXIT_INVALID),
        Err(e) => {
            // stderr, unbuffered: the one line a failed run prints besides its report.
            let _ = writeln!(io::stderr(), "mionode-load: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Runs the whole test; `Ok(valid)`, or an error that kept the run from being made.
fn run(args: &Args) -> Result<bool, String> {
    let ids = args.node_ids()?;
    let bin = match &args.bin {
        Some(bin) => bin.clone(),
        None => default_bin().map_err(|e| format!("cannot find the mionode binary: {e}"))?,
    };
    // Nodes run in another directory: the binary's path must not depend on ours.
    let bin = std::fs::canonicalize(&bin)
        .map_err(|e| format!("cannot start the nodes: {}: {e}", bin.display()))?;
    let seed = args.run.seed.unwrap_or_else(|| fastrand::u64(..));
    let run_dir = create_run_dir(args)?;
    let args = &with_metrics(args, &run_dir)?;
    let config = config(args, &bin, &ids, seed);
    let record = drive(args, &bin, &ids, seed, &run_dir)?;
    let results = Results::new(config, record, run_dir.display().to_string());
    write_run(&run_dir, &results)?;
    draw_run(&run_dir, args);
    print(&results.summary);
    Ok(results.valid.is_true())
}

/// Draws the run's plots, Lamport diagram and page (`index.html` beside `results.json`) from
/// the records just written, before the summary is printed, so that the page is there when
/// the verdict shows. A failure to draw costs the pictures, not the verdict: it is reported
/// on stderr and the exit status stays the verdict's. Stdout stays the summary alone.
fn draw_run(run_dir: &Path, args: &Args) {
    let options = ViewOptions {
        max_messages: args.diagram_messages,
        ..ViewOptions::default()
    };
    if let Err(e) = views::render(run_dir, &options) {
        let _ = writeln!(io::stderr(), "mionode-load: cannot draw the run: {e}");
    }
}

/// The run directory, absolute (nodes run elsewhere and may be given paths inside it).
fn create_run_dir(args: &Args) -> Result<PathBuf, String> {
    let workload = args.run.workload.name();
    let made = match &args.run.store {
        Some(dir) => store::create_at(dir),
        None => store::create_run(Path::new(store::DEFAULT_STORE), workload, SystemTime::now()),
    };
    let dir = made.map_err(|e| format!("cannot create the run directory: {e}"))?;
    std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Writes results.json, the message trace, the nemesis periods and the summary.
fn write_run(run_dir: &Path, results: &Results) -> Result<(), String> {
    let at = |name: &str| run_dir.join(name).display().to_string();
    let json = serde_json::to_vec_pretty(results).map_err(|e| e.to_string())?;
    std::fs::write(run_dir.join(record::RESULTS), json)
        .map_err(|e| format!("{}: {e}", at(record::RESULTS)))?;
    store::write_jsonl_file(run_dir, record::MESSAGES, &results.messages)
        .map_err(|e| format!("{}: {e}", at(record::MESSAGES)))?;
    store::write_jsonl_file(run_dir, record::NEMESIS, &results.nemesis)
        .map_err(|e| format!("{}: {e}", at(record::NEMESIS)))?;
    std::fs::write(run_dir.join(record::SUMMARY), &results.summary)
        .map_err(|e| format!("{}: {e}", at(record::SUMMARY)))
}

/// With `--metrics`, the flags that make every node serve its metrics on a free loopback port
/// and publish it in the run's discovery directory, which is printed (Prometheus needs it
/// while the run goes on, not in the report after).
fn with_metrics(args: &Args, run_dir: &Path) -> Result<Args, String> {
    let mut args = args.clone();
    if !args.metrics {
        return Ok(args);
    }
    // A node removes its discovery file when its stdin closes: let it.
    args.close_stdin = true;
    let sd = run_dir.join(METRICS_SD);
    std::fs::create_dir_all(&sd).map_err(|e| format!("{}: {e}", sd.display()))?;
    let sd = sd.display().to_string();
    print(&format!(
        "metrics: every node serves /metrics on a free port and writes {sd}/<node>.json; \
         point Prometheus's file_sd_configs at {sd}/*.json\n"
    ));
    let flags = ["--metrics-addr", "127.0.0.1:0", "--metrics-sd-dir", &sd];
    args.node_args.extend(flags.map(String::from));
    Ok(args)
}

/// Starts the cluster and runs the loop to the end.
fn drive(
    args: &Args,
    bin: &Path,
    ids: &[String],
    seed: u64,
    run_dir: &Path,
) -> Result<driver::Record, String> {
    let n = ids.len();
    let net = Network::new(&NetConfig {
        nodes: n,
        latency: args.run.latency(),
        faults: args.run.faults(),
        net_rate: args.run.net_rate,
        reencode: !args.no_reencode,
        seed: derive_seed(seed, "network", 0),
    });
    let workload = workload(args, ids);
    let schedule = match args.run.rate {
        _ if args.closed_loop => Schedule::Closed,
        r if r > 0.0 => Schedule::Rate(r),
        _ => Schedule::Idle,
    };
    // Client numbers: the init clients, then one setup client per setup message.
    let first = n + workload.setup().len();
    let count = args.run.concurrency.clients(n);
    let clients = Clients::numbered_from(n, first, count, schedule, seed);
    let interval = (args.run.nemesis.partition).then_some(args.nemesis_interval());
    let nemesis = Nemesis::new(interval, derive_seed(seed, "nemesis", 0), ids)?;
    let progress = Progress::new(args.progress, args.time_limit());
    let plan = Plan {
        bin: bin.to_path_buf(),
        args: args.node_args.clone(),
        dir: std::env::temp_dir(),
        run_dir: run_dir.to_path_buf(),
        logs: run_dir.join(record::NODE_LOGS),
        ids: ids.to_vec(),
        init_timeout: args.init_timeout,
        time_limit: args.time_limit(),
        grace: args.grace,
        recovery: args.recovery,
        close_stdin: args.close_stdin,
        trace_cap: TRACE_CAP,
        node_max_line: args.node_max_line,
    };
    let driver = Driver::start(plan, net, (clients, workload), nemesis, progress, seed)
        .map_err(|e| format!("cannot start the nodes: {e}"))?;
    driver
        .run()
        .map_err(|e| format!("the event loop failed: {e}"))
}

/// The workload the flags ask for.
fn workload(args: &Args, ids: &[String]) -> Workload {
    let mut config = args.run.workload_config();
    config.node_ids = ids.to_vec();
    Workload::new(config)
}

/// The `mionode` binary beside this one (both are built into the same target directory).
fn default_bin() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name(format!("mionode{}", std::env::consts::EXE_SUFFIX)))
}

fn config(args: &Args, bin: &Path, ids: &[String], seed: u64) -> Config {
    let run = &args.run;
    Config {
        bin: bin.display().to_string(),
        nodes: ids.to_vec(),
        node_args: args.node_args.clone(),
        workload: run.workload.name().to_string(),
        concurrency: run.concurrency.clients(ids.len()),
        rate: run.rate,
        closed_loop: args.closed_loop,
        time_limit_s: args.time_limit().as_secs_f64(),
        batch_size: run.batch_size,
        seed,
        latency_ms: run.latency,
        latency_dist: run.latency_dist.name().to_string(),
        drop: run.drop,
        duplicate: run.duplicate,
        net_rate: run.net_rate,
        nemesis: run.nemesis.to_string(),
        nemesis_interval_s: args.nemesis_interval().as_secs_f64(),
        topology: run.topology.name(),
        grace_s: args.grace.as_secs_f64(),
        init_timeout_s: args.init_timeout.as_secs_f64(),
        recovery_s: args.recovery.as_secs_f64(),
        close_stdin: args.close_stdin,
        reencode: !args.no_reencode,
        availability: run.availability,
        node_max_line: args.node_max_line,
    }
}

/// Writes the summary; a closed stdout (`| head`) is not an error worth reporting.
fn print(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}
