//! Verdicts as Maelstrom gives them: one named sub-result per check, each with its own
//! validity, combined the way Jepsen combines `:valid?`.
//!
//! Maelstrom composes, for every test, the workload's checker with Jepsen's `stats` and its own
//! `availability` (and `perf`, `timeline`, `exceptions`, `net`, which never decide validity
//! except `exceptions`, always true). [`Results`] is that composition: it serialises like the
//! sub-maps of `results.edn`,
//!
//! ```json
//! {"valid": false,
//!  "workload": {"valid": false, "errors": [..]},
//!  "stats": {"valid": true, "count": 12, "ok_count": 12, ..., "by_f": {"echo": {..}}},
//!  "availability": {"valid": true, "ok_fraction": 1.0},
//!  "exceptions": {"valid": true}}
//! ```
//!
//! Validity has three values ([`Valid`]): `false` dominates `"unknown"`, which dominates
//! `true` (Jepsen's `merge-valid`).
//!
//! - [`stats`]: Jepsen's stats check: every operation kind `f` needs at least one `ok`;
//!   counts per `f` and overall.
//! - [`availability`]: the fraction of invocations that ended `ok`; valid unless a target
//!   is given and missed (Maelstrom's `--availability`).
//! - [`exceptions`]: replies that broke the workload's schema, which Jepsen records as `info`
//!   with an exception; reported, never invalid (as in Jepsen).
//! - [`linear`]: the linearizability search used by the lin-kv checker.

pub mod linear;

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::harness::record::{Op, OpType};

/// Whether a check passed: Jepsen's `true`, `false` or `:unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Valid {
    /// The check passed.
    True,
    /// The check found a violation.
    False,
    /// The check could not decide (no data, or a search past its bound).
    Unknown,
}

impl Valid {
    /// Jepsen's priority: `false` > `unknown` > `true`.
    fn priority(self) -> u8 {
        match self {
            Valid::True => 0,
            Valid::Unknown => 1,
            Valid::False => 2,
        }
    }

    /// The combination of `self` and `other`: the one of higher priority.
    pub fn and(self, other: Valid) -> Valid {
        if other.priority() > self.priority() {
            other
        } else {
            self
        }
    }

    /// Combines any number of validities; `true` when there are none.
    pub fn all(valids: impl IntoIterator<Item = Valid>) -> Valid {
        valids.into_iter().fold(Valid::True, Valid::and)
    }

    /// `True` for `true`, `False` for `false`.
    pub fn from_bool(ok: bool) -> Valid {
        if ok {
            Valid::True
        } else {
            Valid::False
        }
    }

    /// True only for [`Valid::True`].
    pub fn is_true(self) -> bool {
        self == Valid::True
    }
}

impl Serialize for Valid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Valid::True => s.serialize_bool(true),
            Valid::False => s.serialize_bool(false),
            Valid::Unknown => s.serialize_str("unknown"),
        }
    }
}

/// One named check's result: its validity and whatever it reports beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Its verdict.
    pub valid: Valid,
    /// What it reports (counts, errors, latencies), as JSON fields beside `valid`.
    pub details: Map<String, Value>,
}

impl Check {
    /// A result with no details.
    pub fn new(valid: Valid) -> Self {
        Check {
            valid,
            details: Map::new(),
        }
    }

    /// Adds the field `name` (anything serialisable) to the details.
    pub fn with(mut self, name: &str, value: impl Serialize) -> Self {
        self.set(name, value);
        self
    }

    /// Sets the field `name` of the details.
    pub fn set(&mut self, name: &str, value: impl Serialize) {
        // Serialising plain data into a Value cannot fail (string keys, no I/O).
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.details.insert(name.to_string(), value);
    }
}

