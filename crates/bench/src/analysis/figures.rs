//! The figures of a series, computed once from its points: the peak, the knee, the top, NDR
//! and PDR brackets from the searches, CPU cost at the common paced rate, latency, and what
//! limited the path. The runner calls [`figures`] when the curves are done; `udprx render`
//! recomputes them from a saved report with the same function.

use crate::model::curve::*;
use crate::stats::interval;
use crate::stats::search::{self, Bracket, PDR_LOSS, SearchResult, SearchTrial, TrialOutcome};
use crate::{CellResult, Latency, median};

/// The point that holds the highest median received rate.
pub fn peak_point(s: &Series) -> Option<&Point> {
    s.points.iter().filter(|p| p.n() > 0).max_by(|a, b| a.rx_median().total_cmp(&b.rx_median()))
}

/// The point at the highest offered rate: the unpaced one when it ran, else the top paced one.
pub fn top_point(s: &Series) -> Option<&Point> {
    s.point(None).filter(|p| p.n() > 0).or_else(|| s.paced().last())
}

/// The knee on the paced points: the last rate within [`PDR_LOSS`] and the first above it
/// that lost more.
pub fn knee(s: &Series) -> Option<(u64, u64)> {
    let paced: Vec<&Point> = s.paced().collect();
    let first_fail = paced.iter().position(|p| !p.passes(PDR_LOSS))?;
    let hi = paced[first_fail].rate?;
    let lo = if first_fail == 0 { hi / 2 } else { paced[first_fail - 1].rate? };
    Some((lo, hi))
}

/// The common rate of a scenario: the highest grid rate that every path received within
/// [`PDR_LOSS`]; the lowest grid rate when none did.
pub fn common_rate(series: &[&Series], grid: &[u64]) -> Option<u64> {
    let ok = |r: u64| series.iter().all(|s| s.point(Some(r)).is_some_and(|p| p.passes(PDR_LOSS)));
    grid.iter().rev().copied().find(|r| ok(*r)).or_else(|| grid.first().copied())
}

/// Headline points of a series and the figure each must pin down: (rate, is_cost).
pub fn headline(s: &Series, common: Option<u64>) -> Vec<(Option<u64>, bool)> {
    let mut v = Vec::new();
    if let Some(p) = peak_point(s) {
        v.push((p.rate, false));
    }
    if let Some(p) = top_point(s)
        && !v.iter().any(|(r, _)| *r == p.rate)
    {
        v.push((p.rate, false));
    }
    if let Some(c) = common {
        v.retain(|(r, _)| *r != Some(c));
        v.push((Some(c), true));
    }
    v
}

/// Relative half-width of a point's interval for its figure; `None` when there is none yet.
pub fn width_of(p: &Point, cost: bool) -> Option<f64> {
    let samples = if cost { p.samples(|c| c.cpu.whole_ns_per_dgram()) } else { p.rx() };
    interval::estimate(&samples).and_then(|i| i.half_width_rel())
}

/// The curve's trials as known trials of the first search: every usable paced trial.
pub fn known_points(s: &Series) -> Vec<SearchTrial> {
    let mut v: Vec<SearchTrial> = s
        .points
        .iter()
        .flat_map(|p| p.trials.iter())
        .filter_map(|t| Some((t.rate?, t.secs, t.usable()?)))
        .map(|(rate, secs, c)| SearchTrial { rate, secs, outcome: outcome_of(c) })
        .collect();
    v.sort_by_key(|t| t.rate);
    v
}

/// The lower bounds of every search that bracketed a criterion (found, or cut by the budget).
pub fn bounds_of(s: &Series, f: impl Fn(&SearchResult) -> Bracket) -> Vec<f64> {
    s.searches
        .iter()
        .map(f)
        .filter(|b| matches!(b.bound, search::Bound::Found | search::Bound::Budget))
        .filter_map(|b| b.lo.map(|l| l as f64))
        .collect()
}

/// A cell result as a search trial outcome.
pub fn outcome_of(c: &CellResult) -> TrialOutcome {
    TrialOutcome {
        sent: c.sent,
        received: c.received,
        lost: c.lost.max(c.kernel_drops),
        achieved_pps: c.sent_pps,
    }
}

