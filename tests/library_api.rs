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

/// Remembers timers to cancel them later, and RPC outcomes.
#[derive(Default)]
struct Timers {
    ids: Vec<mionode::TimerId>,
    fired: Vec<&'static str>,
    cancelled: Vec<bool>,
    outcomes: Vec<Result<String, Error>>,
}

impl App for Timers {
    type Flags = mionode::NoFlags;
    fn new(_: &mionode::NoFlags) -> Self {
        Timers::default()
    }
    fn routes(routes: &mut Routes<Self>) {
        routes
            .on("set", |app, ctx, req| {
                let name: &'static str = match req.msg_id() {
                    1 => "first",
                    _ => "second",
                };
                let id = ctx.after(Duration::from_millis(5), move |app: &mut Timers, _| {
                    app.fired.push(name)
                });
                app.ids.push(id);
                Ok(())
            })
            .on("cancel_first", |app, ctx, _| {
                let first = app.ids[0];
                app.cancelled.push(ctx.cancel_timer(first));
                Ok(())
            })
            .on("bad_rpc", |_, ctx, _| {
                // Not a JSON object: nothing is sent, and the callback still runs once.
                ctx.rpc(
                    "n1",
                    &[1, 2],
                    Duration::from_secs(1),
                    |app: &mut Timers, _, r| {
                        app.outcomes.push(r.map(|reply| reply.kind().to_owned()));
                    },
                );
                Ok(())
            });
    }
}

#[test]
fn a_timer_id_cancels_nothing_once_its_timer_has_fired_even_in_a_reused_slot() {
    let mut node = TestNode::<Timers>::started("n1", &["n1"]);
    node.deliver("c1", json!({"type":"set","msg_id":1}));
    node.advance_ms(5);
    assert_eq!(node.app().fired, ["first"]);
    node.deliver("c1", json!({"type":"set","msg_id":2}));
    node.deliver("c1", json!({"type":"cancel_first","msg_id":3}));
    node.advance_ms(5);
    assert_eq!(node.app().cancelled, [false]);
    assert_eq!(
        node.app().fired,
        ["first", "second"],
        "the second timer still fired"
    );
}

#[test]
fn a_cancelled_timer_never_fires() {
    let mut node = TestNode::<Timers>::started("n1", &["n1"]);
    node.deliver("c1", json!({"type":"set","msg_id":1}));
    node.deliver("c1", json!({"type":"cancel_first","msg_id":3}));
    node.advance_ms(100);
    assert_eq!(node.app().cancelled, [true]);
    assert!(node.app().fired.is_empty());
    // What is left are the deadlines of the two client requests the app left unanswered.
    assert_eq!(node.context().open_operations(), 2);
    assert_eq!(node.context().timers_parked(), 2);
}

#[test]
fn an_rpc_whose_body_cannot_be_written_still_calls_back_once_with_error_13() {
    let mut node = TestNode::<Timers>::started("n1", &["n1"]);
    assert!(node
        .deliver("c1", json!({"type":"bad_rpc","msg_id":1}))
        .is_empty());
    assert!(node.app().outcomes.is_empty(), "not inside the rpc call");
    node.advance_ms(1);
    let outcomes = &node.app().outcomes;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].as_ref().unwrap_err().code(), ErrorCode::Crash);
    assert_eq!(node.context().pending_rpcs(), 0);
    node.advance_ms(5000);
    assert_eq!(node.app().outcomes.len(), 1);
}
