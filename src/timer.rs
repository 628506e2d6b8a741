//! A hierarchical timing wheel: O(1) insert and cancel, never fires early.
//!
//! Every RPC mionode sends parks a deadline here, and nearly every deadline is cancelled by its
//! reply long before it is due. A binary heap would pay O(log n) per insert and could not remove
//! a cancelled entry without a search; the wheel pays a constant amount for both.
//!
//! # Design
//!
//! This is the hashed hierarchical wheel of Varghese and Lauck ("Hashed and Hierarchical Timing
//! Wheels", 1987), shaped like tokio's: [`LEVELS`] levels of [`SLOTS`] slots each, where a slot
//! at level `l` spans `64^l` ticks.
//!
//! | level | one slot spans  | the level spans  |
//! |------:|-----------------|------------------|
//! | 0     | 1 tick          | 64 ticks         |
//! | 1     | 64 ticks        | ~4 thousand      |
//! | 2     | ~4 thousand     | ~262 thousand    |
//! | 3     | ~262 thousand   | ~16.8 million    |
//! | 4     | ~16.8 million   | ~1.07 billion    |
//! | 5     | ~1.07 billion   | ~68.7 billion    |
//!
//! With mionode's one-millisecond tick, level 5 reaches about 795 days. An entry lives at the
//! lowest level whose slot boundaries separate its deadline from `elapsed` (the first tick not
//! yet processed). When time reaches a slot above level 0, its entries are re-inserted relative
//! to the new `elapsed` and cascade down; at level 0 a slot is exactly one tick, so entries fire
//! at their deadline and never before. Each slot is a doubly linked list threaded through a
//! [`Slab`], so cancel unlinks in O(1) given the key returned by insert.
//!
//! # Time is an argument
//!
//! The wheel counts integer ticks and never reads a clock: callers pass `now`, so tests drive
//! time by hand. Converting an `Instant` to ticks (rounding deadlines up) is the caller's job.
//!
//! # Not guaranteed
//!
//! Entries due at the same tick come out in no particular order. A deadline further away than
//! the top level's span is parked at the horizon (the last tick before the top level wraps) and
//! re-placed when time gets there, so it still never fires early. [`TimerWheel::next_deadline`] may be earlier than the earliest
//! entry (the start of a slot that must cascade): waking then is harmless, never late.
//!
//! Keys are reused, as in `slab`: cancelling a key after its entry fired may cancel a newer
//! entry. Owners must drop a key when its entry fires.

use slab::Slab;

/// Number of levels in the wheel.
pub const LEVELS: usize = 6;

/// Slots per level; a power of two so slot arithmetic is shifts and masks.
pub const SLOTS: usize = 64;

/// log2 of [`SLOTS`].
const SLOT_BITS: u32 = 6;

/// Mask selecting a slot index out of a tick count.
const SLOT_MASK: u64 = (SLOTS as u64) - 1;

/// Ticks spanned by the whole wheel (64^6). Deadlines beyond are parked at the horizon.
pub const SPAN: u64 = 1 << (SLOT_BITS * LEVELS as u32);

/// The null link in the intrusive lists.
const NIL: u32 = u32::MAX;

/// `level` value of an entry that is due and waiting in the `due` list.
const DUE: u8 = u8::MAX;

/// Handle to a parked entry, valid until the entry fires or is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerKey(u32);

/// A hierarchical timing wheel holding values of type `T`.
///
/// ```
/// use mionode::timer::TimerWheel;
///
/// let mut wheel = TimerWheel::new();
/// let a = wheel.insert(10, "a");
/// wheel.insert(5, "b");
/// assert_eq!(wheel.cancel(a), Some("a"));
/// assert_eq!(wheel.pop_expired(4), None);
/// assert_eq!(wheel.pop_expired(5), Some("b"));
/// assert!(wheel.is_empty());
/// ```
#[derive(Debug)]
pub struct TimerWheel<T> {
    entries: Slab<Entry<T>>,
    levels: [Level; LEVELS],
    /// Entries whose deadline has been reached, handed out by `pop_expired`.
    due: List,
    /// The first tick not yet processed.
    elapsed: u64,
}

#[derive(Debug)]
struct Entry<T> {
    deadline: u64,
    /// Level of the list the entry is in, or [`DUE`].
    level: u8,
    /// Slot of the list the entry is in (0 in the due list).
    slot: u8,
    prev: u32,
    next: u32,
    value: T,
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
}

