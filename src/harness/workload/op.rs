//! A request's two entries in the history: the [`Invocation`] a client sends and the
//! [`Completion`] its reply (or its timeout) becomes.
//!
//! The completion follows Maelstrom's client (`client.clj`, `with-errors`): a reply of the
//! expected type with exactly the workload's fields is `ok`; an error with a definite code is
//! `fail`, any other error or a timeout `info`; an idempotent read fails definitely whatever
//! the error; in the workloads whose client catches no error (g-set, the counters) every
//! error is `info` with an exception; a reply that breaks the schema is `info` with an
//! exception, as Jepsen records a client that threw.

use serde_json::{Map, Value};

use super::{WorkloadKind, CLIENT_TIMEOUT};
use crate::harness::record::{Nanos, Op, OpError, OpType};

/// A request a client is about to send, and what the history records of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The operation (`echo`, `read`, `add`, ...).
    pub f: &'static str,
    /// Its value in the history (Maelstrom's `:value` of the invocation).
    pub value: Value,
    /// The request body without `msg_id`: `type` and the workload's fields.
    pub body: Map<String, Value>,
    /// How long the client waits for the reply before it gives up.
    pub timeout: Nanos,
    /// Whether this is a final read (recorded as such in the history).
    pub final_read: bool,
}

impl Invocation {
    pub(super) fn new(f: &'static str, value: Value, body: Map<String, Value>) -> Self {
        Invocation {
            f,
            value,
            body,
            timeout: CLIENT_TIMEOUT,
            final_read: false,
        }
    }

    /// The request's `type`.
    pub fn kind(&self) -> &str {
        self.body.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// The type of a successful reply: the request's type and `_ok`.
    pub fn reply_type(&self) -> String {
        format!("{}_ok", self.kind())
    }

    /// Writes the body as one JSON object: `type`, then `msg_id`, then the other fields.
    pub fn write_body(&self, msg_id: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"type\":");
        write_json(out, self.kind());
        out.extend_from_slice(format!(",\"msg_id\":{msg_id}").as_bytes());
        for (k, v) in self
            .body
            .iter()
            .filter(|(k, _)| *k != "type" && *k != "msg_id")
        {
            out.push(b',');
            write_json(out, k);
            out.push(b':');
            write_json(out, v);
        }
        out.push(b'}');
    }

    /// The history's invocation entry.
    pub fn op(&self, index: u64, time: Nanos, process: &str, node: &str) -> Op {
        Op {
            index,
            time,
            kind: OpType::Invoke,
            process: process.to_string(),
            node: node.to_string(),
            f: self.f.to_string(),
            value: self.value.clone(),
            error: None,
            exception: None,
            final_read: self.final_read,
        }
    }
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Serialising a Value or a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// How a request ended, as the client saw it.
#[derive(Debug, Clone, Copy)]
pub enum Reply<'a> {
    /// The reply's body (an object with `type`, `in_reply_to`, ...).
    Body(&'a Map<String, Value>),
    /// No reply within the invocation's timeout.
    Timeout,
}

/// The history's completion entry for an invocation, without its place in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// `ok`, `fail` or `info`.
    pub kind: OpType,
    /// Its value: the result of an `ok` (what was read, generated, echoed), or the
    /// invocation's value otherwise.
    pub value: Value,
    /// The error of a `fail` or `info`.
    pub error: Option<OpError>,
    /// Why a reply was not accepted as such (a schema violation).
    pub exception: Option<String>,
}

impl Completion {
    /// The history's completion entry for `inv`.
    pub fn op(&self, inv: &Invocation, index: u64, time: Nanos, process: &str, node: &str) -> Op {
        Op {
            index,
            time,
            kind: self.kind,
            process: process.to_string(),
            node: node.to_string(),
            f: inv.f.to_string(),
            value: self.value.clone(),
            error: self.error.clone(),
            exception: self.exception.clone(),
            final_read: inv.final_read,
        }
    }
}

/// Maelstrom's error codes that say the operation certainly did not happen
/// (`resources/errors.edn`). Every other code, 0 (timeout) and 13 (crash) included, and
/// every code it does not know, is indefinite.
pub const DEFINITE_CODES: [u32; 9] = [1, 10, 11, 12, 14, 20, 21, 22, 30];

/// Maelstrom's name for an error code, if it has one.
pub fn code_name(code: u32) -> Option<&'static str> {
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

/// How `inv` ended, given its reply or its timeout, for workload `kind`.
pub(super) fn complete(kind: WorkloadKind, inv: &Invocation, reply: Reply<'_>) -> Completion {
    let Reply::Body(body) = reply else {
        let definite = kind.idempotent(inv.f);
        return failed(
            inv,
            definite,
            OpError {
                code: 0,
                text: "client timed out".into(),
            },
        );
    };
    if body.get("type").and_then(Value::as_str) == Some("error") {
        return error_completion(kind, inv, body);
    }
    match reply_value(kind, inv, body) {
        Ok(value) => Completion {
            kind: OpType::Ok,
            value,
            error: None,
            exception: None,
        },
        Err(why) => Completion {
            kind: OpType::Info,
            value: inv.value.clone(),
            error: None,
            exception: Some(why),
        },
    }
}

