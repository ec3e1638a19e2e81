//! Batch-level pacing: when each batch may leave, as a pure function of the packets sent so far.
//!
//! The deadline of the packet with index `sent` is `start + sent / rate`, computed from the start
//! time and the count (never accumulated from one batch to the next), so sleep overshoot or a
//! preempted thread does not drift the mean: a late batch is followed by batches sent without
//! waiting until the schedule is caught up. Packets leave in *units* of back-to-back packets; the
//! sender waits only before the first packet of a unit. A unit is the `--burst` size if given,
//! else the batch, shrunk so that units are at most [`MAX_UNIT_GAP_NS`] apart at low rates.

/// Longest wait between two units when no burst is asked for: at low rates the batch shrinks so
/// that packets do not leave in lumps (100 pps sends one packet every 10 ms, not 64 every 0.64 s).
pub const MAX_UNIT_GAP_NS: u64 = 1_000_000;

/// A packet rate as the exact fraction `num / den` packets per second (a thread's share of the
/// total rate need not be an integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Numerator, packets.
    pub num: u64,
    /// Denominator, seconds.
    pub den: u64,
}

impl Rate {
    /// `num / den` packets per second. Both must be non-zero.
    pub fn new(num: u64, den: u64) -> Rate {
        assert!(num > 0 && den > 0, "rate must be positive");
        Rate { num, den }
    }

