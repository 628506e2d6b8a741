//! Routing one line a node wrote, as Maelstrom's reader for that node does (`process.clj`,
//! `net.clj`): to a node or a service through the network, to a client that checks it, or,
//! when Maelstrom's reader would throw, nowhere ever again.
//!
//! Maelstrom's reader thread for a node stops at the first line it cannot send: a line that
//! is not JSON or not a message, a `src` or `dest` the network does not know (not a node, a
//! live client or a service). Everything the node writes afterwards is lost. Here the same
//! line is a protocol violation that names the cause, and the node is muted.

use std::time::Instant;

use serde_json::{Map, Value};

use mionode::harness::workload::Reply;

use super::{Driver, Phase};
use crate::failures::FailureKind;
use crate::network::Head;
use crate::wire;
use mionode::harness::clients::{client_number, Closed};

/// Where a destination id leads.
enum Dest {
    /// Node or service endpoint `j` on the network.
    Network(usize),
    /// Workload client slot k.
    Workload(usize),
    /// `c<i>`, which sent `init` to node i and waits for `init_ok`.
    Init(usize),
    /// The client of setup request `c`, waiting for its reply.
    Setup(usize),
}

impl Driver {
    /// Sends one line node `i` wrote where it says, or reports why Maelstrom would not.
    pub(super) fn route(&mut self, i: usize, line: &[u8]) {
        if self.nodes[i].muted {
            self.stats.lost_after_violation += 1;
            return;
        }
        let envelope = match wire::envelope(line) {
            Ok(envelope) => envelope,
            Err(e) => return self.invalid(i, e, line),
        };
        let now = Instant::now();
        let Some(from) = self.endpoint_of_src(i, &envelope.src) else {
            let message = format!(
                "wrote a message with src {:?}, which is neither a node, a live client nor a \
                 service: {}",
                envelope.src,
                wire::excerpt(line)
            );
            return self.violation(i, FailureKind::WrongSource, message);
        };
        let dest = &*envelope.dest;
        let Some(to) = self.dest_of(dest) else {
            let message = format!(
                "sent a message to {dest:?}, which is {}: {}",
                self.unknown_dest_cause(dest),
                wire::excerpt(line)
            );
            return self.violation(i, FailureKind::UnknownDestination, message);
        };
        let ends = (&*envelope.src, dest);
        match to {
            Dest::Network(j) => wire::head(envelope.body, |head| {
                self.net
                    .send(now, (from, j), ends, head, line, &mut self.inputs[j])
            }),
            Dest::Workload(k) => {
                let parsed = wire::client_body(envelope.body);
                self.count_to_client(now, ends, parsed.as_ref());
                if let Some((body, in_reply_to)) = parsed {
                    self.client_reply(i, k, body, in_reply_to, now);
                }
            }
            Dest::Init(c) => {
                let parsed = wire::client_body(envelope.body);
                self.count_to_client(now, ends, parsed.as_ref());
                if let Some((body, Some(1))) = parsed {
                    self.init_reply(i, c, body);
                }
            }
            Dest::Setup(c) => {
                let parsed = wire::client_body(envelope.body);
                self.count_to_client(now, ends, parsed.as_ref());
                if let Some((body, Some(1))) = parsed {
                    self.setup_reply(i, c, &body);
                }
            }
        }
    }

    /// The network endpoint a message with this `src`, written by node `i`, comes from:
    /// Maelstrom accepts any id it knows as a source, and cuts links by the source written.
    /// A client or service source is never cut off. `None` for an unknown id.
    fn endpoint_of_src(&self, i: usize, src: &str) -> Option<usize> {
        if src == self.plan.ids[i] {
            return Some(i);
        }
        if let Some(&j) = self.index.get(src) {
            return Some(j);
        }
        let known = self.clients.lookup(src).is_some()
            || self.init_client_open(src)
            || self.setup_client_open(src).is_some();
        // The index past nodes and services: a client, never cut off.
        known.then_some(self.inputs.len())
    }