/// A body of type `kind` with `fields` after it.
pub(super) fn body<const N: usize>(kind: &str, fields: [(&str, Value); N]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), Value::from(kind));
    for (k, v) in fields {
        m.insert(k.into(), v);
    }
    m
}

fn failed(inv: &Invocation, definite: bool, error: OpError) -> Completion {
    Completion {
        kind: if definite { OpType::Fail } else { OpType::Info },
        value: inv.value.clone(),
        error: Some(error),
        exception: None,
    }
}

/// An `error` reply: `fail` when the code is definite or the operation idempotent, `info`
/// otherwise; always `info` where Maelstrom's client does not catch errors.
fn error_completion(kind: WorkloadKind, inv: &Invocation, body: &Map<String, Value>) -> Completion {
    let code = body.get("code").and_then(Value::as_u64);
    let text = body.get("text").and_then(Value::as_str).unwrap_or("");
    let error = OpError {
        code: code.map_or(u32::MAX, |c| u32::try_from(c).unwrap_or(u32::MAX)),
        text: text.to_string(),
    };
    let known_definite = code.is_some_and(|c| DEFINITE_CODES.iter().any(|&d| u64::from(d) == c));
    let definite = kind.catches_errors() && (known_definite || kind.idempotent(inv.f));
    let mut c = failed(inv, definite, error);
    if !kind.catches_errors() {
        c.exception = Some(format!(
            "RPC error {}",
            code.map_or("?".into(), |c| c.to_string())
        ));
    }
    c
}

/// Checks a successful reply against the workload's schema (only its fields, `type`,
/// `msg_id` and `in_reply_to`; Maelstrom's schemas are closed) and returns the value the
/// history records.
fn reply_value(
    kind: WorkloadKind,
    inv: &Invocation,
    body: &Map<String, Value>,
) -> Result<Value, String> {
    let want = inv.reply_type();
    let ty = body.get("type").and_then(Value::as_str).unwrap_or("");
    if ty != want {
        return Err(format!(
            "expected a reply of type {want:?} or error, got {ty:?}"
        ));
    }
    let fields = reply_fields(kind, inv);
    let standard = ["type", "msg_id", "in_reply_to"];
    if let Some(missing) = fields.iter().find(|f| !body.contains_key(**f)) {
        return Err(format!("{want} has no field `{missing}`"));
    }
    if let Some(extra) =
        (body.keys()).find(|k| !standard.contains(&k.as_str()) && !fields.contains(&k.as_str()))
    {
        return Err(format!("{want} has an extra field `{extra}`"));
    }
    let field = |name: &str| body.get(name).cloned().unwrap_or(Value::Null);
    Ok(match (kind, inv.kind()) {
        (_, "topology") | (_, "write") | (_, "cas") => Value::Null,
        (_, "echo") => field("echo"),
        (_, "generate") => field("id"),
        (WorkloadKind::Broadcast, "broadcast") => inv.value.clone(),
        (WorkloadKind::Broadcast, "read") => array(&want, "messages", field("messages"))?,
        (WorkloadKind::GSet, "add") => inv.value.clone(),
        (WorkloadKind::GSet, "read") => array(&want, "value", field("value"))?,
        (_, "add") => inv.value.clone(),
        (WorkloadKind::GCounter | WorkloadKind::PnCounter, "read") => {
            let v = field("value");
            if !(v.is_i64() || v.is_u64()) {
                return Err(format!("{want}: `value` is not an integer"));
            }
            v
        }
        (WorkloadKind::LinKv, "read") => {
            let key = inv.value.get(0).cloned().unwrap_or(Value::Null);
            Value::Array(vec![key, field("value")])
        }
        (_, "batch_echo") => array(&want, "results", field("results"))?,
        (_, "proxy") => field("result"),
        (_, "relay") => {
            let mut m = Map::new();
            m.insert("attempts".into(), field("attempts"));
            m.insert("result".into(), field("result"));
            Value::Object(m)
        }
        _ => Value::Object(body.clone()),
    })
}

fn array(ty: &str, name: &str, v: Value) -> Result<Value, String> {
    if v.is_array() {
        Ok(v)
    } else {
        Err(format!("{ty}: `{name}` is not an array"))
    }
}

/// The workload's fields of a successful reply to `inv`: all required.
fn reply_fields(kind: WorkloadKind, inv: &Invocation) -> &'static [&'static str] {
    match (kind, inv.kind()) {
        (_, "echo") => &["echo"],
        (_, "generate") => &["id"],
        (WorkloadKind::Broadcast, "read") => &["messages"],
        (_, "read") => &["value"],
        (_, "batch_echo") => &["results"],
        (_, "proxy") => &["result"],
        (_, "relay") => &["attempts", "result"],
        _ => &[],
    }
}
