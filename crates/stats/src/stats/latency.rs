//! One-way latency histograms and the clock arithmetic behind them.
//!
//! All histograms cover 1 ns .. 60 s with 3 significant digits and are created up front;
//! recording is an index computation and an increment. Values above 60 s are clamped to the top.
//! The hot path counts into plain bucket arrays of the same layout (`stats::buckets`) that
//! [`LatencyRecorder::flush`] folds into the histograms (at every interval's end, at the end of
//! the run, and whenever 2^32 − 1 values are pending, as the arrays count in 32 bits): the
//! histograms are then exactly what recording each value would have made.
//!
//! - **one-way** = application receive time (the batch's `CLOCK_MONOTONIC` reading) − `tx_ns`.
//!   When the header says `tx_ns` is `CLOCK_REALTIME`, the receive time is converted with a
//!   realtime − monotonic offset read once per interval (two vDSO clock reads), and the report
//!   warns that cross-host latency needs synchronised clocks.
//! - with kernel timestamps (`SO_TIMESTAMPNS`, `CLOCK_REALTIME`): **tx → kernel** and
//!   **kernel → application** (socket queueing), converted through the same offset.
//!
//! A negative latency cannot be true: it is counted in `clock_skew` and not recorded.
//!
//! **Plausibility.** `tx_ns` comes from the (unauthenticated) datagram. A stamp that cannot be
//! a send time is a **clock anomaly**: counted in `clock_anomalies`, recorded in no histogram
//! (not even clamped to the top), and not counted as skew. Implausible means: `tx_ns == 0`; a
//! one-way latency above [`MAX_LATENCY_NS`] (sent more than 60 s before it arrived); or a send
//! time more than [`FUTURE_TOLERANCE_NS`] (60 s) in the receiver's future — farther than any
//! clock offset the skew warning is meant for. The header carries the low 48 bits of the stamp
//! (probe header version 2): the one-way latency is the receive time minus the stamp modulo
//! 2^48 ns, taken in −2^47 .. 2^47 (±39 hours), which is exact for any true latency plus clock
//! offset inside that range; the rest of the arithmetic is done in 128 bits, so nothing wraps.
//! The kernel → application split does not depend on `tx_ns` and is recorded for every
//! datagram that has a kernel timestamp.

use hdrhistogram::Histogram;
use udpprobe::Clock;

use super::buckets::{Buckets, MAX_PENDING};

/// Largest latency recorded (60 s in ns); larger values are clamped to it.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;
/// How far in the receiver's future a send time may be and still count as clock skew (60 s);
/// farther is a clock anomaly.
pub const FUTURE_TOLERANCE_NS: u64 = 60_000_000_000;
/// Significant digits of every latency histogram.
pub const SIGFIG: u8 = 3;

/// A new empty latency histogram (1 ns .. 60 s, 3 significant digits).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGFIG).expect("constant bounds are valid")
}

/// `CLOCK_REALTIME − CLOCK_MONOTONIC` now, in ns.
pub fn realtime_offset_ns() -> i64 {
    let m = udpprobe::now_ns(Clock::Monotonic) as i64;
    let r = udpprobe::now_ns(Clock::Realtime) as i64;
    r - m
}

