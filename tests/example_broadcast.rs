//! examples/broadcast.rs under its workload on a line topology (the easiest to cut): every
//! acknowledged value in every node's final read, through latency, loss and partitions
//! (tests/support/cluster.rs plays Maelstrom).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use support::cluster::{self, History, Spec};

const NODES: usize = 5;

fn spec(example: &'static str, seed: u64) -> Spec {
    Spec {
        example,
        nodes: NODES,
        seed,
        latency: Duration::from_millis(10),
        loss: 0.05,
        partitions: true,
        nemesis_every: Duration::from_millis(500),
        restarts: Vec::new(),
        duration: Duration::from_secs(5),
        quiesce: Duration::from_secs(5),
        think: Duration::from_millis(10),
        // n0 - n1 - n2 - n3 - n4
        setup: Some(|ids, _| {
            let line: serde_json::Map<String, serde_json::Value> = (0..ids.len())
                .map(|i| {
                    let mut near = Vec::new();
                    if i > 0 {
                        near.push(ids[i - 1].clone());
                    }
                    if i + 1 < ids.len() {
                        near.push(ids[i + 1].clone());
                    }
                    (ids[i].clone(), json!(near))
                })
                .collect();
            json!({"type": "topology", "topology": line})
        }),
        op: |rng| {
            if rng.u8(..10) < 7 {
                json!({"type": "broadcast", "message": rng.i64(0..1 << 40)})
            } else {
                json!({"type": "read"})
            }
        },
        final_op: Some(json!({"type": "read"})),
    }
}

/// Acknowledged values missing from some node's final read, as (node, how many); panics on
/// values read that nobody broadcast.
fn lost(history: &History) -> Vec<(usize, usize)> {
    let sent: BTreeSet<i64> = history
        .of("broadcast")
        .filter_map(|op| op.request["message"].as_i64())
        .collect();
    let acked: BTreeSet<i64> = history
        .of("broadcast")
        .filter(|op| op.ok().is_some())
        .filter_map(|op| op.request["message"].as_i64())
        .collect();
    assert!(
        acked.len() >= 30,
        "too few broadcasts: {}",
        history.summary()
    );
    let mut lost = Vec::new();
    let finals: Vec<_> = history.of("read").filter(|op| op.is_final).collect();
    assert_eq!(finals.len(), NODES, "{}", history.summary());
    for op in history.of("read") {
        let Some(reply) = op.ok() else { continue };
        let read: BTreeSet<i64> = reply["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|v| v.as_i64())
            .collect();
        assert!(
            read.is_subset(&sent),
            "read values nobody sent: {:?}",
            read.difference(&sent)
        );
        if op.is_final {
            lost.push((op.node, acked.difference(&read).count()));
        }
    }
    lost.retain(|(_, n)| *n > 0);
    lost
}

#[test]
fn every_acknowledged_value_reaches_every_node_through_partitions() {
    let history = cluster::run(&spec("broadcast", 2));
    eprintln!("{}", history.summary());
    assert!(history.invalid.is_empty(), "{:?}", history.invalid);
    assert!(
        history.dropped > 0,
        "no partition or loss happened: {}",
        history.summary()
    );
    let finals_ok = history
        .of("read")
        .filter(|op| op.is_final && op.ok().is_some())
        .count();
    assert_eq!(finals_ok, NODES, "{}", history.summary());
    assert_eq!(lost(&history), vec![], "{}", history.summary());
}

#[test]
fn gossip_without_retry_loses_values_in_partitions() {
    let history = cluster::run(&spec("wrong_broadcast_once", 2));
    eprintln!("lost: {:?}", lost(&history));
    assert!(
        !lost(&history).is_empty(),
        "the checker missed it: {}",
        history.summary()
    );
}
