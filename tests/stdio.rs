//! stdin and stdout of every kind: regular file, /dev/null, pipe, terminal; a slow reader of
//! stdout; signals; a reader that goes away.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{init_msg, wait_with_peak_rss, BIN};

fn echo_line(i: u64) -> String {
    format!("{{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{{\"type\":\"echo\",\"msg_id\":{i},\"echo\":\"value-{i}\"}}}}\n")
}

fn input_file(lines: u64) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("mionode-stdio-{}-{lines}", std::process::id()));
    let mut text = init_msg("n1", &["n1"]).to_string();
    text.push('\n');
    for i in 2..lines + 2 {
        text.push_str(&echo_line(i));
    }
    std::fs::write(&path, text).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}

#[test]
fn stdin_from_a_regular_file_is_answered_in_full() {
    let out = Command::new(BIN).stdin(input_file(1000)).output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1001);
    for (i, line) in lines.iter().enumerate().skip(1) {
        assert_eq!(line["body"]["in_reply_to"], i as u64 + 1);
    }
}

#[test]
fn stdin_from_dev_null_exits_cleanly_with_no_output() {
    let out = Command::new(BIN).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{:?}", out);
    assert!(out.stdout.is_empty());
}

#[test]
fn stdout_to_a_regular_file_works() {
    let path = std::env::temp_dir().join(format!("mionode-out-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let status = Command::new(BIN)
        .stdin(input_file(50))
        .stdout(file)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(text.lines().count(), 51);
}

/// The reader of stdout sleeps before reading anything: the node must stop reading input
/// (backpressure) instead of buffering every reply, and lose nothing.
#[test]
fn slow_stdout_reader_gets_every_reply_in_order_with_bounded_memory() {
    const ECHOES: u64 = 200_000;
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = thread::spawn(move || {
        let mut text = init_msg("n1", &["n1"]).to_string();
        text.push('\n');
        stdin.write_all(text.as_bytes()).unwrap();
        let mut chunk = String::new();
        for i in 2..ECHOES + 2 {
            chunk.push_str(&echo_line(i));
            if chunk.len() > 64 * 1024 {
                stdin.write_all(chunk.as_bytes()).unwrap();
                chunk.clear();
            }
        }
        stdin.write_all(chunk.as_bytes()).unwrap();
    });
    thread::sleep(Duration::from_millis(1500));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut count = 0u64;
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        count += 1;
        if count > 1 {
            assert_eq!(v["body"]["in_reply_to"], count, "replies out of order");
        }
        if count == ECHOES + 1 {
            break;
        }
    }
    writer.join().unwrap();
    let (success, peak) = wait_with_peak_rss(&mut child);
    assert!(success);
    assert_eq!(count, ECHOES + 1);
    // 200,000 replies are about 17 MB; the outbox stops at its 4 MiB high-water mark.
    assert!(peak < 24 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn sigterm_flushes_and_exits_zero() {
    let mut node = support::NodeProc::init("n1", &["n1"], &[]);
    node.send(&json!({"src":"c1","dest":"n1","body":{"type":"echo","msg_id":2,"echo":1}}));
    assert_eq!(node.recv()["body"]["type"], "echo_ok");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(node.pid() as i32, libc::SIGTERM) };
    let status = node.wait(Duration::from_secs(5)).expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn closed_stdout_makes_the_node_exit_quietly() {
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    let mut text = init_msg("n1", &["n1"]).to_string();
    text.push('\n');
    let _ = stdin.write_all(text.as_bytes());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "still running");
        thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?} {stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
}

/// Opens a pseudo-terminal pair: (controller, terminal).
fn open_pty() -> (OwnedFd, OwnedFd) {
    let (mut controller, mut terminal) = (0, 0);
    // SAFETY: openpty writes two descriptors into the pointers given; the rest are null.
    let rc = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe {
        (
            OwnedFd::from_raw_fd(controller),
            OwnedFd::from_raw_fd(terminal),
        )
    }
}

fn is_nonblocking(fd: &OwnedFd) -> bool {
    // SAFETY: F_GETFL on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    flags & libc::O_NONBLOCK != 0
}

/// A terminal's file description is shared with the shell: the node must not leave it
/// non-blocking, neither while it runs nor after it exits.
#[test]
fn terminal_stdin_works_and_is_left_blocking() {
    let (controller, terminal) = open_pty();
    let mut child = Command::new(BIN)
        .stdin(Stdio::from(terminal.try_clone().unwrap()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut typed = std::fs::File::from(controller.try_clone().unwrap());
    let mut line = init_msg("n1", &["n1"]).to_string();
    line.push('\n');
    typed.write_all(line.as_bytes()).unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut reply = String::new();
    stdout.read_line(&mut reply).unwrap();
    assert!(reply.contains("init_ok"), "{reply}");
    assert!(
        !is_nonblocking(&terminal),
        "terminal made non-blocking while running"
    );
    // Ctrl-D at the start of a line: end of input for the reader of a terminal.
    typed.write_all(&[4]).unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no exit after Ctrl-D"
        );
        thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    assert!(!is_nonblocking(&terminal), "terminal left non-blocking");
}

#[test]
fn stdin_from_a_socket_works_until_it_is_shut_down() {
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let child = Command::new(BIN)
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = init_msg("n1", &["n1"]).to_string();
    line.push('\n');
    line.push_str(&echo_line(2));
    ours.write_all(line.as_bytes()).unwrap();
    ours.shutdown(std::net::Shutdown::Write).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("echo_ok"));
}

/// An I/O error the loop cannot handle ends the process with exit code 1 and one log line
/// saying what it was doing, never a panic (exit 101).
#[test]
fn unreadable_stdin_is_logged_and_exits_with_code_1() {
    let dir = std::fs::File::open(std::env::temp_dir()).unwrap();
    let out = Command::new(BIN).stdin(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ERROR"), "{stderr}");
    assert!(stderr.contains("reading stdin: "), "{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
}

#[test]
fn full_stdout_is_logged_and_exits_with_code_1() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(BIN)
        .stdin(input_file(1))
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("writing stdout: "), "{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
}

/// SIGTERM while nobody reads stdout: within the grace period the node writes only whole
/// lines (echoes of 100 bytes to 20 KB, past the 4 KiB of an atomic pipe write), then says
/// how many lines and bytes it dropped. Regression: the output used to end inside a line.
#[test]
fn sigterm_with_a_stuck_reader_leaves_only_whole_lines() {
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut input = init_msg("n1", &["n1"]).to_string();
    input.push('\n');
    for i in 0..3000u64 {
        let size = [100, 3000, 5000, 20_000][i as usize % 4];
        let body = json!({"type":"echo","msg_id":i + 2,"echo":"x".repeat(size)});
        input.push_str(&json!({"src":"c1","dest":"n1","body":body}).to_string());
        input.push('\n');
    }
    // Far more than any pipe holds: the node stops reading once its outbox is past the
    // high-water mark, so write from a thread that may block.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
        stdin
    });
    thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(20));
    }
    let in_time = started.elapsed() < Duration::from_secs(10);
    let mut out = Vec::new();
    let mut err = String::new();
    if in_time {
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        let mut stderr = child.stderr.take().unwrap();
        stderr.read_to_string(&mut err).unwrap();
    } else {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    assert!(in_time, "still running 10 s after SIGTERM");
    assert!(status.success(), "{status:?}");
    drop(writer);
    assert!(!out.is_empty());
    assert_eq!(out.last(), Some(&b'\n'), "output ends inside a line");
    let lines = out.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    for line in lines {
        let msg: Value = serde_json::from_slice(line).expect("every line is whole JSON");
        assert!(msg["body"]["type"] == "init_ok" || msg["body"]["type"] == "echo_ok");
    }
    assert!(
        err.contains("lines (") && err.contains("bytes) unwritten"),
        "{err}"
    );
}
