//! Jepsen's partition nemesis (`nemesis/combined.clj`, `nemesis.clj`): shapes of partition
//! over the nodes, and the schedule that starts and heals them.
//!
//! A partition is a [`Grudge`]: for each node, the nodes it cannot hear from (Maelstrom drops
//! a message at its receiver when the receiver holds a grudge against its sender). Each start
//! picks one [`Shape`] at random among those allowed:
//!
//! | shape | grudge |
//! |---|---|
//! | `one` | one random node cut off from all others |
//! | `minority-third` | a random `floor((n - 1) / 3)` nodes cut off from the rest (none for n ≤ 3) |
//! | `majority` | a random split into `floor(n/2)` and the rest |
//! | `majorities-ring` | every node hears a majority, no two the same one: for n ≤ 5 the nodes sit on a shuffled ring and each hears the majority centred on it; above, Jepsen's stochastic construction (link least-connected pairs until all hear a majority) |
//!
//! Links to clients and services are never cut; a node always hears itself.
//!
//! [`Schedule`]: the nemesis alternates start and heal, the first start as soon as the
//! workload begins, each next action after a gap uniform in `[0, 2 × interval)` (Jepsen's
//! `stagger`), so gaps average `--nemesis-interval`. The interval must be at least
//! [`MIN_INTERVAL`]: below it the nemesis would act thousands of times a second and measure
//! nothing but itself.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::harness::record::Nanos;

/// Jepsen's default mean gap between nemesis actions: 10 s.
pub const DEFAULT_INTERVAL: Nanos = 10_000_000_000;

/// The shortest `--nemesis-interval` accepted: 100 ms.
pub const MIN_INTERVAL: Nanos = 100_000_000;

/// A partition shape (Jepsen's partition specs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// One node isolated.
    One,
    /// Fewer than a third of the nodes cut off.
    MinorityThird,
    /// A clean majority/minority split.
    Majority,
    /// Overlapping majorities, no two alike.
    MajoritiesRing,
}

impl Shape {
    /// Every shape, as Jepsen lists them.
    pub const ALL: [Shape; 4] = [
        Shape::One,
        Shape::MinorityThird,
        Shape::Majority,
        Shape::MajoritiesRing,
    ];

    /// Jepsen's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Shape::One => "one",
            Shape::MinorityThird => "minority-third",
            Shape::Majority => "majority",
            Shape::MajoritiesRing => "majorities-ring",
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Shape::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| {
            format!("unknown partition shape {s:?}; one of one, minority-third, majority, majorities-ring")
        })
    }
}

/// Who cannot hear whom, over nodes `0..n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grudge {
    n: usize,
    /// `deaf[to * n + from]`: `to` drops what `from` sends.
    deaf: Vec<bool>,
    /// The components, when the grudge is a clean split into them.
    components: Option<Vec<Vec<usize>>>,
}

impl Grudge {
    /// No grudge at all.
    pub fn none(n: usize) -> Grudge {
        Grudge {
            n,
            deaf: vec![false; n * n],
            components: None,
        }
    }

    /// Jepsen's `complete-grudge`: no node hears a node outside its component. Nodes in no
    /// component hold and suffer no grudge.
    pub fn complete(n: usize, components: Vec<Vec<usize>>) -> Grudge {
        let mut g = Grudge::none(n);
        let mut comp_of = vec![None; n];
        for (c, members) in components.iter().enumerate() {
            for &m in members {
                comp_of[m] = Some(c);
            }
        }
        for to in 0..n {
            for from in 0..n {
                if let (Some(a), Some(b)) = (comp_of[to], comp_of[from]) {
                    g.deaf[to * n + from] = a != b;
                }
            }
        }
        g.components = Some(components);
        g
    }

    /// The grudge in which node `i` hears exactly `hears[i]` (and itself).
    pub fn from_hearing(hears: &[BTreeSet<usize>]) -> Grudge {
        let n = hears.len();
        let mut g = Grudge::none(n);
        for (to, set) in hears.iter().enumerate() {
            for from in 0..n {
                g.deaf[to * n + from] = from != to && !set.contains(&from);
            }
        }
        g
    }

    /// Whether `to` drops messages from `from`.
    pub fn cuts(&self, from: usize, to: usize) -> bool {
        from < self.n && to < self.n && self.deaf[to * self.n + from]
    }

    /// Whether nothing is cut.
    pub fn is_empty(&self) -> bool {
        !self.deaf.contains(&true)
    }

    /// The nodes `to` cannot hear, in order.
    pub fn deaf_to(&self, to: usize) -> Vec<usize> {
        (0..self.n).filter(|&from| self.cuts(from, to)).collect()
    }

