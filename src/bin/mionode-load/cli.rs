//! Command-line flags. Every flag is documented where it is defined; `--help` is generated
//! from those doc comments, and `docs/load.md` lists the same flags for the README.
//!
//! The flags a run shares with `simulate` (workload, cluster, clients, network, faults, seed,
//! store) are one definition, `mionode::harness::flags::RunFlags`, flattened into [`Args`]:
//! same words, syntax and defaults in both commands. The rest are mionode-load's own, about
//! real processes and wall time.
//!
//! Flags that share a name with one of Maelstrom's `test` flags (`maelstrom/core.clj` and
//! `jepsen/cli.clj`) mean the same thing and take the same syntax: `--bin`, `--nodes`, node
//! arguments after `--`, and the shared ones RunFlags lists. Where a default differs on
//! purpose (the time limit, the node count, the workload) docs/load.md has the table. Ours:
//! `--closed-loop`, `--node-max-line`, `--no-reencode`, `--diagram-messages`,
//! `--init-timeout`, `--grace`, `--recovery`, `--close-stdin`, `--progress`, `--metrics`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mionode::harness::flags::RunFlags;

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

    /// The node ids to use instead of n0..n{N-1}, comma-separated (--node-count is then
    /// ignored).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub nodes: Vec<String>,

    /// The flags shared with `simulate`: workload, cluster, clients, network, faults, seed and
    /// store.
    #[command(flatten)]
    pub run: RunFlags,

    /// Not in Maelstrom: ignore --rate and let every client send its next request as soon as
    /// the last one ends (a closed loop), to measure throughput.
    #[arg(long)]
    pub closed_loop: bool,

    /// The longest input line the node accepts, in bytes (default: mionode's 8 MiB): a
    /// request longer than that is counted, and its timeout named in the report, since a
    /// node discards such a line and the client only sees silence.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    pub node_max_line: usize,

    /// Not in Maelstrom: deliver the bytes a node wrote (with `id` spliced in) instead of
    /// re-encoding every message with shuffled keys; only to measure the driver's throughput.
    #[arg(long)]
    pub no_reencode: bool,

    /// Not in Maelstrom: how many messages the Lamport diagram of the run (messages.svg) draws,
    /// the first ones sent (messages.jsonl has more).
    #[arg(long, value_name = "N", default_value_t = mionode::harness::views::DEFAULT_MAX_MESSAGES)]
    pub diagram_messages: usize,

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

impl Args {
    /// `--time-limit`.
    pub fn time_limit(&self) -> Duration {
        Duration::from_nanos(self.run.time_limit())
    }

    /// `--nemesis-interval`.
    pub fn nemesis_interval(&self) -> Duration {
        Duration::from_nanos(self.run.nemesis_interval())
    }

    /// The node ids of the run: `--nodes`, or n0..n{N-1}. Fails on an empty, repeated or
    /// client-like id (`c` followed by digits names a client in Maelstrom).
    pub fn node_ids(&self) -> Result<Vec<String>, String> {
        let ids: Vec<String> = if self.nodes.is_empty() {
            (0..self.run.node_count).map(|i| format!("n{i}")).collect()
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

fn parse_positive_seconds(s: &str) -> Result<Duration, String> {
    match parse_seconds(s)? {
        d if d.is_zero() => Err("must be more than 0 seconds".to_string()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mionode::harness::flags::{Concurrency, Nemesis};
    use mionode::harness::workload::WorkloadKind;

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
        assert_eq!(args.time_limit(), Duration::from_secs(3));
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
        let args = Args::parse_from(["mionode-load"]).run;
        assert_eq!(args.concurrency, Concurrency::PerNode(1));
        assert_eq!(args.rate, 5.0);
        assert_eq!(args.nemesis, Nemesis::default());
        assert_eq!(args.workload, WorkloadKind::Mixed);
        let args = Args::parse_from(["mionode-load"]);
        assert_eq!(args.nemesis_interval(), Duration::from_secs(10));
        let args = Args::parse_from(["mionode-load", "-w", "lin-kv", "--availability", "total"]);
        assert_eq!(
            (args.run.workload, args.run.availability),
            (WorkloadKind::LinKv, Some(1.0))
        );
        assert!(refused(&["--workload", "kafka"]));
        assert!(refused(&["--topology", "ring"]));
        let args = Args::parse_from(["mionode-load", "--nemesis", "partition , partition"]);
        assert!(args.run.nemesis.partition);
        assert_eq!(args.run.nemesis.to_string(), "partition");
        let args = Args::parse_from(["mionode-load", "--nemesis-interval", "0.5"]);
        assert_eq!(args.nemesis_interval(), Duration::from_millis(500));
    }
}
