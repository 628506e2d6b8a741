//! The node's whole input path on arbitrary bytes: line framing, envelope and body parsing,
//! dispatch, handlers, RPC timeouts and retries, with the clock driven by the input.
//!
//! The input is what stdin delivers. It goes through a `LineFramer` and the same calls the
//! event loop makes (`handle_line`, `handle_oversized_line`, `fire_timers` after each read),
//! except that a line starting with `@` is a directive to this harness and never reaches the
//! node (as input it could only ever be rejected as not JSON):
//!
//! | line       | effect                                                                  |
//! |------------|-------------------------------------------------------------------------|
//! | `@N`       | the clock moves N ms on (at most [`MAX_ADVANCE_MS`]); due timers fire    |
//! | `@l`, `@r` | the network delivers what the node sent itself, in order or reversed    |
//! | `@a`, `@e` | each request the node sent others is answered: `TYPE_ok`, or error 13   |
//! | `@d`       | the network drops what the node sent itself and its requests to others |
//! | `@cN`      | later reads of stdin return at most N bytes                              |
//!
//! After the end of input the clock runs on from deadline to deadline, as if the network had
//! gone silent, until no RPC is pending and every request is answered (or no timer is left).
//!
//! Asserted:
//! - nothing panics (debug assertions and overflow checks are on in fuzz builds);
//! - every output line is a JSON object with exactly `src`, `dest` (strings) and `body`, an
//!   object with a string `type` and an integer `msg_id`, an integer `in_reply_to` if any,
//!   and an integer `code` if it is an `error`;
//! - `msg_id`s count up from 0 by one, across every message the node writes;
//! - `dest` is a `src` of a line the node accepted, a node of its `node_ids`, or a Maelstrom
//!   service: never an unknown id; `src` is the node's id, or before `init` the `dest` a
//!   request named;
//! - every request the node accepted (a JSON object with `src`, `dest` for this node, and a
//!   body with `type` and `msg_id` and no `in_reply_to`) is answered exactly once by the time
//!   the node is idle, and nothing else is answered.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mionode::stdio::{Frame, LineFramer};
use mionode::{App, Config, Node};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

/// The mionode binary's app (the RPC chapter), included from its sources: the fuzz crate sees
/// only the library's public items, as the binary does.
#[allow(dead_code)]
#[path = "../../src/bin/mionode/app/mod.rs"]
mod app;

/// Longest line the node accepts here: small, so over-long lines are within the fuzzer's reach.
const MAX_LINE_BYTES: usize = 1024;

/// Largest clock step one `@N` directive takes (about 50 days, past the wheel's level 4).
const MAX_ADVANCE_MS: u64 = 1 << 32;

/// Bound on the clock steps after end of input; a node still busy after that is stuck.
const MAX_DRAIN_STEPS: usize = 100_000;

/// Maelstrom's services, which any node may address (DESIGN.md §2).
const SERVICES: [&str; 4] = ["lin-kv", "seq-kv", "lww-kv", "lin-tso"];

/// An incoming envelope as DESIGN.md defines it, parsed independently of the node's types.
#[derive(Deserialize)]
struct InEnvelope<'a> {
    src: String,
    dest: String,
    #[serde(borrow)]
    body: &'a RawValue,
}

#[derive(Deserialize)]
struct InHeader {
    #[serde(rename = "type")]
    _kind: String,
    msg_id: Option<u64>,
    in_reply_to: Option<u64>,
}

/// An outgoing envelope: nothing but these three keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutEnvelope<'a> {
    src: String,
    dest: String,
    #[serde(borrow)]
    body: &'a RawValue,
}

#[derive(Deserialize)]
struct OutBody {
    #[serde(rename = "type")]
    kind: String,
    msg_id: u64,
    in_reply_to: Option<u64>,
    code: Option<u64>,
}

/// serde also reads a struct from a JSON array of its fields; the protocol wants objects.
fn is_object(json: &str) -> bool {
    json.starts_with('{')
}

