//! Maelstrom's clients, sans-IO: who asks which node, when a request starts, when it is
//! given up, and which client ids are still open. Both drivers use it: `mionode-load` on the
//! wall clock, the simulator on its virtual clock; time is [`Nanos`] either way.
//!
//! As in Maelstrom (over Jepsen's interpreter), a fixed number of client slots (Jepsen's
//! worker threads, `--concurrency`) each hold one client with one request outstanding at a
//! time, bound to one node (slot k talks to node k mod N). A request unanswered after its
//! [`Invocation::timeout`] is given up ([`Clients::expire`]). A client whose request ended
//! indeterminate (a timeout, an indefinite error) has crashed, in Jepsen's words: the driver
//! calls [`Clients::crash`], and before the slot's next request the client is closed and a
//! new client with a new id takes its place. Its old id is then unknown to the network, so a
//! late reply to it is a message to an unknown destination ([`Clients::lookup`] no longer
//! finds it; [`crate::harness::route`] says why).
//!
//! Client ids are `c<number>`: `c0..c{N-1}` send `init` (one per node) and are closed once
//! answered, as Maelstrom's setup clients are; workload clients follow from `cN` (or from a
//! later number, [`Clients::numbered_from`], when the driver opened setup clients), and a
//! replacement takes the next free number. When the clients stop for good
//! ([`Clients::exit`]), each closes once its slot is idle, as Jepsen's workers do; a closed
//! client's id remembers why it closed ([`Clients::closed`]).
//!
//! Requests start on a [`Schedule`]: [`Schedule::Rate`] is Maelstrom's `--rate` (Jepsen's
//! stagger: gaps uniform in `[0, 2/R)`, mean `1/R`), each start taken by an idle slot chosen
//! at random; when every slot is busy the start waits for one to finish, as Jepsen's
//! generator does. [`Schedule::Closed`] (not in Maelstrom) lets each slot send again as soon
//! as its request ends, to measure throughput.
//!
//! Each slot draws its requests from its own generator ([`Clients::rng`]), seeded from the
//! run's seed and its number, so a slot's requests do not depend on how replies interleave.
//! What this does not do: send anything. The driver writes the request (`msg_id` from
//! [`Clients::begin`]) and hands back replies with [`Clients::answer`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use crate::harness::record::Nanos;
use crate::harness::seed::derive_seed;
use crate::harness::workload::{Invocation, SECOND};

/// A request waiting for its reply.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The request's `msg_id` (each client counts from 1).
    pub msg_id: u64,
    /// What was asked.
    pub inv: Invocation,
    /// When it was sent.
    pub sent_at: Nanos,
    /// The history index of its invocation, if the driver records one (setup requests have
    /// none).
    pub index: Option<u64>,
    /// The length of the request's line in bytes, once the driver has said it
    /// ([`Clients::set_bytes`]); 0 until then.
    pub bytes: usize,
}

/// One slot: the client it holds now, and the slot's request generator.
#[derive(Debug)]
struct Slot {
    /// The number of the client in the slot (`c<number>`).
    number: usize,
    node: usize,
    rng: fastrand::Rng,
    next_msg_id: u64,
    pending: Option<Pending>,
    /// The client crashed (an indeterminate outcome): replaced before the next request.
    crashed: bool,
}

/// When requests start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// No requests at all (Maelstrom's `--rate 0`).
    Idle,
    /// This many starts per second at random gaps, each on an idle slot.
    Rate(f64),
    /// Every slot sends again as soon as its request ends (not in Maelstrom).
    Closed,
}

