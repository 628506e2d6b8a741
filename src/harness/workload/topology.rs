//! Broadcast's `topology` message: which neighbours each node is told to gossip with,
//! shaped as Maelstrom's `--topology` shapes them (`workload/broadcast.clj`).
//!
//! | name | shape |
//! |---|---|
//! | `grid` (default) | a roughly square grid, row-major, side `ceil(sqrt(n))`; neighbours below, above, right, left |
//! | `line` | a chain `n0 - n1 - ... `; one node gets no entry at all |
//! | `total` | everyone |
//! | `tree2`, `tree3`, `tree4` (`tree` = `tree2`) | a tree filled tier by tier (1, b, b², ...); parent first, then children |
//!
//! The neighbours of a node keep Maelstrom's order; the message itself is a JSON object from
//! node id to a list of node ids.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::{body, Config, Invocation};

/// A topology shape (Maelstrom's `--topology`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topology {
    /// Nodes on a square grid; at most four neighbours each.
    Grid,
    /// Nodes on a line.
    Line,
    /// Every node neighbours every other.
    Total,
    /// A tree with this branch factor (2, 3 or 4).
    Tree(u8),
}

impl Topology {
    /// Every shape, with Maelstrom's names.
    pub const ALL: [Topology; 6] = [
        Topology::Grid,
        Topology::Line,
        Topology::Total,
        Topology::Tree(2),
        Topology::Tree(3),
        Topology::Tree(4),
    ];

    /// Maelstrom's name for it.
    pub fn name(self) -> String {
        match self {
            Topology::Grid => "grid".into(),
            Topology::Line => "line".into(),
            Topology::Total => "total".into(),
            Topology::Tree(b) => format!("tree{b}"),
        }
    }

    /// Each node's neighbours, as Maelstrom computes them, in node order.
    pub fn neighbours(self, nodes: &[String]) -> Vec<(String, Vec<String>)> {
        let index_lists = match self {
            Topology::Grid => grid(nodes.len()),
            Topology::Line => line(nodes.len()),
            Topology::Total => total(nodes.len()),
            Topology::Tree(b) => tree(usize::from(b.max(1)), nodes.len()),
        };
        (index_lists.into_iter())
            .map(|(i, ns)| {
                (
                    nodes[i].clone(),
                    ns.into_iter().map(|j| nodes[j].clone()).collect(),
                )
            })
            .collect()
    }

    /// The topology as the JSON object the `topology` message carries.
    pub fn to_json(self, nodes: &[String]) -> Value {
        let map: Map<String, Value> = (self.neighbours(nodes).into_iter())
            .map(|(n, ns)| (n, Value::from(ns)))
            .collect();
        Value::Object(map)
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Topology {
    type Err = String;

    /// Parses Maelstrom's names; `tree` is `tree2`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "grid" => Ok(Topology::Grid),
            "line" => Ok(Topology::Line),
            "total" => Ok(Topology::Total),
            "tree" | "tree2" => Ok(Topology::Tree(2)),
            "tree3" => Ok(Topology::Tree(3)),
            "tree4" => Ok(Topology::Tree(4)),
            _ => Err(format!(
                "unknown topology {s:?}; one of grid, line, total, tree, tree2, tree3, tree4"
            )),
        }
    }
}

/// The `topology` request for every node.
pub(super) fn setup(config: &Config) -> Vec<(usize, Invocation)> {
    let topo = config.topology.to_json(&config.node_ids);
    (0..config.node_ids.len())
        .map(|node| {
            let b = body("topology", [("topology", topo.clone())]);
            (node, Invocation::new("topology", Value::Null, b))
        })
        .collect()
}

type Lists = Vec<(usize, Vec<usize>)>;

fn grid(n: usize) -> Lists {
    let side = (n as f64).sqrt().ceil() as i64;
    let at = |i: i64, j: i64| -> Option<usize> {
        let idx = i * side + j;
        (i >= 0 && (0..side).contains(&j) && idx < n as i64).then_some(idx as usize)
    };
    let mut out = Vec::new();
    for i in 0..side {
        for j in 0..side {
            if let Some(me) = at(i, j) {
                let ns = [at(i + 1, j), at(i - 1, j), at(i, j + 1), at(i, j - 1)];
                out.push((me, ns.into_iter().flatten().collect()));
            }
        }
    }
    out
}

