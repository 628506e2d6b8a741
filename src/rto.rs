//! Adaptive retransmission timeouts: RFC 6298's estimator, one per destination.
//!
//! A fixed deadline per RPC is right only for the network it was tuned on. On a network slower
//! than expected, every request times out and is sent again, the retries add to the queue that
//! made the first ones late, and the node collapses under its own traffic (congestion
//! collapse). TCP solved this in 1988 (Jacobson) and RFC 6298 writes the solution down; this
//! module is that estimator, nothing more:
//!
//! - the first round-trip sample `R` sets `SRTT = R`, `RTTVAR = R / 2`;
//! - every later sample `R'` sets `RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|`, then
//!   `SRTT = 7/8 SRTT + 1/8 R'`;
//! - `RTO = SRTT + max(G, 4 RTTVAR, SRTT / 4)`, clamped to [`RtoBounds`], where `G` is the
//!   clock granularity (one millisecond: the timer wheel's tick);
//! - each timeout doubles the RTO (exponential backoff, up to the upper bound), and the
//!   backed-off value is kept until a new sample arrives (the second half of Karn's rule).
//!
//! The first half of Karn's rule, never sampling a retransmitted request, guards against a
//! reply that cannot be matched to the transmission it answers. mionode gives every attempt a
//! `msg_id` of its own and a reply names the one it answers, so the caller always knows which
//! send time to measure from: every reply is a valid sample, and taking it is what lets the
//! estimate catch up with a network that slowed down.
//!
//! The `SRTT / 4` floor is ours, not the RFC's. On a simulated network with constant latency
//! (mionode-load's default, and any quiet Maelstrom run) every sample is the same, RTTVAR
//! decays to nothing within a few dozen replies, and the RTO settles a millisecond above the
//! round trip: then the node taking a few milliseconds more to read a burst of replies makes
//! every request in flight time out spuriously and go out again. A quarter of the round trip
//! is the margin TCP gets from its 200 ms minimum on a fast path, scaled to the path.
//!
//! Time is an argument: samples are durations the caller measured with the `now` it was given.

use std::time::Duration;

/// The clock granularity `G` of RFC 6298: the timer wheel's one-millisecond tick.
pub const GRANULARITY: Duration = Duration::from_millis(1);

/// The range an RTO is clamped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtoBounds {
    /// The RTO before any sample (RFC 6298 says 1 s).
    pub initial: Duration,
    /// The smallest RTO ever used.
    pub min: Duration,
    /// The largest RTO ever used, backoff included.
    pub max: Duration,
}

impl Default for RtoBounds {
    /// An initial RTO of 1 s as RFC 6298 asks; a minimum of 100 ms (the RFC's 1 s minimum is
    /// for the Internet's delayed ACKs, which Maelstrom's networks do not have, but a node on a
    /// busy two-core machine is routinely descheduled for tens of milliseconds: below 100 ms,
    /// a round trip of a millisecond made every such pause a wave of spurious retries, and
    /// recovering a loss faster buys nothing against a 4.5 s deadline); a maximum of 4 s,
    /// under Maelstrom's 5 s client timeout.
    fn default() -> Self {
        RtoBounds {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(100),
            max: Duration::from_secs(4),
        }
    }
}

/// One destination's round-trip estimate and the retransmission timeout derived from it.
///
/// Kept in whole nanoseconds: the arithmetic of a sample and of an RTO runs on every RPC, and
/// on `u64`s it is a few instructions where `Duration`'s division and checked multiplication
/// cost a few hundred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimator {
    bounds: RtoBounds,
    /// Smoothed round-trip time and its variation in nanoseconds, once a sample has been taken.
    smoothed: Option<(u64, u64)>,
    /// Timeouts since the last sample: the RTO is doubled this many times.
    backoffs: u32,
}

