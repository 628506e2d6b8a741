//! The callback reaper: `send_fire_forget {target, payload}` → `send_fire_forget_ok {pending}`
//! and `pending_count` → `pending_count_ok {count}`.
//!
//! # The timer wheel is the reaper
//!
//! A callback nobody awaits must still be freed, or a node that sends to a silent peer grows
//! until it dies. The textbook fix is a reaper thread or a periodic sweep that scans every
//! pending callback for old ones: O(pending) work on every tick, most of it finding nothing.
//!
//! mionode needs neither, because no RPC is sent without a deadline. `send_fire_forget` is an
//! ordinary RPC whose deadline is the reaper threshold
//! ([`Config::reaper_threshold`](crate::Config::reaper_threshold)); its deadline sits in the
//! timer wheel like every other. When it passes, the wheel hands back exactly that entry (O(1),
//! no scan), the pending table frees the slot, and the callback runs once with a timeout:
//! here, all it does is count the reaping. A reply that comes first cancels the deadline and
//! frees the entry the same way. Slots freed either way are reused by later RPCs, and an
//! emptied table gives its memory back, so a burst leaves nothing behind.
//!
//! Reaping is counted in [`Stats::reaped`](crate::stats::Stats::reaped) and logged as one
//! summary line per [`SUMMARY_WINDOW`], not a line per callback: the first reaping arms a
//! one-shot wake-up on the same wheel, which logs the count and disarms. A node that reaps
//! nothing sets no timer at all.

use std::time::{Duration, Instant};

use super::outbound::Forward;
use crate::context::{Request, RpcError};
use crate::protocol::{Body, ErrorCode};
use crate::Node;

/// How long reapings are gathered before they are logged as one line.
pub const SUMMARY_WINDOW: Duration = Duration::from_secs(1);

/// Reapings not yet logged.
#[derive(Default)]
pub(crate) struct Reaper {
    /// Callbacks reaped since the window opened.
    reaped: u64,
    /// When the first of them was reaped; `Some` while a summary is due.
    since: Option<Instant>,
}

pub(super) fn fire_forget(node: &mut Node, req: &Request<'_>) {
    let Some(Forward { target, payload }) = Forward::parse(node, req) else {
        return;
    };
    let threshold = node.ctx.config().reaper_threshold;
    let sent = node
        .ctx
        .rpc(&target, &payload, threshold, |node: &mut Node, outcome| {
            // A reply is welcome and ignored; only the deadline has work to do.
            if let Err(RpcError::Timeout) = outcome {
                reaped(node);
            }
        });
    match sent {
        Ok(_) => {
            let pending = node.ctx.pending_rpcs();
            node.ctx.reply(req, &Body::SendFireForgetOk { pending });
        }
        Err(e) => {
            let text = format!("could not send {} to {target}: {e}", payload.kind());
            node.ctx.reply_error(req, ErrorCode::Crash.code(), &text);
        }
    }
}

pub(super) fn pending_count(node: &mut Node, req: &Request<'_>) {
    let count = node.ctx.pending_rpcs();
    node.ctx.reply(req, &Body::PendingCountOk { count });
}

/// Counts one reaped callback, opening a summary window if none is open.
fn reaped(node: &mut Node) {
    node.ctx.stats_mut().reaped += 1;
    let reaper = &mut node.handlers.reaper;
    reaper.reaped += 1;
    if reaper.since.is_none() {
        reaper.since = Some(node.ctx.now());
        node.ctx.after(SUMMARY_WINDOW, summarize);
    }
}

