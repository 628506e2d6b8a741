//! The runtime's RPC policy, driven without I/O: client operations end by their deadline,
//! RPCs wait for room in the window, timeouts adapt to each destination, replies count only
//! from the node asked, and bodies nest at most 128 levels.

use std::time::Duration;

use mionode::stats::{Counter, Rejection};
use mionode::testing::TestNode;
use mionode::{App, Config, Context, Error, NoFlags, ReplyTo, Request, Routes};
use serde::Deserialize;
use serde_json::{json, Value};

/// `hold` is left unanswered (kept for `release`); `fan {n, dest, adaptive}` sends n RPCs.
#[derive(Default)]
struct Policy {
    held: Vec<ReplyTo>,
    outcomes: Vec<Result<String, u32>>,
}

#[derive(Deserialize)]
struct Fan {
    n: usize,
    dest: String,
    #[serde(default)]
    adaptive: bool,
}

fn fan(app: &mut Policy, ctx: &mut Context<Policy>, req: &Request<'_>) -> Result<(), Error> {
    let Fan { n, dest, adaptive } = req.body()?;
    let _ = app;
    let until = ctx.now() + Duration::from_secs(4);
    for i in 0..n {
        let body = json!({"type": "ping", "i": i});
        let done =
            |app: &mut Policy, _: &mut Context<Policy>, r: Result<mionode::Reply<'_>, Error>| {
                app.outcomes
                    .push(r.map(|r| r.src().to_owned()).map_err(|e| e.code().code()));
            };
        if adaptive {
            ctx.rpc_rto(&dest, &body, 0, Duration::from_secs(4), until, done);
        } else {
            ctx.rpc(&dest, &body, Duration::from_secs(1), done);
        }
    }
    ctx.reply(req, &json!({"type": "fan_ok"}));
    Ok(())
}

impl App for Policy {
    type Flags = NoFlags;
    fn new(_: &NoFlags) -> Self {
        Policy::default()
    }
    fn routes(routes: &mut Routes<Self>) {
        routes
            .on("hold", |app, _, req| {
                app.held.push(req.reply_to());
                Ok(())
            })
            .on("release", |app, ctx, req| {
                for to in std::mem::take(&mut app.held) {
                    ctx.reply_later(&to, &json!({"type": "hold_ok"}));
                }
                ctx.reply(req, &json!({"type": "release_ok"}));
                Ok(())
            })
            .on("fan", fan)
            .on("echo", |_, ctx, req| {
                #[derive(Deserialize)]
                struct Echo<'a> {
                    #[serde(borrow)]
                    echo: &'a serde_json::value::RawValue,
                }
                let Echo { echo } = req.body()?;
                ctx.reply(req, &json!({"type": "echo_ok", "echo": echo}));
                Ok(())
            });
    }
}

fn node_with(config: Config) -> TestNode<Policy> {
    let mut node = TestNode::<Policy>::with_config(NoFlags {}, config);
    node.init("n1", &["n1", "n2"]);
    node
}

fn node() -> TestNode<Policy> {
    node_with(Config {
        seed: Some(0),
        ..Config::default()
    })
}

fn types(out: &[Value]) -> Vec<&str> {
    out.iter()
        .map(|m| m["body"]["type"].as_str().unwrap_or(""))
        .collect()
}

#[test]
fn an_unanswered_client_request_gets_error_0_at_its_deadline_and_a_late_answer_is_dropped() {
    let mut node = node();
    assert!(node
        .deliver("c7", json!({"type": "hold", "msg_id": 3}))
        .is_empty());
    assert!(node.advance_ms(4499).is_empty());
    let out = node.advance_ms(1);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["dest"], "c7");
    assert_eq!(out[0]["body"]["in_reply_to"], 3);
    assert_eq!(out[0]["body"]["code"], 0);
    assert_eq!(node.context().stats().get(Counter::OpsExpired), 1);
    let out = node.deliver("c7", json!({"type": "release", "msg_id": 4}));
    assert_eq!(
        types(&out),
        ["release_ok"],
        "the late hold_ok is not written"
    );
    assert_eq!(node.context().stats().get(Counter::AnswersDropped), 1);
    assert_eq!(node.context().open_operations(), 0);
}

#[test]
fn an_answer_before_the_deadline_cancels_the_runtime_s_error() {
    let mut node = node();
    node.deliver("c1", json!({"type": "hold", "msg_id": 1}));
    node.advance_ms(4000);
    let out = node.deliver("c1", json!({"type": "release", "msg_id": 2}));
    assert_eq!(types(&out), ["hold_ok", "release_ok"]);
    assert!(
        node.advance_ms(10_000).is_empty(),
        "no error 0 after the answer"
    );
    assert_eq!(node.context().open_operations(), 0);
}

#[test]
fn requests_from_nodes_have_no_runtime_deadline() {
    let mut node = node();
    node.deliver("n2", json!({"type": "hold", "msg_id": 1}));
    assert!(node.advance_ms(10_000).is_empty());
    let out = node.deliver("c1", json!({"type": "release", "msg_id": 2}));
    assert_eq!(
        types(&out),
        ["hold_ok", "release_ok"],
        "answered whenever the app says"
    );
}

#[test]
fn the_deadline_follows_the_flag() {
    let mut node = node_with(Config {
        seed: Some(0),
        op_deadline: Duration::from_millis(100),
        ..Config::default()
    });
    node.deliver("c1", json!({"type": "hold", "msg_id": 1}));
    assert!(node.advance_ms(99).is_empty());
    assert_eq!(node.advance_ms(1)[0]["body"]["code"], 0);
}

