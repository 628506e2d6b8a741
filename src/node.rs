//! The node as a state machine: lines and clock ticks in, lines out. No I/O.
//!
//! A driver (the event loop, a test, a simulator) feeds [`Node::handle_line`] with each input
//! line and calls [`Node::fire_timers`] when [`Node::next_deadline`] has passed; everything
//! the node writes waits in its [`Outbox`]. `now` is an argument of every entry point: the
//! node never reads a clock.
//!
//! # The life of a line
//!
//! The envelope is parsed once, borrowed (`src`, `dest`, and the body as a raw slice), then
//! the body's header (`type`, `msg_id`, `in_reply_to`). A line that is not a Maelstrom
//! message is counted and logged, never answered. A reply (it has `in_reply_to`) goes to the
//! pending RPC it names; a request goes to the runtime (`init`) or the app's handler for its
//! type, which answers it.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::app::{App, Handler, Routes};
use crate::config::Config;
use crate::context::{Context, Identity, TimerAction};
use crate::error::{Error, ErrorCode};
use crate::labels::{MessageTypes, INIT};
use crate::outbox::Outbox;
use crate::protocol::{is_object, Envelope, ErrorBody, Header};
use crate::request::{Reply, Request};
use crate::stats::{Counter, Rejection};

/// How much of a rejected line the log shows.
const LOG_PREVIEW_BYTES: usize = 120;

/// Rejected lines logged one by one per second; beyond that a flood of bad input is summed up
/// in one line a second, so stderr cannot grow faster than the node can think.
const REJECTIONS_LOGGED_PER_SECOND: u32 = 100;

/// The window of [`REJECTIONS_LOGGED_PER_SECOND`].
const REJECTION_LOG_WINDOW: Duration = Duration::from_secs(1);

/// A Maelstrom node running app `A`: the app's state, the messaging core, the routes.
pub struct Node<A: App> {
    app: A,
    ctx: Context<A>,
    /// The handler of each message type label, if the app registered one.
    handlers: Vec<Option<Handler<A>>>,
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

/// The fields of `init`.
#[derive(Deserialize)]
struct Init {
    node_id: String,
    node_ids: Vec<String>,
}

impl<A: App> Node<A> {
    /// A node running `app` that has not yet received `init`; `now` is the origin of its
    /// clock. The app's [`routes`](App::routes) are read here, once.
    pub fn new(app: A, config: Config, now: Instant) -> Self {
        let routes = Routes::<A>::of_app();
        let types = MessageTypes::new(routes.entries().iter().map(|(kind, _)| *kind));
        let mut handlers = vec![None; types.len()];
        for (kind, handler) in routes.entries() {
            handlers[types.index(kind)] = Some(*handler);
        }
        Node {
            app,
            ctx: Context::new(config, now, types),
            handlers,
            rejection_log: RejectionLog::default(),
        }
    }

    /// Handles one input line (without its `\n`) at time `now`: at most one handler or
    /// callback runs, and what they write is appended to the outbox.
    pub fn handle_line(&mut self, line: &[u8], now: Instant) {
        self.ctx.set_now(now);
        if let Err(rejected) = self.route(line) {
            self.reject(rejected, line);
        }
    }

    /// Records a line of `len` bytes that was longer than the maximum and was discarded
    /// unread.
    pub fn handle_oversized_line(&mut self, len: usize) {
        let max = self.ctx.config().max_line_bytes;
        let detail = format!("{len} bytes, over the maximum of {max}");
        self.reject(Rejected::new(Rejection::TOO_LONG, detail), b"");
    }

    /// Runs everything due at `now`: RPC timeouts and timers of
    /// [`Context::after`], in deadline order, including those they set that are due too.
    pub fn fire_timers(&mut self, now: Instant) {
        self.ctx.set_now(now);
        while let Some(action) = self.ctx.pop_timer() {
            match action {
                TimerAction::RpcDeadline { key, msg_id } => {
                    match self.ctx.expire_rpc(key, msg_id) {
                        Some(callback) => {
                            self.ctx.stats.bump(Counter::RpcsTimeout);
                            callback(&mut self.app, &mut self.ctx, Err(Error::timeout()));
                        }
                        None => debug_assert!(false, "deadline of msg_id {msg_id} outlived it"),
                    }
                }
                TimerAction::Wake { f, .. } => f(&mut self.app, &mut self.ctx),
            }
        }
        self.flush_rejection_summary();
    }

