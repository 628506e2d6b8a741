//! A real Prometheus scrapes a `mionode-load --metrics` run, finding every node through its
//! discovery file, and every PromQL expression of the Grafana dashboard returns data.
//!
//! Needs `prometheus` on `PATH` (Debian's `prometheus` package, which `.ci/run` installs);
//! without it the test says so on stderr and passes, unless `MIONODE_REQUIRE_PROMETHEUS=1`
//! (set by `.ci/run`) makes it fail. Every process it starts is stopped by a guard, even when
//! an assertion fails.

mod support;

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::Value;
use support::metrics::{unix_now, wait_for, Prometheus, TempDir};

/// The load driver under test; it runs the `mionode` beside it.
const LOAD: &str = env!("CARGO_BIN_EXE_mionode-load");

const NODES: [&str; 3] = ["n0", "n1", "n2"];

/// How long the load runs: long enough for Prometheus to find the nodes, scrape them for
/// [`SCRAPES_OF_DATA`] seconds and be asked about it while they still run.
const TIME_LIMIT_S: u64 = 15;

/// Seconds of scrapes of every node to wait for after all are up, so rates have samples.
const SCRAPES_OF_DATA: u64 = 4;

/// What the Grafana variables become when the test runs the dashboard's expressions.
const RATE_INTERVAL: &str = "5s";

/// A child process killed (with the nodes it started, which die with it) on drop.
struct Running(Option<Child>);

impl Running {
    /// Waits for the process to exit, at most `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.0.as_mut()?;
        let status = wait_for("mionode-load to finish", timeout, || {
            child.try_wait().unwrap()
        });
        self.0 = None;
        Some(status)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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
fn prometheus_finds_every_node_of_a_load_run_and_the_dashboard_queries_return_data() {
    let dir = TempDir::new("prometheus");
    let run = dir.path().join("run");
    let sd = run.join("sd");
    std::fs::create_dir_all(&sd).unwrap();
    let Some(prometheus) = Prometheus::start(dir.path(), &sd) else {
        return;
    };

    let output = dir.path().join("load.out");
    let mut load = Running(Some(
        Command::new(LOAD)
            .arg("--metrics")
            .arg("--store")
            .arg(&run)
            .args(["--time-limit", &TIME_LIMIT_S.to_string()])
            // A gentle open loop: the counters only need to move, and a run flat out for
            // 15 s would starve the tests that share the machine.
            .args(["--rate", "300", "--progress", "never", "--seed", "7"])
            .stdin(Stdio::null())
            .stdout(File::create(&output).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mionode-load"),
    ));

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
            "mionode_rpcs_completed_total",
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

    // The run is valid, said where the discovery files are, and its nodes, stopped cleanly,
    // removed them.
    let status = load.wait(Duration::from_secs(TIME_LIMIT_S + 30));
    let printed = std::fs::read_to_string(&output).unwrap();
    assert!(status.is_some_and(|s| s.success()), "{printed}");
    assert!(
        printed.contains(&format!("{}/*.json", sd.display())),
        "{printed}"
    );
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
