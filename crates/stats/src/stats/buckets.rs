//! A cheap recording front for the latency histograms: the same log-linear buckets as
//! [`latency_histogram`](super::latency::latency_histogram), counted in a plain array and folded
//! into the `hdrhistogram` once per interval.
//!
//! `Histogram::saturating_record` computes the same index through checked, generic arithmetic
//! and also keeps the minimum, maximum and total up to date on every call; here a value costs a
//! leading-zero count, a shift, a 32-bit increment and a bit set. [`Buckets::fold_into`] then adds
//! every non-zero bucket to the histogram with one `record_n` of the bucket's lowest value, which
//! gives a histogram equal to recording each value directly (same counts, total, minimum,
//! maximum, hence the same quantiles): the tests check that on random and edge values.
//!
//! The layout (derived from the bounds below exactly as `hdrhistogram` 7 derives it):
//! values 0 .. 2·10^[`SIGFIG`] have unit resolution; above, each power of two is split into
//! half as many sub-buckets, so every value is kept to [`SIGFIG`] significant digits.

use std::fmt;

use hdrhistogram::Histogram;

use super::latency::{MAX_LATENCY_NS, SIGFIG};

/// Values up to this get unit resolution (`2 * 10^SIGFIG`).
const UNIT_RESOLUTION_LIMIT: u64 = 2 * 10u64.pow(SIGFIG as u32);
/// log2 of the sub-buckets per bucket (rounded up), `hdrhistogram`'s
/// `sub_bucket_count_magnitude` for a lowest discernible value of 1.
const SUB_BUCKET_MAGNITUDE: u32 = u64::BITS - (UNIT_RESOLUTION_LIMIT - 1).leading_zeros();
/// Half the sub-buckets of one bucket: the index stride of each bucket above the first.
const SUB_BUCKET_HALF_MAGNITUDE: u32 = SUB_BUCKET_MAGNITUDE - 1;
const SUB_BUCKET_HALF_COUNT: usize = 1 << SUB_BUCKET_HALF_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = (1 << SUB_BUCKET_MAGNITUDE) - 1;
/// `64 - unit_magnitude - sub_bucket_count_magnitude` (unit magnitude 0).
const LEADING_ZERO_BASE: u32 = u64::BITS - SUB_BUCKET_MAGNITUDE;

/// Buckets (powers of two) needed to reach [`MAX_LATENCY_NS`], as `hdrhistogram` counts them.
const fn bucket_count() -> usize {
    let mut smallest_untrackable = 1u64 << SUB_BUCKET_MAGNITUDE;
    let mut n = 1;
    while smallest_untrackable <= MAX_LATENCY_NS {
        smallest_untrackable <<= 1;
        n += 1;
    }
    n
}

/// Counters in the array: the same as the histogram's `distinct_values()`.
pub(crate) const LEN: usize = (bucket_count() + 1) * SUB_BUCKET_HALF_COUNT;

/// Index of `value` (at most [`MAX_LATENCY_NS`]) in the counts array.
#[inline]
pub(crate) fn index_of(value: u64) -> usize {
    let bucket = LEADING_ZERO_BASE - (value | SUB_BUCKET_MASK).leading_zeros();
    let sub_bucket = (value >> bucket) as usize;
    ((bucket as usize + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub_bucket - SUB_BUCKET_HALF_COUNT
}

/// The lowest value counted at `index`.
pub(crate) fn value_at(index: usize) -> u64 {
    let mut bucket = (index >> SUB_BUCKET_HALF_MAGNITUDE) as i64 - 1;
    let mut sub_bucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
    if bucket < 0 {
        sub_bucket -= SUB_BUCKET_HALF_COUNT;
        bucket = 0;
    }
    (sub_bucket as u64) << bucket
}

/// Rows of the counts array: one per power of two, [`SUB_BUCKET_HALF_COUNT`] counters each.
const ROWS: usize = LEN >> SUB_BUCKET_HALF_MAGNITUDE;
// One bit per row in `Buckets::rows`.
const _: () = assert!(ROWS <= 32 && ROWS << SUB_BUCKET_HALF_MAGNITUDE == LEN);

/// Most values [`Buckets::record`] may count between two folds: each counter is 32 bits.
pub(crate) const MAX_PENDING: u32 = u32::MAX;

/// Values recorded since the last fold, counted per histogram bucket. Allocated once; recording
/// allocates nothing.
///
/// The counters are 32 bits (half the cache lines of the histogram's own 64-bit counts), so at
/// most [`MAX_PENDING`] values may be counted between two folds: the caller folds by then.
/// Instead of the lowest and highest index counted, a record marks the row (power of two) it
/// fell in, one bit: a fold visits only the marked rows.
#[derive(Clone)]
pub struct Buckets {
    counts: Box<[u32]>,
    /// Bit `r` set: row `r` may hold counts.
    rows: u32,
}

impl fmt::Debug for Buckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending: u64 = self.counts.iter().map(|&c| c as u64).sum();
        f.debug_struct("Buckets").field("pending", &pending).finish()
    }
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets::new()
    }
}

