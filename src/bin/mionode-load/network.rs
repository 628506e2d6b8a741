//! The simulated network between nodes, and the counting of everything it carries.
//!
//! Like Maelstrom's `maelstrom.net`, every message sent gets a fresh top-level `id` (from 0),
//! messages between nodes (a node's messages to itself included) are delayed by a latency
//! drawn from the configured distribution, and a partition drops a message when it is due for
//! delivery, not when it is sent. Clients' messages have no latency and no faults: Maelstrom's
//! clients see nodes directly, and a lost `init` would only make the run fail for nothing.
//! Beyond Maelstrom, a message between nodes can be dropped or duplicated with a given
//! probability; each copy of a duplicate draws its own latency, so copies may reorder.
//!
//! What it does not do: it never reorders two messages of equal latency (delivery order is
//! (due time, send order)), and it does not bound the bytes queued for a node that stops
//! reading its stdin (neither does Maelstrom).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use mionode::harness::record::{MessageEvent, Nanos};

use crate::cli::LatencyDist;
use crate::wire;

/// How latency is drawn for one message between nodes.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// The mean latency in whole milliseconds.
    pub mean_ms: u64,
    /// The shape of the distribution.
    pub dist: LatencyDist,
}

impl Latency {
    /// Draws one latency in whole milliseconds, as Maelstrom's `latency-dist` does
    /// (`net.clj`): constant is the mean, uniform an integer in 0..=2×mean, exponential the
    /// mean's exponential distribution truncated to whole milliseconds. `u` is uniform in
    /// [0, 1).
    pub fn draw(&self, u: f64) -> Duration {
        let mean = self.mean_ms;
        let ms = match self.dist {
            LatencyDist::Constant => mean,
            LatencyDist::Uniform => ((2 * mean + 1) as f64 * u) as u64,
            LatencyDist::Exponential => (-(mean as f64) * (1.0 - u).ln()) as u64,
        };
        Duration::from_millis(ms)
    }
}

/// Message counts in Maelstrom's terms (`send-count`, `recv-count`) plus the faults injected.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetStats {
    /// Messages from or to a client, sent into the network.
    pub client_sent: u64,
    /// Messages from or to a client, delivered.
    pub client_delivered: u64,
    /// Messages between nodes, sent into the network.
    pub server_sent: u64,
    /// Messages between nodes, delivered (duplicates count twice).
    pub server_delivered: u64,
    /// Messages between nodes lost by `--drop`.
    pub dropped: u64,
    /// Extra copies made by `--duplicate`.
    pub duplicated: u64,
    /// Messages between nodes lost to a partition.
    pub partitioned: u64,
}

/// A message between nodes waiting for its delivery time.
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

/// The network: latency, faults, partitions, message ids, counts and the message trace.
///
/// Endpoints are numbered: nodes `0..nodes`, then services. Partitions cut only links
/// between nodes; services are never cut off (Jepsen's partitions are between the test's
/// nodes).
#[derive(Debug)]
pub struct Network {
    nodes: usize,
    latency: Latency,
    drop: f64,
    duplicate: f64,
    rng: fastrand::Rng,
    /// `cut[to * nodes + from]`: messages from node `from` to node `to` are lost.
    cut: Vec<bool>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    next_seq: u64,
    next_id: u64,
    /// The messages traced so far; the one with network id `i` is at index `i`.
    trace: Vec<MessageEvent>,
    /// The most messages traced ([`Network::trace`]); later ones are only counted.
    trace_cap: usize,
    /// Time zero of the trace.
    origin: Instant,
    /// What was carried so far.
    pub stats: NetStats,
}

