//! A minimal, fast Maelstrom node, used to measure `mionode-load`'s own limits: it answers
//! `init`, `echo` and `batch_echo` (one `echo` RPC to itself per value, through the network,
//! as mionode does) and nothing else, with blocking buffered I/O and borrowed parsing, so
//! that the driver, not the node, is the bottleneck of a benchmark.
//!
//! ```text
//! cargo build --release --bin mionode-load --example reflector
//! target/release/mionode-load --bin target/release/examples/reflector \
//!     --node-count 1 --workload echo --concurrency 50 --time-limit 5
//! ```
//!
//! Not a node to learn from: no timeouts, no validation, errors only for unknown types.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, BufWriter, Write};

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    src: Cow<'a, str>,
    #[serde(borrow)]
    body: Body<'a>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    msg_id: Option<u64>,
    in_reply_to: Option<u64>,
    #[serde(borrow)]
    echo: Option<&'a RawValue>,
    #[serde(borrow)]
    values: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    node_id: Option<Cow<'a, str>>,
}

/// A batch waiting for its echoes.
struct Batch {
    client: String,
    in_reply_to: u64,
    results: Vec<Option<Box<RawValue>>>,
    left: usize,
}

#[derive(Default)]
struct Reflector {
    me: String,
    next_msg_id: u64,
    batches: HashMap<u64, Batch>,
    /// Self-echo msg_id → (batch id, position).
    waiting: HashMap<u64, (u64, usize)>,
    next_batch: u64,
}

impl Reflector {
    fn send(&mut self, out: &mut impl Write, dest: &str, body: &str) -> io::Result<u64> {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        let src = serde_json::to_string(&self.me)?;
        let dest = serde_json::to_string(dest)?;
        writeln!(
            out,
            "{{\"src\":{src},\"dest\":{dest},\"body\":{{{body},\"msg_id\":{id}}}}}"
        )?;
        Ok(id)
    }

    fn handle(&mut self, out: &mut impl Write, line: &str) -> io::Result<()> {
        let Ok(msg) = serde_json::from_str::<Message>(line) else {
            return Ok(());
        };
        let b = msg.body;
        let req = b.msg_id.unwrap_or(0);
        match &*b.kind {
            "init" => {
                self.me = b.node_id.unwrap_or_default().into_owned();
                let body = format!("\"type\":\"init_ok\",\"in_reply_to\":{req}");
                self.send(out, &msg.src, &body)?;
            }
            "echo" => {
                let echo = b.echo.map_or("null", RawValue::get);
                let body = format!("\"type\":\"echo_ok\",\"echo\":{echo},\"in_reply_to\":{req}");
                self.send(out, &msg.src, &body)?;
            }
            "echo_ok" => self.echoed(out, b.in_reply_to.unwrap_or(0), b.echo)?,
            "batch_echo" => {
                let values = b.values.unwrap_or_default();
                let key = self.next_batch;
                self.next_batch += 1;
                let me = self.me.clone();
                for (i, v) in values.iter().enumerate() {
                    let body = format!("\"type\":\"echo\",\"echo\":{}", v.get());
                    let id = self.send(out, &me, &body)?;
                    self.waiting.insert(id, (key, i));
                }
                let batch = Batch {
                    client: msg.src.into_owned(),
                    in_reply_to: req,
                    results: vec![None; values.len()],
                    left: values.len(),
                };
                self.batches.insert(key, batch);
                self.finish_if_done(out, key)?;
            }
            _ => {
                let body = format!("\"type\":\"error\",\"code\":10,\"in_reply_to\":{req}");
                self.send(out, &msg.src, &body)?;
            }
        }
        Ok(())
    }

    fn echoed(&mut self, out: &mut impl Write, id: u64, echo: Option<&RawValue>) -> io::Result<()> {
        let Some((key, i)) = self.waiting.remove(&id) else {
            return Ok(());
        };
        if let Some(batch) = self.batches.get_mut(&key) {
            batch.results[i] = echo.map(RawValue::to_owned);
            batch.left -= 1;
        }
        self.finish_if_done(out, key)
    }

    fn finish_if_done(&mut self, out: &mut impl Write, key: u64) -> io::Result<()> {
        if self.batches.get(&key).is_none_or(|b| b.left > 0) {
            return Ok(());
        }
        let Some(batch) = self.batches.remove(&key) else {
            return Ok(());
        };
        let results: Vec<&str> = batch
            .results
            .iter()
            .map(|r| r.as_deref().map_or("null", RawValue::get))
            .collect();
        let body = format!(
            "\"type\":\"batch_echo_ok\",\"results\":[{}],\"in_reply_to\":{}",
            results.join(","),
            batch.in_reply_to
        );
        self.send(out, &batch.client, &body)?;
        Ok(())
    }
}

fn main() -> io::Result<()> {
    let mut input = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut node = Reflector::default();
    let mut line = String::new();
    loop {
        // Flush before a read that may block: replies go out in batches, never held back.
        if input.buffer().is_empty() {
            out.flush()?;
        }
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return out.flush();
        }
        node.handle(&mut out, &line)?;
    }
}
