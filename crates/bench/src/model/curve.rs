//! Offered-load curves as data: trials, points, series with their figures, the curve
//! configuration and what a run of curves produced. The procedure that fills them is
//! `harness::curve`; the figures are computed by `analysis::figures`.

use crate::model::noise::Thresholds;
use crate::stats::interval::Interval;
use crate::stats::search::{Bracket, SearchResult};
use crate::{CellResult, Latency, Row, Scenario, median};
use serde::{Deserialize, Serialize};

/// Which part of the procedure a trial belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The unpaced flood that sets the grid's top.
    Ceiling,
    /// The coarse geometric pass.
    Coarse,
    /// Points added inside the knee.
    Refine,
    /// Repetitions of the headline points.
    Repeat,
    /// NDR/PDR search trials.
    Search,
    /// Latency at a fraction of NDR.
    Latency,
}

impl Stage {
    /// The name in progress lines.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ceiling => "ceiling",
            Stage::Coarse => "curve",
            Stage::Refine => "refine",
            Stage::Repeat => "repeat",
            Stage::Search => "search",
            Stage::Latency => "latency",
        }
    }
}

/// One trial as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Offered rate; `None` is the unpaced flood.
    pub rate: Option<u64>,
    /// Duration, seconds.
    pub secs: f64,
    /// Procedure stage.
    pub stage: Stage,
    /// Position in the run (0-based), to see the interleaving.
    pub seq: usize,
    /// The result, when the cell ran.
    pub result: Option<CellResult>,
    /// Why the cell failed.
    pub error: Option<String>,
    /// Why the trial counts as disturbed (steal, preemption, migration), if it does.
    pub disturbed: Option<String>,
    /// A disturbed trial that was repeated: kept in the record, left out of the statistics.
    pub replaced: bool,
}

impl Trial {
    /// The result when it counts in the statistics.
    pub fn usable(&self) -> Option<&CellResult> {
        if self.replaced { None } else { self.result.as_ref() }
    }
}

/// One offered rate of a curve and its trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Offered rate; `None` is the unpaced flood.
    pub rate: Option<u64>,
    /// Every trial at this rate.
    pub trials: Vec<Trial>,
}

impl Point {
    /// A figure of every usable trial.
    pub fn samples(&self, f: impl Fn(&CellResult) -> f64) -> Vec<f64> {
        self.trials.iter().filter_map(|t| t.usable()).map(f).collect()
    }

    /// Usable trials.
    pub fn n(&self) -> usize {
        self.trials.iter().filter(|t| t.usable().is_some()).count()
    }

    /// Received datagrams per second of each usable trial.
    pub fn rx(&self) -> Vec<f64> {
        self.samples(|c| c.rx_pps)
    }

    /// The offered rate: the paced rate, or the median rate the unpaced sender reached.
    pub fn offered(&self) -> f64 {
        match self.rate {
            Some(r) => r as f64,
            None => median(&self.samples(|c| c.sent_pps)).unwrap_or(0.0),
        }
    }

    /// Median received rate.
    pub fn rx_median(&self) -> f64 {
        median(&self.rx()).unwrap_or(0.0)
    }

    /// Median loss fraction (lost plus kernel drops over sent).
    pub fn loss_median(&self) -> Option<f64> {
        median(&self.samples(loss_of))
    }

    /// True when the point has usable trials and the median trial lost at most `max_loss`.
    pub fn passes(&self, max_loss: f64) -> bool {
        self.loss_median().is_some_and(|l| l <= max_loss)
    }
}

/// Loss of a trial: lost and kernel-dropped datagrams over those sent.
pub fn loss_of(c: &CellResult) -> f64 {
    if c.sent == 0 { 1.0 } else { ((c.lost.max(c.kernel_drops)) as f64 / c.sent as f64).min(1.0) }
}

/// What limited a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// The path lost datagrams below the sender's top rate: the receiver is the bottleneck.
    Receiver,
    /// The path kept up with every paced rate and lost only under the unpaced flood.
    ReceiverAtTop,
    /// The path kept up with everything the sender offered: the sender is the bottleneck.
    Sender,
    /// Not enough data.
    Unknown,
}

