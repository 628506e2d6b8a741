//! Routing one line a node wrote: to a node through the network, to a client through the
//! checker, or nowhere, as a protocol violation.

use std::time::Instant;

use serde_json::{Map, Value};

use super::{Driver, Phase};
use crate::checker::{check_reply, FailureKind, Outcome};
use crate::clients::client_number;
use crate::wire;

/// A live client a node may write to.
enum Client {
    /// Workload client number k (index into the clients).
    Workload(usize),
    /// `c<i>`, which sent `init` to node i and waits for `init_ok`.
    Init(usize),
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
        if envelope.src != self.plan.ids[i] {
            let message = format!(
                "wrote a message with src {:?} instead of its own id: {}",
                envelope.src,
                wire::excerpt(line)
            );
            return self.violation(i, FailureKind::WrongSource, message);
        }
        let dest = &*envelope.dest;
        if let Some(&j) = self.index.get(dest) {
            if let Err(e) = wire::check_body(envelope.body) {
                return self.invalid(i, e, line);
            }
            let now = Instant::now();
            return self.net.node_to_node(now, i, j, line, &mut self.inputs[j]);
        }
        let client = self.clients.lookup(dest).map(Client::Workload).or_else(|| {
            let c = client_number(dest)?;
            let waiting = c < self.nodes.len() && !self.nodes[c].initialized;
            waiting.then_some(Client::Init(c))
        });
        let Some(client) = client else {
            let message = format!(
                "sent a message to {dest:?}, which is neither a node nor a live client: {}",
                wire::excerpt(line)
            );
            return self.violation(i, FailureKind::UnknownDestination, message);
        };
        let (body, in_reply_to) = match wire::client_body(envelope.body) {
            Ok(parsed) => parsed,
            Err(e) => return self.invalid(i, e, line),
        };
        self.net.node_to_client();
        match client {
            Client::Workload(k) => self.client_reply(i, k, body, in_reply_to),
            Client::Init(c) => self.init_reply(i, c, body, in_reply_to),
        }
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

    /// Checks a reply from node `i` to workload client `k`.
    fn client_reply(
        &mut self,
        i: usize,
        k: usize,
        body: Map<String, Value>,
        in_reply_to: Option<i64>,
    ) {
        let Some(pending) = self.clients.answer(k, in_reply_to) else {
            self.stats.ignored_replies += 1;
            return;
        };
        let now = Instant::now();
        let outcome = check_reply(pending.kind, &pending.expected, &body);
        self.stats
            .ended(pending.kind, &outcome, now - pending.sent_at);
        if let Outcome::Wrong(kind, message) = outcome {
            let message = format!(
                "{message} (reply to {} msg_id {}: {})",
                self.clients.name(k),
                pending.msg_id,
                wire::excerpt(Value::Object(body).to_string().as_bytes())
            );
            self.failures.push(kind, &self.plan.ids[i], message);
        }
        if self.clients.is_closed_loop() {
            self.send_next(k, now);
        }
    }

    /// Checks node `i`'s answer to the init of client `c`.
    fn init_reply(
        &mut self,
        i: usize,
        c: usize,
        body: Map<String, Value>,
        in_reply_to: Option<i64>,
    ) {
        let ty = body.get("type").and_then(Value::as_str).unwrap_or("");
        let extra = body
            .keys()
            .find(|k| !["type", "msg_id", "in_reply_to"].contains(&k.as_str()));
        let problem = match (ty, in_reply_to, extra) {
            ("init_ok", Some(1), None) if i == c => None,
            ("init_ok", Some(1), Some(extra)) => {
                Some(format!("init_ok has an extra field `{extra}`"))
            }
            _ => Some(format!(
                "answered init with {}",
                wire::excerpt(Value::Object(body).to_string().as_bytes())
            )),
        };
        match problem {
            None => self.nodes[c].initialized = true,
            Some(message) => {
                self.failures
                    .push(FailureKind::Init, &self.plan.ids[i], message);
                self.phase = Phase::Done;
            }
        }
    }
}
