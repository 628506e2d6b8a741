//! `proxy {target, inner}` → `proxy_ok {result}`: `inner` goes to `target` as one RPC.
//!
//! The plainest use of the RPC layer: one request, one deadline, one callback. The callback
//! only needs to know whom to answer, so that `ReplyTo` is all it captures; the pending table
//! is the only state. `result` is the target's reply body as it came, `in_reply_to` included.
//! A timeout answers error 0; an error reply is passed back with its own code and text, so the
//! caller sees the target's failure and not a proxy-shaped one.

use std::borrow::Cow;

use mionode::{Error, ErrorCode, Request};
use serde::Deserialize;

use super::bodies::Body;
use super::outbound::{check_target, Payload};
use super::retry;
use super::{Ctx, RpcChapter};

#[derive(Deserialize)]
struct Proxy<'a> {
    #[serde(borrow)]
    target: Cow<'a, str>,
    #[serde(borrow)]
    inner: Payload<'a>,
}

pub(super) fn handle(app: &mut RpcChapter, ctx: &mut Ctx, req: &Request<'_>) -> Result<(), Error> {
    let Proxy { target, inner } = req.body()?;
    check_target(ctx, req, &target)?;
    let to = req.reply_to();
    // Cut to end before the client's deadline: a proxy answers within it, or not at all.
    let timeout = retry::fit(app.flags.proxy_timeout, ctx.now(), retry::answer_by(&to));
    ctx.rpc(
        &target,
        &inner,
        timeout,
        move |_, ctx, outcome| match outcome {
            Ok(reply) => {
                let result = reply.raw_body();
                ctx.reply_later(&to, &Body::ProxyOk { result });
            }
            Err(e) if e.code() == ErrorCode::Timeout => {
                let text = format!("proxy: no reply within {} ms", timeout.as_millis());
                ctx.reply_error(&to, &e.with_text(text));
            }
            Err(e) => ctx.reply_error(&to, &e),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use mionode::testing::TestNode;
    use serde_json::json;

    use super::super::{test_node, Flags, RpcChapter};

    fn proxy(d: &mut TestNode<RpcChapter>) -> u64 {
        let body = json!({"type":"proxy","msg_id":7,"target":"n2",
            "inner":{"type":"echo","echo":"hi","msg_id":99}});
        let sent = d.request("c1", body);
        assert_eq!(sent["dest"], "n2");
        assert_eq!(sent["body"]["type"], "echo");
        assert_eq!(sent["body"]["echo"], "hi");
        sent["body"]["msg_id"].as_u64().unwrap()
    }

    #[test]
    fn proxy_answers_with_the_target_reply() {
        let mut d = test_node(Flags::default(), 0);
        let id = proxy(&mut d);
        assert_ne!(id, 99, "the node numbers what it sends");
        let reply = json!({"type":"echo_ok","echo":"hi","msg_id":3,"in_reply_to":id});
        let answer = d.request("n2", reply.clone());
        assert_eq!(answer["dest"], "c1");
        assert_eq!(answer["body"]["type"], "proxy_ok");
        assert_eq!(answer["body"]["in_reply_to"], 7);
        assert_eq!(answer["body"]["result"], reply);
        assert_eq!(d.context().pending_rpcs(), 0);
    }

    #[test]
    fn proxy_times_out_with_error_0() {
        let mut d = test_node(Flags::default(), 0);
        proxy(&mut d);
        assert!(d.advance_ms(999).is_empty());
        let answer = d.advance_ms(1).remove(0);
        assert_eq!(answer["body"]["type"], "error");
        assert_eq!(answer["body"]["code"], 0);
        assert_eq!(answer["body"]["in_reply_to"], 7);
    }

    #[test]
    fn proxy_passes_an_error_reply_back_as_is() {
        let mut d = test_node(Flags::default(), 0);
        let id = proxy(&mut d);
        let error = json!({"type":"error","code":20,"text":"no such key","in_reply_to":id});
        let answer = d.request("n2", error);
        assert_eq!(answer["body"]["type"], "error");
        assert_eq!(answer["body"]["code"], 20);
        assert_eq!(answer["body"]["text"], "no such key");
    }

    #[test]
    fn proxy_refuses_unknown_targets_and_bad_inner() {
        let mut d = test_node(Flags::default(), 0);
        let cases = [
            (json!({"target":"n3","inner":{"type":"echo"}}), 1),
            (json!({"target":"c2","inner":{"type":"echo"}}), 1),
            (json!({"target":"n2","inner":"echo"}), 12),
            (json!({"target":"n2","inner":{"echo":1}}), 12),
            (json!({"target":7,"inner":{"type":"echo"}}), 12),
            (json!({"inner":{"type":"echo"}}), 12),
        ];
        for (fields, code) in cases {
            let mut body = fields.clone();
            body["type"] = json!("proxy");
            body["msg_id"] = json!(5);
            let answer = d.request("c1", body);
            assert_eq!(answer["body"]["code"], code, "{fields}: {answer}");
        }
        assert_eq!(d.context().pending_rpcs(), 0);
    }
}
