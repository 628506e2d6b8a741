//! Node processes: started with piped stdin and stdout, stderr to a log file, in the
//! system's temporary directory (as Maelstrom starts them in the JVM's `java.io.tmpdir`, so a
//! node that writes files relative to its working directory does not litter the caller's),
//! and ended without leaving anything behind.
//!
//! Each node runs in its own process group, so a Ctrl-C at the terminal reaches the driver
//! alone (which then stops the nodes in order) instead of killing the nodes under it, which
//! the checker would report as crashes. On Linux each node also gets `PR_SET_PDEATHSIG`, so
//! even a driver killed with SIGKILL takes its nodes with it; and dropping a [`NodeProcess`]
//! kills and reaps the child, so no early return leaves one running.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use mio::unix::pipe;
use mio::{Interest, Registry, Token};

/// Bytes asked for in one read from a node's stdout: the size of the driver's read buffer.
pub const READ_CHUNK: usize = 256 * 1024;

/// Pipe capacity asked of the kernel for each node's stdin and stdout (Linux caps it at
/// `/proc/sys/fs/pipe-max-size`, 1 MiB by default): fewer wake-ups at high rates.
const PIPE_CAPACITY: i32 = 1 << 20;

/// A running node and the driver's ends of its pipes.
#[derive(Debug)]
pub struct NodeProcess {
    child: Child,
    stdin: Option<pipe::Sender>,
    stdout: Option<pipe::Receiver>,
    /// Bytes at the front of the node's input buffer already written to its stdin.
    written: usize,
    /// The last byte written to its stdin was not a newline: a line is half written.
    mid_line: bool,
    status: Option<ExitStatus>,
}

impl NodeProcess {
    /// Starts `bin args...` in `dir` with stderr appended to `log`, and registers its stdout
    /// under `read` and its stdin under `write`. `bin` should be absolute (a relative path
    /// would be looked up from `dir`).
    pub fn spawn(
        bin: &Path,
        args: &[String],
        dir: &Path,
        log: &Path,
        registry: &Registry,
        (read, write): (Token, Token),
    ) -> io::Result<NodeProcess> {
        let stderr = File::create(log)?;
        let mut command = Command::new(bin);
        command
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let mut node = NodeProcess {
            stdin: child.stdin.take().map(pipe::Sender::from),
            stdout: child.stdout.take().map(pipe::Receiver::from),
            child,
            written: 0,
            mid_line: false,
            status: None,
        };
        if let Some(stdin) = &mut node.stdin {
            stdin.set_nonblocking(true)?;
            grow_pipe(stdin.as_raw_fd());
            registry.register(stdin, write, Interest::WRITABLE)?;
        }
        if let Some(stdout) = &mut node.stdout {
            stdout.set_nonblocking(true)?;
            grow_pipe(stdout.as_raw_fd());
            registry.register(stdout, read, Interest::READABLE)?;
        }
        Ok(node)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads what the node wrote into `buf`: `Ok(0)` at end of file (and the stdout is then
    /// closed); `WouldBlock` once drained.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(stdout) = &mut self.stdout else {
            return Ok(0);
        };
        let result = stdout.read(buf);
        if matches!(result, Ok(0)) {
            self.stdout = None;
        }
        result
    }

    /// True while the node's stdout is open.
    pub fn reading(&self) -> bool {
        self.stdout.is_some()
    }

    /// Writes as much of `input` to the node's stdin as the pipe takes, and forgets what was
    /// written. Once stdin is closed (or the node is gone), input is discarded.
    pub fn flush(&mut self, input: &mut Vec<u8>) {
        let Some(stdin) = &mut self.stdin else {
            input.clear();
            return;
        };
        while self.written < input.len() {
            match stdin.write(&input[self.written..]) {
                Ok(n) => {
                    self.written += n;
                    self.mid_line = n > 0 && input[self.written - 1] != b'\n';
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // BrokenPipe and the like: the node is gone; the reaper will say so.
                Err(_) => {
                    self.stdin = None;
                    input.clear();
                    self.written = 0;
                    return;
                }
            }
        }
        if self.written == input.len() {
            input.clear();
            self.written = 0;
        } else if self.written > input.len() / 2 {
            input.drain(..self.written);
            self.written = 0;
        }
    }

    /// Closes the node's stdin: a node then flushes and exits (DESIGN.md §2). Only at a
    /// line boundary: call [`NodeProcess::finish_line`] first.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Cuts `input` (the node's unwritten input) after the line being written, so that a
    /// later close never ends the node's stdin in the middle of a message; true once what
    /// is left has been written (the stdin can then be closed).
    pub fn finish_line(&mut self, input: &mut Vec<u8>) -> bool {
        let written = self.written.min(input.len());
        let end = if self.mid_line {
            memchr::memchr(b'\n', &input[written..]).map_or(input.len(), |at| written + at + 1)
        } else {
            written
        };
        input.truncate(end);
        self.flush(input);
        input.is_empty()
    }

    /// The exit status if the node has exited (reaping it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Kills the node if it still runs, and reaps it. Returns true if it had to be killed.
    pub fn kill(&mut self) -> bool {
        if self.try_wait().is_some() {
            return false;
        }
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
        true
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Asks for a larger pipe buffer; a refusal only costs speed.
fn grow_pipe(fd: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: F_SETPIPE_SZ on a pipe we own; an error is returned, never undefined behaviour.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_CAPACITY);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (fd, PIPE_CAPACITY);
}
