//! A small Maelstrom for the example nodes: N processes of one example, a network between
//! them with random latency, loss and partitions, the `lin-kv`, `seq-kv` and `lin-tso`
//! services, and clients that play a workload and record its history for the test's checker.
//!
//! One thread per node reads its stdout into a channel; everything else runs on the test's
//! thread: lines are routed by `dest` into a queue ordered by delivery time, services answer
//! from that queue, clients keep one request outstanding each and give up after
//! [`CLIENT_TIMEOUT`], recording the operation as indeterminate. Like Maelstrom, partitions
//! cut node-to-node links only; unlike it, loss applies to services' traffic too (a lost
//! service reply is what makes an RPC time out).
//!
//! The services are in [`services`](super::services).
//!
//! `mionode-load` plays Maelstrom too (tests/example_load.rs); this one stays for what it
//! does not do: restarting nodes, losing services' messages, and handing each test the
//! whole history for checks stricter than Maelstrom's.
//!
//! The checks Maelstrom makes on the network are made here too: a line to an unknown `dest`
//! (a client that has timed out and gone, or no one) is counted in [`History::invalid`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::services::Store;

/// How long a client waits for a reply before it records the operation as indeterminate and
/// is replaced by a new client (Maelstrom's 5 s).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Every example built by [`example`], once per test process (cargo serializes the builds of
/// several test processes itself).
const EXAMPLES: &[&str] = &[
    "echo",
    "unique_ids",
    "broadcast",
    "g_counter",
    "wrong_broadcast_once",
    "wrong_g_counter_blind",
    "wrong_g_counter_stale",
    "wrong_unique_ids_counter",
];

/// The path of example `name`, built with the test binary's profile and target directory.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        // This test runs as <target>/<profile>/deps/<test>-<hash>.
        let exe = std::env::current_exe().expect("test binary path");
        let profile_dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target/<profile>");
        let target = profile_dir.parent().expect("target dir");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_owned(),
            Some(other) => other.to_owned(),
            None => panic!("no profile in {}", profile_dir.display()),
        };
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--profile", &profile, "--target-dir"])
            .arg(target)
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
        for name in EXAMPLES {
            cmd.args(["--example", name]);
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the examples failed");
        profile_dir.join("examples")
    });
    assert!(EXAMPLES.contains(&name), "add {name} to EXAMPLES");
    dir.join(name)
}

/// A test run: the nodes, the network, the workload.
pub struct Spec {
    /// The example to run.
    pub example: &'static str,
    /// Nodes `n0..n{nodes-1}`.
    pub nodes: usize,
    /// Seeds the network, the workload and the partitions.
    pub seed: u64,
    /// One-way latency of every message: uniform in 0..=latency.
    pub latency: Duration,
    /// Probability that a node-to-node or service message is lost.
    pub loss: f64,
    /// Whether to cut the network into random halves (or isolate one node) every
    /// [`Spec::nemesis_every`], healing in between, during the main phase.
    pub partitions: bool,
    /// How long a partition (and a heal between two) lasts.
    pub nemesis_every: Duration,
    /// Kill and restart node k at these instants after the start (k round robin).
    pub restarts: Vec<Duration>,
    /// The main phase: clients issue `op`s.
    pub duration: Duration,
    /// After the main phase (the network healed, no new operations): this long before the
    /// final operations.
    pub quiesce: Duration,
    /// Mean pause of a client between two operations (uniform in 0..2x).
    pub think: Duration,
    /// What each node's client sends first, waiting for the answer: `setup(node_ids, k)`.
    pub setup: Option<fn(&[String], usize) -> Value>,
    /// A random operation's body (without `msg_id`).
    pub op: fn(&mut fastrand::Rng) -> Value,
    /// Sent once to every node at the end, its operation marked final.
    pub final_op: Option<Value>,
}

/// One client operation: what was asked and what came back.
#[derive(Debug, Clone)]
pub struct Op {
    /// Index of the node asked.
    pub node: usize,
    /// The request's body.
    pub request: Value,
    /// The reply's body; `None` when the client timed out.
    pub reply: Option<Value>,
    /// When the client sent it and got the answer (or gave up).
    pub invoked: Instant,
    /// See `invoked`.
    pub completed: Instant,
    /// Sent in the final phase.
    pub is_final: bool,
}

