//! Micro-benchmarks of the node's building blocks: the timer wheel, the pending RPC table and
//! the codec. `cargo bench --bench micro`; docs/performance.md has the figures.
//!
//! Each benchmark whose figure has a target in issue 7 carries the target in its name, so
//! criterion prints the two side by side. The wheel and the table are measured in a steady
//! state with [`WINDOW`] or [`BIG_WINDOW`] entries outstanding, the way the node uses them:
//! every RPC adds one entry and the oldest one leaves.

#[path = "common/bare.rs"]
mod bare;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mionode::protocol::{write_message, Envelope, Header};
use mionode::rpc::PendingRpcs;
use mionode::timer::{TimerKey, TimerWheel};
use mionode::{App, Config, NoFlags, Node, Routes};
use serde_json::value::RawValue;

/// Entries outstanding while a wheel or table benchmark runs.
const WINDOW: usize = 4096;

/// Entries outstanding in the benchmarks of a large table: one batch_echo of 100,000 values.
const BIG_WINDOW: usize = 100_000;

/// Ticks from now to an RPC's deadline: the default RPC timeout of one second.
const TIMEOUT_TICKS: u64 = 1000;

/// An echo request as Maelstrom delivers it (with its top-level `id`).
const ECHO_LINE: &str =
    r#"{"id":17,"src":"c1","dest":"n1","body":{"type":"echo","echo":"hello 12345","msg_id":42}}"#;

fn timer_wheel(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_wheel");
    group.throughput(Throughput::Elements(1));
    for window in [WINDOW, BIG_WINDOW] {
        let name = format!("insert+cancel per RPC, {window} pending, target <= 30 ns");
        group.bench_function(name, |b| {
            let mut wheel = TimerWheel::new();
            let mut keys: Vec<TimerKey> = (0..window as u64)
                .map(|i| wheel.insert(TIMEOUT_TICKS + i % 64, i))
                .collect();
            let mut i = 0usize;
            b.iter(|| {
                let oldest = i % window;
                black_box(wheel.cancel(keys[oldest]));
                keys[oldest] = wheel.insert(TIMEOUT_TICKS + (i as u64 % 64), i as u64);
                i += 1;
            });
        });
    }
    group.finish();
}

fn pending_table(c: &mut Criterion) {
    let mut group = c.benchmark_group("pending_table");
    group.throughput(Throughput::Elements(1));
    for window in [WINDOW, BIG_WINDOW] {
        let name = format!("register+complete per RPC, {window} pending, target <= 50 ns");
        group.bench_function(name, |b| {
            // The table only stores the timer key; one real key serves every entry.
            let timer = TimerWheel::new().insert(0, ());
            let sent_at = Instant::now();
            let mut table = PendingRpcs::new();
            for msg_id in 0..window as u64 {
                table.insert(msg_id, timer, sent_at, msg_id);
            }
            let mut next = window as u64;
            b.iter(|| {
                black_box(table.complete(next - window as u64));
                black_box(table.vacant_key());
                table.insert(next, timer, sent_at, next);
                next += 1;
            });
        });
    }
    group.finish();
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse envelope+header", |b| {
        b.iter(|| {
            let envelope: Envelope = serde_json::from_str(black_box(ECHO_LINE)).unwrap();
            let header: Header = serde_json::from_str(envelope.body.get()).unwrap();
            black_box((envelope.src, header.msg_id))
        });
    });
    let echo = RawValue::from_string(r#""hello 12345""#.into()).unwrap();
    let mut out = Vec::with_capacity(1 << 16);
    group.bench_function("write echo_ok", |b| {
        b.iter(|| {
            out.clear();
            let body = EchoOk {
                kind: "echo_ok",
                echo: &echo,
            };
            write_message(&mut out, "n1", "c1", &body, 7, Some(42)).unwrap();
            black_box(out.len())
        });
    });
    group.bench_function("bare serde_json echo (parse+reply+serialize)", |b| {
        b.iter(|| {
            out.clear();
            bare::answer(black_box(ECHO_LINE), 7, &mut out).unwrap();
            black_box(out.len())
        });
    });
    group.bench_function("serde_json::Value echo (the simple node's way)", |b| {
        b.iter(|| {
            out.clear();
            let req: serde_json::Value = serde_json::from_str(black_box(ECHO_LINE)).unwrap();
            let body = &req["body"];
            let reply = serde_json::json!({"src": req["dest"], "dest": req["src"], "body": {
                "type": "echo_ok", "echo": body["echo"], "msg_id": 7, "in_reply_to": body["msg_id"]}});
            serde_json::to_writer(&mut out, &reply).unwrap();
            out.push(b'\n');
            black_box(out.len())
        });
    });
    group.bench_function("node echo (Node::handle_line)", |b| {
        let now = Instant::now();
        let mut node = initialized_node(now);
        let mut lines = 0u32;
        b.iter(|| {
            node.handle_line(black_box(ECHO_LINE.as_bytes()), now);
            lines += 1;
            if lines % 1024 == 0 {
                let outbox = node.outbox();
                let n = outbox.len();
                outbox.advance(n);
            }
        });
    });
    group.finish();
}

/// A node that has answered `init` as `n1`, its outbox empty.
fn initialized_node(now: Instant) -> Node<Echo> {
    let mut node = Node::new(Echo, Config::default(), now);
    let init = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#;
    node.handle_line(init.as_bytes(), now);
    node.outbox().take();
    node
}

/// The body of `echo_ok`, as an app writes it.
#[derive(serde::Serialize)]
struct EchoOk<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    echo: &'a RawValue,
}

/// The fields of `echo`.
#[derive(serde::Deserialize)]
struct EchoIn<'a> {
    #[serde(borrow)]
    echo: &'a RawValue,
}

/// An app that answers `echo`, as the mionode binary does.
struct Echo;

impl App for Echo {
    type Flags = NoFlags;
    fn new(_: &NoFlags) -> Self {
        Echo
    }
    fn routes(routes: &mut Routes<Self>) {
        routes.on("echo", |_, ctx, req| {
            let EchoIn { echo } = req.body()?;
            ctx.reply(
                req,
                &EchoOk {
                    kind: "echo_ok",
                    echo,
                },
            );
            Ok(())
        });
    }
}

fn config() -> Criterion {
    // Short runs: these loops are tight and stable; the machine is shared.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = timer_wheel, pending_table, codec
}
criterion_main!(benches);
