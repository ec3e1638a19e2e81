//! The run report: model, JSON (versioned schema `udprx-report/1`), merging, and the numbers
//! the benchmark harness reads.
//!
//! A [`Report`] is built from the threads' [`ThreadStats`] plus what the engine measured about
//! each thread ([`ThreadCost`]) with [`Report::from_threads`]; it serialises to JSON with every
//! histogram encoded exactly ([`HistData`]), so [`Report::merge`] of several reports gives the
//! same percentiles as one run over all the data. The JSON layout is documented in
//! `docs/json-schema.json` and checked by a test.

pub mod hist;
mod json;
mod merge;
pub mod percentiles;
pub mod render;
mod summary;

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

pub use hist::HistData;
pub use merge::merge_files;
pub use percentiles::Percentiles;
pub use summary::{Accounting, Summary};

use crate::kernel::{SoftnetDelta, UdpDelta};
use crate::stats::{FlowKey, MAX_SERIES, SeqCounts, StatsMode, ThreadStats};

/// The schema name and version every report carries in `schema`.
pub const SCHEMA: &str = "udprx-report/1";

/// Why a report could not be built, read or merged.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The JSON is not a report.
    #[error("{path}: not a udprx report: {source}")]
    Json {
        /// Where it came from.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The report has another schema or version.
    #[error("{path}: schema '{found}' is not {SCHEMA}")]
    Schema {
        /// Where it came from.
        path: String,
        /// What it said.
        found: String,
    },
    /// A histogram's encoding is corrupt.
    #[error("histogram: {0}")]
    Histogram(String),
    /// Nothing to merge.
    #[error("no reports to merge")]
    Empty,
    /// The file is larger than any report [`Report::read`] accepts.
    #[error("{path}: larger than {limit} bytes, the most a report may have")]
    TooLarge {
        /// The file.
        path: String,
        /// [`MAX_REPORT_BYTES`].
        limit: u64,
    },
    /// The report parses but holds a figure no run produces.
    #[error("{path}: not a plausible report: {reason}")]
    Implausible {
        /// Where it came from.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Largest report file [`Report::read`] (and so `udprx merge`) accepts: 64 MiB, so a merge of
/// untrusted files cannot make `udprx` read (and parse) without bound. Ordinary reports are a few
/// kB to a few MB.
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// What the receive engine measured about one thread, in plain values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadCost {
    /// Core the thread was pinned to, if pinned.
    pub cpu: Option<usize>,
    /// User CPU time of the thread, ns.
    pub cpu_user_ns: u64,
    /// System CPU time of the thread, ns.
    pub cpu_sys_ns: u64,
    /// Final SO_RXQ_OVFL drop count of the thread's socket.
    pub kernel_drops: u64,
    /// Receive calls (or completion batches) that returned data: the thread's wake-ups.
    pub batches: u64,
    /// Method `epoll`: `epoll_wait` calls that returned with the socket readable (0 otherwise).
    pub epoll_wakeups: u64,
}

/// Counters over the whole report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Datagrams received, GRO segments counted one by one, foreign and truncated included.
    pub datagrams: u64,
    /// Payload bytes received, each datagram by its real length on the wire (a datagram cut
    /// by the kernel counts whole, identically for every receive method).
    pub bytes: u64,
    /// Datagrams that are not ours (bad magic or version), neither cut nor too short.
    pub foreign: u64,
    /// Datagrams cut by the kernel (larger than the receive buffer: MSG_TRUNC), whatever they
    /// hold, plus datagrams too short for the probe header. Never also counted foreign.
    pub truncated: u64,
    /// Of `truncated`, the cut datagrams whose probe header was whole: these are also
    /// sequence-tracked and timed (in `received`), so a too-small buffer shows here rather than
    /// as loss. `datagrams = received + duplicates + seq_anomalies + untracked + foreign +
    /// truncated - truncated_probes`.
    #[serde(default)]
    pub truncated_probes: u64,
    /// Distinct probe datagrams received (sum over flows; in minimal mode datagrams − foreign −
    /// truncated + truncated_probes).
    pub received: u64,
    /// Sequence numbers missing at the end of the run.
    pub lost: u64,
    /// Late arrivals (reorder).
    pub reordered: u64,
    /// Of `reordered`, those older than the sequence window.
    pub late: u64,
    /// Duplicate datagrams.
    pub duplicates: u64,
    /// Datagrams of flows beyond the run's flow budget (or a thread's flow-table cap): counted
    /// here, not sequence-tracked, nothing allocated for them.
    pub untracked: u64,
    /// Most flows the run could track over all its threads (the flow budget; summed over
    /// merged reports). 0 in reports written before the budget existed.
    #[serde(default)]
    pub flow_budget: u64,
    /// Datagrams discarded as implausible sequence jumps: farther from their flow's expected
    /// number than the window and not confirmed by following datagrams. Neither received nor
    /// lost.
    #[serde(default)]
    pub seq_anomalies: u64,
    /// Confirmed sequence restarts (jumps beyond 2^20 that following datagrams continued): a new
    /// epoch of the flow, with nothing counted lost for the jump.
    #[serde(default)]
    pub seq_restarts: u64,
    /// Datagrams whose send stamp `tx_ns` is implausible (zero, more than 60 s old, or more than
    /// 60 s in the future): not recorded as latency.
    #[serde(default)]
    pub clock_anomalies: u64,
    /// Flows seen.
    pub flows: u64,
    /// Kernel drops on the receive sockets (SO_RXQ_OVFL), summed.
    pub kernel_drops: u64,
    /// Datagrams whose one-way latency came out negative (clocks not comparable).
    pub clock_skew: u64,
    /// User CPU of the receive threads, ns.
    pub cpu_user_ns: u64,
    /// System CPU of the receive threads, ns.
    pub cpu_sys_ns: u64,
    /// (user + sys) / datagrams, ns.
    pub cpu_ns_per_datagram: Option<f64>,
    /// datagrams / elapsed.
    pub pps_mean: f64,
    /// Payload Mbit/s over elapsed.
    pub mbit_s_mean: f64,
}

