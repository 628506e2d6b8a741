//! Small apps on the public API for the simulator's tests and benchmark: a broadcast that
//! floods every value to every peer, retrying until each acknowledges (correct), or once
//! without retrying (`--no-retry`: the planted bug a partition exposes); and an echo that
//! answers too late.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use mionode::{App, Context, NoFlags, Routes};
use serde::Deserialize;
use serde_json::json;

/// The broadcast's flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FloodFlags {
    /// Gossip each value once and never retry: the bug.
    #[arg(long)]
    pub no_retry: bool,
}

/// Broadcast by flooding: each new value goes to every peer by RPC, again after each
/// timeout or error, until acknowledged.
pub struct Flood {
    seen: BTreeSet<u64>,
    retry: bool,
}

#[derive(Deserialize)]
struct Message {
    message: u64,
}

/// How long a gossip RPC waits for its acknowledgement before it is sent again.
const GOSSIP_TIMEOUT: Duration = Duration::from_millis(400);

impl App for Flood {
    type Flags = FloodFlags;

    fn new(flags: &FloodFlags) -> Self {
        Flood {
            seen: BTreeSet::new(),
            retry: !flags.no_retry,
        }
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .on("broadcast", |app, ctx, req| {
                let Message { message } = req.body()?;
                ctx.reply(req, &json!({"type": "broadcast_ok"}));
                if app.seen.insert(message) {
                    let peers: Vec<String> = ctx.peers().map(String::from).collect();
                    for peer in peers {
                        gossip(app, ctx, peer, message);
                    }
                }
                Ok(())
            })
            .on("gossip", |app, ctx, req| {
                let Message { message } = req.body()?;
                app.seen.insert(message);
                ctx.reply(req, &json!({"type": "gossip_ok"}));
                Ok(())
            })
            .on("read", |app, ctx, req| {
                ctx.reply(req, &json!({"type": "read_ok", "messages": app.seen}));
                Ok(())
            })
            .on("topology", |_, ctx, req| {
                ctx.reply(req, &json!({"type": "topology_ok"}));
                Ok(())
            });
    }
}

fn gossip(app: &mut Flood, ctx: &mut Context<Flood>, peer: String, message: u64) {
    let body = json!({"type": "gossip", "message": message});
    if !app.retry {
        ctx.send(&peer, &body);
        return;
    }
    // A little jitter from the node's seeded generator, so retries do not march in step.
    let timeout = GOSSIP_TIMEOUT + Duration::from_millis(ctx.rng().u64(..100));
    ctx.rpc(&peer.clone(), &body, timeout, move |app, ctx, reply| {
        if reply.is_err() {
            gossip(app, ctx, peer, message);
        }
    });
}

/// Echo that answers after `LATE`, past the client's 5 s timeout: Maelstrom has closed that
/// client by then, so the reply goes to an unknown destination.
pub struct LateEcho;

/// How late [`LateEcho`] answers.
pub const LATE: Duration = Duration::from_secs(6);

impl App for LateEcho {
    type Flags = NoFlags;

    fn new(_: &NoFlags) -> Self {
        LateEcho
    }

    fn routes(routes: &mut Routes<Self>) {
        routes.on("echo", |_, ctx, req| {
            let body: serde_json::Value = req.body()?;
            let to = req.reply_to();
            ctx.after(LATE, move |_, ctx| {
                ctx.reply_later(&to, &json!({"type": "echo_ok", "echo": body["echo"]}));
            });
            Ok(())
        });
    }
}

/// Echo whose handler panics on a quarter of its requests (by its seeded generator): a bug a
/// sweep must list, not die of.
pub struct Panicky;

impl App for Panicky {
    type Flags = NoFlags;

    fn new(_: &NoFlags) -> Self {
        Panicky
    }

    fn routes(routes: &mut Routes<Self>) {
        routes.on("echo", |_, ctx, req| {
            assert!(ctx.rng().u32(..4) != 0, "the planted panic");
            let body: serde_json::Value = req.body()?;
            ctx.reply(req, &json!({"type": "echo_ok", "echo": body["echo"]}));
            Ok(())
        });
    }
}
