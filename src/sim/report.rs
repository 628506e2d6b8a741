//! What a simulated run shows: the summary (terminal and `summary.txt`), and the store, laid
//! out as `mionode-load` lays it out ([`crate::harness::store`]), with the views drawn
//! ([`crate::harness::views`]).
//!
//! Every file but `summary.txt` is a pure function of the binary and the seed; the summary
//! adds the wall time the run took, and the store's directory name is the wall-clock time
//! (unless `--store` names it).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::check::Valid;
use crate::harness::record::{self, OpType};
use crate::harness::store;
use crate::harness::views;
use crate::harness::workload::SECOND;

use super::Outcome;

/// How a verdict is shown.
pub fn verdict(v: Valid) -> &'static str {
    match v {
        Valid::True => "VALID",
        Valid::False => "INVALID",
        Valid::Unknown => "UNKNOWN",
    }
}

/// Seconds with three decimals.
fn secs(n: u64) -> String {
    format!("{:.3}", n as f64 / SECOND as f64)
}

/// How many times faster than real time: simulated over wall.
pub fn speedup(simulated: u64, wall: Duration) -> f64 {
    simulated as f64 / SECOND as f64 / wall.as_secs_f64().max(1e-9)
}

/// The summary of one run, as the terminal shows it.
pub fn summary(title: &str, o: &Outcome, wall: Duration) -> String {
    let mut out = String::new();
    let s = &o.stats;
    let _ = writeln!(out, "{title}, seed {}: {}", o.seed, verdict(o.valid()));
    for (name, check) in &o.results.checks {
        let mut line = format!("  {name:<13} {}", verdict(check.valid));
        if !check.valid.is_true() {
            let details = Value::Object(check.details.clone()).to_string();
            let cut: String = details.chars().take(400).collect();
            let _ = write!(line, "  {cut}");
            if cut.len() < details.len() {
                line.push_str("...");
            }
        }
        let _ = writeln!(out, "{line}");
    }
    let count = |t: OpType| o.history.iter().filter(|op| op.kind == t).count();
    let _ = writeln!(
        out,
        "operations: {} invoked; {} ok, {} fail, {} info; {} clients replaced",
        count(OpType::Invoke),
        count(OpType::Ok),
        count(OpType::Fail),
        count(OpType::Info),
        s.clients_replaced
    );
    let _ = writeln!(
        out,
        "network: {} messages, {} dropped, {} duplicated, {} cut by partitions; {} replies \
         no client waited for",
        s.messages, s.dropped, s.duplicated, s.cut, s.ignored_replies
    );
    if !o.nemesis.is_empty() {
        let _ = writeln!(out, "nemesis: {} partitions", o.nemesis.len());
    }
    for v in o.violations.iter().take(5) {
        let _ = writeln!(
            out,
            "violation at {} s: {} {}: {}",
            secs(v.time),
            v.node,
            v.kind,
            v.message
        );
    }
    let _ = writeln!(
        out,
        "time: {} s simulated ({} events) in {:.3} s wall: {:.0}x real time",
        secs(s.simulated),
        s.events,
        wall.as_secs_f64(),
        speedup(s.simulated, wall)
    );
    out
}

/// `results.json`: the checks, the seed and the run's counters.
pub fn results_json(o: &Outcome) -> String {
    let mut v = serde_json::to_value(&o.results).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        let s = &o.stats;
        m.insert("seed".into(), Value::from(o.seed));
        m.insert(
            "simulation".into(),
            serde_json::json!({
                "simulated_ns": s.simulated,
                "workload_start_ns": s.workload_start,
                "events": s.events,
                "messages": s.messages,
                "dropped": s.dropped,
                "duplicated": s.duplicated,
                "cut": s.cut,
                "ignored_replies": s.ignored_replies,
                "lost_after_violation": s.lost_after_violation,
                "clients_replaced": s.clients_replaced,
            }),
        );
    }
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes the run into `dir` (which exists, with its node-logs): results, history, message
/// trace, nemesis periods, summary, node logs; then draws the views. A failure to draw is
/// returned after every record is written.
pub fn write_store(dir: &Path, o: &Outcome, summary: &str) -> io::Result<()> {
    fs::write(dir.join(record::RESULTS), results_json(o))?;
    store::write_jsonl_file(dir, record::HISTORY, &o.history)?;
    store::write_jsonl_file(dir, record::MESSAGES, &o.messages)?;
    store::write_jsonl_file(dir, record::NEMESIS, &o.nemesis)?;
    fs::write(dir.join(record::SUMMARY), summary)?;
    let logs = dir.join(record::NODE_LOGS);
    fs::create_dir_all(&logs)?;
    for (id, log) in &o.logs {
        fs::write(logs.join(format!("{id}.log")), log)?;
    }
    views::render(dir, &views::ViewOptions::default()).map(|_| ())
}