/// Received datagrams per interval.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RateReport {
    /// Interval length, s.
    pub interval_s: f64,
    /// Datagrams per interval over the whole receiver, first to last interval with traffic.
    pub series: Vec<u64>,
    /// Histogram of interval rates (pps), without the partial first and last intervals when
    /// there are at least three.
    pub pps: Option<HistData>,
}

/// Latency histograms (ns).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencyReport {
    /// Clock of the senders' stamps: "monotonic", "realtime", "mixed", or null with no data.
    pub clock: Option<String>,
    /// Application receive − send.
    pub one_way: Option<HistData>,
    /// Kernel receive − send (kernel timestamps).
    pub tx_to_kernel: Option<HistData>,
    /// Application receive − kernel receive (socket queueing).
    pub kernel_to_app: Option<HistData>,
}

/// One receive thread (socket).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThreadReport {
    /// Which input report it came from (0 unless merged).
    pub report: u64,
    /// Socket index.
    pub socket: u64,
    /// Core the thread was pinned to, if pinned.
    pub cpu: Option<u64>,
    /// Datagrams received.
    pub datagrams: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Foreign datagrams.
    pub foreign: u64,
    /// Truncated datagrams.
    pub truncated: u64,
    /// Fraction of all datagrams this socket received (fan-out balance).
    pub share: f64,
    /// Kernel drops of its socket: SO_RXQ_OVFL, SO_MEMINFO (lean) or /proc/net/udp at the end.
    pub kernel_drops: u64,
    /// User CPU, ns.
    pub cpu_user_ns: u64,
    /// System CPU, ns.
    pub cpu_sys_ns: u64,
    /// (user + sys) / datagrams, ns.
    pub cpu_ns_per_datagram: Option<f64>,
    /// Receive calls (or io_uring completion batches) that returned data.
    #[serde(default)]
    pub batches: u64,
    /// Datagrams per such call: how much each wake-up amortised (1.0 = one per wake-up).
    #[serde(default)]
    pub datagrams_per_batch: Option<f64>,
    /// Method `epoll`: `epoll_wait` wake-ups with the socket readable (absent for the other
    /// methods and when there was none; `batches` / `epoll_wakeups` is how many batches each
    /// wake-up drained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoll_wakeups: Option<u64>,
    /// Interval rates of this socket (pps).
    pub pps: Option<HistData>,
}

