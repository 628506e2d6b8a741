//! The summary printed at the end of a run (and kept as `summary.txt`): the settings, the
//! table of operations, the network, the nodes, every check with what a failing one found,
//! and the verdict.

use std::fmt::Write as _;

use mionode::harness::check::{self, Valid};
use mionode::harness::record::Op;
use mionode::harness::workload::code_name;

use crate::report::{Quantiles, Results};

/// The summary printed at the end of a run.
pub fn summary(r: &Results, history: &[Op]) -> String {
    let c = &r.config;
    let mut out = String::new();
    let clients = if c.closed_loop {
        format!("{} clients in a closed loop", c.concurrency)
    } else {
        format!("{} clients, {} requests/s", c.concurrency, c.rate)
    };
    let _ = writeln!(
        out,
        "mionode-load: {} nodes ({}), {} workload, {clients}, {:.1} s{}, seed {}",
        c.nodes.len(),
        c.nodes.join(" "),
        c.workload,
        r.duration_s,
        if r.interrupted { " (interrupted)" } else { "" },
        c.seed
    );
    let rate = c
        .net_rate
        .map_or(String::new(), |m| format!(", net-rate {m}/s"));
    let _ = writeln!(
        out,
        "network: latency {} ms {}, drop {}, duplicate {}{rate}, nemesis {}\n",
        c.latency_ms, c.latency_dist, c.drop, c.duplicate, c.nemesis
    );
    ops_table(&mut out, r);
    net_lines(&mut out, r);
    checks_lines(&mut out, r, history);
    if let Some(e) = &r.history_error {
        let _ = writeln!(out, "\nhistory.jsonl is incomplete: {e}");
    }
    let _ = writeln!(out, "\nresults: {}/results.json", r.store);
    let _ = writeln!(out, "verdict: {}", verdict(r));
    out
}

/// The last line: the verdict and, when it is not valid, the checks that made it so.
fn verdict(r: &Results) -> String {
    let failing: Vec<String> = (r.checks.failing().into_iter())
        .map(|(name, v)| match v {
            Valid::Unknown => format!("{name} (unknown)"),
            _ => name.to_string(),
        })
        .collect();
    match r.valid {
        Valid::True => "VALID: every check passed".to_string(),
        Valid::False => format!("INVALID: {} (listed above)", failing.join(", ")),
        Valid::Unknown => format!("UNKNOWN: {} could not decide", failing.join(", ")),
    }
}

fn ops_table(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "{:<11}{:>9}{:>9}{:>8}{:>8}{:>8}{:>7}{:>10}{:>9}{:>9}{:>9}{:>9}",
        "op",
        "invoked",
        "ok",
        "fail",
        "info",
        "timeout",
        "wrong",
        "ok/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms"
    );
    let order = (r.ops.keys())
        .filter(|k| *k != "total")
        .map(String::as_str)
        .chain(["total"]);
    for name in order {
        let Some(o) = r.ops.get(name) else { continue };
        // No `ok`, no latency: a dash rather than NaN; no duration, no rate.
        let q = |f: fn(&Quantiles) -> f64| {
            (o.latency_ms.as_ref()).map_or("-".to_string(), |l| format!("{:.3}", f(l)))
        };
        let per_s = o.ok_per_s.map_or("-".to_string(), |x| format!("{x:.1}"));
        let _ = writeln!(
            out,
            "{name:<11}{:>9}{:>9}{:>8}{:>8}{:>8}{:>7}{per_s:>10}{:>9}{:>9}{:>9}{:>9}",
            o.invoked,
            o.ok,
            o.failed,
            o.indeterminate,
            o.timed_out,
            o.wrong,
            q(|q| q.p50),
            q(|q| q.p90),
            q(|q| q.p99),
            q(|q| q.max)
        );
    }
    if let Some(total) = r.ops.get("total") {
        if !total.error_codes.is_empty() {
            let codes: Vec<String> = (total.error_codes.iter())
                .map(|(code, n)| {
                    let name = code.parse().ok().and_then(code_name).unwrap_or("custom");
                    format!("{code} {name} ×{n}")
                })
                .collect();
            let _ = writeln!(out, "errors by code: {}", codes.join(", "));
        }
    }
}

