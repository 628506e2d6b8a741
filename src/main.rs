//! The `mionode` binary: flags, logging, then the poll loop.
//!
//! Exit codes: 0 after end of input, a signal, or a closed stdout; 1 when setting up or
//! running the loop fails (logged); 2 for bad flags (from clap); 101 for a panic, which is
//! logged to stderr first.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use mionode::config::{Config, DEFAULT_MAX_LINE_BYTES, DEFAULT_OUTBOX_HIGH_WATER};
use mionode::event_loop::{self, Exit};
use mionode::Node;

/// A Maelstrom node on one mio poll loop: echo, batch_echo and the RPC family.
///
/// Reads Maelstrom messages as JSON lines on stdin, answers on stdout, logs on stderr.
/// Run it as Maelstrom's --bin.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Deadline of each echo RPC of a batch_echo, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    rpc_timeout_ms: u64,

    /// Attempts per echo of a batch_echo before the batch fails with error 0.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rpc_attempts: u32,

    /// Longest input line accepted, in bytes; longer lines are discarded and logged.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES, value_name = "BYTES")]
    max_line_bytes: usize,

    /// Unflushed output, in bytes, above which the node stops reading input until stdout
    /// drains.
    #[arg(long, default_value_t = DEFAULT_OUTBOX_HIGH_WATER, value_name = "BYTES")]
    outbox_high_water: usize,

    /// Log level on stderr: error, warn, info, debug or trace. RUST_LOG overrides it.
    #[arg(
        long,
        default_value = "warn",
        value_name = "LEVEL",
        env = "MIONODE_LOG"
    )]
    log_level: log::LevelFilter,
}

impl Args {
    fn config(&self) -> Config {
        Config {
            rpc_timeout: Duration::from_millis(self.rpc_timeout_ms),
            rpc_attempts: self.rpc_attempts,
            max_line_bytes: self.max_line_bytes,
            outbox_high_water: self.outbox_high_water,
            ..Config::default()
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_level);
    install_panic_hook();
    match run(&args) {
        Ok(exit) => {
            log::debug!("exiting: {exit:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> std::io::Result<Exit> {
    let mut node = Node::new(args.config(), Instant::now());
    event_loop::run(&mut node, &mut [])
}

fn init_logging(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .parse_default_env()
        .format_timestamp_millis()
        .target(env_logger::Target::Stderr)
        .init();
}

/// Logs a panic through the logger (so it lands in Maelstrom's node log with a timestamp)
/// before the default hook prints the backtrace.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log::error!("panic: {info}");
        default(info);
    }));
}
