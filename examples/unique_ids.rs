//! Maelstrom's unique-ids workload: `generate` -> `generate_ok {id}`, every id unique across
//! the nodes and the restarts of a test, with total availability (no node talks to any other
//! node or service, so no partition can stop it).
//!
//! An id is `"<node>-<boot>-<n>"`:
//! - `<node>`, the node's id, sets nodes apart: no two live nodes share it;
//! - `<n>`, a counter from 0, sets apart the ids of one run of the process;
//! - `<boot>`, 64 random bits drawn at `init` from the node's generator, sets apart the runs
//!   of a node that is restarted (its counter starts again at 0, and the node has no disk or
//!   clock it may read). Two runs of one node collide with probability 2^-64 per pair.
//!   Without `--seed` the runtime seeds the generator from the operating system, so every
//!   start draws anew; a restarted node must not be given the same `--seed` again.
//!
//! A scheme on a shared counter (`lin-kv`, `lin-tso`) would give shorter ids but stop during
//! a partition; one on the clock would break the determinism the simulator relies on.

use mionode::{App, Context, NoFlags, Routes};
use serde_json::json;

/// What makes this run's ids unique.
struct Ids {
    /// Drawn at init; see the module docs.
    boot: u64,
    /// The next id's counter.
    next: u64,
}

impl App for Ids {
    type Flags = NoFlags;

    fn new(_: &NoFlags) -> Self {
        Ids { boot: 0, next: 0 }
    }

    fn routes(routes: &mut Routes<Self>) {
        routes.on("generate", |ids, ctx, req| {
            let id = format!("{}-{:016x}-{}", ctx.node_id(), ids.boot, ids.next);
            ids.next += 1;
            ctx.reply(req, &json!({"type": "generate_ok", "id": id}));
            Ok(())
        });
    }

    fn on_init(&mut self, ctx: &mut Context<Self>) {
        self.boot = ctx.rng().u64(..);
    }
}

fn main() -> std::process::ExitCode {
    mionode::run::<Ids>()
}
