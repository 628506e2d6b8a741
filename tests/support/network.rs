//! A small Maelstrom stand-in for black-box tests: several `mionode` processes wired by a
//! network in the test process.
//!
//! Each node's stdout is read by a thread that stamps every line with the time it was read and
//! hands it to one router thread. The router looks at the line's `dest`: a line for a spawned
//! node goes to that node's stdin after the test's [`Rule`] decides its fate (deliver, drop,
//! delay); a line for a node of the cluster that was not spawned is dropped (a silent peer);
//! anything else is for a client and waits for the test in [`Network::recv`] and friends.
//! Node-to-node lines are kept in a trace the test can inspect afterwards.
//!
//! Dropping the network kills the nodes and joins every thread.

#![allow(dead_code)]

use std::collections::{BinaryHeap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What happens to a message between two spawned nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Delivered at once.
    Deliver,
    /// Never delivered.
    Drop,
    /// Delivered after this long.
    Delay(Duration),
}

/// Decides the fate of each node-to-node message, given as a parsed envelope.
pub type Rule = Box<dyn FnMut(&Value) -> Fate + Send>;

/// A node-to-node message as the router saw it.
#[derive(Debug, Clone)]
pub struct Traced {
    /// When its sender's reader thread read it.
    pub at: Instant,
    /// The whole message.
    pub msg: Value,
    /// What the router did with it.
    pub fate: Fate,
}

/// How to start a network.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster's node ids are `n1..=n{cluster}`.
    pub cluster: usize,
    /// The first `spawned` of them run as processes; the rest are silent.
    pub spawned: usize,
    /// Flags for every node.
    pub args: Vec<String>,
    /// Whether to keep node-to-node messages (off for floods).
    pub trace: bool,
}

impl Options {
    /// `cluster` nodes, all spawned, with `args`, traced.
    pub fn nodes(cluster: usize, args: &[&str]) -> Self {
        Options {
            cluster,
            spawned: cluster,
            args: args.iter().map(|a| a.to_string()).collect(),
            trace: true,
        }
    }
}

struct Proc {
    id: String,
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// Running nodes and the router between them.
pub struct Network {
    procs: Vec<Proc>,
    clients: Receiver<String>,
    unclaimed: VecDeque<Value>,
    trace: Arc<Mutex<Vec<Traced>>>,
    rule: Arc<Mutex<Rule>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    next_msg_id: u64,
}

/// A line read from a node's stdout.
struct Line {
    at: Instant,
    text: String,
}

impl Network {
    /// Spawns the nodes, starts the router and initializes every spawned node.
    pub fn start(options: Options) -> Network {
        let ids: Vec<String> = (1..=options.cluster).map(|i| format!("n{i}")).collect();
        let (lines_tx, lines_rx) = mpsc::channel::<Line>();
        let mut procs = Vec::new();
        let mut threads = Vec::new();
        for id in &ids[..options.spawned] {
            let (proc_, mut reader_threads) = spawn(id, &options.args, lines_tx.clone());
            procs.push(proc_);
            threads.append(&mut reader_threads);
        }
        drop(lines_tx);
        let (clients_tx, clients_rx) = mpsc::channel();
        let trace = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Mutex<Rule>> = Arc::new(Mutex::new(Box::new(|_: &Value| Fate::Deliver)));
        let stop = Arc::new(AtomicBool::new(false));
        let router = Router {
            ids: ids.clone(),
            stdins: procs
                .iter()
                .map(|p| (p.id.clone(), Arc::clone(&p.stdin)))
                .collect(),
            clients: clients_tx,
            trace: options.trace.then(|| Arc::clone(&trace)),
            rule: Arc::clone(&rule),
            delayed: BinaryHeap::new(),
            seq: 0,
        };
        let stop_router = Arc::clone(&stop);
        threads.push(std::thread::spawn(move || {
            router.run(lines_rx, &stop_router)
        }));
        let mut net = Network {
            procs,
            clients: clients_rx,
            unclaimed: VecDeque::new(),
            trace,
            rule,
            stop,
            threads,
            next_msg_id: 1,
        };
        for id in &ids[..options.spawned] {
            let init = json!({"type":"init","node_id":id,"node_ids":ids});
            let reply = net.call("c0", id, init, Duration::from_secs(5));
            assert_eq!(reply["body"]["type"], "init_ok", "{id}: {reply}");
        }
        net
    }

