//! The results of a run: the checks run over the history, and `results.json` in the run
//! directory (the summary on stdout, also kept as `summary.txt`, is [`crate::summary`]'s).
//!
//! The verdict is Maelstrom's: named checks, each with its own validity, combined as Jepsen
//! combines them (`harness::check`): `workload` (the workload's checker over the history),
//! `stats` (every operation kind needs an `ok`), `availability`, `exceptions` (replies that
//! broke the schema; never invalid), and ours, `nodes` (protocol violations, crashes, init
//! and setup failures: what kills Maelstrom's reader for a node or the test itself).
//!
//! The network counts follow Maelstrom's `:net` stats: `send_count` messages sent into the
//! network, `recv_count` delivered, `msg_count` distinct messages (one per `id`), and
//! `msgs_per_op` = `msg_count` / operations invoked, for all messages and for those between
//! nodes and services (`servers`). Latency quantiles are of `ok` completions, from the
//! moment the request was queued for the node to the moment its reply was read.

use std::collections::BTreeMap;

use mionode::harness::check::{self, Valid};
use mionode::harness::record::{MessageEvent, NemesisPeriod};
use serde::Serialize;

use crate::driver::Record;
use crate::failures::Failure;
use crate::stats::OpStats;

/// The run's settings, as they were used (the seed included, so the run can be repeated).
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The node binary.
    pub bin: String,
    /// Node ids.
    pub nodes: Vec<String>,
    /// Arguments given to each node.
    pub node_args: Vec<String>,
    /// `--workload`.
    pub workload: String,
    /// Number of clients (`--concurrency`).
    pub concurrency: usize,
    /// `--rate`, requests per second (ignored with `closed_loop`).
    pub rate: f64,
    /// `--closed-loop`.
    pub closed_loop: bool,
    /// `--time-limit`, seconds.
    pub time_limit_s: f64,
    /// `--batch-size`.
    pub batch_size: usize,
    /// `--seed`, drawn if not given.
    pub seed: u64,
    /// `--latency`, milliseconds.
    pub latency_ms: u64,
    /// `--latency-dist`.
    pub latency_dist: String,
    /// `--drop`.
    pub drop: f64,
    /// `--duplicate`.
    pub duplicate: f64,
    /// `--net-rate`, messages per second, if set.
    pub net_rate: Option<f64>,
    /// `--nemesis`.
    pub nemesis: String,
    /// `--nemesis-interval`, seconds.
    pub nemesis_interval_s: f64,
    /// `--topology`.
    pub topology: String,
    /// `--availability`, if set.
    pub availability: Option<f64>,
    /// `--grace`, seconds.
    pub grace_s: f64,
    /// `--init-timeout`, seconds.
    pub init_timeout_s: f64,
    /// `--recovery`, seconds.
    pub recovery_s: f64,
    /// `--close-stdin` (on with `--metrics`).
    pub close_stdin: bool,
    /// Messages re-encoded with shuffled keys (off with `--no-reencode`).
    pub reencode: bool,
    /// `--node-max-line`, bytes.
    pub node_max_line: usize,
}

/// Latency quantiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Operations of one kind (or all).
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    /// Requests sent.
    pub invoked: u64,
    /// `ok` completions.
    pub ok: u64,
    /// `fail` completions (definite).
    pub failed: u64,
    /// `info` completions (indeterminate).
    pub indeterminate: u64,
    /// Of those, no reply within the client's timeout or by the end.
    pub timed_out: u64,
    /// Completions that are wrong answers by themselves (echo and the RPC chapter).
    pub wrong: u64,
    /// Error replies by code.
    pub error_codes: BTreeMap<String, u64>,
    /// `ok` completions per second of the run (`None` for a run of no duration).
    pub ok_per_s: Option<f64>,
    /// Latency of `ok` completions (absent when there were none).
    pub latency_ms: Option<Quantiles>,
}

/// Maelstrom-style message counts for one class of messages.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NetCounts {
    /// Messages sent into the network.
    pub send_count: u64,
    /// Messages delivered (a duplicate counts twice, a lost message not at all).
    pub recv_count: u64,
    /// Distinct messages.
    pub msg_count: u64,
    /// `msg_count` per operation invoked (for `all` and `servers`, as in Maelstrom).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgs_per_op: Option<f64>,
}

/// What the network carried.
#[derive(Debug, Clone, Serialize)]
pub struct NetReport {
    /// Every message.
    pub all: NetCounts,
    /// Messages from or to clients.
    pub clients: NetCounts,
    /// Messages between nodes and services.
    pub servers: NetCounts,
    /// Lost by `--drop`.
    pub dropped: u64,
    /// Extra copies made by `--duplicate`.
    pub duplicated: u64,
    /// Lost to partitions.
    pub partitioned: u64,
    /// The longest wait in the `--net-rate` queue, milliseconds.
    pub max_queue_wait_ms: f64,
    /// Lines a node wrote after its protocol violation.
    pub lost_after_violation: u64,
}

/// How one node ended.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    /// Its id.
    pub id: String,
    /// Its process id.
    pub pid: u32,
    /// How it ended.
    pub exit: String,
    /// Its stderr, relative to the run directory.
    pub log: String,
}

