//! RPC with retry: the one engine behind `relay`, `backoff_relay` and the echoes of a
//! `batch_echo`. It runs "an RPC with attempts and a per-attempt deadline, then a callback",
//! or many such RPCs as one operation (a fan-out, below).
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
//! Either way the first reply ends the operation (of a fan-out: the part) and cancels its
//! attempts still pending, so exactly one outcome is delivered. An `error` reply also ends
//! it, passed on as it came: retrying a definite error cannot help, and retrying an
//! indefinite one could make the target act twice. (An error reply with code 0, a timeout the peer reports, counts as the
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
//! # Fan-out
//!
//! An operation has one part per body it sends: one for `relay` and `backoff_relay`, one per
//! value for `batch_echo` ([`fan_out`]). Each part makes its own attempts as above; the
//! operation succeeds once every part has (its callback gets the last reply), and fails with
//! the first part that fails (the others are cancelled). A fan-out keeps its values as the
//! text of one JSON array and sends part `i` as `{"type": kind, field: values[i]}`, so a batch
//! of any size costs a few allocations, not a few per value. It paces itself: it starts as many
//! parts as the runtime's window has room for (at least one) and, as each part succeeds,
//! fills the room again, so its requests wait in the batch, not serialized in the window's
//! queue. Each reply is checked by the fan-out's [`Check`] before it counts, and the
//! fan-out's callback gets its [`Values`] back.
//!
//! # State
//!
//! An operation outlives many callbacks and wake-ups, and all of them need the same state:
//! the bodies to resend, the attempts still pending to cancel, the callback to run. So it is
//! an entry in [`Retries`], a slab the app owns, and the callbacks and wake-ups carry its
//! [`Handle`] and the part's index (the slab reuses keys; the id tells operations apart).

use std::fmt;
use std::time::{Duration, Instant};

use mionode::{Error, ErrorCode, MsgId, Reply, ReplyTo};
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use slab::Slab;

use super::{Ctx, RpcChapter};

/// `pending` marker of a part with no attempt pending.
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
    /// Whether a reply to an earlier attempt still ends the operation (see the module docs);
    /// only for operations of one part.
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

/// The values of a fan-out: the text of a JSON array, where each element is in it, and how
/// a reply to one is checked.
pub(super) struct Values {
    /// Part `i` sends `{"type": kind, field: element i}`.
    kind: &'static str,
    field: &'static str,
    check: Check,
    array: Box<RawValue>,
    /// Byte range of each element in `array`.
    spans: Vec<(u32, u32)>,
}

impl Values {
    /// The elements of `array` (a JSON array as read), to be sent one per request as
    /// `{"type": kind, field: element}`, each reply checked by `check`. `None` if `array` is
    /// not an array or longer than 4 GiB.
    pub(super) fn new(
        kind: &'static str,
        field: &'static str,
        check: Check,
        array: &RawValue,
    ) -> Option<Values> {
        let text = array.get();
        u32::try_from(text.len()).ok()?;
        let mut reader = serde_json::Deserializer::from_str(text);
        let spans = reader.deserialize_seq(SpanVisitor { text }).ok()?;
        Some(Values {
            kind,
            field,
            check,
            array: array.to_owned(),
            spans,
        })
    }

    /// Number of elements.
    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there is no element.
    pub(super) fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The text of element `i`.
    pub(super) fn text(&self, i: usize) -> &str {
        let (from, to) = self.spans[i];
        &self.array.get()[from as usize..to as usize]
    }

    /// The whole array, as it was read.
    pub(super) fn array(&self) -> &RawValue {
        &self.array
    }
}

/// Reads a JSON array into the byte range of each element in `text`, the array's own text.
struct SpanVisitor<'a> {
    text: &'a str,
}

impl<'de> Visitor<'de> for SpanVisitor<'de> {
    type Value = Vec<(u32, u32)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let base = self.text.as_ptr() as usize;
        let mut spans = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(element) = seq.next_element::<&RawValue>()? {
            // Borrowed from `text`, which is shorter than 4 GiB.
            let at = element.get().as_ptr() as usize - base;
            spans.push((at as u32, (at + element.get().len()) as u32));
        }
        Ok(spans)
    }
}

