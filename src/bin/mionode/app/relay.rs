//! `relay {target, payload}` → `relay_ok {attempts, result}`: an RPC retried on timeout.
//!
//! Up to [`Flags::relay_attempts`](super::Flags::relay_attempts) attempts, each with a fresh
//! `msg_id` and [`Flags::relay_timeout`](super::Flags::relay_timeout) to be answered, the next
//! sent as soon as the previous one's time is up; a late reply to an earlier attempt still
//! counts. `attempts` counts the attempts made when the answer came, and `result` is the reply
//! body. Failing every attempt answers error 0 `"RPC failed after N attempts"`. The retry
//! machinery is [`retry`](super::retry)'s.

use mionode::{Error, Request};

use super::bodies::Body;
use super::flags::MAX_FLAG_ATTEMPTS;
use super::outbound::Forward;
use super::retry::{self, Plan};
use super::{Ctx, RpcChapter};

pub(super) fn handle(app: &mut RpcChapter, ctx: &mut Ctx, req: &Request<'_>) -> Result<(), Error> {
    let Forward { target, payload } = Forward::parse(ctx, req)?;
    let to = req.reply_to();
    let plan = Plan {
        attempts: app.flags.relay_attempts.clamp(1, MAX_FLAG_ATTEMPTS),
        timeout: app.flags.relay_timeout,
        delays_ms: Vec::new(),
        late_replies: true,
        until: retry::answer_by(&to),
        adaptive: false,
    };
    let body = payload
        .to_raw()
        .map_err(|e| Error::crash(format!("relay: payload did not serialize: {e}")))?;
    retry::start(
        app,
        ctx,
        &target,
        body,
        plan,
        move |_, ctx, outcome| match outcome {
            Ok(done) => {
                let result = done.reply.raw_body();
                let attempts = done.attempts;
                ctx.reply_later(&to, &Body::RelayOk { attempts, result });
            }
            Err(e) => {
                log::info!("relay for {} failed: {e}", to.dest());
                ctx.reply_error(&to, &e);
            }
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mionode::stats::Counter;
    use mionode::testing::TestNode;
    use serde_json::{json, Value};

    use super::super::{test_node, Flags, RpcChapter};

    fn relay(d: &mut TestNode<RpcChapter>) -> u64 {
        let body = json!({"type":"relay","msg_id":7,"target":"n2","payload":{"type":"read"}});
        attempt(d.deliver("c1", body))
    }

    /// The `msg_id` of the one attempt in `out`.
    fn attempt(out: Vec<Value>) -> u64 {
        assert_eq!(out.len(), 1, "{out:?}");
        let sent = &out[0];
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
        let mut d = test_node(Flags::default(), 0);
        let id = relay(&mut d);
        let answer = d.request("n2", read_ok(id));
        assert_eq!(answer["body"]["type"], "relay_ok");
        assert_eq!(answer["body"]["attempts"], 1);
        assert_eq!(answer["body"]["result"]["value"], 5);
        assert_eq!(answer["body"]["in_reply_to"], 7);
        assert_eq!(d.context().pending_rpcs(), 0);
    }

    #[test]
    fn relay_retries_with_fresh_msg_ids_then_fails_with_error_0() {
        let mut d = test_node(Flags::default(), 0);
        let mut ids = vec![relay(&mut d)];
        for _ in 0..2 {
            assert!(d.advance_ms(499).is_empty(), "retried early");
            ids.push(attempt(d.advance_ms(1)));
        }
        assert_eq!(
            d.context().pending_rpcs(),
            3,
            "earlier attempts still await a late reply"
        );
        assert!(d.advance_ms(499).is_empty());
        let answer = d.advance_ms(1);
        assert_eq!(answer.len(), 1);
        assert_eq!(answer[0]["body"]["code"], 0);
        assert_eq!(answer[0]["body"]["text"], "RPC failed after 3 attempts");
        ids.dedup();
        assert_eq!(ids.len(), 3, "each attempt has its own msg_id");
        assert_eq!(d.context().pending_rpcs(), 0);
        assert_eq!(d.app().stats().retries, 2);
        assert!(d.advance_ms(5000).is_empty());
    }

    #[test]
    fn relay_takes_a_late_reply_to_an_earlier_attempt_and_answers_once() {
        let mut d = test_node(Flags::default(), 0);
        let first = relay(&mut d);
        let second = attempt(d.advance_ms(500));
        let answer = d.request("n2", read_ok(first));
        assert_eq!(answer["body"]["type"], "relay_ok");
        assert_eq!(answer["body"]["attempts"], 2);
        assert_eq!(answer["body"]["result"]["in_reply_to"], first);
        assert_eq!(
            d.context().pending_rpcs(),
            0,
            "the second attempt was given up"
        );
        assert!(d.deliver("n2", read_ok(second)).is_empty());
        assert!(d.deliver("n2", read_ok(first)).is_empty());
        assert!(d.advance_ms(5000).is_empty(), "one answer only");
        assert_eq!(d.context().stats().get(Counter::StaleReplies), 2);
    }

    #[test]
    fn relay_ignores_a_reply_from_another_node_than_its_target() {
        let mut d = test_node(Flags::default(), 0);
        let id = relay(&mut d);
        assert!(d.deliver("c1", read_ok(id)).is_empty());
        assert_eq!(d.context().stats().get(Counter::StaleReplies), 1);
        assert_eq!(d.request("n2", read_ok(id))["body"]["type"], "relay_ok");
    }

    #[test]
    fn relay_passes_an_error_reply_back() {
        let mut d = test_node(Flags::default(), 0);
        let id = relay(&mut d);
        let answer = d.request(
            "n2",
            json!({"type":"error","code":11,"text":"busy","in_reply_to":id}),
        );
        assert_eq!(
            (&answer["body"]["code"], &answer["body"]["text"]),
            (&json!(11), &json!("busy"))
        );
        assert!(d.advance_ms(5000).is_empty(), "no retry after an answer");
    }

    #[test]
    fn relay_to_an_unknown_target_sends_nothing() {
        let mut d = test_node(Flags::default(), 0);
        let answer = d.request(
            "c1",
            json!({"type":"relay","msg_id":2,"target":"n9","payload":{"type":"read"}}),
        );
        assert_eq!(answer["body"]["code"], 1);
        let answer = d.request(
            "c1",
            json!({"type":"relay","msg_id":3,"target":"n2","payload":[1]}),
        );
        assert_eq!(answer["body"]["code"], 12);
        assert_eq!(d.context().pending_rpcs(), 0);
        assert_eq!(d.context().timers_parked(), 0);
    }

    #[test]
    fn backoff_relay_waits_the_schedule_between_attempts() {
        let flags = Flags {
            backoff_attempts: 4,
            ..Flags::default()
        };
        let delays =
            super::super::backoff::schedule(100, 2000, 3, &mut fastrand::Rng::with_seed(9));
        let mut d = test_node(flags, 9);
        let body =
            json!({"type":"backoff_relay","msg_id":4,"target":"n2","payload":{"type":"read"}});
        let mut ids = vec![attempt(d.deliver("c1", body))];
        for &delay in &delays[..2] {
            assert!(
                d.advance_ms(500 + delay - 1).is_empty(),
                "retried before its backoff of {delay} ms"
            );
            ids.push(attempt(d.advance_ms(1)));
        }
        let answer = d.request("n2", read_ok(ids[2]));
        assert_eq!(answer["body"]["type"], "backoff_relay_ok");
        assert_eq!(answer["body"]["attempts"], 3);
        assert_eq!(answer["body"]["total_delay_ms"], delays[0] + delays[1]);
        assert_eq!(d.context().pending_rpcs(), 0);
    }

    #[test]
    fn backoff_relay_fails_after_its_attempts() {
        let flags = Flags {
            backoff_attempts: 3,
            backoff_base: Duration::ZERO,
            ..Flags::default()
        };
        let mut d = test_node(flags, 0);
        let body =
            json!({"type":"backoff_relay","msg_id":4,"target":"n2","payload":{"type":"read"}});
        attempt(d.deliver("c1", body));
        for _ in 0..2 {
            attempt(d.advance_ms(500));
        }
        let answer = d.advance_ms(500);
        assert_eq!(answer[0]["body"]["text"], "RPC failed after 3 attempts");
        assert_eq!(d.context().pending_rpcs(), 0);
    }

    /// Flags built in code take any `Duration`; the planned end and the waits between
    /// attempts overflowed `Instant` and `Duration` and panicked.
    #[test]
    fn huge_configured_durations_do_not_overflow() {
        let flags = Flags {
            relay_timeout: Duration::MAX,
            backoff_base: Duration::from_millis(u64::MAX),
            backoff_max: Duration::MAX,
            backoff_attempt_timeout: Duration::MAX,
            ..Flags::default()
        };
        let mut d = test_node(flags, 0);
        let first = attempt(d.deliver(
            "c1",
            json!({"type":"relay","msg_id":3,"target":"n2","payload":{"type":"read"}}),
        ));
        let body =
            json!({"type":"backoff_relay","msg_id":4,"target":"n2","payload":{"type":"read"}});
        attempt(d.deliver("c1", body));
        assert!(
            d.advance_ms(4000).is_empty(),
            "no retry or timeout before the operation deadline"
        );
        assert_eq!(d.request("n2", read_ok(first))["body"]["type"], "relay_ok");
        // The backoff_relay's endless attempt is cut to the deadline: error 0 by 4.5 s.
        let out = d.advance_ms(500);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0]["body"]["code"], 0);
        assert_eq!(out[0]["body"]["in_reply_to"], 4);
    }
}
