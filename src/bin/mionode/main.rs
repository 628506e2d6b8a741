//! The `mionode` binary: the RPC chapter (echo, batch_echo, proxy, relay, send_fire_forget,
//! pending_count, backoff_relay, compute_backoff) as one app on the mionode library.
//!
//! Everything but the app is the library's: flags of the runtime, logging, metrics, the
//! poll loop ([`mionode::run`]). Exit codes are `run`'s: 0 after end of input, a signal or a
//! closed stdout; 1 when setting up or running the loop fails; 2 for bad flags; 101 for a
//! panic.

use std::process::ExitCode;

mod app;

fn main() -> ExitCode {
    mionode::run::<app::RpcChapter>()
}