/// The figures derived from one path's curve.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Highest median received rate over the curve, with the 95% interval of that point.
    pub peak: Option<Interval>,
    /// Offered rate of the peak point.
    pub peak_offered: Option<f64>,
    /// Received rate at the highest offered rate (the unpaced flood when run).
    pub top: Option<Interval>,
    /// Offered rate of the top point.
    pub top_offered: Option<f64>,
    /// `top / peak`: 1 when the path holds its peak under overload, near 0 when it collapses.
    pub livelock_ratio: Option<f64>,
    /// Last paced rate received within [`crate::stats::search::PDR_LOSS`] and the first above it that was not.
    pub knee: Option<(u64, u64)>,
    /// The non-drop rate bracket of the first search.
    pub ndr: Option<Bracket>,
    /// The partial-drop rate bracket of the first search.
    pub pdr: Option<Bracket>,
    /// NDR over the repeated searches (their lower bounds), with its 95% interval.
    #[serde(default)]
    pub ndr_est: Option<Interval>,
    /// PDR over the repeated searches, with its 95% interval.
    #[serde(default)]
    pub pdr_est: Option<Interval>,
    /// The common paced rate of the scenario where CPU cost is compared.
    pub common_rate: Option<u64>,
    /// Application CPU ns per datagram at the common rate.
    pub app_ns: Option<Interval>,
    /// Whole receive-side CPU ns per datagram at the common rate (every receive core's busy
    /// time; see `CpuSplit::whole_ns_per_dgram`): the headline CPU figure.
    #[serde(default)]
    pub cpu_ns: Option<Interval>,
    /// Receiver-core softirq ns per datagram at the common rate.
    pub softirq_ns: Option<Interval>,
    /// Latency percentiles at the common rate (medians over its trials).
    #[serde(with = "crate::latency_json")]
    pub latency: Option<Latency>,
    /// What limited the path.
    pub limit: Option<Limit>,
}

/// One path under one setting: its curve, search and figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The row.
    pub row: Row,
    /// Its label.
    pub label: String,
    /// Setting index.
    pub setting: usize,
    /// Points, paced rates ascending, the unpaced point last.
    pub points: Vec<Point>,
    /// The NDR/PDR searches: the first starts from the curve's trials, each repetition is a
    /// fresh search around the first one's brackets.
    pub searches: Vec<SearchResult>,
    /// The search's own trials (paced, with their durations).
    pub search_trials: Vec<Trial>,
    /// Latency at a fraction of NDR (`--latency-at`).
    pub latency: Option<Point>,
    /// Derived figures.
    pub figures: Figures,
}

impl Series {
    /// The point at `rate`, created (empty) when the series has none yet.
    pub fn point_mut(&mut self, rate: Option<u64>) -> &mut Point {
        if let Some(i) = self.points.iter().position(|p| p.rate == rate) {
            return &mut self.points[i];
        }
        self.points.push(Point { rate, trials: Vec::new() });
        // Paced ascending, unpaced last.
        self.points.sort_by_key(|p| p.rate.map_or(u64::MAX, |r| r));
        let i = self.points.iter().position(|p| p.rate == rate).unwrap_or(0);
        &mut self.points[i]
    }

    /// The point at `rate`, if any.
    pub fn point(&self, rate: Option<u64>) -> Option<&Point> {
        self.points.iter().find(|p| p.rate == rate)
    }

    /// Paced points with usable trials.
    pub fn paced(&self) -> impl Iterator<Item = &Point> {
        self.points.iter().filter(|p| p.rate.is_some() && p.n() > 0)
    }

    /// Total trials run for this series.
    pub fn trials(&self) -> usize {
        self.points.iter().map(|p| p.trials.len()).sum::<usize>() + self.search_trials.len()
    }
}

