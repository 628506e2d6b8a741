//! `echo {echo}` → `echo_ok {echo}`: the value comes back byte for byte, never parsed.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::context::Request;
use crate::protocol::Body;
use crate::Node;

#[derive(Deserialize)]
struct Echo<'a> {
    #[serde(borrow)]
    echo: &'a RawValue,
}

pub(super) fn handle(node: &mut Node, req: &Request<'_>) {
    if let Some(Echo { echo }) = super::parse(node, req) {
        node.ctx.reply(req, &Body::EchoOk { echo });
    }
}
