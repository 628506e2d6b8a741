//! Whole-process benchmarks of the `mionode` binary, each figure printed beside its target.
//!
//! ```text
//! cargo bench --bench process                     # every workload
//! cargo bench --bench process -- flood            # the workloads whose name contains "flood"
//! cargo bench --bench process -- --runs 1 batch   # one run each instead of RUNS
//! ```
//!
//! `MIONODE_BENCH_WRAP` runs the node under a command prefix, for profiling:
//! `MIONODE_BENCH_WRAP="valgrind --tool=callgrind" cargo bench --bench process -- --runs 1 echo`.
//!
//! | workload | what is timed | target |
//! |---|---|---|
//! | `echo`   | 200,000 echoes from a file, stdout to a drained pipe, spawn to exit | >= 1.5 M msg/s, <= 2x the bare serde_json loop |
//! | `batch`  | one `batch_echo` of 100,000 values, echoes looped back through the pipes | <= 150 ms |
//! | `flood`  | 20,000 `batch_echo`s of 5 values written at once, looped back | <= 0.5 s |
//! | `memory` | peak RSS with 1,000,000 RPCs pending, minus an idle node's | <= 256 bytes per RPC |
//! | `metrics` | the `echo` workload with metrics on against off (CPU, and instructions under callgrind) | <= 5% |
//!
//! Each workload runs [`RUNS`] times by default, interleaved with its comparisons, and reports
//! medians: the machine these figures come from is shared, and single runs are noisy. The
//! comparisons are processes of this very binary (see [`baselines`]): `--bare-loop` and
//! `--simple-node`. External tools: `/usr/bin/time` for peak RSS (package `time`), and
//! valgrind for instruction counts if it is installed.
//!
//! Outside `cargo bench` (`cargo test`, `cargo nextest run --all-targets`) the binary runs one
//! test, `smoke`: every workload once at a tiny scale, against the debug build, checking the
//! answers but no figures. It takes well under a second.

#[path = "../common/bare.rs"]
mod bare;
mod baselines;
mod batches;
mod echo;
mod loopback;
mod measure;
mod memory;
mod metrics;
mod workloads;

use std::process::ExitCode;

use workloads::Scale;

/// Runs of each measurement; medians are reported.
pub const RUNS: usize = 7;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let mode = args.first().map(String::as_str);
    let outcome = match mode {
        Some("--bare-loop") => baselines::bare_loop(),
        Some("--simple-node") => baselines::simple_node(),
        // The listing nextest asks test binaries for: one test, and it is not ignored.
        _ if has("--list") => {
            if !has("--ignored") {
                println!("smoke: test");
            }
            Ok(())
        }
        _ => {
            let (runs, filters) = match parse_args(&args) {
                Ok(parsed) => parsed,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let scale = if has("--bench") {
                Scale::full(runs)
            } else {
                Scale::SMOKE
            };
            return workloads::run_all(&scale, &filters);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `--runs N` and the filters: every other argument not starting with `-`.
fn parse_args(args: &[String]) -> Result<(usize, Vec<&str>), String> {
    let mut runs = RUNS;
    let mut filters = Vec::new();
    let mut args = args.iter().map(String::as_str);
    while let Some(arg) = args.next() {
        if arg == "--runs" {
            runs = match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => n,
                _ => return Err("--runs needs a positive number".into()),
            };
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    Ok((runs, filters))
}
