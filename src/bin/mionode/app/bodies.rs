//! The bodies the app writes, tagged with their `type` (written first, so the runtime counts
//! them by type without parsing them back).

use serde::Serialize;
use serde_json::value::RawValue;

/// A body this app writes; the runtime adds `msg_id` and `in_reply_to`. (Every one is an
/// answer, named after its Maelstrom type: the echo requests of a batch are the retry
/// engine's fan-out bodies.)
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body<'a> {
    /// Answer to `echo`.
    EchoOk {
        /// The value received.
        echo: &'a RawValue,
    },
    /// Answer to `batch_echo`.
    BatchEchoOk {
        /// The echoed values, in the order of the request's `values`.
        results: &'a RawValue,
    },
    /// Answer to `pending_count`.
    PendingCountOk {
        /// RPCs awaiting a reply or a timeout.
        count: usize,
    },
    /// Answer to `send_fire_forget`.
    SendFireForgetOk {
        /// RPCs awaiting a reply or a timeout, the one just sent included.
        pending: usize,
    },
    /// Answer to `proxy`.
    ProxyOk {
        /// The body of the target's reply.
        result: &'a RawValue,
    },
    /// Answer to `relay`.
    RelayOk {
        /// Attempts made, the successful one included.
        attempts: u32,
        /// The body of the target's reply.
        result: &'a RawValue,
    },
    /// Answer to `backoff_relay`.
    BackoffRelayOk {
        /// Attempts made, the successful one included.
        attempts: u32,
        /// Milliseconds spent waiting between attempts.
        total_delay_ms: u64,
    },
    /// Answer to `compute_backoff`.
    ComputeBackoffOk {
        /// Delay before each retry, in milliseconds.
        schedule_ms: &'a [u64],
        /// Sum of `schedule_ms`.
        total_ms: u64,
        /// Number of retries in the schedule.
        retries: u32,
    },
}
