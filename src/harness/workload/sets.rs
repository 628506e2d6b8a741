//! `broadcast` and `g-set`: clients add elements (the integers 0, 1, 2, ... in order across
//! all clients: broadcast's `message`, g-set's `element`) and read the whole set (broadcast's
//! `messages`, g-set's `value`); the run ends with a final read of every node.
//!
//! The checker is Jepsen's `set-full`, as Maelstrom uses it for both. For each element it
//! follows the reads by invocation order:
//!
//! - *known*: when the add was acknowledged, or a read first saw it, whichever came first;
//! - *stable*: some read saw it, and no read invoked after that one missed it;
//! - *lost*: known, and the last read that missed it was invoked after the last read that saw
//!   it and after it was known;
//! - *never read*: neither (no read began after it was known).
//!
//! The run is invalid when any element is lost, "unknown" when none is stable (nothing was
//! added, or nothing read), valid otherwise. Stable latencies (from known to the invocation of
//! the last read that missed it, in ms, at least 0) are reported at quantiles 0, 0.5, 0.95, 0.99 and 1, as
//! Jepsen does; so are the lost latencies. Elements read that were never added are ignored,
//! and duplicates within a read are not counted (Jepsen means to, but its test never fires).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{body, Invocation, WorkloadKind};
use crate::harness::check::{Check, Valid};
use crate::harness::record::{Nanos, Op, OpType};

/// The next request: an add of the next element or a read, each half of the time
/// (Maelstrom's `gen/mix`).
pub(super) fn invoke(kind: WorkloadKind, rng: &mut fastrand::Rng, next: &mut u64) -> Invocation {
    if rng.bool() {
        return Invocation::new("read", Value::Null, body("read", []));
    }
    let x = Value::from(*next);
    *next += 1;
    match kind {
        WorkloadKind::Broadcast => {
            Invocation::new("broadcast", x.clone(), body("broadcast", [("message", x)]))
        }
        _ => Invocation::new("add", x.clone(), body("add", [("element", x)])),
    }
}

/// A point of an element's timeline: a history entry's index and time.
#[derive(Debug, Clone, Copy)]
struct At {
    index: u64,
    time: Nanos,
}

impl At {
    fn of(op: &Op) -> At {
        At {
            index: op.index,
            time: op.time,
        }
    }
}

#[derive(Debug)]
struct Element {
    value: Value,
    known: Option<At>,
    last_present: Option<At>,
    last_absent: Option<At>,
}

/// An element's identity: integers (what the workloads add) without formatting them, any
/// other value by its JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Unsigned(u64),
    Signed(i64),
    Text(String),
}

impl Key {
    fn of(v: &Value) -> Key {
        match (v.as_u64(), v.as_i64()) {
            (Some(u), _) => Key::Unsigned(u),
            (None, Some(i)) => Key::Signed(i),
            _ => Key::Text(v.to_string()),
        }
    }
}

/// Below this, an unsigned element is looked up by position, not by hash (the workloads add
/// 0, 1, 2, ...: a final read of every element is a pass over an array).
const DENSE_LIMIT: u64 = 1 << 24;

/// Element positions by identity.
#[derive(Debug, Default)]
struct Index {
    dense: Vec<Option<usize>>,
    other: HashMap<Key, usize>,
}

impl Index {
    fn get(&self, v: &Value) -> Option<usize> {
        match v.as_u64() {
            Some(u) if u < DENSE_LIMIT => self.dense.get(u as usize).copied().flatten(),
            _ => self.other.get(&Key::of(v)).copied(),
        }
    }

    fn insert(&mut self, v: &Value, i: usize) {
        match v.as_u64() {
            Some(u) if u < DENSE_LIMIT => {
                let u = u as usize;
                if self.dense.len() <= u {
                    self.dense.resize(u + 1, None);
                }
                self.dense[u] = Some(i);
            }
            _ => {
                self.other.insert(Key::of(v), i);
            }
        }
    }
}

fn later(slot: &mut Option<At>, at: At) {
    if slot.is_none_or(|s| s.index < at.index) {
        *slot = Some(at);
    }
}

/// The quantiles the latencies are reported at.
const POINTS: [f64; 5] = [0.0, 0.5, 0.95, 0.99, 1.0];

