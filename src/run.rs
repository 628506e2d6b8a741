//! The whole program for a node binary: flags, logging, metrics, then the poll loop.
//!
//! Exit codes: 0 after end of input, a signal, or a closed stdout; 1 when setting up or
//! running the loop fails (logged); 2 for bad flags (from clap); 101 for a panic, which is
//! logged to stderr first.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::builder::RangedU64ValueParser;
use clap::{Args, FromArgMatches};

use crate::app::App;
use crate::config::{
    Config, DEFAULT_MAX_LINE_BYTES, DEFAULT_OUTBOX_HIGH_WATER, DEFAULT_RPC_WINDOW,
};
use crate::event_loop::{self, Exit, Service};
use crate::metrics::http::HttpConfig;
use crate::metrics::{MetricsOptions, MetricsService};
use crate::node::Node;
use crate::rto::RtoBounds;
use crate::sim::cli::Command;

/// Where metrics are served when only `--metrics-sd-dir` is given.
const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:0";

/// Smallest `--max-line-bytes` and `--outbox-high-water`: 64 KiB, room for an `init` naming
/// 1,000 nodes with ids of up to 60 characters.
pub const MIN_SIZE_FLAG: u64 = 64 << 10;

/// Largest `--max-line-bytes` and `--outbox-high-water`: 1 GiB, far beyond any useful message
/// and still an allocation the machine can make.
pub const MAX_SIZE_FLAG: u64 = 1 << 30;

/// Range of `--op-deadline-ms`: at least 10 ms (time for one round trip), at most a minute.
/// Under Maelstrom it must stay under 5,000 ms (an answer after its client timeout breaks its
/// reader of the node); longer deadlines are for slower drivers, such as tests in debug builds.
pub const OP_DEADLINE_RANGE_MS: std::ops::RangeInclusive<u64> = 10..=60_000;

/// Largest `--rpc-window`.
pub const MAX_RPC_WINDOW: u64 = 1 << 20;

fn size_flag() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(MIN_SIZE_FLAG..=MAX_SIZE_FLAG)
}

fn op_deadline_ms(s: &str) -> Result<Duration, String> {
    let ms = s.parse::<u64>().map_err(|e| e.to_string())?;
    if OP_DEADLINE_RANGE_MS.contains(&ms) {
        Ok(Duration::from_millis(ms))
    } else {
        let (lo, hi) = OP_DEADLINE_RANGE_MS.into_inner();
        Err(format!("{ms} is not in {lo}..={hi}"))
    }
}

/// The runtime's own flags, shared by every node binary.
#[derive(Debug, Clone, Args)]
pub struct RuntimeFlags {
    /// Seed of the node's random generator, for reproducible runs; without it the seed is
    /// random.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Longest input line accepted, in bytes (65536 to 1073741824); longer lines are
    /// discarded and logged.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES, value_name = "BYTES", value_parser = size_flag())]
    pub max_line_bytes: usize,

    /// Unflushed output, in bytes (65536 to 1073741824), above which the node stops reading
    /// input until stdout drains.
    #[arg(long, default_value_t = DEFAULT_OUTBOX_HIGH_WATER, value_name = "BYTES", value_parser = size_flag())]
    pub outbox_high_water: usize,

    /// Deadline of every client request, in milliseconds from its arrival (10 to 60000; under
    /// Maelstrom, below its 5000 ms client timeout): an operation not answered by then is
    /// answered error 0, and a later answer is dropped.
    #[arg(long = "op-deadline-ms", default_value = "4500", value_name = "MS", value_parser = op_deadline_ms)]
    pub op_deadline: Duration,

    /// RPCs on the wire at once (1 to 1048576); more wait in a queue until replies make room.
    #[arg(long, default_value_t = DEFAULT_RPC_WINDOW, value_name = "N",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_RPC_WINDOW))]
    pub rpc_window: usize,

    /// Log level on stderr: error, warn, info, debug or trace. RUST_LOG overrides it.
    #[arg(
        long,
        default_value = "warn",
        value_name = "LEVEL",
        env = "MIONODE_LOG"
    )]
    pub log_level: log::LevelFilter,

    /// Serve Prometheus metrics on http://HOST:PORT/metrics. Port 0 picks a free port; the
    /// bound address is logged (always, whatever the log level). Off unless given.
    #[arg(long, value_name = "HOST:PORT", env = "MIONODE_METRICS_ADDR")]
    pub metrics_addr: Option<String>,

    /// After init, write a Prometheus file_sd file DIR/<node_id>.json naming the metrics
    /// address with a `node` label; removed on a clean exit. Turns metrics on, at
    /// 127.0.0.1:0 unless --metrics-addr says otherwise.
    #[arg(long, value_name = "DIR", env = "MIONODE_METRICS_SD_DIR")]
    pub metrics_sd_dir: Option<PathBuf>,
}