/// Everything `results.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The combined verdict: `true`, `false` or `"unknown"`.
    pub valid: Valid,
    /// Every check by name, each with its own `valid` (and the combined one).
    pub checks: check::Results,
    /// How many protocol failures there were (the `nodes` check).
    pub failure_count: u64,
    /// The first protocol failures, in order.
    pub failures: Vec<Failure>,
    /// The settings.
    pub config: Config,
    /// Cut short by Ctrl-C or SIGTERM.
    pub interrupted: bool,
    /// Seconds from the first request to the time limit.
    pub duration_s: f64,
    /// Per operation kind that was invoked, and `total`.
    pub ops: BTreeMap<String, OpReport>,
    /// The network.
    pub net: NetReport,
    /// Workload clients opened.
    pub clients: usize,
    /// Clients closed and replaced after a timeout or an indeterminate error.
    pub replaced_clients: usize,
    /// Replies skipped by clients (to an earlier request, or answering nothing).
    pub ignored_replies: u64,
    /// Requests longer than the node's line limit (`--node-max-line`).
    pub oversized_requests: u64,
    /// Of those, the ones that timed out.
    pub oversized_timed_out: u64,
    /// Operations in history.jsonl (invocations and completions).
    pub history_ops: usize,
    /// Why history.jsonl is incomplete, if writing it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_error: Option<String>,
    /// The periods a partition was in force (also nemesis.jsonl).
    pub nemesis: Vec<NemesisPeriod>,
    /// The nodes.
    pub nodes: Vec<NodeReport>,
    /// The run directory.
    pub store: String,
    /// The message trace, written to messages.jsonl.
    #[serde(skip)]
    pub messages: Vec<MessageEvent>,
    /// The summary as printed, written to summary.txt.
    #[serde(skip)]
    pub summary: String,
}

impl Results {
    /// Runs the checks over the run's record and assembles the results.
    pub fn new(config: Config, record: Record, store: String) -> Results {
        let secs = record.duration.as_secs_f64();
        let total = record.stats.total();
        let mut ops: BTreeMap<String, OpReport> = (record.stats.by_f.iter())
            .filter(|(_, s)| s.invoked > 0)
            .map(|(f, s)| (f.to_string(), op_report(s, secs)))
            .collect();
        ops.insert("total".to_string(), op_report(&total, secs));
        let mut checks = record
            .workload
            .results(&record.history, config.availability);
        checks.insert("nodes", record.failures.check());
        let mut results = Results {
            valid: checks.valid(),
            checks,
            failure_count: record.failures.total(),
            failures: record.failures.kept().to_vec(),
            config,
            interrupted: record.interrupted,
            duration_s: secs,
            ops,
            net: net_report(&record, total.invoked),
            clients: record.clients,
            replaced_clients: record.replaced_clients,
            ignored_replies: record.stats.ignored_replies,
            oversized_requests: record.stats.oversized,
            oversized_timed_out: record.stats.oversized_timed_out,
            history_ops: record.history.len(),
            history_error: record.history_error,
            nemesis: record.nemesis,
            nodes: record
                .nodes
                .into_iter()
                .map(|(id, pid, exit)| NodeReport {
                    log: format!("{}/{id}.log", mionode::harness::record::NODE_LOGS),
                    id,
                    pid,
                    exit,
                })
                .collect(),
            store,
            messages: record.messages,
            summary: String::new(),
        };
        results.summary = crate::summary::summary(&results, &record.history);
        results
    }
}

fn net_report(record: &Record, invoked: u64) -> NetReport {
    let net = &record.net;
    let per_op = |count: u64| (invoked > 0).then(|| count as f64 / invoked as f64);
    let counts = |sent: u64, delivered: u64, per: bool| NetCounts {
        send_count: sent,
        recv_count: delivered,
        msg_count: sent,
        msgs_per_op: if per { per_op(sent) } else { None },
    };
    let all_sent = net.client_sent + net.server_sent;
    NetReport {
        all: counts(all_sent, net.client_delivered + net.server_delivered, true),
        clients: counts(net.client_sent, net.client_delivered, false),
        servers: counts(net.server_sent, net.server_delivered, true),
        dropped: net.dropped,
        duplicated: net.duplicated,
        partitioned: net.partitioned,
        max_queue_wait_ms: net.max_queue_wait as f64 / 1e6,
        lost_after_violation: record.stats.lost_after_violation,
    }
}

fn op_report(s: &OpStats, secs: f64) -> OpReport {
    let ms = |us: Option<u64>| us.unwrap_or(0) as f64 / 1000.0;
    let h = &s.latency_us;
    OpReport {
        invoked: s.invoked,
        ok: s.ok,
        failed: s.failed,
        indeterminate: s.indeterminate,
        timed_out: s.timed_out,
        wrong: s.wrong,
        error_codes: (s.error_codes.iter())
            .map(|(c, n)| (c.to_string(), *n))
            .collect(),
        ok_per_s: (secs > 0.0).then(|| s.ok as f64 / secs),
        latency_ms: (h.count() > 0).then(|| Quantiles {
            p50: ms(h.quantile(0.5)),
            p90: ms(h.quantile(0.9)),
            p99: ms(h.quantile(0.99)),
            max: ms(Some(h.max())),
        }),
    }
}
