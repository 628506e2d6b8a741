//! The protocol vectors of the RPC family (`tests/fixtures/vectors`: the proxy, relay,
//! reaper and backoff cases of 1-2-1, 1-2-2, 1-2-4 and 1-2-5; their echo-only siblings are in
//! `vectors.rs`), judged by the rules of their README: the node reads `NAME.in.jsonl` and sees
//! end of input; its first output lines must equal `NAME.expected.jsonl` line by line as JSON
//! values; the run must end within 5 s.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The README's limit on a whole run.
const RUN_LIMIT: Duration = Duration::from_secs(5);

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vectors")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Runs the node on vector `name`'s input and returns its output lines.
fn run(name: &str) -> Vec<Value> {
    let input = std::fs::File::open(vectors_dir().join(format!("{name}.in.jsonl")))
        .unwrap_or_else(|e| panic!("vector {name}: {e}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_mionode"))
        .stdin(Stdio::from(input))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mionode");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "vector {name}: exit {status:?}");
            break;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vector {name}: still running after {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    json_lines(&reader.join().unwrap().unwrap())
}

fn expected(name: &str) -> Vec<Value> {
    let path = vectors_dir().join(format!("{name}.expected.jsonl"));
    json_lines(&std::fs::read_to_string(path).unwrap())
}

fn check(name: &str) -> Vec<Value> {
    let got = run(name);
    let want = expected(name);
    assert!(got.len() >= want.len(), "vector {name}: got {got:#?}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "vector {name}, line {}", i + 1);
    }
    got
}

#[test]
fn vector_1_2_1_sync_rpc_2_proxy_forwards_inner() {
    check("1-2-1-sync-rpc-2");
}

#[test]
fn vector_1_2_2_timeout_retry_2_relay_sends_first_attempt() {
    check("1-2-2-timeout-retry-2");
}

#[test]
fn vector_1_2_4_callback_reaper_1_pending_count_starts_at_zero() {
    check("1-2-4-callback-reaper-1");
}

#[test]
fn vector_1_2_4_callback_reaper_2_fire_forget_counts_itself() {
    check("1-2-4-callback-reaper-2");
}

/// Its second line varies with jitter: the README asks for its structure only.
#[test]
fn vector_1_2_5_exponential_backoff_2_compute_backoff_structure() {
    let got = check("1-2-5-exponential-backoff-2");
    let body = &got.get(1).expect("a compute_backoff_ok line")["body"];
    assert_eq!(body["type"], "compute_backoff_ok");
    assert_eq!(body["in_reply_to"], 2);
    let schedule = body["schedule_ms"]
        .as_array()
        .expect("schedule_ms is a list");
    let retries = body["retries"].as_u64().unwrap();
    assert_eq!(schedule.len() as u64, retries);
    let sum: u64 = schedule.iter().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(body["total_ms"], sum);
}
