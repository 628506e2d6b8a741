//! The end of a run: nodes ended as Maelstrom ends them (SIGKILL), or, with `--close-stdin`,
//! given their end of input first; nothing left running; the record handed over.

use std::time::{Duration, Instant};

use mionode::harness::workload::CLIENT_TIMEOUT;

use super::{Driver, Record, STOP_TIMEOUT};
use crate::failures::FailureKind;
use crate::process::READ_CHUNK;

impl Driver {
    /// Ends the run: requests still unanswered count as timed out; a node that already
    /// exited or closed its stdout is reported as crashed; the others are killed with
    /// SIGKILL, or with `--close-stdin` have their stdin closed (at a line boundary) and get
    /// [`STOP_TIMEOUT`] to exit before the kill. Every child is reaped.
    pub(super) fn stop(mut self) -> Record {
        let now = Instant::now();
        let end = self.nanos(now) + CLIENT_TIMEOUT;
        while let Some((k, pending)) = self.clients.expire(end) {
            self.timed_out(k, pending, now);
        }
        for i in 0..self.nodes.len() {
            self.check_crash_at_end(i);
        }
        if self.plan.close_stdin {
            self.close_stdins(now + STOP_TIMEOUT);
        }
        let nodes = self.ended_nodes();
        let duration = match (self.started, self.stopped) {
            (Some(start), Some(stop)) => stop - start,
            (Some(start), None) => now - start,
            _ => Duration::ZERO,
        };
        self.record(nodes, duration)
    }

    /// Reports node `i` as crashed if it exited, or closed its stdout, before the end: every
    /// dead node is named, not only the first one seen.
    fn check_crash_at_end(&mut self, i: usize) {
        if self.nodes[i].gone {
            return;
        }
        let message = match (self.procs[i].try_wait(), self.nodes[i].eof_at) {
            (Some(status), _) => format!("exited before the end of the run ({status})"),
            (None, Some(_)) => "closed its stdout before the end of the run".to_string(),
            (None, None) => return,
        };
        self.nodes[i].gone = true;
        self.failures
            .push(FailureKind::Crashed, &self.plan.ids[i], message);
    }

    /// Writes what is left of each node's current input line, closes its stdin, and drains
    /// its stdout until every node exits or `deadline` passes.
    fn close_stdins(&mut self, deadline: Instant) {
        let mut scratch = vec![0; READ_CHUNK];
        let mut closed = vec![false; self.procs.len()];
        loop {
            for (i, proc) in self.procs.iter_mut().enumerate() {
                if !closed[i] && proc.finish_line(&mut self.inputs[i]) {
                    proc.close_stdin();
                    closed[i] = true;
                }
                // Drained so a node flushing its last output does not block on a full pipe.
                while proc.reading() {
                    if !matches!(proc.read(&mut scratch), Ok(n) if n > 0) {
                        break;
                    }
                }
            }
            let all_exited = self.procs.iter_mut().all(|p| p.try_wait().is_some());
            if all_exited || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// How each node ended; kills those still running.
    fn ended_nodes(&mut self) -> Vec<(String, u32, String)> {
        let mut ended = Vec::new();
        for (i, proc) in self.procs.iter_mut().enumerate() {
            let how = if self.nodes[i].gone {
                match proc.try_wait() {
                    Some(status) => format!("crashed: exited before the end ({status})"),
                    None => {
                        proc.kill();
                        "crashed: closed its stdout before the end, then killed".to_string()
                    }
                }
            } else if !self.plan.close_stdin {
                proc.kill();
                "killed with SIGKILL at the end of the run, as Maelstrom does".to_string()
            } else if let Some(status) = proc.try_wait() {
                format!("stopped: {status} after its stdin was closed")
            } else {
                proc.kill();
                format!(
                    "killed: still running {} s after its stdin was closed",
                    STOP_TIMEOUT.as_secs()
                )
            };
            ended.push((self.plan.ids[i].clone(), proc.pid(), how));
        }
        ended
    }
}
