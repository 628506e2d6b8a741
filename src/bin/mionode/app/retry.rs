//! RPC with retry: the one engine behind `relay`, `backoff_relay` and each echo of a
//! `batch_echo`. It runs "an RPC with attempts and a per-attempt deadline, then a callback".
//!
//! An operation sends the same body up to `attempts` times, each time as a new RPC with a
//! fresh `msg_id`. Attempt `k` is given `timeout` to be answered; if it is not, attempt `k+1`
//! goes out `delays_ms[k]` later (zero when the plan lists no delay: `relay`, `batch_echo`;
//! the backoff schedule for `backoff_relay`). The waits are timers on the node's one wheel:
//! nothing sleeps, and nothing polls the operation. When the operation ends, its callback
//! runs once with the reply (and the attempts it took), or with the error.
//!
//! # Whether a late reply wins
//!
//! A plan says what happens to a reply to an earlier attempt that arrives after the next
//! attempt went out ([`Plan::late_replies`]):
//!
//! - accepted (`relay`, `backoff_relay`): the reply is as good as any, since the target
//!   handled the same body. Waiting for the newest attempt instead would add latency, and
//!   under a slow but working target (replies always a little later than `timeout`) would
//!   fail an operation whose every attempt was answered. So every attempt's RPC stays pending
//!   until the operation's planned end (all attempts, timeouts and delays), and the
//!   per-attempt deadline is a wake-up that sends the next attempt. The cost: an operation in
//!   its third attempt holds three pending RPCs, and `pending_count` shows them.
//! - stale (`batch_echo`): each attempt's RPC ends at its own deadline, and a reply to it
//!   after that is counted as stale by the runtime. A batch of many values keeps one pending
//!   RPC per value, not one per attempt.
//!
//! Either way the first reply ends the operation and cancels its attempts still pending, so
//! exactly one outcome is delivered. An `error` reply also ends it, passed on as it came:
//! retrying a definite error cannot help, and retrying an indefinite one could make the
//! target act twice. (An error reply with code 0, a timeout the peer reports, counts as the
//! attempt timing out.) The operation fails with error 0 once it has made all its attempts
//! and the last of them has timed out.
//!
//! # The operation's deadline
//!
//! An operation started for a client's request carries its deadline ([`Plan::until`], from
//! [`answer_by`]): every attempt's timeout and every wait is cut to end by then, no attempt
//! starts after it, and the operation fails with error 0 when it comes, whatever attempts
//! the plan had left. So a client is answered within the runtime's `--op-deadline-ms` by the
//! operation itself, a little before the runtime would answer in its place.
//!
//! # Adaptive attempts
//!
//! A plan with [`Plan::adaptive`] (`batch_echo`) gives each attempt the destination's
//! retransmission timeout ([`Context::rpc_rto`](mionode::Context::rpc_rto): RFC 6298 from the
//! round trips seen, doubled per retry of the same request, at most [`Plan::timeout`]) and
//! lets the runtime's window pace the requests: on a slow network the timeouts grow with
//! the round trip instead of firing early and piling retries onto the queue.
//!
//! # State
//!
//! An operation outlives many callbacks and wake-ups, and all of them need the same state:
//! the body to resend, the attempts still pending to cancel, the callback to run. So it is an
//! entry in [`Retries`], a slab the app owns, and the callbacks and wake-ups carry its
//! [`Handle`] (the slab reuses keys; the id tells operations apart).

use std::time::{Duration, Instant};

use mionode::{Error, ErrorCode, MsgId, Reply, ReplyTo};
use serde_json::value::RawValue;
use slab::Slab;

use super::{Ctx, RpcChapter};

/// `in_flight` marker of an attempt that is no longer pending.
const DONE: MsgId = MsgId::MAX;

/// Longest an operation plans ahead: a century is as good as never, and `Instant` holds it
/// with room to spare, where `now + Duration::MAX` would overflow and panic.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// How an operation retries.
pub(super) struct Plan {
    /// Attempts at most, the first included (at least 1).
    pub(super) attempts: u32,
    /// How long each attempt is given before the next one is prepared.
    pub(super) timeout: Duration,
    /// Milliseconds to wait, after attempt `k` timed out, before attempt `k+1`; missing
    /// entries are zero.
    pub(super) delays_ms: Vec<u64>,
    /// Whether a reply to an earlier attempt still ends the operation (see the module docs).
    pub(super) late_replies: bool,
    /// When the operation must have ended, if it answers a client (see the module docs).
    pub(super) until: Option<Instant>,
    /// Whether each attempt's timeout is the destination's adaptive one, capped at `timeout`.
    pub(super) adaptive: bool,
}

/// How long before the runtime's deadline of a client's request an operation ends, so that
/// its own answer, not the runtime's error 0, is the one written.
pub(super) const ANSWER_MARGIN: Duration = Duration::from_millis(5);

