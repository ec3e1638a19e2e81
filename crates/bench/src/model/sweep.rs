//! The fan-out sweep as data (`--fanout sweep`): the curve runs at 1, 2, 4, … sockets, the
//! counts this host could not run, and the points derived from the runs — aggregate peak and
//! NDR, scaling efficiency rate(N) / (N · rate(1)) and the per-socket share (max/mean of the
//! datagrams each socket received), each with its interval. The harness fills `runs`
//! (`harness::sweep`), the analysis `points` (`analysis::sweep`), the renderers read both.

use crate::model::curve::CurveRun;
use crate::stats::interval::Interval;
use crate::{Fanout, Scenario};
use serde::{Deserialize, Serialize};

/// A socket count the host cannot give a core per socket (besides the sender's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotMeasurable {
    /// Sockets.
    pub sockets: usize,
    /// Why.
    pub reason: String,
}

/// The curves at one socket count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRun {
    /// Sockets.
    pub sockets: usize,
    /// The run (one socket: the plan's udprx paths; more: each with hash and by-CPU steering).
    pub curves: CurveRun,
}

/// One fan-out at one socket count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The traffic.
    pub scenario: Scenario,
    /// Steering: `one` at 1 socket (the baseline), `hash` or `cpu` above.
    pub fanout: Fanout,
    /// The series label at this count.
    pub label: String,
    /// The one-socket path's label (the baseline of the efficiency).
    pub base: String,
    /// Sockets.
    pub sockets: usize,
    /// Aggregate peak received rate, pps.
    pub peak: Option<Interval>,
    /// Aggregate NDR estimate, pps.
    pub ndr: Option<Interval>,
    /// peak(N) / (N · peak(1)), with the conservative interval.
    pub peak_efficiency: Option<Interval>,
    /// NDR(N) / (N · NDR(1)).
    pub ndr_efficiency: Option<Interval>,
    /// The ideal aggregate peak, N · peak(1), pps.
    pub ideal_peak: Option<f64>,
    /// Per-socket share: max / mean of the datagrams per receive socket (1 = even, N = all on
    /// one socket), the geometric mean over the trials with its interval.
    pub share: Option<Interval>,
    /// Trials the share comes from (those that received something on every socket count).
    pub share_trials: usize,
}

/// A fan-out sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanoutSweep {
    /// Receive cores besides the sender's (the most sockets measured).
    pub receive_cores: usize,
    /// Usable cores of the host.
    pub host_cores: usize,
    /// Counts run.
    pub counts: Vec<usize>,
    /// Counts up to the host's cores that did not fit.
    pub not_measurable: Vec<NotMeasurable>,
    /// The runs, one per count.
    pub runs: Vec<SweepRun>,
    /// Derived points (filled by the analysis).
    #[serde(default)]
    pub points: Vec<SweepPoint>,
    /// Why the sweep stopped or failed, when it did.
    #[serde(default)]
    pub error: Option<String>,
}
