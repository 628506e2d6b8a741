//! The records of a run directory, read once, and the completed operations paired from them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{named, Verdict};
use crate::harness::record::{
    MessageEvent, Nanos, NemesisPeriod, OpType, HISTORY, MESSAGES, NEMESIS, RESULTS, SUMMARY,
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
#[derive(Debug)]
pub(super) struct Run {
    pub(super) completed: Vec<Completed>,
    /// Invocations that never completed (the run ended first).
    pub(super) pending: usize,
    /// The first messages, as many as the diagram draws.
    pub(super) messages: Vec<MessageEvent>,
    /// How many messages [`MESSAGES`] holds in all.
    pub(super) message_count: usize,
    pub(super) nemesis: Vec<NemesisPeriod>,
    /// The last time anything in the records happened.
    pub(super) end: Nanos,
    /// The contents of [`SUMMARY`], if there is one.
    pub(super) summary: Option<String>,
    /// What [`RESULTS`] says.
    pub(super) verdict: Verdict,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            completed: Vec::new(),
            pending: 0,
            messages: Vec::new(),
            message_count: 0,
            nemesis: Vec::new(),
            end: 0,
            summary: None,
            verdict: Verdict::Missing,
        }
    }
}

impl Run {
    /// Reads the records of `dir`, keeping the first `max_messages` messages; missing files
    /// count as empty. The records are streamed, so a run of millions of operations and
    /// messages costs memory only for its completed operations.
    pub(super) fn load(dir: &Path, max_messages: usize) -> io::Result<Run> {
        let mut run = Run::default();
        let mut pairs = Pairs::default();
        each_record(&dir.join(HISTORY), |op: OpLine| {
            run.end = run.end.max(op.time);
            if let Some(done) = pairs.push(op) {
                run.completed.push(done);
            }
            true
        })?;
        run.pending = pairs.open.len();
        if max_messages > 0 {
            each_record(&dir.join(MESSAGES), |m: MessageEvent| {
                run.messages.push(m);
                run.messages.len() < max_messages
            })?;
        }
        each_record(&dir.join(MESSAGES), |m: Timing| {
            run.end = run.end.max(m.delivered.unwrap_or(m.sent));
            run.message_count += 1;
            true
        })?;
        each_record(&dir.join(NEMESIS), |p: NemesisPeriod| {
            run.end = run.end.max(p.end.unwrap_or(p.start));
            run.nemesis.push(p);
            true
        })?;
        run.summary = read_optional(&dir.join(SUMMARY))?;
        run.verdict = Verdict::read(&dir.join(RESULTS))?;
        Ok(run)
    }
}

/// What the views read of a line of [`HISTORY`] (an [`Op`]): the value and the error are
/// skipped without being built, which is most of the cost of reading a long history.
#[derive(Deserialize)]
struct OpLine {
    time: Nanos,
    #[serde(rename = "type")]
    kind: OpType,
    process: String,
    f: String,
}

/// What the views read of a line of [`MESSAGES`] beyond those the diagram draws.
#[derive(Deserialize)]
struct Timing {
    sent: Nanos,
    #[serde(default)]
    delivered: Option<Nanos>,
}

/// Pairs each completion with the invocation of the same process before it (a process has
/// one operation outstanding at a time); what is left in `open` at the end never completed.
#[derive(Default)]
struct Pairs {
    /// Per process, the operation and the time of its open invocation.
    open: HashMap<String, (String, Nanos)>,
}

impl Pairs {
    /// Takes the next operation of the history; a completion gives the completed operation.
    /// A completion with no invocation before it is ignored.
    fn push(&mut self, op: OpLine) -> Option<Completed> {
        let outcome = match op.kind {
            OpType::Invoke => {
                self.open.insert(op.process, (op.f, op.time));
                return None;
            }
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            OpType::Info => Outcome::Info,
        };
        let (f, invoked) = self.open.remove(&op.process)?;
        Some(Completed {
            f,
            invoked,
            completed: op.time,
            outcome,
        })
    }
}

/// Calls `each` with every record of the JSON-lines file at `path`, skipping blank lines,
/// until it returns false; a missing file has none. A line that does not parse is an error
/// naming the file and the line, except a last line with no newline: a record cut short when
/// the writer stopped.
fn each_record<T: DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(T) -> bool,
) -> io::Result<()> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(named(path, e)),
    };
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    for number in 1.. {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| named(path, e))? == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(item) => {
                if !each(item) {
                    break;
                }
            }
            Err(_) if !line.ends_with('\n') => break,
            Err(e) => {
                let e = io::Error::new(io::ErrorKind::InvalidData, format!("line {number}: {e}"));
                return Err(named(path, e));
            }
        }
    }
    Ok(())
}

fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(named(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Through JSON, as the history file gives it.
    fn op(index: u64, time: Nanos, kind: OpType, process: &str, f: &str) -> OpLine {
        let op = serde_json::json!({
            "index": index, "time": time, "type": kind, "process": process, "node": "n0",
            "f": f,
        });
        serde_json::from_value(op).unwrap()
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
        let mut pairs = Pairs::default();
        let done: Vec<Completed> = ops.into_iter().filter_map(|o| pairs.push(o)).collect();
        assert_eq!(pairs.open.len(), 1);
        let got: Vec<_> = done
            .iter()
            .map(|c| (c.f.as_str(), c.latency(), c.outcome))
            .collect();
        assert_eq!(got, [("read", 3, Outcome::Info), ("echo", 20, Outcome::Ok)]);
    }

    #[test]
    fn a_record_cut_short_at_the_end_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let line = r#"{"start":5,"end":9,"kind":"partition","detail":"n0 | n1"}"#;
        std::fs::write(dir.path().join(NEMESIS), format!("{line}\n{line}\n{{\"sta")).unwrap();
        std::fs::write(dir.path().join(MESSAGES), "\n").unwrap();
        let run = Run::load(dir.path(), 10).unwrap();
        assert_eq!((run.nemesis.len(), run.end, run.message_count), (2, 9, 0));
    }

    #[test]
    fn only_the_first_messages_are_kept_but_all_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let lines: String = (0..5)
            .map(|i| {
                format!(
                    "{{\"id\":{i},\"src\":\"n0\",\"dest\":\"n1\",\"type\":\"x\",\"sent\":{i}}}\n"
                )
            })
            .collect();
        std::fs::write(dir.path().join(MESSAGES), lines).unwrap();
        let run = Run::load(dir.path(), 2).unwrap();
        assert_eq!((run.messages.len(), run.message_count, run.end), (2, 5, 4));
    }

    #[test]
    fn an_empty_directory_is_an_empty_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = Run::load(dir.path(), 10).unwrap();
        assert!(run.completed.is_empty() && run.messages.is_empty());
        assert_eq!(
            (run.end, run.verdict, run.summary),
            (0, Verdict::Missing, None)
        );
    }

    #[test]
    fn a_bad_record_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(NEMESIS), "{}\n").unwrap();
        let err = Run::load(dir.path(), 10).unwrap_err().to_string();
        assert!(err.contains("nemesis.jsonl: line 1"), "{err}");
    }
}
