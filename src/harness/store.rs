//! The store: where a run's files go, laid out as Maelstrom's (Jepsen's) store.
//!
//! ```text
//! store/
//!   latest -> echo/20261202T094307.123Z        the last run of any workload
//!   echo/
//!     latest -> 20261202T094307.123Z           the last run of this workload
//!     20261202T094307.123Z/                    one run
//!       results.json  summary.txt  history.jsonl  messages.jsonl  nemesis.jsonl
//!       node-logs/n0.log ...
//! ```
//!
//! The file names and the shape of each line are [`record`]'s. Both drivers
//! write the same store: `mionode-load` (wall time) and the simulator (virtual time), so the
//! views read either without knowing which wrote it.
//!
//! What is guaranteed: [`create_run`] returns a directory that did not exist before (two
//! runs in the same millisecond get `-1`, `-2` suffixes) with its `node-logs` made. What is
//! not: the `latest` links are a convenience; failing to make one (a filesystem without
//! symbolic links) is not an error.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::record::{self, Op};

/// Where runs go by default, relative to the working directory (Maelstrom's `store`).
pub const DEFAULT_STORE: &str = "store";

/// Name of the link to the last run, in the store and in each workload's directory.
pub const LATEST: &str = "latest";

/// Creates a new run directory `base/<workload>/<timestamp of now>/` with its
/// [`record::NODE_LOGS`] subdirectory, points `base/latest` and `base/<workload>/latest` at
/// it, and returns its path.
pub fn create_run(base: &Path, workload: &str, now: SystemTime) -> io::Result<PathBuf> {
    let parent = base.join(workload);
    fs::create_dir_all(&parent)?;
    let stamp = timestamp(now);
    for attempt in 0..100 {
        let name = match attempt {
            0 => stamp.clone(),
            n => format!("{stamp}-{n}"),
        };
        let run = parent.join(&name);
        match fs::create_dir(&run) {
            Ok(()) => {
                fs::create_dir_all(run.join(record::NODE_LOGS))?;
                point_latest(&parent, Path::new(&name));
                point_latest(base, &Path::new(workload).join(&name));
                return Ok(run);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free run directory name",
    ))
}

/// Uses `dir` as the run directory (made if missing, with its node-logs), outside the
/// store's layout; no `latest` link is touched.
pub fn create_at(dir: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(dir.join(record::NODE_LOGS))?;
    Ok(dir.to_path_buf())
}

/// Points `dir/latest` at `target` (relative to `dir`); a failure only loses the link.
fn point_latest(dir: &Path, target: &Path) {
    let link = dir.join(LATEST);
    if link.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
        let _ = fs::remove_file(&link);
    }
    #[cfg(unix)]
    let _ = std::os::unix::fs::symlink(target, &link);
    #[cfg(not(unix))]
    let _ = target;
}

/// Writes `items` to `run/name` as JSON lines (the whole file at once).
pub fn write_jsonl_file<T: Serialize>(run: &Path, name: &str, items: &[T]) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(run.join(name))?);
    record::write_jsonl(&mut out, items)?;
    out.flush()
}

/// The history of a run, written line by line as operations happen, so that a long run
/// does not hold it in memory and a run read while it goes on shows what happened so far.
#[derive(Debug)]
pub struct HistoryWriter {
    out: BufWriter<File>,
    next_index: u64,
}

impl HistoryWriter {
    /// Creates (or truncates) `run/history.jsonl`.
    pub fn create(run: &Path) -> io::Result<HistoryWriter> {
        Ok(HistoryWriter {
            out: BufWriter::new(File::create(run.join(record::HISTORY))?),
            next_index: 0,
        })
    }

    /// Appends `op`, first setting its `index` to its position in the history (also when
    /// the write fails, so positions stay unique).
    pub fn push(&mut self, op: &mut Op) -> io::Result<()> {
        op.index = self.next_index;
        self.next_index += 1;
        serde_json::to_writer(&mut self.out, &*op)?;
        self.out.write_all(b"\n")
    }

    /// How many operations were written.
    pub fn len(&self) -> u64 {
        self.next_index
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.next_index == 0
    }

    /// Flushes what is buffered to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `t` in UTC as `YYYYMMDDTHHMMSS.mmmZ`, Jepsen's name for a run directory.
pub fn timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::record::OpType;
    use std::time::Duration;

    #[test]
    fn civil_dates_across_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn timestamps_sort_like_time() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(timestamp(t), "20231114T221320.123Z");
    }

    #[test]
    fn runs_go_under_their_workload_with_latest_links() {
        let tmp = tempfile::tempdir().unwrap();
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let first = create_run(tmp.path(), "echo", t).unwrap();
        let second = create_run(tmp.path(), "echo", t).unwrap();
        assert_eq!(first, tmp.path().join("echo/20231114T221320.123Z"));
        assert_eq!(second, tmp.path().join("echo/20231114T221320.123Z-1"));
        assert!(first.join(record::NODE_LOGS).is_dir());
        let latest = fs::canonicalize(tmp.path().join(LATEST)).unwrap();
        assert_eq!(latest, fs::canonicalize(&second).unwrap());
        let latest = fs::canonicalize(tmp.path().join("echo").join(LATEST)).unwrap();
        assert_eq!(latest, fs::canonicalize(&second).unwrap());
        let other = create_run(tmp.path(), "broadcast", t).unwrap();
        let latest = fs::canonicalize(tmp.path().join(LATEST)).unwrap();
        assert_eq!(latest, fs::canonicalize(other).unwrap());
    }

    #[test]
    fn history_is_written_in_order_with_indexes() {
        let tmp = tempfile::tempdir().unwrap();
        let run = create_at(&tmp.path().join("run")).unwrap();
        let mut history = HistoryWriter::create(&run).unwrap();
        let op = |time| Op {
            index: 99,
            time,
            kind: OpType::Invoke,
            process: "c3".into(),
            node: "n0".into(),
            f: "echo".into(),
            value: serde_json::json!(1),
            error: None,
            exception: None,
            final_read: false,
        };
        let (mut first, mut second) = (op(5), op(7));
        history.push(&mut first).unwrap();
        history.push(&mut second).unwrap();
        assert_eq!((first.index, second.index, history.len()), (0, 1, 2));
        history.flush().unwrap();
        let text = fs::read(run.join(record::HISTORY)).unwrap();
        let back: Vec<Op> = record::read_jsonl(&text[..]).unwrap();
        assert_eq!(
            back.iter().map(|o| (o.index, o.time)).collect::<Vec<_>>(),
            [(0, 5), (1, 7)]
        );
    }
}
