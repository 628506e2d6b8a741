//! `relay {target, payload}` → `relay_ok {attempts, result}`: an RPC retried on timeout.
//!
//! Up to [`Config::relay_attempts`](crate::Config::relay_attempts) attempts, each with a fresh
//! `msg_id` and [`Config::relay_timeout`](crate::Config::relay_timeout) to be answered, the
//! next sent as soon as the previous one's time is up. `attempts` counts the attempts made
//! when the answer came, and `result` is the reply body. Failing every attempt answers error 0
//! `"RPC failed after N attempts"`. The retry machinery, and why a late reply to an earlier
//! attempt is accepted, is in [`retry`].

use super::outbound::Forward;
use super::retry::{self, Kind, Plan, MAX_ATTEMPTS};
use crate::context::Request;
use crate::Node;

pub(super) fn handle(node: &mut Node, req: &Request<'_>) {
    let Some(Forward { target, payload }) = Forward::parse(node, req) else {
        return;
    };
    let config = node.ctx.config();
    let plan = Plan {
        kind: Kind::Relay,
        timeout: config.relay_timeout,
        delays_ms: vec![0; config.relay_attempts.clamp(1, MAX_ATTEMPTS) as usize - 1],
    };
    retry::start(node, req, &target, &payload, plan);
}
