//! The four workloads, their inputs, and the report.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::loopback::{Loopback, NODE_ID};
use crate::measure::{median, ms, peak_rss, run_with_input, Run, Sink, TIME};

/// The node under test, built by cargo for this benchmark.
const MIONODE: &str = env!("CARGO_BIN_EXE_mionode");

/// Sizes of the workloads.
pub struct Scale {
    echo_messages: usize,
    batch_values: usize,
    flood_batches: usize,
    flood_values: usize,
    pending_rpcs: usize,
    runs: usize,
    /// Whether figures are compared with the targets (not in a smoke run).
    judged: bool,
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
struct Row {
    measure: String,
    figure: String,
    target: String,
    met: bool,
}

type Workload = fn(&Scale, &mut Vec<Row>) -> io::Result<()>;

/// Runs the workloads selected by `filters` (all when empty) and prints the table.
pub fn run_all(scale: &Scale, filters: &[&str]) -> ExitCode {
    let workloads: [(&str, Workload); 4] = [
        ("echo", echo),
        ("batch", batch),
        ("flood", flood),
        ("memory", memory),
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
fn write_input(name: &str, lines: impl Iterator<Item = String>) -> io::Result<PathBuf> {
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

fn init_line(node_ids: &str) -> String {
    format!(
        r#"{{"src":"c0","dest":"{NODE_ID}","body":{{"type":"init","msg_id":1,"node_id":"{NODE_ID}","node_ids":{node_ids}}}}}"#
    )
}

/// The node, run under the command prefix in `MIONODE_BENCH_WRAP` if set (for profiling:
/// `MIONODE_BENCH_WRAP="perf record -g -o /tmp/node.data"`; each run overwrites the last).
fn mionode(args: &[&str]) -> Command {
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
fn baseline(mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.arg(mode);
    cmd
}

/// A program measured on a workload.
struct Contender {
    name: &'static str,
    command: fn() -> Command,
    sink: Sink,
}

/// mionode and the simple node, for the loopback workloads.
const LOOPBACK_CONTENDERS: [Contender; 2] = [
    Contender {
        name: "mionode",
        command: || mionode(&[]),
        sink: Sink::Pipe,
    },
    Contender {
        name: "simple blocking node",
        command: || baseline("--simple-node"),
        sink: Sink::Pipe,
    },
];

fn rate(messages: usize, wall: Duration) -> f64 {
    messages as f64 / wall.as_secs_f64()
}

/// Wall and CPU times of one contender's runs.
#[derive(Default)]
struct Samples {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Samples {
    fn push(&mut self, wall: Duration, cpu: Duration) {
        self.wall.push(wall);
        self.cpu.push(cpu);
    }

    fn wall(&self) -> Duration {
        median(&self.wall)
    }

    /// `median (min-max) ms, CPU median ms`.
    fn describe(&self) -> String {
        let (min, max) = (self.wall.iter().min(), self.wall.iter().max());
        format!(
            "{:>7.1} ms ({:.0}-{:.0}), CPU {:>6.1} ms",
            ms(self.wall()),
            ms(*min.expect("a run")),
            ms(*max.expect("a run")),
            ms(median(&self.cpu))
        )
    }
}

fn echo(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    let n = scale.echo_messages;
    let lines = std::iter::once(init_line(r#"["n1"]"#)).chain((0..n).map(|i| {
        format!(
            r#"{{"id":{i},"src":"c1","dest":"{NODE_ID}","body":{{"type":"echo","echo":"hello {i}","msg_id":{}}}}}"#,
            i + 2
        )
    }));
    let input = write_input(&format!("echo-{n}.jsonl"), lines)?;
    let contenders = [
        Contender {
            name: "mionode, stdout to a pipe",
            command: || mionode(&[]),
            sink: Sink::Pipe,
        },
        Contender {
            name: "mionode, stdout to /dev/null",
            command: || mionode(&[]),
            sink: Sink::Null,
        },
        Contender {
            name: "bare serde_json loop, pipe",
            command: || baseline("--bare-loop"),
            sink: Sink::Pipe,
        },
        Contender {
            name: "simple blocking node, pipe",
            command: || baseline("--simple-node"),
            sink: Sink::Pipe,
        },
    ];
    let mut samples: Vec<Samples> = contenders.iter().map(|_| Samples::default()).collect();
    for _ in 0..scale.runs {
        for (c, samples) in contenders.iter().zip(&mut samples) {
            let Run { wall, cpu, lines } = run_with_input(&mut (c.command)(), &input, c.sink)?;
            if c.sink == Sink::Pipe && lines != n as u64 + 1 {
                return Err(io::Error::other(format!("{}: {lines} lines out", c.name)));
            }
            samples.push(wall, cpu);
        }
    }
    println!(
        "echo: {n} requests from a file, spawn to exit (median of {} runs)",
        scale.runs
    );
    for (c, s) in contenders.iter().zip(&samples) {
        let r = rate(n, s.wall()) / 1e6;
        println!("  {:<30} {r:>5.2} M msg/s  {}", c.name, s.describe());
    }
    let node = samples[0].wall().as_secs_f64();
    let (bare, simple) = (
        samples[2].wall().as_secs_f64(),
        samples[3].wall().as_secs_f64(),
    );
    println!(
        "  mionode takes {:.2}x the bare loop's time; the simple node takes {:.1}x mionode's",
        node / bare,
        simple / node
    );
    let node_rate = n as f64 / node;
    rows.push(Row {
        measure: format!("echo throughput, {n} requests, stdout to a pipe"),
        figure: format!("{:.2} M msg/s", node_rate / 1e6),
        target: ">= 1.5 M msg/s".into(),
        met: node_rate >= 1.5e6,
    });
    rows.push(Row {
        measure: "echo time relative to the bare serde_json loop".into(),
        figure: format!("{:.2}x", node / bare),
        target: "<= 2x".into(),
        met: node / bare <= 2.0,
    });
    Ok(())
}

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow)]
    body: ReplyBody<'a>,
}

#[derive(Deserialize)]
struct ReplyBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    in_reply_to: u64,
    #[serde(default, borrow)]
    results: Option<&'a RawValue>,
}

/// A `batch_echo` of `values` (a JSON array) as a line.
fn batch_line(msg_id: u64, values: &str) -> String {
    format!(
        r#"{{"src":"c1","dest":"{NODE_ID}","body":{{"type":"batch_echo","msg_id":{msg_id},"values":{values}}}}}"#
    ) + "\n"
}

/// `count` distinct integers from `first`, as a JSON array.
fn values(first: usize, count: usize) -> String {
    let mut s = String::from("[");
    for v in first..first + count {
        if v > first {
            s.push(',');
        }
        write!(s, "{v}").expect("write to a String");
    }
    s.push(']');
    s
}

/// Checks that `line` is the `batch_echo_ok` of one of `batches` (`msg_id` 2, 3, ... with
/// those values), seen for the first time.
fn check_answer(line: &[u8], batches: &[String], seen: &mut [bool]) -> io::Result<()> {
    let wrong = |why: &str| {
        let preview = String::from_utf8_lossy(&line[..line.len().min(200)]);
        io::Error::other(format!("{why}: {preview}"))
    };
    let reply: Reply = serde_json::from_slice(line).map_err(|_| wrong("not a reply"))?;
    let index = reply.body.in_reply_to.wrapping_sub(2) as usize;
    if reply.body.kind != "batch_echo_ok" || index >= batches.len() {
        return Err(wrong("unexpected answer"));
    }
    if std::mem::replace(&mut seen[index], true) {
        return Err(wrong("answered twice"));
    }
    // The values are plain integers: compare without any whitespace a node may add.
    let results = reply.body.results.map(|r| r.get().replace([' ', '\n'], ""));
    if results.as_deref() != Some(batches[index].as_str()) {
        return Err(wrong("wrong results"));
    }
    Ok(())
}

/// Writes `batches` (JSON arrays of values) as `batch_echo`s all at once to each loopback
/// contender, `scale.runs` times, timing each from the first write to the last answer.
fn run_batches(scale: &Scale, batches: &[String]) -> io::Result<Vec<Samples>> {
    let mut input = String::new();
    for (i, values) in batches.iter().enumerate() {
        input.push_str(&batch_line(i as u64 + 2, values));
    }
    let total_values: usize = batches.iter().map(|b| b.matches(',').count() + 1).sum();
    let mut samples: Vec<Samples> = LOOPBACK_CONTENDERS
        .iter()
        .map(|_| Samples::default())
        .collect();
    for _ in 0..scale.runs {
        for (c, samples) in LOOPBACK_CONTENDERS.iter().zip(&mut samples) {
            let mut node = Loopback::spawn(&mut (c.command)())?;
            node.send((init_line(r#"["n1"]"#) + "\n").as_bytes());
            node.run_until(|_| true)?;
            let started = Instant::now();
            node.send(input.as_bytes());
            let mut answers: Vec<Vec<u8>> = Vec::with_capacity(batches.len());
            node.run_until(|line| {
                answers.push(line.to_vec());
                answers.len() == batches.len()
            })?;
            let wall = started.elapsed();
            let looped = node.looped;
            samples.push(wall, node.finish()?);
            let mut seen = vec![false; batches.len()];
            for answer in &answers {
                check_answer(answer, batches, &mut seen)?;
            }
            if looped != 2 * total_values as u64 {
                return Err(io::Error::other(format!(
                    "{}: {looped} lines looped back",
                    c.name
                )));
            }
        }
    }
    for (c, s) in LOOPBACK_CONTENDERS.iter().zip(&samples) {
        println!("  {:<30} {}", c.name, s.describe());
    }
    Ok(samples)
}

fn batch(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    let n = scale.batch_values;
    println!(
        "batch: one batch_echo of {n} values, looped back, write to answer (median of {} runs; \
         CPU is the whole process)",
        scale.runs
    );
    let samples = run_batches(scale, &[values(0, n)])?;
    let wall = samples[0].wall();
    rows.push(Row {
        measure: format!("one batch_echo of {n} values, loopback"),
        figure: format!("{:.1} ms", ms(wall)),
        target: "<= 150 ms".into(),
        met: wall <= Duration::from_millis(150),
    });
    Ok(())
}

fn flood(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    let (count, per) = (scale.flood_batches, scale.flood_values);
    println!(
        "flood: {count} batch_echos of {per} values written at once, looped back (median of {} \
         runs; CPU is the whole process)",
        scale.runs
    );
    let batches: Vec<String> = (0..count).map(|b| values(b * per, per)).collect();
    let samples = run_batches(scale, &batches)?;
    let wall = samples[0].wall();
    rows.push(Row {
        measure: format!("{count} batch_echos of {per} values at once, loopback"),
        figure: format!("{:.1} ms", ms(wall)),
        target: "<= 500 ms".into(),
        met: wall <= Duration::from_millis(500),
    });
    Ok(())
}

fn memory(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    if !Path::new(TIME).exists() && !scale.judged {
        println!("memory: skipped, {TIME} is not installed");
        return Ok(());
    }
    let n = scale.pending_rpcs;
    let init = || init_line(r#"["n1","n2"]"#);
    let idle = write_input("idle.jsonl", std::iter::once(init()))?;
    // The intended tool: one send_fire_forget per RPC, to a peer that never answers. The
    // node flushes between reads, so what it holds at the end is the pending RPCs.
    let fire_forget = write_input(
        &format!("fire-forget-{n}.jsonl"),
        std::iter::once(init()).chain((0..n).map(|i| {
            format!(
                r#"{{"src":"c1","dest":"{NODE_ID}","body":{{"type":"send_fire_forget","msg_id":{},"target":"n2","payload":{{"type":"echo","echo":{i}}}}}}}"#,
                i + 2
            )
        })),
    )?;
    // For comparison: one batch_echo whose echoes never come back. Its stored values, and its
    // echo requests waiting in the outbox until the handler returns, count too.
    let batch = write_input(
        &format!("batch-pending-{n}.jsonl"),
        [init(), batch_line(2, &values(0, n)).trim_end().to_string()].into_iter(),
    )?;
    let args = [
        "--reaper-threshold-ms",
        "3600000",
        "--rpc-timeout-ms",
        "3600000",
        "--max-line-bytes",
        "268435456",
    ];
    let mut rss = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..scale.runs.min(3) {
        for (samples, input) in rss.iter_mut().zip([&idle, &fire_forget, &batch]) {
            samples.push(peak_rss(MIONODE, &args, input)?);
        }
    }
    let [idle, fire_forget, batch] = rss.map(|samples| median(&samples));
    let per = |peak: u64| peak.saturating_sub(idle) as f64 / n as f64;
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    println!(
        "memory: peak RSS with {n} RPCs pending, minus an idle node's {:.1} MiB",
        mib(idle)
    );
    println!(
        "  {n} send_fire_forget            {:>7.1} MiB  {:>5.0} bytes per RPC",
        mib(fire_forget),
        per(fire_forget)
    );
    println!(
        "  one batch_echo of {n} values    {:>7.1} MiB  {:>5.0} bytes per value",
        mib(batch),
        per(batch)
    );
    rows.push(Row {
        measure: format!("memory per pending RPC ({n} send_fire_forget)"),
        figure: format!("{:.0} bytes", per(fire_forget)),
        target: "<= 256 bytes".into(),
        met: per(fire_forget) <= 256.0,
    });
    Ok(())
}
