//! The flags of a run, shared by `mionode-load` and `simulate`: the same words, the same
//! syntax, the same defaults, parsed by one clap [`Args`] struct that each command flattens
//! into its own.
//!
//! Flags that share a name with one of Maelstrom's `test` flags (`maelstrom/core.clj`,
//! `jepsen/cli.clj`) mean the same there: `--workload`, `--node-count`, `--concurrency`
//! (`Nn`), `--rate`, `--time-limit` (whole seconds), `--latency` (whole milliseconds),
//! `--latency-dist`, `--nemesis` (a comma list), `--nemesis-interval`, `--topology`,
//! `--availability`. Ours: `--drop`, `--duplicate`, `--net-rate`, `--seed`, `--store`,
//! `--batch-size`. Where a default differs on purpose (a 5 s time limit, 3 nodes, the
//! `mixed` workload), docs/load.md has the table.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;

use crate::harness::nemesis::MIN_INTERVAL;
use crate::harness::net::{Faults, Latency, LatencyDist, NetRate};
use crate::harness::record::Nanos;
use crate::harness::workload::{self, Topology, WorkloadKind, SECOND};

/// The flags that describe a run: workload, cluster, clients, network and faults.
#[derive(Debug, Clone, Args)]
pub struct RunFlags {
    /// What the clients ask for, by Maelstrom's names: echo, unique-ids, broadcast, g-set,
    /// g-counter, pn-counter, lin-kv; or the RPC chapter's batch_echo, proxy, relay, mixed.
    #[arg(short = 'w', long, default_value = "mixed", value_name = "NAME")]
    pub workload: WorkloadKind,

    /// Number of nodes, named n0, n1, ...
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub node_count: u16,

    /// Number of clients, each with one request outstanding at a time: a number, or `Kn` for
    /// K clients per node (Maelstrom's and Jepsen's notation and default).
    #[arg(long, value_name = "C", default_value = "1n")]
    pub concurrency: Concurrency,

    /// Requests per second across all clients, at random gaps (uniform in [0, 2/R), as
    /// Jepsen's stagger); a start waits while every client is busy. 0 sends no requests.
    #[arg(long, value_name = "R", default_value_t = 5.0, value_parser = parse_non_negative)]
    pub rate: f64,

    /// How long the clients send requests, in whole seconds (Maelstrom's default is 60).
    /// Simulated seconds under `simulate`.
    #[arg(long, value_name = "S", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub time_limit: u64,

    /// Mean network latency of messages between nodes and services, in whole milliseconds
    /// (clients get none, as in Maelstrom).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency: u64,

    /// Shape of the latency, as Maelstrom's: constant (always MS), uniform (whole
    /// milliseconds in 0..2×MS) or exponential (mean MS, truncated to whole milliseconds).
    #[arg(long, value_name = "DIST", default_value = "constant")]
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
    /// Links to clients and services are never cut.
    #[arg(long, value_name = "FAULTS", default_value = "")]
    pub nemesis: Nemesis,

    /// Mean seconds between nemesis actions (random gaps in [0, 2×S), as Jepsen's stagger);
    /// at least 0.1.
    #[arg(long, value_name = "S", default_value = "10", value_parser = parse_nemesis_interval)]
    pub nemesis_interval: f64,

    /// The topology offered to broadcast nodes, as Maelstrom's `--topology`: grid, line,
    /// total, tree (tree2), tree3, tree4.
    #[arg(long, value_name = "SHAPE", default_value = "grid")]
    pub topology: Topology,

    /// The fraction of requests that must succeed, from 0 to 1, or `total` (1), as
    /// Maelstrom's `--availability`; if omitted, availability is reported, never enforced.
    #[arg(long, value_name = "A", value_parser = parse_availability)]
    pub availability: Option<f64>,

    /// Number of values in each batch_echo request.
    #[arg(long, value_name = "K", default_value_t = 8)]
    pub batch_size: usize,

    /// Seed of every random choice: values, operations, latency, faults, partitions, key
    /// order (default: drawn at random and recorded, so the run can be repeated).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Not in Maelstrom (which always writes `store/<workload>/<time>/`): the run directory
    /// for results.json, the history, the message trace and the node logs. Default:
    /// `store/<workload>/<UTC time>`, with `store/latest` pointing at it.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

impl RunFlags {
    /// The node ids `n0..n{N-1}`.
    pub fn node_ids(&self) -> Vec<String> {
        (0..self.node_count).map(|i| format!("n{i}")).collect()
    }

