//! The `simulate` subcommand every node binary built on [`run`](crate::run()) understands:
//!
//! ```text
//! my-node [NODE FLAGS] simulate [RUN FLAGS] [--seeds N]
//! ```
//!
//! NODE FLAGS are the binary's usual flags (the runtime's and the app's), parsed by the same
//! parser as in a real run, before the word `simulate`: every simulated node is built from
//! them. `--log-level` sets what each node's log captures; a node `--seed` and the metrics
//! flags are refused (the run's `--seed` decides every node's seed; simulated nodes serve no
//! metrics). RUN FLAGS are `mionode-load`'s ([`RunFlags`]), in simulated time.
//!
//! One seed (`--seed S`, or one drawn at random and printed): the run is stored as
//! `mionode-load` stores it and its summary printed. `--seeds N`: seeds S..S+N-1 (S is
//! `--seed`, default 1) run one after another without a store, and every seed whose verdict
//! is not valid is listed with the command that replays it.
//!
//! Exit status: 0 when every run is valid, 1 when one is not, 2 when the run cannot be made.

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use clap::{Args, Subcommand};

use crate::app::App;
use crate::config::Config;
use crate::harness::flags::RunFlags;
use crate::harness::store;

use super::{logger, report, run_one, Options, Outcome, DEFAULT_MAX_MESSAGES};

/// The subcommands of a node binary.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Runs a whole cluster of this node in one process on a virtual clock, with
    /// Maelstrom's clients, services, network and partitions, every random choice from a
    /// seed, and checks it as mionode-load does. Node flags go before `simulate`.
    Simulate(SimulateArgs),
}

/// The flags of `simulate`.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Workload, cluster, network and faults: the same flags as mionode-load's.
    #[command(flatten)]
    pub run: RunFlags,

    /// Run this many seeds, from --seed (default 1) on, without a store; list every seed
    /// whose verdict is not valid, with the command that replays it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: Option<u64>,

    /// How many messages messages.jsonl (and the Lamport diagram) keeps.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_MESSAGES)]
    pub max_messages: usize,
}

/// Runs `simulate` for app `A`: `node` and `level` from the node flags, `flags` the app's,
/// `argv` the whole command line (for the replay commands). Writes to stdout.
pub fn main<A: App>(
    node: &Config,
    level: log::LevelFilter,
    flags: &A::Flags,
    args: &SimulateArgs,
    argv: &[String],
) -> ExitCode {
    if !logger::install(level) {
        let _ = writeln!(
            io_err(),
            "simulate: another logger is installed; node logs are empty"
        );
    }
    let mut out = std::io::stdout().lock();
    let result = match args.seeds {
        Some(n) => sweep::<A>(node, flags, args, n, argv, &mut out),
        None => single::<A>(node, flags, args, argv, &mut out),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(io_err(), "simulate: {e}");
            ExitCode::from(2)
        }
    }
}

fn io_err() -> std::io::Stderr {
    std::io::stderr()
}

/// One seed, stored. Returns whether the run is valid.
fn single<A: App>(
    node: &Config,
    flags: &A::Flags,
    args: &SimulateArgs,
    argv: &[String],
    out: &mut impl Write,
) -> Result<bool, String> {
    let seed = args.run.seed.unwrap_or_else(|| fastrand::u64(1..1 << 53));
    let mut opts = Options::new(args.run.clone(), seed);
    opts.node = node.clone();
    opts.max_messages = args.max_messages;
    let started = Instant::now();
    let outcome = run_one::<A>(flags, opts);
    let wall = started.elapsed();
    let mut text = report::summary(&title(&args.run), &outcome, wall);
    text.push_str(&format!("replay: {}\n", replay_command(argv, seed)));
    let dir = match &args.run.store {
        Some(dir) => store::create_at(dir),
        None => store::create_run(
            Path::new(store::DEFAULT_STORE),
            args.run.workload.name(),
            SystemTime::now(),
        ),
    }
    .map_err(|e| format!("cannot make the run directory: {e}"))?;
    let stored = report::write_store(&dir, &outcome, &text);
    text.push_str(&format!("store: {}\n", dir.display()));
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    stored.map_err(|e| format!("writing {}: {e}", dir.display()))?;
    Ok(outcome.valid().is_true())
}

