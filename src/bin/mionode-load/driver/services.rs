//! Maelstrom's services on the simulated network: a message a node sends to `lin-kv`,
//! `seq-kv`, `lww-kv` or `lin-tso` travels with the network's latency (and faults), is
//! answered at once by the state machine of
//! [`harness::service`](mionode::harness::service) when it arrives, and the reply travels
//! back the same way. Services are never cut off by a partition.

use std::time::Instant;

use serde_json::{json, Value};

use super::Driver;
use crate::network::Head;

impl Driver {
    /// Answers every message delivered to a service by now.
    pub(super) fn serve(&mut self, now: Instant) {
        let n = self.plan.ids.len();
        for j in n..self.inputs.len() {
            if self.inputs[j].is_empty() {
                continue;
            }
            let input = std::mem::take(&mut self.inputs[j]);
            for line in input.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                self.answer(now, j, line);
            }
        }
    }

    /// Answers one message `line` delivered to service endpoint `j`.
    fn answer(&mut self, now: Instant, j: usize, line: &[u8]) {
        // The network delivers only what it parsed as a message from a node.
        let Ok(message) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        let (Some(src), Some(dest)) = (message["src"].as_str(), message["dest"].as_str()) else {
            return;
        };
        let at = self.nanos(now);
        let body = &message["body"];
        let Some(reply) = self
            .services
            .handle(dest, src, body, at, &mut self.service_rng)
        else {
            return;
        };
        // Only a node can be answered: a message claiming a client's or a service's id as
        // its source has nowhere to go back to on the network.
        let Some(&to) = self.index.get(src).filter(|&&to| to < self.plan.ids.len()) else {
            return;
        };
        let out = json!({"src": dest, "dest": src, "body": reply});
        let bytes = out.to_string();
        let head = Head {
            kind: reply["type"].as_str().unwrap_or(""),
            msg_id: None,
            in_reply_to: reply["in_reply_to"].as_u64(),
        };
        self.net.send(
            now,
            (j, to),
            (dest, src),
            head,
            bytes.as_bytes(),
            &mut self.inputs[to],
        );
    }
}
