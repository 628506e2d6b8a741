//! Counts of operations by kind and outcome, and their latencies.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::checker::Outcome;
use crate::histogram::Histogram;
use crate::workload::OpKind;

/// What happened to the operations of one kind.
#[derive(Debug, Default, Clone)]
pub struct OpStats {
    /// Requests sent.
    pub invoked: u64,
    /// Correct successful replies.
    pub ok: u64,
    /// Error replies with a definite code.
    pub failed: u64,
    /// Error replies with an indefinite code.
    pub indeterminate: u64,
    /// Requests with no reply within the client timeout, or none by the end of the grace
    /// period.
    pub timed_out: u64,
    /// Replies that failed the check.
    pub wrong: u64,
    /// Error replies by code.
    pub error_codes: BTreeMap<i64, u64>,
    /// Latency of the correct successful replies, in microseconds.
    pub latency_us: Histogram,
}

impl OpStats {
    /// Requests that ended one way or another.
    pub fn ended(&self) -> u64 {
        self.ok + self.failed + self.indeterminate + self.timed_out + self.wrong
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
    /// Per kind, indexed by [`OpKind::index`].
    pub by_kind: [OpStats; 4],
    /// Replies to a live client that answer no outstanding request (late or duplicate
    /// replies, messages without `in_reply_to`): ignored, as Maelstrom's client does.
    pub ignored_replies: u64,
    /// Lines a node wrote after a protocol violation: lost, as Maelstrom's reader for that
    /// node has stopped.
    pub lost_after_violation: u64,
}

impl Stats {
    /// Counts a request sent.
    pub fn invoked(&mut self, kind: OpKind) {
        self.by_kind[kind.index()].invoked += 1;
    }

    /// Counts how a request ended, `latency` after it was sent.
    pub fn ended(&mut self, kind: OpKind, outcome: &Outcome, latency: Duration) {
        let s = &mut self.by_kind[kind.index()];
        match outcome {
            Outcome::Ok => {
                s.ok += 1;
                s.latency_us.record(latency.as_micros() as u64);
            }
            Outcome::Failed(code) => {
                s.failed += 1;
                *s.error_codes.entry(*code).or_default() += 1;
            }
            Outcome::Indeterminate(code) => {
                s.indeterminate += 1;
                *s.error_codes.entry(*code).or_default() += 1;
            }
            Outcome::Wrong(..) => s.wrong += 1,
        }
    }

    /// Counts a request given up without a reply.
    pub fn timed_out(&mut self, kind: OpKind) {
        self.by_kind[kind.index()].timed_out += 1;
    }

    /// All kinds together.
    pub fn total(&self) -> OpStats {
        let mut total = OpStats::default();
        for s in &self.by_kind {
            total.merge(s);
        }
        total
    }

    /// Requests that ended, all kinds together (cheap: for the progress bar).
    pub fn ended_count(&self) -> u64 {
        self.by_kind.iter().map(OpStats::ended).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::FailureKind;

    #[test]
    fn outcomes_land_in_their_columns() {
        let mut s = Stats::default();
        let ms = Duration::from_millis(1);
        s.invoked(OpKind::Echo);
        s.ended(OpKind::Echo, &Outcome::Ok, ms);
        s.ended(OpKind::Echo, &Outcome::Indeterminate(0), ms);
        s.ended(OpKind::Relay, &Outcome::Failed(11), ms);
        s.ended(
            OpKind::Relay,
            &Outcome::Wrong(FailureKind::Schema, String::new()),
            ms,
        );
        s.timed_out(OpKind::Proxy);
        let t = s.total();
        assert_eq!(
            (t.ok, t.indeterminate, t.failed, t.wrong, t.timed_out),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(t.error_codes.get(&0), Some(&1));
        assert_eq!(t.latency_us.quantile(0.5), Some(1000));
        assert_eq!(s.ended_count(), 5);
    }
}
