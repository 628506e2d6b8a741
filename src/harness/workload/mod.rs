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
//! One operation, as a driver runs it:
//!
//! ```
//! use mionode::harness::workload::{Config, Reply, Turn, Workload, WorkloadKind};
//!
//! let nodes = vec!["n0".to_string(), "n1".to_string()];
//! let mut workload = Workload::new(Config::new(WorkloadKind::Echo, nodes));
//! let mut rng = fastrand::Rng::with_seed(1);
//! let mut history = Vec::new();
//!
//! let inv = workload.invoke(&mut rng, &Turn { now: 0, process: "c2", node: 0 });
//! let mut line = Vec::new();
//! inv.write_body(1, &mut line); // {"type":"echo","msg_id":1,"echo":"Please echo 12"}
//! history.push(inv.op(0, 0, "c2", "n0"));
//!
//! // ... the node answers ...
//! let mut reply = serde_json::Map::new();
//! reply.insert("type".into(), "echo_ok".into());
//! reply.insert("in_reply_to".into(), 1.into());
//! reply.insert("echo".into(), inv.value.clone());
//! let done = workload.complete(&inv, Reply::Body(&reply));
//! history.push(done.op(&inv, 1, 2_000_000, "c2", "n0"));
//!
//! let results = workload.results(&history, None);
//! assert!(results.valid().is_true());
//! let json = serde_json::to_string(&results).unwrap();
//! assert!(json.starts_with(r#"{"valid":true,"availability":{"valid":true,"ok_fraction":1.0}"#));
//! ```
//!
//! The workloads of Maelstrom (`echo`, `unique-ids`, `broadcast`, `g-set`, `g-counter`,
//! `pn-counter`, `lin-kv`) and those of mionode's RPC chapter (`batch_echo`, `proxy`,
//! `relay`, `mixed`) are described in `docs/workloads.md`.

mod counter;
mod echo;
mod lin_kv;
pub mod op;
mod sets;
pub mod topology;
mod unique;
pub mod values;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::harness::check::{self, Check, Results};
use crate::harness::record::{Nanos, Op};

pub use op::{code_name, Completion, Invocation, Reply, DEFINITE_CODES};
pub use topology::Topology;

use op::body;

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

    /// How `inv` ended, given its reply or its timeout (Maelstrom's `with-errors`; see
    /// [`op`]).
    pub fn complete(&self, inv: &Invocation, reply: Reply<'_>) -> Completion {
        op::complete(self.config.kind, inv, reply)
    }

    /// Whether `done` is by itself a wrong answer to `inv`, for the workloads whose checker
    /// judges each operation alone (echo and the RPC chapter's): the reason, or `None`.
    /// Always `None` for the others, whose verdict needs the whole history. For a driver
    /// that reports wrong answers as they come; [`Workload::check`] finds the same ones.
    pub fn wrong_answer(&self, inv: &Invocation, done: &Completion) -> Option<String> {
        let per_op = matches!(
            self.config.kind,
            WorkloadKind::Echo
                | WorkloadKind::BatchEcho
                | WorkloadKind::Proxy
                | WorkloadKind::Relay
                | WorkloadKind::Mixed
        );
        if !per_op {
            return None;
        }
        echo::wrong_answer(&inv.op(0, 0, "", ""), &done.op(inv, 1, 0, "", ""))
    }

    /// The workload's own checker over `history` (Maelstrom's `:workload` result).
    pub fn check(&self, history: &[Op]) -> Check {
        match self.config.kind {
            WorkloadKind::Echo => echo::check_chapter(history),
            WorkloadKind::UniqueIds => unique::check(history),
            WorkloadKind::Broadcast | WorkloadKind::GSet => sets::check(history),
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

#[cfg(test)]
mod tests;
