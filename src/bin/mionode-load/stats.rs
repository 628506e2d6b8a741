//! Counts of operations by kind (`f`) and outcome, and their latencies, for the table.
//!
//! The verdict does not come from here: the checks read the history
//! ([`harness::check`](mionode::harness::check)). These counts are what the terminal shows
//! while and after the run.

use std::collections::BTreeMap;
use std::time::Duration;

use mionode::harness::record::OpType;
use mionode::harness::workload::Completion;

use crate::histogram::Histogram;

/// What happened to the operations of one kind.
#[derive(Debug, Default, Clone)]
pub struct OpStats {
    /// Requests sent.
    pub invoked: u64,
    /// `ok` completions.
    pub ok: u64,
    /// `fail` completions: the operation certainly did not happen.
    pub failed: u64,
    /// `info` completions: it may have happened (timeouts included).
    pub indeterminate: u64,
    /// Of the `fail` and `info` completions, those with no reply within the client's
    /// timeout (or none by the end of the run).
    pub timed_out: u64,
    /// Completions that are wrong answers by themselves (echo and the RPC chapter's
    /// workloads; the checker over the history finds the same ones).
    pub wrong: u64,
    /// Error replies by code.
    pub error_codes: BTreeMap<u32, u64>,
    /// Latency of the `ok` completions, in microseconds.
    pub latency_us: Histogram,
}

impl OpStats {
    /// Requests that ended one way or another.
    pub fn ended(&self) -> u64 {
        self.ok + self.failed + self.indeterminate
    }

    fn ended_one(&mut self, c: &Completion, latency: Duration, timed_out: bool) {
        match c.kind {
            OpType::Ok => {
                self.ok += 1;
                self.latency_us.record(latency.as_micros() as u64);
            }
            OpType::Fail => self.failed += 1,
            OpType::Info | OpType::Invoke => self.indeterminate += 1,
        }
        if timed_out {
            self.timed_out += 1;
        } else if let Some(e) = &c.error {
            *self.error_codes.entry(e.code).or_default() += 1;
        }
    }

    /// Adds `other` into this one.
    pub fn merge(&mut self, other: &OpStats) {
        self.invoked += other.invoked;
        self.ok += other.ok;
        self.failed += other.failed;
        self.indeterminate += other.indeterminate;
        self.timed_out += other.timed_out;
        self.wrong += other.wrong;
        for (code, n) in &other.error_codes {
            *self.error_codes.entry(*code).or_default() += n;
        }
        self.latency_us.merge(&other.latency_us);
    }
}

/// Everything counted about the clients' operations.
#[derive(Debug, Default)]
pub struct Stats {
    /// Per operation kind, in name order.
    pub by_f: BTreeMap<&'static str, OpStats>,
    /// Replies to a live client that answer no outstanding request (to an earlier request
    /// of the same client, or without `in_reply_to`): skipped, as Maelstrom's client does.
    pub ignored_replies: u64,
    /// Lines a node wrote after a protocol violation: lost, as Maelstrom's reader for that
    /// node has stopped.
    pub lost_after_violation: u64,
    /// Requests whose line was longer than the node's line limit (`--node-max-line`).
    pub oversized: u64,
    /// Of those, the ones that timed out (most likely discarded by the node).
    pub oversized_timed_out: u64,
}

impl Stats {
    /// Counts a request sent.
    pub fn invoked(&mut self, f: &'static str) {
        self.by_f.entry(f).or_default().invoked += 1;
    }

    /// Counts how a request ended, `latency` after it was sent; `timed_out` when no reply
    /// came.
    pub fn ended(&mut self, f: &'static str, c: &Completion, latency: Duration, timed_out: bool) {
        let s = self.by_f.entry(f).or_default();
        s.ended_one(c, latency, timed_out);
    }

    /// Counts a completion of `f` that is a wrong answer.
    pub fn wrong(&mut self, f: &'static str) {
        self.by_f.entry(f).or_default().wrong += 1;
    }

    /// All kinds together.
    pub fn total(&self) -> OpStats {
        let mut total = OpStats::default();
        for s in self.by_f.values() {
            total.merge(s);
        }
        total
    }

    /// Requests that ended, all kinds together (for the progress bar).
    pub fn ended_count(&self) -> u64 {
        self.by_f.values().map(OpStats::ended).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mionode::harness::record::OpError;
    use serde_json::Value;

    fn completion(kind: OpType, code: Option<u32>) -> Completion {
        Completion {
            kind,
            value: Value::Null,
            error: code.map(|code| OpError {
                code,
                text: String::new(),
            }),
            exception: None,
        }
    }

    #[test]
    fn outcomes_land_in_their_columns() {
        let mut s = Stats::default();
        let ms = Duration::from_millis(1);
        s.invoked("echo");
        s.ended("echo", &completion(OpType::Ok, None), ms, false);
        s.ended("echo", &completion(OpType::Info, Some(0)), ms, false);
        s.ended("relay", &completion(OpType::Fail, Some(11)), ms, false);
        s.ended("proxy", &completion(OpType::Info, Some(0)), ms, true);
        let t = s.total();
        assert_eq!(
            (t.invoked, t.ok, t.indeterminate, t.failed, t.timed_out),
            (1, 1, 2, 1, 1)
        );
        assert_eq!(
            t.error_codes.get(&0),
            Some(&1),
            "a timeout is not an error reply"
        );
        assert_eq!(t.error_codes.get(&11), Some(&1));
        assert_eq!(t.latency_us.quantile(0.5), Some(1000));
        assert_eq!(s.ended_count(), 4);
        s.wrong("echo");
        assert_eq!(s.total().wrong, 1);
    }
}
