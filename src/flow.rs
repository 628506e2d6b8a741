//! Flow control of RPCs: a window of requests on the wire, and a retransmission timeout per
//! destination.
//!
//! # Why
//!
//! A `batch_echo` of 20,000 values used to put 20,000 requests on the wire at once, each with a
//! fixed one-second deadline. A network that carries 18,000 messages a second (Maelstrom's one
//! routing process, measured) cannot answer them all within that second: the late ones time
//! out, their retries join the queue that made them late, and the node drowns in its own
//! traffic (82,492 messages and an error where 40,002 messages would have done). TCP met this
//! in 1986 and answered with two mechanisms, which this module provides to the
//! [`Context`](crate::Context):
//!
//! - a **window** ([`Window`]): at most `limit` RPCs on the wire at once, per node; more wait
//!   in a first-in, first-out queue (retries of [`Context::rpc_rto`](crate::Context::rpc_rto)
//!   at its head: they are older work) and go out as replies (or timeouts) make room. The queue
//!   holds requests already serialized, so a full window costs a copy, not a retry.
//! - a **retransmission timeout per destination** ([`RttTable`]): RFC 6298's estimator
//!   ([`RttEstimator`]) fed by the round trip of every answered RPC, measured from the moment
//!   the request left the queue (time spent queued is the node's, not the network's).
//!
//! # Backoff, once per silence
//!
//! RFC 6298 doubles the timeout on each expiry of *the* connection's one timer. A node has many
//! RPCs in flight to one destination, and a window of 1,024 losing a tenth of its messages would
//! double the timeout a hundred times in one round trip. So a timeout backs the estimate off only
//! when the destination has been silent for the whole attempt (no reply from it since the
//! request went out) and no other timeout has backed it off since then: one doubling per round
//! of silence, as TCP's one timer gives. Scattered losses on a destination that answers
//! everything else leave the estimate alone; a destination that stops answering sees its
//! timeout double each round, up to the bound.
//!
//! # Late is not lost
//!
//! A per-request timeout set from the round trips of the first replies is too short for the
//! requests behind them when the network is a queue (Maelstrom's one routing process, or
//! `--net-rate`): a window of 4,096 sent at once drains at the network's rate, and requests
//! that are merely waiting their turn time out, are sent again, and double the traffic. So an
//! expiring attempt first asks [`RttTable::queued_behind`], the time-based loss detection of
//! RACK (RFC 8985) in small: if the destination answered within the last timeout (the path is
//! alive) and has answered no request sent after this one (nothing overtook it), the request
//! is late, not lost, and waits one more timeout. A request that a later one overtook, or
//! whose destination went silent, times out as before; and nothing waits past its operation's
//! deadline.
//!
//! Time is an argument everywhere; nothing here reads a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rto::{RtoBounds, RttEstimator};

/// Most doublings of one request's timeout for its retries: its retries wait twice the
/// estimate.
///
/// TCP doubles without end because its one timer firing means the path is in trouble. Here
/// a destination that goes silent is backed off as a whole (see the module docs); what is left
/// for one request's retries is random loss, where doubling without end makes the rare value
/// that loses four or five times in a row (1 in 800 at a 19% loss per round trip, so a dozen
/// in a batch of 10,000) wait seconds and miss its deadline. One doubling still spreads the
/// retries of a request whose replies are merely late.
pub const MAX_RETRY_DOUBLINGS: u32 = 1;

/// Destinations other than the cluster's nodes (services, clients) whose estimate is kept;
/// RPCs to further ones use the initial timeout. Bounds memory and the metric's labels.
pub const MAX_NAMED_DESTINATIONS: usize = 32;

/// An RPC's `dest`, kept to check a reply's `src` and to find its estimate: an index into
/// `node_ids` for the usual case (no allocation), else the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// The node at this index of `init`'s `node_ids`.
    Node(u32),
    /// Anything else: a service, a client.
    Named(Box<str>),
}

