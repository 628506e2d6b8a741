//! The requests clients send, and what each one expects back (DESIGN.md §3).
//!
//! Values are random JSON of every kind (strings with escapes and non-ASCII characters,
//! integers, exact binary fractions, booleans, null, small arrays and objects), so a node that
//! passes values through must pass them through unchanged. Fractions are multiples of 1/8 so
//! they survive any correct float parser bit for bit.

use std::io::Write;

use serde_json::{Map, Value};

use crate::cli::WorkloadArg;
use crate::wire::write_json_str;

/// One kind of operation a client performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `echo` → `echo_ok`.
    Echo,
    /// `batch_echo` → `batch_echo_ok`.
    BatchEcho,
    /// `proxy` → `proxy_ok`.
    Proxy,
    /// `relay` → `relay_ok`.
    Relay,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 4] = [
        OpKind::Echo,
        OpKind::BatchEcho,
        OpKind::Proxy,
        OpKind::Relay,
    ];

    /// The request type, which also names the kind in reports.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Echo => "echo",
            OpKind::BatchEcho => "batch_echo",
            OpKind::Proxy => "proxy",
            OpKind::Relay => "relay",
        }
    }

    /// The type of a successful reply.
    pub fn reply_type(self) -> &'static str {
        match self {
            OpKind::Echo => "echo_ok",
            OpKind::BatchEcho => "batch_echo_ok",
            OpKind::Proxy => "proxy_ok",
            OpKind::Relay => "relay_ok",
        }
    }

    /// The workload's fields of a successful reply: all required, and with `type`,
    /// `msg_id` and `in_reply_to` the only ones allowed.
    pub fn reply_fields(self) -> &'static [&'static str] {
        match self {
            OpKind::Echo => &["echo"],
            OpKind::BatchEcho => &["results"],
            OpKind::Proxy => &["result"],
            OpKind::Relay => &["attempts", "result"],
        }
    }

    /// Position in [`OpKind::ALL`], for per-kind tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a correct successful reply carries, per kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// `echo_ok.echo` equals this value.
    Echo(Value),
    /// `batch_echo_ok.results` equals these values, in this order.
    Batch(Vec<Value>),
    /// `result` is the target's `echo_ok` reply to an echo of this value (proxy and relay).
    Forwarded(Value),
}

impl Expected {
    /// The operation's value in the history: what the client asked to be echoed (the
    /// values of a batch, the value a proxy or relay carries).
    pub fn value(&self) -> Value {
        match self {
            Expected::Echo(v) | Expected::Forwarded(v) => v.clone(),
            Expected::Batch(values) => Value::Array(values.clone()),
        }
    }
}

/// Chooses and writes requests.
#[derive(Debug, Clone)]
pub struct Workload {
    choice: WorkloadArg,
    batch_size: usize,
    node_ids: Vec<String>,
}

impl Workload {
    /// A workload over the nodes `node_ids`.
    pub fn new(choice: WorkloadArg, batch_size: usize, node_ids: Vec<String>) -> Self {
        Workload {
            choice,
            batch_size,
            node_ids,
        }
    }

    /// Draws the next request of a client bound to node `node`, writes its body (with
    /// `msg_id`) to `out`, and returns its kind and expected answer.
    pub fn next(
        &self,
        rng: &mut fastrand::Rng,
        node: usize,
        msg_id: u64,
        out: &mut Vec<u8>,
    ) -> (OpKind, Expected) {
        let kind = match self.choice {
            WorkloadArg::Echo => OpKind::Echo,
            WorkloadArg::BatchEcho => OpKind::BatchEcho,
            WorkloadArg::Proxy => OpKind::Proxy,
            WorkloadArg::Relay => OpKind::Relay,
            WorkloadArg::Mixed => OpKind::ALL[rng.usize(..OpKind::ALL.len())],
        };
        let _ = write!(out, "{{\"type\":\"{}\",\"msg_id\":{msg_id},", kind.name());
        let expected = match kind {
            OpKind::Echo => {
                let v = random_value(rng, 0);
                out.extend_from_slice(b"\"echo\":");
                write_value(out, &v);
                Expected::Echo(v)
            }
            OpKind::BatchEcho => {
                let values: Vec<Value> =
                    (0..self.batch_size).map(|_| random_value(rng, 0)).collect();
                out.extend_from_slice(b"\"values\":");
                write_value(out, &values);
                Expected::Batch(values)
            }
            OpKind::Proxy | OpKind::Relay => {
                out.extend_from_slice(b"\"target\":");
                write_json_str(out, &self.node_ids[self.other_node(rng, node)]);
                let v = random_value(rng, 0);
                let inner: &[u8] = if kind == OpKind::Proxy {
                    b",\"inner\":{\"type\":\"echo\",\"echo\":"
                } else {
                    b",\"payload\":{\"type\":\"echo\",\"echo\":"
                };
                out.extend_from_slice(inner);
                write_value(out, &v);
                out.push(b'}');
                Expected::Forwarded(v)
            }
        };
        out.push(b'}');
        (kind, expected)
    }

