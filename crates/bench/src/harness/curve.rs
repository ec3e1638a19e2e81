//! Offered-load curves: the default measurement of every path.
//!
//! An unpaced flood on a receiver-bound set-up is bistable (receive livelock: when the sender
//! outruns the receive core, softirq takes the core and the application starves), so one
//! unpaced figure per path ranks paths by chance. Instead every path is measured on a grid of
//! paced offered rates, and the report derives its figures from the curve:
//!
//! 1. **ceiling**: one unpaced trial per path (the `max` point of the curve); the median rate
//!    the sender reached over a scenario's paths is the top of its grid;
//! 2. **coarse pass**: a geometric grid of fractions of the ceiling, one trial per point,
//!    every path at the same rates, interleaved (rotated order at each rate);
//! 3. **refinement**: points inside each path's knee (the last grid rate received with at most
//!    0.5% loss and the first above it that lost more);
//! 4. **repetitions**: the points behind the headline figures — the peak, the top and the
//!    common paced rate — are repeated to `min_reps`, interleaved across paths;
//! 5. **search**: NDR and PDR by [`crate::stats::search`], starting from the curve's own trials;
//! 6. **adaptive repetitions**: while the time budget lasts, each headline point whose 95%
//!    interval is wider than ±`ci_target` gets one more trial per round (up to `max_reps`);
//! 7. optionally latency at a fraction of each path's NDR.
//!
//! Every trial records noise ([`crate::lab::noise`]); a disturbed trial is repeated once and the
//! disturbed one kept in the record but left out of the statistics.
//!
//! The orchestration talks to the network through [`Bench`], so it is tested here with
//! synthetic receivers: a known capacity, a collapse past it, noise.

use crate::analysis::figures::*;
use crate::model::curve::*;
use crate::model::plan::{Plan, Progress, order};
use crate::stats::interval;
use crate::stats::search::{self, SearchParams};
use crate::{Bench, Error, Result, Scenario, median};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

struct Runner<'a> {
    plan: &'a Plan,
    cfg: &'a CurveConfig,
    bench: &'a mut dyn Bench,
    stop: &'a AtomicBool,
    progress: &'a mut dyn FnMut(&Progress<'_>),
    seq: usize,
    disturbed: usize,
    interrupted: bool,
    /// When the curves started: the budget is hard, counted from here.
    started: Instant,
    /// The budget ended the run: no trial starts that would end past `cfg.budget_secs`.
    budget_ended: bool,
    /// While set, a trial that would end past this many seconds is skipped (not an
    /// interruption): the headline repetitions stop there, so the NDR/PDR searches keep their
    /// share of a hard budget.
    stage_limit: Option<f64>,
}

/// Share of the budget the stages before the NDR/PDR search may use for their repetitions.
const BEFORE_SEARCH_SHARE: f64 = 0.6;

/// One trial to run: the series index, the rate, the duration, the stage.
#[derive(Debug, Clone, Copy)]
struct Job {
    series: usize,
    rate: Option<u64>,
    secs: f64,
    stage: Stage,
    timestamps: bool,
}

