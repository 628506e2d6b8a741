//! The node as a state machine: lines and clock ticks in, lines out. No I/O.
//!
//! A driver (the event loop, a test, a simulator) feeds [`Node::handle_line`] with each input
//! line and calls [`Node::fire_timers`] when [`Node::next_deadline`] has passed; everything
//! the node writes waits in its [`Outbox`]. `now` is an argument of every entry point: the
//! node never reads a clock.
//!
//! # The life of a line
//!
//! One pass over the line reads what routing needs, borrowed: `src`, `dest`, the body's
//! `type`, `msg_id` and `in_reply_to`, and the body as a slice ([`scan`]); a line it does not
//! take is read by serde_json instead ([`Incoming::parse`]), which also says what is wrong
//! with it. The handler's [`Request::body`] is the only other pass over the body. A line that is not a Maelstrom
//! message is counted and logged, never answered. A reply (it has `in_reply_to`) goes to the
//! pending RPC it names; a request goes to the runtime (`init`) or the app's handler for its
//! type, which answers it.

use std::time::Instant;

use serde::Deserialize;

use crate::app::{App, Handler, Routes};
use crate::config::Config;
use crate::context::{Context, Identity, TimerAction};
use crate::depth::{self, MAX_DEPTH};
use crate::error::{Error, ErrorCode};
use crate::labels::{MessageTypes, INIT};
use crate::outbox::Outbox;
use crate::protocol::{is_object, ErrorBody, Incoming, ParseError};
use crate::request::{Reply, Request};
use crate::scan::scan;
use crate::stats::{Counter, Rejection};
use crate::warn;

/// How much of a rejected line the log shows.
const LOG_PREVIEW_BYTES: usize = 120;

/// A Maelstrom node running app `A`: the app's state, the messaging core, the routes.
pub struct Node<A: App> {
    app: A,
    ctx: Context<A>,
    /// The handler of each message type label, if the app registered one.
    handlers: Vec<Option<Handler<A>>>,
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
                    if self.ctx.wait_longer(key, msg_id) {
                        continue;
                    }
                    match self.ctx.expire_rpc(key, msg_id) {
                        Some(callback) => {
                            self.ctx.stats.bump(Counter::RpcsTimeout);
                            callback(&mut self.app, &mut self.ctx, Err(Error::timeout()));
                        }
                        None => debug_assert!(false, "deadline of msg_id {msg_id} outlived it"),
                    }
                }
                TimerAction::OpDeadline { op } => self.ctx.expire_op(op),
                TimerAction::Wake { f, .. } => f(&mut self.app, &mut self.ctx),
            }
        }
        if let Some(held) = self.ctx.warnings.take_due(now) {
            warn::log_summary(held);
        }
    }

    /// Writes what is still owed to the log before the node goes away: the summary of
    /// warnings held back by the rate limit, which would otherwise wait for the end of their
    /// one-second window. Called by [`run`](crate::run()) at exit.
    pub fn finish(&mut self) {
        warn::log_summary(self.ctx.warnings.take_all());
    }

    /// When [`fire_timers`](Self::fire_timers) next has work, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        let summary = self.ctx.warnings.summary_due();
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
        let msg = match scan(text) {
            Some(msg) => msg,
            None => match parse_carefully(text)? {
                (msg, None) => msg,
                (msg, Some(body_too_deep)) => return self.refuse_deep(&msg, body_too_deep),
            },
        };
        if let Some(me) = self.ctx.identity.as_ref().map(|id| id.node_id.as_str()) {
            if msg.dest != me {
                let detail = format!("addressed to {:?}, this is {me:?}", msg.dest);
                return Err(Rejected::new(Rejection::MISADDRESSED, detail));
            }
        }
        let label = self.ctx.classify(&msg.kind);
        self.ctx.stats.count_received(label);
        if let Some(in_reply_to) = msg.in_reply_to {
            let reply = Reply {
                src: &msg.src,
                kind: &msg.kind,
                body: msg.body,
            };
            self.on_reply(in_reply_to, reply);
            return Ok(());
        }
        let Some(msg_id) = msg.msg_id else {
            let detail = format!("{:?} request has no msg_id to answer", msg.kind);
            return Err(Rejected::new(Rejection::NO_MSG_ID, detail));
        };
        let op = match label {
            INIT => None,
            _ => self.ctx.begin_request(&msg.src),
        };
        let request = Request {
            src: &msg.src,
            dest: &msg.dest,
            msg_id,
            kind: &msg.kind,
            body: msg.body,
            op,
        };
        self.dispatch(label, &request);
        self.ctx.end_request(&request);
        Ok(())
    }

    /// A line nested deeper than [`MAX_DEPTH`]: a request whose body is that deep is answered
    /// error 12; anything else (a reply, no `msg_id`, depth outside the body) is rejected.
    fn refuse_deep(&mut self, msg: &Incoming<'_>, body_too_deep: bool) -> Result<(), Rejected> {
        let detail = format!("nested deeper than {MAX_DEPTH} levels");
        match (msg.msg_id, msg.in_reply_to) {
            (Some(msg_id), None) if body_too_deep => {
                let request = Request {
                    src: &msg.src,
                    dest: &msg.dest,
                    msg_id,
                    kind: &msg.kind,
                    body: msg.body,
                    op: None,
                };
                let text = format!("malformed {}: body {detail}", msg.kind);
                self.ctx.warn(format_args!("from {}: {text}", msg.src));
                self.ctx.reply_error_now(&request, &Error::malformed(text));
                Ok(())
            }
            _ => Err(Rejected::new(Rejection::TOO_DEEP, detail)),
        }
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
                self.ctx
                    .warn(format_args!("from {}: {}", req.src, e.text()));
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
            Err(match serde_json::from_str::<ErrorBody>(reply.body) {
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
        if !self.ctx.admit_warning() {
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
}

/// A line [`scan`] left to serde_json: read with [`Incoming::parse`], and checked for depth.
/// For a line nested deeper than [`MAX_DEPTH`] (counting the envelope as a level), gives
/// whether its body is that deep.
fn parse_carefully(text: &str) -> Result<(Incoming<'_>, Option<bool>), Rejected> {
    let msg = Incoming::parse(text).map_err(|e| match e {
        ParseError::Envelope(_) => Rejected::new(Rejection::BAD_ENVELOPE, e),
        ParseError::BodyNotObject | ParseError::Header(_) => Rejected::new(Rejection::BAD_BODY, e),
    })?;
    // The envelope adds a level; only a line that deep may hold a body too deep.
    let too_deep = depth::deeper_than(text.as_bytes(), MAX_DEPTH + 1)
        .then(|| depth::deeper_than(msg.body.as_bytes(), MAX_DEPTH));
    Ok((msg, too_deep))
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
