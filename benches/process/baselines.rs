//! What mionode is compared with, run as processes of this same binary.
//!
//! - [`bare_loop`]: the least work serde_json allows for an echo ([`bare::answer`]), with
//!   the replies gathered in a 64 KiB buffer. The "within 2x" is against it.
//! - [`simple_node`]: a node as most are written by hand: a blocking loop over stdin's lines,
//!   each parsed into a `serde_json::Value`, each reply built as a `Value` and written with a
//!   flush (what `println!` does), pending echoes of a `batch_echo` in a `HashMap`. It has no
//!   timeouts and no retries: a blocking read cannot wake up for a deadline.

use std::collections::HashMap;
use std::io::{self, BufRead, BufWriter, Write};

use serde_json::{json, Value};

use crate::bare;

/// Answers every line of stdin as an echo (or, without an `echo`, as `init`).
pub fn bare_loop() -> io::Result<()> {
    let mut input = io::BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut line = String::new();
    let mut msg_id = 0;
    while input.read_line(&mut line)? > 0 {
        bare::answer(&line, msg_id, &mut out)?;
        msg_id += 1;
        line.clear();
    }
    out.flush()
}

/// A `batch_echo` waiting for its echoes.
struct Batch {
    client: String,
    msg_id: u64,
    results: Vec<Value>,
    remaining: usize,
}

/// Where the simple node writes, and its `msg_id` counter.
struct Out<'a> {
    stdout: io::StdoutLock<'a>,
    me: String,
    next_msg_id: u64,
}

impl Out<'_> {
    fn send(&mut self, dest: &str, mut body: Value) -> io::Result<()> {
        body["msg_id"] = json!(self.next_msg_id);
        self.next_msg_id += 1;
        let msg = json!({"src": self.me, "dest": dest, "body": body});
        writeln!(self.stdout, "{msg}")?;
        self.stdout.flush()
    }
}

/// The hand-written blocking node: `init`, `echo` and `batch_echo` over `Value`s.
pub fn simple_node() -> io::Result<()> {
    let mut out = Out {
        stdout: io::stdout().lock(),
        me: String::new(),
        next_msg_id: 0,
    };
    let mut batches: HashMap<u64, Batch> = HashMap::new();
    // msg_id of an echo in flight -> (batch, index of its value)
    let mut pending: HashMap<u64, (u64, usize)> = HashMap::new();
    for line in io::stdin().lock().lines() {
        let msg: Value = serde_json::from_str(&line?).map_err(io::Error::other)?;
        let src = msg["src"].as_str().unwrap_or_default().to_string();
        let body = &msg["body"];
        match body["type"].as_str().unwrap_or_default() {
            "init" => {
                out.me = body["node_id"].as_str().unwrap_or_default().to_string();
                out.send(
                    &src,
                    json!({"type": "init_ok", "in_reply_to": body["msg_id"]}),
                )?;
            }
            "echo" => out.send(
                &src,
                json!({"type": "echo_ok", "echo": body["echo"], "in_reply_to": body["msg_id"]}),
            )?,
            "batch_echo" => {
                let values = body["values"].as_array().cloned().unwrap_or_default();
                let id = body["msg_id"].as_u64().unwrap_or_default();
                let count = values.len();
                for (index, value) in values.into_iter().enumerate() {
                    pending.insert(out.next_msg_id, (id, index));
                    let me = out.me.clone();
                    out.send(&me, json!({"type": "echo", "echo": value}))?;
                }
                let results = vec![Value::Null; count];
                let batch = Batch {
                    client: src,
                    msg_id: id,
                    results,
                    remaining: count,
                };
                batches.insert(id, batch);
            }
            "echo_ok" => {
                let reply_to = body["in_reply_to"].as_u64().unwrap_or_default();
                let Some((id, index)) = pending.remove(&reply_to) else {
                    continue;
                };
                let batch = batches.get_mut(&id).expect("batch of a pending echo");
                batch.results[index] = body["echo"].clone();
                batch.remaining -= 1;
                if batch.remaining == 0 {
                    let batch = batches.remove(&id).expect("present");
                    let reply = json!({"type": "batch_echo_ok", "results": batch.results,
                        "in_reply_to": batch.msg_id});
                    out.send(&batch.client, reply)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