/// One flow: (source address, sender id, flow id).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlowReport {
    /// Sender address, `ip:port`, or `-` when the receiver did not read source addresses.
    pub source: String,
    /// Sender id from the probe header (0: a version 1 header, or a report from before).
    #[serde(default)]
    pub sender: u16,
    /// Flow id from the header.
    pub flow: u8,
    /// Distinct datagrams received, loss, reorder, duplicates and sequence anomalies (the JSON
    /// keeps them at this level).
    #[serde(flatten)]
    pub counts: SeqCounts,
    /// First sequence number seen.
    pub first_seq: u64,
    /// Highest sequence number seen.
    pub last_seq: u64,
}

/// A receive run's report (or several merged).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// How the run was set up (method, fan-out, address, kernel settings...), free-form.
    pub setup: serde_json::Value,
    /// What was measured.
    pub mode: StatsMode,
    /// Number of runs merged into this report (1 for a single run).
    pub runs: u64,
    /// Wall time of the run, s (summed over merged runs, the longest for parallel receivers).
    pub elapsed_s: f64,
    /// Datagrams the sender(s) sent, when known (bench harness, two-host runs).
    pub sent: Option<u64>,
    /// Counters.
    pub totals: Totals,
    /// Interval rates.
    pub rate: RateReport,
    /// Latency.
    pub latency: LatencyReport,
    /// Per receive thread.
    pub threads: Vec<ThreadReport>,
    /// Per flow, sorted by source and flow id.
    pub flows: Vec<FlowReport>,
    /// Deltas of the namespace's UDP counters over the run.
    pub kernel: Option<UdpDelta>,
    /// Deltas of the host's per-CPU backlog counters (`/proc/net/softnet_stat`) over the run,
    /// when the caller sampled them (set the field after [`Report::from_threads`]).
    pub softnet: Option<SoftnetDelta>,
    /// Things a reader must know (clock caveats, untracked flows...).
    pub warnings: Vec<String>,
}

/// How [`Report::merge`] combines reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Combine {
    /// Several runs one after another: elapsed times add up, interval rates are pooled.
    #[default]
    Runs,
    /// Several receivers running at the same time: elapsed is the longest, interval series are
    /// summed interval by interval (aligned at their first interval) before rates are taken.
    Parallel,
}

fn rate_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 1 << 40, 3).expect("constant bounds are valid");
    h.auto(true);
    h
}

/// The interval-rate histogram of a series of per-interval counts: zeros at either end are
/// dropped, and when three or more intervals remain the first and last (partial) ones too.
pub fn rates_of(series: &[u64], interval_ns: u64) -> Option<Histogram<u64>> {
    let start = series.iter().position(|&x| x > 0)?;
    let end = series.iter().rposition(|&x| x > 0)? + 1;
    let mut s = &series[start..end];
    if s.len() >= 3 {
        s = &s[1..s.len() - 1];
    }
    let mut h = rate_histogram();
    for &n in s {
        let pps = (n as u128 * 1_000_000_000 / interval_ns.max(1) as u128) as u64;
        h.saturating_record(pps);
    }
    Some(h)
}

fn per_datagram(cpu: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| cpu as f64 / n as f64)
}

fn add_hist(acc: &mut Option<Histogram<u64>>, h: &Histogram<u64>) {
    if h.is_empty() {
        return;
    }
    match acc {
        Some(a) => {
            let _ = a.add(h);
        }
        None => *acc = Some(h.clone()),
    }
}

