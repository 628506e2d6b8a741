//! What Maelstrom's side of a test is made of, as code that both drivers share: the real-time
//! load driver (`mionode-load`) and the deterministic simulator.
//!
//! Nothing here reads a clock or a random source: time comes in as [`record::Nanos`] since
//! the start of the run, randomness from a generator the driver seeds. That is what lets the
//! simulator replay a seed byte for byte. Only [`store`] does I/O, and only to files the
//! driver names.
//!
//! - [`record`]: what a run records (the history of operations, the messages on the network,
//!   the nemesis's periods) and the names of the files it is stored in.
//! - [`store`]: where a run's files go (`store/<workload>/<timestamp>/`, `store/latest`).
//! - [`workload`]: Maelstrom's workloads (and the RPC chapter's): the requests clients make,
//!   how a reply becomes a history entry, the final reads, each workload's checker.
//! - [`check`]: verdicts as Maelstrom gives them: named checks, each valid, invalid or
//!   unknown, combined as Jepsen combines them; stats and availability; linearizability.
//! - [`service`]: Maelstrom's services (`lin-kv`, `seq-kv`, `lww-kv`, `lin-tso`).
//! - [`nemesis`]: Jepsen's partition shapes and their schedule.
//! - [`net`]: latency, loss, re-encoding of messages, and the network's throughput limit.
//!
//! `docs/workloads.md` describes all of it, and where it differs from Maelstrom.

pub mod check;
pub mod nemesis;
pub mod net;
pub mod record;
pub mod service;
pub mod store;
pub mod workload;
