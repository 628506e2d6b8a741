//! Sending RPCs through the window, with fixed or adaptive timeouts, and taking them back by
//! reply, timeout or cancel: the part of [`Context`] that applies [`crate::flow`].

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Error;
use crate::flow::{Dest, PathRtt};
use crate::protocol::{write_message, WriteError};
use crate::request::Reply;
use crate::rpc::PendingKey;
use crate::stats::Counter;

use super::{Attempt, Call, Callback, Context, MsgId, Queued, TimerAction};

/// Bytes reserved for a request waiting for room in the window, before it is shrunk to its
/// size: most requests fit, so serializing one costs one allocation and an in-place shrink
/// instead of a reallocation per doubling from nothing. (Serializing into a reused buffer and
/// copying into a box of the exact size costs the same, but left a node's resident memory
/// growing round after round under bursts of queued RPCs: tests/rpc_family.rs.)
const QUEUED_LINE_CAPACITY: usize = 256;

impl<A> Context<A> {
    /// Sends `body` to `dest` as an RPC whose deadline adapts to the network: the
    /// destination's retransmission timeout ([`rto`](Self::rto)), doubled `retries` times for
    /// a request sent again, at most `max`, counted from when the request goes out (it may
    /// first wait for room in the window), and never past `until`. Otherwise as
    /// [`rpc`](Self::rpc): the callback runs exactly once, by `until` at the latest.
    ///
    /// A timeout of an attempt (not one cut by `until`) backs the destination's estimate off
    /// when the destination has answered nothing since the request went out. Retrying is the
    /// caller's: send again with `retries + 1`, while [`now`](Self::now) is before `until`.
    pub fn rpc_rto<B, F>(
        &mut self,
        dest: &str,
        body: &B,
        retries: u32,
        max: Duration,
        until: Instant,
        callback: F,
    ) -> MsgId
    where
        B: Serialize + ?Sized,
        A: 'static,
        F: for<'r> FnOnce(&mut A, &mut Context<A>, Result<Reply<'r>, Error>) + 'static,
    {
        let until = self.clock.deadline_tick(until, Duration::ZERO);
        self.start_rpc(
            dest,
            body,
            Attempt::Rto { retries, max },
            until,
            Box::new(callback),
        )
    }

    /// The retransmission timeout an RPC to `dest` would get now, after `retries` timeouts
    /// of the same request: RFC 6298's estimate from its past round trips, within
    /// [`Config::rto`](crate::Config::rto).
    pub fn rto(&self, dest: &str, retries: u32) -> Duration {
        self.rtts.rto(&self.dest_of(dest), retries)
    }

    pub(super) fn start_rpc<B>(
        &mut self,
        dest: &str,
        body: &B,
        attempt: Attempt,
        until: u64,
        callback: Callback<A>,
    ) -> MsgId
    where
        A: 'static,
        B: Serialize + ?Sized,
    {
        let queue = !self.window.has_room();
        let written = if queue {
            self.write_queued(dest, body)
        } else {
            self.write(None, dest, body, None).map(|id| (id, None))
        };
        let (msg_id, queued) = match written {
            Ok(written) => written,
            Err(e) => {
                let error = Error::crash(format!("could not send to {dest}: {e}"));
                self.after(Duration::ZERO, move |app, ctx| {
                    callback(app, ctx, Err(error))
                });
                return self.skip_msg_id();
            }
        };
        let dest = self.dest_of(dest);
        let (tick, attempt_bound) = match queue {
            true => (until, false),
            false => self.attempt_deadline(&dest, attempt, until),
        };
        let key = self.rpcs.vacant_key();
        let timer = self
            .timers
            .insert(tick, TimerAction::RpcDeadline { key, msg_id });
        let call = Call {
            dest,
            callback,
            queued,
            attempt,
            until,
            attempt_bound,
        };
        self.rpcs.insert(msg_id, timer, self.now, call);
        self.stats.bump(Counter::RpcsSent);
        if queue {
            match attempt {
                Attempt::Rto { retries, .. } if retries > 0 => self.window.enqueue_first(msg_id),
                _ => self.window.enqueue(msg_id),
            }
        } else {
            self.window.sent();
        }
        msg_id
    }

    /// The tick an attempt going out now ends, and whether that is the attempt's own end
    /// rather than `until`.
    pub(super) fn attempt_deadline(
        &self,
        dest: &Dest,
        attempt: Attempt,
        until: u64,
    ) -> (u64, bool) {
        let timeout = match attempt {
            Attempt::Fixed(timeout) => timeout,
            Attempt::Rto { retries, max } => self.rtts.rto(dest, retries).min(max),
        };
        let tick = self.clock.deadline_tick(self.now, timeout);
        (tick.min(until), tick < until)
    }

    /// Serializes a request to wait in the window's queue; it takes its `msg_id` now.
    pub(super) fn write_queued<B: Serialize + ?Sized>(
        &mut self,
        dest: &str,
        body: &B,
    ) -> Result<(MsgId, Option<Queued>), WriteError> {
        let msg_id = self.next_msg_id;
        let src = self.identity.as_ref().map_or("", |id| id.node_id.as_str());
        let mut line = Vec::with_capacity(QUEUED_LINE_CAPACITY);
        let body_at = write_message(&mut line, src, dest, body, msg_id, None)?;
        self.next_msg_id += 1;
        let label = self.types.classify_written(&line[body_at..line.len() - 2]);
        let line = line.into_boxed_slice();
        Ok((msg_id, Some(Queued { line, label })))
    }

    /// Sends queued requests while the window has room.
    pub(super) fn pump(&mut self) {
        while let Some(msg_id) = self.window.next_to_send() {
            let Some((key, pending)) = self.rpcs.get_mut(msg_id) else {
                continue; // expired or cancelled while queued
            };
            let call = &mut pending.callback;
            if call.until <= self.clock.now_tick(self.now) {
                continue; // its deadline is due: it times out unsent, never to be waited for
            }
            let Some(queued) = call.queued.take() else {
                debug_assert!(false, "msg_id {msg_id} queued twice");
                continue;
            };
            self.outbox.buf_mut().extend_from_slice(&queued.line);
            self.stats.count_sent(queued.label);
            self.window.dequeued();
            pending.sent_at = self.now;
            let timeout = match call.attempt {
                Attempt::Fixed(timeout) => timeout,
                Attempt::Rto { retries, max } => self.rtts.rto(&call.dest, retries).min(max),
            };
            let tick = self.clock.deadline_tick(self.now, timeout);
            call.attempt_bound = tick < call.until;
            self.timers.cancel(pending.timer);
            let action = TimerAction::RpcDeadline { key, msg_id };
            pending.timer = self.timers.insert(tick.min(call.until), action);
        }
    }

    /// An RPC ended: frees its room in the window (or its place in the queue).
    pub(super) fn leave_window(&mut self, call: &Call<A>) {
        if call.queued.is_some() {
            self.window.left_queue();
        } else {
            self.window.landed();
            self.pump();
        }
    }

    /// Gives the attempt whose timeout fired one more timeout, instead of timing it out, if it
    /// is late rather than lost ([`RttTable::queued_behind`](crate::flow::RttTable::queued_behind):
    /// its destination is answering, and nothing sent after it has been answered yet). Only
    /// adaptive attempts are given more time, and never past their operation's deadline.
    /// Returns whether it was.
    pub(crate) fn wait_longer(&mut self, key: PendingKey, msg_id: u64) -> bool {
        let Some((found, pending)) = self.rpcs.get_mut(msg_id) else {
            return false;
        };
        let call = &mut pending.callback;
        let Attempt::Rto { retries, max } = call.attempt else {
            return false;
        };
        if found != key
            || call.queued.is_some()
            || !call.attempt_bound
            || !self
                .rtts
                .queued_behind(&call.dest, pending.sent_at, self.now)
        {
            return false;
        }
        let timeout = self.rtts.rto(&call.dest, retries).min(max);
        let tick = self.clock.deadline_tick(self.now, timeout);
        call.attempt_bound = tick < call.until;
        let action = TimerAction::RpcDeadline { key, msg_id };
        pending.timer = self.timers.insert(tick.min(call.until), action);
        log::debug!("RPC {msg_id} is late behind answered ones: waiting {timeout:?} more");
        true
    }

    /// Takes the RPC whose deadline fired, if it is still the one in that slot.
    pub(crate) fn expire_rpc(&mut self, key: PendingKey, msg_id: u64) -> Option<Callback<A>> {
        let pending = self.rpcs.expire(key, msg_id)?;
        let call = pending.callback;
        if call.queued.is_none()
            && call.attempt_bound
            && matches!(call.attempt, Attempt::Rto { .. })
        {
            self.rtts.timed_out(&call.dest, pending.sent_at, self.now);
        }
        self.leave_window(&call);
        Some(call.callback)
    }

    /// Takes the RPC a reply from `src` names, cancelling its deadline and recording its
    /// round trip; `None` (the reply is stale) if nothing is pending under that `msg_id` or
    /// the RPC went to someone else.
    pub(crate) fn complete_rpc(&mut self, in_reply_to: u64, src: &str) -> Option<Callback<A>> {
        let pending = self.rpcs.get(in_reply_to)?;
        if !self.dest_is(&pending.callback.dest, src) {
            log::debug!("reply to msg_id {in_reply_to} from {src:?}, not the RPC's dest");
            return None;
        }
        if pending.callback.queued.is_some() {
            log::debug!("reply to msg_id {in_reply_to} from {src:?}, which was never sent");
            return None;
        }
        let pending = self.rpcs.complete(in_reply_to)?;
        self.timers.cancel(pending.timer);
        let rtt = self.now.saturating_duration_since(pending.sent_at);
        if let Some(h) = &self.rpc_duration {
            h.record(rtt.as_secs_f64());
        }
        let call = pending.callback;
        self.rtts.sample(&call.dest, rtt, self.now);
        self.leave_window(&call);
        Some(call.callback)
    }

    /// RPCs on the wire: sent, awaiting a reply or a timeout.
    pub fn rpcs_in_flight(&self) -> usize {
        self.window.in_flight()
    }

    /// RPCs waiting for room in the window, not yet sent.
    pub fn rpcs_queued(&self) -> usize {
        self.window.queued()
    }

    /// The round-trip estimate of every destination that has one, by name.
    pub fn rtt_estimates(&self) -> impl Iterator<Item = (&str, &PathRtt)> {
        let ids = self.node_ids();
        let nodes = (self.rtts.nodes()).filter_map(|(i, path)| Some((ids.get(i)?.as_str(), path)));
        nodes.chain(self.rtts.named())
    }
}