/// The body of one attempt: an operation's body, or a fan-out's `{"type": kind, field: value}`.
enum AttemptBody<'a> {
    Raw(&'a RawValue),
    Field {
        kind: &'a str,
        field: &'a str,
        value: &'a RawValue,
    },
}

impl Serialize for AttemptBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            AttemptBody::Raw(body) => body.serialize(serializer),
            AttemptBody::Field { kind, field, value } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("type", kind)?;
                map.serialize_entry(field, value)?;
                map.end()
            }
        }
    }
}

/// What an operation sends.
pub(super) enum Payload {
    /// One part, this body on every attempt.
    Body(Box<RawValue>),
    /// One part per value.
    Values(Values),
}

impl Payload {
    fn parts(&self) -> usize {
        match self {
            Payload::Body(_) => 1,
            Payload::Values(values) => values.len(),
        }
    }
}

/// Checks a reply to a fan-out's part before it counts: given the text of the value the part
/// sent and the reply, `Err` fails the operation.
pub(super) type Check = fn(&str, &Reply<'_>) -> Result<(), Error>;

/// What a successful operation of one part hands its callback.
pub(super) struct Success<'r> {
    /// The reply that ended it.
    pub(super) reply: Reply<'r>,
    /// Attempts made, the successful one included.
    pub(super) attempts: u32,
    /// Milliseconds waited between the attempts made.
    pub(super) waited_ms: u64,
}

/// Why an operation failed.
pub(super) struct Failure {
    /// The part that failed.
    pub(super) part: usize,
    pub(super) error: Error,
}

/// What runs when an operation ends: with the last part's [`Success`] and what it sent, or why
/// it failed.
type Done =
    Box<dyn for<'r> FnOnce(&mut RpcChapter, &mut Ctx, Result<(Success<'r>, Payload), Failure>)>;

/// Operations in progress.
#[derive(Default)]
pub(super) struct Retries {
    table: Slab<Operation>,
    /// Id of the next operation; tells it from a later one in the same slot.
    next_id: u64,
}

/// One part's attempts.
#[derive(Clone, Copy)]
struct Part {
    /// Attempts made.
    made: u32,
    /// `msg_id` of its newest attempt while that is pending, else [`DONE`].
    pending: MsgId,
}

struct Operation {
    id: u64,
    target: Box<str>,
    payload: Payload,
    plan: Plan,
    /// The planned end: when the last attempt's timeout passes if every wait is on time.
    end: Instant,
    parts: Vec<Part>,
    /// Parts started so far: parts `0..started`.
    started: usize,
    /// Parts not yet answered.
    remaining: usize,
    /// Earlier attempts still pending (`late_replies` plans): part, attempt, `msg_id`.
    late: Vec<(usize, usize, MsgId)>,
    done: Done,
}

impl Operation {
    /// Whether the operation's deadline has come at `now`.
    fn out_of_time(&self, now: Instant) -> bool {
        self.plan.until.is_some_and(|until| now >= until)
    }

    fn waited_ms(&self, part: usize) -> u64 {
        let waited = self.parts[part].made.saturating_sub(1) as usize;
        (0..waited).fold(0u64, |sum, k| {
            sum.saturating_add(self.plan.delays_ms.get(k).copied().unwrap_or(0))
        })
    }

    /// Whether `part` has no attempt pending.
    fn idle(&self, part: usize) -> bool {
        self.parts[part].pending == DONE && !self.late.iter().any(|l| l.0 == part)
    }
}

/// Names an operation, for its callbacks and wake-ups.
#[derive(Debug, Clone, Copy)]
pub(super) struct Handle {
    key: usize,
    id: u64,
}

/// Starts an operation that sends `body` to `target` as `plan` says; `done` runs once with
/// its outcome, from a later event (never inside this call).
pub(super) fn start<F>(
    app: &mut RpcChapter,
    ctx: &mut Ctx,
    target: &str,
    body: Box<RawValue>,
    plan: Plan,
    done: F,
) where
    F: for<'r> FnOnce(&mut RpcChapter, &mut Ctx, Result<Success<'r>, Error>) + 'static,
{
    let done = move |app: &mut RpcChapter,
                     ctx: &mut Ctx,
                     outcome: Result<(Success<'_>, Payload), Failure>| {
        done(
            app,
            ctx,
            outcome.map(|(success, _)| success).map_err(|f| f.error),
        )
    };
    begin(app, ctx, target, Payload::Body(body), plan, Box::new(done));
}

