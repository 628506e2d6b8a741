//! `init {node_id, node_ids}` → `init_ok`.
//!
//! Maelstrom sends `init` once. A repeat with the same identity is answered again (a client
//! may retry); a repeat that would change the identity is refused with error 22, since
//! pending work was addressed under the old one.

use serde::Deserialize;

use crate::context::{Identity, Request};
use crate::protocol::{Body, ErrorCode};
use crate::Node;

#[derive(Deserialize)]
struct Init {
    node_id: String,
    node_ids: Vec<String>,
}

pub(super) fn handle(node: &mut Node, req: &Request<'_>) {
    let Some(Init { node_id, node_ids }) = super::parse(node, req) else {
        return;
    };
    if !node_ids.contains(&node_id) {
        let text = format!("node_id {node_id:?} is not in node_ids {node_ids:?}");
        return node
            .ctx
            .reply_error(req, ErrorCode::MalformedRequest.code(), &text);
    }
    if let Some(current) = node.ctx.identity() {
        if *current.node_id != *node_id || current.node_ids != node_ids {
            let text = format!("already initialized as {:?}", current.node_id);
            return node
                .ctx
                .reply_error(req, ErrorCode::PreconditionFailed.code(), &text);
        }
    } else {
        log::info!("initialized as {node_id} of {}", node_ids.len());
        node.ctx.set_identity(Identity {
            node_id: node_id.into(),
            node_ids,
        });
    }
    node.ctx.reply(req, &Body::InitOk {});
}
