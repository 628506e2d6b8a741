//! A run directory written by hand with the record types: what a short echo/batch_echo run
//! with a partition records, for testing the views without running a cluster.
//!
//! Four clients (`c0..c3`, client k on node `n{k mod 3}`) run one operation at a time for
//! 3 s. An `echo` is answered by its node; a `batch_echo` makes the node ask a peer first. A
//! partition `n0 | n1 n2` from 1 s to 2 s drops the messages across it, so the operations that
//! needed them time out (`info`, after 500 ms); a second partition starts at 2.6 s and is never
//! healed. About 3% of answers are a definite error (`fail`). One message is still in flight at
//! the end.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use mionode::harness::record::{
    write_jsonl, MessageEvent, Nanos, NemesisPeriod, Op, OpError, OpType, HISTORY, MESSAGES,
    NEMESIS, NODE_LOGS, RESULTS, SUMMARY,
};

const MS: Nanos = 1_000_000;
const END: Nanos = 3_000 * MS;
const TIMEOUT: Nanos = 500 * MS;
const NODES: [&str; 3] = ["n0", "n1", "n2"];

/// What the fixture wrote.
pub struct Fixture {
    pub ops: Vec<Op>,
    pub messages: Vec<MessageEvent>,
    pub nemesis: Vec<NemesisPeriod>,
}

impl Fixture {
    /// How many messages were dropped among the first `n`.
    pub fn dropped_in_first(&self, n: usize) -> usize {
        self.messages.iter().take(n).filter(|m| m.dropped).count()
    }
}

fn nemesis() -> Vec<NemesisPeriod> {
    vec![
        NemesisPeriod {
            start: 1_000 * MS,
            end: Some(2_000 * MS),
            kind: "partition".into(),
            detail: "n0 | n1 n2".into(),
        },
        NemesisPeriod {
            start: 2_600 * MS,
            end: None,
            kind: "partition".into(),
            detail: "n1 | n0 n2".into(),
        },
    ]
}

/// Whether a message between nodes `a` and `b` sent at `t` is cut by a partition.
fn cut(periods: &[NemesisPeriod], t: Nanos, a: &str, b: &str) -> bool {
    periods.iter().any(|p| {
        let alone = p.detail.split(' ').next().unwrap_or("");
        t >= p.start && p.end.is_none_or(|end| t < end) && (a == alone) != (b == alone)
    })
}

struct Gen {
    rng: fastrand::Rng,
    periods: Vec<NemesisPeriod>,
    ops: Vec<Op>,
    messages: Vec<MessageEvent>,
    msg_ids: u64,
}

impl Gen {
    fn send(
        &mut self,
        src: &str,
        dest: &str,
        kind: &str,
        sent: Nanos,
        reply_to: Option<u64>,
    ) -> Option<Nanos> {
        let dropped =
            src.starts_with('n') && dest.starts_with('n') && cut(&self.periods, sent, src, dest);
        let delivered = (!dropped).then(|| sent + self.rng.u64(1..6) * MS / 2);
        self.msg_ids += 1;
        self.messages.push(MessageEvent {
            id: 0,
            src: src.into(),
            dest: dest.into(),
            kind: kind.into(),
            msg_id: Some(self.msg_ids),
            in_reply_to: reply_to,
            sent,
            delivered,
            dropped,
        });
        delivered
    }

    fn op(
        &mut self,
        time: Nanos,
        kind: OpType,
        client: &str,
        node: &str,
        f: &str,
        error: Option<OpError>,
    ) {
        // Through JSON, so that fields the record gains later take their defaults here.
        let op = serde_json::json!({
            "index": 0, "time": time, "type": kind, "process": client, "node": node, "f": f,
            "value": time / MS, "error": error,
        });
        self.ops.push(serde_json::from_value(op).unwrap());
    }

