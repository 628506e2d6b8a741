//! The simulated world: N nodes of one app, the network between them, Maelstrom's clients
//! and services, the nemesis, and the virtual clock, all on one thread.
//!
//! One loop ([`World::run`]) takes, at each step, whatever is due first among the phase's
//! deadline, the nemesis's next action, a client's timeout, the next event of the agenda
//! ([`Queue`]: deliveries and node timers) and the next client start, in that order at
//! equal instants. Virtual time jumps straight to it; nothing waits. The phases are
//! Maelstrom's:
//!
//! 1. **setup**: each node gets `init` from its init client `c<i>`, then the workload's setup
//!    messages (broadcast's `topology`) from the same client, which is then closed; all
//!    within [`INIT_TIMEOUT`];
//! 2. **workload**: clients start requests on the rate schedule for `--time-limit`; the
//!    nemesis acts;
//! 3. **drain**: no new requests; outstanding ones end with a reply or a timeout;
//! 4. for workloads with final reads: the network heals, [`FINAL_QUIET_PERIOD`] passes, one
//!    final read per node, drained like the others.
//!
//! Nodes keep running (timers, gossip) through every phase. [`super::net`] routes what they
//! write; [`super::actors`] plays the clients.

use std::time::{Duration, Instant};

use crate::app::App;
use crate::harness::clients::{Clients, Schedule};
use crate::harness::nemesis::{self, Action, Grudge};
use crate::harness::record::{MessageEvent, Nanos, NemesisPeriod, Op};
use crate::harness::route::Endpoints;
use crate::harness::seed::derive_seed;
use crate::harness::service::Services;
use crate::harness::workload::{Workload, FINAL_QUIET_PERIOD, SECOND};
use crate::node::Node;

use super::logger;
use super::queue::Queue;
use super::{Event, Options, Outcome, RunStats, Violation};

/// How long the nodes have to answer `init` and the setup messages (Maelstrom's 10 s).
pub const INIT_TIMEOUT: Nanos = 10 * SECOND;

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Init and setup messages, until every node has answered them or the deadline.
    Setup { deadline: Nanos },
    /// Clients at work until `end`.
    Workload { end: Nanos },
    /// Waiting for outstanding requests.
    Drain,
    /// Healed, quiet until `until`, then the final reads.
    Quiet { until: Nanos },
    /// Waiting for the final reads.
    Final,
    /// Over.
    Done,
}

/// One simulated node.
pub(super) struct SimNode<A: App> {
    pub node: Node<A>,
    /// Maelstrom stopped reading its output (an invalid message, an unknown destination).
    pub muted: bool,
    /// When its earliest timer event is scheduled on the agenda.
    pub timer_at: Option<Nanos>,
    /// What it logged.
    pub log: String,
}

impl<A: App> SimNode<A> {
    /// A node of `A` built from `flags`, with the runtime's `config` and its own `seed`.
    fn new(flags: &A::Flags, config: &crate::config::Config, seed: u64, origin: Instant) -> Self {
        let mut config = config.clone();
        config.seed = Some(seed);
        SimNode {
            node: Node::new(A::new(flags), config, origin),
            muted: false,
            timer_at: None,
            log: String::new(),
        }
    }
}

/// The whole simulation.
pub(super) struct World<A: App> {
    pub origin: Instant,
    pub now: Nanos,
    pub phase: Phase,
    pub ids: Vec<String>,
    pub nodes: Vec<SimNode<A>>,
    pub queue: Queue<Event>,
    pub opts: Options,
    pub net_rng: fastrand::Rng,
    pub net_rate: Option<crate::harness::net::NetRate>,
    pub grudge: Grudge,
    pub services: Services,
    pub service_rng: fastrand::Rng,
    pub clients: Clients,
    pub workload: Workload,
    /// Per node: its init client is open (setup not finished).
    pub init_open: Vec<bool>,
    /// Per node: setup requests still unanswered (`msg_id`s from the init client).
    pub setup_left: Vec<Vec<(u64, crate::harness::workload::Invocation)>>,
    pub nemesis: Option<nemesis::Schedule>,
    pub nemesis_rng: fastrand::Rng,
    pub history: Vec<Op>,
    pub messages: Vec<MessageEvent>,
    pub periods: Vec<NemesisPeriod>,
    pub violations: Vec<Violation>,
    pub stats: RunStats,
}