impl Op {
    /// The request's `type`.
    pub fn f(&self) -> &str {
        self.request["type"].as_str().unwrap_or_default()
    }

    /// The reply, if it is a success.
    pub fn ok(&self) -> Option<&Value> {
        self.reply.as_ref().filter(|r| r["type"] != "error")
    }

    /// Whether the operation may have happened: a success, a timeout, or an indefinite error
    /// (codes 0 and 13, and unknown codes).
    pub fn maybe_happened(&self) -> bool {
        match &self.reply {
            None => true,
            Some(r) if r["type"] != "error" => true,
            Some(r) => !matches!(
                r["code"].as_u64(),
                Some(1 | 10 | 11 | 12 | 14 | 20 | 21 | 22 | 30)
            ),
        }
    }
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct History {
    /// Every client operation, in order of completion.
    pub ops: Vec<Op>,
    /// Lines to a `dest` Maelstrom would not know (a client gone, no one): each would break
    /// Maelstrom's reader for that node.
    pub invalid: Vec<Value>,
    /// Node-to-node messages sent, and those the network dropped.
    pub node_messages: u64,
    /// See `node_messages`.
    pub dropped: u64,
}

impl History {
    /// Operations of type `f`.
    pub fn of<'a>(&'a self, f: &'a str) -> impl Iterator<Item = &'a Op> + 'a {
        self.ops.iter().filter(move |op| op.f() == f)
    }

    /// A one-line summary, for assertion messages.
    pub fn summary(&self) -> String {
        let mut by_f: BTreeMap<String, [u32; 3]> = BTreeMap::new();
        for op in &self.ops {
            let slot = match (&op.reply, op.ok()) {
                (_, Some(_)) => 0,
                (None, _) => 2,
                (Some(_), None) => 1,
            };
            by_f.entry(op.f().to_owned()).or_default()[slot] += 1;
        }
        format!(
            "ops (ok, error, timeout): {by_f:?}; node messages {} ({} dropped); invalid {}",
            self.node_messages,
            self.dropped,
            self.invalid.len()
        )
    }
}

/// Runs `spec` and returns its history; the nodes are killed at the end.
pub fn run(spec: &Spec) -> History {
    let mut cluster = Cluster::start(spec);
    let start = Instant::now();
    cluster.pump(start + spec.duration, true);
    cluster.groups = vec![0; spec.nodes];
    cluster.pump(Instant::now() + spec.quiesce, false);
    if let Some(body) = &spec.final_op {
        for c in &mut cluster.clients {
            c.script.push_back((body.clone(), true));
        }
    }
    let give_up = Instant::now() + CLIENT_TIMEOUT * 3;
    while Instant::now() < give_up && cluster.busy() {
        cluster.pump(Instant::now() + Duration::from_millis(50), false);
    }
    for p in &mut cluster.procs {
        let _ = p.0.kill();
        let _ = p.0.wait();
    }
    cluster.history
}

/// What the network holds until it is due.
enum Item {
    /// A line for node `.0`.
    ToNode(usize, String),
    /// A request from node `.0` for a service.
    ToService(usize, Value),
    /// A request from a client for node `.0`.
    FromClient(usize, String),
}

/// A client: one request outstanding at most.
struct Client {
    id: String,
    node: usize,
    next_msg_id: u64,
    /// The outstanding request: its `msg_id`, its op, when the client gives up.
    pending: Option<(u64, Op, Instant)>,
    next_at: Instant,
    /// Operations to send before random ones: (body, is_final).
    script: VecDeque<(Value, bool)>,
}

struct Cluster<'s> {
    spec: &'s Spec,
    ids: Vec<String>,
    procs: Vec<(Child, ChildStdin)>,
    lines: Receiver<(usize, String)>,
    lines_tx: Sender<(usize, String)>,
    rng: fastrand::Rng,
    queue: BTreeMap<(Instant, u64), Item>,
    seq: u64,
    groups: Vec<u8>,
    next_nemesis: Instant,
    restarts: VecDeque<Instant>,
    restarted: usize,
    stores: HashMap<&'static str, Store>,
    tso: u64,
    clients: Vec<Client>,
    next_client: u64,
    history: History,
}

