//! The node as a state machine: lines and clock ticks in, lines out. No I/O.
//!
//! The event loop feeds [`Node::handle_line`] with each input line and calls
//! [`Node::fire_timers`] when [`Node::next_deadline`] has passed; everything the node writes
//! waits in its outbox. Tests drive the same three calls with hand-made lines and instants.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::context::{Context, Request, RpcError, TimerAction};
use crate::handlers::{self, Handlers};
use crate::message_type::MessageType;
use crate::outbox::Outbox;
use crate::protocol::{is_object, Envelope, ErrorBody, Header};
use crate::stats::Rejection;

/// How much of a rejected line the log shows.
const LOG_PREVIEW_BYTES: usize = 120;

/// Rejected lines logged one by one per second; beyond that a flood of bad input is summed up
/// in one line a second, so stderr cannot grow faster than the node can think.
const REJECTIONS_LOGGED_PER_SECOND: u32 = 100;

/// The window of [`REJECTIONS_LOGGED_PER_SECOND`].
const REJECTION_LOG_WINDOW: Duration = Duration::from_secs(1);

/// A Maelstrom node: the messaging core plus the state of its handlers.
pub struct Node {
    /// Messaging core: outbox, `msg_id`s, pending RPCs, timers.
    pub ctx: Context,
    /// State owned by handlers of multi-step operations.
    pub(crate) handlers: Handlers,
    /// Rate limit of the rejected-line log.
    rejection_log: RejectionLog,
}

/// Counts rejected-line log lines in the current window, and those held back.
#[derive(Default)]
struct RejectionLog {
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

/// A rejected line: the reason counted, and the detail logged.
struct Rejected {
    reason: Rejection,
    detail: String,
}

impl Rejected {
    fn new(reason: Rejection, detail: impl ToString) -> Self {
        Rejected {
            reason,
            detail: detail.to_string(),
        }
    }
}

impl Node {
    /// A node that has not yet received `init`; `now` is the origin of its clock.
    pub fn new(config: Config, now: Instant) -> Self {
        let handlers = Handlers::new(&config);
        Node {
            ctx: Context::new(config, now),
            handlers,
            rejection_log: RejectionLog::default(),
        }
    }

    /// Handles one input line (without its `\n`) at time `now`.
    pub fn handle_line(&mut self, line: &[u8], now: Instant) {
        self.ctx.set_now(now);
        self.ctx.stats_mut().lines_received += 1;
        if let Err(rejected) = self.route(line) {
            self.reject(rejected, line);
        }
    }

    /// Records a line that was longer than the maximum and was discarded unread.
    pub fn handle_oversized_line(&mut self, len: usize) {
        self.ctx.stats_mut().lines_received += 1;
        let max = self.ctx.config().max_line_bytes;
        let detail = format!("{len} bytes, over the maximum of {max}");
        self.reject(Rejected::new(Rejection::TooLong, detail), b"");
    }

    /// Runs every timer due at `now`: RPC timeouts, retries, upkeep.
    pub fn fire_timers(&mut self, now: Instant) {
        self.ctx.set_now(now);
        while let Some(action) = self.ctx.pop_timer() {
            match action {
                TimerAction::RpcDeadline { key, msg_id } => {
                    match self.ctx.expire_rpc(key, msg_id) {
                        Some(callback) => {
                            self.ctx.stats_mut().rpcs_timeout += 1;
                            callback(self, Err(RpcError::Timeout));
                        }
                        None => debug_assert!(false, "deadline of msg_id {msg_id} outlived it"),
                    }
                }
                TimerAction::Wake(f) => f(self),
            }
        }
    }

    /// When [`fire_timers`](Self::fire_timers) next has work, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.ctx.next_deadline()
    }

    /// Output waiting to be flushed.
    pub fn outbox(&mut self) -> &mut Outbox {
        self.ctx.outbox()
    }

    fn route(&mut self, line: &[u8]) -> Result<(), Rejected> {
        let line = line.trim_ascii();
        if line.is_empty() {
            return Err(Rejected::new(Rejection::Empty, "empty line"));
        }
        let text = std::str::from_utf8(line).map_err(|e| Rejected::new(Rejection::NotUtf8, e))?;
        if !is_object(text) {
            return Err(Rejected::new(Rejection::BadEnvelope, "not a JSON object"));
        }
        let envelope: Envelope<'_> =
            serde_json::from_str(text).map_err(|e| Rejected::new(Rejection::BadEnvelope, e))?;
        if !is_object(envelope.body.get()) {
            return Err(Rejected::new(
                Rejection::BadBody,
                "body is not a JSON object",
            ));
        }
        let header: Header<'_> = serde_json::from_str(envelope.body.get())
            .map_err(|e| Rejected::new(Rejection::BadBody, e))?;
        if let Some(me) = self.ctx.identity().map(|id| &*id.node_id) {
            if envelope.dest != me {
                let detail = format!("addressed to {:?}, this is {me:?}", envelope.dest);
                return Err(Rejected::new(Rejection::Misaddressed, detail));
            }
        }
        let msg_type = MessageType::from_wire(&header.kind);
        self.ctx.stats_mut().received[msg_type as usize] += 1;
        if let Some(in_reply_to) = header.in_reply_to {
            self.on_reply(in_reply_to, &header.kind, envelope.body);
            return Ok(());
        }
        let Some(msg_id) = header.msg_id else {
            let detail = format!("{:?} request has no msg_id to answer", header.kind);
            return Err(Rejected::new(Rejection::NoMsgId, detail));
        };
        let request = Request {
            src: &envelope.src,
            dest: &envelope.dest,
            msg_id,
            kind: &header.kind,
            msg_type,
            body: envelope.body,
        };
        handlers::dispatch(self, &request);
        Ok(())
    }

