//! A node driven by hand for handler tests: lines in, lines out, time moved explicitly.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{Config, Node};

/// An initialized `n1` of `["n1", "n2"]` and its clock.
pub(crate) struct Driver {
    pub(crate) node: Node,
    pub(crate) now: Instant,
}

impl Driver {
    pub(crate) fn new(config: Config) -> Self {
        let now = Instant::now();
        let mut driver = Driver {
            node: Node::new(config, now),
            now,
        };
        let init = json!({"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2"]});
        driver.receive("c0", init);
        let out = driver.output();
        assert_eq!(out[0]["body"]["type"], "init_ok", "{out:?}");
        driver
    }

    /// Delivers `body` from `src` to `n1`.
    pub(crate) fn receive(&mut self, src: &str, body: Value) {
        let line = json!({"src": src, "dest": "n1", "body": body}).to_string();
        self.node.handle_line(line.as_bytes(), self.now);
    }

    /// Moves the clock on by `ms` and fires what is due.
    pub(crate) fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.node.fire_timers(self.now);
    }

    /// Everything written since the last call, one value per line.
    pub(crate) fn output(&mut self) -> Vec<Value> {
        let bytes = self.node.outbox().take();
        bytes
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).expect("the node writes JSON"))
            .collect()
    }

    /// The one message written since the last call.
    pub(crate) fn one(&mut self) -> Value {
        let mut out = self.output();
        assert_eq!(out.len(), 1, "expected one message, got {out:?}");
        out.remove(0)
    }

    pub(crate) fn pending(&self) -> usize {
        self.node.ctx.pending_rpcs()
    }
}
