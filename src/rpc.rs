//! The table of RPCs awaiting a reply or a timeout.
//!
//! # Guarantees
//!
//! An RPC enters the table when its request is written and leaves it exactly once: by
//! [`PendingRpcs::complete`] when a reply names its `msg_id`, or by [`PendingRpcs::expire`]
//! when its deadline fires, or by [`PendingRpcs::cancel`] when its owner gives up on it. Whoever
//! removes the entry owns its callback, so a callback can run at most once, and the node runs
//! it on every path but cancel, so it runs exactly once.
//!
//! # Why a slab and an index
//!
//! Entries live in a [`Slab`]: compact, no allocation per RPC once warm, and a stable key that
//! the timer wheel can carry to find the entry again in O(1). Replies name the outgoing
//! `msg_id`, not the slab key; `msg_id`s come from the node's one counter (shared with replies,
//! as Maelstrom's vectors require), so they cannot double as slab keys. An index from `msg_id`
//! to key, hashed with one multiplication, finds the entry in O(1).
//!
//! Slab keys are reused. A timer that names a key checks the stored `msg_id` before taking the
//! entry, so an old deadline can never remove a newer RPC that took over the slot; a reply for a
//! finished RPC finds no index entry at all. Both are reported as `None` and counted by the
//! caller as stale.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use slab::Slab;

use crate::timer::TimerKey;

/// Key of an entry in [`PendingRpcs`]; carried by the entry's deadline in the timer wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PendingKey(u32);

/// One RPC awaiting its outcome.
#[derive(Debug)]
pub struct Pending<C> {
    /// The `msg_id` of the request, echoed back as `in_reply_to`.
    pub msg_id: u64,
    /// Its deadline in the timer wheel, to cancel when the reply wins.
    pub timer: TimerKey,
    /// When the request was written, for round-trip latency.
    pub sent_at: std::time::Instant,
    /// What to run with the outcome.
    pub callback: C,
}

/// RPCs awaiting a reply or a timeout, keyed by slab slot and indexed by `msg_id`.
///
/// ```
/// use mionode::rpc::PendingRpcs;
/// use mionode::timer::TimerWheel;
/// use std::time::Instant;
///
/// let mut wheel = TimerWheel::new();
/// let mut table = PendingRpcs::new();
/// let key = table.vacant_key();
/// let timer = wheel.insert(1000, key);
/// table.insert(7, timer, Instant::now(), "callback");
/// assert_eq!(table.complete(7).map(|p| p.callback), Some("callback"));
/// assert!(table.complete(7).is_none(), "a second reply is stale");
/// ```
#[derive(Debug)]
pub struct PendingRpcs<C> {
    slots: Slab<Pending<C>>,
    by_msg_id: HashMap<u64, PendingKey, BuildHasherDefault<MsgIdHasher>>,
}

impl<C> Default for PendingRpcs<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> PendingRpcs<C> {
    /// An empty table.
    pub fn new() -> Self {
        PendingRpcs {
            slots: Slab::new(),
            by_msg_id: HashMap::default(),
        }
    }

    /// Number of RPCs awaiting an outcome.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Number of RPCs the table can hold without allocating: it grows to a peak and is
    /// reused after, until an emptied table gives it back.
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The key the next [`insert`](Self::insert) will use, so its timer can name it first.
    pub fn vacant_key(&self) -> PendingKey {
        PendingKey(key_u32(self.slots.vacant_key()))
    }

    /// Registers an RPC. Its `msg_id` must be new: `msg_id`s come from a counter.
    pub fn insert(
        &mut self,
        msg_id: u64,
        timer: TimerKey,
        sent_at: std::time::Instant,
        callback: C,
    ) -> PendingKey {
        let key = PendingKey(key_u32(self.slots.insert(Pending {
            msg_id,
            timer,
            sent_at,
            callback,
        })));
        let previous = self.by_msg_id.insert(msg_id, key);
        debug_assert!(previous.is_none(), "msg_id {msg_id} registered twice");
        key
    }

    /// Takes the RPC a reply names, or `None` for a stale, duplicate or unknown reply.
    pub fn complete(&mut self, in_reply_to: u64) -> Option<Pending<C>> {
        let key = self.by_msg_id.remove(&in_reply_to)?;
        let pending = self.slots.try_remove(key.0 as usize);
        debug_assert!(
            pending.as_ref().is_some_and(|p| p.msg_id == in_reply_to),
            "index for msg_id {in_reply_to} pointed at slot {} holding {:?}",
            key.0,
            pending.as_ref().map(|p| p.msg_id)
        );
        pending
    }

    /// Takes the RPC whose deadline fired, if slot `key` still holds `msg_id`.
    pub fn expire(&mut self, key: PendingKey, msg_id: u64) -> Option<Pending<C>> {
        match self.slots.get(key.0 as usize) {
            Some(p) if p.msg_id == msg_id => {
                self.by_msg_id.remove(&msg_id);
                Some(self.slots.remove(key.0 as usize))
            }
            _ => None,
        }
    }

    /// Takes the RPC with `msg_id` without an outcome; the caller cancels its timer and drops
    /// the callback unrun.
    pub fn cancel(&mut self, msg_id: u64) -> Option<Pending<C>> {
        self.complete(msg_id)
    }

