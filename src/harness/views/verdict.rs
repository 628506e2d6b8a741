//! A run's verdict, as its results say it.

use std::fs;
use std::io;
use std::path::Path;

use super::named;

/// What `valid` in a run's `results.json` says: `true`, `false` or `"unknown"` (Jepsen's
/// three values), or that there is no verdict to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `"valid": true`.
    Valid,
    /// `"valid": false`.
    Invalid,
    /// `"valid": "unknown"`: a check could not decide.
    Unknown,
    /// No results file, one that is not JSON, or no `valid` in it.
    Missing,
}

impl Verdict {
    /// The verdict of a results file's text.
    pub fn of_results(text: &str) -> Verdict {
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        match value.get("valid") {
            Some(serde_json::Value::Bool(true)) => Verdict::Valid,
            Some(serde_json::Value::Bool(false)) => Verdict::Invalid,
            Some(serde_json::Value::String(s)) if s == "unknown" => Verdict::Unknown,
            _ => Verdict::Missing,
        }
    }

    /// The verdict of the results file at `path`; a missing file is [`Verdict::Missing`].
    ///
    /// # Errors
    ///
    /// A results file that exists but cannot be read.
    pub fn read(path: &Path) -> io::Result<Verdict> {
        match fs::read_to_string(path) {
            Ok(text) => Ok(Verdict::of_results(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Verdict::Missing),
            Err(e) => Err(named(path, e)),
        }
    }

    /// How pages show it, as the terminal does: `VALID`, `INVALID`, `UNKNOWN`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Valid => "VALID",
            Verdict::Invalid => "INVALID",
            Verdict::Unknown => "UNKNOWN",
            Verdict::Missing => "no verdict recorded",
        }
    }

    /// The CSS class pages colour it with.
    pub(super) fn class(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
            Verdict::Missing => "missing",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jepsens_three_values_and_nothing() {
        assert_eq!(Verdict::of_results(r#"{"valid": true}"#), Verdict::Valid);
        assert_eq!(Verdict::of_results(r#"{"valid": false}"#), Verdict::Invalid);
        assert_eq!(
            Verdict::of_results(r#"{"valid": "unknown"}"#),
            Verdict::Unknown
        );
        assert_eq!(Verdict::of_results(r#"{"valid": 1}"#), Verdict::Missing);
        assert_eq!(Verdict::of_results("not json"), Verdict::Missing);
    }
}