fn clock_name(mono: u64, real: u64) -> Option<String> {
    match (mono > 0, real > 0) {
        (true, true) => Some("mixed".into()),
        (true, false) => Some("monotonic".into()),
        (false, true) => Some("realtime".into()),
        (false, false) => None,
    }
}

const REALTIME_WARNING: &str = "one-way latency uses CLOCK_REALTIME stamps: across hosts it is only as good as the clocks' synchronisation (chrony/PTP)";

impl Report {
    /// Builds the report of one run from each thread's statistics and costs.
    ///
    /// `kernel` is the namespace's UDP counter delta over the run, `setup` describes the run,
    /// `elapsed` is its wall time.
    pub fn from_threads(
        threads: Vec<(ThreadStats, ThreadCost)>,
        kernel: Option<UdpDelta>,
        setup: serde_json::Value,
        elapsed: Duration,
    ) -> Report {
        let elapsed_s = elapsed.as_secs_f64();
        let mode = threads.first().map(|(t, _)| t.mode).unwrap_or_default();
        let interval_ns = threads.first().map(|(t, _)| t.interval_ns).unwrap_or(1_000_000_000);
        let mut t = Totals::default();
        let mut one_way = None;
        let mut tx_k = None;
        let mut k_app = None;
        let (mut mono, mut real) = (0, 0);
        let mut flows: BTreeMap<FlowKey, FlowReport> = BTreeMap::new();
        let first = threads
            .iter()
            .filter(|(s, _)| !s.series.is_empty())
            .map(|(s, _)| s.first_interval)
            .min();
        let mut series: Vec<u64> = Vec::new();
        let mut series_dropped = 0u64;
        let mut thread_reports = Vec::new();
        for (s, c) in &threads {
            series_dropped = series_dropped.max(s.series_dropped);
            let drops = c.kernel_drops.max(s.kernel_drops.unwrap_or(0));
            sat(&mut t.datagrams, s.datagrams);
            sat(&mut t.bytes, s.bytes);
            sat(&mut t.foreign, s.foreign);
            sat(&mut t.truncated, s.truncated);
            sat(&mut t.truncated_probes, s.truncated_probes);
            sat(&mut t.kernel_drops, drops);
            sat(&mut t.untracked, s.untracked_datagrams);
            t.flow_budget = t.flow_budget.max(s.flow_budget);
            sat(&mut t.clock_anomalies, s.latency.clock_anomalies);
            sat(&mut t.cpu_user_ns, c.cpu_user_ns);
            sat(&mut t.cpu_sys_ns, c.cpu_sys_ns);
            sat(&mut t.clock_skew, s.latency.clock_skew);
            sat(&mut mono, s.latency.monotonic);
            sat(&mut real, s.latency.realtime);
            add_hist(&mut one_way, &s.latency.one_way);
            add_hist(&mut tx_k, &s.latency.tx_to_kernel);
            add_hist(&mut k_app, &s.latency.kernel_to_app);
            for f in &s.flows {
                let e = flows.entry(f.key).or_insert_with(|| FlowReport {
                    source: if f.key.source.port() == 0 && f.key.source.ip().is_unspecified() {
                        "-".to_string()
                    } else {
                        f.key.source.to_string()
                    },
                    sender: f.key.sender,
                    flow: f.key.flow,
                    first_seq: f.first_seq,
                    last_seq: f.last_seq,
                    ..FlowReport::default()
                });
                e.counts.add(&f.counts);
                e.first_seq = e.first_seq.min(f.first_seq);
                e.last_seq = e.last_seq.max(f.last_seq);
            }
            if let Some(first) = first
                && !s.series.is_empty()
            {
                // Threads whose traffic started much later than the first's would stretch the
                // combined series: it keeps the same cap as each thread's.
                let off = (s.first_interval - first).min(MAX_SERIES as u64) as usize;
                let end = (off + s.series.len()).min(MAX_SERIES);
                if end - off < s.series.len() {
                    series_dropped = series_dropped.max((off + s.series.len() - end) as u64);
                }
                if series.len() < end {
                    series.resize(end, 0);
                }
                for (slot, &n) in series[off..end].iter_mut().zip(&s.series) {
                    *slot = slot.saturating_add(n);
                }
            }
            thread_reports.push(ThreadReport {
                report: 0,
                socket: s.socket as u64,
                cpu: c.cpu.map(|x| x as u64),
                datagrams: s.datagrams,
                bytes: s.bytes,
                foreign: s.foreign,
                truncated: s.truncated,
                share: 0.0,
                kernel_drops: drops,
                cpu_user_ns: c.cpu_user_ns,
                cpu_sys_ns: c.cpu_sys_ns,
                cpu_ns_per_datagram: per_datagram(
                    c.cpu_user_ns.saturating_add(c.cpu_sys_ns),
                    s.datagrams,
                ),
                batches: c.batches,
                datagrams_per_batch: (c.batches > 0).then(|| s.datagrams as f64 / c.batches as f64),
                epoll_wakeups: (c.epoll_wakeups > 0).then_some(c.epoll_wakeups),
                pps: rates_of(&s.series, s.interval_ns).map(|h| HistData::from_hist(&h)),
            });
        }
        let flows: Vec<FlowReport> = flows.into_values().collect();
        let mut warnings = Vec::new();
        if real > 0 {
            warnings.push(REALTIME_WARNING.to_string());
        }
        if series_dropped > 0 {
            warnings.push(format!(
                "the rate series keeps {MAX_SERIES} intervals: {series_dropped} later intervals \
                 are in the totals but not in the interval rates (use a longer --interval)"
            ));
        }
        let latency = LatencyReport {
            clock: clock_name(mono, real),
            one_way: one_way.map(|h| HistData::from_hist(&h)),
            tx_to_kernel: tx_k.map(|h| HistData::from_hist(&h)),
            kernel_to_app: k_app.map(|h| HistData::from_hist(&h)),
        };
        let rate = RateReport {
            interval_s: interval_ns as f64 / 1e9,
            pps: rates_of(&series, interval_ns).map(|h| HistData::from_hist(&h)),
            series,
        };
        let mut r = Report {
            schema: SCHEMA.to_string(),
            setup,
            mode,
            runs: 1,
            elapsed_s,
            sent: None,
            totals: t,
            rate,
            latency,
            threads: thread_reports,
            flows,
            kernel,
            softnet: None,
            warnings,
        };
        r.finish_totals();
        r
    }

