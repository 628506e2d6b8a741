//! The `mionode` binary (being ported to the library API: echo only for now).
use std::process::ExitCode;

use mionode::{App, NoFlags, Routes};

struct Chapter;

impl App for Chapter {
    type Flags = NoFlags;
    fn new(_: &NoFlags) -> Self {
        Chapter
    }
    fn routes(routes: &mut Routes<Self>) {
        routes.on("echo", |_, ctx, req| {
            #[derive(serde::Deserialize)]
            struct Echo<'a> {
                #[serde(borrow)]
                echo: &'a serde_json::value::RawValue,
            }
            let Echo { echo } = req.body()?;
            ctx.reply(req, &serde_json::json!({"type":"echo_ok","echo":echo}));
            Ok(())
        });
    }
}

fn main() -> ExitCode {
    mionode::run::<Chapter>()
}
