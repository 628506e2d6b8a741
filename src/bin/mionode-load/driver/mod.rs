//! The event loop: one thread, one `mio::Poll`, every node's pipes and the signals on it.
//!
//! Why one loop and not a thread per node: the driver's work per message is small (find the
//! newline, parse the envelope, splice in an `id`, append to the receiver's buffer), so what
//! it costs is wake-ups and cross-thread hand-offs, not computation. One loop reads each
//! node's stdout in chunks of up to [`READ_CHUNK`] bytes, routes every complete line in the
//! chunk, and writes each node's accumulated input with one `write` per turn: under load a
//! turn moves hundreds of messages per system call, and no message ever crosses a thread.
//! It also keeps the network's state (latency queue, partitions, counters) single-owner and
//! the random choices in one deterministic order per stream. On this 2-core machine the nodes
//! need the other core; a second driver thread would only compete with them.
//!
//! A turn: wait for readiness or the earliest deadline (a delayed message, a client timeout,
//! a start on the rate schedule, a nemesis action, the 100 ms tick, the end of a phase);
//! read every readable node until `WouldBlock` or its budget (a busy node cannot starve the
//! others or the timers); deliver due messages (those to services are answered at once);
//! expire timed-out requests; start due requests; advance the phase; flush every node's
//! input. The phases are in `phase.rs`. A second Ctrl-C skips what is left of the run.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use mionode::harness::clients::Clients;
use mionode::harness::record::Op;
use mionode::harness::seed::derive_seed;
use mionode::harness::service::{ServiceKind, Services};
use mionode::harness::store::HistoryWriter;
use mionode::harness::workload::{Invocation, Turn, Workload};

use crate::failures::{FailureKind, Failures};
use crate::nemesis::Nemesis;
use crate::network::{Head, Network};
use crate::process::{NodeProcess, READ_CHUNK};
use crate::progress::Progress;
use crate::stats::Stats;
use crate::wire;

mod history;
mod phase;
mod route;
mod services;
mod stop;

/// How long nodes get to exit after their stdin is closed before they are killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// Period of the housekeeping tick: progress bar, exit checks.
const TICK: Duration = Duration::from_millis(100);

/// Reads per node per turn before the loop looks at the others and at its timers.
const READS_PER_TURN: usize = 4;

/// Open-loop starts per turn, so a driver that fell behind catches up without starving reads.
const STARTS_PER_TURN: usize = 10_000;

/// The longest line accepted from a node; a longer one is a protocol violation.
pub const MAX_LINE: usize = 64 << 20;

/// Signals share the poll with the pipes; pipe tokens are `2i` (stdout) and `2i + 1` (stdin).
const SIGNALS: Token = Token(usize::MAX);

/// What a run needs besides the nodes.
#[derive(Debug)]
pub struct Plan {
    /// The node binary.
    pub bin: PathBuf,
    /// Arguments given to every node.
    pub args: Vec<String>,
    /// The working directory of every node.
    pub dir: PathBuf,
    /// The run directory: `history.jsonl` is written there as the run goes.
    pub run_dir: PathBuf,
    /// Where each node's stderr goes, as `<id>.log`.
    pub logs: PathBuf,
    /// Node ids, in order.
    pub ids: Vec<String>,
    /// How long each node has to answer `init`.
    pub init_timeout: Duration,
    /// How long clients send.
    pub time_limit: Duration,
    /// How long to wait for replies in flight afterwards.
    pub grace: Duration,
    /// How long the network is left healed and quiet before the final reads.
    pub recovery: Duration,
    /// Close each node's stdin at the end and let it exit before the kill.
    pub close_stdin: bool,
    /// How many messages the trace keeps (the first ones).
    pub trace_cap: usize,
    /// The longest input line the node accepts (`--node-max-line`): longer requests are
    /// counted and named in the report.
    pub node_max_line: usize,
}

/// Per-node state the loop keeps besides the process.
#[derive(Debug, Default)]
struct NodeState {
    /// The start of a line split across reads of stdout.
    partial: Vec<u8>,
    /// Stdout has more to read (edge-triggered readiness seen, `WouldBlock` not yet).
    readable: bool,
    /// Committed a protocol violation: what it writes from now on is lost.
    muted: bool,
    /// When its stdout reached end of file.
    eof_at: Option<Instant>,
    /// Exited or closed stdout before the end (already reported).
    gone: bool,
}