    fn dest_of(&self, dest: &str) -> Option<Dest> {
        if let Some(&j) = self.index.get(dest) {
            return Some(Dest::Network(j));
        }
        if let Some(k) = self.clients.lookup(dest) {
            return Some(Dest::Workload(k));
        }
        if let Some(c) = self.setup_client_open(dest) {
            return Some(Dest::Setup(c));
        }
        let c = client_number(dest)?;
        self.init_client_open(dest).then_some(Dest::Init(c))
    }

    /// The setup request whose client is `id`, while it waits for its reply.
    fn setup_client_open(&self, id: &str) -> Option<usize> {
        if !matches!(self.phase, Phase::Setup { .. }) {
            return None;
        }
        self.setup
            .iter()
            .position(|s| s.client == id && !s.answered)
    }

    /// True for `c<i>` while node i has not answered its init.
    fn init_client_open(&self, id: &str) -> bool {
        client_number(id).is_some_and(|c| c < self.nodes.len() && !self.nodes[c].initialized)
    }

    /// Why `dest` is unknown, as precisely as the driver can tell.
    fn unknown_dest_cause(&self, dest: &str) -> String {
        let n = self.plan.ids.len();
        match (client_number(dest), self.clients.closed(dest)) {
            (Some(c), _) if c < n => format!(
                "the init client of {}, closed once its init was answered",
                self.plan.ids[c]
            ),
            (_, Some(Closed::Crashed)) => "a client that was closed after its request timed \
                out or ended indeterminate (Jepsen opens a new client with a new id; a late \
                reply hits an unknown destination)"
                .to_string(),
            (_, Some(Closed::Exited)) => {
                "a client that was closed when the clients stopped at the time limit".to_string()
            }
            (Some(c), _) if c < n + self.setup.len() => {
                "a setup client, closed once its request was answered".to_string()
            }
            _ => "neither a node, a live client nor a service".to_string(),
        }
    }

    /// Counts and traces a node's message to a client.
    fn count_to_client(
        &mut self,
        now: Instant,
        ends: (&str, &str),
        parsed: Option<&(Map<String, Value>, Option<i64>)>,
    ) {
        let head = match parsed {
            Some((body, in_reply_to)) => Head {
                kind: body.get("type").and_then(Value::as_str).unwrap_or(""),
                msg_id: body.get("msg_id").and_then(Value::as_u64),
                in_reply_to: in_reply_to.and_then(|r| u64::try_from(r).ok()),
            },
            None => Head::default(),
        };
        self.net.node_to_client(now, ends, head);
    }

    /// The protocol violation of writing `line`, which is not a valid message.
    fn invalid(&mut self, i: usize, error: String, line: &[u8]) {
        let message = format!("{error}: {}", wire::excerpt(line));
        self.violation(i, FailureKind::InvalidMessage, message);
    }

    /// A protocol violation: the run fails and, as in Maelstrom, the node's later output is
    /// lost.
    pub(super) fn violation(&mut self, i: usize, kind: FailureKind, message: String) {
        self.failures.push(kind, &self.plan.ids[i], message);
        self.nodes[i].muted = true;
    }

    /// A reply from node `i` to the client in slot `k`: ends its request if it answers it.
    fn client_reply(
        &mut self,
        _i: usize,
        k: usize,
        body: Map<String, Value>,
        in_reply_to: Option<i64>,
        now: Instant,
    ) {
        let in_reply_to = in_reply_to.and_then(|r| u64::try_from(r).ok());
        let Some(pending) = self.clients.answer(k, in_reply_to) else {
            self.stats.ignored_replies += 1;
            return;
        };
        let done = self.workload.complete(&pending.inv, Reply::Body(&body));
        self.completed(k, &pending, &done, now, false);
        if self.clients.is_closed_loop() {
            self.send_next(k, now);
        }
    }

    /// Node `i`'s answer to the init of client `c` (Maelstrom checks only its type).
    fn init_reply(&mut self, i: usize, c: usize, body: Map<String, Value>) {
        match body.get("type").and_then(Value::as_str) {
            Some("init_ok") if i == c => self.nodes[c].initialized = true,
            _ => {
                let message = format!(
                    "answered init with {}",
                    wire::excerpt(Value::Object(body).to_string().as_bytes())
                );
                self.failures
                    .push(FailureKind::Init, &self.plan.ids[i], message);
                self.phase = Phase::Done;
            }
        }
    }
}
