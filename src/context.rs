//! The node's messaging core: identity, the `msg_id` counter, the outbox, pending RPCs and the
//! timer wheel. No I/O: what it writes waits in the [`Outbox`] for the event loop.
//!
//! # The RPC contract
//!
//! [`Context::rpc`] writes a request, parks its callback in [`PendingRpcs`] and its deadline in
//! the [`TimerWheel`]. Later exactly one of these happens:
//!
//! - a reply naming its `msg_id` arrives first: the deadline is cancelled and the callback runs
//!   with `Ok(body)`, or with [`RpcError::Remote`] when the reply is an `error`;
//! - the deadline fires first: the entry is removed and the callback runs with
//!   [`RpcError::Timeout`]; a reply arriving afterwards finds nothing and is counted as stale;
//! - its owner calls [`Context::cancel_rpc`]: both are removed and the callback never runs.
//!
//! Callbacks receive `&mut Node`, not captured pointers: state shared by several RPCs (a
//! batch) lives in a table the node owns and callbacks carry its key.

use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use crate::config::Config;
use crate::message_type::MessageType;
use crate::message_type::OutgoingBody;
use crate::metrics::Histograms;
use crate::outbox::Outbox;
use crate::protocol::{write_message, Body, ErrorCode, WriteError};
use crate::rpc::{PendingKey, PendingRpcs};
use crate::stats::Stats;
use crate::timer::TimerWheel;
use crate::Node;

/// Maelstrom's services a node may address besides its peers.
pub const SERVICES: [&str; 4] = ["lin-kv", "seq-kv", "lww-kv", "lin-tso"];

/// How an RPC failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// No reply before the deadline.
    Timeout,
    /// The peer answered with an `error` body.
    Remote {
        /// Its error code.
        code: u32,
        /// Its explanation.
        text: String,
    },
}

impl RpcError {
    /// The Maelstrom error code to pass this failure on with.
    pub fn code(&self) -> u32 {
        match self {
            RpcError::Timeout => ErrorCode::Timeout.code(),
            RpcError::Remote { code, .. } => *code,
        }
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::Timeout => f.write_str("timed out"),
            RpcError::Remote { code, text } => write!(f, "error {code}: {text}"),
        }
    }
}

impl std::error::Error for RpcError {}

/// The outcome handed to an RPC callback: the reply body, or why there is none.
pub type RpcResult<'a> = Result<&'a RawValue, RpcError>;

/// What runs when an RPC ends.
pub type Callback = Box<dyn for<'a> FnOnce(&mut Node, RpcResult<'a>)>;

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    /// An RPC's deadline: time it out if it is still pending.
    RpcDeadline {
        /// Its slot in the pending table.
        key: PendingKey,
        /// Its `msg_id`, to tell it from a newer RPC in a reused slot.
        msg_id: u64,
    },
    /// Run a closure (the wait between backoff attempts, periodic upkeep).
    Wake(Box<dyn FnOnce(&mut Node)>),
}

/// A request being handled: who sent it, and its body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Sender, to reply to.
    pub src: &'a str,
    /// Receiver as addressed; the reply's `src` before `init`.
    pub dest: &'a str,
    /// The request's `msg_id`.
    pub msg_id: u64,
    /// The request's `type`, as written.
    pub kind: &'a str,
    /// The same `type`, classified once for routing and counting.
    pub msg_type: MessageType,
    /// The whole body, unparsed.
    pub body: &'a RawValue,
}

/// Who this node is, once `init` has said so.
#[derive(Debug, Clone)]
pub struct Identity {
    /// This node's id (shared cheaply: every message to itself names it).
    pub node_id: Rc<str>,
    /// Every node of the cluster, this one included.
    pub node_ids: Vec<String>,
}

/// Converts between `Instant`s and the wheel's one-millisecond ticks.
#[derive(Debug, Clone, Copy)]
struct Clock {
    origin: Instant,
}

const NANOS_PER_TICK: u128 = 1_000_000;

