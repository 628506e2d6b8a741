//! The node's messaging core, lent to every handler, callback and timer: identity, the
//! `msg_id` counter, the outbox, pending RPCs, the timer wheel, the clock and the random
//! generator. No I/O: what it writes waits in the [`Outbox`] for the driver.
//!
//! # The RPC contract
//!
//! [`Context::rpc`] writes a request, parks its callback in [`PendingRpcs`] and its deadline
//! in the [`TimerWheel`]. Later exactly one of these happens:
//!
//! - a reply naming its `msg_id`, *sent by the RPC's `dest`*, arrives first: the deadline is
//!   cancelled and the callback runs with `Ok(reply)`, or with `Err(error)` when the reply is
//!   an `error` body; a reply naming it from anyone else is stale: counted, logged at debug
//!   level, dropped, and the RPC stays pending;
//! - the deadline fires first: the entry is removed and the callback runs with
//!   [`Error::timeout`]; a reply arriving afterwards finds nothing and is counted as stale;
//! - its owner calls [`Context::cancel_rpc`]: both are removed and the callback never runs.
//!
//! Either way the entry and its deadline are freed: nothing leaks on timeout. Callbacks get
//! `(&mut A, &mut Context<A>)`, never captured pointers: state shared by several RPCs lives
//! in the app, and callbacks carry a key to it.
//!
//! The window of RPCs in flight and their adaptive timeouts are in `context/window.rs`
//! ([`crate::flow`]); each client request's deadline and the warnings' rate limit in
//! `context/answers.rs` ([`crate::ops`], [`crate::warn`]).
//!
//! # Determinism
//!
//! The context never reads a clock or a random source: [`now`](Context::now) is the time the
//! driver handed in with the event being handled, and [`rng`](Context::rng) is seeded from
//! [`Config::seed`].

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::flow::{Dest, RttTable, Window};
use crate::labels::MessageTypes;
use crate::ops::{OpRef, OpenOps};
use crate::outbox::Outbox;
use crate::protocol::{write_message, WriteError};
use crate::request::{Reply, ReplyTo, Request};
use crate::rpc::{PendingKey, PendingRpcs};
use crate::stats::{Counter, Stats};
use crate::timer::{TimerKey, TimerWheel};
use crate::warn::WarnLimiter;

mod answers;
mod window;

/// Maelstrom's services a node may address besides its peers.
pub const SERVICES: [&str; 4] = ["lin-kv", "seq-kv", "lww-kv", "lin-tso"];

/// The `msg_id` of a message this node wrote; names an RPC for [`Context::cancel_rpc`].
pub type MsgId = u64;

/// What runs when an RPC ends.
pub(crate) type Callback<A> =
    Box<dyn for<'r> FnOnce(&mut A, &mut Context<A>, Result<Reply<'r>, Error>)>;

/// What runs when a timer of [`Context::after`] fires.
pub(crate) type Wake<A> = Box<dyn FnOnce(&mut A, &mut Context<A>)>;

/// A pending RPC's callback, whom a reply must come from, and its timing.
pub(crate) struct Call<A> {
    pub(crate) dest: Dest,
    pub(crate) callback: Callback<A>,
    /// The request, written and waiting for room in the window; `None` once it went out.
    queued: Option<Queued>,
    /// How long each attempt may take once sent.
    attempt: Attempt,
    /// The tick after which the callback must have run, whatever the attempt says.
    until: u64,
    /// Whether the armed deadline is the attempt's (not `until`): only then does a timeout
    /// say something about the destination.
    attempt_bound: bool,
}

/// A request waiting for room in the window, serialized already.
struct Queued {
    line: Box<[u8]>,
    /// Its message type label, counted as sent when it goes out.
    label: usize,
}

/// How long an RPC's attempt may take, counted from when it goes out.
#[derive(Debug, Clone, Copy)]
enum Attempt {
    /// A fixed duration ([`Context::rpc`]).
    Fixed(Duration),
    /// The destination's retransmission timeout, doubled per retry ([`Context::rpc_rto`]).
    Rto { retries: u32, max: Duration },
}

/// What a timer does when it fires.
pub(crate) enum TimerAction<A> {
    /// An RPC's deadline: time it out if it is still pending.
    RpcDeadline {
        /// Its slot in the pending table.
        key: PendingKey,
        /// Its `msg_id`, to tell it from a newer RPC in a reused slot.
        msg_id: u64,
    },
    /// A client operation's deadline: answer error 0 if it is still open.
    OpDeadline { op: OpRef },
    /// Run a closure ([`Context::after`]).
    Wake {
        /// Tells this timer from a later one in the same wheel slot.
        generation: u64,
        f: Wake<A>,
    },
}

