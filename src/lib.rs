//! mionode: a runtime for Maelstrom nodes on one `mio` poll loop, built around an
//! asynchronous RPC layer, and knowing no application.
//!
//! An app implements [`App`]: its state, its flags, and a [`Handler`] per message type
//! ([`Routes`]). Handlers, RPC callbacks and timers all receive `(&mut A, &mut Context<A>)`;
//! the [`Context`] replies, sends, makes RPCs with deadlines and sets timers. A binary's
//! `main` is `mionode::run::<MyApp>()`; tests drive a node without I/O with [`testing`].
//! docs/library.md tells the design; the pieces, from the bottom up:
//!
//! - [`timer`]: a hierarchical timing wheel; every RPC deadline and timer lives there.
//! - [`rpc`]: the table of pending RPCs, a slab indexed by `msg_id`.
//! - [`protocol`]: Maelstrom's envelope and header, and the writer that frames output;
//!   [`scan`] reads the ordinary line in one pass.
//! - [`Context`]: the messaging core: `reply`, `send`, `rpc`, `after`, the RPC contract.
//! - [`Node`]: lines and instants in, lines out, with no I/O at all (sans-IO).
//! - [`event_loop`]: the one place that touches file descriptors; [`run()`] wraps it.
//! - [`metrics`]: runtime counters copied into the `metrics` registry, served as Prometheus
//!   text.
//! - [`harness`]: Maelstrom's side of a test (workloads, clients, services, network,
//!   nemesis, checkers, store, views), shared by `mionode-load` and the simulator.
//! - [`sim`]: the deterministic simulator behind every node binary's `simulate`.
#![deny(missing_docs)]

pub mod app;
pub mod config;
pub mod context;
pub mod depth;
pub mod error;
pub mod event_loop;
pub mod flow;
pub mod harness;
pub mod kv;
pub mod labels;
pub mod metrics;
pub mod node;
pub mod ops;
pub mod outbox;
pub mod pipe;
pub mod protocol;
pub mod request;
pub mod rpc;
pub mod rto;
pub mod run;
pub mod scan;
pub mod sim;
pub mod stats;
pub mod stdio;
pub mod testing;
pub mod timer;
pub mod warn;

pub use app::{App, Handler, NoFlags, Routes};
pub use config::Config;
pub use context::{Context, MsgId, TimerId, SERVICES};
pub use error::{Error, ErrorCode};
pub use node::Node;
pub use request::{Reply, ReplyTo, Request};
pub use run::run;
