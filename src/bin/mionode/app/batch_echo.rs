//! `batch_echo {values}` → `batch_echo_ok {results}`: one echo RPC to this node per value.
//!
//! Each value goes out as its own `echo` request addressed to this node, through Maelstrom's
//! network and back; the `echo_ok` replies arrive in any order and are put back in the order
//! of `values`. A batch is an entry in [`Batches`], a slab owned by the app; each value's echo
//! is an operation of the [`retry`](super::retry) engine whose callback carries the batch's
//! key and id and the value's index, never a pointer to the batch.
//!
//! An echo that times out is sent again with a fresh `msg_id`, up to
//! [`Flags::rpc_attempts`](super::Flags::rpc_attempts); a reply to an earlier attempt after
//! that is stale. A reply that is not `echo_ok` with an `echo`, an `error` reply, or an echo
//! out of attempts fails the batch: it answers the error and cancels its other echoes still
//! in flight, so a failed batch leaves nothing pending behind.

use std::time::Instant;

use mionode::{Error, ErrorCode, ReplyTo, Request};
use serde::Deserialize;
use serde_json::value::RawValue;
use slab::Slab;

use super::bodies::Body;
use super::retry::{self, Handle, Plan, Success};
use super::{Ctx, RpcChapter};

/// Batches in progress.
#[derive(Default)]
pub(super) struct Batches {
    table: Slab<Batch>,
    /// Id of the next batch; tells a batch from a later one in the same slot.
    next_id: u64,
}

struct Batch {
    id: u64,
    to: ReplyTo,
    started: Instant,
    /// Each value's echo, once it has come back.
    results: Vec<Option<Box<RawValue>>>,
    /// The echo operation of each value.
    echoes: Vec<Handle>,
    /// Values whose echo has not come back.
    remaining: usize,
}

#[derive(Deserialize)]
struct BatchEcho<'a> {
    #[serde(borrow)]
    values: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct EchoReply<'a> {
    #[serde(borrow)]
    echo: &'a RawValue,
}

/// Where a callback's value belongs.
#[derive(Clone, Copy)]
struct Slot {
    key: usize,
    id: u64,
    index: usize,
}

pub(super) fn handle(app: &mut RpcChapter, ctx: &mut Ctx, req: &Request<'_>) -> Result<(), Error> {
    let BatchEcho { values } = req.body()?;
    if values.is_empty() {
        ctx.reply(req, &Body::BatchEchoOk { results: &[] });
        return Ok(());
    }
    let batches = &mut app.batches;
    let id = batches.next_id;
    batches.next_id += 1;
    let count = values.len();
    let key = batches.table.insert(Batch {
        id,
        to: req.reply_to(),
        started: ctx.now(),
        results: (0..count).map(|_| None).collect(),
        echoes: Vec::with_capacity(count),
        remaining: count,
    });
    let me = ctx.node_id().to_owned();
    let until = retry::answer_by(&app.batches.table[key].to);
    for (index, echo) in values.into_iter().enumerate() {
        let body = match serde_json::value::to_raw_value(&Body::Echo { echo }) {
            Ok(body) => body,
            Err(e) => {
                let error = Error::crash(format!("echo {index} did not serialize: {e}"));
                fail(app, ctx, key, error);
                return Ok(());
            }
        };
        let plan = Plan {
            attempts: app.flags.rpc_attempts,
            timeout: app.flags.rpc_timeout,
            delays_ms: Vec::new(),
            late_replies: false,
            until,
            adaptive: true,
        };
        let slot = Slot { key, id, index };
        let echo = retry::start(app, ctx, &me, body, plan, move |app, ctx, outcome| {
            on_echo(app, ctx, slot, outcome)
        });
        app.batches.table[key].echoes.push(echo);
    }
    Ok(())
}

fn on_echo(app: &mut RpcChapter, ctx: &mut Ctx, slot: Slot, outcome: Result<Success<'_>, Error>) {
    let batch = match app.batches.table.get_mut(slot.key) {
        Some(batch) if batch.id == slot.id => batch,
        // Unreachable: a batch cancels its echoes when it ends.
        _ => return debug_assert!(false, "echo for finished batch {}", slot.id),
    };
    let index = slot.index;
    let echo = outcome.and_then(|done| match done.reply.kind() {
        "echo_ok" => done
            .reply
            .body::<EchoReply<'_>>()
            .map(|reply| reply.echo.to_owned()),
        other => Err(Error::crash(format!(
            "reply of type {other:?}, not echo_ok"
        ))),
    });
    match echo {
        Ok(echo) => {
            batch.results[index] = Some(echo);
            batch.remaining -= 1;
            if batch.remaining == 0 {
                finish(app, ctx, slot.key);
            }
        }
        Err(e) if e.code() == ErrorCode::Timeout => {
            let attempts = app.flags.rpc_attempts;
            let text = format!("echo of value {index} timed out after {attempts} attempts");
            fail(app, ctx, slot.key, e.with_text(text));
        }
        Err(e) => {
            let text = format!("echo of value {index} failed: {}", e.text());
            fail(app, ctx, slot.key, e.with_text(text));
        }
    }
}

