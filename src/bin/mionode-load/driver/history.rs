//! The history of the run as Jepsen records it: an `invoke` when a client sends, then an
//! `ok`, `fail` or `info` when the request ends (decided by the workload, as Maelstrom's
//! `with-errors` decides); and how an `info` closes the client (Jepsen's crashed process).
//! Each operation goes to `history.jsonl` as it happens and stays in memory for the checks.

use std::time::{Duration, Instant};

use mionode::harness::record::{Nanos, Op, OpType};
use mionode::harness::workload::{Completion, Reply};

use super::{Driver, Record};
use mionode::harness::clients::Pending;

impl Driver {
    /// Nanoseconds since the run started.
    pub(super) fn nanos(&self, now: Instant) -> Nanos {
        now.saturating_duration_since(self.origin).as_nanos() as Nanos
    }

    /// The instant `at` nanoseconds after the run started.
    pub(super) fn instant(&self, at: Nanos) -> Instant {
        self.origin + Duration::from_nanos(at)
    }

    /// Records the invocation slot `k` just sent (and counts it if its line is longer than
    /// the node's line limit).
    pub(super) fn invoked(&mut self, k: usize, now: Instant) {
        let Some(pending) = self.clients.pending(k) else {
            return;
        };
        if pending.bytes > self.plan.node_max_line {
            self.stats.oversized += 1;
        }
        let node = &self.plan.ids[self.clients.node_of(k)];
        let op = pending
            .inv
            .op(0, self.nanos(now), &self.clients.name(k), node);
        self.push_op(op);
    }

    /// Counts and records how slot `k`'s request ended; an `info` closes the client (a new
    /// one takes the slot before its next request).
    pub(super) fn completed(
        &mut self,
        k: usize,
        pending: &Pending,
        done: &Completion,
        now: Instant,
        timed_out: bool,
    ) {
        let f = pending.inv.f;
        let latency = Duration::from_nanos(self.nanos(now).saturating_sub(pending.sent_at));
        self.stats.ended(f, done, latency, timed_out);
        if self.workload.wrong_answer(&pending.inv, done).is_some() {
            self.stats.wrong(f);
        }
        if done.kind == OpType::Info {
            self.clients.crash(k);
        }
        let node = &self.plan.ids[self.clients.node_of(k)];
        let op = done.op(
            &pending.inv,
            0,
            self.nanos(now),
            &self.clients.name(k),
            node,
        );
        self.push_op(op);
    }

    /// Counts and records a request slot `k` gave up on.
    pub(super) fn timed_out(&mut self, k: usize, pending: Pending, now: Instant) {
        if pending.bytes > self.plan.node_max_line {
            self.stats.oversized_timed_out += 1;
        }
        let done = self.workload.complete(&pending.inv, Reply::Timeout);
        self.completed(k, &pending, &done, now, true);
    }

    fn push_op(&mut self, mut op: Op) {
        if let Err(e) = self.history.push(&mut op) {
            self.history_error.get_or_insert(e.to_string());
        }
        self.ops.push(op);
    }

    /// Hands over what the run leaves, the history flushed.
    pub(super) fn record(
        mut self,
        nodes: Vec<(String, u32, String)>,
        duration: Duration,
    ) -> Record {
        if let Err(e) = self.history.flush() {
            self.history_error.get_or_insert(e.to_string());
        }
        Record {
            stats: self.stats,
            net: self.net.stats,
            messages: self.net.take_trace(),
            history_error: self.history_error,
            failures: self.failures,
            nemesis: self.nemesis.periods().to_vec(),
            history: self.ops,
            workload: self.workload,
            nodes,
            duration,
            clients: self.clients.opened(),
            replaced_clients: self.clients.replaced(),
            interrupted: self.signals_seen > 0,
        }
    }
}