    /// One operation of `client` on `node` from `t`; returns when it completed.
    fn operation(&mut self, client: &str, node: &str, t: Nanos) -> Nanos {
        let f = if self.rng.bool() {
            "echo"
        } else {
            "batch_echo"
        };
        self.op(t, OpType::Invoke, client, node, f, None);
        let request = self.msg_ids + 1;
        let mut at = self
            .send(client, node, f, t, None)
            .expect("clients are never cut");
        if f == "batch_echo" {
            let peer = NODES[(NODES.iter().position(|n| *n == node).unwrap() + 1) % 3];
            let asked = self.msg_ids + 1;
            let answer = self
                .send(node, peer, "echo", at, None)
                .and_then(|there| self.send(peer, node, "echo_ok", there, Some(asked)));
            match answer {
                Some(back) => at = back,
                None => {
                    let timeout = OpError {
                        code: 0,
                        text: "timed out".into(),
                    };
                    self.op(t + TIMEOUT, OpType::Info, client, node, f, Some(timeout));
                    return t + TIMEOUT;
                }
            }
        }
        let fail = self.rng.u8(..100) < 3;
        let reply = if fail { "error" } else { "ok" };
        let done = self
            .send(node, client, &format!("{f}_{reply}"), at, Some(request))
            .unwrap();
        let (kind, error) = match fail {
            true => (
                OpType::Fail,
                Some(OpError {
                    code: 11,
                    text: "busy".into(),
                }),
            ),
            false => (OpType::Ok, None),
        };
        self.op(done, kind, client, node, f, error);
        done
    }
}

/// Writes the records of the fixture run into `dir` (created if needed), with a results file
/// whose verdict is `valid`, a summary, and a log per node.
pub fn write_run(dir: &Path, seed: u64, valid: bool) -> Fixture {
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(seed),
        periods: nemesis(),
        ops: Vec::new(),
        messages: Vec::new(),
        msg_ids: 0,
    };
    for k in 0..4 {
        let (client, node) = (format!("c{k}"), NODES[k % 3]);
        let mut t = g.rng.u64(0..20) * MS;
        while t < END {
            t = g.operation(&client, node, t) + g.rng.u64(20..40) * MS;
        }
    }
    g.send("n2", "n0", "gossip", END, None);
    g.messages.last_mut().unwrap().delivered = None;
    g.ops.sort_by_key(|o| o.time);
    g.messages.sort_by_key(|m| m.sent);
    for (i, o) in g.ops.iter_mut().enumerate() {
        o.index = i as u64;
    }
    for (i, m) in g.messages.iter_mut().enumerate() {
        m.id = i as u64;
    }
    let fixture = Fixture {
        ops: g.ops,
        messages: g.messages,
        nemesis: g.periods,
    };
    write_files(dir, &fixture, valid);
    fixture
}

fn write_files(dir: &Path, f: &Fixture, valid: bool) {
    fs::create_dir_all(dir.join(NODE_LOGS)).unwrap();
    let mut buf = Vec::new();
    write_jsonl(&mut buf, &f.ops).unwrap();
    fs::write(dir.join(HISTORY), &buf).unwrap();
    buf.clear();
    write_jsonl(&mut buf, &f.messages).unwrap();
    fs::write(dir.join(MESSAGES), &buf).unwrap();
    buf.clear();
    write_jsonl(&mut buf, &f.nemesis).unwrap();
    fs::write(dir.join(NEMESIS), &buf).unwrap();
    let results = serde_json::json!({ "valid": valid, "failure_count": u64::from(!valid) });
    fs::write(
        dir.join(RESULTS),
        serde_json::to_vec_pretty(&results).unwrap(),
    )
    .unwrap();
    let verdict = if valid {
        "VALID: every reply was right"
    } else {
        "INVALID: 1 failure(s), listed above"
    };
    let summary = format!(
        "mionode-load: 3 nodes (n0 n1 n2), mixed workload, 4 clients in a closed loop, 3.0 s\n\n\
         op             invoked       ok  failed\necho               {}\n\nverdict: {verdict}\n",
        f.ops.len() / 2
    );
    fs::write(dir.join(SUMMARY), summary).unwrap();
    for node in NODES {
        fs::write(
            dir.join(NODE_LOGS).join(format!("{node}.log")),
            format!("{node} started\n"),
        )
        .unwrap();
    }
}
