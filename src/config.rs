//! Settings of a node; the binary fills them from its flags.

use std::time::Duration;

/// Tunables of a [`Node`](crate::Node). `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Deadline of one attempt of a `batch_echo` echo RPC.
    pub rpc_timeout: Duration,
    /// Attempts per echo of a `batch_echo` before the batch fails with error 0.
    pub rpc_attempts: u32,
    /// Deadline of a `proxy` RPC.
    pub proxy_timeout: Duration,
    /// Deadline of one `relay` attempt.
    pub relay_timeout: Duration,
    /// Attempts of a `relay` before it answers error 0.
    pub relay_attempts: u32,
    /// Deadline of a `send_fire_forget` RPC: the reaper frees it then.
    pub reaper_threshold: Duration,
    /// Delay before the first `backoff_relay` retry.
    pub backoff_base: Duration,
    /// Cap on each `backoff_relay` delay.
    pub backoff_max: Duration,
    /// Attempts of a `backoff_relay`.
    pub backoff_attempts: u32,
    /// Deadline of one `backoff_relay` attempt.
    pub backoff_attempt_timeout: Duration,
    /// Seed of the jitter generator; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// Longest input line accepted, in bytes; longer lines are discarded unbuffered.
    pub max_line_bytes: usize,
    /// Unflushed output above which the node stops reading input.
    pub outbox_high_water: usize,
}

/// Default [`Config::max_line_bytes`]: 8 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 << 20;

/// Default [`Config::outbox_high_water`]: 4 MiB.
pub const DEFAULT_OUTBOX_HIGH_WATER: usize = 4 << 20;

impl Default for Config {
    fn default() -> Self {
        Config {
            rpc_timeout: Duration::from_secs(1),
            rpc_attempts: 3,
            proxy_timeout: Duration::from_secs(1),
            relay_timeout: Duration::from_millis(500),
            relay_attempts: 3,
            reaper_threshold: Duration::from_secs(2),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            backoff_attempts: 5,
            backoff_attempt_timeout: Duration::from_millis(500),
            seed: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            outbox_high_water: DEFAULT_OUTBOX_HIGH_WATER,
        }
    }
}
