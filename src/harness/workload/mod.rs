//! What Maelstrom's clients ask, what they record, and how a run's history is judged.
//!
//! A [`Workload`] is shared by both drivers. The driver owns the clients, the clock and the
//! network; the workload only turns a client's turn into a request and a reply into a history
//! entry:
//!
//! 1. [`Workload::setup`]: messages each node gets once, after `init` and before the
//!    workload (broadcast's `topology`). They are not part of the history.
//! 2. [`Workload::invoke`]: a client's turn → an [`Invocation`]: the operation `f`, its
//!    value for the history, the request body (Maelstrom's exact fields; the driver adds
//!    `msg_id`) and how long the client waits.
//! 3. [`Workload::complete`]: the reply body, or a timeout → a [`Completion`]: `ok`,
//!    `fail` (a definite error code, or any failure of an idempotent read) or `info` (a
//!    timeout, codes 0 and 13, unknown codes, a reply that breaks the schema), as
//!    Maelstrom's `with-errors` decides.
//! 4. [`Workload::final_reads`]: after the clients stop, the network heals and
//!    [`FINAL_QUIET_PERIOD`] passes, one read per node (broadcast, g-set, counters).
//! 5. [`Workload::check`]: the workload's checker over the history; with
//!    [`Workload::results`], Jepsen's stats and Maelstrom's availability beside it.
//!
//! The workloads of Maelstrom (`echo`, `unique-ids`, `broadcast`, `g-set`, `g-counter`,
//! `pn-counter`, `lin-kv`) and those of mionode's RPC chapter (`batch_echo`, `proxy`,
//! `relay`, `mixed`) are described in `docs/workloads.md`.

mod counter;
mod echo;
mod lin_kv;
mod sets;
pub mod topology;
mod unique;
pub mod values;

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::harness::check::{self, Check, Results};
use crate::harness::record::{Nanos, Op, OpError, OpType};

pub use topology::Topology;

/// One second in [`Nanos`].
pub const SECOND: Nanos = 1_000_000_000;

/// How long a Maelstrom client waits for a reply (`client.clj`'s default timeout).
pub const CLIENT_TIMEOUT: Nanos = 5 * SECOND;

/// How long the driver waits, after the clients stop and the network heals, before the final
/// reads (Maelstrom's `(gen/sleep 10)` before its final generator).
pub const FINAL_QUIET_PERIOD: Nanos = 10 * SECOND;

/// The workloads, by Maelstrom's names (and the RPC chapter's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// `echo`: echo back `"Please echo <n>"`.
    Echo,
    /// `unique-ids`: `generate` globally unique ids.
    UniqueIds,
    /// `broadcast`: gossip every `message` to every node.
    Broadcast,
    /// `g-set`: a grow-only set.
    GSet,
    /// `g-counter`: a grow-only counter.
    GCounter,
    /// `pn-counter`: a counter with increments and decrements.
    PnCounter,
    /// `lin-kv`: a linearizable key-value store (read, write, cas).
    LinKv,
    /// `batch_echo`: echo a batch of values through RPCs to oneself.
    BatchEcho,
    /// `proxy`: forward an echo to another node.
    Proxy,
    /// `relay`: forward an echo with retries.
    Relay,
    /// `mixed`: echo, batch_echo, proxy and relay at random.
    Mixed,
}

impl WorkloadKind {
    /// Every workload, Maelstrom's first.
    pub const ALL: [WorkloadKind; 11] = [
        WorkloadKind::Echo,
        WorkloadKind::UniqueIds,
        WorkloadKind::Broadcast,
        WorkloadKind::GSet,
        WorkloadKind::GCounter,
        WorkloadKind::PnCounter,
        WorkloadKind::LinKv,
        WorkloadKind::BatchEcho,
        WorkloadKind::Proxy,
        WorkloadKind::Relay,
        WorkloadKind::Mixed,
    ];

