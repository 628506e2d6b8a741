//! Deliberately wrong: unique ids made of the node's id and a counter only. Unique until a
//! node restarts and counts from 0 again, so the unique-ids test with restarts must fail it.

use mionode::{App, NoFlags, Routes};
use serde_json::json;

struct Counter(u64);

impl App for Counter {
    type Flags = NoFlags;
    fn new(_: &NoFlags) -> Self {
        Counter(0)
    }
    fn routes(routes: &mut Routes<Self>) {
        routes.on("generate", |app, ctx, req| {
            let id = format!("{}-{}", ctx.node_id(), app.0);
            app.0 += 1;
            ctx.reply(req, &json!({"type": "generate_ok", "id": id}));
            Ok(())
        });
    }
}

fn main() -> std::process::ExitCode {
    mionode::run::<Counter>()
}
