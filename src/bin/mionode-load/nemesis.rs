//! The partition nemesis: on a fixed interval, alternately cuts the nodes into two random
//! halves and heals the network, starting healed; the network is healed when the clients
//! stop, as Jepsen's final generator does, so the grace period can drain.
//!
//! Only links between nodes are cut. A node keeps its link to itself and to every client.

use std::time::{Duration, Instant};

use mionode::harness::record::NemesisPeriod;
use serde::Serialize;

use crate::network::Network;

/// One action of the nemesis, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct NemesisEvent {
    /// Seconds since the run started.
    pub at_s: f64,
    /// `partition` or `heal`.
    pub action: &'static str,
    /// The two sides of a partition (empty for a heal).
    pub groups: Vec<Vec<String>>,
}

/// The events as periods for nemesis.jsonl: each partition from its start to the next heal
/// (or to the end of the run).
pub fn periods(events: &[NemesisEvent]) -> Vec<NemesisPeriod> {
    let nanos = |s: f64| (s * 1e9) as u64;
    let mut periods: Vec<NemesisPeriod> = Vec::new();
    for e in events {
        match e.action {
            "partition" => periods.push(NemesisPeriod {
                start: nanos(e.at_s),
                end: None,
                kind: "partition".to_string(),
                detail: e
                    .groups
                    .iter()
                    .map(|g| g.join(" "))
                    .collect::<Vec<_>>()
                    .join(" | "),
            }),
            _ => {
                if let Some(open) = periods.last_mut().filter(|p| p.end.is_none()) {
                    open.end = Some(nanos(e.at_s));
                }
            }
        }
    }
    periods
}

/// The schedule and the record of partitions.
#[derive(Debug)]
pub struct Nemesis {
    /// `None` when no nemesis was asked for.
    interval: Option<Duration>,
    started: Option<Instant>,
    next_at: Option<Instant>,
    partitioned: bool,
    rng: fastrand::Rng,
    /// What was done, in order.
    pub events: Vec<NemesisEvent>,
}

impl Nemesis {
    /// A nemesis acting every `interval`, or none.
    pub fn new(interval: Option<Duration>, seed: u64) -> Self {
        Nemesis {
            interval,
            started: None,
            next_at: None,
            partitioned: false,
            rng: fastrand::Rng::with_seed(seed),
            events: Vec::new(),
        }
    }

    /// Starts the schedule: the first partition comes one interval after `now`. Event times
    /// count from `origin`, the start of the run.
    pub fn start(&mut self, now: Instant, origin: Instant) {
        self.started = Some(origin);
        self.next_at = self.interval.map(|i| now + i);
    }

    /// When the next action is due.
    pub fn next_at(&self) -> Option<Instant> {
        self.next_at
    }

    /// Acts if an action is due at `now`.
    pub fn tick(&mut self, now: Instant, net: &mut Network, ids: &[String]) {
        let (Some(at), Some(interval)) = (self.next_at, self.interval) else {
            return;
        };
        if at > now {
            return;
        }
        self.next_at = Some(at + interval);
        if self.partitioned {
            self.heal(now, net);
        } else {
            self.partition(now, net, ids);
        }
    }

    /// Stops the schedule; a partition in force stays (Maelstrom heals only before a
    /// workload's final reads).
    pub fn finish(&mut self, _now: Instant) {
        self.next_at = None;
    }

    fn partition(&mut self, now: Instant, net: &mut Network, ids: &[String]) {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        self.rng.shuffle(&mut order);
        let (one, other) = order.split_at(ids.len() / 2);
        net.partition(one);
        self.partitioned = true;
        let names = |side: &[usize]| side.iter().map(|&i| ids[i].clone()).collect();
        let event = self.event(now, "partition", vec![names(one), names(other)]);
        self.events.push(event);
    }

    fn heal(&mut self, now: Instant, net: &mut Network) {
        net.heal();
        self.partitioned = false;
        let event = self.event(now, "heal", Vec::new());
        self.events.push(event);
    }

    fn event(&self, now: Instant, action: &'static str, groups: Vec<Vec<String>>) -> NemesisEvent {
        let at_s = self
            .started
            .map_or(0.0, |s| now.saturating_duration_since(s).as_secs_f64());
        NemesisEvent {
            at_s,
            action,
            groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::LatencyDist;
    use crate::network::Latency;

    #[test]
    fn alternates_partition_and_heal() {
        let latency = Latency {
            mean_ms: 0,
            dist: LatencyDist::Constant,
        };
        let mut net = Network::new(3, latency, 0.0, 0.0, 0);
        let ids: Vec<String> = ["n0", "n1", "n2"].map(String::from).to_vec();
        let second = Duration::from_secs(1);
        let mut nemesis = Nemesis::new(Some(second), 5);
        let t0 = Instant::now();
        nemesis.start(t0, t0);
        nemesis.tick(t0, &mut net, &ids);
        assert!(nemesis.events.is_empty(), "starts healed");
        nemesis.tick(t0 + second, &mut net, &ids);
        nemesis.tick(t0 + 2 * second, &mut net, &ids);
        nemesis.tick(t0 + 3 * second, &mut net, &ids);
        nemesis.finish(t0 + 3 * second);
        let actions: Vec<_> = nemesis.events.iter().map(|e| e.action).collect();
        assert_eq!(actions, ["partition", "heal", "partition"], "no final heal");
        let sides = &nemesis.events[0].groups;
        assert_eq!((sides[0].len(), sides[1].len()), (1, 2));
        assert_eq!(nemesis.next_at(), None);
    }

    #[test]
    fn no_interval_no_actions() {
        let mut nemesis = Nemesis::new(None, 0);
        nemesis.start(Instant::now(), Instant::now());
        assert_eq!(nemesis.next_at(), None);
    }
}
