//! Shared helpers for the `load_*` tests (apart from `tests/support`, the node's own): run
//! `mionode-load` in a scratch run directory and read its results.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The driver under test.
pub const LOAD: &str = env!("CARGO_BIN_EXE_mionode-load");

/// The real node.
pub const NODE: &str = env!("CARGO_BIN_EXE_mionode");

/// The Python stub node (`--fault NAME` after `--` makes it misbehave).
pub fn stub() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stub_node.py")
}

/// No test run may take longer than this; a hung driver is killed and the test fails.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// What one run left behind.
pub struct Run {
    /// The driver's exit code.
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// `results.json`, or `Null` if there is none.
    pub results: Value,
    /// The run directory (kept until the `Run` is dropped).
    pub dir: tempfile::TempDir,
}

impl Run {
    /// The run directory.
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The kinds of the recorded failures.
    pub fn failure_kinds(&self) -> Vec<String> {
        self.results["failures"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| f["kind"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A one-screen description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// The pids of the nodes, from results.json.
    pub fn node_pids(&self) -> Vec<u32> {
        self.results["nodes"]
            .as_array()
            .map(|ns| {
                ns.iter()
                    .filter_map(|n| n["pid"].as_u64())
                    .map(|p| p as u32)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A `mionode-load` command with `--store` in a fresh temporary directory, a fixed seed and
/// `args`.
pub fn command(args: &[&str]) -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut cmd = Command::new(LOAD);
    cmd.arg("--store")
        .arg(dir.path().join("run"))
        .args(["--seed", "42"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    (cmd, dir)
}

/// Runs `mionode-load args...` to the end and collects what it left.
pub fn run(args: &[&str]) -> Run {
    let (mut cmd, dir) = command(args);
    let child = cmd.spawn().expect("start mionode-load");
    finish(child, dir)
}

/// Waits for a started driver (killing it past [`RUN_LIMIT`]) and collects what it left.
pub fn finish(mut child: Child, dir: tempfile::TempDir) -> Run {
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("mionode-load ran longer than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("output");
    let results = std::fs::read(dir.path().join("run/results.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        results,
        dir,
    }
}

/// True if a process with this pid exists (a zombie counts).
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Asserts a valid run (every check valid) with no definite error, where some requests of
/// every kind in `kinds` succeeded.
pub fn assert_valid(run: &Run, kinds: &[&str]) {
    let r = &run.results;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(r["valid"], true, "{}", run.describe());
    for (name, check) in r["checks"].as_object().expect("checks") {
        if name != "valid" {
            assert_eq!(check["valid"], true, "check {name}\n{}", run.describe());
        }
    }
    assert_eq!(r["ops"]["total"]["failed"], 0, "{}", run.describe());
    assert_eq!(r["ops"]["total"]["wrong"], 0, "{}", run.describe());
    for kind in kinds {
        let ok = r["ops"][kind]["ok"].as_u64().unwrap_or(0);
        assert!(ok > 0, "no {kind} succeeded\n{}", run.describe());
    }
}

/// Every string in `v` (keys excluded), one per line: what a check says, unescaped.
pub fn strings(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s}\n"),
        Value::Array(items) => items.iter().map(strings).collect(),
        Value::Object(map) => map.values().map(strings).collect(),
        other => format!("{other}\n"),
    }
}

/// Asserts an invalid run (exit status 1, `INVALID` on stdout) whose check `check` is
/// invalid and names `words` in results.json and on stdout.
pub fn assert_invalid(run: &Run, check: &str, words: &str) {
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_eq!(run.results["valid"], false, "{}", run.describe());
    let c = &run.results["checks"][check];
    assert_eq!(c["valid"], false, "check {check}\n{}", run.describe());
    assert!(
        strings(c).contains(words),
        "check {check} does not say {words:?}: {c}\n{}",
        run.describe()
    );
    assert!(run.stdout.contains(words), "{}", run.describe());
    assert!(
        run.stdout.contains("verdict: INVALID"),
        "{}",
        run.describe()
    );
}
