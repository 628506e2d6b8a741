//! What a run records, and the files of its store.
//!
//! A run directory holds, beside `results.json` and `node-logs/`:
//!
//! - [`HISTORY`]: every operation a client invoked and how it completed, one [`Op`] a line,
//!   in the order they happened (Jepsen's history: an `invoke`, later its `ok`, `fail` or
//!   `info`);
//! - [`MESSAGES`]: the messages the network carried, one [`MessageEvent`] a line, in the order
//!   they were sent, with when each was delivered (or that it was dropped);
//! - [`NEMESIS`]: the periods a fault was in force, one [`NemesisPeriod`] a line.
//!
//! Times are [`Nanos`] since the run started: wall time under `mionode-load`, virtual time in
//! the simulator. The files are JSON lines so that a run can be read while it is written and
//! by any tool (`jq`, Python) without this crate.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

/// Nanoseconds since the run started.
pub type Nanos = u64;

/// File name of the operation history in a run directory.
pub const HISTORY: &str = "history.jsonl";
/// File name of the message trace in a run directory.
pub const MESSAGES: &str = "messages.jsonl";
/// File name of the nemesis periods in a run directory.
pub const NEMESIS: &str = "nemesis.jsonl";
/// File name of the machine-readable results in a run directory.
pub const RESULTS: &str = "results.json";
/// File name of the summary as the terminal showed it, in a run directory.
pub const SUMMARY: &str = "summary.txt";
/// Name of the directory of node logs (each node's stderr) in a run directory.
pub const NODE_LOGS: &str = "node-logs";

/// Which half of an operation a history line records, and how it ended (Jepsen's `:type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// A client sent the request.
    Invoke,
    /// It succeeded.
    Ok,
    /// It definitely failed: it had no effect (a definite error code).
    Fail,
    /// Its outcome is unknown: a timeout or an indefinite error.
    Info,
}

/// An error a completion carries: Maelstrom's code and the node's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpError {
    /// Maelstrom's error code (0 for a client-side timeout).
    pub code: u32,
    /// What the node (or the client) said.
    pub text: String,
}

/// One line of [`HISTORY`]: an invocation or a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, from 0.
    pub index: u64,
    /// When it happened.
    pub time: Nanos,
    /// Invocation, or how the operation completed.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// The client that ran it (`c3`); one operation at a time per client.
    pub process: String,
    /// The node the client talks to.
    pub node: String,
    /// The operation (`echo`, `read`, `add`, `broadcast`, ...).
    pub f: String,
    /// Its value: the argument on an invocation, the result on an `ok` (`null` when none).
    #[serde(default)]
    pub value: serde_json::Value,
    /// The error a `fail` or `info` completion carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OpError>,
    /// Why an `info` completion is not a plain timeout or error: the reply broke the
    /// workload's schema (Jepsen records the client's exception the same way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// A final read, made after the quiet period at the end of the run (Jepsen's
    /// `:final?`): the checkers of broadcast, g-set and the counters look at these.
    #[serde(default, rename = "final", skip_serializing_if = "is_false")]
    pub final_read: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One line of [`MESSAGES`]: a message the network carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEvent {
    /// The network's own id for it (Maelstrom's top-level `id`).
    pub id: u64,
    /// Sender: a node, a client or a service.
    pub src: String,
    /// Receiver.
    pub dest: String,
    /// The body's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The body's `msg_id`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<u64>,
    /// The body's `in_reply_to`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<u64>,
    /// When the sender wrote it.
    pub sent: Nanos,
    /// When it reached the receiver; `None` if it never did (dropped, cut by a partition, or
    /// still in flight when the run ended).
    #[serde(default)]
    pub delivered: Option<Nanos>,
    /// Whether the network dropped it (loss or a partition), rather than leaving it in flight.
    #[serde(default)]
    pub dropped: bool,
}

/// One line of [`NEMESIS`]: a period during which a fault was in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NemesisPeriod {
    /// When the fault began.
    pub start: Nanos,
    /// When it was healed; `None` if it lasted to the end of the run.
    #[serde(default)]
    pub end: Option<Nanos>,
    /// The kind of fault (`partition`).
    pub kind: String,
    /// What exactly: for a partition its components, as `n0 n1 | n2 n3 n4`.
    pub detail: String,
}

/// Writes `items` as JSON lines.
pub fn write_jsonl<T: Serialize>(out: &mut impl Write, items: &[T]) -> io::Result<()> {
    for item in items {
        serde_json::to_writer(&mut *out, item)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads JSON lines into values of `T`, skipping blank lines. The first line that does not
/// parse is an error naming its line number.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(input: impl BufRead) -> io::Result<Vec<T>> {
    let mut items = Vec::new();
    for (number, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {}: {e}", number + 1),
            )
        })?;
        items.push(item);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip_through_jsonl() {
        let ops = vec![
            Op {
                index: 0,
                time: 5,
                kind: OpType::Invoke,
                process: "c1".into(),
                node: "n0".into(),
                f: "echo".into(),
                value: serde_json::json!("hi"),
                error: None,
                exception: None,
                final_read: false,
            },
            Op {
                index: 1,
                time: 9,
                kind: OpType::Info,
                process: "c1".into(),
                node: "n0".into(),
                f: "echo".into(),
                value: serde_json::Value::Null,
                error: Some(OpError {
                    code: 0,
                    text: "timed out".into(),
                }),
                exception: None,
                final_read: true,
            },
        ];
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &ops).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"index":0,"time":5,"type":"invoke","#),
            "{text}"
        );
        let back: Vec<Op> = read_jsonl(&buf[..]).unwrap();
        assert_eq!(back, ops);
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = read_jsonl::<MessageEvent>(&b"\n{\"id\":1}\n"[..]).unwrap_err();
        assert!(err.to_string().starts_with("line 2:"), "{err}");
    }
}
