//! Plain counters owned by the node, generated from one table.
//!
//! Hot paths bump a `u64`; the metrics module copies the counters into the metrics registry
//! when it renders or on its upkeep timer, so counting costs nothing per message and tests can
//! read exact values without a recorder. Each [`Counter`] names the metric it feeds and its
//! label, in the one table of the `counters!` invocation below: a new counter is one line
//! there (and its metric's description, if the metric is new, one line in
//! [`METRICS`]).

use std::fmt;

use metrics::Unit;

/// Gauge: RPCs awaiting a reply or a timeout.
pub const RPCS_OUTSTANDING: &str = "mionode_rpcs_outstanding";
/// Counter: RPC requests made.
pub const RPCS_SENT: &str = "mionode_rpcs_sent_total";
/// Counter, label `outcome`: RPCs ended.
pub const RPCS_COMPLETED: &str = "mionode_rpcs_completed_total";
/// Counter: replies naming no pending RPC.
pub const STALE_REPLIES: &str = "mionode_stale_replies_total";
/// Histogram: RPC round trip.
pub const RPC_DURATION: &str = "mionode_rpc_duration_seconds";
/// Counter, label `type`: messages received.
pub const MESSAGES_RECEIVED: &str = "mionode_messages_received_total";
/// Counter, label `type`: messages written.
pub const MESSAGES_SENT: &str = "mionode_messages_sent_total";
/// Counter, label `reason`: input not handled as sent.
pub const MALFORMED_INPUT: &str = "mionode_malformed_input_total";
/// Gauge: bytes written and not yet taken by stdout's reader.
pub const OUTBOX_BYTES: &str = "mionode_outbox_bytes";
/// Counter: turns of the poll loop.
pub const LOOP_TURNS: &str = "mionode_loop_turns_total";
/// Counter: client requests answered error 0 by the runtime at their deadline.
pub const OPS_EXPIRED: &str = "mionode_op_deadline_expired_total";
/// Counter: answers of the app dropped (past the deadline, or a second answer).
pub const ANSWERS_DROPPED: &str = "mionode_answers_dropped_total";
/// Counter: warnings held back by the rate limit.
pub const WARNINGS_HELD: &str = "mionode_warnings_suppressed_total";
/// Gauge: RPCs sent and awaiting a reply or a timeout.
pub const RPC_WINDOW_IN_FLIGHT: &str = "mionode_rpc_window_in_flight";
/// Gauge: RPCs waiting for room in the window.
pub const RPC_WINDOW_QUEUED: &str = "mionode_rpc_window_queued";
/// Gauge, label `dest`: smoothed round trip to a destination.
pub const RPC_SRTT: &str = "mionode_rpc_srtt_seconds";
/// Gauge, label `dest`: retransmission timeout of a destination.
pub const RPC_RTO: &str = "mionode_rpc_rto_seconds";

/// What kind of metric a [`MetricDef`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic count.
    Counter,
    /// A level.
    Gauge,
    /// A distribution in buckets.
    Histogram,
}

/// A runtime metric: its name, kind, unit and description.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// Its name.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Its unit.
    pub unit: Unit,
    /// What it measures, for `# HELP`.
    pub help: &'static str,
}

const fn def(name: &'static str, kind: Kind, unit: Unit, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind,
        unit,
        help,
    }
}

