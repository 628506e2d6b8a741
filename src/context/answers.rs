//! Answering clients within their deadline, and the one rate limit of per-message warnings:
//! the part of [`Context`] that follows each client request from its arrival to its answer
//! (see [`crate::ops`]).

use std::fmt;
use std::time::Instant;

use crate::error::{Error, ErrorCode};
use crate::ops::{is_client, OpRef};
use crate::request::{ReplyTo, Request};
use crate::stats::Counter;

use super::{Context, TimerAction};

impl<A> Context<A> {
    /// Logs a warning about one message, within the node's one rate limit of
    /// [`WARNINGS_PER_SECOND`](crate::warn::WARNINGS_PER_SECOND): past it, warnings are
    /// counted and summed up in one line a second (and at exit). Use it for anything a peer
    /// or client can cause once per message.
    pub fn warn(&mut self, message: fmt::Arguments<'_>) {
        if self.admit_warning() {
            log::warn!("{message}");
        }
    }

    /// Whether one more warning may be logged now (see [`warn`](Self::warn)); counts it as
    /// held back if not.
    pub(crate) fn admit_warning(&mut self) -> bool {
        if !log::log_enabled!(log::Level::Warn) {
            return false;
        }
        let admitted = self.warnings.admit(self.now);
        if !admitted {
            self.stats.bump(Counter::WarningsHeld);
        }
        admitted
    }

    /// Starts handling a request from `src`: a client's opens an operation, whose reference
    /// and deadline the request carries. Returns them.
    pub(crate) fn begin_request(&mut self, src: &str) -> Option<(OpRef, Instant)> {
        if !is_client(src) {
            self.current_op = None;
            return None;
        }
        let op = self.ops.next_ref();
        self.current_op = Some((op, false));
        Some((op, self.now + self.config.op_deadline))
    }

    /// The handler of `req` returned: if it left a client's request unanswered, the
    /// operation stays open until its answer or its deadline.
    pub(crate) fn end_request(&mut self, req: &Request<'_>) {
        let Some((op, answered)) = self.current_op.take() else {
            return;
        };
        if answered {
            return;
        }
        let tick = self.clock.deadline_tick(self.now, self.config.op_deadline);
        let timer = self.timers.insert(tick, TimerAction::OpDeadline { op });
        self.ops.open(op, req.src.into(), req.msg_id, timer);
    }

    /// Records that the request being handled is answered.
    pub(super) fn answered_now(&mut self, req: &Request<'_>) {
        if let (Some((op, _)), Some((current, answered))) = (req.op, &mut self.current_op) {
            if op == *current {
                *answered = true;
            }
        }
    }

    /// Whether the request `to` names may still be answered, closing its operation if so.
    pub(super) fn may_answer(&mut self, to: &ReplyTo) -> bool {
        let Some((op, _)) = to.op else {
            return true;
        };
        if let Some((current, answered)) = &mut self.current_op {
            if *current == op && !*answered {
                *answered = true;
                return true;
            }
        }
        if let Some(open) = self.ops.close(op) {
            self.timers.cancel(open.timer);
            return true;
        }
        self.stats.bump(Counter::AnswersDropped);
        self.warn(format_args!(
            "dropped an answer to {} for msg_id {}: past the operation's deadline, or answered \
             already",
            to.dest, to.in_reply_to
        ));
        false
    }

    /// The deadline of client operation `op` passed: answers error 0 if it is still open.
    pub(crate) fn expire_op(&mut self, op: OpRef) {
        let Some(open) = self.ops.close(op) else {
            return;
        };
        self.stats.bump(Counter::OpsExpired);
        let ms = self.config.op_deadline.as_millis();
        let text = format!("not answered within the operation deadline of {ms} ms");
        self.warn(format_args!(
            "{} msg_id {}: {text}; answered error 0",
            open.dest, open.in_reply_to
        ));
        let error = Error::new(ErrorCode::Timeout, text);
        self.write_error(None, &open.dest, open.in_reply_to, &error);
    }

    /// Client operations whose handler left them to be answered later, not yet answered.
    pub fn open_operations(&self) -> usize {
        self.ops.len()
    }
}
