//! `echo {echo}` → `echo_ok {echo}`: the value comes back byte for byte, never parsed.

use mionode::{Error, Request};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::bodies::Body;
use super::{Ctx, RpcChapter};

#[derive(Deserialize)]
struct Echo<'a> {
    #[serde(borrow)]
    echo: &'a RawValue,
}

pub(super) fn handle(_: &mut RpcChapter, ctx: &mut Ctx, req: &Request<'_>) -> Result<(), Error> {
    let Echo { echo } = req.body()?;
    ctx.reply(req, &Body::EchoOk { echo });
    Ok(())
}