/// The node, the clock, the network's loopback, and what the node's output must satisfy.
struct Harness {
    node: Node<app::RpcChapter>,
    now: Instant,
    /// The next `msg_id` the node must use.
    next_msg_id: u64,
    /// `src` of every line the node accepted: whom it may answer.
    peers: HashSet<String>,
    /// `dest` of lines accepted before `init`: whom the node may answer as.
    names: HashSet<String>,
    /// Requests accepted and not yet answered, by `(src, msg_id)`.
    owed: HashMap<(String, u64), u32>,
    /// Messages the node sent itself, awaiting `@l`, `@r` or `@d`.
    loopback: Vec<Vec<u8>>,
    /// Requests the node sent others, as `(dest, type, msg_id)`, awaiting `@a`, `@e` or `@d`.
    outbound: Vec<(String, String, u64)>,
}

impl Harness {
    fn new() -> Harness {
        let now = Instant::now();
        let config = Config {
            seed: Some(0),
            max_line_bytes: MAX_LINE_BYTES,
            ..Config::default()
        };
        Harness {
            node: Node::new(app::RpcChapter::new(&app::Flags::default()), config, now),
            now,
            next_msg_id: 0,
            peers: HashSet::new(),
            names: HashSet::new(),
            owed: HashMap::new(),
            loopback: Vec::new(),
            outbound: Vec::new(),
        }
    }

    fn my_id(&self) -> Option<&str> {
        Some(self.node.context().node_id()).filter(|id| !id.is_empty())
    }

    /// A line from stdin: a directive, or input for the node.
    fn line(&mut self, line: &[u8], reader: &mut Reader<'_>) {
        match line.strip_prefix(b"@") {
            Some(b"l") => self.deliver(false),
            Some(b"r") => self.deliver(true),
            Some(b"a") => self.answer(false),
            Some(b"e") => self.answer(true),
            Some(b"d") => {
                self.loopback.clear();
                self.outbound.clear();
            }
            Some([b'c', n @ ..]) => reader.chunk = number(n).clamp(1, 1 << 20) as usize,
            Some(n) => self.advance(number(n).min(MAX_ADVANCE_MS)),
            None => self.feed(line),
        }
    }

    fn feed(&mut self, line: &[u8]) {
        self.note_request(line);
        self.node.handle_line(line, self.now);
        self.check_output();
    }