    /// Its name on the command line and in the store (Maelstrom's where it has one).
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Echo => "echo",
            WorkloadKind::UniqueIds => "unique-ids",
            WorkloadKind::Broadcast => "broadcast",
            WorkloadKind::GSet => "g-set",
            WorkloadKind::GCounter => "g-counter",
            WorkloadKind::PnCounter => "pn-counter",
            WorkloadKind::LinKv => "lin-kv",
            WorkloadKind::BatchEcho => "batch_echo",
            WorkloadKind::Proxy => "proxy",
            WorkloadKind::Relay => "relay",
            WorkloadKind::Mixed => "mixed",
        }
    }

    /// The operation kinds (`f`) its clients invoke (final reads included).
    pub fn fs(self) -> &'static [&'static str] {
        match self {
            WorkloadKind::Echo => &["echo"],
            WorkloadKind::UniqueIds => &["generate"],
            WorkloadKind::Broadcast => &["broadcast", "read"],
            WorkloadKind::GSet | WorkloadKind::GCounter | WorkloadKind::PnCounter => {
                &["add", "read"]
            }
            WorkloadKind::LinKv => &["read", "write", "cas"],
            WorkloadKind::BatchEcho => &["batch_echo"],
            WorkloadKind::Proxy => &["proxy"],
            WorkloadKind::Relay => &["relay"],
            WorkloadKind::Mixed => &["echo", "batch_echo", "proxy", "relay"],
        }
    }

    /// Whether the run ends with a quiet period and a final read of every node.
    pub fn has_final_reads(self) -> bool {
        matches!(
            self,
            WorkloadKind::Broadcast
                | WorkloadKind::GSet
                | WorkloadKind::GCounter
                | WorkloadKind::PnCounter
        )
    }

    /// The operation kinds whose failures Maelstrom counts as definite whatever the error
    /// (its `with-errors` idempotent set): a read that timed out certainly changed nothing.
    fn idempotent(self, f: &str) -> bool {
        f == "read" && matches!(self, WorkloadKind::Broadcast | WorkloadKind::LinKv)
    }

    /// Whether Maelstrom's client catches RPC errors (`with-errors`). Without it (g-set,
    /// the counters), every error reply escapes as an exception, which Jepsen records as
    /// `info`, definite codes included.
    fn catches_errors(self) -> bool {
        !matches!(
            self,
            WorkloadKind::GSet | WorkloadKind::GCounter | WorkloadKind::PnCounter
        )
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WorkloadKind {
    type Err = String;

    /// Parses a name of [`WorkloadKind::name`]; `batch-echo` is accepted for `batch_echo`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = if s == "batch-echo" { "batch_echo" } else { s };
        (WorkloadKind::ALL.into_iter())
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = WorkloadKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown workload {s:?}; one of {}", names.join(", "))
            })
    }
}

/// What a workload needs to know about the run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Which workload.
    pub kind: WorkloadKind,
    /// The nodes, `n0..n{N-1}`.
    pub node_ids: Vec<String>,
    /// Broadcast's topology (Maelstrom's `--topology`, default grid).
    pub topology: Topology,
    /// Values per `batch_echo` request.
    pub batch_size: usize,
    /// The network's mean latency in milliseconds (lin-kv's clients wait
    /// `max(10 × mean, 1000)` ms, as Maelstrom's do).
    pub latency_mean_ms: u64,
    /// How many keys lin-kv's clients use (keys are the integers `0..keys`).
    pub keys: u64,
}

impl Config {
    /// The defaults for `kind` over `node_ids`: grid topology, batches of 10, no latency,
    /// 5 keys at a time.
    pub fn new(kind: WorkloadKind, node_ids: Vec<String>) -> Self {
        Config {
            kind,
            node_ids,
            topology: Topology::Grid,
            batch_size: 10,
            latency_mean_ms: 0,
            keys: lin_kv::DEFAULT_KEYS,
        }
    }
}

/// A client's turn: who asks, whom, and when.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    /// When the request is made.
    pub now: Nanos,
    /// The client (`c7`).
    pub process: &'a str,
    /// The index of the node it talks to, in [`Config::node_ids`].
    pub node: usize,
}

/// A request a client is about to send, and what the history records of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The operation (`echo`, `read`, `add`, ...).
    pub f: &'static str,
    /// Its value in the history (Maelstrom's `:value` of the invocation).
    pub value: Value,
    /// The request body without `msg_id`: `type` first, then the workload's fields.
    pub body: Map<String, Value>,
    /// How long the client waits for the reply before it gives up.
    pub timeout: Nanos,
    /// Whether this is a final read (recorded as such in the history).
    pub final_read: bool,
}

