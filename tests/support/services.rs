//! Maelstrom's key-value services for tests/support/cluster.rs, as its `service.clj` runs
//! them.
//!
//! `seq-kv` is Maelstrom's `sequential` wrapper: an operation that changes nothing (a read, a
//! failed `cas`, a write of the value already there) runs on a random state between the
//! client's last one and the newest (of the last 32); one that changes the store runs on the
//! newest, and moves the client's view there. `lin-kv` is the same with one state.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{json, Value};

/// A key-value service as Maelstrom's `sequential` wrapper runs it, over the last `cap`
/// states (`cap` 1: linearizable).
pub struct Store {
    cap: usize,
    states: VecDeque<BTreeMap<String, Value>>,
    /// Index of the newest state.
    last: u64,
    /// Each client's last state.
    views: HashMap<String, u64>,
}

impl Store {
    /// `lin-kv`.
    pub fn linearizable() -> Store {
        Store::new(1)
    }

    /// `seq-kv`, over Maelstrom's 32 states.
    pub fn sequential() -> Store {
        Store::new(32)
    }

    fn new(cap: usize) -> Store {
        Store {
            cap,
            states: VecDeque::from([BTreeMap::new()]),
            last: 0,
            views: HashMap::new(),
        }
    }

    /// Runs request `body` from `client`; returns the reply's body (without `in_reply_to`).
    pub fn handle(&mut self, client: &str, body: &Value, rng: &mut fastrand::Rng) -> Value {
        let oldest = self.last + 1 - self.states.len() as u64;
        let view = self.views.get(client).copied().unwrap_or(0).max(oldest);
        let index = rng.u64(view..=self.last);
        let (changed, reply) = apply(&self.states[(index - oldest) as usize], body);
        if changed.is_none() {
            self.views.insert(client.to_owned(), index);
            return reply;
        }
        let newest = self.states.back().expect("never empty");
        let (changed, reply) = apply(newest, body);
        if let Some(state) = changed {
            self.states.push_back(state);
            self.last += 1;
            if self.states.len() > self.cap {
                self.states.pop_front();
            }
        }
        self.views.insert(client.to_owned(), self.last);
        reply
    }
}

/// Runs one KV request on `state`: the new state if it changed, and the reply.
fn apply(
    state: &BTreeMap<String, Value>,
    body: &Value,
) -> (Option<BTreeMap<String, Value>>, Value) {
    let key = body["key"].to_string();
    let current = state.get(&key);
    let set = |value: &Value| {
        let mut next = state.clone();
        next.insert(key.clone(), value.clone());
        (current != Some(value)).then_some(next)
    };
    let error = |code: u32, text: &str| json!({"type": "error", "code": code, "text": text});
    match (body["type"].as_str(), current) {
        (Some("read"), Some(v)) => (None, json!({"type": "read_ok", "value": v})),
        (Some("read"), None) => (None, error(20, "key does not exist")),
        (Some("write"), _) => (set(&body["value"]), json!({"type": "write_ok"})),
        (Some("cas"), Some(v)) if *v == body["from"] => {
            (set(&body["to"]), json!({"type": "cas_ok"}))
        }
        (Some("cas"), Some(v)) => (
            None,
            error(22, &format!("current value {v} is not {}", body["from"])),
        ),
        (Some("cas"), None) if body["create_if_not_exists"] == true => {
            (set(&body["to"]), json!({"type": "cas_ok"}))
        }
        (Some("cas"), None) => (None, error(20, "key does not exist")),
        _ => (None, error(10, "unsupported")),
    }
}