    /// Recomputes everything derived: flow sums, shares, per-datagram CPU, means, warnings.
    fn finish_totals(&mut self) {
        let t = &mut self.totals;
        t.flows = self.flows.len() as u64;
        let mut seq = SeqCounts::default();
        for f in &self.flows {
            seq.add(&f.counts);
        }
        t.received = match self.mode {
            StatsMode::Full => seq.received,
            StatsMode::Minimal => t.datagrams.saturating_sub(
                t.foreign.saturating_add(t.truncated.saturating_sub(t.truncated_probes)),
            ),
        };
        t.lost = seq.lost;
        t.reordered = seq.reordered;
        t.late = seq.late;
        t.duplicates = seq.duplicates;
        t.seq_anomalies = seq.seq_anomalies;
        t.seq_restarts = seq.seq_restarts;
        t.cpu_ns_per_datagram =
            per_datagram(t.cpu_user_ns.saturating_add(t.cpu_sys_ns), t.datagrams);
        if self.elapsed_s > 0.0 {
            t.pps_mean = t.datagrams as f64 / self.elapsed_s;
            t.mbit_s_mean = t.bytes as f64 * 8.0 / self.elapsed_s / 1e6;
        }
        for th in &mut self.threads {
            th.share = if t.datagrams > 0 { th.datagrams as f64 / t.datagrams as f64 } else { 0.0 };
        }
        let w = &mut self.warnings;
        let mut add = |s: String| {
            if !w.contains(&s) {
                w.push(s);
            }
        };
        if t.untracked > 0 {
            add(format!(
                "{} datagrams of flows beyond the flow budget ({} flows per run) were not sequence-tracked",
                t.untracked, t.flow_budget
            ));
        }
        if t.truncated_probes > 0 {
            add(format!(
                "{} probe datagrams were larger than the receive buffer and were cut (counted truncated, still sequence-tracked, bytes counted whole); raise --buffer-size",
                t.truncated_probes
            ));
        }
        if t.seq_anomalies > 0 || t.seq_restarts > 0 {
            add(format!(
                "{} datagrams jumped implausibly far in their flow's sequence and were discarded, {} flow sequence(s) restarted; the data port is unauthenticated (see docs/two-hosts.md)",
                t.seq_anomalies, t.seq_restarts
            ));
        }
        if t.clock_anomalies > 0 {
            add(format!(
                "{} datagrams carried an implausible send time (zero, over 60 s old or over 60 s ahead) and were not recorded as latency",
                t.clock_anomalies
            ));
        }
        if t.clock_skew > 0 {
            add(format!(
                "{} datagrams had a negative one-way latency (sender and receiver clocks differ) and were not recorded",
                t.clock_skew
            ));
        }
    }

