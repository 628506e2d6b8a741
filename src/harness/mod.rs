//! What Maelstrom's side of a test is made of, as code that both drivers share: the real-time
//! load driver (`mionode-load`) and the deterministic simulator.
//!
//! Nothing here does I/O on its own or reads a clock or a random source: time comes in as
//! [`record::Nanos`] since the start of the run, randomness from a generator the driver seeds.
//! That is what lets the simulator replay a seed byte for byte.
//!
//! - [`record`]: what a run records (the history of operations, the messages on the network,
//!   the nemesis's periods) and the names of the files it is stored in.
//! - [`views`]: what a run directory shows a person: latency and rate plots, a Lamport
//!   diagram of the messages, and a page that holds them. The one exception to "no I/O": it
//!   reads a finished run directory and writes its files beside the records.

pub mod record;
pub mod views;
