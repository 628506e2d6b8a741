//! Maelstrom's side of the simulation: the init clients, the workload's clients (through
//! [`crate::harness::clients`] and [`crate::harness::workload`]), the history they record,
//! and what each event on the agenda does.

use serde_json::{Map, Value};

use crate::app::App;
use crate::harness::record::OpType;
use crate::harness::workload::{Invocation, Reply, Turn};

use super::world::World;
use super::Event;

impl<A: App> World<A> {
    /// Does what an event of the agenda says.
    pub(super) fn handle(&mut self, event: Event) {
        match event {
            Event::Timer { node } => self.fire_timer(node),
            Event::ToNode {
                to,
                from,
                line,
                record,
            } => self.deliver_to_node(to, from, &line, record),
            Event::ToService {
                service,
                src,
                body,
                record,
            } => self.deliver_to_service(service, &src, &body, record),
            Event::ToClient { slot, body, record } => {
                self.mark_delivered(record);
                self.client_reply(slot, &body);
            }
            Event::ToInit {
                node,
                from,
                body,
                record,
            } => {
                self.mark_delivered(record);
                self.init_reply(node, from, &body);
            }
        }
    }

    /// Each node gets `init` from its init client, at once.
    pub(super) fn send_inits(&mut self) {
        let ids: Vec<Value> = self.ids.iter().map(|id| Value::from(id.as_str())).collect();
        for i in 0..self.ids.len() {
            let mut body = Map::new();
            body.insert("type".into(), Value::from("init"));
            body.insert("msg_id".into(), Value::from(1));
            body.insert("node_id".into(), Value::from(self.ids[i].as_str()));
            body.insert("node_ids".into(), Value::Array(ids.clone()));
            self.send_to_node(&format!("c{i}"), i, body);
        }
    }

    /// Node `from` answered init client `c<node>`: `init_ok`, then the setup messages; any
    /// other answer to init ends the run, as Maelstrom's setup does.
    fn init_reply(&mut self, node: usize, from: usize, body: &Map<String, Value>) {
        if !self.init_open[node] {
            return;
        }
        let in_reply_to = body.get("in_reply_to").and_then(Value::as_u64);
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
        if in_reply_to == Some(1) {
            if kind != "init_ok" || from != node {
                let id = self.ids[from].clone();
                let text = Value::Object(body.clone()).to_string();
                self.violation(&id, "init", format!("answered init with {text}"));
                self.phase = super::world::Phase::Done;
                return;
            }
            return self.send_setup(node);
        }
        let left = &mut self.setup_left[node];
        let Some(pos) = left.iter().position(|(id, _)| Some(*id) == in_reply_to) else {
            return;
        };
        let (_, inv) = left.remove(pos);
        let done = self.workload.complete(&inv, Reply::Body(body));
        if done.kind != OpType::Ok {
            let id = self.ids[node].clone();
            let text = Value::Object(body.clone()).to_string();
            self.violation(&id, "setup", format!("answered {} with {text}", inv.kind()));
        }
        self.init_open[node] = !self.setup_left[node].is_empty();
    }

    /// Sends node `node` its setup messages from its init client (msg_id 2, 3, ...), or
    /// closes the init client when there are none.
    fn send_setup(&mut self, node: usize) {
        let setup: Vec<Invocation> = (self.workload.setup().into_iter())
            .filter(|(n, _)| *n == node)
            .map(|(_, inv)| inv)
            .collect();
        for (k, inv) in setup.into_iter().enumerate() {
            let msg_id = 2 + k as u64;
            let body = request_body(&inv, msg_id);
            self.setup_left[node].push((msg_id, inv));
            self.send_to_node(&format!("c{node}"), node, body);
        }
        self.init_open[node] = !self.setup_left[node].is_empty();
    }

    /// The rate schedule's start due now, if a client is idle to take it.
    pub(super) fn start_request(&mut self) {
        if let Some(k) = self.clients.take_start(self.now) {
            self.send_request(k);
        }
    }

    /// Client slot `k` sends the workload's next request.
    pub(super) fn send_request(&mut self, k: usize) {
        let name = self.clients.name(k);
        let turn = Turn {
            now: self.now,
            process: &name,
            node: self.clients.node_of(k),
        };
        let inv = self.workload.invoke(self.clients.rng(k), &turn);
        self.begin(k, inv);
    }

    /// Slot `k` sends `inv`: recorded in the history, then on the network.
    fn begin(&mut self, k: usize, inv: Invocation) {
        let node = self.clients.node_of(k);
        let index = self.history.len() as u64;
        let (name, msg_id) = self.clients.begin(k, self.now, inv.clone(), Some(index));
        (self.history).push(inv.op(index, self.now, &name, &self.ids[node]));
        self.send_to_node(&name, node, request_body(&inv, msg_id));
    }

    /// After the quiet period: one final read per node, each from a client of its own.
    pub(super) fn send_final_reads(&mut self) {
        for (node, inv) in self.workload.final_reads() {
            let k = self.clients.add_slot(node);
            self.begin(k, inv);
        }
    }

    /// A node's reply to workload client slot `k`.
    fn client_reply(&mut self, k: usize, body: &Map<String, Value>) {
        let in_reply_to = body.get("in_reply_to").and_then(Value::as_u64);
        let Some(pending) = self.clients.answer(k, in_reply_to) else {
            self.stats.ignored_replies += 1;
            return;
        };
        let done = self.workload.complete(&pending.inv, Reply::Body(body));
        self.complete(k, &pending.inv, done);
        let in_workload = matches!(self.phase, super::world::Phase::Workload { .. });
        if self.clients.is_closed_loop() && in_workload {
            self.send_request(k);
        }
    }

    /// Every request whose client gave up on it by now.
    pub(super) fn expire(&mut self) {
        while let Some((k, pending)) = self.clients.expire(self.now) {
            let done = self.workload.complete(&pending.inv, Reply::Timeout);
            self.complete(k, &pending.inv, done);
        }
    }

    /// Records a completion; an indeterminate one crashes the client (replaced before its
    /// next request).
    fn complete(&mut self, k: usize, inv: &Invocation, done: crate::harness::workload::Completion) {
        let index = self.history.len() as u64;
        let name = self.clients.name(k);
        let node = &self.ids[self.clients.node_of(k)];
        self.history
            .push(done.op(inv, index, self.now, &name, node));
        if done.kind == OpType::Info {
            self.clients.crash(k);
        }
    }
}

/// The request body of `inv` with its `msg_id`.
fn request_body(inv: &Invocation, msg_id: u64) -> Map<String, Value> {
    let mut body = inv.body.clone();
    body.insert("msg_id".into(), Value::from(msg_id));
    body
}
