//! What every workload shares: the sizes, the node and its comparisons as commands, inputs
//! on disk, samples, and the final table.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use crate::loopback::NODE_ID;
use crate::measure::{median, ms};
use crate::{batches, echo, memory, metrics};

/// The node under test, built by cargo for this benchmark.
pub const MIONODE: &str = env!("CARGO_BIN_EXE_mionode");

/// Sizes of the workloads.
pub struct Scale {
    pub echo_messages: usize,
    pub batch_values: usize,
    pub flood_batches: usize,
    pub flood_values: usize,
    pub pending_rpcs: usize,
    pub runs: usize,
    /// Whether figures are compared with the targets (not in a smoke run).
    pub judged: bool,
}

impl Scale {
    /// The sizes of issue 7, each measured `runs` times.
    pub fn full(runs: usize) -> Scale {
        Scale {
            echo_messages: 200_000,
            batch_values: 100_000,
            flood_batches: 20_000,
            flood_values: 5,
            pending_rpcs: 1_000_000,
            runs,
            judged: true,
        }
    }

    /// Every workload once, small, for the test run.
    pub const SMOKE: Scale = Scale {
        echo_messages: 2_000,
        batch_values: 1_000,
        flood_batches: 200,
        flood_values: 5,
        pending_rpcs: 2_000,
        runs: 1,
        judged: false,
    };
}

/// One line of the final table.
pub struct Row {
    pub measure: String,
    pub figure: String,
    pub target: String,
    pub met: bool,
}

type Workload = fn(&Scale, &mut Vec<Row>) -> io::Result<()>;

/// Runs the workloads selected by `filters` (all when empty) and prints the table.
pub fn run_all(scale: &Scale, filters: &[&str]) -> ExitCode {
    let workloads: [(&str, Workload); 5] = [
        ("echo", echo::echo),
        ("batch", batches::batch),
        ("flood", batches::flood),
        ("memory", memory::memory),
        ("metrics", metrics::metrics),
    ];
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    // Outside `cargo bench` the whole binary is one test named "smoke".
    if !scale.judged && !wanted("smoke") {
        return ExitCode::SUCCESS;
    }
    let mut rows = Vec::new();
    for (name, workload) in workloads {
        if scale.judged && !wanted(name) {
            continue;
        }
        if let Err(e) = workload(scale, &mut rows) {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if scale.judged {
        print_table(&rows, scale.runs);
    }
    ExitCode::SUCCESS
}

fn print_table(rows: &[Row], runs: usize) {
    println!("\n{:<58} {:>22}  {:<28} met", "measure", "figure", "target");
    for row in rows {
        let met = if row.met { "yes" } else { "NO" };
        println!(
            "{:<58} {:>22}  {:<28} {met}",
            row.measure, row.figure, row.target
        );
    }
    println!("(medians of {runs} runs on a shared machine; see docs/performance.md)");
}

/// Where generated inputs go.
fn data_dir() -> io::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes `lines` to a file in [`data_dir`] and returns its path.
///
/// The file is written under a temporary name and renamed into place, so a run that reads it
/// meanwhile (a smoke test beside a benchmark) sees a whole file; names carry the sizes.
pub fn write_input(name: &str, lines: impl Iterator<Item = String>) -> io::Result<PathBuf> {
    let path = data_dir()?.join(name);
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    let mut file = BufWriter::new(fs::File::create(&partial)?);
    for line in lines {
        file.write_all(line.as_bytes())?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    fs::rename(&partial, &path)?;
    Ok(path)
}

/// The `init` that makes the node `n1` of `node_ids` (a JSON array).
pub fn init_line(node_ids: &str) -> String {
    format!(
        r#"{{"src":"c0","dest":"{NODE_ID}","body":{{"type":"init","msg_id":1,"node_id":"{NODE_ID}","node_ids":{node_ids}}}}}"#
    )
}

/// The node, run under the command prefix in `MIONODE_BENCH_WRAP` if set (for profiling:
/// `MIONODE_BENCH_WRAP="perf record -g -o /tmp/node.data"`; each run overwrites the last).
pub fn mionode(args: &[&str]) -> Command {
    let wrap = std::env::var("MIONODE_BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut cmd = match words.next() {
        Some(program) => {
            let mut cmd = Command::new(program);
            cmd.args(words).arg(MIONODE);
            cmd
        }
        None => Command::new(MIONODE),
    };
    cmd.args(args);
    cmd
}

/// This binary in one of its baseline modes.
pub fn baseline(mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.arg(mode);
    cmd
}

/// A program measured on a workload.
pub struct Contender {
    pub name: &'static str,
    pub command: fn() -> Command,
}

/// mionode and the simple node, for the loopback workloads.
pub const LOOPBACK_CONTENDERS: [Contender; 2] = [
    Contender {
        name: "mionode",
        command: || mionode(&[]),
    },
    Contender {
        name: "simple blocking node",
        command: || baseline("--simple-node"),
    },
];

/// Messages per second.
pub fn rate(messages: usize, wall: Duration) -> f64 {
    messages as f64 / wall.as_secs_f64()
}

/// Wall and CPU times of one contender's runs.
#[derive(Default)]
pub struct Samples {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Samples {
    pub fn push(&mut self, wall: Duration, cpu: Duration) {
        self.wall.push(wall);
        self.cpu.push(cpu);
    }

    /// The median wall time.
    pub fn wall(&self) -> Duration {
        median(&self.wall)
    }

    /// The median CPU time.
    pub fn cpu(&self) -> Duration {
        median(&self.cpu)
    }

    /// `median (min-max) ms, CPU median ms`.
    pub fn describe(&self) -> String {
        let (min, max) = (self.wall.iter().min(), self.wall.iter().max());
        format!(
            "{:>7.1} ms ({:.0}-{:.0}), CPU {:>6.1} ms",
            ms(self.wall()),
            ms(*min.expect("a run")),
            ms(*max.expect("a run")),
            ms(self.cpu())
        )
    }
}