/// Where the run is (`phase.rs` moves it on).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Every node must answer `init` by `until`.
    Init { until: Instant },
    /// The setup messages (broadcast's `topology`) must be answered by `until`.
    Setup { until: Instant },
    /// The clients make requests until `until`.
    Run { until: Instant },
    /// No new requests; waiting up to `until` for those in flight.
    Drain { until: Instant },
    /// Healed and quiet until `until`, then the final reads.
    Recover { until: Instant },
    /// The final reads, until answered or `until`.
    Final { until: Instant },
    /// Over.
    Done,
}

/// A setup request (one per node, from its own client) and whether it was answered.
#[derive(Debug)]
struct SetupCall {
    /// The client that sends it.
    client: String,
    node: usize,
    inv: Invocation,
}

/// What the loop leaves for the report.
#[derive(Debug)]
pub struct Record {
    /// Operations by kind and outcome.
    pub stats: Stats,
    /// The network's counts.
    pub net: crate::network::NetStats,
    /// Why the run failed, if it did.
    pub failures: Failures,
    /// The periods a partition was in force.
    pub nemesis: Vec<mionode::harness::record::NemesisPeriod>,
    /// The history, for the checks.
    pub history: Vec<Op>,
    /// The workload, for its checker.
    pub workload: Workload,
    /// The first messages the network carried.
    pub messages: Vec<mionode::harness::record::MessageEvent>,
    /// The first error writing the history, if any (the run goes on without it).
    pub history_error: Option<String>,
    /// Per node: id, pid, how it ended.
    pub nodes: Vec<(String, u32, String)>,
    /// From the first request to the time limit (or Ctrl-C).
    pub duration: Duration,
    /// Workload clients opened.
    pub clients: usize,
    /// Clients replaced after an indeterminate outcome.
    pub replaced_clients: usize,
    /// The run was cut short by a signal.
    pub interrupted: bool,
}

/// The running cluster and everything between its nodes and clients.
pub struct Driver {
    poll: Poll,
    signals: Signals,
    plan: Plan,
    /// Maelstrom's services, endpoints `nodes..nodes + ServiceKind::ALL.len()`.
    services: Services,
    /// The generator of the services' random choices (seq-kv's stale reads, lww-kv's
    /// replica).
    service_rng: fastrand::Rng,
    /// The history in memory, for the checks at the end.
    ops: Vec<Op>,
    /// The setup requests, sent when every node has answered init.
    setup: Vec<SetupCall>,
    /// Whether init client `c<i>` is still open: node i has not answered `init_ok`.
    init_open: Vec<bool>,
    /// Whether the client of setup request s still waits for its reply (while the run is in
    /// its setup phase: [`Driver::endpoints`]).
    setup_open: Vec<bool>,
    /// Time zero of the history and the trace.
    origin: Instant,
    history: HistoryWriter,
    history_error: Option<String>,
    index: HashMap<String, usize>,
    procs: Vec<NodeProcess>,
    nodes: Vec<NodeState>,
    /// Each node's stdin bytes not yet written.
    inputs: Vec<Vec<u8>>,
    /// The buffer every read from a node's stdout goes into.
    chunk: Vec<u8>,
    net: Network,
    clients: Clients,
    workload: Workload,
    nemesis: Nemesis,
    failures: Failures,
    stats: Stats,
    progress: Progress,
    phase: Phase,
    started: Option<Instant>,
    stopped: Option<Instant>,
    signals_seen: u32,
}

impl Driver {
    /// Starts one process per node (`bin args...`, stderr into `logs/<id>.log`) and sends
    /// each its `init`.
    pub fn start(
        plan: Plan,
        net: Network,
        (clients, workload): (Clients, Workload),
        nemesis: Nemesis,
        progress: Progress,
        seed: u64,
    ) -> io::Result<Driver> {
        let origin = Instant::now();
        let history = HistoryWriter::create(&plan.run_dir)?;
        let mut net = net;
        net.trace_from(origin, plan.trace_cap);
        let poll = Poll::new()?;
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let mut procs = Vec::with_capacity(plan.ids.len());
        for (i, id) in plan.ids.iter().enumerate() {
            let log = plan.logs.join(format!("{id}.log"));
            let tokens = (Token(2 * i), Token(2 * i + 1));
            let registry = poll.registry();
            let proc = NodeProcess::spawn(&plan.bin, &plan.args, &plan.dir, &log, registry, tokens)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", plan.bin.display())))?;
            procs.push(proc);
        }
        let n = plan.ids.len();
        let mut index: HashMap<String, usize> = plan.ids.iter().cloned().zip(0..).collect();
        for (j, kind) in ServiceKind::ALL.iter().enumerate() {
            index.insert(kind.name().to_string(), n + j);
        }
        let setup = workload
            .setup()
            .into_iter()
            .enumerate()
            .map(|(c, (node, inv))| SetupCall {
                client: format!("c{}", n + c),
                node,
                inv,
            })
            .collect::<Vec<_>>();
        let now = Instant::now();
        let mut driver = Driver {
            poll,
            signals,
            services: Services::new(),
            service_rng: fastrand::Rng::with_seed(derive_seed(seed, "services", 0)),
            ops: Vec::new(),
            init_open: vec![true; n],
            setup_open: vec![true; setup.len()],
            setup,
            origin,
            history,
            history_error: None,
            index,
            procs,
            nodes: (0..n).map(|_| NodeState::default()).collect(),
            inputs: vec![Vec::new(); n + ServiceKind::ALL.len()],
            chunk: vec![0; READ_CHUNK],
            net,
            clients,
            workload,
            nemesis,
            failures: Failures::default(),
            stats: Stats::default(),
            progress,
            phase: Phase::Init {
                until: now + plan.init_timeout,
            },
            started: None,
            stopped: None,
            signals_seen: 0,
            plan,
        };
        driver.send_inits();
        Ok(driver)
    }

