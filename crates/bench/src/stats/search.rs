//! NDR and PDR: the highest offered rate a path receives without losing a datagram (the
//! non-drop rate, RFC 2544's throughput) and the highest it receives with at most
//! [`PDR_LOSS`] lost (the partial-drop rate), searched in the manner of FD.io's MLRsearch:
//!
//! - both rates are searched at once, and every trial updates both brackets (a trial that lost
//!   0.2% fails NDR and passes PDR);
//! - the search starts from what the offered-load curve already knows (its points are trials
//!   too), so it only narrows the bracket around each knee;
//! - trial durations grow as a bracket narrows: short trials while the bracket is wide, the
//!   final duration once it is within a few resolutions, and a lower bound counts as final only
//!   when it passed a trial of the final duration (a lucky short trial is not the answer);
//! - a failed confirmation moves the upper bound down to that rate and the search goes on below
//!   it, from the highest rate that passed earlier.
//!
//! The result of each criterion is a bracket `[lo, hi]`: `lo` passed (at the final duration
//! when the bound is [`Bound::Found`]), `hi` failed. The bracket is the interval the report
//! quotes for NDR and PDR. [`search`] is a pure function over a trial closure, tested against
//! synthetic receivers of known capacity and noise.

use serde::{Deserialize, Serialize};

/// Loss fraction allowed at the partial-drop rate (0.5%).
pub const PDR_LOSS: f64 = 0.005;

/// What one trial at an offered rate saw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrialOutcome {
    /// Datagrams sent during the trial.
    pub sent: u64,
    /// Datagrams received.
    pub received: u64,
    /// Datagrams lost or dropped (sequence gaps plus kernel drops).
    pub lost: u64,
    /// The rate the sender actually achieved, datagrams per second.
    pub achieved_pps: f64,
}

impl TrialOutcome {
    /// Lost datagrams as a fraction of those sent (1 when nothing was sent: such a trial
    /// proves nothing and must not pass).
    pub fn loss_ratio(&self) -> f64 {
        if self.sent == 0 { 1.0 } else { self.lost as f64 / self.sent as f64 }
    }

    /// True when the trial meets a criterion allowing `max_loss` lost.
    pub fn passes(&self, max_loss: f64) -> bool {
        self.sent > 0 && self.received > 0 && self.loss_ratio() <= max_loss
    }
}

/// One trial the search knows of: from the curve or run by the search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchTrial {
    /// Offered rate, datagrams per second.
    pub rate: u64,
    /// Trial duration, seconds.
    pub secs: f64,
    /// What happened.
    pub outcome: TrialOutcome,
}

/// Bounds, resolution and budget of a search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchParams {
    /// Lowest rate tried, datagrams per second.
    pub min_rate: u64,
    /// Highest rate tried.
    pub max_rate: u64,
    /// A bracket is narrow enough when `hi / lo - 1` is at most this (0.03 = 3%).
    pub resolution: f64,
    /// Most trials the search runs itself (known trials are free).
    pub max_trials: usize,
    /// Duration of trials while a bracket is wide, seconds.
    pub base_secs: f64,
    /// Duration a lower bound must pass to be final, seconds.
    pub final_secs: f64,
}

impl SearchParams {
    /// A search over `[min_rate, max_rate]` at 3% resolution, 8 trials, 1 s growing to 2 s.
    pub fn new(min_rate: u64, max_rate: u64) -> SearchParams {
        SearchParams {
            min_rate: min_rate.max(1),
            max_rate: max_rate.max(min_rate.max(1)),
            resolution: 0.03,
            max_trials: 8,
            base_secs: 1.0,
            final_secs: 2.0,
        }
    }

    /// The duration for a bracket of relative width `width`: the base while it is wide, the
    /// final duration once it is within four resolutions, halfway in between.
    pub fn secs_for(&self, width: f64) -> f64 {
        if width > 0.1_f64.max(8.0 * self.resolution) {
            self.base_secs
        } else if width > 4.0 * self.resolution {
            (self.base_secs + self.final_secs) / 2.0
        } else {
            self.final_secs
        }
    }
}

