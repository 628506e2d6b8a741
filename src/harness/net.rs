//! The network pieces both drivers share: latency, loss and duplication, the re-encoding of
//! every message on delivery, and a throughput limit.
//!
//! - [`Latency`]: Maelstrom's distributions in whole milliseconds (`net.clj`): `constant`
//!   is the mean; `uniform` an integer in `[0, 2 × mean)` (Incanter's integer
//!   distribution); `exponential` an exponential of that mean, truncated to whole
//!   milliseconds as Maelstrom's `(long (draw ...))` does. Messages to or from a client
//!   have no latency ([`involves_client`]).
//! - [`Faults`]: `--drop` and `--duplicate`, decided per message.
//! - [`reencode`]: Maelstrom parses every line a node writes and serialises it again
//!   (Cheshire over Jackson): keys come out in an order of the JVM's choosing and numbers
//!   as a JVM writes them. Here every object, at every level, gets a key order shuffled by
//!   the run's generator, and every number is written as Java writes a `long` or a `double`.
//! - [`NetRate`]: `--net-rate MSGS_PER_S`, one queue in front of the network: each message
//!   holds it for `1/rate` seconds, first come first served, so a node that floods the
//!   network delays everyone, reproducibly.

use std::fmt;
use std::str::FromStr;

use serde_json::{Number, Value};

use crate::harness::record::Nanos;

/// Nanoseconds per millisecond.
const MS: Nanos = 1_000_000;

/// The shape of the latency distribution (Maelstrom's `--latency-dist`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LatencyDist {
    /// Always the mean.
    #[default]
    Constant,
    /// Integers uniform in `[0, 2 × mean)`.
    Uniform,
    /// Exponential with the given mean, truncated to whole milliseconds.
    Exponential,
}

impl LatencyDist {
    /// Maelstrom's name for it.
    pub fn name(self) -> &'static str {
        match self {
            LatencyDist::Constant => "constant",
            LatencyDist::Uniform => "uniform",
            LatencyDist::Exponential => "exponential",
        }
    }
}

impl fmt::Display for LatencyDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LatencyDist {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(LatencyDist::Constant),
            "uniform" => Ok(LatencyDist::Uniform),
            "exponential" => Ok(LatencyDist::Exponential),
            _ => Err(format!(
                "unknown latency distribution {s:?}; one of constant, uniform, exponential"
            )),
        }
    }
}

/// The latency of messages between nodes (and between nodes and services).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// The mean, in whole milliseconds (Maelstrom's `--latency`).
    pub mean_ms: u64,
    /// The distribution.
    pub dist: LatencyDist,
}

impl Latency {
    /// Draws one latency: a whole number of milliseconds, as nanoseconds.
    pub fn draw(&self, rng: &mut fastrand::Rng) -> Nanos {
        let ms = match self.dist {
            LatencyDist::Constant => self.mean_ms,
            LatencyDist::Uniform if self.mean_ms == 0 => 0,
            LatencyDist::Uniform => rng.u64(..self.mean_ms.saturating_mul(2)),
            LatencyDist::Exponential => {
                // 1 - f64() is in (0, 1], so the logarithm is finite.
                let x = -(self.mean_ms as f64) * (1.0 - rng.f64()).ln();
                x as u64
            }
        };
        ms.saturating_mul(MS)
    }
}

/// Whether a message between `src` and `dest` involves a client (`c<digits>`): Maelstrom
/// gives such messages no latency, "as if colocated with nodes".
pub fn involves_client(src: &str, dest: &str) -> bool {
    let client = |id: &str| {
        id.strip_prefix('c')
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    client(src) || client(dest)
}

/// Loss and duplication of messages between nodes (beyond Maelstrom, which has neither
/// outside its nemeses).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Probability that a message is lost.
    pub drop: f64,
    /// Probability that a message that is not lost is delivered twice.
    pub duplicate: f64,
}

