//! The end of a run: nodes stopped in order, nothing left running, the record handed over.

use std::time::{Duration, Instant};

use super::{Driver, Record, STOP_TIMEOUT};
use crate::process::READ_CHUNK;

impl Driver {
    /// Ends the run: requests still unanswered count as timed out; each node's stdin is
    /// closed, its stdout drained until it exits or [`STOP_TIMEOUT`] passes, and what is
    /// left is killed. Every child is reaped.
    pub(super) fn stop(mut self) -> Record {
        let now = Instant::now();
        while let Some((_, pending)) = self.clients.expire(now + crate::clients::CLIENT_TIMEOUT) {
            self.stats.timed_out(pending.kind);
        }
        for proc in &mut self.procs {
            proc.close_stdin();
        }
        let deadline = now + STOP_TIMEOUT;
        let mut scratch = vec![0; READ_CHUNK];
        loop {
            for proc in &mut self.procs {
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
        let nodes = self.ended_nodes();
        let duration = match (self.started, self.stopped) {
            (Some(start), Some(stop)) => stop - start,
            (Some(start), None) => now - start,
            _ => Duration::ZERO,
        };
        Record {
            stats: self.stats,
            net: self.net.stats,
            failures: self.failures,
            nemesis: std::mem::take(&mut self.nemesis.events),
            nodes,
            duration,
            clients: self.clients.opened(),
            skipped_starts: self.clients.skipped(),
            interrupted: self.signals_seen > 0,
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
