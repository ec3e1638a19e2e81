//! The fan-out sweep (`--fanout sweep`, issue 22): the plan's udprx paths with one socket,
//! then with hash and by-CPU steering at 2, 4, … sockets, each count a full run of the curves
//! ([`crate::harness::curve::run_curves`]). Counts the host cannot give a core each are
//! reported as not measurable, not run.
//!
//! Wired by `udprx bench --fanout sweep` (after the curves): the runs go into the report
//! (`fanout_sweep`), the analysis derives the points ([`crate::analysis::sweep`]: efficiency,
//! per-socket share), the renderers draw `fanout-sweep.svg` and the Markdown section.

use crate::analysis::sweep::with_fanout;
use crate::harness::curve::run_curves;
use crate::model::curve::CurveConfig;
use crate::model::plan::{Plan, Progress};
use crate::model::sweep::{FanoutSweep, NotMeasurable, SweepRun};
use crate::{Bench, Fanout, Row};
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

/// Runs the plan's fan-out rows (hash, by-CPU) at every count of `ladder`, each count a run of
/// the curves; returns the runs (the figures, efficiencies and shares are the analysis's:
/// [`crate::analysis::sweep::analyze`]). A failing count ends the sweep with its error.
pub fn run_sweep(
    plan: &Plan,
    cfg: &CurveConfig,
    ladder: &Ladder,
    host_cores: usize,
    bench: &mut dyn Bench,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> FanoutSweep {
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
    let mut sweep = FanoutSweep {
        receive_cores: plan.receiver_cpus_many.len(),
        host_cores,
        counts: ladder.counts.clone(),
        not_measurable: ladder
            .not_measurable
            .iter()
            .map(|(n, why)| NotMeasurable { sockets: *n, reason: why.clone() })
            .collect(),
        runs: Vec::new(),
        points: Vec::new(),
        error: None,
    };
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
        match run_curves(&p, cfg, bench, stop, progress) {
            Ok(curves) => {
                let interrupted = curves.interrupted;
                sweep.runs.push(SweepRun { sockets: n, curves });
                if interrupted {
                    sweep.error = Some("interrupted (Ctrl-C)".into());
                    break;
                }
            }
            Err(e) => {
                sweep.error = Some(format!("{n} sockets: {e}"));
                break;
            }
        }
    }
    sweep
}

/// Runs the sweep for `plan` on a host of `host_cores` usable cores (the receive cores are the
/// plan's fan-out cores): the runs at the counts that fit, and the counts that do not.
pub fn run(
    plan: &Plan,
    cfg: &CurveConfig,
    host_cores: usize,
    bench: &mut dyn Bench,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> FanoutSweep {
    let l = ladder(plan.receiver_cpus_many.len(), host_cores);
    run_sweep(plan, cfg, &l, host_cores, bench, stop, progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::plan::{Selection, Size, rows};
    use crate::{CellResult, CellSpec, CpuSplit, Receiver, Result, Scenario};

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
            // One engine thread per socket: by-CPU spreads evenly, hash puts twice as much on
            // the first socket as on each other one.
            let weights: Vec<u64> = (0..spec.sockets)
                .map(|i| match spec.row.receiver {
                    Receiver::Udprx { fanout: Fanout::Hash, .. } if i == 0 => 2,
                    _ => 1,
                })
                .collect();
            let total: u64 = weights.iter().sum();
            let threads: Vec<serde_json::Value> = weights
                .iter()
                .map(|w| serde_json::json!({ "datagrams": received * w / total }))
                .collect();
            Ok(CellResult {
                sent,
                received,
                lost: sent - received,
                receiver_report: serde_json::json!({ "threads": threads }),
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
            sources: vec![],
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
        let mut sweep =
            run_sweep(&plan, &cfg, &l, 4, &mut fake, &AtomicBool::new(false), &mut |_| {});
        assert_eq!(sweep.runs.len(), 3);
        assert!(sweep.error.is_none());
        crate::analysis::sweep::analyze(&mut sweep);
        let points = &sweep.points;
        // Only the fan-out rows ran, at every count of the ladder.
        let mut seen = fake.sockets_seen.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, vec![1, 2, 4]);
        // One socket: the one-socket path; 2 and 4: hash and by-CPU.
        assert_eq!(points.len(), 5, "{points:?}");
        for p in points {
            let share = p.share.expect("share").est;
            let want_share = match (p.fanout, p.sockets) {
                (Fanout::Hash, 2) => (2.0 / 3.0) / 0.5,
                (Fanout::Hash, 4) => (2.0 / 5.0) / 0.25,
                _ => 1.0,
            };
            assert!((share - want_share).abs() < 0.01, "{p:?}: share {share}, want {want_share}");
            assert!(p.share_trials > 0);
            let ideal = p.ideal_peak.expect("ideal");
            assert!((ideal - 100_000.0 * p.sockets as f64).abs() / ideal < 0.02, "{p:?}");
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