/// Logs the reapings of the window that just closed.
fn summarize(node: &mut Node) {
    let reaper = &mut node.handlers.reaper;
    let since = reaper.since.take().unwrap_or(node.ctx.now());
    let count = std::mem::take(&mut reaper.reaped);
    let secs = node
        .ctx
        .now()
        .saturating_duration_since(since)
        .as_secs_f64();
    log::info!(
        "reaper: reaped {count} unanswered callbacks in the last {secs:.1} s; {} RPCs pending",
        node.ctx.pending_rpcs()
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::Driver;
    use crate::Config;
    use serde_json::json;

    fn fire_forget(d: &mut Driver, msg_id: u64) {
        let body = json!({"type":"send_fire_forget","msg_id":msg_id,"target":"n2",
            "payload":{"type":"echo","echo":msg_id}});
        d.receive("c1", body);
    }

    #[test]
    fn fire_forget_sends_the_payload_then_answers_the_pending_count() {
        let mut d = Driver::new(Config::default());
        fire_forget(&mut d, 2);
        let out = d.output();
        assert_eq!(out[0]["dest"], "n2");
        assert_eq!(out[0]["body"], json!({"type":"echo","echo":2,"msg_id":1}));
        assert_eq!(out[1]["body"]["type"], "send_fire_forget_ok");
        assert_eq!(out[1]["body"]["pending"], 1);
        d.receive("c1", json!({"type":"pending_count","msg_id":3}));
        assert_eq!(d.one()["body"]["count"], 1);
    }

    #[test]
    fn unanswered_fire_forget_is_reaped_at_the_threshold() {
        let mut d = Driver::new(Config::default());
        fire_forget(&mut d, 2);
        fire_forget(&mut d, 3);
        d.output();
        d.advance(1999);
        assert_eq!(d.pending(), 2);
        d.advance(1);
        assert_eq!(d.pending(), 0);
        assert_eq!(d.node.ctx.stats().reaped, 2);
        assert!(d.output().is_empty(), "reaping answers nobody");
    }

    #[test]
    fn answered_fire_forget_is_freed_and_not_counted_as_reaped() {
        let mut d = Driver::new(Config::default());
        fire_forget(&mut d, 2);
        let id = d.output()[0]["body"]["msg_id"].clone();
        d.receive("n2", json!({"type":"echo_ok","echo":2,"in_reply_to":id}));
        assert_eq!(d.pending(), 0);
        d.advance(5000);
        assert_eq!(d.node.ctx.stats().reaped, 0);
        assert_eq!(d.node.ctx.timers_parked(), 0);
    }

    #[test]
    fn reaping_logs_one_summary_per_window_and_then_sets_no_timer() {
        let mut d = Driver::new(Config::default());
        for id in 0..50 {
            fire_forget(&mut d, id);
        }
        d.advance(2000);
        assert_eq!(d.node.handlers.reaper.reaped, 50);
        assert_eq!(
            d.node.ctx.timers_parked(),
            1,
            "one summary wake-up, not fifty"
        );
        d.advance(super::SUMMARY_WINDOW.as_millis() as u64);
        assert_eq!(d.node.handlers.reaper.reaped, 0, "summarized");
        assert_eq!(d.node.ctx.timers_parked(), 0, "disarmed");
    }

    /// 100,000 callbacks nobody answers: all are reaped, and the pending table comes back to
    /// its idle size instead of keeping its peak. (tests/rpc_family.rs repeats this through a
    /// node process and checks its resident memory across two rounds.)
    #[test]
    fn a_hundred_thousand_fire_forgets_are_reaped_and_their_memory_returned() {
        const BURST: u64 = 100_000;
        let config = Config {
            reaper_threshold: Duration::from_millis(50),
            ..Config::default()
        };
        let mut d = Driver::new(config);
        for id in 0..BURST {
            let line = format!(
                r#"{{"src":"c1","dest":"n1","body":{{"type":"send_fire_forget","msg_id":{id},"target":"n2","payload":{{"type":"echo","echo":{id}}}}}}}"#
            );
            d.node.handle_line(line.as_bytes(), d.now);
        }
        assert_eq!(d.pending(), BURST as usize);
        assert!(d.node.ctx.pending_capacity() >= BURST as usize);
        d.node.outbox().take();
        d.advance(50);
        assert_eq!(d.pending(), 0);
        assert_eq!(d.node.ctx.stats().reaped, BURST);
        assert!(
            d.node.ctx.pending_capacity() <= 4096,
            "the empty table kept room for {} RPCs",
            d.node.ctx.pending_capacity()
        );
        // Only the summary's wake-up is left on the wheel.
        assert_eq!(d.node.ctx.timers_parked(), 1);
    }
}
