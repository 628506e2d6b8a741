//! Command-line flags. Every flag is documented where it is defined; `--help` is generated
//! from those doc comments, and `docs/load.md` lists the same flags for the README.
//!
//! Flags that share a name with one of Maelstrom's `test` flags (`maelstrom/core.clj` and
//! `jepsen/cli.clj`) mean the same thing and take the same syntax: `--bin`, `--workload`,
//! `--node-count`, `--nodes`, `--concurrency` (`Nn`), `--rate`, `--time-limit` (whole
//! seconds), `--latency` (whole milliseconds), `--latency-dist`, `--nemesis` (a comma list),
//! `--nemesis-interval`, `--topology`, node arguments after `--`. Where a default differs on
//! purpose (the time limit, the node count, the workload) docs/load.md has the table. The
//! other flags are ours: `--closed-loop`, `--drop`, `--duplicate`, `--net-rate`, `--store`,
//! `--close-stdin`, `--grace`, `--init-timeout`, `--seed`, `--batch-size`, `--progress`,
//! `--metrics`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mionode::harness::workload::{Topology, WorkloadKind};

/// What a run does; parsed from the command line by [`Args::parse`](clap::Parser::parse).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mionode-load",
    version,
    about = "Runs a cluster of Maelstrom nodes on a simulated network, drives a workload \
             through them, checks every answer and reports.",
    after_help = "Exit status: 0 when the run is valid, 1 when a check failed (a wrong answer, \
                  a protocol violation, a node that exited early), 2 when the run could not be \
                  made (bad flags, a binary that does not start, an I/O error)."
)]
pub struct Args {
    /// The node binary to run (default: the mionode binary beside this program).
    #[arg(long, value_name = "PATH")]
    pub bin: Option<PathBuf>,

    /// Number of nodes, named n0, n1, ... (ignored when --nodes is given).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub node_count: u16,

    /// The node ids to use instead of n0..n{N-1}, comma-separated.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub nodes: Vec<String>,

    /// What the clients ask for: Maelstrom's `echo`, `unique-ids`, `broadcast`, `g-set`,
    /// `g-counter`, `pn-counter`, `lin-kv`, or mionode's RPC chapter: `batch_echo`, `proxy`,
    /// `relay`, `mixed` (each request one of those four). Maelstrom's default is lin-kv.
    #[arg(short = 'w', long, value_name = "W", default_value = "mixed", value_parser = parse_workload)]
    pub workload: WorkloadKind,

    /// Number of clients, each with one request outstanding at a time: a number, or `Kn` for
    /// K clients per node (Maelstrom's and Jepsen's notation and default).
    #[arg(long, value_name = "C", default_value = "1n")]
    pub concurrency: Concurrency,

    /// Requests per second across all clients, at random gaps (uniform in [0, 2/R), as
    /// Jepsen's stagger); a start waits while every client is busy. 0 sends no requests, as
    /// in Maelstrom.
    #[arg(long, value_name = "R", default_value_t = 5.0, value_parser = parse_non_negative)]
    pub rate: f64,

    /// Not in Maelstrom: ignore --rate and let every client send its next request as soon as
    /// the last one ends (a closed loop), to measure throughput.
    #[arg(long)]
    pub closed_loop: bool,

    /// How long the clients send requests, in whole seconds (Maelstrom's default is 60).
    #[arg(long, value_name = "S", default_value = "5", value_parser = parse_whole_seconds)]
    pub time_limit: Duration,

    /// Number of values in each batch_echo request.
    #[arg(long, value_name = "K", default_value_t = 8)]
    pub batch_size: usize,

    /// Seed of every random choice: values, operations, targets, latency, faults, partitions,
    /// key order (default: drawn at random and recorded in results.json, so the run can be
    /// repeated).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Mean network latency of messages between nodes and services, in whole milliseconds
    /// (clients get none, as in Maelstrom).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency: u64,

    /// Shape of the latency, as Maelstrom's: constant (always MS), uniform (whole
    /// milliseconds in 0..2×MS) or exponential (mean MS, truncated to whole milliseconds).
    #[arg(long, value_enum, default_value_t = LatencyDist::Constant)]
    pub latency_dist: LatencyDist,

    /// Probability that a message between nodes is lost (not in Maelstrom).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub drop: f64,

    /// Probability that a message between nodes is delivered twice (not in Maelstrom).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub duplicate: f64,