impl Network {
    /// A healed network between `nodes` nodes (and any number of services), tracing the
    /// first `trace_cap` messages with times since `origin`.
    pub fn new(nodes: usize, latency: Latency, drop: f64, duplicate: f64, seed: u64) -> Self {
        Network {
            nodes,
            latency,
            drop,
            duplicate,
            rng: fastrand::Rng::with_seed(seed),
            cut: vec![false; nodes * nodes],
            in_flight: BinaryHeap::new(),
            next_seq: 0,
            next_id: 0,
            trace: Vec::new(),
            trace_cap: 0,
            origin: Instant::now(),
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

    /// Sends a client's message to node `node`: appended to `out`, the node's input, at
    /// once. `body` writes the message body and returns the head for the trace, with any
    /// result of its own.
    pub fn client_to_node<R>(
        &mut self,
        now: Instant,
        (client, node): (&str, &str),
        out: &mut Vec<u8>,
        body: impl FnOnce(&mut Vec<u8>) -> (Head<'static>, R),
    ) -> R {
        let id = self.take_id();
        self.stats.client_sent += 1;
        self.stats.client_delivered += 1;
        let (head, r) = wire::client_message(out, id, client, node, body);
        self.traced(id, now, (client, node), head);
        self.delivered(id, now);
        r
    }

    /// Counts and traces a node's message to a client (the caller hands it to the client).
    pub fn node_to_client(&mut self, now: Instant, ends: (&str, &str), head: Head<'_>) {
        let id = self.take_id();
        self.stats.client_sent += 1;
        self.stats.client_delivered += 1;
        self.traced(id, now, ends, head);
        self.delivered(id, now);
    }

    /// Sends a message `line` (a parsed object) from endpoint `from` to endpoint `to`, named
    /// `ends`. Without latency it is appended to `out`, the input of `to`, at once;
    /// otherwise it waits for [`Network::deliver_due`].
    #[allow(clippy::too_many_arguments)]
    pub fn node_to_node(
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
        if self.drop > 0.0 && self.rng.f64() < self.drop {
            self.stats.dropped += 1;
            self.lost(id);
            return;
        }
        let copies = if self.duplicate > 0.0 && self.rng.f64() < self.duplicate {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            if self.latency.mean_ms == 0 {
                if self.is_cut(from, to) {
                    self.stats.partitioned += 1;
                    self.lost(id);
                } else {
                    wire::stamp(out, id, line);
                    self.stats.server_delivered += 1;
                    self.delivered(id, now);
                }
                continue;
            }
            let mut bytes = Vec::with_capacity(line.len() + 24);
            wire::stamp(&mut bytes, id, line);
            let due = now + self.latency.draw(self.rng.f64());
            let seq = self.next_seq;
            self.next_seq += 1;
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
        }
    }

    fn lost(&mut self, id: u64) {
        if let Some(m) = self.trace.get_mut(id as usize) {
            m.dropped = m.delivered.is_none();
        }
    }

    /// Cuts every link between `group` and the other nodes, both ways; links inside each
    /// side and a node's link to itself stay up.
    pub fn partition(&mut self, group: &[usize]) {
        let n = self.nodes;
        let mut inside = vec![false; n];
        for &i in group {
            if let Some(slot) = inside.get_mut(i) {
                *slot = true;
            }
        }
        for to in 0..n {
            for from in 0..n {
                self.cut[to * n + from] = inside[to] != inside[from];
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.fill(false);
    }

    fn is_cut(&self, from: usize, to: usize) -> bool {
        from < self.nodes && to < self.nodes && self.cut[to * self.nodes + from]
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = br#"{"src":"n0","dest":"n1","body":{"type":"echo"}}"#;

    fn send(n: &mut Network, now: Instant, link: (usize, usize), out: &mut Vec<u8>) {
        let head = Head {
            kind: "echo",
            msg_id: Some(3),
            in_reply_to: None,
        };
        n.node_to_node(now, link, ("n0", "n1"), head, LINE, out);
    }

    fn net(latency_ms: u64, drop: f64, duplicate: f64) -> Network {
        let latency = Latency {
            mean_ms: latency_ms,
            dist: LatencyDist::Constant,
        };
        Network::new(3, latency, drop, duplicate, 1)
    }

    #[test]
    fn latency_distributions_have_the_given_mean() {
        let mut rng = fastrand::Rng::with_seed(7);
        for dist in [
            LatencyDist::Constant,
            LatencyDist::Uniform,
            LatencyDist::Exponential,
        ] {
            let l = Latency { mean_ms: 10, dist };
            let n = 20_000;
            let draws: Vec<Duration> = (0..n).map(|_| l.draw(rng.f64())).collect();
            assert!(draws.iter().all(|d| d.subsec_nanos() % 1_000_000 == 0));
            let sum: f64 = draws.iter().map(Duration::as_secs_f64).sum();
            let mean_ms = sum / n as f64 * 1000.0;
            // Truncating the exponential to whole milliseconds lowers its mean by about 0.5.
            let want = if dist == LatencyDist::Exponential {
                9.5
            } else {
                10.0
            };
            assert!((mean_ms - want).abs() < 0.5, "{dist:?}: mean {mean_ms}");
        }
    }

    #[test]
    fn ids_count_up_from_zero_across_all_links() {
        let mut n = net(0, 0.0, 0.0);
        let mut out = Vec::new();
        let now = Instant::now();
        n.trace_from(now, 10);
        n.client_to_node(now, ("c0", "n0"), &mut out, |b| {
            b.extend_from_slice(b"{}");
            (Head::default(), ())
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
        n.partition(&[2]);
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
    fn partition_cuts_across_not_within_nor_to_self() {
        let mut n = net(0, 0.0, 0.0);
        n.partition(&[0]);
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
