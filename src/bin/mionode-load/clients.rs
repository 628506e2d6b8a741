//! The clients: who sends what to which node, and when a request is given up.
//!
//! As in Maelstrom (over Jepsen's interpreter), a fixed number of client slots (Jepsen's
//! worker threads, `--concurrency`) each hold one client with one request outstanding at a
//! time, bound to one node (slot k talks to node k mod N). A request unanswered after
//! [`CLIENT_TIMEOUT`] is given up. A client whose request ended indeterminate (a timeout, an
//! indefinite error) has crashed, in Jepsen's words: before the slot's next request it is
//! closed and a new client with a new id takes its place. Its old id is then unknown to the
//! network, so a late reply to it is a message to an unknown destination, which ends the
//! node's output in Maelstrom ([`Clients::lookup`] no longer finds it).
//!
//! Client ids are `c<number>`: `c0..c{N-1}` send `init` (one per node) and are closed once
//! answered, as Maelstrom's setup clients are; workload clients follow from `cN`, and a
//! replacement takes the next free number.
//!
//! Requests start on a schedule ([`Schedule::Rate`], Maelstrom's `--rate`: Jepsen's stagger,
//! gaps uniform in [0, 2/R), mean 1/R), each taken by an idle slot chosen at random; when
//! every slot is busy the start waits for one to finish, as Jepsen's generator does. Not in
//! Maelstrom, [`Schedule::Closed`] lets each slot send again as soon as its request ends, to
//! measure throughput.
//!
//! Each slot draws its requests from its own generator seeded from the run's seed and its
//! number, so the requests of a slot do not depend on how replies interleave.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use mionode::harness::record::Nanos;
use mionode::harness::workload::{Invocation, Turn, Workload};

use crate::network::{Head, Network};

/// How long a client waits for a reply by default, as in Maelstrom (an invocation may say
/// otherwise: lin-kv's clients wait longer under latency).
pub const CLIENT_TIMEOUT: Duration =
    Duration::from_nanos(mionode::harness::workload::CLIENT_TIMEOUT);

/// A request waiting for its reply.
#[derive(Debug)]
pub struct Pending {
    /// The request's `msg_id`.
    pub msg_id: u64,
    /// What was asked.
    pub inv: Invocation,
    /// When the request was queued for the node.
    pub sent_at: Instant,
    /// The length of the request's line, in bytes.
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
    seed: u64,
    schedule: Schedule,
    slots: Vec<Slot>,
    /// Live client numbers → slot.
    live: HashMap<usize, usize>,
    next_number: usize,
    /// Rate schedule: idle slots, the next start and the generator of gaps and choices.
    idle: Vec<usize>,
    next_start: Option<Instant>,
    rng: fastrand::Rng,
    /// (deadline, slot, msg_id) in send order; entries whose request has ended are skipped
    /// when they reach the front, and swept when they outnumber the live ones.
    deadlines: VecDeque<(Instant, usize, u64)>,
    busy: usize,
    replaced: usize,
    /// The clients are stopping: each closes once its slot is idle (a Jepsen worker exits
    /// when the generator is done and closes its client).
    exiting: bool,
    /// Why each closed workload client was closed, by number.
    closed: HashMap<usize, Closed>,
}

/// Why a workload client was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Its request timed out or ended indeterminate; a new client took its slot.
    Crashed,
    /// The clients stopped at the time limit, and its slot was idle.
    Exited,
}

impl Clients {
    /// `count` client slots over `nodes` nodes, the first client numbered `first` (after
    /// the init and setup clients).
    pub fn new(nodes: usize, first: usize, count: usize, schedule: Schedule, seed: u64) -> Self {
        let slots: Vec<Slot> = (0..count)
            .map(|k| Slot {
                number: first + k,
                node: k % nodes,
                rng: fastrand::Rng::with_seed(crate::derive_seed(seed, "client", k as u64)),
                next_msg_id: 1,
                pending: None,
                crashed: false,
            })
            .collect();
        Clients {
            seed,
            schedule,
            live: slots
                .iter()
                .enumerate()
                .map(|(k, s)| (s.number, k))
                .collect(),
            next_number: first + count,
            idle: (0..count).collect(),
            next_start: None,
            rng: fastrand::Rng::with_seed(crate::derive_seed(seed, "schedule", 0)),
            slots,
            deadlines: VecDeque::new(),
            busy: 0,
            replaced: 0,
            exiting: false,
            closed: HashMap::new(),
        }
    }