/// Starts an operation that sends each of `values` to `target` as `plan` says (one part per
/// value, paced by the window), checking each reply with the values' [`Check`]; `done` runs
/// once, from a later event: with the values back when every part has succeeded, or with the
/// first part that failed. `values` must not be empty.
pub(super) fn fan_out<F>(
    app: &mut RpcChapter,
    ctx: &mut Ctx,
    target: &str,
    values: Values,
    plan: Plan,
    done: F,
) where
    F: FnOnce(&mut RpcChapter, &mut Ctx, Result<Values, Failure>) + 'static,
{
    debug_assert!(!values.is_empty() && !plan.late_replies);
    let done = move |app: &mut RpcChapter,
                     ctx: &mut Ctx,
                     outcome: Result<(Success<'_>, Payload), Failure>| {
        let values = outcome.map(|(_, payload)| match payload {
            Payload::Values(values) => values,
            Payload::Body(_) => unreachable!("a fan-out sends values"),
        });
        done(app, ctx, values)
    };
    begin(
        app,
        ctx,
        target,
        Payload::Values(values),
        plan,
        Box::new(done),
    );
}

fn begin(
    app: &mut RpcChapter,
    ctx: &mut Ctx,
    target: &str,
    payload: Payload,
    plan: Plan,
    done: Done,
) {
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
    let parts = payload.parts();
    let retries = &mut app.retries;
    let id = retries.next_id;
    retries.next_id += 1;
    let key = retries.table.insert(Operation {
        id,
        target: target.into(),
        payload,
        plan,
        end,
        parts: vec![
            Part {
                made: 0,
                pending: DONE
            };
            parts
        ],
        started: 0,
        remaining: parts,
        late: Vec::new(),
        done,
    });
    start_parts(app, ctx, Handle { key, id });
}

