//! The clients: who sends what to which node, and when a request is given up.
//!
//! As in Maelstrom, a client has one request outstanding at a time, is bound to one node
//! (workload client k talks to node k mod N), and gives up on a request after
//! [`CLIENT_TIMEOUT`]; a reply that arrives later, or that answers another request, is
//! ignored. Client ids are `c<number>`: `c0..c{N-1}` send `init` (one per node) and are
//! closed once answered, as Maelstrom's setup clients are; workload clients follow from `cN`.
//!
//! Closed loop: a fixed set of clients, each sending its next request as soon as the last one
//! ends. Open loop: requests start on a schedule (Jepsen's stagger: gaps uniform in
//! [0, 2/R), mean 1/R) whatever the replies; each start takes an idle client of the next
//! node in turn, or opens a new one, so the one-outstanding-request rule still holds.
//!
//! Each client draws its requests from its own generator seeded from the run's seed and its
//! number, so the requests of a client do not depend on how replies interleave.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::network::Network;
use crate::workload::{Expected, OpKind, Workload};

/// How long a client waits for a reply, as in Maelstrom.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most clients an open loop opens; a start that finds none idle past this is skipped
/// (counted in the report), so a dead cluster cannot make the driver grow without bound.
pub const OPEN_LOOP_MAX_CLIENTS: usize = 100_000;

/// A request waiting for its reply.
#[derive(Debug)]
pub struct Pending {
    /// The request's `msg_id`.
    pub msg_id: u64,
    /// What was asked.
    pub kind: OpKind,
    /// What a correct reply carries.
    pub expected: Expected,
    /// When the request was queued for the node.
    pub sent_at: Instant,
}

#[derive(Debug)]
struct Client {
    name: String,
    node: usize,
    rng: fastrand::Rng,
    next_msg_id: u64,
    pending: Option<Pending>,
}

/// How requests are started.
#[derive(Debug)]
enum Schedule {
    Closed,
    Open {
        mean_gap: f64,
        next_at: Option<Instant>,
        next_node: usize,
        rng: fastrand::Rng,
    },
}

/// Every workload client of the run.
#[derive(Debug)]
pub struct Clients {
    /// Number of the first workload client (the init clients come before).
    first: usize,
    nodes: usize,
    seed: u64,
    list: Vec<Client>,
    /// Open loop: idle clients per node.
    idle: Vec<Vec<usize>>,
    /// (deadline, client, msg_id) in send order; entries whose request has ended are
    /// skipped when they reach the front, and swept when they outnumber the live ones.
    deadlines: VecDeque<(Instant, usize, u64)>,
    busy: usize,
    skipped: u64,
    schedule: Schedule,
}

impl Clients {
    /// Clients for `nodes` nodes: `closed` clients in a closed loop, or an open loop of
    /// `rate` starts per second when `rate` is given.
    pub fn new(nodes: usize, closed: usize, rate: Option<f64>, seed: u64) -> Self {
        let schedule = match rate {
            None => Schedule::Closed,
            Some(r) => Schedule::Open {
                mean_gap: 1.0 / r,
                next_at: None,
                next_node: 0,
                rng: fastrand::Rng::with_seed(crate::derive_seed(seed, "schedule", 0)),
            },
        };
        let mut clients = Clients {
            first: nodes,
            nodes,
            seed,
            list: Vec::new(),
            idle: vec![Vec::new(); nodes],
            deadlines: VecDeque::new(),
            busy: 0,
            skipped: 0,
            schedule,
        };
        if matches!(clients.schedule, Schedule::Closed) {
            for k in 0..closed {
                clients.open(k % nodes);
            }
        }
        clients
    }

    /// Opens a new client bound to `node` and returns its index.
    fn open(&mut self, node: usize) -> usize {
        let k = self.list.len();
        self.list.push(Client {
            name: format!("c{}", self.first + k),
            node,
            rng: fastrand::Rng::with_seed(crate::derive_seed(self.seed, "client", k as u64)),
            next_msg_id: 1,
            pending: None,
        });
        k
    }