/// The latency histograms of one thread.
///
/// [`LatencyRecorder::record`] counts into bucket arrays; the histograms below hold what was
/// recorded up to the last [`LatencyRecorder::flush`] (which [`LatencyRecorder::close_interval`]
/// and the recorder's interval end and finish call).
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    /// One-way latency of the current interval (folded into `one_way` at interval end).
    pub interval: Histogram<u64>,
    /// One-way latency over the run (without the current interval).
    pub one_way: Histogram<u64>,
    /// Send → kernel receive (kernel timestamps only).
    pub tx_to_kernel: Histogram<u64>,
    /// Kernel receive → application (kernel timestamps only).
    pub kernel_to_app: Histogram<u64>,
    /// Not yet flushed into `interval`, `tx_to_kernel` and `kernel_to_app`.
    pending_interval: Buckets,
    pending_tx_to_kernel: Buckets,
    pending_kernel_to_app: Buckets,
    /// Calls to [`LatencyRecorder::record`] since the last flush (each counts at most one value
    /// in each pending array), and how many the arrays may take before a flush.
    unflushed: u32,
    flush_after: u32,
    /// Datagrams whose computed latency was negative (clocks not comparable).
    pub clock_skew: u64,
    /// Datagrams whose `tx_ns` is implausible (zero, over 60 s old, or over 60 s in the future):
    /// not recorded in any `tx_ns`-based histogram (see the module docs).
    pub clock_anomalies: u64,
    /// Datagrams stamped with `CLOCK_MONOTONIC`.
    pub monotonic: u64,
    /// Datagrams stamped with `CLOCK_REALTIME`.
    pub realtime: u64,
    offset_ns: i64,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder::new()
    }
}

impl LatencyRecorder {
    /// Creates the histograms and reads the clock offset.
    pub fn new() -> LatencyRecorder {
        LatencyRecorder {
            interval: latency_histogram(),
            one_way: latency_histogram(),
            tx_to_kernel: latency_histogram(),
            kernel_to_app: latency_histogram(),
            pending_interval: Buckets::new(),
            pending_tx_to_kernel: Buckets::new(),
            pending_kernel_to_app: Buckets::new(),
            unflushed: 0,
            flush_after: MAX_PENDING,
            clock_skew: 0,
            clock_anomalies: 0,
            monotonic: 0,
            realtime: 0,
            offset_ns: realtime_offset_ns(),
        }
    }

    /// Uses `offset_ns` (realtime − monotonic) from now on; called once per interval.
    pub fn set_offset(&mut self, offset_ns: i64) {
        self.offset_ns = offset_ns;
    }

    /// The realtime − monotonic offset in use.
    pub fn offset(&self) -> i64 {
        self.offset_ns
    }

    #[inline]
    fn put(b: &mut Buckets, skew: &mut u64, v: i128) {
        if v < 0 {
            *skew += 1;
        } else {
            b.record((v as u64).min(MAX_LATENCY_NS));
        }
    }

    /// Records one datagram: sent at `tx_ns` (its low 48 bits, as the probe header carries
    /// them) of `clock`, received by the application at `rx_ns` (monotonic), by the kernel at
    /// `kernel_rx_ns` (realtime) if known.
    #[inline(always)]
    pub fn record(&mut self, clock: Clock, tx_ns: u64, rx_ns: u64, kernel_rx_ns: Option<u64>) {
        // The receive time on the stamp's clock, then the distance modulo 2^48 taken as signed.
        let offset = self.offset_ns as i128;
        let reference = match clock {
            Clock::Monotonic => {
                self.monotonic += 1;
                rx_ns
            }
            Clock::Realtime => {
                self.realtime += 1;
                (rx_ns as i128 + offset) as u64
            }
        };
        let back = reference.wrapping_sub(tx_ns) & udpprobe::TX_MASK;
        let one_way = if back >= 1 << 47 { back as i128 - (1 << 48) } else { back as i128 };
        // Everything else on the monotonic time line, in 128 bits.
        let rx = rx_ns as i128;
        let tx = rx - one_way;
        let plausible = tx_ns != 0
            && one_way <= MAX_LATENCY_NS as i128
            && one_way >= -(FUTURE_TOLERANCE_NS as i128);
        if plausible {
            Self::put(&mut self.pending_interval, &mut self.clock_skew, one_way);
        } else {
            self.clock_anomalies += 1;
        }
        if let Some(k) = kernel_rx_ns {
            let k = k as i128 - offset;
            if plausible {
                Self::put(&mut self.pending_tx_to_kernel, &mut self.clock_skew, k - tx);
            }
            Self::put(&mut self.pending_kernel_to_app, &mut self.clock_skew, rx - k);
        }
        // The pending arrays' 32-bit counters never overflow: they are flushed when full.
        self.unflushed += 1;
        if self.unflushed == self.flush_after {
            self.flush();
        }
    }