impl Serialize for Check {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.details.len() + 1))?;
        map.serialize_entry("valid", &self.valid)?;
        for (k, v) in &self.details {
            if k != "valid" {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// Every check of a run and the combined verdict.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    /// The checks by name (`workload`, `stats`, `availability`, `exceptions`, ...).
    pub checks: BTreeMap<String, Check>,
}

impl Results {
    /// No checks yet (valid).
    pub fn new() -> Self {
        Results::default()
    }

    /// Adds (or replaces) the check `name`.
    pub fn insert(&mut self, name: &str, check: Check) {
        self.checks.insert(name.to_string(), check);
    }

    /// The combined verdict of every check.
    pub fn valid(&self) -> Valid {
        Valid::all(self.checks.values().map(|c| c.valid))
    }

    /// The checks whose verdict is not `true`, by name, worst first.
    pub fn failing(&self) -> Vec<(&str, Valid)> {
        let mut bad: Vec<_> = (self.checks.iter())
            .filter(|(_, c)| !c.valid.is_true())
            .map(|(n, c)| (n.as_str(), c.valid))
            .collect();
        bad.sort_by_key(|&(_, v)| std::cmp::Reverse(v.priority()));
        bad
    }
}

impl Serialize for Results {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.checks.len() + 1))?;
        map.serialize_entry("valid", &self.valid())?;
        for (name, check) in &self.checks {
            map.serialize_entry(name, check)?;
        }
        map.end()
    }
}

/// Counts of completions of one operation kind (Jepsen's stats fold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Completions of every type.
    pub count: u64,
    /// `ok` completions.
    pub ok_count: u64,
    /// `fail` completions.
    pub fail_count: u64,
    /// `info` completions.
    pub info_count: u64,
}

impl Counts {
    fn add(&mut self, kind: OpType) {
        match kind {
            OpType::Invoke => return,
            OpType::Ok => self.ok_count += 1,
            OpType::Fail => self.fail_count += 1,
            OpType::Info => self.info_count += 1,
        }
        self.count += 1;
    }
}

/// Jepsen's stats check: counts per `f` and overall; invalid when some `f` that was
/// invoked has no `ok` completion. An `f` that was never invoked is not listed.
pub fn stats(history: &[Op]) -> Check {
    let mut all = Counts::default();
    let mut by_f: BTreeMap<&str, Counts> = BTreeMap::new();
    for op in history {
        let entry = by_f.entry(op.f.as_str()).or_default();
        entry.add(op.kind);
        all.add(op.kind);
    }
    let by_f_valid = (by_f.values()).map(|c| Valid::from_bool(c.ok_count > 0));
    let without_ok: Vec<&str> = (by_f.iter())
        .filter(|(_, c)| c.ok_count == 0)
        .map(|(f, _)| *f)
        .collect();
    let mut check = Check::new(Valid::all(by_f_valid))
        .with("count", all.count)
        .with("ok_count", all.ok_count)
        .with("fail_count", all.fail_count)
        .with("info_count", all.info_count)
        .with("by_f", &by_f);
    if !without_ok.is_empty() {
        check.set("without_ok", without_ok);
    }
    check
}

/// Maelstrom's availability check: the fraction of invocations that ended `ok` (1 when
/// there were none). Valid unless `target` is given and the fraction is below it.
pub fn availability(history: &[Op], target: Option<f64>) -> Check {
    let invokes = history.iter().filter(|o| o.kind == OpType::Invoke).count();
    let oks = history.iter().filter(|o| o.kind == OpType::Ok).count();
    let fraction = if invokes == 0 {
        1.0
    } else {
        oks as f64 / invokes as f64
    };
    let valid = target.is_none_or(|t| fraction >= t);
    Check::new(Valid::from_bool(valid)).with("ok_fraction", fraction)
}

/// How many exceptions (schema-breaking replies) are listed in detail.
pub const KEPT_EXCEPTIONS: usize = 20;

/// Jepsen's unhandled-exceptions check: the completions that carry an exception (a reply
/// that broke the workload's schema), counted by text; always valid, as in Jepsen.
pub fn exceptions(history: &[Op]) -> Check {
    let mut by_text: BTreeMap<&str, u64> = BTreeMap::new();
    for op in history {
        if let Some(e) = &op.exception {
            *by_text.entry(e.as_str()).or_default() += 1;
        }
    }
    let mut check = Check::new(Valid::True);
    if !by_text.is_empty() {
        let mut list: Vec<_> = by_text.into_iter().collect();
        list.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        list.truncate(KEPT_EXCEPTIONS);
        let list: Vec<Value> = (list.into_iter())
            .map(|(text, n)| serde_json::json!({"count": n, "example": text}))
            .collect();
        check.set("exceptions", list);
    }
    check
}

