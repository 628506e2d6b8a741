//! What makes a run fail, and the check of every reply a client receives.
//!
//! A reply is checked the way Maelstrom's schema checker and workload checker would: its body
//! holds only the workload's fields plus `type`, `msg_id` and `in_reply_to`; the values are
//! the ones asked for (echo equal, batch results equal and in order, a proxied or relayed echo
//! answered by an `echo_ok` of the same value). An `error` reply is classified by its code as
//! definite (the operation did not happen) or indefinite (it may have); neither fails the run,
//! as timeouts and errors are acceptable outcomes under faults. Wrong answers, schema
//! violations, protocol violations and nodes that exit early do fail it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::workload::{Expected, OpKind};

/// Error codes that tell the client the operation certainly did not happen (Maelstrom's
/// definite errors). Every other code, 0 (timeout) and 13 (crash) included, is indefinite.
pub const DEFINITE_CODES: [i64; 9] = [1, 10, 11, 12, 14, 20, 21, 22, 30];

/// Maelstrom's name for an error code, if it has one.
pub fn code_name(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "timeout",
        1 => "node-not-found",
        10 => "not-supported",
        11 => "temporarily-unavailable",
        12 => "malformed-request",
        13 => "crash",
        14 => "abort",
        20 => "key-does-not-exist",
        21 => "key-already-exists",
        22 => "precondition-failed",
        30 => "txn-conflict",
        _ => return None,
    })
}

/// The most attempts a correct `relay_ok` can report (DESIGN.md §3).
pub const RELAY_MAX_ATTEMPTS: i64 = 3;

/// How many failures are kept with their details; the rest are only counted.
pub const KEPT_FAILURES: usize = 100;

/// The kinds of failure, each named in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// A reply with the wrong value, order or type.
    WrongAnswer,
    /// A reply with an extra or missing field, or a field of the wrong JSON type.
    Schema,
    /// A message to an id that is neither a node nor a live client.
    UnknownDestination,
    /// A line that is not a valid message.
    InvalidMessage,
    /// A message whose `src` is not the id of the node that wrote it.
    WrongSource,
    /// A node that exited or closed its stdout before the end of the run.
    Crashed,
    /// A node that did not answer `init` with `init_ok` within the limit.
    Init,
}

impl FailureKind {
    /// A short human name.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::WrongAnswer => "wrong answer",
            FailureKind::Schema => "schema violation",
            FailureKind::UnknownDestination => "protocol violation: unknown destination",
            FailureKind::InvalidMessage => "protocol violation: invalid message",
            FailureKind::WrongSource => "protocol violation: wrong source",
            FailureKind::Crashed => "crash",
            FailureKind::Init => "init failed",
        }
    }
}

/// One reason the run failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The node at fault.
    pub node: String,
    /// A sentence naming the violation and the message involved.
    pub message: String,
}

/// Every failure of a run (the first [`KEPT_FAILURES`] in detail).
#[derive(Debug, Default)]
pub struct Failures {
    kept: Vec<Failure>,
    total: u64,
}

impl Failures {
    /// Records a failure.
    pub fn push(&mut self, kind: FailureKind, node: &str, message: String) {
        self.total += 1;
        if self.kept.len() < KEPT_FAILURES {
            self.kept.push(Failure {
                kind,
                node: node.to_string(),
                message,
            });
        }
    }

    /// The failures kept in detail, in the order they happened.
    pub fn kept(&self) -> &[Failure] {
        &self.kept
    }

    /// How many failures there were.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A correct successful reply.
    Ok,
    /// An error reply with a definite code.
    Failed(i64),
    /// An error reply with an indefinite code.
    Indeterminate(i64),
    /// A reply that fails the check.
    Wrong(FailureKind, String),
}

/// Checks the body of a reply to a `kind` request that expected `expected`.
pub fn check_reply(kind: OpKind, expected: &Expected, body: &Map<String, Value>) -> Outcome {
    match check(kind, expected, body) {
        Ok(outcome) => outcome,
        Err((failure, message)) => Outcome::Wrong(failure, message),
    }
}

type Check<T> = Result<T, (FailureKind, String)>;

