//! RPC with retry: the engine behind `relay` and `backoff_relay`.
//!
//! An operation sends the same payload up to `attempts` times, each time as a new RPC with a
//! fresh `msg_id`. Attempt `k` is given `timeout` to be answered; if it is not, attempt `k+1`
//! goes out `delays[k]` later (zero for `relay`, the backoff schedule for `backoff_relay`).
//! The waits are [`Context::after`](crate::Context::after) timers on the node's one wheel:
//! nothing sleeps, and nothing polls the operation.
//!
//! # A late reply wins
//!
//! A reply to an earlier attempt that arrives after the next attempt went out, but before any
//! other reply, completes the operation. We chose this over ignoring it because the reply is
//! as good as any: the target handled the payload, and every attempt carries the same one.
//! Waiting for the newest attempt instead would add latency, and under a slow but working
//! target (replies always a little later than `timeout`) would fail an operation whose every
//! attempt was answered.
//!
//! So an attempt's RPC does not end when its own `timeout` passes: every attempt stays pending
//! until the operation's planned end (all attempts, timeouts and delays), and the per-attempt
//! deadline is the wake-up that sends the next attempt. The first reply of any attempt ends
//! the operation and cancels the attempts still pending, so exactly one answer is written and
//! later replies find nothing pending (the RPC layer counts them as stale). The operation fails
//! with error 0 once it has made all its attempts and the last of them has timed out.
//!
//! The cost of this choice: an operation in its third attempt holds three pending RPCs, and
//! `pending_count` shows them. A wake-up left behind by an operation that succeeded early
//! stays on the wheel until its time comes, then finds the operation gone and does nothing.
//!
//! An `error` reply also ends the operation: it is an answer, passed back with its own code
//! and text. Retrying a definite error cannot help, and retrying an indefinite one could make
//! the target act twice.
//!
//! # State
//!
//! An operation outlives many callbacks and wake-ups, and all of them need the same state: the
//! payload to resend, the attempts still pending to cancel, whom to answer. So it is an entry
//! in [`Relays`], a slab owned by the handlers, and the callbacks and wake-ups carry its key
//! and id (the slab reuses keys; the id tells operations apart).

use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use slab::Slab;

use super::outbound::{Caller, Payload};
use crate::context::{Request, RpcError, RpcResult};
use crate::protocol::{Body, ErrorCode};
use crate::Node;

/// `in_flight` marker of an attempt that is no longer pending.
const DONE: u64 = u64::MAX;

/// Most attempts one operation makes, whatever its configuration asks: bounds the memory a
/// request can cost. (The binary's flags refuse more.)
pub(super) const MAX_ATTEMPTS: u32 = 65;

/// Longest an operation plans ahead: a century is as good as never, and `Instant` holds it
/// with room to spare, where `now + Duration::MAX` would overflow and panic.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Operations in progress.
#[derive(Default)]
pub(crate) struct Relays {
    table: Slab<Relay>,
    /// Id of the next operation; tells it from a later one in the same slot.
    next_id: u64,
}

/// Which request started an operation, and so how its success is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `relay`: answers `relay_ok {attempts, result}`.
    Relay,
    /// `backoff_relay`: answers `backoff_relay_ok {attempts, total_delay_ms}`.
    Backoff,
}

impl Kind {
    /// The request type, for logs.
    fn name(self) -> &'static str {
        match self {
            Kind::Relay => "relay",
            Kind::Backoff => "backoff_relay",
        }
    }
}

/// How an operation retries.
pub(super) struct Plan {
    pub(super) kind: Kind,
    /// How long each attempt is given before the next one is prepared.
    pub(super) timeout: Duration,
    /// Milliseconds to wait, after attempt `k` timed out, before attempt `k+1`; one fewer
    /// than the attempts.
    pub(super) delays_ms: Vec<u64>,
}

struct Relay {
    id: u64,
    caller: Caller,
    target: String,
    payload: Box<RawValue>,
    plan: Plan,
    /// The planned end: when the last attempt's timeout passes if every wait is on time.
    end: Instant,
    /// `msg_id` of each attempt made, or [`DONE`] once it timed out.
    in_flight: Vec<u64>,
}

impl Relay {
    fn max_attempts(&self) -> usize {
        self.plan.delays_ms.len() + 1
    }