    /// Brings the histograms up to date: folds what [`LatencyRecorder::record`] counted since
    /// the last flush into `interval`, `tx_to_kernel` and `kernel_to_app`.
    pub fn flush(&mut self) {
        self.unflushed = 0;
        self.pending_interval.fold_into(&mut self.interval);
        self.pending_tx_to_kernel.fold_into(&mut self.tx_to_kernel);
        self.pending_kernel_to_app.fold_into(&mut self.kernel_to_app);
    }

    /// Flushes, then folds the current interval into the run histogram and clears it.
    pub fn close_interval(&mut self) {
        self.flush();
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.one_way.add(&self.interval);
        self.interval.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The recording as it was before the bucket arrays: straight into the histograms.
    #[derive(Default)]
    struct Direct {
        one_way: Option<Histogram<u64>>,
        tx_to_kernel: Option<Histogram<u64>>,
        kernel_to_app: Option<Histogram<u64>>,
    }

    impl Direct {
        fn put(h: &mut Option<Histogram<u64>>, v: i128) {
            if v >= 0 {
                let h = h.get_or_insert_with(latency_histogram);
                h.saturating_record((v as u64).min(MAX_LATENCY_NS));
            }
        }

        fn record(&mut self, offset: i64, clock: Clock, tx_ns: u64, rx_ns: u64, k: Option<u64>) {
            let offset = offset as i128;
            let reference = match clock {
                Clock::Monotonic => rx_ns,
                Clock::Realtime => (rx_ns as i128 + offset) as u64,
            };
            let back = reference.wrapping_sub(tx_ns) & udpprobe::TX_MASK;
            let one_way = if back >= 1 << 47 { back as i128 - (1 << 48) } else { back as i128 };
            let rx = rx_ns as i128;
            let plausible = tx_ns != 0
                && one_way <= MAX_LATENCY_NS as i128
                && one_way >= -(FUTURE_TOLERANCE_NS as i128);
            if plausible {
                Self::put(&mut self.one_way, one_way);
            }
            if let Some(k) = k {
                let k = k as i128 - offset;
                if plausible {
                    Self::put(&mut self.tx_to_kernel, k - (rx - one_way));
                }
                Self::put(&mut self.kernel_to_app, rx - k);
            }
        }
    }

    fn same(h: &Histogram<u64>, d: &Option<Histogram<u64>>) -> bool {
        match d {
            Some(d) => h == d && h.max() == d.max() && h.min_nz() == d.min_nz(),
            None => h.is_empty(),
        }
    }

    proptest! {
        #[test]
        fn bucketed_recording_equals_direct_recording(
            items in proptest::collection::vec(
                (any::<bool>(), 0u64..200_000_000_000, 0u64..200_000_000_000,
                 proptest::option::of(0u64..300_000_000_000), 0u32..20),
                0..300,
            ),
            offset in prop_oneof![Just(0i64), Just(100_000_000_000), -1_000_000i64..1_000_000],
            flush_after in prop_oneof![Just(MAX_PENDING), 1u32..40],
        ) {
            let mut l = LatencyRecorder::new();
            l.set_offset(offset);
            // A small limit exercises the flush that keeps the 32-bit counters from overflowing.
            l.flush_after = flush_after;
            let mut d = Direct::default();
            for &(real, tx, rx, k, close) in &items {
                let clock = if real { Clock::Realtime } else { Clock::Monotonic };
                l.record(clock, tx, rx, k);
                d.record(offset, clock, tx, rx, k);
                // Intervals end at random points (and sometimes only a flush happens).
                match close {
                    0 => l.close_interval(),
                    1 => l.flush(),
                    _ => {}
                }
            }
            l.close_interval();
            prop_assert!(same(&l.one_way, &d.one_way));
            prop_assert!(same(&l.tx_to_kernel, &d.tx_to_kernel));
            prop_assert!(same(&l.kernel_to_app, &d.kernel_to_app));
            prop_assert!(l.interval.is_empty());
        }
    }

    #[test]
    fn full_pending_counters_are_flushed() {
        let mut l = LatencyRecorder::new();
        l.set_offset(0);
        l.flush_after = 5;
        for _ in 0..4 {
            l.record(Clock::Monotonic, 1_000, 6_000, Some(5_000));
        }
        assert!(l.interval.is_empty(), "nothing flushed before the limit");
        l.record(Clock::Monotonic, 1_000, 6_000, Some(5_000));
        assert_eq!(l.interval.len(), 5, "flushed at the limit");
        assert_eq!((l.tx_to_kernel.len(), l.kernel_to_app.len()), (5, 5));
        assert!(l.pending_interval.is_empty() && l.pending_kernel_to_app.is_empty());
        l.record(Clock::Monotonic, 1_000, 6_000, None);
        l.close_interval();
        assert_eq!(l.one_way.len(), 6);
    }

    #[test]
    fn monotonic_one_way_and_skew() {
        let mut l = LatencyRecorder::new();
        l.record(Clock::Monotonic, 1_000, 6_000, None);
        l.record(Clock::Monotonic, 9_000, 6_000, None);
        l.close_interval();
        assert_eq!(l.one_way.len(), 1);
        assert!(l.one_way.equivalent(l.one_way.max(), 5_000));
        assert_eq!(l.clock_skew, 1);
        assert_eq!(l.interval.len(), 0);
        assert_eq!(l.tx_to_kernel.len(), 0);
    }

    #[test]
    fn realtime_and_kernel_split() {
        let mut l = LatencyRecorder::new();
        l.set_offset(1_000_000);
        // tx at realtime 1_100_000 = monotonic 100_000; kernel rx realtime 1_103_000 = mono 103_000.
        l.record(Clock::Realtime, 1_100_000, 110_000, Some(1_103_000));
        l.close_interval();
        assert!(l.one_way.equivalent(l.one_way.max(), 10_000));
        assert!(l.tx_to_kernel.equivalent(l.tx_to_kernel.max(), 3_000));
        assert!(l.kernel_to_app.equivalent(l.kernel_to_app.max(), 7_000));
        assert_eq!((l.realtime, l.monotonic, l.clock_skew), (1, 0, 0));
    }

    #[test]
    fn implausible_stamps_are_anomalies_not_latency() {
        // Issue 13: tx_ns 0 and u64::MAX were recorded as 60 s of latency (u64::MAX as i64 = -1
        // escaped the skew check).
        let rx = 5_000_000_000_000; // 5000 s after boot
        for clock in [Clock::Monotonic, Clock::Realtime] {
            let mut l = LatencyRecorder::new();
            l.set_offset(1_700_000_000_000_000_000);
            let off = l.offset() as u64;
            let base = if clock == Clock::Realtime { off } else { 0 };
            for tx in [
                0,
                u64::MAX,
                u64::MAX / 2,
                base + rx - MAX_LATENCY_NS - 1,
                base + rx + FUTURE_TOLERANCE_NS + 1,
                1,
            ] {
                l.record(clock, tx, rx, Some(off + rx - 1_000));
            }
            // Plausible ones: 60 s old exactly, 10 s in the future (skew), 2 µs.
            l.record(clock, base + rx - MAX_LATENCY_NS, rx, None);
            l.record(clock, base + rx + 10_000_000_000, rx, None);
            l.record(clock, base + rx - 2_000, rx, Some(off + rx - 1_000));
            l.close_interval();
            assert_eq!(l.clock_anomalies, 6, "{clock:?}");
            assert_eq!(l.clock_skew, 1, "{clock:?}");
            assert_eq!(l.one_way.len(), 2, "{clock:?}");
            assert!(l.one_way.equivalent(l.one_way.max(), MAX_LATENCY_NS), "{clock:?}");
            assert_eq!(l.tx_to_kernel.len(), 1, "{clock:?}");
            // Socket queueing does not depend on tx_ns: recorded for all 7 with a timestamp.
            assert_eq!(l.kernel_to_app.len(), 7, "{clock:?}");
        }
    }
}
