//! The driver itself, mostly against the stub node: it stops cleanly (time limit, Ctrl-C, a node
//! that ignores the end of its stdin), leaves no process behind, keeps its run directory the
//! way the docs say, runs an open loop, stays quiet off a terminal, and refuses bad flags.

mod load_support;

use std::time::{Duration, Instant};

use load_support::{alive, command, finish, run, stub};

fn stub_arg() -> String {
    stub().to_str().expect("utf-8 path").to_string()
}

#[test]
fn node_ignoring_end_of_stdin_is_killed_and_leaves_no_process() {
    let bin = stub_arg();
    let run = run(&[
        "--bin",
        &bin,
        "--workload",
        "echo",
        "--time-limit",
        "1",
        "--close-stdin",
        "--",
        "--fault",
        "ignore-eof",
    ]);
    load_support::assert_valid(&run, &["echo"]);
    let pids = run.node_pids();
    assert_eq!(pids.len(), 3, "{}", run.describe());
    for pid in pids {
        assert!(!alive(pid), "node {pid} is still there\n{}", run.describe());
    }
    for node in run.results["nodes"].as_array().expect("nodes") {
        let exit = node["exit"].as_str().unwrap_or("");
        assert!(exit.starts_with("killed"), "{exit}");
    }
}

#[test]
fn ctrl_c_stops_the_clients_reports_and_ends_the_nodes() {
    // The real node, not the Python stub: three interpreters starting on a loaded 2-core
    // machine could still be in `init` when the signal comes, leaving no request to check.
    let (mut cmd, dir) = command(&[
        "--bin",
        load_support::NODE,
        "--time-limit",
        "30",
        "--rate",
        "100",
        "--close-stdin",
    ]);
    let child = cmd.spawn().expect("start mionode-load");
    std::thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    // SAFETY: kill(2) on the pid of our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let run = finish(child, dir);
    assert!(start.elapsed() < Duration::from_secs(5), "slow to stop");
    load_support::assert_valid(&run, &["echo"]);
    assert_eq!(run.results["interrupted"], true);
    assert!(run.stdout.contains("(interrupted)"), "{}", run.describe());
    for pid in run.node_pids() {
        assert!(!alive(pid), "node {pid} is still there");
    }
    for node in run.results["nodes"].as_array().expect("nodes") {
        let exit = node["exit"].as_str().unwrap_or("");
        assert!(exit.contains("exit status: 0"), "{exit}");
    }
}

#[test]
fn run_directory_holds_results_and_node_logs() {
    let bin = stub_arg();
    let cwd = tempfile::tempdir().expect("temporary directory");
    let status = std::process::Command::new(load_support::LOAD)
        .args(["--bin", &bin, "--node-count", "2", "--time-limit", "1"])
        .current_dir(cwd.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run mionode-load");
    assert!(status.success());
    let latest = cwd.path().join("store/latest");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest.join("results.json")).expect("results"))
            .expect("JSON");
    assert_eq!(results["config"]["nodes"], serde_json::json!(["n0", "n1"]));
    assert!(results["config"]["seed"].is_u64());
    assert!(latest.join("node-logs/n0.log").is_file());
    assert!(latest.join("node-logs/n1.log").is_file());
}

#[test]
fn rate_starts_requests_at_the_rate() {
    let bin = stub_arg();
    let run = run(&[
        "--bin",
        &bin,
        "--workload",
        "echo",
        "--rate",
        "400",
        "--concurrency",
        "10n",
        "--time-limit",
        "1",
    ]);
    load_support::assert_valid(&run, &["echo"]);
    let invoked = run.results["ops"]["echo"]["invoked"].as_u64().unwrap_or(0);
    assert!(
        (300..=500).contains(&invoked),
        "{invoked} requests at 400/s for 1 s"
    );
    assert_eq!(run.results["config"]["rate"], 400.0);
}

#[test]
fn progress_bar_stays_off_when_stdout_is_not_a_terminal() {
    let bin = stub_arg();
    let run = run(&[
        "--bin",
        &bin,
        "--workload",
        "echo",
        "--time-limit",
        "3",
        "--progress",
        "always",
    ]);
    load_support::assert_valid(&run, &["echo"]);
    assert!(
        !run.stdout.contains('\r') && !run.stdout.contains('\x1b'),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.starts_with("mionode-load: 3 nodes"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_flags_and_missing_binaries_exit_2() {
    let run = run(&["--drop", "1.5"]);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    let run = load_support::run(&["--bin", "/nonexistent/mionode"]);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert!(
        run.stderr.contains("cannot start the nodes"),
        "{}",
        run.describe()
    );
}

#[test]
fn node_messages_to_itself_go_through_the_network() {
    let bin = stub_arg();
    let run = run(&[
        "--bin",
        &bin,
        "--node-count",
        "1",
        "--workload",
        "batch_echo",
        "--batch-size",
        "4",
        "--latency",
        "3",
        "--time-limit",
        "1",
    ]);
    load_support::assert_valid(&run, &["batch_echo"]);
    let p50 = run.results["ops"]["batch_echo"]["latency_ms"]["p50"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        p50 >= 3.0,
        "self-messages skipped the 3 ms latency: p50 {p50} ms"
    );
    let servers = &run.results["net"]["servers"];
    assert_eq!(
        servers["msgs_per_op"].as_f64().map(|m| m.round()),
        Some(8.0)
    );
}