impl RuntimeFlags {
    /// The node's settings.
    pub fn config(&self) -> Config {
        Config {
            seed: self.seed,
            max_line_bytes: self.max_line_bytes,
            outbox_high_water: self.outbox_high_water,
            op_deadline: self.op_deadline,
            rpc_window: self.rpc_window,
            rto: RtoBounds::default(),
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

/// The command line: the runtime's flags and the app's, side by side.
#[derive(Debug, clap::Parser)]
#[command(version, about)]
pub struct Cli<F: Args> {
    /// The runtime's flags.
    #[command(flatten)]
    pub runtime: RuntimeFlags,
    /// The app's flags.
    #[command(flatten)]
    pub app: F,
    /// `simulate`: the whole cluster in one process on a virtual clock (see
    /// [`crate::sim::cli`]); none for a real run.
    #[command(subcommand)]
    pub command: Option<Command>,
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

/// Runs app `A` as a Maelstrom node: parses the flags (the runtime's and `A::Flags`), sets
/// up logging on stderr and, if asked, metrics; then answers stdin on stdout until end of
/// input, SIGTERM/SIGINT, or a closed stdout. `main` is one line:
///
/// ```no_run
/// # use mionode::{App, NoFlags, Routes};
/// # struct MyApp;
/// # impl App for MyApp {
/// #     type Flags = NoFlags;
/// #     fn new(_: &NoFlags) -> Self { MyApp }
/// #     fn routes(_: &mut Routes<Self>) {}
/// # }
/// fn main() -> std::process::ExitCode {
///     mionode::run::<MyApp>()
/// }
/// ```
///
/// Returns 0 after end of input, a signal or a closed stdout; 1 when setting up or running
/// the loop fails (logged). Bad flags exit 2 from inside (clap prints why).
pub fn run<A: App>() -> ExitCode {
    use clap::CommandFactory;
    let name = std::env::args()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "mionode".into());
    let matches = Cli::<A::Flags>::command().bin_name(name).get_matches();
    let cli = match Cli::<A::Flags>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Err(why) = A::check(&cli.app, &cli.runtime.config()) {
        let mut command = Cli::<A::Flags>::command();
        command
            .error(clap::error::ErrorKind::ArgumentConflict, why)
            .exit();
    }
    if let Some(Command::Simulate(args)) = &cli.command {
        return simulate::<A>(&cli, args);
    }
    init_logging(cli.runtime.log_level);
    install_panic_hook();
    match serve::<A>(&cli) {
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

/// The `simulate` subcommand: node flags that make no sense in a simulation are refused.
fn simulate<A: App>(cli: &Cli<A::Flags>, args: &crate::sim::cli::SimulateArgs) -> ExitCode {
    let rt = &cli.runtime;
    let refused = [
        (
            rt.seed.is_some(),
            "--seed (give the run's --seed after `simulate`)",
        ),
        (
            rt.metrics_addr.is_some(),
            "--metrics-addr (simulated nodes serve no metrics)",
        ),
        (
            rt.metrics_sd_dir.is_some(),
            "--metrics-sd-dir (simulated nodes serve no metrics)",
        ),
    ];
    if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
        use std::io::Write;
        let _ = writeln!(
            io::stderr(),
            "error: a node flag simulate does not take: {flag}"
        );
        return ExitCode::from(2);
    }
    let argv: Vec<String> = std::env::args().collect();
    crate::sim::cli::main::<A>(&rt.config(), rt.log_level, &cli.app, args, &argv)
}

fn serve<A: App>(cli: &Cli<A::Flags>) -> io::Result<Exit> {
    let options = cli.runtime.metrics()?;
    // The recorder goes in before the app is built, so the handles it registers are live.
    let handle = match &options {
        Some(_) => Some(MetricsService::install_recorder::<A>()?),
        None => None,
    };
    let app = A::new(&cli.app);
    let mut node = Node::new(app, cli.runtime.config(), Instant::now());
    let mut metrics = match (options, handle) {
        (Some(options), Some(handle)) => Some(MetricsService::install(&mut node, options, handle)?),
        _ => None,
    };
    let mut services: Vec<&mut dyn Service<A>> = Vec::new();
    services.extend(metrics.as_mut().map(|m| m as &mut dyn Service<A>));
    let exit = event_loop::run(&mut node, &mut services);
    node.finish();
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
    use crate::NoFlags;
    use clap::{CommandFactory, Parser};

    #[test]
    fn flags_are_well_formed() {
        Cli::<NoFlags>::command().debug_assert();
    }

    #[test]
    fn flag_defaults_are_the_config_defaults() {
        let cli = Cli::<NoFlags>::parse_from(["mionode"]);
        assert_eq!(
            format!("{:?}", cli.runtime.config()),
            format!("{:?}", Config::default())
        );
    }
}