/// Every workload client of the run.
#[derive(Debug)]
pub struct Clients {
    schedule: Schedule,
    slots: Vec<Slot>,
    /// Live client numbers → slot. A BTreeMap: nothing here may depend on hash order.
    live: BTreeMap<usize, usize>,
    next_number: usize,
    /// Rate schedule: idle slots, the next start and the generator of gaps and choices.
    idle: Vec<usize>,
    next_start: Option<Nanos>,
    rng: fastrand::Rng,
    /// (deadline, slot, client number, msg_id); entries whose request has ended are skipped
    /// when they reach the top. The client number matters: a replacement counts its
    /// `msg_id`s from 1 again, and must not inherit its predecessor's deadlines.
    deadlines: BinaryHeap<Reverse<(Nanos, usize, usize, u64)>>,
    busy: usize,
    replaced: usize,
    seed: u64,
    /// Slots `0..scheduled` take part in the schedule; later ones were added for the driver's
    /// own use ([`Clients::add_slot`]).
    scheduled: usize,
    /// The clients are stopping: each closes once its slot is idle (a Jepsen worker exits
    /// when the generator is done and closes its client).
    exiting: bool,
    /// Why each closed workload client was closed, by number.
    closed: BTreeMap<usize, Closed>,
}

/// Why a workload client was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Its request timed out or ended indeterminate; a new client took its slot.
    Crashed,
    /// The clients stopped at the time limit ([`Clients::exit`]), and its slot was idle.
    Exited,
}

impl Clients {
    /// `count` client slots over `nodes` nodes, numbered after the `nodes` init clients;
    /// their generators come from `seed`.
    pub fn new(nodes: usize, count: usize, schedule: Schedule, seed: u64) -> Self {
        Clients::numbered_from(nodes, nodes, count, schedule, seed)
    }

    /// As [`Clients::new`], the first client numbered `first` (after the init clients and
    /// any setup clients the driver opened: `c<first>`).
    pub fn numbered_from(
        nodes: usize,
        first: usize,
        count: usize,
        schedule: Schedule,
        seed: u64,
    ) -> Self {
        let mut clients = Clients {
            schedule,
            slots: Vec::with_capacity(count),
            live: BTreeMap::new(),
            next_number: first,
            idle: Vec::new(),
            next_start: None,
            rng: fastrand::Rng::with_seed(derive_seed(seed, "schedule", 0)),
            deadlines: BinaryHeap::new(),
            busy: 0,
            replaced: 0,
            seed,
            scheduled: count,
            exiting: false,
            closed: BTreeMap::new(),
        };
        for k in 0..count {
            clients.add_slot(k % nodes.max(1));
            clients.idle.push(k);
        }
        clients
    }

    /// Opens one more slot, bound to `node`, with the next free client id; it takes no part
    /// in the schedule (the driver uses it directly: a final read). Returns its number.
    pub fn add_slot(&mut self, node: usize) -> usize {
        let k = self.slots.len();
        self.slots.push(Slot {
            number: self.next_number,
            node,
            rng: fastrand::Rng::with_seed(derive_seed(self.seed, "client", k as u64)),
            next_msg_id: 1,
            pending: None,
            crashed: false,
        });
        self.live.insert(self.next_number, k);
        self.next_number += 1;
        k
    }

    /// Starts the schedule at `now`: returns the slots that send at once (every slot of a
    /// closed loop; none on a rate, whose first start is due at `now`).
    pub fn start(&mut self, now: Nanos) -> Vec<usize> {
        match self.schedule {
            Schedule::Closed => {
                self.idle.clear();
                (0..self.scheduled).collect()
            }
            Schedule::Rate(_) => {
                self.next_start = Some(now);
                Vec::new()
            }
            Schedule::Idle => Vec::new(),
        }
    }

    /// True in a closed loop, where a slot sends again as soon as a request ends.
    pub fn is_closed_loop(&self) -> bool {
        self.schedule == Schedule::Closed
    }

    /// On a rate: the slot that sends the start due at `now`, if one is due and a slot is
    /// idle (otherwise the start waits). Draws the gap to the next start.
    pub fn take_start(&mut self, now: Nanos) -> Option<usize> {
        let (Schedule::Rate(rate), Some(at)) = (self.schedule, self.next_start) else {
            return None;
        };
        if at > now || self.idle.is_empty() {
            return None;
        }
        let k = self.idle.swap_remove(self.rng.usize(..self.idle.len()));
        // A start that waited for a slot counts its gap from when it went out.
        let base = if now - at > SECOND / 1000 { now } else { at };
        let gap = 2.0 * self.rng.f64() / rate * SECOND as f64;
        self.next_start = Some(base + gap as Nanos);
        Some(k)
    }

