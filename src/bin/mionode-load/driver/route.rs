//! Routing one line a node wrote, as Maelstrom's reader for that node does (`process.clj`,
//! `net.clj`): to a node or a service through the network, to a client that checks it, or,
//! when Maelstrom's reader would throw, nowhere ever again.
//!
//! Maelstrom's reader thread for a node stops at the first line it cannot send: a line that
//! is not JSON or not a message, a `src` or `dest` the network does not know (not a node, a
//! live client or a service). Everything the node writes afterwards is lost. Here the same
//! line is a protocol violation that names the cause, and the node is muted. Which ids are
//! known, and why one is not, is `mionode::harness::route`'s rule, shared with the simulator.

use std::time::Instant;

use serde_json::{Map, Value};

use mionode::harness::workload::Reply;

use super::{Driver, Phase};
use crate::failures::FailureKind;
use crate::network::Head;
use crate::wire;
use mionode::harness::route::{Dest, Endpoints};
use mionode::harness::service::ServiceKind;

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
        let Some(to) = self.endpoints().dest(dest) else {
            let message = format!(
                "sent a message to {dest:?}, which is {}: {}",
                self.endpoints().unknown_cause(dest),
                wire::excerpt(line)
            );
            return self.violation(i, FailureKind::UnknownDestination, message);
        };
        let ends = (&*envelope.src, dest);
        let network = match to {
            Dest::Node(j) => Some(j),
            Dest::Service(kind) => Some(self.service_endpoint(kind)),
            Dest::Client(_) | Dest::Init(_) | Dest::Setup(_) => None,
        };
        if let Some(j) = network {
            return wire::head(envelope.body, |head| {
                self.net
                    .send(now, (from, j), ends, head, line, &mut self.inputs[j])
            });
        }
        match to {
            Dest::Node(_) | Dest::Service(_) => {}
            Dest::Client(k) => {
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

    /// The ids the network knows now: setup clients only while the setup phase lasts.
    pub(super) fn endpoints(&self) -> Endpoints<'_> {
        let setup = matches!(self.phase, Phase::Setup { .. });
        Endpoints {
            nodes: &self.plan.ids,
            clients: &self.clients,
            init_open: &self.init_open,
            setup_open: if setup { &self.setup_open } else { &[] },
        }
    }

    /// The network endpoint of a service: after the nodes, in [`ServiceKind::ALL`]'s order.
    fn service_endpoint(&self, kind: ServiceKind) -> usize {
        let j = ServiceKind::ALL.iter().position(|&k| k == kind);
        self.plan.ids.len() + j.unwrap_or(0)
    }

    /// The network endpoint a message with this `src`, written by node `i`, comes from:
    /// Maelstrom accepts any id it knows as a source, and cuts links by the source written.
    /// A client or service source is never cut off. `None` for an unknown id.
    fn endpoint_of_src(&self, i: usize, src: &str) -> Option<usize> {
        if src == self.plan.ids[i] {
            return Some(i);
        }
        Some(match self.endpoints().dest(src)? {
            Dest::Node(j) => j,
            Dest::Service(kind) => self.service_endpoint(kind),
            // The index past nodes and services: a client, never cut off.
            Dest::Client(_) | Dest::Init(_) | Dest::Setup(_) => self.inputs.len(),
        })
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
            Some("init_ok") if i == c => self.init_open[c] = false,
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