/// How a criterion's search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Bracketed to the resolution, the lower bound confirmed at the final duration.
    Found,
    /// The highest rate tried met the criterion: the path takes at least `max_rate` (the
    /// sender, not the receiver, is the limit).
    AboveMax,
    /// Even the lowest rate tried failed.
    BelowMin,
    /// The trial budget ran out first: the bracket is what was reached.
    Budget,
    /// A trial was interrupted (Ctrl-C) or failed.
    Aborted,
}

/// One criterion's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bracket {
    /// Loss fraction allowed (0 for NDR, [`PDR_LOSS`] for PDR).
    pub max_loss: f64,
    /// Highest rate that passed below `hi`.
    pub lo: Option<u64>,
    /// Duration of the longest trial that passed at `lo`, seconds.
    pub lo_secs: f64,
    /// Lowest rate that failed.
    pub hi: Option<u64>,
    /// How the search ended.
    pub bound: Bound,
}

impl Bracket {
    /// Relative width `hi / lo - 1`, when both ends exist.
    pub fn width(&self) -> Option<f64> {
        match (self.lo, self.hi) {
            (Some(l), Some(h)) if l > 0 => Some(h as f64 / l as f64 - 1.0),
            _ => None,
        }
    }

    /// The rate to quote: the lower bound (the highest rate known to pass).
    pub fn rate(&self) -> Option<u64> {
        self.lo
    }
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The non-drop rate (no loss).
    pub ndr: Bracket,
    /// The partial-drop rate (at most [`PDR_LOSS`] lost).
    pub pdr: Bracket,
    /// The trials the search ran itself, in order.
    pub trials: Vec<SearchTrial>,
}

/// What a criterion needs next.
enum Need {
    Done(Bound),
    Trial { rate: u64, secs: f64, width: f64 },
}

struct State {
    max_loss: f64,
}

impl State {
    /// The bracket from every trial so far: `hi` is the lowest failing rate, `lo` the highest
    /// passing rate below it (with its longest passing duration).
    fn bracket(&self, all: &[SearchTrial], bound: Bound) -> Bracket {
        let hi = all.iter().filter(|t| !t.outcome.passes(self.max_loss)).map(|t| t.rate).min();
        let below = |t: &&SearchTrial| hi.is_none_or(|h| t.rate < h);
        let lo = all
            .iter()
            .filter(below)
            .filter(|t| t.outcome.passes(self.max_loss))
            .map(|t| t.rate)
            .max();
        let lo_secs = lo
            .map(|l| {
                all.iter()
                    .filter(|t| t.rate == l && t.outcome.passes(self.max_loss))
                    .map(|t| t.secs)
                    .fold(0.0, f64::max)
            })
            .unwrap_or(0.0);
        Bracket { max_loss: self.max_loss, lo, lo_secs, hi, bound }
    }

    /// True when some final-length trial failed at a rate at or below one that passed a
    /// shorter trial.
    fn short_flatters(&self, all: &[SearchTrial], p: &SearchParams) -> bool {
        all.iter()
            .filter(|t| t.secs + 1e-9 >= p.final_secs && !t.outcome.passes(self.max_loss))
            .any(|f| {
                all.iter().any(|t| {
                    t.secs + 1e-9 < p.final_secs
                        && t.rate >= f.rate
                        && t.outcome.passes(self.max_loss)
                })
            })
    }

    fn need(&self, all: &[SearchTrial], p: &SearchParams) -> Need {
        let b = self.bracket(all, Bound::Budget);
        let tried = |r: u64| all.iter().any(|t| t.rate == r);
        match (b.lo, b.hi) {
            (_, None) => {
                // Nothing failed: passing at the top ends it; otherwise try the top.
                if b.lo == Some(p.max_rate) || b.lo.is_some_and(|l| l >= p.max_rate) {
                    Need::Done(Bound::AboveMax)
                } else if !tried(p.max_rate) {
                    Need::Trial { rate: p.max_rate, secs: p.base_secs, width: f64::INFINITY }
                } else {
                    Need::Done(Bound::AboveMax)
                }
            }
            (None, Some(h)) => {
                if h <= p.min_rate {
                    Need::Done(Bound::BelowMin)
                } else if !tried(p.min_rate) {
                    Need::Trial { rate: p.min_rate, secs: p.base_secs, width: f64::INFINITY }
                } else {
                    Need::Done(Bound::BelowMin)
                }
            }
            (Some(l), Some(h)) => {
                let width = h as f64 / l as f64 - 1.0;
                if width <= p.resolution || h <= l + 1 {
                    if b.lo_secs + 1e-9 >= p.final_secs {
                        Need::Done(Bound::Found)
                    } else {
                        // Confirm the lower bound at the final duration.
                        Need::Trial { rate: l, secs: p.final_secs, width: 0.0 }
                    }
                } else {
                    let mid = ((l as f64) * (h as f64)).sqrt().round() as u64;
                    let mid = mid.clamp(l + 1, h - 1);
                    // Once a final-length trial has failed where a shorter one passed, short
                    // trials are known to flatter this path: every further trial is final.
                    let secs =
                        if self.short_flatters(all, p) { p.final_secs } else { p.secs_for(width) };
                    Need::Trial { rate: mid, secs, width }
                }
            }
        }
    }
}

