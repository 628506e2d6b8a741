//! `unique-ids`: clients ask any node to `generate` an id; every acknowledged id must be
//! distinct (Jepsen's `unique-ids` checker). Ids may be any JSON value; two ids are the same
//! when their JSON is (so `1` and `1.0` differ, as they do for Clojure's `=`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{body, Invocation};
use crate::harness::check::{Check, Valid};
use crate::harness::record::{Op, OpType};

/// How many duplicated ids the result lists (Jepsen lists 48).
pub const KEPT_DUPLICATES: usize = 48;

/// The `generate` request.
pub(super) fn generate() -> Invocation {
    Invocation::new("generate", Value::Null, body("generate", []))
}

/// Every `ok` generate's id is distinct.
pub(super) fn check(history: &[Op]) -> Check {
    let generates = || history.iter().filter(|o| o.f == "generate");
    let attempted = generates().filter(|o| o.kind == OpType::Invoke).count();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut acknowledged = 0u64;
    for op in generates().filter(|o| o.kind == OpType::Ok) {
        acknowledged += 1;
        *counts.entry(op.value.to_string()).or_default() += 1;
    }
    let mut dups: Vec<(String, u64)> = counts.into_iter().filter(|&(_, n)| n > 1).collect();
    let duplicated_count = dups.len();
    dups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    dups.truncate(KEPT_DUPLICATES);
    let duplicated: serde_json::Map<String, Value> = dups
        .into_iter()
        .map(|(id, n)| (id, Value::from(n)))
        .collect();
    Check::new(Valid::from_bool(duplicated_count == 0))
        .with("attempted_count", attempted)
        .with("acknowledged_count", acknowledged)
        .with("duplicated_count", duplicated_count)
        .with("duplicated", duplicated)
}
