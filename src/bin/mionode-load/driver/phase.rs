//! The phases of a run, as Maelstrom's test runs them (`core.clj`): every node answers
//! `init`; the workload's setup messages (broadcast's `topology`); the clients for the time
//! limit, with the nemesis; the requests still in flight; and, for workloads with final
//! reads, the network healed, a quiet period ([`Plan::recovery`](super::Plan), Maelstrom's
//! 10 s) and one final read per node.

use std::time::{Duration, Instant};

use mionode::harness::workload::{Reply, CLIENT_TIMEOUT};

use super::{Driver, Phase};
use crate::failures::FailureKind;
use crate::network::Head;

impl Driver {
    /// Moves to the next phase when the current one is over.
    pub(super) fn advance(&mut self, now: Instant) {
        match self.phase {
            Phase::Init { until } => self.advance_init(now, until),
            Phase::Setup { until } => {
                if self.setup_open.iter().all(|open| !open) {
                    self.begin(now);
                } else if now >= until {
                    for i in 0..self.setup.len() {
                        if self.setup_open[i] {
                            let node = self.setup[i].node;
                            let message =
                                format!("did not answer {} within 5 s", self.setup[i].inv.kind());
                            self.failures
                                .push(FailureKind::Setup, &self.plan.ids[node], message);
                        }
                    }
                    self.phase = Phase::Done;
                }
            }
            Phase::Run { until } if now >= until => self.end_run(now),
            Phase::Drain { until } if now >= until || self.clients.busy() == 0 => {
                if self.workload.kind().has_final_reads() && self.signals_seen == 0 {
                    self.nemesis.finish(now, &mut self.net, true);
                    self.progress
                        .message("healed; waiting for recovery before final reads");
                    self.phase = Phase::Recover {
                        until: now + self.plan.recovery,
                    };
                } else {
                    self.phase = Phase::Done;
                }
            }
            Phase::Recover { until } if now >= until => self.final_reads(now),
            Phase::Final { until } if now >= until || self.clients.busy() == 0 => {
                self.phase = Phase::Done;
            }
            _ => {}
        }
    }

    fn advance_init(&mut self, now: Instant, until: Instant) {
        if self.init_open.iter().all(|open| !open) {
            self.send_setup(now);
        } else if (0..self.nodes.len()).all(|i| !self.init_open[i] || self.nodes[i].gone) {
            // Every node answered or crashed (reported); with a crash Maelstrom gives up.
            self.phase = Phase::Done;
        } else if now >= until {
            for i in 0..self.nodes.len() {
                if self.init_open[i] {
                    let limit = self.plan.init_timeout.as_secs_f64();
                    let message = format!("did not answer init within {limit} s");
                    self.failures
                        .push(FailureKind::Init, &self.plan.ids[i], message);
                }
            }
            self.phase = Phase::Done;
        }
    }

    /// Every node answered init: each gets its setup message, if the workload has any.
    fn send_setup(&mut self, now: Instant) {
        if self.setup.is_empty() {
            return self.begin(now);
        }
        for call in &self.setup {
            let node = call.node;
            let head = Head {
                kind: call.inv.kind(),
                msg_id: Some(1),
                in_reply_to: None,
            };
            let ends = (call.client.as_str(), self.plan.ids[node].as_str());
            let inv = &call.inv;
            self.net
                .client_to_node(now, ends, head, &mut self.inputs[node], |out| {
                    inv.write_body(1, out)
                });
        }
        self.phase = Phase::Setup {
            until: now + Duration::from_nanos(CLIENT_TIMEOUT),
        };
    }

    /// Node `i`'s reply to setup request `c`: a success, or a setup failure.
    pub(super) fn setup_reply(
        &mut self,
        i: usize,
        c: usize,
        body: &serde_json::Map<String, serde_json::Value>,
    ) {
        self.setup_open[c] = false;
        let call = &self.setup[c];
        let done = self.workload.complete(&call.inv, Reply::Body(body));
        if done.kind != mionode::harness::record::OpType::Ok {
            let message = format!(
                "answered {} with {}",
                call.inv.kind(),
                crate::wire::excerpt(
                    serde_json::Value::Object(body.clone())
                        .to_string()
                        .as_bytes()
                )
            );
            self.failures
                .push(FailureKind::Setup, &self.plan.ids[i], message);
            self.phase = Phase::Done;
        }
    }

    /// The clients start, and the nemesis with them.
    fn begin(&mut self, now: Instant) {
        self.started = Some(now);
        self.phase = Phase::Run {
            until: now + self.plan.time_limit,
        };
        self.nemesis.start(now, self.origin);
        for k in self.clients.start(self.nanos(now)) {
            self.send_next(k, now);
        }
    }

    /// The time limit: no new requests. Without final reads the clients close as they
    /// finish and no partition is healed (Maelstrom heals only before final reads).
    fn end_run(&mut self, now: Instant) {
        self.stopped = Some(now);
        let final_reads = self.workload.kind().has_final_reads();
        self.clients.stop();
        if !final_reads {
            self.clients.exit();
        }
        if !final_reads {
            self.nemesis.finish(now, &mut self.net, false);
        }
        self.progress.draining();
        self.phase = Phase::Drain {
            until: now + self.plan.grace,
        };
        self.advance(now);
    }

    /// One final read per node, each from an idle client of that node.
    fn final_reads(&mut self, now: Instant) {
        let mut longest = Duration::ZERO;
        for (node, inv) in self.workload.final_reads() {
            longest = longest.max(Duration::from_nanos(inv.timeout));
            let k = self.clients.idle_slot_of(node);
            self.send_invocation(k, now, inv);
        }
        self.progress.message("final reads");
        self.phase = Phase::Final {
            until: now + longest + Duration::from_millis(100),
        };
    }
}
