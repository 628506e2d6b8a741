//! Settings of the runtime; [`run`](crate::run()) fills them from its flags.

/// Tunables of a [`Node`](crate::Node). `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Seed of the node's random generator ([`Context::rng`](crate::Context::rng)), for
    /// reproducible runs; `None` seeds it from the operating system.
    pub seed: Option<u64>,
    /// Longest input line accepted, in bytes; longer lines are discarded unbuffered.
    pub max_line_bytes: usize,
    /// Unflushed output above which the event loop stops reading input.
    pub outbox_high_water: usize,
}

/// Default [`Config::max_line_bytes`]: 8 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 << 20;

/// Default [`Config::outbox_high_water`]: 4 MiB.
pub const DEFAULT_OUTBOX_HIGH_WATER: usize = 4 << 20;

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            outbox_high_water: DEFAULT_OUTBOX_HIGH_WATER,
        }
    }
}
