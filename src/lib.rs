//! mionode: a Maelstrom node on one `mio` poll loop, built around an asynchronous RPC layer.
//!
//! The pieces, from the bottom up:
//!
//! - [`timer`]: a hierarchical timing wheel; every RPC deadline lives there.
//! - [`rpc`]: the table of pending RPCs, a slab indexed by `msg_id`.
//! - [`protocol`]: Maelstrom's envelope and bodies, and the writer that frames output.
//! - [`Context`]: the messaging core handlers use: `reply`, `send`, `rpc`, `after`.
//! - [`Node`]: lines and clock ticks in, lines out, with no I/O at all.
//! - [`event_loop`]: the one place that touches file descriptors.
//! - [`metrics`]: counters copied into the `metrics` registry, served as Prometheus text.
#![deny(missing_docs)]

pub mod config;
pub mod context;
pub mod event_loop;
mod handlers;
pub mod harness;
pub mod message_type;
pub mod metrics;
pub mod node;
pub mod outbox;
pub mod protocol;
pub mod rpc;
pub mod stats;
pub mod stdio;
pub mod timer;

pub use config::Config;
pub use context::{Context, Request, RpcError, RpcResult};
pub use node::Node;
