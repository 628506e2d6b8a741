//! Exponential backoff with jitter: `compute_backoff {max_retries, base_delay}` →
//! `compute_backoff_ok {schedule_ms, total_ms, retries}`, and `backoff_relay {target, payload}`
//! → `backoff_relay_ok {attempts, total_delay_ms}`.
//!
//! # Why back off, and why jitter
//!
//! When a service stumbles, every client's request times out at about the same moment. If
//! they all retry at once, and again at fixed intervals, the recovering service meets the
//! whole load in synchronized waves (a thundering herd) and falls over again, however much
//! spare capacity it has on average. Doubling the wait after each failure cuts the retry load
//! geometrically while the trouble lasts, giving the service room to recover; the cap keeps a
//! client from waiting absurdly long once it has. Doubling alone keeps clients in step,
//! though: clients that failed together retry together, just less often. The random jitter
//! added to each wait spreads them out, so retries arrive as a trickle rather than a wave, and
//! the spread accumulates: even once waits reach the cap, where jitter is cut off, each client
//! keeps the offset its earlier jittered waits gave it.
//!
//! # The schedule
//!
//! The wait before retry `k` (from 0) is `base * 2^k` plus a jitter drawn uniformly from
//! `[0, base * 2^k / 10]`, the sum capped at `max`. Waits are whole milliseconds, the
//! resolution of the timer wheel that carries them. The jitter comes from a
//! [`fastrand::Rng`] owned by the node and seeded from
//! the runtime's `--seed` (the node's [`Context::rng`](mionode::Context::rng)), so a run can be replayed exactly.
//!
//! `backoff_relay` is the retry engine of [`retry`](super::retry) with this schedule: its first attempt goes
//! out at once, and after attempt `k` has gone unanswered for
//! [`Flags::backoff_attempt_timeout`](super::Flags::backoff_attempt_timeout), attempt `k+1`
//! waits the `k`-th delay. `compute_backoff` returns the delays a `backoff_relay` would wait
//! with `max_retries + 1` attempts and the given base (in seconds on the wire); every draw
//! advances the same generator, so it shows a schedule of the kind used, not the next one.

use mionode::{Error, Request};
use serde::Deserialize;

use super::bodies::Body;
use super::flags::MAX_FLAG_ATTEMPTS;
use super::outbound::Forward;
use super::retry::{self, Plan};
use super::{Ctx, RpcChapter};

/// Most retries one schedule may hold: one fewer than the attempts of an operation.
pub const MAX_RETRIES: u32 = MAX_FLAG_ATTEMPTS - 1;

/// Largest `base_delay` accepted by `compute_backoff`, in seconds (a day).
pub const MAX_BASE_DELAY_SECS: f64 = 86_400.0;

/// The delays, in milliseconds, before each of `retries` retries: `base_ms * 2^k` plus jitter
/// in `[0, base_ms * 2^k / 10]`, capped at `max_ms`.
pub fn schedule(base_ms: u64, max_ms: u64, retries: u32, rng: &mut fastrand::Rng) -> Vec<u64> {
    (0..retries)
        .map(|k| {
            let doubled = base_ms.saturating_mul(2u64.saturating_pow(k)).min(max_ms);
            let jitter = rng.u64(0..=doubled / 10);
            doubled.saturating_add(jitter).min(max_ms)
        })
        .collect()
}

/// Whole milliseconds of `d`, saturating: `as u64` would wrap a huge configured duration.
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Deserialize)]
struct ComputeBackoff {
    max_retries: u32,
    base_delay: f64,
}