/// A timer set by [`Context::after`], to cancel it.
///
/// Generation-checked: once the timer has fired or been cancelled, its id cancels nothing,
/// even when the wheel has reused its slot for another timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    key: TimerKey,
    generation: u64,
}

/// Who this node is, once `init` has said so.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) node_id: String,
    pub(crate) node_ids: Vec<String>,
}

/// Converts between `Instant`s and the wheel's one-millisecond ticks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
}

const NANOS_PER_TICK: u32 = 1_000_000;

/// Whole ticks in `d`, rounded down or up; in `u64`s (a `u128` division costs far more, and
/// this runs a few times per RPC), saturating.
fn ticks(d: Duration, round_up: bool) -> u64 {
    let nanos = d.subsec_nanos();
    let part = if round_up {
        nanos.div_ceil(NANOS_PER_TICK)
    } else {
        nanos / NANOS_PER_TICK
    };
    d.as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(part))
}

impl Clock {
    /// The tick containing `now` (rounded down: the wheel may only fire what is due).
    fn now_tick(&self, now: Instant) -> u64 {
        ticks(now.saturating_duration_since(self.origin), false)
    }

    /// The first tick at or after `delay` past `now` (rounded up: never fire early).
    ///
    /// Saturates instead of overflowing: any `delay`, `Duration::MAX` included, gives a deadline
    /// that is far away rather than a panic or a tick that wrapped around into the past.
    fn deadline_tick(&self, now: Instant, delay: Duration) -> u64 {
        let since_origin = now.saturating_duration_since(self.origin);
        ticks(since_origin.saturating_add(delay), true)
    }

    /// The instant tick `tick` starts at. The wheel only asks about ticks before its horizon,
    /// at most [`SPAN`](crate::timer::SPAN) ticks (about 795 days) past the current one.
    fn instant(&self, tick: u64) -> Instant {
        self.origin + Duration::from_millis(tick)
    }
}

/// The body of an `error` reply.
#[derive(Serialize)]
struct ErrorOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    code: u32,
    text: &'a str,
}

/// The messaging core handlers, callbacks and timers talk to. See the module docs for the
/// RPC contract.
pub struct Context<A> {
    config: Config,
    pub(crate) identity: Option<Identity>,
    next_msg_id: u64,
    outbox: Outbox,
    clock: Clock,
    now: Instant,
    rng: fastrand::Rng,
    pub(crate) rpcs: PendingRpcs<Call<A>>,
    timers: TimerWheel<TimerAction<A>>,
    next_generation: u64,
    pub(crate) stats: Stats,
    types: MessageTypes,
    /// RPC round trips, when metrics are on.
    rpc_duration: Option<metrics::Histogram>,
    /// RPCs on the wire and those waiting for room.
    window: Window,
    /// Round-trip estimates by destination.
    rtts: RttTable,
    /// Client requests left unanswered by their handler, until their deadline.
    ops: OpenOps<TimerKey>,
    /// The client operation whose handler is running, and whether it has been answered.
    current_op: Option<(OpRef, bool)>,
    /// The one rate limit of per-message warnings.
    pub(crate) warnings: WarnLimiter,
}

impl<A> Context<A> {
    pub(crate) fn new(config: Config, now: Instant, types: MessageTypes) -> Self {
        let rng = config
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        Context {
            identity: None,
            next_msg_id: 0,
            outbox: Outbox::new(),
            clock: Clock { origin: now },
            now,
            rng,
            rpcs: PendingRpcs::new(),
            timers: TimerWheel::new(),
            next_generation: 0,
            stats: Stats::new(types.len()),
            types,
            rpc_duration: None,
            window: Window::new(config.rpc_window),
            rtts: RttTable::new(config.rto),
            ops: OpenOps::default(),
            current_op: None,
            warnings: WarnLimiter::default(),
            config,
        }
    }

    /// This node's id; `""` before `init` (handlers, callbacks and timers of the app only run
    /// after it, so there it is always set).
    pub fn node_id(&self) -> &str {
        self.identity.as_ref().map_or("", |id| &id.node_id)
    }

    /// Every node of the cluster, this one included, as `init` listed them; empty before it.
    pub fn node_ids(&self) -> &[String] {
        self.identity.as_ref().map_or(&[], |id| &id.node_ids)
    }

    /// The other nodes of the cluster, in the order of [`node_ids`](Self::node_ids).
    pub fn peers(&self) -> impl Iterator<Item = &str> {
        let me = self.node_id();
        self.node_ids()
            .iter()
            .map(String::as_str)
            .filter(move |id| *id != me)
    }

