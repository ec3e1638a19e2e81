//! Merging reports: several receivers of one run (parallel) or several runs (sequential) into
//! one report, histograms merged exactly.

use std::collections::BTreeMap;
use std::path::Path;

use super::{
    Combine, FlowReport, HistData, LatencyReport, RateReport, Report, ReportError, SCHEMA,
    ThreadReport, Totals, rates_of, sat,
};
use crate::kernel::{SoftnetDelta, UdpDelta};
use crate::stats::{MAX_SERIES, StatsMode};

impl Report {
    /// Merges several reports (several receivers or several runs) into one: counters are summed,
    /// histograms merged exactly, flows combined by (source, flow id), threads listed with the
    /// index of the report they came from.
    pub fn merge(reports: &[Report], how: Combine) -> Result<Report, ReportError> {
        let first = reports.first().ok_or(ReportError::Empty)?;
        let interval_s = first.rate.interval_s;
        let mut t = Totals::default();
        let mut threads = Vec::new();
        let mut flows: BTreeMap<(String, u16, u8), FlowReport> = BTreeMap::new();
        let mut kernel: Option<UdpDelta> = None;
        let mut softnet: Option<SoftnetDelta> = None;
        let mut warnings: Vec<String> = Vec::new();
        let mut elapsed = 0.0f64;
        let mut series: Vec<u64> = Vec::new();
        let mut series_dropped = 0u64;
        let mut sent = Some(0u64);
        let mut clocks: Vec<&str> = Vec::new();
        let mut runs = 0;
        for (i, r) in reports.iter().enumerate() {
            r.check(&format!("report {}", i + 1))?;
            sat(&mut runs, r.runs);
            elapsed = match how {
                Combine::Runs => elapsed + r.elapsed_s,
                Combine::Parallel => elapsed.max(r.elapsed_s),
            };
            sent = sent.zip(r.sent).map(|(a, b)| a.saturating_add(b));
            let o = &r.totals;
            sat(&mut t.datagrams, o.datagrams);
            sat(&mut t.bytes, o.bytes);
            sat(&mut t.foreign, o.foreign);
            sat(&mut t.truncated, o.truncated);
            sat(&mut t.truncated_probes, o.truncated_probes);
            sat(&mut t.untracked, o.untracked);
            sat(&mut t.flow_budget, o.flow_budget);
            sat(&mut t.clock_anomalies, o.clock_anomalies);
            sat(&mut t.kernel_drops, o.kernel_drops);
            sat(&mut t.clock_skew, o.clock_skew);
            sat(&mut t.cpu_user_ns, o.cpu_user_ns);
            sat(&mut t.cpu_sys_ns, o.cpu_sys_ns);
            for th in &r.threads {
                threads.push(ThreadReport { report: i as u64, ..th.clone() });
            }
            for f in &r.flows {
                let e = flows.entry((f.source.clone(), f.sender, f.flow)).or_insert_with(|| {
                    FlowReport {
                        source: f.source.clone(),
                        sender: f.sender,
                        flow: f.flow,
                        first_seq: f.first_seq,
                        last_seq: f.last_seq,
                        ..FlowReport::default()
                    }
                });
                e.counts.add(&f.counts);
                e.first_seq = e.first_seq.min(f.first_seq);
                e.last_seq = e.last_seq.max(f.last_seq);
            }
            if let Some(k) = &r.kernel {
                kernel.get_or_insert_with(UdpDelta::default).add(k);
            }
            if let Some(k) = &r.softnet {
                softnet.get_or_insert_with(SoftnetDelta::default).add(k);
            }
            for w in &r.warnings {
                if !warnings.contains(w) {
                    warnings.push(w.clone());
                }
            }
            if let Some(c) = r.latency.clock.as_deref()
                && !clocks.contains(&c)
            {
                clocks.push(c);
            }
            // The merged series keeps the same cap as a run's.
            match how {
                Combine::Runs => {
                    let room = MAX_SERIES.saturating_sub(series.len()).min(r.rate.series.len());
                    series.extend_from_slice(&r.rate.series[..room]);
                    series_dropped += (r.rate.series.len() - room) as u64;
                }
                Combine::Parallel => {
                    let len = r.rate.series.len().min(MAX_SERIES);
                    series_dropped = series_dropped.max((r.rate.series.len() - len) as u64);
                    if series.len() < len {
                        series.resize(len, 0);
                    }
                    for (slot, &n) in series.iter_mut().zip(&r.rate.series[..len]) {
                        *slot = slot.saturating_add(n);
                    }
                }
            }
        }
        let pps = match how {
            Combine::Runs => HistData::merge(reports.iter().filter_map(|r| r.rate.pps.as_ref()))?,
            Combine::Parallel => {
                rates_of(&series, (interval_s * 1e9) as u64).map(|h| HistData::from_hist(&h))
            }
        };
        let lat = |f: fn(&LatencyReport) -> Option<&HistData>| {
            HistData::merge(reports.iter().filter_map(|r| f(&r.latency)))
        };
        let latency = LatencyReport {
            clock: match clocks.as_slice() {
                [] => None,
                [one] => Some(one.to_string()),
                _ => Some("mixed".into()),
            },
            one_way: lat(|l| l.one_way.as_ref())?,
            tx_to_kernel: lat(|l| l.tx_to_kernel.as_ref())?,
            kernel_to_app: lat(|l| l.kernel_to_app.as_ref())?,
        };
        let same_setup = reports.iter().all(|r| r.setup == first.setup);
        let setup = if same_setup {
            first.setup.clone()
        } else {
            serde_json::json!({ "merged": reports.iter().map(|r| r.setup.clone()).collect::<Vec<_>>() })
        };
        let mode = if reports.iter().all(|r| r.mode == StatsMode::Full) {
            StatsMode::Full
        } else {
            StatsMode::Minimal
        };
        let mut out = Report {
            schema: SCHEMA.to_string(),
            setup,
            mode,
            runs,
            elapsed_s: elapsed,
            sent,
            totals: t,
            rate: RateReport { interval_s, series, pps },
            latency,
            threads,
            flows: flows.into_values().collect(),
            kernel,
            softnet,
            warnings,
        };
        if series_dropped > 0 {
            out.warnings.push(format!(
                "the merged rate series keeps {MAX_SERIES} intervals: {series_dropped} more are \
                 in the totals but not in the series"
            ));
        }
        out.finish_totals();
        // Each report's own count of distinct datagrams (flows summed in full mode).
        out.totals.received = reports.iter().fold(0u64, |a, r| a.saturating_add(r.totals.received));
        Ok(out)
    }
}

/// Reads and merges report files (see [`Report::merge`]).
pub fn merge_files<P: AsRef<Path>>(paths: &[P], how: Combine) -> Result<Report, ReportError> {
    let reports = paths.iter().map(|p| Report::read(p.as_ref())).collect::<Result<Vec<_>, _>>()?;
    Report::merge(&reports, how)
}
