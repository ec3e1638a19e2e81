//! The combined two-host report: every sender's figures and the receiver's, side by side.
//!
//! It reads only the typed summaries ([`SenderSummary`](crate::SenderSummary),
//! [`ReceiverSummary`](crate::ReceiverSummary)); the full reports of both sides are carried
//! along verbatim in `sender_reports[].detail` and `receiver_report.detail`.

use serde::Serialize;

use crate::client::RemoteRun;
use crate::msg::{LatencySummary, PROTOCOL_VERSION, ReceiverReport, SenderReport, clock_name};
use crate::text::escape_limited;
use crate::validate::MAX_RUN_ID_LEN;
use udpprobe::Clock;

/// Version of the combined report's JSON schema.
pub const REPORT_VERSION: u32 = 1;

/// One run as both sides saw it.
#[derive(Debug, Clone, Serialize)]
pub struct CombinedReport {
    /// Schema version ([`REPORT_VERSION`]).
    pub report_version: u32,
    /// Control protocol version.
    pub protocol_version: u64,
    /// Run name, as the server gave it, [escaped](crate::text::escape) (a malicious server
    /// must not write to the terminal through it).
    pub run_id: String,
    /// Control address of the receiver.
    pub server: String,
    /// Where the datagrams went.
    pub data_addr: String,
    /// Senders that joined the run.
    pub senders: u32,
    /// Sender reports that reached the receiver (fewer than `senders` if one vanished).
    pub senders_reported: u32,
    /// Clock the senders stamped with.
    #[serde(with = "clock_name")]
    pub clock: Clock,
    /// Sender and receiver are the same host (monotonic timestamps are comparable).
    pub same_host: bool,
    /// Datagrams sent, all senders.
    pub sent: u64,
    /// Payload bytes sent, all senders.
    pub sent_bytes: u64,
    /// Failed sends, all senders.
    pub send_errors: u64,
    /// Sent datagrams per second (each sender's rate over its own run time, summed).
    pub sent_pps: f64,
    /// Distinct probe datagrams received (duplicates excluded).
    pub received: u64,
    /// Every datagram the receiver got (foreign, truncated and duplicates included).
    pub datagrams: u64,
    /// Payload bytes received.
    pub received_bytes: u64,
    /// Distinct datagrams received per second over the flood time (the longest sender's).
    pub received_pps: f64,
    /// `sent - received`, never negative: what the network and the receiver lost.
    pub lost: u64,
    /// `lost / sent` (0 when nothing was sent).
    pub loss_ratio: f64,
    /// Losses the receiver inferred from sequence gaps (excludes a lost tail).
    pub seq_lost: u64,
    /// Datagrams that arrived out of order.
    pub reordered: u64,
    /// Datagrams received twice.
    pub duplicates: u64,
    /// Datagrams without a valid probe header (never the truncated ones).
    pub foreign: u64,
    /// Datagrams the receiver's buffer cut (or too short for a header); a cut probe whose
    /// header was whole is still in `received`.
    pub truncated: u64,
    /// Kernel drops on the receiver (SO_RXQ_OVFL + RcvbufErrors).
    pub kernel_drops: u64,
    /// One-way latency; omitted when timestamps are not comparable (monotonic across hosts).
    pub latency: Option<LatencySummary>,
    /// Datagrams with a negative one-way latency (clock skew), not in the latency figures.
    pub clock_skew: u64,
    /// What to be careful about when reading this report.
    pub warnings: Vec<String>,
    /// The senders' reports, in join order.
    pub sender_reports: Vec<SenderReport>,
    /// The receiver's report.
    pub receiver_report: ReceiverReport,
}

fn rate(count: u64, ns: u64) -> f64 {
    if ns == 0 { 0.0 } else { count as f64 * 1e9 / ns as f64 }
}

impl CombinedReport {
    /// Combines a finished remote run.
    pub fn from_run(run: &RemoteRun) -> CombinedReport {
        let mut senders = run.result.sender_reports.clone();
        if senders.is_empty() {
            // The server lost our `done` somehow; our own figures are still true.
            senders.push(run.sender.clone());
        }
        CombinedReport::build(
            &run.result.run_id,
            &run.server.to_string(),
            &run.data_addr.to_string(),
            run.result.senders,
            run.ready.same_host,
            &senders,
            &run.result.receiver,
        )
    }