pub(super) fn compute(app: &mut RpcChapter, ctx: &mut Ctx, req: &Request<'_>) -> Result<(), Error> {
    let ComputeBackoff {
        max_retries,
        base_delay,
    } = req.body()?;
    if max_retries > MAX_RETRIES {
        let text = format!("max_retries {max_retries} is over {MAX_RETRIES}");
        return Err(Error::malformed(format!(
            "malformed compute_backoff: {text}"
        )));
    }
    if !(0.0..=MAX_BASE_DELAY_SECS).contains(&base_delay) {
        let most = MAX_BASE_DELAY_SECS;
        let text = format!("base_delay {base_delay} s is not in [0, {most}]");
        return Err(Error::malformed(format!(
            "malformed compute_backoff: {text}"
        )));
    }
    let base_ms = (base_delay * 1000.0).round() as u64;
    let max_ms = millis(app.flags.backoff_max);
    let schedule_ms = schedule(base_ms, max_ms, max_retries, ctx.rng());
    let body = Body::ComputeBackoffOk {
        schedule_ms: &schedule_ms,
        total_ms: schedule_ms.iter().sum(),
        retries: max_retries,
    };
    ctx.reply(req, &body);
    Ok(())
}

pub(super) fn relay(app: &mut RpcChapter, ctx: &mut Ctx, req: &Request<'_>) -> Result<(), Error> {
    let Forward { target, payload } = Forward::parse(ctx, req)?;
    let flags = &app.flags;
    let attempts = flags.backoff_attempts.clamp(1, MAX_FLAG_ATTEMPTS);
    let (base_ms, max_ms) = (millis(flags.backoff_base), millis(flags.backoff_max));
    let timeout = flags.backoff_attempt_timeout;
    let to = req.reply_to();
    let plan = Plan {
        attempts,
        timeout,
        delays_ms: schedule(base_ms, max_ms, attempts - 1, ctx.rng()),
        late_replies: true,
        until: retry::answer_by(&to),
        adaptive: false,
    };
    let body = payload
        .to_raw()
        .map_err(|e| Error::crash(format!("backoff_relay: payload did not serialize: {e}")))?;
    retry::start(
        app,
        ctx,
        &target,
        body,
        plan,
        move |_, ctx, outcome| match outcome {
            Ok(done) => {
                let body = Body::BackoffRelayOk {
                    attempts: done.attempts,
                    total_delay_ms: done.waited_ms,
                };
                ctx.reply_later(&to, &body);
            }
            Err(e) => {
                log::info!("backoff_relay for {} failed: {e}", to.dest());
                ctx.reply_error(&to, &e);
            }
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn schedule_doubles_from_base_with_a_tenth_of_jitter() {
        let mut rng = fastrand::Rng::with_seed(1);
        let got = schedule(100, 2000, 6, &mut rng);
        let floors = [100, 200, 400, 800, 1600, 2000];
        for (k, (&d, &floor)) in got.iter().zip(&floors).enumerate() {
            assert!(
                d >= floor && d <= (floor + floor / 10).min(2000),
                "k={k}: {got:?}"
            );
        }
    }

    #[test]
    fn schedule_is_the_same_for_the_same_seed() {
        let a = schedule(100, 2000, 5, &mut fastrand::Rng::with_seed(42));
        let b = schedule(100, 2000, 5, &mut fastrand::Rng::with_seed(42));
        assert_eq!(a, b);
    }

    #[test]
    fn schedule_saturates_instead_of_overflowing() {
        let got = schedule(
            u64::MAX / 3,
            u64::MAX,
            MAX_RETRIES,
            &mut fastrand::Rng::new(),
        );
        assert_eq!(got.len(), MAX_RETRIES as usize);
        assert!(got[2..].iter().all(|&d| d == u64::MAX));
    }

    #[test]
    fn zero_base_waits_nothing() {
        let got = schedule(0, 2000, 4, &mut fastrand::Rng::new());
        assert_eq!(got, [0, 0, 0, 0]);
    }

    proptest! {
        /// Every delay lies between the doubled base and that plus a tenth, and under the cap.
        #[test]
        fn schedule_respects_base_doubling_jitter_and_cap(
            base in 0u64..5_000,
            max in 0u64..100_000,
            retries in 0u32..=MAX_RETRIES,
            seed: u64,
        ) {
            let got = schedule(base, max, retries, &mut fastrand::Rng::with_seed(seed));
            prop_assert_eq!(got.len(), retries as usize);
            for (k, &d) in got.iter().enumerate() {
                let doubled = base.saturating_mul(2u64.saturating_pow(k as u32));
                prop_assert!(d <= max, "delay {} over the cap {}", d, max);
                prop_assert!(d >= doubled.min(max), "delay {} under {}", d, doubled.min(max));
                prop_assert!(d <= doubled.saturating_add(doubled / 10), "jitter too large: {}", d);
            }
        }
    }
}

#[cfg(test)]
mod handler_tests {
    use mionode::testing::TestNode;
    use serde_json::{json, Value};

    use super::super::{test_node, Flags, RpcChapter};

    fn compute(d: &mut TestNode<RpcChapter>, fields: Value) -> Value {
        let mut body = fields;
        body["type"] = json!("compute_backoff");
        body["msg_id"] = json!(2);
        d.request("c1", body)["body"].take()
    }

    #[test]
    fn compute_backoff_lists_each_delay_and_their_exact_sum() {
        let mut d = test_node(Flags::default(), 0);
        let body = compute(&mut d, json!({"max_retries":3,"base_delay":0.1}));
        assert_eq!(body["type"], "compute_backoff_ok");
        assert_eq!(body["retries"], 3);
        let schedule: Vec<u64> = serde_json::from_value(body["schedule_ms"].clone()).unwrap();
        assert_eq!(schedule.len(), 3);
        assert_eq!(body["total_ms"], schedule.iter().sum::<u64>());
        for (d, floor) in schedule.iter().zip([100, 200, 400]) {
            assert!((floor..=floor + floor / 10).contains(d), "{schedule:?}");
        }
    }

    #[test]
    fn compute_backoff_is_reproducible_with_a_seed() {
        let fields = json!({"max_retries":10,"base_delay":0.05});
        let a = compute(&mut test_node(Flags::default(), 3), fields.clone());
        let b = compute(&mut test_node(Flags::default(), 3), fields);
        assert_eq!(a["schedule_ms"], b["schedule_ms"]);
    }

    #[test]
    fn compute_backoff_refuses_bad_inputs_with_error_12() {
        let mut d = test_node(Flags::default(), 0);
        for fields in [
            json!({"max_retries":-1,"base_delay":0.1}),
            json!({"max_retries":65,"base_delay":0.1}),
            json!({"max_retries":1.5,"base_delay":0.1}),
            json!({"max_retries":"3","base_delay":0.1}),
            json!({"max_retries":3,"base_delay":-0.1}),
            json!({"max_retries":3,"base_delay":1e300}),
            json!({"max_retries":3,"base_delay":"fast"}),
            json!({"max_retries":3}),
            json!({"base_delay":0.1}),
        ] {
            let body = compute(&mut d, fields.clone());
            assert_eq!(body["code"], 12, "{fields}: {body}");
        }
    }

    #[test]
    fn compute_backoff_with_no_retries_is_empty() {
        let mut d = test_node(Flags::default(), 0);
        let body = compute(&mut d, json!({"max_retries":0,"base_delay":1}));
        assert_eq!(body["schedule_ms"], json!([]));
        assert_eq!(body["total_ms"], 0);
    }

    /// `as u64` on the milliseconds of a huge configured cap wrapped it: a cap of 2^64 + 384
    /// ms became 384 ms.
    #[test]
    fn huge_backoff_max_is_not_wrapped_into_a_small_cap() {
        let flags = Flags {
            backoff_max: std::time::Duration::from_secs(18_446_744_073_709_552),
            ..Flags::default()
        };
        let mut d = test_node(flags, 0);
        let body = compute(&mut d, json!({"max_retries":1,"base_delay":1}));
        let first = body["schedule_ms"][0].as_u64().unwrap();
        assert!((1000..=1100).contains(&first), "{body}");
    }
}
