//! The RPC chapter as an app: its state, its routes, its metrics.
//!
//! Every path inside this module tree is relative (`super::`), so the tree can be included
//! elsewhere by path (the fuzz target does) and still name only the library's public items.

mod backoff;
mod batch_echo;
mod bodies;
mod echo;
mod flags;
mod outbound;
mod proxy;
mod reaper;
mod relay;
mod retry;
mod stats;

use mionode::{App, Context, Routes};

pub use flags::Flags;
pub use stats::{AppStats, BATCH_SIZE, BATCH_SIZE_BUCKETS};

/// The context every handler of this app gets.
type Ctx = Context<RpcChapter>;

/// The state of the RPC chapter's node: what its multi-step operations keep between
/// messages, and its counters.
///
/// `proxy` and `send_fire_forget` keep nothing here: each is one RPC, and its callback
/// captures all it needs (whom to answer), so the runtime's pending table is their only state.
pub struct RpcChapter {
    flags: Flags,
    /// RPCs with retry in progress (`relay`, `backoff_relay`, and `batch_echo`'s fan-outs).
    retries: retry::Retries,
    /// Reaped callbacks not yet logged.
    reaper: reaper::Reaper,
    /// What the app counts beyond the runtime.
    stats: AppStats,
}

impl RpcChapter {
    /// The app's counters.
    #[allow(dead_code)] // read by the unit tests, and by the fuzz target's copy
    pub fn stats(&self) -> &AppStats {
        &self.stats
    }
}

impl App for RpcChapter {
    type Flags = Flags;

    const HISTOGRAM_BUCKETS: &'static [(&'static str, &'static [f64])] =
        &[(BATCH_SIZE, &BATCH_SIZE_BUCKETS)];

    fn new(flags: &Flags) -> Self {
        RpcChapter {
            flags: flags.clone(),
            retries: retry::Retries::default(),
            reaper: reaper::Reaper::default(),
            stats: AppStats::register(),
        }
    }

    fn check(flags: &Flags, config: &mionode::Config) -> Result<(), String> {
        flags.check(config.op_deadline)
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .on("echo", echo::handle)
            .on("batch_echo", batch_echo::handle)
            .on("proxy", proxy::handle)
            .on("relay", relay::handle)
            .on("send_fire_forget", reaper::fire_forget)
            .on("pending_count", reaper::pending_count)
            .on("backoff_relay", backoff::relay)
            .on("compute_backoff", backoff::compute);
    }
}

/// A node of this app for unit tests: `n1` of `["n1", "n2"]`, initialized, seeded with
/// `seed`.
#[cfg(test)]
fn test_node(flags: Flags, seed: u64) -> mionode::testing::TestNode<RpcChapter> {
    let config = mionode::Config {
        seed: Some(seed),
        ..mionode::Config::default()
    };
    let mut node = mionode::testing::TestNode::with_config(flags, config);
    node.init("n1", &["n1", "n2"]);
    node
}

#[cfg(test)]
mod tests {
    use mionode::testing::TestNode;
    use serde_json::json;

    use super::{Flags, RpcChapter};

    #[test]
    fn flags_are_well_formed_and_default_to_flags_default() {
        use clap::{CommandFactory, Parser};
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            flags: Flags,
        }
        Cli::command().debug_assert();
        let parsed = Cli::parse_from(["mionode"]).flags;
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Flags::default()));
    }

    #[test]
    fn messages_are_counted_by_type_both_ways() {
        let mut node = TestNode::<RpcChapter>::started("n1", &["n1"]);
        node.deliver("c0", json!({"type":"echo","msg_id":2,"echo":1}));
        node.deliver("c0", json!({"type":"echo","msg_id":3}));
        node.deliver("c0", json!({"type":"cas","msg_id":4}));
        node.deliver("c0", json!({"type":"echo_ok","in_reply_to":99}));
        node.deliver_line(b"not json");
        let ctx = node.context();
        let types = ctx.message_types();
        let count = |counts: &[u64], kind: &str| counts[types.index(kind)];
        let stats = ctx.stats();
        assert_eq!(count(stats.received(), "init"), 1);
        assert_eq!(count(stats.received(), "echo"), 2);
        assert_eq!(count(stats.received(), "echo_ok"), 1);
        assert_eq!(count(stats.received(), "other"), 1);
        assert_eq!(count(stats.sent(), "init_ok"), 1);
        assert_eq!(count(stats.sent(), "echo_ok"), 1);
        assert_eq!(
            count(stats.sent(), "error"),
            2,
            "12 for the echo without a value, 10 for cas"
        );
        use mionode::stats::{Counter, Rejection};
        assert_eq!(stats.get(Counter::MalformedRequests), 1);
        assert_eq!(stats.rejected(Rejection::BAD_ENVELOPE), 1);
        assert_eq!(stats.get(Counter::StaleReplies), 1);
    }

    /// Found by fuzzing: serde reads a struct from an array of its fields, so these lines were
    /// taken for an envelope and a body and answered, though Maelstrom's messages are objects.
    #[test]
    fn messages_shaped_as_arrays_are_rejected_not_answered() {
        use mionode::stats::Rejection;
        let mut node = TestNode::<RpcChapter>::started("n1", &["n1"]);
        let mut out = node.deliver_line(br#"["c1","n1",{"type":"echo","msg_id":2,"echo":1}]"#);
        out.extend(node.deliver_line(br#"{"src":"c1","dest":"n1","body":["echo",3,null]}"#));
        out.extend(node.deliver_line(br#"{"src":"c1","dest":"n1","body": ["echo",4,null]}"#));
        assert!(out.is_empty(), "answered an array: {out:?}");
        let stats = node.context().stats();
        assert_eq!(stats.rejected(Rejection::BAD_ENVELOPE), 1);
        assert_eq!(stats.rejected(Rejection::BAD_BODY), 2);
    }
}
