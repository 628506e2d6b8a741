//! `g-counter` and `pn-counter`: clients `add` a `delta` (g-counter: 0 to 4; pn-counter: -5
//! to 4, as Maelstrom draws them) and `read` the `value`. After the quiet period every final
//! read must be a sum Maelstrom accepts: the sum of the acknowledged deltas plus any subset
//! of the indeterminate ones (those that timed out or got an error: under Maelstrom's
//! client, every error of these workloads is indeterminate).
//!
//! The acceptable sums form a set of integer ranges, built as Maelstrom builds its
//! `TreeRangeSet`: start with the definite sum, and for each indeterminate delta add a copy
//! of every range shifted by it, merging ranges that touch.

use serde_json::Value;

use super::{body, Invocation, WorkloadKind};
use crate::harness::check::{Check, Valid};
use crate::harness::record::{Op, OpType};

/// The next request: `add` or `read`, each half of the time (Maelstrom's `gen/mix`).
pub(super) fn invoke(kind: WorkloadKind, rng: &mut fastrand::Rng) -> Invocation {
    if rng.bool() {
        return Invocation::new("read", Value::Null, body("read", []));
    }
    let delta = match kind {
        WorkloadKind::GCounter => rng.i64(0..5),
        _ => rng.i64(-5..5),
    };
    Invocation::new(
        "add",
        Value::from(delta),
        body("add", [("delta", Value::from(delta))]),
    )
}

/// Closed integer ranges, sorted, disjoint and not touching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet(Vec<(i64, i64)>);

impl RangeSet {
    /// The set holding `x` alone.
    pub fn single(x: i64) -> Self {
        RangeSet(vec![(x, x)])
    }

    /// Adds, to every range, a copy shifted by `delta` (the delta may or may not have
    /// happened).
    pub fn maybe_add(&mut self, delta: i64) {
        let shifted: Vec<(i64, i64)> = (self.0.iter())
            .map(|&(lo, hi)| (lo.saturating_add(delta), hi.saturating_add(delta)))
            .collect();
        self.0.extend(shifted);
        self.0.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(self.0.len());
        for (lo, hi) in self.0.drain(..) {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.0 = merged;
    }

    /// Whether `x` is in the set.
    pub fn contains(&self, x: i64) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= x && x <= hi)
    }

    /// The ranges, as `[lower, upper]` pairs.
    pub fn ranges(&self) -> &[(i64, i64)] {
        &self.0
    }
}

/// Every final `ok` read lies in the acceptable set of sums.
pub(super) fn check(history: &[Op]) -> Check {
    let adds = || history.iter().filter(|o| o.f == "add");
    let definite: i64 = (adds().filter(|o| o.kind == OpType::Ok))
        .filter_map(|o| o.value.as_i64())
        .sum();
    let mut acceptable = RangeSet::single(definite);
    for op in adds().filter(|o| o.kind == OpType::Info) {
        if let Some(delta) = op.value.as_i64() {
            acceptable.maybe_add(delta);
        }
    }
    let finals: Vec<&Op> = (history.iter())
        .filter(|o| o.final_read && o.f == "read" && o.kind == OpType::Ok)
        .collect();
    let errors: Vec<Value> = (finals.iter())
        .filter(|o| !o.value.as_i64().is_some_and(|v| acceptable.contains(v)))
        .map(|o| serde_json::json!({"node": o.node, "value": o.value, "index": o.index}))
        .collect();
    let final_reads: Vec<&Value> = finals.iter().map(|o| &o.value).collect();
    let ranges: Vec<[i64; 2]> = acceptable.ranges().iter().map(|&(a, b)| [a, b]).collect();
    Check::new(Valid::from_bool(errors.is_empty()))
        .with("errors", errors)
        .with("final_reads", final_reads)
        .with("acceptable", ranges)
}