    /// Combines sender reports and a receiver report.
    pub fn build(
        run_id: &str,
        server: &str,
        data_addr: &str,
        senders: u32,
        same_host: bool,
        sender_reports: &[SenderReport],
        receiver: &ReceiverReport,
    ) -> CombinedReport {
        let r = &receiver.summary;
        // Saturating: a peer's report may claim anything, and a wrapped sum would print a small,
        // plausible total.
        let total = |f: fn(&SenderReport) -> u64| -> u64 {
            sender_reports.iter().map(f).fold(0u64, u64::saturating_add)
        };
        let sent = total(|s| s.summary.sent);
        let sent_bytes = total(|s| s.summary.bytes);
        let send_errors = total(|s| s.summary.send_errors);
        let sent_pps =
            sender_reports.iter().map(|s| rate(s.summary.sent, s.summary.elapsed_ns)).sum();
        // The senders' flood time: the receiver's own run also spans the hand-shake and the
        // drain, which would understate its rate.
        let flood_ns = sender_reports
            .iter()
            .map(|s| s.summary.elapsed_ns)
            .max()
            .filter(|&ns| ns > 0)
            .unwrap_or(r.elapsed_ns);
        let clock = sender_reports.first().map(|s| s.summary.clock).unwrap_or(r.clock);
        let lost = sent.saturating_sub(r.received);
        let mut warnings = Vec::new();
        let reported = sender_reports.len() as u32;
        if reported < senders {
            warnings.push(format!(
                "only {reported} of {senders} senders reported: sent and lost are incomplete"
            ));
        }
        if sender_reports.iter().any(|s| s.summary.clock != r.clock) {
            warnings.push(format!(
                "senders and receiver used different clocks (receiver: {}): latency is meaningless",
                r.clock
            ));
        }
        let mut latency = r.latency;
        if clock == Clock::Monotonic && !same_host {
            latency = None;
            warnings.push(
                "latency omitted: CLOCK_MONOTONIC is not comparable across hosts; use the \
                 realtime clock with synchronised clocks (chrony/PTP)"
                    .into(),
            );
        } else if clock == Clock::Realtime && !same_host {
            warnings.push(
                "cross-host one-way latency is only as good as the clock synchronisation \
                 (chrony/PTP)"
                    .into(),
            );
        }
        if r.clock_skew > 0 {
            warnings.push(format!(
                "{} datagrams had a negative one-way latency (clock skew) and are not in the \
                 latency figures; cross-host latency needs synchronised clocks (chrony/PTP)",
                r.clock_skew
            ));
        }
        if r.truncated > 0 {
            warnings.push(format!(
                "{} datagrams were cut by the receiver's buffer or too short for a probe header; \
                 ask for a larger buffer_size (udpflood --server raises it to the datagram size)",
                r.truncated
            ));
        }
        if r.received > sent {
            warnings.push(format!(
                "the receiver counted {} more datagrams than were sent (another sender on the \
                 data port?)",
                r.received - sent
            ));
        }
        CombinedReport {
            report_version: REPORT_VERSION,
            protocol_version: PROTOCOL_VERSION,
            run_id: escape_limited(run_id, 2 * MAX_RUN_ID_LEN),
            server: server.to_string(),
            data_addr: data_addr.to_string(),
            senders,
            senders_reported: reported,
            clock,
            same_host,
            sent,
            sent_bytes,
            send_errors,
            sent_pps,
            received: r.received,
            datagrams: r.datagrams,
            received_bytes: r.bytes,
            received_pps: rate(r.received, flood_ns),
            lost,
            loss_ratio: if sent == 0 { 0.0 } else { lost as f64 / sent as f64 },
            seq_lost: r.seq_lost,
            reordered: r.reordered,
            duplicates: r.duplicates,
            foreign: r.foreign,
            truncated: r.truncated,
            kernel_drops: r.kernel_drops,
            latency,
            clock_skew: r.clock_skew,
            warnings,
            sender_reports: sender_reports.to_vec(),
            receiver_report: receiver.clone(),
        }
    }

