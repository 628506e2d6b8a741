//! `batch_echo {values}` → `batch_echo_ok {results}`: one echo RPC to this node per value.
//!
//! Each value goes out as its own `echo` request addressed to this node, through Maelstrom's
//! network and back; the `echo_ok` replies arrive in any order. A batch is one fan-out
//! operation of the [`retry`](super::retry) engine, which keeps the values as the text of the
//! request's array, sends as many echoes as the window has room for and one more as each
//! comes back.
//!
//! An echo that times out is sent again with a fresh `msg_id`, up to
//! [`Flags::rpc_attempts`](super::Flags::rpc_attempts); a reply to an earlier attempt after
//! that is stale. A reply that is not `echo_ok`, an `echo` that is not the value sent (as JSON:
//! a network may re-encode it), an `error` reply, or an echo out of attempts fails the batch: it
//! answers the error and cancels its other echoes still in flight, so a failed batch leaves
//! nothing pending behind. Once every echo has come back the answer's `results` is the
//! request's `values`, as it was read.

use mionode::{Error, ErrorCode, Reply, Request};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::bodies::Body;
use super::retry::{self, Failure, Plan, Values};
use super::{Ctx, RpcChapter};

#[derive(Deserialize)]
struct BatchEcho<'a> {
    #[serde(borrow)]
    values: &'a RawValue,
}

#[derive(Deserialize)]
struct EchoReply<'a> {
    #[serde(borrow)]
    echo: &'a RawValue,
}

pub(super) fn handle(app: &mut RpcChapter, ctx: &mut Ctx, req: &Request<'_>) -> Result<(), Error> {
    let BatchEcho { values } = req.body()?;
    let values = Values::new("echo", "echo", check_echo, values)
        .ok_or_else(|| Error::malformed("malformed batch_echo: values is not an array"))?;
    if values.is_empty() {
        ctx.reply(
            req,
            &Body::BatchEchoOk {
                results: values.array(),
            },
        );
        return Ok(());
    }
    let to = req.reply_to();
    let started = ctx.now();
    let plan = Plan {
        attempts: app.flags.rpc_attempts,
        timeout: app.flags.rpc_timeout,
        delays_ms: Vec::new(),
        late_replies: false,
        until: retry::answer_by(&to),
        adaptive: true,
    };
    let me = ctx.node_id().to_owned();
    let attempts = app.flags.rpc_attempts;
    retry::fan_out(
        app,
        ctx,
        &me,
        values,
        plan,
        move |app, ctx, outcome| match outcome {
            Ok(values) => {
                let seconds = ctx.now().saturating_duration_since(started).as_secs_f64();
                app.stats.batch_answered(values.len(), seconds);
                ctx.reply_later(
                    &to,
                    &Body::BatchEchoOk {
                        results: values.array(),
                    },
                );
            }
            Err(Failure { part, error }) => {
                let text = if error.code() == ErrorCode::Timeout {
                    format!("echo of value {part} timed out after {attempts} attempts")
                } else {
                    format!("echo of value {part} failed: {}", error.text())
                };
                ctx.warn(format_args!(
                    "batch_echo from {} (msg_id {}) failed: {text}",
                    to.dest(),
                    to.in_reply_to(),
                ));
                ctx.reply_error(&to, &error.with_text(text));
            }
        },
    );
    Ok(())
}

/// An echo counts if it is an `echo_ok` whose `echo` is the value sent: the same text, or
/// the same JSON value written otherwise.
fn check_echo(sent: &str, reply: &Reply<'_>) -> Result<(), Error> {
    if reply.kind() != "echo_ok" {
        let kind = reply.kind();
        return Err(Error::crash(format!("reply of type {kind:?}, not echo_ok")));
    }
    if echoed_as_written(reply.body_text(), sent) {
        return Ok(());
    }
    let EchoReply { echo } = reply.body()?;
    if echo.get() == sent || same_json(echo.get(), sent) {
        Ok(())
    } else {
        Err(Error::crash(format!(
            "came back as {:.100}, not the value sent",
            echo.get()
        )))
    }
}

