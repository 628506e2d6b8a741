//! Linearizability of one register's history: a Wing-Gong search with Lowe's memoisation,
//! bounded in the states it visits.
//!
//! The history of one key is a set of operations, each with a call and a return position in
//! the whole history (their indices). An operation that completed `ok` must take effect
//! exactly once, somewhere between its call and its return; one whose outcome is unknown
//! (`info`, or never completed) may take effect once anywhere after its call, or never; one
//! that failed definitely is left out by the caller.
//!
//! The search (Wing and Gong 1993; Lowe 2017, "Testing for linearizability"; the shape of
//! Horn and Kroening's description and of Porcupine) extends a linearization one operation at
//! a time: the next one may be any operation not yet linearized whose call comes before the
//! earliest return among those not yet linearized; the model must accept it in the current
//! state. A configuration (which operations are linearized, the register's value) seen once
//! is never explored again: that memo is what makes the search practical. It succeeds when
//! every `ok` operation is linearized.
//!
//! The model is Knossos's compare-and-set register: it starts empty (`null`); a read of
//! `null` is always accepted (Knossos's rule: a read that saw nothing constrains nothing);
//! a read of a value needs that value; a write sets it; a cas from `a` to `b` needs `a`.
//!
//! Past `max_states` visited configurations the search gives up with
//! [`Linearizability::Unknown`]: many concurrent operations whose outcome is unknown make the
//! number of configurations grow exponentially.

use std::collections::HashSet;

use serde_json::Value;

/// One operation on the register.
#[derive(Debug, Clone, PartialEq)]
pub enum RegisterOp {
    /// A read that returned this value.
    Read(Value),
    /// A write of this value.
    Write(Value),
    /// A compare-and-set from the first value to the second.
    Cas(Value, Value),
}

/// An operation and the positions of its call and return in the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// What it did.
    pub op: RegisterOp,
    /// Position of its invocation.
    pub call: u64,
    /// Position of its `ok` completion; `None` when its outcome is unknown.
    pub ret: Option<u64>,
    /// Its history index, to name it in a report.
    pub id: u64,
}

/// The verdict of the search.
#[derive(Debug, Clone, PartialEq)]
pub enum Linearizability {
    /// A linearization exists.
    Linearizable,
    /// None exists. `stuck` names the `ok` operations (by [`Entry::id`]) that were
    /// candidates, unplaceable, at the deepest point the search reached, and `linearized`
    /// how many operations that point had placed.
    NotLinearizable {
        /// The deepest number of operations linearized.
        linearized: usize,
        /// The `ok` operation that had to come next there and could not.
        stuck: Vec<u64>,
    },
    /// The search visited `max_states` configurations without deciding.
    Unknown,
}

/// Register values interned as small numbers; 0 is `null` (empty).
struct Interner(Vec<Value>);

impl Interner {
    fn id(&mut self, v: &Value) -> u32 {
        if v.is_null() {
            return 0;
        }
        if let Some(i) = self.0.iter().position(|x| x == v) {
            return i as u32 + 1;
        }
        self.0.push(v.clone());
        self.0.len() as u32
    }
}

#[derive(Clone, Copy)]
enum Step {
    Read(u32),
    Write(u32),
    Cas(u32, u32),
}

impl Step {
    fn apply(self, state: u32) -> Option<u32> {
        match self {
            Step::Read(0) => Some(state),
            Step::Read(v) => (v == state).then_some(state),
            Step::Write(v) => Some(v),
            Step::Cas(a, b) => (a == state).then_some(b),
        }
    }
}

