//! The fan-out sweep's figures, computed once from its runs: per fan-out and socket count the
//! aggregate peak and NDR (the series' own figures), the scaling efficiency rate(N) /
//! (N · rate(1)) against the one-socket path with a conservative interval, the ideal line
//! N · peak(1), and the per-socket share — max / mean of the datagrams each receive socket
//! counted (`receiver_report.threads[*].datagrams`, one engine thread per socket) — per trial,
//! summarised as a geometric mean with its 95% interval ([`interval::estimate`]). The Report's
//! notes get one line per point and per count that did not fit.

use crate::model::curve::Series;
use crate::model::sweep::{FanoutSweep, SweepPoint};
use crate::stats::interval::{self, Interval};
use crate::{Fanout, Receiver, Row};

/// rate(N) / (N · rate(1)) with the conservative interval (the extremes of the two intervals:
/// lo(N) / (N · hi(1)) … hi(N) / (N · lo(1))); `None` when rate(1) is not positive.
pub fn efficiency(one: &Interval, many: &Interval, n: usize) -> Option<Interval> {
    if one.est <= 0.0 || n == 0 {
        return None;
    }
    let n = n as f64;
    let lo = match (many.lo, one.hi) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / (n * b)),
        _ => None,
    };
    let hi = match (many.hi, one.lo) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / (n * b)),
        _ => None,
    };
    Some(Interval { est: many.est / (n * one.est), lo, hi, n: one.n.min(many.n) })
}

/// `r` with fan-out `f` (`None` for a peer row).
pub fn with_fanout(r: &Row, f: Fanout) -> Option<Row> {
    match r.receiver {
        Receiver::Udprx { method, gro, spin, sources, .. } => Some(Row {
            scenario: r.scenario,
            receiver: Receiver::Udprx { method, fanout: f, gro, spin, sources },
        }),
        Receiver::Peer { .. } => None,
    }
}

/// max / mean of the per-socket datagram counts of one trial's receiver report (`None`: no
/// per-thread counts, or nothing received).
pub fn trial_share(receiver_report: &serde_json::Value) -> Option<f64> {
    let counts: Vec<f64> = receiver_report["threads"]
        .as_array()?
        .iter()
        .filter_map(|t| t["datagrams"].as_u64())
        .map(|v| v as f64)
        .collect();
    if counts.is_empty() {
        return None;
    }
    let mean = counts.iter().sum::<f64>() / counts.len() as f64;
    let max = counts.iter().copied().fold(0.0, f64::max);
    (mean > 0.0).then(|| max / mean)
}

/// The per-socket share of a series over its measured, undisturbed trials.
fn series_share(s: &Series) -> (Option<Interval>, usize) {
    let shares: Vec<f64> = s
        .points
        .iter()
        .flat_map(|p| &p.trials)
        .chain(&s.search_trials)
        .filter_map(|t| t.usable())
        .filter_map(|r| trial_share(&r.receiver_report))
        .collect();
    (interval::estimate(&shares), shares.len())
}

/// Computes the runs' series figures, then fills `sweep.points` from them.
pub fn analyze(sweep: &mut FanoutSweep) {
    for run in &mut sweep.runs {
        let commons = run.curves.common_rates.clone();
        for s in &mut run.curves.series {
            let common = commons.iter().find(|(sc, _)| *sc == s.row.scenario).map(|(_, r)| *r);
            s.figures = crate::analysis::figures::figures(s, common);
        }
    }
    let mut points: Vec<SweepPoint> = Vec::new();
    for run in &sweep.runs {
        for s in &run.curves.series {
            let Receiver::Udprx { fanout, .. } = s.row.receiver else { continue };
            let base = with_fanout(&s.row, Fanout::One).unwrap_or(s.row);
            let (share, share_trials) = series_share(s);
            points.push(SweepPoint {
                scenario: s.row.scenario,
                fanout,
                label: s.label.clone(),
                base: base.label(1),
                sockets: run.sockets,
                peak: s.figures.peak,
                ndr: s.figures.ndr_est,
                peak_efficiency: None,
                ndr_efficiency: None,
                ideal_peak: None,
                share,
                share_trials,
            });
        }
    }
    let ones: Vec<SweepPoint> = points.iter().filter(|p| p.sockets == 1).cloned().collect();
    for p in points.iter_mut() {
        let Some(one) = ones.iter().find(|o| o.base == p.base) else { continue };
        p.ideal_peak = one.peak.map(|i| i.est * p.sockets as f64);
        if p.sockets == 1 {
            continue;
        }
        p.peak_efficiency = match (&one.peak, &p.peak) {
            (Some(a), Some(b)) => efficiency(a, b, p.sockets),
            _ => None,
        };
        p.ndr_efficiency = match (&one.ndr, &p.ndr) {
            (Some(a), Some(b)) => efficiency(a, b, p.sockets),
            _ => None,
        };
    }
    sweep.points = points;
}

