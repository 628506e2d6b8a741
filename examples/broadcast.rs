//! Maelstrom's broadcast workload: `topology {topology}` -> `topology_ok`,
//! `broadcast {message}` -> `broadcast_ok`, `read` -> `read_ok {messages}`.
//!
//! Every node keeps the set of values it has seen and, for each neighbour the topology gives
//! it, the values that neighbour has not acknowledged yet. Every [`GOSSIP_EVERY`] a timer
//! sends each neighbour with unacknowledged values one `gossip` RPC carrying them all (up to
//! [`MAX_BATCH`]): one message per neighbour per tick, however many values arrived. A
//! `gossip_ok` removes the values it acknowledges; a lost request, a lost reply or a
//! partition leaves them in place, and the next tick after the RPC's deadline sends them
//! again. So a value, once a node has answered `broadcast_ok` for it, is retried hop by hop
//! until every neighbour has it: after a partition heals it reaches every node of a connected
//! topology. A neighbour that receives a value twice acknowledges it again and ignores it.
//!
//! State lives in memory only: a node that crashes loses what it has not passed on yet
//! (Maelstrom's broadcast workload partitions nodes but never crashes them).
//!
//! Deterministic: no clock but the runtime's timers, and only ordered maps and sets, so what
//! is sent, and in what order, follows from the input alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mionode::{App, Context, Error, NoFlags, Request, Routes};
use serde::Deserialize;
use serde_json::json;

/// How often unacknowledged values are sent to each neighbour.
const GOSSIP_EVERY: Duration = Duration::from_millis(100);
/// How long a `gossip` RPC waits for its `gossip_ok`; then the values go again.
const GOSSIP_TIMEOUT: Duration = Duration::from_millis(500);
/// The app's own metric, beside the runtime's.
const GOSSIPED: &str = "broadcast_values_gossiped_total";
/// At most this many values per `gossip` message, to keep lines short after a long partition.
const MAX_BATCH: usize = 1000;

/// The values seen, and what each neighbour still lacks.
struct Broadcast {
    seen: BTreeSet<i64>,
    neighbours: BTreeMap<String, Neighbour>,
    /// Values sent in `gossip` messages, served on `/metrics` with `--metrics-addr`.
    gossiped: metrics::Counter,
}

/// What a neighbour has not acknowledged, and whether a `gossip` to it awaits its answer.
#[derive(Default)]
struct Neighbour {
    unacked: BTreeSet<i64>,
    in_flight: bool,
}

#[derive(Deserialize)]
struct Topology {
    topology: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct Message {
    message: i64,
}

#[derive(Deserialize)]
struct Gossip {
    messages: Vec<i64>,
}

impl Broadcast {
    /// Adds values this node learned from `from` (a client, or a neighbour that has them):
    /// the new ones are owed to every other neighbour.
    fn learn(&mut self, from: &str, values: impl IntoIterator<Item = i64>) {
        for value in values {
            if self.seen.insert(value) {
                for (id, n) in &mut self.neighbours {
                    if id != from {
                        n.unacked.insert(value);
                    }
                }
            }
        }
    }

    /// Makes `ids` the neighbours; a new neighbour is owed every value seen so far.
    fn set_neighbours<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        let mut old = std::mem::take(&mut self.neighbours);
        for id in ids {
            let n = old.remove(id).unwrap_or_else(|| Neighbour {
                unacked: self.seen.clone(),
                in_flight: false,
            });
            self.neighbours.insert(id.to_owned(), n);
        }
    }
}

fn topology(app: &mut Broadcast, ctx: &mut Context<Broadcast>, req: &Request) -> Result<(), Error> {
    let Topology { topology } = req.body()?;
    let mine = topology.get(ctx.node_id()).into_iter().flatten();
    // Only nodes of the cluster: sending anywhere else would break Maelstrom's reader.
    let known: Vec<&str> = mine
        .map(String::as_str)
        .filter(|id| *id != ctx.node_id() && ctx.is_known_target(id))
        .collect();
    app.set_neighbours(known);
    ctx.reply(req, &json!({"type": "topology_ok"}));
    Ok(())
}

fn broadcast(
    app: &mut Broadcast,
    ctx: &mut Context<Broadcast>,
    req: &Request,
) -> Result<(), Error> {
    let Message { message } = req.body()?;
    app.learn(req.src(), [message]);
    ctx.reply(req, &json!({"type": "broadcast_ok"}));
    Ok(())
}

fn read(app: &mut Broadcast, ctx: &mut Context<Broadcast>, req: &Request) -> Result<(), Error> {
    ctx.reply(req, &json!({"type": "read_ok", "messages": app.seen}));
    Ok(())
}

fn gossip(app: &mut Broadcast, ctx: &mut Context<Broadcast>, req: &Request) -> Result<(), Error> {
    let Gossip { messages } = req.body()?;
    if let Some(n) = app.neighbours.get_mut(req.src()) {
        for value in &messages {
            n.unacked.remove(value);
        }
    }
    app.learn(req.src(), messages);
    ctx.reply(req, &json!({"type": "gossip_ok"}));
    Ok(())
}

/// Sends every neighbour that lacks values and has no `gossip` in flight one batch, then
/// sets the next tick.
fn tick(app: &mut Broadcast, ctx: &mut Context<Broadcast>) {
    for (id, n) in &mut app.neighbours {
        if n.in_flight || n.unacked.is_empty() {
            continue;
        }
        let batch: Vec<i64> = n.unacked.iter().copied().take(MAX_BATCH).collect();
        let body = json!({"type": "gossip", "messages": batch});
        let peer = id.clone();
        n.in_flight = true;
        app.gossiped.increment(batch.len() as u64);
        ctx.rpc(
            id,
            &body,
            GOSSIP_TIMEOUT,
            move |app: &mut Broadcast, _, result| {
                let Some(n) = app.neighbours.get_mut(&peer) else {
                    return;
                };
                n.in_flight = false;
                if result.is_ok() {
                    for value in &batch {
                        n.unacked.remove(value);
                    }
                }
            },
        );
    }
    ctx.after(GOSSIP_EVERY, tick);
}

impl App for Broadcast {
    type Flags = NoFlags;

    fn new(_: &NoFlags) -> Self {
        metrics::describe_counter!(GOSSIPED, "Values sent to neighbours in gossip messages.");
        Broadcast {
            seen: BTreeSet::new(),
            neighbours: BTreeMap::new(),
            gossiped: metrics::counter!(GOSSIPED),
        }
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .on("topology", topology)
            .on("broadcast", broadcast)
            .on("read", read)
            .on("gossip", gossip);
    }

    /// Until a `topology` says otherwise, every peer is a neighbour.
    fn on_init(&mut self, ctx: &mut Context<Self>) {
        let peers: Vec<String> = ctx.peers().map(str::to_owned).collect();
        self.set_neighbours(peers.iter().map(String::as_str));
        ctx.after(GOSSIP_EVERY, tick);
    }
}

fn main() -> std::process::ExitCode {
    mionode::run::<Broadcast>()
}
