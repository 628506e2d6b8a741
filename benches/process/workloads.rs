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
use crate::RUNS;

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
    /// The sizes of issue 7.
    pub const FULL: Scale = Scale {
        echo_messages: 200_000,
        batch_values: 100_000,
        flood_batches: 20_000,
        flood_values: 5,
        pending_rpcs: 1_000_000,
        runs: RUNS,
        judged: true,
    };

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
        print_table(&rows);
    }
    ExitCode::SUCCESS
}

fn print_table(rows: &[Row]) {
    println!("\n{:<58} {:>22}  {:<28} met", "measure", "figure", "target");
    for row in rows {
        let met = if row.met { "yes" } else { "NO" };
        println!(
            "{:<58} {:>22}  {:<28} {met}",
            row.measure, row.figure, row.target
        );
    }
    println!("(medians of {RUNS} runs on a shared machine; see docs/performance.md)");
}

/// Where generated inputs go.
fn data_dir() -> io::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes `lines` to a file in [`data_dir`] and returns its path.
fn write_input(name: &str, lines: impl Iterator<Item = String>) -> io::Result<PathBuf> {
    let path = data_dir()?.join(name);
    let mut file = BufWriter::new(fs::File::create(&path)?);
    for line in lines {
        file.write_all(line.as_bytes())?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    Ok(path)
}

fn init_line(node_ids: &str) -> String {
    format!(
        r#"{{"src":"c0","dest":"{NODE_ID}","body":{{"type":"init","msg_id":1,"node_id":"{NODE_ID}","node_ids":{node_ids}}}}}"#
    )
}

fn mionode(args: &[&str]) -> Command {
    let mut cmd = Command::new(MIONODE);
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

fn echo(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    let n = scale.echo_messages;
    let lines = std::iter::once(init_line(r#"["n1"]"#)).chain((0..n).map(|i| {
        format!(
            r#"{{"id":{i},"src":"c1","dest":"{NODE_ID}","body":{{"type":"echo","echo":"hello {i}","msg_id":{}}}}}"#,
            i + 2
        )
    }));
    let input = write_input("echo.jsonl", lines)?;
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
    let mut walls = vec![Vec::new(); contenders.len()];
    for _ in 0..scale.runs {
        for (i, c) in contenders.iter().enumerate() {
            let Run { wall, lines } = run_with_input(&mut (c.command)(), &input, c.sink)?;
            if c.sink == Sink::Pipe && lines != n as u64 + 1 {
                return Err(io::Error::other(format!("{}: {lines} lines out", c.name)));
            }
            walls[i].push(wall);
        }
    }
    println!(
        "echo: {n} requests from a file (median of {} runs)",
        scale.runs
    );
    let medians: Vec<Duration> = walls.iter().map(|w| median(w)).collect();
    for (c, wall) in contenders.iter().zip(&medians) {
        let r = rate(n, *wall) / 1e6;
        println!("  {:<32} {:>8.1} ms {r:>6.2} M msg/s", c.name, ms(*wall));
    }
    let node_rate = rate(n, medians[0]);
    let vs_bare = medians[0].as_secs_f64() / medians[2].as_secs_f64();
    let vs_simple = medians[3].as_secs_f64() / medians[0].as_secs_f64();
    println!("  mionode is {vs_bare:.2}x the bare loop's time, {vs_simple:.1}x faster than the simple node");
    rows.push(Row {
        measure: format!("echo throughput, {n} requests, stdout to a pipe"),
        figure: format!("{:.2} M msg/s", node_rate / 1e6),
        target: ">= 1.5 M msg/s".into(),
        met: node_rate >= 1.5e6,
    });
    rows.push(Row {
        measure: "echo time relative to the bare serde_json loop".into(),
        figure: format!("{vs_bare:.2}x"),
        target: "<= 2x".into(),
        met: vs_bare <= 2.0,
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

/// A `batch_echo` of `values`, as a JSON array, and the line that sends it.
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

/// Starts `cmd` under the loopback driver and initializes it.
fn start(mut cmd: Command) -> io::Result<Loopback> {
    let mut node = Loopback::spawn(&mut cmd)?;
    node.send((init_line(r#"["n1"]"#) + "\n").as_bytes());
    node.run_until(|_| true)?;
    Ok(node)
}

/// Checks that `line` answers request `msg_id` with `values`, in order.
fn check_batch_reply(line: &[u8], msg_id: u64, values: &str) -> io::Result<()> {
    let reply: Reply = serde_json::from_slice(line).map_err(io::Error::other)?;
    let results = reply.body.results.map(RawValue::get);
    // Values are plain integers: compare them without the whitespace a node may add.
    let compact = results.map(|r| r.replace([' ', '\n'], ""));
    if reply.body.kind != "batch_echo_ok"
        || reply.body.in_reply_to != msg_id
        || compact.as_deref() != Some(values)
    {
        let preview = String::from_utf8_lossy(&line[..line.len().min(200)]);
        return Err(io::Error::other(format!("wrong answer: {preview}")));
    }
    Ok(())
}

fn batch(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    let n = scale.batch_values;
    let values = values(0, n);
    let line = batch_line(2, &values);
    let mut walls = vec![Vec::new(); LOOPBACK_CONTENDERS.len()];
    for _ in 0..scale.runs {
        for (i, c) in LOOPBACK_CONTENDERS.iter().enumerate() {
            let mut node = start((c.command)())?;
            let started = Instant::now();
            node.send(line.as_bytes());
            let mut answer = Vec::new();
            node.run_until(|l| {
                answer = l.to_vec();
                true
            })?;
            walls[i].push(started.elapsed());
            let looped = node.looped;
            node.finish()?;
            check_batch_reply(&answer, 2, &values)?;
            assert_eq!(looped, 2 * n as u64, "an echo and its echo_ok per value");
        }
    }
    println!(
        "batch: one batch_echo of {n} values, looped back through pipes (median of {} runs)",
        scale.runs
    );
    let medians: Vec<Duration> = walls.iter().map(|w| median(w)).collect();
    for (c, wall) in LOOPBACK_CONTENDERS.iter().zip(&medians) {
        println!("  {:<32} {:>8.1} ms", c.name, ms(*wall));
    }
    rows.push(Row {
        measure: format!("one batch_echo of {n} values, loopback"),
        figure: format!("{:.1} ms", ms(medians[0])),
        target: "<= 150 ms".into(),
        met: medians[0] <= Duration::from_millis(150),
    });
    Ok(())
}

fn flood(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    let (batches, per) = (scale.flood_batches, scale.flood_values);
    let expected: Vec<String> = (0..batches).map(|b| values(b * per, per)).collect();
    let mut input = String::new();
    for (b, v) in expected.iter().enumerate() {
        input.push_str(&batch_line(b as u64 + 2, v));
    }
    let mut walls = vec![Vec::new(); LOOPBACK_CONTENDERS.len()];
    for _ in 0..scale.runs {
        for (i, c) in LOOPBACK_CONTENDERS.iter().enumerate() {
            let mut node = start((c.command)())?;
            let started = Instant::now();
            node.send(input.as_bytes());
            let mut answers: Vec<Vec<u8>> = Vec::with_capacity(batches);
            node.run_until(|l| {
                answers.push(l.to_vec());
                answers.len() == batches
            })?;
            walls[i].push(started.elapsed());
            node.finish()?;
            let mut seen = vec![false; batches];
            for answer in &answers {
                let reply: Reply = serde_json::from_slice(answer).map_err(io::Error::other)?;
                let b = reply.body.in_reply_to.wrapping_sub(2) as usize;
                if b >= batches || std::mem::replace(&mut seen[b], true) {
                    return Err(io::Error::other("unexpected or repeated answer"));
                }
                check_batch_reply(answer, b as u64 + 2, &expected[b])?;
            }
        }
    }
    println!(
        "flood: {batches} batch_echos of {per} values written at once (median of {} runs)",
        scale.runs
    );
    let medians: Vec<Duration> = walls.iter().map(|w| median(w)).collect();
    for (c, wall) in LOOPBACK_CONTENDERS.iter().zip(&medians) {
        println!("  {:<32} {:>8.1} ms", c.name, ms(*wall));
    }
    rows.push(Row {
        measure: format!("{batches} batch_echos of {per} values at once, loopback"),
        figure: format!("{:.1} ms", ms(medians[0])),
        target: "<= 500 ms".into(),
        met: medians[0] <= Duration::from_millis(500),
    });
    Ok(())
}

fn memory(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    let n = scale.pending_rpcs;
    let idle = write_input("idle.jsonl", std::iter::once(init_line(r#"["n1"]"#)))?;
    // Until send_fire_forget exists: one batch_echo whose echoes never come back.
    let how = format!("batch_echo of {n} values, no loopback");
    let lines = [init_line(r#"["n1"]"#), batch_line(2, &values(0, n))];
    let pending = write_input(
        "pending.jsonl",
        lines.into_iter().map(|l| l.trim_end().to_string()),
    )?;
    let args = ["--max-line-bytes", "268435456"];
    if !Path::new(TIME).exists() && !scale.judged {
        println!("memory: skipped, {TIME} is not installed");
        return Ok(());
    }
    let mut idle_rss = Vec::new();
    let mut pending_rss = Vec::new();
    for _ in 0..scale.runs.min(3) {
        idle_rss.push(peak_rss(MIONODE, &args, &idle)?);
        pending_rss.push(peak_rss(MIONODE, &args, &pending)?);
    }
    let (idle_rss, pending_rss) = (median(&idle_rss), median(&pending_rss));
    let per_rpc = pending_rss.saturating_sub(idle_rss) as f64 / n as f64;
    println!("memory: {how}");
    println!(
        "  peak RSS idle {:.1} MiB, with {n} pending {:.1} MiB: {per_rpc:.0} bytes per RPC",
        idle_rss as f64 / (1 << 20) as f64,
        pending_rss as f64 / (1 << 20) as f64
    );
    rows.push(Row {
        measure: format!("memory per pending RPC ({how})"),
        figure: format!("{per_rpc:.0} bytes"),
        target: "<= 256 bytes".into(),
        met: per_rpc <= 256.0,
    });
    Ok(())
}