    /// The final human-readable table.
    pub fn to_table(&self) -> String {
        render::table(self)
    }
}

/// `*acc += n`, saturating at `u64::MAX` instead of wrapping (forged or merged totals).
fn sat(acc: &mut u64, n: u64) {
    *acc = acc.saturating_add(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Report {
        Report::from_threads(Vec::new(), None, serde_json::Value::Null, Duration::from_secs(1))
    }

    #[test]
    fn accounting_never_wraps() {
        let mut r = empty();
        r.sent = Some(u64::MAX);
        let a = r.accounting();
        assert_eq!(a.lost_elsewhere, Some(i64::MAX));
        let text = a.to_string();
        assert!(text.ends_with(&format!("lost elsewhere {}", u64::MAX)), "{text}");
        r.sent = Some(0);
        r.totals.received = u64::MAX;
        r.totals.kernel_drops = u64::MAX;
        assert_eq!(r.accounting().lost_elsewhere, Some(i64::MIN));
        let text = r.accounting().to_string();
        assert!(text.ends_with(&format!("lost elsewhere -{}", 2 * u64::MAX as u128)), "{text}");
    }

    #[test]
    fn merge_saturates_and_refuses_impossible_times() {
        let mut r = empty();
        r.sent = Some(u64::MAX - 1);
        r.totals.datagrams = u64::MAX - 1;
        r.runs = u64::MAX;
        r.flows.push(FlowReport {
            counts: SeqCounts { received: u64::MAX, lost: u64::MAX, ..SeqCounts::default() },
            ..FlowReport::default()
        });
        let m = Report::merge(&[r.clone(), r.clone()], Combine::Runs).unwrap();
        assert_eq!((m.sent, m.totals.datagrams, m.runs), (Some(u64::MAX), u64::MAX, u64::MAX));
        assert_eq!((m.flows[0].counts.received, m.totals.lost), (u64::MAX, u64::MAX));
        let m = Report::merge(&[r.clone(), r.clone()], Combine::Parallel).unwrap();
        assert_eq!(m.totals.datagrams, u64::MAX);
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let mut b = empty();
            b.elapsed_s = bad;
            let e = Report::merge(&[b], Combine::Runs).unwrap_err();
            assert!(matches!(e, ReportError::Implausible { .. }), "{e}");
        }
        let mut b = empty();
        b.rate.interval_s = -1.0;
        assert!(Report::from_json(&b.to_json(), "x").is_err());
        assert!(Report::from_json(&empty().to_json(), "x").is_ok());
    }

    #[test]
    fn read_refuses_files_above_the_limit() {
        let p = std::env::temp_dir().join(format!("udprx-report-big-{}", std::process::id()));
        std::fs::File::create(&p).unwrap().set_len(MAX_REPORT_BYTES + 1).unwrap();
        let e = Report::read(&p).unwrap_err();
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(e, ReportError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("larger than"), "{e}");
    }
}
