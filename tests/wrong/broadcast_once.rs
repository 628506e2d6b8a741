//! Deliberately wrong: broadcast that gossips each new value once to its neighbours, with no
//! acknowledgement and no retry. A message lost to a partition is lost for good, so the
//! broadcast tests with partitions must fail it.

use std::collections::{BTreeMap, BTreeSet};

use mionode::{App, Context, NoFlags, Routes};
use serde::Deserialize;
use serde_json::json;

#[derive(Default)]
struct Once {
    seen: BTreeSet<i64>,
    neighbours: Vec<String>,
}

#[derive(Deserialize)]
struct Message {
    message: i64,
}

#[derive(Deserialize)]
struct Topology {
    topology: BTreeMap<String, Vec<String>>,
}

fn learn(app: &mut Once, ctx: &mut Context<Once>, from: &str, value: i64) {
    if app.seen.insert(value) {
        for n in app.neighbours.iter().filter(|n| *n != from) {
            ctx.send(n, &json!({"type": "gossip", "message": value}));
        }
    }
}

impl App for Once {
    type Flags = NoFlags;
    fn new(_: &NoFlags) -> Self {
        Once::default()
    }
    fn routes(routes: &mut Routes<Self>) {
        routes
            .on("topology", |app, ctx, req| {
                let Topology { mut topology } = req.body()?;
                app.neighbours = topology.remove(ctx.node_id()).unwrap_or_default();
                ctx.reply(req, &json!({"type": "topology_ok"}));
                Ok(())
            })
            .on("broadcast", |app, ctx, req| {
                let Message { message } = req.body()?;
                learn(app, ctx, req.src(), message);
                ctx.reply(req, &json!({"type": "broadcast_ok"}));
                Ok(())
            })
            .on("gossip", |app, ctx, req| {
                let Message { message } = req.body()?;
                learn(app, ctx, req.src(), message);
                Ok(())
            })
            .on("read", |app, ctx, req| {
                ctx.reply(req, &json!({"type": "read_ok", "messages": app.seen}));
                Ok(())
            });
    }
}

fn main() -> std::process::ExitCode {
    mionode::run::<Once>()
}
