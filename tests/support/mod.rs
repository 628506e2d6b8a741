//! Helpers for black-box tests: run the `mionode` binary the way Maelstrom does.
#![allow(dead_code)]

pub mod cluster;
pub mod metrics;
pub mod services;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Path of the node binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mionode");

/// How long a test waits for one line before declaring the node stuck.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running node with piped stdin, stdout and stderr.
pub struct NodeProc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl NodeProc {
    /// Starts the node with extra flags.
    pub fn spawn(args: &[&str]) -> NodeProc {
        NodeProc::spawn_with_env(args, &[])
    }

    /// Starts the node with extra flags and environment variables.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> NodeProc {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mionode");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        NodeProc {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// Starts a node and initializes it as `id` of `ids`; consumes the `init_ok`.
    pub fn init(id: &str, ids: &[&str], args: &[&str]) -> NodeProc {
        let mut node = NodeProc::spawn(args);
        node.send(&init_msg(id, ids));
        let ok = node.recv();
        assert_eq!(ok["body"]["type"], "init_ok", "{ok}");
        node
    }

    /// Writes one message.
    pub fn send(&mut self, msg: &Value) {
        let mut line = msg.to_string();
        line.push('\n');
        self.send_raw(line.as_bytes());
    }

    /// Writes raw bytes to stdin.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to node");
        stdin.flush().unwrap();
    }

    /// The next output line as JSON, failing the test after [`LINE_TIMEOUT`].
    pub fn recv(&self) -> Value {
        self.try_recv(LINE_TIMEOUT)
            .unwrap_or_else(|| panic!("no output within {LINE_TIMEOUT:?}"))
    }

    /// The next output line as JSON, if one comes within `timeout`.
    pub fn try_recv(&self, timeout: Duration) -> Option<Value> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Some(
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad output {line:?}: {e}")),
            ),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Takes stdin, to write from another thread (a flood that would otherwise fill the
    /// pipes both ways); dropping it closes the node's input.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.stdin.take().expect("stdin open")
    }

    /// Closes stdin, as at the end of a local run.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Closes stdin, waits for exit, and returns the rest of stdout and all of stderr.
    pub fn finish(mut self) -> (ExitStatus, Vec<Value>, String) {
        self.close_stdin();
        let status = self
            .wait(LINE_TIMEOUT)
            .expect("node exits after stdin closes");
        let mut rest = Vec::new();
        while let Some(v) = self.try_recv(Duration::from_millis(200)) {
            rest.push(v);
        }
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, rest, stderr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An `init` from client c0.
pub fn init_msg(id: &str, ids: &[&str]) -> Value {
    json!({"src":"c0","dest":id,"body":{"type":"init","msg_id":1,"node_id":id,"node_ids":ids}})
}

/// A request from `client` to `node`.
pub fn request(client: &str, node: &str, body: Value) -> Value {
    json!({"src": client, "dest": node, "body": body})
}

/// Runs the node over `input` on a pipe until it exits; returns stdout lines and stderr.
pub fn run_with_input(args: &[&str], input: &[u8]) -> (ExitStatus, Vec<Value>, String) {
    let mut node = NodeProc::spawn(args);
    node.send_raw(input);
    node.finish()
}

/// Waits for `child` to exit and returns whether it succeeded and its peak resident memory
/// in KiB (from the kernel's rusage, so it is exact even for a short-lived process).
pub fn wait_with_peak_rss(child: &mut Child) -> (bool, u64) {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it and `status` for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: as above; the child has not been reaped by anyone else.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (success, usage.ru_maxrss as u64)
}
