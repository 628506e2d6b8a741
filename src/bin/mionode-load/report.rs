//! The results of a run: `results.json` in the run directory, and the summary on stdout.
//!
//! The network counts follow Maelstrom's `:net` stats: `send_count` messages sent into the
//! network, `recv_count` delivered, `msg_count` distinct messages (one per `id`), and
//! `msgs_per_op` = `msg_count` / operations invoked, for all messages and for those between
//! nodes (`servers`). Latency quantiles are of correct successful replies, from the moment
//! the request was queued for the node to the moment its reply was read.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use mionode::harness::record::{MessageEvent, NemesisPeriod};

use crate::checker::{code_name, Failure};
use crate::driver::Record;
use crate::nemesis::NemesisEvent;
use crate::stats::OpStats;
use crate::workload::OpKind;

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
    /// `--grace`, seconds.
    pub grace_s: f64,
    /// `--init-timeout`, seconds.
    pub init_timeout_s: f64,
    /// `--close-stdin` (on with `--metrics`).
    pub close_stdin: bool,
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
    /// Correct successful replies.
    pub ok: u64,
    /// Definite error replies.
    pub failed: u64,
    /// Indefinite error replies.
    pub indeterminate: u64,
    /// No reply within the client timeout or by the end.
    pub timed_out: u64,
    /// Replies that failed the check.
    pub wrong: u64,
    /// Error replies by code.
    pub error_codes: BTreeMap<String, u64>,
    /// Correct successful replies per second of the run.
    pub ok_per_s: f64,
    /// Latency of correct successful replies (absent when there were none).
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
    /// Messages between nodes.
    pub servers: NetCounts,
    /// Lost by `--drop`.
    pub dropped: u64,
    /// Extra copies made by `--duplicate`.
    pub duplicated: u64,
    /// Lost to partitions.
    pub partitioned: u64,
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
    /// True when no check failed.
    pub valid: bool,
    /// How many failures there were.
    pub failure_count: u64,
    /// The first failures, in order.
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
    /// Replies ignored by clients (to an earlier request of the same client, or answering
    /// nothing).
    pub ignored_replies: u64,
    /// Operations in history.jsonl (invocations and completions).
    pub history_ops: u64,
    /// Why history.jsonl is incomplete, if writing it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_error: Option<String>,
    /// Partitions and heals.
    pub nemesis: Vec<NemesisEvent>,
    /// The nodes.
    pub nodes: Vec<NodeReport>,
    /// The run directory.
    pub store: String,
    /// The message trace, written to messages.jsonl.
    #[serde(skip)]
    pub messages: Vec<MessageEvent>,
    /// The nemesis's periods, written to nemesis.jsonl.
    #[serde(skip)]
    pub nemesis_periods: Vec<NemesisPeriod>,
    /// The summary as printed, written to summary.txt.
    #[serde(skip)]
    pub summary: String,
}

impl Results {
    /// Assembles the results of a run.
    pub fn new(config: Config, record: Record, store: String) -> Results {
        let secs = record.duration.as_secs_f64();
        let total = record.stats.total();
        let mut ops: BTreeMap<String, OpReport> = OpKind::ALL
            .iter()
            .map(|k| (k.name(), &record.stats.by_kind[k.index()]))
            .filter(|(_, s)| s.invoked > 0)
            .map(|(name, s)| (name.to_string(), op_report(s, secs)))
            .collect();
        ops.insert("total".to_string(), op_report(&total, secs));
        let net = &record.net;
        let per_op = |count: u64| (total.invoked > 0).then(|| count as f64 / total.invoked as f64);
        let counts = |sent: u64, delivered: u64, per: bool| NetCounts {
            send_count: sent,
            recv_count: delivered,
            msg_count: sent,
            msgs_per_op: if per { per_op(sent) } else { None },
        };
        let all_sent = net.client_sent + net.server_sent;
        let mut results = Results {
            valid: record.failures.total() == 0,
            failure_count: record.failures.total(),
            failures: record.failures.kept().to_vec(),
            config,
            interrupted: record.interrupted,
            duration_s: secs,
            ops,
            net: NetReport {
                all: counts(all_sent, net.client_delivered + net.server_delivered, true),
                clients: counts(net.client_sent, net.client_delivered, false),
                servers: counts(net.server_sent, net.server_delivered, true),
                dropped: net.dropped,
                duplicated: net.duplicated,
                partitioned: net.partitioned,
                lost_after_violation: record.stats.lost_after_violation,
            },
            clients: record.clients,
            replaced_clients: record.replaced_clients,
            ignored_replies: record.stats.ignored_replies,
            history_ops: record.history_ops,
            history_error: record.history_error,
            nemesis_periods: crate::nemesis::periods(&record.nemesis),
            nemesis: record.nemesis,
            messages: record.messages,
            summary: String::new(),
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
        };
        results.summary = summary(&results);
        results
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
        error_codes: s
            .error_codes
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect(),
        ok_per_s: if secs > 0.0 { s.ok as f64 / secs } else { 0.0 },
        latency_ms: (h.count() > 0).then(|| Quantiles {
            p50: ms(h.quantile(0.5)),
            p90: ms(h.quantile(0.9)),
            p99: ms(h.quantile(0.99)),
            max: ms(Some(h.max())),
        }),
    }
}