impl List {
    const EMPTY: List = List { head: NIL };
}

#[derive(Debug)]
struct Level {
    /// Bit `s` is set when slot `s` holds at least one entry.
    occupied: u64,
    slots: [List; SLOTS],
}

/// The next slot that needs processing.
#[derive(Debug, PartialEq, Eq)]
struct Expiration {
    level: usize,
    slot: usize,
    /// The tick at which the slot starts.
    deadline: u64,
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerWheel<T> {
    /// An empty wheel whose clock starts at tick 0.
    pub fn new() -> Self {
        TimerWheel {
            entries: Slab::new(),
            levels: std::array::from_fn(|_| Level {
                occupied: 0,
                slots: [List::EMPTY; SLOTS],
            }),
            due: List::EMPTY,
            elapsed: 0,
        }
    }

    /// Number of parked entries, due or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is parked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parks `value` until tick `deadline`. A deadline already passed fires at the next
    /// [`pop_expired`](Self::pop_expired).
    pub fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let key = self.entries.insert(Entry {
            deadline,
            level: 0,
            slot: 0,
            prev: NIL,
            next: NIL,
            value,
        });
        let key = u32::try_from(key).expect("more than 4 billion timers parked");
        debug_assert!(key != NIL, "timer key collides with the null link");
        self.place(key);
        TimerKey(key)
    }

    /// Removes a parked entry and returns its value, or `None` if the key is vacant.
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        if !self.entries.contains(key.0 as usize) {
            return None;
        }
        self.unlink(key.0);
        Some(self.entries.remove(key.0 as usize).value)
    }

    /// The value parked under `key`, or `None` if the key is vacant (fired, cancelled, never
    /// used). Keys are reused: a key may name a newer entry than the one it was given for.
    pub fn get(&self, key: TimerKey) -> Option<&T> {
        self.entries.get(key.0 as usize).map(|e| &e.value)
    }

    /// The earliest tick at which [`pop_expired`](Self::pop_expired) may return something.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.due.head != NIL {
            return Some(self.elapsed);
        }
        self.next_expiration().map(|exp| exp.deadline)
    }

    /// Removes and returns one entry whose deadline is at or before `now`, if any.
    ///
    /// Call it in a loop until it returns `None`: values may be inserted between calls (a
    /// timeout that schedules a retry) and are seen by the next call.
    pub fn pop_expired(&mut self, now: u64) -> Option<T> {
        loop {
            if self.due.head != NIL {
                let key = self.due.head;
                self.unlink(key);
                return Some(self.entries.remove(key as usize).value);
            }
            match self.next_expiration() {
                Some(exp) if exp.deadline <= now => self.process(exp),
                _ => {
                    self.elapsed = self.elapsed.max(now);
                    return None;
                }
            }
        }
    }

    /// Links entry `key` into the list its deadline belongs to, relative to `elapsed`.
    fn place(&mut self, key: u32) {
        let deadline = self.entries[key as usize].deadline;
        if deadline <= self.elapsed {
            return self.link(key, DUE, 0);
        }
        // A deadline beyond the wheel's reach is parked at the horizon: the last tick before
        // the top level wraps around to the current top slot. It is re-placed from there.
        let top_slot_span = slot_span(LEVELS - 1);
        let horizon = (self.elapsed & !(top_slot_span - 1)) + SPAN - 1;
        let parked = deadline.min(horizon);
        let level = level_for(self.elapsed, parked);
        self.link(key, level as u8, slot_for(parked, level));
    }

    /// Empties one slot: entries that are due move to `due`, the rest cascade down.
    fn process(&mut self, exp: Expiration) {
        let mut list = self.take_slot(exp.level, exp.slot);
        self.elapsed = exp.deadline;
        while list != NIL {
            let key = list;
            list = self.entries[key as usize].next;
            self.place(key);
        }
    }

    /// Detaches a whole slot's list, leaving the entries unlinked (their links are rewritten
    /// by `place`).
    fn take_slot(&mut self, level: usize, slot: usize) -> u32 {
        let lvl = &mut self.levels[level];
        lvl.occupied &= !(1 << slot);
        std::mem::replace(&mut lvl.slots[slot], List::EMPTY).head
    }

    fn next_expiration(&self) -> Option<Expiration> {
        // Level 0 covers the current level-1 slot, level 1 the current level-2 slot, and so
        // on: the lowest occupied level always holds the earliest deadline.
        (0..LEVELS).find_map(|level| self.levels[level].next_expiration(level, self.elapsed))
    }

    fn list_mut(&mut self, level: u8, slot: usize) -> &mut List {
        if level == DUE {
            &mut self.due
        } else {
            &mut self.levels[level as usize].slots[slot]
        }
    }

    fn link(&mut self, key: u32, level: u8, slot: usize) {
        let list = self.list_mut(level, slot);
        let old_head = std::mem::replace(&mut list.head, key);
        if level != DUE {
            self.levels[level as usize].occupied |= 1 << slot;
        }
        if old_head != NIL {
            self.entries[old_head as usize].prev = key;
        }
        let entry = &mut self.entries[key as usize];
        entry.level = level;
        entry.slot = slot as u8;
        entry.prev = NIL;
        entry.next = old_head;
    }

    fn unlink(&mut self, key: u32) {
        let Entry {
            level,
            slot,
            prev,
            next,
            ..
        } = self.entries[key as usize];
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        if prev != NIL {
            self.entries[prev as usize].next = next;
            return;
        }
        // `key` was the head of its list.
        let slot = slot as usize;
        self.list_mut(level, slot).head = next;
        if next == NIL && level != DUE {
            self.levels[level as usize].occupied &= !(1 << slot);
        }
    }
}