impl<A: App> World<A> {
    /// A world for one run of `opts`, nodes built from `flags`, before anything happened.
    pub fn new(flags: &A::Flags, opts: Options) -> Self {
        let origin = Instant::now();
        let run = &opts.run;
        let seed = opts.seed;
        let ids = run.node_ids();
        let nodes = (0..ids.len())
            .map(|i| {
                SimNode::new(
                    flags,
                    &opts.node,
                    derive_seed(seed, "node", i as u64),
                    origin,
                )
            })
            .collect();
        let schedule = if run.rate > 0.0 {
            Schedule::Rate(run.rate)
        } else {
            Schedule::Idle
        };
        let count = run.concurrency.clients(ids.len());
        let nemesis = run.nemesis.partition.then(|| {
            // The interval was validated when the flags were parsed.
            nemesis::Schedule::new(run.nemesis_interval(), Vec::new())
                .unwrap_or_else(|e| panic!("{e}"))
        });
        World {
            origin,
            now: 0,
            phase: Phase::Setup {
                deadline: INIT_TIMEOUT,
            },
            nodes,
            queue: Queue::default(),
            net_rng: fastrand::Rng::with_seed(derive_seed(seed, "net", 0)),
            net_rate: run.net_rate(),
            grudge: Grudge::none(ids.len()),
            services: Services::new(),
            service_rng: fastrand::Rng::with_seed(derive_seed(seed, "services", 0)),
            clients: Clients::new(ids.len(), count, schedule, seed),
            workload: Workload::new(run.workload_config()),
            init_open: vec![true; ids.len()],
            setup_left: vec![Vec::new(); ids.len()],
            nemesis,
            nemesis_rng: fastrand::Rng::with_seed(derive_seed(seed, "nemesis", 0)),
            history: Vec::new(),
            messages: Vec::new(),
            periods: Vec::new(),
            violations: Vec::new(),
            stats: RunStats::default(),
            ids,
            opts,
        }
    }

    /// Runs the simulation to its end and returns what happened.
    pub fn run(mut self) -> Outcome {
        let _capture = logger::Capture::start();
        self.send_inits();
        while self.phase != Phase::Done {
            self.step();
        }
        self.finish()
    }