    /// The time of the event being handled, as the driver handed it in. Never goes back.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The node's random generator, seeded from [`Config::seed`]: the one source of randomness
    /// an app should use, so a seeded run replays exactly.
    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    /// The node's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether `dest` may be sent to: a node of the cluster or one of Maelstrom's
    /// [`SERVICES`]. Sending anywhere else (but to a client that wrote to this node) breaks
    /// Maelstrom's reader for this node.
    pub fn is_known_target(&self, dest: &str) -> bool {
        SERVICES.contains(&dest) || self.node_ids().iter().any(|n| n == dest)
    }

    /// Counters, for tests and metrics.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The message type labels the node counts by.
    pub fn message_types(&self) -> &MessageTypes {
        &self.types
    }

    /// The label of a received message's `type`.
    pub(crate) fn classify(&mut self, kind: &str) -> usize {
        self.types.classify(kind)
    }

    /// Bytes written and not yet flushed.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Number of RPCs awaiting a reply or a timeout.
    pub fn pending_rpcs(&self) -> usize {
        self.rpcs.len()
    }

    /// Whether RPC `msg_id` is awaiting a reply or a timeout.
    pub fn is_pending(&self, msg_id: MsgId) -> bool {
        self.rpcs.get(msg_id).is_some()
    }

    /// Number of RPCs the pending table can hold before it allocates again.
    pub fn pending_capacity(&self) -> usize {
        self.rpcs.capacity()
    }

    /// Number of timers parked on the wheel: RPC deadlines and [`after`](Self::after)s.
    pub fn timers_parked(&self) -> usize {
        self.timers.len()
    }

    /// Answers `req` with `body`, which must serialize to a JSON object with a `type`;
    /// `msg_id` and `in_reply_to` are added. A body that does not serialize to an object is
    /// logged as a bug and not written.
    pub fn reply<B: Serialize + ?Sized>(&mut self, req: &Request<'_>, body: &B) {
        self.answered_now(req);
        // Before init the node's id is unknown: answer as whom the sender addressed.
        let src = self.identity.is_none().then_some(req.dest);
        let _ = self.write(src, req.src, body, Some(req.msg_id));
    }

    /// Answers the request `to` names with `body`, after the request itself is gone. For a
    /// client's request past its deadline (answered error 0 by the runtime then) or answered
    /// already, nothing is written: see [`ReplyTo`].
    pub fn reply_later<B: Serialize + ?Sized>(&mut self, to: &ReplyTo, body: &B) {
        if self.may_answer(to) {
            let _ = self.write(None, &to.dest, body, Some(to.in_reply_to));
        }
    }

    /// Answers the request `to` names with an `error` body: `error`'s code and text. Dropped
    /// like [`reply_later`](Self::reply_later)'s answer past the deadline.
    pub fn reply_error(&mut self, to: &ReplyTo, error: &Error) {
        if self.may_answer(to) {
            self.write_error(None, &to.dest, to.in_reply_to, error);
        }
    }

    /// Answers `req` with `error` (what returning `Err` from a handler does).
    pub(crate) fn reply_error_now(&mut self, req: &Request<'_>, error: &Error) {
        self.answered_now(req);
        let src = self.identity.is_none().then_some(req.dest);
        self.write_error(src, req.src, req.msg_id, error);
    }

    fn write_error(&mut self, src: Option<&str>, dest: &str, in_reply_to: u64, error: &Error) {
        if error.code() == ErrorCode::MalformedRequest {
            self.stats.bump(Counter::MalformedRequests);
        }
        let body = ErrorOut {
            kind: "error",
            code: error.code().code(),
            text: error.text(),
        };
        let _ = self.write(src, dest, &body, Some(in_reply_to));
    }

    /// Sends `body` to `dest`, expecting no reply; returns the `msg_id` it took. A reply that
    /// comes anyway is counted as stale. A body that does not serialize to a JSON object is
    /// logged as a bug and not written (its `msg_id` is then used by nothing).
    pub fn send<B: Serialize + ?Sized>(&mut self, dest: &str, body: &B) -> MsgId {
        match self.write(None, dest, body, None) {
            Ok(msg_id) => msg_id,
            Err(_) => self.skip_msg_id(),
        }
    }