impl Runner<'_> {
    /// Runs one trial (and its repeat when disturbed); returns the trials to record.
    fn run(&mut self, series: &[Series], job: Job) -> Result<Vec<Trial>> {
        let s = &series[job.series];
        let mut out = Vec::new();
        for attempt in 0..2 {
            if self.stop.load(Ordering::Relaxed) {
                self.interrupted = true;
                break;
            }
            // The budget is hard: a trial that would end past it is not started, and the run
            // stops as if interrupted (every stage already ends cleanly on that), reported as
            // ended by the budget. Only the trial's set-up can overrun it.
            let end = self.started.elapsed().as_secs_f64() + job.secs;
            if end > self.cfg.budget_secs {
                self.interrupted = true;
                self.budget_ended = true;
                break;
            }
            if self.stage_limit.is_some_and(|limit| end > limit) {
                break;
            }
            self.bench.enter_setting(s.setting)?;
            let mut spec = self.plan.cell(s.row, s.setting, job.rate, job.timestamps);
            spec.secs = job.secs;
            let outcome = self.bench.run_cell(&spec);
            if matches!(outcome, Err(Error::Interrupted)) {
                self.interrupted = true;
                break;
            }
            let (result, error) = match outcome {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let disturbed = result
                .as_ref()
                .and_then(|r| r.noise.as_ref())
                .and_then(|n| n.disturbed(&self.cfg.noise));
            self.seq += 1;
            let outcome_ref = match (&result, &error) {
                (Some(r), _) => Ok(r),
                (None, e) => Err(e.as_deref().unwrap_or("failed")),
            };
            (self.progress)(&Progress {
                stage: job.stage.name(),
                done: self.seq,
                total: 0,
                setting: &self.plan.settings[s.setting],
                label: &s.label,
                rate: job.rate,
                outcome: outcome_ref,
            });
            let retry = disturbed.is_some() && attempt == 0;
            out.push(Trial {
                rate: job.rate,
                secs: job.secs,
                stage: job.stage,
                seq: self.seq - 1,
                result,
                error,
                disturbed,
                replaced: retry,
            });
            if !retry {
                break;
            }
            self.disturbed += 1;
        }
        Ok(out)
    }

    /// Runs jobs in the given order and files their trials under their points.
    fn run_all(&mut self, series: &mut [Series], jobs: &[Job]) -> Result<()> {
        for job in jobs {
            if self.interrupted {
                break;
            }
            let trials = self.run(series, *job)?;
            let s = &mut series[job.series];
            if job.stage == Stage::Search {
                s.search_trials.extend(trials);
            } else if job.stage == Stage::Latency {
                s.latency
                    .get_or_insert(Point { rate: job.rate, trials: Vec::new() })
                    .trials
                    .extend(trials);
            } else {
                s.point_mut(job.rate).trials.extend(trials);
            }
        }
        Ok(())
    }
}

/// Interleaves jobs: grouped by setting (fewer switches), rotated within each group by `round`.
fn interleave(series: &[Series], mut jobs: Vec<Job>, round: usize) -> Vec<Job> {
    jobs.sort_by_key(|j| series[j.series].setting);
    let mut out = Vec::with_capacity(jobs.len());
    let mut i = 0;
    while i < jobs.len() {
        let setting = series[jobs[i].series].setting;
        let end = jobs[i..]
            .iter()
            .position(|j| series[j.series].setting != setting)
            .map_or(jobs.len(), |k| i + k);
        let group = &jobs[i..end];
        out.extend(order(group.len(), round).into_iter().map(|k| group[k]));
        i = end;
    }
    out
}

