//! The run directory, laid out like Maelstrom's store: `node-logs/<id>.log` holds each node's
//! stderr and `results.json` the results. Without `--store`, a fresh `store/<timestamp>` is
//! made (UTC, millisecond resolution) and `store/latest` points at it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where runs go by default, relative to the working directory.
pub const DEFAULT_STORE: &str = "store";

/// Name of the subdirectory holding the node logs.
pub const NODE_LOGS: &str = "node-logs";

/// Name of the subdirectory where nodes run with `--metrics` write their Prometheus
/// service-discovery files.
pub const METRICS_SD: &str = "sd";

/// Creates the run directory (`dir`, or a new one under [`DEFAULT_STORE`]) with its
/// `node-logs` subdirectory, and returns its path.
pub fn create(dir: Option<&Path>) -> io::Result<PathBuf> {
    let run = match dir {
        Some(dir) => {
            fs::create_dir_all(dir)?;
            dir.to_path_buf()
        }
        None => create_timestamped(Path::new(DEFAULT_STORE))?,
    };
    fs::create_dir_all(run.join(NODE_LOGS))?;
    Ok(run)
}

fn create_timestamped(base: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(base)?;
    let stamp = timestamp(SystemTime::now());
    for attempt in 0..100 {
        let name = match attempt {
            0 => stamp.clone(),
            n => format!("{stamp}-{n}"),
        };
        let run = base.join(&name);
        match fs::create_dir(&run) {
            Ok(()) => {
                point_latest(base, &name);
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

/// Points `base/latest` at `name`; a failure only loses the convenience link.
fn point_latest(base: &Path, name: &str) {
    let link = base.join("latest");
    if link.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
        let _ = fs::remove_file(&link);
    }
    #[cfg(unix)]
    let _ = std::os::unix::fs::symlink(name, &link);
}

/// `t` in UTC as `YYYYMMDDTHHMMSS.mmmZ`.
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
    fn create_makes_node_logs() {
        let tmp = tempfile::tempdir().unwrap();
        let run = create(Some(&tmp.path().join("run"))).unwrap();
        assert!(run.join(NODE_LOGS).is_dir());
        let first = create_timestamped(tmp.path()).unwrap();
        let second = create_timestamped(tmp.path()).unwrap();
        assert_ne!(first, second);
        assert!(tmp.path().join("latest").exists());
    }
}