impl Buckets {
    /// Empty buckets.
    pub fn new() -> Buckets {
        Buckets { counts: vec![0; LEN].into_boxed_slice(), rows: 0 }
    }

    /// True when nothing was recorded since the last fold.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Counts `value`, which must be at most [`MAX_LATENCY_NS`] (the caller clamps), and at
    /// most [`MAX_PENDING`] values between folds (the caller folds).
    #[inline]
    pub fn record(&mut self, value: u64) {
        debug_assert!(value <= MAX_LATENCY_NS);
        let i = index_of(value);
        // In range for every value up to MAX_LATENCY_NS; a larger one would panic here rather
        // than be miscounted.
        self.counts[i] += 1;
        self.rows |= 1 << (i >> SUB_BUCKET_HALF_MAGNITUDE);
    }

    /// Adds everything counted to `h` (a [`latency_histogram`](super::latency::latency_histogram))
    /// and empties the buckets.
    pub fn fold_into(&mut self, h: &mut Histogram<u64>) {
        while self.rows != 0 {
            let row = self.rows.trailing_zeros() as usize;
            self.rows &= self.rows - 1;
            let base = row << SUB_BUCKET_HALF_MAGNITUDE;
            for (i, c) in self.counts[base..base + SUB_BUCKET_HALF_COUNT].iter_mut().enumerate() {
                if *c != 0 {
                    // Same bounds as the buckets, so every bucket's lowest value is in range.
                    let _ = h.record_n(value_at(base + i), *c as u64);
                    *c = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::latency::latency_histogram;
    use proptest::prelude::*;

    /// Edge values: bucket boundaries, the unit-resolution limit, the top.
    fn edges() -> Vec<u64> {
        let mut v = vec![0, 1, 2, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097];
        for shift in 11..36 {
            let p = 1u64 << shift;
            v.extend([p - 1, p, p + 1, p + (p >> 1) - 1]);
        }
        v.extend([MAX_LATENCY_NS - 1, MAX_LATENCY_NS]);
        v.retain(|&x| x <= MAX_LATENCY_NS);
        v
    }

    #[test]
    fn layout_matches_hdrhistogram() {
        let h = latency_histogram();
        assert_eq!(LEN, h.distinct_values());
        for v in edges() {
            assert_eq!(value_at(index_of(v)), h.lowest_equivalent(v), "value {v}");
            assert!(index_of(v) < LEN);
        }
        for i in 0..LEN {
            assert_eq!(h.lowest_equivalent(value_at(i)), value_at(i), "index {i}");
            assert_eq!(index_of(value_at(i)), i, "index {i}");
        }
    }

    /// Records `values` directly and through the buckets (folded every `fold_every` values) and
    /// checks that the histograms are equal in every way a report reads them.
    fn same_as_direct(values: &[u64], fold_every: usize) {
        let mut direct = latency_histogram();
        let mut folded = latency_histogram();
        let mut b = Buckets::new();
        for (n, &v) in values.iter().enumerate() {
            direct.saturating_record(v);
            b.record(v);
            if (n + 1) % fold_every == 0 {
                b.fold_into(&mut folded);
                assert!(b.is_empty());
            }
        }
        b.fold_into(&mut folded);
        assert!(folded == direct);
        assert_eq!(folded.len(), direct.len());
        assert_eq!(
            (folded.min(), folded.max(), folded.min_nz()),
            (direct.min(), direct.max(), direct.min_nz())
        );
        assert_eq!(folded.mean().to_bits(), direct.mean().to_bits());
        assert_eq!(folded.stdev().to_bits(), direct.stdev().to_bits());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(folded.value_at_quantile(q), direct.value_at_quantile(q), "q {q}");
        }
        let a: Vec<_> =
            folded.iter_recorded().map(|x| (x.value_iterated_to(), x.count_at_value())).collect();
        let d: Vec<_> =
            direct.iter_recorded().map(|x| (x.value_iterated_to(), x.count_at_value())).collect();
        assert_eq!(a, d);
    }

    #[test]
    fn folding_edges_equals_direct_recording() {
        let e = edges();
        same_as_direct(&e, usize::MAX);
        same_as_direct(&e, 7);
        let mut rev = e.clone();
        rev.reverse();
        same_as_direct(&rev, 1);
        same_as_direct(&[0, 0, 0], 2);
        same_as_direct(&[MAX_LATENCY_NS; 5], 3);
    }

    #[test]
    fn empty_fold_changes_nothing() {
        let mut h = latency_histogram();
        h.saturating_record(5);
        let before = h.clone();
        Buckets::new().fold_into(&mut h);
        assert!(h == before);
        assert_eq!(h.max(), before.max());
    }

    proptest! {
        #[test]
        fn folding_random_values_equals_direct_recording(
            values in proptest::collection::vec(
                prop_oneof![0..=MAX_LATENCY_NS, 0u64..5_000, 1_000u64..2_000_000],
                0..600,
            ),
            fold_every in 1usize..700,
        ) {
            same_as_direct(&values, fold_every);
        }
    }
}