/// Runs the curves of every row under every setting. A failing cell is recorded and the run
/// goes on; `stop` (Ctrl-C) ends it between trials with what was measured.
pub fn run_curves(
    plan: &Plan,
    cfg: &CurveConfig,
    bench: &mut dyn Bench,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<CurveRun> {
    let started = Instant::now();
    let mut series: Vec<Series> = Vec::new();
    for s in 0..plan.settings.len() {
        for row in &plan.rows {
            series.push(Series {
                row: *row,
                label: row.label(plan.sockets),
                setting: s,
                points: Vec::new(),
                searches: Vec::new(),
                search_trials: Vec::new(),
                latency: None,
                figures: Figures::default(),
            });
        }
    }
    let mut r = Runner {
        plan,
        cfg,
        bench,
        stop,
        progress,
        seq: 0,
        disturbed: 0,
        interrupted: false,
        started,
        budget_ended: false,
        stage_limit: None,
    };
    let job = |series: usize, rate: Option<u64>, stage: Stage| Job {
        series,
        rate,
        secs: cfg.trial_secs,
        stage,
        timestamps: false,
    };
    let scenarios: Vec<Scenario> = {
        let mut v: Vec<Scenario> = plan.rows.iter().map(|r| r.scenario).collect();
        v.sort();
        v.dedup();
        v
    };
    let of = |series: &[Series], sc: Scenario| -> Vec<usize> {
        (0..series.len()).filter(|&i| series[i].row.scenario == sc).collect()
    };
    let mut ceilings = Vec::new();
    let mut grids: Vec<(Scenario, Vec<u64>)> = Vec::new();

    // 1–2. Ceiling and coarse pass (or the single fixed point).
    if let Some(fixed) = cfg.fixed {
        let jobs: Vec<Job> = (0..series.len()).map(|i| job(i, fixed, Stage::Coarse)).collect();
        let jobs = interleave(&series, jobs, 0);
        r.run_all(&mut series, &jobs)?;
        for sc in &scenarios {
            grids.push((*sc, fixed.into_iter().collect()));
        }
    } else {
        for (round, sc) in scenarios.iter().enumerate() {
            let idx = of(&series, *sc);
            let top = match cfg.max_rate {
                Some(m) => m as f64,
                None => {
                    let jobs = idx.iter().map(|&i| job(i, None, Stage::Ceiling)).collect();
                    let jobs = interleave(&series, jobs, round);
                    r.run_all(&mut series, &jobs)?;
                    let sent: Vec<f64> = idx
                        .iter()
                        .flat_map(|&i| series[i].point(None).map(|p| p.samples(|c| c.sent_pps)))
                        .flatten()
                        .collect();
                    median(&sent).unwrap_or(0.0)
                }
            };
            ceilings.push((*sc, top));
            let grid = cfg.grid(top);
            for (k, rate) in grid.iter().enumerate() {
                let jobs = idx.iter().map(|&i| job(i, Some(*rate), Stage::Coarse)).collect();
                let jobs = interleave(&series, jobs, round + k + 1);
                r.run_all(&mut series, &jobs)?;
            }
            grids.push((*sc, grid));
        }

        // 3. Refinement inside each knee.
        if cfg.refine > 0 {
            let mut jobs = Vec::new();
            for (i, s) in series.iter().enumerate() {
                if let Some((lo, hi)) = knee(s) {
                    for rate in inside(lo, hi, cfg.refine) {
                        jobs.push(job(i, Some(rate), Stage::Refine));
                    }
                }
            }
            let jobs = interleave(&series, jobs, 1);
            r.run_all(&mut series, &jobs)?;
        }
    }

    let commons = |series: &[Series]| -> Vec<(Scenario, u64)> {
        grids
            .iter()
            .filter_map(|(sc, g)| {
                let members: Vec<&Series> =
                    series.iter().filter(|s| s.row.scenario == *sc).collect();
                common_rate(&members, g).map(|c| (*sc, c))
            })
            .collect()
    };
    let common_of =
        |c: &[(Scenario, u64)], sc: Scenario| c.iter().find(|(s, _)| *s == sc).map(|(_, r)| *r);

    // 4. Headline points to the minimum repetitions, within their share of the budget (the
    //    adaptive stage 6 takes up the rest once the searches have run).
    r.stage_limit = Some(cfg.budget_secs * BEFORE_SEARCH_SHARE);
    for round in 0..cfg.min_reps.saturating_sub(1) + 2 {
        let c = commons(&series);
        let mut jobs = Vec::new();
        for (i, s) in series.iter().enumerate() {
            for (rate, _) in headline(s, common_of(&c, s.row.scenario)) {
                if s.point(rate).is_some_and(|p| p.n() < cfg.min_reps) || s.point(rate).is_none() {
                    jobs.push(job(i, rate, Stage::Repeat));
                }
            }
        }
        if jobs.is_empty() || r.interrupted {
            break;
        }
        let jobs = interleave(&series, jobs, round + 2);
        r.run_all(&mut series, &jobs)?;
    }

    r.stage_limit = None;

    // 5. NDR/PDR searches: the first from the curve's own trials, each repetition a fresh
    //    search (no trial shared with another) around the first one's brackets.
    if cfg.fixed.is_none() && cfg.search_trials > 0 {
        let n = series.len();
        let mut last_rep_secs = 0.0;
        for rep in 0..cfg.search_reps.max(1) {
            // Repetitions give way to the budget (the first search always runs): one starts
            // only when a round like the last one still fits.
            let rep_started = started.elapsed().as_secs_f64();
            if rep > 0 && rep_started + last_rep_secs > cfg.budget_secs {
                break;
            }
            for k in order(n, rep + 1) {
                if r.interrupted {
                    break;
                }
                let Some(grid) = grids.iter().find(|(sc, _)| *sc == series[k].row.scenario) else {
                    continue;
                };
                let (Some(&lo), Some(&hi)) = (grid.1.first(), grid.1.last()) else { continue };
                let mut params = SearchParams {
                    min_rate: (lo / 4).max(1),
                    max_rate: hi,
                    resolution: cfg.resolution,
                    max_trials: cfg.search_trials,
                    base_secs: cfg.trial_secs,
                    final_secs: cfg.final_secs,
                };
                let known = if rep == 0 {
                    known_points(&series[k])
                } else {
                    // Only where the first search bracketed NDR inside the range.
                    let Some(first) = series[k].searches.first() else { continue };
                    let (Some(l), Some(h)) = (first.ndr.lo, first.pdr.hi.or(first.ndr.hi)) else {
                        continue;
                    };
                    params.min_rate = ((l as f64 / 1.2) as u64).max(1);
                    params.max_rate = ((h as f64 * 1.1) as u64).max(params.min_rate + 1);
                    // Top, floor and two bisections: a bracket of about 10%, enough for a
                    // figure whose run-to-run spread is larger.
                    params.max_trials = cfg.search_trials.min(4);
                    Vec::new()
                };
                let mut failed: Option<Error> = None;
                let result = {
                    let series_ref = &mut series;
                    let r = &mut r;
                    search::search(params, &known, |rate, secs| {
                        let j = Job {
                            series: k,
                            rate: Some(rate),
                            secs,
                            stage: Stage::Search,
                            timestamps: false,
                        };
                        if let Err(e) = r.run_all(series_ref, &[j]) {
                            failed = Some(e);
                            return None;
                        }
                        let last = series_ref[k].search_trials.last()?;
                        Some(outcome_of(last.usable()?))
                    })
                };
                if let Some(e) = failed {
                    return Err(e);
                }
                series[k].searches.push(result);
            }
            last_rep_secs = started.elapsed().as_secs_f64() - rep_started;
            if rep == 0 {
                // Later rounds run at most four trials instead of the first round's budget.
                last_rep_secs *= 4.0 / cfg.search_trials.max(4) as f64;
            }
        }
    }

    // 6. Adaptive repetitions while the budget lasts.
    let mut round = 0;
    while !r.interrupted && started.elapsed().as_secs_f64() < cfg.budget_secs {
        let c = commons(&series);
        let mut jobs = Vec::new();
        for (i, s) in series.iter().enumerate() {
            for (rate, cost) in headline(s, common_of(&c, s.row.scenario)) {
                let Some(p) = s.point(rate) else { continue };
                let wide = width_of(p, cost).is_none_or(|w| w > cfg.ci_target);
                if p.n() > 0 && p.n() < cfg.max_reps && wide {
                    jobs.push(job(i, rate, Stage::Repeat));
                }
            }
        }
        if jobs.is_empty() {
            break;
        }
        // Only as many as the budget still allows (each trial costs its time plus set-up).
        let left = cfg.budget_secs - started.elapsed().as_secs_f64();
        let fit = (left / (cfg.trial_secs + 0.4)).floor().max(1.0) as usize;
        let mut jobs = interleave(&series, jobs, round + 5);
        jobs.truncate(fit);
        r.run_all(&mut series, &jobs)?;
        round += 1;
    }

    let common_rates = commons(&series);
    for s in &mut series {
        s.figures = figures(s, common_of(&common_rates, s.row.scenario));
    }

    // 7. Latency at a fraction of NDR.
    if let Some(f) = cfg.latency_at {
        let mut jobs = Vec::new();
        for (i, s) in series.iter().enumerate() {
            let base = s
                .figures
                .ndr_est
                .map(|i| i.est as u64)
                .or_else(|| s.searches.first().and_then(|x| x.ndr.lo))
                .map(|r| r as f64)
                .or_else(|| peak_point(s).map(|p| p.rx_median()));
            let rate = base.map(|b| (b * f) as u64).filter(|r| *r > 0);
            if let Some(rate) = rate {
                jobs.push(Job {
                    series: i,
                    rate: Some(rate),
                    secs: cfg.trial_secs,
                    stage: Stage::Latency,
                    timestamps: true,
                });
            }
        }
        r.run_all(&mut series, &jobs)?;
    }

    let mut cvs = Vec::new();
    for s in &series {
        let common = common_of(&common_rates, s.row.scenario);
        if let Some(p) = common.and_then(|c| s.point(Some(c)))
            && let Some(cv) = interval::cv(&p.samples(|c| c.cpu.app_ns_per_dgram))
        {
            cvs.push(cv);
        }
    }
    let trials = series.iter().map(|s| s.trials()).sum::<usize>()
        + series.iter().filter_map(|s| s.latency.as_ref()).map(|p| p.trials.len()).sum::<usize>();
    Ok(CurveRun {
        series,
        ceilings,
        common_rates,
        noise_floor: median(&cvs),
        disturbed: r.disturbed,
        trials,
        interrupted: r.interrupted && !r.budget_ended,
        budget_ended: r.budget_ended,
        secs: started.elapsed().as_secs_f64(),
        // Derived from the trials by `analysis::answer::analyze`.
        drift: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::noise::Thresholds;
    use crate::lab::noise::TrialNoise;
    use crate::model::plan::{Selection, Size, rows};
    use crate::stats::interval;
    use crate::{CellResult, CellSpec, CpuSplit, Method, Receiver, Row, SockOpts};

    /// A synthetic receiver: each method has a capacity; past it the received rate collapses
    /// linearly (receive livelock) down to `floor` of the capacity; the unpaced sender offers
    /// 1 Mpps. Multiplicative noise of `sigma` (seeded) on the received rate and the CPU cost.
    struct Fake {
        seed: u64,
        sigma: f64,
        cells: Vec<CellSpec>,
        /// Trial numbers (1-based) reported as disturbed by steal time.
        steal_on: Vec<usize>,
    }

    fn capacity(row: &Row) -> f64 {
        match row.receiver {
            Receiver::Udprx { method: Method::Recvfrom, .. } => 200_000.0,
            Receiver::Udprx { method: Method::Recvmmsg, .. } => 500_000.0,
            _ => 505_000.0,
        }
    }

    fn cost(row: &Row) -> f64 {
        match row.receiver {
            Receiver::Udprx { method: Method::Recvfrom, .. } => 1500.0,
            _ => 1000.0,
        }
    }

    impl Fake {
        fn new(sigma: f64) -> Fake {
            Fake { seed: 0x2545_f491_4f6c_dd1d, sigma, cells: Vec::new(), steal_on: Vec::new() }
        }

        fn normal(&mut self) -> f64 {
            let mut u = || {
                self.seed ^= self.seed << 13;
                self.seed ^= self.seed >> 7;
                self.seed ^= self.seed << 17;
                ((self.seed >> 11) as f64 + 0.5) / (1u64 << 53) as f64
            };
            let (a, b) = (u(), u());
            (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
        }
    }

    const SENDER_MAX: f64 = 1_000_000.0;
    const FLOOR: f64 = 0.3;

    /// Received rate of a noiseless receiver of capacity `cap` offered `offered`.
    fn truth(cap: f64, offered: f64) -> f64 {
        if offered <= cap {
            offered
        } else {
            let over = (offered - cap) / (SENDER_MAX - cap);
            cap * (1.0 - (1.0 - FLOOR) * over).max(FLOOR)
        }
    }

    impl Bench for Fake {
        fn enter_setting(&mut self, _index: usize) -> Result<()> {
            Ok(())
        }
        fn run_cell(&mut self, spec: &CellSpec) -> Result<CellResult> {
            self.cells.push(spec.clone());
            let offered = spec.rate.map_or(SENDER_MAX, |r| r as f64);
            let cap = capacity(&spec.row);
            let n1 = self.normal();
            let n2 = self.normal();
            // The capacity itself varies from trial to trial (a VM's noise): below it every
            // datagram arrives, above it the excess is lost.
            let got = truth(cap * (self.sigma * n1).exp(), offered).min(offered);
            let sent = (offered * spec.secs) as u64;
            let received = ((got * spec.secs) as u64).min(sent);
            let steal = self.steal_on.contains(&self.cells.len());
            Ok(CellResult {
                sent,
                received,
                lost: sent - received,
                sent_pps: offered,
                rx_pps: received as f64 / spec.secs,
                cpu: CpuSplit {
                    app_ns_per_dgram: cost(&spec.row) * (self.sigma * n2).exp(),
                    softirq_ns_per_dgram: 800.0,
                    ..CpuSplit::default()
                },
                noise: Some(TrialNoise {
                    steal_share: if steal { 0.2 } else { 0.0 },
                    window_s: spec.secs,
                    ..TrialNoise::default()
                }),
                ..CellResult::default()
            })
        }
    }

    fn plan() -> Plan {
        let sel = Selection {
            xdp: false,
            size: Size::Quick,
            methods: vec![],
            fanouts: vec![crate::Fanout::One],
            scenarios: vec![Scenario::Classic],
            gro_everywhere: false,
            spin: false,
            peers: vec![],
            sources: vec![],
        };
        Plan {
            rows: rows(&sel),
            skipped: vec![],
            settings: vec!["current".into()],
            sockopts: vec![SockOpts::default()],
            sockets: 2,
            sender_cpus: vec![0],
            receiver_cpus_one: vec![1],
            receiver_cpus_many: vec![1],
        }
    }

    fn config() -> CurveConfig {
        CurveConfig {
            fractions: vec![0.125, 0.177, 0.25, 0.354, 0.5, 0.707, 1.0],
            fixed: None,
            max_rate: None,
            trial_secs: 1.0,
            final_secs: 2.0,
            refine: 2,
            min_reps: 3,
            max_reps: 8,
            ci_target: 0.05,
            // The fake runs instantly: the budget is never the limit here.
            budget_secs: 3600.0,
            search_trials: 8,
            search_reps: 3,
            resolution: 0.03,
            latency_at: None,
            noise: Thresholds::default(),
        }
    }

    fn by_method(run: &CurveRun, m: Method) -> &Series {
        run.series
            .iter()
            .find(|s| matches!(s.row.receiver, Receiver::Udprx { method, .. } if method == m))
            .unwrap()
    }

    #[test]
    fn noiseless_curves_find_capacity_knee_ndr_and_livelock() {
        let mut fake = Fake::new(0.0);
        let run = run_curves(&plan(), &config(), &mut fake, &AtomicBool::new(false), &mut |_| {})
            .unwrap();
        assert!(!run.interrupted);
        assert_eq!(run.ceilings, vec![(Scenario::Classic, SENDER_MAX)]);
        for s in &run.series {
            let cap = capacity(&s.row);
            let f = &s.figures;
            let peak = f.peak.unwrap().est;
            // The peak is the best point measured: within the knee's refinement of capacity.
            assert!(
                peak <= cap * 1.0001 && peak >= 0.85 * cap,
                "{}: peak {peak} vs {cap}",
                s.label
            );
            let (lo, hi) = f.knee.unwrap();
            assert!((lo as f64) <= cap && (hi as f64) > cap, "{}: knee {lo}–{hi}", s.label);
            let ndr = f.ndr.unwrap();
            assert_eq!(ndr.bound, search::Bound::Found, "{}: {ndr:?}", s.label);
            let l = ndr.lo.unwrap() as f64;
            assert!(l <= cap && l >= cap / 1.03 - 1.0, "{}: NDR {l} vs {cap}", s.label);
            assert!(ndr.hi.unwrap() as f64 > cap);
            // Three independent searches, each within the resolution below capacity.
            let est = f.ndr_est.unwrap();
            assert_eq!(est.n, 3, "{}: {est:?}", s.label);
            assert!(est.est <= cap && est.est >= cap / 1.03 - 1.0, "{}: {est:?}", s.label);
            assert_eq!(s.searches.len(), 3);
            // Livelock: at 1 Mpps the fake keeps FLOOR of its capacity.
            let ratio = f.livelock_ratio.unwrap();
            let expect = truth(cap, SENDER_MAX) / peak;
            assert!((ratio - expect).abs() < 0.01, "{}: livelock {ratio} vs {expect}", s.label);
            assert_eq!(f.limit, Some(Limit::Receiver));
            // The headline points have their repetitions.
            let peak_point = s.points.iter().find(|p| p.rx_median() == peak).unwrap();
            assert!(peak_point.n() >= 3, "{}: {} reps at the peak", s.label, peak_point.n());
        }
        // The common rate is one every path receives within 0.5%: below recvfrom's 200k.
        let common = run.common_rates[0].1;
        assert!(common as f64 <= 200_000.0, "{common}");
        assert!(run.series.iter().all(|s| s.figures.app_ns.is_some()));
    }

    #[test]
    fn noisy_curves_rank_paths_and_call_ties() {
        let mut fake = Fake::new(0.04);
        let run = run_curves(&plan(), &config(), &mut fake, &AtomicBool::new(false), &mut |_| {})
            .unwrap();
        let settings = vec!["current".to_string()];
        let v = crate::analysis::answer::verdicts(&run, &settings);
        let find = |a: Method, b: Method, f: crate::analysis::answer::Figure| {
            let (sa, sb) = (by_method(&run, a), by_method(&run, b));
            v.iter()
                .find(|x| {
                    x.figure == f
                        && ((x.a == sa.label && x.b == sb.label)
                            || (x.a == sb.label && x.b == sa.label))
                })
                .map(|x| {
                    if x.a == sa.label {
                        x.call
                    } else {
                        match x.call {
                            interval::Call::Faster => interval::Call::Slower,
                            interval::Call::Slower => interval::Call::Faster,
                            c => c,
                        }
                    }
                })
                .unwrap()
        };
        use crate::analysis::answer::Figure;
        use interval::Call;
        assert_eq!(find(Method::Recvmmsg, Method::Recvfrom, Figure::Peak), Call::Faster);
        assert_eq!(find(Method::Recvfrom, Method::Recvmmsg, Figure::Cpu), Call::Slower);
        assert_eq!(find(Method::Recvmmsg, Method::Recvfrom, Figure::Ndr), Call::Faster);
        assert_eq!(find(Method::Uring, Method::Recvmmsg, Figure::Ndr), Call::Indistinguishable);
        // 505k vs 500k: 1%, inside the margin.
        assert_eq!(find(Method::Uring, Method::Recvmmsg, Figure::Peak), Call::Indistinguishable);
        // Adaptive repetitions narrowed the headline intervals to the target or ran out.
        for s in &run.series {
            let p = s.points.iter().max_by(|a, b| a.rx_median().total_cmp(&b.rx_median())).unwrap();
            let w = s.figures.peak.unwrap().half_width_rel().unwrap();
            assert!(w <= 0.05 || p.n() >= 8, "{}: ±{w} with {} reps", s.label, p.n());
        }
        let ctx = crate::analysis::answer::Context {
            settings: &settings,
            topology: "veth",
            rps: true,
            skipped: &[],
            ci_target: 0.05,
        };
        let text = crate::analysis::answer::answer(&run, &v, &ctx).join("\n");
        assert!(
            text.contains("indistinguishable here from `classic recvmmsg 1×`")
                || text.contains("indistinguishable here from `classic uring 1×`"),
            "{text}"
        );
        assert!(text.contains("faster than") && text.contains("classic recvfrom 1×"), "{text}");
        assert!(text.contains("receive livelock"), "{text}");
    }

    #[test]
    fn the_budget_is_hard_and_ends_the_run_without_calling_it_interrupted() {
        // The fake runs instantly, so only the trials' own lengths count: 1 s curve trials fit
        // a 1.5 s budget, the 2 s final trials never start.
        let mut fake = Fake::new(0.0);
        let cfg = CurveConfig { budget_secs: 1.5, ..config() };
        let run =
            run_curves(&plan(), &cfg, &mut fake, &AtomicBool::new(false), &mut |_| {}).unwrap();
        assert!(run.budget_ended && !run.interrupted, "{} trials", run.trials);
        assert!(run.trials > 0);
        let longest = run
            .series
            .iter()
            .flat_map(|s| {
                s.points.iter().flat_map(|p| p.trials.iter()).chain(s.search_trials.iter())
            })
            .map(|t| t.secs)
            .fold(0.0, f64::max);
        assert!(longest <= cfg.budget_secs, "a {longest} s trial started past the budget");
        // A budget no trial fits: nothing runs, nothing panics.
        let cfg = CurveConfig { budget_secs: 0.1, ..config() };
        let run =
            run_curves(&plan(), &cfg, &mut Fake::new(0.0), &AtomicBool::new(false), &mut |_| {})
                .unwrap();
        assert!(run.budget_ended && run.trials == 0);
    }

    /// A fake whose trials take their nominal time, so the budget counts as on a real machine.
    struct Timed(Fake);

    impl Bench for Timed {
        fn enter_setting(&mut self, index: usize) -> Result<()> {
            self.0.enter_setting(index)
        }
        fn run_cell(&mut self, spec: &CellSpec) -> Result<CellResult> {
            std::thread::sleep(std::time::Duration::from_secs_f64(spec.secs));
            self.0.run_cell(spec)
        }
    }

    #[test]
    fn headline_repetitions_leave_the_searches_their_share_of_a_hard_budget() {
        // 10 ms trials: the grid and knees take about 0.3 s, ten repetitions of every headline
        // point about 0.9 s more, so without a share kept back the 1 s budget would end in the
        // repetitions and no path would get an NDR search.
        let cfg = CurveConfig {
            trial_secs: 0.01,
            final_secs: 0.02,
            min_reps: 10,
            max_reps: 10,
            budget_secs: 1.0,
            ..config()
        };
        let mut fake = Timed(Fake::new(0.0));
        let run =
            run_curves(&plan(), &cfg, &mut fake, &AtomicBool::new(false), &mut |_| {}).unwrap();
        for s in &run.series {
            assert!(!s.searches.is_empty(), "{}: no NDR search in {} trials", s.row, run.trials);
        }
    }

    #[test]
    fn disturbed_trials_are_repeated_and_left_out() {
        let mut fake = Fake::new(0.0);
        fake.steal_on = vec![2, 5];
        let run = run_curves(&plan(), &config(), &mut fake, &AtomicBool::new(false), &mut |_| {})
            .unwrap();
        assert_eq!(run.disturbed, 2);
        let replaced: Vec<&Trial> = run
            .series
            .iter()
            .flat_map(|s| s.points.iter().flat_map(|p| p.trials.iter()))
            .filter(|t| t.replaced)
            .collect();
        assert_eq!(replaced.len(), 2);
        assert!(
            replaced.iter().all(|t| t.disturbed.as_deref().is_some_and(|d| d.contains("steal")))
        );
        assert_eq!(run.trials, fake.cells.len());
    }

    #[test]
    fn stop_ends_between_trials_and_single_point_mode() {
        let stop = AtomicBool::new(false);
        let mut fake = Fake::new(0.0);
        let mut seen = 0;
        let run = run_curves(&plan(), &config(), &mut fake, &stop, &mut |_| {
            seen += 1;
            if seen == 5 {
                stop.store(true, Ordering::Relaxed);
            }
        })
        .unwrap();
        assert!(run.interrupted);
        assert_eq!(fake.cells.len(), 5);

        let mut fake = Fake::new(0.0);
        let cfg = CurveConfig {
            fixed: Some(Some(150_000)),
            fractions: vec![],
            search_trials: 0,
            ..config()
        };
        let run =
            run_curves(&plan(), &cfg, &mut fake, &AtomicBool::new(false), &mut |_| {}).unwrap();
        assert!(fake.cells.iter().all(|c| c.rate == Some(150_000)));
        for s in &run.series {
            assert_eq!(s.points.len(), 1);
            assert!(s.points[0].n() >= 3);
            assert!(s.searches.is_empty());
            assert_eq!(s.figures.common_rate, Some(150_000));
        }
    }

    #[test]
    fn grids_and_refinement_points() {
        let g = config().grid(987_654.0);
        assert_eq!(g.first(), Some(&123_000));
        assert_eq!(g.last(), Some(&988_000));
        assert!(g.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(round3(353_553.4), 354_000);
        assert_eq!(round3(0.5), 0);
        let i = inside(250_000, 354_000, 2);
        assert_eq!(i.len(), 2);
        assert!(i.iter().all(|r| *r > 250_000 && *r < 354_000));
    }
}
