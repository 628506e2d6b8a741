//! examples/unique_ids.rs under its workload: ids unique across nodes and restarts, every
//! request answered, through latency, loss and partitions (tests/support/cluster.rs plays
//! Maelstrom).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use support::cluster::{self, History, Spec};

fn spec(example: &'static str, seed: u64) -> Spec {
    Spec {
        example,
        nodes: 3,
        seed,
        latency: Duration::from_millis(5),
        loss: 0.05,
        partitions: true,
        nemesis_every: Duration::from_millis(400),
        restarts: vec![
            Duration::from_millis(1000),
            Duration::from_millis(2000),
            Duration::from_millis(3000),
        ],
        duration: Duration::from_secs(4),
        quiesce: Duration::ZERO,
        think: Duration::from_millis(5),
        setup: None,
        op: |_| json!({"type": "generate"}),
        final_op: None,
    }
}

/// Ids answered more than once, with how often.
fn duplicates(history: &History) -> BTreeMap<String, usize> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for op in history.of("generate") {
        if let Some(reply) = op.ok() {
            *seen.entry(reply["id"].to_string()).or_default() += 1;
        }
    }
    seen.retain(|_, n| *n > 1);
    seen
}

#[test]
fn ids_are_unique_across_nodes_and_restarts_and_always_available() {
    let history = cluster::run(&spec("unique_ids", 1));
    let summary = history.summary();
    eprintln!("{summary}");
    assert!(history.invalid.is_empty(), "{:?}", history.invalid);
    let oks = history
        .of("generate")
        .filter(|op| op.ok().is_some())
        .count();
    assert!(oks >= 50, "too few ids: {summary}");
    assert_eq!(duplicates(&history), BTreeMap::new(), "{summary}");
    // Total availability: no error ever; only requests caught by a restart time out.
    let errors: Vec<&Value> = history
        .ops
        .iter()
        .filter_map(|op| op.reply.as_ref())
        .filter(|r| r["type"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let timeouts = history.ops.iter().filter(|op| op.reply.is_none()).count();
    assert!(timeouts <= 3, "{summary}");
}

#[test]
fn a_node_id_and_counter_repeat_ids_after_a_restart() {
    let history = cluster::run(&spec("wrong_unique_ids_counter", 1));
    assert!(
        !duplicates(&history).is_empty(),
        "the checker missed it: {}",
        history.summary()
    );
}