    /// Starts the schedule at `now`: returns the clients that send at once (every client of
    /// a closed loop; none of an open loop, whose first start is due at `now`).
    pub fn start(&mut self, now: Instant) -> Vec<usize> {
        match &mut self.schedule {
            Schedule::Closed => (0..self.list.len()).collect(),
            Schedule::Open { next_at, .. } => {
                *next_at = Some(now);
                Vec::new()
            }
        }
    }

    /// True in a closed loop, where a client sends again as soon as a request ends.
    pub fn is_closed_loop(&self) -> bool {
        matches!(self.schedule, Schedule::Closed)
    }

    /// Open loop: the client that sends the next request due at `now`, if one is due.
    /// Advances the schedule; a start with no client to take it is skipped and counted.
    pub fn take_start(&mut self, now: Instant) -> Option<Option<usize>> {
        let Schedule::Open {
            mean_gap,
            next_at: Some(at),
            next_node,
            rng,
        } = &mut self.schedule
        else {
            return None;
        };
        if *at > now {
            return None;
        }
        *at += Duration::from_secs_f64(2.0 * *mean_gap * rng.f64());
        let node = *next_node;
        *next_node = (node + 1) % self.nodes;
        if let Some(k) = self.idle[node].pop() {
            return Some(Some(k));
        }
        if self.list.len() >= OPEN_LOOP_MAX_CLIENTS {
            self.skipped += 1;
            return Some(None);
        }
        Some(Some(self.open(node)))
    }

    /// Open loop: when the next start is due.
    pub fn next_start(&self) -> Option<Instant> {
        match self.schedule {
            Schedule::Open { next_at, .. } => next_at,
            Schedule::Closed => None,
        }
    }

    /// Stops starting requests (outstanding ones still end).
    pub fn stop(&mut self) {
        if let Schedule::Open { next_at, .. } = &mut self.schedule {
            *next_at = None;
        }
    }

    /// Client `k` sends its next request to its node, through `net`, into `input` (the
    /// node's stdin buffer). Returns the request's kind.
    pub fn send(
        &mut self,
        k: usize,
        now: Instant,
        workload: &Workload,
        node_ids: &[String],
        net: &mut Network,
        input: &mut Vec<u8>,
    ) -> OpKind {
        let client = &mut self.list[k];
        let msg_id = client.next_msg_id;
        client.next_msg_id += 1;
        let node = client.node;
        let rng = &mut client.rng;
        let (kind, expected) = net.client_to_node(&client.name, &node_ids[node], input, |out| {
            workload.next(rng, node, msg_id, out)
        });
        client.pending = Some(Pending {
            msg_id,
            kind,
            expected,
            sent_at: now,
        });
        self.busy += 1;
        self.deadlines.push_back((now + CLIENT_TIMEOUT, k, msg_id));
        kind
    }

    /// The id of client `k`.
    pub fn name(&self, k: usize) -> &str {
        &self.list[k].name
    }

    /// The node client `k` talks to.
    pub fn node_of(&self, k: usize) -> usize {
        self.list[k].node
    }

    /// The index of the live workload client named `id`, if there is one.
    pub fn lookup(&self, id: &str) -> Option<usize> {
        let k = client_number(id)?.checked_sub(self.first)?;
        (k < self.list.len()).then_some(k)
    }

    /// Ends client `k`'s request if `in_reply_to` answers it; `None` for a late or stray
    /// reply (which Maelstrom's client ignores).
    pub fn answer(&mut self, k: usize, in_reply_to: Option<i64>) -> Option<Pending> {
        let client = self.list.get_mut(k)?;
        let pending = client.pending.as_ref()?;
        if in_reply_to != i64::try_from(pending.msg_id).ok() {
            return None;
        }
        self.end(k)
    }

