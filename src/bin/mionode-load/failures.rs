//! What the nodes did that Maelstrom's harness would not survive: a line it cannot read, a
//! message to or from an id it does not know, a node that died before the end, an `init` or
//! a setup message left unanswered. Each is a [`Failure`] naming the node and the cause; all
//! together they make the `nodes` check of the verdict, beside the workload's checks over
//! the history (`harness::check`).

use mionode::harness::check::{Check, Valid};
use serde::Serialize;

/// How many failures are kept with their details; the rest are only counted.
pub const KEPT_FAILURES: usize = 100;

/// The kinds of failure, each named in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// A message to an id that is neither a node, a live client nor a service.
    UnknownDestination,
    /// A line that is not a valid message.
    InvalidMessage,
    /// A message whose `src` is an id the network does not know.
    WrongSource,
    /// A node that exited or closed its stdout before the end of the run.
    Crashed,
    /// A node that did not answer `init` with `init_ok` within the limit.
    Init,
    /// A node that did not answer a setup message (broadcast's `topology`).
    Setup,
}

impl FailureKind {
    /// A short human name.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::UnknownDestination => "protocol violation: unknown destination",
            FailureKind::InvalidMessage => "protocol violation: invalid message",
            FailureKind::WrongSource => "protocol violation: unknown source",
            FailureKind::Crashed => "crash",
            FailureKind::Init => "init failed",
            FailureKind::Setup => "setup failed",
        }
    }
}

/// One reason the run failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The node at fault.
    pub node: String,
    /// A sentence naming the violation and the message involved.
    pub message: String,
}

/// Every failure of a run (the first [`KEPT_FAILURES`] in detail).
#[derive(Debug, Default)]
pub struct Failures {
    kept: Vec<Failure>,
    total: u64,
}

impl Failures {
    /// Records a failure.
    pub fn push(&mut self, kind: FailureKind, node: &str, message: String) {
        self.total += 1;
        if self.kept.len() < KEPT_FAILURES {
            self.kept.push(Failure {
                kind,
                node: node.to_string(),
                message,
            });
        }
    }

    /// The failures kept in detail, in the order they happened.
    pub fn kept(&self) -> &[Failure] {
        &self.kept
    }

    /// How many failures there were.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `nodes` check: valid when there was no failure, listing them otherwise.
    pub fn check(&self) -> Check {
        let mut check = Check::new(Valid::from_bool(self.total == 0));
        if self.total > 0 {
            check.set("failure_count", self.total);
            check.set("failures", &self.kept);
        }
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_make_the_nodes_check_invalid_and_are_kept_up_to_a_bound() {
        let mut f = Failures::default();
        assert_eq!(f.check().valid, Valid::True);
        for i in 0..KEPT_FAILURES + 5 {
            f.push(FailureKind::Crashed, "n0", format!("crash {i}"));
        }
        assert_eq!(
            (f.total(), f.kept().len()),
            (KEPT_FAILURES as u64 + 5, KEPT_FAILURES)
        );
        let check = f.check();
        assert_eq!(check.valid, Valid::False);
        assert_eq!(check.details["failure_count"], KEPT_FAILURES + 5);
        assert_eq!(check.details["failures"][0]["kind"], "crashed");
    }
}