    /// Not in Maelstrom: the network carries at most this many messages per second between
    /// nodes and services (one queue, first in first out, on top of the latency), so a node
    /// that floods the network sees congestion. Off by default.
    #[arg(long, value_name = "MSGS_PER_S", value_parser = parse_positive)]
    pub net_rate: Option<f64>,

    /// Faults to inject, a comma-separated list as in Maelstrom: `partition` (Jepsen's
    /// shapes: one node isolated, a minority third, a majority split, a majorities ring).
    /// Links to clients are never cut.
    #[arg(long, value_name = "FAULTS", default_value = "", value_parser = parse_faults)]
    pub nemesis: Faults,

    /// Mean seconds between nemesis actions (random gaps in [0, 2×S), as Jepsen's stagger).
    #[arg(long, value_name = "S", default_value = "10", value_parser = parse_nemesis_interval)]
    pub nemesis_interval: Duration,

    /// The topology offered to broadcast nodes, as Maelstrom's `--topology`: grid, line,
    /// tree (tree2), tree2, tree3, tree4 or total.
    #[arg(long, value_name = "T", default_value = "grid", value_parser = parse_topology)]
    pub topology: Topology,

    /// The fraction of requests that must succeed, from 0 to 1, or `total` (1), as
    /// Maelstrom's `--availability`; if omitted, availability is reported, never enforced.
    #[arg(long, value_name = "A", value_parser = parse_availability)]
    pub availability: Option<f64>,

    /// The longest input line the node accepts, in bytes (default: mionode's 8 MiB): a
    /// request longer than that is counted, and its timeout named in the report, since a
    /// node discards such a line and the client only sees silence.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    pub node_max_line: usize,

    /// Not in Maelstrom: deliver the bytes a node wrote (with `id` spliced in) instead of
    /// re-encoding every message with shuffled keys; only to measure the driver's throughput.
    #[arg(long)]
    pub no_reencode: bool,

    /// Not in Maelstrom (which always writes store/WORKLOAD/TIME/): the run directory for
    /// results.json, the history, the message trace and the node logs. Default:
    /// store/WORKLOAD/UTC-TIME, with store/latest pointing at it.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// How long each node has to answer `init`, in seconds (Maelstrom's limit is 10 s).
    #[arg(long, value_name = "S", default_value = "10", value_parser = parse_positive_seconds)]
    pub init_timeout: Duration,

    /// After the time limit, how long to wait for replies still in flight, in seconds (at most
    /// the 5 s client timeout matters: Jepsen waits for every outstanding request).
    #[arg(long, value_name = "S", default_value = "5", value_parser = parse_seconds)]
    pub grace: Duration,

    /// For workloads with final reads: seconds the network is left healed and quiet before
    /// them (Maelstrom waits 10 s, "Waiting for recovery...").
    #[arg(long, value_name = "S", default_value = "10", value_parser = parse_seconds)]
    pub recovery: Duration,

    /// At the end, close each node's stdin and give it a second to exit before SIGKILL
    /// (Maelstrom only kills): for nodes that flush at end of input, and for the metrics
    /// discovery files a node removes when it exits. On with --metrics.
    #[arg(long)]
    pub close_stdin: bool,

    /// When to draw the progress bar: auto draws it when stdout is a terminal and the run
    /// lasts more than a couple of seconds.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,

    /// Have every node serve Prometheus metrics: each gets `--metrics-addr 127.0.0.1:0
    /// --metrics-sd-dir RUN/sd`, binds a free port and writes `RUN/sd/<node>.json` for
    /// Prometheus's file_sd_configs; the directory is printed before the run starts.
    #[arg(long)]
    pub metrics: bool,

    /// Arguments passed to every node process, after `--`.
    #[arg(last = true, value_name = "NODE_ARGS")]
    pub node_args: Vec<String>,
}

/// The `--latency-dist` choices, as in Maelstrom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatencyDist {
    /// Every message takes exactly the mean latency.
    Constant,
    /// Uniform between zero and twice the mean.
    Uniform,
    /// Exponentially distributed with the given mean.
    Exponential,
}

impl LatencyDist {
    /// The shared network's name for the same distribution.
    pub fn harness(self) -> mionode::harness::net::LatencyDist {
        use mionode::harness::net::LatencyDist as L;
        match self {
            LatencyDist::Constant => L::Constant,
            LatencyDist::Uniform => L::Uniform,
            LatencyDist::Exponential => L::Exponential,
        }
    }
}

