//! Message handlers, one file per message family.
//!
//! [`dispatch`] routes a request by its `type`. Handlers parse only the fields they need from
//! the raw body; a known type with missing or mistyped fields is answered with error 12, an
//! unknown type with error 10, and anything but `init` before `init` with error 11.

mod backoff;
mod batch_echo;
mod echo;
mod init;
mod outbound;
mod proxy;
mod reaper;
mod relay;
mod retry;
#[cfg(test)]
mod testing;

use serde::Deserialize;

use crate::config::Config;
use crate::context::Request;
use crate::protocol::ErrorCode;
use crate::Node;

pub(crate) use backoff::Backoff;
pub(crate) use batch_echo::Batches;
pub(crate) use reaper::Reaper;
pub(crate) use retry::Relays;

/// State owned by handlers whose work spans several messages.
///
/// `proxy` and `send_fire_forget` have none: each is one RPC, and its callback captures all
/// it needs (whom to answer), so the pending RPC table is their only state.
pub(crate) struct Handlers {
    pub(crate) batches: Batches,
    /// `relay` and `backoff_relay` operations in progress.
    pub(crate) relays: Relays,
    /// Reaped callbacks not yet logged.
    pub(crate) reaper: Reaper,
    /// The jitter generator of the backoff schedules.
    pub(crate) backoff: Backoff,
}

impl Handlers {
    pub(crate) fn new(config: &Config) -> Self {
        Handlers {
            batches: Batches::default(),
            relays: Relays::default(),
            reaper: Reaper::default(),
            backoff: Backoff::new(config.seed),
        }
    }
}

/// The request types mionode answers.
pub const REQUEST_TYPES: [&str; 9] = [
    "init",
    "echo",
    "batch_echo",
    "proxy",
    "relay",
    "send_fire_forget",
    "pending_count",
    "backoff_relay",
    "compute_backoff",
];

/// Routes `req` to its handler.
pub(crate) fn dispatch(node: &mut Node, req: &Request<'_>) {
    if node.ctx.identity().is_none() && req.kind != "init" {
        let text = format!("not initialized yet: {:?} arrived before init", req.kind);
        return node
            .ctx
            .reply_error(req, ErrorCode::TemporarilyUnavailable.code(), &text);
    }
    match req.kind {
        "init" => init::handle(node, req),
        "echo" => echo::handle(node, req),
        "batch_echo" => batch_echo::handle(node, req),
        "proxy" => proxy::handle(node, req),
        "relay" => relay::handle(node, req),
        "send_fire_forget" => reaper::fire_forget(node, req),
        "pending_count" => reaper::pending_count(node, req),
        "backoff_relay" => backoff::relay(node, req),
        "compute_backoff" => backoff::compute(node, req),
        other => {
            let text = format!("unsupported message type {other:?}");
            node.ctx
                .reply_error(req, ErrorCode::NotSupported.code(), &text);
        }
    }
}

/// Parses the fields of `req` a handler needs, or answers error 12 and returns `None`.
fn parse<'a, T: Deserialize<'a>>(node: &mut Node, req: &Request<'a>) -> Option<T> {
    match serde_json::from_str(req.body.get()) {
        Ok(fields) => Some(fields),
        Err(e) => {
            let text = format!("malformed {}: {e}", req.kind);
            log::warn!("from {}: {text}", req.src);
            node.ctx
                .reply_error(req, ErrorCode::MalformedRequest.code(), &text);
            None
        }
    }
}