/// The count of RPCs on the wire and the queue of those waiting for room.
///
/// ```
/// use mionode::flow::Window;
///
/// let mut window = Window::new(1);
/// assert!(window.has_room());
/// window.sent();
/// assert!(!window.has_room());
/// window.enqueue(7);
/// assert_eq!(window.next_to_send(), None, "full");
/// window.landed();
/// assert_eq!(window.next_to_send(), Some(7));
/// window.dequeued();
/// assert_eq!((window.in_flight(), window.queued()), (1, 0));
/// ```
#[derive(Debug)]
pub struct Window {
    limit: usize,
    in_flight: usize,
    queued: usize,
    /// `msg_id`s waiting, oldest first; some may have left already (expired or cancelled while
    /// queued): the owner skips those.
    queue: VecDeque<u64>,
}

impl Window {
    /// A window of `limit` RPCs (at least one).
    pub fn new(limit: usize) -> Self {
        Window {
            limit: limit.max(1),
            in_flight: 0,
            queued: 0,
            queue: VecDeque::new(),
        }
    }

    /// Whether a new RPC may go out now: room on the wire, and nobody waiting before it.
    pub fn has_room(&self) -> bool {
        self.in_flight < self.limit && self.queued == 0
    }

    /// One more RPC went out.
    pub fn sent(&mut self) {
        self.in_flight += 1;
    }

