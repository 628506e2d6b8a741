//! One rate limit for every warning the node writes about a single message.
//!
//! A flood of bad input (20,000 malformed requests, a client retrying against a dead target)
//! must not turn into a flood of stderr: Maelstrom keeps every node's log, and writing it costs
//! more than handling the message. Every per-message warning of the runtime, and of apps
//! through [`Context::warn`](crate::Context::warn), passes through one [`WarnLimiter`]: the
//! first [`WARNINGS_PER_SECOND`] of each one-second window are written; the rest are counted,
//! and summed up in one line when their window ends, and at exit
//! ([`Node::finish`](crate::Node::finish)), so a node that stops within the second still says
//! what it held back.
//!
//! Time is an argument: the limiter never reads a clock.

use std::time::{Duration, Instant};

/// Warnings written one by one per window; beyond that they are only counted.
pub const WARNINGS_PER_SECOND: u32 = 100;

/// The window of [`WARNINGS_PER_SECOND`].
pub const WARN_WINDOW: Duration = Duration::from_secs(1);

/// Counts warnings written in the current window, and those held back.
///
/// ```
/// use mionode::warn::{WarnLimiter, WARNINGS_PER_SECOND, WARN_WINDOW};
/// use std::time::Instant;
///
/// let start = Instant::now();
/// let mut limiter = WarnLimiter::default();
/// let admitted = (0..250).filter(|_| limiter.admit(start)).count();
/// assert_eq!(admitted, WARNINGS_PER_SECOND as usize);
/// assert_eq!(limiter.summary_due(), Some(start + WARN_WINDOW));
/// assert_eq!(limiter.take_due(start), None, "not before the window ends");
/// assert_eq!(limiter.take_due(start + WARN_WINDOW), Some(150));
/// assert_eq!(limiter.take_all(), 0, "summed up once");
/// ```
#[derive(Debug, Default)]
pub struct WarnLimiter {
    window_start: Option<Instant>,
    written: u32,
    held: u64,
}

impl WarnLimiter {
    /// Whether one more warning may be written at `now`; if not, it is counted as held back.
    pub fn admit(&mut self, now: Instant) -> bool {
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) >= WARN_WINDOW {
            self.window_start = Some(now);
            self.written = 0;
        }
        if self.written < WARNINGS_PER_SECOND {
            self.written += 1;
            return true;
        }
        self.held += 1;
        false
    }

    /// When the summary of warnings held back is due, if any were.
    pub fn summary_due(&self) -> Option<Instant> {
        (self.held > 0)
            .then(|| self.window_start.map(|start| start + WARN_WINDOW))
            .flatten()
    }

    /// Takes the count held back if its summary is due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Option<u64> {
        let due = self.summary_due()?;
        (due <= now).then(|| std::mem::take(&mut self.held))
    }

    /// Takes the count held back, due or not (at exit).
    pub fn take_all(&mut self) -> u64 {
        std::mem::take(&mut self.held)
    }
}

/// Writes the summary line for `held` warnings held back, if any.
pub(crate) fn log_summary(held: u64) {
    if held > 0 {
        log::warn!(
            "{held} more warnings not logged one by one (over {WARNINGS_PER_SECOND} a second); \
             see the counters"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_window_writes_again() {
        let t0 = Instant::now();
        let mut limiter = WarnLimiter::default();
        for _ in 0..WARNINGS_PER_SECOND + 5 {
            limiter.admit(t0);
        }
        assert!(!limiter.admit(t0 + Duration::from_millis(999)));
        assert!(limiter.admit(t0 + WARN_WINDOW));
        assert_eq!(limiter.take_all(), 6);
        assert_eq!(limiter.summary_due(), None);
    }
}
