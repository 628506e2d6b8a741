//! The deterministic simulator: a whole cluster of an app in one thread, on a virtual clock,
//! with Maelstrom's network, clients, services, nemesis and checkers, every random choice
//! drawn from one seed.
//!
//! ```text
//!   agenda (time, seq) ──► deliveries, node timers ──► Node<A>::handle_line / fire_timers
//!        ▲                                                   │ outbox lines
//!        │        harness::route (unknown destinations)      ▼
//!        └── harness::net (latency, loss, re-encoding) ◄── route ──► clients / services
//!   harness::clients + workload (requests, history) │ harness::nemesis (grudges) │ harness::check
//! ```
//!
//! Every binary built on [`run`](crate::run()) has it: `my-node [NODE FLAGS] simulate
//! [RUN FLAGS]` (see [`cli`]). [`run_one`] is the library entry: one seed, one [`Outcome`].
//!
//! # What makes it deterministic
//!
//! - Time is virtual: an [`Instant`](std::time::Instant) read once as the origin, plus a
//!   virtual offset that jumps to the next thing due. Nodes see `origin + offset`; nothing
//!   in a run depends on the origin's value, and nothing reads the clock again.
//! - Every random choice comes from a generator seeded from the run's seed, one stream per
//!   consumer ([`crate::harness::seed`]): each client slot, the network (latency, loss, key
//!   order), the services, the nemesis, and each node's [`Context::rng`](crate::Context::rng)
//!   (node i gets `derive_seed(seed, "node", i)`).
//! - Ties are broken by scheduling order ([`queue`]), and no hash map's iteration order
//!   decides anything: the simulator's maps are `BTreeMap`s or vectors.
//!
//! What it cannot control: an app that reads the wall clock, draws its own randomness, or
//! lets a `HashMap`'s `RandomState` order what it sends. docs/simulation.md says more.

mod actors;
pub mod cli;
pub mod logger;
mod net;
pub mod queue;
pub mod report;
mod world;

use serde_json::{Map, Value};

use crate::app::App;
use crate::config::Config;
use crate::harness::check::{Check, Results, Valid};
use crate::harness::flags::RunFlags;
use crate::harness::record::{MessageEvent, Nanos, NemesisPeriod, Op};
use crate::harness::service::ServiceKind;

pub use world::INIT_TIMEOUT;

/// The messages `messages.jsonl` keeps by default (mionode-load keeps as many).
pub const DEFAULT_MAX_MESSAGES: usize = 100_000;

/// One run's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Workload, cluster, clients, network and faults. Its `seed` is ignored: see
    /// [`Options::seed`].
    pub run: RunFlags,
    /// The run's seed: everything random derives from it.
    pub seed: u64,
    /// Each node's runtime settings; its `seed` is replaced by the node's derived seed.
    pub node: Config,
    /// How many messages the trace keeps (0: none, the fastest).
    pub max_messages: usize,
}

impl Options {
    /// A run of `run` with `seed`, default node settings, the default trace.
    pub fn new(run: RunFlags, seed: u64) -> Self {
        Options {
            run,
            seed,
            node: Config::default(),
            max_messages: DEFAULT_MAX_MESSAGES,
        }
    }
}

/// Why Maelstrom would stop listening to a node, or the run could not go on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// When it happened.
    pub time: Nanos,
    /// The node at fault.
    pub node: String,
    /// What kind: `invalid-message`, `wrong-source`, `unknown-destination`, `init`, `setup`.
    pub kind: &'static str,
    /// What exactly.
    pub message: String,
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Virtual time at the end.
    pub simulated: Nanos,
    /// When the workload began (after init and setup).
    pub workload_start: Nanos,
    /// Events taken from the agenda.
    pub events: u64,
    /// Messages sent on the network, clients' included.
    pub messages: u64,
    /// Messages lost to `--drop`.
    pub dropped: u64,
    /// Extra copies from `--duplicate`.
    pub duplicated: u64,
    /// Messages cut by a partition.
    pub cut: u64,
    /// Replies no client waited for (late, duplicated, stray).
    pub ignored_replies: u64,
    /// Lines a muted node wrote after its violation.
    pub lost_after_violation: u64,
    /// Clients replaced after an indeterminate outcome.
    pub clients_replaced: u64,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed it ran with.
    pub seed: u64,
    /// The verdict: the workload's checks and `protocol`.
    pub results: Results,
    /// The history, in order.
    pub history: Vec<Op>,
    /// The message trace (up to [`Options::max_messages`]).
    pub messages: Vec<MessageEvent>,
    /// The partitions.
    pub nemesis: Vec<NemesisPeriod>,
    /// Each node's log, by node id.
    pub logs: Vec<(String, String)>,
    /// Protocol violations.
    pub violations: Vec<Violation>,
    /// Counters.
    pub stats: RunStats,
}

impl Outcome {
    /// The combined verdict.
    pub fn valid(&self) -> Valid {
        self.results.valid()
    }
}

/// Simulates one run of app `A`, its nodes built from `flags`. Pure: the same `flags`,
/// options and binary give the same outcome.
pub fn run_one<A: App>(flags: &A::Flags, opts: Options) -> Outcome {
    world::World::<A>::new(flags, opts).run()
}

/// What travels on the agenda.
pub(crate) enum Event {
    /// Node `node`'s earliest timer is due.
    Timer { node: usize },
    /// A line for node `to`, sent by node `from` (cut if a partition separates them).
    ToNode {
        to: usize,
        from: Option<usize>,
        line: Vec<u8>,
        record: Option<usize>,
    },
    /// A request for a service from `src`.
    ToService {
        service: ServiceKind,
        src: String,
        body: Value,
        record: Option<usize>,
    },
    /// A reply for workload client slot `slot`.
    ToClient {
        slot: usize,
        body: Map<String, Value>,
        record: Option<usize>,
    },
    /// A reply from node `from` for the init client of node `node`.
    ToInit {
        node: usize,
        from: usize,
        body: Map<String, Value>,
        record: Option<usize>,
    },
}

/// The `protocol` check: valid when no node broke Maelstrom's rules.
pub fn protocol_check(violations: &[Violation]) -> Check {
    Check::new(Valid::from_bool(violations.is_empty()))
        .with("count", violations.len())
        .with("violations", &violations[..violations.len().min(100)])
}