impl Clock {
    /// The tick containing `now` (rounded down: the wheel may only fire what is due).
    fn now_tick(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.origin).as_nanos() / NANOS_PER_TICK) as u64
    }

    /// The first tick at or after `delay` past `now` (rounded up: never fire early).
    ///
    /// Saturates instead of overflowing: any `delay`, `Duration::MAX` included, gives a deadline
    /// that is far away rather than a panic or a tick that wrapped around into the past.
    fn deadline_tick(&self, now: Instant, delay: Duration) -> u64 {
        let since_origin = now.saturating_duration_since(self.origin);
        let nanos = since_origin.saturating_add(delay).as_nanos();
        u64::try_from(nanos.div_ceil(NANOS_PER_TICK)).unwrap_or(u64::MAX)
    }

    /// The instant tick `tick` starts at. The wheel only asks about ticks before its horizon,
    /// at most [`SPAN`](crate::timer::SPAN) ticks (about 795 days) past the current one.
    fn instant(&self, tick: u64) -> Instant {
        self.origin + Duration::from_millis(tick)
    }
}

/// The messaging core handlers talk to. See the module docs for the RPC contract.
pub struct Context {
    config: Config,
    identity: Option<Identity>,
    next_msg_id: u64,
    outbox: Outbox,
    clock: Clock,
    now: Instant,
    rpcs: PendingRpcs<Callback>,
    timers: TimerWheel<TimerAction>,
    stats: Stats,
    /// Latency and size histograms, when metrics are on; counters live in `stats` either way.
    histograms: Option<Histograms>,
}

impl Context {
    pub(crate) fn new(config: Config, now: Instant) -> Self {
        Context {
            config,
            identity: None,
            next_msg_id: 0,
            outbox: Outbox::new(),
            clock: Clock { origin: now },
            now,
            rpcs: PendingRpcs::new(),
            timers: TimerWheel::new(),
            stats: Stats::default(),
            histograms: None,
        }
    }

    /// The node's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The time of the event being handled.
    pub fn now(&self) -> Instant {
        self.now
    }

    pub(crate) fn set_now(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// Who this node is, once initialized.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    pub(crate) fn set_identity(&mut self, identity: Identity) {
        self.identity = Some(identity);
    }

    /// Whether `dest` may be sent to: a node of the cluster or one of Maelstrom's services.
    pub fn is_known_target(&self, dest: &str) -> bool {
        SERVICES.contains(&dest)
            || self
                .identity
                .as_ref()
                .is_some_and(|id| id.node_ids.iter().any(|n| n == dest))
    }

    /// Counters, for tests and metrics.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub(crate) fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// Starts recording RPC and batch latencies into `histograms` (metrics are on).
    pub fn set_histograms(&mut self, histograms: Histograms) {
        self.histograms = Some(histograms);
    }

    /// Output waiting to be flushed.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// Bytes written and not yet flushed.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Number of RPCs awaiting a reply or a timeout.
    pub fn pending_rpcs(&self) -> usize {
        self.rpcs.len()
    }

    /// Number of RPCs the pending table can hold before it allocates again.
    pub fn pending_capacity(&self) -> usize {
        self.rpcs.capacity()
    }

    /// Number of timers parked on the wheel: RPC deadlines and wake-ups.
    pub fn timers_parked(&self) -> usize {
        self.timers.len()
    }

    /// Whether RPC `msg_id` is awaiting a reply or a timeout.
    pub fn is_pending(&self, msg_id: u64) -> bool {
        self.rpcs.get(msg_id).is_some()
    }

