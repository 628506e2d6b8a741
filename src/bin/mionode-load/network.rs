//! The simulated network between nodes and services, and the counting and tracing of
//! everything it carries.
//!
//! Like Maelstrom's `maelstrom.net`, every message sent gets a fresh top-level `id` (from 0);
//! messages between nodes and services (a node's messages to itself included) wait for a
//! latency drawn from Maelstrom's distribution in whole milliseconds
//! ([`harness::net::Latency`](mionode::harness::net::Latency)); a partition (a Jepsen
//! [`Grudge`]) drops a message when it is due for delivery, not when it is sent. Every message
//! is delivered re-encoded as Maelstrom re-encodes it: parsed, then written again with the
//! keys of every object in a seeded shuffled order and numbers as a JVM writes them
//! ([`harness::net::reencode`](mionode::harness::net::reencode)), so a node that parses by
//! key order or exact bytes fails here as it would there. Clients' messages have no latency
//! and no faults. Beyond Maelstrom: `--drop` and `--duplicate` between nodes and services
//! (each copy of a duplicate draws its own latency, so copies may reorder), and `--net-rate`,
//! one first-come first-served queue in front of all of that traffic.
//!
//! What it does not do: it never reorders two messages due at the same moment (delivery
//! order is (due time, send order)), and it does not bound the bytes queued for a node that
//! stops reading its stdin (neither does Maelstrom).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use mionode::harness::nemesis::Grudge;
use mionode::harness::net::{self, Faults, Latency, NetRate};
use mionode::harness::record::{MessageEvent, Nanos};
use mionode::harness::seed::derive_seed;
use serde_json::Value;

use crate::wire;

/// Message counts in Maelstrom's terms (`send-count`, `recv-count`) plus the faults injected.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetStats {
    /// Messages from or to a client, sent into the network.
    pub client_sent: u64,
    /// Messages from or to a client, delivered.
    pub client_delivered: u64,
    /// Messages between nodes and services, sent into the network.
    pub server_sent: u64,
    /// Messages between nodes and services, delivered (duplicates count twice).
    pub server_delivered: u64,
    /// Messages lost by `--drop`.
    pub dropped: u64,
    /// Extra copies made by `--duplicate`.
    pub duplicated: u64,
    /// Messages between nodes lost to a partition.
    pub partitioned: u64,
    /// The longest a message waited in the `--net-rate` queue, in nanoseconds.
    pub max_queue_wait: Nanos,
}

/// What the trace needs to know of a message besides its ends: its body's head.
#[derive(Debug, Clone, Copy, Default)]
pub struct Head<'a> {
    /// The body's `type` (empty when it has none, which Maelstrom allows between nodes).
    pub kind: &'a str,
    /// The body's `msg_id`.
    pub msg_id: Option<u64>,
    /// The body's `in_reply_to`.
    pub in_reply_to: Option<u64>,
}

/// How the network is set up.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Number of nodes (endpoints `0..nodes`; services follow).
    pub nodes: usize,
    /// Latency between nodes and services.
    pub latency: Latency,
    /// `--drop` and `--duplicate`.
    pub faults: Faults,
    /// `--net-rate`, if set.
    pub net_rate: Option<f64>,
    /// Re-encode every message (off only with `--no-reencode`, to measure throughput).
    pub reencode: bool,
    /// Seed of the latency, fault and key-order draws.
    pub seed: u64,
}

/// A message waiting for its delivery time.
#[derive(Debug)]
struct InFlight {
    due: Instant,
    /// Send order, so equal due times deliver first-sent first.
    seq: u64,
    /// The network's id of the message (a duplicate shares it).
    id: u64,
    from: usize,
    to: usize,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// The network: latency, faults, partitions, message ids, counts and the message trace.
///
/// Endpoints are numbered: nodes `0..nodes`, then services, then one index standing for
/// any client (never cut off). Partitions cut only links between nodes (Jepsen's grudges
/// are over the test's nodes).
#[derive(Debug)]
pub struct Network {
    nodes: usize,
    latency: Latency,
    faults: Faults,
    net_rate: Option<NetRate>,
    reencode: bool,
    rng: fastrand::Rng,
    /// Key orders, apart from the latency and fault draws so that they do not shift them.
    shuffle: fastrand::Rng,
    grudge: Option<Grudge>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    next_seq: u64,
    next_id: u64,
    /// The messages traced so far; the one with network id `i` is at index `i`.
    trace: Vec<MessageEvent>,
    trace_cap: usize,
    origin: Instant,
    scratch: Vec<u8>,
    /// What was carried so far.
    pub stats: NetStats,
}

impl Network {
    /// A healed network as `config` says, tracing nothing until [`Network::trace_from`].
    pub fn new(config: &NetConfig) -> Self {
        Network {
            nodes: config.nodes,
            latency: config.latency,
            faults: config.faults,
            net_rate: config.net_rate.and_then(NetRate::new),
            reencode: config.reencode,
            rng: fastrand::Rng::with_seed(config.seed),
            shuffle: fastrand::Rng::with_seed(derive_seed(config.seed, "key-order", 0)),
            grudge: None,
            in_flight: BinaryHeap::new(),
            next_seq: 0,
            next_id: 0,
            trace: Vec::new(),
            trace_cap: 0,
            origin: Instant::now(),
            scratch: Vec::new(),
            stats: NetStats::default(),
        }
    }