/// Every runtime metric: the one list their names, kinds and descriptions come from.
pub const METRICS: [MetricDef; 17] = [
    def(
        RPCS_OUTSTANDING,
        Kind::Gauge,
        Unit::Count,
        "RPCs awaiting a reply or a timeout.",
    ),
    def(
        RPCS_SENT,
        Kind::Counter,
        Unit::Count,
        "RPC requests made, retries included; one waiting in the window's queue counts, \
         written or not.",
    ),
    def(
        RPCS_COMPLETED,
        Kind::Counter,
        Unit::Count,
        "RPCs ended, by outcome: ok (reply), error (error reply), timeout (deadline first), \
         cancelled (given up by their owner).",
    ),
    def(
        STALE_REPLIES,
        Kind::Counter,
        Unit::Count,
        "Replies naming no pending RPC (late, duplicate, unknown, or from another node than \
         the RPC's destination), dropped undelivered.",
    ),
    def(
        RPC_DURATION,
        Kind::Histogram,
        Unit::Seconds,
        "RPC round trip: request written to reply read, for RPCs answered (ok or error).",
    ),
    def(
        MESSAGES_RECEIVED,
        Kind::Counter,
        Unit::Count,
        "Well-formed messages read from stdin, by type (unlisted types are other).",
    ),
    def(
        MESSAGES_SENT,
        Kind::Counter,
        Unit::Count,
        "Messages written to stdout, by type (unlisted types are other).",
    ),
    def(
        MALFORMED_INPUT,
        Kind::Counter,
        Unit::Count,
        "Input not handled as sent, by reason: lines dropped unanswered (empty, too_long, \
         not_utf8, bad_envelope, bad_body, no_msg_id, misaddressed) and requests answered \
         with error 12 (malformed_request).",
    ),
    def(
        OUTBOX_BYTES,
        Kind::Gauge,
        Unit::Bytes,
        "Bytes written and not yet taken by stdout's reader.",
    ),
    def(
        LOOP_TURNS,
        Kind::Counter,
        Unit::Count,
        "Turns of the poll loop: one wait for events and the work that followed.",
    ),
    def(
        OPS_EXPIRED,
        Kind::Counter,
        Unit::Count,
        "Client requests left unanswered by the app until their deadline (--op-deadline-ms), \
         answered error 0 by the runtime.",
    ),
    def(
        ANSWERS_DROPPED,
        Kind::Counter,
        Unit::Count,
        "Answers of the app not written: past their request's deadline, or a second answer.",
    ),
    def(
        WARNINGS_HELD,
        Kind::Counter,
        Unit::Count,
        "Per-message warnings not logged one by one: over the rate limit.",
    ),
    def(
        RPC_WINDOW_IN_FLIGHT,
        Kind::Gauge,
        Unit::Count,
        "RPCs sent and awaiting a reply or a timeout: at most --rpc-window.",
    ),
    def(
        RPC_WINDOW_QUEUED,
        Kind::Gauge,
        Unit::Count,
        "RPCs waiting for room in the window, not yet sent.",
    ),
    def(
        RPC_SRTT,
        Kind::Gauge,
        Unit::Seconds,
        "Smoothed round trip (RFC 6298) to each destination that has answered: the \
         cluster's nodes and up to 32 others.",
    ),
    def(
        RPC_RTO,
        Kind::Gauge,
        Unit::Seconds,
        "Retransmission timeout of each destination with an estimate, backoff included.",
    ),
];

/// Every runtime metric's name.
pub const NAMES: [&str; METRICS.len()] = {
    let mut names = [""; METRICS.len()];
    let mut i = 0;
    while i < METRICS.len() {
        names[i] = METRICS[i].name;
        i += 1;
    }
    names
};