    /// Client `ci` sends `init` to node i, for every node.
    fn send_inits(&mut self) {
        let ids = &self.plan.ids;
        let now = Instant::now();
        let head = Head {
            kind: "init",
            msg_id: Some(1),
            in_reply_to: None,
        };
        for (i, id) in ids.iter().enumerate() {
            let client = format!("c{i}");
            let ends = (client.as_str(), id.as_str());
            self.net
                .client_to_node(now, ends, head, &mut self.inputs[i], |out| {
                    out.extend_from_slice(b"{\"type\":\"init\",\"msg_id\":1,\"node_id\":");
                    wire::write_json_str(out, id);
                    out.extend_from_slice(b",\"node_ids\":");
                    let _ = serde_json::to_writer(&mut *out, ids);
                    out.push(b'}');
                });
        }
    }

    /// Runs the loop to the end, stops the nodes and returns what happened.
    pub fn run(mut self) -> io::Result<Record> {
        let mut events = Events::with_capacity(256);
        let mut next_tick = Instant::now();
        while self.phase != Phase::Done {
            self.flush();
            let now = Instant::now();
            let timeout = if self.nodes.iter().any(|n| n.readable) {
                Duration::ZERO
            } else {
                self.next_deadline(next_tick).saturating_duration_since(now)
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            for event in &events {
                match event.token() {
                    SIGNALS => self.on_signals(),
                    Token(t) if t % 2 == 0 && t / 2 < self.nodes.len() => {
                        self.nodes[t / 2].readable = true
                    }
                    // Writable stdin: the flush at the top of the next turn writes. Other
                    // tokens cannot occur; a spurious event would only cost a turn.
                    _ => {}
                }
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].readable {
                    self.read_node(i);
                }
            }
            let now = Instant::now();
            self.net.deliver_due(now, &mut self.inputs);
            self.serve(now);
            self.expire_requests(now);
            self.start_requests(now);
            self.nemesis.tick(now, &mut self.net);
            if now >= next_tick {
                next_tick = now + TICK;
                self.tick(now);
            }
            self.advance(now);
        }
        self.progress.finish();
        Ok(self.stop())
    }

    /// The earliest moment the loop has something to do without new input.
    fn next_deadline(&self, next_tick: Instant) -> Instant {
        let phase_end = match self.phase {
            Phase::Init { until }
            | Phase::Setup { until }
            | Phase::Run { until }
            | Phase::Drain { until }
            | Phase::Recover { until }
            | Phase::Final { until } => until,
            Phase::Done => next_tick,
        };
        [
            self.net.next_due(),
            self.clients.next_deadline().map(|at| self.instant(at)),
            self.clients.next_start().map(|at| self.instant(at)),
            self.nemesis.next_at(),
        ]
        .into_iter()
        .flatten()
        .fold(next_tick.min(phase_end), Instant::min)
    }

    fn on_signals(&mut self) {
        let count = self.signals.pending().count() as u32;
        self.signals_seen += count;
        if self.signals_seen >= 2 {
            self.phase = Phase::Done;
        } else if count > 0 {
            self.phase = match self.phase {
                Phase::Init { .. } => Phase::Done,
                Phase::Run { .. } => Phase::Run {
                    until: Instant::now(),
                },
                other => other,
            };
        }
    }

