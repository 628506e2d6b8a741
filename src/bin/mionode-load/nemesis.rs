//! The partition nemesis in real time: Jepsen's schedule and shapes
//! ([`harness::nemesis`](mionode::harness::nemesis)) applied to the network, and the periods
//! they were in force recorded for `nemesis.jsonl`.
//!
//! The network is healed at the end only for workloads with final reads, as Maelstrom's
//! final generator does; otherwise a partition in force when the clients stop stays until
//! the nodes are killed. Only links between nodes are cut: a node keeps its link to itself,
//! to every client and to every service.

use std::time::{Duration, Instant};

use mionode::harness::nemesis::{Action, Schedule};
use mionode::harness::record::{Nanos, NemesisPeriod};

use crate::network::Network;

/// The schedule and the record of partitions.
#[derive(Debug)]
pub struct Nemesis {
    /// `None` when no partition nemesis was asked for.
    schedule: Option<Schedule>,
    rng: fastrand::Rng,
    origin: Option<Instant>,
    ids: Vec<String>,
    /// The periods so far; the last one is open while a partition is in force.
    periods: Vec<NemesisPeriod>,
}

impl Nemesis {
    /// A nemesis acting at random gaps averaging `interval` over the nodes `ids`, or none.
    pub fn new(interval: Option<Duration>, seed: u64, ids: &[String]) -> Result<Self, String> {
        let schedule = interval
            .map(|i| Schedule::new(i.as_nanos() as Nanos, Vec::new()))
            .transpose()?;
        Ok(Nemesis {
            schedule,
            rng: fastrand::Rng::with_seed(seed),
            origin: None,
            ids: ids.to_vec(),
            periods: Vec::new(),
        })
    }

    /// Starts the schedule at `now` (the first partition is due at once); times count from
    /// `origin`, the start of the run.
    pub fn start(&mut self, now: Instant, origin: Instant) {
        self.origin = Some(origin);
        let at = self.nanos(now);
        if let Some(s) = &mut self.schedule {
            s.start(at);
        }
    }

    /// When the next action is due.
    pub fn next_at(&self) -> Option<Instant> {
        let at = self.schedule.as_ref()?.next_at()?;
        Some(self.origin? + Duration::from_nanos(at))
    }

    /// Acts if an action is due at `now`.
    pub fn tick(&mut self, now: Instant, net: &mut Network) {
        let at = self.nanos(now);
        let n = self.ids.len();
        let Some(schedule) = &mut self.schedule else {
            return;
        };
        if let Some(action) = schedule.poll(at, n, &mut self.rng) {
            self.apply(at, action, net);
        }
    }

    /// Stops the schedule; with `heal`, heals a partition in force (before final reads).
    pub fn finish(&mut self, now: Instant, net: &mut Network, heal: bool) {
        let at = self.nanos(now);
        let Some(schedule) = &mut self.schedule else {
            return;
        };
        let action = schedule.finish();
        if let (true, Some(action)) = (heal, action) {
            self.apply(at, action, net);
        }
    }

    /// The periods a partition was in force, the last one open if it lasted to the end.
    pub fn periods(&self) -> &[NemesisPeriod] {
        &self.periods
    }

    fn apply(&mut self, at: Nanos, action: Action, net: &mut Network) {
        match action {
            Action::Start(shape, grudge) => {
                self.periods.push(NemesisPeriod {
                    start: at,
                    end: None,
                    kind: "partition".to_string(),
                    detail: format!("{}: {}", shape.name(), grudge.describe(&self.ids)),
                });
                net.partition(grudge);
            }
            Action::Stop => {
                if let Some(open) = self.periods.last_mut().filter(|p| p.end.is_none()) {
                    open.end = Some(at);
                }
                net.heal();
            }
        }
    }

    fn nanos(&self, now: Instant) -> Nanos {
        self.origin
            .map_or(0, |o| now.saturating_duration_since(o).as_nanos() as Nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::NetConfig;

    fn net() -> Network {
        Network::new(&NetConfig {
            nodes: 5,
            latency: Default::default(),
            faults: Default::default(),
            net_rate: None,
            reencode: false,
            seed: 0,
        })
    }

    #[test]
    fn partitions_alternate_with_heals_and_are_recorded_as_periods() {
        let ids: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let mut net = net();
        let mut nemesis = Nemesis::new(Some(Duration::from_millis(100)), 5, &ids).unwrap();
        let t0 = Instant::now();
        nemesis.start(t0, t0);
        let mut now = t0;
        for _ in 0..6 {
            now = nemesis.next_at().expect("scheduled");
            nemesis.tick(now, &mut net);
        }
        nemesis.finish(now, &mut net, false);
        let p = nemesis.periods();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].start == 0 && p[0].end.is_some() && p[1].end.is_some());
        assert!(p
            .iter()
            .all(|p| p.kind == "partition" && !p.detail.is_empty()));
        assert_eq!(nemesis.next_at(), None);
    }

    #[test]
    fn heals_at_the_end_only_when_asked() {
        let ids: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        for heal in [false, true] {
            let mut net = net();
            let mut nemesis = Nemesis::new(Some(Duration::from_secs(1)), 1, &ids).unwrap();
            let t0 = Instant::now();
            nemesis.start(t0, t0);
            nemesis.tick(t0, &mut net);
            nemesis.finish(t0 + Duration::from_millis(10), &mut net, heal);
            assert_eq!(nemesis.periods()[0].end.is_some(), heal);
        }
    }

    #[test]
    fn no_interval_no_actions() {
        let mut nemesis = Nemesis::new(None, 0, &[]).unwrap();
        nemesis.start(Instant::now(), Instant::now());
        assert_eq!(nemesis.next_at(), None);
    }
}
