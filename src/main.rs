//! The `mionode` binary: flags, logging, then the poll loop.
//!
//! Exit codes: 0 after end of input, a signal, or a closed stdout; 1 when setting up or
//! running the loop fails (logged); 2 for bad flags (from clap); 101 for a panic, which is
//! logged to stderr first.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use mionode::config::{Config, DEFAULT_MAX_LINE_BYTES, DEFAULT_OUTBOX_HIGH_WATER};
use mionode::event_loop::{self, Exit, Service};
use mionode::metrics::http::HttpConfig;
use mionode::metrics::{MetricsOptions, MetricsService};
use mionode::Node;

/// Where metrics are served when only `--metrics-sd-dir` is given.
const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:0";

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

    /// Deadline of a proxy's RPC to its target, in milliseconds; after it, the proxy answers
    /// error 0.
    #[arg(long, default_value_t = 1000, value_name = "MS", value_parser = millis())]
    proxy_timeout_ms: u64,

    /// Deadline of each relay attempt, in milliseconds; when it passes unanswered, the next
    /// attempt goes out (a late reply to an earlier attempt still counts).
    #[arg(long, default_value_t = 500, value_name = "MS", value_parser = millis())]
    relay_timeout_ms: u64,

    /// Attempts of a relay, each with a fresh msg_id, before it answers error 0.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = attempts())]
    relay_attempts: u32,

    /// Deadline of a send_fire_forget RPC, in milliseconds: its callback is reaped then.
    #[arg(long, default_value_t = 2000, value_name = "MS", value_parser = millis())]
    reaper_threshold_ms: u64,

    /// Wait before the first backoff_relay retry, in milliseconds; it doubles for each
    /// retry after, plus up to a tenth of jitter.
    #[arg(long, default_value_t = 100, value_name = "MS", value_parser = millis_or_zero())]
    backoff_base_ms: u64,

    /// Cap on each backoff wait (of backoff_relay and compute_backoff), in milliseconds.
    #[arg(long, default_value_t = 2000, value_name = "MS", value_parser = millis_or_zero())]
    backoff_max_ms: u64,

    /// Attempts of a backoff_relay (the first one and its retries), before it answers error 0.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = attempts())]
    backoff_attempts: u32,

    /// Deadline of each backoff_relay attempt, in milliseconds, before its backoff wait
    /// begins.
    #[arg(long, default_value_t = 500, value_name = "MS", value_parser = millis())]
    backoff_attempt_timeout_ms: u64,

    /// Seed of the backoff jitter generator, for reproducible runs; without it the seed is
    /// random.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,

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

    /// Serve Prometheus metrics on http://HOST:PORT/metrics. Port 0 picks a free port; the
    /// bound address is logged (always, whatever the log level). Off unless given.
    #[arg(long, value_name = "HOST:PORT", env = "MIONODE_METRICS_ADDR")]
    metrics_addr: Option<String>,

    /// After init, write a Prometheus file_sd file DIR/<node_id>.json naming the metrics
    /// address with a `node` label; removed on a clean exit. Turns metrics on, at
    /// 127.0.0.1:0 unless --metrics-addr says otherwise.
    #[arg(long, value_name = "DIR", env = "MIONODE_METRICS_SD_DIR")]
    metrics_sd_dir: Option<PathBuf>,
}

impl Args {
    fn config(&self) -> Config {
        Config {
            rpc_timeout: Duration::from_millis(self.rpc_timeout_ms),
            rpc_attempts: self.rpc_attempts,
            proxy_timeout: Duration::from_millis(self.proxy_timeout_ms),
            relay_timeout: Duration::from_millis(self.relay_timeout_ms),
            relay_attempts: self.relay_attempts,
            reaper_threshold: Duration::from_millis(self.reaper_threshold_ms),
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            backoff_attempts: self.backoff_attempts,
            backoff_attempt_timeout: Duration::from_millis(self.backoff_attempt_timeout_ms),
            seed: self.seed,
            max_line_bytes: self.max_line_bytes,
            outbox_high_water: self.outbox_high_water,
        }
    }

    /// Where to serve metrics, if anywhere.
    fn metrics(&self) -> io::Result<Option<MetricsOptions>> {
        let addr = match (&self.metrics_addr, &self.metrics_sd_dir) {
            (Some(addr), _) => addr.as_str(),
            (None, Some(_)) => DEFAULT_METRICS_ADDR,
            (None, None) => return Ok(None),
        };
        Ok(Some(MetricsOptions {
            addr: resolve(addr)?,
            sd_dir: self.metrics_sd_dir.clone(),
            http: HttpConfig::default(),
        }))
    }
}

/// The first address `addr` (`HOST:PORT`, HOST a name or an IP) resolves to.
fn resolve(addr: &str) -> io::Result<SocketAddr> {
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("metrics address {addr:?}: {why}"),
        )
    };
    addr.to_socket_addrs()
        .map_err(|e| invalid(&e.to_string()))?
        .next()
        .ok_or_else(|| invalid("resolves to no address"))
}

/// Longest duration a flag accepts, in milliseconds (a day): far beyond any useful deadline,
/// and far from overflowing the clock.
const MAX_FLAG_MILLIS: u64 = 86_400_000;

/// Most attempts a flag accepts: the backoff schedule holds one delay per retry.
const MAX_FLAG_ATTEMPTS: u32 = 65;

/// A deadline in milliseconds: at least 1 (a zero deadline could never be met).
fn millis() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..=MAX_FLAG_MILLIS)
}

/// A wait in milliseconds, possibly none.
fn millis_or_zero() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(0..=MAX_FLAG_MILLIS)
}

/// A number of attempts: at least the first one.
fn attempts() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(MAX_FLAG_ATTEMPTS))
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

fn run(args: &Args) -> io::Result<Exit> {
    let mut node = Node::new(args.config(), Instant::now());
    let mut metrics = match args.metrics()? {
        Some(options) => Some(MetricsService::install(&mut node, options)?),
        None => None,
    };
    let mut services: Vec<&mut dyn Service> = Vec::new();
    services.extend(metrics.as_mut().map(|m| m as &mut dyn Service));
    let exit = event_loop::run(&mut node, &mut services);
    // Dropping the service removes its discovery file: the node is gone.
    drop(metrics);
    exit
}

fn init_logging(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        // Where metrics are served (a port picked at random) is always worth saying.
        .filter_module("mionode::metrics", level.max(log::LevelFilter::Info))
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn flag_defaults_are_the_config_defaults() {
        let args = Args::parse_from(["mionode"]);
        assert_eq!(
            format!("{:?}", args.config()),
            format!("{:?}", Config::default())
        );
    }
}