    /// Replaces the rule deciding the fate of node-to-node messages.
    pub fn set_rule(&self, rule: impl FnMut(&Value) -> Fate + Send + 'static) {
        *self.rule.lock().unwrap() = Box::new(rule);
    }

    /// Sends `body` from `client` to `node`, giving it the next `msg_id`; returns that id.
    pub fn send(&mut self, client: &str, node: &str, mut body: Value) -> u64 {
        let msg_id = self.next_msg_id;
        self.next_msg_id += 1;
        body["msg_id"] = json!(msg_id);
        let line = json!({"src": client, "dest": node, "body": body}).to_string();
        self.write_line(node, &line);
        msg_id
    }

    /// Writes one raw line to `node`'s stdin.
    pub fn write_line(&self, node: &str, line: &str) {
        self.write_raw(node, format!("{line}\n").as_bytes());
    }

    /// Writes bytes to `node`'s stdin as they are (many lines at once, for floods).
    pub fn write_raw(&self, node: &str, bytes: &[u8]) {
        let proc_ = self.proc_(node);
        proc_.stdin.lock().unwrap().write_all(bytes).unwrap();
    }

    /// Sends `body` and waits for the reply to it; other client messages are kept for
    /// [`recv`](Self::recv).
    pub fn call(&mut self, client: &str, node: &str, body: Value, timeout: Duration) -> Value {
        let msg_id = self.send(client, node, body);
        let deadline = Instant::now() + timeout;
        if let Some(i) = self
            .unclaimed
            .iter()
            .position(|m| m["body"]["in_reply_to"] == msg_id && m["dest"] == client)
        {
            return self.unclaimed.remove(i).unwrap();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(msg) = self.recv_raw(left) else {
                panic!("no reply to {client}'s msg_id {msg_id} from {node} within {timeout:?}");
            };
            if msg["body"]["in_reply_to"] == msg_id && msg["dest"] == client {
                return msg;
            }
            self.unclaimed.push_back(msg);
        }
    }

    /// The next message for a client, if one comes within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(msg) = self.unclaimed.pop_front() {
            return Some(msg);
        }
        self.recv_raw(timeout)
    }

    /// The next line for a client, unparsed (for floods).
    pub fn recv_line(&mut self, timeout: Duration) -> Option<String> {
        if let Some(msg) = self.unclaimed.pop_front() {
            return Some(msg.to_string());
        }
        self.clients.recv_timeout(timeout).ok()
    }

    fn recv_raw(&self, timeout: Duration) -> Option<Value> {
        let line = self.clients.recv_timeout(timeout).ok()?;
        Some(serde_json::from_str(&line).expect("nodes write JSON"))
    }

    /// Node-to-node messages so far.
    pub fn trace(&self) -> Vec<Traced> {
        self.trace.lock().unwrap().clone()
    }

    /// Messages `from` wrote to `to` so far, in order.
    pub fn sent(&self, from: &str, to: &str) -> Vec<Traced> {
        self.trace()
            .into_iter()
            .filter(|t| t.msg["src"] == from && t.msg["dest"] == to)
            .collect()
    }

    /// What `node` logged so far.
    pub fn stderr(&self, node: &str) -> Vec<String> {
        self.proc_(node).stderr.lock().unwrap().clone()
    }

    /// The process id of `node`.
    pub fn pid(&self, node: &str) -> u32 {
        self.proc_(node).child.id()
    }

    fn proc_(&self, node: &str) -> &Proc {
        let found = self.procs.iter().find(|p| p.id == node);
        found.unwrap_or_else(|| panic!("{node} was not spawned"))
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Starts node `id`, with threads reading its stdout into `lines` and its stderr into memory.
fn spawn(id: &str, args: &[String], lines: Sender<Line>) -> (Proc, Vec<JoinHandle<()>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mionode"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG")
        .spawn()
        .expect("spawn mionode");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let logged = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&logged);
    let threads = vec![
        std::thread::spawn(move || {
            for text in stdout.lines().map_while(Result::ok) {
                let at = Instant::now();
                if lines.send(Line { at, text }).is_err() {
                    break;
                }
            }
        }),
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line);
            }
        }),
    ];
    let proc_ = Proc {
        id: id.to_owned(),
        stdin: Arc::new(Mutex::new(child.stdin.take().unwrap())),
        child,
        stderr: logged,
    };
    (proc_, threads)
}