    /// Starts the schedule at `now`: returns the slots that send at once (every slot of a
    /// closed loop; none on a rate, whose first start is due at `now`).
    pub fn start(&mut self, now: Instant) -> Vec<usize> {
        match self.schedule {
            Schedule::Closed => {
                self.idle.clear();
                (0..self.slots.len()).collect()
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
    pub fn take_start(&mut self, now: Instant) -> Option<usize> {
        let (Schedule::Rate(rate), Some(at)) = (self.schedule, self.next_start) else {
            return None;
        };
        if at > now || self.idle.is_empty() {
            return None;
        }
        let k = self.idle.swap_remove(self.rng.usize(..self.idle.len()));
        // A start that waited for a slot counts its gap from when it went out.
        let base = if now - at > Duration::from_millis(1) {
            now
        } else {
            at
        };
        self.next_start = Some(base + Duration::from_secs_f64(2.0 * self.rng.f64() / rate));
        Some(k)
    }

    /// On a rate: when the next start is due (while a slot is idle to take it).
    pub fn next_start(&self) -> Option<Instant> {
        self.next_start.filter(|_| !self.idle.is_empty())
    }

    /// Stops starting requests. With `exit`, idle clients close now and busy ones once
    /// their request ends (as Jepsen's workers close their clients when they exit); without
    /// (final reads follow), they stay open.
    pub fn stop(&mut self, exit: bool) {
        self.next_start = None;
        if self.schedule == Schedule::Closed {
            self.schedule = Schedule::Idle;
        }
        if !exit {
            return;
        }
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

    /// Slot `k` makes its next request (drawn from `workload`) to its node, through `net`,
    /// into `input` (the node's stdin buffer); a crashed client is replaced first. `at` is
    /// `now` in the run's time. Returns the request's operation.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        k: usize,
        (now, at): (Instant, Nanos),
        workload: &mut Workload,
        node_ids: &[String],
        net: &mut Network,
        input: &mut Vec<u8>,
    ) -> &'static str {
        if self.slots[k].crashed {
            self.replace(k);
        }
        let name = self.name(k);
        let slot = &mut self.slots[k];
        let turn = Turn {
            now: at,
            process: &name,
            node: slot.node,
        };
        let inv = workload.invoke(&mut slot.rng, &turn);
        let f = inv.f;
        self.send_invocation(k, now, inv, node_ids, net, input);
        f
    }

    /// Slot `k` sends `inv` (a request of the workload's, or a final read) to its node.
    pub fn send_invocation(
        &mut self,
        k: usize,
        now: Instant,
        inv: Invocation,
        node_ids: &[String],
        net: &mut Network,
        input: &mut Vec<u8>,
    ) {
        if self.slots[k].crashed {
            self.replace(k);
        }
        let name = self.name(k);
        let slot = &mut self.slots[k];
        let msg_id = slot.next_msg_id;
        slot.next_msg_id += 1;
        let head = Head {
            kind: inv.kind(),
            msg_id: Some(msg_id),
            in_reply_to: None,
        };
        let ends = (name.as_str(), node_ids[slot.node].as_str());
        let before = input.len();
        net.client_to_node(now, ends, head, input, |out| inv.write_body(msg_id, out));
        let bytes = input.len().saturating_sub(before + 1);
        let deadline = now + Duration::from_nanos(inv.timeout);
        slot.pending = Some(Pending {
            msg_id,
            inv,
            sent_at: now,
            bytes,
        });
        self.busy += 1;
        self.idle.retain(|&i| i != k);
        self.deadlines.push_back((deadline, k, msg_id));
    }

    /// A slot bound to `node` with no request outstanding, opening a new one if none is.
    pub fn idle_slot_of(&mut self, node: usize) -> usize {
        let found = (0..self.slots.len())
            .find(|&k| self.slots[k].node == node && self.slots[k].pending.is_none());
        if let Some(k) = found {
            return k;
        }
        let k = self.slots.len();
        self.slots.push(Slot {
            number: self.next_number,
            node,
            rng: fastrand::Rng::with_seed(crate::derive_seed(self.seed, "client", k as u64)),
            next_msg_id: 1,
            pending: None,
            crashed: false,
        });
        self.live.insert(self.next_number, k);
        self.next_number += 1;
        k
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

    /// The slot of the live workload client named `id`, if there is one.
    pub fn lookup(&self, id: &str) -> Option<usize> {
        self.live.get(&client_number(id)?).copied()
    }

    /// Ends slot `k`'s request if `in_reply_to` answers it; `None` for a reply to an
    /// earlier request or a stray one (which Maelstrom's client skips).
    pub fn answer(&mut self, k: usize, in_reply_to: Option<i64>) -> Option<Pending> {
        let pending = self.slots.get(k)?.pending.as_ref()?;
        if in_reply_to != i64::try_from(pending.msg_id).ok() {
            return None;
        }
        self.end(k)
    }

    /// Takes the next request whose client gave up on it by `now`.
    pub fn expire(&mut self, now: Instant) -> Option<(usize, Pending)> {
        while let Some(&(deadline, k, msg_id)) = self.deadlines.front() {
            if self.slots[k].pending.as_ref().map(|p| p.msg_id) != Some(msg_id) {
                self.deadlines.pop_front();
                continue;
            }
            if deadline > now {
                return None;
            }
            self.deadlines.pop_front();
            return self.end(k).map(|p| (k, p));
        }
        None
    }

    /// When the oldest outstanding request times out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|&(d, _, _)| d)
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
        } else if self.schedule != Schedule::Closed {
            self.idle.push(k);
        }
        if self.deadlines.len() > 2 * self.busy + 1024 {
            let slots = &self.slots;
            self.deadlines
                .retain(|&(_, k, id)| slots[k].pending.as_ref().map(|p| p.msg_id) == Some(id));
        }
        Some(pending)
    }
}

/// The number of the client named `id` (`c7` → 7), if `id` is a client id as this driver
/// writes them: `c` and a decimal number without leading zeros.
pub fn client_number(id: &str) -> Option<usize> {
    let digits = id.strip_prefix('c')?;
    let leading_zero = digits.len() > 1 && digits.starts_with('0');
    if leading_zero || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::NetConfig;
    use mionode::harness::workload::{Config, WorkloadKind};

    fn setup() -> (Workload, Vec<String>, Network) {
        let ids: Vec<String> = vec!["n0".into(), "n1".into()];
        let w = Workload::new(Config::new(WorkloadKind::Echo, ids.clone()));
        let net = Network::new(&NetConfig {
            nodes: 2,
            latency: Default::default(),
            faults: Default::default(),
            net_rate: None,
            reencode: false,
            seed: 0,
        });
        (w, ids, net)
    }

    #[test]
    fn slots_are_bound_round_robin_after_init_clients() {
        let c = Clients::new(2, 2, 3, Schedule::Closed, 1);
        assert_eq!((c.node_of(0), c.node_of(1), c.node_of(2)), (0, 1, 0));
        assert_eq!(c.lookup("c2"), Some(0));
        assert_eq!(c.lookup("c4"), Some(2));
        assert_eq!(c.name(2), "c4");
        assert_eq!(
            c.lookup("c1"),
            None,
            "init clients are not workload clients"
        );
        assert_eq!(c.lookup("c5"), None);
        assert_eq!(c.lookup("cx"), None);
        assert_eq!(c.lookup("c02"), None, "c02 is not c2");
        assert_eq!(c.lookup("c+2"), None);
        assert_eq!(client_number("c0"), Some(0));
    }

    #[test]
    fn a_reply_ends_only_the_request_it_answers() {
        let (mut w, ids, mut net) = setup();
        let mut c = Clients::new(2, 2, 1, Schedule::Closed, 1);
        let now = Instant::now();
        let mut input = Vec::new();
        c.send(0, (now, 0), &mut w, &ids, &mut net, &mut input);
        assert_eq!(c.busy(), 1);
        assert!(c.answer(0, Some(7)).is_none());
        assert!(c.answer(0, None).is_none());
        let p = c.answer(0, Some(1)).expect("answers msg_id 1");
        assert_eq!((p.msg_id, p.inv.f), (1, "echo"));
        assert!(c.answer(0, Some(1)).is_none(), "a duplicate reply is late");
        assert_eq!(c.busy(), 0);
    }

    #[test]
    fn requests_time_out_after_the_client_timeout() {
        let (mut w, ids, mut net) = setup();
        let mut c = Clients::new(2, 2, 2, Schedule::Closed, 1);
        let now = Instant::now();
        let mut input = Vec::new();
        c.send(0, (now, 0), &mut w, &ids, &mut net, &mut input);
        c.send(1, (now, 0), &mut w, &ids, &mut net, &mut input);
        c.answer(0, Some(1));
        assert!(c.expire(now + CLIENT_TIMEOUT / 2).is_none());
        let (k, p) = c.expire(now + CLIENT_TIMEOUT).expect("slot 1 times out");
        assert_eq!((k, p.msg_id), (1, 1));
        assert!(c.expire(now + CLIENT_TIMEOUT * 2).is_none());
        assert_eq!(c.next_deadline(), None);
    }

    #[test]
    fn a_crashed_client_is_replaced_by_a_new_id_at_its_next_request() {
        let (mut w, ids, mut net) = setup();
        let mut c = Clients::new(2, 2, 2, Schedule::Closed, 1);
        let now = Instant::now();
        c.send(1, (now, 0), &mut w, &ids, &mut net, &mut Vec::new());
        let (k, _) = c.expire(now + CLIENT_TIMEOUT).expect("times out");
        c.crash(k);
        assert_eq!(c.lookup("c3"), Some(1), "still open until the next request");
        let mut input = Vec::new();
        c.send(1, (now, 0), &mut w, &ids, &mut net, &mut input);
        assert_eq!(c.lookup("c3"), None, "the old id is closed");
        assert_eq!(c.lookup("c4"), Some(1));
        assert_eq!(c.closed("c3"), Some(Closed::Crashed));
        assert_eq!(c.name(1), "c4");
        assert_eq!(c.node_of(1), 1, "same node");
        assert_eq!((c.opened(), c.replaced()), (3, 1));
        let text = String::from_utf8(input).unwrap();
        assert!(text.contains(r#""src":"c4""#), "{text}");
        assert!(
            text.contains(r#""msg_id":1"#),
            "a new client counts from 1: {text}"
        );
    }

    #[test]
    fn stopping_closes_idle_clients_now_and_busy_ones_when_they_end() {
        let (mut w, ids, mut net) = setup();
        let mut c = Clients::new(2, 2, 2, Schedule::Closed, 1);
        let now = Instant::now();
        c.send(0, (now, 0), &mut w, &ids, &mut net, &mut Vec::new());
        c.stop(true);
        assert_eq!(c.lookup("c3"), None, "slot 1 was idle: closed");
        assert_eq!(c.closed("c3"), Some(Closed::Exited));
        assert_eq!(c.lookup("c2"), Some(0), "slot 0 waits for its reply");
        let (k, _) = c.expire(now + CLIENT_TIMEOUT).expect("times out");
        c.crash(k);
        assert_eq!(c.lookup("c2"), None);
        assert_eq!(c.closed("c2"), Some(Closed::Crashed));
        assert_eq!(c.closed("c9"), None);
    }

    #[test]
    fn rate_starts_wait_for_an_idle_slot() {
        let (mut w, ids, mut net) = setup();
        let mut c = Clients::new(2, 2, 2, Schedule::Rate(1000.0), 1);
        let now = Instant::now();
        assert!(c.start(now).is_empty());
        let first = c.take_start(now).expect("first start is due now");
        c.send(first, (now, 0), &mut w, &ids, &mut net, &mut Vec::new());
        let later = now + Duration::from_secs(1);
        let second = c.take_start(later).expect("due");
        assert_ne!(second, first);
        c.send(second, (later, 0), &mut w, &ids, &mut net, &mut Vec::new());
        assert_eq!(
            c.take_start(later),
            None,
            "both slots busy: the start waits"
        );
        assert_eq!(c.next_start(), None);
        c.answer(first, Some(1));
        let much_later = later + Duration::from_secs(1);
        assert_eq!(c.take_start(much_later), Some(first));
        c.stop(true);
        assert!(c.take_start(later + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn rate_spacing_averages_one_over_the_rate() {
        let mut c = Clients::new(1, 1, 1, Schedule::Rate(100.0), 3);
        let t0 = Instant::now();
        c.start(t0);
        let mut at = t0;
        for _ in 0..2000 {
            let k = c.take_start(at).expect("due");
            c.idle.push(k);
            at = c.next_start().expect("next");
        }
        let mean_ms = (at - t0).as_secs_f64() * 1000.0 / 2000.0;
        assert!((9.0..11.0).contains(&mean_ms), "mean gap {mean_ms} ms");
    }

    #[test]
    fn rate_zero_sends_nothing() {
        let mut c = Clients::new(2, 2, 2, Schedule::Idle, 1);
        let now = Instant::now();
        assert!(c.start(now).is_empty());
        assert_eq!(c.take_start(now + CLIENT_TIMEOUT), None);
    }
}