/// `d` in nanoseconds, saturating (a `u64` of nanoseconds is 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl RttEstimator {
    /// An estimator with no sample yet: its RTO is `bounds.initial`, clamped to the bounds.
    pub fn new(bounds: RtoBounds) -> Self {
        debug_assert!(bounds.min <= bounds.max, "RTO bounds inverted: {bounds:?}");
        RttEstimator {
            bounds,
            smoothed: None,
            backoffs: 0,
        }
    }

    /// Takes one round-trip sample: updates the estimate and ends any backoff.
    pub fn sample(&mut self, rtt: Duration) {
        let rtt = nanos(rtt);
        self.smoothed = Some(match self.smoothed {
            None => (rtt, rtt / 2),
            Some((srtt, rttvar)) => {
                let deviation = srtt.abs_diff(rtt);
                // In u128: three quarters of a u64 plus a u64 may not fit a u64.
                let rttvar = (u128::from(rttvar) * 3 + u128::from(deviation)) / 4;
                let srtt = (u128::from(srtt) * 7 + u128::from(rtt)) / 8;
                (srtt as u64, rttvar as u64)
            }
        });
        self.backoffs = 0;
    }

    /// Records a timeout: the next RTO is twice the current one, up to the upper bound.
    pub fn timed_out(&mut self) {
        // Past 2^32 of anything the bound has long been reached; saturate instead of counting.
        self.backoffs = self.backoffs.saturating_add(1).min(32);
    }

    /// The smoothed round-trip time, once a sample has been taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.smoothed.map(|(srtt, _)| Duration::from_nanos(srtt))
    }

    /// The round-trip variation, once a sample has been taken.
    pub fn rttvar(&self) -> Option<Duration> {
        self.smoothed
            .map(|(_, rttvar)| Duration::from_nanos(rttvar))
    }

    /// The retransmission timeout to give the next request: the estimate, backed off once per
    /// timeout since the last sample, within the bounds.
    pub fn rto(&self) -> Duration {
        self.rto_doubled(0)
    }

    /// [`rto`](Self::rto) doubled `doublings` more times (at most 32), within the bounds
    /// again: a retry's timeout.
    pub fn rto_doubled(&self, doublings: u32) -> Duration {
        let base = match self.smoothed {
            None => nanos(self.bounds.initial),
            Some((srtt, rttvar)) => {
                let margin = nanos(GRANULARITY)
                    .max(rttvar.saturating_mul(4))
                    .max(srtt / 4);
                srtt.saturating_add(margin)
            }
        };
        let (min, max) = (nanos(self.bounds.min), nanos(self.bounds.max));
        let within = |n: u64| n.clamp(min, max.max(min));
        let backed_off = within(base.saturating_mul(1 << self.backoffs.min(32)));
        Duration::from_nanos(within(backed_off.saturating_mul(1 << doublings.min(32))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn before_any_sample_the_rto_is_the_initial_one() {
        let est = RttEstimator::new(RtoBounds::default());
        assert_eq!(est.rto(), Duration::from_secs(1));
        assert_eq!(est.srtt(), None);
    }

    #[test]
    fn the_first_sample_follows_rfc_6298() {
        let mut est = RttEstimator::new(RtoBounds::default());
        est.sample(ms(100));
        assert_eq!(est.srtt(), Some(ms(100)));
        assert_eq!(est.rttvar(), Some(ms(50)));
        assert_eq!(est.rto(), ms(300), "SRTT + 4 RTTVAR");
    }

    #[test]
    fn later_samples_are_smoothed() {
        let mut est = RttEstimator::new(RtoBounds::default());
        est.sample(ms(100));
        est.sample(ms(200));
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5.
        assert_eq!(est.rttvar(), Some(Duration::from_micros(62_500)));
        assert_eq!(est.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(est.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn timeouts_double_the_rto_until_a_sample_arrives() {
        let mut est = RttEstimator::new(RtoBounds::default());
        est.sample(ms(100));
        est.timed_out();
        assert_eq!(est.rto(), ms(600));
        est.timed_out();
        assert_eq!(est.rto(), ms(1200));
        est.sample(ms(100));
        assert!(
            est.rto() < ms(600),
            "a sample ends the backoff: {:?}",
            est.rto()
        );
    }

    #[test]
    fn the_rto_stays_within_its_bounds() {
        let mut est = RttEstimator::new(RtoBounds::default());
        for _ in 0..100 {
            est.timed_out();
        }
        assert_eq!(est.rto(), ms(4000));
        let mut fast = RttEstimator::new(RtoBounds::default());
        for _ in 0..50 {
            fast.sample(Duration::from_micros(20));
        }
        assert_eq!(fast.rto(), ms(100), "clamped up to the minimum");
    }

    #[test]
    fn a_steady_network_converges_on_its_round_trip() {
        let mut est = RttEstimator::new(RtoBounds::default());
        est.sample(ms(500));
        for _ in 0..200 {
            est.sample(ms(400));
        }
        let srtt = est.srtt().unwrap();
        assert!(srtt.abs_diff(ms(400)) < ms(1), "srtt {srtt:?}");
        assert!(est.rto() <= ms(501), "rto {:?}", est.rto());
    }

    /// Regression: with constant samples RTTVAR vanishes; the RTO keeps a quarter of the
    /// round trip as margin, so a reply a few milliseconds late is not a timeout.
    #[test]
    fn a_constant_round_trip_keeps_a_margin() {
        let mut est = RttEstimator::new(RtoBounds::default());
        for _ in 0..1000 {
            est.sample(ms(100));
        }
        assert_eq!(est.rttvar(), Some(Duration::ZERO));
        assert_eq!(est.rto(), ms(125));
    }

    proptest! {
        #[test]
        fn rto_is_always_bounded_and_never_below_the_smoothed_rtt(
            events in proptest::collection::vec(proptest::option::of(0u64..10_000_000), 0..200)
        ) {
            let bounds = RtoBounds::default();
            let mut est = RttEstimator::new(bounds);
            for event in events {
                match event {
                    Some(micros) => est.sample(Duration::from_micros(micros)),
                    None => est.timed_out(),
                }
                let rto = est.rto();
                prop_assert!(rto >= bounds.min && rto <= bounds.max, "{rto:?}");
                if let Some(srtt) = est.srtt() {
                    prop_assert!(rto >= srtt.min(bounds.max), "rto {rto:?} < srtt {srtt:?}");
                }
            }
        }
    }
}
