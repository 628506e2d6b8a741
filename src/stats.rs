//! Plain counters owned by the node.
//!
//! Hot paths bump a `u64` field; the metrics module copies them into the metrics registry
//! when it renders or on its upkeep timer, so counting costs nothing per message and tests can
//! read exact values without a recorder.

use std::fmt;

use crate::message_type::MessageType;

/// Why an input line was rejected without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Nothing but whitespace.
    Empty,
    /// Longer than the configured maximum; discarded unbuffered.
    TooLong,
    /// Not valid UTF-8.
    NotUtf8,
    /// Not a JSON object with string `src` and `dest` and a `body`.
    BadEnvelope,
    /// A body that is not an object with a string `type` and integer ids.
    BadBody,
    /// A request without a `msg_id`: there is no way to answer it.
    NoMsgId,
    /// Addressed to another node.
    Misaddressed,
}

impl Rejection {
    /// Every reason, in a fixed order (the index into [`Stats::rejected`]).
    pub const ALL: [Rejection; 7] = [
        Rejection::Empty,
        Rejection::TooLong,
        Rejection::NotUtf8,
        Rejection::BadEnvelope,
        Rejection::BadBody,
        Rejection::NoMsgId,
        Rejection::Misaddressed,
    ];

    /// A short label, used in logs and as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Empty => "empty",
            Rejection::TooLong => "too_long",
            Rejection::NotUtf8 => "not_utf8",
            Rejection::BadEnvelope => "bad_envelope",
            Rejection::BadBody => "bad_body",
            Rejection::NoMsgId => "no_msg_id",
            Rejection::Misaddressed => "misaddressed",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters of everything the node did. Monotonic.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Input lines seen, rejected ones included.
    pub lines_received: u64,
    /// Rejected lines, indexed like [`Rejection::ALL`].
    pub rejected: [u64; Rejection::ALL.len()],
    /// Well-formed messages received (requests and replies), indexed by [`MessageType`].
    pub received: [u64; MessageType::COUNT],
    /// Messages written.
    pub messages_sent: u64,
    /// Messages written, indexed by [`MessageType`].
    pub sent: [u64; MessageType::COUNT],
    /// `error` replies written.
    pub errors_sent: u64,
    /// Requests of a known type with missing or mistyped fields, answered with error 12.
    pub malformed_requests: u64,
    /// Messages that could not be serialized (a bug; logged).
    pub write_errors: u64,
    /// RPC requests written.
    pub rpcs_sent: u64,
    /// RPCs answered with a non-error reply.
    pub rpcs_ok: u64,
    /// RPCs answered with an `error` reply.
    pub rpcs_error: u64,
    /// RPCs whose deadline fired first.
    pub rpcs_timeout: u64,
    /// RPCs given up by their owner (the rest of a failed batch).
    pub rpcs_cancelled: u64,
    /// Replies naming no pending RPC: late, duplicate or unknown.
    pub stale_replies: u64,
    /// RPC attempts repeated after a timeout.
    pub retries: u64,
    /// Fire-and-forget RPCs freed by their deadline.
    pub reaped: u64,
    /// `batch_echo` requests answered with `batch_echo_ok`.
    pub batches_ok: u64,
    /// Values echoed by those batches.
    pub batch_values: u64,
    /// Turns of the poll loop: one wait for events and the work that followed.
    pub loop_turns: u64,
}

impl Stats {
    /// Lines rejected for `reason`.
    pub fn rejected(&self, reason: Rejection) -> u64 {
        self.rejected[reason as usize]
    }

    pub(crate) fn reject(&mut self, reason: Rejection) {
        self.rejected[reason as usize] += 1;
    }

    /// Messages of type `kind` received.
    pub fn received(&self, kind: MessageType) -> u64 {
        self.received[kind as usize]
    }

    /// Messages of type `kind` written.
    pub fn sent(&self, kind: MessageType) -> u64 {
        self.sent[kind as usize]
    }
}
