//! What a line costs the node, in instructions, on the I/O-free node with its clock stopped:
//! the figures of docs/performance.md that compare the node's input path with the bare
//! serde_json loop, measured so that they do not depend on the machine's load.
//!
//! ```sh
//! cargo build --release --example line_cost
//! for w in bare echo batch; do
//!   valgrind --tool=callgrind --toggle-collect='line_cost::measured' \
//!     --callgrind-out-file=/tmp/line_cost.$w target/release/examples/line_cost $w
//! done
//! ```
//!
//! `--toggle-collect` counts only the workload, not the making of its input. Workloads:
//!
//! - `bare`: the bare serde_json echo (`benches/common/bare.rs`) on [`ECHOES`] echo requests.
//! - `echo`: the node (the mionode binary's app) on the same requests.
//! - `batch`: one `batch_echo` of [`BATCH_VALUES`] values; every line the node addresses to
//!   itself goes back in, as the network would deliver it, until the answer comes out.
//!
//! The clock never moves, so no RPC times out and no echo is sent twice: the same input gives
//! the same count on any machine, whatever else it is doing (which the process benchmark
//! cannot promise for a batch under valgrind, where retransmission timeouts fire at
//! valgrind's pace). Run without valgrind, it prints what it did and the time it took.

use std::hint::black_box;
use std::time::Instant;

use mionode::{App, Config, Node};

/// The mionode binary's app, included from its sources.
#[allow(dead_code)]
#[path = "../src/bin/mionode/app/mod.rs"]
mod app;

/// The bare serde_json echo the process benchmark compares with.
#[allow(dead_code)]
#[path = "../benches/common/bare.rs"]
mod bare;

/// Echo requests of the `bare` and `echo` workloads, as the process benchmark's.
const ECHOES: usize = 200_000;

/// Values of the `batch` workload's one `batch_echo`, as the process benchmark's.
const BATCH_VALUES: usize = 100_000;

/// Lines handled between two flushes of the outbox, about one read of 64 KiB.
const LINES_PER_TURN: usize = 700;

const INIT: &str = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#;

/// The echo requests of `benches/process/echo.rs`.
fn echo_lines() -> Vec<String> {
    (0..ECHOES)
        .map(|i| {
            format!(
                r#"{{"id":{i},"src":"c1","dest":"n1","body":{{"type":"echo","echo":"hello {i}","msg_id":{}}}}}"#,
                i + 2
            )
        })
        .collect()
}

fn batch_line() -> String {
    let values: Vec<String> = (0..BATCH_VALUES).map(|v| v.to_string()).collect();
    format!(
        r#"{{"src":"c1","dest":"n1","body":{{"type":"batch_echo","msg_id":2,"values":[{}]}}}}"#,
        values.join(",")
    )
}

fn node(now: Instant) -> Node<app::RpcChapter> {
    let chapter = app::RpcChapter::new(&app::Flags::default());
    let mut node = Node::new(chapter, Config::default(), now);
    node.handle_line(INIT.as_bytes(), now);
    let written = node.outbox().pending().len();
    node.outbox().advance(written);
    node
}

/// Feeds `lines` to the node, flushing the outbox every [`LINES_PER_TURN`]; bytes written.
fn echo(node: &mut Node<app::RpcChapter>, lines: &[String], now: Instant) -> usize {
    let mut written = 0;
    for turn in lines.chunks(LINES_PER_TURN) {
        for line in turn {
            node.handle_line(line.as_bytes(), now);
        }
        let out = node.outbox();
        written += out.pending().len();
        black_box(out.pending());
        out.advance(out.pending().len());
    }
    written
}

/// Answers `lines` with the bare loop, in the same turns; bytes written.
fn bare(lines: &[String]) -> usize {
    let mut out = Vec::with_capacity(1 << 16);
    let mut written = 0;
    for (turn, chunk) in lines.chunks(LINES_PER_TURN).enumerate() {
        for (i, line) in chunk.iter().enumerate() {
            let msg_id = (turn * LINES_PER_TURN + i) as u64;
            bare::answer(line, msg_id, &mut out).expect("an echo request");
        }
        written += out.len();
        black_box(&out);
        out.clear();
    }
    written
}

/// Handles `request`, then loops back every line the node addresses to itself until none is
/// left; returns the lines looped back and the answers to others.
fn batch(node: &mut Node<app::RpcChapter>, request: &str, now: Instant) -> (usize, Vec<Vec<u8>>) {
    node.handle_line(request.as_bytes(), now);
    let mut looped = 0;
    let mut answers = Vec::new();
    let mut turn = Vec::new();
    loop {
        turn.clear();
        turn.extend_from_slice(node.outbox().pending());
        let n = turn.len();
        node.outbox().advance(n);
        if turn.is_empty() {
            return (looped, answers);
        }
        let mut from = 0;
        for to in memchr::memchr_iter(b'\n', &turn) {
            let line = &turn[from..to];
            from = to + 1;
            // The node writes `src` and `dest` first.
            if line.starts_with(br#"{"src":"n1","dest":"n1""#) {
                looped += 1;
                node.handle_line(line, now);
            } else {
                answers.push(line.to_vec());
            }
        }
    }
}

/// The workload callgrind counts (`--toggle-collect='line_cost::measured'`).
#[inline(never)]
fn measured(
    workload: &str,
    input: &Input,
    now: Instant,
    node: &mut Node<app::RpcChapter>,
) -> Option<(usize, Vec<Vec<u8>>)> {
    match workload {
        "bare" => println!("bare: {} bytes written", bare(&input.echoes)),
        "echo" => println!("echo: {} bytes written", echo(node, &input.echoes, now)),
        _ => return Some(batch(node, &input.batch, now)),
    }
    None
}

/// The batch's one answer is its `batch_echo_ok` (checked outside the count).
fn check_batch(looped: usize, answers: &[Vec<u8>]) {
    assert_eq!(answers.len(), 1, "one answer");
    let answer: serde_json::Value = serde_json::from_slice(&answers[0]).expect("JSON");
    let body = &answer["body"];
    assert_eq!(body["type"], "batch_echo_ok", "{body:.200}");
    let expected: Vec<usize> = (0..BATCH_VALUES).collect();
    assert_eq!(
        body["results"],
        serde_json::json!(expected),
        "every value, in order"
    );
    println!("batch: {looped} lines looped back, one answer, every value in order");
}

struct Input {
    echoes: Vec<String>,
    batch: String,
}

fn main() {
    let workload = std::env::args().nth(1).unwrap_or_default();
    let input = match workload.as_str() {
        "bare" | "echo" => Input {
            echoes: echo_lines(),
            batch: String::new(),
        },
        "batch" => Input {
            echoes: Vec::new(),
            batch: batch_line(),
        },
        _ => {
            eprintln!("usage: line_cost bare|echo|batch");
            std::process::exit(2);
        }
    };
    let now = Instant::now();
    let mut node = node(now);
    let start = Instant::now();
    let batch = measured(&workload, &input, now, &mut node);
    eprintln!("{:.1} ms", start.elapsed().as_secs_f64() * 1e3);
    if let Some((looped, answers)) = batch {
        check_batch(looped, &answers);
    }
}
