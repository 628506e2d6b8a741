//! The history of the run as Jepsen records it: an `invoke` when a client sends, then an
//! `ok`, `fail` or `info` when the request ends; and how an indeterminate end closes the
//! client (Jepsen's crashed process).

use std::time::Instant;

use mionode::harness::record::{Nanos, Op, OpError, OpType};
use serde_json::{Map, Value};

use super::{Driver, Record};
use crate::checker::{FailureKind, Outcome};
use crate::clients::Pending;

/// The text of a client-side timeout in the history, as Maelstrom's `:net-timeout`.
const TIMEOUT_TEXT: &str = "net-timeout: no reply within 5 s";

impl Driver {
    /// Nanoseconds since the run started.
    pub(super) fn nanos(&self, now: Instant) -> Nanos {
        now.saturating_duration_since(self.origin).as_nanos() as Nanos
    }

    /// Records the invocation slot `k` just sent.
    pub(super) fn invoked(&mut self, k: usize, now: Instant) {
        let Some(pending) = self.clients.pending(k) else {
            return;
        };
        let op = Op {
            index: 0,
            time: self.nanos(now),
            kind: OpType::Invoke,
            process: self.clients.name(k),
            node: self.plan.ids[self.clients.node_of(k)].clone(),
            f: pending.kind.name().to_string(),
            value: pending.expected.value(),
            error: None,
            exception: None,
            final_read: false,
        };
        self.push_op(op);
    }

    /// Counts and records how slot `k`'s request ended with a reply; an indeterminate end
    /// (an indefinite error, or a reply that fails the schema: an exception in Maelstrom's
    /// client) closes the client.
    pub(super) fn completed(
        &mut self,
        k: usize,
        pending: &Pending,
        outcome: &Outcome,
        body: &Map<String, Value>,
        now: Instant,
    ) {
        self.stats
            .ended(pending.kind, outcome, now - pending.sent_at);
        let text = || {
            let text = body.get("text").and_then(Value::as_str);
            text.unwrap_or_default().to_string()
        };
        let (kind, value, error) = match outcome {
            Outcome::Ok | Outcome::Wrong(FailureKind::WrongAnswer, _) => {
                let field = pending.kind.reply_fields().last().copied().unwrap_or("");
                let value = body.get(field).cloned().unwrap_or(Value::Null);
                (OpType::Ok, value, None)
            }
            Outcome::Failed(code) => (OpType::Fail, Value::Null, Some(op_error(*code, text()))),
            Outcome::Indeterminate(code) => {
                (OpType::Info, Value::Null, Some(op_error(*code, text())))
            }
            Outcome::Wrong(_, message) => (
                OpType::Info,
                Value::Null,
                Some(op_error(-1, message.clone())),
            ),
        };
        if kind == OpType::Info {
            self.clients.crash(k);
        }
        self.complete_op(k, pending, now, kind, value, error);
    }

    /// Counts and records a request slot `k` gave up on, and closes its client.
    pub(super) fn timed_out(&mut self, k: usize, pending: Pending, now: Instant) {
        self.stats.timed_out(pending.kind);
        self.clients.crash(k);
        let error = Some(op_error(0, TIMEOUT_TEXT.to_string()));
        self.complete_op(k, &pending, now, OpType::Info, Value::Null, error);
    }

    fn complete_op(
        &mut self,
        k: usize,
        pending: &Pending,
        now: Instant,
        kind: OpType,
        value: Value,
        error: Option<OpError>,
    ) {
        let op = Op {
            index: 0,
            time: self.nanos(now),
            kind,
            process: self.clients.name(k),
            node: self.plan.ids[self.clients.node_of(k)].clone(),
            f: pending.kind.name().to_string(),
            value,
            error,
            exception: None,
            final_read: false,
        };
        self.push_op(op);
    }

    fn push_op(&mut self, op: Op) {
        if let Err(e) = self.history.push(op) {
            self.history_error.get_or_insert(e.to_string());
        }
    }

    /// Hands over what the run leaves, the history flushed.
    pub(super) fn record(
        mut self,
        nodes: Vec<(String, u32, String)>,
        duration: std::time::Duration,
    ) -> Record {
        if let Err(e) = self.history.flush() {
            self.history_error.get_or_insert(e.to_string());
        }
        Record {
            stats: self.stats,
            net: self.net.stats,
            messages: self.net.take_trace(),
            history_ops: self.history.len(),
            history_error: self.history_error,
            failures: self.failures,
            nemesis: std::mem::take(&mut self.nemesis.events),
            nodes,
            duration,
            clients: self.clients.opened(),
            replaced_clients: self.clients.replaced(),
            interrupted: self.signals_seen > 0,
        }
    }
}

/// An error for the history; codes that do not fit (none in Maelstrom's table) become
/// `u32::MAX`.
fn op_error(code: i64, text: String) -> OpError {
    OpError {
        code: u32::try_from(code).unwrap_or(u32::MAX),
        text,
    }
}
