//! Clock offset between a controller and an agent, estimated NTP-style over the control
//! connection.
//!
//! Each `hello` gives four timestamps: the controller sends at `t1` (its clock), the agent
//! receives at `t2` and replies at `t3` (the agent's clock), the controller receives at `t4`.
//! With a symmetric path, the agent's clock is ahead of the controller's by
//! `θ = ((t2 − t1) + (t3 − t4)) / 2`; whatever the asymmetry, the true offset lies within
//! `δ / 2` of θ, where `δ = (t4 − t1) − (t3 − t2)` is the round trip minus the agent's time.
//! Of several samples the one with the smallest round trip has the tightest bound.

/// One `hello` exchange: four timestamps in ns (t1, t4 on the controller's clock; t2, t3 on the
/// agent's, the same clock kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSample {
    /// Controller's clock when the hello left.
    pub t1_ns: u64,
    /// Agent's clock when it arrived.
    pub t2_ns: u64,
    /// Agent's clock when the reply left.
    pub t3_ns: u64,
    /// Controller's clock when the reply arrived.
    pub t4_ns: u64,
}

/// An offset with its error bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEstimate {
    /// Agent clock minus controller clock, ns (positive: the agent is ahead). To put an agent
    /// timestamp on the controller's clock, subtract it.
    pub offset_ns: i64,
    /// The true offset lies within `offset_ns ± error_bound_ns` (half the network round trip of
    /// the best sample), whatever the path asymmetry, as long as neither clock stepped.
    pub error_bound_ns: u64,
    /// Network round trip of the sample used (agent time excluded), ns.
    pub round_trip_ns: u64,
    /// Samples that were consistent and considered.
    pub samples: usize,
}

impl ClockSample {
    /// Round trip without the agent's time, or `None` if the timestamps are inconsistent
    /// (t4 before t1, t3 before t2, or the agent's time longer than the round trip).
    pub fn round_trip_ns(&self) -> Option<u64> {
        let total = self.t4_ns.checked_sub(self.t1_ns)?;
        let agent = self.t3_ns.checked_sub(self.t2_ns)?;
        total.checked_sub(agent)
    }

    /// θ for this sample: agent minus controller, ns.
    pub fn offset_ns(&self) -> i64 {
        let a = i128::from(self.t2_ns) - i128::from(self.t1_ns);
        let b = i128::from(self.t3_ns) - i128::from(self.t4_ns);
        ((a + b) / 2).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

/// The estimate from the sample with the smallest round trip; `None` when no sample is
/// consistent.
pub fn estimate_offset(samples: &[ClockSample]) -> Option<OffsetEstimate> {
    let valid: Vec<(u64, &ClockSample)> =
        samples.iter().filter_map(|s| s.round_trip_ns().map(|d| (d, s))).collect();
    let (rtt, best) = valid.iter().min_by_key(|(d, _)| *d)?;
    Some(OffsetEstimate {
        offset_ns: best.offset_ns(),
        error_bound_ns: rtt.div_ceil(2),
        round_trip_ns: *rtt,
        samples: valid.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample of a path with one-way delays `up`/`down`, the agent `offset` ahead and
    /// spending `hold` ns.
    fn sample(t1: u64, offset: i64, up: u64, down: u64, hold: u64) -> ClockSample {
        let t2 = (t1 as i64 + up as i64 + offset) as u64;
        let t3 = t2 + hold;
        let t4 = t1 + up + hold + down;
        ClockSample { t1_ns: t1, t2_ns: t2, t3_ns: t3, t4_ns: t4 }
    }

    #[test]
    fn symmetric_path_gives_the_exact_offset() {
        let s = sample(1_000_000, 5_000, 100, 100, 50);
        let e = estimate_offset(&[s]).unwrap();
        assert_eq!(e.offset_ns, 5_000);
        assert_eq!(e.round_trip_ns, 200);
        assert_eq!(e.error_bound_ns, 100);
        let behind = estimate_offset(&[sample(1_000_000, -7_000, 40, 40, 0)]).unwrap();
        assert_eq!(behind.offset_ns, -7_000);
    }

    #[test]
    fn asymmetric_path_stays_within_the_bound() {
        for (up, down) in [(10, 990), (990, 10), (500, 500), (0, 1000)] {
            let s = sample(10_000_000, 123_456, up, down, 77);
            let e = estimate_offset(&[s]).unwrap();
            let err = (e.offset_ns - 123_456).unsigned_abs();
            assert!(err <= e.error_bound_ns, "{up}/{down}: {e:?}");
        }
    }

    #[test]
    fn the_tightest_sample_wins_and_bad_ones_are_skipped() {
        let slow = sample(1_000, 2_000, 5_000, 100, 0);
        let fast = sample(50_000, 2_000, 30, 50, 10);
        let broken = ClockSample { t1_ns: 10, t2_ns: 20, t3_ns: 15, t4_ns: 30 };
        let e = estimate_offset(&[slow, broken, fast]).unwrap();
        assert_eq!(e.round_trip_ns, 80);
        assert_eq!(e.samples, 2);
        assert!((e.offset_ns - 2_000).unsigned_abs() <= e.error_bound_ns);
        assert_eq!(estimate_offset(&[broken]), None);
        assert_eq!(estimate_offset(&[]), None);
        // The agent's time exceeds the round trip: inconsistent.
        let impossible = ClockSample { t1_ns: 0, t2_ns: 0, t3_ns: 100, t4_ns: 50 };
        assert_eq!(impossible.round_trip_ns(), None);
    }
}