    /// On a rate: when the next start is due (while a slot is idle to take it).
    pub fn next_start(&self) -> Option<Nanos> {
        self.next_start.filter(|_| !self.idle.is_empty())
    }

    /// Stops starting requests (outstanding ones still end).
    pub fn stop(&mut self) {
        self.next_start = None;
        if self.schedule == Schedule::Closed {
            self.schedule = Schedule::Idle;
        }
    }

    /// The clients exit, as Jepsen's workers close their clients when the generator is done:
    /// idle clients close now, busy ones once their request ends. A message to a closed one
    /// is then to an unknown destination ([`Clients::closed`] says why).
    pub fn exit(&mut self) {
        self.exiting = true;
        for k in 0..self.slots.len() {
            if self.slots[k].pending.is_none() {
                self.close(k, Closed::Exited);
            }
        }
    }

    /// Removes slot `k`'s client from the live ones, remembering why.
    fn close(&mut self, k: usize, why: Closed) {
        let number = self.slots[k].number;
        if self.live.remove(&number).is_some() {
            self.closed.insert(number, why);
        }
    }

    /// Why the workload client named `id` was closed, if it was one that was.
    pub fn closed(&self, id: &str) -> Option<Closed> {
        self.closed.get(&client_number(id)?).copied()
    }

    /// A slot bound to `node` with no request outstanding, opening one
    /// ([`Clients::add_slot`]) if none is.
    pub fn idle_slot_of(&mut self, node: usize) -> usize {
        let found = (0..self.slots.len())
            .find(|&k| self.slots[k].node == node && self.slots[k].pending.is_none());
        found.unwrap_or_else(|| self.add_slot(node))
    }

    /// The generator slot `k` draws its requests from.
    pub fn rng(&mut self, k: usize) -> &mut fastrand::Rng {
        &mut self.slots[k].rng
    }

    /// Slot `k` sends `inv` at `now`; a crashed client is replaced first. Returns the
    /// client's id and the request's `msg_id`.
    pub fn begin(
        &mut self,
        k: usize,
        now: Nanos,
        inv: Invocation,
        index: Option<u64>,
    ) -> (String, u64) {
        if self.slots[k].crashed {
            self.replace(k);
        }
        let slot = &mut self.slots[k];
        let msg_id = slot.next_msg_id;
        slot.next_msg_id += 1;
        let deadline = now + inv.timeout;
        slot.pending = Some(Pending {
            msg_id,
            inv,
            sent_at: now,
            index,
            bytes: 0,
        });
        self.busy += 1;
        // A slot the driver picked itself (a final read) no longer waits for a start.
        self.idle.retain(|&i| i != k);
        let number = slot.number;
        self.deadlines.push(Reverse((deadline, k, number, msg_id)));
        (self.name(k), msg_id)
    }

    /// Records the length of the line the driver wrote for slot `k`'s request.
    pub fn set_bytes(&mut self, k: usize, bytes: usize) {
        if let Some(p) = self.slots[k].pending.as_mut() {
            p.bytes = bytes;
        }
    }

    /// Closes the client in slot `k` and opens a new one with the next free id.
    fn replace(&mut self, k: usize) {
        self.close(k, Closed::Crashed);
        let slot = &mut self.slots[k];
        slot.number = self.next_number;
        self.next_number += 1;
        slot.next_msg_id = 1;
        slot.crashed = false;
        self.live.insert(slot.number, k);
        self.replaced += 1;
    }