    /// When [`fire_timers`](Self::fire_timers) next has work, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        let summary = self.rejection_log_deadline();
        match (self.ctx.next_deadline(), summary) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Output waiting to be written: whole lines, oldest first. Take it with
    /// [`Outbox::take`], or flush a prefix with [`Outbox::pending`] and [`Outbox::advance`].
    pub fn outbox(&mut self) -> &mut Outbox {
        self.ctx.outbox()
    }

    /// The app's state.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The app's state, to change from outside (tests, a simulator).
    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    /// The messaging core: identity, counters, pending RPCs.
    pub fn context(&self) -> &Context<A> {
        &self.ctx
    }

    /// The app and the messaging core together, as a handler gets them: to act on the node
    /// from outside (a driver's own timers, tests).
    pub fn parts(&mut self) -> (&mut A, &mut Context<A>) {
        (&mut self.app, &mut self.ctx)
    }

    /// Records every RPC round trip into `histogram` from now on (what
    /// [`MetricsService`](crate::metrics::MetricsService) sets up; for embedders that keep
    /// their own recorder).
    pub fn set_rpc_histogram(&mut self, histogram: metrics::Histogram) {
        self.ctx.set_rpc_histogram(histogram);
    }

    pub(crate) fn count_loop_turn(&mut self) {
        self.ctx.stats.bump(Counter::LoopTurns);
    }

    fn route(&mut self, line: &[u8]) -> Result<(), Rejected> {
        let line = line.trim_ascii();
        if line.is_empty() {
            return Err(Rejected::new(Rejection::EMPTY, "empty line"));
        }
        let text = std::str::from_utf8(line).map_err(|e| Rejected::new(Rejection::NOT_UTF8, e))?;
        if !is_object(text) {
            return Err(Rejected::new(Rejection::BAD_ENVELOPE, "not a JSON object"));
        }
        let envelope: Envelope<'_> =
            serde_json::from_str(text).map_err(|e| Rejected::new(Rejection::BAD_ENVELOPE, e))?;
        if !is_object(envelope.body.get()) {
            return Err(Rejected::new(
                Rejection::BAD_BODY,
                "body is not a JSON object",
            ));
        }
        let header: Header<'_> = serde_json::from_str(envelope.body.get())
            .map_err(|e| Rejected::new(Rejection::BAD_BODY, e))?;
        if let Some(me) = self.ctx.identity.as_ref().map(|id| id.node_id.as_str()) {
            if envelope.dest != me {
                let detail = format!("addressed to {:?}, this is {me:?}", envelope.dest);
                return Err(Rejected::new(Rejection::MISADDRESSED, detail));
            }
        }
        let label = self.ctx.classify(&header.kind);
        self.ctx.stats.count_received(label);
        if let Some(in_reply_to) = header.in_reply_to {
            let reply = Reply {
                src: &envelope.src,
                kind: &header.kind,
                body: envelope.body,
            };
            self.on_reply(in_reply_to, reply);
            return Ok(());
        }
        let Some(msg_id) = header.msg_id else {
            let detail = format!("{:?} request has no msg_id to answer", header.kind);
            return Err(Rejected::new(Rejection::NO_MSG_ID, detail));
        };
        let request = Request {
            src: &envelope.src,
            dest: &envelope.dest,
            msg_id,
            kind: &header.kind,
            body: envelope.body,
        };
        self.dispatch(label, &request);
        Ok(())
    }