impl Invocation {
    fn new(f: &'static str, value: Value, body: Map<String, Value>) -> Self {
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

    /// Writes the body as one JSON object with `msg_id` after `type`.
    pub fn write_body(&self, msg_id: u64, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        for (k, v) in &self.body {
            if !first {
                out.push(b',');
            }
            first = false;
            write_json(out, k);
            out.push(b':');
            write_json(out, v);
            if k == "type" {
                out.extend_from_slice(format!(",\"msg_id\":{msg_id}").as_bytes());
            }
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

/// A workload: requests, completions, and the checker, for one run.
#[derive(Debug, Clone)]
pub struct Workload {
    config: Config,
    /// The next value broadcast or added to the g-set (Maelstrom's shared `(range)`).
    next_element: u64,
    /// Invocations so far (lin-kv's key generations).
    invocations: u64,
}

impl Workload {
    /// The workload `config` describes.
    pub fn new(config: Config) -> Self {
        Workload {
            config,
            next_element: 0,
            invocations: 0,
        }
    }

    /// Which workload.
    pub fn kind(&self) -> WorkloadKind {
        self.config.kind
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The messages each node gets after `init`, before the workload: `(node index,
    /// request)`. Their replies go through [`Workload::complete`] like any other; they are
    /// not part of the history. Empty but for broadcast.
    pub fn setup(&self) -> Vec<(usize, Invocation)> {
        match self.config.kind {
            WorkloadKind::Broadcast => topology::setup(&self.config),
            _ => Vec::new(),
        }
    }

    /// The next request of the client whose turn it is.
    pub fn invoke(&mut self, rng: &mut fastrand::Rng, turn: &Turn<'_>) -> Invocation {
        let c = &self.config;
        self.invocations += 1;
        match c.kind {
            WorkloadKind::Echo => echo::echo(rng),
            WorkloadKind::UniqueIds => unique::generate(),
            WorkloadKind::Broadcast | WorkloadKind::GSet => {
                sets::invoke(c.kind, rng, &mut self.next_element)
            }
            WorkloadKind::GCounter | WorkloadKind::PnCounter => counter::invoke(c.kind, rng),
            WorkloadKind::LinKv => lin_kv::invoke(c, rng, self.invocations - 1),
            WorkloadKind::BatchEcho | WorkloadKind::Proxy | WorkloadKind::Relay => {
                echo::chapter(c, c.kind, rng, turn.node)
            }
            WorkloadKind::Mixed => {
                let kinds = [
                    WorkloadKind::Echo,
                    WorkloadKind::BatchEcho,
                    WorkloadKind::Proxy,
                    WorkloadKind::Relay,
                ];
                echo::chapter(c, kinds[rng.usize(..kinds.len())], rng, turn.node)
            }
        }
    }

    /// The final reads, one per node, for workloads that have them (else none). The driver
    /// makes them after the clients stop, the network heals and [`FINAL_QUIET_PERIOD`]
    /// passes.
    pub fn final_reads(&self) -> Vec<(usize, Invocation)> {
        if !self.config.kind.has_final_reads() {
            return Vec::new();
        }
        (0..self.config.node_ids.len())
            .map(|node| {
                let mut inv = Invocation::new("read", Value::Null, body("read", []));
                inv.final_read = true;
                (node, inv)
            })
            .collect()
    }

    /// How `inv` ended, given its reply or its timeout.
    pub fn complete(&self, inv: &Invocation, reply: Reply<'_>) -> Completion {
        let kind = self.config.kind;
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

    /// The workload's own checker over `history` (Maelstrom's `:workload` result).
    pub fn check(&self, history: &[Op]) -> Check {
        match self.config.kind {
            WorkloadKind::Echo => echo::check_chapter(history),
            WorkloadKind::UniqueIds => unique::check(history),
            WorkloadKind::Broadcast | WorkloadKind::GSet => sets::check(self.config.kind, history),
            WorkloadKind::GCounter | WorkloadKind::PnCounter => counter::check(history),
            WorkloadKind::LinKv => lin_kv::check(history, lin_kv::MAX_STATES),
            WorkloadKind::BatchEcho
            | WorkloadKind::Proxy
            | WorkloadKind::Relay
            | WorkloadKind::Mixed => echo::check_chapter(history),
        }
    }

    /// Every check of the run: `workload`, `stats`, `availability` (with Maelstrom's
    /// `--availability` target, if any) and `exceptions`.
    pub fn results(&self, history: &[Op], availability: Option<f64>) -> Results {
        let mut r = Results::new();
        r.insert("workload", self.check(history));
        r.insert("stats", check::stats(history));
        r.insert("availability", check::availability(history, availability));
        r.insert("exceptions", check::exceptions(history));
        r
    }
}

/// A body of type `kind` with `fields` after it.
fn body<const N: usize>(kind: &str, fields: [(&str, Value); N]) -> Map<String, Value> {
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

#[cfg(test)]
mod tests;