/// A message waiting out its delay; ordered so the heap pops the earliest first.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Delayed {
    due: std::cmp::Reverse<(Instant, u64)>,
    dest: String,
    text: String,
}

struct Router {
    ids: Vec<String>,
    stdins: Vec<(String, Arc<Mutex<ChildStdin>>)>,
    clients: Sender<String>,
    trace: Option<Arc<Mutex<Vec<Traced>>>>,
    rule: Arc<Mutex<Rule>>,
    delayed: BinaryHeap<Delayed>,
    seq: u64,
}

impl Router {
    fn run(mut self, lines: Receiver<Line>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            while self.delayed.peek().is_some_and(|d| d.due.0 .0 <= now) {
                let d = self.delayed.pop().unwrap();
                self.deliver(&d.dest, &d.text);
            }
            let wait = self.delayed.peek().map_or(Duration::from_millis(20), |d| {
                d.due.0 .0.saturating_duration_since(now)
            });
            match lines.recv_timeout(wait.min(Duration::from_millis(20))) {
                Ok(line) => self.route(line),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    fn route(&mut self, line: Line) {
        let dest = dest_of(&line.text).unwrap_or_else(|| panic!("no dest in {}", line.text));
        if !self.ids.iter().any(|id| id == dest) {
            // A client's; the test may have stopped listening, which is fine.
            let _ = self.clients.send(line.text);
            return;
        }
        let dest = dest.to_owned();
        let spawned = self.stdins.iter().any(|(id, _)| *id == dest);
        if !spawned && self.trace.is_none() {
            return;
        }
        let msg: Value = serde_json::from_str(&line.text).expect("nodes write JSON");
        let fate = if spawned {
            (self.rule.lock().unwrap())(&msg)
        } else {
            Fate::Drop
        };
        if let Some(trace) = &self.trace {
            let at = line.at;
            trace.lock().unwrap().push(Traced { at, msg, fate });
        }
        match fate {
            Fate::Deliver => self.deliver(&dest, &line.text),
            Fate::Drop => {}
            Fate::Delay(d) => {
                self.seq += 1;
                self.delayed.push(Delayed {
                    due: std::cmp::Reverse((Instant::now() + d, self.seq)),
                    dest,
                    text: line.text,
                });
            }
        }
    }

    fn deliver(&self, dest: &str, text: &str) {
        if let Some((_, stdin)) = self.stdins.iter().find(|(id, _)| id == dest) {
            let mut stdin = stdin.lock().unwrap();
            // A node killed at the end of a test has no stdin left; nothing to deliver to.
            let _ = stdin.write_all(text.as_bytes());
            let _ = stdin.write_all(b"\n");
        }
    }
}

/// The `dest` of a line mionode wrote, found without parsing it: mionode writes `src` and
/// `dest` first, as plain strings (node and client ids need no escapes).
fn dest_of(line: &str) -> Option<&str> {
    const KEY: &str = "\"dest\":\"";
    let start = line.find(KEY)? + KEY.len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}