    /// Packets per second as a float (for reports).
    pub fn pps(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Packets due before `ns` nanoseconds from the start (those whose
    /// [`Rate::offset_ns`] is below `ns`): `ceil(ns × rate)`.
    pub fn due_before(self, ns: u64) -> u64 {
        let n = (ns as u128 * self.num as u128).div_ceil(1_000_000_000 * self.den as u128);
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// Nanoseconds from the start at which packet number `sent` is due.
    pub fn offset_ns(self, sent: u64) -> u64 {
        let ns = sent as u128 * 1_000_000_000 * self.den as u128 / self.num as u128;
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

/// What to do next: wait until `wait_until_ns` (offset from the start), then send `packets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Offset from the start before which the packets must not leave; `None` = send now.
    pub wait_until_ns: Option<u64>,
    /// Packets to send in this batch (one sendmmsg call).
    pub packets: usize,
}

/// The schedule of one sender thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacer {
    rate: Option<Rate>,
    unit: u64,
    batch: usize,
}

impl Pacer {
    /// A schedule for `rate` (`None` = as fast as possible), sendmmsg vectors of at most `batch`
    /// packets, and optional bursts of `burst` packets sent back to back.
    pub fn new(rate: Option<Rate>, batch: usize, burst: Option<usize>) -> Pacer {
        let batch = batch.max(1);
        let unit = match (rate, burst) {
            (_, Some(b)) => b.max(1) as u64,
            (None, None) => batch as u64,
            (Some(r), None) => {
                // Packets due within MAX_UNIT_GAP_NS at this rate, at least 1, at most a batch.
                let per_gap =
                    r.num as u128 * MAX_UNIT_GAP_NS as u128 / (r.den as u128 * 1_000_000_000);
                (per_gap as u64).clamp(1, batch as u64)
            }
        };
        Pacer { rate, unit, batch }
    }

    /// Packets sent back to back between two waits.
    pub fn unit(&self) -> u64 {
        self.unit
    }

    /// The rate, if paced.
    pub fn rate(&self) -> Option<Rate> {
        self.rate
    }

    /// The next step after `sent` packets, with `remaining` packets left to send (> 0).
    pub fn step(&self, sent: u64, remaining: u64) -> Step {
        let in_unit = sent % self.unit;
        let packets = (self.unit - in_unit).min(self.batch as u64).min(remaining).max(1) as usize;
        let wait_until_ns = match self.rate {
            Some(r) if in_unit == 0 => Some(r.offset_ns(sent)),
            _ => None,
        };
        Step { wait_until_ns, packets }
    }

    /// When a run of `total` packets is over: the slot of the last packet ends at `total / rate`.
    pub fn end_ns(&self, total: u64) -> Option<u64> {
        self.rate.map(|r| r.offset_ns(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the schedule like the sender does, with every send complete.
    fn walk(p: &Pacer, total: u64) -> Vec<Step> {
        let mut sent = 0;
        let mut steps = Vec::new();
        while sent < total {
            let s = p.step(sent, total - sent);
            sent += s.packets as u64;
            steps.push(s);
        }
        steps
    }

    #[test]
    fn unpaced_sends_full_batches_without_waiting() {
        let p = Pacer::new(None, 64, None);
        let steps = walk(&p, 200);
        assert_eq!(steps.iter().map(|s| s.packets).collect::<Vec<_>>(), [64, 64, 64, 8]);
        assert!(steps.iter().all(|s| s.wait_until_ns.is_none()));
    }

    #[test]
    fn low_rate_shrinks_the_batch() {
        // 100 pps: one packet every 10 ms, not 64 every 0.64 s.
        let p = Pacer::new(Some(Rate::new(100, 1)), 64, None);
        assert_eq!(p.unit(), 1);
        let steps = walk(&p, 5);
        let waits: Vec<_> = steps.iter().map(|s| s.wait_until_ns.unwrap()).collect();
        assert_eq!(waits, [0, 10_000_000, 20_000_000, 30_000_000, 40_000_000]);
        // 10 kpps: 10 packets per millisecond.
        assert_eq!(Pacer::new(Some(Rate::new(10_000, 1)), 64, None).unit(), 10);
        // 1 Mpps: the full batch.
        assert_eq!(Pacer::new(Some(Rate::new(1_000_000, 1)), 64, None).unit(), 64);
    }

    #[test]
    fn deadlines_come_from_the_count_not_from_accumulation() {
        // 3 pps has a period of 333_333_333.3 ns: accumulating a rounded period would drift.
        let r = Rate::new(3, 1);
        assert_eq!(r.offset_ns(3_000_000), 1_000_000 * 1_000_000_000);
        assert_eq!(r.offset_ns(1), 333_333_333);
        assert_eq!(r.offset_ns(2), 666_666_666);
        // A thread's share of 1000 pps split over 3 threads: 1000/3 pps.
        let share = Rate::new(1000, 3);
        assert_eq!(share.offset_ns(1000), 3_000_000_000);
    }

    #[test]
    fn mean_rate_is_exact_over_a_run() {
        for (num, den, batch) in [(2000, 1, 64), (1_234_567, 1, 64), (100, 3, 8), (7, 1, 64)] {
            let r = Rate::new(num, den);
            let p = Pacer::new(Some(r), batch, None);
            let total = 10_000;
            let end = p.end_ns(total).unwrap();
            let mean = total as f64 / (end as f64 / 1e9);
            assert!((mean / r.pps() - 1.0).abs() < 1e-6, "{num}/{den}: {mean}");
            // Deadlines never go backwards and units never exceed the batch.
            let steps = walk(&p, total);
            let waits: Vec<u64> = steps.iter().filter_map(|s| s.wait_until_ns).collect();
            assert!(waits.windows(2).all(|w| w[0] <= w[1]));
            assert!(steps.iter().all(|s| s.packets <= batch));
        }
    }

    #[test]
    fn due_before_counts_the_packets_whose_slot_starts_in_time() {
        for (num, den) in [(1000, 1), (3, 1), (1000, 3), (1_234_567, 7)] {
            let r = Rate::new(num, den);
            for ns in [0u64, 1, 999_999, 1_000_000, 333_333_334, 1_000_000_000, 10_000_000_007] {
                let n = r.due_before(ns);
                assert!(n == 0 || r.offset_ns(n - 1) < ns, "{num}/{den} {ns}: {n}");
                assert!(r.offset_ns(n) >= ns, "{num}/{den} {ns}: {n}");
            }
        }
        assert_eq!(Rate::new(1000, 1).due_before(1_000_000_000), 1000);
        assert_eq!(Rate::new(u64::MAX, 1).due_before(u64::MAX), u64::MAX);
    }

    #[test]
    fn bursts_keep_the_mean_and_wait_only_between_bursts() {
        let p = Pacer::new(Some(Rate::new(1000, 1)), 64, Some(100));
        let steps = walk(&p, 300);
        // Bursts of 100 split into sendmmsg vectors of 64 + 36; waits every 100 ms.
        assert_eq!(steps.iter().map(|s| s.packets).collect::<Vec<_>>(), [64, 36, 64, 36, 64, 36]);
        let waits: Vec<_> = steps.iter().map(|s| s.wait_until_ns).collect();
        assert_eq!(waits, [Some(0), None, Some(100_000_000), None, Some(200_000_000), None]);
        assert_eq!(p.end_ns(300), Some(300_000_000));
    }

    proptest::proptest! {
        #[test]
        fn any_schedule_is_complete_monotone_and_bounded(
            num in 1u64..50_000_000,
            den in 1u64..300,
            batch in 1usize..1025,
            burst in proptest::option::of(1usize..5000),
            total in 1u64..20_000,
            short in 0usize..64,
        ) {
            let p = Pacer::new(Some(Rate::new(num, den)), batch, burst);
            let mut sent = 0;
            let mut last_wait = 0;
            while sent < total {
                let s = p.step(sent, total - sent);
                proptest::prop_assert!(s.packets >= 1 && s.packets <= batch);
                proptest::prop_assert!(s.packets as u64 <= total - sent);
                if let Some(w) = s.wait_until_ns {
                    proptest::prop_assert!(w >= last_wait);
                    proptest::prop_assert_eq!(sent % p.unit(), 0);
                    last_wait = w;
                }
                // Sometimes the kernel takes fewer than asked.
                let took = if short > 0 && s.packets > 1 { s.packets.min(short) } else { s.packets };
                sent += took as u64;
            }
            proptest::prop_assert_eq!(sent, total);
            // The last wait is never later than the end of the run's last slot.
            proptest::prop_assert!(last_wait <= p.end_ns(total).unwrap());
        }
    }

    #[test]
    fn partial_send_finishes_the_unit_without_waiting() {
        let p = Pacer::new(Some(Rate::new(64_000, 1)), 64, None);
        assert_eq!(p.unit(), 64);
        let s = p.step(0, u64::MAX);
        assert_eq!(s, Step { wait_until_ns: Some(0), packets: 64 });
        // The kernel took 10 of 64: the other 54 go now.
        assert_eq!(p.step(10, u64::MAX), Step { wait_until_ns: None, packets: 54 });
        assert_eq!(p.step(64, u64::MAX), Step { wait_until_ns: Some(1_000_000), packets: 64 });
        // The count caps the last step.
        assert_eq!(p.step(128, 5).packets, 5);
    }
}