/// Decides whether `entries` (one register's operations) are linearizable, visiting at most
/// `max_states` configurations.
pub fn check_register(entries: &[Entry], max_states: usize) -> Linearizability {
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_by_key(|e| (e.call, e.id));
    let mut values = Interner(Vec::new());
    let steps: Vec<Step> = (order.iter())
        .map(|e| match &e.op {
            RegisterOp::Read(v) => Step::Read(values.id(v)),
            RegisterOp::Write(v) => Step::Write(values.id(v)),
            RegisterOp::Cas(a, b) => Step::Cas(values.id(a), values.id(b)),
        })
        .collect();
    let n = order.len();
    let required = order.iter().filter(|e| e.ret.is_some()).count();
    let words = n.div_ceil(64).max(1);
    let mut seen: HashSet<(Vec<u64>, u32)> = HashSet::new();
    let mut stack: Vec<(Vec<u64>, u32, usize, usize)> = vec![(vec![0; words], 0, 0, 0)];
    let (mut deepest, mut stuck) = (0usize, Vec::new());
    while let Some((done, state, placed, placed_ok)) = stack.pop() {
        if placed_ok == required {
            return Linearizability::Linearizable;
        }
        let is_done = |i: usize| done[i / 64] >> (i % 64) & 1 == 1;
        let horizon = (0..n)
            .filter(|&i| !is_done(i))
            .filter_map(|i| order[i].ret)
            .min()
            .unwrap_or(u64::MAX);
        if placed >= deepest {
            deepest = placed;
            stuck = (0..n)
                .filter(|&i| !is_done(i) && order[i].ret == Some(horizon))
                .map(|i| order[i].id)
                .collect();
        }
        for i in (0..n)
            .take_while(|&i| order[i].call < horizon)
            .filter(|&i| !is_done(i))
        {
            let Some(next) = steps[i].apply(state) else {
                continue;
            };
            let mut d = done.clone();
            d[i / 64] |= 1 << (i % 64);
            if seen.insert((d.clone(), next)) {
                if seen.len() > max_states {
                    return Linearizability::Unknown;
                }
                let ok = usize::from(order[i].ret.is_some());
                stack.push((d, next, placed + 1, placed_ok + ok));
            }
        }
    }
    Linearizability::NotLinearizable {
        linearized: deepest,
        stuck,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn e(op: RegisterOp, call: u64, ret: Option<u64>) -> Entry {
        Entry {
            op,
            call,
            ret,
            id: call,
        }
    }

    use RegisterOp::{Cas, Read, Write};

    #[test]
    fn sequential_history_is_linearizable() {
        let h = [
            e(Write(json!(1)), 0, Some(1)),
            e(Read(json!(1)), 2, Some(3)),
            e(Cas(json!(1), json!(2)), 4, Some(5)),
            e(Read(json!(2)), 6, Some(7)),
        ];
        assert_eq!(check_register(&h, 1000), Linearizability::Linearizable);
    }

    #[test]
    fn a_stale_read_is_not() {
        let h = [
            e(Write(json!(1)), 0, Some(1)),
            e(Write(json!(2)), 2, Some(3)),
            e(Read(json!(1)), 4, Some(5)),
        ];
        match check_register(&h, 1000) {
            Linearizability::NotLinearizable { stuck, .. } => assert_eq!(stuck, vec![4]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn concurrent_ops_may_reorder() {
        // write 2 overlaps the read of 1 after write 1
        let h = [
            e(Write(json!(1)), 0, Some(1)),
            e(Write(json!(2)), 2, Some(5)),
            e(Read(json!(1)), 3, Some(4)),
            e(Read(json!(2)), 6, Some(7)),
        ];
        assert_eq!(check_register(&h, 1000), Linearizability::Linearizable);
    }

    #[test]
    fn an_unknown_write_may_or_may_not_happen() {
        let maybe = e(Write(json!(3)), 0, None);
        let saw = [maybe.clone(), e(Read(json!(3)), 5, Some(6))];
        assert_eq!(check_register(&saw, 1000), Linearizability::Linearizable);
        let didnt = [
            maybe,
            e(Read(Value::Null), 5, Some(6)),
            e(Write(json!(4)), 7, Some(8)),
        ];
        assert_eq!(check_register(&didnt, 1000), Linearizability::Linearizable);
        let after_return = [e(Read(json!(3)), 0, Some(1)), e(Write(json!(3)), 2, None)];
        assert!(matches!(
            check_register(&after_return, 1000),
            Linearizability::NotLinearizable { .. }
        ));
    }

    #[test]
    fn a_cas_needs_its_from_value() {
        let h = [
            e(Write(json!(1)), 0, Some(1)),
            e(Cas(json!(2), json!(3)), 2, Some(3)),
        ];
        assert!(matches!(
            check_register(&h, 1000),
            Linearizability::NotLinearizable { .. }
        ));
    }

    #[test]
    fn the_bound_gives_unknown() {
        let mut h: Vec<Entry> = (0..40).map(|i| e(Write(json!(i)), i, None)).collect();
        h.push(e(Read(json!(99)), 100, Some(101)));
        assert_eq!(check_register(&h, 10_000), Linearizability::Unknown);
    }

    /// A register run sequentially with random overlaps: each op takes effect at a point
    /// inside its interval, so the history must be linearizable.
    fn linearizable_history(ops: Vec<(u8, u8, u8, u8)>) -> Vec<Entry> {
        let mut state = Value::Null;
        let mut entries = Vec::new();
        for (i, (kind, a, b, width)) in ops.into_iter().enumerate() {
            let at = 10 * i as u64;
            let (call, ret) = (
                at.saturating_sub(u64::from(width % 25)),
                at + u64::from(width % 7),
            );
            let op = match kind % 3 {
                0 => Read(state.clone()),
                1 => {
                    state = json!(a % 3);
                    Write(state.clone())
                }
                _ if state == json!(a % 3) => {
                    state = json!(b % 3);
                    Cas(json!(a % 3), state.clone())
                }
                _ => Read(state.clone()),
            };
            entries.push(Entry {
                op,
                call: call * 2,
                ret: Some(ret * 2 + 1),
                id: i as u64,
            });
        }
        entries
    }

    proptest! {
        #[test]
        fn histories_from_a_register_pass(ops in prop::collection::vec(any::<(u8, u8, u8, u8)>(), 0..40)) {
            let h = linearizable_history(ops);
            let verdict = check_register(&h, 200_000);
            prop_assert_eq!(verdict, Linearizability::Linearizable);
        }
    }
}
