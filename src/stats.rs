//! Plain counters owned by the node, generated from one table.
//!
//! Hot paths bump a `u64`; the metrics module copies the counters into the metrics registry
//! when it renders or on its upkeep timer, so counting costs nothing per message and tests can
//! read exact values without a recorder. Each [`Counter`] names the metric it feeds and its
//! label, in the one table of the `counters!` invocation below: a new counter is one line
//! there (and its metric's description, if the metric is new, one line in
//! [`metrics::METRICS`](crate::metrics::METRICS)).

use std::fmt;

use crate::metrics::{
    ANSWERS_DROPPED, LOOP_TURNS, MALFORMED_INPUT, OPS_EXPIRED, RPCS_COMPLETED, RPCS_SENT,
    STALE_REPLIES, WARNINGS_HELD,
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
    /// RPC requests written.
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