fn check(kind: OpKind, expected: &Expected, body: &Map<String, Value>) -> Check<Outcome> {
    // The head (string `type`, integer ids) was validated with the message (wire.rs).
    let Some(ty) = body.get("type").and_then(Value::as_str) else {
        return Err(schema("the reply has no string `type`"));
    };
    if ty == "error" {
        only_fields(ty, body, &["code"], &["text"])?;
        let Some(code) = body.get("code").and_then(Value::as_i64) else {
            return Err(schema("error: `code` is not an integer"));
        };
        if body.get("text").is_some_and(|t| !t.is_string()) {
            return Err(schema("error: `text` is not a string"));
        }
        return Ok(if DEFINITE_CODES.contains(&code) {
            Outcome::Failed(code)
        } else {
            Outcome::Indeterminate(code)
        });
    }
    if ty != kind.reply_type() {
        return Err(wrong(format!(
            "answered {} with type {ty:?}, expected {} or error",
            kind.name(),
            kind.reply_type()
        )));
    }
    only_fields(ty, body, kind.reply_fields(), &[])?;
    let field = |name: &str| body.get(name).unwrap_or(&Value::Null);
    match expected {
        Expected::Echo(v) => check_echo(ty, field("echo"), v)?,
        Expected::Batch(values) => check_batch(field("results"), values)?,
        Expected::Forwarded(v) => {
            if kind == OpKind::Relay {
                check_attempts(field("attempts"))?;
            }
            check_forwarded(ty, field("result"), v)?;
        }
    }
    Ok(Outcome::Ok)
}

/// Requires every field of `required`, allows those of `optional`, and refuses any other
/// besides `type`, `msg_id` and `in_reply_to`.
fn only_fields(
    ty: &str,
    body: &Map<String, Value>,
    required: &[&str],
    optional: &[&str],
) -> Check<()> {
    if let Some(missing) = required.iter().find(|f| !body.contains_key(**f)) {
        return Err(schema(format!("{ty} has no field `{missing}`")));
    }
    let standard = ["type", "msg_id", "in_reply_to"];
    if let Some(extra) = body.keys().find(|k| {
        let k = k.as_str();
        !standard.contains(&k) && !required.contains(&k) && !optional.contains(&k)
    }) {
        return Err(schema(format!("{ty} has an extra field `{extra}`")));
    }
    Ok(())
}

fn check_echo(ty: &str, got: &Value, want: &Value) -> Check<()> {
    if got == want {
        return Ok(());
    }
    Err(wrong(format!(
        "{ty} echoes {}, expected {}",
        show(got),
        show(want)
    )))
}

fn check_batch(got: &Value, want: &[Value]) -> Check<()> {
    let Some(results) = got.as_array() else {
        return Err(schema("batch_echo_ok: `results` is not an array"));
    };
    if results.as_slice() == want {
        return Ok(());
    }
    let shown = format!(
        "expected {}, got {}",
        show(&Value::from(want.to_vec())),
        show(got)
    );
    if results.len() != want.len() {
        return Err(wrong(format!(
            "batch_echo_ok has {} results for {} values: {shown}",
            results.len(),
            want.len()
        )));
    }
    if same_multiset(results, want) {
        return Err(wrong(format!(
            "batch_echo_ok results are in the wrong order: {shown}"
        )));
    }
    Err(wrong(format!("batch_echo_ok results differ: {shown}")))
}

fn check_attempts(got: &Value) -> Check<()> {
    match got.as_i64() {
        Some(n) if (1..=RELAY_MAX_ATTEMPTS).contains(&n) => Ok(()),
        Some(n) => Err(wrong(format!(
            "relay_ok reports {n} attempts, expected 1 to {RELAY_MAX_ATTEMPTS}"
        ))),
        None => Err(schema("relay_ok: `attempts` is not an integer")),
    }
}

fn check_forwarded(ty: &str, result: &Value, want: &Value) -> Check<()> {
    let Some(result) = result.as_object() else {
        return Err(schema(format!("{ty}: `result` is not an object")));
    };
    match result.get("type").and_then(Value::as_str) {
        Some("echo_ok") => {}
        other => {
            return Err(wrong(format!(
                "{ty}: result has type {other:?}, expected \"echo_ok\""
            )))
        }
    }
    check_echo(&format!("{ty} result"), &result["echo"], want)
}

fn same_multiset(a: &[Value], b: &[Value]) -> bool {
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = b.iter().enumerate().position(|(i, y)| !used[i] && x == y);
        found.map(|i| used[i] = true).is_some()
    })
}

fn show(v: &Value) -> String {
    crate::wire::excerpt(v.to_string().as_bytes())
}

fn schema(message: impl Into<String>) -> (FailureKind, String) {
    (FailureKind::Schema, message.into())
}