/// When an operation answering `to` must end: [`ANSWER_MARGIN`] before its deadline.
pub(super) fn answer_by(to: &ReplyTo) -> Option<Instant> {
    to.deadline()
        .map(|at| at.checked_sub(ANSWER_MARGIN).unwrap_or(at))
}

/// `timeout` cut to end by `until`, from `now`.
pub(super) fn fit(timeout: Duration, now: Instant, until: Option<Instant>) -> Duration {
    until.map_or(timeout, |until| {
        timeout.min(until.saturating_duration_since(now))
    })
}

impl Plan {
    fn delay(&self, k: usize) -> Duration {
        Duration::from_millis(self.delays_ms.get(k).copied().unwrap_or(0))
    }
}

/// What a successful operation hands its callback.
pub(super) struct Success<'r> {
    /// The reply that ended it.
    pub(super) reply: Reply<'r>,
    /// Attempts made, the successful one included.
    pub(super) attempts: u32,
    /// Milliseconds waited between the attempts made.
    pub(super) waited_ms: u64,
}

/// What runs when an operation ends.
type Done = Box<dyn for<'r> FnOnce(&mut RpcChapter, &mut Ctx, Result<Success<'r>, Error>)>;

/// Operations in progress.
#[derive(Default)]
pub(super) struct Retries {
    table: Slab<Operation>,
    /// Id of the next operation; tells it from a later one in the same slot.
    next_id: u64,
}

struct Operation {
    id: u64,
    target: Box<str>,
    body: Box<RawValue>,
    plan: Plan,
    /// The planned end: when the last attempt's timeout passes if every wait is on time.
    end: Instant,
    /// `msg_id` of each attempt made, or [`DONE`] once it is no longer pending.
    in_flight: Vec<MsgId>,
    done: Done,
}

impl Operation {
    /// Whether the operation's deadline has come at `now`.
    fn out_of_time(&self, now: Instant) -> bool {
        self.plan.until.is_some_and(|until| now >= until)
    }

    fn waited_ms(&self) -> u64 {
        let waited = self.in_flight.len().saturating_sub(1);
        (0..waited).fold(0u64, |sum, k| {
            sum.saturating_add(self.plan.delays_ms.get(k).copied().unwrap_or(0))
        })
    }
}

/// Names an operation, for its callbacks, wake-ups and [`cancel`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Handle {
    key: usize,
    id: u64,
}

/// Starts an operation that sends `body` to `target` as `plan` says; `done` runs once with
/// its outcome, from a later event (never inside this call), unless it is [`cancel`]led.
pub(super) fn start<F>(
    app: &mut RpcChapter,
    ctx: &mut Ctx,
    target: &str,
    body: Box<RawValue>,
    plan: Plan,
    done: F,
) -> Handle
where
    F: for<'r> FnOnce(&mut RpcChapter, &mut Ctx, Result<Success<'r>, Error>) + 'static,
{
    debug_assert!(plan.attempts >= 1);
    // Saturating: flags and plans built in code may hold any `Duration`.
    let waits = (0..plan.attempts.saturating_sub(1) as usize)
        .fold(Duration::ZERO, |sum, k| sum.saturating_add(plan.delay(k)));
    let span = plan
        .timeout
        .saturating_mul(plan.attempts)
        .saturating_add(waits);
    let planned = ctx.now() + span.min(FOREVER);
    let end = plan.until.map_or(planned, |until| planned.min(until));
    let retries = &mut app.retries;
    let id = retries.next_id;
    retries.next_id += 1;
    let key = retries.table.insert(Operation {
        id,
        target: target.into(),
        body,
        plan,
        end,
        in_flight: Vec::new(),
        done: Box::new(done),
    });
    let handle = Handle { key, id };
    send_attempt(app, ctx, handle);
    handle
}

/// Ends the operation without running its callback, cancelling its attempts still pending.
/// Does nothing if it has ended already.
pub(super) fn cancel(app: &mut RpcChapter, ctx: &mut Ctx, handle: Handle) {
    if let Some(op) = take(app, handle) {
        cancel_attempts(ctx, &op);
    }
}

/// The operation `handle` names, if it is still running.
fn get(app: &mut RpcChapter, handle: Handle) -> Option<&mut Operation> {
    app.retries
        .table
        .get_mut(handle.key)
        .filter(|op| op.id == handle.id)
}

fn take(app: &mut RpcChapter, handle: Handle) -> Option<Operation> {
    get(app, handle)?;
    Some(app.retries.table.remove(handle.key))
}

fn cancel_attempts(ctx: &mut Ctx, op: &Operation) {
    for &msg_id in op.in_flight.iter().filter(|&&m| m != DONE) {
        ctx.cancel_rpc(msg_id);
    }
}

