//! The app's flags, merged by the runtime with its own (`--seed`, `--log-level`,
//! `--metrics-addr`, ...).

use std::time::Duration;

/// Most attempts a flag accepts: the backoff schedule holds one delay per retry.
pub const MAX_FLAG_ATTEMPTS: u32 = 65;

/// Longest duration a flag accepts, in milliseconds (a day): far beyond any useful deadline,
/// and far from overflowing the clock.
const MAX_FLAG_MILLIS: u64 = 86_400_000;

/// Deadlines, attempts and backoff of the RPC chapter. `Default` gives the documented
/// defaults, the same as the flags'.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// Longest deadline of each echo RPC of a batch_echo, in milliseconds: each attempt gets
    /// the adaptive retransmission timeout of RFC 6298, at most this.
    #[arg(long = "rpc-timeout-ms", default_value = "1000", value_name = "MS", value_parser = millis)]
    pub rpc_timeout: Duration,

    /// Attempts per echo of a batch_echo before the batch fails with error 0 (fewer if the
    /// operation deadline comes first).
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = attempts())]
    pub rpc_attempts: u32,

    /// Deadline of a proxy's RPC to its target, in milliseconds; after it, the proxy answers
    /// error 0.
    #[arg(long = "proxy-timeout-ms", default_value = "1000", value_name = "MS", value_parser = millis)]
    pub proxy_timeout: Duration,

    /// Deadline of each relay attempt, in milliseconds; when it passes unanswered, the next
    /// attempt goes out (a late reply to an earlier attempt still counts).
    #[arg(long = "relay-timeout-ms", default_value = "500", value_name = "MS", value_parser = millis)]
    pub relay_timeout: Duration,

    /// Attempts of a relay, each with a fresh msg_id, before it answers error 0.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = attempts())]
    pub relay_attempts: u32,

    /// Deadline of a send_fire_forget RPC, in milliseconds: its callback is reaped then.
    #[arg(long = "reaper-threshold-ms", default_value = "2000", value_name = "MS", value_parser = millis)]
    pub reaper_threshold: Duration,

    /// Wait before the first backoff_relay retry, in milliseconds; it doubles for each
    /// retry after, plus up to a tenth of jitter.
    #[arg(long = "backoff-base-ms", default_value = "100", value_name = "MS", value_parser = millis_or_zero)]
    pub backoff_base: Duration,

    /// Cap on each backoff wait (of backoff_relay and compute_backoff), in milliseconds.
    #[arg(long = "backoff-max-ms", default_value = "2000", value_name = "MS", value_parser = millis_or_zero)]
    pub backoff_max: Duration,

    /// Attempts of a backoff_relay (the first one and its retries), before it answers error 0.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = attempts())]
    pub backoff_attempts: u32,

    /// Deadline of each backoff_relay attempt, in milliseconds, before its backoff wait
    /// begins.
    #[arg(long = "backoff-attempt-timeout-ms", default_value = "500", value_name = "MS", value_parser = millis)]
    pub backoff_attempt_timeout: Duration,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            rpc_timeout: Duration::from_secs(1),
            rpc_attempts: 10,
            proxy_timeout: Duration::from_secs(1),
            relay_timeout: Duration::from_millis(500),
            relay_attempts: 3,
            reaper_threshold: Duration::from_secs(2),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            backoff_attempts: 5,
            backoff_attempt_timeout: Duration::from_millis(500),
        }
    }
}

/// A deadline in milliseconds: at least 1 (a zero deadline could never be met).
fn millis(s: &str) -> Result<Duration, String> {
    let ms = s.parse::<u64>().map_err(|e| e.to_string())?;
    if (1..=MAX_FLAG_MILLIS).contains(&ms) {
        Ok(Duration::from_millis(ms))
    } else {
        Err(format!("{ms} is not in 1..={MAX_FLAG_MILLIS}"))
    }
}

/// A wait in milliseconds, possibly none.
fn millis_or_zero(s: &str) -> Result<Duration, String> {
    let ms = s.parse::<u64>().map_err(|e| e.to_string())?;
    if ms <= MAX_FLAG_MILLIS {
        Ok(Duration::from_millis(ms))
    } else {
        Err(format!("{ms} is not in 0..={MAX_FLAG_MILLIS}"))
    }
}

/// A number of attempts: at least the first one.
fn attempts() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(MAX_FLAG_ATTEMPTS))
}

impl Flags {
    /// Checks that every operation's worst case fits in `deadline` (the runtime's
    /// `--op-deadline-ms`): the longest the operation can take when every attempt times out
    /// and every wait is at its longest. `batch_echo` retries until its deadline, so only its
    /// first attempt must fit.
    pub fn check(&self, deadline: Duration) -> Result<(), String> {
        let ms = |d: Duration| d.as_millis();
        let relay = self.relay_timeout.saturating_mul(self.relay_attempts);
        let backoff = self.backoff_worst_case();
        let plans = [
            (
                "--rpc-timeout-ms",
                self.rpc_timeout,
                "a batch_echo's echo attempt",
            ),
            ("--proxy-timeout-ms", self.proxy_timeout, "a proxy"),
            ("--relay-timeout-ms x --relay-attempts", relay, "a relay"),
            (
                "--backoff-attempts x --backoff-attempt-timeout-ms + backoff waits",
                backoff,
                "a backoff_relay",
            ),
        ];
        for (flags, worst, what) in plans {
            if worst > deadline {
                return Err(format!(
                    "{flags} let {what} take up to {} ms, over the operation deadline of {} ms \
                     (--op-deadline-ms); shorten them or raise the deadline",
                    ms(worst),
                    ms(deadline)
                ));
            }
        }
        Ok(())
    }

    /// The longest a backoff_relay can take: every attempt times out, every wait is at its
    /// cap with the most jitter.
    pub fn backoff_worst_case(&self) -> Duration {
        let base = u64::try_from(self.backoff_base.as_millis()).unwrap_or(u64::MAX);
        let max = u64::try_from(self.backoff_max.as_millis()).unwrap_or(u64::MAX);
        let waits: u64 = (0..self.backoff_attempts.saturating_sub(1))
            .map(|k| {
                let doubled = base.saturating_mul(2u64.saturating_pow(k)).min(max);
                doubled.saturating_add(doubled / 10).min(max)
            })
            .fold(0, u64::saturating_add);
        let attempts = self
            .backoff_attempt_timeout
            .saturating_mul(self.backoff_attempts);
        attempts.saturating_add(Duration::from_millis(waits))
    }
}