    /// A terminal summary, iperf3 style.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "run {} — {} sender(s) → {} (control {})",
            self.run_id, self.senders, self.data_addr, self.server
        );
        let _ = writeln!(
            s,
            "  sent      {:>14} datagrams {:>14} bytes {:>12.0} pps  ({} send errors)",
            self.sent, self.sent_bytes, self.sent_pps, self.send_errors
        );
        let _ = writeln!(
            s,
            "  received  {:>14} datagrams {:>14} bytes {:>12.0} pps",
            self.received, self.received_bytes, self.received_pps
        );
        let _ = writeln!(
            s,
            "  lost      {:>14} ({:.4}%)   sequence gaps {}  reordered {}  duplicates {}  \
             foreign {}  truncated {}  kernel drops {}",
            self.lost,
            self.loss_ratio * 100.0,
            self.seq_lost,
            self.reordered,
            self.duplicates,
            self.foreign,
            self.truncated,
            self.kernel_drops
        );
        match &self.latency {
            Some(l) => {
                let _ = writeln!(
                    s,
                    "  latency   ({} clock, {} samples) min {:.1} µs  p50 {:.1} µs  p99 {:.1} µs  \
                     p99.9 {:.1} µs  max {:.1} µs",
                    self.clock,
                    l.samples,
                    l.min_ns as f64 / 1e3,
                    l.p50_ns as f64 / 1e3,
                    l.p99_ns as f64 / 1e3,
                    l.p999_ns as f64 / 1e3,
                    l.max_ns as f64 / 1e3
                );
            }
            None => {
                let _ = writeln!(s, "  latency   n/a ({} clock)", self.clock);
            }
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{ReceiverSummary, SenderSummary};

    fn sender(sent: u64, clock: Clock) -> SenderReport {
        SenderReport {
            summary: SenderSummary {
                sent,
                bytes: sent * 18,
                send_errors: 0,
                elapsed_ns: 1_000_000_000,
                flows: 1,
                flow_base: 0,
                clock,
            },
            detail: serde_json::Value::Null,
        }
    }

    fn receiver(received: u64, clock: Clock, skew: u64) -> ReceiverReport {
        ReceiverReport {
            summary: ReceiverSummary {
                datagrams: received,
                received,
                bytes: received * 18,
                foreign: 0,
                truncated: 0,
                seq_lost: 0,
                reordered: 0,
                duplicates: 0,
                kernel_drops: 0,
                elapsed_ns: 2_000_000_000,
                clock,
                latency: Some(LatencySummary {
                    samples: received,
                    min_ns: 1,
                    p50_ns: 2,
                    p99_ns: 3,
                    p999_ns: 4,
                    max_ns: 5,
                    mean_ns: 2.0,
                }),
                clock_skew: skew,
            },
            detail: serde_json::Value::Null,
        }
    }

    fn build(same_host: bool, s: &[SenderReport], r: &ReceiverReport, n: u32) -> CombinedReport {
        CombinedReport::build("r", "s", "d", n, same_host, s, r)
    }

    #[test]
    fn sums_senders_and_computes_loss() {
        let s = [sender(600, Clock::Monotonic), sender(400, Clock::Monotonic)];
        let c = build(true, &s, &receiver(900, Clock::Monotonic, 0), 2);
        assert_eq!((c.sent, c.received, c.lost), (1000, 900, 100));
        assert!((c.loss_ratio - 0.1).abs() < 1e-12);
        assert!((c.sent_pps - 1000.0).abs() < 1e-9);
        assert!((c.received_pps - 900.0).abs() < 1e-9, "over the flood time, not the run's");
        assert!(c.latency.is_some());
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    /// Forged sender reports cannot wrap the totals (issue 25 row 8): sums saturate, as
    /// `SeqCounts::add` does.
    #[test]
    fn sender_totals_saturate() {
        let huge = |n: u64| {
            let mut s = sender(0, Clock::Monotonic);
            (s.summary.sent, s.summary.bytes, s.summary.send_errors) = (n, n, n);
            s
        };
        let s = [huge((1 << 63) + 5), huge((1 << 63) + 5)];
        let c = build(true, &s, &receiver(10, Clock::Monotonic, 0), 2);
        assert_eq!((c.sent, c.sent_bytes, c.send_errors), (u64::MAX, u64::MAX, u64::MAX));
        assert_eq!(c.lost, u64::MAX - 10);
        assert!(c.to_text().contains(&u64::MAX.to_string()), "{}", c.to_text());
    }

    #[test]
    fn monotonic_across_hosts_omits_latency() {
        let c =
            build(false, &[sender(10, Clock::Monotonic)], &receiver(10, Clock::Monotonic, 0), 1);
        assert!(c.latency.is_none());
        assert!(c.warnings.iter().any(|w| w.contains("CLOCK_MONOTONIC")), "{:?}", c.warnings);
    }

    #[test]
    fn realtime_across_hosts_warns_and_flags_skew() {
        let c = build(false, &[sender(10, Clock::Realtime)], &receiver(10, Clock::Realtime, 3), 1);
        assert!(c.latency.is_some());
        assert_eq!(c.clock_skew, 3);
        assert!(c.warnings.iter().any(|w| w.contains("3 datagrams had a negative")));
        assert!(c.warnings.iter().all(|w| w.contains("chrony/PTP")), "{:?}", c.warnings);
        assert!(c.to_text().contains("warning: 3 datagrams"));
    }

    #[test]
    fn missing_senders_and_over_counting_are_warned() {
        let c = build(true, &[sender(10, Clock::Monotonic)], &receiver(15, Clock::Monotonic, 0), 2);
        assert_eq!(c.lost, 0);
        assert_eq!(c.senders_reported, 1);
        assert!(c.warnings.iter().any(|w| w.contains("only 1 of 2 senders")));
        assert!(c.warnings.iter().any(|w| w.contains("5 more datagrams")));
        let mixed =
            build(true, &[sender(10, Clock::Realtime)], &receiver(10, Clock::Monotonic, 0), 1);
        assert!(mixed.warnings.iter().any(|w| w.contains("different clocks")));
    }
}