impl Level {
    fn next_expiration(&self, level: usize, elapsed: u64) -> Option<Expiration> {
        if self.occupied == 0 {
            return None;
        }
        let now_slot = slot_for(elapsed, level);
        // Search from the current slot onwards, wrapping around. Below the top level every
        // entry lies ahead of `elapsed` within the current window of the level above, so no
        // search wraps; at the top level, slots behind `now_slot` belong to the next turn.
        let ahead = self.occupied.rotate_right(now_slot as u32);
        let slot = (now_slot + ahead.trailing_zeros() as usize) % SLOTS;
        let slot_span = slot_span(level);
        let level_span = slot_span * SLOTS as u64;
        let mut deadline = (elapsed & !(level_span - 1)) + slot as u64 * slot_span;
        if slot < now_slot {
            debug_assert!(
                level == LEVELS - 1,
                "level {level} wrapped: slot {slot} behind {now_slot}"
            );
            deadline += level_span;
        }
        Some(Expiration {
            level,
            slot,
            deadline,
        })
    }
}

/// Ticks spanned by one slot at `level`.
fn slot_span(level: usize) -> u64 {
    1 << (SLOT_BITS * level as u32)
}

/// The lowest level at which `deadline` lies in a different slot from `elapsed`; the top
/// level when they lie in different turns of the whole wheel.
fn level_for(elapsed: u64, deadline: u64) -> usize {
    let masked = ((elapsed ^ deadline) | SLOT_MASK).min(SPAN - 1);
    let significant = 63 - masked.leading_zeros() as usize;
    significant / SLOT_BITS as usize
}

