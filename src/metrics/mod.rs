//! Metrics: names, descriptions, the recorder, and `/metrics` over HTTP from the poll loop.
//!
//! # How counting works
//!
//! The node counts in plain `u64` fields of [`Stats`](crate::stats::Stats), whether metrics are on or not: a hot
//! path bumps an array element and nothing else. When metrics are on, [`Metrics::sync`] copies
//! those counters into the `metrics` registry with [`Counter::absolute`] and sets the gauges,
//! just before each render and on the upkeep timer. Only latencies cannot be copied later;
//! they go into the [`Histograms`] handles the [`Context`] holds, registered once, never looked
//! up per message (a facade macro lookup costs about 60 ns, a cached handle about 4 ns).
//!
//! With metrics off no recorder is installed, the `Context` holds no histograms, and the node
//! pays nothing beyond the plain counters.
//!
//! # The metrics
//!
//! Every name starts with `mionode_`, every metric is described and has a unit. Labels take
//! values from fixed lists only: `outcome` (`ok`, `error`, `timeout`, `cancelled`), `type`
//! (the [`MessageType`] list, everything else `other`) and `reason` (the [`Rejection`] list
//! and `malformed_request`).
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `mionode_rpcs_outstanding` | gauge | | RPCs awaiting a reply or a timeout |
//! | `mionode_rpcs_sent_total` | counter | | RPC requests written |
//! | `mionode_rpcs_completed_total` | counter | `outcome` | RPCs ended, by how |
//! | `mionode_stale_replies_total` | counter | | replies naming no pending RPC, dropped |
//! | `mionode_rpc_retries_total` | counter | | attempts repeated after a timeout |
//! | `mionode_reaped_callbacks_total` | counter | | fire-and-forget RPCs freed by the reaper |
//! | `mionode_rpc_duration_seconds` | histogram | | request written to reply read |
//! | `mionode_batch_duration_seconds` | histogram | | `batch_echo` in to `batch_echo_ok` out |
//! | `mionode_batch_size` | histogram | | values of each answered `batch_echo` |
//! | `mionode_messages_received_total` | counter | `type` | well-formed messages read |
//! | `mionode_messages_sent_total` | counter | `type` | messages written |
//! | `mionode_malformed_input_total` | counter | `reason` | input not handled as sent |
//! | `mionode_outbox_bytes` | gauge | | output waiting for stdout's reader |
//! | `mionode_loop_turns_total` | counter | | turns of the poll loop |
//!
//! `sent = Σ completed + outstanding` holds for RPCs at every render.
//!
//! # Serving
//!
//! [`MetricsService`] installs the recorder, serves its text on `GET /metrics` with the
//! [`http`] responder, registered with the node's own poll (no thread, no runtime), runs the
//! recorder's upkeep off the node's timer wheel, and writes a Prometheus service-discovery
//! file once the node knows its id ([`discovery`]).

pub mod discovery;
pub mod http;
mod service;

use metrics::{Counter, Gauge, Histogram, Unit};

use crate::context::Context;
use crate::message_type::MessageType;
use crate::stats::Rejection;

pub use service::{recorder_builder, MetricsOptions, MetricsService, UPKEEP_INTERVAL};