macro_rules! counters {
    ($($(#[$doc:meta])* $variant:ident => $metric:expr, $label:expr;)*) => {
        /// A counter of the runtime: an index into [`Stats`], and the metric it feeds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Counter {
            $($(#[$doc])* $variant,)*
        }

        impl Counter {
            /// Every counter, in index order.
            pub const ALL: &'static [Counter] = &[$(Counter::$variant),*];

            /// The metric this counter is copied into.
            pub fn metric(self) -> &'static str {
                match self { $(Counter::$variant => $metric,)* }
            }

            /// Its label on that metric, as (key, value), if the metric has one.
            pub fn label(self) -> Option<(&'static str, &'static str)> {
                match self { $(Counter::$variant => $label,)* }
            }
        }
    };
}

counters! {
    /// RPC requests made (written, or waiting in the window's queue).
    RpcsSent => RPCS_SENT, None;
    /// RPCs answered with a reply that is not an `error`.
    RpcsOk => RPCS_COMPLETED, Some(("outcome", "ok"));
    /// RPCs answered with an `error` reply.
    RpcsError => RPCS_COMPLETED, Some(("outcome", "error"));
    /// RPCs whose deadline fired first.
    RpcsTimeout => RPCS_COMPLETED, Some(("outcome", "timeout"));
    /// RPCs given up by their owner ([`Context::cancel_rpc`](crate::Context::cancel_rpc)).
    RpcsCancelled => RPCS_COMPLETED, Some(("outcome", "cancelled"));
    /// Replies naming no pending RPC, or sent by another node than the RPC's `dest`.
    StaleReplies => STALE_REPLIES, None;
    /// Requests answered with error 12.
    MalformedRequests => MALFORMED_INPUT, Some(("reason", "malformed_request"));
    /// Lines of nothing but whitespace.
    Empty => MALFORMED_INPUT, Some(("reason", "empty"));
    /// Lines longer than the maximum, discarded unbuffered.
    TooLong => MALFORMED_INPUT, Some(("reason", "too_long"));
    /// Lines that are not UTF-8.
    NotUtf8 => MALFORMED_INPUT, Some(("reason", "not_utf8"));
    /// Lines that are not a JSON object with string `src` and `dest` and a `body`.
    BadEnvelope => MALFORMED_INPUT, Some(("reason", "bad_envelope"));
    /// Bodies that are not an object with a string `type` and integer ids.
    BadBody => MALFORMED_INPUT, Some(("reason", "bad_body"));
    /// Requests without a `msg_id`: there is no way to answer them.
    NoMsgId => MALFORMED_INPUT, Some(("reason", "no_msg_id"));
    /// Messages addressed to another node.
    Misaddressed => MALFORMED_INPUT, Some(("reason", "misaddressed"));
    /// Lines nested deeper than [`MAX_DEPTH`](crate::depth::MAX_DEPTH) that could not be
    /// answered (a reply, or no `msg_id`); answerable ones count as malformed requests.
    TooDeep => MALFORMED_INPUT, Some(("reason", "too_deep"));
    /// Client requests the runtime answered with error 0 at their deadline.
    OpsExpired => OPS_EXPIRED, None;
    /// Answers of the app dropped: past their request's deadline, or a second answer.
    AnswersDropped => ANSWERS_DROPPED, None;
    /// Warnings held back by the rate limit.
    WarningsHeld => WARNINGS_HELD, None;
    /// Turns of the poll loop: one wait for events and the work that followed.
    LoopTurns => LOOP_TURNS, None;
}

/// Why an input line was rejected without an answer: one of the rejection [`Counter`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection(Counter);

impl Rejection {
    /// Nothing but whitespace.
    pub const EMPTY: Rejection = Rejection(Counter::Empty);
    /// Longer than the configured maximum.
    pub const TOO_LONG: Rejection = Rejection(Counter::TooLong);
    /// Not valid UTF-8.
    pub const NOT_UTF8: Rejection = Rejection(Counter::NotUtf8);
    /// Not a JSON object with string `src` and `dest` and a `body`.
    pub const BAD_ENVELOPE: Rejection = Rejection(Counter::BadEnvelope);
    /// A body that is not an object with a string `type` and integer ids.
    pub const BAD_BODY: Rejection = Rejection(Counter::BadBody);
    /// A request without a `msg_id`.
    pub const NO_MSG_ID: Rejection = Rejection(Counter::NoMsgId);
    /// Addressed to another node.
    pub const MISADDRESSED: Rejection = Rejection(Counter::Misaddressed);
    /// Nested too deeply, and not a request that can be answered.
    pub const TOO_DEEP: Rejection = Rejection(Counter::TooDeep);

    /// Its counter.
    pub fn counter(self) -> Counter {
        self.0
    }

    /// A short name, used in logs and as the metric label.
    pub fn as_str(self) -> &'static str {
        self.0.label().map_or("", |(_, v)| v)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters of everything the node did. Monotonic.
#[derive(Debug, Clone)]
pub struct Stats {
    counters: [u64; Counter::ALL.len()],
    /// Well-formed messages received (requests and replies), indexed by message type label
    /// ([`MessageTypes`](crate::labels::MessageTypes)).
    received: Vec<u64>,
    /// Messages written, indexed like `received`.
    sent: Vec<u64>,
}

impl Stats {
    /// Zero counters for `types` message type labels.
    pub fn new(types: usize) -> Stats {
        Stats {
            counters: [0; Counter::ALL.len()],
            received: vec![0; types],
            sent: vec![0; types],
        }
    }

    /// The value of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter as usize]
    }

    /// Adds one to `counter`.
    pub fn bump(&mut self, counter: Counter) {
        self.counters[counter as usize] += 1;
    }

    /// Lines rejected for `reason`.
    pub fn rejected(&self, reason: Rejection) -> u64 {
        self.get(reason.0)
    }

    /// Messages received, by type label index.
    pub fn received(&self) -> &[u64] {
        &self.received
    }

    /// Messages written, by type label index.
    pub fn sent(&self) -> &[u64] {
        &self.sent
    }

    pub(crate) fn count_received(&mut self, label: usize) {
        self.received[label] += 1;
    }

    pub(crate) fn count_sent(&mut self, label: usize) {
        self.sent[label] += 1;
    }
}