    /// One RPC on the wire ended (reply, timeout or cancel).
    pub fn landed(&mut self) {
        debug_assert!(self.in_flight > 0, "landed with nothing in flight");
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// RPC `msg_id` waits for room, behind those waiting already.
    pub fn enqueue(&mut self, msg_id: u64) {
        self.queue.push_back(msg_id);
        self.queued += 1;
    }

    /// RPC `msg_id` (a retry: older work than anything new) waits for room, first in line.
    pub fn enqueue_first(&mut self, msg_id: u64) {
        self.queue.push_front(msg_id);
        self.queued += 1;
    }

    /// A queued RPC ended before it went out (timeout or cancel).
    pub fn left_queue(&mut self) {
        debug_assert!(self.queued > 0, "left an empty queue");
        self.queued = self.queued.saturating_sub(1);
    }

    /// The next queued `msg_id` to send, if there is room: it may have left the queue already,
    /// in which case the caller skips it; else it calls [`dequeued`](Self::dequeued) once it
    /// is sent.
    pub fn next_to_send(&mut self) -> Option<u64> {
        if self.in_flight >= self.limit {
            return None;
        }
        let next = self.queue.pop_front();
        if self.queue.is_empty() && self.queue.capacity() > 4096 {
            self.queue = VecDeque::new();
        }
        next
    }

    /// The RPC [`next_to_send`](Self::next_to_send) gave went out.
    pub fn dequeued(&mut self) {
        self.left_queue();
        self.sent();
    }

    /// RPCs on the wire.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// RPCs waiting for room.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// The most RPCs on the wire at once.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// One destination's estimate, and when it last answered and last backed off.
#[derive(Debug, Clone)]
pub struct PathRtt {
    /// RFC 6298's estimate.
    pub estimator: RttEstimator,
    last_sample: Option<Instant>,
    last_backoff: Option<Instant>,
    /// When the most recently sent of the answered requests went out.
    newest_answered: Option<Instant>,
}

impl PathRtt {
    fn new(bounds: RtoBounds) -> Self {
        PathRtt {
            estimator: RttEstimator::new(bounds),
            last_sample: None,
            last_backoff: None,
            newest_answered: None,
        }
    }
}

/// Round-trip estimates by destination: nodes by index, a few named others.
#[derive(Debug)]
pub struct RttTable {
    bounds: RtoBounds,
    nodes: Vec<PathRtt>,
    named: Vec<(Box<str>, PathRtt)>,
}

impl RttTable {
    /// No estimate yet; every timeout starts at `bounds.initial`.
    pub fn new(bounds: RtoBounds) -> Self {
        RttTable {
            bounds,
            nodes: Vec::new(),
            named: Vec::new(),
        }
    }

    /// The estimate for `dest`, if one is kept.
    pub fn get(&self, dest: &Dest) -> Option<&PathRtt> {
        match dest {
            Dest::Node(i) => self.nodes.get(*i as usize),
            Dest::Named(name) => self.named.iter().find(|(n, _)| n == name).map(|(_, p)| p),
        }
    }

    fn entry(&mut self, dest: &Dest) -> Option<&mut PathRtt> {
        let bounds = self.bounds;
        match dest {
            Dest::Node(i) => {
                let i = *i as usize;
                if self.nodes.len() <= i {
                    self.nodes.resize_with(i + 1, || PathRtt::new(bounds));
                }
                self.nodes.get_mut(i)
            }
            Dest::Named(name) => match self.named.iter().position(|(n, _)| n == name) {
                Some(at) => Some(&mut self.named[at].1),
                None if self.named.len() < MAX_NAMED_DESTINATIONS => {
                    self.named.push((name.clone(), PathRtt::new(bounds)));
                    self.named.last_mut().map(|(_, p)| p)
                }
                None => None,
            },
        }
    }

    /// The retransmission timeout for `dest` after `retries` timeouts of the same request:
    /// the estimate's, doubled per retry up to [`MAX_RETRY_DOUBLINGS`] times, within the
    /// bounds.
    pub fn rto(&self, dest: &Dest, retries: u32) -> Duration {
        let doublings = retries.min(MAX_RETRY_DOUBLINGS);
        match self.get(dest) {
            Some(path) => path.estimator.rto_doubled(doublings),
            None => RttEstimator::new(self.bounds).rto_doubled(doublings),
        }
    }

    /// `dest` answered, `rtt` after the request went out.
    ///
    /// Requests already in flight keep the timeout they were sent with. Re-timing them on the
    /// first sample was tried: on a network of limited rate the first reply comes from the
    /// head of the queue, far faster than the rest, and re-timing every request behind it
    /// turned them all into spurious retries (8,000 messages became 32,000).
    pub fn sample(&mut self, dest: &Dest, rtt: Duration, now: Instant) {
        if let Some(path) = self.entry(dest) {
            path.estimator.sample(rtt);
            path.last_sample = Some(now);
            let sent = now.checked_sub(rtt).unwrap_or(now);
            path.newest_answered = path.newest_answered.max(Some(sent));
        }
    }

    /// Whether an attempt to `dest` sent at `sent_at`, whose timeout expires at `now`, is
    /// late rather than lost: `dest` answered something within its current timeout, and no
    /// request sent after this one (see the module docs, "Late is not lost").
    pub fn queued_behind(&self, dest: &Dest, sent_at: Instant, now: Instant) -> bool {
        let Some(path) = self.get(dest) else {
            return false;
        };
        let alive = path
            .last_sample
            .is_some_and(|t| now.saturating_duration_since(t) < path.estimator.rto());
        let overtaken = path.newest_answered.is_some_and(|t| t > sent_at);
        alive && !overtaken
    }

    /// An RPC to `dest` sent at `sent_at` timed out at `now`: back off if `dest` has been
    /// silent since, and nothing else backed it off meanwhile (see the module docs).
    pub fn timed_out(&mut self, dest: &Dest, sent_at: Instant, now: Instant) {
        let Some(path) = self.entry(dest) else { return };
        // A sample taken as the request went out cannot be its reply.
        let silent = path.last_sample.is_none_or(|t| t <= sent_at);
        let first = path.last_backoff.is_none_or(|t| t <= sent_at);
        if silent && first {
            path.estimator.timed_out();
            path.last_backoff = Some(now);
        }
    }

    /// The estimates of nodes, by index in `node_ids`.
    pub fn nodes(&self) -> impl Iterator<Item = (usize, &PathRtt)> {
        let used = |(_, path): &(usize, &PathRtt)| path.last_sample.or(path.last_backoff).is_some();
        self.nodes.iter().enumerate().filter(used)
    }

    /// The estimates of other destinations, by name.
    pub fn named(&self) -> impl Iterator<Item = (&str, &PathRtt)> {
        self.named.iter().map(|(name, path)| (&**name, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn many_timeouts_in_one_round_back_off_once() {
        let t0 = Instant::now();
        let mut table = RttTable::new(RtoBounds::default());
        let n = Dest::Node(1);
        table.sample(&n, ms(100), t0);
        let rto = table.rto(&n, 0);
        for _ in 0..500 {
            table.timed_out(&n, t0 + ms(1), t0 + ms(400));
        }
        assert_eq!(table.rto(&n, 0), rto * 2);
        // A retry sent after that backoff, timing out too: the next round doubles again.
        table.timed_out(&n, t0 + ms(400), t0 + ms(1000));
        assert_eq!(table.rto(&n, 0), rto * 4);
    }

    #[test]
    fn losses_on_a_destination_that_answers_do_not_back_off() {
        let t0 = Instant::now();
        let mut table = RttTable::new(RtoBounds::default());
        let n = Dest::Named("lin-kv".into());
        table.sample(&n, ms(100), t0);
        let rto = table.rto(&n, 0);
        table.sample(&n, ms(100), t0 + ms(150));
        table.timed_out(&n, t0 + ms(100), t0 + ms(400));
        assert!(table.rto(&n, 0) <= rto, "{:?} > {rto:?}", table.rto(&n, 0));
    }

    #[test]
    fn a_request_queued_behind_answered_ones_is_late_not_lost() {
        let t0 = Instant::now();
        let mut table = RttTable::new(RtoBounds::default());
        let n = Dest::Node(0);
        // Sent at t0 + 10 ms; replies keep coming for requests sent before it.
        table.sample(&n, ms(300), t0 + ms(300));
        table.sample(&n, ms(390), t0 + ms(395));
        assert!(table.queued_behind(&n, t0 + ms(10), t0 + ms(400)));
        // A request sent after it is answered: it was overtaken, so it is lost.
        table.sample(&n, ms(5), t0 + ms(420));
        assert!(!table.queued_behind(&n, t0 + ms(10), t0 + ms(430)));
    }

    #[test]
    fn a_request_to_a_silent_destination_is_not_waited_for() {
        let t0 = Instant::now();
        let mut table = RttTable::new(RtoBounds::default());
        let n = Dest::Node(0);
        assert!(!table.queued_behind(&n, t0, t0 + ms(1000)), "no reply ever");
        table.sample(&n, ms(100), t0 + ms(100));
        let rto = table.rto(&n, 0);
        let later = t0 + ms(100) + rto + ms(1);
        assert!(
            !table.queued_behind(&n, t0 + ms(50), later),
            "silent for a whole timeout"
        );
    }

    #[test]
    fn retries_double_within_the_bounds() {
        let table = RttTable::new(RtoBounds::default());
        let n = Dest::Node(0);
        assert_eq!(table.rto(&n, 0), Duration::from_secs(1));
        assert_eq!(table.rto(&n, 1), Duration::from_secs(2));
        assert_eq!(table.rto(&n, 40), Duration::from_secs(2));
        let t0 = Instant::now();
        let mut table = RttTable::new(RtoBounds::default());
        table.sample(&n, ms(100), t0);
        assert_eq!(table.rto(&n, 3), table.rto(&n, 1), "at most one doubling");
        assert_eq!(table.rto(&n, 1), table.rto(&n, 0) * 2);
    }

    #[test]
    fn named_destinations_are_capped() {
        let t0 = Instant::now();
        let mut table = RttTable::new(RtoBounds::default());
        for i in 0..MAX_NAMED_DESTINATIONS + 10 {
            table.sample(&Dest::Named(format!("c{i}").into()), ms(5), t0);
        }
        assert_eq!(table.named().count(), MAX_NAMED_DESTINATIONS);
    }
}