/// Whether `body` (valid JSON, as every reply the node reads) begins with `type` `echo_ok`
/// and then `echo` holding `sent` (a valid JSON value), byte for byte, as this node's echo
/// handler writes it: then its `echo` is `sent`, with no parsing. A JSON value is never a
/// prefix of a longer one but for a number, which the `,` or `}` after it rules out. Any
/// other layout (a network that re-encodes, another key order) takes the parsing path.
fn echoed_as_written(body: &str, sent: &str) -> bool {
    const HEAD: &str = r#"{"type":"echo_ok","echo":"#;
    body.strip_prefix(HEAD)
        .and_then(|rest| rest.strip_prefix(sent))
        .is_some_and(|rest| rest.starts_with([',', '}']))
}

fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
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

    /// Maelstrom re-encodes every message: an echo whose bytes differ from the value sent
    /// (keys reordered, spaces gone, a number written shorter) is still that value, and the
    /// answer gives the values as the request wrote them.
    #[test]
    fn an_echo_re_encoded_by_the_network_still_counts() {
        let mut h = node(flags());
        let request = br#"{"src":"c1","dest":"n1","body":{"type":"batch_echo","msg_id":7,"values":[ {"b": [1, 2], "a": 2.50}, "x" ]}}"#;
        let sent = h.deliver_line(request);
        assert_eq!(sent.len(), 2);
        let id = &sent[0]["body"]["msg_id"];
        let line = format!(
            r#"{{"dest":"n1","body":{{"in_reply_to":{id},"echo":{{"a":2.5,"b":[1,2]}},"type":"echo_ok"}},"src":"n1"}}"#
        );
        assert!(h.deliver_line(line.as_bytes()).is_empty());
        let done = answer(&mut h, &sent[1]);
        assert_eq!(done.len(), 1, "{done:?}");
        assert_eq!(done[0]["body"]["type"], "batch_echo_ok");
        assert_eq!(
            done[0]["body"]["results"],
            json!([{"a": 2.5, "b": [1, 2]}, "x"])
        );
    }

    #[test]
    fn an_echo_that_came_back_changed_fails_the_batch_with_error_13() {
        let mut h = node(flags());
        let sent = h.deliver("c1", batch(json!([1, "two"])));
        let out = h.deliver(
            "n1",
            json!({"type":"echo_ok","echo":"2","in_reply_to":sent[1]["body"]["msg_id"]}),
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0]["body"]["code"], 13);
        let text = out[0]["body"]["text"].as_str().unwrap();
        assert!(
            text.contains("value 1") && text.contains("not the value sent"),
            "{text}"
        );
        assert_eq!(h.context().pending_rpcs(), 0, "the other echo is cancelled");
    }

    /// A batch larger than the window sends what fits, and one more echo as each comes back.
    #[test]
    fn a_batch_larger_than_the_window_waits_in_the_batch_not_in_the_queue() {
        let config = mionode::Config {
            rpc_window: 3,
            ..mionode::Config::default()
        };
        let mut h = TestNode::<RpcChapter>::with_config(flags(), config);
        h.init("n1", &["n1"]);
        let values: Vec<u32> = (0..10).collect();
        let mut wire = h.deliver("c1", batch(json!(values)));
        assert_eq!(wire.len(), 3, "the window's room");
        assert_eq!(h.context().rpcs_queued(), 0);
        let mut answers = Vec::new();
        while let Some(echo) = wire.pop() {
            assert!(h.context().rpcs_in_flight() <= 3);
            for out in answer(&mut h, &echo) {
                match out["body"]["type"].as_str() {
                    Some("echo") => wire.push(out),
                    _ => answers.push(out),
                }
            }
        }
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0]["body"]["results"], json!(values));
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
