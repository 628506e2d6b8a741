//! The example nodes under `mionode-load` with its unique-ids, broadcast and g-counter
//! workloads (Maelstrom's checkers, `seq-kv` as a service), with latency, partitions and, for
//! broadcast, lost messages; and the deliberately wrong nodes that its checkers must catch.

mod load_support;
mod support;

use load_support::{assert_valid, run, Run};

/// Runs `example` under `workload` with latency 5 ms and a partition about every second.
fn load(example: &str, workload: &str, args: &[&str]) -> Run {
    let bin = support::cluster::example(example);
    let mut all = vec![
        "--bin",
        bin.to_str().expect("a UTF-8 path"),
        "--workload",
        workload,
        "--latency",
        "5",
        "--nemesis",
        "partition",
        "--nemesis-interval",
        "1",
    ];
    all.extend_from_slice(args);
    run(&all)
}

/// Asserts the run failed the workload's own check, and returns that check.
fn workload_invalid(run: &Run) -> &serde_json::Value {
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let check = &run.results["checks"]["workload"];
    assert_eq!(check["valid"], false, "{}", run.describe());
    check
}

const BROADCAST: &[&str] = &[
    "--node-count",
    "5",
    "--topology",
    "line",
    "--drop",
    "0.05",
    "--time-limit",
    "5",
    "--rate",
    "100",
];
const G_COUNTER: &[&str] = &["--node-count", "3", "--time-limit", "5", "--rate", "100"];

#[test]
fn unique_ids_is_valid_under_mionode_load() {
    let run = load(
        "unique_ids",
        "unique-ids",
        &["--node-count", "3", "--time-limit", "3", "--rate", "300"],
    );
    assert_valid(&run, &["generate"]);
}

#[test]
fn broadcast_is_valid_under_mionode_load() {
    let run = load("broadcast", "broadcast", BROADCAST);
    assert_valid(&run, &["broadcast", "read"]);
}

#[test]
fn g_counter_is_valid_under_mionode_load() {
    let run = load("g_counter", "g-counter", G_COUNTER);
    assert_valid(&run, &["add", "read"]);
}

#[test]
fn mionode_load_catches_gossip_without_retry() {
    let run = load("wrong_broadcast_once", "broadcast", BROADCAST);
    let check = workload_invalid(&run);
    assert!(check["lost_count"].as_u64() > Some(0), "{}", run.describe());
}

#[test]
fn mionode_load_catches_a_counter_without_cas() {
    let run = load("wrong_g_counter_blind", "g-counter", G_COUNTER);
    let check = workload_invalid(&run);
    assert!(
        !check["errors"].as_array().expect("errors").is_empty(),
        "{}",
        run.describe()
    );
}