fn line(n: usize) -> Lists {
    if n < 2 {
        return Vec::new();
    }
    (0..n)
        .map(|i| {
            let ns = match i {
                0 => vec![1],
                _ if i == n - 1 => vec![n - 2],
                _ => vec![i - 1, i + 1],
            };
            (i, ns)
        })
        .collect()
}

fn total(n: usize) -> Lists {
    (0..n)
        .map(|i| (i, (0..n).filter(|&j| j != i).collect()))
        .collect()
}

/// Tiers of sizes 1, b, b², ...; the k-th node of a tier parents the k-th run of b nodes
/// of the next tier.
fn tree(b: usize, n: usize) -> Lists {
    let mut tiers: Vec<std::ops::Range<usize>> = Vec::new();
    let (mut start, mut size) = (0, 1);
    while start < n {
        let end = (start + size).min(n);
        tiers.push(start..end);
        start = end;
        size *= b;
    }
    let mut out: Lists = Vec::new();
    for (t, tier) in tiers.iter().enumerate() {
        for (k, me) in tier.clone().enumerate() {
            let mut ns = Vec::new();
            if t > 0 {
                let parent_tier = &tiers[t - 1];
                ns.push(parent_tier.start + k / b);
            }
            if let Some(next) = tiers.get(t + 1) {
                let first = next.start + k * b;
                ns.extend(first..(first + b).min(next.end));
            }
            out.push((me, ns));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    fn shape(t: Topology, n: usize) -> Vec<(String, Vec<String>)> {
        t.neighbours(&ids(n))
    }

    fn pairs(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        (list.iter())
            .map(|(n, ns)| (n.to_string(), ns.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn grid_of_five_is_maelstroms() {
        // side 3: n0 n1 n2 / n3 n4
        let want = pairs(&[
            ("n0", &["n3", "n1"]),
            ("n1", &["n4", "n2", "n0"]),
            ("n2", &["n1"]),
            ("n3", &["n0", "n4"]),
            ("n4", &["n1", "n3"]),
        ]);
        assert_eq!(shape(Topology::Grid, 5), want);
    }

    #[test]
    fn line_and_total() {
        let want = pairs(&[("n0", &["n1"]), ("n1", &["n0", "n2"]), ("n2", &["n1"])]);
        assert_eq!(shape(Topology::Line, 3), want);
        assert!(shape(Topology::Line, 1).is_empty());
        let t = shape(Topology::Total, 3);
        assert_eq!(t[1], ("n1".into(), vec!["n0".into(), "n2".into()]));
    }

    #[test]
    fn tree2_of_six() {
        // n0 -> n1 n2; n1 -> n3 n4; n2 -> n5
        let want = pairs(&[
            ("n0", &["n1", "n2"]),
            ("n1", &["n0", "n3", "n4"]),
            ("n2", &["n0", "n5"]),
            ("n3", &["n1"]),
            ("n4", &["n1"]),
            ("n5", &["n2"]),
        ]);
        assert_eq!(shape(Topology::Tree(2), 6), want);
        assert_eq!(shape(Topology::Tree(3), 1), pairs(&[("n0", &[])]));
    }

    #[test]
    fn every_shape_is_symmetric_and_connected() {
        for t in Topology::ALL {
            for n in 2..30 {
                let s = shape(t, n);
                assert_eq!(s.len(), n, "{t} {n}");
                let has =
                    |a: &str, b: &str| s.iter().any(|(x, ns)| x == a && ns.iter().any(|y| y == b));
                for (a, ns) in &s {
                    for b in ns {
                        assert!(has(b, a), "{t} {n}: {a}->{b} not mutual");
                    }
                }
                let mut seen = vec![false; n];
                let mut stack = vec![0];
                while let Some(i) = stack.pop() {
                    if std::mem::replace(&mut seen[i], true) {
                        continue;
                    }
                    let (_, ns) = &s.iter().find(|(x, _)| *x == format!("n{i}")).unwrap();
                    stack.extend(ns.iter().map(|y| y[1..].parse::<usize>().unwrap()));
                }
                assert!(seen.iter().all(|&b| b), "{t} {n}: not connected");
            }
        }
    }

    #[test]
    fn names_parse_back() {
        for t in Topology::ALL {
            assert_eq!(t.name().parse::<Topology>(), Ok(t));
        }
        assert_eq!("tree".parse::<Topology>(), Ok(Topology::Tree(2)));
        assert!("ring".parse::<Topology>().is_err());
    }
}
