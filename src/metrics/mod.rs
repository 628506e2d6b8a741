//! Runtime metrics: names, descriptions, the recorder, and `/metrics` over HTTP from the poll
//! loop.
//!
//! # How counting works
//!
//! The node counts in plain `u64`s of [`Stats`](crate::stats::Stats), whether metrics are on
//! or not: a hot path bumps an array element and nothing else. When metrics are on,
//! [`Metrics::sync`] copies those counters into the `metrics` registry with
//! [`Counter::absolute`] and sets the gauges, just before each render and on the upkeep timer.
//! Only the RPC round trip cannot be copied later; it goes into a [`Histogram`] handle the
//! [`Context`] holds, registered once, never looked up per message (a facade macro lookup
//! costs about 60 ns, a cached handle about 4 ns).
//!
//! With metrics off no recorder is installed, the `Context` holds no histogram, and the node
//! pays nothing beyond the plain counters.
//!
//! # The metrics
//!
//! [`METRICS`] lists every runtime metric with its kind, unit and description; the counters
//! that feed them are the table of [`stats::Counter`](crate::stats::Counter). Every name
//! starts with `mionode_`. Labels take values from bounded lists only: `outcome` (`ok`,
//! `error`, `timeout`, `cancelled`), `type` (the node's
//! message type list ([`crate::labels::MessageTypes`]): the app's registered types, their `_ok`
//! replies, `init`, `init_ok`, `error`, and `other` for everything else) and `reason` (the
//! rejection reasons and `malformed_request`). `sent = Σ completed + outstanding` holds for
//! RPCs at every render.
//!
//! An app adds its own metrics through the `metrics` facade (`metrics::counter!` and so on,
//! with a `describe_*!` for each); they are rendered beside these.
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

use metrics::{Counter, Gauge, Histogram};

use crate::context::Context;
use crate::labels::MessageTypes;
use crate::stats::Counter as Count;

pub use crate::stats::{
    Kind, MetricDef, ANSWERS_DROPPED, LOOP_TURNS, MALFORMED_INPUT, MESSAGES_RECEIVED,
    MESSAGES_SENT, METRICS, NAMES, OPS_EXPIRED, OUTBOX_BYTES, RPCS_COMPLETED, RPCS_OUTSTANDING,
    RPCS_SENT, RPC_DURATION, RPC_RTO, RPC_SRTT, RPC_WINDOW_IN_FLIGHT, RPC_WINDOW_QUEUED,
    STALE_REPLIES, WARNINGS_HELD,
};
pub use service::{recorder_builder, MetricsOptions, MetricsService, UPKEEP_INTERVAL};

/// Buckets of latency histograms, in seconds: 100 µs (a reply from the same host) to 10 s
/// (past the client timeout of 5 s), about three per decade. Every histogram whose name ends
/// in `_seconds` gets them, the app's included.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Handles of every runtime metric, registered once with the current recorder.
#[derive(Clone)]
pub struct Metrics {
    rpcs_outstanding: Gauge,
    window_in_flight: Gauge,
    window_queued: Gauge,
    outbox_bytes: Gauge,
    /// Indexed like [`stats::Counter::ALL`](crate::stats::Counter::ALL).
    counters: Vec<Counter>,
    /// Indexed by message type label.
    received: Vec<Counter>,
    sent: Vec<Counter>,
    rpc_duration: Histogram,
}