    /// Writes a message and returns the `msg_id` it took.
    fn write<B: OutgoingBody + ?Sized>(
        &mut self,
        src: Option<&str>,
        dest: &str,
        body: &B,
        in_reply_to: Option<u64>,
    ) -> Result<u64, WriteError> {
        let msg_id = self.next_msg_id;
        let src = src
            .or(self.identity.as_ref().map(|id| &*id.node_id))
            .unwrap_or_default();
        match write_message(self.outbox.buf_mut(), src, dest, body, msg_id, in_reply_to) {
            Ok(()) => {
                self.next_msg_id += 1;
                self.stats.messages_sent += 1;
                self.stats.sent[body.message_type() as usize] += 1;
                Ok(msg_id)
            }
            Err(e) => {
                self.stats.write_errors += 1;
                log::error!("dropped a message to {dest}: {e}");
                Err(e)
            }
        }
    }

    /// Answers `req` with `body`.
    pub fn reply<B: OutgoingBody + ?Sized>(&mut self, req: &Request<'_>, body: &B) {
        // Before init the node's id is unknown: answer as whom the sender addressed.
        let src = if self.identity.is_none() {
            Some(req.dest)
        } else {
            None
        };
        // A write error is logged and counted inside; there is nothing else to do with it.
        let _ = self.write(src, req.src, body, Some(req.msg_id));
    }

    /// Answers request `in_reply_to` of `dest` with `body`, after the request itself is gone
    /// (a batch answering when its last echo returns).
    pub fn reply_to<B: OutgoingBody + ?Sized>(&mut self, dest: &str, in_reply_to: u64, body: &B) {
        let _ = self.write(None, dest, body, Some(in_reply_to));
    }

    /// Counts a `batch_echo` answered after `values` echoes, started at `started`.
    pub fn record_batch(&mut self, values: usize, started: Instant) {
        self.stats.batches_ok += 1;
        self.stats.batch_values += values as u64;
        if let Some(h) = &self.histograms {
            let latency = self.now.saturating_duration_since(started);
            h.batch_duration.record(latency.as_secs_f64());
            h.batch_size.record(values as f64);
        }
    }

    /// Records the round trip of an RPC sent at `sent_at` whose reply arrived now.
    pub(crate) fn record_rpc_reply(&mut self, sent_at: Instant) {
        if let Some(h) = &self.histograms {
            let rtt = self.now.saturating_duration_since(sent_at);
            h.rpc_duration.record(rtt.as_secs_f64());
        }
    }

    /// Answers `req` with an `error` body.
    pub fn reply_error(&mut self, req: &Request<'_>, code: u32, text: &str) {
        self.stats.errors_sent += 1;
        if code == ErrorCode::MalformedRequest.code() {
            self.stats.malformed_requests += 1;
        }
        self.reply(req, &Body::Error { code, text });
    }

    /// Sends `body` to `dest` expecting no reply; returns its `msg_id`.
    pub fn send<B: OutgoingBody + ?Sized>(
        &mut self,
        dest: &str,
        body: &B,
    ) -> Result<u64, WriteError> {
        self.write(None, dest, body, None)
    }

