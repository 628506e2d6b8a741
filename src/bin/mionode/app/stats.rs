//! What the app counts beyond the runtime: retries, reaped callbacks, batches. Kept as plain
//! counters for tests, and recorded through the `metrics` facade (the handles are no-ops when
//! no recorder is installed).

use metrics::{Counter, Histogram, Unit};

/// Counter: RPC attempts repeated after a timeout.
pub const RPC_RETRIES: &str = "mionode_rpc_retries_total";
/// Counter: fire-and-forget RPCs freed by the reaper.
pub const REAPED_CALLBACKS: &str = "mionode_reaped_callbacks_total";
/// Histogram: `batch_echo` to `batch_echo_ok`, seconds (latency buckets: its name ends in
/// `_seconds`).
pub const BATCH_DURATION: &str = "mionode_batch_duration_seconds";
/// Histogram: values per answered `batch_echo`.
pub const BATCH_SIZE: &str = "mionode_batch_size";

/// Buckets of [`BATCH_SIZE`]: powers of two up to 16384 values.
pub const BATCH_SIZE_BUCKETS: [f64; 15] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0,
    16384.0,
];

/// The app's counters, and the metric handles they are mirrored into.
pub struct AppStats {
    /// RPC attempts repeated after a timeout.
    pub retries: u64,
    /// Fire-and-forget RPCs freed by their deadline.
    pub reaped: u64,
    /// `batch_echo` requests answered with `batch_echo_ok`.
    pub batches_ok: u64,
    retries_metric: Counter,
    reaped_metric: Counter,
    batch_duration: Histogram,
    batch_size: Histogram,
}

impl AppStats {
    /// Zero counters; describes and registers the metrics with the current recorder.
    pub fn register() -> AppStats {
        metrics::describe_counter!(
            RPC_RETRIES,
            Unit::Count,
            "RPC attempts repeated after a timeout."
        );
        metrics::describe_counter!(
            REAPED_CALLBACKS,
            Unit::Count,
            "Fire-and-forget RPCs whose callbacks the reaper freed at their deadline."
        );
        metrics::describe_histogram!(
            BATCH_DURATION,
            Unit::Seconds,
            "batch_echo latency: request read to batch_echo_ok written."
        );
        metrics::describe_histogram!(
            BATCH_SIZE,
            Unit::Count,
            "Values in each batch_echo answered with batch_echo_ok."
        );
        AppStats {
            retries: 0,
            reaped: 0,
            batches_ok: 0,
            retries_metric: metrics::counter!(RPC_RETRIES),
            reaped_metric: metrics::counter!(REAPED_CALLBACKS),
            batch_duration: metrics::histogram!(BATCH_DURATION),
            batch_size: metrics::histogram!(BATCH_SIZE),
        }
    }

    /// Counts one retry.
    pub fn retried(&mut self) {
        self.retries += 1;
        self.retries_metric.increment(1);
    }

    /// Counts one reaped callback.
    pub fn reaped(&mut self) {
        self.reaped += 1;
        self.reaped_metric.increment(1);
    }

    /// Counts a batch of `values` answered after `seconds`.
    pub fn batch_answered(&mut self, values: usize, seconds: f64) {
        self.batches_ok += 1;
        self.batch_duration.record(seconds);
        self.batch_size.record(values as f64);
    }
}
