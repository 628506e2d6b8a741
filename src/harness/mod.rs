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
//! - [`store`]: where a run's files go (`store/<workload>/<timestamp>/`, `store/latest`).
//! - [`views`]: what a run directory shows a person: latency and rate plots, a Lamport
//!   diagram of the messages, and a page that holds them, read from the records of a
//!   finished run and written beside them.

pub mod record;
pub mod store;
pub mod views;