impl Faults {
    /// How many copies of a message to deliver: 0 (lost), 1, or 2 (duplicated). Draws
    /// nothing when both probabilities are zero.
    pub fn copies(&self, rng: &mut fastrand::Rng) -> usize {
        if self.drop > 0.0 && rng.f64() < self.drop {
            return 0;
        }
        if self.duplicate > 0.0 && rng.f64() < self.duplicate {
            return 2;
        }
        1
    }
}

/// Writes `value` as Maelstrom would deliver it: every object's keys in an order shuffled
/// by `rng`, numbers as a JVM writes them ([`jvm_number`]), strings escaped as JSON.
pub fn reencode(value: &Value, rng: &mut fastrand::Rng, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(jvm_number(n).as_bytes()),
        Value::String(s) => {
            // Writing a str into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, s);
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                reencode(item, rng, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            rng.shuffle(&mut entries);
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                reencode(v, rng, out);
            }
            out.push(b'}');
        }
    }
}

/// Parses `line` (one JSON message, no newline) and re-encodes it with [`reencode`]; a
/// duplicate key keeps its last value, as with Jackson.
pub fn reencode_line(line: &[u8], rng: &mut fastrand::Rng) -> Result<Vec<u8>, serde_json::Error> {
    let value: Value = serde_json::from_slice(line)?;
    let mut out = Vec::with_capacity(line.len() + 16);
    reencode(&value, rng, &mut out);
    Ok(out)
}

/// A number as Java writes it: integers as a `long` (digits), others as `Double.toString`:
/// plain decimal with at least one fractional digit for magnitudes in `[1e-3, 1e7)`
/// (`100.0`, `0.001`), otherwise `d.dddE±n` (`1.0E7`, `1.5E-4`), with the shortest digits
/// that read back to the same double (Java 19 and later; older JVMs sometimes print more).
/// Two spellings differ from a JVM's, because this parser reads them as doubles: integers
/// past 64 bits (a JVM keeps a `BigInteger`) and `-0` (a JVM reads the long 0).
pub fn jvm_number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let d = n.as_f64().unwrap_or(0.0);
    java_double(d)
}

fn java_double(d: f64) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if d < 0.0 { "-" } else { "" };
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            let padded = format!("{digits:0<int_len$}");
            let (int, frac) = padded.split_at(int_len);
            let frac = if frac.is_empty() { "0" } else { frac };
            format!("{sign}{int}.{frac}")
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exp}")
    }
}

/// The network's throughput limit: one server queue. Each message holds the router for
/// `1 / rate` seconds (rounded to whole nanoseconds, at least 1), in the order they are
/// offered; [`NetRate::admit`] tells when a message sent at a given time leaves the queue.
/// Latency comes on top of that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRate {
    per_message: Nanos,
    free_at: Nanos,
}

impl NetRate {
    /// A queue serving `msgs_per_s` messages a second; `None` unless it is positive and
    /// finite.
    pub fn new(msgs_per_s: f64) -> Option<NetRate> {
        if !(msgs_per_s.is_finite() && msgs_per_s > 0.0) {
            return None;
        }
        let per_message = ((1e9 / msgs_per_s).round() as Nanos).max(1);
        Some(NetRate {
            per_message,
            free_at: 0,
        })
    }

    /// How long each message holds the queue.
    pub fn per_message(&self) -> Nanos {
        self.per_message
    }

    /// Queues a message sent at `sent` (times must be offered in non-decreasing order for
    /// the queue to be first come, first served) and returns when it leaves the queue.
    pub fn admit(&mut self, sent: Nanos) -> Nanos {
        let start = sent.max(self.free_at);
        self.free_at = start + self.per_message;
        self.free_at
    }

    /// How many messages' worth of work is queued at `now` (0 when idle).
    pub fn backlog(&self, now: Nanos) -> u64 {
        self.free_at.saturating_sub(now).div_ceil(self.per_message)
    }
}

#[cfg(test)]
mod tests;
