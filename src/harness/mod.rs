//! What Maelstrom's side of a test is made of, as code that both drivers share: the real-time
//! load driver (`mionode-load`) and the deterministic simulator.
//!
//! Nothing here reads a clock or a random source: time comes in as [`record::Nanos`] since
//! the start of the run, randomness from a generator the driver seeds. That is what lets the
//! simulator replay a seed byte for byte. Only [`store`] and [`views`] do I/O, and only to
//! files the driver names.
//!
//! - [`record`]: what a run records (the history of operations, the messages on the network,
//!   the nemesis's periods) and the names of the files it is stored in.
//! - [`workload`]: Maelstrom's workloads (and the RPC chapter's): the requests clients make,
//!   how a reply becomes a history entry, the final reads, each workload's checker.
//! - [`check`]: verdicts as Maelstrom gives them: named checks, each valid, invalid or
//!   unknown, combined as Jepsen combines them; stats and availability; linearizability.
//! - [`service`]: Maelstrom's services (`lin-kv`, `seq-kv`, `lww-kv`, `lin-tso`).
//! - [`nemesis`]: Jepsen's partition shapes and their schedule.
//! - [`net`]: latency, loss, re-encoding of messages, and the network's throughput limit.
//! - [`clients`]: Maelstrom's clients: slots bound to nodes, the rate schedule, timeouts,
//!   and a new client id after an indeterminate outcome.
//! - [`route`]: where a message a node wrote goes, and when Maelstrom would refuse it.
//! - [`flags`]: the flags of a run, one clap struct for `mionode-load` and `simulate`.
//! - [`seed`]: one seed per random stream, derived from the run's seed.
//! - [`store`]: where a run's files go (`store/<workload>/<timestamp>/`, `store/latest`).
//! - [`views`]: what a run directory shows a person: latency and rate plots, a Lamport
//!   diagram of the messages, and a page that holds them, read from the records of a
//!   finished run and written beside them.
//!
//! `docs/workloads.md` describes all of it, and where it differs from Maelstrom.

pub mod check;
pub mod clients;
pub mod flags;
pub mod nemesis;
pub mod net;
pub mod record;
pub mod route;
pub mod seed;
pub mod service;
pub mod store;
pub mod views;
pub mod workload;