/// The summary printed at the end of a run.
pub fn summary(r: &Results) -> String {
    let c = &r.config;
    let mut out = String::new();
    let clients = if c.closed_loop {
        format!("{} clients in a closed loop", c.concurrency)
    } else {
        format!("{} clients, {} requests/s", c.concurrency, c.rate)
    };
    let _ = writeln!(
        out,
        "mionode-load: {} nodes ({}), {} workload, {clients}, {:.1} s{}, seed {}",
        c.nodes.len(),
        c.nodes.join(" "),
        c.workload,
        r.duration_s,
        if r.interrupted { " (interrupted)" } else { "" },
        c.seed
    );
    let _ = writeln!(
        out,
        "network: latency {} ms {}, drop {}, duplicate {}, nemesis {}\n",
        c.latency_ms, c.latency_dist, c.drop, c.duplicate, c.nemesis
    );
    ops_table(&mut out, r);
    net_lines(&mut out, r);
    if !r.failures.is_empty() {
        let _ = writeln!(out, "\nfailures ({}):", r.failure_count);
        for f in &r.failures {
            let _ = writeln!(out, "  {} {}: {}", f.node, f.kind.label(), f.message);
        }
        let left = r.failure_count - r.failures.len() as u64;
        if left > 0 {
            let _ = writeln!(out, "  ... and {left} more");
        }
    }
    if let Some(e) = &r.history_error {
        let _ = writeln!(out, "\nhistory.jsonl is incomplete: {e}");
    }
    let _ = writeln!(out, "\nresults: {}/results.json", r.store);
    let verdict = if r.valid {
        "VALID: every reply was right, no protocol violation, no node exited early".to_string()
    } else {
        format!("INVALID: {} failure(s), listed above", r.failure_count)
    };
    let _ = writeln!(out, "verdict: {verdict}");
    out
}

fn ops_table(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "{:<11}{:>9}{:>9}{:>8}{:>8}{:>8}{:>7}{:>10}{:>9}{:>9}{:>9}{:>9}",
        "op",
        "invoked",
        "ok",
        "failed",
        "indet",
        "timeout",
        "wrong",
        "ok/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms"
    );
    let order = OpKind::ALL.iter().map(|k| k.name()).chain(["total"]);
    for name in order {
        let Some(o) = r.ops.get(name) else { continue };
        // No correct reply, no latency: a dash rather than NaN.
        let q = |f: fn(&Quantiles) -> f64| {
            o.latency_ms
                .as_ref()
                .map_or("-".to_string(), |l| format!("{:.3}", f(l)))
        };
        let _ = writeln!(
            out,
            "{name:<11}{:>9}{:>9}{:>8}{:>8}{:>8}{:>7}{:>10.1}{:>9}{:>9}{:>9}{:>9}",
            o.invoked,
            o.ok,
            o.failed,
            o.indeterminate,
            o.timed_out,
            o.wrong,
            o.ok_per_s,
            q(|q| q.p50),
            q(|q| q.p90),
            q(|q| q.p99),
            q(|q| q.max)
        );
    }
    if let Some(total) = r.ops.get("total") {
        if !total.error_codes.is_empty() {
            let codes: Vec<String> = total
                .error_codes
                .iter()
                .map(|(code, n)| {
                    let name = code.parse().ok().and_then(code_name).unwrap_or("custom");
                    format!("{code} {name} ×{n}")
                })
                .collect();
            let _ = writeln!(out, "errors by code: {}", codes.join(", "));
        }
    }
}

fn net_lines(out: &mut String, r: &Results) {
    let n = &r.net;
    let _ = writeln!(
        out,
        "\nmessages: {} sent (clients {}, between nodes {}), {} delivered; \
         {} dropped, {} duplicated, {} lost to partitions",
        n.all.send_count,
        n.clients.send_count,
        n.servers.send_count,
        n.all.recv_count,
        n.dropped,
        n.duplicated,
        n.partitioned
    );
    if let (Some(all), Some(servers)) = (n.all.msgs_per_op, n.servers.msgs_per_op) {
        let _ = writeln!(out, "msgs-per-op: {all:.2} (between nodes {servers:.2})");
    }
    let partitions = r.nemesis.iter().filter(|e| e.action == "partition").count();
    if partitions > 0 {
        let _ = writeln!(out, "nemesis: {partitions} partition(s)");
    }
    if r.replaced_clients > 0 || r.ignored_replies > 0 {
        let _ = writeln!(
            out,
            "clients: {} opened, {} replaced after a timeout or an indeterminate error; \
             {} replies to earlier requests ignored",
            r.clients, r.replaced_clients, r.ignored_replies
        );
    }
    for node in &r.nodes {
        let _ = writeln!(out, "{}: pid {}, {}", node.id, node.pid, node.exit);
    }
}
