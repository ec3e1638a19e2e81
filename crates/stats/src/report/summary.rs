//! What other layers read from a report: the benchmark harness's [`Summary`] and the
//! `sent = received + dropped + lost elsewhere` [`Accounting`].

use std::fmt;

use super::{Percentiles, Report};

/// The small set of numbers the benchmark harness reads from a report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Datagrams received.
    pub datagrams: u64,
    /// Distinct probe datagrams received.
    pub received: u64,
    /// Lost (sequence gaps).
    pub lost: u64,
    /// Reordered.
    pub reordered: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Kernel drops (SO_RXQ_OVFL).
    pub kernel_drops: u64,
    /// Datagrams discarded as implausible sequence jumps.
    pub seq_anomalies: u64,
    /// Datagrams with an implausible send stamp (not recorded as latency).
    pub clock_anomalies: u64,
    /// Datagrams of flows over the flow budget (not sequence-tracked).
    pub untracked: u64,
    /// Mean of the interval rates (datagrams / elapsed when no full interval exists).
    pub pps_mean: f64,
    /// Median interval rate.
    pub pps_median: Option<u64>,
    /// Lowest interval rate.
    pub pps_min: Option<u64>,
    /// 99th percentile of the interval rates.
    pub pps_p99: Option<u64>,
    /// Highest interval rate.
    pub pps_max: Option<u64>,
    /// One-way latency percentiles, ns.
    pub latency_ns: Option<Percentiles>,
    /// CPU per datagram, ns.
    pub cpu_ns_per_datagram: Option<f64>,
}

/// `sent = received + dropped in the kernel + lost elsewhere`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accounting {
    /// Sent by the sender(s), if known.
    pub sent: Option<u64>,
    /// Distinct probe datagrams received.
    pub received: u64,
    /// Dropped by the kernel on the receive sockets (SO_RXQ_OVFL).
    pub kernel_drops: u64,
    /// `sent − received − kernel_drops`, when `sent` is known (negative means over-counted),
    /// computed without wrapping and saturated to the `i64` range.
    pub lost_elsewhere: Option<i64>,
    /// Loss seen in the sequence numbers (includes kernel drops and loss elsewhere).
    pub sequence_lost: u64,
}

impl fmt::Display for Accounting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.sent, self.lost_elsewhere) {
            (Some(s), Some(_)) => {
                // Exact in i128 (every term is a u64), so huge or forged counts print as they
                // are instead of wrapping.
                let e = s as i128 - self.received as i128 - self.kernel_drops as i128;
                write!(
                    f,
                    "sent {s} = received {} + dropped in kernel {} + lost elsewhere {e}",
                    self.received, self.kernel_drops
                )
            }
            _ => write!(
                f,
                "received {}, dropped in kernel {}, missing from sequences {} (sent unknown)",
                self.received, self.kernel_drops, self.sequence_lost
            ),
        }
    }
}

impl Report {
    /// `sent = received + dropped in kernel + lost elsewhere`, as far as known.
    pub fn accounting(&self) -> Accounting {
        let received = self.totals.received;
        let kernel_drops = self.totals.kernel_drops;
        Accounting {
            sent: self.sent,
            received,
            kernel_drops,
            lost_elsewhere: self.sent.map(|s| {
                let e = s as i128 - received as i128 - kernel_drops as i128;
                e.clamp(i64::MIN as i128, i64::MAX as i128) as i64
            }),
            sequence_lost: self.totals.lost,
        }
    }

    /// The numbers the benchmark harness compares.
    pub fn summary(&self) -> Summary {
        let t = &self.totals;
        let pps = self.rate.pps.as_ref();
        Summary {
            datagrams: t.datagrams,
            received: t.received,
            lost: t.lost,
            reordered: t.reordered,
            duplicates: t.duplicates,
            kernel_drops: t.kernel_drops,
            seq_anomalies: t.seq_anomalies,
            clock_anomalies: t.clock_anomalies,
            untracked: t.untracked,
            pps_mean: pps.filter(|h| h.count > 0).map_or(t.pps_mean, |h| h.mean),
            pps_median: pps.map(|h| h.p50),
            pps_min: pps.map(|h| h.min),
            pps_p99: pps.map(|h| h.p99),
            pps_max: pps.map(|h| h.max),
            latency_ns: self.latency.one_way.as_ref().map(|h| h.summary),
            cpu_ns_per_datagram: t.cpu_ns_per_datagram,
        }
    }
}
