//! The percentile set: the one summary of a histogram that reports, the benchmark harness and
//! the control channel's latency figures are made from.

use hdrhistogram::Histogram;

/// A histogram's size, extremes, mean and percentiles (nanoseconds for latency, datagrams per
/// second for rates). All zero for an empty histogram.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Smallest value.
    pub min: u64,
    /// Largest value.
    pub max: u64,
    /// Mean value.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
}

impl Percentiles {
    /// The percentile set of `h`.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let q = |x: f64| h.value_at_quantile(x);
        Percentiles {
            count: h.len(),
            min: h.min(),
            max: h.max(),
            mean: h.mean(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            p9999: q(0.9999),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_a_histogram_and_of_nothing() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let p = Percentiles::of(&h);
        assert_eq!((p.count, p.min, p.max), (1000, 1, 1000));
        assert!(p.p50 >= 499 && p.p50 <= 501, "{p:?}");
        assert!(p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.max);
        assert_eq!(Percentiles::of(&Histogram::<u64>::new(3).unwrap()), Percentiles::default());
    }
}
