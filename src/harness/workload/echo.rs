//! `echo` as Maelstrom runs it, and the RPC chapter's `batch_echo`, `proxy` and `relay`.
//!
//! Maelstrom's echo checker pairs each invocation with its completion and requires the
//! echoed value to equal the one sent; a `fail` (a definite error) carries no echo, so it is
//! a wrong answer, while an `info` (timeout, indefinite error) is skipped. The RPC chapter's
//! checker (mionode's own, DESIGN.md §3) compares what a correct node answers: a batch's
//! results equal and in order, a proxied or relayed echo answered by the target's `echo_ok`
//! of the same value, a relay in 1 to [`RELAY_MAX_ATTEMPTS`] attempts. Their definite errors
//! are legitimate answers (relay's error 0 after three attempts is the specified one); an
//! `echo` in `mixed` follows echo's rule.

use serde_json::{json, Value};

use super::values::random_value;
use super::{body, Config, Invocation, WorkloadKind};
use crate::harness::check::{pairs, Check, Valid};
use crate::harness::record::{Op, OpType};

/// The most attempts a correct `relay_ok` can report (DESIGN.md §3).
pub const RELAY_MAX_ATTEMPTS: i64 = 3;

/// How many wrong answers a checker lists in detail; the rest are only counted.
pub const KEPT_ERRORS: usize = 100;

/// Maelstrom's echo request: `"Please echo <n>"`, n in 0..128.
pub(super) fn echo(rng: &mut fastrand::Rng) -> Invocation {
    let v = Value::from(format!("Please echo {}", rng.u32(..128)));
    Invocation::new("echo", v.clone(), body("echo", [("echo", v)]))
}

/// A request of the RPC chapter: an echo of any JSON value, a batch, a proxy or a relay to a
/// node other than `node`.
pub(super) fn chapter(
    config: &Config,
    kind: WorkloadKind,
    rng: &mut fastrand::Rng,
    node: usize,
) -> Invocation {
    match kind {
        WorkloadKind::BatchEcho => {
            let values: Vec<Value> = (0..config.batch_size)
                .map(|_| random_value(rng, 0))
                .collect();
            let v = Value::from(values);
            Invocation::new("batch_echo", v.clone(), body("batch_echo", [("values", v)]))
        }
        WorkloadKind::Proxy | WorkloadKind::Relay => {
            let target =
                Value::from(config.node_ids[other_node(rng, node, config.node_ids.len())].clone());
            let v = random_value(rng, 0);
            let inner = json!({"type": "echo", "echo": v});
            let value = json!({"target": target, "echo": v});
            if kind == WorkloadKind::Proxy {
                Invocation::new(
                    "proxy",
                    value,
                    body("proxy", [("target", target), ("inner", inner)]),
                )
            } else {
                Invocation::new(
                    "relay",
                    value,
                    body("relay", [("target", target), ("payload", inner)]),
                )
            }
        }
        _ => {
            let v = random_value(rng, 0);
            Invocation::new("echo", v.clone(), body("echo", [("echo", v)]))
        }
    }
}

/// A node other than `node` (or `node` itself in a one-node cluster).
fn other_node(rng: &mut fastrand::Rng, node: usize, n: usize) -> usize {
    if n < 2 {
        return node;
    }
    (node + 1 + rng.usize(..n - 1)) % n
}

/// The checker of `echo`, `batch_echo`, `proxy`, `relay` and `mixed`.
pub(super) fn check_chapter(history: &[Op]) -> Check {
    let mut errors: Vec<String> = Vec::new();
    let mut count = 0usize;
    for (inv, done) in pairs(history) {
        let Some(done) = done else { continue };
        if let Some(p) = wrong_answer(inv, done) {
            count += 1;
            if errors.len() < KEPT_ERRORS {
                errors.push(p);
            }
        }
    }
    Check::new(Valid::from_bool(count == 0))
        .with("error_count", count)
        .with("errors", errors)
}

/// Why the completion `done` of `inv` is a wrong answer, if it is one: an `ok` with the
/// wrong value, or a `fail` of an echo.
pub(super) fn wrong_answer(inv: &Op, done: &Op) -> Option<String> {
    match done.kind {
        OpType::Ok => check_ok(inv, done),
        OpType::Fail if inv.f == "echo" => Some(format!(
            "{} (process {}) expected a message with echo {}, but received error {}",
            inv.index,
            inv.process,
            inv.value,
            (done.error.as_ref()).map_or("?".into(), |e| format!("{} {:?}", e.code, e.text)),
        )),
        _ => None,
    }
}

fn check_ok(inv: &Op, done: &Op) -> Option<String> {
    let at = format!("{} (process {}, {})", inv.index, inv.process, inv.f);
    let got = &done.value;
    match inv.f.as_str() {
        "echo" if got != &inv.value => {
            Some(format!("{at}: expected echo {}, got {got}", inv.value))
        }
        "batch_echo" => check_batch(got, &inv.value).map(|m| format!("{at}: {m}")),
        "proxy" => check_forwarded(got, &inv.value["echo"]).map(|m| format!("{at}: {m}")),
        "relay" => {
            let attempts = got.get("attempts").and_then(Value::as_i64);
            match attempts {
                Some(n) if (1..=RELAY_MAX_ATTEMPTS).contains(&n) => {
                    let result = got.get("result").unwrap_or(&Value::Null);
                    check_forwarded(result, &inv.value["echo"]).map(|m| format!("{at}: {m}"))
                }
                _ => Some(format!(
                    "{at}: relay_ok reports attempts {}, expected 1 to {RELAY_MAX_ATTEMPTS}",
                    got.get("attempts").unwrap_or(&Value::Null)
                )),
            }
        }
        _ => None,
    }
}

fn check_batch(got: &Value, want: &Value) -> Option<String> {
    if got == want {
        return None;
    }
    let (Some(got), Some(want)) = (got.as_array(), want.as_array()) else {
        return Some(format!("results {got} are not the values {want}"));
    };
    let shown = format!(
        "expected {}, got {}",
        Value::from(want.clone()),
        Value::from(got.clone())
    );
    if got.len() != want.len() {
        return Some(format!(
            "{} results for {} values: {shown}",
            got.len(),
            want.len()
        ));
    }
    if same_multiset(got, want) {
        return Some(format!("results in the wrong order: {shown}"));
    }
    Some(format!("results differ: {shown}"))
}

fn check_forwarded(result: &Value, want: &Value) -> Option<String> {
    match result.get("type").and_then(Value::as_str) {
        Some("echo_ok") if result.get("echo") == Some(want) => None,
        Some("echo_ok") => Some(format!(
            "result echoes {}, expected {want}",
            result.get("echo").unwrap_or(&Value::Null)
        )),
        other => Some(format!(
            "result has type {other:?}, expected \"echo_ok\": {result}"
        )),
    }
}

fn same_multiset(a: &[Value], b: &[Value]) -> bool {
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = (b.iter().enumerate()).position(|(i, y)| !used[i] && x == y);
        found.map(|i| used[i] = true).is_some()
    })
}
