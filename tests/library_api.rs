//! A node built from the public API only, as a user of the crate would write it: handlers
//! with typed bodies, an RPC with a deadline, a timer, errors; driven by `mionode::testing`.

use std::time::Duration;

use mionode::testing::TestNode;
use mionode::{App, Context, Error, ErrorCode, Request, Routes};
use serde::Deserialize;
use serde_json::{json, value::RawValue};

/// Echoes, asks a peer to echo, and counts ticks.
#[derive(Default)]
struct Demo {
    ticks: u32,
    relayed: u32,
}

#[derive(Debug, Clone, Default, clap::Args)]
struct DemoFlags {
    /// Deadline of an `ask` RPC, in milliseconds.
    #[arg(long, default_value_t = 100)]
    ask_timeout_ms: u64,
}

#[derive(Deserialize)]
struct Echo<'a> {
    #[serde(borrow)]
    echo: &'a RawValue,
}

#[derive(Deserialize)]
struct Ask<'a> {
    peer: &'a str,
}

fn echo(_: &mut Demo, ctx: &mut Context<Demo>, req: &Request<'_>) -> Result<(), Error> {
    let Echo { echo } = req.body()?;
    ctx.reply(req, &json!({"type": "echo_ok", "echo": echo}));
    Ok(())
}

fn ask(_: &mut Demo, ctx: &mut Context<Demo>, req: &Request<'_>) -> Result<(), Error> {
    let Ask { peer } = req.body()?;
    if !ctx.is_known_target(peer) {
        return Err(Error::new(ErrorCode::NodeNotFound, format!("no {peer}")));
    }
    let to = req.reply_to();
    let body = json!({"type": "echo", "echo": req.msg_id()});
    ctx.rpc(
        peer,
        &body,
        Duration::from_millis(100),
        move |app, ctx, result| {
            app.relayed += 1;
            match result.and_then(|r| r.body::<Echo<'_>>().map(|e| e.echo.get().to_owned())) {
                Ok(echo) => ctx.reply_later(&to, &json!({"type": "ask_ok", "echo": echo})),
                Err(e) => ctx.reply_error(&to, &e),
            }
        },
    );
    Ok(())
}

fn tick(app: &mut Demo, ctx: &mut Context<Demo>) {
    app.ticks += 1;
    ctx.after(Duration::from_millis(10), tick);
}

impl App for Demo {
    type Flags = DemoFlags;
    fn new(_: &DemoFlags) -> Self {
        Demo::default()
    }
    fn routes(routes: &mut Routes<Self>) {
        routes.on("echo", echo).on("ask", ask);
    }
    fn on_init(&mut self, ctx: &mut Context<Self>) {
        ctx.after(Duration::from_millis(10), tick);
    }
}

#[test]
fn echo_answers_with_the_value_and_numbered_msg_ids() {
    let mut node = TestNode::<Demo>::started("n1", &["n1", "n2"]);
    let out = node.request("c1", json!({"type":"echo","msg_id":5,"echo":{"a":[1]}}));
    assert_eq!(
        out,
        json!({"src":"n1","dest":"c1","body":{"type":"echo_ok","echo":{"a":[1]},"msg_id":1,"in_reply_to":5}})
    );
}

#[test]
fn the_runtime_answers_unknown_malformed_and_early_requests() {
    let mut node = TestNode::<Demo>::new(DemoFlags::default());
    let early = node.request("c1", json!({"type":"echo","msg_id":1,"echo":1}));
    assert_eq!(early["body"]["code"], 11);
    node.init("n1", &["n1"]);
    assert_eq!(
        node.request("c1", json!({"type":"cas","msg_id":2}))["body"]["code"],
        10
    );
    assert_eq!(
        node.request("c1", json!({"type":"echo","msg_id":3}))["body"]["code"],
        12
    );
    assert_eq!(
        node.request("c1", json!({"type":"ask","msg_id":4,"peer":"n7"}))["body"]["code"],
        1
    );
}

#[test]
fn an_rpc_takes_its_reply_only_from_its_destination() {
    let mut node = TestNode::<Demo>::started("n1", &["n1", "n2", "n3"]);
    let sent = node.deliver("c1", json!({"type":"ask","msg_id":9,"peer":"n2"}));
    assert_eq!(sent[0]["dest"], "n2");
    let id = sent[0]["body"]["msg_id"].clone();
    let reply = json!({"type":"echo_ok","echo":9,"in_reply_to":id});
    assert!(node.deliver("n3", reply.clone()).is_empty(), "n3 is not n2");
    assert_eq!(node.context().pending_rpcs(), 1);
    let out = node.deliver("n2", reply);
    assert_eq!(out[0]["body"]["type"], "ask_ok");
    assert_eq!(out[0]["body"]["echo"], "9");
    assert_eq!(node.app().relayed, 1);
}

#[test]
fn an_unanswered_rpc_times_out_once_and_leaves_nothing_behind() {
    let mut node = TestNode::<Demo>::started("n1", &["n1", "n2"]);
    let sent = node.deliver("c1", json!({"type":"ask","msg_id":9,"peer":"n2"}));
    let id = sent[0]["body"]["msg_id"].clone();
    assert!(node.advance_ms(99).is_empty());
    let out = node.advance_ms(1);
    assert_eq!(out[0]["body"]["code"], 0);
    assert_eq!(node.context().pending_rpcs(), 0);
    assert!(node
        .deliver("n2", json!({"type":"echo_ok","echo":9,"in_reply_to":id}))
        .is_empty());
    assert_eq!(node.app().relayed, 1, "the callback ran exactly once");
}

#[test]
fn timers_set_in_on_init_keep_ticking() {
    let mut node = TestNode::<Demo>::started("n1", &["n1"]);
    for _ in 0..10 {
        node.advance_ms(10);
    }
    assert_eq!(node.app().ticks, 10);
    // A late turn fires a due timer once; the next one is set from the turn's `now`.
    node.advance_ms(35);
    assert_eq!(node.app().ticks, 11);
}
