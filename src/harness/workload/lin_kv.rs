//! `lin-kv`: clients `read`, `write` and `cas` small integer values (0 to 4) on integer keys;
//! the history of each key must be linearizable ([`check::linear`](crate::harness::check::linear)).
//!
//! As Maelstrom's clients (`workload/lin_kv.clj`, Jepsen's linearizable-register test): half
//! the operations are reads, a third cas, a sixth writes; a client waits
//! `max(10 × mean latency, 1 s)`; a read that times out or gets any error is a `fail` (reads
//! are idempotent), a write or cas that times out is `info`. History values are `[key,
//! value]` (read: the value read; cas: `[from, to]`).
//!
//! Keys come in generations, as Jepsen's per-key limit does: the clients use `keys` keys at a
//! time, and move to `keys` fresh ones every [`OPS_PER_KEY`] × `keys` invocations. That
//! bounds each key's history, so the linearizability search stays small even when many
//! operations end indeterminate.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{body, Config, Invocation, SECOND};
use crate::harness::check::linear::{check_register, Entry, Linearizability, RegisterOp};
use crate::harness::check::{pairs, Check, Valid};
use crate::harness::record::{Op, OpType};

/// Keys in use at a time, by default.
pub const DEFAULT_KEYS: u64 = 5;

/// About how many operations each key gets before the clients move to fresh keys.
pub const OPS_PER_KEY: u64 = 100;

/// The most configurations the search visits per key before it answers "unknown".
pub const MAX_STATES: usize = 200_000;

/// How many non-linearizable keys are described in detail.
pub const KEPT_FAILURES: usize = 10;

/// The next request of the `n`-th invocation.
pub(super) fn invoke(config: &Config, rng: &mut fastrand::Rng, n: u64) -> Invocation {
    let keys = config.keys.max(1);
    let key = Value::from(n / (OPS_PER_KEY * keys) * keys + rng.u64(..keys));
    let mut inv = match rng.u32(..6) {
        0..=2 => Invocation::new("read", json!([key, null]), body("read", [("key", key)])),
        3 => {
            let v = Value::from(rng.u32(..5));
            let b = body("write", [("key", key.clone()), ("value", v.clone())]);
            Invocation::new("write", json!([key, v]), b)
        }
        _ => {
            let (from, to) = (Value::from(rng.u32(..5)), Value::from(rng.u32(..5)));
            let b = body(
                "cas",
                [
                    ("key", key.clone()),
                    ("from", from.clone()),
                    ("to", to.clone()),
                ],
            );
            Invocation::new("cas", json!([key, [from, to]]), b)
        }
    };
    inv.timeout = (config.latency_mean_ms * 10).max(1000) * (SECOND / 1000);
    inv
}

/// Each key's operations, as the search takes them.
fn per_key(history: &[Op]) -> BTreeMap<String, Vec<Entry>> {
    let mut keys: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for (inv, done) in pairs(history) {
        let kind = done.map(|d| d.kind);
        if !matches!(inv.f.as_str(), "read" | "write" | "cas") || kind == Some(OpType::Fail) {
            continue;
        }
        let ret = done.filter(|d| d.kind == OpType::Ok).map(|d| d.index);
        let arg = &inv.value[1];
        let op = match inv.f.as_str() {
            "read" => match done.filter(|d| d.kind == OpType::Ok) {
                Some(d) => RegisterOp::Read(d.value[1].clone()),
                None => continue,
            },
            "write" => RegisterOp::Write(arg.clone()),
            _ => RegisterOp::Cas(arg[0].clone(), arg[1].clone()),
        };
        let entry = Entry {
            op,
            call: inv.index,
            ret,
            id: inv.index,
        };
        keys.entry(inv.value[0].to_string())
            .or_default()
            .push(entry);
    }
    keys
}

/// Every key's history is linearizable; "unknown" if some key's search hit `max_states`.
pub(super) fn check(history: &[Op], max_states: usize) -> Check {
    let keys = per_key(history);
    let (mut failures, mut failed, mut unknown) = (Vec::new(), 0usize, Vec::new());
    for (key, entries) in &keys {
        match check_register(entries, max_states) {
            Linearizability::Linearizable => {}
            Linearizability::Unknown => unknown.push(key.clone()),
            Linearizability::NotLinearizable { linearized, stuck } => {
                failed += 1;
                if failures.len() < KEPT_FAILURES {
                    failures.push(json!({
                        "key": key,
                        "operations": entries.len(),
                        "linearized": linearized,
                        "stuck_at": stuck,
                    }));
                }
            }
        }
    }
    let valid = if failed > 0 {
        Valid::False
    } else if !unknown.is_empty() {
        Valid::Unknown
    } else {
        Valid::True
    };
    Check::new(valid)
        .with("key_count", keys.len())
        .with("nonlinearizable_count", failed)
        .with("failures", failures)
        .with("unknown_keys", unknown)
}
