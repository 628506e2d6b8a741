//! Command-line flags. Every flag is documented where it is defined; `--help` is generated
//! from those doc comments, and `docs/load.md` lists the same flags for the README.
//!
//! Flags that share a name with one of Maelstrom's `test` flags mean the same thing
//! (`--bin`, `--node-count`, `--nodes`, `--concurrency`, `--rate`, `--time-limit`, `--latency`,
//! `--latency-dist`, `--nemesis`, `--nemesis-interval`, `--store`, node arguments after `--`).
//! The fault flags `--drop` and `--duplicate` go beyond Maelstrom, for local testing.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// What a run does; parsed from the command line by [`Args::parse`](clap::Parser::parse).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mionode-load",
    version,
    about = "Runs a cluster of Maelstrom nodes on a simulated network, drives a workload \
             through them, checks every answer and reports.",
    after_help = "Exit status: 0 when the run is valid, 1 when a check failed (a wrong answer, \
                  a protocol violation, a node that exited early), 2 when the run could not be \
                  made (bad flags, a binary that does not start, an I/O error).\n\n\
                  `mionode-load serve [STORE] [--port P]` serves a store of runs in a browser \
                  (see `mionode-load serve --help`)."
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

    /// What the clients ask for.
    #[arg(long, value_enum, default_value_t = WorkloadArg::Mixed)]
    pub workload: WorkloadArg,

    /// Closed loop: this many clients, each with one request outstanding at a time. A number,
    /// or `Kn` for K clients per node (Maelstrom's notation).
    #[arg(long, value_name = "C", default_value = "4n")]
    pub concurrency: Concurrency,

    /// Open loop instead: start this many requests per second whatever the replies. A request
    /// goes out from an idle client of its node; a new client is opened when none is idle.
    #[arg(long, value_name = "R", value_parser = parse_positive)]
    pub rate: Option<f64>,

    /// How long the clients send requests, in seconds.
    #[arg(long, value_name = "S", default_value = "5", value_parser = parse_seconds)]
    pub time_limit: Duration,

    /// Number of values in each batch_echo request.
    #[arg(long, value_name = "K", default_value_t = 8)]
    pub batch_size: usize,

    /// Seed of every random choice: values, operations, targets, latency, faults, partitions
    /// (default: drawn at random and recorded in results.json, so the run can be repeated).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Mean network latency between nodes, in milliseconds (clients get none, as in
    /// Maelstrom).
    #[arg(long, value_name = "MS", default_value_t = 0.0, value_parser = parse_non_negative)]
    pub latency: f64,

    /// Shape of the latency: constant (always MS), uniform (0 to 2×MS) or exponential
    /// (mean MS).
    #[arg(long, value_enum, default_value_t = LatencyDist::Constant)]
    pub latency_dist: LatencyDist,

    /// Probability that a message between nodes is lost (not in Maelstrom).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub drop: f64,

    /// Probability that a message between nodes is delivered twice (not in Maelstrom).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub duplicate: f64,

    /// Faults injected on a schedule: `partition` cuts the nodes into two random halves
    /// (links to clients are never cut).
    #[arg(long, value_enum, default_value_t = NemesisArg::None)]
    pub nemesis: NemesisArg,

    /// Seconds between nemesis actions: healed for one interval, partitioned for the next.
    #[arg(long, value_name = "S", default_value = "1", value_parser = parse_seconds)]
    pub nemesis_interval: Duration,

    /// Run directory for node logs and results.json (default: store/TIMESTAMP, with
    /// store/latest pointing at it).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// How long each node has to answer `init` (Maelstrom's limit is 10 s).
    #[arg(long, value_name = "S", default_value = "10", value_parser = parse_seconds)]
    pub init_timeout: Duration,

    /// After the time limit, how long to wait for replies still in flight, in seconds.
    #[arg(long, value_name = "S", default_value = "2", value_parser = parse_seconds)]
    pub grace: Duration,

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

/// The `--workload` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum WorkloadArg {
    /// `echo {echo}` → `echo_ok {echo}`.
    Echo,
    /// `batch_echo {values}` → `batch_echo_ok {results}`.
    BatchEcho,
    /// `proxy {target, inner}` → `proxy_ok {result}`, inner an echo to another node.
    Proxy,
    /// `relay {target, payload}` → `relay_ok {attempts, result}`, payload an echo.
    Relay,
    /// Each request one of the four above, drawn at random.
    Mixed,
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

/// The `--nemesis` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NemesisArg {
    /// No scheduled faults.
    None,
    /// Random halves of the nodes cannot reach each other, on and off.
    Partition,
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

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("expected seconds, got {s:?}"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
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

    #[test]
    fn probabilities_and_seconds_are_validated() {
        assert!(Args::try_parse_from(["mionode-load", "--drop", "1.5"]).is_err());
        assert!(Args::try_parse_from(["mionode-load", "--time-limit", "-1"]).is_err());
        let args = Args::parse_from(["mionode-load", "--time-limit", "0.5"]);
        assert_eq!(args.time_limit, Duration::from_millis(500));
    }
}
