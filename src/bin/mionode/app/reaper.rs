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
//! ([`Flags::reaper_threshold`](super::Flags::reaper_threshold)); its deadline sits in the
//! timer wheel like every other. When it passes, the wheel hands back exactly that entry (O(1),
//! no scan), the pending table frees the slot, and the callback runs once with a timeout:
//! here, all it does is count the reaping. A reply that comes first cancels the deadline and
//! frees the entry the same way. Slots freed either way are reused by later RPCs, and an
//! emptied table gives its memory back, so a burst leaves nothing behind.
//!
//! Reaping is counted in [`AppStats::reaped`](super::AppStats::reaped) and logged as one
//! summary line per [`SUMMARY_WINDOW`], not a line per callback: the first reaping arms a
//! one-shot wake-up on the same wheel, which logs the count and disarms. A node that reaps
//! nothing sets no timer at all.

use std::time::{Duration, Instant};

use mionode::{Error, ErrorCode, Request};

use super::bodies::Body;
use super::outbound::Forward;
use super::{Ctx, RpcChapter};

/// How long reapings are gathered before they are logged as one line.
pub const SUMMARY_WINDOW: Duration = Duration::from_secs(1);

/// Reapings not yet logged.
#[derive(Default)]
pub(super) struct Reaper {
    /// Callbacks reaped since the window opened.
    reaped: u64,
    /// When the first of them was reaped; `Some` while a summary is due.
    since: Option<Instant>,
}

pub(super) fn fire_forget(
    app: &mut RpcChapter,
    ctx: &mut Ctx,
    req: &Request<'_>,
) -> Result<(), Error> {
    let Forward { target, payload } = Forward::parse(ctx, req)?;
    let threshold = app.flags.reaper_threshold;
    ctx.rpc(&target, &payload, threshold, |app, ctx, outcome| {
        // A reply is welcome and ignored; only the deadline has work to do.
        if outcome.is_err_and(|e| e.code() == ErrorCode::Timeout) {
            reaped(app, ctx);
        }
    });
    let pending = ctx.pending_rpcs();
    ctx.reply(req, &Body::SendFireForgetOk { pending });
    Ok(())
}

pub(super) fn pending_count(
    _: &mut RpcChapter,
    ctx: &mut Ctx,
    req: &Request<'_>,
) -> Result<(), Error> {
    let count = ctx.pending_rpcs();
    ctx.reply(req, &Body::PendingCountOk { count });
    Ok(())
}

/// Counts one reaped callback, opening a summary window if none is open.
fn reaped(app: &mut RpcChapter, ctx: &mut Ctx) {
    app.stats.reaped();
    let reaper = &mut app.reaper;
    reaper.reaped += 1;
    if reaper.since.is_none() {
        reaper.since = Some(ctx.now());
        ctx.after(SUMMARY_WINDOW, summarize);
    }
}

/// Logs the reapings of the window that just closed.
fn summarize(app: &mut RpcChapter, ctx: &mut Ctx) {
    let reaper = &mut app.reaper;
    let since = reaper.since.take().unwrap_or(ctx.now());
    let count = std::mem::take(&mut reaper.reaped);
    let secs = ctx.now().saturating_duration_since(since).as_secs_f64();
    log::info!(
        "reaper: reaped {count} unanswered callbacks in the last {secs:.1} s; {} RPCs pending",
        ctx.pending_rpcs()
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mionode::testing::TestNode;
    use serde_json::{json, Value};

    use super::super::{test_node, Flags, RpcChapter};

    fn fire_forget(d: &mut TestNode<RpcChapter>, msg_id: u64) -> Vec<Value> {
        let body = json!({"type":"send_fire_forget","msg_id":msg_id,"target":"n2",
            "payload":{"type":"echo","echo":msg_id}});
        d.deliver("c1", body)
    }

    #[test]
    fn fire_forget_sends_the_payload_then_answers_the_pending_count() {
        let mut d = test_node(Flags::default(), 0);
        let out = fire_forget(&mut d, 2);
        assert_eq!(out[0]["dest"], "n2");
        assert_eq!(out[0]["body"], json!({"type":"echo","echo":2,"msg_id":1}));
        assert_eq!(out[1]["body"]["type"], "send_fire_forget_ok");
        assert_eq!(out[1]["body"]["pending"], 1);
        let answer = d.request("c1", json!({"type":"pending_count","msg_id":3}));
        assert_eq!(answer["body"]["count"], 1);
    }

    #[test]
    fn unanswered_fire_forget_is_reaped_at_the_threshold() {
        let mut d = test_node(Flags::default(), 0);
        fire_forget(&mut d, 2);
        fire_forget(&mut d, 3);
        d.advance_ms(1999);
        assert_eq!(d.context().pending_rpcs(), 2);
        let out = d.advance_ms(1);
        assert_eq!(d.context().pending_rpcs(), 0);
        assert_eq!(d.app().stats().reaped, 2);
        assert!(out.is_empty(), "reaping answers nobody");
    }

    #[test]
    fn answered_fire_forget_is_freed_and_not_counted_as_reaped() {
        let mut d = test_node(Flags::default(), 0);
        let id = fire_forget(&mut d, 2)[0]["body"]["msg_id"].clone();
        d.deliver("n2", json!({"type":"echo_ok","echo":2,"in_reply_to":id}));
        assert_eq!(d.context().pending_rpcs(), 0);
        d.advance_ms(5000);
        assert_eq!(d.app().stats().reaped, 0);
        assert_eq!(d.context().timers_parked(), 0);
    }

    #[test]
    fn reaping_logs_one_summary_per_window_and_then_sets_no_timer() {
        let mut d = test_node(Flags::default(), 0);
        for id in 0..50 {
            fire_forget(&mut d, id);
        }
        d.advance_ms(2000);
        assert_eq!(d.app().reaper.reaped, 50);
        assert_eq!(
            d.context().timers_parked(),
            1,
            "one summary wake-up, not fifty"
        );
        d.advance_ms(super::SUMMARY_WINDOW.as_millis() as u64);
        assert_eq!(d.app().reaper.reaped, 0, "summarized");
        assert_eq!(d.context().timers_parked(), 0, "disarmed");
    }

    /// 100,000 callbacks nobody answers: all are reaped, and the pending table comes back to
    /// its idle size instead of keeping its peak. (tests/rpc_family.rs repeats this through a
    /// node process and checks its resident memory across two rounds.)
    #[test]
    fn a_hundred_thousand_fire_forgets_are_reaped_and_their_memory_returned() {
        const BURST: u64 = 100_000;
        let flags = Flags {
            reaper_threshold: Duration::from_millis(50),
            ..Flags::default()
        };
        let mut d = test_node(flags, 0);
        let now = d.now();
        for id in 0..BURST {
            let line = format!(
                r#"{{"src":"c1","dest":"n1","body":{{"type":"send_fire_forget","msg_id":{id},"target":"n2","payload":{{"type":"echo","echo":{id}}}}}}}"#
            );
            d.node_mut().handle_line(line.as_bytes(), now);
        }
        assert_eq!(d.context().pending_rpcs(), BURST as usize);
        assert!(d.context().pending_capacity() >= BURST as usize);
        d.node_mut().outbox().take();
        d.advance_ms(50);
        assert_eq!(d.context().pending_rpcs(), 0);
        assert_eq!(d.app().stats().reaped, BURST);
        assert!(
            d.context().pending_capacity() <= 4096,
            "the empty table kept room for {} RPCs",
            d.context().pending_capacity()
        );
        // Only the summary's wake-up is left on the wheel.
        assert_eq!(d.context().timers_parked(), 1);
    }
}
