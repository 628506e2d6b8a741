//! The simulator's speed: how many simulated seconds a wall second buys.
//!
//! `cargo bench --bench sim` runs, with the flooding broadcast of tests/sim_support:
//!
//! 1. **long**: 60 simulated seconds of a 5-node broadcast with partitions (Jepsen's shapes
//!    every 2 s on average), 10 requests a second, 5 ms exponential latency, then the
//!    final quiet period and reads; best and median of 5 runs.
//! 2. **sweep**: 1,000 seeds of a short test (5 nodes, partitions, 5 s of workload), one
//!    after another on one thread, as `simulate --seeds 1000` runs them.
//!
//! Each prints wall time and the ratio of simulated to wall time; docs/simulation.md has the
//! figures measured. Targets (issue 14): the long run in well under a second, the sweep in
//! about a minute.

#[path = "../tests/sim_support/mod.rs"]
mod sim_support;

use std::time::{Duration, Instant};

use clap::Parser;
use mionode::harness::flags::RunFlags;
use mionode::sim::{run_one, Options};
use sim_support::{Flood, FloodFlags};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunFlags,
}

fn flags(args: &str) -> RunFlags {
    let words = std::iter::once("sim").chain(args.split_whitespace());
    Cli::try_parse_from(words).expect("flags parse").run
}

/// Runs `seeds` and returns the wall time and the simulated nanoseconds.
fn measure(args: &str, seeds: std::ops::Range<u64>, max_messages: usize) -> (Duration, u64, bool) {
    let run = flags(args);
    let started = Instant::now();
    let mut simulated = 0;
    let mut all_valid = true;
    for seed in seeds {
        let mut opts = Options::new(run.clone(), seed);
        opts.max_messages = max_messages;
        let o = run_one::<Flood>(&FloodFlags::default(), opts);
        simulated += o.stats.simulated;
        all_valid &= o.valid().is_true();
    }
    (started.elapsed(), simulated, all_valid)
}

fn report(name: &str, wall: Duration, simulated: u64, valid: bool) {
    let sim = simulated as f64 / 1e9;
    println!(
        "{name:<40} {:>9.3} s wall  {sim:>9.1} s simulated  {:>8.0}x real time{}",
        wall.as_secs_f64(),
        sim / wall.as_secs_f64(),
        if valid { "" } else { "  (NOT ALL VALID)" }
    );
}

fn main() {
    // `cargo test --benches` passes --bench-less flags: run only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let long = "--workload broadcast --node-count 5 --rate 10 --time-limit 60 --latency 5 \
                --latency-dist exponential --nemesis partition --nemesis-interval 2";
    let mut runs: Vec<(Duration, u64, bool)> =
        (1..=5).map(|s| measure(long, s..s + 1, 100_000)).collect();
    runs.sort_by_key(|r| r.0);
    let (wall, sim, valid) = runs[0];
    report("long: 60 s broadcast, 5 nodes, best", wall, sim, valid);
    let (wall, sim, valid) = runs[2];
    report("long: 60 s broadcast, 5 nodes, median", wall, sim, valid);
    let short = "--workload broadcast --node-count 5 --rate 10 --time-limit 5 --latency 5 \
                 --latency-dist exponential --nemesis partition --nemesis-interval 1";
    let (wall, sim, valid) = measure(short, 1..1001, 0);
    report("sweep: 1000 seeds of a 5 s broadcast", wall, sim, valid);
}