    /// Traces the first `cap` messages from now on, with times since `origin`.
    pub fn trace_from(&mut self, origin: Instant, cap: usize) {
        self.origin = origin;
        self.trace_cap = cap;
    }

    /// The messages traced, in send order; takes them out of the network.
    pub fn take_trace(&mut self) -> Vec<MessageEvent> {
        std::mem::take(&mut self.trace)
    }

    /// Sends a client's message to a node, named `ends`: appended to `out`, the node's
    /// input, at once. `body` writes the message body.
    pub fn client_to_node(
        &mut self,
        now: Instant,
        ends: (&str, &str),
        head: Head<'_>,
        out: &mut Vec<u8>,
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        let id = self.take_id();
        self.stats.client_sent += 1;
        self.stats.client_delivered += 1;
        self.traced(id, now, ends, head);
        self.delivered(id, now);
        if !self.reencode {
            return wire::client_message(out, id, ends.0, ends.1, body);
        }
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        wire::client_message(&mut line, id, ends.0, ends.1, body);
        line.pop(); // the newline: `encode` adds it back
        self.encode(id, &line, out);
        self.scratch = line;
    }

    /// Counts and traces a node's message to a client (the caller hands it to the client).
    pub fn node_to_client(&mut self, now: Instant, ends: (&str, &str), head: Head<'_>) {
        let id = self.take_id();
        self.stats.client_sent += 1;
        self.stats.client_delivered += 1;
        self.traced(id, now, ends, head);
        self.delivered(id, now);
    }

    /// Sends a message `line` (a JSON object) from endpoint `from` to endpoint `to` (nodes
    /// or services), named `ends`. With no latency and no queue it is appended to `out`, the
    /// input of `to`, at once; otherwise it waits for [`Network::deliver_due`].
    pub fn send(
        &mut self,
        now: Instant,
        (from, to): (usize, usize),
        ends: (&str, &str),
        head: Head<'_>,
        line: &[u8],
        out: &mut Vec<u8>,
    ) {
        let id = self.take_id();
        self.stats.server_sent += 1;
        self.traced(id, now, ends, head);
        let copies = self.faults.copies(&mut self.rng);
        match copies {
            0 => {
                self.stats.dropped += 1;
                self.lost(id);
            }
            2 => self.stats.duplicated += 1,
            _ => {}
        }
        for _ in 0..copies {
            let delay = self.delay(now);
            if delay.is_zero() {
                if self.is_cut(from, to) {
                    self.stats.partitioned += 1;
                    self.lost(id);
                } else {
                    self.encode(id, line, out);
                    self.stats.server_delivered += 1;
                    self.delivered(id, now);
                }
                continue;
            }
            let mut bytes = Vec::with_capacity(line.len() + 24);
            self.encode(id, line, &mut bytes);
            let seq = self.next_seq;
            self.next_seq += 1;
            let due = now + delay;
            self.in_flight.push(Reverse(InFlight {
                due,
                seq,
                id,
                from,
                to,
                bytes,
            }));
        }
    }

    /// The time a message sent `now` spends in the `--net-rate` queue plus its latency.
    fn delay(&mut self, now: Instant) -> Duration {
        let mut nanos = self.latency.draw(&mut self.rng);
        if let Some(rate) = &mut self.net_rate {
            let sent = now.saturating_duration_since(self.origin).as_nanos() as Nanos;
            let wait = rate.admit(sent) - sent;
            self.stats.max_queue_wait = self.stats.max_queue_wait.max(wait);
            nanos += wait;
        }
        Duration::from_nanos(nanos)
    }

