//! The node as a library, with no I/O and a hand-driven clock: the RPC contract of
//! `batch_echo` (exactly one outcome per echo, retry with fresh msg_ids, nothing left pending).

use std::time::{Duration, Instant};

use mionode::{Config, Node};
use serde_json::{json, Value};

struct Harness {
    node: Node,
    now: Instant,
}

impl Harness {
    fn new(config: Config) -> Harness {
        let now = Instant::now();
        let mut h = Harness {
            node: Node::new(config, now),
            now,
        };
        let out = h.feed(&json!({"src":"c0","dest":"n1","body":
            {"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}));
        assert_eq!(out[0]["body"]["type"], "init_ok");
        h
    }

    fn feed(&mut self, msg: &Value) -> Vec<Value> {
        self.node.handle_line(msg.to_string().as_bytes(), self.now);
        self.take()
    }

    fn advance(&mut self, by: Duration) -> Vec<Value> {
        self.now += by;
        self.node.fire_timers(self.now);
        self.take()
    }

    fn take(&mut self) -> Vec<Value> {
        let bytes = self.node.outbox().take();
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    /// Answers an `echo` the node sent to itself.
    fn answer(&mut self, echo: &Value) -> Vec<Value> {
        self.feed(&json!({"src":"n1","dest":"n1","body":{
            "type":"echo_ok","echo":echo["body"]["echo"],
            "in_reply_to":echo["body"]["msg_id"]}}))
    }
}

fn config() -> Config {
    Config {
        rpc_timeout: Duration::from_millis(100),
        rpc_attempts: 3,
        ..Config::default()
    }
}

fn batch(values: Value) -> Value {
    json!({"src":"c1","dest":"n1","body":{"type":"batch_echo","msg_id":7,"values":values}})
}

#[test]
fn batch_answers_in_order_when_replies_arrive_reversed() {
    let mut h = Harness::new(config());
    let echoes = h.feed(&batch(json!(["a", 2, {"x": [null]}, "a"])));
    assert_eq!(echoes.len(), 4);
    let mut answers = Vec::new();
    for echo in echoes.iter().rev() {
        answers.extend(h.answer(echo));
    }
    assert_eq!(answers.len(), 1);
    assert_eq!(
        answers[0]["body"]["results"],
        json!(["a", 2, {"x": [null]}, "a"])
    );
    assert_eq!(answers[0]["body"]["in_reply_to"], 7);
    assert_eq!(answers[0]["dest"], "c1");
    assert_eq!(h.node.ctx.pending_rpcs(), 0);
}

#[test]
fn timed_out_echo_is_retried_with_a_fresh_msg_id_and_late_reply_is_stale() {
    let mut h = Harness::new(config());
    let first = h.feed(&batch(json!(["v"])));
    assert!(h.advance(Duration::from_millis(99)).is_empty(), "not early");
    let retry = h.advance(Duration::from_millis(1));
    assert_eq!(retry.len(), 1);
    assert_ne!(retry[0]["body"]["msg_id"], first[0]["body"]["msg_id"]);
    assert_eq!(retry[0]["body"]["echo"], "v");
    // The reply to the first attempt is late: dropped, counted, not delivered.
    assert!(h.answer(&first[0]).is_empty());
    assert_eq!(h.node.ctx.stats().stale_replies, 1);
    let done = h.answer(&retry[0]);
    assert_eq!(done[0]["body"]["results"], json!(["v"]));
    assert_eq!(h.node.ctx.stats().retries, 1);
}

#[test]
fn batch_fails_with_error_0_after_last_attempt_and_leaves_nothing_pending() {
    let mut h = Harness::new(config());
    let sent = h.feed(&batch(json!([1, 2, 3])));
    // Value 2 comes back; 1 and 3 never do.
    assert!(h.answer(&sent[1]).is_empty());
    let mut out = Vec::new();
    for _ in 0..3 {
        out.extend(h.advance(Duration::from_millis(100)));
    }
    let echoes = out.iter().filter(|m| m["body"]["type"] == "echo").count();
    assert_eq!(echoes, 2 * 2, "two retries of two values");
    let errors: Vec<_> = out
        .iter()
        .filter(|m| m["body"]["type"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{out:#?}");
    assert_eq!(errors[0]["body"]["code"], 0);
    assert_eq!(errors[0]["body"]["in_reply_to"], 7);
    assert_eq!(h.node.ctx.pending_rpcs(), 0);
    assert!(h.node.next_deadline().is_none(), "no timer left behind");
    assert!(h.advance(Duration::from_secs(5)).is_empty());
}

#[test]
fn duplicate_reply_is_counted_and_dropped() {
    let mut h = Harness::new(config());
    let sent = h.feed(&batch(json!(["x", "y"])));
    assert!(h.answer(&sent[0]).is_empty());
    assert!(h.answer(&sent[0]).is_empty(), "duplicate");
    let done = h.answer(&sent[1]);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["body"]["results"], json!(["x", "y"]));
    assert_eq!(h.node.ctx.stats().stale_replies, 1);
}

#[test]
fn error_reply_to_an_echo_fails_the_batch_with_its_code() {
    let mut h = Harness::new(config());
    let sent = h.feed(&batch(json!(["x", "y"])));
    let out = h.feed(
        &json!({"src":"n1","dest":"n1","body":{"type":"error","code":14,
        "text":"nope","in_reply_to":sent[0]["body"]["msg_id"]}}),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["body"]["code"], 14);
    assert_eq!(h.node.ctx.pending_rpcs(), 0, "the other echo is cancelled");
    assert!(h.answer(&sent[1]).is_empty());
}

#[test]
fn interleaved_batches_stay_independent() {
    let mut h = Harness::new(config());
    let mut all = Vec::new();
    for client in 0..10 {
        let values: Vec<Value> = (0..5).map(|i| json!(format!("c{client}-{i}"))).collect();
        all.extend(h.feed(&json!({"src":format!("c{client}"),"dest":"n1",
            "body":{"type":"batch_echo","msg_id":client,"values":values}})));
    }
    // Answer in a scrambled but deterministic order.
    all.sort_by_key(|m| (m["body"]["msg_id"].as_u64().unwrap() * 7919) % 101);
    let mut answers = Vec::new();
    for echo in &all {
        answers.extend(h.answer(echo));
    }
    assert_eq!(answers.len(), 10);
    for a in answers {
        let client = a["dest"].as_str().unwrap();
        let expected: Vec<Value> = (0..5).map(|i| json!(format!("{client}-{i}"))).collect();
        assert_eq!(a["body"]["results"], json!(expected));
    }
}

/// `--rpc-timeout-ms` takes any u64: the largest wrapped around to a deadline in the past and
/// timed out at once, and `Duration::MAX` from a library caller overflowed `Instant`.
#[test]
fn huge_rpc_timeout_does_not_wrap_into_an_early_deadline() {
    for timeout in [Duration::from_millis(u64::MAX), Duration::MAX] {
        let mut h = Harness::new(Config {
            rpc_timeout: timeout,
            ..config()
        });
        h.advance(Duration::from_millis(5));
        let sent = h.feed(&batch(json!(["v"])));
        assert!(
            h.advance(Duration::from_secs(3600)).is_empty(),
            "timed out early"
        );
        assert_eq!(h.answer(&sent[0])[0]["body"]["results"], json!(["v"]));
    }
}