impl<'s> Cluster<'s> {
    fn start(spec: &'s Spec) -> Cluster<'s> {
        let (lines_tx, lines) = mpsc::channel();
        let now = Instant::now();
        let mut cluster = Cluster {
            spec,
            ids: (0..spec.nodes).map(|i| format!("n{i}")).collect(),
            procs: Vec::new(),
            lines,
            lines_tx,
            rng: fastrand::Rng::with_seed(spec.seed),
            queue: BTreeMap::new(),
            seq: 0,
            groups: vec![0; spec.nodes],
            next_nemesis: now + spec.nemesis_every,
            restarts: spec.restarts.iter().map(|d| now + *d).collect(),
            restarted: 0,
            stores: HashMap::from([
                ("lin-kv", Store::linearizable()),
                ("seq-kv", Store::sequential()),
            ]),
            tso: 0,
            clients: Vec::new(),
            next_client: 1,
            history: History::default(),
        };
        for i in 0..spec.nodes {
            let proc_ = cluster.spawn(i);
            cluster.procs.push(proc_);
            let script = spec.setup.map(|f| (f(&cluster.ids, i), false));
            let client = cluster.new_client(i, now);
            cluster.clients.push(Client {
                script: script.into_iter().collect(),
                ..client
            });
        }
        cluster
    }

    /// Starts node `i`'s process and sends it `init`.
    fn spawn(&mut self, i: usize) -> (Child, ChildStdin) {
        let mut child = Command::new(example(self.spec.example))
            .args(["--seed", &self.rng.u64(..).to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the example");
        let stdout = child.stdout.take().expect("piped");
        let tx = self.lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((i, line)).is_err() {
                    break;
                }
            }
        });
        let mut stdin = child.stdin.take().expect("piped");
        let init =
            json!({"type": "init", "msg_id": 0, "node_id": self.ids[i], "node_ids": self.ids});
        let line = json!({"src": "c0", "dest": self.ids[i], "body": init});
        writeln!(stdin, "{line}").expect("write init");
        (child, stdin)
    }

    fn new_client(&mut self, node: usize, now: Instant) -> Client {
        self.next_client += 1;
        Client {
            id: format!("c{}", self.next_client),
            node,
            next_msg_id: 1,
            pending: None,
            next_at: now,
            script: VecDeque::new(),
        }
    }

    /// Whether a client still waits or has something to send.
    fn busy(&self) -> bool {
        self.clients
            .iter()
            .any(|c| c.pending.is_some() || !c.script.is_empty())
    }