    /// Reads node `i` until `WouldBlock`, end of file or its budget, routing each line.
    fn read_node(&mut self, i: usize) {
        let mut chunk = std::mem::take(&mut self.chunk);
        for _ in 0..READS_PER_TURN {
            match self.procs[i].read(&mut chunk) {
                Ok(0) => {
                    self.nodes[i].readable = false;
                    self.nodes[i].eof_at = Some(Instant::now());
                    self.check_exit(i, Instant::now());
                    break;
                }
                Ok(n) => self.route_lines(i, &chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.nodes[i].readable = false;
                    break;
                }
                Err(_) => {
                    self.nodes[i].readable = false;
                    self.nodes[i].eof_at = Some(Instant::now());
                    break;
                }
            }
        }
        self.chunk = chunk;
    }

    /// Routes every line that `data`, read from node `i`, completes.
    fn route_lines(&mut self, i: usize, data: &[u8]) {
        let mut partial = std::mem::take(&mut self.nodes[i].partial);
        wire::split_lines(&mut partial, data, |line| self.route(i, line));
        self.nodes[i].partial = partial;
        self.check_partial(i);
    }

    /// A line longer than [`MAX_LINE`] is a protocol violation, and is not kept whole.
    fn check_partial(&mut self, i: usize) {
        if self.nodes[i].partial.len() > MAX_LINE {
            if !self.nodes[i].muted {
                let message = format!("wrote a line longer than {MAX_LINE} bytes");
                self.violation(i, FailureKind::InvalidMessage, message);
            }
            self.nodes[i].partial.clear();
        }
    }

    /// Client `k` sends its next request, if the clients are still running.
    fn send_next(&mut self, k: usize, now: Instant) {
        if !matches!(self.phase, Phase::Run { .. }) {
            return;
        }
        let name = self.clients.name(k);
        let turn = Turn {
            now: self.nanos(now),
            process: &name,
            node: self.clients.node_of(k),
        };
        let inv = self.workload.invoke(self.clients.rng(k), &turn);
        self.send_invocation(k, now, inv);
    }

    /// Slot `k` sends `inv` (a request of the workload's, or a final read) to its node
    /// through the network; the invocation is counted and recorded. A crashed client is
    /// replaced first (`Clients::begin`).
    pub(super) fn send_invocation(&mut self, k: usize, now: Instant, inv: Invocation) {
        let f = inv.f;
        let (name, msg_id) = self.clients.begin(k, self.nanos(now), inv, None);
        let node = self.clients.node_of(k);
        let Some(pending) = self.clients.pending(k) else {
            return;
        };
        let inv = &pending.inv;
        let head = Head {
            kind: inv.kind(),
            msg_id: Some(msg_id),
            in_reply_to: None,
        };
        let ends = (name.as_str(), self.plan.ids[node].as_str());
        let input = &mut self.inputs[node];
        let before = input.len();
        (self.net).client_to_node(now, ends, head, input, |out| inv.write_body(msg_id, out));
        let bytes = input.len().saturating_sub(before + 1);
        self.clients.set_bytes(k, bytes);
        self.stats.invoked(f);
        self.invoked(k, now);
    }

    fn expire_requests(&mut self, now: Instant) {
        while let Some((k, pending)) = self.clients.expire(self.nanos(now)) {
            self.timed_out(k, pending, now);
            if self.clients.is_closed_loop() {
                self.send_next(k, now);
            }
        }
    }

    fn start_requests(&mut self, now: Instant) {
        for _ in 0..STARTS_PER_TURN {
            match self.clients.take_start(self.nanos(now)) {
                Some(k) => self.send_next(k, now),
                None => break,
            }
        }
    }

    /// Housekeeping every [`TICK`]: exits and the progress bar.
    fn tick(&mut self, now: Instant) {
        for i in 0..self.nodes.len() {
            self.check_exit(i, now);
        }
        if let (Some(started), Phase::Run { .. }) = (self.started, self.phase) {
            let ended = self.stats.ended_count();
            self.progress.update(now, now - started, ended);
        }
    }

    /// Reports node `i` if it exited, or closed its stdout a while ago, before the end.
    fn check_exit(&mut self, i: usize, now: Instant) {
        if self.nodes[i].gone {
            return;
        }
        let message = match (self.procs[i].try_wait(), self.nodes[i].eof_at) {
            (Some(status), _) => format!("exited before the end of the run ({status})"),
            (None, Some(at)) if now - at >= STOP_TIMEOUT => {
                "closed its stdout before the end of the run".to_string()
            }
            _ => return,
        };
        self.nodes[i].gone = true;
        self.failures
            .push(FailureKind::Crashed, &self.plan.ids[i], message);
        if self.nodes.iter().all(|n| n.gone) {
            self.phase = Phase::Done;
        }
    }

    /// Writes every node's pending input (services' inputs are consumed by `serve`).
    fn flush(&mut self) {
        for (proc, input) in self.procs.iter_mut().zip(&mut self.inputs) {
            proc.flush(input);
        }
    }
}