/// One fault `--nemesis` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Fault {
    /// Network partitions between nodes, in Jepsen's shapes.
    Partition,
}

/// The `--nemesis` list: the faults to inject, each once (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(pub Vec<Fault>);

impl Faults {
    /// True if `fault` is in the list.
    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<String> = self
            .0
            .iter()
            .filter_map(|x| x.to_possible_value().map(|v| v.get_name().to_string()))
            .collect();
        f.write_str(&names.join(","))
    }
}

/// The `--progress` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// Draw when stdout is a terminal and the run lasts more than a couple of seconds.
    Auto,
    /// Draw whenever stdout is a terminal, however short the run.
    Always,
    /// Never draw.
    Never,
}

/// `--concurrency`: a client count, fixed or per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Exactly this many clients.
    Fixed(usize),
    /// This many clients per node (`4n`).
    PerNode(usize),
}

impl Concurrency {
    /// The number of clients for a cluster of `nodes` nodes.
    pub fn clients(self, nodes: usize) -> usize {
        match self {
            Concurrency::Fixed(c) => c,
            Concurrency::PerNode(k) => k.saturating_mul(nodes),
        }
    }
}

impl FromStr for Concurrency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (digits, per_node) = match s.strip_suffix('n') {
            Some(d) => (d, true),
            None => (s, false),
        };
        let k: usize = digits
            .parse()
            .map_err(|_| format!("expected a number or `Kn`, got {s:?}"))?;
        if k == 0 {
            return Err("concurrency must be at least 1".to_string());
        }
        Ok(if per_node {
            Concurrency::PerNode(k)
        } else {
            Concurrency::Fixed(k)
        })
    }
}

impl fmt::Display for Concurrency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Concurrency::Fixed(c) => write!(f, "{c}"),
            Concurrency::PerNode(k) => write!(f, "{k}n"),
        }
    }
}

impl Args {
    /// The node ids of the run: `--nodes`, or n0..n{N-1}. Fails on an empty, repeated or
    /// client-like id (`c` followed by digits names a client in Maelstrom).
    pub fn node_ids(&self) -> Result<Vec<String>, String> {
        let ids: Vec<String> = if self.nodes.is_empty() {
            (0..self.node_count).map(|i| format!("n{i}")).collect()
        } else {
            self.nodes.clone()
        };
        for (i, id) in ids.iter().enumerate() {
            if id.is_empty() {
                return Err("--nodes: empty node id".to_string());
            }
            if is_client_id(id) {
                return Err(format!("--nodes: {id:?} looks like a client id"));
            }
            if ids[..i].contains(id) {
                return Err(format!("--nodes: {id:?} appears twice"));
            }
        }
        Ok(ids)
    }
}

/// True for Maelstrom's client ids: `c` followed by one or more digits.
pub fn is_client_id(id: &str) -> bool {
    id.strip_prefix('c')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The shortest `--nemesis-interval`: shorter would spend the run cutting and healing (an
/// interval of 0 once made 839,425 partitions a second), not testing the node.
pub const MIN_NEMESIS_INTERVAL: Duration = Duration::from_millis(100);

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("expected seconds, got {s:?}"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

fn parse_positive_seconds(s: &str) -> Result<Duration, String> {
    match parse_seconds(s)? {
        d if d.is_zero() => Err("must be more than 0 seconds".to_string()),
        d => Ok(d),
    }
}

/// Whole seconds, at least one, as Jepsen parses `--time-limit` (`Long/parseLong`, `pos?`).
fn parse_whole_seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
        _ => Err(format!("expected a whole number of seconds > 0, got {s:?}")),
    }
}

fn parse_nemesis_interval(s: &str) -> Result<Duration, String> {
    let d = parse_positive_seconds(s)?;
    if d < MIN_NEMESIS_INTERVAL {
        let min = MIN_NEMESIS_INTERVAL.as_secs_f64();
        return Err(format!("must be at least {min} s, got {s:?}"));
    }
    Ok(d)
}

fn parse_workload(s: &str) -> Result<WorkloadKind, String> {
    s.parse()
}

fn parse_topology(s: &str) -> Result<Topology, String> {
    s.parse()
}

/// A number from 0 to 1, or `total` (1), as Maelstrom's `--availability`.
fn parse_availability(s: &str) -> Result<f64, String> {
    if s == "total" {
        return Ok(1.0);
    }
    parse_probability(s)
}

/// A comma-separated list of faults, blanks around commas allowed (as Maelstrom splits it).
fn parse_faults(s: &str) -> Result<Faults, String> {
    let mut faults = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let fault = Fault::from_str(name, false)
            .map_err(|_| format!("unknown fault {name:?}: expected a list of `partition`"))?;
        if !faults.contains(&fault) {
            faults.push(fault);
        }
    }
    faults.sort();
    Ok(Faults(faults))
}