    /// The workload's configuration for these flags.
    pub fn workload_config(&self) -> workload::Config {
        let mut c = workload::Config::new(self.workload, self.node_ids());
        c.topology = self.topology;
        c.batch_size = self.batch_size;
        c.latency_mean_ms = self.latency;
        c
    }

    /// The latency distribution.
    pub fn latency(&self) -> Latency {
        Latency {
            mean_ms: self.latency,
            dist: self.latency_dist,
        }
    }

    /// Loss and duplication.
    pub fn faults(&self) -> Faults {
        Faults {
            drop: self.drop,
            duplicate: self.duplicate,
        }
    }

    /// The throughput limit, if any.
    pub fn net_rate(&self) -> Option<NetRate> {
        self.net_rate.and_then(NetRate::new)
    }

    /// The time limit.
    pub fn time_limit(&self) -> Nanos {
        self.time_limit * SECOND
    }

    /// The mean gap between nemesis actions.
    pub fn nemesis_interval(&self) -> Nanos {
        (self.nemesis_interval * SECOND as f64) as Nanos
    }
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

/// The `--nemesis` list: the faults to inject, each once (empty: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nemesis {
    /// `partition`: Jepsen's partition shapes.
    pub partition: bool,
}

impl FromStr for Nemesis {
    type Err = String;

    /// A comma-separated list, blanks around commas allowed (as Maelstrom splits it).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut n = Nemesis::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "partition" => n.partition = true,
                _ => {
                    return Err(format!(
                        "unknown fault {name:?}: expected a list of `partition`"
                    ))
                }
            }
        }
        Ok(n)
    }
}

impl fmt::Display for Nemesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.partition { "partition" } else { "none" })
    }
}

fn parse_nemesis_interval(s: &str) -> Result<f64, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("expected seconds, got {s:?}"))?;
    let min = MIN_INTERVAL as f64 / SECOND as f64;
    if !(secs.is_finite() && secs >= min) {
        return Err(format!("must be at least {min} s, got {s:?}"));
    }
    Ok(secs)
}

fn parse_availability(s: &str) -> Result<f64, String> {
    if s == "total" {
        return Ok(1.0);
    }
    parse_probability(s)
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
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunFlags,
    }

    fn parse(args: &[&str]) -> Result<RunFlags, clap::Error> {
        let all = std::iter::once("x").chain(args.iter().copied());
        Cli::try_parse_from(all).map(|c| c.run)
    }

    #[test]
    fn defaults_and_maelstrom_syntax() {
        let f = parse(&[]).unwrap();
        assert_eq!(f.concurrency, Concurrency::PerNode(1));
        assert_eq!((f.rate, f.time_limit, f.node_count), (5.0, 5, 3));
        assert_eq!(f.workload, WorkloadKind::Mixed);
        assert!(!f.nemesis.partition);
        assert_eq!(f.nemesis_interval(), 10 * SECOND);
        let f = parse(&[
            "--workload",
            "broadcast",
            "--nemesis",
            "partition , partition",
        ])
        .unwrap();
        assert!(f.nemesis.partition);
        assert_eq!(f.workload, WorkloadKind::Broadcast);
        assert_eq!(
            parse(&["--availability", "total"]).unwrap().availability,
            Some(1.0)
        );
        assert_eq!(parse(&["-w", "echo"]).unwrap().workload, WorkloadKind::Echo);
        assert_eq!("4n".parse(), Ok(Concurrency::PerNode(4)));
        assert_eq!("50".parse(), Ok(Concurrency::Fixed(50)));
        assert_eq!(Concurrency::PerNode(4).clients(3), 12);
        for bad in ["0", "n", "-1"] {
            assert!(bad.parse::<Concurrency>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--time-limit", "0.5"][..],
            &["--time-limit", "0"],
            &["--latency", "1.5"],
            &["--nemesis-interval", "0.01"],
            &["--nemesis", "partition,kill"],
            &["--drop", "1.5"],
            &["--workload", "nope"],
            &["--concurrency", "0"],
            &["--net-rate", "0"],
            &["--availability", "2"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