/// Runs the search. `known` are trials already run (the curve's points at this path);
/// `trial(rate, secs)` offers `rate` datagrams per second for `secs` seconds and returns what
/// happened, or `None` to abort (interrupted, or the cell failed).
pub fn search<F>(params: SearchParams, known: &[SearchTrial], mut trial: F) -> SearchResult
where
    F: FnMut(u64, f64) -> Option<TrialOutcome>,
{
    let states = [State { max_loss: 0.0 }, State { max_loss: PDR_LOSS }];
    let in_range = |t: &&SearchTrial| t.rate >= params.min_rate && t.rate <= params.max_rate;
    let mut all: Vec<SearchTrial> = known.iter().filter(in_range).copied().collect();
    let mut ran = Vec::new();
    let mut bounds = [None, None];
    loop {
        let mut next: Option<(u64, f64, f64)> = None;
        for (i, s) in states.iter().enumerate() {
            match s.need(&all, &params) {
                Need::Done(b) => bounds[i] = Some(b),
                Need::Trial { rate, secs, width } => {
                    bounds[i] = None;
                    // The widest bracket goes first; confirmations (width 0) last.
                    if next.is_none_or(|(_, _, w)| width > w) {
                        next = Some((rate, secs, width));
                    }
                }
            }
        }
        let Some((rate, secs, _)) = next else { break };
        if ran.len() >= params.max_trials {
            break;
        }
        match trial(rate, secs) {
            Some(outcome) => {
                let t = SearchTrial { rate, secs, outcome };
                all.push(t);
                ran.push(t);
            }
            None => {
                for b in bounds.iter_mut() {
                    b.get_or_insert(Bound::Aborted);
                }
                return finish(&states, &all, bounds, ran);
            }
        }
    }
    finish(&states, &all, bounds, ran)
}