/// Gauge: RPCs awaiting a reply or a timeout.
pub const RPCS_OUTSTANDING: &str = "mionode_rpcs_outstanding";
/// Counter: RPC requests written.
pub const RPCS_SENT: &str = "mionode_rpcs_sent_total";
/// Counter, label `outcome`: RPCs ended.
pub const RPCS_COMPLETED: &str = "mionode_rpcs_completed_total";
/// Counter: replies naming no pending RPC.
pub const STALE_REPLIES: &str = "mionode_stale_replies_total";
/// Counter: RPC attempts repeated after a timeout.
pub const RPC_RETRIES: &str = "mionode_rpc_retries_total";
/// Counter: fire-and-forget RPCs freed by the reaper.
pub const REAPED_CALLBACKS: &str = "mionode_reaped_callbacks_total";
/// Histogram: RPC round trip.
pub const RPC_DURATION: &str = "mionode_rpc_duration_seconds";
/// Histogram: `batch_echo` to `batch_echo_ok`.
pub const BATCH_DURATION: &str = "mionode_batch_duration_seconds";
/// Histogram: values per answered `batch_echo`.
pub const BATCH_SIZE: &str = "mionode_batch_size";
/// Counter, label `type`: messages received.
pub const MESSAGES_RECEIVED: &str = "mionode_messages_received_total";
/// Counter, label `type`: messages written.
pub const MESSAGES_SENT: &str = "mionode_messages_sent_total";
/// Counter, label `reason`: input not handled as sent.
pub const MALFORMED_INPUT: &str = "mionode_malformed_input_total";
/// Gauge: bytes written and not yet taken by stdout's reader.
pub const OUTBOX_BYTES: &str = "mionode_outbox_bytes";
/// Counter: turns of the poll loop.
pub const LOOP_TURNS: &str = "mionode_loop_turns_total";

/// Every metric's name.
pub const NAMES: [&str; 14] = [
    RPCS_OUTSTANDING,
    RPCS_SENT,
    RPCS_COMPLETED,
    STALE_REPLIES,
    RPC_RETRIES,
    REAPED_CALLBACKS,
    RPC_DURATION,
    BATCH_DURATION,
    BATCH_SIZE,
    MESSAGES_RECEIVED,
    MESSAGES_SENT,
    MALFORMED_INPUT,
    OUTBOX_BYTES,
    LOOP_TURNS,
];

/// Buckets of the latency histograms, in seconds: 100 µs (a reply from the same host) to
/// 10 s (past the client timeout of 5 s), about three per decade.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Buckets of [`BATCH_SIZE`]: powers of two up to 16384 values.
pub const BATCH_SIZE_BUCKETS: [f64; 15] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0,
    16384.0,
];

/// `outcome` labels of [`RPCS_COMPLETED`], in the order of [`Metrics`]' handles.
pub const OUTCOMES: [&str; 4] = ["ok", "error", "timeout", "cancelled"];

/// `reason` label of requests answered with error 12 (known type, fields missing or
/// mistyped); the other reasons are [`Rejection`]s, lines dropped unanswered.
pub const MALFORMED_REQUEST: &str = "malformed_request";

/// Handles of the histograms fed on hot paths, held by the [`Context`] when metrics are on.
#[derive(Clone)]
pub struct Histograms {
    /// [`RPC_DURATION`], seconds.
    pub rpc_duration: Histogram,
    /// [`BATCH_DURATION`], seconds.
    pub batch_duration: Histogram,
    /// [`BATCH_SIZE`], values.
    pub batch_size: Histogram,
}

/// Handles of every metric, registered once with the current recorder.
#[derive(Clone)]
pub struct Metrics {
    rpcs_outstanding: Gauge,
    rpcs_sent: Counter,
    /// Indexed like [`OUTCOMES`].
    rpcs_completed: [Counter; 4],
    stale_replies: Counter,
    retries: Counter,
    reaped: Counter,
    /// Indexed like [`MessageType::ALL`].
    received: [Counter; MessageType::COUNT],
    sent: [Counter; MessageType::COUNT],
    /// Indexed like [`Rejection::ALL`], then [`MALFORMED_REQUEST`] last.
    malformed: [Counter; Rejection::ALL.len() + 1],
    outbox_bytes: Gauge,
    loop_turns: Counter,
    histograms: Histograms,
}

