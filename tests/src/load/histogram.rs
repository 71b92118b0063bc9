//! [`Histogram`]: latencies in log-linear buckets (about 3% precision), merged across tasks.

/// Linear sub-buckets per power of two: 2^5 = 32, so a bucket is at most 1/32 of its value
/// wide.
const SUB_BITS: u32 = 5;
const SUB_COUNT: usize = 1 << SUB_BITS;
/// Values below this are counted exactly (one bucket per value).
const EXACT: u64 = 2 << SUB_BITS;
/// Enough buckets for any `u64`.
const BUCKETS: usize = EXACT as usize + (64 - SUB_BITS as usize - 1) * SUB_COUNT;

/// A latency histogram in nanoseconds, like a small HdrHistogram: recording is an index
/// computation and an increment, so every delivery can be recorded.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            max: 0,
        }
    }

    fn index(value: u64) -> usize {
        if value < EXACT {
            return value as usize;
        }
        let exponent = 63 - value.leading_zeros();
        let sub = (value >> (exponent - SUB_BITS)) as usize & (SUB_COUNT - 1);
        EXACT as usize + (exponent as usize - SUB_BITS as usize - 1) * SUB_COUNT + sub
    }

    /// The middle of bucket `index`.
    fn value_at(index: usize) -> u64 {
        if index < EXACT as usize {
            return index as u64;
        }
        let above = index - EXACT as usize;
        let exponent = (above / SUB_COUNT) as u32 + SUB_BITS + 1;
        let sub = (above % SUB_COUNT) as u64;
        let width = 1u64 << (exponent - SUB_BITS);
        ((SUB_COUNT as u64 + sub) << (exponent - SUB_BITS)) + width / 2
    }

    /// Records one value (nanoseconds).
    pub fn record(&mut self, value: u64) {
        self.counts[Histogram::index(value)] += 1;
        self.count += 1;
        self.sum += u128::from(value);
        self.max = self.max.max(value);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean (exact), 0 when empty.
    pub fn mean(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            (self.sum / u128::from(self.count)) as u64
        }
    }

    /// The value below which a fraction `q` (0..=1) of the recorded values fall, within the
    /// bucket precision; never above the exact maximum. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Histogram::value_at(index).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn buckets_round_trip_within_precision() {
        for value in [
            0u64,
            1,
            63,
            64,
            65,
            100,
            1_000,
            12_345,
            999_999,
            1 << 40,
            u64::MAX / 3,
        ] {
            let back = Histogram::value_at(Histogram::index(value));
            let error = back.abs_diff(value) as f64 / (value.max(1) as f64);
            assert!(error <= 1.0 / 32.0, "{value} -> {back}");
        }
        assert!(Histogram::index(u64::MAX) < super::BUCKETS);
    }

    #[test]
    fn quantiles_of_a_uniform_spread() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1_000);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 / 5_000_000.0 - 1.0).abs() < 0.04, "{p50}");
        assert!((p99 / 9_900_000.0 - 1.0).abs() < 0.04, "{p99}");
        assert_eq!(h.max(), 10_000_000);
        assert_eq!(h.quantile(1.0), 10_000_000);
        let mut other = Histogram::new();
        other.record(20_000_000);
        h.merge(&other);
        assert_eq!(h.count(), 10_001);
        assert_eq!(h.max(), 20_000_000);
    }
}