/// How the curves are measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveConfig {
    /// Grid rates as fractions of the ceiling, ascending. Empty with `fixed` set.
    pub fractions: Vec<f64>,
    /// Single-point mode: measure only this rate (`None` inside: the unpaced flood).
    pub fixed: Option<Option<u64>>,
    /// Top of the grid instead of the unpaced sender's rate.
    pub max_rate: Option<u64>,
    /// Base trial duration, seconds.
    pub trial_secs: f64,
    /// Final duration of the search's confirmations, seconds.
    pub final_secs: f64,
    /// Points added inside each knee.
    pub refine: usize,
    /// Repetitions of each headline point, at least.
    pub min_reps: usize,
    /// Repetitions of each headline point, at most.
    pub max_reps: usize,
    /// Target half-width of the 95% interval, relative (0.05 = ±5%).
    pub ci_target: f64,
    /// Time after which no extra repetitions start, seconds from the start of the curves.
    pub budget_secs: f64,
    /// Most trials of each NDR/PDR search (0: no search).
    pub search_trials: usize,
    /// NDR/PDR searches per path (their lower bounds give the 95% interval).
    #[serde(default = "one")]
    pub search_reps: usize,
    /// Resolution of the NDR/PDR brackets.
    pub resolution: f64,
    /// Latency at this fraction of each path's NDR.
    pub latency_at: Option<f64>,
    /// When a trial counts as disturbed.
    pub noise: Thresholds,
}

impl CurveConfig {
    /// The grid of a scenario with ceiling `top`: distinct rates, rounded to three significant
    /// digits.
    pub fn grid(&self, top: f64) -> Vec<u64> {
        let mut g: Vec<u64> =
            self.fractions.iter().map(|f| round3(top * f)).filter(|r| *r > 0).collect();
        g.sort_unstable();
        g.dedup();
        g
    }
}

fn one() -> usize {
    1
}

/// Rounds to three significant digits (grids read better: 354k, not 353553).
pub fn round3(x: f64) -> u64 {
    if !(x.is_finite() && x >= 1.0) {
        return 0;
    }
    let mag = 10f64.powi((x.log10().floor() as i32 - 2).max(0));
    ((x / mag).round() * mag) as u64
}

/// Geometric points strictly inside `(lo, hi)`.
pub fn inside(lo: u64, hi: u64, n: usize) -> Vec<u64> {
    let (l, h) = (lo as f64, hi as f64);
    let mut out: Vec<u64> = (1..=n)
        .map(|i| round3(l * (h / l).powf(i as f64 / (n + 1) as f64)))
        .filter(|r| *r > lo && *r < hi)
        .collect();
    out.dedup();
    out
}

/// What the curves of a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveRun {
    /// Every path under every setting.
    pub series: Vec<Series>,
    /// The grid's top per scenario (the unpaced sender's median rate, or `--max-rate`).
    pub ceilings: Vec<(Scenario, f64)>,
    /// The common paced rate per scenario, where CPU cost is compared.
    pub common_rates: Vec<(Scenario, u64)>,
    /// Noise floor: the median coefficient of variation of CPU ns per datagram over the
    /// repeated common-rate points.
    pub noise_floor: Option<f64>,
    /// Trials flagged as disturbed (and repeated).
    pub disturbed: usize,
    /// Trials run.
    pub trials: usize,
    /// Ctrl-C ended the run early.
    pub interrupted: bool,
    /// The hard time budget ended the curves before every stage had run (the figures are those
    /// measured until then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub budget_ended: bool,
    /// Seconds the curves took.
    pub secs: f64,
    /// How much the run's own figures moved from its start to its end (see
    /// [`crate::stats::drift`]); the yardstick of calls across runs. Absent in reports written
    /// before it existed (schema `udprx-bench/2`): comparisons then say "drift unknown".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
}

/// The drift a run measured on its received rates (see [`crate::stats::drift`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Relative change of the figures from the start to the end of the run (0.05 = 5%).
    pub rel: f64,
    /// Signed slope of ln(received rate) over the run (positive: rates rose).
    pub slope: f64,
    /// Standard error of the slope.
    pub se: f64,
    /// Samples used.
    pub samples: usize,
    /// Repeated points used.
    pub points: usize,
}