impl Metrics {
    /// Describes and registers every runtime metric with the current recorder (the global
    /// one, or the one set by [`metrics::with_local_recorder`]), with `types` as the `type`
    /// labels.
    pub fn register(types: &MessageTypes) -> Metrics {
        describe();
        let by_type = |name: &'static str| -> Vec<Counter> {
            types
                .names()
                .map(|t| metrics::counter!(name, "type" => t.to_owned()))
                .collect()
        };
        Metrics {
            rpcs_outstanding: metrics::gauge!(RPCS_OUTSTANDING),
            window_in_flight: metrics::gauge!(RPC_WINDOW_IN_FLIGHT),
            window_queued: metrics::gauge!(RPC_WINDOW_QUEUED),
            outbox_bytes: metrics::gauge!(OUTBOX_BYTES),
            counters: Count::ALL
                .iter()
                .map(|c| match c.label() {
                    Some((key, value)) => metrics::counter!(c.metric(), key => value),
                    None => metrics::counter!(c.metric()),
                })
                .collect(),
            received: by_type(MESSAGES_RECEIVED),
            sent: by_type(MESSAGES_SENT),
            rpc_duration: metrics::histogram!(RPC_DURATION),
        }
    }

    /// The RPC round-trip histogram, for the context to record into.
    pub fn rpc_duration(&self) -> Histogram {
        self.rpc_duration.clone()
    }

    /// Copies the node's counters and current levels into the registry.
    pub fn sync<A>(&self, ctx: &Context<A>) {
        let stats = ctx.stats();
        self.rpcs_outstanding.set(ctx.pending_rpcs() as f64);
        self.window_in_flight.set(ctx.rpcs_in_flight() as f64);
        self.window_queued.set(ctx.rpcs_queued() as f64);
        // Bounded: the cluster's nodes and at most 32 other destinations.
        for (dest, path) in ctx.rtt_estimates() {
            let est = &path.estimator;
            if let Some(srtt) = est.srtt() {
                metrics::gauge!(RPC_SRTT, "dest" => dest.to_owned()).set(srtt.as_secs_f64());
            }
            metrics::gauge!(RPC_RTO, "dest" => dest.to_owned()).set(est.rto().as_secs_f64());
        }
        self.outbox_bytes.set(ctx.outbox_len() as f64);
        for (handle, &counter) in self.counters.iter().zip(Count::ALL) {
            handle.absolute(stats.get(counter));
        }
        for (handle, &value) in self.received.iter().zip(stats.received()) {
            handle.absolute(value);
        }
        for (handle, &value) in self.sent.iter().zip(stats.sent()) {
            handle.absolute(value);
        }
    }
}

/// Gives every runtime metric its description and unit.
fn describe() {
    for m in METRICS {
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, m.unit, m.help),
            Kind::Gauge => metrics::describe_gauge!(m.name, m.unit, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, m.unit, m.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::TestNode;
    use crate::{App, NoFlags, Routes};
    use serde_json::json;

    /// Asks `n2` for a `ping` on every `ping_all`, and answers `pong` from its callback.
    struct Pinger;

    impl App for Pinger {
        type Flags = NoFlags;
        fn new(_: &NoFlags) -> Self {
            Pinger
        }
        fn routes(routes: &mut Routes<Self>) {
            routes.on("ping_all", |_, ctx, req| {
                let to = req.reply_to();
                let body = json!({"type": "ping"});
                ctx.rpc("n2", &body, Duration::from_secs(1), move |_, ctx, r| {
                    let kind = if r.is_ok() { "ping_all_ok" } else { "error" };
                    ctx.reply_later(&to, &json!({"type": kind, "code": 0}));
                });
                Ok(())
            });
        }
    }

    fn render_after(
        node: &mut TestNode<Pinger>,
        metrics: &Metrics,
        recorder: &metrics_exporter_prometheus::PrometheusRecorder,
    ) -> String {
        // Per-destination gauges are looked up at sync, from the recorder in force.
        metrics::with_local_recorder(recorder, || metrics.sync(node.context()));
        recorder.handle().render()
    }

    #[test]
    fn every_metric_is_rendered_with_its_description_and_counts_match() {
        let recorder = recorder_builder(&[]).unwrap().build_recorder();
        let mut node = TestNode::<Pinger>::started("n1", &["n1", "n2"]);
        let metrics = metrics::with_local_recorder(&recorder, || {
            Metrics::register(node.context().message_types())
        });
        node.node_mut().set_rpc_histogram(metrics.rpc_duration());
        let sent = node.deliver("c1", json!({"type":"ping_all","msg_id":1}));
        node.advance_ms(2);
        let id = sent[0]["body"]["msg_id"].clone();
        node.deliver("n3", json!({"type":"pong","in_reply_to":id}));
        node.deliver("n2", json!({"type":"pong","in_reply_to":id}));
        node.deliver_line(b"not json");
        let text = render_after(&mut node, &metrics, &recorder);
        for name in NAMES {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} undescribed"
            );
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
        }
        let expect = [
            "mionode_rpcs_sent_total 1",
            "mionode_rpcs_completed_total{outcome=\"ok\"} 1",
            "mionode_stale_replies_total 1",
            "mionode_rpcs_outstanding 0",
            "mionode_messages_received_total{type=\"ping_all\"} 1",
            "mionode_messages_received_total{type=\"other\"} 2",
            "mionode_messages_sent_total{type=\"ping_all_ok\"} 1",
            "mionode_messages_sent_total{type=\"other\"} 1",
            "mionode_malformed_input_total{reason=\"bad_envelope\"} 1",
            "mionode_rpc_duration_seconds_count 1",
            "mionode_rpc_duration_seconds_bucket{le=\"0.001\"} 0",
            "mionode_rpc_duration_seconds_bucket{le=\"0.0025\"} 1",
        ];
        for line in expect {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