impl Metrics {
    /// Describes and registers every metric with the current recorder (the global one, or the
    /// one set by [`metrics::with_local_recorder`]).
    pub fn register() -> Metrics {
        describe();
        Metrics {
            rpcs_outstanding: metrics::gauge!(RPCS_OUTSTANDING),
            rpcs_sent: metrics::counter!(RPCS_SENT),
            rpcs_completed: OUTCOMES.map(|o| metrics::counter!(RPCS_COMPLETED, "outcome" => o)),
            stale_replies: metrics::counter!(STALE_REPLIES),
            retries: metrics::counter!(RPC_RETRIES),
            reaped: metrics::counter!(REAPED_CALLBACKS),
            received: MessageType::ALL
                .map(|t| metrics::counter!(MESSAGES_RECEIVED, "type" => t.as_str())),
            sent: MessageType::ALL.map(|t| metrics::counter!(MESSAGES_SENT, "type" => t.as_str())),
            malformed: std::array::from_fn(|i| {
                let reason = Rejection::ALL
                    .get(i)
                    .map_or(MALFORMED_REQUEST, |r| r.as_str());
                metrics::counter!(MALFORMED_INPUT, "reason" => reason)
            }),
            outbox_bytes: metrics::gauge!(OUTBOX_BYTES),
            loop_turns: metrics::counter!(LOOP_TURNS),
            histograms: Histograms {
                rpc_duration: metrics::histogram!(RPC_DURATION),
                batch_duration: metrics::histogram!(BATCH_DURATION),
                batch_size: metrics::histogram!(BATCH_SIZE),
            },
        }
    }

    /// The histogram handles, for [`Context::set_histograms`].
    pub fn histograms(&self) -> Histograms {
        self.histograms.clone()
    }

    /// Copies the node's counters and current levels into the registry.
    pub fn sync(&self, ctx: &Context) {
        let stats = ctx.stats();
        self.rpcs_outstanding.set(ctx.pending_rpcs() as f64);
        self.outbox_bytes.set(ctx.outbox_len() as f64);
        self.rpcs_sent.absolute(stats.rpcs_sent);
        let outcomes = [
            stats.rpcs_ok,
            stats.rpcs_error,
            stats.rpcs_timeout,
            stats.rpcs_cancelled,
        ];
        for (counter, value) in self.rpcs_completed.iter().zip(outcomes) {
            counter.absolute(value);
        }
        self.stale_replies.absolute(stats.stale_replies);
        self.retries.absolute(stats.retries);
        self.reaped.absolute(stats.reaped);
        for (counter, &value) in self.received.iter().zip(&stats.received) {
            counter.absolute(value);
        }
        for (counter, &value) in self.sent.iter().zip(&stats.sent) {
            counter.absolute(value);
        }
        let malformed = stats.rejected.iter().chain([&stats.malformed_requests]);
        for (counter, &value) in self.malformed.iter().zip(malformed) {
            counter.absolute(value);
        }
        self.loop_turns.absolute(stats.loop_turns);
    }
}