    /// Answers `init` itself, anything else before it with error 11, unknown types with
    /// error 10; the rest goes to the app's handler.
    fn dispatch(&mut self, label: usize, req: &Request<'_>) {
        if label == INIT {
            return self.init(req);
        }
        let outcome = if self.ctx.identity.is_none() {
            Err(Error::unavailable(format!(
                "not initialized yet: {:?} arrived before init",
                req.kind
            )))
        } else {
            match self.handlers[label] {
                Some(handler) => handler(&mut self.app, &mut self.ctx, req),
                None => Err(Error::not_supported(format!(
                    "unsupported message type {:?}",
                    req.kind
                ))),
            }
        };
        if let Err(e) = outcome {
            if e.code() == ErrorCode::MalformedRequest {
                log::warn!("from {}: {}", req.src, e.text());
            } else {
                log::debug!("{} from {} answered with {e}", req.kind, req.src);
            }
            self.ctx.reply_error_now(req, &e);
        }
    }

    /// `init {node_id, node_ids}` → `init_ok`. A repeat with the same identity is answered
    /// again (a client may retry); one that would change it is refused with error 22, since
    /// pending work was addressed under the old one.
    fn init(&mut self, req: &Request<'_>) {
        let Init { node_id, node_ids } = match req.body() {
            Ok(init) => init,
            Err(e) => return self.ctx.reply_error_now(req, &e),
        };
        if !node_ids.contains(&node_id) {
            let text = format!("node_id {node_id:?} is not in node_ids {node_ids:?}");
            return self.ctx.reply_error_now(req, &Error::malformed(text));
        }
        if let Some(current) = &self.ctx.identity {
            if current.node_id != node_id || current.node_ids != node_ids {
                let text = format!("already initialized as {:?}", current.node_id);
                let error = Error::new(ErrorCode::PreconditionFailed, text);
                return self.ctx.reply_error_now(req, &error);
            }
            return self.ctx.reply(req, &InitOk::new());
        }
        log::info!("initialized as {node_id} of {}", node_ids.len());
        self.ctx.identity = Some(Identity { node_id, node_ids });
        self.ctx.reply(req, &InitOk::new());
        self.app.on_init(&mut self.ctx);
    }

    fn on_reply(&mut self, in_reply_to: u64, reply: Reply<'_>) {
        let Some(callback) = self.ctx.complete_rpc(in_reply_to, reply.src) else {
            self.ctx.stats.bump(Counter::StaleReplies);
            log::debug!(
                "stale reply {:?} from {} to msg_id {in_reply_to}: nothing pending",
                reply.kind,
                reply.src
            );
            return;
        };
        let outcome = if reply.kind == "error" {
            self.ctx.stats.bump(Counter::RpcsError);
            Err(match serde_json::from_str::<ErrorBody>(reply.body.get()) {
                Ok(e) => Error::new(e.code, e.text),
                Err(e) => Error::crash(format!("unreadable error reply: {e}")),
            })
        } else {
            self.ctx.stats.bump(Counter::RpcsOk);
            Ok(reply)
        };
        callback(&mut self.app, &mut self.ctx, outcome);
    }

    fn reject(&mut self, rejected: Rejected, line: &[u8]) {
        self.ctx.stats.bump(rejected.reason.counter());
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

    /// Whether one more rejected line may be logged in this window.
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
        false
    }

    /// When the summary of lines held back is due, if any were.
    fn rejection_log_deadline(&self) -> Option<Instant> {
        let log = &self.rejection_log;
        (log.suppressed > 0)
            .then(|| log.window_start.map(|start| start + REJECTION_LOG_WINDOW))
            .flatten()
    }

    /// Logs how many rejected lines were held back, once their window has ended.
    fn flush_rejection_summary(&mut self) {
        let due = self.rejection_log_deadline();
        if due.is_some_and(|at| at <= self.ctx.now()) {
            let held = std::mem::take(&mut self.rejection_log.suppressed);
            log::warn!(
                "{held} more rejected input lines not logged one by one \
                 (over {REJECTIONS_LOGGED_PER_SECOND} a second); see the counters"
            );
        }
    }
}

/// The body of `init_ok`.
#[derive(serde::Serialize)]
struct InitOk {
    #[serde(rename = "type")]
    kind: &'static str,
}

impl InitOk {
    fn new() -> Self {
        InitOk { kind: "init_ok" }
    }
}