/// Sends the next attempt and, if late replies are accepted and more attempts are planned,
/// the wake-up for the one after.
fn send_attempt(app: &mut RpcChapter, ctx: &mut Ctx, handle: Handle) {
    let RpcChapter { retries, stats, .. } = app;
    let Some(op) = retries
        .table
        .get_mut(handle.key)
        .filter(|op| op.id == handle.id)
    else {
        return;
    };
    if op.out_of_time(ctx.now()) {
        // A wait ended at the deadline: end now if nothing is pending (from a timer, never
        // inside `start`), else when the pending attempts time out, by the deadline.
        if op.in_flight.iter().all(|&m| m == DONE) {
            ctx.after(Duration::ZERO, move |app, ctx| give_up(app, ctx, handle));
        }
        return;
    }
    let attempt = op.in_flight.len();
    let timeout = fit(op.plan.timeout, ctx.now(), op.plan.until);
    if attempt > 0 {
        stats.retried();
        log::debug!(
            "retry {} to {}: attempt {} timed out, sending attempt {}",
            op.id,
            op.target,
            attempt,
            attempt + 1
        );
    }
    // With late replies accepted, every attempt stays pending until the planned end; the
    // last one, sent late by a busy loop, still gets its full timeout.
    let deadline = if op.plan.late_replies {
        let to_end = op.end.saturating_duration_since(ctx.now()).max(timeout);
        fit(to_end, ctx.now(), op.plan.until)
    } else {
        timeout
    };
    let callback = move |app: &mut RpcChapter, ctx: &mut Ctx, outcome: Result<Reply<'_>, Error>| {
        on_outcome(app, ctx, handle, attempt, outcome)
    };
    let msg_id = if op.plan.adaptive {
        // Time waiting for room in the window is not the attempt's: only the operation's
        // end bounds it.
        let until = op.plan.until.unwrap_or(op.end);
        let retries = u32::try_from(attempt).unwrap_or(u32::MAX);
        ctx.rpc_rto(
            &op.target,
            &*op.body,
            retries,
            op.plan.timeout,
            until,
            callback,
        )
    } else {
        ctx.rpc(&op.target, &*op.body, deadline, callback)
    };
    op.in_flight.push(msg_id);
    if op.plan.late_replies && op.in_flight.len() < op.plan.attempts as usize {
        let wait = timeout.saturating_add(op.plan.delay(attempt));
        if !op.out_of_time(ctx.now() + wait) {
            ctx.after(wait, move |app, ctx| send_attempt(app, ctx, handle));
        }
    }
}

/// Ends the operation with error 0 once its deadline has come.
fn give_up(app: &mut RpcChapter, ctx: &mut Ctx, handle: Handle) {
    let Some(op) = get(app, handle) else { return };
    let made = op.in_flight.len();
    let text = format!("RPC failed after {made} attempts: no time left before the deadline");
    finish(app, ctx, handle, Err(Error::new(ErrorCode::Timeout, text)));
}

fn on_outcome(
    app: &mut RpcChapter,
    ctx: &mut Ctx,
    handle: Handle,
    attempt: usize,
    outcome: Result<Reply<'_>, Error>,
) {
    let Some(op) = get(app, handle) else {
        // Unreachable: an operation cancels its pending attempts when it ends.
        return debug_assert!(false, "outcome for finished operation {}", handle.id);
    };
    op.in_flight[attempt] = DONE;
    match outcome {
        Ok(reply) => {
            if attempt + 1 < op.in_flight.len() {
                log::debug!(
                    "retry {}: late reply to attempt {} wins",
                    op.id,
                    attempt + 1
                );
            }
            finish(app, ctx, handle, Ok(reply));
        }
        Err(e) if e.code() != ErrorCode::Timeout => finish(app, ctx, handle, Err(e)),
        Err(_) => {
            let made = op.in_flight.len();
            let now = ctx.now();
            let all_done = op.in_flight.iter().all(|&m| m == DONE);
            if op.out_of_time(now) {
                if all_done {
                    give_up(app, ctx, handle);
                }
            } else if made < op.plan.attempts as usize {
                if !op.plan.late_replies {
                    match fit(op.plan.delay(attempt), now, op.plan.until) {
                        Duration::ZERO => send_attempt(app, ctx, handle),
                        wait => {
                            ctx.after(wait, move |app, ctx| send_attempt(app, ctx, handle));
                        }
                    }
                }
            } else if all_done {
                let text = format!("RPC failed after {made} attempts");
                finish(app, ctx, handle, Err(Error::new(ErrorCode::Timeout, text)));
            }
        }
    }
}

/// Ends the operation: cancels its attempts still pending and runs its callback once.
fn finish(app: &mut RpcChapter, ctx: &mut Ctx, handle: Handle, outcome: Result<Reply<'_>, Error>) {
    let Some(op) = take(app, handle) else { return };
    cancel_attempts(ctx, &op);
    let waited_ms = op.waited_ms();
    let attempts = op.in_flight.len() as u32;
    let outcome = outcome.map(|reply| Success {
        reply,
        attempts,
        waited_ms,
    });
    (op.done)(app, ctx, outcome);
}