/// Gives every metric its description and unit.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        RPCS_OUTSTANDING,
        Unit::Count,
        "RPCs awaiting a reply or a timeout."
    );
    describe_counter!(
        RPCS_SENT,
        Unit::Count,
        "RPC requests written, retries included."
    );
    describe_counter!(
        RPCS_COMPLETED,
        Unit::Count,
        "RPCs ended, by outcome: ok (reply), error (error reply), timeout (deadline first, \
         reaped fire-and-forget RPCs included), \
         cancelled (given up by their owner)."
    );
    describe_counter!(
        STALE_REPLIES,
        Unit::Count,
        "Replies naming no pending RPC (late, duplicate or unknown), dropped undelivered."
    );
    describe_counter!(
        RPC_RETRIES,
        Unit::Count,
        "RPC attempts repeated after a timeout."
    );
    describe_counter!(
        REAPED_CALLBACKS,
        Unit::Count,
        "Fire-and-forget RPCs whose callbacks the reaper freed at their deadline."
    );
    describe_histogram!(
        RPC_DURATION,
        Unit::Seconds,
        "RPC round trip: request written to reply read, for RPCs answered (ok or error)."
    );
    describe_histogram!(
        BATCH_DURATION,
        Unit::Seconds,
        "batch_echo latency: request read to batch_echo_ok written."
    );
    describe_histogram!(
        BATCH_SIZE,
        Unit::Count,
        "Values in each batch_echo answered with batch_echo_ok."
    );
    describe_counter!(
        MESSAGES_RECEIVED,
        Unit::Count,
        "Well-formed messages read from stdin, by type (unlisted types are other)."
    );
    describe_counter!(
        MESSAGES_SENT,
        Unit::Count,
        "Messages written to stdout, by type (unlisted types are other)."
    );
    describe_counter!(
        MALFORMED_INPUT,
        Unit::Count,
        "Input not handled as sent, by reason: lines dropped unanswered (empty, too_long, \
         not_utf8, bad_envelope, bad_body, no_msg_id, misaddressed) and requests answered \
         with error 12 (malformed_request)."
    );
    describe_gauge!(
        OUTBOX_BYTES,
        Unit::Bytes,
        "Bytes written and not yet taken by stdout's reader."
    );
    describe_counter!(
        LOOP_TURNS,
        Unit::Count,
        "Turns of the poll loop: one wait for events and the work that followed."
    );
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{Config, Node};

    /// Feeds `lines` to `node`, then every message it sends itself back to it, until it sends
    /// itself nothing; returns what it wrote to others. Each round trip takes 1 ms.
    fn run_loopback(node: &mut Node, lines: &[&str], start: Instant) -> Vec<serde_json::Value> {
        let mut input: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
        let mut outside = Vec::new();
        let mut now = start;
        while !input.is_empty() {
            now += Duration::from_millis(1);
            for line in input.drain(..) {
                node.handle_line(&line, now);
            }
            for line in node.outbox().take().split(|&b| b == b'\n') {
                if line.is_empty() {
                    continue;
                }
                let msg: serde_json::Value = serde_json::from_slice(line).unwrap();
                if msg["dest"] == "n1" {
                    input.push(line.to_vec());
                } else {
                    outside.push(msg);
                }
            }
        }
        outside
    }

    fn render_after(lines: &[&str]) -> String {
        let recorder = recorder_builder().unwrap().build_recorder();
        let metrics = metrics::with_local_recorder(&recorder, Metrics::register);
        let start = Instant::now();
        let mut node = Node::new(Config::default(), start);
        node.ctx.set_histograms(metrics.histograms());
        let replies = run_loopback(&mut node, lines, start);
        assert!(
            replies.iter().all(|r| r["body"]["type"] != "error"),
            "{replies:?}"
        );
        metrics.sync(&node.ctx);
        recorder.handle().render()
    }

    const INIT: &str = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#;
    const BATCH: &str = r#"{"src":"c1","dest":"n1","body":{"type":"batch_echo","msg_id":2,"values":[1,"two",[3]]}}"#;

    #[test]
    fn every_metric_is_rendered_with_its_description_and_type() {
        let text = render_after(&[INIT]);
        for name in NAMES {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} undescribed"
            );
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
        }
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            assert!(line.starts_with("mionode_"), "{line}");
        }
    }

    #[test]
    fn a_batch_shows_in_counters_and_histograms() {
        let text = render_after(&[INIT, BATCH]);
        let expect = [
            "mionode_rpcs_sent_total 3",
            "mionode_rpcs_completed_total{outcome=\"ok\"} 3",
            "mionode_rpcs_outstanding 0",
            "mionode_messages_received_total{type=\"echo\"} 3",
            "mionode_messages_received_total{type=\"echo_ok\"} 3",
            "mionode_messages_sent_total{type=\"batch_echo_ok\"} 1",
            "mionode_batch_size_bucket{le=\"2\"} 0",
            "mionode_batch_size_bucket{le=\"4\"} 1",
            "mionode_batch_size_sum 3",
            "mionode_rpc_duration_seconds_count 3",
            "mionode_rpc_duration_seconds_bucket{le=\"0.001\"} 0",
            "mionode_rpc_duration_seconds_bucket{le=\"0.0025\"} 3",
            "mionode_batch_duration_seconds_bucket{le=\"0.001\"} 0",
            "mionode_batch_duration_seconds_bucket{le=\"0.0025\"} 1",
        ];
        for line in expect {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }

    #[test]
    fn without_histograms_the_context_records_no_latency() {
        let start = Instant::now();
        let mut node = Node::new(Config::default(), start);
        run_loopback(&mut node, &[INIT, BATCH], start);
        assert_eq!(node.ctx.stats().batches_ok, 1);
    }
}
