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
//! # State
//!
//! An operation outlives many callbacks and wake-ups, and all of them need the same state:
//! the body to resend, the attempts still pending to cancel, the callback to run. So it is an
//! entry in [`Retries`], a slab the app owns, and the callbacks and wake-ups carry its
//! [`Handle`] (the slab reuses keys; the id tells operations apart).

use std::time::{Duration, Instant};

use mionode::{Error, ErrorCode, MsgId, Reply};
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
    let end = ctx.now() + span.min(FOREVER);
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
    let attempt = op.in_flight.len();
    let timeout = op.plan.timeout;
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
        op.end.saturating_duration_since(ctx.now()).max(timeout)
    } else {
        timeout
    };
    let msg_id = ctx.rpc(&op.target, &*op.body, deadline, move |app, ctx, outcome| {
        on_outcome(app, ctx, handle, attempt, outcome)
    });
    op.in_flight.push(msg_id);
    if op.plan.late_replies && op.in_flight.len() < op.plan.attempts as usize {
        let wait = timeout.saturating_add(op.plan.delay(attempt));
        ctx.after(wait, move |app, ctx| send_attempt(app, ctx, handle));
    }
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
            if made < op.plan.attempts as usize {
                if !op.plan.late_replies {
                    match op.plan.delay(attempt) {
                        Duration::ZERO => send_attempt(app, ctx, handle),
                        wait => {
                            ctx.after(wait, move |app, ctx| send_attempt(app, ctx, handle));
                        }
                    }
                }
            } else if op.in_flight.iter().all(|&m| m == DONE) {
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
