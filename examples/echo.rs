//! The smallest complete node: Maelstrom's echo workload (`echo {echo}` -> `echo_ok {echo}`).
//! The runtime answers `init`, unknown types (error 10) and malformed bodies (error 12).

use mionode::{App, NoFlags, Routes};
use serde::Deserialize;
use serde_json::{json, value::RawValue};

/// An echo node keeps no state.
struct Echo;

/// The fields of an `echo` request this node reads: the payload, borrowed as raw JSON.
#[derive(Deserialize)]
struct EchoBody<'a> {
    #[serde(borrow)]
    echo: &'a RawValue,
}

impl App for Echo {
    type Flags = NoFlags;

    fn new(_: &NoFlags) -> Self {
        Echo
    }

    fn routes(routes: &mut Routes<Self>) {
        routes.on("echo", |_, ctx, req| {
            let EchoBody { echo } = req.body()?;
            ctx.reply(req, &json!({"type": "echo_ok", "echo": echo}));
            Ok(())
        });
    }
}

fn main() -> std::process::ExitCode {
    mionode::run::<Echo>()
}