/// Answers the client with every echo, in order.
fn finish(app: &mut RpcChapter, ctx: &mut Ctx, key: usize) {
    let batch = app.batches.table.remove(key);
    let results: Vec<Box<RawValue>> = batch.results.into_iter().flatten().collect();
    let seconds = ctx
        .now()
        .saturating_duration_since(batch.started)
        .as_secs_f64();
    app.stats.batch_answered(results.len(), seconds);
    ctx.reply_later(&batch.to, &Body::BatchEchoOk { results: &results });
}

/// Answers the client with an error and forgets every echo still in flight.
fn fail(app: &mut RpcChapter, ctx: &mut Ctx, key: usize, error: Error) {
    let batch = app.batches.table.remove(key);
    for &echo in &batch.echoes {
        retry::cancel(app, ctx, echo);
    }
    ctx.warn(format_args!(
        "batch_echo from {} (msg_id {}) failed: {}",
        batch.to.dest(),
        batch.to.in_reply_to(),
        error.text()
    ));
    ctx.reply_error(&batch.to, &error);
}

/// The RPC contract through `batch_echo`: exactly one outcome per echo, retry with fresh
/// msg_ids, nothing left pending.
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mionode::stats::Counter;
    use mionode::testing::TestNode;
    use serde_json::{json, Value};

    use super::super::{Flags, RpcChapter};

    fn node(flags: Flags) -> TestNode<RpcChapter> {
        let mut node = TestNode::new(flags);
        node.init("n1", &["n1"]);
        node
    }

    fn flags() -> Flags {
        Flags {
            rpc_timeout: Duration::from_millis(100),
            rpc_attempts: 3,
            ..Flags::default()
        }
    }

    fn batch(values: Value) -> Value {
        json!({"type":"batch_echo","msg_id":7,"values":values})
    }

    /// Answers an `echo` the node sent to itself.
    fn answer(h: &mut TestNode<RpcChapter>, echo: &Value) -> Vec<Value> {
        h.deliver(
            "n1",
            json!({"type":"echo_ok","echo":echo["body"]["echo"],
                "in_reply_to":echo["body"]["msg_id"]}),
        )
    }

    #[test]
    fn batch_answers_in_order_when_replies_arrive_reversed() {
        let mut h = node(flags());
        let echoes = h.deliver("c1", batch(json!(["a", 2, {"x": [null]}, "a"])));
        assert_eq!(echoes.len(), 4);
        let mut answers = Vec::new();
        for echo in echoes.iter().rev() {
            answers.extend(answer(&mut h, echo));
        }
        assert_eq!(answers.len(), 1);
        assert_eq!(
            answers[0]["body"]["results"],
            json!(["a", 2, {"x": [null]}, "a"])
        );
        assert_eq!(answers[0]["body"]["in_reply_to"], 7);
        assert_eq!(answers[0]["dest"], "c1");
        assert_eq!(h.context().pending_rpcs(), 0);
        assert_eq!(h.app().stats().batches_ok, 1);
    }

    #[test]
    fn an_empty_batch_is_answered_at_once() {
        let mut h = node(flags());
        let answer = h.request("c1", batch(json!([])));
        assert_eq!(answer["body"]["results"], json!([]));
    }

    #[test]
    fn timed_out_echo_is_retried_with_a_fresh_msg_id_and_late_reply_is_stale() {
        let mut h = node(flags());
        let first = h.deliver("c1", batch(json!(["v"])));
        assert!(h.advance_ms(99).is_empty(), "not early");
        let retry = h.advance_ms(1);
        assert_eq!(retry.len(), 1);
        assert_ne!(retry[0]["body"]["msg_id"], first[0]["body"]["msg_id"]);
        assert_eq!(retry[0]["body"]["echo"], "v");
        // The reply to the first attempt is late: dropped, counted, not delivered.
        assert!(answer(&mut h, &first[0]).is_empty());
        assert_eq!(h.context().stats().get(Counter::StaleReplies), 1);
        let done = answer(&mut h, &retry[0]);
        assert_eq!(done[0]["body"]["results"], json!(["v"]));
        assert_eq!(h.app().stats().retries, 1);
    }

    #[test]
    fn batch_fails_with_error_0_after_last_attempt_and_leaves_nothing_pending() {
        let mut h = node(flags());
        let sent = h.deliver("c1", batch(json!([1, 2, 3])));
        // Value 2 comes back; 1 and 3 never do.
        assert!(answer(&mut h, &sent[1]).is_empty());
        let mut out = Vec::new();
        for _ in 0..3 {
            out.extend(h.advance_ms(100));
        }
        let echoes = out.iter().filter(|m| m["body"]["type"] == "echo").count();
        assert_eq!(echoes, 2 * 2, "two retries of two values");
        let errors: Vec<_> = out
            .iter()
            .filter(|m| m["body"]["type"] == "error")
            .collect();
        assert_eq!(errors.len(), 1, "{out:#?}");
        assert_eq!(errors[0]["body"]["code"], 0);
        assert_eq!(errors[0]["body"]["in_reply_to"], 7);
        assert_eq!(h.context().pending_rpcs(), 0);
        assert!(h.node().next_deadline().is_none(), "no timer left behind");
        assert!(h.advance_ms(5000).is_empty());
    }

    #[test]
    fn duplicate_reply_is_counted_and_dropped() {
        let mut h = node(flags());
        let sent = h.deliver("c1", batch(json!(["x", "y"])));
        assert!(answer(&mut h, &sent[0]).is_empty());
        assert!(answer(&mut h, &sent[0]).is_empty(), "duplicate");
        let done = answer(&mut h, &sent[1]);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0]["body"]["results"], json!(["x", "y"]));
        assert_eq!(h.context().stats().get(Counter::StaleReplies), 1);
    }

    #[test]
    fn error_reply_to_an_echo_fails_the_batch_with_its_code() {
        let mut h = node(flags());
        let sent = h.deliver("c1", batch(json!(["x", "y"])));
        let out = h.deliver(
            "n1",
            json!({"type":"error","code":14,"text":"nope",
                "in_reply_to":sent[0]["body"]["msg_id"]}),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["body"]["code"], 14);
        assert_eq!(h.context().pending_rpcs(), 0, "the other echo is cancelled");
        assert!(answer(&mut h, &sent[1]).is_empty());
    }

    #[test]
    fn a_reply_of_another_type_than_echo_ok_fails_the_batch() {
        let mut h = node(flags());
        let sent = h.deliver("c1", batch(json!(["x", "y"])));
        let out = h.deliver(
            "n1",
            json!({"type":"read_ok","echo":"x","in_reply_to":sent[0]["body"]["msg_id"]}),
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0]["body"]["type"], "error");
        assert_eq!(out[0]["body"]["code"], 13);
        assert_eq!(h.context().pending_rpcs(), 0);
    }

    #[test]
    fn interleaved_batches_stay_independent() {
        let mut h = node(flags());
        let mut all = Vec::new();
        for client in 0..10 {
            let values: Vec<Value> = (0..5).map(|i| json!(format!("c{client}-{i}"))).collect();
            all.extend(h.deliver(
                &format!("c{client}"),
                json!({"type":"batch_echo","msg_id":client,"values":values}),
            ));
        }
        // Answer in a scrambled but deterministic order.
        all.sort_by_key(|m| (m["body"]["msg_id"].as_u64().unwrap() * 7919) % 101);
        let mut answers = Vec::new();
        for echo in &all {
            answers.extend(answer(&mut h, echo));
        }
        assert_eq!(answers.len(), 10);
        for a in answers {
            let client = a["dest"].as_str().unwrap();
            let expected: Vec<Value> = (0..5).map(|i| json!(format!("{client}-{i}"))).collect();
            assert_eq!(a["body"]["results"], json!(expected));
        }
    }

    /// `--rpc-timeout-ms` took any u64: the largest wrapped around to a deadline in the past
    /// and timed out at once, and `Duration::MAX` from a library caller overflowed `Instant`.
    /// (The flag is now at most a day; flags built in code still take any `Duration`.)
    #[test]
    fn huge_rpc_timeout_does_not_wrap_into_an_early_deadline() {
        for timeout in [Duration::from_millis(u64::MAX), Duration::MAX] {
            let mut h = node(Flags {
                rpc_timeout: timeout,
                ..flags()
            });
            h.advance_ms(5);
            let sent = h.deliver("c1", batch(json!(["v"])));
            // The first attempt gets the initial adaptive timeout, 1 s, not a wrapped one.
            assert!(h.advance_ms(999).is_empty(), "timed out early");
            assert_eq!(answer(&mut h, &sent[0])[0]["body"]["results"], json!(["v"]));
        }
    }
}