    /// A node other than `node` (or `node` itself in a one-node cluster).
    fn other_node(&self, rng: &mut fastrand::Rng, node: usize) -> usize {
        let n = self.node_ids.len();
        if n < 2 {
            return node;
        }
        (node + 1 + rng.usize(..n - 1)) % n
    }
}

fn write_value<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Serializing a Value into a Vec cannot fail: keys are strings, writes are infallible.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Characters strings are drawn from: plain, JSON escapes, and multi-byte UTF-8.
const ALPHABET: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', '0', '7', ' ', '"', '\\', '/', '\n', '\t', '\u{1}', 'é', 'ß',
    '✓', '日', '🦀',
];

/// A random JSON value; `depth` limits nesting to two levels.
pub fn random_value(rng: &mut fastrand::Rng, depth: u32) -> Value {
    let kinds = if depth >= 2 { 5 } else { 7 };
    match rng.u32(..kinds) {
        0 => Value::from(rng.i64(-1_000_000_000_000..1_000_000_000_000)),
        1 => Value::from(rng.i32(-8000..8000) as f64 / 8.0),
        2 => Value::Bool(rng.bool()),
        3 => Value::Null,
        4 => Value::String(
            (0..rng.usize(0..12))
                .map(|_| ALPHABET[rng.usize(..ALPHABET.len())])
                .collect(),
        ),
        5 => Value::Array(
            (0..rng.usize(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for i in 0..rng.usize(0..4) {
                map.insert(format!("k{i}"), random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(choice: WorkloadArg) -> Workload {
        let ids = vec!["n0".to_string(), "n1".to_string(), "n2".to_string()];
        Workload::new(choice, 3, ids)
    }

    #[test]
    fn values_survive_a_round_trip() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..2000 {
            let v = random_value(&mut rng, 0);
            let text = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v, "{text}");
        }
    }

    #[test]
    fn requests_are_valid_bodies_with_what_is_expected() {
        let mut rng = fastrand::Rng::with_seed(9);
        for choice in [
            WorkloadArg::Echo,
            WorkloadArg::BatchEcho,
            WorkloadArg::Proxy,
            WorkloadArg::Relay,
        ] {
            let mut out = Vec::new();
            let (kind, expected) = workload(choice).next(&mut rng, 1, 17, &mut out);
            let body: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(body["type"], kind.name());
            assert_eq!(body["msg_id"], 17);
            match (kind, expected) {
                (OpKind::Echo, Expected::Echo(v)) => assert_eq!(body["echo"], v),
                (OpKind::BatchEcho, Expected::Batch(v)) => {
                    assert_eq!(body["values"], Value::Array(v))
                }
                (OpKind::Proxy, Expected::Forwarded(v)) => {
                    assert_eq!(body["inner"]["echo"], v);
                    assert_ne!(body["target"], "n1");
                }
                (OpKind::Relay, Expected::Forwarded(v)) => {
                    assert_eq!(body["payload"]["type"], "echo");
                    assert_eq!(body["payload"]["echo"], v);
                }
                other => panic!("mismatched {other:?}"),
            }
        }
    }

    #[test]
    fn mixed_draws_every_kind() {
        let mut rng = fastrand::Rng::with_seed(1);
        let w = workload(WorkloadArg::Mixed);
        let mut seen = [false; 4];
        for id in 0..100 {
            let (kind, _) = w.next(&mut rng, 0, id, &mut Vec::new());
            seen[kind.index()] = true;
        }
        assert_eq!(seen, [true; 4]);
    }
}