/// The run's drift ([`crate::stats::drift`]) from the received rates of every repeated point
/// of the curves, each trial placed by its order in the run.
pub fn run_drift(run: &CurveRun) -> Option<Drift> {
    let last = run
        .series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|p| p.trials.iter()))
        .map(|t| t.seq)
        .max()?;
    if last == 0 {
        return None;
    }
    let groups: Vec<Vec<(f64, f64)>> = run
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .map(|p| {
            p.trials
                .iter()
                .filter_map(|t| Some((t.seq as f64 / last as f64, t.usable()?.rx_pps)))
                .collect()
        })
        .collect();
    let t = crate::stats::drift::trend(&groups)?;
    Some(Drift { rel: t.rel, slope: t.slope, se: t.se, samples: t.samples, points: t.points })
}

/// The overload panels' points of a series, in offered order: (offered rate, median loss
/// ratio, median receive-side cores busy — whole receive-side CPU time over the trial's
/// length; `None` where no CPU was measured).
pub fn overload_points(s: &Series) -> Vec<(f64, f64, Option<f64>)> {
    let mut v: Vec<(f64, f64, Option<f64>)> = s
        .points
        .iter()
        .filter(|p| p.n() > 0)
        .filter_map(|p| {
            let busy: Vec<f64> = p
                .trials
                .iter()
                .filter(|t| t.secs > 0.0)
                .filter_map(|t| {
                    let c = t.usable()?;
                    Some(c.cpu.whole_ns_per_dgram() * c.received as f64 / (t.secs * 1e9))
                })
                .filter(|b| *b > 0.0)
                .collect();
            Some((p.offered(), p.loss_median()?, median(&busy)))
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// Derives a series' figures from its points and search.
pub fn figures(s: &Series, common: Option<u64>) -> Figures {
    let peak = peak_point(s);
    let top = top_point(s);
    // Printed figures stay inside physics (`interval::bounded`): a received rate never above the
    // offered rate, a search bound never above the path's highest received rate.
    let est = |p: Option<&Point>| p.and_then(|p| interval::bounded(&p.rx(), Some(p.offered())));
    let highest = s.points.iter().flat_map(|p| p.rx()).fold(0.0, f64::max);
    let ceiling = (highest > 0.0).then_some(highest);
    let peak_i = est(peak);
    let top_i = est(top);
    let livelock_ratio = match (&peak_i, &top_i) {
        (Some(p), Some(t)) if p.est > 0.0 => Some((t.est / p.est).min(1.0)),
        _ => None,
    };
    let knee = knee(s);
    let cp = common.and_then(|c| s.point(Some(c))).filter(|p| p.n() > 0);
    let lat: Vec<Latency> = cp
        .map(|p| p.trials.iter().filter_map(|t| t.usable()?.latency).collect())
        .unwrap_or_default();
    let latency = (!lat.is_empty()).then(|| {
        let m = |f: fn(&Latency) -> u64| {
            median(&lat.iter().map(|l| f(l) as f64).collect::<Vec<_>>()).unwrap_or(0.0) as u64
        };
        Latency {
            p50: m(|l| l.p50),
            p90: m(|l| l.p90),
            p99: m(|l| l.p99),
            p999: m(|l| l.p999),
            max: lat.iter().map(|l| l.max).max().unwrap_or(0),
            ..Latency::default()
        }
    });
    let top_lossy = top.is_some_and(|p| !p.passes(PDR_LOSS));
    let limit = if s.points.iter().all(|p| p.n() == 0) {
        Limit::Unknown
    } else if knee.is_some() {
        Limit::Receiver
    } else if top_lossy {
        Limit::ReceiverAtTop
    } else {
        Limit::Sender
    };
    Figures {
        peak: peak_i,
        peak_offered: peak.map(|p| p.offered()),
        top: top_i,
        top_offered: top.map(|p| p.offered()),
        livelock_ratio,
        knee,
        ndr: s.searches.first().map(|r| r.ndr),
        pdr: s.searches.first().map(|r| r.pdr),
        ndr_est: interval::bounded(&bounds_of(s, |r| r.ndr), ceiling),
        pdr_est: interval::bounded(&bounds_of(s, |r| r.pdr), ceiling),
        common_rate: cp.and(common),
        cpu_ns: cp
            .and_then(|p| interval::bounded(&p.samples(|c| c.cpu.whole_ns_per_dgram()), None)),
        app_ns: cp.and_then(|p| interval::bounded(&p.samples(|c| c.cpu.app_ns_per_dgram), None)),
        softirq_ns: cp
            .and_then(|p| interval::bounded(&p.samples(|c| c.cpu.softirq_ns_per_dgram), None)),
        latency,
        limit: Some(limit),
    }
}
