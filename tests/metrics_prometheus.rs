//! A real Prometheus scrapes a cluster of real nodes it found through their discovery files,
//! and every PromQL expression of the Grafana dashboard returns data.
//!
//! Needs `/usr/bin/prometheus` (Debian's `prometheus` package, which `.ci/run` installs); the
//! test fails, saying so, without it. Every process it starts is stopped by a guard, even when
//! an assertion fails.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::metrics::{unix_now, wait_for, Prometheus, TempDir};
use support::{request, NodeProc};

const NODES: [&str; 3] = ["n0", "n1", "n2"];

/// Longest the driver runs if nobody stops it.
const MAX_LOAD: Duration = Duration::from_secs(60);

/// Scrapes of every node to wait for after all are up, so rates have samples to work on.
const SCRAPES_OF_DATA: u64 = 4;

/// What the Grafana variables become when the test runs the dashboard's expressions.
const RATE_INTERVAL: &str = "5s";

/// Nodes driven by a background thread until the guard drops: each node has one closed-loop
/// client (see [`send_request`]); messages between nodes are delivered. Dropping the guard stops the load and closes every node's stdin.
struct Load {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<NodeProc>>>,
}

impl Load {
    fn start(nodes: Vec<NodeProc>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || drive(nodes, &flag));
        Load {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the load; returns the nodes, still running.
    fn stop(mut self) -> Vec<NodeProc> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().expect("load thread")
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join(); // the nodes drop with it, killed
        }
    }
}

fn drive(mut nodes: Vec<NodeProc>, stop: &AtomicBool) -> Vec<NodeProc> {
    let start = Instant::now();
    let mut next_id = 100u64;
    let mut waiting = vec![false; nodes.len()];
    while !stop.load(Ordering::Relaxed) && start.elapsed() < MAX_LOAD {
        for (i, busy) in waiting.iter_mut().enumerate() {
            if !*busy {
                next_id += 1;
                send_request(&mut nodes[i], NODES[i], next_id);
                *busy = true;
            }
        }
        let mut quiet = true;
        for i in 0..nodes.len() {
            while let Some(msg) = nodes[i].try_recv(Duration::ZERO) {
                quiet = false;
                let dest = msg["dest"].as_str().unwrap_or_default();
                match NODES.iter().position(|n| *n == dest) {
                    Some(j) => nodes[j].send(&msg),
                    None => waiting[i] = false,
                }
            }
        }
        if quiet {
            thread::sleep(Duration::from_millis(1));
        }
    }
    nodes
}

/// One request from the node's client: echoes, batches, a proxy and a relay to the next node,
/// and now and then a request the node must refuse with error 12 (after an unparseable line).
fn send_request(node: &mut NodeProc, id: &str, msg_id: u64) {
    let index: usize = id[1..].parse().unwrap();
    let client = format!("c{}", 10 + index);
    let next = NODES[(index + 1) % NODES.len()];
    let echo = json!({"type": "echo", "echo": msg_id});
    let body = match msg_id % 10 {
        0 => {
            node.send_raw(b"{not json\n");
            json!({"type": "echo", "msg_id": msg_id})
        }
        1..=3 => json!({"type": "echo", "msg_id": msg_id, "echo": msg_id}),
        4 => json!({"type": "proxy", "msg_id": msg_id, "target": next, "inner": echo}),
        5 => json!({"type": "relay", "msg_id": msg_id, "target": next, "payload": echo}),
        6 => json!({"type": "pending_count", "msg_id": msg_id}),
        _ => {
            let values: Vec<u64> = (0..msg_id % 7).collect();
            json!({"type": "batch_echo", "msg_id": msg_id, "values": values})
        }
    };
    node.send(&request(&client, id, body));
}

/// Every `expr` of the dashboard, with its Grafana variables replaced.
fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(dashboard_path()).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            exprs.push(
                expr.replace("$__rate_interval", RATE_INTERVAL)
                    .replace("$node", ".*"),
            );
        }
    }
    exprs
}

fn dashboard_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/mionode.json")
}

fn up_targets(prometheus: &Prometheus) -> Option<Vec<String>> {
    let targets = prometheus.targets();
    let mut up: Vec<String> = targets
        .iter()
        .filter(|t| t["health"] == "up")
        .filter_map(|t| t["labels"]["node"].as_str().map(str::to_owned))
        .collect();
    up.sort();
    (up == NODES).then_some(up)
}

#[test]
fn prometheus_finds_every_node_and_the_dashboard_queries_return_data() {
    let dir = TempDir::new("prometheus");
    let sd = dir.path().join("sd");
    std::fs::create_dir_all(&sd).unwrap();
    let prometheus = Prometheus::start(dir.path(), &sd);

    let sd_arg = sd.to_str().unwrap();
    let nodes = NODES
        .iter()
        .map(|id| NodeProc::init(id, &NODES, &["--metrics-sd-dir", sd_arg]))
        .collect();
    let load = Load::start(nodes);

    wait_for(
        "every node up in Prometheus",
        Duration::from_secs(30),
        || up_targets(&prometheus),
    );
    let first = unix_now();
    thread::sleep(Duration::from_secs(SCRAPES_OF_DATA));
    let at = unix_now();

    // Every node is up, and its counters moved while it was.
    for node in NODES {
        let up = prometheus
            .query_at(&format!("up{{job=\"mionode\",node=\"{node}\"}}"), at)
            .unwrap();
        assert_eq!(up[0]["value"][1], "1", "{node}: {up}");
        for counter in [
            "mionode_messages_received_total",
            "mionode_rpcs_sent_total",
            "mionode_loop_turns_total",
        ] {
            let expr = format!(
                "sum(increase({counter}{{node=\"{node}\"}}[{}s]))",
                (at - first).ceil()
            );
            let result = prometheus.query_at(&expr, at).unwrap();
            let moved: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
            assert!(moved > 0.0, "{expr} = {moved}");
        }
    }
    // Every expression of the dashboard parses and returns data.
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 15, "{} expressions", exprs.len());
    for expr in &exprs {
        let result = prometheus
            .query_at(expr, at)
            .unwrap_or_else(|e| panic!("{expr}: {e}"));
        let empty = result.as_array().is_some_and(Vec::is_empty);
        assert!(!empty, "no data for {expr}");
    }

    // A clean exit removes each node's discovery file.
    for node in load.stop() {
        let (status, _, stderr) = node.finish();
        assert!(status.success(), "{stderr}");
    }
    let left: Vec<_> = std::fs::read_dir(&sd).unwrap().collect();
    assert!(left.is_empty(), "discovery files left: {left:?}");
}

#[test]
fn dashboard_takes_its_datasource_and_nodes_from_variables() {
    let text = std::fs::read_to_string(dashboard_path()).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let kind = |name: &str| {
        let v = variables.iter().find(|v| v["name"] == name);
        v.map(|v| v["type"].as_str().unwrap().to_owned())
    };
    assert_eq!(kind("datasource").as_deref(), Some("datasource"));
    assert_eq!(kind("node").as_deref(), Some("query"));
    let panels = dashboard["panels"].as_array().unwrap();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            assert!(expr.contains("node=~\"$node\""), "{expr}");
        }
    }
}
