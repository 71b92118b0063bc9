//! Fixed-bucket histograms of relaxed atomics: an observation is a search of a short
//! constant slice and two adds, with no lock and no allocation.

use std::sync::atomic::{AtomicU64, Ordering};

/// The most buckets a histogram has (its bounds, and one above the last bound).
const MAX_BUCKETS: usize = 16;

/// Upper bounds (inclusive, in bytes) of the outbound-queue histogram: 1 KiB to 16 MiB.
pub(crate) const QUEUE_BYTES_BOUNDS: &[u64] = &[
    1 << 10,
    4 << 10,
    16 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
    4 << 20,
    16 << 20,
];

/// Upper bounds (inclusive, in nanoseconds) of the handler-duration histogram: 5 µs to 5 s.
/// A handler here typically returns in a few microseconds, far below the 5 ms where
/// Prometheus's default buckets start: the low buckets tell a fast handler from one that
/// waits.
pub(crate) const HANDLER_NANOS_BOUNDS: &[u64] = &[
    5_000,
    10_000,
    25_000,
    100_000,
    250_000,
    1_000_000,
    2_500_000,
    10_000_000,
    25_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
    5_000_000_000,
];

// Every bound list leaves room for the bucket above its last bound.
const _: () = assert!(QUEUE_BYTES_BOUNDS.len() < MAX_BUCKETS);
const _: () = assert!(HANDLER_NANOS_BOUNDS.len() < MAX_BUCKETS);

/// Live counts of one histogram; its bounds are given to each call, so that it is
/// `Default` and holds no pointer.
#[derive(Debug, Default)]
pub(crate) struct AtomicHistogram {
    counts: [AtomicU64; MAX_BUCKETS],
    sum: AtomicU64,
}

impl AtomicHistogram {
    /// Counts `value` in the first bucket whose bound is at least `value`.
    pub(crate) fn observe(&self, bounds: &[u64], value: u64) {
        let bucket = bounds.partition_point(|bound| *bound < value);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// The counts now, with `bounds`.
    pub(crate) fn snapshot(&self, bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            counts: self.counts[..=bounds.len()]
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A histogram at one moment: how many observations fell in each bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Histogram {
    /// The buckets' upper bounds (inclusive), ascending.
    pub bounds: &'static [u64],
    /// Observations per bucket (not cumulative): `counts[i]` were at most `bounds[i]` and
    /// above the bound before; the last entry counts those above every bound.
    pub counts: Vec<u64>,
    /// The sum of all observations.
    pub sum: u64,
}

impl Histogram {
    /// How many observations there were.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_falls_in_the_first_bucket_whose_bound_holds_it() {
        let histogram = AtomicHistogram::default();
        let bounds: &'static [u64] = &[10, 100];
        for value in [0, 10, 11, 100, 101, 5000] {
            histogram.observe(bounds, value);
        }
        let snapshot = histogram.snapshot(bounds);
        assert_eq!(snapshot.counts, vec![2, 2, 2]);
        assert_eq!(snapshot.sum, 5222);
        assert_eq!(snapshot.count(), 6);
    }
}
