//! A latency histogram with bounded memory and bounded relative error.
//!
//! Values (microseconds) below 2×[`SUB_BUCKETS`] are counted exactly; above, each power of
//! two is split into [`SUB_BUCKETS`] equal buckets, so a reported quantile is at most 1/64
//! (1.6 %) above the true value, never below it. This is the layout of HdrHistogram with
//! two significant binary digits fewer; it costs ~30 KiB and one `leading_zeros` per record,
//! whatever the run's length, where keeping every sample would grow without bound.

/// Buckets per power of two above the exact range.
pub const SUB_BUCKETS: u64 = 64;

/// log2 of [`SUB_BUCKETS`].
const SUB_BITS: u32 = 6;

/// Enough buckets for any `u64`.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB_BUCKETS as usize;

/// Counts of values, in log-linear buckets.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    /// Counts one value.
    pub fn record(&mut self, value: u64) {
        self.counts[index(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded, exactly (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The smallest bucket bound at or above the `q`-quantile (`q` in [0, 1]): the value
    /// below which a fraction `q` of the recorded values fall. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(upper_bound(i).min(self.max));
            }
        }
        Some(self.max)
    }

    /// Adds every count of `other` to this histogram.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }
}

/// The bucket of `value`.
fn index(value: u64) -> usize {
    if value < 2 * SUB_BUCKETS {
        return value as usize;
    }
    let shift = 63 - value.leading_zeros() - SUB_BITS;
    ((shift as u64 + 1) * SUB_BUCKETS + ((value >> shift) - SUB_BUCKETS)) as usize
}

/// The largest value that falls in bucket `i`.
fn upper_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < 2 * SUB_BUCKETS {
        return i;
    }
    let shift = i / SUB_BUCKETS - 1;
    let mantissa = i % SUB_BUCKETS + SUB_BUCKETS;
    (mantissa << shift) + ((1 << shift) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_exact_then_log_linear_and_monotone() {
        assert_eq!(index(0), 0);
        assert_eq!(index(127), 127);
        assert_eq!(index(128), 128);
        assert_eq!(index(129), 128);
        assert_eq!(index(130), 129);
        assert_eq!(index(255), 191);
        assert_eq!(index(256), 192);
        assert!(index(u64::MAX) < BUCKETS);
        let mut last = 0;
        for v in (0..100_000).chain([u64::MAX / 2, u64::MAX]) {
            let i = index(v);
            assert!(i >= last, "index({v}) = {i} < {last}");
            assert!(upper_bound(i) >= v, "bucket {i} ends below {v}");
            last = i;
        }
    }

    #[test]
    fn bucket_bounds_are_within_one_sixty_fourth() {
        for v in [200u64, 1_000, 12_345, 1_000_000, 987_654_321] {
            let hi = upper_bound(index(v));
            assert!(hi >= v && (hi - v) as f64 <= v as f64 / 64.0, "{v} -> {hi}");
        }
    }

    #[test]
    fn quantiles_of_a_uniform_run() {
        let mut h = Histogram::default();
        for v in 1..=1000 {
            h.record(v);
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((500..=508).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99).unwrap();
        assert!((990..=1000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), Some(1000));
        assert_eq!(h.max(), 1000);
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn merge_adds_counts() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.record(5);
        b.record(7);
        b.record(9);
        a.merge(&b);
        assert_eq!((a.count(), a.max()), (3, 9));
        assert_eq!(a.quantile(0.0), Some(5));
    }
}
