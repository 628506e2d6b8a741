//! What metrics cost per message, measured on the I/O-free node.
//!
//! ```sh
//! cargo run --release --example metrics_cost
//! ```
//!
//! Drives one node through the same input twice over, with and without the metrics recorder
//! attached: plain echoes (counters only, so the difference is the per-type counting both
//! ways pay), then batches whose echo RPCs are answered at once (every reply records a
//! round-trip sample, every batch a latency and a size). Prints the best of several rounds in
//! nanoseconds per input line; the difference between the two columns is what metrics cost.

use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusRecorder;
use mionode::metrics::{recorder_builder, Metrics};
use mionode::{App, Config, Node};

/// The mionode binary's app, included from its sources.
#[allow(dead_code)]
#[path = "../src/bin/mionode/app/mod.rs"]
mod app;

const ROUNDS: usize = 7;
const ECHOES: u64 = 200_000;
const BATCHES: u64 = 20_000;
const BATCH_SIZE: u64 = 10;

const INIT: &str = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#;

fn echo_lines() -> Vec<String> {
    (0..ECHOES)
        .map(|i| {
            format!(r#"{{"src":"c1","dest":"n1","body":{{"type":"echo","msg_id":{},"echo":"value-{i}"}}}}"#, i + 2)
        })
        .collect()
}

/// Each batch, then the replies to its echo RPCs; the node's `msg_id`s are predictable
/// (init_ok takes 0, then each echo of a batch one, then its batch_echo_ok one).
fn batch_lines() -> Vec<String> {
    let values: Vec<String> = (0..BATCH_SIZE).map(|v| v.to_string()).collect();
    let mut lines = Vec::new();
    let mut next_msg_id = 1;
    for b in 0..BATCHES {
        lines.push(format!(
            r#"{{"src":"c1","dest":"n1","body":{{"type":"batch_echo","msg_id":{},"values":[{}]}}}}"#,
            b + 2,
            values.join(",")
        ));
        for v in 0..BATCH_SIZE {
            lines.push(format!(
                r#"{{"src":"n1","dest":"n1","body":{{"type":"echo_ok","echo":{v},"msg_id":{},"in_reply_to":{}}}}}"#,
                1_000_000 + b * BATCH_SIZE + v,
                next_msg_id + v
            ));
        }
        next_msg_id += BATCH_SIZE + 1;
    }
    lines
}

/// Time to feed `lines` to a fresh node (after init), with metrics attached or not.
fn run(lines: &[String], recorder: Option<&PrometheusRecorder>) -> Duration {
    let now = Instant::now();
    let flags = app::Flags::default();
    let chapter = match recorder {
        Some(r) => metrics::with_local_recorder(r, || app::RpcChapter::new(&flags)),
        None => app::RpcChapter::new(&flags),
    };
    let mut node = Node::new(chapter, Config::default(), now);
    let types = node.context().message_types().clone();
    let metrics = recorder.map(|r| metrics::with_local_recorder(r, || Metrics::register(&types)));
    if let Some(m) = &metrics {
        node.set_rpc_histogram(m.rpc_duration());
    }
    node.handle_line(INIT.as_bytes(), now);
    let start = Instant::now();
    for (i, line) in lines.iter().enumerate() {
        node.handle_line(line.as_bytes(), now);
        if i % 64 == 0 {
            // As the event loop flushes once a turn.
            node.outbox().take();
        }
    }
    let elapsed = start.elapsed();
    if let (Some(m), Some(r)) = (&metrics, recorder) {
        m.sync(node.context());
        r.handle().run_upkeep();
    }
    elapsed
}

fn best(lines: &[String], recorder: Option<&PrometheusRecorder>) -> f64 {
    let best = (0..ROUNDS).map(|_| run(lines, recorder)).min().unwrap();
    best.as_nanos() as f64 / lines.len() as f64
}

fn main() {
    let recorder = recorder_builder(app::RpcChapter::HISTOGRAM_BUCKETS)
        .unwrap()
        .build_recorder();
    println!("ns per input line, best of {ROUNDS} rounds");
    println!("{:<34} {:>8} {:>8} {:>8}", "workload", "off", "on", "cost");
    for (name, lines) in [
        ("echo (200k)", echo_lines()),
        ("batch_echo x10 + replies (220k)", batch_lines()),
    ] {
        let off = best(&lines, None);
        let on = best(&lines, Some(&recorder));
        println!("{name:<34} {off:>8.1} {on:>8.1} {:>8.1}", on - off);
    }
}