/// The sweep in the report's notes: one line per point, one per count that did not fit.
pub fn notes(sweep: &FanoutSweep) -> Vec<String> {
    let iv = |i: &Option<Interval>, unit: &str| match i {
        None => "—".to_string(),
        Some(i) => {
            let f = |v: f64| match unit {
                "%" => format!("{:.0}%", v * 100.0),
                "x" => format!("{v:.2}"),
                _ => crate::text::kpps(v),
            };
            match (i.lo, i.hi) {
                (Some(lo), Some(hi)) => format!("{} [{}, {}]", f(i.est), f(lo), f(hi)),
                _ => format!("{} (n={})", f(i.est), i.n),
            }
        }
    };
    let mut out = Vec::new();
    for p in &sweep.points {
        if p.sockets == 1 {
            out.push(format!(
                "fan-out sweep, {} (1 socket, the baseline rate(1)): peak {} pps, NDR {} pps",
                p.label,
                iv(&p.peak, "pps"),
                iv(&p.ndr, "pps"),
            ));
            continue;
        }
        out.push(format!(
            "fan-out sweep, {} ({} sockets): aggregate peak {} pps, NDR {} pps; scaling \
             efficiency rate(N)/(N·rate(1)): peak {}, NDR {}; per-socket share (max/mean, 1 = \
             even) {} over {} trial(s)",
            p.label,
            p.sockets,
            iv(&p.peak, "pps"),
            iv(&p.ndr, "pps"),
            iv(&p.peak_efficiency, "%"),
            iv(&p.ndr_efficiency, "%"),
            iv(&p.share, "x"),
            p.share_trials,
        ));
    }
    if sweep.points.is_empty() && sweep.error.is_none() {
        out.push("fan-out sweep: no udprx path in the plan".into());
    }
    if let Some(e) = &sweep.error {
        out.push(format!("fan-out sweep failed: {e}"));
    }
    for nm in &sweep.not_measurable {
        out.push(format!("fan-out sweep: {}", nm.reason));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efficiency_interval_is_the_conservative_ratio() {
        let i = |est, lo, hi| Interval { est, lo: Some(lo), hi: Some(hi), n: 3 };
        let e = efficiency(&i(100.0, 90.0, 110.0), &i(300.0, 280.0, 320.0), 4).unwrap();
        assert!((e.est - 0.75).abs() < 1e-12);
        assert!((e.lo.unwrap() - 280.0 / 440.0).abs() < 1e-12);
        assert!((e.hi.unwrap() - 320.0 / 360.0).abs() < 1e-12);
        assert!(efficiency(&i(0.0, 0.0, 0.0), &i(1.0, 1.0, 1.0), 2).is_none());
    }

    #[test]
    fn share_is_max_over_mean_of_the_sockets() {
        let r = |counts: &[u64]| serde_json::json!({ "threads": counts.iter().map(|c| serde_json::json!({"datagrams": c})).collect::<Vec<_>>() });
        assert_eq!(trial_share(&r(&[100])), Some(1.0));
        assert_eq!(trial_share(&r(&[100, 100])), Some(1.0));
        assert_eq!(trial_share(&r(&[300, 100])), Some(1.5));
        assert_eq!(trial_share(&r(&[400, 0, 0, 0])), Some(4.0));
        assert_eq!(trial_share(&r(&[0, 0])), None);
        assert_eq!(trial_share(&serde_json::Value::Null), None);
    }
}