fn wrong(message: impl Into<String>) -> (FailureKind, String) {
    (FailureKind::WrongAnswer, message.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(kind: OpKind, expected: &Expected, body: Value) -> Outcome {
        let Value::Object(map) = body else {
            panic!("not an object")
        };
        check_reply(kind, expected, &map)
    }

    fn wrong_kind(outcome: Outcome) -> (FailureKind, String) {
        match outcome {
            Outcome::Wrong(k, m) => (k, m),
            other => panic!("expected a wrong answer, got {other:?}"),
        }
    }

    #[test]
    fn correct_replies_pass() {
        let e = Expected::Echo(json!({"a": [1, "x"]}));
        let ok = json!({"type": "echo_ok", "in_reply_to": 1, "msg_id": 4, "echo": {"a": [1, "x"]}});
        assert_eq!(run(OpKind::Echo, &e, ok), Outcome::Ok);
        let b = Expected::Batch(vec![json!(1), json!("two")]);
        let ok = json!({"type": "batch_echo_ok", "in_reply_to": 1, "results": [1, "two"]});
        assert_eq!(run(OpKind::BatchEcho, &b, ok), Outcome::Ok);
        let f = Expected::Forwarded(json!(null));
        let result = json!({"type": "echo_ok", "echo": null, "msg_id": 0, "in_reply_to": 3});
        let ok = json!({"type": "relay_ok", "in_reply_to": 1, "attempts": 2, "result": result});
        assert_eq!(run(OpKind::Relay, &f, ok), Outcome::Ok);
        let ok = json!({"type": "proxy_ok", "in_reply_to": 1, "result": result});
        assert_eq!(run(OpKind::Proxy, &f, ok), Outcome::Ok);
    }

    #[test]
    fn errors_are_classified_by_code() {
        let e = Expected::Echo(json!(1));
        let err = |code| json!({"type": "error", "in_reply_to": 1, "code": code, "text": "t"});
        assert_eq!(run(OpKind::Echo, &e, err(0)), Outcome::Indeterminate(0));
        assert_eq!(run(OpKind::Echo, &e, err(13)), Outcome::Indeterminate(13));
        assert_eq!(run(OpKind::Echo, &e, err(11)), Outcome::Failed(11));
        assert_eq!(
            run(OpKind::Echo, &e, err(1000)),
            Outcome::Indeterminate(1000)
        );
        let extra = json!({"type": "error", "in_reply_to": 1, "code": 0, "why": "x"});
        let (kind, msg) = wrong_kind(run(OpKind::Echo, &e, extra));
        assert_eq!(kind, FailureKind::Schema);
        assert!(msg.contains("extra field `why`"), "{msg}");
    }

    #[test]
    fn batch_out_of_order_is_named() {
        let b = Expected::Batch(vec![json!(1), json!(2), json!(3)]);
        let reply = json!({"type": "batch_echo_ok", "in_reply_to": 1, "results": [2, 1, 3]});
        let (kind, msg) = wrong_kind(run(OpKind::BatchEcho, &b, reply));
        assert_eq!(kind, FailureKind::WrongAnswer);
        assert!(msg.contains("wrong order"), "{msg}");
        let short = json!({"type": "batch_echo_ok", "in_reply_to": 1, "results": [1, 2]});
        let (_, msg) = wrong_kind(run(OpKind::BatchEcho, &b, short));
        assert!(msg.contains("2 results for 3 values"), "{msg}");
        let differ = json!({"type": "batch_echo_ok", "in_reply_to": 1, "results": [1, 2, 4]});
        let (_, msg) = wrong_kind(run(OpKind::BatchEcho, &b, differ));
        assert!(msg.contains("differ"), "{msg}");
    }

    #[test]
    fn extra_and_missing_fields_are_schema_violations() {
        let e = Expected::Echo(json!(1));
        let extra = json!({"type": "echo_ok", "in_reply_to": 1, "echo": 1, "node": "n0"});
        let (kind, msg) = wrong_kind(run(OpKind::Echo, &e, extra));
        assert_eq!(kind, FailureKind::Schema);
        assert!(msg.contains("extra field `node`"), "{msg}");
        let missing = json!({"type": "echo_ok", "in_reply_to": 1});
        let (_, msg) = wrong_kind(run(OpKind::Echo, &e, missing));
        assert!(msg.contains("no field `echo`"), "{msg}");
    }

    #[test]
    fn wrong_values_and_types_are_wrong_answers() {
        let e = Expected::Echo(json!("a"));
        let bad = json!({"type": "echo_ok", "in_reply_to": 1, "echo": "b"});
        assert_eq!(
            wrong_kind(run(OpKind::Echo, &e, bad)).0,
            FailureKind::WrongAnswer
        );
        let other = json!({"type": "proxy_ok", "in_reply_to": 1, "result": {}});
        let (_, msg) = wrong_kind(run(OpKind::Echo, &e, other));
        assert!(
            msg.contains("answered echo with type \"proxy_ok\""),
            "{msg}"
        );
        let f = Expected::Forwarded(json!(5));
        let result = json!({"type": "echo_ok", "echo": 5});
        let many = json!({"type": "relay_ok", "in_reply_to": 1, "attempts": 4, "result": result});
        let (_, msg) = wrong_kind(run(OpKind::Relay, &f, many));
        assert!(msg.contains("4 attempts"), "{msg}");
        let err_result =
            json!({"type": "proxy_ok", "in_reply_to": 1, "result": {"type": "error", "code": 0}});
        assert_eq!(
            wrong_kind(run(OpKind::Proxy, &f, err_result)).0,
            FailureKind::WrongAnswer
        );
    }
}