    fn on_reply(&mut self, in_reply_to: u64, kind: &str, body: &serde_json::value::RawValue) {
        let Some((callback, sent_at)) = self.ctx.complete_rpc(in_reply_to) else {
            self.ctx.stats_mut().stale_replies += 1;
            log::debug!("stale reply {kind:?} to msg_id {in_reply_to}: nothing pending");
            return;
        };
        self.ctx.record_rpc_reply(sent_at);
        let outcome = if kind == "error" {
            self.ctx.stats_mut().rpcs_error += 1;
            Err(match serde_json::from_str::<ErrorBody>(body.get()) {
                Ok(e) => RpcError::Remote {
                    code: e.code,
                    text: e.text,
                },
                Err(e) => RpcError::Remote {
                    code: crate::protocol::ErrorCode::Crash.code(),
                    text: format!("unreadable error reply: {e}"),
                },
            })
        } else {
            self.ctx.stats_mut().rpcs_ok += 1;
            Ok(body)
        };
        callback(self, outcome);
    }

    fn reject(&mut self, rejected: Rejected, line: &[u8]) {
        self.ctx.stats_mut().reject(rejected.reason);
        if !self.admit_rejection_log() {
            return;
        }
        let preview = String::from_utf8_lossy(&line[..line.len().min(LOG_PREVIEW_BYTES)]);
        let ellipsis = if line.len() > LOG_PREVIEW_BYTES {
            "..."
        } else {
            ""
        };
        log::warn!(
            "rejected input line ({}): {}; line: {preview:?}{ellipsis}",
            rejected.reason,
            rejected.detail
        );
    }

    /// Whether one more rejected line may be logged in this window. The first line held back
    /// arms a timer that reports how many were, when the window ends.
    fn admit_rejection_log(&mut self) -> bool {
        let now = self.ctx.now();
        let log = &mut self.rejection_log;
        let start = *log.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) >= REJECTION_LOG_WINDOW {
            log.window_start = Some(now);
            log.logged = 0;
        }
        if log.logged < REJECTIONS_LOGGED_PER_SECOND {
            log.logged += 1;
            return true;
        }
        log.suppressed += 1;
        if log.suppressed == 1 {
            let window_end = log.window_start.unwrap_or(now) + REJECTION_LOG_WINDOW;
            self.ctx.after(
                window_end.saturating_duration_since(now),
                |node: &mut Node| {
                    let held = std::mem::take(&mut node.rejection_log.suppressed);
                    log::warn!(
                        "{held} more rejected input lines not logged one by one \
                         (over {REJECTIONS_LOGGED_PER_SECOND} a second); see the counters"
                    );
                },
            );
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_type::MessageType as T;

    fn initialized() -> (Node, Instant) {
        let now = Instant::now();
        let mut node = Node::new(Config::default(), now);
        let init = br#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#;
        node.handle_line(init, now);
        assert!(!node.outbox().take().is_empty(), "no init_ok");
        (node, now)
    }

    /// Found by fuzzing: serde reads a struct from an array of its fields, so these lines were
    /// taken for an envelope and a body and answered, though Maelstrom's messages are objects.
    #[test]
    fn messages_shaped_as_arrays_are_rejected_not_answered() {
        let (mut node, now) = initialized();
        node.handle_line(br#"["c1","n1",{"type":"echo","msg_id":2,"echo":1}]"#, now);
        node.handle_line(br#"{"src":"c1","dest":"n1","body":["echo",3,null]}"#, now);
        node.handle_line(br#"{"src":"c1","dest":"n1","body": ["echo",4,null]}"#, now);
        assert_eq!(
            String::from_utf8(node.outbox().take()).unwrap(),
            "",
            "answered an array"
        );
        let stats = node.ctx.stats();
        assert_eq!(stats.rejected(Rejection::BadEnvelope), 1);
        assert_eq!(stats.rejected(Rejection::BadBody), 2);
    }

    fn feed(node: &mut Node, lines: &[&str]) {
        for line in lines {
            node.handle_line(line.as_bytes(), Instant::now());
        }
    }

    #[test]
    fn messages_are_counted_by_type_both_ways() {
        let mut node = Node::new(Config::default(), Instant::now());
        feed(
            &mut node,
            &[
                r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#,
                r#"{"src":"c0","dest":"n1","body":{"type":"echo","msg_id":2,"echo":1}}"#,
                r#"{"src":"c0","dest":"n1","body":{"type":"echo","msg_id":3}}"#,
                r#"{"src":"c0","dest":"n1","body":{"type":"cas","msg_id":4}}"#,
                r#"{"src":"c0","dest":"n1","body":{"type":"echo_ok","in_reply_to":99}}"#,
                r#"not json"#,
            ],
        );
        let stats = node.ctx.stats();
        let received: Vec<_> = T::ALL.iter().map(|&t| (t, stats.received(t))).collect();
        let nonzero: Vec<_> = received.into_iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(
            nonzero,
            [(T::Init, 1), (T::Echo, 2), (T::EchoOk, 1), (T::Other, 1)]
        );
        assert_eq!(stats.sent(T::InitOk), 1);
        assert_eq!(stats.sent(T::EchoOk), 1);
        assert_eq!(
            stats.sent(T::Error),
            2,
            "error 12 for the echo without a value, 10 for cas"
        );
        assert_eq!(stats.sent.iter().sum::<u64>(), stats.messages_sent);
        assert_eq!(stats.malformed_requests, 1);
        assert_eq!(stats.rejected(Rejection::BadEnvelope), 1);
        assert_eq!(stats.stale_replies, 1);
    }
}
