//! batch_echo through a real process, with the node's messages to itself carried back to its
//! stdin by a loopback network in the test: reordered, dropped or duplicated on purpose.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{request, NodeProc};

/// What the loopback does with one message the node sent to itself.
#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Deliver,
    Drop,
    Duplicate,
}

/// Carries the node's self-addressed messages back, held and released in reverse order in
/// groups of `reorder` (1 = in order), until `want` client-bound messages have arrived.
fn loopback(
    node: &mut NodeProc,
    want: usize,
    reorder: usize,
    mut fate: impl FnMut(&Value) -> Fate,
) -> Vec<Value> {
    let mut to_clients = Vec::new();
    let mut held: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while to_clients.len() < want {
        assert!(Instant::now() < deadline, "loopback stalled");
        let next = node.try_recv(Duration::from_millis(20));
        match next {
            Some(msg) if msg["dest"] == msg["src"] => {
                match fate(&msg) {
                    Fate::Deliver => held.push(msg),
                    Fate::Drop => {}
                    Fate::Duplicate => {
                        held.push(msg.clone());
                        held.push(msg);
                    }
                }
                if held.len() >= reorder {
                    release(node, &mut held);
                }
            }
            Some(msg) => to_clients.push(msg),
            None => release(node, &mut held),
        }
    }
    to_clients
}

fn release(node: &mut NodeProc, held: &mut Vec<Value>) {
    let mut bytes = Vec::new();
    for msg in held.drain(..).rev() {
        bytes.extend_from_slice(msg.to_string().as_bytes());
        bytes.push(b'\n');
    }
    if !bytes.is_empty() {
        node.send_raw(&bytes);
    }
}

fn batch(client: &str, msg_id: u64, values: &Value) -> Value {
    request(
        client,
        "n1",
        json!({"type":"batch_echo","msg_id":msg_id,"values":values}),
    )
}

fn check_ok(reply: &Value, values: &Value) {
    assert_eq!(reply["body"]["type"], "batch_echo_ok", "{reply}");
    assert_eq!(&reply["body"]["results"], values);
}

#[test]
fn batches_of_zero_one_and_three_values_answer_in_order() {
    let mut node = NodeProc::init("n1", &["n1"], &[]);
    let cases = [
        json!([]),
        json!(["only"]),
        json!([{"nested": [1, {"deep": null}]}, 3.5, "dup", "dup"]),
    ];
    for (i, values) in cases.iter().enumerate() {
        node.send(&batch("c1", i as u64 + 10, values));
        let replies = loopback(&mut node, 1, 3, |_| Fate::Deliver);
        check_ok(&replies[0], values);
        assert_eq!(replies[0]["body"]["in_reply_to"], i as u64 + 10);
    }
}

#[test]
fn batch_of_100000_values_comes_back_in_order_despite_reversed_delivery() {
    // The test's own loopback (JSON in a debug build) is the slow part: give it time.
    let mut node = NodeProc::init(
        "n1",
        &["n1"],
        &["--rpc-timeout-ms", "60000", "--op-deadline-ms", "60000"],
    );
    let values = json!((0..100_000)
        .map(|i| json!(i * 7 % 1000))
        .collect::<Vec<_>>());
    node.send(&batch("c1", 2, &values));
    let replies = loopback(&mut node, 1, 10_000, |_| Fate::Deliver);
    check_ok(&replies[0], &values);
}

#[test]
fn many_concurrent_batches_from_many_clients_stay_independent() {
    let mut node = NodeProc::init("n1", &["n1"], &[]);
    let mut expected = std::collections::HashMap::new();
    for c in 0..40 {
        let client = format!("c{}", c + 1);
        let values = json!((0..25)
            .map(|i| json!(format!("{client}:{i}")))
            .collect::<Vec<_>>());
        node.send(&batch(&client, 100 + c, &values));
        expected.insert(client, values);
    }
    let replies = loopback(&mut node, 40, 97, |_| Fate::Deliver);
    for reply in replies {
        let client = reply["dest"].as_str().unwrap();
        check_ok(&reply, &expected[client]);
    }
}

#[test]
fn dropped_echoes_recover_by_retry() {
    let mut node = NodeProc::init("n1", &["n1"], &["--rpc-timeout-ms", "150"]);
    let values = json!((0..60).collect::<Vec<_>>());
    node.send(&batch("c1", 5, &values));
    let mut seen = std::collections::HashSet::new();
    // Drop the first attempt of every third value's echo.
    let replies = loopback(&mut node, 1, 1, |msg| {
        let body = &msg["body"];
        if body["type"] == "echo" {
            let v = body["echo"].as_u64().unwrap();
            if v % 3 == 0 && seen.insert(v) {
                return Fate::Drop;
            }
        }
        Fate::Deliver
    });
    check_ok(&replies[0], &values);
}

#[test]
fn all_echoes_dropped_gives_error_0_after_every_attempt() {
    let mut node = NodeProc::init(
        "n1",
        &["n1"],
        &["--rpc-timeout-ms", "100", "--rpc-attempts", "3"],
    );
    node.send(&batch("c1", 9, &json!(["a", "b"])));
    let mut msg_ids = std::collections::HashSet::new();
    let replies = loopback(&mut node, 1, 1, |msg| {
        assert!(msg_ids.insert(msg["body"]["msg_id"].as_u64().unwrap()));
        Fate::Drop
    });
    let body = &replies[0]["body"];
    assert_eq!(body["type"], "error");
    assert_eq!(body["code"], 0);
    assert_eq!(body["in_reply_to"], 9);
    assert!(
        (5..=6).contains(&msg_ids.len()),
        "3 attempts of the failing value, up to 3 of the other: {}",
        msg_ids.len()
    );
    // Nothing else follows: no timer and no RPC was left behind to fire later.
    assert!(node.try_recv(Duration::from_millis(400)).is_none());
}

#[test]
fn duplicated_requests_and_replies_yield_one_answer() {
    let mut node = NodeProc::init("n1", &["n1"], &[]);
    let values = json!(["x", "y", "z"]);
    node.send(&batch("c1", 3, &values));
    let replies = loopback(&mut node, 1, 4, |_| Fate::Duplicate);
    check_ok(&replies[0], &values);
    assert!(
        node.try_recv(Duration::from_millis(300))
            .is_none_or(|m| m["dest"] == "n1"),
        "no second answer to the client"
    );
}