/// Seeds `from..from + n`, unstored. Returns whether every one is valid. A seed whose run
/// panics (a node's handler, most likely) is listed like an invalid one.
fn sweep<A: App>(
    node: &Config,
    flags: &A::Flags,
    args: &SimulateArgs,
    n: u64,
    argv: &[String],
    out: &mut impl Write,
) -> Result<bool, String> {
    let from = args.run.seed.unwrap_or(1);
    let started = Instant::now();
    let mut base = Options::new(args.run.clone(), from);
    base.node = node.clone();
    base.max_messages = 0;
    let Sweep { simulated, bad } = sweep_seeds::<A>(flags, &base, from..from.saturating_add(n));
    let wall = started.elapsed();
    let mut text = format!(
        "{}, seeds {from}..={}: {} valid, {} not\n",
        title(&args.run),
        from.saturating_add(n - 1),
        n - bad.len() as u64,
        bad.len()
    );
    for (seed, why) in &bad {
        let replay = replay_command(argv, *seed);
        text.push_str(&format!("seed {seed}: {why}\n  replay: {replay}\n"));
    }
    text.push_str(&format!(
        "time: {:.1} s simulated in {:.3} s wall: {:.0}x real time, {:.1} ms a seed\n",
        simulated as f64 / 1e9,
        wall.as_secs_f64(),
        report::speedup(simulated, wall),
        wall.as_secs_f64() * 1000.0 / n as f64
    ));
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(bad.is_empty())
}

/// What a sweep of seeds found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Simulated nanoseconds, over every seed that ran to its end.
    pub simulated: u64,
    /// Each seed whose run was not valid, or panicked, with why: `INVALID (workload
    /// INVALID)`, `PANIC (message)`.
    pub bad: Vec<(u64, String)>,
}

/// Runs `base` (its seed replaced) for every seed of `seeds`, one after another. A run that
/// panics is caught, its message kept, and the sweep goes on (the panic hook still prints
/// it on stderr: the hook is the process's, and other threads may need it).
pub fn sweep_seeds<A: App>(flags: &A::Flags, base: &Options, seeds: std::ops::Range<u64>) -> Sweep {
    let mut sweep = Sweep::default();
    for seed in seeds {
        let mut opts = base.clone();
        opts.seed = seed;
        match std::panic::catch_unwind(AssertUnwindSafe(|| run_one::<A>(flags, opts))) {
            Ok(o) => {
                sweep.simulated += o.stats.simulated;
                if !o.valid().is_true() {
                    sweep.bad.push((seed, failing(&o)));
                }
            }
            Err(panic) => (sweep.bad).push((seed, format!("PANIC ({})", panic_message(&*panic)))),
        }
    }
    sweep
}

/// `INVALID (workload INVALID, protocol UNKNOWN)`: the verdict and the checks that made it.
fn failing(o: &Outcome) -> String {
    let checks: Vec<String> = (o.results.failing().iter())
        .map(|(name, v)| format!("{name} {}", report::verdict(*v)))
        .collect();
    format!("{} ({})", report::verdict(o.valid()), checks.join(", "))
}

/// What a panic said, when it said it with a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    (panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

fn title(run: &RunFlags) -> String {
    let mut t = format!("simulate {}: {} nodes", run.workload, run.node_count);
    if run.nemesis.partition {
        t.push_str(", partitions");
    }
    t
}

/// The command line that replays `seed`: `argv` without `--seeds` and `--seed`, then
/// `--seed S`; words a shell would split or expand are quoted.
pub fn replay_command(argv: &[String], seed: u64) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut skip = false;
    for arg in argv {
        if std::mem::take(&mut skip) {
            continue;
        }
        match arg.as_str() {
            "--seeds" | "--seed" => skip = true,
            a if a.starts_with("--seeds=") || a.starts_with("--seed=") => {}
            _ => words.push(quote(arg)),
        }
    }
    words.push(format!("--seed {seed}"));
    words.join(" ")
}

/// `word` as a shell reads it back.
fn quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_drops_seeds_and_seed_and_quotes() {
        let argv: Vec<String> = [
            "./b", "--x", "a b", "simulate", "--seeds", "9", "--seed=3", "--rate", "5",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            replay_command(&argv, 17),
            "./b --x 'a b' simulate --rate 5 --seed 17"
        );
    }
}