fn net_lines(out: &mut String, r: &Results) {
    let n = &r.net;
    let _ = writeln!(
        out,
        "\nmessages: {} sent (clients {}, between nodes and services {}), {} delivered; \
         {} dropped, {} duplicated, {} lost to partitions",
        n.all.send_count,
        n.clients.send_count,
        n.servers.send_count,
        n.all.recv_count,
        n.dropped,
        n.duplicated,
        n.partitioned
    );
    if let (Some(all), Some(servers)) = (n.all.msgs_per_op, n.servers.msgs_per_op) {
        let _ = writeln!(out, "msgs-per-op: {all:.2} (between nodes {servers:.2})");
    }
    if r.config.net_rate.is_some() {
        let _ = writeln!(
            out,
            "net-rate: longest queue wait {:.1} ms",
            n.max_queue_wait_ms
        );
    }
    if r.oversized_requests > 0 {
        let _ = writeln!(
            out,
            "line limit: {} request(s) longer than the node's limit of {} bytes \
             (--node-max-line), {} of them timed out: a node discards such a line unanswered",
            r.oversized_requests, r.config.node_max_line, r.oversized_timed_out
        );
    }
    if !r.nemesis.is_empty() {
        let healed = r.nemesis.iter().all(|p| p.end.is_some());
        let end = if healed {
            ""
        } else {
            ", the last one lasting to the end"
        };
        let _ = writeln!(out, "nemesis: {} partition(s){end}", r.nemesis.len());
    }
    if r.replaced_clients > 0 || r.ignored_replies > 0 {
        let _ = writeln!(
            out,
            "clients: {} opened, {} replaced after a timeout or an indeterminate error; \
             {} replies to earlier requests skipped",
            r.clients, r.replaced_clients, r.ignored_replies
        );
    }
    for node in &r.nodes {
        let _ = writeln!(out, "{}: pid {}, {}", node.id, node.pid, node.exit);
    }
}

/// One line per check, and under a failing one what it found.
fn checks_lines(out: &mut String, r: &Results, history: &[Op]) {
    let _ = writeln!(out, "\nchecks:");
    for (name, c) in &r.checks.checks {
        let valid = match c.valid {
            Valid::True => "valid",
            Valid::False => "INVALID",
            Valid::Unknown => "unknown",
        };
        let _ = writeln!(out, "  {name:<13}{valid}{}", check_note(name, c));
        if c.valid.is_true() {
            continue;
        }
        for line in check_details(name, c, history).iter().take(10) {
            let _ = writeln!(out, "    {line}");
        }
    }
}

/// A few words beside a check's verdict.
fn check_note(name: &str, c: &check::Check) -> String {
    let d = &c.details;
    match name {
        "availability" => d
            .get("ok_fraction")
            .and_then(serde_json::Value::as_f64)
            .map_or(String::new(), |f| format!(" (ok fraction {f:.3})")),
        "stats" => d
            .get("without_ok")
            .map_or(String::new(), |w| format!(" (no ok for {w})")),
        "exceptions" => d
            .get("exceptions")
            .and_then(serde_json::Value::as_array)
            .map_or(String::new(), |e| {
                format!(" ({} kind(s) of schema violation)", e.len())
            }),
        _ => String::new(),
    }
}

/// What a failing check found, as lines for the terminal.
fn check_details(name: &str, c: &check::Check, history: &[Op]) -> Vec<String> {
    let d = &c.details;
    if name == "nodes" {
        let failures = d.get("failures").and_then(serde_json::Value::as_array);
        return (failures.into_iter().flatten())
            .map(|f| {
                let kind = f["kind"].as_str().unwrap_or("");
                let label = failure_label(kind);
                format!(
                    "{} {label}: {}",
                    f["node"].as_str().unwrap_or("?"),
                    f["message"].as_str().unwrap_or("")
                )
            })
            .collect();
    }
    if name == "stats" {
        let ended = history
            .iter()
            .filter(|o| o.kind != mionode::harness::record::OpType::Invoke)
            .count();
        return vec![format!(
            "Jepsen's stats check needs at least one ok per operation kind; {ended} completion(s), none ok for {}",
            d.get("without_ok").map_or("?".to_string(), ToString::to_string)
        )];
    }
    // Lists of sentences one per line; other non-empty lists on one line under their name.
    let mut lines = Vec::new();
    for (key, value) in d {
        let Some(items) = value.as_array().filter(|i| !i.is_empty()) else {
            continue;
        };
        if items.iter().all(serde_json::Value::is_string) {
            lines.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)));
        } else {
            let shown = crate::wire::excerpt(value.to_string().as_bytes());
            lines.push(format!("{key} ({}): {shown}", items.len()));
        }
    }
    if lines.is_empty() {
        let all = serde_json::Value::Object(d.clone()).to_string();
        lines.push(crate::wire::excerpt(all.as_bytes()));
    }
    lines
}

/// The report's words for a failure kind, as `results.json` names it.
fn failure_label(kind: &str) -> &'static str {
    use crate::failures::FailureKind as K;
    let kind = match kind {
        "unknown-destination" => K::UnknownDestination,
        "invalid-message" => K::InvalidMessage,
        "wrong-source" => K::WrongSource,
        "crashed" => K::Crashed,
        "init" => K::Init,
        "setup" => K::Setup,
        _ => return "failure",
    };
    kind.label()
}