    /// The ids the network knows now.
    pub fn endpoints(&self) -> Endpoints<'_> {
        Endpoints {
            nodes: &self.ids,
            clients: &self.clients,
            init_open: &self.init_open,
            setup_open: &[],
        }
    }

    /// The instant a node sees for virtual time `t`.
    pub fn instant(&self, t: Nanos) -> Instant {
        self.origin + Duration::from_nanos(t)
    }

    /// Does the first thing due, after moving the clock to it.
    fn step(&mut self) {
        let phase_at = self.phase_deadline();
        let nemesis_at = self.nemesis_next();
        let expire_at = self.clients.next_deadline();
        let queue_at = self.queue.next_at();
        // A start that waited for an idle client is due as soon as one is.
        let start_at = self.start_next().map(|t| t.max(self.now));
        let due = [phase_at, nemesis_at, expire_at, queue_at, start_at]
            .into_iter()
            .flatten()
            .min();
        let Some(due) = due else {
            // Nothing will ever happen again: the phase ends now, or the run does.
            let before = self.phase;
            self.advance_phase(true);
            if self.phase == before {
                self.phase = Phase::Done;
            }
            return;
        };
        debug_assert!(due >= self.now, "time went back from {} to {due}", self.now);
        self.now = due.max(self.now);
        if phase_at == Some(due) {
            self.advance_phase(true);
        } else if nemesis_at == Some(due) {
            self.nemesis_act();
        } else if expire_at == Some(due) {
            self.expire();
        } else if queue_at == Some(due) {
            if let Some((_, event)) = self.queue.pop() {
                self.stats.events += 1;
                self.handle(event);
            }
        } else if start_at == Some(due) {
            self.start_request();
        }
        self.advance_phase(false);
    }

    /// The instant the current phase ends by the clock, if it has one.
    fn phase_deadline(&self) -> Option<Nanos> {
        match self.phase {
            Phase::Setup { deadline } => Some(deadline),
            Phase::Workload { end } => Some(end),
            Phase::Quiet { until } => Some(until),
            Phase::Drain | Phase::Final | Phase::Done => None,
        }
    }

    fn nemesis_next(&self) -> Option<Nanos> {
        match self.phase {
            Phase::Workload { end } => self.nemesis.as_ref()?.next_at().filter(|&t| t < end),
            _ => None,
        }
    }

    fn start_next(&self) -> Option<Nanos> {
        match self.phase {
            Phase::Workload { end } => self.clients.next_start().filter(|&t| t < end),
            _ => None,
        }
    }

    /// Moves to the next phase when this one is over: by its deadline (`timed`), or because
    /// what it waits for has happened.
    fn advance_phase(&mut self, timed: bool) {
        match self.phase {
            Phase::Setup { .. } if self.init_open.iter().all(|open| !open) => self.start_workload(),
            Phase::Setup { .. } if timed => self.setup_timed_out(),
            Phase::Workload { end } if timed || self.now >= end => {
                self.clients.stop();
                self.phase = Phase::Drain;
                self.advance_phase(false);
            }
            Phase::Drain if self.clients.busy() == 0 => {
                if self.workload.kind().has_final_reads() {
                    self.heal();
                    self.phase = Phase::Quiet {
                        until: self.now + FINAL_QUIET_PERIOD,
                    };
                } else {
                    self.phase = Phase::Done;
                }
            }
            Phase::Quiet { until } if timed || self.now >= until => {
                self.send_final_reads();
                self.phase = Phase::Final;
                self.advance_phase(false);
            }
            Phase::Final if self.clients.busy() == 0 => self.phase = Phase::Done,
            _ => {}
        }
    }

    /// Some node did not finish init and setup in time: each is named, and the run ends.
    fn setup_timed_out(&mut self) {
        let late: Vec<String> = (self.ids.iter())
            .zip(&self.init_open)
            .filter(|(_, &open)| open)
            .map(|(id, _)| id.clone())
            .collect();
        let message = format!(
            "did not answer init and its setup within {} s",
            INIT_TIMEOUT / SECOND
        );
        for id in late {
            self.violation(&id, "init", message.clone());
        }
        self.phase = Phase::Done;
    }

    fn start_workload(&mut self) {
        let start = self.now;
        self.phase = Phase::Workload {
            end: start + self.opts.run.time_limit(),
        };
        self.stats.workload_start = start;
        for k in self.clients.start(start) {
            self.send_request(k);
        }
        if let Some(n) = &mut self.nemesis {
            n.start(start);
        }
    }

    fn nemesis_act(&mut self) {
        let n = self.ids.len();
        let Some(schedule) = &mut self.nemesis else {
            return;
        };
        match schedule.poll(self.now, n, &mut self.nemesis_rng) {
            Some(Action::Start(shape, grudge)) => {
                self.periods.push(NemesisPeriod {
                    start: self.now,
                    end: None,
                    kind: "partition".into(),
                    detail: format!("{shape}: {}", grudge.describe(&self.ids)),
                });
                self.grudge = grudge;
            }
            Some(Action::Stop) => self.end_partition(),
            None => {}
        }
    }

    /// Heals the network for good (before the final reads).
    fn heal(&mut self) {
        if let Some(Action::Stop) = self.nemesis.as_mut().and_then(|n| n.finish()) {
            self.end_partition();
        }
    }

    fn end_partition(&mut self) {
        if let Some(p) = self.periods.last_mut().filter(|p| p.end.is_none()) {
            p.end = Some(self.now);
        }
        self.grudge = Grudge::none(self.ids.len());
    }

    /// Records a protocol violation by node `id`.
    pub fn violation(&mut self, id: &str, kind: &'static str, message: String) {
        self.violations.push(Violation {
            time: self.now,
            node: id.to_string(),
            kind,
            message,
        });
    }

    /// Runs `f` on node `i` at the current instant, then routes what it wrote and puts its
    /// next timer on the agenda.
    pub fn step_node(&mut self, i: usize, f: impl FnOnce(&mut Node<A>, Instant)) {
        let now = self.instant(self.now);
        logger::set_now(self.now);
        f(&mut self.nodes[i].node, now);
        logger::take(&mut self.nodes[i].log);
        let out = self.nodes[i].node.outbox().take();
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            self.route(i, line);
        }
        self.schedule_timer(i);
    }

    fn schedule_timer(&mut self, i: usize) {
        let Some(deadline) = self.nodes[i].node.next_deadline() else {
            return;
        };
        let at =
            (deadline.saturating_duration_since(self.origin).as_nanos() as Nanos).max(self.now);
        if self.nodes[i].timer_at.is_some_and(|t| t <= at) {
            return;
        }
        self.nodes[i].timer_at = Some(at);
        self.queue.push(at, Event::Timer { node: i });
    }

    /// A node's timer event: runs what is due if this is still its earliest one.
    pub fn fire_timer(&mut self, i: usize) {
        if self.nodes[i].timer_at != Some(self.now) {
            return;
        }
        self.nodes[i].timer_at = None;
        self.step_node(i, |node, now| node.fire_timers(now));
    }

    fn finish(self) -> Outcome {
        let mut results = (self.workload).results(&self.history, self.opts.run.availability);
        results.insert("protocol", super::protocol_check(&self.violations));
        let mut stats = self.stats;
        stats.simulated = self.now;
        stats.clients_replaced = self.clients.replaced() as u64;
        Outcome {
            seed: self.opts.seed,
            results,
            history: self.history,
            messages: self.messages,
            nemesis: self.periods,
            logs: (self.ids.iter().cloned())
                .zip(self.nodes.into_iter().map(|n| n.log))
                .collect(),
            violations: self.violations,
            stats,
        }
    }
}