/// Starts parts not yet started while the window has room, and at least one.
fn start_parts(app: &mut RpcChapter, ctx: &mut Ctx, handle: Handle) {
    let busy = ctx.rpcs_in_flight() + ctx.rpcs_queued();
    let room = ctx.config().rpc_window.saturating_sub(busy).max(1);
    for _ in 0..room {
        let Some(op) = get(app, handle) else { return };
        if op.started == op.parts.len() {
            return;
        }
        let part = op.started;
        op.started += 1;
        send_attempt(app, ctx, handle, part);
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
    let pending = op.parts.iter().map(|p| p.pending).filter(|&m| m != DONE);
    for msg_id in pending.chain(op.late.iter().map(|l| l.2)) {
        ctx.cancel_rpc(msg_id);
    }
}

/// Sends the next attempt of `part` and, if late replies are accepted and more attempts are
/// planned, the wake-up for the one after.
fn send_attempt(app: &mut RpcChapter, ctx: &mut Ctx, handle: Handle, part: usize) {
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
        if op.idle(part) {
            ctx.after(Duration::ZERO, move |app, ctx| {
                give_up(app, ctx, handle, part)
            });
        }
        return;
    }
    let attempt = op.parts[part].made as usize;
    let timeout = fit(op.plan.timeout, ctx.now(), op.plan.until);
    if attempt > 0 {
        stats.retried();
        log::debug!(
            "retry {} to {}: attempt {} of part {part} timed out, sending attempt {}",
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
        on_outcome(app, ctx, handle, part, attempt, outcome)
    };
    let body = match &op.payload {
        Payload::Body(body) => AttemptBody::Raw(body),
        Payload::Values(values) => AttemptBody::Field {
            kind: values.kind,
            field: values.field,
            // Read as JSON when the operation began: this cannot fail.
            value: serde_json::from_str(values.text(part)).expect("an element read before"),
        },
    };
    let msg_id = if op.plan.adaptive {
        // Time waiting for room in the window is not the attempt's: only the operation's
        // end bounds it.
        let until = op.plan.until.unwrap_or(op.end);
        let retries = u32::try_from(attempt).unwrap_or(u32::MAX);
        ctx.rpc_rto(&op.target, &body, retries, op.plan.timeout, until, callback)
    } else {
        ctx.rpc(&op.target, &body, deadline, callback)
    };
    let state = &mut op.parts[part];
    if state.pending != DONE {
        op.late.push((part, attempt - 1, state.pending));
    }
    state.pending = msg_id;
    state.made += 1;
    if op.plan.late_replies && (state.made as usize) < op.plan.attempts as usize {
        let wait = timeout.saturating_add(op.plan.delay(attempt));
        if !op.out_of_time(ctx.now() + wait) {
            ctx.after(wait, move |app, ctx| send_attempt(app, ctx, handle, part));
        }
    }
}

/// Ends the operation with error 0 once its deadline has come.
fn give_up(app: &mut RpcChapter, ctx: &mut Ctx, handle: Handle, part: usize) {
    let Some(op) = get(app, handle) else { return };
    let made = op.parts[part].made;
    let text = format!("RPC failed after {made} attempts: no time left before the deadline");
    let error = Error::new(ErrorCode::Timeout, text);
    finish(app, ctx, handle, Err(Failure { part, error }));
}

fn on_outcome(
    app: &mut RpcChapter,
    ctx: &mut Ctx,
    handle: Handle,
    part: usize,
    attempt: usize,
    outcome: Result<Reply<'_>, Error>,
) {
    let Some(op) = get(app, handle) else {
        // Unreachable: an operation cancels its pending attempts when it ends.
        return debug_assert!(false, "outcome for finished operation {}", handle.id);
    };
    let state = &mut op.parts[part];
    if attempt + 1 == state.made as usize {
        state.pending = DONE;
    } else {
        op.late.retain(|l| (l.0, l.1) != (part, attempt));
    }
    match outcome {
        Ok(reply) => {
            if attempt + 1 < op.parts[part].made as usize {
                log::debug!(
                    "retry {}: late reply to attempt {} wins",
                    op.id,
                    attempt + 1
                );
            }
            if let Payload::Values(values) = &op.payload {
                if let Err(error) = (values.check)(values.text(part), &reply) {
                    return finish(app, ctx, handle, Err(Failure { part, error }));
                }
            }
            op.remaining -= 1;
            if op.remaining == 0 {
                finish(app, ctx, handle, Ok((part, reply)));
            } else {
                // A part done leaves room in the window for the next.
                start_parts(app, ctx, handle);
            }
        }
        Err(error) if error.code() != ErrorCode::Timeout => {
            finish(app, ctx, handle, Err(Failure { part, error }))
        }
        Err(_) => {
            let made = op.parts[part].made as usize;
            let now = ctx.now();
            let idle = op.idle(part);
            if op.out_of_time(now) {
                if idle {
                    give_up(app, ctx, handle, part);
                }
            } else if made < op.plan.attempts as usize {
                if !op.plan.late_replies {
                    match fit(op.plan.delay(attempt), now, op.plan.until) {
                        Duration::ZERO => send_attempt(app, ctx, handle, part),
                        wait => {
                            ctx.after(wait, move |app, ctx| send_attempt(app, ctx, handle, part));
                        }
                    }
                }
            } else if idle {
                let text = format!("RPC failed after {made} attempts");
                let error = Error::new(ErrorCode::Timeout, text);
                finish(app, ctx, handle, Err(Failure { part, error }));
            }
        }
    }
}

/// Ends the operation: cancels its attempts still pending and runs its callback once.
fn finish(
    app: &mut RpcChapter,
    ctx: &mut Ctx,
    handle: Handle,
    outcome: Result<(usize, Reply<'_>), Failure>,
) {
    let Some(op) = take(app, handle) else { return };
    cancel_attempts(ctx, &op);
    let outcome = match outcome {
        Ok((part, reply)) => {
            let success = Success {
                reply,
                attempts: op.parts[part].made,
                waited_ms: op.waited_ms(part),
            };
            Ok((success, op.payload))
        }
        Err(failure) => Err(failure),
    };
    (op.done)(app, ctx, outcome);
}
