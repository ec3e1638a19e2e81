//! The fan-out sweep (`--fanout sweep`, issue 22): the plan's udprx paths with one socket,
//! then with hash and by-CPU steering at 2, 4, … sockets, each count a full run of the curves
//! ([`crate::harness::curve::run_curves`]); aggregate peak and NDR against the socket count,
//! and the scaling efficiency rate(N) / (N · rate(1)) with a conservative interval (the
//! extremes of the two intervals: lo(N) / (N · hi(1)) … hi(N) / (N · lo(1))). Counts the host
//! cannot give a core each are reported as not measurable, not run.
//!
//! Wired by `udprx bench --fanout sweep` (after the curves; the sweep's lines are in the
//! report's Notes). Not yet: the per-socket share (max/mean) and a chart.

use crate::harness::curve::run_curves;
use crate::model::curve::{CurveConfig, CurveRun};
use crate::model::plan::{Plan, Progress};
use crate::stats::interval::Interval;
use crate::{Bench, Fanout, Receiver, Result, Row, Scenario};
use std::sync::atomic::AtomicBool;

/// The socket counts of a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    /// Counts to run: 1, 2, 4, … up to the receive cores.
    pub counts: Vec<usize>,
    /// Counts up to the host's cores that do not fit, with the reason.
    pub not_measurable: Vec<(usize, String)>,
}

/// 1, 2, 4, … up to `host_cores`: those ≤ `receive_cores` (a core per socket besides the
/// sender's) are run, the others reported as not measurable.
pub fn ladder(receive_cores: usize, host_cores: usize) -> Ladder {
    let mut counts = Vec::new();
    let mut not_measurable = Vec::new();
    let top = host_cores.max(receive_cores).max(1);
    let mut n = 1;
    while n <= top {
        if n <= receive_cores {
            counts.push(n);
        } else {
            not_measurable.push((
                n,
                format!(
                    "{n} sockets need {n} receive cores besides the sender's; this host has \
                     {receive_cores}: not measurable on this host"
                ),
            ));
        }
        n *= 2;
    }
    Ladder { counts, not_measurable }
}

/// One row of the sweep: a fan-out at a socket count.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    /// The traffic.
    pub scenario: Scenario,
    /// Steering (hash or by-CPU).
    pub fanout: Fanout,
    /// The series label at this count.
    pub label: String,
    /// The path with one socket (the baseline of the efficiency).
    pub base: Row,
    /// Sockets.
    pub sockets: usize,
    /// Aggregate peak received rate.
    pub peak: Option<Interval>,
    /// Aggregate NDR estimate.
    pub ndr: Option<Interval>,
    /// peak(N) / (N · peak(1)).
    pub peak_efficiency: Option<Interval>,
    /// NDR(N) / (N · NDR(1)).
    pub ndr_efficiency: Option<Interval>,
}

/// `r` with fan-out `f` (`None` for a peer row).
fn with_fanout(r: &Row, f: Fanout) -> Option<Row> {
    match r.receiver {
        Receiver::Udprx { method, gro, spin, lean, .. } => Some(Row {
            scenario: r.scenario,
            receiver: Receiver::Udprx { method, fanout: f, gro, spin, lean },
        }),
        Receiver::Peer { .. } => None,
    }
}

/// A finished sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// One point per fan-out row and socket count.
    pub points: Vec<SweepPoint>,
    /// The curve runs, one per socket count.
    pub runs: Vec<(usize, CurveRun)>,
}

/// rate(N) / (N · rate(1)) with the conservative interval; `None` when rate(1) is not positive.
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