fn parse_non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("expected a number >= 0, got {s:?}")),
    }
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("expected a number > 0, got {s:?}")),
    }
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("expected a probability in [0, 1], got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_accepts_maelstrom_per_node_notation() {
        assert_eq!("4n".parse(), Ok(Concurrency::PerNode(4)));
        assert_eq!("50".parse(), Ok(Concurrency::Fixed(50)));
        assert_eq!(Concurrency::PerNode(4).clients(3), 12);
        assert!("0".parse::<Concurrency>().is_err());
        assert!("n".parse::<Concurrency>().is_err());
        assert!("-1".parse::<Concurrency>().is_err());
    }

    #[test]
    fn client_ids_are_c_and_digits() {
        assert!(is_client_id("c0"));
        assert!(is_client_id("c123"));
        assert!(!is_client_id("c"));
        assert!(!is_client_id("cx1"));
        assert!(!is_client_id("n1"));
    }

    #[test]
    fn node_ids_default_and_validation() {
        let args = Args::parse_from(["mionode-load", "--node-count", "2"]);
        assert_eq!(
            args.node_ids(),
            Ok(vec!["n0".to_string(), "n1".to_string()])
        );
        let args = Args::parse_from(["mionode-load", "--nodes", "a,b,a"]);
        assert!(args.node_ids().is_err());
        let args = Args::parse_from(["mionode-load", "--nodes", "a,c7"]);
        assert!(args.node_ids().is_err());
    }

    #[test]
    fn node_args_come_after_double_dash() {
        let args = Args::parse_from(["mionode-load", "--", "--log", "debug"]);
        assert_eq!(args.node_args, ["--log", "debug"]);
    }

    fn refused(args: &[&str]) -> bool {
        let all = std::iter::once("mionode-load").chain(args.iter().copied());
        Args::try_parse_from(all).is_err()
    }

    #[test]
    fn probabilities_and_seconds_are_validated() {
        assert!(refused(&["--drop", "1.5"]));
        assert!(refused(&["--time-limit", "-1"]));
        let args = Args::parse_from(["mionode-load", "--time-limit", "3"]);
        assert_eq!(args.time_limit, Duration::from_secs(3));
    }

    #[test]
    fn maelstrom_syntax_whole_seconds_and_milliseconds() {
        assert!(
            refused(&["--time-limit", "0.5"]),
            "whole seconds, as Jepsen"
        );
        assert!(refused(&["--time-limit", "0"]), "positive, as Jepsen");
        assert!(refused(&["--latency", "1.5"]), "whole milliseconds");
        assert!(refused(&["--init-timeout", "0"]));
        assert!(refused(&["--nemesis-interval", "0"]));
        assert!(refused(&["--nemesis-interval", "0.01"]));
        assert!(refused(&["--nemesis", "partition,kill"]));
        let args = Args::parse_from(["mionode-load"]);
        assert_eq!(args.concurrency, Concurrency::PerNode(1));
        assert_eq!(args.rate, 5.0);
        assert_eq!(args.nemesis, Faults::default());
        assert_eq!(args.nemesis_interval, Duration::from_secs(10));
        assert_eq!(args.workload, WorkloadKind::Mixed);
        let args = Args::parse_from(["mionode-load", "-w", "lin-kv", "--availability", "total"]);
        assert_eq!(
            (args.workload, args.availability),
            (WorkloadKind::LinKv, Some(1.0))
        );
        assert!(refused(&["--workload", "kafka"]));
        assert!(refused(&["--topology", "ring"]));
        let args = Args::parse_from(["mionode-load", "--nemesis", "partition , partition"]);
        assert!(args.nemesis.has(Fault::Partition));
        assert_eq!(args.nemesis.to_string(), "partition");
        let args = Args::parse_from(["mionode-load", "--nemesis-interval", "0.5"]);
        assert_eq!(args.nemesis_interval, Duration::from_millis(500));
    }
}