    /// Milliseconds waited before the attempts made so far.
    fn total_delay_ms(&self) -> u64 {
        let waited = self.in_flight.len().saturating_sub(1);
        self.plan.delays_ms[..waited].iter().sum()
    }
}

/// Where a callback or wake-up belongs.
#[derive(Clone, Copy)]
struct Slot {
    key: usize,
    id: u64,
}

/// Starts an operation that sends `payload` to `target` as `plan` says, answering `req` when
/// it ends.
pub(super) fn start(
    node: &mut Node,
    req: &Request<'_>,
    target: &str,
    payload: &Payload<'_>,
    plan: Plan,
) {
    // Attempts resend the same bytes: render them once.
    let payload = match payload.to_raw() {
        Ok(raw) => raw,
        Err(e) => {
            let text = format!("{}: payload did not serialize: {e}", req.kind);
            return node.ctx.reply_error(req, ErrorCode::Crash.code(), &text);
        }
    };
    debug_assert!(plan.delays_ms.len() < MAX_ATTEMPTS as usize);
    let now = node.ctx.now();
    let attempts = plan.delays_ms.len() as u32 + 1;
    // Saturating: a `Config` built in code may hold any `Duration`.
    let waits = plan
        .delays_ms
        .iter()
        .fold(0, |sum: u64, &d| sum.saturating_add(d));
    let span = plan.timeout.saturating_mul(attempts);
    let end = now
        + span
            .saturating_add(Duration::from_millis(waits))
            .min(FOREVER);
    let relays = &mut node.handlers.relays;
    let id = relays.next_id;
    relays.next_id += 1;
    let key = relays.table.insert(Relay {
        id,
        caller: Caller::of(req),
        target: target.to_owned(),
        payload,
        plan,
        end,
        in_flight: Vec::with_capacity(attempts as usize),
    });
    send_attempt(node, Slot { key, id });
}

/// Sends the next attempt and, unless it is the last, sets the wake-up for the one after.
fn send_attempt(node: &mut Node, slot: Slot) {
    let Node { ctx, handlers, .. } = node;
    let Some(relay) = handlers.relays.table.get_mut(slot.key) else {
        return;
    };
    let attempt = relay.in_flight.len();
    let timeout = relay.plan.timeout;
    if attempt > 0 {
        ctx.stats_mut().retries += 1;
        log::debug!(
            "{} {} to {}: attempt {} timed out, sending attempt {}",
            relay.plan.kind.name(),
            relay.id,
            relay.target,
            attempt,
            attempt + 1
        );
    }
    // Every attempt stays pending until the planned end (see the module docs); the last one,
    // sent late by a busy loop, still gets its full timeout.
    let until_end = relay.end.saturating_duration_since(ctx.now()).max(timeout);
    let sent = ctx.rpc(
        &relay.target,
        &*relay.payload,
        until_end,
        move |node: &mut Node, outcome| on_outcome(node, slot, attempt, outcome),
    );
    match sent {
        Ok(msg_id) => relay.in_flight.push(msg_id),
        Err(e) => {
            let text = format!("could not send attempt {}: {e}", attempt + 1);
            return finish(node, slot.key, Err((ErrorCode::Crash.code(), &text)));
        }
    }
    if relay.in_flight.len() < relay.max_attempts() {
        let wait = timeout.saturating_add(Duration::from_millis(relay.plan.delays_ms[attempt]));
        ctx.after(wait, move |node: &mut Node| {
            let current = node.handlers.relays.table.get(slot.key);
            // Gone, or a newer operation in the slot: this one ended before its next attempt.
            if current.is_some_and(|r| r.id == slot.id) {
                send_attempt(node, slot);
            }
        });
    }
}

fn on_outcome(node: &mut Node, slot: Slot, attempt: usize, outcome: RpcResult<'_>) {
    let relay = match node.handlers.relays.table.get_mut(slot.key) {
        Some(relay) if relay.id == slot.id => relay,
        // Unreachable: an operation cancels its pending attempts when it ends.
        _ => return debug_assert!(false, "outcome for finished operation {}", slot.id),
    };
    match outcome {
        Ok(body) => {
            if attempt + 1 < relay.in_flight.len() {
                log::debug!(
                    "{} {}: late reply to attempt {} wins",
                    relay.plan.kind.name(),
                    relay.id,
                    attempt + 1
                );
            }
            relay.in_flight[attempt] = DONE;
            finish(node, slot.key, Ok(body));
        }
        Err(RpcError::Remote { code, text }) => {
            relay.in_flight[attempt] = DONE;
            finish(node, slot.key, Err((code, &text)));
        }
        Err(RpcError::Timeout) => {
            relay.in_flight[attempt] = DONE;
            let all_made = relay.in_flight.len() == relay.max_attempts();
            if all_made && relay.in_flight.iter().all(|&m| m == DONE) {
                let text = format!("RPC failed after {} attempts", relay.in_flight.len());
                finish(node, slot.key, Err((ErrorCode::Timeout.code(), &text)));
            }
        }
    }
}

