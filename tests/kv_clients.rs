//! mionode::kv from outside the crate: what goes on the wire, and what each kind of answer
//! (or none) becomes for the callback.

use std::time::Duration;

use mionode::kv::{Kv, KvError, Tso};
use mionode::testing::TestNode;
use mionode::{App, ErrorCode, NoFlags, Routes};
use serde::Deserialize;
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_millis(100);

/// Runs one service call per request and keeps every callback's result.
#[derive(Default)]
struct Probe {
    results: Vec<Result<Value, KvError>>,
    last: u64,
}

#[derive(Deserialize)]
struct Call {
    key: Value,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    create: bool,
}

fn keep<T: serde::Serialize>(app: &mut Probe, result: Result<T, KvError>) {
    app.results.push(result.map(|v| json!(v)));
}

impl App for Probe {
    type Flags = NoFlags;
    fn new(_: &NoFlags) -> Self {
        Probe::default()
    }
    fn routes(routes: &mut Routes<Self>) {
        routes
            .on("read_u64", |app, ctx, req| {
                let Call { key, .. } = req.body()?;
                app.last = Kv::LIN.read::<u64, _>(ctx, key, TIMEOUT, |app, _, r| keep(app, r));
                Ok(())
            })
            .on("write", |app, ctx, req| {
                let Call { key, value, .. } = req.body()?;
                app.last = Kv::SEQ.write(ctx, key, value, TIMEOUT, |app, _, r| keep(app, r));
                Ok(())
            })
            .on("cas", |app, ctx, req| {
                let Call { key, value, create } = req.body()?;
                let to = json!([value]);
                app.last = Kv::LWW.cas(ctx, key, value, to, create, TIMEOUT, |app, _, r| {
                    keep(app, r)
                });
                Ok(())
            })
            .on("ts", |app, ctx, _| {
                app.last = Tso::ts(ctx, TIMEOUT, |app: &mut Probe, _, r| {
                    keep(app, r.map_err(KvError::from))
                });
                Ok(())
            });
    }
}

/// Sends `call` to the node and returns the one request it wrote to a service.
fn ask(node: &mut TestNode<Probe>, call: Value) -> Value {
    let out = node.deliver("c1", call);
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap_or_default()
}

/// Answers the service request `sent` with `body`.
fn answer(node: &mut TestNode<Probe>, sent: &Value, mut body: Value) {
    body["in_reply_to"] = sent["body"]["msg_id"].clone();
    let src = sent["dest"].as_str().expect("dest").to_owned();
    assert!(node.deliver(&src, body).is_empty());
}

fn code(result: &Result<Value, KvError>) -> u32 {
    result.as_ref().expect_err("an error").code().code()
}

#[test]
fn requests_carry_exactly_the_protocol_fields() {
    let mut node = TestNode::<Probe>::started("n1", &["n1"]);
    let read = ask(
        &mut node,
        json!({"type": "read_u64", "msg_id": 1, "key": ["k", 1]}),
    );
    assert_eq!(read["dest"], "lin-kv");
    assert_eq!(
        read["body"],
        json!({"type": "read", "key": ["k", 1], "msg_id": read["body"]["msg_id"]})
    );
    let write = ask(
        &mut node,
        json!({"type": "write", "msg_id": 2, "key": 3, "value": {"a": null}}),
    );
    assert_eq!(write["dest"], "seq-kv");
    assert_eq!(write["body"]["key"], 3);
    assert_eq!(write["body"]["value"], json!({"a": null}));
    let cas = ask(
        &mut node,
        json!({"type": "cas", "msg_id": 3, "key": "k", "value": 1}),
    );
    assert_eq!(cas["dest"], "lww-kv");
    let fields: Vec<&String> = cas["body"].as_object().expect("body").keys().collect();
    assert_eq!(
        fields,
        ["from", "key", "msg_id", "to", "type"],
        "no create_if_not_exists: false"
    );
    let cas = ask(
        &mut node,
        json!({"type": "cas", "msg_id": 4, "key": "k", "value": 1, "create": true}),
    );
    assert_eq!(cas["body"]["create_if_not_exists"], true);
    assert_eq!(cas["body"]["to"], json!([1]));
    let ts = ask(&mut node, json!({"type": "ts", "msg_id": 5}));
    assert_eq!(
        (ts["dest"].as_str(), ts["body"]["type"].as_str()),
        (Some("lin-tso"), Some("ts"))
    );
}

#[test]
fn the_three_kv_errors_are_typed_and_the_rest_kept_as_they_came() {
    let mut node = TestNode::<Probe>::started("n1", &["n1"]);
    for code in [20, 21, 22, 11, 99] {
        let sent = ask(
            &mut node,
            json!({"type": "cas", "msg_id": code, "key": "k", "value": 1}),
        );
        answer(
            &mut node,
            &sent,
            json!({"type": "error", "code": code, "text": "because"}),
        );
    }
    let results = &node.app().results;
    assert_eq!(results[0], Err(KvError::KeyDoesNotExist));
    assert_eq!(results[1], Err(KvError::KeyAlreadyExists));
    assert_eq!(results[2], Err(KvError::PreconditionFailed));
    let Err(KvError::Other(e)) = &results[3] else {
        panic!("{:?}", results[3])
    };
    assert_eq!(
        (e.code(), e.text(), e.is_definite()),
        (ErrorCode::TemporarilyUnavailable, "because", true)
    );
    let Err(KvError::Other(e)) = &results[4] else {
        panic!("{:?}", results[4])
    };
    assert_eq!((e.code().code(), e.is_definite()), (99, false));
}

#[test]
fn replies_of_the_wrong_shape_are_indefinite_errors_13() {
    let mut node = TestNode::<Probe>::started("n1", &["n1"]);
    let sent = ask(
        &mut node,
        json!({"type": "read_u64", "msg_id": 1, "key": "k"}),
    );
    answer(
        &mut node,
        &sent,
        json!({"type": "read_ok", "value": "not a number"}),
    );
    let sent = ask(
        &mut node,
        json!({"type": "write", "msg_id": 2, "key": "k", "value": 1}),
    );
    answer(&mut node, &sent, json!({"type": "cas_ok"}));
    let sent = ask(&mut node, json!({"type": "ts", "msg_id": 3}));
    answer(&mut node, &sent, json!({"type": "ts_ok", "ts": -1}));
    let sent = ask(
        &mut node,
        json!({"type": "read_u64", "msg_id": 4, "key": "k"}),
    );
    answer(&mut node, &sent, json!({"type": "read_ok", "value": 7}));
    let results = &node.app().results;
    for r in &results[..3] {
        assert_eq!(code(r), 13, "{r:?}");
        assert!(!r.as_ref().unwrap_err().is_definite());
    }
    assert_eq!(results[3], Ok(json!(7)));
}

#[test]
fn a_silent_service_times_out_once_and_a_cancelled_call_never_calls_back() {
    let mut node = TestNode::<Probe>::started("n1", &["n1"]);
    ask(
        &mut node,
        json!({"type": "write", "msg_id": 1, "key": "k", "value": 1}),
    );
    ask(&mut node, json!({"type": "ts", "msg_id": 2}));
    let cancelled = node.app().last;
    assert!(node.node_mut().parts().1.cancel_rpc(cancelled));
    node.advance(TIMEOUT);
    assert_eq!(node.app().results.len(), 1);
    assert_eq!(code(&node.app().results[0]), 0);
    assert_eq!(node.context().pending_rpcs(), 0);
    node.advance(TIMEOUT * 10);
    assert_eq!(node.app().results.len(), 1, "exactly once");
}