    /// The RPC with `msg_id`, if pending.
    pub fn get(&self, msg_id: u64) -> Option<&Pending<C>> {
        let key = self.by_msg_id.get(&msg_id)?;
        self.slots.get(key.0 as usize)
    }

    /// The RPC with `msg_id` and its key, if pending, to change its timer or send time.
    pub fn get_mut(&mut self, msg_id: u64) -> Option<(PendingKey, &mut Pending<C>)> {
        let key = *self.by_msg_id.get(&msg_id)?;
        Some((key, self.slots.get_mut(key.0 as usize)?))
    }

    /// Releases memory held for a past peak once the table has emptied out.
    pub fn shrink_if_idle(&mut self) {
        if self.slots.is_empty() && self.slots.capacity() > IDLE_CAPACITY {
            self.slots = Slab::new();
            self.by_msg_id = HashMap::default();
        }
    }
}

/// Capacity above which an empty table gives its memory back (see `shrink_if_idle`).
const IDLE_CAPACITY: usize = 4096;

fn key_u32(key: usize) -> u32 {
    u32::try_from(key).expect("more than 4 billion RPCs pending")
}

/// Hashes a `msg_id` with one multiplication (Fibonacci hashing).
///
/// `msg_id`s are sequential and never chosen by a peer, so a keyed, DoS-resistant hash buys
/// nothing here; SipHash would cost more than the rest of the lookup.
#[derive(Debug, Default)]
pub struct MsgIdHasher(u64);

impl Hasher for MsgIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timer::TimerWheel;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::time::Instant;

    fn table_with(ids: &[u64]) -> (PendingRpcs<u64>, Vec<PendingKey>) {
        let mut wheel = TimerWheel::new();
        let mut table = PendingRpcs::new();
        let keys = ids
            .iter()
            .map(|&id| {
                let timer = wheel.insert(10, ());
                table.insert(id, timer, Instant::now(), id)
            })
            .collect();
        (table, keys)
    }

    #[test]
    fn stale_timer_does_not_take_newer_rpc_in_reused_slot() {
        let (mut table, keys) = table_with(&[1]);
        assert!(table.complete(1).is_some());
        let mut wheel = TimerWheel::new();
        let reused = table.insert(2, wheel.insert(5, ()), Instant::now(), 2);
        assert_eq!(reused, keys[0], "slab reuses the freed slot");
        assert!(table.expire(keys[0], 1).is_none(), "old deadline is stale");
        assert_eq!(table.complete(2).map(|p| p.callback), Some(2));
    }

    #[test]
    fn reply_after_timeout_is_stale() {
        let (mut table, keys) = table_with(&[4]);
        assert!(table.expire(keys[0], 4).is_some());
        assert!(table.complete(4).is_none());
        assert!(table.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Send,
        Reply(u64),
        Timeout(usize),
        Cancel(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Send),
            3 => (0u64..64).prop_map(Op::Reply),
            2 => any::<usize>().prop_map(Op::Timeout),
            1 => (0u64..64).prop_map(Op::Cancel),
        ]
    }

    proptest! {
        /// Against a model map: every RPC leaves exactly once, by whichever path comes first;
        /// replies and deadlines for departed RPCs (including ones whose slot was reused) take
        /// nothing.
        #[test]
        fn each_rpc_leaves_exactly_once(ops in prop::collection::vec(op(), 1..300)) {
            let mut wheel = TimerWheel::new();
            let mut table = PendingRpcs::new();
            let mut model: BTreeMap<u64, PendingKey> = BTreeMap::new();
            let mut departed: Vec<(u64, PendingKey)> = Vec::new();
            let mut next_id = 0u64;
            let mut outcomes = 0usize;
            for op in ops {
                match op {
                    Op::Send => {
                        let key = table.vacant_key();
                        let timer = wheel.insert(next_id + 100, key);
                        let inserted = table.insert(next_id, timer, Instant::now(), next_id);
                        prop_assert_eq!(inserted, key);
                        model.insert(next_id, key);
                        next_id += 1;
                    }
                    Op::Reply(id) => {
                        let got = table.complete(id).map(|p| p.callback);
                        let want = model.remove(&id);
                        prop_assert_eq!(got, want.map(|_| id));
                        if let Some(key) = want {
                            departed.push((id, key));
                            outcomes += 1;
                        }
                    }
                    Op::Timeout(i) => {
                        // Either a live deadline or a stale one of a departed RPC.
                        if i % 2 == 0 && !model.is_empty() {
                            let (&id, &key) = model.iter().nth(i % model.len()).unwrap();
                            prop_assert_eq!(table.expire(key, id).map(|p| p.callback), Some(id));
                            model.remove(&id);
                            departed.push((id, key));
                            outcomes += 1;
                        } else if !departed.is_empty() {
                            let (id, key) = departed[i % departed.len()];
                            prop_assert!(table.expire(key, id).is_none());
                        }
                    }
                    Op::Cancel(id) => {
                        let got = table.cancel(id).is_some();
                        prop_assert_eq!(got, model.remove(&id).is_some());
                    }
                }
                prop_assert_eq!(table.len(), model.len());
            }
            prop_assert!(outcomes <= next_id as usize);
        }
    }
}