/// Ends the operation: cancels its attempts still pending and answers its caller once.
fn finish(node: &mut Node, key: usize, outcome: Result<&RawValue, (u32, &str)>) {
    let relay = node.handlers.relays.table.remove(key);
    for &msg_id in relay.in_flight.iter().filter(|&&m| m != DONE) {
        node.ctx.cancel_rpc(msg_id);
    }
    let attempts = relay.in_flight.len() as u32;
    let ctx = &mut node.ctx;
    match (outcome, relay.plan.kind) {
        (Ok(result), Kind::Relay) => {
            relay
                .caller
                .answer(ctx, &Body::RelayOk { attempts, result });
        }
        (Ok(_), Kind::Backoff) => {
            let total_delay_ms = relay.total_delay_ms();
            let body = Body::BackoffRelayOk {
                attempts,
                total_delay_ms,
            };
            relay.caller.answer(ctx, &body);
        }
        (Err((code, text)), kind) => {
            let name = kind.name();
            log::info!("{name} {} to {} failed: {text}", relay.id, relay.target);
            relay.caller.error(ctx, code, text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Driver;
    use crate::Config;
    use serde_json::{json, Value};

    fn relay(d: &mut Driver) -> u64 {
        let body = json!({"type":"relay","msg_id":7,"target":"n2","payload":{"type":"read"}});
        d.receive("c1", body);
        attempt(d)
    }

    /// The `msg_id` of the one attempt just sent.
    fn attempt(d: &mut Driver) -> u64 {
        let sent = d.one();
        assert_eq!(
            (&sent["dest"], &sent["body"]["type"]),
            (&json!("n2"), &json!("read"))
        );
        sent["body"]["msg_id"].as_u64().unwrap()
    }

    fn read_ok(in_reply_to: u64) -> Value {
        json!({"type":"read_ok","value":5,"in_reply_to":in_reply_to})
    }

    #[test]
    fn relay_answers_with_the_first_reply() {
        let mut d = Driver::new(Config::default());
        let id = relay(&mut d);
        d.receive("n2", read_ok(id));
        let answer = d.one();
        assert_eq!(answer["body"]["type"], "relay_ok");
        assert_eq!(answer["body"]["attempts"], 1);
        assert_eq!(answer["body"]["result"]["value"], 5);
        assert_eq!(answer["body"]["in_reply_to"], 7);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn relay_retries_with_fresh_msg_ids_then_fails_with_error_0() {
        let mut d = Driver::new(Config::default());
        let mut ids = vec![relay(&mut d)];
        for _ in 0..2 {
            d.advance(499);
            assert!(d.output().is_empty(), "retried early");
            d.advance(1);
            ids.push(attempt(&mut d));
        }
        assert_eq!(d.pending(), 3, "earlier attempts still await a late reply");
        d.advance(499);
        assert!(d.output().is_empty());
        d.advance(1);
        let answer = d.one();
        assert_eq!(answer["body"]["code"], 0);
        assert_eq!(answer["body"]["text"], "RPC failed after 3 attempts");
        ids.dedup();
        assert_eq!(ids.len(), 3, "each attempt has its own msg_id");
        assert_eq!(d.pending(), 0);
        assert_eq!(d.node.ctx.stats().retries, 2);
        d.advance(5000);
        assert!(d.output().is_empty());
    }

    #[test]
    fn relay_takes_a_late_reply_to_an_earlier_attempt_and_answers_once() {
        let mut d = Driver::new(Config::default());
        let first = relay(&mut d);
        d.advance(500);
        let second = attempt(&mut d);
        d.receive("n2", read_ok(first));
        let answer = d.one();
        assert_eq!(answer["body"]["type"], "relay_ok");
        assert_eq!(answer["body"]["attempts"], 2);
        assert_eq!(answer["body"]["result"]["in_reply_to"], first);
        assert_eq!(d.pending(), 0, "the second attempt was given up");
        d.receive("n2", read_ok(second));
        d.receive("n2", read_ok(first));
        d.advance(5000);
        assert!(d.output().is_empty(), "one answer only");
        assert_eq!(d.node.ctx.stats().stale_replies, 2);
    }

    #[test]
    fn relay_passes_an_error_reply_back() {
        let mut d = Driver::new(Config::default());
        let id = relay(&mut d);
        d.receive(
            "n2",
            json!({"type":"error","code":11,"text":"busy","in_reply_to":id}),
        );
        let answer = d.one();
        assert_eq!(
            (&answer["body"]["code"], &answer["body"]["text"]),
            (&json!(11), &json!("busy"))
        );
        d.advance(5000);
        assert!(d.output().is_empty(), "no retry after an answer");
    }

    #[test]
    fn relay_to_an_unknown_target_sends_nothing() {
        let mut d = Driver::new(Config::default());
        d.receive(
            "c1",
            json!({"type":"relay","msg_id":2,"target":"n9","payload":{"type":"read"}}),
        );
        assert_eq!(d.one()["body"]["code"], 1);
        d.receive(
            "c1",
            json!({"type":"relay","msg_id":3,"target":"n2","payload":[1]}),
        );
        assert_eq!(d.one()["body"]["code"], 12);
        assert_eq!(d.pending(), 0);
        assert_eq!(d.node.ctx.timers_parked(), 0);
    }

    #[test]
    fn backoff_relay_waits_the_schedule_between_attempts() {
        let config = Config {
            seed: Some(9),
            backoff_attempts: 4,
            ..Config::default()
        };
        let delays =
            super::super::backoff::schedule(100, 2000, 3, &mut fastrand::Rng::with_seed(9));
        let mut d = Driver::new(config);
        let body =
            json!({"type":"backoff_relay","msg_id":4,"target":"n2","payload":{"type":"read"}});
        d.receive("c1", body);
        let mut ids = vec![attempt(&mut d)];
        for &delay in &delays[..2] {
            d.advance(500 + delay - 1);
            assert!(
                d.output().is_empty(),
                "retried before its backoff of {delay} ms"
            );
            d.advance(1);
            ids.push(attempt(&mut d));
        }
        d.receive("n2", read_ok(ids[2]));
        let answer = d.one();
        assert_eq!(answer["body"]["type"], "backoff_relay_ok");
        assert_eq!(answer["body"]["attempts"], 3);
        assert_eq!(answer["body"]["total_delay_ms"], delays[0] + delays[1]);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn backoff_relay_fails_after_its_attempts() {
        let config = Config {
            backoff_attempts: 3,
            backoff_base: std::time::Duration::ZERO,
            ..Config::default()
        };
        let mut d = Driver::new(config);
        let body =
            json!({"type":"backoff_relay","msg_id":4,"target":"n2","payload":{"type":"read"}});
        d.receive("c1", body);
        attempt(&mut d);
        for _ in 0..2 {
            d.advance(500);
            attempt(&mut d);
        }
        d.advance(500);
        assert_eq!(d.one()["body"]["text"], "RPC failed after 3 attempts");
        assert_eq!(d.pending(), 0);
    }

    /// A `Config` built in code takes any `Duration`; the planned end and the waits between
    /// attempts overflowed `Instant` and `Duration` and panicked.
    #[test]
    fn huge_configured_durations_do_not_overflow() {
        use std::time::Duration;
        let config = Config {
            relay_timeout: Duration::MAX,
            backoff_base: Duration::from_millis(u64::MAX),
            backoff_max: Duration::MAX,
            backoff_attempt_timeout: Duration::MAX,
            ..Config::default()
        };
        let mut d = Driver::new(config);
        d.receive(
            "c1",
            json!({"type":"relay","msg_id":3,"target":"n2","payload":{"type":"read"}}),
        );
        let first = attempt(&mut d);
        let body =
            json!({"type":"backoff_relay","msg_id":4,"target":"n2","payload":{"type":"read"}});
        d.receive("c1", body);
        attempt(&mut d);
        d.advance(3_600_000);
        assert!(d.output().is_empty(), "no retry or timeout within an hour");
        d.receive("n2", read_ok(first));
        assert_eq!(d.one()["body"]["type"], "relay_ok");
    }
}
