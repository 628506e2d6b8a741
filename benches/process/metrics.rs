//! `metrics`: the echo workload with Prometheus metrics on and off.
//!
//! What metrics cost per echo is small against the run-to-run noise of CPU time on a shared
//! machine, so when valgrind is installed the instructions of one run each are counted as
//! well (callgrind): the same input gives the same count, whatever else the machine does.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::echo::echo_input;
use crate::measure::{instructions, run_with_input, Run, Sink, VALGRIND};
use crate::workloads::{mionode, Row, Samples, Scale, MIONODE};

/// The flag that turns metrics on: a listener on a port of the kernel's choice.
const METRICS_ON: [&str; 2] = ["--metrics-addr", "127.0.0.1:0"];

/// Whether this build of the node has metrics at all.
fn has_metrics() -> io::Result<bool> {
    let help = Command::new(MIONODE).arg("--help").output()?;
    Ok(String::from_utf8_lossy(&help.stdout).contains(METRICS_ON[0]))
}

pub fn metrics(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    if !has_metrics()? {
        println!("metrics: skipped, this mionode has no {}", METRICS_ON[0]);
        return Ok(());
    }
    let n = scale.echo_messages;
    let input = echo_input(n)?;
    let flags: [&[&str]; 2] = [&[], &METRICS_ON];
    let mut samples = [Samples::default(), Samples::default()];
    for _ in 0..scale.runs {
        for (args, samples) in flags.iter().zip(&mut samples) {
            // The node logs where metrics are served; that is not the benchmark's output.
            let mut node = mionode(args);
            node.stderr(Stdio::null());
            let Run { wall, cpu, lines } = run_with_input(&mut node, &input, Sink::Pipe)?;
            if lines != n as u64 + 1 {
                return Err(io::Error::other(format!("{lines} lines out")));
            }
            samples.push(wall, cpu);
        }
    }
    println!(
        "metrics: {n} echoes from a file, stdout to a pipe (median of {} runs)",
        scale.runs
    );
    for (name, s) in ["metrics off", "metrics on"].iter().zip(&samples) {
        println!("  {name:<30} {}", s.describe());
    }
    let cpu_cost = samples[1].cpu().as_secs_f64() / samples[0].cpu().as_secs_f64() - 1.0;
    let mut figure = format!("{:+.1}% CPU", cpu_cost * 100.0);
    let mut cost = cpu_cost;
    if scale.judged && Path::new(VALGRIND).exists() {
        let off = instructions(MIONODE, &[], &input)?;
        let on = instructions(MIONODE, &METRICS_ON, &input)?;
        cost = on as f64 / off as f64 - 1.0;
        println!(
            "  instructions (callgrind): off {off}, on {on}: {:+.0} per message",
            (on as f64 - off as f64) / n as f64
        );
        figure = format!("{:+.1}% instr, {figure}", cost * 100.0);
    }
    rows.push(Row {
        measure: format!("metrics cost, {n} echoes, on against off"),
        figure,
        target: "<= 5% of the echo path".into(),
        met: cost <= 0.05,
    });
    Ok(())
}