    /// Appends `line` as delivered, with the network's `id`: re-encoded (shuffled keys) or,
    /// without re-encoding, with `id` spliced in front; and a newline.
    fn encode(&mut self, id: u64, line: &[u8], out: &mut Vec<u8>) {
        if !self.reencode {
            return wire::stamp(out, id, line);
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(mut message)) => {
                message.insert("id".to_string(), Value::from(id));
                net::reencode(&Value::Object(message), &mut self.shuffle, out);
                out.push(b'\n');
            }
            // The envelope was parsed before it was sent: an object, always.
            _ => wire::stamp(out, id, line),
        }
    }

    /// When the next delayed message is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse(m)| m.due)
    }

    /// Delivers every delayed message due at `now` into `inputs[to]`, dropping those whose
    /// link is cut by a partition at this moment.
    pub fn deliver_due(&mut self, now: Instant, inputs: &mut [Vec<u8>]) {
        while self.in_flight.peek().is_some_and(|Reverse(m)| m.due <= now) {
            let Some(Reverse(m)) = self.in_flight.pop() else {
                break;
            };
            if self.is_cut(m.from, m.to) {
                self.stats.partitioned += 1;
                self.lost(m.id);
            } else if let Some(input) = inputs.get_mut(m.to) {
                input.extend_from_slice(&m.bytes);
                self.stats.server_delivered += 1;
                self.delivered(m.id, now);
            }
        }
    }

    /// Puts `grudge` in force: each node drops what the nodes it holds a grudge against send.
    pub fn partition(&mut self, grudge: Grudge) {
        self.grudge = Some(grudge);
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.grudge = None;
    }

    fn is_cut(&self, from: usize, to: usize) -> bool {
        from < self.nodes
            && to < self.nodes
            && self.grudge.as_ref().is_some_and(|g| g.cuts(from, to))
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn nanos(&self, now: Instant) -> Nanos {
        now.saturating_duration_since(self.origin).as_nanos() as Nanos
    }

    fn traced(&mut self, id: u64, now: Instant, (src, dest): (&str, &str), head: Head<'_>) {
        if self.trace.len() >= self.trace_cap || id != self.trace.len() as u64 {
            return;
        }
        self.trace.push(MessageEvent {
            id,
            src: src.to_string(),
            dest: dest.to_string(),
            kind: head.kind.to_string(),
            msg_id: head.msg_id,
            in_reply_to: head.in_reply_to,
            sent: self.nanos(now),
            delivered: None,
            dropped: false,
        });
    }

    fn delivered(&mut self, id: u64, now: Instant) {
        let at = self.nanos(now);
        if let Some(m) = self.trace.get_mut(id as usize) {
            m.delivered.get_or_insert(at);
            m.dropped = false;
        }
    }

    fn lost(&mut self, id: u64) {
        if let Some(m) = self.trace.get_mut(id as usize) {
            m.dropped = m.delivered.is_none();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mionode::harness::net::LatencyDist;

    const LINE: &[u8] = br#"{"src":"n0","dest":"n1","body":{"type":"echo","msg_id":3,"echo":1}}"#;

    fn send(n: &mut Network, now: Instant, link: (usize, usize), out: &mut Vec<u8>) {
        let head = Head {
            kind: "echo",
            msg_id: Some(3),
            in_reply_to: None,
        };
        n.send(now, link, ("n0", "n1"), head, LINE, out);
    }

    fn config(latency_ms: u64, drop: f64, duplicate: f64) -> NetConfig {
        NetConfig {
            nodes: 3,
            latency: Latency {
                mean_ms: latency_ms,
                dist: LatencyDist::Constant,
            },
            faults: Faults { drop, duplicate },
            net_rate: None,
            reencode: false,
            seed: 1,
        }
    }

    fn net(latency_ms: u64, drop: f64, duplicate: f64) -> Network {
        Network::new(&config(latency_ms, drop, duplicate))
    }

    #[test]
    fn ids_count_up_from_zero_across_all_links() {
        let mut n = net(0, 0.0, 0.0);
        let mut out = Vec::new();
        let now = Instant::now();
        n.trace_from(now, 10);
        n.client_to_node(now, ("c0", "n0"), Head::default(), &mut out, |b| {
            b.extend_from_slice(b"{}")
        });
        send(&mut n, now, (0, 1), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("{\"id\":0,\"src\":\"c0\""), "{text}");
        assert!(text.contains("\n{\"id\":1,\"src\":\"n0\""), "{text}");
        let trace = n.take_trace();
        assert_eq!(trace.len(), 2);
        assert_eq!(
            (trace[1].id, &*trace[1].kind, trace[1].msg_id),
            (1, "echo", Some(3))
        );
        assert!(trace.iter().all(|m| m.delivered.is_some() && !m.dropped));
    }

    #[test]
    fn messages_are_reencoded_with_shuffled_keys_and_the_same_content() {
        let mut n = Network::new(&NetConfig {
            reencode: true,
            ..config(0, 0.0, 0.0)
        });
        let mut orders = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let mut out = Vec::new();
            send(&mut n, Instant::now(), (0, 1), &mut out);
            assert_eq!(out.last(), Some(&b'\n'));
            let v: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["body"]["echo"], 1);
            assert_eq!(v["src"], "n0");
            assert!(v["id"].is_u64());
            let text = String::from_utf8(out).unwrap();
            let first_key = text.split('"').nth(1).unwrap_or("").to_string();
            orders.insert(first_key);
        }
        assert!(orders.len() >= 3, "key orders seen first: {orders:?}");
    }

    #[test]
    fn delayed_messages_wait_and_partitions_apply_at_delivery() {
        let mut n = net(5, 0.0, 0.0);
        let t0 = Instant::now();
        let mut inputs = vec![Vec::new(); 3];
        let mut ignored = Vec::new();
        n.trace_from(t0, 10);
        send(&mut n, t0, (0, 1), &mut ignored);
        send(&mut n, t0, (0, 2), &mut ignored);
        assert!(ignored.is_empty());
        n.deliver_due(t0, &mut inputs);
        assert!(inputs[1].is_empty());
        n.partition(Grudge::complete(3, vec![vec![0, 1], vec![2]]));
        n.deliver_due(t0 + Duration::from_millis(5), &mut inputs);
        assert!(!inputs[1].is_empty());
        assert!(inputs[2].is_empty());
        assert_eq!((n.stats.server_delivered, n.stats.partitioned), (1, 1));
        assert_eq!(n.next_due(), None);
        let trace = n.take_trace();
        assert_eq!(trace[0].delivered, Some(5_000_000));
        assert!(trace[1].dropped && trace[1].delivered.is_none());
    }

    #[test]
    fn partitions_cut_between_nodes_never_to_services() {
        let mut n = net(0, 0.0, 0.0);
        n.partition(Grudge::complete(3, vec![vec![0], vec![1, 2]]));
        assert!(n.is_cut(0, 1) && n.is_cut(1, 0) && n.is_cut(2, 0));
        assert!(!n.is_cut(1, 2) && !n.is_cut(0, 0));
        assert!(
            !n.is_cut(0, 3) && !n.is_cut(3, 0),
            "services are never cut off"
        );
        n.heal();
        assert!(!n.is_cut(0, 1));
    }

    #[test]
    fn net_rate_queues_messages_first_come_first_served() {
        let mut n = Network::new(&NetConfig {
            net_rate: Some(1000.0),
            ..config(0, 0.0, 0.0)
        });
        let t0 = Instant::now();
        n.trace_from(t0, 0);
        let mut out = Vec::new();
        for _ in 0..10 {
            send(&mut n, t0, (0, 1), &mut out);
        }
        assert!(out.is_empty(), "every message waits for the queue");
        let mut inputs = vec![Vec::new(); 3];
        n.deliver_due(t0 + Duration::from_millis(5), &mut inputs);
        assert_eq!(inputs[1].iter().filter(|&&b| b == b'\n').count(), 5);
        n.deliver_due(t0 + Duration::from_millis(10), &mut inputs);
        assert_eq!(inputs[1].iter().filter(|&&b| b == b'\n').count(), 10);
        assert_eq!(n.stats.max_queue_wait, 10_000_000);
    }

    #[test]
    fn drop_and_duplicate_are_counted() {
        let mut n = net(0, 1.0, 0.0);
        let mut out = Vec::new();
        send(&mut n, Instant::now(), (0, 1), &mut out);
        assert!(out.is_empty());
        assert_eq!(n.stats.dropped, 1);
        let mut n = net(0, 0.0, 1.0);
        send(&mut n, Instant::now(), (0, 1), &mut out);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 2);
        assert_eq!((n.stats.duplicated, n.stats.server_delivered), (1, 2));
    }
}
