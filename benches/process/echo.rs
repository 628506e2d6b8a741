//! `echo`: 200,000 echo requests from a file, against the bare serde_json loop and the simple
//! blocking node.

use std::io;
use std::path::PathBuf;

use crate::loopback::NODE_ID;
use crate::measure::{run_with_input, Run, Sink};
use crate::workloads::{
    baseline, init_line, mionode, rate, write_input, Contender, Row, Samples, Scale,
};

/// The echo workload's input: `init`, then `n` echo requests as Maelstrom delivers them.
pub fn echo_input(n: usize) -> io::Result<PathBuf> {
    let lines = std::iter::once(init_line(r#"["n1"]"#)).chain((0..n).map(|i| {
        format!(
            r#"{{"id":{i},"src":"c1","dest":"{NODE_ID}","body":{{"type":"echo","echo":"hello {i}","msg_id":{}}}}}"#,
            i + 2
        )
    }));
    write_input(&format!("echo-{n}.jsonl"), lines)
}

pub fn echo(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    let n = scale.echo_messages;
    let input = echo_input(n)?;
    let contenders = [
        (
            Contender {
                name: "mionode, stdout to a pipe",
                command: || mionode(&[]),
            },
            Sink::Pipe,
        ),
        (
            Contender {
                name: "mionode, stdout to /dev/null",
                command: || mionode(&[]),
            },
            Sink::Null,
        ),
        (
            Contender {
                name: "bare serde_json loop, pipe",
                command: || baseline("--bare-loop"),
            },
            Sink::Pipe,
        ),
        (
            Contender {
                name: "simple blocking node, pipe",
                command: || baseline("--simple-node"),
            },
            Sink::Pipe,
        ),
    ];
    let mut samples: Vec<Samples> = contenders.iter().map(|_| Samples::default()).collect();
    for _ in 0..scale.runs {
        for ((c, sink), samples) in contenders.iter().zip(&mut samples) {
            let Run { wall, cpu, lines } = run_with_input(&mut (c.command)(), &input, *sink)?;
            if *sink == Sink::Pipe && lines != n as u64 + 1 {
                return Err(io::Error::other(format!("{}: {lines} lines out", c.name)));
            }
            samples.push(wall, cpu);
        }
    }
    println!(
        "echo: {n} requests from a file, spawn to exit (median of {} runs)",
        scale.runs
    );
    for ((c, _), s) in contenders.iter().zip(&samples) {
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
    let node_rate = rate(n, samples[0].wall());
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