    /// A line for [`NemesisPeriod::detail`](crate::harness::record::NemesisPeriod): the
    /// components of a clean split (`n0 n3 | n1 n2 n4`), otherwise who cannot hear whom
    /// (`n0 x n2 n3; n1 x n3 n4; ...`); `no link cut` when nothing is cut.
    pub fn describe(&self, nodes: &[String]) -> String {
        let name = |i: usize| nodes.get(i).cloned().unwrap_or_else(|| format!("#{i}"));
        let names = |list: &[usize]| list.iter().map(|&i| name(i)).collect::<Vec<_>>().join(" ");
        if self.is_empty() {
            return "no link cut".into();
        }
        if let Some(comps) = &self.components {
            let parts: Vec<String> = comps
                .iter()
                .filter(|c| !c.is_empty())
                .map(|c| names(c))
                .collect();
            return parts.join(" | ");
        }
        let lines: Vec<String> = (0..self.n)
            .filter_map(|to| {
                let deaf = self.deaf_to(to);
                (!deaf.is_empty()).then(|| format!("{} x {}", name(to), names(&deaf)))
            })
            .collect();
        lines.join("; ")
    }
}

/// Jepsen's `majority`: the smallest integer strictly greater than half.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Jepsen's `minority-third`: the largest integer strictly less than a third (0 for n ≤ 1).
pub fn minority_third(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// A random grudge of shape `shape` over `n` nodes.
pub fn grudge(shape: Shape, n: usize, rng: &mut fastrand::Rng) -> Grudge {
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let split = |at: usize, order: Vec<usize>| {
        let (a, b) = order.split_at(at.min(order.len()));
        vec![a.to_vec(), b.to_vec()]
    };
    let components = match shape {
        Shape::One => split(1, order),
        Shape::MinorityThird => split(minority_third(n), order),
        Shape::Majority => split(n / 2, order),
        Shape::MajoritiesRing if n <= 5 => return ring_perfect(&order),
        Shape::MajoritiesRing => return ring_stochastic(n, rng),
    };
    Grudge::complete(n, components)
}

/// Nodes on the ring `order`; each hears the `majority(n)` consecutive nodes centred on it.
fn ring_perfect(order: &[usize]) -> Grudge {
    let n = order.len();
    let m = majority(n);
    let mut hears = vec![BTreeSet::new(); n];
    for start in 0..n {
        let window: BTreeSet<usize> = (0..m).map(|k| order[(start + k) % n]).collect();
        let centre = order[(start + m / 2) % n];
        hears[centre] = window;
    }
    Grudge::from_hearing(&hears)
}

/// Jepsen's stochastic majorities ring: repeatedly link a least-connected node to another
/// least-connected node it is not linked to, until every node hears a majority (itself
/// included).
fn ring_stochastic(n: usize, rng: &mut fastrand::Rng) -> Grudge {
    let m = majority(n);
    let mut hears: Vec<BTreeSet<usize>> = (0..n).map(|i| BTreeSet::from([i])).collect();
    loop {
        let mut by_degree: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut by_degree);
        by_degree.sort_by_key(|&i| hears[i].len());
        let a = by_degree[0];
        if hears[a].len() >= m {
            return Grudge::from_hearing(&hears);
        }
        let Some(&b) = by_degree.iter().find(|&&b| !hears[a].contains(&b)) else {
            return Grudge::from_hearing(&hears);
        };
        hears[a].insert(b);
        hears[b].insert(a);
    }
}

/// What the nemesis does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a partition of this shape.
    Start(Shape, Grudge),
    /// Heal the network.
    Stop,
}

/// When the nemesis acts, and what it does.
#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Nanos,
    shapes: Vec<Shape>,
    next_at: Option<Nanos>,
    active: bool,
}

impl Schedule {
    /// A schedule with gaps averaging `interval`, choosing among `shapes` (all four if
    /// empty). Refuses an interval under [`MIN_INTERVAL`].
    pub fn new(interval: Nanos, shapes: Vec<Shape>) -> Result<Schedule, String> {
        if interval < MIN_INTERVAL {
            return Err(format!(
                "the nemesis interval must be at least {} ms, got {} ms",
                MIN_INTERVAL / 1_000_000,
                interval / 1_000_000
            ));
        }
        let shapes = if shapes.is_empty() {
            Shape::ALL.to_vec()
        } else {
            shapes
        };
        Ok(Schedule {
            interval,
            shapes,
            next_at: None,
            active: false,
        })
    }

    /// Starts the schedule: the first partition is due at `now`.
    pub fn start(&mut self, now: Nanos) {
        self.next_at = Some(now);
    }

    /// When the next action is due, if the schedule runs.
    pub fn next_at(&self) -> Option<Nanos> {
        self.next_at
    }

    /// Whether a partition is in force.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The action due at `now`, if any, for `n` nodes; schedules the next one.
    pub fn poll(&mut self, now: Nanos, n: usize, rng: &mut fastrand::Rng) -> Option<Action> {
        let at = self.next_at.filter(|&at| at <= now)?;
        self.next_at = Some(at.saturating_add(rng.u64(..self.interval.saturating_mul(2))));
        self.active = !self.active;
        if !self.active {
            return Some(Action::Stop);
        }
        let shape = self.shapes[rng.usize(..self.shapes.len())];
        Some(Action::Start(shape, grudge(shape, n, rng)))
    }

    /// Stops the schedule; heals if a partition is in force (Jepsen's final generator).
    pub fn finish(&mut self) -> Option<Action> {
        self.next_at = None;
        std::mem::take(&mut self.active).then_some(Action::Stop)
    }
}

#[cfg(test)]
mod tests;
