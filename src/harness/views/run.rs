//! The records of a run directory, read once, and the completed operations paired from them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

use serde::Deserialize;

use super::named;
use crate::harness::record::{
    read_jsonl, MessageEvent, Nanos, NemesisPeriod, Op, OpType, HISTORY, MESSAGES, NEMESIS,
    RESULTS, SUMMARY,
};

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Outcome {
    Ok,
    Fail,
    Info,
}

impl Outcome {
    /// Every outcome, in the order legends list them.
    pub(super) const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Fail, Outcome::Info];

    pub(super) fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

/// One operation from its invocation to its completion.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Completed {
    pub(super) f: String,
    pub(super) invoked: Nanos,
    pub(super) completed: Nanos,
    pub(super) outcome: Outcome,
}

impl Completed {
    pub(super) fn latency(&self) -> Nanos {
        self.completed.saturating_sub(self.invoked)
    }
}

/// What a run directory holds, as far as the views need it.
#[derive(Debug, Default)]
pub(super) struct Run {
    pub(super) completed: Vec<Completed>,
    /// Invocations that never completed (the run ended first).
    pub(super) pending: usize,
    pub(super) messages: Vec<MessageEvent>,
    pub(super) nemesis: Vec<NemesisPeriod>,
    /// The last time anything in the records happened.
    pub(super) end: Nanos,
    /// The contents of [`SUMMARY`], if there is one.
    pub(super) summary: Option<String>,
    /// `valid` from [`RESULTS`], if it has one.
    pub(super) valid: Option<bool>,
}

impl Run {
    /// Reads the records of `dir`; missing files count as empty.
    pub(super) fn load(dir: &Path) -> io::Result<Run> {
        let ops: Vec<Op> = read_records(&dir.join(HISTORY))?;
        let messages: Vec<MessageEvent> = read_records(&dir.join(MESSAGES))?;
        let nemesis: Vec<NemesisPeriod> = read_records(&dir.join(NEMESIS))?;
        let (completed, pending) = pair(&ops);
        let end = ops
            .iter()
            .map(|o| o.time)
            .chain(
                messages
                    .iter()
                    .flat_map(|m| [Some(m.sent), m.delivered])
                    .flatten(),
            )
            .chain(
                nemesis
                    .iter()
                    .flat_map(|p| [Some(p.start), p.end])
                    .flatten(),
            )
            .max()
            .unwrap_or(0);
        Ok(Run {
            completed,
            pending,
            messages,
            nemesis,
            end,
            summary: read_optional(&dir.join(SUMMARY))?,
            valid: read_valid(&dir.join(RESULTS))?,
        })
    }
}

/// Pairs each completion with the invocation of the same process before it (a process has
/// one operation outstanding at a time). Returns the completed operations in the order they
/// completed, and how many invocations were left open.
fn pair(ops: &[Op]) -> (Vec<Completed>, usize) {
    let mut open: HashMap<&str, &Op> = HashMap::new();
    let mut completed = Vec::new();
    for op in ops {
        let outcome = match op.kind {
            OpType::Invoke => {
                open.insert(&op.process, op);
                continue;
            }
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            OpType::Info => Outcome::Info,
        };
        if let Some(invoke) = open.remove(op.process.as_str()) {
            completed.push(Completed {
                f: invoke.f.clone(),
                invoked: invoke.time,
                completed: op.time,
                outcome,
            });
        }
    }
    (completed, open.len())
}

fn read_records<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Vec<T>> {
    match File::open(path) {
        Ok(file) => read_jsonl(BufReader::new(file)).map_err(|e| named(path, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(named(path, e)),
    }
}

fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(named(path, e)),
    }
}

/// The `valid` field of the results; a results file that is not JSON, or has no boolean
/// `valid`, gives `None`: the page then shows the summary alone.
fn read_valid(path: &Path) -> io::Result<Option<bool>> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    Ok(value.get("valid").and_then(|v| v.as_bool()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(index: u64, time: Nanos, kind: OpType, process: &str, f: &str) -> Op {
        Op {
            index,
            time,
            kind,
            process: process.into(),
            node: "n0".into(),
            f: f.into(),
            value: serde_json::Value::Null,
            error: None,
            exception: None,
            final_read: false,
        }
    }

    #[test]
    fn completions_pair_with_their_process_invocation() {
        let ops = [
            op(0, 10, OpType::Invoke, "c1", "echo"),
            op(1, 12, OpType::Invoke, "c2", "read"),
            op(2, 15, OpType::Info, "c2", "read"),
            op(3, 30, OpType::Ok, "c1", "echo"),
            op(4, 31, OpType::Invoke, "c1", "echo"),
            op(5, 40, OpType::Fail, "c9", "echo"),
        ];
        let (done, pending) = pair(&ops);
        assert_eq!(pending, 1);
        let got: Vec<_> = done
            .iter()
            .map(|c| (c.f.as_str(), c.latency(), c.outcome))
            .collect();
        assert_eq!(got, [("read", 3, Outcome::Info), ("echo", 20, Outcome::Ok)]);
    }

    #[test]
    fn an_empty_directory_is_an_empty_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::load(dir.path()).unwrap();
        assert!(run.completed.is_empty() && run.messages.is_empty());
        assert_eq!((run.end, run.valid, run.summary), (0, None, None));
    }

    #[test]
    fn a_bad_record_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(NEMESIS), "{}\n").unwrap();
        let err = Run::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("nemesis.jsonl: line 1"), "{err}");
    }
}
