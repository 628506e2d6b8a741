//! `batch_echo {values}` → `batch_echo_ok {results}`: one echo RPC to this node per value.
//!
//! Each value goes out as its own `echo` request addressed to this node, through Maelstrom's
//! network and back; the `echo_ok` replies arrive in any order and are put back in the order
//! of `values`. A batch is an entry in [`Batches`], a slab owned by this handler; its RPC
//! callbacks carry the entry's key and the batch's id, never a pointer to it.
//!
//! An echo that times out is sent again with a fresh `msg_id`, up to the configured number of
//! attempts. When one runs out of attempts the batch answers error 0 and cancels its other
//! echoes still in flight, so a failed batch leaves nothing pending behind. Replies to earlier
//! attempts of a retried echo are stale (their RPC is over) and are dropped by the RPC layer.

use std::time::Instant;

use serde::Deserialize;
use serde_json::value::RawValue;
use slab::Slab;

use crate::context::{Request, RpcError, RpcResult};
use crate::protocol::{Body, ErrorCode};
use crate::Node;

/// `in_flight` marker of a value whose echo has come back.
const DONE: u64 = u64::MAX;

/// Batches in progress.
#[derive(Default)]
pub(crate) struct Batches {
    table: Slab<Batch>,
    /// Id of the next batch; tells a batch from a later one in the same slot.
    next_id: u64,
}

struct Batch {
    id: u64,
    client: String,
    client_msg_id: u64,
    started: Instant,
    /// Each value; replaced by its echo once that comes back, if the two differ.
    values: Vec<Box<RawValue>>,
    /// `msg_id` of each value's echo in flight, or [`DONE`].
    in_flight: Vec<u64>,
    /// Values whose echo has not come back.
    remaining: usize,
}

#[derive(Deserialize)]
struct BatchEcho<'a> {
    #[serde(borrow)]
    values: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct EchoReply<'a> {
    #[serde(borrow)]
    echo: &'a RawValue,
}

/// Where a callback's value belongs.
#[derive(Clone, Copy)]
struct Slot {
    key: usize,
    id: u64,
    index: usize,
}

pub(super) fn handle(node: &mut Node, req: &Request<'_>) {
    let Some(BatchEcho { values }) = super::parse(node, req) else {
        return;
    };
    if values.is_empty() {
        return node.ctx.reply(req, &Body::BatchEchoOk { results: &[] });
    }
    let batches = &mut node.handlers.batches;
    let id = batches.next_id;
    batches.next_id += 1;
    let count = values.len();
    let key = batches.table.insert(Batch {
        id,
        client: req.src.to_owned(),
        client_msg_id: req.msg_id,
        started: node.ctx.now(),
        values: values.into_iter().map(ToOwned::to_owned).collect(),
        in_flight: vec![DONE; count],
        remaining: count,
    });
    for index in 0..count {
        if !send_echo(node, Slot { key, id, index }, 1) {
            break;
        }
    }
}

/// Sends attempt `attempt` of one value's echo. Returns false if the batch failed instead.
fn send_echo(node: &mut Node, slot: Slot, attempt: u32) -> bool {
    let Node { ctx, handlers, .. } = node;
    let Some(batch) = handlers.batches.table.get_mut(slot.key) else {
        return false;
    };
    let timeout = ctx.config().rpc_timeout;
    let body = Body::Echo {
        echo: &batch.values[slot.index],
    };
    let sent = ctx.rpc_to_self(&body, timeout, move |node: &mut Node, outcome| {
        on_echo(node, slot, attempt, outcome)
    });
    match sent {
        Ok(msg_id) => {
            batch.in_flight[slot.index] = msg_id;
            true
        }
        Err(e) => {
            let text = format!("could not send echo {}: {e}", slot.index);
            fail(node, slot.key, ErrorCode::Crash.code(), &text);
            false
        }
    }
}

fn on_echo(node: &mut Node, slot: Slot, attempt: u32, outcome: RpcResult<'_>) {
    let batch = match node.handlers.batches.table.get_mut(slot.key) {
        Some(batch) if batch.id == slot.id => batch,
        // Unreachable: a batch cancels its RPCs when it ends.
        _ => return debug_assert!(false, "echo for finished batch {}", slot.id),
    };
    let error = match outcome {
        Ok(body) => match serde_json::from_str::<EchoReply<'_>>(body.get()) {
            Ok(reply) => {
                // The results are the echoes. One equal to its value (on Maelstrom's network,
                // every one) is already stored: copying it again would cost an allocation.
                let stored = &mut batch.values[slot.index];
                if reply.echo.get() != stored.get() {
                    *stored = reply.echo.to_owned();
                }
                batch.in_flight[slot.index] = DONE;
                batch.remaining -= 1;
                if batch.remaining == 0 {
                    finish(node, slot.key);
                }
                return;
            }
            Err(e) => RpcError::Remote {
                code: ErrorCode::Crash.code(),
                text: format!("echo reply without a usable echo: {e}"),
            },
        },
        Err(e) => e,
    };
    let attempts = node.ctx.config().rpc_attempts;
    if error == RpcError::Timeout && attempt < attempts {
        node.ctx.stats_mut().retries += 1;
        log::debug!(
            "batch {}: echo {} timed out, attempt {}",
            slot.id,
            slot.index,
            attempt + 1
        );
        send_echo(node, slot, attempt + 1);
        return;
    }
    let text = match error {
        RpcError::Timeout => format!(
            "echo of value {} timed out after {attempt} attempts",
            slot.index
        ),
        RpcError::Remote { ref text, .. } => format!("echo of value {} failed: {text}", slot.index),
    };
    fail(node, slot.key, error.code(), &text);
}

/// Answers the client with every echo, in order.
fn finish(node: &mut Node, key: usize) {
    let Some(batch) = take(node, key) else { return };
    node.ctx.record_batch(batch.values.len(), batch.started);
    let body = Body::BatchEchoOk {
        results: &batch.values,
    };
    node.ctx.reply_to(&batch.client, batch.client_msg_id, &body);
}

/// Answers the client with an error and forgets every echo still in flight.
fn fail(node: &mut Node, key: usize, code: u32, text: &str) {
    let Some(batch) = take(node, key) else { return };
    for &msg_id in batch.in_flight.iter().filter(|&&m| m != DONE) {
        node.ctx.cancel_rpc(msg_id);
    }
    log::warn!(
        "batch_echo from {} (msg_id {}) failed: {text}",
        batch.client,
        batch.client_msg_id
    );
    let body = Body::Error { code, text };
    node.ctx.stats_mut().errors_sent += 1;
    node.ctx.reply_to(&batch.client, batch.client_msg_id, &body);
}

/// Removes batch `key`, which its caller has just found in the table.
fn take(node: &mut Node, key: usize) -> Option<Batch> {
    let batch = node.handlers.batches.table.try_remove(key);
    debug_assert!(
        batch.is_some(),
        "batch in slot {key} vanished while being answered"
    );
    batch
}
