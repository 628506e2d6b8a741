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
use crate::message_type::MessageType;
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

/// Routes `req` to its handler.
pub(crate) fn dispatch(node: &mut Node, req: &Request<'_>) {
    if node.ctx.identity().is_none() && req.msg_type != MessageType::Init {
        let text = format!("not initialized yet: {:?} arrived before init", req.kind);
        return node
            .ctx
            .reply_error(req, ErrorCode::TemporarilyUnavailable.code(), &text);
    }
    match req.msg_type {
        MessageType::Init => init::handle(node, req),
        MessageType::Echo => echo::handle(node, req),
        MessageType::BatchEcho => batch_echo::handle(node, req),
        MessageType::Proxy => proxy::handle(node, req),
        MessageType::Relay => relay::handle(node, req),
        MessageType::SendFireForget => reaper::fire_forget(node, req),
        MessageType::PendingCount => reaper::pending_count(node, req),
        MessageType::BackoffRelay => backoff::relay(node, req),
        MessageType::ComputeBackoff => backoff::compute(node, req),
        // Replies and errors without `in_reply_to`, and types nobody knows.
        MessageType::InitOk
        | MessageType::EchoOk
        | MessageType::BatchEchoOk
        | MessageType::ProxyOk
        | MessageType::RelayOk
        | MessageType::SendFireForgetOk
        | MessageType::PendingCountOk
        | MessageType::BackoffRelayOk
        | MessageType::ComputeBackoffOk
        | MessageType::Error
        | MessageType::Other => {
            let text = format!("unsupported message type {:?}", req.kind);
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