    /// Runs the network, the services and the clients until `until`; `issue`: whether
    /// clients send random operations, and the nemesis acts.
    fn pump(&mut self, until: Instant, issue: bool) {
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            while let Some(entry) = self.queue.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let item = entry.remove();
                self.deliver(item, now);
            }
            self.tick_clients(now, issue);
            if issue {
                self.nemesis(now);
            }
            let next = self.queue.keys().next().map_or(until, |k| k.0.min(until));
            let wait = next
                .saturating_duration_since(now)
                .min(Duration::from_millis(2));
            match self.lines.recv_timeout(wait) {
                Ok((from, line)) => self.route(from, &line, Instant::now()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => unreachable!("we hold a sender"),
            }
        }
    }

    fn schedule(&mut self, at: Instant, item: Item) {
        self.seq += 1;
        self.queue.insert((at, self.seq), item);
    }

    fn latency(&mut self) -> Duration {
        let max = self.spec.latency.as_micros() as u64;
        Duration::from_micros(self.rng.u64(0..=max))
    }

    fn lost(&mut self) -> bool {
        self.rng.f64() < self.spec.loss
    }

    /// A line node `from` wrote.
    fn route(&mut self, from: usize, line: &str, now: Instant) {
        let msg: Value = serde_json::from_str(line).expect("nodes write JSON lines");
        let dest = msg["dest"].as_str().unwrap_or_default().to_owned();
        if let Some(to) = self.ids.iter().position(|id| *id == dest) {
            self.history.node_messages += 1;
            if self.groups[from] != self.groups[to] || self.lost() {
                self.history.dropped += 1;
                return;
            }
            let at = now + self.latency();
            self.schedule(at, Item::ToNode(to, line.to_owned()));
        } else if ["lin-kv", "seq-kv", "lin-tso"].contains(&dest.as_str()) {
            if !self.lost() {
                let at = now + self.latency();
                self.schedule(at, Item::ToService(from, msg));
            }
        } else if dest == "c0" && msg["body"]["type"] == "init_ok" {
        } else if let Some(c) = self.clients.iter_mut().find(|c| c.id == dest) {
            let answers = c.pending.as_ref().map(|p| p.0) == msg["body"]["in_reply_to"].as_u64();
            if let (true, Some((_, mut op, _))) = (answers, c.pending.take()) {
                op.reply = Some(msg["body"].clone());
                op.completed = now;
                let think = self.spec.think.as_micros() as u64 * 2;
                c.next_at = now + Duration::from_micros(self.rng.u64(0..=think));
                self.history.ops.push(op);
            }
        } else {
            self.history.invalid.push(msg);
        }
    }

    fn deliver(&mut self, item: Item, now: Instant) {
        match item {
            Item::ToNode(to, line) | Item::FromClient(to, line) => {
                // A node being restarted may have closed its stdin: the line is lost.
                let _ = writeln!(self.procs[to].1, "{line}");
            }
            Item::ToService(from, msg) => {
                let service = msg["dest"].as_str().unwrap_or_default();
                let body = &msg["body"];
                let mut reply = match service {
                    "lin-tso" => {
                        self.tso += 1;
                        json!({"type": "ts_ok", "ts": self.tso - 1})
                    }
                    name => {
                        let store = self.stores.get_mut(name).expect("a store");
                        store.handle(&self.ids[from], body, &mut self.rng)
                    }
                };
                reply["in_reply_to"] = body["msg_id"].clone();
                if !self.lost() {
                    let line = json!({"src": service, "dest": self.ids[from], "body": reply});
                    let at = now + self.latency();
                    self.schedule(at, Item::ToNode(from, line.to_string()));
                }
            }
        }
    }

    fn tick_clients(&mut self, now: Instant, issue: bool) {
        for k in 0..self.clients.len() {
            if self.clients[k].pending.as_ref().is_some_and(|p| p.2 <= now) {
                let (_, mut op, _) = self.clients[k].pending.take().expect("checked");
                op.completed = now;
                self.history.ops.push(op);
                // Maelstrom closes a client that timed out and opens another, with a new id.
                let fresh = self.new_client(self.clients[k].node, now);
                let script = std::mem::take(&mut self.clients[k].script);
                self.clients[k] = Client { script, ..fresh };
            }
            let c = &self.clients[k];
            if c.pending.is_some() || c.next_at > now {
                continue;
            }
            let (mut body, is_final) = match self.clients[k].script.pop_front() {
                Some(scripted) => scripted,
                None if issue => ((self.spec.op)(&mut self.rng), false),
                None => continue,
            };
            let c = &mut self.clients[k];
            body["msg_id"] = json!(c.next_msg_id);
            let line = json!({"src": c.id, "dest": self.ids[c.node], "body": body});
            let op = Op {
                node: c.node,
                request: body,
                reply: None,
                invoked: now,
                completed: now,
                is_final,
            };
            c.pending = Some((c.next_msg_id, op, now + CLIENT_TIMEOUT));
            c.next_msg_id += 1;
            let node = c.node;
            let at = now + self.latency();
            self.schedule(at, Item::FromClient(node, line.to_string()));
        }
    }

    /// Partitions and heals in turn; restarts a node when one is due.
    fn nemesis(&mut self, now: Instant) {
        if self.restarts.front().is_some_and(|at| *at <= now) {
            self.restarts.pop_front();
            let k = self.restarted % self.spec.nodes;
            self.restarted += 1;
            let _ = self.procs[k].0.kill();
            let _ = self.procs[k].0.wait();
            self.procs[k] = self.spawn(k);
        }
        if !self.spec.partitions || now < self.next_nemesis {
            return;
        }
        self.next_nemesis = now + self.spec.nemesis_every;
        if self.groups.iter().any(|g| *g != 0) {
            self.groups.iter_mut().for_each(|g| *g = 0);
        } else if self.rng.bool() {
            let lonely = self.rng.usize(..self.spec.nodes);
            self.groups[lonely] = 1;
        } else {
            let mut order: Vec<usize> = (0..self.spec.nodes).collect();
            self.rng.shuffle(&mut order);
            for i in &order[..self.spec.nodes / 2] {
                self.groups[*i] = 1;
            }
        }
    }
}