/// The slot `tick` falls in at `level`.
fn slot_for(tick: u64, level: usize) -> usize {
    ((tick >> (SLOT_BITS * level as u32)) & SLOT_MASK) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn level_for_boundaries() {
        assert_eq!(level_for(0, 0), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(63, 64), 1);
        assert_eq!(level_for(64, 127), 0);
        assert_eq!(level_for(0, 4095), 1);
        assert_eq!(level_for(0, 4096), 2);
        assert_eq!(level_for(0, SPAN - 1), LEVELS - 1);
        assert_eq!(
            level_for(SPAN - 1, SPAN),
            LEVELS - 1,
            "next turn of the wheel"
        );
    }

    #[test]
    fn slot_for_boundaries() {
        assert_eq!(slot_for(0, 0), 0);
        assert_eq!(slot_for(63, 0), 63);
        assert_eq!(slot_for(64, 0), 0);
        assert_eq!(slot_for(64, 1), 1);
        assert_eq!(slot_for(4095, 1), 63);
        assert_eq!(slot_for(4096, 2), 1);
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let mut wheel = TimerWheel::new();
        wheel.insert(100, 'a');
        assert_eq!(wheel.next_deadline(), Some(64), "level-1 slot start");
        assert_eq!(wheel.pop_expired(99), None);
        assert_eq!(wheel.next_deadline(), Some(100), "cascaded to level 0");
        assert_eq!(wheel.pop_expired(100), Some('a'));
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn past_deadline_fires_at_next_poll() {
        let mut wheel = TimerWheel::new();
        assert_eq!(wheel.pop_expired(50), None);
        wheel.insert(10, 1);
        assert_eq!(wheel.next_deadline(), Some(50));
        assert_eq!(wheel.pop_expired(50), Some(1));
    }

    #[test]
    fn cancel_due_entry() {
        let mut wheel = TimerWheel::new();
        let a = wheel.insert(3, 'a');
        let b = wheel.insert(3, 'b');
        // Move both to the due list, take one, cancel the other.
        let first = wheel.pop_expired(3).unwrap();
        let other = if first == 'a' { b } else { a };
        assert!(wheel.cancel(other).is_some());
        assert_eq!(wheel.pop_expired(3), None);
        assert!(wheel.is_empty());
    }

    #[test]
    fn deadline_beyond_span_never_fires_early() {
        let mut wheel = TimerWheel::new();
        let far = SPAN + 5;
        wheel.insert(far, ());
        let mut now = 0;
        // Jump in large steps; the entry must come out exactly at `far`.
        while let Some(next) = wheel.next_deadline() {
            assert!(next <= far);
            now = next;
            if wheel.pop_expired(now).is_some() {
                break;
            }
        }
        assert_eq!(now, far);
    }

    #[test]
    fn far_deadline_from_the_last_tick_of_a_turn() {
        let mut wheel = TimerWheel::new();
        assert_eq!(wheel.pop_expired(SPAN - 1), None);
        wheel.insert(3 * SPAN, 'x');
        let mut polls = 0;
        while let Some(next) = wheel.next_deadline() {
            assert!(next <= 3 * SPAN);
            polls += 1;
            if wheel.pop_expired(next).is_some() {
                assert_eq!(next, 3 * SPAN);
                break;
            }
        }
        assert!(polls < 100, "{polls} wake-ups");
    }

    #[test]
    fn cancel_vacant_key_is_none() {
        let mut wheel: TimerWheel<u8> = TimerWheel::new();
        let k = wheel.insert(1, 9);
        assert_eq!(wheel.cancel(k), Some(9));
        assert_eq!(wheel.cancel(k), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Cancel(usize),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => prop_oneof![0u64..300_000, 0u64..3 * SPAN].prop_map(Op::Insert),
            2 => any::<usize>().prop_map(Op::Cancel),
            3 => prop_oneof![0u64..70, 0u64..5_000, 0u64..300_000, 0u64..SPAN].prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// The wheel against a model: a plain list of (deadline, id). Every entry fires at
        /// the first poll whose `now` reaches its deadline, never earlier, exactly once,
        /// unless cancelled first.
        #[test]
        fn matches_sorted_list_model(ops in prop::collection::vec(op(), 1..200)) {
            let mut wheel = TimerWheel::new();
            let mut model: Vec<(u64, u32, TimerKey)> = Vec::new();
            let mut now = 0u64;
            let mut next_id = 0u32;
            for op in ops {
                match op {
                    Op::Insert(delay) => {
                        let key = wheel.insert(now + delay, next_id);
                        model.push((now + delay, next_id, key));
                        next_id += 1;
                    }
                    Op::Cancel(i) if !model.is_empty() => {
                        let (_, id, key) = model.remove(i % model.len());
                        prop_assert_eq!(wheel.cancel(key), Some(id));
                    }
                    Op::Cancel(_) => {}
                    Op::Advance(by) => {
                        if let Some(next) = wheel.next_deadline() {
                            let earliest = model.iter().map(|m| m.0).min().unwrap();
                            prop_assert!(next <= earliest.max(now), "next {} earliest {}", next, earliest);
                        } else {
                            prop_assert!(model.is_empty());
                        }
                        now += by;
                        let mut fired = Vec::new();
                        while let Some(id) = wheel.pop_expired(now) {
                            fired.push(id);
                        }
                        fired.sort_unstable();
                        let mut expected: Vec<u32> =
                            model.iter().filter(|m| m.0 <= now).map(|m| m.1).collect();
                        expected.sort_unstable();
                        model.retain(|m| m.0 > now);
                        prop_assert_eq!(fired, expected);
                    }
                }
                prop_assert_eq!(wheel.len(), model.len());
            }
        }
    }
}