    /// Sends `body` to `dest` as an RPC: `callback` runs once, with the reply or with
    /// [`RpcError::Timeout`] after `timeout`. Returns the request's `msg_id`.
    ///
    /// If the request cannot be written, the callback is dropped unrun and the error returned.
    pub fn rpc<B, F>(
        &mut self,
        dest: &str,
        body: &B,
        timeout: Duration,
        callback: F,
    ) -> Result<u64, WriteError>
    where
        B: OutgoingBody + ?Sized,
        F: for<'a> FnOnce(&mut Node, RpcResult<'a>) + 'static,
    {
        let msg_id = self.write(None, dest, body, None)?;
        let key = self.rpcs.vacant_key();
        let deadline = self.clock.deadline_tick(self.now, timeout);
        let timer = self
            .timers
            .insert(deadline, TimerAction::RpcDeadline { key, msg_id });
        self.rpcs
            .insert(msg_id, timer, self.now, Box::new(callback));
        self.stats.rpcs_sent += 1;
        Ok(msg_id)
    }

    /// [`rpc`](Self::rpc) to this node itself, through the network and back.
    ///
    /// # Panics
    ///
    /// If the node is not initialized: it does not know its own id yet.
    pub fn rpc_to_self<B, F>(
        &mut self,
        body: &B,
        timeout: Duration,
        callback: F,
    ) -> Result<u64, WriteError>
    where
        B: OutgoingBody + ?Sized,
        F: for<'a> FnOnce(&mut Node, RpcResult<'a>) + 'static,
    {
        let me = match &self.identity {
            Some(id) => Rc::clone(&id.node_id),
            // Handlers run only after init (dispatch answers anything else with error 11
            // before it), and init itself sends nothing: reaching this is a bug in a handler.
            None => panic!("rpc_to_self before init: a handler ran before the node had an id"),
        };
        self.rpc(&me, body, timeout, callback)
    }

    /// Forgets RPC `msg_id` without running its callback. Returns whether it was pending.
    pub fn cancel_rpc(&mut self, msg_id: u64) -> bool {
        match self.rpcs.cancel(msg_id) {
            Some(pending) => {
                self.timers.cancel(pending.timer);
                self.stats.rpcs_cancelled += 1;
                true
            }
            None => false,
        }
    }

    /// Runs `f` after `delay`, off the same timer wheel as RPC deadlines.
    pub fn after(&mut self, delay: Duration, f: impl FnOnce(&mut Node) + 'static) {
        let deadline = self.clock.deadline_tick(self.now, delay);
        self.timers.insert(deadline, TimerAction::Wake(Box::new(f)));
    }

    /// When the next timer may fire, for the poll timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline().map(|t| self.clock.instant(t))
    }

    /// Takes the RPC a reply names, cancelling its deadline.
    pub(crate) fn complete_rpc(&mut self, in_reply_to: u64) -> Option<(Callback, Instant)> {
        let pending = self.rpcs.complete(in_reply_to)?;
        self.timers.cancel(pending.timer);
        Some((pending.callback, pending.sent_at))
    }

    /// Takes one due timer, if any.
    pub(crate) fn pop_timer(&mut self) -> Option<TimerAction> {
        let tick = self.clock.now_tick(self.now);
        let action = self.timers.pop_expired(tick);
        if action.is_none() {
            self.rpcs.shrink_if_idle();
        }
        action
    }

    /// Takes the RPC whose deadline fired, if it is still the one in that slot.
    pub(crate) fn expire_rpc(&mut self, key: PendingKey, msg_id: u64) -> Option<Callback> {
        self.rpcs.expire(key, msg_id).map(|p| p.callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_rounds_deadlines_up_and_now_down() {
        let origin = Instant::now();
        let clock = Clock { origin };
        let t = origin + Duration::from_micros(1500);
        assert_eq!(clock.now_tick(t), 1);
        assert_eq!(clock.deadline_tick(t, Duration::ZERO), 2);
        assert_eq!(clock.deadline_tick(origin, Duration::from_micros(1500)), 2);
        assert_eq!(clock.deadline_tick(origin, Duration::from_millis(3)), 3);
        assert_eq!(clock.now_tick(origin), 0);
    }

    #[test]
    fn clock_saturates_huge_delays() {
        let origin = Instant::now();
        let clock = Clock { origin };
        let later = origin + Duration::from_millis(5);
        let max_ms = Duration::from_millis(u64::MAX);
        assert_eq!(
            clock.deadline_tick(later, max_ms),
            u64::MAX,
            "no wrap-around"
        );
        assert_eq!(clock.deadline_tick(later, Duration::MAX), u64::MAX);
    }

    #[test]
    fn known_targets_are_peers_and_services() {
        let mut ctx = Context::new(Config::default(), Instant::now());
        assert!(!ctx.is_known_target("n2"));
        ctx.set_identity(Identity {
            node_id: Rc::from("n1"),
            node_ids: vec!["n1".into(), "n2".into()],
        });
        assert!(ctx.is_known_target("n2"));
        assert!(ctx.is_known_target("lin-kv"));
        assert!(!ctx.is_known_target("n3"));
        assert!(!ctx.is_known_target("c1"));
    }
}