/// The pairs of a history: each invocation with its completion (`None` when it never
/// completed), in invocation order. A completion pairs with the open invocation of its
/// `process`, as in Jepsen (one operation at a time per process).
pub fn pairs(history: &[Op]) -> Vec<(&Op, Option<&Op>)> {
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out: Vec<(&Op, Option<&Op>)> = Vec::new();
    for op in history {
        if op.kind == OpType::Invoke {
            open.insert(op.process.as_str(), out.len());
            out.push((op, None));
        } else if let Some(i) = open.remove(op.process.as_str()) {
            out[i].1 = Some(op);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// An operation for tests; `index` and `time` are set by [`history`].
    pub fn op(kind: OpType, process: &str, f: &str, value: Value) -> Op {
        Op {
            index: 0,
            time: 0,
            kind,
            process: process.into(),
            node: "n0".into(),
            f: f.into(),
            value,
            error: None,
            exception: None,
            final_read: false,
        }
    }

    /// Numbers the operations and spaces them 1 ms apart.
    pub fn history(mut ops: Vec<Op>) -> Vec<Op> {
        for (i, op) in ops.iter_mut().enumerate() {
            op.index = i as u64;
            op.time = i as u64 * 1_000_000;
        }
        ops
    }

    #[test]
    fn valid_merges_as_jepsen_does() {
        use Valid::*;
        assert_eq!(Valid::all([]), True);
        assert_eq!(True.and(Unknown), Unknown);
        assert_eq!(Unknown.and(False), False);
        assert_eq!(False.and(Unknown), False);
        assert_eq!(serde_json::to_value(Unknown).unwrap(), json!("unknown"));
    }

    #[test]
    fn an_f_without_ok_fails_stats() {
        let h = history(vec![
            op(OpType::Invoke, "c1", "echo", json!("a")),
            op(OpType::Ok, "c1", "echo", json!("a")),
            op(OpType::Invoke, "c1", "read", Value::Null),
            op(OpType::Info, "c1", "read", Value::Null),
            op(OpType::Invoke, "c2", "read", Value::Null),
            op(OpType::Fail, "c2", "read", Value::Null),
        ]);
        let s = stats(&h);
        assert_eq!(s.valid, Valid::False);
        assert_eq!(s.details["without_ok"], json!(["read"]));
        assert_eq!(s.details["count"], json!(3));
        let read = &s.details["by_f"]["read"];
        assert_eq!(read["info_count"], json!(1));
        assert_eq!(read["fail_count"], json!(1));
        assert_eq!(stats(&h[..2]).valid, Valid::True);
    }

    #[test]
    fn availability_is_the_ok_fraction() {
        let h = history(vec![
            op(OpType::Invoke, "c1", "echo", json!(1)),
            op(OpType::Ok, "c1", "echo", json!(1)),
            op(OpType::Invoke, "c1", "echo", json!(2)),
            op(OpType::Info, "c1", "echo", Value::Null),
        ]);
        let a = availability(&h, None);
        assert_eq!(
            (a.valid, &a.details["ok_fraction"]),
            (Valid::True, &json!(0.5))
        );
        assert_eq!(availability(&h, Some(0.9)).valid, Valid::False);
        assert_eq!(availability(&[], Some(1.0)).valid, Valid::True);
    }

    #[test]
    fn results_serialise_like_results_edn() {
        let mut r = Results::new();
        r.insert(
            "workload",
            Check::new(Valid::True).with("errors", json!([])),
        );
        r.insert("stats", Check::new(Valid::False));
        r.insert("net", Check::new(Valid::Unknown));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["valid"], json!(false));
        assert_eq!(v["workload"], json!({"valid": true, "errors": []}));
        assert_eq!(v["net"]["valid"], json!("unknown"));
        assert_eq!(
            r.failing(),
            vec![("stats", Valid::False), ("net", Valid::Unknown)]
        );
    }

    #[test]
    fn pairs_match_completions_to_their_process() {
        let h = history(vec![
            op(OpType::Invoke, "c1", "echo", json!(1)),
            op(OpType::Invoke, "c2", "echo", json!(2)),
            op(OpType::Ok, "c2", "echo", json!(2)),
            op(OpType::Invoke, "c2", "echo", json!(3)),
        ]);
        let p = pairs(&h);
        assert_eq!(p.len(), 3);
        assert!(p[0].1.is_none());
        assert_eq!(p[1].1.map(|o| o.index), Some(2));
        assert!(p[2].1.is_none());
    }
}
