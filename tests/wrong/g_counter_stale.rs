//! Deliberately wrong: examples/g_counter.rs's per-node keys and `cas` loop, but reads that
//! trust `seq-kv` to be fresh (no write of a new value first). A read may miss adds other
//! nodes finished long before, even the final read after the run; the g-counter tests must
//! fail it.

use std::time::Duration;

use mionode::kv::{Kv, KvError};
use mionode::{App, Context, Error, NoFlags, ReplyTo, Routes};
use serde::Deserialize;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Stale {
    mine: u64,
}

#[derive(Deserialize)]
struct Add {
    delta: u64,
}

fn try_add(app: &mut Stale, ctx: &mut Context<Stale>, to: ReplyTo, delta: u64, tries: u32) {
    let me = ctx.node_id().to_owned();
    let (from, next) = (app.mine, app.mine + delta);
    Kv::SEQ.cas(
        ctx,
        me.clone(),
        from,
        next,
        true,
        TIMEOUT,
        move |app, ctx, result| match result {
            Ok(()) => {
                app.mine = app.mine.max(next);
                ctx.reply_later(&to, &json!({"type": "add_ok"}));
            }
            Err(KvError::PreconditionFailed) if tries < 20 => {
                Kv::SEQ.read(
                    ctx,
                    me,
                    TIMEOUT,
                    move |app: &mut Stale, ctx, read: Result<u64, KvError>| {
                        app.mine = app.mine.max(read.unwrap_or(0));
                        try_add(app, ctx, to, delta, tries + 1);
                    },
                );
            }
            Err(e) => ctx.reply_error(&to, &Error::from(e).with_text("add failed")),
        },
    );
}

/// Sums the nodes' keys one after another, as `seq-kv` happens to serve them.
fn sum(ctx: &mut Context<Stale>, to: ReplyTo, next: usize, total: u64) {
    let Some(node) = ctx.node_ids().get(next).cloned() else {
        return ctx.reply_later(&to, &json!({"type": "read_ok", "value": total}));
    };
    Kv::SEQ.read(
        ctx,
        node,
        TIMEOUT,
        move |_: &mut Stale, ctx, read: Result<u64, KvError>| match read {
            Ok(value) => sum(ctx, to, next + 1, total + value),
            Err(KvError::KeyDoesNotExist) => sum(ctx, to, next + 1, total),
            Err(e) => ctx.reply_error(&to, &Error::unavailable(e.to_string())),
        },
    );
}

impl App for Stale {
    type Flags = NoFlags;
    fn new(_: &NoFlags) -> Self {
        Stale::default()
    }
    fn routes(routes: &mut Routes<Self>) {
        routes
            .on("add", |app, ctx, req| {
                let Add { delta } = req.body()?;
                try_add(app, ctx, req.reply_to(), delta, 0);
                Ok(())
            })
            .on("read", |_, ctx, req| {
                sum(ctx, req.reply_to(), 0, 0);
                Ok(())
            });
    }
}

fn main() -> std::process::ExitCode {
    mionode::run::<Stale>()
}