/// Jepsen's set-full over adds (`add`, `broadcast`) and reads.
pub(super) fn check(history: &[Op]) -> Check {
    let elements = timelines(history);
    let (mut stable, mut lost, mut never, mut stale) = (Vec::new(), Vec::new(), Vec::new(), 0usize);
    let (mut stable_ms, mut lost_ms) = (Vec::new(), Vec::new());
    for e in &elements {
        let idx = |a: Option<At>| a.map_or(-1, |a| a.index as i64);
        let is_stable = e.last_present.is_some() && idx(e.last_absent) < idx(e.last_present);
        let is_lost = e.known.is_some()
            && e.last_absent.is_some()
            && idx(e.last_present) < idx(e.last_absent)
            && idx(e.known) < idx(e.last_absent);
        let known_time = e.known.map_or(0, |k| k.time);
        if is_stable {
            let at = e.last_absent.map_or(0, |a| a.time + 1);
            let ms = at.saturating_sub(known_time) / 1_000_000;
            stale += usize::from(ms > 0);
            stable_ms.push(ms);
            stable.push(&e.value);
        } else if is_lost {
            let at = e.last_present.map_or(0, |a| a.time + 1);
            lost_ms.push(at.saturating_sub(known_time) / 1_000_000);
            lost.push(&e.value);
        } else {
            never.push(&e.value);
        }
    }
    let valid = if !lost.is_empty() {
        Valid::False
    } else if stable.is_empty() {
        Valid::Unknown
    } else {
        Valid::True
    };
    let mut check = Check::new(valid)
        .with("attempt_count", elements.len())
        .with("stable_count", stable.len())
        .with("lost_count", lost.len())
        .with("lost", &lost)
        .with("never_read_count", never.len())
        .with("never_read", &never)
        .with("stale_count", stale);
    if let Some(d) = frequency_distribution(&mut stable_ms) {
        check.set("stable_latencies", d);
    }
    if let Some(d) = frequency_distribution(&mut lost_ms) {
        check.set("lost_latencies", d);
    }
    check
}

/// Each added element's timeline, in the order they were first invoked.
fn timelines(history: &[Op]) -> Vec<Element> {
    let mut elements: Vec<Element> = Vec::new();
    let mut by_value = Index::default();
    let mut open_reads: HashMap<&str, At> = HashMap::new();
    for op in history {
        match (op.f.as_str(), op.kind) {
            ("add" | "broadcast", OpType::Invoke) => {
                let fresh = Element {
                    value: op.value.clone(),
                    known: None,
                    last_present: None,
                    last_absent: None,
                };
                match by_value.get(&op.value) {
                    Some(i) => elements[i] = fresh,
                    None => {
                        by_value.insert(&op.value, elements.len());
                        elements.push(fresh);
                    }
                }
            }
            ("add" | "broadcast", OpType::Ok) => {
                if let Some(i) = by_value.get(&op.value) {
                    let e = &mut elements[i];
                    e.known = e.known.or(Some(At::of(op)));
                }
            }
            ("read", OpType::Invoke) => {
                open_reads.insert(&op.process, At::of(op));
            }
            ("read", OpType::Ok) => {
                let Some(inv) = open_reads.remove(op.process.as_str()) else {
                    continue;
                };
                read(&mut elements, &by_value, inv, op);
            }
            ("read", _) => {
                open_reads.remove(op.process.as_str());
            }
            _ => {}
        }
    }
    elements
}

fn read(elements: &mut [Element], by_value: &Index, inv: At, op: &Op) {
    let mut present = vec![false; elements.len()];
    for v in op.value.as_array().map_or(&[][..], |a| a.as_slice()) {
        if let Some(i) = by_value.get(v) {
            present[i] = true;
        }
    }
    for (e, seen) in elements.iter_mut().zip(present) {
        if seen {
            e.known = e.known.or(Some(At::of(op)));
            later(&mut e.last_present, inv);
        } else {
            later(&mut e.last_absent, inv);
        }
    }
}

/// Values at the quantiles [`POINTS`] (index `min(n - 1, floor(n × p))` of the sorted
/// values), or `None` for no values.
fn frequency_distribution(values: &mut [u64]) -> Option<Map<String, Value>> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    let map = (POINTS.iter())
        .map(|&p| {
            let i = ((n as f64 * p).floor() as usize).min(n - 1);
            (p.to_string(), json!(values[i]))
        })
        .collect();
    Some(map)
}
