//! `proxy {target, inner}` → `proxy_ok {result}`: `inner` goes to `target` as one RPC.
//!
//! The plainest use of the RPC layer: one request, one deadline, one callback. The callback
//! only needs to know whom to answer, so that [`Caller`] is all it captures; the pending table
//! is the only state. `result` is the target's reply body as it came, `in_reply_to` included.
//! A timeout answers error 0; an error reply is passed back with its own code and text, so the
//! caller sees the target's failure and not a proxy-shaped one.

use std::borrow::Cow;

use serde::Deserialize;

use super::outbound::{check_target, Caller, Payload};
use crate::context::{Request, RpcError};
use crate::protocol::{Body, ErrorCode};
use crate::Node;

#[derive(Deserialize)]
struct Proxy<'a> {
    #[serde(borrow)]
    target: Cow<'a, str>,
    #[serde(borrow)]
    inner: Payload<'a>,
}

pub(super) fn handle(node: &mut Node, req: &Request<'_>) {
    let Some(Proxy { target, inner }) = super::parse(node, req) else {
        return;
    };
    if !check_target(node, req, &target) {
        return;
    }
    let caller = Caller::of(req);
    let timeout = node.ctx.config().proxy_timeout;
    let sent = node.ctx.rpc(
        &target,
        &inner,
        timeout,
        move |node: &mut Node, outcome| match outcome {
            Ok(result) => caller.answer(&mut node.ctx, &Body::ProxyOk { result }),
            Err(RpcError::Timeout) => {
                let text = format!("proxy: no reply within {} ms", timeout.as_millis());
                caller.error(&mut node.ctx, ErrorCode::Timeout.code(), &text);
            }
            Err(RpcError::Remote { code, text }) => caller.error(&mut node.ctx, code, &text),
        },
    );
    if let Err(e) = sent {
        let text = format!("proxy: could not send {} to {target}: {e}", inner.kind());
        node.ctx.reply_error(req, ErrorCode::Crash.code(), &text);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Driver;
    use crate::Config;
    use serde_json::json;

    fn proxy(d: &mut Driver) -> u64 {
        let body = json!({"type":"proxy","msg_id":7,"target":"n2",
            "inner":{"type":"echo","echo":"hi","msg_id":99}});
        d.receive("c1", body);
        let sent = d.one();
        assert_eq!(sent["dest"], "n2");
        assert_eq!(sent["body"]["type"], "echo");
        assert_eq!(sent["body"]["echo"], "hi");
        sent["body"]["msg_id"].as_u64().unwrap()
    }

    #[test]
    fn proxy_answers_with_the_target_reply() {
        let mut d = Driver::new(Config::default());
        let id = proxy(&mut d);
        assert_ne!(id, 99, "the node numbers what it sends");
        let reply = json!({"type":"echo_ok","echo":"hi","msg_id":3,"in_reply_to":id});
        d.receive("n2", reply.clone());
        let answer = d.one();
        assert_eq!(answer["dest"], "c1");
        assert_eq!(answer["body"]["type"], "proxy_ok");
        assert_eq!(answer["body"]["in_reply_to"], 7);
        assert_eq!(answer["body"]["result"], reply);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn proxy_times_out_with_error_0() {
        let mut d = Driver::new(Config::default());
        proxy(&mut d);
        d.advance(999);
        assert!(d.output().is_empty());
        d.advance(1);
        let answer = d.one();
        assert_eq!(answer["body"]["type"], "error");
        assert_eq!(answer["body"]["code"], 0);
        assert_eq!(answer["body"]["in_reply_to"], 7);
    }

    #[test]
    fn proxy_passes_an_error_reply_back_as_is() {
        let mut d = Driver::new(Config::default());
        let id = proxy(&mut d);
        let error = json!({"type":"error","code":20,"text":"no such key","in_reply_to":id});
        d.receive("n2", error);
        let answer = d.one();
        assert_eq!(answer["body"]["type"], "error");
        assert_eq!(answer["body"]["code"], 20);
        assert_eq!(answer["body"]["text"], "no such key");
    }

    #[test]
    fn proxy_refuses_unknown_targets_and_bad_inner() {
        let mut d = Driver::new(Config::default());
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
            d.receive("c1", body);
            let answer = d.one();
            assert_eq!(answer["body"]["code"], code, "{fields}: {answer}");
        }
        assert_eq!(d.pending(), 0);
    }
}