    /// Takes the next request whose client gave up on it by `now`.
    pub fn expire(&mut self, now: Instant) -> Option<(usize, Pending)> {
        while let Some(&(deadline, k, msg_id)) = self.deadlines.front() {
            if self.list[k].pending.as_ref().map(|p| p.msg_id) != Some(msg_id) {
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

    /// Clients opened so far.
    pub fn opened(&self) -> usize {
        self.list.len()
    }

    /// Open-loop starts skipped for want of a client.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn end(&mut self, k: usize) -> Option<Pending> {
        let pending = self.list[k].pending.take()?;
        self.busy -= 1;
        if !self.is_closed_loop() {
            self.idle[self.list[k].node].push(k);
        }
        if self.deadlines.len() > 2 * self.busy + 1024 {
            let list = &self.list;
            self.deadlines
                .retain(|&(_, k, id)| list[k].pending.as_ref().map(|p| p.msg_id) == Some(id));
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
    use crate::cli::{LatencyDist, WorkloadArg};
    use crate::network::Latency;

    fn setup() -> (Workload, Vec<String>, Network) {
        let ids: Vec<String> = vec!["n0".into(), "n1".into()];
        let w = Workload::new(WorkloadArg::Echo, 2, ids.clone());
        let latency = Latency {
            mean_ms: 0.0,
            dist: LatencyDist::Constant,
        };
        (w, ids, Network::new(2, latency, 0.0, 0.0, 0))
    }

    #[test]
    fn closed_loop_binds_clients_round_robin_after_init_clients() {
        let c = Clients::new(2, 3, None, 1);
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
        let (w, ids, mut net) = setup();
        let mut c = Clients::new(2, 1, None, 1);
        let now = Instant::now();
        let mut input = Vec::new();
        c.send(0, now, &w, &ids, &mut net, &mut input);
        assert_eq!(c.busy(), 1);
        assert!(c.answer(0, Some(7)).is_none());
        assert!(c.answer(0, None).is_none());
        let p = c.answer(0, Some(1)).expect("answers msg_id 1");
        assert_eq!((p.msg_id, p.kind), (1, OpKind::Echo));
        assert!(c.answer(0, Some(1)).is_none(), "a duplicate reply is late");
        assert_eq!(c.busy(), 0);
    }

    #[test]
    fn requests_time_out_after_the_client_timeout() {
        let (w, ids, mut net) = setup();
        let mut c = Clients::new(2, 2, None, 1);
        let now = Instant::now();
        let mut input = Vec::new();
        c.send(0, now, &w, &ids, &mut net, &mut input);
        c.send(1, now, &w, &ids, &mut net, &mut input);
        c.answer(0, Some(1));
        assert!(c.expire(now + CLIENT_TIMEOUT / 2).is_none());
        let (k, p) = c.expire(now + CLIENT_TIMEOUT).expect("client 1 times out");
        assert_eq!((k, p.msg_id), (1, 1));
        assert!(c.expire(now + CLIENT_TIMEOUT * 2).is_none());
        assert_eq!(c.next_deadline(), None);
    }

    #[test]
    fn open_loop_reuses_idle_clients_per_node() {
        let (w, ids, mut net) = setup();
        let mut c = Clients::new(2, 0, Some(1000.0), 1);
        let now = Instant::now();
        assert!(c.start(now).is_empty());
        let first = c.take_start(now).flatten().expect("first start is due now");
        assert_eq!(c.node_of(first), 0);
        c.send(first, now, &w, &ids, &mut net, &mut Vec::new());
        c.answer(first, Some(1));
        let later = now + Duration::from_secs(1);
        let second = c.take_start(later).flatten().expect("due");
        assert_eq!(c.node_of(second), 1, "starts go to nodes in turn");
        let third = c.take_start(later).flatten().expect("due");
        assert_eq!(third, first, "the idle client of node 0 is reused");
        c.stop();
        assert!(c.take_start(later).is_none());
    }
}
