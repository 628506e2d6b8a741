//! Running a process and measuring it: wall time, peak RSS, and what it printed.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where a measured process writes its stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// A pipe the benchmark drains, like `| cat > /dev/null` (and like Maelstrom).
    Pipe,
    /// `/dev/null`: always writable, so the node never waits for its reader.
    Null,
}

/// One measured run of a process.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// From spawn to exit, stdout drained.
    pub wall: Duration,
    /// CPU time of the process, user and system.
    pub cpu: Duration,
    /// Lines the process printed (0 for [`Sink::Null`]).
    pub lines: u64,
}

/// Runs `cmd` with stdin read from `input` and stdout to `sink`, until it exits.
pub fn run_with_input(cmd: &mut Command, input: &Path, sink: Sink) -> io::Result<Run> {
    let stdout = match sink {
        Sink::Pipe => Stdio::piped(),
        Sink::Null => Stdio::null(),
    };
    let start = Instant::now();
    let mut child = cmd.stdin(File::open(input)?).stdout(stdout).spawn()?;
    let mut lines = 0;
    if let Some(mut out) = child.stdout.take() {
        let mut buf = vec![0u8; 1 << 18];
        loop {
            match out.read(&mut buf)? {
                0 => break,
                n => lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64,
            }
        }
    }
    let (status, cpu) = wait_cpu(&mut child)?;
    let wall = start.elapsed();
    if !status.success() {
        return Err(io::Error::other(format!("exited with {status}")));
    }
    Ok(Run { wall, cpu, lines })
}

/// The peak RSS of `program` run with `args`, stdin from `input`, in bytes, as measured by
/// `/usr/bin/time` (Debian package `time`).
///
/// Why not `wait4` on our own child: std spawns with `vfork`, and Linux records the peak of
/// the address space a process leaves at `exec`, which for a `vfork` child is this benchmark's
/// own. `time` forks from its own small address space, so what it reports is the node's.
pub fn peak_rss(program: &str, args: &[&str], input: &Path) -> io::Result<u64> {
    let report = std::env::temp_dir().join(format!("mionode-rss-{}", std::process::id()));
    let mut cmd = Command::new(TIME);
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(program)
        .args(args);
    run_with_input(&mut cmd, input, Sink::Null).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{TIME} {program}: {e} (is package `time` installed?)"),
        )
    })?;
    let text = std::fs::read_to_string(&report)?;
    std::fs::remove_file(&report)?;
    let kib: u64 = text.trim().parse().map_err(io::Error::other)?;
    Ok(kib * 1024)
}

/// GNU time, which reports a child's peak RSS with `-f %M` (in KiB).
pub const TIME: &str = "/usr/bin/time";

/// valgrind, whose callgrind tool counts the instructions a process executes.
pub const VALGRIND: &str = "/usr/bin/valgrind";

/// The instructions `program` with `args` executes on `input`, stdout to `/dev/null`, as
/// counted by callgrind: a figure that does not depend on what else the machine is doing.
pub fn instructions(program: &str, args: &[&str], input: &Path) -> io::Result<u64> {
    let out = Command::new(VALGRIND)
        .args([
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            program,
        ])
        .args(args)
        .stdin(File::open(input)?)
        .stdout(Stdio::null())
        .output()?;
    // callgrind ends with "==PID== Collected : N" on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| l.split("Collected : ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("no instruction count from callgrind: {stderr}")))
}

/// Waits for `child` and returns its exit status and the CPU time it used (user + system).
///
/// CPU time is steadier than wall time on a busy machine: it leaves out the time the process
/// spent waiting for a core.
pub fn wait_cpu(child: &mut Child) -> io::Result<(ExitStatus, Duration)> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own unreaped child; both pointers are valid for writes.
        if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    Ok((ExitStatus::from_raw(status), cpu))
}

/// The median of `samples` (the upper one for an even count).
pub fn median<T: Copy + PartialOrd>(samples: &[T]) -> T {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("comparable samples"));
    sorted[sorted.len() / 2]
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
