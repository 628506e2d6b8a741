//! Driving a node without I/O, for tests and doctests: lines in at virtual instants, the
//! lines written back parsed as JSON.
//!
//! ```
//! use mionode::testing::TestNode;
//! use mionode::{App, NoFlags, Routes};
//! use serde_json::json;
//!
//! struct Quiet;
//! impl App for Quiet {
//!     type Flags = NoFlags;
//!     fn new(_: &NoFlags) -> Self { Quiet }
//!     fn routes(_: &mut Routes<Self>) {}
//! }
//!
//! let mut node = TestNode::<Quiet>::new(NoFlags {});
//! // Before init, the runtime answers error 11.
//! let out = node.deliver("c1", json!({"type": "read", "msg_id": 1}));
//! assert_eq!(out[0]["body"]["code"], 11);
//! node.init("n1", &["n1", "n2"]);
//! assert_eq!(node.context().node_id(), "n1");
//! ```

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::app::App;
use crate::config::Config;
use crate::context::Context;
use crate::node::Node;

/// A node on a virtual clock: every call delivers input at the current virtual instant and
/// returns what the node wrote meanwhile, one JSON value per line.
///
/// The clock starts at the real `Instant::now()` of creation and moves only through
/// [`advance`](TestNode::advance). The node's random generator is seeded with 0 unless the
/// [`Config`] says otherwise.
pub struct TestNode<A: App> {
    node: Node<A>,
    now: Instant,
}

impl<A: App> TestNode<A> {
    /// A node of `A` built with `flags`, not yet initialized.
    pub fn new(flags: A::Flags) -> Self {
        let config = Config {
            seed: Some(0),
            ..Config::default()
        };
        Self::with_config(flags, config)
    }

    /// A node of `A` built with `flags` and `config`, not yet initialized.
    pub fn with_config(flags: A::Flags, config: Config) -> Self {
        let now = Instant::now();
        TestNode {
            node: Node::new(A::new(&flags), config, now),
            now,
        }
    }

    /// A node of `A` with default flags, initialized as `node_id` of `node_ids`.
    ///
    /// # Panics
    ///
    /// If the node does not answer `init` with `init_ok`.
    pub fn started(node_id: &str, node_ids: &[&str]) -> Self {
        let mut node = Self::new(A::Flags::default());
        node.init(node_id, node_ids);
        node
    }

    /// Delivers `init` from `c0` and returns the rest of what the node wrote (what
    /// [`App::on_init`] sent).
    ///
    /// # Panics
    ///
    /// If the first line written is not `init_ok`.
    pub fn init(&mut self, node_id: &str, node_ids: &[&str]) -> Vec<Value> {
        let body = json!({"type": "init", "msg_id": 0, "node_id": node_id, "node_ids": node_ids});
        let line = json!({"src": "c0", "dest": node_id, "body": body}).to_string();
        let mut out = self.deliver_line(line.as_bytes());
        assert!(
            out.first().is_some_and(|m| m["body"]["type"] == "init_ok"),
            "init was not answered with init_ok: {out:?}"
        );
        out.remove(0);
        out
    }

    /// Delivers `body` from `src` to this node (`dest` is its id, or `n1` before init), and
    /// returns what the node wrote.
    pub fn deliver(&mut self, src: &str, body: Value) -> Vec<Value> {
        let dest = match self.node.context().node_id() {
            "" => "n1",
            id => id,
        };
        let line = json!({"src": src, "dest": dest, "body": body}).to_string();
        self.deliver_line(line.as_bytes())
    }

    /// Like [`deliver`](Self::deliver), for a request expected to be answered at once with
    /// exactly one line: returns that line.
    ///
    /// # Panics
    ///
    /// If the node wrote anything but one line.
    pub fn request(&mut self, src: &str, body: Value) -> Value {
        let out = self.deliver(src, body);
        assert_eq!(out.len(), 1, "expected one line, got {out:?}");
        out.into_iter().next().unwrap_or_default()
    }

    /// Delivers one raw input line (without its newline) and returns what the node wrote.
    pub fn deliver_line(&mut self, line: &[u8]) -> Vec<Value> {
        self.node.handle_line(line, self.now);
        self.take_output()
    }

    /// Moves the virtual clock on by `by`, fires what is due, and returns what the node wrote.
    pub fn advance(&mut self, by: Duration) -> Vec<Value> {
        self.now += by;
        self.node.fire_timers(self.now);
        self.take_output()
    }

    /// [`advance`](Self::advance) by `ms` milliseconds.
    pub fn advance_ms(&mut self, ms: u64) -> Vec<Value> {
        self.advance(Duration::from_millis(ms))
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The node.
    pub fn node(&self) -> &Node<A> {
        &self.node
    }

    /// The node, to drive it by hand.
    pub fn node_mut(&mut self) -> &mut Node<A> {
        &mut self.node
    }

    /// The app's state.
    pub fn app(&self) -> &A {
        self.node.app()
    }

    /// The node's messaging core: identity, counters, pending RPCs.
    pub fn context(&self) -> &Context<A> {
        self.node.context()
    }

    /// Everything in the outbox, one JSON value per line.
    ///
    /// # Panics
    ///
    /// If the node wrote a line that is not JSON (the runtime never does).
    pub fn take_output(&mut self) -> Vec<Value> {
        let bytes = self.node.outbox().take();
        bytes
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).expect("the node writes JSON lines"))
            .collect()
    }
}