/// Runs the plan's fan-out rows (hash, by-CPU) at every count of `ladder`, each count a run of
/// the curves, and derives the sweep.
pub fn run_sweep(
    plan: &Plan,
    cfg: &CurveConfig,
    ladder: &Ladder,
    bench: &mut dyn Bench,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<Sweep> {
    // The plan's udprx paths with one socket: the sweep's rate(1); at N ≥ 2 each of them with
    // hash and with by-CPU steering.
    let mut base: Vec<Row> = Vec::new();
    for r in &plan.rows {
        if let Some(b) = with_fanout(r, Fanout::One)
            && !base.contains(&b)
        {
            base.push(b);
        }
    }
    let mut runs = Vec::new();
    for &n in &ladder.counts {
        let rows: Vec<Row> = if n == 1 {
            base.clone()
        } else {
            base.iter()
                .flat_map(|r| [Fanout::Hash, Fanout::Cpu].map(|f| with_fanout(r, f)))
                .flatten()
                .collect()
        };
        let p = Plan { rows, sockets: n, ..plan.clone() };
        let run = run_curves(&p, cfg, bench, stop, progress)?;
        let interrupted = run.interrupted;
        runs.push((n, run));
        if interrupted {
            break;
        }
    }
    let mut points: Vec<SweepPoint> = Vec::new();
    for (n, run) in &runs {
        for s in &run.series {
            let Receiver::Udprx { fanout, .. } = s.row.receiver else { continue };
            points.push(SweepPoint {
                scenario: s.row.scenario,
                fanout,
                label: s.label.clone(),
                base: with_fanout(&s.row, Fanout::One).unwrap_or(s.row),
                sockets: *n,
                peak: s.figures.peak,
                ndr: s.figures.ndr_est,
                peak_efficiency: None,
                ndr_efficiency: None,
            });
        }
    }
    let ones: Vec<SweepPoint> = points.iter().filter(|p| p.sockets == 1).cloned().collect();
    for p in points.iter_mut().filter(|p| p.sockets > 1) {
        let Some(one) = ones.iter().find(|o| o.base == p.base) else {
            continue;
        };
        p.peak_efficiency = match (&one.peak, &p.peak) {
            (Some(a), Some(b)) => efficiency(a, b, p.sockets),
            _ => None,
        };
        p.ndr_efficiency = match (&one.ndr, &p.ndr) {
            (Some(a), Some(b)) => efficiency(a, b, p.sockets),
            _ => None,
        };
    }
    Ok(Sweep { points, runs })
}

/// Runs the sweep for `plan` on a host of `host_cores` usable cores (the receive cores are the
/// plan's fan-out cores) and describes it in report notes: one line per fan-out and count
/// (aggregate peak and NDR, scaling efficiencies with intervals), one per count that does not
/// fit. A failure of the sweep is one note; the run goes on.
pub fn run_into_notes(
    plan: &Plan,
    cfg: &CurveConfig,
    host_cores: usize,
    bench: &mut dyn Bench,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Vec<String> {
    let l = ladder(plan.receiver_cpus_many.len(), host_cores);
    let mut notes = Vec::new();
    match run_sweep(plan, cfg, &l, bench, stop, progress) {
        Ok(sw) => {
            let iv = |i: &Option<Interval>, pct: bool| match i {
                None => "—".to_string(),
                Some(i) => {
                    let f = |v: f64| {
                        if pct { format!("{:.0}%", v * 100.0) } else { crate::text::kpps(v) }
                    };
                    match (i.lo, i.hi) {
                        (Some(lo), Some(hi)) => format!("{} [{}, {}]", f(i.est), f(lo), f(hi)),
                        _ => f(i.est),
                    }
                }
            };
            for p in &sw.points {
                if p.sockets == 1 {
                    notes.push(format!(
                        "fan-out sweep, {} (1 socket, the baseline rate(1)): peak {} pps, NDR {} pps",
                        p.label,
                        iv(&p.peak, false),
                        iv(&p.ndr, false),
                    ));
                    continue;
                }
                notes.push(format!(
                    "fan-out sweep, {} ({} sockets): aggregate peak {} pps, NDR {} pps; scaling \
                     efficiency rate(N)/(N·rate(1)): peak {}, NDR {}; per-socket share \
                     (max/mean) not measured yet",
                    p.label,
                    p.sockets,
                    iv(&p.peak, false),
                    iv(&p.ndr, false),
                    iv(&p.peak_efficiency, true),
                    iv(&p.ndr_efficiency, true),
                ));
            }
            if sw.points.is_empty() {
                notes.push("fan-out sweep: no udprx path in the plan".into());
            }
        }
        Err(e) => notes.push(format!("fan-out sweep failed: {e}")),
    }
    for (_, why) in &l.not_measurable {
        notes.push(format!("fan-out sweep: {why}"));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::plan::{Selection, Size, rows};
    use crate::{CellResult, CellSpec, CpuSplit};

    #[test]
    fn ladder_runs_what_fits_and_names_the_rest() {
        let l = ladder(1, 2);
        assert_eq!(l.counts, vec![1]);
        assert_eq!(l.not_measurable.len(), 1);
        assert_eq!(l.not_measurable[0].0, 2);
        assert!(l.not_measurable[0].1.contains("not measurable"));
        let l = ladder(7, 8);
        assert_eq!(l.counts, vec![1, 2, 4]);
        assert_eq!(l.not_measurable.iter().map(|x| x.0).collect::<Vec<_>>(), vec![8]);
    }

    #[test]
    fn efficiency_interval_is_the_conservative_ratio() {
        let i = |est, lo, hi| Interval { est, lo: Some(lo), hi: Some(hi), n: 3 };
        let e = efficiency(&i(100.0, 90.0, 110.0), &i(300.0, 280.0, 320.0), 4).unwrap();
        assert!((e.est - 0.75).abs() < 1e-12);
        assert!((e.lo.unwrap() - 280.0 / 440.0).abs() < 1e-12);
        assert!((e.hi.unwrap() - 320.0 / 360.0).abs() < 1e-12);
        assert!(efficiency(&i(0.0, 0.0, 0.0), &i(1.0, 1.0, 1.0), 2).is_none());
    }

    /// A receiver whose capacity grows with the socket count: 100k pps per socket with hash
    /// steering at 80% efficiency past one socket, by-CPU at 100%; nothing is lost below it.
    struct Scaling {
        sockets_seen: Vec<usize>,
    }

    fn capacity_of(fanout: Fanout, sockets: usize) -> f64 {
        let n = sockets as f64;
        if fanout == Fanout::Hash && sockets > 1 { 100_000.0 * n * 0.8 } else { 100_000.0 * n }
    }

    fn capacity(spec: &CellSpec) -> f64 {
        match spec.row.receiver {
            Receiver::Udprx { fanout, .. } => capacity_of(fanout, spec.sockets),
            Receiver::Peer { .. } => 0.0,
        }
    }

    impl Bench for Scaling {
        fn enter_setting(&mut self, _index: usize) -> Result<()> {
            Ok(())
        }
        fn run_cell(&mut self, spec: &CellSpec) -> Result<CellResult> {
            self.sockets_seen.push(spec.sockets);
            let offered = spec.rate.map_or(2_000_000.0, |r| r as f64);
            let got = offered.min(capacity(spec));
            let sent = (offered * spec.secs) as u64;
            let received = ((got * spec.secs) as u64).min(sent);
            Ok(CellResult {
                sent,
                received,
                lost: sent - received,
                sent_pps: offered,
                rx_pps: received as f64 / spec.secs,
                cpu: CpuSplit { app_ns_per_dgram: 1000.0, ..CpuSplit::default() },
                ..CellResult::default()
            })
        }
    }

    #[test]
    fn a_fake_that_scales_gives_the_efficiencies_it_was_built_with() {
        let sel = Selection {
            xdp: false,
            // The default size keeps the by-CPU rows (quick keeps hash only).
            size: Size::Default,
            methods: vec![crate::Method::Recvmmsg],
            fanouts: vec![Fanout::One, Fanout::Hash, Fanout::Cpu],
            scenarios: vec![Scenario::Classic],
            gro_everywhere: false,
            spin: false,
            peers: vec![],
            lean: vec![],
        };
        let plan = Plan {
            rows: rows(&sel),
            skipped: vec![],
            settings: vec!["current".into()],
            sockopts: vec![crate::SockOpts::default()],
            sockets: 1,
            sender_cpus: vec![0],
            receiver_cpus_one: vec![1],
            receiver_cpus_many: vec![1, 2, 3, 4],
        };
        let cfg = CurveConfig {
            fractions: vec![0.125, 0.177, 0.25, 0.354, 0.5, 0.707, 1.0],
            fixed: None,
            max_rate: None,
            trial_secs: 1.0,
            final_secs: 1.0,
            refine: 2,
            min_reps: 3,
            max_reps: 3,
            ci_target: 0.05,
            budget_secs: 3600.0,
            search_trials: 8,
            search_reps: 1,
            resolution: 0.03,
            latency_at: None,
            noise: crate::lab::noise::Thresholds::default(),
        };
        let l = ladder(4, 4);
        let mut fake = Scaling { sockets_seen: Vec::new() };
        let Sweep { points, runs } =
            run_sweep(&plan, &cfg, &l, &mut fake, &AtomicBool::new(false), &mut |_| {}).unwrap();
        assert_eq!(runs.len(), 3);
        // Only the fan-out rows ran, at every count of the ladder.
        let mut seen = fake.sockets_seen.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, vec![1, 2, 4]);
        // One socket: the one-socket path; 2 and 4: hash and by-CPU.
        assert_eq!(points.len(), 5, "{points:?}");
        for p in &points {
            let peak = p.peak.expect("peak");
            let want_peak = capacity_of(p.fanout, p.sockets);
            assert!((peak.est - want_peak).abs() / want_peak < 0.02, "{p:?}");
            if p.sockets == 1 {
                assert!(p.peak_efficiency.is_none(), "the baseline has no efficiency: {p:?}");
                continue;
            }
            let e = p.peak_efficiency.expect("efficiency").est;
            let want = if p.fanout == Fanout::Hash { 0.8 } else { 1.0 };
            assert!((e - want).abs() < 0.02, "{p:?}: efficiency {e}, want {want}");
        }
    }
}