    /// Sends `body` to `dest` as an RPC. `callback` runs exactly once: with the reply, with
    /// the peer's `error` reply as `Err`, or with [`Error::timeout`] once `timeout` has
    /// passed, unless [`cancel_rpc`](Self::cancel_rpc) comes first. Only a reply whose `src`
    /// is `dest` counts. Returns the request's `msg_id`.
    ///
    /// A body that does not serialize to a JSON object is a bug: it is logged, nothing is
    /// sent, and `callback` runs with an error 13 from a timer due within a millisecond (never
    /// inside this call: it needs the app, which the caller holds).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mionode::{App, NoFlags, Routes};
    /// use serde::Deserialize;
    /// use serde_json::json;
    ///
    /// /// Forwards `get` to the `lin-kv` service and answers with what it read.
    /// struct Front;
    ///
    /// #[derive(Deserialize)]
    /// struct ReadOk { value: i64 }
    ///
    /// impl App for Front {
    ///     type Flags = NoFlags;
    ///     fn new(_: &NoFlags) -> Self { Front }
    ///     fn routes(routes: &mut Routes<Self>) {
    ///         routes.on("get", |_, ctx, req| {
    ///             let to = req.reply_to();
    ///             let read = json!({"type": "read", "key": "x"});
    ///             ctx.rpc("lin-kv", &read, Duration::from_secs(1), move |_, ctx, result| {
    ///                 match result.and_then(|reply| reply.body::<ReadOk>()) {
    ///                     Ok(ReadOk { value }) => {
    ///                         ctx.reply_later(&to, &json!({"type": "get_ok", "value": value}))
    ///                     }
    ///                     Err(e) => ctx.reply_error(&to, &e),
    ///                 }
    ///             });
    ///             Ok(())
    ///         });
    ///     }
    /// }
    ///
    /// let mut node = mionode::testing::TestNode::<Front>::started("n1", &["n1"]);
    /// let sent = node.deliver("c1", json!({"type": "get", "msg_id": 1}));
    /// assert_eq!(sent[0]["dest"], "lin-kv");
    /// let id = sent[0]["body"]["msg_id"].clone();
    /// let out = node.deliver("lin-kv", json!({"type": "read_ok", "value": 5, "in_reply_to": id}));
    /// assert_eq!(out[0]["body"], json!({"type": "get_ok", "value": 5, "msg_id": 2, "in_reply_to": 1}));
    ///
    /// // No reply: the callback runs with a timeout after the deadline, and nothing stays pending.
    /// node.deliver("c1", json!({"type": "get", "msg_id": 3}));
    /// assert!(node.advance(Duration::from_millis(999)).is_empty());
    /// let out = node.advance(Duration::from_millis(1));
    /// assert_eq!(out[0]["body"]["code"], 0);
    /// assert_eq!(node.context().pending_rpcs(), 0);
    /// ```
    pub fn rpc<B, F>(&mut self, dest: &str, body: &B, timeout: Duration, callback: F) -> MsgId
    where
        B: Serialize + ?Sized,
        A: 'static,
        F: for<'r> FnOnce(&mut A, &mut Context<A>, Result<Reply<'r>, Error>) + 'static,
    {
        let until = self.clock.deadline_tick(self.now, timeout);
        self.start_rpc(
            dest,
            body,
            Attempt::Fixed(timeout),
            until,
            Box::new(callback),
        )
    }

    /// Forgets RPC `id` without running its callback; its deadline is cancelled too, and if
    /// it was waiting for room in the window, it is never sent. Returns whether it was
    /// pending (false once it has completed, timed out or been cancelled).
    pub fn cancel_rpc(&mut self, id: MsgId) -> bool {
        match self.rpcs.cancel(id) {
            Some(pending) => {
                self.timers.cancel(pending.timer);
                self.stats.bump(Counter::RpcsCancelled);
                self.leave_window(&pending.callback);
                true
            }
            None => false,
        }
    }

    /// Runs `f` once, `delay` after [`now`](Self::now) (never earlier; up to the next tick of
    /// one millisecond later), off the same wheel as RPC deadlines. When `f` runs, `now` is
    /// the instant the driver fired timers at, which may be later than the deadline: a timer
    /// that sets the next one from there drifts by that lateness rather than firing in a
    /// burst to catch up.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mionode::{App, Context, NoFlags, Routes};
    /// use serde_json::json;
    ///
    /// /// Says `tick` to every peer every 100 ms, from init on.
    /// struct Ticker { ticks: u32 }
    ///
    /// fn tick(app: &mut Ticker, ctx: &mut Context<Ticker>) {
    ///     app.ticks += 1;
    ///     let peers: Vec<String> = ctx.peers().map(str::to_owned).collect();
    ///     for peer in peers {
    ///         ctx.send(&peer, &json!({"type": "tick"}));
    ///     }
    ///     ctx.after(Duration::from_millis(100), tick);
    /// }
    ///
    /// impl App for Ticker {
    ///     type Flags = NoFlags;
    ///     fn new(_: &NoFlags) -> Self { Ticker { ticks: 0 } }
    ///     fn routes(_: &mut Routes<Self>) {}
    ///     fn on_init(&mut self, ctx: &mut Context<Self>) {
    ///         ctx.after(Duration::from_millis(100), tick);
    ///     }
    /// }
    ///
    /// let mut node = mionode::testing::TestNode::<Ticker>::started("n1", &["n1", "n2"]);
    /// assert!(node.advance(Duration::from_millis(99)).is_empty());
    /// let out = node.advance(Duration::from_millis(1));
    /// assert_eq!(out[0]["dest"], "n2");
    /// node.advance(Duration::from_millis(100));
    /// assert_eq!(node.app().ticks, 2);
    /// ```
    pub fn after<F>(&mut self, delay: Duration, f: F) -> TimerId
    where
        F: FnOnce(&mut A, &mut Context<A>) + 'static,
    {
        let deadline = self.clock.deadline_tick(self.now, delay);
        let generation = self.next_generation;
        self.next_generation += 1;
        let action = TimerAction::Wake {
            generation,
            f: Box::new(f),
        };
        let key = self.timers.insert(deadline, action);
        TimerId { key, generation }
    }

    /// Cancels a timer of [`after`](Self::after) before it fires. Returns whether it was
    /// still waiting.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        match self.timers.get(id.key) {
            Some(TimerAction::Wake { generation, .. }) if *generation == id.generation => {
                self.timers.cancel(id.key);
                true
            }
            _ => false,
        }
    }

    /// When the next timer may fire.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline().map(|t| self.clock.instant(t))
    }

    pub(crate) fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    pub(crate) fn set_now(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    pub(crate) fn set_rpc_histogram(&mut self, histogram: metrics::Histogram) {
        self.rpc_duration = Some(histogram);
    }

    /// Takes one due timer, if any.
    pub(crate) fn pop_timer(&mut self) -> Option<TimerAction<A>> {
        let tick = self.clock.now_tick(self.now);
        let action = self.timers.pop_expired(tick);
        if action.is_none() {
            self.rpcs.shrink_if_idle();
        }
        action
    }

    fn dest_of(&self, dest: &str) -> Dest {
        match self.node_ids().iter().position(|n| n == dest) {
            Some(i) => Dest::Node(i as u32),
            None => Dest::Named(dest.into()),
        }
    }

    fn dest_is(&self, dest: &Dest, src: &str) -> bool {
        match dest {
            Dest::Node(i) => self.node_ids().get(*i as usize).is_some_and(|n| n == src),
            Dest::Named(name) => **name == *src,
        }
    }

    /// A `msg_id` for a message that could not be written: taken from the counter so that
    /// no later message reuses it.
    fn skip_msg_id(&mut self) -> MsgId {
        let msg_id = self.next_msg_id;
        self.next_msg_id += 1;
        msg_id
    }

    /// Writes a message and returns the `msg_id` it took.
    fn write<B: Serialize + ?Sized>(
        &mut self,
        src: Option<&str>,
        dest: &str,
        body: &B,
        in_reply_to: Option<u64>,
    ) -> Result<u64, WriteError> {
        let msg_id = self.next_msg_id;
        let src = src
            .or(self.identity.as_ref().map(|id| id.node_id.as_str()))
            .unwrap_or_default();
        let buf = self.outbox.buf_mut();
        match write_message(buf, src, dest, body, msg_id, in_reply_to) {
            Ok(body_at) => {
                self.next_msg_id += 1;
                // The body ends before the envelope's `}` and the newline.
                let label = self.types.classify_written(&buf[body_at..buf.len() - 2]);
                self.stats.count_sent(label);
                Ok(msg_id)
            }
            Err(e) => {
                if self.admit_warning() {
                    log::error!("dropped a message to {dest}: {e}");
                }
                Err(e)
            }
        }
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

    proptest::proptest! {
        /// The `u64` tick arithmetic agrees with the plain `u128` one wherever that fits.
        #[test]
        fn ticks_agree_with_nanosecond_arithmetic(secs in 0u64..=u64::MAX / 1000, nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            let down = d.as_nanos() / 1_000_000;
            let up = d.as_nanos().div_ceil(1_000_000);
            proptest::prop_assert_eq!(u128::from(ticks(d, false)), down);
            proptest::prop_assert_eq!(u128::from(ticks(d, true)), up);
        }
    }
}
