//! Deliberately wrong: a g-counter on one shared `seq-kv` key that adds by read-then-write,
//! without `cas`. Two adds that read the same value lose one of them (and seq-kv's stale
//! reads make that common), so the g-counter tests must fail it.

use std::time::Duration;

use mionode::kv::{Kv, KvError};
use mionode::{App, Error, NoFlags, Routes};
use serde::Deserialize;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(1);

struct Blind;

#[derive(Deserialize)]
struct Add {
    delta: u64,
}

impl App for Blind {
    type Flags = NoFlags;
    fn new(_: &NoFlags) -> Self {
        Blind
    }
    fn routes(routes: &mut Routes<Self>) {
        routes
            .on("add", |_, ctx, req| {
                let Add { delta } = req.body()?;
                let to = req.reply_to();
                Kv::SEQ.read(
                    ctx,
                    "counter",
                    TIMEOUT,
                    move |_, ctx, read: Result<u64, KvError>| {
                        let now = match read {
                            Ok(n) => n,
                            Err(KvError::KeyDoesNotExist) => 0,
                            Err(e) => {
                                return ctx.reply_error(&to, &Error::unavailable(e.to_string()))
                            }
                        };
                        Kv::SEQ.write(ctx, "counter", now + delta, TIMEOUT, move |_, ctx, done| {
                            match done {
                                Ok(()) => ctx.reply_later(&to, &json!({"type": "add_ok"})),
                                Err(e) => ctx.reply_error(&to, &e.into()),
                            }
                        });
                    },
                );
                Ok(())
            })
            .on("read", |_, ctx, req| {
                let to = req.reply_to();
                Kv::SEQ.read(
                    ctx,
                    "counter",
                    TIMEOUT,
                    move |_, ctx, read: Result<u64, KvError>| match read {
                        Ok(n) => ctx.reply_later(&to, &json!({"type": "read_ok", "value": n})),
                        Err(KvError::KeyDoesNotExist) => {
                            ctx.reply_later(&to, &json!({"type": "read_ok", "value": 0}))
                        }
                        Err(e) => ctx.reply_error(&to, &Error::unavailable(e.to_string())),
                    },
                );
                Ok(())
            });
    }
}

fn main() -> std::process::ExitCode {
    mionode::run::<Blind>()
}