#[test]
fn rpcs_beyond_the_window_wait_and_go_out_as_replies_come_back() {
    let mut node = node_with(Config {
        seed: Some(0),
        rpc_window: 2,
        ..Config::default()
    });
    let out = node.deliver(
        "c1",
        json!({"type": "fan", "msg_id": 1, "n": 5, "dest": "n2"}),
    );
    assert_eq!(types(&out), ["ping", "ping", "fan_ok"]);
    assert_eq!(
        (
            node.context().rpcs_in_flight(),
            node.context().rpcs_queued()
        ),
        (2, 3)
    );
    let first = out[0]["body"]["msg_id"].clone();
    let out = node.deliver("n2", json!({"type": "pong", "in_reply_to": first}));
    assert_eq!(types(&out), ["ping"], "a reply makes room for one");
    assert_eq!(out[0]["body"]["i"], 2, "in order");
    assert_eq!(
        (
            node.context().rpcs_in_flight(),
            node.context().rpcs_queued()
        ),
        (2, 2)
    );
    // The deadline of a queued RPC counts from the call: at 1 s everything has timed out,
    // the queued ones without ever being sent.
    let out = node.advance_ms(1000);
    assert!(types(&out).iter().all(|t| *t == "ping"), "{out:?}");
    let ctx = node.context();
    let written = ctx.stats().sent()[ctx.message_types().index("ping")];
    assert!(
        written < 5,
        "queued RPCs that timed out were never sent: {written}"
    );
    node.advance_ms(1000);
    assert_eq!(node.context().pending_rpcs(), 0);
    assert_eq!(node.app().outcomes.len(), 5, "every callback ran once");
    assert_eq!(
        (
            node.context().rpcs_in_flight(),
            node.context().rpcs_queued()
        ),
        (0, 0)
    );
}

#[test]
fn the_adaptive_timeout_learns_the_round_trip() {
    let mut node = node();
    assert_eq!(
        node.context().rto("n2", 0),
        Duration::from_secs(1),
        "RFC 6298's initial"
    );
    let out = node.deliver(
        "c1",
        json!({"type": "fan", "msg_id": 1, "n": 1, "dest": "n2", "adaptive": true}),
    );
    node.advance_ms(100);
    node.deliver(
        "n2",
        json!({"type": "pong", "in_reply_to": out[0]["body"]["msg_id"]}),
    );
    assert_eq!(
        node.context().rto("n2", 0),
        Duration::from_millis(300),
        "SRTT + 4 RTTVAR"
    );
    assert_eq!(
        node.context().rto("n2", 1),
        Duration::from_millis(600),
        "doubled per retry"
    );
    node.deliver(
        "c1",
        json!({"type": "fan", "msg_id": 2, "n": 1, "dest": "n2", "adaptive": true}),
    );
    node.advance_ms(299);
    assert_eq!(node.app().outcomes.len(), 1);
    node.advance_ms(1);
    assert_eq!(
        node.app().outcomes[1],
        Err(0),
        "timed out at the RTO, not at 1 s"
    );
    assert_eq!(
        node.context().rto("n2", 0),
        Duration::from_millis(600),
        "silence backs off"
    );
    let (dest, path) = node.context().rtt_estimates().next().unwrap();
    assert_eq!(
        (dest, path.estimator.srtt()),
        ("n2", Some(Duration::from_millis(100)))
    );
}

#[test]
fn a_reply_from_anyone_but_the_node_asked_is_stale() {
    let mut node = node();
    let out = node.deliver(
        "c1",
        json!({"type": "fan", "msg_id": 1, "n": 1, "dest": "n2"}),
    );
    let id = out[0]["body"]["msg_id"].clone();
    node.deliver("c1", json!({"type": "pong", "in_reply_to": id}));
    node.deliver("n1", json!({"type": "pong", "in_reply_to": id}));
    assert!(node.app().outcomes.is_empty());
    assert_eq!(node.context().stats().get(Counter::StaleReplies), 2);
    node.deliver("n2", json!({"type": "pong", "in_reply_to": id}));
    assert_eq!(node.app().outcomes, [Ok("n2".to_owned())]);
}

fn deep_line(src: &str, body_head: &str, levels: usize) -> String {
    let deep = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
    format!(r#"{{"src":"{src}","dest":"n1","body":{{{body_head},"echo":{deep}}}}}"#)
}

#[test]
fn a_body_nested_200_levels_gets_error_12() {
    let mut node = node();
    let line = deep_line("c1", r#""type":"echo","msg_id":5"#, 199);
    let out = node.deliver_line(line.as_bytes());
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["body"]["code"], 12);
    assert_eq!(out[0]["body"]["in_reply_to"], 5);
    assert!(out[0]["body"]["text"].as_str().unwrap().contains("128"));
    // 128 levels (the body and 127 of echo) pass.
    let line = deep_line("c1", r#""type":"echo","msg_id":6"#, 127);
    let now = node.now();
    node.node_mut().handle_line(line.as_bytes(), now);
    let out = node.node_mut().outbox().take();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(r#""type":"echo_ok""#), "{out}");
}

#[test]
fn a_deep_line_that_cannot_be_answered_is_a_counted_rejection() {
    let mut node = node();
    for head in [r#""type":"echo""#, r#""type":"echo_ok","in_reply_to":1"#] {
        assert!(node
            .deliver_line(deep_line("c1", head, 300).as_bytes())
            .is_empty());
    }
    let outside = format!(
        r#"{{"src":"c1","dest":"n1","x":{},"body":{{"type":"echo","msg_id":1,"echo":1}}}}"#,
        "[".repeat(200) + &"]".repeat(200)
    );
    assert!(node.deliver_line(outside.as_bytes()).is_empty());
    assert_eq!(node.context().stats().rejected(Rejection::TOO_DEEP), 3);
}