    /// Records whom an accepted line lets the node answer, and what it must answer.
    fn note_request(&mut self, line: &[u8]) {
        let Ok(text) = std::str::from_utf8(line.trim_ascii()) else {
            return;
        };
        let Ok(envelope) = serde_json::from_str::<InEnvelope<'_>>(text) else {
            return;
        };
        let body = envelope.body.get();
        let Ok(header) = serde_json::from_str::<InHeader>(body) else {
            return;
        };
        if !is_object(text) || !is_object(body) {
            return;
        }
        match self.my_id() {
            Some(me) if me != envelope.dest => return,
            Some(_) => {}
            None => {
                self.names.insert(envelope.dest);
            }
        }
        if let (None, Some(msg_id)) = (header.in_reply_to, header.msg_id) {
            *self.owed.entry((envelope.src.clone(), msg_id)).or_default() += 1;
        }
        self.peers.insert(envelope.src);
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.node.fire_timers(self.now);
        self.check_output();
    }

    /// The network hands the node what it sent itself so far.
    fn deliver(&mut self, reversed: bool) {
        let mut batch = std::mem::take(&mut self.loopback);
        if reversed {
            batch.reverse();
        }
        for line in batch {
            self.feed(&line);
        }
    }

    /// The nodes and services the node sent requests to answer them all.
    fn answer(&mut self, with_error: bool) {
        let Some(me) = self.my_id().map(str::to_owned) else {
            return;
        };
        for (dest, kind, msg_id) in std::mem::take(&mut self.outbound) {
            let body = if with_error {
                json!({"type": "error", "code": 13, "text": "down", "in_reply_to": msg_id})
            } else {
                json!({"type": kind + "_ok", "in_reply_to": msg_id})
            };
            let line = json!({"src": dest, "dest": me, "body": body}).to_string();
            self.feed(line.as_bytes());
        }
    }

    /// Checks everything the node wrote since the last call.
    fn check_output(&mut self) {
        let out = self.node.outbox().take();
        let Some(body) = out.strip_suffix(b"\n") else {
            assert!(out.is_empty(), "output does not end with a newline");
            return;
        };
        for line in body.split(|&b| b == b'\n') {
            self.check_message(line);
        }
    }

    fn check_message(&mut self, line: &[u8]) {
        let text = std::str::from_utf8(line).expect("output is UTF-8");
        let msg: OutEnvelope<'_> =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("bad envelope {e}: {text}"));
        let body: OutBody =
            serde_json::from_str(msg.body.get()).unwrap_or_else(|e| panic!("bad body {e}: {text}"));
        assert!(is_object(text) && is_object(msg.body.get()), "{text}");
        assert_eq!(
            body.msg_id, self.next_msg_id,
            "msg_id out of sequence: {text}"
        );
        self.next_msg_id += 1;
        if body.kind == "error" {
            assert!(body.code.is_some(), "error without a code: {text}");
        }

        let known_node = self.node.context().node_ids().contains(&msg.dest);
        assert!(
            known_node || self.peers.contains(&msg.dest) || SERVICES.contains(&&*msg.dest),
            "message to unknown {:?}: {text}",
            msg.dest
        );
        let me = self.my_id().map(str::to_owned);
        let me = me.as_deref();
        assert!(
            me == Some(&*msg.src) || self.names.contains(&msg.src),
            "message from {:?}, node is {me:?}: {text}",
            msg.src
        );

        if let Some(in_reply_to) = body.in_reply_to {
            let key = (msg.dest.clone(), in_reply_to);
            match self.owed.get_mut(&key) {
                Some(n) if *n > 0 => *n -= 1,
                _ => panic!("answer to no request: {text}"),
            }
        }
        if me == Some(&*msg.dest) {
            self.loopback.push(line.to_vec());
        } else if body.in_reply_to.is_none() {
            self.outbound.push((msg.dest, body.kind, body.msg_id));
        }
    }

    /// After the end of input the clock runs on, deadline by deadline, until the node is idle:
    /// no RPC pending and every request answered. Waits between retries count too (an
    /// operation may have nothing pending while it waits to send its next attempt), so the
    /// clock stops only when the node is idle or has no timer left.
    fn drain(&mut self) {
        for _ in 0..MAX_DRAIN_STEPS {
            if self.node.context().pending_rpcs() == 0 && self.unanswered().is_empty() {
                break;
            }
            let Some(next) = self.node.next_deadline() else {
                break;
            };
            self.now = self.now.max(next);
            self.node.fire_timers(self.now);
            self.check_output();
        }
        assert_eq!(self.node.context().pending_rpcs(), 0, "RPCs never ended");
        let unanswered = self.unanswered();
        assert!(
            unanswered.is_empty(),
            "requests never answered: {unanswered:?}"
        );
    }

    fn unanswered(&self) -> Vec<&(String, u64)> {
        self.owed
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(k, _)| k)
            .collect()
    }
}

/// The decimal number at the start of `digits`, saturating; 0 if there is none.
fn number(digits: &[u8]) -> u64 {
    digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |n, &d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
}

/// stdin: the fuzzer's bytes, in reads of at most `chunk` bytes.
struct Reader<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|input: &[u8]| {
    let mut harness = Harness::new();
    let mut framer = LineFramer::new(MAX_LINE_BYTES);
    let mut reader = Reader {
        data: input,
        chunk: usize::MAX,
    };
    // One turn of the event loop per read: frame, handle, fire timers.
    loop {
        let n = framer
            .fill(&mut reader)
            .expect("reading a slice cannot fail");
        if n == 0 {
            break;
        }
        while let Some(frame) = framer.next_frame() {
            match frame {
                Frame::Line(line) => harness.line(line, &mut reader),
                Frame::TooLong(len) => {
                    harness.node.handle_oversized_line(len);
                    harness.check_output();
                }
            }
        }
        harness.advance(0);
    }
    // End of input, as the event loop handles it.
    let rest = framer.take_rest();
    if !rest.is_empty() {
        harness.line(&rest, &mut reader);
    } else if let Some(len) = framer.discarding() {
        harness.node.handle_oversized_line(len);
    }
    harness.advance(0);
    harness.drain();
});