fn finish(
    states: &[State; 2],
    all: &[SearchTrial],
    bounds: [Option<Bound>; 2],
    ran: Vec<SearchTrial>,
) -> SearchResult {
    let b = |i: usize| states[i].bracket(all, bounds[i].unwrap_or(Bound::Budget));
    SearchResult { ndr: b(0), pdr: b(1), trials: ran }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiver that takes everything up to `ndr`, loses 0.2% between `ndr` and `pdr`, and
    /// loses the excess beyond `pdr`.
    fn outcome(rate: u64, ndr: u64, pdr: u64) -> TrialOutcome {
        let lost = if rate <= ndr {
            0
        } else if rate <= pdr {
            (rate / 500).max(1)
        } else {
            rate - pdr + rate / 500
        };
        TrialOutcome {
            sent: rate,
            received: rate - lost.min(rate),
            lost,
            achieved_pps: rate as f64,
        }
    }

    fn params(lo: u64, hi: u64) -> SearchParams {
        SearchParams { max_trials: 20, ..SearchParams::new(lo, hi) }
    }

    #[test]
    fn finds_ndr_and_pdr_within_resolution() {
        for (ndr, pdr) in [(50_000u64, 80_000u64), (330_000, 360_000), (900_000, 905_000)] {
            let r = search(params(10_000, 1_000_000), &[], |rate, _| Some(outcome(rate, ndr, pdr)));
            for (b, truth) in [(r.ndr, ndr), (r.pdr, pdr)] {
                assert_eq!(b.bound, Bound::Found, "{ndr}/{pdr}: {r:?}");
                let lo = b.lo.unwrap();
                assert!(lo <= truth, "{lo} above the true rate {truth}");
                assert!(b.width().unwrap() <= 0.03, "{b:?}");
                assert!(b.hi.unwrap() > truth, "{b:?}");
                assert!(b.lo_secs >= 2.0, "lower bound not confirmed at the final duration");
            }
        }
    }

    #[test]
    fn starts_from_known_trials_and_grows_durations() {
        // The curve already bracketed the knee between 250k and 354k.
        let known: Vec<SearchTrial> = [125_000u64, 177_000, 250_000, 354_000, 500_000]
            .iter()
            .map(|&rate| SearchTrial { rate, secs: 1.0, outcome: outcome(rate, 300_000, 320_000) })
            .collect();
        let r = search(params(1_000, 1_000_000), &known, |rate, _| {
            Some(outcome(rate, 300_000, 320_000))
        });
        assert_eq!(r.ndr.bound, Bound::Found);
        assert!(r.trials.iter().all(|t| t.rate > 250_000 && t.rate < 354_000), "{r:?}");
        assert!(r.trials.len() <= 8, "{}", r.trials.len());
        // Durations never shrink as the search narrows.
        let secs: Vec<f64> = r.trials.iter().map(|t| t.secs).collect();
        assert_eq!(secs.first(), Some(&1.0));
        assert_eq!(secs.last(), Some(&2.0));
    }

    #[test]
    fn above_max_and_below_min() {
        let r =
            search(params(1_000, 100_000), &[], |rate, _| Some(outcome(rate, 500_000, 500_000)));
        assert_eq!(r.ndr.bound, Bound::AboveMax);
        assert_eq!(r.ndr.lo, Some(100_000));
        assert_eq!(r.trials.len(), 1);
        let r = search(params(1_000, 100_000), &[], |rate, _| Some(outcome(rate, 10, 20)));
        assert_eq!(r.ndr.bound, Bound::BelowMin);
        assert_eq!(r.ndr.lo, None);
        assert_eq!(r.trials.len(), 2);
    }

    #[test]
    fn a_lucky_short_trial_is_not_the_answer() {
        // Short trials (1–1.5 s) pass up to 400k by luck; 2 s trials only pass up to 300k.
        let r = search(
            SearchParams { max_trials: 30, ..params(10_000, 1_000_000) },
            &[],
            |rate, secs| {
                let cap = if secs < 2.0 { 400_000 } else { 300_000 };
                Some(outcome(rate, cap, cap))
            },
        );
        assert_eq!(r.ndr.bound, Bound::Found, "{r:?}");
        let lo = r.ndr.lo.unwrap();
        assert!(lo <= 300_000, "{lo}: {r:?}");
        assert!(lo as f64 >= 300_000.0 / 1.03 - 1.0, "{r:?}");
        assert!(r.ndr.lo_secs >= 2.0);
        assert!(r.trials.len() <= 30, "{} trials", r.trials.len());
    }

    #[test]
    fn budget_and_abort() {
        let r =
            search(SearchParams { max_trials: 3, ..params(1_000, 1_000_000) }, &[], |rate, _| {
                Some(outcome(rate, 123_456, 130_000))
            });
        assert_eq!(r.trials.len(), 3);
        assert_eq!(r.ndr.bound, Bound::Budget);
        let mut n = 0;
        let r = search(params(1_000, 1_000_000), &[], |rate, _| {
            n += 1;
            (n < 3).then(|| outcome(rate, 123_456, 130_000))
        });
        assert_eq!(r.ndr.bound, Bound::Aborted);
        assert_eq!(r.trials.len(), 2);
    }

    #[test]
    fn noise_never_puts_the_bound_above_a_failure() {
        // Random spurious losses (a descheduled receiver) at 10% of trials: the reported lower
        // bound is always below every rate that failed, and below the true capacity.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..50 {
            let r = search(params(10_000, 1_000_000), &[], |rate, _| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let noisy = seed % 10 == 0;
                Some(if noisy { outcome(rate, 0, 0) } else { outcome(rate, 300_000, 310_000) })
            });
            if let (Some(lo), Some(hi)) = (r.ndr.lo, r.ndr.hi) {
                assert!(lo < hi && lo <= 300_000, "{r:?}");
            }
        }
    }
}