    /// Marks the client in slot `k` crashed: its request ended indeterminate, so it is
    /// replaced before the slot's next request (Jepsen's new process).
    pub fn crash(&mut self, k: usize) {
        self.slots[k].crashed = true;
        if let Some(why) = self.closed.get_mut(&self.slots[k].number) {
            *why = Closed::Crashed;
        }
    }

    /// The id of the client in slot `k`.
    pub fn name(&self, k: usize) -> String {
        format!("c{}", self.slots[k].number)
    }

    /// The request slot `k` waits for, if any.
    pub fn pending(&self, k: usize) -> Option<&Pending> {
        self.slots[k].pending.as_ref()
    }

    /// The node slot `k` talks to.
    pub fn node_of(&self, k: usize) -> usize {
        self.slots[k].node
    }

    /// How many slots there are (scheduled and added).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The slot of the live workload client named `id`, if there is one.
    pub fn lookup(&self, id: &str) -> Option<usize> {
        self.live.get(&client_number(id)?).copied()
    }

    /// Whether `number` was ever a workload client's (it may be closed now).
    pub fn was_opened(&self, number: usize) -> bool {
        number >= self.next_number - self.opened() && number < self.next_number
    }

    /// Ends slot `k`'s request if `in_reply_to` answers it; `None` for a reply to an
    /// earlier request or a stray one (which Maelstrom's client skips).
    pub fn answer(&mut self, k: usize, in_reply_to: Option<u64>) -> Option<Pending> {
        let pending = self.slots.get(k)?.pending.as_ref()?;
        if in_reply_to != Some(pending.msg_id) {
            return None;
        }
        self.end(k)
    }

    /// Takes the next request whose client gave up on it by `now`.
    pub fn expire(&mut self, now: Nanos) -> Option<(usize, Pending)> {
        while let Some(&Reverse((deadline, k, number, msg_id))) = self.deadlines.peek() {
            if !self.waits(k, number, msg_id) {
                self.deadlines.pop();
                continue;
            }
            if deadline > now {
                return None;
            }
            self.deadlines.pop();
            return self.end(k).map(|p| (k, p));
        }
        None
    }

    /// When the oldest outstanding request times out (possibly one already answered: then
    /// [`Clients::expire`] finds nothing and skips it).
    pub fn next_deadline(&self) -> Option<Nanos> {
        self.deadlines.peek().map(|Reverse((d, ..))| *d)
    }

    /// Requests outstanding.
    pub fn busy(&self) -> usize {
        self.busy
    }

    /// Clients opened so far (slots plus replacements).
    pub fn opened(&self) -> usize {
        self.slots.len() + self.replaced
    }

    /// Clients replaced after an indeterminate outcome.
    pub fn replaced(&self) -> usize {
        self.replaced
    }

    fn end(&mut self, k: usize) -> Option<Pending> {
        let pending = self.slots[k].pending.take()?;
        self.busy -= 1;
        if self.exiting {
            // A crash the caller finds after this end updates the reason (`crash`).
            self.close(k, Closed::Exited);
        } else if self.schedule != Schedule::Closed && k < self.scheduled {
            self.idle.push(k);
        }
        if self.deadlines.len() > 2 * self.busy + 1024 {
            let mut deadlines = std::mem::take(&mut self.deadlines);
            deadlines.retain(|&Reverse((_, k, number, id))| self.waits(k, number, id));
            self.deadlines = deadlines;
        }
        Some(pending)
    }

    /// Whether slot `k` still holds client `number` waiting for `msg_id`.
    fn waits(&self, k: usize, number: usize, msg_id: u64) -> bool {
        let slot = &self.slots[k];
        slot.number == number && slot.pending.as_ref().is_some_and(|p| p.msg_id == msg_id)
    }
}

/// The number of the client named `id` (`c7` → 7), if `id` is a client id as the drivers
/// write them: `c` and a decimal number without leading zeros.
pub fn client_number(id: &str) -> Option<usize> {
    let digits = id.strip_prefix('c')?;
    let leading_zero = digits.len() > 1 && digits.starts_with('0');
    if digits.is_empty() || leading_zero || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests;
