//! Settings of the runtime; [`run`](crate::run()) fills them from its flags.

use std::time::Duration;

use crate::rto::RtoBounds;

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
    /// How long after its arrival a client's request may still be answered: at this deadline
    /// the runtime answers error 0 for an app that has not answered, and drops the app's
    /// answer if it comes later (see [`ReplyTo`](crate::ReplyTo)).
    pub op_deadline: Duration,
    /// RPCs on the wire at once; more wait in a queue, in order, until replies or timeouts
    /// make room (see [`Context::rpc`](crate::Context::rpc)).
    pub rpc_window: usize,
    /// Bounds of the per-destination retransmission timeout
    /// ([`Context::rpc_rto`](crate::Context::rpc_rto)).
    pub rto: RtoBounds,
}

/// Default [`Config::max_line_bytes`]: 8 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 << 20;

/// Default [`Config::outbox_high_water`]: 4 MiB.
pub const DEFAULT_OUTBOX_HIGH_WATER: usize = 4 << 20;

/// Default [`Config::op_deadline`]: 4.5 s, half a second under the 5 s after which Maelstrom's
/// client gives up on a request (and a reply that comes later breaks its reader of the node).
pub const DEFAULT_OP_DEADLINE: Duration = Duration::from_millis(4500);

/// Default [`Config::rpc_window`]: 4,096 RPCs on the wire. Enough to keep a 100 ms round trip
/// busy at 40,000 RPCs a second, and a 100,000-value batch over pipes to 25 round trips (1,024
/// took it from 0.7 s to 1 s); few enough that a network routing 18,000 messages a second
/// (Maelstrom's, measured) carries a full window and its replies in under half a second, well
/// inside the initial timeout of 1 s.
pub const DEFAULT_RPC_WINDOW: usize = 4096;

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            outbox_high_water: DEFAULT_OUTBOX_HIGH_WATER,
            op_deadline: DEFAULT_OP_DEADLINE,
            rpc_window: DEFAULT_RPC_WINDOW,
            rto: RtoBounds::default(),
        }
    }
}
