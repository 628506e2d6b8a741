//! `batch` and `flood`: `batch_echo`s through the loopback driver, every answer checked.

use std::fmt::Write as _;
use std::io;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::loopback::{Loopback, NODE_ID};
use crate::measure::ms;
use crate::workloads::{init_line, Row, Samples, Scale, LOOPBACK_CONTENDERS};

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
pub fn batch_line(msg_id: u64, values: &str) -> String {
    format!(
        r#"{{"src":"c1","dest":"{NODE_ID}","body":{{"type":"batch_echo","msg_id":{msg_id},"values":{values}}}}}"#
    ) + "\n"
}

/// `count` distinct integers from `first`, as a JSON array.
pub fn values(first: usize, count: usize) -> String {
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
            // Every echo and its reply, and the odd retry: adaptive timeouts may fire on a
            // loaded machine's pause (at most 1% more, else something is storming).
            let least = 2 * total_values as u64;
            if looped < least || looped > least + least / 100 {
                return Err(io::Error::other(format!(
                    "{}: {looped} lines looped back, for {least}",
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

pub fn batch(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
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

pub fn flood(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
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
