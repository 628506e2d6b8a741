//! The simulated network: what a node writes is routed as Maelstrom routes it
//! ([`crate::harness::route`]), delayed, lost, duplicated, throttled and re-encoded as
//! [`crate::harness::net`] says, cut by the nemesis's grudge at delivery, and recorded.
//!
//! Every message gets the network's id (Maelstrom's top-level `id`) and is re-encoded with a
//! key order drawn from the run's network generator, so a node that depends on key order or
//! exact bytes fails here as it would under Maelstrom. Messages to and from clients have no
//! latency and are never cut; links to services are never cut either. Loss and duplication
//! apply between nodes only.

use serde_json::{Map, Value};

use crate::app::App;
use crate::harness::net::{involves_client, reencode};
use crate::harness::record::{MessageEvent, Nanos};
use crate::harness::route::Dest;

use super::world::World;
use super::Event;

impl<A: App> World<A> {
    /// Routes one line node `i` wrote, or mutes the node as Maelstrom's reader would.
    pub(super) fn route(&mut self, i: usize, line: &[u8]) {
        if self.nodes[i].muted {
            self.stats.lost_after_violation += 1;
            return;
        }
        let mut msg: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => return self.mute(i, "invalid-message", format!("{e}: {}", excerpt(line))),
        };
        let Some((src, dest)) = envelope(&msg) else {
            let why = "not a message with string src and dest and an object body";
            return self.mute(i, "invalid-message", format!("{why}: {}", excerpt(line)));
        };
        let endpoints = self.endpoints();
        if !endpoints.src_known(i, src) {
            let why = format!(
                "wrote a message with src {src:?}, which is neither a node, a live client nor \
                 a service: {}",
                excerpt(line)
            );
            return self.mute(i, "wrong-source", why);
        }
        let Some(to) = endpoints.dest(dest) else {
            let why = format!(
                "sent a message to {dest:?}, which is {}: {}",
                endpoints.unknown_cause(dest),
                excerpt(line)
            );
            return self.mute(i, "unknown-destination", why);
        };
        let from = endpoints.node(src);
        match to {
            Dest::Node(j) => self.node_to_node(from, j, msg),
            Dest::Service(service) => {
                let record = self.record(&msg);
                let at = self.transit(src, dest);
                let src = src.to_string();
                let body = msg["body"].take();
                self.queue.push(
                    at,
                    Event::ToService {
                        service,
                        src,
                        body,
                        record,
                    },
                );
            }
            // The simulator sends setup from the init client: its `setup_open` is empty.
            Dest::Setup(_) => {}
            Dest::Client(slot) => {
                let record = self.record(&msg);
                let body = take_body(&mut msg);
                self.queue
                    .push(self.now, Event::ToClient { slot, body, record });
            }
            Dest::Init(node) => {
                let record = self.record(&msg);
                let body = take_body(&mut msg);
                self.queue.push(
                    self.now,
                    Event::ToInit {
                        node,
                        from: i,
                        body,
                        record,
                    },
                );
            }
        }
    }

    /// A message between nodes (or sent by a node under another node's id): lost,
    /// delivered once or twice, each copy with its own delay.
    fn node_to_node(&mut self, from: Option<usize>, to: usize, msg: Value) {
        let id = self.stats.messages;
        let record = self.record(&msg);
        let copies = self.opts.run.faults().copies(&mut self.net_rng);
        if copies == 0 {
            self.stats.dropped += 1;
            self.mark_dropped(record);
            return;
        }
        let (src, dest) = envelope(&msg).unwrap_or_default();
        for _ in 0..copies {
            let at = self.transit(src, dest);
            let line = self.encode(&msg, id);
            self.queue.push(
                at,
                Event::ToNode {
                    to,
                    from,
                    line,
                    record,
                },
            );
        }
        self.stats.duplicated += copies as u64 - 1;
    }

    /// Sends `body` from `src` (a client or a service) to node `to`: recorded, re-encoded,
    /// delayed as the network delays it, never cut.
    pub(super) fn send_to_node(&mut self, src: &str, to: usize, body: Map<String, Value>) {
        let mut env = Map::new();
        env.insert("src".into(), Value::from(src));
        env.insert("dest".into(), Value::from(self.ids[to].as_str()));
        env.insert("body".into(), Value::Object(body));
        let msg = Value::Object(env);
        let id = self.stats.messages;
        let record = self.record(&msg);
        let at = self.transit(src, &self.ids[to].clone());
        let line = self.encode(&msg, id);
        self.queue.push(
            at,
            Event::ToNode {
                to,
                from: None,
                line,
                record,
            },
        );
    }

    /// Delivers a line to node `to`, unless `from` is cut off from it now.
    pub(super) fn deliver_to_node(
        &mut self,
        to: usize,
        from: Option<usize>,
        line: &[u8],
        record: Option<usize>,
    ) {
        if from.is_some_and(|f| self.grudge.cuts(f, to)) {
            self.stats.cut += 1;
            self.mark_dropped(record);
            return;
        }
        self.mark_delivered(record);
        self.step_node(to, |node, now| node.handle_line(line, now));
    }

    /// A request reaches a service, which answers at once; the reply travels back.
    pub(super) fn deliver_to_service(
        &mut self,
        service: crate::harness::service::ServiceKind,
        src: &str,
        body: &Value,
        record: Option<usize>,
    ) {
        self.mark_delivered(record);
        let reply =
            self.services
                .handle(service.name(), src, body, self.now, &mut self.service_rng);
        let (Some(node), Some(Value::Object(reply))) = (self.endpoints().node(src), reply) else {
            // A node that wrote a client's id as src: the reply goes to nobody we simulate.
            return;
        };
        self.send_to_node(service.name(), node, reply);
    }

    /// When a message sent now from `src` to `dest` arrives: after the throughput queue (if
    /// any) and the latency (none for clients).
    fn transit(&mut self, src: &str, dest: &str) -> Nanos {
        if involves_client(src, dest) {
            return self.now;
        }
        let departs = match &mut self.net_rate {
            Some(rate) => rate.admit(self.now),
            None => self.now,
        };
        departs + self.opts.run.latency().draw(&mut self.net_rng)
    }

    /// The line a node reads: the message with the network's `id` (the same whether or not
    /// the trace kept it), keys in a drawn order.
    fn encode(&mut self, msg: &Value, id: u64) -> Vec<u8> {
        let mut msg = msg.clone();
        if let Some(m) = msg.as_object_mut() {
            m.insert("id".into(), Value::from(id));
        }
        let mut out = Vec::with_capacity(128);
        reencode(&msg, &mut self.net_rng, &mut out);
        out
    }

    /// Counts a message and records it in the trace (while the trace has room); returns its
    /// place in the trace.
    fn record(&mut self, msg: &Value) -> Option<usize> {
        let id = self.stats.messages;
        self.stats.messages += 1;
        if self.messages.len() >= self.opts.max_messages {
            return None;
        }
        let body = &msg["body"];
        let (src, dest) = envelope(msg).unwrap_or_default();
        self.messages.push(MessageEvent {
            id,
            src: src.to_string(),
            dest: dest.to_string(),
            kind: body["type"].as_str().unwrap_or("").to_string(),
            msg_id: body["msg_id"].as_u64(),
            in_reply_to: body["in_reply_to"].as_u64(),
            sent: self.now,
            delivered: None,
            dropped: false,
        });
        Some(self.messages.len() - 1)
    }

    pub(super) fn mark_delivered(&mut self, record: Option<usize>) {
        if let Some(m) = record.and_then(|r| self.messages.get_mut(r)) {
            m.delivered.get_or_insert(self.now);
        }
    }

    fn mark_dropped(&mut self, record: Option<usize>) {
        if let Some(m) = record.and_then(|r| self.messages.get_mut(r)) {
            m.dropped = m.delivered.is_none();
        }
    }

    /// Maelstrom's reader stops reading node `i`: the run fails, its later output is lost.
    fn mute(&mut self, i: usize, kind: &'static str, message: String) {
        let id = self.ids[i].clone();
        self.violation(&id, kind, message);
        self.nodes[i].muted = true;
    }
}

/// The `src` and `dest` of a message, if it is one: an object with string `src` and `dest`
/// and an object `body`.
fn envelope(msg: &Value) -> Option<(&str, &str)> {
    let m = msg.as_object()?;
    m.get("body")?.as_object()?;
    Some((m.get("src")?.as_str()?, m.get("dest")?.as_str()?))
}

fn take_body(msg: &mut Value) -> Map<String, Value> {
    match msg["body"].take() {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The start of a line, for a message about it.
fn excerpt(line: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&line[..line.len().min(MAX)]);
    if line.len() > MAX {
        format!("{text}...")
    } else {
        text.into_owned()
    }
}
