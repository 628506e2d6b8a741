//! Helpers for the metrics tests: plain HTTP/1.0 over loopback, promtool, a Prometheus server,
//! temporary directories. Every process started here is killed when its guard drops, so a
//! failing test leaves nothing running.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Prometheus's server, looked up on `PATH` (Debian's `prometheus` package; `.ci/run`
/// installs it).
pub const PROMETHEUS: &str = "prometheus";
/// Its linter, from the same package.
pub const PROMTOOL: &str = "promtool";

/// Set to `1` (as `.ci/run` does) to fail, instead of skip, a test whose Prometheus binary is
/// missing: where the tools are installed, a missing one is a broken setup, not a reason to
/// pass.
pub const REQUIRE_ENV: &str = "MIONODE_REQUIRE_PROMETHEUS";

/// The path of `command` on `PATH`, or `None` after saying on stderr that the calling test
/// skips what needs it. With [`REQUIRE_ENV`] set to `1` a missing command fails the test.
pub fn tool(command: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(command))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let why = format!(
            "{command} is not on PATH: install Debian's `prometheus` package \
             (apt-get install -y prometheus; .ci/run does it)"
        );
        let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
        assert!(!required, "{why}; {REQUIRE_ENV}=1 makes that a failure");
        // Straight to the stderr handle, not `eprintln!`, which libtest captures and shows only
        // for a failing test: a skip must be visible in a passing run of `cargo test`.
        let _ = writeln!(std::io::stderr(), "skipping what needs {command}: {why}");
    }
    found
}

/// A directory under the system's temporary directory, emptied now and removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory named after `name` and this process.
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("mionode-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// An HTTP response: status code and body.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Everything after the headers.
    pub body: String,
}

/// `GET path` over HTTP/1.0 (so the server neither keeps the connection nor chunks the body).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok(Response {
        status,
        body: body.to_owned(),
    })
}

/// Polls `check` every 100 ms until it returns `Some`, failing the test after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `promtool check metrics` on `text`; returns its exit success and everything it said,
/// or `None` when promtool is missing and the check is skipped (see [`tool`]).
pub fn promtool_check_metrics(text: &str) -> Option<(bool, String)> {
    let promtool = tool(PROMTOOL)?;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

/// Percent-encodes `s` for a URL query.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server on a loopback port, scraping every second the targets that
/// `file_sd_configs` finds in a directory; killed on drop.
pub struct Prometheus {
    child: Child,
    /// Where its HTTP API listens.
    pub addr: SocketAddr,
}

/// Prometheus's scrape interval in these tests.
pub const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);

impl Prometheus {
    /// Starts Prometheus with its config and data in `dir`, discovering targets from
    /// `sd_dir/*.json`, and waits until it is ready; `None` when the server is missing and
    /// the test skips (see [`tool`]).
    pub fn start(dir: &Path, sd_dir: &Path) -> Option<Prometheus> {
        let binary = tool(PROMETHEUS)?;
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, config_text(sd_dir)).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus { child, addr };
        wait_for("prometheus to be ready", Duration::from_secs(30), || {
            let ready = http_get(addr, "/-/ready").ok()?;
            (ready.status == 200).then_some(())
        });
        Some(prometheus)
    }

    /// `GET /api/v1/<path>`, its `data` once `status` is `success`.
    pub fn api(&self, path: &str) -> Result<Value, String> {
        let response =
            http_get(self.addr, &format!("/api/v1/{path}")).map_err(|e| e.to_string())?;
        let v: Value =
            serde_json::from_str(&response.body).map_err(|e| format!("{e}: {}", response.body))?;
        if v["status"] != "success" {
            return Err(format!("{path}: {v}"));
        }
        Ok(v["data"].clone())
    }

    /// Evaluates `expr` at `time` (Unix seconds); the vector or scalar result.
    pub fn query_at(&self, expr: &str, time: f64) -> Result<Value, String> {
        let path = format!("query?query={}&time={time:.3}", url_encode(expr));
        self.api(&path).map(|data| data["result"].clone())
    }

    /// The active targets.
    pub fn targets(&self) -> Vec<Value> {
        match self.api("targets?state=active") {
            Ok(data) => data["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal `prometheus.yml` for a run whose nodes write their discovery files in `sd_dir`;
/// the same as docs/metrics.md shows, with a one-second interval.
pub fn config_text(sd_dir: &Path) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: mionode\n    file_sd_configs:\n      \
         - files: ['{}/*.json']\n        refresh_interval: 1s\n",
        sd_dir.display()
    )
}

/// Seconds since the Unix epoch, as Prometheus's API takes them.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
